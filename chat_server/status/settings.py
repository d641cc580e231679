"""Configuration section `status:` — status changes from outside, and resident notifications.

The upstream address, key and poll interval stay in `tickets:` (tickets.upstream_*), because
forwarding and reading back talk to the same server. Notification sends reuse the retry settings
of `channels:` (outbox_*), like every other outbound message.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat_server import settings_checks as check


@dataclass
class StatusConfig:
    # Shared secret of POST /status/webhook (HMAC-SHA256). Empty = the webhook answers 503.
    webhook_secret: str = ""
    # Signed requests older or newer than this are refused (replay protection).
    webhook_max_skew_s: float = 300.0
    # Read upstream changes with the `servicerequestupdates` extension (FixMyStreet-style servers)
    # in addition to re-reading open tickets through GET requests.json.
    upstream_updates: bool = False
    # Ticket ids per GET requests.json?service_request_id=a,b,c call.
    upstream_batch_size: int = 50
    # After failed polls the next one waits poll_s * 2^failures, at most this long.
    upstream_backoff_max_s: float = 1800.0
    # A follow request from the status page must be confirmed within this many seconds.
    follow_confirm_ttl_s: int = 86400

    def validate(self) -> None:
        check.between(self, "upstream_batch_size", 1, 500)
        check.positive(self, "webhook_max_skew_s", "upstream_backoff_max_s", "follow_confirm_ttl_s")
