"""Readable names of the intents content staff label messages with (label_names.yml, staff-editable).

Loaded once when the training feature starts, so a broken file stops startup with the file and the
key named instead of showing raw intent names or failing on the page.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from chat_server import strict_yaml

NAMES_FILE = Path(__file__).resolve().parent / "label_names.yml"
MAX_NAME = 80


class LabelNamesError(ValueError):
    """label_names.yml is invalid; the message names the file and the key."""


def load_label_names(path: Path = NAMES_FILE) -> dict[str, str]:
    try:
        data = strict_yaml.load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LabelNamesError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise LabelNamesError(f"{path}: must map intent names to readable names")
    for key, name in data.items():
        if not isinstance(key, str) or "/" in key or not key.strip():
            raise LabelNamesError(f"{path}: {key!r}: not an intent name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise LabelNamesError(f"{path}: {key}: the name must be text of 1-{MAX_NAME} characters")
    return {str(k): str(v).strip() for k, v in data.items()}


def readable(label: str, names: dict[str, str]) -> str:
    return names.get(label) or label.replace("_", " ")
