/* Unit tests of the agent's filters (agent_filter.c): -pr parsing, the BPF program
 * compiled by libpcap and run on real packets, -dim parsing (heplify's `sip,sdp`
 * refused) and matching on requests and responses, and the -dd window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "agent/agent_filter.h"
#include "core/hc_alloc.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <string.h>

static void test_portrange(void **state)
{
    (void)state;
    uint16_t lo = 0, hi = 0;
    char err[256];
    assert_int_equal(agent_portrange_parse("5060-5061", &lo, &hi, err, sizeof(err)), 0);
    assert_int_equal(lo, 5060);
    assert_int_equal(hi, 5061);
    assert_int_equal(agent_portrange_parse("5080", &lo, &hi, err, sizeof(err)), 0);
    assert_int_equal(lo, 5080);
    assert_int_equal(hi, 5080);
    const char *bad[] = {"5061-5060", "0-5",   "abc",   "5060-70000", "",
                         "5060-",     "-5060", "1-2-3", NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = 0;
        assert_int_not_equal(agent_portrange_parse(bad[i], &lo, &hi, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "port range"));
    }
    assert_int_not_equal(agent_portrange_parse(NULL, &lo, &hi, err, sizeof(err)), 0);
}

/* An Ethernet frame: IPv4 (frag = flags and offset field) or IPv6 (with a fragment
 * header when frag6), UDP or TCP to dport. Returns its length. */
static size_t frame(uint8_t *f, int v6, int tcp, uint16_t dport, uint16_t frag, int frag6)
{
    memset(f, 0, 128);
    f[12] = v6 ? 0x86 : 0x08;
    f[13] = v6 ? 0xdd : 0x00;
    uint8_t *ip = f + 14, *l4;
    uint8_t proto = tcp ? 6 : 17;
    size_t l4len = tcp ? 20 : 8;
    if (!v6) {
        ip[0] = 0x45;
        ip[3] = (uint8_t)(20 + l4len);
        ip[6] = (uint8_t)(frag >> 8);
        ip[7] = (uint8_t)frag;
        ip[8] = 64;
        ip[9] = proto;
        memcpy(ip + 12, "\x7f\x00\x00\x01\x7f\x00\x00\x01", 8);
        l4 = ip + 20;
    } else {
        ip[0] = 0x60;
        ip[5] = (uint8_t)(l4len + (frag6 ? 8 : 0));
        ip[6] = frag6 ? 44 : proto;
        ip[7] = 64;
        ip[23] = 1;
        ip[39] = 1;
        l4 = ip + 40;
        if (frag6) {
            l4[0] = proto;
            l4[3] = 0x09; /* offset 8 bytes, M */
            l4 += 8;
        }
    }
    l4[0] = 0x9c;
    l4[1] = 0x40; /* source port 40000 */
    l4[2] = (uint8_t)(dport >> 8);
    l4[3] = (uint8_t)dport;
    if (tcp)
        l4[12] = 0x50;
    else
        l4[5] = 8;
    return (size_t)(l4 + l4len - f);
}

