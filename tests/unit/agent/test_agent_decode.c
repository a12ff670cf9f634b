/* Unit tests of frame decoding (agent_decode.c): each link type the agent accepts,
 * VLAN tags, Ethernet padding, IPv6 extension headers, IPv4 and IPv6 fragments put
 * back together, and every truncation of a frame
 * placed against a guard page (an over-read crashes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "agent/agent_decode.h"
#include "agent/agent_reasm.h"
#include "core/hc_alloc.h"

#include <pcap/dlt.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static uint8_t *guard_page;
static size_t page_size;

static int group_setup(void **state)
{
    (void)state;
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    guard_page =
        mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_page == MAP_FAILED)
        return -1;
    return mprotect(guard_page + page_size, page_size, PROT_NONE);
}

static int group_teardown(void **state)
{
    (void)state;
    return munmap(guard_page, 2 * page_size);
}

/* A copy of p whose last byte sits just before an unmapped page. */
static const uint8_t *at_guard(const uint8_t *p, size_t n)
{
    assert_true(n <= page_size);
    memcpy(guard_page + page_size - n, p, n);
    return guard_page + page_size - n;
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static const char sip[] = "OPTIONS sip:x@y SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n";

/* UDP header + payload into o; returns the length. */
static size_t udp(uint8_t *o, const void *pl, size_t n)
{
    put16(o, 40000);
    put16(o + 2, 5060);
    put16(o + 4, (unsigned)(8 + n));
    put16(o + 6, 0);
    memcpy(o + 8, pl, n);
    return 8 + n;
}

static size_t tcp(uint8_t *o, uint32_t seq, uint8_t flags, const void *pl, size_t n)
{
    memset(o, 0, 20);
    put16(o, 40001);
    put16(o + 2, 5061);
    o[4] = (uint8_t)(seq >> 24), o[5] = (uint8_t)(seq >> 16), o[6] = (uint8_t)(seq >> 8),
    o[7] = (uint8_t)seq;
    o[12] = 0x50;
    o[13] = flags;
    if (n)
        memcpy(o + 20, pl, n);
    return 20 + n;
}

/* IPv4 header (frag: flags and offset field) + l4 into o. */
static size_t ip4(uint8_t *o, uint8_t proto, uint16_t id, uint16_t frag, const uint8_t *l4,
                  size_t n)
{
    memset(o, 0, 20);
    o[0] = 0x45;
    put16(o + 2, (unsigned)(20 + n));
    put16(o + 4, id);
    put16(o + 6, frag);
    o[8] = 64;
    o[9] = proto;
    memcpy(o + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    memcpy(o + 20, l4, n);
    return 20 + n;
}

/* IPv6 header + ext (already formatted extension headers) + l4. */
static size_t ip6(uint8_t *o, uint8_t nh, const uint8_t *ext, size_t extlen, const uint8_t *l4,
                  size_t n)
{
    memset(o, 0, 40);
    o[0] = 0x60;
    put16(o + 4, (unsigned)(extlen + n));
    o[6] = nh;
    o[7] = 64;
    o[8] = 0x20, o[9] = 0x01, o[23] = 1;
    o[24] = 0x20, o[25] = 0x01, o[39] = 2;
    memcpy(o + 40, ext, extlen);
    memcpy(o + 40 + extlen, l4, n);
    return 40 + extlen + n;
}

static size_t eth(uint8_t *o, uint16_t type, int vlan, const uint8_t *l3, size_t n)
{
    memset(o, 0, 12);
    size_t h = 12;
    if (vlan) {
        put16(o + h, 0x8100);
        put16(o + h + 2, (unsigned)vlan);
        h += 4;
    }
    put16(o + h, type);
    memcpy(o + h + 2, l3, n);
    return h + 2 + n;
}

static int decode(int dlt, const uint8_t *f, size_t n, agent_defrag_t *df, agent_pkt_t *pkt)
{
    return agent_decode(dlt, at_guard(f, n), n, df, 0, pkt);
}

static void test_ethernet(void **state)
{
    (void)state;
    agent_defrag_t *df = agent_defrag_new();
    uint8_t l4[256], l3[300], f[400];
    agent_pkt_t pkt;
    size_t n = eth(f, 0x0800, 0, l3, ip4(l3, 17, 1, 0, l4, udp(l4, sip, strlen(sip))));
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_OK);
    assert_int_equal(pkt.family, AF_INET);
    assert_int_equal(pkt.proto, 17);
    assert_int_equal(pkt.sport, 40000);
    assert_int_equal(pkt.dport, 5060);
    assert_memory_equal(pkt.src, "\x0a\x00\x00\x01", 4);
    assert_memory_equal(pkt.dst, "\x0a\x00\x00\x02", 4);
    assert_int_equal(pkt.len, strlen(sip));
    assert_memory_equal(pkt.payload, sip, strlen(sip));
    assert_int_equal(pkt.vlan, 0);
    /* every cut of the frame is refused without reading past it */
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(decode(DLT_EN10MB, f, cut, df, &pkt), AGENT_DECODE_TRUNCATED);
    /* padding after the IP datagram is not payload */
    memset(f + n, 0, 20);
    assert_int_equal(decode(DLT_EN10MB, f, n + 20, df, &pkt), AGENT_DECODE_OK);
    assert_int_equal(pkt.len, strlen(sip));
    /* an 802.1Q tag */
    n = eth(f, 0x0800, 100, l3, ip4(l3, 17, 1, 0, l4, udp(l4, sip, strlen(sip))));
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_OK);
    assert_int_equal(pkt.vlan, 100);
    /* not IP, not UDP/TCP */
    n = eth(f, 0x0806, 0, l3, 28);
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_SKIP);
    n = eth(f, 0x0800, 0, l3, ip4(l3, 1, 1, 0, l4, 8));
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_SKIP);
    /* impossible headers */
    n = eth(f, 0x0800, 0, l3, ip4(l3, 17, 1, 0, l4, udp(l4, sip, 10)));
    f[14] = 0x44;
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_MALFORMED);
    f[14] = 0x45;
    put16(f + 14 + 20 + 4, 4);
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_MALFORMED);
    agent_defrag_free(df);
}

