"""chat311 input channel: POST /webhooks/chat311/webhook (the only way chat_server talks to Rasa).

Request:  {"sender": "<conversation id>", "message": "<text or /intent{...}>",
           "metadata": {"language": "en"|"es", "channel": "web"|"sms"|"api"|"email", ...}}
Response: {"messages": [...], "label": ..., "confidence": ..., "intent_ranking": [[name, conf], ...],
           "language": ..., "active_loop": ..., "slots": {...}, "form_answer": true|false}

`form_answer`: the report form took the message as the answer to its question (valid or not, "skip",
"Submit", "cancel"), whatever Rasa's label for it; chat_server's reports then do not count the turn as a
question the bot failed to understand.

The message is processed exactly as Rasa's REST channel does it (CollectingOutputChannel); the
label, slots and form state are then read from the tracker that the processor has just saved to the
agent's tracker store (captured in-process, so a turn costs no extra tracker-store round trip).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chat311_labels import KB_LABEL_SLOT, resolve_label
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import SlotSet, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

# The tracker saved while handling the current request (same asyncio task, so no cross-talk between
# concurrent requests, not even for the same conversation).
_SAVED_TRACKER: contextvars.ContextVar[dict | None] = contextvars.ContextVar("chat311_saved_tracker",
                                                                             default=None)


def turn_label(tracker: Any) -> tuple[str | None, float]:
    """The intent, unless a knowledge-base action labelled this turn (`kb_label` set since the
    resident's message): then faq/<topic> or nlu_fallback, as the knowledge base decided."""
    parse_data = tracker.latest_message.parse_data if tracker.latest_message else {}
    label, confidence = resolve_label(parse_data)
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, SlotSet) and event.key == KB_LABEL_SLOT and event.value:
            return str(event.value), confidence
    return label, confidence


def _install_save_hook(tracker_store: Any) -> None:
    if getattr(tracker_store, "_chat311_hooked", False):
        return
    original_save = tracker_store.save

    async def save(tracker: Any, *args: Any, **kwargs: Any) -> Any:
        result = await original_save(tracker, *args, **kwargs)
        holder = _SAVED_TRACKER.get()
        if holder is not None and getattr(tracker, "sender_id", None) == holder.get("sender"):
            holder["tracker"] = tracker
        return result

    tracker_store.save = save
    tracker_store._chat311_hooked = True


def answered_the_form(tracker: Any) -> bool:
    """The report form's action handled this turn's message: it clears `form_answer` each time it does
    (bot/actions/report_form.py); an interruption (an emergency, a request for a person) it leaves to the
    rules sets nothing."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, SlotSet) and event.key == "form_answer" and event.value is None:
            return True
    return False


def summarize(tracker: Any) -> dict[str, Any]:
    if tracker is None:
        return {"label": None, "confidence": 0.0, "intent_ranking": [], "language": None,
                "active_loop": None, "slots": {}, "form_answer": False}
    parse_data = tracker.latest_message.parse_data if tracker.latest_message else {}
    label, confidence = turn_label(tracker)
    ranking = [[r.get("name"), round(float(r.get("confidence") or 0.0), 4)]
               for r in (parse_data.get("intent_ranking") or [])[:3]]
    if not ranking and label:
        ranking = [[(parse_data.get("intent") or {}).get("name"), round(confidence, 4)]]
    slots = {k: v for k, v in tracker.current_slot_values().items() if v is not None}
    return {
        "label": label,
        "confidence": round(confidence, 4),
        "intent_ranking": ranking,
        "language": tracker.get_slot("language"),
        "active_loop": tracker.active_loop_name,
        "slots": slots,
        "form_answer": answered_the_form(tracker),
    }


class Chat311Input(InputChannel):
    """REST-like channel that also returns the NLU label, language and form state of the turn."""

    @classmethod
    def name(cls) -> str:
        return "chat311"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("chat311_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:
                body = None
            if not isinstance(body, dict):
                return response.json({"error": "expected a JSON object"}, status=400)
            sender, text = body.get("sender"), body.get("message")
            metadata = body.get("metadata") or {}
            if not isinstance(sender, str) or not sender or not isinstance(text, str) \
                    or not isinstance(metadata, dict):
                return response.json({"error": "sender and message must be strings, metadata an object"},
                                     status=400)

            agent = getattr(request.app.ctx, "agent", None)
            store = getattr(agent, "tracker_store", None)
            if store is not None:
                _install_save_hook(store)
            holder: dict[str, Any] = {"sender": sender}
            token = _SAVED_TRACKER.set(holder)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(text, collector, sender, input_channel=self.name(),
                                                 metadata=metadata))
            except asyncio.CancelledError:
                logger.error("chat311 channel: message handling timed out for %s", sender)
            except Exception:
                logger.exception("chat311 channel: message handling failed for %s", sender)
            finally:
                _SAVED_TRACKER.reset(token)

            tracker = holder.get("tracker")
            if tracker is None and store is not None:  # e.g. the save hook was bypassed: read it back
                try:
                    tracker = await store.retrieve(sender)
                except Exception:
                    logger.exception("chat311 channel: could not read tracker for %s", sender)
            return response.json({"messages": collector.messages, **summarize(tracker)})

        return webhook
