"""The resolved label for chat_server's evaluations, from the bot's own rule (bot/chat311_labels.py).

The bot runs in its own virtualenv (Rasa) and cannot import chat_server, so the one implementation
lives beside the bot and is loaded here by path: nlu-eval, the train & test scores and the live bot
label messages with the same code.
"""

from __future__ import annotations

import importlib.util

from chat_server.bot_model import BOT_DIR

_PATH = BOT_DIR / "chat311_labels.py"
_spec = importlib.util.spec_from_file_location("chat311_labels", _PATH)
if _spec is None or _spec.loader is None:
    raise ImportError(f"cannot load {_PATH}")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

FALLBACK: str = _module.FALLBACK
RETRIEVAL_INTENT: str = _module.RETRIEVAL_INTENT
resolve_label = _module.resolve_label  # (parse_data, fallback_threshold=0.0) -> (label, confidence)
runner_up = _module.runner_up  # (parse_data) -> (intent, confidence) the fallback classifier overruled, or None

# Labels that say nothing about what the resident needs (a conversation with only these has no topic yet).
SMALL_TALK: frozenset[str] = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "bot_challenge",
                                        "request_human"})
