"""End-to-end tests of hearth analytics' read API (issue 4): stats with the comparison
period, pageviews series, metrics, metrics/expanded, events, sessions, active and the CSV
export, answered from the rollups and from raw SQL alike.

(a) A real PostgreSQL loaded with Umami v3's tables and rows written the way Umami
    writes them (websites, sessions, visits, pageviews, named events across three days)
    BEFORE hearth starts: hearth backfills its rollups and every answer equals what the
    raw rows say (computed here from the rows inserted).
(b) SQLite filled through /api/send: the answers equal what the rows in the SQLite file
    say, and a send is visible to the very next read.
The API token comes from POST /api/auth/login with ADMIN_PASSWORD."""
import csv
import io
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

from analytics_env import visit_stats
from harness import Proc, Tap, binary, free_port, wait_port
import pg

t = Tap()
S = {}
PASSWORD = "read-api-secret"
UTC = timezone.utc
D0 = datetime(2026, 3, 2, tzinfo=UTC)  # first day of the synthetic history
DAY = 86400000
HOUR = 3600000
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36")


def ms(dt):
    return int(dt.timestamp() * 1000)


# ---- the model: what Umami's SQL says over a list of rows ----

def in_range(rows, site, start, end, etype=None):
    return [r for r in rows if r["website_id"] == site and start <= r["created_at"] <= end
            and (etype is None or r["event_type"] == etype)]


def expect_stats(rows, site, start, end, keep=lambda r: True):
    return visit_stats((r["session_id"], r["visit_id"], r["created_at"])
                       for r in in_range(rows, site, start, end, 1) if keep(r))


def expect_metric(rows, sessions, site, start, end, key, event=False, limit=500):
    ys = {}
    for r in in_range(rows, site, start, end, 2 if event else 1):
        x = key(r, sessions.get(r["session_id"]))
        if x in (None, ""):
            continue
        if event:
            ys[x] = ys.get(x, 0) + 1
        else:
            ys.setdefault(x, set()).add(r["session_id"])
    out = [{"x": x, "y": (y if event else len(y))} for x, y in ys.items()]
    out.sort(key=lambda d: (-d["y"], d["x"]))
    return out[:limit]


def channel_of(r):
    """Umami's channel of a pageview with no utm_medium (the model's rows have none)."""
    ref, query = r["referrer_domain"] or "", r["url_query"] or ""
    if not ref and not query:
        return "direct"
    if any(d in ref for d in ("baidu.com", "bing.com", "duckduckgo.com", "ecosia.org",
                              "google.", "msn.com", "search.brave.com", "yandex.")):
        return "organicSearch"
    if any(d in ref for d in ("news.ycombinator.com", "facebook.com", "reddit.", "t.co")):
        return "organicSocial"
    return ""


def expect_channels(rows, site, start, end):
    ys = {}
    for r in in_range(rows, site, start, end, 1):
        x = channel_of(r)
        if x:
            ys.setdefault(x, set()).add(r["session_id"])
    out = [{"x": x, "y": len(v)} for x, v in ys.items()]
    out.sort(key=lambda d: (-d["y"], d["x"]))
    return out


def expect_series(rows, site, start, end, bucket):
    pv, se = {}, {}
    for r in in_range(rows, site, start, end, 1):
        b = bucket(r["created_at"])
        pv[b] = pv.get(b, 0) + 1
        se.setdefault(b, set()).add(r["session_id"])
    xs = sorted(pv)
    return ([{"x": x, "y": pv[x]} for x in xs], [{"x": x, "y": len(se[x])} for x in xs])


