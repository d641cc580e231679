"""The confirmation e-mail a resident who gave an address while filing was promised ("And your e-mail address, for
the confirmation?"): nothing was ever sent to it (probe R). When a request filed in a conversation carries the
resident's e-mail and the conversation is not itself by e-mail, the address is told the request was received and
follows it, so status updates reach it too (with the usual stop link). A request filed by e-mail already gets its
confirmation in the thread; one filed through Open311 by a city app is the app's to confirm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chat_server.events import Event
from chat_server.status.followers import Follower, FollowerKind, FollowerStore
from chat_server.texts import text
from chat_server.tickets.service import TicketService

log = logging.getLogger("chat311.status.confirm")


class FilingConfirmation:
    def __init__(self, tickets: TicketService, followers: FollowerStore, channels: dict[str, Any],
                 stop_url: Callable[[Follower], str]) -> None:
        self.tickets = tickets
        self.followers = followers
        self.channels = channels
        self.stop_url = stop_url

    async def on_ticket_created(self, event: Event) -> None:
        ticket = await self.tickets.get(str(event.data.get("ticket_id") or ""))
        email = self.channels.get("email")
        address = ticket.contact.get("email") if ticket is not None else None
        if ticket is None or not address or not ticket.conversation_id or ticket.channel == "email" or email is None:
            return
        language = ticket.language
        follower = await self.followers.follow(ticket.id, FollowerKind.EMAIL, address, language)
        service = self.tickets.service_name(ticket, language)
        body = text("ticket_confirm_email", language, ticket_id=ticket.id, service=service,
                    status_url=self.tickets.status_url_for(ticket, language))
        stop_url = self.stop_url(follower)
        stop = text("status_notice_stop", language, stop_url=stop_url)
        await email.queue_notice(address, text("ticket_confirm_subject", language, ticket_id=ticket.id),
                                 f"{body}\n\n{stop}", f"created-{ticket.id}", unsubscribe=stop_url)
        log.info("filing confirmed by e-mail", extra={"ticket": ticket.id})
