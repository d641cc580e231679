"""The knowledge base through the whole bot: real Rasa + action server + chat_server (issue 15).

The action server asks the main chat_server (POST /kb/answer) for every `faq` / `nlu_fallback` turn.
Where a test needs a question of one kind (a menu, a fallback), it asks that same endpoint which of a
few candidates is of that kind, so the test follows the shipped calibration instead of hard-coding it.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from chat_server.agents.auth import SESSION_COOKIE
from chat_server.knowledge.labels import REPORT_OVERRULE_BELOW
from chat_server.metrics.compute import Aggregator, LogEvent
from chat_server.metrics.reports import kb_feedback
from chat_server.training.inbox import Inbox, InboxKind, item_id
from tests.support import waiting
from tests.support.bot import Conversation, parse
from tests.support.browser import chromium, new_page
from tests.support.channel_standins import TwilioStandin
from tests.support.servers import RASA_TOKEN, quoted_prefix
from tests.support.staff import PASSWORD, console_login, ensure_account, login

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.rasa


@pytest.fixture
def convo(rasa_stack: Any, chat_server: Any):
    def make(lang: str = "en") -> Conversation:
        return Conversation(rasa_stack, lang)
    return make


async def kb(chat_server_url: str, body: dict, token: str = RASA_TOKEN) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{chat_server_url}/kb/answer", json=body, headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=60)) as resp:
        return resp.status, await resp.json()


async def first_of_kind(chat_server_url: str, kind: str, candidates: list[str]) -> tuple[str, dict]:
    for text in candidates:
        status, decision = await kb(chat_server_url, {"text": text, "language": "en"})
        assert status == 200, decision
        if decision["kind"] == kind:
            return text, decision
    raise AssertionError(f"none of {candidates} is a {kind} under the shipped calibration")


async def until(check: Any, timeout_s: float = 20.0) -> Any:
    """The first truthy result of `check()`: events reach the stream and the inbox just after the reply."""
    return await waiting.until(check, timeout_s, f"{check.__name__} did not happen within {timeout_s} s", interval=0.1)


def button(c: Conversation, title: str) -> dict:
    found = [b for b in c.buttons if b["title"] == title]
    assert found, (title, c.buttons)
    return found[0]


async def test_kb_endpoint_checks_token_and_input(chat_server_url: str) -> None:
    status, body = await kb(chat_server_url, {"text": "water bill", "language": "en"}, token="wrong")
    assert status == 401 and body["error"]["code"] == "bad_token"
    status, body = await kb(chat_server_url, {"text": "  ", "language": "en"})
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body = await kb(chat_server_url, {"text": "water bill", "language": "fr"})
    assert status == 400 and "language" in body["error"]["message"]
    status, body = await kb(chat_server_url, {"article_id": "no-such-article", "language": "es"})
    assert status == 404 and body["error"]["code"] == "unknown_article"
    status, body = await kb(chat_server_url, {"article_id": "water-bill-pay", "language": "es"})
    assert status == 200 and body["kind"] == "answer" and body["label"] == "faq/utility_bill"
    assert body["article"]["answer"].startswith("Pague en línea")


async def test_answer_in_english_and_spanish_with_details_and_feedback_buttons(convo) -> None:
    c = convo()
    await c.say("how do i pay my water bill")
    assert c.last["label"] == "faq/utility_bill" and c.last["slots"]["kb_label"] == "faq/utility_bill"
    assert "https://www.charlottenc.gov/Water" in c.text and "Was this helpful?" in c.text
    assert [b["title"] for b in c.buttons] == ["More details", "Yes", "No"]  # no service: no "Report it"
    await c.say(button(c, "More details")["payload"])
    assert c.last["label"] == "faq/utility_bill" and "Was this helpful?" in c.text
    assert "More details" not in [b["title"] for b in c.buttons]
    es = convo("es")
    await es.say("¿a qué hora abren?")
    assert es.last["label"] == "faq/hours_contact" and es.last["language"] == "es"
    assert "Los agentes del 311 atienden" in es.text and "¿Le sirvió esta respuesta?" in es.text
    assert [b["title"] for b in es.buttons][-2:] == ["Sí", "No"]


@pytest.mark.parametrize(("text", "lang", "label"), [
    ("reserve a picnic shelter at the park", "en", "faq/parks_recreation"),
    ("business license", "en", "faq/business_license"),
    ("old paint and batteries", "en", "faq/hazardous_waste"),
    ("is trash pickup delayed because of the holiday", "en", "faq/trash_schedule"),
    ("necesito una copia de mi acta de nacimiento", "es", "faq/vital_records"),
])
async def test_issue_examples_reach_the_right_topic(convo, text: str, lang: str, label: str) -> None:
    c = convo(lang)
    await c.say(text)
    assert c.last["label"] == label, (text, c.last["label"], c.text)
    assert "https://" in c.text


@pytest.mark.parametrize(("text", "lang", "label"), [
    ("thanks!! when is yard waste picked up", "en", "faq/trash_schedule"),
    ("ok thanks, what day is recycling", "en", "faq/trash_schedule"),
    ("great, and where do I vote", "en", "faq/voting")])
async def test_a_thank_you_or_hello_before_a_question_still_gets_its_answer(convo, text: str, lang: str,
                                                                            label: str) -> None:
    """Probe AG: the lead-in pulled these from an answer to "Did you mean…" or "Sorry, I didn't understand"."""
    c = convo(lang)
    await c.say(text)
    assert c.last["label"] == label and "Was this helpful?" in c.text, (text, c.last["label"], c.text)
    assert "https://" in c.text and "Did you mean" not in c.text


async def test_low_confidence_question_gets_a_menu_and_picking_answers(convo, chat_server_url: str) -> None:
    """A menu when Rasa sees a question (faq) the knowledge base is unsure about; when Rasa found no
    intent (nlu_fallback), an unsure knowledge base means the fallback instead."""
    candidates = ["fees", "i have a question about my house", "who do i talk to about the city", "card",
                  "my neighbor", "permit", "problem with the street", "help with money", "question about a bill",
                  "what about my account", "i need information about services"]
    c = None
    for text in candidates:
        status, decision = await kb(chat_server_url, {"text": text, "language": "en", "intent": "faq"})
        assert status == 200, decision
        if decision["kind"] != "menu":
            continue
        status, unsure = await kb(chat_server_url, {"text": text, "language": "en", "intent": "nlu_fallback"})
        assert status == 200 and unsure["kind"] == "fallback" and unsure["label"] == "nlu_fallback"
        c = convo()
        await c.say(text)
        if c.last["intent_ranking"][0][0] == "faq":
            break
    assert c is not None and "Did you mean" in c.text, (c and c.last["label"], c and c.text)
    titles = [b["title"] for b in c.buttons]
    assert titles == [o["title"] for o in decision["options"]] + ["None of these"]
    assert c.last["label"] == f"faq/{decision['options'][0]['topic']}"
    second = decision["options"][1]
    await c.say(button(c, second["title"])["payload"])
    assert c.last["label"] == f"faq/{second['topic']}" and "https://" in c.text and "Was this helpful?" in c.text
    await c.say("/kb_none")  # not "I didn't understand": the resident pressed our own button
    assert "none of those" in c.text and "didn't understand" not in c.text and c.customs("escalate") == []


async def test_a_long_detailed_question_is_not_taken_for_out_of_scope(chat_server_url: str) -> None:
    """A long message is further from the short out-of-scope examples and from every article alike; the
    calibration allows for its length (docs/knowledge.md "Ranking"), so the details do not make it fall back."""
    text = ("good morning, my mother is 82 and lives alone near the library on Beatties Ford, she wants to adopt "
            "a small older dog to keep her company, what are the adoption center hours on saturday")
    status, decision = await kb(chat_server_url, {"text": text, "language": "en", "intent": "faq"})
    assert status == 200 and decision["kind"] in ("answer", "menu"), decision
    shown = [decision["article"]["id"]] if decision["kind"] == "answer" else [o["id"] for o in decision["options"]]
    assert "animal-adopt" in shown, decision


async def test_out_of_scope_gets_the_fallback_and_the_second_escalates(convo, chat_server_url: str) -> None:
    candidates = ["qwxz plmokn vbtrew", "zzkq vlorp gnathe", "asdf jklo qwerpo"]
    text, _ = await first_of_kind(chat_server_url, "fallback", candidates)
    c = convo()
    await c.say(text)
    assert c.last["label"] == "nlu_fallback" and "Could you rephrase" in c.text
    await c.say(text)
    assert c.customs("escalate")[0]["reason"] == "repeated_fallback"
    assert c.texts[0] == "Sorry, I still can't help with that one."  # before the offer or the queue


async def test_report_it_starts_the_services_form(convo) -> None:
    c = convo()
    await c.say('/kb_article{"article_id":"cdot-pothole"}')
    assert c.last["label"] == "faq/streets_sidewalks"
    report = button(c, "Report it")
    assert report["payload"] == "/report_pothole"
    await c.say(report["payload"])
    assert c.last["active_loop"] == "report_form" and c.requested == "location"
    assert c.last["slots"]["service"] == "report_pothole"


@pytest.mark.parametrize(("lang", "start", "question", "back"), [
    ("en", "I need to report a pothole", "wait, what day is trash pickup?", "back to your report"),
    ("es", "quiero reportar un bache", "oye, ¿qué día pasa la basura?", "sigamos con su reporte")])
async def test_a_question_in_the_middle_of_a_report_is_answered_and_the_form_goes_on(
        convo, lang: str, start: str, question: str, back: str) -> None:
    """It was refused as an answer: "Sorry, I didn't catch that. Please choose one of: Travel lane, …"."""
    c = convo(lang)
    await c.say_all(start, "1401 Elizabeth Ave")
    asked = c.requested
    assert asked not in (None, "location", "description"), c.text
    await c.say(question)
    assert c.last["label"] == "faq/trash_schedule" and back in c.text, c.text
    assert c.last["active_loop"] == "report_form" and c.requested == asked
    await c.say("1401 Elizabeth Ave")  # still no answer to the step: the step's own error, no article
    assert c.last["label"] != "faq/trash_schedule" and c.requested == asked


async def test_a_question_at_the_description_or_the_summary_is_answered_not_filed(convo) -> None:
    """"espera, ¿cuánto tardan en arreglarla?" was filed as the report's public description (probe N)."""
    c = convo()
    await c.say_all("I need to report a pothole", "1401 Elizabeth Ave", "travel lane", "large")
    assert c.requested == "description"
    await c.say("wait, what day is trash pickup?")
    assert c.last["label"] == "faq/trash_schedule" and c.requested == "description", c.text
    assert not c.last["slots"].get("description")
    await c.say("it's huge, can you send someone soon?")  # a description, though it asks something
    assert c.last["slots"]["description"] == "it's huge, can you send someone soon?"
    await c.say_all("skip", "skip")
    assert c.requested == "confirm"
    await c.say("hold on, what day is trash pickup?")
    assert c.last["label"] == "faq/trash_schedule" and c.requested == "confirm" and "Submit" in str(c.buttons)


