"""End-to-end tests of `hearth proxy` (part 6): servers transports, how the proxy talks to
HTTPS servers. An hc_testd backend serves a certificate of a private CA for the name
backend.internal (not 127.0.0.1, where it listens), and `openssl s_server` another that
requires a client certificate. Through the file provider's http.serversTransports and
the ServersTransport CRD (an IngressRoute's reference, an Ingress Service's annotation):
verification against the system store refuses the backend (500, as Traefik), insecureSkipVerify,
rootCAs with serverName, mutual TLS with certificates, responseHeaderTimeout (504), the TLS
handshake's own timeout, and a missing or unbuildable transport disabling its routers with
the reason."""
import base64
import http.client
import json
import os
import socket
import subprocess
import tempfile
import textwrap
import time
import types

from harness import Proc, Tap, free_port, wait_port
from proxy_env import Backend, Proxy, assert_stopped_cleanly, echo, get, ingress_yaml, service_yaml, wait_for

t = Tap()
NS = "st"
S = {}


def run(*args):
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def pki(d):
    """A server CA, its certificate for backend.internal, and a client CA with a client
    certificate; a second client certificate from the server CA: a dict of paths."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    p = {k: os.path.join(d, k) for k in ("ca.crt", "ca.key", "be.crt", "be.key", "cca.crt",
                                           "cca.key", "cl.crt", "cl.key", "cl2.crt", "cl2.key")}
    for ca in ("ca", "cca"):
        run("openssl", "req", "-x509", *ec, "-keyout", p[ca + ".key"], "-out", p[ca + ".crt"],
            "-days", "2", "-subj", "/CN=%s test CA" % ca)
    for leaf, ca, ext in (("be", "ca", "subjectAltName=DNS:backend.internal"),
                          ("cl", "cca", "extendedKeyUsage=clientAuth"),
                          ("cl2", "ca", "extendedKeyUsage=clientAuth")):
        run("openssl", "req", *ec, "-keyout", p[leaf + ".key"], "-out", os.path.join(d, leaf + ".csr"),
            "-subj", "/CN=" + leaf)
        with open(os.path.join(d, leaf + ".ext"), "w") as f:
            f.write(ext + "\n")
        run("openssl", "x509", "-req", "-in", os.path.join(d, leaf + ".csr"), "-CA", p[ca + ".crt"],
            "-CAkey", p[ca + ".key"], "-CAcreateserial", "-out", p[leaf + ".crt"], "-days", "2",
            "-extfile", os.path.join(d, leaf + ".ext"))
    return p


def read(path):
    with open(path) as f:
        return f.read()


FILE = """\
http:
  routers:
    plain: {{rule: "Host(`plain.test`)", service: plain}}
    insecure: {{rule: "Host(`insecure.test`)", service: insecure}}
    roots: {{rule: "Host(`roots.test`)", service: roots}}
    noname: {{rule: "Host(`noname.test`)", service: noname}}
    mtls: {{rule: "Host(`mtls.test`)", service: mtls}}
    mtls2: {{rule: "Host(`mtls2.test`)", service: mtls2}}
    nocert: {{rule: "Host(`nocert.test`)", service: nocert}}
    slow: {{rule: "Host(`slow.test`)", service: slow}}
    missing: {{rule: "Host(`missing.test`)", service: missing}}
    broken: {{rule: "Host(`broken.test`)", service: broken}}
    rot: {{rule: "Host(`rot.test`)", service: rot}}
    tls13: {{rule: "Host(`tls13.test`)", service: tls13}}
    notls: {{rule: "Host(`notls.test`)", service: notls}}
    tls13ok: {{rule: "Host(`tls13ok.test`)", service: tls13ok}}
    suites: {{rule: "Host(`suites.test`)", service: suites}}
    scalar: {{rule: "Host(`scalar.test`)", service: scalar}}
    inline: {{rule: "Host(`inline.test`)", service: inline}}
    nokeep: {{rule: "Host(`nokeep.test`)", service: nokeep}}
    shortidle: {{rule: "Host(`shortidle.test`)", service: shortidle}}
    mute: {{rule: "Host(`mute.test`)", service: mute}}
  services:
    plain: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}]}}}}
    insecure: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: insecure}}}}
    roots: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: roots@file}}}}
    noname: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: noname}}}}
    mtls: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{ss}"}}], serversTransport: mtls}}}}
    mtls2: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{ss}"}}], serversTransport: mtls2}}}}
    nocert: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{ss}"}}], serversTransport: roots}}}}
    slow: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: slow}}}}
    missing: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: nope}}}}
    broken: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: broken}}}}
    rot: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: rot}}}}
    tls13: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{ss12}"}}], serversTransport: min13}}}}
    notls: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{pl}"}}], serversTransport: insecure}}}}
    tls13ok: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: min13}}}}
    suites: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: suites}}}}
    scalar: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: scalar}}}}
    inline: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{ss}"}}], serversTransport: inline}}}}
    nokeep: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: nokeep}}}}
    shortidle: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{be}"}}], serversTransport: shortidle}}}}
    mute: {{loadBalancer: {{servers: [{{url: "https://127.0.0.1:{mute}"}}], serversTransport: quickdial}}}}
  serversTransports:
    insecure:
      insecureSkipVerify: true
    roots:
      serverName: backend.internal
      rootCAs: ["{ca}"]
    noname:
      rootCAs: ["{ca}"]
    mtls:
      serverName: backend.internal
      rootCAs: ["{ca}"]
      certificates:
        - certFile: {cl_crt}
          keyFile: {cl_key}
    mtls2:
      serverName: backend.internal
      rootCAs: ["{ca}"]
      certificates:
        - {{certFile: {cl2_crt}, keyFile: {cl2_key}}}
        - {{certFile: {cl_crt}, keyFile: {cl_key}}}
    slow:
      insecureSkipVerify: true
      forwardingTimeouts:
        responseHeaderTimeout: 300ms
    broken:
      rootCAs: ["{d}/no-such-ca.crt"]
    rot:
      serverName: backend.internal
      rootCAs: ["{d}/rot-ca.crt"]
    min13:
      serverName: backend.internal
      rootCAs: ["{ca}"]
      minVersion: VersionTLS13
    suites:
      insecureSkipVerify: true
      cipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
    scalar:
      rootCAs: "{ca}"
    nokeep:
      insecureSkipVerify: true
      maxIdleConnsPerHost: -1
    shortidle:
      insecureSkipVerify: true
      forwardingTimeouts:
        idleConnTimeout: 400ms
    quickdial:
      insecureSkipVerify: true
      forwardingTimeouts:
        dialTimeout: 1s
    inline:
      ServerName: backend.internal
      RootCAs: [{ca_pem}]
      Certificates:
        - CertFile: {cl_pem}
          keyfile: {key_pem}
