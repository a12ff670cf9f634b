"""End-to-end tests of `hearth proxy` (part 2): every middleware through the real proxy,
one Ingress host per middleware, Traefik semantics from the reference: headers (custom and
security fields), rateLimit, compress, redirectScheme, redirectRegex, forwardAuth,
stripPrefix, addPrefix, basicAuth from a Secret, ipAllowList, inFlightReq, encodedCharacters,
errors (pages from another service), buffering (body limits), retry, circuitBreaker, digestAuth
and chain."""
import base64
import gzip
import hashlib
import http.client
import http.server
import re
import socket
import subprocess
import threading
import time
import types
import zlib

from harness import Tap, dead_port, raw_request, release_port
from proxy_env import (Backend, Proxy, assert_stopped_cleanly, echo, get, header, headers_all, ingress_yaml,
                       middleware_yaml, request, routed_to, seed, service_yaml, wait_for)

t = Tap()
NS = "mw"
S = {}

MIDDLEWARES = {
    "hdr": """\
        headers:
          customRequestHeaders:
            X-Added: "yes"
            User-Agent: ""
          customResponseHeaders:
            X-Resp: "r"
            Server: ""
          frameDeny: true
          contentTypeNosniff: true
          browserXssFilter: true
          referrerPolicy: same-origin
          permissionsPolicy: "camera=()"
          stsSeconds: 31536000
          stsIncludeSubdomains: true
          stsPreload: true
        """,
    "rl": """\
        rateLimit:
          average: 1
          period: 1s
          burst: 2
        """,
    "rl-1s": """\
        rateLimit:
          average: 1
          burst: 1
          sourceCriterion:
            requestHeaderName: X-Rl
        """,
    "rl-tenant": """\
        rateLimit:
          average: 1
          burst: 1
          sourceCriterion:
            requestHeaderName: X-Tenant
        """,
    "gz": """\
        compress:
          excludedContentTypes:
            - image/png
        """,
    "https": """\
        redirectScheme:
          scheme: https
          permanent: true
        """,
    "https-temp": """\
        redirectScheme:
          scheme: https
          port: "8443"
        """,
    "regex": """\
        redirectRegex:
          regex: ^http://([^/]+)/old/(.*)
          replacement: http://${1}/new/${2}
        """,
    "strip": """\
        stripPrefix:
          prefixes:
            - /api
        """,
    "add": """\
        addPrefix:
          prefix: /v1
        """,
    "basic": """\
        basicAuth:
          secret: users
        """,
    "allow-local": """\
        ipAllowList:
          sourceRange:
            - 127.0.0.1/32
        """,
    "allow-ten": """\
        ipAllowList:
          sourceRange:
            - 10.0.0.0/8
        """,
    "hdr-ct": """\
        headers:
          customResponseHeaders:
            Content-Type: text/x-custom
            Content-Length: "2"
        """,
    "allow-ten-depth": """\
        ipAllowList:
          sourceRange:
            - 10.0.0.0/8
          ipStrategy:
            depth: 1
        """,
    "hostrw": """\
        headers:
          customRequestHeaders:
            Host: internal.example
        """,
    "inflight": """\
        inFlightReq:
          amount: 2
          sourceCriterion:
            requestHeaderName: X-Tenant
        """,
    "enc": """\
        encodedCharacters:
          allowEncodedSlash: true
        """,
    "pages-slow": """\
        errors:
          status: ["500-599"]
          query: /slow?ms=500
          service:
            name: pages
            port: 80
        """,
    "pages": """\
        errors:
          status: ["500-599", "404,418", "401"]
          statusRewrites:
            "418": 404
          query: /{status}.html?orig={originalStatus}&url={url}
          service:
            name: pages
            port: 80
        """,
    "buf": """\
        buffering:
          maxRequestBodyBytes: 1000
          memRequestBodyBytes: 500
          maxResponseBodyBytes: 20000
        """,
    "retry": """\
        retry:
          attempts: 8
          initialInterval: 300ms  # seven backoffs of about 2.9 s in all: room for a slow start
        """,
    "retry-fast": """\
        retry:
          attempts: 3
          initialInterval: 50ms
        """,
    "cb": """\
        circuitBreaker:
          expression: ResponseCodeRatio(500, 600, 0, 600) > 0.5
          checkPeriod: 100ms
          fallbackDuration: 1s
          recoveryDuration: 1s
        """,
    "cb-net": """\
        circuitBreaker:
          expression: NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(50.0) > 5000
          responseCode: 429
        """,
    "sniff": """\
        contentType: {}
        """,
    "sniff-off": """\
        contentType:
          autoDetect: false
        """,
    "pages-outer": """\
        errors:
          status: ["500", "503"]
          query: /outer/{status}
          service:
            name: pages
            port: 80
        """,
    "pages-inner": """\
        errors:
          status: ["500"]
          query: /inner/{status}
          service:
            name: pages
            port: 80
        """,
    "digest": """\
        digestAuth:
          users:
            - alice:traefik:cc6292a804b584bcbd1657ddd96d47dc
            - bob:elsewhere:2734639ca22a48027234c2e90cd1d923
          headerField: X-WebAuth-User
          removeHeader: true
        """,
    "pages-nosvc": """\
        errors:
          status: ["500"]
          service:
            name: missing
            port: 80
        """,
    "chain": """\
        chain:
          middlewares:
            - name: add
            - name: hdr
        """,
}
# host prefix -> middlewares of its Ingress
HOSTS = {
    "hdr": ["hdr"], "rl": ["rl"], "rltenant": ["rl-tenant"], "gz": ["gz"], "gz2": ["gz", "gz"],
    "https": ["https"], "httpstemp": ["https-temp"], "regex": ["regex"], "strip": ["strip"],
    "add": ["add"], "basic": ["basic"], "allowed": ["allow-local"], "denied": ["allow-ten"],
    "chain": ["chain"], "auth": ["fa"], "authdown": ["fa-down"], "authtrust": ["fa-trust"],
    "authkeep": ["fa-keep"], "authslow": ["fa-slow"], "rlnow": ["rl-1s"],
    "rlnowauth": ["fa-slow", "rl-1s"], "pageslow": ["pages-slow"],
    "deniedxff": ["allow-ten-depth"], "hdrbasic": ["hdr", "basic"], "hdrhttps": ["hdr", "https"],
    "hdrdeny": ["hdr", "allow-ten"], "seedredirect": ["default-redirect-https"], "enc": ["enc"],
    "inflight": ["inflight"], "hostrw": ["hostrw"], "pages": ["hdr", "pages"],
    "pagesbasic": ["pages", "basic"], "pagesnosvc": ["pages-nosvc"], "buf": ["buf"], "digest": ["digest"],
    "retrydead": ["retry-fast"], "pagesnest": ["pages-outer", "pages-inner"], "cb": ["cb"],
    "cbtwin": ["cb"], "cbauth": ["cb", "basic"], "cbbuf": ["buf", "cb"],
}


# A server that answers without Content-Type (hc_testd always names one), as many
# application servers do for some paths: what the contentType middleware is for.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
UNTYPED = {"/html": b"\n  <!DOCTYPE html><html><body>hi</body></html>", "/png": PNG,
           "/plain": b"just words\n", "/bin": b"\x00\x01\x02binary", "/empty": b"",
           "/big": b"<html>" + b"<p>compressible words</p>" * 200}


