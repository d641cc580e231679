"""Fixtures for the third-party stand-ins (registered in tests/conftest.py): one each, started for a test and
stopped after it. The stand-ins themselves, speaking each service's wire format, are in `channel_standins`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.channel_standins import SmtpCapture, TwilioStandin, WebhookReceiver


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioStandin]:
    """Twilio's Messages API (and the signed webhooks it sends)."""
    standin = await TwilioStandin().start()
    yield standin
    await standin.stop()


@pytest.fixture
async def relay() -> AsyncIterator[SmtpCapture]:
    """The city's outbound SMTP relay, capturing every mail."""
    capture = await SmtpCapture().start()
    yield capture
    await capture.stop()


@pytest.fixture
async def hook() -> AsyncIterator[WebhookReceiver]:
    """An app's webhook endpoint."""
    receiver = await WebhookReceiver().start()
    yield receiver
    await receiver.stop()
