"""End-to-end tests of `hearth proxy` with Traefik's IngressRoute and TraefikService
CRDs, as a Traefik user writes them: routes with middlewares and priorities, a route
split over two Services by weight, a TraefikService, an IngressRoute with `tls`
(served on websecure only, with its Secret's certificate, checked with curl), the API's
names, and a reload that removes a route. Backends are hc_testd processes on loopback."""
import json
import re
import tempfile
import textwrap
import time

import types

from harness import Tap, connect, dead_port
from proxy_env import (Backend, Proxy, Recorder, assert_stopped_cleanly, echo, get, header, ingress_yaml,
                       make_cert, middleware_yaml, request, secret_yaml, service_yaml, wait_for)
from test_proxy_tls import curl

t = Tap()
NS = "crd"
S = {}

ROUTES = textwrap.dedent("""\
    apiVersion: traefik.io/v1alpha1
    kind: IngressRoute
    metadata:
      name: app.routes
      namespace: crd
    spec:
      entryPoints: [web]
      routes:
      - match: Host(`ir.test`) && PathPrefix(`/api`)
        kind: Rule
        middlewares:
        - name: strip-api
        - name: tag
          namespace: crd
        services:
        - name: svc-a
          port: 80
      - match: Host(`ir.test`) && PathPrefix(`/split`)
        kind: Rule
        services:
        - name: svc-a
          port: http
          weight: 1
        - name: svc-b
          port: 80
          weight: 1
      - match: Host(`ir.test`) && PathPrefix(`/wrr`)
        services:
        - name: wrr
          kind: TraefikService
      - match: Host(`ir.test`)
        kind: Rule
        priority: 1
        services:
        - name: svc-b
          port: 80
    """)
SECURE = textwrap.dedent("""\
    apiVersion: traefik.containo.us/v1alpha1
    kind: IngressRoute
    metadata:
      name: secure
      namespace: crd
    spec:
      routes:
      - match: Host(`irs.test`)
        kind: Rule
        services:
        - name: svc-a
          port: 80
      tls:
        secretName: irs-tls
        options:
          name: modern
    ---
    apiVersion: traefik.io/v1alpha1
    kind: TLSOption
    metadata:
      name: modern
      namespace: crd
    spec:
      minVersion: VersionTLS12
    """)
WRR = textwrap.dedent("""\
    apiVersion: traefik.io/v1alpha1
    kind: TraefikService
    metadata:
      name: wrr
      namespace: crd
    spec:
      weighted:
        services:
        - name: svc-a
          port: 80
          weight: 3
        - name: svc-b
          port: 80
          weight: 1
        - name: svc-b
          port: http
          weight: 0
    """)

MIRROR = textwrap.dedent("""\
    apiVersion: traefik.io/v1alpha1
    kind: TraefikService
    metadata:
      name: mirror
      namespace: crd
    spec:
      mirroring:
        name: svc-a
        port: 80
        maxBodySize: 1024
        mirrors:
        - name: svc-rec
          port: 80
          percent: 100
    ---
    apiVersion: traefik.io/v1alpha1
    kind: IngressRoute
    metadata:
      name: mirror
      namespace: crd
    spec:
      routes:
      - match: Host(`mirror.test`)
        services:
        - name: mirror
          kind: TraefikService
    """)


EPS = textwrap.dedent("""\
    apiVersion: traefik.io/v1alpha1
    kind: IngressRoute
    metadata:
      name: eps
      namespace: crd
    spec:
      entryPoints: [http]
      routes:
      - match: Host(`eps.test`)
        services:
        - name: svc-a
          port: 80
    ---
    apiVersion: traefik.io/v1alpha1
    kind: IngressRoute
    metadata:
      name: eps2
      namespace: crd
    spec:
      entryPoints: [web, metrics]
      routes:
      - match: Host(`eps2.test`)
        services:
        - name: svc-a
          port: 80
    """)


# the dashboard IngressRoute Traefik's Helm chart writes (ingressRoute.dashboard)
DASHBOARD = textwrap.dedent("""\
    apiVersion: traefik.io/v1alpha1
    kind: IngressRoute
    metadata:
      name: dashboard
      namespace: crd
    spec:
      entryPoints: [web]
      routes:
      - match: Host(`dash.test`) && (PathPrefix(`/dashboard`) || PathPrefix(`/api`))
        kind: Rule
        services:
        - name: api@internal
          kind: TraefikService
      - match: Host(`dash.test`) && Path(`/ping`)
        services:
        - name: ping@internal
          kind: TraefikService
    """)


