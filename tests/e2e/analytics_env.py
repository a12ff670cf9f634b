"""Helpers for the `hearth analytics` end-to-end tests: start the real binary on a free
loopback port with Umami's environment, talk JSON to it, log in. Standard library only.

    from analytics_env import Analytics, BROWSER_UA
    with Analytics(tmpdir, env={"APP_SECRET": "s"}) as an:
        status, headers, body = an.request("GET", "/api/heartbeat")
        token = an.login()
        site = an.create_website(token, "Blog", "blog.example")
        status, _, body = an.send(site["id"], url="/a")
"""
import http.client
import json
import os
import time

from harness import Proc, binary, free_port, wait_port

BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.0.0 Safari/537.36")
ADMIN_PASSWORD = "test-admin-pw"


class Analytics:
    """A running `hearth analytics` (SQLite in data_dir unless env sets DATABASE_URL)."""

    def __init__(self, data_dir, env=None, args=(), port=None):
        self.port = port or free_port()
        self.data_dir = data_dir
        self.db_path = os.path.join(data_dir, "analytics.db")
        full = {"PORT": str(self.port), "ANALYTICS_HOST": "127.0.0.1",
                "DATABASE_URL": "sqlite:" + self.db_path, "ADMIN_PASSWORD": ADMIN_PASSWORD}
        full.update(env or {})
        self.env = full
        self.proc = Proc([binary("hearth"), "analytics"] + list(args), env=full, cwd=data_dir)
        wait_port(self.port, timeout=30, proc=self.proc)

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        """One request; body may be bytes, str or a JSON-able object. Returns
        (status, headers dict with lower-case names, parsed JSON or raw bytes)."""
        own = conn is None
        c = conn or self.conn()
        try:
            h = dict(headers or {})
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
                h.setdefault("Content-Type", "application/json")
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if "json" in hdrs.get("content-type", ""):
                data = json.loads(data)
            return r.status, hdrs, data
        finally:
            if own:
                c.close()

    def login(self, username="admin", password=ADMIN_PASSWORD):
        status, _, body = self.request("POST", "/api/auth/login",
                                       {"username": username, "password": password})
        assert status == 200, (status, body)
        return body["token"]

    def create_website(self, token, name, domain):
        status, _, body = self.request("POST", "/api/websites", {"name": name, "domain": domain},
                                       {"Authorization": "Bearer " + token})
        assert status == 200, (status, body)
        return body

    def send(self, website, kind="event", ua=BROWSER_UA, headers=None, conn=None, **payload):
        payload = dict(payload)
        payload.setdefault("website", website)
        payload.setdefault("hostname", "blog.example")
        h = {"User-Agent": ua}
        h.update(headers or {})
        return self.request("POST", "/api/send", {"type": kind, "payload": payload}, h, conn=conn)

    def stop(self, sig=None):
        import signal
        return self.proc.stop(sig or signal.SIGTERM, timeout=30)

    def output(self):
        return self.proc.output()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.__exit__(*exc)


def visit_stats(views):
    """Umami's /stats over views, an iterable of (session_id, visit_id, created_at ms)."""
    visits = {}
    for session, visit, at in views:
        visits.setdefault((session, visit), []).append(at)
    return {
        "pageviews": sum(len(v) for v in visits.values()),
        "visitors": len({k[0] for k in visits}),
        "visits": len({k[1] for k in visits}),
        "bounces": sum(1 for v in visits.values() if len(v) == 1),
        "totaltime": sum((max(v) - min(v)) // 1000 for v in visits.values()),
    }


def wait_for(fn, timeout=10.0, interval=0.05):
    """Polls fn() until it returns a truthy value; returns it or fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("condition not met after %.1fs" % timeout)
        time.sleep(interval)


def send_burst(an, website, n, prefix, threads=4, sessions=5):
    """n pageviews to website from `threads` keep-alive connections, each as `sessions`
    visitors (User-Agents), paths prefix/thread/i. Every one must get a 200."""
    import threading
    failures = []

    def one(k):
        c = an.conn(timeout=30)
        try:
            for i in range(k, n, threads):
                ua = BROWSER_UA.replace("120.0.0.0", "120.0.%d.%d" % (k, i % sessions))
                status, _, body = an.send(website, ua=ua, conn=c, url="/%s/%d/%d" % (prefix, k, i))
                if status != 200:
                    failures.append((status, body))
        finally:
            c.close()

    ths = [threading.Thread(target=one, args=(k,)) for k in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(120)
    assert not failures, failures[:3]


def rollup_and_raw(an, token, website, since_ms):
    """(rollup stats, raw stats, hourly series total) from since_ms's hour to the next
    hour: /stats over whole hours answers from the rollups, the same range one millisecond
    shorter from website_event; /pageviews?unit=hour is the dashboard's chart."""
    import urllib.parse
    hour = 3600000
    start = (since_ms // hour - 1) * hour
    end = (int(time.time() * 1000) // hour + 2) * hour - 1
    auth = {"Authorization": "Bearer " + token}
    keys = ("pageviews", "visitors", "visits", "bounces", "totaltime")

    def get(path, **params):
        status, _, body = an.request("GET", "/api/websites/%s/%s?%s" % (
            website, path, urllib.parse.urlencode(params)), headers=auth)
        assert status == 200, (path, status, body)
        return body

    rollup = get("stats", startAt=start, endAt=end)
    raw = get("stats", startAt=start + 1, endAt=end)
    series = get("pageviews", startAt=start, endAt=end, unit="hour", timezone="UTC")
    return ({k: rollup[k] for k in keys}, {k: raw[k] for k in keys},
            sum(p["y"] for p in series["pageviews"]))


def wait_replayed(an, timeout=30.0):
    """Waits until an's rollups replayed what the previous process left uncounted (its
    log says so; start an with HEARTH_LOG_LEVEL=info). False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "analytics rollup replay done" in an.output():
            return True
        time.sleep(0.05)
    return False
