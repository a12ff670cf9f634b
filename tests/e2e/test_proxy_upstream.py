"""Upstream forwarding of `hearth proxy` (src/proxy/proxy_upstream*.c, proxy_tunnel.c)
through tests/e2e/proxy_fwd_fixture (one service, no routing) in front of hc_testd
backends and small stdlib backends: headers both ways, load balancing, sticky cookies,
streaming both ways with bounded memory, WebSocket tunnels, 502/503/504, retries.

    HEARTH_BUILD=build-upstream python3 tests/e2e/test_proxy_upstream.py
"""
import base64
import contextlib
import json
import os
import re
import socket
import time

from harness import (Proc, Tap, binary, connect, free_port, raw_request, read_until_close, status_of,
                     wait_port)
from proxy_env import RawBackend, Recorder, Responder, Sink, cpu_seconds, heads, read_head, rss_kib

t = Tap()


def backend(name):
    port = free_port()
    p = Proc([binary("hc_testd"), "--listen", "127.0.0.1:%d" % port, "--name", name])
    wait_port(port, proc=p)
    return p, port


def lb_config(ports, sticky=None, extra=None):
    lb = {"servers": [{"url": "http://127.0.0.1:%d" % p} for p in ports]}
    if sticky is not None:
        lb["sticky"] = {"cookie": sticky}
    if extra:
        lb.update(extra)
    return json.dumps({"http": {"services": {"svc": {"loadBalancer": lb}}}})


def fixture(config, *extra, env=None):
    port = free_port()
    p = Proc([binary("proxy_fwd_fixture"), "--listen", "127.0.0.1:%d" % port, "--config", config,
              "--service", "svc@file"] + list(extra), env=env)
    wait_port(port, proc=p)
    return p, port


def get(port, path, headers=(), method="GET", body=b""):
    head = "%s %s HTTP/1.1\r\nHost: app.test:%d\r\nConnection: close\r\n" % (method, path, port)
    for h in headers:
        head += h + "\r\n"
    if body:
        head += "Content-Length: %d\r\n" % len(body)
    return raw_request(port, head.encode() + b"\r\n" + body, timeout=15)[0]


