/* chat311 agent console. Plain JS, no framework. Every piece of text is set with textContent.
   Interface words come from chat_server/staff_texts.yml through t() (static/staff/i18n.js picks the
   language); residents' messages, articles, topics and the server's error messages are shown as sent. */
(function () {
  "use strict";

  var i18n = window.C311I18n;
  function t(key, params) { return i18n.t(key, params); }
  // A code the server sends (state, outcome, override mode) in words: the copy's, else the code itself.
  function codeWord(kind, code, fallback) {
    return code && i18n.has(kind + "." + code) ? t(kind + "." + code) : (fallback !== undefined ? fallback : code);
  }

  var $ = function (id) { return document.getElementById(id); };
  var state = {
    me: null, socket: null, current: null, chats: new Map(), offers: new Map(), queue: [],
    unread: new Set(), canned: [], dispositions: [], typingTimer: null, typingOn: false, services: [],
    audio: null, awayAt: 0, residentTypingTimer: null, maxChars: 2000  // the server's limit, from hello
  };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function button(label, cls, onClick) {
    var b = el("button", cls, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function call(event, data) {
    return new Promise(function (resolve) {
      state.socket.timeout(15000).emit(event, data || {}, function (err, ack) {
        resolve(err ? { ok: false, error: { code: "timeout", message: t("console.no_answer") } } : ack);
      });
    });
  }

  function result(text, isError) {
    var node = $("action-result");
    node.textContent = text || "";
    node.className = isError ? "result error" : "result";
  }

  function waited(seconds) {
    var s = Math.max(0, Math.round(seconds));
    return s < 60 ? t("console.seconds", { s: s }) : t("console.minutes_seconds", { m: Math.floor(s / 60), s: s % 60 });
  }

  // ---------- lists ----------
  // In English the server's own name for the language (as before); in Spanish the copy's.
  function languageName(code, serverName) {
    if (i18n.lang !== "en" && code && i18n.has("language." + code)) return t("language." + code);
    return serverName || codeWord("language", code, "");
  }

  function words(code) { return code ? String(code).replace(/[_/]/g, " ").replace(/^./, function (c) { return c.toUpperCase(); }) : ""; }

  // Offers, my chats, the queue and their buttons' names all start with it when the resident reported
  // an emergency (told to call 911 at once), so nobody reads past it.
  function describe(item) {
    return (item.urgent ? t("console.urgent_mark") + " · " : "") +
      (item.topic || words(item.label) || t("console.topic_unknown")) + " · " +
      (languageName(item.language, item.language_name) || t("console.language_unknown")) +
      (item.resident_away ? " · " + t("console.resident_away_mark") : "");
  }

  // An emergency reported in a chat: the agent who has it (or is offered it) and whoever watches the queue.
  function alertUrgent(d) {
    var cid = d.conversation_id;
    markChat(cid, "urgent", true);
    var mine = state.me && d.agent === state.me.username;
    if (d.agent && !mine) { renderLists(); return; }  // another agent has it: their console alerts them
    $("urgent-text").textContent = d.unreachable ? t("console.urgent_unreachable", { chat: describe(d), phone: d.callback || "" })
      : t(mine ? "console.urgent_mine" : "console.urgent_queued", { chat: describe(d) });
    $("urgent").hidden = false;
    $("urgent").dataset.cid = cid;
    beep();
    renderLists();
  }

  // The reply box and the chat's actions work only in a chat that is mine and with me.
  function setControls(active) {
    ["composer", "send", "close-chat", "transfer", "ticket", "canned"].forEach(function (id) { $(id).disabled = !active; });
  }

  // The resident ended the chat before the agent closed it: its outcome can still be recorded, once.
  function allowWrapUp(conv) {
    if (conv.state === "closed" && !conv.disposition && state.me && conv.agent === state.me.username) {
      $("close-chat").disabled = false;
      $("close-chat").textContent = t("console.save_outcome");
    } else {
      $("close-chat").textContent = t("console.close_chat");
    }
  }

  function renderUrgent() {
    var banner = $("conv-urgent");
    banner.hidden = !(state.current && state.current.urgent);
    if (state.current && state.current.unreachable) {  // its own words, kept when the page's language changes
      banner.removeAttribute("data-i18n");
      banner.textContent = t("console.unreachable_banner", { phone: state.current.callback || "" });
    } else {
      banner.dataset.i18n = "console.urgent_banner";
      banner.textContent = t("console.urgent_banner");
    }
    $("conv-away").hidden = !(state.current && state.current.resident_away);
  }

  // The resident closed every tab of theirs (or came back): said in the open chat and in the lists.
  function residentPresence(d) {
    markChat(d.conversation_id, "resident_away", !d.present);
    renderLists();
  }

  // A fact about a chat (urgent, resident away) wherever the console keeps it: offers, my chats, the queue,
  // the open chat (whose banners follow).
  function markChat(cid, key, value) {
    [state.offers, state.chats].forEach(function (m) { if (m.has(cid)) m.get(cid)[key] = value; });
    state.queue.forEach(function (q) { if (q.conversation_id === cid) q[key] = value; });
    if (state.current && state.current.conversation_id === cid) { state.current[key] = value; renderUrgent(); }
  }

  // An offer: the topic, language, wait so far, the resident's last words (text only) and a countdown.
  function renderOffer(offer, cid, now) {
    var li = el("li", "offer" + (offer.urgent ? " urgent" : ""));
    li.dataset.cid = cid;
    li.appendChild(el("strong", "desc", describe(offer)));
    li.appendChild(el("span", "waited"));
    li.appendChild(el("span", "countdown"));
    tickOffer(li, offer, now);
    var preview = el("ul", "preview");
    preview.setAttribute("aria-label", t("console.preview"));
    (offer.preview || []).forEach(function (t) { preview.appendChild(el("li", null, "“" + t + "”")); });
    if (!preview.firstChild) preview.appendChild(el("li", "none", t("console.preview_none")));
    li.appendChild(preview);
    var accept_ = button(t("console.accept"), "accept", function () { accept(cid); });
    accept_.setAttribute("aria-label", t("console.accept_label", { chat: describe(offer) }));
    var decline_ = button(t("console.decline"), "decline", function () { decline(cid); });
    decline_.setAttribute("aria-label", t("console.decline_label", { chat: describe(offer) }));
    li.appendChild(accept_);
    li.appendChild(decline_);
    return li;
  }

  // Updates the clocks in place (rebuilding the item every second would move the keyboard focus).
  function tickOffer(li, offer, now) {
    var left = Math.max(0, Math.ceil(offer.expiresAt - now));
    li.querySelector(".waited").textContent = t("console.offer_waiting",
      { time: waited(offer.waiting_s + (now - offer.receivedAt)) });
    var countdown = li.querySelector(".countdown");
    countdown.textContent = t("console.offer_left", { s: left });
    countdown.className = "countdown" + (left <= 10 ? " urgent" : "");
  }

  function tickOffers() {
    var now = Date.now() / 1000;
    Array.from($("offers").children).forEach(function (li) {
      var offer = state.offers.get(li.dataset.cid);
      if (offer) tickOffer(li, offer, now);
    });
  }

  function addOffer(d, isNew) {
    var now = Date.now() / 1000;
    d.receivedAt = now;
    d.waiting_s = Number(d.waiting_s) || 0;
    d.expiresAt = now + (Number(d.expires_in_s) || 0);
    state.offers.set(d.conversation_id, d);
    if (isNew) alertOffer(d);
  }

  // A short beep (WebAudio, no sound file) and, if the agent allowed it, a desktop notification.
  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      state.audio = state.audio || new Ctx();
      var ctx = state.audio, osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.4);
      state.beeps = (state.beeps || 0) + 1;
    } catch (e) { /* no audio device: the offer is still shown */ }
  }

  function alertOffer(d) {
    beep();
    // The list is redrawn every second (its clocks): a screen reader hears the new offer here, once.
    $("offer-announce").textContent = t("console.offer_said", { chat: describe(d),
      s: Math.max(0, Math.round(d.expiresAt - Date.now() / 1000)) });
    state.announced = d.conversation_id;
    if (window.Notification && Notification.permission === "granted") {
      try {
        var n = new Notification(t("console.offer_notification"), { body: describe(d), tag: "offer-" + d.conversation_id });
        n.onclick = function () { window.focus(); n.close(); };
        state.notified = (state.notified || 0) + 1;
      } catch (e) { /* some browsers allow notifications only from a service worker */ }
    }
  }

  function renderNotifyButton() {
    var b = $("notify");
    if (!window.Notification) { b.hidden = true; return; }
    b.hidden = Notification.permission !== "default";
    $("notify-state").textContent = Notification.permission === "granted" ? t("console.notify_granted") :
      Notification.permission === "denied" ? t("console.notify_denied") : "";
  }

  // After a missed offer the server warns first; the agent becomes Away unless they stay available.
  // Said once when it appears (it was read out again every second, probe AH); the countdown is only shown.
  function renderMissed() {
    var box = $("missed");
    if (!state.awayAt) { box.hidden = true; $("missed-said").textContent = ""; return; }
    var left = Math.max(0, Math.ceil(state.awayAt - Date.now() / 1000));
    if (box.hidden || !$("missed-said").textContent) $("missed-said").textContent = t("console.missed_said", { s: left });
    box.hidden = false;
    $("missed-text").textContent = t("console.missed", { s: left });
  }

  function renderLists() {
    // Redrawn every few seconds: a button that had the keyboard focus gets it back.
    var active = document.activeElement;
    var item = active && active.closest ? active.closest(".lists li[data-cid]") : null;
    var refocus = item && active.tagName === "BUTTON" ? [item.parentNode.id, item.dataset.cid, active.className] : null;
    var offers = $("offers");
    clear(offers);
    var nowS = Date.now() / 1000;
    state.offers.forEach(function (offer, cid) { offers.appendChild(renderOffer(offer, cid, nowS)); });
    $("offers-count").textContent = "(" + state.offers.size + ")";
    var mine = $("my-chats");
    clear(mine);
    // Oldest first, with the time the agent took each: three chats all read "Wants a person · English", and two
    // tabs listed them in different orders (probe S).
    Array.from(state.chats.entries()).sort(function (a, b) {
      return (a[1].assigned_at || 0) - (b[1].assigned_at || 0) || (a[0] < b[0] ? -1 : 1);
    }).forEach(function (entry) {
      var cid = entry[0], chat = entry[1];
      var li = el("li", "chat" + (state.current && state.current.conversation_id === cid ? " active" : "") +
        (state.unread.has(cid) ? " unread" : "") + (chat.urgent ? " urgent" : ""));
      li.dataset.cid = cid;
      var since = chat.assigned_at ? " · " + t("console.taken_at", { time: i18n.timeOfDay(chat.assigned_at) }) : "";
      li.appendChild(button(describe(chat) + since, "open", function () { openConversation(cid); }));
      mine.appendChild(li);
    });
    var queue = $("queue");
    clear(queue);
    var now = Date.now() / 1000;
    state.queue.forEach(function (item) {
      var li = el("li", "queued" + (item.urgent ? " urgent" : ""));
      li.dataset.cid = item.conversation_id;
      li.appendChild(el("span", "desc", describe(item) + " · " +
        t("console.queue_waiting", { time: waited(now - item.queued_at) })));
      li.appendChild(button(t("console.view"), "view", function () { openConversation(item.conversation_id); }));
      var take = button(t("console.take"), "take", async function () {  // offered to me on the usual rules
        var ack = await call("take", { conversation_id: item.conversation_id });
        // while Away nothing is offered: say so rather than promise an offer that will not come (probe S)
        var away = $("status").value === "away";
        result(ack.ok ? t(away ? "console.take_asked_away" : "console.take_asked") : ack.error.message, !ack.ok);
      });
      take.setAttribute("aria-label", t("console.take_label", { chat: describe(item) }));
      li.appendChild(take);
      queue.appendChild(li);
    });
    $("queue-count").textContent = "(" + state.queue.length + ")";
    if (refocus) {
      var again = $(refocus[0]).querySelector('li[data-cid="' + CSS.escape(refocus[1]) + '"] button.' + refocus[2]);
      if (again) again.focus();
    }
  }

  // ---------- conversation ----------
  function appendMessage(m) {
    var list = $("transcript");
    if (list.querySelector('[data-id="' + CSS.escape(m.id) + '"]')) return;
    var cls = "msg " + m.sender + (m.visibility === "internal" ? " internal" : "");
    var li = el("li", cls);
    li.dataset.id = m.id;
    var who = m.sender === "agent" ? (m.agent_name || t("console.sender_agent")) :
      (i18n.has("console.sender_" + m.sender) ? t("console.sender_" + m.sender) : m.sender);
    if (m.visibility === "internal") who += " " + t("console.internal_note");
    li.appendChild(el("span", "who", who + " · " + i18n.timeOfDay(m.ts / 1000)));  // the page's language
    li.appendChild(document.createTextNode(" "));  // read apart: "PMmy water bill" (probe AH)
    var text = el("span", "text", m.text || (m.attachment ? t("console.attachment") : ""));
    if (m.language) text.lang = m.language;  // a Spanish chat's words were read with English pronunciation
    li.appendChild(text);
    // a photo sent with words: only the words showed, and the agent who asked for it thought none came (probe AG)
    var url = m.attachment && typeof m.attachment.url === "string" ? m.attachment.url : "";
    if (m.text && /^(https?:\/\/|\/)/.test(url)) {
      var link = el("a", "attachment", t("console.c_open_photo"));
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      li.appendChild(document.createTextNode(" "));
      li.appendChild(link);
    }
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
    return li;
  }

  // A new message in the open chat, said once: the transcript is not a live region (its whole history was read
  // out on every open), and the agent's own words are not read back to them.
  function announceMessage(m, li) {
    if (m.sender === "agent" && state.me && m.agent_name === state.me.name) return;
    var said = el("p", null, li.textContent);
    if (m.language) said.lang = m.language;
    $("said").appendChild(said);
    setTimeout(function () { said.remove(); }, 15000);
  }

  function showResidentTyping(on) {
    clearTimeout(state.residentTypingTimer);
    $("typing").hidden = !on;
    $("typing").textContent = on ? t("console.resident_typing") : "";
    if (on) state.residentTypingTimer = setTimeout(function () { showResidentTyping(false); }, 20000);
  }

  // A reply being typed when the session ended waits here for the same chat after signing in again.
  var DRAFT_KEY = "c311.console.draft";
  function keepDraft() {
    var text = $("composer").value;
    if (state.current && text.trim()) {
      sessionStorage.setItem(DRAFT_KEY, JSON.stringify({ cid: state.current.conversation_id, text: text }));
    }
  }
  function restoreDraft(cid) {
    var saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null"); } catch (e) { saved = null; }
    if (!saved || saved.cid !== cid) return;
    if (!$("composer").value) $("composer").value = saved.text;
    sessionStorage.removeItem(DRAFT_KEY);
  }
  // The session ended (expired, password changed, account disabled): to the sign-in, and back here after it.
  // The console stayed on "reconnecting…" with Send enabled, and replies went nowhere (probe S).
  var leaving = false;
  function sessionEnded() {
    if (leaving) return;  // told twice (the event, then the dropped socket): one trip to the sign-in
    leaving = true;
    keepDraft();
    $("conn").textContent = t("console.ts_session_ended");
    $("conn").className = "conn bad";
    window.location.href = "/console/login?next=" + encodeURIComponent("/console");
  }
  async function checkSession() {
    var r = await fetch("/console/staff/api/me", { credentials: "same-origin" }).catch(function () { return null; });
    if (r && r.status === 401) sessionEnded();
  }

  // The open chat's language for what is inserted in it (en when none is open).
  function chatLanguage() { return state.current && state.current.language === "es" ? "es" : "en"; }

  // Canned replies named by their words in the chat's language: what will be inserted (they read English in a
  // Spanish chat, probe S).
  function renderCanned(lang) {
    var canned = $("canned");
    while (canned.options.length > 1) canned.remove(1);
    state.canned.forEach(function (c, i) {
      var said = c[lang] || c.en;
      var o = el("option", null, words(c.key) + " — " + (said.length > 48 ? said.slice(0, 47) + "…" : said));
      o.value = String(i);
      canned.appendChild(o);
    });
  }

  function renderConversation(conv) {
    state.current = conv;
    renderCanned(chatLanguage());
    state.unread.delete(conv.conversation_id);
    $("empty").hidden = true;
    $("conv").hidden = false;
    $("conv-title").textContent = t("console.conv_title", {
      who: conv.mine ? t("console.my_chat") : t("console.conversation"), state: codeWord("state", conv.state) });
    var facts = $("conv-facts");
    clear(facts);
    // The bot's label code stays beside the words: routing rules (chat311.yml departments) use it.
    [[t("console.fact_topic"), (conv.topic || words(conv.label)) + (conv.label ? " (" + conv.label + ")" : "")],
      [t("console.fact_language"), languageName(conv.language, conv.language_name)],
      [t("console.fact_channel"), codeWord("channel", conv.channel, words(conv.channel))], [t("console.fact_department"), words(conv.department)],
      [t("console.fact_ticket"), conv.ticket_id]].forEach(function (f) {
      if (!f[1]) return;
      facts.appendChild(el("dt", null, f[0]));
      facts.appendChild(el("dd", null, f[1]));
    });
    if (conv.ticket_id) $("ts-id").value = conv.ticket_id;
    if (state.disposedFor !== conv.conversation_id) {  // the last chat's outcome is not this one's
      $("disposition").value = "";
      state.disposedFor = conv.conversation_id;
    }
    renderUrgent();
    refreshAgents();  // who can take this chat (its language) for a transfer
    renderCollected(conv.collected || {});
    fillTicketForm(conv.collected || {});
    clear($("transcript"));
    (conv.messages || []).forEach(appendMessage);
    var active = conv.mine && conv.state === "assigned";
    setControls(active);
    allowWrapUp(conv);
    if (active) restoreDraft(conv.conversation_id);
    // A supervisor adds internal notes to anyone's chat (the resident never sees them): the box writes notes only.
    var annotate = !active && !!state.supervisor;
    if (annotate) { $("composer").disabled = false; $("send").disabled = false; }
    var forced = $("note-toggle").disabled;
    $("note-toggle").disabled = annotate;
    if (annotate) $("note-toggle").checked = true;
    else if (forced) $("note-toggle").checked = false;  // back in a chat of one's own: replies again
    showResidentTyping(false);
    result("");
    renderLists();
  }

  // ---------- what the bot collected ----------
  function renderCollected(c) {
    var list = $("collected-list");
    clear(list);
    var rows = [[t("console.service"), c.service_name]];
    (c.attributes || []).forEach(function (a) { rows.push([a.question, a.words]); });
    rows.push([t("console.c_location"), c.location], [t("console.description"), c.description],
      [t("console.c_name"), (c.contact || {}).name], [t("console.phone"), (c.contact || {}).phone],
      [t("console.email"), (c.contact || {}).email]);
    rows.forEach(function (r) {
      if (!r[1]) return;
      list.appendChild(el("dt", null, r[0]));
      list.appendChild(el("dd", null, r[1]));
    });
    if (c.photo) {
      list.appendChild(el("dt", null, t("console.c_photo")));
      var dd = el("dd");
      var link = el("a", null, t("console.c_open_photo"));
      link.href = c.photo;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      dd.appendChild(link);
      list.appendChild(dd);
    }
    $("collected").hidden = !list.firstChild;
  }

  // ---------- ticket form (built from the catalogue) ----------
  function serviceByCode(code) {
    return state.services.find(function (s) { return s.service_code === code; });
  }

  function renderServices() {
    var select = $("ticket-service");
    clear(select);
    state.services.forEach(function (s) {
      var o = el("option", null, s.name + " (" + s.service_code + ")");
      o.value = s.service_code;
      select.appendChild(o);
    });
  }

  function fieldInput(f, value) {
    var id = "attr-" + f.code;
    var input;
    if (f.field === "select") {
      input = el("select");
      if (f.multiple) input.multiple = true;
      else input.appendChild(el("option", null, f.required ? t("console.choose") : "—"));
      if (!f.multiple) input.options[0].value = "";
      f.values.forEach(function (v) {
        var o = el("option", null, v.name);
        o.value = v.key;
        o.selected = Array.isArray(value) ? value.indexOf(v.key) >= 0 : value === v.key;
        input.appendChild(o);
      });
    } else if (f.field === "textarea") {
      input = el("textarea");
      input.rows = 2;
      input.value = value || "";
    } else {
      input = el("input");
      input.type = f.field;
      input.value = value || "";
    }
    input.id = id;
    input.dataset.code = f.code;
    input.dataset.label = f.label;
    if (f.required) { input.required = true; input.setAttribute("aria-required", "true"); }
    var label = el("label", null, f.label + (f.required ? " " + t("console.required") : ""));
    label.htmlFor = id;
    return [label, input];
  }

  function renderFields(values) {
    var box = $("ticket-fields");
    Array.from(box.querySelectorAll("label, input, select, textarea")).forEach(function (n) { box.removeChild(n); });
    var service = serviceByCode($("ticket-service").value);
    var fields = service ? service.fields : [];
    fields.forEach(function (f) {
      fieldInput(f, values[f.code]).forEach(function (n) { box.appendChild(n); });
    });
    box.className = fields.length ? "ticket-fields" : "ticket-fields none";
  }

  function fillTicketForm(c) {
    var values = {};
    (c.attributes || []).forEach(function (a) { values[a.code] = a.value; });
    $("ticket-service").value = c.service_code && serviceByCode(c.service_code) ? c.service_code : "GENERAL";
    if (!$("ticket-service").value && state.services.length) $("ticket-service").value = state.services[0].service_code;
    $("ticket-address").value = c.address || "";
    $("ticket-lat").value = c.lat !== undefined ? c.lat : "";
    $("ticket-long").value = c.long !== undefined ? c.long : "";
    $("ticket-description").value = c.description || "";
    renderFields(values);
  }

  function attributeValues() {
    var out = {};
    Array.from($("ticket-fields").querySelectorAll("[data-code]")).forEach(function (input) {
      if (input.multiple) {
        out[input.dataset.code] = Array.from(input.selectedOptions).map(function (o) { return o.value; });
      } else if (input.value !== "") {
        out[input.dataset.code] = input.value;
      }
    });
    return out;
  }

  async function openConversation(cid) {
    // Leave only a chat that is not one of mine: my other chats' messages must keep coming (unread marks).
    var previous = state.current && state.current.conversation_id;
    if (previous && previous !== cid && !state.chats.has(previous)) call("leave", { conversation_id: previous });
    var ack = await call("open", { conversation_id: cid });
    if (!ack.ok) return result(ack.error.message, true);
    renderConversation(ack.conversation);
  }

  // An offer accepted, declined, withdrawn or closed: its announcement no longer stands (a screen reader that
  // read the live line again still heard "New chat offer", probe W).
  function offerGone(cid) {
    state.offers.delete(cid);
    if (state.announced === cid) { $("offer-announce").textContent = ""; state.announced = null; }
  }

  async function accept(cid) {
    var ack = await call("accept", { conversation_id: cid });
    offerGone(cid);
    if (!ack.ok) { renderLists(); return result(ack.error.message, true); }
    state.chats.set(cid, ack.conversation);
    renderConversation(ack.conversation);
    $("composer").focus();  // the accepted chat is where the agent works next (focus fell to the page)
  }

  async function decline(cid) {
    offerGone(cid);
    renderLists();
    await call("decline", { conversation_id: cid });
  }

  function setTyping(on) {
    if (!state.current || !state.current.mine || state.typingOn === on) return;
    state.typingOn = on;
    call("typing", { conversation_id: state.current.conversation_id, on: on });
  }

  // One call at a time per button: a double-click sent the message twice and closed the chat twice (probe S).
  var inFlight = new Set();
  async function once(name, action) {
    if (inFlight.has(name)) return;
    inFlight.add(name);
    try { await action(); } finally { inFlight.delete(name); }
  }

  // Near and over the limit the box says so: a pasted 2,504 characters went out as the first 2,000 (probe S).
  function tooLong(n) {
    return n > state.maxChars ? t("console.too_many_chars", { n: n - state.maxChars, max: state.maxChars }) : "";
  }
  function countComposer() {
    var n = $("composer").value.length, node = $("composer-count");
    node.textContent = tooLong(n) || (n >= state.maxChars * 0.9 ? t("console.chars_of", { n: n, max: state.maxChars }) : "");
    node.className = n > state.maxChars ? "count error" : "count";
  }

  function send() { return once("send", sendNow); }
  async function sendNow() {
    var box = $("composer");
    var text = box.value.trim();
    if (!text || !state.current) return;
    if (tooLong(text.length)) return result(tooLong(text.length), true);
    var note = $("note-toggle").checked;
    var ack = await call(note ? "note" : "send", { conversation_id: state.current.conversation_id, text: text });
    if (!ack.ok) return result(ack.error.message, true);
    if (box.value.trim() === text) box.value = "";  // not what was typed meanwhile
    countComposer();
    if (note && !$("note-toggle").disabled) $("note-toggle").checked = false;  // the next one goes to the resident
    state.typingOn = false;
    clearTimeout(state.typingTimer);
  }

  function closeChat() { return once("close", closeNow); }
  async function closeNow() {
    if (!state.current) return;
    if (!$("disposition").value) {  // every chat's outcome is chosen for it (reports count them)
      result(t("console.choose_outcome"), true);
      return $("disposition").focus();
    }
    var wrapUp = state.current.state === "closed";
    var ack = await call("close", { conversation_id: state.current.conversation_id, disposition: $("disposition").value });
    if (!ack.ok) return result(ack.error.message, true);
    if (wrapUp) {
      state.current.disposition = $("disposition").value;
      allowWrapUp(state.current);
      $("close-chat").disabled = true;
    }
    result(t(wrapUp ? "console.outcome_saved" : "console.chat_closed"));
    // the button that had the focus is disabled now: the keyboard stays with the chat, not the page's top
    if (document.activeElement === document.body || (document.activeElement && document.activeElement.disabled)) {
      $("conv-title").focus();
    }
  }

  async function transfer() {
    if (!state.current) return;
    var cid = state.current.conversation_id;
    var ack = await call("transfer", { conversation_id: cid, to: $("transfer-to").value });
    if (!ack.ok) return result(ack.error.message, true);
    state.chats.delete(cid);
    result(t("console.transferred"));
    renderLists();
  }

  // The form's input a refusal names ("attribute[cart_type]", "description"), to show the problem there: the raw
  // "attribute[cart_type] is required for service_code MISSED_PICKUP" named no field an agent can see (probe S).
  var TICKET_INPUTS = { service_code: "ticket-service", description: "ticket-description",
    address_string: "ticket-address", address: "ticket-address", lat: "ticket-address", long: "ticket-address" };
  function ticketInput(field) {
    var attribute = /^attribute\[(.+)\]$/.exec(field || "");
    return $(attribute ? "attr-" + attribute[1] : TICKET_INPUTS[field] || "");
  }

  async function createTicket(event) {
    if (event) event.preventDefault();
    if (!state.current) return;
    $("ticket-form").querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
    var ack = await call("ticket", {
      conversation_id: state.current.conversation_id, service_code: $("ticket-service").value,
      description: $("ticket-description").value, address: $("ticket-address").value,
      lat: $("ticket-lat").value, long: $("ticket-long").value, attributes: attributeValues()
    });
    if (!ack.ok) {
      var input = ticketInput(ack.error.field);
      if (!input) return result(ack.error.message, true);
      var label = document.querySelector('label[for="' + input.id + '"]');
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return result(t("console.ticket_check_field", { field: input.dataset.label || (label ? label.textContent : input.id) }), true);
    }
    result(t("console.ticket_created", { ticket_id: ack.ticket_id }));
    $("ts-id").value = ack.ticket_id;
  }

  // ---------- ticket status (POST /api/tickets/{id}/status, the same service as the CLI) ----------
  function statusError(text, field) {
    $("ts-result").textContent = "";
    $("ts-error").textContent = text;
    $("ts-id").setAttribute("aria-invalid", field === "ticket_id" ? "true" : "false");
    if (field === "ticket_id") $("ts-id").focus();
    else if (field === "note") $("ts-note").focus();
  }

  async function changeStatus(event) {
    if (event) event.preventDefault();
    var id = $("ts-id").value.trim().toUpperCase();
    var select = $("ts-status");
    if (!/^311-\d+$/.test(id)) return statusError(t("console.ts_bad_id"), "ticket_id");
    $("ts-error").textContent = "";
    $("ts-id").setAttribute("aria-invalid", "false");
    $("ts-submit").disabled = true;
    try {
      var r = await fetch("/api/tickets/" + encodeURIComponent(id) + "/status", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": state.me.csrf },
        body: JSON.stringify({ status: select.value, note: $("ts-note").value })
      });
      var body = await r.json().catch(function () { return {}; });
      if (r.status === 401) return statusError(t("console.ts_session_ended"));
      if (!r.ok) {
        var message = (body.error && body.error.message) || t("console.http_status", { status: r.status });
        if (r.status === 404) return statusError(t("console.ts_no_ticket", { ticket_id: id, message: message }), "ticket_id");
        return statusError(t("console.ts_not_changed", { message: message }), /note/.test(message) ? "note" : "");
      }
      var words = select.options[select.selectedIndex].textContent;
      $("ts-result").textContent = body.applied
        ? t("console.ts_applied", { ticket_id: body.service_request_id, status: words.toLowerCase() })
        : t("console.ts_unchanged", { ticket_id: body.service_request_id });
      if (body.applied) $("ts-note").value = "";
    } catch (e) {
      statusError(t("console.ts_unreachable"));
    } finally {
      $("ts-submit").disabled = false;
    }
  }

  async function refreshAgents() {
    var ack = await call("agents");
    if (!ack.ok) return;
    var select = $("transfer-to");
    clear(select);
    var q = el("option", null, t("console.back_to_queue"));
    q.value = "queue";
    select.appendChild(q);
    var language = state.current && state.current.language;
    ack.agents.forEach(function (a) {
      if (a.username === state.me.username || a.status !== "online") return;
      if (language && a.languages && a.languages.indexOf(language) < 0) return;  // cannot take this chat
      var o = el("option", null, a.name + " (" + a.load + "/" + a.capacity + ")");
      o.value = a.username;
      select.appendChild(o);
    });
  }

  // ---------- search of past conversations and tickets (GET /console/api/search) ----------

  function searchList(title, items, render) {
    var box = $("search-results");
    box.appendChild(el("h3", null, title + " (" + items.length + ")"));
    var list = el("ul", "search-list");
    items.forEach(function (item) { list.appendChild(render(item)); });
    if (!items.length) list.appendChild(el("li", null, t("console.none_found")));
    box.appendChild(list);
  }

  function contact(item) {
    return [item.phone, item.email].filter(Boolean).join(" · ");
  }

  async function runSearch(event) {
    if (event) event.preventDefault();
    var params = new URLSearchParams();
    [["ticket", "s-ticket"], ["phone", "s-phone"], ["email", "s-email"], ["date", "s-date"], ["agent", "s-agent"]]
      .forEach(function (f) { var v = $(f[1]).value.trim(); if (v) params.set(f[0], v); });
    $("search-error").textContent = "";
    clear($("search-results"));
    var ticket = params.get("ticket");
    if (ticket && !/^311-\d+$/i.test(ticket)) { $("search-error").textContent = t("console.search_bad_ticket"); return; }
    if (!params.toString()) { $("search-error").textContent = t("console.search_empty"); return; }
    var r, body;
    try {
      r = await fetch("/console/api/search?" + params.toString(), { credentials: "same-origin" });
      body = await r.json();
    } catch (e) {
      $("search-error").textContent = t("console.unreachable");
      return;
    }
    if (!r.ok) {
      $("search-error").textContent = (body.error && body.error.message) || t("console.http_short", { status: r.status });
      return;
    }
    searchList(t("console.search_conversations"), body.conversations, function (c) {
      var li = el("li");
      li.appendChild(el("strong", null, words(c.label) || t("console.conversation")));
      li.appendChild(el("span", "meta", [i18n.dateTime(c.assigned_at || c.queued_at), c.agent_name || c.agent,
        codeWord("state", c.state), c.ticket_id ? t("console.search_ticket", { ticket_id: c.ticket_id }) : ""]
        .filter(Boolean).join(" · ")));  // a chat no agent had has no empty "· ·"
      if (contact(c)) li.appendChild(el("span", "meta", contact(c)));
      if (state.me.roles.indexOf("supervisor") >= 0 || state.me.roles.indexOf("admin") >= 0) {
        li.appendChild(button(t("console.open"), "open", function () { openConversation(c.conversation_id); }));
      }
      return li;
    });
    searchList(t("console.search_tickets"), body.tickets, function (ticket) {
      var li = el("li");
      li.appendChild(el("strong", null, [ticket.ticket_id, ticket.service_code, codeWord("ticket_status", ticket.status)]
        .join(" · ")));
      li.appendChild(el("span", "meta", [i18n.dateTime(ticket.requested_at), ticket.address].filter(Boolean).join(" · ")));
      if (contact(ticket)) li.appendChild(el("span", "meta", contact(ticket)));
      if (ticket.description) li.appendChild(el("span", "meta", ticket.description));
      return li;
    });
  }

  var kbTimer = null;
  function kbSearch() {
    clearTimeout(kbTimer);
    kbTimer = setTimeout(async function () {
      var q = $("kb-q").value.trim();
      var list = $("kb-results");
      if (!q) { clear(list); return; }
      // in the open chat's language, what the resident reads (a Spanish chat got English articles, probe S)
      var ack = await call("kb_search", { q: q, language: state.current ? state.current.language : undefined });
      clear(list);
      if (!ack.ok) return;
      ack.results.forEach(function (r) {
        var li = el("li");
        li.appendChild(el("strong", null, r.title + " (" + r.language + ")"));
        li.appendChild(el("p", null, r.body));
        li.appendChild(button(t("console.insert"), "insert", function () { insertText(r.body); }));
        list.appendChild(li);
      });
      if (!ack.results.length) list.appendChild(el("li", null, t("console.no_matches")));
    }, 200);
  }

  function renderHours(h) {
    if (!h) return;
    state.hours = h;
    var text = t(h.open ? (h.accepting ? "console.line_open" : "console.line_closing") : "console.line_closed");
    if (h.override) text += " " + t("console.line_override", { mode: codeWord("override", h.override) });
    $("hours").textContent = text;
  }

  // The line follows schedule and override changes made anywhere (dashboard, CLI): asked every 4 s.
  async function refreshHours() {
    if (!state.socket || !state.socket.connected) return;
    var ack = await call("hours");
    if (ack.ok) renderHours(ack.hours);
  }

  async function hello() {
    $("conn").textContent = t("console.conn_connected");
    $("conn").className = "conn ok";
    var ack = await call("hello");
    if (!ack.ok) return result(ack.error.message, true);
    state.chats.clear();
    state.offers.clear();
    ack.chats.forEach(function (c) { if (c.offered) addOffer(c, false); else state.chats.set(c.conversation_id, c); });
    state.queue = ack.queue;
    state.canned = ack.canned;
    state.maxChars = ack.max_chars || state.maxChars;
    countComposer();
    state.services = ack.services || [];
    renderServices();
    showStatus(ack.status, ack.away_in_s);
    renderHours(ack.hours);
    var disp = $("disposition");
    clear(disp);
    var none = el("option", null, t("console.choose_outcome_option"));
    none.value = "";
    disp.appendChild(none);
    ack.dispositions.forEach(function (d) {
      var o = el("option", null, codeWord("disposition", d, d.replace(/_/g, " ")));
      o.value = d;
      disp.appendChild(o);
    });
    renderCanned(chatLanguage());
    var supervisor = ack.me.roles.indexOf("supervisor") >= 0 || ack.me.roles.indexOf("admin") >= 0;
    $("supervisor").hidden = !supervisor;
    $("s-agent").hidden = $("s-agent-label").hidden = !supervisor;
    state.supervisor = supervisor;
    renderScope();
    renderLists();
    refreshAgents();
    if (state.current) openConversation(state.current.conversation_id);
  }

  function renderScope() {
    $("search-scope").textContent = t(state.supervisor ? "console.search_scope_all" : "console.search_scope_own");
  }

  // The switch in the staff bar changed the language: i18n.js relabelled the page's marked elements;
  // the words this script wrote are written again (the open chat is fetched again; no message is translated).
  function relabel() {
    renderLists();
    renderNotifyButton();
    renderMissed();
    renderScope();
    renderHours(state.hours);
    if (state.socket) $("conn").textContent = t(state.socket.connected ? "console.conn_connected" : "console.conn_reconnecting");
    Array.from($("disposition").options).forEach(function (o) {
      o.textContent = o.value ? codeWord("disposition", o.value, o.value.replace(/_/g, " ")) : t("console.choose_outcome_option");
    });
    if ($("transfer-to").options.length) $("transfer-to").options[0].textContent = t("console.back_to_queue");
    if (!$("typing").hidden) $("typing").textContent = t("console.resident_typing");
    if (state.current) openConversation(state.current.conversation_id);
  }

  function showStatus(status, awayInS) {
    $("status").value = status === "online" || status === "missed" ? "online" : "away";
    state.awayAt = status === "missed" ? Date.now() / 1000 + (Number(awayInS) || 0) : 0;
    renderMissed();
  }

  function connect() {
    var socket = io("/agents", { path: "/socket.io", transports: ["websocket"] });
    state.socket = socket;
    socket.on("connect", hello);
    socket.on("disconnect", function (reason) {
      $("conn").textContent = t("console.conn_reconnecting");
      $("conn").className = "conn bad";
      if (reason === "io server disconnect") checkSession();  // the server let go: is the session over?
    });
    socket.on("session_ended", sessionEnded);
    socket.on("connect_error", function (err) {
      $("conn").textContent = t("console.conn_failed", { error: err.message });
      $("conn").className = "conn bad";
      if (err.message === "unauthorized") sessionEnded();
    });
    socket.on("offer", function (d) { addOffer(d, true); renderLists(); });
    socket.on("urgent", alertUrgent);
    socket.on("resident_presence", residentPresence);
    socket.on("offer_withdrawn", function (d) { offerGone(d.conversation_id); renderLists(); });
    socket.on("queue", function (d) { state.queue = d.items || []; renderLists(); });
    socket.on("status", function (d) { showStatus(d.status, d.away_in_s); });
    socket.on("resident_typing", function (d) {
      if (state.current && d.conversation_id === state.current.conversation_id) showResidentTyping(!!d.on);
    });
    socket.on("message", function (d) {
      if (state.current && d.conversation_id === state.current.conversation_id) {
        if (d.sender === "resident") showResidentTyping(false);
        var li = appendMessage(d);  // nothing when the transcript had it already
        if (li) announceMessage(d, li);
        // the resident may have switched language: the chat's facts and canned replies follow it
        if (d.sender === "resident" && d.language && d.language !== state.current.language) {
          openConversation(d.conversation_id);
        }
      }
      else if (state.chats.has(d.conversation_id)) { state.unread.add(d.conversation_id); renderLists(); }
    });
    socket.on("chat_assigned", function (d) {  // accepted in another tab, or a transfer to me: hear its messages
      if (!state.chats.has(d.conversation_id)) call("open", { conversation_id: d.conversation_id });
      if (d.reason === "transferred") {  // a colleague handed it over: heard and seen like an offer
        var told = t("console.transferred_to_me", { name: d.from_name || "", chat: describe(d) });
        beep();
        $("offer-announce").textContent = told;
        result(told);
      }
      state.chats.set(d.conversation_id, Object.assign(state.chats.get(d.conversation_id) || {}, d));
      renderLists();
    });
    // The chat changed hands: this console stops hearing it unless it may still read it (its new owner, a
    // supervisor); an agent who had looked at it in the queue is told who took it.
    socket.on("view_closed", async function (d) {
      if (!state.current || state.current.conversation_id !== d.conversation_id) return;
      var ack = await call("open", { conversation_id: d.conversation_id });
      if (!state.current || state.current.conversation_id !== d.conversation_id) return;
      if (ack.ok) { renderConversation(ack.conversation); return; }
      state.current = null;
      clear($("transcript"));
      clear($("conv-facts"));
      $("conv").hidden = true;
      $("empty").hidden = false;
      $("empty").focus();
      result(t("console.view_taken", { name: d.taken_by || "" }));
    });
    socket.on("chat_removed", function (d) {
      state.chats.delete(d.conversation_id);
      if (state.current && state.current.conversation_id === d.conversation_id) {  // transferred away: read-only now
        state.current.mine = false;
        setControls(false);
        result(t("console.chat_moved"));
      }
      renderLists();
    });
    socket.on("chats_requeued", function (d) { d.conversation_ids.forEach(function (c) { state.chats.delete(c); }); renderLists(); });
    socket.on("chat_closed", function (d) {
      state.chats.delete(d.conversation_id);
      offerGone(d.conversation_id);
      if (state.current && state.current.conversation_id === d.conversation_id) {
        state.current.state = "closed";
        $("conv-title").textContent = t("console.conv_closed", { reason: codeWord("close_reason", d.reason, words(d.reason)) });
        setControls(false);
        allowWrapUp(state.current);
      }
      renderLists();
    });
    setInterval(function () { if (socket.connected) call("heartbeat"); }, 15000);
  }

  // Shortcuts use Alt+Shift (no character is typed with them), so they work while typing a reply.
  function shortcut(e) {
    if (!e.altKey || !e.shiftKey || e.ctrlKey || e.metaKey) return;
    if (e.code === "KeyA") {
      var first = null;
      state.offers.forEach(function (o, cid) { if (first === null) first = cid; });
      if (first !== null) accept(first);
    } else if (e.code === "KeyC") {
      if (!$("close-chat").disabled) closeChat();
    } else if (e.code === "KeyM") {
      if (!$("composer").disabled) $("composer").focus();
    } else if (e.code === "KeyS") {
      if (!$("missed").hidden) $("stay").click();
    } else {
      return;
    }
    e.preventDefault();
  }

  function wire() {
    document.addEventListener("keydown", shortcut);
    $("send").addEventListener("click", send);
    $("composer").addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.altKey) { e.preventDefault(); send(); }
    });
    $("notify").addEventListener("click", function () {
      if (state.audio && state.audio.state === "suspended") state.audio.resume();
      Notification.requestPermission().then(renderNotifyButton);
    });
    $("stay").addEventListener("click", function () { call("set_status", { status: "online" }); });
    $("urgent-open").addEventListener("click", function () {
      $("urgent").hidden = true;
      openConversation($("urgent").dataset.cid);
    });
    // Browsers start audio only after a user gesture: unlock it on the first click or key.
    var unlock = function () {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx && !state.audio) state.audio = new Ctx();
      if (state.audio && state.audio.state === "suspended") state.audio.resume();
    };
    document.addEventListener("pointerdown", unlock, { once: true });
    document.addEventListener("keydown", unlock, { once: true });
    $("composer").addEventListener("input", function () {
      countComposer();
      if ($("note-toggle").checked) return;
      setTyping(true);
      clearTimeout(state.typingTimer);
      state.typingTimer = setTimeout(function () { setTyping(false); }, 3000);
    });
    $("canned").addEventListener("change", function () {
      var c = state.canned[Number($("canned").value)];
      if (c) {
        insertText(c[chatLanguage()] || c.en);
      }
      $("canned").value = "";
    });
    $("close-chat").addEventListener("click", closeChat);
    $("transfer").addEventListener("click", transfer);
    $("transfer-to").addEventListener("focus", refreshAgents);
    $("ticket-form").addEventListener("submit", createTicket);
    $("ts-form").addEventListener("submit", changeStatus);
    $("search-form").addEventListener("submit", runSearch);
    $("ticket-service").addEventListener("change", function () { renderFields({}); });
    $("kb-q").addEventListener("input", kbSearch);
    $("status").addEventListener("change", function () { call("set_status", { status: $("status").value }); });
    $("ov-form").addEventListener("submit", async function (e) {
      e.preventDefault();
      var ack = await call("hours", { mode: $("ov-mode").value, minutes: Number($("ov-minutes").value),
        reason: $("ov-reason").value });
      $("ov-result").textContent = ack.ok ? t("console.ov_done") : ack.error.message;
      $("ov-result").className = ack.ok ? "result" : "result error";
      if (ack.ok) renderHours(ack.hours);
    });
    $("ov-mode").addEventListener("change", function () { $("ov-minutes").disabled = $("ov-mode").value === "clear"; });
    renderNotifyButton();
    // Countdowns and waits tick every second; the full lists are cheap to redraw.
    setInterval(function () {
      tickOffers();
      if (state.awayAt) renderMissed();
    }, 1000);
    setInterval(renderLists, 5000);
    setInterval(refreshHours, 4000);
  }

  // The city's active incident notice (storm, outage): shown to the agent, insertable in the chat's language.
  function refreshIncident() {
    fetch("/console/incidents/api/current", { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : { incident: null };
    }).then(function (d) {
      state.incident = d.incident;
      $("incident").hidden = !d.incident;
      // In the agent's language when the incident has it (incident notices are written in en and es). The notice
      // begins with the title ("Water main break: …"); the card showed it twice.
      var l = i18n.lang;
      $("incident-text").textContent = d.incident ? (d.incident.notice[l] || d.incident.notice.en) : "";
      // The other live notices, each insertable: with three live, the agent saw only the newest while residents
      // asked about another (probe Y).
      var others = $("incident-others");
      others.replaceChildren();
      (d.incidents || []).slice(1).forEach(function (other) {
        var li = el("li", null, other.notice[l] || other.notice.en);
        li.appendChild(button(t("console.incident_insert"), "incident-insert-other", function () {
          insertText(other.notice[chatLanguage()]);
        }));
        others.appendChild(li);
      });
      others.hidden = !others.childElementCount;
    }).catch(function () { /* keep what we showed */ });
  }

  function insertIncident() {
    if (!state.incident) return;
    insertText(state.incident.notice[chatLanguage()]);
  }

  // Inserted where the cursor is, after what the agent typed: Insert threw their draft away (probe S).
  function insertText(text) {
    var box = $("composer");
    var start = box.selectionStart == null ? box.value.length : box.selectionStart;
    var end = box.selectionEnd == null ? box.value.length : box.selectionEnd;
    var before = box.value.slice(0, start);
    var spaced = before && !/\s$/.test(before) ? before + " " + text : before + text;
    box.value = spaced + box.value.slice(end);
    box.setSelectionRange(spaced.length, spaced.length);
    box.focus();
    countComposer();
  }

  i18n.ready.then(function () {
    $("conn").textContent = t("console.conn_connecting");
    window.addEventListener("c311:language", relabel);
    return fetch("/console/api/me", { credentials: "same-origin" });
  }).then(function (r) {
    if (r.status === 401) { window.location.href = "/console/login"; throw new Error("not logged in"); }
    return r.json();
  }).then(function (me) {
    state.me = me;
    $("me-name").textContent = me.name;
    $("logout-csrf").value = me.csrf;
    // Logging out hands my chats back to the queue at once (else residents wait out the reconnect grace).
    document.querySelector("form.logout").addEventListener("submit", function (event) {
      var form = event.target;
      if (form.dataset.signedOut || !state.socket) return;
      event.preventDefault();
      var open = Array.from(state.chats.values()).filter(function (c) { return c.state === "assigned"; }).length;
      if (open && !confirm(t("console.confirm_logout", { n: open }))) return;  // it went without a word (probe S)
      call("sign_out").then(function () { form.dataset.signedOut = "1"; form.submit(); });
    });
    wire();
    connect();
    refreshIncident();
    setInterval(refreshIncident, 10000);
    $("incident-insert").addEventListener("click", insertIncident);
  }).catch(function (err) { $("conn").textContent = String(err.message || err); });
})();
