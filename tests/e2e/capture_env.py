"""Helpers for the capture end-to-end tests (test_capture_ui.py, test_capture_peers.py):
`hearth capture` on free loopback ports in a temporary directory, its JSON API with a
login token, SIP calls as SIPp writes them, and the wire formats written here
independently of src/capture: HEPv3 (chunks) and libpcap files with Ethernet/IPv4/UDP frames."""
import json
import os
import shutil
import socket
import struct
import tempfile
import time
import urllib.error
import urllib.request

from harness import Proc, binary, free_port, wait_port

PASSWORD = "capture-e2e-secret"


def free_hep_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        p = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    raise AssertionError("no port free for both UDP and TCP")


class Capture:
    """`hearth capture` with SQLite in a temporary directory, HEP and HTTP on free ports."""

    def __init__(self, args=(), env=None):
        self.tmp = tempfile.mkdtemp(prefix="hearth-capture-e2e-")
        self.hep = free_hep_port()
        self.http = free_port()
        e = {"ADMIN_PASSWORD": PASSWORD, "DATABASE_URL": "sqlite:" + os.path.join(self.tmp, "capture.db"),
             "HEARTH_DATA": self.tmp}
        e.update(env or {})
        self.proc = Proc([binary("hearth"), "capture", "--hep", "127.0.0.1:%d" % self.hep,
                          "--http", "127.0.0.1:%d" % self.http] + list(args), env=e, cwd=self.tmp)
        wait_port(self.http, proc=self.proc, timeout=20)
        self.token = self.login()

    def request(self, method, path, body=None, token=True, headers=None):
        """(status, headers, body bytes) of one HTTP request to the API listener."""
        h = dict(headers or {})
        if token and self.token:
            h["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http, path), data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def login(self):
        self.token = None
        status, _, body = self.request("POST", "/api/auth/login", {"username": "admin", "password": PASSWORD}, token=False)
        assert status == 200, (status, body[:300], self.proc.output()[-2000:])
        return json.loads(body)["token"]

    def api(self, path):
        status, _, body = self.request("GET", path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def calls(self, **q):
        """/api/calls over the last day and the next hour unless from/to are given."""
        now = int(time.time() * 1000)
        q.setdefault("from", now - 86400000)
        q.setdefault("to", now + 3600000)
        q.setdefault("limit", 200)
        return self.api("/api/calls?" + "&".join("%s=%s" % (k, urllib.request.quote(str(v), safe="")) for k, v in q.items()))

    def call(self, callid):
        return self.api("/api/calls/" + urllib.request.quote(callid, safe=""))

    def wait_calls(self, callids, messages=None, timeout=15.0):
        """Waits until every Call-ID is listed (with `messages` messages when given);
        returns {callid: summary}."""
        deadline = time.monotonic() + timeout
        seen = {}
        while time.monotonic() < deadline:
            seen = {c["callid"]: c for c in self.calls()["calls"]}
            if all(cid in seen and (messages is None or seen[cid]["messages"] == messages) for cid in callids):
                return seen
            time.sleep(0.2)
        raise AssertionError("calls not stored after %.0fs: want %s with %s messages, have %s" % (
            timeout, sorted(callids), messages, {k: v.get("messages") for k, v in seen.items()}))

    def send_udp(self, packets, pause=0.0):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for p in packets:
                s.sendto(p, ("127.0.0.1", self.hep))
                if pause:
                    time.sleep(pause)

    def send_tcp(self, packets):
        with socket.create_connection(("127.0.0.1", self.hep), timeout=5) as s:
            s.sendall(b"".join(packets))
            time.sleep(0.2)

    def stop(self):
        code = self.proc.stop()
        out = self.proc.output()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return code, out


# ---- SIP ----

SDP = ("v=0\r\no=user1 53655765 2353687637 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def sip_call(callid, caller, callee, a=("127.0.0.1", 5070), b=("127.0.0.1", 5060), t0=None, transport="UDP",
             ua="SIPp/3.6.1", server="hearth-e2e-uas", busy=False):
    """The six messages of a SIPp uac/uas call (INVITE 180 200 ACK BYE 200) as
    [(time_s, src, dst, bytes)], a -> b, spaced a few ms apart from t0; with busy, the
    four of a refused one (INVITE 180 486 ACK)."""
    t0 = time.time() if t0 is None else t0
    via = "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK-%s-%%d\r\n" % (transport, a[0], a[1], callid.split("@")[0])
    frm = "From: \"%s\" <sip:%s@%s:%d>;tag=%s-caller\r\n" % (caller, caller, a[0], a[1], caller)
    to = "To: <sip:%s@%s:%d>" % (callee, b[0], b[1])

    def req(method, cseq, branch, body=""):
        return ("%s sip:%s@%s:%d SIP/2.0\r\n" % (method, callee, b[0], b[1]) + via % branch + frm + to +
                (";tag=%s-callee" % callee if method != "INVITE" else "") + "\r\n" +
                "Call-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:%s@%s:%d>\r\nMax-Forwards: 70\r\nUser-Agent: %s\r\n" %
                (callid, cseq, method, caller, a[0], a[1], ua) +
                ("Content-Type: application/sdp\r\n" if body else "") +
                "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode()

    def resp(code, reason, cseq, method, branch, body=""):
        return ("SIP/2.0 %d %s\r\n" % (code, reason) + via % branch + frm + to + ";tag=%s-callee\r\n" % callee +
                "Call-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:%s@%s:%d>\r\nServer: %s\r\n" %
                (callid, cseq, method, callee, b[0], b[1], server) +
                ("Content-Type: application/sdp\r\n" if body else "") +
                "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode()

    offer, answer = SDP.format(ip=a[0], port=6000), SDP.format(ip=b[0], port=6002)
    if busy:  # RFC 3261 17.1.1.3: the ACK of a non-2xx answer is in the INVITE's transaction
        return [
            (t0, a, b, req("INVITE", 1, 1, offer)),
            (t0 + 0.004, b, a, resp(180, "Ringing", 1, "INVITE", 1)),
            (t0 + 0.900, b, a, resp(486, "Busy Here", 1, "INVITE", 1)),
            (t0 + 0.901, a, b, req("ACK", 1, 1)),
        ]
    return [
        (t0, a, b, req("INVITE", 1, 1, offer)),
        (t0 + 0.004, b, a, resp(180, "Ringing", 1, "INVITE", 1)),
        (t0 + 0.020, b, a, resp(200, "OK", 1, "INVITE", 1, answer)),
        (t0 + 0.021, a, b, req("ACK", 1, 2)),
        (t0 + 0.530, a, b, req("BYE", 2, 3)),
        (t0 + 0.532, b, a, resp(200, "OK", 2, "BYE", 3)),
    ]


# ---- HEP ----

def _chunk(typ, payload):
    return struct.pack("!HHH", 0, typ, 6 + len(payload)) + payload


def hep3(msg_time, src, dst, payload, proto=17, capture_id=2001, ptype=1, node=None, correlation=None,
         password=None):
    """A HEPv3 packet (chunks in kamailio's order) for one message."""
    sec = int(msg_time)
    usec = int(round((msg_time - sec) * 1e6))
    if usec >= 1000000:
        sec, usec = sec + 1, usec - 1000000
    c = [_chunk(1, b"\x02"), _chunk(2, bytes([proto])),
         _chunk(3, socket.inet_aton(src[0])), _chunk(4, socket.inet_aton(dst[0])),
         _chunk(7, struct.pack("!H", src[1])), _chunk(8, struct.pack("!H", dst[1])),
         _chunk(9, struct.pack("!I", sec)), _chunk(10, struct.pack("!I", usec)),
         _chunk(11, bytes([ptype])), _chunk(12, struct.pack("!I", capture_id))]
    if correlation:
        c.append(_chunk(0x11, correlation.encode()))
    if password:
        c.append(_chunk(0x0e, password.encode()))
    if node:
        c.append(_chunk(0x13, node.encode()))
    c.append(_chunk(0x0f, payload))
    body = b"".join(c)
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


def hep_call(msgs, proto=17, **kw):
    return [hep3(t, s, d, raw, proto=proto, **kw) for t, s, d, raw in msgs]


# ---- pcap ----

def _csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(src, dst, payload, ident=1):
    """An Ethernet II / IPv4 / UDP frame with correct checksums."""
    sa, da = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    ulen = 8 + len(payload)
    pseudo = sa + da + struct.pack("!BBH", 0, 17, ulen)
    udp = struct.pack("!HHHH", src[1], dst[1], ulen, 0) + payload
    uc = _csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", uc) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, ident & 0xFFFF, 0x4000, 64, 17, 0, sa, da)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00" + ip + udp


def write_pcap(path, msgs):
    """A libpcap 2.4 file (LE, µs, linktype 1) with one UDP frame per (t, src, dst, raw)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (t, s, d, raw) in enumerate(msgs):
            fr = udp_frame(s, d, raw, ident=i + 1)
            sec = int(t)
            f.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(fr), len(fr)) + fr)


def which(name):
    return shutil.which(name) or (os.path.exists("/usr/sbin/" + name) and "/usr/sbin/" + name) or None
