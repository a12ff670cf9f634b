"""Acceptance tests of `hearth certs` (issue 6) for what tests/e2e/test_certs.py and
test_certs_acme.py leave open: every Certificate field seen in the issued X.509
(ipAddresses, commonName, duration, privateKey algorithm/size/encoding/rotationPolicy,
isCA, usages), namespaced Issuers and the cert-manager.io/issuer ingress-shim
annotation, renewBefore, reissue on a spec change, exponential backoff per certificate,
status in `hearth check`; and against the real pebble (short certificateValidityPeriod)
through a recording TLS relay: renewal at 2/3 of the issued lifetime, account reuse
across a restart, RS256 account keys, badNonce retry, Retry-After polling, ACME problem
documents surfaced, skipTLSVerify, a stuck self-check that blocks no other certificate,
and the solver Ingress + Endpoints written, served and removed.
Standard library only; every process is stopped by its own PID."""
import base64
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import textwrap
import threading
import time

from harness import Tap, binary, free_port
from proxy_env import Backend, Proxy, ingress_yaml, service_yaml, wait_for
from certs_env import (LOCAL_ISSUERS, Certs, Pebble, acme_issuer, certificate, http_get, make_ca, openssl, secret_entries,
                       secret_path, secret_text, teardown_state, tls_secret, verify, write, x509)

t = Tap()
S = {}
ISO = "%Y-%m-%dT%H:%M:%SZ"


# ---- small helpers of this file (the shared ones are in certs_env.py) ----

def epoch(s):
    import calendar
    return calendar.timegm(time.strptime(s, ISO))


def serial(mdir, ns, name):
    crt = secret_entries(mdir, ns, name).get("tls.crt", b"")
    return x509(crt, "-serial").strip() if crt else ""


def pubkey(mdir, ns, name):
    return openssl(["pkey", "-pubout"], secret_entries(mdir, ns, name)["tls.key"])


def leaf_dates(pem):
    out = x509(pem, "-startdate", "-enddate")
    nb = re.search(r"notBefore=(.*)", out).group(1).strip()
    na = re.search(r"notAfter=(.*)", out).group(1).strip()
    import calendar
    conv = lambda s: calendar.timegm(time.strptime(s, "%b %d %H:%M:%S %Y GMT"))
    return conv(nb), conv(na)


# ---- local issuers: one `hearth certs` with short durations and fast backoff ----

def local_setup():
    if "local" in S:
        return
    S["tmp"] = S.get("tmp") or tempfile.mkdtemp(prefix="hearth-certs-accept-")
    d = S["ldir"] = os.path.join(S["tmp"], "local")
    os.mkdir(d)
    S["cluster_ca"] = make_ca(S["tmp"], "accept-cluster-ca")
    S["team_ca"] = make_ca(S["tmp"], "accept-team-ca")
    write(d, "issuers.yaml", LOCAL_ISSUERS + "---\n" + textwrap.dedent("""\
        apiVersion: cert-manager.io/v1
        kind: Issuer
        metadata: {name: team-ca, namespace: team}
        spec: {ca: {secretName: team-ca}}
        """))
    write(d, "ca-secrets.yaml", tls_secret("cert-manager", "local-ca", *S["cluster_ca"]) + "---\n" +
          tls_secret("team", "team-ca", *S["team_ca"]))
    S["local"] = Certs(d, extra=["--min-duration", "1s", "--retry-base", "1s", "--retry-max", "4s"])


