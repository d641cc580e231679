"""The one shape of a refused request that a client is told about: a `code` programs branch on and a
`message` people read. The console's actions and search, the resident socket's checks and the
payload parser all refuse this way, so every client gets the same `{"code", "message"}` object."""

from __future__ import annotations


class Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