class Untyped(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/typed":
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        elif self.path == "/ranged":  # byte ranges of 4 KiB of text
            body = (b"ranged text " * 400)[:4096]
            if self.headers.get("Range") == "bytes=0-2047":
                body = body[:2048]
                self.send_response(206)
                self.send_header("Content-Range", "bytes 0-2047/4096")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Accept-Ranges", "bytes")
        elif self.path == "/stream":  # chunked, its first bytes 300 ms late
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            time.sleep(0.3)
            for piece in (b"%PDF-1.7\n", b"rest"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        else:
            body = UNTYPED[self.path]
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def htpasswd(user, password):
    h = subprocess.run(["openssl", "passwd", "-apr1", password], capture_output=True, text=True,
                       check=True, timeout=10).stdout.strip()
    return "%s:%s" % (user, h)


def setup():
    S["be"] = Backend("mw-be", extra=("--max-head", "65536"))  # room for long_urls_...
    S["auth"] = Backend("auth")
    S["pages"] = Backend("pages")
    m = {"svc.yaml": service_yaml(NS, "be", 80, [S["be"]]),
         "svc-pages.yaml": service_yaml(NS, "pages", 80, [S["pages"]])}
    specs = dict(MIDDLEWARES)
    specs["fa"] = """\
        forwardAuth:
          address: http://127.0.0.1:%d/auth
          authResponseHeaders:
            - X-Auth-User
            - X-Auth-Email
        """ % S["auth"].port
    specs["fa-trust"] = """\
        forwardAuth:
          address: http://127.0.0.1:%d/auth
          trustForwardHeader: true
        """ % S["auth"].port
    specs["fa-slow"] = """\
        forwardAuth:
          address: http://127.0.0.1:%d/slow?ms=800
        """ % S["auth"].port
    specs["fa-down"] = """\
        forwardAuth:
          address: http://127.0.0.1:%d/auth
        """ % dead_port()
    specs["fa-keep"] = """\
        forwardAuth:
          address: http://127.0.0.1:%d/auth
          preserveRequestMethod: true
          preserveLocationHeader: true
        """ % S["auth"].port
    for name, spec in specs.items():
        m["mw-%s.yaml" % name] = middleware_yaml(NS, name, spec)
    m["07_redirect.yaml"] = seed("07_redirect_and_helmrelease.yaml")
    users = htpasswd("alice", "wonderland") + "\n" + htpasswd("bob", "builder") + "\n"
    m["users.yaml"] = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: users\n  namespace: %s\n"
                       "data:\n  users: %s\n") % (NS, base64.b64encode(users.encode()).decode())
    for host, mws in HOSTS.items():
        names = ",".join((n if n.startswith("default-") else "%s-%s" % (NS, n)) + "@kubernetescrd" for n in mws)
        m["ing-%s.yaml" % host] = ingress_yaml(NS, host, host + ".test", [("/", "Prefix", "be", 80)],
                                               annotations={"traefik.ingress.kubernetes.io/router.middlewares": names})
    # a service whose only endpoint refuses connections: the proxy's own 502 page
    m["svc-dead.yaml"] = service_yaml(NS, "dead", 80, [types.SimpleNamespace(port=dead_port())])
    # a service whose lone server comes up only after the request began
    S["late_port"] = dead_port()
    m["svc-late.yaml"] = service_yaml(NS, "late", 80, [types.SimpleNamespace(port=S["late_port"])])
    m["ing-retry.yaml"] = ingress_yaml(NS, "retry", "retry.test", [("/", "Prefix", "late", 80)],
                                       annotations={"traefik.ingress.kubernetes.io/router.middlewares":
                                                    "%s-retry@kubernetescrd" % NS})
    m["ing-noretry.yaml"] = ingress_yaml(NS, "noretry", "noretry.test", [("/", "Prefix", "dead", 80)])
    for host, mw in (("hdrdead", "hdr"), ("ctdead", "hdr-ct"), ("pagesdead", "pages"),
                     ("retrydead", "retry-fast"), ("cbdead", "cb-net")):
        m["ing-%s.yaml" % host] = ingress_yaml(NS, host, host + ".test", [("/", "Prefix", "dead", 80)],
                                               annotations={"traefik.ingress.kubernetes.io/router.middlewares":
                                                            "%s-%s@kubernetescrd" % (NS, mw)})
    # one host, its /admin behind an allow list: the path-normalization cases
    m["ing-pathsafe-admin.yaml"] = ingress_yaml(NS, "pathsafe-admin", "pathsafe.test",
                                                [("/admin", "Prefix", "be", 80)],
                                                annotations={"traefik.ingress.kubernetes.io/router.middlewares":
                                                             "%s-allow-ten@kubernetescrd" % NS})
    m["ing-pathsafe.yaml"] = ingress_yaml(NS, "pathsafe", "pathsafe.test", [("/", "Prefix", "be", 80)])
    S["untyped"] = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Untyped)
    threading.Thread(target=S["untyped"].serve_forever, daemon=True).start()
    m["svc-untyped.yaml"] = service_yaml(NS, "untyped", 80,
                                         [types.SimpleNamespace(port=S["untyped"].server_address[1])])
    for host, mws in (("sniff", ["sniff"]), ("sniffoff", ["sniff-off"]), ("nosniff", []),
                      ("sniffgz", ["gz"]), ("sniffgzct", ["sniff", "gz"])):
        names = ",".join("%s-%s@kubernetescrd" % (NS, n) for n in mws)
        m["ing-%s.yaml" % host] = ingress_yaml(NS, host, host + ".test", [("/", "Prefix", "untyped", 80)],
                                               annotations={"traefik.ingress.kubernetes.io/router.middlewares": names}
                                               if names else None)
    S["proxy"] = Proxy(m)
    wait_for(lambda: get(S["proxy"].web, "/", host="add.test")[0] == 200, what="mw hosts routed")


def teardown():
    if "untyped" in S:
        S.pop("untyped").shutdown()
    for k in ("proxy", "be", "auth", "pages", "late"):
        if k in S:
            S.pop(k).stop()


def web(host, path="/", **kw):
    return get(S["proxy"].web, path, host=host + ".test", **kw)


@t.test
def starts():
    setup()
    routers = S["proxy"].api_json("/api/http/routers")
    bad = [(r["name"], r.get("error")) for r in routers if r["status"] != "enabled"]
    # as with Traefik, an errors middleware whose Service is missing is not built
    assert bad == [("mw-pagesnosvc-pagesnosvc-test@kubernetes",
                    ['middleware "mw-pages-nosvc@kubernetescrd" does not exist'])], bad
    errs = [e for e in S["proxy"].api_json("/api/errors") if e["name"] == "pages-nosvc"]
    assert errs and "service mw/missing not found" in errs[0]["message"], errs


@t.test
def headers_custom_request_and_response():
    status, hs, body = web("hdr", headers={"User-Agent": "client-ua"})
    assert status == 200, status
    got = echo(body)["headers"]
    assert got.get("X-Added") == "yes", got
    assert "User-Agent" not in got, "empty value must remove the request header: %r" % got
    assert header(hs, "X-Resp") == "r", hs
    assert header(hs, "Server") is None, "empty value must remove the response header"