@t.test
def certificate_fields_reach_the_x509():
    local_setup()
    d, L = S["ldir"], S["local"]
    write(d, "fields.yaml", certificate("fields", "apps", "local-ca", ["f.example.test"], extra="""\
          ipAddresses: ["127.0.0.5", "::1"]
          commonName: Fields Test
          duration: 2h
          privateKey: {algorithm: RSA, size: 3072, encoding: PKCS8}
          usages: ["digital signature", "key encipherment", "client auth"]
        """))
    write(d, "ec384.yaml", certificate("ec384", "apps", "selfsigned", ["ec.example.test"],
                                       extra="privateKey: {algorithm: ECDSA, size: 384}\n"))
    write(d, "ed.yaml", certificate("ed", "apps", "selfsigned", ["ed.example.test"],
                                    extra="privateKey: {algorithm: Ed25519}\n"))
    write(d, "subca.yaml", certificate("subca", "apps", "local-ca", ["subca.example.test"], extra="isCA: true\n"))
    c = L.ready("fields")
    assert epoch(c["notAfter"]) - epoch(c["notBefore"]) == 7200, c
    e = secret_entries(d, "apps", "fields-tls")
    text = x509(e["tls.crt"], "-text")
    assert "DNS:f.example.test" in text and "IP Address:127.0.0.5" in text and "IP Address:0:0:0:0:0:0:0:1" in text, text
    assert re.search(r"Subject: CN ?= ?Fields Test", text), text
    assert "Public-Key: (3072 bit)" in text and "rsaEncryption" in text, text
    assert "TLS Web Client Authentication" in text and "TLS Web Server Authentication" not in text, text
    assert e["tls.key"].startswith(b"-----BEGIN PRIVATE KEY-----"), e["tls.key"][:40]
    assert verify(S["tmp"], S["cluster_ca"][0], e["tls.crt"]).returncode == 0
    sec = secret_text(d, "apps", "fields-tls")
    for ann in ('cert-manager.io/certificate-name: "fields"', 'cert-manager.io/common-name: "Fields Test"',
                'cert-manager.io/ip-sans: "127.0.0.5,::1"', 'cert-manager.io/issuer-group: "cert-manager.io"',
                'cert-manager.io/alt-names: "f.example.test"'):
        assert ann in sec, (ann, sec)
    L.ready("ec384")
    e = secret_entries(d, "apps", "ec384-tls")
    text = x509(e["tls.crt"], "-text")
    assert "NIST CURVE: P-384" in text or "secp384r1" in text, text
    assert "TLS Web Server Authentication" in text, text  # default usages
    assert e["tls.key"].startswith(b"-----BEGIN EC PRIVATE KEY-----"), e["tls.key"][:40]  # PKCS1 default
    L.ready("ed")
    assert "ED25519" in x509(secret_entries(d, "apps", "ed-tls")["tls.crt"], "-text").upper()
    L.ready("subca")
    text = x509(secret_entries(d, "apps", "subca-tls")["tls.crt"], "-text")
    assert "CA:TRUE" in text, text


@t.test
def namespaced_issuer_and_issuer_annotation():
    local_setup()
    d, L = S["ldir"], S["local"]
    write(d, "team-cert.yaml", certificate("teamcert", "team", "team-ca", ["t.example.test"], kind="Issuer"))
    write(d, "other-ns.yaml", certificate("elsewhere", "other", "team-ca", ["o.example.test"], kind="Issuer"))
    write(d, "shim.yaml", ingress_yaml("team", "shim", "shim.example.test", [("/", "Prefix", "be", 80)],
                                       annotations={"cert-manager.io/issuer": "team-ca"}, tls_secret="shim-tls"))
    L.ready("teamcert")
    e = secret_entries(d, "team", "teamcert-tls")
    assert e["ca.crt"].strip() == S["team_ca"][0].strip()
    assert verify(S["tmp"], S["team_ca"][0], e["tls.crt"]).returncode == 0
    assert 'cert-manager.io/issuer-kind: "Issuer"' in secret_text(d, "team", "teamcert-tls")
    c = L.ready("shim-tls")
    assert c["from"] == "Ingress" and c["issuerRef"] == {"kind": "Issuer", "name": "team-ca"}, c
    e = secret_entries(d, "team", "shim-tls")
    assert verify(S["tmp"], S["team_ca"][0], e["tls.crt"]).returncode == 0
    assert "DNS:shim.example.test" in x509(e["tls.crt"], "-ext", "subjectAltName")
    # An Issuer is namespaced: a Certificate in another namespace does not find it.
    c = wait_for(lambda: L.cert("elsewhere").get("failedIssuanceAttempts") and L.cert("elsewhere"),
                 what="elsewhere failed", timeout=10)
    assert c["ready"] == "False" and "not found" in c["message"], c
    assert not os.path.exists(secret_path(d, "other", "elsewhere-tls"))


