/* hearth capture UI, part 1: API access with the Bearer token, login, hash routing, the
   search form and result table, and the live feed (/api/live, server-sent events read
   through fetch so the token travels in a header). ladder.js draws a call, stats.js the
   statistics. Plain DOM; every value from the API is inserted as text, never as HTML. */
"use strict";

const capture = (() => {
  const TOKEN_KEY = "hearth-capture-token";
  const LIVE_MAX_ROWS = 200;   /* rows kept in the live table */
  const LIVE_RETRY_MS = 3000;  /* reconnect delay of the live feed */
  const SSE_MAX_BUFFER = 1 << 20; /* an event larger than this drops the connection */
  const LIVE_POLL_MS = 3000;   /* live rows without a final answer are re-read this often */
  const LIVE_POLL_ROWS = 10;   /* ... at most this many per round */
  const LIVE_POLL_FOR_MS = 600000; /* ... for this long after they appeared */
  const $ = (id) => document.getElementById(id);
  const st = { token: localStorage.getItem(TOKEN_KEY) || "", offset: 0, total: 0, query: null,
               live: null, livePaused: false, liveCount: 0, views: {} };

  /* h("td", {class: "x"}, "text", node, [more]) builds an element; strings become text. */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  const SVGNS = "http://www.w3.org/2000/svg";
  /* The same for SVG elements. */
  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v);
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  class AuthError extends Error {}

  /* fetch with the token; a 401 sends the user back to the login form. */
  async function request(path, opts) {
    const o = Object.assign({ cache: "no-store" }, opts || {});
    o.headers = Object.assign({ Accept: "application/json" }, o.headers || {});
    if (st.token) o.headers.Authorization = "Bearer " + st.token;
    const res = await fetch(path, o);
    if (res.status === 401) {
      logout("Your session has expired; sign in again.");
      throw new AuthError("unauthorized");
    }
    if (!res.ok) {
      let why = "";
      try { const b = await res.json(); why = b.error || b.message || ""; } catch (e) { /* not JSON */ }
      throw new Error(path.split("?")[0] + ": HTTP " + res.status + (why ? " (" + why + ")" : ""));
    }
    return res;
  }

  async function api(path) {
    return (await request(path)).json();
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
    return q.toString();
  }

  /* Saves a download that needs the Authorization header. */
  async function download(path, name) {
    try {
      const blob = await (await request(path, { headers: { Accept: "*/*" } })).blob();
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      problem(e);
    }
  }

  function problem(e) {
    if (e instanceof AuthError) return;
    const p = $("problem");
    if (!e) { p.hidden = true; return; }
    p.textContent = String(e.message || e);
    p.hidden = false;
  }

  /* ---- formatting ---- */
  const pad = (n, w) => String(n).padStart(w || 2, "0");
  function parts(d) {
    return $("utc").checked
      ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
      : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  }
  /* "2026-11-23 03:41:07.123" from milliseconds since the epoch. */
  function fmtTime(ms, withDate) {
    if (ms === null || ms === undefined || !isFinite(ms)) return "";
    const d = new Date(ms), p = parts(d);
    const t = pad(p[3]) + ":" + pad(p[4]) + ":" + pad(p[5]) + "." + pad(Math.floor(ms % 1000), 3);
    return withDate === false ? t : p[0] + "-" + pad(p[1]) + "-" + pad(p[2]) + " " + t;
  }
  function fmtDuration(ms) {
    if (ms === null || ms === undefined || !isFinite(ms) || ms < 0) return "";
    if (ms < 1000) return Math.round(ms) + " ms";
    const sec = ms / 1000;
    if (sec < 60) return sec.toFixed(sec < 10 ? 2 : 1) + " s";
    const m = Math.floor(sec / 60), r = Math.floor(sec % 60);
    return m < 60 ? m + "m " + pad(r) + "s" : Math.floor(m / 60) + "h " + pad(m % 60) + "m";
  }
  /* Class of a SIP status for colour: ok / redir / busy / fail / prov. */
  function statusClass(code) {
    const c = parseInt(code, 10);
    if (!c) return "st-prov";
    if (c < 200) return "st-prov";
    if (c < 300) return "st-ok";
    if (c < 400) return "st-redir";
    if (c === 486 || c === 487 || c === 480 || c === 600 || c === 603) return "st-busy";
    return "st-fail";
  }
  /* The status cell: the final code, "new" for a call just announced live, "—" for a
     call that ended without a final answer. */
  function statusBadge(call, live) {
    const code = call.status;
    const text = code ? String(code) : live ? "new" : "—";
    return h("span", { class: "st " + statusClass(code), title: code ? "" : live ? "call setup in progress" : "no final answer" }, text);
  }
  /* Milliseconds: the API gives start/end in ms; tolerate seconds or µs. */
  function ms(v) {
    const n = Number(v);
    if (!v || !isFinite(n)) return null;
    if (n > 1e14) return n / 1000;
    if (n < 1e11) return n * 1000;
    return n;
  }
  function callDuration(c) {
    if (c.duration_ms !== undefined && c.duration_ms !== null) return c.duration_ms;
    const a = ms(c.start), b = ms(c.end);
    return a && b ? b - a : null;
  }

  /* ---- login ---- */
  async function login(ev) {
    ev.preventDefault();
    const err = $("login-error");
    err.hidden = true;
    try {
      const res = await fetch("api/auth/login", {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ username: $("login-user").value, password: $("login-pass").value }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok || !body.token) throw new Error(res.status === 401 ? "Wrong user or password." : "Sign-in failed: HTTP " + res.status);
      st.token = body.token;
      localStorage.setItem(TOKEN_KEY, st.token);
      $("login-pass").value = "";
      route();
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  }

  function logout(message) {
    st.token = "";
    localStorage.removeItem(TOKEN_KEY);
    stopLive();
    if (message) { const err = $("login-error"); err.textContent = message; err.hidden = false; }
    show("login");
  }

  /* ---- routing ---- */
  function show(name) {
    for (const v of ["login", "search", "call", "stats", "live"]) $("view-" + v).hidden = v !== name;
    $("nav").hidden = $("tools").hidden = name === "login";
    for (const v of ["search", "stats", "live"]) $("nav-" + v).classList.toggle("on", v === name || (v === "search" && name === "call"));
  }

  function route() {
    problem(null);
    if (!st.token) { show("login"); $("login-pass").focus(); return; }
    const hash = location.hash.replace(/^#\/?/, "");
    const [first, ...rest] = hash.split("/");
    const name = first.split("?")[0];
    if (name !== "live") stopLive();
    if (name === "call" && rest.length) {
      show("call");
      let id = rest.join("/");
      try { id = decodeURIComponent(id); } catch (e) { /* a literal '%' in the Call-ID */ }
      st.views.call(id);
    } else if (name === "stats") {
      show("stats");
      st.views.stats();
    } else if (name === "live") {
      show("live");
      startLive();
    } else {
      show("search");
      const qs = hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "";
      if (qs !== st.lastQs || !st.query) {
        st.lastQs = qs;
        fillForm(qs);
        search(0);
      }
    }
  }

  /* ---- search ---- */
  /* The form fields kept in the address bar (#/search?caller=...), with their defaults. */
  const FIELDS = { range: "3600000", from: "", to: "", caller: "", callee: "", callid: "", method: "",
                   status: "", ip: "", ua: "", limit: "50" };

  function formHash() {
    const f = $("search-form").elements, q = {};
    for (const [k, def] of Object.entries(FIELDS)) {
      if ((k === "from" || k === "to") && f.range.value !== "custom") continue;
      const v = f[k].value.trim();
      if (v !== def) q[k] = v;
    }
    const qs = query(q);
    return "#/search" + (qs ? "?" + qs : "");
  }

  function fillForm(qs) {
    const f = $("search-form").elements, p = new URLSearchParams(qs);
    for (const [k, def] of Object.entries(FIELDS)) f[k].value = p.get(k) ?? def;
    if (f.range.selectedIndex < 0) f.range.value = FIELDS.range;
    if (f.limit.selectedIndex < 0) f.limit.value = FIELDS.limit;
    customRange();
  }

  /* Search with the form: through the address bar so Back and links keep it. */
  function submitSearch() {
    const target = formHash();
    if (location.hash === target) search(0);
    else location.hash = target;
  }

  function customRange() {
    const custom = $("f-range").value === "custom";
    for (const el of document.querySelectorAll("#search-form .custom")) el.hidden = !custom;
    if (custom && !$("f-from").value) {
      $("f-to").value = toLocalInput(Date.now());
      $("f-from").value = toLocalInput(Date.now() - 3600000);
    }
  }

  function toLocalInput(msv) {
    const d = new Date(msv - new Date(msv).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 19);
  }

  function formQuery() {
    const f = $("search-form").elements;
    const q = {};
    if (f.range.value === "custom") {
      q.from = f.from.value ? new Date(f.from.value).getTime() : "";
      q.to = f.to.value ? new Date(f.to.value).getTime() : "";
    } else {
      q.to = Date.now();
      q.from = q.to - parseInt(f.range.value, 10);
    }
    for (const k of ["caller", "callee", "callid", "method", "status", "ip", "ua"]) q[k] = f[k].value.trim();
    q.limit = parseInt(f.limit.value, 10);
    return q;
  }

  async function search(offset) {
    st.query = formQuery();
    st.offset = offset;
    const q = Object.assign({}, st.query, { offset });
    const tbody = $("results").tBodies[0];
    $("result-count").textContent = "searching…";
    try {
      const t0 = performance.now();
      const body = await api("api/calls?" + query(q));
      const calls = Array.isArray(body.calls) ? body.calls : [];
      st.total = Number(body.total) || 0;
      $("nav-search").href = $("call-back").href = formHash();
      tbody.replaceChildren(...(calls.length ? calls.map(callRow)
        : [h("tr", { class: "empty" }, h("td", { colspan: 7 }, "No calls match in this time range."))]));
      const took = Math.round(performance.now() - t0);
      $("result-count").textContent = st.total + (st.total === 1 ? " call" : " calls") + " · " + took + " ms";
      const last = Math.min(offset + calls.length, st.total);
      $("page-info").textContent = calls.length ? (offset + 1) + "–" + last + " of " + st.total : "";
      $("page-prev").disabled = offset === 0;
      $("page-next").disabled = last >= st.total;
    } catch (e) {
      $("result-count").textContent = "";
      problem(e);
    }
  }

  function parties(c) {
    return h("span", { class: "parties" }, c.caller || "?", h("span", { class: "arrow" }, "→"), c.callee || "?");
  }

  function openCall(c) {
    location.hash = "#/call/" + encodeURIComponent(c.callid);
  }

  function callRow(c) {
    return h("tr", { "data-callid": c.callid, onclick: () => openCall(c), tabindex: 0,
                     onkeydown: (e) => { if (e.key === "Enter") openCall(c); } },
      h("td", { class: "time" }, fmtTime(ms(c.start))),
      h("td", {}, parties(c)),
      h("td", {}, statusBadge(c), c.method && c.method !== "INVITE" ? h("span", { class: "meth" }, c.method) : null),
      h("td", { class: "num" }, fmtDuration(callDuration(c))),
      h("td", { class: "num" }, c.messages),
      h("td", { class: "ua", title: c.ua || c.user_agent || "" }, c.ua || c.user_agent || ""),
      h("td", { class: "cid opt", title: c.callid }, c.callid));
  }

  /* ---- live feed ---- */
  function liveState(text, cls) {
    const el = $("live-state");
    el.textContent = text;
    el.className = "state " + (cls || "");
    $("live-dot").classList.toggle("up", cls === "up");
  }

  function addLive(c) {
    if (!c || !c.callid) return;
    st.liveCount++;
    $("live-count").textContent = st.liveCount + (st.liveCount === 1 ? " call" : " calls") + " since opened";
    if (st.livePaused) return;
    const tbody = $("live").tBodies[0];
    const old = liveRowOf(c.callid);
    const row = liveRow(c, Date.now(), "fresh");
    if (old) old.replaceWith(row);
    else tbody.prepend(row);
    const empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    while (tbody.rows.length > LIVE_MAX_ROWS) tbody.lastElementChild.remove();
  }

  function liveRowOf(callid) {
    return $("live").tBodies[0].querySelector('tr[data-callid="' + CSS.escape(callid) + '"]');
  }

  /* A live row; one without a final answer is marked pending and re-read by pollLive. */
  function liveRow(c, since, cls) {
    return h("tr", { class: cls, "data-callid": c.callid, "data-pending": c.status ? null : String(since),
                     onclick: () => openCall(c) },
      h("td", { class: "time" }, fmtTime(ms(c.start) || Date.now())),
      h("td", {}, parties(c)),
      h("td", {}, statusBadge(c, true)),
      h("td", { class: "num" }, c.messages === undefined ? "" : c.messages),
      h("td", { class: "ua" }, c.ua || c.user_agent || ""),
      h("td", { class: "cid opt", title: c.callid }, c.callid));
  }

  /* The server announces a call once, when it starts: re-read the newest pending rows so
     their status and message count follow the call. */
  async function pollLive() {
    const now = Date.now();
    const rows = [...$("live").tBodies[0].querySelectorAll("tr[data-pending]")]
      .filter((r) => now - Number(r.dataset.pending) < LIVE_POLL_FOR_MS).slice(0, LIVE_POLL_ROWS);
    for (const r of rows) {
      try {
        const body = await api("api/calls?" + query({ callid: r.dataset.callid, from: now - 86400000, to: now + 60000, limit: 1 }));
        const c = (body.calls || [])[0];
        const cur = liveRowOf(r.dataset.callid);
        if (c && cur) cur.replaceWith(liveRow(c, Number(r.dataset.pending), ""));
      } catch (e) {
        return;
      }
    }
  }

  /* Parses server-sent events from a byte stream; calls onEvent(data) per event. */
  async function readSSE(body, onEvent, signal) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      if (buf.length > SSE_MAX_BUFFER) throw new Error("live event too large");
      let i;
      while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i).replace(/^\r?\n\r?\n/, "");
        const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (data) onEvent(data);
      }
    }
  }

  function startLive() {
    if (st.live) return;
    const ctl = new AbortController();
    st.live = ctl;
    st.livePoll = setInterval(pollLive, LIVE_POLL_MS);
    const tbody = $("live").tBodies[0];
    if (!tbody.rows.length) tbody.append(h("tr", { class: "empty" }, h("td", { colspan: 6 }, "Waiting for new calls…")));
    const connect = async () => {
      if (ctl.signal.aborted) return;
      liveState("connecting…");
      try {
        const res = await request("api/live", { headers: { Accept: "text/event-stream" }, signal: ctl.signal });
        liveState(st.livePaused ? "paused" : "live", st.livePaused ? "paused" : "up");
        await readSSE(res.body, (data) => {
          try { addLive(JSON.parse(data)); } catch (e) { /* a comment or keep-alive */ }
        }, ctl.signal);
      } catch (e) {
        if (e instanceof AuthError || ctl.signal.aborted) return;
      }
      if (!ctl.signal.aborted) {
        liveState("disconnected, retrying…", "down");
        setTimeout(connect, LIVE_RETRY_MS);
      }
    };
    connect();
  }

  function stopLive() {
    if (st.live) st.live.abort();
    st.live = null;
    clearInterval(st.livePoll);
    $("live-dot").classList.remove("up");
  }

  /* ---- wiring ---- */
  function start() {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", () => logout());
    $("search-form").addEventListener("submit", (e) => { e.preventDefault(); submitSearch(); });
    $("search-form").addEventListener("reset", () => setTimeout(() => { customRange(); submitSearch(); }, 0));
    $("f-range").addEventListener("change", customRange);
    $("page-prev").addEventListener("click", () => search(Math.max(0, st.offset - st.query.limit)));
    $("page-next").addEventListener("click", () => search(st.offset + st.query.limit));
    $("utc").checked = localStorage.getItem("hearth-capture-utc") === "1";
    $("utc").addEventListener("change", () => {
      localStorage.setItem("hearth-capture-utc", $("utc").checked ? "1" : "0");
      st.query = null;
      route();
    });
    $("live-pause").addEventListener("click", () => {
      st.livePaused = !st.livePaused;
      $("live-pause").setAttribute("aria-pressed", String(st.livePaused));
      $("live-pause").textContent = st.livePaused ? "Resume" : "Pause";
      if (st.live) liveState(st.livePaused ? "paused" : "live", st.livePaused ? "paused" : "up");
    });
    $("live-clear").addEventListener("click", () => {
      $("live").tBodies[0].replaceChildren();
      st.liveCount = 0;
      $("live-count").textContent = "";
    });
    window.addEventListener("hashchange", route);
    route();
  }

  window.addEventListener("DOMContentLoaded", start);
  return { h, s, api, query, download, problem, fmtTime, fmtDuration, statusClass, statusBadge,
           ms, callDuration, parties, views: st.views, $ };
})();
