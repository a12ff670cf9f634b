"""hearth analytics' rollup backfill over an existing SQLite database big enough to be read
in many chunks and flushed many times on the way (an_bench_db writes 40,000 events over
three days before hearth starts): once the backfill says it is done, the rollup-served
answers (whole UTC days) equal what the raw rows say: counts exactly, distinct sessions
exactly up to the sketches' exact size and within HyperLogLog's error beyond."""
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse

from analytics_env import Analytics, visit_stats, wait_for
from harness import Tap, binary

t = Tap()
S = {}
SITE = "94db1cb1-74f4-4a40-ad6c-962362670409"
EVENTS = 40000
DAYS = 3
DAY = 86400000
EXACT = 256  # ANALYTICS_SKETCH_EXACT


def close(got, want):
    """A distinct count as the sketches give it."""
    return got == want if want <= EXACT else abs(got - want) <= 0.05 * want


# ---- the model: what Umami's SQL says over the rows ----

def pageviews(start, end):
    return [r for r in S["rows"] if r["event_type"] == 1 and start <= r["created_at"] <= end]


def expect_stats(start, end):
    return visit_stats((r["session_id"], r["visit_id"], r["created_at"]) for r in pageviews(start, end))


def expect_metric(start, end, key):
    sessions = {}
    for r in pageviews(start, end):
        x = key(r, S["sessions"].get(r["session_id"]))
        if x:
            sessions.setdefault(x, set()).add(r["session_id"])
    return sorted((x, len(s)) for x, s in sessions.items())


def day_label(t_ms):
    return time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(t_ms // DAY * 86400))


def get(path, **params):
    status, _, body = S["an"].request(
        "GET", "/api/websites/%s%s?%s" % (SITE, path, urllib.parse.urlencode(params)),
        headers={"Authorization": "Bearer " + S["token"]})
    assert status == 200, (status, body)
    return body


def setup():
    url = "sqlite:%s/analytics.db" % S["tmp"]
    for args in (["schema", url, SITE], ["generate", url, SITE, str(EVENTS), str(DAYS)]):
        subprocess.run([binary("an_bench_db")] + args, check=True, capture_output=True,
                       timeout=300)
    db = sqlite3.connect("file:%s/analytics.db?mode=ro" % S["tmp"], uri=True)
    db.row_factory = sqlite3.Row
    S["rows"] = [dict(r) for r in db.execute("SELECT * FROM website_event")]
    S["sessions"] = {r["session_id"]: dict(r) for r in db.execute("SELECT * FROM session")}
    db.close()
    S["an"] = Analytics(S["tmp"], env={"HEARTH_LOG_LEVEL": "info"})
    wait_for(lambda: "analytics rollup backfill done" in S["an"].output(), timeout=300)
    S["token"] = S["an"].login()
    S["end"] = (int(time.time() * 1000) // DAY + 1) * DAY - 1  # today included
    # from the UTC day of the first row: the rows span DAYS days ending an hour ago, so
    # between 00:00 and 01:00 UTC they begin on the day before the last DAYS + 1, and a
    # visit straddling the range's start counts (analytics_rollup.h) outside the range
    S["start"] = min(r["created_at"] for r in S["rows"]) // DAY * DAY


@t.test
def backfill_counted_every_event():
    assert len(S["rows"]) == EVENTS, len(S["rows"])
    assert '"events":%d' % EVENTS in S["an"].output().split("analytics rollup backfill done")[1]


@t.test
def stats_equal_the_raw_rows():
    want = expect_stats(S["start"], S["end"])
    assert want["pageviews"] > EVENTS // 2, want
    body = get("/stats", startAt=S["start"], endAt=S["end"])
    visitors = want.pop("visitors")
    assert {k: body[k] for k in want} == want, (body, want)
    assert close(body["visitors"], visitors), (body, visitors)
    # each day alone (a visit across midnight counts on the day it started, where Umami's
    # SQL cuts it in two: visits, bounces and time are compared over whole visits above)
    for d in range((S["end"] + 1 - S["start"]) // DAY):
        s = S["start"] + d * DAY
        body = get("/stats", startAt=s, endAt=s + DAY - 1)
        want = expect_stats(s, s + DAY - 1)
        assert body["pageviews"] == want["pageviews"], (d, body, want)
        assert close(body["visitors"], want["visitors"]), (d, body, want)


@t.test
def pageviews_per_day_equal_the_raw_rows():
    body = get("/pageviews", startAt=S["start"], endAt=S["end"], unit="day", timezone="UTC")
    pv, se = {}, {}
    for r in pageviews(S["start"], S["end"]):
        x = day_label(r["created_at"])
        pv[x] = pv.get(x, 0) + 1
        se.setdefault(x, set()).add(r["session_id"])
    assert body["pageviews"] == [{"x": x, "y": pv[x]} for x in sorted(pv)], body["pageviews"]
    assert [d["x"] for d in body["sessions"]] == sorted(se), body["sessions"]
    for d in body["sessions"]:
        assert close(d["y"], len(se[d["x"]])), (d, len(se[d["x"]]))


@t.test
def metrics_equal_the_raw_rows():
    for kind, key in (("path", lambda r, s: r["url_path"]),
                      ("browser", lambda r, s: s and s["browser"])):
        body = get("/metrics", startAt=S["start"], endAt=S["end"], type=kind, limit=1000)
        got = sorted((d["x"], d["y"]) for d in body)
        want = expect_metric(S["start"], S["end"], key)
        assert [x for x, _ in got] == [x for x, _ in want], (kind, got[:5], want[:5])
        for (x, y), (_, n) in zip(got, want):
            assert close(y, n), (kind, x, y, n)


def teardown():
    if "an" in S:
        S["an"].stop()
    shutil.rmtree(S["tmp"], ignore_errors=True)


S["tmp"] = tempfile.mkdtemp(prefix="hearth-an-backfill-")
try:
    setup()
except Exception:
    teardown()
    raise
t.run(cleanup=teardown)
