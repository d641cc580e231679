"""Open311 GeoReport v2 API against a real chat_server process and real Redis.

The Open311 API does not involve the bot, so these servers run without Rasa (the readiness of
Rasa is not needed for /healthz); each module uses its own Redis key prefix, i.e. its own
jurisdiction's data. JSON responses are validated against chat311's own JSON Schema for the
GeoReport v2 responses (tests/schemas/georeport-v2.schema.json, written from the specification).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support.open311 import Api, cli, new_api_key, start_server
from tests.support.servers import ChatServerProcess, RedisServer

SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "georeport-v2.schema.json"
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d)$")
PREFIX = "t311api:"


# ----------------------------------------------------------------------------- helpers
SCHEMA = json.loads(SCHEMA_FILE.read_text())
jsonschema.Draft202012Validator.check_schema(SCHEMA)


def validate(instance: Any, definition: str) -> None:
    """Validate a JSON body against one response type (`$defs` entry) of the GeoReport v2 schema."""
    assert definition in SCHEMA["$defs"], f"{SCHEMA_FILE.name} has no $defs/{definition}"
    schema = {**SCHEMA, "$ref": f"#/$defs/{definition}"}
    jsonschema.Draft202012Validator(schema).validate(instance)
    # chat311 promises more than the spec's "Z or offset": the jurisdiction's own UTC offset.
    for item in instance if isinstance(instance, list) else [instance]:
        for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
            if isinstance(item, dict) and item.get(key) is not None:
                assert ISO_WITH_OFFSET.match(item[key]), f"{key}={item[key]!r} is not ISO 8601 with offset"


GOOD_REQUEST = {"service_request_id": "311-1000001", "status": "open", "service_code": "POTHOLE",
                "requested_datetime": "2025-05-06T14:03:11-04:00", "lat": 35.2, "long": -80.8}


@pytest.mark.parametrize(("definition", "instance"), [
    ("request", {**GOOD_REQUEST, "email": "res@example.org"}),  # contact details are not GeoReport fields
    ("request", {**GOOD_REQUEST, "status": "in_progress"}),
    ("request", {**GOOD_REQUEST, "requested_datetime": "2025-05-06 14:03"}),
    ("request", {k: v for k, v in GOOD_REQUEST.items() if k != "service_request_id"}),
    ("single_request", [GOOD_REQUEST, GOOD_REQUEST]),
    ("errors", []),
    ("errors", [{"code": "400", "description": "bad"}]),
    ("post_response", [{"service_notice": "no id and no token"}]),
    ("attribute", {"variable": True, "code": "size", "datatype": "singlevaluelist", "required": False,
                   "order": 1, "description": "Size"}),  # a list without values
    ("service", {"service_code": "X", "service_name": "X", "metadata": "true", "type": "realtime"}),
])
def test_schema_rejects_what_the_spec_forbids(definition: str, instance: Any) -> None:
    validate(GOOD_REQUEST, "request")
    with pytest.raises(jsonschema.ValidationError):
        validate(instance, definition)


@pytest.fixture(scope="module")
async def server(redis_server: RedisServer) -> AsyncIterator[ChatServerProcess]:
    srv = await start_server(redis_server, "open311-api", PREFIX)
    yield srv
    await srv.stop()


@pytest.fixture(scope="module")
async def api(server: ChatServerProcess, redis_server: RedisServer) -> AsyncIterator[Api]:
    _, key = await asyncio.to_thread(new_api_key, redis_server, PREFIX)
    client = Api(server.url, key)
    yield client
    await client.http.close()


# ----------------------------------------------------------------------------- services
EXPECTED_CODES = {"POTHOLE", "STREETLIGHT", "MISSED_PICKUP", "GRAFFITI", "ABANDONED_VEHICLE", "FALLEN_TREE",
                  "WATER_LEAK", "ILLEGAL_DUMPING", "GENERAL"}


async def test_services_json_matches_schema(api: Api) -> None:
    status, body, resp = await api.get("services.json")
    assert status == 200 and resp.content_type == "application/json"
    validate(body, "services")
    for item in body:
        validate(item, "service")
    by_code = {s["service_code"]: s for s in body}
    assert set(by_code) >= EXPECTED_CODES and len(by_code) >= 30  # issue 16: at least 30 services
    assert by_code["POTHOLE"]["service_name"] == "Pothole"
    assert by_code["POTHOLE"]["metadata"] is True and by_code["GENERAL"]["metadata"] is False
    assert by_code["MISSED_PICKUP"]["group"] == "Solid Waste"
    assert "pothole" in by_code["POTHOLE"]["keywords"]
    status, body_es, _ = await api.get("services.json", lang="es")
    assert {s["service_code"]: s["service_name"] for s in body_es}["POTHOLE"] == "Bache"


async def test_services_xml(api: Api) -> None:
    status, root, resp = await api.get("services.xml")
    assert status == 200 and resp.content_type == "text/xml"
    assert root.tag == "services"
    services = root.findall("service")
    _, listed, _ = await api.get("services.json")
    codes = {s.findtext("service_code") for s in services}
    assert codes == {s["service_code"] for s in listed} and codes >= EXPECTED_CODES and len(services) == len(listed)
    pothole = next(s for s in services if s.findtext("service_code") == "POTHOLE")
    assert pothole.findtext("service_name") == "Pothole"
    assert pothole.findtext("metadata") == "true"
    assert pothole.findtext("type") == "realtime"
    assert pothole.findtext("group") == "Streets"


async def test_service_definition_json_and_xml(api: Api) -> None:
    status, body, _ = await api.get("services/MISSED_PICKUP.json")
    assert status == 200
    validate(body, "service_definition")
    attrs = body["attributes"]
    assert [a["code"] for a in attrs] == ["cart_type", "cart_at_curb_by_7am"]
    assert [a["order"] for a in attrs] == [1, 2]
    assert attrs[0]["datatype"] == "multivaluelist" and attrs[0]["required"] is True
    assert [v["key"] for v in attrs[0]["values"]] == ["garbage", "recycling", "yard_waste", "bulky_item"]
    for code in EXPECTED_CODES:
        status, definition, _ = await api.get(f"services/{code}.json")
        assert status == 200
        validate(definition, "service_definition")
    status, es, _ = await api.get("services/POTHOLE.json", lang="es")
    assert es["attributes"][0]["values"][0]["name"] == "Carril de circulación"

    status, root, _ = await api.get("services/POTHOLE.xml")
    assert status == 200 and root.tag == "service_definition"
    assert root.findtext("service_code") == "POTHOLE"
    first = root.find("attributes/attribute")
    assert first is not None
    assert first.findtext("code") == "road_position"
    assert first.findtext("variable") == "true" and first.findtext("required") == "true"
    assert first.findtext("datatype") == "singlevaluelist" and first.findtext("order") == "1"
    assert [v.findtext("key") for v in first.findall("values/value")] == [
        "lane", "shoulder", "intersection", "crosswalk", "bike_lane"]


async def test_unknown_service_definition_is_404(api: Api) -> None:
    status, body, _ = await api.get("services/NOPE.json")
    assert status == 404
    validate(body, "errors")
    assert body[0]["code"] == 404 and "NOPE" in body[0]["description"]
    status, root, _ = await api.get("services/NOPE.xml")
    assert status == 404 and root.tag == "errors"
    assert root.findtext("error/code") == "404"


async def test_unsupported_format_and_unknown_path(api: Api) -> None:
    status, body, _ = await api.get("services.html")
    assert status == 400 and "json or .xml" in body[0]["description"]
    status, body, _ = await api.get("nothing-here.json")
    assert status == 404 and body[0]["code"] == 404
    status, root, _ = await api.get("nothing-here.xml")
    assert status == 404 and root.tag == "errors"
    async with api.http.put(f"{api.base}/requests.json", data={"api_key": api.key}) as resp:
        assert resp.status == 405 and "use GET, POST" in (await resp.json())[0]["description"]
        assert resp.headers["Allow"] == "GET, POST"  # RFC 9110: a 405 names the methods (probe AJ)


async def test_a_body_that_is_not_a_form_is_told_so(api: Api) -> None:
    """A JSON body read as a form loses every field: it was answered "api_key missing"."""
    fields = {"api_key": api.key, "service_code": "POTHOLE", "address_string": "1 Main St",
              "attribute[road_position]": "lane"}
    async with api.http.post(f"{api.base}/requests.json", json=fields) as resp:
        body = await resp.json()
        assert resp.status == 415 and "application/x-www-form-urlencoded" in body[0]["description"], body
    async with api.http.post(f"{api.base}/requests.json", data={**fields, "description": "x" * 70_000}) as resp:
        body = await resp.json()
        assert resp.status == 413 and "at most" in body[0]["description"], body
    status, body, _ = await api.post({**fields, "address_string": "", "lat": "NaN", "long": "-80"})
    assert status == 400 and "lat must be a number" in body[0]["description"], body
    status, body, _ = await api.post(fields)  # the same fields as a form are a request
    assert status == 200, body


async def test_jurisdiction_id(api: Api) -> None:
    status, body, _ = await api.get("services.json", jurisdiction_id="charlottenc.gov")
    assert status == 200 and body
    status, body, _ = await api.get("services.json", jurisdiction_id="elsewhere.gov")
    assert status == 404 and "jurisdiction_id" in body[0]["description"]
    status, root, _ = await api.get("requests.xml", jurisdiction_id="elsewhere.gov")
    assert status == 404 and root.findtext("error/code") == "404"
    status, body, _ = await api.post({"service_code": "POTHOLE", "address_string": "1 Main St",
                                      "attribute[road_position]": "lane", "jurisdiction_id": "elsewhere.gov"})
    assert status == 404


async def test_discovery(api: Api) -> None:
    status, body, _ = await api.get("discovery.json")
    assert status == 200
    validate(body, "discovery")
    assert body["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert body["endpoints"][0]["url"].endswith("/open311/v2")
    status, root, _ = await api.get("discovery.xml")
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["application/json", "text/xml"]


# ----------------------------------------------------------------------------- POST requests
async def test_post_requires_a_valid_api_key(api: Api, redis_server: RedisServer) -> None:
    data = {"service_code": "POTHOLE", "address_string": "1 Main St", "attribute[road_position]": "lane"}
    status, body, _ = await api.post(data, with_key=False)
    assert status == 403 and body[0]["code"] == 403 and "api_key" in body[0]["description"]
    status, root, _ = await api.post(data, fmt="xml", with_key=False)
    assert status == 403 and root.tag == "errors" and root.findtext("error/code") == "403"
    status, body, _ = await api.post([*data.items(), ("api_key", "c311_nope_nope")], with_key=False)
    assert status == 403
    # A revoked key stops working; `list` shows it as revoked.
    key_id, key = await asyncio.to_thread(new_api_key, redis_server, PREFIX, "to-revoke")
    status, body, _ = await api.post([*data.items(), ("api_key", key)], with_key=False)
    assert status == 200, body
    out = await asyncio.to_thread(cli, redis_server, PREFIX, "apikeys", "revoke", key_id)
    assert out.returncode == 0, out.stderr
    status, _, _ = await api.post([*data.items(), ("api_key", key)], with_key=False)
    assert status == 403
    listing = await asyncio.to_thread(cli, redis_server, PREFIX, "apikeys", "list")
    line = next(line for line in listing.stdout.splitlines() if line.startswith(key_id))
    assert "to-revoke" in line and "revoked" in line and key not in listing.stdout


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"service_code": "NOPE"}, "service_code"),
    ({"service_code": ""}, "service_code is required"),
    ({"address_string": ""}, "location is required"),
    ({"address_string": "", "lat": "35.2"}, "lat and long"),
    ({"address_string": "", "lat": "95", "long": "-80"}, "lat must be between"),
    ({"address_string": "", "lat": "north", "long": "-80"}, "lat must be a number"),
    ({"address_string": "", "lat": "35.7796", "long": "-78.6382"}, "outside the service area"),  # Raleigh
    ({"address_string": "200 Peachtree St NW, Atlanta, GA 30303"}, "ZIP code 30303 is outside the service area"),
    ({"zipcode": "27601"}, "ZIP code 27601 is outside"),
    ({"description": "x" * 4001}, "description is longer than 4000"),
    ({"attribute[road_position]": ""}, "attribute[road_position] is required"),
    ({"attribute[road_position]": "sky"}, "is not one of"),
    ({"attribute[colour]": "red"}, "unknown attribute"),
    ({"media_url": "javascript:alert(1)"}, "media_url"),
    ({"email": "not-an-email"}, "email"),
])
async def test_post_validation_errors(api: Api, fields: dict[str, str], fragment: str) -> None:
    data = {"service_code": "POTHOLE", "address_string": "1 Main St", "attribute[road_position]": "lane",
            **fields}
    status, body, _ = await api.post(data)
    assert status == 400, body
    validate(body, "errors")
    assert fragment in body[0]["description"]


async def test_a_request_describing_an_emergency_is_told_to_call_911_first(api: Api) -> None:
    """Probe X: "my house is on fire, people trapped" was filed with the pothole notice and nothing else."""
    fire = {"service_code": "POTHOLE", "address_string": "1 Main St", "attribute[road_position]": "lane",
            "description": "my house is on fire, people trapped"}
    status, body, _ = await api.post(fire)
    assert status == 200, body
    validate(body, "post_response")
    notice = body[0]["service_notice"]
    assert notice.startswith("If this is an emergency") and "call 911" in notice and "pothole" in notice.lower()
    status, one, _ = await api.get(f"requests/{body[0]['service_request_id']}.json")
    assert status == 200 and "911" not in (one[0]["service_notice"] or "")  # the public record keeps the service's
    # before a refusal too, in the request's language
    status, body, _ = await api.post({**fire, "attribute[road_position]": "sky", "lang": "es",
                                      "description": "mi casa se está quemando"})
    assert status == 400 and body[0]["description"].startswith("Si es una emergencia"), body
    status, body, _ = await api.post({**fire, "lang": "es", "description": "mi casa se está quemando"})
    assert status == 200 and body[0]["service_notice"].startswith("Si es una emergencia"), body
    assert "Street crews" not in body[0]["service_notice"], body  # the service's notice in Spanish too
    # an ordinary request has only the service's notice
    status, body, _ = await api.post({**fire, "description": "deep pothole in the left lane"})
    assert status == 200 and "911" not in body[0]["service_notice"], body


async def test_post_validation_error_xml(api: Api) -> None:
    status, root, _ = await api.post({"service_code": "POTHOLE", "attribute[road_position]": "lane"}, fmt="xml")
    assert status == 400 and root.tag == "errors"
    assert root.findtext("error/code") == "400" and "location" in root.findtext("error/description")


async def test_post_then_get_request_token_json(api: Api) -> None:
    description = "d" * 4000  # exactly the limit is fine
    status, body, _ = await api.post({
        "service_code": "ABANDONED_VEHICLE", "lat": "35.2271", "long": "-80.8431", "description": description,
        "attribute[plate]": "NC ABC-1234", "attribute[days_parked]": "12", "email": "res@example.org",
        "first_name": "Ana", "last_name": "Ruiz", "phone": "704-555-0100", "media_url": "https://example.org/a.jpg",
    })
    assert status == 200, body
    validate(body, "post_response")
    created = body[0]
    assert re.fullmatch(r"311-\d{7,}", created["service_request_id"])
    assert created["token"] and created["service_notice"]

    status, one, _ = await api.get(f"requests/{created['service_request_id']}.json")
    assert status == 200
    validate(one, "single_request")
    validate(one[0], "request")
    req = one[0]
    assert req["service_code"] == "ABANDONED_VEHICLE" and req["status"] == "open"
    assert req["service_name"] == "Abandoned vehicle"
    assert req["lat"] == pytest.approx(35.2271) and req["long"] == pytest.approx(-80.8431)
    assert req["description"] == description and req["media_url"] == "https://example.org/a.jpg"
    assert req["agency_responsible"]
    requested = datetime.fromisoformat(req["requested_datetime"])
    assert requested.utcoffset() is not None
    assert abs((datetime.now(requested.tzinfo) - requested).total_seconds()) < 120
    expected = datetime.fromisoformat(req["expected_datetime"])
    assert expected > requested and expected.weekday() < 5  # expected_days are business days
    assert "res@example.org" not in json.dumps(one) and "704-555" not in json.dumps(one)  # contact stays private

    status, token_body, _ = await api.get(f"tokens/{created['token']}.json")
    validate(token_body, "token_response")
    assert status == 200 and token_body == [{"service_request_id": created["service_request_id"],
                                             "token": created["token"]}]
    status, root, _ = await api.get(f"tokens/{created['token']}.xml")
    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id") == created["service_request_id"]

    status, root, _ = await api.get(f"requests/{created['service_request_id']}.xml")
    assert status == 200 and root.tag == "service_requests"
    request = root.find("request")
    assert request is not None
    assert request.findtext("service_request_id") == created["service_request_id"]
    assert request.findtext("status") == "open"
    assert ISO_WITH_OFFSET.match(request.findtext("requested_datetime") or "")
    assert request.find("address") is not None and request.findtext("address") in (None, "")


async def test_post_xml_response(api: Api) -> None:
    status, root, _ = await api.post({"service_code": "FALLEN_TREE", "address_string": "Tryon St & 5th St",
                                      "attribute[blocking]": "road"}, fmt="xml")
    assert status == 200 and root.tag == "service_requests"
    assert re.fullmatch(r"311-\d+", root.findtext("request/service_request_id") or "")
    assert root.findtext("request/token")


async def test_multivalue_attributes(api: Api) -> None:
    status, body, _ = await api.post([
        ("service_code", "MISSED_PICKUP"), ("address_id", "A-1001"),
        ("attribute[cart_type][]", "garbage"), ("attribute[cart_type][]", "recycling"),
        ("attribute[cart_at_curb_by_7am]", "yes"),
    ])
    assert status == 200, body
    # Repeating attribute[CODE] (no []) for a multivaluelist works too.
    status, body, _ = await api.post([
        ("service_code", "ILLEGAL_DUMPING"), ("address_string", "Vacant lot, 100 Elm St"),
        ("attribute[material]", "tires"), ("attribute[material]", "furniture"),
    ])
    assert status == 200, body
    status, body, _ = await api.post([
        ("service_code", "MISSED_PICKUP"), ("address_id", "A-1001"),
        ("attribute[cart_type][]", "garbage"), ("attribute[cart_type][]", "compost"),
        ("attribute[cart_at_curb_by_7am]", "yes"),
    ])
    assert status == 400 and "compost" in body[0]["description"]
    status, body, _ = await api.post([
        ("service_code", "POTHOLE"), ("address_id", "A-1001"),
        ("attribute[road_position]", "lane"), ("attribute[road_position]", "shoulder"),
    ])
    assert status == 400 and "single value" in body[0]["description"]


async def test_idempotency_key_returns_the_first_request(api: Api) -> None:
    first_status, first, first_resp = await api.post({"service_code": "GRAFFITI", "address_string": "Bridge on I-77",
                                                      "attribute[surface]": "bridge", "idempotency_key": "abc-1"})
    second_status, second, second_resp = await api.post({"service_code": "GRAFFITI",
                                                         "address_string": "Bridge on I-77",
                                                         "attribute[surface]": "bridge", "idempotency_key": "abc-1"})
    assert first_status == second_status == 200
    assert first[0]["service_request_id"] == second[0]["service_request_id"]
    assert "Idempotent-Replayed" not in first_resp.headers
    assert second_resp.headers["Idempotent-Replayed"] == "true"
    third_status, third, _ = await api.post({"service_code": "GRAFFITI", "address_string": "Bridge on I-77",
                                             "attribute[surface]": "bridge", "idempotency_key": "abc-2"})
    assert third_status == 200 and third[0]["service_request_id"] != first[0]["service_request_id"]
    # the same request with its parameters in another order is a replay; a different one under the key is refused
    status, again, resp = await api.post([("idempotency_key", "abc-1"), ("attribute[surface]", "bridge"),
                                          ("address_string", "Bridge on I-77"), ("service_code", "GRAFFITI")])
    assert status == 200 and again[0]["service_request_id"] == first[0]["service_request_id"], again
    assert resp.headers["Idempotent-Replayed"] == "true"
    status, refused, _ = await api.post({"service_code": "GRAFFITI", "address_string": "Underpass on I-85",
                                         "attribute[surface]": "sign", "idempotency_key": "abc-1"})
    assert status == 422 and refused[0]["code"] == 422, refused
    assert first[0]["service_request_id"] in refused[0]["description"]
    assert "idempotency_key" in refused[0]["description"]
    status, stored, _ = await api.get(f"requests/{first[0]['service_request_id']}.json")
    assert status == 200 and stored[0]["address"] == "Bridge on I-77", stored


# ----------------------------------------------------------------------------- GET requests
async def test_get_request_unknown_is_404(api: Api) -> None:
    status, body, _ = await api.get("requests/311-999999999.json")
    assert status == 404 and body[0]["code"] == 404
    status, root, _ = await api.get("requests/311-999999999.xml")
    assert status == 404 and root.findtext("error/code") == "404"
    status, body, _ = await api.get("tokens/no-such-token.json")
    assert status == 404


async def test_get_requests_filters(api: Api, redis_server: RedisServer) -> None:
    water = [await api.create(service_code="WATER_LEAK", **{"attribute[leak_location]": "hydrant",
                                                            "attribute[severity]": "steady"}) for _ in range(3)]
    closed_id = water[0]["service_request_id"]
    out = await asyncio.to_thread(cli, redis_server, PREFIX, "tickets", "status", closed_id, "resolved",
                                  "--note", "Valve replaced.")
    assert out.returncode == 0, out.stderr
    assert "leak_location: hydrant" in out.stdout and "severity: steady" in out.stdout  # staff see the answers

    status, body, resp = await api.get("requests.json", service_code="WATER_LEAK")
    assert status == 200
    validate(body, "requests")
    assert {r["service_request_id"] for r in body} == {w["service_request_id"] for w in water}
    assert resp.headers["X-Total-Count"] == "3"
    times = [r["requested_datetime"] for r in body]
    assert times == sorted(times, reverse=True)  # newest first

    status, body, _ = await api.get("requests.json", service_code="WATER_LEAK", status="closed")
    assert [r["service_request_id"] for r in body] == [closed_id]
    assert body[0]["status_notes"] == "Valve replaced."
    status, body, _ = await api.get("requests.json", service_code="WATER_LEAK", status="open")
    assert closed_id not in {r["service_request_id"] for r in body} and len(body) == 2
    status, body, _ = await api.get("requests.json", service_code="WATER_LEAK", status="open,closed")
    assert len(body) == 3

    ids = f"{water[2]['service_request_id']},311-999999999,{water[1]['service_request_id']}"
    status, body, _ = await api.get("requests.json", service_request_id=ids, service_code="POTHOLE")
    assert [r["service_request_id"] for r in body] == [water[2]["service_request_id"],
                                                       water[1]["service_request_id"]]

    now = datetime.now().astimezone()
    status, body, _ = await api.get("requests.json", service_code="WATER_LEAK",
                                    start_date=(now - timedelta(days=1)).isoformat(),
                                    end_date=(now + timedelta(minutes=5)).isoformat())
    assert status == 200 and len(body) == 3
    status, body, _ = await api.get("requests.json", service_code="WATER_LEAK",
                                    start_date=(now - timedelta(days=30)).isoformat(),
                                    end_date=(now - timedelta(days=2)).isoformat())
    assert status == 200 and body == []
    # a start still to come, alone: nothing after it, not "start_date must not be after end_date" (probe AJ)
    status, body, _ = await api.get("requests.json", start_date=(now + timedelta(days=30)).isoformat())
    assert status == 200 and body == []
    # in Spanish: the service's name and notice (probe AJ: only services.json was)
    status, body, _ = await api.get("requests.json", service_code="WATER_LEAK", lang="es")
    assert {r["service_name"] for r in body} == {"Fuga de agua"}, body[0]
    assert all("atiende las fugas" in (r["service_notice"] or "") for r in body), body[0]

    status, root, _ = await api.get("requests.xml", service_code="WATER_LEAK")
    assert root.tag == "service_requests" and len(root.findall("request")) == 3
    closed = next(r for r in root.findall("request") if r.findtext("service_request_id") == closed_id)
    assert closed.findtext("status") == "closed" and closed.findtext("status_notes") == "Valve replaced."


@pytest.mark.parametrize(("params", "fragment"), [
    ({"start_date": "2025-01-01T00:00:00-05:00", "end_date": "2025-05-01T00:00:00-04:00"}, "90 days"),
    ({"start_date": "2025-03-01T00:00:00Z", "end_date": "2025-02-01T00:00:00Z"}, "after end_date"),
    ({"start_date": "yesterday"}, "ISO 8601"),
    ({"end_date": "2025-13-45"}, "ISO 8601"),
    ({"status": "pending"}, "open or closed"),
    ({"page": "0"}, "page must be"),
    ({"page_size": "1001"}, "page_size must be"),
    ({"page_size": "ten"}, "whole number"),
])
async def test_get_requests_bad_parameters(api: Api, params: dict[str, str], fragment: str) -> None:
    status, body, _ = await api.get("requests.json", **params)
    assert status == 400, body
    validate(body, "errors")
    assert fragment in body[0]["description"]


async def test_get_requests_pagination(api: Api) -> None:
    created = [await api.create(service_code="STREETLIGHT", **{"attribute[light_problem]": "out"})
               for _ in range(5)]
    expected = [c["service_request_id"] for c in reversed(created)]
    seen: list[str] = []
    page = 1
    while True:
        status, body, resp = await api.get("requests.json", service_code="STREETLIGHT", page_size="2",
                                           page=str(page))
        assert status == 200
        if body:
            validate(body, "requests")
        assert resp.headers["X-Total-Count"] == "5"
        seen += [r["service_request_id"] for r in body]
        if 'rel="next"' not in resp.headers.get("Link", ""):
            break
        assert "page=" + str(page + 1) in resp.headers["Link"]
        page += 1
    assert page == 3 and seen == expected
    status, body, resp = await api.get("requests.json", service_code="STREETLIGHT", page_size="2", page="9")
    assert status == 200 and body == []
    assert 'page=3>; rel="prev"' in resp.headers["Link"]  # the last page that has any, not page 8 (probe AJ)


async def test_default_window_is_90_days(api: Api) -> None:
    await api.create()
    status, body, resp = await api.get("requests.json")
    assert status == 200 and body
    validate(body, "requests")
    oldest = datetime.fromisoformat(body[-1]["requested_datetime"])
    assert datetime.now(oldest.tzinfo) - oldest < timedelta(days=90)
    assert int(resp.headers["X-Total-Count"]) == len(body) <= 1000
