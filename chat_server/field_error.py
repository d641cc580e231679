"""The error of input refused field by field: pages show `message` next to the field it names."""

from __future__ import annotations


class FieldError(ValueError):
    """Refused input; `field` names what to fix and `message` says why (safe to show to staff)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
