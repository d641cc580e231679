/* chat311 agent console. Plain JS, no framework. Every piece of text is set with textContent. */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var state = {
    me: null, socket: null, current: null, chats: new Map(), offers: new Map(), queue: [],
    unread: new Set(), canned: [], dispositions: [], typingTimer: null, typingOn: false, services: []
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
        resolve(err ? { ok: false, error: { code: "timeout", message: "no answer from server" } } : ack);
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
    return s < 60 ? s + "s" : Math.floor(s / 60) + "m " + (s % 60) + "s";
  }

  // ---------- lists ----------
  function describe(item) {
    return (item.label || "no label") + " · " + (item.language || "?") + (item.department ? " · " + item.department : "");
  }

  function renderLists() {
    var offers = $("offers");
    clear(offers);
    state.offers.forEach(function (offer, cid) {
      var li = el("li", "offer");
      li.dataset.cid = cid;
      li.appendChild(el("span", "desc", describe(offer)));
      li.appendChild(button("Accept", "accept", function () { accept(cid); }));
      li.appendChild(button("Decline", "decline", function () { decline(cid); }));
      offers.appendChild(li);
    });
    var mine = $("my-chats");
    clear(mine);
    state.chats.forEach(function (chat, cid) {
      var li = el("li", "chat" + (state.current && state.current.conversation_id === cid ? " active" : "") +
        (state.unread.has(cid) ? " unread" : ""));
      li.dataset.cid = cid;
      li.appendChild(button(describe(chat), "open", function () { openConversation(cid); }));
      mine.appendChild(li);
    });
    var queue = $("queue");
    clear(queue);
    var now = Date.now() / 1000;
    state.queue.forEach(function (item) {
      var li = el("li", "queued");
      li.dataset.cid = item.conversation_id;
      li.appendChild(el("span", "desc", describe(item) + " · waiting " + waited(now - item.queued_at)));
      li.appendChild(button("View", "view", function () { openConversation(item.conversation_id); }));
      queue.appendChild(li);
    });
    $("queue-count").textContent = "(" + state.queue.length + ")";
  }

  // ---------- conversation ----------
  function appendMessage(m) {
    var list = $("transcript");
    if (list.querySelector('[data-id="' + CSS.escape(m.id) + '"]')) return;
    var cls = "msg " + m.sender + (m.visibility === "internal" ? " internal" : "");
    var li = el("li", cls);
    li.dataset.id = m.id;
    var who = m.sender === "agent" ? (m.agent_name || "agent") : m.sender;
    if (m.visibility === "internal") who += " (internal note)";
    li.appendChild(el("span", "who", who + " · " + new Date(m.ts).toLocaleTimeString()));
    li.appendChild(el("span", "text", m.text || (m.attachment ? "[attachment]" : "")));
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
  }

  function renderConversation(conv) {
    state.current = conv;
    state.unread.delete(conv.conversation_id);
    $("empty").hidden = true;
    $("conv").hidden = false;
    $("conv-title").textContent = (conv.mine ? "My chat" : "Conversation") + " — " + conv.state;
    var facts = $("conv-facts");
    clear(facts);
    [["Label", conv.label], ["Language", conv.language], ["Channel", conv.channel],
      ["Department", conv.department], ["Form", conv.active_loop], ["Ticket", conv.ticket_id]].forEach(function (f) {
      if (!f[1]) return;
      facts.appendChild(el("dt", null, f[0]));
      facts.appendChild(el("dd", null, f[1]));
    });
    if (conv.ticket_id) $("ts-id").value = conv.ticket_id;
    renderCollected(conv.collected || {});
    fillTicketForm(conv.collected || {});
    clear($("transcript"));
    (conv.messages || []).forEach(appendMessage);
    var active = conv.mine && conv.state === "assigned";
    ["composer", "send", "close-chat", "transfer", "ticket", "canned"].forEach(function (id) { $(id).disabled = !active; });
    $("typing").hidden = true;
    result("");
    renderLists();
  }

  // ---------- what the bot collected ----------
  function renderCollected(c) {
    var list = $("collected-list");
    clear(list);
    var rows = [["Service", c.service_name]];
    (c.attributes || []).forEach(function (a) { rows.push([a.question, a.words]); });
    rows.push(["Location", c.location], ["Description", c.description], ["Name", (c.contact || {}).name],
      ["Phone", (c.contact || {}).phone], ["E-mail", (c.contact || {}).email]);
    rows.forEach(function (r) {
      if (!r[1]) return;
      list.appendChild(el("dt", null, r[0]));
      list.appendChild(el("dd", null, r[1]));
    });
    if (c.photo) {
      list.appendChild(el("dt", null, "Photo"));
      var dd = el("dd");
      var link = el("a", null, "open photo");
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
      else input.appendChild(el("option", null, f.required ? "Choose…" : "—"));
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
    if (f.required) { input.required = true; input.setAttribute("aria-required", "true"); }
    var label = el("label", null, f.label + (f.required ? " (required)" : ""));
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
    if (state.current && state.current.conversation_id !== cid) call("leave", { conversation_id: state.current.conversation_id });
    var ack = await call("open", { conversation_id: cid });
    if (!ack.ok) return result(ack.error.message, true);
    renderConversation(ack.conversation);
  }

  async function accept(cid) {
    var ack = await call("accept", { conversation_id: cid });
    state.offers.delete(cid);
    if (!ack.ok) { renderLists(); return result(ack.error.message, true); }
    state.chats.set(cid, ack.conversation);
    renderConversation(ack.conversation);
  }

  async function decline(cid) {
    state.offers.delete(cid);
    renderLists();
    await call("decline", { conversation_id: cid });
  }

  function setTyping(on) {
    if (!state.current || !state.current.mine || state.typingOn === on) return;
    state.typingOn = on;
    call("typing", { conversation_id: state.current.conversation_id, on: on });
  }

  async function send() {
    var box = $("composer");
    var text = box.value.trim();
    if (!text || !state.current) return;
    var note = $("note-toggle").checked;
    var ack = await call(note ? "note" : "send", { conversation_id: state.current.conversation_id, text: text });
    if (!ack.ok) return result(ack.error.message, true);
    box.value = "";
    state.typingOn = false;
    clearTimeout(state.typingTimer);
  }

  async function closeChat() {
    if (!state.current) return;
    var ack = await call("close", { conversation_id: state.current.conversation_id, disposition: $("disposition").value });
    if (!ack.ok) return result(ack.error.message, true);
    result("Chat closed.");
  }

  async function transfer() {
    if (!state.current) return;
    var cid = state.current.conversation_id;
    var ack = await call("transfer", { conversation_id: cid, to: $("transfer-to").value });
    if (!ack.ok) return result(ack.error.message, true);
    state.chats.delete(cid);
    result("Transferred.");
    renderLists();
  }

  async function createTicket(event) {
    if (event) event.preventDefault();
    if (!state.current) return;
    var ack = await call("ticket", {
      conversation_id: state.current.conversation_id, service_code: $("ticket-service").value,
      description: $("ticket-description").value, address: $("ticket-address").value,
      lat: $("ticket-lat").value, long: $("ticket-long").value, attributes: attributeValues()
    });
    if (!ack.ok) return result(ack.error.message, true);
    result("Ticket " + ack.ticket_id + " created.");
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
    if (!/^311-\d+$/.test(id)) return statusError("Enter a ticket number like 311-1000001.", "ticket_id");
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
      if (r.status === 401) return statusError("Your session has ended: log in again.");
      if (!r.ok) {
        var message = (body.error && body.error.message) || ("The server answered HTTP " + r.status + ".");
        if (r.status === 404) return statusError("No ticket " + id + ": " + message, "ticket_id");
        return statusError("The status was not changed: " + message, /note/.test(message) ? "note" : "");
      }
      var words = select.options[select.selectedIndex].textContent;
      $("ts-result").textContent = body.applied
        ? body.service_request_id + " is now " + words.toLowerCase() + ". Everyone following it will be told."
        : body.service_request_id + " already had this status; nothing changed.";
      if (body.applied) $("ts-note").value = "";
    } catch (e) {
      statusError("The server could not be reached; the status was not changed.");
    } finally {
      $("ts-submit").disabled = false;
    }
  }

  async function refreshAgents() {
    var ack = await call("agents");
    if (!ack.ok) return;
    var select = $("transfer-to");
    clear(select);
    var q = el("option", null, "Back to queue");
    q.value = "queue";
    select.appendChild(q);
    ack.agents.forEach(function (a) {
      if (a.username === state.me.username || a.status !== "online") return;
      var o = el("option", null, a.name + " (" + a.load + "/" + a.capacity + ")");
      o.value = a.username;
      select.appendChild(o);
    });
  }

  var kbTimer = null;
  function kbSearch() {
    clearTimeout(kbTimer);
    kbTimer = setTimeout(async function () {
      var q = $("kb-q").value.trim();
      var list = $("kb-results");
      if (!q) { clear(list); return; }
      var ack = await call("kb_search", { q: q });
      clear(list);
      if (!ack.ok) return;
      ack.results.forEach(function (r) {
        var li = el("li");
        li.appendChild(el("strong", null, r.title + " (" + r.language + ")"));
        li.appendChild(el("p", null, r.body));
        li.appendChild(button("Insert", "insert", function () { $("composer").value = r.body; $("composer").focus(); }));
        list.appendChild(li);
      });
      if (!ack.results.length) list.appendChild(el("li", null, "No matches."));
    }, 200);
  }

  function renderHours(h) {
    if (!h) return;
    var text = h.open ? (h.accepting ? "Line open" : "Closing soon") : "Line closed";
    if (h.override) text += " (override: " + h.override + ")";
    $("hours").textContent = text;
  }

  async function hello() {
    $("conn").textContent = "connected";
    $("conn").className = "conn ok";
    var ack = await call("hello");
    if (!ack.ok) return result(ack.error.message, true);
    state.chats.clear();
    state.offers.clear();
    ack.chats.forEach(function (c) { (c.offered ? state.offers : state.chats).set(c.conversation_id, c); });
    state.queue = ack.queue;
    state.canned = ack.canned;
    state.services = ack.services || [];
    renderServices();
    $("status").value = ack.status === "away" ? "away" : "online";
    renderHours(ack.hours);
    var disp = $("disposition");
    clear(disp);
    ack.dispositions.forEach(function (d) { var o = el("option", null, d.replace(/_/g, " ")); o.value = d; disp.appendChild(o); });
    var canned = $("canned");
    while (canned.options.length > 1) canned.remove(1);
    ack.canned.forEach(function (c, i) { var o = el("option", null, c.key); o.value = String(i); canned.appendChild(o); });
    $("supervisor").hidden = !(ack.me.roles.indexOf("supervisor") >= 0 || ack.me.roles.indexOf("admin") >= 0);
    renderLists();
    refreshAgents();
    if (state.current) openConversation(state.current.conversation_id);
  }

  function connect() {
    var socket = io("/agents", { path: "/socket.io", transports: ["websocket"] });
    state.socket = socket;
    socket.on("connect", hello);
    socket.on("disconnect", function () { $("conn").textContent = "reconnecting…"; $("conn").className = "conn bad"; });
    socket.on("connect_error", function (err) {
      $("conn").textContent = "not connected: " + err.message;
      $("conn").className = "conn bad";
      if (err.message === "unauthorized") window.location.href = "/console/login";
    });
    socket.on("offer", function (d) { state.offers.set(d.conversation_id, d); renderLists(); });
    socket.on("offer_withdrawn", function (d) { state.offers.delete(d.conversation_id); renderLists(); });
    socket.on("queue", function (d) { state.queue = d.items || []; renderLists(); });
    socket.on("status", function (d) { $("status").value = d.status === "away" ? "away" : "online"; });
    socket.on("message", function (d) {
      if (state.current && d.conversation_id === state.current.conversation_id) appendMessage(d);
      else if (state.chats.has(d.conversation_id)) { state.unread.add(d.conversation_id); renderLists(); }
    });
    socket.on("chat_assigned", function (d) { state.chats.set(d.conversation_id, d); renderLists(); });
    socket.on("chat_removed", function (d) { state.chats.delete(d.conversation_id); renderLists(); });
    socket.on("chats_requeued", function (d) { d.conversation_ids.forEach(function (c) { state.chats.delete(c); }); renderLists(); });
    socket.on("chat_closed", function (d) {
      state.chats.delete(d.conversation_id);
      state.offers.delete(d.conversation_id);
      if (state.current && state.current.conversation_id === d.conversation_id) {
        state.current.state = "closed";
        $("conv-title").textContent = "Conversation — closed (" + (d.reason || "") + ")";
        ["composer", "send", "close-chat", "transfer", "ticket", "canned"].forEach(function (id) { $(id).disabled = true; });
      }
      renderLists();
    });
    setInterval(function () { if (socket.connected) call("heartbeat"); }, 15000);
  }

  function wire() {
    $("send").addEventListener("click", send);
    $("composer").addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); }
    });
    $("composer").addEventListener("input", function () {
      if ($("note-toggle").checked) return;
      setTyping(true);
      clearTimeout(state.typingTimer);
      state.typingTimer = setTimeout(function () { setTyping(false); }, 3000);
    });
    $("canned").addEventListener("change", function () {
      var c = state.canned[Number($("canned").value)];
      if (c) {
        var lang = state.current && state.current.language === "es" ? "es" : "en";
        $("composer").value = c[lang] || c.en;
        $("composer").focus();
      }
      $("canned").value = "";
    });
    $("close-chat").addEventListener("click", closeChat);
    $("transfer").addEventListener("click", transfer);
    $("transfer-to").addEventListener("focus", refreshAgents);
    $("ticket-form").addEventListener("submit", createTicket);
    $("ts-form").addEventListener("submit", changeStatus);
    $("ticket-service").addEventListener("change", function () { renderFields({}); });
    $("kb-q").addEventListener("input", kbSearch);
    $("status").addEventListener("change", function () { call("set_status", { status: $("status").value }); });
    $("ov-apply").addEventListener("click", async function () {
      var ack = await call("hours", { mode: $("ov-mode").value, minutes: Number($("ov-minutes").value), reason: "console" });
      if (!ack.ok) return result(ack.error.message, true);
      renderHours(ack.hours);
    });
    setInterval(renderLists, 5000);
  }

  // The city's active incident notice (storm, outage): shown to the agent, insertable in the chat's language.
  function refreshIncident() {
    fetch("/console/incidents/api/current", { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : { incident: null };
    }).then(function (d) {
      state.incident = d.incident;
      $("incident").hidden = !d.incident;
      $("incident-text").textContent = d.incident ? d.incident.title.en + " — " + d.incident.notice.en : "";
    }).catch(function () { /* keep what we showed */ });
  }

  function insertIncident() {
    if (!state.incident) return;
    var lang = state.current && state.current.language === "es" ? "es" : "en";
    $("composer").value = state.incident.notice[lang];
    $("composer").focus();
  }

  fetch("/console/api/me", { credentials: "same-origin" }).then(function (r) {
    if (r.status === 401) { window.location.href = "/console/login"; throw new Error("not logged in"); }
    return r.json();
  }).then(function (me) {
    state.me = me;
    $("me-name").textContent = me.name;
    $("logout-csrf").value = me.csrf;
    wire();
    connect();
    refreshIncident();
    setInterval(refreshIncident, 10000);
    $("incident-insert").addEventListener("click", insertIncident);
  }).catch(function (err) { $("conn").textContent = String(err.message || err); });
})();
