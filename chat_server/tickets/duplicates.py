"""Is this report already filed? Pure logic: distances, address normalisation, the match rule.

A report duplicates an earlier ticket of the same service when that ticket is still open, was
filed within the window (`tickets.duplicate_window_days`), and lies within
`tickets.duplicate_radius_m` (haversine on lat/long) or has the same normalised address. The Redis
indexes in `store.py` only narrow the candidates (GEO search, address key); this module decides.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from chat_server.tickets.store import OPEN, Ticket

EARTH_RADIUS_M = 6_371_008.8

# USPS-style abbreviations, so "600 East 4th Street" and "600 E. 4th St" are one address.
_WORDS = {
    "street": "st", "st": "st", "avenue": "ave", "av": "ave", "ave": "ave", "road": "rd", "rd": "rd",
    "boulevard": "blvd", "blvd": "blvd", "drive": "dr", "dr": "dr", "lane": "ln", "ln": "ln", "court": "ct",
    "ct": "ct", "place": "pl", "pl": "pl", "parkway": "pkwy", "pkwy": "pkwy", "highway": "hwy", "hwy": "hwy",
    "circle": "cir", "cir": "cir", "terrace": "ter", "trail": "trl", "way": "way", "square": "sq",
    "north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne", "northwest": "nw",
    "southeast": "se", "southwest": "sw", "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th",
    "fifth": "5th", "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
    "and": "&", "at": "&", "y": "&",
}
# Street types are left out of the key: a Spanish speaker's "calle Rozzelles Ferry" is the "Rozzelles Ferry Rd"
# of an English report (highways and parkways keep theirs: "hwy 74" alone is no street name).
_TYPES = frozenset({"st", "ave", "rd", "blvd", "dr", "ln", "ct", "pl", "cir", "ter", "trl", "sq", "calle", "avenida",
                    "camino", "bulevar"})
# "cuadra 2400 de calle Rozzelles Ferry" (the bot's Spanish block) is "2400 block of …"
_SPANISH_BLOCK = re.compile(r"^cuadra (\d+) (?:de )?(?:la |el )?")
# "2400 de Rozzelles Ferry Rd" (a Spanish report, "frente al 2400 de …") is "2400 Rozzelles Ferry Rd"
_SPANISH_NUMBER = re.compile(r"^(\d+) de (?:la |el )?")
# Trailing parts that say nothing the street does not: city, state, country.
_TAIL = re.compile(r"\b(charlotte|mecklenburg( county)?|nc|north carolina|usa|us|united states)\b")
_ZIP = re.compile(r"\b\d{5}(-\d{4})?\b\s*$")


@dataclass(frozen=True)
class Report:
    """What a new report says about where it is."""

    service_code: str
    lat: float | None = None
    long: float | None = None
    address: str | None = None


def haversine_m(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(long2 - long1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def normalise_address(address: str | None) -> str:
    """Case, accents, punctuation, street suffixes, directions and city/state/ZIP folded away."""
    if not address:
        return ""
    text = unicodedata.normalize("NFKD", address).encode("ascii", "ignore").decode().lower()
    town = ""
    if "," in text and re.match(r"\s*\d", text):  # "600 E 4th St, Charlotte", "100 N Main St, Davidson, NC 28036"
        text, rest = text.split(",", 1)
        # Another town's Main St is another street: the town was dropped, and Davidson's "100 N Main St" was
        # offered as Huntersville's (probe AB). The city's own name, the state and the ZIP say nothing.
        town = " ".join(_TAIL.sub(" ", re.sub(r"[^a-z\s]", " ", _ZIP.sub("", rest))).split())
    text = _ZIP.sub("", text)
    text = re.sub(r"[^\w&\s]", " ", text)
    text = _TAIL.sub(" ", text)
    text = _SPANISH_NUMBER.sub(r"\1 ", _SPANISH_BLOCK.sub(r"\1 block of ", " ".join(text.split())))
    words = [_WORDS.get(w, w) for w in text.split()]
    return " ".join([*([w for w in words if w not in _TYPES] or words), *town.split()])


def pinpoints(key: str) -> bool:
    """A normalised address that names one spot: a house number or a crossing. "tryon st" is miles long, so two
    reports there ("light out", "light on all day") are not the same problem."""
    return bool(re.match(r"\d", key)) or bool(re.search(r"\s(&|and|y)\s", f" {key} "))


def distance_m(report: Report, ticket: Ticket) -> float | None:
    if report.lat is None or report.long is None or ticket.lat is None or ticket.long is None:
        return None
    return haversine_m(report.lat, report.long, ticket.lat, ticket.long)


def matches(report: Report, ticket: Ticket, *, radius_m: float, since: float) -> bool:
    if ticket.service_code != report.service_code or ticket.status != OPEN or ticket.requested_at < since:
        return False
    distance = distance_m(report, ticket)
    if distance is not None and distance <= radius_m:
        return True
    key = normalise_address(report.address)
    return pinpoints(key) and key == normalise_address(ticket.address)


def best_match(report: Report, candidates: list[Ticket], *, radius_m: float, since: float) -> Ticket | None:
    """The nearest matching ticket (by address: the oldest, i.e. the one others follow)."""
    found = [t for t in candidates if matches(report, t, radius_m=radius_m, since=since)]
    if not found:
        return None
    return min(found, key=lambda t: (distance_m(report, t) if distance_m(report, t) is not None else math.inf,
                                     t.requested_at))
