"""End-to-end tests of `hearth agent` (issue 5), heplify's replacement: SIPp calls on
loopback captured with libpcap on `lo` and sent as HEP3 to a HEP listener written here
(every chunk decoded and checked: addresses, ports, transport, time, capture id, node
name, auth key), SIP over TCP reassembled (SIPp `-t t1`, and a message split over two
segments next to two pipelined in one), IPv4 fragments put back together, `-dim` and
`-dd`, HEP over TCP to a server that comes up late (queued, then delivered), /metrics,
heplify's `-dim sip,sdp` refused, and the whole path into `hearth capture`, read back
through its API. Needs root (pcap); prints a TAP skip otherwise."""
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from harness import Proc, Tap, binary, dead_port, free_port, release_port, wait_port

if os.geteuid() != 0:
    print("1..0 # SKIP capturing with libpcap needs root")
    sys.exit(0)

t = Tap()
S = {"procs": []}
CALLS = 3
FLOW = ["INVITE", "180", "200", "ACK", "BYE", "200"]


# ---- helpers ----

def port_pair():
    """Two adjacent loopback ports free for UDP and TCP: the SIP port range, below the
    ephemeral range, so no other test's client socket lands in it and gets captured."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    for _ in range(100):
        base = random.randint(10000, low - 2)
        socks = []
        try:
            for p in (base, base + 1):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no two adjacent free ports")


def hep_decode(pkt):
    """A HEP3 packet as a dict of chunk type -> bytes (plus 'len')."""
    assert pkt[:4] == b"HEP3", pkt[:8]
    total = struct.unpack("!H", pkt[4:6])[0]
    assert total == len(pkt), (total, len(pkt))
    out, off = {"len": total}, 6
    while off < total:
        vendor, typ, clen = struct.unpack("!HHH", pkt[off:off + 6])
        assert clen >= 6 and off + clen <= total, (typ, clen)
        if vendor == 0:
            out[typ] = pkt[off + 6:off + clen]
        off += clen
    return out


def hep_fields(h):
    """The fields the tests look at, decoded."""
    fam = h[1][0]
    src = socket.inet_ntop(socket.AF_INET if fam == 2 else socket.AF_INET6, h[3] if fam == 2 else h[5])
    dst = socket.inet_ntop(socket.AF_INET if fam == 2 else socket.AF_INET6, h[4] if fam == 2 else h[6])
    payload = h[0x0f].decode("utf-8", "replace")
    first = payload.split("\r\n", 1)[0]
    m = re.match(r"SIP/2.0 (\d+)", first)
    callid = re.search(r"^(?:Call-ID|i)\s*:\s*(\S+)", payload, re.M | re.I)
    return {
        "family": fam, "proto": h[2][0], "src": src, "dst": dst,
        "sport": struct.unpack("!H", h[7])[0], "dport": struct.unpack("!H", h[8])[0],
        "sec": struct.unpack("!I", h[9])[0], "usec": struct.unpack("!I", h[10])[0],
        "type": h[0x0b][0], "capture_id": struct.unpack("!I", h[0x0c])[0],
        "auth": h.get(0x0e), "node": h.get(0x13), "payload": payload,
        "what": m.group(1) if m else first.split(" ", 1)[0],
        "callid": callid.group(1) if callid else None,
    }


class HepUdp:
    """A HEP collector on UDP: every datagram decoded, kept in arrival order."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets, self.lock, self.stop = [], threading.Lock(), False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.packets.append(hep_fields(hep_decode(data)))

    def take(self):
        with self.lock:
            p, self.packets = self.packets, []
        return p

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


class HepTcp:
    """A HEP collector on TCP, framed by the HEP3 length."""

    def __init__(self, port):
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(4)
        self.srv.settimeout(0.2)
        self.packets, self.lock, self.stop = [], threading.Lock(), False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(0.2)
            buf = b""
            while not self.stop:
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    break
                buf += d
                while len(buf) >= 6:
                    n = struct.unpack("!H", buf[4:6])[0]
                    if len(buf) < n:
                        break
                    with self.lock:
                        self.packets.append(hep_fields(hep_decode(buf[:n])))
                    buf = buf[n:]
            c.close()

    def take(self):
        with self.lock:
            p, self.packets = self.packets, []
        return p

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.srv.close()


