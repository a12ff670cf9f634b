"""End-to-end tests of `hearth proxy` (part 1): the seed's manifests verbatim, the
Kubernetes path-matching table, ingress classes, the API's Traefik JSON shapes, /metrics
names, access log fields and the dashboard in headless Chromium. Backends are hc_testd
processes on loopback; manifests are written into a temporary directory.
Other parts: test_proxy_mw.py (middlewares), test_proxy_tls.py, test_proxy_ops.py."""
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import time
import types

from harness import ROOT, Tap, dead_port, raw_request, status_of
from proxy_env import (Backend, Proxy, assert_stopped_cleanly, echo, get, header, headers_all, ingress_yaml, request,
                       routed_to, seed, service_yaml, wait_for)

t = Tap()
NS = "paths"
HOST = "paths.test"

# (name of the backend, path, pathType) -> one Service per backend
PATHS = [
    ("exact", "/exact", "Exact"),
    ("foo", "/foo", "Prefix"),
    ("foobar", "/foo/bar", "Prefix"),
    ("impl", "/impl", "ImplementationSpecific"),
    ("tie-exact", "/tie", "Exact"),
    ("tie-prefix", "/tie", "Prefix"),
    ("slash", "/slash/", "Prefix"),
    ("root", "/", "Prefix"),
]
# request path -> the backend that must answer (None: 404 from the proxy)
PATH_TABLE = [
    ("/exact", "exact"),
    ("/exact/", "root"),          # Exact: "/exact" != "/exact/"; falls to the root Prefix
    ("/EXACT", "root"),           # Exact is case-sensitive
    ("/foo", "foo"),
    ("/foo/", "foo"),
    ("/foo/baz", "foo"),
    ("/foobar", "root"),          # Prefix matches whole elements: /foo never matches /foobar
    ("/foo/bar", "foobar"),       # longest match wins
    ("/foo/bar/", "foobar"),
    ("/foo/bar/x?q=1", "foobar"),
    ("/foo/barbaz", "foo"),       # element boundary: /foo/bar does not match /foo/barbaz
    ("/impl", "impl"),
    ("/implx", "impl"),           # ImplementationSpecific is Traefik's character prefix
    ("/impl/a", "impl"),
    ("/tie", "tie-exact"),        # Exact beats Prefix on a tie
    ("/tie/a", "tie-prefix"),
    ("/slash", "slash"),          # a trailing slash in a Prefix path is ignored
    ("/slash/", "slash"),
    ("/slash/a", "slash"),
    ("/slashx", "root"),
    ("/", "root"),
    ("/other", "root"),
]

S = {}


def setup():
    S["backends"] = {name: Backend(name) for name, _, _ in PATHS}
    for extra in ("wild", "legacy", "other-class", "noclass"):
        S["backends"][extra] = Backend(extra)
    b = S["backends"]
    m = {}
    for name, _, _ in PATHS + [("wild", 0, 0), ("legacy", 0, 0), ("other-class", 0, 0), ("noclass", 0, 0)]:
        m["svc-%s.yaml" % name] = service_yaml(NS, "svc-" + name, 80, [b[name]])
    m["ingress.yaml"] = ingress_yaml(NS, "table", HOST, [(p, pt, "svc-" + n, 80) for n, p, pt in PATHS])
    m["wild.yaml"] = ingress_yaml(NS, "wild", "*.wild.test", [("/", "Prefix", "svc-wild", 80)])
    m["legacy.yaml"] = ingress_yaml(NS, "legacy", "legacy.test", [("/", "Prefix", "svc-legacy", 80)],
                                    annotations={"kubernetes.io/ingress.class": "traefik"}, class_name=None)
    m["other.yaml"] = ingress_yaml(NS, "other", "other.test", [("/", "Prefix", "svc-other-class", 80)],
                                   class_name="nginx")
    m["noclass.yaml"] = ingress_yaml(NS, "noclass", "noclass.test", [("/", "Prefix", "svc-noclass", 80)],
                                     class_name=None)
    m["regexp.yaml"] = ingress_yaml(NS, "regexp", "regexp.test",
                                    [("^/v[0-9]+/items$", "ImplementationSpecific", "svc-legacy", 80)],
                                    annotations={"traefik.ingress.kubernetes.io/router.pathmatcher": "PathRegexp"})
    m["v2.yaml"] = ingress_yaml(NS, "v2", "v2.test",
                                [("/api/{v}", "ImplementationSpecific", "svc-legacy", 80),
                                 ("/ex/{id:[0-9]+}", "Exact", "svc-noclass", 80)],
                                annotations={"traefik.ingress.kubernetes.io/router.rulesyntax": "v2"})
    S["proxy"] = Proxy(m, access_log=True)
    wait_for(lambda: routed_to(S["proxy"].web, HOST, "/foo", "foo"), what="paths.test routed")


