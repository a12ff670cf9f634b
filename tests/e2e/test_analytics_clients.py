"""End-to-end test of `hearth analytics` with Umami's own npm clients (issue 4): @umami/node
sends pageviews, named events with data and an identify as three visitors, and
@umami/api-client 0.81 logs in, creates the website and reads it all back (websites,
stats, pageviews, metrics, active, session stats, date range); a bad token and a bad
password are UmamiApiError 401.
The node side is tests/e2e/analytics_clients.mjs; this file starts hearth on SQLite,
runs it, and checks the rows it left in the database file.

Also the helpers test_analytics_browser.py uses: start()/close() (analytics_env.Analytics
with its own temporary folder), rows() on its SQLite file, log_errors() and node()."""
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile

from analytics_env import ADMIN_PASSWORD, Analytics
from harness import ROOT, Tap


def start():
    """`hearth analytics` on a free port with its SQLite file in a new temporary folder."""
    tmp = tempfile.mkdtemp(prefix="hearth-analytics-e2e-")
    an = Analytics(tmp, env={"APP_SECRET": "e2e-secret"})
    an.tmp = tmp
    return an


def close(an):
    an.proc.stop()
    shutil.rmtree(an.tmp, ignore_errors=True)


def rows(an, sql, args=()):
    """Rows of a query on hearth's SQLite file (WAL: readable while hearth runs)."""
    con = sqlite3.connect("file:%s?mode=ro" % an.db_path, uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def log_errors(an, limit=20):
    """hearth's error lines so far, for assertion messages."""
    lines = [ln for ln in an.output().splitlines() if '"level":"error"' in ln or "ERROR" in ln]
    return "\n".join(lines[-limit:])


def node(script, args, timeout=90):
    """Runs tests/e2e/<script> with node; returns its one JSON line (ok, problems, ...)."""
    assert os.path.isdir(os.path.join(ROOT, "node_modules", "@umami")), "run npm ci (make test does)"
    r = subprocess.run(["node", os.path.join(ROOT, "tests", "e2e", script)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert lines, "no JSON from %s (exit %d):\n%s\n%s" % (script, r.returncode, r.stdout, r.stderr)
    out = json.loads(lines[-1])
    out["exit"] = r.returncode
    out["stderr"] = r.stderr
    return out


t = Tap()
S = {}


def result():
    if "result" not in S:
        if "an" not in S:  # a failed node run is not a reason for another hearth
            S["an"] = start()
        base = "http://127.0.0.1:%d" % S["an"].port
        S["result"] = node("analytics_clients.mjs", ["--base", base, "--password", ADMIN_PASSWORD])
    return S["result"]


KNOWN = ("login", "createWebsite", "chrome", "firefox", "safari", "api-client send", "stats.", "pageviews",
         "sessions", "active", "path metrics", "event metrics", "browser metrics", "os metrics", "referrer metrics",
         "query metrics", "listWebsites", "getWebsite", "bad token", "no token", "bad password", "daterange")


def problems(prefixes):
    """The node script's problems whose text starts with one of prefixes, and any it could
    not classify (an exception that stopped the script fails every test)."""
    found = [p for p in result()["problems"] if p.startswith(tuple(prefixes)) or not p.startswith(KNOWN)]
    return found + (["hearth errors:\n" + log_errors(S["an"])] if found else [])


@t.test
def node_client_sends_are_acknowledged():
    r = result()
    bad = problems(("login", "createWebsite", "chrome", "firefox", "safari", "api-client send"))
    assert not bad, "\n".join(bad) + "\n" + r.get("stderr", "")
    assert r.get("websiteId"), r


@t.test
def api_client_stats_match_what_was_sent():
    bad = problems(("stats.", "pageviews", "sessions", "active", "daterange"))
    assert not bad, "\n".join(bad)
    s = result()["stats"]
    assert (s["pageviews"], s["visitors"]) == (4, 3), s


@t.test
def api_client_metrics_match_what_was_sent():
    bad = problems(("path metrics", "event metrics", "browser metrics", "os metrics", "referrer metrics", "query metrics"))
    assert not bad, "\n".join(bad)


@t.test
def api_client_websites_and_errors():
    bad = problems(("listWebsites", "getWebsite", "bad token", "no token", "bad password"))
    assert not bad, "\n".join(bad)
    assert result()["ok"], result()["problems"]


@t.test
def rows_in_the_database():
    an, wid = S["an"], result()["websiteId"]
    views = rows(an, "SELECT url_path, url_query, referrer_domain, hostname, page_title FROM website_event "
                    "WHERE website_id = ? AND event_type = 1 ORDER BY url_path", (wid,))
    views = sorted((tuple(v or None for v in row) for row in views), key=repr)  # "" and NULL alike
    assert views == [("/", None, "google.com", "shop.example.com", "Home"),
                     ("/", None, "news.ycombinator.com", "shop.example.com", "Home"),
                     ("/docs", "ref=nav", None, "shop.example.com", "Docs"),
                     ("/pricing", None, None, "shop.example.com", "Pricing")], views
    data = rows(an, "SELECT e.event_name, d.data_key, d.string_value, d.number_value, d.data_type FROM event_data d "
                   "JOIN website_event e ON e.event_id = d.website_event_id WHERE d.website_id = ? "
                   "ORDER BY e.event_name, d.data_key, d.string_value", (wid,))
    got = {(n, k, s, t) for n, k, s, _, t in data}
    assert {("signup", "plan", "pro", 1), ("signup", "plan", "free", 1), ("signup", "trial", "true", 3),
            ("download", "file", "hearth.tar.gz", 1)} <= got, data
    seats = [row for row in data if row[1] == "seats"]
    assert len(seats) == 1 and seats[0][3] == 3 and seats[0][4] == 2, seats
    ident = rows(an, "SELECT data_key, string_value FROM session_data WHERE website_id = ? ORDER BY data_key", (wid,))
    assert ident == [("company", "Analytical Engines"), ("email", "ada@example.com")], ident
    bots = rows(an, "SELECT count(*) FROM website_event WHERE website_id = ? AND url_path = '/bot'", (wid,))
    assert bots == [(0,)], bots


@t.test
def stops_cleanly():
    code = S["an"].stop()
    assert code == 0, S["an"].output()


def cleanup():
    if "an" in S:
        close(S["an"])


if __name__ == "__main__":
    t.run(cleanup=cleanup)
