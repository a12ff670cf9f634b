/* Internal interface between hc_tls.c (contexts and connections) and hc_tls_certs.c
 * (certificate sets). Not for use outside src/core/hc_tls*.c. */
#ifndef HC_TLS_INT_H
#define HC_TLS_INT_H

#include "core/hc_tls.h"

#include <openssl/ssl.h>

/** Installs on ssl the certificate that serves name (an SNI value or NULL): an exact
 *  name first, then a "*.parent" wildcard covering exactly one label, then (unless
 *  strict) the default. Returns 0, or -ENOENT when the set has no certificate to offer. */
int hc_tls_certs_use(const hc_tls_certs_t *set, SSL *ssl, const char *name, int strict);
/** Whether a certificate of set names name (exactly or by wildcard; never the default
 *  fallback): what sniStrict asks. NULL is covered by none. */
int hc_tls_certs_covers(const hc_tls_certs_t *set, const char *name);

/* The longest DNS name (RFC 1035 §2.3.4). */
#define HC_TLS_NAME_MAX 253

/** The form names are compared in: lowercase, without a trailing dot, into out (len
 *  bytes of name, which need not be NUL-terminated). 0, or -EINVAL when the name is
 *  empty or too long. */
int hc_tls_name_normalize(const char *name, size_t len, char out[HC_TLS_NAME_MAX + 1]);

/* Server options compiled for OpenSSL (hc_tls_opts.c). */
typedef struct hc_tls_opts {
    int min_version, max_version;  /* TLS1_2_VERSION...; max 0 = the newest */
    char *ciphers12;               /* OpenSSL's names, NULL = Go's server choice */
    char *groups;                  /* "P-256:X25519", NULL = Go's curves */
    int verify_mode;               /* SSL_VERIFY_* */
    int verify_any;                /* a client certificate is taken unverified */
    X509_STORE *store;             /* CAs for client certificates, or NULL */
    STACK_OF(X509_NAME) *ca_names; /* their subjects, named in the CertificateRequest */
    int sni_strict;
    int no_tickets;        /* disableSessionTickets */
    unsigned char sid[32]; /* session id context: resumption stays within these options */
    unsigned sid_len;
} hc_tls_opts_t;

/** Compiles in (hosts and alpn ignored) into o; id names the options for session
 *  resumption. Returns 0 or -EINVAL with err (o is then empty). */
int hc_tls_opts_compile(const hc_tls_server_opts_t *in, const char *id, hc_tls_opts_t *o, char *err,
                        size_t errlen);
void hc_tls_opts_free(hc_tls_opts_t *o);
/** Applies o to a whole context; 0 or -EINVAL with err. */
int hc_tls_opts_apply_ctx(SSL_CTX *ssl, const hc_tls_opts_t *o, char *err, size_t errlen);
/** Applies o to one connection during its ClientHello; 0 or -EINVAL. */
int hc_tls_opts_apply_ssl(SSL *ssl, const hc_tls_opts_t *o);

/** Writes OpenSSL's message for the newest queued error (or fallback) into err and
 *  clears the thread's error queue. */
/** A TLS version's name ("TLS1.2", Go's "VersionTLS13", "TLSv1.3"; NULL or "" =
 *  TLS 1.2) into its OpenSSL number. 0 or -EINVAL. */
int hc_tls_version_parse(const char *s, int *out);
void hc_tls_err(char *err, size_t errlen, const char *what, const char *fallback);

/** The OpenSSL objects behind a context and a connection, for the hc_tls files and
 *  their unit tests (which inspect peer certificates and cap versions through them). */
SSL_CTX *hc_tls_ctx_openssl(hc_tls_ctx_t *ctx);
SSL *hc_tls_conn_openssl(hc_tls_conn_t *c);

#endif
