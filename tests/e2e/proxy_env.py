"""Shared by the proxy's end-to-end tests (tests/e2e/test_proxy*.py): hc_testd backends,
a `hearth proxy` started on free loopback ports with manifests in a temporary directory,
manifest builders that point Kubernetes Services/Endpoints at the backends, TLS Secrets
made with openssl, and a small HTTP client. Standard library only."""
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import urllib.request

from harness import ROOT, Proc, binary, connect, free_port, wait_port

SEED_DIR = os.path.join(ROOT, "tests", "fuzz", "corpus", "manifest")


def seed(name):
    """A seed manifest (reconstructed verbatim from seeds/004_*) by file name."""
    with open(os.path.join(SEED_DIR, name)) as f:
        return f.read()


class Backend:
    """hc_testd --name NAME: echoes what it receives as JSON (X-Backend: NAME)."""

    def __init__(self, name, port=None, extra=()):
        self.name = name
        self.port = port or free_port()
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        self.proc = Proc([binary("hc_testd"), "--listen", "127.0.0.1:%d" % self.port, "--name", self.name]
                         + self.extra)
        wait_port(self.port, proc=self.proc)

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def service_yaml(ns, name, port, backends, port_name="http"):
    """A Service on port `port` and its Endpoints at the backends' loopback ports (the
    targetPort is the first backend's; each backend listens on its own port, so one
    Endpoints subset per backend)."""
    subsets = "".join(textwrap.dedent("""\
        - addresses:
          - ip: 127.0.0.1
          ports:
          - name: %s
            port: %d
        """) % (port_name, b.port) for b in backends)
    return textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata:
          name: %s
          namespace: %s
        spec:
          ports:
          - name: %s
            port: %d
            targetPort: %d
        ---
        apiVersion: v1
        kind: Endpoints
        metadata:
          name: %s
          namespace: %s
        subsets:
        """) % (name, ns, port_name, port, backends[0].port if backends else port, name, ns) + subsets


def ingress_yaml(ns, name, host, paths, annotations=None, class_name="traefik", tls_secret=None):
    """An Ingress; paths = [(path, pathType, service, port)]."""
    ann = ""
    if annotations:
        ann = "  annotations:\n" + "".join("    %s: %s\n" % (k, json.dumps(v)) for k, v in annotations.items())
    rules = "".join(textwrap.dedent("""\
              - path: %s
                pathType: %s
                backend:
                  service:
                    name: %s
                    port:
                      number: %d
        """) % p for p in paths)
    tls = ""
    if tls_secret:
        tls = "  tls:\n  - hosts:\n    - %s\n    secretName: %s\n" % (json.dumps(host), tls_secret)
    host_line = "  - host: %s\n    http:\n" % json.dumps(host) if host else "  - http:\n"
    return ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: %s\n  namespace: %s\n%s"
            "spec:\n%s%s  rules:\n%s      paths:\n%s") % (
        name, ns, ann, ("  ingressClassName: %s\n" % class_name) if class_name else "", tls, host_line,
        textwrap.indent(rules, "      "))


def middleware_yaml(ns, name, spec_yaml, group="traefik.io/v1alpha1"):
    return "apiVersion: %s\nkind: Middleware\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n%s" % (
        group, name, ns, textwrap.indent(textwrap.dedent(spec_yaml), "  "))


def make_cert(dirpath, cn, sans, days=2):
    """A self-signed certificate for sans (DNS names, or "IP:a.b.c.d"); returns (cert_pem,
    key_pem) bytes."""
    key = os.path.join(dirpath, cn + ".key")
    crt = os.path.join(dirpath, cn + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-days", str(days), "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=" + ",".join(s if s.startswith("IP:") else "DNS:" + s for s in sans)],
                   check=True, capture_output=True, timeout=30)
    with open(crt, "rb") as c, open(key, "rb") as k:
        return c.read(), k.read()


def secret_yaml(ns, name, cert_pem, key_pem):
    b = lambda x: base64.b64encode(x).decode()
    return textwrap.dedent("""\
        apiVersion: v1
        kind: Secret
        type: kubernetes.io/tls
        metadata:
          name: %s
          namespace: %s
        data:
          tls.crt: %s
          tls.key: %s
        """) % (name, ns, b(cert_pem), b(key_pem))


class Proxy:
    """`hearth proxy` on free loopback ports reading manifests from self.dir (and an
    optional file-provider file); waits for /ping. prefix runs it through a wrapper
    (prlimit) that execs it."""

    def __init__(self, manifests=None, file_yaml=None, extra=(), workers=2, access_log=False, env=None,
                 prefix=()):
        self.tmp = tempfile.mkdtemp(prefix="hearth-proxy-e2e-")
        self.dir = os.path.join(self.tmp, "manifests")
        os.mkdir(self.dir)
        for fname, text in (manifests or {}).items():
            self.write(fname, text)
        self.web, self.websecure, self.api = free_port(), free_port(), free_port()
        args = list(prefix) + [binary("hearth"), "proxy", "--manifests", self.dir,
                "--web", "127.0.0.1:%d" % self.web, "--websecure", "127.0.0.1:%d" % self.websecure,
                "--api", "127.0.0.1:%d" % self.api, "--workers", str(workers)]
        self.file = None
        if file_yaml is not None:
            self.file = os.path.join(self.tmp, "dynamic.yaml")
            with open(self.file, "w") as f:
                f.write(file_yaml)
            args += ["--file", self.file]
        self.access_log = None
        if access_log:
            self.access_log = os.path.join(self.tmp, "access.log")
            args += ["--access-log", self.access_log]
        self.proc = Proc(args + list(extra), env=env)
        for p in (self.web, self.websecure, self.api):
            wait_port(p, proc=self.proc)
        wait_for(lambda: get(self.api, "/ping")[0] == 200, what="/ping 200")

    def write(self, fname, text):
        """Writes a manifest atomically (rename), as a ConfigMap volume update does."""
        tmp = os.path.join(self.dir, "." + fname + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.dir, fname))

    def remove(self, fname):
        os.unlink(os.path.join(self.dir, fname))

    def write_file(self, text):
        tmp = self.file + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.file)

    def api_json(self, path):
        status, headers, body = get(self.api, path)
        assert status == 200, "%s: %s %r" % (path, status, body[:300])
        return json.loads(body)

    def output(self):
        return self.proc.output()

    def stop(self):
        rc = self.proc.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def cpu_seconds(pid):
    """User + system CPU time of process pid so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def assert_stopped_cleanly(*proxies, fields_ignored=0):
    """Stops each proxy's process in turn (its files stay until Proxy.stop) and asserts
    exit status 0, no AddressSanitizer report, and no middleware field its parser did not
    read (the tests' configurations are valid ones, but for fields_ignored of them)."""
    for p in proxies:
        rc = p.proc.stop()
        out = p.output()
        assert rc == 0 and "AddressSanitizer" not in out, "exit %s\n%s" % (rc, out[-3000:])
        ignored = {ln for ln in out.splitlines() if '"middleware field ignored"' in ln}
        assert len({json.loads(ln)["field"] for ln in ignored}) == fields_ignored, ignored


