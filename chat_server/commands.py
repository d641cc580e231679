"""The registry of `chat311` sub-commands, apart from the top-level CLI that dispatches them.

Feature packages register their commands here (`@command(name, help)(configure)` on the run
function) and load the configuration with `load_for_command`; the top-level `chat_server.cli` imports
them and builds the parser. Keeping the registry here means no feature module imports the CLI
that imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from chat_server import redis_connect, texts
from chat_server.config import Config, ConfigError, load_config
from chat_server.logsetup import setup_logging
from chat_server.redaction import keep_public_number

Configure = Callable[[argparse.ArgumentParser], object]  # what it returns is ignored (add_argument gives an Action)
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, Configure, Run]] = {}
T = TypeVar("T")


def command(name: str, help_text: str) -> Callable[[Configure], Callable[[Run], Run]]:
    def wrap_configure(configure: Configure) -> Callable[[Run], Run]:
        def wrap_run(run: Run) -> Run:
            COMMANDS[name] = (help_text, configure, run)
            return run
        return wrap_run
    return wrap_configure


def redis_command(name: str, help_text: str, configure: Configure,
                  ) -> Callable[[Callable[[argparse.Namespace, Config, Redis], Awaitable[int]]], Run]:
    """Register `main(args, config, redis)` as a sub-command that works on the running service's Redis
    (`run_with_redis`): most sub-commands that read or change the service's state are of this kind."""
    def wrap(main: Callable[[argparse.Namespace, Config, Redis], Awaitable[int]]) -> Run:
        def run(args: argparse.Namespace) -> int:
            return run_with_redis(args, lambda config, redis: main(args, config, redis))
        command(name, help_text)(configure)(run)
        return run
    return wrap


def load_for_command(args: argparse.Namespace) -> Config:
    """The configuration named by --config (or the default), with logging set up; exit 2 if invalid."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"chat311: invalid configuration: {exc}\n")
        raise SystemExit(2) from exc
    setup_logging(config.logging.level, config.logging.json)
    texts.use_config(config)
    keep_public_number(config.contact.phone_311)
    return config


def run_with_redis(args: argparse.Namespace, work: Callable[[Config, Redis], Awaitable[T]], **options: Any) -> T:
    """Load the configuration (exit 2 if invalid) and run `work` with it and a client of the service's
    Redis (redis.url, or the embedded one `chat311 run` starts), closed afterwards: what every command
    that reads or changes the running service's state does. When that Redis cannot be reached, exit 1
    after saying so and what to do, rather than with a connection traceback."""
    config = load_for_command(args)
    url = config.redis.effective_url()

    async def run() -> T:
        redis = redis_connect.async_client(url, **{"socket_connect_timeout": 3, **options})
        try:
            try:
                await redis.ping()
            except (RedisConnectionError, OSError):
                sys.stderr.write(f"chat311: cannot reach Redis at {redis_connect.describe(url)}. "
                                 "Start the service first (`make run`), or set REDIS_URL.\n")
                raise SystemExit(1) from None
            return await work(config, redis)
        finally:
            await redis.aclose()

    return asyncio.run(run())


def when_utc(ts: float | None) -> str:
    """A stored timestamp as commands print it (UTC, to the minute); "-" for none."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "-"
