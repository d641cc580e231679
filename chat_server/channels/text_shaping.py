"""Pure text shaping for text-only channels: SMS segments and splitting, numbered options in place
of buttons, status events as plain sentences, and e-mail reply quote stripping. No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chat_server.texts import text

# ---------------------------------------------------------------------------------- SMS segments

# GSM 03.38 basic character set (one septet each) and its extension table (escape + char = two).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(body: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in body)


def segment_info(body: str) -> SegmentInfo:
    """How many SMS segments a body costs: 160/153 septets (GSM-7) or 70/67 UTF-16 units (UCS-2).

    One character outside GSM-7 (an emoji, "ó", a curly quote) switches the whole message to
    UCS-2, which more than halves what fits in a segment: that is why we count, and why the
    server's own texts avoid such characters where an ASCII one reads the same.
    """
    if not body:
        return SegmentInfo("GSM-7", 0, 1)
    if is_gsm7(body):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in body)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else -(-units // multi)
    return SegmentInfo(encoding, units, segments)


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def split_message(body: str, max_chars: int) -> list[str]:
    """Split a reply into parts of at most `max_chars`, preferring sentence ends, then spaces.

    Twilio rejects bodies over 1600 characters; a part still becomes several concatenated
    segments on the handset, which is fine, but a cut mid-word reads badly, so we cut at the
    last sentence boundary (or newline) that fits, else the last space, else hard.
    """
    body = body.strip()
    parts: list[str] = []
    while len(body) > max_chars:
        window = body[: max_chars + 1]
        cut = 0
        for match in _SENTENCE_END.finditer(window):
            if match.start() <= max_chars and match.start() > 0:
                cut = match.start()
        if cut < max_chars // 3:  # no useful sentence end: fall back to a word boundary
            space = window.rfind(" ", 0, max_chars + 1)
            cut = space if space >= max_chars // 3 else max_chars
        head, body = body[:cut].rstrip(), body[cut:].lstrip()
        if head:
            parts.append(head)
    if body:
        parts.append(body)
    return parts


# ---------------------------------------------------------------------------------- options

def render_options(body: str, quick_replies: list[dict[str, Any]] | None, language: str) -> str:
    """Buttons become a numbered list the resident answers with a digit."""
    if not quick_replies:
        return body
    lines = [f"{i}) {qr.get('title') or qr.get('payload')}" for i, qr in enumerate(quick_replies, 1)]
    prompt = text("reply_with_number", language)
    return "\n".join(filter(None, [body.strip(), prompt, *lines]))


# Words a sentence does not end on ("… on Queens Rd near the"): a text that stops on one was cut, by the phone or
# the carrier, or sent before it was finished. Not "on", "in", "to", "cerca": "the light stays on", "sign in",
# "who do I talk to", "está cerca" end sentences.
_DANGLING = frozenset({
    "the", "a", "an", "and", "or", "of", "at", "near", "with", "from", "between", "but", "if", "my", "our", "your",
    "el", "la", "los", "las", "un", "una", "de", "del", "en", "y", "o", "con", "entre", "por", "al"})
_FOLD_ACCENTS = str.maketrans("áéíóúñü", "aeiounu")
# A carrier that does not reassemble a long text sends it in parts of 153 or 160 characters (67 or 70 for Unicode).
_SEGMENT_SIZES = frozenset({153, 160, 67, 70})


def looks_unfinished(body: str) -> bool:
    """Whether a text reads as the first part of one the resident sent in two: it stops on a word no sentence ends
    on or a comma, or it is exactly as long as a carrier's part, and no other punctuation ends it. (Not a trailing
    space: phones add one after a word picked from their suggestions.)"""
    stripped = body.rstrip()
    if not stripped or not (stripped[-1].isalnum() or stripped[-1] == ","):
        return False
    if stripped[-1] == "," or len(body) in _SEGMENT_SIZES:
        return True
    last = stripped.rsplit(None, 1)[-1].casefold()
    return last.translate(_FOLD_ACCENTS) in _DANGLING


_DIGIT = re.compile(r"^\s*#?\s*(\d{1,2})\s*[.)]?\s*$")
_DIGITS = re.compile(r"^\s*#?\d{1,2}(?:\s*(?:,|&|\+|\band\b|\by\b|\s)\s*#?\d{1,2})+\s*[.]?\s*$", re.IGNORECASE)


def pick_option(incoming: str, payloads: list[str]) -> str | None:
    """The payload for an incoming "2" / "2." / "#2" if it names one of the offered options; for "1 and 2" /
    "1, 2" / "1 y 2", the named options' words together ("Garbage, Recycling"), as a "pick more than one" question
    takes them typed (the numbers were not understood, probe AG). A command payload is never joined."""
    match = _DIGIT.match(incoming)
    if match and payloads:
        index = int(match.group(1))
        return payloads[index - 1] if 1 <= index <= len(payloads) else None
    if not _DIGITS.match(incoming) or not payloads:
        return None
    picked = list(dict.fromkeys(int(d) for d in re.findall(r"\d+", incoming)))
    if len(picked) < 2 or not all(1 <= i <= len(payloads) for i in picked):
        return None
    chosen = [payloads[i - 1] for i in picked]
    return None if any(p.startswith("/") for p in chosen) else ", ".join(chosen)


# ---------------------------------------------------------------------------------- events

def event_text(event: str, data: dict[str, Any], language: str, state: dict[str, Any] | None = None) -> str | None:
    """A sentence for a protocol extension event on a text-only channel, or None to stay quiet.

    The web widget renders these events as UI; on SMS or e-mail only some deserve words, and
    only where no system message already says the same: `agent_joined` and an agent's close
    come with their own system messages, typing indicators and language switches mean nothing
    in a text, and queue updates are sent once (the first), so a long queue does not spam a phone.
    """
    if event == "queue_update":
        if state is not None and state.get("queue_notified"):
            return None
        position = data.get("position")
        wait_s = data.get("estimated_wait_s")
        if not isinstance(position, int) or isinstance(position, bool):
            return None
        minutes = max(1, round(float(wait_s) / 60)) if isinstance(wait_s, int | float) and wait_s > 0 else None
        if minutes is None:
            return text("channel_queue", language, position=position)
        return text("channel_queue_wait", language, position=position, minutes=minutes)
    if event in ("ticket_created", "ticket_followed") and data.get("ticket_id") and data.get("status_url"):
        return text("channel_ticket", language, ticket_id=data["ticket_id"], status_url=data["status_url"])
    if event == "conversation_closed" and data.get("reason") not in ("agent_closed", "resident_ended", "opted_out"):
        return text("channel_closed", language)
    return None


# ---------------------------------------------------------------------------------- e-mail

_QUOTE_HEADERS = [
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*El\b.{0,300}\bescribi[oó]:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*-{2,}\s*(Original Message|Mensaje original|Forwarded message)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's separator line
    re.compile(r"^\s*(From|De):\s.+$", re.IGNORECASE),
]
_WROTE = ("wrote:", "escribió:", "escribio:")
_SIGNATURE = re.compile(r"^(-- ?|Sent from my .+|Enviado desde mi .+|Get Outlook for .+)$", re.IGNORECASE)


_SIGN_OFF = re.compile(r"^(thanks( so much| again)?|thank you( very much)?|many thanks|(best |kind |warm )?regards|"
                       r"best|sincerely|cheers|respectfully|(muchas )?gracias|saludos( cordiales)?|un saludo|"
                       r"atentamente|cordialmente)\W*$", re.IGNORECASE)


def _signature_block(rest: list[str]) -> bool:
    """What follows a sign-off is a signature: a few short lines (name, title, phone)."""
    lines = [line.strip() for line in rest if line.strip()]
    return len(lines) <= 5 and all(len(line) <= 60 for line in lines)


# The lines of a signature with no sign-off above it: a name, a phone, an address, an e-mail.
_SIG_NAME = re.compile(r"^[A-ZÁÉÍÓÚÑ][\w'.-]+(?: [A-ZÁÉÍÓÚÑ][\w'.-]+){1,3}$")
_SIG_CONTACT = re.compile(
    r"^(?:(?:cell|mobile|tel|phone|cel|celular|tel[eé]fono|e-?mail|correo)\.?:?\s*)?"
    r"(?:\+?[\d\s().-]{10,}|[^@\s]+@[^@\s]+\.\w+)$", re.IGNORECASE)  # a phone number or an e-mail address
_SIG_ADDRESS = re.compile(r"^\d{1,6} [\w .'-]+$|^[\w .'-]+, ?[A-Z]{2}(?: \d{5})?$")  # "512 Oak St", "Charlotte, NC"


def _without_trailing_signature(lines: list[str]) -> list[str]:
    """A name over a phone number or an e-mail address at the end, with no "Thanks," above it: a signature.
    Kept, the phone number made the bot ask for a request number ("can I put a broken mirror in the trash? /
    Maria Rivera / Cell 704-555-0199"), and it went into the transcript. A home address in it goes too only under
    a question: under a report it may be where the problem is ("in front of my house")."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    start, contact, address = end, False, False
    while start and (line := lines[start - 1].strip()) and len(line) <= 60 and (
            _SIG_NAME.match(line) or _SIG_CONTACT.match(line) or _SIG_ADDRESS.match(line)):
        contact = contact or bool(_SIG_CONTACT.match(line))
        address = address or bool(_SIG_ADDRESS.match(line) and not _SIG_NAME.match(line))
        start -= 1
    before = "\n".join(lines[:start]).strip()
    name_first = start < end and bool(_SIG_NAME.match(lines[start].strip()))
    if end - start < 2 or not contact or not name_first or not before or (address and not before.endswith("?")):
        return lines
    return lines[:start]


def _without_name_above(lines: list[str]) -> list[str]:
    """A name on its own just above "Sent from my iPhone" or "-- " is the sender's signature: kept, an anonymous
    report's description put "Robert Nguyen" on the public status page (probe AG)."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    if end and _SIG_NAME.match(lines[end - 1].strip()) and "\n".join(lines[:end - 1]).strip():
        return lines[:end - 1]
    return lines


def _before_quote(lines: list[str]) -> list[str]:
    """The lines of a reply above the quoted history (its "> " lines, attribution or "From:" block)."""
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line.lstrip().startswith(">") or any(p.match(line) for p in _QUOTE_HEADERS) or (
                re.match(r"^\s*(On|El)\s", line) and following.rstrip().endswith(_WROTE)):  # wrapped attribution
            return lines[:i]
    return lines


def split_reply(body: str) -> tuple[str, str]:
    """The new part of an e-mail reply, and what was cut from it as a signature (above the quoted history).

    Handles the common clients: "> " quoting, "On <date>, <name> wrote:" (which Gmail may wrap
    over two lines), Outlook's "From:" block and underscore separator, "-- " signatures and
    "Sent from my iPhone". When everything looks quoted we return the original text, because
    losing a resident's words is worse than showing them a quote. The signature is the resident's
    own writing, so the emergency guard still reads it ("-- Maria / PS my dad is not breathing" got
    only the bulk-pickup answer, probe AC); quoted history is not new and is not read.
    """
    lines = _before_quote(body.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    kept: list[str] = []
    for i, line in enumerate(lines):
        if kept and _SIGN_OFF.match(line.strip()) and _signature_block(lines[i + 1:]):
            break  # "Thanks,\nRose Martin\nTel. 704-…": a letter's closing; the question was not understood with it
        if _SIGNATURE.match(line.strip()):
            kept = _without_name_above(kept)
            break  # "-- ", "Sent from my iPhone" (under an empty body: no words, so the subject is used)
        kept.append(line)
    reply = _without_trailing_signature(kept)
    result = "\n".join(reply).strip()
    cut = "\n".join(lines[len(reply):]).strip()
    if not result and not any(_SIGNATURE.match(line.strip()) for line in lines):
        return body.strip(), ""
    return result, cut


def html_to_text(html: str) -> str:
    """Crude but safe text from an HTML-only e-mail: tags dropped, block ends become newlines."""
    from html import unescape

    html = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", html)
    html = re.sub(r"(?is)<blockquote\b.*?</blockquote>", "\n> quoted\n", html)
    html = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr|h\d)>", "\n", html)
    html = re.sub(r"(?s)<[^>]+>", "", html)
    return re.sub(r"[ \t]+", " ", unescape(html)).strip()
