"""`TicketService`: the one code path that creates tickets — Open311 POST requests, the bot's
completed forms, after-hours callback requests and agents all come through `create_request`.

Keeping it single means one set of rules (catalogue validation, location, lengths, idempotency,
outbox forwarding) no matter who files the ticket.

Events published (events.py):
- ticket_created [ticket_id, service_code, source, channel]   every new ticket
- ticketed [ticket_id, service_code, source]                  a conversation got a ticket
Status changes go through chat_server/status/changes.py (TicketStatusService), which publishes
ticket_status.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from chat_server.agents.business_days import add_business_days
from chat_server.conversations.store import ASSIGNED, BOT, QUEUED, TICKETED, Conversation
from chat_server.redaction import redact
from chat_server.sanitize import clean_text
from chat_server.status.followers import FollowerKind, FollowerStore
from chat_server.textchars import control_chars, without_controls
from chat_server.texts import sentence, text
from chat_server.tickets import duplicates
from chat_server.tickets.area import outside_box, outside_zip
from chat_server.tickets.catalogue import Catalogue, Service, TicketValidationError
from chat_server.tickets.store import OPEN, IdempotencyConflict, StatusEntry, Ticket, TicketStore, made_public

if TYPE_CHECKING:
    from chat_server.config import Config
    from chat_server.conversations.service import ConversationService
    from chat_server.events import EventBus
    from chat_server.tickets.settings import TicketsConfig

__all__ = ["TicketService", "TicketValidationError", "filed_in"]

log = logging.getLogger("chat311.tickets")

MAX_DESCRIPTION = 4000
MAX_SHORT = 200
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^[0-9+().\-\s/x]{3,40}$")
MONTHS_ES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
             "noviembre", "diciembre")


def _short(value: Any, name: str, limit: int = MAX_SHORT) -> str | None:
    if value is None:
        return None
    cleaned = str(value).strip()
    if not cleaned:
        return None
    if len(cleaned) > limit:
        raise TicketValidationError(400, f"{name} is longer than {limit} characters", name)
    if control_chars(cleaned):
        raise TicketValidationError(400, f"{name} contains control characters", name)
    return clean_text(cleaned) or None


def _long(value: Any, name: str) -> str:
    """Multi-line free text (descriptions, notes): newlines and tabs are fine, other controls are not."""
    cleaned = "" if value is None else str(value).strip()
    if len(cleaned) > MAX_DESCRIPTION:
        raise TicketValidationError(400, f"{name} is longer than {MAX_DESCRIPTION} characters", name)
    if control_chars(cleaned, multiline=True):
        raise TicketValidationError(400, f"{name} contains control characters", name)
    # zero-width and bidi-override characters dropped, as in chat: "‮RTL" showed reversed on the city's status page
    # (probe AB)
    return clean_text(cleaned)


def _coordinate(value: Any, name: str, bound: float) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TicketValidationError(400, f"{name} must be a number (WGS84 degrees)", name) from None
    if not math.isfinite(number):
        raise TicketValidationError(400, f"{name} must be a number (WGS84 degrees), not {str(value)[:12]!r}", name)
    if not -bound <= number <= bound:
        raise TicketValidationError(400, f"{name} must be between -{bound:g} and {bound:g}", name)
    return number


def filed_in(conv: Conversation) -> list[str]:
    """The requests a conversation filed, oldest first (its `ticket_ids` field)."""
    return [t for t in (conv.get("ticket_ids") or "").split(",") if t]


def _media_url(value: Any) -> str | None:
    url = _short(value, "media_url", 2000)
    if url is None:
        return None
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", url):
        raise TicketValidationError(400, "media_url must be an http(s) URL", "media_url")
    return url


@dataclass(frozen=True)
class _Location:
    lat: float | None
    long: float | None
    address: str | None
    address_id: str | None
    zipcode: str | None


def _location(lat: Any, long: Any, address_string: Any, address_id: Any, zipcode: Any,
              required: bool) -> _Location:
    """Where the problem is, as Open311 allows it: a point (both coordinates), an address or an address id."""
    lat_v, long_v = _coordinate(lat, "lat", 90), _coordinate(long, "long", 180)
    if (lat_v is None) != (long_v is None):
        raise TicketValidationError(400, "lat and long must be given together", "lat" if lat_v is None else "long")
    address, address_id_v = _short(address_string, "address_string", 500), _short(address_id, "address_id", 100)
    if required and lat_v is None and not address and not address_id_v:
        raise TicketValidationError(400, "a location is required: lat & long, address_string or address_id",
                                    "location")
    return _Location(lat_v, long_v, address, address_id_v, _short(zipcode, "zipcode", 20))


def _contact(email: Any, phone: Any, first_name: Any, last_name: Any, device_id: Any) -> dict[str, str]:
    """The filer's contact fields that were given, checked; they stay private (never in public output)."""
    email_v = _short(email, "email", 254)
    if email_v and not EMAIL_RE.match(email_v):
        raise TicketValidationError(400, "email is not a valid e-mail address", "email")
    phone_v = _short(phone, "phone", 40)
    if phone_v and not PHONE_RE.match(phone_v):
        raise TicketValidationError(400, "phone is not a valid phone number", "phone")
    fields = {"email": email_v, "phone": phone_v, "first_name": _short(first_name, "first_name", 100),
              "last_name": _short(last_name, "last_name", 100), "device_id": _short(device_id, "device_id")}
    return {k: v for k, v in fields.items() if v}


