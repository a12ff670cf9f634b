/* Certificate sets for TLS servers (see hc_tls.h): PEM loading, generated self-signed
 * certificates and the SNI choice (exact name, one-label wildcard, default). A set is
 * reference counted and not changed once installed, so a rotation never disturbs a
 * handshake that already picked from the old set. */
#include "core/hc_alloc.h"
#include "core/hc_err.h"
#include "core/hc_tls_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* RFC 1035 §2.3.4: a name is at most 255 octets on the wire, 253 as text. */
enum { NAMES_MAX = 1024, CERTS_MAX = 65536 };

typedef struct cert_entry {
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) *chain; /* intermediates after the leaf in the PEM, maybe empty */
    char **names;          /* lower-case DNS names; wildcards keep their "*." */
    size_t n_names;
} cert_entry_t;

struct hc_tls_certs {
    atomic_int refs;
    cert_entry_t *v;
    size_t n, cap;
    long def; /* index of the default certificate; -1 = the first one added */
};

void hc_tls_err(char *err, size_t errlen, const char *what, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    hc_errf(err, errlen, 0, "%s: %s", what, reason ? reason : fallback);
    ERR_clear_error();
}

hc_tls_certs_t *hc_tls_certs_new(void)
{
    hc_tls_certs_t *set = hc_calloc(1, sizeof(*set));
    atomic_init(&set->refs, 1);
    set->def = -1;
    return set;
}

hc_tls_certs_t *hc_tls_certs_hold(hc_tls_certs_t *set)
{
    atomic_fetch_add(&set->refs, 1);
    return set;
}

static void entry_clear(cert_entry_t *e)
{
    X509_free(e->cert);
    EVP_PKEY_free(e->key);
    sk_X509_pop_free(e->chain, X509_free);
    for (size_t i = 0; i < e->n_names; i++)
        hc_free(e->names[i]);
    hc_free(e->names);
    memset(e, 0, sizeof(*e));
}

void hc_tls_certs_free(hc_tls_certs_t *set)
{
    if (!set || atomic_fetch_sub(&set->refs, 1) != 1)
        return;
    for (size_t i = 0; i < set->n; i++)
        entry_clear(&set->v[i]);
    hc_free(set->v);
    hc_free(set);
}

/* Adds one name, lower-cased; names with NULs or over the limit, and repeats, are
 * skipped. */
static void name_add(cert_entry_t *e, const unsigned char *s, size_t len)
{
    if (!len || len > HC_TLS_NAME_MAX || memchr(s, '\0', len) || e->n_names >= NAMES_MAX)
        return;
    char *n = hc_memdup(s, len);
    for (size_t i = 0; i < len; i++)
        n[i] = (char)tolower((unsigned char)n[i]);
    for (size_t i = 0; i < e->n_names; i++)
        if (!strcmp(e->names[i], n)) { /* the CN is mostly a SAN too */
            hc_free(n);
            return;
        }
    e->names = hc_realloc(e->names, (e->n_names + 1) * sizeof(*e->names));
    e->names[e->n_names++] = n;
}

/* The names a certificate serves, as Traefik's certificate store indexes them: the
 * subject CN (also beside SANs), the subjectAltName DNS entries, and its IP addresses as
 * text (a handshake without SNI is served by the address it came to). */
static void names_collect(cert_entry_t *e)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(e->cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        int alen = g->type == GEN_IPADD ? ASN1_STRING_length(g->d.iPAddress) : 0;
        char ip[INET6_ADDRSTRLEN];
        if (g->type == GEN_DNS)
            name_add(e, ASN1_STRING_get0_data(g->d.dNSName),
                     (size_t)ASN1_STRING_length(g->d.dNSName));
        else if ((alen == 4 || alen == 16) &&
                 inet_ntop(alen == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress),
                           ip, sizeof(ip)))
            name_add(e, (const unsigned char *)ip, strlen(ip));
    }
    GENERAL_NAMES_free(sans);
    const X509_NAME *subj = X509_get_subject_name(e->cert);
    int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    if (idx < 0)
        return;
    const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
    name_add(e, ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
}

/* Moves e into the set, its names collected when they choose it. */
static int entry_push(hc_tls_certs_t *set, cert_entry_t *e, int roles)
{
    if (set->n >= CERTS_MAX)
        return -ENOSPC;
    if (roles & HC_TLS_CERT_BY_NAME)
        names_collect(e);
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 4;
        set->v = hc_realloc(set->v, set->cap * sizeof(*set->v));
    }
    if (roles & HC_TLS_CERT_DEFAULT)
        set->def = (long)set->n;
    set->v[set->n++] = *e;
    memset(e, 0, sizeof(*e));
    return 0;
}

/* Never prompt on a terminal for an encrypted key: report it as unreadable instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

/* Reads the leaf and any intermediates that follow it. */
static int chain_read(cert_entry_t *e, BIO *in, char *err, size_t errlen)
{
    e->cert = PEM_read_bio_X509(in, NULL, no_passphrase, NULL);
    if (!e->cert) {
        hc_tls_err(err, errlen, "certificate", "no PEM certificate found");
        return -EINVAL;
    }
    e->chain = sk_X509_new_null();
    if (!e->chain)
        hc_oom(0);
    X509 *x;
    while ((x = PEM_read_bio_X509(in, NULL, no_passphrase, NULL)))
        if (!sk_X509_push(e->chain, x))
            hc_oom(0);
    /* The loop ends with "no start line" at the end of the text; anything else is a
     * damaged certificate in the chain. */
    unsigned long last = ERR_peek_last_error();
    if (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        return 0;
    }
    hc_tls_err(err, errlen, "certificate chain", "unreadable certificate");
    return -EINVAL;
}

