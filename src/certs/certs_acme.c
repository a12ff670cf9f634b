/* The ACME client's connection to one server (see certs_acme.h): directory, the nonce
 * pool, signed requests with badNonce retry, and the account (found or created once,
 * shared by every order). The order state machine is in certs_acme_order.c. */
#include "certs/certs_acme_int.h"

#include "certs/certs_jws.h"
#include "core/hc_alloc.h"
#include "core/hc_err.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#define NONCE_POOL 8
#define NONCE_MAX 256
#define BODY_MAX (1024 * 1024)
#define USER_AGENT "hearth-certs/" HEARTH_VERSION

struct acme_waiter {
    acme_call_cb cb;
    void *ud;
    acme_waiter_t *next;
};

enum { SETUP_NONE, SETUP_RUNNING, SETUP_DONE };

struct certs_acme {
    uv_loop_t *loop;
    hc_http_client_t *http;
    hc_tls_ctx_t *tls; /* only with a caBundle */
    certs_acme_opts_t opts;
    EVP_PKEY *key;
    acme_directory_t dir;
    char *kid;
    char *nonces[NONCE_POOL];
    size_t n_nonces;
    int setup;
    hc_http_client_req_t *dir_req;
    acme_call_t *setup_call;
    int setup_status;
    char setup_err[512];
    certs_acme_problem_t setup_problem;
    acme_waiter_t *waiters;
    uv_timer_t kick;
    certs_acme_order_t **orders;
    size_t n_orders;
    int holds;
    int freeing;
    certs_acme_stats_t stats;
};

struct acme_call {
    certs_acme_t *acme;
    char *url;
    char *payload;
    char *accept;
    int mode;
    unsigned bad_nonce;
    acme_call_cb cb;
    void *ud;
    hc_http_client_req_t *req;
};

static void acme_maybe_free(certs_acme_t *acme);

/* ---- nonces (RFC 8555 §7.2): every response may carry a fresh Replay-Nonce ---- */

static void nonce_keep(certs_acme_t *acme, hc_http_client_req_t *req)
{
    const hc_http_response_t *res = hc_http_client_req_response(req);
    const char *n = res ? hc_http_response_header(res, "Replay-Nonce") : NULL;
    /* §6.5.1: the value is base64url; anything else is not stored. */
    if (!n || !*n || strlen(n) > NONCE_MAX || strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(n))
        return;
    if (acme->n_nonces == NONCE_POOL) {
        hc_free(acme->nonces[0]);
        memmove(acme->nonces, acme->nonces + 1, (NONCE_POOL - 1) * sizeof(char *));
        acme->n_nonces--;
    }
    acme->nonces[acme->n_nonces++] = hc_strdup(n);
}

static char *nonce_take(certs_acme_t *acme)
{
    return acme->n_nonces ? acme->nonces[--acme->n_nonces] : NULL;
}

/* ---- signed calls ---- */

static void call_free(acme_call_t *c)
{
    hc_free(c->url);
    hc_free(c->payload);
    hc_free(c->accept);
    hc_free(c);
}

static void call_finish(acme_call_t *c, const acme_reply_t *r)
{
    acme_call_cb cb = c->cb;
    void *ud = c->ud;
    certs_acme_t *acme = c->acme;
    call_free(c);
    if (cb)
        cb(acme, r, ud);
}

static void call_fail(acme_call_t *c, int status, const char *msg)
{
    acme_reply_t r = {.status = status, .error = msg};
    call_finish(c, &r);
}

static int call_step(acme_call_t *c);

