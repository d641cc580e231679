"""Photo metadata stripping (pure): no GPS, names or camera data leave with a published photo.

The base images are real 16×8 pictures encoded once by Chromium's canvas (toDataURL; the JPEG and WebP carry
Chromium's sRGB ICC profile); the metadata is added here by hand, byte by byte.
"""

from __future__ import annotations

import base64
import random
import struct
import zlib
from typing import Any

import pytest

from chat_server.tickets.image_metadata import (
    BadImage,
    exif_orientation,
    minimal_exif,
    strip_metadata,
)
from tests.support.browser import chromium, new_page
from tests.support.images import JPEG, PNG, WEBP

# What must not survive: names, camera, address and the GPS rationals (40°42'46.12"N 74°0'21.6"W).
ARTIST, MAKE, MODEL, ADDRESS = b"Jane Resident", b"Pixelphone", b"PX-9 Secret", b"12 Elm Street"
GPS_LAT = (40, 1, 42, 1, 4612, 100)
GPS_LON = (74, 1, 0, 1, 216, 10)
PERSONAL = (ARTIST, MAKE, MODEL, ADDRESS, b"GPS", b"Photoshop", b"xap/1.0")

ASCII, SHORT, LONG, RATIONAL = 2, 3, 4, 5


# ---------- building metadata ----------

def _ifd(order: str, entries: list[tuple[int, int, int, bytes]], start: int) -> bytes:
    """An IFD placed at offset `start` of the TIFF block, its long values right after it."""
    extra_at = start + 2 + 12 * len(entries) + 4
    head, extra = struct.pack(order + "H", len(entries)), b""
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            field = value.ljust(4, b"\x00")
        else:
            field = struct.pack(order + "I", extra_at + len(extra))
            extra += value + b"\x00" * (len(value) & 1)
        head += struct.pack(order + "HHI", tag, typ, count) + field
    return head + struct.pack(order + "I", 0) + extra


def exif_tiff(order: str = ">", orientation: int | None = 6) -> bytes:
    """A phone-like EXIF block: Make, Model, Artist, Orientation and a GPS IFD with the resident's position."""
    def text(value: bytes) -> tuple[int, bytes]:
        return len(value) + 1, value + b"\x00"

    def rationals(values: tuple[int, ...]) -> bytes:
        return struct.pack(order + "6I", *values)

    gps = [(0x0001, ASCII, 2, b"N\x00"), (0x0002, RATIONAL, 3, rationals(GPS_LAT)),
           (0x0003, ASCII, 2, b"W\x00"), (0x0004, RATIONAL, 3, rationals(GPS_LON))]
    ifd0 = [(0x010F, ASCII, *text(MAKE)), (0x0110, ASCII, *text(MODEL))]
    if orientation is not None:
        ifd0.append((0x0112, SHORT, 1, struct.pack(order + "H", orientation)))
    ifd0 += [(0x013B, ASCII, *text(ARTIST)), (0x8825, LONG, 1, b"\x00" * 4)]
    gps_at = 8 + len(_ifd(order, ifd0, 8))
    ifd0[-1] = (0x8825, LONG, 1, struct.pack(order + "I", gps_at))
    magic = b"II*\x00" if order == "<" else b"MM\x00*"
    return magic + struct.pack(order + "I", 8) + _ifd(order, ifd0, 8) + _ifd(order, gps, gps_at)


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description dc:creator="Jane Resident" '
       b'exif:GPSLatitude="40,42.7687N" Iptc4xmpCore:Location="12 Elm Street"/></x:xmpmeta>')


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def riff_chunk(fourcc: bytes, body: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) & 1)


