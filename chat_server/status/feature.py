"""Status feature module: status page, status changes (staff, upstream poller, webhook), notifications
and following. Registered after tickets and channels (app.FEATURES), whose services it uses.

Bus subscriptions: status_lookup → the answer gets "Follow" / "Stop updates" buttons
(chat_server/status/chat.py handles their payloads).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from chat_server.app_hooks import run_with_app
from chat_server.context import AppContext
from chat_server.status.changes import TicketStatusService, notify_stream
from chat_server.status.chat import FollowCommands
from chat_server.status.confirm import FilingConfirmation
from chat_server.status.followers import FollowerStore
from chat_server.status.notify import StatusNotifier
from chat_server.status.page import StatusPage
from chat_server.status.poller import UpstreamPoller, upstream_health
from chat_server.status.reach import FollowerReach
from chat_server.status.staff import StaffStatusAPI
from chat_server.status.webhook import StatusWebhook
from chat_server.stream_outbox import Outbox, RetryPolicy


def setup(app: web.Application, ctx: AppContext) -> None:
    config = ctx.config
    prefix = config.redis.key_prefix
    tickets = ctx.tickets
    if tickets is None:
        raise RuntimeError("the status feature needs the tickets feature (chat_server.tickets.feature) before it")
    channels = ctx.channels
    status = TicketStatusService(tickets.store, ctx.bus, notify_stream(prefix))
    followers = FollowerStore(ctx.redis, prefix)
    reach = FollowerReach(ctx.store, followers, tickets)

    notifier = StatusNotifier(ctx.redis, prefix, tickets, followers, reach, ctx.conversations, ctx.store, channels,
                              ctx.bus, config.server.public_url)
    cfg = config.channels
    outbox = Outbox(ctx.redis, notify_stream(prefix), notifier.handle,
                    RetryPolicy(cfg.outbox_max_attempts, cfg.outbox_retry_base_s, cfg.outbox_retry_max_s),
                    cfg.outbox_claim_idle_s, on_failure=notifier.failed)
    for channel in channels.values():  # relayed notices are counted when their channel knows their fate
        channel.notice_hooks.append(notifier.relayed)
    run_with_app(app, outbox)

    if config.tickets.upstream_url:
        run_with_app(app, UpstreamPoller(ctx.redis, prefix, tickets.store, status, config.tickets, config.status))

        async def upstream_check() -> dict[str, object]:
            return await upstream_health(ctx.redis, prefix)

        ctx.readiness_details["upstream"] = upstream_check

    StatusPage(tickets, followers, reach, channels, ctx.limiter, config.status, config.server.public_url,
               ZoneInfo(config.hours.timezone), config.server.forwarded_hops()).routes(app)
    StatusWebhook(status, config.status).routes(app)
    StaffStatusAPI(status).routes(app)
    FollowCommands(ctx.conversations, ctx.bus, tickets, followers, reach).register()
    confirmation = FilingConfirmation(tickets, followers, channels, notifier.stop_url)
    ctx.bus.subscribe("ticket_created", confirmation.on_ticket_created)