static void call_done(hc_http_client_req_t *req, int status, void *ud)
{
    acme_call_t *c = ud;
    certs_acme_t *acme = c->acme;
    c->req = NULL;
    if (!c->cb) {
        call_free(c);
        return;
    }
    if (status < 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s: %s", c->url, hc_http_client_req_error(req));
        call_fail(c, status, msg);
        return;
    }
    nonce_keep(acme, req);
    const hc_http_response_t *res = hc_http_client_req_response(req);
    size_t len = 0;
    const char *body = hc_http_client_req_body(req, &len);
    acme_reply_t r = {.http_status = res->status, .body = body, .body_len = len,
                      .location = hc_http_response_header(res, "Location"),
                      .retry_after = hc_http_response_header(res, "Retry-After"), .error = ""};
    certs_acme_problem_t prob = {.status = res->status};
    if (res->status >= 400) {
        char msg[800];
        if (acme_json_problem(body, len, &prob) < 0)
            snprintf(prob.detail, sizeof(prob.detail), "HTTP %d without a problem document",
                     res->status);
        /* RFC 8555 §6.5: a badNonce is retried with the nonce from its own response. */
        if (strcmp(prob.type, "urn:ietf:params:acme:error:badNonce") == 0 &&
            c->bad_nonce < acme->opts.max_bad_nonce) {
            c->bad_nonce++;
            acme->stats.bad_nonce_retries++;
            hc_log(HC_LOG_DEBUG, "acme badNonce, retrying", HC_LS("url", c->url), NULL);
            if (call_step(c) < 0)
                call_fail(c, -EIO, "cannot sign the retried request");
            return;
        }
        snprintf(msg, sizeof(msg), "%s: %s %s", c->url, prob.type, prob.detail);
        r.status = -EPROTO;
        r.problem = &prob;
        r.error = msg;
        call_finish(c, &r);
        return;
    }
    call_finish(c, &r);
}

static const hc_http_client_req_cbs_t call_cbs = {.on_done = call_done};

static void nonce_done(hc_http_client_req_t *req, int status, void *ud)
{
    acme_call_t *c = ud;
    c->req = NULL;
    if (!c->cb) {
        call_free(c);
        return;
    }
    if (status == 0)
        nonce_keep(c->acme, req);
    if (c->acme->n_nonces == 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "newNonce: %s",
                 status < 0 ? hc_http_client_req_error(req) : "no Replay-Nonce in the reply");
        call_fail(c, status < 0 ? status : -EBADMSG, msg);
        return;
    }
    if (call_step(c) < 0)
        call_fail(c, -EIO, "cannot sign the request");
}

static const hc_http_client_req_cbs_t nonce_cbs = {.on_done = nonce_done};

static void base_opts(certs_acme_t *acme, hc_http_client_req_opts_t *o, const char *url)
{
    memset(o, 0, sizeof(*o));
    o->url = url;
    o->collect_max = BODY_MAX;
    o->total_timeout_ms = acme->opts.request_timeout_ms;
    o->connect_timeout_ms = acme->opts.request_timeout_ms;
    o->header_timeout_ms = acme->opts.request_timeout_ms;
    o->tls = acme->tls;
}

/* Sends the call: a HEAD newNonce first when the pool is empty (§7.2), else the JWS. */
static int call_step(acme_call_t *c)
{
    certs_acme_t *acme = c->acme;
    hc_http_client_req_opts_t o;
    hc_http_client_header_t h[3] = {{"User-Agent", USER_AGENT},
                                    {"Content-Type", "application/jose+json"},
                                    {"Accept", c->accept}};
    char *nonce = nonce_take(acme);
    acme->stats.requests++;
    if (!nonce) {
        base_opts(acme, &o, acme->dir.new_nonce);
        o.method = "HEAD";
        o.headers = h;
        o.n_headers = 1;
        return hc_http_client_request(acme->http, &o, &nonce_cbs, c, &c->req);
    }
    char *body = NULL;
    size_t blen = 0;
    int rc = certs_jws_sign(acme->key, c->mode == ACME_CALL_JWK ? NULL : acme->kid, nonce,
                            c->url, c->payload, &body, &blen);
    hc_free(nonce);
    if (rc < 0)
        return rc;
    base_opts(acme, &o, c->url);
    o.method = "POST";
    o.headers = h;
    o.n_headers = c->accept ? 3 : 2;
    o.body = body;
    o.body_len = blen;
    rc = hc_http_client_request(acme->http, &o, &call_cbs, c, &c->req);
    hc_free(body);
    return rc;
}

acme_call_t *acme_post(certs_acme_t *acme, const char *url, const char *payload, int mode,
                       const char *accept, acme_call_cb cb, void *ud)
{
    if (!url || (mode == ACME_CALL_KID && !acme->kid))
        return NULL;
    acme_call_t *c = hc_calloc(1, sizeof(*c));
    c->acme = acme;
    c->url = hc_strdup(url);
    c->payload = hc_strdup(payload);
    c->accept = accept ? hc_strdup(accept) : NULL;
    c->mode = mode;
    c->cb = cb;
    c->ud = ud;
    if (call_step(c) < 0) {
        call_free(c);
        return NULL;
    }
    return c;
}

