"""App tokens for the mobile-app API (`chat311 apptokens add|list|revoke`).

Tokens look like `c311app_<app_id>_<secret>` and are stored hashed (chat_server/hashed_tokens.py);
the app id is what `list` shows and `revoke` takes.

An app may register a webhook URL: new bot/agent messages and status events are POSTed there,
signed with the app's webhook secret (HMAC-SHA256), which must be readable to sign, so it is
kept as is; it is shown once too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from chat_server.hashed_tokens import HashedTokenStore, IssuedToken


@dataclass(kw_only=True)
class AppToken(IssuedToken):
    app_id: str
    webhook_url: str = ""
    webhook_secret: str = ""


class AppTokenStore(HashedTokenStore[AppToken]):
    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__(redis, f"{prefix}apptokens", "c311app", "app_id", AppToken)

    async def add(self, name: str, webhook_url: str = "") -> tuple[AppToken, str]:
        if webhook_url and not webhook_url.startswith(("https://", "http://")):
            raise ValueError("webhook URL must start with https:// (or http:// for local testing)")
        secret = f"whsec_{secrets.token_urlsafe(24)}" if webhook_url else ""
        return await self.issue({"name": name, "webhook_url": webhook_url, "webhook_secret": secret})
