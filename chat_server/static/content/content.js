// Content staff page: find an article, edit en/es side by side, test the draft, publish, history
// with diff and rollback, inbox → sample question. Every text is set with textContent, never as HTML.
"use strict";
(function () {
  const API = "/console/content/api";
  const LANGS = ["en", "es"];
  const LOCALIZED = ["title", "answer", "details", "questions"];
  let current = null; // {id, version, data} of the article in the editor
  const $ = id => document.getElementById(id);

  const call = C311Api(API);  // /static/staff/api.js
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function button(text, onClick) {
    const b = el("button", text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }
  function say(node, text, isError) { node.textContent = text; node.classList.toggle("error", !!isError); }
  function when(ts) { return new Date(ts * 1000).toLocaleString(); }

  // ---------------------------------------------------------------- status and list
  async function loadStatus() {
    const s = await call("/status");
    say($("kb-status"), s.state === "ready" ? `${s.articles} articles published.` :
      s.state === "loading" ? "The knowledge base is loading…" : "The knowledge base could not be loaded.", s.state === "failed");
    $("kb-errors").replaceChildren(...s.errors.map(e => el("li", `${e.file}: ${e.field}: ${e.message} (${e.source})`)));
    if (s.state === "loading") setTimeout(loadStatus, 2000);
    return s;
  }

  async function loadList() {
    const params = new URLSearchParams();
    if ($("q").value.trim()) { params.set("q", $("q").value.trim()); params.set("lang", $("q-lang").value); }
    if ($("title-filter").value.trim()) params.set("title", $("title-filter").value.trim());
    if ($("department").value) params.set("department", $("department").value);
    if ($("stale").checked) params.set("stale", "1");
    let data;
    try { data = await call("/articles?" + params); } catch (e) { say($("list-msg"), e.message, true); return; }
    const select = $("department");
    const chosen = select.value;
    select.replaceChildren(el("option", "All departments"), ...data.departments.map(d => el("option", d)));
    select.options[0].value = "";
    select.value = chosen;
    const lang = $("q-lang").value;
    $("results").replaceChildren(...data.articles.map(a => {
      const tr = el("tr");
      const title = el("td");
      title.appendChild(button(a.title[lang] || a.title.en, () => openArticle(a.id)));
      tr.append(title, el("td", a.department), el("td", a.review_by + (a.stale ? " (review date passed)" : ""), a.stale ? "stale" : ""),
        el("td", String(a.version)), el("td", a.score == null ? "" : a.score.toFixed(3)));
      return tr;
    }));
    say($("list-msg"), `${data.articles.length} article(s).`);
  }

  // ---------------------------------------------------------------- editor
  function fillForm(data) {
    const f = $("article-form").elements;
    for (const name of ["topic", "department", "url", "owner", "review_by", "service_code"]) f[name].value = data[name] || "";
    for (const field of LOCALIZED) for (const lang of LANGS) {
      const value = (data[field] || {})[lang];
      f[`${field}.${lang}`].value = field === "questions" ? (value || []).join("\n") : (value || "");
    }
  }
  function formData() {
    const f = $("article-form").elements;
    const data = { id: current.id };
    for (const name of ["topic", "department", "url", "owner", "review_by"]) data[name] = f[name].value.trim();
    if (f.service_code.value.trim()) data.service_code = f.service_code.value.trim();
    for (const field of LOCALIZED) {
      const values = {};
      for (const lang of LANGS) {
        const raw = f[`${field}.${lang}`].value;
        values[lang] = field === "questions" ? raw.split("\n").map(q => q.trim()).filter(Boolean) : raw.trim();
      }
      if (field === "details" && !values.en && !values.es) continue;
      data[field] = values;
    }
    return data;
  }
  function showVersion() {
    $("edit-id").textContent = current.id;
    $("edit-version").textContent = `version ${current.version}`;
  }
  async function openArticle(id) {
    const a = await call(`/articles/${encodeURIComponent(id)}`);
    current = { id: id, version: a.version, data: a.data };
    fillForm(a.data);
    showVersion();
    say($("edit-msg"), "");
    $("test-result").replaceChildren();
    $("diff").replaceChildren();
    $("editor").hidden = false;
    await loadHistory();
    $("article-form").elements.topic.focus();
  }
  async function publish(ev) {
    ev.preventDefault();
    $("publish").disabled = true;
    try {
      const r = await call(`/articles/${encodeURIComponent(current.id)}`, "POST", { base_version: current.version, data: formData() });
      current.version = r.version;
      current.data = r.data;
      showVersion();
      say($("edit-msg"), `Published version ${r.version}: residents get it now.`);
      await loadHistory();
    } catch (e) {
      const field = e.info && e.info.field ? ` (field ${e.info.field})` : "";
      say($("edit-msg"), `Not published${field}: ${e.message}`, true);
    } finally { $("publish").disabled = false; }
  }

  // ---------------------------------------------------------------- test box
  async function runTest(ev) {
    ev.preventDefault();
    const out = $("test-result");
    out.replaceChildren(el("p", "Testing…"));
    try {
      const r = await call("/test", "POST", { text: $("test-q").value, lang: $("test-lang").value,
        article_id: current.id, data: formData() });
      const d = r.decision;
      const parts = [el("p", d.kind === "answer" ? `The bot answers with “${d.article.title}”:` :
        d.kind === "menu" ? "The bot is not sure and offers a menu (Did you mean…):" : "The bot does not understand (fallback).")];
      if (d.kind === "answer") parts.push(el("p", d.article.answer, "answer"));
      const table = el("table");
      table.appendChild(el("caption", "Top 3 articles"));
      const head = el("tr");
      ["Article", "Score", "Meaning", "Words"].forEach(h => { const th = el("th", h); th.scope = "col"; head.appendChild(th); });
      table.appendChild(head);
      r.top.forEach(h => {
        const tr = el("tr");
        tr.append(el("td", `${h.title} (${h.id})`), el("td", h.score.toFixed(3)), el("td", h.semantic.toFixed(3)), el("td", h.lexical.toFixed(3)));
        table.appendChild(tr);
      });
      parts.push(table);
      out.replaceChildren(...parts);
    } catch (e) {
      const field = e.info && e.info.field ? ` (field ${e.info.field})` : "";
      out.replaceChildren(el("p", `The draft is not valid${field}: ${e.message}`, "msg error"));
    }
  }

  // ---------------------------------------------------------------- history
  async function loadHistory() {
    const r = await call(`/articles/${encodeURIComponent(current.id)}/history`);
    $("history").replaceChildren(...r.versions.map(v => {
      const li = el("li");
      li.appendChild(el("span", `Version ${v.version} · ${v.author} · ${when(v.ts)} · ${v.origin}${v.note ? " · " + v.note : ""}`));
      if (v.version > 1) li.appendChild(button(`Changes in version ${v.version}`, () => showDiff(v.version - 1, v.version)));
      if (v.version !== current.version) li.appendChild(button(`Roll back to version ${v.version}`, () => rollback(v.version)));
      return li;
    }));
  }
  function show(value) { return Array.isArray(value) ? value.join(" | ") : (value == null ? "(none)" : value); }
  async function showDiff(from, to) {
    const r = await call(`/articles/${encodeURIComponent(current.id)}/diff?from=${from}&to=${to}`);
    const table = el("table", null, "diff");
    table.appendChild(el("caption", `Changes from version ${from} to version ${to}`));
    const head = el("tr");
    ["Field", "Before", "After"].forEach(h => { const th = el("th", h); th.scope = "col"; head.appendChild(th); });
    table.appendChild(head);
    r.changes.forEach(c => {
      const tr = el("tr");
      let before = show(c.before), after = show(c.after);
      if (c.added || c.removed) { before = (c.removed || []).join(" | ") || "—"; after = (c.added || []).join(" | ") || "—"; }
      tr.append(el("td", c.field), el("td", before, "before"), el("td", after, "after"));
      table.appendChild(tr);
    });
    if (!r.changes.length) table.appendChild(el("tr")).appendChild(el("td", "No changes."));
    $("diff").replaceChildren(table);
  }
  async function rollback(to) {
    try {
      const r = await call(`/articles/${encodeURIComponent(current.id)}/rollback`, "POST", { to: to, base_version: current.version });
      current.version = r.version;
      current.data = r.data;
      fillForm(r.data);
      showVersion();
      say($("edit-msg"), `Rolled back: version ${r.version} equals version ${to} and is live.`);
      await loadHistory();
    } catch (e) { say($("edit-msg"), e.message, true); }
  }

  // ---------------------------------------------------------------- inbox
  const KINDS = { fallback: "not understood", low_confidence: "answered unsure", kb_unhelpful: "answer marked not helpful" };
  async function loadInbox() {
    const data = await call("/inbox");
    const ul = $("inbox");
    say($("inbox-msg"), data.items.length ? `${data.items.length} question(s) to review.` : "Nothing to review right now.");
    ul.replaceChildren(...data.items.map(item => {
      const li = el("li");
      li.lang = item.language;
      li.appendChild(el("div", item.text, "text"));
      const why = KINDS[item.kind] || item.kind;
      li.appendChild(el("div", `${item.language} · ${why}${item.predicted ? " · " + item.predicted : ""} · asked ${item.count}×`, "muted"));
      const row = el("div", null, "row");
      const label = el("label", "Article id");
      const input = el("input");
      input.value = item.kind === "kb_unhelpful" ? item.predicted : (current ? current.id : "");
      label.appendChild(input);
      const msg = el("p", "", "msg");
      msg.setAttribute("role", "status");
      row.append(label, button("Add as sample question", async () => {
        try {
          const r = await call(`/inbox/${item.id}/attach`, "POST", { article_id: input.value.trim() });
          say(msg, `Added to ${r.article_id} (version ${r.version}); live now.`);
          if (current && current.id === r.article_id) await openArticle(r.article_id);
          setTimeout(loadInbox, 800);
        } catch (e) { say(msg, e.message, true); }
      }));
      li.append(row, msg);
      return li;
    }));
  }

  async function start() {
    try {
      const me = await call("/me");
      call.csrf = me.csrf;
    } catch (e) { return; }
    $("filters").addEventListener("submit", ev => { ev.preventDefault(); loadList(); });
    $("article-form").addEventListener("submit", publish);
    $("revert").addEventListener("click", () => { fillForm(current.data); say($("edit-msg"), "Changes discarded."); });
    $("test-form").addEventListener("submit", runTest);
    await loadStatus();
    loadList();
    loadInbox().catch(e => say($("inbox-msg"), e.message, true));
  }
  document.addEventListener("DOMContentLoaded", start);
})();
