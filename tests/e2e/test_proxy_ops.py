"""End-to-end tests of `hearth proxy` (part 4): what running it in production needs:
WebSocket through the proxy, hot reload under continuous load with zero failed requests,
a broken object reported and skipped, upstream down -> 502 then recovery, X-Forwarded-*
and hop-by-hop headers, streamed bodies, the HTTP smuggling and limit cases sent through
the proxy, defaultBackend, and the file provider's equivalents (round robin, weighted,
sticky cookie, active health check)."""
import hashlib
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time

from harness import Tap, connect, raw_request, read_until_close, status_of
from proxy_env import (Backend, Proxy, Responder, assert_stopped_cleanly, cpu_seconds, echo, get, header, ingress_yaml, keepalive_backends, middleware_yaml,
                       request, routed_to, service_yaml, wait_for, ws_open)

t = Tap()
NS = "ops"
S = {}


def setup():
    S["be"] = Backend("ops-be")
    S["down"] = Backend("ops-down")
    m = {
        "svc.yaml": service_yaml(NS, "be", 80, [S["be"]]),
        "svc-down.yaml": service_yaml(NS, "down", 80, [S["down"]]),
        "ing.yaml": ingress_yaml(NS, "ops", "ops.test", [("/", "Prefix", "be", 80)]),
        "ing-down.yaml": ingress_yaml(NS, "down", "down.test", [("/", "Prefix", "down", 80)]),
    }
    S["proxy"] = Proxy(m, access_log=True)
    wait_for(lambda: routed_to(S["proxy"].web, "ops.test", "/", "ops-be"), what="ops.test routed")


def teardown():
    for k in ("proxy", "be", "down", "big", "fproxy", "f1", "f2", "f3"):
        if k in S:
            S.pop(k).stop()


def ws_frame(payload, opcode=1):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read(s):
    """One unmasked server frame: (opcode, payload)."""
    buf = b""
    while len(buf) < 2:
        buf += s.recv(2 - len(buf))
    n = buf[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", s.recv(2))[0]
    data = b""
    while len(data) < n:
        data += s.recv(n - len(data))
    return buf[0] & 0x0F, data


@t.test
def starts():
    setup()


@t.test
def websocket_through_proxy():
    s = ws_open(S["proxy"].web, "ops.test")
    try:
        for msg in (b"hello", b"x" * 300):
            s.sendall(ws_frame(msg))
            assert ws_read(s) == (1, msg)
    finally:
        s.close()


@t.test
def forwarded_and_hop_by_hop_headers():
    status, _, body = get(S["proxy"].web, "/h", host="ops.test", headers={
        "Connection": "X-Secret", "X-Secret": "1", "Keep-Alive": "timeout=5", "TE": "trailers",
        "Proxy-Authorization": "Basic eA==", "Proxy-Connection": "keep-alive", "Upgrade": "h2c",
        "X-Forwarded-For": "203.0.113.9", "X-Real-Ip": "203.0.113.9"})
    assert status == 200, status
    h = echo(body)["headers"]
    for gone in ("X-Secret", "Keep-Alive", "TE", "Te", "Proxy-Authorization", "Proxy-Connection", "Upgrade"):
        assert gone not in h, (gone, h)
    assert h.get("X-Forwarded-For") == "127.0.0.1", "untrusted peer: XFF replaced: %r" % h
    assert h.get("X-Real-Ip") == "127.0.0.1", h
    assert h.get("X-Forwarded-Proto") == "http", h
    assert h.get("X-Forwarded-Host") == "ops.test", h
    assert h.get("X-Forwarded-Port") == str(S["proxy"].web) or h.get("X-Forwarded-Port") == "80", h
    assert h.get("Host") == "ops.test", "passHostHeader defaults to true: %r" % h
    assert h.get("X-Forwarded-Server") == socket.gethostname(), h
    # curl --http2's h2c upgrade: answered over HTTP/1.1, nothing of it reaching the server
    status, _, body = get(S["proxy"].web, "/h", host="ops.test", headers={
        "Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAAQAAP__"})
    h = echo(body)["headers"]
    assert status == 200 and not {"Upgrade", "HTTP2-Settings", "Connection"} & set(h), (status, h)


@t.test
def streams_large_bodies_both_ways():
    body = os.urandom(1 << 16) * 64  # 4 MiB
    status, hs, back = request(S["proxy"].web, "POST", "/stream", host="ops.test", body=body, timeout=60)
    assert status == 200 and back == body, (status, len(back))
    status, hs, back = get(S["proxy"].web, "/big?n=%d" % (32 << 20), host="ops.test", timeout=60)
    assert status == 200 and len(back) == 32 << 20, (status, len(back))


@t.test
def reload_under_load_zero_failures():
    p = S["proxy"]
    stop = threading.Event()
    results = {"ok": 0, "fail": []}

    def client():
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            status, hs, _ = get(p.web, "/load", host="ops.test")
            if status == 200:
                results["ok"] += 1
            else:
                results["fail"].append(status)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for th in threads:
        th.start()
    try:
        for i in range(5):
            p.write("extra-%d.yaml" % i, ingress_yaml(NS, "extra%d" % i, "extra%d.test" % i,
                                                      [("/", "Prefix", "be", 80)]))
            p.write("mw-%d.yaml" % i, middleware_yaml(NS, "m%d" % i, "headers:\n  customResponseHeaders:\n"
                                                      "    X-Gen: \"%d\"\n" % i))
            time.sleep(0.4)
        wait_for(lambda: routed_to(p.web, "extra4.test", "/", "ops-be"), what="the last new Ingress")
        time.sleep(0.5)
    finally:
        stop.set()
        for th in threads:
            th.join(30)
    assert results["ok"] > 50, results["ok"]
    assert not results["fail"], "%d failed during reloads: %r" % (len(results["fail"]), results["fail"][:10])
    body = p.api_json("/api/overview")
    assert body["http"]["routers"]["total"] >= 7, body


@t.test
def sighup_keeps_a_broken_manifests_last_good_objects():
    """A manifest that stops parsing keeps the objects of its last good version after
    the edit, and after a SIGHUP too (that reload read every file afresh and dropped
    them until the next edit)."""
    p = S["proxy"]
    good = ingress_yaml(NS, "keep", "keep.test", [("/", "Prefix", "be", 80)])
    p.write("keep.yaml", good)
    wait_for(lambda: routed_to(p.web, "keep.test", "/", "ops-be"), what="keep.test routed")
    p.write("keep.yaml", good + "---\nkind: [unclosed\n")
    wait_for(lambda: "keeping the objects of its last good version" in p.output(), what="the broken edit")
    assert routed_to(p.web, "keep.test", "/", "ops-be")
    reloads = p.output().count('"msg":"reloaded"')
    p.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: p.output().count('"msg":"reloaded"') > reloads, what="the SIGHUP's reload")
    time.sleep(0.2)  # the workers take the new generation
    assert routed_to(p.web, "keep.test", "/", "ops-be"), "dropped by the SIGHUP"
    p.remove("keep.yaml")


@t.test
def periodic_rescan_waits_for_files_being_written():
    """A tool rewriting a manifest in place, in two writes 50 ms apart: the periodic
    rescan (every 5 s) read the half-written file and dropped its router for a moment;
    it now leaves files being written to the debounced read."""
    p = S["proxy"]
    text = ingress_yaml(NS, "inplace", "inplace.test", [("/", "Prefix", "be", 80)])
    cut = text.index("      paths:\n") + len("      paths:\n")
    p.write("inplace.yaml", text)
    wait_for(lambda: routed_to(p.web, "inplace.test", "/", "ops-be"), what="inplace.test routed")
    path = os.path.join(p.dir, "inplace.yaml")
    deadline = time.monotonic() + 11  # two periodic rescans
    while time.monotonic() < deadline:
        with open(path, "w") as f:
            f.write(text[:cut])
            f.flush()
            time.sleep(0.05)  # well inside the 200 ms debounce, even for a late sleeper
            f.write(text[cut:])
        time.sleep(0.02)
    time.sleep(0.5)
    half = [ln for ln in p.output().splitlines() if "inplace" in ln and "expected a non-empty list" in ln]
    assert not half, half[:3]
    assert routed_to(p.web, "inplace.test", "/", "ops-be")
    p.remove("inplace.yaml")


