// Small DOM and data helpers. Nothing here ever parses strings as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS = {
  chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
  close: "M6 6l12 12M18 6L6 18",
  send: "M3 20l18-8L3 4v6l12 2-12 2z",
  camera: "M4 7h3l2-3h6l2 3h3a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1zm8 3a4 4 0 1 0 0 8 4 4 0 0 0 0-8z",
  pin: "M12 2a7 7 0 0 0-7 7c0 5 7 13 7 13s7-8 7-13a7 7 0 0 0-7-7zm0 4a3 3 0 1 1 0 6 3 3 0 0 1 0-6z",
  download: "M12 3v12m-5-5l5 5 5-5M4 20h16",
};

export function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", `c311-icon c311-icon-${name}`);
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

// Appends `text` to `parent` as text nodes, turning http(s) URLs into safe links.
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
export function appendLinkified(parent, text) {
  let last = 0;
  for (const m of String(text).matchAll(URL_RE)) {
    let url = m[0];
    // Trailing punctuation is almost always sentence punctuation, not part of the URL.
    const trail = url.match(/[.,;:!?)\]}'"]+$/);
    if (trail) url = url.slice(0, -trail[0].length);
    const safe = safeUrl(url);
    if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
    if (safe) {
      parent.append(h("a", { href: safe, target: "_blank", rel: "noopener noreferrer", text: url }));
    } else {
      parent.append(document.createTextNode(url));
    }
    last = m.index + url.length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

// Returns an absolute http(s) URL string, or null for anything else (javascript:, data:, ...).
export function safeUrl(url, base) {
  try {
    const u = new URL(String(url), base || window.location.href);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

// A resident's photo is stored under the server's configured public URL, which may name another host
// than the one this page reached the server by (localhost vs 127.0.0.1, a proxy): shown from the
// server the widget talks to, the page's CSP and the browser both accept it.
export function ownMedia(url, server) {
  try {
    const u = new URL(String(url), server);
    return /^\/media\/[\w-]+\.(?:jpe?g|png|webp)$/.test(u.pathname) ? new URL(u.pathname, server).href : url;
  } catch {
    return url;
  }
}

export function uuid() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((n) => n.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

// Compares Redis stream ids ("<ms>-<seq>"); falls back to string order for other shapes.
export function cmpId(a, b) {
  const pa = /^(\d+)-(\d+)$/.exec(String(a));
  const pb = /^(\d+)-(\d+)$/.exec(String(b));
  if (pa && pb) {
    const d = BigInt(pa[1]) - BigInt(pb[1]) || BigInt(pa[2]) - BigInt(pb[2]);
    return d > 0n ? 1 : d < 0n ? -1 : 0;
  }
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

// Relative luminance contrast helpers, used to pick readable text on the brand colour.
function lum(hex) {
  const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(hex || "");
  if (!m) return null;
  let s = m[1];
  if (s.length === 3) s = [...s].map((c) => c + c).join("");
  const rgb = [0, 2, 4].map((i) => parseInt(s.slice(i, i + 2), 16) / 255);
  const lin = rgb.map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}

export function contrast(a, b) {
  const la = lum(a);
  const lb = lum(b);
  if (la == null || lb == null) return 0;
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

// A brand colour is used for buttons with white text and as link/outline colour on white;
// if it cannot reach 4.5:1 against white, fall back to the default.
export function accessibleColor(color, fallback) {
  return contrast(color, "#ffffff") >= 4.5 ? color : fallback;
}

export function toDate(ts) {
  if (ts == null || ts === "") return new Date();
  if (typeof ts === "number" || /^\d+(\.\d+)?$/.test(ts)) {
    const n = Number(ts);
    return new Date(n < 1e12 ? n * 1000 : n);
  }
  const d = new Date(ts);
  return isNaN(d) ? new Date() : d;
}

export const storage = {
  get(k) {
    try {
      return window.localStorage.getItem(k);
    } catch {
      return null;
    }
  },
  set(k, v) {
    try {
      if (v == null) window.localStorage.removeItem(k);
      else window.localStorage.setItem(k, v);
    } catch {
      /* storage disabled: the widget still works for this page view */
    }
  },
};
