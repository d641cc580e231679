"""`chat311 metrics` (today's figures / live state) and `chat311 report` (any report, CSV for a range).

Both read the event log in the configured Redis (REDIS_URL, or the embedded server of a running
`chat311 run`), exactly like the dashboard does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from typing import Any

from redis.asyncio import Redis

from chat_server.commands import command, run_with_redis
from chat_server.config import Config
from chat_server.metrics.delivery import service_names
from chat_server.metrics.reader import MetricsReader
from chat_server.metrics.reports import REPORTS, csv_headings, dashboard, to_csv
from chat_server.staff_texts import LANGUAGES, staff_texts


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2025-01-31") from exc


def _configure_metrics(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the full dashboard document as JSON")


@command("metrics", "print today's service-level figures and the live queue (from the event log)")(
    _configure_metrics)
def _metrics(args: argparse.Namespace) -> int:
    async def run(config: Config, redis: Redis) -> dict[str, Any]:
        reader = MetricsReader.for_config(redis, config)
        agg = await reader.refresh(force=True)
        now = time.time()
        return dashboard(agg, reader.today(now), now, config.metrics.days, await reader.agents(),
                         config.metrics.service_level_target)

    doc = run_with_redis(args, run)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"date: {doc['date']}")
    for key, value in {**doc["live"], **doc["today"]}.items():
        print(f"  {key}: {value}")
    return 0


def _configure_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=REPORTS, help="which report")
    p.add_argument("--start", type=_date, help="first local date (default: 7 days ago for daily, else today)")
    p.add_argument("--end", type=_date, help="last local date (default: today)")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--headings", choices=("keys", "words"), default="keys",
                   help="CSV headings: the columns' keys (default, for scripts) or words, as the dashboard's export")
    p.add_argument("--lang", choices=LANGUAGES, default="en",
                   help="language of the headings in words and of service names")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


@command("report", "export a report (daily, hourly, intents, fallbacks, volumes, agents, kb_feedback, "
                   "time_to_close, closed_on_time, notifications, incidents) as CSV or JSON")(
    _configure_report)
def _report(args: argparse.Namespace) -> int:
    async def run(config: Config, redis: Redis) -> list[dict[str, Any]]:
        from chat_server.metrics.delivery_io import report_rows
        from chat_server.tickets.catalogue import load_catalogue
        from chat_server.tickets.store import TicketStore

        reader = MetricsReader.for_config(redis, config)
        end = args.end or reader.today()
        start = args.start or (end - timedelta(days=6 if args.name == "daily" else 0))
        if start > end:
            raise SystemExit("chat311: --start must not be after --end")
        catalogue = load_catalogue(config.resolve_path(config.tickets.catalogue))
        names = service_names(catalogue, args.lang, staff_texts())
        return await report_rows(reader, args.name, start, end, config.metrics.top_n,
                                 TicketStore(redis, config.redis.key_prefix), names)

    rows = run_with_redis(args, run)
    if args.format == "csv":
        text = to_csv(rows, csv_headings(rows, args.lang, staff_texts()) if args.headings == "words" else None)
    else:
        text = json.dumps(rows, indent=2) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        print(f"chat311: wrote {len(rows)} rows to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
