"""A photo sent after the report was filed: offered to the request, added only when the resident says so.

"can I add a photo?" and the photo itself got "Sorry, I didn't understand" once the report was filed (probe N).
Now a photo sent in a conversation that filed a request lacking one, outside a report form, is answered here
(a `ConversationService` turn handler) instead of by the bot: "Add this photo to request 311-…? It will show
on the request's public status page." with two buttons. Only "Add it" attaches it (`TicketService.add_photo`):
a photo about something else must not become a request's public photo. Asking whether a photo can be added is
answered here too: send it, and you will be asked.
"""

from __future__ import annotations

import re
from typing import Any

from chat_server.conversations.service import ConversationService
from chat_server.conversations.store import Conversation, Message
from chat_server.texts import text
from chat_server.tickets.service import TicketService, filed_in
from chat_server.tickets.store import OPEN

ADD, KEEP = "add_photo", "keep_photo"


# "can I add a photo?", "how do I send you a picture", "¿puedo mandar una foto?"
_ASKS_TO_ADD_A_PHOTO = re.compile(
    r"\b(?:add|send|attach|upload|include|share|mandar|mando|enviar|env[ií]o|adjuntar|subir|agregar|a[nñ]adir|poner)"
    r"\b.{0,25}\b(?:photos?|pictures?|pics?|images?|fotos?|fotograf[ií]as?|im[aá]gen(?:es)?)\b", re.IGNORECASE)
ASK_MAX_WORDS = 15


def asks_to_add_a_photo(text: str) -> bool:
    return len(text.split()) <= ASK_MAX_WORDS and bool(_ASKS_TO_ADD_A_PHOTO.search(text))


def _photo_url(message: Message) -> str | None:
    attachment = message.extra.get("attachment")
    if isinstance(attachment, dict) and attachment.get("type") == "image" and attachment.get("url"):
        return str(attachment["url"])
    return None


class LatePhoto:
    def __init__(self, chats: ConversationService, tickets: TicketService) -> None:
        self.chats = chats
        self.tickets = tickets

    def register(self) -> None:
        self.chats.turn_handlers.append(self.offer)
        self.chats.register_command(ADD, self.add)
        self.chats.register_command(KEEP, self.keep)

    async def offer(self, conv: Conversation, message: Message) -> bool:
        photo = _photo_url(message)
        filed = conv.get("ticket_id")
        if (photo is None and not asks_to_add_a_photo(message.text)) or not filed or conv.get("active_loop") \
                or filed not in filed_in(conv):
            return False
        ticket = await self.tickets.get(filed)
        if ticket is None or ticket.media_url or ticket.status != OPEN:
            return False
        if photo is None:
            await self.chats.say_system(conv, "late_photo_invite", ticket_id=ticket.id)
            return True
        # The photo waits on the conversation, not in the button: a message id in a payload (13 digits and
        # "-0") can pass for a card number, and the card mask hid it.
        await self.chats.store.update(conv.id, offered_photo=photo)
        args = f'{{"ticket_id": "{ticket.id}"}}'
        await self.chats.say_system(conv, "late_photo_offer", ticket_id=ticket.id, extra={"quick_replies": [
            {"title": text("late_photo_add", conv.language), "payload": f"/{ADD}{args}"},
            {"title": text("late_photo_keep", conv.language), "payload": f"/{KEEP}"}]})
        return True

    async def add(self, conv: Conversation, args: dict[str, Any]) -> None:
        ticket_id = str(args.get("ticket_id") or "")
        # only a request this conversation filed, and the photo it was offered (a photo this conversation sent)
        photo = conv.get("offered_photo") or None
        await self.chats.store.update(conv.id, offered_photo="")
        ticket = await self.tickets.get(ticket_id) if ticket_id in filed_in(conv) else None
        if ticket is None or photo is None or not await self.tickets.add_photo(ticket, photo):
            await self.chats.say_system(conv, "late_photo_not_added")
            return
        await self.chats.say_system(conv, "late_photo_added", ticket_id=ticket.id)

    async def keep(self, conv: Conversation, args: dict[str, Any]) -> None:
        await self.chats.store.update(conv.id, offered_photo="")
        await self.chats.say_system(conv, "late_photo_kept")