@t.test
def renew_before_and_rotation_policy():
    local_setup()
    d, L = S["ldir"], S["local"]
    write(d, "rb.yaml", certificate("rbnever", "apps", "local-ca", ["rbn.example.test"], extra="""\
          duration: 12s
          renewBefore: 9s
          privateKey: {rotationPolicy: Never}
        """) + "---\n" + certificate("rbalways", "apps", "local-ca", ["rba.example.test"], extra="""\
          duration: 12s
          renewBefore: 9s
        """))
    for name in ("rbnever", "rbalways"):
        c = L.ready(name)
        assert epoch(c["renewalTime"]) == epoch(c["notAfter"]) - 9, c  # renewBefore, not 1/3
    first = {n: (serial(d, "apps", n + "-tls"), pubkey(d, "apps", n + "-tls"), L.cert(n)) for n in ("rbnever", "rbalways")}
    # Secrets are replaced atomically: every read while renewing sees a whole Secret.
    deadline = time.monotonic() + 15
    reads = 0
    while time.monotonic() < deadline:
        for n in ("rbnever", "rbalways"):
            txt = secret_text(d, "apps", n + "-tls")
            assert txt.endswith("\n") and "  tls.crt: " in txt and "  tls.key: " in txt and "  ca.crt: " in txt, txt
            reads += 1
        if all(serial(d, "apps", n + "-tls") != first[n][0] for n in first):
            break
        time.sleep(0.02)
    for n in first:
        assert serial(d, "apps", n + "-tls") != first[n][0], "%s not renewed" % n
        c2 = L.cert(n)
        assert epoch(c2["notBefore"]) >= epoch(first[n][2]["renewalTime"]), (first[n][2], c2)
    assert pubkey(d, "apps", "rbnever-tls") == first["rbnever"][1], "rotationPolicy Never changed the key"
    assert pubkey(d, "apps", "rbalways-tls") != first["rbalways"][1], "rotationPolicy Always kept the key"
    assert not [f for f in os.listdir(d) if f.startswith(".") and "hearth-certs" in f], os.listdir(d)
    os.unlink(os.path.join(d, "rb.yaml"))  # stop the churn


@t.test
def reissue_when_the_names_change():
    local_setup()
    d, L = S["ldir"], S["local"]
    before = serial(d, "apps", "ec384-tls")
    write(d, "ec384.yaml", certificate("ec384", "apps", "selfsigned", ["ec.example.test", "ec2.example.test"],
                                       extra="privateKey: {algorithm: ECDSA, size: 384}\n"))
    wait_for(lambda: serial(d, "apps", "ec384-tls") not in ("", before), what="reissued ec384", timeout=10)
    assert "DNS:ec2.example.test" in x509(secret_entries(d, "apps", "ec384-tls")["tls.crt"], "-ext", "subjectAltName")


