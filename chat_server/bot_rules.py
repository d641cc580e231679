"""Pure rules kept beside the bot (bot/chat311_*.py) and loaded here by path.

The bot runs in its own virtualenv (Rasa) and cannot import chat_server, so a rule both sides apply lives
beside the bot, free of imports from either side, and chat_server loads that very file: a copy on each side
would drift (the label rule did).
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

from chat_server.bot_model import BOT_DIR


def load_bot_rule(name: str) -> ModuleType:
    """bot/<name>.py as a module (`chat311_labels`, `chat311_this_contact`)."""
    path = BOT_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
