/* Unit tests for capture_hep: the HEP3 spec's 113-byte vector, the chunk orders of
 * sngrep, kamailio, FreeSWITCH and hep-js, vendor chunks, exact sizes, the header length
 * rule, compressed payloads, HEPv1/v2 with little-endian time, truncation at every byte
 * (exact-size copies, so ASan sees an over-read), TCP framing with heplify's bogus
 * header, and encode -> decode round trips. */
#include "capture/capture_hep.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <zlib.h>

static const uint8_t spec_vector[113] = {
    0x48, 0x45, 0x50, 0x33, 0x00, 0x71, 0x00, 0x00, 0x00, 0x01, 0x00, 0x07, 0x02, 0x00, 0x00,
    0x00, 0x02, 0x00, 0x07, 0x11, 0x00, 0x00, 0x00, 0x03, 0x00, 0x0a, 0xd4, 0xca, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x04, 0x00, 0x0a, 0x52, 0x74, 0x00, 0xd3, 0x00, 0x00, 0x00, 0x07, 0x00,
    0x08, 0x2e, 0xea, 0x00, 0x00, 0x00, 0x08, 0x00, 0x08, 0x13, 0xc4, 0x00, 0x00, 0x00, 0x09,
    0x00, 0x0a, 0x4e, 0x49, 0x82, 0xcb, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x0a, 0x00, 0x01, 0xd4,
    0xc0, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x07, 0x01, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00,
    0x00, 0x00, 0xe4, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x14, 0x49, 0x4e, 0x56, 0x49, 0x54, 0x45,
    0x20, 0x73, 0x69, 0x70, 0x3a, 0x62, 0x6f, 0x62};

/* hep-js 1.0.22 encapsulate(msg, rcinfo) output, captured from the npm package with
 * rcinfo {protocolFamily:2, protocol:17, srcIp:"192.168.1.1", dstIp:"192.168.1.2",
 * srcPort:5060, dstPort:5070, timeSeconds:1700000000, timeUseconds:250000, payloadType:1,
 * captureId:2001, capturePass:"myHep", correlation_id:"corr-42", hepNodeName:"hepjs-node"}. */
static const uint8_t hepjs_vector[213] = {
    0x48, 0x45, 0x50, 0x33, 0x00, 0xd5, 0x00, 0x00, 0x00, 0x01, 0x00, 0x07, 0x02, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x07, 0x11, 0x00, 0x00, 0x00, 0x03, 0x00, 0x0a, 0xc0, 0xa8, 0x01, 0x01, 0x00, 0x00,
    0x00, 0x04, 0x00, 0x0a, 0xc0, 0xa8, 0x01, 0x02, 0x00, 0x00, 0x00, 0x07, 0x00, 0x08, 0x13, 0xc4,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x08, 0x13, 0xce, 0x00, 0x00, 0x00, 0x09, 0x00, 0x0a, 0x65, 0x53,
    0xf1, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x0a, 0x00, 0x03, 0xd0, 0x90, 0x00, 0x00, 0x00, 0x0b,
    0x00, 0x07, 0x01, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x00, 0x07, 0xd1, 0x00, 0x00, 0x00,
    0x13, 0x00, 0x10, 0x68, 0x65, 0x70, 0x6a, 0x73, 0x2d, 0x6e, 0x6f, 0x64, 0x65, 0x00, 0x00, 0x00,
    0x0e, 0x00, 0x0b, 0x6d, 0x79, 0x48, 0x65, 0x70, 0x00, 0x00, 0x00, 0x11, 0x00, 0x0d, 0x63, 0x6f,
    0x72, 0x72, 0x2d, 0x34, 0x32, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x50, 0x4f, 0x50, 0x54, 0x49, 0x4f,
    0x4e, 0x53, 0x20, 0x73, 0x69, 0x70, 0x3a, 0x31, 0x30, 0x30, 0x40, 0x31, 0x39, 0x32, 0x2e, 0x31,
    0x36, 0x38, 0x2e, 0x31, 0x2e, 0x32, 0x20, 0x53, 0x49, 0x50, 0x2f, 0x32, 0x2e, 0x30, 0x0d, 0x0a,
    0x43, 0x61, 0x6c, 0x6c, 0x2d, 0x49, 0x44, 0x3a, 0x20, 0x68, 0x65, 0x70, 0x6a, 0x73, 0x2d, 0x31,
    0x0d, 0x0a, 0x43, 0x53, 0x65, 0x71, 0x3a, 0x20, 0x31, 0x20, 0x4f, 0x50, 0x54, 0x49, 0x4f, 0x4e,
    0x53, 0x0d, 0x0a, 0x0d, 0x0a,
};

