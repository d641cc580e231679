// Supervisor dashboard: polls /console/supervisor/api/dashboard every few seconds and redraws.
"use strict";
(function () {
  const API = "/console/supervisor/api";
  let POLL_MS = 2000;
  let csrf = "";
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
    service_code: "Service code", service: "Service", closed: "Tickets closed", median_s: "Median time to close",
    p90_s: "90th percentile time to close", with_expected: "With an expected date", on_time: "Closed on time",
    late: "Closed late", on_time_rate: "Share closed on time", channel: "Channel", sent: "Sent", failed: "Failed",
    skipped: "Skipped (nobody to tell)", failure_rate: "Failure rate",
  };
  const heading = c => HEADINGS[c] || c.replace(/_/g, " ");
  function cell(c, v) {
    if (v == null) return "";
    if (/_rate$|^service_level$|^share$/.test(c)) return pct(v);
    if (/^(median|p90)_s$/.test(c)) return duration(v);
    return String(v);
  }
  function format(v, kind) {
    if (kind === "pct") return pct(v);
    if (kind === "duration") return duration(v);
    return v == null ? "—" : String(v);
  }

  async function getJSON(path, init) {
    const r = await fetch(path, Object.assign({ credentials: "same-origin" }, init || {}));
    if (r.status === 401) { location.href = "/console/login?next=" + encodeURIComponent(location.pathname); throw new Error("login"); }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error((body.error && body.error.message) || `HTTP ${r.status}`);
    return body;
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

  function renderOverride(o) {
    const box = $("override");
    if (o == null) { box.hidden = true; return; }
    box.hidden = false;
    $("override-state").textContent = o.mode
      ? `forced ${o.mode} until ${new Date(o.until * 1000).toLocaleString()}${o.by ? " (by " + o.by + ")" : ""}`
      : "following the schedule";
  }

  async function setOverride(mode) {
    $("override-msg").textContent = "";
    try {
      const hours = Number($("override-hours").value) || 4;
      const o = await getJSON(`${API}/override`, {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ mode, hours, reason: mode ? "dashboard" : "" }),
      });
      renderOverride(o);
      $("override-msg").textContent = "saved";
    } catch (e) { $("override-msg").textContent = e.message; }
  }

  async function poll() {
    try {
      const d = await getJSON(`${API}/dashboard`);
      render(d);
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
      const data = await getJSON(`${API}/report?${reportQuery()}`);
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
      const me = await getJSON(`${API}/me`);
      csrf = me.csrf;
      $("who").textContent = `${me.name} (${me.username})`;
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
