/* Unit tests for capture_sip: a full INVITE with SDP, compact forms, folded lines,
 * name-addr and bare addr-spec with sip/sips/tel, responses, multipart SDP, header
 * lookup, leading CRLFs, and garbage and truncation at every byte (exact-size copies so
 * ASan catches an over-read). */
#include "capture/capture_sip.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define assert_view(v, s)                                                                          \
    do {                                                                                           \
        capture_str_t v_ = (v);                                                                    \
        assert_int_equal(v_.len, strlen(s));                                                       \
        if (v_.len)                                                                                \
            assert_memory_equal(v_.p, s, v_.len);                                                  \
    } while (0)

static const char invite[] =
    "\r\n\r\n"
    "INVITE sip:+4930123@pbx.example.com;user=phone SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK-1;received=1.2.3.4, SIP/2.0/UDP "
    "10.9.9.9;branch=z9hG4bK-2\r\n"
    "Via: SIP/2.0/TCP 10.8.8.8;branch=z9hG4bK-3\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice <A>\" <sip:alice:secret@a.example.com:5061;transport=tcp>;tag=1928301774\r\n"
    "To: <sips:bob@[2001:db8::9]>\r\n"
    "Call-ID : a84b4c76e66710@pc33.atlanta.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@10.0.0.1:5060>;expires=60\r\n"
    "P-Asserted-Identity: \"Alice\" <tel:+4930999;phone-context=example.com>\r\n"
    "Proxy-Authorization: Digest realm=\"x\", username=\"alice\\\"s\", nonce=\"n\"\r\n"
    "X-CID: aleg-1@host\r\n"
    "User-Agent: softphone/1.0\r\n"
    "Reason: Q.850;cause=16;text=\"Normal\"\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 136\r\n"
    "\r\n"
    "v=0\r\n"
    "o=- 1 1 IN IP4 10.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 10.0.0.1/127\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8\r\n"
    "m=video 0 RTP/AVP 31\r\n"
    "a=rtpmap:0 PCMU/8000\r\n";

static int parse(const char *msg, size_t len, capture_sip_t *s)
{
    return capture_sip_parse(msg, len, s);
}

static void test_invite(void **state)
{
    (void)state;
    capture_sip_t s;
    assert_int_equal(parse(invite, sizeof(invite) - 1, &s), 0);
    assert_true(s.is_request);
    assert_view(s.method, "INVITE");
    assert_view(s.ruri, "sip:+4930123@pbx.example.com;user=phone");
    assert_view(s.ruri_user, "+4930123");
    assert_view(s.ruri_host, "pbx.example.com");
    assert_int_equal(s.status, 0);
    assert_view(s.call_id, "a84b4c76e66710@pc33.atlanta.com");
    assert_view(s.from_user, "alice");
    assert_view(s.from_host, "a.example.com");
    assert_view(s.from_tag, "1928301774");
    assert_view(s.to_user, "bob");
    assert_view(s.to_host, "[2001:db8::9]");
    assert_view(s.to_tag, "");
    assert_int_equal(s.cseq_num, 314159);
    assert_view(s.cseq_method, "INVITE");
    assert_view(s.cseq, "314159 INVITE");
    assert_view(s.via, "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK-1;received=1.2.3.4");
    assert_view(s.via_branch, "z9hG4bK-1");
    assert_view(s.contact_user, "alice");
    assert_view(s.contact_host, "10.0.0.1");
    assert_view(s.pai_user, "+4930999");
    assert_view(s.auth_user, "alice\\\"s");
    assert_view(s.x_cid, "aleg-1@host");
    assert_view(s.user_agent, "softphone/1.0");
    assert_view(s.server, "");
    assert_view(s.reason_hdr, "Q.850;cause=16;text=\"Normal\"");
    assert_int_equal(s.content_length, 136);
    assert_view(s.content_type, "application/sdp");
    assert_int_equal(s.body.len, 136);
    assert_memory_equal(s.body.p, "v=0\r\n", 5);
    assert_view(s.sdp_ip, "10.0.0.1");
    assert_int_equal(s.nmedia, 2);
    assert_view(s.media[0].type, "audio");
    assert_int_equal(s.media[0].port, 49170);
    assert_view(s.media[1].type, "video");
    assert_int_equal(s.media[1].port, 0);
}

static void test_compact_folded(void **state)
{
    (void)state;
    static const char msg[] = "MESSAGE sip:u@h SIP/2.0\n"
                              "v: SIP/2.0/UDP h2;branch=z9hG4bKc\n"
                              "f:sip:carol@c.org;tag=88\n"
                              "t: Bob\n <sip:bob@b.org>\n"
                              "i:   folded\n"
                              "c: text/plain\n"
                              "l: 5\n"
                              "m: *\n"
                              "CSEQ:\n\t7\n MESSAGE\n"
                              "Subject: first\n"
                              "\tsecond\n"
                              "\n"
                              "hello-and-more";
    capture_sip_t s;
    assert_int_equal(parse(msg, sizeof(msg) - 1, &s), 0);
    assert_view(s.via_branch, "z9hG4bKc");
    /* bare addr-spec: ;tag belongs to the header */
    assert_view(s.from_user, "carol");
    assert_view(s.from_host, "c.org");
    assert_view(s.from_tag, "88");
    assert_view(s.to_user, "bob");
    assert_view(s.call_id, "folded");
    assert_int_equal(s.cseq_num, 7);
    assert_view(s.cseq_method, "MESSAGE");
    assert_int_equal(s.content_length, 5);
    assert_view(s.body, "hello");
    assert_view(s.contact_user, "");
    assert_view(capture_sip_header(msg, sizeof(msg) - 1, "subject"), "first\n\tsecond");
    assert_view(capture_sip_header(msg, sizeof(msg) - 1, "Call-ID"), "folded");
    assert_view(capture_sip_header(msg, sizeof(msg) - 1, "i"), "folded");
    assert_view(capture_sip_header(msg, sizeof(msg) - 1, "content-length"), "5");
    assert_view(capture_sip_header(msg, sizeof(msg) - 1, "X-Missing"), "");
}