static void test_cooked_null_raw(void **state)
{
    (void)state;
    agent_defrag_t *df = agent_defrag_new();
    uint8_t l4[256], l3[300], f[400];
    agent_pkt_t pkt;
    /* Linux cooked v1 (`any`), TCP */
    size_t l3n = ip4(l3, 6, 1, 0, l4, tcp(l4, 123456789u, 0x18, sip, strlen(sip)));
    memset(f, 0, 16);
    put16(f + 2, 772); /* ARPHRD_LOOPBACK */
    put16(f + 14, 0x0800);
    memcpy(f + 16, l3, l3n);
    assert_int_equal(decode(DLT_LINUX_SLL, f, 16 + l3n, df, &pkt), AGENT_DECODE_OK);
    assert_int_equal(pkt.proto, 6);
    assert_int_equal(pkt.seq, 123456789u);
    assert_int_equal(pkt.tcp_flags, 0);
    assert_int_equal(pkt.dport, 5061);
    assert_int_equal(pkt.len, strlen(sip));
    l3n = ip4(l3, 6, 1, 0, l4, tcp(l4, 1, 0x03, NULL, 0)); /* SYN|FIN */
    memcpy(f + 16, l3, l3n);
    assert_int_equal(decode(DLT_LINUX_SLL, f, 16 + l3n, df, &pkt), AGENT_DECODE_OK);
    assert_int_equal(pkt.tcp_flags, AGENT_TCP_SYN | AGENT_TCP_FIN);

    /* Linux cooked v2, IPv6 with a hop-by-hop header */
    uint8_t hbh[8] = {17, 0, 1, 4, 0, 0, 0, 0};
    l3n = ip6(l3, 0, hbh, sizeof(hbh), l4, udp(l4, sip, strlen(sip)));
    memset(f, 0, 20);
    put16(f, 0x86dd);
    put16(f + 8, 772);
    memcpy(f + 20, l3, l3n);
    assert_int_equal(decode(DLT_LINUX_SLL2, f, 20 + l3n, df, &pkt), AGENT_DECODE_OK);
    assert_int_equal(pkt.family, AF_INET6);
    assert_int_equal(pkt.src[15], 1);
    assert_int_equal(pkt.dst[15], 2);
    assert_int_equal(pkt.len, strlen(sip));
    for (size_t cut = 0; cut < 20 + l3n; cut++)
        assert_int_equal(decode(DLT_LINUX_SLL2, f, cut, df, &pkt), AGENT_DECODE_TRUNCATED);

    /* BSD loopback: AF_INET6 as 10 in little-endian (Linux) and 30 in big-endian (macOS) */
    memcpy(f, "\x0a\x00\x00\x00", 4);
    memcpy(f + 4, l3, l3n);
    assert_int_equal(decode(DLT_NULL, f, 4 + l3n, df, &pkt), AGENT_DECODE_OK);
    memcpy(f, "\x00\x00\x00\x1e", 4);
    assert_int_equal(decode(DLT_LOOP, f, 4 + l3n, df, &pkt), AGENT_DECODE_OK);
    memcpy(f, "\x00\x00\x00\x07", 4);
    assert_int_equal(decode(DLT_NULL, f, 4 + l3n, df, &pkt), AGENT_DECODE_SKIP);
    /* raw IP */
    assert_int_equal(decode(DLT_RAW, l3, l3n, df, &pkt), AGENT_DECODE_OK);
    assert_int_equal(pkt.family, AF_INET6);
    assert_true(agent_decode_supported(DLT_EN10MB));
    assert_false(agent_decode_supported(DLT_IEEE802_11));
    agent_defrag_free(df);
}