def wait_packets(col, n, timeout=10.0, exact=True):
    """Collects HEP packets until n arrived (then 0.3 s more, to see extras)."""
    got, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline and len(got) < n:
        got += col.take()
        time.sleep(0.05)
    time.sleep(0.3)
    got += col.take()
    if exact:
        assert len(got) == n, "expected %d HEP packets, got %d: %s" % (n, len(got), [g["what"] for g in got])
    return got


def http_get(url, token=None, timeout=5):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, name, labels=""):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None


def start_agent(*flags, hep_port=None, metrics_port=None, wait=True):
    mp = metrics_port or free_port()
    args = [binary("hearth"), "agent", "-i", "lo", "-pr", "%d-%d" % (S["sip"], S["sip"] + 1),
            "-prometheus", "127.0.0.1:%d" % mp]
    if hep_port:
        args += ["-hs", "127.0.0.1:%d" % hep_port]
    p = Proc(args + list(flags))
    S["procs"].append(p)
    p.metrics = mp
    if wait:
        wait_port(mp, proc=p)
        # the capture is live once the heartbeat says so
        st, body = http_get("http://127.0.0.1:%d/api/heartbeat" % mp)
        assert st == 200 and json.loads(body)["capturing"] is True, (st, body)
    return p


def stop(p):
    rc = p.stop()
    S["procs"].remove(p)
    assert rc == 0, "exit %s:\n%s" % (rc, p.output()[-3000:])
    return rc


def wait_udp_bound(port, proc, timeout=10.0):
    """Waits until a UDP socket is bound on 127.0.0.1:port (read from /proc/net/udp, so
    nothing is sent that the capture would see). SIPp's UAS must be ready before the UAC
    starts: an INVITE sent too early is retransmitted, and the capture would see 7
    messages instead of 6."""
    want = "0100007F:%04X" % port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.output()[-2000:]
        with open("/proc/net/udp") as f:
            if any(line.split()[1] == want for line in f.readlines()[1:]):
                return
        time.sleep(0.05)
    raise AssertionError("nothing bound on udp 127.0.0.1:%d after %.0fs" % (port, timeout))


