"""End-to-end tests of `hearth capture` with SQLite (issue 5): HEPv3 packets built here
(struct, tests/e2e/capture_env.py) over UDP and TCP for full calls, HEPv2, malformed and
truncated packets counted by reason while valid ones still land, the API (search filters,
pagination, one call's messages in time order, legs, stats, live feed), the exports (pcap
parsed here, text, SVG ladder), auth, --hep-password, --dedup, overload drops that are
counted, never silent, and SIGTERM draining the queue into the database."""
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import tempfile
import time
import urllib.request
import zlib

from harness import Tap, binary
from capture_env import PASSWORD, Capture, hep3, hep_call, sip_call

t = Tap()
S = {}
A, B = ("10.1.0.1", 5060), ("10.1.0.2", 5062)


def full_call(callid, caller="alice", callee="bob", t0=None, final=(200, "OK"), extra_hdr=""):
    """INVITE 100 180 <final> ACK BYE 200 (7 messages) a -> b as [(time, src, dst, raw)]."""
    msgs = sip_call(callid, caller, callee, a=A, b=B, t0=t0)
    ring = msgs[1]
    msgs.insert(1, (msgs[0][0] + 0.001, B, A, ring[3].replace(b"SIP/2.0 180 Ringing", b"SIP/2.0 100 Trying", 1)))
    if final != (200, "OK"):
        m = msgs[3]
        msgs[3] = (m[0], m[1], m[2], m[3].replace(b"SIP/2.0 200 OK", ("SIP/2.0 %d %s" % final).encode(), 1))
        msgs = msgs[:5]  # the ACK ends it: no BYE
    if extra_hdr:
        m = msgs[0]
        msgs[0] = (m[0], m[1], m[2], m[3].replace(b"Max-Forwards:", extra_hdr.encode() + b"\r\nMax-Forwards:", 1))
    return msgs


def metric(text, name, labels=""):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else 0.0


def metrics(cap):
    st, _, body = cap.request("GET", "/metrics", token=False)
    assert st == 200, st
    return body.decode()


