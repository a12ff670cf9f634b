/* Unit tests for hc_jwt: RFC 4648 base64url vectors (with and without padding, bad
 * characters, short buffers), base64 decoding, HMAC-SHA256 against RFC 4231's vectors, HS256
 * signing against RFC 7515 Appendix A.1's example and a token made by the jsonwebtoken npm package,
 * and verification failures. */
#include "core/hc_jwt.h"
#include "core/hc_alloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void test_base64url_vectors(void **state)
{
    (void)state;
    /* RFC 4648 §10, in the URL-safe alphabet and without padding */
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},
             {"f", "Zg"},
             {"fo", "Zm8"},
             {"foo", "Zm9v"},
             {"foob", "Zm9vYg"},
             {"fooba", "Zm9vYmE"},
             {"foobar", "Zm9vYmFy"},
             {"\xfb\xff", "-_8"},
             {"\xff\xfe\xfd", "__79"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char enc[32];
        unsigned char dec[32];
        long n = hc_base64url_encode(v[i].in, strlen(v[i].in), enc, sizeof(enc));
        assert_int_equal(n, strlen(v[i].out));
        assert_string_equal(enc, v[i].out);
        long m = hc_base64url_decode(enc, (size_t)n, dec, sizeof(dec));
        assert_int_equal(m, strlen(v[i].in));
        assert_memory_equal(dec, v[i].in, (size_t)m);
    }
}

static void test_base64url_edges(void **state)
{
    (void)state;
    unsigned char d[16];
    char e[16];
    /* padding is optional, but must be consistent */
    assert_int_equal(hc_base64url_decode("Zm8=", 4, d, sizeof(d)), 2);
    assert_int_equal(hc_base64url_decode("Zg==", 4, d, sizeof(d)), 1);
    assert_int_equal(hc_base64url_decode("Zg=", 3, d, sizeof(d)), -1);
    assert_int_equal(hc_base64url_decode("Z", 1, d, sizeof(d)), -1);
    /* the standard alphabet's + and / are not base64url */
    assert_int_equal(hc_base64url_decode("Zm+v", 4, d, sizeof(d)), -1);
    assert_int_equal(hc_base64url_decode("Zm/v", 4, d, sizeof(d)), -1);
    assert_int_equal(hc_base64url_decode("Zm 9", 4, d, sizeof(d)), -1);
    /* buffers one byte short */
    assert_int_equal(hc_base64url_decode("Zm9vYmFy", 8, d, 5), -1);
    assert_int_equal(hc_base64url_decode("Zm9vYmFy", 8, d, 6), 6);
    assert_int_equal(hc_base64url_encode("foobar", 6, e, 8), -1);
    assert_int_equal(hc_base64url_encode("foobar", 6, e, 9), 8);
}

/* RFC 7515 Appendix A.1: the HMAC key and the signing input's signature. */
static const unsigned char rfc_key[] = {
    3,   35,  53, 75,  43,  15, 165, 188, 131, 126, 6,   101, 119, 123, 166, 143,
    90,  179, 40, 230, 240, 84, 201, 40,  169, 15,  132, 178, 210, 80,  46,  191,
    211, 251, 90, 146, 210, 6,  71,  239, 150, 138, 180, 195, 119, 98,  61,  34,
    61,  46,  33, 114, 5,   46, 79,  8,   192, 205, 154, 245, 103, 208, 128, 163};

static void test_verify_rfc7515(void **state)
{
    (void)state;
    /* A.1's header is {"typ":"JWT",\r\n "alg":"HS256"}: not the compact form hc_jwt
     * accepts, so the example token must be refused even though its MAC is right. */
    const char *tok = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
                      "bS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    char out[256];
    assert_int_equal(hc_jwt_verify(tok, strlen(tok), rfc_key, sizeof(rfc_key), out, sizeof(out)),
                     -1);
}

