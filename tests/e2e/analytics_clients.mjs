// Drives `hearth analytics` with Umami's own npm clients for tests/e2e/test_analytics_clients.py:
// @umami/api-client logs in and creates a website, @umami/node sends pageviews, named
// events with data and an identify as three visitors (three browser User-Agents), then
// @umami/api-client reads everything back (websites, stats, pageviews, metrics, active)
// and the numbers are compared with what was sent; a bad token must give UmamiApiError 401.
//   node tests/e2e/analytics_clients.mjs --base http://127.0.0.1:PORT --password PW
// Prints one JSON line {ok, problems, websiteId, stats, pageviews, metrics, active};
// exit status 0 only when ok.
import { Umami } from "@umami/node";
import { UmamiClient, UmamiApiError } from "@umami/api-client";

const UA = {
  chrome: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
  firefox: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
  safari: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
};
const HOST = "shop.example.com";

function parseArgs(argv) {
  const a = { user: "admin" };
  for (let i = 0; i + 1 < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === "--base") a.base = v;
    else if (k === "--user") a.user = v;
    else if (k === "--password") a.password = v;
    else throw new Error("unknown argument " + k);
  }
  if (!a.base || !a.password) throw new Error("--base and --password are required");
  return a;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* What the three visitors do: [browser, kind, args]. */
const PLAN = [
  ["chrome", "view", { url: "/", title: "Home", referrer: "https://news.ycombinator.com/item?id=1" }],
  ["chrome", "view", { url: "/pricing", title: "Pricing" }],
  ["chrome", "event", ["signup", { plan: "pro", seats: 3, trial: true }]],
  ["chrome", "identify", { email: "ada@example.com", company: "Analytical Engines" }],
  ["firefox", "view", { url: "/", title: "Home", referrer: "https://www.google.com/" }],
  ["firefox", "event", ["signup", { plan: "free" }]],
  ["safari", "view", { url: "/docs?ref=nav", title: "Docs" }],
  ["safari", "event", ["download", { file: "hearth.tar.gz" }]],
];

