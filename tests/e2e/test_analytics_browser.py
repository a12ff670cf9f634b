"""End-to-end test of hearth's tracker (/script.js) and dashboard in headless Chromium
(issue 4). A test page on another origin (a python http.server on its own port) loads
/script.js: the automatic pageview, a pushState navigation, a data-umami-event click with
properties, umami.track('signup', {plan: 'pro'}) and umami.identify('user-42', {tier: 'gold'})
must reach hearth through CORS and land as website_event, event_data and session_data
rows; a page outside data-domains sends nothing; with data-auto-track="false" only
umami.track() sends, without query or fragment (in the url and the referrer), through the
data-before-send hook, which rewrites one payload and drops another.
Then the dashboard: login, add a website, the website page's cards against /stats, tables,
chart, realtime count; screenshots (light and dark) are saved for a human to look at.
The browser side is tests/e2e/analytics_browser.mjs."""
import functools
import http.server
import os
import shutil
import socketserver
import tempfile
import threading

from harness import Tap, free_port
from analytics_env import ADMIN_PASSWORD
from test_analytics_clients import close, log_errors, node, rows, start

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Tracker test</title>
{head}<script defer src="{base}/script.js" data-website-id="{website}" data-tag="e2e"{extra}></script>
</head><body>
<h1>Tracker test</h1>
<a id="next" href="/spa/step2"
   onclick="event.preventDefault(); document.title = 'Step 2'; history.pushState({{}}, '', this.href)">Next</a>
<button id="cta" type="button" data-umami-event="cta-click" data-umami-event-color="blue"
        data-umami-event-position="hero">Start</button>
