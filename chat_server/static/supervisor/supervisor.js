// Supervisor dashboard: polls /console/supervisor/api/dashboard and /live every few seconds and redraws.
"use strict";
(function () {
  const API = "/console/supervisor/api";
  let POLL_MS = 2000;
  const call = C311Api(API);  // /static/staff/api.js
  let lastOk = 0;

  const $ = id => document.getElementById(id);
  // Words from chat_server/staff_texts.yml and figures through Intl, in the staff pages' language
  // (static/staff/i18n.js); the report headings are the ones the CSV export uses (report.col.*).
  const i18n = window.C311I18n;
  const t = (key, params) => i18n.t(key, params);
  const pct = v => i18n.percent(v);
  const duration = v => i18n.duration(v);
  const heading = c => (i18n.has("report.col." + c) ? t("report.col." + c)
    : c.replace(/_s$/, " (seconds)").replace(/_/g, " "));
  function cell(c, v) {
    if (v == null) return "";
    if (/_rate$|^service_level$|^share$/.test(c)) return pct(v);
    if (/_s$/.test(c)) return duration(v);
    if (c === "date") return i18n.day(v);
    return typeof v === "number" ? i18n.number(v) : String(v);
  }
  const language = code => (i18n.has("language." + code) ? t("language." + code) : code);
  const status = code => (i18n.has("dash.status." + code) ? t("dash.status." + code) : code);
  function format(v, kind) {
    if (kind === "pct") return pct(v);
    if (kind === "duration") return duration(v);
    return i18n.number(v);
  }
  let last = null;  // the last figures and lists, redrawn at once when the language changes

  function render(d) {
    const values = Object.assign({}, d.today, {
      queue_length: d.live.queue_length, longest_wait_s: d.live.longest_wait_s,
      agents_online: d.live.agents.online, agents_busy: d.live.agents.busy, agents_away: d.live.agents.away,
    });
    document.querySelectorAll("[data-figure]").forEach(node => {
      const key = node.dataset.figure;
      if (key in values) node.textContent = format(values[key], node.dataset.format);
    });
    $("today-date").textContent = i18n.day(d.date);
    $("sl-def").textContent = `(≤${duration(d.target.service_level_s)})`;
    const sl = document.querySelector(".card.sl");
    const known = d.today.service_level != null, met = known && d.today.service_level >= d.target.service_level;
    sl.classList.toggle("ok", met);
    sl.classList.toggle("bad", known && !met);
    // said in words too, not by colour alone (WCAG 1.4.1)
    $("sl-target").textContent = t("dash.sl_target", { value: pct(d.target.service_level) }) +
      (known ? " · " + t(met ? "dash.sl_met" : "dash.sl_missed") : "");
    renderOverride(d.override);
    const hourly = d.hourly.map(h => ({ label: `${String(h.hour).padStart(2, "0")}:00`, short: String(h.hour), contained: h.contained, queued: h.queued }));
    C311Charts.bars($("chart-hourly"), hourly, [
      { key: "contained", color: "#4c9be8", label: t("dash.series_bot") },
      { key: "queued", color: "#f0a030", label: t("dash.series_queued") },
    ], { labelEvery: 2, title: t("dash.chart_hourly_title"), x: t("dash.axis_hour"), y: t("dash.axis_chats") });
    const daily = d.daily.map(x => ({ label: i18n.day(x.date), short: x.date.slice(8), contained: x.contained, queued: x.queued, service_level: x.service_level }));
    C311Charts.bars($("chart-daily"), daily, [
      { key: "contained", color: "#4c9be8", label: t("dash.series_bot") },
      { key: "queued", color: "#f0a030", label: t("dash.series_queued") },
    ], { labelEvery: 3, title: t("dash.chart_daily_title"), x: t("dash.axis_day"), y: t("dash.axis_chats") });
    C311Charts.line($("chart-sl"), daily, "service_level", d.target.service_level,
      { labelEvery: 3, title: t("dash.chart_sl_title"), x: t("dash.axis_day"), y: t("dash.axis_share") });
    C311Charts.bars($("chart-wait"), d.wait_histogram.map(h => ({ label: h.label, count: h.count })), [
      { key: "count", color: "#6a5acd", label: t("dash.series_answered") },
    ], { title: t("dash.chart_wait_title"), x: t("dash.axis_wait"), y: t("dash.axis_chats") });
    $("updated").textContent = t("dash.updated", { time: i18n.timeOfDay(d.generated_at) });
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
      tr.insertCell().textContent = status(a.status);
      tr.insertCell().textContent = duration(a.in_status_s);
      const chats = tr.insertCell();
      chats.className = "chats";
      chats.dataset.count = String(a.chats.length);
      const summary = document.createElement("div");
      summary.textContent = t("dash.chats_of", { count: i18n.number(a.chats.length), capacity: i18n.number(a.capacity) });
      chats.appendChild(summary);
      for (const c of a.chats) {
        const line = document.createElement("div");
        line.className = "chat-line";
        const offered = c.state === "assigned" ? "" : t("dash.offered") + ", ";
        line.textContent = `${c.urgent ? t("dash.urgent") + " · " : ""}${c.topic} · ${language(c.language)} · ${offered}${duration(c.for_s)}`;
        if (c.urgent) line.classList.add("urgent");
        chats.appendChild(line);
      }
      return tr;
    }));
    $("agents-empty").hidden = agents.length > 0;
    const wBody = $("waiting-table").tBodies[0];
    wBody.replaceChildren(...waiting.map(w => {
      const tr = document.createElement("tr");
      tr.dataset.conversation = w.conversation_id;
      if (w.urgent) tr.classList.add("urgent");
      tr.insertCell().textContent = duration(w.wait_s);
      tr.insertCell().textContent = language(w.language);
      // a resident who closed every tab may have left: the console says so, the waiting list did not (probe Y)
      tr.insertCell().textContent = (w.urgent ? t("dash.urgent") + " · " : "") + w.topic +
        (w.resident_away ? " · " + t("console.resident_away_mark") : "");
      // an offer the agent has not answered yet: the resident is still waiting, on that agent
      tr.insertCell().textContent = w.offered_to ? t("dash.offered_to", { name: w.offered_to })
        : w.position ? i18n.number(w.position) : "—";
      return tr;
    }));
    $("waiting-empty").hidden = waiting.length > 0;
    document.body.dataset.waiting = String(waiting.length);
  }

  let activeOverride = null;  // the forced state on show, so a change to it is confirmed first
  function renderOverride(o) {
    activeOverride = o && o.mode ? o : null;
    const box = $("override");
    if (o == null) { box.hidden = true; return; }
    box.hidden = false;
    if (!o.mode) { $("override-state").textContent = t("dash.override_schedule"); return; }
    const mode = i18n.has("override." + o.mode) ? t("override." + o.mode) : o.mode;
    const minutes = i18n.number(Math.max(0, Math.round((o.until * 1000 - Date.now()) / 60000)));
    $("override-state").textContent = t("dash.override_forced", { mode, minutes, until: i18n.dateTime(o.until) }) +
      (o.by ? " " + t("dash.override_by", { name: o.by }) : "") + (o.reason ? ": " + o.reason : "");
  }

  async function setOverride(mode) {
    $("override-msg").textContent = "";
    // Replacing or ending a forced state went without a word: a 3-hour override became a 1.5-minute one, and
    // "Back to schedule" closed a line with chats waiting (probe S).
    if (activeOverride && !confirm(t("dash.confirm_override", { current: $("override-state").textContent }))) return;
    try {
      // Minutes, like the console and the CLI (one rule on the server: chat_server/agents/override.py).
      const o = await call("/override", "POST", {
        mode: mode || "clear", minutes: Number($("override-minutes").value),
        reason: $("override-reason").value.trim() || "dashboard",
      });
      renderOverride(o);
      $("override-msg").textContent = t("dash.saved");
    } catch (e) { $("override-msg").textContent = e.message; }
  }

  async function poll() {
    try {
      const [d, lists] = await Promise.all([call("/dashboard"), call("/live").catch(e => (e.status === 501 ? null : Promise.reject(e)))]);
      last = { d, lists };
      render(d);
      renderLists(lists);
      if (d.poll_s > 0) POLL_MS = Math.max(500, d.poll_s * 1000);
      lastOk = Date.now();
    } catch (e) { if (e.message === "login") return; }
    const conn = $("conn");
    const live = Date.now() - lastOk < 3 * POLL_MS;
    conn.textContent = live ? t("dash.conn_live") : t("dash.conn_reconnecting");
    conn.classList.toggle("stale", !live);
    setTimeout(poll, POLL_MS);
  }

  function reportQuery() {
    const q = new URLSearchParams({ name: $("report-name").value, lang: i18n.lang });
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
      if (!data.rows.length) { $("report-msg").textContent = t("dash.no_data"); return; }
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
    } catch (e) {
      table.replaceChildren();  // the last report's table stayed under the error, read as this one (probe S)
      $("report-msg").textContent = e.message;
    }
  }

  // The report picker's names (report.name.<value>); the markup keeps the English ones.
  function nameReports() {
    for (const option of $("report-name").options) {
      if (i18n.has("report.name." + option.value)) option.textContent = t("report.name." + option.value);
    }
  }

  async function start() {
    await i18n.ready;
    nameReports();
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
    window.addEventListener("c311:language", () => {  // the marked words are relabelled by i18n.js
      nameReports();
      if (last) { render(last.d); renderLists(last.lists); }
      $("report-csv").href = `${API}/export.csv?${reportQuery()}`;  // the CSV headings follow the page
      if ($("report-table").tHead) showReport();
    });
    poll();
  }
  document.addEventListener("DOMContentLoaded", start);
})();
