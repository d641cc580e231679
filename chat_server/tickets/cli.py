"""`chat311 apikeys add NAME | list | revoke KEY_ID`: Open311 API keys for POST requests.

Talks to the configured Redis (REDIS_URL / redis.url, or the embedded server on
redis.embedded_port, which runs while `make run` does).
"""

from __future__ import annotations

import argparse
import os
import sys

from redis.asyncio import Redis

from chat_server.commands import redis_command, when_utc
from chat_server.config import Config
from chat_server.tickets.apikeys import ApiKeyStore, Scope


def _configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create a key (the key is printed once)")
    add.add_argument("name", help="who the key is for, e.g. 'city-app' or 'SeeClickFix'")
    add.add_argument("--scope", action="append", choices=[str(s) for s in Scope], default=[],
                     help="extra permission; read_private = contact details and transcripts in GET requests")
    sub.add_parser("list", help="list keys (ids and names, never the keys)")
    revoke = sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")


@redis_command("apikeys", "manage Open311 API keys: add NAME | list | revoke KEY_ID", _configure)
async def _apikeys_main(args: argparse.Namespace, config: Config, redis: Redis) -> int:
    store = ApiKeyStore(redis, config.redis.key_prefix)
    if args.action == "add":
        name = args.name.strip()
        if not name or len(name) > 100:
            sys.stderr.write("chat311: the key name must have 1 to 100 characters\n")
            return 2
        key, plain = await store.add(name, [Scope(s) for s in args.scope])
        print(f"key id: {key.key_id}\nname:   {key.name}\nscopes: {', '.join(key.scopes) or '-'}\n"
              f"api_key: {plain}")
        print("Store the api_key now: it is not shown again.", file=sys.stderr)
    elif args.action == "list":
        keys = await store.list()
        if not keys:
            print("no API keys")
        for key in keys:
            state = f"revoked {when_utc(key.revoked_at)}" if key.revoked_at else "active"
            scopes = ",".join(key.scopes) or "-"
            print(f"{key.key_id}  {key.name:<30}  {scopes:<12}  created {when_utc(key.created_at)}  {state}")
    else:
        if not await store.revoke(args.key_id):
            sys.stderr.write(f"chat311: no API key with id {args.key_id!r}\n")
            return 1
        print(f"revoked {args.key_id}")
    return 0


def _configure_tickets(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    show = sub.add_parser("show", help="print a ticket with its status history")
    show.add_argument("ticket_id")
    status = sub.add_parser("status", help="change a ticket's status (open, closed, acknowledged, in_progress, "
                                           "resolved, duplicate, cancelled, referred)")
    status.add_argument("ticket_id")
    status.add_argument("status")
    status.add_argument("--note", help="note for the resident (becomes the Open311 status_notes); the filer and "
                                       "followers are notified")
    note = sub.add_parser("note", help="add a note for the resident without changing the status (public: the "
                                       "filer and followers are told; personal data in it is masked), or with "
                                       "--internal one only staff read")
    note.add_argument("ticket_id")
    note.add_argument("text")
    note.add_argument("--internal", action="store_true", help="a staff-only note: not public, nobody is told")


@redis_command("tickets", "show a ticket, change its status or add a note (staff)", _configure_tickets)
async def _tickets_main(args: argparse.Namespace, config: Config, redis: Redis) -> int:

    from chat_server.events import EventBus
    from chat_server.status.changes import Source, TicketStatusService, notify_stream
    from chat_server.tickets.catalogue import TicketValidationError, load_catalogue
    from chat_server.tickets.service import TicketService, TicketTerms
    from chat_server.tickets.store import TicketStore, iso

    prefix = config.redis.key_prefix
    bus = EventBus(redis, prefix)
    store = TicketStore(redis, prefix)
    service = TicketService(store, load_catalogue(config.resolve_path(config.tickets.catalogue)), bus,
                            TicketTerms.from_config(config))
    try:
        # The same service as the console and the webhook; the running chat_server's outbox worker sends
        # the notifications (they wait in Redis while it is down).
        status = TicketStatusService(store, bus, notify_stream(prefix))
        actor = os.environ.get("USER") or "cli"
        change = None
        if args.action == "status":
            change = await status.change(args.ticket_id, args.status, args.note, Source.CLI, actor)
        elif args.action == "note" and args.internal:
            await service.add_staff_note(args.ticket_id, args.text, by=f"{Source.CLI}:{actor}")
        elif args.action == "note":
            change = await status.change(args.ticket_id, None, args.text, Source.CLI, actor)
        if change is not None and not change.applied:
            print("not applied: nothing new (the status and note are the latest ones); nobody is told again")
    except TicketValidationError as exc:
        sys.stderr.write(f"chat311: {exc.description}\n")
        return 1
    ticket = await service.get(args.ticket_id)
    if ticket is None:
        sys.stderr.write(f"chat311: no ticket {args.ticket_id!r}\n")
        return 1
    tz = service.terms.timezone
    print(f"{ticket.id}  {ticket.service_code}  {ticket.status} ({ticket.sub_status})")
    print(f"requested {iso(ticket.requested_at, tz)}  source {ticket.source}  channel {ticket.channel}")
    if ticket.upstream_id:
        print(f"upstream {ticket.upstream_id} ({ticket.upstream_state})")
    for code, value in ticket.attributes.items():  # what the resident answered (a plate, which cart; probe AJ)
        print(f"  {code}: {', '.join(value) if isinstance(value, list) else value}")
    for entry in ticket.history:
        note = f" — {entry.note}" if entry.note else ""
        note += "" if entry.public else "  (staff only)"
        print(f"  {iso(entry.ts, tz)}  {entry.status}/{entry.sub_status}  by {entry.by}{note}")
    return 0