@t.test
def headers_wrap_responses_answered_inside():
    """A headers middleware's response fields reach what answers inside it: a 401, a
    redirect, a 403, the proxy's own 502 page (Traefik wraps the response writer); the
    answering middleware's own hooks stay out, and one Date goes out."""
    for host, path, status in (("hdrbasic", "/", 401), ("hdrhttps", "/a", 301), ("hdrdeny", "/", 403),
                               ("hdrdead", "/", 502)):
        st, hs, _ = web(host, path)
        assert st == status, (host, st, hs)
        assert header(hs, "X-Resp") == "r" and header(hs, "X-Frame-Options") == "DENY", (host, hs)
        assert header(hs, "X-Content-Type-Options") == "nosniff", (host, hs)
        assert len(headers_all(hs, "Date")) == 1, (host, hs)
    st, hs, _ = web("auth", "/private")  # the auth server's Date is not sent beside ours
    assert st == 401 and len(headers_all(hs, "Date")) == 1, hs
    # a middleware's own Content-Type reaches the error page once; framing stays the page's
    st, hs, body = web("ctdead")
    assert st == 502 and body == b"Bad Gateway", (st, body)
    assert headers_all(hs, "Content-Type") == ["text/x-custom"], hs
    assert headers_all(hs, "Content-Length") == ["11"], hs


@t.test
def service_metrics_count_what_reached_the_service():
    """Traefik's service series wrap only the service: a 401, 403 or redirect answered by
    a middleware counts for the entry point, not for the service behind the router."""
    web("hdrbasic")
    web("hdrdeny")
    status, _, body = get(S["proxy"].api, "/metrics")
    assert status == 200, status
    lines = body.decode().splitlines()
    ep = [x for x in lines if x.startswith("traefik_entrypoint_requests_total{") and 'code="401"' in x]
    svc = [x for x in lines if x.startswith("traefik_service_requests_total{") and
           any('code="%d"' % c in x for c in (301, 401, 403))]
    assert ep and not svc, (ep, svc)
    assert any(x.startswith("traefik_service_requests_total{") and 'code="200"' in x for x in lines)


@t.test
def service_durations_start_past_the_middlewares():
    """Traefik's service metrics handler wraps the service alone: 400 ms spent in a
    forwardAuth in front of a fast service count for the entry point's duration, not the
    service's (the service had been blamed for its router's auth time)."""
    def buckets():
        lines = get(S["proxy"].api, "/metrics")[2].decode().splitlines()

        def value(prefix):
            return sum(float(x.rsplit(" ", 1)[1]) for x in lines if x.startswith(prefix)
                       and 'le="0.3"' in x and 'code="200"' in x and ('service="%s-be-80@kubernetes"' % NS in x
                                                                       or 'entrypoint="web"' in x))
        return (value("traefik_service_request_duration_seconds_bucket{"),
                value("traefik_entrypoint_request_duration_seconds_bucket{"))
    svc0, ep0 = buckets()
    for _ in range(3):
        st, hs, body = web("authslow")
        assert st == 200 and header(hs, "X-Backend") == "mw-be", (st, body[:200])
    svc1, ep1 = buckets()
    assert svc1 - svc0 == 3 and ep1 - ep0 == 0, ((svc0, svc1), (ep0, ep1))

    # nor the page an errors middleware fetches after the service answered (500 ms here)
    def fast_503s():
        lines = get(S["proxy"].api, "/metrics")[2].decode().splitlines()
        return sum(float(x.rsplit(" ", 1)[1]) for x in lines
                   if x.startswith("traefik_service_request_duration_seconds_bucket{") and 'le="0.3"' in x
                   and 'code="503"' in x and 'service="%s-be-80@kubernetes"' % NS in x)
    before = fast_503s()
    st, _, body = web("pageslow", "/status/503")
    assert st == 503 and b"slow" in body, (st, body[:200])
    assert fast_503s() == before + 1, (before, fast_503s())


@t.test
def rate_limit_reads_the_time_it_runs():
    """A rateLimit after a slow forwardAuth takes its token at the time it runs, as
    Traefik's reserves one at time.Now(): request B arrives 50 ms after A took the only
    token but reaches the bucket 800 ms later, when it has refilled (at its arrival time
    it would have had to wait 950 ms: a 429)."""
    out = {}

    def slow():
        out["b"] = web("rlnowauth", headers={"X-Rl": "now"})
    first = web("rlnow", headers={"X-Rl": "now"})
    assert first[0] == 200, first
    th = threading.Thread(target=slow)
    time.sleep(0.05)
    th.start()
    th.join(10)
    st, hs, body = out["b"]
    assert st == 200, (st, hs, body[:200])


@t.test
def headers_host_rewrite_keeps_forwarded_host():
    """customRequestHeaders Host changes the Host the backend gets; X-Forwarded-Host and
    X-Forwarded-Port still tell what the client asked for (Traefik sets them at the
    entry point, before any middleware)."""
    e = echo(get(S["proxy"].web, "/", host="hostrw.test:8080")[2])
    assert e["headers"].get("Host") == "internal.example", e["headers"]
    assert e["headers"].get("X-Forwarded-Host") == "hostrw.test:8080", e["headers"]
    assert e["headers"].get("X-Forwarded-Port") == "8080", e["headers"]


@t.test
def headers_security_fields():
    _, hs, _ = web("hdr")
    assert header(hs, "X-Frame-Options") == "DENY", hs
    assert header(hs, "X-Content-Type-Options") == "nosniff", hs
    assert header(hs, "X-XSS-Protection") == "1; mode=block", hs
    assert header(hs, "Referrer-Policy") == "same-origin", hs
    assert header(hs, "Permissions-Policy") == "camera=()", hs
    assert header(hs, "Strict-Transport-Security") is None, "STS only over HTTPS"
    out = subprocess.run(["curl", "-skI", "--resolve", "hdr.test:%d:127.0.0.1" % S["proxy"].websecure,
                          "https://hdr.test:%d/" % S["proxy"].websecure], capture_output=True, text=True, timeout=15)
    assert "strict-transport-security: max-age=31536000; includesubdomains; preload" in out.stdout.lower(), out.stdout


@t.test
def ratelimit_429_with_retry_after():
    codes, retry = [], None
    for _ in range(4):
        status, hs, _ = web("rl")
        codes.append(status)
        if status == 429:
            retry = header(hs, "Retry-After")
            # Traefik v3 writes its own answers with no type (sniffing is off)
            assert header(hs, "Content-Type") is None, hs
    assert codes[:2] == [200, 200], codes
    assert 429 in codes, codes
    assert retry == "1", retry
    time.sleep(1.1)
    assert web("rl")[0] == 200, "a token is back after 1 s"


@t.test
def ratelimit_per_request_header_source():
    a1 = web("rltenant", headers={"X-Tenant": "a"})[0]
    b1 = web("rltenant", headers={"X-Tenant": "b"})[0]
    a2 = [web("rltenant", headers={"X-Tenant": "a"})[0] for _ in range(3)]
    assert (a1, b1) == (200, 200), (a1, b1)
    assert 429 in a2, a2


