"""Shared helpers of the `hearth certs` end-to-end tests (test_certs.py and
test_certs_accept.py): a `hearth certs` process, manifest writers, openssl checks of
issued Secrets, and pebble + pebble-challtestsrv on free loopback ports."""
import base64
import json
import os
import re
import shutil
import subprocess
import textwrap
import urllib.request

from harness import Proc, binary, free_port, wait_port
from proxy_env import wait_for


def http_get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


class Certs:
    """`hearth certs` on free loopback ports over a manifests directory."""

    def __init__(self, mdir, extra=()):
        self.dir, self.extra = mdir, list(extra)
        self.status, self.solver = free_port(), free_port()
        self.proc = Proc([binary("hearth"), "certs", "--manifests", mdir,
                          "--status", "127.0.0.1:%d" % self.status,
                          "--solver", "127.0.0.1:%d" % self.solver] + self.extra)
        wait_port(self.status, proc=self.proc)

    def certificates(self):
        code, body = http_get(self.status, "/api/certificates")
        assert code == 200, (code, body)
        return {c["name"]: c for c in json.loads(body)}

    def cert(self, name):
        return self.certificates().get(name, {})

    def ready(self, name, timeout=20):
        return wait_for(lambda: self.cert(name).get("ready") == "True" and self.cert(name),
                        what="%s Ready" % name, timeout=timeout)

    def stop(self):
        rc = self.proc.stop()
        out = self.proc.output()
        assert "ERROR: AddressSanitizer" not in out and "runtime error" not in out, out[-3000:]
        return rc


def write(mdir, fname, text):
    """Replaces mdir/fname atomically (a temporary dot file renamed) with dedented text."""
    tmp = os.path.join(mdir, "." + fname + ".tmp")
    with open(tmp, "w") as f:
        f.write(textwrap.dedent(text))
    os.rename(tmp, os.path.join(mdir, fname))


def secret_path(mdir, ns, name):
    return os.path.join(mdir, "hearth-certs-%s-%s.yaml" % (ns, name))


def secret_text(mdir, ns, name):
    try:
        with open(secret_path(mdir, ns, name)) as f:
            return f.read()
    except OSError:
        return ""


def secret_entries(mdir, ns, name):
    """The data of a Secret file hearth certs wrote, decoded, or {} when absent."""
    out = {}
    for line in secret_text(mdir, ns, name).splitlines():
        m = re.match(r"^  (tls\.crt|tls\.key|ca\.crt): (\S+)$", line)
        if m:
            out[m.group(1)] = base64.b64decode(m.group(2))
    return out


def openssl(args, pem):
    """openssl's stdout and stderr for args with pem on stdin."""
    r = subprocess.run(["openssl"] + args, input=pem, capture_output=True, timeout=10)
    return r.stdout.decode() + r.stderr.decode()


def x509(pem, *args):
    """`openssl x509 -noout args` on pem: its stdout only ("" for an unreadable pem)."""
    r = subprocess.run(["openssl", "x509", "-noout"] + list(args), input=pem, capture_output=True, timeout=10)
    return r.stdout.decode()


def verify(tmp, ca_pem, crt_pem):
    ca, crt = os.path.join(tmp, "v-ca.pem"), os.path.join(tmp, "v-crt.pem")
    with open(ca, "wb") as f:
        f.write(ca_pem)
    with open(crt, "wb") as f:
        f.write(crt_pem)
    return subprocess.run(["openssl", "verify", "-CAfile", ca, crt], capture_output=True, text=True, timeout=10)


def certificate(name, ns, issuer, names, kind="ClusterIssuer", extra="", group="cert-manager.io"):
    """A Certificate manifest; extra (spec fields, any indentation) is added to its spec;
    group None leaves issuerRef.group out."""
    ref = "{name: %s, kind: %s%s}" % (issuer, kind, ", group: " + group if group else "")
    return textwrap.dedent("""\
        apiVersion: cert-manager.io/v1
        kind: Certificate
        metadata: {name: %s, namespace: %s}
        spec:
          secretName: %s-tls
          dnsNames: %s
          issuerRef: %s
        """) % (name, ns, name, json.dumps(names), ref) + textwrap.indent(textwrap.dedent(extra), "  ")


def make_ca(tmp, cn, stem=None):
    """A P-256 CA certificate and key under tmp (files stem.pem and stem-key.pem, stem
    defaulting to cn): returns (cert PEM, key PEM) as bytes."""
    stem = stem or cn
    key, crt = os.path.join(tmp, stem + "-key.pem"), os.path.join(tmp, stem + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=" + cn,
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                   check=True, capture_output=True, timeout=20)
    return open(crt, "rb").read(), open(key, "rb").read()


