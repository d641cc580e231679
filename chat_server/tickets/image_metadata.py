"""Strip personal metadata from uploaded photos before they are stored and published.

A resident's photo goes out at a public URL with their service request. Straight from a phone it carries EXIF
GPS coordinates (most often the position of the resident's home), the camera make and model, owner and artist
names, dates, XMP and IPTC blocks, comments and embedded thumbnails (which may show what a crop removed).
`strip_metadata` drops all of that and keeps only what is needed to show the picture as it was taken.

The work is done at the container level (JPEG segments, PNG chunks, RIFF chunks): the pixels are never decoded,
so a hostile upload costs no decoder CPU or memory and no imaging library is needed; the compressed image
data is copied byte for byte. A container that does not hold together (a segment or chunk running past the
end of the file, impossible lengths, no end marker) raises `BadImage`, so the upload can be refused.

What is kept:

* JPEG: APP0 JFIF (without its thumbnail), APP2 ICC profile, APP14 Adobe (colour transform) and every
  non-APPn segment (tables, frame and scan headers); APP1 (EXIF, XMP), APP13 (IPTC/Photoshop), COM, other APPn
  (and APP2 other than ICC: MPF, FlashPix) are dropped, so is anything after the end-of-image marker (phone
  "motion photo" videos and vendor trailers, which carry their own metadata).
* PNG: the chunks in `PNG_KEEP`; text, time, eXIf and unknown ancillary chunks are dropped, so is anything
  after IEND. An unknown critical chunk (which no decoder could skip) refuses the file.
* WebP: every chunk but EXIF, XMP and unknown ones; the VP8X flags and the RIFF size are fixed to match.

The picture's orientation is kept: when dropped EXIF data said the photo is rotated or mirrored (Orientation
tag 0x0112 other than 1), a minimal EXIF block with only that tag is written back in its place, so a phone
photo does not turn sideways.
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["PNG_KEEP", "WEBP_KEEP", "BadImage", "exif_orientation", "minimal_exif", "strip_metadata"]


class BadImage(ValueError):
    """The upload is not a well-formed JPEG/PNG/WebP container; the message says what is wrong (for the uploader)."""


def strip_metadata(data: bytes, kind: str) -> bytes:
    """The image `data` of type `kind` ("jpg", "png" or "webp", as media.TYPES) without its metadata.

    Raises BadImage when the container is malformed. An image without metadata comes back byte-identical
    (apart from bytes after its end marker, which are dropped).
    """
    if kind == "jpg":
        return strip_jpeg(data)
    if kind == "png":
        return strip_png(data)
    if kind == "webp":
        return strip_webp(data)
    raise ValueError(f"unsupported image kind {kind!r}")


# ---------- EXIF (TIFF structure) ----------

ORIENTATION_TAG = 0x0112
_SHORT, _LONG = 3, 4


def exif_orientation(tiff: bytes) -> int:
    """The Orientation (1–8) in IFD0 of a TIFF-structured EXIF block; 1 when absent or unreadable.

    Every read is bounds-checked: the block is untrusted and is dropped anyway, so a damaged one only means
    "no orientation", never an exception.
    """
    if tiff[:4] == b"II*\x00":
        order = "<"
    elif tiff[:4] == b"MM\x00*":
        order = ">"
    else:
        return 1
    if len(tiff) < 8:
        return 1
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd < 8 or ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    count = min(count, (len(tiff) - ifd - 2) // 12)  # only the entries that are really there
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, typ, n = struct.unpack_from(order + "HHI", tiff, entry)
        if tag != ORIENTATION_TAG:
            continue
        if n < 1:
            return 1
        if typ == _SHORT:
            (value,) = struct.unpack_from(order + "H", tiff, entry + 8)
        elif typ == _LONG:
            (value,) = struct.unpack_from(order + "I", tiff, entry + 8)
        else:
            return 1
        return value if 1 <= value <= 8 else 1
    return 1


def minimal_exif(orientation: int) -> bytes:
    """A 26-byte TIFF block (big-endian) whose IFD0 holds one entry, Orientation = `orientation`."""
    return (b"MM\x00*" + struct.pack(">IH", 8, 1)
            + struct.pack(">HHIHH", ORIENTATION_TAG, _SHORT, 1, orientation, 0) + struct.pack(">I", 0))


def _exif_payload_orientation(payload: bytes) -> int:
    """Orientation of an EXIF payload that may start with the JPEG-style "Exif\\0\\0" header (WebP, PNG)."""
    return exif_orientation(payload[6:] if payload.startswith(b"Exif\x00") else payload)


# ---------- JPEG ----------

_SOI, _EOI, _SOS, _TEM, _COM = 0xD8, 0xD9, 0xDA, 0x01, 0xFE
_APP0, _APP1, _APP2, _APP14, _APP15 = 0xE0, 0xE1, 0xE2, 0xEE, 0xEF
# Start-of-frame markers: C0–CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_RST = frozenset(range(0xD0, 0xD8))


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_keep(marker: int, payload: bytes) -> bytes | None:
    """The segment to write for a marker segment (possibly rewritten), or None to drop it."""
    if marker == _APP0:
        # JFIF: 5-byte identifier, version, units, densities, then thumbnail size and pixels; the thumbnail goes.
        if payload.startswith(b"JFIF\x00") and len(payload) >= 14:
            return _segment(marker, payload[:12] + b"\x00\x00")
        return None
    if marker == _APP2:
        return _segment(marker, payload) if payload.startswith(b"ICC_PROFILE\x00") else None
    if marker == _APP14:
        return _segment(marker, payload) if payload.startswith(b"Adobe") else None
    if _APP0 <= marker <= _APP15 or marker == _COM:
        return None
    return _segment(marker, payload)


def _jpeg_segment_at(data: bytes, pos: int) -> tuple[bytes, int]:
    """The payload of the length-prefixed segment whose length field is at `pos`, and the position after it."""
    if pos + 2 > len(data):
        raise BadImage("truncated JPEG segment")
    (length,) = struct.unpack_from(">H", data, pos)
    if length < 2:
        raise BadImage("bad JPEG segment length")
    end = pos + length
    if end > len(data):
        raise BadImage("truncated JPEG segment")
    return data[pos + 2:end], end


def strip_jpeg(data: bytes) -> bytes:
    """A JPEG without APP1/APP13/COM/other APPn segments and without bytes after EOI; see the module doc.

    The header segments are walked from SOI to the first SOS. After it, the entropy-coded scan data is copied
    unchanged; markers between scans (progressive JPEG) are walked with the same rules, up to EOI.
    """
    if not data.startswith(b"\xff\xd8"):
        raise BadImage("not a JPEG (no start-of-image marker)")
    out = [b"\xff\xd8"]
    pos = 2
    frame = False
    orientation_done = False
    # Header: marker segments up to the first start-of-scan.
    while True:
        if pos >= len(data) or data[pos] != 0xFF:
            raise BadImage("truncated JPEG header" if pos >= len(data) else "bad JPEG marker")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= len(data):
            raise BadImage("truncated JPEG header")
        marker = data[pos]
        pos += 1
        if marker == _EOI:
            raise BadImage("JPEG without image data")
        if marker == _TEM:
            continue
        if marker in (0x00, _SOI) or marker in _RST:
            raise BadImage("bad JPEG marker")
        payload, pos = _jpeg_segment_at(data, pos)
        if marker == _APP1 and payload.startswith(b"Exif\x00") and not orientation_done:
            orientation_done = True  # only the first EXIF block is read, as decoders do
            orientation = exif_orientation(payload[6:])
            if orientation != 1:
                out.append(_segment(_APP1, b"Exif\x00\x00" + minimal_exif(orientation)))
            continue
        frame = frame or marker in _SOF
        if marker == _SOS:
            if not frame:
                raise BadImage("JPEG scan before frame header")
            out.append(_segment(marker, payload))
            break
        kept = _jpeg_keep(marker, payload)
        if kept is not None:
            out.append(kept)
    # Scans: entropy-coded data (0xFF is stuffed as FF 00; RSTn may occur) up to the next marker, until EOI.
    while True:
        scan = pos
        while True:
            pos = data.find(b"\xff", pos)
            if pos < 0 or pos + 1 >= len(data):
                raise BadImage("JPEG without end-of-image marker")
            following = data[pos + 1]
            if following == 0x00 or following in _RST:
                pos += 2
            elif following == 0xFF:  # fill byte before a marker
                pos += 1
            else:
                break
        out.append(data[scan:pos])
        marker = data[pos + 1]
        pos += 2
        if marker == _EOI:
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker == _TEM:
            continue
        if marker == _SOI:
            raise BadImage("bad JPEG marker")
        payload, pos = _jpeg_segment_at(data, pos)
        kept = _jpeg_keep(marker, payload)
        if kept is not None:
            out.append(kept)


# ---------- PNG ----------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks needed to show the picture (core, transparency, colour, APNG animation); every other one is dropped.
PNG_KEEP = frozenset({
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs",
    b"cICP", b"mDCV", b"cLLI", b"acTL", b"fcTL", b"fdAT",
})


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def strip_png(data: bytes) -> bytes:
    """A PNG with only the chunks of `PNG_KEEP` (CRCs copied as they are), ending at IEND.

    An eXIf chunk whose Orientation is not 1 is replaced by a minimal eXIf chunk holding only that tag.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise BadImage("not a PNG (bad signature)")
    out = [PNG_SIGNATURE]
    pos = len(PNG_SIGNATURE)
    first = True
    orientation_done = False
    while True:
        if pos + 12 > len(data):
            raise BadImage("truncated PNG chunk" if pos < len(data) else "PNG without IEND chunk")
        length, kind = struct.unpack_from(">I4s", data, pos)
        if length > 0x7FFFFFFF:
            raise BadImage("bad PNG chunk length")
        end = pos + 12 + length
        if end > len(data):
            raise BadImage("truncated PNG chunk")
        if not kind.isalpha():
            raise BadImage("bad PNG chunk type")
        if first and kind != b"IHDR":
            raise BadImage("PNG does not start with IHDR")
        first = False
        if kind in PNG_KEEP:
            out.append(data[pos:end])
        elif kind == b"eXIf":
            if not orientation_done:
                orientation_done = True
                orientation = _exif_payload_orientation(data[pos + 8:end - 4])
                if orientation != 1:
                    out.append(_png_chunk(b"eXIf", minimal_exif(orientation)))
        elif kind[0:1].isupper():
            raise BadImage(f"unsupported critical PNG chunk {kind.decode('ascii')}")
        pos = end
        if kind == b"IEND":
            return b"".join(out)