/* Decodes an exact-size heap copy of pkt. */
static enum capture_hep_error decode_copy(const uint8_t *pkt, size_t len, capture_hep_t *h,
                                          uint8_t *scratch, size_t cap)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, pkt, len);
    enum capture_hep_error e = capture_hep_decode(copy, len, h, scratch, cap);
    /* Views into the packet are checked by the callers on pkt, not on the copy. */
    if (h->payload >= copy && h->payload < copy + len)
        h->payload = pkt + (h->payload - copy);
    if (h->correlation_id)
        h->correlation_id = (const char *)pkt + ((const uint8_t *)h->correlation_id - copy);
    if (h->node_name)
        h->node_name = (const char *)pkt + ((const uint8_t *)h->node_name - copy);
    if (h->auth_key)
        h->auth_key = (const char *)pkt + ((const uint8_t *)h->auth_key - copy);
    free(copy);
    return e;
}

static void test_spec_vector(void **state)
{
    (void)state;
    capture_hep_t h;
    assert_int_equal(decode_copy(spec_vector, sizeof(spec_vector), &h, NULL, 0), CAPTURE_HEP_OK);
    assert_int_equal(h.version, 3);
    assert_int_equal(h.family, AF_INET);
    assert_int_equal(h.ip_proto, 17);
    assert_string_equal(h.src_ip, "212.202.0.1");
    assert_string_equal(h.dst_ip, "82.116.0.211");
    assert_int_equal(h.src_port, 12010);
    assert_int_equal(h.dst_port, 5060);
    assert_int_equal(h.ts_sec, 1313440459);
    assert_int_equal(h.ts_usec, 120000);
    assert_int_equal(h.proto_type, CAPTURE_PROTO_SIP);
    assert_int_equal(h.capture_id, 228);
    assert_int_equal(h.payload_len, 14);
    assert_memory_equal(h.payload, "INVITE sip:bob", 14);
    assert_null(h.correlation_id);
    assert_null(h.node_name);
    assert_null(h.auth_key);
}

static void test_hepjs_real(void **state)
{
    (void)state;
    capture_hep_t h;
    assert_int_equal(decode_copy(hepjs_vector, sizeof(hepjs_vector), &h, NULL, 0), CAPTURE_HEP_OK);
    assert_int_equal(h.family, AF_INET);
    assert_int_equal(h.ip_proto, 17);
    assert_string_equal(h.src_ip, "192.168.1.1");
    assert_string_equal(h.dst_ip, "192.168.1.2");
    assert_int_equal(h.src_port, 5060);
    assert_int_equal(h.dst_port, 5070);
    assert_int_equal(h.ts_sec, 1700000000);
    assert_int_equal(h.ts_usec, 250000);
    assert_int_equal(h.proto_type, CAPTURE_PROTO_SIP);
    assert_int_equal(h.capture_id, 2001);
    assert_int_equal(h.auth_key_len, 5);
    assert_memory_equal(h.auth_key, "myHep", 5);
    assert_int_equal(h.correlation_id_len, 7);
    assert_memory_equal(h.correlation_id, "corr-42", 7);
    assert_int_equal(h.node_name_len, 10);
    assert_memory_equal(h.node_name, "hepjs-node", 10);
    assert_int_equal(h.payload_len, 74);
    assert_memory_equal(h.payload, "OPTIONS sip:100@192.168.1.2 SIP/2.0\r\n", 37);
}