def utc_hour_label(t_ms):
    return datetime.fromtimestamp(t_ms // HOUR * 3600, UTC).strftime("%Y-%m-%dT%H:00:00Z")


def utc_day_label(t_ms):
    return datetime.fromtimestamp(t_ms // DAY * 86400, UTC).strftime("%Y-%m-%dT00:00:00Z")


def utc_minute_label(t_ms):
    return datetime.fromtimestamp(t_ms // 60000 * 60, UTC).strftime("%Y-%m-%dT%H:%M:00Z")


def berlin_day_label(t_ms):
    # March 2026 before the 29th: Berlin is UTC+1
    return datetime.fromtimestamp(t_ms / 1000 + 3600, UTC).strftime("%Y-%m-%d 00:00:00")


def kolkata_day_label(t_ms):
    return datetime.fromtimestamp(t_ms / 1000 + 19800, UTC).strftime("%Y-%m-%d 00:00:00")


def iso_ms(t_ms):
    return datetime.fromtimestamp(t_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (t_ms % 1000)


def check_daterange(ctx):
    """/daterange: the first and last event of the website, as Umami's raw query gives
    them ({mindate, maxdate}); nulls for a website without events."""
    times = [r["created_at"] for r in ctx["rows"] if r["website_id"] == ctx["site"]]
    st, body, _ = api(ctx["port"], "/api/websites/%s/daterange" % ctx["site"], ctx["token"])
    assert st == 200 and body == {"mindate": iso_ms(min(times)), "maxdate": iso_ms(max(times))}, body
    st, empty, _ = api(ctx["port"], "/api/websites", ctx["token"], method="POST",
                       body={"name": "empty", "domain": "empty.test"})
    assert st == 200, empty
    st, body, _ = api(ctx["port"], "/api/websites/%s/daterange" % empty["id"], ctx["token"])
    assert st == 200 and body == {"mindate": None, "maxdate": None}, body
    st, body, _ = api(ctx["port"], "/api/websites/%s/daterange" % ctx["site"], None)
    assert st == 401, body


def check_session_stats(ctx, start, end):
    """/sessions/stats: the Sessions page's counters over the events whose session row
    exists (Umami joins session)."""
    sessions = ctx["sessions"]
    rows = [r for r in in_range(ctx["rows"], ctx["site"], start, end) if r["session_id"] in sessions]
    pv = [r for r in rows if r["event_type"] == 1]
    want = {"pageviews": len(pv), "visitors": len({r["session_id"] for r in pv}),
            "visits": len({r["visit_id"] for r in pv}),
            "countries": len({sessions[r["session_id"]]["country"] for r in pv} - {None}),
            "events": len([r for r in rows if r["event_type"] == 2])}
    st, body, _ = api(ctx["port"], "/api/websites/%s/sessions/stats" % ctx["site"], ctx["token"],
                      {"startAt": start, "endAt": end})
    assert st == 200 and body == {k: {"value": v} for k, v in want.items()}, (body, want)
    assert want["pageviews"] and want["events"], want


def check_series(ctx, start, end):
    """/pageviews against the raw rows: over the rollups (whole hours, whole-hour zones)
    and over raw SQL (an odd range, minutes, a half-hour zone)."""
    odd_start, odd_end = start + 17 * 60000 + 5, end - 3 * HOUR - 123
    # minutes: 50 of them (the finest unit Umami allows for up to an hour) around a view
    first = min(r["created_at"] for r in in_range(ctx["rows"], ctx["site"], start + DAY, end, 1))
    m_start, m_end = first - 20 * 60000 - 7, first + 30 * 60000
    for unit, tz, label, s, e in (("hour", "UTC", utc_hour_label, start, end),
                                  ("day", "UTC", utc_day_label, start, end),
                                  ("day", "Europe/Berlin", berlin_day_label, start, end),
                                  ("hour", "UTC", utc_hour_label, odd_start, odd_end),
                                  ("day", "UTC", utc_day_label, odd_start, odd_end),
                                  ("minute", "UTC", utc_minute_label, m_start, m_end),
                                  ("day", "Asia/Kolkata", kolkata_day_label, start, end)):
        st, body, _ = api(ctx["port"], "/api/websites/%s/pageviews" % ctx["site"], ctx["token"],
                          {"startAt": s, "endAt": e, "unit": unit, "timezone": tz})
        assert st == 200, (unit, tz, body)
        pv, se = expect_series(ctx["rows"], ctx["site"], s, e, label)
        assert pv, (unit, tz, "no pageviews in the range")
        assert body["pageviews"] == pv, (unit, tz, body["pageviews"][:3], pv[:3])
        assert body["sessions"] == se, (unit, tz)


# ---- the HTTP side ----

def api(port, path, token=None, params=None, method="GET", body=None, headers=None, raw=False):
    url = "http://127.0.0.1:%d%s" % (port, path)
    if params:
        url += "?" + urllib.parse.urlencode(params)
    h = {"accept": "application/json"}
    if token:
        h["authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["content-type"] = "application/json"
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            payload = r.read()
            return r.status, (payload if raw else json.loads(payload or b"null")), dict(r.headers)
    except urllib.error.HTTPError as e:
        payload = e.read()
        try:
            payload = json.loads(payload)
        except ValueError:
            pass
        return e.code, payload, dict(e.headers)


def login(port):
    st, body, _ = api(port, "/api/auth/login", method="POST",
                      body={"username": "admin", "password": PASSWORD})
    assert st == 200, (st, body)
    return body["token"]


def start_hearth(db_url, extra_env=None):
    port = free_port()
    env = {"DATABASE_URL": db_url, "ADMIN_PASSWORD": PASSWORD, "PORT": str(port),
           "HEARTH_LOG_LEVEL": "info"}
    env.update(extra_env or {})
    proc = Proc([binary("hearth"), "analytics", "--port", str(port)], env=env)
    wait_port(port, proc=proc, timeout=20)
    return proc, port


def wait_log(proc, text, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in proc.output():
            return
        assert proc.poll() is None, proc.output()[-4000:]
        time.sleep(0.1)
    raise AssertionError("no %r in the log after %ss:\n%s" % (text, timeout, proc.output()[-4000:]))


# ---- (a) PostgreSQL with Umami's rows ----

UMAMI_DDL = """
CREATE TABLE _prisma_migrations (id VARCHAR(36) PRIMARY KEY, checksum VARCHAR(64) NOT NULL,
  finished_at TIMESTAMPTZ, migration_name VARCHAR(255) NOT NULL, logs TEXT,
  rolled_back_at TIMESTAMPTZ, started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  applied_steps_count INTEGER NOT NULL DEFAULT 0);
CREATE TABLE website (website_id UUID PRIMARY KEY, name VARCHAR(100) NOT NULL,
  domain VARCHAR(500), share_id VARCHAR(50), reset_at TIMESTAMPTZ(6), user_id UUID,
  team_id UUID, created_by UUID, created_at TIMESTAMPTZ(6) DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMPTZ(6), deleted_at TIMESTAMPTZ(6));
CREATE TABLE session (session_id UUID PRIMARY KEY, website_id UUID NOT NULL,
  browser VARCHAR(20), os VARCHAR(20), device VARCHAR(20), screen VARCHAR(11),
  language VARCHAR(35), country CHAR(2), region VARCHAR(20), city VARCHAR(50),
  distinct_id VARCHAR(50), created_at TIMESTAMPTZ(6) DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE website_event (event_id UUID PRIMARY KEY, website_id UUID NOT NULL,
  session_id UUID NOT NULL, visit_id UUID NOT NULL,
  created_at TIMESTAMPTZ(6) DEFAULT CURRENT_TIMESTAMP, url_path VARCHAR(500) NOT NULL,
  url_query VARCHAR(500), utm_source VARCHAR(255), utm_medium VARCHAR(255),
  utm_campaign VARCHAR(255), utm_content VARCHAR(255), utm_term VARCHAR(255),
  referrer_path VARCHAR(500), referrer_query VARCHAR(500), referrer_domain VARCHAR(500),
  page_title VARCHAR(500), gclid VARCHAR(255), fbclid VARCHAR(255), msclkid VARCHAR(255),
  ttclid VARCHAR(255), li_fat_id VARCHAR(255), twclid VARCHAR(255),
  event_type INTEGER NOT NULL DEFAULT 1, event_name VARCHAR(50), tag VARCHAR(50),
  hostname VARCHAR(100));
CREATE INDEX website_event_website_id_created_at_idx ON website_event(website_id, created_at);
CREATE TABLE event_data (event_data_id UUID PRIMARY KEY, website_id UUID NOT NULL,
  website_event_id UUID NOT NULL, data_key VARCHAR(500) NOT NULL,
  string_value VARCHAR(500), number_value DECIMAL(19,4), date_value TIMESTAMPTZ(6),
  data_type INTEGER NOT NULL, created_at TIMESTAMPTZ(6) DEFAULT CURRENT_TIMESTAMP);
"""


def gen_history(seed=7):
    """Sessions, visits, pageviews and named events for two websites over three days."""
    rng = random.Random(seed)
    uid = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))
    sites = {"w1": (uid(), "example.com", 40), "w2": (uid(), "other.org", 10)}
    sessions, rows, data = {}, [], []
    paths = ["/", "/pricing", "/blog/a", "/blog/b", "/docs"]
    for key, (site, host, nsess) in sites.items():
        for _ in range(nsess):
            sid = uid()
            sessions[sid] = {
                "website_id": site, "browser": rng.choice(["chrome", "firefox", "safari"]),
                "os": rng.choice(["Linux", "Mac OS", "Windows 10"]),
                "device": rng.choice(["desktop", "mobile", "laptop"]),
                "screen": rng.choice(["1920x1080", "390x844"]),
                "language": rng.choice(["en-US", "de-DE", "fr"]),
                "country": rng.choice(["DE", "US", "FR"]), "region": None, "city": None,
                "created_at": None,
            }
            for _ in range(rng.randint(1, 3)):
                vid = uid()
                t0 = D0 + timedelta(days=rng.randint(0, 2), hours=rng.randint(0, 23),
                                    minutes=rng.randint(0, 40), seconds=rng.randint(0, 59))
                tcur = ms(t0)
                for i in range(rng.randint(1, 4)):
                    ref = rng.choice(["", "google.com", "news.ycombinator.com", host])
                    rows.append({
                        "event_id": uid(), "website_id": site, "session_id": sid, "visit_id": vid,
                        "created_at": tcur, "url_path": rng.choice(paths), "url_query": "",
                        "referrer_domain": ref, "page_title": "Title %d" % rng.randint(1, 3),
                        "event_type": 1, "event_name": None, "hostname": host,
                        "utm_source": rng.choice([None, None, "newsletter"]),
                    })
                    if rng.random() < 0.3:
                        ev = dict(rows[-1], event_id=uid(), event_type=2,
                                  event_name=rng.choice(["signup", "click-cta"]),
                                  created_at=tcur + 500)
                        rows.append(ev)
                        if rng.random() < 0.5:
                            data.append((uid(), site, ev["event_id"], "plan", "pro", ev["created_at"]))
                    tcur += rng.randint(10, 300) * 1000
                first = min(r["created_at"] for r in rows if r["session_id"] == sid)
                sessions[sid]["created_at"] = first
    # two visitors right now, for /active
    site = sites["w1"][0]
    now = int(time.time() * 1000)
    for sid in list(sessions)[:2]:
        rows.append({"event_id": uid(), "website_id": site, "session_id": sid, "visit_id": uid(),
                     "created_at": now - 60000, "url_path": "/live", "url_query": "",
                     "referrer_domain": "", "page_title": "Live", "event_type": 1,
                     "event_name": None, "hostname": "example.com", "utm_source": None})
    return sites, sessions, rows, data


def sql_str(v):
    if v is None:
        return "NULL"
    return "'" + str(v).replace("'", "''") + "'"


def sql_ts(t_ms):
    return "to_timestamp(%d / 1000.0)" % t_ms


def history_sql(sites, sessions, rows, data):
    out = [UMAMI_DDL]
    for key, (site, host, _) in sites.items():
        out.append("INSERT INTO website (website_id, name, domain) VALUES (%s, %s, %s);"
                   % (sql_str(site), sql_str(key), sql_str(host)))
    for sid, s in sessions.items():
        out.append("INSERT INTO session (session_id, website_id, browser, os, device, screen,"
                   " language, country, created_at) VALUES (%s);" % ", ".join([
                       sql_str(sid), sql_str(s["website_id"]), sql_str(s["browser"]),
                       sql_str(s["os"]), sql_str(s["device"]), sql_str(s["screen"]),
                       sql_str(s["language"]), sql_str(s["country"]), sql_ts(s["created_at"])]))
    for r in rows:
        out.append("INSERT INTO website_event (event_id, website_id, session_id, visit_id,"
                   " created_at, url_path, url_query, referrer_domain, page_title, event_type,"
                   " event_name, hostname, utm_source) VALUES (%s);" % ", ".join([
                       sql_str(r["event_id"]), sql_str(r["website_id"]), sql_str(r["session_id"]),
                       sql_str(r["visit_id"]), sql_ts(r["created_at"]), sql_str(r["url_path"]),
                       sql_str(r["url_query"]), sql_str(r["referrer_domain"]),
                       sql_str(r["page_title"]), str(r["event_type"]), sql_str(r["event_name"]),
                       sql_str(r["hostname"]), sql_str(r["utm_source"])]))
    for d in data:
        out.append("INSERT INTO event_data (event_data_id, website_id, website_event_id, data_key,"
                   " string_value, data_type, created_at) VALUES (%s, %s, %s, %s, %s, 1, %s);"
                   % (sql_str(d[0]), sql_str(d[1]), sql_str(d[2]), sql_str(d[3]), sql_str(d[4]),
                      sql_ts(d[5])))
    return "\n".join(out)


def setup_pg():
    if not pg.available():
        return False
    S["pgctx"] = pg.server(dbname="umami")
    srv = S["pgctx"].__enter__()
    S["pgsrv"] = srv
    sites, sessions, rows, data = gen_history()
    path = os.path.join(S["tmp"], "history.sql")
    with open(path, "w") as f:
        f.write(history_sql(sites, sessions, rows, data))
    os.chmod(S["tmp"], 0o755)
    os.chmod(path, 0o644)
    srv.psql("\\i " + path)
    # a third website with 2,600 events, 700 of them in the same microsecond: the export's
    # keyset pages (2,000 rows) must neither skip nor repeat a row
    w3 = str(uuid.UUID(int=3, version=4))
    srv.psql("INSERT INTO website (website_id, name, domain) VALUES ('%s', 'w3', 'bulk.test');"
             "INSERT INTO website_event (event_id, website_id, session_id, visit_id, created_at,"
             " url_path, event_type, hostname) SELECT md5(i::text)::uuid, '%s',"
             " md5('s' || (i %% 50))::uuid, md5('v' || (i %% 50))::uuid, %s + (CASE WHEN i < 700"
             " THEN 0 ELSE i END) * interval '1 second', '/bulk/' || (i %% 7), 1, 'bulk.test'"
             " FROM generate_series(0, 2599) i" % (w3, w3, sql_ts(ms(D0 + timedelta(hours=3)))))
    S["w3"] = w3
    count = srv.psql("SELECT count(*) FROM website_event WHERE website_id != '%s'" % w3).split()
    assert str(len(rows)) in count, count
    S["pg"] = {"sites": sites, "sessions": sessions, "rows": rows, "data": data, "url": srv.url}
    proc, port = start_hearth(srv.url)
    S["pg"].update(proc=proc, port=port)
    wait_log(proc, "analytics rollup backfill done")
    S["pg"]["token"] = login(port)
    return True


def check_store(ctx):
    """The read API over ctx's rows: rollup-eligible and raw-SQL ranges alike."""
    port, token, rows, sessions = ctx["port"], ctx["token"], ctx["rows"], ctx["sessions"]
    site = ctx["site"]
    start, end = ms(D0), ms(D0 + timedelta(days=3)) - 1  # whole days: rollups
    odd_start, odd_end = start + 17 * 60000 + 5, end - 3 * HOUR - 123  # raw SQL
    hr_start, hr_end = start + 5 * HOUR, end - 7 * HOUR  # whole hours, partial days
    base = "/api/websites/%s" % site
    compared = 0
    for s, e in ((start, end), (start + DAY, end), (hr_start, hr_end), (odd_start, odd_end)):
        st, body, _ = api(port, base + "/stats", token, {"startAt": s, "endAt": e})
        assert st == 200, body
        want = expect_stats(rows, site, s, e)
        got = {k: body[k] for k in want}
        assert got == want, (s, e, got, want)
        shift = (e - s + 30000) // 60000 * 60000
        cmp_want = expect_stats(rows, site, s - shift, e - shift)
        assert {k: body["comparison"][k] for k in cmp_want} == cmp_want, body["comparison"]
        compared += cmp_want["pageviews"]
    assert compared > 0  # some comparison period held data
    # a filtered query runs over the raw rows with the session joined
    st, body, _ = api(port, base + "/stats", token, {"startAt": start, "endAt": end,
                                                     "browser": "eq.firefox", "path": "c.blog"})
    assert st == 200, body
    want = expect_stats(rows, site, start, end, lambda r: sessions[r["session_id"]]["browser"]
                        == "firefox" and "blog" in r["url_path"])
    assert {k: body[k] for k in want} == want, (body, want)
    assert want["pageviews"] > 0
    check_regex_filters(ctx, start, end, "^/blog/[ab]$", "^/(blog|docs)")

    check_series(ctx, start, end)
    check_daterange(ctx)
    check_session_stats(ctx, start, end)

    # metrics: rolled-up types over whole days, the rest (and odd ranges) over raw rows
    keys = {
        "path": lambda r, s: r["url_path"],
        "referrer": lambda r, s: r["referrer_domain"] if r["referrer_domain"] != r["hostname"] else None,
        "title": lambda r, s: r["page_title"],
        "browser": lambda r, s: s and s["browser"],
        "os": lambda r, s: s and s["os"],
        "country": lambda r, s: s and s["country"],
        "language": lambda r, s: s and (s["language"] or "")[:2].lower(),
        "utmSource": lambda r, s: r["utm_source"],
        "hostname": lambda r, s: r["hostname"],
    }
    for typ, key in keys.items():
        for s, e in ((start, end), (hr_start, hr_end), (odd_start, odd_end)):
            st, body, _ = api(port, base + "/metrics", token, {"startAt": s, "endAt": e, "type": typ})
            assert st == 200, (typ, body)
            assert body == expect_metric(rows, sessions, site, s, e, key), (typ, s, body)
    # traffic channels (raw SQL on both stores): direct, organic search, organic social;
    # a self-referral is no channel
    for s, e in ((start, end), (odd_start, odd_end)):
        st, body, _ = api(port, base + "/metrics", token, {"startAt": s, "endAt": e,
                                                           "type": "channel"})
        assert st == 200, body
        want = expect_channels(rows, site, s, e)
        assert body == want, (body, want)
        assert {d["x"] for d in want} >= {"direct", "organicSearch", "organicSocial"}, want
    st, body, _ = api(port, base + "/metrics", token, {"startAt": start, "endAt": end,
                                                       "type": "event"})
    assert body == expect_metric(rows, sessions, site, start, end, lambda r, s: r["event_name"],
                                 event=True), body
    assert body and body[0]["y"] > 0
    st, body, _ = api(port, base + "/metrics", token, {"startAt": start, "endAt": end,
                                                       "type": "path", "limit": 2, "offset": 1})
    assert body == expect_metric(rows, sessions, site, start, end, keys["path"])[1:3], body
    # entry pages: the first pageview of each visit
    first = {}
    for r in in_range(rows, site, start, end, 1):
        if r["visit_id"] not in first or r["created_at"] < first[r["visit_id"]]["created_at"]:
            first[r["visit_id"]] = r
    want = {}
    for r in first.values():
        want.setdefault(r["url_path"], set()).add(r["session_id"])
    want = sorted(({"x": x, "y": len(v)} for x, v in want.items()), key=lambda d: (-d["y"], d["x"]))
    st, body, _ = api(port, base + "/metrics", token, {"startAt": start, "endAt": end, "type": "entry"})
    assert body == want, (body, want)
    st, body, _ = api(port, base + "/metrics", token, {"startAt": start, "endAt": end, "type": "url"})
    assert st == 400 and body["error"]["code"] == "bad-request", body

    # metrics/expanded: per path, the stats of its pageviews
    st, body, _ = api(port, base + "/metrics/expanded", token, {"startAt": start, "endAt": end,
                                                                "type": "path"})
    assert st == 200, body
    for item in body:
        want = expect_stats(rows, site, start, end, lambda r: r["url_path"] == item["name"])
        assert {k: item[k] for k in want} == want, (item, want)

    # events: paged, newest first, with the count of the whole range
    st, body, _ = api(port, base + "/events", token, {"startAt": start, "endAt": end,
                                                      "pageSize": 5, "page": 2})
    assert st == 200, body
    in_r = sorted(in_range(rows, site, start, end), key=lambda r: -r["created_at"])
    assert body["count"] == len(in_r) and body["page"] == 2 and body["pageSize"] == 5, body
    assert [d["id"] for d in body["data"]] == [r["event_id"] for r in in_r[5:10]], body["data"]
    assert body["data"][0]["websiteId"] == site and body["data"][0]["createdAt"].endswith("Z")

    # sessions: one row per session seen in the range
    st, body, _ = api(port, base + "/sessions", token, {"startAt": start, "endAt": end,
                                                        "pageSize": 100})
    assert st == 200, body
    seen = {r["session_id"] for r in in_range(rows, site, start, end)}
    assert body["count"] == len(seen) and {d["id"] for d in body["data"]} == seen, body["count"]
    one = body["data"][0]
    views = sum(1 for r in in_range(rows, site, start, end, 1) if r["session_id"] == one["id"])
    assert one["views"] == views and one["browser"] == sessions[one["id"]]["browser"], one

    # CSV export: a header and one row per event in the range
    st, raw, hdrs = api(port, base + "/export", token, {"startAt": start, "endAt": end}, raw=True)
    assert st == 200 and hdrs.get("Content-Type", "").startswith("text/csv"), hdrs
    table = list(csv.reader(io.StringIO(raw.decode())))
    assert table[0][:5] == ["event_id", "website_id", "session_id", "visit_id", "created_at"], table[0]
    assert sorted(r[0] for r in table[1:]) == sorted(r["event_id"] for r in in_range(rows, site, start, end))

    # errors: no token, a bad range
    st, body, _ = api(port, base + "/stats", None, {"startAt": start, "endAt": end})
    assert st == 401 and body["error"]["code"] == "unauthorized", body
    st, body, _ = api(port, base + "/stats", token, {"startAt": end, "endAt": start})
    assert st == 400, body
    st, body, _ = api(port, base + "/pageviews", token, {"startAt": start, "endAt": end,
                                                         "timezone": "Mars/Olympus"})
    assert st == 400, body


@t.test
def pg_umami_history_answers_exactly():
    if not S.get("pg_ok"):
        print("# skipped: no PostgreSQL server binaries")
        return
    ctx = dict(S["pg"], site=S["pg"]["sites"]["w1"][0])
    check_store(ctx)
    ctx2 = dict(S["pg"], site=S["pg"]["sites"]["w2"][0])
    st, body, _ = api(ctx2["port"], "/api/websites/%s/stats" % ctx2["site"], ctx2["token"],
                      {"startAt": ms(D0), "endAt": ms(D0 + timedelta(days=3)) - 1})
    assert body["pageviews"] == expect_stats(ctx2["rows"], ctx2["site"], ms(D0),
                                             ms(D0 + timedelta(days=3)) - 1)["pageviews"]


@t.test
def pg_export_pages_through_ties():
    if not S.get("pg_ok"):
        return
    p, w3 = S["pg"], S["w3"]
    st, raw, _ = api(p["port"], "/api/websites/%s/export" % w3, p["token"],
                     {"startAt": ms(D0), "endAt": ms(D0 + timedelta(days=1))}, raw=True)
    assert st == 200
    table = list(csv.reader(io.StringIO(raw.decode())))
    ids = [r[0] for r in table[1:]]
    want = S["pgsrv"].psql("SELECT event_id FROM website_event WHERE website_id = '%s'" % w3).split()
    assert len(ids) == len(set(ids)) == 2600 and set(ids) == set(want), (len(ids), len(set(ids)))
    # rows come in time order; every row has the header's 28 fields
    times = [r[4] for r in table[1:]]
    assert times == sorted(times) and all(len(r) == 28 for r in table), times[:3]


@t.test
def pg_active_counts_last_five_minutes():
    if not S.get("pg_ok"):
        return
    p = S["pg"]
    st, body, _ = api(p["port"], "/api/websites/%s/active" % p["sites"]["w1"][0], p["token"])
    assert st == 200 and body == {"visitors": 2}, body


@t.test
def pg_rollups_survive_restart_without_double_counting():
    if not S.get("pg_ok"):
        return
    p = S["pg"]
    assert p["proc"].stop() == 0, p["proc"].output()[-3000:]
    proc, port = start_hearth(p["url"])
    p.update(proc=proc, port=port)
    token = login(port)
    site = p["sites"]["w1"][0]
    s, e = ms(D0), ms(D0 + timedelta(days=3)) - 1
    st, body, _ = api(port, "/api/websites/%s/stats" % site, token, {"startAt": s, "endAt": e})
    want = expect_stats(p["rows"], site, s, e)
    assert {k: body[k] for k in want} == want, (body, want)
    assert "backfill starting" not in proc.output()
    # the dashboard's queries read the rollups, not website_event: with w2's raw rows gone
    # its unfiltered stats stay, while a filtered query (raw SQL) sees nothing
    srv_psql = S["pgsrv"].psql
    assert int(srv_psql("SELECT count(*) FROM analytics_rollup_hour")) > 0
    w2 = p["sites"]["w2"][0]
    _, before, _ = api(port, "/api/websites/%s/stats" % w2, token, {"startAt": s, "endAt": e})
    srv_psql("DELETE FROM website_event WHERE website_id = '%s'" % w2)
    _, after, _ = api(port, "/api/websites/%s/stats" % w2, token, {"startAt": s, "endAt": e})
    assert after["pageviews"] == before["pageviews"] > 0, (before, after)
    _, body, _ = api(port, "/api/websites/%s/metrics" % w2, token,
                     {"startAt": s, "endAt": e, "type": "path"})
    assert sum(d["y"] for d in body) > 0, body
    _, raw, _ = api(port, "/api/websites/%s/stats" % w2, token,
                    {"startAt": s, "endAt": e, "path": "neq./nowhere"})
    assert raw["pageviews"] == 0, raw


# ---- (b) SQLite through /api/send ----

def read_sqlite(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM website_event")]
    sessions = {r["session_id"]: dict(r) for r in db.execute("SELECT * FROM session")}
    db.close()
    return rows, sessions


def send(port, site, path, when, ip, name=None, referrer="", lang="en-US"):
    payload = {"website": site, "hostname": "shop.test", "url": "https://shop.test" + path,
               "referrer": referrer, "title": "T " + path, "language": lang,
               "screen": "1920x1080", "timestamp": when // 1000}
    if name:
        payload["name"] = name
    st, body, _ = api(port, "/api/send", method="POST", body={"type": "event", "payload": payload},
                      headers={"user-agent": UA, "x-forwarded-for": ip})
    assert st == 200 and "sessionId" in body, (st, body)


@t.test
def sqlite_sends_read_back_exactly():
    db = os.path.join(S["tmp"], "analytics.db")
    proc, port = start_hearth("sqlite:" + db)
    S["sqlite_proc"] = proc
    token = login(port)
    st, body, _ = api(port, "/api/websites", token, method="POST",
                      body={"name": "shop", "domain": "shop.test"})
    assert st == 200, (st, body)
    site = body["id"]
    rng = random.Random(11)
    for i in range(60):
        day, hour, minute = rng.randint(0, 2), rng.randint(0, 23), rng.randint(0, 50)
        when = ms(D0 + timedelta(days=day, hours=hour, minutes=minute))
        ip = "203.0.113.%d" % rng.randint(1, 12)
        path = rng.choice(["/", "/cart", "/item/1", "/item/2"])
        send(port, site, path, when, ip, referrer=rng.choice(["", "https://google.com/x"]),
             lang=rng.choice(["en-US", "de-DE"]))
        if rng.random() < 0.3:
            send(port, site, path, when + 1000, ip, name="add-to-cart")
    rows, sessions = read_sqlite(db)
    S["sqlite"] = {"db": db, "site": site}
    assert len([r for r in rows if r["event_type"] == 1]) == 60, len(rows)
    ctx = {"port": port, "token": token, "rows": rows, "sessions": sessions, "site": site}
    check_store_sqlite(ctx)
    # a send is visible to the next read (unflushed rollup cells are merged)
    s, e = ms(D0), ms(D0 + timedelta(days=3)) - 1
    _, before, _ = api(port, "/api/websites/%s/stats" % site, token, {"startAt": s, "endAt": e})
    send(port, site, "/fresh", ms(D0 + timedelta(days=1, hours=5)), "198.51.100.9")
    _, after, _ = api(port, "/api/websites/%s/stats" % site, token, {"startAt": s, "endAt": e})
    assert after["pageviews"] == before["pageviews"] + 1, (before, after)
    assert after["visitors"] == before["visitors"] + 1, (before, after)

    # a visit in progress across a restart stays one visit (no bounce counted twice); both
    # sends in one hour (close to its end, wait for the next)
    now = int(time.time() * 1000)
    if HOUR - now % HOUR < 10000:
        time.sleep((HOUR - now % HOUR) / 1000 + 0.1)
        now = int(time.time() * 1000)
    send(port, site, "/live1", now, "192.0.2.50")
    assert proc.stop() == 0, proc.output()[-3000:]
    assert "AddressSanitizer" not in proc.output() and "runtime error" not in proc.output()
    proc, port = start_hearth("sqlite:" + db)
    S["sqlite_proc"] = proc
    token = login(port)
    send(port, site, "/live2", now + 2000, "192.0.2.50")
    rows, _ = read_sqlite(db)
    hs = now // HOUR * HOUR
    want = expect_stats(rows, site, hs, hs + HOUR - 1)
    assert want["visits"] == 1 and want["bounces"] == 0, want
    _, got, _ = api(port, "/api/websites/%s/stats" % site, token, {"startAt": hs, "endAt": hs + HOUR - 1})
    assert {k: got[k] for k in want} == want, (got, want)
    assert proc.stop() == 0, proc.output()[-3000:]
    assert "AddressSanitizer" not in proc.output() and "runtime error" not in proc.output()


@t.test
def retention_deletes_old_rows_in_chunks():
    """--retain-days 30: the March history goes (events, their event_data, identify data,
    revenue, sessions left without events, rollup rows); today's visit stays."""
    db, site = S["sqlite"]["db"], S["sqlite"]["site"]
    rows, _ = read_sqlite(db)
    cut = int(time.time() * 1000) - 30 * DAY
    old = [r for r in rows if r["created_at"] < cut]
    kept = [r for r in rows if r["created_at"] >= cut]
    assert old and kept, (len(old), len(kept))
    # identify data and revenue rows, one old and one recent each, as hearth writes them
    con = sqlite3.connect(db)
    for i, when in enumerate((ms(D0), int(time.time() * 1000))):
        sid = old[0]["session_id"] if i == 0 else kept[0]["session_id"]
        con.execute("INSERT INTO session_data (session_data_id, website_id, session_id, data_key,"
                    " string_value, data_type, created_at) VALUES (?, ?, ?, 'email', ?, 1, ?)",
                    (str(uuid.uuid4()), site, sid, "u%d@example.com" % i, when))
        con.execute("INSERT INTO revenue (revenue_id, website_id, session_id, event_id, event_name,"
                    " currency, revenue, created_at) VALUES (?, ?, ?, ?, 'buy', 'EUR', 5, ?)",
                    (str(uuid.uuid4()), site, sid, str(uuid.uuid4()), when))
    con.commit()
    con.close()
    port = free_port()
    proc = Proc([binary("hearth"), "analytics", "--port", str(port), "--retain-days", "30"],
                env={"DATABASE_URL": "sqlite:" + db, "ADMIN_PASSWORD": PASSWORD})
    S["sqlite_proc"] = proc
    wait_port(port, proc=proc, timeout=20)
    wait_log(proc, "analytics retention done", timeout=30)
    after, sessions = read_sqlite(db)
    assert sorted(r["event_id"] for r in after) == sorted(r["event_id"] for r in kept)
    assert set(sessions) == {r["session_id"] for r in kept}, sessions.keys()
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    hours = [h for (h,) in con.execute("SELECT hour FROM analytics_rollup_hour")]
    days = con.execute("SELECT count(*) FROM analytics_rollup_day WHERE type < 100 AND day < ?",
                       (cut // DAY,)).fetchone()[0]
    data = con.execute("SELECT count(*) FROM event_data WHERE created_at < ?", (cut,)).fetchone()[0]
    identified = [v for (v,) in con.execute("SELECT string_value FROM session_data")]
    revenue = [c for (c,) in con.execute("SELECT created_at FROM revenue")]
    con.close()
    assert identified == ["u1@example.com"], identified
    assert len(revenue) == 1 and revenue[0] >= cut, revenue
    assert hours and min(hours) >= cut // HOUR and days == 0 and data == 0, (hours[:3], days, data)
    token = login(port)
    s, e = ms(D0), ms(D0 + timedelta(days=3)) - 1
    _, body, _ = api(port, "/api/websites/%s/stats" % site, token, {"startAt": s, "endAt": e})
    assert body["pageviews"] == 0, body
    assert proc.stop() == 0, proc.output()[-3000:]


def check_regex_filters(ctx, start, end, match, skip):
    """re./nre. filters count the same rows as Python's re over the generated paths."""
    port, token, rows, site = ctx["port"], ctx["token"], ctx["rows"], ctx["site"]
    for value, keep in (("re." + match, lambda r: re.search(match, r["url_path"])),
                        ("nre." + skip, lambda r: not re.search(skip, r["url_path"]))):
        st, body, _ = api(port, "/api/websites/%s/stats" % site, token,
                          {"startAt": start, "endAt": end, "path": value})
        want = expect_stats(rows, site, start, end, keep)
        assert st == 200 and {k: body[k] for k in want} == want, (value, body, want)
        assert 0 < want["pageviews"] < expect_stats(rows, site, start, end)["pageviews"], value


def check_store_sqlite(ctx):
    port, token, rows, sessions, site = (ctx["port"], ctx["token"], ctx["rows"], ctx["sessions"],
                                         ctx["site"])
    start, end = ms(D0), ms(D0 + timedelta(days=3)) - 1
    base = "/api/websites/%s" % site
    for s, e in ((start, end), (start + 61000, end - 7 * HOUR - 5),
                 (start + 3 * HOUR, end - 20 * HOUR)):
        st, body, _ = api(port, base + "/stats", token, {"startAt": s, "endAt": e})
        assert st == 200, body
        want = expect_stats(rows, site, s, e)
        assert {k: body[k] for k in want} == want, (s, e, body, want)
        st, body, _ = api(port, base + "/metrics", token, {"startAt": s, "endAt": e, "type": "path"})
        assert body == expect_metric(rows, sessions, site, s, e, lambda r, x: r["url_path"]), body
        st, body, _ = api(port, base + "/metrics", token, {"startAt": s, "endAt": e, "type": "referrer"})
        assert body == expect_metric(rows, sessions, site, s, e, lambda r, x: r["referrer_domain"]
                                     if r["referrer_domain"] != r["hostname"] else None), body
        st, body, _ = api(port, base + "/metrics", token, {"startAt": s, "endAt": e, "type": "event"})
        assert body == expect_metric(rows, sessions, site, s, e, lambda r, x: r["event_name"],
                                     event=True), body
    st, body, _ = api(port, base + "/metrics", token, {"startAt": start, "endAt": end,
                                                       "type": "channel"})
    want = expect_channels(rows, site, start, end)
    assert body == want and {d["x"] for d in want} == {"direct", "organicSearch"}, (body, want)
    st, body, _ = api(port, base + "/metrics/expanded", token, {"startAt": start, "endAt": end,
                                                                "type": "channel"})
    assert st == 200 and [d["name"] for d in body] != [] and \
        sorted(d["name"] for d in body) == sorted(d["x"] for d in want), body
    for item in body:
        w = expect_stats(rows, site, start, end, lambda r: channel_of(r) == item["name"])
        assert {k: item[k] for k in w} == w, (item, w)
    check_series(ctx, start, end)
    check_daterange(ctx)
    check_session_stats(ctx, start, end)
    check_regex_filters(ctx, start, end, "^/item/[0-9]+$", "^/(cart|item/2)")
    st, body, _ = api(port, base + "/stats", token, {"startAt": start, "endAt": end,
                                                     "path": "re.(unclosed"})
    assert st == 400 and body["error"]["message"] == "Invalid regular expression", body
    # the website id in the path is case-insensitive, as PostgreSQL's uuid type reads it
    upper = "/api/websites/%s" % site.upper()
    st, body, _ = api(port, upper + "/stats", token, {"startAt": start, "endAt": end})
    want = expect_stats(rows, site, start, end)
    assert st == 200 and {k: body[k] for k in want} == want and want["pageviews"] > 0, (body, want)
    st, body, _ = api(port, upper + "/metrics", token, {"startAt": start, "endAt": end, "type": "path"})
    assert st == 200 and body == expect_metric(rows, sessions, site, start, end,
                                               lambda r, x: r["url_path"]), body


def teardown():
    for key in ("sqlite_proc",):
        if S.get(key):
            S[key].stop()
    if S.get("pg", {}).get("proc"):
        S["pg"]["proc"].stop()
    if S.get("pgctx"):
        S["pgctx"].__exit__(None, None, None)
    shutil.rmtree(S["tmp"], ignore_errors=True)


S["tmp"] = tempfile.mkdtemp(prefix="hearth-an-read-")
try:
    S["pg_ok"] = setup_pg()
except Exception:
    teardown()
    raise
t.run(cleanup=teardown)