@pytest.mark.parametrize(("lang", "first", "then"), [
    ("en", "what day is trash pickup", "and on holidays?"), ("es", "qué día pasa la basura", "¿y si es feriado?")])
async def test_a_follow_up_question_is_read_with_the_one_before(convo, lang: str, first: str, then: str) -> None:
    """Alone, "and on holidays?" got a menu led by "311 hours" (probe N)."""
    c = convo(lang)
    await c.say(first)
    await c.say(then)
    offered = c.text + str(c.buttons)
    assert c.last["label"] == "faq/trash_schedule" and "sw-holiday-schedule" in offered, offered


UNSURE_REPORT = "water seeping up through the sidewalk on East Blvd"


def fell_back_on(text: str, guess: str, confidence: float, chose: str = "nlu_fallback") -> dict:
    """The action server's request for `action_kb_answer` after Rasa chose `chose` (its fallback classifier
    overruled `guess`, or `faq` came first with `guess` next), in rasa_sdk's webhook format. Whether a trained
    model is unsure of a given message varies from one training run to the next, so the parse Rasa would
    send is written out here."""
    ranking = [{"name": chose, "confidence": 0.5}, {"name": guess, "confidence": confidence},
               {"name": "faq" if chose != "faq" else "report_pothole", "confidence": 0.03}]
    return action_request("action_kb_answer", text, ranking, active_loop={})


