"""The resident Socket.IO protocol against a real chat_server, real Redis and the real Rasa bot."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
import socketio

from chat_server import safety
from tests.support.clients import ResidentClient
from tests.support.images import upload_photo
from tests.support.servers import wait_for_emergency_net

pytestmark = pytest.mark.rasa


async def stream_messages(redis_client: Any, session_id: str) -> list[tuple[str, dict[str, str]]]:
    convs = [c.decode() for c in await redis_client.lrange(f"c311:session:{session_id}:convs", 0, -1)]
    out = []
    for cid in convs:
        for mid, raw in await redis_client.xrange(f"c311:conv:{cid}:msgs"):
            out.append((mid.decode(), {k.decode(): v.decode() for k, v in raw.items()}))
    return out


async def test_bot_turn_round_trip_is_stored(chat_server_url: str, resident: Any, redis_client: Any) -> None:
    client: ResidentClient = await resident(chat_server_url)
    session = await client.start_session()
    replies = await client.turn("hello", language="en")
    assert replies, "the bot answered nothing"
    assert all(r["sender"] == "bot" and r["id"] for r in replies)
    assert any(r.get("text") for r in replies)
    assert client.of("typing")[0] == {"sender": "bot", "on": True}
    stored = await stream_messages(redis_client, session)
    assert [f["sender"] for _, f in stored] == ["resident"] + ["bot"] * len(replies)
    assert stored[0][1]["text"] == "hello"
    assert {f["lang"] for _, f in stored} == {"en"}
    assert {f["channel"] for _, f in stored} == {"web"}
    assert [mid for mid, _ in stored[1:]] == [r["id"] for r in replies]


async def test_spanish_is_detected_and_passed_to_the_bot(chat_server_url: str, resident: Any,
                                                         redis_client: Any) -> None:
    client: ResidentClient = await resident(chat_server_url)
    session = await client.start_session()
    replies = await client.turn("hola, ¿cuándo recogen la basura en mi calle?")
    assert replies and all(r["lang"] == "es" for r in replies)
    assert client.of("language")[-1] == {"language": "es"}
    stored = await stream_messages(redis_client, session)
    assert stored[0][1]["lang"] == "es"


async def test_rasa_webchat_custom_data_sets_the_ui_language(chat_server_url: str, resident: Any,
                                                           redis_client: Any) -> None:
    """rasa-webchat puts the page's language in `customData`; an empty `metadata` does not hide it."""
    languages = []
    for custom in ({}, {"language": "es"}):  # a fresh session each: the first message sets the language
        client: ResidentClient = await resident(chat_server_url)
        session = await client.start_session()
        ack = await client.sio.call("user_uttered", {"message": "ok", "session_id": session, "metadata": {},
                                                     "customData": custom}, timeout=30)
        assert ack["ok"], ack
        stored = await stream_messages(redis_client, session)
        languages.append(stored[0][1]["lang"])
    assert languages == ["en", "es"]


async def test_replay_sends_exactly_the_missed_messages_once(chat_server_url: str, resident: Any) -> None:
    first: ResidentClient = await resident(chat_server_url)
    session = await first.start_session()
    await first.turn("hello")
    seen = [m["id"] for m in first.messages()]
    await first.close()
    # While the first tab is gone the conversation goes on in another connection.
    other: ResidentClient = await resident(chat_server_url)
    await other.start_session(session)
    await other.turn("what are your hours?")
    everything = [m["id"] for m in other.messages()]
    missed = [mid for mid in everything if mid not in seen]
    assert missed
    # The server sends the replay before it acknowledges session_request (same ordered socket), so
    # once the ack is in, everything the replay holds has arrived: no waiting for time.
    back: ResidentClient = await resident(chat_server_url)
    await back.start_session(session, last_message_id=seen[-1])
    assert [m["id"] for m in back.messages()] == missed
    full: ResidentClient = await resident(chat_server_url)
    await full.start_session(session, last_message_id="0")
    replayed = [m["id"] for m in full.messages()]
    assert replayed == sorted(set(replayed), key=replayed.index)  # no duplicates
    assert replayed == seen + missed


