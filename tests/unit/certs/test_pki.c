/* Unit tests for certs_pki: keys, CSRs, selfSigned and CA issuance (checked with the
 * OpenSSL API and the `openssl verify` command), PEM chains, inspection and the
 * cert-manager renewal-time math. */
#include "certs/certs_pki.h"
#include "core/hc_alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static const struct {
    certs_key_alg_t alg;
    int size;
    int bits;
} key_cases[] = {
    {CERTS_KEY_RSA, 0, 2048},     {CERTS_KEY_RSA, 3072, 3072}, {CERTS_KEY_ECDSA, 0, 256},
    {CERTS_KEY_ECDSA, 384, 384},  {CERTS_KEY_ED25519, 0, 253},
    {CERTS_KEY_RSA, 2304, 2304}, /* the model accepts 2048-8192, as cert-manager */
};

static EVP_PKEY *gen(certs_key_alg_t alg, int size)
{
    EVP_PKEY *k = NULL;
    char err[256];
    assert_int_equal(certs_pki_key_generate(alg, size, &k, err, sizeof(err)), 0);
    return k;
}

static void test_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
        EVP_PKEY *k = gen(key_cases[i].alg, key_cases[i].size);
        if (key_cases[i].alg != CERTS_KEY_ED25519)
            assert_int_equal(EVP_PKEY_get_bits(k), key_cases[i].bits);
        assert_true(certs_pki_key_fits(k, key_cases[i].alg, key_cases[i].size));
        for (int enc = 0; enc < 2; enc++) {
            char *pem = NULL;
            size_t len = 0;
            assert_int_equal(certs_pki_key_pem(k, (certs_key_encoding_t)enc, &pem, &len), 0);
            int pkcs8 = strstr(pem, "-----BEGIN PRIVATE KEY-----") != NULL;
            assert_int_equal(pkcs8, enc == CERTS_KEY_PKCS8 || key_cases[i].alg == CERTS_KEY_ED25519);
            EVP_PKEY *back = NULL;
            char err[256];
            assert_int_equal(certs_pki_key_load(pem, len, &back, err, sizeof(err)), 0);
            assert_int_equal(EVP_PKEY_eq(k, back), 1);
            EVP_PKEY_free(back);
            hc_free(pem);
        }
        EVP_PKEY_free(k);
    }
    EVP_PKEY *k = NULL;
    char err[256];
    assert_int_equal(certs_pki_key_generate(CERTS_KEY_RSA, 1024, &k, err, sizeof(err)), -EINVAL);
    assert_int_equal(certs_pki_key_generate(CERTS_KEY_ECDSA, 521, &k, err, sizeof(err)), -EINVAL);
    assert_int_equal(certs_pki_key_load("junk", 4, &k, err, sizeof(err)), -EINVAL);
    assert_int_equal(certs_pki_key_generate(CERTS_KEY_RSA, 8200, &k, err, sizeof(err)), -EINVAL);
    certs_key_alg_t alg;
    assert_int_equal(certs_pki_key_alg_parse("ecdsa", &alg), 0);
    assert_int_equal(alg, CERTS_KEY_ECDSA);
    assert_int_equal(certs_pki_key_alg_parse(NULL, &alg), 0);
    assert_int_equal(alg, CERTS_KEY_RSA);
    assert_int_equal(certs_pki_key_alg_parse("DSA", &alg), -EINVAL);
}

/* An encrypted key in a Secret is refused at once: no passphrase prompt on a terminal
 * (which would block the loop and every other certificate). */
static void test_encrypted_key_refused(void **state)
{
    (void)state;
    EVP_PKEY *k = gen(CERTS_KEY_ECDSA, 256), *back = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, k, EVP_aes_128_cbc(), (unsigned char *)"pw", 2,
                                              NULL, NULL), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char err[256] = "";
    assert_int_equal(certs_pki_key_load(data, (size_t)n, &back, err, sizeof(err)), -EINVAL);
    assert_null(back);
    assert_null(strstr(err, "problems getting password"));
    BIO_free(bio);
    EVP_PKEY_free(k);
}