def form_starting_on(text: str, report: str, confidence: float) -> dict:
    """The action server's request for `validate_report_form` as the report form starts on `text`, which
    Rasa took for `report` at `confidence`."""
    ranking = [{"name": report, "confidence": confidence}, {"name": "faq", "confidence": 1 - confidence}]
    return action_request("validate_report_form", text, ranking, active_loop={"name": "report_form"})


def action_request(action: str, text: str, ranking: list[dict], active_loop: dict) -> dict:
    message = {"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": [],
               "metadata": {"language": "en", "channel": "web"}}
    sender = f"test-{uuid.uuid4().hex[:12]}"
    tracker = {"sender_id": sender, "slots": {"language": "en"}, "latest_message": message, "paused": False,
               "events": [{"event": "user", "text": text, "parse_data": message}], "followup_action": None,
               "active_loop": active_loop, "latest_action_name": "action_listen"}
    domain = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    return {"next_action": action, "sender_id": sender, "tracker": tracker, "domain": domain, "version": "3.6.21"}


async def act(rasa_stack: Any, request: dict) -> dict:
    """The action server's answer to a request in rasa_sdk's webhook format."""
    async with aiohttp.ClientSession() as http, http.post(f"{rasa_stack.actions_url}/webhook", json=request,
                                                          timeout=aiohttp.ClientTimeout(total=60)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


def slots_set(reply: dict) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in reply["events"] if e.get("event") == "slot"}


