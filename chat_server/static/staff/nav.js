// The staff navigation bar, the same on every staff page: who is signed in, their role, and links
// to the pages that role may open (the list comes from the server: chat_server/metrics/staff.py).
// A page includes <nav id="staff-nav" aria-label="Staff pages"></nav> and this one script.
"use strict";
(function () {
  const ROLE_WORDS = { agent: "agent", supervisor: "supervisor", content: "content editor", admin: "administrator" };

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
      a.textContent = p.label;
      if (here && here.key === p.key) a.setAttribute("aria-current", "page");
      li.appendChild(a);
      list.appendChild(li);
    }
    const who = document.createElement("span");
    who.className = "staff-nav-who";
    who.id = "who";  // the id the staff pages and their tests used for their own "who" line
    const roles = me.roles.map(r => ROLE_WORDS[r] || r).join(", ");
    who.textContent = `Signed in as ${me.name} (${roles})`;
    nav.replaceChildren(list, who);
    nav.dataset.ready = "1";
  }

  async function start() {
    const nav = document.getElementById("staff-nav");
    if (!nav) return;
    addStyles();
    nav.classList.add("staff-nav");
    try {
      const r = await fetch("/console/staff/api/me", { credentials: "same-origin" });
      if (!r.ok) { nav.dataset.ready = "signed-out"; return; }  // the page itself sends people to log in
      render(nav, await r.json());
    } catch (e) { nav.dataset.ready = "error"; }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
