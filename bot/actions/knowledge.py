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

import json
import logging
import os
from typing import Any

import aiohttp
from chat311_labels import KB_LABEL_SLOT, runner_up
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import fallback_reply, language_of
from actions.catalogue import CATALOGUE, service_for_label
from actions.texts import t

logger = logging.getLogger(__name__)

FALLBACK_LABEL = "nlu_fallback"
KB_TIMEOUT_S = 8.0
REPORT_PAYLOADS = {s.service_code: f"/{s.label}" for s in CATALOGUE.labelled}


class KnowledgeClient:
    """chat_server's /kb/answer; None when it cannot answer (the caller falls back, the turn goes on)."""

    def __init__(self, base_url: str, token: str, timeout_s: float = KB_TIMEOUT_S) -> None:
        self.url = f"{base_url.rstrip('/')}/kb/answer"
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def ask(self, body: dict[str, Any]) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session, \
                    session.post(self.url, json=body, headers=headers) as resp:
                if resp.status != 200:
                    logger.warning("knowledge base answered %s for %s", resp.status, sorted(body))
                    return None
                return await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("knowledge base unreachable: %s", type(exc).__name__)
            return None


def client_from_env() -> KnowledgeClient:
    return KnowledgeClient(os.environ.get("CHAT311_URL", "http://127.0.0.1:8080"), os.environ.get("CHAT311_TOKEN", ""))


# --------------------------------------------------------------------------- shaping (pure)

def payload(intent: str, **entities: Any) -> str:
    return f"/{intent}{json.dumps(entities, separators=(',', ':'))}"


def feedback_buttons(article: dict[str, Any], lang: str) -> list[dict[str, str]]:
    """Yes / No, and "Report it" when the article can start a service request."""
    buttons = [
        {"title": t("kb_yes", lang), "payload": payload("kb_feedback", article_id=article["id"], helpful=True)},
        {"title": t("kb_no", lang), "payload": payload("kb_feedback", article_id=article["id"], helpful=False)},
    ]
    report = REPORT_PAYLOADS.get(article.get("service_code") or "")
    if report:
        buttons.append({"title": t("kb_report", lang), "payload": report})
    return buttons


def answer_message(article: dict[str, Any], lang: str) -> dict[str, Any]:
    buttons = feedback_buttons(article, lang)
    if article.get("details"):
        buttons.insert(0, {"title": t("kb_more", lang), "payload": payload("kb_details", article_id=article["id"])})
    return {"text": f"{article['answer']}\n\n{t('kb_helpful', lang)}", "buttons": buttons}


def details_message(article: dict[str, Any], lang: str) -> dict[str, Any]:
    body = article.get("details") or article["answer"]
    if article.get("url") and article["url"] not in body:
        body = f"{body}\n{article['url']}"
    return {"text": f"{body}\n\n{t('kb_helpful', lang)}", "buttons": feedback_buttons(article, lang)}


def menu_message(options: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    buttons = [{"title": o["title"], "payload": payload("kb_article", article_id=o["id"])} for o in options[:3]]
    buttons.append({"title": t("kb_none_of_these", lang), "payload": "/kb_none"})
    return {"text": t("kb_did_you_mean", lang), "buttons": buttons}


def report_offer(decision: dict[str, Any], lang: str) -> dict[str, Any] | None:
    """The report the knowledge base agreed with, offered first; None if the catalogue lacks it."""
    service = service_for_label(decision.get("report"))
    article = decision.get("article") or {}
    if service is None or not article.get("id"):
        return None
    return {"text": t("kb_report_offer", lang, service=service.name(lang)), "buttons": [
        {"title": t("kb_report", lang), "payload": f"/{service.label}"},
        {"title": article["title"], "payload": payload("kb_article", article_id=article["id"])},
        {"title": t("kb_none_of_these", lang), "payload": "/kb_none"},
    ]}


def report_guess(message: dict[str, Any]) -> dict[str, Any] | None:
    """Rasa's runner-up to `faq` or its fallback (`runner_up`), if that intent is a report form."""
    guess = runner_up(message)
    service = service_for_label(guess[0]) if guess else None
    if guess is None or service is None:
        return None
    return {"intent": service.label, "service_code": service.service_code, "confidence": guess[1]}


def entity(tracker: Tracker, name: str) -> Any:
    for item in (tracker.latest_message or {}).get("entities") or []:
        if item.get("entity") == name:
            return item.get("value")
    return None


def last_question(tracker: Tracker) -> str:
    """The resident's latest typed message (button payloads start with "/")."""
    for event in reversed(tracker.events):
        text = (event.get("text") or "").strip() if event.get("event") == "user" else ""
        if text and not text.startswith("/"):
            return text
    return ""


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
