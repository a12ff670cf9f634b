// Drives the capture UI (web/capture/) in headless Chromium for tests/e2e/test_capture_ui.py:
// signs in, searches by caller, opens a call and counts the ladder's arrows, clicks one and
// reads its SIP text, downloads the PCAP, opens the stats page, and watches a call sent
// after the live view opened appear there. Screenshots: PREFIX-{login,search,call,
// call-light,stats,live}.png.
//   node tests/e2e/capture_ui.mjs --url URL --user U --password P --shots PREFIX
//        --caller USER --rows N --arrows N [--pager-caller USER --pager-total N] [--calls N]
//        --live-callid CID --live-hep FILE --hep HOST:PORT
// FILE holds one hex-encoded HEP packet per line, sent over UDP to HOST:PORT once the
// live view says it is connected. Prints one JSON line {ok, problems, ...}; exit 0 if ok.
import { chromium } from "playwright-core";
import dgram from "node:dgram";
import fs from "node:fs";

const TIMEOUT = 30000; /* per step: generous for a loaded CI box running ASan builds */

function parseArgs(argv) {
  const a = {};
  for (let i = 0; i + 1 < argv.length; i += 2) {
    if (!argv[i].startsWith("--")) throw new Error("bad argument " + argv[i]);
    a[argv[i].slice(2)] = argv[i + 1];
  }
  for (const k of ["url", "user", "password", "shots", "caller", "rows", "arrows"]) {
    if (!a[k]) throw new Error("--" + k + " is required");
  }
  return a;
}

async function sendHep(file, target) {
  const [host, port] = [target.slice(0, target.lastIndexOf(":")), parseInt(target.slice(target.lastIndexOf(":") + 1), 10)];
  const sock = dgram.createSocket("udp4");
  for (const line of fs.readFileSync(file, "utf8").split("\n").filter(Boolean)) {
    await new Promise((res, rej) => sock.send(Buffer.from(line.trim(), "hex"), port, host, (e) => (e ? rej(e) : res())));
  }
  sock.close();
}

