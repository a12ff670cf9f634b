/* passTLSClientCert with certificates made here: Traefik's field order and formats, a
 * NUL inside a name kept (escaped) rather than ending it, a v4-mapped IP SAN written as
 * v4, a time before 1970 wrapped as Go's uint64, the client's own fields removed. */
#include "core/hc_alloc.h"
#include "proxy/mw_tlscert.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <string.h>

static X509 *make_cert(const char *cn, size_t cnlen, const char *san, long not_before)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "C", MBSTRING_UTF8, (const unsigned char *)"FR", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"Cheese", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, (int)cnlen, -1,
                               0);
    X509_set_issuer_name(x, n);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    ASN1_TIME_set(X509_getm_notBefore(x), not_before);
    ASN1_TIME_set(X509_getm_notAfter(x), 2000000000);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    EVP_PKEY_free(k);
    return x;
}

static const char *run(const char *spec_json, X509 *leaf, const char *field, char *out, size_t n)
{
    proxy_mw_t mw;
    char err[256];
    json_t *spec = json_loads(spec_json, 0, NULL);
    assert_int_equal(proxy_mw_tlscert_parse(spec, "t@file", &mw.cfg, err, sizeof(err)), 0);
    json_decref(spec);
    proxy_mw_req_t req;
    proxy_mw_req_init(&req, "GET", 1, "a.test", "/", "127.0.0.1", 0);
    proxy_mw_headers_add(&req.headers, "X-Forwarded-Tls-Client-Cert-Info", "forged");
    proxy_mw_headers_add(&req.headers, "X-Forwarded-Tls-Client-Cert", "forged");
    proxy_mw_tlscert_apply(mw.cfg, &req, leaf, NULL);
    const char *v = proxy_mw_headers_get(&req.headers, field);
    out[0] = '\0';
    if (v)
        snprintf(out, n, "%s", v);
    proxy_mw_req_free(&req);
    proxy_mw_tlscert_free(mw.cfg);
    return v ? out : NULL;
}

static void test_info_formats(void **state)
{
    (void)state;
    char out[2048];
    X509 *x = make_cert("admin\0.evil", 11, "DNS:a.test,IP:::ffff:10.0.0.1,email:a@b.c", -86400);
    const char *info =
        run("{\"info\":{\"notBefore\":true,\"notAfter\":true,\"sans\":true,"
            "\"serialNumber\":true,\"subject\":{\"country\":true,\"organization\":true,"
            "\"commonName\":true},\"issuer\":{\"commonName\":true}}}",
            x, "X-Forwarded-Tls-Client-Cert-Info", out, sizeof(out));
    assert_non_null(info);
    /* query-escaped: quotes %22, '=' %3D, ';' %3B, ',' %2C, NUL %00 */
    assert_string_equal(info, "Subject%3D%22C%3DFR%2CO%3DCheese%2CCN%3Dadmin%00.evil%22%3B"
                              "Issuer%3D%22CN%3Dadmin%00.evil%22%3BSerialNumber%3D%224242%22%3B"
                              "NB%3D%2218446744073709465216%22%3BNA%3D%222000000000%22%3B"
                              "SAN%3D%22a.test%2Ca%40b.c%2C10.0.0.1%22");
    /* pem: the body alone, one line; without a certificate both fields are gone */
    const char *pem = run("{\"pem\":true}", x, "X-Forwarded-Tls-Client-Cert", out, sizeof(out));
    assert_non_null(pem);
    assert_null(strchr(pem, '\n'));
    assert_null(strchr(pem, '-'));
    assert_true(strncmp(pem, "MII", 3) == 0);
    assert_null(run("{\"pem\":true,\"info\":{\"sans\":true}}", NULL, "X-Forwarded-Tls-Client-Cert",
                    out, sizeof(out)));
    assert_null(run("{\"pem\":true,\"info\":{\"sans\":true}}", NULL,
                    "X-Forwarded-Tls-Client-Cert-Info", out, sizeof(out)));
    X509_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