def format_date(ts: float, language: str, tz: ZoneInfo) -> str:
    """A date as residents read it: "May 3, 2025" / "3 de mayo de 2025"."""
    d = datetime.fromtimestamp(ts, tz)
    if language == "es":
        return f"{d.day} de {MONTHS_ES[d.month - 1]} de {d.year}"
    return f"{d.strftime('%B')} {d.day}, {d.year}"


@dataclass(frozen=True)
class TicketTerms:
    """The configuration filing a ticket depends on: the tickets section, the city's time zone and
    holidays (due dates count business days), and the public URL status links start with."""

    tickets: TicketsConfig
    timezone: ZoneInfo
    holidays: frozenset[date]
    public_url: str

    @classmethod
    def from_config(cls, config: Config) -> TicketTerms:
        return cls(config.tickets, ZoneInfo(config.hours.timezone),
                   frozenset(date.fromisoformat(d) for d in config.hours.holidays),
                   config.server.public_url.rstrip("/"))


class TicketService:
    """Filing, reading and updating tickets: one service for the bot, the console, Open311 and the CLI.

    `chats` is the conversation core, needed only to file from a chat or follow a ticket from one (the
    CLI has none)."""

    def __init__(self, store: TicketStore, catalogue: Catalogue, bus: EventBus, terms: TicketTerms,
                 chats: ConversationService | None = None, outbox_stream: str | None = None) -> None:
        self.store = store
        self.catalogue = catalogue
        self.bus = bus
        self.terms = terms
        self._chat_service = chats
        self.outbox_stream = outbox_stream

    @property
    def chats(self) -> ConversationService:
        if self._chat_service is None:
            raise RuntimeError("this TicketService was built without the conversation service")
        return self._chat_service

    # create ------------------------------------------------------------
    async def create_request(
        self,
        service_code: str,
        *,
        description: str = "",
        lat: float | str | None = None,  # Open311 posts them as form text
        long: float | str | None = None,
        address_string: str | None = None,
        address_id: str | None = None,
        attributes: dict[str, str | list[str]] | None = None,
        email: str | None = None,
        device_id: str | None = None,
        account_id: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        phone: str | None = None,
        media_url: str | None = None,
        conversation_id: str | None = None,
        channel: str = "api",
        language: str = "en",
        source: str = "api",
        idempotency_key: str | None = None,
        zipcode: str | None = None,
        transcript: str | None = None,
        request_digest: str | None = None,
    ) -> Ticket:
        """Validate against the catalogue and store a new ticket (or return the one filed earlier
        with the same idempotency key). Raises TicketValidationError for bad input.

        `description` is what the filer wrote; its redacted copy is the public description.
        `transcript` (what a resident said in chat) and the contact fields stay private. `request_digest`
        identifies the request as sent: the idempotency key then refuses (422) a different one."""
        service = self.catalogue.get(str(service_code or ""))
        if service is None:
            raise TicketValidationError(400, f"service_code {str(service_code)[:64]!r} not found", "service_code")
        description = _long(description, "description")
        place = _location(lat, long, address_string, address_id, zipcode, service.location_required)
        self._check_area(place.lat, place.long, place.address, place.zipcode)
        attrs = service.validate_attributes(attributes)
        contact = _contact(email, phone, first_name, last_name, device_id)
        key = _short(idempotency_key, "idempotency_key", 200)
        now = time.time()
        language = language if language in ("en", "es") else "en"
        ticket = Ticket(
            id="", service_code=service.service_code, description=description, requested_at=now,
            public_description=made_public(description, contact),
            transcript=without_controls(transcript or "")[:MAX_DESCRIPTION] or None,
            expected_at=self.expected_at(now, service.expected_days),
            agency_responsible=service.agency_responsible, service_notice=service.service_notice("en"),
            address=place.address, public_address=made_public(place.address, contact) if place.address else None,
            address_id=place.address_id, zipcode=place.zipcode, lat=place.lat,
            long=place.long, media_url=_media_url(media_url), attributes=attrs, contact=contact,
            account_id=_short(account_id, "account_id"), conversation_id=conversation_id,
            channel=_short(channel, "channel") or "api", language=language, source=_short(source, "source") or "api",
            idempotency_key=key,
        )
        try:
            ticket, created = await self.store.create(ticket, self.outbox_stream, request_digest)
        except IdempotencyConflict as exc:
            raise TicketValidationError(
                422, f"idempotency_key was already used for a different request ({exc.ticket_id}); "
                     "use a new key for a new request, or send the same request again", "idempotency_key") from None
        if created:
            await self.store.index_location(ticket, duplicates.normalise_address(ticket.address),
                                            self.terms.tickets.duplicate_window_days * 86400)
            log.info("ticket created", extra={"ticket": ticket.id, "service_code": ticket.service_code,
                                              "source": ticket.source, "channel": ticket.channel})
            await self.bus.publish("ticket_created", conversation_id or "", ticket_id=ticket.id,
                                       service_code=ticket.service_code, source=ticket.source, channel=ticket.channel)
        return ticket

    def _check_area(self, lat: float | None, long: float | None, address: str | None, zipcode: str | None) -> None:
        area, box = self.terms.tickets.jurisdiction_id, self.terms.tickets.bounding_box
        if lat is not None and long is not None and outside_box(lat, long, box):
            raise TicketValidationError(
                400, f"lat/long {lat:g},{long:g} is outside the service area of {area} "
                     f"(south,west,north,east = {','.join(f'{v:g}' for v in box)}); report it to the city "
                     "or county where it is", "area")
        foreign = outside_zip(address, zipcode, self.terms.tickets.zip_prefixes)
        if foreign is not None:
            raise TicketValidationError(
                400, f"ZIP code {foreign} is outside the service area of {area}; report it "
                     "to the city or county where it is", "area")

    # duplicates --------------------------------------------------------
    async def find_duplicate(self, service_code: str, data: dict[str, Any]) -> Ticket | None:
        """An open ticket this report would duplicate (same service, near or same address, recent)."""
        try:
            lat = float(data["lat"]) if data.get("lat") not in (None, "") else None
            long = float(data["long"]) if data.get("long") not in (None, "") else None
        except (TypeError, ValueError):
            lat = long = None
        if lat is None or long is None:
            lat = long = None
        address = str(data.get("address_string") or "") or None
        try:
            self._check_area(lat, long, address, str(data.get("zipcode") or "") or None)
        except TicketValidationError:
            # Filing refuses it and says why. Matched first, a Raleigh report was offered a Charlotte ticket at
            # "1 Main St", and "Add my details" put its photo on that ticket's public page (probe AB).
            return None
        report = duplicates.Report(service_code, lat, long, address)
        key = duplicates.normalise_address(report.address)
        if report.lat is None and not duplicates.pinpoints(key):
            return None
        candidates = await self.store.near(service_code, report.lat, report.long, key,
                                           self.terms.tickets.duplicate_radius_m)
        since = time.time() - self.terms.tickets.duplicate_window_days * 86400
        return duplicates.best_match(report, candidates, radius_m=self.terms.tickets.duplicate_radius_m, since=since)

    async def follow(self, ticket: Ticket, conv: Conversation, language: str) -> None:
        """The resident has the same problem and wants to hear about the existing ticket instead of
        filing their own. They count once towards the ticket's "also reported" figure, which the
        department uses to prioritise and the status page shows."""
        if conv.get("followed_ticket") != ticket.id:
            await self.store.count_also_reported(ticket.id)
        # the one follower store: status changes are sent from it (chat_server/status/notify.py)
        await FollowerStore(self.store.redis, self.store.prefix).follow(ticket.id, FollowerKind.CONVERSATION, conv.id,
                                                                    language)
        await self.chats.store.update(conv.id, ticket_id=ticket.id, followed_ticket=ticket.id)
        conv.fields["followed_ticket"] = ticket.id
        await self.bus.publish("ticket_followed", conv.id, ticket_id=ticket.id, channel=conv.channel)

    async def add_details(self, ticket: Ticket, conv: Conversation, data: dict[str, Any], language: str) -> None:
        """Another resident's report of the same problem. Their description becomes a staff-only note:
        as a public note it would read as the city's own update (Open311 status_notes, "Latest update"
        on the status page). A photo the ticket lacks becomes its photo. They follow the ticket."""
        description = _long(data.get("description"), "description")
        photo = _media_url(data.get("media_url") or None)
        if photo:
            await self._attach_photo(ticket, photo)
        lines = [line for line in (redact(description), f"Photo: {photo}" if photo else "") if line]
        if lines:
            await self.add_staff_note(ticket.id, "Also reported by a resident in chat: " + " ".join(lines),
                                      by="resident")
        await self.follow(ticket, conv, language)

    async def add_photo(self, ticket: Ticket, photo: str) -> bool:
        """The filer's photo, sent after filing, for a request that has none (False: it has one already)."""
        url = _media_url(photo)
        if url is None or not await self._attach_photo(ticket, url):
            return False
        await self.add_staff_note(ticket.id, "Photo added by the resident in chat after filing.", by="resident")
        return True

    async def _attach_photo(self, ticket: Ticket, url: str) -> bool:
        """A photo for a request that has none; False (nothing written) when it has one."""
        if ticket.media_url:
            return False
        ticket.media_url = url
        await self.store.update_fields(ticket.id, media_url=url)
        return True

    def expected_at(self, requested_at: float, expected_days: float | None) -> float | None:
        """The catalogue's expected_days are business days (weekends and `hours.holidays` skipped)."""
        if expected_days is None:
            return None
        start = datetime.fromtimestamp(requested_at, self.terms.timezone)
        return add_business_days(start, expected_days, self.terms.holidays).timestamp()

    def status_url(self, ticket_id: str) -> str:
        return self.terms.tickets.status_url.format(public_url=self.terms.public_url,
                                             ticket_id=ticket_id)

    async def tell_followed(self, conv: Conversation, ticket: Ticket, language: str) -> dict[str, str]:
        """Tell the conversation's client that it now follows `ticket` (`ticket_followed`: the widget shows its
        status link like that of a request of its own, an app's webhook hears of it). Returns the tag for the
        message that says so, which shows the link again when the chat is replayed."""
        followed = {"ticket_id": ticket.id, "status_url": self.status_url_for(ticket, language)}
        await self.chats.notify(conv, "ticket_followed", followed)
        return {"event": "ticket_followed", **followed}

    def status_url_for(self, ticket: Ticket, language: str) -> str:
        """The status page in the reader's language: it opens in the ticket's own by default, so a Spanish
        follower of a request filed in English got an English page."""
        url = self.status_url(ticket.id)
        if language == ticket.language:
            return url
        return f"{url}{'&' if '?' in url else '?'}lang={language}"

    async def create_for_conversation(self, conv: Conversation, service_code: str, data: dict[str, Any],
                                      source: str = "chat") -> Ticket:
        """File a ticket for a conversation (bot form, after-hours callback, agent) and tell the resident.

        The transcript is linked both ways (ticket.conversation_id, conversation.ticket_id). The
        conversation moves to `ticketed` unless an agent has it and keeps it (source "agent"/"console",
        or data["keep_assigned"]). A repeat of the same filing (same conversation, service and data)
        returns the first ticket instead of a second one.
        """
        language = str(data.get("language") or conv.language or "en")
        fields = {k: data.get(k) for k in ("lat", "long", "address_string", "address_id", "email", "device_id",
                                           "account_id", "first_name", "last_name", "phone", "zipcode")}
        basis = json.dumps({"code": service_code, "source": source, "data": data}, sort_keys=True, default=str)
        key = data.get("idempotency_key") or f"conv:{conv.id}:{hashlib.sha256(basis.encode()).hexdigest()[:24]}"
        ticket = await self.create_request(
            service_code, description=str(data.get("description") or ""),
            # Only the photo given for this request: the conversation's last photo may be of something else
            # (a parking ticket sent with a question) and a ticket's photo is public.
            attributes=data.get("attributes") or {}, media_url=data.get("media_url") or None,
            conversation_id=conv.id, channel=conv.channel, language=language, source=source,
            idempotency_key=str(key), transcript=data.get("transcript"), **fields,
        )
        if not ticket.replayed:
            tickets = [*filed_in(conv), ticket.id]
            await self.chats.store.update(conv.id, ticket_id=ticket.id, ticket_ids=",".join(tickets))
            keep = conv.state == ASSIGNED and (source in ("agent", "console") or bool(data.get("keep_assigned")))
            if not keep and await self.chats.store.set_state(conv.id, TICKETED, expected=(BOT, QUEUED, ASSIGNED)):
                conv.state = TICKETED
            await self.bus.publish("ticketed", conv.id, ticket_id=ticket.id, service_code=ticket.service_code,
                                       source=source)
        service = self.catalogue.get(ticket.service_code)
        assert service is not None
        created = {"ticket_id": ticket.id, "status_url": self.status_url(ticket.id)}
        notice = service.service_notice(language)
        # The message carries the event too, so a client replaying the chat (a reloaded widget)
        # shows the request's status link again. It goes first: on SMS and e-mail the event is a sentence
        # ("Track request … online"), which came before "Your request has been filed".
        await self.chats.say(
            conv, "bot", text("ticket_created", language, ticket_id=ticket.id, service=service.name(language),
                              notice=f"{notice} " if notice else ""),
            language, custom={"event": "ticket_created", **created})
        await self.chats.notify(conv, "ticket_created", created)
        return ticket

    # read / update -----------------------------------------------------
    async def get(self, ticket_id: str) -> Ticket | None:
        return await self.store.get(str(ticket_id or "").strip().upper())

    async def add_staff_note(self, ticket_id: str, note: str, *, by: str) -> Ticket:
        """A note only staff read (Open311 GET with read_private: `staff_notes`), without a status change and
        without telling anyone. A note for the resident goes through TicketStatusService.change."""
        ticket = await self._require(ticket_id)
        note = _long(note, "note")
        if not note:
            raise TicketValidationError(400, "a note must have 1 to 4000 characters", "note")
        await self.store.record_status(ticket, StatusEntry(time.time(), ticket.status, ticket.sub_status, note, by,
                                                           public=False))
        return ticket

    async def _require(self, ticket_id: str) -> Ticket:
        ticket = await self.get(ticket_id)
        if ticket is None:
            raise TicketValidationError(404, f"service request {str(ticket_id)[:40]!r} not found", "ticket_id")
        return ticket

    # resident-facing text ----------------------------------------------
    def status_text(self, ticket: Ticket, language: str) -> str:
        status = status_words(ticket.status, ticket.sub_status, language)
        out = text("status_answer", language, ticket_id=ticket.id, service=self.service_name(ticket, language),
                   status=status, filed=format_date(ticket.requested_at, language, self.terms.timezone))
        note = ticket.last_public_note if not self.is_private(ticket) else None  # anyone may ask by number
        if note:
            out += text("status_last_note", language, note=sentence(note))  # more follows it
        if ticket.also_reported:
            out += text("status_also_reported", language, others=others_phrase(ticket.also_reported, language))
        if ticket.expected_at and ticket.status == OPEN:
            expected = format_date(ticket.expected_at, language, self.terms.timezone)
            out += text("status_expected", language, date=expected)
        return out + text("status_link", language, status_url=self.status_url_for(ticket, language))

    def is_private(self, ticket: Ticket) -> bool:
        """A request of a private service (a callback about the resident's own affairs): its notes and updates
        are the filer's alone."""
        service = self.catalogue.get(ticket.service_code)
        return service is not None and service.private

    def may_follow(self, ticket: Ticket, conversation_id: str | None) -> bool:
        """Whether a conversation (None: someone on the status page) may follow `ticket`: anyone a public
        request, only the conversation that filed it a private one."""
        filer = bool(conversation_id) and conversation_id == ticket.conversation_id
        return filer or not self.is_private(ticket)

    def service_name(self, ticket: Ticket, language: str) -> str:
        service = self.catalogue.get(ticket.service_code)
        return service.name(language) if service else ticket.service_code

    def problem_text(self, exc: TicketValidationError, service: Service | None, language: str) -> str:
        """Turn an API-style validation error into words the resident can act on."""
        field = exc.field or ""
        if field == "area":
            problem = text("ticket_problem_area", language)
        elif field in ("location", "lat", "long", "address_string", "address_id"):
            problem = text("ticket_problem_location", language)
        elif field == "description":
            problem = text("ticket_problem_description", language)
        elif field.startswith("attribute[") and service is not None:
            attr = service.attribute(field[len("attribute["):-1])
            problem = (text("ticket_problem_attribute", language, question=attr.description(language)) if attr
                       else text("ticket_problem_other", language))
        else:
            problem = text("ticket_problem_other", language)
        return text("ticket_invalid", language, problem=problem)


def others_phrase(count: int, language: str) -> str:
    """How many other residents reported the same problem: "1 other resident" / "3 residentes más"."""
    return text("also_reported_one", language) if count == 1 else text("also_reported_many", language, count=count)


def status_words(status: str, sub_status: str, language: str) -> str:
    """A status as residents read it: "open (work in progress)" / "abierta (en proceso)"."""
    from chat_server.texts import TEXTS

    key = f"ticket_status_{sub_status}"
    return text(key if key in TEXTS else f"ticket_status_{status}", language)
