/* hearth capture UI, part 2: one call (#/call/ID). Fetches /api/calls/{callid}, draws the
   ladder diagram in SVG (one column per host ip:port, one arrow per message in time order,
   labelled with method or status, relative time in the left gutter), shows a clicked
   message's SIP text with syntax highlighting, the correlated legs, and the downloads. */
"use strict";

(() => {
  const { h, s, $ } = capture;
  const GUTTER = 168;   /* left column with the times */
  const COL_MIN = 150;  /* distance between two host lifelines, at least */
  const HEAD = 46;      /* height of the host boxes */
  const ROW = 40;       /* one message */
  const COL_MAX = 420;  /* ... and at most, when the panel is wide */
  const MAX_ROWS = 2000; /* a call with more messages is drawn up to here */
  const CHAR_W = 7.3;   /* approximate width of a 12px monospace character */
  let current = null;

  /* "ip:port" of a message end; accepts src "1.2.3.4:5060" or src_ip/src_port fields. */
  function endpoint(m, side) {
    const ip = m[side + "_ip"] || m[side + "Ip"], port = m[side + "_port"] || m[side + "Port"];
    if (ip) return (ip.includes(":") ? "[" + ip + "]" : ip) + (port ? ":" + port : "");
    return String(m[side] || "?");
  }

  function firstLine(raw) {
    const i = (raw || "").indexOf("\n");
    return (i < 0 ? raw || "" : raw.slice(0, i)).replace(/\r$/, "");
  }

  function header(raw, names) {
    const lines = (raw || "").split(/\r?\n/);
    for (let i = 1; i < lines.length && lines[i] !== ""; i++) {
      const c = lines[i].indexOf(":");
      if (c > 0 && names.includes(lines[i].slice(0, c).trim().toLowerCase())) return lines[i].slice(c + 1).trim();
    }
    return "";
  }

  /* The arrow's label, its colour class, and the CSeq tag shown beside it. */
  function describe(m) {
    const fl = firstLine(m.raw);
    const code = parseInt(m.status, 10) || (fl.startsWith("SIP/2.0 ") ? parseInt(fl.slice(8), 10) : 0);
    const sdp = /application\/sdp/i.test(header(m.raw, ["content-type", "c"]));
    const cseq = header(m.raw, ["cseq"]);
    if (code) {
      const reason = m.reason || fl.replace(/^SIP\/2\.0\s+\d+\s*/, "");
      return { label: code + (reason ? " " + reason : "") + (sdp ? " (SDP)" : ""), cls: "r" + Math.floor(code / 100), cseq, code };
    }
    const method = m.method || fl.split(" ")[0] || "?";
    return { label: method + (sdp ? " (SDP)" : ""), cls: "req", cseq, method };
  }

  function timeUs(m) {
    if (m.time_us !== undefined) return Number(m.time_us);
    if (m.time_ms !== undefined) return Number(m.time_ms) * 1000;
    return 0;
  }

  function relTime(us) {
    const sec = us / 1e6;
    return "+" + sec.toFixed(3) + " s";
  }

  function fit(text, px) {
    const n = Math.max(4, Math.floor(px / CHAR_W));
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  /* The SVG ladder for msgs (sorted); onPick(i) when arrow i is clicked. */
  function ladder(msgs, callid, onPick) {
    const hosts = [];
    const legIds = [callid];
    for (const m of msgs) if (m.callid && !legIds.includes(m.callid)) legIds.push(m.callid);
    const leg = (m) => (legIds.length > 1 ? "leg " + String.fromCharCode(65 + Math.min(25, legIds.indexOf(m.callid || callid))) + " · " : "");
    const ua = {};
    for (const m of msgs) {
      for (const side of ["src", "dst"]) {
        const e = endpoint(m, side);
        if (!hosts.includes(e)) hosts.push(e);
      }
      const agent = header(m.raw, ["user-agent", "server"]);
      if (agent && !ua[endpoint(m, "src")]) ua[endpoint(m, "src")] = agent;
    }
    const room = (($("ladder").clientWidth || 0) - GUTTER - 40) / Math.max(1, hosts.length);
    const need = Math.max(COL_MIN, ...msgs.map((m) => describe(m).label.length * CHAR_W + 24));
    const col = Math.max(need, Math.min(COL_MAX, room));
    const x = (e) => GUTTER + col / 2 + hosts.indexOf(e) * col;
    const width = GUTTER + hosts.length * col + 40;
    const height = HEAD + 16 + msgs.length * ROW + 10;
    const svg = s("svg", { width, height, viewBox: "0 0 " + width + " " + height, role: "img",
                           "aria-label": "SIP ladder diagram, " + msgs.length + " messages between " + hosts.length + " hosts" });
    const t0 = msgs.length ? timeUs(msgs[0]) : 0;

    hosts.forEach((e) => {
      const cx = x(e), w = col - 24;
      svg.append(s("g", { class: "host" },
        s("title", {}, e + (ua[e] ? "\n" + ua[e] : "")),
        s("rect", { x: cx - w / 2, y: 4, width: w, height: HEAD - 10, rx: 5 }),
        s("text", { x: cx, y: ua[e] ? 20 : 27, "text-anchor": "middle" }, fit(e, w - 10)),
        ua[e] ? s("text", { x: cx, y: 34, "text-anchor": "middle", class: "sub" }, fit(ua[e], w - 10)) : null),
        s("line", { class: "life", x1: cx, y1: HEAD - 6, x2: cx, y2: height - 4 }));
    });

    msgs.forEach((m, i) => {
      const d = describe(m);
      const y = HEAD + 16 + i * ROW + ROW / 2 + 4;
      const xs = x(endpoint(m, "src")), xd = x(endpoint(m, "dst"));
      const g = s("g", { class: "msg " + d.cls, "data-index": i, tabindex: 0, role: "button",
                         "aria-label": d.label + " from " + endpoint(m, "src") + " to " + endpoint(m, "dst") });
      const prev = i ? timeUs(msgs[i - 1]) : timeUs(m);
      g.append(s("title", {}, capture.fmtTime(timeUs(m) / 1000) + " (" + relTime(timeUs(m) - prev).replace("+", "Δ ") + ")"));
      g.append(s("rect", { class: "hit", x: 0, y: y - 24, width, height: ROW }));
      g.append(s("text", { class: "t", x: 8, y: y + 4 }, relTime(timeUs(m) - t0)));
      g.append(s("text", { class: "t", x: 78, y: y + 4 }, capture.fmtTime(timeUs(m) / 1000, false)));
      if (xs === xd) {
        g.append(s("path", { class: "loop", d: "M" + xs + " " + (y - 8) + " h36 v12 h-30" }));
        g.append(s("polygon", { class: "head", points: (xs + 2) + "," + (y + 4) + " " + (xs + 10) + "," + y + " " + (xs + 10) + "," + (y + 8) }));
        g.append(s("text", { class: "lbl", x: xs + 42, y: y - 2 }, d.label));
      } else {
        const dir = xd > xs ? 1 : -1;
        g.append(s("line", { x1: xs, y1: y, x2: xd - dir * 8, y2: y }));
        g.append(s("polygon", { class: "head", points: xd + "," + y + " " + (xd - dir * 10) + "," + (y - 5) + " " + (xd - dir * 10) + "," + (y + 5) }));
        g.append(s("text", { class: "lbl", x: (xs + xd) / 2, y: y - 6, "text-anchor": "middle" }, d.label));
        const tag = leg(m) + (m.transport || "").toUpperCase() + (d.cseq ? " · " + d.cseq : "");
        if (tag) g.append(s("text", { class: "tag", x: xs + dir * 6, y: y + 13, "text-anchor": dir > 0 ? "start" : "end" }, tag));
      }
      const pick = () => onPick(i);
      g.addEventListener("click", pick);
      g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pick(); } });
      svg.append(g);
    });
    return svg;
  }

  /* SIP text with spans: start line, header names, URIs, SDP keys. */
  function highlight(raw) {
    const out = [];
    const lines = (raw || "").replace(/\r\n/g, "\n").split("\n");
    let inBody = false;
    lines.forEach((line, i) => {
      if (i === 0) {
        let m;
        if ((m = /^(SIP\/2\.0)\s+(\d{3})(.*)$/.exec(line))) {
          out.push(h("span", { class: "sl" }, m[1] + " ", h("span", { class: "c" + m[2][0] }, m[2]), m[3]));
        } else if ((m = /^(\S+)\s+(\S+)\s+(.*)$/.exec(line))) {
          out.push(h("span", { class: "sl" }, h("span", { class: "m" }, m[1]), " ", h("span", { class: "u" }, m[2]), " " + m[3]));
        } else {
          out.push(line);
        }
      } else if (!inBody && line === "") {
        inBody = true;
      } else if (!inBody) {
        const c = line.indexOf(":");
        if (c > 0 && !/^\s/.test(line)) {
          out.push(h("span", { class: "h" }, line.slice(0, c)), h("span", { class: "p" }, ":"), ...uris(line.slice(c + 1)));
        } else {
          out.push(...uris(line));
        }
      } else if (/^[a-z]=/.test(line)) {
        out.push(h("span", { class: "sk" }, line.slice(0, 2)), h("span", { class: "sv" }, line.slice(2)));
      } else {
        out.push(h("span", { class: "body" }, line));
      }
      if (i < lines.length - 1) out.push("\n");
    });
    return out;
  }

  function uris(text) {
    const parts = [];
    const re = /(sips?:|tel:)[^\s<>;,"]+/g;
    let last = 0, m;
    while ((m = re.exec(text))) {
      parts.push(text.slice(last, m.index), h("span", { class: "u" }, m[0]));
      last = m.index + m[0].length;
    }
    parts.push(text.slice(last));
    return parts;
  }

  function pick(i) {
    if (!current) return;
    const m = current.msgs[i];
    const d = describe(m);
    for (const g of document.querySelectorAll("#ladder .msg")) g.classList.toggle("sel", Number(g.dataset.index) === i);
    $("msg-title").textContent = "#" + (i + 1) + " " + d.label;
    const bytes = new TextEncoder().encode(m.raw || "").length;
    const t = timeUs(m);
    const delta = i ? "  (" + relTime(t - timeUs(current.msgs[i - 1])).replace("+", "+Δ ") + ")" : "";
    $("msg-meta").textContent = capture.fmtTime(t / 1000) + String(Math.floor(t % 1000)).padStart(3, "0") + delta + "  " +
      endpoint(m, "src") + " → " + endpoint(m, "dst") + "  " + (m.transport || "").toUpperCase() + "  " + bytes + " bytes" +
      (m.callid && m.callid !== current.callid ? "  leg " + m.callid : "");
    current.sel = i;
    $("msg-raw").replaceChildren(...highlight(m.raw));
    $("msg-raw").scrollTop = 0;
  }

  function fact(name, value) {
    return value === "" || value === null || value === undefined ? null : h("div", {}, h("dt", {}, name), h("dd", {}, value));
  }

  /* Caller, callee and final status from the messages when the API does not name them. */
  function summary(body, msgs) {
    if (body.call && typeof body.call === "object") body = Object.assign({}, body.call, body);
    const first = msgs.find((m) => !describe(m).code) || msgs[0] || {};
    const user = (v) => (/(?:sips?|tel):([^@;>]+)/.exec(v || "") || [])[1] || "";
    const final = msgs.map(describe).find((d) => d.code >= 200 && /INVITE/i.test(d.cseq));
    const start = msgs.length ? timeUs(msgs[0]) / 1000 : null;
    const end = msgs.length ? timeUs(msgs[msgs.length - 1]) / 1000 : null;
    return {
      caller: body.caller || user(header(first.raw, ["from", "f"])),
      callee: body.callee || user(header(first.raw, ["to", "t"])),
      status: body.status || (final ? final.code : 0),
      start: capture.ms(body.start) || start,
      end: capture.ms(body.end) || end,
    };
  }

  function legs(list, self) {
    const el = $("legs");
    const items = (Array.isArray(list) ? list : []).map((l) => (typeof l === "string" ? { callid: l } : l))
      .filter((l) => l && l.callid && l.callid !== self);
    if (!items.length) { el.replaceChildren(); return; }
    el.replaceChildren(h("h2", {}, "Correlated legs"), h("ul", {}, items.map((l) =>
      h("li", {}, h("a", { href: "#/call/" + encodeURIComponent(l.callid) }, l.callid),
        l.caller || l.callee ? h("span", { class: "muted" }, "  " + (l.caller || "?") + " → " + (l.callee || "?")) : null,
        l.messages !== undefined ? h("span", { class: "muted" }, "  · " + l.messages + " msgs") : null,
        l.relation || l.by ? h("span", { class: "muted" }, "  · " + (l.relation || l.by)) : null))));
  }

  async function show(callid) {
    current = null;
    $("call-id").textContent = callid;
    $("call-parties").textContent = "loading…";
    $("call-facts").replaceChildren();
    $("ladder").replaceChildren();
    $("legs").replaceChildren();
    $("msg-title").textContent = "Message";
    $("msg-meta").textContent = "Click an arrow to see the SIP message.";
    $("msg-raw").replaceChildren();
    const base = "api/calls/" + encodeURIComponent(callid);
    $("dl-pcap").onclick = () => capture.download(base + ".pcap", callid + ".pcap");
    $("dl-txt").onclick = () => capture.download(base + ".txt", callid + ".txt");
    $("dl-svg").onclick = () => capture.download(base + "/flow.svg", callid + ".svg");
    let body;
    try {
      body = await capture.api(base);
    } catch (e) {
      $("call-parties").textContent = "Call not found";
      capture.problem(e);
      return;
    }
    const msgs = (Array.isArray(body.messages) ? body.messages : []).slice()
      .sort((a, b) => timeUs(a) - timeUs(b)).slice(0, MAX_ROWS);
    current = { callid, msgs };
    const sum = summary(body, msgs);
    $("call-parties").replaceChildren(capture.parties(sum));
    const hosts = new Set(msgs.flatMap((m) => [endpoint(m, "src"), endpoint(m, "dst")]));
    $("call-facts").replaceChildren(...[
      fact("Start", capture.fmtTime(sum.start)),
      fact("Duration", capture.fmtDuration(sum.end && sum.start ? sum.end - sum.start : null)),
      h("div", {}, h("dt", {}, "Status"), h("dd", {}, capture.statusBadge(sum))),
      fact("Messages", String(msgs.length)),
      fact("Hosts", String(hosts.size)),
    ].filter(Boolean));
    $("ladder-count").textContent = msgs.length + " messages";
    $("ladder").replaceChildren(ladder(msgs, callid, pick));
    $("ladder").onkeydown = (ev) => { /* Up/Down walk the messages */
      const step = ev.key === "ArrowDown" ? 1 : ev.key === "ArrowUp" ? -1 : 0;
      if (!step || !current || !current.msgs.length) return;
      ev.preventDefault();
      const i = Math.max(0, Math.min(current.msgs.length - 1, (current.sel ?? -1) + step));
      pick(i);
      const g = document.querySelector("#ladder .msg[data-index='" + i + "']");
      if (g) g.focus();
    };
    legs(body.legs, callid);
    if (msgs.length) pick(0);
  }

  capture.views.call = show;
})();
