"""Agent accounts in Redis: argon2id password hashes, roles, skills, capacity, disabled flag.

Hashing is deliberately slow (argon2 defaults), so it runs in a worker thread; a login for an
unknown user still hashes once, so response time does not reveal which usernames exist.
"""

from __future__ import annotations

import asyncio
import re
import time
import unicodedata
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chat_server.redis_store import RedisStore
from chat_server.redis_values import fields as redis_fields
from chat_server.redis_values import text, text_map

ROLES = ("agent", "supervisor", "content", "admin")
LANGUAGES = ("en", "es")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,39}$")
MIN_PASSWORD = 10

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password-just-for-timing")


class AccountError(ValueError):
    """Invalid account data (bad username, role, password ...); the message says what is wrong."""


@dataclass
class Account:
    username: str
    name: str
    roles: list[str] = field(default_factory=lambda: ["agent"])
    languages: list[str] = field(default_factory=lambda: ["en"])
    departments: list[str] = field(default_factory=lambda: ["*"])
    max_chats: int = 3
    disabled: bool = False
    created_at: float = 0.0

    def has_role(self, *roles: str) -> bool:
        """Admins can do everything a supervisor can, supervisors everything an agent can."""
        if "admin" in self.roles:
            return True
        if "supervisor" in self.roles and ("agent" in roles or "supervisor" in roles):
            return True
        return any(r in self.roles for r in roles)

    @property
    def takes_chats(self) -> bool:
        return "agent" in self.roles or "supervisor" in self.roles

    def public(self) -> dict[str, object]:
        return {"username": self.username, "name": self.name, "roles": self.roles, "languages": self.languages,
                "departments": self.departments, "max_chats": self.max_chats, "disabled": self.disabled}


def _split(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


def validate(account: Account) -> None:
    if not USERNAME.match(account.username):
        raise AccountError("username: 2-40 lowercase letters, digits, '.', '_' or '-', starting with a letter/digit")
    if not account.name.strip() or len(account.name) > 60:
        raise AccountError("name: 1-60 characters (residents see it when the agent joins)")
    if any(unicodedata.category(c).startswith("C") for c in account.name):
        # a bidi override made "Ana\u202eevil" read backwards to residents (probe U)
        raise AccountError("name: no control, invisible or text-direction characters (residents see it as written)")
    bad = [r for r in account.roles if r not in ROLES]
    if bad or not account.roles:
        raise AccountError(f"roles: choose from {', '.join(ROLES)}")
    bad = [lang for lang in account.languages if lang not in LANGUAGES]
    if bad or not account.languages:
        raise AccountError(f"languages: choose from {', '.join(LANGUAGES)}")
    if not account.departments or any(not re.match(r"^[a-z0-9_*]{1,40}$", d) for d in account.departments):
        raise AccountError("departments: lowercase names like streets,water or * for all")
    if not 0 <= account.max_chats <= 20:
        raise AccountError("max_chats: 0-20")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > 200:
        raise AccountError("password: at most 200 characters")


class AccountStore(RedisStore):
    def _key(self, username: str) -> str:
        return f"{self.prefix}agent:{username}"

    @property
    def _index(self) -> str:
        return f"{self.prefix}agents"

    async def create(self, account: Account, password: str) -> Account:
        validate(account)
        check_password(password)
        digest = await asyncio.to_thread(_hasher.hash, password)
        account.created_at = time.time()
        fields = self._fields(account)
        fields["pw_hash"] = digest
        # HSETNX on a marker field makes "create" refuse to overwrite an existing account.
        if not await self.redis.hsetnx(self._key(account.username), "username", account.username):
            raise AccountError(f"user {account.username!r} already exists")
        await self.redis.hset(self._key(account.username), mapping=redis_fields(fields))
        await self.redis.sadd(self._index, account.username)
        return account

    async def update(self, account: Account) -> None:
        validate(account)
        if not await self.redis.exists(self._key(account.username)):
            raise AccountError(f"no user {account.username!r}")
        await self.redis.hset(self._key(account.username), mapping=redis_fields(self._fields(account)))

    @staticmethod
    def _fields(account: Account) -> dict[str, str]:
        return {
            "username": account.username, "name": account.name.strip(), "roles": ",".join(account.roles),
            "languages": ",".join(account.languages), "departments": ",".join(account.departments),
            "max_chats": str(account.max_chats), "disabled": "1" if account.disabled else "0",
            "created_at": f"{account.created_at:.3f}",
        }

    async def get(self, username: str) -> Account | None:
        if not isinstance(username, str) or not USERNAME.match(username):
            return None
        raw = await self.redis.hgetall(self._key(username))
        if not raw or b"pw_hash" not in raw:
            return None
        f = text_map(raw)
        return Account(
            username=f["username"], name=f.get("name", username), roles=_split(f.get("roles", "agent")),
            languages=_split(f.get("languages", "en")), departments=_split(f.get("departments", "*")),
            max_chats=int(f.get("max_chats", "3")), disabled=f.get("disabled") == "1",
            created_at=float(f.get("created_at", "0")),
        )

    async def list(self) -> list[Account]:
        names = sorted(text(n) for n in await self.redis.smembers(self._index))
        accounts = [await self.get(n) for n in names]
        return [a for a in accounts if a is not None]

    async def set_password(self, username: str, password: str) -> None:
        check_password(password)
        if await self.get(username) is None:
            raise AccountError(f"no user {username!r}")
        digest = await asyncio.to_thread(_hasher.hash, password)
        await self.redis.hset(self._key(username), mapping={"pw_hash": digest,
                                                            "pw_changed_at": f"{time.time():.3f}"})

    async def set_disabled(self, username: str, disabled: bool) -> None:
        if await self.get(username) is None:
            raise AccountError(f"no user {username!r}")
        await self.redis.hset(self._key(username), "disabled", "1" if disabled else "0")

    async def verify(self, username: str, password: str) -> Account | None:
        """The account if the password matches and the account is enabled, else None."""
        account = await self.get(username) if isinstance(username, str) else None
        stored = await self.redis.hget(self._key(username), "pw_hash") if account else None
        digest = text(stored) if stored else _DUMMY_HASH
        try:
            await asyncio.to_thread(_hasher.verify, digest, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if account is None or account.disabled:
            return None
        if _hasher.check_needs_rehash(digest):
            await self.redis.hset(self._key(username), "pw_hash", await asyncio.to_thread(_hasher.hash, password))
        return account