def riff(chunks: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", len(chunks) + 4) + b"WEBP" + chunks


JFIF_END = 20  # SOI + the 16-byte APP0 JFIF segment of JPEG
PHONE_SEGMENTS = (
    jpeg_segment(0xE1, b"Exif\x00\x00" + exif_tiff()) + jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP)
    + jpeg_segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x0f\x1c\x02\x5c\x00\x0d" + ADDRESS)
    + jpeg_segment(0xE2, b"MPF\x00II*\x00" + MODEL)  # multi-picture index (points at images after EOI)
    + jpeg_segment(0xE5, b"vendor " + MAKE) + jpeg_segment(0xFE, b"taken at " + ADDRESS)
)
MINIMAL_APP1 = jpeg_segment(0xE1, b"Exif\x00\x00" + minimal_exif(6))


def phone_jpeg(segments: bytes = PHONE_SEGMENTS) -> bytes:
    """JPEG with phone metadata after its JFIF segment and a "motion photo" trailer after EOI."""
    return JPEG[:JFIF_END] + segments + JPEG[JFIF_END:] + b"ftypmp4 video taken at " + ADDRESS


# ---------- independent re-parsers (well-formedness of the output) ----------

def jpeg_walk(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Marker segments up to and including SOS, and what follows them; asserts the structure holds."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    pos, segments = 2, []
    while True:
        assert data[pos] == 0xFF
        marker, (length,) = data[pos + 1], struct.unpack_from(">H", data, pos + 2)
        assert length >= 2 and pos + 2 + length <= len(data)
        segments.append((marker, data[pos + 4:pos + 2 + length]))
        pos += 2 + length
        if marker == 0xDA:
            return segments, data[pos:]


def png_walk(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8:pos + 8 + length]
        assert struct.unpack_from(">I", data, pos + 8 + length)[0] == zlib.crc32(kind + body)
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data) and chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    return chunks


def webp_walk(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    pos, chunks = 12, []
    while pos < len(data):
        fourcc, (size,) = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)
        chunks.append((fourcc, data[pos + 8:pos + 8 + size]))
        pos += 8 + size + (size & 1)
    assert pos == len(data)
    return chunks


def assert_nothing_personal(data: bytes) -> None:
    for secret in PERSONAL:
        assert secret not in data
    for order in "<>":
        assert struct.pack(order + "6I", *GPS_LAT) not in data
        assert struct.pack(order + "6I", *GPS_LON) not in data


# ---------- JPEG ----------

@pytest.mark.parametrize("order", ["<", ">"])
def test_jpeg_loses_exif_xmp_iptc_comments_and_trailer_but_keeps_picture_and_orientation(order: str) -> None:
    segments = PHONE_SEGMENTS.replace(exif_tiff(), exif_tiff(order))
    stripped = strip_metadata(phone_jpeg(segments), "jpg")
    assert_nothing_personal(stripped)
    # exactly the original picture, with a minimal Exif block (Orientation 6 only) where the phone's was
    assert stripped == JPEG[:JFIF_END] + MINIMAL_APP1 + JPEG[JFIF_END:]
    segs, scan = jpeg_walk(stripped)
    assert [m for m, _ in segs] == [0xE0, 0xE1, 0xE2, 0xDB, 0xDB, 0xC0, 0xC4, 0xC4, 0xC4, 0xC4, 0xDA]
    assert segs[2][1].startswith(b"ICC_PROFILE\x00")  # colour profile kept
    assert scan == jpeg_walk(JPEG)[1]  # entropy-coded data byte-identical
    assert exif_orientation(segs[1][1][6:]) == 6


def test_jpeg_without_metadata_is_unchanged_and_orientation_1_writes_no_exif() -> None:
    assert strip_metadata(JPEG, "jpg") == JPEG
    plain = phone_jpeg(jpeg_segment(0xE1, b"Exif\x00\x00" + exif_tiff(orientation=1)))
    assert strip_metadata(plain, "jpg") == JPEG
    absent = phone_jpeg(jpeg_segment(0xE1, b"Exif\x00\x00" + exif_tiff(orientation=None)))
    assert strip_metadata(absent, "jpg") == JPEG


