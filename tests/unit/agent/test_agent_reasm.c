/* Unit tests of SIP over TCP reassembly (agent_reasm.c): one message split at every
 * byte, pipelined messages, keep-alives, oversize messages skipped whole, gaps, a
 * capture that starts mid-stream, retransmissions, TLS flows and the framing limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "agent/agent_reasm.h"
#include "core/hc_alloc.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_GOT 16

typedef struct got {
    int n;
    size_t len[MAX_GOT];
    char msg[MAX_GOT][2048];
} got_t;

static void collect(void *arg, const agent_flow_key_t *key, const uint8_t *msg, size_t len)
{
    got_t *g = arg;
    assert_int_equal(key->sport, 40000);
    assert_true(g->n < MAX_GOT);
    g->len[g->n] = len;
    memcpy(g->msg[g->n], msg, len < sizeof(g->msg[0]) ? len : sizeof(g->msg[0]));
    g->n++;
}

static const char invite[] = "INVITE sip:bob@example.com SIP/2.0\r\n"
                             "Via: SIP/2.0/TCP 10.0.0.1:40000;branch=z9hG4bK1\r\n"
                             "Call-ID: abc@10.0.0.1\r\n"
                             "CSeq: 1 INVITE\r\n"
                             "Content-Type: application/sdp\r\n"
                             "Content-Length: 10\r\n"
                             "\r\n"
                             "v=0\r\no=x\r\n";
static const char ok200[] = "SIP/2.0 200 OK\r\n"
                            "Call-ID: abc@10.0.0.1\r\n"
                            "CSeq: 1 INVITE\r\n"
                            "l: 0\r\n"
                            "\r\n";

static agent_tcp_seg_t seg(uint32_t seq, const void *data, size_t len, unsigned flags)
{
    agent_tcp_seg_t s = {.key = {.family = AF_INET, .sport = 40000, .dport = 5060},
                         .seq = seq,
                         .flags = flags,
                         .data = data,
                         .len = len};
    memcpy(s.key.src, "\x0a\x00\x00\x01", 4);
    memcpy(s.key.dst, "\x0a\x00\x00\x02", 4);
    return s;
}

static int feed(agent_reasm_t *r, uint32_t seq, const void *data, size_t len, got_t *g)
{
    agent_tcp_seg_t s = seg(seq, data, len, 0);
    return agent_reasm_segment(r, &s, 1000, collect, g);
}

static void test_split_everywhere(void **state)
{
    (void)state;
    size_t n = strlen(invite);
    for (size_t cut = 1; cut < n; cut++) {
        agent_reasm_t *r = agent_reasm_new();
        got_t g = {0};
        agent_tcp_seg_t syn = seg(99, NULL, 0, AGENT_TCP_SYN);
        agent_reasm_segment(r, &syn, 0, collect, &g);
        assert_int_equal(feed(r, 100, invite, cut, &g), 0);
        assert_int_equal(feed(r, 100 + (uint32_t)cut, invite + cut, n - cut, &g), 1);
        assert_int_equal(g.n, 1);
        assert_int_equal(g.len[0], n);
        assert_memory_equal(g.msg[0], invite, n);
        for (int i = 0; i < AGENT_REASM_NDROPS; i++)
            assert_int_equal(agent_reasm_drops(r, i), 0);
        agent_reasm_free(r);
    }
}

static void test_three_segments_and_pipelined(void **state)
{
    (void)state;
    agent_reasm_t *r = agent_reasm_new();
    got_t g = {0};
    size_t a = strlen(invite), b = strlen(ok200);
    /* one message over three segments */
    assert_int_equal(feed(r, 1, invite, 20, &g), 0);
    assert_int_equal(feed(r, 21, invite + 20, 100, &g), 0);
    assert_int_equal(feed(r, 121, invite + 120, a - 120, &g), 1);
    /* three messages and a keep-alive in one segment, then one and a half */
    char buf[4096];
    size_t len = 0;
    memcpy(buf + len, ok200, b), len += b;
    memcpy(buf + len, "\r\n\r\n", 4), len += 4;
    memcpy(buf + len, invite, a), len += a;
    memcpy(buf + len, ok200, b), len += b;
    memcpy(buf + len, invite, 30), len += 30;
    uint32_t seq = 1 + (uint32_t)a;
    assert_int_equal(feed(r, seq, buf, len, &g), 3);
    seq += (uint32_t)len;
    assert_int_equal(feed(r, seq, invite + 30, a - 30, &g), 1);
    assert_int_equal(g.n, 5);
    assert_int_equal(g.len[1], b);
    assert_memory_equal(g.msg[1], ok200, b);
    assert_int_equal(g.len[2], a);
    assert_memory_equal(g.msg[4], invite, a);
    /* a retransmission of the last segment adds nothing */
    assert_int_equal(feed(r, seq, invite + 30, a - 30, &g), 0);
    assert_int_equal(g.n, 5);
    assert_int_equal(agent_reasm_flows(r), 1);
    agent_tcp_seg_t fin = seg(seq + (uint32_t)(a - 30), NULL, 0, AGENT_TCP_FIN);
    agent_reasm_segment(r, &fin, 2000, collect, &g);
    assert_int_equal(agent_reasm_flows(r), 0);
    agent_reasm_free(r);
}

