"""The range checks config sections' `validate()` methods share (pure).

Each section says which of its settings must be positive, at least N or within a range; the
check and the wording of its error live here once, so every section words the same rule the same
way. A failed check raises ValueError naming the setting; `config.load_config` puts the section
and the file in front of it.
"""

from __future__ import annotations


def _note(why: str) -> str:
    return f" ({why})" if why else ""


def positive(section: object, *names: str) -> None:
    """Intervals, timeouts and sizes: 0 or less would spin, never wait or refuse everything."""
    for name in names:
        if getattr(section, name) <= 0:
            raise ValueError(f"{name} must be positive")


def not_negative(section: object, *names: str, why: str = "") -> None:
    for name in names:
        if getattr(section, name) < 0:
            raise ValueError(f"{name} must not be negative{_note(why)}")


def at_least(section: object, low: int, *names: str) -> None:
    for name in names:
        if getattr(section, name) < low:
            raise ValueError(f"{name} must be at least {low}")


def between(section: object, name: str, low: float, high: float, why: str = "") -> None:
    """`low` ≤ value ≤ `high`; `why` says where the bounds come from when that is not obvious."""
    if not low <= getattr(section, name) <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}{_note(why)}")