def teardown():
    if "proxy" in S:
        S["proxy"].stop()
    for b in S.get("backends", {}).values():
        b.stop()


@t.test
def starts_and_routes():
    setup()


@t.test
def path_matching_table():
    bad = []
    for path, want in PATH_TABLE:
        status, hs, body = get(S["proxy"].web, path, host=HOST)
        got = header(hs, "X-Backend") if status == 200 else status
        if got != want:
            bad.append("%s -> %r, want %r" % (path, got, want))
        elif status == 200 and echo(body)["target"] != path:
            bad.append("%s reached the backend as %r" % (path, echo(body)["target"]))
    assert not bad, "\n".join(bad)


@t.test
def unknown_host_is_404():
    status, _, _ = get(S["proxy"].web, "/foo", host="nobody.test")
    assert status == 404, status


@t.test
def upgrade_answered_by_the_proxy_closes_the_connection():
    """An Upgrade or CONNECT request the proxy answers itself (no router: 404; a bad
    target: 400): the answer, then the connection closes (it had stayed open for good,
    past every timeout, answering nothing more)."""
    for head in (b"GET /x HTTP/1.1\r\nHost: nobody.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                 b"GET * HTTP/1.1\r\nHost: nobody.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                 b"CONNECT nobody.test:80 HTTP/1.1\r\nHost: nobody.test:80\r\n\r\n"):
        resp, closed = raw_request(S["proxy"].web, head + b"GET /x HTTP/1.1\r\nHost: nobody.test\r\n\r\n")
        assert status_of(resp) in (400, 404) and closed, (head, resp[:200], closed)
        assert b"\r\nConnection: close\r\n" in resp.split(b"\r\n\r\n")[0] + b"\r\n", resp[:200]


@t.test
def host_is_case_insensitive_and_port_ignored():
    status, hs, _ = get(S["proxy"].web, "/foo", host="PATHS.Test:%d" % S["proxy"].web)
    assert status == 200 and header(hs, "X-Backend") == "foo", (status, hs)


@t.test
def absolute_form_target_routes_by_its_host():
    """RFC 9112 §3.2.2: "GET http://host/p" (what curl -x sends) is routed and forwarded
    as "/p" for that host, whatever Host said; OPTIONS * is the server's own (Go answers
    it 200 with no content)."""
    web = S["proxy"].web
    for target, host in ((b"http://paths.test/foo?x=1", b"nobody.test"),
                         (b"HTTP://PATHS.test:80/foo?x=1", b"paths.test")):
        resp = raw_request(web, b"GET " + target + b" HTTP/1.1\r\nHost: " + host +
                           b"\r\nConnection: close\r\n\r\n")[0]
        assert status_of(resp) == 200, resp[:300]
        body = json.loads(resp.partition(b"\r\n\r\n")[2])
        assert body["target"] == "/foo?x=1" and body["headers"].get("Host") == host_of(target), body
    for target, want in ((b"http://u:p@a.wild.test?x=1", "/?x=1"), (b"https://a.wild.test", "/")):
        resp = raw_request(web, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0]
        assert status_of(resp) == 200, resp[:300]
        body = json.loads(resp.partition(b"\r\n\r\n")[2])
        assert body["target"] == want and body["headers"].get("Host") == "a.wild.test", body
    # any scheme, as Go's url.ParseRequestURI: the path is cleaned and routed as any other
    # (it had gone upstream as "/ftp://paths.test/../foo", past the routes of "/foo")
    for target in (b"ftp://paths.test/x/../foo?x=1", b"ws://paths.test/x/%2e%2e/foo?x=1"):
        resp = raw_request(web, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0]
        assert status_of(resp) == 200, resp[:300]
        body = json.loads(resp.partition(b"\r\n\r\n")[2])
        assert body["target"] == "/foo?x=1" and body["headers"].get("Host") == "paths.test", body
    for target in (b"http://", b"http://u@/foo"):
        resp = raw_request(web, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0]
        assert status_of(resp) == 400, (target, resp[:300])
    resp = raw_request(web, b"OPTIONS * HTTP/1.1\r\nHost: paths.test\r\nConnection: close\r\n\r\n")[0]
    assert status_of(resp) == 200 and b"\r\ncontent-length: 0\r\n" in resp.lower(), resp[:300]


