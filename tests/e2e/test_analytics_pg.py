"""hearth analytics on a real PostgreSQL server (tests/e2e/pg.py), end to end: the schema
hearth creates is Umami v3's (checked through information_schema with psql), sends land
in website_event and session, an existing Umami database (its _prisma_migrations and its
own admin) is used as it is, and a PostgreSQL outage of about two seconds makes sends wait
and then succeed or get 503, with every acknowledged event stored afterwards."""
import shutil
import signal
import tempfile
import threading
import time
import uuid

from harness import Tap
from analytics_env import Analytics, rollup_and_raw, send_burst, wait_for, wait_replayed
import pg

t = Tap()
CTX = {}

UMAMI_ADMIN_HASH = "$2b$10$BUli0c.muyCW1ErNJc3jL.vFRFtFJWrT8/GcR4A.sUdCznaXiqFXa"  # "umami"


def setup():
    CTX["srv_cm"] = pg.server()
    CTX["srv"] = CTX["srv_cm"].__enter__()
    CTX["tmp"] = tempfile.mkdtemp(prefix="hearth-analytics-pg-")
    CTX["an"] = Analytics(CTX["tmp"], env={"DATABASE_URL": CTX["srv"].url, "APP_SECRET": "pg-e2e"})


def psql(sql, db=None):
    return CTX["srv"].psql(sql, dbname=db)


