"""Escalation service: takes `escalation_requested`, queues or files a ticket, and runs routing.

Every chat_server process runs one of these. Shared state lives in Redis (`routing_store.py`); each
process runs a dispatcher tick (expire offers, reap vanished agents, offer tickets to residents
waiting too long, assign) and also dispatches immediately after its own changes. Messages to
agents go through the `/agents` Socket.IO namespace rooms (`user:<name>`, `conv:<id>`, `agents`),
which reach every process when `server.redis_manager` is on.

Event kinds this module publishes (see events.py): queued [department, language],
assigned [agent], requeued [reason], transferred [from, to].

An offer carries what the agent needs to decide at a glance (offer_view): the resident's last
words, the topic and language in words, the wait so far and the seconds left. A missed offer
warns the agent ("missed") before it sets them away. Queued residents are re-told their
position and wait when either changes, checked every `queue_refresh_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from chat_server.agents.accounts import Account, AccountStore
from chat_server.agents.auth import AuditLog
from chat_server.agents.callback import CallbackFlow
from chat_server.agents.callback_replies import leaves_the_line
from chat_server.agents.hours import HoursStatus, Schedule
from chat_server.agents.override import HoursOverrides, OverrideError, parse_override
from chat_server.agents.routing import (
    AgentState,
    QueuedConversation,
    anyone_staffed,
    average_handle_s,
    department_for,
    estimate_wait_s,
    positions,
    told_minutes,
)
from chat_server.agents.routing_store import QueueEntry, RoutingStore
from chat_server.agents.search import ConversationSearch
from chat_server.agents.settings import ConsoleConfig, RoutingConfig
from chat_server.agents.ticket_form import bot_slots, collected, form_services, report_service
from chat_server.conversations.resident_ns import ResidentNamespace
from chat_server.conversations.service import ConversationService
from chat_server.conversations.store import ASSIGNED, BOT, CLOSED, QUEUED, TICKETED, Conversation, Message
from chat_server.events import Event
from chat_server.refusal import Refusal
from chat_server.safety import emergency_language
from chat_server.stopping import cancel_and_wait
from chat_server.texts import day_names, text
from chat_server.tickets.catalogue import Catalogue
from chat_server.tickets.service import TicketService
from chat_server.training.label_names import load_label_names, readable

log = logging.getLogger("chat311.routing")

NS = "/agents"
LEAVE_TICKET = "/leave_ticket"
LANGUAGE_NAMES = {"en": "English", "es": "Spanish (español)"}
PREVIEW_MESSAGES = 3
PREVIEW_CHARS = 140


def shorten(value: str, limit: int = PREVIEW_CHARS) -> str:
    """One line of at most `limit` characters, cut at a word with an ellipsis."""
    line = " ".join(value.split())
    if len(line) <= limit:
        return line
    cut = line[:limit - 1].rsplit(" ", 1)[0] or line[:limit - 1]
    return cut + "…"


def topic_words(label: str, names: dict[str, str]) -> str:
    """"faq/utility_bill" → "City question: utility bill"; "report_pothole" → "Report: pothole"."""
    if not label:
        return "Not known"
    base, _, sub = label.partition("/")
    if sub:
        return f"City question: {sub.replace('_', ' ')}" if base == "faq" else f"{readable(base, names)}: {sub}"
    return readable(label, names)


class ActionError(Refusal):
    """A console action that cannot be done; code + message go back in the ack."""


def user_room(username: str) -> str:
    return f"user:{username}"


def conv_room(cid: str) -> str:
    return f"conv:{cid}"


class EscalationService:
    def __init__(self, chats: ConversationService, residents: ResidentNamespace, tickets: TicketService | None,
                 cfg: RoutingConfig, console: ConsoleConfig, schedule: Schedule, routing: RoutingStore,
                 accounts: AccountStore, audit: AuditLog, callback: CallbackFlow, search: ConversationSearch) -> None:
        self.chats = chats
        self.residents = residents
        self.tickets = tickets
        self.search = search
        self.callback = callback
        self.cfg = cfg
        self.console = console
        self.schedule = schedule
        self.routing = routing
        self.accounts = accounts
        self.audit = audit
        self.overrides = HoursOverrides(routing, audit)
        # username → socket ids connected to *this* process (refreshed in Redis every heartbeat).
        self.local_sockets: dict[str, set[str]] = {}
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_touch = 0.0
        self._dispatch_lock = asyncio.Lock()
        self._last_refresh = 0.0
        self._last_abandon_check = 0.0
        self._queue_told: tuple[str, ...] = ()  # the queue's conversations as last broadcast to the consoles
        self.label_names = load_label_names()

    # lifecycle -----------------------------------------------------------------
    def install(self) -> None:
        bus = self.chats.bus
        bus.subscribe("escalation_requested", self.on_escalation)
        bus.subscribe("resident_message", self.on_resident_message)
        bus.subscribe("conversation_closed", self.on_conversation_closed)
        bus.subscribe("emergency", self.on_emergency)
        self.chats.message_listeners.append(self.on_message)
        self.chats.turn_handlers.append(self.callback.handle)
        self.chats.before_bot_turn.append(self.callback.resume)
        self.residents.typing_listeners.append(self.on_resident_typing)
        self.residents.presence_listeners.append(self.on_resident_presence)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="routing-loop")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])

    def socket_cut(self, now: float) -> float:
        return now - 3 * self.cfg.heartbeat_s

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.cfg.tick_s):
                    await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("routing tick failed")
                await asyncio.sleep(self.cfg.tick_s)

    def poke(self) -> None:
        """Something changed here: run a dispatch round now rather than at the next tick."""
        self._dirty.set()

    async def tick(self) -> None:
        now = time.time()
        if now - self._last_touch >= self.cfg.heartbeat_s:
            self._last_touch = now
            await self.routing.touch({u: sorted(s) for u, s in self.local_sockets.items() if s}, now)
        changed = False
        warning = self.cfg.missed_offer_warning_s
        for cid in await self.routing.expired_offers(now):
            agent = await self.routing.offered_to(cid)
            if agent and await self.routing.decline(cid, agent, mark_away=True,
                                                         away_at=now + warning if warning > 0 else 0):
                changed = True
                await self.chats.sio.emit("offer_withdrawn", {"conversation_id": cid, "reason": "timeout"},
                                        room=user_room(agent), namespace=NS)
                status = await self.routing.status(agent)
                if status in ("missed", "away"):
                    await self.chats.sio.emit("status", {"status": status, "reason": "missed_offer",
                                                       "away_in_s": warning if status == "missed" else 0},
                                            room=user_room(agent), namespace=NS)
                await self.audit.record(agent, "offer_missed", cid)
        for username in await self.routing.agent_names():
            if await self.routing.away_if_missed(username, now):
                changed = True
                await self.audit.record(username, "status_away", reason="missed_offer")
                await self.chats.sio.emit("status", {"status": "away", "reason": "missed_offer"},
                                        room=user_room(username), namespace=NS)
            reaped = await self.routing.reap(username, now, self.socket_cut(now), self.cfg.reconnect_grace_s)
            if reaped is not None:
                await self._requeue_after_disconnect(username, reaped)
        await self._drop_abandoned(now)
        await self._offer_tickets(now)
        await self.dispatch()
        await self._broadcast_queue_if_changed()
        if changed or now - self._last_refresh >= self.cfg.queue_refresh_s:
            self._last_refresh = now
            await self.broadcast_positions()

    # escalation -----------------------------------------------------------------
    async def hours_status(self, now: float | None = None) -> HoursStatus:
        moment = datetime.fromtimestamp(now or time.time(), UTC)
        return self.schedule.status(moment, await self.routing.hours_override())

    async def on_escalation(self, event: Event) -> None:
        conv = await self.chats.store.get(event.conversation_id)
        if conv is None or conv.state not in (BOT, TICKETED):
            return  # already queued/assigned (a double click), or closed
        language = str(event.data.get("language") or conv.language)
        if language not in ("en", "es"):
            language = conv.language
        label = str(event.data.get("label") or conv.get("label") or "")
        department = department_for(label, self.cfg.departments)
        form = event.data.get("form")
        paused = str(form.get("label") or "") if isinstance(form, dict) else ""
        # form_label: what the resident was reporting (console panel); paused_report: the report the bot
        # left half-filled, which the resident may go back to if nobody can take the chat
        await self.chats.store.update(conv.id, form_label=label, paused_report=paused)
        conv.fields.update(form_label=label, paused_report=paused)
        now = time.time()
        status = await self.hours_status(now)
        agents = await self.routing.agents(self.socket_cut(now))
        if not status.accepting:
            key = "escalation_closing_soon" if status.open else "escalation_closed"
            when = self.schedule.describe_next_open(
                datetime.fromtimestamp(now, UTC), conv.language, day_names(conv.language),
                await self.routing.hours_override(), near=(text("day_today", conv.language),
                                                           text("day_tomorrow", conv.language)))
            await self.callback.offer(conv, "after_hours", key, next_open=when or "—")
            return
        if not anyone_staffed(agents, language, department):
            await self.callback.offer(conv, "after_hours", "escalation_no_agents")
            return
        if not await self.chats.store.set_state(conv.id, QUEUED, expected=(BOT, TICKETED), queued_at=f"{now:.3f}",
                                              department=department, escalation_reason=str(
                                                  event.data.get("reason") or "")):
            return
        conv.state = QUEUED
        announcement = event.data.get("announcement")
        if isinstance(announcement, str) and announcement.strip():  # the bot's "someone will be with you"
            await self.chats.say(conv, "bot", announcement, language)
        # tagged: a text channel drops it ("keep this window open"), its place-in-line text says the same
        # an app has no window to keep open (probe Z): its residents get the same words without that
        await self.chats.say_system(conv, "queued" if conv.channel == "web" else "queued_in_app",
                                    extra={"custom": {"event": "queued"}})
        # The resident hears their place in line before the conversation joins the queue: from then on
        # any process may offer it, and an agent who accepts at once would otherwise come first (the
        # widget then showed the place in line under "an agent joined"). Later changes come from
        # broadcast_positions.
        ahead = await self.routing.queue()
        urgent = bool(conv.get("urgent_at"))  # an emergency reported to the bot earlier in this chat
        position = positions([*ahead, QueuedConversation(conv.id, language, department, now, urgent=urgent)])[conv.id]
        wait = estimate_wait_s(position, agents, language, department, await self._average_handle_s())
        await self.chats.notify(conv, "queue_update", {"position": position, "estimated_wait_s": wait})
        await self.routing.enqueue(conv.id, language, department, now, position, told_minutes(wait))
        if urgent:
            await self.routing.mark_urgent(conv.id)
        await self.chats.bus.publish("queued", conv.id, department=department, language=language)
        self.poke()

    async def on_emergency(self, event: Event) -> None:
        """A resident described an emergency (the guard or the bot told them to call 911 at once). Staff must
        not find out by chance: the chat is marked urgent, goes ahead of every other in the queue, and every
        console is alerted (the agent who has or is offered it above all). A chat still with the bot is
        queued urgent if the resident asks for a person later; unless no reply can reach the resident
        (`unreachable`): then every console is alerted, with the number to call them back on."""
        conv = await self.chats.store.get(event.conversation_id)
        if conv is None:
            return
        await self.chats.store.update(conv.id, urgent_at=f"{event.ts:.3f}")
        conv.fields["urgent_at"] = f"{event.ts:.3f}"
        if not await self.routing.mark_urgent(conv.id) and not conv.get("unreachable"):
            return
        owner = await self.routing.owner(conv.id) or await self.routing.offered_to(conv.id)
        await self.chats.sio.emit("urgent", {**self.summary(conv), "agent": owner}, room="agents", namespace=NS)
        await self.broadcast_queue()
        await self.broadcast_positions()
        self.poke()

    async def on_resident_presence(self, session: str, present: bool) -> None:
        """A web resident with a chat in the queue or with an agent closed their last tab, or came back. The
        agent sees it; a queued chat whose resident stays away is closed (_drop_abandoned)."""
        conv = await self.chats.store.current_conversation(session)
        if conv is None or conv.state not in (QUEUED, ASSIGNED):
            return  # no chat with staff
        if present:  # a reloaded page shows where the chat stands again: the place in line, or who has it
            await self._tell_where_it_stands(conv)
        if present != bool(conv.get("resident_gone_at")):
            return  # no change to tell the agent
        gone_at = "" if present else f"{time.time():.3f}"
        await self.chats.store.update(conv.id, resident_gone_at=gone_at)
        conv.fields["resident_gone_at"] = gone_at
        await self.chats.sio.emit("resident_presence", {"conversation_id": conv.id, "present": present},
                                room=conv_room(conv.id), namespace=NS)
        await self.broadcast_queue()

    async def _tell_where_it_stands(self, conv: Conversation) -> None:
        if conv.state == ASSIGNED:
            await self.chats.notify(conv, "agent_joined", {"name": conv.get("agent_name") or ""})
            return
        entries = await self.routing.queue()
        now = time.time()
        told = await self._places(entries, await self.routing.agents(self.socket_cut(now)))
        if conv.id in told:
            position, wait = told[conv.id]
            await self.chats.notify(conv, "queue_update", {"position": position, "estimated_wait_s": wait})

    async def _places(self, entries: list[QueueEntry], agents: list[AgentState]) -> dict[str, tuple[int, int]]:
        """Each queued conversation's place in line and estimated wait (s)."""
        avg = await self._average_handle_s()
        by_id = {e.conversation_id: e for e in entries}
        return {cid: (position, estimate_wait_s(position, agents, by_id[cid].language, by_id[cid].department, avg,
                                                by_id[cid].declined))
                for cid, position in positions(entries).items()}

    async def _drop_abandoned(self, now: float) -> None:
        """Close a queued web chat with no page of the resident's open for `resident_gone_s`: offered to an agent
        it would be "answered" with nobody there, and its wait would count in everyone's estimate. It reads the
        session's open sockets, so a chat the resident left while an agent had it, and was requeued since, or
        one queued before sockets were counted, is dropped too. Checked every `heartbeat_s`."""
        if now - self._last_abandon_check < self.cfg.heartbeat_s:
            return
        self._last_abandon_check = now
        for entry in await self.routing.queue():
            cid = entry.conversation_id
            conv = await self.chats.store.get(cid)
            if conv is None or conv.state != QUEUED or conv.channel != "web" \
                    or await self.chats.store.open_sockets(conv.session) > 0:
                continue
            since = float(conv.get("resident_gone_at") or conv.get("queued_at") or now)
            if now - since < self.cfg.resident_gone_s:
                continue
            owner = await self.routing.offered_to(cid)
            if await self.chats.close(conv, "resident_left", expected=(QUEUED,)) and owner:
                await self.chats.sio.emit("offer_withdrawn", {"conversation_id": cid, "reason": "resident_left"},
                                        room=user_room(owner), namespace=NS)

    async def on_resident_message(self, event: Event) -> None:
        """While queued: "Leave my question instead" leaves a request; "never mind, I figured it out" leaves the
        line (it got no answer and stayed queued, and an agent was offered the abandoned chat first)."""
        if event.data.get("state") != QUEUED:
            return
        message = await self.chats.store.message(event.conversation_id, str(event.data.get("message_id")))
        if message is None:
            return
        leave_ticket = message.text.strip() == LEAVE_TICKET
        conv = await self.chats.store.get(event.conversation_id)
        if conv is None or conv.state != QUEUED:
            return
        if not leave_ticket and not leaves_the_line(message.text):
            # An emergency is answered by the guard or the semantic net alone: "your message is kept, the agent will
            # read it when they join" came before "call 911" (probe S), and no emergency should wait for an agent.
            if emergency_language(message.text) is None and not event.data.get("means_emergency"):
                await self._acknowledge_while_queued(conv)
            return
        owner = await self.routing.release(conv.id, time.time())
        if owner:
            await self.chats.sio.emit("offer_withdrawn", {"conversation_id": conv.id, "reason": "resident_left"},
                                    room=user_room(owner), namespace=NS)
        if await self.chats.store.set_state(conv.id, BOT, expected=(QUEUED,)):
            conv.state = BOT
            if leave_ticket:
                await self.callback.ask_contact(conv, "queue_timeout")
            else:
                await self.chats.bus.publish("abandoned", conv.id, reason="resident_withdrew")
                await self.chats.say_system(conv, "queue_left")
        await self.broadcast_queue()
        await self.broadcast_positions()

    async def _acknowledge_while_queued(self, conv: Conversation) -> None:
        """The first message a queued resident types is answered once: nothing did, and residents wrote again and
        again into the silence. It is kept and the agent reads it on joining."""
        queued_at = str(conv.get("queued_at") or "")
        if conv.get("queue_acknowledged") == queued_at:
            return
        await self.chats.store.update(conv.id, queue_acknowledged=queued_at)
        await self.chats.say_system(conv, "queue_message_kept")

    async def _offer_tickets(self, now: float) -> None:
        """A resident waiting long, or for nobody, is offered to leave a request instead (once): when the last agent
        who could take a chat signed out, declined it or missed it, residents already in line kept "less than a
        minute" while new ones heard that nobody was there (probe AF)."""
        limit = self.cfg.max_queue_wait_s
        agents: list[AgentState] | None = None
        for entry in await self.routing.queue():
            long_wait = now - entry.waiting_since >= limit
            if not long_wait:
                if entry.offered_to:
                    continue
                agents = agents if agents is not None else await self.routing.agents(self.socket_cut(now))
                if anyone_staffed([a for a in agents if a.username not in entry.declined], entry.language,
                                  entry.department):
                    continue
            if not await self.routing.mark_ticket_offered(entry.conversation_id):
                continue
            conv = await self.chats.store.get(entry.conversation_id)
            if conv is None or conv.state != QUEUED:
                continue
            await self.chats.say_system(conv, "queue_long" if long_wait else "queue_nobody", extra={"quick_replies": [
                {"title": text("leave_ticket_button", conv.language), "payload": LEAVE_TICKET}]})

    # dispatch ------------------------------------------------------------------
    async def dispatch(self) -> None:
        async with self._dispatch_lock:
            now = time.time()
            pairs = await self.routing.dispatch(now, self.socket_cut(now), now + self.cfg.accept_timeout_s)
            for cid, username in pairs:
                conv = await self.chats.store.get(cid)
                if conv is None or conv.state != QUEUED:
                    await self.routing.release(cid, now)
                    continue
                await self.chats.sio.emit("offer", await self.offer_view(conv, self.cfg.accept_timeout_s),
                                        room=user_room(username), namespace=NS)
            if pairs:
                await self.broadcast_queue()
                await self.broadcast_positions()

    def summary(self, conv: Conversation) -> dict[str, Any]:
        """A chat as every console list and view names it (offers, my chats, the queue, alerts)."""
        return {
            "conversation_id": conv.id, "state": conv.state, "language": conv.language, "channel": conv.channel,
            "topic": self.offer_topic(conv), "language_name": LANGUAGE_NAMES.get(conv.language, conv.language),
            "label": conv.get("label"), "department": conv.get("department"),
            "queued_at": float(conv.get("queued_at") or 0), "agent": conv.get("agent"),
            "assigned_at": float(conv.get("assigned_at") or 0) or None,  # when its agent took it (My chats)
            "urgent": bool(conv.get("urgent_at")),
            "resident_away": bool(conv.get("resident_gone_at")),  # every tab of theirs is closed
            "disposition": conv.get("disposition") or None,
            # why no reply can reach the resident (an SMS number that opted out), and the number to call instead
            "unreachable": conv.get("unreachable") or None, "callback": conv.get("callback") or None,
        }

    def offer_topic(self, conv: Conversation) -> str:
        """What the chat is about, in words: the service of a half-finished report, else the bot's label
        (label_names.yml), plus the department when it is not the general one."""
        label = conv.get("form_label") or conv.get("label") or ""
        words = topic_words(label, self.label_names)
        catalogue = self._catalogue()
        # halfway through a report form: the service the resident was reporting says more
        service = report_service(bot_slots(conv.get("slots")), catalogue, label) if catalogue is not None else None
        if service is not None:
            words = f"Report: {service.name('en')}"
        department = conv.get("department") or ""
        if department and department != "general":
            words += f" · {department.replace('_', ' ').capitalize()}"
        return words

    async def offer_view(self, conv: Conversation, expires_in_s: float) -> dict[str, Any]:
        """An offer as the agent reads it: the resident's last few messages (text only, shortened:
        attachments are left out), topic and language in words, seconds waited and seconds left."""
        preview: list[str] = []
        for message in reversed(await self.chats.store.messages(conv.id)):
            if message.sender == "resident" and message.text.strip() and not message.text.startswith("/"):
                preview.append(shorten(message.text))
                if len(preview) == PREVIEW_MESSAGES:
                    break
        queued_at = float(conv.get("queued_at") or 0)
        return {**self.summary(conv), "preview": preview[::-1],
                "waiting_s": round(max(0.0, time.time() - queued_at), 1) if queued_at else 0,
                "expires_in_s": round(max(0.0, expires_in_s), 1)}

    async def _average_handle_s(self) -> float:
        """What a wait estimate counts per conversation ahead: recent closes, or the configured default."""
        return average_handle_s(await self.routing.recent_handles(), self.cfg.default_handle_s)

    async def broadcast_positions(self) -> None:
        """Tell each queued resident their place and estimated wait when either has changed since they
        were last told (the wait in the unit they read: "less than a minute" or whole minutes)."""
        entries = await self.routing.queue()
        if not entries:
            return
        agents = await self.routing.agents(self.socket_cut(time.time()))
        for cid, (position, wait) in (await self._places(entries, agents)).items():
            if not await self.routing.set_position(cid, position, told_minutes(wait)):
                continue
            conv = await self.chats.store.get(cid)
            if conv is None or conv.state != QUEUED:
                continue
            await self.chats.notify(conv, "queue_update", {"position": position,
                                                                       "estimated_wait_s": wait})

    async def queue_snapshot(self, entries: list[QueueEntry] | None = None) -> list[dict[str, Any]]:
        now = time.time()
        out = []
        for entry in await self.routing.queue() if entries is None else entries:
            conv = await self.chats.store.get(entry.conversation_id)
            if conv is None:
                continue
            out.append({**self.summary(conv), "waiting_s": round(now - entry.waiting_since, 1)})
        return out

    async def broadcast_queue(self, entries: list[QueueEntry] | None = None) -> None:
        entries = await self.routing.queue() if entries is None else entries
        self._queue_told = tuple(e.conversation_id for e in entries)
        await self.chats.sio.emit("queue", {"items": await self.queue_snapshot(entries)}, room="agents", namespace=NS)

    async def _broadcast_queue_if_changed(self) -> None:
        """The consoles' queue list follows every change, also one no offer came with: a declined or missed offer put
        the chat back in line (an emergency once), yet every console still showed "Queue (0)" (probe S)."""
        entries = await self.routing.queue()
        if tuple(e.conversation_id for e in entries) != self._queue_told:
            await self.broadcast_queue(entries)

    # agent presence -------------------------------------------------------------
    async def agent_connected(self, account: Account, sid: str) -> None:
        self.local_sockets.setdefault(account.username, set()).add(sid)
        await self.routing.agent_connected(account.username, account.name, account.max_chats, account.languages,
                                           account.departments, sid, time.time())
        await self.audit.record(account.username, "connected")
        self.poke()

    async def agent_disconnected(self, username: str, sid: str) -> None:
        sockets = self.local_sockets.get(username)
        if sockets is not None:
            sockets.discard(sid)
            if not sockets:
                self.local_sockets.pop(username, None)
        left = await self.routing.socket_gone(username, sid, time.time())
        if left == 0:
            await self.audit.record(username, "disconnected")

    async def set_status(self, username: str, status: str) -> None:
        if status not in ("online", "away"):
            raise ActionError("bad_status", "status must be online or away")
        await self.routing.set_status(username, status)
        await self.audit.record(username, f"status_{status}")
        await self.chats.sio.emit("status", {"status": status}, room=user_room(username), namespace=NS)
        self._last_refresh = 0.0  # seats changed: queued residents' waits are re-estimated next tick
        self.poke()

    async def sign_out(self, username: str) -> None:
        """An agent who logs out has left: their chats go back to the queue now, not after the reconnect grace
        (a resident was told for a minute that an agent was with them, and wrote to nobody)."""
        now = time.time()
        chats = await self.routing.reap(username, now, now + 1.0, 0.0)  # every socket of theirs counts as gone
        if chats is not None:
            # a hand-over, not "your agent lost their connection" (probe S)
            await self._requeue_after_disconnect(username, chats, told="transferred_queue")
            await self.broadcast_queue()
            self.poke()

    async def _requeue_after_disconnect(self, username: str, chats: list[tuple[str, str]],
                                        told: str = "agent_disconnected") -> None:
        await self.audit.record(username, "offline_after_grace", chats=[c for c, _ in chats])
        for cid, kind in chats:
            conv = await self.chats.store.get(cid)
            if conv is None or conv.state == CLOSED:
                await self.routing.release(cid, time.time())
                continue
            if kind == "assigned":
                if not await self.chats.store.set_state(cid, QUEUED, expected=(ASSIGNED,), agent="", agent_name="",
                                                        queued_at=f"{time.time():.3f}"):
                    continue
                conv.state = QUEUED
                await self.chats.say_system(conv, told)
                await self.chats.bus.publish("requeued", cid, reason="agent_disconnected", agent=username)
            await self.routing.set_position(cid, 0)
        await self.chats.sio.emit("chats_requeued", {"conversation_ids": [c for c, _ in chats]},
                                room=user_room(username), namespace=NS)
        await self.broadcast_queue()
        await self.broadcast_positions()
        self.poke()

    # messages to the console ------------------------------------------------------
    async def on_message(self, conv: Conversation, message: Message) -> None:
        if conv.state not in (QUEUED, ASSIGNED) and message.sender != "agent":
            return
        await self.chats.sio.emit("message", {"conversation_id": conv.id, **self.message_view(message)},
                                room=conv_room(conv.id), namespace=NS)

    @staticmethod
    def message_view(message: Message) -> dict[str, Any]:
        view = {"id": message.id, "sender": message.sender, "text": message.text, "ts": message.ts,
                "language": message.language}
        for key in ("agent_name", "visibility", "quick_replies", "attachment"):
            if message.extra.get(key) is not None:
                view[key] = message.extra[key]
        return view

    async def on_conversation_closed(self, event: Event) -> None:
        now = time.time()
        owner = await self.routing.release(event.conversation_id, now)
        conv = await self.chats.store.get(event.conversation_id)
        if conv is not None and conv.get("assigned_at"):
            with contextlib.suppress(ValueError):
                await self.routing.record_handle(now - float(conv.get("assigned_at")))
        if owner:
            await self.chats.sio.emit("chat_closed", {"conversation_id": event.conversation_id,
                                                    "reason": event.data.get("reason")},
                                    room=user_room(owner), namespace=NS)
        await self.chats.sio.emit("chat_closed", {"conversation_id": event.conversation_id,
                                                "reason": event.data.get("reason")},
                                room=conv_room(event.conversation_id), namespace=NS)
        await self.broadcast_queue()
        await self.broadcast_positions()
        self.poke()

    # console actions ----------------------------------------------------------------
    async def _conv(self, cid: object) -> Conversation:
        if not isinstance(cid, str) or not cid:
            raise ActionError("malformed", "conversation_id is required")
        if not 8 <= len(cid) <= 64:  # "nope" was told it was missing (probe X)
            raise ActionError("not_found", "no such conversation")
        conv = await self.chats.store.get(cid)
        if conv is None:
            raise ActionError("not_found", "no such conversation")
        return conv

    async def _owned(self, account: Account, cid: object, allow_supervisor: bool = True) -> Conversation:
        conv = await self._conv(cid)
        await self._require_owner(account, conv, allow_supervisor)
        return conv

    async def _close_views(self, conv: Conversation, taken_by: str) -> None:
        """A chat that changes hands is heard only by who may read it now. Any agent may look at a chat waiting in
        the queue; one who did went on receiving the resident's words and the new owner's replies and internal
        notes (probe AF). Every console that has it open is told and leaves its room; the owner's and supervisors'
        open it again (`view` decides)."""
        room = conv_room(conv.id)
        await self.chats.sio.emit("view_closed", {"conversation_id": conv.id, "taken_by": taken_by}, room=room,
                                  namespace=NS)
        await self.chats.sio.close_room(room, namespace=NS)

    async def _require_owner(self, account: Account, conv: Conversation, allow_supervisor: bool = True) -> None:
        owner = await self.routing.owner(conv.id)
        if conv.state != ASSIGNED or (owner != account.username
                                      and not (allow_supervisor and account.has_role("supervisor"))):
            raise ActionError("not_yours", "this conversation is not assigned to you")

    async def accept(self, account: Account, cid: object) -> Conversation:
        conv = await self._conv(cid)
        if not await self.routing.accept(conv.id, account.username):
            raise ActionError("offer_gone", "this offer is no longer yours (it timed out or was withdrawn)")
        now = time.time()
        if not await self.chats.store.set_state(conv.id, ASSIGNED, expected=(QUEUED,), agent=account.username,
                                              agent_name=account.name, assigned_at=f"{now:.3f}"):
            await self.routing.release(conv.id, now)
            raise ActionError("conversation_gone", "the resident left before you accepted")
        conv = await self.chats.store.get(conv.id) or conv
        await self._close_views(conv, account.name)
        await self.search.record_handled(conv.id, account.username, now)
        await self.chats.bus.publish("assigned", conv.id, agent=account.username)
        await self.audit.record(account.username, "accept", conv.id)
        await self.chats.notify(conv, "agent_joined", {"name": account.name})
        await self.chats.say_system(conv, "agent_joined", name=account.name)
        # the agent's other tabs: the offer is gone from them and the chat is in their "My chats"
        await self.chats.sio.emit("offer_withdrawn", {"conversation_id": conv.id, "reason": "accepted"},
                                room=user_room(account.username), namespace=NS)
        await self.chats.sio.emit("chat_assigned", {**self.summary(conv), "reason": "accepted"},
                                room=user_room(account.username), namespace=NS)
        await self.broadcast_queue()
        await self.broadcast_positions()
        return conv

    async def decline(self, account: Account, cid: object) -> None:
        conv = await self._conv(cid)
        if not await self.routing.decline(conv.id, account.username, mark_away=False):
            raise ActionError("offer_gone", "this offer is no longer yours")
        await self.audit.record(account.username, "decline", conv.id)
        self.poke()

    async def send(self, account: Account, cid: object, body: str) -> Message:
        conv = await self._owned(account, cid)
        message = await self.chats.say(conv, "agent", body, agent_name=account.name)
        await self.chats.notify(conv, "typing", {"sender": "agent", "on": False})
        return message

    async def note(self, account: Account, cid: object, body: str) -> Message:
        if account.has_role("supervisor"):  # supervisors annotate any conversation, closed ones in reviews too
            conv = await self._conv(cid)
        else:
            conv = await self._owned(account, cid, allow_supervisor=False)
        await self.audit.record(account.username, "note", conv.id)
        return await self.chats.say(conv, "agent", body, agent_name=account.name,
                                                visibility="internal")

    async def on_resident_typing(self, conv: Conversation, on: bool) -> None:
        """The resident is typing (no text is sent): shown to the agents who have the chat open."""
        if conv.state == ASSIGNED:
            await self.chats.sio.emit("resident_typing", {"conversation_id": conv.id, "on": on},
                                    room=conv_room(conv.id), namespace=NS)

    async def typing(self, account: Account, cid: object, on: bool) -> None:
        conv = await self._owned(account, cid, allow_supervisor=False)
        await self.chats.notify(conv, "typing", {"sender": "agent", "on": bool(on)})

    async def close(self, account: Account, cid: object, disposition: object) -> None:
        if disposition not in self.console.dispositions:
            raise ActionError("bad_disposition", f"disposition must be one of {', '.join(self.console.dispositions)}")
        conv = await self._conv(cid)
        if conv.state == CLOSED:  # the resident ended it first: the agent still records its outcome
            return await self._wrap_up(account, conv, str(disposition))
        await self._require_owner(account, conv)
        # One close: two at once (a double-click, two tabs) both said goodbye and both counted in the reports
        async with self.chats.lock(conv.id):
            if (await self.chats.store.get(conv.id) or conv).state == CLOSED:
                raise ActionError("already_closed", "the conversation was already closed")
            await self.chats.say_system(conv, "agent_closed", name=account.name)
            if not await self.chats.close(conv, reason="agent_closed", expected=(ASSIGNED,), disposition=disposition,
                                          closed_by=account.username):
                raise ActionError("already_closed", "the conversation was already closed")
        await self.audit.record(account.username, "close", conv.id, disposition=disposition)

    async def take(self, account: Account, cid: object) -> None:
        """"Offer it to me" on a queued chat the agent had declined or sent back (e.g. the only agent on): the
        dispatcher may offer it to them again, on the usual rules (language, department, capacity, order)."""
        conv = await self._conv(cid)
        if conv.state != QUEUED:
            raise ActionError("not_queued", "this conversation is not waiting in the queue")
        await self.routing.undecline(conv.id, account.username)
        await self.audit.record(account.username, "take", conv.id)
        self.poke()

    async def _wrap_up(self, account: Account, conv: Conversation, disposition: str) -> None:
        if conv.get("agent") != account.username and not account.has_role("supervisor"):
            raise ActionError("not_yours", "this conversation was not yours")
        if conv.get("disposition"):
            raise ActionError("already_closed", "the conversation's outcome is already recorded")
        await self.chats.store.update(conv.id, disposition=disposition, closed_by=account.username)
        await self.chats.bus.publish("wrapped_up", conv.id, disposition=disposition, agent=account.username)
        await self.audit.record(account.username, "wrap_up", conv.id, disposition=disposition)

    async def transfer(self, account: Account, cid: object, to: object) -> None:
        if not isinstance(to, str) or not to:
            # a transfer with no target quietly put the chat back in the queue (probe X)
            raise ActionError("malformed", 'to is required: an agent\'s username, or "queue"')
        conv = await self._owned(account, cid)
        owner = await self.routing.owner(conv.id) or account.username
        if to == "queue":
            now = time.time()
            if not await self.routing.requeue(conv.id, owner, True, now):
                raise ActionError("not_yours", "this conversation is not assigned to you")
            if not await self.chats.store.set_state(conv.id, QUEUED, expected=(ASSIGNED,), agent="", agent_name="",
                                                    queued_at=f"{now:.3f}"):
                raise ActionError("conversation_gone", "the conversation changed meanwhile")
            conv.state = QUEUED
            await self.chats.say_system(conv, "transferred_queue")
            await self.chats.bus.publish("transferred", conv.id, **{"from": owner, "to": "queue"})
        else:
            target = await self.accounts.get(str(to))
            if target is None or target.disabled or target.username == owner:
                raise ActionError("bad_target", "choose another agent who is online")
            if conv.language not in target.languages:  # routing never offers it to them; a transfer must not either
                raise ActionError("target_language", f"{target.name} does not take chats in "
                                                     f"{LANGUAGE_NAMES.get(conv.language, conv.language)}")
            result = await self.routing.transfer(conv.id, owner, target.username, self.socket_cut(time.time()))
            if result == 0:
                raise ActionError("not_yours", "this conversation is not assigned to you")
            if result < 0:
                raise ActionError("target_busy", f"{target.name} is not available or has no free capacity")
            await self.chats.store.update(conv.id, agent=target.username, agent_name=target.name,
                                        assigned_at=f"{time.time():.3f}")
            conv = await self.chats.store.get(conv.id) or conv
            await self._close_views(conv, target.name)
            await self.search.record_handled(conv.id, target.username, time.time())
            await self.chats.notify(conv, "agent_joined", {"name": target.name})
            await self.chats.say_system(conv, "agent_joined", name=target.name)
            await self.chats.sio.emit("chat_assigned", {**self.summary(conv), "reason": "transferred",
                                                        "from_name": account.name},
                                    room=user_room(target.username), namespace=NS)
            await self.chats.bus.publish("transferred", conv.id, **{"from": owner, "to": target.username})
        await self.chats.sio.emit("chat_removed", {"conversation_id": conv.id, "reason": "transferred"},
                                room=user_room(owner), namespace=NS)
        await self.audit.record(account.username, "transfer", conv.id, to=to or "queue")
        await self.broadcast_queue()
        await self.broadcast_positions()
        self.poke()

    def _catalogue(self) -> Catalogue | None:
        tickets = self.tickets
        return tickets.catalogue if tickets is not None else None

    def ticket_form(self) -> list[dict[str, Any]]:
        """The catalogue as the console's ticket form (every service, typed attribute fields)."""
        catalogue = self._catalogue()
        return form_services(catalogue) if catalogue is not None else []

    async def create_ticket(self, account: Account, cid: object, service_code: object, description: object,
                            address: object = None, attributes: object = None, lat: object = None,
                            long: object = None) -> dict[str, Any]:
        """File from the console: validated by the catalogue exactly like an Open311 POST."""
        conv = await self._owned(account, cid)
        tickets = self.tickets
        if tickets is None:
            raise ActionError("unavailable", "ticketing is not available")
        if not isinstance(service_code, str) or not service_code:
            raise ActionError("malformed", "choose the service", field="service_code")
        if not isinstance(description, str) or not description.strip():
            raise ActionError("malformed", "describe the problem", field="description")
        if attributes is not None and not isinstance(attributes, dict):
            raise ActionError("malformed", "attributes must be an object of code → value")
        data: dict[str, Any] = {"description": description.strip(), "attributes": attributes or {}}
        if conv.get("media_url"):  # the photo the agent sees in the chat's report panel
            data["media_url"] = conv.get("media_url")
        if isinstance(address, str) and address.strip():
            data["address_string"] = address.strip()
        if lat not in (None, "") or long not in (None, ""):
            data["lat"], data["long"] = lat, long
        try:
            ticket = await tickets.create_for_conversation(conv, service_code, data, source="agent")
        except Exception as exc:
            message = getattr(exc, "description", None) or str(exc) or "the ticket could not be created"
            raise ActionError("ticket_invalid", str(message)[:300], field=getattr(exc, "field", None)) from exc
        await self.audit.record(account.username, "ticket", conv.id, ticket_id=ticket.id, service_code=service_code)
        return {"ticket_id": ticket.id}

    async def view(self, account: Account, cid: object) -> dict[str, Any]:
        """Transcript (bot part included) and a panel of what the bot collected, for the console."""
        conv = await self._conv(cid)
        owner = await self.routing.owner(conv.id)
        offered = await self.routing.offered_to(conv.id)
        allowed = account.username in (owner, offered) or account.has_role("supervisor") or conv.state == QUEUED \
            or bool(conv.get("unreachable"))  # an emergency nobody can text back: whoever calls needs to read it
        if not allowed:
            raise ActionError("not_yours", "this conversation is not yours")
        slots = bot_slots(conv.get("slots"))
        catalogue = self._catalogue()
        service = report_service(slots, catalogue, conv.get("form_label"), conv.get("label")) \
            if catalogue is not None else None
        messages = [self.message_view(m) for m in await self.chats.store.messages(conv.id)]
        return {**self.summary(conv), "collected": collected(slots, service, conv.get("media_url")),
                "active_loop": conv.get("active_loop"), "ticket_id": conv.get("ticket_id"), "messages": messages,
                "mine": owner == account.username}

    async def my_chats(self, username: str) -> list[dict[str, Any]]:
        out = []
        for cid in await self.routing.chats_of(username):
            conv = await self.chats.store.get(cid)
            if conv is None:
                continue
            if await self.routing.offered_to(cid) == username:
                deadline = await self.routing.offer_deadline(cid) or time.time()
                out.append({**await self.offer_view(conv, deadline - time.time()), "offered": True})
            else:
                out.append({**self.summary(conv), "offered": False})
        return out

    async def agents_overview(self) -> list[dict[str, Any]]:
        now = time.time()
        out = []
        for agent in await self.routing.agents(self.socket_cut(now)):
            out.append({"username": agent.username, "name": await self.routing.agent_name(agent.username),
                        "status": agent.status if agent.connected else "offline", "load": agent.load,
                        "capacity": agent.capacity, "languages": list(agent.languages)})
        return out

    async def set_hours_override(self, account: Account, mode: object, minutes: object,
                                 reason: object) -> dict[str, Any]:
        if not account.has_role("supervisor"):
            raise ActionError("forbidden", "only supervisors can open or close the line")
        try:
            request = parse_override(mode, minutes, reason)
        except OverrideError as exc:
            raise ActionError("malformed", exc.message) from exc
        now = await self.overrides.apply(request, account.username)
        return self.hours_view(await self.hours_status(now))

    @staticmethod
    def hours_view(status: HoursStatus) -> dict[str, Any]:
        return {"open": status.open, "accepting": status.accepting, "override": status.override,
                "closes_at": status.closes_at.timestamp() if status.closes_at else None,
                "next_open": status.next_open.timestamp() if status.next_open else None}