def host_of(target):
    return target.split(b"//", 1)[1].split(b"/", 1)[0].decode()


@t.test
def wildcard_host_matches_one_label():
    web = S["proxy"].web
    assert routed_to(web, "a.wild.test", "/", "wild")
    assert get(web, "/", host="a.b.wild.test")[0] == 404
    assert get(web, "/", host="wild.test")[0] == 404


@t.test
def ingress_classes():
    web = S["proxy"].web
    assert routed_to(web, "legacy.test", "/", "legacy"), "legacy kubernetes.io/ingress.class: traefik"
    assert routed_to(web, "noclass.test", "/", "noclass"), "an Ingress without class is served"
    assert get(web, "/", host="other.test")[0] == 404, "ingressClassName nginx must not be served"


@t.test
def pathmatcher_annotation_path_regexp():
    """router.pathmatcher: PathRegexp makes an ImplementationSpecific path a regular
    expression, written into the rule as Traefik writes it."""
    web = S["proxy"].web
    assert routed_to(web, "regexp.test", "/v2/items", "legacy")
    for path in ("/v2/items/1", "/vx/items", "/items"):
        assert get(web, path, host="regexp.test")[0] == 404, path
    rules = [r["rule"] for r in S["proxy"].api_json("/api/http/routers?search=regexp.test")]
    assert rules == ["Host(`regexp.test`) && PathRegexp(`^/v[0-9]+/items$`)"], rules


@t.test
def rulesyntax_v2_reads_path_templates():
    """router.rulesyntax: v2 reads an Ingress path as Traefik v2's matchers do, with
    gorilla/mux templates: {v} is one path segment, {id:[0-9]+} its own pattern."""
    web = S["proxy"].web
    assert routed_to(web, "v2.test", "/api/v1", "legacy")
    assert routed_to(web, "v2.test", "/api/v1/more", "legacy")  # ImplementationSpecific: a prefix
    assert routed_to(web, "v2.test", "/ex/42", "noclass")
    for path in ("/api/", "/ex/x", "/ex/42/1"):
        assert get(web, path, host="v2.test")[0] == 404, path


@t.test
def api_overview_shape():
    o = S["proxy"].api_json("/api/overview")
    for kind in ("routers", "services", "middlewares"):
        c = o["http"][kind]
        assert set(("total", "warnings", "errors")) <= set(c), c
    assert o["http"]["routers"]["total"] >= len(PATHS) + 3, o
    assert o["providers"] == ["KubernetesIngress", "KubernetesCRD"], o  # no --file: no File
    assert o["features"]["metrics"] == "Prometheus", o