/* A packet assembled chunk by chunk, as each sender orders them. */
typedef struct pkt {
    uint8_t b[2048];
    size_t n;
} pkt_t;

static void chunk(pkt_t *p, uint16_t vendor, uint16_t type, const void *d, size_t n)
{
    uint8_t *c = p->b + p->n;
    c[0] = (uint8_t)(vendor >> 8), c[1] = (uint8_t)vendor;
    c[2] = (uint8_t)(type >> 8), c[3] = (uint8_t)type;
    c[4] = (uint8_t)((n + 6) >> 8), c[5] = (uint8_t)(n + 6);
    memcpy(c + 6, d, n);
    p->n += n + 6;
}

static void c8(pkt_t *p, uint16_t t, uint8_t v)
{
    chunk(p, 0, t, &v, 1);
}

static void c16(pkt_t *p, uint16_t t, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    chunk(p, 0, t, b, 2);
}

static void c32(pkt_t *p, uint16_t t, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    chunk(p, 0, t, b, 4);
}

static void caddr(pkt_t *p, uint16_t t, const char *ip)
{
    uint8_t a[16];
    int v6 = strchr(ip, ':') != NULL;
    assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, ip, a), 1);
    chunk(p, 0, t, a, v6 ? 16 : 4);
}

static void cstr(pkt_t *p, uint16_t t, const char *s)
{
    chunk(p, 0, t, s, strlen(s));
}

static void begin(pkt_t *p)
{
    memcpy(p->b, "HEP3", 4);
    p->n = 6;
}

static void end(pkt_t *p)
{
    p->b[4] = (uint8_t)(p->n >> 8);
    p->b[5] = (uint8_t)p->n;
}

static const char sip[] =
    "OPTIONS sip:100@10.0.0.2 SIP/2.0\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\n\r\n";

