/* TLS over memory BIOs (OpenSSL 3), so the same code serves libuv streams on the server
 * and client side: the connection owner feeds ciphertext in, reads plaintext out,
 * writes plaintext in and sends whatever ciphertext is pending.
 *
 * Contexts: a server context holds a certificate set chosen by SNI (exact names first,
 * then "*.example.com" wildcards, then the default certificate). The set can be replaced
 * at run time: new handshakes see the new set, established connections keep theirs.
 * Its options (versions, cipher suites, curves, client certificates, SNI strictness, and
 * other options for chosen SNI host names) can be replaced the same way.
 *
 * Driving a connection (both sides), after every event:
 *   received bytes  -> hc_tls_conn_feed, then hc_tls_conn_read until it returns <= 0
 *   plaintext to go -> hc_tls_conn_write
 *   then always     -> hc_tls_conn_pending / send / hc_tls_conn_consume
 * A client starts with hc_tls_conn_handshake to produce its ClientHello. On an error,
 * send what is pending (it carries the alert) and close.
 *
 * Threads: contexts and certificate sets may be shared by several loops' threads;
 * one connection is used by one thread at a time. Implementation: hc_tls.c (contexts,
 * connections), hc_tls_certs.c (certificate sets). */
#ifndef HC_TLS_H
#define HC_TLS_H

#include <openssl/types.h> /* X509, for the peer's certificates */
#include <stddef.h>

struct stack_st_X509; /* STACK_OF(X509) */

typedef struct hc_tls_ctx hc_tls_ctx_t;
typedef struct hc_tls_certs hc_tls_certs_t;
typedef struct hc_tls_conn hc_tls_conn_t;

/* Negative results of the conn calls besides -errno values. */
#define HC_TLS_EPROTO (-71) /* the peer broke the protocol or failed verification: close */

/* Most ciphertext hc_tls_conn_feed holds before the owner reads it (-ENOBUFS past it). */
#define HC_TLS_FEED_MAX (1024 * 1024)

/* Client certificates (Go's tls.ClientAuthType, in its order). */
typedef enum hc_tls_client_auth {
    HC_TLS_CLIENT_NONE,            /* NoClientCert */
    HC_TLS_CLIENT_REQUEST,         /* RequestClientCert: asked for, taken unverified */
    HC_TLS_CLIENT_REQUIRE_ANY,     /* RequireAnyClientCert: required, taken unverified */
    HC_TLS_CLIENT_VERIFY_IF_GIVEN, /* VerifyClientCertIfGiven */
    HC_TLS_CLIENT_REQUIRE_VERIFY,  /* RequireAndVerifyClientCert */
} hc_tls_client_auth_t;

typedef struct hc_tls_host_opts hc_tls_host_opts_t;

typedef struct hc_tls_server_opts {
    const char *min_version;  /* "TLS1.2" (default), "TLS1.3"; also Go's "VersionTLS12" */
    const char *max_version;  /* the same names; NULL = the newest */
    const char *cipher_suites; /* comma list of IANA/Go names, NULL = Go's server choice;
                                  as in Go they choose TLS 1.2's suites only (TLS 1.3's are
                                  fixed), and a list naming none of those leaves TLS 1.3 */
    const char *curves;        /* comma list of Go names (CurveP256, CurveP384, CurveP521,
                                  X25519; also secp256r1, ...), NULL = Go's */
    int sni_strict;            /* a ClientHello without a server name, or naming no
                                  certificate, fails (no default certificate) */
    int no_session_tickets;    /* no tickets are issued (Go's SessionTicketsDisabled) */
    hc_tls_client_auth_t client_auth;
    const char *client_ca_pem; /* CA certificates (PEM) that client certificates chain to;
                                  needed by the two verifying kinds */
    size_t client_ca_len;
    const hc_tls_host_opts_t *hosts; /* handshakes naming one of these hosts (SNI, exact,
                                        case-insensitive) use its options instead; their
                                        own hosts and alpn are ignored */
    size_t nhosts;
    const char *const *alpn;  /* offered protocols in preference order, NULL-terminated, or NULL */
} hc_tls_server_opts_t;

struct hc_tls_host_opts {
    const char *host;
    const char *id; /* names the options (sessions resume only under the same id); NULL:
                       the host */
    const hc_tls_server_opts_t *opts;
};

/** Go's name of a client authentication type ("RequireAndVerifyClientCert") into *out.
 *  Returns 0 or -EINVAL. */
int hc_tls_client_auth_parse(const char *s, hc_tls_client_auth_t *out);

/** A new, empty certificate set. Add certificates, then install it with
 *  hc_tls_ctx_set_certs (which takes ownership). Never NULL. */
hc_tls_certs_t *hc_tls_certs_new(void);
/** What a certificate in a set serves: the server names it carries (the SNI choice),
 *  and/or unknown or absent SNI (the default). A default-only certificate is never chosen
 *  by name, as Traefik's TLSStore defaultCertificate. */