async def test_an_unsure_report_the_article_agrees_with_is_offered_first(rasa_stack: Any, convo,
                                                                         chat_server_url: str) -> None:
    """Rasa falls back, but its own best guess is a report form and the knowledge base's article is about that
    service: the bot offers the report first (labelled as the report), and "Report it" starts the form."""
    guess = {"intent": "report_water_leak", "service_code": "WATER_LEAK", "confidence": 0.46}
    status, body = await kb(chat_server_url, {"text": UNSURE_REPORT, "language": "en",
                                              "intent": "nlu_fallback", "report_guess": guess})
    assert status == 200 and body["kind"] == "report" and body["label"] == "report_water_leak", body
    assert body["article"]["service_code"] == "WATER_LEAK"
    agreed = body["article"]["id"]
    status, body = await kb(chat_server_url, {"text": UNSURE_REPORT, "language": "en", "intent": "nlu_fallback",
                                              "report_guess": {**guess, "confidence": 2}})
    assert status == 400 and "report_guess" in body["error"]["message"]
    status, body = await kb(chat_server_url, {"text": "qwxz plmokn vbtrew", "language": "en",
                                              "intent": "nlu_fallback", "report_guess": guess})
    assert status == 200 and body["kind"] == "fallback", body

    # the action server, asked as Rasa asks it, sends the guess along and shapes the offer
    reply = await act(rasa_stack, fell_back_on(UNSURE_REPORT, "report_water_leak", 0.46))
    labels = [e["value"] for e in reply["events"] if e.get("event") == "slot" and e.get("name") == "kb_label"]
    assert labels == ["report_water_leak"], reply["events"]
    [offer] = reply["responses"]
    assert offer["text"].startswith("It sounds like you want to report: Water"), offer["text"]
    buttons = [(b["title"], b["payload"]) for b in offer["buttons"]]
    assert buttons[0] == ("Report it", "/report_water_leak") and buttons[-1] == ("None of these", "/kb_none")
    assert buttons[1][1] == f'/kb_article{{"article_id":"{agreed}"}}', buttons
    # the same when Rasa chose faq, with the report next
    reply = await act(rasa_stack, fell_back_on(UNSURE_REPORT, "report_water_leak", 0.46, chose="faq"))
    assert [e["value"] for e in reply["events"] if e.get("name") == "kb_label"] == ["report_water_leak"]
    assert reply["responses"][0]["buttons"][0]["payload"] == "/report_water_leak"
    # a weak guess is no report: the knowledge base's own decision (here its answer)
    weak = await act(rasa_stack, fell_back_on(UNSURE_REPORT, "report_water_leak", 0.2))
    assert [e["value"] for e in weak["events"] if e.get("name") == "kb_label"] != ["report_water_leak"]
    # and "Report it" starts that service's form in the real bot
    c = convo()
    await c.say(buttons[0][1])
    assert c.last["active_loop"] == "report_form" and c.last["slots"]["service"] == "report_water_leak"


# Messages this model may take, unsure, for a report about something else (not in any evaluation file).
OFF_REPORTS = ["brown water comin out of the faucet", "adult softball league sign up",
               "cars fly down my street like its a highway can we get speed bumps",
               "does the library have a book club for seniors", "el agua de la llave sale color café"]


async def test_an_unsure_report_about_something_else_is_answered_instead(rasa_stack: Any, convo,
                                                                         chat_server_url: str) -> None:
    """Rasa takes a question for a report form, unsure, and the knowledge base answers it confidently with an
    article about something else: the form ends before it asks anything, and the answer is given instead."""
    question = "the water from my kitchen tap is brown"
    status, decision = await kb(chat_server_url, {"text": question, "language": "en"})
    assert status == 200 and decision["kind"] == "answer" and decision["article"]["service_code"] != "POTHOLE"
    unsure = await act(rasa_stack, form_starting_on(question, "report_pothole", REPORT_OVERRULE_BELOW - 0.05))
    assert slots_set(unsure) == {"kb_label": decision["label"], "requested_slot": None}, unsure["events"]
    [answer] = unsure["responses"]
    assert answer["text"].startswith(decision["article"]["answer"]) and answer["buttons"]
    # sure of the report, or the answer is about that very service: the form starts and asks for the place
    sure = await act(rasa_stack, form_starting_on(question, "report_pothole", REPORT_OVERRULE_BELOW))
    assert slots_set(sure)["service"] == "report_pothole" and slots_set(sure)["requested_slot"] == "location"
    pothole = "there is a pothole that popped my tire"
    same = await act(rasa_stack, form_starting_on(pothole, "report_pothole", 0.5))
    assert slots_set(same)["service"] == "report_pothole", same["events"]
    # a question about the service itself, however sure Rasa is: its article, which offers "Report it"
    about = await act(rasa_stack, form_starting_on("how long does it take the city to fix a pothole?",
                                                   "report_pothole", 0.99))
    assert slots_set(about)["requested_slot"] is None and "service" not in slots_set(about), about["events"]
    assert any(b["payload"] == "/report_pothole" for b in about["responses"][0]["buttons"])
    # "when is …", with the usual typo (probe V: "wen is bulk pickup" started the bulky-item form)
    when = await act(rasa_stack, form_starting_on("wen is bulk pickup", "report_bulky_pickup", 0.67))
    assert slots_set(when)["requested_slot"] is None and "service" not in slots_set(when), when["events"]
    # in the real bot, a message the shipped model is unsure of is answered and no form is left open
    for text in OFF_REPORTS:
        parsed = (await parse(rasa_stack, text))["intent"]
        status, decision = await kb(chat_server_url, {"text": text, "language": "en"})
        if parsed["name"].startswith("report_") and parsed["confidence"] < REPORT_OVERRULE_BELOW \
                and decision["kind"] == "answer" and decision["article"]["service_code"] is None:
            break
    else:
        raise AssertionError(f"the model takes none of {OFF_REPORTS} for an unsure report the KB answers")
    c = convo()
    await c.say(text)
    assert c.last["label"] == decision["label"] and c.last["active_loop"] in (None, "")
    assert decision["article"]["answer"] in c.text and not c.customs("form_complete")