async function run(a) {
  const problems = [], consoleLines = [], out = {};
  const check = (cond, what) => { if (!cond) problems.push(what); return cond; };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: "dark", acceptDownloads: true });
    const page = await ctx.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on("console", (m) => { if (m.type() === "error") consoleLines.push(m.text()); });
    page.on("pageerror", (e) => consoleLines.push("pageerror: " + e.message));
    await page.goto(a.url, { waitUntil: "load" });

    // Login: a wrong password is refused, the right one opens the search view.
    await page.waitForSelector("#view-login:not([hidden])");
    await page.fill("#login-user", a.user);
    await page.fill("#login-pass", a.password + "-wrong");
    await page.click("#login-form button[type=submit]");
    await page.waitForSelector("#login-error:not([hidden])");
    out.loginError = (await page.textContent("#login-error")).trim();
    await page.screenshot({ path: a.shots + "-login.png" });
    await page.fill("#login-pass", a.password);
    await page.click("#login-form button[type=submit]");
    await page.waitForSelector("#view-search:not([hidden])");
    await page.waitForSelector("#results tbody tr");

    // Search by caller.
    await page.fill("#f-caller", a.caller);
    await page.click("#search-go");
    await page.waitForFunction((c) => {
      const rows = [...document.querySelectorAll("#results tbody tr[data-callid]")];
      return rows.length > 0 && rows.every((r) => r.querySelector(".parties").textContent.startsWith(c));
    }, a.caller);
    const rows = await page.$$eval("#results tbody tr[data-callid]", (trs) => trs.map((r) => ({
      callid: r.dataset.callid,
      parties: r.cells[1].textContent,
      status: r.cells[2].textContent.trim(),
      messages: r.cells[4].textContent.trim(),
    })));
    out.rows = rows;
    out.count = (await page.textContent("#result-count")).trim();
    check(rows.length === parseInt(a.rows, 10), "search by caller " + a.caller + " shows " + rows.length + " rows, want " + a.rows);
    await page.screenshot({ path: a.shots + "-search.png", fullPage: true });

    // Paging: 25 rows a page, the rest on the next one.
    if (a["pager-caller"]) {
      const total = parseInt(a["pager-total"], 10);
      await page.fill("#f-caller", a["pager-caller"]);
      await page.selectOption("#f-limit", "25");
      await page.click("#search-go");
      await page.waitForFunction((c) => document.querySelector("#results tbody tr[data-callid] .parties")?.textContent.startsWith(c), a["pager-caller"]);
      const first = await page.$$eval("#results tbody tr[data-callid]", (trs) => trs.map((r) => r.dataset.callid));
      check(first.length === Math.min(25, total), "page 1 has " + first.length + " rows");
      check((await page.textContent("#page-info")) === "1–" + Math.min(25, total) + " of " + total, "page info " + (await page.textContent("#page-info")));
      await page.click("#page-next");
      await page.waitForFunction(() => document.getElementById("page-info").textContent.startsWith("26–"));
      const second = await page.$$eval("#results tbody tr[data-callid]", (trs) => trs.map((r) => r.dataset.callid));
      check(second.length === total - 25, "page 2 has " + second.length + " rows");
      check(new Set(first.concat(second)).size === total, "pages overlap");
      check(await page.isDisabled("#page-next"), "next enabled on the last page");
      out.paged = [first.length, second.length];
      await page.fill("#f-caller", a.caller);
      await page.selectOption("#f-limit", "50");
      await page.click("#search-go");
      await page.waitForFunction((c) => document.querySelector("#results tbody tr[data-callid] .parties")?.textContent.startsWith(c), a.caller);
    }

    // The call view: the ladder's arrows, then the SIP text of the second one.
    await page.click("#results tbody tr[data-callid]");
    await page.waitForSelector("#ladder svg .msg");
    const arrows = await page.$$eval("#ladder svg .msg", (gs) => gs.map((g) => g.querySelector(".lbl").textContent));
    out.arrows = arrows;
    check(arrows.length === parseInt(a.arrows, 10), "ladder has " + arrows.length + " arrows, want " + a.arrows);
    await page.click("#ladder svg .msg[data-index='1']");
    const raw = await page.textContent("#msg-raw");
    out.clicked = raw.split("\n")[0];
    check(raw.startsWith("SIP/2.0 ") || /^[A-Z]+ sip:/.test(raw), "clicked arrow shows no SIP start line: " + raw.slice(0, 80));
    check(raw.includes("Call-ID: " + rows[0].callid), "clicked arrow's text lacks Call-ID " + rows[0].callid);
    check(raw.split("\n")[0].includes(arrows[1].split(" ")[0]), "arrow '" + arrows[1] + "' shows '" + raw.split("\n")[0] + "'");
    check(await page.$$eval("#msg-raw .h", (s) => s.length) >= 5, "SIP headers not highlighted");
    check(await page.$eval("#ladder svg .msg[data-index='1']", (g) => g.classList.contains("sel")), "clicked arrow not selected");
    await page.keyboard.press("ArrowDown"); // the keyboard walks the ladder
    const next = (await page.textContent("#msg-raw")).split("\n")[0];
    check(next.includes(arrows[2].split(" ")[0]) && await page.$eval("#ladder svg .msg[data-index='2']", (g) => g.classList.contains("sel")),
      "ArrowDown did not select '" + arrows[2] + "' (shows '" + next + "')");
    await page.keyboard.press("ArrowUp");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#dl-pcap")]);
    const pcap = fs.readFileSync(await download.path());
    out.pcapBytes = pcap.length;
    check(pcap.length > 24 && pcap.readUInt32LE(0) === 0xa1b2c3d4, "PCAP download is not a pcap (" + pcap.length + " bytes)");
    check(download.suggestedFilename().endsWith(".pcap"), "PCAP file name " + download.suggestedFilename());
    await page.screenshot({ path: a.shots + "-call.png", fullPage: true });
    await page.emulateMedia({ colorScheme: "light" });
    await page.screenshot({ path: a.shots + "-call-light.png", fullPage: true });
    await page.emulateMedia({ colorScheme: "dark" });

    // Back keeps the search (it lives in the address bar).
    await page.click("#call-back");
    await page.waitForSelector("#view-search:not([hidden]) #results tbody tr[data-callid]");
    check((await page.inputValue("#f-caller")) === a.caller, "Back lost the caller field");
    check(decodeURIComponent(new URL(page.url()).hash).includes("caller=" + a.caller), "search not in the address: " + page.url());
    check((await page.$$("#results tbody tr[data-callid]")).length === rows.length, "Back changed the results");

    // Stats: the cards and the charts.
    await page.click("#nav-stats");
    await page.waitForSelector("#stats-cards .card");
    await page.waitForSelector("#chart-calls svg rect");
    await page.waitForSelector("#chart-codes svg rect");
    const cards = await page.$$eval("#stats-cards .card", (cs) => Object.fromEntries(cs.map((c) =>
      [c.querySelector("h3").textContent, c.querySelector(".big").textContent])));
    out.cards = cards;
    if (a.calls) check(cards.Calls === a.calls, "stats show " + cards.Calls + " calls, want " + a.calls);
    check(/^\d+(\.\d)?%$/.test(cards.ASR || ""), "stats ASR " + cards.ASR);
    out.codes = await page.$$eval("#chart-codes svg text.lbl", (ts) => ts.map((t) => t.textContent));
    check(out.codes.includes("200"), "response-code chart lacks 200: " + out.codes);
    await page.screenshot({ path: a.shots + "-stats.png", fullPage: true });

    // Live: a call sent now shows up without reloading.
    if (a["live-callid"]) {
      await page.click("#nav-live");
      await page.waitForFunction(() => document.getElementById("live-state").textContent === "live");
      await sendHep(a["live-hep"], a.hep);
      const sel = "#live tbody tr[data-callid='" + a["live-callid"].replace(/'/g, "\\'") + "']";
      try {
        await page.waitForSelector(sel, { timeout: 20000 });
        out.live = await page.textContent(sel);
      } catch (e) {
        problems.push("live call " + a["live-callid"] + " did not appear");
      }
      try { // announced at its INVITE, the row follows the call to its final answer
        await page.waitForFunction((q) => document.querySelector(q + " .st")?.textContent === "200", sel, { timeout: 20000 });
        out.liveFinal = await page.textContent(sel);
      } catch (e) {
        problems.push("live call " + a["live-callid"] + " never showed its 200");
      }
      await page.screenshot({ path: a.shots + "-live.png", fullPage: true });
    }

    // Signing out returns to the login form; the token is gone.
    await page.click("#logout");
    await page.waitForSelector("#view-login:not([hidden])");
    check(!(await page.evaluate(() => localStorage.getItem("hearth-capture-token"))), "token kept after sign-out");
    for (const line of consoleLines) if (!/401|Unauthorized/.test(line)) problems.push("console: " + line);
    return Object.assign({ ok: problems.length === 0, problems }, out);
  } finally {
    await browser.close();
  }
}

try {
  const result = await run(parseArgs(process.argv.slice(2)));
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
} catch (e) {
  console.log(JSON.stringify({ ok: false, problems: [String((e && e.stack) || e)] }));
  process.exit(1);
}
