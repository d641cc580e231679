"""Which characters stored text may hold, and which ones an XML document can carry.

Control characters in a ticket once broke the public requests.xml feed for everyone: XML 1.0
cannot carry most C0 controls at all (not even as character references). Input paths reject
them with a clear error (`control_chars`); the XML writer strips whatever is still illegal
(`xml_safe`), so no stored value, old or new, can make a feed unparseable.
"""

from __future__ import annotations

import re

# C0 controls (tab, newline and carriage return are allowed in multi-line text), DEL and C1.
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Everything outside XML 1.0's Char production (lone surrogates and U+FFFE/U+FFFF included).
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def control_chars(value: str, multiline: bool = False) -> bool:
    """True if `value` holds a control character (or a surrogate/non-character XML cannot carry)."""
    pattern = _CONTROL_MULTILINE if multiline else _CONTROL_LINE
    return bool(pattern.search(value) or _XML_ILLEGAL.search(value))


def xml_safe(value: str) -> str:
    """`value` without the characters an XML 1.0 document cannot contain."""
    return _XML_ILLEGAL.sub("", value)


def without_controls(value: str) -> str:
    """Multi-line `value` with control characters removed (for text we compose, not type-checked input)."""
    return xml_safe(_CONTROL_MULTILINE.sub("", value))
