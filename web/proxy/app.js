/* hearth proxy dashboard: polls Traefik's API JSON (/api/overview, /api/http/*,
   /api/entrypoints, /api/version) and hearth's /api/errors every few seconds and renders
   routers, services with server health, middlewares, entry points and config errors.
   Plain DOM, no framework; every value from the API is inserted as text, never as HTML. */
"use strict";

const REFRESH_MS = 5000;
const MAX_PAGES = 50; /* Traefik pages lists (X-Next-Page); bounded so a bad header cannot loop */
const TABS = ["routers", "services", "middlewares", "entrypoints", "errors"];
const SVG = "http://www.w3.org/2000/svg";
const state = { data: null, paused: false, last: 0, failed: false, timer: 0 };

/* h("td", {class: "x"}, "text", node, [more]) builds an element; strings become text nodes. */
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

async function getJSON(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return { body: await res.json(), next: res.headers.get("X-Next-Page") };
}

/* A Traefik list endpoint, following X-Next-Page until the last page. */
async function getList(path) {
  let out = [], page = 1;
  for (let i = 0; i < MAX_PAGES; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const { body, next } = await getJSON(i ? path + sep + "page=" + page : path);
    out = out.concat(Array.isArray(body) ? body : []);
    const n = parseInt(next || "", 10);
    if (!n || n <= page) break;
    page = n;
  }
  return out;
}

async function optional(promise, fallback) {
  try { return await promise; } catch (e) { return fallback; }
}

async function load() {
  const [overview, routers, services, middlewares, entrypoints] = await Promise.all([
    getJSON("/api/overview").then((r) => r.body),
    getList("/api/http/routers"),
    getList("/api/http/services"),
    getList("/api/http/middlewares"),
    getList("/api/entrypoints"),
  ]);
  const version = await optional(getJSON("/api/version").then((r) => r.body), null);
  const errors = await optional(getJSON("/api/errors").then((r) => r.body), []);
  return { overview, routers, services, middlewares, entrypoints, version,
           errors: Array.isArray(errors) ? errors : (errors && errors.errors) || [] };
}

/* ---- small renderers ---- */

/* A small padlock drawn inline (emoji fonts are not everywhere). */
function lock(text, title) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", "M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7zm2 0h4V5a2 2 0 0 0-4 0z");
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return h("span", { class: "tls", title }, svg, text);
}

function plural(n, word) {
  return n + " " + word + (n === 1 ? "" : "s");
}

function statusBadge(s) {
  const v = String(s || "enabled").toLowerCase();
  return h("span", { class: "status s-" + v }, v);
}

function serverBadge(s) {
  const v = String(s || "unknown").toUpperCase();
  return h("span", { class: "status s-" + v.toLowerCase(), title: "health: " + v }, v);
}

