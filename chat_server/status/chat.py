"""Following a ticket from a conversation: the status answer's "Follow" / "Stop updates" buttons.

After the bot's status answer (status_lookup) the resident is offered to follow the ticket in this
conversation; the buttons' payloads `/follow_ticket{"ticket_id": …}` and `/unfollow_ticket{…}` are
answered here, never by the bot (ConversationService.register_command).
"""

from __future__ import annotations

from typing import Any

from chat_server.conversations.service import ConversationService
from chat_server.conversations.store import Conversation, Message
from chat_server.events import Event, EventBus
from chat_server.status.followers import FollowerKind, FollowerStore
from chat_server.status.reach import FollowerReach
from chat_server.status.stop_words import asks_to_stop_updates
from chat_server.texts import text
from chat_server.tickets.service import TicketService
from chat_server.tickets.store import Ticket


def button(key: str, command: str, ticket_id: str, language: str) -> dict[str, str]:
    return {"title": text(key, language), "payload": f'/{command}{{"ticket_id": "{ticket_id}"}}'}


class FollowCommands:
    def __init__(self, chats: ConversationService, bus: EventBus, tickets: TicketService,
                 followers: FollowerStore, reach: FollowerReach) -> None:
        self.chats = chats
        self.bus = bus
        self.tickets = tickets
        self.followers = followers
        self.reach = reach

    def register(self) -> None:
        self.chats.register_command("follow_ticket", self.follow)
        self.chats.register_command("unfollow_ticket", self.unfollow)
        self.chats.turn_handlers.append(self.stop_all)
        self.bus.subscribe("status_lookup", self.offer)

    async def stop_all(self, conv: Conversation, message: Message) -> bool:
        """A resident who asks for no more updates stops every request this conversation follows; without
        any, the words go to the bot as usual."""
        if not asks_to_stop_updates(message.text):
            return False
        # filed here, followed as a duplicate, or followed with the Follow button
        mine = {t for field in ("ticket_ids", "followed_ticket", "followed_tickets")
                for t in (conv.get(field) or "").split(",") if t}
        followed = [t for t in sorted(mine) if await self._following(t, conv)]
        if not followed:
            return False
        for ticket_id in followed:
            await self.reach.stop(ticket_id, FollowerKind.CONVERSATION, conv.id)
        await self.chats.say_system(conv, "unfollowed", ticket_id=", ".join(followed))
        return True

    async def _following(self, ticket_id: str, conv: Conversation) -> bool:
        return any(f.kind == FollowerKind.CONVERSATION and f.address == conv.id
                   for f in await self.followers.followers(ticket_id))

    async def offer(self, event: Event) -> None:
        conv = await self.chats.store.get(event.conversation_id)
        ticket = await self.tickets.get(str(event.data.get("ticket_id") or "")[:40])
        if conv is None or ticket is None or not self.tickets.may_follow(ticket, conv.id):
            return
        language = str(event.data.get("language") or conv.language)
        if ticket.conversation_id == conv.id:  # the filer hears of changes unless they stopped: not "Follow" again
            await self.followers.ensure(ticket.id, FollowerKind.CONVERSATION, conv.id, ticket.language,
                                        since=ticket.requested_at)
        if await self._following(ticket.id, conv):
            await self.chats.say(conv, "system", text("follow_on", language, ticket_id=ticket.id),
                                             language, quick_replies=[
                                                 button("unfollow_button", "unfollow_ticket", ticket.id, language)])
            return
        await self.chats.say(conv, "system", text("follow_offer", language, ticket_id=ticket.id),
                                         language, quick_replies=[
                                             button("follow_button", "follow_ticket", ticket.id, language)])

    async def _ticket(self, conv: Conversation, args: dict[str, Any]) -> Ticket | None:
        """The ticket a Follow / Stop updates button names, or None after telling the resident it is unknown."""
        ticket = await self.tickets.get(str(args.get("ticket_id") or "")[:40])
        if ticket is None:
            await self.chats.say_system(conv, "status_unknown", ticket_id=str(args.get("ticket_id") or "?")[:40])
        return ticket

    async def follow(self, conv: Conversation, args: dict[str, Any]) -> None:
        ticket = await self._ticket(conv, args)
        if ticket is None:
            return
        if not self.tickets.may_follow(ticket, conv.id):
            # a stranger who typed its number was sent its notes (probe J)
            await self.chats.say_system(conv, "follow_private", ticket_id=ticket.id)
            return
        await self.followers.follow(ticket.id, FollowerKind.CONVERSATION, conv.id, conv.language)
        followed = [t for t in (conv.get("followed_tickets") or "").split(",") if t and t != ticket.id]
        await self.chats.store.update(conv.id, followed_tickets=",".join([*followed, ticket.id]))
        # its status link, and an app's webhook hears of it, as for the duplicate question's "Follow it" (probe R)
        custom = await self.tickets.tell_followed(conv, ticket, conv.language)
        await self.chats.say_system(conv, "followed", ticket_id=ticket.id, extra={"custom": custom, "quick_replies": [
            button("unfollow_button", "unfollow_ticket", ticket.id, conv.language)]})

    async def unfollow(self, conv: Conversation, args: dict[str, Any]) -> None:
        ticket = await self._ticket(conv, args)
        if ticket is None:
            return
        await self.reach.stop(ticket.id, FollowerKind.CONVERSATION, conv.id)
        await self.chats.say_system(conv, "unfollowed", ticket_id=ticket.id)
