/* Unit tests for capture_record: heplify-server's rows byte for byte for a known INVITE
 * (table, sid, protocol_header, data_header, raw), correlation id precedence, node name
 * and capture password, receive-time fallback, routing of every table, refusals, the
 * UTF-8/NUL cleaning PostgreSQL needs, and JSON that parses. */
#include "capture/capture_record.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <jansson.h>

static const char invite[] = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
                             "Max-Forwards: 70\r\n"
                             "To: Bob <sip:bob@biloxi.example.com>\r\n"
                             "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
                             "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
                             "CSeq: 314159 INVITE\r\n"
                             "Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
                             "User-Agent: SIPp\r\n"
                             "Content-Type: application/sdp\r\n"
                             "Content-Length: 0\r\n\r\n";

static capture_hep_t hep(const char *payload, size_t len)
{
    capture_hep_t h = {.version = 3,
                       .family = AF_INET,
                       .ip_proto = 17,
                       .src_port = 5060,
                       .dst_port = 5080,
                       .ts_sec = 1700000000,
                       .ts_usec = 123456,
                       .proto_type = CAPTURE_PROTO_SIP,
                       .capture_id = 2002,
                       .payload = (const uint8_t *)payload,
                       .payload_len = len};
    strcpy(h.src_ip, "10.0.0.1");
    strcpy(h.dst_ip, "10.0.0.2");
    return h;
}

static void assert_json(const char *s, size_t n)
{
    assert_int_equal(strlen(s), n);
    json_error_t err;
    json_t *j = json_loadb(s, n, 0, &err);
    if (!j)
        fail_msg("invalid JSON (%s): %s", err.text, s);
    json_decref(j);
}

static void test_invite_row(void **state)
{
    (void)state;
    capture_hep_t h = hep(invite, sizeof(invite) - 1);
    capture_record_t r;
    capture_record_init(&r);
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), 0);
    assert_string_equal(r.table, "hep_proto_1_call");
    assert_string_equal(r.sid, "a84b4c76e66710@pc33.atlanta.example.com");
    assert_int_equal(r.sid_len, strlen(r.sid));
    assert_int_equal(r.create_date_us, 1700000000123456LL);
    assert_string_equal(r.protocol_header,
                        "{\"protocolFamily\":2,\"protocol\":17,\"srcIp\":\"10.0.0.1\","
                        "\"dstIp\":\"10.0.0.2\",\"srcPort\":5060,\"dstPort\":5080,"
                        "\"timeSeconds\":1700000000,\"timeUseconds\":123456,\"payloadType\":1,"
                        "\"captureId\":\"2002\","
                        "\"correlation_id\":\"a84b4c76e66710@pc33.atlanta.example.com\"}");
    assert_string_equal(
        r.data_header,
        "{\"ruri_user\":\"bob\",\"ruri_domain\":\"biloxi.example.com\","
        "\"from_user\":\"alice\",\"from_tag\":\"1928301774\",\"to_user\":\"bob\","
        "\"to_tag\":\"\",\"callid\":\"a84b4c76e66710@pc33.atlanta.example.com\","
        "\"cseq\":\"314159 INVITE\",\"method\":\"INVITE\",\"user_agent\":\"SIPp\","
        "\"from_domain\":\"atlanta.example.com\",\"to_domain\":\"biloxi.example.com\","
        "\"via\":\"SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\","
        "\"contact_user\":\"alice\",\"contact_domain\":\"pc33.atlanta.example.com\","
        "\"content_type\":\"application/sdp\"}");
    assert_json(r.protocol_header, r.protocol_header_len);
    assert_json(r.data_header, r.data_header_len);
    assert_int_equal(r.raw_len, sizeof(invite) - 1);
    assert_string_equal(r.raw, invite);

    /* The same record rebuilt with a parse from the caller, a node name, a password and
     * a correlation chunk: captureId is the node name, correlation_id the chunk. */
    capture_sip_t s;
    assert_int_equal(capture_sip_parse(invite, sizeof(invite) - 1, &s), 0);
    h.node_name = "edge\"1";
    h.node_name_len = 6;
    h.auth_key = "pw";
    h.auth_key_len = 2;
    h.correlation_id = "corr-9";
    h.correlation_id_len = 6;
    assert_int_equal(capture_record_build(&r, &h, &s, 0), 0);
    assert_non_null(strstr(r.protocol_header,
                           "\"payloadType\":1,\"captureId\":\"edge\\\"1\","
                           "\"capturePass\":\"pw\",\"correlation_id\":\"corr-9\"}"));
    assert_json(r.protocol_header, r.protocol_header_len);
    capture_record_free(&r);
}