/* Host(`a`) && PathPrefix(`/b`): matcher names and their arguments coloured. */
function ruleView(rule) {
  const out = h("code", { class: "rule" });
  const re = /([A-Za-z]+)(\()|(`[^`]*`|"[^"]*")/g;
  let at = 0, m;
  while ((m = re.exec(rule || "")) !== null) {
    out.append(rule.slice(at, m.index));
    if (m[1]) out.append(h("span", { class: "fn" }, m[1]), "(");
    else out.append(h("span", { class: "arg" }, m[3]));
    at = re.lastIndex;
  }
  out.append((rule || "").slice(at));
  /* a long rule breaks at its spaces and before && and || (written without spaces too),
     not inside a host or a path */
  for (const node of out.childNodes)
      if (node.nodeType === Node.TEXT_NODE)
          node.data = node.data.replace(/&&|\|\|/g, "\u200b$&");
  return out;
}

/* Services none of whose servers is up (a load balancer's all DOWN; a weighted or
   highestRandomWeight service's children all so): requests to them fail, whatever their
   configuration status says. */
function downServices(d)
{
    const byName = new Map(d.services.map((s) => [s.name, s]));
    const memo = new Map();
    const down = (name, depth) => {
        if (memo.has(name))
            return memo.get(name);
        const s = byName.get(name);
        let v = false;
        if (s && depth < 8) {
            const st = Object.values(s.serverStatus || {});
            const servers = (s.loadBalancer && s.loadBalancer.servers) || [];
            if (servers.length && st.length)
                v = st.every((x) => String(x).toUpperCase() !== "UP");
            else if (s.weighted || s.highestRandomWeight) {
                const kids = ((s.weighted || s.highestRandomWeight).services ||
                              []).filter((w) => w.weight === undefined || w.weight > 0);
                v = kids.length > 0 &&
                    kids.every((w) => down(qualify(w.name, s.provider), depth + 1));
            }
        }
        memo.set(name, v);
        return v;
    };
    return new Set(d.services.map((s) => s.name).filter((n) => down(n, 0)));
}

function downBadge()
{
    return h(
        "span",
        {class : "status s-down", title : "no server of this service is up: its requests fail"},
        "no server up");
}

function errorsOf(o) {
  const e = o.error || o.errors || o.err;
  if (!e) return [];
  return Array.isArray(e) ? e : [e];
}

function errorList(o) {
  const e = errorsOf(o);
  return e.length ? h("ul", { class: "errs" }, e.map((x) => h("li", {}, x))) : null;
}

/* Rows needing attention come first: disabled, then warnings, then those whose requests
   fail for want of a server; each group in the API's (name) order. */
function attention(status, down) {
  const s = String(status || "enabled").toLowerCase();
  return s === "disabled" ? 0 : s === "warning" ? 1 : down ? 2 : 3;
}

function problemsFirst(items, rankOf) {
  return items.map((x, i) => [rankOf(x), i, x]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((t) => t[2]);
}

/* A list of chips, the first few shown and the rest behind "+N more". */
function chipList(items, chip, shown = 3) {
  const chips = items.map(chip);
  if (chips.length <= shown + 1) return h("div", { class: "chips" }, chips);
  return h("div", { class: "chips" }, chips.slice(0, shown),
    h("details", { class: "more" }, h("summary", {}, "+" + (chips.length - shown) + " more"),
      h("div", { class: "chips" }, chips.slice(shown))));
}

function qualify(name, provider) {
  return !name || name.includes("@") || !provider ? name : name + "@" + provider;
}

function nameCell(o) {
  const at = (o.name || "").lastIndexOf("@");
  const base = at > 0 ? o.name.slice(0, at) : o.name;
  return h("td", { class: "name" }, base, h("small", {}, o.provider || (at > 0 ? o.name.slice(at + 1) : "")));
}

function table(caption, heads, rows, emptyText) {
  if (!rows.length) return h("div", { class: "table-wrap" }, h("p", { class: "empty" }, emptyText));
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, heads.map(([t, cls]) => h("th", { scope: "col", class: cls }, t)))),
      h("tbody", {}, rows)));
}

/* The rows whose text as shown, or whose full name (provider included), holds the
   filter's lower-cased text. */
function shown(rows, q) {
  const text = (tr) => (Object.values(tr.dataset).join(" ") + " " + tr.textContent)
                           .replaceAll("\u200b", "").toLowerCase();
  return q ? rows.filter((tr) => text(tr).includes(q)) : rows;
}

function showTab(name, focus) {
  for (const t of TABS) {
    const on = t === name;
    const tab = document.getElementById("tab-" + t);
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
    document.getElementById(t).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (location.hash !== "#/" + name)
      history.replaceState(null, "", "#/" + name);
}

function jumpTo(tab, text) {
  document.getElementById("filter").value = text;
  showTab(tab, false);
  render();
}

/* ---- sections ---- */

function renderOverview(d) {
  const box = document.getElementById("overview");
  const o = (d.overview && d.overview.http) || {};
  const card = (title, c, total, tab) => {
    c = c || {};
    const t = c.total !== undefined ? c.total : total;
    const w = c.warnings || 0, e = c.errors || 0, ok = Math.max(t - w - e, 0);
    const pct = (n) => (t ? (100 * n) / t : 0) + "%";
    /* a count of problems opens its tab showing only those */
    const show = (n, word, status) => !n ? h("span", {}, plural(n, word)) :
      h("a", { href: "#/" + tab, class: "s-" + status + "-text", title: "show the " + status + " ones",
               onclick: (ev) => { ev.preventDefault(); jumpTo(tab, status); } }, plural(n, word));
    return h("article", { class: "card" },
      h("h2", {}, title),
      h("div", { class: "big" }, t),
      h("div", { class: "bar", role: "img", "aria-label": ok + " healthy, " + w + " warnings, " + e + " errors" },
        h("i", { style: "width:" + pct(ok) + ";background:var(--ok)" }),
        h("i", { style: "width:" + pct(w) + ";background:var(--warn)" }),
        h("i", { style: "width:" + pct(e) + ";background:var(--err)" })),
      h("div", { class: "legend" }, h("span", {}, ok + " ok"), show(w, "warning", "warning"), show(e, "error", "disabled")));
  };
  let up = 0, all = 0;
  const downs = [];
  for (const s of d.services)
      for (const [url, v] of Object.entries(s.serverStatus || {})) {
          all++;
          if (String(v).toUpperCase() === "UP")
              up++;
          else
              downs.push([ s.name, url ]);
      }
  const downNote =
      downs.length
          ? h("span", {}, downs.length + " down: ",
              downs.slice(0, 2).map(([ name, url ], i) => [i ? ", " : "", h("a", {
                                                               href : "#services",
                                                               onclick : (e) => {
                                                                   e.preventDefault();
                                                                   jumpTo("services", name);
                                                               }
                                                           },
                                                                            name + " → " + url)]),
              downs.length > 2 ? " …" : "")
          : h("span", {}, "every server up");
  box.replaceChildren(
      card("Routers", o.routers, d.routers.length, "routers"),
      card("Services", o.services, d.services.length, "services"),
      card("Middlewares", o.middlewares, d.middlewares.length, "middlewares"),
      h("article", {class : "card"}, h("h2", {}, "Servers up"),
        h("div", {class : "big"}, up + " / " + all),
        h("div", {class : "bar", role : "img", "aria-label" : up + " of " + all + " servers up"},
          h("i", {style : "width:" + (all ? (100 * up) / all : 0) + "%;background:var(--ok)"}),
          h("i",
            {style : "width:" + (all ? (100 * (all - up)) / all : 0) + "%;background:var(--err)"})),
        h("div", {class : "legend"}, downNote)));
}

function renderRouters(d, q) {
    const down = downServices(d);
    const isDown = (r) => r.status !== "disabled" && down.has(qualify(r.service, r.provider));
    const routers = problemsFirst(d.routers, (r) => attention(r.status, isDown(r)));
    const rows = shown(routers.map((r) => {
        const svc = qualify(r.service, r.provider);
        /* TLS from the router itself, or from an entry point that terminates TLS for all */
        const tlsEps = d.entrypoints.filter((e) => e.http && e.http.tls).map((e) => e.name);
        const viaEp = (r.entryPoints || []).filter((e) => tlsEps.includes(e));
        const tls = r.tls ? lock("TLS" + (r.tls.certResolver ? " · " + r.tls.certResolver : ""),
                                 "TLS options: " + (r.tls.options || "default"))
                    : viaEp.length
                        ? lock(viaEp.join(", "), "TLS: the entry point terminates it")
                        : h("span", {class : "muted"}, "—");
        return h("tr", {"data-router" : r.name},
                 h("td", {}, statusBadge(r.status), isDown(r) ? downBadge() : null),
                 nameCell(r), h("td", {}, ruleView(r.rule), errorList(r)),
                 h("td", {class : "svc"},
                   svc ? h("a", {
                       href : "#services",
                       onclick : (e) => {
                           e.preventDefault();
                           jumpTo("services", svc);
                       }
                   },
                           svc)
                       : h("span", {class : "muted"}, "—")),
                 h("td", {}, chipList(r.middlewares || [], (m) => h("span", {class : "chip mw"}, m))),
                 h("td", {}, tls),
                 h("td", {class : "opt"},
                   h("div", {class : "chips"},
                     (r.entryPoints || []).map((e) => h("span", {class : "chip"}, e)))),
                 h("td", {class : "opt"},
                   r.priority !== undefined
                       ? String(r.priority)
                       : h("span", {class : "muted", title : "none set: the rule's length decides"},
                           String(new TextEncoder().encode(r.rule || "").length))));
    }), q);
    document.getElementById("routers").replaceChildren(
        table("HTTP routers: the rule a request must match, where it goes and what runs on the way",
              [
                  [ "Status" ], [ "Name" ], [ "Rule" ], [ "Service" ], [ "Middlewares" ], [ "TLS" ],
                  [ "Entry points", "opt" ], [ "Priority", "opt" ]
              ],
              rows,
              q ? "No router matches the filter."
                : "No routers yet: add an Ingress or a file-provider router."));
}

function serverList(s) {
  const st = s.serverStatus || {};
  if (s.failover) {
    return h("ul", { class: "servers" },
      h("li", {}, h("span", { class: "chip" }, "service"), s.failover.service),
      h("li", {}, h("span", { class: "chip" }, "fallback"), s.failover.fallback));
  }
  if (s.mirroring) {
      return h("ul", {class : "servers"},
               h("li", {}, h("span", {class : "chip"}, "service"), s.mirroring.service || ""),
               (s.mirroring.mirrors || [])
                   .map((m) => h("li", {},
                                 h("span", {class : "chip"}, "mirror " + (m.percent || 0) + "%"),
                                 m.name)));
  }
  if (s.weighted || s.highestRandomWeight) {
      return h("ul", {class : "servers"},
               ((s.weighted || s.highestRandomWeight).services || [])
                   .map((w) => h("li", {},
                                 h("span", {class : "chip"},
                                   "weight " + (w.weight === undefined ? 1 : w.weight)),
                                 w.name)));
  }
  const servers = (s.loadBalancer && s.loadBalancer.servers) || [];
  if (!servers.length) return h("span", { class: "muted" }, "no servers");
  return h("ul", { class: "servers" }, servers.map((sv) =>
    h("li", {}, serverBadge(st[sv.url] || (Object.keys(st).length ? "DOWN" : "unknown")), sv.url)));
}

function renderServices(d, q) {
    const down = downServices(d);
    const services = problemsFirst(d.services, (s) => attention(s.status, down.has(s.name)));
    const rows = shown(services.map((s) => {
        const internal = s.provider === "internal";
        return h(
            "tr", {"data-service" : s.name},
            h("td", {}, statusBadge(s.status), down.has(s.name) ? downBadge() : null), nameCell(s),
            h("td", {},
              internal ? "internal" : s.type || (s.weighted ? "weighted" : "loadbalancer")),
            h("td", {},
              internal ? h("span", {class : "muted"}, "served by the API listener") : serverList(s),
              errorList(s)),
            h("td", {class : "opt"},
              chipList(s.usedBy || [], (u) => h("a", {
                                                    class : "chip",
                                                    href : "#routers",
                                                    onclick : (e) => {
                                                        e.preventDefault();
                                                        jumpTo("routers", u);
                                                    }
                                                },
                                                u))));
    }), q);
    document.getElementById("services")
        .replaceChildren(
            table("Services and the health of each server",
                  [ [ "Status" ], [ "Name" ], [ "Type" ], [ "Servers" ], [ "Used by", "opt" ] ],
                  rows, q ? "No service matches the filter." : "No services yet."));
}

function renderMiddlewares(d, q) {
  const rows = shown(problemsFirst(d.middlewares, (m) => attention(m.status, false)).map((m) => {
    const type = m.type || Object.keys(m).find((k) => !["name", "provider", "status", "usedBy", "error", "type"].includes(k)) || "";
    const key = Object.keys(m).find((k) => k.toLowerCase() === String(type).toLowerCase());
    const spec = key ? m[key] : undefined;
    return h("tr", { "data-middleware": m.name },
      h("td", {}, statusBadge(m.status)),
      nameCell(m),
      h("td", {}, h("span", { class: "chip mw" }, type), errorList(m)),
      h("td", {}, spec === undefined ? "" : h("details", {}, h("summary", {}, "settings"), h("pre", { class: "spec" }, JSON.stringify(spec, null, 2)))),
      h("td", { class: "opt" }, chipList(m.usedBy || [], (u) => h("span", { class: "chip" }, u))));
  }), q);
  document.getElementById("middlewares")
      .replaceChildren(
          table("Middlewares, by name; a router runs its own in the order it names them",
                [ [ "Status" ], [ "Name" ], [ "Type" ], [ "Settings" ], [ "Used by", "opt" ] ],
                rows, q ? "No middleware matches the filter." : "No middlewares defined."));
}

function renderEntrypoints(d, q) {
  const rows = shown(d.entrypoints.map((e) =>
    h("tr", {},
      h("td", { class: "name" }, e.name),
      h("td", {}, h("code", { class: "rule" }, e.address || "")),
      h("td", {}, e.http && e.http.tls ? lock("TLS", "TLS terminated here") : h("span", { class: "muted" }, "plain")),
      h("td", { class: "opt" }, d.routers.filter((r) => !r.entryPoints || !r.entryPoints.length || r.entryPoints.includes(e.name)).length + " routers"))), q);
  document.getElementById("entrypoints").replaceChildren(table("Where the proxy listens",
    [["Name"], ["Address"], ["TLS"], ["Routers", "opt"]], rows, "No entry points."));
}

function renderErrors(d, q) {
  const rows = shown(d.errors.map((e) => {
    if (typeof e === "string") return h("tr", {}, h("td", {}, ""), h("td", {}, ""), h("td", {}, e));
    const what = [e.kind, [e.namespace || e.ns, e.name].filter(Boolean).join("/")].filter(Boolean).join(" ");
    return h("tr", {},
      h("td", {}, h("code", { class: "rule" }, e.source || "")),
      h("td", { class: "name" }, what),
      h("td", { class: "errs-cell" }, h("span", { class: "status s-disabled" }, "error"), " ", e.message || e.error || ""));
  }), q);
  const unreadable = d.errors.some((e) => typeof e === "object" && !e.kind && !e.name);
  document.getElementById("errors").replaceChildren(table(
      unreadable
          ? "A file could not be read: its last good version still serves; the objects listed were skipped"
          : "Objects that were skipped; the rest of the configuration is live",
      [ [ "Source" ], [ "Object" ], [ "Problem" ] ], rows,
      "No configuration errors. Everything loaded."));
}

function render() {
  const d = state.data;
  if (!d) return;
  const q = document.getElementById("filter").value.trim().toLowerCase();
  renderOverview(d);
  renderRouters(d, q);
  renderServices(d, q);
  renderMiddlewares(d, q);
  renderEntrypoints(d, q);
  renderErrors(d, q);
  for (const t of ["routers", "services", "middlewares", "entrypoints", "errors"])
    document.getElementById("n-" + t).textContent = d[t].length;
  document.getElementById("n-errors").classList.toggle("has", d.errors.length > 0);
  const v = d.version;
  document.getElementById("version").textContent = v ? "v" + (v.Version || v.version || "") : "";
}

function showUpdated() {
  const el = document.getElementById("updated");
  el.classList.toggle("paused", state.paused);
  el.classList.toggle("stale", state.failed);
  if (state.paused) el.textContent = "paused";
  else if (state.failed) el.textContent = "cannot reach the API";
  else if (state.last) el.textContent = "updated " + Math.round((Date.now() - state.last) / 1000) + " s ago";
}

async function refresh() {
  clearTimeout(state.timer);
  try {
    state.data = await load();
    state.last = Date.now();
    state.failed = false;
    document.getElementById("problem").hidden = true;
    document.getElementById("main").classList.remove("stale-data");
    render();
  } catch (e) {
    state.failed = true;
    const p = document.getElementById("problem");
    p.textContent =
        "The API did not answer (" + e.message + "). Showing the last data, greyed; retrying.";
    p.hidden = false;
    document.getElementById("main").classList.add("stale-data");
  }
  showUpdated();
  if (!state.paused) state.timer = setTimeout(refresh, REFRESH_MS);
}

function init() {
  for (const t of TABS) document.getElementById("tab-" + t).addEventListener("click", () => showTab(t, false));
  document.querySelector(".tabs").addEventListener("keydown", (e) => {
    const i = TABS.findIndex((t) => document.getElementById("tab-" + t).getAttribute("aria-selected") === "true");
    const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
    if (step) { e.preventDefault(); showTab(TABS[(i + step + TABS.length) % TABS.length], true); }
  });
  document.getElementById("filter").addEventListener("input", render);
  document.getElementById("pause").addEventListener("click", (e) => {
    state.paused = !state.paused;
    e.currentTarget.setAttribute("aria-pressed", String(state.paused));
    e.currentTarget.textContent = state.paused ? "Resume" : "Pause";
    if (state.paused) clearTimeout(state.timer); else refresh();
    showUpdated();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden && !state.paused) refresh(); });
  setInterval(showUpdated, 1000);
  const start = location.hash.replace(/^#\/?/, ""); /* #/services, or an older #services */
  showTab(TABS.includes(start) ? start : "routers", false);
  refresh();
}

init();