def split(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def header(head, name):
    m = re.search(r"(?im)^%s:\s*(.*?)\r?$" % re.escape(name), head)
    return m.group(1) if m else None


def stop_all(*procs):
    for p in procs:
        assert p.stop() == 0, "exit status of %s:\n%s" % (p.args[0], p.output()[-3000:])


@contextlib.contextmanager
def behind_fixture(be):
    """A RawBackend be behind the fixture: yields (be, fixture, port) and stops both."""
    fx, port = fixture(lb_config([be.port]))
    try:
        yield be, fx, port
    finally:
        be.stop()
        stop_all(fx)


@contextlib.contextmanager
def one_server(*extra):
    """hc_testd "a" behind the fixture (extra: the fixture's options): yields (fixture,
    port) and stops both, asserting their exit status."""
    be, bport = backend("a")
    fx, port = fixture(lb_config([bport]), *extra)
    try:
        yield fx, port
    finally:
        stop_all(fx, be)


@t.test
def forwarded_and_hop_by_hop_headers():
    with one_server() as (fx, port):
        r = get(port, "/headers?x=1", ["Connection: close, X-Secret", "X-Secret: 1",
                                       "Keep-Alive: timeout=5", "TE: trailers",
                                       "X-Forwarded-For: 203.0.113.9", "X-Real-Ip: 203.0.113.9",
                                       "Proxy-Connection: keep-alive"])
        head, body = split(r)
        assert status_of(r) == 200, r
        seen = json.loads(body)
        h = {k.lower(): v for k, v in seen["headers"].items()}
        assert seen["target"] == "/headers?x=1"
        for hop in ("x-secret", "keep-alive", "te", "proxy-connection"):
            assert hop not in h, (hop, h)
        assert h["x-forwarded-for"] == "127.0.0.1", h  # untrusted peer: spoof stripped
        assert h["x-real-ip"] == "127.0.0.1"
        assert h["x-forwarded-proto"] == "http"
        assert h["x-forwarded-host"] == "app.test:%d" % port
        assert h["x-forwarded-port"] == str(port)
        assert h["host"] == "app.test:%d" % port  # passHostHeader defaults to true
        r = get(port, "/headers", ["User-Agent:"])  # Go's Request.Write leaves an empty one out
        assert "user-agent" not in {k.lower() for k in json.loads(split(r)[1])["headers"]}, r
        assert header(head, "X-Backend") == "a"


@t.test
def trusted_peer_keeps_forwarded_chain():
    with one_server("--trusted", "127.0.0.0/8") as (fx, port):
        r = get(port, "/headers", ["X-Forwarded-For: 203.0.113.9", "X-Forwarded-Proto: https"])
        h = {k.lower(): v for k, v in json.loads(split(r)[1])["headers"].items()}
        assert h["x-forwarded-for"] == "203.0.113.9, 127.0.0.1", h
        assert h["x-forwarded-proto"] == "https"


@t.test
def server_url_path_prefixes_the_target_with_preserve_path():
    """Traefik's directorBuilder: a server URL's path prefixes the request's only with the
    server's preservePath (hearth had always joined them); its key in any case."""
    be, bport = backend("a")
    for preserve, want in ((None, "/x/y?q=1"), (True, "/base/x/y?q=1")):
        server = {"url": "http://127.0.0.1:%d/base//" % bport}
        if preserve:
            server["preservepath"] = preserve
        cfg = json.dumps({"http": {"services": {"svc": {"loadBalancer": {"servers": [server]}}}}})
        fx, port = fixture(cfg)
        try:
            for _ in range(2):  # the second on the pooled connection
                seen = json.loads(split(get(port, "/x/y?q=1"))[1])
                assert seen["target"] == want, (preserve, seen)
                assert seen["headers"]["Host"] == "app.test:%d" % port, seen
        finally:
            stop_all(fx)
    stop_all(be)


@t.test
def round_robin_over_servers():
    a, pa = backend("a")
    b, pb = backend("b")
    fx, port = fixture(lb_config([pa, pb]))
    try:
        seen = [header(split(get(port, "/headers"))[0], "X-Backend") for _ in range(6)]
        assert seen in (["a", "b"] * 3, ["b", "a"] * 3), seen
    finally:
        stop_all(fx, a, b)


@t.test
def sticky_cookie_pins_server():
    a, pa = backend("a")
    b, pb = backend("b")
    fx, port = fixture(lb_config([pa, pb], sticky={"httpOnly": True, "sameSite": "lax"}))
    try:
        head, _ = split(get(port, "/headers"))
        sc = header(head, "Set-Cookie")
        first = header(head, "X-Backend")
        m = re.match(r"^(_[0-9a-f]{5})=([0-9a-f]{16}); Path=/; HttpOnly; SameSite=Lax$", sc)
        assert m, sc
        for _ in range(4):
            h2, _ = split(get(port, "/headers", ["Cookie: other=1; %s=%s" % (m.group(1), m.group(2))]))
            assert header(h2, "X-Backend") == first
            assert header(h2, "Set-Cookie") is None
    finally:
        stop_all(fx, a, b)


@t.test
def streams_large_response():
    with one_server() as (fx, port):
        n = 64 * 1024 * 1024
        s = connect(port, timeout=30)
        s.sendall(b"GET /big?n=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % n)
        got, head = 0, b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            d = s.recv(1 << 20)
            if not d:
                break
            if not head:
                head, _, d = d.partition(b"\r\n\r\n")
                assert b"Content-Length: %d" % n in head, head
            got += len(d)
        s.close()
        assert got == n, got


PATTERN = bytes(range(251)) * 64  # a prime period: a lost, doubled or moved piece shows


def pattern(n):
    reps = n // len(PATTERN) + 1
    return (PATTERN * reps)[:n]


class PatternBackend(RawBackend):
    """A keep-alive backend answering GET /?n=N with N pattern bytes under a
    Content-Length of N; &cut=K sends only K of them and closes, &pieces=P sends the body
    in P pieces 50 ms apart, &cookies=C&csize=S adds C Set-Cookie fields of S bytes and an
    X-After field, &date=1 an old Date and its Expires, &hints=1 a 103 Early Hints
    response first, &extra=1 a stray response after the body."""

    def serve(self, c):
        for head in heads(c):
            q = dict(re.findall(rb"[?&](\w+)=(\d+)", head.split(b"\r\n")[0]))
            n = int(q.get(b"n", 0))
            body = pattern(n)[:int(q.get(b"cut", n))]
            fields = b"".join(b"Set-Cookie: c%d=%s\r\n" % (i, b"v" * int(q.get(b"csize", 10)))
                              for i in range(int(q.get(b"cookies", 0))))
            if b"hints" in q:
                c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nConnection: X-Hop\r\n"
                          b"X-Hop: 1\r\nKeep-Alive: timeout=5\r\n\r\n")
            if b"date" in q:
                fields += b"Date: Wed, 21 Oct 2015 07:28:00 GMT\r\nExpires: Wed, 21 Oct 2015 08:28:00 GMT\r\n"
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%sX-After: 1\r\n\r\n" % (n, fields))
            if b"extra" in q:  # a second, unasked response glued to the body
                body += b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"
            pieces = int(q.get(b"pieces", 1))
            step = len(body) // pieces + 1
            for i in range(0, len(body), step):
                c.sendall(body[i:i + step])
                if pieces > 1:
                    time.sleep(0.05)
            if len(body) < n:
                return


def read_response(s, deadline, pace=0.0, wait=0.0):
    """One response on s (Content-Length framed): (head, body, complete); pace: a pause
    after each read, wait: a pause before the first."""
    time.sleep(wait)
    buf = b""
    while b"\r\n\r\n" not in buf and time.monotonic() < deadline:
        d = s.recv(65536)
        if not d:
            return buf, b"", False
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    parts = [body]
    got = len(body)
    while got < n and time.monotonic() < deadline:
        d = s.recv(min(n - got, 1 << 20))
        if not d:
            break
        parts.append(d)
        got += len(d)
        if pace:
            time.sleep(pace)
    return head, b"".join(parts), got == n


@t.test
def large_bodies_arrive_whole_in_order_over_kept_connections():
    """Bodies past the first read go upstream socket -> pipe -> client socket (splice);
    sizes on both sides of that path, on one client connection, one upstream connection."""
    with behind_fixture(PatternBackend()) as (be, fx, port):
        s = connect(port, timeout=30)
        deadline = time.monotonic() + 60
        for n in (100, 20000, 40000, 65536, 300001, 5000000, 70000, 3):
            s.sendall(b"GET /?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
            head, body, complete = read_response(s, deadline)
            assert complete and body == pattern(n), (n, head, len(body))
        s.close()
        assert be.conns == 1, be.conns


@t.test
def large_response_heads_pass_whole_or_fail_loudly():
    """Response fields are all passed up to a 1 MiB head (Set-Cookie fields stay
    separate); past it the client gets 500 (Traefik's status for a transport error that
    is not the network's), never a response with fields missing."""
    with behind_fixture(PatternBackend()) as (be, fx, port):
        for cookies, size in ((6, 3900), (1000, 20), (1, 100000), (9, 100000)):
            r = get(port, "/?n=5&cookies=%d&csize=%d" % (cookies, size))
            head, body = split(r)
            assert status_of(r) == 200 and body == pattern(5), (cookies, size, head[:200])
            got = re.findall(r"(?im)^Set-Cookie: c(\d+)=(v*)\r?$", head)
            assert [int(i) for i, _ in got] == list(range(cookies)), (cookies, size, len(got))
            assert all(len(v) == size for _, v in got) and header(head, "X-After") == "1"
        r = get(port, "/?n=5&cookies=12&csize=100000")  # 1.2 MB of fields
        assert status_of(r) == 500, r[:300]
        r = get(port, "/?n=5&cookies=2&csize=10")
        assert status_of(r) == 200 and len(re.findall(r"(?im)^Set-Cookie:", split(r)[0])) == 2, r[:300]


@t.test
def origin_date_is_kept():
    """RFC 9110 §6.6.1: a proxy keeps the origin's Date (caches compute freshness from it
    and Expires); it adds one only when the origin sent none, as Go does."""
    with behind_fixture(PatternBackend()) as (be, fx, port):
        head = split(get(port, "/?n=3&date=1"))[0]
        assert re.findall(r"(?im)^Date: (.*?)\r?$", head) == ["Wed, 21 Oct 2015 07:28:00 GMT"], head
        head = split(get(port, "/?n=3"))[0]
        dates = re.findall(r"(?im)^Date: (.*?)\r?$", head)
        assert len(dates) == 1 and dates[0].endswith(" GMT") and "2015" not in dates[0], head


@t.test
def early_hints_are_forwarded():
    """RFC 9110 §15.2: a proxy forwards 1xx responses (not to an HTTP/1.0 client)."""
    with behind_fixture(PatternBackend()) as (be, fx, port):
        r = raw_request(port, b"GET /?n=4&hints=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        timeout=10)[0]
        hints, _, final = r.partition(b"\r\n\r\n")
        assert hints.startswith(b"HTTP/1.1 103 Early Hints\r\n"), r[:300]
        assert b"\r\nLink: </s.css>; rel=preload" in hints, r[:300]
        for hop in (b"X-Hop", b"Keep-Alive", b"Connection: X"):  # RFC 9110 §7.6.1
            assert hop not in hints, r[:300]
        assert status_of(final) == 200 and split(final)[1] == pattern(4), r[:300]
        r = raw_request(port, b"GET /?n=4&hints=1 HTTP/1.0\r\nHost: x\r\n\r\n", timeout=10)[0]
        assert r.startswith(b"HTTP/1.0 200 ") and split(r)[1] == pattern(4), r[:300]


@t.test
def slow_reader_and_slow_upstream_get_whole_bodies():
    """A client that reads slowly fills its socket mid-splice (the rest is buffered as
    usual); an upstream that sends in pieces leaves the proxy waiting mid-body."""
    with behind_fixture(PatternBackend()) as (be, fx, port):
        s = connect(port, timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        deadline = time.monotonic() + 60
        # the last: a client that starts reading only once the upstream sent everything
        for path, n, pace, wait in ((b"/?n=%d", 4000000, 0.002, 0), (b"/?pieces=8&n=%d", 1000000, 0, 0),
                                    (b"/?n=%d", 200000, 0, 0), (b"/?n=%d", 600000, 0, 0.5)):
            s.sendall(b"GET " + path % n + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body, complete = read_response(s, deadline, pace, wait)
            assert complete and body == pattern(n), (path, head, len(body))
        s.close()


@t.test
def bytes_past_a_body_retire_the_upstream_connection():
    """An upstream that sends more than its Content-Length: the connection is not reused,
    so the stray bytes never answer the next request (spliced body or copied), not even
    a pipelined one that takes the connection at once."""
    with behind_fixture(PatternBackend()) as (be, fx, port):
        s = connect(port, timeout=30)
        deadline = time.monotonic() + 30
        for n in (100000, 8000, 1000000, 100000):
            s.sendall(b"GET /?n=%d&extra=1 HTTP/1.1\r\nHost: x\r\n\r\n" % n +
                      b"GET /?n=5 HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body, complete = read_response(s, deadline)
            assert complete and body == pattern(n), (n, head, len(body))
            head, body, complete = read_response(s, deadline)
            assert complete and body == pattern(5), (n, head, body)
        s.close()


class DropAll(RawBackend):
    """A backend that reads each request and closes without answering (.seen counts)."""

    def __init__(self):
        self.seen = 0
        super().__init__(timeout=10)

    def serve(self, c):
        for _ in heads(c, limit=1):
            self.seen += 1


@t.test
def a_server_closing_without_answer_is_not_down_nor_retried():
    """A request the server read and dropped is 502, sent once: the server took it, so
    it is neither marked unreachable nor retried elsewhere (connect failures are)."""
    a, b = DropAll(), DropAll()
    fx, port = fixture(lb_config([a.port, b.port]))
    try:
        for i in range(4):
            r = get(port, "/x")
            assert status_of(r) == 502, (i, r[:200])
            assert a.seen + b.seen == i + 1, (i, a.seen, b.seen)
        assert a.seen == 2 and b.seen == 2, (a.seen, b.seen)  # both still in the rotation
    finally:
        a.stop()
        b.stop()
        stop_all(fx)


@t.test
def upstream_cut_mid_body_cuts_the_client_response():
    """An upstream that closes short of its Content-Length: the client's response ends
    short with a close too (never complete-looking), and the next request is served."""
    with behind_fixture(PatternBackend()) as (be, fx, port):
        for cut in (30000, 500000):
            s = connect(port, timeout=30)
            s.sendall(b"GET /?n=1000000&cut=%d HTTP/1.1\r\nHost: x\r\n\r\n" % cut)
            head, body, complete = read_response(s, time.monotonic() + 30)
            assert not complete and status_of(head) == 200, (cut, head, len(body))
            assert len(body) <= cut and body == pattern(len(body)), (cut, len(body))
            s.close()
            r = get(port, "/?n=50000")
            assert status_of(r) == 200 and split(r)[1] == pattern(50000), r[:200]
        assert fx.poll() is None, fx.output()[-3000:]


@t.test
def client_leaving_mid_download_leaves_the_proxy_serving():
    with behind_fixture(PatternBackend()) as (be, fx, port):
        for pieces in (1, 20):
            s = connect(port, timeout=30)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            s.sendall(b"GET /?pieces=%d&n=30000000 HTTP/1.1\r\nHost: x\r\n\r\n" % pieces)
            s.recv(100000)
            time.sleep(0.2)
            s.close()
            r = get(port, "/?n=80000")
            assert status_of(r) == 200 and split(r)[1] == pattern(80000), r[:200]
        assert fx.poll() is None, fx.output()[-3000:]


class DropSecond(RawBackend):
    """A backend that answers the first request of each connection and closes the
    connection on reading the second one, unanswered (a server restarting under a pooled
    connection). .seen lists every request line received."""

    def __init__(self):
        self.seen = []
        super().__init__(timeout=30)

    def serve(self, c):
        for answer, head in zip((True, False), heads(c)):
            self.seen.append(head.split(b"\r\n")[0].decode())
            if answer:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


@t.test
def only_idempotent_requests_are_resent_after_a_dropped_pooled_connection():
    """RFC 9112 §9.3.1: a POST the server may have acted on is not sent twice (502, as
    Traefik); a GET, or a POST with an Idempotency-Key (Go's rule), is resent."""
    with behind_fixture(DropSecond()) as (be, fx, port):
        for method, key, want in (("POST", None, 502), ("GET", None, 200), ("DELETE", None, 502),
                                  ("POST", "Idempotency-Key: 7f3a", 200)):
            assert status_of(get(port, "/warm")) == 200  # leaves one pooled connection
            before = len(be.seen)
            r = get(port, "/charge", method=method, headers=[key] if key else [])
            sent = [line for line in be.seen[before:] if "/charge" in line]
            assert status_of(r) == want, (method, key, r[:200])
            assert len(sent) == (2 if want == 200 else 1), (method, key, be.seen[before:])


class QuitOnSecond(RawBackend):
    """Answers the first request of its one connection; on reading the second it stops
    listening and closes the connection unanswered: a server shutting down under a pooled
    connection, so the resend's connect is refused."""

    def serve(self, c):
        for answer, head in zip((True, False), heads(c)):
            if answer:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            else:  # shutdown stops the listening at once (close waits out accept's poll)
                self.ls.shutdown(socket.SHUT_RDWR)
                self.stop()


@t.test
def a_server_gone_under_a_pooled_request_sends_it_to_another():
    """The pooled connection is closed unanswered and the resend's connect is refused:
    that is a server that cannot be reached, so the GET goes to the other server (200)
    and the gone one is taken out, as for any refused connect."""
    q = QuitOnSecond()
    be, bport = backend("b")
    fx, port = fixture(lb_config([q.port, bport]))
    try:
        for i in range(6):
            r = get(port, "/x?i=%d" % i)
            assert status_of(r) == 200, (i, r[:300])
    finally:
        q.stop()
        stop_all(fx, be)


class ExpectServer(RawBackend):
    """A backend for requests with "Expect: 100-continue" and a body: mode "refuse"
    answers 413 at once and never reads (then waits for the connection to close),
    "continue" sends 100 and then reads, "silent" reads whatever comes without a 100.
    Read bodies are answered 200 with their length. .got holds each body's byte count
    (refused: the bytes that arrived anyway), .expect each request's Expect field."""

    def __init__(self, mode):
        self.mode, self.got, self.expect = mode, [], []
        super().__init__(timeout=10)

    def serve(self, c):
        head, rest = read_head(c)
        if head is None:
            return
        m = re.search(rb"(?im)^expect:\s*(.*?)\r?$", head)
        self.expect.append(m.group(1).decode() if m else None)
        n = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        if self.mode == "refuse":
            c.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!")
            got = len(rest)
            c.settimeout(3)
            try:
                while d := c.recv(65536):  # until the proxy closes: no body should come
                    got += len(d)
            except socket.timeout:
                pass
            self.got.append(got)
            return
        if self.mode == "continue":
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = rest
        while len(body) < n:
            d = c.recv(65536)
            if not d:
                break
            body += d
        self.got.append(len(body))
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (len(str(len(body))), len(body)))


def expect_exchange(port, n, body_after=None):
    """A PUT of n bytes with Expect: 100-continue: sends the head, reads what comes back
    (the body is sent on a 100, or after body_after seconds without one). Returns
    (interim heads seen before the final response, final head, final body, seconds from
    the head to the first byte back)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"PUT /up HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n"
                  b"Expect: 100-continue\r\n\r\n" % n)
        t0, first, interim, buf, sent = time.monotonic(), None, [], b"", False
        deadline = t0 + 10
        while time.monotonic() < deadline:
            if body_after is not None and not sent and time.monotonic() - t0 >= body_after:
                s.sendall(b"x" * n)
                sent = True
            s.settimeout(0.05 if body_after is not None and not sent else 5)
            try:
                d = s.recv(65536)
            except socket.timeout:
                continue
            if not d:
                break
            first = first or time.monotonic() - t0
            buf += d
            while b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                if not re.match(rb"HTTP/1\.1 1\d\d ", head):
                    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    while m and len(rest) < int(m.group(1)) and time.monotonic() < deadline:
                        rest += s.recv(65536)
                    return interim, head, rest, first
                interim.append(head)
                buf = rest
                if not sent:
                    s.sendall(b"x" * n)
                    sent = True
        return interim, None, buf, first
    finally:
        s.close()


@t.test
def expect_continue_waits_for_the_servers_answer():
    """RFC 9110 §10.1.1, as Traefik's transport (ExpectContinueTimeout 1 s): Expect goes
    to the server, and the client's 100 Continue comes only when the server asks for the
    body; a server refusing at once costs the client no upload; a server that never
    sends 100 gets the body after a second."""
    with behind_fixture(ExpectServer("refuse")) as (be, fx, port):
        interim, head, body, first = expect_exchange(port, 1 << 20, body_after=None)
        assert head is not None and head.startswith(b"HTTP/1.1 413"), (interim, head)
        assert interim == [] and body == b"big!", (interim, body)
        assert first < 0.9, first
        deadline = time.monotonic() + 5
        while not be.got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert be.got == [0] and be.expect == ["100-continue"], (be.got, be.expect)
    with behind_fixture(ExpectServer("continue")) as (be, fx, port):
        interim, head, body, first = expect_exchange(port, 300000)
        assert [h.split(b"\r\n")[0] for h in interim] == [b"HTTP/1.1 100 Continue"], interim
        assert head.startswith(b"HTTP/1.1 200") and body == b"300000", (head, body)
        assert be.got == [300000], be.got
    with behind_fixture(ExpectServer("silent")) as (be, fx, port):
        interim, head, body, first = expect_exchange(port, 5000)
        assert len(interim) == 1 and 0.8 <= first < 3, (interim, first)
        assert head.startswith(b"HTTP/1.1 200") and body == b"5000", (head, body)


class TenK(RawBackend):
    """A keep-alive backend answering every GET /N with a 10,000-byte body that starts
    with <N>."""

    def serve(self, c):
        for head in heads(c):
            n = head.split(b" ")[1][1:]
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + (b"<%s>" % n).ljust(10000, b"r"))


@t.test
def pipelined_requests_wait_for_a_slow_reader():
    """RFC 9112 §9.3.2: pipelined requests from a client that is not reading are taken
    one at a time as its answers drain, as nginx and HAProxy do: memory stays bounded
    and every answer arrives, in order (they had piled up, ~10 MB a connection, until
    the connection was dropped mid-answer)."""
    be = TenK(timeout=30)
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:quarantine_size_mb=4"}
    fx, port = fixture(lb_config([be.port]), env=env)
    socks = []
    try:
        time.sleep(0.2)
        base = rss_kib(fx.pid)
        pipeline = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(1000))
        for _ in range(10):
            socks.append(connect(port))
            socks[-1].sendall(pipeline)
        time.sleep(2)
        grown = rss_kib(fx.pid) - base
        assert grown < 30 * 1024, "%d KiB more for 10 clients that do not read" % grown
        s, data, deadline = socks[0], b"", time.monotonic() + 20
        s.settimeout(5)
        while data.count(b"HTTP/1.1 200") < 1000 and time.monotonic() < deadline:
            d = s.recv(1 << 20)
            if not d:
                break
            data += d
        tags = [int(x) for x in re.findall(rb"<(\d+)>", data)]
        assert tags == list(range(1000)), (len(tags), tags[-3:])
    finally:
        for c in socks:
            c.close()
        be.stop()
        stop_all(fx)


MALFORMED = [  # (response head, status the client gets)
    (b"HTTP/1.1 200 OK\r\nSet-Cookie : sid=1\r\nContent-Length: 2\r\n\r\nok", 500),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 500),
    (b"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n", 500),
    (b"HTTP/1.1 200 OK\r\nX-Pad: v \t\r\nContent-Length: 2\r\n\r\nok", 200),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 500),
    # chunked wins over a Content-Length, as Go's transport reads it ("in the wild")
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200),
    # the server closes inside its head: Go's unexpected EOF, 500 from Traefik (nothing at
    # all is an end of stream: 502, a_server_closing_without_answer_is_not_down_nor_retried)
    (b"HTTP/1.1 200 OK\r\nX-Cut: par", 500),
    # as Go's transport reads them: a field without a name is refused; bare LF line ends,
    # an HTTP/1.2 status line and a folded trailer line are read
    (b"HTTP/1.1 200 OK\r\n: evil\r\nContent-Length: 2\r\n\r\nok", 500),
    (b"HTTP/1.1 200 OK\nContent-Length: 2\nX-Lf: 1\n\nok", 200),
    (b"HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok", 200),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: a\r\n b\r\n\r\n", 200),
    # Go's server drops a 304's Content-Type and Content-Length (suppressedHeaders304)
    (b"HTTP/1.1 304 Not Modified\r\nContent-Type: text/html\r\nContent-Length: 10\r\nETag: \"v1\"\r\n\r\n", 304),
]


class Malformed(RawBackend):
    """Answers GET /N with MALFORMED[N]'s response, then closes."""

    def serve(self, c):
        head, _ = read_head(c)
        if head is not None:
            c.sendall(MALFORMED[int(head.split(b" ")[1][1:])][0])


@t.test
def malformed_upstream_heads_are_refused():
    """RFC 9112 §5.1: a response field with whitespace before its colon is refused (500,
    Traefik's status for a malformed response), never relayed (a "Transfer-Encoding :"
    field had framed the body and then gone out beside the proxy's own); so is a status
    below 100 or two different lengths. Trailing whitespace is not part of a value. The
    500 page has no Content-Type (Traefik v3's entry point turns type sniffing off), and
    the log says what was wrong."""
    with behind_fixture(Malformed()) as (be, fx, port):
        for i, (_, want) in enumerate(MALFORMED):
            r = get(port, "/%d" % i)
            assert status_of(r) == want, (i, r[:300])
            assert r.lower().count(b"transfer-encoding") <= 1, r[:300]
            if want == 500:
                assert header(split(r)[0], "Content-Type") is None, r[:300]
            if 8 <= i <= 10:  # the bodies Go's transport reads
                head, body = split(r)
                assert body in (b"ok", b"2\r\nok\r\n0\r\n\r\n"), (i, head, body)
                assert i != 8 or header(head, "X-Lf") == "1", repr(head)
        head, _ = split(get(port, "/3"))
        assert re.search(r"(?m)^X-Pad: v\r?$", head), head
        r = get(port, "/5")  # its Content-Length removed (RFC 9112 §6.3), the body re-chunked
        head, body = split(r)
        assert header(head, "Content-Length") is None and header(head, "Transfer-Encoding") == "chunked", r
        assert body == b"5\r\nhello\r\n0\r\n\r\n", r
        head = split(get(port, "/11"))[0]
        assert header(head, "Content-Type") is None and header(head, "Content-Length") is None, head
        assert header(head, "ETag") == '"v1"', head
        refused = [x for x in fx.output().splitlines() if "upstream answer refused" in x]
        assert len(refused) >= 5 and any("reason" in x for x in refused), fx.output()[-2000:]


@t.test
def pipelined_requests_reuse_the_upstream_connection():
    """A pipelined request is sent upstream from outside the read of the one before; its
    answer can be read before the write's completion is reported, and the connection
    was closed as if the request had not been sent: a new connection every two
    requests."""
    with behind_fixture(TenK(timeout=30)) as (be, fx, port):
        s = connect(port)
        s.sendall(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(40)))
        data, deadline = b"", time.monotonic() + 15
        while data.count(b"HTTP/1.1 200") < 40 and time.monotonic() < deadline:
            data += s.recv(1 << 20)
        s.close()
        assert [int(x) for x in re.findall(rb"<(\d+)>", data)] == list(range(40))
        assert be.conns == 1, be.conns


@t.test
def bytes_after_a_closing_request_do_not_spin():
    """A request asking to close, with another behind it in the same read: the second is
    never parsed, and the connection lingers idle (it had been requeued in a loop, a
    core at 100 % until the linger timer closed it)."""
    with one_server() as (fx, port):
        before = cpu_seconds(fx.pid)
        s = connect(port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                  b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        data, closed = read_until_close(s, timeout=5)
        assert status_of(data) == 200 and data.count(b"HTTP/1.1") == 1 and closed, data[:300]
        time.sleep(2.5)  # the client stays: the proxy lingers out its 2 s
        s.close()
        assert cpu_seconds(fx.pid) - before < 0.5, cpu_seconds(fx.pid) - before


class Patient(RawBackend):
    """Reads a request head, then its body until the peer closes; .closed_after holds
    the seconds each connection lived after the head."""

    def __init__(self):
        self.closed_after = []
        super().__init__(timeout=30)

    def serve(self, c):
        head, _ = read_head(c)
        t0 = time.monotonic()
        while head is not None and c.recv(65536):
            pass
        self.closed_after.append(time.monotonic() - t0)


@t.test
def slow_request_body_times_out():
    """Traefik's readTimeout bounds reading a request: a body trickling (or stalled)
    past it gets 408 and the upstream request is abandoned, so a slow client cannot hold
    a backend worker for as long as it likes."""
    be = Patient()
    fx, port = fixture(lb_config([be.port]), "--read-timeout-ms", "1500")
    try:
        s = connect(port)
        s.sendall(b"POST /up HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100000\r\n\r\nx")
        t0 = time.monotonic()
        data, closed = read_until_close(s, timeout=10)
        s.close()
        assert status_of(data) == 408 and closed, data[:200]
        assert 1.2 < time.monotonic() - t0 < 6, time.monotonic() - t0
        deadline = time.monotonic() + 5
        while not be.closed_after and time.monotonic() < deadline:
            time.sleep(0.05)
        assert be.closed_after and be.closed_after[0] < 6, be.closed_after
        # one deadline for head and body, as Go's ReadTimeout: a head that took 1 s leaves
        # the body 0.5 s, not another 1.5 s
        s = connect(port)
        t0 = time.monotonic()
        s.sendall(b"POST /up HTTP/1.1\r\n")
        time.sleep(0.5)
        s.sendall(b"Host: app.test\r\n")
        time.sleep(0.5)
        s.sendall(b"Content-Length: 100000\r\n\r\nx")
        data, closed = read_until_close(s, timeout=10)
        s.close()
        assert status_of(data) == 408 and closed, data[:200]
        assert 1.3 < time.monotonic() - t0 < 2.2, time.monotonic() - t0
    finally:
        be.stop()
        stop_all(fx)


@t.test
def streams_large_upload_in_bounded_memory():
    sink = Sink(timeout=60)
    # ASan's quarantine would hold every freed buffer: keep it small to see real growth
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:quarantine_size_mb=4"}
    fx, port = fixture(lb_config([sink.port]), env=env)
    try:
        time.sleep(0.2)
        base = rss_kib(fx.pid)
        n = 256 * 1024 * 1024
        s = connect(port, timeout=60)
        s.sendall(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n)
        block = b"y" * (1 << 20)
        peak = base
        for i in range(n // len(block)):
            s.sendall(block)
            if i % 16 == 0:
                peak = max(peak, rss_kib(fx.pid))
        resp, _ = read_until_close(s, timeout=60)
        s.close()
        assert status_of(resp) == 200, resp[:200]
        assert resp.endswith(b"%d" % n), resp[-50:]
        assert peak - base < 48 * 1024, "RSS grew %d KiB" % (peak - base)
    finally:
        stop_all(fx)


class SlowChunkCounter(RawBackend):
    """Waits before reading a request, then reads its chunked body whole and answers with
    the number of body bytes it got."""

    def serve(self, c):
        time.sleep(2)
        head, buf = read_head(c, b"")
        if head is None:
            return
        while not buf.endswith(b"\r\n0\r\n\r\n"):
            more = c.recv(1 << 20)
            if not more:
                return
            buf += more
        got, at = 0, 0
        while True:  # the chunks, as framed
            eol = buf.index(b"\r\n", at)
            size = int(buf[at:eol], 16)
            if not size:
                break
            got += size
            at = eol + 2 + size + 2
        body = b"%d" % got
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))


@t.test
def upload_in_tiny_chunks_to_a_busy_server_loses_nothing():
    """A chunked upload of 1-byte chunks (6 bytes each on the wire) to a server that waits
    before reading: the client is paused while the queue is full, never a chunk dropped
    (past 1 MiB queued the rest had been dropped, the body still framed: silent loss)."""
    be = SlowChunkCounter(timeout=60)
    fx, port = fixture(lb_config([be.port]))
    try:
        n = 2000000
        s = connect(port, timeout=60)
        s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                  + b"1\r\nx\r\n" * n + b"0\r\n\r\n")
        resp, _ = read_until_close(s, timeout=60)
        s.close()
        assert status_of(resp) == 200, resp[:200]
        assert resp.endswith(b"\r\n\r\n%d" % n), resp[-80:]
    finally:
        be.stop()
        stop_all(fx)


def ws_frame(payload, opcode=1):
    mask = os.urandom(4)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    if n < 126:
        return bytes([0x80 | opcode, 0x80 | n]) + mask + data
    return bytes([0x80 | opcode, 0x80 | 126, n >> 8, n & 255]) + mask + data


def ws_read(s, deadline):
    buf = b""
    while time.monotonic() < deadline:
        if len(buf) >= 2:
            n = buf[1] & 127
            off = 2
            if n == 126 and len(buf) >= 4:
                n, off = (buf[2] << 8) | buf[3], 4
            if len(buf) >= off + n:
                return buf[0] & 15, buf[off:off + n]
        d = s.recv(65536)
        if not d:
            break
        buf += d
    raise AssertionError("no websocket frame")


@t.test
def switch_to_another_protocol_is_500():
    """Go's handleUpgradeResponse: a 101 to a protocol the request did not ask for, or to
    a request that asked for none, is an error Traefik answers 500 (hearth had tunnelled
    an h2c switch to a WebSocket client, and answered 502 to the other)."""
    be = Responder()
    be.answer = lambda req: (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             b"Upgrade: h2c\r\n\r\n")
    with behind_fixture(be) as (_, _, port):
        ws = ("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % base64.b64encode(os.urandom(16)).decode())
        resp, _ = raw_request(port, ws.encode())
        assert status_of(resp) == 500, resp[:300]
        resp, _ = raw_request(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(resp) == 500, resp[:300]
        # the protocol asked for, but no Connection: upgrade (Go's upgradeType is then none)
        be.answer = lambda req: b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        resp, _ = raw_request(port, ws.encode())
        assert status_of(resp) == 500, resp[:300]


@t.test
def services_nested_as_deep_as_the_configuration_takes():
    """Weighted services nested nine deep (depths 0 to 8, the most the configuration
    takes) reach the load balancer below them (picks had stopped a level short: 503 from
    a service reported enabled)."""
    be = Responder()
    be.answer = lambda req: b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndeep"
    names = ["svc"] + ["n%d" % i for i in range(1, 9)]
    services = {n: {"weighted": {"services": [{"name": nxt}]}} for n, nxt in zip(names, names[1:] + ["lb"])}
    services["lb"] = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:%d" % be.port}]}}
    fx, port = fixture(json.dumps({"http": {"services": services}}))
    try:
        resp = get(port, "/")
        assert status_of(resp) == 200 and split(resp)[1] == b"deep", resp[:300]
    finally:
        be.stop()
        stop_all(fx)


@t.test
def refused_switch_is_a_passive_failure():
    """passiveHealthCheck counts a refused switch as the 500 it answers (the 101 head had
    been counted a success first, and the failure dropped as the try's second end)."""
    be = Responder()
    be.answer = lambda req: (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             b"Upgrade: h2c\r\n\r\n")
    fx, port = fixture(lb_config([be.port], extra={"passiveHealthCheck": {"maxFailedAttempts": 1}}))
    try:
        ws = ("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % base64.b64encode(os.urandom(16)).decode())
        assert status_of(raw_request(port, ws.encode())[0]) == 500
        resp = get(port, "/")  # the lone server out for 10 s: no server left
        assert status_of(resp) == 503 and split(resp)[1] == b"no available server\n", resp[:300]
    finally:
        be.stop()
        stop_all(fx)


@t.test
def connection_upgrade_read_as_go_reads_the_list():
    """Connection is a comma-separated list, as Go's ReverseProxy reads every such field:
    "keep-alive upgrade" is one element, not an upgrade (hearth had sent the server an
    upgrade its own parser did not see, then freed the forward twice on the server's 101:
    a crash of the whole proxy); an upgrade in a second Connection field is one."""
    be = Responder()
    seen = []

    def answer(req):
        seen.append(req["fields"])
        if "upgrade" in req["fields"]:
            return (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                    b"Upgrade: websocket\r\n\r\n")
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    be.answer = answer
    key = base64.b64encode(os.urandom(16)).decode()
    ws = ("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n%s"
          "Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n")
    with behind_fixture(be) as (_, _, port):
        resp, _ = raw_request(port, (ws % "Connection: keep-alive upgrade\r\n").encode() +
                              b"GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert resp.count(b"HTTP/1.1 200 OK") == 2, resp[:400]
        assert "upgrade" not in seen[0] and seen[0].get("connection") is None, seen[0]
        resp, _ = raw_request(port, (ws % "Connection: keep-alive\r\nConnection: Upgrade\r\n").encode(),
                              timeout=1.0)
        assert status_of(resp) == 101, resp[:300]
        assert seen[-1].get("upgrade") == "websocket", seen[-1]
        resp, _ = raw_request(port, b"GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(resp) == 200, resp[:300]


@t.test
def websocket_through_tunnel():
    with one_server() as (fx, port):
        s = connect(port, timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
        head = b""
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in head and time.monotonic() < deadline:
            head += s.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"Sec-WebSocket-Accept:" in head and b"pgrade: websocket" in head, head
        for msg in (b"hello", b"x" * 5000, b"last"):
            s.sendall(ws_frame(msg))
            op, data = ws_read(s, time.monotonic() + 10)
            assert (op, data) == (1, msg), (op, data[:20])
        s.sendall(ws_frame(b"\x03\xe8", opcode=8))
        op, _ = ws_read(s, time.monotonic() + 10)
        assert op == 8
        s.close()


@t.test
def sse_passes_through():
    with one_server() as (fx, port):
        r = get(port, "/sse")
        assert status_of(r) == 200
        assert b"event: greeting" in r and b"data: two" in r and b"event: bye" in r, r


class LateBody(RawBackend):
    """Sends a response head at once and its body 1.5 s later: an event stream (chunked)
    for /sse, a Content-Length body (a long poll) for any other target."""

    def serve(self, c):
        head, _ = read_head(c, b"")
        if head is None:
            return
        if head.split(b" ", 2)[1] == b"/sse":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            time.sleep(1.5)
            c.sendall(b"b\r\ndata: late\n\r\n0\r\n\r\n")
        else:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
            time.sleep(1.5)
            c.sendall(b"late")


@t.test
def response_head_goes_out_before_a_late_body():
    """A head whose body comes later reaches the client at once, as Go flushes it (an
    event stream's client saw nothing until the first event, a long poll until its body)."""
    with behind_fixture(LateBody()) as (be, fx, port):
        for path in (b"/sse", b"/poll"):
            s = connect(port, timeout=10)
            t0 = time.monotonic()
            s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            first = s.recv(4096)
            took = time.monotonic() - t0
            assert first.startswith(b"HTTP/1.1 200"), first
            assert took < 1.0, "the head came after %.2f s" % took
            rest, _ = read_until_close(s, timeout=10)
            s.close()
            assert (first + rest).endswith(b"late") or b"data: late" in first + rest, first + rest


@t.test
def upstream_down_502_then_recovery():
    bport = free_port()
    fx, port = fixture(lb_config([bport]))
    be = None
    try:
        r = get(port, "/fixed")
        assert status_of(r) == 502 and split(r)[1] == b"Bad Gateway", r
        be = Proc([binary("hc_testd"), "--listen", "127.0.0.1:%d" % bport, "--name", "a"])
        wait_port(bport, proc=be)
        r = get(port, "/fixed")
        assert status_of(r) == 200 and split(r)[1] == b"ok\n", r
    finally:
        stop_all(*([fx] + ([be] if be else [])))


@t.test
def retry_idempotent_on_connect_failure():
    a, pa = backend("a")
    dead = free_port()
    fx, port = fixture(lb_config([dead, pa]))
    try:
        for _ in range(4):
            r = get(port, "/headers")
            assert status_of(r) == 200 and header(split(r)[0], "X-Backend") == "a", r
        # a POST is not retried: it may fail, but it never reaches a second server twice
        statuses = [status_of(get(port, "/echo", method="POST", body=b"abc")) for _ in range(2)]
        assert set(statuses) <= {200, 502}, statuses
        assert "retries=1" in fx.output()
    finally:
        stop_all(fx, a)


@t.test
def response_timeout_is_504():
    with one_server("--response-timeout-ms", "300") as (fx, port):
        start = time.monotonic()
        r = get(port, "/slow?ms=1500")
        assert status_of(r) == 504 and split(r)[1] == b"Gateway Timeout", r
        assert time.monotonic() - start < 1.2


@t.test
def broken_request_bodies_are_refused():
    with one_server() as (fx, port):
        r, _ = raw_request(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                 b"\r\n5\r\nhello\r\nZZ\r\n", timeout=10)
        assert status_of(r) == 400, r
        r, _ = raw_request(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab",
                           timeout=3)  # the client stops half-way: nothing to check but the exit
        r = get(port, "/fixed")
        assert status_of(r) == 200, r


@t.test
def client_leaving_mid_upload_leaves_the_proxy_serving():
    """A client that closes while its body is still coming (a cancelled upload) ends only
    its own request, whether the upstream is still reading the body or not."""
    with one_server() as (fx, port):
        for path in ("/echo", "/fixed", "/echo", "/fixed"):
            s = connect(port, timeout=10)
            s.sendall(b"PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" % path.encode()
                      + b"z" * 20000)
            time.sleep(0.2)
            s.close()
            r = get(port, "/fixed")
            assert status_of(r) == 200, (path, r)
        assert fx.poll() is None, fx.output()[-3000:]


@t.test
def round_robin_starts_at_a_random_server():
    """Traefik shuffles a balancer's servers when it builds it: replicas (and hearth's
    workers) do not all send their first request to the first server. 16 fresh starts
    with two servers all beginning at the same one: 1 in 32768."""
    a, pa = backend("a")
    b, pb = backend("b")
    firsts = set()
    try:
        for _ in range(16):
            fx, port = fixture(lb_config([pa, pb]))
            try:
                firsts.add(header(split(get(port, "/headers"))[0], "X-Backend"))
            finally:
                stop_all(fx)
            if len(firsts) == 2:
                break
        assert firsts == {"a", "b"}, firsts
    finally:
        stop_all(a, b)


@t.test
def no_server_is_503():
    """Traefik v3's balancer with no server at all answers as with none up (http.Error)."""
    cfg = json.dumps({"http": {"services": {"svc": {"loadBalancer": {"servers": []}}}}})
    fx, port = fixture(cfg)
    try:
        r = get(port, "/")
        head, body = split(r)
        assert status_of(r) == 503 and body == b"no available server\n", r
        assert header(head, "X-Content-Type-Options") == "nosniff", r
    finally:
        stop_all(fx)


@t.test
def active_health_check_takes_server_out():
    a, pa = backend("a")
    b, pb = backend("b")
    extra = {"healthCheck": {"path": "/status/200", "interval": "200ms", "timeout": "1s"}}
    fx, port = fixture(lb_config([pa, pb], extra=extra))
    try:
        time.sleep(0.5)
        b.stop()
        time.sleep(1.0)  # a few probe rounds
        seen = {header(split(get(port, "/headers"))[0], "X-Backend") for _ in range(6)}
        assert seen == {"a"}, seen
        a.stop()
        deadline = time.monotonic() + 10
        while status_of(get(port, "/headers")) != 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        # every server checked down: Traefik's balancer answers for itself (http.Error)
        head, body = split(get(port, "/headers"))
        assert body == b"no available server\n" and header(head, "X-Content-Type-Options") == "nosniff", head
    finally:
        stop_all(fx)


class ProbeRecorder(Responder):
    """Keeps the head of each request to /base/... in .heads and answers 200 "up"."""

    def __init__(self):
        self.heads = []
        super().__init__()

    def answer(self, request):
        if request["target"].startswith("/base/"):
            self.heads.append(request["head"])
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nup"


@t.test
def health_probe_as_go_sends_it():
    """Traefik's probe: the path resolved against the server's URL (Go's target.Parse),
    hostname as the one Host (a Host among the headers is never written), Go's client's
    User-Agent and Accept-Encoding; a negative interval is the default, not no check."""
    be = ProbeRecorder()
    hc = {"path": "health", "interval": "200ms", "timeout": "1s", "hostname": "hc.example",
          "headers": {"Host": "vhost.example", "X-Probe": "1"}}
    lb = {"servers": [{"url": "http://127.0.0.1:%d/base/" % be.port}], "healthCheck": hc}
    fx, port = fixture(json.dumps({"http": {"services": {"svc": {"loadBalancer": lb}}}}))
    try:
        deadline = time.monotonic() + 10
        while not be.heads and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = be.heads[0].split("\r\n")
        assert lines[0] == "GET /base/health HTTP/1.1", lines
        assert [x for x in lines if x.lower().startswith("host:")] == ["Host: hc.example"], lines
        for want in ("User-Agent: Go-http-client/1.1", "Accept-Encoding: gzip", "X-Probe: 1"):
            assert want in lines, (want, lines)
    finally:
        stop_all(fx)
    lb["healthCheck"] = {"interval": "-1s"}  # no path: the server's own URL
    be.heads.clear()
    fx, port = fixture(json.dumps({"http": {"services": {"svc": {"loadBalancer": lb}}}}))
    try:
        deadline = time.monotonic() + 10
        while not be.heads and time.monotonic() < deadline:
            time.sleep(0.05)
        assert be.heads and be.heads[0].startswith("GET /base/ HTTP/1.1"), be.heads[:1]
    finally:
        be.stop()
        stop_all(fx)


class RedirectingHealth(Responder):
    """/health redirects to /broken, which answers 500; /loop to itself (counted in
    .loops); anything else is 200 "up"."""
    loops = 0

    def answer(self, request):
        if request["target"] == "/loop":
            self.loops += 1
            return b"HTTP/1.1 302 Found\r\nLocation: loop\r\nContent-Length: 0\r\n\r\n"
        if request["target"] == "/health":
            return b"HTTP/1.1 302 Found\r\nLocation: /broken\r\nContent-Length: 0\r\n\r\n"
        if request["target"] == "/broken":
            return b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nup"


@t.test
def health_check_follows_redirects_as_traefik():
    """followRedirects (Traefik's default true): a probe redirected to a page that fails
    takes the server out; with followRedirects false the redirect itself counts (3xx is
    healthy)."""
    be = RedirectingHealth()
    hc = {"path": "/health", "interval": "200ms", "timeout": "1s"}
    fx, port = fixture(lb_config([be.port], extra={"healthCheck": hc}))
    fx2, port2 = fixture(lb_config([be.port], extra={"healthCheck": dict(hc, followRedirects=False)}))
    try:
        deadline = time.monotonic() + 10
        while status_of(get(port, "/x")) != 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert split(get(port, "/x"))[1] == b"no available server\n"
        time.sleep(0.6)  # a few probe rounds
        assert split(get(port2, "/x"))[1] == b"up"
    finally:
        stop_all(fx, fx2)
    # a redirect loop: Go's client makes 10 requests, then fails the probe
    fx, port = fixture(lb_config([be.port], extra={"healthCheck": dict(hc, path="/loop", interval="30s")}))
    try:
        deadline = time.monotonic() + 10
        while status_of(get(port, "/x")) != 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert split(get(port, "/x"))[1] == b"no available server\n" and be.loops == 10, be.loops
    finally:
        be.stop()
        stop_all(fx)


class FlakyHealth(Responder):
    """/health answers 500 while .failing, else 200; each probe's time, method and body
    are kept in .probes."""
    failing = True

    def __init__(self):
        self.probes = []
        super().__init__(timeout=10)

    def answer(self, request):
        if request["target"] == "/health":
            self.probes.append((time.monotonic(), request["method"], request["body"]))
            if self.failing:
                return b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nup"


@t.test
def health_check_unhealthy_interval_and_body():
    """unhealthyInterval: a server found down is probed at that pace, one found up at
    interval's (Traefik's two tickers); method and body go with each probe."""
    be = FlakyHealth()
    hc = {"path": "/health", "interval": "30s", "unhealthyInterval": "150ms", "timeout": "1s",
          "method": "POST", "body": '{"ping":1}'}
    fx, port = fixture(lb_config([be.port], extra={"healthCheck": hc}))
    try:
        deadline = time.monotonic() + 10
        while status_of(get(port, "/x")) != 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        n, t0 = len(be.probes), time.monotonic()
        while len(be.probes) - n < 4 and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        took = time.monotonic() - t0  # 0.6 s at 150 ms; interval's 30 s would take minutes
        assert len(be.probes) - n >= 4 and took < 2.5, "4 probes of a down server: %d in %.1fs" % (
            len(be.probes) - n, took)
        assert be.probes[0][1:] == ("POST", b'{"ping":1}'), be.probes[0]
        be.failing = False
        deadline = time.monotonic() + 5
        while split(get(port, "/x"))[1] != b"up" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert split(get(port, "/x"))[1] == b"up"
        n = len(be.probes)
        time.sleep(1.0)
        assert len(be.probes) == n, "an up server waits for interval (30s): %d probes" % (len(be.probes) - n)
    finally:
        be.stop()
        stop_all(fx)


def mirroring_config(main_port, mirrors, **opts):
    """svc: a mirroring service over "main" (a server at main_port) and the mirrors, each
    (name, port, percent)."""
    services = {"main": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:%d" % main_port}]}}}
    for name, port, _ in mirrors:
        services[name] = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:%d" % port}]}}
    m = {"service": "main", "mirrors": [{"name": n, "percent": pc} for n, _, pc in mirrors]}
    m.update(opts)
    services["svc"] = {"mirroring": m}
    return json.dumps({"http": {"services": services}})


def seen_after(rec, n, timeout=5.0):
    """rec.seen once it holds n requests (copies go out after the response)."""
    deadline = time.monotonic() + timeout
    while len(rec.seen) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # and no more than n
    return rec.seen


@t.test
def mirroring_sends_copies_with_the_body():
    """Traefik's mirroring service: the client gets the main service's answer, each mirror
    a copy of percent % of the requests (body, target and forwarded fields included);
    a mirror's answer goes nowhere."""
    be, bport = backend("a")
    rec, never = Recorder(), Recorder()
    fx, port = fixture(mirroring_config(bport, [("rec", rec.port, 100), ("never", never.port, 0)]))
    try:
        r = get(port, "/echo?q=1", method="POST", body=b"hello mirror", headers=["X-Tag: one"])
        assert status_of(r) == 200 and split(r)[1] == b"hello mirror", r
        seen = seen_after(rec, 1)
        assert len(seen) == 1, seen
        m = seen[0]
        assert (m["method"], m["target"], m["body"]) == ("POST", "/echo?q=1", b"hello mirror"), m
        assert m["fields"]["x-tag"] == "one" and m["fields"]["x-forwarded-for"] == "127.0.0.1", m
        assert m["fields"]["host"] == "app.test:%d" % port, m  # passHostHeader, as main
        # a chunked upload is kept whole for the copy
        s = connect(port)
        s.sendall(b"PUT /headers HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n"
                  b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        r = read_until_close(s, 10)[0]
        s.close()
        assert status_of(r) == 200 and json.loads(split(r)[1])["body_len"] == 11, r
        seen = seen_after(rec, 2)
        assert len(seen) == 2 and seen[1]["body"] == b"hello world", seen
        # GETs too; the 0 % mirror never gets one
        for _ in range(3):
            assert status_of(get(port, "/headers")) == 200
        assert len(seen_after(rec, 5)) == 5 and never.seen == [], (rec.seen, never.seen)
        assert not never.conns, never.conns
    finally:
        rec.stop()
        never.stop()
        stop_all(fx, be)


@t.test
def mirroring_body_limits():
    """maxBodySize: a larger body goes to the main service whole and is not mirrored;
    mirrorBody false: the copies go without the body."""
    be, bport = backend("a")
    rec, bare = Recorder(), Recorder()
    fx, port = fixture(mirroring_config(bport, [("rec", rec.port, 100)], maxBodySize=8))
    fx2, port2 = fixture(mirroring_config(bport, [("bare", bare.port, 100)], mirrorBody=False))
    try:
        r = get(port, "/echo", method="POST", body=b"nine byte")
        assert status_of(r) == 200 and split(r)[1] == b"nine byte", r
        r = get(port, "/echo", method="POST", body=b"eight by")
        assert status_of(r) == 200
        seen = seen_after(rec, 1)
        assert [m["body"] for m in seen] == [b"eight by"], seen
        r = get(port2, "/echo", method="POST", body=b"kept from the copy")
        assert split(r)[1] == b"kept from the copy", r
        seen = seen_after(bare, 1)
        assert len(seen) == 1 and seen[0]["method"] == "POST" and seen[0]["body"] == b"", seen
    finally:
        rec.stop()
        bare.stop()
        stop_all(fx, fx2, be)


t.run()