async function run(a) {
  const problems = [];
  const check = (cond, msg) => { if (!cond) problems.push(msg); };
  const t0 = Date.now() - 60000;

  // login and website through @umami/api-client
  const anon = new UmamiClient({ baseUrl: a.base + "/api" });
  const login = await anon.login({ username: a.user, password: a.password });
  check(typeof login.token === "string" && login.token.length > 20, "login gave no token: " + JSON.stringify(login));
  check(login.user && login.user.username === a.user, "login user: " + JSON.stringify(login.user));
  const api = new UmamiClient({ baseUrl: a.base + "/api", token: login.token });
  const site = await api.createWebsite({ name: "Shop", domain: HOST });
  check(/^[0-9a-f-]{36}$/.test(site.id || ""), "createWebsite: " + JSON.stringify(site));
  const websiteId = site.id;

  // sends through @umami/node, one client per visitor
  const clients = {};
  for (const b of Object.keys(UA)) clients[b] = new Umami({ websiteId, hostUrl: a.base, userAgent: UA[b] });
  for (const [b, kind, arg] of PLAN) {
    const u = clients[b];
    let res;
    if (kind === "view") res = await u.track({ hostname: HOST, language: "en-US", screen: "1920x1080", ...arg });
    else if (kind === "event") res = await u.track(arg[0], arg[1]);
    else res = await u.identify(arg);
    const body = await res.text();
    check(res.status === 200, `${b} ${kind}: HTTP ${res.status} ${body}`);
    let j = null;
    try { j = JSON.parse(body); } catch (e) { problems.push(`${b} ${kind}: body is not JSON: ${body}`); }
    if (j) check(typeof j.cache === "string" && j.cache.split(".").length === 3 && /^[0-9a-f-]{36}$/.test(j.sessionId || ""),
      `${b} ${kind}: want {cache, sessionId, visitId}, got ${body}`);
  }
  // the api-client's own send() identifies itself as node: a bot, answered and not stored
  const beep = await api.send({ type: "event", payload: { website: websiteId, url: "/bot", hostname: HOST } })
    .catch((e) => ({ error: String(e) }));
  check(beep && beep.beep === "boop", "api-client send() (a node User-Agent) should be a bot: " + JSON.stringify(beep));

  // read back through @umami/api-client
  const range = { startAt: t0, endAt: Date.now() + 60000 };
  let stats = null;
  for (let i = 0; i < 50; i++) { /* committed before the 200, rollups may trail by a moment */
    stats = await api.getWebsiteStats(websiteId, range);
    if (stats.pageviews >= 4) break;
    await sleep(100);
  }
  check(stats.pageviews === 4, "stats.pageviews " + stats.pageviews + ", want 4 (event rows are not views)");
  check(stats.visitors === 3, "stats.visitors " + stats.visitors + ", want 3");
  check(stats.visits >= 3 && stats.visits <= 6, "stats.visits " + stats.visits + ", want 3 (6 across an hour change)");
  check(stats.bounces >= 2 && stats.bounces <= stats.visits, "stats.bounces " + stats.bounces + ", want 2");
  check(typeof stats.totaltime === "number", "stats.totaltime is not a number: " + JSON.stringify(stats));
  check(stats.comparison && stats.comparison.pageviews === 0, "stats.comparison: " + JSON.stringify(stats.comparison));

  // whole hours, as the dashboard asks: answered from the rollups, same numbers
  const hour = Math.floor(Date.now() / 36e5) * 36e5;
  const hours = { startAt: hour - 36e5, endAt: hour + 36e5 - 1 };
  let rolled = null;
  for (let i = 0; i < 50; i++) {
    rolled = await api.getWebsiteStats(websiteId, hours);
    if (rolled.pageviews >= 4) break;
    await sleep(100);
  }
  for (const k of ["pageviews", "visitors", "visits", "bounces"]) {
    check(rolled[k] === stats[k], `stats.${k} over whole hours ${rolled[k]}, over the exact range ${stats[k]}`);
  }

  const pv = await api.getWebsitePageviews(websiteId, { ...hours, unit: "hour", timezone: "UTC" });
  const sum = (l) => (l || []).reduce((s, p) => s + p.y, 0);
  check(sum(pv.pageviews) === 4, "pageviews series sums to " + sum(pv.pageviews) + ": " + JSON.stringify(pv));
  check((pv.pageviews || []).every((p) => /^\d{4}-\d\d-\d\dT\d\d:00:00Z$/.test(p.x)), "pageviews x format: " + JSON.stringify(pv.pageviews));
  check(sum(pv.sessions) >= 3, "sessions series sums to " + sum(pv.sessions));

  const metrics = {};
  for (const type of ["path", "event", "browser", "os", "referrer", "query"]) {
    metrics[type] = await api.getWebsiteMetrics(websiteId, { ...range, type });
  }
  const y = (type, x) => (metrics[type].find((m) => m.x === x) || { y: 0 }).y;
  const desc = (l) => l.every((m, i) => i === 0 || l[i - 1].y >= m.y);
  check(y("path", "/") === 2 && y("path", "/pricing") === 1 && y("path", "/docs") === 1, "path metrics: " + JSON.stringify(metrics.path));
  check(y("event", "signup") === 2 && y("event", "download") === 1, "event metrics: " + JSON.stringify(metrics.event));
  check(y("browser", "chrome") === 1 && y("browser", "firefox") === 1 && y("browser", "safari") === 1, "browser metrics: " + JSON.stringify(metrics.browser));
  check(y("os", "Linux") === 1 && y("os", "Windows 10") === 1 && y("os", "Mac OS") === 1, "os metrics: " + JSON.stringify(metrics.os));
  check(y("referrer", "news.ycombinator.com") === 1 && y("referrer", "google.com") === 1, "referrer metrics: " + JSON.stringify(metrics.referrer));
  check(y("query", "ref=nav") === 1, "query metrics: " + JSON.stringify(metrics.query));
  for (const [type, l] of Object.entries(metrics)) check(desc(l), type + " metrics not in descending y: " + JSON.stringify(l));

  const active = await api.getWebsiteActive(websiteId);
  check(active.visitors === 3, "active: " + JSON.stringify(active) + ", want {visitors: 3}");
  const sst = await api.getWebsiteSessionStats({ websiteId, ...range });
  const v = (k) => sst && sst[k] && sst[k].value;
  check(v("pageviews") === 4 && v("visitors") === 3 && v("events") === 3 && v("visits") >= 3,
    "sessions stats: " + JSON.stringify(sst) + ", want pageviews 4, visitors 3, events 3");
  const dr = await api.getWebsiteDateRange(websiteId);
  check(dr && /Z$/.test(dr.mindate || "") && /Z$/.test(dr.maxdate || "") && dr.mindate <= dr.maxdate &&
    Date.parse(dr.maxdate) >= range.startAt, "daterange: " + JSON.stringify(dr));

  const list = await api.listWebsites({ pageSize: 50 });
  check(Array.isArray(list.data) && list.data.some((w) => w.id === websiteId && w.name === "Shop" && w.domain === HOST),
    "listWebsites does not show the website: " + JSON.stringify(list));
  const one = await api.getWebsite(websiteId);
  check(one.id === websiteId && one.name === "Shop", "getWebsite: " + JSON.stringify(one));

  // bad credentials and a bad token: UmamiApiError with status 401
  for (const [what, fn] of [
    ["bad token", () => new UmamiClient({ baseUrl: a.base + "/api", token: "not-a-token" }).getWebsiteStats(websiteId, range)],
    ["no token", () => anon.listWebsites({})],
    ["bad password", () => anon.login({ username: a.user, password: a.password + "x" })],
  ]) {
    try {
      await fn();
      problems.push(what + ": no error");
    } catch (e) {
      check(e instanceof UmamiApiError && e.status === 401, what + ": want UmamiApiError 401, got " + (e && e.name) + " " + (e && e.status) + " " + e);
    }
  }
  return { ok: problems.length === 0, problems, websiteId, stats, pageviews: pv, metrics, active };
}

try {
  const result = await run(parseArgs(process.argv.slice(2)));
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
} catch (e) {
  console.log(JSON.stringify({ ok: false, problems: [String((e && e.stack) || e)] }));
  process.exit(1);
}