void acme_call_cancel(acme_call_t *call)
{
    if (!call)
        return;
    call->cb = NULL;
    if (call->req)
        hc_http_client_req_cancel(call->req); /* on_done frees the call */
    else
        call_free(call);
}

/* ---- setup: directory (§7.1.1), then the account (§7.3) ---- */

static void kick_cb(uv_timer_t *t)
{
    certs_acme_t *acme = t->data;
    if (acme->setup == SETUP_RUNNING)
        return;
    acme_reply_t r = {.status = acme->setup_status, .error = acme->setup_err,
                      .problem = acme->setup_problem.type[0] ? &acme->setup_problem : NULL};
    /* Serve the waiters present now; a failed setup is retried by the next waiter. */
    acme_waiter_t *w = acme->waiters;
    acme->waiters = NULL;
    if (acme->setup_status < 0)
        acme->setup = SETUP_NONE;
    while (w) {
        acme_waiter_t *next = w->next;
        acme_call_cb cb = w->cb;
        void *ud = w->ud;
        hc_free(w);
        cb(acme, &r, ud);
        w = next;
    }
}

static void setup_end(certs_acme_t *acme, int status, const char *msg,
                      const certs_acme_problem_t *prob)
{
    acme->setup = SETUP_DONE;
    acme->setup_status = status;
    snprintf(acme->setup_err, sizeof(acme->setup_err), "%s", status < 0 ? msg : "");
    memset(&acme->setup_problem, 0, sizeof(acme->setup_problem));
    if (prob)
        acme->setup_problem = *prob;
    if (status < 0)
        hc_log(HC_LOG_WARN, "acme account setup failed", HC_LS("error", msg), NULL);
    uv_timer_start(&acme->kick, kick_cb, 0, 0);
}

static void account_done(certs_acme_t *acme, const acme_reply_t *r, void *ud);

static void account_create(certs_acme_t *acme)
{
    /* §7.3: agree to the terms, contact as a mailto: URL; jansson escapes the address. */
    json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
    if (acme->opts.email && *acme->opts.email) {
        char mail[320];
        snprintf(mail, sizeof(mail), "mailto:%s", acme->opts.email);
        json_object_set_new(p, "contact", json_pack("[s]", mail));
    }
    char *dumped = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    char *payload = hc_strdup(dumped ? dumped : "{}");
    free(dumped);
    acme->setup_call = acme_post(acme, acme->dir.new_account, payload, ACME_CALL_JWK, NULL,
                                 account_done, (void *)1);
    hc_free(payload);
    if (!acme->setup_call)
        setup_end(acme, -EIO, "newAccount: cannot sign the request", NULL);
}

/* ud is 0 for the onlyReturnExisting lookup, 1 for the creation. */
static void account_done(certs_acme_t *acme, const acme_reply_t *r, void *ud)
{
    acme->setup_call = NULL;
    if (!ud && r->status == -EPROTO && r->problem &&
        strcmp(r->problem->type, "urn:ietf:params:acme:error:accountDoesNotExist") == 0) {
        account_create(acme);
        return;
    }
    if (r->status < 0) {
        setup_end(acme, r->status, r->error, r->problem);
        return;
    }
    acme_status_t st = ACME_ST_UNKNOWN;
    if (!r->location || acme_json_account(r->body, r->body_len, &st) < 0 ||
        st != ACME_ST_VALID) {
        setup_end(acme, -EBADMSG, "newAccount: no Location or the account is not valid", NULL);
        return;
    }
    hc_free(acme->kid);
    acme->kid = hc_strdup(r->location);
    hc_log(HC_LOG_INFO, "acme account ready", HC_LS("account", acme->kid), NULL);
    setup_end(acme, 0, "", NULL);
}

