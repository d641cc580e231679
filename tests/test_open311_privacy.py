"""Open311 GET output is public: no contact details, no chat text, and always well-formed XML.

Ticket ids are sequential and `requests.json` lists 90 days, so anything in a public request can
be harvested. Real chat_server processes and Redis; the chat-path test uses the real bot too.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_server.tickets.open311 import to_xml
from tests.support.agents import login, make_agent
from tests.support.clients import ResidentClient
from tests.support.open311 import Api, cli, new_api_key, start_server
from tests.support.servers import ChatServerProcess, RedisServer, quoted_prefix

PREFIX = "t311priv:"
SECRETS = ("704-555-0188", "0188", "ann.ruiz@example.org", "123-45-6789", "Ruiz")
PRIVATE = ("private_description", "private_address", "transcript", "email", "phone", "first_name", "last_name",
           "account_id", "attributes")
POTHOLE_AT = {"address_string": "600 E 4th St", "attribute[road_position]": "lane"}


def scoped_key(redis_server: RedisServer, prefix: str) -> str:
    out = cli(redis_server, prefix, "apikeys", "add", "back office", "--scope", "read_private")
    assert out.returncode == 0, out.stderr
    assert "scopes: read_private" in out.stdout
    match = re.search(r"api_key: (\S+)", out.stdout)
    assert match
    return match.group(1)


def leaks(body: str) -> list[str]:
    return [s for s in SECRETS if s in body]


@pytest.fixture(scope="module")
async def server(redis_server: RedisServer) -> AsyncIterator[ChatServerProcess]:
    proc = await start_server(redis_server, "open311-privacy", PREFIX)
    yield proc
    await proc.stop()


@pytest.fixture(scope="module")
async def api(server: ChatServerProcess, redis_server: RedisServer) -> AsyncIterator[Api]:
    _, key = new_api_key(redis_server, PREFIX)
    client = Api(server.url, key)
    yield client
    await client.http.close()


async def fetch(url: str, cookie: str | None = None, **params: str) -> tuple[int, str, aiohttp.ClientResponse]:
    headers = {"Cookie": f"c311_agent={cookie}"} if cookie else {}
    async with aiohttp.ClientSession() as http, http.get(url, params=params, headers=headers) as resp:
        return resp.status, await resp.text(), resp


async def test_public_get_hides_contact_details_and_redacts_the_description(
        api: Api, server: ChatServerProcess, redis_server: RedisServer) -> None:
    created = await api.create(
        service_code="POTHOLE", description="Call me at 704-555-0188 or ann.ruiz@example.org, SSN 123-45-6789",
        email="ann.ruiz@example.org", phone="704-555-0188", first_name="Ana", last_name="Ruiz", **POTHOLE_AT)
    tid = created["service_request_id"]
    base = f"{server.url}/open311/v2"
    for path, params in ((f"requests/{tid}", {}), ("requests", {"service_request_id": tid}),
                         ("requests", {"service_code": "POTHOLE"})):
        for fmt in ("json", "xml"):
            status, body, resp = await fetch(f"{base}/{path}.{fmt}", **params)
            assert status == 200, body
            assert tid in body and not leaks(body), (path, fmt, leaks(body))
            assert not any(f'"{k}"' in body or f"<{k}>" in body for k in PRIVATE), body
            assert "[phone" in body and "[email]" in body and "[ssn]" in body  # the redacted public description
            assert "no-store" not in resp.headers.get("Cache-Control", "")

    # A key with the read_private scope, and signed-in staff, see what the resident gave.
    key = scoped_key(redis_server, PREFIX)
    status, body, resp = await fetch(f"{base}/requests/{tid}.json", api_key=key)
    private = json.loads(body)[0]
    assert status == 200 and private["email"] == "ann.ruiz@example.org" and private["phone"] == "704-555-0188"
    assert "123-45-6789" in private["private_description"] and "[ssn]" in private["description"]
    assert private["attributes"] == {"road_position": "lane"}  # what a back office acts on (probe AJ)
    assert "no-store" in resp.headers["Cache-Control"]
    status, body, _ = await fetch(f"{base}/requests.xml", api_key=key, service_request_id=tid)
    assert status == 200 and ET.fromstring(body).findtext("request/last_name") == "Ruiz"
    assert ET.fromstring(body).findtext("request/attributes/road_position") == "lane"

    await make_agent(redis_server.url, PREFIX, "olga")
    status, cookie = await login(server.url, "olga")
    assert status == 303 and cookie
    status, body, _ = await fetch(f"{base}/requests/{tid}.json", cookie=cookie)
    assert status == 200 and "ann.ruiz@example.org" in body

    # A key without the scope gets the public view; a wrong key is refused, not ignored.
    status, body, _ = await fetch(f"{base}/requests/{tid}.json", api_key=api.key)
    assert status == 200 and not leaks(body)
    status, body, _ = await fetch(f"{base}/requests/{tid}.json", api_key="c311_nope_nope")
    assert status == 403 and "api_key" in body and not leaks(body)


async def test_the_filers_own_name_is_masked_in_the_public_description(api: Api, server: ChatServerProcess) -> None:
    """Asked to describe the problem, residents sometimes type their name; their contact fields say it is theirs."""
    created = await api.create(service_code="POTHOLE", description="Pedro Alvarez. alvarez here again, still no answer",
                               first_name="Pedro", last_name="Alvarez", **POTHOLE_AT)
    status, body, _ = await fetch(f"{server.url}/open311/v2/requests/{created['service_request_id']}.json")
    assert status == 200
    assert json.loads(body)[0]["description"] == "[name]. [name] here again, still no answer"


async def test_the_address_is_public_only_redacted(api: Api, server: ChatServerProcess,
                                                   redis_server: RedisServer) -> None:
    """Probe U: the address went out as typed, "12 Elm St (Maria Lopez, apt 4, call 704-555-0188, maria@…)",
    while the description's name and phone were masked. The street stays: it is where the problem is."""
    created = await api.create(service_code="POTHOLE", description="Contact Maria Lopez",
                               address_string="12 Elm St (Maria Lopez, apt 4, call 704-555-0188, maria@example.com)",
                               first_name="Maria", last_name="Lopez", **{"attribute[road_position]": "lane"})
    tid = created["service_request_id"]
    status, body, _ = await fetch(f"{server.url}/open311/v2/requests/{tid}.json")
    assert status == 200
    address = json.loads(body)[0]["address"]
    assert address.startswith("12 Elm St (") and "apt 4" in address, address
    assert "Lopez" not in address and "0188" not in address and "maria@" not in address, address
    status, page, _ = await fetch(f"{server.url}/status/{tid}")
    assert status == 200 and "12 Elm St" in page and "Lopez" not in page and "555-0188" not in page
    key = scoped_key(redis_server, PREFIX)  # staff's view keeps the address as written
    status, body, _ = await fetch(f"{server.url}/open311/v2/requests/{tid}.json", api_key=key)
    assert json.loads(body)[0]["private_address"].endswith("maria@example.com)")


