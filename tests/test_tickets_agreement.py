"""Console and Open311 agree, for every service in the catalogue (generated from catalogue.yml).

For each service, one ticket is filed by an agent through the console's `ticket` action and one
through an Open311 POST, with the catalogue's required attributes (and every optional one) filled
from the catalogue itself; both must produce the same service_code, attributes and description.
Adding a service to the catalogue adds a case here without touching this file.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from chat_server.tickets.apikeys import ApiKeyStore
from chat_server.tickets.catalogue import Service, load_catalogue
from tests.support.agents import AgentClient, agent_client, escalate, escalation_env, fresh_prefix, make_agent
from tests.support.clients import ResidentClient
from tests.support.servers import ROOT, RedisServer

pytestmark = pytest.mark.rasa

CATALOGUE = load_catalogue(ROOT / "chat_server" / "tickets" / "catalogue.yml")
EXAMPLE_BY_TYPE = {"string": "AB 1234", "text": "Seen on the way to work.\nStill there.", "number": "3",
                   "datetime": "2025-05-06T10:00:00-04:00"}


def example_attributes(service: Service) -> dict[str, str | list[str]]:
    """A valid answer for every attribute, taken from the catalogue (lists: the last value)."""
    out: dict[str, str | list[str]] = {}
    for attr in service.attributes:
        if attr.datatype == "multivaluelist":
            out[attr.code] = [v.key for v in attr.values[:2]]
        elif attr.datatype == "singlevaluelist":
            out[attr.code] = attr.values[-1].key
        else:
            out[attr.code] = EXAMPLE_BY_TYPE[attr.datatype]
    return out


def open311_form(service: Service, attributes: dict[str, str | list[str]], description: str,
                 api_key: str) -> list[tuple[str, str]]:
    form = [("api_key", api_key), ("service_code", service.service_code), ("description", description),
            ("address_string", "600 E 4th St, Charlotte, NC 28202")]
    for code, value in attributes.items():
        if isinstance(value, list):
            form.extend((f"attribute[{code}][]", v) for v in value)
        else:
            form.append((f"attribute[{code}]", value))
    return form


@dataclass
class Setup:
    url: str
    prefix: str
    agent: AgentClient
    conversation_id: str
    api_key: str
    redis: aioredis.Redis


@pytest.fixture(scope="module")
async def setup(server_factory: Callable[..., Any], redis_server: RedisServer) -> AsyncIterator[Setup]:
    """One server, one agent with one accepted chat (console tickets keep it assigned), one API key."""
    prefix = fresh_prefix()
    server = await server_factory(name="tickets-agreement", **escalation_env(prefix))
    await make_agent(redis_server.url, prefix, "ann", name="Ann")
    agent = await agent_client(server.url, "ann")
    res = ResidentClient(server.url)
    await res.connect()
    await res.start_session()
    await escalate(res)
    offer = await agent.wait_for("offer", timeout=30)
    assert (await agent.call("accept", {"conversation_id": offer["conversation_id"]}))["ok"]
    redis = redis_server.client()
    _, api_key = await ApiKeyStore(redis, prefix).add("agreement")
    yield Setup(server.url, prefix, agent, offer["conversation_id"], api_key, redis)
    await res.close()
    await agent.close()
    await redis.aclose()


async def stored(setup: Setup, ticket_id: str) -> dict[str, Any]:
    raw = {k.decode(): v.decode() for k, v in (await setup.redis.hgetall(f"{setup.prefix}ticket:{ticket_id}")).items()}
    return {"service_code": raw["service_code"], "attributes": json.loads(raw.get("attributes") or "{}"),
            "description": raw.get("description"), "public_description": raw.get("public_description"),
            "address": raw.get("address"), "status": raw["status"]}


@pytest.mark.parametrize("service", list(CATALOGUE), ids=lambda s: s.service_code)
async def test_console_and_open311_file_the_same_ticket(setup: Setup, service: Service) -> None:
    attributes = example_attributes(service)
    description = f"Agreement check for {service.service_code}"
    ack = await setup.agent.call("ticket", {
        "conversation_id": setup.conversation_id, "service_code": service.service_code, "description": description,
        "address": "600 E 4th St, Charlotte, NC 28202", "attributes": attributes})
    assert ack["ok"], ack
    async with aiohttp.ClientSession() as http, http.post(
            f"{setup.url}/open311/v2/requests.json",
            data=open311_form(service, attributes, description, setup.api_key)) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    console, api = await stored(setup, ack["ticket_id"]), await stored(setup, body[0]["service_request_id"])
    assert console == api
    assert console["service_code"] == service.service_code and console["description"] == description
    assert console["attributes"] == {k: v for k, v in attributes.items()}


@pytest.mark.parametrize("service", [s for s in CATALOGUE if any(a.required for a in s.attributes)],
                         ids=lambda s: s.service_code)
async def test_both_refuse_a_missing_required_attribute(setup: Setup, service: Service) -> None:
    required = next(a for a in service.attributes if a.required)
    attributes = {k: v for k, v in example_attributes(service).items() if k != required.code}
    message = f"attribute[{required.code}] is required for service_code {service.service_code}"
    ack = await setup.agent.call("ticket", {
        "conversation_id": setup.conversation_id, "service_code": service.service_code,
        "description": "missing one", "address": "600 E 4th St", "attributes": attributes})
    assert not ack["ok"] and ack["error"]["message"] == message
    async with aiohttp.ClientSession() as http, http.post(
            f"{setup.url}/open311/v2/requests.json",
            data=open311_form(service, attributes, "missing one", setup.api_key)) as resp:
        assert resp.status == 400 and (await resp.json())[0]["description"] == message
