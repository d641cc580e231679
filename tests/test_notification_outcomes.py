"""Notification delivery counts tell the truth (issue 17): a status notice relayed through a channel
(SMS via Twilio, e-mail via SMTP, an app's webhook) counts as `sent` only once the channel's outbox
delivered it, and as `failed` once that outbox gave up on it — not when it was queued.

Real parts only: a chat311 process (no bot), the Twilio stand-in, an aiosmtpd relay that refuses
some recipients (550 for good, 451 for now), a webhook receiver; the figures are read the way a
supervisor reads them: the dashboard's report API and its CSV export.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from chat_server.status.followers import FollowerKind, FollowerStore
from tests.support.channel_standins import (
    App,
    SmtpCapture,
    TwilioStandin,
    WebhookReceiver,
    bare_server,
    channel_messages,
    issue,
)
from tests.support.open311 import cli, file_ticket, new_api_key
from tests.support.staff import console_login
from tests.support.waiting import events_until

Match = Callable[[str, str, dict[str, Any]], bool]


def notices_of(ticket_id: str, *outcomes: str) -> Match:
    return lambda kind, conv, data: (kind == "status_notification" and data.get("ticket_id") == ticket_id
                                     and (not outcomes or data.get("outcome") in outcomes))


async def change_status(redis_server: Any, prefix: str, ticket_id: str, status: str) -> None:
    out = await asyncio.to_thread(cli, redis_server, prefix, "tickets", "status", ticket_id, status,
                                  "--note", "Crew scheduled")
    assert out.returncode == 0, out.stderr


async def new_ticket(redis_server: Any, server: Any) -> str:
    _, key = await asyncio.to_thread(new_api_key, redis_server, server.prefix)
    async with aiohttp.ClientSession() as http:
        return await file_ticket(http, server.url, key, "POTHOLE", ("road_position", "lane"))


class Supervisor:
    """Reads the notifications report as a supervisor does: the dashboard's report API and CSV."""

    def __init__(self, server: Any, cookie: str) -> None:
        from chat_server.agents.auth import SESSION_COOKIE

        self.server = server
        self.cookies = {SESSION_COOKIE: cookie}

    @classmethod
    async def login(cls, redis: Any, server: Any) -> Supervisor:
        cookie, _ = await console_login(redis, server.prefix, "sue", ["supervisor"])
        return cls(server, cookie)

    async def notifications(self) -> dict[str, dict[str, Any]]:
        async with aiohttp.ClientSession(cookies=self.cookies) as sup, sup.get(
                f"{self.server.url}/console/supervisor/api/report", params={"name": "notifications"}) as r:
            body = await r.json()
            assert r.status == 200, body
            return {row["channel"]: row for row in body["rows"]}

    async def csv(self) -> list[str]:
        async with aiohttp.ClientSession(cookies=self.cookies) as sup, sup.get(
                f"{self.server.url}/console/supervisor/api/export.csv",
                params={"name": "notifications", "headings": "keys"}) as r:
            assert r.status == 200
            return (await r.text()).strip().split("\r\n")


async def email_server(redis_server: Any, name: str, smtp_port: int, attempts: int, retry_max_s: float) -> Any:
    """A chat_server with the e-mail channel on, relaying through 127.0.0.1:`smtp_port`, quick retries."""
    return await bare_server(redis_server.url, name, **{
        "CHAT311_CHANNELS__EMAIL_ENABLED": "true", "CHAT311_CHANNELS__EMAIL_ADDRESS": "311chat@city.test",
        "CHAT311_CHANNELS__SMTP_HOST": "127.0.0.1", "CHAT311_CHANNELS__SMTP_PORT": str(smtp_port),
        "CHAT311_CHANNELS__OUTBOX_MAX_ATTEMPTS": str(attempts), "CHAT311_CHANNELS__OUTBOX_RETRY_BASE_S": "0.1",
        "CHAT311_CHANNELS__OUTBOX_RETRY_MAX_S": str(retry_max_s)})


def row(channel: str, sent: int, failed: int, skipped: int = 0) -> dict[str, Any]:
    rate = round(failed / (sent + failed), 4) if sent + failed else None
    return {"channel": channel, "sent": sent, "failed": failed, "skipped": skipped, "failure_rate": rate}


# --------------------------------------------------------------------------------------- e-mail
GONE, BUSY, DOWN = "gone@resident.test", "busy@resident.test", "down@resident.test"


