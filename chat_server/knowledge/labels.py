"""The one label rule for a knowledge-base turn (pure): what chat_server stores and nlu-eval scores.

An answer is `faq/<topic>` of its article; a "Did you mean…" menu counts as its top option's topic
(the resident is shown that article first, and most menus are picked at their first option);
a fallback is `nlu_fallback`.
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