static void test_oversize_skipped(void **state)
{
    (void)state;
    agent_reasm_t *r = agent_reasm_new();
    got_t g = {0};
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "MESSAGE sip:a@b SIP/2.0\r\nCall-ID: big\r\nCSeq: 2 MESSAGE\r\n"
                      "Content-Length: %d\r\n\r\n",
                      70000);
    uint32_t seq = 1;
    assert_int_equal(feed(r, seq, head, (size_t)hl, &g), 0);
    seq += (uint32_t)hl;
    static char body[10000];
    memset(body, 'x', sizeof(body));
    for (int i = 0; i < 7; i++, seq += sizeof(body))
        assert_int_equal(feed(r, seq, body, sizeof(body), &g), 0);
    /* the big message ends inside this segment, the next one follows whole */
    assert_int_equal(feed(r, seq, ok200, strlen(ok200), &g), 1);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.len[0], strlen(ok200));
    assert_int_equal(agent_reasm_drops(r, AGENT_REASM_DROP_OVERSIZE), 1);
    agent_reasm_free(r);

    /* a header section that never ends is dropped; the next start line resyncs */
    r = agent_reasm_new();
    g.n = 0;
    seq = 1;
    static char hdrs[AGENT_REASM_MAX_HEADER + 100];
    memcpy(hdrs, "OPTIONS sip:x SIP/2.0\r\n", 23);
    for (size_t i = 23; i + 1 < sizeof(hdrs); i += 10)
        memcpy(hdrs + i, "X-A: 123\r\n", sizeof(hdrs) - i - 1 < 10 ? sizeof(hdrs) - i - 1 : 10);
    feed(r, seq, hdrs, sizeof(hdrs) - 1, &g);
    seq += sizeof(hdrs) - 1;
    assert_int_equal(agent_reasm_drops(r, AGENT_REASM_DROP_OVERSIZE), 1);
    assert_int_equal(feed(r, seq, "\r\n\r\n", 4, &g), 0);
    seq += 4;
    assert_int_equal(feed(r, seq, ok200, strlen(ok200), &g), 1);
    agent_reasm_free(r);
}

static void test_mid_stream_gap_tls(void **state)
{
    (void)state;
    agent_reasm_t *r = agent_reasm_new();
    got_t g = {0};
    size_t a = strlen(invite);
    /* the capture starts in the middle of a message */
    uint32_t seq = 5000;
    assert_int_equal(feed(r, seq, invite + 40, a - 40, &g), 0);
    seq += (uint32_t)(a - 40);
    assert_true(agent_reasm_drops(r, AGENT_REASM_DROP_NOT_SIP) >= 1);
    assert_int_equal(feed(r, seq, invite, a, &g), 1);
    seq += (uint32_t)a;
    /* half a message, then a segment is lost: the half goes, the next one arrives whole */
    assert_int_equal(feed(r, seq, ok200, 10, &g), 0);
    seq += 10 + 500; /* 500 bytes never seen */
    assert_int_equal(feed(r, seq, ok200, strlen(ok200), &g), 1);
    assert_int_equal(agent_reasm_drops(r, AGENT_REASM_DROP_GAP), 1);
    assert_int_equal(g.n, 2);
    assert_memory_equal(g.msg[1], ok200, strlen(ok200));
    agent_reasm_free(r);

    /* SIP over TLS: the flow starts with a handshake record and is ignored */
    r = agent_reasm_new();
    g.n = 0;
    static const uint8_t hello[] = {0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5};
    assert_int_equal(feed(r, 1, hello, sizeof(hello), &g), 0);
    assert_int_equal(feed(r, 1 + sizeof(hello), "INVITE sip:x SIP/2.0\r\n\r\n", 24, &g), 0);
    assert_int_equal(agent_reasm_drops(r, AGENT_REASM_DROP_TLS), 2);
    assert_int_equal(g.n, 0);
    agent_tcp_seg_t rst = seg(1000, NULL, 0, AGENT_TCP_RST);
    agent_reasm_segment(r, &rst, 0, collect, &g);
    assert_int_equal(agent_reasm_flows(r), 0);
    agent_reasm_free(r);
}

