"""End-to-end tests of `hearth certs` (issue 6): selfSigned and CA issuers checked with
`openssl verify`, malformed manifests reported with file:line, status and metrics, renewal
at 2/3 of a short lifetime, a valid certificate kept across a restart, and against the
real pebble (Debian's `pebble` + `pebble-challtestsrv`) with `hearth proxy` as a second
process: an annotated Ingress gets its certificate through the proxy and curl trusts it;
a failing challenge is reported with its ACME problem and retried while another
certificate still issues."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from harness import Tap, binary
from proxy_env import Backend, Proxy, ingress_yaml, service_yaml, wait_for
import certs_env
from certs_env import (LOCAL_ISSUERS, Certs, Pebble, acme_issuer, http_get, make_ca, secret_entries,
                       teardown_state, tls_secret, verify, write, x509)

t = Tap()
S = {}


def certificate(name, ns, issuer, names, kind="ClusterIssuer", extra=""):
    """certs_env.certificate without issuerRef.group (the default group applies)."""
    return certs_env.certificate(name, ns, issuer, names, kind=kind, extra=extra, group=None)


def setup():
    S["tmp"] = tempfile.mkdtemp(prefix="hearth-certs-e2e-")
    S["dir"] = os.path.join(S["tmp"], "manifests")
    os.mkdir(S["dir"])
    # The CA key pair for the ca issuer, in the cluster resource namespace.
    crt, key = make_ca(S["tmp"], "hearth e2e CA", stem="ca")
    S["ca"] = crt
    write(S["dir"], "issuers.yaml", LOCAL_ISSUERS + "---\n" + tls_secret("cert-manager", "local-ca", crt, key))
    write(S["dir"], "self.yaml", certificate("self", "apps", "selfsigned", ["self.example.test"]))
    write(S["dir"], "viaca.yaml", certificate("viaca", "apps", "local-ca", ["ca.example.test", "www.ca.example.test"]))
    S["certs"] = Certs(S["dir"])


@t.test
def selfsigned_issuer_verifies():
    wait_for(lambda: S["certs"].cert("self").get("ready") == "True", what="self Ready", timeout=20)
    e = secret_entries(S["dir"], "apps", "self-tls")
    assert set(e) == {"tls.crt", "tls.key", "ca.crt"}, e.keys()
    r = verify(S["tmp"], e["ca.crt"], e["tls.crt"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "DNS:self.example.test" in x509(e["tls.crt"], "-ext", "subjectAltName")
    mode = os.stat(os.path.join(S["dir"], "hearth-certs-apps-self-tls.yaml")).st_mode & 0o777
    assert mode == 0o600, oct(mode)


@t.test
def ca_issuer_verifies():
    wait_for(lambda: S["certs"].cert("viaca").get("ready") == "True", what="viaca Ready", timeout=20)
    e = secret_entries(S["dir"], "apps", "viaca-tls")
    assert e["ca.crt"].strip() == S["ca"].strip()
    r = verify(S["tmp"], S["ca"], e["tls.crt"])
    assert r.returncode == 0, r.stdout + r.stderr
    san = x509(e["tls.crt"], "-ext", "subjectAltName")
    assert "DNS:ca.example.test" in san and "DNS:www.ca.example.test" in san, san
    with open(os.path.join(S["dir"], "hearth-certs-apps-viaca-tls.yaml")) as f:
        text = f.read()
    for ann in ('cert-manager.io/issuer-name: "local-ca"', 'cert-manager.io/issuer-kind: "ClusterIssuer"',
                'cert-manager.io/alt-names: "ca.example.test,www.ca.example.test"',
                'controller.cert-manager.io/fao: "true"', "type: kubernetes.io/tls"):
        assert ann in text, (ann, text)


@t.test
def status_and_metrics():
    c = S["certs"].cert("viaca")
    for k in ("notBefore", "notAfter", "renewalTime"):
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", c.get(k, "")), c
    code, text = http_get(S["certs"].status, "/metrics")
    assert code == 200
    assert re.search(r'certmanager_certificate_ready_status\{name="viaca",namespace="apps",condition="True",'
                     r'issuer_name="local-ca",issuer_kind="ClusterIssuer",issuer_group="cert-manager.io"\} 1', text), text
    assert 'certmanager_certificate_expiration_timestamp_seconds{name="viaca"' in text
    assert 'certmanager_certificate_renewal_timestamp_seconds{name="viaca"' in text
    assert http_get(S["certs"].status, "/healthz")[0] == 200
    r = subprocess.run([binary("hearth"), "check", "http://127.0.0.1:%d/healthz" % S["certs"].status],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr


@t.test
def malformed_manifests_reported_with_file_and_line():
    write(S["dir"], "broken.yaml", "apiVersion: v1\nkind: [unclosed\n")
    write(S["dir"], "bad-cert.yaml", "# a comment\n" + certificate("bad", "apps", "selfsigned", ["b.example.test"],
                                                                      extra="  duration: 90d\n"))
    write(S["dir"], "good.yaml", certificate("good", "apps", "selfsigned", ["good.example.test"]))
    wait_for(lambda: S["certs"].cert("good").get("ready") == "True", what="good Ready despite errors", timeout=20)
    code, body = http_get(S["certs"].status, "/api/errors")
    errs = json.loads(body)
    bad = [e for e in errs if e["name"] == "bad"]
    assert bad and bad[0]["source"].endswith("bad-cert.yaml:2") and "duration" in bad[0]["message"], errs
    assert any(e["source"].startswith(os.path.join(S["dir"], "broken.yaml") + ":") for e in errs), errs
    out = S["certs"].proc.output()
    assert "bad-cert.yaml:2" in out


@t.test
def sighup_keeps_a_broken_files_certificates():
    """A manifest that stops parsing keeps its last good objects after the edit, and
    after a SIGHUP too (that reload read every file afresh and dropped its Certificate)."""
    text = certificate("kept", "apps", "selfsigned", ["kept.example.test"])
    write(S["dir"], "kept.yaml", text)
    S["certs"].ready("kept")
    write(S["dir"], "kept.yaml", text + "---\nkind: [unclosed\n")
    wait_for(lambda: "keeping the objects of its last good version" in S["certs"].proc.output(),
             what="the broken edit", timeout=20)
    out = S["certs"].proc.output()
    S["certs"].proc.send_signal(signal.SIGHUP)
    wait_for(lambda: S["certs"].proc.output().count("reloaded") > out.count("reloaded"),
             what="the SIGHUP's reload", timeout=20)
    assert S["certs"].cert("kept").get("ready") == "True", S["certs"].certificates().keys()
    os.unlink(os.path.join(S["dir"], "kept.yaml"))


@t.test
def restart_keeps_a_valid_certificate():
    before = x509(secret_entries(S["dir"], "apps", "viaca-tls")["tls.crt"], "-serial")
    assert S["certs"].stop() == 0
    S["certs"] = Certs(S["dir"])
    wait_for(lambda: S["certs"].cert("viaca").get("ready") == "True", what="viaca Ready after restart", timeout=20)
    after = x509(secret_entries(S["dir"], "apps", "viaca-tls")["tls.crt"], "-serial")
    assert before == after, (before, after)


@t.test
def renewal_at_two_thirds_of_the_lifetime():
    write(S["dir"], "short.yaml", certificate("short", "apps", "local-ca", ["short.example.test"],
                                              extra="  duration: 9s\n"))
    S["certs"].stop()
    S["certs"] = Certs(S["dir"], extra=["--min-duration", "3s"])
    wait_for(lambda: S["certs"].cert("short").get("ready") == "True", what="short Ready", timeout=20)
    c = S["certs"].cert("short")
    nb = time.mktime(time.strptime(c["notBefore"], "%Y-%m-%dT%H:%M:%SZ"))
    rt = time.mktime(time.strptime(c["renewalTime"], "%Y-%m-%dT%H:%M:%SZ"))
    assert rt - nb == 6, c  # 2/3 of 9 s
    first = x509(secret_entries(S["dir"], "apps", "short-tls")["tls.crt"], "-serial")
    wait_for(lambda: x509(secret_entries(S["dir"], "apps", "short-tls").get("tls.crt", b""), "-serial") not in ("", first),
             what="renewed certificate", timeout=15)
    c2 = S["certs"].cert("short")
    assert c2["notBefore"] >= c["renewalTime"], (c, c2)


@t.test
def reissue_when_usages_or_duration_change():
    # Names and isCA are read back from the certificate; usages, duration and the key
    # spec only from the spec hash annotated on the Secret, which also survives a restart.
    write(S["dir"], "use.yaml", certificate("use", "apps", "selfsigned", ["use.example.test"]))
    wait_for(lambda: S["certs"].cert("use").get("ready") == "True", what="use Ready", timeout=20)
    first = x509(secret_entries(S["dir"], "apps", "use-tls")["tls.crt"], "-serial")
    write(S["dir"], "use.yaml", certificate("use", "apps", "selfsigned", ["use.example.test"],
                                            extra="  usages: [digital signature, client auth]\n"))
    wait_for(lambda: x509(secret_entries(S["dir"], "apps", "use-tls").get("tls.crt", b""), "-serial") not in ("", first),
             what="reissued after a usages change", timeout=20)
    ext = x509(secret_entries(S["dir"], "apps", "use-tls")["tls.crt"], "-ext", "extendedKeyUsage")
    assert "TLS Web Client Authentication" in ext and "Server" not in ext, ext


@t.test
def a_missing_issuer_is_used_as_soon_as_it_appears():
    # The failure is reported, but the retry does not wait out the backoff (1m here).
    write(S["dir"], "late.yaml", certificate("late", "apps", "late-issuer", ["late.example.test"]))
    c = wait_for(lambda: S["certs"].cert("late").get("failedIssuanceAttempts") and S["certs"].cert("late"),
                 what="late failed", timeout=20)
    assert "late-issuer not found" in c["message"], c
    write(S["dir"], "late-issuer.yaml", """\
        apiVersion: cert-manager.io/v1
        kind: ClusterIssuer
        metadata: {name: late-issuer}
        spec: {selfSigned: {}}
        """)
    wait_for(lambda: S["certs"].cert("late").get("ready") == "True", what="late Ready", timeout=15)


@t.test
def stale_solver_files_removed_at_start():
    stale = os.path.join(S["dir"], "hearth-certs-solver-0123456789.yaml")
    S["certs"].stop()
    with open(stale, "w") as f:
        f.write("apiVersion: v1\nkind: Service\nmetadata: {name: stale, namespace: apps}\n")
    S["certs"] = Certs(S["dir"], extra=["--min-duration", "3s"])
    assert not os.path.exists(stale)
    assert not [f for f in os.listdir(S["dir"]) if f.startswith(".")], os.listdir(S["dir"])


# ---- ACME against pebble ----

def pebble_issuer(pebble):
    return acme_issuer("pebble", pebble.port, "pebble-account", ca_pem=pebble.api_ca_pem())


def acme_setup():
    if "pebble" in S:
        return
    if not shutil.which("pebble") or not shutil.which("pebble-challtestsrv"):
        raise AssertionError("pebble is not installed (scripts/deps.sh test)")
    S["be"] = Backend("certs-be")
    S["proxy"] = Proxy({"svc.yaml": service_yaml("web", "be", 80, [S["be"]])})
    S["pebble"] = Pebble(S["tmp"], S["proxy"].web)
    S["proxy"].write("issuer.yaml", pebble_issuer(S["pebble"]))
    S["acme"] = Certs(S["proxy"].dir, extra=["--self-check-addr", "127.0.0.1:%d" % S["proxy"].web,
                                             "--self-check-attempts", "3", "--self-check-interval", "500ms",
                                             "--retry-base", "2s", "--retry-max", "8s",
                                             "--cluster-resource-namespace", "cert-manager"])


def curl(port, host, cafile):
    return subprocess.run(["curl", "-sS", "--cacert", cafile, "--resolve", "%s:%d:127.0.0.1" % (host, port),
                           "-o", "/dev/null", "-w", "%{http_code}", "https://%s:%d/" % (host, port)],
                          capture_output=True, text=True, timeout=15)


@t.test
def acme_annotated_ingress_through_proxy():
    acme_setup()
    S["proxy"].write("app.yaml", ingress_yaml("web", "app", "app.example.test", [("/", "Prefix", "be", 80)],
                                              annotations={"cert-manager.io/cluster-issuer": "pebble"},
                                              tls_secret="app-tls"))
    wait_for(lambda: S["acme"].cert("app-tls").get("ready") == "True", what="app-tls Ready", timeout=60)
    e = secret_entries(S["proxy"].dir, "web", "app-tls")
    assert "ca.crt" not in e and e["tls.crt"].count(b"BEGIN CERTIFICATE") == 2, e.keys()
    assert os.path.exists(os.path.join(S["proxy"].dir, "hearth-certs-cert-manager-pebble-account.yaml"))
    assert not [f for f in os.listdir(S["proxy"].dir) if f.startswith("hearth-certs-solver-")]
    bundle = os.path.join(S["tmp"], "pebble-roots.pem")
    with open(bundle, "wb") as f:
        f.write(S["pebble"].roots())
    wait_for(lambda: curl(S["proxy"].websecure, "app.example.test", bundle).stdout == "200",
             what="curl --cacert pebble root through the proxy", timeout=15)


@t.test
def acme_spec_change_during_an_order_reissues():
    # A name added while the order for the old names runs: that order's certificate is
    # not kept as Ready for the new spec, another order follows.
    acme_setup()
    S["proxy"].write("chg.yaml", certificate("chg", "web", "pebble", ["chg.example.test"]))
    wait_for(lambda: S["acme"].cert("chg").get("issuing") is True, what="chg issuing", timeout=30, interval=0.05)
    S["proxy"].write("chg.yaml", certificate("chg", "web", "pebble", ["chg.example.test", "chg2.example.test"]))
    wait_for(lambda: S["acme"].cert("chg").get("ready") == "True" and
             "chg2.example.test" in S["acme"].cert("chg").get("dnsNames", []), what="chg Ready", timeout=60)
    san = x509(secret_entries(S["proxy"].dir, "web", "chg-tls")["tls.crt"], "-ext", "subjectAltName")
    assert "DNS:chg2.example.test" in san and "DNS:chg.example.test" in san, san


@t.test
def acme_failed_challenge_backs_off_while_another_issues():
    acme_setup()
    # No backend route for the solver: an Ingress class the proxy does not serve.
    S["proxy"].write("issuer-bad.yaml", pebble_issuer(S["pebble"]).replace("name: pebble}", "name: pebble-bad}")
                     .replace("ingressClassName: traefik", "ingressClassName: nginx"))
    S["proxy"].write("cert-bad.yaml", certificate("nope", "web", "pebble-bad", ["nope.example.test"]))
    S["proxy"].write("cert-ok.yaml", certificate("fine", "web", "pebble", ["fine.example.test"]))
    wait_for(lambda: S["acme"].cert("fine").get("ready") == "True", what="fine Ready", timeout=60)
    wait_for(lambda: S["acme"].cert("nope").get("failedIssuanceAttempts", 0) >= 2, what="two failures", timeout=60)
    c = S["acme"].cert("nope")
    assert c["ready"] == "False" and c["problemType"].startswith("urn:ietf:params:acme:error:"), c
    assert c["nextRetry"] >= c["lastFailureTime"], c


@t.test
def acme_sigterm_during_an_order_removes_its_solver_files():
    acme_setup()
    S["proxy"].write("cert-term.yaml", certificate("term", "web", "pebble-bad", ["term.example.test"]))

    def solver_file():
        return [f for f in os.listdir(S["proxy"].dir) if f.startswith("hearth-certs-solver-") and
                "term.example.test" in open(os.path.join(S["proxy"].dir, f)).read()]
    wait_for(solver_file, what="solver file for term", timeout=30, interval=0.05)
    assert S["acme"].stop() == 0
    left = [f for f in os.listdir(S["proxy"].dir) if f.startswith("hearth-certs-solver-") or f.startswith(".")]
    assert not left, left
    os.unlink(os.path.join(S["proxy"].dir, "cert-term.yaml"))


def teardown():
    teardown_state(S, ("acme", "certs", "proxy", "pebble", "be"))


try:
    setup()
except Exception:
    teardown()
    raise
t.run(cleanup=teardown)
