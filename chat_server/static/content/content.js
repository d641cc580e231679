// Content staff page: find an article, edit en/es side by side, test the draft, publish, history
// with diff and rollback, inbox → sample question. Every text is set with textContent, never as HTML.
// Interface words come from chat_server/staff_texts.yml in the staff pages' language (static/staff/i18n.js);
// article text, ids and residents' questions are shown as written.
"use strict";
(function () {
  const API = "/console/content/api";
  const LANGS = ["en", "es"];
  const LOCALIZED = ["title", "answer", "details", "questions"];
  const PLAIN = ["topic", "department", "url", "owner", "review_by", "service_code"];  // one value, not per language
  let current = null; // {id, version, data, isNew} of the article in the editor (isNew: not published yet)
  const $ = id => document.getElementById(id);
  const i18n = window.C311I18n;
  const t = (key, params) => i18n.t(key, params);
  const score = v => i18n.number(v, { minimumFractionDigits: 3, maximumFractionDigits: 3 });

  const call = C311Api(API);  // /static/staff/api.js
  C311Api.keepPage = () => dirty();  // an ended session never takes an unsaved edit to the login page
  const training = C311Api("/console/training/api");  // the inbox's dismiss (same role)
  const reports = C311Api("/console/supervisor/api");  // residents' ratings ("Was this helpful?"), open to this role
  let ratings = {};  // article id → {helpful, not_helpful} over the last RATED_DAYS days
  const RATED_DAYS = 30;
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
  function when(ts) { return i18n.dateTime(ts); }

  // ---------------------------------------------------------------- status and list
  async function loadStatus() {
    const s = await call("/status");
    say($("kb-status"), s.state === "ready" ? t("content.kb_ready", { count: i18n.number(s.articles) }) :
      s.state === "loading" ? t("content.kb_loading") : t("content.kb_failed"), s.state === "failed");
    $("kb-errors").replaceChildren(...s.errors.map(e => el("li", `${e.file}: ${e.field}: ${e.message} (${e.source})`)));
    if (s.state === "loading") setTimeout(() => loadStatus().catch(() => {}), 2000);
    return s;
  }

  async function loadList() {
    const params = new URLSearchParams();
    if ($("q").value.trim()) { params.set("q", $("q").value.trim()); params.set("lang", $("q-lang").value); }
    if ($("title-filter").value.trim()) params.set("title", $("title-filter").value.trim());
    if ($("department").value) params.set("department", $("department").value);
    if ($("stale").checked) params.set("stale", "1");
    let data;
    try {
      [data] = await Promise.all([call("/articles?" + params), loadRatings()]);
    } catch (e) { say($("list-msg"), e.message, true); return; }
    if ($("most-no").checked) {  // the articles residents found least helpful first; unrated ones keep their order
      const no = a => (ratings[a.id] || {}).not_helpful || 0;
      data.articles = data.articles.map((a, i) => [a, i]).sort((x, y) => no(y[0]) - no(x[0]) || x[1] - y[1])
        .map(pair => pair[0]);
    }
    const select = $("department");
    const chosen = select.value;
    const all = el("option", t("content.all_departments"));
    all.dataset.i18n = "content.all_departments";
    select.replaceChildren(all, ...data.departments.map(d => el("option", d)));
    select.options[0].value = "";
    select.value = chosen;
    $("departments").replaceChildren(...data.departments.map(d => { const o = el("option"); o.value = d; return o; }));
    const lang = $("q-lang").value;
    $("results").replaceChildren(...data.articles.map(a => {
      const tr = el("tr");
      const title = el("td");
      title.appendChild(button(a.title[lang] || a.title.en, () => openArticle(a.id)));
      tr.append(title, el("td", a.department),
        el("td", i18n.day(a.review_by) + (a.stale ? " " + t("content.stale") : ""), a.stale ? "stale" : ""),
        el("td", i18n.number(a.version)), el("td", rated(a.id)), el("td", a.score == null ? "" : score(a.score)));
      return tr;
    }));
    say($("list-msg"), !data.articles.length && params.has("q") ? t("content.no_match")
      : t("content.count", { count: i18n.number(data.articles.length) }));
  }

  // The ratings are a report's figures: a failure leaves the column empty rather than the list.
  async function loadRatings() {
    try { ratings = (await reports(`/ratings?days=${RATED_DAYS}`)).articles; } catch (e) { ratings = {}; }
  }
  function rated(id) {
    const r = ratings[id];
    return r ? t("content.rated", { yes: i18n.number(r.helpful), no: i18n.number(r.not_helpful) }) : "";
  }

  // ---------------------------------------------------------------- editor
  function fillForm(data) {
    const f = $("article-form").elements;
    if (data.topic && ![...f.topic.options].some(o => o.value === data.topic)) f.topic.appendChild(el("option", data.topic)).value = data.topic;
    for (const name of PLAIN) f[name].value = data[name] || "";
    for (const field of LOCALIZED) for (const lang of LANGS) {
      const value = (data[field] || {})[lang];
      f[`${field}.${lang}`].value = field === "questions" ? (value || []).join("\n") : (value || "");
    }
    countAll();
  }
  // "123 of 320 characters" under each answer, so the limit is seen before Publish refuses it.
  function countAll() { document.querySelectorAll("[data-count-for]").forEach(count); }
  function count(node) {
    const length = $("article-form").elements[node.dataset.countFor].value.trim().length, max = Number(node.dataset.max);
    say(node, t(length > max ? "content.chars_over" : "content.chars", { count: i18n.number(length), max: i18n.number(max),
      over: i18n.number(length - max) }), length > max);
  }
  function formData() {
    const f = $("article-form").elements;
    const data = { id: current.isNew ? f.id.value.trim() : current.id };
    for (const name of PLAIN) {
      const value = f[name].value.trim();
      if (value || name !== "service_code") data[name] = value;  // the only optional one
    }
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
  // The form as last loaded or published: the edit is unsaved while formData() differs from it.
  function markClean() { current.clean = JSON.stringify(formData()); }
  function dirty() { return !!current && JSON.stringify(formData()) !== current.clean; }

  // Their version and this edit, both from `base` (the version the edit started from): a field only one side
  // changed takes that side's value; sample questions take both sides' additions and removals; a field both
  // changed keeps this edit's value and is named. (Publishing "mine over it" dropped a translator's changes.)
  function merge(base, theirs, mine) {
    const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
    const out = {}, both = [];
    const get = (data, field, lang) => lang ? ((data[field] || {})[lang]) : data[field];
    const fields = [...PLAIN.map(f => [f]), ...LOCALIZED.flatMap(f => LANGS.map(l => [f, l]))];
    for (const [field, lang] of fields) {
      const b = get(base, field, lang), t1 = get(theirs, field, lang), m = get(mine, field, lang);
      let v = m;
      if (same(m, b)) v = t1;
      else if (!same(t1, b) && !same(t1, m)) {
        if (field === "questions") {
          const gone = new Set((b || []).filter(q => !(t1 || []).includes(q)));
          v = [...(m || []).filter(q => !gone.has(q)), ...(t1 || []).filter(q => !(b || []).includes(q) && !(m || []).includes(q))];
        } else both.push(lang ? `${field}.${lang}` : field);
      }
      if (v === undefined || v === null || v === "") continue;
      if (lang) (out[field] = out[field] || {})[lang] = v; else out[field] = v;
    }
    return { data: out, both };
  }

  function showVersion() {
    const verb = $("edit-verb");
    verb.dataset.i18n = current.isNew ? "content.new_article" : "content.edit";
    verb.textContent = t(verb.dataset.i18n);
    $("new-id").hidden = !current.isNew;
    $("retire").hidden = !!current.isNew;
    $("edit-id").textContent = current.isNew ? "" : current.id;
    $("edit-version").textContent = current.isNew ? "" : t("content.version_n", { version: current.version });
    const r = !current.isNew && ratings[current.id];
    $("edit-rated").textContent = r ? t("content.rated_days", {
      yes: i18n.number(r.helpful), no: i18n.number(r.not_helpful), days: i18n.number(RATED_DAYS) }) : "";
  }
  async function openArticle(id, force) {
    if (!force && dirty() && !confirm(t("content.unsaved"))) return;
    const a = await call(`/articles/${encodeURIComponent(id)}`);
    current = { id: id, version: a.version, data: a.data };
    fillForm(a.data);
    $("article-form").elements.note.value = "";
    markClean();
    // Inbox items nobody chose an article for are about the open one: one click adds a question to it.
    for (const input of document.querySelectorAll("#inbox input[data-follows-open]")) input.value = id;
    showVersion();
    say($("edit-msg"), "");
    $("test-result").replaceChildren();
    $("diff").replaceChildren();
    $("editor").hidden = false;
    await loadHistory();
    $("article-form").elements.topic.focus();
  }
  // A blank form for an article residents do not get yet: it is created (live at once) by Publish.
  function newArticle() {
    if (dirty() && !confirm(t("content.unsaved"))) return;
    const nextYear = new Date(Date.now() + 365 * 86400e3).toISOString().slice(0, 10);
    current = { id: "", version: 0, data: { review_by: nextYear }, isNew: true };
    const f = $("article-form").elements;
    fillForm(current.data);
    f.id.value = "";
    f.note.value = "";
    markClean();
    showVersion();
    say($("edit-msg"), "");
    for (const id of ["test-result", "diff", "history"]) $(id).replaceChildren();
    $("editor").hidden = false;
    f.id.focus();
  }
  async function publish(ev) {
    ev.preventDefault();
    $("publish").disabled = true;
    const f = $("article-form").elements;
    try {
      const body = { data: formData(), note: f.note.value };
      const r = current.isNew ? await call("/articles", "POST", { ...body, id: body.data.id })
        : await call(`/articles/${encodeURIComponent(current.id)}`, "POST", { ...body, base_version: current.version });
      if (current.isNew) loadArticleIds().catch(() => {});
      current = { id: r.data.id, version: r.version, data: r.data };
      f.note.value = "";
      markClean();
      markInvalid(null);
      showVersion();
      say($("edit-msg"), t("content.published", { version: r.version }));
      await loadHistory();
      loadList();
    } catch (e) {
      if (e.status === 409 && e.info && e.info.current_version) return conflict(e.info.current_version);
      const field = e.info && e.info.field;
      // the field as the page names it ("Answer (Spanish)"), not its key ("answer.es"; probe AA)
      say($("edit-msg"), field ? t("content.not_published_field", { field: fieldLabel(field), message: e.message })
        : t("content.not_published", { message: e.message }), true);
      markInvalid(field);
    } finally {
      $("publish").disabled = false;
      if (!document.activeElement || document.activeElement === document.body) $("publish").focus();
    }
  }
  // Someone published since this edit began: see what they changed, then merge theirs into this edit (mergeLatest)
  // or start again from theirs. Nothing of theirs is overwritten without a field both changed being named.
  function conflict(latest) {
    const msg = $("edit-msg");
    const mine = current.version;
    say(msg, t("content.conflict", { mine: mine, latest: latest }), true);
    msg.append(" ",
      button(t("content.conflict_show"), () => showDiff(mine, latest)),
      " ",
      button(t("content.conflict_keep"), () => mergeLatest(msg).catch(e => say(msg, e.message, true))),
      " ",
      button(t("content.conflict_reload"), () => openArticle(current.id)));
  }

  // The field a refusal names ("answer.en", "questions.es[3]") is marked and takes the focus, so the editor
  // (and a screen reader) lands where the fix goes.
  function markInvalid(field) {
    for (const node of document.querySelectorAll("#article-form [aria-invalid]")) node.removeAttribute("aria-invalid");
    const input = field && $("article-form").elements[field.replace(/\[\d+\]$/, "")];
    if (!input || !input.focus) return;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "edit-msg");
    input.focus();
  }

  // Their latest version merged into this edit; the edit is then based on it (Publish sends it).
  async function mergeLatest(msg) {
    const a = await call(`/articles/${encodeURIComponent(current.id)}`);
    const { data, both } = merge(current.data, a.data, formData());
    current.version = a.version;
    current.data = a.data;
    fillForm(a.data);
    markClean();  // clean = their version: what the merge changed from it shows as unsaved
    fillForm(data);
    showVersion();
    say(msg, t("content.conflict_merged", { latest: a.version }) +
      (both.length ? " " + t("content.conflict_both", { fields: both.join(", ") }) : ""), both.length > 0);
  }

  // ---------------------------------------------------------------- test box
  async function runTest(ev) {
    ev.preventDefault();
    const out = $("test-result");
    out.replaceChildren(el("p", t("content.testing")));
    try {
      const draft = formData();  // a new article's too, once it has an id
      const r = await call("/test", "POST", { text: $("test-q").value, lang: $("test-lang").value,
        article_id: draft.id, data: draft });
      const d = r.decision;
      const parts = [el("p", d.kind === "answer" ? t("content.test_answer", { title: d.article.title }) :
        d.kind === "menu" ? t("content.test_menu") : t("content.test_fallback"))];
      const residents = whatResidentsGet(r.bot, d);
      if (residents) parts.unshift(el("p", residents, "bot-reading"));
      if (d.kind === "answer") parts.push(el("p", d.article.answer, "answer"));
      if (d.kind === "menu") {  // the buttons residents get, in their order
        const list = el("ol", null, "menu-options");
        list.setAttribute("aria-label", t("content.menu_options"));
        list.append(...d.options.map(o => el("li", o.title)), el("li", t("content.none_of_these")));
        parts.push(list);
      }
      const table = el("table");
      table.appendChild(el("caption", t("content.top3")));
      const head = el("tr");
      ["content.col_article", "content.score", "content.col_meaning", "content.col_words"].forEach(h => {
        const th = el("th", t(h)); th.scope = "col"; head.appendChild(th);
      });
      table.appendChild(head);
      r.top.forEach(h => {
        const tr = el("tr");
        tr.append(el("td", `${h.title} (${h.id})`), el("td", score(h.score)), el("td", score(h.semantic)), el("td", score(h.lexical)));
        table.appendChild(tr);
      });
      parts.push(table);
      out.replaceChildren(...parts);
    } catch (e) {
      const field = e.info && e.info.field;
      out.replaceChildren(el("p", field ? t("content.draft_invalid_field", { field, message: e.message })
        : t("content.draft_invalid", { message: e.message }), "msg error"));
    }
  }

  // The search's decision is what an article change moves; residents get it only when the bot's own reading
  // (Rasa, then the same search) agrees. Where it does not, say so first: the box said "menu" for a message that
  // started the pothole report.
  function whatResidentsGet(bot, d) {
    if (!bot) return t("content.test_bot_unknown");
    if (bot.label === "emergency") return t("content.test_bot_emergency");
    if (bot.kind === "report" || bot.label.startsWith("report_")) return t("content.test_bot_report", { name: bot.name });
    if (!bot.kind && !bot.label.startsWith("faq/") && bot.label !== "nlu_fallback") {
      return t("content.test_bot_intent", { name: bot.name });
    }
    if (bot.kind && bot.kind !== d.kind) {
      return t({ fallback: "content.test_bot_fallback", menu: "content.test_bot_menu" }[bot.kind] || "content.test_bot_answer");
    }
    return null;
  }

  // ---------------------------------------------------------------- history
  async function loadHistory() {
    const r = await call(`/articles/${encodeURIComponent(current.id)}/history`);
    $("history").replaceChildren(...r.versions.map(v => {
      const li = el("li");
      const line = t("content.history_line", { version: v.version, author: v.author, when: when(v.ts), origin: v.origin });
      li.appendChild(el("span", line + (v.note ? " · " + v.note : "")));
      if (v.version > 1) li.appendChild(button(t("content.changes_in", { version: v.version }), () => showDiff(v.version - 1, v.version)));
      if (v.version !== current.version) li.appendChild(button(t("content.roll_back_to", { version: v.version }), () => rollback(v.version)));
      return li;
    }));
  }
  function show(value) { return Array.isArray(value) ? value.join(" | ") : (value == null ? t("content.none") : value); }
  // "answer.es" → "Answer (Spanish)": staff read field names, not the article file's keys
  const FIELD_KEYS = {
    id: "content.field_id", topic: "content.field_topic", department: "content.field_department",
    title: "content.field_title", answer: "content.field_answer", details: "content.field_details",
    questions: "content.field_questions", url: "content.field_url", owner: "content.field_owner",
    review_by: "content.field_review_by", service_code: "content.field_service_code",
  };
  const LANGUAGE_KEYS = { en: "content.field_in_en", es: "content.field_in_es" };
  function fieldLabel(field) {
    const [name, lang] = field.split(".");
    const label = FIELD_KEYS[name] ? t(FIELD_KEYS[name]) : name;
    return LANGUAGE_KEYS[lang] ? t(LANGUAGE_KEYS[lang], { field: label }) : label;
  }
  // One side of a text change: the words kept as text, the ones removed (before) or added (after) marked.
  function wordCell(words, side, cls) {
    const td = el("td", null, cls);
    const mark = side === "before" ? "-" : "+";
    for (const [op, text] of words) {
      if (op === "=") td.append(text);
      else if (op === mark) td.appendChild(el(side === "before" ? "del" : "ins", text));
    }
    return td;
  }
  async function showDiff(from, to) {
    const r = await call(`/articles/${encodeURIComponent(current.id)}/diff?from=${from}&to=${to}`);
    const table = el("table", null, "diff");
    table.appendChild(el("caption", t("content.changes_caption", { from, to })));
    const head = el("tr");
    ["content.col_field", "content.col_before", "content.col_after"].forEach(h => {
      const th = el("th", t(h)); th.scope = "col"; head.appendChild(th);
    });
    table.appendChild(head);
    r.changes.forEach(c => {
      const tr = el("tr");
      const name = el("th", fieldLabel(c.field)); name.scope = "row";
      if (c.words) {
        tr.append(name, wordCell(c.words, "before", "before"), wordCell(c.words, "after", "after"));
      } else {
        let before = show(c.before), after = show(c.after);
        if (c.added || c.removed) { before = (c.removed || []).join(" | ") || "—"; after = (c.added || []).join(" | ") || "—"; }
        tr.append(name, el("td", before, "before"), el("td", after, "after"));
      }
      table.appendChild(tr);
    });
    if (!r.changes.length) table.appendChild(el("tr")).appendChild(el("td", t("content.no_changes")));
    $("diff").replaceChildren(table);
  }
  async function rollback(to) {
    if (!confirm(t("content.confirm_rollback", { to }) + (dirty() ? "\n" + t("content.unsaved") : ""))) return;
    try {
      const r = await call(`/articles/${encodeURIComponent(current.id)}/rollback`, "POST", { to: to, base_version: current.version });
      current.version = r.version;
      current.data = r.data;
      fillForm(r.data);
      markClean();
      showVersion();
      say($("edit-msg"), t("content.rolled_back", { version: r.version, to }));
      await loadHistory();
      loadList();
      $("publish").focus();  // the history list was drawn again under the focused button
    } catch (e) { say($("edit-msg"), e.message, true); }
  }

  // ---------------------------------------------------------------- retire / restore
  // An ended program or a harmful answer could only be taken down by deleting its file and restarting (probe AA).
  async function retire() {
    if (!current || current.isNew) return;
    const title = current.data.title[i18n.lang] || current.data.title.en;
    if (!confirm(t("content.confirm_retire", { title }))) return;
    try {
      await call(`/articles/${encodeURIComponent(current.id)}/retire`, "POST",
        { base_version: current.version, note: $("article-form").elements.note.value });
      const id = current.id;
      current = null;  // nothing open: nothing unsaved (dirty() is false), and the editor goes
      $("editor").hidden = true;
      say($("retired-msg"), t("content.retired_done", { title, id }));
      loadList();
      loadArticleIds().catch(() => {});
      await loadRetired(true);
      $("retired-h").focus();
    } catch (e) {
      if (e.status === 409 && e.info && e.info.current_version) return conflict(e.info.current_version);
      say($("edit-msg"), e.message, true);
    }
  }

  // `said`: what a retire or restore just said stays (it is the news); otherwise the list says if it is empty
  async function loadRetired(said) {
    const data = await call("/retired");
    if (!said) say($("retired-msg"), data.articles.length ? "" : t("content.retired_none"));
    $("retired").replaceChildren(...data.articles.map(a => {
      const li = el("li");
      const title = el("div", `${a.title[i18n.lang] || a.title.en} (${a.id})`, "text");
      title.id = "retired-" + a.id;
      const by = t("content.retired_by", { when: when(a.retired.ts), name: a.retired.author });
      li.append(title, el("div", `${a.department} · ${by}${a.retired.note ? " · " + a.retired.note : ""}`, "muted"));
      const msg = el("p", "", "msg");
      msg.setAttribute("role", "status");
      const restore = button(t("content.restore"), async () => {
        try {
          const r = await call(`/articles/${encodeURIComponent(a.id)}/restore`, "POST", {});
          say($("retired-msg"), t("content.restored", { id: a.id, version: r.version }));
          loadList();
          loadArticleIds().catch(() => {});
          await loadRetired(true);
        } catch (e) { say(msg, e.message, true); }
      });
      restore.setAttribute("aria-describedby", title.id);
      li.append(restore, msg);
      return li;
    }));
  }

  // ---------------------------------------------------------------- inbox
  async function loadInbox() {
    const data = await call("/inbox");
    const ul = $("inbox");
    say($("inbox-msg"), data.items.length ? t("content.inbox_count", { count: i18n.number(data.items.length) })
      : t("content.inbox_empty"));
    ul.replaceChildren(...data.items.map(item => {
      const li = el("li");
      li.lang = item.language;
      const question = el("div", item.text, "text");
      question.id = "inbox-q-" + item.id;  // names what each field and button of the item is about
      li.appendChild(question);
      const why = i18n.has("content.kind." + item.kind) ? t("content.kind." + item.kind) : item.kind;
      const asked = t("content.asked", { count: i18n.number(item.count) });
      li.appendChild(el("div", `${item.language} · ${why}${item.predicted ? " · " + item.predicted : ""} · ${asked} · ` +
        t("content.last_asked", { when: when(item.last_ts) }), "muted"));
      // the words to add, editable: take out what was masked ("[name]"), fix a typo (probe AA)
      const wording = el("label", t("content.question_to_add"));
      const words = el("input");
      words.value = item.text;
      words.lang = item.language;
      wording.appendChild(words);
      const row = el("div", null, "row");
      const label = el("label", t("content.article_id"));
      const input = el("input");
      input.setAttribute("list", "article-ids");
      input.dataset.followsOpen = "";  // filled with the article opened next (openArticle), until typed in
      input.addEventListener("input", () => { delete input.dataset.followsOpen; });
      input.value = current ? current.id : "";
      input.setAttribute("aria-describedby", question.id);
      label.appendChild(input);
      const msg = el("p", "", "msg");
      msg.setAttribute("role", "status");
      const dismiss = button(t("content.dismiss"), async () => {
        try {
          await training(`/inbox/${item.id}/dismiss`, "POST", {});
          li.remove();
          const left = $("inbox").children.length;  // the count went on saying how many there were
          say($("inbox-msg"), left ? t("content.inbox_count", { count: i18n.number(left) }) : t("content.inbox_empty"));
        } catch (e) { say(msg, e.message, true); }
      });
      dismiss.setAttribute("aria-describedby", question.id);
      const add = button(t("content.add_sample"), async () => {
        if (!input.value.trim()) { say(msg, t("content.choose_article"), true); input.focus(); return; }
        try {
          const r = await call(`/inbox/${item.id}/attach`, "POST",
            { article_id: input.value.trim(), question: words.value });
          // the bot's own reading may still not lead there (Rasa's intent comes first): said, and the item stays
          say(msg, r.bot ? t("content.added_unreached", { article: r.article_id, version: r.version, name: r.bot.name })
            : t(r.added ? "content.added" : "content.already_there", { article: r.article_id, version: r.version }), !!r.bot);
          if (current && current.id === r.article_id) await takeAttached();
          setTimeout(() => loadInbox().catch(e => say($("inbox-msg"), e.message, true)), 800);
        } catch (e) { say(msg, e.message, true); }
      });
      add.setAttribute("aria-describedby", question.id);
      row.append(wording, label, add, dismiss);
      li.append(row, msg);
      return li;
    }));
  }

  // A question attached to the open article: its new version comes into the form without losing an unpublished
  // edit (reopening the article wiped it).
  async function takeAttached() {
    if (!dirty()) return openArticle(current.id, true);
    await mergeLatest($("edit-msg"));
  }

  // Every article's id for the inbox's article fields (a list to choose from, not a slug to remember).
  async function loadArticleIds() {
    const data = await call("/articles");
    $("article-ids").replaceChildren(...data.articles.map(a => {
      const option = el("option");
      option.value = a.id;
      option.label = a.title[i18n.lang] || a.title.en;
      return option;
    }));
  }

  // The topics of topics.yml, named in the page's language: a list to choose from, not a slug to remember.
  async function loadTopics() {
    const data = await call("/topics");
    const select = $("article-form").elements.topic;
    const chosen = select.value;
    const none = el("option", t("content.choose_topic"));
    none.value = "";
    select.replaceChildren(none, ...data.topics.map(topic => {
      const option = el("option", `${topic[i18n.lang] || topic.en} (${topic.id})`);
      option.value = topic.id;
      return option;
    }));
    select.value = chosen;
  }

  async function start() {
    await i18n.ready;
    $("q-lang").value = i18n.lang;  // article titles in the page's language
    $("test-lang").value = "auto";  // a question is answered in its own language, as residents are
    try {
      const me = await call("/me");
      call.csrf = training.csrf = me.csrf;
    } catch (e) { return; }
    $("filters").addEventListener("submit", ev => { ev.preventDefault(); loadList(); });
    $("article-form").addEventListener("submit", publish);
    // a publish the browser refused (an empty required field) is not the last one: its "Published" line goes
    $("article-form").addEventListener("invalid", () => say($("edit-msg"), ""), true);
    $("article-form").addEventListener("input", ev => {
      const counter = document.querySelector(`[data-count-for="${ev.target.name}"]`);
      if (counter) count(counter);
    });
    $("new-article").addEventListener("click", newArticle);
    $("revert").addEventListener("click", () => {
      if (dirty() && !confirm(t("content.unsaved"))) return;
      fillForm(current.data);
      say($("edit-msg"), t("content.discarded"));
    });
    $("test-form").addEventListener("submit", runTest);
    $("retire").addEventListener("click", retire);
    $("retired-h").tabIndex = -1;  // focus lands here after a retire (the editor it was in is gone)
    window.addEventListener("beforeunload", ev => { if (dirty()) { ev.preventDefault(); ev.returnValue = ""; } });
    await loadStatus();
    await loadTopics().catch(e => say($("kb-status"), e.message, true));
    loadList();
    loadArticleIds().catch(() => {});
    loadInbox().catch(e => say($("inbox-msg"), e.message, true));
    loadRetired().catch(e => say($("retired-msg"), e.message, true));
    // The switch in the staff bar: i18n.js relabels the marked words; the lists are drawn again.
    window.addEventListener("c311:language", () => {
      loadStatus().catch(() => {});
      loadList();
      loadInbox().catch(e => say($("inbox-msg"), e.message, true));
      loadRetired().catch(() => {});
      loadTopics().catch(() => {});
      if (current) { showVersion(); countAll(); if (!current.isNew) loadHistory().catch(() => {}); }
    });
  }
  document.addEventListener("DOMContentLoaded", start);
})();
