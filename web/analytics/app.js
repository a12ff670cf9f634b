/* hearth analytics dashboard: login, websites (list, add with the tracking snippet) and one
   website's page (summary cards with change vs the previous period, the pageviews/visitors
   chart, top pages, entry/exit pages, referrers, browsers, OS, devices, countries,
   languages, events, realtime visitors, date range). Reads the Umami-compatible API with
   the Bearer token from /api/auth/login kept in localStorage. Plain DOM, no framework;
   every value from the API is inserted as text, never as HTML. */
"use strict";

const TOKEN_KEY = "hearth.analytics.token";
const USER_KEY = "hearth.analytics.user";
const THEME_KEY = "hearth.analytics.theme";
const ACTIVE_MS = 10000; /* realtime visitors poll */
const TOP_N = 10; /* rows per metric table */
const SVG = "http://www.w3.org/2000/svg";
const main = document.getElementById("main");
const tip = document.getElementById("tip");
const page = { timers: [], observers: [], gen: 0 };

/* h("td", {class: "x"}, "text", node, [more]) builds an element; strings become text nodes. */
function h(tag, attrs, ...kids) {
  const el = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style") el.style.cssText = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

/* ---------- formatting ---------- */

/* 999 -> "999", 1234 -> "1.2k", 1500000 -> "1.5M" */
function fmt(n) {
  n = Number(n) || 0;
  const a = Math.abs(n);
  const short = (v, s) => (v >= 100 ? Math.round(v) : Math.round(v * 10) / 10) + s;
  if (a < 1000) return String(Math.round(n));
  if (a < 1e6) return short(n / 1e3, "k");
  if (a < 1e9) return short(n / 1e6, "M");
  return short(n / 1e9, "B");
}

/* seconds -> "45s", "3m 12s", "1h 5m" */
function fmtDuration(s) {
  s = Math.max(0, Math.round(Number(s) || 0));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}

const pct = (part, whole) => (whole > 0 ? (100 * part) / whole : 0);
const fmtPct = (p) => (p >= 10 || p === 0 ? Math.round(p) : Math.round(p * 10) / 10) + "%";

const BROWSERS = {
  chrome: "Chrome", crios: "Chrome (iOS)", firefox: "Firefox", fxios: "Firefox (iOS)", safari: "Safari",
  ios: "Safari (iOS)", "ios-webview": "iOS webview", "edge-chromium": "Edge", edge: "Edge (legacy)",
  "edge-ios": "Edge (iOS)", opera: "Opera", "opera-mini": "Opera Mini", samsung: "Samsung Internet",
  yandexbrowser: "Yandex", ie: "Internet Explorer", "chromium-webview": "Android webview",
  android: "Android browser", facebook: "Facebook", instagram: "Instagram", silk: "Silk", brave: "Brave",
};
let regionNames = null, languageNames = null;
try {
  regionNames = new Intl.DisplayNames(["en"], { type: "region" });
  languageNames = new Intl.DisplayNames(["en"], { type: "language" });
} catch (e) { /* old browser: codes are shown as they are */ }

function flag(cc) {
  if (!/^[A-Z]{2}$/.test(cc)) return "🏳️";
  return String.fromCodePoint(...[...cc].map((c) => 0x1f1e6 + c.charCodeAt(0) - 65));
}

const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);

/* How one metric row's x is shown, per metric type. */
function label(type, x) {
  if (x === null || x === undefined || x === "") {
    return type === "referrer" ? "(direct)" : type === "event" ? "(unnamed)" : "(unknown)";
  }
  x = String(x);
  if (type === "browser") return BROWSERS[x] || x;
  if (type === "device") return cap(x);
  if (type === "country") {
    const cc = x.toUpperCase();
    let name = cc;
    try { name = (regionNames && regionNames.of(cc)) || cc; } catch (e) { /* unknown code */ }
    return [h("span", { class: "flag", "aria-hidden": "true" }, flag(cc)), name];
  }
  if (type === "language") {
    try { return (languageNames && languageNames.of(x)) || x; } catch (e) { return x; }
  }
  return x;
}

