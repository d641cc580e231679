"""What chat_server says to residents: the copy in chat_server/resident_texts/<language>.yml.

Content staff edit the YAML, not Python. The files are checked when this module is imported (at
startup): every language has the same keys, each translation has the same {placeholders} as the
English one, and the days of the week are all there; an error names the file and the key. The
`bot` section is the Rasa action server's copy (bot/actions/texts.py reads the same files).

`{phone_311}` and `{staffed_hours}` are not written in the copy: they come from config
(`contact.phone_311`, `hours.weekly`), so the number and the hours residents are told are the ones
the city configured. `use_config` sets them; until then the config defaults apply.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chat_server import strict_yaml
from chat_server.config import Config, display_path
from chat_server.sanitize import fold

TEXTS_DIR = Path(__file__).resolve().parent / "resident_texts"
LANGUAGES = ("en", "es")
SECTIONS = ("server", "bot")
# Filled in from config for every server text; the bot cannot fill them (it has no chat_server config).
CONFIG_VALUES = ("phone_311", "staffed_hours")


class TextsError(ValueError):
    """The resident copy is invalid; the message names the file and the key."""

    def __init__(self, file: str, field: str, message: str) -> None:
        super().__init__(f"{file}: {field}: {message}")


@dataclass(frozen=True)
class ResidentTexts:
    sections: Mapping[str, Mapping[str, Mapping[str, str]]]  # section → key → language → template
    days: Mapping[str, tuple[str, ...]]  # language → Monday … Sunday


def _placeholders(file: str, field: str, template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise TextsError(file, field, f"bad {{placeholder}}: {exc} (write {{{{ for a literal brace)") from exc


def _parse(file: str, data: object) -> tuple[dict[str, dict[str, str]], tuple[str, ...]]:
    if not isinstance(data, dict):
        raise TextsError(file, "(file)", f"must be a mapping with {', '.join(('days', *SECTIONS))}")
    days = data.get("days")
    if not isinstance(days, list) or len(days) != 7 or not all(isinstance(d, str) and d.strip() for d in days):
        raise TextsError(file, "days", "must list the 7 day names, Monday first")
    sections: dict[str, dict[str, str]] = {}
    for section in SECTIONS:
        entries = data.get(section)
        if not isinstance(entries, dict) or not entries:
            raise TextsError(file, section, "must be a mapping key → text")
        for key, value in entries.items():
            if not isinstance(value, str) or not value.strip():
                raise TextsError(file, f"{section}.{key}", "must be a non-empty text")
        sections[section] = {str(k): v for k, v in entries.items()}
    return sections, tuple(days)


def load_texts(directory: Path = TEXTS_DIR) -> ResidentTexts:
    parsed = {}
    for lang in LANGUAGES:
        path = directory / f"{lang}.yml"
        try:
            data = strict_yaml.load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise TextsError(display_path(path), "(file)", f"cannot read: {exc}") from exc
        parsed[lang] = (display_path(path), *_parse(display_path(path), data))
    en_file, en_sections, _ = parsed[LANGUAGES[0]]
    merged: dict[str, dict[str, dict[str, str]]] = {s: {} for s in SECTIONS}
    for lang, (file, sections, _) in parsed.items():
        for section in SECTIONS:
            for key in en_sections[section].keys() - sections[section].keys():
                raise TextsError(file, f"{section}.{key}", f"missing ({en_file} has it)")
            for key in sections[section].keys() - en_sections[section].keys():
                raise TextsError(file, f"{section}.{key}", f"not in {en_file}; add it there first")
            for key, template in sections[section].items():
                field = f"{section}.{key}"
                names = _placeholders(file, field, template)
                expected = _placeholders(en_file, field, en_sections[section][key])
                if names != expected:
                    raise TextsError(file, field, f"placeholders {sorted(names)} differ from {en_file}'s "
                                                  f"{sorted(expected)}")
                if section == "bot" and names & set(CONFIG_VALUES):
                    raise TextsError(file, field, f"the bot cannot fill {{{', '.join(CONFIG_VALUES)}}}")
                merged[section].setdefault(key, {})[lang] = template
    return ResidentTexts(merged, {lang: days for lang, (_, _, days) in parsed.items()})


def _time(hhmm: str, lang: str) -> str:
    hour, minute = (int(part) for part in hhmm.split(":"))
    if lang == "es" and hour in (0, 24) and minute == 0:
        return "medianoche"
    if hour in (0, 24) and minute == 0:
        return "midnight"
    suffix = "am" if hour < 12 else "pm"
    hour = hour % 12 or 12
    return f"{hour} {suffix}" if minute == 0 else f"{hour}:{minute:02d} {suffix}"


def describe_week(weekly: Mapping[str, list[str]], lang: str, days: tuple[str, ...]) -> str:
    """The staffed hours as residents read them: "Monday–Friday 7 am–7 pm" / "de lunes a viernes de
    7 am a 7 pm"; consecutive days with the same windows are grouped."""
    order = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    groups: list[tuple[int, int, tuple[str, ...]]] = []
    for i, day in enumerate(order):
        windows = tuple(weekly.get(day, ()))
        if not windows:
            continue
        if groups and groups[-1][1] == i - 1 and groups[-1][2] == windows:
            groups[-1] = (groups[-1][0], i, windows)
        else:
            groups.append((i, i, windows))
    if not groups:
        return "sin horario de atención" if lang == "es" else "no staffed hours"
    parts = []
    for first, last, windows in groups:
        spans = [tuple(_time(t, lang) for t in window.split("-")) for window in windows]
        if lang == "es":
            when = f"de {days[first]} a {days[last]}" if last > first else \
                f"los {days[first]}" + ("" if days[first].endswith("s") else "s")
            parts.append(f"{when} " + " y ".join(f"de {a} a {b}" for a, b in spans))
        else:
            when = f"{days[first]}–{days[last]}" if last > first else days[first]
            parts.append(f"{when} " + " and ".join(f"{a}–{b}" for a, b in spans))
    return "; ".join(parts)