static void test_correlation_and_time(void **state)
{
    (void)state;
    static const char msg[] = "SIP/2.0 200 OK\r\n"
                              "From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\n"
                              "Call-ID: leg-b\r\nCSeq: 5 REGISTER\r\nX-CID: leg-a\r\n"
                              "Server: reg/1\r\nReason: SIP;cause=200\r\n"
                              "P-Asserted-Identity: <sip:pai@x>\r\n"
                              "Authorization: Digest username=\"u1\"\r\n\r\n";
    capture_hep_t h = hep(msg, sizeof(msg) - 1);
    h.ts_sec = 0;
    h.ts_usec = 0;
    capture_record_t r;
    capture_record_init(&r);
    assert_int_equal(capture_record_build(&r, &h, NULL, 1600000000654321LL), 0);
    assert_string_equal(r.table, "hep_proto_1_registration");
    assert_int_equal(r.create_date_us, 1600000000654321LL);
    assert_int_equal(r.ts_sec, 1600000000);
    assert_int_equal(r.ts_usec, 654321);
    assert_non_null(
        strstr(r.protocol_header, "\"timeSeconds\":1600000000,\"timeUseconds\":654321"));
    assert_non_null(strstr(r.protocol_header, "\"correlation_id\":\"leg-a\"}"));
    assert_string_equal(
        r.data_header, "{\"ruri_user\":\"\",\"ruri_domain\":\"\",\"from_user\":\"a\","
                       "\"from_tag\":\"1\",\"to_user\":\"b\",\"to_tag\":\"2\",\"callid\":\"leg-b\","
                       "\"cseq\":\"5 REGISTER\",\"method\":\"200\",\"user_agent\":\"\","
                       "\"from_domain\":\"x\",\"to_domain\":\"y\",\"pid_user\":\"pai\","
                       "\"auth_user\":\"u1\",\"server\":\"reg/1\",\"reason\":\"SIP;cause=200\","
                       "\"callid_aleg\":\"leg-a\"}");
    capture_record_free(&r);
}

