/* Unit tests for capture_pcap: the global header's bytes, UDP/IPv4, TCP/IPv4 and
 * UDP/IPv6 frames with their lengths and checksums verified independently, TCP sequence
 * and acknowledgement numbers per direction, refusals, and (when tshark is installed)
 * tshark reading the file back with the Call-IDs, methods and transports written. */
#include "capture/capture_pcap.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static uint32_t rd32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned rd16(const uint8_t *p)
{
    return (unsigned)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)rd16(p) << 16 | rd16(p + 2);
}

/* One's-complement sum of 16-bit words, folded. */
static unsigned csum(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += rd16(p + i);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

/* Verifies the transport checksum of a frame (IPv4 or IPv6) with its pseudo-header. */
static void assert_l4_checksum(const uint8_t *ip, int v6)
{
    size_t alen = v6 ? 16 : 4, iplen = v6 ? 40 : 20;
    const uint8_t *addrs = ip + (v6 ? 8 : 12);
    size_t seglen = v6 ? rd16(ip + 4) : rd16(ip + 2) - 20;
    uint32_t sum = csum(addrs, 2 * alen, 0) + (v6 ? ip[6] : ip[9]) + (uint32_t)seglen;
    assert_int_equal(csum(ip + iplen, seglen, sum), 0xffff);
}

static const char invite[] =
    "INVITE sip:bob@b SIP/2.0\r\nCall-ID: pc-1\r\nCSeq: 1 INVITE\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"
    "From: <sip:a@a>;tag=1\r\nTo: <sip:bob@b>\r\nContent-Length: 0\r\n\r\n";
static const char ok200[] =
    "SIP/2.0 200 OK\r\nCall-ID: pc-1\r\nCSeq: 1 INVITE\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"
    "From: <sip:a@a>;tag=1\r\nTo: <sip:bob@b>;tag=2\r\nContent-Length: 0\r\n\r\n";

static capture_pcap_msg_t msg(const char *src, const char *dst, int proto, const char *p)
{
    return (capture_pcap_msg_t){.time_us = 1700000000123456LL,
                                .src_ip = src,
                                .dst_ip = dst,
                                .src_port = 5060,
                                .dst_port = 5080,
                                .ip_proto = proto,
                                .payload = (const uint8_t *)p,
                                .len = strlen(p)};
}

static void test_global_header(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 0);
    capture_pcap_t w;
    assert_int_equal(capture_pcap_begin(&w, &b), 0);
    static const uint8_t want[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
                                     0,    0,    0,    0,    0, 0, 1, 0, 1, 0, 0, 0};
    assert_int_equal(b.len, 24);
    assert_memory_equal(b.base, want, 24);
    hc_buf_free(&b);
}

static void test_udp4(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 0);
    capture_pcap_t w;
    capture_pcap_begin(&w, &b);
    capture_pcap_msg_t m = msg("10.0.0.1", "10.0.0.2", 17, invite);
    assert_int_equal(capture_pcap_add(&w, &m), 0);
    const uint8_t *r = (const uint8_t *)b.base + 24;
    size_t frame = 14 + 20 + 8 + m.len;
    assert_int_equal(b.len, 24 + 16 + frame);
    assert_int_equal(rd32le(r), 1700000000);
    assert_int_equal(rd32le(r + 4), 123456);
    assert_int_equal(rd32le(r + 8), frame);
    assert_int_equal(rd32le(r + 12), frame);
    const uint8_t *eth = r + 16, *ip = eth + 14, *udp = ip + 20;
    assert_int_equal(rd16(eth + 12), 0x0800);
    assert_int_equal(ip[0], 0x45);
    assert_int_equal(rd16(ip + 2), 20 + 8 + m.len);
    assert_int_equal(ip[9], 17);
    assert_int_equal(csum(ip, 20, 0), 0xffff); /* header checksum */
    assert_memory_equal(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    assert_int_equal(rd16(udp), 5060);
    assert_int_equal(rd16(udp + 2), 5080);
    assert_int_equal(rd16(udp + 4), 8 + m.len);
    assert_l4_checksum(ip, 0);
    assert_memory_equal(udp + 8, invite, m.len);
    hc_buf_free(&b);
}

