// Content staff page: inbox → label / new FAQ, Train & test with progress, Publish / Rollback.
"use strict";
(function () {
  const API = "/console/training/api";
  let csrf = "";
  let polling = false;
  const $ = id => document.getElementById(id);

  async function call(path, method, body) {
    const init = { method: method || "GET", credentials: "same-origin", headers: {} };
    if (method && method !== "GET") {
      init.headers["X-CSRF-Token"] = csrf;
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    const r = await fetch(API + path, init);
    if (r.status === 401) { location.href = "/console/login?next=" + encodeURIComponent(location.pathname); throw new Error("login"); }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error((data.error && data.error.message) || `HTTP ${r.status}`);
    return data;
  }
  function say(node, text, isError) { node.textContent = text; node.classList.toggle("error", !!isError); }

  async function loadInbox() {
    const data = await call("/inbox");
    const list = $("labels");
    list.replaceChildren(...data.labels.map(l => { const o = document.createElement("option"); o.value = l; return o; }));
    const ul = $("inbox");
    ul.replaceChildren();
    if (!data.items.length) { say($("inbox-msg"), "Nothing to review right now."); return; }
    say($("inbox-msg"), `${data.items.length} message(s) to review.`);
    const tpl = $("item-tpl");
    for (const item of data.items) {
      const li = tpl.content.firstElementChild.cloneNode(true);
      li.dataset.id = item.id;
      li.querySelector(".text").textContent = item.text;
      const why = item.kind === "fallback" ? "not understood" : `unsure: ${item.predicted} (${Math.round(item.confidence * 100)}%)`;
      li.querySelector(".meta").textContent = `${item.language} · ${why} · asked ${item.count}× · last ${new Date(item.last_ts * 1000).toLocaleString()}`;
      const input = li.querySelector(".label-input");
      if (item.kind !== "fallback") input.value = item.predicted;
      const msg = li.querySelector(".item-msg");
      li.querySelector(".assign").addEventListener("click", async () => {
        try {
          const r = await call(`/inbox/${item.id}/label`, "POST", { label: input.value.trim() });
          say(msg, `Added as an example of ${r.label}. Train & test to use it.`);
          li.classList.add("done");
          setTimeout(loadInbox, 800);
        } catch (e) { say(msg, e.message, true); }
      });
      li.querySelector(".dismiss").addEventListener("click", async () => {
        try { await call(`/inbox/${item.id}/dismiss`, "POST"); li.remove(); } catch (e) { say(msg, e.message, true); }
      });
      const form = li.querySelector(".faq-form");
      li.querySelector(".new-faq").addEventListener("click", () => { form.hidden = !form.hidden; if (!form.hidden) form.elements.key.focus(); });
      form.addEventListener("submit", async ev => {
        ev.preventDefault();
        const f = form.elements;
        try {
          const r = await call(`/inbox/${item.id}/faq`, "POST", {
            key: f.key.value.trim(), answer_en: f.answer_en.value, answer_es: f.answer_es.value, examples: f.examples.value,
          });
          say(msg, `New FAQ ${r.label} saved. Train & test to use it.`);
          form.hidden = true;
          li.classList.add("done");
        } catch (e) { say(msg, e.message, true); }
      });
      ul.appendChild(li);
    }
  }

  function fmt(v, key) {
    if (v == null) return "—";
    return key === "n" ? String(v) : `${Math.round(v * 1000) / 10}%`;
  }
  function renderJob(job) {
    $("job-status").textContent = job.status;
    $("job-stage").textContent = job.status === "running" ? job.stage : "";
    $("job-progress").value = job.progress || (job.status === "done" ? 100 : 0);
    const hasScores = job.before || job.after;
    $("scores").hidden = !hasScores;
    document.querySelectorAll("[data-score]").forEach(td => {
      const [which, key] = td.dataset.score.split(".");
      td.textContent = job[which] ? fmt(job[which][key], key) : "—";
    });
    $("train").disabled = job.status === "running";
    $("publish").disabled = job.status !== "done";
    say($("job-msg"), job.message || (job.status === "done" ? "New model ready: publish it to make residents see the changes." : ""), job.status === "failed");
  }
  async function pollJob() {
    if (polling) return;
    polling = true;
    try {
      for (;;) {
        const job = await call("/job");
        renderJob(job);
        if (job.status !== "running") break;
        await new Promise(r => setTimeout(r, 1500));
      }
    } finally { polling = false; }
  }
  async function loadModels() {
    try {
      const m = await call("/models");
      $("served").textContent = m.served || "unknown";
    } catch (e) { $("served").textContent = "unknown"; }
  }

  async function start() {
    try {
      const me = await call("/me");
      csrf = me.csrf;
      $("who").textContent = `${me.name} (${me.username})`;
    } catch (e) { return; }
    $("train").addEventListener("click", async () => {
      try { renderJob(await call("/train", "POST")); pollJob(); } catch (e) { say($("job-msg"), e.message, true); }
    });
    $("publish").addEventListener("click", async () => {
      $("publish").disabled = true;
      say($("job-msg"), "Publishing… the bot keeps answering while the new model loads.");
      try {
        const r = await call("/publish", "POST");
        await loadModels();  // "served" is current by the time the message says so
        say($("job-msg"), `Published ${r.model_file.split("/").pop()}.`);
        $("job").dataset.published = r.model_file;
      } catch (e) { say($("job-msg"), e.message, true); $("publish").disabled = false; }
    });
    $("rollback").addEventListener("click", async () => {
      say($("job-msg"), "Rolling back…");
      try {
        const r = await call("/rollback", "POST");
        await loadModels();
        say($("job-msg"), `Rolled back to ${r.model_file.split("/").pop()}.`);
      } catch (e) { say($("job-msg"), e.message, true); }
    });
    loadModels();
    loadInbox().catch(e => say($("inbox-msg"), e.message, true));
    pollJob();
  }
  document.addEventListener("DOMContentLoaded", start);
})();