static void test_usages(void **state)
{
    (void)state;
    uint32_t m = 0;
    assert_int_equal(certs_pki_usage_parse("server auth", &m), 0);
    assert_int_equal(certs_pki_usage_parse("Client Auth", &m), 0);
    assert_int_equal(m, CERTS_USAGE_SERVER_AUTH | CERTS_USAGE_CLIENT_AUTH);
    assert_int_equal(certs_pki_usage_parse("s/mime", &m), 0);
    assert_true(m & CERTS_USAGE_EMAIL_PROTECTION);
    assert_int_equal(certs_pki_usage_parse("serverauth", &m), -EINVAL);
}

static char *write_tmp(const char *data, size_t len)
{
    static int seq;
    char name[64];
    snprintf(name, sizeof(name), "/tmp/test_pki_%d_%d.pem", (int)getpid(), seq++);
    char *path = hc_strdup(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

/* Runs `openssl verify -CAfile ca leaf`; returns its exit status. */
static int openssl_verify(X509 *ca, X509 *leaf)
{
    char *ca_pem = NULL, *leaf_pem = NULL;
    size_t n1 = 0, n2 = 0;
    assert_int_equal(certs_pki_cert_pem(ca, &ca_pem, &n1), 0);
    assert_int_equal(certs_pki_cert_pem(leaf, &leaf_pem, &n2), 0);
    char *p1 = write_tmp(ca_pem, n1), *p2 = write_tmp(leaf_pem, n2);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "openssl verify -purpose sslserver -CAfile %s %s >/dev/null 2>&1", p1, p2);
    int rc = system(cmd);
    unlink(p1);
    unlink(p2);
    hc_free(p1);
    hc_free(p2);
    hc_free(ca_pem);
    hc_free(leaf_pem);
    return rc;
}

static X509 *issue(EVP_PKEY *key, const certs_names_t *nm, uint32_t usages, int is_ca,
                   X509 *ca, EVP_PKEY *ca_key)
{
    certs_issue_req_t r = {.key = key, .names = nm, .usages = usages, .is_ca = is_ca,
                           .duration_s = 3600, .ca_cert = ca, .ca_key = ca_key};
    X509 *x = NULL;
    char err[256] = "";
    int rc = certs_pki_issue(&r, &x, err, sizeof(err));
    if (rc)
        fprintf(stderr, "issue: %s\n", err);
    assert_int_equal(rc, 0);
    return x;
}

static void test_issue_chain(void **state)
{
    (void)state;
    static const char *const dns[] = {"app.example.test", "www.example.test"};
    static const char *const ips[] = {"127.0.0.1", "::1"};
    static const char *const uris[] = {"spiffe://example.test/app"};
    static const char *const emails[] = {"ops@example.test"};
    certs_names_t ca_nm = {.common_name = "hearth test CA"};
    certs_names_t leaf_nm = {.common_name = "app.example.test", .dns = dns, .n_dns = 2,
                             .ips = ips, .n_ips = 2, .uris = uris, .n_uris = 1,
                             .emails = emails, .n_emails = 1};
    static const uint32_t usage_cases[] = {0, CERTS_USAGE_DIGITAL_SIGNATURE |
                                                  CERTS_USAGE_SERVER_AUTH |
                                                  CERTS_USAGE_CLIENT_AUTH};
    for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
        for (size_t u = 0; u < 2; u++) {
            EVP_PKEY *ca_key = gen(key_cases[i].alg, key_cases[i].size);
            EVP_PKEY *leaf_key = gen(key_cases[(i + 1) % 5].alg, key_cases[(i + 1) % 5].size);
            X509 *ca = issue(ca_key, &ca_nm, 0, 1, NULL, NULL);
            X509 *leaf = issue(leaf_key, &leaf_nm, usage_cases[u], 0, ca, ca_key);
            /* OpenSSL API: signatures, CA flags, usages. */
            assert_int_equal(X509_verify(ca, ca_key), 1);
            assert_int_equal(X509_verify(leaf, ca_key), 1);
            assert_int_equal(X509_check_ca(ca), 1);
            assert_int_equal(X509_check_ca(leaf), 0);
            assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
            assert_true(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE);
            assert_int_equal((X509_get_key_usage(leaf) & KU_KEY_ENCIPHERMENT) != 0, u == 0);
            assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
            assert_int_equal((X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT) != 0, u == 1);
            assert_non_null(X509_get0_subject_key_id(leaf));
            assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
                                                   X509_get0_subject_key_id(ca)), 0);
            assert_int_equal(openssl_verify(ca, leaf), 0);
            /* inspection */
            certs_cert_info_t info;
            assert_int_equal(certs_pki_cert_inspect(leaf, &info), 0);
            assert_int_equal(info.not_after - info.not_before, 3600);
            assert_string_equal(info.common_name, "app.example.test");
            assert_int_equal(info.n_dns, 2);
            assert_int_equal(info.n_ips, 2);
            assert_string_equal(info.ips[1], "::1");
            assert_string_equal(info.uris[0], "spiffe://example.test/app");
            assert_string_equal(info.emails[0], "ops@example.test");
            assert_int_equal(info.is_ca, 0);
            assert_int_equal(strlen(info.serial_hex) >= 30, 1);
            assert_true(certs_pki_names_match(&info, &leaf_nm));
            certs_names_t fewer = leaf_nm;
            fewer.n_dns = 1;
            assert_false(certs_pki_names_match(&info, &fewer));
            certs_pki_cert_info_clear(&info);
            assert_int_equal(certs_pki_cert_inspect(ca, &info), 0);
            assert_int_equal(info.is_ca, 1);
            certs_pki_cert_info_clear(&info);
            assert_true(certs_pki_key_matches_cert(leaf_key, leaf));
            assert_false(certs_pki_key_matches_cert(ca_key, leaf));
            X509_free(leaf);
            X509_free(ca);
            EVP_PKEY_free(leaf_key);
            EVP_PKEY_free(ca_key);
        }
    }
}

