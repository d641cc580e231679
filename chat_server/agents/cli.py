"""`chat311 users add|list|disable|enable|passwd` and `chat311 hours status|open|close|clear`.

Passwords are read from the terminal (no echo) or, for scripts, from stdin with
`--password-stdin`; never from the command line, where they would land in shell history.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from datetime import UTC, datetime

from redis.asyncio import Redis

from chat_server.agents.accounts import ROLES, Account, AccountError, AccountStore
from chat_server.agents.auth import AuditLog, SessionStore
from chat_server.agents.hours import Schedule
from chat_server.agents.override import HoursOverrides, OverrideError, parse_override
from chat_server.agents.routing_store import RoutingStore
from chat_server.commands import redis_command
from chat_server.config import Config


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise AccountError("passwords do not match")
    return first


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _configure_users(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="display name residents see")
    add.add_argument("--role", action="append", choices=ROLES, help="repeatable; default agent")
    add.add_argument("--languages", default="en", help="comma list of en,es (default en)")
    add.add_argument("--departments", default="*", help="comma list, * = all (default)")
    add.add_argument("--max-chats", type=int, default=3)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    sub.add_parser("list", help="list accounts")
    for name, helptext in (("disable", "disable an account (logs it out)"), ("enable", "re-enable an account")):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("username")
    pw = sub.add_parser("passwd", help="set a new password (logs the user out everywhere)")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    ed = sub.add_parser("update", help="change name, roles, skills or capacity")
    ed.add_argument("username")
    ed.add_argument("--name")
    ed.add_argument("--role", action="append", choices=ROLES)
    ed.add_argument("--languages")
    ed.add_argument("--departments")
    ed.add_argument("--max-chats", type=int)


@redis_command("users", "manage agent console accounts (add, list, disable, enable, passwd, update)",
               _configure_users)
async def _users(args: argparse.Namespace, config: Config, redis: Redis) -> int:
    prefix = config.redis.key_prefix
    store, sessions, audit = AccountStore(redis, prefix), SessionStore(redis, prefix, 1), AuditLog(redis, prefix)
    try:
        if args.action == "add":
            account = Account(args.username, args.name, args.role or ["agent"], _csv(args.languages),
                              _csv(args.departments), args.max_chats)
            await store.create(account, _read_password(args))
            await audit.record("cli", "user_add", username=args.username, roles=account.roles)
            print(f"created {args.username}")
        elif args.action == "list":
            print(f"{'USERNAME':20} {'NAME':24} {'ROLES':22} {'LANG':6} {'DEPTS':20} MAX  STATUS")
            for a in await store.list():
                print(f"{a.username:20} {a.name[:24]:24} {','.join(a.roles):22} {','.join(a.languages):6} "
                      f"{','.join(a.departments)[:20]:20} {a.max_chats:<4} {'disabled' if a.disabled else 'active'}")
        elif args.action in ("disable", "enable"):
            await store.set_disabled(args.username, args.action == "disable")
            if args.action == "disable":
                await sessions.delete_all(args.username)
            await audit.record("cli", f"user_{args.action}", username=args.username)
            print(f"{args.action}d {args.username}")
        elif args.action == "passwd":
            await store.set_password(args.username, _read_password(args))
            await sessions.delete_all(args.username)
            await audit.record("cli", "user_passwd", username=args.username)
            print(f"password changed for {args.username}")
        elif args.action == "update":
            existing = await store.get(args.username)
            if existing is None:
                raise AccountError(f"no user {args.username!r}")
            existing.name = args.name or existing.name
            existing.roles = args.role or existing.roles
            existing.languages = _csv(args.languages) if args.languages else existing.languages
            existing.departments = _csv(args.departments) if args.departments else existing.departments
            existing.max_chats = existing.max_chats if args.max_chats is None else args.max_chats
            await store.update(existing)
            await audit.record("cli", "user_update", username=args.username)
            print(f"updated {args.username}")
        return 0
    except AccountError as exc:
        sys.stderr.write(f"chat311 users: {exc}\n")
        return 2


def _configure_hours(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("status", help="is the chat line open now?")
    for name in ("open", "close"):
        sp = sub.add_parser(name, help=f"force the line {name} (emergency override)")
        sp.add_argument("--minutes", type=float, required=True, help="1 to 4320 (72 hours)")
        sp.add_argument("--reason", default="", help="why (shown to supervisors and in the audit log)")
    sub.add_parser("clear", help="remove the emergency override")


@redis_command("hours", "staffed hours: status, or an emergency override (open/close/clear)", _configure_hours)
async def _hours(args: argparse.Namespace, config: Config, redis: Redis) -> int:
    routing = RoutingStore(redis, config.redis.key_prefix)
    now = time.time()
    if args.action != "status":
        try:
            request = parse_override(args.action, getattr(args, "minutes", None), getattr(args, "reason", ""))
        except OverrideError as exc:
            print(f"chat311 hours: {exc}", file=sys.stderr)
            return 2
        now = await HoursOverrides(routing, AuditLog(redis, config.redis.key_prefix)).apply(request, "cli")
    status = Schedule(config.hours).status(datetime.fromtimestamp(now, UTC), await routing.hours_override())
    print(f"open={status.open} accepting={status.accepting} override={status.override} "
          f"closes_at={status.closes_at} next_open={status.next_open}")
    return 0