def request(port, method="GET", path="/", host=None, headers=None, body=None, timeout=10.0, tls=None):
    """One request on a new connection. Returns (status, headers as a list of (name,
    value), body bytes); headers also readable with header(hs, name)."""
    if tls is not None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=tls)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or "127.0.0.1:%d" % port)
        for k, v in h.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return r.status, r.getheaders(), data
    finally:
        conn.close()


def keepalive_backends(port, host, path, n, timeout=10.0):
    """n GETs on ONE keep-alive connection (so one worker and its balancer state serve
    them all); returns the X-Backend of each answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        out = []
        for _ in range(n):
            conn.request("GET", path, headers={"Host": host})
            r = conn.getresponse()
            r.read()
            out.append(r.getheader("X-Backend"))
        return out
    finally:
        conn.close()


def get(port, path, host=None, headers=None, **kw):
    try:
        return request(port, "GET", path, host=host, headers=headers, **kw)
    except (OSError, http.client.HTTPException) as e:
        return None, [], str(e).encode()


def header(headers, name):
    """The first value of a header from a request() result, or None."""
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def headers_all(headers, name):
    return [v for k, v in headers if k.lower() == name.lower()]


def echo(body):
    """The hc_testd echo JSON of a proxied request."""
    return json.loads(body)


def wait_for(fn, timeout=10.0, what="condition", interval=0.1):
    """Polls fn until it returns a true value (returned); fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except Exception as e:  # the service may be restarting its listeners
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))


