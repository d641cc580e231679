"""The resolved label for chat_server's evaluations, from the bot's own rule (bot/chat311_labels.py):
nlu-eval, the train & test scores and the live bot label messages with the same code."""

from __future__ import annotations

from chat_server.bot_rules import load_bot_rule

_module = load_bot_rule("chat311_labels")

FALLBACK: str = _module.FALLBACK
RETRIEVAL_INTENT: str = _module.RETRIEVAL_INTENT
resolve_label = _module.resolve_label  # (parse_data, fallback_threshold=0.0) -> (label, confidence)
runner_up = _module.runner_up  # (parse_data) -> (intent, confidence) the fallback classifier overruled, or None

# Labels that say nothing about what the resident needs (a conversation with only these has no topic yet).
SMALL_TALK: frozenset[str] = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "bot_challenge",
                                        "request_human"})
