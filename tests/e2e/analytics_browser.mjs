// Drives hearth analytics in headless Chromium for tests/e2e/test_analytics_browser.py.
// Phase 1, the tracker: opens a test page served from another origin that loads hearth's
// /script.js, and checks the automatic pageview, a pushState navigation, a click on a
// data-umami-event element, umami.track('signup', {plan: 'pro'}) and umami.identify('user-42',
// {tier: 'gold'}); that every event after the first carries the x-umami-cache token from the
// previous answer (so the cross-origin response was readable: CORS works) while identify
// starts without it; that a page outside data-domains sends nothing; and that with
// data-auto-track="false" only umami.track() sends, without the query and fragment.
// Phase 2, the dashboard: logs in, adds a website (its snippet must name it), opens the
// tracked website and checks the summary cards against /stats, the tables, the chart and
// its tooltip, and the realtime count; light and dark screenshots.
//   node tests/e2e/analytics_browser.mjs --page URL --other URL --manual URL --base URL --password PW
//        --website ID --shot FILE.png
// Prints one JSON line {ok, problems, sends, cards, stats, console}; exit 0 only when ok.
import { chromium } from "playwright-core";

function parseArgs(argv) {
  const a = { user: "admin" };
  for (let i = 0; i + 1 < argv.length; i += 2) {
    const [k, v] = [argv[i].replace(/^--/, ""), argv[i + 1]];
    if (!["page", "other", "manual", "base", "user", "password", "website", "shot"].includes(k)) throw new Error("unknown argument --" + k);
    a[k] = v;
  }
  for (const k of ["page", "other", "manual", "base", "password", "website", "shot"]) if (!a[k]) throw new Error("--" + k + " is required");
  return a;
}

const CHROME_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Records every /api/send request and its answer; next(n) waits until n were answered. */
function sendLog(page) {
  const log = [];
  page.on("requestfinished", async (req) => {
    if (!req.url().endsWith("/api/send") || req.method() !== "POST") return;
    const entry = { body: req.postDataJSON(), cache: req.headers()["x-umami-cache"] || null, status: 0, answer: null };
    log.push(entry);
    const res = await req.response();
    entry.status = res ? res.status() : 0;
    entry.answer = res ? await res.json().catch(() => null) : null;
  });
  log.next = async (n, what) => {
    for (let i = 0; i < 100 && !(log.length >= n && log.slice(0, n).every((e) => e.status)); i++) await sleep(100);
    if (log.length < n) throw new Error("no /api/send for " + what + " (" + log.length + " requests so far)");
  };
  return log;
}