static void test_sign_verify(void **state)
{
    (void)state;
    /* jwt.sign({"sub":"1234567890","name":"John Doe","iat":1516239022}, "secret") from the
     * jsonwebtoken npm package: the header hc_jwt emits and the same signature. */
    const char *payload = "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}";
    const char *want = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                       "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
                       "XbPfbIHMI6arZ3Y922BhjWgQzWXcXNrz0ogtVhfEd2o";
    char tok[512], out[256];
    long n = hc_jwt_sign(payload, strlen(payload), "secret", 6, tok, sizeof(tok));
    assert_int_equal(n, strlen(want));
    assert_string_equal(tok, want);
    long m = hc_jwt_verify(tok, (size_t)n, "secret", 6, out, sizeof(out));
    assert_int_equal(m, strlen(payload));
    assert_string_equal(out, payload);

    /* wrong key, flipped signature character, flipped payload, truncations */
    assert_int_equal(hc_jwt_verify(tok, (size_t)n, "secreT", 6, out, sizeof(out)), -1);
    char bad[512];
    memcpy(bad, tok, (size_t)n + 1);
    bad[n - 1] = bad[n - 1] == 'o' ? 'p' : 'o';
    assert_int_equal(hc_jwt_verify(bad, (size_t)n, "secret", 6, out, sizeof(out)), -1);
    memcpy(bad, tok, (size_t)n + 1);
    bad[40] = bad[40] == 'x' ? 'y' : 'x';
    assert_int_equal(hc_jwt_verify(bad, (size_t)n, "secret", 6, out, sizeof(out)), -1);
    for (long cut = 0; cut < n; cut += 7)
        assert_int_equal(hc_jwt_verify(tok, (size_t)cut, "secret", 6, out, sizeof(out)), -1);
    /* a payload buffer too small, and an output buffer too small for signing */
    assert_int_equal(hc_jwt_verify(tok, (size_t)n, "secret", 6, out, 10), -1);
    assert_int_equal(hc_jwt_sign(payload, strlen(payload), "secret", 6, tok, (size_t)n), -1);
    assert_int_equal(hc_jwt_sign(payload, strlen(payload), "secret", 6, tok, (size_t)n + 1), n);
}

static void test_alg_none_refused(void **state)
{
    (void)state;
    /* {"alg":"none","typ":"JWT"} . {"a":1} . "" and an HS512 header */
    const char *none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhIjoxfQ.";
    const char *hs512 = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJhIjoxfQ."
                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    char out[64];
    assert_int_equal(hc_jwt_verify(none, strlen(none), "k", 1, out, sizeof(out)), -1);
    assert_int_equal(hc_jwt_verify(hs512, strlen(hs512), "k", 1, out, sizeof(out)), -1);
    assert_int_equal(hc_jwt_verify("a.b.c.d", 7, "k", 1, out, sizeof(out)), -1);
    assert_int_equal(hc_jwt_verify("", 0, "k", 1, out, sizeof(out)), -1);
}

/* RFC 4648 §10 in the standard alphabet, line breaks skipped, and what is refused. */
static void test_base64_decode(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } ok[] = {{"", ""},
              {"Zg==", "f"},
              {"Zm8=", "fo"},
              {"Zm9v", "foo"},
              {"Zm9vYg==", "foob"},
              {"Zm9vYmE=", "fooba"},
              {"Zm9vYmFy", "foobar"},
              {"Zm9v\r\nYmFy", "foobar"},
              {"+/+/", "\xfb\xff\xbf"}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        size_t n = 99;
        char *d = hc_base64_decode(ok[i].in, strlen(ok[i].in), &n);
        assert_non_null(d);
        assert_int_equal(n, strlen(ok[i].out));
        assert_memory_equal(d, ok[i].out, n);
        assert_int_equal(d[n], '\0');
        hc_free(d);
    }
    static const char *const bad[] = {"Zg", "Zg=", "Z===", "====", "Zg==Zg==x", "Zm9v-_", "Zm=v"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n;
        assert_null(hc_base64_decode(bad[i], strlen(bad[i]), &n));
    }
}

static void hex32(char out[65], const unsigned char mac[32])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/* RFC 4231 §4.2 (short key), §4.3 (key shorter than the output) and §4.7 (a 131-byte key,
 * hashed first). */
static void test_hmac_rfc4231(void **state)
{
    (void)state;
    unsigned char key1[20], key6[131], mac[32];
    char hex[65];
    memset(key1, 0x0b, sizeof(key1));
    memset(key6, 0xaa, sizeof(key6));
    assert_int_equal(hc_hmac_sha256(key1, sizeof(key1), "Hi There", 8, mac), 0);
    hex32(hex, mac);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    const char *m2 = "what do ya want for nothing?";
    assert_int_equal(hc_hmac_sha256("Jefe", 4, m2, strlen(m2), mac), 0);
    hex32(hex, mac);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    assert_int_equal(hc_hmac_sha256(key6, sizeof(key6), m6, strlen(m6), mac), 0);
    hex32(hex, mac);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64url_vectors), cmocka_unit_test(test_base64url_edges),
        cmocka_unit_test(test_verify_rfc7515),    cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_alg_none_refused),  cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_base64_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