async def test_feedback_is_counted_per_article_and_no_goes_to_the_inbox(server_factory, resident,
                                                                        redis_client) -> None:
    prefix = f"kb{uuid.uuid4().hex[:8]}:"
    server = await server_factory(CHAT311_REDIS__KEY_PREFIX=quoted_prefix(prefix))
    r = await resident(server.url)
    await r.start_session()

    async def reply(text: str, needle: str) -> dict:
        mark = len(r.events)
        assert (await r.say(text)).get("ok")
        return await r.wait_for("bot_uttered", lambda d: needle in (d.get("text") or ""), timeout=60, after=mark)

    answer = await reply("how do i pay my water bill, my email is jane.doe@example.com", "charlottenc.gov/Water")
    payloads = {q["title"]: q["payload"] for q in answer["quick_replies"]}
    await reply(payloads["Yes"], "Thanks for the feedback")
    await reply(payloads["Yes"], "Thanks for the feedback")  # a second click on the same answer is not counted
    await reply(payloads["No"], "passed your question on")

    async def feedback_events() -> list[LogEvent] | None:
        events = [LogEvent.from_stream(raw) for _, raw in await redis_client.xrange(f"{prefix}events")]
        return events if len([e for e in events if e.kind == "kb_feedback"]) >= 2 else None

    events = await until(feedback_events)
    feedback = [e for e in events if e.kind == "kb_feedback"]
    assert [(e.data["article_id"], e.data["helpful"]) for e in feedback] == [
        ("water-bill-pay", True), ("water-bill-pay", False)]
    agg = Aggregator()
    agg.feed(events)
    bucket = agg.range_bucket(agg.local_date(feedback[0].ts), agg.local_date(feedback[-1].ts))
    assert kb_feedback(bucket, 10) == [{"article_id": "water-bill-pay", "helpful": 1, "not_helpful": 1,
                                        "helpful_rate": 0.5}]

    async def not_helpful() -> list[dict] | None:
        items = [await redis_client.hgetall(f"{prefix}training:inbox:{i.decode()}")
                 for i in await redis_client.zrange(f"{prefix}training:inbox:open", 0, -1)]
        return [i for i in items if i.get(b"kind") == b"kb_not_helpful"] or None

    [item] = await until(not_helpful)
    assert item[b"predicted"] == b"water-bill-pay" and item[b"text"].startswith(b"how do i pay my water bill")
    assert b"jane.doe" not in item[b"text"]  # the question is redacted

    # Content staff see the ratings beside their articles: the report's one figure is open to their role.
    ratings_url = f"{server.url}/console/supervisor/api/ratings?days=30"
    for roles, status in ((["content"], 200), (["agent"], 403)):
        token, _ = await console_login(redis_client, prefix, f"rater-{roles[0]}", roles)
        async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as http, http.get(ratings_url) as resp:
            assert resp.status == status, await resp.text()
            if status == 200:
                assert (await resp.json())["articles"] == {"water-bill-pay": {"helpful": 1, "not_helpful": 1}}
    await ensure_account(redis_client, prefix, "nadia", ["content"], PASSWORD)
    async with chromium() as browser:
        page = await new_page(browser)
        await login(page, server.url, "nadia")
        await page.goto(f"{server.url}/console/content")
        await page.check("#most-no")
        await page.click("#filters button[type=submit]")
        first = page.locator("#results tr").first
        await first.locator("td", has_text="1 yes · 1 no").wait_for()
        await first.locator("button").click()
        await page.locator("#edit-rated", has_text="helped 1 times and did not 1 times").wait_for()


