"""The one shape of a refused request that a client is told about: a `code` programs branch on, a
`message` people read, and the `field` at fault where there is one. The console's actions and search, the
resident socket's checks and the payload parser all refuse this way, so every client gets the same
`{"code", "message"}` object."""

from __future__ import annotations


class Refusal(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field  # the input at fault, when one is: a form shows it there

    def as_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out