static void test_chain_pem(void **state)
{
    (void)state;
    EVP_PKEY *k = gen(CERTS_KEY_ECDSA, 0);
    certs_names_t root_nm = {.common_name = "root"}, int_nm = {.common_name = "intermediate"};
    static const char *const dns[] = {"a.test"};
    certs_names_t leaf_nm = {.dns = dns, .n_dns = 1};
    X509 *root = issue(k, &root_nm, 0, 1, NULL, NULL);
    X509 *inter = issue(k, &int_nm, 0, 1, root, k);
    X509 *leaf = issue(k, &leaf_nm, 0, 0, inter, k);
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, inter);
    sk_X509_push(chain, root);
    char *pem = NULL;
    size_t len = 0;
    assert_int_equal(certs_pki_chain_pem(leaf, chain, &pem, &len), 0);
    STACK_OF(X509) *back = NULL;
    char err[256];
    /* leaf + intermediate, the root left out; other PEM blocks in between are skipped */
    size_t n = len + 200;
    char *mixed = hc_malloc(n);
    snprintf(mixed, n, "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n%s", pem);
    assert_int_equal(certs_pki_chain_parse(mixed, strlen(mixed), &back, err, sizeof(err)), 0);
    assert_int_equal(sk_X509_num(back), 2);
    assert_int_equal(X509_cmp(sk_X509_value(back, 0), leaf), 0);
    assert_int_equal(X509_cmp(sk_X509_value(back, 1), inter), 0);
    sk_X509_pop_free(back, X509_free);
    /* partial input: the chain cut in the middle of the second block */
    assert_int_equal(certs_pki_chain_parse(pem, len - 40, &back, err, sizeof(err)), -EINVAL);
    assert_int_equal(certs_pki_chain_parse("nothing", 7, &back, err, sizeof(err)), -EINVAL);
    certs_cert_info_t info;
    assert_int_equal(certs_pki_cert_inspect(leaf, &info), 0);
    assert_null(info.common_name);
    assert_true(certs_pki_names_match(&info, &leaf_nm));
    certs_pki_cert_info_clear(&info);
    hc_free(mixed);
    hc_free(pem);
    sk_X509_free(chain);
    X509_free(leaf);
    X509_free(inter);
    X509_free(root);
    EVP_PKEY_free(k);
}

