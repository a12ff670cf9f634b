/* hc_tls: a server and a client connection wired to each other in memory. Handshake,
 * SNI choice, certificate rotation, verification failures, versions, cipher names,
 * ALPN and PEM errors. Certificates are generated here with OpenSSL (no files). */
#include "core/hc_alloc.h"
#include "core/hc_tls.h"
#include "tls_testcert.h"

#include <errno.h>
#include <string.h>

typedef struct pki {
    tc_pem_t ca, exact, wild, other;
    tc_pem_t store_default; /* names one host the wildcard covers too */
    tc_pem_t other_ca; /* a CA the client does not trust, and a leaf it signed */
    tc_pem_t stranger;
} pki_t;

static pki_t P;

static int pki_setup(void **state)
{
    tc_make_ca(&P.ca, "hearth test CA");
    tc_make_leaf(&P.exact, &P.ca, "exact.test", "DNS:exact.test,IP:127.0.0.1");
    tc_make_leaf(&P.wild, &P.ca, "wild", "DNS:*.wild.test");
    tc_make_leaf(&P.other, &P.ca, "default.test", "DNS:default.test");
    tc_make_leaf(&P.store_default, &P.ca, "store", "DNS:store.test,DNS:a.wild.test");
    tc_make_ca(&P.other_ca, "someone else");
    tc_make_leaf(&P.stranger, &P.other_ca, "exact.test", "DNS:exact.test");
    return 0;
}

static int pki_teardown(void **state)
{
    tc_pem_t *all[] = {&P.ca,       &P.exact,    &P.wild,         &P.other,
                       &P.other_ca, &P.stranger, &P.store_default};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tc_pem_free(all[i]);
    return 0;
}

/* p chosen by its names, and also the default when is_default */
static void set_add(hc_tls_certs_t *s, const tc_pem_t *p, int is_default)
{
    char err[256] = "";
    int roles = HC_TLS_CERT_BY_NAME | (is_default ? HC_TLS_CERT_DEFAULT : 0);
    assert_int_equal(hc_tls_certs_add_pem(s, p->cert, strlen(p->cert), p->key, strlen(p->key),
                                          roles, err, sizeof(err)),
                     0);
}

/* The usual server: exact.test, *.wild.test, default.test (default). */
static hc_tls_ctx_t *server_std(const hc_tls_server_opts_t *opts)
{
    char err[256] = "";
    hc_tls_ctx_t *s = hc_tls_server_new(opts, err, sizeof(err));
    assert_non_null(s);
    hc_tls_certs_t *set = hc_tls_certs_new();
    set_add(set, &P.exact, 0);
    set_add(set, &P.wild, 0);
    set_add(set, &P.other, 1);
    assert_int_equal(hc_tls_certs_count(set), 3);
    hc_tls_ctx_set_certs(s, set);
    return s;
}

