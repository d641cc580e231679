// chat311 resident web widget: one <script src=".../widget.js" data-...> tag.
// All message content is rendered with textContent / text nodes, never as HTML.
import { io } from "socket.io-client";
import css from "./styles.css";
import { format, LANGS, STRINGS } from "./i18n.js";
import { accessibleColor, appendLinkified, cmpId, h, icon, ownMedia, safeUrl, storage, toDate, uuid } from "./util.js";

const DEFAULT_COLOR = "#00594f";
const MAX_PHOTO_BYTES = 5 * 1024 * 1024;
const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
const LOCALES = { en: "en-US", es: "es-US" };
// the upload API's error codes; a file that claimed a picture type but is none could not be read as one
const UPLOAD_ERRORS = { too_large: "photoTooBig", unsupported_media_type: "photoUnreadable", rate_limited: "rate_limited" };
const ACK_TIMEOUT_MS = 15000;
// Refusals that say "not now" rather than "not this": rate_limited, busy. Tried again after 2, 4, 6, 8 s.
// "internal": storage failed for a moment (Redis restarting); the server takes a client_msg_id once, so a resend
// is safe, and "Not sent" under a message the server could take seconds later was left to the resident (probe X)
const SEND_LATER = ["rate_limited", "busy", "internal"];
// Where the panel covers the whole viewport (styles.css): a phone, or a laptop at 200 % zoom.
const FULL_SCREEN = "(max-width: 480px), (max-height: 500px)";
const SEND_LATER_TRIES = 4;
const SEND_LATER_MS = 2000;
const TYPING_IDLE_MS = 3000; // no keystroke for this long: the resident stopped typing
const K = {
  session: "chat311:session",
  lastId: "chat311:last_id",
  lastRead: "chat311:last_read",
  lang: "chat311:lang",
  langExplicit: "chat311:lang_explicit",
  outbox: "chat311:outbox",
  labels: "chat311:labels",
  csatDone: "chat311:csat_done", // only cleared now: older widget versions stored it
  open: "chat311:open",
  incidentDismissed: "chat311:incident_dismissed",
};

const SCRIPT = document.currentScript || document.querySelector('script[src*="widget.js"]');

function readConfig(script) {
  const d = (script && script.dataset) || {};
  let origin = window.location.origin;
  try {
    if (script && script.src) origin = new URL(script.src, window.location.href).origin;
  } catch {
    /* keep page origin */
  }
  // The page's data-lang, else the browser's languages (a Spanish browser starts in Spanish), else English.
  const wanted = d.lang ? [d.lang] : navigator.languages || [navigator.language];
  const lang = wanted.map((l) => String(l || "").slice(0, 2).toLowerCase()).find((l) => LANGS.includes(l));
  return {
    server: (String(d.server || "").trim() || origin).replace(/\/+$/, ""),
    socketPath: d.socketPath || "/socket.io",
    title: d.title || "311",
    lang: lang || "en",
    position: d.position === "left" ? "left" : "right",
    color: accessibleColor(d.color, DEFAULT_COLOR),
  };
}

function injectStyles() {
  if (document.querySelector("style[data-chat311]") || window.__chat311Styled) return;
  window.__chat311Styled = true;
  // Constructable stylesheets are not subject to CSP style-src 'unsafe-inline'.
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  } catch {
    document.head.append(h("style", { "data-chat311": "" }, css));
  }
}

class Widget {
  constructor(cfg) {
    this.cfg = cfg;
    this.lang = LANGS.includes(storage.get(K.lang)) ? storage.get(K.lang) : cfg.lang;
    this.langExplicit = storage.get(K.langExplicit) === "1";
    this.sessionId = storage.get(K.session);
    this.lastId = null; // last message id rendered in this page
    this.seen = new Set();
    this.formActive = false; // the bot is in the middle of a report (bot_uttered.form_active)
    this.typingSent = false;
    this.typingTimer = null;
    this.outbox = this.loadJSON(K.outbox, []);
    this.labels = this.loadJSON(K.labels, {});
    this.unread = 0;
    this.socket = null;
    this.confirmed = false;
    this.connected = false;
    this.everConnected = false;
    this.inflight = null;
    this.resumeAt = 0;  // no message goes out before this time (ms): the server asked to wait
    this.closed = false;
    this.csatSent = null;
    this.incident = null;
    this.agentName = null;
    this.bindings = [];
    this.typingTimer = null;
    this.build();
    this.applyStrings();
    for (const item of this.outbox) this.renderResident({ text: this.displayFor(item.cmid, item.message), cmid: item.cmid, attachment: item.attachment, lang: item.lang, pending: true });
    if (this.sessionId) this.connect(); // restores history and the unread badge
    let wasOpen = false;
    try {
      wasOpen = window.sessionStorage.getItem(K.open) === "1";
    } catch {
      /* ignore */
    }
    if (wasOpen) this.open({ focus: false });
    window.addEventListener("storage", (e) => this.onStorage(e));
    window.addEventListener("resize", () => this.fitIncident());
    document.addEventListener("click", (e) => {
      const t = e.target instanceof Element && e.target.closest("[data-c311-open]");
      if (t) {
        e.preventDefault();
        this.open();
      }
    });
  }

  // ---------- helpers ----------
  t(key, vars = {}) {
    const s = STRINGS[this.lang][key] ?? STRINGS.en[key] ?? key;
    return format(s, { title: this.cfg.title, ...vars });
  }
  loadJSON(key, dflt) {
    try {
      return JSON.parse(storage.get(key)) ?? dflt;
    } catch {
      return dflt;
    }
  }
  bind(el, attr, key, vars) {
    this.bindings.push([el, attr, key, vars]);
    return el;
  }
  applyStrings() {
    for (const [el, attr, key, vars] of this.bindings) {
      const v = this.t(key, typeof vars === "function" ? vars() : vars);
      if (attr === "text") el.textContent = v;
      else el.setAttribute(attr, v);
    }
    this.root.setAttribute("lang", this.lang);
    this.langBtn.setAttribute("lang", this.lang === "en" ? "es" : "en");
    this.updateLauncher();
    this.updateSubtitle();
    this.refreshPendingStates();
    this.renderIncident();
    this.relabelMessages();
  }

