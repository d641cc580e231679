"""The aiohttp application factory: one place that wires Redis, Socket.IO and feature modules."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import Any

import socketio
from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chat_server import health, pages, redis_connect, texts
from chat_server.app_hooks import run_with_app
from chat_server.config import Config
from chat_server.context import CTX, AppContext
from chat_server.conversations import outbound_queue, polling_body, uncompressed_websocket
from chat_server.conversations.attachments import MediaOwners
from chat_server.conversations.bot_client import BotClient
from chat_server.conversations.delivery import ReliableRedisManager, SlowConsumerWatchdog
from chat_server.conversations.emergency_first import EmergencyFirst, WindowGate
from chat_server.conversations.idle import IdleSweeper
from chat_server.conversations.limits import RateLimiter
from chat_server.conversations.payloads import packet_class
from chat_server.conversations.resident_ns import ResidentNamespace
from chat_server.conversations.service import ConversationService
from chat_server.conversations.store import ConversationStore
from chat_server.conversations.turns import FairTurns
from chat_server.events import EventBus
from chat_server.language import StickyLanguage
from chat_server.redaction import keep_public_number

log = logging.getLogger("chat311.app")

CLIENT_GOODBYE_S = 2.0  # how long shutdown waits for clients to take their disconnect packet

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'"
)


# Browsers keep to https for a year once they have seen the site over it (sent only when public_url is https).
HSTS = "max-age=31536000"


def security_headers(https: bool) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """Added as each response is prepared (`on_response_prepare`), error pages included.

    Not a middleware: any middleware makes aiohttp keep two more coroutine frames alive for every
    request in flight, and a widget's websocket is a request that lasts as long as the connection
    (about 0.9 KB of each idle connection's memory)."""
    async def add(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/socket.io"):
            return
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        if https:
            headers.setdefault("Strict-Transport-Security", HSTS)
    return add


# Feature modules with a `setup(app, ctx)`; each registers routes, namespaces and event handlers.
FEATURES = (
    "chat_server.knowledge.feature",
    "chat_server.tickets.feature",
    "chat_server.agents.feature",
    "chat_server.channels.feature",
    "chat_server.status.feature",  # after tickets and channels, whose services it uses
    "chat_server.metrics.feature",
    "chat_server.training.feature",
    "chat_server.incidents.feature",
    "chat_server.knowledge.http_bot",
)


def _feature_modules() -> list[ModuleType]:
    modules = []
    for name in FEATURES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            log.warning("feature module not installed", extra={"feature": name})
    return modules


def _origins(config: Config) -> str | list[str]:
    origins = config.server.allowed_origins
    return "*" if "*" in origins else origins


def _replayer(store: ConversationStore) -> Any:
    """What a session missed after `after`, as (event, payload) pairs (used to repair delivery gaps)."""

    async def replay(token: str, after: str) -> list[tuple[str, dict[str, Any]]]:
        return [(m.event_name, m.to_client()) for m in await store.session_messages_after(token, after)]

    return replay


def create_app(config: Config, redis_url: str) -> web.Application:
    """Build the app; `redis_url` is resolved by the caller (embedded or REDIS_URL)."""
    texts.use_config(config)
    keep_public_number(config.contact.phone_311)  # the city's line is no resident's number
    # "/console/content/" (a bookmark, a typed address) answered 404: an unknown path with a trailing slash is
    # redirected to the same path without it when that one exists.
    app = web.Application(client_max_size=8 * 1024 * 1024,
                          middlewares=[web.normalize_path_middleware(append_slash=False, remove_slash=True)])
    app.on_response_prepare.append(security_headers(config.server.public_url.startswith("https://")))
    # Blocking pool: a burst beyond max_connections waits for a free connection instead of
    # failing the resident's event with MaxConnectionsError (redis-py's default pool raises at 100).
    # Retries: a pooled connection that went stale (Redis restarted or failed over) is replaced on
    # the next attempt instead of failing one resident's event; redis-py's pool default is no retry.
    # A Sentinel URL gives a client that follows the master through failovers (redis_connect.py).
    redis = redis_connect.async_client(
        redis_url, max_connections=config.redis.max_connections, blocking_timeout=20, health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError])
    prefix = config.redis.key_prefix
    manager = (
        ReliableRedisManager(redis_url, f"{prefix}socketio", config.server.delivery_heartbeat_s)
        if config.server.redis_manager else None
    )
    # Events over the event limit are answered `too_large` by the JSON layer (payloads.py) and the
    # connection stays; only a packet beyond the transport ceiling closes it (websocket 1009).
    event_limit = max(config.limits.max_event_bytes, 4 * config.limits.max_message_chars * 4)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins=_origins(config),
        client_manager=manager,
        max_http_buffer_size=max(2**20, 8 * event_limit),
        serializer=packet_class(event_limit),
        ping_interval=20,
        ping_timeout=20,
    )
    polling_body.install(sio.eio)
    outbound_queue.install(sio.eio)
    websockets = uncompressed_websocket.install(sio.eio)
    sio.attach(app, socketio_path="socket.io")
    bus = EventBus(redis, prefix)
    store = ConversationStore(redis, prefix)
    bot = BotClient(config.rasa.servers(), config.rasa.token, config.rasa.timeout_s, config.rasa.health_interval_s)
    limiter = RateLimiter(redis, prefix)
    language = StickyLanguage(config.language.switch_probability, config.language.min_chars_to_switch)
    turns = FairTurns(config.rasa.max_concurrent_turns, config.rasa.turns_per_source, config.limits.ip_window_s)
    conversations = ConversationService(store, bus, bot, sio, language, config.rasa.slow_notice_s, turns)
    emergency_first = EmergencyFirst(conversations, WindowGate(1, config.limits.session_window_s))
    residents = ResidentNamespace(conversations, limiter, config, emergency_first, MediaOwners(redis, prefix))
    ctx = AppContext(config, redis, sio, bus, store, bot, limiter, conversations, emergency_first, residents)
    app[CTX] = ctx
    sio.register_namespace(residents)
    watchdog = SlowConsumerWatchdog(sio, config.server.max_outbound_queue)
    if manager is not None:
        manager.replayer = _replayer(store)

    async def connections(app: web.Application) -> AsyncIterator[None]:
        """Registered first, so Redis and the Rasa client close after every worker that uses them."""
        bot.start()
        yield
        await bot.close()
        await redis.aclose()

    async def delivery(app: web.Application) -> AsyncIterator[None]:
        watchdog.start()
        if manager is not None and not sio.manager_initialized:
            sio.manager_initialized = True  # listen (and detect gaps) before the first client connects
            manager.initialize()
        yield
        await watchdog.stop()
        if manager is not None:
            await manager.close()

    app.cleanup_ctx.append(connections)
    app.cleanup_ctx.append(delivery)
    retention = config.retention
    run_with_app(app, IdleSweeper(conversations, retention.idle_close_s, retention.idle_warning_s,
                                  retention.staff_idle_close_s))

    for module in (health, pages, *_feature_modules()):
        module.setup(app, ctx)

    async def disconnect_clients(app: web.Application) -> None:
        """Close every Socket.IO client first: open websockets would otherwise hold shutdown for
        the runner's whole grace period. Clients reconnect (to a sibling worker) and replay. Each close
        waits for its client to take the goodbye packet, and a websocket for its closing handshake; one
        that stopped polling never does (probe S: shutdown hit its limit and Redis was stopped under the
        running loops), so together they get a while."""
        deadline = asyncio.get_running_loop().time() + CLIENT_GOODBYE_S
        if sio.eio.sockets:  # engineio's disconnect-all fails on an empty set
            try:
                await asyncio.wait_for(sio.eio.disconnect(), CLIENT_GOODBYE_S)
            except TimeoutError:
                log.warning("clients did not take their goodbye; closing without it",
                            extra={"clients": len(sio.eio.sockets), "waited_s": CLIENT_GOODBYE_S})
        if not await websockets.closed(max(0.0, deadline - asyncio.get_running_loop().time())):
            log.warning("websockets did not finish closing; stopping without them",
                        extra={"websockets": len(websockets), "waited_s": CLIENT_GOODBYE_S})
        await sio.shutdown()

    async def finish_turns(app: web.Application) -> None:
        await residents.drain(timeout=config.rasa.timeout_s)

    app.on_shutdown.append(finish_turns)
    app.on_shutdown.append(disconnect_clients)
    return app
