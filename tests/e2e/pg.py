"""A throwaway PostgreSQL server for end-to-end tests, from Debian's server binaries
(/usr/lib/postgresql/*/bin). It lives in a temporary directory, listens only on
127.0.0.1 on a free port (unix socket in the same directory), trusts local users, and is
stopped with `pg_ctl stop -m fast` and removed when the block ends. As root (CI), every
server command runs as the `postgres` user through runuser. Standard library only.

    from pg import postgres, server, available
    with postgres() as url:         # postgresql://postgres@127.0.0.1:PORT/hearth
        ...
    with server() as srv:           # the same, with control over the server
        srv.url; srv.psql("SELECT 1")  # the real client, returns its output
        srv.stop(); srv.start()     # an outage, same port and data
"""
import contextlib
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile

from harness import free_port


def bindir():
    """The newest /usr/lib/postgresql/N/bin that holds initdb, or None."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None

    def major(path):
        m = re.search(r"/postgresql/(\d+)/", path)
        return int(m.group(1)) if m else 0

    return os.path.dirname(max(found, key=major))


def available():
    """True when the PostgreSQL server binaries are installed."""
    return bindir() is not None


class Server:
    """A running server: url, port, and helpers to query, stop and start it."""

    def __init__(self, tmp, port, dbname, timeout):
        self.bin = bindir()
        self.tmp = tmp
        self.data = os.path.join(tmp, "data")
        self.log = os.path.join(tmp, "server.log")
        self.port = port
        self.dbname = dbname
        self.timeout = timeout
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.url = "postgresql://postgres@127.0.0.1:%d/%s" % (port, dbname)

    def _run(self, args, check=True):
        p = subprocess.run(self.prefix + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=self.timeout + 30)
        out = p.stdout.decode(errors="replace")
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s\n%s" % (args[0], p.returncode, out, self.log_text()))
        return out

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def initdb(self):
        self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                   "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])

    def start(self):
        opts = "-c listen_addresses=127.0.0.1 -p %d -k %s" % (self.port, self.tmp)
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.log, "-w",
                   "-t", str(self.timeout), "-o", opts, "start"])

    def stop(self):
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                   "-t", str(self.timeout), "stop"], check=False)

    def restart(self):
        self.stop()
        self.start()

    def psql(self, sql, dbname=None):
        """Runs sql with the real psql client; returns unaligned, tuples-only output."""
        args = [os.path.join(self.bin, "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-A", "-t",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                "-d", dbname or self.dbname, "-c", sql]
        return self._run(args).strip()


@contextlib.contextmanager
def server(dbname="hearth", timeout=60):
    """Yields a started Server with an empty database dbname; always cleans up."""
    if not available():
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    tmp = tempfile.mkdtemp(prefix="hearth-pg-")
    server = Server(tmp, free_port(), dbname, timeout)
    started = False
    try:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
        server.initdb()
        server.start()
        started = True
        server.psql("CREATE DATABASE %s" % dbname, dbname="postgres")
        yield server
    finally:
        if started:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def postgres(dbname="hearth", timeout=60):
    """Yields the URL of a started server with an empty database dbname."""
    with server(dbname, timeout) as srv:
        yield srv.url