@t.test
def schema_matches_umami():
    if "an" not in CTX:
        setup()
    cols = dict(line.split("|", 1) for line in psql(
        "SELECT column_name, data_type || COALESCE('(' || character_maximum_length || ')', '') "
        "FROM information_schema.columns WHERE table_name = 'website_event'").splitlines())
    expect = {"event_id": "uuid", "website_id": "uuid", "session_id": "uuid", "visit_id": "uuid",
              "created_at": "timestamp with time zone", "url_path": "character varying(500)",
              "url_query": "character varying(500)", "utm_source": "character varying(255)",
              "referrer_domain": "character varying(500)", "page_title": "character varying(500)",
              "li_fat_id": "character varying(255)", "event_type": "integer",
              "event_name": "character varying(50)", "tag": "character varying(50)",
              "hostname": "character varying(100)"}
    for k, v in expect.items():
        assert cols.get(k) == v, (k, cols.get(k))
    assert len(cols) == 26, sorted(cols)
    tables = set(psql("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                      "'public'").splitlines())
    for name in ("user", "session", "website", "website_event", "event_data", "session_data",
                 "team", "team_user", "report", "segment", "revenue", "share", "link", "pixel"):
        assert name in tables, (name, tables)
    assert psql("SELECT data_type FROM information_schema.columns WHERE table_name = 'event_data' "
                "AND column_name = 'number_value'") == "numeric"
    assert psql("SELECT numeric_precision || ',' || numeric_scale FROM information_schema.columns "
                "WHERE table_name = 'revenue' AND column_name = 'revenue'") == "19,4"
    assert psql("SELECT data_type FROM information_schema.columns WHERE table_name = 'session' "
                "AND column_name = 'country'") == "character"
    idx = psql("SELECT indexname FROM pg_indexes WHERE tablename = 'website_event'").splitlines()
    assert "website_event_website_id_created_at_idx" in idx, idx
    assert "website_event_website_id_session_id_created_at_idx" in idx, idx


@t.test
def heartbeat_and_sends_land_in_postgres():
    an = CTX["an"]
    status, _, body = an.request("GET", "/api/heartbeat")
    assert status == 200 and body == {"ok": True}
    token = an.login()
    w = an.create_website(token, "PG", "pg.example")
    CTX["site"] = w["id"]
    status, _, body = an.send(w["id"], url="https://pg.example/a?utm_medium=mail", title="A",
                              name="click", data={"n": 3, "when": "2026-05-17T12:34:56.000Z"})
    assert status == 200, body
    row = psql("SELECT url_path || '|' || url_query || '|' || utm_medium || '|' || event_type || "
               "'|' || session_id FROM website_event WHERE website_id = '%s'" % w["id"])
    assert row == "/a|utm_medium=mail|mail|2|%s" % body["sessionId"], row
    assert psql("SELECT browser FROM session WHERE session_id = '%s'" % body["sessionId"]) == "chrome"
    data = psql("SELECT data_key || '=' || data_type || ':' || COALESCE(number_value::text, '') "
                "|| ':' || COALESCE(to_char(date_value AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '') "
                "FROM event_data ORDER BY data_key").splitlines()
    assert data == ["n=2:3.0000:", "when=4::2026-05-17 12:34:56"], data
    age = float(psql("SELECT EXTRACT(EPOCH FROM now() - created_at) FROM website_event "
                     "WHERE website_id = '%s'" % w["id"]))
    assert -5 < age < 60, age
    status, _, body = an.request("GET", "/api/websites/" + w["id"],
                                 headers={"Authorization": "Bearer " + token})
    assert status == 200 and body["name"] == "PG" and body["createdAt"].endswith("Z"), body


@t.test
def outage_waits_then_succeeds_or_503_and_loses_nothing():
    an, srv, wid = CTX["an"], CTX["srv"], CTX["site"]
    results, lock, stop = [], threading.Lock(), threading.Event()

    def sender(n):
        c = an.conn(timeout=30)
        i = 0
        while not stop.is_set():
            path = "/o/%d/%d" % (n, i)
            i += 1
            began = time.monotonic()
            try:
                status, _, _ = an.send(wid, url=path, conn=c)
            except Exception:  # connection trouble: count it as unacknowledged
                c.close()
                c = an.conn(timeout=30)
                continue
            with lock:
                results.append((path, status, time.monotonic() - began))
            time.sleep(0.02)
        c.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    time.sleep(0.5)
    srv.stop()
    time.sleep(2.0)
    srv.start()
    time.sleep(2.0)
    stop.set()
    for th in threads:
        th.join(40)
    statuses = set(s for _, s, _ in results)
    assert statuses <= {200, 503}, statuses
    acked = [p for p, s, _ in results if s == 200]
    longest = max(d for _, _, d in results)
    assert longest > 1.0, "no send waited for the database (longest %.2fs)" % longest
    stored = set(psql("SELECT url_path FROM website_event WHERE url_path LIKE '/o/%%'").splitlines())
    missing = [p for p in acked if p not in stored]
    print("# %d sends, %d acknowledged, %d stored, longest wait %.2fs" % (
        len(results), len(acked), len(stored), longest))
    assert len(acked) > 20 and not missing, (len(acked), missing[:3])
    status, _, _ = an.send(wid, url="/after-outage")
    assert status == 200


@t.test
def backfill_vacuums_the_rollup_tables_before_its_mark():
    # the done mark is written once both rollup tables were vacuumed and analyzed
    wait_for(lambda: psql("SELECT value FROM analytics_rollup_state "
                          "WHERE name = 'backfill_done'") == "1", timeout=30)
    got = psql("SELECT relname || ':' || (last_vacuum IS NOT NULL) || (last_analyze IS NOT NULL) "
               "FROM pg_stat_user_tables WHERE relname LIKE 'analytics_rollup_%' "
               "AND relname <> 'analytics_rollup_state' ORDER BY relname").splitlines()
    assert got == ["analytics_rollup_day:truetrue", "analytics_rollup_hour:truetrue"], got
    assert "analytics rollup tables vacuumed after the backfill" in CTX["an"].output()


@t.test
def existing_umami_database_is_used_as_is():
    srv = CTX["srv"]
    psql("CREATE DATABASE umami", db="postgres")
    admin = str(uuid.uuid4())
    psql('CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, migration_name varchar(255));'
         'CREATE TABLE "user" (user_id uuid PRIMARY KEY, username varchar(255) NOT NULL UNIQUE, '
         'password varchar(60) NOT NULL, role varchar(50) NOT NULL, logo_url varchar(2183), '
         'display_name varchar(255), created_at timestamptz(6) DEFAULT CURRENT_TIMESTAMP, '
         'updated_at timestamptz(6), deleted_at timestamptz(6));'
         "INSERT INTO \"user\" (user_id, username, password, role) VALUES ('%s', 'admin', '%s', "
         "'admin')" % (admin, UMAMI_ADMIN_HASH), db="umami")
    url = srv.url.rsplit("/", 1)[0] + "/umami"
    tmp = tempfile.mkdtemp(prefix="hearth-analytics-umami-")
    try:
        with Analytics(tmp, env={"DATABASE_URL": url, "ADMIN_PASSWORD": "not-used"}) as an:
            status, _, body = an.request("POST", "/api/auth/login",
                                         {"username": "admin", "password": "umami"})
            assert status == 200 and body["user"]["id"] == admin, (status, body)
            status, _, _ = an.request("POST", "/api/auth/login",
                                      {"username": "admin", "password": "not-used"})
            assert status == 401
            assert psql('SELECT count(*) FROM "user"', db="umami") == "1"
            assert psql("SELECT count(*) FROM _prisma_migrations", db="umami") == "0"
            code = an.stop()
            assert code == 0, an.output()[-3000:]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@t.test
def kill_9_then_restart_counts_each_event_once():
    """The rollups after kill -9 (analytics_rollup.h): the next start replays what the
    killed process committed but did not flush, and only that (on PostgreSQL when told
    one process writes the database: replicas would count each other's events)."""
    psql("CREATE DATABASE crash", db="postgres")
    tmp = tempfile.mkdtemp(prefix="hearth-analytics-pg-crash-")
    env = {"DATABASE_URL": CTX["srv"].url.rsplit("/", 1)[0] + "/crash", "APP_SECRET": "pg-crash",
           "HEARTH_LOG_LEVEL": "info", "ANALYTICS_ROLLUP_REPLAY": "on"}
    t0 = int(time.time() * 1000)
    try:
        an = Analytics(tmp, env=env)
        token = an.login()
        wid = an.create_website(token, "Crash", "crash.example")["id"]
        send_burst(an, wid, 150, "a")
        assert an.stop() == 0, an.output()[-3000:]
        an = Analytics(tmp, env=dict(env, ANALYTICS_ROLLUP_FLUSH="1h"))  # never flushes
        send_burst(an, wid, 150, "b")
        assert an.stop(signal.SIGKILL) == -9
        an = Analytics(tmp, env=dict(env, ANALYTICS_ROLLUP_FLUSH="100ms"))
        for sent in (300, 600, 600):
            wait_replayed(an)
            rollup, raw, series = rollup_and_raw(an, token, wid, t0)
            assert raw["pageviews"] == sent and rollup == raw and series == sent, (
                sent, rollup, raw, series, an.output()[-2000:])
            if sent == 300:  # flushed in part, then killed
                send_burst(an, wid, 300, "c")
                assert an.stop(signal.SIGKILL) == -9
            else:  # a clean restart counts nothing twice
                assert an.stop() == 0, an.output()[-3000:]
            an = Analytics(tmp, env=env)
        assert an.stop() == 0, an.output()[-3000:]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@t.test
def stops_cleanly():
    an = CTX["an"]
    code = an.stop()
    out = an.output()
    assert code == 0 and "Sanitizer" not in out, "exit %s\n%s" % (code, out[-4000:])


def teardown():
    if "an" in CTX:
        CTX["an"].__exit__(None, None, None)
    if "srv_cm" in CTX:
        CTX["srv_cm"].__exit__(None, None, None)
    if "tmp" in CTX:
        shutil.rmtree(CTX["tmp"], ignore_errors=True)


t.run(cleanup=teardown)
