/* PKI for hearth certs: private keys, CSRs, X.509 issuance for the selfSigned and CA
 * issuers, PEM chains and certificate inspection, and cert-manager's renewal-time math.
 * Pure OpenSSL 3 (EVP) code with no I/O: certs_acme.c sends the CSRs it builds, the
 * service (certs_sched.c, certs_secret.c) stores what it returns.
 *
 * Ownership: EVP_PKEY and X509 values are OpenSSL objects; whoever receives one frees it
 * with EVP_PKEY_free / X509_free (never hc_free). Strings and buffers returned through
 * char ** / unsigned char ** are hc_malloc'd and freed with hc_free. */
#ifndef CERTS_PKI_H
#define CERTS_PKI_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* ---- private keys (cert-manager spec.privateKey) ---- */

typedef enum certs_key_alg {
    CERTS_KEY_RSA,     /* size 2048 (default) to 8192 */
    CERTS_KEY_ECDSA,   /* size 256 (default, P-256), 384 (P-384) */
    CERTS_KEY_ED25519, /* size ignored */
} certs_key_alg_t;

typedef enum certs_key_encoding {
    CERTS_KEY_PKCS1, /* "RSA PRIVATE KEY" / "EC PRIVATE KEY"; cert-manager's default */
    CERTS_KEY_PKCS8, /* "PRIVATE KEY" (Ed25519 is always PKCS#8) */
} certs_key_encoding_t;

/** Maps cert-manager's algorithm name ("RSA", "ECDSA", "Ed25519", case-insensitive;
 *  NULL or "" = RSA, cert-manager's default) to *alg. Returns 0 or -EINVAL. */
int certs_pki_key_alg_parse(const char *name, certs_key_alg_t *alg);

/** Generates a key. size 0 takes the default for alg; an unsupported size gives -EINVAL
 *  with a message. On success *out is the caller's (EVP_PKEY_free). */
int certs_pki_key_generate(certs_key_alg_t alg, int size, EVP_PKEY **out, char *err,
                           size_t errlen);

/** Loads a PEM private key (PKCS#1, SEC1 or PKCS#8, unencrypted) from len bytes.
 *  Returns 0 with *out the caller's, or -EINVAL with a message. */
int certs_pki_key_load(const char *pem, size_t len, EVP_PKEY **out, char *err, size_t errlen);

/** Writes key as PEM in enc (PKCS1 falls back to PKCS#8 for Ed25519). *out is a
 *  NUL-terminated hc_malloc'd string (hc_free), *out_len its length. Returns 0 or -EIO. */
int certs_pki_key_pem(EVP_PKEY *key, certs_key_encoding_t enc, char **out, size_t *out_len);

/** Copies the contents of the memory BIO bio (BIO_s_mem, still owned and freed by the
 *  caller) into *out, an hc_malloc'd string with a NUL after the data (hc_free), and
 *  stores its length in *out_len when out_len is not NULL. Returns 0, or -EIO when the
 *  BIO holds nothing (*out untouched). Shared by the PEM writers of certs_pki*.c. */
int certs_pki_bio_take(BIO *bio, char **out, size_t *out_len);

/** 1 when key is of alg and size (size 0 = alg's default), else 0: whether an existing
 *  key still fits the spec (rotationPolicy Never keeps a key only when it does). */
int certs_pki_key_fits(EVP_PKEY *key, certs_key_alg_t alg, int size);

/* ---- names and usages ---- */

/** The subject names of a request or certificate. Arrays may be NULL when their count is
 *  0. IP addresses are text (IPv4 dotted or IPv6). Nothing here is owned by the struct. */
typedef struct certs_names {
    const char *common_name; /* NULL or "" = none */
    const char *const *dns;
    size_t n_dns;
    const char *const *ips;
    size_t n_ips;
    const char *const *uris;
    size_t n_uris;
    const char *const *emails;
    size_t n_emails;
} certs_names_t;

/* cert-manager KeyUsage names (pkg/apis/certmanager/v1/types.go), one bit each. */
enum {
    CERTS_USAGE_SIGNING = 1u << 0,           /* "signing" (= digital signature) */
    CERTS_USAGE_DIGITAL_SIGNATURE = 1u << 1, /* "digital signature" */
    CERTS_USAGE_CONTENT_COMMITMENT = 1u << 2,
    CERTS_USAGE_KEY_ENCIPHERMENT = 1u << 3,
    CERTS_USAGE_KEY_AGREEMENT = 1u << 4,
    CERTS_USAGE_DATA_ENCIPHERMENT = 1u << 5,
    CERTS_USAGE_CERT_SIGN = 1u << 6,
    CERTS_USAGE_CRL_SIGN = 1u << 7,
    CERTS_USAGE_ENCIPHER_ONLY = 1u << 8,
    CERTS_USAGE_DECIPHER_ONLY = 1u << 9,
    CERTS_USAGE_ANY = 1u << 10,              /* extKeyUsage anyExtendedKeyUsage */
    CERTS_USAGE_SERVER_AUTH = 1u << 11,
    CERTS_USAGE_CLIENT_AUTH = 1u << 12,
    CERTS_USAGE_CODE_SIGNING = 1u << 13,
    CERTS_USAGE_EMAIL_PROTECTION = 1u << 14, /* also "s/mime" */
    CERTS_USAGE_IPSEC_END_SYSTEM = 1u << 15,
    CERTS_USAGE_IPSEC_TUNNEL = 1u << 16,
    CERTS_USAGE_IPSEC_USER = 1u << 17,
    CERTS_USAGE_TIMESTAMPING = 1u << 18,
    CERTS_USAGE_OCSP_SIGNING = 1u << 19,
    CERTS_USAGE_MICROSOFT_SGC = 1u << 20,
    CERTS_USAGE_NETSCAPE_SGC = 1u << 21,
};
/** cert-manager's default usages: digital signature, key encipherment, server auth. */
#define CERTS_USAGES_DEFAULT \
    (CERTS_USAGE_DIGITAL_SIGNATURE | CERTS_USAGE_KEY_ENCIPHERMENT | CERTS_USAGE_SERVER_AUTH)

