/* Issued certificates for hearth certs (see certs_pki.h): PEM chains as tls.crt wants
 * them, what a certificate says (validity, names) for Ready and reissue decisions, and
 * cert-manager's renewal time. Keys and issuance are in certs_pki.c. */
#include "certs/certs_pki.h"

#include "core/hc_alloc.h"
#include "core/hc_err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

int certs_pki_chain_parse(const char *pem, size_t len, STACK_OF(X509) **out, char *err,
                          size_t errlen)
{
    if (!pem || len == 0 || len > INT32_MAX)
        return hc_errf(err, errlen, -EINVAL, "empty certificate PEM");
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *sk = sk_X509_new_null();
    int rc = -EINVAL;
    if (!bio || !sk)
        goto out;
    ERR_clear_error();
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x) {
            sk_X509_push(sk, x);
            continue;
        }
        /* No further BEGIN line is the normal end; anything else is a bad block. */
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE &&
            sk_X509_num(sk) > 0)
            rc = 0;
        break;
    }
    ERR_clear_error();
    if (rc < 0) {
        hc_errf(err, errlen, rc, sk_X509_num(sk) ? "a malformed certificate in the PEM"
                                                 : "no certificate in the PEM");
        goto out;
    }
    *out = sk;
    sk = NULL;
out:
    sk_X509_pop_free(sk, X509_free);
    BIO_free(bio);
    return rc;
}

static int self_signed(X509 *x)
{
    return (X509_get_extension_flags(x) & EXFLAG_SS) != 0;
}

int certs_pki_chain_pem(X509 *leaf, STACK_OF(X509) *chain, char **out, size_t *out_len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = -EIO;
    if (!bio || !PEM_write_bio_X509(bio, leaf))
        goto out;
    for (int i = 0; chain && i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        if (X509_cmp(x, leaf) == 0 || self_signed(x))
            continue;
        if (!PEM_write_bio_X509(bio, x))
            goto out;
    }
    rc = certs_pki_bio_take(bio, out, out_len);
out:
    BIO_free(bio);
    return rc;
}

int certs_pki_cert_pem(X509 *cert, char **out, size_t *out_len)
{
    return certs_pki_chain_pem(cert, NULL, out, out_len);
}

static int asn1_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return -EINVAL;
    *out = (int64_t)timegm(&tm);
    return 0;
}

static void push_str(char ***arr, size_t *n, const char *s, size_t len)
{
    *arr = hc_realloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[(*n)++] = hc_memdup(s, len);
}

static void push_ip(certs_cert_info_t *info, const ASN1_OCTET_STRING *ip)
{
    char text[INET6_ADDRSTRLEN];
    int len = ASN1_STRING_length(ip);
    const unsigned char *d = ASN1_STRING_get0_data(ip);
    if ((len == 4 && inet_ntop(AF_INET, d, text, sizeof(text))) ||
        (len == 16 && inet_ntop(AF_INET6, d, text, sizeof(text))))
        push_str(&info->ips, &info->n_ips, text, strlen(text));
}

static void read_sans(X509 *cert, certs_cert_info_t *info)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        int type;
        /* The value is an ASN1_STRING only for these four types (otherName, dirName,
         * registeredID are other structures): read it only then. */
        void *v = GENERAL_NAME_get0_value(g, &type);
        if (type != GEN_DNS && type != GEN_URI && type != GEN_EMAIL && type != GEN_IPADD)
            continue;
        ASN1_STRING *s = v;
        const char *d = (const char *)ASN1_STRING_get0_data(s);
        size_t len = (size_t)ASN1_STRING_length(s);
        if (type == GEN_DNS)
            push_str(&info->dns, &info->n_dns, d, len);
        else if (type == GEN_URI)
            push_str(&info->uris, &info->n_uris, d, len);
        else if (type == GEN_EMAIL)
            push_str(&info->emails, &info->n_emails, d, len);
        else
            push_ip(info, s);
    }
    GENERAL_NAMES_free(gens);
}