def test_jpeg_jfif_thumbnail_and_metadata_between_scans_are_dropped() -> None:
    thumb = JPEG[:JFIF_END - 2] + b"\x01\x01" + b"\xaa\xbb\xcc"  # 1×1 RGB thumbnail in JFIF
    with_thumb = b"\xff\xd8" + jpeg_segment(0xE0, thumb[6:]) + JPEG[JFIF_END:]
    assert strip_metadata(with_thumb, "jpg") == JPEG
    # metadata after the scan data (where a progressive file has its next tables and scans) goes too
    eoi = len(JPEG) - 2
    late = JPEG[:eoi] + jpeg_segment(0xFE, ADDRESS) + jpeg_segment(0xE1, b"Exif\x00\x00" + exif_tiff()) + b"\xff\xd9"
    assert strip_metadata(late, "jpg") == JPEG
    second_scan = jpeg_segment(0xC4, b"\x10" + b"\x00" * 16) + JPEG[JPEG.index(b"\xff\xda"):]
    progressive = JPEG[:eoi] + jpeg_segment(0xFE, ADDRESS) + second_scan
    assert strip_metadata(progressive, "jpg") == JPEG[:eoi] + second_scan


def test_jpeg_malformed_containers_are_refused() -> None:
    data = phone_jpeg()
    eoi = data.index(b"\xff\xd9") + 2
    for cut in range(eoi - 1):  # every truncation, at every depth
        with pytest.raises(BadImage):
            strip_metadata(data[:cut], "jpg")
    bad_length = JPEG[:JFIF_END] + b"\xff\xe1\x00\x01" + JPEG[JFIF_END:]
    past_end = JPEG[:JFIF_END] + b"\xff\xe1\xff\xf0" + b"x" * 40
    no_scan = JPEG[:JFIF_END] + b"\xff\xd9"
    garbage = JPEG[:JFIF_END] + b"\x00\x00" + JPEG[JFIF_END:]
    for bad in (bad_length, past_end, no_scan, garbage, b"", b"\xff\xd8"):
        with pytest.raises(BadImage):
            strip_metadata(bad, "jpg")


# ---------- PNG ----------

def test_png_keeps_only_picture_chunks_and_orientation() -> None:
    ihdr_end, idat_at = 33, PNG.index(b"IDAT") - 4
    gama, phys = png_chunk(b"gAMA", struct.pack(">I", 45455)), png_chunk(b"pHYs", b"\x00\x00\x0b\x13" * 2 + b"\x01")
    meta = (png_chunk(b"tEXt", b"Author\x00" + ARTIST) + png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(ADDRESS))
            + png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP)
            + png_chunk(b"eXIf", exif_tiff("<")) + png_chunk(b"tIME", b"\x07\xe8\x05\x01\x0c\x00\x00")
            + png_chunk(b"prVt", MAKE + MODEL))
    phone = PNG[:ihdr_end] + gama + meta + phys + PNG[idat_at:-12] + png_chunk(b"tEXt", b"Place\x00" + ADDRESS)
    phone += PNG[-12:] + b"after IEND " + ADDRESS
    stripped = strip_metadata(phone, "png")
    assert_nothing_personal(stripped)
    minimal = png_chunk(b"eXIf", minimal_exif(6))
    assert stripped == PNG[:ihdr_end] + gama + minimal + phys + PNG[idat_at:]
    chunks = png_walk(stripped)
    assert [k for k, _ in chunks] == [b"IHDR", b"gAMA", b"eXIf", b"pHYs", b"IDAT", b"IDAT", b"IEND"]
    assert chunks[4:6] == png_walk(PNG)[1:3]  # IDAT byte-identical (Chromium writes two)
    assert exif_orientation(chunks[2][1]) == 6


def test_png_without_metadata_is_unchanged() -> None:
    assert strip_metadata(PNG, "png") == PNG
    ihdr_end = 33
    upright = PNG[:ihdr_end] + png_chunk(b"eXIf", exif_tiff(orientation=1)) + PNG[ihdr_end:]
    assert strip_metadata(upright, "png") == PNG