static void test_csr(void **state)
{
    (void)state;
    EVP_PKEY *k = gen(CERTS_KEY_ECDSA, 0);
    static const char *const dns[] = {"a.test", "b.test"};
    certs_names_t nm = {.dns = dns, .n_dns = 2};
    unsigned char *der = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(certs_pki_csr_create(k, &nm, 0, 0, &der, &len, err, sizeof(err)), 0);
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    assert_non_null(req);
    assert_int_equal(X509_REQ_verify(req, k), 1);
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    int idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
    assert_true(idx >= 0);
    GENERAL_NAMES *gens = X509V3_EXT_d2i(X509v3_get_ext(exts, idx));
    assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    hc_free(der);
    certs_names_t empty = {0};
    assert_int_equal(certs_pki_csr_create(k, &empty, 0, 0, &der, &len, err, sizeof(err)), -EINVAL);
    static const char *const bad_ip[] = {"300.1.1.1"};
    certs_names_t bad = {.ips = bad_ip, .n_ips = 1};
    assert_int_equal(certs_pki_csr_create(k, &bad, 0, 0, &der, &len, err, sizeof(err)), -EINVAL);
    EVP_PKEY_free(k);
}

static void test_renewal(void **state)
{
    (void)state;
    const int64_t nb = 1700000000;
    static const struct {
        int64_t life, renew_before;
        int pct;
        int64_t want_before_after; /* not_after - renewal time */
    } cases[] = {
        {90 * 86400, 0, 0, 30 * 86400},           /* 90 days: 2/3 in, 30 days before */
        {45 * 86400, 0, 0, 15 * 86400},           /* Let's Encrypt tlsserver 45 days */
        {6 * 86400, 0, 0, 2 * 86400},             /* 6-day short-lived certificates */
        {3600, 0, 0, 1200},                       /* pebble certificateValidityPeriod 3600 */
        {10, 0, 0, 4},                            /* 3.33 s, truncated down to the second */
        {90 * 86400, 10 * 86400, 0, 10 * 86400},  /* renewBefore smaller than the lifetime */
        {45 * 86400, 60 * 86400, 0, 15 * 86400},  /* renewBefore >= lifetime: ignored */
        {45 * 86400, 0, 50, 22 * 86400 + 43200},  /* renewBeforePercentage 50 */
        {45 * 86400, 0, 100, 15 * 86400},         /* 100 %: invalid, default */
        {45 * 86400, 5 * 86400, 50, 5 * 86400},   /* renewBefore wins over the percentage */
        {157766400, 0, 99, 156188736},            /* 5 years * 99 %: no overflow */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t na = nb + cases[i].life;
        int64_t t = certs_pki_renewal_time(nb, na, cases[i].renew_before, cases[i].pct);
        assert_int_equal(na - t, cases[i].want_before_after);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),       cmocka_unit_test(test_usages),
        cmocka_unit_test(test_encrypted_key_refused),
        cmocka_unit_test(test_issue_chain), cmocka_unit_test(test_chain_pem),
        cmocka_unit_test(test_csr),        cmocka_unit_test(test_renewal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