static void account_start(certs_acme_t *acme)
{
    if (!acme->opts.key_existing) {
        account_create(acme);
        return;
    }
    /* §7.3.1: a client that has a key but not its URL asks with onlyReturnExisting. */
    acme->setup_call = acme_post(acme, acme->dir.new_account, "{\"onlyReturnExisting\":true}",
                                 ACME_CALL_JWK, NULL, account_done, NULL);
    if (!acme->setup_call)
        setup_end(acme, -EIO, "newAccount: cannot sign the request", NULL);
}

static void dir_done(hc_http_client_req_t *req, int status, void *ud)
{
    certs_acme_t *acme = ud;
    char msg[512];
    acme->dir_req = NULL;
    if (status == -ECANCELED && acme->freeing)
        return;
    if (status < 0) {
        snprintf(msg, sizeof(msg), "directory %s: %s", acme->opts.directory_url,
                 hc_http_client_req_error(req));
        setup_end(acme, status, msg, NULL);
        return;
    }
    nonce_keep(acme, req);
    size_t len = 0;
    const char *body = hc_http_client_req_body(req, &len);
    int code = hc_http_client_req_response(req)->status;
    acme_directory_clear(&acme->dir);
    if (code != 200 || acme_json_directory(body, len, &acme->dir, msg, sizeof(msg)) < 0) {
        if (code != 200)
            snprintf(msg, sizeof(msg), "directory %s: HTTP %d", acme->opts.directory_url, code);
        setup_end(acme, -EBADMSG, msg, NULL);
        return;
    }
    account_start(acme);
}

static const hc_http_client_req_cbs_t dir_cbs = {.on_done = dir_done};

static void setup_start(certs_acme_t *acme)
{
    acme->setup = SETUP_RUNNING;
    hc_http_client_req_opts_t o;
    hc_http_client_header_t h = {"User-Agent", USER_AGENT};
    base_opts(acme, &o, acme->opts.directory_url);
    o.headers = &h;
    o.n_headers = 1;
    acme->stats.requests++;
    if (hc_http_client_request(acme->http, &o, &dir_cbs, acme, &acme->dir_req) < 0)
        setup_end(acme, -EINVAL, "directory: bad URL", NULL);
}

acme_waiter_t *acme_when_ready(certs_acme_t *acme, acme_call_cb cb, void *ud)
{
    acme_waiter_t *w = hc_calloc(1, sizeof(*w));
    w->cb = cb;
    w->ud = ud;
    acme_waiter_t **p = &acme->waiters;
    while (*p)
        p = &(*p)->next;
    *p = w;
    if (acme->setup == SETUP_NONE)
        setup_start(acme);
    else if (acme->setup == SETUP_DONE)
        uv_timer_start(&acme->kick, kick_cb, 0, 0);
    return w;
}

void acme_ready_cancel(certs_acme_t *acme, acme_waiter_t *w)
{
    for (acme_waiter_t **p = &acme->waiters; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            hc_free(w);
            return;
        }
}

/* ---- lifecycle ---- */

static char *dup_or_null(const char *s)
{
    return s ? hc_strdup(s) : NULL;
}

certs_acme_t *certs_acme_new(uv_loop_t *loop, const certs_acme_opts_t *opts, char *err,
                             size_t errlen)
{
    if (!opts->directory_url || strncmp(opts->directory_url, "http", 4) != 0) {
        hc_errf(err, errlen, -EINVAL, "ACME server URL missing or not http(s)");
        return NULL;
    }
    if (!certs_jws_alg(opts->account_key)) {
        hc_errf(err, errlen, -EINVAL, "the ACME account key must be EC P-256 or RSA");
        return NULL;
    }
    certs_acme_t *a = hc_calloc(1, sizeof(*a));
    a->loop = loop;
    a->opts = *opts;
    a->opts.directory_url = hc_strdup(opts->directory_url);
    a->opts.email = dup_or_null(opts->email);
    a->opts.ca_file = dup_or_null(opts->ca_file);
    a->opts.ca_pem = NULL;
    a->opts.ca_pem_len = 0;
    if (!a->opts.request_timeout_ms)
        a->opts.request_timeout_ms = 30000;
    if (!a->opts.challenge_timeout_ms)
        a->opts.challenge_timeout_ms = 300000;
    if (!a->opts.max_bad_nonce)
        a->opts.max_bad_nonce = 5;
    if (!a->opts.max_polls)
        a->opts.max_polls = 60;
    if (!a->opts.poll_default_ms)
        a->opts.poll_default_ms = 1000;
    if (!a->opts.poll_max_ms)
        a->opts.poll_max_ms = 30000;
    EVP_PKEY_up_ref(opts->account_key);
    a->key = opts->account_key;
    uv_timer_init(loop, &a->kick);
    a->kick.data = a;
    a->holds = 1; /* the kick timer */
    if (opts->ca_pem && opts->ca_pem_len) {
        a->tls = hc_tls_client_new(opts->ca_file, !opts->insecure_skip_verify, err, errlen);
        if (!a->tls ||
            hc_tls_client_add_ca_pem(a->tls, opts->ca_pem, opts->ca_pem_len, err, errlen) < 0)
            goto fail;
    }
    hc_http_client_opts_t ho = {.ca_file = a->opts.ca_file,
                                .insecure_skip_verify = opts->insecure_skip_verify};
    a->http = hc_http_client_new(loop, &ho, err, errlen);
    if (!a->http)
        goto fail;
    return a;
fail:
    certs_acme_free(a);
    return NULL;
}

