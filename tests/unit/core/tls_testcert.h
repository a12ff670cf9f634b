/* Test certificates made at run time with OpenSSL (nothing committed): a CA, leaves
 * it signs, and peeks at a connection's peer certificate. Shared by test_tls.c and
 * test_http_client.c; plain libc memory, freed with tc_pem_free. */
#ifndef TLS_TESTCERT_H
#define TLS_TESTCERT_H

#include "core/hc_tls_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

typedef struct tc_pem {
    char *cert; /* PEM, NUL-terminated */
    char *key;
    X509 *x509; /* for signing leaves (CAs) */
    EVP_PKEY *pkey;
} tc_pem_t;

static inline char *tc_bio_text(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static inline void tc_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!e || !X509_add_ext(x, e, -1))
        abort();
    X509_EXTENSION_free(e);
}

/* A certificate for cn signed by ca (self-signed when ca is NULL); sans like
 * "DNS:a.test,IP:127.0.0.1". Leaves get EC P-256 keys, CAs too. */
static inline void tc_make(tc_pem_t *out, const tc_pem_t *ca, const char *cn, const char *sans)
{
    static long serial = 1000;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(ca ? ca->x509 : x));
    if (ca) {
        tc_ext(x, ca->x509, NID_basic_constraints, "critical,CA:FALSE");
        if (sans)
            tc_ext(x, ca->x509, NID_subject_alt_name, sans);
    } else {
        tc_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
        tc_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (!X509_sign(x, ca ? ca->pkey : key, EVP_sha256()))
        abort();
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cb, x);
    PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL);
    out->cert = tc_bio_text(cb);
    out->key = tc_bio_text(kb);
    out->x509 = x;
    out->pkey = key;
}

static inline void tc_make_ca(tc_pem_t *out, const char *cn)
{
    tc_make(out, NULL, cn, NULL);
}

static inline void tc_make_leaf(tc_pem_t *out, const tc_pem_t *ca, const char *cn,
                                const char *sans)
{
    tc_make(out, ca, cn, sans);
}

static inline void tc_pem_free(tc_pem_t *p)
{
    free(p->cert);
    free(p->key);
    X509_free(p->x509);
    EVP_PKEY_free(p->pkey);
    memset(p, 0, sizeof(*p));
}

/* The CN of the certificate the peer presented, "" when none. */
static inline void tc_peer_cn(hc_tls_conn_t *c, char *buf, size_t len)
{
    X509 *x = SSL_get0_peer_certificate(hc_tls_conn_openssl(c));
    buf[0] = '\0';
    if (x)
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)len);
}

/* "EC", "RSA", ... for the peer certificate's key. */
static inline const char *tc_peer_key_type(hc_tls_conn_t *c)
{
    X509 *x = SSL_get0_peer_certificate(hc_tls_conn_openssl(c));
    EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;
    return k ? EVP_PKEY_get0_type_name(k) : "";
}

/* Caps a client context at TLS 1.2 (to test servers' minimum versions and suites). */
static inline void tc_client_max_tls12(hc_tls_ctx_t *ctx)
{
    SSL_CTX_set_max_proto_version(hc_tls_ctx_openssl(ctx), TLS1_2_VERSION);
}

#endif
