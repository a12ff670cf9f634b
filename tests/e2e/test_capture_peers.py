"""End-to-end tests of `hearth capture` (issue 5) against real HEP senders and readers:
sngrep replaying a pcap as a HEPv3 and a HEPv2 sender, kamailio 5.6's siptrace module as
a HEPv3 and HEPv2 sender for SIPp calls, sipcapture's hep-js encoder (with node name,
correlation id and auth key), and the PCAP export read back by tshark (Call-IDs and real
transport, UDP or TCP). Rows are checked in heplify-server's table hep_proto_1_call of
the SQLite database and through the API. A peer whose binary is missing is skipped."""
import json
import os
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid

from harness import ROOT, Proc, Tap, free_port
from capture_env import Capture, hep_call, sip_call, which, write_pcap

t = Tap()
S = {}
RUN = uuid.uuid4().hex[:8]
WAIT = 15.0


class Skip(Exception):
    pass


def peer(name):
    """The path of a peer's binary, or skip the test (TAP # SKIP) when it is missing."""
    path = which(name)
    if not path:
        raise Skip(name + " is not installed")
    return path


def skippable(fn):
    """Runs fn; a Skip becomes `ok N - name # SKIP reason` through the Tap's name."""
    def run():
        try:
            fn()
        except Skip as e:
            run.__name__ = fn.__name__ + " # SKIP " + str(e)
    run.__name__ = fn.__name__
    return t.test(run)


def cap():
    if "cap" not in S:
        S["cap"] = Capture()
    return S["cap"]


def rows(c, where, args=(), want=None, timeout=WAIT):
    """hep_proto_1_call rows (sid, create_date, protocol_header dict, data_header dict, raw)
    matching where; waits until there are `want` of them when given."""
    db = os.path.join(c.tmp, "capture.db")
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        try:
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
            try:
                got = [(sid, cd, json.loads(ph), json.loads(dh), raw) for sid, cd, ph, dh, raw in con.execute(
                    "SELECT sid, create_date, protocol_header, data_header, raw FROM hep_proto_1_call WHERE " + where +
                    " ORDER BY create_date, id", args)]
            finally:
                con.close()
        except sqlite3.OperationalError:
            got = []
        if want is None or len(got) >= want:
            return got
        time.sleep(0.2)
    raise AssertionError("%d rows where %s %s after %.0fs, want %s" % (len(got), where, args, timeout, want))


def pcap_calls(tmp, n, prefix):
    """A pcap of n SIPp-style calls (6 UDP messages each) and their Call-IDs."""
    msgs, cids = [], []
    base = time.time() - 2
    for i in range(n):
        cid = "%s-%s-%d@127.0.0.1" % (prefix, RUN, i)
        cids.append(cid)
        msgs += sip_call(cid, "sng%d" % i, "30%d" % i, t0=base + i * 0.1)
    msgs.sort(key=lambda m: m[0])
    path = os.path.join(tmp, prefix + ".pcap")
    write_pcap(path, msgs)
    return path, cids


def run_bounded(args, timeout=30, cwd=None):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout + r.stderr


# ---- sngrep ----

@skippable
def sngrep_replays_a_pcap_as_hep3():
    sngrep = peer("sngrep")
    c = cap()
    path, cids = pcap_calls(c.tmp, 3, "sngrep3")
    code, out = run_bounded([sngrep, "-F", "-N", "-q", "-I", path, "-H", "udp:127.0.0.1:%d" % c.hep])
    assert code == 0, out
    seen = c.wait_calls(cids, messages=6, timeout=WAIT)
    for i, cid in enumerate(cids):
        assert seen[cid]["caller"] == "sng%d" % i and seen[cid]["status"] == 200, seen[cid]
        view = c.call(cid)
        assert [m.get("method") or m.get("status") for m in view["messages"]] == \
            ["INVITE", 180, 200, "ACK", "BYE", 200], view["messages"]
        assert {m["transport"] for m in view["messages"]} == {"UDP"}, view["messages"]
    r = rows(c, "sid = ?", (cids[0],), want=6)
    # sngrep 1.6 puts htons(2002) into the u32 capture id chunk: 07 d2 00 00 on the wire,
    # stored as it arrives (heplify-server does the same).
    assert {x[2]["captureId"] for x in r} == {str(0x07D20000)}, r[0][2]
    assert r[0][2]["srcPort"] == 5070 and r[0][2]["dstPort"] == 5060, r[0][2]