def routed_to(port, host, path, name, **kw):
    """True once host+path answers 200 from backend `name`."""
    status, hs, _ = get(port, path, host=host, **kw)
    return status == 200 and header(hs, "X-Backend") == name


def rss_kib(pid):
    """The resident set size of process pid in KiB (VmRSS), 0 when not found."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RawBackend(threading.Thread):
    """A hand-written backend on a free loopback port (.port), started on creation: each
    connection it accepts goes to self.serve(conn, timeout) on a thread of its own and is
    closed after (an OSError there ends it quietly); .conns counts them. Socket
    operations are bounded by timeout seconds; stop() closes the listener."""

    def __init__(self, timeout=60):
        super().__init__(daemon=True)
        self.timeout = timeout
        self.conns = 0
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.ls.settimeout(1.0)
        self.port = self.ls.getsockname()[1]
        self.start()

    def run(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:  # stop() closed the listener
                return
            self.conns += 1
            c.settimeout(self.timeout)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.serve(c)
        except OSError:
            pass
        finally:
            c.close()

    def serve(self, c):
        raise NotImplementedError

    def stop(self):
        self.ls.close()


def heads(c, limit=1000):
    """The request heads arriving on keep-alive socket c, in order, until it closes (at
    most limit; bodies are not read)."""
    buf = b""
    for _ in range(limit):
        head, buf = read_head(c, buf)
        if head is None:
            return
        yield head


def read_head(c, buf=b""):
    """The next request head on socket c, buf holding bytes already read: (head, the bytes
    after it), or (None, b"") when the peer closes first."""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return None, b""
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


class Responder(RawBackend):
    """A keep-alive backend: reads each request whole (a Content-Length or chunked body)
    and sends what self.answer(request) returns; a request is a dict of method, target,
    fields (lowercase names), body and the head as it came."""

    def serve(self, c):
        buf = b""
        for _ in range(1000):
            head, buf = read_head(c, buf)
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            fields = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
            body = b""
            if fields.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    while b"\r\n" not in buf:
                        buf += c.recv(65536)
                    size_line, _, buf = buf.partition(b"\r\n")
                    size = int(size_line.split(b";")[0], 16)
                    while len(buf) < size + 2:
                        buf += c.recv(65536)
                    body, buf = body + buf[:size], buf[size + 2:]
                    if size == 0:
                        break
            else:
                want = int(fields.get("content-length", "0"))
                while len(buf) < want:
                    buf += c.recv(65536)
                body, buf = buf[:want], buf[want:]
            c.sendall(self.answer({"method": method, "target": target, "fields": fields, "body": body,
                                   "head": head.decode("latin-1")}))

    def answer(self, request):
        raise NotImplementedError


class Recorder(Responder):
    """Records each request it gets in .seen and answers 200 "mirror"."""

    def __init__(self):
        self.seen = []
        super().__init__(timeout=10)

    def answer(self, request):
        self.seen.append(request)
        return b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nmirror"


class Sink(threading.Thread):
    """A backend on a free loopback port (.port) that reads one request body of
    Content-Length bytes and answers with the count; started on creation, each socket
    operation bounded by timeout seconds."""

    def __init__(self, timeout=120):
        super().__init__(daemon=True)
        self.timeout = timeout
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(4)
        self.ls.settimeout(timeout)
        self.port = self.ls.getsockname()[1]
        self.start()

    def run(self):
        try:
            c, _ = self.ls.accept()
        except OSError:
            return
        c.settimeout(self.timeout)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        want = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        got = len(rest)
        while got < want:
            d = c.recv(1 << 20)
            if not d:
                break
            got += len(d)
        body = b"%d" % got
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        c.close()
        self.ls.close()


def ws_open(port, host):
    """Opens a WebSocket to GET /ws on host through port (RFC 6455 section 4.1): asserts the
    101 answer carries the Sec-WebSocket-Accept for the key sent. Returns the socket."""
    key = base64.b64encode(os.urandom(16)).decode()
    s = connect(port)
    s.sendall(("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (host, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, head
        head += chunk
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    assert head.startswith(b"HTTP/1.1 101"), head
    assert accept in head, head
    return s
