"""The one rule for a knowledge-base turn (pure): what the bot does and the label chat_server stores
and nlu-eval scores.

An answer is `faq/<topic>` of its article; a "Did you mean…" menu counts as its top option's topic
(the resident is shown that article first, and most menus are picked at their first option);
a fallback is `nlu_fallback`. When Rasa itself found no intent (`nlu_fallback`: out of scope or low
confidence), only a confident answer overrides it: a menu there would mostly offer unrelated articles
for a question the city does not handle ("who wrote Don Quixote"), so it becomes the fallback.
"""

from __future__ import annotations

from chat_server.knowledge.ranking import Kind
from chat_server.knowledge.search import FALLBACK_LABEL, Decision

# Rasa intents whose label the knowledge base decides (bot/README.md "Knowledge base").
KB_INTENTS = ("faq", FALLBACK_LABEL)


def decision_label(decision: Decision) -> str:
    if decision.kind is Kind.MENU and decision.options:
        return f"faq/{decision.options[0].topic}"
    return decision.label


def for_intent(decision: Decision, intent: str | None) -> Decision:
    """The decision the bot acts on, given Rasa's intent for the message."""
    if intent == FALLBACK_LABEL and decision.kind is Kind.MENU:
        return Decision(Kind.FALLBACK, decision.language)
    return decision
