"""End-to-end test of the capture UI (web/capture/, issue 5): `hearth capture` on free
ports receives SIPp-style calls as HEPv3 over UDP and TCP, then headless Chromium
(tests/e2e/capture_ui.mjs) signs in, searches by caller, pages through 31 results, opens
a call, counts the six arrows of its ladder, reads a message's SIP text, downloads its
PCAP, opens the stats page and sees a call sent after the live view opened. Screenshots go to
$CAPTURE_UI_SHOTS (default /tmp/hearth-capture-ui-*.png)."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

from harness import ROOT, Tap
from capture_env import PASSWORD, Capture, hep_call, sip_call

t = Tap()
S = {}
RUN = uuid.uuid4().hex[:8]
PAGED = 31  # calls from one caller: two pages of 25


def teardown():
    if "cap" in S:
        S.pop("cap").stop()


@t.test
def calls_sent_as_hep_are_listed():
    S["cap"] = cap = Capture()
    now = time.time() - 5
    S["calls"] = {}
    for i, (caller, callee, proto) in enumerate([("alice", "2001", 17), ("bob", "2002", 17), ("alice", "2003", 6),
                                                 ("carol", "486", 17), ("bob", "2005", 17)]):
        cid = "ui-%s-%d@127.0.0.1" % (RUN, i)
        msgs = sip_call(cid, caller, callee, t0=now + i * 0.05, transport="TCP" if proto == 6 else "UDP")
        S["calls"][cid] = (caller, callee)
        pkts = hep_call(msgs, proto=proto)
        if proto == 6:
            cap.send_tcp(pkts)
        else:
            cap.send_udp(pkts)
    pager = []
    for i in range(PAGED):
        cid = "ui-page-%s-%d@127.0.0.1" % (RUN, i)
        pager.append(cid)
        cap.send_udp(hep_call(sip_call(cid, "pager", "9%03d" % i, t0=now - 60 + i * 0.01)))
    busy = "ui-busy-%s@127.0.0.1" % RUN
    cap.send_udp(hep_call(sip_call(busy, "erin", "4860", t0=now - 30, busy=True)))
    seen = cap.wait_calls(list(S["calls"]) + pager, messages=6)
    for cid, (caller, callee) in S["calls"].items():
        assert seen[cid]["caller"] == caller and seen[cid]["callee"] == callee, seen[cid]
        assert seen[cid]["status"] == 200, seen[cid]
    seen = cap.wait_calls([busy], messages=4)
    assert seen[busy]["status"] == 486, seen[busy]
    S["total"] = len(S["calls"]) + PAGED + 1


@t.test
def serves_the_ui_and_guards_the_api():
    cap = S["cap"]
    status, hs, body = cap.request("GET", "/", token=False)
    assert status == 200 and b'src="app.js"' in body and b"hearth capture" in body, (status, body[:200])
    assert hs.get("Content-Type", "").startswith("text/html"), hs
    for name, ctype in (("app.js", "javascript"), ("ladder.js", "javascript"), ("stats.js", "javascript"),
                        ("app.css", "text/css")):
        status, hs, body = cap.request("GET", "/" + name, token=False)
        assert status == 200 and ctype in hs.get("Content-Type", ""), (name, status, hs)
        with open(os.path.join(ROOT, "web", "capture", name), "rb") as f:
            assert body == f.read(), name + " differs from web/capture"
    status, _, _ = cap.request("GET", "/api/calls", token=False)
    assert status == 401, status


@t.test
def chromium_search_ladder_stats_live():
    cap = S["cap"]
    assert os.path.isdir(os.path.join(ROOT, "node_modules", "playwright-core")), "run npm ci"
    assert shutil.which("chromium"), "chromium is not installed"
    shots = os.environ.get("CAPTURE_UI_SHOTS") or os.path.join(tempfile.gettempdir(), "hearth-capture-ui")
    live_cid = "ui-live-%s@127.0.0.1" % RUN
    live = hep_call(sip_call(live_cid, "dave", "3001", t0=time.time()))
    with tempfile.NamedTemporaryFile("w", suffix=".hex", delete=False) as f:
        f.write("\n".join(p.hex() for p in live) + "\n")
        hexfile = f.name
    try:
        args = ["node", os.path.join(ROOT, "tests", "e2e", "capture_ui.mjs"),
                "--url", "http://127.0.0.1:%d/" % cap.http, "--user", "admin", "--password", PASSWORD,
                "--shots", shots, "--caller", "alice", "--rows", "2", "--arrows", "6",
                "--pager-caller", "pager", "--pager-total", str(PAGED), "--calls", str(S["total"]),
                "--live-callid", live_cid, "--live-hep", hexfile, "--hep", "127.0.0.1:%d" % cap.hep]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)
    finally:
        os.unlink(hexfile)
    print("# screenshots: %s-{login,search,call,call-light,stats,live}.png" % shots)
    lines = r.stdout.strip().splitlines()
    assert lines, r.stderr[-2000:]
    res = json.loads(lines[-1])
    assert r.returncode == 0 and res["ok"], json.dumps(res.get("problems"), indent=1) + r.stderr[-1500:]
    assert res["arrows"] == ["INVITE (SDP)", "180 Ringing", "200 OK (SDP)", "ACK", "BYE", "200 OK"], res["arrows"]
    assert res["clicked"] == "SIP/2.0 180 Ringing", res["clicked"]
    assert sorted(r["callid"] for r in res["rows"]) == sorted(c for c, v in S["calls"].items() if v[0] == "alice")
    assert "Wrong" in res["loginError"], res["loginError"]
    assert res["paged"] == [25, PAGED - 25], res["paged"]
    answered = S["total"] - 1
    assert res["cards"]["ASR"] == "%.1f%%" % (100.0 * answered / S["total"]), res["cards"]
    assert sorted(res["codes"]) == ["200", "486"], res["codes"]  # final answers of calls
    assert live_cid in res.get("live", ""), res.get("live")
    for suffix in ("login", "search", "call", "call-light", "stats", "live"):
        assert os.path.getsize("%s-%s.png" % (shots, suffix)) > 10000, suffix


@t.test
def stops_cleanly():
    code, out = S.pop("cap").stop()
    assert code == 0, out[-3000:]
    assert "ERROR: AddressSanitizer" not in out and "runtime error" not in out, out[-3000:]


t.run(cleanup=teardown)
