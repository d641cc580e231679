"""When an evaluation row is a (near-)copy of something the system was given, it measures memory, not
generalisation. The held-out NLU files are checked against Rasa's training examples, the knowledge-base
evaluation files against the articles' sample questions, with this one rule.

Near-copy = equal after case and punctuation folding, or difflib ratio >= 0.85, or token Jaccard
>= 0.8 (on the folded texts).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

RATIO = 0.85
JACCARD = 0.8
ENTITY = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")


def fold(text: str) -> str:
    """Casefolded, punctuation removed, whitespace collapsed (accents kept: they are spelling)."""
    text = ENTITY.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)
    kept = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text.casefold())
    return " ".join(kept.split())


def near_duplicate(a: str, b: str) -> bool:
    """a, b folded. Cheap upper bounds first: difflib's ratio is the slow part."""
    if a == b:
        return True
    ta, tb = set(a.split()), set(b.split())
    if ta and tb and len(ta & tb) / len(ta | tb) >= JACCARD:
        return True
    if 2 * min(len(a), len(b)) < RATIO * (len(a) + len(b)):  # difflib's length bound (real_quick_ratio)
        return False
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return matcher.quick_ratio() >= RATIO and matcher.ratio() >= RATIO


def copies_any(text: str, folded: Iterable[str]) -> bool:
    """Whether raw `text` is a near-copy of any of the already folded texts (`text` is folded once)."""
    own = fold(text)
    return any(near_duplicate(own, other) for other in folded)