@t.test
def a_replaced_manifests_directory_is_watched_again():
    """The manifests directory moved away and made again (a tool replacing it whole): the
    periodic rescan reads it and watches it afresh, so the next edit applies at once, not
    only at a later rescan (the file events had stayed on the directory that was gone)."""
    p = S["proxy"]
    old = p.dir + ".old"
    os.rename(p.dir, old)
    shutil.copytree(old, p.dir, copy_function=shutil.copy)  # new files, new times
    shutil.rmtree(old)
    time.sleep(6)  # past the next periodic rescan (every 5 s)
    p.write("rewatch.yaml", ingress_yaml(NS, "rewatch", "rewatch.test", [("/", "Prefix", "be", 80)]))
    t0 = time.monotonic()
    wait_for(lambda: routed_to(p.web, "rewatch.test", "/", "ops-be"), what="the edit", timeout=10)
    took = time.monotonic() - t0
    p.remove("rewatch.yaml")
    assert took < 2.0, "the edit applied after %.1f s: by a rescan, not a file event" % took


@t.test
def websocket_survives_reload():
    p = S["proxy"]
    s = ws_open(p.web, "ops.test")
    try:
        p.write("extra-ws.yaml", ingress_yaml(NS, "extraws", "extraws.test", [("/", "Prefix", "be", 80)]))
        wait_for(lambda: routed_to(p.web, "extraws.test", "/", "ops-be"), what="reload")
        s.sendall(ws_frame(b"after reload"))
        assert ws_read(s) == (1, b"after reload")
    finally:
        s.close()


@t.test
def broken_object_reported_and_skipped():
    p = S["proxy"]
    p.write("broken.yaml", "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n  name: bad\n"
            "  namespace: ops\nspec:\n  noSuchMiddleware: {}\n")
    p.write("badref.yaml", ingress_yaml(NS, "badref", "badref.test", [("/", "Prefix", "be", 80)],
                                        annotations={"traefik.ingress.kubernetes.io/router.middlewares":
                                                     "ops-missing@kubernetescrd"}))
    p.write("garbage.yaml", "kind: [unclosed\n")
    # a resource backend, and a Service that does not exist: reported, and no router made,
    # as Traefik skips such a path (its API lists no router and counts no error for it)
    p.write("resource.yaml", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: res\n"
            "  namespace: ops\nspec:\n  rules:\n  - host: res.test\n    http:\n      paths:\n"
            "      - path: /\n        pathType: Prefix\n        backend:\n          resource:\n"
            "            apiGroup: k8s.example.com\n            kind: StorageBucket\n            name: assets\n")
    errs = wait_for(lambda: [e for e in p.api_json("/api/errors") if (e.get("name") or "") in ("bad", "ops-bad@kubernetescrd")],
                    what="the broken Middleware in /api/errors")
    assert errs[0]["kind"].lower() == "middleware" and errs[0]["message"], errs
    routers = {r["name"]: r for r in p.api_json("/api/http/routers")}
    r = wait_for(lambda: {x["name"]: x for x in p.api_json("/api/http/routers")}.get(
        "ops-badref-badref-test@kubernetes"), what="badref router listed")
    assert r["status"] == "disabled" and r.get("error"), r
    p.write("nosvc.yaml", ingress_yaml(NS, "nosvc", "nosvc.test", [("/", "Prefix", "ghost", 80)]))
    wait_for(lambda: len({e["name"] for e in p.api_json("/api/errors") if e.get("name") in ("res", "nosvc")}) == 2,
             what="both Ingresses in /api/errors")
    msgs = {e["name"]: e["message"] for e in p.api_json("/api/errors") if e.get("name") in ("res", "nosvc")}
    assert "backend.resource is not supported" in msgs["res"], msgs
    assert "rules[0].http.paths[0]" in msgs["nosvc"] and "ghost" in msgs["nosvc"], msgs
    names = [x["name"] for x in p.api_json("/api/http/routers")]
    assert not [n for n in names if n.startswith(("ops-res-", "ops-nosvc-"))], names
    assert get(p.web, "/", host="nosvc.test")[0] == 404
    assert get(p.web, "/", host="badref.test")[0] == 404
    assert routed_to(p.web, "ops.test", "/", "ops-be"), "the rest stays live"
    # a middleware hearth cannot run disables its router, with the reason, as Traefik does
    # for a middleware it cannot build
    p.write("unsup.yaml", "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n  name: again\n"
            "  namespace: ops\nspec:\n  grpcWeb:\n    allowOrigins: [\"*\"]\n---\n"
            + ingress_yaml(NS, "unsup", "unsup.test", [("/", "Prefix", "be", 80)],
                           annotations={"traefik.ingress.kubernetes.io/router.middlewares":
                                        "ops-again@kubernetescrd"}))
    r = wait_for(lambda: {x["name"]: x for x in p.api_json("/api/http/routers")}.get(
        "ops-unsup-unsup-test@kubernetes"), what="the router of an unsupported middleware listed")
    assert r["status"] == "disabled" and "grpcWeb" in str(r.get("error")), r
    assert p.api_json("/api/overview")["http"]["routers"]["errors"] >= 2
    assert get(p.web, "/", host="unsup.test")[0] == 404


@t.test
def upstream_down_502_then_recovery():
    p = S["proxy"]
    assert routed_to(p.web, "down.test", "/", "ops-down")
    port = S["down"].port
    S["down"].stop()
    statuses = [get(p.web, "/", host="down.test")[0] for _ in range(3)]
    assert statuses[0] == 502, statuses
    assert all(s in (502, 503) for s in statuses), statuses
    # the access log counts the error page's bytes ("Bad Gateway")
    lines = wait_for(lambda: [o for o in map(json.loads, open(p.access_log).read().splitlines())
                              if o.get("RequestHost") == "down.test" and o.get("DownstreamStatus") == 502],
                     what="the 502 in the access log")
    assert lines[0]["DownstreamContentSize"] == len("Bad Gateway"), lines[0]
    # Traefik writes its error page inside the server's handler: it is the origin's answer
    assert lines[0]["OriginStatus"] == 502 and lines[0]["OriginContentSize"] == 11, lines[0]
    S["down"] = Backend("ops-down", port=port)
    wait_for(lambda: routed_to(p.web, "down.test", "/", "ops-down"), timeout=30, what="recovery")


@t.test
def long_heads_pass_as_traefik_takes_them():
    """Traefik (Go) takes a request line and header section up to 1 MiB: a long SAML or
    OAuth query and a big cookie get through whole; past 1 MiB is 431."""
    p = S["proxy"]
    S["big"] = be = Backend("ops-big", extra=["--max-head", str(4 << 20)])
    p.write("svc-big.yaml", service_yaml(NS, "big", 80, [be]))
    p.write("ing-big.yaml", ingress_yaml(NS, "big", "big.test", [("/", "Prefix", "big", 80)]))
    wait_for(lambda: routed_to(p.web, "big.test", "/", "ops-big"), what="big.test routed")
    query, cookie = "SAMLRequest=" + "a" * 100000, "session=" + "b" * 200000
    status, _, body = get(p.web, "/sso?" + query, host="big.test", headers={"Cookie": cookie})
    assert status == 200, (status, body[:200])
    e = echo(body)
    assert e["target"] == "/sso?" + query and e["headers"].get("Cookie") == cookie, len(body)
    # a 700 KiB target and 700 KiB of fields: each within its 1 MiB, forwarded whole
    target, field = "/t?" + "t" * (700 << 10), "f" * (700 << 10)
    status, _, body = get(p.web, target, host="big.test", headers={"X-Field": field})
    assert status == 200 and echo(body)["target"] == target, (status, body[:200])
    raw = (b"GET / HTTP/1.1\r\nHost: big.test\r\n" +
           b"".join(b"X-Big-%d: %s\r\n" % (i, b"c" * 60000) for i in range(18)) + b"\r\n")
    data, _ = raw_request(p.web, raw)
    assert status_of(data) == 431, data[:200]
    # Go counts no fields, only bytes: 3,000 short ones pass whole (hearth's bound: 10,000)
    fields = {"X-C%d" % i: "v%d" % i for i in range(3000)}
    status, _, body = get(p.web, "/many", host="big.test", headers=fields)
    assert status == 200, (status, body[:200])
    seen = echo(body)["headers"]
    assert all(seen.get(k) == v for k, v in fields.items()), len(seen)
    raw = b"GET / HTTP/1.1\r\nHost: big.test\r\n" + b"".join(b"X-D%d: v\r\n" % i for i in range(10000)) + b"\r\n"
    data = raw_request(p.web, raw)[0]
    assert status_of(data) == 431 and b"text/plain; charset=utf-8" in data, data[:300]
    assert data.endswith(b"\r\n\r\n431 Request Header Fields Too Large"), "Go's error text: %r" % data[-200:]