# the same as Traefik's Helm chart renders it by default: on its `traefik` entry point,
# which is the API listener's port
DASHBOARD_CHART = textwrap.dedent("""\
    apiVersion: traefik.io/v1alpha1
    kind: IngressRoute
    metadata:
      name: traefik-dashboard
      namespace: crd
    spec:
      entryPoints: [traefik]
      routes:
      - match: PathPrefix(`/dashboard`) || PathPrefix(`/api`)
        kind: Rule
        services:
        - name: api@internal
          kind: TraefikService
    ---
    apiVersion: traefik.io/v1alpha1
    kind: IngressRoute
    metadata:
      name: traefik-dashboard-auth
      namespace: crd
    spec:
      entryPoints: [traefik]
      routes:
      - match: PathPrefix(`/api/overview`)
        middlewares:
        - name: tag
        services:
        - name: api@internal
          kind: TraefikService
    """)


# a split over a dead Service and a live one, behind a retry middleware: Traefik's retry
# wraps the whole service, so a try after a failure goes through the split again
RETRY = textwrap.dedent("""\
    apiVersion: traefik.io/v1alpha1
    kind: Middleware
    metadata:
      name: retry
      namespace: crd
    spec:
      retry:
        attempts: 4
        initialInterval: 10ms
    ---
    apiVersion: traefik.io/v1alpha1
    kind: IngressRoute
    metadata:
      name: retry
      namespace: crd
    spec:
      routes:
      - match: Host(`retry.test`)
        middlewares:
        - name: retry
        services:
        - name: svc-dead
          port: 80
        - name: svc-a
          port: 80
    """)


def setup():
    S["tmp"] = tempfile.mkdtemp(prefix="hearth-ir-e2e-")
    S["a"], S["b"], S["rec"] = Backend("ir-a"), Backend("ir-b"), Recorder()
    S["cert"] = make_cert(S["tmp"], "irs.test", ["irs.test"])
    S["ca"] = S["tmp"] + "/irs.pem"
    with open(S["ca"], "wb") as f:
        f.write(S["cert"][0])
    m = {
        "svc-a.yaml": service_yaml(NS, "svc-a", 80, [S["a"]]),
        "svc-b.yaml": service_yaml(NS, "svc-b", 80, [S["b"]]),
        "svc-dead.yaml": service_yaml(NS, "svc-dead", 80, [types.SimpleNamespace(port=dead_port())]),
        "retry.yaml": RETRY,
        "mw.yaml": middleware_yaml(NS, "strip-api", "stripPrefix:\n  prefixes: [/api]\n") + "---\n" +
        middleware_yaml(NS, "tag", "headers:\n  customResponseHeaders:\n    X-Route: ingressroute\n"),
        "routes.yaml": ROUTES,
        "secure.yaml": SECURE + "---\n" + secret_yaml(NS, "irs-tls", *S["cert"]),
        "wrr.yaml": WRR,
        "mirror.yaml": MIRROR + "---\n" + service_yaml(NS, "svc-rec", 80, [S["rec"]]),
        "eps.yaml": EPS,
        "dashboard.yaml": DASHBOARD,
        "dashboard-chart.yaml": DASHBOARD_CHART,
    }
    S["proxy"] = Proxy(m)


def teardown():
    for k in ("proxy", "a", "b", "rec"):
        if k in S:
            S[k].stop()


@t.test
def routes_with_middlewares():
    setup()
    p = S["proxy"]
    status, hs, body = get(p.web, "/api/users?x=1", host="ir.test")
    assert status == 200, (status, body[:300])
    e = echo(body)
    assert e["name"] == "ir-a" and e["target"] == "/users?x=1", e  # stripPrefix ran
    assert e["headers"].get("X-Forwarded-Prefix") == "/api", e["headers"]
    assert header(hs, "X-Route") == "ingressroute", hs
    # the catch-all route of priority 1 loses to every longer rule, and takes the rest
    status, hs, body = get(p.web, "/other", host="ir.test")
    assert status == 200 and echo(body)["name"] == "ir-b", (status, body[:200])
    assert header(hs, "X-Route") is None, hs
    assert get(p.web, "/api", host="nope.test")[0] == 404


