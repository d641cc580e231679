// The staff pages' language: the switch in the staff bar (saved in this browser), else the browser's
// own languages (the first of English or Spanish it lists), else English. The copy comes from the
// server (/staff/texts.json, edited in chat_server/staff_texts.yml). Markup marks what to fill:
//   data-i18n="key"                          the element's text
//   data-i18n-attr="aria-label:key; placeholder:key2"   attributes
// and scripts call C311I18n.t(key, {name: value}) and its Intl formatters (number, percent, duration,
// dateTime, timeOfDay, day) so figures follow the language too. A page that includes this script before nav.js
// gets the language switch in its staff bar; pages without it stay English.
"use strict";
(function () {
  const STORAGE_KEY = "c311.staff.lang";
  const LANGUAGES = { en: "English", es: "Español" };  // each named in its own language
  const root = document.documentElement;
  let texts = {};

  function saved() {
    try { return localStorage.getItem(STORAGE_KEY); } catch (e) { return null; }
  }

  function fromBrowser() {
    const list = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    for (const tag of list) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (base in LANGUAGES) return base;
    }
    return "en";
  }

  let lang = saved() in LANGUAGES ? saved() : fromBrowser();
  root.lang = lang;

  function has(key) { return Object.prototype.hasOwnProperty.call(texts, key); }

  // The text in the page's language with {name} placeholders filled; the key itself if the copy is missing.
  function t(key, params) {
    const entry = texts[key];
    const text = entry ? (entry[lang] || entry.en) : key;
    if (!params) return text;
    return text.replace(/\{([a-z][a-z0-9_]*)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }

  // Numbers, shares, durations, dates and times in the page's language (Intl), "—" for a missing value.
  function number(v, opts) { return v == null ? "—" : new Intl.NumberFormat(lang, opts).format(v); }
  function percent(v) { return number(v, { style: "percent", maximumFractionDigits: 1 }); }
  function unit(v, name, pad) {
    return number(v, { style: "unit", unit: name, unitDisplay: "narrow", minimumIntegerDigits: pad ? 2 : 1 });
  }
  // Seconds as the two largest units: 45 s, 3 m 05 s, 2 h 10 m, 3 d 4 h (letters per language).
  function duration(seconds) {
    if (seconds == null) return "—";
    const v = Math.round(seconds);
    if (v < 60) return unit(v, "second");
    const m = Math.floor(v / 60), s = v % 60;
    if (m < 60) return `${unit(m, "minute")} ${unit(s, "second", true)}`;
    const h = Math.floor(m / 60);
    return h < 48 ? `${unit(h, "hour")} ${unit(m % 60, "minute")}` : `${unit(Math.floor(h / 24), "day")} ${unit(h % 24, "hour")}`;
  }
  function dateTime(ts) { return ts ? new Date(ts * 1000).toLocaleString(lang) : ""; }
  function timeOfDay(ts) { return ts ? new Date(ts * 1000).toLocaleTimeString(lang) : ""; }
  // A calendar day "YYYY-MM-DD" (no time zone shift) written the page's way.
  function day(iso) {
    const [y, mo, d] = String(iso).split("-").map(Number);
    return y && mo && d ? new Date(y, mo - 1, d).toLocaleDateString(lang) : String(iso);
  }

  function apply(scope) {
    const base = scope || document;
    base.querySelectorAll("[data-i18n]").forEach((node) => {
      if (has(node.dataset.i18n)) node.textContent = t(node.dataset.i18n);
    });
    base.querySelectorAll("[data-i18n-attr]").forEach((node) => {
      for (const pair of node.dataset.i18nAttr.split(";")) {
        const [attr, key] = pair.split(":").map((s) => s.trim());
        if (attr && key && has(key)) node.setAttribute(attr, t(key));
      }
    });
  }

  // Saves the choice, relabels the marked elements and tells the page's own script ("c311:language").
  function setLang(next) {
    if (!(next in LANGUAGES)) return;
    lang = next;
    try { localStorage.setItem(STORAGE_KEY, next); } catch (e) { /* private mode: this page only */ }
    root.lang = next;
    apply();
    document.querySelectorAll("select.staff-lang-select").forEach((s) => { s.value = next; });
    window.dispatchEvent(new CustomEvent("c311:language", { detail: { lang: next } }));
  }

  // The switch: a labelled select, options named in their own language.
  function switcher() {
    const label = document.createElement("label");
    label.className = "staff-lang";
    const words = document.createElement("span");
    words.dataset.i18n = "nav.language";
    words.textContent = t("nav.language");
    const select = document.createElement("select");
    select.className = "staff-lang-select";
    for (const [code, name] of Object.entries(LANGUAGES)) {
      const option = document.createElement("option");
      option.value = code;
      option.lang = code;
      option.textContent = name;
      select.appendChild(option);
    }
    select.value = lang;
    select.addEventListener("change", () => setLang(select.value));
    label.append(words, " ", select);
    return label;
  }

  const ready = fetch("/staff/texts.json", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status))))
    .then((data) => {
      texts = data.texts || {};
      apply();
      // A page without the staff bar (the sign-in page) marks where its switch goes.
      document.querySelectorAll("[data-staff-lang]").forEach((node) => node.replaceChildren(switcher()));
      root.dataset.i18nState = "ready";
    })
    .catch(() => {  // the markup's English stays, and the page says so
      lang = "en";
      root.lang = "en";
      root.dataset.i18nState = "failed";
    });

  window.C311I18n = {
    t, has, apply, setLang, switcher, ready, number, percent, duration, dateTime, timeOfDay, day,
    get lang() { return lang; },
  };
})();