static void test_frame_and_limits(void **state)
{
    (void)state;
    size_t skip;
    const uint8_t *inv = (const uint8_t *)invite;
    assert_int_equal(agent_reasm_frame(inv, strlen(invite), &skip), (long)strlen(invite));
    assert_int_equal(agent_reasm_frame(inv, 10, &skip), 0);
    assert_int_equal(agent_reasm_frame((const uint8_t *)"HTTP/1.1 200 OK\r\n\r\n", 19, &skip), -1);
    assert_int_equal(agent_reasm_frame((const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, &skip), -1);
    const char *bad_cl = "SIP/2.0 200 OK\r\nContent-Length: 1x\r\n\r\n";
    assert_int_equal(agent_reasm_frame((const uint8_t *)bad_cl, strlen(bad_cl), &skip), -1);
    const char *no_cl = "SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\n";
    assert_int_equal(agent_reasm_frame((const uint8_t *)no_cl, strlen(no_cl), &skip),
                     (long)strlen(no_cl));
    assert_true(agent_reasm_is_sip((const uint8_t *)"SIP/2.0 200 OK\r\n", 16));
    assert_true(agent_reasm_is_sip(inv, 40));
    assert_false(agent_reasm_is_sip((const uint8_t *)"\r\n\r\n", 4));
    assert_false(agent_reasm_is_sip((const uint8_t *)"SIP/2.0 20", 10));
    assert_false(agent_reasm_is_sip((const uint8_t *)"INVITE  SIP/2.0\r\n", 17));
    assert_true(agent_reasm_is_tls((const uint8_t *)"\x17\x03\x03", 3));
    assert_false(agent_reasm_is_tls((const uint8_t *)"INV", 3));

    /* the flow table is bounded: the idlest flow makes room */
    agent_reasm_t *r = agent_reasm_new();
    got_t g = {0};
    for (uint32_t i = 0; i < AGENT_REASM_MAX_FLOWS + 5; i++) {
        agent_tcp_seg_t s = seg(1, invite, 10, 0);
        s.key.dport = (uint16_t)(1000 + i);
        agent_reasm_segment(r, &s, i, collect, &g);
    }
    assert_int_equal(agent_reasm_flows(r), AGENT_REASM_MAX_FLOWS);
    assert_int_equal(agent_reasm_drops(r, AGENT_REASM_DROP_EVICTED), 5);
    agent_reasm_expire(r, AGENT_REASM_IDLE_MS + 100);
    assert_true(agent_reasm_flows(r) < AGENT_REASM_MAX_FLOWS);
    agent_reasm_expire(r, AGENT_REASM_IDLE_MS * 2 + 2000);
    assert_int_equal(agent_reasm_flows(r), 0);
    agent_reasm_free(r);
}

/* Memory: an ACK of an unknown flow creates nothing, an idle flow gives its buffer
 * back after a large message, a SYN that cuts a partial message counts it, and the
 * bytes buffered over all flows stay under AGENT_REASM_MAX_BYTES. */
static void test_memory_bounds(void **state)
{
    (void)state;
    agent_reasm_t *r = agent_reasm_new();
    got_t g = {0};
    agent_tcp_seg_t ack = seg(1, NULL, 0, 0);
    agent_reasm_segment(r, &ack, 0, collect, &g);
    assert_int_equal(agent_reasm_flows(r), 0);

    static char big[30000];
    int head = snprintf(big, sizeof(big),
                        "MESSAGE sip:b@x SIP/2.0\r\nCall-ID: big\r\nCSeq: 1 MESSAGE\r\n"
                        "Content-Length: %zu\r\n\r\n",
                        sizeof(big) - 100);
    assert_true(head < 100);
    memset(big + head, 'b', sizeof(big) - (size_t)head);
    size_t n = (size_t)head + sizeof(big) - 100;
    assert_int_equal(feed(r, 10, big, 1000, &g), 0);
    assert_int_equal(feed(r, 1010, big + 1000, n - 1000, &g), 1);
    assert_int_equal(g.len[0], n);
    assert_int_equal(agent_reasm_bytes(r), 0);

    assert_int_equal(feed(r, 10 + (uint32_t)n, invite, 20, &g), 0);
    agent_tcp_seg_t syn = seg(7, NULL, 0, AGENT_TCP_SYN);
    agent_reasm_segment(r, &syn, 1000, collect, &g);
    assert_int_equal(agent_reasm_drops(r, AGENT_REASM_DROP_GAP), 1);
    agent_reasm_free(r);

    /* many flows, each holding most of a 60 kB message */
    r = agent_reasm_new();
    size_t flows = AGENT_REASM_MAX_BYTES / 65536 + 40;
    head = snprintf(big, sizeof(big),
                    "MESSAGE sip:b@x SIP/2.0\r\nCall-ID: part\r\nContent-Length: 60000\r\n\r\n");
    for (size_t i = 0; i < flows; i++) {
        agent_tcp_seg_t s = seg(1, big, (size_t)head + 29000, 0);
        s.key.dport = (uint16_t)(2000 + i);
        assert_int_equal(agent_reasm_segment(r, &s, i, collect, &g), 0);
        s.seq += (uint32_t)s.len;
        s.data = (const uint8_t *)big + head;
        s.len = 30000 - (size_t)head;
        assert_int_equal(agent_reasm_segment(r, &s, i, collect, &g), 0);
        assert_true(agent_reasm_bytes(r) <= AGENT_REASM_MAX_BYTES);
    }
    assert_true(agent_reasm_drops(r, AGENT_REASM_DROP_EVICTED) >= 40);
    assert_true(agent_reasm_flows(r) < flows);
    agent_reasm_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_three_segments_and_pipelined),
        cmocka_unit_test(test_oversize_skipped),
        cmocka_unit_test(test_mid_stream_gap_tls),
        cmocka_unit_test(test_frame_and_limits),
        cmocka_unit_test(test_memory_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