def sipp_calls(transport="u1", calls=CALLS):
    """A SIPp UAS on the range's first port and a UAC on its second; returns the UAC's
    exit status after `calls` calls (0 = every call passed)."""
    port = S["sip"]
    uas = Proc(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", port, "-t", transport,
                "-mp", free_port(socket.SOCK_DGRAM), "-nostdin"], cwd=S["tmp"])
    try:
        if transport == "t1":
            wait_port(port, proc=uas)
        else:
            wait_udp_bound(port, uas)
        uac = subprocess.run(["sipp", "-sn", "uac", "127.0.0.1:%d" % port, "-i", "127.0.0.1",
                              "-p", str(port + 1), "-t", transport,
                              "-mp", str(free_port(socket.SOCK_DGRAM)), "-m", str(calls),
                              "-r", "10", "-d", "100", "-nostdin", "-timeout", "20s"],
                             cwd=S["tmp"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        assert uac.returncode == 0, uac.stdout.decode()[-2000:]
    finally:
        uas.stop(timeout=5)
    return uac.returncode


def by_call(pkts):
    calls = {}
    for p in sorted(pkts, key=lambda p: (p["sec"], p["usec"])):
        calls.setdefault(p["callid"], []).append(p)
    return calls


def setup():
    S["tmp"] = tempfile.mkdtemp(prefix="hearth-agent-e2e-")
    S["sip"] = port_pair()
    S["hep"] = HepUdp()


def teardown():
    for p in list(S["procs"]):
        p.stop()
    S["hep"].close()


# ---- tests ----

@t.test
def help_lists_heplify_flags():
    r = subprocess.run([binary("hearth"), "agent", "--help"], stdout=subprocess.PIPE, timeout=10)
    out = r.stdout.decode()
    assert r.returncode == 0
    # heplify's single-dash spellings, as its users type them
    for flag in ("-i", "-hs", "-m", "-pr", "-dim", "-hi", "-hn", "-hp", "-nt", "-dd", "-prometheus"):
        assert re.search(r"^  %s\b" % re.escape(flag), out, re.M), (flag, out)
    assert not re.search(r"^  --(?!help)", out, re.M), out
    # and --hs works as well as -hs (Go's flag package accepts both)
    r = subprocess.run([binary("hearth"), "agent", "--dim", "sdp"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=10)
    assert r.returncode != 0 and '-dim "sdp" is not a SIP method' in r.stdout.decode()


@t.test
def dim_sip_sdp_refused_with_reason():
    r = subprocess.run([binary("hearth"), "agent", "-i", "lo", "-dim", "sip,sdp"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    out = r.stdout.decode()
    assert r.returncode != 0
    assert '-dim "sip" is not a SIP method' in out and "CSeq" in out, out
    r = subprocess.run([binary("hearth"), "agent", "-i", "lo", "-m", "SIPRTCP"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    assert r.returncode != 0 and "-m SIPRTCP is not supported" in r.stdout.decode()
    r = subprocess.run([binary("hearth"), "agent", "-i", "no-such-if0", "-prometheus", "127.0.0.1:0"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    assert r.returncode != 0 and "no-such-if0" in r.stdout.decode()


@t.test
def udp_calls_reach_hep_with_real_headers():
    a = start_agent("-hi", "2345", "-hn", "e2e-node", "-hp", "s3cret", hep_port=S["hep"].port)
    t0 = time.time()
    sipp_calls("u1")
    pkts = wait_packets(S["hep"], CALLS * 6)
    calls = by_call(pkts)
    assert len(calls) == CALLS, calls.keys()
    port = S["sip"]
    for cid, msgs in calls.items():
        assert [m["what"] for m in msgs] == FLOW, (cid, [m["what"] for m in msgs])
        for m in msgs:
            assert m["proto"] == 17 and m["family"] == 2 and m["type"] == 1, m
            assert m["src"] == m["dst"] == "127.0.0.1"
            uac_to_uas = m["what"] in ("INVITE", "ACK", "BYE")
            assert (m["sport"], m["dport"]) == ((port + 1, port) if uac_to_uas else (port, port + 1)), m
            assert m["capture_id"] == 2345 and m["node"] == b"e2e-node" and m["auth"] == b"s3cret"
            assert t0 - 1 <= m["sec"] + m["usec"] / 1e6 <= time.time() + 1
    st, text = http_get("http://127.0.0.1:%d/metrics" % a.metrics)
    assert st == 200
    assert metric(text, "hearth_agent_hep_sent_total", '{server="127.0.0.1:%d"}' % S["hep"].port) == CALLS * 6
    assert metric(text, "hearth_agent_sip_messages_total") == CALLS * 6
    assert metric(text, "hearth_agent_captured_total") >= CALLS * 6
    assert metric(text, "hearth_agent_dropped_total", '{reason="send_failed"}') == 0
    stop(a)


@t.test
def sip_over_tcp_reassembled():
    a = start_agent(hep_port=S["hep"].port)
    sipp_calls("t1")
    pkts = wait_packets(S["hep"], CALLS * 6)
    calls = by_call(pkts)
    assert len(calls) == CALLS
    for cid, msgs in calls.items():
        assert [m["what"] for m in msgs] == FLOW, (cid, [m["what"] for m in msgs])
        assert all(m["proto"] == 6 for m in msgs)
        assert all(S["sip"] in (m["sport"], m["dport"]) for m in msgs)

    # one message over two segments, then two pipelined in one segment
    def msg(method, cseq, body=""):
        return ("%s sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK%d\r\n"
                "Call-ID: tcp-split@e2e\r\nCSeq: %d %s\r\nContent-Length: %d\r\n\r\n%s"
                % (method, cseq, cseq, method, len(body), body)).encode()
    big = msg("MESSAGE", 1, "x" * 3000)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", S["sip"]))
    srv.listen(1)
    c = socket.create_connection(("127.0.0.1", S["sip"]))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    peer, _ = srv.accept()
    c.sendall(big[:700])
    time.sleep(0.1)
    c.sendall(big[700:])
    time.sleep(0.1)
    c.sendall(msg("INFO", 2) + b"\r\n\r\n" + msg("INFO", 3, "hello"))
    got = wait_packets(S["hep"], 3)
    c.close()
    peer.close()
    srv.close()
    assert [g["payload"].encode() for g in got] == [big, msg("INFO", 2), msg("INFO", 3, "hello")]
    st, text = http_get("http://127.0.0.1:%d/metrics" % a.metrics)
    assert metric(text, "hearth_agent_tcp_reassembled_total") == CALLS * 6 + 3
    stop(a)


@t.test
def ipv4_fragments_reassembled():
    a = start_agent(hep_port=S["hep"].port)
    body = "y" * 2500
    sip = ("MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nCall-ID: frag@e2e\r\nCSeq: 1 MESSAGE\r\n"
           "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode()
    udp = struct.pack("!HHHH", S["sip"] + 1, S["sip"], 8 + len(sip), 0) + sip
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    ident = random.randint(1, 65000)
    for off, more in ((0, 1), (1480, 0)):
        part = udp[off:off + 1480]
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(part), ident, (more << 13) | (off // 8), 64, 17, 0,
                          socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
        raw.sendto(hdr + part, ("127.0.0.1", 0))
    raw.close()
    got = wait_packets(S["hep"], 1)
    assert got[0]["payload"].encode() == sip
    assert (got[0]["sport"], got[0]["dport"]) == (S["sip"] + 1, S["sip"])
    st, text = http_get("http://127.0.0.1:%d/metrics" % a.metrics)
    assert metric(text, "hearth_agent_defragmented_total") == 1
    stop(a)


@t.test
def any_device_ipv6_and_loopback_seen_once():
    # The Linux cooked header of `any`; each loopback packet gives one HEP packet.
    a = start_agent("-i", "any", hep_port=S["hep"].port)
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((host, S["sip"] + 1))
        s.sendto(("NOTIFY sip:x@example SIP/2.0\r\nCall-ID: any-%d\r\nCSeq: 1 NOTIFY\r\n"
                  "Content-Length: 0\r\n\r\n" % fam).encode(), (host, S["sip"]))
        s.close()
    got = wait_packets(S["hep"], 2)
    v6 = [g for g in got if g["family"] == 10]
    assert len(v6) == 1 and v6[0]["src"] == v6[0]["dst"] == "::1", got
    assert v6[0]["sport"] == S["sip"] + 1 and v6[0]["proto"] == 17
    stop(a)


@t.test
def dim_and_dedup_discard():
    a = start_agent("-dim", "options", "-dd", hep_port=S["hep"].port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", S["sip"] + 1))

    def sip(first, cseq, cid):
        return ("%s\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\nCall-ID: %s\r\nCSeq: %s\r\n"
                "Content-Length: 0\r\n\r\n" % (first, S["sip"] + 1, cid, cid, cseq)).encode()
    s.sendto(sip("OPTIONS sip:x@127.0.0.1 SIP/2.0", "1 OPTIONS", "o1"), ("127.0.0.1", S["sip"]))
    s.sendto(sip("SIP/2.0 200 OK", "1 Options", "o1"), ("127.0.0.1", S["sip"]))
    info = sip("INFO sip:x@127.0.0.1 SIP/2.0", "2 INFO", "i1")
    s.sendto(info, ("127.0.0.1", S["sip"]))
    s.sendto(info, ("127.0.0.1", S["sip"]))  # the same bytes again: a duplicate
    s.sendto(b"\r\n\r\n", ("127.0.0.1", S["sip"]))  # a keep-alive
    s.close()
    got = wait_packets(S["hep"], 1)
    assert got[0]["what"] == "INFO"
    st, text = http_get("http://127.0.0.1:%d/metrics" % a.metrics)
    assert metric(text, "hearth_agent_discarded_total", '{reason="method"}') == 2
    assert metric(text, "hearth_agent_discarded_total", '{reason="duplicate"}') == 1
    assert metric(text, "hearth_agent_discarded_total", '{reason="not_sip"}') == 1
    stop(a)


@t.test
def sigterm_sends_what_was_captured():
    # SIGTERM right after the last message: the ring's last block is read before the
    # capture closes, so nothing captured before the stop is lost.
    a = start_agent(hep_port=S["hep"].port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", S["sip"] + 1))
    for i in range(20):
        s.sendto(("MESSAGE sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: term%d\r\nCSeq: 1 MESSAGE\r\n"
                  "Content-Length: 0\r\n\r\n" % i).encode(), ("127.0.0.1", S["sip"]))
    s.close()
    stop(a)
    got = wait_packets(S["hep"], 20, timeout=5)
    assert sorted(g["callid"] for g in got) == sorted("term%d" % i for i in range(20))


@t.test
def hep_over_tcp_queues_until_server_is_up():
    hep_port = dead_port()  # held until the collector comes up: no other job takes it
    a = start_agent("-nt", "tcp", hep_port=hep_port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", S["sip"] + 1))
    for i in range(5):
        s.sendto(("MESSAGE sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: q%d\r\nCSeq: %d MESSAGE\r\n"
                  "Content-Length: 0\r\n\r\n" % (i, i + 1)).encode(), ("127.0.0.1", S["sip"]))
    s.close()
    time.sleep(0.5)
    st, text = http_get("http://127.0.0.1:%d/metrics" % a.metrics)
    assert metric(text, "hearth_agent_server_up", '{server="127.0.0.1:%d"}' % hep_port) == 0
    release_port(hep_port)
    col = HepTcp(hep_port)  # the server comes up late: backoff reconnects, the queue drains
    try:
        got = wait_packets(col, 5, timeout=15)
        assert [g["callid"] for g in got] == ["q%d" % i for i in range(5)]
        assert all(g["proto"] == 17 for g in got)
        st, text = http_get("http://127.0.0.1:%d/metrics" % a.metrics)
        assert metric(text, "hearth_agent_server_up", '{server="127.0.0.1:%d"}' % hep_port) == 1
        assert metric(text, "hearth_agent_hep_sent_total", '{server="127.0.0.1:%d"}' % hep_port) == 5
        stop(a)
    finally:
        col.close()


def wait_metric(port, name, labels, value, timeout=10.0):
    """Polls /metrics until name{labels} == value; returns the last text."""
    deadline, text = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        st, text = http_get("http://127.0.0.1:%d/metrics" % port)
        if st == 200 and metric(text, name, labels) == value:
            return text
        time.sleep(0.1)
    raise AssertionError("%s%s never became %s:\n%s" % (name, labels, value, text))


@t.test
def hep_over_tcp_reconnects_after_server_restart():
    hep_port = free_port()
    label = '{server="127.0.0.1:%d"}' % hep_port
    col = HepTcp(hep_port)
    a = start_agent("-nt", "tcp", hep_port=hep_port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", S["sip"] + 1))

    def send(i):
        s.sendto(("MESSAGE sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: r%d\r\nCSeq: %d MESSAGE\r\n"
                  "Content-Length: 0\r\n\r\n" % (i, i + 1)).encode(), ("127.0.0.1", S["sip"]))
    try:
        wait_metric(a.metrics, "hearth_agent_server_up", label, 1)
        send(0)
        assert [g["callid"] for g in wait_packets(col, 1)] == ["r0"]
        col.close()  # the server goes away: the agent sees the connection close
        wait_metric(a.metrics, "hearth_agent_server_up", label, 0)
        for i in range(1, 4):
            send(i)  # queued while the server is down
        col = HepTcp(hep_port)
        got = wait_packets(col, 3, timeout=20)
        assert [g["callid"] for g in got] == ["r1", "r2", "r3"]
        text = wait_metric(a.metrics, "hearth_agent_server_up", label, 1)
        assert metric(text, "hearth_agent_hep_sent_total", label) == 4
        assert metric(text, "hearth_agent_dropped_total", '{reason="send_failed"}') == 0
        stop(a)
    finally:
        s.close()
        col.close()


@t.test
def calls_stored_by_hearth_capture():
    hep_port, http_port = free_port(), free_port()
    env = {"DATABASE_URL": "sqlite:" + os.path.join(S["tmp"], "capture.db"), "ADMIN_PASSWORD": "agent-e2e-pw"}
    cap = Proc([binary("hearth"), "capture", "--hep", "127.0.0.1:%d" % hep_port,
                "--http", "127.0.0.1:%d" % http_port], env=env)
    S["procs"].append(cap)
    wait_port(http_port, proc=cap)
    a = start_agent(hep_port=hep_port)
    t0 = int(time.time() * 1000) - 1000
    sipp_calls("u1")
    req = urllib.request.Request("http://127.0.0.1:%d/api/auth/login" % http_port,
                                 data=json.dumps({"username": "admin", "password": "agent-e2e-pw"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        token = json.loads(r.read())["token"]
    deadline, calls = time.monotonic() + 10, []
    while time.monotonic() < deadline:
        st, body = http_get("http://127.0.0.1:%d/api/calls?from=%d&to=%d" % (http_port, t0, t0 + 120000), token)
        assert st == 200, (st, body)
        calls = json.loads(body)["calls"]
        if len(calls) == CALLS and all(c["messages"] == 6 for c in calls):
            break
        time.sleep(0.2)
    assert len(calls) == CALLS and all(c["messages"] == 6 for c in calls), calls
    cid = calls[0]["callid"]
    st, body = http_get("http://127.0.0.1:%d/api/calls/%s" % (http_port, urllib.request.quote(cid)), token)
    msgs = json.loads(body)["messages"]
    assert [str(m.get("method") or m.get("status")) for m in msgs] == FLOW, msgs
    assert all(m["transport"].lower() == "udp" for m in msgs), msgs
    stop(a)
    stop(cap)


setup()
t.run(cleanup=teardown)