@t.test
def backoff_is_exponential_per_certificate():
    local_setup()
    d, L = S["ldir"], S["local"]
    write(d, "lost.yaml", certificate("lost", "apps", "missing", ["lost.example.test"]))
    gaps = {}
    deadline = time.monotonic() + 14
    while time.monotonic() < deadline and len(gaps) < 4:
        c = L.cert("lost")
        n = c.get("failedIssuanceAttempts", 0)
        if n and n not in gaps:
            gaps[n] = epoch(c["nextRetry"]) - epoch(c["lastFailureTime"])
        time.sleep(0.05)
    assert [gaps.get(i) for i in (1, 2, 3, 4)] == [1, 2, 4, 4], gaps  # --retry-base 1s, --retry-max 4s
    # Another certificate starts its own backoff at the base delay.
    write(d, "lost2.yaml", certificate("lost2", "apps", "missing", ["lost2.example.test"]))
    c = wait_for(lambda: L.cert("lost2").get("failedIssuanceAttempts") and L.cert("lost2"), what="lost2 failed")
    assert epoch(c["nextRetry"]) - epoch(c["lastFailureTime"]) == 1, c
    assert c["ready"] == "False" and "ClusterIssuer missing not found" in c["message"], c
    code, text = http_get(L.status, "/metrics")
    assert re.search(r'certmanager_certificate_ready_status\{name="lost",namespace="apps",condition="False"[^}]*\} 1', text), text


@t.test
def status_visible_in_hearth_check():
    local_setup()
    L = S["local"]
    url = "http://127.0.0.1:%d/healthz" % L.status
    r = subprocess.run([binary("hearth"), "check", url], capture_output=True, text=True, timeout=15)
    row = [l for l in r.stdout.splitlines() if url in l]
    assert row, r.stdout + r.stderr
    detail = row[0].split("ms", 1)[1].strip().lower() if "ms" in row[0] else row[0].lower()
    # `lost` and `lost2` keep failing, the others are Ready: the row must say so.
    assert re.search(r"ready", detail) and re.search(r"fail|not ready|lost", detail), \
        "hearth check shows no certificate status: %r" % row[0]


# ---- ACME: pebble behind a recording TLS relay ----

