"""Where residents meet an incident: the opening `incident` event, the notice before the bot's
answer, and a word about longer waits in the queue.

Web residents see the notice as a banner, so in chat they get it only when they ask about it.
SMS, API and e-mail residents have no banner: their first message while an incident is live gets
the notice whatever it says. Either way a conversation gets a given notice once.
"""

from __future__ import annotations

from chat_server.conversations.service import ConversationService, Incoming
from chat_server.conversations.store import Conversation
from chat_server.events import Event
from chat_server.incidents.service import Emitter, IncidentService, incident_payload
from chat_server.texts import text

TOLD = "incidents_told"


class IncidentNotices:
    def __init__(self, service: IncidentService, conversations: ConversationService, emitter: Emitter) -> None:
        self.service = service
        self.conversations = conversations
        self.emitter = emitter

    async def on_session(self, sid: str, language: str) -> None:
        payload = incident_payload(self.service.banner(), language)
        await self.emitter.emit("incident", payload, to=sid, namespace="/")

    async def before_bot_turn(self, conv: Conversation, incoming: Incoming) -> None:
        matched = self.service.matching(incoming.text)
        incident = matched or (self.service.banner() if conv.channel != "web" else None)
        if incident is None:
            return
        told = [i for i in (conv.get(TOLD) or "").split(",") if i]
        if incident.id in told:
            return
        told.append(incident.id)
        await self.conversations.store.update(conv.id, **{TOLD: ",".join(told)})
        conv.fields[TOLD] = ",".join(told)
        await self.conversations.say(conv, "system", incident.notice_text(conv.language), conv.language,
                                     custom={"event": "incident", "incident_id": incident.id})
        if matched is not None:  # the figures are about residents who asked about it: an SMS or app resident's
            await self.service.noticed(incident, conv.id)  # unrelated first message counted as "contained"
        await self.conversations.bus.publish("incident_noticed", conv.id, incident_id=incident.id,
                                             matched=matched is not None, channel=conv.channel)

    async def on_escalation(self, event: Event) -> None:
        await self.service.escalated(event.conversation_id)

    async def on_queued(self, event: Event) -> None:
        incident = self.service.banner()
        if incident is None:
            return
        conv = await self.conversations.store.get(event.conversation_id)
        if conv is not None:
            lang = conv.language if conv.language in ("en", "es") else "en"
            await self.conversations.say(conv, "system", text("queue_incident", lang, title=incident.title[lang]),
                                         lang)

