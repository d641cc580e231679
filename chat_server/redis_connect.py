"""The one place that turns a configured Redis URL into clients, Sentinel URLs included.

Why: a city running Redis with replicas points `redis.url` at its Sentinels, and every part of
chat_server (app, outboxes, Socket.IO manager, CLIs, Rasa's stores) must then follow the master
through a failover. Building clients in one place means a new URL form is understood everywhere.

URL forms: `redis://`, `rediss://`, `unix://` (passed to redis-py as they are), and
`redis+sentinel://[[user]:password@]host1:port1,host2:port2/db/master_name` (the form
python-socketio's Redis manager parses, so the Socket.IO manager is given the same URL). The
password is the master's; the Sentinels are asked without one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse

import redis
import redis.sentinel
from redis import asyncio as aioredis
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

SENTINEL_SCHEME = "redis+sentinel"
PLAIN_SCHEMES = ("redis", "rediss", "unix")
PING_TIMEOUT_S = 1.0


class RedisUnreachable(RuntimeError):
    """Redis (or its Sentinels) cannot serve us; the message names what is wrong."""


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    def describe(self) -> str:
        """For errors and logs: the master's name and the Sentinels, never the password."""
        return f"master {self.master!r} via Sentinels {', '.join(f'{h}:{p}' for h, p in self.sentinels)}"

    def master_options(self) -> dict[str, Any]:
        return {"db": self.db, "username": self.username, "password": self.password}


def sentinel_target(url: str) -> SentinelTarget | None:
    """The Sentinel settings of a `redis+sentinel://` URL, None for a plain URL.

    Raises ValueError on a URL no client could use (bad input is refused at config load)."""
    parsed = urlparse(url)
    if parsed.scheme in PLAIN_SCHEMES:
        return None
    if parsed.scheme != SENTINEL_SCHEME:
        raise ValueError(f"unsupported Redis URL scheme {parsed.scheme!r}; use redis://, rediss://, "
                         f"unix:// or {SENTINEL_SCHEME}://host1:port1,host2:port2/db/master_name")
    hosts = parsed.netloc.rsplit("@", 1)[-1]
    sentinels = []
    for item in hosts.split(","):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"Sentinel address {item!r} must be host:port")
        sentinels.append((host, int(port)))
    parts = parsed.path.split("/")
    db, master = (parts[1] if len(parts) > 1 else ""), (parts[2] if len(parts) > 2 else "")
    if not master:
        raise ValueError("a Sentinel URL names its master after the database: "
                         f"{SENTINEL_SCHEME}://host:port/0/master_name")
    if db and not db.isdigit():
        raise ValueError(f"Sentinel URL database {db!r} must be a number")
    return SentinelTarget(tuple(sentinels), master, int(db or 0), parsed.username or None, parsed.password or None)


def validate(url: str) -> None:
    """Refuse a URL no client could use (config load calls this)."""
    if url:
        sentinel_target(url)


def with_db(url: str, db: int) -> str:
    """The same server (or Sentinel master) with another database number (Rasa's trackers are in 1)."""
    parsed = urlparse(url)
    target = sentinel_target(url)
    if target is not None:
        return parsed._replace(path=f"/{db}/{quote(target.master)}").geturl()
    return parsed._replace(path=f"/{db}").geturl()


def describe(url: str) -> str:
    """The URL without its password, for startup lines and errors."""
    target = sentinel_target(url)
    return target.describe() if target else url.rsplit("@", 1)[-1]


