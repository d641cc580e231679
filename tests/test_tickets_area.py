"""The city's service area (pure): bounding box, ZIP codes, and the config that sets them."""

from __future__ import annotations

import pytest

from chat_server.config import ConfigError, load_config
from chat_server.tickets.area import outside_box, outside_zip, zip_code
from chat_server.tickets.settings import TicketsConfig
from tests.support.servers import ROOT

BOX = TicketsConfig().bounding_box


@pytest.mark.parametrize(("lat", "long", "outside"), [
    (35.2271, -80.8431, False),  # uptown Charlotte
    (35.4993, -80.8487, False),  # Davidson (north of the county)
    (35.0888, -80.7115, False),  # Matthews / Mint Hill side
    (35.7796, -78.6382, True),  # Raleigh
    (35.2621, -81.1873, True),  # Gastonia, across the Catawba
    (0.0, 0.0, True),
])
def test_bounding_box(lat: float, long: float, outside: bool) -> None:
    assert outside_box(lat, long, BOX) is outside


@pytest.mark.parametrize(("address", "zipcode", "found"), [
    ("600 E 4th St, Charlotte, NC 28202", None, "28202"),
    ("12345 Main St", None, None),  # a house number, not a ZIP
    ("12345 Main St, Atlanta, GA 30303", None, "30303"),
    ("600 E 4th St", "28202-1234", "28202"),
    (None, None, None),
])
def test_zip_code(address: str | None, zipcode: str | None, found: str | None) -> None:
    assert zip_code(address, zipcode) == found


def test_outside_zip() -> None:
    prefixes = TicketsConfig().zip_prefixes
    assert outside_zip("200 Peachtree St NW, Atlanta, GA 30303", None, prefixes) == "30303"
    assert outside_zip("600 E 4th St, Charlotte, NC 28202", None, prefixes) is None
    assert outside_zip("Huntersville, NC 28078", None, prefixes) is None
    assert outside_zip("600 E 4th St", None, prefixes) is None  # unknown: not refused
    assert outside_zip(None, "27601", []) is None  # check turned off


@pytest.mark.parametrize(("env", "message"), [
    ({"CHAT311_TICKETS__BOUNDING_BOX": "[35.5, -81, 35.0, -80.5]"}, "bounding_box must be [south, west, north, east]"),
    ({"CHAT311_TICKETS__BOUNDING_BOX": "[35.0, -81]"}, "bounding_box"),
    ({"CHAT311_TICKETS__ZIP_PREFIXES": "[NC]"}, "zip_prefixes"),
    ({"CHAT311_TICKETS__DUPLICATE_RADIUS_M": "-1"}, "duplicate_radius_m"),
])
def test_bad_area_config_names_the_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=r"tickets.*" + message.replace("[", r"\[")):
        load_config(ROOT / "chat311.yml", environ=env)
