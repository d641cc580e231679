"""`chat311 training inbox|labels|label|dismiss|train|publish|rollback|status` — the training page's CLI twin.

Uses the same Redis (inbox, job lock, publish history) and the same training data directory
(`training.data_dir`) as the running service, so the page and the CLI never train at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from chat_server.commands import command, load_for_command


def _configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    inbox = sub.add_parser("inbox", help="list messages the bot did not understand or was unsure about")
    inbox.add_argument("--json", action="store_true")
    label = sub.add_parser("label", help="add an inbox message (or --text) as an example of an existing label")
    label.add_argument("item", nargs="?", help="inbox item id")
    label.add_argument("label", help="an intent, e.g. faq or report_pothole (answers are knowledge-base articles)")
    label.add_argument("--text", help="an example text instead of an inbox item")
    label.add_argument("--language", choices=("en", "es"))
    dismiss = sub.add_parser("dismiss", help="remove an inbox message without labelling it")
    dismiss.add_argument("item")
    sub.add_parser("labels", help="list the labels examples can be added to")
    sub.add_parser("train", help="train & test a new model from the training data (does not publish)")
    publish = sub.add_parser("publish", help="hot-swap the last trained model (or MODEL) into every Rasa server")
    publish.add_argument("model", nargs="?")
    sub.add_parser("rollback", help="serve the model the last publish replaced")
    sub.add_parser("status", help="the last training job, the served model and the publish history")


def _report_servers(entry: dict[str, Any]) -> int:
    """Name every Rasa server that did not take the model; exit 1 then (it still serves the old one)."""
    failed = [s for s in entry.get("servers", []) if not s["ok"]]
    for server in failed:
        print(f"chat311: {server['url']} did not load it: {server['error']}", file=sys.stderr)
    return 1 if failed else 0


async def _main(args: argparse.Namespace) -> int:
    from chat_server import redis_connect
    from chat_server.training.data import DataError, TrainingData
    from chat_server.training.inbox import Inbox
    from chat_server.training.jobs import Busy, PublishError, TrainingJobs

    config = args.loaded_config
    redis = redis_connect.async_client(config.redis.effective_url())
    jobs = TrainingJobs(redis, config)
    data = TrainingData(jobs.data_dir, config.resolve_path("var"))
    inbox = Inbox(redis, config.redis.key_prefix, config.training.inbox_max)
    by = "cli"
    try:
        if args.action == "inbox":
            items = await inbox.open_items()
            if args.json:
                print(json.dumps([i.public() for i in items], indent=2, ensure_ascii=False))
            for i in items if not args.json else []:
                why = "fallback" if i.kind == "fallback" else f"unsure {i.predicted} {i.confidence:.2f}"
                print(f"{i.id}  {i.count:>3}×  {i.language}  [{why}]  {i.text}")
            return 0
        if args.action == "labels":
            print("\n".join(data.labels()))
            return 0
        if args.action == "label":
            item = await inbox.get(args.item) if args.item else None
            if args.item and item is None:
                raise DataError(f"no inbox item {args.item}")
            text = args.text or (item.text if item else "")
            language = args.language or (item.language if item else "en")
            path = data.add_example(args.label, text, language)
            if item:
                await inbox.resolve(item.id, "labelled", args.label, by)
            print(f"chat311: added to {args.label} in {path.name}")
            return 0
        if args.action == "dismiss":
            await inbox.resolve(args.item, "dismissed", "", by)
            return 0
        if args.action == "train":
            await jobs.start(by)
            last = ""
            while True:
                job = await jobs.job()
                line = f"{job['status']}: {job.get('stage', '')} {job.get('progress', 0):.0f}%"
                if line != last:
                    print(line, flush=True)
                    last = line
                if job["status"] != "running":
                    break
                await asyncio.sleep(1)
            await jobs.wait()
            print(json.dumps({k: job.get(k) for k in ("model_file", "before", "after", "message")}, indent=2))
            return 0 if job["status"] == "done" else 1
        if args.action == "publish":
            entry = await jobs.publish(by, args.model)
            print(f"chat311: serving {entry['model_file']} (previous: {entry['previous']})")
            return _report_servers(entry)
        if args.action == "rollback":
            entry = await jobs.rollback(by)
            print(f"chat311: serving {entry['model_file']} again")
            return _report_servers(entry)
        if args.action == "status":
            out: dict[str, Any] = {"job": await jobs.job(), "history": await jobs.history(5)}
            out["servers"] = await jobs.servers_status()
            out["served"] = next((s["model_file"] for s in out["servers"] if s["ok"]),
                                 "unknown (no Rasa server answers)")
            print(json.dumps(out, indent=2, default=str))
            return 0
    except (DataError, Busy, PublishError) as exc:
        print(f"chat311: {exc}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()
    return 2


@command("training", "content staff: inbox, label, train, publish, rollback")(_configure)
def _training(args: argparse.Namespace) -> int:
    args.loaded_config = load_for_command(args)
    started = time.monotonic()
    code = asyncio.run(_main(args))
    if args.action == "train":
        print(f"chat311: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return code
