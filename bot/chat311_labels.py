"""chat311's resolved label: the ONE rule that turns a Rasa parse result into the label DESIGN names.

The label is the intent name, or `faq/<topic>` for the retrieval intent `faq` (the topic the response
selector chose), or `nlu_fallback`. Everyone who labels a message uses this function: the chat311
channel and the actions (bot/.venv, cwd bot/), and chat_server's evaluations (`chat311 nlu-eval`, the
content staff's train & test), which load this very file by path through chat_server/labels.py —
the bot's virtualenv cannot import chat_server, and a copy on each side would drift (it did).

Pure and free of Rasa imports, so both virtualenvs can load it. To label messages another way (e.g.
a knowledge-base search whose article topic gives `faq/<topic>`), extend this function; callers only
rely on the signature `resolve_label(parse_data, fallback_threshold) -> (label, confidence)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FALLBACK = "nlu_fallback"
# Set by the knowledge-base actions (bot/actions/knowledge.py): the turn's label, faq/<topic> or nlu_fallback.
KB_LABEL_SLOT = "kb_label"
RETRIEVAL_INTENT = "faq"


def resolve_label(parse_data: Mapping[str, Any] | None, fallback_threshold: float = 0.0) -> tuple[str, float]:
    """(label, confidence) of one parse result.

    For the retrieval intent the confidence is the response selector's (how sure it is of the topic),
    falling back to the intent's when the selector gave none. A parse with no intent, or a confidence
    below `fallback_threshold`, is `nlu_fallback`. The default threshold 0.0 adds nothing: the served
    model's fallback classifier (bot/config.yml) has already applied its own thresholds; nlu-eval's
    threshold sweep passes other values.
    """
    parse_data = parse_data or {}
    intent = parse_data.get("intent") or {}
    name = intent.get("name")
    confidence = float(intent.get("confidence") or 0.0)
    if not name:
        return FALLBACK, 0.0
    label = str(name)
    if label == RETRIEVAL_INTENT:
        selector = (parse_data.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}
        response = selector.get("response") or {}
        key = response.get("intent_response_key")
        if key:
            label = str(key)
            if response.get("confidence") is not None:
                confidence = float(response["confidence"])
    if confidence < fallback_threshold:
        return FALLBACK, confidence
    return label, confidence


def runner_up(parse_data: Mapping[str, Any] | None) -> tuple[str, float] | None:
    """Rasa's best intent other than the two that defer to the knowledge base, when it chose one of those
    (`faq`, or `nlu_fallback` because its fallback classifier overruled it): (name, confidence), else None.

    The knowledge base weighs it against its article (a report the resident may be describing:
    chat_server/knowledge/labels.py `for_intent`); the bot and nlu-eval both read it here.
    """
    parse_data = parse_data or {}
    deferring = (FALLBACK, RETRIEVAL_INTENT)
    if (parse_data.get("intent") or {}).get("name") not in deferring:
        return None
    for entry in parse_data.get("intent_ranking") or []:
        name = entry.get("name")
        if name and name not in deferring:
            return str(name), float(entry.get("confidence") or 0.0)
    return None