async function tracker(browser, a, problems) {
  /* HeadlessChrome's own User-Agent is a bot to Umami's check (isbot), so the page runs as
     the desktop Chrome it is built from */
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-GB", userAgent: CHROME_UA });
  const page = await ctx.newPage();
  const sends = sendLog(page);
  await page.goto(a.page, { waitUntil: "load", timeout: 15000 });
  await sends.next(1, "the automatic pageview");
  await page.click("#next"); /* pushState('/spa/step2'), tracked 300 ms later */
  await sends.next(2, "the pushState navigation");
  await page.click("#cta");
  await sends.next(3, "the data-umami-event click");
  await page.evaluate(() => window.umami.track("signup", { plan: "pro" }));
  await sends.next(4, "umami.track('signup')");
  await page.evaluate(() => window.umami.identify("user-42", { tier: "gold" }));
  await sends.next(5, "umami.identify");
  await sleep(500); /* nothing else may be sent */
  const p = sends.map((s) => s.body && s.body.payload);
  const check = (c, m) => { if (!c) problems.push(m); };
  check(sends.length === 5, "want 5 sends, got " + sends.length + ": " + JSON.stringify(sends));
  check(sends.every((s, i) => s.status === 200 && s.body.type === (i < 4 ? "event" : "identify")), "sends: " + JSON.stringify(sends));
  check(p[0].website === a.website && p[0].url === a.page && !p[0].name && p[0].tag === "e2e" &&
    p[0].hostname === "127.0.0.1" && /^\d+x\d+$/.test(p[0].screen) && p[0].language === "en-GB" && p[0].title === "Tracker test",
  "first pageview payload: " + JSON.stringify(p[0]));
  check(p[1].url === new URL("/spa/step2", a.page).href && p[1].referrer === a.page && p[1].title === "Step 2" && !p[1].name,
    "pushState pageview payload: " + JSON.stringify(p[1]));
  check(p[2].name === "cta-click" && JSON.stringify(p[2].data) === JSON.stringify({ color: "blue", position: "hero" }),
    "click event payload: " + JSON.stringify(p[2]));
  check(p[3].name === "signup" && p[3].data && p[3].data.plan === "pro", "track payload: " + JSON.stringify(p[3]));
  check(p[4].id === "user-42" && p[4].data && p[4].data.tier === "gold" && sends[4].cache === null,
    "identify (a new identity starts without the cache token): " + JSON.stringify(sends[4]));
  check(sends[0].cache === null, "first send carried a cache token");
  check(sends[0].answer && typeof sends[0].answer.cache === "string", "first answer: " + JSON.stringify(sends[0].answer));
  for (let i = 1; i < 4; i++) {
    check(sends[i].cache && sends[i - 1].answer && sends[i].cache === sends[i - 1].answer.cache,
      "send " + i + " does not carry the previous answer's cache token (cross-origin response unreadable?)");
  }

  // data-domains lists another host: nothing is sent, and umami.track is still callable
  const other = await ctx.newPage();
  const quiet = sendLog(other);
  await other.goto(a.other, { waitUntil: "load", timeout: 15000 });
  await other.evaluate(() => window.umami.track("ignored"));
  await sleep(800);
  check(quiet.length === 0, "a page outside data-domains sent " + quiet.length + " requests");

  // data-auto-track="false" with data-exclude-search/-hash: only explicit calls, clean urls
  const manual = await ctx.newPage();
  const calls = sendLog(manual);
  await manual.goto(a.manual, { waitUntil: "load", timeout: 15000, referer: "https://ref.example/from?q=1#frag" });
  await sleep(800);
  check(calls.length === 0, "data-auto-track=false still sent a pageview");
  await manual.evaluate(() => window.umami.track());
  await calls.next(1, "umami.track() on the manual page");
  await manual.evaluate(() => history.pushState({}, "", "/manual-2.html?y=2"));
  await sleep(800);
  check(calls.length === 1, "data-auto-track=false still tracked pushState: " + calls.length + " requests");
  await manual.evaluate(() => window.umami.track());
  await calls.next(2, "umami.track() after pushState");
  await manual.evaluate(() => window.umami.track("secret"));
  await sleep(500);
  const [m0, m1] = calls.map((c) => c.body.payload);
  check(m0.url === new URL("/manual.html", a.manual).href && m0.referrer === "https://ref.example/from" &&
    m0.title === "redacted event" && !m0.name, "manual pageview payload: " + JSON.stringify(m0));
  check(m1.url === new URL("/manual-2.html", a.manual).href && m1.referrer === m0.url && !m1.name,
    "manual pageview after pushState: " + JSON.stringify(m1));
  check(calls.length === 2, "a payload data-before-send dropped was sent: " + JSON.stringify(calls.slice(2)));
  await ctx.close();
  return sends.map((s) => s.body);
}

/* The dashboard's number format, for the cards (app.js fmt/fmtPct). */
function fmt(n) {
  const a = Math.abs(n), short = (v, s) => (v >= 100 ? Math.round(v) : Math.round(v * 10) / 10) + s;
  return a < 1000 ? String(Math.round(n)) : a < 1e6 ? short(n / 1e3, "k") : short(n / 1e6, "M");
}

