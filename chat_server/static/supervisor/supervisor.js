// Supervisor dashboard: polls /console/supervisor/api/dashboard and /live every few seconds and redraws.
"use strict";
(function () {
  const API = "/console/supervisor/api";
  let POLL_MS = 2000;
  const call = C311Api(API);  // /static/staff/api.js
  let lastOk = 0;

  const $ = id => document.getElementById(id);
  const pct = v => (v == null ? "—" : `${Math.round(v * 1000) / 10}%`);
  function duration(v) {
    if (v == null) return "—";
    v = Math.round(v);
    if (v < 60) return `${v}s`;
    const m = Math.floor(v / 60), s = v % 60;
    if (m < 60) return `${m}m ${String(s).padStart(2, "0")}s`;
    const h = Math.floor(m / 60);
    return h < 48 ? `${h}h ${m % 60}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
  }
  // Report column headings in words; a column not listed here shows its name with spaces.
  const HEADINGS = {
    date: "Date", hour: "Hour", chats: "Chats", contained: "Answered by the bot", queued: "Queued for an agent",
    answered: "Answered by an agent", answered_in_sl: "Answered within the service level", abandoned: "Left the queue",
    escalated: "Asked for a person", tickets: "Tickets created", fallbacks: "Not understood", handled: "Chats closed by agents",
    transfers: "Transfers", bot_answers: "Bot answers", csat_responses: "Ratings", csat_avg: "Average rating (of 5)",
    csat_satisfied_rate: "Satisfied", containment_rate: "Bot containment", escalation_rate: "Escalation rate",
    abandonment_rate: "Abandonment", fallback_rate: "Not understood (share)", service_level: "Service level",
    asa_s: "Average speed of answer", aht_s: "Average handle time", longest_wait_s: "Longest wait",
    agent: "Agent", transfers_out: "Transferred away", label: "Intent or topic", count: "Count", share: "Share",
    text: "Message (personal data masked)", article_id: "Article", helpful: "Helpful", not_helpful: "Not helpful",
    helpful_rate: "Share helpful", language: "Language", disposition: "Outcome", dimension: "Grouped by", value: "Value",
    service_code: "Service code", service: "Service", closed: "Tickets closed", median_s: "Median time to close",
    p90_s: "90th percentile time to close", with_expected: "With an expected date", on_time: "Closed on time",
    late: "Closed late", on_time_rate: "Share closed on time", channel: "Channel", sent: "Sent", failed: "Failed",
    skipped: "Skipped (nobody to tell)", failure_rate: "Failure rate",
  };
  const heading = c => HEADINGS[c] || c.replace(/_s$/, " (seconds)").replace(/_/g, " ");
  function cell(c, v) {
    if (v == null) return "";
    if (/_rate$|^service_level$|^share$/.test(c)) return pct(v);
    if (/_s$/.test(c)) return duration(v);
    return String(v);
  }
  const LANGUAGES = { en: "English", es: "Spanish" };
  const STATUS = { online: "Online", away: "Away", offline: "Signed out" };
  const language = code => LANGUAGES[code] || code;
  function format(v, kind) {
    if (kind === "pct") return pct(v);
    if (kind === "duration") return duration(v);
    return v == null ? "—" : String(v);
  }

  function render(d) {
    const values = Object.assign({}, d.today, {
      queue_length: d.live.queue_length, longest_wait_s: d.live.longest_wait_s,
      agents_online: d.live.agents.online, agents_busy: d.live.agents.busy, agents_away: d.live.agents.away,
    });
    document.querySelectorAll("[data-figure]").forEach(node => {
      const key = node.dataset.figure;
      if (key in values) node.textContent = format(values[key], node.dataset.format);
    });
    $("today-date").textContent = d.date;
    $("sl-def").textContent = `(≤${d.target.service_level_s}s)`;
    $("sl-target").textContent = `target ${pct(d.target.service_level)}`;
    const sl = document.querySelector(".card.sl");
    sl.classList.toggle("ok", d.today.service_level != null && d.today.service_level >= d.target.service_level);
    sl.classList.toggle("bad", d.today.service_level != null && d.today.service_level < d.target.service_level);
    renderOverride(d.override);
    const hourly = d.hourly.map(h => ({ label: `${String(h.hour).padStart(2, "0")}:00`, short: String(h.hour), contained: h.contained, queued: h.queued }));
    C311Charts.bars($("chart-hourly"), hourly, [
      { key: "contained", color: "#4c9be8", label: "bot" },
      { key: "queued", color: "#f0a030", label: "queued" },
    ], { labelEvery: 2, title: "chats per hour today" });
    const daily = d.daily.map(x => ({ label: x.date, short: x.date.slice(8), contained: x.contained, queued: x.queued, service_level: x.service_level }));
    C311Charts.bars($("chart-daily"), daily, [
      { key: "contained", color: "#4c9be8", label: "bot" },
      { key: "queued", color: "#f0a030", label: "queued" },
    ], { labelEvery: 3, title: "chats per day" });
    C311Charts.line($("chart-sl"), daily, "service_level", d.target.service_level, { labelEvery: 3, title: "service level per day" });
    C311Charts.bars($("chart-wait"), d.wait_histogram.map(h => ({ label: h.label, count: h.count })), [
      { key: "count", color: "#6a5acd", label: "answered chats" },
    ], { title: "wait distribution" });
    $("updated").textContent = "updated " + new Date(d.generated_at * 1000).toLocaleTimeString();
    document.body.dataset.chats = String(d.today.chats);
  }

  // The live lists: every agent (status, for how long, their chats) and every waiting chat, longest first.
  function renderLists(lists) {
    const agents = lists ? lists.agents : [], waiting = lists ? lists.waiting : [];
    const aBody = $("agents-table").tBodies[0];
    aBody.replaceChildren(...agents.map(a => {
      const tr = document.createElement("tr");
      tr.dataset.agent = a.username;
      tr.dataset.status = a.status;
      tr.insertCell().textContent = a.name;
      tr.insertCell().textContent = STATUS[a.status] || a.status;
      tr.insertCell().textContent = duration(a.in_status_s);
      const chats = tr.insertCell();
      chats.className = "chats";
      chats.dataset.count = String(a.chats.length);
      const summary = document.createElement("div");
      summary.textContent = `${a.chats.length} of ${a.capacity}`;
      chats.appendChild(summary);
      for (const c of a.chats) {
        const line = document.createElement("div");
        line.className = "chat-line";
        line.textContent = `${c.topic} · ${language(c.language)} · ${c.state === "assigned" ? "" : "offered, "}${duration(c.for_s)}`;
        chats.appendChild(line);
      }
      return tr;
    }));
    $("agents-empty").hidden = agents.length > 0;
    const wBody = $("waiting-table").tBodies[0];
    wBody.replaceChildren(...waiting.map(w => {
      const tr = document.createElement("tr");
      tr.dataset.conversation = w.conversation_id;
      tr.insertCell().textContent = duration(w.wait_s);
      tr.insertCell().textContent = language(w.language);
      tr.insertCell().textContent = w.topic;
      tr.insertCell().textContent = w.position ? String(w.position) : "—";
      return tr;
    }));
    $("waiting-empty").hidden = waiting.length > 0;
    document.body.dataset.waiting = String(waiting.length);
  }

  function renderOverride(o) {
    const box = $("override");
    if (o == null) { box.hidden = true; return; }
    box.hidden = false;
    $("override-state").textContent = o.mode
      ? `forced ${o.mode} for ${Math.max(0, Math.round((o.until * 1000 - Date.now()) / 60000))} more minutes, until ` +
        `${new Date(o.until * 1000).toLocaleString()}${o.by ? " (by " + o.by + ")" : ""}${o.reason ? ": " + o.reason : ""}`
      : "following the schedule";
  }

  async function setOverride(mode) {
    $("override-msg").textContent = "";
    try {
      // Minutes, like the console and the CLI (one rule on the server: chat_server/agents/override.py).
      const o = await call("/override", "POST", {
        mode: mode || "clear", minutes: Number($("override-minutes").value),
        reason: $("override-reason").value.trim() || "dashboard",
      });
      renderOverride(o);
      $("override-msg").textContent = "saved";
    } catch (e) { $("override-msg").textContent = e.message; }
  }

  async function poll() {
    try {
      const [d, lists] = await Promise.all([call("/dashboard"), call("/live").catch(e => (e.status === 501 ? null : Promise.reject(e)))]);
      render(d);
      renderLists(lists);
      if (d.poll_s > 0) POLL_MS = Math.max(500, d.poll_s * 1000);
      lastOk = Date.now();
    } catch (e) { if (e.message === "login") return; }
    const conn = $("conn");
    const live = Date.now() - lastOk < 3 * POLL_MS;
    conn.textContent = live ? "live" : "reconnecting…";
    conn.classList.toggle("stale", !live);
    setTimeout(poll, POLL_MS);
  }

  function reportQuery() {
    const q = new URLSearchParams({ name: $("report-name").value });
    if ($("report-start").value) q.set("start", $("report-start").value);
    if ($("report-end").value) q.set("end", $("report-end").value);
    return q.toString();
  }
  async function showReport(ev) {
    if (ev) ev.preventDefault();
    $("report-csv").href = `${API}/export.csv?${reportQuery()}`;
    $("report-msg").textContent = "";
    const table = $("report-table");
    try {
      const data = await call(`/report?${reportQuery()}`);
      table.replaceChildren();
      if (!data.rows.length) { $("report-msg").textContent = "No data for this range."; return; }
      const cols = Object.keys(data.rows[0]);
      const head = table.createTHead().insertRow();
      cols.forEach(c => {
        const th = document.createElement("th");
        th.scope = "col";
        th.textContent = heading(c);
        head.appendChild(th);
      });
      const body = table.createTBody();
      data.rows.forEach(r => {
        const tr = body.insertRow();
        cols.forEach(c => {
          tr.insertCell().textContent = cell(c, r[c]);
        });
      });
    } catch (e) { $("report-msg").textContent = e.message; }
  }

  async function start() {
    try {
      const me = await call("/me");
      call.csrf = me.csrf;
    } catch (e) { return; }
    const today = new Date();
    const iso = d => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
    $("report-end").value = iso(today);
    $("report-start").value = iso(new Date(today.getTime() - 6 * 86400000));
    $("report-form").addEventListener("submit", showReport);
    $("force-open").addEventListener("click", () => setOverride("open"));
    $("force-closed").addEventListener("click", () => setOverride("closed"));
    $("override-clear").addEventListener("click", () => setOverride(null));
    $("report-csv").href = `${API}/export.csv?${reportQuery()}`;
    poll();
  }
  document.addEventListener("DOMContentLoaded", start);
})();
