/* TLS over memory BIOs (OpenSSL 3), so the same code serves libuv streams on the server
 * and client side: the connection owner feeds ciphertext in, reads plaintext out,
 * writes plaintext in and sends whatever ciphertext is pending.
 *
 * Contexts: a server context holds a certificate set chosen by SNI (exact names first,
 * then "*.example.com" wildcards, then the default certificate). The set can be replaced
 * at run time: new handshakes see the new set, established connections keep theirs. */
#ifndef HC_TLS_H
#define HC_TLS_H

#include <stddef.h>

typedef struct hc_tls_ctx hc_tls_ctx_t;
typedef struct hc_tls_certs hc_tls_certs_t;
typedef struct hc_tls_conn hc_tls_conn_t;

/* Negative results of the conn calls besides -errno values. */
#define HC_TLS_EPROTO (-71) /* the peer broke the protocol or failed verification: close */

typedef struct hc_tls_server_opts {
    const char *min_version;  /* "TLS1.2" (default), "TLS1.3"; also Go's "VersionTLS12" */
    const char *cipher_suites; /* comma list of IANA/Go names (TLS 1.2), NULL = OpenSSL's */
    const char *const *alpn;  /* offered protocols in preference order, NULL-terminated, or NULL */
} hc_tls_server_opts_t;

/** A new, empty certificate set. Add certificates, then install it with
 *  hc_tls_ctx_set_certs (which takes ownership). */
hc_tls_certs_t *hc_tls_certs_new(void);
/** Adds a PEM certificate chain and private key. Names come from the certificate's
 *  subjectAltName DNS entries (CN when there are none). is_default makes it the
 *  certificate for unknown or absent SNI. Returns 0 or -EINVAL with err. */
int hc_tls_certs_add_pem(hc_tls_certs_t *set, const char *cert_pem, size_t cert_len,
                         const char *key_pem, size_t key_len, int is_default, char *err,
                         size_t errlen);
/** Adds a freshly generated self-signed certificate for cn (used when nothing matches). */
int hc_tls_certs_add_self_signed(hc_tls_certs_t *set, const char *cn, int is_default);
void hc_tls_certs_free(hc_tls_certs_t *set);

/** A server context with opts; NULL with err on a bad option. */
hc_tls_ctx_t *hc_tls_server_new(const hc_tls_server_opts_t *opts, char *err, size_t errlen);
/** A client context verifying peers against ca_file (PEM bundle) or the system store
 *  when NULL; verify = 0 disables verification (insecureSkipVerify). */
hc_tls_ctx_t *hc_tls_client_new(const char *ca_file, int verify, char *err, size_t errlen);
/** Replaces the server's certificate set (ownership moves to ctx). Thread-safe. */
void hc_tls_ctx_set_certs(hc_tls_ctx_t *ctx, hc_tls_certs_t *set);
/** Reference counting: a context lives while any connection or owner holds it. */
hc_tls_ctx_t *hc_tls_ctx_ref(hc_tls_ctx_t *ctx);
void hc_tls_ctx_unref(hc_tls_ctx_t *ctx);

/** A server-side connection state. */
hc_tls_conn_t *hc_tls_conn_server(hc_tls_ctx_t *ctx);
/** A client-side connection state; sni is sent and verified as the host name. */
hc_tls_conn_t *hc_tls_conn_client(hc_tls_ctx_t *ctx, const char *sni, const char *alpn);
void hc_tls_conn_free(hc_tls_conn_t *c);

/** Gives ciphertext received from the peer. Returns 0 or a negative error. */
int hc_tls_conn_feed(hc_tls_conn_t *c, const char *data, size_t len);
/** Decrypts into buf. Returns bytes (>0), 0 when nothing more is available now,
 *  -EPIPE when the peer closed cleanly, HC_TLS_EPROTO on failure. Drives the handshake. */
int hc_tls_conn_read(hc_tls_conn_t *c, char *buf, size_t cap);
/** Encrypts plaintext; returns bytes taken (all of it once the handshake is done; 0
 *  before) or a negative error. */
int hc_tls_conn_write(hc_tls_conn_t *c, const char *data, size_t len);
/** Ciphertext waiting to go to the peer: points *data at it and returns its length. */
size_t hc_tls_conn_pending(hc_tls_conn_t *c, const char **data);
/** Marks n bytes of the pending ciphertext as sent. */
void hc_tls_conn_consume(hc_tls_conn_t *c, size_t n);
/** Queues close_notify. */
void hc_tls_conn_shutdown(hc_tls_conn_t *c);
/** 1 once the handshake completed. */
int hc_tls_conn_established(const hc_tls_conn_t *c);
/** Negotiated facts; NULL before the handshake or when absent. */
const char *hc_tls_conn_version(const hc_tls_conn_t *c); /* "TLSv1.3" */
const char *hc_tls_conn_cipher(const hc_tls_conn_t *c);
const char *hc_tls_conn_sni(const hc_tls_conn_t *c);
const char *hc_tls_conn_alpn(const hc_tls_conn_t *c);

#endif