@t.test
def api_routers_shape():
    routers = S["proxy"].api_json("/api/http/routers")
    by = {r["name"]: r for r in routers}
    name = "paths-table-paths-test-foo-bar@kubernetes"
    assert name in by, sorted(by)
    r = by[name]
    assert r["provider"] == "kubernetes", r
    assert r["rule"] == "Host(`paths.test`) && PathPrefix(`/foo/bar`)", r["rule"]
    assert r["service"] in ("paths-svc-foobar-80", "paths-svc-foobar-80@kubernetes"), r["service"]
    assert r["status"] == "enabled", r
    assert "priority" not in r, r  # none set: Traefik's omitempty (the rule's length decides)
    assert set(r.get("entryPoints", [])) >= {"web"}, r
    exact = by["paths-table-paths-test-exact@kubernetes"]
    assert exact["rule"] == "Host(`paths.test`) && Path(`/exact`)", exact["rule"]
    assert "paths-other-other-test@kubernetes" not in by, "class nginx must not appear"
    one = S["proxy"].api_json("/api/http/routers/" + name.replace("@", "%40"))
    assert one["name"] == name, one
    # a missing one: Traefik's error body, sent as Go's http.Error sends it
    for kind in ("routers", "services", "middlewares"):
        status, hs, body = get(S["proxy"].api, "/api/http/%s/nope%%40file" % kind)
        assert status == 404 and json.loads(body) == {"message": "%s not found: nope@file" % kind[:-1]}, body
        assert header(hs, "Content-Type") == "text/plain; charset=utf-8", hs


@t.test
def api_services_shape():
    services = S["proxy"].api_json("/api/http/services")
    by = {s["name"]: s for s in services}
    s = by["paths-svc-foo-80@kubernetes"]
    url = "http://127.0.0.1:%d" % S["backends"]["foo"].port
    assert s["type"] == "loadbalancer", s
    assert s["loadBalancer"]["servers"] == [{"url": url}], s
    assert s["loadBalancer"]["passHostHeader"] is True and s["loadBalancer"]["strategy"] == "wrr", s
    assert s["serverStatus"] == {url: "UP"}, s
    assert s["status"] == "enabled", s
    assert s["usedBy"] == ["paths-table-paths-test-foo@kubernetes"], s


@t.test
def api_paging_and_filters():
    p = S["proxy"]
    status, hs, body = get(p.api, "/api/http/routers?per_page=2&page=1")
    assert status == 200 and len(json.loads(body)) == 2, (status, body[:200])
    assert header(hs, "X-Next-Page") == "2", hs
    # Traefik's getIntParam and pagination errors, word for word
    for q, msg in (("per_page=abc", "invalid request: per_page: 0"), ("page=-2", "invalid request: page: -2"),
                   ("per_page=0", "invalid request: per_page: 0"), ("page=0&per_page=5", "invalid request: page: 0"),
                   ("per_page=2&page=999", "invalid request: page: 999, per_page: 2"),
                   ("per_page=%205", "invalid request: per_page: 0"),
                   ("page=4294967297&per_page=4294967296",
                    "invalid request: page: 4294967297, per_page: 4294967296")):
        status, _, body = get(p.api, "/api/http/routers?" + q)
        assert status == 400 and json.loads(body) == {"message": msg}, (q, status, body)
    found = json.loads(get(p.api, "/api/http/routers?search=wild")[2])
    assert [r["name"] for r in found] == ["paths-wild-wild-test@kubernetes"], found
    # Traefik's searchIn: any case, in a router's name and rule only (not its service)
    assert json.loads(get(p.api, "/api/http/routers?search=WiLd")[2]) == found
    found = json.loads(get(p.api, "/api/http/routers?search=-80")[2])
    assert all("-80" in (r["name"] + r["rule"]).lower() for r in found), found
    enabled = json.loads(get(p.api, "/api/http/routers?status=enabled")[2])
    assert enabled and json.loads(get(p.api, "/api/http/routers?status=Enabled")[2]) == enabled
    # serviceName as /api/http/services names it (with its provider) or as routers write it
    svc = p.api_json("/api/http/routers/paths-wild-wild-test@kubernetes")["service"]
    for q in (svc, svc + "@kubernetes"):
        found = json.loads(get(p.api, "/api/http/routers?serviceName=" + q)[2])
        assert found and all(r["service"] == svc for r in found), (q, found)
    assert json.loads(get(p.api, "/api/http/routers?serviceName=" + svc[:-1])[2]) == []
    # no TCP or UDP routing: Traefik's lists are there, empty
    for kind in ("tcp/routers", "tcp/services", "tcp/middlewares", "udp/routers", "udp/services"):
        status, hs, body = get(p.api, "/api/" + kind)
        assert status == 200 and json.loads(body) == [] and header(hs, "X-Next-Page") == "1", kind


