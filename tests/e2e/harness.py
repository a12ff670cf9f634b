"""Shared helpers for hearth's end-to-end tests: TAP output, free ports, processes
started and stopped by their own PID, raw sockets. Python standard library only.

    from harness import Tap, Proc, free_port, wait_port, raw_request, binary
    t = Tap()

    @t.test
    def serves_fixed_response():
        ...assert...

    t.run()                 # or t.run(cleanup=teardown): stops what the tests started
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_dir():
    """The build being tested (tests/run.py sets HEARTH_BUILD; default build-asan)."""
    return os.path.join(ROOT, os.environ.get("HEARTH_BUILD", "build-asan"))


def binary(name):
    """Path of a built program: 'hearth' or a fixture under tests/."""
    if name == "hearth":
        return os.path.join(build_dir(), "hearth")
    return os.path.join(build_dir(), "tests", "e2e", name)


class Tap:
    """Runs the decorated test functions in order and prints TAP."""

    def __init__(self):
        self.tests = []

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def run(self, cleanup=None):
        """Runs every test, then cleanup() (also when interrupted), then stops any Proc a
        failed test left running, then exits 0 or 1."""
        try:
            failed = self._run_all()
        finally:
            try:
                if cleanup:
                    cleanup()
            finally:
                left = [p for p in _STARTED if p.poll() is None]
                for p in left:
                    print("# stopping %s (pid %d), left running" % (p.args[0], p.pid), flush=True)
                    p.stop()
        sys.exit(1 if failed else 0)

    def _run_all(self):
        print("1..%d" % len(self.tests), flush=True)
        failed = 0
        for i, fn in enumerate(self.tests, 1):
            start = time.monotonic()
            try:
                fn()
                print("ok %d - %s (%.2fs)" % (i, fn.__name__, time.monotonic() - start), flush=True)
            except Exception:
                failed += 1
                print("not ok %d - %s" % (i, fn.__name__), flush=True)
                for line in traceback.format_exc().splitlines():
                    print("# " + line, flush=True)
        return failed


_HANDED_OUT = set()


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port that was free a moment ago and that this process has not handed
    out before: the kernel can give a just-closed port again, and two listeners of one
    test given the same port would find each other instead of failing."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise AssertionError("no loopback port that was not handed out already")


_HELD = {}


def dead_port():
    """A loopback TCP port nothing listens on, held bound (without listening) until
    release_port: a connection to it is refused, and no other process (a parallel test
    job's free port) can start listening there meanwhile."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    _HANDED_OUT.add(port)
    _HELD[port] = s
    return port


def release_port(port):
    """Lets a dead_port be listened on (by the test's own late server)."""
    s = _HELD.pop(port, None)
    if s:
        s.close()


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Waits until a TCP connect to host:port succeeds; fails early if proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("process exited with %s before listening:\n%s" % (proc.poll(), proc.output()))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on %s:%d after %.0fs" % (host, port, timeout))


_STARTED = []  # every Proc of this program, for Tap.run's last stop


class Proc:
    """A child process with its output in a temporary file, stopped by its own PID."""

    def __init__(self, args, env=None, cwd=None):
        self.args = [str(a) for a in args]
        self.logfile = tempfile.NamedTemporaryFile(prefix="hearth-e2e-", suffix=".log", delete=False)
        full_env = dict(os.environ)
        full_env.setdefault("HEARTH_LOG_FORMAT", "json")
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        full_env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        if env:
            full_env.update(env)
        self.p = subprocess.Popen(self.args, stdout=self.logfile, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=full_env, cwd=cwd)
        _STARTED.append(self)

    @property
    def pid(self):
        return self.p.pid

    def poll(self):
        return self.p.poll()

    def output(self):
        with open(self.logfile.name, "r", errors="replace") as f:
            return f.read()

    def send_signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Sends sig and waits; kills after timeout. Returns the exit status."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        return self.p.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        try:
            os.unlink(self.logfile.name)
        except OSError:
            pass


def connect(port, host="127.0.0.1", timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_close(s, timeout=5.0, limit=1 << 24):
    """Reads until the peer closes (returns data, True) or timeout (data, False)."""
    s.settimeout(timeout)
    chunks, total = [], 0
    deadline = time.monotonic() + timeout
    while total < limit and time.monotonic() < deadline:
        try:
            b = s.recv(65536)
        except socket.timeout:
            return b"".join(chunks), False
        except ConnectionResetError:
            return b"".join(chunks), True
        if not b:
            return b"".join(chunks), True
        chunks.append(b)
        total += len(b)
    return b"".join(chunks), False


def raw_request(port, data, timeout=5.0):
    """Sends raw bytes on a new connection and returns (response bytes, closed_by_server)."""
    with connect(port, timeout=timeout) as s:
        s.sendall(data)
        return read_until_close(s, timeout)


def status_of(response):
    """The status code of the first response in raw bytes, or None."""
    try:
        line = response.split(b"\r\n", 1)[0]
        return int(line.split(b" ")[1])
    except (IndexError, ValueError):
        return None
