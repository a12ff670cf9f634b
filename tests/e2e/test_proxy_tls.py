"""End-to-end tests of `hearth proxy` (part 3): TLS termination on websecure with
certificates from the Secrets an Ingress names, checked with `curl --resolve` and
`openssl s_client -servername`: SNI with exact and wildcard names, the generated default
certificate, Secret rotation without restart, the cipher Traefik would choose, and
TLSOptions: `default` (minVersion, maxVersion, curves, sniStrict) and a router's own
(client certificates verified against a Secret's CA)."""
import base64
import json
import re
import socket
import ssl
import subprocess
import tempfile
import urllib.parse

from harness import Tap, binary
from proxy_env import (Backend, Proxy, assert_stopped_cleanly, echo, get, ingress_yaml, make_cert, secret_yaml, service_yaml, wait_for)

t = Tap()
NS = "tls"
S = {}


def s_client(port, servername, extra=()):
    """The peer certificate's subject and serial as openssl prints them, or '' on failure."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", servername]
                       + list(extra), input=b"", capture_output=True, timeout=15)
    if r.returncode != 0:
        return ""
    pem = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", r.stdout, re.S)
    if not pem:
        return ""
    x = subprocess.run(["openssl", "x509", "-noout", "-subject", "-serial"], input=pem.group(0),
                       capture_output=True, timeout=15)
    return x.stdout.decode()


def curl(port, host, cafile, path="/"):
    return subprocess.run(["curl", "-sS", "--cacert", cafile, "--resolve", "%s:%d:127.0.0.1" % (host, port),
                           "-o", "-", "-w", "\n%{http_code}", "https://%s:%d%s" % (host, port, path)],
                          capture_output=True, text=True, timeout=15)


def setup():
    S["tmp"] = tempfile.mkdtemp(prefix="hearth-tls-e2e-")
    S["be"] = Backend("tls-be")
    S["a"] = make_cert(S["tmp"], "tls.test", ["tls.test"])
    S["w"] = make_cert(S["tmp"], "wild-tls.test", ["*.wild-tls.test"])
    for name, pem in (("a", S["a"]), ("w", S["w"])):
        with open("%s/%s.pem" % (S["tmp"], name), "wb") as f:
            f.write(pem[0])
    m = {
        "svc.yaml": service_yaml(NS, "be", 80, [S["be"]]),
        "secret-a.yaml": secret_yaml(NS, "tls-a", *S["a"]),
        "secret-w.yaml": secret_yaml(NS, "tls-w", *S["w"]),
        "ing-a.yaml": ingress_yaml(NS, "a", "tls.test", [("/", "Prefix", "be", 80)], tls_secret="tls-a",
                                   annotations={"cert-manager.io/cluster-issuer": "letsencrypt-prod"}),
        "ing-w.yaml": ingress_yaml(NS, "w", "*.wild-tls.test", [("/", "Prefix", "be", 80)], tls_secret="tls-w"),
    }
    S["proxy"] = Proxy(m, access_log=True)


def teardown():
    for k in ("proxy", "be"):
        if k in S:
            S.pop(k).stop()


@t.test
def starts():
    setup()


@t.test
def curl_verifies_sni_certificate():
    p = S["proxy"]
    r = wait_for(lambda: (lambda r: r if r.stdout.endswith("\n200") else None)(
        curl(p.websecure, "tls.test", S["tmp"] + "/a.pem")), what="tls.test over TLS")
    e = echo(r.stdout.rsplit("\n", 1)[0])
    assert e["headers"].get("X-Forwarded-Proto") == "https", e


@t.test
def wildcard_certificate_by_sni():
    p = S["proxy"]
    r = curl(p.websecure, "x.wild-tls.test", S["tmp"] + "/w.pem")
    assert r.stdout.endswith("\n200"), (r.stdout[-300:], r.stderr)
    assert "wild-tls.test" in s_client(p.websecure, "y.wild-tls.test")


@t.test
def openssl_s_client_sni_and_default_cert():
    p = S["proxy"]
    assert "CN = tls.test" in s_client(p.websecure, "tls.test")
    other = s_client(p.websecure, "unknown.test")
    assert "TRAEFIK DEFAULT CERT" in other, other


@t.test
def plain_http_still_served():
    from proxy_env import routed_to
    assert routed_to(S["proxy"].web, "tls.test", "/", "tls-be")


@t.test
def plain_http_on_websecure_is_404():
    """Traefik hands plain HTTP on a TLS entry point to its HTTP handler, where no router
    is (they are all TLS routers there): 404, not a silent close."""
    from proxy_env import get, header
    p = S["proxy"]
    st, hs, body = get(p.websecure, "/", host="tls.test")
    assert (st, body) == (404, b"404 page not found\n") and header(hs, "X-Content-Type-Options") == "nosniff"
    line = wait_for(lambda: [json.loads(l) for l in open(p.access_log) if '"RequestPath":"/"' in l
                             and '"DownstreamStatus":404' in l], timeout=10, what="the 404 logged")[-1]
    assert line["entryPointName"] == "websecure" and line["RequestScheme"] == "http", line
    assert curl(p.websecure, "tls.test", S["tmp"] + "/a.pem").stdout.endswith("\n200"), "TLS still served"


@t.test
def secret_rotation_without_restart():
    p = S["proxy"]
    pid = p.proc.pid
    before = s_client(p.websecure, "tls.test")
    new = make_cert(S["tmp"], "tls-rotated", ["tls.test"])
    with open(S["tmp"] + "/new.pem", "wb") as f:
        f.write(new[0])
    p.write("secret-a.yaml", secret_yaml(NS, "tls-a", *new))
    after = wait_for(lambda: (lambda s: s if s and s != before else None)(s_client(p.websecure, "tls.test")),
                     timeout=15, what="the rotated certificate")
    assert "tls-rotated" in after, after
    r = curl(p.websecure, "tls.test", S["tmp"] + "/new.pem")
    assert r.stdout.endswith("\n200"), r
    assert p.proc.pid == pid and p.proc.poll() is None
    # the rotated-away certificate leaves traefik_tls_certs_not_after (no stale expiry)
    from proxy_env import get
    series = re.findall(r'traefik_tls_certs_not_after\{cn="(?:tls\.test|tls-rotated)"[^}]*\}',
                        get(p.api, "/metrics")[2].decode())
    assert len(series) == 1 and 'cn="tls-rotated"' in series[0], series


def negotiated(port, extra=()):
    """The cipher suite openssl s_client agreed on, '' on failure."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "tls.test"]
                       + list(extra), input=b"", capture_output=True, timeout=15)
    m = re.search(rb"Cipher is (\S+)", r.stdout)
    return m.group(1).decode() if m and m.group(1) != b"(NONE)" else ""


