"""Untrusted input shared by every way in (Socket.IO, SMS, e-mail, app API, staff pages): pure, no I/O.

These lived in the resident Socket.IO namespace, so channels and the console imported a
transport module to clean text; they belong below all of them.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Zero-width and bidi-override characters: invisible, and the bidi ones can make a text read differently from
# what it says ("Adopt \u202egod a" shows as "Adopt a dog").
_INVISIBLE = "\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff"
_CONTROL = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}]")
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")


def clean_text(value: str) -> str:
    """Strip control and bidi-override characters; keep newlines and tabs as spaces."""
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\t", " ")).strip()


def has_invisible(value: str) -> bool:
    """Staff text is refused with these rather than cleaned silently: what they see is what residents get."""
    return bool(_INVISIBLE_RE.search(value))


def fold(text: str) -> str:
    """Lower case, no accents, words separated by single spaces ("¡Árbol caído!" → "arbol caido"): how
    residents' words are compared with phrases and button titles, typed with or without accents."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.findall(r"[a-z0-9]+", plain))


def client_ip(environ: dict[str, Any], proxy_hops: int) -> str:
    """The client's address. Behind `proxy_hops` proxies we trust (0: none), the address the outermost of them
    saw: each proxy appends the address it was called from to X-Forwarded-For, so that entry is counted from
    the right. The entries to its left are whatever the client sent; taking the first one let anyone pick
    their own address past every per-IP limit and into the audit log (probe U)."""
    request = environ.get("aiohttp.request")
    if proxy_hops > 0 and request is not None:
        hops = [hop.strip() for hop in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")]
        hops = [hop for hop in hops if hop]
        if hops:
            return hops[-min(proxy_hops, len(hops))]
    if request is not None and request.remote:
        return str(request.remote)
    return str(environ.get("REMOTE_ADDR", "unknown"))


# Tokens in links we send (status page, stop and follow-confirmation links) are 16–24 characters; a
# longer or empty one from a URL is not ours and is refused before it reaches Redis.
MAX_LINK_TOKEN = 64


def plausible_token(token: str) -> bool:
    return 0 < len(token) <= MAX_LINK_TOKEN
