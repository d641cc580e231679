"""Is a location inside the city's service area? Pure logic.

Coordinates are checked against `tickets.bounding_box`; an address can only be checked by its
ZIP code (we do not geocode), against `tickets.zip_prefixes`. A report for somewhere else is
refused with the reason, so it goes to the right city instead of into our queue.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ZIP = re.compile(r"\b(\d{5})(?:-\d{4})?\b")


def outside_box(lat: float, long: float, box: Sequence[float]) -> bool:
    south, west, north, east = box
    return not (south <= lat <= north and west <= long <= east)


def zip_code(address: str | None, zipcode: str | None) -> str | None:
    """The explicit zipcode, else the last 5-digit group of the address that is not its house number."""
    if zipcode and _ZIP.fullmatch(zipcode.strip()):
        return zipcode.strip()[:5]
    if not address:
        return None
    found = _ZIP.findall(address)
    if not found or (len(found) == 1 and re.match(rf"\s*{found[0]}\b", address)):
        return None  # none, or only a house number ("12345 Main St")
    return str(found[-1])


def outside_zip(address: str | None, zipcode: str | None, prefixes: Sequence[str]) -> str | None:
    """The ZIP code when it is not one of ours (None when fine or unknown)."""
    code = zip_code(address, zipcode)
    if not prefixes or code is None or code.startswith(tuple(prefixes)):
        return None
    return code