static void test_response_tel(void **state)
{
    (void)state;
    static const char msg[] = "SIP/2.0 486 Busy Here\r\n"
                              "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKr\r\n"
                              "From: <tel:+15551234;phone-context=x>;tag=a\r\n"
                              "To: sips:bob@b.org;tag=b\r\n"
                              "Call-ID: r1\r\n"
                              "CSeq: 2 INVITE\r\n"
                              "Server: pbx/2\r\n"
                              "Authorization: Digest username=bob,realm=r\r\n"
                              "Content-Length: 0\r\n\r\n";
    capture_sip_t s;
    assert_int_equal(parse(msg, sizeof(msg) - 1, &s), 0);
    assert_false(s.is_request);
    assert_int_equal(s.status, 486);
    assert_view(s.reason, "Busy Here");
    assert_view(s.method, "");
    assert_view(s.from_user, "+15551234");
    assert_view(s.from_host, "");
    assert_view(s.from_tag, "a");
    assert_view(s.to_user, "bob");
    assert_view(s.to_tag, "b");
    assert_view(s.user_agent, "pbx/2");
    assert_view(s.server, "pbx/2");
    assert_view(s.auth_user, "bob");
    assert_int_equal(s.content_length, 0);
    assert_int_equal(s.body.len, 0);

    static const char noreason[] = "SIP/2.0 100\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
    assert_int_equal(parse(noreason, sizeof(noreason) - 1, &s), 0);
    assert_int_equal(s.status, 100);
    assert_view(s.reason, "");
}

static void test_multipart(void **state)
{
    (void)state;
    static const char msg[] = "INVITE sip:x@y SIP/2.0\r\n"
                              "Call-ID: mp\r\n"
                              "CSeq: 1 INVITE\r\n"
                              "Content-Type: multipart/mixed; boundary=\"unique-boundary-1\"\r\n"
                              "\r\n"
                              "preamble\r\n"
                              "--unique-boundary-1\r\n"
                              "Content-Type: application/isup;version=itu-t92+\r\n"
                              "\r\n"
                              "m=audio 1 junk\r\n"
                              "--unique-boundary-1\r\n"
                              "Content-Type: application/sdp\r\n"
                              "\r\n"
                              "v=0\r\n"
                              "c=IN IP6 2001:db8::7\r\n"
                              "m=audio 30000 RTP/AVP 0\r\n"
                              "\r\n"
                              "--unique-boundary-1--\r\n";
    capture_sip_t s;
    assert_int_equal(parse(msg, sizeof(msg) - 1, &s), 0);
    assert_view(s.sdp_ip, "2001:db8::7");
    assert_int_equal(s.nmedia, 1);
    assert_int_equal(s.media[0].port, 30000);
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "\r\n\r\n",
        "GARBAGE",
        "INVITE sip:x@y HTTP/1.1\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n\r\n",
        "INVITE  SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n\r\n",
        "SIP/2.0 20 OK\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n\r\n",
        "SIP/2.0 2000 OK\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n\r\n",
        "INVITE sip:x@y SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n",             /* no Call-ID */
        "INVITE sip:x@y SIP/2.0\r\nCall-ID: a\r\nCSeq: INVITE\r\n\r\n", /* no number */
        "INV<TE sip:x@y SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n\r\n",
    };
    capture_sip_t s;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], strlen(bad[i]), &s), -EINVAL);
    /* A start line with NULs and high bytes inside. */
    static const char nul[] = "INVITE sip:\0\xff@y SIP/2.0\r\nCall-ID: \0\r\nCSeq: 1 X\r\n\r\n";
    assert_int_equal(parse(nul, sizeof(nul) - 1, &s), 0);
    assert_int_equal(s.call_id.len, 1);
}

static void test_truncation_and_noise(void **state)
{
    (void)state;
    capture_sip_t s;
    for (size_t k = 0; k <= sizeof(invite) - 1; k++) {
        char *c = malloc(k ? k : 1);
        assert_non_null(c);
        memcpy(c, invite, k);
        int rc = parse(c, k, &s);
        assert_true(rc == 0 || rc == -EINVAL);
        if (rc == 0)
            assert_true(s.body.p >= c && s.body.p + s.body.len <= c + k);
        capture_sip_header(c, k, "Via");
        free(c);
    }
    /* Pseudo-random bytes, and the INVITE with bytes flipped. */
    uint32_t x = 2463534242u;
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(round % 300);
        char *c = malloc(n ? n : 1);
        assert_non_null(c);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            c[i] = round & 1 ? (char)x : "\r\n :;<>\"@,=abcSIP/2.0"[x % 21];
        }
        parse(c, n, &s);
        free(c);
        char m[sizeof(invite)];
        memcpy(m, invite, sizeof(invite));
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        m[x % (sizeof(invite) - 1)] = (char)(x >> 8);
        parse(m, sizeof(invite) - 1, &s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invite),       cmocka_unit_test(test_compact_folded),
        cmocka_unit_test(test_response_tel), cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_refused),      cmocka_unit_test(test_truncation_and_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