# ---------- WebP ----------

# Chunks needed to show the picture; EXIF, "XMP " and unknown chunks are dropped.
WEBP_KEEP = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def strip_webp(data: bytes) -> bytes:
    """A WebP without EXIF/XMP (and unknown) chunks, VP8X flags cleared to match, RIFF size recomputed.

    Chunks are padded to an even size; a missing pad byte after the last chunk is tolerated and added.
    An EXIF chunk whose Orientation is not 1 (extended format only) is replaced by a minimal one.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise BadImage("not a WebP (bad RIFF header)")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end = 8 + riff_size
    if riff_size < 4 or end > len(data):
        raise BadImage("truncated WebP (RIFF size past the end of the file)")
    chunks: list[tuple[bytes, bytes]] = []
    vp8x: int | None = None
    exif_at: int | None = None
    orientation = 1
    pos = 12
    while pos < end:
        if pos + 8 > end:
            raise BadImage("truncated WebP chunk header")
        fourcc = data[pos:pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body_end = pos + 8 + size
        if body_end > end:
            raise BadImage("truncated WebP chunk")
        body = data[pos + 8:body_end]
        if not chunks and fourcc not in (b"VP8 ", b"VP8L", b"VP8X"):
            raise BadImage("WebP does not start with an image or VP8X chunk")
        if fourcc == b"VP8X":
            if chunks or size < 10:
                raise BadImage("bad WebP VP8X chunk")
            vp8x = len(chunks)
            chunks.append((fourcc, body))
        elif fourcc == b"EXIF":
            if exif_at is None:
                exif_at = len(chunks)
                orientation = _exif_payload_orientation(body)
        elif fourcc in WEBP_KEEP:
            chunks.append((fourcc, body))
        pos = min(body_end + (size & 1), end)
    if vp8x is None:
        orientation = 1  # EXIF needs the extended format; a simple-format file cannot carry it
    if exif_at is not None and orientation != 1:
        chunks.insert(exif_at, (b"EXIF", minimal_exif(orientation)))
    if vp8x is not None:
        body = chunks[vp8x][1]
        flags = (body[0] & ~(_VP8X_EXIF | _VP8X_XMP)) | (_VP8X_EXIF if orientation != 1 else 0)
        chunks[vp8x] = (b"VP8X", bytes((flags,)) + body[1:])
    parts = [b"WEBP"]
    for fourcc, body in chunks:
        parts.append(fourcc + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b""))
    payload = b"".join(parts)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload
