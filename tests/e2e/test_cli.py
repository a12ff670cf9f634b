"""The hearth command itself: help, version, `up` (state file, banner, SIGTERM exits 0,
the proxy with its dashboard at proxy.localhost, HTTPS for proxy.localhost from the local
CA that certs makes on the first start and reuses after) and `check` (table, exit status)
against a live fixture server and a dead port."""
import json
import os
import signal
import re
import socket
import subprocess
import tempfile
import time

from harness import Proc, Tap, binary, dead_port, free_port, raw_request, read_until_close, status_of, wait_port

t = Tap()
HEARTH = binary("hearth")


def run(*args, timeout=30, env=None):
    full_env = dict(os.environ, HEARTH_LOG_FORMAT="json")
    full_env.update(env or {})
    p = subprocess.run([HEARTH, *args], capture_output=True, text=True, timeout=timeout,
                       env=full_env, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def up_env():
    """Free loopback ports for the services `up` starts (their options' env variables),
    so a test never binds the fixed defaults."""
    return {"PROXY_WEB": "127.0.0.1:%d" % free_port(), "PROXY_WEBSECURE": "127.0.0.1:%d" % free_port(),
            "PROXY_API": "127.0.0.1:%d" % free_port(), "PROXY_WORKERS": "2",
            "CERTS_SOLVER": "127.0.0.1:%d" % free_port(), "CERTS_STATUS": "127.0.0.1:%d" % free_port(),
            "PORT": str(free_port()), "CAPTURE_HEP": "127.0.0.1:%d" % free_port(),
            "CAPTURE_HTTP": "127.0.0.1:%d" % free_port(),
            "AGENT_PROMETHEUS": "127.0.0.1:%d" % free_port()}


def check_all_healthy(data):
    """Runs `hearth check --data DATA` and asserts every service hearth.json lists is
    healthy (and that there is more than the proxy)."""
    with open(os.path.join(data, "hearth.json")) as f:
        n = len(json.load(f)["services"])
    code, out, _ = run("check", "--data", data)
    assert n >= 2 and code == 0 and "OK: %d of %d healthy" % (n, n) in out, out


def wait_state(up, data):
    """The parsed hearth.json once this `up` wrote it (its pid; within 10 s)."""
    state = os.path.join(data, "hearth.json")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert up.poll() is None, up.output()
        if os.path.exists(state):
            with open(state) as f:
                doc = json.load(f)
            if doc["pid"] == up.pid:
                return doc
        time.sleep(0.05)
    raise AssertionError("no hearth.json from pid %d\n%s" % (up.pid, up.output()))


def get(port, path, host):
    """(status, raw response) of a GET on 127.0.0.1:port with Connection: close."""
    raw, _ = raw_request(port, ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                                % (path, host)).encode())
    return status_of(raw), raw


@t.test
def help_lists_every_command():
    code, out, _ = run("--help")
    assert code == 0, code
    for cmd in ("up", "check", "version"):
        assert "\n  %s " % cmd in out, out


@t.test
def every_command_has_help():
    _, out, _ = run("--help")
    cmds = re.findall(r"^  ([a-z]+) ", out.split("commands:", 1)[1], re.M)
    assert len(cmds) >= 8, cmds
    for cmd in cmds:
        if cmd == "version":
            continue
        code, text, _ = run(cmd, "--help")
        assert code == 0 and text.startswith("Usage: hearth %s" % cmd), (cmd, code, text)
        for line in text.splitlines():
            assert not re.search(r"(\(\w+\)) \1", line), (cmd, line)


@t.test
def version_prints_semver():
    code, out, _ = run("version")
    assert code == 0 and out.startswith("hearth ") and out.count(".") == 2, out


@t.test
def unknown_command_is_a_usage_error():
    code, _, err = run("frobnicate")
    assert code == 2, code
    assert "unknown command 'frobnicate'" in err, err


@t.test
def up_help_names_option_env_and_default():
    code, out, _ = run("up", "--help")
    assert code == 0, code
    assert "--data" in out and "HEARTH_DATA" in out and "./var" in out, out


@t.test
def up_rejects_unknown_flag_with_suggestion():
    code, _, err = run("up", "--dat", "x")
    assert code == 2, code
    assert "--dat" in err and "--data" in err, err
    code, _, err = run("check", "--dat", "x")  # every command says where help is
    assert code == 2 and "--data" in err and "see `hearth check --help`" in err, (code, err)


@t.test
def a_stray_argument_is_a_usage_error():
    """A word where a flag was meant (a value after a boolean flag, a forgotten --) is
    refused, not ignored."""
    code, _, err = run("proxy", "extra-arg", "--web", "127.0.0.1:0", "--api", "")
    assert code == 2 and "unexpected argument extra-arg" in err, (code, err)


@t.test
def up_writes_state_prints_banner_and_drains_on_sigterm():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "var")
        with Proc([HEARTH, "up", "--data", data], env=up_env()) as up:
            doc = wait_state(up, data)
            assert doc["pid"] == up.pid, doc
            assert isinstance(doc["services"], list), doc
            for s in doc["services"]:
                assert s["health"].startswith("http"), s
            assert oct(os.stat(data).st_mode & 0o777) == "0o700"
            assert up.stop(signal.SIGTERM) == 0, up.output()
            out = up.output()
            assert "is up (data in %s)" % data in out, out
            assert '"msg":"stopping: draining in-flight work"' in out, out


@t.test
def up_runs_the_proxy_with_its_dashboard_at_proxy_localhost():
    env = up_env()
    web, api = (int(env[k].rsplit(":", 1)[1]) for k in ("PROXY_WEB", "PROXY_API"))
    env["PROXY_API"] = ":%d" % api  # as the default ":9000": under up, loopback only
    agent = free_port()
    env["AGENT_PROMETHEUS"] = ":%d" % agent  # as the default ":8090": the same
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "var")
        # a --file naming the guard of the localhost routes does not replace it
        env["PROXY_FILE"] = os.path.join(tmp, "dyn.yaml")
        with open(env["PROXY_FILE"], "w") as f:
            f.write("http:\n  middlewares:\n    hearth-localhost-only:\n"
                    "      ipAllowList: {sourceRange: [0.0.0.0/0]}\n")
        with Proc([HEARTH, "up", "--data", data], env=env) as up:
            doc = wait_state(up, data)
            proxy = [s for s in doc["services"] if s["name"] == "proxy"]
            assert proxy and proxy[0]["health"] == "http://127.0.0.1:%d/ping" % api, doc
            assert proxy[0]["url"] == "http://localhost:%d/dashboard/" % api, doc
            check_all_healthy(data)
            for port in (api, agent):  # LISTEN sockets on the port: 127.0.0.1 only
                with open("/proc/net/tcp") as f:
                    listening = [ln.split()[1] for ln in f.read().splitlines()[1:]
                                 if ln.split()[3] == "0A" and ln.split()[1].endswith(":%04X" % port)]
                assert listening == ["0100007F:%04X" % port], (port, listening)
            # proxy.localhost on the web entry point is the API: "/" -> the dashboard
            status, raw = get(web, "/", "proxy.localhost")
            assert status == 302 and b"\r\nLocation: /dashboard/\r\n" in raw, raw[:300]
            status, raw = get(web, "/dashboard/", "proxy.localhost:%d" % web)
            assert status == 200 and b"<html" in raw, raw[:300]
            status, raw = get(web, "/api/http/routers", "proxy.localhost")
            assert status == 200 and b'"proxy-localhost@file"' in raw, raw[:600]
            assert get(web, "/", "other.localhost")[0] == 404
            names = {s["name"] for s in doc["services"]}
            assert {"proxy", "certs", "analytics", "capture", "agent"} <= names, doc
            # every built-in service with a web side is <name>.localhost through the proxy
            for name in ("analytics", "capture"):
                status, raw = get(web, "/api/heartbeat", "%s.localhost" % name)
                assert status == 200 and b'"ok":true' in raw, (name, raw[:300])
            # each service's /metrics holds its own families (and the process's), though
            # they share one registry: a scrape per service would count each series thrice
            port_of = lambda k: int(env[k].rsplit(":", 1)[1])
            own = {"traefik_": api, "certmanager_": port_of("CERTS_STATUS"),
                   "hearth_capture_": port_of("CAPTURE_HTTP")}
            for prefix, port in own.items():
                status, raw = get(port, "/metrics", "127.0.0.1")
                names = set(re.findall(rb"^# TYPE ([a-z_]+)", raw, re.M))
                assert status == 200 and names, (prefix, raw[:300])
                assert all(n.startswith((prefix.encode(), b"process_")) for n in names), (prefix, names)
                assert b"process_resident_memory_bytes" in names, (prefix, names)
            # for this machine's clients only: the API has no authentication, and the
            # entry points may listen on every address
            other = [a for a in subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
                     if "." in a and not a.startswith("127.")]
            if other:  # a client from this host's own non-loopback address
                with socket.socket() as c:
                    c.bind((other[0], 0))
                    c.settimeout(5)
                    c.connect(("127.0.0.1", web))
                    c.sendall(b"GET /api/rawdata HTTP/1.1\r\nHost: proxy.localhost\r\nConnection: close\r\n\r\n")
                    raw = read_until_close(c, 5)[0]
                assert raw.startswith(b"HTTP/1.1 403 "), raw[:300]
            # SIGTERM: the proxy drains before the services behind it stop, so a request
            # it holds still reaches its service (their routes had gone at once: 404)
            with socket.socket() as c:
                c.settimeout(10)
                c.connect(("127.0.0.1", web))
                req = b"GET /api/heartbeat HTTP/1.1\r\nHost: analytics.localhost\r\nConnection: close\r\n\r\n"
                c.sendall(req[:30])
                time.sleep(1.0)  # read before the SIGTERM, even on a busy machine
                os.kill(up.pid, signal.SIGTERM)
                time.sleep(0.5)
                c.sendall(req[30:])
                raw = read_until_close(c, 10)[0]
            assert raw.startswith(b"HTTP/1.1 200 ") and b'"ok":true' in raw, raw[:300]
            assert up.p.wait(30) == 0, up.output()  # the one SIGTERM stops it all
            out = up.output()
            assert "http://localhost:%d/dashboard/" % api in out, out
            assert "http://proxy.localhost:%d/" % web in out, out


def curl_localhost(port, cafile):
    """curl's exit status and stderr for https://proxy.localhost:port/ trusting cafile."""
    p = subprocess.run(["curl", "-sS", "-o", os.devnull, "--max-time", "5", "--cacert", cafile,
                        "--resolve", "proxy.localhost:%d:127.0.0.1" % port,
                        "https://proxy.localhost:%d/" % port],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    return p.returncode, p.stderr


def up_until_https(data, env, port):
    """Starts `up` and waits (up to 15 s) until curl trusts proxy.localhost with ca.crt."""
    up = Proc([HEARTH, "up", "--data", data], env=env)
    wait_state(up, data)
    cafile = os.path.join(data, "ca.crt")
    deadline, result = time.monotonic() + 15, (None, "")
    while time.monotonic() < deadline:
        assert up.poll() is None, up.output()
        result = curl_localhost(port, cafile) if os.path.exists(cafile) else (None, "no ca.crt")
        if result[0] == 0:
            return up
        time.sleep(0.2)
    up.stop(signal.SIGTERM)
    raise AssertionError("no trusted HTTPS for proxy.localhost: %r\n%s" % (result, up.output()))


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


@t.test
def up_serves_localhost_https_from_a_local_ca_it_reuses():
    env = up_env()
    port = int(env["PROXY_WEBSECURE"].rsplit(":", 1)[1])
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "var")
        mdir = os.path.join(data, "manifests")
        leaf = os.path.join(mdir, "hearth-certs-default-hearth-localhost-tls.yaml")
        with up_until_https(data, env, port) as up:
            check_all_healthy(data)
            issuer = read_bytes(os.path.join(mdir, "hearth-local-ca-issuer.yaml")).decode()
            assert "kind: ClusterIssuer" in issuer and "name: hearth-local-ca" in issuer, issuer
            assert "secretName: hearth-local-ca" in issuer, issuer
            assert os.path.exists(os.path.join(mdir, "hearth-certs-cert-manager-hearth-local-ca.yaml"))
            ca, first_leaf = read_bytes(os.path.join(data, "ca.crt")), read_bytes(leaf)
            assert up.stop(signal.SIGTERM) == 0, up.output()
            out = up.output()
            assert "local CA certificate: %s/ca.crt" % data in out, out
            assert '"msg":"local CA created"' in out and '"msg":"issuing certificate"' in out, out
        # The second start reuses the CA and the certificate: nothing is made again.
        with up_until_https(data, env, port) as up:
            assert read_bytes(os.path.join(data, "ca.crt")) == ca
            assert read_bytes(leaf) == first_leaf
            check_all_healthy(data)
            assert up.stop(signal.SIGTERM) == 0, up.output()
            out = up.output()
            assert '"msg":"certificate ready"' in out, out
            assert "local CA created" not in out and "issuing certificate" not in out, out
            assert "local CA certificate: %s/ca.crt" % data in out, out


@t.test
def check_reports_healthy_and_failing_endpoints():
    port, dead = free_port(), dead_port()
    with Proc([binary("hc_testd"), "--listen", "127.0.0.1:%d" % port]) as srv:
        wait_port(port, proc=srv)
        ok_url = "http://127.0.0.1:%d/fixed" % port
        code, out, _ = run("check", ok_url)
        assert code == 0, out
        row = [l for l in out.splitlines() if ok_url in l][0]
        assert " 200 " in row and "ok" in row.split()[-1], row
        assert "OK: 1 of 1 healthy" in out, out

        dead_url = "http://127.0.0.1:%d/" % dead
        code, out, _ = run("check", "--timeout", "2s", ok_url, dead_url)
        assert code == 1, out
        row = [l for l in out.splitlines() if dead_url in l][0]
        assert "FAIL" in row and "refused" in row, row
        assert "FAIL: 1 of 2 healthy" in out, out


@t.test
def check_without_running_up_explains():
    with tempfile.TemporaryDirectory() as tmp:
        code, _, err = run("check", "--data", tmp)
        assert code == 1, code
        assert "no running `hearth up` found" in err and "hearth.json" in err, err


@t.test
def a_second_process_on_a_busy_port_fails_instead_of_sharing_it():
    # SO_REUSEPORT alone would let the second proxy take half of the first one's clients.
    port = free_port()
    args = ["proxy", "--web", "127.0.0.1:%d" % port, "--websecure", "", "--api", "", "--workers", "2"]
    with Proc([HEARTH] + args) as first:
        wait_port(port, proc=first)
        code, out, err = run(*args)
        assert code != 0, (code, out, err)
        assert '"error":"address already in use"' in out + err, out + err
        # each of the two workers fails to bind it: said once, not once per worker
        assert (out + err).count('"msg":"cannot listen"') == 1, out + err
        assert first.poll() is None, first.output()


t.run()