async def test_titles_typed_instead_of_tapped_are_those_buttons(server_factory, resident, redis_client) -> None:
    """"more details", "no", "mas detalles" typed (as SMS residents answer a numbered list, and widget residents
    answer "Was this helpful?") are the buttons: "more details" was not understood and "no" was a general
    "okay, no problem" that never counted as feedback."""
    prefix = f"kb{uuid.uuid4().hex[:8]}:"
    server = await server_factory(CHAT311_REDIS__KEY_PREFIX=quoted_prefix(prefix))
    r = await resident(server.url)
    await r.start_session()

    async def reply(text: str, needle: str, language: str = "en") -> dict:
        mark = len(r.events)
        assert (await r.say(text, language=language)).get("ok")
        return await r.wait_for("bot_uttered", lambda d: needle in (d.get("text") or ""), timeout=60, after=mark)

    answer = await reply("how do i pay my water bill", "charlottenc.gov/Water")
    assert "More details" in [q["title"] for q in answer["quick_replies"]]
    details = await reply("more details", "Was this helpful?")
    assert "More details" not in [q["title"] for q in details["quick_replies"]] and details["text"] != answer["text"]
    await reply("No.", "passed your question on")

    async def feedback() -> list[LogEvent] | None:
        events = [LogEvent.from_stream(raw) for _, raw in await redis_client.xrange(f"{prefix}events")]
        return [e for e in events if e.kind == "kb_feedback"] or None

    [event] = await until(feedback)
    assert event.data["article_id"] == "water-bill-pay" and event.data["helpful"] is False
    # The stored message stays as typed: the agent and the transcript read the resident's words.
    said = [m for m in r.messages() if m.get("sender") == "resident" or "sender" not in m]
    assert not any((m.get("text") or "").startswith("/kb_") for m in said)
    answer = await reply("cómo pago el recibo del agua", "charlottenc.gov/Water", "es")
    assert "Más detalles" in [q["title"] for q in answer["quick_replies"]]
    await reply("mas detalles", "¿Le sirvió esta respuesta?", "es")
    await reply("no me sirvió", "Lamento que no le haya servido", "es")  # the No in words (probe N)


@pytest.mark.parametrize(("lang", "text", "person"), [
    ("en", "i need help with rent please", "Talk to a person"),
    ("es", "necesito ayuda con la renta por favor", "Hablar con una persona"),
])
async def test_a_question_rasa_reads_as_a_handoff_is_answered_with_a_person_beside_it(convo, lang: str, text: str,
                                                                                   person: str) -> None:
    """"please" made Rasa read a question as a hand-off (0.51 / 0.64): a resident about to be evicted got "Live agents
    are not available right now" instead of the rental-help article (probe AI)."""
    c = convo(lang)
    await c.say(text)
    assert c.customs("escalate") == [], c.text
    assert c.last["label"].startswith("faq/") and "https://" in c.text, (c.last["label"], c.text)
    assert person in [b["title"] for b in c.buttons]
    asked = convo(lang)  # asking for one in so many words still hands off
    await asked.say("I want to talk to a person about my rent" if lang == "en" else "quiero hablar con una persona")
    assert asked.customs("escalate"), asked.text


async def test_none_of_these_puts_the_question_in_the_content_inbox(server_factory, resident, redis_client) -> None:
    """A resident who turned down every article offered is the clearest miss; it never reached the inbox (probe AI)."""
    prefix = f"kb{uuid.uuid4().hex[:8]}:"
    server = await server_factory(CHAT311_REDIS__KEY_PREFIX=quoted_prefix(prefix))
    r = await resident(server.url)
    await r.start_session()
    question = "where can i take old paint and batteries, call me at 704-555-0147"
    assert (await r.say(question)).get("ok")
    menu = await r.wait_for("bot_uttered", lambda d: "Did you mean" in (d.get("text") or ""), timeout=60)
    [none] = [q for q in menu["quick_replies"] if q["title"] == "None of these"]
    mark = len(r.events)
    assert (await r.say(none["payload"])).get("ok")
    await r.wait_for("bot_uttered", lambda d: "none of those" in (d.get("text") or ""), timeout=60, after=mark)

    async def rejected() -> list[dict] | None:
        items = [await redis_client.hgetall(f"{prefix}training:inbox:{i.decode()}")
                 for i in await redis_client.zrange(f"{prefix}training:inbox:open", 0, -1)]
        return [i for i in items if i.get(b"kind") == b"menu_rejected"] or None

    [item] = await until(rejected)
    assert item[b"text"] == b"where can i take old paint and batteries, call me at [phone \xe2\x80\xa647]"


async def test_a_retired_articles_button_says_it_is_gone(server_factory, resident) -> None:
    """Menus stay on screen: a button of an article retired since gave "this chat understands English and Spanish",
    "I didn't understand", then a hand-off as a second fallback (probe AI)."""
    server = await server_factory(CHAT311_REDIS__KEY_PREFIX=quoted_prefix(f"kb{uuid.uuid4().hex[:8]}:"))
    r = await resident(server.url)
    await r.start_session()
    for payload in ('/kb_article{"article_id":"sheriff-contact-retired"}',
                    '/kb_details{"article_id":"sheriff-contact-retired"}'):
        mark = len(r.events)
        assert (await r.say(payload)).get("ok")
        gone = await r.wait_for("bot_uttered", lambda d: "no longer available" in (d.get("text") or ""), timeout=60,
                                after=mark)
        assert [q["title"] for q in gone["quick_replies"]] == ["Talk to a person"]
    said = [(m.get("text") or "") for m in r.messages()]
    assert not [s for s in said if "understands English and Spanish" in s or "didn't understand" in s], said


