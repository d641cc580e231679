"""`chat311 apptokens add|list|revoke`: tokens for the mobile-app API (see docs/channels.md)."""

from __future__ import annotations

import argparse
import sys

from redis.asyncio import Redis

from chat_server.commands import command, run_with_redis, when_utc
from chat_server.config import Config


def _configure_apptokens(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="issue a token for an app (printed once)")
    add.add_argument("name", help="which app, e.g. 'CLT+ iOS'")
    add.add_argument("--webhook-url", default="", help="POST new messages here (signed, see docs/channels.md)")
    sub.add_parser("list", help="list app tokens (ids, names, webhooks; never the tokens)")
    revoke = sub.add_parser("revoke", help="revoke an app token by its id")
    revoke.add_argument("app_id")


@command("apptokens", "manage mobile-app API tokens (add, list, revoke)")(_configure_apptokens)
def _apptokens(args: argparse.Namespace) -> int:
    from chat_server.channels.apptokens import AppTokenStore

    async def run(config: Config, redis: Redis) -> int:
        store = AppTokenStore(redis, config.redis.key_prefix)
        if args.action == "add":
            try:
                token, plain = await store.add(args.name, args.webhook_url)
            except ValueError as exc:
                sys.stderr.write(f"chat311: {exc}\n")
                return 2
            print(f"app id:   {token.app_id}")
            print(f"token:    {plain}")
            if token.webhook_secret:
                print(f"webhook:  {token.webhook_url}")
                print(f"secret:   {token.webhook_secret}")
            print("Store the token (and webhook secret) now: they are not shown again.")
            return 0
        if args.action == "list":
            for t in await store.list():
                state = f"revoked {when_utc(t.revoked_at)}" if t.revoked_at else "active"
                print(f"{t.app_id}  {t.name!r:30}  created {when_utc(t.created_at)}  {state}  "
                      f"webhook={t.webhook_url or '-'}")
            return 0
        if await store.revoke(args.app_id):
            print(f"revoked {args.app_id}")
            return 0
        sys.stderr.write(f"chat311: no app token with id {args.app_id}\n")
        return 1

    return run_with_redis(args, run)
