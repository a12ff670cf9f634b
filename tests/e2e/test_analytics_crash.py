"""hearth analytics' rollups across kill -9 (SQLite): the events a killed process committed
to website_event but had not flushed into its rollups are counted at the next start, and
those it had flushed are not counted twice. The dashboard's answers (/stats over whole
hours and /pageviews by hour, from the rollups) must then equal the raw rows (/stats over
a range one millisecond off the hour, from website_event) and the number of events sent,
after each kill and after clean restarts."""
import json
import shutil
import signal
import tempfile
import time

from analytics_env import Analytics, rollup_and_raw, send_burst, wait_replayed
from harness import Tap

t = Tap()
S = {"sent": 0}


def start(**env):
    full = {"APP_SECRET": "crash", "HEARTH_LOG_LEVEL": "info"}
    full.update(env)
    return Analytics(S["tmp"], env=full)


def replayed(an):
    """The events an's rollups replayed at start (its log), or None."""
    for line in an.output().splitlines():
        if "analytics rollup replay done" in line:
            return json.loads(line)["events"]
    return None


def check(an, what):
    """Once an replayed, the rollups equal the raw rows and the events sent. Returns how
    many events were replayed."""
    wait_replayed(an)
    rollup, raw, series = rollup_and_raw(an, S["token"], S["site"], S["t0"])
    detail = (what, S["sent"], rollup, raw, series, replayed(an))
    assert raw["pageviews"] == S["sent"], detail
    assert rollup == raw, detail
    assert series == S["sent"], detail
    assert "Sanitizer" not in an.output(), an.output()[-3000:]
    return replayed(an)


@t.test
def kill_9_before_any_flush_counts_every_event_after_restart():
    S["tmp"] = tempfile.mkdtemp(prefix="hearth-analytics-crash-")
    S["t0"] = int(time.time() * 1000)
    an = start()
    S["token"] = an.login()
    S["site"] = an.create_website(S["token"], "Crash", "crash.example")["id"]
    send_burst(an, S["site"], 200, "a")
    S["sent"] += 200
    assert an.stop() == 0, an.output()[-3000:]  # clean: everything flushed
    # the second process never flushes (ANALYTICS_ROLLUP_FLUSH=1h): all its events are
    # in website_event only when it is killed; the same visitors continue their visits
    an = start(ANALYTICS_ROLLUP_FLUSH="1h")
    send_burst(an, S["site"], 300, "b")
    S["sent"] += 300
    assert an.stop(signal.SIGKILL) == -9
    S["an"] = start(ANALYTICS_ROLLUP_FLUSH="100ms")  # flushes during the next burst
    assert check(S["an"], "after a kill before any flush") == 300


@t.test
def kill_9_between_flushes_counts_each_event_once():
    an = S["an"]
    send_burst(an, S["site"], 200, "c")
    time.sleep(2.5)  # flushed (every second)
    send_burst(an, S["site"], 200, "d")
    time.sleep(0.5)  # flushed (every 100 ms): a burst can take less than a flush period
    send_burst(an, S["site"], 200, "e")  # flushed but for the last ones, or not at all
    S["sent"] += 600
    assert an.stop(signal.SIGKILL) == -9
    S["an"] = start()
    n = check(S["an"], "after a kill between flushes")
    assert 0 <= n <= 200, n  # what was flushed is not replayed


@t.test
def clean_restarts_do_not_count_twice():
    for i in range(2):
        code = S["an"].stop()
        assert code == 0, S["an"].output()[-3000:]
        S["an"] = start()
        assert check(S["an"], "after clean restart %d" % (i + 1)) == 0
    assert S["an"].stop() == 0, S["an"].output()[-3000:]


def teardown():
    if "an" in S:
        S["an"].__exit__(None, None, None)
    if "tmp" in S:
        shutil.rmtree(S["tmp"], ignore_errors=True)


t.run(cleanup=teardown)
