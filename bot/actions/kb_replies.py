"""The knowledge base's decisions as bot messages (pure): answers, details, menus, report offers, and
the report intents Rasa found that the knowledge base weighs (chat_server/knowledge/labels.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from chat311_labels import runner_up
from rasa_sdk import Tracker

from actions.catalogue import CATALOGUE, service_for_label
from actions.texts import t

REPORT_PAYLOADS = {s.service_code: f"/{s.label}" for s in CATALOGUE.labelled}


def payload(intent: str, **entities: Any) -> str:
    return f"/{intent}{json.dumps(entities, separators=(',', ':'))}"


def entity(tracker: Tracker, name: str) -> Any:
    """An entity of the latest message: what a payload button carries (`article_id`, `helpful`)."""
    for item in (tracker.latest_message or {}).get("entities") or []:
        if item.get("entity") == name:
            return item.get("value")
    return None


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


def menu_message(options: list[dict[str, Any]], lang: str, in_report: bool = False) -> dict[str, Any]:
    """"Did you mean…"; `in_report`: asked in the middle of a report, whose way back is the last button."""
    buttons = [{"title": o["title"], "payload": payload("kb_article", article_id=o["id"])} for o in options[:3]]
    buttons.append({"title": t("form_back_button" if in_report else "kb_none_of_these", lang), "payload": "/kb_none"})
    return {"text": t("form_question_menu" if in_report else "kb_did_you_mean", lang), "buttons": buttons}


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


def chosen_report(message: dict[str, Any]) -> dict[str, Any] | None:
    """The report form Rasa chose for the message itself, with its confidence (weighed by the knowledge
    base before the form starts), or None."""
    chosen = message.get("intent") or {}
    service = service_for_label(chosen.get("name"))
    if service is None:
        return None
    return {"intent": service.label, "service_code": service.service_code,
            "confidence": float(chosen.get("confidence") or 0.0)}


def typed_questions(tracker: Tracker) -> Iterator[str]:
    """The resident's typed messages, latest first (button payloads start with "/")."""
    for event in reversed(tracker.events):
        text = str(event.get("text") or "").strip() if event.get("event") == "user" else ""
        if text and not text.startswith("/"):
            yield text


def last_question(tracker: Tracker) -> str:
    return next(typed_questions(tracker), "")
