"""Knowledge-base actions: the bot answers questions from chat_server's articles (issue 15).

Rasa keeps the dialogue; for the `faq` intent and for `nlu_fallback` the action asks chat_server
(POST {CHAT311_URL}/kb/answer, bearer CHAT311_TOKEN) for a decision and shapes it:
- answer: the article's short answer (with its link) + "More details" / "Yes" / "No" / "Report it";
- menu: "Did you mean…" with up to 3 article titles + "None of these";
- report: Rasa's runner-up guess was a report form and the article is about that service, so the
  report is offered first: "Report it" + the article + "None of these";
- fallback: the bot's usual fallback (rephrase; the second in a row offers a person).
Every KB turn sets the slot `kb_label`, which the chat311 channel reports as the turn's label.
Payload intents: `kb_article{article_id}`, `kb_details{article_id}`, `kb_feedback{article_id, helpful}`,
`kb_none`. Contract: bot/README.md ("Knowledge base").
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from chat311_labels import KB_LABEL_SLOT
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import parsing
from actions.actions import TALK_TO_A_PERSON, fallback_reply, language_of
from actions.kb_client import client_from_env
from actions.kb_replies import (
    answer_message,
    details_message,
    entity,
    last_question,
    menu_message,
    report_guess,
    report_offer,
    typed_questions,
)
from actions.texts import t

FALLBACK_LABEL = "nlu_fallback"


def question_before(tracker: Tracker) -> str:
    """The resident's typed message before the latest one ("" if none)."""
    return next(islice(typed_questions(tracker), 1, None), "")


def feedback_given(tracker: Tracker, article_id: str, helpful: bool) -> bool:
    """Whether this article already got the same feedback since the resident's last typed message
    (a double click counts once; changing one's mind counts)."""
    seen_current = False
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        text = (event.get("text") or "").strip()
        if not text.startswith("/"):
            return False
        if not seen_current:  # the click being handled now
            seen_current = True
            continue
        parse = event.get("parse_data") or {}
        given = {e.get("entity"): e.get("value") for e in parse.get("entities") or []}
        if (parse.get("intent") or {}).get("name") == "kb_feedback" and \
                given.get("article_id") == article_id and given.get("helpful") is helpful:
            return True
    return False


# --------------------------------------------------------------------------- actions

class ActionKbAnswer(Action):
    """`faq`, `nlu_fallback` and a picked menu option (`kb_article`): ask the knowledge base."""

    def __init__(self) -> None:
        self.kb = client_from_env()

    def name(self) -> str:
        return "action_kb_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        message = tracker.latest_message or {}
        article_id = entity(tracker, "article_id")
        text = (message.get("text") or "").strip()
        if article_id:
            body: dict[str, Any] | None = {"article_id": str(article_id), "language": lang}
        elif text and not text.startswith("/"):
            body = {"text": text, "language": lang, "intent": (message.get("intent") or {}).get("name"),
                    "conversation_id": tracker.sender_id}
            guess = report_guess(message)
            if guess:
                body["report_guess"] = guess
        else:
            body = None
        decision = await self.kb.ask(body) if body else None
        if article_id and (decision or {}).get("kind") != "answer":
            return article_gone(dispatcher, lang)
        if body and "text" in body and (decision or {}).get("kind") != "answer" and parsing.follows_up(text) \
                and (before := question_before(tracker)):
            # "and on holidays?" after "what day is trash pickup": asked alone it got a menu with "311 hours"
            # (probe N); read with the question it follows, its answer or menu is about that question's subject
            again = await self.kb.ask({**body, "text": f"{before} {text}"})
            if (again or {}).get("kind") in ("answer", "menu"):
                decision = again
        kind = (decision or {}).get("kind")
        offer = report_offer(decision, lang) if decision and kind == "report" else None
        if offer:
            dispatcher.utter_message(**offer)
        elif kind == "answer":
            dispatcher.utter_message(**answer_message(decision["article"], lang))
        elif kind == "menu" and decision.get("options"):
            dispatcher.utter_message(**menu_message(decision["options"], lang))
        else:
            fallback_reply(dispatcher, tracker)
            return [SlotSet(KB_LABEL_SLOT, FALLBACK_LABEL)]
        return [SlotSet(KB_LABEL_SLOT, decision.get("label") or FALLBACK_LABEL)]


def article_gone(dispatcher: CollectingDispatcher, lang: str) -> list[EventType]:
    """A button of an article retired since it was shown (menus stay on screen, and a reload replays them): it
    was "I didn't understand", then a hand-off as a second fallback (probe AI). Said so; no fallback counted."""
    dispatcher.utter_message(text=t("kb_article_gone", lang),
                             buttons=[{"title": TALK_TO_A_PERSON[lang], "payload": "/request_human"}])
    return [SlotSet(KB_LABEL_SLOT, None)]


class ActionKbDetails(Action):
    def __init__(self) -> None:
        self.kb = client_from_env()

    def name(self) -> str:
        return "action_kb_details"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        article_id = entity(tracker, "article_id")
        decision = await self.kb.ask({"article_id": str(article_id), "language": lang}) if article_id else None
        if article_id and (decision or {}).get("kind") != "answer":
            return article_gone(dispatcher, lang)
        if not decision or decision.get("kind") != "answer":
            fallback_reply(dispatcher, tracker)
            return [SlotSet(KB_LABEL_SLOT, FALLBACK_LABEL)]
        dispatcher.utter_message(**details_message(decision["article"], lang))
        return [SlotSet(KB_LABEL_SLOT, decision["label"])]


class ActionKbFeedback(Action):
    """Yes / No on an answer: counted per article by chat_server; a "No" also goes to the content inbox."""

    def name(self) -> str:
        return "action_kb_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        article_id, helpful = entity(tracker, "article_id"), entity(tracker, "helpful")
        if not isinstance(article_id, str) or not isinstance(helpful, bool):
            fallback_reply(dispatcher, tracker)
            return []
        if helpful:
            dispatcher.utter_message(text=t("kb_thanks", lang))
        else:
            dispatcher.utter_message(text=t("kb_sorry", lang), buttons=[
                {"title": t("kb_talk_to_person", lang), "payload": "/request_human"}])
        if not feedback_given(tracker, article_id, helpful):
            dispatcher.utter_message(json_message={
                "event": "kb_feedback", "article_id": article_id, "helpful": helpful,
                "question": last_question(tracker), "language": lang,
            })
        return []