static void test_sender_orders(void **state)
{
    (void)state;
    capture_hep_t h;
    pkt_t p;

    /* sngrep 1.6.0: 1,2,7,8,9,10,11,12,3,4,15 + 0x0e; capture id 2002 through htons. */
    begin(&p);
    c8(&p, 1, 2), c8(&p, 2, 17), c16(&p, 7, 5060), c16(&p, 8, 5070);
    c32(&p, 9, 1700000000), c32(&p, 10, 999999), c8(&p, 11, 1);
    uint8_t htons_id[4] = {0x07, 0xd2, 0x00, 0x00};
    chunk(&p, 0, 12, htons_id, 4);
    caddr(&p, 3, "10.0.0.1"), caddr(&p, 4, "10.0.0.2"), cstr(&p, 0x0e, "secret");
    cstr(&p, 15, sip);
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, NULL, 0), CAPTURE_HEP_OK);
    assert_int_equal(h.capture_id, 131203072u);
    assert_string_equal(h.src_ip, "10.0.0.1");
    assert_int_equal(h.ts_usec, 999999);
    assert_int_equal(h.auth_key_len, 6);
    assert_memory_equal(h.auth_key, "secret", 6);
    assert_int_equal(h.payload_len, strlen(sip));

    /* kamailio 5.6.3: 1,2,3,4,7,8,9,10,11,12,0x11,0x0e,15; hlog() type 0x64. */
    begin(&p);
    c8(&p, 1, 2), c8(&p, 2, 17), caddr(&p, 3, "127.0.0.1"), caddr(&p, 4, "127.0.0.2");
    c16(&p, 7, 5060), c16(&p, 8, 5060), c32(&p, 9, 1), c32(&p, 10, 2), c8(&p, 11, 0x64);
    c32(&p, 12, 1234), cstr(&p, 0x11, "call-1@host"), cstr(&p, 0x0e, "pw");
    cstr(&p, 15, "log line");
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, NULL, 0), CAPTURE_HEP_OK);
    assert_int_equal(h.capture_id, 1234);
    assert_int_equal(h.proto_type, CAPTURE_PROTO_LOG);
    assert_int_equal(h.correlation_id_len, 11);
    assert_memory_equal(h.correlation_id, "call-1@host", 11);

    /* FreeSWITCH (sofia-sip): 1,2,7,8,9,10,11,12,5/6,15 over IPv6, "TLS" as 22. */
    begin(&p);
    c8(&p, 1, 10), c8(&p, 2, 22), c16(&p, 7, 5061), c16(&p, 8, 5061), c32(&p, 9, 5);
    c32(&p, 10, 6), c8(&p, 11, 1), c32(&p, 12, 200), caddr(&p, 5, "2001:db8::1");
    caddr(&p, 6, "2001:db8::2"), cstr(&p, 15, sip);
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, NULL, 0), CAPTURE_HEP_OK);
    assert_int_equal(h.family, AF_INET6);
    assert_int_equal(h.ip_proto, 22);
    assert_string_equal(h.dst_ip, "2001:db8::2");

    /* hep-js 1.0.22: always a node name (0x13), vendor chunks skipped by length. */
    begin(&p);
    c8(&p, 1, 2), c8(&p, 2, 6), caddr(&p, 3, "192.168.1.1"), caddr(&p, 4, "192.168.1.2");
    c16(&p, 7, 1), c16(&p, 8, 2), c32(&p, 9, 3), c32(&p, 10, 4), c8(&p, 11, 1);
    c32(&p, 12, 0), cstr(&p, 0x13, "node-a");
    chunk(&p, 2, 1, "\x01\x02\x03", 3); /* Kamailio vendor chunk: any size */
    chunk(&p, 0, 0x30, "?", 1);         /* unknown generic chunk */
    c16(&p, 0x12, 42);
    cstr(&p, 15, sip);
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, NULL, 0), CAPTURE_HEP_OK);
    assert_int_equal(h.ip_proto, 6);
    assert_int_equal(h.node_name_len, 6);
    assert_memory_equal(h.node_name, "node-a", 6);
    assert_int_equal(h.vlan, 42);
    assert_int_equal(h.family, AF_INET);
}

static void test_refusals(void **state)
{
    (void)state;
    capture_hep_t h;
    uint8_t b[200];
    /* header length != datagram length */
    memcpy(b, spec_vector, 113);
    b[113] = 0;
    assert_int_equal(decode_copy(b, 114, &h, NULL, 0), CAPTURE_HEP_BAD_LENGTH);
    /* EEP3 and non-HEP bytes */
    memcpy(b, spec_vector, 113);
    b[0] = 'E';
    assert_int_equal(decode_copy(b, 113, &h, NULL, 0), CAPTURE_HEP_BAD_VERSION);
    assert_int_equal(decode_copy((const uint8_t *)"GET / HTTP/1.1", 14, &h, NULL, 0),
                     CAPTURE_HEP_BAD_VERSION);
    /* a chunk length past the end, and below 6 */
    memcpy(b, spec_vector, 113);
    b[97] = 0x40;
    assert_int_equal(decode_copy(b, 113, &h, NULL, 0), CAPTURE_HEP_BAD_CHUNK);
    memcpy(b, spec_vector, 113);
    b[11] = 5;
    assert_int_equal(decode_copy(b, 113, &h, NULL, 0), CAPTURE_HEP_BAD_CHUNK);

    pkt_t p;
    /* exact sizes: a 3-byte port */
    begin(&p);
    chunk(&p, 0, 7, "\x13\xc4\x00", 3), cstr(&p, 15, sip);
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, NULL, 0), CAPTURE_HEP_BAD_CHUNK);
    /* a 2-byte proto type */
    begin(&p);
    chunk(&p, 0, 11, "\x00\x01", 2), cstr(&p, 15, sip);
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, NULL, 0), CAPTURE_HEP_BAD_CHUNK);
    /* family 2 with IPv6 addresses, and an unknown family */
    begin(&p);
    c8(&p, 1, 2), caddr(&p, 5, "::1"), caddr(&p, 6, "::2"), cstr(&p, 15, sip);
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, NULL, 0), CAPTURE_HEP_BAD_ADDRESS);
    begin(&p);
    c8(&p, 1, 7), cstr(&p, 15, sip);
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, NULL, 0), CAPTURE_HEP_BAD_ADDRESS);
    /* no payload; an empty payload */
    begin(&p);
    c8(&p, 1, 2), caddr(&p, 3, "1.2.3.4");
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, NULL, 0), CAPTURE_HEP_NO_PAYLOAD);
    begin(&p);
    chunk(&p, 0, 15, "", 0);
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, NULL, 0), CAPTURE_HEP_NO_PAYLOAD);

    assert_string_equal(capture_hep_error_name(CAPTURE_HEP_TRUNCATED), "truncated");
    assert_string_equal(capture_hep_error_name(CAPTURE_HEP_BAD_LENGTH), "bad_length");
    assert_string_equal(capture_hep_error_name(CAPTURE_HEP_NERRORS), "unknown");
    for (int e = 0; e < CAPTURE_HEP_NERRORS; e++)
        assert_non_null(capture_hep_error_name((enum capture_hep_error)e));
}