@t.test
def cipher_chosen_as_traefik_does():
    """Go's server order: AES-128-GCM first even when the client lists AES-256-GCM first
    (OpenSSL clients do), ChaCha20 when the client puts it first."""
    p = S["proxy"]
    assert negotiated(p.websecure) == "TLS_AES_128_GCM_SHA256"
    chacha_first = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"
    assert negotiated(p.websecure, ["-ciphersuites", chacha_first]) == "TLS_CHACHA20_POLY1305_SHA256"
    assert negotiated(p.websecure, ["-ciphersuites", "TLS_AES_256_GCM_SHA384"]) == "TLS_AES_256_GCM_SHA384"
    assert negotiated(p.websecure, ["-tls1_2"]) == "ECDHE-ECDSA-AES128-GCM-SHA256"


@t.test
def tls_option_default_min_version():
    p = S["proxy"]
    assert s_client(p.websecure, "tls.test", ["-tls1_2"]), "TLS 1.2 accepted before the TLSOption"
    p.write("tlsoption.yaml", "apiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata:\n"
            "  name: default\n  namespace: default\nspec:\n  minVersion: VersionTLS13\n")
    wait_for(lambda: not s_client(p.websecure, "tls.test", ["-tls1_2"]), timeout=15,
             what="TLS 1.2 refused under minVersion VersionTLS13")
    assert "CN = tls" in s_client(p.websecure, "tls.test", ["-tls1_3"])


def client_pki(d):
    """A client CA and a certificate it signed for "alice": paths (ca.crt, cl.crt, cl.key)."""
    def run(*args):
        subprocess.run(args, check=True, capture_output=True, timeout=30)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", d + "/ca.key", "-out", d + "/ca.crt", "-days", "2",
        "-subj", "/CN=client CA")
    run("openssl", "req", *ec, "-keyout", d + "/cl.key", "-out", d + "/cl.csr", "-subj",
        "/DC=org/DC=cheese/C=FR/ST=Occitanie/L=Toulouse/O=Cheese/OU=Dev/CN=alice")
    with open(d + "/san.ext", "w") as f:
        f.write("subjectAltName=DNS:alice.test,email:alice@example.org,IP:10.0.1.2\n")
    run("openssl", "x509", "-req", "-in", d + "/cl.csr", "-CA", d + "/ca.crt", "-CAkey", d + "/ca.key",
        "-CAcreateserial", "-out", d + "/cl.crt", "-days", "2", "-extfile", d + "/san.ext")
    return d + "/ca.crt", d + "/cl.crt", d + "/cl.key"