async def test_smtp_refusals_for_good_fail_at_once_and_temporary_ones_are_retried(redis_server: Any,
                                                                                  redis_client: Any) -> None:
    """550 (mailbox unavailable) fails the notice at the first attempt; 451 (try later) is retried with
    backoff, delivered when the relay takes it, and failed only when the attempts run out."""
    relay = await SmtpCapture(refusals={
        GONE: ["550 5.1.1 mailbox unavailable"],
        BUSY: ["451 4.2.1 mailbox busy, try later", "451 4.2.1 mailbox busy, try later", "250 OK"],
        DOWN: ["451 4.3.0 temporary failure"],
    }).start()
    server = await email_server(redis_server, "notice-smtp", relay.port, attempts=3, retry_max_s=0.5)
    try:
        ticket_id = await new_ticket(redis_server, server)
        followers = FollowerStore(redis_client, server.prefix)
        for address in (GONE, BUSY, DOWN):
            await followers.follow(ticket_id, FollowerKind.EMAIL, address, "en")
        await change_status(redis_server, server.prefix, ticket_id, "in_progress")

        # The busy mailbox takes the notice at the third attempt.
        delivered = await relay.messages.wait_for(lambda items: [m for m in items if BUSY in m["rcpt"]])
        assert ticket_id in delivered[0]["msg"]["Subject"]
        outcomes = await events_until(redis_client, f"{server.prefix}events",
                                      notices_of(ticket_id, "sent", "failed"), 3)
        assert sorted(d["outcome"] for d in outcomes) == ["failed", "failed", "sent"]
        assert {d["via"] for d in outcomes} == {"email"}
        errors = sorted(d.get("error") or "" for d in outcomes if d["outcome"] == "failed")
        assert errors[0].startswith("3 attempts") and "451" in errors[0]  # DOWN: retried until exhausted
        assert errors[1].startswith("gave up") and "550" in errors[1]  # GONE: no retry
        assert (relay.attempts(GONE), relay.attempts(BUSY), relay.attempts(DOWN)) == (1, 3, 3)
        assert relay.to(GONE) == [] and relay.to(DOWN) == []

        supervisor = await Supervisor.login(redis_client, server)
        assert await supervisor.notifications() == {"email": row("email", 1, 2), "ALL": row("ALL", 1, 2)}
        assert "email,1,2,0,0.6667" in await supervisor.csv()
    finally:
        await server.stop()
        await relay.stop()


async def test_an_unreachable_relay_is_retried_and_the_notice_counts_once_it_is_taken(redis_server: Any,
                                                                                      redis_client: Any) -> None:
    """No SMTP relay listening (connection refused): the notice waits in the outbox, retried with backoff
    and counted neither sent nor failed; when the relay comes up it is delivered and counted sent."""
    relay = SmtpCapture()  # its port is chosen, nothing listens there yet
    server = await email_server(redis_server, "notice-smtp-down", relay.port, attempts=60, retry_max_s=0.3)
    try:
        ticket_id = await new_ticket(redis_server, server)
        await FollowerStore(redis_client, server.prefix).follow(ticket_id, FollowerKind.EMAIL, BUSY, "es")
        await change_status(redis_server, server.prefix, ticket_id, "in_progress")
        queued = await events_until(redis_client, f"{server.prefix}events", notices_of(ticket_id), 1)
        assert (queued[0]["outcome"], queued[0]["via"]) == ("queued", "email")
        supervisor = await Supervisor.login(redis_client, server)
        pending = await supervisor.notifications()
        assert (pending["email"]["sent"], pending["email"]["failed"]) == (0, 0), pending

        await relay.start()
        mail = await relay.messages.wait_for(lambda items: [m for m in items if BUSY in m["rcpt"]])
        assert ticket_id in mail[0]["msg"]["Subject"]
        sent = await events_until(redis_client, f"{server.prefix}events", notices_of(ticket_id, "sent", "failed"), 1)
        assert sent[0]["outcome"] == "sent"
        assert await supervisor.notifications() == {"email": row("email", 1, 0), "ALL": row("ALL", 1, 0)}
    finally:
        await server.stop()
        await relay.stop()


# --------------------------------------------------------------------------------------- SMS
TEXTER, FOLLOWER = "+17045550141", "+17045550142"


