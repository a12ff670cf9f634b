// Drives the proxy dashboard (web/proxy/) in headless Chromium for tests/e2e/test_proxy*.py:
// opens the page, waits for the routers the test names, checks each router's and each
// server's status as shown, that problems are listed first and that the routers card's
// error count shows them, looks at every tab, and saves light and dark screenshots.
//   node tests/e2e/proxy_dashboard.mjs --url URL --shot FILE.png
//        [--router NAME=STATUS]... [--server URL=UP|DOWN]... [--down-router NAME]... [--errors N]
// Prints one JSON line {ok, problems, routers, servers, console}; exit status 0 only when ok.
import { chromium } from "playwright-core";

function parseArgs(argv) {
  const a = { routers: [], servers: [], downRouters: [], errors: null };
  for (let i = 0; i + 1 < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === "--url") a.url = v;
    else if (k === "--shot") a.shot = v;
    else if (k === "--router") a.routers.push(v.split("="));
    else if (k === "--server") a.servers.push([v.slice(0, v.lastIndexOf("=")), v.slice(v.lastIndexOf("=") + 1)]);
    else if (k === "--down-router") a.downRouters.push(v);
    else if (k === "--errors") a.errors = parseInt(v, 10);
    else throw new Error("unknown argument " + k);
  }
  if (!a.url || !a.shot) throw new Error("--url and --shot are required");
  return a;
}

async function run(a) {
  const problems = [], consoleLines = [];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: "light" });
    const page = await ctx.newPage();
    page.on("console", (m) => { if (m.type() === "error") consoleLines.push(m.text()); });
    page.on("pageerror", (e) => consoleLines.push("pageerror: " + e.message));
    await page.goto(a.url, { waitUntil: "load", timeout: 15000 });
    await page.waitForSelector("#routers tbody tr, #routers .empty", { timeout: 15000 });

    const routers = await page.$$eval("#routers tbody tr", (rows) => rows.map((r) => ({
      name: r.getAttribute("data-router"),
      status: r.querySelector(".status")?.textContent.trim(),
      rule: r.querySelector(".rule")?.textContent.trim(),
      down: !!r.querySelector(".s-down"),
    })));
    for (const name of a.downRouters) {
      const r = routers.find((x) => x.name === name);
      if (!r || !r.down) problems.push("router " + name + " is not flagged: no server of its service is up");
    }
    for (const r of routers)
      if (r.down && !a.downRouters.includes(r.name)) problems.push("router " + r.name + " flagged down");
    /* nothing focused by the page itself (a fragment naming a panel had drawn a focus ring) */
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.tagName);
    if (focused && focused !== "BODY") problems.push("the page focused a " + focused + " on load");
    /* what needs attention first: disabled, warnings, then routes with no server up */
    const rank = (r) => (r.status === "disabled" ? 0 : r.status === "warning" ? 1 : r.down ? 2 : 3);
    for (let i = 1; i < routers.length; i++)
      if (rank(routers[i]) < rank(routers[i - 1])) {
        problems.push("router " + routers[i].name + " listed after " + routers[i - 1].name);
        break;
      }
    /* the routers card's error count opens the routers tab with only the disabled ones */
    if (routers.some((r) => r.status === "disabled")) {
      const link = await page.$("#overview .card:first-child .legend a");
      if (!link) problems.push("the routers card's error count is not a link");
      else {
        await link.click();
        const kept = await page.$$eval("#routers tbody tr", (rows) => rows.map((r) => r.querySelector(".status")?.textContent.trim()));
        if (!kept.length || kept.some((st) => st !== "disabled")) problems.push("the error count shows " + JSON.stringify(kept));
        await page.fill("#filter", "");
      }
    }
    const card = await page.textContent("#overview");
    if (a.servers.some(([, st]) => st === "DOWN") && !/\d+ down: /.test(card))
      problems.push("the servers card does not name the server down: " + card);
    for (const [name, status] of a.routers) {
      const r = routers.find((x) => x.name === name);
      if (!r) problems.push("router " + name + " not shown");
      else if (status && r.status !== status) problems.push("router " + name + " shows " + r.status + ", want " + status);
    }

    /* the filter keeps the rows whose shown text holds it: a router's own name keeps it;
       a word only in the API's JSON (a member's name) keeps none */
    if (routers.length) {
      const name = routers[0].name;
      await page.fill("#filter", name);
      const kept = await page.$$eval("#routers tbody tr", (rows) => rows.map((r) => r.getAttribute("data-router")));
      if (!kept.includes(name) || kept.some((n) => !routers.find((x) => x.name === n)))
        problems.push("filter " + name + " keeps " + JSON.stringify(kept));
      await page.fill("#filter", "entrypoints");
      const hidden = await page.$$eval("#routers tbody tr", (rows) => rows.length);
      if (hidden) problems.push("filter 'entrypoints', in no row's text, keeps " + hidden + " routers");
      await page.fill("#filter", "");
    }

    await page.click("#tab-services");
    await page.waitForSelector("#services:not([hidden])");
    const servers = await page.$$eval("#services .servers li", (lis) => lis.map((li) => ({
      url: li.textContent.replace(li.querySelector(".status")?.textContent || "", "").trim(),
      status: li.querySelector(".status")?.textContent.trim(),
    })));
    for (const [url, status] of a.servers) {
      const s = servers.find((x) => x.url === url);
      if (!s) problems.push("server " + url + " not shown");
      else if (s.status !== status) problems.push("server " + url + " shows " + s.status + ", want " + status);
    }

    for (const tab of ["middlewares", "entrypoints", "errors"]) {
      await page.click("#tab-" + tab);
      if (await page.isHidden("#" + tab)) problems.push("tab " + tab + " does not open");
    }
    if (a.errors !== null) {
      const n = parseInt(await page.textContent("#n-errors"), 10);
      if (n !== a.errors) problems.push("config errors count " + n + ", want " + a.errors);
    }

    await page.click("#tab-routers");
    await page.screenshot({ path: a.shot, fullPage: true });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.screenshot({ path: a.shot.replace(/\.png$/, "") + "-dark.png", fullPage: true });
    for (const line of consoleLines) problems.push("console: " + line);
    return { ok: problems.length === 0, problems, routers, servers, console: consoleLines };
  } finally {
    await browser.close();
  }
}

try {
  const result = await run(parseArgs(process.argv.slice(2)));
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
} catch (e) {
  console.log(JSON.stringify({ ok: false, problems: [String(e && e.message || e)] }));
  process.exit(1);
}