@t.test
def compress_gzip_and_minimum():
    status, hs, body = web("gz", "/text?n=4096", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and header(hs, "Content-Encoding") == "gzip", hs
    assert "Accept-Encoding" in (header(hs, "Vary") or ""), hs
    assert gzip.decompress(body) == (b"hearth proxy compressible text\n" * 200)[:4096]
    _, hs, body = web("gz", "/text?n=1000", headers={"Accept-Encoding": "gzip"})
    assert header(hs, "Content-Encoding") is None and len(body) == 1000, "under 1024 bytes: identity"
    _, hs, body = web("gz", "/text?n=4096")
    assert header(hs, "Content-Encoding") is None and len(body) == 4096, "no Accept-Encoding: identity"
    _, hs, body = web("gz", "/text?n=4096&type=image/png", headers={"Accept-Encoding": "gzip"})
    assert header(hs, "Content-Encoding") is None and len(body) == 4096, "excluded type"
    _, hs, _ = web("gz", "/text?n=4096", headers={"Accept-Encoding": "gzip, br"})
    assert header(hs, "Content-Encoding") == "gzip", "list order breaks q ties: %r" % hs
    _, hs, _ = web("gz", "/text?n=4096", headers={"Accept-Encoding": "gzip;q=0.5, br"})
    assert header(hs, "Content-Encoding") == "br", hs
    # every Accept-Encoding line counts, as one list
    data, _ = raw_request(S["proxy"].web, b"GET /text?n=4096 HTTP/1.1\r\nHost: gz.test\r\nConnection: close\r\n"
                          b"Accept-Encoding: identity\r\nAccept-Encoding: br\r\n\r\n")
    assert re.search(rb"\r\nContent-Encoding: br(\r\n|$)", data.partition(b"\r\n\r\n")[0]), data[:300]
    # a compressed body offers no ranges; a 206 passes as it is (its range counts
    # identity bytes), as gzhttp does under Traefik
    status, hs, body = web("sniffgz", "/ranged", headers={"Accept-Encoding": "gzip"})
    assert header(hs, "Content-Encoding") == "gzip" and header(hs, "Accept-Ranges") is None, hs
    status, hs, body = web("sniffgz", "/ranged", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-2047"})
    assert status == 206 and header(hs, "Content-Encoding") is None and len(body) == 2048, (status, hs)
    assert header(hs, "Content-Range") == "bytes 0-2047/4096", hs


def stream_timeline(host, path, accept):
    """GETs a streamed response, returning (headers, [(seconds since the head, bytes of
    decoded body so far (br: of body received))], total seconds): when each part reached
    the client."""
    c = http.client.HTTPConnection("127.0.0.1", S["proxy"].web, timeout=10)
    c.request("GET", path, headers={"Host": host + ".test", "Accept-Encoding": accept})
    r = c.getresponse()
    t0 = time.monotonic()
    gz = zlib.decompressobj(31) if r.getheader("Content-Encoding") == "gzip" else None
    got, marks = 0, []
    for _ in range(1000):
        data = r.read1(65536)
        if not data:
            break
        got += len(gz.decompress(data)) if gz else len(data)  # br: the bytes that came
        marks.append((time.monotonic() - t0, got))
    c.close()
    return r.getheaders(), marks, time.monotonic() - t0


@t.test
def compress_streams_as_it_goes():
    """Bodies through compress flushed piece by piece: an event stream, a slow stream of
    short pieces and one of long pieces each reach the client as they come, streamed
    bodies compressed whatever their size (Traefik: Go's reverse proxy flushes after each
    write, and the compress writer starts on a flush); a slow body with a Content-Length
    too, in gzip and br (Go flushes it within its 100 ms FlushInterval)."""
    for path, encoding in (("/drip?type=text/event-stream&size=40&pieces=4&ms=300", "gzip"),
                           ("/drip?size=100&pieces=4&ms=300", "gzip"),
                           ("/drip?size=3000&pieces=4&ms=300", "gzip"),
                           ("/drip?size=3000&pieces=4&ms=300&length=1", "gzip"),
                           ("/drip?size=3000&pieces=4&ms=300&length=1", "br")):
        hs, marks, total = stream_timeline("gz", path, encoding)
        assert header(hs, "Content-Encoding") == encoding, (path, hs)
        size = int(path.split("size=")[1].split("&")[0])
        # 0.9 s of pieces; a late head shortens what the client sees of it, so the bounds
        # leave 0.3 s for a busy machine's hiccups
        if encoding == "br":  # several pieces, the first long before the end
            assert len(marks) >= 3 and marks[0][0] < total - 0.45 and total > 0.6, (path, marks, total)
            continue
        first = next((t for t, n in marks if n >= size), None)
        assert marks[-1][1] == 4 * size and total > 0.6, (path, marks, total)
        assert first is not None and first < total - 0.45, ("the first piece waited", path, marks, total)


@t.test
def compress_brotli_decodes():
    p = S["proxy"]
    out = subprocess.run(["curl", "-s", "--compressed", "-H", "Accept-Encoding: br", "-D", "-",
                          "-H", "Host: gz.test", "http://127.0.0.1:%d/text?n=8000" % p.web],
                         capture_output=True, timeout=15)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert b"content-encoding: br" in head.lower(), head
    assert body == (b"hearth proxy compressible text\n" * 300)[:8000], len(body)


@t.test
def compress_never_twice():
    status, hs, body = web("gz2", "/text?n=4096", headers={"Accept-Encoding": "gzip"})
    assert headers_all(hs, "Content-Encoding") == ["gzip"], hs
    assert gzip.decompress(body)[:31] == b"hearth proxy compressible text\n"


@t.test
def redirect_scheme():
    status, hs, body = web("https", "/a/b?c=1")
    assert status == 301 and header(hs, "Location") == "https://https.test/a/b?c=1", (status, hs)
    assert body == b"Moved Permanently" and header(hs, "Content-Type") is None, (body, hs)
    status, hs, _ = request(S["proxy"].web, "POST", "/p", host="https.test", body=b"x")
    assert status == 308, status
    status, hs, _ = web("httpstemp", "/x")
    assert status == 302 and header(hs, "Location") == "https://httpstemp.test:8443/x", (status, hs)
    status, hs, _ = request(S["proxy"].web, "POST", "/x", host="httpstemp.test", body=b"")
    assert status == 307, status


@t.test
def redirect_scheme_seed_manifest():
    status, hs, _ = web("seedredirect", "/login")
    assert status == 301 and header(hs, "Location") == "https://seedredirect.test/login", (status, hs)


@t.test
def redirect_regex():
    status, hs, _ = web("regex", "/old/page?x=1")
    assert status == 302 and header(hs, "Location") == "http://regex.test/new/page?x=1", (status, hs)
    status, hs, _ = web("regex", "/keep")
    assert status == 200 and header(hs, "X-Backend") == "mw-be", status


@t.test
def forward_auth_allow_copies_headers():
    status, hs, body = web("auth", "/private?q=1", headers={"Authorization": "Bearer good",
                                                             "X-Auth-User": "forged"})
    assert status == 200, (status, body[:200])
    got = echo(body)["headers"]
    assert got.get("X-Auth-User") == "alice", got
    assert got.get("X-Auth-Email") == "alice@example.test", got
    assert "X-Auth-Other" not in got, got
    assert echo(body)["target"] == "/private?q=1"


@t.test
def forward_auth_deny_passes_auth_response():
    status, hs, body = web("auth", "/private?q=1")
    assert status == 401, status
    assert header(hs, "WWW-Authenticate") == 'Bearer realm="hearth"', hs
    assert header(hs, "Location") == "http://127.0.0.1:%d/login" % S["auth"].port, hs
    sent = echo(body)
    assert sent["method"] == "GET" and sent["target"] == "/auth", sent
    h = sent["headers"]
    assert h.get("X-Forwarded-Method") == "GET", h
    assert h.get("X-Forwarded-Proto") == "http", h
    assert h.get("X-Forwarded-Host") == "auth.test", h
    assert h.get("X-Forwarded-Uri") == "/private?q=1", h
    assert h.get("X-Forwarded-For") == "127.0.0.1", h
    status, hs, body = request(S["proxy"].web, "POST", "/p", host="auth.test", body=b"secret-body")
    assert status == 401 and echo(body)["method"] == "GET" and echo(body)["body_len"] == 0, body
    # preserveRequestMethod and preserveLocationHeader: the client's method, the auth
    # server's Location as it sent it
    status, hs, body = request(S["proxy"].web, "DELETE", "/p", host="authkeep.test")
    assert status == 401 and echo(body)["method"] == "DELETE", (status, body[:200])
    assert header(hs, "Location") == "/login", hs


def get_from(port, source_ip, host, path="/"):
    """The status of a GET sent from source_ip (a loopback address of the client's)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source_ip, 0)) as c:
        c.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


@t.test
def forwarded_headers_set_at_the_entry_point():
    """Traefik's entry point sets X-Real-Ip and X-Forwarded-Proto/Port/Host/Server before
    routing: rules match on them, a headers middleware changes or removes them (the port
    stays the one computed before), and a rateLimit keyed on X-Real-Ip gives each client
    its own bucket."""
    be = Backend("xf-be")
    file_yaml = """\
http:
  routers:
    byproto: {rule: "Host(`xp.test`) && Header(`X-Forwarded-Proto`, `http`) && Header(`X-Forwarded-Host`, `xp.test`)", service: be}
    removed: {rule: "Host(`xrm.test`)", service: be, middlewares: [rm]}
    changed: {rule: "Host(`xch.test`)", service: be, middlewares: [ch]}
    limited: {rule: "Host(`xrl.test`)", service: be, middlewares: [rl]}
    empty: {rule: "Host(`xe.test`)", service: be, middlewares: [none]}
  middlewares:
    none: {headers: {customRequestHeaders: {}, frameDeny: false}}
    rm: {headers: {customRequestHeaders: {X-Real-Ip: "", X-Forwarded-Server: "", X-Forwarded-Proto: "", X-Forwarded-Host: "", X-Forwarded-Port: ""}}}
    ch: {headers: {customRequestHeaders: {X-Forwarded-Proto: https, X-Forwarded-Server: custom}}}
    rl: {rateLimit: {average: 1, period: 1m, sourceCriterion: {requestHeaderName: X-Real-Ip}}}
  services:
    be: {loadBalancer: {servers: [{url: "http://127.0.0.1:%d"}]}}
""" % be.port
    try:
        with Proxy(file_yaml=file_yaml) as p:
            status, _, body = get(p.web, "/", host="xp.test")
            assert status == 200 and echo(body)["headers"]["X-Forwarded-Proto"] == "http", (status, body[:300])
            h = echo(get(p.web, "/", host="xrm.test")[2])["headers"]
            gone = [k for k in ("X-Real-Ip", "X-Forwarded-Server", "X-Forwarded-Proto", "X-Forwarded-Host",
                                "X-Forwarded-Port") if k in h]
            assert not gone and h["X-Forwarded-For"] == "127.0.0.1", h
            h = echo(get(p.web, "/", host="xch.test")[2])["headers"]
            assert (h["X-Forwarded-Proto"], h["X-Forwarded-Port"], h["X-Forwarded-Server"]) == (
                "https", "80", "custom"), h
            assert [get_from(p.web, ip, "xrl.test") for ip in ("127.0.0.1", "127.0.0.2", "127.0.0.3")] == [
                200, 200, 200], "a bucket per client"
            assert get_from(p.web, "127.0.0.2", "xrl.test") == 429, "and each bucket holds"
            # a headers middleware setting nothing is refused, as Traefik's "headers
            # configuration not valid", and its router with it
            assert get(p.web, "/", host="xe.test")[0] == 404
            r = {x["name"]: x for x in p.api_json("/api/http/routers")}["empty@file"]
            assert r["status"] == "disabled", r
    finally:
        be.stop()


@t.test
def forged_forwarded_headers_never_reach_middlewares():
    """The client is no trusted proxy: its X-Forwarded-* and X-Real-Ip go at the entry
    point, before redirectScheme, forwardAuth (even with trustForwardHeader) and an
    ipStrategy read them (Traefik's forwardedHeaders); the entry point's own values
    (X-Real-Ip the peer) are what forwardAuth copies."""
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "admin.internal",
              "X-Forwarded-Uri": "/public", "X-Forwarded-For": "10.0.0.1", "X-Real-Ip": "10.0.0.2"}
    status, hs, _ = web("https", "/a", headers=forged)
    assert status == 301 and header(hs, "Location") == "https://https.test/a", (status, hs)
    status, _, body = web("authtrust", "/private?q=1", headers=forged)
    assert status == 401, status
    h = echo(body)["headers"]
    assert (h.get("X-Forwarded-Proto"), h.get("X-Forwarded-Host"), h.get("X-Forwarded-Uri"),
            h.get("X-Forwarded-For"), h.get("X-Real-Ip")) == ("http", "authtrust.test", "/private?q=1",
                                                               "127.0.0.1", "127.0.0.1"), h
    assert web("deniedxff", headers=forged)[0] == 403
    status, _, body = web("hdr", "/", headers=forged)
    got = echo(body)["headers"]
    assert got.get("X-Forwarded-Host") == "hdr.test" and got.get("X-Forwarded-For") == "127.0.0.1", got


@t.test
def forward_auth_unreachable_is_500():
    status, _, _ = web("authdown", "/")
    assert status == 500, status


@t.test
def strip_prefix():
    status, _, body = web("strip", "/api/users?x=1")
    e = echo(body)
    assert status == 200 and e["target"] == "/users?x=1", e
    assert e["headers"].get("X-Forwarded-Prefix") == "/api", e
    assert echo(web("strip", "/api")[2])["target"] == "/", "a stripped empty path becomes /"


@t.test
def connection_options_apply_before_the_middlewares():
    """Traefik's entry point applies the client's Connection options before any middleware
    (removeConnectionHeaders, CVE-2024-45410): the fields a middleware sets reach the
    server whatever the client named (hearth had applied them last, so a client removed
    stripPrefix's X-Forwarded-Prefix and headers' customRequestHeaders)."""
    for host, path, field, want in (("strip", "/api/u", "X-Forwarded-Prefix", "/api"),
                                    ("hdr", "/", "X-Added", "yes")):
        status, _, body = web(host, path, headers={"Connection": "%s, X-Gone" % field, "X-Gone": "1",
                                                   "X-Added": "client"})
        got = echo(body)["headers"]
        assert status == 200 and got.get(field) == want, (host, got)
        assert "X-Gone" not in got and "Connection" not in got, got


@t.test
def add_prefix():
    e = echo(web("add", "/users")[2])
    assert e["target"] == "/v1/users", e


@t.test
def long_urls_still_go_through_the_middlewares():
    """A URL past 8 KiB is redirected, prefixed and named to the auth server as any
    other (hearth had let such requests by unredirected, unprefixed, and sent forwardAuth
    no X-Forwarded-Uri); the head's limit is Go's 1 MiB, as in Traefik."""
    long = "u" * 9000
    status, hs, _ = web("https", "/a?" + long)
    assert status == 301 and header(hs, "Location") == "https://https.test/a?" + long, status
    status, hs, _ = web("regex", "/old/" + long)
    assert status == 302 and header(hs, "Location") == "http://regex.test/new/" + long, status
    status, _, body = web("add", "/" + long)
    assert status == 200 and echo(body)["target"] == "/v1/" + long, status
    status, _, body = web("authtrust", "/private?q=" + long)
    assert status == 401 and echo(body)["headers"].get("X-Forwarded-Uri") == "/private?q=" + long, status


@t.test
def basic_auth_from_secret():
    status, hs, _ = web("basic")
    assert status == 401 and (header(hs, "WWW-Authenticate") or "").startswith("Basic realm="), (status, hs)
    assert header(hs, "Content-Type") == "text/plain", hs  # goauth's, as Traefik's basicAuth
    ok = "Basic " + base64.b64encode(b"alice:wonderland").decode()
    status, _, body = web("basic", headers={"Authorization": ok})
    assert status == 200, status
    bad = "Basic " + base64.b64encode(b"alice:nope").decode()
    assert web("basic", headers={"Authorization": bad})[0] == 401
    bob = "Basic " + base64.b64encode(b"bob:builder").decode()
    assert web("basic", headers={"Authorization": bob})[0] == 200
    # RFC 9112 §5.1: "Host: basic.test " is basic.test, not a host that misses the router
    assert get(S["proxy"].web, "/", host="basic.test \t")[0] == 401
    e = echo(get(S["proxy"].web, "/", host="add.test ")[2])
    assert e["headers"].get("Host") == "add.test", e["headers"]


@t.test
def ip_allow_list():
    assert web("allowed")[0] == 200
    assert web("denied")[0] == 403


@t.test
def paths_are_normalized_before_routing():
    """Traefik's sanitizePath (CVE-2025-32431): dot segments, doubled slashes and
    escaped unreserved characters cannot walk around a protected router, and the
    upstream gets the path routing saw."""
    assert web("pathsafe", "/admin/secret")[0] == 403
    for path in ("/x/../admin/secret", "/public/%2e%2e/admin/secret", "//admin/secret",
                 "/./admin/secret", "/%61dmin/secret", "/public/..%2f../admin"):
        status, _, body = web("pathsafe", path)
        want = 200 if "%2f" in path else 403  # an escaped '/' is data, not a separator
        assert status == want, (path, status, body[:200])
    status, _, body = web("pathsafe", "/a/./b//c/../%7euser/?q=%2e%2e")
    assert status == 200 and echo(body)["target"] == "/a/b/~user/?q=%2e%2e", body[:300]
    # an invalid escape is refused as Go's URL parser does, not half-decoded; a fragment in
    # the path: 400, as Traefik's denyFragment; both before any handler Traefik counts
    def bad_requests():
        text = get(S["proxy"].api, "/metrics")[2].decode()
        return sum(float(x) for x in re.findall(r'^traefik_entrypoint_requests_total\{code="400",[^}]*\} (\S+)$',
                                                 text, re.M))
    before = bad_requests()
    assert web("pathsafe", "/p/%%32e%%32e/admin")[0] == 400
    assert web("pathsafe", "/public#frag")[0] == 400
    assert bad_requests() == before, (before, bad_requests())


@t.test
def in_flight_requests_limited_per_source():
    """inFlightReq: at most 2 requests of one tenant at once; a third gets 429 while
    another tenant is served, and the places come back when the responses end."""
    out = {}

    def slow(key, tenant):
        out[key] = web("inflight", "/slow?ms=3000", headers={"X-Tenant": tenant})[0]

    threads = [threading.Thread(target=slow, args=(i, "acme")) for i in range(2)]
    for th in threads:
        th.start()
    time.sleep(1.0)  # both in flight (a probe here would take a place of its own)
    status, _, body = web("inflight", "/", headers={"X-Tenant": "acme"})
    assert status == 429 and body == b"max connections reached: 2", (status, body)  # oxy's
    assert web("inflight", "/", headers={"X-Tenant": "globex"})[0] == 200
    for th in threads:
        th.join(10)
    assert out == {0: 200, 1: 200}, out
    assert web("inflight", "/", headers={"X-Tenant": "acme"})[0] == 200
    # clients that leave mid-request give their places back too
    gone = [socket.create_connection(("127.0.0.1", S["proxy"].web), timeout=5) for _ in range(2)]
    for c in gone:
        c.sendall(b"GET /slow?ms=5000 HTTP/1.1\r\nHost: inflight.test\r\nX-Tenant: initech\r\n\r\n")
    wait_for(lambda: web("inflight", "/", headers={"X-Tenant": "initech"})[0] == 429, timeout=4,
             what="both held requests counted")
    for c in gone:
        c.close()
    wait_for(lambda: web("inflight", "/", headers={"X-Tenant": "initech"})[0] == 200, timeout=3,
             what="the places of clients that left")


@t.test
def encoded_characters_refused_unless_allowed():
    """Traefik's encodedCharacters middleware: a path escape that could split the
    proxy's and the backend's view (%5C %00 %3B %25 %3F %23, either case) gets 400;
    the one allowed (%2F here) and every other escape go through as sent."""
    for path in ("/a%5Cb", "/a%5cb", "/a%00", "/a%3Bb", "/a%25b", "/a%3fb", "/a%23"):
        status, hs, body = web("enc", path)
        assert (status, body, header(hs, "Content-Type")) == (400, b"", None), (path, hs)
    for path in ("/a%2Fb", "/a%2fb", "/a%20b", "/a?q=%3B%23"):
        status, _, body = web("enc", path)
        assert status == 200, (path, status)
    assert echo(web("enc", "/a%2fb%20c")[2])["target"] == "/a%2Fb%20c"
    assert web("add", "/a%3Bb")[0] == 200, "without the middleware, escapes pass"


@t.test
def errors_pages_from_another_service():
    """A caught status is answered with the page service's answer to a GET of the query
    (the client's fields and Host passed on), sent with the caught status (418 rewritten
    to 404); the middlewares outside it wrap the page; an answer from a middleware inside
    it (basicAuth's 401) and the proxy's own 502 are caught too."""
    status, hs, body = web("pages", "/status/503?x=1", headers={"X-Client": "c1"})
    assert status == 503, (status, body[:200])
    e = echo(body)
    assert e["name"] == "pages" and e["method"] == "GET", e
    assert e["target"] == "/503.html?orig=503&url=%2Fstatus%2F503%3Fx%3D1", e["target"]
    assert e["headers"].get("X-Client") == "c1" and e["headers"].get("Host") == "pages.test", e["headers"]
    # the entry point's fields, but no X-Forwarded-For: Traefik's page request has no
    # RemoteAddr for Go's ReverseProxy to append
    assert e["headers"].get("X-Real-Ip") == "127.0.0.1" and "X-Forwarded-For" not in e["headers"], e["headers"]
    assert header(hs, "X-Resp") == "r", hs  # the headers middleware outside it
    status, _, body = web("pages", "/status/418")
    assert status == 404 and echo(body)["target"].startswith("/404.html?orig=418&"), (status, body[:200])
    status, _, body = web("pages", "/status/201")
    assert status == 201 and body == b"status\n", (status, body)
    status, hs, body = request(S["proxy"].web, "HEAD", "/status/500", host="pages.test")
    assert status == 500 and body == b"", (status, body)
    status, hs, body = web("pagesbasic")
    assert status == 401 and echo(body)["target"].startswith("/401.html"), (status, body[:200])
    # a page stands for a middleware's answer: the service behind the router is not counted
    metrics = get(S["proxy"].api, "/metrics")[2].decode()
    assert not [x for x in metrics.splitlines() if x.startswith("traefik_service_requests_total{")
                and 'code="401"' in x], metrics[-2000:]
    # the page is fetched whole: no conditional fields that could make it a 304
    e = echo(web("pages", "/status/500", headers={"If-None-Match": '"x"', "Range": "bytes=0-1"})[2])
    assert "If-None-Match" not in e["headers"] and "Range" not in e["headers"], e
    # nested: what the inner one lets pass, the outer one may catch, the inner's page too
    status, _, body = web("pagesnest", "/status/503")
    assert status == 503 and echo(body)["target"] == "/outer/503", (status, body[:200])
    status, _, body = web("pagesnest", "/status/500")
    assert status == 500 and echo(body)["target"] == "/outer/500", (status, body[:200])
    # the page of a POST is a GET without the client's body or its framing
    status, _, body = request(S["proxy"].web, "POST", "/", host="pagesbasic.test", body=b"x" * 5000)
    e = echo(body)
    assert status == 401 and e["method"] == "GET" and e["body_len"] == 0, (status, e)
    assert "Content-Length" not in e["headers"], e
    status, _, body = web("pagesbasic", headers={"Authorization": "Basic " + base64.b64encode(
        b"alice:wonderland").decode()})
    assert status == 200 and echo(body)["name"] == "mw-be", (status, body[:200])
    status, _, body = web("pagesdead")
    assert status == 502 and echo(body)["target"].startswith("/502.html"), (status, body[:200])
    assert web("pagesnosvc")[0] == 404  # its router is disabled: the service is missing


@t.test
def buffering_limits_bodies():
    """maxRequestBodyBytes: a larger body gets 413 before it is forwarded (announced) or as
    it passes (chunked); maxResponseBodyBytes: a larger announced response becomes a 500, a
    streamed one is cut short, never delivered as complete."""
    p = S["proxy"]
    status, _, body = request(p.web, "POST", "/x", host="buf.test", body=b"a" * 2000)
    assert status == 413 and body == b"Request Entity Too Large", (status, body[:200])
    status, _, body = request(p.web, "POST", "/x", host="buf.test", body=b"a" * 1000)
    assert status == 200 and echo(body)["body_len"] == 1000, (status, body[:200])
    conn = http.client.HTTPConnection("127.0.0.1", p.web, timeout=10)
    try:
        conn.request("POST", "/x", body=iter([b"b" * 700] * 3), headers={"Host": "buf.test"},
                     encode_chunked=True)
        r = conn.getresponse()
        assert r.status == 413, r.status
    finally:
        conn.close()
    status, _, body = web("buf", "/big?n=30000")
    assert status == 500 and body == b"Internal Server Error", (status, body[:100])
    status, _, body = web("buf", "/big?n=20000")
    assert status == 200 and len(body) == 20000, (status, len(body))
    status, _, body = web("buf", "/drip?pieces=5&size=8192&ms=10")
    assert status is None and b"IncompleteRead" in body, (status, body[:200])
    # an HTTP/1.0 client reads the body to the close: the cut is a reset, never a clean end
    r = subprocess.run(["curl", "-sS", "--http1.0", "-o", "/dev/null", "-H", "Host: buf.test",
                        "http://127.0.0.1:%d/drip?pieces=5&size=8192&ms=10" % p.web],
                       capture_output=True, text=True, timeout=15)
    assert r.returncode != 0, (r.returncode, r.stderr)


@t.test
def retry_tries_again_after_a_backoff():
    """A request of any method whose server cannot be reached is tried again, the lone
    server too, after Traefik's growing backoff: a server that comes up meanwhile (a pod
    restarting) answers it; past the attempts the client gets 502. Without the
    middleware a POST is never retried."""
    p = S["proxy"]

    def start_later():
        time.sleep(0.4)
        release_port(S["late_port"])
        S["late"] = Backend("late", port=S["late_port"])

    th = threading.Thread(target=start_later)
    t0 = time.monotonic()
    th.start()
    payload = bytes(range(256)) * 800  # 200 KB: read from the client only once connected
    try:
        status, _, body = request(p.web, "POST", "/x", host="retry.test", body=payload, timeout=20)
    finally:
        th.join()
    assert status == 200 and echo(body)["name"] == "late", (status, body[:200])
    assert echo(body)["body_len"] == len(payload), echo(body)
    assert time.monotonic() - t0 >= 0.4
    S.pop("late").stop()
    time.sleep(0.2)  # its pooled connections closed
    # chunked too, and a PUT (idempotent) without the middleware streams as before
    conn = http.client.HTTPConnection("127.0.0.1", p.web, timeout=20)
    try:
        th = threading.Thread(target=start_later)
        th.start()
        conn.request("POST", "/x", body=iter([payload[:70000], payload[70000:]]),
                     headers={"Host": "retry.test"}, encode_chunked=True)
        r = conn.getresponse()
        got = echo(r.read())
        assert r.status == 200 and got["body_len"] == len(payload), (r.status, got)
    finally:
        th.join()
        conn.close()
    status, _, body = request(p.web, "PUT", "/x", host="add.test", body=payload)
    assert status == 200 and echo(body)["body_len"] == len(payload), (status, body[:200])
    t0 = time.monotonic()
    status, _, body = request(p.web, "POST", "/x", host="retrydead.test")
    took = time.monotonic() - t0
    assert status == 502 and took >= 0.05, (status, took)  # two waits of 50 ms +-50 % and more
    t0 = time.monotonic()
    assert request(p.web, "POST", "/x", host="noretry.test")[0] == 502
    assert time.monotonic() - t0 < 0.5


@t.test
def retry_tries_again_after_a_failed_upstream_handshake():
    """Go dials TLS before writing anything, so Traefik's retry middleware tries again
    after a handshake that fails (an https URL for a server speaking plain HTTP): its
    attempts, then 500; without the middleware, 500 at once."""
    import json
    be = Backend("plain-be")
    file_yaml = """\
http:
  routers:
    r: {rule: "Host(`rtls.test`)", service: s, middlewares: [again]}
    n: {rule: "Host(`ntls.test`)", service: s}
  middlewares:
    again: {retry: {attempts: 3, initialInterval: 50ms}}
  services:
    s: {loadBalancer: {servers: [{url: "https://127.0.0.1:%d"}]}}
""" % be.port
    try:
        with Proxy(file_yaml=file_yaml, access_log=True) as p:
            assert get(p.web, "/", host="rtls.test")[0] == 500
            assert get(p.web, "/", host="ntls.test")[0] == 500
            lines = wait_for(lambda: (lambda v: v if len(v) == 2 else None)(
                [json.loads(x) for x in open(p.access_log).read().splitlines() if "tls.test" in x]),
                what="two log lines")
            got = {x["RequestHost"]: x.get("RetryAttempts", 0) for x in lines}
            assert got == {"rtls.test": 2, "ntls.test": 0}, lines
    finally:
        be.stop()


@t.test
def circuit_breaker_opens_and_recovers():
    """circuitBreaker: past the expression (checked every checkPeriod) requests get the
    fallback status without reaching the service, for fallbackDuration; then a growing
    share passes until recoveryDuration ends. Each router has its own breaker; answers
    of middlewares inside it count (a 401 is not a 5xx); a refused connection (502)
    trips NetworkErrorRatio() at once."""
    p = S["proxy"]
    for path in ("/status/200", "/status/500", "/status/503"):
        time.sleep(0.15)  # checkPeriod: 100 ms
        status, _, body = web("cb", path)
        assert status == int(path[-3:]) and body == b"status\n", (path, status, body[:100])
    status, hs, body = web("cb", "/status/200")  # 2 of 3 were 5xx: open
    assert status == 503 and body == b"Service Unavailable", (status, body[:100])
    assert header(hs, "Content-Type") is None, hs
    assert "circuit breaker tripped" in p.proc.output()
    assert web("cbtwin", "/status/200")[0] == 200  # the same middleware, another router
    for _ in range(3):  # inside buffering, it sees the upstream's 200, not buffering's 500
        time.sleep(0.15)
        assert web("cbbuf", "/big?n=30000")[0] == 500
    assert web("cbbuf", "/status/200")[0] == 200
    for _ in range(3):  # a 401 from basicAuth inside is counted, and is not a 5xx
        time.sleep(0.15)
        assert web("cbauth", "/")[0] == 401
    # after fallbackDuration (1 s), recovery starts with the next request: over
    # recoveryDuration (1 s) a growing share passes, then everything does
    time.sleep(1.1)
    codes, t0 = [], time.monotonic()
    while time.monotonic() - t0 < 1.2:
        codes.append(web("cb", "/status/200")[0])
        time.sleep(0.02)
    assert codes[0] == 503 and codes[-1] == 200, codes
    first = codes[:len(codes) // 4]
    assert first.count(503) > first.count(200), codes
    codes = [web("cb", "/status/200")[0] for _ in range(5)]
    assert codes == [200] * 5, codes
    # a server that refuses connections: the 502 trips it, the next gets responseCode
    assert web("cbdead")[0] == 502
    status, _, body = web("cbdead")
    assert status == 429 and body == b"Too Many Requests", (status, body[:100])
    mws = {m["name"]: m for m in p.api_json("/api/http/middlewares")}
    cb = mws["mw-cb@kubernetescrd"]
    assert cb["status"] == "enabled" and cb["type"] == "circuitbreaker", cb
    assert cb["circuitBreaker"]["expression"] == "ResponseCodeRatio(500, 600, 0, 600) > 0.5", cb


@t.test
def content_type_detected_when_missing():
    """contentType: a response without Content-Type gets the type Go's
    http.DetectContentType names from its first bytes (its head waits for them); a named
    type, an empty body and routers without the middleware (or with autoDetect: false)
    are left alone; with compress, the type of the uncompressed bytes, and compress alone
    adds none (Traefik v3 keeps detection off unless the middleware is there)."""
    want = {"/html": "text/html; charset=utf-8", "/png": "image/png",
            "/plain": "text/plain; charset=utf-8", "/bin": "application/octet-stream",
            "/typed": "application/json", "/stream": "application/pdf"}
    for path, ct in want.items():
        status, hs, body = web("sniff", path)
        assert status == 200 and header(hs, "Content-Type") == ct, (path, status, hs)
        if path in UNTYPED:
            assert body == UNTYPED[path], (path, body[:80])
    status, hs, body = web("sniff", "/stream")
    assert body == b"%PDF-1.7\nrest", body
    status, hs, body = web("sniff", "/empty")
    assert status == 200 and body == b"" and header(hs, "Content-Type") is None, hs
    for host in ("nosniff", "sniffoff"):
        status, hs, body = web(host, "/png")
        assert status == 200 and body == PNG and header(hs, "Content-Type") is None, (host, hs)
    for host, ct in (("sniffgz", None), ("sniffgzct", "text/html; charset=utf-8")):
        status, hs, body = web(host, "/big", headers={"Accept-Encoding": "gzip"})
        assert header(hs, "Content-Encoding") == "gzip", (host, hs)
        assert header(hs, "Content-Type") == ct, (host, hs)
        assert gzip.decompress(body) == UNTYPED["/big"]


@t.test
def content_type_names_answers_made_inside_it():
    """A middleware's own answer (an ipAllowList 403, a status text without a type) made
    inside a contentType middleware gets the sniffed type, as Go sniffs a handler's first
    write there; outside it, none (Traefik v3 turns sniffing off)."""
    file_yaml = """\
http:
  routers:
    inside: {rule: "Host(`ctin.test`)", service: s, middlewares: [sniffit, deny]}
    outside: {rule: "Host(`ctout.test`)", service: s, middlewares: [deny, sniffit]}
  middlewares:
    sniffit: {contentType: {}}
    deny: {ipAllowList: {sourceRange: [10.0.0.0/8]}}
  services:
    s: {loadBalancer: {servers: [{url: "http://127.0.0.1:9"}]}}
"""
    with Proxy(file_yaml=file_yaml) as p:
        status, hs, body = get(p.web, "/", host="ctin.test")
        assert (status, body, header(hs, "Content-Type")) == (403, b"Forbidden", "text/plain; charset=utf-8"), hs
        status, hs, body = get(p.web, "/", host="ctout.test")
        assert (status, body, header(hs, "Content-Type")) == (403, b"Forbidden", None), hs


@t.test
def digest_auth_with_curl():
    """RFC 2617 Digest as curl --digest speaks it; the user reaches the service in
    headerField, Authorization does not (removeHeader); a replayed Authorization (same
    nonce count) gets a stale challenge; a user of another realm is refused."""
    p = S["proxy"]

    def curl(user, *extra):
        return subprocess.run(["curl", "-sS", "--digest", "-u", user, "-H", "Host: digest.test", "-v",
                               *extra, "http://127.0.0.1:%d/x?q=1" % p.web],
                              capture_output=True, text=True, timeout=15)
    r = curl("alice:wonderland")
    assert "< HTTP/1.1 200" in r.stderr, r.stderr[-1500:]
    got = echo(r.stdout)["headers"]
    assert got.get("X-Webauth-User", got.get("X-WebAuth-User")) == "alice" and "Authorization" not in got, got
    r = curl("alice:wrong")
    assert "< HTTP/1.1 401" in r.stderr and "< HTTP/1.1 200" not in r.stderr, r.stderr[-800:]
    assert re.search(r'WWW-Authenticate: Digest realm="traefik", nonce="[^"]+", opaque="[^"]+", '
                     r'algorithm=MD5, qop="auth"', r.stderr), r.stderr[-800:]
    r = curl("bob:builder")  # bob's line is for another realm
    assert "< HTTP/1.1 200" not in r.stderr, r.stderr[-800:]
    # the Authorization curl sent, sent again as it is: refused as stale
    r = curl("alice:wonderland")
    auth = re.findall(r"> Authorization: (Digest .*)", r.stderr)[-1].strip()
    status, hs, _ = web("digest", "/x?q=1", headers={"Authorization": auth})
    assert status == 401 and "stale=true" in header(hs, "WWW-Authenticate"), (status, hs)
    # counts start at 1: a right response with nc 0 would be replayable, so it is stale
    www = header(web("digest", "/x")[1], "WWW-Authenticate")
    nonce, opaque = re.search(r'nonce="([^"]+)"', www).group(1), re.search(r'opaque="([^"]+)"', www).group(1)

    def md5(s):
        return hashlib.md5(s.encode()).hexdigest()

    def authz(nc):
        resp = md5("%s:%s:%s:c1:auth:%s" % (md5("alice:traefik:wonderland"), nonce, nc, md5("GET:/x")))
        return ('Digest username="alice", realm="traefik", nonce="%s", uri="/x", response="%s", '
                'opaque="%s", qop=auth, nc=%s, cnonce="c1", algorithm=MD5' % (nonce, resp, opaque, nc))
    assert web("digest", "/x", headers={"Authorization": authz("00000000")})[0] == 401
    assert web("digest", "/x", headers={"Authorization": authz("00000001")})[0] == 200
    assert web("digest", "/x", headers={"Authorization": authz("00000002")})[0] == 200
    assert web("digest", "/x", headers={"Authorization": authz("00000002")})[0] == 401


@t.test
def chain_applies_in_order():
    status, hs, body = web("chain", "/users")
    assert status == 200, status
    e = echo(body)
    assert e["target"] == "/v1/users" and e["headers"].get("X-Added") == "yes", e
    assert header(hs, "X-Frame-Options") == "DENY", hs


@t.test
def stops_cleanly():  # the last test: t.run's cleanup tears down the rest
    assert_stopped_cleanly(S["proxy"])


if __name__ == "__main__":
    t.run(cleanup=teardown)