@t.test
def weighted_route_and_traefik_service():
    p = S["proxy"]
    seen = {}
    for _ in range(40):
        status, _, body = get(p.web, "/split", host="ir.test")
        assert status == 200, status
        name = echo(body)["name"]
        seen[name] = seen.get(name, 0) + 1
    assert set(seen) == {"ir-a", "ir-b"}, seen
    seen = {}
    for _ in range(40):
        name = echo(get(p.web, "/wrr", host="ir.test")[2])["name"]
        seen[name] = seen.get(name, 0) + 1
    # weights 3:1 over 40 requests, with two workers balancing each on its own; the child
    # of weight 0 (the same backend b, by port name) is never chosen, as in Traefik
    assert seen.get("ir-a", 0) > seen.get("ir-b", 0) > 0, seen
    assert seen.get("ir-b", 0) <= 12, seen
    # service metrics name the child whose server answered, as Traefik counts them per
    # server: never the weighted service a split route is built as
    metrics = get(p.api, "/metrics")[2].decode()
    counted = set(re.findall(r'traefik_service_requests_total\{[^}]*service="([^"]+)"', metrics))
    assert {"crd-svc-a-80@kubernetescrd", "crd-svc-b-80@kubernetescrd", "crd-svc-a-http@kubernetescrd"} <= counted
    assert not [n for n in counted if n.startswith("crd-wrr")], counted