/** ORs the bit of one cert-manager usage name ("server auth", "cert sign", ...; exact,
 *  case-insensitive) into *mask. Returns 0 or -EINVAL for an unknown name. */
int certs_pki_usage_parse(const char *name, uint32_t *mask);

/* ---- CSRs and issuance ---- */

/** Builds a PKCS#10 CSR signed by key with the names as subject CN + subjectAltName and
 *  the usages (0 = CERTS_USAGES_DEFAULT) and isCA as requested extensions. *der is the
 *  DER (hc_free), *der_len its length. Returns 0, or -EINVAL (no names, a bad IP) / -EIO
 *  with a message. */
int certs_pki_csr_create(EVP_PKEY *key, const certs_names_t *names, uint32_t usages,
                         int is_ca, unsigned char **der, size_t *der_len, char *err,
                         size_t errlen);

typedef struct certs_issue_req {
    EVP_PKEY *key;              /* the subject's key (its public half goes in the cert) */
    const certs_names_t *names; /* at least a CN or one SAN */
    uint32_t usages;            /* 0 = CERTS_USAGES_DEFAULT; isCA adds cert sign */
    int is_ca;                  /* basicConstraints CA:TRUE (critical) */
    int64_t duration_s;         /* notAfter = notBefore + this; 0 = 2160h (90 days) */
    int64_t now;                /* notBefore, Unix seconds; 0 = the current time */
    X509 *ca_cert;              /* the CA issuer's certificate; NULL = self-signed */
    EVP_PKEY *ca_key;           /* its key; NULL = self-signed (signed with key) */
} certs_issue_req_t;

/** Issues an X.509 v3 certificate: 128-bit random serial, subject CN, SANs, keyUsage and
 *  extKeyUsage from the usages, basicConstraints, SKI and AKI (from ca_cert, or itself
 *  when self-signed), signed with SHA-256 (Ed25519: pure). *out is the caller's
 *  (X509_free). Returns 0, or -EINVAL (ca_key does not match ca_cert, no names) / -EIO. */
int certs_pki_issue(const certs_issue_req_t *req, X509 **out, char *err, size_t errlen);

/* ---- PEM chains ---- */

/** Parses every CERTIFICATE block of a PEM bundle (other blocks are skipped), in order.
 *  *out is the caller's (sk_X509_pop_free(s, X509_free)). Returns 0, or -EINVAL when no
 *  certificate is found or one is malformed. */
int certs_pki_chain_parse(const char *pem, size_t len, STACK_OF(X509) **out, char *err,
                          size_t errlen);

/** Writes leaf followed by chain (may be NULL) as PEM, leaving out any self-signed
 *  certificate after the leaf (tls.crt is leaf + intermediates, no root). *out is
 *  NUL-terminated, hc_free'd by the caller. Returns 0 or -EIO. */
int certs_pki_chain_pem(X509 *leaf, STACK_OF(X509) *chain, char **out, size_t *out_len);

/** One certificate as PEM (for ca.crt). Same ownership as certs_pki_chain_pem. */
int certs_pki_cert_pem(X509 *cert, char **out, size_t *out_len);

/* ---- inspection ---- */

/** What an issued certificate says; every string is hc_malloc'd and owned by the struct
 *  until certs_pki_cert_info_clear. IPs are in canonical text form (inet_ntop). */
typedef struct certs_cert_info {
    int64_t not_before; /* Unix seconds */
    int64_t not_after;
    char *common_name;  /* NULL when the subject has no CN */
    char **dns;
    size_t n_dns;
    char **ips;
    size_t n_ips;
    char **uris;
    size_t n_uris;
    char **emails;
    size_t n_emails;
    int is_ca;
    char serial_hex[80]; /* upper-case hex */
} certs_cert_info_t;

/** Fills *info from cert. Returns 0 or -EINVAL (unreadable validity). */
int certs_pki_cert_inspect(X509 *cert, certs_cert_info_t *info);
/** Frees what certs_pki_cert_inspect put in info and zeroes it. */
void certs_pki_cert_info_clear(certs_cert_info_t *info);

/** 1 when key is the private half of cert's public key, else 0. */
int certs_pki_key_matches_cert(EVP_PKEY *key, X509 *cert);

/** 1 when the certificate's names equal the spec as sets (order and duplicates ignored,
 *  DNS names case-insensitive, IPs compared as addresses, CN compared when the spec sets
 *  one), else 0: cert-manager's "names match the spec" for Ready. */
int certs_pki_names_match(const certs_cert_info_t *info, const certs_names_t *spec);

/* ---- renewal (cert-manager pkg/util/pki/renewaltime.go) ---- */

/** The renewal time in Unix seconds for a certificate valid from not_before to not_after
 *  (its real lifetime, not the requested duration): not_after minus renewBefore, truncated
 *  down to a second, where renewBefore is renew_before_s when 0 < it < lifetime, else
 *  lifetime * renew_before_pct / 100 when 0 < pct < 100, else lifetime / 3 (2/3 into the
 *  lifetime). Pass 0 for an unset renew_before_s or renew_before_pct. */
int64_t certs_pki_renewal_time(int64_t not_before, int64_t not_after, int64_t renew_before_s,
                               int renew_before_pct);

#endif