def client_ca_option(p, option, secret, ca_path):
    """A Secret holding ca_path as ca.crt and a TLSOption requiring client certificates
    it verifies."""
    with open(ca_path, "rb") as f:
        ca_b64 = base64.b64encode(f.read()).decode()
    p.write(secret + ".yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n"
            "  namespace: %s\ndata:\n  ca.crt: %s\n" % (secret, NS, ca_b64))
    p.write("tlsoption-%s.yaml" % option, "apiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata:\n"
            "  name: %s\n  namespace: %s\nspec:\n  clientAuth:\n    secretNames: [%s]\n"
            "    clientAuthType: RequireAndVerifyClientCert\n" % (option, NS, secret))


def curl_status(port, host, extra=()):
    r = subprocess.run(["curl", "-sk", "--resolve", "%s:%d:127.0.0.1" % (host, port), "-o", "/dev/null",
                        "-w", "%{http_code}", "https://%s:%d/" % (host, port)] + list(extra),
                       capture_output=True, text=True, timeout=15)
    return r.stdout


@t.test
def tls_option_client_certificates_per_router():
    """A router's own TLSOption (router.tls.options) with clientAuth from a Secret's
    ca.crt: its host asks for and verifies client certificates; other hosts do not."""
    p = S["proxy"]
    ca, crt, key = client_pki(S["tmp"])
    client_ca_option(p, "mtls", "client-ca", ca)
    p.write("mw-pass.yaml", "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n"
            "  name: pass\n  namespace: %s\nspec:\n  passTLSClientCert:\n    pem: true\n    info:\n"
            "      notBefore: true\n      sans: true\n      subject:\n        country: true\n"
            "        organization: true\n        organizationalUnit: true\n        commonName: true\n"
            "        domainComponent: true\n      issuer:\n        commonName: true\n" % NS)
    p.write("ing-m.yaml", ingress_yaml(NS, "m", "mtls.test", [("/", "Prefix", "be", 80)],
                                       annotations={"traefik.ingress.kubernetes.io/router.tls.options":
                                                    "%s-mtls@kubernetescrd" % NS,
                                                    "traefik.ingress.kubernetes.io/router.middlewares":
                                                    "%s-pass@kubernetescrd" % NS}))
    wait_for(lambda: curl_status(p.websecure, "mtls.test", ["--cert", crt, "--key", key]) == "200",
             timeout=15, what="mtls.test with a client certificate")
    assert curl_status(p.websecure, "mtls.test") == "000", "no client certificate: no handshake"
    # passTLSClientCert: the certificate and its fields reach the service, as Traefik sends
    # them; a client's own values of those fields never do
    r = subprocess.run(["curl", "-sS", "-k", "--cert", crt, "--key", key, "--resolve",
                        "mtls.test:%d:127.0.0.1" % p.websecure, "-H", "X-Forwarded-Tls-Client-Cert-Info: forged",
                        "https://mtls.test:%d/" % p.websecure], capture_output=True, text=True, timeout=15)
    got = echo(r.stdout)["headers"]
    with open(crt) as f:
        body = "".join(x for x in f.read().splitlines() if not x.startswith("-----"))
    assert got["X-Forwarded-Tls-Client-Cert"] == body, got
    nb = int(ssl.cert_time_to_seconds(ssl._ssl._test_decode_cert(crt)["notBefore"]))
    assert urllib.parse.unquote_plus(got["X-Forwarded-Tls-Client-Cert-Info"]) == (
        'Subject="DC=org,DC=cheese,C=FR,O=Cheese,OU=Dev,CN=alice";Issuer="CN=client CA";NB="%d";'
        'SAN="alice.test,alice@example.org,10.0.1.2"' % nb), got
    # the access log's TLSClientSubject as Go's pkix.Name.String() writes it: named
    # attributes last to first, the others (DC) as OID=#DER of the value re-marshalled
    dc = "0.9.2342.19200300.100.1.25"
    line = wait_for(lambda: [json.loads(x) for x in open(p.access_log).read().splitlines()
                             if '"mtls.test"' in x and "TLSClientSubject" in x], what="the mTLS log line")[0]
    assert line["TLSClientSubject"] == "CN=alice,OU=Dev,O=Cheese,L=Toulouse,ST=Occitanie,C=FR,%s=#1306636865657365,%s=#13036f7267" % (
        dc, dc), line
    other = make_cert(S["tmp"], "stranger", ["stranger"])
    with open(S["tmp"] + "/stranger.pem", "wb") as f:
        f.write(other[0] + other[1])
    assert curl_status(p.websecure, "mtls.test", ["--cert", S["tmp"] + "/stranger.pem"]) == "000"
    assert curl_status(p.websecure, "tls.test") == "200", "other hosts ask for nothing"
    # no way around it: another host's handshake (Traefik's domain-fronting check: 421),
    # or the name with a trailing dot
    assert curl_status(p.websecure, "tls.test", ["-H", "Host: mtls.test"]) == "421"
    r = subprocess.run(["curl", "-sik", "--resolve", "tls.test:%d:127.0.0.1" % p.websecure, "-H", "Host: mtls.test",
                        "https://tls.test:%d/" % p.websecure], capture_output=True, text=True, timeout=15)
    assert "X-Content-Type-Options: nosniff" in r.stdout and r.stdout.endswith("\n\nMisdirected Request\n"), r.stdout
    assert curl_status(p.websecure, "tls.test", ["-H", "Host: tls.test"]) == "200"
    assert curl_status(p.websecure, "mtls.test.") == "000"
    by = {x["name"]: x for x in p.api_json("/api/http/routers")}
    r = by["tls-m-mtls-test@kubernetes"]
    assert r["status"] == "enabled" and r["tls"]["options"] == "tls-mtls@kubernetescrd", r
    # a TLS router naming no options shows Traefik's default, as Traefik's API fills it in
    p.write("ing-flag.yaml", ingress_yaml(NS, "flag", "flag.test", [("/", "Prefix", "be", 80)],
                                          annotations={"traefik.ingress.kubernetes.io/router.tls": "true"}))
    flag = wait_for(lambda: p.api_json("/api/http/routers?search=flag.test") or None, what="the flag router")
    assert flag[0]["tls"] == {"options": "default"}, flag
    p.remove("ing-flag.yaml")