def test_png_malformed_containers_are_refused() -> None:
    for cut in range(len(PNG)):
        with pytest.raises(BadImage):
            strip_metadata(PNG[:cut], "png")
    huge = PNG[:33] + struct.pack(">I", 0xFFFFFFF0) + b"tEXt" + PNG[33:]
    critical = PNG[:33] + png_chunk(b"ZZZZ", b"") + PNG[33:]
    no_ihdr = PNG[:8] + PNG[33:]
    bad_type = PNG[:33] + png_chunk(b"t\x00Xt", b"") + PNG[33:]
    for bad in (huge, critical, no_ihdr, bad_type):
        with pytest.raises(BadImage):
            strip_metadata(bad, "png")


# ---------- WebP ----------

def webp_parts() -> tuple[bytes, bytes, bytes]:
    """The VP8X, ICCP and VP8 chunks of WEBP."""
    vp8x_end = 12 + 18
    vp8_at = WEBP.index(b"VP8 ")
    return WEBP[12:vp8x_end], WEBP[vp8x_end:vp8_at], WEBP[vp8_at:]


def test_webp_loses_exif_and_xmp_fixes_flags_size_and_padding_keeps_orientation() -> None:
    vp8x, iccp, vp8 = webp_parts()
    assert vp8x[8] == 0x20  # ICC
    flagged = vp8x[:8] + bytes((0x20 | 0x08 | 0x04,)) + vp8x[9:]
    phone = riff(flagged + iccp + vp8 + riff_chunk(b"EXIF", b"Exif\x00\x00" + exif_tiff("<"))
                 + riff_chunk(b"XMP ", XMP + b"!") + riff_chunk(b"PRIV", ADDRESS))  # odd sizes: padded
    stripped = strip_metadata(phone, "webp")
    assert_nothing_personal(stripped)
    with_exif = vp8x[:8] + bytes((0x20 | 0x08,)) + vp8x[9:]
    assert stripped == riff(with_exif + iccp + vp8 + riff_chunk(b"EXIF", minimal_exif(6)))
    chunks = webp_walk(stripped)
    assert [c for c, _ in chunks] == [b"VP8X", b"ICCP", b"VP8 ", b"EXIF"]
    assert chunks[2] == webp_walk(WEBP)[2]  # VP8 bitstream byte-identical
    assert exif_orientation(chunks[3][1]) == 6
    unflagged = riff(vp8x + iccp + vp8 + riff_chunk(b"EXIF", exif_tiff(">")))  # the flag follows the chunk
    assert strip_metadata(unflagged, "webp") == stripped


def test_webp_without_metadata_is_unchanged_and_upright_exif_clears_the_flag() -> None:
    assert strip_metadata(WEBP, "webp") == WEBP
    vp8x, iccp, vp8 = webp_parts()
    simple = riff(vp8)  # simple (lossy) format, no VP8X
    assert strip_metadata(simple, "webp") == simple
    upright = riff(vp8x[:8] + b"\x28" + vp8x[9:] + iccp + vp8 + riff_chunk(b"EXIF", exif_tiff(">", orientation=1)))
    assert strip_metadata(upright, "webp") == WEBP
    # an odd-length chunk whose pad byte the encoder left off at the very end is accepted (and padded)
    odd = riff_chunk(b"VP8 ", b"\x01\x02\x03")
    unpadded = b"RIFF" + struct.pack("<I", 4 + len(odd) - 1) + b"WEBP" + odd[:-1]
    assert strip_metadata(unpadded, "webp") == riff(odd)


def test_webp_malformed_containers_are_refused() -> None:
    for cut in range(len(WEBP)):
        with pytest.raises(BadImage):
            strip_metadata(WEBP[:cut], "webp")
    vp8x, iccp, vp8 = webp_parts()
    past_end = riff(vp8x + iccp + b"VP8 " + struct.pack("<I", 10_000) + vp8[8:])
    short_vp8x = riff(riff_chunk(b"VP8X", b"\x00" * 4) + vp8)
    not_image = riff(riff_chunk(b"EXIF", exif_tiff()) + vp8)
    late_vp8x = riff(vp8 + vp8x)
    for bad in (past_end, short_vp8x, not_image, late_vp8x, b"RIFF\x00\x00\x00\x00WEBP"):
        with pytest.raises(BadImage):
            strip_metadata(bad, "webp")