static void test_tcp_sequence(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 0);
    capture_pcap_t w;
    capture_pcap_begin(&w, &b);
    capture_pcap_msg_t a1 = msg("10.0.0.1", "10.0.0.2", 6, "0123456789");
    capture_pcap_msg_t a2 = msg("10.0.0.1", "10.0.0.2", 22, "abcde");
    capture_pcap_msg_t b1 = msg("10.0.0.2", "10.0.0.1", 6, "xyz");
    b1.src_port = 5080;
    b1.dst_port = 5060;
    assert_int_equal(capture_pcap_add(&w, &a1), 0);
    assert_int_equal(capture_pcap_add(&w, &a2), 0);
    assert_int_equal(capture_pcap_add(&w, &b1), 0);
    const uint8_t *r = (const uint8_t *)b.base + 24;
    static const struct {
        uint32_t seq, ack;
        size_t len;
    } want[] = {{1, 1, 10}, {11, 1, 5}, {1, 16, 3}};
    for (int i = 0; i < 3; i++) {
        size_t frame = 14 + 20 + 20 + want[i].len;
        assert_int_equal(rd32le(r + 8), frame);
        const uint8_t *ip = r + 16 + 14, *tcp = ip + 20;
        assert_int_equal(ip[9], 6);
        assert_int_equal(rd16(ip + 2), 40 + want[i].len);
        assert_int_equal(csum(ip, 20, 0), 0xffff);
        assert_int_equal(rd32(tcp + 4), want[i].seq);
        assert_int_equal(rd32(tcp + 8), want[i].ack);
        assert_int_equal(tcp[12], 0x50);
        assert_int_equal(tcp[13], 0x18);
        assert_l4_checksum(ip, 0);
        r += 16 + frame;
    }
    assert_ptr_equal(r, (const uint8_t *)b.base + b.len);
    hc_buf_free(&b);
}

static void test_udp6_and_refusals(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 0);
    capture_pcap_t w;
    capture_pcap_begin(&w, &b);
    capture_pcap_msg_t m = msg("2001:db8::1", "2001:db8::2", 17, invite);
    assert_int_equal(capture_pcap_add(&w, &m), 0);
    const uint8_t *eth = (const uint8_t *)b.base + 24 + 16, *ip = eth + 14;
    assert_int_equal(rd16(eth + 12), 0x86dd);
    assert_int_equal(ip[0], 0x60);
    assert_int_equal(rd16(ip + 4), 8 + m.len);
    assert_int_equal(ip[6], 17);
    assert_l4_checksum(ip, 1);

    size_t before = b.len;
    m = msg("2001:db8::1", "10.0.0.1", 17, invite);
    assert_int_equal(capture_pcap_add(&w, &m), -EINVAL);
    m = msg("10.0.0.300", "10.0.0.1", 17, invite);
    assert_int_equal(capture_pcap_add(&w, &m), -EINVAL);
    static uint8_t big[65536];
    m = msg("10.0.0.1", "10.0.0.2", 17, "");
    m.payload = big;
    m.len = 65535 - 20 - 8 + 1;
    assert_int_equal(capture_pcap_add(&w, &m), -EMSGSIZE);
    m.len = 65535 - 20 - 8;
    b.max = b.len + 100;
    assert_int_equal(capture_pcap_add(&w, &m), -ENOBUFS);
    assert_int_equal(b.len, before);
    hc_buf_free(&b);
}

/* tshark reads the file back: the same Call-IDs and methods, over UDP and over TCP. */
static void test_tshark(void **state)
{
    (void)state;
    if (access("/usr/bin/tshark", X_OK) != 0)
        skip();
    hc_buf_t b;
    hc_buf_init(&b, 0);
    capture_pcap_t w;
    capture_pcap_begin(&w, &b);
    capture_pcap_msg_t m = msg("10.0.0.1", "10.0.0.2", 17, invite);
    m.dst_port = 5060;
    assert_int_equal(capture_pcap_add(&w, &m), 0);
    m = msg("10.0.0.2", "10.0.0.1", 6, ok200);
    m.dst_port = 5060;
    m.time_us += 1000;
    assert_int_equal(capture_pcap_add(&w, &m), 0);
    char path[] = "/tmp/hearth-test-pcap-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.base, b.len), (ssize_t)b.len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "tshark -r %s -Y sip -T fields -e sip.Call-ID -e sip.Method -e sip.Status-Code "
             "-e ip.proto 2>/dev/null",
             path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[512] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    unlink(path);
    assert_string_equal(out, "pc-1\tINVITE\t\t17\npc-1\t\t200\t6\n");
    hc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_global_header), cmocka_unit_test(test_udp4),
        cmocka_unit_test(test_tcp_sequence),  cmocka_unit_test(test_udp6_and_refusals),
        cmocka_unit_test(test_tshark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
