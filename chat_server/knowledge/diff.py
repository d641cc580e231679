"""Field-by-field difference between two versions of an article (the content page's history view).

Staff think in fields ("the Spanish answer changed"), not in YAML lines, so the diff is one row
per changed field; for question lists it also says which questions were added and removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chat_server.knowledge.articles import LANGUAGES, OPTIONAL, REQUIRED

_LOCALIZED = ("title", "answer", "details", "questions")


@dataclass(frozen=True)
class FieldChange:
    field: str  # e.g. answer.es, questions.en
    before: str | list[str] | None
    after: str | list[str] | None
    added: tuple[str, ...] = ()  # list fields only
    removed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "before": self.before, "after": self.after}
        if isinstance(self.before, list) or isinstance(self.after, list):
            out["added"], out["removed"] = list(self.added), list(self.removed)
        return out


def _fields(data: dict[str, Any] | None) -> dict[str, Any]:
    data = data or {}
    out: dict[str, Any] = {}
    for name in (*REQUIRED, *OPTIONAL):
        value = data.get(name)
        if name in _LOCALIZED:
            for lang in LANGUAGES:
                item = value.get(lang) if isinstance(value, dict) else None
                out[f"{name}.{lang}"] = list(item) if isinstance(item, list | tuple) else item
        else:
            out[name] = None if value is None else str(value)
    return out


def diff_articles(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[FieldChange]:
    """Changed fields in the article's field order (None on either side: no article, e.g. retired)."""
    old, new = _fields(before), _fields(after)
    changes = []
    for name in new:
        a, b = old[name], new[name]
        if a == b:
            continue
        if isinstance(a, list) or isinstance(b, list):
            a_list, b_list = a or [], b or []
            changes.append(FieldChange(name, a, b, tuple(q for q in b_list if q not in a_list),
                                       tuple(q for q in a_list if q not in b_list)))
        else:
            changes.append(FieldChange(name, a, b))
    return changes