@t.test
def tls_option_default_sni_strict_and_max_version():
    p = S["proxy"]
    assert "TRAEFIK DEFAULT CERT" in s_client(p.websecure, "unknown.test")
    p.write("tlsoption.yaml", "apiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata:\n"
            "  name: default\n  namespace: default\nspec:\n  sniStrict: true\n"
            "  maxVersion: VersionTLS12\n  curvePreferences: [CurveP384]\n")
    wait_for(lambda: not s_client(p.websecure, "unknown.test"), timeout=15,
             what="an unknown name refused under sniStrict")
    # with Go's alert, so the client can tell why
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % p.websecure, "-servername",
                        "unknown.test"], input=b"", capture_output=True, timeout=15)
    assert b"unrecognized name" in r.stderr and b"alert number 112" in r.stderr, r.stderr[-500:]
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % p.websecure, "-servername",
                        "tls.test"], input=b"", capture_output=True, timeout=15)
    assert re.search(rb"Protocol *: TLSv1.2", r.stdout), r.stdout[-800:]
    assert re.search(rb"Server Temp Key: ECDH, (secp384r1|P-384)", r.stdout), r.stdout[-800:]
    p.write("tlsoption.yaml", "apiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata:\n"
            "  name: default\n  namespace: default\nspec:\n  curvePreferences: [CurveP999]\n")
    errs = wait_for(lambda: [e for e in p.api_json("/api/errors") if e.get("kind") == "TLSOption"],
                    timeout=15, what="the refused TLSOption reported")
    assert "CurveP999" in errs[0]["message"], errs
    assert "TRAEFIK DEFAULT CERT" in s_client(p.websecure, "unknown.test"), "Go's defaults again"


RESUMING = ssl.create_default_context()  # one client context: its sessions resume
RESUMING.check_hostname, RESUMING.verify_mode = False, ssl.CERT_NONE


def tls_session(port, session=None):
    """(the TLS 1.3 session after one request to tls.test, whether it was resumed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            RESUMING.wrap_socket(raw, server_hostname="tls.test", session=session) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: tls.test\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
        return s.session, s.session_reused


def session_ticket(port):
    """(has_ticket, lifetime hint) of a TLS 1.3 session after one request."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="tls.test") as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: tls.test\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
        return s.session.has_ticket, s.session.ticket_lifetime_hint


