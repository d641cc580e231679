// Content staff page: inbox → label (intents by readable name), Train & test with progress, Publish / Rollback.
// Answers are knowledge-base articles, edited on the content page, not here. Interface words follow the
// staff pages' language (static/staff/i18n.js); residents' messages and label names are shown as written.
"use strict";
(function () {
  const API = "/console/training/api";
  let polling = false;
  const $ = id => document.getElementById(id);
  const i18n = window.C311I18n;
  const t = (key, params) => i18n.t(key, params);
  // A word the server sends as a code ("running", "scoring the new model") in the page's language.
  const word = (kind, code) => {
    const key = `training.${kind}.${String(code).replace(/ /g, "_")}`;
    return i18n.has(key) ? t(key) : code;
  };
  let lastJob = null, lastModels = null;

  const call = C311Api(API);  // /static/staff/api.js
  function say(node, text, isError) { node.textContent = text; node.classList.toggle("error", !!isError); }

  // The label an inbox item most likely needs: its predicted intent; a knowledge-base topic is the faq intent.
  function suggested(item, labels) {
    if (item.kind === "fallback") return "";
    if (item.kind === "kb_not_helpful" || item.kind === "menu_rejected" || item.predicted.startsWith("faq/")) return "faq";
    return labels.includes(item.predicted) ? item.predicted : "";
  }
  function why(item, names) {
    if (item.kind === "fallback") return t("training.why_fallback");
    if (item.kind === "kb_not_helpful") return t("training.why_unhelpful", { article: item.predicted });
    if (item.kind === "menu_rejected") return t("training.why_menu_rejected");
    const name = names[item.predicted] || item.predicted;
    return t("training.why_unsure", { name, confidence: i18n.number(item.confidence, { style: "percent" }) });
  }
  function countInbox() {
    const n = $("inbox").children.length;
    say($("inbox-msg"), n ? t("training.count", { count: i18n.number(n) }) : t("training.empty"));
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
      i18n.apply(li);  // a template's words are not in the document when i18n.js labels it
      li.querySelector(".text").textContent = item.text;
      li.querySelector(".meta").textContent = t("training.meta", { language: item.language, why: why(item, names),
        count: i18n.number(item.count), when: i18n.dateTime(item.last_ts) });
      const select = li.querySelector(".label-input");
      select.setAttribute("aria-label", t("training.label_for", { text: item.text }));
      for (const label of data.labels) {
        const o = document.createElement("option");
        o.value = label;
        o.textContent = names[label] || label;
        select.appendChild(o);
      }
      select.value = suggested(item, data.labels);
      const msg = li.querySelector(".item-msg");
      li.querySelector(".assign").addEventListener("click", async () => {
        if (!select.value) { say(msg, t("training.choose_first"), true); return; }
        try {
          await call(`/inbox/${item.id}/label`, "POST", { label: select.value });
          li.remove();
          countInbox();
          say($("inbox-saved"), t("training.added", { text: item.text, label: names[select.value] || select.value }));
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
    return key === "n" ? i18n.number(v) : i18n.percent(v);
  }
  function renderJob(job) {
    lastJob = job;
    $("job-status").textContent = word("status", job.status);
    $("job-stage").textContent = job.status === "running" ? word("stage", job.stage) : "";
    $("job-progress").value = job.progress || (job.status === "done" ? 100 : 0);
    const hasScores = job.before || job.after;
    $("scores").hidden = !hasScores;
    document.querySelectorAll("[data-score]").forEach(td => {
      const [which, key] = td.dataset.score.split(".");
      td.textContent = job[which] ? fmt(job[which][key], key) : "—";
    });
    $("train").disabled = job.status === "running";
    $("publish").disabled = job.status !== "done";
    say($("job-msg"), job.message || (job.status === "done" ? t("training.ready") : ""), job.status === "failed");
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
      lastModels = m;
      $("served").textContent = m.served || t("training.unknown");
      // The server rolls back to what the last publish replaced: nothing published, nothing to go back to.
      const canRollback = !!(m.history.length && m.history[0].previous);
      $("rollback").disabled = !canRollback;
      $("rollback").title = canRollback ? "" : t("training.nothing_published");
    } catch (e) { $("served").textContent = t("training.unknown"); }
  }

  async function start() {
    await i18n.ready;
    try {
      const me = await call("/me");
      call.csrf = me.csrf;
    } catch (e) { return; }
    $("train").addEventListener("click", async () => {
      try { renderJob(await call("/train", "POST")); pollJob(); } catch (e) { say($("job-msg"), e.message, true); }
    });
    // With several Rasa servers, one that did not take the model is named (it keeps its old model).
    const failedServers = r => (r.servers || []).filter(x => !x.ok)
      .map(x => " " + t("training.server_failed", { url: x.url, error: x.error || "" })).join("");
    $("publish").addEventListener("click", async () => {
      $("publish").disabled = true;
      say($("job-msg"), t("training.publishing"));
      try {
        const r = await call("/publish", "POST");
        await loadModels();  // "served" is current by the time the message says so
        say($("job-msg"), t("training.published", { file: r.model_file.split("/").pop() }) + failedServers(r),
            (r.servers || []).some(x => !x.ok));
        $("job").dataset.published = r.model_file;
      } catch (e) { say($("job-msg"), e.message, true); $("publish").disabled = false; }
    });
    $("rollback").addEventListener("click", async () => {
      $("rollback").disabled = true;
      say($("job-msg"), t("training.rolling_back"));
      try {
        const r = await call("/rollback", "POST");
        await loadModels();
        say($("job-msg"), t("training.rolled_back", { file: r.model_file.split("/").pop() }) + failedServers(r),
            (r.servers || []).some(x => !x.ok));
      } catch (e) { say($("job-msg"), e.message, true); await loadModels(); }
    });
    loadModels();
    loadInbox().catch(e => say($("inbox-msg"), e.message, true));
    pollJob();
    // The switch in the staff bar: i18n.js relabels the marked words; the rest is drawn again.
    window.addEventListener("c311:language", () => {
      if (lastJob) renderJob(lastJob);
      if (lastModels) loadModels();
      loadInbox().catch(e => say($("inbox-msg"), e.message, true));
    });
  }
  document.addEventListener("DOMContentLoaded", start);
})();
