"""The staff pages' interface copy in English and Spanish (staff_texts.yml, staff-editable).

Staff pages are static HTML + JS; they fetch this copy as JSON (`GET /staff/texts.json`) and
`static/staff/i18n.js` picks the language. The file is loaded once when the server starts, so a
broken edit (a key without its Spanish text, a placeholder the English text does not have) stops
startup with the file and the key named instead of showing a blank or half-translated console.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml

from chat_server import strict_yaml
from chat_server.config import display_path

TEXTS_FILE = Path(__file__).resolve().parent / "staff_texts.yml"
LANGUAGES = ("en", "es")
MAX_TEXT = 600
KEY_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
NAME_RE = re.compile(r"[a-z][a-z0-9_]*")


class StaffTextsError(ValueError):
    """staff_texts.yml is invalid; the message names the file and the key."""


def placeholders(file: str, key: str, text: str) -> set[str]:
    """The `{name}` placeholders of one text; a brace that is not a placeholder is refused (a typo)."""
    names = set(PLACEHOLDER_RE.findall(text))
    bad = [n for n in names if not NAME_RE.fullmatch(n)]
    leftover = PLACEHOLDER_RE.sub("", text)
    if bad or "{" in leftover or "}" in leftover:
        raise StaffTextsError(f"{file}: {key}: a placeholder is written {{name}} (lower-case letters, digits, _)")
    return names


def parse_staff_texts(file: str, data: object) -> dict[str, dict[str, str]]:
    """Validates the parsed YAML: key → {en, es}, both non-empty text, the same placeholders."""
    if not isinstance(data, dict) or not data:
        raise StaffTextsError(f"{file}: must map keys to {{en: ..., es: ...}}")
    out: dict[str, dict[str, str]] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise StaffTextsError(f"{file}: {key!r}: a key is lower-case words joined by '.' or '_'")
        if not isinstance(value, dict):
            raise StaffTextsError(f"{file}: {key}: must give the text in {' and '.join(LANGUAGES)}")
        unknown = sorted(str(lang) for lang in value if lang not in LANGUAGES)
        if unknown:
            raise StaffTextsError(f"{file}: {key}: unknown language {', '.join(unknown)} "
                                  f"(the staff pages speak {', '.join(LANGUAGES)})")
        texts: dict[str, str] = {}
        for lang in LANGUAGES:
            text = value.get(lang)
            if not isinstance(text, str) or not text.strip():
                raise StaffTextsError(f"{file}: {key}: the {lang} text is missing")
            if len(text) > MAX_TEXT:
                raise StaffTextsError(f"{file}: {key}: the {lang} text is longer than {MAX_TEXT} characters")
            texts[lang] = text.strip()
        expected = placeholders(file, key, texts["en"])
        for lang in LANGUAGES[1:]:
            extra = placeholders(file, key, texts[lang]) - expected
            if extra:
                known = ", ".join("{" + n + "}" for n in sorted(expected)) or "none"
                raise StaffTextsError(f"{file}: {key}: unknown placeholder {{{sorted(extra)[0]}}} in the {lang} "
                                      f"text (the en text has {known})")
        out[key] = texts
    return out


def load_staff_texts(path: Path = TEXTS_FILE) -> dict[str, dict[str, str]]:
    """Every staff text, or StaffTextsError naming the file (and the key) for the first problem."""
    file = display_path(path)
    try:
        data = strict_yaml.load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise StaffTextsError(f"{file}: cannot read: {exc}") from exc
    return parse_staff_texts(file, data)


@functools.cache
def staff_texts() -> dict[str, dict[str, str]]:
    """The shipped file, read once per process (the server reads it at startup, see pages.setup)."""
    return load_staff_texts()