enum { HC_TLS_CERT_BY_NAME = 1, HC_TLS_CERT_DEFAULT = 2 };

/** Adds a PEM certificate chain (leaf first, then intermediates) and its private key
 *  (unencrypted PEM) in the roles given (HC_TLS_CERT_*, at least one). Names come from the
 *  certificate's subjectAltName DNS entries (CN when there are none). Without any default
 *  the first certificate added serves unknown and absent SNI. The PEM text is copied.
 *  Returns 0 or -EINVAL with a message in err (err may be NULL). Only before the set
 *  is installed. */
int hc_tls_certs_add_pem(hc_tls_certs_t *set, const char *cert_pem, size_t cert_len,
                         const char *key_pem, size_t key_len, int roles, char *err, size_t errlen);
/** Adds a freshly generated self-signed certificate (EC P-256, one year, SAN DNS:cn)
 *  for cn in the roles given, e.g. as the fallback default. Returns 0 or -EINVAL. Only
 *  before installing. */
int hc_tls_certs_add_self_signed(hc_tls_certs_t *set, const char *cn, int roles);
/** Number of certificates in the set. */
size_t hc_tls_certs_count(const hc_tls_certs_t *set);
/** Frees a set that was never installed. NULL is fine. */
void hc_tls_certs_free(hc_tls_certs_t *set);

/** A server context with opts (NULL = defaults) and no certificates yet: handshakes
 *  fail until hc_tls_ctx_set_certs installs a set. NULL with a message in err on a bad
 *  option (an unknown version or cipher suite name, an ALPN name of 0 or >255 bytes).
 *  With ALPN, a client offering only protocols not in the list is refused with the
 *  no_application_protocol alert (RFC 7301 §3.2); a client offering none gets none.
 *  The caller holds the one reference. */
hc_tls_ctx_t *hc_tls_server_new(const hc_tls_server_opts_t *opts, char *err, size_t errlen);
/** A client context (TLS 1.2 minimum) verifying peers against ca_file (PEM bundle) or
 *  the system store when NULL; verify = 0 disables verification (insecureSkipVerify).
 *  Reads the file now (blocking; call at configuration time). NULL with err when the
 *  bundle cannot be loaded. The caller holds the one reference. */
hc_tls_ctx_t *hc_tls_client_new(const char *ca_file, int verify, char *err, size_t errlen);
/** A client context (TLS 1.2 minimum) that trusts only the certificates in the PEM text
 *  ca_pem, not the system store (Go's tls.Config.RootCAs): each is a trust anchor, a
 *  server's own certificate or an intermediate too. NULL with err when it holds none.
 *  The caller holds the one reference. */
hc_tls_ctx_t *hc_tls_client_new_roots(const char *ca_pem, size_t len, char *err, size_t errlen);
/** Sets a client context's lowest and highest TLS versions (the names of
 *  hc_tls_server_opts_t.min_version; NULL = TLS 1.2 and the newest). Call before the
 *  context is shared. 0 or -EINVAL with err. */
int hc_tls_client_set_versions(hc_tls_ctx_t *ctx, const char *min, const char *max, char *err,
                               size_t errlen);
/** Adds to a client context a certificate (PEM, then its chain) and private key to
 *  present when a server asks for one (mutual TLS). Of several, the first issued by a CA
 *  the server names (leaf or chain) is presented, or the first when it names none; none
 *  when no certificate fits (as Go's client). Call before the context is shared.
 *  Returns 0 or -EINVAL with err (unreadable, or a key that does not match). */
int hc_tls_client_add_cert(hc_tls_ctx_t *ctx, const char *cert_pem, size_t cert_len,
                           const char *key_pem, size_t key_len, char *err, size_t errlen);
/** Adds the CA certificates in a PEM text to a client context's trust store, on top of
 *  what hc_tls_client_new loaded. Call before the context is shared. Returns 0 or
 *  -EINVAL with err when no certificate could be read. */
int hc_tls_client_add_ca_pem(hc_tls_ctx_t *ctx, const char *pem, size_t len, char *err,
                             size_t errlen);
/** Takes one more reference on set (atomic), e.g. to install it in a second context.
 *  Returns set. */
hc_tls_certs_t *hc_tls_certs_hold(hc_tls_certs_t *set);
/** Replaces the server's certificate set (ownership moves to ctx; the caller must not
 *  touch set afterwards). Thread-safe: handshakes that already chose a certificate keep
 *  it, later ones choose from set. */
void hc_tls_ctx_set_certs(hc_tls_ctx_t *ctx, hc_tls_certs_t *set);
/** Replaces a server context's options (all but alpn, which is kept from
 *  hc_tls_server_new and ignored here; NULL = defaults). Thread-safe: handshakes that
 *  already started keep the old options, connections made afterwards use the new ones.
 *  Returns 0, or -EINVAL with err on a bad option (the context keeps its options). */
