"""Delivery that cannot fail silently: gap detection on the Socket.IO Redis manager, slow consumers.

python-socketio's `AsyncRedisManager` is fire-and-forget: a publish that fails after one retry
is logged and dropped, and messages published while a process's pub/sub connection is down
(Redis restart, or Redis cutting a subscriber that fell behind its output-buffer limit) are
simply never seen by that process. Every message a resident sees is also in the conversation's
Redis Stream, so we do not try to make pub/sub reliable; we make loss *visible* and repair it
from the stream:

- every publish carries a per-process sequence number, and each process publishes a heartbeat
  with its current sequence every `heartbeat_s`; a receiver that sees a jump knows it missed
  something (within one heartbeat even if the lost message was the last one);
- a pub/sub connection that had to be re-established is a gap by definition;
- on a gap, every session room with a socket on *this* process is replayed from the stream
  after the last message id this process delivered to it (`last_delivered`), locally only.
  Clients dedupe by message id, so an over-eager replay costs nothing but bandwidth.

Publishing goes through one ordered writer (pipelined batches), so sequence numbers arrive in
order and a gap is a real gap, not a reordering.

Slow consumers (a client that stops reading, e.g. a frozen tab on a bad network) would make
Engine.IO's per-socket queue grow without bound. `SlowConsumerWatchdog` closes such a socket
(log line `slow consumer`); the client reconnects with `last_message_id` and replays from the
stream, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import socketio
from redis import asyncio as aioredis
from socketio.async_manager import AsyncManager

from chat_server import redis_connect
from chat_server.periodic import repeat
from chat_server.stopping import cancel_and_wait

log = logging.getLogger("chat311.delivery")

MESSAGE_EVENTS = ("bot_uttered", "resident_uttered")
SESSION_ROOM_PREFIX = "sess:"
HEARTBEAT = "c311_heartbeat"

# (session token, after message id) -> [(event name, client payload)] in id order.
Replayer = Callable[[str, str], Awaitable[Sequence[tuple[str, dict[str, Any]]]]]


def _id_key(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


class ReliableRedisManager(socketio.AsyncRedisManager):
    """AsyncRedisManager + sequence numbers, heartbeats, gap detection and stream replay."""

    name = "chat311-redis"

    def __init__(self, url: str, channel: str, heartbeat_s: float = 2.0, max_pending: int = 100_000,
                 join_margin_ms: int = 2000) -> None:
        super().__init__(url, channel=channel)
        self.heartbeat_s = heartbeat_s
        self.max_pending = max_pending
        self.join_margin_ms = join_margin_ms
        self.replayer: Replayer | None = None
        # Namespaces whose clients have no stream replay but fetch what they show when they connect
        # (the agent console: hello + open). After a gap their transports on this process are
        # closed so they reconnect and fetch again (features add theirs: agents/feature.py).
        self.refetch_namespaces: set[str] = set()
        self.stats: Counter[str] = Counter()
        self._seq = 0
        self._peers: dict[str, tuple[int, float]] = {}
        self._last_delivered: dict[str, str] = {}
        self._outbox: asyncio.Queue[dict[str, Any]] | None = None
        self._pub: aioredis.Redis | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._resync_again = False
        # Per room, where the next replay starts (`_mark_gap`), fixed when the gap was seen: not at a
        # later message this process delivered before the replay ran (that would skip the gap).
        self._gap_from: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed_once = False

    # lifecycle --------------------------------------------------------------
    def set_server(self, server: socketio.AsyncServer) -> None:
        """python-socketio gives the manager the server's JSON module, which holds residents' packets to
        the event limit (payloads.py); the peers here are this service's own workers, and an emit to a
        room on another worker larger than that limit would be dropped there."""
        super().set_server(server)
        self.json = json

    def initialize(self) -> None:
        super().initialize()
        self._ensure_writer()

    def _ensure_writer(self) -> asyncio.Queue[dict[str, Any]]:
        if self._outbox is None:
            self._outbox = asyncio.Queue()
            self._tasks = [asyncio.ensure_future(self._writer()), asyncio.ensure_future(self._heartbeat())]
        return self._outbox

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        if self._pub is not None:
            with contextlib.suppress(Exception):
                await self._pub.aclose()

    # publishing --------------------------------------------------------------
    def _new_client(self) -> aioredis.Redis:
        """The publishing client; a Sentinel URL follows the master (the listener's client is
        python-socketio's own, built from the same URL)."""
        return redis_connect.async_client(self.redis_url, **self.redis_options)

    async def _publish(self, data: dict[str, Any]) -> None:
        """Queue for the ordered writer; the sequence number is assigned here, in emit order."""
        self._seq += 1
        message = {**data, "seq": self._seq}
        outbox = self._ensure_writer()
        if outbox.qsize() >= self.max_pending:
            # Redis has been unreachable for a long time: drop, but peers will see the seq gap.
            self.stats["publish_dropped"] += 1
            if self.stats["publish_dropped"] % 1000 == 1:
                log.error("socketio publish queue full; dropping (peers will replay from the streams)",
                          extra={"dropped": self.stats["publish_dropped"]})
            return
        outbox.put_nowait(message)

    async def _writer(self) -> None:
        assert self._outbox is not None
        batch: list[dict[str, Any]] = []
        failing_since: float | None = None
        while True:
            if not batch:
                batch.append(await self._outbox.get())
                while len(batch) < 500 and not self._outbox.empty():
                    batch.append(self._outbox.get_nowait())
            try:
                if self._pub is None:
                    self._pub = self._new_client()
                pipe = self._pub.pipeline(transaction=False)
                for message in batch:
                    pipe.publish(self.channel, self.json.dumps(message))
                await pipe.execute()
                self.stats["published"] += len(batch)
                batch = []
                if failing_since is not None:
                    log.warning("socketio publishing resumed",
                                extra={"after_s": round(time.monotonic() - failing_since, 2)})
                    failing_since = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats["publish_failures"] += 1
                if failing_since is None:  # once per outage (a failover retries for seconds)
                    failing_since = time.monotonic()
                    log.error("socketio publish failed; retrying (receivers replay any gap from the streams)",
                              extra={"error": str(exc)[:200], "pending": len(batch) + self._outbox.qsize()})
                with contextlib.suppress(Exception):
                    if self._pub is not None:
                        await self._pub.aclose()
                self._pub = None
                await asyncio.sleep(0.5)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            assert self._outbox is not None
            if self._outbox.qsize() < self.max_pending:
                self._outbox.put_nowait({"method": HEARTBEAT, "host_id": self.host_id, "seq": self._seq})
            self._prune()

    # receiving ---------------------------------------------------------------
    async def _redis_listen_with_retries(self) -> AsyncIterator[dict[str, Any]]:
        retry_sleep = 0.5
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    retry_sleep = 0.5
                    if self._subscribed_once:
                        # Anything published while we were not subscribed is lost for this process.
                        self.stats["listener_reconnects"] += 1
                        self.request_resync("pubsub resubscribed")
                    self._subscribed_once = True
                async for message in self.pubsub.listen():
                    yield message
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if subscribed:
                    self._mark_gap()  # before local deliveries move past what peers publish meanwhile
                if subscribed or retry_sleep == 0.5:  # once per outage, not once per retry
                    log.error("socketio pub/sub connection lost; will resubscribe and replay",
                              extra={"error": str(exc)[:200], "retry_in_s": retry_sleep})
                subscribed = False
                with contextlib.suppress(Exception):
                    await self.pubsub.aclose()
                with contextlib.suppress(Exception):
                    await self.redis.aclose()
                await asyncio.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, 10.0)

    async def _listen(self) -> AsyncIterator[dict[str, Any]]:
        channel = self.channel.encode("utf-8")
        async for message in self._redis_listen_with_retries():
            if message["channel"] != channel or message["type"] != "message" or "data" not in message:
                continue
            try:
                data = self.json.loads(message["data"])
            except ValueError:
                continue
            if not isinstance(data, dict):
                continue
            self._track_peer(data)
            if data.get("method") == HEARTBEAT:
                continue
            yield data

    def _track_peer(self, data: dict[str, Any]) -> None:
        host = data.get("host_id")
        seq = data.get("seq")
        if not isinstance(host, str) or host == self.host_id or not isinstance(seq, int):
            return
        previous = self._peers.get(host)
        self._peers[host] = (max(seq, previous[0]) if previous else seq, time.monotonic())
        if previous is None:
            return
        expected = previous[0] if data.get("method") == HEARTBEAT else previous[0] + 1
        if seq > expected:
            self.stats["gaps"] += 1
            self.stats["missed"] += seq - expected
            log.warning("socketio delivery gap detected; replaying from the conversation streams",
                        extra={"peer": host[:8], "missed": seq - expected})
            self.request_resync("sequence gap")

    def _prune(self) -> None:
        now = time.monotonic()
        for host, (_, seen) in list(self._peers.items()):
            if now - seen > max(60.0, 10 * self.heartbeat_s):
                del self._peers[host]
        live = self.rooms.get("/", {})
        for room in [r for r in self._last_delivered if r not in live]:
            del self._last_delivered[room]
            self._gap_from.pop(room, None)

    # what this process delivered ----------------------------------------------
    def _note_delivered(self, room: Any, event: str, payload: Any) -> None:
        if event in MESSAGE_EVENTS and isinstance(room, str) and room.startswith(SESSION_ROOM_PREFIX) \
                and isinstance(payload, dict) and isinstance(payload.get("id"), str):
            current = self._last_delivered.get(room)
            if current is None or _id_key(payload["id"]) > _id_key(current):
                self._last_delivered[room] = payload["id"]

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        await super()._handle_emit(message)
        data = message.get("data")
        payload = data[0] if isinstance(data, list) and data else None
        self._note_delivered(message.get("room"), str(message.get("event")), payload)

    async def enter_room(self, sid: str, namespace: str, room: str, eio_sid: str | None = None) -> None:
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        if isinstance(room, str) and room.startswith(SESSION_ROOM_PREFIX) and room not in self._last_delivered:
            # Baseline for a room we have delivered nothing to yet; earlier messages are the
            # session_request replay's job.
            self._last_delivered[room] = f"{int(time.time() * 1000) - self.join_margin_ms}-0"

    # repair --------------------------------------------------------------------
    def request_resync(self, reason: str) -> None:
        """Coalesce: one resync at a time, and one more if a gap is seen while it runs."""
        self._mark_gap()
        if self._resync_task is not None and not self._resync_task.done():
            self._resync_again = True
            return
        self._resync_task = asyncio.ensure_future(self._resync(reason))

    def _mark_gap(self) -> None:
        """Remember, per room, where the replay of a gap must start.

        Not simply at the last message delivered: this process's own messages are delivered
        locally even while its pub/sub is down, so that id can be past a peer's message it never
        received (seen in the Sentinel failover test). Start a heartbeat plus the join margin
        earlier; clients drop what they already have by id."""
        margin_ms = self.join_margin_ms + int(self.heartbeat_s * 1000)
        for room, last in self._last_delivered.items():
            ms, _ = _id_key(last)
            start = f"{max(ms - margin_ms, 0)}-0"
            earlier = self._gap_from.get(room)
            if earlier is None or _id_key(start) < _id_key(earlier):
                self._gap_from[room] = start

    async def _resync(self, reason: str) -> None:
        while True:
            self._resync_again = False
            try:
                await self.resync(reason)
            except Exception:
                log.exception("replay after a delivery gap failed; retrying")
                await asyncio.sleep(1.0)
                self._resync_again = True
            if not self._resync_again:
                return

    async def resync(self, reason: str) -> int:
        """Replay every local session room from the stream after what this process delivered."""
        if self.replayer is None:
            return 0
        self.stats["resyncs"] += 1
        rooms = [r for r in self.rooms.get("/", {}) if isinstance(r, str) and r.startswith(SESSION_ROOM_PREFIX)]
        replayed = 0
        gap_from = dict(self._gap_from)  # cleared once replayed (a failed replay starts there again)

        async def one(room: str) -> int:
            after = min((i for i in (gap_from.get(room), self._last_delivered.get(room)) if i), key=_id_key,
                        default=f"{int(time.time() * 1000) - 60_000}-0")
            assert self.replayer is not None
            count = 0
            for event, payload in await self.replayer(room[len(SESSION_ROOM_PREFIX):], after):
                await AsyncManager.emit(self, event, payload, namespace="/", room=room)
                self._note_delivered(room, event, payload)
                count += 1
            return count

        for i in range(0, len(rooms), 50):
            replayed += sum(await asyncio.gather(*(one(r) for r in rooms[i:i + 50])))
        for room, start in gap_from.items():
            if self._gap_from.get(room) == start:
                del self._gap_from[room]
        self.stats["replayed"] += replayed
        refetch = [eio_sid for namespace in sorted(self.refetch_namespaces)
                   for _, eio_sid in self.get_participants(namespace, None)]
        for eio_sid in dict.fromkeys(refetch):
            await cut_transport(self.server, eio_sid)
        log.warning("socketio delivery repaired from the conversation streams",
                    extra={"reason": reason, "rooms": len(rooms), "replayed": replayed, "refetch": len(refetch)})
        return replayed


