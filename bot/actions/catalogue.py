"""The bot's access to the service catalogue: chat_server/tickets/catalogue.yml, read with chat_server's
own loader (imported by file path, so the action server needs nothing from chat_server but this pure
module). There is no second list of services: Open311, the console and these forms read the same file.

CHAT311_TICKETS__CATALOGUE (the same variable that moves chat_server's catalogue) points the bot at
another file; a relative path is taken from the project root.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
LOADER = ROOT / "chat_server" / "tickets" / "catalogue.py"
DEFAULT_FILE = ROOT / "chat_server" / "tickets" / "catalogue.yml"


def _import_loader() -> ModuleType:
    name = "chat311_catalogue"
    if name in sys.modules:
        return sys.modules[name]
    if str(ROOT) not in sys.path:  # the loader's one project import is chat_server.textchars (pure)
        sys.path.append(str(ROOT))
    spec = importlib.util.spec_from_file_location(name, LOADER)
    assert spec is not None and spec.loader is not None, LOADER
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def catalogue_file() -> Path:
    configured = os.environ.get("CHAT311_TICKETS__CATALOGUE")
    if not configured:
        return DEFAULT_FILE
    path = Path(configured)
    return path if path.is_absolute() else ROOT / path


loader = _import_loader()
Service = loader.Service
ServiceAttribute = loader.ServiceAttribute
CATALOGUE = loader.load_catalogue(catalogue_file())


def service_for_label(label: str | None) -> Service | None:  # type: ignore[valid-type]
    return CATALOGUE.by_label(label) if label else None


def report_labels() -> list[str]:
    return [s.label for s in CATALOGUE.labelled]