int hc_tls_certs_add_pem(hc_tls_certs_t *set, const char *cert_pem, size_t cert_len,
                         const char *key_pem, size_t key_len, int roles, char *err, size_t errlen)
{
    cert_entry_t e = {0};
    BIO *cb = NULL, *kb = NULL;
    int rc = -EINVAL;
    if (!roles)
        return hc_errf(err, errlen, -EINVAL, "a certificate must serve names or the default");
    if (cert_len > INT_MAX || key_len > INT_MAX)
        return hc_errf(err, errlen, -EINVAL, "certificate or key too large");
    ERR_clear_error();
    cb = BIO_new_mem_buf(cert_pem, (int)cert_len);
    kb = BIO_new_mem_buf(key_pem, (int)key_len);
    if (!cb || !kb)
        hc_oom(cert_len + key_len);
    if ((rc = chain_read(&e, cb, err, errlen)))
        goto out;
    rc = -EINVAL;
    e.key = PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL);
    if (!e.key) {
        hc_tls_err(err, errlen, "private key", "no PEM private key found");
        goto out;
    }
    if (X509_check_private_key(e.cert, e.key) != 1) {
        ERR_clear_error();
        hc_errf(err, errlen, 0, "private key: does not match the certificate");
        goto out;
    }
    if ((rc = entry_push(set, &e, roles)))
        hc_errf(err, errlen, 0, "too many certificates");
out:
    entry_clear(&e);
    BIO_free(kb);
    BIO_free(cb);
    return rc;
}

/* subjectAltName with the one DNS name cn. */
static int san_add(X509 *x, const char *cn)
{
    GENERAL_NAMES *names = GENERAL_NAMES_new();
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    if (!names || !g || !s)
        hc_oom(0);
    int ok = ASN1_STRING_set(s, cn, -1);
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    ok = ok && sk_GENERAL_NAME_push(names, g);
    if (!ok)
        GENERAL_NAME_free(g);
    ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(names);
    return ok ? 0 : -EINVAL;
}

/* A one-year self-signed certificate for cn, signed with SHA-256 by key. */
static X509 *self_signed_make(const char *cn, EVP_PKEY *key)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    if (!x || !serial)
        hc_oom(0);
    X509_NAME *subj = X509_get_subject_name(x);
    int ok = X509_set_version(x, X509_VERSION_3) &&
             BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
             BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400) && X509_set_pubkey(x, key) &&
             X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
                                        -1, -1, 0) &&
             X509_set_issuer_name(x, subj) && san_add(x, cn) == 0 &&
             X509_sign(x, key, EVP_sha256()) > 0;
    BN_free(serial);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

int hc_tls_certs_add_self_signed(hc_tls_certs_t *set, const char *cn, int roles)
{
    cert_entry_t e = {0};
    int rc = -EINVAL;
    if (!cn || !*cn || strlen(cn) > HC_TLS_NAME_MAX || !roles)
        return -EINVAL;
    ERR_clear_error();
    e.key = EVP_EC_gen("P-256");
    if (!e.key)
        goto out;
    e.cert = self_signed_make(cn, e.key);
    e.chain = sk_X509_new_null();
    if (!e.cert || !e.chain)
        goto out;
    rc = entry_push(set, &e, roles);
out:
    ERR_clear_error();
    entry_clear(&e);
    return rc;
}

int hc_tls_name_normalize(const char *name, size_t len, char out[HC_TLS_NAME_MAX + 1])
{
    if (len && name[len - 1] == '.')
        len--;
    if (!len || len > HC_TLS_NAME_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[len] = '\0';
    return 0;
}

/* Exact match first; then "*.rest" for a name "label.rest": RFC 6125 §6.4.3, the
 * wildcard stands for exactly one whole left-most label. */
static const cert_entry_t *certs_pick(const hc_tls_certs_t *set, const char *name, int strict)
{
    char n[HC_TLS_NAME_MAX + 1];
    if (name && hc_tls_name_normalize(name, strlen(name), n) == 0) {
        for (size_t i = 0; i < set->n; i++)
            for (size_t j = 0; j < set->v[i].n_names; j++)
                if (!strcmp(set->v[i].names[j], n))
                    return &set->v[i];
        const char *parent = strchr(n, '.');
        if (parent && parent != n && parent[1])
            for (size_t i = 0; i < set->n; i++)
                for (size_t j = 0; j < set->v[i].n_names; j++) {
                    const char *w = set->v[i].names[j];
                    if (w[0] == '*' && w[1] == '.' && !strcmp(w + 1, parent))
                        return &set->v[i];
                }
    }
    if (!set->n || strict)
        return NULL;
    return &set->v[set->def >= 0 ? set->def : 0];
}

int hc_tls_certs_covers(const hc_tls_certs_t *set, const char *name)
{
    return name && certs_pick(set, name, 1) != NULL;
}

int hc_tls_certs_use(const hc_tls_certs_t *set, SSL *ssl, const char *name, int strict)
{
    const cert_entry_t *e = certs_pick(set, name, strict);
    if (!e)
        return -ENOENT;
    /* OpenSSL takes its own references on the certificate, key and chain. */
    if (SSL_use_cert_and_key(ssl, e->cert, e->key, e->chain, 1) != 1) {
        ERR_clear_error();
        return -EINVAL;
    }
    return 0;
}

size_t hc_tls_certs_count(const hc_tls_certs_t *set)
{
    return set->n;
}
