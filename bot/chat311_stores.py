"""Redis tracker and lock stores configured from environment variables.

Rasa expands ${VAR} in endpoints.yml but keeps every expanded value a string, so
`use_ssl: ${CHAT311_RASA_REDIS_SSL}` would arrive as the (truthy) string "false" and an empty
password as "". These thin subclasses coerce the values before handing them to Rasa's own
RedisTrackerStore / RedisLockStore.
"""

from __future__ import annotations

from typing import Any

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


class Chat311RedisTrackerStore(RedisTrackerStore):
    def __init__(self, domain: Any, host: str = "localhost", event_broker: Any = None, **kwargs: Any) -> None:
        super().__init__(domain, host=host or "localhost", event_broker=event_broker,
                         **coerce_redis_kwargs(kwargs))


class Chat311RedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: Any = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            kwargs = {**endpoint_config.kwargs, **kwargs}
            kwargs.setdefault("host", endpoint_config.url)
        kwargs.pop("type", None)
        super().__init__(**coerce_redis_kwargs(kwargs))
