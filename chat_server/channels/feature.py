"""Feature hook: registers the enabled channels (SMS, mobile-app API, e-mail) with the core.

Each channel implements the `Channel` protocol of conversations/service.py and feeds residents'
messages through `ConversationService.handle_resident_message`, so the bot, queue, agents,
tickets and metrics treat an SMS or an e-mail exactly like a web chat.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chat_server.context import AppContext


def setup(app: web.Application, ctx: AppContext) -> None:
    cfg = ctx.config.channels
    channels: dict[str, Any] = {}
    email = None
    if cfg.email_enabled:
        from chat_server.channels.email import EmailChannel

        email = EmailChannel(ctx.config, ctx.redis, ctx.conversations, ctx.limiter, ctx.emergency_first)
        channels["email"] = email
    if cfg.sms_enabled:
        from chat_server.channels.sms import SmsChannel

        channels["sms"] = SmsChannel(ctx.config, ctx.redis, ctx.conversations, ctx.limiter, ctx.emergency_first)
    if cfg.api_enabled:
        from chat_server.channels.api import ApiChannel
        from chat_server.tickets.media import MediaFiles

        media = MediaFiles(ctx.config, ctx.redis, ctx.config.resolve_path(ctx.config.tickets.media_dir))
        channels["api"] = ApiChannel(ctx.config, ctx.redis, ctx.conversations, ctx.limiter, ctx.emergency_first,
                                     media, email)
    for channel in channels.values():
        channel.setup(app)
        ctx.conversations.register_channel(channel)
    ctx.channels.update(channels)