@t.test
def api_entrypoints_version_ping():
    p = S["proxy"]
    eps = {e["name"]: e for e in p.api_json("/api/entrypoints")}
    assert {"web", "websecure"} <= set(eps), eps
    assert eps["web"]["address"].endswith(":%d" % p.web), eps["web"]
    assert eps["web"]["transport"]["respondingTimeouts"] == {
        "readTimeout": "1m0s", "idleTimeout": "3m0s", "writeTimeout": "0s"}, eps["web"]
    assert p.api_json("/api/entrypoints/websecure") == eps["websecure"]
    status, _, body = get(p.api, "/api/entrypoints/nope")
    assert status == 404 and json.loads(body) == {"message": "entry point not found: nope"}, (status, body)
    v = p.api_json("/api/version")
    assert "Version" in v, v
    status, _, body = get(p.api, "/ping")
    assert status == 200 and body.strip() == b"OK", (status, body)
    assert get(p.api, "/api/http/routers", headers={})[0] == 200
    assert request(p.api, "POST", "/api/http/routers", body=b"")[0] in (404, 405)


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset of label pairs): value}; label order is free."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        pairs = []
        for part in labels.rstrip("}").split('",') if labels else []:
            if "=" in part:
                k, v = part.split("=", 1)
                pairs.append((k.strip(), v.strip().strip('"')))
        out[(name, frozenset(pairs))] = float(value)
    return out


def has_metric(m, name, **labels):
    """The values of samples called name whose labels include the given ones."""
    want = set(labels.items())
    return [v for (n, ls), v in m.items() if n == name and want <= ls]


@t.test
def metrics_have_traefik_names():
    p = S["proxy"]
    for _ in range(3):
        get(p.web, "/foo", host=HOST)
    status, _, body = get(p.api, "/metrics")
    assert status == 200, status
    m = parse_metrics(body.decode())
    url = "http://127.0.0.1:%d" % S["backends"]["foo"].port
    svc = "paths-svc-foo-80@kubernetes"
    checks = [
        ("traefik_entrypoint_requests_total", dict(code="200", entrypoint="web", method="GET", protocol="http")),
        ("traefik_entrypoint_request_duration_seconds_bucket", dict(entrypoint="web", le="0.3")),
        ("traefik_service_requests_total", dict(code="200", method="GET", protocol="http", service=svc)),
        ("traefik_service_request_duration_seconds_bucket", dict(service=svc, le="1.2")),
        ("traefik_open_connections", dict(entrypoint="web")),
        ("traefik_config_reloads_total", {}),
        ("traefik_config_last_reload_success", {}),
        ("traefik_service_server_up", dict(service=svc, url=url)),
    ]
    missing = [(n, l) for n, l in checks if not has_metric(m, n, **l)]
    assert not missing, "missing: %s\n%s" % (missing, "\n".join(sorted({k[0] for k in m})))
    assert has_metric(m, "traefik_service_requests_total", code="200", service=svc)[0] >= 3
    assert has_metric(m, "traefik_service_server_up", service=svc, url=url) == [1.0]