async def test_sms_notices_count_when_twilio_took_them_not_when_queued(redis_server: Any, redis_client: Any) -> None:
    """Two SMS notices of one change: a page follower's text, and one sent on by the resident's own SMS
    conversation, whose number Twilio refuses for good (21610). While Twilio is down both wait in the
    outbox and count neither sent nor failed; afterwards the report shows sent=1, failed=1."""
    twilio = await TwilioStandin().start()
    server = await bare_server(redis_server.url, "notice-sms", **{
        **twilio.env(), "CHAT311_CHANNELS__OUTBOX_MAX_ATTEMPTS": "50", "CHAT311_CHANNELS__OUTBOX_RETRY_BASE_S": "0.1",
        "CHAT311_CHANNELS__OUTBOX_RETRY_MAX_S": "0.3"})
    prefix, events = server.prefix, f"{server.prefix}events"
    try:
        # The texter's SMS conversation (the bot is down: chat311 answers with its apology text).
        status, _ = await twilio.text_server(server.url, TEXTER, "pothole on 4th street")
        assert status == 200
        await twilio.sent.wait_for(lambda items: [m for m in items if m["to"] == TEXTER])
        conv_id, _ = await channel_messages(redis_client, prefix, "sms", TEXTER)
        assert conv_id
        ticket_id = await new_ticket(redis_server, server)
        followers = FollowerStore(redis_client, prefix)
        await followers.follow(ticket_id, FollowerKind.CONVERSATION, conv_id, "en")
        await followers.follow(ticket_id, FollowerKind.SMS, FOLLOWER, "en")

        twilio.unsubscribed.add(TEXTER)  # the texter replied STOP to Twilio itself
        twilio.fail_next = 10**6  # Twilio answers 503 until further notice
        await change_status(redis_server, prefix, ticket_id, "in_progress")
        handed = await events_until(redis_client, events, notices_of(ticket_id), 2)
        assert {d["channel"] for d in handed} == {"conversation", "sms"} and {d["via"] for d in handed} == {"sms"}
        supervisor = await Supervisor.login(redis_client, server)
        pending = await supervisor.notifications()
        assert (pending["sms"]["sent"], pending["sms"]["failed"]) == (0, 0), pending

        twilio.fail_next = 0
        outcomes = await events_until(redis_client, events, notices_of(ticket_id, "sent", "failed"), 2)
        by_channel = {d["channel"]: d for d in outcomes}
        assert by_channel["sms"]["outcome"] == "sent"
        assert by_channel["conversation"]["outcome"] == "failed" and "21610" in by_channel["conversation"]["error"]
        assert [m for m in twilio.to(FOLLOWER) if ticket_id in m["body"]]
        assert not [m for m in twilio.to(TEXTER) if ticket_id in m["body"]]

        assert await supervisor.notifications() == {"sms": row("sms", 1, 1), "ALL": row("ALL", 1, 1)}
        lines = await supervisor.csv()
        assert lines[0] == "channel,sent,failed,skipped,failure_rate" and "sms,1,1,0,0.5" in lines

        # Twilio later reports the follower's text undelivered (carrier): it moves from sent to failed, once.
        text = next(m for m in twilio.to(FOLLOWER) if ticket_id in m["body"])
        assert await twilio.status_callback(text, "undelivered", "30003") == 204
        assert await twilio.status_callback(text, "undelivered", "30003") == 204
        await events_until(redis_client, events, notices_of(ticket_id, "undelivered"), 1)
        assert await supervisor.notifications() == {"sms": row("sms", 0, 2), "ALL": row("ALL", 0, 2)}
    finally:
        await server.stop()
        await twilio.stop()


# --------------------------------------------------------------------------------------- API webhook

async def test_api_notice_counts_sent_when_the_webhook_took_it_and_failed_when_refused(
        redis_server: Any, redis_client: Any) -> None:
    """An app conversation's notice goes out as its signed `message` webhook: sent once the app's
    backend answers 2xx; an app whose backend refuses (410) gets it counted failed, without retry."""
    good_hook, gone_hook = await WebhookReceiver().start(), await WebhookReceiver().start()
    gone_hook.refuse_with = 410
    server = await bare_server(redis_server.url, "notice-api", **{
        "CHAT311_CHANNELS__API_ENABLED": "true", "CHAT311_CHANNELS__OUTBOX_RETRY_BASE_S": "0.1"})
    try:
        conversations = []
        for name, hook in (("good-app", good_hook), ("gone-app", gone_hook)):
            creds = await asyncio.to_thread(issue, server, name, "--webhook-url", hook.url)
            hook.secret = creds["secret"]
            app = App(server.url, creds["token"])
            status, body = await app.call("POST", "/api/v1/conversations", {"user_id": f"{name}-user"})
            assert status == 201, body
            conversations.append(body["id"])
        ticket_id = await new_ticket(redis_server, server)
        followers = FollowerStore(redis_client, server.prefix)
        for conv_id in conversations:
            await followers.follow(ticket_id, FollowerKind.CONVERSATION, conv_id, "en")
        await change_status(redis_server, server.prefix, ticket_id, "in_progress")

        outcomes = await events_until(redis_client, f"{server.prefix}events",
                                      notices_of(ticket_id, "sent", "failed"), 2)
        assert sorted((d["via"], d["outcome"]) for d in outcomes) == [("api", "failed"), ("api", "sent")]
        assert "410" in next(d for d in outcomes if d["outcome"] == "failed")["error"]
        told = [c for c in good_hook.delivered() if ticket_id in c["body"].get("message", {}).get("text", "")]
        assert len(told) == 1 and told[0]["valid"]
        assert len([c for c in gone_hook.calls.items if c.get("refused")]) == 1  # no retry of a 410

        supervisor = await Supervisor.login(redis_client, server)
        assert (await supervisor.notifications())["api"] == row("api", 1, 1)
    finally:
        await server.stop()
        await good_hook.stop()
        await gone_hook.stop()