async def test_asking_for_spanish_in_the_middle_of_a_report_switches_it(server_factory, resident) -> None:
    """Mid-form the language never switched, so "mejor hablo en español, mi inglés no es muy bueno" got the English
    question again, and every later answer too (probe N)."""
    server = await server_factory(CHAT311_REDIS__KEY_PREFIX=quoted_prefix(f"kb{uuid.uuid4().hex[:8]}:"))
    r = await resident(server.url)
    await r.start_session()
    for said in ("I need to report a pothole", "1401 Elizabeth Ave"):
        await r.turn(said, language="en")
    mark = len(r.events)
    await r.turn("perdón, mejor hablo en español, mi inglés no es muy bueno", language="en")
    assert await r.wait_for("language", after=mark) == {"language": "es"}
    replies = [d for e, d in r.events[mark:] if e == "bot_uttered"]
    assert replies and replies[-1]["lang"] == "es" and "En qué parte de la calle" in replies[-1]["text"], replies


async def test_sms_gets_the_plain_url_and_numbered_options(server_factory) -> None:
    twilio = await TwilioStandin().start()
    try:
        server = await server_factory(CHAT311_REDIS__KEY_PREFIX=f"'sms{uuid.uuid4().hex[:8]}:'", **twilio.env())
        phone = "+17045550177"
        await twilio.text_server(server.url, phone, "how do i pay my water bill")
        [sms] = await twilio.sent.wait_for(
            lambda items: [m for m in items if m["to"] == phone and "charlottenc.gov/Water" in m["body"]], timeout=60)
        body = sms["body"]
        assert "https://www.charlottenc.gov/Water" in body and "<a" not in body
        assert "1) More details" in body and "2) Yes" in body and "3) No" in body
        mark = len(twilio.sent.items)
        await twilio.text_server(server.url, phone, "1")  # "More details" by number
        await twilio.sent.wait_for(
            lambda items: [m for m in items[mark:] if m["to"] == phone and "Was this helpful?" in m["body"]],
            timeout=60)
        mark = len(twilio.sent.items)
        await twilio.text_server(server.url, phone, "yes")  # an option's words instead of its number
        await twilio.sent.wait_for(
            lambda items: [m for m in items[mark:] if m["to"] == phone and "Thanks for the feedback" in m["body"]],
            timeout=60)
    finally:
        await twilio.stop()