@t.test
def access_log_fields():
    p = S["proxy"]
    get(p.web, "/foo/baz?x=1", host=HOST, headers={"User-Agent": "e2e"})

    def line():
        if not os.path.exists(p.access_log):
            return None
        for ln in open(p.access_log).read().splitlines():
            try:
                o = json.loads(ln)
            except ValueError:
                continue
            if o.get("RequestPath") == "/foo/baz?x=1":
                return o
        return None

    o = wait_for(line, what="access log line")
    assert o["RequestMethod"] == "GET" and o["RequestHost"] == HOST, o
    assert o["DownstreamStatus"] == 200 and o["OriginStatus"] == 200, o
    assert o["ClientHost"] == "127.0.0.1", o
    assert o["RouterName"] == "paths-table-paths-test-foo@kubernetes", o
    assert o["ServiceName"] == "paths-svc-foo-80@kubernetes", o
    assert o["ServiceAddr"] == "127.0.0.1:%d" % S["backends"]["foo"].port, o
    assert isinstance(o["Duration"], int) and o["Duration"] > 0, o
    for k in ("StartUTC", "ClientAddr", "ClientPort", "RequestProtocol", "RequestScheme",
              "OriginContentSize", "DownstreamContentSize", "RetryAttempts", "level", "msg", "time"):
        assert k in o, (k, o)
    miss = get(p.web, "/x", host="nobody.test")
    o2 = wait_for(lambda: [json.loads(x) for x in open(p.access_log).read().splitlines()
                           if '"nobody.test"' in x], what="404 line")[0]
    assert o2["DownstreamStatus"] == 404 and o2["OriginStatus"] == 0, o2
    assert o["RequestContentSize"] == 0 and o2["RequestContentSize"] == 0, (o, o2)
    # RequestContentSize counts the body bytes read, as Traefik's readCounter: a chunked
    # body has no Content-Length to go by
    resp, _ = raw_request(p.web, b"POST /foo/chunked HTTP/1.1\r\nHost: " + HOST.encode() +
                          b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                          b"5\r\nabcde\r\n3\r\nfgh\r\n0\r\n\r\n")
    assert status_of(resp) == 200, resp[:200]
    o3 = wait_for(lambda: [json.loads(x) for x in open(p.access_log).read().splitlines()
                           if '"/foo/chunked"' in x], what="chunked line")[0]
    assert o3["DownstreamStatus"] == 200 and o3["RequestContentSize"] == 8, o3


@t.test
def dashboard_in_chromium():
    p = S["proxy"]
    status, hs, body = get(p.api, "/dashboard/")
    assert status == 200 and b"hearth" in body, (status, body[:200])
    assert get(p.api, "/dashboard/app.js")[0] == 200
    node_modules = os.path.join(ROOT, "node_modules", "playwright-core")
    assert os.path.isdir(node_modules), "run npm ci (make test does)"
    assert shutil.which("chromium"), "chromium is not installed (scripts/deps.sh test)"
    # a service whose only server is down: its router is enabled, but flagged
    dead = dead_port()
    p.write("svc-dead.yaml", service_yaml(NS, "svc-dead", 80, [types.SimpleNamespace(port=dead)]))
    p.write("ing-dead.yaml", ingress_yaml(NS, "dead", "dead.test", [("/", "Prefix", "svc-dead", 80)]))
    wait_for(lambda: get(p.web, "/", host="dead.test")[0] == 502, what="the dead service routed")
    # a router disabled (its middleware does not exist), whose name sorts last: listed first
    p.write("ing-zz.yaml", ingress_yaml(NS, "zz", "zz.test", [("/", "Prefix", "svc-dead", 80)],
                                        annotations={"traefik.ingress.kubernetes.io/router.middlewares":
                                                     "paths-nosuch@kubernetescrd"}))
    wait_for(lambda: p.api_json("/api/http/routers?search=zz.test"), what="the disabled router")
    dead_svc = "%s-svc-dead-80@kubernetes" % NS
    wait_for(lambda: "DOWN" in json.dumps(p.api_json("/api/http/services/" + dead_svc).get("serverStatus")),
             what="the dead server DOWN")
    shot = os.environ.get("PROXY_DASHBOARD_SHOT") or os.path.join(tempfile.gettempdir(), "hearth-proxy-dashboard.png")
    url = "http://127.0.0.1:%d/dashboard/" % p.api
    args = ["node", os.path.join(ROOT, "tests", "e2e", "proxy_dashboard.mjs"), "--url", url, "--shot", shot,
            "--router", "paths-table-paths-test-foo@kubernetes=enabled",
            "--router", "%s-zz-zz-test@kubernetes=disabled" % NS,
            "--server", "http://127.0.0.1:%d=UP" % S["backends"]["foo"].port,
            "--server", "http://127.0.0.1:%d=DOWN" % dead,
            "--down-router", "%s-dead-dead-test@kubernetes" % NS]
    r = subprocess.run(args, capture_output=True, text=True, timeout=90, cwd=ROOT)
    p.remove("ing-zz.yaml")
    print("# screenshot: %s" % shot)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.getsize(shot) > 10000