def _sentinel_options(options: dict[str, Any], retry: Any) -> dict[str, Any]:
    """Sentinels get short socket timeouts and no retries of their own: redis-py's default retries
    each Sentinel with seconds of backoff, so one dead Sentinel would stall every master lookup
    (the client's own retries, and the next Sentinel in the list, already cover a failed one)."""
    timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
    return {"socket_connect_timeout": 0.5, "socket_timeout": 0.5, **timeouts, "retry": retry}


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool (follows the master) that waits for a free connection like BlockingConnectionPool."""


def async_client(url: str, *, max_connections: int | None = None, blocking_timeout: float | None = None,
                 **options: Any) -> aioredis.Redis:
    """A redis.asyncio client; with a Sentinel URL it follows the master through failovers.

    `max_connections` with `blocking_timeout`: a burst beyond the pool waits for a free
    connection instead of failing (the app's shared client)."""
    target = sentinel_target(url)
    pool_options: dict[str, Any] = {}
    if max_connections is not None:
        pool_options["max_connections"] = max_connections
    if blocking_timeout is not None:
        pool_options["timeout"] = blocking_timeout
    if target is None:
        if pool_options:
            return aioredis.Redis.from_pool(BlockingConnectionPool.from_url(url, **pool_options, **options))
        return aioredis.Redis.from_url(url, **options)
    sentinel = AsyncSentinel(list(target.sentinels),
                              sentinel_kwargs=_sentinel_options(options, AsyncRetry(NoBackoff(), 0)))
    pool_class = _BlockingSentinelPool if "timeout" in pool_options else SentinelConnectionPool
    # python-socketio's manager copies the URL's db/password into its options (which reach us when it
    # hands them over): the URL's values are the defaults, explicit options win, neither twice.
    client: aioredis.Redis = sentinel.master_for(target.master, connection_pool_class=pool_class,
                                                 **{**target.master_options(), **pool_options, **options})
    return client


def sync_client(url: str, **options: Any) -> redis.Redis:
    """A blocking redis-py client (CLIs); with a Sentinel URL it follows the master."""
    target = sentinel_target(url)
    if target is None:
        return redis.Redis.from_url(url, **options)
    sentinel = redis.sentinel.Sentinel(list(target.sentinels),
                                       sentinel_kwargs=_sentinel_options(options, Retry(NoBackoff(), 0)))
    client: redis.Redis = sentinel.master_for(target.master, **{**target.master_options(), **options})
    return client


async def _diagnose(sentinel: AsyncSentinel, master: str) -> str:
    """Why no master could be found: no Sentinel answers, none knows the name, or it is down.
    The Sentinels are asked at once (each has its short socket timeouts)."""
    nodes = list(sentinel.sentinels)
    names = [_address(node) for node in nodes]
    replies = await asyncio.gather(*(node.sentinel_masters() for node in nodes), return_exceptions=True)
    answered = [(name, reply) for name, reply in zip(names, replies, strict=True) if isinstance(reply, dict)]
    for name, masters in answered:
        state = masters.get(master)
        if state is not None:
            return (f"Redis master {master!r} is down or failing over (Sentinel {name} reports "
                    f"{state.get('ip')}:{state.get('port')} flags {state.get('flags')!r})")
    if not answered:
        return f"no Redis Sentinel reachable at {', '.join(names)} (looking for master {master!r})"
    return f"unknown Redis master {master!r}: Sentinels {', '.join(n for n, _ in answered)} do not monitor it"


def _address(client: aioredis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


async def check(client: aioredis.Redis) -> dict[str, Any]:
    """PING through `client`; RedisUnreachable naming the master and Sentinels when that fails.

    A Sentinel client also reports which master it is on (readiness shows it after a failover)."""
    pool = client.connection_pool
    if not isinstance(pool, SentinelConnectionPool):
        await client.ping()
        return {}
    try:
        async with asyncio.timeout(PING_TIMEOUT_S):  # leave time to say why (readiness allows 2 s)
            await client.ping()
    except (RedisError, TimeoutError) as exc:
        raise RedisUnreachable(await _diagnose(pool.sentinel_manager, pool.service_name)) from exc
    if pool.master_address:
        host, port = pool.master_address
        return {"master": f"{pool.service_name} at {host}:{port}"}
    return {}


async def check_url(url: str) -> dict[str, Any]:
    """Startup check of a configured URL (raises RedisUnreachable with the reason)."""
    client = async_client(url, socket_connect_timeout=1.0, socket_timeout=2.0)
    try:
        return await check(client)
    finally:
        await client.aclose()