@t.test
def tls_options_as_go_reads_them():
    """cipherSuites choose TLS 1.2's suites only; versions by Go's names (others ignored),
    TLS 1.0 when asked; disableSessionTickets; Go's alerts; the certificate for the
    address a handshake without SNI came to, and for a CN beside other SANs."""
    p = S["proxy"]

    def option(spec):
        p.write("tlsoption.yaml", "apiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata:\n"
                "  name: default\n  namespace: default\nspec:\n" + spec)

    assert session_ticket(p.websecure) == (True, 7 * 24 * 3600), "Go's one ticket, valid 7 days"
    option("  cipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_AES_256_GCM_SHA384]\n")
    wait_for(lambda: negotiated(p.websecure, ["-tls1_2"]) == "ECDHE-ECDSA-AES256-GCM-SHA384", timeout=15,
             what="TLS 1.2 limited to the suite named")
    assert negotiated(p.websecure, ["-ciphersuites", "TLS_AES_128_GCM_SHA256"]) == "TLS_AES_128_GCM_SHA256"
    assert negotiated(p.websecure) == "TLS_AES_128_GCM_SHA256", "TLS 1.3's suites are Go's"
    option("  cipherSuites: [TLS_AES_256_GCM_SHA384]\n")
    wait_for(lambda: negotiated(p.websecure, ["-tls1_2"]) == "", timeout=15,
             what="TLS 1.2 refused: no TLS 1.2 suite named")
    assert negotiated(p.websecure) == "TLS_AES_128_GCM_SHA256"
    option("  minVersion: TLSv1.3\n  disableSessionTickets: true\n")
    wait_for(lambda: session_ticket(p.websecure)[0] is False, timeout=15, what="no session ticket")
    assert negotiated(p.websecure, ["-tls1_2"]) == "ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.3 is not Go's name"
    assert "TLS version ignored" in p.output()
    legacy = ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"]
    assert negotiated(p.websecure, legacy) == ""
    option("  minVersion: VersionTLS10\n")
    wait_for(lambda: negotiated(p.websecure, legacy) == "ECDHE-ECDSA-AES128-SHA", timeout=15,
             what="TLS 1.0 under minVersion VersionTLS10")
    p.remove("tlsoption.yaml")
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % p.websecure, "-servername", "tls.test",
                        "-alpn", "h2"], input=b"", capture_output=True, timeout=15)
    assert b"no application protocol" in r.stderr, r.stderr[-500:]
    ip = make_cert(S["tmp"], "ip-cert", ["IP:127.0.0.1"])
    cn = make_cert(S["tmp"], "cn-only.test", ["other-cn.test"])
    with open(S["tmp"] + "/ip.pem", "wb") as f:
        f.write(ip[0])
    p.write("secret-ip.yaml", secret_yaml(NS, "tls-ip", *ip))
    p.write("secret-cn.yaml", secret_yaml(NS, "tls-cn", *cn))
    p.write("ing-ip.yaml", ingress_yaml(NS, "ip", "ip.test", [("/", "Prefix", "be", 80)], tls_secret="tls-ip"))
    p.write("ing-cn.yaml", ingress_yaml(NS, "cn", "other-cn.test", [("/", "Prefix", "be", 80)], tls_secret="tls-cn"))
    r = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(subprocess.run(
        ["curl", "-sS", "--cacert", S["tmp"] + "/ip.pem", "-o", "/dev/null", "-w", "%{http_code}",
         "https://127.0.0.1:%d/" % p.websecure], capture_output=True, text=True, timeout=15)),
        timeout=15, what="the IP certificate verified without SNI")
    assert r.stdout == "404", r.stdout
    assert "CN = cn-only.test" in s_client(p.websecure, "cn-only.test")


def intermediate_pki(d):
    """A root, an intermediate it signed and a client certificate the intermediate signed:
    paths (intermediate.crt, leaf.crt, leaf.key)."""
    def run(*args):
        subprocess.run(args, check=True, capture_output=True, timeout=30)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", d + "/root.key", "-out", d + "/root.crt", "-days", "2",
        "-subj", "/CN=client root")
    with open(d + "/ica.ext", "w") as f:
        f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n")
    run("openssl", "req", *ec, "-keyout", d + "/ica.key", "-out", d + "/ica.csr", "-subj", "/CN=client intermediate")
    run("openssl", "x509", "-req", "-in", d + "/ica.csr", "-CA", d + "/root.crt", "-CAkey", d + "/root.key",
        "-CAcreateserial", "-out", d + "/ica.crt", "-days", "2", "-extfile", d + "/ica.ext")
    run("openssl", "req", *ec, "-keyout", d + "/leaf.key", "-out", d + "/leaf.csr", "-subj", "/CN=bob")
    run("openssl", "x509", "-req", "-in", d + "/leaf.csr", "-CA", d + "/ica.crt", "-CAkey", d + "/ica.key",
        "-CAcreateserial", "-out", d + "/leaf.crt", "-days", "2")
    return d + "/ica.crt", d + "/leaf.crt", d + "/leaf.key"