@t.test
def traefik_service_mirroring():
    """A TraefikService mirroring: svc-a answers, svc-rec gets a copy of each request."""
    p = S["proxy"]
    status, _, body = request(p.web, "POST", "/mirror/x", host="mirror.test", body=b"copy me")
    assert status == 200 and echo(body)["name"] == "ir-a", (status, body[:200])
    rec = wait_for(lambda: S["rec"].seen, what="the mirrored copy")
    assert [(m["method"], m["target"], m["body"]) for m in rec] == [("POST", "/mirror/x", b"copy me")], rec
    # the copy is counted under the mirror's own service series, as Traefik counts it
    metric = ('traefik_service_requests_total{code="200",method="POST",protocol="http",'
              'service="crd-svc-rec-80@kubernetescrd"} 1')
    wait_for(lambda: metric in get(p.api, "/metrics")[2].decode(), timeout=5, what="the copy in /metrics")
    assert ('traefik_service_requests_bytes_total{code="200",method="POST",protocol="http",'
            'service="crd-svc-rec-80@kubernetescrd"} 7') in get(p.api, "/metrics")[2].decode()
    # a client that leaves before its answer gets no copy sent (Traefik's canceled request)
    s = connect(p.web)
    s.sendall(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: mirror.test\r\n\r\n")
    time.sleep(0.3)
    s.close()
    time.sleep(2.0)
    assert [m["target"] for m in S["rec"].seen] == ["/mirror/x"], S["rec"].seen
    svc = p.api_json("/api/http/services/crd-mirror@kubernetescrd")
    assert svc["type"] == "mirroring" and svc["status"] == "enabled", svc
    assert svc["mirroring"] == {"service": "crd-svc-a-80", "mirrorBody": True, "maxBodySize": 1024,
                                "mirrors": [{"name": "crd-svc-rec-80", "percent": 100}]}, svc


@t.test
def tls_route_serves_websecure_only_with_its_secret():
    p = S["proxy"]
    r = curl(p.websecure, "irs.test", S["ca"])  # verifies the Secret's certificate
    assert r.returncode == 0 and r.stdout.endswith("\n200"), (r.returncode, r.stdout[-300:], r.stderr)
    assert echo(r.stdout.rsplit("\n", 1)[0])["name"] == "ir-a"
    assert get(p.web, "/", host="irs.test")[0] == 404  # a router with tls serves TLS only
    # entryPoints: [web] keeps app.routes off websecure
    r = curl(p.websecure, "ir.test", S["ca"])
    assert r.stdout.endswith("\n404") or r.returncode != 0, r.stdout[-300:]


@t.test
def dashboard_through_api_internal():
    p = S["proxy"]
    status, _, body = get(p.web, "/api/version", host="dash.test")
    assert status == 200 and "Version" in json.loads(body), (status, body[:200])
    status, hs, body = get(p.web, "/dashboard/", host="dash.test")
    assert status == 200 and b"<html" in body.lower(), (status, body[:200])
    assert get(p.web, "/ping", host="dash.test")[2] == b"OK"
    services = {s["name"]: s for s in p.api_json("/api/http/services")}
    api = services["api@internal"]
    assert api["provider"] == "internal" and "loadBalancer" not in api and api["usedBy"], api
    assert "type" not in api, api  # an empty Service in Traefik's runtime: no type
    # a service no router uses: no usedBy at all (Traefik's omitempty)
    unused = [s for s in services.values() if s["provider"] == "internal" and s["name"] != "api@internal"
              and "usedBy" not in s]
    assert unused and not [s for s in services.values() if s.get("usedBy") == []], services
    # the chart's own dashboard route, on its `traefik` entry point: enabled, as in Traefik
    routers = p.api_json("/api/http/routers")
    chart = [r for r in routers if r["name"].startswith("crd-traefik-dashboard-") and "-auth-" not in r["name"]]
    assert len(chart) == 1 and chart[0]["status"] == "enabled" and chart[0]["using"] == ["traefik"], chart
    assert "error" not in chart[0], chart
    # with middlewares, which the API listener does not run: said so, not hidden
    auth = [r for r in routers if r["name"].startswith("crd-traefik-dashboard-auth-")]
    assert len(auth) == 1 and auth[0]["status"] == "warning", auth
    assert "middlewares are not applied" in " ".join(auth[0]["error"]), auth


@t.test
def retry_goes_through_the_split_again():
    p = S["proxy"]
    got = [request(p.web, "POST", "/x", host="retry.test")[0] for _ in range(12)]
    assert got == [200] * 12, got
    # about half the first tries met the dead Service: counted as Traefik counts retries
    m = re.search(r'traefik_service_retries_total\{service="crd-retry-[0-9a-f]+@kubernetescrd"\} (\d+)',
                  get(p.api, "/metrics")[2].decode())
    assert m and int(m.group(1)) >= 1, m


@t.test
def api_names_as_traefik():
    p = S["proxy"]
    routers = {r["name"]: r for r in p.api_json("/api/http/routers")}
    mine = {n: r for n, r in routers.items() if n.startswith("crd-app-routes-")}
    assert len(mine) == 4, sorted(routers)
    for name, r in mine.items():
        assert name.endswith("@kubernetescrd") and len(name.split("@")[0]) == len("crd-app-routes-") + 20, name
        assert r["provider"] == "kubernetescrd" and r["status"] == "enabled", r
    api = [r for r in mine.values() if "/api" in r["rule"]][0]
    assert api["service"] + "@kubernetescrd" == api["name"], api  # a lone Service: the router's name
    assert api["middlewares"] == ["crd-strip-api@kubernetescrd", "crd-tag@kubernetescrd"], api
    # entry points that do not exist: reported, as Traefik's runtime does
    eps = [r for n, r in routers.items() if n.startswith("crd-eps-")][0]
    assert eps["status"] == "disabled" and "using" not in eps, eps
    assert 'entryPoint "http" doesn\'t exist' in eps["error"] and "no valid entryPoint for this router" in eps["error"], eps
    eps2 = [r for n, r in routers.items() if n.startswith("crd-eps2-")][0]
    assert eps2["status"] == "warning" and eps2["using"] == ["web"], eps2
    assert eps2["entryPoints"] == ["web", "metrics"], eps2
    assert get(p.web, "/", host="eps2.test")[0] == 200 and get(p.web, "/", host="eps.test")[0] == 404
    services = {s["name"]: s for s in p.api_json("/api/http/services")}
    assert "weighted" in services["crd-wrr@kubernetescrd"], services["crd-wrr@kubernetescrd"]
    split = [r for r in mine.values() if "/split" in r["rule"]][0]
    assert split["service"] + "@kubernetescrd" == split["name"], split
    # children named as the provider wrote them, without "@kubernetescrd" (as Traefik's API)
    assert services[split["name"]]["weighted"]["services"][0]["name"] == "crd-svc-a-http", services
    # so is a route's TLSOption (Traefik's CRD provider writes makeID(ns, name))
    secure = [r for n, r in routers.items() if n.startswith("crd-secure-")][0]
    assert secure["tls"]["options"] == "crd-modern" and secure["status"] == "enabled", secure


@t.test
def reload_removes_a_route_and_reports_a_broken_one():
    p = S["proxy"]
    p.write("routes.yaml", ROUTES.replace("PathPrefix(`/api`)", "PathPrefix(`/v2`)").replace(
        "- name: svc-b\n      port: 80\n", "- name: svc-b\n", 1))
    wait_for(lambda: get(p.web, "/v2/x", host="ir.test")[0] == 200, what="the edited route served")
    # each worker takes the new generation on its own: poll until /api falls to the catch-all
    wait_for(lambda: echo(get(p.web, "/api/users", host="ir.test")[2])["name"] == "ir-b",
             what="/api routed by the catch-all")
    errs = [e for e in p.api_json("/api/errors") if e.get("kind") == "IngressRoute"]
    assert any("port not defined" in e["message"] for e in errs), errs
    assert get(p.web, "/wrr", host="ir.test")[0] == 200  # the rest stays live
    # a child of Traefik 3.6's multi-layer routing is refused, not routed past its parent
    p.write("child.yaml", textwrap.dedent("""\
        apiVersion: traefik.io/v1alpha1
        kind: IngressRoute
        metadata: {name: child, namespace: crd}
        spec:
          parentRefs: [{name: app.routes}]
          routes:
          - match: Host(`child.test`)
            services: [{name: svc-a, port: 80}]
        """))
    wait_for(lambda: any("parentRefs" in e["message"] for e in p.api_json("/api/errors")),
             what="the child reported")
    assert get(p.web, "/", host="child.test")[0] == 404
    # h2c (gRPC without TLS) to the server would need HTTP/2: refused with the reason, from
    # a route's scheme (also on a child another route built) and from a Service's
    # annotation alike, never served as a 502
    p.write("h2c.yaml", textwrap.dedent("""\
        apiVersion: traefik.io/v1alpha1
        kind: IngressRoute
        metadata: {name: grpc, namespace: crd}
        spec:
          routes:
          - match: Host(`grpc.test`)
            services: [{name: svc-a, port: 80, scheme: h2c}]
        ---
        apiVersion: traefik.io/v1alpha1
        kind: IngressRoute
        metadata: {name: a-pair, namespace: crd}
        spec:
          routes:
          - match: Host(`pair.test`)
            services: [{name: svc-a, port: 80}, {name: svc-b, port: 80}]
        ---
        apiVersion: traefik.io/v1alpha1
        kind: IngressRoute
        metadata: {name: grpc-pair, namespace: crd}
        spec:
          routes:
          - match: Host(`grpcpair.test`)
            services: [{name: svc-a, port: 80, scheme: h2c}, {name: svc-b, port: 80}]
        ---
        """) + service_yaml(NS, "svc-h2c", 80, [S["a"]]).replace(
        "  name: svc-h2c\n  namespace: crd\nspec:",
        "  name: svc-h2c\n  namespace: crd\n  annotations: {traefik.ingress.kubernetes.io/service.serversscheme: h2c}\nspec:")
        + "---\n" + ingress_yaml(NS, "grpc-ing", "grpcing.test", [("/", "Prefix", "svc-h2c", 80)]))
    wait_for(lambda: sum("scheme h2c is not supported" in e["message"]
                         for e in p.api_json("/api/errors")) == 3, what="the refusals reported")
    assert get(p.web, "/", host="grpc.test")[0] == 404
    assert get(p.web, "/", host="pair.test")[0] == 200
    # its svc-a child was built by a-pair already: the scheme is refused all the same
    assert get(p.web, "/", host="grpcpair.test")[0] == 404
    assert get(p.web, "/", host="grpcing.test")[0] == 404


@t.test
def stops_cleanly():  # the last test: t.run's cleanup tears down the rest
    assert_stopped_cleanly(S["proxy"])


if __name__ == "__main__":
    t.run(cleanup=teardown)
