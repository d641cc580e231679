"""A supervisor watches the dashboard's live lists change while a resident escalates and an agent accepts
(real chat_server, Rasa, Socket.IO agent, Chromium); report headings in words; wait-chart ticks; override
in minutes."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from tests.support.agents import agent_client, escalate, escalation_env, fresh_prefix, make_agent
from tests.support.browser import chromium, new_page, screenshot
from tests.support.staff import login, make_account

pytestmark = [pytest.mark.browser, pytest.mark.rasa]


async def test_live_lists_follow_an_escalation_and_an_accept(server_factory: Any, redis_server: Any,
                                                              resident: Any) -> None:
    prefix = fresh_prefix()
    server = await server_factory(name="chat_server-dashboard-live", **escalation_env(prefix))
    await make_account(redis_server.url, prefix, "sally", ["supervisor"])
    await make_agent(redis_server.url, prefix, "ann", name="Ann Agent", max_chats=1)
    ann = await agent_client(server.url, "ann")
    try:
        async with chromium() as browser:
            page = await new_page(browser)
            await login(page, server.url, "sally")
            await page.goto(f"{server.url}/console/supervisor")
            await page.wait_for_function("() => document.body.dataset.waiting === '0'", timeout=15_000)
            row = page.locator("#agents-table tr[data-agent=ann]")
            await row.wait_for(timeout=15_000)
            assert await row.get_attribute("data-status") == "online"
            assert (await row.locator("td").nth(0).inner_text()) == "Ann Agent"
            assert (await row.locator("td").nth(1).inner_text()) == "Online"
            assert await row.locator("td.chats").get_attribute("data-count") == "0"

            # A resident escalates; Ann (room for one chat) accepts: her row shows the chat, live.
            res1 = await resident(server.url)
            await res1.start_session()
            mark = len(ann.events)
            await escalate(res1, "/request_human")
            offer = await ann.wait_for("offer", after=mark, timeout=30)
            # Until Ann answers the offer the resident is still waiting (the list said nobody was): listed as
            # offered to her.
            await page.wait_for_function("() => document.body.dataset.waiting === '1'", timeout=15_000)
            cells = await page.locator("#waiting-table tbody tr td").all_inner_texts()
            assert cells[3] == "Offered to Ann Agent", cells
            assert (await ann.call("accept", {"conversation_id": offer["conversation_id"]}))["ok"]
            await page.wait_for_function(
                """() => document.querySelector('#agents-table tr[data-agent=ann] td.chats')?.dataset.count === '1'
                      && document.body.dataset.waiting === '0'""", timeout=15_000)
            chat_line = await row.locator(".chat-line").inner_text()
            assert chat_line.startswith("General (asked for a person) · English · "), chat_line
            # A second resident must wait (Ann is full): the waiting list shows it without a reload.
            res2 = await resident(server.url)
            await res2.start_session()
            await escalate(res2, "/request_human")
            await page.wait_for_function("() => document.body.dataset.waiting === '1'", timeout=15_000)
            cells = await page.locator("#waiting-table tbody tr td").all_inner_texts()
            assert cells[1] == "English" and cells[2] == "General (asked for a person)", cells
            assert cells[0].endswith("s") and cells[3] == "1", cells
            first = cells[0]
            await page.wait_for_function(  # the wait grows as time passes
                "t => document.querySelector('#waiting-table tbody tr td').textContent !== t", arg=first,
                timeout=15_000)
            # The waiting resident reports an emergency: the row says so (and such rows are listed first).
            await res2.say("my neighbor's house is on fire")
            await page.wait_for_selector("#waiting-table tbody tr.urgent", timeout=15_000)
            cells = await page.locator("#waiting-table tbody tr td").all_inner_texts()
            assert cells[2] == "EMERGENCY reported · General (asked for a person)", cells
            # The resident closes the page: the list says so, as the console does (it did not, probe Y); back, not.
            session = res2.session_id
            await res2.close()
            await page.locator("#waiting-table tbody tr td", has_text="resident left the page").wait_for(
                timeout=15_000)
            res2 = await resident(server.url)
            await res2.start_session(session)
            await page.locator("#waiting-table tbody tr td", has_text="resident left the page").wait_for(
                state="detached", timeout=15_000)
            # Ann closes the first chat and takes the second: the waiting list empties.
            mark = len(ann.events)
            closed = await ann.call("close", {"conversation_id": offer["conversation_id"], "disposition": "resolved"})
            assert closed.get("ok"), closed
            offer2 = await ann.wait_for("offer", after=mark, timeout=30)
            assert (await ann.call("accept", {"conversation_id": offer2["conversation_id"]}))["ok"]
            await page.wait_for_function(
                """() => document.body.dataset.waiting === '0'
                      && document.querySelector('#agents-table tr[data-agent=ann] td.chats')?.dataset.count === '1'""",
                timeout=15_000)
            assert await page.locator("#waiting-empty").is_visible()
            # the service level's verdict is said in words, not by the card's colour alone (WCAG 1.4.1)
            await page.wait_for_function(
                "() => / · (on|below) target$/.test(document.getElementById('sl-target').textContent)",
                timeout=15_000)
            # Nothing the resident wrote reaches the lists (privacy): only topic, language and times.
            assert "request_human" not in await page.locator(".lists").inner_text()

            # The wait chart now has one answered chat; each tick sits exactly where its number says.
            await page.wait_for_function(
                "() => [...document.querySelectorAll('#chart-wait rect[data-value]')].some(r => r.dataset.value > 0)",
                timeout=15_000)
            axis = await page.evaluate(
                """() => {
                    const svg = document.querySelector('#chart-wait svg');
                    const grid = [...svg.querySelectorAll('line.grid')].map(
                        l => ({v: +l.dataset.value, y: +l.getAttribute('y1')}));
                    const ticks = [...svg.querySelectorAll('text.tick')].map(t => t.textContent);
                    const bars = [...svg.querySelectorAll('rect[data-value]')].map(
                        r => ({v: +r.dataset.value, h: +r.getAttribute('height')}));
                    return {grid, ticks, bars};
                }""")
            values = [g["v"] for g in axis["grid"]]
            assert axis["ticks"] == [str(v) for v in values], axis
            assert values[0] == 0 and all(float(t).is_integer() for t in axis["ticks"]), axis
            steps = {values[i + 1] - values[i] for i in range(len(values) - 1)}
            assert len(steps) == 1, axis  # evenly spaced round values
            bottom, top = axis["grid"][0], axis["grid"][-1]
            per_unit = (bottom["y"] - top["y"]) / top["v"]
            for g in axis["grid"]:
                assert abs((bottom["y"] - g["y"]) - g["v"] * per_unit) < 0.01, axis
            for b in axis["bars"]:
                assert abs(b["h"] - b["v"] * per_unit) < 0.01, axis
            # A screen reader hears the figures, not only the chart's title (WCAG 1.1.1, probe AH)
            answered = sum(b["v"] for b in axis["bars"])
            label = await page.locator("#chart-wait svg").get_attribute("aria-label")
            assert re.fullmatch(rf"wait distribution: {answered} in all, the most at .+ \(\d+\)", label or ""), label
            sl = await page.locator("#chart-sl svg").get_attribute("aria-label")
            assert re.fullmatch(r"service level per day: latest .+, \d+%; lowest .+, \d+%; target \d+%", sl or ""), sl

            # Report headings in words everywhere: no raw names such as asa_s or aht_s.
            for name in ("daily", "agents", "hourly"):
                await page.select_option("#report-name", name)
                await page.click("#report-form button[type=submit]")
                await page.wait_for_function("() => document.querySelector('#report-table thead')", timeout=15_000)
                heads = await page.locator("#report-table th").all_inner_texts()
                assert heads and not [h for h in heads if "_" in h], (name, heads)
            assert "Average speed of answer" in heads and "Average handle time" in heads, heads
            # A refused range clears the table: the last report stayed under the error, read as this one (probe S).
            await page.fill("#report-start", "2026-12-05")
            await page.fill("#report-end", "2026-12-01")
            await page.click("#report-form button[type=submit]")
            await page.wait_for_function("() => document.getElementById('report-msg').textContent.length > 0")
            assert await page.locator("#report-table tr").count() == 0
            page.errors.remove("Failed to load resource: the server responded with a status of 400 (Bad Request)")
            await screenshot(page, "dashboard-live-lists.png")

            # The override is in minutes, like the console.
            await page.fill("#override-minutes", "90")
            await page.fill("#override-reason", "storm staffing")
            await page.click("#force-open")
            await page.wait_for_function(
                "() => document.getElementById('override-state').textContent.includes('storm staffing')",
                timeout=15_000)
            state = await page.locator("#override-state").inner_text()
            assert "forced open for 90 more minutes" in state or "forced open for 89 more minutes" in state, state
            # Ending (or replacing) a forced state asks first (it went without a word, probe S).
            asked: list[str] = []
            pending: list[Any] = []

            async def answer(dialog: Any, accept: bool) -> None:
                asked.append(dialog.message)
                await (dialog.accept() if accept else dialog.dismiss())

            page.once("dialog", lambda d: pending.append(asyncio.ensure_future(answer(d, False))))
            await page.click("#override-clear")
            await page.wait_for_function("() => document.getElementById('override-state').textContent"
                                         ".includes('storm staffing')")
            assert asked and asked[0].startswith("The line is forced open for "), asked
            page.once("dialog", lambda d: pending.append(asyncio.ensure_future(answer(d, True))))
            await page.click("#override-clear")
            await page.wait_for_function(
                "() => document.getElementById('override-state').textContent === 'following the schedule'",
                timeout=15_000)
            assert len(asked) == 2
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        await ann.close()