@t.test
def tls_options_and_default_certificate_as_traefik_picks_them():
    """A host served by a router with its own TLSOption and by one on `default` (named, or
    the websecure entry point's) gets the default options, with Traefik's error; an
    intermediate among the client CAs is a trust anchor, as in Go's pool; the TLSStore's
    defaultCertificate is never chosen by its names; cipherSuites keep Go's order."""
    p = S["proxy"]
    mtls = {"traefik.ingress.kubernetes.io/router.tls.options": "%s-mtls@kubernetescrd" % NS}
    p.write("ing-m.yaml", ingress_yaml(NS, "m", "mtls.test", [("/", "Prefix", "be", 80)], annotations=mtls))
    wait_for(lambda: curl_status(p.websecure, "mtls.test") == "000", timeout=15, what="mtls.test asking for a certificate")
    p.write("ing-m2.yaml", ingress_yaml(NS, "m2", "mtls.test", [("/public", "Prefix", "be", 80)]))
    wait_for(lambda: curl_status(p.websecure, "mtls.test") == "200", timeout=15,
             what="mtls.test under the default options once another router shares it")
    errs = [e for e in p.api_json("/api/errors") if "different TLS options" in e.get("message", "")]
    assert errs and "mtls.test" in errs[0]["message"], p.api_json("/api/errors")
    p.remove("ing-m2.yaml")
    wait_for(lambda: curl_status(p.websecure, "mtls.test") == "000", timeout=15, what="mtls.test alone again")

    ica, leaf, leaf_key = intermediate_pki(S["tmp"])
    client_ca_option(p, "ica", "client-ica", ica)
    p.write("ing-ica.yaml", ingress_yaml(NS, "ica", "ica.test", [("/", "Prefix", "be", 80)], annotations={
        "traefik.ingress.kubernetes.io/router.tls.options": "%s-ica@kubernetescrd" % NS}))
    wait_for(lambda: curl_status(p.websecure, "ica.test", ["--cert", leaf, "--key", leaf_key]) == "200",
             timeout=15, what="a client certificate the listed intermediate issued")
    assert curl_status(p.websecure, "ica.test") == "000"

    store = make_cert(S["tmp"], "store-default", ["store.test", "x.wild-tls.test"])
    p.write("secret-store.yaml", secret_yaml(NS, "store-default", *store))
    p.write("tlsstore.yaml", "apiVersion: traefik.io/v1alpha1\nkind: TLSStore\nmetadata:\n  name: default\n"
            "  namespace: %s\nspec:\n  defaultCertificate:\n    secretName: store-default\n" % NS)
    wait_for(lambda: "CN = store-default" in s_client(p.websecure, "unknown.test"), timeout=15,
             what="the store's default certificate for an unknown name")
    assert "CN = wild-tls.test" in s_client(p.websecure, "x.wild-tls.test"), "the wildcard, not the default"
    assert "CN = store-default" in s_client(p.websecure, "store.test")
    p.write("tlsoption.yaml", "apiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata:\n"
            "  name: default\n  namespace: default\nspec:\n  sniStrict: true\n  cipherSuites:\n"
            "  - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n  - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305\n"
            "  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n")
    wait_for(lambda: not s_client(p.websecure, "store.test"), timeout=15,
             what="sniStrict refusing a name only the default certificate has")
    assert "CN = tls-rotated" in s_client(p.websecure, "tls.test"), "a name a certificate has"
    assert negotiated(p.websecure, ["-tls1_2"]) == "ECDHE-ECDSA-AES128-GCM-SHA256", "Go's order, not the list's"
    chacha = ["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"]
    assert negotiated(p.websecure, chacha) == "ECDHE-ECDSA-CHACHA20-POLY1305", "a client putting ChaCha first"
    p.write("tlsoption.yaml", "apiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata:\n"
            "  name: default\n  namespace: default\nspec:\n  cipherSuites: [TLS_DHE_RSA_WITH_AES_128_GCM_SHA256]\n")
    errs = wait_for(lambda: [e for e in p.api_json("/api/errors") if e.get("kind") == "TLSOption"],
                    timeout=15, what="a suite Traefik does not know, refused")
    assert "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256" in errs[0]["message"], errs
    # Go's legacy names: CBC-SHA256 offered when named (OpenSSL has it), RC4 left out
    p.write("tlsoption.yaml", "apiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata:\n"
            "  name: default\n  namespace: default\nspec:\n  cipherSuites: [TLS_RSA_WITH_RC4_128_SHA, "
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n")
    cbc = ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"]
    wait_for(lambda: negotiated(p.websecure, cbc) == "ECDHE-ECDSA-AES128-SHA256", timeout=15,
             what="a CBC-SHA256 suite Traefik knows, offered when named")
    assert not [e for e in p.api_json("/api/errors") if e.get("kind") == "TLSOption"]
    for f in ("tlsoption.yaml", "tlsstore.yaml", "secret-store.yaml", "ing-ica.yaml", "tlsoption-ica.yaml",
              "client-ica.yaml"):
        p.remove(f)
    wait_for(lambda: "TRAEFIK DEFAULT CERT" in s_client(p.websecure, "unknown.test"), timeout=15,
             what="the generated default certificate again")


@t.test
def web_answers_a_handshake_as_traefik_entry_points_do():
    """Traefik's entry points peek at the first bytes: a TLS router listing web is served
    over TLS there, plain routers only to plain HTTP, and a handshake for any other name
    gets a certificate and a 404."""
    from proxy_env import get
    p = S["proxy"]
    p.write("ing-webtls.yaml", ingress_yaml(NS, "webtls", "webtls.test", [("/", "Prefix", "be", 80)], annotations={
        "traefik.ingress.kubernetes.io/router.entrypoints": "web",
        "traefik.ingress.kubernetes.io/router.tls": "true"}))
    wait_for(lambda: curl_status(p.web, "webtls.test") == "200", timeout=15, what="TLS on the web port")
    r = subprocess.run(["curl", "-sSk", "--resolve", "webtls.test:%d:127.0.0.1" % p.web,
                        "https://webtls.test:%d/seen" % p.web], capture_output=True, text=True, timeout=15)
    assert echo(r.stdout)["headers"].get("X-Forwarded-Proto") == "https", r.stdout
    assert get(p.web, "/", host="webtls.test")[0] == 404, "a TLS router: not for plain HTTP"
    assert curl_status(p.websecure, "webtls.test") == "404", "not on websecure"
    assert curl_status(p.web, "tls.test") == "404", "a plain router: not for a handshake"
    assert get(p.web, "/", host="tls.test")[0] == 200
    p.remove("ing-webtls.yaml")
    # the options of the TLS routers on web, built for web as Traefik builds them per
    # entry point: a web-only router's clientAuth holds there, and websecure keeps its
    # OpenSSL context (its sessions resume)
    session = tls_session(p.websecure)[0]
    assert tls_session(p.websecure, session)[1], "a session resumes"
    p.write("ing-webm.yaml", ingress_yaml(NS, "webm", "webm.test", [("/", "Prefix", "be", 80)], annotations={
        "traefik.ingress.kubernetes.io/router.entrypoints": "web",
        "traefik.ingress.kubernetes.io/router.tls.options": "%s-mtls@kubernetescrd" % NS}))
    crt, key = S["tmp"] + "/cl.crt", S["tmp"] + "/cl.key"
    wait_for(lambda: curl_status(p.web, "webm.test", ["--cert", crt, "--key", key]) == "200", timeout=15,
             what="a web-only mTLS router with a client certificate")
    assert curl_status(p.web, "webm.test") == "000", "no client certificate: no handshake on web"
    assert curl_status(p.websecure, "webm.test") == "404", "websecure's options are its own"
    assert tls_session(p.websecure, session)[1], "web's change left websecure's tickets alone"
    p.remove("ing-webm.yaml")


@t.test
def web_redirected_to_websecure_as_traefik_redirections():
    """--web-redirect-to: the seed's --entrypoints.web.http.redirections.entryPoint.to."""
    from proxy_env import get, header
    m = {"svc.yaml": service_yaml(NS, "be", 80, [S["be"]]),
         "secret-a.yaml": secret_yaml(NS, "tls-a", *S["a"]),
         "ing-a.yaml": ingress_yaml(NS, "a", "tls.test", [("/", "Prefix", "be", 80)], tls_secret="tls-a")}
    with Proxy(m, extra=["--web-redirect-to", "websecure"]) as p:
        st, hs, _ = get(p.web, "/x/y?q=1&r=2", host="tls.test:%d" % p.web)
        assert st == 301, (st, hs)
        assert header(hs, "Location") == "https://tls.test:%d/x/y?q=1&r=2" % p.websecure, hs
        from proxy_env import request
        st, hs, _ = request(p.web, "POST", "/form", host="tls.test", body=b"a=1")
        assert st == 308 and header(hs, "Location") == "https://tls.test:%d/form" % p.websecure, (st, hs)
        assert get(p.web, "/", host="nowhere.test")[0] == 301, "every host on web is redirected"
        # a browser following it lands on the router over TLS
        r = subprocess.run(["curl", "-sSL", "--cacert", S["tmp"] + "/a.pem", "--resolve",
                            "tls.test:%d:127.0.0.1" % p.web, "--resolve", "tls.test:%d:127.0.0.1" % p.websecure,
                            "-o", "-", "-w", "\n%{http_code} %{num_redirects}", "http://tls.test:%d/seen" % p.web],
                           capture_output=True, text=True, timeout=15)
        assert r.stdout.endswith("\n200 1"), (r.stdout[-300:], r.stderr)
        assert echo(r.stdout.rsplit("\n", 1)[0])["headers"].get("X-Forwarded-Proto") == "https"
        routers = {r["name"]: r for r in p.api_json("/api/http/routers")}
        rt = routers["web-to-websecure@internal"]
        assert rt["entryPoints"] == ["web"] and rt["priority"] == 2**63 - 2, rt
        assert rt["middlewares"] == ["redirect-web-to-websecure@internal"] and rt["status"] == "enabled", rt
        assert rt["service"] == "noop@internal", rt  # as Traefik's internal provider writes it
        ep = p.api_json("/api/entrypoints/web")
        assert ep["http"]["redirections"]["entryPoint"] == {"to": "websecure", "scheme": "https",
                                                            "permanent": True, "priority": 2**63 - 2}, ep
        # internal services give no metrics (Traefik's metrics.addInternals is false): no
        # series for the redirects on web, nor server_up for the API's own services
        metrics = get(p.api, "/metrics")[2].decode()
        internal = [x for x in metrics.splitlines() if not x.startswith("#") and
                    ('entrypoint="web"' in x and "requests_total" in x or "@internal" in x)]
        assert not internal, internal
        assert re.search(r'^traefik_entrypoint_requests_total\{code="200",[^}]*entrypoint="websecure"', metrics, re.M)
    # a port: the Service in front maps 443 to websecure; https's default port is left out
    with Proxy(m, extra=["--web-redirect-to", ":443"]) as p:
        st, hs, _ = get(p.web, "/x?q", host="tls.test:%d" % p.web)
        assert st == 301 and header(hs, "Location") == "https://tls.test/x?q", (st, hs)
        assert "web-to-443@internal" in {r["name"] for r in p.api_json("/api/http/routers")}
    r = subprocess.run([binary("hearth"), "proxy", "--web-redirect-to", "websecur", "--web", "127.0.0.1:0",
                        "--api", ""], capture_output=True, text=True, timeout=15)
    assert r.returncode != 0 and "non-existing entry point" in r.stderr and "websecur" in r.stderr, r


@t.test
def certificate_names_in_metrics_as_go_decodes_them():
    """traefik_tls_certs_not_after's cn is Go's Subject.CommonName, decoded to UTF-8 (a
    BMPString CN had gone out as raw UCS-2 bytes, and Prometheus drops a whole scrape over
    one invalid label value); sans lists every DNS name, sorted (it had been cut at 1 KiB)."""
    p = S["proxy"]
    cnf = "%s/bmp.cnf" % S["tmp"]
    with open(cnf, "w", encoding="utf-8") as f:
        f.write("[req]\ndistinguished_name=dn\nstring_mask=default\nutf8=yes\nprompt=no\n"
                "[dn]\nCN=\u20acuro.test\n")
    names = ["n%02d.names-tls.test" % i for i in range(80)]
    key, crt = "%s/bmp.key" % S["tmp"], "%s/bmp.crt" % S["tmp"]
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-config", cnf,
                    "-addext", "subjectAltName=" + ",".join("DNS:" + n for n in reversed(names))],
                   check=True, capture_output=True, timeout=30)
    asn1 = subprocess.run(["openssl", "asn1parse", "-in", crt], capture_output=True, text=True, timeout=15).stdout
    assert "BMPSTRING" in asn1, asn1
    with open(crt, "rb") as c, open(key, "rb") as k:
        pem = (c.read(), k.read())
    p.write("secret-bmp.yaml", secret_yaml(NS, "tls-bmp", *pem))
    p.write("ing-bmp.yaml", ingress_yaml(NS, "bmp", names[0], [("/", "Prefix", "be", 80)], tls_secret="tls-bmp"))

    def cert_line():
        body = get(p.api, "/metrics")[2].decode("utf-8")  # strict: invalid UTF-8 raises
        return [x for x in body.splitlines() if x.startswith("traefik_tls_certs_not_after{") and "names-tls" in x]
    line = wait_for(cert_line, what="the certificate's series")[0]
    assert 'cn="\u20acuro.test"' in line and 'sans="%s"' % ",".join(names) in line, line
    # past the registry's 32 KiB a label value holds, the series stays, with whole names
    long_names = sorted("%03d.%s.%s.%s.long-tls.test" % (i, "a" * 60, "b" * 60, "c" * 60) for i in range(200))
    pem = make_cert(S["tmp"], "long-tls.test", long_names)
    p.write("secret-long.yaml", secret_yaml(NS, "tls-long", *pem))
    p.write("ing-long.yaml", ingress_yaml(NS, "long", long_names[0], [("/", "Prefix", "be", 80)], tls_secret="tls-long"))

    def long_line():
        body = get(p.api, "/metrics")[2].decode("utf-8")
        return [x for x in body.splitlines() if x.startswith('traefik_tls_certs_not_after{cn="long-tls.test"')]
    sans = re.search(r'sans="([^"]*)"', wait_for(long_line, what="the long certificate's series")[0]).group(1)
    got = sans.split(",")
    assert len(sans) <= 32768 and 150 < len(got) < 200 and got == long_names[:len(got)], (len(sans), len(got))


@t.test
def stops_cleanly():  # the last test: t.run's cleanup tears down the rest
    assert_stopped_cleanly(S["proxy"])


if __name__ == "__main__":
    t.run(cleanup=teardown)