async def test_no_last_message_id_means_no_replay(chat_server_url: str, resident: Any) -> None:
    """Rasa-webchat keeps its own history and sends only session_id; replaying would duplicate it."""
    first: ResidentClient = await resident(chat_server_url)
    session = await first.start_session()
    await first.turn("hello")
    again: ResidentClient = await resident(chat_server_url)
    await again.start_session(session, plain=True)
    # A replay would have arrived before the ack (see the replay test above, which proves it does).
    assert again.messages() == []
    texts = [r["text"] for r in await first.turn("thanks") if r.get("text")]
    assert texts, "the bot answered nothing"
    # ... and live messages still reach the plain client: it is in the session, just not replayed to.
    await again.wait_for("bot_uttered", lambda d: d.get("text") == texts[-1])


async def test_rasa_protocol_clients_get_rasa_payloads(chat_server_url: str, resident: Any) -> None:
    """rasa-webchat shows a bot message only if its keys are exactly Rasa's ({text}, quick_replies)."""
    rasa_client: ResidentClient = await resident(chat_server_url)
    session = await rasa_client.start_session(plain=True)
    rich: ResidentClient = await resident(chat_server_url)
    await rich.start_session(session)
    ack = await rasa_client.sio.call("user_uttered", {"message": "hello", "session_id": session}, timeout=30)
    assert ack["ok"]
    rich_reply = await rich.wait_for("bot_uttered")
    plain_reply = await rasa_client.wait_for("bot_uttered")
    assert plain_reply["text"] == rich_reply["text"]
    assert set(plain_reply) <= {"text", "quick_replies", "attachment"}
    assert {"id", "sender", "lang", "ts"} <= set(rich_reply)
    assert rasa_client.of("typing") == [] and rasa_client.of("resident_uttered") == []


async def test_tabs_of_one_session_see_the_same_conversation(chat_server_url: str, resident: Any) -> None:
    tab1: ResidentClient = await resident(chat_server_url)
    session = await tab1.start_session()
    tab2: ResidentClient = await resident(chat_server_url)
    await tab2.start_session(session)
    cmid = uuid.uuid4().hex
    replies = await tab1.turn("how do I pay my water bill", client_msg_id=cmid)
    assert replies, "the bot answered nothing"
    echoed = await tab2.wait_for("resident_uttered", lambda d: d.get("client_msg_id") == cmid)
    assert echoed["text"] == "how do I pay my water bill"
    for reply in replies:
        await tab2.wait_for("bot_uttered", lambda d, rid=reply["id"]: d["id"] == rid)


async def test_unknown_or_forged_session_gets_a_fresh_one(chat_server_url: str, resident: Any) -> None:
    owner: ResidentClient = await resident(chat_server_url)
    real = await owner.start_session()
    await owner.turn("hello")
    intruder: ResidentClient = await resident(chat_server_url)
    issued = await intruder.start_session(real[:-2] + ("aa" if not real.endswith("aa") else "bb"),
                                          last_message_id="0")
    assert issued != real
    assert intruder.messages() == []  # a replay of `real` would have come before the ack


async def test_resent_message_is_stored_once(chat_server_url: str, resident: Any, redis_client: Any) -> None:
    client: ResidentClient = await resident(chat_server_url)
    session = await client.start_session()
    cmid = uuid.uuid4().hex
    first = await client.say("thanks", client_msg_id=cmid)
    second = await client.say("thanks", client_msg_id=cmid)
    assert first["ok"] and second["ok"] and second["duplicate"] is True
    assert second["id"] == first["id"]
    stored = await stream_messages(redis_client, session)
    assert [f["text"] for _, f in stored if f["sender"] == "resident"] == ["thanks"]