  // Who said each message, in the widget's language now: the first bubbles were labelled "You" when the
  // language switched to Spanish on the resident's first words, and the later ones "Usted".
  relabelMessages() {
    if (!this.log) return;
    for (const el of this.log.querySelectorAll(".c311-msg")) if (el.c311) this.labelMessage(el);
  }

  // The sender line of a message: an agent's name is shown, the others are said to screen readers only.
  labelMessage(el) {
    const info = el.c311;
    info.who = this.senderName(info.sender, info.agentName);
    el.firstChild.textContent = info.sender === "agent" ? `${info.who} · ${this.t("agent")}` : this.t("said", { who: info.who });
  }

  // ---------- incident notice ----------
  onIncident(d) {
    this.incident = d && typeof d === "object" && typeof d.id === "string" ? d : null;
    this.renderIncident();
  }

  renderIncident() {
    const d = this.incident;
    if (!this.incidentEl) return;
    if (!d || storage.get(K.incidentDismissed) === this.incidentKey(d)) {
      this.incidentEl.hidden = true;
      this.panel.classList.remove("c311-notice-open");
      this.incidentText.replaceChildren();
      return;
    }
    const words = (d.translations && d.translations[this.lang]) || d;
    const title = h("strong", { class: "c311-incident-title", text: `${this.t("incidentLabel")}: ${String(words.title || "")}` });
    const message = h("span", { class: "c311-incident-message" });
    appendLinkified(message, ` ${String(words.message || "")}`);
    const url = d.url && safeUrl(d.url);
    const more = url && !String(words.message || "").includes(d.url)
      ? [" ", h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: this.t("incidentMore") })] : [];
    this.incidentText.replaceChildren(title, message, ...more);
    this.incidentEl.hidden = false;
    this.fitIncident();
  }

  // A long notice shows its first lines, scrolls inside its banner and opens in full with "Show all" (the
  // reply box stays on a phone's or a zoomed screen): keyboard users reach the scrolling with Tab only when
  // there is something to scroll (measured when the panel is shown, and again when the window changes).
  fitIncident() {
    if (this.incidentEl.hidden || this.panel.hidden) return;
    const open = this.incidentOpen === this.incident.id;
    this.panel.classList.toggle("c311-notice-open", open);
    this.incidentMore.setAttribute("aria-expanded", String(open));
    const label = this.t(open ? "incidentLess" : "incidentAll");
    if (this.incidentMore.textContent !== label) this.incidentMore.textContent = label;
    const over = this.incidentText.scrollHeight > this.incidentText.clientHeight + 1;
    if (over) this.incidentText.tabIndex = 0;
    else this.incidentText.removeAttribute("tabindex");
    this.incidentMore.hidden = !open && !over;
  }

  toggleIncident() {
    this.incidentOpen = this.incidentOpen === this.incident.id ? null : this.incident.id;
    this.fitIncident();
  }

  // A dismissed notice stays hidden until staff correct it ("crews now expect 8 pm"): then it shows again.
  incidentKey(d) {
    return d.updated_at ? `${d.id}@${d.updated_at}` : d.id;
  }

  dismissIncident() {
    if (this.incident) storage.set(K.incidentDismissed, this.incidentKey(this.incident));
    this.renderIncident();
    this.input.focus();
  }

  // ---------- DOM ----------
  build() {
    injectStyles();
    const id = (s) => `c311-${s}`;
    this.root = h("div", { class: `c311-root c311-pos-${this.cfg.position}`, "data-chat311": "" });
    this.root.style.setProperty("--c311-brand", this.cfg.color);

    // Header
    this.titleEl = h("h2", { id: id("title"), class: "c311-title", text: this.cfg.title });
    this.subtitleEl = h("p", { class: "c311-subtitle" });
    this.closeBtn = this.bind(
      h("button", { type: "button", class: "c311-iconbtn c311-close", onclick: () => this.close() }, icon("close")),
      "aria-label",
      "close",
    );
    this.langBtn = this.bind(
      h("button", { type: "button", class: "c311-tool c311-lang", onclick: () => this.setLang(this.lang === "en" ? "es" : "en", true) }),
      "text",
      "switchLang",
    );
    this.transcriptBtn = this.bind(
      h(
        "button",
        { type: "button", class: "c311-tool c311-transcript", onclick: () => this.downloadTranscript() },
        icon("download"),
        this.bind(h("span", { class: "c311-tool-text" }), "text", "transcript"),
      ),
      "aria-label",
      "transcript",
    );
    this.endBtn = this.bind(h("button", { type: "button", class: "c311-tool c311-end", onclick: () => this.endChat() }), "text", "endChat");
    const header = h(
      "div",
      { class: "c311-header" },
      h("div", { class: "c311-headrow" }, h("div", { class: "c311-titles" }, this.titleEl, this.subtitleEl), this.closeBtn),
      h("div", { class: "c311-toolbar" }, this.langBtn, this.transcriptBtn, this.endBtn),
    );

    // Live regions
    this.banner = h("div", { class: "c311-banner", role: "status" });
    // A city incident notice (storm, outage): a polite live region, dismissible, in the chat's language.
    // Not atomic: "Show less" or a new line is read alone, not with the whole notice again.
    this.incidentText = h("p", { class: "c311-incident-text", id: id("incident-text") });
    this.incidentMore = h("button", { type: "button", class: "c311-incident-more", "aria-expanded": "false", "aria-controls": id("incident-text"), hidden: true, onclick: () => this.toggleIncident() });
    this.incidentDismiss = this.bind(h("button", { type: "button", class: "c311-incident-dismiss", onclick: () => this.dismissIncident() }, icon("close")), "aria-label", "incidentDismiss");
    this.incidentEl = h("div", { class: "c311-incident", role: "status", "aria-live": "polite", "aria-atomic": "false", hidden: true }, h("div", { class: "c311-incident-body" }, this.incidentText, this.incidentMore), this.incidentDismiss);
    this.queueLine = h("p", { class: "c311-line c311-queue" });
    // Who joined is said once, in the transcript (the server's message); this line only shows it, unannounced.
    this.agentLine = h("p", { class: "c311-line c311-agentline" });
    this.ticketLine = h("p", { class: "c311-line c311-ticket" });
    this.noticeLine = h("p", { class: "c311-line c311-notice" });
    // The request number is said in the bot's message: the line with its link is shown, not announced (it was
    // read three times for one request, probe AH).
    this.statusEl = h("div", { class: "c311-lines" }, h("div", { class: "c311-status", role: "status", "aria-atomic": "false" }, this.queueLine, this.noticeLine), this.ticketLine);
    // Each new message is announced once, from here (the 911 answer assertively): the transcript is read, not
    // announced, since it also read out the resident's own words with "Sending…" as they were sent. They stand
    // outside the panel, so a message that comes while it is collapsed is announced too (an agent joining a
    // resident who went on reading the page was heard by nobody, probe AH).
    this.spokenEl = h("div", { class: "c311-sr", "aria-live": "polite" });
    this.urgentEl = h("div", { class: "c311-sr", "aria-live": "assertive" });

    // Transcript
    this.introEl = this.bind(h("p", { class: "c311-intro" }), "text", "intro");
    this.log = h("div", { class: "c311-log", role: "log", "aria-live": "off", tabindex: "0", id: id("log") }, this.introEl);
    this.bind(this.log, "aria-label", "logLabel");
    this.typingEl = h("div", { class: "c311-typing", hidden: true }, h("span", { class: "c311-dots", "aria-hidden": "true" }, h("span"), h("span"), h("span")), h("span", { class: "c311-typing-text" }));
    this.quick = h("div", { class: "c311-quick", role: "group", hidden: true });
    this.bind(this.quick, "aria-label", "suggestions");

    // Composer
    this.input = h("textarea", { id: id("input"), class: "c311-input", rows: "2", autocomplete: "off", onkeydown: (e) => this.onInputKey(e), oninput: () => this.onInputTyping() });
    this.fileInput = h("input", { type: "file", accept: PHOTO_TYPES.join(","), class: "c311-file", tabindex: "-1", "aria-hidden": "true", onchange: () => this.onFile() });
    this.attachBtn = this.bind(h("button", { type: "button", class: "c311-iconbtn c311-attach", onclick: () => this.fileInput.click() }, icon("camera")), "aria-label", "attach");
    this.locBtn = this.bind(h("button", { type: "button", class: "c311-iconbtn c311-location", onclick: () => this.shareLocation() }, icon("pin")), "aria-label", "location");
    this.sendBtn = this.bind(h("button", { type: "submit", class: "c311-iconbtn c311-send" }, icon("send")), "aria-label", "send");
    this.composer = h(
      "form",
      { class: "c311-composer", onsubmit: (e) => this.onSubmit(e) },
      this.bind(h("label", { for: id("input"), class: "c311-sr" }), "text", "inputLabel"),
      this.input,
      h("div", { class: "c311-actions" }, this.attachBtn, this.locBtn, this.fileInput, this.sendBtn),
    );

    // CSAT
    this.csatForm = this.buildCsat();
    this.csatThanks = h("div", { class: "c311-csat-done", hidden: true }, this.bind(h("p", { class: "c311-thanks" }), "text", "csatThanks"));
    this.newChatBtn = this.bind(h("button", { type: "button", class: "c311-newchat", onclick: () => this.newChat() }), "text", "newChat");
    this.endArea = h("div", { class: "c311-endarea", hidden: true }, this.csatForm, this.csatThanks, this.newChatBtn);

    this.panel = h(
      "section",
      { class: "c311-panel", id: id("panel"), role: "dialog", "aria-labelledby": id("title"), hidden: true, onkeydown: (e) => this.onPanelKey(e) },
      header,
      this.banner,
      this.incidentEl,
      this.agentLine,
      this.statusEl,
      this.log,
      this.typingEl,
      this.quick,
      this.endArea,
      this.composer,
    );

    // Launcher
    this.badge = h("span", { class: "c311-badge", "aria-hidden": "true", hidden: true });
    this.launcherText = h("span", { class: "c311-launcher-text" });
    this.launcher = h(
      "button",
      { type: "button", class: "c311-launcher", "aria-expanded": "false", "aria-controls": id("panel"), onclick: () => (this.isOpen() ? this.close() : this.open()) },
      icon("chat"),
      this.launcherText,
      this.badge,
    );

    this.root.append(this.panel, this.launcher, this.spokenEl, this.urgentEl);
    document.body.append(this.root);
  }

  buildCsat() {
    const name = `c311-rating-${Math.random().toString(36).slice(2, 8)}`;
    const options = [1, 2, 3, 4, 5].map((n) => {
      const inputId = `${name}-${n}`;
      return h(
        "span",
        { class: "c311-star" },
        h("input", { type: "radio", name, id: inputId, value: String(n), required: true, onchange: () => this.csatMissing(false) }),
        h("label", { for: inputId }, h("span", { "aria-hidden": "true", text: `${n} ★` }), this.bind(h("span", { class: "c311-sr" }), "text", "csatStar", { n })),
      );
    });
    this.csatComment = h("textarea", { id: `${name}-comment`, class: "c311-csat-comment", rows: "2", maxlength: "1000" });
    // The server takes a rating (1-5) with or without a comment, never a comment alone: the form says so next to
    // the stars, and asks for the stars itself (novalidate: the browser's "required" bubble hid the reason).
    this.csatError = this.bind(h("p", { id: `${name}-error`, class: "c311-csat-error", hidden: true }), "text", "csatMissing");
    return h(
      "form",
      { class: "c311-csat", novalidate: true, onsubmit: (e) => this.onCsat(e) },
      h(
        "fieldset",
        { "aria-describedby": `${name}-hint` },
        this.bind(h("legend"), "text", "csatLegend"),
        this.bind(h("p", { id: `${name}-hint`, class: "c311-csat-hint" }), "text", "csatNeeded"),
        h("div", { class: "c311-stars" }, options),
        this.csatError,
      ),
      this.bind(h("label", { for: `${name}-comment` }), "text", "csatComment"),
      this.csatComment,
      this.bind(h("button", { type: "submit", class: "c311-csat-submit" }), "text", "csatSubmit"),
    );
  }

  isOpen() {
    return !this.panel.hidden;
  }

  open({ focus = true } = {}) {
    this.panel.hidden = false;
    this.panel.setAttribute("aria-modal", String(window.matchMedia(FULL_SCREEN).matches));
    this.root.classList.add("c311-open");
    this.launcher.setAttribute("aria-expanded", "true");
    try {
      window.sessionStorage.setItem(K.open, "1");
    } catch {
      /* ignore */
    }
    this.connect();
    if (!this.connected && this.everConnected) this.setOnline(false);
    this.markRead();
    this.scrollDown();
    this.fitIncident();
    if (focus) (this.closed ? this.endArea.querySelector("input, button") : this.input)?.focus();
  }

  close() {
    this.panel.hidden = true;
    this.root.classList.remove("c311-open");
    this.launcher.setAttribute("aria-expanded", "false");
    try {
      window.sessionStorage.setItem(K.open, "0");
    } catch {
      /* ignore */
    }
    this.launcher.focus();
  }

  onPanelKey(e) {
    if (e.key === "Escape") {
      e.preventDefault();
      this.close();
    } else if (e.key === "Tab" && this.fullScreen()) {
      // Covering the page, the panel is modal: Tab went on to links hidden under it (probe AH).
      const stops = [...this.panel.querySelectorAll("button, [href], input, textarea, select, [tabindex]:not([tabindex='-1'])")]
        .filter((n) => !n.disabled && n.getClientRects().length);
      const [first, last] = [stops[0], stops[stops.length - 1]];
      if (first && e.shiftKey && document.activeElement === first) {
        e.preventDefault();
        last.focus();
      } else if (last && !e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    }
  }

  // The same sizes as the stylesheet's full-viewport panel.
  fullScreen() {
    return this.isOpen() && window.matchMedia(FULL_SCREEN).matches;
  }

  onInputKey(e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.onSubmit(e);
    }
  }

  // The agent sees "typing…" (on/off only, never the text); off after a pause or when the message goes.
  onInputTyping() {
    clearTimeout(this.typingTimer);
    const on = this.input.value.trim() !== "";
    if (on) this.typingTimer = setTimeout(() => this.sendTyping(false), TYPING_IDLE_MS);
    this.sendTyping(on);
  }

  sendTyping(on) {
    if (this.typingSent === on || !this.socket || !this.connected || !this.sessionId) return;
    this.typingSent = on;
    this.socket.emit("typing", { session_id: this.sessionId, on });
  }

  onSubmit(e) {
    e.preventDefault();
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    clearTimeout(this.typingTimer);
    this.typingSent = false; // the server ends the resident's typing with the message itself
    this.send(text);
  }

  updateLauncher() {
    this.launcherText.textContent = this.t("openChat");
    const label = this.unread ? `${this.t("openChat")} (${this.t("unread", { n: this.unread })})` : this.t("openChat");
    this.launcher.setAttribute("aria-label", label);
    this.badge.textContent = String(this.unread);
    this.badge.hidden = !this.unread;
  }

  updateSubtitle() {
    // After the chat ends nobody is "chatting with" the resident any more; what they write starts a new chat.
    this.subtitleEl.textContent = this.closed ? this.t("chatEnded")
      : this.agentName ? this.t("chattingWith", { name: this.agentName }) : this.t("botSubtitle");
    this.input.placeholder = this.t(this.closed ? "placeholderNewChat" : "placeholder");
  }

  setLang(lang, explicit) {
    if (!LANGS.includes(lang)) return;
    this.lang = lang;
    storage.set(K.lang, lang);
    if (explicit) {
      this.langExplicit = true;
      storage.set(K.langExplicit, "1");
    }
    this.applyStrings();
    this.setTyping(this.typingSender, !this.typingEl.hidden);
  }

  markRead() {
    if (this.lastId) storage.set(K.lastRead, this.lastId);
    this.unread = 0;
    this.updateLauncher();
  }

  scrollDown() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  setLine(el, text, link) {
    el.textContent = text || "";
    if (link) el.append(" ", link);
  }

  notice(key, vars) {
    this.setLine(this.noticeLine, key ? this.t(key, vars) : "");
  }

  setOnline(on) {
    this.banner.classList.toggle("c311-banner--on", !on);
    this.banner.textContent = on ? "" : this.t("offline");
    this.refreshPendingStates();
  }

  // ---------- connection ----------
  connect() {
    if (this.socket) return;
    const s = io(this.cfg.server, {
      path: this.cfg.socketPath,
      // WebSocket first: long-polling needs a sticky proxy once chat_server runs several workers,
      // so it is only the fallback for networks that block WebSockets.
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
    });
    this.socket = s;
    s.on("connect", () => {
      this.connected = true;
      this.typingSent = false; // a new connection: the server knows of no typing
      this.everConnected = true;
      this.setOnline(true);
      this.requestSession();
    });
    s.on("disconnect", (reason) => {
      this.connected = false;
      this.confirmed = false;
      this.inflight = null;
      if (reason !== "io client disconnect") this.setOnline(false);
      if (reason === "io server disconnect") setTimeout(() => s.connect(), 1000);
    });
    s.on("connect_error", () => {
      this.connected = false;
      this.setOnline(false);
    });
    s.on("session_confirm", (d) => this.onSessionConfirm(d));
    s.on("bot_uttered", (m) => this.onBotUttered(m || {}));
    s.on("resident_uttered", (m) => this.onResidentUttered(m || {}));
    s.on("agent_joined", (d) => this.onAgentJoined(d || {}));
    s.on("queue_update", (d) => this.onQueue(d || {}));
    s.on("typing", (d) => this.setTyping(d && d.sender, !!(d && d.on)));
    s.on("ticket_created", (d) => this.onTicket(d || {}));
    s.on("ticket_followed", (d) => this.onTicket(d || {}));  // the same problem, already reported: its link
    s.on("conversation_closed", (d) => this.onClosed(d && d.reason));
    s.on("incident", (d) => this.onIncident(d));
    s.on("error", (d) => this.onServerError(d || {}));
    s.on("language", (d) => {
      if (d && LANGS.includes(d.language) && !this.langExplicit && d.language !== this.lang) this.setLang(d.language, false);
    });
    s.connect();
  }

  requestSession() {
    this.confirmed = false;
    const req = { last_message_id: this.lastId || "0" };
    if (this.sessionId) req.session_id = this.sessionId;
    this.socket.emit("session_request", req);
  }

  onSessionConfirm(d) {
    const sid = typeof d === "string" ? d : d && d.session_id;
    if (!sid) return;
    if (this.sessionId && sid !== this.sessionId) this.resetConversation({ keepOutbox: true });
    this.sessionId = sid;
    storage.set(K.session, sid);
    this.confirmed = true;
    this.flush();
  }

  onStorage(e) {
    if (e.key !== K.session || e.newValue === this.sessionId) return;
    if (!e.newValue) {
      // Another tab ended this conversation (or is starting a new one, whose id follows): show it ended.
      if (e.oldValue === this.sessionId && !this.closed) this.onClosed();
      return;
    }
    // Another tab started a new conversation: follow it (and never write back, so tabs don't fight).
    this.resetConversation({ keepOutbox: false });
    this.sessionId = e.newValue;
    this.confirmed = false;
    if (this.socket && this.connected) this.requestSession();
    else this.connect();
  }

  resetConversation({ keepOutbox, keepLog = false }) {
    for (const el of keepLog ? [] : [...this.log.querySelectorAll(".c311-msg")]) {
      if (!(keepOutbox && el.classList.contains("c311-pending"))) el.remove();
    }
    if (!keepOutbox) {
      this.outbox = [];
      this.saveOutbox();
    }
    this.seen.clear();
    this.lastId = null;
    this.agentName = null;
    this.closed = false;
    this.unread = 0;
    this.inflight = null;
    for (const el of [this.queueLine, this.agentLine, this.ticketLine, this.noticeLine]) el.textContent = "";
    this.setQuickReplies([]);
    this.setTyping(null, false);
    this.endArea.hidden = true;
    this.attachBtn.hidden = false;
    this.endBtn.hidden = false;
    this.csatForm.hidden = false;
    this.csatThanks.hidden = true;
    this.csatForm.reset();
    this.csatMissing(false);
    this.updateSubtitle();
    this.updateLauncher();
  }

  track(id) {
    if (!id) return;
    this.seen.add(id);
    if (!this.lastId || cmpId(id, this.lastId) > 0) {
      this.lastId = id;
      storage.set(K.lastId, id);
    }
  }

  // ---------- incoming ----------
  onBotUttered(m) {
    if (m.id && this.seen.has(m.id)) return;
    const isNew = m.id ? !this.lastId || cmpId(m.id, this.lastId) > 0 : true;
    this.track(m.id);
    const sender = ["bot", "agent", "system"].includes(m.sender) ? m.sender : "bot";
    if (sender === "agent" && m.agent_name && !this.agentName) {
      this.agentName = m.agent_name;
      this.updateSubtitle();
    }
    let el = null;
    if (m.text || m.attachment) {
      // the 911 answer is the one message that must not look like a quiet status line
      const urgent = sender === "system" && !!m.custom && m.custom.event === "emergency";
      el = this.renderMessage({ sender, text: m.text || "", attachment: m.attachment, ts: m.ts, lang: m.lang, id: m.id, agentName: m.agent_name, urgent });
    }
    // the request's status link, live or when the chat is replayed after a reload
    if (m.custom && ["ticket_created", "ticket_followed", "ticket_status"].includes(m.custom.event) && m.custom.ticket_id) this.onTicket(m.custom);
    if (this.typingSender === sender) this.setTyping(null, false);
    if (sender === "bot") this.formActive = m.form_active === true;
    else if (sender === "agent") this.formActive = false;
    this.setQuickReplies(Array.isArray(m.quick_replies) ? m.quick_replies : []);
    const lastRead = storage.get(K.lastRead);
    const unread = isNew && (!m.id || !lastRead || cmpId(m.id, lastRead) > 0);
    if (!this.isOpen() && unread) {
      this.unread += 1;
      this.updateLauncher();
      if (el) this.announce(el);
    } else if (this.isOpen()) {
      if (el && unread) this.announce(el);
      this.markRead();
    }
  }

  // A new message, said once to screen readers (the history replayed on a reload is not read out again).
  announce(el) {
    const urgent = el.classList.contains("c311-msg--urgent");
    const said = h("p", { lang: el.getAttribute("lang"), text: `${this.t("said", { who: el.c311.who })} ${el.c311.text || this.t("imageAlt")}` });
    (urgent ? this.urgentEl : this.spokenEl).append(said);
    setTimeout(() => said.remove(), 15000);  // gone once read: the transcript holds it
  }

  onResidentUttered(m) {
    if (m.id && this.seen.has(m.id)) return;
    const cmid = m.client_msg_id;
    this.track(m.id);
    const mine = cmid && this.bubbleFor(cmid);
    if (mine) {
      this.delivered(cmid, m.id);
      // the server read the words: the first Spanish message of a widget in English was marked English
      if (LANGS.includes(m.lang)) mine.setAttribute("lang", m.lang);
      return;
    }
    this.renderResident({ text: this.displayFor(cmid, m.text || ""), attachment: m.attachment, ts: m.ts, id: m.id, cmid, lang: m.lang });
    this.setQuickReplies([]);
  }

  onAgentJoined(d) {
    this.agentName = d.name || this.t("agent");
    this.updateSubtitle();
    this.setLine(this.queueLine, "");
    this.setLine(this.agentLine, this.t("agentJoined", { name: this.agentName }));  // shown; the transcript says it
  }

  onQueue(d) {
    const secs = Number(d.estimated_wait_s);
    const wait = !isFinite(secs) || secs < 60 ? this.t("queueSoon") : this.t("queueMinutes", { n: Math.round(secs / 60) });
    this.setLine(this.queueLine, this.t("queue", { position: d.position ?? "?", wait }));
    if (this.agentName) {  // back in line (the agent left or sent the chat back): nobody is chatting with them now
      this.agentName = null;
      this.updateSubtitle();
      this.setLine(this.agentLine, "");
    }
  }

  onTicket(d) {
    const url = d.status_url && safeUrl(d.status_url, this.cfg.server);
    const link = url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: this.t("ticketLink") }) : null;
    this.setLine(this.ticketLine, this.t("ticket", { id: d.ticket_id || "" }), link);
  }

  onClosed(reason) {
    if (this.closed) return;  // "End chat" shows it at once; the server's word that follows says nothing new
    this.setLine(this.queueLine, "");
    this.setLine(this.agentLine, "");
    if (reason !== "agent_closed") this.notice("closed");  // the agent's goodbye is in the transcript
    this.forgetSession();
    this.showEnd(this.csatSent === this.sessionId);
  }

  // A shared computer: once a chat has ended, the next person to open the page must not be able to
  // replay it. This tab keeps the session in memory only (for the rating form); storage forgets it.
  forgetSession() {
    for (const key of [K.session, K.lastId, K.lastRead, K.labels, K.outbox, K.csatDone]) storage.set(key, null);
  }

  onServerError(d) {
    if (d.code === "wrong_session") {
      this.sessionId = null;
      storage.set(K.session, null);
      this.resetConversation({ keepOutbox: true });
      if (this.connected) this.requestSession();
      return;
    }
    // A refusal that is sent again later is said on the message itself ("Sending again in a moment…"): as a
    // notice it stayed on screen after every message had gone out (probe W).
    if (SEND_LATER.includes(d.code) && this.inflight) return;
    this.setLine(this.noticeLine, STRINGS[this.lang][d.code] ? this.t(d.code) : d.message || this.t("error"));
  }

  setTyping(sender, on) {
    clearTimeout(this.typingTimer);
    this.typingSender = on ? sender : null;
    this.typingEl.hidden = !on;
    if (!on) return;
    const text = sender === "agent" && this.agentName ? this.t("typingAgent", { name: this.agentName }) : this.t("typingBot");
    this.typingEl.querySelector(".c311-typing-text").textContent = text;
    this.typingTimer = setTimeout(() => this.setTyping(null, false), 20000);
  }

  setQuickReplies(list) {
    this.quickList = list;
    this.quick.replaceChildren();
    const buttons = list.filter((q) => q && (q.title || q.payload));
    for (const q of buttons) {
      const title = String(q.title || q.payload);
      const payload = String(q.payload || q.title);
      this.quick.append(
        h("button", {
          type: "button",
          class: "c311-qr",
          text: title,
          onclick: () => {
            this.send(payload, { display: title });
            this.input.focus();
          },
        }),
      );
    }
    this.quick.hidden = !buttons.length;
    if (buttons.length) this.showQuestion();
  }

  // The buttons take room from the log: keep the bot's question they answer on screen (its first line
  // at the top of the log when it is taller than what is left, else the end of the log).
  showQuestion() {
    const bots = this.log.querySelectorAll(".c311-msg:not(.c311-msg--resident)");
    const question = bots[bots.length - 1];
    if (!question) return;
    const above = question.getBoundingClientRect().top - this.log.getBoundingClientRect().top;
    const tall = question.offsetHeight > this.log.clientHeight - 16;
    if (tall || above < 0) this.log.scrollTop += above - 8;
    else this.scrollDown();
  }

  // ---------- rendering ----------
  senderName(sender, agentName) {
    if (sender === "resident") return this.t("you");
    if (sender === "agent") return agentName || this.agentName || this.t("agent");
    if (sender === "system") return this.t("system");
    return this.t("bot");
  }

  renderMessage({ sender, text, attachment, ts, lang, id, cmid, agentName, pending, urgent }) {
    const date = toDate(ts);
    const el = h("div", { class: `c311-msg c311-msg--${sender}${urgent ? " c311-msg--urgent" : ""}`, "data-id": id, "data-cmid": cmid, lang: LANGS.includes(lang) ? lang : null });
    el.append(h("span", { class: sender === "agent" ? "c311-name" : "c311-sr" }));
    const bubble = h("div", { class: "c311-bubble" });
    if (text) appendLinkified(bubble, text);
    let url = null;
    if (attachment && attachment.url) {
      url = safeUrl(sender === "resident" ? ownMedia(attachment.url, this.cfg.server) : attachment.url, this.cfg.server);
      if (url && (attachment.type === "image" || !attachment.type)) {
        bubble.append(h("img", { class: "c311-img", src: url, alt: sender === "resident" ? this.t("photoAlt") : this.t("imageAlt"), loading: "lazy" }));
      } else if (url) {
        bubble.append(h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: url }));
      }
    }
    el.append(bubble);
    const time = h("time", { datetime: date.toISOString(), text: date.toLocaleTimeString(LOCALES[this.lang], { hour: "numeric", minute: "2-digit" }) });
    el.append(h("div", { class: "c311-meta" }, time, pending ? h("span", { class: "c311-state" }) : null));
    el.c311 = { text, date, url, sender, agentName: agentName || this.agentName };
    this.labelMessage(el);
    if (pending) el.classList.add("c311-pending");
    this.log.append(el);
    this.log.classList.add("c311-has-msgs");
    this.refreshPendingStates();
    this.scrollDown();
    return el;
  }

  renderResident(m) {
    return this.renderMessage({ ...m, sender: "resident" });
  }

  displayFor(cmid, text) {
    if (cmid && this.labels[cmid]) return this.labels[cmid];
    if (/^\/share_location\b/.test(text)) return this.t("locationShared");
    return text;
  }

  bubbleFor(cmid) {
    return [...this.log.querySelectorAll(".c311-msg--resident")].find((el) => el.dataset.cmid === cmid) || null;
  }

  refreshPendingStates() {
    if (!this.log) return;
    for (const el of this.log.querySelectorAll(".c311-pending .c311-state")) {
      el.textContent = this.connected ? this.t("sending") : this.t("queued");
    }
  }

  // ---------- outgoing ----------
  send(message, { display, attachment } = {}) {
    // After the end a message starts a new chat; the ended one stays on screen in this tab only (it is not
    // stored: the next person at a shared computer never sees it).
    if (this.closed) this.newChat({ keepLog: true });
    const cmid = uuid();
    const item = { message, cmid, lang: this.lang };
    if (attachment) item.attachment = attachment;
    if (display && display !== message) {
      this.labels[cmid] = display;
      const keys = Object.keys(this.labels);
      if (keys.length > 300) for (const k of keys.slice(0, keys.length - 300)) delete this.labels[k];
      storage.set(K.labels, JSON.stringify(this.labels));
    }
    this.renderResident({ text: display || message, cmid, attachment, lang: this.lang, pending: true });
    this.notice(null);  // an earlier problem's notice is history once the resident goes on
    item.quick = this.quickList || [];  // given back if the server refuses the message
    this.setQuickReplies([]);
    this.outbox.push(item);
    this.saveOutbox();
    this.connect();
    this.flush();
  }

  saveOutbox() {
    storage.set(K.outbox, this.outbox.length ? JSON.stringify(this.outbox) : null);
  }

  flush() {
    if (!this.socket || !this.connected || !this.confirmed || this.inflight || !this.outbox.length) return;
    if (Date.now() < this.resumeAt) return;  // waiting out a "too quickly": a new message must not resend early
    const item = this.outbox[0];
    const token = {};
    this.inflight = token;
    const metadata = { language: item.lang, client_msg_id: item.cmid };
    if (item.attachment) metadata.attachment = item.attachment;
    this.socket.timeout(ACK_TIMEOUT_MS).emit("user_uttered", { message: item.message, session_id: this.sessionId, metadata }, (err, res) => {
      if (this.inflight !== token) return; // superseded by a reconnect
      this.inflight = null;
      if (err) {
        setTimeout(() => this.flush(), 1000); // no ack: resend (server dedupes by client_msg_id)
        return;
      }
      const code = res && res.error && res.error.code;
      if (res && res.ok) {
        this.delivered(item.cmid, res.id);
      } else if (SEND_LATER.includes(code) && (item.tries || 0) < SEND_LATER_TRIES) {
        // Sent too quickly, or earlier messages still in hand: sent again shortly, in order, instead of "Not sent"
        // and retyped (probe V). The server takes a client_msg_id once.
        item.tries = (item.tries || 0) + 1;
        this.saveOutbox();
        const state = this.bubbleFor(item.cmid)?.querySelector(".c311-state");
        if (state) state.textContent = this.t("sendingSoon");
        this.resumeAt = Date.now() + SEND_LATER_MS * item.tries;
        setTimeout(() => this.flush(), SEND_LATER_MS * item.tries);
        return;
      } else {
        this.failed(item, (res && res.error) || {});
      }
      this.flush();
    });
  }

  delivered(cmid, id) {
    this.outbox = this.outbox.filter((i) => i.cmid !== cmid);
    this.saveOutbox();
    const el = this.bubbleFor(cmid);
    if (el) {
      el.classList.remove("c311-pending");
      el.querySelector(".c311-state")?.remove();
      if (id) el.dataset.id = id;
    }
    this.track(id);
  }

  failed({ cmid, message, quick }, error) {
    this.outbox = this.outbox.filter((i) => i.cmid !== cmid);
    this.saveOutbox();
    const el = this.bubbleFor(cmid);
    const reason = STRINGS[this.lang][error.code] ? this.t(error.code) : error.message || this.t("error");
    if (el) {
      el.classList.remove("c311-pending");
      el.classList.add("c311-failed");
      const state = el.querySelector(".c311-state") || el.querySelector(".c311-meta").appendChild(h("span", { class: "c311-state" }));
      state.textContent = this.t("failed", { reason });
    }
    this.setLine(this.noticeLine, reason);
    // a message refused for its length goes back to the box to be shortened, not retyped
    if (error.code === "too_long" && !this.input.value) this.input.value = message;
    // the question the refused message answered is still open: its buttons come back
    if (quick && quick.length && !this.quick.childElementCount) this.setQuickReplies(quick);
  }

  async onFile() {
    const file = this.fileInput.files && this.fileInput.files[0];
    this.fileInput.value = "";
    if (!file) return;
    if (!PHOTO_TYPES.includes(file.type)) return this.notice("photoType");
    if (file.size > MAX_PHOTO_BYTES) return this.notice("photoTooBig");
    if (!this.sessionId) return this.notice("error");
    this.notice("uploading");
    const form = new FormData();
    form.append("session_id", this.sessionId);
    form.append("file", file, file.name || "photo");
    try {
      const resp = await fetch(`${this.cfg.server}/api/media`, { method: "POST", body: form });
      const data = await resp.json().catch(() => ({}));
      if (!resp.ok || !data.media_url) {
        // The upload API answers in English; the resident reads the widget's own words.
        return this.notice(UPLOAD_ERRORS[data && data.error && data.error.code] || "uploadFailed");
      }
      this.notice(null);
      this.send("📷", { attachment: { type: "image", url: data.media_url } });
    } catch {
      this.notice("uploadFailed");
    }
  }

  shareLocation() {
    if (!navigator.geolocation) return this.notice("locationFailed");
    this.notice("locating");
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        this.notice(null);
        const lat = Math.round(pos.coords.latitude * 1e6) / 1e6;
        const long = Math.round(pos.coords.longitude * 1e6) / 1e6;
        this.send(`/share_location${JSON.stringify({ lat, long })}`, { display: this.t("locationShared") });
      },
      () => this.notice("locationFailed"),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
    );
  }

  endChat() {
    if (this.closed) return;
    if (this.formActive && !window.confirm(this.t("endChatDiscards"))) return;
    if (this.socket && this.connected && this.sessionId) {
      this.socket.timeout(ACK_TIMEOUT_MS).emit("end_chat", { session_id: this.sessionId }, () => {});
    }
    this.onClosed();
  }

  // The rating form comes above the message box, which stays: "write a message if you need anything else"
  // (the agent's goodbye) starts a new chat below the ended one (no photo: it would go to the ended chat).
  showEnd(csatDone) {
    const hadFocus = this.composer.contains(document.activeElement) || this.endBtn === document.activeElement;
    this.closed = true;
    this.attachBtn.hidden = true;
    this.endBtn.hidden = true;
    this.setQuickReplies([]);
    this.setTyping(null, false);
    this.endArea.hidden = false;
    this.csatForm.hidden = csatDone;
    this.csatThanks.hidden = !csatDone;
    this.updateSubtitle();
    // The end of the chat stays in view above the rating form.
    this.scrollDown();
    if (hadFocus) (csatDone ? this.newChatBtn : this.csatForm.querySelector("input"))?.focus({ preventScroll: true });
  }

  csatMissing(on) {
    this.csatError.hidden = !on;
    for (const radio of this.csatForm.querySelectorAll("input[type=radio]")) {
      for (const [attr, value] of [["aria-invalid", "true"], ["aria-describedby", this.csatError.id]]) {
        if (on) radio.setAttribute(attr, value);
        else radio.removeAttribute(attr);
      }
    }
  }

  onCsat(e) {
    e.preventDefault();
    const checked = this.csatForm.querySelector("input[type=radio]:checked");
    if (!checked) {
      this.csatMissing(true);
      this.csatForm.querySelector("input[type=radio]").focus();
      return;
    }
    const payload = { session_id: this.sessionId, rating: Number(checked.value), comment: this.csatComment.value.trim() };
    const done = () => {
      this.csatSent = this.sessionId;
      this.csatForm.hidden = true;
      this.csatThanks.hidden = false;
      this.notice("csatThanks");
      this.newChatBtn.focus();
    };
    if (!this.socket || !this.connected) return this.notice("offline");
    this.socket.timeout(ACK_TIMEOUT_MS).emit("csat", payload, (err, res) => {
      // rated already (an ack lost on the way, then sent again): it counts once, and it was counted
      if (res && res.error && res.error.code === "already_rated") done();
      else if (err || !res || res.ok === false) this.setLine(this.noticeLine, (res && res.error && res.error.message) || this.t("error"));
      else done();
    });
  }

  newChat({ keepLog = false } = {}) {
    this.sessionId = null;
    storage.set(K.session, null);
    storage.set(K.lastId, null);
    storage.set(K.labels, null);
    this.labels = {};
    this.resetConversation({ keepOutbox: false, keepLog });
    if (this.connected) this.requestSession();
    else this.connect();
    this.input.focus();
  }

  downloadTranscript() {
    const lines = [this.t("transcriptTitle"), new Date().toLocaleString(LOCALES[this.lang]), ""];
    for (const el of this.log.querySelectorAll(".c311-msg")) {
      const m = el.c311;
      if (!m) continue;
      const stamp = m.date.toLocaleString(LOCALES[this.lang], { dateStyle: "short", timeStyle: "short" });
      lines.push(`[${stamp}] ${m.who}: ${m.text}${m.url ? ` ${m.url}` : ""}`);
    }
    if (this.ticketLine.textContent) lines.push("", this.ticketLine.textContent);
    const blob = new Blob([lines.join("\n") + "\n"], { type: "text/plain;charset=utf-8" });
    const href = URL.createObjectURL(blob);
    const a = h("a", { href, download: `chat311-transcript-${new Date().toISOString().slice(0, 10)}.txt`, class: "c311-sr" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 10000);
  }
}

function start() {
  if (window.Chat311 && window.Chat311.widget) return;
  const widget = new Widget(readConfig(SCRIPT));
  window.Chat311 = { widget, open: () => widget.open(), close: () => widget.close() };
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