</body></html>
"""

# data-before-send: the hook may rewrite a payload, or drop it by returning nothing
REDACT = """<script>window.redact = function (type, p) {
  return p.name === "secret" ? null : Object.assign(p, { title: "redacted " + type });
};</script>
"""

t = Tap()
S = {}


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def setup():
    S["an"] = an = start()
    an.base = "http://127.0.0.1:%d" % an.port
    token = an.login()
    S["website"] = an.create_website(token, "Tracker test", "127.0.0.1")["id"]
    S["site"] = site = tempfile.mkdtemp(prefix="hearth-analytics-page-")
    with open(os.path.join(site, "index.html"), "w") as f:
        f.write(PAGE.format(base=an.base, website=S["website"], extra="", head=""))
    with open(os.path.join(site, "other.html"), "w") as f:
        f.write(PAGE.format(base=an.base, website=S["website"], extra=' data-domains="www.example.org"', head=""))
    S["website2"] = an.create_website(token, "Manual", "127.0.0.1")["id"]
    with open(os.path.join(site, "manual.html"), "w") as f:
        f.write(PAGE.format(base=an.base, website=S["website2"], head=REDACT,
                            extra=' data-auto-track="false" data-exclude-search="true" data-exclude-hash="true"'
                                  ' data-before-send="redact"'))
    port = free_port()
    S["httpd"] = socketserver.ThreadingTCPServer(("127.0.0.1", port), functools.partial(Quiet, directory=site))
    threading.Thread(target=S["httpd"].serve_forever, daemon=True).start()
    S["page"] = "http://127.0.0.1:%d/?utm_source=newsletter" % port
    S["other"] = "http://127.0.0.1:%d/other.html" % port
    S["manual"] = "http://127.0.0.1:%d/manual.html?x=1#top" % port


def result():
    if "result" not in S:
        if "an" not in S:  # a failed node run is not a reason for another hearth
            setup()
        S["shot"] = os.environ.get("ANALYTICS_DASHBOARD_SHOT") or os.path.join(tempfile.gettempdir(), "hearth-analytics-dashboard.png")
        S["result"] = node("analytics_browser.mjs", ["--page", S["page"], "--other", S["other"],
                                                     "--manual", S["manual"], "--base", S["an"].base,
                                                     "--password", ADMIN_PASSWORD, "--website", S["website"],
                                                     "--shot", S["shot"]], timeout=120)
    return S["result"]


def tracker_problems():
    r = result()
    return [p for p in r["problems"] if not p.startswith(("snippet", "visitors card", "visits card", "views card",
                                                          "bounce card", "top pages", "events:", "the chart",
                                                          "realtime", "tooltip", "console", "dashboard:"))]


@t.test
def script_is_served_cacheable_with_cors():
    result()  # hearth and the page server come up with the browser run
    status, hs, body = S["an"].request("GET", "/script.js")
    body = body.decode()
    assert status == 200 and "javascript" in hs.get("content-type", ""), (status, hs)
    assert hs.get("access-control-allow-origin") == "*", hs
    assert "max-age=86400" in hs.get("cache-control", ""), hs
    assert "umami" in body and "/api/send" in body and len(body.encode()) < 4096, len(body)


@t.test
def tracker_sends_pageviews_clicks_and_events():
    bad = tracker_problems()
    assert not bad, "\n".join(bad) + "\n" + result().get("stderr", "") + log_errors(S["an"])


@t.test
def tracker_rows_in_the_database():
    result()
    an, wid = S["an"], S["website"]
    ev = rows(an, "SELECT event_type, event_name, url_path, url_query, utm_source, page_title, tag, hostname "
                 "FROM website_event WHERE website_id = ? ORDER BY created_at, event_type", (wid,))
    ev = [tuple(v if v != "" else None for v in row) for row in ev]
    assert ev == [(1, None, "/", "utm_source=newsletter", "newsletter", "Tracker test", "e2e", "127.0.0.1"),
                  (1, None, "/spa/step2", None, None, "Step 2", "e2e", "127.0.0.1"),
                  (2, "cta-click", "/spa/step2", None, None, "Step 2", "e2e", "127.0.0.1"),
                  (2, "signup", "/spa/step2", None, None, "Step 2", "e2e", "127.0.0.1")], ev
    data = rows(an, "SELECT e.event_name, d.data_key, d.string_value, d.data_type FROM event_data d "
                   "JOIN website_event e ON e.event_id = d.website_event_id WHERE d.website_id = ? "
                   "ORDER BY e.event_name, d.data_key", (wid,))
    assert data == [("cta-click", "color", "blue", 1), ("cta-click", "position", "hero", 1),
                    ("signup", "plan", "pro", 1)], data
    sessions = rows(an, "SELECT count(DISTINCT session_id), count(DISTINCT visit_id) FROM website_event "
                       "WHERE website_id = ?", (wid,))
    assert sessions == [(1, 1)], sessions  # one browser, one visit: the cache token carried it
    manual = rows(an, "SELECT event_type, url_path, url_query, referrer_domain, referrer_query, page_title "
                      "FROM website_event WHERE website_id = ? ORDER BY created_at", (S["website2"],))
    assert [tuple(v or None for v in row) for row in manual] == [
        (1, "/manual.html", None, "ref.example", None, "redacted event"),
        (1, "/manual-2.html", None, "127.0.0.1", None, "redacted event")], manual
    ident = rows(an, "SELECT data_key, string_value, distinct_id FROM session_data WHERE website_id = ?", (wid,))
    assert ident == [("tier", "gold", "user-42")], ident


@t.test
def dashboard_shows_the_api_numbers():
    r = result()
    bad = [p for p in r["problems"] if p not in tracker_problems()]
    print("# screenshots: %s (and -dark, -websites)" % S["shot"])
    assert not bad, "\n".join(bad) + "\n" + log_errors(S["an"])
    assert r["cards"]["views"] == str(r["stats"]["pageviews"]) == "2", r["cards"]
    assert os.path.getsize(S["shot"]) > 20000


@t.test
def stops_cleanly():
    code = S["an"].stop()
    assert code == 0, S["an"].output()


def cleanup():
    if "httpd" in S:
        S["httpd"].shutdown()
        S["httpd"].server_close()
    if "site" in S:
        shutil.rmtree(S["site"], ignore_errors=True)
    if "an" in S:
        close(S["an"])


if __name__ == "__main__":
    t.run(cleanup=cleanup)