# ---------- untrusted input ----------

@pytest.mark.parametrize("kind", ["jpg", "png", "webp"])
def test_damaged_files_raise_only_bad_image(kind: str) -> None:
    """Random byte damage anywhere either raises BadImage (never another exception) or still strips."""
    base = {"jpg": phone_jpeg(), "png": PNG[:33] + png_chunk(b"eXIf", exif_tiff()) + PNG[33:],
            "webp": riff(webp_parts()[0] + webp_parts()[2] + riff_chunk(b"EXIF", exif_tiff()))}[kind]
    rng = random.Random(311)
    for _ in range(400):
        damaged = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.choice((0x00, 0xFF, 0xD9, rng.randrange(256)))
        try:
            stripped = strip_metadata(bytes(damaged), kind)
        except BadImage:
            continue
        assert strip_metadata(stripped, kind) == stripped  # what is kept is itself well-formed and clean


def test_exif_orientation_reads_both_byte_orders_and_survives_garbage() -> None:
    for order in "<>":
        assert exif_orientation(exif_tiff(order, 8)) == 8
        assert exif_orientation(exif_tiff(order, 9)) == 1  # out of range
        assert exif_orientation(exif_tiff(order, None)) == 1
    long_value = b"II*\x00" + struct.pack("<IHHHII", 8, 1, 0x0112, LONG, 1, 3) + b"\x00" * 4
    assert exif_orientation(long_value) == 3
    for junk in (b"", b"II*\x00", b"MM\x00*\xff\xff\xff\xff", b"II*\x00\x08\x00\x00\x00\xff\xff", b"XX" * 20):
        assert exif_orientation(junk) == 1
    with pytest.raises(ValueError, match="unsupported"):
        strip_metadata(PNG, "gif")


# ---------- a real decoder ----------

@pytest.mark.browser
async def test_chromium_shows_stripped_images_upright() -> None:
    """Chromium decodes every stripped file, and turns the Orientation-6 JPEG and PNG (16×8 pixels) to 8×16.

    (Chromium ignores a WebP's EXIF orientation; the stripped WebP, its minimal EXIF chunk and VP8X flags
    included, must still decode.)
    """
    vp8x, iccp, vp8 = webp_parts()
    png_meta = png_chunk(b"tEXt", b"Author\x00" + ARTIST) + png_chunk(b"eXIf", exif_tiff())
    webp_meta = riff_chunk(b"EXIF", exif_tiff("<")) + riff_chunk(b"XMP ", XMP)
    files = {
        "jpeg": ("image/jpeg", strip_metadata(phone_jpeg(), "jpg")),
        "png": ("image/png", strip_metadata(PNG[:33] + png_meta + PNG[33:], "png")),
        "webp": ("image/webp", strip_metadata(riff(vp8x[:8] + b"\x2c" + vp8x[9:] + iccp + vp8 + webp_meta), "webp")),
    }
    urls = {name: f"data:{mime};base64,{base64.b64encode(data).decode()}" for name, (mime, data) in files.items()}
    async with chromium() as browser:
        page = await new_page(browser)
        sizes: dict[str, Any] = await page.evaluate("""async urls => {
            const out = {};
            for (const [name, url] of Object.entries(urls)) {
                const img = new Image();
                img.src = url;
                try { await img.decode(); out[name] = [img.naturalWidth, img.naturalHeight]; }
                catch (e) { out[name] = String(e); }
            }
            return out;
        }""", urls)
    assert sizes == {"jpeg": [8, 16], "png": [8, 16], "webp": [16, 8]}
