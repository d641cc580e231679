"""Where residents meet an incident: the opening `incident` event, the notice before the bot's
answer, and a word about longer waits in the queue.

Web residents see the notice as a banner, so in chat they get it only when they ask about it.
SMS, API and e-mail residents have no banner: a conversation's opening message while an incident is
live gets the notice whatever it says; later messages only when they ask about it (a pothole report's
address got "Library closed today" by text, mid-form; probe Y). Either way a conversation gets a given
notice once. A notice given because the message asked about the incident is its answer: the bot's "Sorry, I
didn't understand" is not sent after it.

Waits: a resident queued while a notice is live, and everyone already waiting when one goes live (the
surge comes first, the notice after it; probe Y), is told once that waits are longer, naming the
incident only if it is the one this conversation was given ("Power outage…" reached a resident asking
about water pressure).
"""

from __future__ import annotations

from typing import Protocol

from chat_server.agents.routing_store import QueueEntry
from chat_server.conversations.service import ConversationService, Incoming
from chat_server.conversations.store import Conversation
from chat_server.events import Event
from chat_server.incidents.model import Incident
from chat_server.incidents.service import Emitter, IncidentService, incident_payload
from chat_server.texts import text

TOLD = "incidents_told"
WAITS_TOLD = "incident_waits_told"
OPENED = "incident_opening_seen"  # a conversation's first bot turn has passed this hook


class Waiting(Protocol):
    async def waiting(self) -> list[QueueEntry]: ...


class IncidentNotices:
    def __init__(self, service: IncidentService, conversations: ConversationService, emitter: Emitter,
                 queue: Waiting) -> None:
        self.service = service
        self.conversations = conversations
        self.emitter = emitter
        self.queue = queue

    async def on_session(self, sid: str, language: str) -> None:
        payload = incident_payload(self.service.banner(), language)
        await self.emitter.emit("incident", payload, to=sid, namespace="/")

    async def before_bot_turn(self, conv: Conversation, incoming: Incoming) -> None:
        matched = self.service.matching(incoming.text)
        opening = conv.channel != "web" and not conv.get(OPENED)
        if opening:
            await self.conversations.store.update(conv.id, **{OPENED: "1"})
            conv.fields[OPENED] = "1"
        incident = matched or (self.service.banner() if opening else None)
        if incident is None:
            return
        told = _told(conv)
        if incident.id in told:
            return
        told.append(incident.id)
        await self.conversations.store.update(conv.id, **{TOLD: ",".join(told)})
        conv.fields[TOLD] = ",".join(told)
        await self.conversations.say(conv, "system", incident.notice_text(conv.language), conv.language,
                                     custom={"event": "incident", "incident_id": incident.id})
        if matched is not None:  # the figures are about residents who asked about it: an SMS or app resident's
            await self.service.noticed(incident, conv.id)  # unrelated first message counted as "contained"
            incoming.answered = True
        await self.conversations.bus.publish("incident_noticed", conv.id, incident_id=incident.id,
                                             title=incident.title["en"], matched=matched is not None,
                                             channel=conv.channel)

    async def on_escalation(self, event: Event) -> None:
        await self.service.escalated(event.conversation_id)

    async def on_queued(self, event: Event) -> None:
        if self.service.banner() is None:
            return
        entry = next((e for e in await self.queue.waiting() if e.conversation_id == event.conversation_id), None)
        if entry is not None and not entry.offered_to and entry.eta > 0:
            await self._tell_waits(event.conversation_id)

    async def on_live(self, incident: Incident) -> None:
        """Everyone already waiting for an agent hears of longer waits, once per incident across processes: not
        who was just told "less than a minute" (the two lines contradicted each other, probe AF) or is being
        offered to an agent this moment."""
        if not await self.service.store.claim(incident.id, "queue_told"):
            return
        for entry in await self.queue.waiting():
            if not entry.offered_to and entry.eta > 0:
                await self._tell_waits(entry.conversation_id)

    async def _tell_waits(self, conversation_id: str) -> None:
        conv = await self.conversations.store.get(conversation_id)
        if conv is None or conv.get(WAITS_TOLD):
            return
        await self.conversations.store.update(conv.id, **{WAITS_TOLD: "1"})
        lang = conv.language if conv.language in ("en", "es") else "en"
        live = {i.id: i for i in self.service.live()}
        given = next((live[i] for i in reversed(_told(conv)) if i in live), None)
        said = text("queue_incident", lang, title=given.title[lang]) if given else text("queue_busy", lang)
        await self.conversations.say(conv, "system", said, lang)


def _told(conv: Conversation) -> list[str]:
    return [i for i in (conv.get(TOLD) or "").split(",") if i]