static void test_truncation(void **state)
{
    (void)state;
    capture_hep_t h;
    for (size_t k = 0; k < sizeof(spec_vector); k++)
        assert_int_equal(decode_copy(spec_vector, k, &h, NULL, 0), CAPTURE_HEP_TRUNCATED);
    /* Every prefix of a v2 header is truncated, and never reads past its end. */
    uint8_t v2[8 + 8 + 12 + 4] = {2, 0, 2, 17, 0x13, 0xc4, 0x13, 0xc4, 1, 2, 3, 4, 5, 6, 7, 8};
    memcpy(v2 + 28, "SIP!", 4);
    for (size_t k = 1; k < 28; k++)
        assert_int_equal(decode_copy(v2, k, &h, NULL, 0), CAPTURE_HEP_TRUNCATED);
    assert_int_equal(decode_copy(v2, 28, &h, NULL, 0), CAPTURE_HEP_NO_PAYLOAD);
    assert_int_equal(decode_copy(v2, 32, &h, NULL, 0), CAPTURE_HEP_OK);
}

static void test_compressed(void **state)
{
    (void)state;
    static const char text[] =
        "INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: z@h\r\nCSeq: 1 INVITE\r\n\r\n";
    uint8_t z[256], scratch[512];
    uLongf zn = sizeof(z);
    assert_int_equal(compress2(z, &zn, (const Bytef *)text, sizeof(text) - 1, 9), Z_OK);
    capture_hep_t h;
    pkt_t p;
    begin(&p);
    c8(&p, 1, 2), caddr(&p, 3, "1.1.1.1"), caddr(&p, 4, "2.2.2.2"), c8(&p, 11, 1);
    chunk(&p, 0, 0x10, z, zn);
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, scratch, sizeof(scratch)), CAPTURE_HEP_OK);
    assert_ptr_equal(h.payload, scratch);
    assert_int_equal(h.payload_len, sizeof(text) - 1);
    assert_memory_equal(h.payload, text, sizeof(text) - 1);
    /* no scratch, scratch too small, corrupt stream */
    assert_int_equal(decode_copy(p.b, p.n, &h, NULL, 0), CAPTURE_HEP_BAD_COMPRESSION);
    assert_int_equal(decode_copy(p.b, p.n, &h, scratch, 10), CAPTURE_HEP_BAD_COMPRESSION);
    p.b[p.n - 3] ^= 0xff;
    assert_int_equal(decode_copy(p.b, p.n, &h, scratch, sizeof(scratch)),
                     CAPTURE_HEP_BAD_COMPRESSION);

    /* raw deflate (no zlib header) */
    z_stream s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    s.next_in = (Bytef *)(uintptr_t)text;
    s.avail_in = sizeof(text) - 1;
    s.next_out = z;
    s.avail_out = sizeof(z);
    assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
    size_t rn = s.total_out;
    deflateEnd(&s);
    begin(&p);
    c8(&p, 1, 2), chunk(&p, 0, 0x10, z, rn);
    end(&p);
    assert_int_equal(decode_copy(p.b, p.n, &h, scratch, sizeof(scratch)), CAPTURE_HEP_OK);
    assert_memory_equal(h.payload, text, sizeof(text) - 1);
}