@skippable
def sngrep_replays_a_pcap_as_hep2():
    sngrep = peer("sngrep")
    c = cap()
    path, cids = pcap_calls(c.tmp, 2, "sngrep2")
    rc = os.path.join(c.tmp, "sngrep-v2.rc")
    with open(rc, "w") as f:
        f.write("set eep.send.version 2\nset eep.send.id 77\n")
    code, out = run_bounded([sngrep, "-F", "-f", rc, "-N", "-q", "-I", path, "-H", "udp:127.0.0.1:%d" % c.hep])
    assert code == 0, out
    c.wait_calls(cids, messages=6, timeout=WAIT)
    r = rows(c, "sid IN (?, ?)", tuple(cids), want=12)
    assert {x[2]["captureId"] for x in r} == {"77"}, r[0][2]
    # HEPv2 time is little-endian as sngrep writes it: the stored times are the pcap's.
    for x in r:
        assert abs(x[2]["timeSeconds"] - time.time()) < 120, x[2]
    assert r[0][4].startswith("INVITE sip:300@"), r[0][4][:60]


# ---- kamailio siptrace ----

KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{sip}
mpath="{mpath}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "siptrace.so"
modparam("siptrace", "duplicate_uri", "sip:127.0.0.1:{hep}")
modparam("siptrace", "hep_mode_on", 1)
modparam("siptrace", "hep_version", {version})
modparam("siptrace", "hep_capture_id", {capture_id})
modparam("siptrace", "trace_to_database", 0)
modparam("siptrace", "trace_on", 1)
modparam("siptrace", "trace_mode", 1)
request_route {{
    if (method == "ACK") {{ exit; }}
    sl_send_reply("200", "OK");
    exit;
}}
"""


def kamailio_mpath():
    for d in ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/aarch64-linux-gnu/kamailio/modules",
              "/usr/lib/kamailio/modules"):
        if os.path.exists(os.path.join(d, "siptrace.so")):
            return d
    raise Skip("kamailio's siptrace module is not installed")


def wait_sip(port, proc, timeout=10.0):
    """Waits until a SIP server answers an OPTIONS on 127.0.0.1:port over UDP."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        me = s.getsockname()[1]
        s.settimeout(0.3)
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.output()[-2000:]
            s.sendto(("OPTIONS sip:ping@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-ping\r\n"
                      "From: <sip:ping@127.0.0.1>;tag=p\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: ping-%s@127.0.0.1\r\n"
                      "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (port, me, RUN)).encode(),
                     ("127.0.0.1", port))
            try:
                if s.recv(65535).startswith(b"SIP/2.0 200"):
                    return
            except socket.timeout:
                pass
    raise AssertionError("no SIP answer on 127.0.0.1:%d:\n%s" % (port, proc.output()[-2000:]))


def kamailio_calls(version, capture_id, prefix):
    """Two SIPp calls through kamailio tracing as HEP `version`; returns their Call-IDs."""
    kam, sipp = peer("kamailio"), peer("sipp")
    c = cap()
    work = tempfile.mkdtemp(prefix="kam-", dir=c.tmp)
    sip = free_port()
    cfg = os.path.join(work, "kamailio.cfg")
    with open(cfg, "w") as f:
        f.write(KAMAILIO_CFG.format(sip=sip, mpath=kamailio_mpath(), hep=c.hep, version=version,
                                    capture_id=capture_id))
    k = Proc([kam, "-f", cfg, "-E", "-DD", "-w", work, "-Y", work])
    try:
        wait_sip(sip, k)
        code, out = run_bounded([sipp, "-sn", "uac", "127.0.0.1:%d" % sip, "-i", "127.0.0.1", "-p", str(free_port()),
                                 "-m", "2", "-r", "2", "-d", "200", "-nostdin", "-timeout", "15s", "-timeout_error",
                                 "-cid_str", prefix + "-" + RUN + "-%u-%p@%s"], cwd=work)
        assert code == 0, "sipp failed (%d): %s\n%s" % (code, out[-1500:], k.output()[-1500:])
    finally:
        k.stop()
    deadline = time.monotonic() + WAIT
    cids = []
    while time.monotonic() < deadline and len(cids) < 2:
        cids = [x["callid"] for x in c.calls()["calls"] if x["callid"].startswith(prefix + "-" + RUN)]
        time.sleep(0.2)
    assert len(cids) == 2, cids
    return c, cids


@skippable
def kamailio_siptrace_hep3():
    c, cids = kamailio_calls(3, 1234, "kam3")
    # kamailio answers 200 at once (no 180): INVITE 200 ACK BYE 200 per call, each traced once.
    seen = c.wait_calls(cids, messages=5, timeout=WAIT)
    for cid in cids:
        assert seen[cid]["status"] == 200, seen[cid]
    r = rows(c, "sid IN (?, ?)", tuple(cids), want=10)
    assert len(r) == 10, len(r)
    assert {x[2]["captureId"] for x in r} == {"1234"}, r[0][2]
    assert {x[2]["protocol"] for x in r} == {17} and {x[2]["srcIp"] for x in r} == {"127.0.0.1"}, r[0][2]
    assert sorted(x[3]["method"] for x in r) == sorted(["INVITE", "200", "ACK", "BYE", "200"] * 2), [x[3] for x in r]
    S["kam_call"] = cids[0]


@skippable
def kamailio_siptrace_hep2():
    c, cids = kamailio_calls(2, 1235, "kam2")
    c.wait_calls(cids, messages=5, timeout=WAIT)
    r = rows(c, "sid IN (?, ?)", tuple(cids), want=10)
    assert {x[2]["captureId"] for x in r} == {"1235"}, r[0][2]
    for x in r:  # little-endian tv_sec decoded right: within a minute of now
        assert abs(x[2]["timeSeconds"] - time.time()) < 60, x[2]
    assert r[0][4].startswith("INVITE sip:"), r[0][4][:40]


# ---- hep-js ----

@skippable
def hepjs_packets_are_stored_with_their_fields():
    node = peer("node")
    if not os.path.isdir(os.path.join(ROOT, "node_modules", "hep-js")):
        raise Skip("node_modules/hep-js is not installed (npm ci)")
    c = Capture(["--hep-password", "hepjs-secret"])
    S["hepjs_cap"] = c
    try:
        cid = "hepjs-%s@10.20.0.1" % RUN
        t0 = int(time.time()) - 3
        packets = []
        for i, (ts, src, dst, raw) in enumerate(sip_call(cid, "hepjs", "4001", a=("10.20.0.1", 5080),
                                                          b=("10.20.0.2", 5090), t0=t0)):
            sec = int(ts)
            packets.append({"payload": raw.decode(), "rcinfo": {
                "protocolFamily": 2, "protocol": 17, "srcIp": src[0], "dstIp": dst[0], "srcPort": src[1],
                "dstPort": dst[1], "timeSeconds": sec, "timeUseconds": int((ts - sec) * 1e6), "payloadType": 1,
                "captureId": 2001, "capturePass": "hepjs-secret", "hepNodeName": "hepjs-node-1",
                "correlation_id": "corr-" + RUN}})
        wrong = dict(packets[0], rcinfo=dict(packets[0]["rcinfo"], capturePass="wrong"))
        wrong["payload"] = wrong["payload"].replace(cid, "hepjs-refused-" + RUN)
        spec = os.path.join(c.tmp, "hepjs.json")
        with open(spec, "w") as f:
            json.dump({"target": "127.0.0.1:%d" % c.hep, "packets": [wrong] + packets}, f)
        code, out = run_bounded([node, os.path.join(ROOT, "tests", "e2e", "capture_hepjs.mjs"), spec], cwd=ROOT)
        assert code == 0 and '"sent":7' in out, out
        c.wait_calls([cid], messages=6, timeout=WAIT)
        r = rows(c, "sid = ?", (cid,), want=6)
        ph = r[0][2]
        assert ph["captureId"] == "hepjs-node-1", ph
        assert ph["correlation_id"] == "corr-" + RUN, ph
        assert (ph["srcIp"], ph["srcPort"], ph["dstIp"], ph["dstPort"]) == ("10.20.0.1", 5080, "10.20.0.2", 5090), ph
        assert ph["timeSeconds"] == t0 and ph["payloadType"] == 1 and ph["protocolFamily"] == 2, ph
        assert r[0][3]["from_user"] == "hepjs" and r[0][3]["to_user"] == "4001", r[0][3]
        assert r[0][4] == packets[0]["payload"], r[0][4][:80]
        assert rows(c, "sid = ?", ("hepjs-refused-" + RUN,)) == [], "a packet with the wrong auth key was stored"
        status, _, metrics = c.request("GET", "/metrics")
        assert status == 200 and b'hearth_capture_errors_total{reason="auth"} 1\n' in metrics, metrics[:1500]
    finally:
        S.pop("hepjs_cap").stop()


# ---- PCAP export read by tshark ----

@skippable
def pcap_export_read_by_tshark_keeps_callids_and_transport():
    tshark = peer("tshark")
    c = cap()
    cids = {}
    for i, proto in enumerate((17, 6, 17)):
        cid = "export-%s-%d@127.0.0.1" % (RUN, i)
        cids[cid] = proto
        pkts = hep_call(sip_call(cid, "exp%d" % i, "50%d" % i, t0=time.time() - 1,
                                 transport="TCP" if proto == 6 else "UDP"), proto=proto)
        if proto == 6:
            c.send_tcp(pkts)
        else:
            c.send_udp(pkts)
    if "kam_call" in S:
        cids[S["kam_call"]] = 17
    c.wait_calls([x for x in cids if x.startswith("export-")], messages=6, timeout=WAIT)
    for cid, proto in cids.items():
        status, hs, body = c.request("GET", "/api/calls/%s.pcap" % cid.replace("@", "%40"))
        assert status == 200 and body[:4] == b"\xd4\xc3\xb2\xa1", (status, body[:16])
        path = os.path.join(c.tmp, "export.pcap")
        with open(path, "wb") as f:
            f.write(body)
        code, out = run_bounded([tshark, "-r", path, "-Y", "sip", "-T", "fields", "-e", "sip.Call-ID",
                                 "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "udp.srcport", "-e", "tcp.srcport"])
        assert code == 0, out
        lines = [ln.split("\t") for ln in out.splitlines() if ln.count("\t") == 4]
        want = 5 if cid.startswith("kam3-") else 6
        assert len(lines) == want, (cid, out)
        assert {ln[0] for ln in lines} == {cid}, (cid, out)
        methods = [ln[1] or ln[2] for ln in lines]
        assert methods[0] == "INVITE" and "BYE" in methods and "ACK" in methods, methods
        if proto == 6:
            assert all(ln[4] and not ln[3] for ln in lines), ("TCP call exported as UDP", out)
        else:
            assert all(ln[3] and not ln[4] for ln in lines), ("UDP call exported as TCP", out)


@t.test
def stops_cleanly():
    if "cap" not in S:
        return
    code, out = S.pop("cap").stop()
    assert code == 0, out[-3000:]
    assert "ERROR: AddressSanitizer" not in out and "runtime error" not in out, out[-3000:]


def teardown():
    for k in ("cap", "hepjs_cap"):
        if k in S:
            S.pop(k).stop()


t.run(cleanup=teardown)