class SlowConsumerWatchdog:
    """Close sockets whose outbound queue keeps growing; the client reconnects and replays."""

    def __init__(self, sio: socketio.AsyncServer, max_queue: int, interval_s: float = 1.0) -> None:
        self.sio = sio
        self.max_queue = max_queue
        self.interval_s = interval_s
        self.closed = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(repeat(self.check, self.interval_s, log, "slow consumer check failed"))

    async def stop(self) -> None:
        await cancel_and_wait([self._task])

    async def check(self) -> int:
        closed = 0
        for eio_sid, sock in list(self.sio.eio.sockets.items()):
            queued = sock.queue.qsize()
            if queued <= self.max_queue or sock.closed:
                continue
            closed += 1
            self.closed += 1
            log.warning("slow consumer: closing socket; it will reconnect and replay from its last message id",
                        extra={"eio_sid": eio_sid[:8], "queued": queued, "max_queue": self.max_queue})
            await cut_transport(self.sio, eio_sid)
        return closed


async def cut_transport(sio: socketio.AsyncServer, eio_sid: str) -> None:
    """Close a client's connection as a network failure would, so that it reconnects.

    A polite close (an Engine.IO close packet) tells clients not to reconnect. The packets
    nobody will read are dropped and the TCP connection is cut: a writer blocked on a full
    socket buffer only wakes up when the transport goes away."""
    sock = sio.eio.sockets.get(eio_sid)
    if sock is None or sock.closed:
        return
    request = (sio.environ.get(eio_sid) or {}).get("aiohttp.request")
    await sock.close(wait=False, abort=True)
    while not sock.queue.empty():
        sock.queue.get_nowait()
        sock.queue.task_done()
    sock.queue.put_nowait(None)
    transport = getattr(request, "transport", None)
    if transport is not None:
        transport.abort()
