// Incident notices page: post a bilingual notice, see live/scheduled/ended ones with their figures, correct or end
// one.
// Its words follow the staff pages' language (static/staff/i18n.js, copy in chat_server/staff_texts.yml).
"use strict";
(function () {
  const i18n = window.C311I18n;
  const t = (key, params) => i18n.t(key, params);
  const API = "/console/incidents/api";
  const $ = id => document.getElementById(id);

  const call = C311Api(API);  // /static/staff/api.js
  function say(node, text, isError) { node.textContent = text; node.classList.toggle("error", !!isError); }
  function epoch(value) { return value ? new Date(value).getTime() / 1000 : null; }
  function when(ts) { return new Date(ts * 1000).toLocaleString(); }
  // epoch seconds → the datetime-local input's "YYYY-MM-DDTHH:MM", in the browser's time like `epoch` reads it
  function local(ts) {
    const d = new Date(ts * 1000);
    const two = n => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}`;
  }
  // The notice being corrected (null: the form posts a new one), with the end as shown: an end left as shown is
  // sent as stored, not rounded to the minute (that would read as a change of the line's extended hours).
  let editing = null;
  const titleOf = inc => inc.title[i18n.lang] || inc.title.en;
  const FIELDS = { "title.en": "title-en", "title.es": "title-es", "message.en": "message-en", "message.es": "message-es",
                   url: "url", phrases: "phrases", starts_at: "starts", ends_at: "ends", extend_hours: "extend" };

  // `label`: the column's heading, shown before the value where the table is laid out as cards (narrow screens)
  function cell(text, label) {
    const td = document.createElement("td");
    td.textContent = text;
    if (label) td.dataset.label = t(label);
    return td;
  }

  async function load() {
    const data = await call("/incidents");
    const body = $("list").tBodies[0];
    body.replaceChildren();
    // Says when the list is empty; leaves any other message (e.g. "Ended.") to the action that wrote it.
    const msg = $("list-msg");
    if (!data.incidents.length) { say(msg, t("incidents.none")); msg.dataset.none = "1"; }
    else if (msg.dataset.none) { say(msg, ""); delete msg.dataset.none; }
    const other = i18n.lang === "es" ? "en" : "es";  // the title in the page's language, the other one below
    for (const inc of data.incidents) {
      const tr = document.createElement("tr");
      tr.dataset.id = inc.id;
      const name = cell(titleOf(inc));
      const detail = document.createElement("div");
      detail.className = "muted";
      detail.textContent = `${inc.title[other]} · ${inc.phrases.join(", ")}`;
      name.append(detail);
      const state = (i18n.has("incidents.state." + inc.state) ? t("incidents.state." + inc.state) : inc.state) +
        (inc.banner ? " · " + t("incidents.in_banner") : "");  // residents see only one banner: this one
      // a scheduled notice ended before it began read "12:00 PM – 11:00 AM"
      const period = inc.ended_at && inc.ended_at < inc.starts_at
        ? `${when(inc.starts_at)} · ${t("incidents.never_started")}`
        : `${when(inc.starts_at)} – ${when(inc.ended_at || inc.ends_at)}`;
      tr.append(name, cell(state, "incidents.col_state"), cell(period, "incidents.col_when"),
        cell(String(inc.chats), "incidents.col_chats"), cell(String(inc.escalated), "incidents.col_escalated"),
        cell(String(inc.contained), "incidents.col_contained"));
      if (inc.updated_at) {
        const note = document.createElement("div");
        note.className = "muted";
        note.textContent = t("incidents.updated", { when: when(inc.updated_at), name: inc.updated_by });
        name.append(note);
      }
      const actions = document.createElement("td");
      if (inc.state !== "ended") {
        const edit = document.createElement("button");
        edit.type = "button";
        edit.className = "secondary";
        edit.textContent = t("incidents.edit");
        edit.setAttribute("aria-label", t("incidents.edit_label", { title: titleOf(inc) }));
        edit.addEventListener("click", () => startEdit(inc));
        actions.append(edit, " ");
        const end = document.createElement("button");
        end.type = "button";
        end.className = "secondary";
        end.textContent = t("incidents.end");
        end.setAttribute("aria-label", t("incidents.end_label", { title: titleOf(inc) }));
        end.addEventListener("click", async () => {
          // One click took a city-wide notice off every channel at once.
          if (!confirm(t("incidents.confirm_end", { title: titleOf(inc) }))) return;
          try {
            await call(`/incidents/${encodeURIComponent(inc.id)}/end`, "POST");
            await load();
            say($("list-msg"), t("incidents.ended"));
            delete $("list-msg").dataset.none;
          } catch (e) { say($("list-msg"), e.message, true); }
        });
        actions.append(end);
      }
      tr.append(actions);
      body.append(tr);
    }
  }

  function startEdit(inc) {
    editing = { inc, ends: local(inc.ends_at) };
    $("title-en").value = inc.title.en; $("title-es").value = inc.title.es;
    $("message-en").value = inc.message.en; $("message-es").value = inc.message.es;
    $("url").value = inc.url || "";
    $("phrases").value = inc.phrases.join(", ");
    const begun = inc.state === "live";
    $("starts").value = local(inc.starts_at);
    $("starts").disabled = begun;
    $("starts-fixed").hidden = !begun;
    $("ends").value = editing.ends;
    $("extend").checked = !!inc.extend_hours;
    $("extend").disabled = true;  // an hours decision: end the notice and post it again
    say($("post-msg"), "");
    showMode();
    $("title-en").focus();
  }

  function stopEdit() {
    editing = null;
    $("post").reset();
    $("starts").disabled = false;
    $("starts-fixed").hidden = true;
    $("extend").disabled = false;
    showMode();
  }

  // The form's heading and button say whether it posts a new notice or saves a correction (also after the page's
  // language changes: the i18n pass rewrites elements from their data-i18n key).
  function showMode() {
    const heading = $("post-h");
    if (editing) {
      heading.removeAttribute("data-i18n");
      heading.textContent = t("incidents.edit_heading", { title: titleOf(editing.inc) });
    } else {
      heading.dataset.i18n = "incidents.post_heading";
      heading.textContent = t("incidents.post_heading");
    }
    $("submit").dataset.i18n = editing ? "incidents.save" : "incidents.post";
    $("submit").textContent = t($("submit").dataset.i18n);
    $("cancel-edit").hidden = !editing;
  }

  async function post(e) {
    e.preventDefault();
    for (const id of Object.values(FIELDS)) $(id).removeAttribute("aria-invalid");
    const body = {
      title: { en: $("title-en").value, es: $("title-es").value },
      message: { en: $("message-en").value, es: $("message-es").value },
      url: $("url").value.trim(),
      phrases: $("phrases").value,
      starts_at: epoch($("starts").value),
      ends_at: epoch($("ends").value),
      extend_hours: $("extend").checked,
    };
    if (editing) {
      if (editing.inc.state === "live") body.starts_at = null;
      if ($("ends").value === editing.ends) body.ends_at = editing.inc.ends_at;
      body.extend_hours = !!editing.inc.extend_hours;
      body.base_updated_at = editing.inc.updated_at || 0;  // refused if someone corrected it since
    }
    try {
      if (editing) await call(`/incidents/${encodeURIComponent(editing.inc.id)}`, "POST", body);
      else await call("/incidents", "POST", body);
      say($("post-msg"), t(editing ? "incidents.saved" : "incidents.posted"));
      stopEdit();
      await load();
    } catch (err) {
      say($("post-msg"), err.message, true);
      const field = err.field && $(FIELDS[err.field]);
      if (field) { field.setAttribute("aria-invalid", "true"); field.focus(); }
    }
  }

  async function init() {
    await i18n.ready;
    window.addEventListener("c311:language", () => { showMode(); load().catch(() => {}); });
    const me = await call("/me");
    call.csrf = me.csrf;
    $("post").addEventListener("submit", post);
    $("cancel-edit").addEventListener("click", () => { stopEdit(); say($("post-msg"), ""); $("title-en").focus(); });
    await load();
    setInterval(() => load().catch(() => {}), 5000);
  }
  init().catch(e => say($("list-msg"), e.message, true));
})();