static void kick_closed(uv_handle_t *h)
{
    certs_acme_t *acme = h->data;
    acme_hold(acme, -1);
}

void certs_acme_free(certs_acme_t *acme)
{
    if (!acme || acme->freeing)
        return;
    acme->freeing = 1;
    while (acme->n_orders)
        acme_order_abort(acme->orders[acme->n_orders - 1], -ECANCELED, "client closed");
    acme_call_cancel(acme->setup_call);
    acme->setup_call = NULL;
    if (acme->dir_req)
        hc_http_client_req_cancel(acme->dir_req);
    while (acme->waiters)
        acme_ready_cancel(acme, acme->waiters);
    hc_http_client_free(acme->http);
    acme->http = NULL;
    uv_close((uv_handle_t *)&acme->kick, kick_closed);
}

static void acme_maybe_free(certs_acme_t *acme)
{
    if (!acme->freeing || acme->holds > 0)
        return;
    hc_tls_ctx_unref(acme->tls);
    for (size_t i = 0; i < acme->n_nonces; i++)
        hc_free(acme->nonces[i]);
    acme_directory_clear(&acme->dir);
    hc_free(acme->kid);
    hc_free(acme->orders);
    hc_free((char *)acme->opts.directory_url);
    hc_free((char *)acme->opts.email);
    hc_free((char *)acme->opts.ca_file);
    EVP_PKEY_free(acme->key);
    hc_free(acme);
}

void acme_hold(certs_acme_t *acme, int delta)
{
    acme->holds += delta;
    acme_maybe_free(acme);
}

void acme_order_link(certs_acme_t *acme, certs_acme_order_t *o, int add)
{
    if (add) {
        acme->orders = hc_realloc(acme->orders, (acme->n_orders + 1) * sizeof(*acme->orders));
        acme->orders[acme->n_orders++] = o;
        acme->stats.orders_started++;
        return;
    }
    for (size_t i = 0; i < acme->n_orders; i++)
        if (acme->orders[i] == o) {
            acme->orders[i] = acme->orders[--acme->n_orders];
            return;
        }
}

void acme_count_order(certs_acme_t *acme, int valid)
{
    if (valid)
        acme->stats.orders_valid++;
    else
        acme->stats.orders_failed++;
}

const acme_directory_t *acme_dir(const certs_acme_t *acme) { return &acme->dir; }
EVP_PKEY *acme_key(const certs_acme_t *acme) { return acme->key; }
const certs_acme_opts_t *acme_opts(const certs_acme_t *acme) { return &acme->opts; }
uv_loop_t *acme_loop(const certs_acme_t *acme) { return acme->loop; }
int acme_freeing(const certs_acme_t *acme) { return acme->freeing; }

const char *certs_acme_account_url(const certs_acme_t *acme)
{
    return acme->setup == SETUP_DONE && acme->setup_status == 0 ? acme->kid : NULL;
}

void certs_acme_stats_get(const certs_acme_t *acme, certs_acme_stats_t *out)
{
    *out = acme->stats;
}