@t.test
def out_of_descriptors_pauses_accepting_and_recovers():
    """Idle clients use up the descriptors (ulimit -n): accepting pauses with a backoff
    (or libuv drops the queued connections with its reserve descriptor), a log line a
    second at most, rather than a loop that spins (and, with workers sharing the
    descriptor table, never serves a signal again); once they leave, it serves again and
    stops on SIGTERM."""
    be = S["big"]
    cfg = ("http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: s\n  services:\n"
           "    s:\n      loadBalancer:\n        servers:\n        - url: http://127.0.0.1:%d\n" % be.port)
    p = Proxy(file_yaml=cfg, prefix=["prlimit", "--nofile=192:192"])
    conns = []
    try:
        for _ in range(400):
            conns.append(socket.create_connection(("127.0.0.1", p.web), timeout=5))
        wait_for(lambda: len(os.listdir("/proc/%d/fd" % p.proc.pid)) >= 188, timeout=10,
                 what="the descriptors used up")
        lines = p.output().count("\n")
        before = cpu_seconds(p.proc.pid)
        time.sleep(2.0)
        used = cpu_seconds(p.proc.pid) - before
        assert used < 0.6, "%.2f s of CPU in 2 s: spinning" % used
        logged = p.output().count("\n") - lines
        assert logged <= 10, "%d log lines in 2 s: the log floods" % logged
        for c in conns:
            c.close()
        conns = []
        wait_for(lambda: get(p.web, "/", host="any.test", timeout=3)[0] == 200, timeout=20,
                 what="served again once the clients left")
        rc = p.proc.stop(timeout=10)
        assert rc == 0 and "AddressSanitizer" not in p.output(), (rc, p.output()[-2000:])
    finally:
        for c in conns:
            c.close()
        p.stop()


