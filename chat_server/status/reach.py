"""Where a follower's notices land, so that one person who follows a request twice is told once and stops once.

An SMS resident who filed a report (their conversation follows it) and then followed it on the status page with
the same number got every update twice, with two stop links, and stopping one left the other running; the same
with an e-mail conversation and a page follow by that address. A conversation on the SMS or e-mail channel lands
at its phone number or address; an SMS or e-mail follower at its own; any other conversation (web chat, an app)
only in itself.
"""

from __future__ import annotations

from chat_server.conversations.store import ConversationStore
from chat_server.status.followers import FollowerKind, FollowerStore
from chat_server.tickets.service import TicketService
from chat_server.tickets.store import Ticket

Place = tuple[str, str]  # (sms | email | conversation, the number, the address folded, or the conversation id)
_RELAYING = {"sms": FollowerKind.SMS, "email": FollowerKind.EMAIL}


def filer_of(ticket: Ticket) -> tuple[FollowerKind, str] | None:
    """Who filed the ticket and how to reach them: their conversation, else their e-mail (Open311)."""
    if ticket.conversation_id:
        return FollowerKind.CONVERSATION, ticket.conversation_id
    if ticket.contact.get("email"):
        return FollowerKind.EMAIL, ticket.contact["email"]
    return None


class FollowerReach:
    def __init__(self, store: ConversationStore, followers: FollowerStore, tickets: TicketService) -> None:
        self.store = store
        self.followers = followers
        self.tickets = tickets

    async def place(self, kind: FollowerKind, address: str) -> Place:
        if kind != FollowerKind.CONVERSATION:
            return str(kind), address.casefold()
        conv = await self.store.get(address)
        relaying = _RELAYING.get(conv.channel) if conv is not None else None
        if conv is not None and relaying is not None:
            known = await self.store.session_field(conv.session, "address")
            if known:
                return str(relaying), known.casefold()
        return str(kind), address

    async def stop(self, ticket_id: str, kind: FollowerKind, address: str) -> None:
        """No more updates for this follower nor for any other following the ticket that lands in the same place,
        the filer included before they were first told (`FollowerStore.ensure` would add them later). The status
        page's stop link and the chat's "Stop updates" both stop this way."""
        here = await self.place(kind, address)
        others = [(f.kind, f.address) for f in await self.followers.followers(ticket_id)]
        ticket = await self.tickets.get(ticket_id)  # None once retention removed it: its followers still stop
        filer = filer_of(ticket) if ticket is not None else None
        for other_kind, other_address in {(kind, address), *others, *([filer] if filer else [])}:
            if (other_kind, other_address) == (kind, address) or await self.place(other_kind, other_address) == here:
                await self.followers.stop(ticket_id, other_kind, other_address)