COPY = load_texts()
TEXTS: Mapping[str, Mapping[str, str]] = COPY.sections["server"]
_values: dict[str, dict[str, str]] = {}


def use_config(config: Config) -> None:
    """Take the phone number and the staffed hours residents are told from `config`."""
    for lang in LANGUAGES:
        _values[lang] = {"phone_311": config.contact.phone_311,
                         "staffed_hours": describe_week(config.hours.weekly, lang, COPY.days[lang])}


def day_names(language: str) -> tuple[str, ...]:
    return COPY.days.get(language) or COPY.days[LANGUAGES[0]]


class _KeepMissing(dict[str, Any]):
    """A placeholder the caller did not fill stays as written rather than failing the whole reply."""

    def __missing__(self, key: str) -> str:
        return f"{{{key}}}"


def text(key: str, language: str, **fmt: Any) -> str:
    entry = TEXTS[key]
    lang = language if language in entry else LANGUAGES[0]
    return entry[lang].format_map(_KeepMissing(_values[lang], **fmt))


def sentence(said: str) -> str:
    """Staff words with a full stop, where more follows them ("Crew scheduled for Tuesday. Expected …")."""
    said = said.rstrip()
    return said if not said or said[-1] in ".!?…" else f"{said}."


def button_for(said: str, buttons: Mapping[str, str]) -> str | None:
    """The payload of the button (copy key → payload) whose title, in any language, `said` is: a title typed,
    or sent by a client that sends titles instead of payloads ("Llámenme", "Agregar mis detalles")."""
    folded = fold(said)
    return next((payload for key, payload in buttons.items()
                 if folded and any(folded == fold(text(key, lang)) for lang in LANGUAGES)), None)


use_config(Config())
