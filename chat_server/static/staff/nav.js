// The staff navigation bar, the same on every staff page: who is signed in, their role, and links
// to the pages that role may open (the list comes from the server: chat_server/metrics/staff.py).
// A page includes <nav id="staff-nav" aria-label="Staff pages"></nav> and this one script. A page that
// also includes i18n.js (before this script) is translated: the bar's words follow its language and
// the bar carries the language switch.
"use strict";
(function () {
  const ROLE_WORDS = { agent: "agent", supervisor: "supervisor", content: "content editor", admin: "administrator" };
  const i18n = window.C311I18n || null;

  // The translated word when the page is translated and the copy has it, else the English one.
  function word(key, english, params) {
    return i18n && i18n.has(key) ? i18n.t(key, params) : english;
  }

  function addStyles() {
    if (document.querySelector("link[data-staff-nav]")) return;
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = "/static/staff/nav.css";
    link.dataset.staffNav = "";
    document.head.appendChild(link);
  }

  function current(pages) {
    // The longest page address the current path starts with (/console is a prefix of the others).
    const path = location.pathname.replace(/\/$/, "") || "/";
    let best = null;
    for (const p of pages) {
      if ((path === p.href || path.startsWith(p.href + "/")) && (!best || p.href.length > best.href.length)) best = p;
    }
    return best;
  }

  function render(nav, me) {
    const list = document.createElement("ul");
    list.className = "staff-nav-links";
    const here = current(me.pages);
    for (const p of me.pages) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = p.href;
      a.dataset.key = p.key;
      a.dataset.label = p.label;
      if (here && here.key === p.key) a.setAttribute("aria-current", "page");
      li.appendChild(a);
      list.appendChild(li);
    }
    const who = document.createElement("span");
    who.className = "staff-nav-who";
    who.id = "who";  // the id the staff pages and their tests used for their own "who" line
    const end = document.createElement("div");
    end.className = "staff-nav-end";
    end.appendChild(who);
    if (i18n) end.appendChild(i18n.switcher());
    // Every staff page can sign out (a shared workstation stayed signed in for the session's 12 hours); the agent
    // console has its own form, which first hands the agent's chats back to the queue.
    if (!document.querySelector("form.logout")) end.appendChild(logoutForm(me));
    nav.replaceChildren(list, end);
    label(nav, me);
    nav.dataset.ready = "1";
  }

  function logoutForm(me) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = "/console/logout";
    form.className = "staff-nav-logout";
    const csrf = document.createElement("input");
    csrf.type = "hidden";
    csrf.name = "csrf";
    csrf.value = me.csrf;
    const button = document.createElement("button");
    button.type = "submit";
    form.append(csrf, button);
    return form;
  }

  // The bar's words; again in place when the language changes (the switch keeps the keyboard focus).
  function label(nav, me) {
    for (const a of nav.querySelectorAll(".staff-nav-links a")) {
      a.textContent = word("nav.page." + a.dataset.key, a.dataset.label);
    }
    const roles = me.roles.map(r => word("nav.role." + r, ROLE_WORDS[r] || r)).join(", ");
    nav.querySelector(".staff-nav-who").textContent =
      word("nav.signed_in_as", `Signed in as ${me.name} (${roles})`, { name: me.name, roles });
    nav.setAttribute("aria-label", word("nav.label", "Staff pages"));
    const logout = nav.querySelector(".staff-nav-logout button");
    if (logout) logout.textContent = word("nav.logout", "Log out");
  }

  async function start() {
    const nav = document.getElementById("staff-nav");
    if (!nav) return;
    addStyles();
    nav.classList.add("staff-nav");
    try {
      const r = await fetch("/console/staff/api/me", { credentials: "same-origin" });
      if (!r.ok) { nav.dataset.ready = "signed-out"; return; }  // the page itself sends people to log in
      const me = await r.json();
      if (i18n) {
        await i18n.ready;
        window.addEventListener("c311:language", () => label(nav, me));
      }
      render(nav, me);
    } catch (e) { nav.dataset.ready = "error"; }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
