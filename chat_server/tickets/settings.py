"""Configuration section for tickets and the Open311 API (part of chat311.yml).

Flat keys on purpose: every one can be overridden as ``CHAT311_TICKETS__<KEY>`` (the tests
start a second chat311 as the "city's" upstream Open311 server with
``CHAT311_TICKETS__UPSTREAM_URL=...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chat_server import settings_checks as check


@dataclass
class TicketsConfig:
    jurisdiction_id: str = "charlottenc.gov"
    # Service catalogue file (YAML); relative to the project root.
    catalogue: str = "chat_server/tickets/catalogue.yml"
    # The resident's status page (chat_server/status/page.py): linked from `ticket_created`, the bot's
    # status answers, SMS, e-mail and every notification; {public_url} and {ticket_id} are filled in.
    status_url: str = "{public_url}/status/{ticket_id}"
    # GET requests: default window / largest window (days) and most records per response.
    max_range_days: int = 90
    max_records: int = 1000

    # Duplicates: before filing from chat, an OPEN request of the same service within this many
    # metres (lat/long) or at the same normalised address, filed in the last N days, is offered instead.
    duplicate_radius_m: float = 50.0
    duplicate_window_days: float = 30.0
    # The city's area: lat/long outside [south, west, north, east] are refused (default: a box around
    # Mecklenburg County, NC). A ZIP code (zipcode, or at the end of address_string) must start with
    # one of zip_prefixes; empty list = not checked.
    bounding_box: list[float] = field(default_factory=lambda: [34.99, -81.07, 35.53, -80.54])
    zip_prefixes: list[str] = field(default_factory=lambda: ["280", "281", "282"])

    # Photos uploaded from the widget (POST /api/media), served back at /media/<name>.
    media_dir: str = "var/media"
    media_max_bytes: int = 5 * 1024 * 1024
    media_uploads: int = 10  # per IP and window
    media_window_s: float = 60.0

    # Upstream forwarding: empty url = disabled. `upstream_url` is the base of the city's
    # Open311 endpoint, e.g. https://311.example.gov/open311/v2 (requests.json is appended).
    upstream_url: str = ""
    upstream_api_key: str = ""
    upstream_jurisdiction_id: str = ""
    upstream_poll_s: float = 300.0  # how often open forwarded tickets are re-read upstream
    upstream_timeout_s: float = 10.0
    upstream_retry_base_s: float = 1.0  # backoff: base * 2^attempt, capped at max, with jitter
    upstream_retry_max_s: float = 300.0
    # A pending outbox entry idle this long belongs to a dead worker and is taken over.
    upstream_claim_idle_s: float = 60.0

    def validate(self) -> None:
        check.not_negative(self, "duplicate_radius_m", "duplicate_window_days")
        box = self.bounding_box
        if len(box) != 4 or not (-90 <= box[0] < box[2] <= 90 and -180 <= box[1] < box[3] <= 180):
            raise ValueError(f"bounding_box must be [south, west, north, east] in degrees, got {box!r}")
        if not all(isinstance(p, str) and p.isdigit() and len(p) <= 5 for p in self.zip_prefixes):
            raise ValueError(f"zip_prefixes must be digit strings (e.g. '282'), got {self.zip_prefixes!r}")
        check.between(self, "max_range_days", 1, 3660)
        check.between(self, "max_records", 1, 100_000)
        if self.upstream_url and not self.upstream_url.startswith(("http://", "https://")):
            raise ValueError(f"upstream_url must be an http(s) URL, got {self.upstream_url!r}")
        check.positive(self, "media_max_bytes", "upstream_poll_s", "upstream_retry_base_s", "upstream_claim_idle_s")
