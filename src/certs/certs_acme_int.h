/* Internals of the ACME client shared by certs_acme.c (client, signed requests, nonces,
 * account), certs_acme_order.c (orders) and certs_acme_json.c (response parsing, which
 * tests/fuzz/fuzz_acme_json.c drives). Not for the service: it uses certs_acme.h. */
#ifndef CERTS_ACME_INT_H
#define CERTS_ACME_INT_H

#include "certs/certs_acme.h"
#include "core/hc_http_client.h"

/* ---- parsed responses (certs_acme_json.c); strings hc_malloc'd, freed by *_clear ---- */

/** RFC 8555 §7.1.6 statuses, for accounts, orders, authorizations and challenges. */
typedef enum acme_status {
    ACME_ST_UNKNOWN,
    ACME_ST_PENDING,
    ACME_ST_READY,
    ACME_ST_PROCESSING,
    ACME_ST_VALID,
    ACME_ST_INVALID,
    ACME_ST_DEACTIVATED,
    ACME_ST_EXPIRED,
    ACME_ST_REVOKED,
} acme_status_t;

typedef struct acme_directory {
    char *new_nonce;
    char *new_account;
    char *new_order;
} acme_directory_t;

typedef struct acme_order_obj {
    acme_status_t status;
    char *finalize;
    char *certificate; /* NULL until valid */
    char **authz;      /* authorization URLs */
    size_t n_authz;
    certs_acme_problem_t error; /* type "" when the order carries no error */
} acme_order_obj_t;

typedef struct acme_authz_obj {
    acme_status_t status;
    char identifier[256];     /* the identifier's value */
    acme_status_t chal_status; /* the http-01 challenge's */
    char *chal_url;           /* NULL when there is no http-01 challenge */
    char *token;              /* validated: base64url characters only (RFC 8555 §8.3) */
    certs_acme_problem_t error; /* the http-01 challenge's error, type "" when none */
} acme_authz_obj_t;

/** Each parser takes the whole response body (not NUL-terminated necessarily) and
 *  returns 0, or -EBADMSG when it is not JSON of the expected shape (a message in err).
 *  On failure the output holds nothing to free. */
int acme_json_directory(const char *body, size_t len, acme_directory_t *out, char *err,
                        size_t errlen);
void acme_directory_clear(acme_directory_t *d);
int acme_json_order(const char *body, size_t len, acme_order_obj_t *out, char *err,
                    size_t errlen);
void acme_order_obj_clear(acme_order_obj_t *o);
int acme_json_authz(const char *body, size_t len, acme_authz_obj_t *out, char *err,
                    size_t errlen);
void acme_authz_obj_clear(acme_authz_obj_t *a);
/** An account object's status (RFC 8555 §7.1.2). */
int acme_json_account(const char *body, size_t len, acme_status_t *status);
/** Fills *out from an application/problem+json body (RFC 8555 §6.7); status is left
 *  to the caller. Returns 0 or -EBADMSG. */
int acme_json_problem(const char *body, size_t len, certs_acme_problem_t *out);
/** Seconds from a Retry-After value (RFC 9110 §10.2.3: delay-seconds or HTTP-date,
 *  relative to now), -1 when absent or unreadable. */
int64_t acme_retry_after(const char *value, int64_t now);

/* ---- signed requests (certs_acme.c) ---- */

typedef struct acme_call acme_call_t;

/** What a finished call carries; valid during the callback only. */
typedef struct acme_reply {
    int status;           /* 0, or a negative errno (transport, -EPROTO for a problem) */
    int http_status;
    const char *body;
    size_t body_len;
    const char *location; /* Location header or NULL */
    const char *retry_after;
    const certs_acme_problem_t *problem; /* set for an error status with a problem body */
    const char *error;    /* message for a failed call, "" otherwise */
} acme_reply_t;

typedef void (*acme_call_cb)(certs_acme_t *acme, const acme_reply_t *r, void *ud);

enum { ACME_CALL_KID = 0, ACME_CALL_JWK = 1 };

/** Sends a JWS POST of payload ("" = POST-as-GET) to url, signed with the kid (or the
 *  jwk for ACME_CALL_JWK), fetching a nonce first when none is pooled and retrying a
 *  badNonce a bounded number of times. cb fires exactly once, from the loop, unless the
 *  call is cancelled with acme_call_cancel first. accept may be NULL. */
acme_call_t *acme_post(certs_acme_t *acme, const char *url, const char *payload, int mode,
                       const char *accept, acme_call_cb cb, void *ud);
/** Stops a call; its callback never fires. NULL is fine. */
void acme_call_cancel(acme_call_t *call);

/** Makes sure the directory and account are there, then calls cb with status 0 (or the
 *  failure). Waiters are served in order; cb fires from the loop. Returns a handle for
 *  acme_ready_cancel. */
typedef struct acme_waiter acme_waiter_t;
acme_waiter_t *acme_when_ready(certs_acme_t *acme, acme_call_cb cb, void *ud);
void acme_ready_cancel(certs_acme_t *acme, acme_waiter_t *w);

/* What the order code needs from the client. */
const acme_directory_t *acme_dir(const certs_acme_t *acme);
EVP_PKEY *acme_key(const certs_acme_t *acme);
const certs_acme_opts_t *acme_opts(const certs_acme_t *acme);
uv_loop_t *acme_loop(const certs_acme_t *acme);
void acme_order_link(certs_acme_t *acme, certs_acme_order_t *o, int add);
void acme_count_order(certs_acme_t *acme, int valid);
/** The client's close bookkeeping: an order's timer is closing (+1) or closed (-1). */
void acme_hold(certs_acme_t *acme, int delta);
/** 1 once certs_acme_free started: no new work may begin. */
int acme_freeing(const certs_acme_t *acme);

/* certs_acme_order.c: cancel for certs_acme_free (on_done with -ECANCELED). */
void acme_order_abort(certs_acme_order_t *o, int status, const char *msg);

#endif