static void test_fragments(void **state)
{
    (void)state;
    agent_defrag_t *df = agent_defrag_new();
    static char big[2000];
    memcpy(big, sip, strlen(sip));
    memset(big + strlen(sip), 'a', sizeof(big) - strlen(sip));
    uint8_t l4[2100], l3[1600], f[1700];
    agent_pkt_t pkt;
    size_t l4n = udp(l4, big, sizeof(big)); /* 2008 bytes: 1480 + 528 */
    size_t n = eth(f, 0x0800, 0, l3, ip4(l3, 17, 77, 0x2000, l4, 1480));
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_HELD);
    n = eth(f, 0x0800, 0, l3, ip4(l3, 17, 77, 1480 / 8, l4 + 1480, l4n - 1480));
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_OK);
    assert_true(pkt.defragmented);
    assert_int_equal(pkt.dport, 5060);
    assert_int_equal(pkt.len, sizeof(big));
    assert_memory_equal(pkt.payload, big, sizeof(big));

    /* IPv6: the fragment header carries the id and the next header */
    uint8_t fh[8] = {17, 0, 0, 1, 0xca, 0xfe, 0, 1}; /* offset 0, M */
    n = eth(f, 0x86dd, 0, l3, ip6(l3, 44, fh, 8, l4, 1232));
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_HELD);
    put16(fh + 2, 1232); /* offset 1232, last */
    n = eth(f, 0x86dd, 0, l3, ip6(l3, 44, fh, 8, l4 + 1232, l4n - 1232));
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_OK);
    assert_true(pkt.defragmented);
    assert_int_equal(pkt.family, AF_INET6);
    assert_int_equal(pkt.len, sizeof(big));
    assert_memory_equal(pkt.payload, big, sizeof(big));
    /* an atomic fragment (offset 0, no M) is just a packet */
    put16(fh + 2, 0);
    n = eth(f, 0x86dd, 0, l3, ip6(l3, 44, fh, 8, l4, udp(l4, sip, strlen(sip))));
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_OK);
    assert_false(pkt.defragmented);
    /* fragments of protocols that never carry SIP are not held */
    n = eth(f, 0x0800, 0, l3, ip4(l3, 1, 79, 0x2000, l4, 1480));
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_SKIP);
    put16(fh + 2, 1);
    fh[0] = 58; /* ICMPv6 */
    n = eth(f, 0x86dd, 0, l3, ip6(l3, 44, fh, 8, l4, 1232));
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_SKIP);
    assert_int_equal(agent_defrag_pending(df), 0);
    /* a fragment the table refuses */
    n = eth(f, 0x0800, 0, l3, ip4(l3, 17, 78, 0x2000, l4, 13));
    assert_int_equal(decode(DLT_EN10MB, f, n, df, &pkt), AGENT_DECODE_FRAG_DROP);
    assert_int_equal(agent_defrag_pending(df), 0);
    agent_defrag_free(df);
}

/* libpcap puts a stripped 802.1Q tag back in front of the cooked header's protocol
 * (pcap-linux.c set_vlan_offset), so SIP on a VLAN captured on `any` arrives as
 * 0x8100, TCI, 0x0800. Also an IPv6 authentication header before UDP. */
static void test_cooked_vlan_and_ah(void **state)
{
    (void)state;
    agent_defrag_t *df = agent_defrag_new();
    uint8_t l4[256], l3[300], f[400];
    agent_pkt_t pkt;
    size_t l3n = ip4(l3, 17, 1, 0, l4, udp(l4, sip, strlen(sip)));
    memset(f, 0, 16);
    put16(f + 2, 1); /* ARPHRD_ETHER */
    put16(f + 14, 0x8100);
    put16(f + 16, 0x2000 | 42); /* priority 1, VLAN 42 */
    put16(f + 18, 0x0800);
    memcpy(f + 20, l3, l3n);
    assert_int_equal(decode(DLT_LINUX_SLL, f, 20 + l3n, df, &pkt), AGENT_DECODE_OK);
    assert_int_equal(pkt.vlan, 42);
    assert_int_equal(pkt.dport, 5060);
    assert_int_equal(pkt.len, strlen(sip));
    assert_memory_equal(pkt.payload, sip, strlen(sip));
    for (size_t cut = 0; cut < 20 + l3n; cut++)
        assert_int_equal(decode(DLT_LINUX_SLL, f, cut, df, &pkt), AGENT_DECODE_TRUNCATED);

    /* AH: next header, payload length in 4-byte units minus 2 (4 = 24 bytes), SPI, seq, ICV */
    uint8_t ah[24] = {17, 4};
    l3n = ip6(l3, 51, ah, sizeof(ah), l4, udp(l4, sip, strlen(sip)));
    assert_int_equal(decode(DLT_RAW, l3, l3n, df, &pkt), AGENT_DECODE_OK);
    assert_int_equal(pkt.proto, 17);
    assert_int_equal(pkt.len, strlen(sip));
    assert_memory_equal(pkt.payload, sip, strlen(sip));
    ah[1] = 200; /* longer than the packet */
    l3n = ip6(l3, 51, ah, sizeof(ah), l4, udp(l4, sip, strlen(sip)));
    assert_int_equal(decode(DLT_RAW, l3, l3n, df, &pkt), AGENT_DECODE_TRUNCATED);
    agent_defrag_free(df);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ethernet),
        cmocka_unit_test(test_cooked_null_raw),
        cmocka_unit_test(test_fragments),
        cmocka_unit_test(test_cooked_vlan_and_ah),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