int certs_pki_cert_inspect(X509 *cert, certs_cert_info_t *info)
{
    memset(info, 0, sizeof(*info));
    if (asn1_unix(X509_get0_notBefore(cert), &info->not_before) < 0 ||
        asn1_unix(X509_get0_notAfter(cert), &info->not_after) < 0)
        return -EINVAL;
    X509_NAME *subj = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    if (idx >= 0) {
        ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
        unsigned char *utf8 = NULL;
        int n = ASN1_STRING_to_UTF8(&utf8, s);
        if (n >= 0)
            info->common_name = hc_memdup(utf8, (size_t)n);
        OPENSSL_free(utf8);
    }
    read_sans(cert, info);
    info->is_ca = X509_check_ca(cert) > 0 &&
                  (X509_get_extension_flags(cert) & EXFLAG_BCONS) != 0;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex)
        snprintf(info->serial_hex, sizeof(info->serial_hex), "%s", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    ERR_clear_error();
    return 0;
}

static void free_strs(char **arr, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hc_free(arr[i]);
    hc_free(arr);
}

void certs_pki_cert_info_clear(certs_cert_info_t *info)
{
    hc_free(info->common_name);
    free_strs(info->dns, info->n_dns);
    free_strs(info->ips, info->n_ips);
    free_strs(info->uris, info->n_uris);
    free_strs(info->emails, info->n_emails);
    memset(info, 0, sizeof(*info));
}

int certs_pki_key_matches_cert(EVP_PKEY *key, X509 *cert)
{
    int ok = key && cert && X509_check_private_key(cert, key) == 1;
    ERR_clear_error();
    return ok;
}

typedef int (*name_eq_fn)(const char *a, const char *b);

static int eq_exact(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static int eq_nocase(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* Compares IP addresses as bytes, so "::1" equals "0:0:0:0:0:0:0:1". */
static int eq_ip(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    if (inet_pton(AF_INET, a, x) == 1)
        return inet_pton(AF_INET, b, y) == 1 && memcmp(x, y, 4) == 0;
    if (inet_pton(AF_INET6, a, x) == 1)
        return inet_pton(AF_INET6, b, y) == 1 && memcmp(x, y, 16) == 0;
    return 0;
}

static int contains(const char *const *set, size_t n, const char *s, name_eq_fn eq)
{
    for (size_t i = 0; i < n; i++)
        if (eq(set[i], s))
            return 1;
    return 0;
}

/* Set equality: duplicates and order do not matter. */
static int same_set(char **have, size_t nh, const char *const *want, size_t nw, name_eq_fn eq)
{
    for (size_t i = 0; i < nh; i++)
        if (!contains(want, nw, have[i], eq))
            return 0;
    for (size_t i = 0; i < nw; i++)
        if (!contains((const char *const *)have, nh, want[i], eq))
            return 0;
    return 1;
}

int certs_pki_names_match(const certs_cert_info_t *info, const certs_names_t *spec)
{
    if (spec->common_name && *spec->common_name &&
        (!info->common_name || strcmp(info->common_name, spec->common_name) != 0))
        return 0;
    return same_set(info->dns, info->n_dns, spec->dns, spec->n_dns, eq_nocase) &&
           same_set(info->ips, info->n_ips, spec->ips, spec->n_ips, eq_ip) &&
           same_set(info->uris, info->n_uris, spec->uris, spec->n_uris, eq_exact) &&
           same_set(info->emails, info->n_emails, spec->emails, spec->n_emails, eq_nocase);
}

int64_t certs_pki_renewal_time(int64_t not_before, int64_t not_after, int64_t renew_before_s,
                               int renew_before_pct)
{
    /* renewaltime.go works in Go nanoseconds and truncates notAfter - renewBefore down to
     * a second; 128-bit arithmetic keeps lifetime * percentage from overflowing. */
    const __int128 ns = 1000000000;
    __int128 life = ((__int128)not_after - not_before) * ns;
    __int128 before;
    if (renew_before_s > 0 && (__int128)renew_before_s * ns < life)
        before = (__int128)renew_before_s * ns;
    else if (renew_before_pct > 0 && renew_before_pct < 100)
        before = life * renew_before_pct / 100;
    else
        before = life / 3;
    __int128 t = (__int128)not_after * ns - before;
    /* floor division: Go's Time.Truncate rounds toward the zero time, i.e. down. */
    __int128 secs = t / ns;
    if (t % ns < 0)
        secs -= 1;
    return (int64_t)secs;
}