static void test_routing(void **state)
{
    (void)state;
    static const struct {
        const char *method, *table;
    } cases[] = {{"INVITE", "hep_proto_1_call"},     {"ACK", "hep_proto_1_call"},
                 {"BYE", "hep_proto_1_call"},        {"CANCEL", "hep_proto_1_call"},
                 {"UPDATE", "hep_proto_1_call"},     {"PRACK", "hep_proto_1_call"},
                 {"REFER", "hep_proto_1_call"},      {"INFO", "hep_proto_1_call"},
                 {"NOTIFY", "hep_proto_1_call"},     {"REGISTER", "hep_proto_1_registration"},
                 {"OPTIONS", "hep_proto_1_default"}, {"SUBSCRIBE", "hep_proto_1_default"},
                 {"invite", "hep_proto_1_default"},  {"INVITES", "hep_proto_1_default"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        capture_str_t m = {cases[i].method, strlen(cases[i].method)};
        assert_string_equal(capture_record_sip_table(m), cases[i].table);
    }

    capture_record_t r;
    capture_record_init(&r);
    capture_hep_t h = hep("rtcp report", 11);
    h.proto_type = CAPTURE_PROTO_RTCP;
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), -EINVAL); /* no correlation */
    assert_null(r.table);
    h.correlation_id = "call-7";
    h.correlation_id_len = 6;
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), 0);
    assert_string_equal(r.table, "hep_proto_5_default");
    assert_string_equal(r.sid, "call-7");
    assert_string_equal(r.data_header, "{\"node\":\"2002\",\"proto\":\"rtcp\"}");
    assert_non_null(strstr(r.protocol_header, "\"payloadType\":5,"));
    h.proto_type = CAPTURE_PROTO_LOG;
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), 0);
    assert_string_equal(r.table, "hep_proto_100_default");
    assert_string_equal(r.data_header, "{\"node\":\"2002\",\"proto\":\"log\"}");
    h.proto_type = 53;
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), 0);
    assert_string_equal(r.table, "hep_proto_35_default");
    assert_string_equal(r.data_header, "{\"node\":\"2002\",\"proto\":\"dns\"}");
    h.proto_type = 77;
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), 0);
    assert_string_equal(r.data_header, "{\"node\":\"2002\",\"proto\":\"77\"}");
    h.proto_type = 0;
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), -EINVAL);

    static const char isup[] =
        "{\"cic\":12,\"dpc\":300,\"opc\":200,\"msg_name\":\"IAM\","
        "\"called_number\":{\"num\":\"123\"},\"calling_number\":{\"num\":\"456\"}}";
    h = hep(isup, sizeof(isup) - 1);
    h.proto_type = 54;
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), 0);
    assert_string_equal(r.table, "hep_proto_54_default");
    assert_string_equal(r.sid, "200:300:12");
    assert_string_equal(r.data_header, "{\"cic\":12,\"dpc\":300,\"opc\":200,\"msg_name\":\"IAM\","
                                       "\"called_number\":\"123\",\"calling_number\":\"456\","
                                       "\"callid\":\"200:300:12\"}");
    h = hep("not json", 8);
    h.proto_type = 54;
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), -EINVAL);

    /* SIP refusals: 32 bytes or less, not SIP, no Call-ID */
    static const char tiny[] = "BYE sip:a SIP/2.0\r\ni: x\r\nCSeq:1 BYE\r\n";
    h = hep(tiny, 32);
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), -EINVAL);
    h = hep("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), -EINVAL);
    capture_record_free(&r);
}

static void test_clean(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 0);
    static const char in[] = "a\0b\xc3\xa9\xff\xed\xa0\x80\xf0\x9f\x98\x80\xe2\x82"
                             "c\"\\\n\x01";
    assert_int_equal(capture_record_clean(&b, in, sizeof(in) - 1, 0), 0);
    assert_string_equal(b.base, "ab\xc3\xa9\xf0\x9f\x98\x80"
                                "c\"\\\n\x01");
    hc_buf_reset(&b);
    assert_int_equal(capture_record_clean(&b, in, sizeof(in) - 1, 1), 0);
    assert_string_equal(b.base, "ab\xc3\xa9\xf0\x9f\x98\x80"
                                "c\\\"\\\\\\n\\u0001");
    hc_buf_free(&b);
    hc_buf_init(&b, 8);
    assert_int_equal(capture_record_clean(&b, "0123456789", 10, 0), -ENOBUFS);
    assert_int_equal(b.len, 0);
    hc_buf_free(&b);

    /* A SIP message with NULs and invalid bytes: raw and the headers are clean. */
    static const char dirty[] = "OPTIONS sip:\xff\x00u@h SIP/2.0\r\nCall-ID: c\xfe\x00i\r\n"
                                "CSeq: 1 OPTIONS\r\nUser-Agent: \x01\"x\r\n\r\n";
    capture_hep_t h = hep(dirty, sizeof(dirty) - 1);
    capture_record_t r;
    capture_record_init(&r);
    assert_int_equal(capture_record_build(&r, &h, NULL, 0), 0);
    assert_string_equal(r.table, "hep_proto_1_default");
    assert_string_equal(r.sid, "ci");
    assert_int_equal(r.raw_len, sizeof(dirty) - 1 - 4);
    assert_int_equal(strlen(r.raw), r.raw_len);
    assert_json(r.data_header, r.data_header_len);
    assert_json(r.protocol_header, r.protocol_header_len);
    assert_non_null(strstr(r.data_header, "\"user_agent\":\"\\u0001\\\"x\""));
    capture_record_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invite_row),
        cmocka_unit_test(test_correlation_and_time),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
