"""hc_store end to end: the hc_storecheck fixture runs the same checks through the
storage interface against embedded SQLite and against a real PostgreSQL server
(tests/e2e/pg.py); the stored rows are then checked from the other side with the
database's own client (sqlite3 module, psql). Also a PostgreSQL outage in the middle
of a stream of writes: every acknowledged write must be stored afterwards."""
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time

from harness import Tap, binary
import pg

t = Tap()
ROWS = 10000 + 1000 + 1 + 2  # bursts + bulk copy + typed row + the good rows around errors


def run_check(url, *extra, timeout=240):
    """Runs hc_storecheck on url; fails unless it exits 0 with every TAP line ok."""
    env = dict(os.environ, HEARTH_LOG_FORMAT="json",
               ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    p = subprocess.run([binary("hc_storecheck"), url] + list(extra), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=env)
    out = p.stdout.decode(errors="replace")
    for line in out.splitlines():
        print("#   " + line, flush=True)
    bad = [line for line in out.splitlines() if line.startswith("not ok")]
    assert p.returncode == 0 and not bad and "ok 1 " in out, \
        "hc_storecheck exit %d:\n%s\n%s" % (p.returncode, out, p.stderr.decode(errors="replace")[-3000:])
    return out


@t.test
def sqlite_embedded():
    tmp = tempfile.mkdtemp(prefix="hearth-store-")
    try:
        path = os.path.join(tmp, "hearth.db")
        out = run_check("sqlite:" + path)
        assert "# sqlite" in out
        with open(path, "rb") as f:
            assert f.read(16) == b"SQLite format 3\x00"
        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert db.execute("SELECT count(*) FROM items").fetchone()[0] == ROWS
            row = db.execute("SELECT i, d, s, b FROM items WHERE k = -1").fetchone()
            assert row == (-2 ** 63, -2.5e-300, "caf\u00e9 \"quoted\" 'single' \\ back", b"\0a\0\xfe"), row
            assert db.execute("SELECT service, version FROM hearth_migrations ORDER BY version").fetchall() == \
                [("storecheck", 1), ("storecheck", 2)]
        finally:
            db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@t.test
def sqlite_url_forms_reuse_the_file():
    tmp = tempfile.mkdtemp(prefix="hearth-store-")
    try:
        path = os.path.join(tmp, "again.db")
        run_check("sqlite://" + path)
        # file: names the same database: migrations are found applied (the fixture's
        # "apply once" check then fails on purpose) and every key is refused
        p = subprocess.run([binary("hc_storecheck"), "file:" + path], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=240)
        lines = p.stdout.decode().splitlines()
        assert "ok 1 - open DATABASE_URL # sqlite" in lines, lines
        assert "not ok 2 - migrations apply once" in lines, lines
        db = sqlite3.connect(path)
        try:
            assert db.execute("SELECT count(*) FROM hearth_migrations").fetchone()[0] == 2
            assert db.execute("SELECT count(*) FROM items").fetchone()[0] == ROWS
        finally:
            db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@t.test
def postgresql_real_server():
    with pg.server() as srv:
        out = run_check(srv.url)
        assert "# postgresql" in out
        assert srv.psql("SELECT count(*) FROM items") == str(ROWS)
        assert srv.psql("SELECT i, d, s, encode(b, 'hex') FROM items WHERE k = -1") == \
            "-9223372036854775808|-2.5e-300|caf\u00e9 \"quoted\" 'single' \\ back|006100fe"
        assert srv.psql("SELECT count(*) FROM items WHERE k >= 100000 AND s LIKE 'copied%'") == "1000"
        assert srv.psql("SELECT service || ':' || version FROM hearth_migrations ORDER BY version") == \
            "storecheck:1\nstorecheck:2"
        # nothing of hearth's stays connected after close
        assert srv.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'hearth' "
                        "AND pid <> pg_backend_pid()") == "0"


@t.test
def postgresql_outage_loses_no_acknowledged_write():
    with pg.server() as srv:
        env = dict(os.environ, HEARTH_LOG_FORMAT="json")
        p = subprocess.Popen([binary("hc_storecheck"), srv.url, "--outage"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        try:
            line = p.stdout.readline() + p.stdout.readline()
            assert b"# writing" in line, line
            time.sleep(1.0)
            srv.stop()
            time.sleep(2.0)
            srv.start()
            out, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        text = out.decode(errors="replace")
        for l in text.splitlines():
            print("#   " + l, flush=True)
        assert p.returncode == 0 and "not ok" not in text, text + err.decode(errors="replace")[-3000:]
        assert b"writes kept queued" in err
        assert srv.psql("SELECT count(*) FROM items WHERE s = 'during outage'") == "3000"


@t.test
def unreachable_postgresql_fails_open():
    from harness import free_port
    port = free_port()
    p = subprocess.run([binary("hc_storecheck"), "postgresql://nobody:secret@127.0.0.1:%d/x" % port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode != 0
    assert b"not ok 1 - open DATABASE_URL" in p.stdout, p.stdout
    assert b"cannot connect to PostgreSQL" in p.stderr
    assert b"secret" not in p.stderr  # the password never reaches the log


t.run()