async def test_bad_input_is_rejected_and_nothing_stored_is_lost(chat_server_url: str, resident: Any,
                                                               redis_client: Any) -> None:
    client: ResidentClient = await resident(chat_server_url)
    session = await client.start_session()
    await client.turn("hello")
    before = await stream_messages(redis_client, session)

    too_long = await client.say("x" * 2001)
    assert too_long["error"]["code"] == "too_long"
    for bad in ("just a string", {"message": 42}, {"text": "hi"}, None, ["message"]):
        ack = await client.sio.call("user_uttered", bad, timeout=5)
        assert ack["error"]["code"] == "malformed", bad
    ack = await client.sio.call("session_request", {"last_message_id": "not-an-id"}, timeout=5)
    assert ack["error"]["code"] == "malformed"
    ack = await client.sio.call("user_uttered", {"message": "hi", "session_id": "someone-elses-session-token"},
                                timeout=5)
    assert ack["error"]["code"] == "wrong_session"
    ack = await client.sio.call("user_uttered", {"message": "hi", "session_id": session,
                                                 "metadata": {"client_msg_id": "<script>"}}, timeout=5)
    assert ack["error"]["code"] == "malformed"
    ack = await client.sio.call("no_such_event", {"x": 1}, timeout=5)
    assert ack["error"]["code"] == "unknown_event"
    ack = await client.say("\x00\x01\u202e   ")
    assert ack["error"]["code"] == "empty"
    errors = client.of("error")
    assert len(errors) >= 9 and all(set(e) == {"code", "message"} and e["message"] for e in errors)
    assert await stream_messages(redis_client, session) == before
    # The connection still works after all that.
    assert (await client.turn("thank you"))


async def test_flood_is_rate_limited_per_session_not_per_ip(chat_server_url: str, resident: Any) -> None:
    flooder: ResidentClient = await resident(chat_server_url)
    await flooder.start_session()
    acks = await asyncio.gather(*(flooder.say(f"message {i}") for i in range(30)))
    limited = [a for a in acks if not a["ok"]]
    assert limited and all(a["error"]["code"] == "rate_limited" for a in limited)
    # Fixed 10 s windows: a burst that straddles a window edge may get two windows' worth.
    assert sum(a["ok"] for a in acks) <= 24
    # A neighbour on the same IP (a library computer) is not blocked.
    neighbour: ResidentClient = await resident(chat_server_url)
    await neighbour.start_session()
    assert (await neighbour.say("hello"))["ok"]


async def test_control_characters_are_stripped(chat_server_url: str, resident: Any, redis_client: Any) -> None:
    client: ResidentClient = await resident(chat_server_url)
    session = await client.start_session()
    await client.turn("he\x07llo\u202e <img src=x onerror=alert(1)>")
    stored = await stream_messages(redis_client, session)
    assert stored[0][1]["text"] == "hello <img src=x onerror=alert(1)>"  # stored as plain text, never rendered


async def test_origin_allow_list(server_factory: Any) -> None:
    server = await server_factory(CHAT311_SERVER__ALLOWED_ORIGINS='["https://www.charlottenc.gov"]')
    good = ResidentClient(server.url, headers={"Origin": "https://www.charlottenc.gov"})
    await good.connect()
    assert good.sio.connected
    await good.close()
    bad = ResidentClient(server.url, headers={"Origin": "https://evil.example"})
    with pytest.raises(socketio.exceptions.ConnectionError):
        await bad.connect()
    await server.stop()