async def test_the_content_test_box_says_what_residents_get_when_the_bots_reading_differs(
        server_factory, redis_client) -> None:
    """The test box said "offers a menu" for messages that started the pothole report or got the fallback (probe P):
    it showed the search alone. With the running Rasa it adds the label the bot acts on."""
    from chat_server.agents.auth import SESSION_COOKIE
    from tests.support.staff import console_login

    prefix = f"kb{uuid.uuid4().hex[:8]}:"
    server = await server_factory(CHAT311_REDIS__KEY_PREFIX=quoted_prefix(prefix))
    token, csrf = await console_login(redis_client, prefix, "cora", ["content"])
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as http:
        async def ready() -> bool:
            async with http.get(f"{server.url}/console/content/api/status") as r:
                return (await r.json())["state"] == "ready"

        await waiting.until(ready, 120, "the knowledge base did not load")

        async def test_box(text: str) -> dict:
            async with http.post(f"{server.url}/console/content/api/test", json={"text": text, "lang": "auto"},
                                 headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200, await r.text()
                return await r.json()

        pothole = await test_box("I want to report a pothole on my street")
        assert pothole["bot"]["label"] == "report_pothole" and pothole["bot"]["name"], pothole["bot"]
        answered = await test_box("how do i pay my water bill")
        assert answered["decision"]["kind"] == "answer" and answered["bot"] == {
            "label": answered["decision"]["label"], "kind": "answer", "name": answered["bot"]["name"]}, answered
        fire = await test_box("my house is on fire")
        assert fire["bot"]["label"] == "emergency", fire["bot"]

        # An inbox item attached to an article the bot still will not give for it stays open, and says why
        # (probe AI: "are you guys hiring?" stayed "I'm the automated assistant" and the item was closed as fixed).
        inbox = Inbox(redis_client, prefix)

        async def attach(text: str, article_id: str) -> tuple[dict, bytes | None]:
            await inbox.record(text, "en", InboxKind.LOW_CONFIDENCE, "faq/utility_bill", 0.4, time.time())
            async with http.post(f"{server.url}/console/content/api/inbox/{item_id(text)}/attach",
                                 json={"article_id": article_id}, headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200, await r.text()
                body = await r.json()
            return body, await redis_client.hget(f"{prefix}training:inbox:{item_id(text)}", "status")

        elsewhere, status = await attach("I want to report a pothole on my street please", "water-bill-pay")
        assert elsewhere["added"] and not elsewhere["resolved"] and elsewhere["bot"]["label"] == "report_pothole"
        assert status == b"open"
        reached, status = await attach("how can i pay the water bill on the internet", "water-bill-pay")
        assert reached["resolved"] and reached["bot"] is None and status == b"labelled", reached


async def test_a_question_at_which_block_is_answered_not_filed_as_the_place(convo) -> None:
    """Probe V: "wait, actually how do I pay my water bill?" at "Where on Central Ave?" was filed as the location
    ("Central Ave and wait, actually how do I pay my water bill?") and never answered."""
    c = convo()
    await c.say("there's a pothole on Central Ave")
    assert c.requested == "location_block", c.text
    place = c.last["slots"]["location"]
    await c.say("wait, actually how do I pay my water bill?")
    assert c.requested == "location_block" and c.last["slots"]["location"] == place, c.text
    assert "back to your report" in c.text or "can't answer that in the middle" in c.text, c.text


async def test_a_detail_at_a_choice_is_no_new_address_and_a_second_problem_is_not_an_answer(convo) -> None:
    """Probe V: "its about 2 feet wide and deep, near the bus stop" replaced "1200 block Main St" ("Updated: …"),
    and "also the streetlight on my corner is not working" answered "Is it happening right now?"."""
    c = convo()
    await c.say_all("I need to report a pothole", "1200 N Tryon St")
    assert c.requested == "road_position", c.text
    await c.say("its about 2 feet wide and deep, near the bus stop")
    assert c.last["slots"]["location"] == "1200 N Tryon St" and "Updated" not in c.text, c.text
    assert c.requested == "road_position"
    # probe W: the detail was refused, to be typed again at the description; it is the description now
    assert c.last["slots"]["description"] == "its about 2 feet wide and deep, near the bus stop", c.last["slots"]
    assert "description" in c.text and c.buttons, c.text
    await c.say_all("travel lane", "large")
    assert c.requested not in ("description", "road_position"), c.text
    n = convo()
    await n.say_all("my neighbor has loud music every night", "1515 Central Ave")
    asked = n.requested
    assert asked not in (None, "location", "location_block", "description"), n.text
    await n.say("also the streetlight on my corner is not working")
    assert "separate problem" in n.text and "treetlight" in n.text and n.requested == asked, n.text
    assert n.last["slots"]["service"] == "report_noise"  # the report goes on; the streetlight is for after


@pytest.mark.parametrize(("start", "question"), [
    (("mi vecino tiene música muy fuerte", "1515 Central Ave"), "¿dónde voto?"),
    (("mi vecino tiene música muy fuerte", "1515 Central Ave"), "¿cuándo se paga el impuesto predial?")])
async def test_a_spanish_question_mid_report_is_never_told_it_was_not_understood(
        convo, start: tuple[str, ...], question: str) -> None:
    """Probe V: Spanish questions mid-report got "Perdón, no le entendí. Elija una de estas opciones: Sí, No."
    eleven times in a row, with no word of the way out; English ones were answered."""
    c = convo("es")
    await c.say_all(*start)
    asked = c.requested
    await c.say(question)
    assert "no le entendí" not in c.text and c.requested == asked, c.text
    assert "sigamos con su reporte" in c.text or "cancelar" in c.text or "Volver a mi reporte" in c.text, c.text


async def test_a_question_mid_report_the_knowledge_base_is_unsure_of_gets_its_menu_and_the_way_back(
        convo, chat_server_url: str) -> None:
    """Probe W: "¿dónde voto?" mid-report was refused ("No puedo responder eso en medio de este reporte"), where
    English "where do I vote?" was answered: the knowledge base gives Spanish a menu. The menu is offered, with
    "Volver a mi reporte" as its last button; an option picked is answered and the report's question comes back."""
    question = None
    for text in ("¿dónde voto?", "quiero saber donde votar", "¿dónde puedo votar?", "¿dónde pago el predial?"):
        status, decision = await kb(chat_server_url, {"text": text, "language": "es", "intent": "faq"})
        assert status == 200, decision
        if decision["kind"] == "menu":
            question = text
            break
    assert question is not None, "none of the candidates is a menu under the shipped calibration"
    c = convo("es")
    await c.say_all("mi vecino tiene música muy fuerte", "1515 Central Ave")
    asked = c.requested
    assert asked not in (None, "location", "location_block", "description"), c.text
    await c.say(question)
    assert "Quiso decir" in c.text and c.requested == asked, c.text
    titles = [b["title"] for b in c.buttons]
    assert titles == [o["title"] for o in decision["options"]] + ["Volver a mi reporte"], titles
    first = decision["options"][0]
    await c.say(button(c, first["title"])["payload"])
    assert c.last["label"] == f"faq/{first['topic']}" and "https://" in c.text, c.text
    assert "sigamos con su reporte" in c.text and c.requested == asked and c.last["active_loop"] == "report_form"
    await c.say(question)
    await c.say(button(c, "Volver a mi reporte")["payload"])
    assert "sigamos con su reporte" in c.text and "no le entendí" not in c.text and c.requested == asked, c.text
    assert c.last["slots"]["service"] == "report_noise"