def wait_for(fn, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def pcap_records(data):
    """[(ip_proto, payload bytes)] of a pcap 2.4 little-endian Ethernet file."""
    magic, vmaj, vmin, _, _, snap, link = struct.unpack("<IHHiIII", data[:24])
    assert (magic, vmaj, vmin, link) == (0xA1B2C3D4, 2, 4, 1), (hex(magic), vmaj, vmin, link)
    out, off = [], 24
    while off < len(data):
        _, _, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        assert len(frame) == incl == orig
        etype = struct.unpack("!H", frame[12:14])[0]
        assert etype == 0x0800, hex(etype)
        ihl = (frame[14] & 15) * 4
        proto = frame[14 + 9]
        l4 = frame[14 + ihl:]
        hl = 8 if proto == 17 else (l4[12] >> 4) * 4
        out.append((proto, l4[hl:]))
        off += 16 + incl
    return out


def setup():
    S["cap"] = Capture()


@t.test
def udp_call_listed_with_caller_callee_status():
    cap = S["cap"]
    S["t0"] = time.time() - 5
    cap.send_udp(hep_call(full_call("udp-1@e2e", "alice", "bob", t0=S["t0"])))
    seen = cap.wait_calls(["udp-1@e2e"], messages=7)
    c = seen["udp-1@e2e"]
    assert (c["caller"], c["callee"], c["status"], c["method"]) == ("alice", "bob", 200, "INVITE"), c
    assert abs(c["start"] - S["t0"] * 1000) <= 1 and abs(c["end"] - (S["t0"] + 0.532) * 1000) <= 1, c
    assert c["src_ip"] == A[0] and c["dst_ip"] == B[0] and c["user_agent"] == "SIPp/3.6.1", c
    assert c["setup_ms"] == 4 and c["duration_ms"] == 530, c


@t.test
def call_messages_in_time_order():
    v = S["cap"].call("udp-1@e2e")
    got = [m.get("method") or m.get("status") for m in v["messages"]]
    assert got == ["INVITE", 100, 180, 200, "ACK", "BYE", 200], got
    times = [m["time_us"] for m in v["messages"]]
    assert times == sorted(times) and abs(times[0] - S["t0"] * 1e6) <= 1, (times, S["t0"])
    m = v["messages"][0]
    assert m["src"] == "10.1.0.1:5060" and m["dst"] == "10.1.0.2:5062" and m["transport"] == "UDP", m
    assert m["raw"].startswith("INVITE sip:bob@") and "Call-ID: udp-1@e2e" in m["raw"], m["raw"][:200]
    assert v["callid"] == "udp-1@e2e" and v["legs"] == [], v["legs"]


@t.test
def exports_pcap_txt_and_ladder():
    cap = S["cap"]
    st, h, body = cap.request("GET", "/api/calls/udp-1%40e2e.pcap")
    assert st == 200 and "attachment" in h.get("Content-Disposition", ""), (st, h)
    recs = pcap_records(body)
    assert len(recs) == 7 and all(p == 17 for p, _ in recs), [p for p, _ in recs]
    assert recs[0][1].startswith(b"INVITE sip:bob@") and recs[3][1].startswith(b"SIP/2.0 200 OK"), recs[0][1][:40]
    st, _, txt = cap.request("GET", "/api/calls/udp-1@e2e.txt")
    assert st == 200
    heads = re.findall(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC (\S+) -> (\S+) UDP$", txt, re.M)
    assert len(heads) == 7 and heads[0] == (b"10.1.0.1:5060", b"10.1.0.2:5062"), heads
    st, h, svg = cap.request("GET", "/api/calls/udp-1@e2e/flow.svg")
    assert st == 200 and h["Content-Type"].startswith("image/svg+xml"), (st, h)
    assert svg.count(b'class="msg"') == 7 and svg.count(b'class="host"') == 2, svg[:400]
    for label in (b">INVITE (UDP)<", b">100 Trying (UDP)<", b">180 Ringing (UDP)<", b">BYE (UDP)<"):
        assert label in svg, label


@t.test
def tcp_stream_framed_and_resynced():
    cap = S["cap"]
    pk = hep_call(full_call("tcp-1@e2e", "carol", "dave"), proto=6)
    before = metric(metrics(cap), "hearth_capture_errors_total", '{reason="tcp_framing"}')
    with socket.create_connection(("127.0.0.1", cap.hep), timeout=5) as s:
        s.sendall(b"HEP3\x03\x0a")  # heplify v1's bare header on connect
        stream = pk[0] + pk[1] + b"garbage!" + b"".join(pk[2:])
        for i in range(0, len(stream), 97):  # frames split across segments
            s.sendall(stream[i:i + 97])
            time.sleep(0.002)
        time.sleep(0.3)
    c = cap.wait_calls(["tcp-1@e2e"], messages=7)["tcp-1@e2e"]
    assert (c["caller"], c["callee"], c["status"]) == ("carol", "dave", 200), c
    assert metric(metrics(cap), "hearth_capture_errors_total", '{reason="tcp_framing"}') > before
    v = cap.call("tcp-1@e2e")
    assert {m["transport"] for m in v["messages"]} == {"TCP"}, v["messages"][0]
    st, _, body = cap.request("GET", "/api/calls/tcp-1@e2e.pcap")
    recs = pcap_records(body)
    assert len(recs) == 7 and all(p == 6 for p, _ in recs), [p for p, _ in recs]
    assert recs[0][1].startswith(b"INVITE "), recs[0][1][:20]


def hep2(t, src, dst, payload, capture_id=7):
    sec = int(t)
    usec = int(round((t - sec) * 1e6))
    return (struct.pack("!BBBBHH", 2, 0, 2, 17, src[1], dst[1]) + socket.inet_aton(src[0]) + socket.inet_aton(dst[0]) +
            struct.pack("<IIHH", sec, usec, capture_id, 0) + payload)


@t.test
def hepv2_little_endian_time():
    cap = S["cap"]
    t0 = time.time() - 3
    cap.send_udp([hep2(tm, s, d, raw) for tm, s, d, raw in full_call("v2-1@e2e", "erin", "frank", t0=t0)])
    c = cap.wait_calls(["v2-1@e2e"], messages=7)["v2-1@e2e"]
    assert c["caller"] == "erin" and abs(c["start"] - t0 * 1000) <= 1, (c, t0)


@t.test
def compressed_payload_and_correlation_chunk():
    cap = S["cap"]
    pk = []
    for tm, src, dst, raw in full_call("zip-1@e2e", "zoe", "yan"):
        plain = hep3(tm, src, dst, raw, correlation="zip-a-leg@e2e", node="node-7")
        i = plain.index(struct.pack("!HHH", 0, 0x0f, 6 + len(raw)))  # the payload chunk
        z = zlib.compress(raw)
        body = plain[6:i] + struct.pack("!HHH", 0, 0x10, 6 + len(z)) + z
        pk.append(b"HEP3" + struct.pack("!H", 6 + len(body)) + body)
    cap.send_udp(pk + [pk[0][:-4] + b"\xde\xad\xbe\xef"])  # the last one's zlib stream is broken
    c = cap.wait_calls(["zip-1@e2e"], messages=7)["zip-1@e2e"]
    assert (c["caller"], c["correlation"]) == ("zoe", "zip-a-leg@e2e"), c
    v = cap.call("zip-1@e2e")
    assert v["messages"][0]["raw"].startswith("INVITE sip:yan@"), v["messages"][0]["raw"][:40]
    assert metric(metrics(cap), "hearth_capture_errors_total", '{reason="bad_compression"}') >= 1


def hep3_v6(tm, src, dst, payload):
    """A HEPv3 packet with IPv6 addresses (chunks 5 and 6)."""
    sec = int(tm)
    usec = int(round((tm - sec) * 1e6))

    def ch(typ, data):
        return struct.pack("!HHH", 0, typ, 6 + len(data)) + data
    body = (ch(1, b"\x0a") + ch(2, b"\x11") + ch(5, socket.inet_pton(socket.AF_INET6, src[0])) +
            ch(6, socket.inet_pton(socket.AF_INET6, dst[0])) + ch(7, struct.pack("!H", src[1])) +
            ch(8, struct.pack("!H", dst[1])) + ch(9, struct.pack("!I", sec)) + ch(10, struct.pack("!I", usec)) +
            ch(11, b"\x01") + ch(12, struct.pack("!I", 1)) + ch(15, payload))
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


@t.test
def ipv6_call():
    cap = S["cap"]
    a6, b6 = ("2001:db8::1", 5060), ("2001:db8::2", 5080)
    pk = [hep3_v6(tm, a6 if src == A else b6, b6 if src == A else a6, raw)
          for tm, src, dst, raw in full_call("v6-1@e2e", "uma", "vic")]
    cap.send_udp(pk)
    c = cap.wait_calls(["v6-1@e2e"], messages=7)["v6-1@e2e"]
    assert (c["src_ip"], c["dst_ip"]) == ("2001:db8::1", "2001:db8::2"), c
    m = cap.call("v6-1@e2e")["messages"][0]
    assert (m["src"], m["dst"]) == ("[2001:db8::1]:5060", "[2001:db8::2]:5080"), m
    st, _, body = cap.request("GET", "/api/calls/v6-1@e2e.pcap")
    assert st == 200 and struct.unpack("<I", body[:4])[0] == 0xA1B2C3D4
    frame = body[24 + 16:]
    assert struct.unpack("!H", frame[12:14])[0] == 0x86DD and frame[14 + 6] == 17, frame[:60].hex()
    assert frame[14 + 40 + 8:].startswith(b"INVITE sip:vic@"), frame[:120]


@t.test
def malformed_counted_by_reason_valid_still_land():
    cap = S["cap"]
    before = metrics(cap)
    good = hep_call(full_call("good-1@e2e", "gina", "hank"))
    sip = full_call("x@e2e")[0][3]
    bad = {
        "truncated": good[0][:40],
        "bad_version": b"XYZW" + good[0][4:],
        "bad_chunk": good[0][:6] + b"\x00\x00\x00\x01\x00\x02" + good[0][12:],
        "not_sip": hep3(time.time(), A, B, b"this is not a SIP message at all, just some bytes here"),
        "not_sip ": hep3(time.time(), A, B, sip.replace(b"Call-ID: x@e2e\r\n", b"")),  # no Call-ID
        "no_sid": hep3(time.time(), A, B, b"a log line without correlation id", ptype=100),
        "bad_length": good[0][:4] + struct.pack("!H", len(good[0]) - 20) + good[0][6:],
    }
    mixed = []
    for i, g in enumerate(good):
        mixed.append(g)
        mixed.extend(list(bad.values())[i % len(bad):i % len(bad) + 1])
    cap.send_udp(mixed + list(bad.values()))
    cap.wait_calls(["good-1@e2e"], messages=7)
    after = metrics(cap)
    for reason in bad:
        lab = '{reason="%s"}' % reason.strip()
        got = metric(after, "hearth_capture_errors_total", lab) - metric(before, "hearth_capture_errors_total", lab)
        assert got >= 1, (reason, got, [l for l in after.splitlines() if "errors_total" in l])
    assert S["cap"].proc.poll() is None


@t.test
def mutated_packets_never_stall_the_listener():
    cap = S["cap"]
    rnd = random.Random(5)
    base = hep_call(full_call("mut-base@e2e"))
    junk = []
    for i in range(3000):
        p = bytearray(rnd.choice(base))
        for _ in range(rnd.randint(1, 8)):  # flip bytes, anywhere (chunk headers included)
            p[rnd.randrange(len(p))] = rnd.randrange(256)
        if i % 5 == 0:
            p = p[:rnd.randrange(len(p))]
        junk.append(bytes(p))
    junk += [os.urandom(rnd.randint(0, 1400)) for _ in range(500)]
    cap.send_udp(junk, pause=0.00005)
    with socket.create_connection(("127.0.0.1", cap.hep), timeout=5) as s:
        s.sendall(b"".join(junk[:400]))
    cap.send_udp(hep_call(full_call("after-junk@e2e", "wes", "xia")))
    c = cap.wait_calls(["after-junk@e2e"], messages=7)["after-junk@e2e"]
    assert c["caller"] == "wes" and cap.proc.poll() is None


@t.test
def search_filters_and_pages():
    cap = S["cap"]
    # five hours back: a mutated packet of an earlier test (a flipped time byte moves a
    # call by up to 255 s, or by whole steps of 256 s) cannot land in this 12 s window
    t0 = S["search_t0"] = time.time() - 18100
    pk = []
    for i in range(12):
        final = (486, "Busy Here") if i % 3 == 0 else (200, "OK")
        pk += hep_call(full_call("s-%02d@e2e" % i, "sue%d" % (i % 2), "tom%d" % i, t0=t0 + i, final=final))
    cap.send_udp(pk)
    cap.wait_calls(["s-%02d@e2e" % i for i in range(12)])
    frm, to = int(t0 * 1000) - 1, int((t0 + 12) * 1000)
    r = cap.calls(**{"from": frm, "to": to})
    assert r["total"] == 12 and len(r["calls"]) == 12, r["total"]
    assert [c["callid"] for c in r["calls"]] == ["s-%02d@e2e" % i for i in range(11, -1, -1)]  # newest first
    assert cap.calls(**{"from": frm, "to": to, "caller": "sue1"})["total"] == 6
    assert [c["callid"] for c in cap.calls(**{"from": frm, "to": to, "callee": "tom7"})["calls"]] == ["s-07@e2e"]
    busy = cap.calls(**{"from": frm, "to": to, "status": "486"})
    assert busy["total"] == 4 and all(c["status"] == 486 for c in busy["calls"]), busy
    assert cap.calls(**{"from": frm, "to": to, "status": "4xx"})["total"] == 4
    assert cap.calls(**{"from": frm, "to": to, "status": "2xx"})["total"] == 8
    assert cap.calls(**{"from": frm, "to": to, "caller": "sue*"})["total"] == 12
    assert cap.calls(**{"from": frm, "to": to, "ip": "10.1.0.2"})["total"] == 12
    assert cap.calls(**{"from": frm, "to": to, "ip": "10.9.9.9"})["total"] == 0
    assert cap.calls(**{"from": frm, "to": to, "ua": "sipp"})["total"] == 12
    assert cap.calls(**{"from": frm, "to": to, "method": "invite"})["total"] == 12
    assert cap.calls(callid="s-05@e2e")["calls"][0]["callee"] == "tom5"
    page = cap.calls(**{"from": frm, "to": to, "limit": 5, "offset": 10})
    assert page["total"] == 12 and [c["callid"] for c in page["calls"]] == ["s-01@e2e", "s-00@e2e"], page
    st, _, body = cap.request("GET", "/api/calls?limit=abc")
    assert st == 400 and b"error" in body, (st, body)
    st, _, _ = cap.request("GET", "/api/calls/nope@e2e")
    assert st == 404


@t.test
def summary_updated_across_writes():
    """A call written, then updated by later messages (the upsert that leaves the indexed
    columns alone), then by an earlier one (the full upsert: the start moves)."""
    cap = S["cap"]
    t0 = time.time() - 20
    msgs = full_call("split-1@e2e", "uma", "vic", t0=t0)
    cap.send_udp(hep_call(msgs[:3]))
    cap.wait_calls(["split-1@e2e"], messages=3)
    cap.send_udp(hep_call(msgs[3:]))
    c = cap.wait_calls(["split-1@e2e"], messages=7)["split-1@e2e"]
    assert (c["status"], c["caller"], c["callee"], c["duration_ms"]) == (200, "uma", "vic", 530), c
    assert abs(c["start"] - t0 * 1000) <= 1 and abs(c["end"] - (t0 + 0.532) * 1000) <= 1, c
    early = [(t0 - 1, A, B, msgs[0][3].replace(b"INVITE sip:", b"OPTIONS sip:", 1))]
    cap.send_udp(hep_call(early))
    c = cap.wait_calls(["split-1@e2e"], messages=8)["split-1@e2e"]
    assert abs(c["start"] - (t0 - 1) * 1000) <= 1 and c["status"] == 200, c
    assert cap.calls(caller="uma", **{"from": int((t0 - 1) * 1000) - 1, "to": int((t0 - 1) * 1000) + 1})["total"] == 1


@t.test
def search_wildcard_is_only_star():
    """'*' is the only wildcard: '%', '_' and '\\' in a search value match themselves."""
    cap = S["cap"]
    t0 = time.time() - 40
    cap.send_udp(hep_call(full_call("w-1@e2e", "x_1", "p%q", t0=t0)) +
                 hep_call(full_call("w-2@e2e", "xa1", "pzq", t0=t0 + 0.1)) +
                 hep_call(full_call("w-3@e2e", "x\\1", "p_q", t0=t0 + 0.2)))
    cap.wait_calls(["w-1@e2e", "w-2@e2e", "w-3@e2e"])
    frm, to = int(t0 * 1000) - 1, int((t0 + 1) * 1000)

    def ids(**q):
        return sorted(c["callid"] for c in cap.calls(**{"from": frm, "to": to}, **q)["calls"])
    assert ids(caller="x_*") == ["w-1@e2e"], ids(caller="x_*")
    assert ids(caller="x\\*") == ["w-3@e2e"], ids(caller="x\\*")
    assert ids(callee="p%*") == ["w-1@e2e"], ids(callee="p%*")
    assert ids(callee="*_q") == ["w-3@e2e"], ids(callee="*_q")
    assert ids(caller="x*1") == ["w-1@e2e", "w-2@e2e", "w-3@e2e"]
    assert ids(caller="x_1") == ["w-1@e2e"] and ids(callee="p%q") == ["w-1@e2e"]


@t.test
def stats_over_a_range():
    cap = S["cap"]
    t0 = S["search_t0"]
    s = cap.api("/api/stats?from=%d&to=%d" % (int(t0 * 1000) - 1, int((t0 + 12) * 1000)))
    assert (s["calls"], s["answered"], s["failed"]) == (12, 8, 4), s
    assert abs(s["asr"] - 66.67) < 0.1 and s["codes"] == {"200": 8, "486": 4}, s
    assert s["avg_setup_ms"] == 4 and s["avg_duration_ms"] == 530, s
    assert s["ingest"]["rows_written"] >= 7 * 12 and s["ingest"]["dropped"] == 0, s["ingest"]


@t.test
def legs_correlated_by_x_cid():
    cap = S["cap"]
    t0 = time.time() - 2
    cap.send_udp(hep_call(full_call("leg-a@e2e", "ivan", "judy", t0=t0)))
    cap.send_udp(hep_call(full_call("leg-b@e2e", "ivan", "judy", t0=t0 + 0.002, extra_hdr="X-CID: leg-a@e2e")))
    cap.wait_calls(["leg-a@e2e", "leg-b@e2e"], messages=7)
    v = cap.call("leg-a@e2e")
    assert [l["callid"] for l in v["legs"]] == ["leg-b@e2e"], v["legs"]
    assert {m["callid"] for m in v["messages"]} == {"leg-a@e2e", "leg-b@e2e"} and len(v["messages"]) == 14
    assert [l["callid"] for l in cap.call("leg-b@e2e")["legs"]] == ["leg-a@e2e"]


@t.test
def live_feed_announces_new_calls():
    cap = S["cap"]
    url = "http://127.0.0.1:%d/api/live?token=%s" % (cap.http, cap.token)
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream"), r.headers
        r.readline()  # the greeting comment
        cap.send_udp(hep_call(full_call("live-1@e2e", "kim", "lee")))
        lines = []
        while not any(l.startswith(b"data:") for l in lines):
            lines.append(r.readline())
    assert b"event: call\n" in lines, lines
    ev = json.loads([l for l in lines if l.startswith(b"data:")][0][5:])
    assert ev["callid"] == "live-1@e2e" and ev["caller"] == "kim", ev


@t.test
def auth_required():
    cap = S["cap"]
    for path in ("/api/calls", "/api/calls/udp-1@e2e", "/api/calls/udp-1@e2e.pcap", "/api/stats", "/api/live"):
        st, h, _ = cap.request("GET", path, token=False)
        assert st == 401 and h.get("WWW-Authenticate") == "Bearer", (path, st)
    st, _, _ = cap.request("GET", "/api/calls", token=False, headers={"Authorization": "Bearer x.y.z"})
    assert st == 401
    st, _, _ = cap.request("POST", "/api/auth/login", {"username": "admin", "password": "wrong"}, token=False)
    assert st == 401
    st, _, _ = cap.request("POST", "/api/auth/login", {"user": "admin"}, token=False)
    assert st == 400
    st, _, body = cap.request("GET", "/api/heartbeat", token=False)
    assert st == 200 and json.loads(body) == {"ok": True}
    st, h, body = cap.request("GET", "/", token=False)
    assert st == 200 and h["Content-Type"].startswith("text/html"), (st, h)
    st, _, body2 = cap.request("GET", "/calls/some-ui-route", token=False)
    assert st == 200 and body2 == body


@t.test
def metrics_count_packets_and_rows():
    # 10 calls of 7 messages (udp, tcp, v2, zip, v6, good, after-junk, two legs, live),
    # 8 answered and 4 busy (5 messages) from the search test, and whatever mutated
    # packets still decoded and parsed (the junk test): every decoded packet is either a
    # row or an error counted by reason
    text = metrics(S["cap"])
    rows = 10 * 7 + 8 * 7 + 4 * 5
    assert metric(text, "hearth_capture_rows_written_total", '{table="hep_proto_1_call"}') >= rows, text[:800]
    framing = metric(text, "hearth_capture_errors_total", '{reason="tcp_framing"}')  # not packets
    stats = wait_for(lambda: (lambda x: x["queue_depth"] == 0 and x)(S["cap"].api("/api/stats")["ingest"]),
                     "queue drained")
    assert stats["packets"] == stats["errors"] - framing + stats["rows_written"], (stats, framing)
    assert metric(text, "hearth_capture_dropped_total") == 0
    assert "hearth_capture_queue_depth" in text and "hearth_capture_batch_seconds_bucket" in text
    assert re.search(r"^hearth_capture_socket_drops_total \d+$", text, re.M), text  # kernel drops too


@t.test
def hep_password_and_dedup():
    cap = Capture(args=["--hep-password", "s3cret", "--dedup", "500ms"])
    try:
        msgs = full_call("pw-1@e2e", "max", "ned")
        cap.send_udp(hep_call(msgs[:1]))  # no auth key: refused
        cap.send_udp(hep_call(msgs, password="wrong")[:1])
        ok = hep_call(msgs, password="s3cret")
        cap.send_udp(ok + ok[:3])  # three duplicates within the window
        c = cap.wait_calls(["pw-1@e2e"], messages=7)["pw-1@e2e"]
        assert c["messages"] == 7
        text = metrics(cap)
        assert metric(text, "hearth_capture_errors_total", '{reason="auth"}') == 2, text
        assert metric(text, "hearth_capture_duplicates_total") == 3
    finally:
        code, out = cap.stop()
    assert code == 0, out[-2000:]


@t.test
def overload_drops_counted_never_silent():
    # a queue of 20 rows and a writer that only flushes every 30 s: the rest must be
    # refused and counted, and what was admitted must still reach the database
    cap = Capture(args=["--queue", "20", "--flush", "30s", "--batch", "1000"])
    db = os.path.join(cap.tmp, "capture.db")
    try:
        pk = []
        for i in range(10):
            pk += hep_call(full_call("ov-%d@e2e" % i))
        cap.send_udp(pk, pause=0.0005)
        text = wait_for(lambda: (lambda x: metric(x, "hearth_capture_dropped_total") >= 50 and x)(metrics(cap)),
                        "drops counted")
        assert metric(text, "hearth_capture_dropped_total") == 50, text
        assert metric(text, "hearth_capture_queue_depth") == 20
        s = cap.api("/api/stats")
        assert s["ingest"]["dropped"] == 50 and s["ingest"]["queue_depth"] == 20, s["ingest"]
        assert '"msg":"capture: queue full, packets dropped"' in cap.proc.output()
        code = cap.proc.stop()
        assert code == 0, cap.proc.output()[-2000:]
        with sqlite3.connect(db) as con:
            n = con.execute("SELECT COUNT(*) FROM hep_proto_1_call").fetchone()[0]
        assert n == 20, n  # every admitted row stored on SIGTERM: 20 + 50 = 70 sent
    finally:
        cap.stop()


@t.test
def sigterm_drains_queue_into_database():
    cap = Capture(args=["--flush", "60s"])
    db = os.path.join(cap.tmp, "capture.db")
    try:
        pk = []
        for i in range(30):
            pk += hep_call(full_call("drain-%d@e2e" % i))
        cap.send_udp(pk, pause=0.0002)
        wait_for(lambda: cap.api("/api/stats")["ingest"]["packets"] == 210, "packets received")
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT COUNT(*) FROM hep_proto_1_call").fetchone()[0] == 0  # nothing flushed yet
        code = cap.proc.stop()
        out = cap.proc.output()
        assert code == 0, out[-2000:]
        assert '"msg":"capture: queue drained"' in out, out[-2000:]
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT COUNT(*) FROM hep_proto_1_call").fetchone()[0] == 210
            assert con.execute("SELECT COUNT(*), SUM(messages) FROM capture_calls").fetchone() == (30, 210)
    finally:
        cap.stop()


@t.test
def committed_rows_survive_sigkill():
    """SQLite runs WAL with synchronous=NORMAL (--sqlite-sync): a row counted as written
    is in the database file even when hearth is killed without a chance to flush."""
    cap = Capture()
    db = os.path.join(cap.tmp, "capture.db")
    try:
        for i in range(5):
            cap.send_udp(hep_call(full_call("kill-%d@e2e" % i)))
        wait_for(lambda: cap.api("/api/stats")["ingest"]["rows_written"] == 35, "35 rows written")
        assert cap.proc.stop(sig=signal.SIGKILL) == -signal.SIGKILL
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT COUNT(*) FROM hep_proto_1_call WHERE sid LIKE 'kill-%'").fetchone()[0] == 35
    finally:
        cap.stop()
    tmp = tempfile.mkdtemp(prefix="hearth-capture-e2e-")
    try:
        r = subprocess.run([binary("hearth"), "capture", "--sqlite-sync", "sometimes", "--hep", "127.0.0.1:0",
                            "--http", "127.0.0.1:0"], cwd=tmp, capture_output=True, timeout=30,
                           env=dict(os.environ, ADMIN_PASSWORD=PASSWORD, HEARTH_DATA=tmp))
        assert r.returncode != 0 and b"sqlite-sync" in r.stdout + r.stderr, r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@t.test
def retention_deletes_old_rows():
    cap = Capture(args=["--retain-days", "2"])
    db = os.path.join(cap.tmp, "capture.db")
    try:
        cap.send_udp(hep_call(full_call("old-1@e2e", t0=time.time() - 5 * 86400)))
        cap.send_udp(hep_call(full_call("new-1@e2e")))
        cap.wait_calls(["new-1@e2e"], messages=7)
        wait_for(lambda: cap.api("/api/stats")["ingest"]["rows_written"] == 14, "14 rows")
        assert cap.proc.stop() == 0
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT COUNT(*) FROM hep_proto_1_call").fetchone()[0] == 14
        # a restart runs the retention at once: the old call goes, the new one stays
        again = Capture(args=["--retain-days", "2"], env={"DATABASE_URL": "sqlite:" + db})
        try:
            def only_new():
                with sqlite3.connect(db) as con:
                    return con.execute("SELECT DISTINCT sid FROM hep_proto_1_call").fetchall() == [("new-1@e2e",)]
            wait_for(only_new, "old rows deleted")
            with sqlite3.connect(db) as con:
                assert con.execute("SELECT callid FROM capture_calls").fetchall() == [("new-1@e2e",)]
        finally:
            code, out = again.stop()
        assert code == 0, out[-2000:]
    finally:
        cap.stop()


@t.test
def stops_cleanly_on_sigterm():
    code, out = S.pop("cap").stop()
    assert code == 0, out[-3000:]
    assert "ERROR: AddressSanitizer" not in out and "runtime error" not in out, out[-3000:]


def teardown():
    if "cap" in S:
        code, out = S["cap"].stop()
        if code != 0:
            print("# capture exited %s:\n# %s" % (code, out[-3000:].replace("\n", "\n# ")))


if __name__ == "__main__":
    setup()
    t.run(cleanup=teardown)
