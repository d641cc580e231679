"""The resident's status page and its follow / stop links (HTTP handlers; HTML in page_html.py).

GET  /status/{id}[?lang=es][&f=<stop token>]   the page (404 page in both languages for an unknown id)
POST /status/{id}/follow   contact=<mobile or e-mail>   → a confirmation link by SMS / e-mail
GET|POST /status/follow/{token}     confirm (GET shows a button, POST follows: link previewers
                                    and mail scanners only GET)
GET|POST /status/unfollow/{token}   stop updates (same shape)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from aiohttp import web

from chat_server.conversations.limits import Limit, RateLimiter
from chat_server.sanitize import client_ip
from chat_server.status.followers import FollowerKind, FollowerStore
from chat_server.status.page_html import (
    LANGUAGES,
    StatusView,
    TimelineItem,
    follow_variant,
    message_page,
    not_found_page,
    status_page,
)
from chat_server.status.reach import FollowerReach
from chat_server.status.settings import StatusConfig
from chat_server.texts import text
from chat_server.tickets.open311 import public_history, public_request
from chat_server.tickets.service import EMAIL_RE, TicketService, status_words
from chat_server.tickets.store import Ticket

FOLLOW_LIMIT = Limit("status_follow", 10, 3600.0)  # follow requests per IP and hour
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
STATIC = Path(__file__).resolve().parent.parent / "static" / "status"


def parse_contact(raw: str) -> tuple[FollowerKind, str] | None:
    """A US mobile number (any usual spelling, or E.164 with +1) or an e-mail address: the city's text line
    reaches US numbers only, and "+44 20 7946 0958" was told texts were off rather than to give a US number."""
    value = raw.strip()
    if "@" in value:
        return (FollowerKind.EMAIL, value) if len(value) <= 254 and EMAIL_RE.match(value) else None
    digits = re.sub(r"[\s().\-]", "", value)
    if re.fullmatch(r"\d{10}", digits):
        digits = "+1" + digits
    elif re.fullmatch(r"1\d{10}", digits):
        digits = "+" + digits
    return (FollowerKind.SMS, digits) if E164.match(digits) and digits.startswith("+1") else None


def html_response(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


class StatusPage:
    def __init__(self, tickets: TicketService, followers: FollowerStore, reach: FollowerReach,
                 channels: dict[str, Any], limiter: RateLimiter, config: StatusConfig, public_url: str, tz: ZoneInfo,
                 proxy_hops: int) -> None:
        self.tickets = tickets
        self.followers = followers
        self.reach = reach
        self.channels = channels
        self.follow_by = frozenset(k for k in ("sms", "email") if k in channels)  # what the follow form may offer
        self.limiter = limiter
        self.config = config
        self.public_url = public_url.rstrip("/")
        self.origin = urlparse(self.public_url).netloc
        self.tz = tz
        self.proxy_hops = proxy_hops

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/status/{ticket_id}", self.show)
        r.add_post("/status/{ticket_id}/follow", self.follow)
        r.add_route("*", "/status/follow/{token}", self.confirm)
        r.add_route("*", "/status/unfollow/{token}", self.unfollow)
        r.add_static("/status-assets/", STATIC, show_index=False, append_version=False)

    # the page ----------------------------------------------------------------------------------
    def view(self, ticket: Ticket, language: str) -> StatusView:
        public = public_request(ticket, self.tickets.catalogue, self.tz)
        media = public["media_url"]
        # Our own photo by its path: the page may be reached by another host name than the public URL
        # (a proxy, localhost vs 127.0.0.1), and its CSP allows images from the page's own origin.
        url = urlparse(media) if media else None
        own = url is not None and url.netloc == self.origin
        photos = [(url.path if own else media, own)] if url is not None else []
        private = self.tickets.is_private(ticket)
        timeline = [TimelineItem(entry.ts, status_words(entry.status, entry.sub_status, language),
                                 entry.note if entry.public and not private else None)
                    for entry in public_history(ticket.history)]
        # A request filed with a shared location has no address: its coordinates (public in Open311 too)
        where = public["address"] or (f"{public['lat']:.5f}, {public['long']:.5f}"
                                      if public.get("lat") is not None and public.get("long") is not None else None)
        return StatusView(ticket.id, self.tickets.service_name(ticket, language), public["status"],
                          status_words(ticket.status, ticket.sub_status, language), ticket.requested_at,
                          ticket.expected_at, public["status_notes"], public["description"], where,
                          photos, timeline, ticket.also_reported)

    @staticmethod
    def _language(request: web.Request, fallback: str) -> str:
        asked = request.query.get("lang", "")
        return asked if asked in LANGUAGES else (fallback if fallback in LANGUAGES else "en")

    async def _ticket(self, request: web.Request) -> Ticket | None:
        return await self.tickets.get(request.match_info["ticket_id"][:40])

    async def show(self, request: web.Request) -> web.Response:
        ticket = await self._ticket(request)
        if ticket is None:
            return html_response(not_found_page(request.match_info["ticket_id"][:40]), 404)
        language = self._language(request, ticket.language)
        stop = request.query.get("f", "")
        owned = await self.followers.by_token(stop) if stop else None
        token = stop if owned and owned[0] == ticket.id else None
        private = not self.tickets.may_follow(ticket, None)
        notice = text("follow_private", language, ticket_id=ticket.id) if private else None
        return html_response(self._page(self.view(ticket, language), language, private=private, stop_token=token,
                                         message=notice))

    def _page(self, view: StatusView, language: str, private: bool = False, **parts: Any) -> str:
        """A private request's page offers no follow form: its updates go to the resident who made it, and the form
        was offered, then refused (probe AJ)."""
        return status_page(view, language, self.tz, follow_by=frozenset() if private else self.follow_by, **parts)

    async def follow(self, request: web.Request) -> web.Response:
        ticket = await self._ticket(request)
        if ticket is None:
            return html_response(not_found_page(request.match_info["ticket_id"][:40]), 404)
        form = await request.post()
        language = str(form.get("lang", "")) if form.get("lang") in LANGUAGES else ticket.language
        raw = str(form.get("contact", ""))[:300]
        contact = parse_contact(raw)
        view = self.view(ticket, language)
        if not self.tickets.may_follow(ticket, None):  # a private request's updates go to the resident who made it
            refused = text("follow_private", language, ticket_id=ticket.id)
            return html_response(self._page(view, language, private=True, error=refused), 403)
        if contact is None:
            invalid = text("page_contact_invalid" + follow_variant(self.follow_by), language)
            return html_response(self._page(view, language, error=invalid, contact=raw), 400)
        kind, address = contact
        channel = self.channels.get(str(kind))
        if channel is None:
            problem = text("page_channel_off", language, channel=text(f"page_channel_{kind}", language))
            return html_response(self._page(view, language, error=problem, contact=raw), 400)
        if not await self.limiter.hit(FOLLOW_LIMIT, client_ip({"aiohttp.request": request}, self.proxy_hops)):
            return html_response(self._page(view, language, error=text("page_too_many", language),
                                             contact=raw), 429)
        token = await self.followers.request(ticket.id, kind, address, language, self.config.follow_confirm_ttl_s)
        url = f"{self.public_url}/status/follow/{token}"
        body = text("follow_confirm", language, ticket_id=ticket.id, confirm_url=url)
        if kind == FollowerKind.SMS:
            await channel.queue_text(f"ticket:{ticket.id}", "follow-confirm", address, body)
        else:
            await channel.queue_notice(address, text("follow_confirm_subject", language, ticket_id=ticket.id), body,
                                       f"follow-{ticket.id}")
        done = text("page_check_inbox", language, address=address)
        return html_response(self._page(view, language, message=done))

    # links -------------------------------------------------------------------------------------
    async def confirm(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        pending = await self.followers.pending(token)
        language = self._language(request, pending["language"] if pending else "en")
        if request.method == "POST":
            form = await request.post()
            language = str(form.get("lang")) if form.get("lang") in LANGUAGES else language
            done = await self.followers.confirm(token)
            if done is not None:
                ticket_id, _ = done
                return html_response(message_page(language, text("page_confirm_heading", language),
                                                  text("page_confirmed", language, ticket_id=ticket_id), ticket_id))
        elif pending is not None:
            return html_response(message_page(
                language, text("page_confirm_heading", language),
                text("page_confirm_text", language, ticket_id=pending["ticket_id"], address=pending["address"]),
                pending["ticket_id"], f"/status/follow/{token}", text("page_confirm_submit", language)))
        return html_response(message_page(language, text("page_confirm_heading", language),
                                          text("page_link_expired", language)), 404)

    async def unfollow(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        found = await self.followers.by_token(token)
        language = self._language(request, found[1].language if found else "en")
        if request.method == "POST":
            form = await request.post()
            language = str(form.get("lang")) if form.get("lang") in LANGUAGES else language
        if found is None:
            return html_response(message_page(language, text("page_stop_heading", language),
                                              text("page_link_expired", language)), 404)
        ticket_id, follower = found
        if request.method == "POST":
            await self.reach.stop(ticket_id, follower.kind, follower.address)  # the same number's chat stops too
            return html_response(message_page(language, text("page_stop_heading", language),
                                              text("page_stopped", language, ticket_id=ticket_id), ticket_id))
        return html_response(message_page(language, text("page_stop_heading", language),
                                          text("page_stop_text", language, ticket_id=ticket_id), ticket_id,
                                          f"/status/unfollow/{token}", text("unfollow_button", language)))
