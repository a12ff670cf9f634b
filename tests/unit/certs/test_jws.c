/* Unit tests for certs_jws: base64url, the RFC 7638 thumbprint example, key
 * authorizations, and flattened JWS bodies whose signatures verify with the public key
 * (ES256 as raw r||s, RS256 as PKCS#1 v1.5). */
#include "certs/certs_jws.h"
#include "core/hc_alloc.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>

static void test_b64u(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"},
                 {"\xfb\xff", "-_8"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = certs_jws_b64u(cases[i].in, strlen(cases[i].in));
        assert_string_equal(s, cases[i].out);
        unsigned char *back = NULL;
        size_t n = 0;
        assert_int_equal(certs_jws_b64u_decode(s, strlen(s), &back, &n), 0);
        assert_int_equal(n, strlen(cases[i].in));
        assert_memory_equal(back, cases[i].in, n);
        hc_free(back);
        hc_free(s);
    }
    unsigned char *b = NULL;
    size_t n;
    assert_int_equal(certs_jws_b64u_decode("Zm9v=", 5, &b, &n), -EINVAL);
    assert_int_equal(certs_jws_b64u_decode("Z", 1, &b, &n), -EINVAL);
    assert_int_equal(certs_jws_b64u_decode("Zm+v", 4, &b, &n), -EINVAL);
}

/* RFC 7638 §3.1's RSA key and its thumbprint. */
static const char rfc_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ"
    "ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW"
    "2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQ"
    "Fh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

static EVP_PKEY *rfc_key(void)
{
    unsigned char *n = NULL, *e = NULL;
    size_t nl = 0, el = 0;
    assert_int_equal(certs_jws_b64u_decode(rfc_n, strlen(rfc_n), &n, &nl), 0);
    assert_int_equal(certs_jws_b64u_decode("AQAB", 4, &e, &el), 0);
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *key = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    hc_free(n);
    hc_free(e);
    return key;
}

static void test_thumbprint_rfc7638(void **state)
{
    (void)state;
    EVP_PKEY *key = rfc_key();
    char *jwk = NULL, *tp = NULL, *ka = NULL;
    assert_int_equal(certs_jws_jwk(key, &jwk), 0);
    assert_true(strncmp(jwk, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7", 32) == 0);
    assert_int_equal(certs_jws_thumbprint(key, &tp), 0);
    assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_int_equal(certs_jws_key_authz(key, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", &ka), 0);
    assert_string_equal(ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA."
                            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    hc_free(ka);
    hc_free(tp);
    hc_free(jwk);
    EVP_PKEY_free(key);
}

static unsigned char *b64u_member(json_t *o, const char *k, size_t *len)
{
    const char *s = json_string_value(json_object_get(o, k));
    assert_non_null(s);
    unsigned char *out = NULL;
    assert_int_equal(certs_jws_b64u_decode(s, strlen(s), &out, len), 0);
    return out;
}

/* Parses a JWS body, checks its header and verifies its signature with key. */
static void check_jws(EVP_PKEY *key, const char *body, const char *kid, const char *payload)
{
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 3);
    size_t hl = 0, pl = 0, sl = 0;
    unsigned char *hdr = b64u_member(j, "protected", &hl);
    unsigned char *pay = b64u_member(j, "payload", &pl);
    unsigned char *sig = b64u_member(j, "signature", &sl);
    assert_int_equal(pl, strlen(payload));
    assert_memory_equal(pay, payload, pl);
    json_t *h = json_loadb((const char *)hdr, hl, 0, NULL);
    int ec = EVP_PKEY_is_a(key, "EC");
    assert_string_equal(json_string_value(json_object_get(h, "alg")), ec ? "ES256" : "RS256");
    assert_string_equal(json_string_value(json_object_get(h, "nonce")), "nonce-1");
    assert_string_equal(json_string_value(json_object_get(h, "url")), "https://acme.test/x");
    if (kid) {
        assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
        assert_null(json_object_get(h, "jwk"));
    } else {
        assert_null(json_object_get(h, "kid"));
        json_t *jwk = json_object_get(h, "jwk");
        assert_string_equal(json_string_value(json_object_get(jwk, "kty")), ec ? "EC" : "RSA");
    }
    /* signing input: b64u(protected) "." b64u(payload), exactly as sent */
    const char *ph = json_string_value(json_object_get(j, "protected"));
    const char *pp = json_string_value(json_object_get(j, "payload"));
    size_t in_len = strlen(ph) + 1 + strlen(pp);
    char *input = hc_malloc(in_len + 1);
    snprintf(input, in_len + 1, "%s.%s", ph, pp);
    unsigned char *der = NULL;
    int der_len = 0;
    if (ec) {
        assert_int_equal(sl, 64);
        ECDSA_SIG *es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
        der_len = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestVerify(md, ec ? der : sig, ec ? (size_t)der_len : sl,
                                      (const unsigned char *)input, in_len), 1);
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    hc_free(input);
    json_decref(h);
    json_decref(j);
    hc_free(hdr);
    hc_free(pay);
    hc_free(sig);
}

static void test_sign(void **state)
{
    (void)state;
    EVP_PKEY *keys[] = {EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
                        EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)};
    static const struct {
        const char *kid, *payload;
    } cases[] = {{NULL, "{\"termsOfServiceAgreed\":true}"},
                 {"https://acme.test/my-account/1", ""},
                 {"https://acme.test/my-account/\"q\"", "{}"}};
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char *body = NULL;
            size_t len = 0;
            assert_int_equal(certs_jws_sign(keys[k], cases[i].kid, "nonce-1",
                                            "https://acme.test/x", cases[i].payload, &body, &len),
                             0);
            assert_int_equal(len, strlen(body));
            check_jws(keys[k], body, cases[i].kid, cases[i].payload);
            hc_free(body);
        }
        EVP_PKEY_free(keys[k]);
    }
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    char *body = NULL;
    size_t len;
    assert_null(certs_jws_alg(p384));
    assert_int_equal(certs_jws_sign(p384, NULL, "n", "u", "", &body, &len), -ENOTSUP);
    EVP_PKEY_free(p384);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64u),
        cmocka_unit_test(test_thumbprint_rfc7638),
        cmocka_unit_test(test_sign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