async def test_restart_mid_conversation_loses_and_duplicates_nothing(restartable_server: Any, resident: Any,
                                                                     redis_client: Any) -> None:
    client: ResidentClient = await resident(restartable_server.url)
    session = await client.start_session()
    await client.turn("hello")
    last_seen = client.messages()[-1]["id"]
    await client.close()
    await restartable_server.restart()
    again: ResidentClient = await resident(restartable_server.url)
    assert await again.start_session(session, last_message_id=last_seen) == session
    replies = await again.turn("how do I pay my water bill")
    assert replies
    stored = await stream_messages(redis_client, session)
    ids = [mid for mid, _ in stored]
    assert len(ids) == len(set(ids))
    residents = [f["text"] for _, f in stored if f["sender"] == "resident"]
    assert residents == ["hello", "how do I pay my water bill"]


async def test_stored_fields_are_documented_shape(chat_server_url: str, resident: Any, redis_client: Any) -> None:
    client: ResidentClient = await resident(chat_server_url)
    session = await client.start_session()
    await client.turn("hello")
    cid = (await redis_client.lindex(f"c311:session:{session}:convs", -1)).decode()
    conv = {k.decode(): v.decode() for k, v in (await redis_client.hgetall(f"c311:conv:{cid}")).items()}
    assert conv["state"] == "bot" and conv["channel"] == "web" and conv["language"] == "en"
    assert conv["label"] == "greet"
    assert float(conv["created_at"]) <= time.time()
    events = await redis_client.xrange("c311:events")
    kinds = [(json.loads(raw[b"data"]), raw[b"kind"].decode()) for _, raw in events if raw[b"conv"].decode() == cid]
    assert [k for _, k in kinds][:3] == ["conversation_created", "resident_message", "bot_answered"]


@pytest.mark.parametrize("text", ["my neighbors house is on fire", "my house is on fire, it's spreading fast"])
async def test_guard_answer_is_not_followed_by_the_bots_fallback(chat_server_url: str, resident: Any,
                                                                 text: str) -> None:
    client: ResidentClient = await resident(chat_server_url)
    await client.start_session()
    replies = await client.turn(text, language="en")
    assert [r for r in replies if r["sender"] == "system" and "call 911" in r["text"]], replies
    fallback = [r for r in replies if "didn't understand" in r.get("text", "") or "rephrase" in r.get("text", "")]
    assert not fallback, f"the 911 answer was followed by the bot's fallback: {fallback}"


async def test_an_emergency_in_a_report_is_answered_once_and_the_form_goes_on(chat_server_url: str,
                                                                               resident: Any) -> None:
    """The guard answers first; the bot's own 911 text is left out, and the form's next question is not (it was
    once dropped with the bot's "I didn't understand", and the resident's next reply taken as its answer)."""
    client: ResidentClient = await resident(chat_server_url)
    await client.start_session()
    await client.turn("a big tree fell and is blocking the road")
    replies = await client.turn("the branch hit a man and he is bleeding, its at 2200 Park Rd")
    said = [r.get("text") or "" for r in replies]
    assert sum("911" in t for t in said) == 1, said
    assert replies[0].get("sender") == "system" and "911" in said[0]
    asked = [r for r in replies[1:] if r.get("sender") == "bot"]
    assert asked and asked[-1].get("form_active") and "didn't understand" not in said[-1], said


async def test_after_the_guard_the_bot_hears_an_emergency_not_an_answer(chat_server_url: str, resident: Any) -> None:
    """"ya no quiero vivir" got 911 and 988, then the bot's "Está bien, no hay problema"; "i want to kill myself"
    at the location question got "Sorry, I couldn't recognize 'i want to kill myself' as a location" (probe J)."""
    client: ResidentClient = await resident(chat_server_url)
    await client.start_session()
    replies = await client.turn("ya no quiero vivir", language="es")
    said = [r.get("text") or "" for r in replies]
    assert replies[0].get("sender") == "system" and "911" in said[0] and "988" in said[0], said
    assert not [t for t in said if "no hay problema" in t], said
    report: ResidentClient = await resident(chat_server_url)
    await report.start_session()
    await report.turn("I want to report a pothole", language="en")
    replies = await report.turn("i want to kill myself", language="en")
    said = [r.get("text") or "" for r in replies]
    assert replies[0].get("sender") == "system" and "988" in said[0], said
    assert not [t for t in said if "as a location" in t], said
    assert replies[-1].get("form_active") and "Where is the problem" in said[-1], said  # the question, again