@t.test
def out_of_descriptors_is_not_the_servers_fault():
    """A connect that fails for want of a local descriptor answers 502 but leaves the
    server in rotation (a refused connect takes it out for 10 s): once descriptors are
    back, the next request is served, not 503."""
    be = S["big"]
    cfg = ("http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: s\n  services:\n"
           "    s:\n      loadBalancer:\n        servers:\n        - url: http://127.0.0.1:%d\n" % be.port)
    p = Proxy(file_yaml=cfg, workers=1, prefix=["prlimit", "--nofile=128:128"])
    conns = []
    try:
        for _ in range(150):
            s = socket.create_connection(("127.0.0.1", p.web), timeout=20)
            s.sendall(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: any.test\r\nConnection: close\r\n\r\n")
            conns.append(s)
        statuses = [status_of(read_until_close(s, 20)[0]) for s in conns]
        assert 502 in statuses, statuses
        assert "upstream not reached: out of descriptors" in p.output()
        # the first answer once descriptors are back (a connection may still be dropped
        # while they run out): the server was not taken out (that would be 503 for 10 s)
        st = wait_for(lambda: get(p.web, "/", host="any.test", timeout=5)[0], timeout=8, what="an answer")
        assert st == 200, st
    finally:
        for s in conns:
            s.close()
        p.stop()


@t.test
def router_observability_annotations_opt_out():
    """router.observability.accesslogs / metrics "false" (any case, as Traefik decodes
    annotations): the router's requests are neither logged nor counted; a router
    annotation Traefik does not know refuses the Ingress, as Traefik's decoder does."""
    p = S["proxy"]
    ann = {"traefik.ingress.kubernetes.io/router.observability.accessLogs": "false",
           "traefik.ingress.kubernetes.io/router.observability.metrics": "false"}
    p.write("svc-quiet.yaml", service_yaml(NS, "quiet", 80, [S["down"]]))
    p.write("ing-quiet.yaml", ingress_yaml(NS, "quiet", "quiet.test", [("/", "Prefix", "quiet", 80)], ann))
    p.write("ing-typo.yaml", ingress_yaml(NS, "typo", "typo.test", [("/", "Prefix", "down", 80)],
                                          {"traefik.ingress.kubernetes.io/router.entrypoint": "web"}))
    wait_for(lambda: routed_to(p.web, "quiet.test", "/", "ops-down"), what="quiet.test routed")
    for _ in range(3):
        assert get(p.web, "/quiet", host="quiet.test")[0] == 200
    get(p.web, "/loud", host="ops.test")
    wait_for(lambda: '"/loud"' in open(p.access_log).read(), what="a later line")
    assert '"/quiet"' not in open(p.access_log).read()  # (404s before the reload are logged)
    metrics = get(p.api, "/metrics")[2].decode()
    counted = [x for x in metrics.splitlines() if "ops-quiet-80" in x and "requests_total" in x]
    assert not counted, counted
    assert get(p.web, "/", host="typo.test")[0] == 404
    errs = p.api_json("/api/errors")
    assert any("router.entrypoint: unknown key" in json.dumps(e) for e in errs), errs


@t.test
def slow_request_head_within_traefiks_read_timeout():
    """Traefik's readTimeout (60 s) bounds the head as well: a head that trickles in over
    12 s (a slow mobile link, a big cookie) is served, not cut at hearth's core default
    of 10 s."""
    s = connect(S["proxy"].web, timeout=30)
    s.sendall(b"GET /slow-head HTTP/1.1\r\nHost: ops.test\r\n")
    for i in range(4):
        time.sleep(3.0)
        s.sendall(b"X-Line-%d: %d\r\n" % (i, i))
    s.sendall(b"Connection: close\r\n\r\n")
    data, _ = read_until_close(s, 10)
    s.close()
    assert status_of(data) == 200 and b'"/slow-head"' in data, data[:300]


@t.test
def pipelined_requests_keep_order():
    raw = b"".join(b"GET /p%d HTTP/1.1\r\nHost: ops.test\r\n\r\n" % i for i in range(5))
    raw += b"GET /last HTTP/1.1\r\nHost: ops.test\r\nConnection: close\r\n\r\n"
    data, closed = raw_request(S["proxy"].web, raw, timeout=10)
    targets = [x.split(b'"')[0] for x in data.split(b'"target": "')[1:]]
    assert targets == [b"/p0", b"/p1", b"/p2", b"/p3", b"/p4", b"/last"], targets


@t.test
def any_token_is_a_method():
    """RFC 9110 §9.1, as Go's server: methods are extensible and case-sensitive, so
    QUERY, a lowercase get and a custom token reach the backend as sent, pipelined
    after one another; a method that is not a token is 400."""
    methods = [b"QUERY", b"get", b"X-MY_METHOD", b"PATCH"]
    raw = b"".join(b"%s /m%d HTTP/1.1\r\nHost: ops.test\r\n\r\n" % (m, i) for i, m in enumerate(methods))
    raw += b"GET /last HTTP/1.1\r\nHost: ops.test\r\nConnection: close\r\n\r\n"
    data, _ = raw_request(S["proxy"].web, raw, timeout=10)
    seen = [x.split(b'"')[0] for x in data.split(b'"method": "')[1:]]
    assert seen == methods + [b"GET"], (seen, data[:300])
    data, _ = raw_request(S["proxy"].web, b"GE(T / HTTP/1.1\r\nHost: ops.test\r\n\r\n")
    assert status_of(data) == 400, data[:200]


@t.test
def default_backend_catches_everything():
    p = S["proxy"]
    p.write("default.yaml", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: dflt\n"
            "  namespace: ops\nspec:\n  defaultBackend:\n    service:\n      name: down\n      port:\n"
            "        number: 80\n")
    wait_for(lambda: routed_to(p.web, "anything.test", "/any/path", "ops-down"), what="defaultBackend")
    assert routed_to(p.web, "ops.test", "/", "ops-be"), "host rules still win over defaultBackend"
    p.remove("default.yaml")
    wait_for(lambda: get(p.web, "/", host="anything.test")[0] == 404, what="defaultBackend removed")


# ---- file provider ----

FILE_CFG = """\
http:
  routers:
    rr:
      rule: Host(`rr.test`)
      service: pool
    strip:
      rule: Host(`file.test`) && PathPrefix(`/api`)
      service: pool
      middlewares: [strip-api]
    weighted:
      rule: Host(`wrr.test`)
      service: wrr
    sticky:
      rule: Host(`sticky.test`)
      service: stickypool
    checked:
      rule: Host(`health.test`)
      service: checked
    v3:
      rule: HostRegexp(`^(a|b)\\.v3\\.test$`) && PathRegexp(`^/item/[0-9]+$`) && Query(`view`, `full`) && ClientIP(`127.0.0.0/8`)
      service: one
    v3-other:
      rule: HostRegexp(`^(a|b)\\.v3\\.test$`)
      service: two
    forged:
      rule: Host(`xfp.test`) && Header(`X-Forwarded-Proto`, `https`)
      service: one
    forged-other:
      rule: Host(`xfp.test`)
      service: two
    spelled: {{rule: "host(`spelled.test`) && PATHPREFIX(`/x`) && Pathprefix(`/x`)", service: one}}
    decoded: {{rule: "Host(`enc.test.`) && (PathPrefix(`/foo bar`) || Path(`/café`))", service: one}}
    v6: {{rule: "Host(`::1`)", service: two}}
    wsticky: {{rule: "Host(`wsticky.test`)", service: wsticky}}
    fo: {{rule: "Host(`failover.test`)", service: fo}}
    v2rule: {{rule: "HostRegexp(`{{sub:[a-z]+}}.v2re.test`) && Query(`a=1`)", ruleSyntax: v2, service: two}}
  middlewares:
    strip-api:
      stripPrefix:
        prefixes: [/api]
  services:
    pool:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:{f1}
          - url: http://127.0.0.1:{f2}
    one:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:{f1}
    two:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:{f2}
    wrr:
      weighted:
        services:
          - name: one
            weight: 3
          - name: two
            weight: 1
    wsticky:
      weighted:
        sticky: {{cookie: {{name: lvl1, path: /app, domain: .example.test, httpOnly: true}}}}
        services: [{{name: one, weight: 1}}, {{name: two, weight: 1}}]
    fo: {{failover: {{service: fomain, fallback: two}}}}
    fomain:  # f3, which the health check test stops
      loadBalancer:
        healthCheck: {{path: /status/200, interval: 500ms, timeout: 1s}}
        servers: [{{url: "http://127.0.0.1:{f3}"}}]
    stickypool:
      loadBalancer:
        sticky:
          cookie: {{}}
        servers:
          - url: http://127.0.0.1:{f1}
          - url: http://127.0.0.1:{f2}
    checked:
      loadBalancer:
        healthCheck:
          path: /status/200
          interval: 500ms
          timeout: 1s
        servers:
          - url: http://127.0.0.1:{f1}
          - url: http://127.0.0.1:{f3}
"""


@t.test
def file_provider_starts():
    S["f1"], S["f2"], S["f3"] = Backend("f1"), Backend("f2"), Backend("f3")
    cfg = FILE_CFG.format(f1=S["f1"].port, f2=S["f2"].port, f3=S["f3"].port)
    S["fproxy"] = Proxy(file_yaml=cfg)
    wait_for(lambda: get(S["fproxy"].web, "/", host="rr.test")[0] == 200, what="file routes")
    names = {r["name"] for r in S["fproxy"].api_json("/api/http/routers")}
    assert {"rr@file", "strip@file", "weighted@file", "sticky@file", "checked@file", "v3@file",
            "v3-other@file"} <= names, names
    assert all(r["status"] == "enabled" for r in S["fproxy"].api_json("/api/http/routers")), "a rule refused"
    # (the harness always gives a manifests directory too)
    assert S["fproxy"].api_json("/api/overview")["providers"] == ["KubernetesIngress", "KubernetesCRD", "File"]


@t.test
def file_rule_v3_matchers():
    """HostRegexp, PathRegexp, Query and ClientIP in a file-provider rule; the longer rule
    wins, the rest falls to the shorter one."""
    p = S["fproxy"]
    assert header(get(p.web, "/item/42?view=full", host="b.v3.test")[1], "X-Backend") == "f1"
    for path in ("/item/x?view=full", "/item/42?view=short", "/item/42"):
        assert header(get(p.web, path, host="a.v3.test")[1], "X-Backend") == "f2", path
    assert get(p.web, "/item/42?view=full", host="c.v3.test")[0] == 404
    # Go's AllowQuerySemicolons, as Traefik's entry points: ';' separates as '&' does,
    # for the rule and for the upstream
    status, hs, body = get(p.web, "/item/42?a=1;view=full", host="a.v3.test")
    assert header(hs, "X-Backend") == "f1" and echo(body)["target"] == "/item/42?a=1&view=full", body
    # rules see the fields after the entry point dropped an untrusted client's X-Forwarded-*
    hs = get(p.web, "/", host="xfp.test", headers={"X-Forwarded-Proto": "https"})[1]
    assert header(hs, "X-Backend") == "f2", hs


@t.test
def file_rule_spelling_hosts_and_escapes():
    """What Traefik's parser and muxer take: a matcher's name all lowercase, all
    uppercase or capitalised; a rule host with a trailing dot; an IPv6 literal host;
    escapes of unreserved characters decoded for matching (PathPrefix(`/foo bar`) matches
    /foo%20bar) while reserved ones stay data (%2F is no separator); the upstream gets
    the path as sent."""
    p = S["fproxy"]
    assert header(get(p.web, "/x/1", host="spelled.test")[1], "X-Backend") == "f1"
    for path in ("/foo%20bar", "/foo%20bar/x", "/caf%C3%A9", "/caf%c3%a9"):
        status, hs, body = get(p.web, path, host="enc.test")
        assert status == 200 and header(hs, "X-Backend") == "f1", (path, status)
    assert echo(get(p.web, "/foo%20bar", host="enc.test")[2])["target"] == "/foo%20bar"
    for path in ("/foo%2520bar", "/foo%2Fbar", "/cafe"):
        assert get(p.web, path, host="enc.test")[0] == 404, path
    # bytes Go's EscapedPath would not send raw go escaped: a backslash that a server reads
    # as '/' must not carry "/x\..\admin" past /admin's middlewares; '[', ']' and the
    # client's own escapes stay as sent
    raw = b'GET /x\\..\\admin/"<>{|}^`[]%2F\xc3\xa9 HTTP/1.1\r\nHost: rr.test\r\nConnection: close\r\n\r\n'
    data, _ = raw_request(p.web, raw)
    assert status_of(data) == 200, data[:200]
    target = echo(data.split(b"\r\n\r\n", 1)[1])["target"]
    assert target == "/x%5C..%5Cadmin/%22%3C%3E%7B%7C%7D%5E%60[]%2F%C3%A9", target
    assert get(p.web, "/", host="enc.test.")[0] == 404  # matched host, unmatched path
    assert header(get(p.web, "/", host="[::1]:%d" % p.web)[1], "X-Backend") == "f2"
    assert header(get(p.web, "/", host="[::1]")[1], "X-Backend") == "f2"


@t.test
def file_rule_syntax_v2():
    """A router with ruleSyntax: v2 is read with Traefik v2's matchers: a gorilla/mux
    host template and Query as key=value."""
    p = S["fproxy"]
    assert header(get(p.web, "/?a=1", host="abc.v2re.test")[1], "X-Backend") == "f2"
    for host, path in (("abc.v2re.test", "/?a=2"), ("ab1.v2re.test", "/?a=1")):
        assert get(p.web, path, host=host)[0] == 404, (host, path)
    r = p.api_json("/api/http/routers/v2rule@file")
    assert r["ruleSyntax"] == "v2" and r["status"] == "enabled", r


@t.test
def file_round_robin_and_strip_prefix():
    p = S["fproxy"]
    seen = keepalive_backends(p.web, "rr.test", "/", 6)
    assert sorted(set(seen)) == ["f1", "f2"] and seen.count("f1") == 3, seen
    assert all(seen[i] != seen[i + 1] for i in range(5)), "round robin alternates: %r" % seen
    e = echo(get(p.web, "/api/x", host="file.test")[2])
    assert e["target"] == "/x", e


@t.test
def file_weighted_round_robin():
    p = S["fproxy"]
    seen = keepalive_backends(p.web, "wrr.test", "/", 8)
    assert seen.count("f1") == 6 and seen.count("f2") == 2, seen


SERVERS_CFG = """
http:
  routers:
    ready: {rule: Host(`ready.test`), service: ready}
    w: {rule: Host(`w.test`), service: w}
    p: {rule: Host(`p.test`), service: p}
    h: {rule: Host(`h.test`), service: h}
    lt: {rule: Host(`lt.test`), service: lt}
    pv: {rule: Host(`pv.test`), service: pv}
    sw: {rule: Host(`sw.test`), service: sw}
    hs: {rule: Host(`hs.test`), service: hs}
    hx: {rule: Host(`hx.test`), service: hx}
  services:
    hx:
      highestRandomWeight:
        services: [{name: two, weight: 1}, {name: ready, weight: 1}, {name: hs, weight: 0}]
    two:
      loadBalancer: {servers: [{url: "http://127.0.0.1:%(f2)d"}]}
    ready:
      loadBalancer: {servers: [{url: "http://127.0.0.1:%(f1)d"}]}
    w:
      loadBalancer:
        servers:
          - {url: "http://127.0.0.1:%(f1)d", weight: 3}
          - {url: "http://127.0.0.1:%(f2)d"}
          - {url: "http://127.0.0.1:9", weight: 0}
    p:
      loadBalancer:
        strategy: p2c
        servers: [{url: "http://127.0.0.1:%(f1)d"}, {url: "http://127.0.0.1:%(hold)d"}]
    h:
      loadBalancer:
        strategy: hrw
        servers: [{url: "http://127.0.0.1:%(f1)d"}, {url: "http://127.0.0.1:%(f2)d"}]
    lt:
      loadBalancer:
        strategy: leasttime
        servers: [{url: "http://127.0.0.1:%(f1)d"}, {url: "http://127.0.0.1:%(slow)d"}]
    pv:
      loadBalancer:
        passiveHealthCheck: {failureWindow: 3s, maxFailedAttempts: 2}
        servers: [{url: "http://127.0.0.1:%(f1)d"}, {url: "http://127.0.0.1:%(bad)d"}]
    sw:
      loadBalancer:
        sticky: {cookie: {name: sw}}
        servers: [{url: "http://127.0.0.1:%(f1)d", weight: 0}, {url: "http://127.0.0.1:%(f2)d"}]
    hs:
      loadBalancer:
        strategy: hrw
        sticky: {cookie: {name: hs}}
        servers: [{url: "http://127.0.0.1:%(f1)d"}, {url: "http://127.0.0.1:%(f2)d"}]
"""


def hrw_score(src, name):
    """Traefik's hrw score of server name for client address src (getNodeScore)."""
    h = 14695981039346656037
    for b in (src + name).encode():
        h = ((h ^ b) * 1099511628211) % 2 ** 64
    return 1.0 / -math.log(float(h) / 2 ** 64)


@t.test
def file_server_weights_and_strategies():
    """A server's weight shares its load balancer's requests (3:1, weight 0 never
    chosen), as Traefik's wrr over servers; with strategy p2c a request goes to the
    server with fewer requests in flight, counted over every worker: while one server
    holds a request, the others all go to the idle one; with hrw every request of a
    client goes to the server its address hashes highest with, by Traefik's formula;
    with leasttime a server that took 200 ms to answer gets nothing more while the other
    answers at once; passiveHealthCheck takes a server answering 500 out for its window."""
    arrived, release = threading.Event(), threading.Event()

    class Hold(Responder):
        def answer(self, request):
            arrived.set()
            release.wait(20)
            return b"HTTP/1.1 200 OK\r\nX-Backend: hold\r\nContent-Length: 2\r\n\r\nok"

    class Slow(Responder):
        def answer(self, request):
            time.sleep(0.2)
            return b"HTTP/1.1 200 OK\r\nX-Backend: slow\r\nContent-Length: 2\r\n\r\nok"

    class Bad(Responder):
        def answer(self, request):
            return b"HTTP/1.1 500 Internal Server Error\r\nX-Backend: bad\r\nContent-Length: 2\r\n\r\nno"

    hold, slow, bad = Hold(), Slow(), Bad()
    p = Proxy(file_yaml=SERVERS_CFG % {"f1": S["f1"].port, "f2": S["f2"].port, "hold": hold.port,
                                       "slow": slow.port, "bad": bad.port})
    try:
        wait_for(lambda: get(p.web, "/", host="ready.test")[0] == 200, what="file routes")
        seen = keepalive_backends(p.web, "w.test", "/", 8)  # one connection: one worker's round
        assert seen.count("f1") == 6 and seen.count("f2") == 2, seen
        servers = p.api_json("/api/http/services/w@file")["loadBalancer"]["servers"]
        assert [s.get("weight") for s in servers] == [3, None, 0], servers
        assert p.api_json("/api/http/services/p@file")["loadBalancer"]["strategy"] == "p2c"
        urls = {"f1": "http://127.0.0.1:%d" % S["f1"].port, "f2": "http://127.0.0.1:%d" % S["f2"].port}
        want = max(urls, key=lambda k: hrw_score("127.0.0.1", urls[k]))
        chosen = [header(get(p.web, "/", host="h.test")[1], "X-Backend") for _ in range(8)]
        assert chosen == [want] * 8, (want, chosen)
        # the highestRandomWeight service: the child whose name ranks first for the client
        kid = max(("ready", "two"), key=lambda k: hrw_score("127.0.0.1", k))
        chosen = {header(get(p.web, "/", host="hx.test")[1], "X-Backend") for _ in range(6)}
        assert chosen == {"f1" if kid == "ready" else "f2"}, (kid, chosen)
        assert p.api_json("/api/http/services/hx@file")["type"] == "highestrandomweight"
        hs = get(p.web, "/", host="hs.test")[1]  # hrw has no sticky cookie, as Traefik's
        assert header(hs, "X-Backend") == want and header(hs, "Set-Cookie") is None, hs
        # a sticky cookie naming a server of weight 0 (being drained) is not followed: the
        # client is sent elsewhere and told so
        pin = "sw=" + hashlib.sha256(urls["f1"].encode()).hexdigest()[:16]
        hs = get(p.web, "/", host="sw.test", headers={"Cookie": pin})[1]
        want_cookie = "sw=" + hashlib.sha256(urls["f2"].encode()).hexdigest()[:16]
        assert header(hs, "X-Backend") == "f2" and header(hs, "Set-Cookie").startswith(want_cookie), hs
        seen = keepalive_backends(p.web, "lt.test", "/", 12)  # one worker's times
        assert seen.count("slow") == 1 and "slow" not in seen[seen.index("slow") + 1:], seen
        # passiveHealthCheck: two 500s within 3 s take the server out for 3 s, counted over
        # both workers, each taking turns of its own: both 500s by the sixth request (its
        # answers still reach the client: nothing is retried)
        t0 = time.monotonic()
        seen = [header(get(p.web, "/", host="pv.test")[1], "X-Backend") for _ in range(10)]
        assert seen.count("bad") == 2 and seen[-4:] == ["f1"] * 4, seen
        metric = 'traefik_service_server_up{service="pv@file",url="http://127.0.0.1:%d"} 0' % bad.port
        assert time.monotonic() - t0 < 2.5 and metric in get(p.api, "/metrics")[2].decode()
        wait_for(lambda: "bad" in [header(get(p.web, "/", host="pv.test")[1], "X-Backend") for _ in range(2)],
                 timeout=8, what="the server back after its window")
        assert "taken out by the passive health check" in p.output()

        held = []
        for _ in range(40):  # both idle: either may be drawn; go on until hold has one
            th = threading.Thread(target=lambda: held.append(get(p.web, "/", host="p.test", timeout=30)))
            th.start()
            for _ in range(500):
                if arrived.is_set() or not th.is_alive():
                    break
                time.sleep(0.01)
            if arrived.is_set():
                break
            th.join(10)
        assert arrived.is_set(), "p2c never chose the second server in 40 draws"
        # on one connection, so that each answer's end is counted before the next request
        # (a new connection to the other worker can come before it, and tie the two)
        others = keepalive_backends(p.web, "p.test", "/", 10)
        assert others == ["f1"] * 10, others
        release.set()
        th.join(30)
        assert held[-1][0] == 200 and header(held[-1][1], "X-Backend") == "hold", held[-1][:2]
    finally:
        release.set()
        p.stop()
        hold.stop()
        slow.stop()
        bad.stop()


@t.test
def file_sticky_cookie():
    p = S["fproxy"]
    status, hs, _ = get(p.web, "/", host="sticky.test")
    cookie = header(hs, "Set-Cookie")
    want_name = "_" + hashlib.sha1(b"_TRAEFIK_BACKEND_stickypool@file").hexdigest()[:5]
    assert cookie and cookie.startswith(want_name + "="), (cookie, want_name)
    first = header(hs, "X-Backend")
    url = "http://127.0.0.1:%d" % (S["f1"].port if first == "f1" else S["f2"].port)
    assert cookie.split(";")[0].split("=", 1)[1] == hashlib.sha256(url.encode()).hexdigest()[:16], cookie
    pair = cookie.split(";")[0]
    seen = {header(get(p.web, "/", host="sticky.test", headers={"Cookie": pair})[1], "X-Backend") for _ in range(5)}
    assert seen == {first}, seen


@t.test
def file_weighted_sticky_cookie():
    """Traefik's sticky weighted service: a request without the cookie gets one naming
    the child chosen (sha256 of its name as configured, 16 hex digits) with the
    configured path and domain; with it, every request goes to that child and no cookie
    is set again."""
    p = S["fproxy"]
    status, hs, _ = get(p.web, "/", host="wsticky.test")
    cookie, first = header(hs, "Set-Cookie"), header(hs, "X-Backend")
    child = {"f1": "one", "f2": "two"}[first]
    value = hashlib.sha256(child.encode()).hexdigest()[:16]
    assert cookie == "lvl1=%s; Path=/app; Domain=example.test; HttpOnly" % value, cookie
    for _ in range(5):
        status, hs, _ = get(p.web, "/", host="wsticky.test", headers={"Cookie": "a=b; lvl1=" + value})
        assert header(hs, "X-Backend") == first and header(hs, "Set-Cookie") is None, hs
    svc = p.api_json("/api/http/services/wsticky@file")
    assert svc["weighted"]["sticky"]["cookie"]["name"] == "lvl1", svc
    assert svc["weighted"]["sticky"]["cookie"]["path"] == "/app", svc


@t.test
def file_failover_while_the_service_is_up():
    """A failover service sends to its service while that has a healthy server."""
    p = S["fproxy"]
    assert header(get(p.web, "/", host="failover.test")[1], "X-Backend") == "f3"
    svc = p.api_json("/api/http/services/fo@file")
    assert svc["type"] == "failover" and svc["failover"] == {"service": "fomain", "fallback": "two"}, svc
    # the API shows what Traefik fills in: the sticky cookie's generated name, the health
    # check's defaults
    pool = p.api_json("/api/http/services/stickypool@file")["loadBalancer"]
    assert re.fullmatch(r"_[0-9a-f]{5}", pool["sticky"]["cookie"]["name"]), pool
    hc = p.api_json("/api/http/services/checked@file")["loadBalancer"]["healthCheck"]
    assert hc == {"path": "/status/200", "interval": "500ms", "timeout": "1s", "mode": "http",
                  "followRedirects": True}, hc


@t.test
def file_active_health_check():
    p = S["fproxy"]
    S["f3"].stop()
    url3 = "http://127.0.0.1:%d" % S["f3"].port

    def down():
        svc = {s["name"]: s for s in p.api_json("/api/http/services")}["checked@file"]
        return svc.get("serverStatus", {}).get(url3) == "DOWN"

    wait_for(down, timeout=10, what="f3 DOWN in serverStatus")
    seen = [get(p.web, "/", host="health.test") for _ in range(6)]
    assert all(s[0] == 200 and header(s[1], "X-Backend") == "f1" for s in seen), [s[0] for s in seen]
    # the failover service's own service has no healthy server left: its fallback serves
    wait_for(lambda: header(get(p.web, "/", host="failover.test")[1], "X-Backend") == "f2",
             what="the failover's fallback")


@t.test
def file_hot_reload():
    p = S["fproxy"]
    cfg = FILE_CFG.format(f1=S["f1"].port, f2=S["f2"].port, f3=S["f3"].port).replace("Host(`rr.test`)",
                                                                                    "Host(`rr2.test`)")
    before = p.output().count("configuration loaded")
    p.write_file(cfg)
    wait_for(lambda: get(p.web, "/", host="rr2.test")[0] == 200, what="file reload")
    assert get(p.web, "/", host="rr.test")[0] == 404
    # the same configuration written again (reformatted) builds nothing, as with Traefik;
    # counted once the reload's own line has come through the pipe (it can trail the
    # routing it announces on a busy machine)
    wait_for(lambda: p.output().count("configuration loaded") > before, what="the reload's line")
    loaded = p.output().count("configuration loaded")
    p.write_file(cfg.replace("\n", "\n\n"))
    wait_for(lambda: "--file unchanged" in p.output(), what="the unchanged edit noticed")
    assert p.output().count("configuration loaded") == loaded


@t.test
def undecided_regexp_refuses_rather_than_falls_through():
    """A rule regexp that runs out of its backtracking budget on a hostile path cannot tell
    whether its router (and its middlewares) should take the request: 400, never the
    catch-all below it. A short path is routed."""
    cfg = ("http:\n  routers:\n    admin:\n      rule: PathRegexp(`^/r/(a+)+$|^/r/a+b$`)\n"
           "      priority: 100\n      service: one\n    all:\n      rule: PathPrefix(`/`)\n"
           "      priority: 1\n      service: two\n  services:\n"
           "    one: {loadBalancer: {servers: [{url: \"http://127.0.0.1:%d\"}]}}\n"
           "    two: {loadBalancer: {servers: [{url: \"http://127.0.0.1:%d\"}]}}\n" % (S["f1"].port, S["f2"].port))
    with Proxy(file_yaml=cfg) as p:
        st, hs, _ = get(p.web, "/r/aaab", host="any.test")
        assert st == 200 and header(hs, "X-Backend") == "f1", (st, hs)
        st, hs, body = get(p.web, "/r/" + "a" * 40 + "b", host="any.test")
        assert st == 400 and header(hs, "X-Backend") is None, (st, hs, body)
        assert "a rule's regexp could not decide" in p.output()


@t.test
def removed_server_leaves_metrics():
    """A server gone from the configuration (a pod replaced in a rollout) leaves
    traefik_service_server_up, as Traefik drops its series: they do not pile up."""
    cfg = ("http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: s\n  services:\n"
           "    s:\n      loadBalancer:\n        servers:\n        - url: http://127.0.0.1:%d\n"
           "        - url: http://127.0.0.1:%d\n")
    a, b = S["f1"].port, S["f2"].port
    with Proxy(file_yaml=cfg % (a, b)) as p:
        def up_urls():
            text = get(p.api, "/metrics")[2].decode()
            return sorted(re.findall(r'traefik_service_server_up\{service="s@file",url="([^"]+)"\}', text))
        assert up_urls() == sorted(["http://127.0.0.1:%d" % a, "http://127.0.0.1:%d" % b]), up_urls()
        p.write_file(cfg.replace("        - url: http://127.0.0.1:%d\n", "", 1) % b)
        wait_for(lambda: up_urls() == ["http://127.0.0.1:%d" % b], timeout=10, what="the removed server's series gone")


@t.test
def file_broken_edit_keeps_the_last_good_config():
    """As Traefik's file provider: an edit that does not parse is reported and the last
    good configuration keeps serving; the next good edit applies."""
    p = S["fproxy"]
    good = FILE_CFG.format(f1=S["f1"].port, f2=S["f2"].port, f3=S["f3"].port)

    def reloads():
        text = get(p.api, "/metrics")[2].decode()
        return [float(re.search(r"^%s (\S+)$" % name, text, re.M).group(1))
                for name in ("traefik_config_reloads_total", "traefik_config_last_reload_success")]
    before = reloads()
    p.write_file("http:\n  routers:\n    rr:\n      rule: \"Host(`x.test`)\n")  # unclosed quote
    wait_for(lambda: "cannot read --file" in p.output(), what="the broken edit reported")
    time.sleep(0.3)
    assert reloads() == before, "a broken edit counted as a reload: %r -> %r" % (before, reloads())
    p.proc.send_signal(signal.SIGHUP)  # a reload asked for while the file is broken
    wait_for(lambda: p.output().count("cannot read --file") >= 2, what="the SIGHUP's read reported")
    time.sleep(0.2)
    assert reloads() == before, "a SIGHUP over a broken file counted: %r -> %r" % (before, reloads())
    assert get(p.web, "/", host="rr2.test")[0] == 200
    assert header(get(p.web, "/", host="rr2.test")[1], "X-Backend") in ("f1", "f2")
    p.write_file(good.replace("Host(`rr.test`)", "Host(`rr3.test`)"))
    wait_for(lambda: get(p.web, "/", host="rr3.test")[0] == 200, what="the next good edit")
    assert get(p.web, "/", host="rr2.test")[0] == 404
    assert reloads()[0] == before[0] + 1, (before, reloads())


SHAPE_CFG = """
http:
  routers:
    lower:
      rule: Host(`lower.test`)
      Service: s
      entrypoints: [websecure]
    child:
      rule: PathPrefix(`/admin`)
      service: s
      parentRefs: [lower]
    typo:
      rule: Host(`typo.test`)
      service: s
      tls: {option: mtls}
    mtls:
      rule: Host(`mtls.test`)
      service: s
      tls: {options: mtls}
    phh:
      rule: Host(`phh.test`)
      service: s
      observability: {Tracing: false}
  services:
    s:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:%d"}]
        PassiveHealthCheck: {MaxFailedAttempts: 3}
        PassHostHeader: false
tls:
  options:
    mtls:
      clientAuth: {caFile: [/nonexistent/ca.pem]}
"""


@t.test
def file_fields_decoded_as_traefik_decodes_them():
    """Traefik's file provider (paerser) matches a key in any case and refuses a file with
    a key no field takes: a typo is reported and its object skipped (a TLS option whose
    caFiles is misspelled had served without client certificates), multi-layer routing
    (parentRefs, which hearth does not do) is refused rather than the child routed past
    its parent's middlewares, a field hearth ignores is logged."""
    be = Backend("shape")
    p = Proxy(file_yaml=SHAPE_CFG % be.port, workers=1)
    try:
        routers = {r["name"]: r for r in p.api_json("/api/http/routers")}
        assert routers["lower@file"]["entryPoints"] == ["websecure"], routers["lower@file"]
        assert get(p.web, "/", host="lower.test")[0] == 404  # websecure only
        errors = json.dumps(p.api_json("/api/errors"))
        assert "parentRefs: multi-layer routing is not supported" in errors, errors
        assert "child@file" not in routers and get(p.web, "/admin", host="x.test")[0] == 404
        assert "field not found: tls.option" in errors and "typo@file" not in routers, errors
        assert "field not found: clientAuth.caFile" in errors, errors
        assert routers["mtls@file"]["status"] == "disabled", routers["mtls@file"]
        # passHostHeader: false, spelled otherwise, is applied: the server's address as Host
        status, _, body = get(p.web, "/headers", host="phh.test")
        assert status == 200 and json.loads(body)["headers"]["Host"] == "127.0.0.1:%d" % be.port, body
        lb = p.api_json("/api/http/services/s@file")["loadBalancer"]
        assert lb["passiveHealthCheck"] == {"failureWindow": "10s", "maxFailedAttempts": 3}, lb
        wait_for(lambda: "observability.tracing" in p.output(), what="the ignored field logged")
        line = [l for l in p.output().splitlines() if "configuration field ignored" in l][0]
        assert json.loads(line)["field"] == "observability.tracing", line
    finally:
        assert_stopped_cleanly(p)
        be.stop()


OPTIONS_CFG = """
http:
  routers:
    auth:
      rule: Host(`auth.test`)
      service: s
      middlewares: [who]
    limited:
      rule: Host(`limited.test`)
      service: s
      middlewares: [shared]
    h2c:
      rule: Host(`h2c.test`)
      service: h2c
    fastest:
      rule: Host(`fastest.test`)
      service: fastest
    authtls:
      rule: Host(`authtls.test`)
      service: s
      middlewares: [whotls]
    plaintls:
      rule: Host(`plaintls.test`)
      service: s
      middlewares: [plaintls]
    nodomain:
      rule: PathPrefix(`/nd`)
      service: s
      tls: {options: modern}
    noport:
      rule: Host(`noport.test`)
      service: noport
    errs:
      rule: Host(`errs.test`)
      service: s
      middlewares: [errpage]
  middlewares:
    errpage:
      errors: {status: ["500"], service: s, query: /fixed}
    who:
      forwardAuth: {address: "http://127.0.0.1:%(auth)d/", headerField: X-Auth-User}
    whotls:
      forwardAuth: {address: "https://127.0.0.1:%(auth)d/", tls: {insecureSkipVerify: true}}
    plaintls:
      forwardAuth: {address: "http://127.0.0.1:%(auth)d/", tls: {insecureSkipVerify: false}}
    shared:
      rateLimit: {average: 100, redis: {endpoints: ["127.0.0.1:6379"]}}
    typo:
      basicAuth: {users: ["u:$apr1$x$y"], removeHeaders: true}
  services:
    s:
      loadBalancer: {servers: [{url: "http://127.0.0.1:%(be)d"}]}
    h2c:
      loadBalancer: {servers: [{url: "h2c://127.0.0.1:%(be)d"}]}
    fastest:
      loadBalancer: {strategy: fastest, servers: [{url: "http://127.0.0.1:%(be)d"}]}
    noport:
      loadBalancer: {servers: [{url: "http://user@127.0.0.2"}]}
    grpc:
      loadBalancer: {healthCheck: {mode: grpc, path: /}, servers: [{url: "http://127.0.0.1:%(be)d"}]}
tls:
  options:
    modern: {minVersion: VersionTLS13}
"""


@t.test
def file_options_hearth_cannot_honour_are_told():
    """What hearth does not do is refused with the reason or logged, never silently
    dropped: forwardAuth's tls (every request had failed 500 against the system store),
    h2c:// servers (every request had been a 502 without a log line), another load
    balancing strategy than Traefik's four, rateLimit's redis (logged: the limit holds per process),
    TLS options on a rule without a Host domain (Traefik's warning).
    forwardAuth's headerField names the access log's ClientUsername; ServiceAddr is the
    server URL's host as written."""
    be = Backend("opts")
    auth = Responder()
    auth.answer = lambda req: b"HTTP/1.1 200 OK\r\nX-Auth-User: alice\r\nContent-Length: 0\r\n\r\n"
    p = Proxy(file_yaml=OPTIONS_CFG % {"be": be.port, "auth": auth.port}, workers=1, access_log=True)
    try:
        status, _, body = get(p.web, "/headers", host="auth.test", headers={"X-Auth-User": "mallory"})
        # not copied (no authResponseHeaders): the server sees the client's own field, but the
        # user logged is the auth server's, as Traefik reads headerField from its answer
        assert status == 200 and json.loads(body)["headers"].get("X-Auth-User") == "mallory", body
        wait_for(lambda: "alice" in open(p.access_log).read(), what="the access log line")
        line = [json.loads(l) for l in open(p.access_log) if '"auth@file"' in l][0]
        assert line["ClientUsername"] == "alice", line
        # ServiceAddr is the URL's host as written (Go's url.URL.Host): no default port
        get(p.web, "/", host="noport.test")
        wait_for(lambda: '"noport@file"' in open(p.access_log).read(), what="the noport line")
        line = [json.loads(l) for l in open(p.access_log) if '"noport@file"' in l][0]
        assert line["ServiceAddr"] == "127.0.0.2" and line["ServiceURL"] == "http://user@127.0.0.2", line
        # an errors page stands for the server's answer: the origin fields keep what the
        # server said and sent (500, "status\n"), the client gets the page ("ok\n")
        assert get(p.web, "/status/500", host="errs.test")[0] == 500
        wait_for(lambda: '"errs@file"' in open(p.access_log).read(), what="the errs line")
        line = [json.loads(l) for l in open(p.access_log) if '"errs@file"' in l][0]
        assert (line["OriginStatus"], line["OriginContentSize"], line["DownstreamContentSize"]) == \
            (500, 7, 3), line
        m = get(p.api, "/metrics")[2].decode()
        assert 'traefik_service_responses_bytes_total{code="500",method="GET",protocol="http",service="s@file"} 7' \
            in m, [x for x in m.splitlines() if "responses_bytes" in x]
        errors = json.dumps(p.api_json("/api/errors"))
        for want in ("forwardAuth: tls (ca, cert, key, insecureSkipVerify) is not supported",
                     "h2c:// is not supported", "unsupported load-balancer strategy",
                     "healthCheck mode not supported (http only",
                     # Traefik's warning: options chosen by SNI cannot come from this rule
                     "no domain found in rule PathPrefix(`/nd`): the TLS options modern@file"):
            assert want in errors, (want, errors)
        for host in ("h2c.test", "fastest.test", "authtls.test"):
            assert get(p.web, "/", host=host)[0] in (404, 500, 503), host
        assert get(p.web, "/", host="limited.test")[0] == 200
        assert get(p.web, "/", host="plaintls.test")[0] == 200  # a tls block asking nothing
        assert "rateLimit: redis is not supported" in p.output(), p.output()[-2000:]
        # a middleware field its parser never reads is told (removeHeader misspelt)
        ignored = [json.loads(ln) for ln in p.output().splitlines() if "middleware field ignored" in ln]
        assert {(x["middleware"], x["field"]) for x in ignored} == {
            ("typo@file", "basicAuth.removeHeaders")}, ignored
    finally:
        assert_stopped_cleanly(p, fields_ignored=1)
        be.stop()
        auth.stop()


@t.test
def file_in_a_configmap_volume_follows_its_swap():
    """kubelet updates a ConfigMap volume by pointing its ..data symlink at a new
    directory (the file is a symlink through ..data and is never written): the reload
    follows the swap."""
    d = tempfile.mkdtemp(prefix="hearth-cm-")

    def version(name, host):
        os.mkdir(os.path.join(d, name))
        with open(os.path.join(d, name, "dyn.yaml"), "w") as f:
            f.write("http:\n  routers:\n    r:\n      rule: Host(`%s`)\n      service: s\n"
                    "  services:\n    s:\n      loadBalancer:\n        servers:\n"
                    "          - url: http://127.0.0.1:%d\n" % (host, S["f1"].port))

    version("..2026_11_24_01", "cm1.test")
    os.symlink("..2026_11_24_01", os.path.join(d, "..data"))
    os.symlink("..data/dyn.yaml", os.path.join(d, "dyn.yaml"))
    try:
        with Proxy(extra=["--file", os.path.join(d, "dyn.yaml")], workers=1) as p:
            wait_for(lambda: get(p.web, "/", host="cm1.test")[0] == 200, what="the first version")
            version("..2026_11_24_02", "cm2.test")
            os.symlink("..2026_11_24_02", os.path.join(d, "..data_tmp"))
            os.rename(os.path.join(d, "..data_tmp"), os.path.join(d, "..data"))
            shutil.rmtree(os.path.join(d, "..2026_11_24_01"))
            wait_for(lambda: get(p.web, "/", host="cm2.test")[0] == 200, timeout=10, what="the swapped version")
            assert get(p.web, "/", host="cm1.test")[0] == 404
    finally:
        shutil.rmtree(d, ignore_errors=True)


# (name, raw request, expected status) sent to the proxy; each must close the connection
SMUGGLING = [
    ("cl_and_te", b"POST / HTTP/1.1\r\nHost: ops.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400),
    ("duplicate_cl", b"POST / HTTP/1.1\r\nHost: ops.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("te_not_chunked_last", b"POST / HTTP/1.1\r\nHost: ops.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: ops.test\r\nX-A: a\r\n b\r\n\r\n", 400),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost: ops.test\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
    ("no_host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two_hosts", b"GET / HTTP/1.1\r\nHost: ops.test\r\nHost: other.test\r\n\r\n", 400),
    ("long_request_line", b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: ops.test\r\n\r\n", 414),
    ("huge_headers", b"GET / HTTP/1.1\r\nHost: ops.test\r\nX-F: " + b"b" * (1 << 20) + b"\r\n\r\n", 431),
    # HT and FF may pass the parser; the upstream request line cannot carry them (had been a
    # 502, counted against circuit breakers)
    ("tab_in_target", b"GET /a\tb HTTP/1.1\r\nHost: ops.test\r\n\r\n", 400),
    ("ff_in_query", b"GET /a?x=\x0c HTTP/1.1\r\nHost: ops.test\r\n\r\n", 400),
    ("bad_chunk", b"POST / HTTP/1.1\r\nHost: ops.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
]


@t.test
def smuggling_and_limits_through_proxy():
    """Last before stopping: a proxy that crashes here must not hide the other results."""
    bad = []
    for name, raw, want in SMUGGLING:
        data, closed = raw_request(S["proxy"].web, raw)
        got = status_of(data)
        if got != want or not closed:
            bad.append("%s: status %s closed %s, want %s" % (name, got, closed, want))
        if data.count(b"HTTP/1.1 ") > 1:
            bad.append("%s: a second response followed (smuggled request): %r" % (name, data[:400]))
    assert not bad, "\n".join(bad)


@t.test
def stops_cleanly():  # the last test: t.run's cleanup tears down the rest
    assert_stopped_cleanly(S["proxy"], S["fproxy"])


if __name__ == "__main__":
    t.run(cleanup=teardown)
