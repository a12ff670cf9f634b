/* hearth analytics tracker: Umami's data-* attributes and window.umami API, POSTs to <host>/api/send */
(function (w, d, l, h) {
  var s = d.currentScript, a = function (k) { return s && s.getAttribute("data-" + k); };
  var site = a("website-id");
  if (!site || w.umami) return;
  var host = (a("host-url") || s.src.split("/").slice(0, -1).join("/")).replace(/\/$/, "");
  var doms = (a("domains") || "").split(",").map(function (x) { return x.trim(); }).filter(Boolean);
  var tag = a("tag") || void 0, nav = navigator, cache = "", ident, url, ref;
  var dnt = a("do-not-track") == "true" && (nav.doNotTrack == "1" || w.doNotTrack == "1");
  var here = function (u) {
    u = new URL(u, l.href);
    if (a("exclude-search") == "true") u.search = "";
    if (a("exclude-hash") == "true") u.hash = "";
    return u.href;
  };
  var off = function () {
    var ls;
    try { ls = localStorage.getItem("umami.disabled"); } catch (e) {}
    return ls || dnt || (doms.length && doms.indexOf(l.hostname) < 0);
  };
  var base = function () {
    return { website: site, screen: screen.width + "x" + screen.height, language: nav.language,
      title: d.title, hostname: l.hostname, url: url, referrer: ref, tag: tag, id: ident };
  };
  var hookName = a("before-send"), creds = a("fetch-credentials") || "omit";
  var send = function (p, type) {
    if (off()) return Promise.resolve();
    type = type || "event";
    var hook = hookName && w[hookName];
    return Promise.resolve(typeof hook == "function" ? hook(type, p) : p).then(function (p) {
      if (!p) return;
      var hd = { "Content-Type": "application/json" };
      if (cache) hd["x-umami-cache"] = cache;
      return fetch(host + "/api/send", { method: "POST", keepalive: true, credentials: creds, headers: hd,
        body: JSON.stringify({ type: type, payload: p }) })
        .then(function (r) { return r.json(); })
        .then(function (j) { if (j && j.cache) cache = j.cache; }, function () {});
    });
  };
  var track = function (n, data) {
    if (typeof n == "string") return send(Object.assign(base(), { name: n, data: data }));
    if (typeof n == "function") return send(n(base()));
    if (n && typeof n == "object") return send(Object.assign({ website: site }, n));
    return send(base());
  };
  var identify = function (id, data) {
    if (typeof id == "string") ident = id;
    else data = id;
    cache = "";
    return send(Object.assign(base(), { data: data }), "identify");
  };
  var hook = function (m) {
    var orig = h[m];
    h[m] = function (st, t, u) {
      var r = orig.apply(this, arguments);
      if (u != null) {
        var next = here(u);
        if (next != url) {
          ref = url;
          url = next;
          if (auto) setTimeout(track, 300);
        }
      }
      return r;
    };
  };
  var auto = a("auto-track") != "false";
  url = here(l.href);
  ref = d.referrer && d.referrer.indexOf(l.origin) ? here(d.referrer) : "";
  hook("pushState");
  hook("replaceState");
  d.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest("[data-umami-event]"), data = {}, i, at;
    if (!el) return;
    for (i = 0; i < el.attributes.length; i++) {
      at = el.attributes[i];
      if (at.name.indexOf("data-umami-event-") == 0) data[at.name.slice(17)] = at.value;
    }
    track(el.getAttribute("data-umami-event"), data);
  }, true);
  w.umami = { track: track, identify: identify };
  var first = function () {
    if (d.readyState != "complete") return;
    d.removeEventListener("readystatechange", first, true);
    if (auto) track();
  };
  d.addEventListener("readystatechange", first, true);
  first();
})(window, document, location, history);
