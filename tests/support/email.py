"""The e-mail channel from a resident's side: a city address, mail composed like a mail client's,
sent into chat311's SMTP listener, and the server settings that turn the channel on.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib

from chat_server.child_specs import free_port
from tests.support.channel_standins import SmtpCapture, body_of

CITY = "311chat@city.test"


def email_env(relay: SmtpCapture) -> dict[str, str]:
    return {
        "CHAT311_CHANNELS__EMAIL_ENABLED": "true",
        "CHAT311_CHANNELS__EMAIL_ADDRESS": CITY,
        "CHAT311_CHANNELS__SMTP_LISTEN_PORT": str(free_port()),
        "CHAT311_CHANNELS__SMTP_HOST": "127.0.0.1",
        "CHAT311_CHANNELS__SMTP_PORT": str(relay.port),
        "CHAT311_CHANNELS__OUTBOX_RETRY_BASE_S": "0.2",
    }


def compose(sender: str, subject: str, body: str, in_reply_to: EmailMessage | None = None,
            **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Pat Resident <{sender}>"
    msg["To"] = CITY
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="resident.test")
    if in_reply_to is not None:
        msg["In-Reply-To"] = in_reply_to["Message-ID"]
        msg["References"] = f"{in_reply_to.get('References', '')} {in_reply_to['Message-ID']}".strip()
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


async def mail_to_city(server: Any, msg: EmailMessage) -> None:
    port = int(server.env["CHAT311_CHANNELS__SMTP_LISTEN_PORT"])
    await aiosmtplib.send(msg, hostname="127.0.0.1", port=port, timeout=10)


def mails_to(relay: SmtpCapture, address: str, needle: str) -> Any:
    return lambda items: [m["msg"] for m in items if address in m["rcpt"] and needle in body_of(m["msg"])]