# The two ClusterIssuers both certs test files start with: selfSigned, and a CA issuer
# whose key pair is the Secret local-ca in the cluster resource namespace (cert-manager).
LOCAL_ISSUERS = textwrap.dedent("""\
    apiVersion: cert-manager.io/v1
    kind: ClusterIssuer
    metadata: {name: selfsigned}
    spec: {selfSigned: {}}
    ---
    apiVersion: cert-manager.io/v1
    kind: ClusterIssuer
    metadata: {name: local-ca}
    spec: {ca: {secretName: local-ca}}
    """)


def tls_secret(ns, name, crt, key, typ="kubernetes.io/tls"):
    b = lambda x: base64.b64encode(x).decode()
    return ("apiVersion: v1\nkind: Secret\ntype: %s\nmetadata: {name: %s, namespace: %s}\ndata:\n"
            "  tls.crt: %s\n  tls.key: %s\n") % (typ, name, ns, b(crt), b(key))


def acme_issuer(name, port, key_secret, ca_pem=None, skip=False, klass="traefik"):
    """An ACME ClusterIssuer for https://127.0.0.1:port/dir with an http01 ingress solver."""
    extra = ""
    if ca_pem:
        extra += "    caBundle: %s\n" % base64.b64encode(ca_pem).decode()
    if skip:
        extra += "    skipTLSVerify: true\n"
    return ("apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: %s}\nspec:\n  acme:\n"
            "    server: https://127.0.0.1:%d/dir\n    email: ops@example.test\n"
            "    privateKeySecretRef: {name: %s}\n%s    solvers:\n"
            "    - http01: {ingress: {ingressClassName: %s}}\n") % (name, port, key_secret, extra, klass)


class Pebble:
    """pebble + pebble-challtestsrv (DNS: every name is 127.0.0.1) on free ports. crt/key
    are pebble's API certificate files (api_ca = crt)."""

    def __init__(self, tmp, http_port, validity=3600, nonce_reject=5):
        self.dns, self.mgmt_dns = free_port(), free_port()
        self.port, self.mgmt = free_port(), free_port()
        self.key, self.crt = os.path.join(tmp, "pebble-key.pem"), os.path.join(tmp, "pebble-cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", self.key, "-out", self.crt, "-days", "30", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
        self.api_ca = self.crt
        cfg = os.path.join(tmp, "pebble.json")
        with open(cfg, "w") as f:
            json.dump({"pebble": {"listenAddress": "127.0.0.1:%d" % self.port,
                                  "managementListenAddress": "127.0.0.1:%d" % self.mgmt,
                                  "certificate": self.crt, "privateKey": self.key, "httpPort": http_port,
                                  "tlsPort": free_port(), "ocspResponderURL": "",
                                  "externalAccountBindingRequired": False,
                                  "certificateValidityPeriod": validity}}, f)
        self.dnssrv = Proc(["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                            "-dns01", "127.0.0.1:%d" % self.dns, "-http01", "", "-https01", "",
                            "-tlsalpn01", "", "-management", "127.0.0.1:%d" % self.mgmt_dns])
        wait_port(self.mgmt_dns, proc=self.dnssrv)
        self.proc = Proc(["pebble", "-config", cfg, "-dnsserver", "127.0.0.1:%d" % self.dns],
                         env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": str(nonce_reject)})
        wait_port(self.port, proc=self.proc)
        wait_port(self.mgmt, proc=self.proc)

    def api_ca_pem(self):
        with open(self.api_ca, "rb") as f:
            return f.read()

    def roots(self):
        """The issuing root and intermediate (regenerated at every pebble start)."""
        import ssl
        ctx = ssl.create_default_context(cafile=self.api_ca)
        out = b""
        for path in ("/roots/0", "/intermediates/0"):
            with urllib.request.urlopen("https://127.0.0.1:%d%s" % (self.mgmt, path), context=ctx, timeout=5) as r:
                out += r.read()
        return out

    def stop(self):
        self.proc.stop()
        self.dnssrv.stop()


def teardown_state(S, keys):
    """Stops S[k] for each k of keys present, in that order (a failed stop is printed as a
    TAP comment, the rest still stop), then removes the directory S["tmp"]."""
    for k in keys:
        if k in S:
            try:
                S.pop(k).stop()
            except AssertionError as e:
                print("# teardown: %s" % e)
    shutil.rmtree(S.get("tmp", "/nonexistent"), ignore_errors=True)