/* ---------- API ---------- */

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, opts = {}) {
  const headers = { Accept: "application/json" };
  const token = localStorage.getItem(TOKEN_KEY);
  if (token && !opts.noAuth) headers.Authorization = "Bearer " + token;
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch("/api" + path, {
    method: opts.method || (opts.body !== undefined ? "POST" : "GET"),
    headers, cache: "no-store",
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  let body = null;
  if ((res.headers.get("content-type") || "").includes("json")) body = await res.json().catch(() => null);
  if (!res.ok) {
    const msg = (body && body.error && body.error.message) || "HTTP " + res.status;
    if (res.status === 401 && !opts.noAuth) {
      logout();
      throw new ApiError(401, "Your session has ended; please log in again.");
    }
    throw new ApiError(res.status, msg);
  }
  return body;
}

function logout() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
  go("/login", true);
}

/* ---------- routing ---------- */

function go(path, replace) {
  if (location.pathname + location.search !== path) history[replace ? "replaceState" : "pushState"](null, "", path);
  route();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest && e.target.closest("a[data-nav]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  go(a.getAttribute("href"));
});
window.addEventListener("popstate", route);

function leave() {
  page.gen++;
  page.timers.forEach(clearInterval);
  page.observers.forEach((o) => o.disconnect());
  page.timers = [];
  page.observers = [];
  tip.hidden = true;
}

function route() {
  leave();
  const token = localStorage.getItem(TOKEN_KEY);
  const user = localStorage.getItem(USER_KEY) || "";
  document.getElementById("logout").hidden = !token;
  document.getElementById("who").textContent = token ? user : "";
  const p = location.pathname.replace(/\/+$/, "");
  const m = p.match(/^\/websites\/([0-9a-fA-F-]{36})$/);
  if (!token) return viewLogin();
  if (p === "/login") return go("/websites", true);
  if (m) return viewWebsite(m[1]);
  return viewWebsites();
}

function show(...nodes) {
  main.replaceChildren(...nodes);
}

/* ---------- login ---------- */

function viewLogin() {
  if (location.pathname !== "/login") history.replaceState(null, "", "/login");
  document.title = "Log in · hearth analytics";
  const err = h("div", { class: "error", role: "alert", hidden: true });
  const btn = h("button", { class: "btn", type: "submit" }, "Log in");
  const form = h("form", { class: "panel login", id: "login", onsubmit: async (e) => {
    e.preventDefault();
    btn.disabled = true;
    err.hidden = true;
    try {
      const f = new FormData(form);
      const r = await api("/auth/login", { noAuth: true, body: { username: f.get("username"), password: f.get("password") } });
      localStorage.setItem(TOKEN_KEY, r.token);
      localStorage.setItem(USER_KEY, (r.user && r.user.username) || "");
      go("/websites", true);
    } catch (ex) {
      err.textContent = ex.status === 401 ? "Incorrect username or password." : ex.message;
      err.hidden = false;
      btn.disabled = false;
    }
  } },
  h("h1", null, "Welcome back"),
  h("p", { class: "sub" }, "Log in to see your websites' traffic."),
  err,
  h("label", { class: "field" }, "Username", h("input", { name: "username", autocomplete: "username", required: true })),
  h("label", { class: "field" }, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
  btn);
  show(form);
  form.querySelector("input").focus();
}

/* ---------- websites ---------- */

function snippet(id) {
  const code = `<script defer src="${location.origin}/script.js" data-website-id="${id}"></script>`;
  const pre = h("pre", { class: "code" }, code);
  const copy = h("button", { type: "button", class: "ghost", onclick: async () => {
    try {
      await navigator.clipboard.writeText(code);
      copy.textContent = "Copied";
    } catch (e) {
      getSelection().selectAllChildren(pre);
      copy.textContent = "Press Ctrl+C";
    }
  } }, "Copy");
  return h("div", { class: "snippet" },
    h("div", { class: "sub" }, "Add this to the <head> of every page you want to track:"), pre,
    h("div", null, copy));
}

async function viewWebsites() {
  const gen = page.gen;
  document.title = "Websites · hearth analytics";
  const list = h("div", { class: "sites", id: "sites" }, h("div", { class: "empty" }, "Loading…"));
  const addBox = h("section", { class: "panel add", hidden: true });
  const addBtn = h("button", { type: "button", class: "btn", id: "add-website", onclick: () => {
    addBox.hidden = !addBox.hidden;
    if (!addBox.hidden) addBox.querySelector("input").focus();
  } }, "+ Add website");
  const err = h("div", { class: "error", role: "alert", hidden: true });
  const form = h("form", { id: "add-form", onsubmit: async (e) => {
    e.preventDefault();
    err.hidden = true;
    const f = new FormData(form);
    try {
      const w = await api("/websites", { body: { name: f.get("name"), domain: f.get("domain") } });
      form.reset();
      addBox.replaceChildren(h("h2", null, "“" + w.name + "” added"), snippet(w.id),
        h("div", null, h("a", { href: "/websites/" + w.id, "data-nav": true, class: "btn" }, "Open dashboard")));
      load();
    } catch (ex) {
      err.textContent = ex.message;
      err.hidden = false;
    }
  } },
  h("label", { class: "field" }, "Name", h("input", { name: "name", required: true, maxlength: 100, placeholder: "My blog" })),
  h("label", { class: "field" }, "Domain", h("input", { name: "domain", required: true, maxlength: 500, placeholder: "example.com" })),
  h("button", { class: "btn", type: "submit" }, "Save"));
  addBox.append(h("h2", null, "Add a website"), err, form);
  show(h("div", { class: "head" },
    h("div", { class: "title" }, h("h1", null, "Websites"), h("span", { class: "sub" }, "Views over the last 24 hours")),
    addBtn), addBox, list);

  async function load() {
    let sites;
    try {
      sites = (await api("/websites?pageSize=100")).data || [];
    } catch (ex) {
      if (gen === page.gen) list.replaceChildren(h("div", { class: "error" }, ex.message));
      return;
    }
    if (gen !== page.gen) return;
    if (!sites.length) {
      list.replaceChildren(h("div", { class: "panel empty" }, "No websites yet. Add one to get its tracking code."));
      return;
    }
    const r = last24h();
    list.replaceChildren(...sites.map((w) => {
      const views = h("div", { class: "views" }, "…");
      api(`/websites/${w.id}/stats?startAt=${r.startAt}&endAt=${r.endAt}`).then((s) => {
        views.replaceChildren(h("b", { class: "num" }, fmt(s.pageviews)), " views · ",
          h("b", { class: "num" }, fmt(s.visitors)), " visitors");
      }, () => views.replaceChildren("—"));
      return h("a", { class: "panel site", href: "/websites/" + w.id, "data-nav": true, "data-website": w.id },
        h("b", null, w.name), h("span", { class: "sub" }, w.domain || ""), views);
    }));
  }
  load();
}

/* ---------- date ranges ---------- */

const RANGES = [["today", "Today"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"],
  ["90d", "Last 90 days"], ["custom", "Custom range…"]];
const DAY = 864e5;
const startOfDay = (t) => { const d = new Date(t); d.setHours(0, 0, 0, 0); return d.getTime(); };
const endOfDay = (t) => { const d = new Date(t); d.setHours(23, 59, 59, 999); return d.getTime(); };
const ymd = (t) => { const d = new Date(t); return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`; };
const parseYmd = (s) => { const m = /^(\d{4})-(\d\d)-(\d\d)$/.exec(s || ""); return m ? new Date(+m[1], m[2] - 1, +m[3]).getTime() : NaN; };

/* The last 24 hours as whole hours (the current one included), as Umami's dashboard asks:
   whole hours and days are what the server answers from its rollups. */
function last24h() {
  const d = new Date();
  d.setMinutes(0, 0, 0);
  return { startAt: d.getTime() - 23 * 36e5, endAt: d.getTime() + 36e5 - 1 };
}

/* The range in the page's query (?range=7d, or ?from=YYYY-MM-DD&to=YYYY-MM-DD). */
function currentRange() {
  const q = new URLSearchParams(location.search);
  const now = Date.now();
  let key = q.get("range") || (q.get("from") ? "custom" : "24h");
  let startAt, endAt;
  if (key === "custom") {
    startAt = parseYmd(q.get("from"));
    endAt = endOfDay(parseYmd(q.get("to") || ymd(now)));
    if (!(startAt <= endAt)) key = "24h";
  }
  if (key === "today") [startAt, endAt] = [startOfDay(now), endOfDay(now)];
  else if (key === "24h") ({ startAt, endAt } = last24h());
  else if (/^\d+d$/.test(key)) [startAt, endAt] = [startOfDay(now - (parseInt(key, 10) - 1) * DAY), endOfDay(now)];
  else if (key !== "custom") [key, { startAt, endAt }] = ["24h", last24h()];
  const span = endAt - startAt;
  const unit = span <= 2 * DAY ? "hour" : span <= 92 * DAY ? "day" : "month";
  return { key, startAt, endAt, unit };
}

/* Start of the bucket holding t, in the browser's time zone. */
function bucketStart(t, unit) {
  const d = new Date(t);
  d.setMinutes(0, 0, 0);
  if (unit !== "hour") d.setHours(0);
  if (unit === "month") d.setDate(1);
  return d.getTime();
}

function nextBucket(t, unit) {
  const d = new Date(t);
  if (unit === "hour") d.setHours(d.getHours() + 1);
  else if (unit === "day") d.setDate(d.getDate() + 1);
  else d.setMonth(d.getMonth() + 1);
  return d.getTime();
}

/* The API's x: "YYYY-MM-DDTHH:MM:SSZ" in UTC, "YYYY-MM-DD HH:MM:SS" in the asked zone. */
const parseX = (x) => new Date(/Z$/.test(x) ? x : String(x).replace(" ", "T")).getTime();

/* One bucket per unit over the range, filled from the pageviews and sessions series. */
function buckets(series, r) {
  const out = [], at = new Map();
  for (let t = bucketStart(r.startAt, r.unit); t <= r.endAt && out.length < 2000; t = nextBucket(t, r.unit)) {
    at.set(t, out.length);
    out.push({ t, views: 0, visitors: 0 });
  }
  for (const [k, list] of [["views", series.pageviews], ["visitors", series.sessions]]) {
    for (const p of list || []) {
      const i = at.get(bucketStart(parseX(p.x), r.unit));
      if (i !== undefined) out[i][k] += Number(p.y) || 0;
    }
  }
  return out;
}

function bucketLabel(t, unit, long) {
  const d = new Date(t);
  if (unit === "hour") {
    const hh = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
    return long ? d.toLocaleDateString("en-US", { weekday: "short", month: "short", day: "numeric" }) + ", " + hh : hh;
  }
  if (unit === "day") return d.toLocaleDateString("en-US", long ? { weekday: "short", month: "short", day: "numeric", year: "numeric" } : { month: "short", day: "numeric" });
  return d.toLocaleDateString("en-US", { month: "short", year: "numeric" });
}

/* ---------- chart ---------- */

function niceMax(v) {
  if (v <= 4) return 4;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/* Draws views (light) and visitors (solid) as overlapping bars, with a hover tooltip. */
function drawChart(box, data, unit) {
  const W = Math.max(320, box.clientWidth), H = 280, L = 44, B = 24, T = 8;
  const max = niceMax(Math.max(1, ...data.map((d) => Math.max(d.views, d.visitors))));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const slot = (W - L) / Math.max(1, data.length);
  const bw = Math.max(1, Math.min(44, slot * 0.72));
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Views and visitors over time" });
  const grid = h("svg:g", { class: "grid" }), axis = h("svg:g", { class: "axis" });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    grid.append(h("svg:line", { x1: L, x2: W, y1: y(v), y2: y(v) }));
    axis.append(h("svg:text", { x: L - 8, y: y(v) + 4, "text-anchor": "end" }, fmt(v)));
  }
  const every = Math.max(1, Math.ceil(data.length / Math.max(1, Math.floor((W - L) / 72))));
  data.forEach((d, i) => {
    if (i % every === 0) {
      axis.append(h("svg:text", { x: L + slot * i + slot / 2, y: H - 6, "text-anchor": "middle" }, bucketLabel(d.t, unit, false)));
    }
  });
  const bars = h("svg:g", null), hits = h("svg:g", null);
  data.forEach((d, i) => {
    const x = L + slot * i + (slot - bw) / 2;
    const base = y(0);
    if (d.views > 0) bars.append(h("svg:rect", { class: "views", x, width: bw, y: y(d.views), height: base - y(d.views), rx: Math.min(4, bw / 3) }));
    if (d.visitors > 0) bars.append(h("svg:rect", { class: "visitors", x, width: bw, y: y(d.visitors), height: base - y(d.visitors), rx: Math.min(4, bw / 3) }));
    const hit = h("svg:rect", { class: "hit", x: L + slot * i, y: T, width: slot, height: H - T - B, "data-i": i });
    const move = (e) => {
      tip.replaceChildren(h("b", null, bucketLabel(d.t, unit, true)),
        h("div", null, h("i", { style: "background:var(--accent-soft)" }), fmt(d.views), " views"),
        h("div", null, h("i", { style: "background:var(--accent)" }), fmt(d.visitors), " visitors"));
      tip.hidden = false;
      const tw = tip.offsetWidth;
      tip.style.left = Math.min(innerWidth - tw - 8, e.clientX + 14) + "px";
      tip.style.top = e.clientY - tip.offsetHeight - 10 + "px";
    };
    hit.addEventListener("mousemove", move);
    hit.addEventListener("mouseleave", () => { tip.hidden = true; });
    hits.append(hit);
  });
  svg.append(grid, bars, axis, hits);
  box.replaceChildren(svg);
}

/* ---------- website page ---------- */

const PANELS = [
  { id: "pages", tabs: [["path", "Pages"], ["entry", "Entry"], ["exit", "Exit"]], col: "Visitors" },
  { id: "sources", tabs: [["referrer", "Referrers"], ["query", "Query"]], col: "Visitors" },
  { id: "env", tabs: [["browser", "Browsers"], ["os", "OS"], ["device", "Devices"]], col: "Visitors" },
  { id: "location", tabs: [["country", "Countries"], ["language", "Languages"]], col: "Visitors" },
  { id: "events", tabs: [["event", "Events"]], col: "Count" },
];

function card(id, name, value, change, lowerIsBetter) {
  let badge = null;
  if (change !== null && isFinite(change)) {
    const good = lowerIsBetter ? change < 0 : change > 0;
    const cls = Math.round(change) === 0 ? "flat" : good ? "up" : "down";
    badge = h("span", { class: "change " + cls, title: "vs previous period" },
      (change > 0 ? "▲ " : change < 0 ? "▼ " : "") + fmtPct(Math.abs(change)));
  }
  return h("div", { class: "panel card", id: "card-" + id },
    h("span", { class: "label" }, name), h("span", { class: "value" }, value), badge);
}

const change = (cur, prev) => (prev > 0 ? (100 * (cur - prev)) / prev : cur > 0 ? null : 0);

function renderCards(box, s) {
  const c = s.comparison || {};
  const bounce = (x) => pct(Math.min(x.bounces || 0, x.visits || 0), x.visits || 0);
  const dur = (x) => (x.visits ? (x.totaltime || 0) / x.visits : 0);
  const has = s.comparison !== undefined;
  box.replaceChildren(
    card("visitors", "Visitors", fmt(s.visitors), has ? change(s.visitors, c.visitors) : null),
    card("visits", "Visits", fmt(s.visits), has ? change(s.visits, c.visits) : null),
    card("views", "Views", fmt(s.pageviews), has ? change(s.pageviews, c.pageviews) : null),
    card("bounce", "Bounce rate", fmtPct(bounce(s)), has && c.visits ? bounce(s) - bounce(c) : null, true),
    card("duration", "Visit duration", fmtDuration(dur(s)), has && c.visits ? change(dur(s), dur(c)) : null));
}

function metricPanel(id, r, spec, total) {
  let sel = spec.tabs[0][0];
  const rows = h("ul", { class: "rows" });
  const tabs = spec.tabs.length > 1 ? h("div", { class: "tabs", role: "tablist" }, spec.tabs.map(([t, name]) =>
    h("button", { type: "button", role: "tab", "data-type": t, "aria-selected": String(t === sel), onclick: (e) => {
      sel = t;
      tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b === e.currentTarget)));
      load();
    } }, name))) : null;
  const sec = h("section", { class: "panel metric", id: "metric-" + spec.id },
    h("header", null, tabs || h("h2", null, spec.tabs[0][1])),
    h("div", { class: "cols" }, h("span", null, ""), h("span", null, spec.col)), rows);
  const gen = page.gen;
  async function load() {
    const type = sel;
    rows.classList.add("loading");
    let list;
    try {
      list = await api(`/websites/${id}/metrics?type=${type}&startAt=${r.startAt}&endAt=${r.endAt}&limit=${TOP_N}`);
    } catch (ex) {
      if (gen === page.gen && type === sel) rows.replaceChildren(h("li", { class: "error" }, ex.message));
      return;
    }
    if (gen !== page.gen || type !== sel) return;
    rows.classList.remove("loading");
    rows.setAttribute("data-type", type);
    list = (Array.isArray(list) ? list : []).slice(0, TOP_N);
    if (!list.length) return rows.replaceChildren(h("li", { class: "empty" }, "No data for this period"));
    const whole = type === "event" ? list.reduce((a, b) => a + (Number(b.y) || 0), 0) : Math.max(total, ...list.map((m) => Number(m.y) || 0));
    rows.replaceChildren(...list.map((m) => {
      const p = pct(Number(m.y) || 0, whole);
      const name = label(type, m.x);
      return h("li", { "data-x": m.x === null ? "" : String(m.x) },
        h("span", { class: "name", style: `--w:${p.toFixed(1)}%`, title: typeof name === "string" ? name : String(m.x) }, name),
        h("span", { class: "y" }, fmt(m.y)), h("span", { class: "pct" }, fmtPct(p)));
    }));
  }
  load();
  return sec;
}

async function viewWebsite(id) {
  const gen = page.gen;
  const r = currentRange();
  const title = h("h1", null, "…"), domain = h("span", { class: "sub" });
  const live = h("span", { class: "live", id: "active", title: "Visitors in the last 5 minutes" }, h("b", null, "–"), " online");
  const select = h("select", { id: "range", "aria-label": "Date range", onchange: () => {
    if (select.value === "custom") { custom.hidden = false; from.focus(); return; }
    go(`/websites/${id}?range=${select.value}`);
  } }, RANGES.map(([k, n]) => h("option", { value: k, selected: k === r.key }, n)));
  const from = h("input", { type: "date", "aria-label": "From", value: ymd(r.startAt), max: ymd(Date.now()) });
  const to = h("input", { type: "date", "aria-label": "To", value: ymd(r.endAt), max: ymd(Date.now()) });
  const custom = h("form", { class: "range", hidden: r.key !== "custom", onsubmit: (e) => {
    e.preventDefault();
    if (from.value && to.value && from.value <= to.value) go(`/websites/${id}?from=${from.value}&to=${to.value}`);
  } }, from, "–", to, h("button", { class: "ghost", type: "submit" }, "Apply"));
  const codeBox = h("section", { class: "panel add", hidden: true }, snippet(id));
  const codeBtn = h("button", { type: "button", class: "ghost", onclick: () => { codeBox.hidden = !codeBox.hidden; } }, "Tracking code");
  const cards = h("section", { class: "cards", id: "cards", "aria-label": "Summary" },
    ["visitors", "visits", "views", "bounce", "duration"].map(() => h("div", { class: "panel card loading" }, h("span", { class: "label" }, " "), h("span", { class: "value" }, "–"))));
  const chartBox = h("div", { id: "chart-area" });
  const chart = h("section", { class: "panel chart", id: "chart" },
    h("div", { class: "legend" }, h("span", null, h("i", { style: "background:var(--accent-soft)" }), "Views"),
      h("span", null, h("i", { style: "background:var(--accent)" }), "Visitors")), chartBox);
  const tables = h("div", { class: "tables", id: "tables" });
  show(h("div", { class: "head" },
    h("div", { class: "title" }, h("a", { href: "/websites", "data-nav": true, class: "sub" }, "← Websites"), title, domain),
    h("div", { class: "controls" }, live, codeBtn, select, custom)), codeBox, cards, chart, tables);

  api(`/websites/${id}`).then((w) => {
    if (gen !== page.gen) return;
    title.textContent = w.name;
    domain.textContent = w.domain || "";
    document.title = w.name + " · hearth analytics";
  }, (ex) => { if (gen === page.gen) title.textContent = ex.status === 404 ? "Website not found" : ex.message; });

  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const range = `startAt=${r.startAt}&endAt=${r.endAt}`;
  const pollActive = () => api(`/websites/${id}/active`).then((a) => {
    if (gen === page.gen) live.firstChild.textContent = fmt(a.visitors !== undefined ? a.visitors : a.x);
  }, () => {});
  pollActive();
  page.timers.push(setInterval(pollActive, ACTIVE_MS));

  let stats;
  try {
    const [s, pv] = await Promise.all([
      api(`/websites/${id}/stats?${range}`),
      api(`/websites/${id}/pageviews?${range}&unit=${r.unit}&timezone=${encodeURIComponent(tz)}`),
    ]);
    if (gen !== page.gen) return;
    stats = s;
    renderCards(cards, s);
    const data = buckets(pv, r);
    drawChart(chartBox, data, r.unit);
    let lastW = chartBox.clientWidth;
    const ro = new ResizeObserver(() => {
      if (chartBox.clientWidth !== lastW) { lastW = chartBox.clientWidth; drawChart(chartBox, data, r.unit); }
    });
    ro.observe(chartBox);
    page.observers.push(ro);
  } catch (ex) {
    if (gen === page.gen) cards.replaceChildren(h("div", { class: "error" }, ex.message));
    return;
  }
  tables.replaceChildren(...PANELS.map((spec) => metricPanel(id, r, spec, Number(stats.visitors) || 0)));
}

/* ---------- theme ---------- */

function applyTheme(t) {
  if (t) document.documentElement.setAttribute("data-theme", t);
  else document.documentElement.removeAttribute("data-theme");
}
applyTheme(localStorage.getItem(THEME_KEY));
document.getElementById("theme").addEventListener("click", () => {
  const dark = document.documentElement.getAttribute("data-theme") === "dark" ||
    (!document.documentElement.getAttribute("data-theme") && matchMedia("(prefers-color-scheme: dark)").matches);
  const t = dark ? "light" : "dark";
  localStorage.setItem(THEME_KEY, t);
  applyTheme(t);
});
document.getElementById("logout").addEventListener("click", logout);

route();