static void test_bpf(void **state)
{
    (void)state;
    char text[256];
    assert_int_equal(agent_bpf_string(5060, 5061, text, sizeof(text)), 0);
    assert_string_equal(text,
                        "((udp or tcp) and portrange 5060-5061) or (ip[6:2] & 0x1fff != 0) or "
                        "(ip6[6] = 44)");
    assert_int_equal(agent_bpf_string(5060, 5061, text, 20), -ENOSPC);
    agent_bpf_string(5060, 5061, text, sizeof(text));
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
    struct bpf_program prog;
    assert_int_equal(pcap_compile(p, &prog, text, 1, PCAP_NETMASK_UNKNOWN), 0);
    static const struct {
        int v6, tcp;
        uint16_t dport, frag;
        int frag6, match;
    } cases[] = {
        {0, 0, 5060, 0, 0, 1},      {0, 1, 5061, 0, 0, 1},    {0, 0, 5062, 0, 0, 0},
        {0, 1, 80, 0, 0, 0},        {0, 0, 80, 0x0010, 0, 1}, /* a later fragment: any port */
        {0, 0, 5060, 0x2000, 0, 1}, {0, 0, 80, 0x2000, 0, 0}, /* first fragments carry ports */
        {1, 0, 5060, 0, 0, 1},      {1, 1, 5061, 0, 0, 1},    {1, 0, 53, 0, 0, 0},
        {1, 0, 53, 0, 1, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t f[128];
        size_t n =
            frame(f, cases[i].v6, cases[i].tcp, cases[i].dport, cases[i].frag, cases[i].frag6);
        struct pcap_pkthdr h = {.caplen = (bpf_u_int32)n, .len = (bpf_u_int32)n};
        int got = pcap_offline_filter(&prog, &h, f) != 0;
        if (got != cases[i].match)
            fail_msg("case %zu: filter says %d", i, got);
    }
    pcap_freecode(&prog);
    pcap_close(p);
}

static void test_dim_parse(void **state)
{
    (void)state;
    agent_dim_t d;
    char err[512];
    assert_int_equal(agent_dim_parse(" options , Notify ,", &d, err, sizeof(err)), 0);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.methods[0], "OPTIONS");
    assert_string_equal(d.methods[1], "NOTIFY");
    assert_int_equal(agent_dim_parse(NULL, &d, err, sizeof(err)), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(agent_dim_parse("", &d, err, sizeof(err)), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(agent_dim_parse("sip,sdp", &d, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "\"sip\" is not a SIP method"));
    assert_non_null(strstr(err, "CSeq"));
    assert_int_equal(agent_dim_parse("REGISTER,INVITEX", &d, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "INVITEX"));
    char many[512] = "";
    for (int i = 0; i < AGENT_DIM_MAX + 1; i++)
        strcat(many, "BYE,");
    assert_int_equal(agent_dim_parse(many, &d, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "more than"));
}

static int match(const agent_dim_t *d, const char *msg)
{
    return agent_dim_match(d, (const uint8_t *)msg, strlen(msg));
}

static void test_dim_match(void **state)
{
    (void)state;
    agent_dim_t d;
    char err[256];
    assert_int_equal(agent_dim_parse("OPTIONS,notify", &d, err, sizeof(err)), 0);
    assert_true(match(&d, "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\nCSeq: 10 OPTIONS\r\n\r\n"));
    assert_true(match(&d, "SIP/2.0 200 OK\r\nCall-ID: 1\r\nCSeq:10   options\r\n\r\n"));
    assert_true(match(&d, "NOTIFY sip:a@b SIP/2.0\r\ncseq : 4 Notify\r\n\r\n"));
    assert_false(match(&d, "INVITE sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n"));
    assert_false(match(&d, "SIP/2.0 200 OK\r\nCSeq: 1 OPTIONSX\r\n\r\n"));
    assert_false(match(&d, "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\n\r\n")); /* no CSeq */
    assert_false(match(&d, "OPTIONS sip:a@b SIP/2.0\r\nCSeq: OPTIONS\r\n\r\n"));
    /* the method comes from CSeq, not the start line or the body */
    assert_false(match(&d, "MESSAGE sip:a@b SIP/2.0\r\nCSeq: 2 MESSAGE\r\n\r\nCSeq: 1 OPTIONS"));
    const char *m;
    size_t n;
    const char *msg = "SIP/2.0 486 Busy\r\nCSeq: 77 INVITE\r\n\r\n";
    assert_int_equal(agent_cseq_method((const uint8_t *)msg, strlen(msg), &m, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(m, "INVITE", 6);
    agent_dim_t none;
    agent_dim_parse(NULL, &none, err, sizeof(err));
    assert_false(match(&none, "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 10 OPTIONS\r\n\r\n"));
}

static void test_dedup(void **state)
{
    (void)state;
    agent_dedup_t *d = agent_dedup_new();
    const uint8_t a[] = "INVITE sip:a SIP/2.0\r\n", b[] = "INVITE sip:b SIP/2.0\r\n";
    assert_int_equal(agent_dedup_seen(d, a, sizeof(a), 1000), 0);
    assert_int_equal(agent_dedup_seen(d, a, sizeof(a), 1100), 1);
    assert_int_equal(agent_dedup_seen(d, b, sizeof(b), 1100), 0);
    assert_int_equal(agent_dedup_seen(d, a, sizeof(a) - 1, 1100), 0); /* other length */
    assert_int_equal(agent_dedup_seen(d, a, sizeof(a), 1399), 1);
    /* the window runs from the first copy: a SIP retransmission (T1 = 500 ms) passes */
    assert_int_equal(agent_dedup_seen(d, a, sizeof(a), 1500), 0);
    assert_int_equal(agent_dedup_seen(d, a, sizeof(a), 1600), 1);
    agent_dedup_free(d);
    agent_dedup_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portrange), cmocka_unit_test(test_bpf),
        cmocka_unit_test(test_dim_parse), cmocka_unit_test(test_dim_match),
        cmocka_unit_test(test_dedup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
