// The one fetch helper of the staff pages: JSON in and out, the session's CSRF token on every
// change, a signed-out user sent to the console login (back to this page afterwards) unless a change
// was refused or the page has unsaved edits (`C311Api.keepPage`; then the page stays, with what was typed,
// and says to sign in again elsewhere), and the
// server's {"error": {code, message, field}} turned into an Error whose message is readable.
"use strict";
window.C311Api = function (base) {
  async function call(path, method, body, retried) {
    const init = { method: method || "GET", credentials: "same-origin", headers: {} };
    if (method && method !== "GET") {
      init.headers["X-CSRF-Token"] = call.csrf;
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    const r = await fetch(base + path, init);
    if (r.status === 403 && init.method !== "GET" && !retried) {
      // Signed in again in another tab (as the "session ended" message says), the page still held the old
      // session's token: every change was refused until a reload, which threw the edit away (probe AA). Take the
      // new session's token and try once more.
      const refusal = await r.clone().json().catch(() => ({}));
      if (refusal.error && refusal.error.code === "csrf") {
        const me = await fetch(base + "/me", { credentials: "same-origin" });
        if (me.ok) {
          call.csrf = (await me.json()).csrf || call.csrf;
          return call(path, method, body, true);
        }
      }
    }
    // A page refreshed in the background (the article list after a publish) while an edit is unsaved stays too:
    // that refresh, answered 401 after the session ended, took the content page to the login with the edit.
    const keep = typeof window.C311Api.keepPage === "function" && window.C311Api.keepPage();
    if (r.status === 401 && (init.method !== "GET" || keep)) {
      // A change refused because the session ended: leaving the page now would throw the edit away.
      const i18n = window.C311I18n;
      const err = new Error(i18n && i18n.has("nav.session_ended") ? i18n.t("nav.session_ended")
        : "Your session ended. Sign in again in another tab (/console/login), then try again: your edits are still here.");
      err.info = {};
      err.status = 401;
      throw err;
    }
    if (r.status === 401) {
      location.href = "/console/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new Error("login");
    }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error((data.error && data.error.message) || `HTTP ${r.status}`);
      err.info = data.error || {};
      err.field = err.info.field;
      err.status = r.status;
      throw err;
    }
    return data;
  }
  call.csrf = "";  // set from the page's /me answer
  return call;
};
