/* hearth capture UI, part 3: statistics (#/stats). /api/stats answers one time range, so
   the range is asked for once whole (cards, response codes) and once per time bucket
   (calls over time, ASR, average duration and setup delay per bucket); every chart is
   drawn here in SVG. */
"use strict";

(() => {
  const { h, s, $ } = capture;
  const BUCKETS = 24;     /* points per time chart */
  const PARALLEL = 4;     /* bucket requests in flight at once */
  const H = 190;          /* chart height; the width is the figure's, so text keeps its size */
  const PAD = { l: 46, r: 12, t: 12, b: 26 };
  let seq = 0;            /* drops answers of a superseded refresh */

  const num = (v) => (v === null || v === undefined || !isFinite(Number(v)) ? null : Number(v));

  /* ASR in percent: answered / calls, else the API's asr (a fraction or a percent). */
  function asr(x) {
    const calls = num(x.calls), ans = num(x.answered);
    if (calls && ans !== null) return (100 * ans) / calls;
    const a = num(x.asr);
    if (a === null || !calls) return null;
    return a <= 1 ? a * 100 : a;
  }

  async function inBatches(tasks, n) {
    const out = new Array(tasks.length);
    let next = 0;
    const worker = async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]();
      }
    };
    await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
    return out;
  }

  function card(title, value, sub, cls) {
    return h("div", { class: "card " + (cls || "") }, h("h3", {}, title), h("div", { class: "big" }, value),
      sub ? h("div", { class: "sub" }, sub) : null);
  }

  function none(el, text) {
    el.replaceChildren(h("div", { class: "none" }, text || "No calls in this range."));
  }

  /* An axis top above v that splits into 4 round steps. */
  function niceMax(v) {
    if (!(v > 0)) return 4;
    const raw = v / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * p).find((x) => x >= raw && (raw < 1 || Number.isInteger(x)));
    return 4 * (step || 10 * p);
  }

  const widthOf = (el) => Math.max(320, Math.round(el.clientWidth || 640));

  function timeLabel(ms, spanMs) {
    const t = capture.fmtTime(ms);
    return spanMs > 2 * 86400000 ? t.slice(5, 10) + " " + t.slice(11, 16) : t.slice(11, 16);
  }

  /* Axes, grid and x labels shared by the time charts; returns {svg, x, y}. */
  function frame(el, buckets, max, fmt) {
    const W = widthOf(el);
    const svg = s("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
    const x = (i) => PAD.l + (iw * (i + 0.5)) / buckets.length;
    const y = (v) => PAD.t + ih - (ih * v) / max;
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      svg.append(s("line", { class: k ? "grid" : "axis", x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v) }),
        s("text", { x: PAD.l - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v)));
    }
    const span = buckets.length ? buckets[buckets.length - 1].to - buckets[0].from : 0;
    const every = Math.ceil(buckets.length / 8);
    buckets.forEach((b, i) => {
      if (i % every === 0) svg.append(s("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, timeLabel(b.from, span)));
    });
    return { svg, x, y, bw: (iw / buckets.length) * 0.72 };
  }

  function callsChart(el, buckets) {
    const max = niceMax(Math.max(...buckets.map((b) => num(b.calls) || 0)));
    const f = frame(el, buckets, max, (v) => String(Math.round(v)));
    buckets.forEach((b, i) => {
      const calls = num(b.calls) || 0, ans = Math.min(calls, num(b.answered) || 0);
      const fail = Math.min(calls - ans, num(b.failed) || 0), other = calls - ans - fail;
      let top = f.y(0);
      for (const [v, cls, name] of [[ans, "b-ok", "answered"], [fail, "b-fail", "failed"], [other, "b-other", "other"]]) {
        if (!v) continue;
        const hgt = f.y(0) - f.y(v);
        top -= hgt;
        f.svg.append(s("rect", { class: cls, x: f.x(i) - f.bw / 2, y: top, width: f.bw, height: hgt },
          s("title", {}, timeLabel(b.from, 0) + "–" + timeLabel(b.to, 0) + ": " + v + " " + name)));
      }
    });
    el.replaceChildren(f.svg, h("div", { class: "legend" },
      h("span", {}, h("i", { style: "background:var(--ok)" }), "answered"),
      h("span", {}, h("i", { style: "background:var(--err)" }), "failed"),
      h("span", {}, h("i", { style: "background:var(--prov)" }), "other (cancelled, no answer)")));
  }

  /* A line over the buckets of value(b) (null = gap). */
  function lineChart(el, buckets, value, fmt, fixedMax) {
    const vals = buckets.map(value);
    if (!vals.some((v) => v !== null)) { none(el, "No answered calls in this range."); return; }
    const max = fixedMax || niceMax(Math.max(...vals.filter((v) => v !== null)));
    const f = frame(el, buckets, max, fmt);
    let d = "";
    vals.forEach((v, i) => {
      if (v === null) return;
      d += (d && vals[i - 1] !== null && vals[i - 1] !== undefined ? " L" : " M") + f.x(i).toFixed(1) + " " + f.y(v).toFixed(1);
      f.svg.append(s("circle", { class: "pt", cx: f.x(i), cy: f.y(v), r: 3 }, s("title", {}, timeLabel(buckets[i].from, 0) + ": " + fmt(v))));
    });
    f.svg.prepend(s("path", { class: "line", d: d.trim() }));
    el.replaceChildren(f.svg);
  }

  function asrChart(el, total, buckets) {
    const a = asr(total);
    if (a === null) { none(el); return; }
    const r = 62, c = 2 * Math.PI * r;
    const ring = s("svg", { viewBox: "0 0 180 184", width: 180, height: 184, role: "img", "aria-label": "ASR " + a.toFixed(1) + "%", style: "max-width:180px" },
      s("circle", { class: "ring", cx: 90, cy: 82, r, "stroke-width": 16 }),
      s("circle", { class: "ring-ok", cx: 90, cy: 82, r, "stroke-width": 16, "stroke-dasharray": (c * a) / 100 + " " + c,
                    transform: "rotate(-90 90 82)" }),
      s("text", { class: "big", x: 90, y: 84, "text-anchor": "middle" }, a.toFixed(1) + "%"),
      s("text", { x: 90, y: 178, "text-anchor": "middle" }, (num(total.answered) || 0) + " / " + (num(total.calls) || 0) + " answered"));
    const trend = h("div", { style: "flex:1;min-width:0" });
    el.replaceChildren(h("div", { style: "display:flex;gap:1rem;align-items:center" }, ring, trend));
    lineChart(trend, buckets, (b) => (num(b.calls) ? asr(b) : null), (v) => Math.round(v) + "%", 100);
  }

  function codesChart(el, codes) {
    const rows = Object.entries(codes || {}).map(([k, v]) => [k, num(v) || 0]).filter(([, v]) => v > 0)
      .sort((p, q) => q[1] - p[1]).slice(0, 12);
    if (!rows.length) { none(el, "No responses in this range."); return; }
    const rowH = 20, lw = 52, width = widthOf(el), height = rows.length * rowH + 6;
    const max = Math.max(...rows.map((r) => r[1]));
    const total = rows.reduce((a, r) => a + r[1], 0);
    const svg = s("svg", { viewBox: "0 0 " + width + " " + height, width, height, role: "img" });
    rows.forEach(([code, n], i) => {
      const y = 3 + i * rowH, bw = ((width - lw - 110) * n) / max;
      svg.append(s("text", { class: "lbl", x: lw - 8, y: y + 14, "text-anchor": "end" }, code),
        s("rect", { class: "b-" + String(code)[0], x: lw, y: y + 3, width: Math.max(bw, 2), height: rowH - 6, rx: 2 }),
        s("text", { x: lw + bw + 6, y: y + 14 }, n + "  (" + ((100 * n) / total).toFixed(1) + "%)"));
    });
    el.replaceChildren(svg);
  }

  async function refresh() {
    const mine = ++seq;
    const span = parseInt($("s-range").value, 10);
    const to = Date.now(), from = to - span, step = span / BUCKETS;
    for (const id of ["chart-calls", "chart-asr", "chart-codes", "chart-duration", "chart-delay"]) none($(id), "loading…");
    let total, parts;
    try {
      total = await capture.api("api/stats?" + capture.query({ from, to }));
      const tasks = Array.from({ length: BUCKETS }, (_, i) => () => {
        const b = { from: Math.round(from + i * step), to: Math.round(from + (i + 1) * step) };
        return capture.api("api/stats?" + capture.query(b)).then((x) => Object.assign(x, b));
      });
      parts = await inBatches(tasks, PARALLEL);
    } catch (e) {
      capture.problem(e);
      return;
    }
    if (mine !== seq) return;
    const calls = num(total.calls) || 0, a = asr(total), ing = total.ingest || {};
    $("stats-cards").replaceChildren(
      card("Calls", String(calls), (num(total.answered) || 0) + " answered · " + (num(total.failed) || 0) + " failed"),
      card("ASR", a === null ? "–" : a.toFixed(1) + "%", "answered / attempts", a === null ? "" : a >= 50 ? "good" : "bad"),
      card("Avg duration", capture.fmtDuration(num(total.avg_duration_ms)) || "–", "INVITE → BYE"),
      card("Setup delay", capture.fmtDuration(num(total.avg_setup_ms)) || "–", "INVITE → first 18x/2xx"),
      card("Packets", String(num(ing.packets) ?? "–"), (num(ing.errors) || 0) + " malformed · " + (num(ing.duplicates) || 0) + " duplicates"),
      card("Dropped", String(num(ing.dropped) ?? "–"), "queue depth " + (num(ing.queue_depth) ?? "–"), num(ing.dropped) ? "bad" : "good"));
    callsChart($("chart-calls"), parts);
    asrChart($("chart-asr"), total, parts);
    codesChart($("chart-codes"), total.codes);
    lineChart($("chart-duration"), parts, (b) => (num(b.answered) ? num(b.avg_duration_ms) : null), (v) => capture.fmtDuration(v) || "0");
    lineChart($("chart-delay"), parts, (b) => (num(b.calls) ? num(b.avg_setup_ms) : null), (v) => capture.fmtDuration(v) || "0");
  }

  let wired = false;
  capture.views.stats = () => {
    if (!wired) {
      wired = true;
      $("stats-form").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
      $("s-range").addEventListener("change", refresh);
    }
    refresh();
  };
})();