"""


def crd_manifests(p, be_port, ss_port):
    b64 = lambda s: base64.b64encode(s.encode()).decode()
    return {"st.yaml": textwrap.dedent("""\
        apiVersion: v1
        kind: Secret
        metadata: {name: be-ca, namespace: st}
        data: {ca.crt: %s}
        ---
        apiVersion: traefik.io/v1alpha1
        kind: ServersTransport
        metadata: {name: internal, namespace: st}
        spec:
          serverName: backend.internal
          rootCAsSecrets: [be-ca]
        ---
        apiVersion: traefik.io/v1alpha1
        kind: ServersTransport
        metadata: {name: internal-v3, namespace: st}
        spec:
          serverName: backend.internal
          rootCAs: [{secret: be-ca}]
        ---
        apiVersion: v1
        kind: Secret
        type: kubernetes.io/tls
        metadata: {name: client-cert, namespace: st}
        data: {tls.crt: %s, tls.key: %s}
        ---
        apiVersion: traefik.io/v1alpha1
        kind: ServersTransport
        metadata: {name: with-cert, namespace: st}
        spec:
          serverName: backend.internal
          rootCAsSecrets: [be-ca]
          certificatesSecrets: [client-cert]
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: path-ca, namespace: st}
        data: {ca.crt: %s}
        ---
        apiVersion: traefik.io/v1alpha1
        kind: ServersTransport
        metadata: {name: path-ca, namespace: st}
        spec:
          rootCAsSecrets: [path-ca]
        ---
        apiVersion: traefik.io/v1alpha1
        kind: ServersTransport
        metadata: {name: extra-keys, namespace: st}
        spec:
          serverName: backend.internal
          RootCAs: [/etc/hostname]
        ---
        apiVersion: traefik.io/v1alpha1
        kind: ServersTransport
        metadata: {name: no-secret, namespace: st}
        spec:
          rootCAsSecrets: [absent]
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: tlsbe
          namespace: st
          annotations:
            traefik.ingress.kubernetes.io/service.serversscheme: https
            traefik.ingress.kubernetes.io/service.serverstransport: st-internal@kubernetescrd
        spec:
          ports: [{name: web, port: 443, targetPort: %d}]
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: tlsbe, namespace: st}
        subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{name: web, port: %d}]}]
        ---
        apiVersion: traefik.io/v1alpha1
        kind: IngressRoute
        metadata: {name: route, namespace: st}
        spec:
          routes:
            - match: Host(`crd.test`)
              kind: Rule
              services: [{name: tlsbe, port: 443, scheme: https, serversTransport: internal-v3}]
            - match: Host(`crdmtls.test`)
              kind: Rule
              services: [{name: mtlsbe, port: 443, scheme: https, serversTransport: with-cert}]
        """) % (b64(read(p["ca.crt"])), b64(read(p["cl.crt"])), b64(read(p["cl.key"])),
                b64(p["ca.crt"]), be_port, be_port),
        "svc-mtls.yaml": service_yaml(NS, "mtlsbe", 443, [types.SimpleNamespace(port=ss_port)], "web"),
        "ing.yaml": ingress_yaml(NS, "ing", "ing.test", [("/", "Prefix", "tlsbe", 443)])}


def setup():
    S["dir"] = tempfile.mkdtemp(prefix="hearth-transport-")
    p = S["pki"] = pki(S["dir"])
    S["be"] = Backend("tls-be", extra=["--tls-cert", p["be.crt"], "--tls-key", p["be.key"]])
    S["pl"] = Backend("plain-be")  # speaks no TLS: an https URL to it is a configuration error
    ss = free_port()
    S["ss"] = Proc(["openssl", "s_server", "-accept", "127.0.0.1:%d" % ss, "-cert", p["be.crt"],
                    "-key", p["be.key"], "-CAfile", p["cca.crt"], "-Verify", "1",
                    "-verify_return_error", "-www", "-quiet"])
    wait_port(ss, proc=S["ss"])
    with open(os.path.join(S["dir"], "rot-ca.crt"), "w") as f:
        f.write(read(p["ca.crt"]))
    ss12 = free_port()  # TLS 1.2 only
    S["ss12"] = Proc(["openssl", "s_server", "-accept", "127.0.0.1:%d" % ss12, "-cert", p["be.crt"],
                      "-key", p["be.key"], "-tls1_2", "-www", "-quiet"])
    wait_port(ss12, proc=S["ss12"])
    # connections complete in its backlog and are never read: a ClientHello goes unanswered
    mute = S["mute"] = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    cfg = S["cfg"] = FILE.format(mute=mute.getsockname()[1], be=S["be"].port, pl=S["pl"].port, ss=ss, ss12=ss12, ca=p["ca.crt"], cl_crt=p["cl.crt"],
                                 cl_key=p["cl.key"], cl2_crt=p["cl2.crt"], cl2_key=p["cl2.key"], d=S["dir"],
                                 ca_pem=json.dumps(read(p["ca.crt"])),
                                 cl_pem=json.dumps(read(p["cl.crt"])), key_pem=json.dumps(read(p["cl.key"])))
    S["proxy"] = Proxy(crd_manifests(p, S["be"].port, ss), file_yaml=cfg)
    wait_for(lambda: get(S["proxy"].web, "/", host="insecure.test")[0] == 200, what="routed")


def teardown():
    for k in ("proxy", "be", "pl", "ss", "ss12"):
        if k in S:
            S.pop(k).stop()
    if "mute" in S:
        S.pop("mute").close()


def web(host, path="/x"):
    return get(S["proxy"].web, path, host=host)


@t.test
def verified_against_the_system_store_by_default():
    setup()
    # Traefik's isTLSConfigError: a refused certificate is the transport's configuration,
    # 500 with an error logged, and the server stays in rotation
    status, _, _ = web("plain.test")
    assert status == 500, status
    assert "upstream TLS configuration error" in S["proxy"].output()


@t.test
def insecure_skip_verify():
    status, _, body = web("insecure.test")
    assert status == 200 and echo(body)["name"] == "tls-be", (status, body[:200])


@t.test
def root_cas_and_server_name():
    status, _, body = web("roots.test")
    assert status == 200 and echo(body)["name"] == "tls-be", (status, body[:200])
    # the same CA without serverName: the certificate does not name 127.0.0.1; a
    # configuration error (500), which takes no server out
    assert web("noname.test")[0] == 500
    assert web("noname.test")[0] == 500
    status = lambda name: S["proxy"].api_json("/api/http/services/" + name)["serverStatus"]
    url = "https://127.0.0.1:%d" % S["be"].port
    assert status("noname@file") == {url: "UP"}, status("noname@file")
    assert web("roots.test")[0] == 200


@t.test
def an_https_url_to_a_plain_server_is_500():
    """The server answers the TLS client in plain HTTP: no TLS record (Go's
    tls.RecordHeaderError), which Traefik answers 500; a refused handshake stays 502."""
    assert web("notls.test")[0] == 500
    assert web("tls13.test", "/")[0] == 502


@t.test
def client_certificate_for_mutual_tls():
    status, _, body = web("mtls.test", "/")
    assert status == 200 and b"Ciphers supported in s_server" in body, (status, body[:200])
    assert web("nocert.test", "/")[0] == 502  # s_server requires one
    # of two certificates, the one whose issuer the server names (Go's choice), though
    # listed second
    status, _, body = web("mtls2.test", "/")
    assert status == 200 and b"Ciphers supported in s_server" in body, (status, body[:200])


@t.test
def tls_versions_and_fields_hearth_cannot_honour():
    """minVersion is applied (a TLS 1.2-only server is refused); cipherSuites, which hearth
    does not apply to upstreams, and a rootCAs that is not a list are refused with the
    reason rather than ignored; keys in another case work, their inline key redacted."""
    assert web("tls13.test", "/")[0] == 502
    assert web("tls13ok.test")[0] == 200
    status, _, body = web("inline.test", "/")
    assert status == 200 and b"Ciphers supported in s_server" in body, (status, body[:200])
    sts = {x["name"]: x for x in S["proxy"].api_json("/api/http/serversTransports")}
    assert "cipherSuites is not supported" in str(sts["suites@file"].get("error")), sts["suites@file"]
    assert "must be lists" in str(sts["scalar@file"].get("error")), sts["scalar@file"]
    # shown in Traefik's spelling, as its API shows its Go fields
    assert sts["inline@file"]["certificates"][0]["keyFile"] == "(redacted)", sts["inline@file"]
    assert "PRIVATE KEY" not in json.dumps(S["proxy"].api_json("/api/rawdata"))
    assert web("suites.test")[0] == 404 and web("scalar.test")[0] == 404


@t.test
def response_header_timeout_is_504():
    status, _, _ = web("slow.test", "/slow?ms=2000")
    assert status == 504, status
    assert web("slow.test", "/slow?ms=10")[0] == 200


@t.test
def the_tls_handshake_has_its_own_ten_seconds():
    """As Traefik's transport (TLSHandshakeTimeout 10 s): a server that accepts and never
    answers the ClientHello is given 10 s whatever the dial timeout (1 s here), then 504."""
    t0 = time.monotonic()
    status, _, _ = get(S["proxy"].web, "/x", host="mute.test", timeout=30)
    took = time.monotonic() - t0
    assert status == 504 and 9.5 <= took < 15, (status, took)


@t.test
def crd_servers_transport_from_ingressroute_and_annotation():
    for host in ("crd.test", "ing.test"):
        status, _, body = web(host)
        assert status == 200 and echo(body)["name"] == "tls-be", (host, status, body[:200])
    status, _, body = web("crdmtls.test", "/")  # certificatesSecrets: mutual TLS
    assert status == 200 and b"Ciphers supported in s_server" in body, (status, body[:200])


@t.test
def missing_or_broken_transports_are_reported():
    routers = {r["name"]: r for r in S["proxy"].api_json("/api/http/routers")}
    r = routers["missing@file"]
    assert r["status"] == "disabled" and "missing@file" in str(r.get("error")), r
    services = {s["name"]: s for s in S["proxy"].api_json("/api/http/services")}
    s = services["missing@file"]
    assert s["status"] == "disabled" and "servers transport not found nope@file" in str(s.get("error")), s
    assert services["roots@file"]["loadBalancer"]["serversTransport"] == "roots@file", services["roots@file"]
    r = routers["broken@file"]
    assert r["status"] == "disabled" and "servers transport" in str(r.get("error")), r
    errs = S["proxy"].api_json("/api/errors")
    assert any(e["name"] == "broken@file" and "no-such-ca.crt" in e["message"] for e in errs), errs
    assert any(e["name"] == "no-secret" and "absent not found" in e["message"] for e in errs), errs
    assert web("missing.test")[0] == 404 and web("broken.test")[0] == 404
    sts = {x["name"]: x for x in S["proxy"].api_json("/api/http/serversTransports")}
    assert sts["roots@file"]["status"] == "enabled" and sts["roots@file"]["serverName"] == "backend.internal"
    assert sts["broken@file"]["status"] == "disabled" and "no-such-ca.crt" in str(sts["broken@file"]["error"])
    crd = S["proxy"].api_json("/api/http/serversTransports/st-with-cert@kubernetescrd")
    assert crd["provider"] == "kubernetescrd" and crd["certificates"][0]["keyFile"] == "(redacted)", crd
    assert "BEGIN" in crd["certificates"][0]["certFile"] and "BEGIN" in crd["rootCAs"][0], crd
    one = S["proxy"].api_json("/api/http/serversTransports/mtls@file")
    assert one["certificates"][0]["keyFile"] == S["pki"]["cl.key"], one


@t.test
def a_file_named_by_the_configuration_counts_on_reload():
    """A CA file replaced in place, then the configuration written again unchanged: the
    reload reads it (Traefik puts such files' contents in the configuration it compares)."""
    assert web("rot.test")[0] == 200
    with open(os.path.join(S["dir"], "rot-ca.crt"), "w") as f:
        f.write(read(S["pki"]["cca.crt"]))  # another CA: the backend is no longer trusted
    S["proxy"].write_file(S["cfg"])
    wait_for(lambda: web("rot.test")[0] == 500, what="the replaced CA file applied")
    S["proxy"].write_file(S["cfg"])  # now truly unchanged
    wait_for(lambda: "--file unchanged" in S["proxy"].output(), what="the unchanged edit noticed")


@t.test
def a_reload_keeps_an_unchanged_transport_and_its_connections():
    """The next generation carries an unchanged transport over, so its pooled connection
    to the server serves the next request (one per reload otherwise, each a new TLS
    handshake)."""
    conn = http.client.HTTPConnection("127.0.0.1", S["proxy"].web, timeout=10)  # one worker

    def peer_port():
        conn.request("GET", "/x", headers={"Host": "roots.test"})
        r = conn.getresponse()
        return echo(r.read())["peer_port"]

    try:
        first = peer_port()
        S["proxy"].write_file(S["cfg"].replace("rot.test", "rot2.test"))
        wait_for(lambda: web("rot2.test")[0] in (200, 500), what="the reload")
        time.sleep(0.3)  # every worker took the new generation
        again = peer_port()
    finally:
        conn.close()
    assert first and again == first, (first, again)


@t.test
def a_transport_sets_its_connection_pool():
    """maxIdleConnsPerHost -1 keeps no connection to the server (Go's transport: every
    request on a new one), idleConnTimeout closes a pooled one after that long idle; both
    seen as the server's view of the proxy's port, over one client connection (one
    worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", S["proxy"].web, timeout=10)

    def peer_port(host):
        conn.request("GET", "/x", headers={"Host": host})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body)
        return echo(body)["peer_port"]

    try:
        ports = [peer_port("nokeep.test") for _ in range(3)]
        assert len(set(ports)) == 3, ports
        first = peer_port("shortidle.test")
        assert peer_port("shortidle.test") == first  # pooled while busy
        time.sleep(1.0)
        assert peer_port("shortidle.test") != first  # closed after 400 ms idle
    finally:
        conn.close()


@t.test
def crd_secrets_hold_pem_never_paths():
    """A ServersTransport's Secret holding a path is refused, not read from this host, and
    keys the CRD does not define (a RootCAs list of files) are dropped."""
    errs = S["proxy"].api_json("/api/errors")
    assert any(e["name"] == "st-path-ca@kubernetescrd" and "not PEM text" in e["message"] for e in errs), errs
    sts = {x["name"]: x for x in S["proxy"].api_json("/api/http/serversTransports")}
    assert "RootCAs" not in sts["st-extra-keys@kubernetescrd"], sts["st-extra-keys@kubernetescrd"]


@t.test
def stops_cleanly():  # the last test: t.run's cleanup tears down the rest
    assert_stopped_cleanly(S["proxy"])


if __name__ == "__main__":
    t.run(cleanup=teardown)