async def test_a_private_service_shows_only_its_status_and_only_its_filer_follows_it(
        api: Api, server: ChatServerProcess, redis_server: RedisServer, redis_client: Any) -> None:
    """A callback about a resident's own bill, found by its (sequential) number: its description, location and
    the staff's note ("Called Maria Lopez back about the double water charge; refund of $84.20") were public,
    and a stranger who followed it was sent the note (probe J)."""
    tid = (await api.create(service_code="GENERAL", description="double charge on my water bill",
                            address_string="1200 Elm St"))["service_request_id"]
    out = cli(redis_server, PREFIX, "tickets", "note", tid, "Called Maria Lopez back about the double water charge; "
              "refund of $84.20")
    assert out.returncode == 0, out.stderr
    status, body, _ = await fetch(f"{server.url}/open311/v2/requests/{tid}.json")
    public = json.loads(body)[0]
    assert status == 200 and public["status"] == "open" and public["service_code"] == "GENERAL"
    assert public["description"] is None and public["status_notes"] is None and public["address"] is None
    status, page, _ = await fetch(f"{server.url}/status/{tid}")
    assert status == 200 and "84.20" not in page and "water bill" not in page and "Elm" not in page
    stranger = ResidentClient(server.url)
    await stranger.connect()
    try:
        await stranger.start_session()
        await stranger.say(f'/follow_ticket{{"ticket_id": "{tid}"}}', language="en")
        refused = await stranger.wait_for("bot_uttered", lambda m: tid in (m.get("text") or ""))
        assert "only to the resident who made it" in refused["text"]
    finally:
        await stranger.close()
    assert not await redis_client.hgetall(f"{PREFIX}ticket:{tid}:followers")
    async with aiohttp.ClientSession() as http, http.post(f"{server.url}/status/{tid}/follow",
                                                         data={"contact": "stranger@example.org"}) as resp:
        assert resp.status == 403 and "only to the resident who made it" in await resp.text()