async function dashboard(browser, a, problems, consoleLines) {
  const check = (c, m) => { if (!c) problems.push(m); };
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: "light" });
  const page = await ctx.newPage();
  /* the one wrong password below is an expected 401, which Chromium logs as an error */
  page.on("console", (m) => { if (m.type() === "error" && !/status of 401/.test(m.text())) consoleLines.push(m.text()); });
  page.on("pageerror", (e) => consoleLines.push("pageerror: " + e.message));
  await page.goto(a.base + "/", { waitUntil: "load", timeout: 15000 });
  await page.waitForSelector("#login");
  await page.fill("input[name=password]", "wrong-" + a.password);
  await page.fill("input[name=username]", a.user);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#login .error:not([hidden])");
  await page.fill("input[name=password]", a.password);
  await page.click("#login button[type=submit]");
  await page.waitForSelector(`#sites [data-website="${a.website}"] .views b`, { timeout: 15000 });

  // add a website: the snippet shows its id and this server's script.js
  await page.click("#add-website");
  await page.fill("#add-form input[name=name]", "Blog");
  await page.fill("#add-form input[name=domain]", "blog.example.com");
  await page.click("#add-form button[type=submit]");
  await page.waitForSelector(".snippet pre");
  const code = await page.textContent(".snippet pre");
  const added = /data-website-id="([0-9a-f-]{36})"/.exec(code);
  check(added && code.includes(`src="${a.base}/script.js"`), "snippet: " + code);
  if (added) await page.waitForSelector(`#sites [data-website="${added[1]}"]`);
  await page.screenshot({ path: a.shot.replace(/\.png$/, "") + "-websites.png", fullPage: true });

  await page.click(`#sites [data-website="${a.website}"]`);
  await page.waitForSelector("#card-visitors");
  await page.waitForSelector("#metric-events .rows[data-type=event] li");
  await page.waitForSelector("#metric-pages .rows[data-type=path] li");
  const stats = await page.evaluate(async (id) => { /* the page's range: the last 24 whole hours */
    const h = new Date();
    h.setMinutes(0, 0, 0);
    const r = await fetch(`/api/websites/${id}/stats?startAt=${h.getTime() - 23 * 36e5}&endAt=${h.getTime() + 36e5 - 1}`,
      { headers: { Authorization: "Bearer " + localStorage.getItem("hearth.analytics.token") } });
    return r.json();
  }, a.website);
  const cards = {};
  for (const c of ["visitors", "visits", "views", "bounce", "duration"]) cards[c] = (await page.textContent(`#card-${c} .value`)).trim();
  check(cards.visitors === fmt(stats.visitors) && stats.visitors >= 1, `visitors card ${cards.visitors}, API ${stats.visitors}`);
  check(cards.visits === fmt(stats.visits), `visits card ${cards.visits}, API ${stats.visits}`);
  check(cards.views === fmt(stats.pageviews) && stats.pageviews >= 2, `views card ${cards.views}, API ${stats.pageviews}`);
  const bounce = stats.visits ? Math.round((100 * Math.min(stats.bounces, stats.visits)) / stats.visits) : 0;
  check(parseFloat(cards.bounce) === bounce || cards.bounce === bounce + "%", `bounce card ${cards.bounce}, API ${JSON.stringify(stats)}`);
  const rowsOf = (sel) => page.$$eval(sel + " .rows li", (l) => l.map((li) => li.getAttribute("data-x")));
  const paths = await rowsOf("#metric-pages"), events = await rowsOf("#metric-events");
  check(paths.includes("/") && paths.includes("/spa/step2"), "top pages: " + JSON.stringify(paths));
  check(events.includes("cta-click") && events.includes("signup"), "events: " + JSON.stringify(events));
  await page.click('#metric-env button[data-type="device"]');
  await page.waitForSelector("#metric-env .rows[data-type=device] li");
  const bars = await page.$$eval("#chart rect.views", (l) => l.length);
  check(bars >= 1, "the chart draws no bars");
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector("#active b").textContent), null, { timeout: 5000 });
  const active = parseInt(await page.textContent("#active b"), 10);
  check(active >= 1, "realtime visitors: " + active);
  const bar = await page.$$("#chart rect.views");
  const box = bar.length ? await bar[bar.length - 1].boundingBox() : null;
  if (box) { /* the hover target is the transparent slot drawn over the bar */
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForSelector("#tip:not([hidden])");
    const tipText = await page.textContent("#tip");
    check(/\d+ views/.test(tipText) && /\d+ visitors/.test(tipText), "tooltip: " + tipText);
  }
  await page.selectOption("#range", "7d");
  await page.waitForURL(/range=7d/);
  await page.waitForSelector("#metric-pages .rows[data-type=path] li");
  await page.selectOption("#range", "24h");
  await page.waitForSelector("#metric-pages .rows[data-type=path] li");
  await page.mouse.move(5, 5);
  await page.screenshot({ path: a.shot, fullPage: true });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.screenshot({ path: a.shot.replace(/\.png$/, "") + "-dark.png", fullPage: true });
  await ctx.close();
  return { cards, stats };
}

const problems = [], consoleLines = [];

async function run(a) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  let sends = null, dash = {};
  try {
    try {
      sends = await tracker(browser, a, problems);
    } catch (e) {
      problems.push("tracker: " + ((e && e.stack) || e));
    }
    try {
      dash = await dashboard(browser, a, problems, consoleLines);
    } catch (e) {
      problems.push("dashboard: " + ((e && e.stack) || e));
    }
  } finally {
    await browser.close();
  }
  for (const line of consoleLines) problems.push("console: " + line);
  return { ok: problems.length === 0, problems, sends, cards: dash.cards, stats: dash.stats, console: consoleLines };
}

try {
  const result = await run(parseArgs(process.argv.slice(2)));
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
} catch (e) {
  problems.push(String((e && e.stack) || e));
  console.log(JSON.stringify({ ok: false, problems, console: consoleLines }));
  process.exit(1);
}