static void test_v1_v2(void **state)
{
    (void)state;
    capture_hep_t h;
    /* v2 as kamailio and sngrep write it: hp_l holds garbage (sngrep: htons(total)),
     * time and capture id little-endian, 2 bytes of struct padding. */
    uint8_t v2[8 + 8 + 12 + 7] = {2,    0x8e, 2,    17,   0x13, 0xc4, 0x2e, 0xea, 10,   0,
                                  0,    1,    10,   0,    0,    2,    0xcb, 0x82, 0x49, 0x4e,
                                  0xc0, 0xd4, 0x01, 0x00, 0xd2, 0x07, 0,    0};
    memcpy(v2 + 28, "OPTIONS", 7);
    assert_int_equal(decode_copy(v2, sizeof(v2), &h, NULL, 0), CAPTURE_HEP_OK);
    assert_int_equal(h.version, 2);
    assert_int_equal(h.src_port, 5060);
    assert_int_equal(h.dst_port, 12010);
    assert_string_equal(h.src_ip, "10.0.0.1");
    assert_string_equal(h.dst_ip, "10.0.0.2");
    assert_int_equal(h.ts_sec, 1313440459);
    assert_int_equal(h.ts_usec, 120000);
    assert_int_equal(h.capture_id, 2002);
    assert_int_equal(h.proto_type, CAPTURE_PROTO_SIP);
    assert_int_equal(h.payload_len, 7);
    assert_memory_equal(h.payload, "OPTIONS", 7);

    /* v1 over IPv6: no time header */
    uint8_t v1[8 + 32 + 3] = {1, 0, 10, 6, 0x13, 0xc4, 0x13, 0xc5};
    v1[8 + 15] = 1;
    v1[8 + 31] = 2;
    memcpy(v1 + 40, "BYE", 3);
    assert_int_equal(decode_copy(v1, sizeof(v1), &h, NULL, 0), CAPTURE_HEP_OK);
    assert_int_equal(h.version, 1);
    assert_int_equal(h.family, AF_INET6);
    assert_int_equal(h.ip_proto, 6);
    assert_string_equal(h.src_ip, "::1");
    assert_string_equal(h.dst_ip, "::2");
    assert_int_equal(h.ts_sec, 0);
    assert_int_equal(h.payload_len, 3);
    v1[2] = 3;
    assert_int_equal(decode_copy(v1, sizeof(v1), &h, NULL, 0), CAPTURE_HEP_BAD_ADDRESS);
}

static void test_frame(void **state)
{
    (void)state;
    uint8_t s[6 + 113 + 113];
    assert_int_equal(capture_hep_frame(spec_vector, 113), 113);
    assert_int_equal(capture_hep_frame(spec_vector, 20), 113);
    for (size_t k = 0; k < 10; k++)
        assert_int_equal(capture_hep_frame(spec_vector, k), 0);
    /* heplify v1's bogus header on connect, then real packets */
    memcpy(s, "HEP3\x03\x0a", 6);
    memcpy(s + 6, spec_vector, 113);
    memcpy(s + 119, spec_vector, 113);
    assert_int_equal(capture_hep_frame(s, 6), 0);
    assert_int_equal(capture_hep_frame(s, 9), 0);
    assert_int_equal(capture_hep_frame(s, sizeof(s)), -1);
    size_t skip = capture_hep_resync(s, sizeof(s));
    assert_int_equal(skip, 6);
    assert_int_equal(capture_hep_frame(s + skip, sizeof(s) - skip), 113);
    /* bad lengths and garbage */
    assert_int_equal(capture_hep_frame((const uint8_t *)"HEP3\x00\x05", 6), -1);
    assert_int_equal(capture_hep_frame((const uint8_t *)"HEP3\xff\xf0", 6), -1);
    assert_int_equal(capture_hep_frame((const uint8_t *)"XEP3\x00\x71", 6), -1);
    assert_int_equal(capture_hep_frame((const uint8_t *)"HX", 2), -1);
    assert_int_equal(capture_hep_resync((const uint8_t *)"xxxxHEP3", 8), 4);
    assert_int_equal(capture_hep_resync((const uint8_t *)"xxxxxHE", 7), 5);
    assert_int_equal(capture_hep_resync((const uint8_t *)"xxxx", 4), 4);
}