@pytest.mark.parametrize("bad", ["\x01", "\x08", "\x0b", "\x7f", "\x9f"])
async def test_control_characters_are_refused_on_post(api: Api, server: ChatServerProcess, bad: str) -> None:
    status, body, _ = await api.post({"service_code": "GENERAL", "description": f"hello{bad}world"})
    assert status == 400 and "control characters" in body[0]["description"]
    status, body, _ = await api.post({"service_code": "GENERAL", "description": "ok", "first_name": f"A{bad}B"})
    assert status == 400 and "first_name" in body[0]["description"]
    # Newlines and tabs are fine in a description, and the feed stays well-formed XML.
    await api.create(service_code="GENERAL", description="line one\nline two\tend")
    status, root, _ = await api.get("requests.xml", service_code="GENERAL")
    assert status == 200 and root.tag == "service_requests"
    # Zero-width and bidi-override characters are dropped, as in chat: "\u202eRTL" showed reversed on the city's
    # status page (probe AB).
    created = await api.create(service_code="POTHOLE", **{"attribute[road_position]": "lane"},
                               description="big \u202eeloh\u200b by the curb")
    status, body, _ = await api.get(f"requests/{created['service_request_id']}.json")
    assert status == 200 and body[0]["description"] == "big eloh by the curb", body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=200), st.text(max_size=20))
def test_xml_writer_output_always_parses(stored: str, other: str) -> None:
    """Whatever a ticket holds (old data, another writer), the XML feed parses and keeps the legal text."""
    data = [{"service_request_id": "311-1", "description": stored, "status_notes": other, "lat": 1.5,
             "flags": [stored, True], "nested": {"x": stored}}]
    root = ET.fromstring(to_xml("service_requests", "request", data))
    text = root.findtext("request/description") or ""
    legal = "".join(c for c in stored if c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD
                    or ord(c) >= 0x10000)
    # ElementTree normalises \r\n and \r to \n when parsing, as any XML parser must.
    assert text == legal.replace("\r\n", "\n").replace("\r", "\n")


async def test_ticket_from_chat_keeps_the_chat_text_private(
        server_factory: Callable[..., Any], resident: Callable[..., Any], redis_server: RedisServer) -> None:
    prefix = "t311privchat:"
    chat = await server_factory(name="privacy-chat", CHAT311_HOURS__WEEKLY="{}",
                                CHAT311_REDIS__KEY_PREFIX=quoted_prefix(prefix))
    client: ResidentClient = await resident(chat.url)
    await client.start_session()
    await client.say("my number is 704-555-0188 and my email ann.ruiz@example.org, ssn 123-45-6789")
    await client.say("/request_human")
    await client.wait_for("bot_uttered", lambda m: "/callback_yes" in str(m.get("quick_replies")), timeout=60)
    await client.say("/callback_yes")
    await client.wait_for("bot_uttered", lambda m: "/callback_phone" in str(m.get("quick_replies")))
    await client.say("you can reach me at 704-555-0199")
    created = await client.wait_for("ticket_created", timeout=60)
    tid = created["ticket_id"]
    for fmt in ("json", "xml"):
        status, body, _ = await fetch(f"{chat.url}/open311/v2/requests/{tid}.{fmt}")
        assert status == 200 and tid in body and not leaks(body), leaks(body)
        assert "my number is" not in body
    key = scoped_key(redis_server, prefix)
    status, body, _ = await fetch(f"{chat.url}/open311/v2/requests/{tid}.json", api_key=key)
    transcript = json.loads(body)[0]["transcript"]
    assert status == 200 and "704-555-0188" in transcript and "ann.ruiz@example.org" in transcript
    assert json.loads(body)[0]["phone"] == "704-555-0199"  # the callback contact, private like the rest