def served_serial(port, sni):
    """The serial (openssl's "serial=..." line) of the certificate served for sni."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            der = tls.getpeercert(binary_form=True)
    return openssl(["x509", "-inform", "DER", "-noout", "-serial"], der).strip()


def b64u_json(s):
    try:
        return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)) or b"null")
    except ValueError:
        return None


class Relay:
    """A TLS relay in front of pebble (same certificate) that records every request with
    its time, decoded JWS and reply, and lets a test rewrite or replace replies."""

    def __init__(self, pebble):
        self.pebble = pebble
        self.port = free_port()
        self.log, self.lock = [], threading.Lock()
        self.hook = None  # fn(entry, status, headers, body) -> (status, headers, body)
        self.up_ctx = ssl.create_default_context(cafile=pebble.crt)
        relay = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_HEAD(self):
                self.relay()

            def do_GET(self):
                self.relay()

            def do_POST(self):
                self.relay()

            def relay(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                entry = {"t": time.monotonic(), "method": self.command, "path": self.path}
                if body:
                    try:
                        jws = json.loads(body)
                        entry["protected"] = b64u_json(jws["protected"])
                        entry["payload"] = b64u_json(jws["payload"]) if jws["payload"] else ""
                    except (ValueError, KeyError, TypeError):
                        pass
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                status, rh, rb = relay.upstream(self.command, self.path, body, hdrs)
                if relay.hook:
                    status, rh, rb = relay.hook(entry, status, rh, rb)
                entry.update(status=status, location=rh.get("Location"), body=rb)
                with relay.lock:
                    relay.log.append(entry)
                self.send_response(status)
                for k, v in rh.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(rb)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(rb)

        class Srv(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that closed its connection early

        self.srv = Srv(("127.0.0.1", self.port), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pebble.crt, pebble.key)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.srv.daemon_threads = True
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def upstream(self, method, path, body, headers):
        conn = http.client.HTTPSConnection("127.0.0.1", self.pebble.port, context=self.up_ctx, timeout=20)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            r = conn.getresponse()
            rb = r.read()
            rh = {}
            for k, v in r.getheaders():
                rh[k] = (rh[k] + ", " + v) if k in rh and k.lower() == "link" else v
            mine, theirs = "127.0.0.1:%d" % self.port, "127.0.0.1:%d" % self.pebble.port
            rb = rb.replace(theirs.encode(), mine.encode())
            rh = {k: v.replace(theirs, mine) for k, v in rh.items()}
            return r.status, rh, rb
        finally:
            conn.close()

    def fresh_nonce(self):
        _, h, _ = self.upstream("HEAD", "/nonce-plz", b"", {"Host": "127.0.0.1:%d" % self.port})
        return h.get("Replay-Nonce")

    def entries(self, pred=lambda e: True):
        with self.lock:
            return [e for e in self.log if pred(e)]

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def problem(status, typ, detail, nonce):
    return status, {"Content-Type": "application/problem+json", "Replay-Nonce": nonce}, \
        json.dumps({"type": typ, "detail": detail, "status": status}).encode()


def order_names(e):
    p = e.get("payload")
    return [i.get("value") for i in p.get("identifiers", [])] if isinstance(p, dict) else []


HOOK = {"bad_nonce_for": set(), "forbid": set(), "slow": {}}


def hook(entry, status, headers, body):
    """Per-identifier fault injection (HOOK): badNonce once on newOrder, a problem
    document on newOrder, Retry-After with one forced extra poll of authz and order."""
    relay = S["relay"]
    path = entry["path"]
    if path.startswith("/order-plz"):
        names = order_names(entry)
        for n in names:
            if n in HOOK["bad_nonce_for"]:
                HOOK["bad_nonce_for"].discard(n)
                entry["injected"] = "badNonce"
                return problem(400, "urn:ietf:params:acme:error:badNonce", "hearth-accept: injected", relay.fresh_nonce())
            if n in HOOK["forbid"]:
                entry["injected"] = "rejectedIdentifier"
                return problem(403, "urn:ietf:params:acme:error:rejectedIdentifier",
                               "hearth-accept: %s is not allowed here" % n, relay.fresh_nonce())
        slow = [n for n in names if n in HOOK["slow"]]
        if slow and status == 201:
            s = HOOK["slow"][slow[0]]
            if "order" not in s:
                doc = json.loads(body)
                s.update(order=headers.get("Location", "").split("/my-order/")[-1],
                         authz=[a.split("/authZ/")[-1] for a in doc["authorizations"]],
                         finalize=doc["finalize"].split("/")[-1])
        return status, headers, body
    for name, s in HOOK["slow"].items():
        if "order" not in s:
            continue
        if path.startswith("/chalZ/") and path.split("/")[-1] in s.get("chals", ()):
            s.setdefault("chal_posted", time.monotonic())
        kind = ("authz" if path.startswith("/authZ/") and path.split("/")[-1] in s["authz"] else
                "order" if path == "/my-order/" + s["order"] else
                "finalize" if path.startswith("/finalize-order/") and path.endswith("/" + s["finalize"]) else None)
        if not kind or status >= 300:
            continue
        headers = dict(headers, **{"Retry-After": "3"})
        entry["slow"] = kind
        if kind == "authz" and "chals" not in s:
            s["chals"] = [c["url"].split("/")[-1] for c in json.loads(body).get("challenges", [])]
        entry["after_chal"] = "chal_posted" in s
        if kind == "authz" and "chal_posted" in s and not s.get("forced_authz"):
            s["forced_authz"] = True
            doc = json.loads(body)
            doc["status"] = "pending"
            body = json.dumps(doc).encode()
        if kind == "finalize":
            s["finalized"] = True
        entry["after_final"] = s.get("finalized", False)
        if kind == "order" and s.get("finalized") and not s.get("forced_order"):
            s["forced_order"] = True
            doc = json.loads(body)
            doc["status"] = "processing"
            doc.pop("certificate", None)
            body = json.dumps(doc).encode()
        return status, headers, body
    return status, headers, body


def acme_setup():
    if "acme" in S:
        return
    if not shutil.which("pebble") or not shutil.which("pebble-challtestsrv"):
        raise AssertionError("pebble is not installed (scripts/deps.sh test)")
    S["tmp"] = S.get("tmp") or tempfile.mkdtemp(prefix="hearth-certs-accept-")
    S["be"] = Backend("accept-be")
    S["proxy"] = Proxy({"svc.yaml": service_yaml("web", "be", 80, [S["be"]])})
    S["pebble"] = Pebble(S["tmp"], S["proxy"].web, validity=15, nonce_reject=20)
    S["relay"] = Relay(S["pebble"])
    S["relay"].hook = hook
    api_ca = open(S["pebble"].crt, "rb").read()
    rsa_key = os.path.join(S["tmp"], "acct-rsa.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa_key],
                   check=True, capture_output=True, timeout=30)
    P = S["proxy"]
    P.write("issuers.yaml", "---\n".join([
        acme_issuer("pebble", S["relay"].port, "pebble-account", ca_pem=api_ca),
        acme_issuer("pebble-rsa", S["relay"].port, "pebble-rsa-account", ca_pem=api_ca),
        acme_issuer("pebble-skip", S["pebble"].port, "pebble-skip-account", skip=True),
        acme_issuer("pebble-untrusted", S["pebble"].port, "pebble-untrusted-account"),
        acme_issuer("pebble-stuck", S["pebble"].port, "pebble-stuck-account", ca_pem=api_ca, klass="nginx"),
    ]))
    P.write("rsa-account.yaml", "apiVersion: v1\nkind: Secret\ntype: Opaque\n"
            "metadata: {name: pebble-rsa-account, namespace: cert-manager}\nstringData:\n  tls.key: |\n" +
            textwrap.indent(open(rsa_key).read(), "    "))
    S["acme_args"] = ["--self-check-addr", "127.0.0.1:%d" % P.web, "--self-check-attempts", "24",
                      "--self-check-interval", "500ms", "--retry-base", "2s", "--retry-max", "8s",
                      "--cluster-resource-namespace", "cert-manager"]
    S["acme"] = Certs(P.dir, extra=S["acme_args"])


@t.test
def acme_renewal_at_two_thirds_of_pebbles_lifetime():
    acme_setup()
    A, P = S["acme"], S["proxy"]
    P.write("renew.yaml", certificate("renew", "web", "pebble", ["renew.example.test"]) + "---\n" +
            ingress_yaml("web", "renew", "renew.example.test", [("/", "Prefix", "be", 80)], tls_secret="renew-tls"))
    c = A.ready("renew", timeout=40)
    crt = secret_entries(P.dir, "web", "renew-tls")["tls.crt"]
    nb, na = leaf_dates(crt)
    life = na - nb
    assert 10 <= life <= 16, (nb, na)  # pebble's certificateValidityPeriod, not the requested 2160h
    assert epoch(c["notBefore"]) == nb and epoch(c["notAfter"]) == na, c
    import math
    want = math.floor(na - life / 3.0)
    assert epoch(c["renewalTime"]) == want, (c, nb, na, want)
    first = serial(P.dir, "web", "renew-tls")
    wait_for(lambda: serial(P.dir, "web", "renew-tls") not in ("", first), what="renewed before expiry",
             timeout=max(1, na - time.time()) + 1)
    renewed_at = time.time()
    assert renewed_at <= na + 1, (renewed_at, na)
    nb2, _ = leaf_dates(secret_entries(P.dir, "web", "renew-tls")["tls.crt"])
    assert nb2 >= want - 1, (nb2, want)  # not renewed early either
    # The running proxy serves the renewed certificate without a restart.
    def serves_renewed():
        got = served_serial(P.websecure, "renew.example.test")
        return got != first and got == serial(P.dir, "web", "renew-tls")
    wait_for(serves_renewed, what="proxy serves the renewed certificate", timeout=10)
    os.unlink(os.path.join(P.dir, "renew.yaml"))


@t.test
def acme_bad_nonce_is_retried():
    acme_setup()
    A, P, R = S["acme"], S["proxy"], S["relay"]
    HOOK["bad_nonce_for"].add("nonce.example.test")
    P.write("nonce.yaml", certificate("nonce", "web", "pebble", ["nonce.example.test"]))
    c = A.ready("nonce", timeout=40)
    assert not c.get("failedIssuanceAttempts"), c
    orders = R.entries(lambda e: e["path"].startswith("/order-plz") and "nonce.example.test" in order_names(e))
    assert [e.get("injected") for e in orders][:2] == ["badNonce", None], orders
    assert orders[1]["protected"]["nonce"] != orders[0]["protected"]["nonce"], orders


@t.test
def acme_problem_document_surfaced():
    acme_setup()
    A, P = S["acme"], S["proxy"]
    HOOK["forbid"].add("forbidden.example.test")
    P.write("forbidden.yaml", certificate("forbidden", "web", "pebble", ["forbidden.example.test"]))
    c = wait_for(lambda: A.cert("forbidden").get("failedIssuanceAttempts") and A.cert("forbidden"),
                 what="forbidden failed", timeout=30)
    assert c["ready"] == "False" and c["problemType"] == "urn:ietf:params:acme:error:rejectedIdentifier", c
    assert "hearth-accept: forbidden.example.test is not allowed here" in c["message"], c
    out = A.proc.output()
    assert "rejectedIdentifier" in out and "forbidden.example.test is not allowed here" in out


@t.test
def acme_retry_after_is_honoured():
    acme_setup()
    A, P, R = S["acme"], S["proxy"], S["relay"]
    HOOK["slow"]["slow.example.test"] = {}
    P.write("slow.yaml", certificate("slow", "web", "pebble", ["slow.example.test"]))
    A.ready("slow", timeout=60)
    polls = R.entries(lambda e: e.get("slow") in ("authz", "order", "finalize"))
    s = HOOK["slow"]["slow.example.test"]
    assert s.get("forced_authz") and s.get("forced_order"), (s, [(e["slow"], e["path"]) for e in polls])
    times = {"authz": [e["t"] for e in polls if e["slow"] == "authz" and e["after_chal"]],
             "order": [e["t"] for e in polls if e["slow"] in ("finalize", "order") and e["after_final"]]}
    gaps = {k: [round(b - a, 2) for a, b in zip(v, v[1:])] for k, v in times.items()}
    # After the challenge and after finalize every poll waited Retry-After: 3 s (not the 1 s default).
    assert gaps["authz"] and min(gaps["authz"]) >= 2.7, gaps
    assert gaps["order"] and min(gaps["order"]) >= 2.7, gaps


@t.test
def acme_account_reused_across_restart_and_rs256():
    acme_setup()
    A, P, R = S["acme"], S["proxy"], S["relay"]
    P.write("rsa.yaml", certificate("rsacert", "web", "pebble-rsa", ["rsa.example.test"]))
    A.ready("rsacert", timeout=40)
    algs = {e["protected"].get("alg") for e in R.entries(lambda e: e["path"].startswith("/sign-me-up") and e.get("protected"))}
    assert "RS256" in algs and "ES256" in algs, algs
    keyfile = secret_path(P.dir, "cert-manager", "pebble-account")
    key_before = open(keyfile).read()
    assert "type: Opaque" in key_before and "tls.key:" in key_before, key_before
    n_before = len(R.log)
    assert A.stop() == 0
    S["acme"] = A = Certs(P.dir, extra=S["acme_args"])
    P.write("again.yaml", certificate("again", "web", "pebble", ["again.example.test"]))
    A.ready("again", timeout=40)
    assert open(keyfile).read() == key_before, "the account key Secret was replaced"
    es = lambda e: e["path"].startswith("/sign-me-up") and e.get("protected", {}).get("alg") == "ES256" and e["status"] < 300
    acct = R.entries(es)
    after = [e for e in acct if e in R.log[n_before:]]
    assert after and after[0]["payload"].get("onlyReturnExisting") is True, after
    assert len({e["location"] for e in acct}) == 1, [e["location"] for e in acct]


@t.test
def acme_skip_tls_verify_and_untrusted_server():
    acme_setup()
    A, P = S["acme"], S["proxy"]
    P.write("skip.yaml", certificate("skip", "web", "pebble-skip", ["skip.example.test"]) + "---\n" +
            certificate("untrusted", "web", "pebble-untrusted", ["untrusted.example.test"]))
    A.ready("skip", timeout=40)
    c = wait_for(lambda: A.cert("untrusted").get("failedIssuanceAttempts") and A.cert("untrusted"),
                 what="untrusted failed", timeout=30)
    assert c["ready"] == "False" and re.search(r"(?i)certificate|verif|tls", c["message"]), c


@t.test
def acme_many_certificates_progress_concurrently():
    acme_setup()
    A, P, R = S["acme"], S["proxy"], S["relay"]
    names = ["many%d" % i for i in range(6)]
    P.write("many.yaml", "---\n".join(certificate(n, "web", "pebble", ["%s.example.test" % n]) for n in names))
    for n in names:
        A.ready(n, timeout=40)
    spans = []
    for n in names:
        host = "%s.example.test" % n
        orders = R.entries(lambda e: e["path"].startswith("/order-plz") and host in order_names(e) and e["status"] == 201)
        assert orders, n
        url = orders[0]["location"].split("/my-order/")[-1]
        done = R.entries(lambda e: e["path"] == "/my-order/" + url and b'"valid"' in e["body"])
        assert done, n
        spans.append((orders[0]["t"], done[0]["t"]))
    overlap = max(sum(1 for a, b in spans if a <= t0 < b) for t0, _ in spans)
    assert overlap >= 3, "at most %d orders were in flight at once: %r" % (overlap, spans)
    os.unlink(os.path.join(P.dir, "many.yaml"))


@t.test
def acme_stuck_self_check_blocks_no_one_and_solver_files_come_and_go():
    acme_setup()
    A, P = S["acme"], S["proxy"]
    P.write("stuck.yaml", certificate("stuck", "web", "pebble-stuck", ["stuck.example.test"]))

    def solver_file():
        for f in os.listdir(P.dir):
            if f.startswith("hearth-certs-solver-"):
                txt = open(os.path.join(P.dir, f)).read()
                if "stuck.example.test" in txt:
                    return f, txt
        return None
    fname, txt = wait_for(solver_file, what="solver file for stuck", timeout=20)
    assert "kind: Ingress" in txt and "kind: Endpoints" in txt and "ingressClassName: \"nginx\"" in txt, txt
    token = re.search(r"/\.well-known/acme-challenge/([A-Za-z0-9_-]+)", txt).group(1)
    assert re.search(r"- ip: 127\.0\.0\.1\n  ports:\n  - name: http\n    port: %d\n" % A.solver, txt), txt
    code, body = http_get(A.solver, "/.well-known/acme-challenge/" + token)
    assert code == 200 and body.startswith(token + "."), (code, body)
    # While that self-check keeps failing, another certificate is ordered and issued.
    P.write("quick.yaml", certificate("quick", "web", "pebble", ["quick.example.test"]))
    A.ready("quick", timeout=20)
    assert A.cert("stuck").get("issuing") is True and os.path.exists(os.path.join(P.dir, fname)), A.cert("stuck")
    # The stuck challenge ends (self-check gives up, pebble cannot reach it): its files go.
    wait_for(lambda: not os.path.exists(os.path.join(P.dir, fname)), what="solver file removed", timeout=30)
    c = wait_for(lambda: A.cert("stuck").get("failedIssuanceAttempts") and A.cert("stuck"), what="stuck failed", timeout=20)
    assert c["problemType"].startswith("urn:ietf:params:acme:error:"), c
    assert http_get(A.solver, "/.well-known/acme-challenge/" + token)[0] == 404


def teardown():
    teardown_state(S, ("local", "acme", "proxy", "relay", "pebble", "be"))


t.run(cleanup=teardown)
