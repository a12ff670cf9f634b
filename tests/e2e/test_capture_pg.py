"""End-to-end tests of `hearth capture` on a real PostgreSQL (tests/e2e/pg.py): heplify-
server's homer7 schema, so the seed's check `SELECT COUNT(*) FROM hep_proto_1_call;`
counts what was sent; rows routed to _registration/_default by CSeq method; time
partitions <table>_YYYYMMDD_HHMM with the heplify indexes; a packet dated outside every
partition is stored anyway (DEFAULT partition or one made on demand); the API reads the
same data; SIGTERM drains into the database."""
import contextlib
import time

import pg
from harness import Tap
from capture_env import Capture, hep3, hep_call, sip_call

t = Tap()
S = {}
A, B = ("10.2.0.1", 5060), ("10.2.0.2", 5060)


def psql(sql):
    return S["pg"].psql(sql)


def count(table, where=""):
    return int(psql("SELECT COUNT(*) FROM %s %s" % (table, where)))


def wait_count(table, n, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = count(table)
        if got == n:
            return
        time.sleep(0.2)
    raise AssertionError("%s has %d rows, want %d" % (table, got, n))


def register(callid, t0):
    msg = ("REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.2.0.1:5060;branch=z9hG4bK-r1\r\n"
           "From: <sip:alice@example.test>;tag=r1\r\nTo: <sip:alice@example.test>\r\n"
           "Call-ID: %s\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@10.2.0.1:5060>\r\nExpires: 3600\r\n"
           "Content-Length: 0\r\n\r\n" % callid).encode()
    ok = msg.replace(b"REGISTER sip:example.test SIP/2.0", b"SIP/2.0 200 OK", 1)
    return [(t0, A, B, msg), (t0 + 0.002, B, A, ok)]


def options(callid, t0):
    msg = ("OPTIONS sip:bob@10.2.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.2.0.1:5060;branch=z9hG4bK-o1\r\n"
           "From: <sip:alice@example.test>;tag=o1\r\nTo: <sip:bob@example.test>\r\n"
           "Call-ID: %s\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n" % callid).encode()
    return [(t0, A, B, msg)]


@t.test
def seed_check_query_counts_calls():
    cap = S["cap"]
    t0 = S["t0"] = time.time() - 10
    pk = []
    for i in range(20):
        pk += hep_call(sip_call("pg-%02d@e2e" % i, "alice", "bob%d" % i, a=A, b=B, t0=t0 + i * 0.01))
    cap.send_udp(pk, pause=0.0002)
    wait_count("hep_proto_1_call", 120)
    assert psql("SELECT COUNT(*) FROM hep_proto_1_call;") == "120"
    seen = cap.wait_calls(["pg-%02d@e2e" % i for i in range(20)], messages=6)
    assert seen["pg-07@e2e"]["callee"] == "bob7" and seen["pg-07@e2e"]["status"] == 200


@t.test
def rows_as_heplify_writes_them():
    row = psql("SELECT sid, protocol_header->>'srcIp', protocol_header->>'dstPort', "
               "data_header->>'method', data_header->>'cseq', data_header->>'from_user', "
               "(EXTRACT(EPOCH FROM create_date) * 1000000)::bigint = "
               "(protocol_header->>'timeSeconds')::bigint * 1000000 + (protocol_header->>'timeUseconds')::bigint "
               "FROM hep_proto_1_call WHERE sid = 'pg-03@e2e' AND data_header->>'method' = 'INVITE'")
    assert row == "pg-03@e2e|10.2.0.1|5060|INVITE|1 INVITE|alice|t", row
    types = psql("SELECT jsonb_typeof(protocol_header), jsonb_typeof(data_header), "
                 "pg_typeof(create_date) FROM hep_proto_1_call LIMIT 1")
    assert types == "object|object|timestamp with time zone", types


@t.test
def routed_by_cseq_method():
    cap = S["cap"]
    t0 = time.time() - 5
    cap.send_udp(hep_call(register("reg-1@e2e", t0) + options("opt-1@e2e", t0)))
    wait_count("hep_proto_1_registration", 2)
    wait_count("hep_proto_1_default", 1)
    assert psql("SELECT sid FROM hep_proto_1_default") == "opt-1@e2e"
    assert count("hep_proto_1_call", "WHERE sid LIKE 'reg-%' OR sid LIKE 'opt-%'") == 0


@t.test
def partitions_and_indexes_exist():
    now = time.gmtime(S["t0"])  # the rows' time: an even hour may have passed since
    day = time.strftime("%Y%m%d", now)
    slot = "%02d00" % (now.tm_hour - now.tm_hour % 2)
    for table in ("hep_proto_1_call", "hep_proto_1_registration", "hep_proto_1_default",
                  "hep_proto_5_default", "hep_proto_100_default"):
        parts = psql("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                     "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = '%s' ORDER BY 1" % table).split()
        assert "%s_default" % table in parts, parts
        if table.startswith("hep_proto_1_") or table == "hep_proto_100_default":
            assert "%s_%s_%s" % (table, day, slot) in parts, (table, parts[:5])
        assert len(parts) >= 5, parts  # the DEFAULT one and a day ahead (2 h or 6 h each)
    idx = psql("SELECT indexname FROM pg_indexes WHERE tablename = 'hep_proto_1_call' ORDER BY 1").split()
    for want in ("create_date", "sid", "srcip", "dstip", "correlation_id", "ruri_domain", "ruri_user",
                 "from_user", "to_user", "pid_user", "auth_user", "callid", "method"):
        assert "hep_proto_1_call_" + want in idx, (want, idx)
    # the rows sit in their two hours' partition, not the DEFAULT one
    assert count("hep_proto_1_call_%s_%s" % (day, slot)) >= 1
    assert count("hep_proto_1_call_default") == 0


@t.test
def packet_outside_partitions_is_stored():
    cap = S["cap"]
    old = time.time() - 400 * 86400  # far past retention: no partition, DEFAULT takes it
    week = time.time() - 5 * 86400   # within retention: a partition is made on demand
    cap.send_udp(hep_call(sip_call("old-1@e2e", "otto", "paul", a=A, b=B, t0=old)))
    cap.send_udp(hep_call(sip_call("week-1@e2e", "quin", "rita", a=A, b=B, t0=week)))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and count("hep_proto_1_call", "WHERE sid IN ('old-1@e2e', 'week-1@e2e')") < 12:
        time.sleep(0.2)
    assert count("hep_proto_1_call_default", "WHERE sid = 'old-1@e2e'") == 6
    wk = time.gmtime(week)
    part = "hep_proto_1_call_%s_%02d00" % (time.strftime("%Y%m%d", wk), wk.tm_hour - wk.tm_hour % 2)
    assert count(part, "WHERE sid = 'week-1@e2e'") == 6, part
    assert "rows_failed" not in cap.proc.output()
    deadline = time.monotonic() + 10  # summaries are written once a second
    while time.monotonic() < deadline and not cap.calls(callid="old-1@e2e")["calls"]:
        time.sleep(0.2)
    assert cap.calls(callid="old-1@e2e")["calls"][0]["caller"] == "otto"
    assert cap.api("/api/stats")["ingest"]["rows_failed"] == 0


@t.test
def api_reads_postgres():
    cap = S["cap"]
    v = cap.call("pg-05@e2e")
    got = [m.get("method") or m.get("status") for m in v["messages"]]
    assert got == ["INVITE", 180, 200, "ACK", "BYE", 200], got
    st, _, body = cap.request("GET", "/api/calls/pg-05@e2e/flow.svg")
    assert st == 200 and body.count(b'class="msg"') == 6
    s = cap.api("/api/stats?from=%d&to=%d" % (int((time.time() - 60) * 1000), int(time.time() * 1000)))
    assert s["calls"] >= 20 and s["answered"] >= 20 and s["codes"].get("200", 0) >= 20, s


@t.test
def sigterm_drains_into_postgres():
    cap = S.pop("cap")
    cap2 = Capture(args=["--flush", "60s"], env={"DATABASE_URL": S["pg"].url})
    try:
        # only this test's rows: cap2's start-up retention deletes the 400-day-old call
        # of packet_outside_partitions_is_stored meanwhile
        before = count("hep_proto_1_call", "WHERE sid LIKE 'pgd-%'")
        pk = []
        for i in range(10):
            pk += hep_call(sip_call("pgd-%d@e2e" % i, "sam", "tia", a=A, b=B))
        cap2.send_udp(pk, pause=0.0002)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and cap2.api("/api/stats")["ingest"]["packets"] < 60:
            time.sleep(0.1)
        assert count("hep_proto_1_call", "WHERE sid LIKE 'pgd-%'") == before  # held in the queue
        code, out = cap2.stop()
        assert code == 0, out[-2000:]
        assert count("hep_proto_1_call", "WHERE sid LIKE 'pgd-%'") == before + 60
    finally:
        cap2.stop()
        code, out = cap.stop()
    assert code == 0, out[-2000:]
    # partition DDL, retention, COPY and upserts all went through without a warning
    warns = [l for l in out.splitlines() if '"level":"warn"' in l or '"level":"error"' in l]
    assert not warns, warns[:5]


def main():
    with contextlib.ExitStack() as stack:
        S["pg"] = stack.enter_context(pg.server())
        S["cap"] = Capture(env={"DATABASE_URL": S["pg"].url})

        def teardown():
            if "cap" in S:
                S["cap"].stop()

        t.run(cleanup=teardown)


if __name__ == "__main__":
    main()