@t.test
def stops_cleanly():
    assert_stopped_cleanly(S["proxy"])
    teardown()


# ---- the seed's manifests, verbatim ----

@t.test
def seed_manifests_verbatim():
    api = Backend("seed-api")
    m = {
        "04_ingress_middlewares.yaml": seed("04_ingress_middlewares.yaml"),
        "05_middlewares.yaml": seed("05_middlewares.yaml"),
        "svc.yaml": service_yaml("client-example", "api", 8000, [api]),
    }
    host = "example-api.app.ominis.ai"
    try:
        with Proxy(m) as p:
            wait_for(lambda: routed_to(p.web, host, "/", "seed-api"), what="seed Ingress served")
            # security-headers
            status, hs, _ = get(p.web, "/anything", host=host)
            assert status == 200, status
            want = {"X-Frame-Options": "SAMEORIGIN", "X-Content-Type-Options": "nosniff",
                    "X-XSS-Protection": "1; mode=block", "Referrer-Policy": "no-referrer-when-downgrade",
                    "Permissions-Policy": "geolocation=(), microphone=(), camera=()"}
            for k, v in want.items():
                assert headers_all(hs, k) == [v], (k, headers_all(hs, k))
            # compress: gzip over 1024 bytes with Vary, nothing below
            status, hs, body = get(p.web, "/text?n=5000", host=host, headers={"Accept-Encoding": "gzip"})
            assert status == 200 and header(hs, "Content-Encoding") == "gzip", hs
            assert "Accept-Encoding" in (header(hs, "Vary") or ""), hs
            assert len(gzip.decompress(body)) == 5000
            status, hs, body = get(p.web, "/text?n=500", host=host, headers={"Accept-Encoding": "gzip"})
            assert header(hs, "Content-Encoding") is None and len(body) == 500, hs
            # the router is named as Traefik names it, with the three middlewares in order
            routers = {r["name"]: r for r in p.api_json("/api/http/routers")}
            r = routers["client-example-example-ingress-example-api-app-ominis-ai@kubernetes"]
            assert r["middlewares"] == ["default-security-headers@kubernetescrd",
                                        "default-rate-limit@kubernetescrd",
                                        "default-compress@kubernetescrd"], r
            mws = {x["name"]: x for x in p.api_json("/api/http/middlewares")}
            assert mws["default-rate-limit@kubernetescrd"]["type"] == "ratelimit", mws
            # TLS named by the Ingress (Secret absent: default certificate, still served)
            out = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--resolve",
                                  "%s:%d:127.0.0.1" % (host, p.websecure), "https://%s:%d/" % (host, p.websecure)],
                                 capture_output=True, text=True, timeout=15)
            assert out.stdout == "200", out
            # rate-limit: average 100 per 1m, burst 50 -> the burst passes, then 429
            codes = []
            for _ in range(70):
                status, hs, _ = get(p.web, "/", host=host)
                codes.append(status)
                if status == 429:
                    retry = header(hs, "Retry-After")
                    assert retry and int(retry) >= 1, hs
                    break
            assert codes[:45] == [200] * 45, codes
            assert 429 in codes, "no 429 after %d requests" % len(codes)
    finally:
        api.stop()


if __name__ == "__main__":
    t.run(cleanup=teardown)