async def test_a_question_about_emergencies_gets_the_911_answer_and_its_own(chat_server_url: str,
                                                                           resident: Any) -> None:
    """"what number do I call for non emergencies" and "last year our house burned down and I still need the debris
    removed" got only "call 911": the bot heard `/emergency`, not the question (probe AC)."""
    client: ResidentClient = await resident(chat_server_url)
    await client.start_session()
    replies = await client.turn("what should i do if i ever smell gas in my house", language="en")
    said = [r.get("text") or "" for r in replies]
    assert replies[0].get("sender") == "system" and "911" in said[0] and "Piedmont" in said[0], said
    answers = [r for r in replies[1:] if r.get("sender") == "bot" and r.get("text")]
    assert answers and "gas" in answers[0]["text"].lower(), said  # the question's own answer follows
    assert sum("911" in t for t in said) <= 2, said  # the bot's own 911 text, if it read one, is left out


async def test_an_emergency_only_the_bot_read_is_answered_as_an_alert(chat_server_url: str, resident: Any) -> None:
    """The bot's second net ("i need the fire department": a look-alike to the guard) came as a plain bot bubble
    without the crisis line; it is the 911 answer, so it is said as the guard's is (probe AC)."""
    client: ResidentClient = await resident(chat_server_url)
    await client.start_session()
    replies = await client.turn("i need the fire department", language="en")
    alerts = [r for r in replies if r.get("sender") == "system" and (r.get("custom") or {}).get("event") == "emergency"]
    assert len(alerts) == 1 and "911" in alerts[0]["text"] and "988" in alerts[0]["text"], replies
    assert not [r for r in replies if r.get("sender") == "bot" and "911" in (r.get("text") or "")], replies


async def test_an_emergency_no_wording_knows_is_read_by_its_meaning(chat_server_url: str, resident: Any) -> None:
    """Two fresh authors' emergencies got past the wordings one in five times (probes AC, AD): what a message means
    is a net under them. The words still reach the bot, so a false alarm costs one line."""
    await wait_for_emergency_net(chat_server_url)
    client: ResidentClient = await resident(chat_server_url)
    await client.start_session()
    said = "my grandpa is on the floor and his eyes are rolling back"
    assert safety.emergency_language(said) is None  # no wording knows it
    replies = await client.turn(said, language="en")
    alerts = [r for r in replies if r.get("sender") == "system" and (r.get("custom") or {}).get("event") == "emergency"]
    assert len(alerts) == 1 and "911" in alerts[0]["text"] and "988" in alerts[0]["text"], replies
    assert replies[0] is alerts[0], replies  # first
    plain = await client.turn("when is trash pickup on my street", language="en")
    assert not [r for r in plain if "911" in (r.get("text") or "")], plain
    # in a report the words are no answer: "not recognised as a location" followed the 911 line
    await client.turn("I want to report a pothole", language="en")
    replies = await client.turn(said, language="en")
    texts = [r.get("text") or "" for r in replies]
    assert replies[0].get("sender") == "system" and "911" in texts[0], texts
    assert not [t for t in texts if "as a location" in t], texts
    assert replies[-1].get("form_active") and "Where is the problem" in texts[-1], texts  # the question, again


