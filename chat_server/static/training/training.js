// Content staff page: inbox → label (intents by readable name), Train & test with progress, Publish / Rollback.
// Answers are knowledge-base articles, edited on the content page, not here.
"use strict";
(function () {
  const API = "/console/training/api";
  let polling = false;
  const $ = id => document.getElementById(id);

  const call = C311Api(API);  // /static/staff/api.js
  function say(node, text, isError) { node.textContent = text; node.classList.toggle("error", !!isError); }

  // The label an inbox item most likely needs: its predicted intent; a knowledge-base topic is the faq intent.
  function suggested(item, labels) {
    if (item.kind === "fallback") return "";
    if (item.kind === "kb_not_helpful" || item.predicted.startsWith("faq/")) return "faq";
    return labels.includes(item.predicted) ? item.predicted : "";
  }
  function why(item, names) {
    if (item.kind === "fallback") return "not understood";
    if (item.kind === "kb_not_helpful") return `answer marked not helpful (article ${item.predicted})`;
    const name = names[item.predicted] || item.predicted;
    return `unsure: ${name} (${Math.round(item.confidence * 100)}%)`;
  }
  function countInbox() {
    const n = $("inbox").children.length;
    say($("inbox-msg"), n ? `${n} message(s) to review.` : "Nothing to review right now.");
  }

  async function loadInbox() {
    const data = await call("/inbox");
    const names = data.label_names || {};
    const ul = $("inbox");
    ul.replaceChildren();
    const tpl = $("item-tpl");
    for (const item of data.items) {
      const li = tpl.content.firstElementChild.cloneNode(true);
      li.dataset.id = item.id;
      li.querySelector(".text").textContent = item.text;
      li.querySelector(".meta").textContent = `${item.language} · ${why(item, names)} · asked ${item.count}× · last ${new Date(item.last_ts * 1000).toLocaleString()}`;
      const select = li.querySelector(".label-input");
      select.setAttribute("aria-label", `Label for “${item.text}”`);
      for (const label of data.labels) {
        const o = document.createElement("option");
        o.value = label;
        o.textContent = names[label] || label;
        select.appendChild(o);
      }
      select.value = suggested(item, data.labels);
      const msg = li.querySelector(".item-msg");
      li.querySelector(".assign").addEventListener("click", async () => {
        if (!select.value) { say(msg, "Choose a label first.", true); return; }
        try {
          await call(`/inbox/${item.id}/label`, "POST", { label: select.value });
          li.remove();
          countInbox();
          say($("inbox-saved"), `“${item.text}” added as an example of ${names[select.value] || select.value}. Train & test to use it.`);
        } catch (e) { say(msg, e.message, true); }
      });
      li.querySelector(".dismiss").addEventListener("click", async () => {
        try { await call(`/inbox/${item.id}/dismiss`, "POST"); li.remove(); countInbox(); } catch (e) { say(msg, e.message, true); }
      });
      ul.appendChild(li);
    }
    countInbox();
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
      // The server rolls back to what the last publish replaced: nothing published, nothing to go back to.
      const canRollback = !!(m.history.length && m.history[0].previous);
      $("rollback").disabled = !canRollback;
      $("rollback").title = canRollback ? "" : "Nothing has been published yet";
    } catch (e) { $("served").textContent = "unknown"; }
  }

  async function start() {
    try {
      const me = await call("/me");
      call.csrf = me.csrf;
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
      $("rollback").disabled = true;
      say($("job-msg"), "Rolling back…");
      try {
        const r = await call("/rollback", "POST");
        await loadModels();
        say($("job-msg"), `Rolled back to ${r.model_file.split("/").pop()}.`);
      } catch (e) { say($("job-msg"), e.message, true); await loadModels(); }
    });
    loadModels();
    loadInbox().catch(e => say($("inbox-msg"), e.message, true));
    pollJob();
  }
  document.addEventListener("DOMContentLoaded", start);
})();
