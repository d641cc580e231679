"""Open311 GeoReport v2 under /open311/v2/ — JSON and XML, chosen by the path's extension.

Follows http://wiki.open311.org/GeoReport_v2 (and the official schemas): errors are an array
of {code, description} (<errors><error>…), a single request is returned as a one-element list
(<service_requests><request>…), dates are ISO 8601 with the jurisdiction's UTC offset.

Extensions (documented in docs/open311.md):
- GET requests: `page` (1-based) and `page_size` (≤ tickets.max_records); the total and links
  are in the `X-Total-Count` and `Link` headers so the body stays a plain spec array.
- POST requests: `idempotency_key` — a repeated key returns the first request (200, header
  `Idempotent-Replayed: true`) instead of filing a duplicate.
- `lang=es` (or Accept-Language) for service names and descriptions.

Privacy: GET requests show the public description (the filer's description, redacted) and never
contact details or chat text, which anyone could otherwise harvest through sequential ids. A
signed-in staff member (console cookie) or an `api_key` with the `read_private` scope also gets
the private fields (PRIVATE_KEYS).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from chat_server.conversations.emergency_first import scanned
from chat_server.conversations.limits import Limit, RateLimiter
from chat_server.safety import emergency_language, emergency_reply
from chat_server.textchars import xml_safe
from chat_server.tickets.apikeys import ApiKeyStore, Scope
from chat_server.tickets.catalogue import Catalogue, Service, TicketValidationError
from chat_server.tickets.service import TicketService
from chat_server.tickets.store import CLOSED, OPEN, StatusEntry, Ticket, iso

log = logging.getLogger("chat311.open311")

BASE = "/open311/v2"
FORMATS = ("json", "xml")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# A request's fields are short (a description is at most 4,000 characters; photos go by media_url).
MAX_FORM_BYTES = 64 * 1024
# The API's resources, for telling a wrong method (405) from a wrong path (404).
_RESOURCE_RE = re.compile(r"(?:discovery|services|requests)\.\w+|(?:services|requests|tokens)/[^/]+\.\w+")
PLURALS = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}
ATTRIBUTE_RE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
POST_LIMIT = Limit("open311_post", 600, 60.0)  # per API key
CONTACT_KEYS = ("email", "phone", "first_name", "last_name", "device_id")
PRIVATE_KEYS = ("private_description", "private_address", "transcript", *CONTACT_KEYS, "account_id",
                "also_reported", "staff_notes")
StaffCheck = Callable[[web.Request], Awaitable[bool]]



def _request_digest(params: MultiDict[str]) -> str:
    """What a POST asked for, whatever the order of its parameters: a replay under the same idempotency_key
    must be the same request. The key and language do not change what is filed."""
    asked = sorted((name, value) for name, value in params.items() if name not in ("api_key", "lang"))
    return hashlib.sha256(json.dumps(asked).encode()).hexdigest()[:32]

class Open311Error(Exception):
    def __init__(self, status: int, description: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = dict(headers or {})


# --------------------------------------------------------------------------- rendering
def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    el = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, sub in value.items():
            _xml_value(el, key, sub)
    elif isinstance(value, list):
        child = PLURALS.get(tag, "item")
        for item in value:
            _xml_value(el, child, item)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif value is not None:
        el.text = xml_safe(str(value))


def to_xml(root: str, item: str | None, data: Any) -> bytes:
    el = ET.Element(root)
    if item is None:
        for key, value in data.items():
            _xml_value(el, key, value)
    else:
        for entry in data:
            _xml_value(el, item, entry)
    body: bytes = ET.tostring(el, encoding="utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def render(fmt: str, data: Any, root: str, item: str | None, status: int = 200,
           headers: dict[str, str] | None = None) -> web.Response:
    if fmt == "xml":
        return web.Response(body=to_xml(root, item, data), status=status, content_type="text/xml",
                            charset="utf-8", headers=headers)
    return web.json_response(data, status=status, headers=headers)


def error_response(fmt: str, status: int, description: str) -> web.Response:
    return render(fmt if fmt in FORMATS else "json", [{"code": status, "description": description}],
                  "errors", "error", status)


def public_request(t: Ticket, catalogue: Catalogue, tz: ZoneInfo, language: str = "en") -> dict[str, Any]:
    """A ticket as anyone may see it (GeoReport v2 fields; never contact details or chat text).
    The Open311 GETs and the resident's status page both show exactly this. In `language`: the service's name and
    notice (`lang=es` gave Spanish service names in services.json only, probe AJ); English keeps the notice the
    request was filed with."""
    service = catalogue.get(t.service_code)
    notice = service.service_notice(language) if service is not None and language != "en" else None
    public = {
        "service_request_id": t.id, "status": t.status, "status_notes": t.status_notes,
        "service_name": service.name(language) if service else None, "service_code": t.service_code,
        "description": t.public_text or None, "agency_responsible": t.agency_responsible,
        "service_notice": notice or t.service_notice, "requested_datetime": iso(t.requested_at, tz),
        "updated_datetime": iso(t.updated_at, tz), "expected_datetime": iso(t.expected_at, tz),
        "address": t.public_place, "address_id": t.address_id, "zipcode": t.zipcode, "lat": t.lat, "long": t.long,
        "media_url": t.media_url,
    }
    if service is not None and service.private:
        # A callback about someone's own bill: request numbers run in order, so anyone could read "Called … back
        # about the double water charge; refund of $84.20" (probe J). Only its status is public.
        public.update(dict.fromkeys(PRIVATE_FIELDS))
    return public


# What a private service's request keeps to itself in public output.
PRIVATE_FIELDS = ("status_notes", "description", "address", "address_id", "zipcode", "lat", "long", "media_url")


def public_history(history: list[StatusEntry]) -> list[StatusEntry]:
    """The history anyone may see: a staff-only note that changed nothing public (an internal note,
    another resident's added details) is left out rather than shown as an empty repeat of the status."""
    shown: list[StatusEntry] = []
    for entry in history:
        if not entry.public and shown and (entry.status, entry.sub_status) == (shown[-1].status, shown[-1].sub_status):
            continue
        shown.append(entry)
    return shown


# --------------------------------------------------------------------------- the API
class Open311API:
    def __init__(self, service: TicketService, apikeys: ApiKeyStore, is_staff: StaffCheck,
                 limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.public_url = service.terms.public_url
        self.is_staff = is_staff
        self.tickets = service
        self.catalogue = service.catalogue
        self.apikeys = apikeys
        self.config = service.terms.tickets
        self.tz = service.terms.timezone

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get(BASE + "/discovery.{fmt}", self._wrap(self.discovery))
        r.add_get(BASE + "/services.{fmt}", self._wrap(self.services))
        r.add_get(BASE + "/services/{code}.{fmt}", self._wrap(self.service_definition))
        r.add_get(BASE + "/requests.{fmt}", self._wrap(self.get_requests))
        r.add_post(BASE + "/requests.{fmt}", self._wrap(self.post_request))
        r.add_get(BASE + "/requests/{id}.{fmt}", self._wrap(self.get_request))
        r.add_get(BASE + "/tokens/{token}.{fmt}", self._wrap(self.get_token))
        r.add_route("*", BASE + "/{tail:.*}", self._wrap(self.not_found))

    def _wrap(self, handler: Callable[[web.Request, str], Awaitable[web.Response]]
              ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def wrapped(request: web.Request) -> web.Response:
            fmt = request.match_info.get("fmt", "")
            if not fmt:
                tail = request.match_info.get("tail", "")
                fmt = tail.rsplit(".", 1)[-1] if "." in tail else "json"
            try:
                if fmt not in FORMATS:
                    raise Open311Error(400, f"unsupported format {fmt[:10]!r}: use .json or .xml")
                params = await self._params(request)
                jurisdiction = params.get("jurisdiction_id")
                if jurisdiction and jurisdiction != self.config.jurisdiction_id:
                    raise Open311Error(404, f"jurisdiction_id {jurisdiction[:64]!r} not found")
                request["open311_params"] = params
                response = await handler(request, fmt)
            except Open311Error as exc:
                response = error_response(fmt, exc.status, exc.description)
                response.headers.update(exc.headers)
                return response
            except TicketValidationError as exc:
                return error_response(fmt, exc.code, exc.description)
            response.headers.setdefault("Access-Control-Allow-Origin", "*")
            return response
        return wrapped

    async def _params(self, request: web.Request) -> MultiDict[str]:
        params: MultiDict[str] = MultiDict(request.query)
        if request.method == "POST" and request.can_read_body:
            # GeoReport v2 POSTs are form-encoded; a JSON body read as a form would lose every field and be
            # answered "api_key missing", which sends integrators looking at the wrong thing.
            if request.content_type not in FORM_TYPES:
                raise Open311Error(415, f"the body must be {FORM_TYPES[0]} (GeoReport v2), not "
                                        f"{request.content_type[:60] or 'untyped'}")
            if (request.content_length or 0) > MAX_FORM_BYTES:
                raise Open311Error(413, f"request body of {request.content_length} bytes; at most {MAX_FORM_BYTES} "
                                        "(photos go by media_url)")
            try:
                body: MultiDictProxy[Any] = await request.post()
            except (ValueError, web.HTTPException) as exc:
                raise Open311Error(400, f"request body is not valid form data: {exc}") from None
            for key, value in body.items():
                if not isinstance(value, str):
                    raise Open311Error(400, f"{key}: file uploads are not accepted; use media_url")
            body_keys = set(body.keys())
            params = MultiDict([(k, v) for k, v in params.items() if k not in body_keys])
            params.extend(body)
        return params

    def _language(self, request: web.Request) -> str:
        lang = request["open311_params"].get("lang") or request.headers.get("Accept-Language", "")[:2]
        return "es" if lang.lower().startswith("es") else "en"

    # services ------------------------------------------------------------
    def _service_json(self, s: Service, language: str) -> dict[str, Any]:
        return {"service_code": s.service_code, "service_name": s.name(language),
                "description": s.description(language), "metadata": s.metadata, "type": s.type,
                "keywords": ", ".join(s.keywords), "group": s.group}

    async def services(self, request: web.Request, fmt: str) -> web.Response:
        language = self._language(request)
        return render(fmt, [self._service_json(s, language) for s in self.catalogue], "services", "service")

    async def service_definition(self, request: web.Request, fmt: str) -> web.Response:
        code = request.match_info["code"]
        service = self.catalogue.get(code)
        if service is None:
            raise Open311Error(404, f"service_code {code[:64]!r} not found")
        language = self._language(request)
        attributes = [{
            "variable": a.variable, "code": a.code, "datatype": a.datatype, "required": a.required,
            "datatype_description": a.datatype_description(language), "order": a.order,
            "description": a.description(language),
            **({"values": [{"key": v.key, "name": v.name(language)} for v in a.values]} if a.values else {}),
        } for a in service.attributes]
        return render(fmt, {"service_code": service.service_code, "attributes": attributes},
                      "service_definition", None)

    async def discovery(self, request: web.Request, fmt: str) -> web.Response:
        base = self.public_url + BASE
        data = {
            "changeset": "2025-01-01T00:00:00+00:00",
            "contact": "CharMeck 311: call 311 (704-336-7600)",
            "key_service": "API keys are issued by the city's 311 administrators (chat311 apikeys add).",
            "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                           "changeset": "2025-01-01T00:00:00+00:00", "type": "production",
                           "formats": ["application/json", "text/xml"]}],
        }
        return render(fmt, data, "discovery", None)

    # requests ------------------------------------------------------------
    def request_json(self, t: Ticket, private: bool = False, language: str = "en") -> dict[str, Any]:
        public = public_request(t, self.catalogue, self.tz, language)
        if not private:
            return public
        # the answers to the service's questions (a plate, which cart) are what a back office acts on (probe AJ)
        return {**public, "private_description": t.description or None, "private_address": t.address,
                "attributes": dict(t.attributes), "transcript": t.transcript,
                **{k: t.contact.get(k) for k in CONTACT_KEYS}, "account_id": t.account_id,
                "also_reported": t.also_reported,
                "staff_notes": "\n".join(f"{iso(e.ts, self.tz)} {e.by}: {e.note}" for e in t.history
                                         if e.note and not e.public) or None}

    async def _private_reader(self, request: web.Request) -> bool:
        """May this GET see contact details and transcripts? A given api_key must be valid."""
        plain = request["open311_params"].get("api_key")
        if plain:
            key_id = await self.apikeys.check(plain)
            if key_id is None:
                raise Open311Error(403, "api_key invalid")
            if Scope.READ_PRIVATE in await self.apikeys.scopes(key_id):
                return True
        return await self.is_staff(request)

    def _render_requests(self, fmt: str, tickets: list[Ticket], private: bool, language: str,
                         headers: dict[str, str] | None = None) -> web.Response:
        headers = dict(headers or {})
        headers["Vary"] = "Cookie, Accept-Language"
        if private:
            headers["Cache-Control"] = "private, no-store"
        return render(fmt, [self.request_json(t, private, language) for t in tickets], "service_requests", "request",
                      200, headers)

    async def post_request(self, request: web.Request, fmt: str) -> web.Response:
        """A request whose words describe an emergency gets "call 911" first: in its `service_notice`, or before
        the description of its error. An app that filed "my house is on fire, people trapped" got the pothole
        notice (probe X). Only this response carries it; the ticket's public notice is the service's."""
        params: MultiDict[str] = request["open311_params"]
        said = " ".join(v for k, v in params.items()
                        if k in ("description", "address_string") or k.startswith("attribute["))
        found = emergency_language(scanned(said))
        urgent = emergency_reply(found if found == "es" else self._language(request), said) if found else None
        try:
            return await self._post_request(request, fmt, params, urgent)
        except Open311Error as exc:
            if urgent is None:
                raise
            raise Open311Error(exc.status, f"{urgent} {exc.description}") from exc
        except TicketValidationError as exc:
            if urgent is None:
                raise
            raise TicketValidationError(exc.code, f"{urgent} {exc.description}", exc.field) from exc

    async def _post_request(self, request: web.Request, fmt: str, params: MultiDict[str],
                            urgent: str | None) -> web.Response:
        key_id = await self.apikeys.check(params.get("api_key"))
        if key_id is None:
            reason = "missing" if not params.get("api_key") else "invalid"
            raise Open311Error(403, f"api_key {reason}: a valid api_key is required to create service requests")
        if not await self.limiter.hit(POST_LIMIT, key_id):
            raise Open311Error(429, "too many requests for this api_key; slow down")
        attributes: dict[str, Any] = {}
        for name, value in params.items():
            if not name.startswith("attribute["):
                continue
            match = ATTRIBUTE_RE.match(name)
            if match is None:
                raise Open311Error(400, f"malformed attribute parameter {name[:80]!r}: use attribute[CODE]")
            code, multi = match.group(1), bool(match.group(2))
            if multi:
                attributes.setdefault(code, [])
                if not isinstance(attributes[code], list):
                    attributes[code] = [attributes[code]]
                attributes[code].append(value)
            elif code in attributes:
                previous = attributes[code]
                attributes[code] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                attributes[code] = value
        if not params.get("service_code"):
            raise Open311Error(400, "service_code is required")
        ticket = await self.tickets.create_request(
            params.get("service_code", ""), description=params.get("description", ""),
            lat=params.get("lat") or None, long=params.get("long") or None,
            address_string=params.get("address_string"), address_id=params.get("address_id"),
            attributes=attributes, email=params.get("email"), device_id=params.get("device_id"),
            account_id=params.get("account_id"), first_name=params.get("first_name"),
            last_name=params.get("last_name"), phone=params.get("phone"), media_url=params.get("media_url"),
            channel="open311", source=f"api:{key_id}", language=self._language(request),
            idempotency_key=f"{key_id}:{params['idempotency_key']}" if params.get("idempotency_key") else None,
            zipcode=params.get("zipcode"), request_digest=_request_digest(params),
        )
        # in the request's language (a Spanish 911 notice ran on into the English service notice, probe Z)
        service = self.catalogue.get(ticket.service_code)
        own = service.service_notice(self._language(request)) if service else ticket.service_notice
        notice = " ".join(n for n in (urgent, own) if n) or None
        body = [{"service_request_id": ticket.id, "token": ticket.token, "service_notice": notice,
                 "account_id": ticket.account_id}]
        headers = {"Idempotent-Replayed": "true"} if ticket.replayed else None
        return render(fmt, body, "service_requests", "request", 200, headers)

    async def get_request(self, request: web.Request, fmt: str) -> web.Response:
        ticket_id = request.match_info["id"]
        ticket = await self.tickets.get(ticket_id)
        if ticket is None:
            raise Open311Error(404, f"service_request_id {ticket_id[:40]!r} not found")
        return self._render_requests(fmt, [ticket], await self._private_reader(request), self._language(request))

    async def get_token(self, request: web.Request, fmt: str) -> web.Response:
        token = request.match_info["token"]
        ticket_id = await self.tickets.store.id_for_token(token)
        if ticket_id is None:
            raise Open311Error(404, "token not found")
        return render(fmt, [{"service_request_id": ticket_id, "token": token}], "service_requests", "request")

    def _date(self, value: str, name: str) -> datetime:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+", 1)
                                            if "T" in value else value.strip())
        except ValueError:
            raise Open311Error(400, f"{name} must be an ISO 8601 date-time, e.g. 2025-05-01T00:00:00-04:00") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.tz)

    def _int(self, params: MultiDict[str], name: str, default: int, low: int, high: int) -> int:
        raw = params.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise Open311Error(400, f"{name} must be a whole number") from None
        if not low <= value <= high:
            raise Open311Error(400, f"{name} must be between {low} and {high}")
        return value

    async def get_requests(self, request: web.Request, fmt: str) -> web.Response:
        params: MultiDict[str] = request["open311_params"]
        private = await self._private_reader(request)
        limit = self.config.max_records
        page = self._int(params, "page", 1, 1, 1_000_000)
        page_size = self._int(params, "page_size", limit, 1, limit)
        ids_param = params.get("service_request_id", "").strip()
        if ids_param:  # overrides every other filter (spec)
            ids = list(dict.fromkeys(i.strip() for i in ids_param.split(",") if i.strip()))
            if len(ids) > limit:
                raise Open311Error(400, f"at most {limit} service_request_id values per request")
            found = {t.id: t for t in await self.tickets.store.get_many([i for i in ids if i.startswith("311-")])}
            all_ids = [i for i in ids if i in found]
        else:
            max_days = self.config.max_range_days
            start_raw, end_raw = params.get("start_date"), params.get("end_date")
            end = self._date(end_raw, "end_date") if end_raw else None
            start = self._date(start_raw, "start_date") if start_raw else None
            if start and not end:  # a start still to come has nothing after it: not "after end_date" (probe AJ)
                end = max(start, min(start + timedelta(days=max_days), datetime.now(self.tz)))
            if end is None:
                end = datetime.now(self.tz)
            if start is None:
                start = end - timedelta(days=max_days)
            if start > end:
                raise Open311Error(400, "start_date must not be after end_date")
            if end - start > timedelta(days=max_days):
                raise Open311Error(400, f"start_date and end_date may not be more than {max_days} days apart")
            statuses = [s.strip() for s in params.get("status", "").split(",") if s.strip()]
            bad = [s for s in statuses if s not in (OPEN, CLOSED)]
            if bad:
                raise Open311Error(400, f"status must be open or closed (comma separated), got {bad[0][:20]!r}")
            codes = [c.strip() for c in params.get("service_code", "").split(",") if c.strip()]
            all_ids = await self.tickets.store.query(start.timestamp(), end.timestamp(), codes or None,
                                                     statuses or None)
            found = {}
        total = len(all_ids)
        page_ids = all_ids[(page - 1) * page_size: page * page_size]
        if not found:
            found = {t.id: t for t in await self.tickets.store.get_many(page_ids)}
        tickets = [found[i] for i in page_ids if i in found]
        headers = {"X-Total-Count": str(total), "X-Page": str(page), "X-Page-Size": str(page_size)}
        links = []
        query = [(k, v) for k, v in params.items() if k not in ("page", "api_key")]
        if page * page_size < total:
            links.append(f'<{request.path}?{urlencode([*query, ("page", str(page + 1))])}>; rel="next"')
        if page > 1:  # past the end, the last page that has any (page 998 of an empty 999 was "prev", probe AJ)
            previous = min(page - 1, max(1, -(-total // page_size)))
            links.append(f'<{request.path}?{urlencode([*query, ("page", str(previous))])}>; rel="prev"')
        if links:
            headers["Link"] = ", ".join(links)
        return self._render_requests(fmt, tickets, private, self._language(request), headers)

    async def not_found(self, request: web.Request, fmt: str) -> web.Response:
        tail = request.match_info.get("tail", "")
        if _RESOURCE_RE.fullmatch(tail):  # a resource that exists, asked with a method it does not take
            allowed = "GET, POST" if tail.startswith("requests.") else "GET"
            # RFC 9110 §15.5.6: a 405 names the methods the resource takes (probe AJ)
            raise Open311Error(405, f"{request.method[:10]} is not allowed on {tail[:60]}; use {allowed}",
                               {"Allow": allowed})
        raise Open311Error(404, f"no such Open311 resource: {request.method} {request.path[:120]}")
