"""End-to-end test of the ACME client (src/certs/certs_acme*.c) against the real pebble
from Debian, with pebble-challtestsrv as its DNS so every name resolves to loopback. The
fixture tests/e2e/certs_acme_fixture.c serves HTTP-01 itself on pebble's httpPort.
Nonce rejection stays on (PEBBLE_WFE_NONCEREJECT=40 makes badNonce frequent) so the
retry path runs; the fixture prints how many badNonce retries it made."""
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request

from harness import Tap, Proc, binary, free_port, wait_port

t = Tap()
state = {}
procs = []


def setup():
    if state:
        return state
    if not shutil.which("pebble"):
        raise AssertionError("pebble is not installed (scripts/deps.sh test)")
    work = tempfile.mkdtemp(prefix="hearth-acme-")
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    acme_port, mgmt_port, http_port, tls_port = free_port(), free_port(), free_port(), free_port()
    dns_port, dns_mgmt = free_port(), free_port()
    cfg = {"pebble": {"listenAddress": "127.0.0.1:%d" % acme_port,
                      "managementListenAddress": "127.0.0.1:%d" % mgmt_port,
                      "certificate": cert, "privateKey": key, "httpPort": http_port,
                      "tlsPort": tls_port, "ocspResponderURL": "",
                      "externalAccountBindingRequired": False,
                      "certificateValidityPeriod": 3600}}
    cfg_path = os.path.join(work, "pebble.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    dns = Proc(["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                "-dns01", "127.0.0.1:%d" % dns_port, "-http01", "", "-https01", "",
                "-tlsalpn01", "", "-management", "127.0.0.1:%d" % dns_mgmt])
    procs.append(dns)
    wait_port(dns_mgmt, proc=dns)
    env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "40"}
    peb = Proc(["pebble", "-config", cfg_path, "-dnsserver", "127.0.0.1:%d" % dns_port], env=env)
    procs.append(peb)
    wait_port(acme_port, proc=peb)
    wait_port(mgmt_port, proc=peb)
    state.update(work=work, cert=cert, acme=acme_port, mgmt=mgmt_port, http=http_port,
                 dir="https://127.0.0.1:%d/dir" % acme_port, pebble=peb)
    return state


def mgmt_get(path):
    ctx = ssl.create_default_context(cafile=state["cert"])
    with urllib.request.urlopen("https://127.0.0.1:%d/%s" % (state["mgmt"], path),
                                context=ctx, timeout=10) as r:
        return r.read().decode()


def run_fixture(out, names, timeout=90):
    s = setup()
    os.makedirs(out, exist_ok=True)
    args = [binary("certs_acme_fixture"), s["dir"], s["cert"], str(s["http"]), out,
            os.path.join(s["work"], "account.pem")] + names
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def verify(chain_path):
    root = mgmt_get("roots/0")
    inter = mgmt_get("intermediates/0")
    bundle = os.path.join(state["work"], "pebble-ca.pem")
    with open(bundle, "w") as f:
        f.write(root + inter)
    # the leaf is the first block of the chain
    with open(chain_path) as f:
        pem = f.read()
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
    assert len(blocks) == 2, "chain has %d certificates, want leaf + intermediate" % len(blocks)
    leaf = chain_path + ".leaf"
    with open(leaf, "w") as f:
        f.write(blocks[0] + "\n")
    v = subprocess.run(["openssl", "verify", "-CAfile", bundle, leaf], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    txt = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", leaf],
                         capture_output=True, text=True, check=True).stdout
    return txt


@t.test
def issues_two_names_and_a_second_order_concurrently():
    out = os.path.join(setup()["work"], "run1")
    rc, log = run_fixture(out, ["app.example.test,www.example.test", "other.example.test"])
    assert rc == 0, log
    assert "account_key new" in log, log
    assert len(re.findall(r"^challenge ", log, re.M)) >= 1, log
    txt = verify(os.path.join(out, "chain0.pem"))
    assert "DNS:app.example.test" in txt and "DNS:www.example.test" in txt, txt
    txt = verify(os.path.join(out, "chain1.pem"))
    assert "DNS:other.example.test" in txt, txt
    m = re.search(r"stats requests=(\d+) bad_nonce_retries=(\d+) valid=2 failed=0 account=(\S+)", log)
    assert m, log
    state["account"] = m.group(3)
    state["bad_nonce"] = int(m.group(2))
    print("# requests=%s bad_nonce_retries=%s" % (m.group(1), m.group(2)))


@t.test
def existing_key_finds_the_same_account():
    out = os.path.join(setup()["work"], "run2")
    rc, log = run_fixture(out, ["again.example.test"])
    assert rc == 0, log
    assert "account_key existing" in log, log
    m = re.search(r"stats requests=\d+ bad_nonce_retries=(\d+) .* account=(\S+)", log)
    assert m and m.group(2) == state["account"], log
    state["bad_nonce"] += int(m.group(1))
    verify(os.path.join(out, "chain0.pem"))


@t.test
def bad_nonce_retries_happened():
    # 40% rejection over dozens of signed requests: at least one retry is near certain;
    # run more orders until one shows up (bounded).
    for i in range(5):
        if state.get("bad_nonce", 0) > 0:
            break
        rc, log = run_fixture(os.path.join(state["work"], "nonce%d" % i), ["n%d.example.test" % i])
        assert rc == 0, log
        state["bad_nonce"] += int(re.search(r"bad_nonce_retries=(\d+)", log).group(1))
    assert state["bad_nonce"] > 0


@t.test
def failed_challenge_reports_the_acme_problem():
    # The fixture listens on another port than pebble's httpPort: validation is refused,
    # and the order fails with the problem pebble reports for the challenge.
    s = setup()
    out = os.path.join(s["work"], "fail")
    os.makedirs(out, exist_ok=True)
    args = [binary("certs_acme_fixture"), s["dir"], s["cert"], str(free_port()), out,
            os.path.join(s["work"], "account.pem"), "broken.example.test"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=90)
    log = p.stdout + p.stderr
    assert p.returncode == 1, log
    assert re.search(r"order 0 failed status=-\d+ type=urn:ietf:params:acme:error:(connection|unauthorized|incorrectResponse)", log), log


def cleanup():
    for p in reversed(procs):
        p.stop()
    if state.get("work"):
        shutil.rmtree(state["work"], ignore_errors=True)


t.run(cleanup=cleanup)