async def test_a_photo_with_no_words_is_asked_about_not_misunderstood(chat_server_url: str, resident: Any) -> None:
    """Many phones send a picture as a message of its own: it got "Sorry, I didn't understand… Could you rephrase?"
    (probe AG). The resident is asked what it shows; a report started next keeps it."""
    client: ResidentClient = await resident(chat_server_url)
    await client.start_session()
    status, body = await upload_photo(chat_server_url, client.session_id)
    assert status == 201, body
    mark = len(client.events)
    assert (await client.say("📷", attachment={"type": "image", "url": body["media_url"]})).get("ok")
    asked = await client.wait_for("bot_uttered", after=mark)
    assert asked.get("sender") == "system" and "What does it show" in asked["text"], asked
    replies = await client.turn("there is a pothole at 600 E 4th St", language="en")
    said = " ".join(r.get("text") or "" for r in replies)
    assert "photo" in said.lower(), said  # the report notes the photo it keeps


async def test_a_card_number_is_masked_before_it_is_stored_and_the_resident_is_told(
        chat_server_url: str, resident: Any, redis_client: Any) -> None:
    client: ResidentClient = await resident(chat_server_url)
    session = await client.start_session()
    await client.turn("can i pay my water bill with card 4111 1111 1111 1111 exp 09/27")
    [echo] = client.of("resident_uttered")
    assert echo["text"] == "can i pay my water bill with card [card …1111] exp 09/27"
    warning = [m for m in client.of("bot_uttered") if m.get("sender") == "system"]
    assert warning and "card numbers" in warning[0]["text"]
    stored = json.dumps(await stream_messages(redis_client, session))
    assert "4111 1111 1111 1111" not in stored and "[card" in stored


async def test_a_report_started_in_spanish_finishes_in_spanish(chat_server_url: str, resident: Any) -> None:
    """An English-looking answer inside a form (an address, "on the corner of …") does not switch the
    conversation's language: a Spanglish resident's report went on in English."""
    client: ResidentClient = await resident(chat_server_url)
    await client.start_session()
    await client.turn("hay un bache grande en mi calle", language="es")
    replies = await client.turn("on the corner of Monroe Rd and Sharon Amity")
    assert replies and all(r.get("lang") == "es" for r in replies), [(r.get("lang"), r.get("text")) for r in replies]


async def test_after_the_911_answer_a_lost_bot_does_not_hand_off(chat_server_url: str, resident: Any) -> None:
    """The guard caught what Rasa could not read; the bot's second fallback in a row would have offered a person
    (after hours: a request for the next business day) right after "call 911"."""
    client: ResidentClient = await resident(chat_server_url)
    await client.start_session()
    await client.turn("qwxz plmokn vbtrew")
    mark = len(client.events)
    replies = await client.turn("theres a lot of blood")
    assert [r.get("sender") for r in replies] == ["system"] and "911" in replies[0]["text"], replies
    assert not [e for e, _ in client.events[mark:] if e in ("queue_update", "ticket_created")]


async def test_a_message_in_another_language_is_told_which_we_speak_once(chat_server_url: str, resident: Any) -> None:
    """Probe V: French, Chinese and Vietnamese messages got only English non-answers, with no word of the languages
    this chat speaks or of 311's interpreters."""
    client: ResidentClient = await resident(chat_server_url)
    await client.start_session()
    replies = await client.turn("我的垃圾没有被收走")
    told = [r for r in replies if r.get("sender") == "system" and "English and Spanish" in r.get("text", "")]
    assert len(told) == 1 and "interpreters" in told[0]["text"] and "311" in told[0]["text"], replies
    replies = await client.turn("Có ổ gà trước nhà tôi")
    assert not [r for r in replies if "English and Spanish" in r.get("text", "")], replies  # once is enough
    english = await resident(chat_server_url)
    await english.start_session()
    replies = await english.turn("can i rent a goat from the city")
    assert not [r for r in replies if "English and Spanish" in r.get("text", "")], replies
    # French is no Spanish (probe W: the chat switched to Spanish, "Soy el asistente automático…")
    french = await resident(chat_server_url)
    await french.start_session()
    replies = await french.turn("Bonjour, il y a un nid-de-poule devant chez moi")
    assert replies and all(r.get("lang") in (None, "en") for r in replies), replies