int hc_tls_ctx_set_options(hc_tls_ctx_t *ctx, const hc_tls_server_opts_t *opts, char *err,
                           size_t errlen);
/** Reference counting: a context lives while any connection or owner holds it.
 *  Both are atomic; unref of NULL is fine. */
hc_tls_ctx_t *hc_tls_ctx_ref(hc_tls_ctx_t *ctx);
void hc_tls_ctx_unref(hc_tls_ctx_t *ctx);

/** A server-side connection state; holds a reference on ctx. Never NULL. */
hc_tls_conn_t *hc_tls_conn_server(hc_tls_ctx_t *ctx);
/** The connection's socket (server side; optional). Read only when a ClientHello names
 *  no server: the certificate naming the address it came to (an IP SAN) is served then,
 *  as Traefik's GetBestCertificate does. */
void hc_tls_conn_set_fd(hc_tls_conn_t *c, int fd);
/** A client-side connection state; holds a reference on ctx. sni (may be NULL) is sent
 *  as server_name and verified as the host name when the context verifies; an IP
 *  literal is not sent (RFC 6066 §3) but checked against the certificate's IP SANs.
 *  alpn is a comma list to offer ("h2,http/1.1") or NULL. NULL when sni or alpn is
 *  malformed. */
hc_tls_conn_t *hc_tls_conn_client(hc_tls_ctx_t *ctx, const char *sni, const char *alpn);
/** Frees the state (no close_notify is sent: see hc_tls_conn_shutdown). NULL is fine. */
void hc_tls_conn_free(hc_tls_conn_t *c);

/** Gives ciphertext received from the peer (copied). Returns 0, -ENOBUFS when more than
 *  HC_TLS_FEED_MAX bytes would wait unread, or HC_TLS_EPROTO after a failure. */
int hc_tls_conn_feed(hc_tls_conn_t *c, const char *data, size_t len);
/** Advances the handshake with what was fed. Returns 1 once established, 0 while it
 *  needs more from the peer, HC_TLS_EPROTO on failure (see hc_tls_conn_error). */
int hc_tls_conn_handshake(hc_tls_conn_t *c);
/** Decrypts into buf. Returns bytes (>0), 0 when nothing more is available now,
 *  -EPIPE when the peer closed cleanly, HC_TLS_EPROTO on failure. Drives the handshake.
 *  Call again after a positive result: more records may be buffered. */
int hc_tls_conn_read(hc_tls_conn_t *c, char *buf, size_t cap);
/** Encrypts plaintext; returns bytes taken (all of it, up to INT_MAX, once the
 *  handshake is done; 0 before) or a negative error. The ciphertext becomes pending;
 *  the caller bounds how much it lets pile up. */
int hc_tls_conn_write(hc_tls_conn_t *c, const char *data, size_t len);
/** Ciphertext waiting to go to the peer: points *data at it and returns its length.
 *  The pointer is valid until the next call on c. */
size_t hc_tls_conn_pending(hc_tls_conn_t *c, const char **data);
/** Marks n bytes of the pending ciphertext as sent (n <= pending length). */
void hc_tls_conn_consume(hc_tls_conn_t *c, size_t n);
/** Queues close_notify (after the handshake; otherwise nothing). */
void hc_tls_conn_shutdown(hc_tls_conn_t *c);
/** 1 once the handshake completed. */
int hc_tls_conn_established(const hc_tls_conn_t *c);
/** Negotiated facts; NULL before the handshake or when absent. Strings live as long as c. */
const char *hc_tls_conn_version(const hc_tls_conn_t *c); /* "TLSv1.3" */
const char *hc_tls_conn_cipher(const hc_tls_conn_t *c); /* IANA name, "TLS_AES_128_GCM_SHA256" */
const char *hc_tls_conn_sni(const hc_tls_conn_t *c);
const char *hc_tls_conn_alpn(const hc_tls_conn_t *c);
/** The peer's certificate and the chain it sent after it (a server's view of a client
 *  certificate), borrowed for as long as c lives; NULL when it sent none. Either may be
 *  NULL (and a NULL leaf or chain asks for none). */
void hc_tls_conn_peer_certs(const hc_tls_conn_t *c, X509 **leaf, STACK_OF(X509) **chain);
/** Why the connection failed ("certificate verify failed: ..."), NULL while it has not. */
const char *hc_tls_conn_error(const hc_tls_conn_t *c);
/** 1 when the failure was our verification of the peer's certificate (unknown CA,
 *  wrong host name, expired), 0 otherwise. */
int hc_tls_conn_verify_failed(const hc_tls_conn_t *c);
/** 1 when what the peer sent is no TLS record (a plain HTTP server answering a TLS
 *  client: Go's tls.RecordHeaderError), 0 otherwise. */
int hc_tls_conn_not_tls(const hc_tls_conn_t *c);

#endif