static void test_roundtrip(void **state)
{
    (void)state;
    static const char payload[] = "REGISTER sip:example.com SIP/2.0\r\n\r\n";
    capture_hep_t in = {.version = 3,
                        .family = AF_INET,
                        .ip_proto = 17,
                        .src_port = 5060,
                        .dst_port = 5080,
                        .ts_sec = 1700000001,
                        .ts_usec = 42,
                        .proto_type = CAPTURE_PROTO_SIP,
                        .capture_id = 2002,
                        .vlan = 7,
                        .auth_key = "pw",
                        .auth_key_len = 2,
                        .correlation_id = "corr",
                        .correlation_id_len = 4,
                        .node_name = "edge-1",
                        .node_name_len = 6,
                        .payload = (const uint8_t *)payload,
                        .payload_len = sizeof(payload) - 1};
    strcpy(in.src_ip, "192.0.2.1");
    strcpy(in.dst_ip, "192.0.2.2");
    uint8_t out[512];
    long n = capture_hep_encode(&in, out, sizeof(out));
    assert_true(n > 6);
    assert_int_equal(capture_hep_frame(out, (size_t)n), n);
    capture_hep_t h;
    assert_int_equal(decode_copy(out, (size_t)n, &h, NULL, 0), CAPTURE_HEP_OK);
    assert_int_equal(h.family, AF_INET);
    assert_string_equal(h.src_ip, "192.0.2.1");
    assert_string_equal(h.dst_ip, "192.0.2.2");
    assert_int_equal(h.src_port, 5060);
    assert_int_equal(h.dst_port, 5080);
    assert_int_equal(h.ts_sec, 1700000001);
    assert_int_equal(h.ts_usec, 42);
    assert_int_equal(h.capture_id, 2002);
    assert_int_equal(h.vlan, 7);
    assert_int_equal(h.auth_key_len, 2);
    assert_int_equal(h.correlation_id_len, 4);
    assert_memory_equal(h.node_name, "edge-1", 6);
    assert_int_equal(h.payload_len, sizeof(payload) - 1);
    assert_memory_equal(h.payload, payload, sizeof(payload) - 1);
    /* too small at every size */
    for (size_t cap = 0; cap < (size_t)n; cap++)
        assert_int_equal(capture_hep_encode(&in, out, cap), -1);

    in.family = AF_INET6;
    strcpy(in.src_ip, "fe80::1");
    strcpy(in.dst_ip, "2001:db8::5");
    n = capture_hep_encode(&in, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(decode_copy(out, (size_t)n, &h, NULL, 0), CAPTURE_HEP_OK);
    assert_int_equal(h.family, AF_INET6);
    assert_string_equal(h.src_ip, "fe80::1");
    assert_string_equal(h.dst_ip, "2001:db8::5");
    strcpy(in.src_ip, "not an address");
    assert_int_equal(capture_hep_encode(&in, out, sizeof(out)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vector),   cmocka_unit_test(test_hepjs_real),
        cmocka_unit_test(test_sender_orders), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_truncation),    cmocka_unit_test(test_compressed),
        cmocka_unit_test(test_v1_v2),         cmocka_unit_test(test_frame),
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
