"""Redis tracker and lock stores configured from environment variables.

Rasa expands ${VAR} in endpoints.yml but keeps every expanded value a string, so
`use_ssl: ${CHAT311_RASA_REDIS_SSL}` would arrive as the (truthy) string "false" and an empty
password as "". These thin subclasses coerce the values before handing them to Rasa's own
RedisTrackerStore / RedisLockStore.

With a Sentinel URL in chat_server's `redis.url`, chat_server sets CHAT311_RASA_REDIS_SENTINELS
("host:port,host:port") and CHAT311_RASA_REDIS_MASTER; the stores then replace Rasa's fixed-address
client with one from `Sentinel.master_for`, which asks the Sentinels for the current master and
follows it through a failover (Rasa's own stores only take one host). Empty = one plain server.
"""

from __future__ import annotations

from typing import Any

import redis.sentinel
from rasa.core.lock_store import RedisLockStore
from rasa.core.tracker_store import RedisTrackerStore


def coerce_redis_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    for key in ("port", "db"):
        if key in out and out[key] not in (None, ""):
            out[key] = int(out[key])
    if "record_exp" in out:  # empty = the retention policy keeps trackers forever
        raw = out["record_exp"]
        out["record_exp"] = int(float(raw)) if raw not in (None, "") else None  # redis SET ex= must be an int
    if "use_ssl" in out:
        out["use_ssl"] = str(out["use_ssl"]).strip().lower() in ("1", "true", "yes", "on")
    for key in ("password", "username"):
        if key in out and not out[key]:
            out[key] = None
    return out


def parse_sentinels(raw: Any) -> list[tuple[str, int]]:
    """"host1:port1,host2:port2" -> [(host, port), ...]; empty -> [] (plain Redis)."""
    out = []
    for item in str(raw or "").split(","):
        if item.strip():
            host, _, port = item.strip().rpartition(":")
            out.append((host, int(port)))
    return out


def pop_sentinel(kwargs: dict[str, Any]) -> tuple[list[tuple[str, int]], str]:
    """Take the Sentinel settings out of the store kwargs (Rasa's stores do not know them)."""
    sentinels = parse_sentinels(kwargs.pop("sentinels", ""))
    master = str(kwargs.pop("sentinel_master", "") or "")
    if sentinels and not master:
        raise ValueError("CHAT311_RASA_REDIS_SENTINELS is set but CHAT311_RASA_REDIS_MASTER is empty")
    return sentinels, master


def master_client(sentinels: list[tuple[str, int]], master: str, kwargs: dict[str, Any],
                  **options: Any) -> redis.Redis:
    """A client of the current master (found through the Sentinels), with the store's db and password."""
    sentinel = redis.sentinel.Sentinel(sentinels, sentinel_kwargs={"socket_timeout": 1.0,
                                                                    "socket_connect_timeout": 1.0})
    return sentinel.master_for(master, db=int(kwargs.get("db") or 0), username=kwargs.get("username"),
                               password=kwargs.get("password"), **options)


class Chat311RedisTrackerStore(RedisTrackerStore):
    def __init__(self, domain: Any, host: str = "localhost", event_broker: Any = None, **kwargs: Any) -> None:
        sentinels, master = pop_sentinel(kwargs)
        kwargs = coerce_redis_kwargs(kwargs)
        super().__init__(domain, host=host or "localhost", event_broker=event_broker, **kwargs)
        if sentinels:
            self.red = master_client(sentinels, master, kwargs, decode_responses=True)


class Chat311RedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: Any = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            kwargs = {**endpoint_config.kwargs, **kwargs}
            kwargs.setdefault("host", endpoint_config.url)
        kwargs.pop("type", None)
        sentinels, master = pop_sentinel(kwargs)
        kwargs = coerce_redis_kwargs(kwargs)
        super().__init__(**kwargs)
        if sentinels:
            self.red = master_client(sentinels, master, kwargs, socket_timeout=float(kwargs.get("socket_timeout", 10)))
