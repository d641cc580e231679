"""Field-by-field difference between two versions of an article (the content page's history view), and the
three-way merge of an article file changed after staff edited the article on the page.

Staff think in fields ("the Spanish answer changed"), not in YAML lines, so the diff is one row
per changed field; for question lists it also says which questions were added and removed, and for
texts which words: a one-word change in a 300-character answer showed two full texts to compare by eye.
"""

from __future__ import annotations

import difflib
import re
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
    words: tuple[tuple[str, str], ...] = ()  # text fields: (op, text) runs, op "=" kept, "-" removed, "+" added

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "before": self.before, "after": self.after}
        if isinstance(self.before, list) or isinstance(self.after, list):
            out["added"], out["removed"] = list(self.added), list(self.removed)
        if self.words:
            out["words"] = [list(run) for run in self.words]
        return out


def word_changes(before: str, after: str) -> tuple[tuple[str, str], ...]:
    """The runs of words (with the spaces between them) kept, removed and added from `before` to `after`."""
    old, new = re.findall(r"\S+|\s+", before), re.findall(r"\S+|\s+", after)
    runs: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            runs.append(("=", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("-", "".join(old[i1:i2])))
        if j2 > j1:
            runs.append(("+", "".join(new[j1:j2])))
    return tuple(runs)


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
        elif isinstance(a, str) and isinstance(b, str):
            changes.append(FieldChange(name, a, b, words=word_changes(a, b)))
        else:
            changes.append(FieldChange(name, a, b))
    return changes


def merge_fields(base: dict[str, Any], ours: dict[str, Any],
                 theirs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`ours` (staff's published version) with what `theirs` (the article's file) changed since `base` (the file as
    last loaded), field by field; where both changed a field differently, ours stays and the field is listed.

    A file changed in git after staff edited the article replaced their edits at the next start, without a word:
    a corrected phone option and link went back to the wrong ones (probe AA)."""
    old, mine, new = _fields(base), _fields(ours), _fields(theirs)
    merged, conflicts = dict(mine), []
    for name in mine:
        if new[name] == old[name] or new[name] == mine[name]:
            continue  # the file did not change it, or changed it the way staff did
        if mine[name] == old[name]:
            merged[name] = new[name]
        else:
            conflicts.append(name)
    return _unflatten(merged), conflicts


def _unflatten(fields: dict[str, Any]) -> dict[str, Any]:
    """The article mapping of `_fields`' flat one (optional fields left out when empty)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        field, _, lang = name.partition(".")
        if lang:
            out.setdefault(field, {})[lang] = value
        elif value is not None:
            out[field] = value
    return {k: v for k, v in out.items() if not (isinstance(v, dict) and all(x is None for x in v.values()))}
