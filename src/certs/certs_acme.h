/* ACME (RFC 8555) client for hearth certs: one client per ACME server + account key, on
 * a libuv loop over hc_http_client. It registers (or finds) the account once, then runs
 * any number of orders concurrently: new order, authorizations, HTTP-01 challenges,
 * finalize with the caller's CSR, certificate download.
 *
 * Start here: certs_acme_new, then certs_acme_order_start per certificate. HTTP-01 is
 * solved by the caller: on_challenge hands it the token and key authorization to serve;
 * when it serves them (and its self-check passed) it calls certs_acme_challenge_ready.
 * Implementation: certs_acme.c (client, nonces, account), certs_acme_order.c (the order
 * state machine), certs_acme_json.c (response parsing), certs_jws.c (signing). */
#ifndef CERTS_ACME_H
#define CERTS_ACME_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <uv.h>

typedef struct certs_acme certs_acme_t;
typedef struct certs_acme_order certs_acme_order_t;

typedef struct certs_acme_opts {
    const char *directory_url; /* e.g. https://acme-v02.api.letsencrypt.org/directory */
    const char *email;         /* account contact ("mailto:" is added); NULL = none */
    EVP_PKEY *account_key;     /* EC P-256 (ES256) or RSA (RS256); referenced, not copied */
    int key_existing;          /* 1: the key was loaded from its Secret, so the account
                                  is looked up first (onlyReturnExisting) */
    const char *ca_file;       /* PEM file to verify the server; NULL = system store */
    const char *ca_pem;        /* PEM bundle (an issuer's caBundle) added to that */
    size_t ca_pem_len;
    int insecure_skip_verify;  /* issuer skipTLSVerify */
    uint64_t request_timeout_ms;   /* each HTTP exchange; 0 = 30 s */
    uint64_t challenge_timeout_ms; /* on_challenge -> certs_acme_challenge_ready; 0 = 5 min */
    unsigned max_bad_nonce;        /* badNonce retries per request; 0 = 5 */
    unsigned max_polls;            /* polls of one authorization or order; 0 = 60 */
    uint64_t poll_default_ms;      /* poll interval without Retry-After; 0 = 1 s */
    uint64_t poll_max_ms;          /* longest Retry-After honoured; 0 = 30 s */
} certs_acme_opts_t;

/** An RFC 7807 problem document the server returned (RFC 8555 §6.7). */
typedef struct certs_acme_problem {
    int status;        /* HTTP status of the response, 0 when none */
    char type[160];    /* e.g. "urn:ietf:params:acme:error:unauthorized", "" when none */
    char detail[512];  /* the server's detail, "" when none */
} certs_acme_problem_t;

/** How an order ended, given to on_done; everything is valid only during the call. */
typedef struct certs_acme_result {
    int status;                  /* 0, or a negative errno (see certs_acme_order_cbs) */
    const char *message;         /* one line saying what failed and at which step; "" on success */
    const certs_acme_problem_t *problem; /* the ACME problem behind a failure, or NULL */
    const char *chain_pem;       /* success: application/pem-certificate-chain as served
                                    (leaf first, then intermediates) */
    size_t chain_len;
    const char *order_url;       /* the order's URL when known, else "" */
} certs_acme_result_t;

typedef struct certs_acme_order_cbs {
    /** An authorization needs HTTP-01: serve key_auth as the body of
     *  GET /.well-known/acme-challenge/<token> for identifier, then call
     *  certs_acme_challenge_ready(order, token, 0) (or a negative errno to fail the order),
     *  at once or later. Strings are valid only during the call (copy them). Not called
     *  for authorizations that are already valid. */
    void (*on_challenge)(certs_acme_order_t *order, const char *identifier,
                         const char *token, const char *key_auth, void *ud);
    /** The challenge for token is finished (validated, failed or the order ended): stop
     *  serving it. Fires once for every on_challenge, before on_done. Optional. */
    void (*on_challenge_done)(certs_acme_order_t *order, const char *token, void *ud);
    /** Exactly once, from the loop (never inside certs_acme_order_start). status:
     *  0 issued; -EPROTO the server said no (problem set, e.g. an invalid authorization);
     *  -ETIMEDOUT a step or poll limit ran out; -ECANCELED cancelled or client freed;
     *  other negative errnos from hc_http_client (connect, TLS). The order is freed
     *  after it returns. */
    void (*on_done)(certs_acme_order_t *order, const certs_acme_result_t *res, void *ud);
} certs_acme_order_cbs_t;

/** Counters for logs, metrics and tests. */
typedef struct certs_acme_stats {
    uint64_t requests;        /* HTTP requests sent */
    uint64_t bad_nonce_retries;
    uint64_t orders_started;
    uint64_t orders_valid;
    uint64_t orders_failed;
} certs_acme_stats_t;

/** A client for opts->directory_url on loop. Nothing is sent until the first order.
 *  opts strings are copied; account_key is referenced (EVP_PKEY_up_ref). Returns NULL
 *  with a message in err for a key that is neither P-256 nor RSA, a bad URL or a CA
 *  bundle that does not load. */
certs_acme_t *certs_acme_new(uv_loop_t *loop, const certs_acme_opts_t *opts, char *err,
                             size_t errlen);

/** Cancels every order (on_done with -ECANCELED, before this returns) and frees the
 *  client once its connections closed (run the loop). NULL is fine. */
void certs_acme_free(certs_acme_t *acme);

/** Starts an order for the identifiers: dns names and IP addresses (RFC 8738), at least
 *  one in total. csr_der is the DER CSR sent at finalize (certs_pki_csr_create), copied.
 *  cbs and ud must outlive the order. Returns 0 with *out (may be NULL) valid until
 *  on_done returns, or -EINVAL with nothing started. */
int certs_acme_order_start(certs_acme_t *acme, const char *const *dns, size_t n_dns,
                           const char *const *ips, size_t n_ips, const unsigned char *csr_der,
                           size_t csr_len, const certs_acme_order_cbs_t *cbs, void *ud,
                           certs_acme_order_t **out);

/** The caller serves token (status 0), so the client tells the server to validate it;
 *  or the caller cannot (status < 0: the order fails with that status). Returns 0, or
 *  -ENOENT when the order is not waiting for that token. */
int certs_acme_challenge_ready(certs_acme_order_t *order, const char *token, int status);

/** Stops the order: on_challenge_done for pending challenges, then on_done with
 *  -ECANCELED, before this returns (unless on_done already ran). */
void certs_acme_order_cancel(certs_acme_order_t *order);

/** The account URL (kid) once the account is registered or found, else NULL. */
const char *certs_acme_account_url(const certs_acme_t *acme);

/** Copies the counters into *out. */
void certs_acme_stats_get(const certs_acme_t *acme, certs_acme_stats_t *out);

#endif