static hc_tls_ctx_t *client_trusting(const tc_pem_t *ca)
{
    char err[256] = "";
    hc_tls_ctx_t *c = hc_tls_client_new(NULL, 1, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(hc_tls_client_add_ca_pem(c, ca->cert, strlen(ca->cert), err, sizeof(err)), 0);
    return c;
}

/* Moves pending ciphertext from one side to the other. */
static void move(hc_tls_conn_t *from, hc_tls_conn_t *to)
{
    const char *p;
    size_t n = hc_tls_conn_pending(from, &p);
    if (n) {
        assert_int_equal(hc_tls_conn_feed(to, p, n), 0);
        hc_tls_conn_consume(from, n);
    }
}

/* Runs the handshake to its end; returns 1 when both sides are established, or the
 * client's (first) and server's results otherwise. */
static int pump(hc_tls_conn_t *cl, hc_tls_conn_t *sv, int *crc, int *src)
{
    *crc = *src = 0;
    for (int i = 0; i < 20; i++) {
        *crc = hc_tls_conn_handshake(cl);
        move(cl, sv);
        *src = hc_tls_conn_handshake(sv);
        move(sv, cl);
        if ((*crc == 1 && *src == 1) || *crc < 0 || *src < 0)
            break;
    }
    if (*crc >= 0)
        *crc = hc_tls_conn_handshake(cl); /* sees the server's final flight or alert */
    return *crc == 1 && *src == 1;
}

/* Sends text from a to b and checks it arrives unchanged. */
static void exchange(hc_tls_conn_t *a, hc_tls_conn_t *b, const char *text)
{
    char buf[256];
    size_t got = 0;
    assert_int_equal(hc_tls_conn_write(a, text, strlen(text)), (int)strlen(text));
    move(a, b);
    for (int i = 0; i < 10 && got < strlen(text); i++) {
        int n = hc_tls_conn_read(b, buf + got, sizeof(buf) - got);
        assert_true(n >= 0);
        got += (size_t)n;
        move(b, a); /* TLS 1.3 tickets and the like */
        if (n == 0)
            break;
    }
    assert_int_equal(got, strlen(text));
    assert_memory_equal(buf, text, got);
}

typedef struct pair {
    hc_tls_conn_t *cl, *sv;
    int crc, src;
} pair_t;

static int connect_pair(pair_t *p, hc_tls_ctx_t *cctx, hc_tls_ctx_t *sctx, const char *sni,
                        const char *alpn)
{
    p->cl = hc_tls_conn_client(cctx, sni, alpn);
    p->sv = hc_tls_conn_server(sctx);
    assert_non_null(p->cl);
    return pump(p->cl, p->sv, &p->crc, &p->src);
}

static void pair_free(pair_t *p)
{
    hc_tls_conn_free(p->cl);
    hc_tls_conn_free(p->sv);
}

static void test_handshake_and_data(void **state)
{
    hc_tls_ctx_t *s = server_std(NULL), *c = client_trusting(&P.ca);
    pair_t p;
    assert_true(connect_pair(&p, c, s, "exact.test", NULL));
    assert_string_equal(hc_tls_conn_version(p.cl), "TLSv1.3");
    assert_string_equal(hc_tls_conn_sni(p.sv), "exact.test");
    assert_non_null(hc_tls_conn_cipher(p.sv));
    assert_null(hc_tls_conn_alpn(p.sv));
    assert_null(hc_tls_conn_error(p.cl));
    exchange(p.cl, p.sv, "GET / HTTP/1.1\r\n\r\n");
    exchange(p.sv, p.cl, "HTTP/1.1 204 No Content\r\n\r\n");
    /* close_notify reaches the peer as -EPIPE */
    hc_tls_conn_shutdown(p.cl);
    move(p.cl, p.sv);
    char buf[16];
    assert_int_equal(hc_tls_conn_read(p.sv, buf, sizeof(buf)), -EPIPE);
    pair_free(&p);
    hc_tls_ctx_unref(c);
    hc_tls_ctx_unref(s);
}

static void test_sni_picks_certificate(void **state)
{
    static const struct {
        const char *sni;
        const char *expect_cn;
    } cases[] = {
        {"exact.test", "exact.test"},   {"EXACT.test", "exact.test"},
        {"a.wild.test", "wild"},        {"b.WILD.test.", "wild"},
        {"a.b.wild.test", "default.test"}, /* a wildcard covers one label only */
        {"wild.test", "default.test"},  {"unknown.test", "default.test"},
        {NULL, "default.test"},
    };
    hc_tls_ctx_t *s = server_std(NULL);
    hc_tls_ctx_t *c = hc_tls_client_new(NULL, 0, NULL, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pair_t p;
        assert_true(connect_pair(&p, c, s, cases[i].sni, NULL));
        char cn[64];
        tc_peer_cn(p.cl, cn, sizeof(cn));
        assert_string_equal(cn, cases[i].expect_cn);
        pair_free(&p);
    }
    hc_tls_ctx_unref(c);
    hc_tls_ctx_unref(s);
}

static void test_rotation_keeps_live_connections(void **state)
{
    hc_tls_ctx_t *s = server_std(NULL), *c = hc_tls_client_new(NULL, 0, NULL, 0);
    pair_t old;
    assert_true(connect_pair(&old, c, s, "exact.test", NULL));
    hc_tls_certs_t *next = hc_tls_certs_new();
    set_add(next, &P.other, 0); /* the only certificate: serves every name */
    hc_tls_ctx_set_certs(s, next);
    pair_t fresh;
    assert_true(connect_pair(&fresh, c, s, "exact.test", NULL));
    char cn[64];
    tc_peer_cn(fresh.cl, cn, sizeof(cn));
    assert_string_equal(cn, "default.test");
    tc_peer_cn(old.cl, cn, sizeof(cn));
    assert_string_equal(cn, "exact.test");
    exchange(old.cl, old.sv, "still here");
    exchange(old.sv, old.cl, "and answering");
    pair_free(&fresh);
    hc_tls_ctx_unref(s); /* the connections still hold the context */
    exchange(old.cl, old.sv, "after unref");
    pair_free(&old);
    hc_tls_ctx_unref(c);
}

static void test_verification_failures(void **state)
{
    hc_tls_ctx_t *c = client_trusting(&P.ca);
    hc_tls_ctx_t *s = server_std(NULL);
    pair_t p;
    /* wrong host name: the default certificate is for default.test */
    assert_false(connect_pair(&p, c, s, "nothere.test", NULL));
    assert_int_equal(p.crc, HC_TLS_EPROTO);
    assert_true(hc_tls_conn_verify_failed(p.cl));
    assert_non_null(strstr(hc_tls_conn_error(p.cl), "certificate verify failed"));
    /* the alert reaches the server, which fails too */
    move(p.cl, p.sv);
    char buf[8];
    assert_int_equal(hc_tls_conn_read(p.sv, buf, sizeof(buf)), HC_TLS_EPROTO);
    assert_false(hc_tls_conn_verify_failed(p.sv));
    pair_free(&p);
    hc_tls_ctx_unref(s);
    /* IP literal: matched against the IP SAN, not sent as SNI */
    s = hc_tls_server_new(NULL, NULL, 0);
    hc_tls_certs_t *set = hc_tls_certs_new();
    set_add(set, &P.exact, 1);
    hc_tls_ctx_set_certs(s, set);
    assert_true(connect_pair(&p, c, s, "127.0.0.1", NULL));
    assert_null(hc_tls_conn_sni(p.sv));
    pair_free(&p);
    assert_false(connect_pair(&p, c, s, "127.0.0.2", NULL));
    assert_true(hc_tls_conn_verify_failed(p.cl));
    pair_free(&p);
    hc_tls_ctx_unref(s);
    /* unknown CA */
    s = hc_tls_server_new(NULL, NULL, 0);
    set = hc_tls_certs_new();
    set_add(set, &P.stranger, 1);
    hc_tls_ctx_set_certs(s, set);
    assert_false(connect_pair(&p, c, s, "exact.test", NULL));
    assert_true(hc_tls_conn_verify_failed(p.cl));
    pair_free(&p);
    /* a client that does not verify accepts it */
    hc_tls_ctx_t *lax = hc_tls_client_new(NULL, 0, NULL, 0);
    assert_true(connect_pair(&p, lax, s, "exact.test", NULL));
    pair_free(&p);
    hc_tls_ctx_unref(lax);
    hc_tls_ctx_unref(s);
    hc_tls_ctx_unref(c);
}

static void test_min_version_enforced(void **state)
{
    hc_tls_server_opts_t o13 = {.min_version = "VersionTLS13"};
    hc_tls_ctx_t *s = server_std(&o13);
    hc_tls_ctx_t *c12 = hc_tls_client_new(NULL, 0, NULL, 0);
    tc_client_max_tls12(c12);
    pair_t p;
    assert_false(connect_pair(&p, c12, s, "exact.test", NULL));
    assert_true(p.src == HC_TLS_EPROTO);
    pair_free(&p);
    hc_tls_ctx_unref(s);
    /* TLS1.2 minimum: a TLS 1.2-only client gets in */
    hc_tls_server_opts_t o12 = {.min_version = "TLS1.2"};
    s = server_std(&o12);
    assert_true(connect_pair(&p, c12, s, "exact.test", NULL));
    assert_string_equal(hc_tls_conn_version(p.sv), "TLSv1.2");
    pair_free(&p);
    hc_tls_ctx_unref(s);
    hc_tls_ctx_unref(c12);
}

/* New options reach new handshakes only; ALPN and certificates stay; a bad option
 * leaves the context as it was. */
static void test_options_replaced_at_run_time(void **state)
{
    static const char *const protos[] = {"http/1.1", NULL};
    hc_tls_server_opts_t o = {.alpn = protos};
    hc_tls_ctx_t *s = server_std(&o), *c12 = hc_tls_client_new(NULL, 0, NULL, 0);
    tc_client_max_tls12(c12);
    pair_t old, p;
    assert_true(connect_pair(&old, c12, s, "exact.test", "http/1.1"));
    hc_tls_server_opts_t o13 = {.min_version = "VersionTLS13"};
    assert_int_equal(hc_tls_ctx_set_options(s, &o13, NULL, 0), 0);
    assert_false(connect_pair(&p, c12, s, "exact.test", NULL));
    assert_int_equal(p.src, HC_TLS_EPROTO);
    pair_free(&p);
    exchange(old.cl, old.sv, "the old connection lives on");
    char err[256] = "";
    hc_tls_server_opts_t bad = {.min_version = "TLS1.4"};
    assert_int_equal(hc_tls_ctx_set_options(s, &bad, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "TLS1.4"));
    hc_tls_ctx_t *c13 = hc_tls_client_new(NULL, 0, NULL, 0);
    assert_true(connect_pair(&p, c13, s, "exact.test", "http/1.1"));
    assert_string_equal(hc_tls_conn_version(p.sv), "TLSv1.3");
    assert_string_equal(hc_tls_conn_alpn(p.sv), "http/1.1");
    char cn[64];
    tc_peer_cn(p.cl, cn, sizeof(cn));
    assert_string_equal(cn, "exact.test");
    pair_free(&p);
    assert_int_equal(hc_tls_ctx_set_options(s, NULL, NULL, 0), 0); /* defaults: TLS 1.2 */
    assert_true(connect_pair(&p, c12, s, "exact.test", NULL));
    assert_string_equal(hc_tls_conn_version(p.sv), "TLSv1.2");
    pair_free(&p);
    pair_free(&old);
    hc_tls_ctx_unref(c13);
    hc_tls_ctx_unref(c12);
    hc_tls_ctx_unref(s);
}

static void test_option_names(void **state)
{
    static const struct {
        const char *version, *suites, *err_part;
    } cases[] = {
        {"TLS1.3", NULL, NULL},
        {"VersionTLS12", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", NULL},
        {NULL, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", NULL},
        {NULL, "TLS_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", NULL},
        {"VersionTLS11", NULL, NULL}, /* Traefik takes it; OpenSSL's level decides */
        {"VersionTLS10",
         "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_RC4_128_SHA,"
         "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,TLS_FALLBACK_SCSV",
         NULL},
        {"TLS1.4", NULL, "TLS1.4"},
        {"tls12", NULL, "tls12"},
        {NULL, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_MADE_UP_SUITE", "TLS_MADE_UP_SUITE"},
        {NULL, "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        hc_tls_server_opts_t o = {.min_version = cases[i].version,
                                  .cipher_suites = cases[i].suites};
        hc_tls_ctx_t *s = hc_tls_server_new(&o, err, sizeof(err));
        if (!cases[i].err_part) {
            assert_non_null(s);
            hc_tls_ctx_unref(s);
        } else {
            assert_null(s);
            assert_non_null(strstr(err, cases[i].err_part));
        }
    }
}

static void test_cipher_suite_is_used(void **state)
{
    hc_tls_server_opts_t o = {.min_version = "TLS1.2",
                              .cipher_suites = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"};
    hc_tls_ctx_t *s = server_std(&o), *c12 = hc_tls_client_new(NULL, 0, NULL, 0);
    tc_client_max_tls12(c12);
    pair_t p;
    assert_true(connect_pair(&p, c12, s, "exact.test", NULL));
    assert_string_equal(hc_tls_conn_cipher(p.sv), "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
    pair_free(&p);
    hc_tls_ctx_unref(c12);
    hc_tls_ctx_unref(s);
}

static void test_alpn(void **state)
{
    static const char *const protos[] = {"h2", "http/1.1", NULL};
    hc_tls_server_opts_t o = {.alpn = protos};
    hc_tls_ctx_t *s = server_std(&o), *c = hc_tls_client_new(NULL, 0, NULL, 0);
    pair_t p;
    assert_true(connect_pair(&p, c, s, "exact.test", "http/1.1,h2"));
    assert_string_equal(hc_tls_conn_alpn(p.sv), "h2"); /* the server's preference */
    assert_string_equal(hc_tls_conn_alpn(p.cl), "h2");
    pair_free(&p);
    assert_true(connect_pair(&p, c, s, "exact.test", "http/1.1"));
    assert_string_equal(hc_tls_conn_alpn(p.cl), "http/1.1");
    pair_free(&p);
    assert_true(connect_pair(&p, c, s, "exact.test", NULL));
    assert_null(hc_tls_conn_alpn(p.cl));
    pair_free(&p);
    assert_false(connect_pair(&p, c, s, "exact.test", "spdy/3"));
    pair_free(&p);
    assert_null(hc_tls_conn_client(c, "exact.test", "h2,,x"));
    hc_tls_ctx_unref(c);
    hc_tls_ctx_unref(s);
}

static void test_bad_pem(void **state)
{
    static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64 !!\n"
                               "-----END CERTIFICATE-----\n";
    const struct {
        const char *cert, *key, *err_part;
    } cases[] = {
        {"", P.exact.key, "certificate"},
        {junk, P.exact.key, "certificate"},
        {P.exact.cert, "", "private key"},
        {P.exact.cert, P.wild.key, "does not match"},
    };
    hc_tls_certs_t *set = hc_tls_certs_new();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        assert_int_equal(hc_tls_certs_add_pem(set, cases[i].cert, strlen(cases[i].cert),
                                              cases[i].key, strlen(cases[i].key),
                                              HC_TLS_CERT_BY_NAME, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, cases[i].err_part));
    }
    assert_int_equal(hc_tls_certs_count(set), 0);
    hc_tls_certs_free(set);
    char err[128];
    hc_tls_ctx_t *c = hc_tls_client_new(NULL, 1, NULL, 0);
    assert_int_equal(hc_tls_client_add_ca_pem(c, junk, strlen(junk), err, sizeof(err)), -EINVAL);
    hc_tls_ctx_unref(c);
    assert_null(hc_tls_client_new("/nonexistent/ca.pem", 1, err, sizeof(err)));
    assert_non_null(strstr(err, "CA bundle"));
}

static void test_self_signed_and_empty(void **state)
{
    hc_tls_ctx_t *s = hc_tls_server_new(NULL, NULL, 0), *c = hc_tls_client_new(NULL, 0, NULL, 0);
    pair_t p;
    assert_false(connect_pair(&p, c, s, "x.test", NULL)); /* no certificates yet */
    assert_int_equal(p.src, HC_TLS_EPROTO);
    pair_free(&p);
    hc_tls_certs_t *set = hc_tls_certs_new();
    assert_int_equal(hc_tls_certs_add_self_signed(set, "hearth.local", HC_TLS_CERT_DEFAULT), 0);
    assert_int_equal(hc_tls_certs_add_self_signed(set, "", HC_TLS_CERT_DEFAULT), -EINVAL);
    assert_int_equal(hc_tls_certs_add_self_signed(set, "x.test", 0), -EINVAL);
    hc_tls_ctx_set_certs(s, set);
    assert_true(connect_pair(&p, c, s, "x.test", NULL));
    char cn[64];
    tc_peer_cn(p.cl, cn, sizeof(cn));
    assert_string_equal(cn, "hearth.local");
    assert_string_equal(tc_peer_key_type(p.cl), "EC");
    pair_free(&p);
    hc_tls_ctx_unref(c);
    hc_tls_ctx_unref(s);
}

static void test_feed_is_bounded(void **state)
{
    hc_tls_ctx_t *s = server_std(NULL);
    hc_tls_conn_t *sv = hc_tls_conn_server(s);
    static char big[HC_TLS_FEED_MAX / 2 + 1];
    assert_int_equal(hc_tls_conn_feed(sv, big, sizeof(big)), 0);
    assert_int_equal(hc_tls_conn_feed(sv, big, sizeof(big)), -ENOBUFS);
    hc_tls_conn_free(sv);
    hc_tls_ctx_unref(s);
}

/* A client context presenting leaf as its certificate (trusting nobody). */
static hc_tls_ctx_t *client_with_cert(const tc_pem_t *leaf)
{
    hc_tls_ctx_t *c = hc_tls_client_new(NULL, 0, NULL, 0);
    SSL_CTX *ssl = hc_tls_ctx_openssl(c);
    assert_int_equal(SSL_CTX_use_certificate(ssl, leaf->x509), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ssl, leaf->pkey), 1);
    return c;
}

/* TLSOption clientAuth: the verifying kinds need a certificate from the CAs; the
 * unverified kinds take any; options per SNI host apply to that host alone. */
static void test_client_certificates(void **state)
{
    tc_pem_t good, bad;
    tc_make_leaf(&good, &P.ca, "alice", "DNS:alice.test");
    tc_make_leaf(&bad, &P.other_ca, "mallory", "DNS:mallory.test");
    hc_tls_ctx_t *none = hc_tls_client_new(NULL, 0, NULL, 0), *cg = client_with_cert(&good),
                 *cb = client_with_cert(&bad);
    pair_t p;
    hc_tls_server_opts_t req = {.client_auth = HC_TLS_CLIENT_REQUIRE_VERIFY,
                                .client_ca_pem = P.ca.cert,
                                .client_ca_len = strlen(P.ca.cert)};
    hc_tls_ctx_t *s = server_std(&req);
    assert_false(connect_pair(&p, none, s, "exact.test", NULL)); /* no certificate */
    pair_free(&p);
    assert_false(connect_pair(&p, cb, s, "exact.test", NULL)); /* another CA's */
    pair_free(&p);
    assert_true(connect_pair(&p, cg, s, "exact.test", NULL));
    char cn[64];
    tc_peer_cn(p.sv, cn, sizeof(cn));
    assert_string_equal(cn, "alice");
    exchange(p.cl, p.sv, "mutual");
    pair_free(&p);
    hc_tls_ctx_unref(s);

    hc_tls_server_opts_t given = req;
    given.client_auth = HC_TLS_CLIENT_VERIFY_IF_GIVEN;
    s = server_std(&given);
    assert_true(connect_pair(&p, none, s, "exact.test", NULL));
    pair_free(&p);
    assert_false(connect_pair(&p, cb, s, "exact.test", NULL));
    pair_free(&p);
    hc_tls_ctx_unref(s);

    hc_tls_server_opts_t any = {.client_auth = HC_TLS_CLIENT_REQUIRE_ANY};
    s = server_std(&any);
    assert_false(connect_pair(&p, none, s, "exact.test", NULL));
    pair_free(&p);
    assert_true(connect_pair(&p, cb, s, "exact.test", NULL)); /* taken unverified */
    pair_free(&p);
    hc_tls_ctx_unref(s);

    /* only exact.test asks: the default options elsewhere */
    hc_tls_host_opts_t host = {.host = "EXACT.test", .opts = &req};
    hc_tls_server_opts_t per = {.hosts = &host, .nhosts = 1};
    s = server_std(&per);
    assert_false(connect_pair(&p, none, s, "exact.test", NULL));
    pair_free(&p);
    assert_true(connect_pair(&p, cg, s, "exact.test", NULL));
    pair_free(&p);
    assert_true(connect_pair(&p, none, s, "a.wild.test", NULL));
    pair_free(&p);
    hc_tls_ctx_unref(s);

    char err[256] = "";
    hc_tls_server_opts_t no_ca = {.client_auth = HC_TLS_CLIENT_REQUIRE_VERIFY};
    assert_null(hc_tls_server_new(&no_ca, err, sizeof(err)));
    assert_non_null(strstr(err, "CA"));
    hc_tls_client_auth_t a;
    assert_int_equal(hc_tls_client_auth_parse("RequireAndVerifyClientCert", &a), 0);
    assert_int_equal(a, HC_TLS_CLIENT_REQUIRE_VERIFY);
    assert_int_equal(hc_tls_client_auth_parse("Sometimes", &a), -EINVAL);
    hc_tls_ctx_unref(none);
    hc_tls_ctx_unref(cg);
    hc_tls_ctx_unref(cb);
    tc_pem_free(&good);
    tc_pem_free(&bad);
}

/* sniStrict, maxVersion and curvePreferences. */
static void test_strict_sni_max_version_curves(void **state)
{
    hc_tls_ctx_t *c = hc_tls_client_new(NULL, 0, NULL, 0);
    pair_t p;
    hc_tls_server_opts_t strict = {.sni_strict = 1};
    hc_tls_ctx_t *s = server_std(&strict);
    assert_true(connect_pair(&p, c, s, "x.wild.test", NULL));
    pair_free(&p);
    assert_false(connect_pair(&p, c, s, "unknown.test", NULL)); /* no default certificate */
    pair_free(&p);
    assert_false(connect_pair(&p, c, s, NULL, NULL));
    pair_free(&p);
    hc_tls_ctx_unref(s);

    hc_tls_server_opts_t max12 = {.max_version = "VersionTLS12", .curves = "CurveP384"};
    s = server_std(&max12);
    assert_true(connect_pair(&p, c, s, "exact.test", NULL));
    assert_string_equal(hc_tls_conn_version(p.sv), "TLSv1.2");
    assert_int_equal(SSL_get_negotiated_group(hc_tls_conn_openssl(p.sv)), NID_secp384r1);
    pair_free(&p);
    hc_tls_ctx_unref(s);

    char err[256] = "";
    hc_tls_server_opts_t bad = {.curves = "CurveP999"};
    assert_null(hc_tls_server_new(&bad, err, sizeof(err)));
    assert_non_null(strstr(err, "CurveP999"));
    hc_tls_server_opts_t inverted = {.min_version = "TLS1.3", .max_version = "TLS1.2"};
    assert_null(hc_tls_server_new(&inverted, err, sizeof(err)));
    hc_tls_ctx_unref(c);
}

/* A default-only certificate (Traefik's TLSStore defaultCertificate) is never chosen by
 * its names: a wildcard covering one of them wins, and sniStrict refuses the others. */
static void test_default_only_certificate(void **state)
{
    hc_tls_server_opts_t strict = {.sni_strict = 1};
    hc_tls_ctx_t *c = hc_tls_client_new(NULL, 0, NULL, 0);
    for (int is_strict = 0; is_strict < 2; is_strict++) {
        hc_tls_ctx_t *s = hc_tls_server_new(is_strict ? &strict : NULL, NULL, 0);
        hc_tls_certs_t *set = hc_tls_certs_new();
        set_add(set, &P.wild, 0);
        char err[256] = "";
        const tc_pem_t *d = &P.store_default;
        assert_int_equal(hc_tls_certs_add_pem(set, d->cert, strlen(d->cert), d->key, strlen(d->key),
                                              HC_TLS_CERT_DEFAULT, err, sizeof(err)),
                         0);
        hc_tls_ctx_set_certs(s, set);
        pair_t p;
        char cn[64];
        assert_true(connect_pair(&p, c, s, "a.wild.test", NULL));
        tc_peer_cn(p.cl, cn, sizeof(cn));
        assert_string_equal(cn, "wild");
        pair_free(&p);
        /* store.test: served as the default when not strict, refused when strict */
        assert_int_equal(connect_pair(&p, c, s, "store.test", NULL), !is_strict);
        if (!is_strict) {
            tc_peer_cn(p.cl, cn, sizeof(cn));
            assert_string_equal(cn, "store");
        }
        pair_free(&p);
        hc_tls_ctx_unref(s);
    }
    hc_tls_ctx_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_data),
        cmocka_unit_test(test_sni_picks_certificate),
        cmocka_unit_test(test_rotation_keeps_live_connections),
        cmocka_unit_test(test_verification_failures),
        cmocka_unit_test(test_min_version_enforced),
        cmocka_unit_test(test_options_replaced_at_run_time),
        cmocka_unit_test(test_option_names),
        cmocka_unit_test(test_cipher_suite_is_used),
        cmocka_unit_test(test_alpn),
        cmocka_unit_test(test_bad_pem),
        cmocka_unit_test(test_self_signed_and_empty),
        cmocka_unit_test(test_feed_is_bounded),
        cmocka_unit_test(test_client_certificates),
        cmocka_unit_test(test_strict_sni_max_version_curves),
        cmocka_unit_test(test_default_only_certificate),
    };
    return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
