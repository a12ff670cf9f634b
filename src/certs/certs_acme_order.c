/* One ACME order from newOrder to the downloaded chain (RFC 8555 §7.4-7.5), driven by the
 * replies of certs_acme.c's signed calls and one timer (deferred start, polls, the
 * caller's challenge deadline). Authorizations are handled one after the other; many
 * orders run side by side on one client. */
#include "certs/certs_acme_int.h"

#include "certs/certs_jws.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

enum { T_START, T_POLL_AUTHZ, T_POLL_ORDER, T_CHALLENGE };

struct certs_acme_order {
    certs_acme_t *acme;
    const certs_acme_order_cbs_t *cbs;
    void *ud;
    char *payload; /* the newOrder body */
    unsigned char *csr;
    size_t csr_len;
    char *url;
    acme_order_obj_t obj;
    size_t authz_i;
    acme_authz_obj_t authz;
    int serving;   /* on_challenge fired for authz.token, on_challenge_done not yet */
    int waiting;   /* for certs_acme_challenge_ready */
    int responded; /* the challenge of authz was answered */
    int finalized;
    int done;
    unsigned polls;
    int timer_use;
    uv_timer_t timer;
    acme_call_t *call;
    acme_waiter_t *waiter;
    certs_acme_problem_t problem;
};

static void order_closed(uv_handle_t *h)
{
    certs_acme_order_t *o = h->data;
    certs_acme_t *acme = o->acme;
    hc_free(o->payload);
    hc_free(o->csr);
    hc_free(o->url);
    acme_order_obj_clear(&o->obj);
    acme_authz_obj_clear(&o->authz);
    hc_free(o);
    acme_hold(acme, -1);
}

static void stop_serving(certs_acme_order_t *o)
{
    if (!o->serving)
        return;
    o->serving = 0;
    o->waiting = 0;
    if (o->cbs->on_challenge_done)
        o->cbs->on_challenge_done(o, o->authz.token, o->ud);
}

/* Ends the order: challenge cleanup, on_done, then the timer closes and frees it. */
static void order_finish(certs_acme_order_t *o, int status, const char *msg,
                         const certs_acme_problem_t *prob, const char *chain, size_t chain_len)
{
    if (o->done)
        return;
    o->done = 1;
    stop_serving(o);
    acme_call_cancel(o->call);
    o->call = NULL;
    if (o->waiter)
        acme_ready_cancel(o->acme, o->waiter);
    o->waiter = NULL;
    uv_timer_stop(&o->timer);
    acme_order_link(o->acme, o, 0);
    acme_count_order(o->acme, status == 0);
    if (status < 0)
        hc_log(HC_LOG_WARN, "acme order failed", HC_LS("order", o->url ? o->url : ""),
               HC_LS("error", msg), NULL);
    certs_acme_result_t res = {.status = status, .message = msg ? msg : "",
                               .problem = prob && prob->type[0] ? prob : NULL,
                               .chain_pem = chain, .chain_len = chain_len,
                               .order_url = o->url ? o->url : ""};
    o->cbs->on_done(o, &res, o->ud);
    uv_close((uv_handle_t *)&o->timer, order_closed);
}

void acme_order_abort(certs_acme_order_t *o, int status, const char *msg)
{
    order_finish(o, status, msg, NULL, NULL, 0);
}

static void order_fail(certs_acme_order_t *o, int status, const char *fmt, const char *what,
                       const certs_acme_problem_t *prob)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), fmt, what);
    if (prob && prob != &o->problem)
        o->problem = *prob;
    order_finish(o, status, msg, prob ? &o->problem : NULL, NULL, 0);
}

static void fail_reply(certs_acme_order_t *o, const char *step, const acme_reply_t *r)
{
    char fmt[64];
    snprintf(fmt, sizeof(fmt), "%s: %%s", step);
    order_fail(o, r->status, fmt, r->error, r->problem);
}

static void timer_cb(uv_timer_t *t);

static void arm(certs_acme_order_t *o, int use, uint64_t ms)
{
    o->timer_use = use;
    uv_timer_start(&o->timer, timer_cb, ms, 0);
}

/* Schedules the next poll (§7.5.1, §7.4): Retry-After when given, bounded, else the
 * default interval; fails the order once max_polls ran out. */
static void poll_later(certs_acme_order_t *o, int use, const acme_reply_t *r)
{
    const certs_acme_opts_t *opts = acme_opts(o->acme);
    if (++o->polls > opts->max_polls) {
        order_fail(o, -ETIMEDOUT, "%s: still not done after the maximum number of polls",
                   use == T_POLL_AUTHZ ? "authorization" : "order", NULL);
        return;
    }
    int64_t secs = r ? acme_retry_after(r->retry_after, (int64_t)time(NULL)) : -1;
    uint64_t ms = secs < 0 ? opts->poll_default_ms
                           : (uint64_t)secs > opts->poll_max_ms / 1000 ? opts->poll_max_ms
                                                                       : (uint64_t)secs * 1000;
    if (ms > opts->poll_max_ms)
        ms = opts->poll_max_ms;
    arm(o, use, ms);
}

static void post(certs_acme_order_t *o, const char *url, const char *payload,
                 const char *accept, acme_call_cb cb)
{
    o->call = acme_post(o->acme, url, payload, ACME_CALL_KID, accept, cb, o);
    if (!o->call)
        order_fail(o, -EINVAL, "cannot send a request to %s", url, NULL);
}

static void order_advance(certs_acme_order_t *o, const acme_reply_t *r);
static void authz_next(certs_acme_order_t *o);

static void download_done(certs_acme_t *acme, const acme_reply_t *r, void *ud)
{
    certs_acme_order_t *o = ud;
    o->call = NULL;
    if (r->status < 0) {
        fail_reply(o, "certificate download", r);
        return;
    }
    if (r->body_len == 0 || !strstr(r->body, "-----BEGIN CERTIFICATE-----")) {
        order_fail(o, -EBADMSG, "certificate download: %s", "no PEM certificate in the reply",
                   NULL);
        return;
    }
    hc_log(HC_LOG_INFO, "acme certificate issued", HC_LS("order", o->url), NULL);
    order_finish(o, 0, "", NULL, r->body, r->body_len);
}

static void order_reply(certs_acme_t *acme, const acme_reply_t *r, void *ud)
{
    certs_acme_order_t *o = ud;
    o->call = NULL;
    if (r->status < 0) {
        fail_reply(o, o->url ? "order" : "newOrder", r);
        return;
    }
    if (!o->url) {
        /* §7.4: the order's URL is the Location of the 201 reply. */
        if (!r->location) {
            order_fail(o, -EBADMSG, "newOrder: %s", "no Location in the reply", NULL);
            return;
        }
        o->url = hc_strdup(r->location);
    }
    char err[256];
    acme_order_obj_clear(&o->obj);
    if (acme_json_order(r->body, r->body_len, &o->obj, err, sizeof(err)) < 0) {
        order_fail(o, -EBADMSG, "%s", err, NULL);
        return;
    }
    order_advance(o, r);
}

static void finalize(certs_acme_order_t *o)
{
    /* §7.4: {"csr": base64url(DER CSR)}. */
    char *b64 = certs_jws_b64u(o->csr, o->csr_len);
    size_t n = strlen(b64) + 16;
    char *payload = hc_malloc(n);
    snprintf(payload, n, "{\"csr\":\"%s\"}", b64);
    hc_free(b64);
    o->finalized = 1;
    o->polls = 0;
    post(o, o->obj.finalize, payload, NULL, order_reply);
    hc_free(payload);
}

/* What to do with the order object just read (§7.1.6 order states). */
static void order_advance(certs_acme_order_t *o, const acme_reply_t *r)
{
    switch (o->obj.status) {
    case ACME_ST_PENDING:
        if (o->authz_i < o->obj.n_authz)
            authz_next(o);
        else
            poll_later(o, T_POLL_ORDER, r);
        return;
    case ACME_ST_READY:
        if (!o->finalized)
            finalize(o);
        else
            poll_later(o, T_POLL_ORDER, r);
        return;
    case ACME_ST_PROCESSING:
        poll_later(o, T_POLL_ORDER, r);
        return;
    case ACME_ST_VALID:
        if (!o->obj.certificate) {
            order_fail(o, -EBADMSG, "order: %s", "valid without a certificate URL", NULL);
            return;
        }
        post(o, o->obj.certificate, "", "application/pem-certificate-chain", download_done);
        return;
    default:
        order_fail(o, -EPROTO, "order: %s", o->obj.error.type[0] ? o->obj.error.detail
                                                                 : "the order is invalid",
                   o->obj.error.type[0] ? &o->obj.error : NULL);
        return;
    }
}

static void authz_reply(certs_acme_t *acme, const acme_reply_t *r, void *ud);

static void authz_fetch(certs_acme_order_t *o)
{
    post(o, o->obj.authz[o->authz_i], "", NULL, authz_reply);
}

/* Moves to the next authorization, or back to the order once all are valid. */
static void authz_next(certs_acme_order_t *o)
{
    o->responded = 0;
    o->polls = 0;
    if (o->authz_i >= o->obj.n_authz) {
        post(o, o->url, "", NULL, order_reply);
        return;
    }
    authz_fetch(o);
}

/* A pending authorization: hand its HTTP-01 token to the caller (§8.3). */
static void authz_challenge(certs_acme_order_t *o)
{
    if (!o->authz.chal_url) {
        order_fail(o, -ENOTSUP, "authorization for %s: the server offers no http-01 challenge",
                   o->authz.identifier, NULL);
        return;
    }
    char *key_auth = NULL;
    if (certs_jws_key_authz(acme_key(o->acme), o->authz.token, &key_auth) < 0) {
        order_fail(o, -EIO, "%s: cannot compute the key authorization", o->authz.identifier,
                   NULL);
        return;
    }
    o->serving = 1;
    o->waiting = 1;
    arm(o, T_CHALLENGE, acme_opts(o->acme)->challenge_timeout_ms);
    o->cbs->on_challenge(o, o->authz.identifier, o->authz.token, key_auth, o->ud);
    hc_free(key_auth);
}

static void authz_reply(certs_acme_t *acme, const acme_reply_t *r, void *ud)
{
    certs_acme_order_t *o = ud;
    o->call = NULL;
    if (r->status < 0) {
        fail_reply(o, "authorization", r);
        return;
    }
    char err[256];
    int serving = o->serving;
    char *keep_token = serving ? hc_strdup(o->authz.token) : NULL;
    acme_authz_obj_clear(&o->authz);
    int rc = acme_json_authz(r->body, r->body_len, &o->authz, err, sizeof(err));
    /* The token being served stays the one on_challenge_done reports. */
    if (serving) {
        hc_free(o->authz.token);
        o->authz.token = keep_token;
    }
    if (rc < 0) {
        order_fail(o, -EBADMSG, "%s", err, NULL);
        return;
    }
    switch (o->authz.status) {
    case ACME_ST_VALID: /* already valid (pebble reuses authorizations) or just validated */
        stop_serving(o);
        o->authz_i++;
        authz_next(o);
        return;
    case ACME_ST_PENDING:
        if (!o->responded)
            authz_challenge(o);
        else
            poll_later(o, T_POLL_AUTHZ, r);
        return;
    default: {
        const certs_acme_problem_t *p = o->authz.error.type[0] ? &o->authz.error : NULL;
        char msg[800];
        snprintf(msg, sizeof(msg), "%s %s", o->authz.identifier,
                 p ? p->detail : "authorization is not valid");
        order_fail(o, -EPROTO, "challenge failed for %s", msg, p);
        return;
    }
    }
}

static void respond_reply(certs_acme_t *acme, const acme_reply_t *r, void *ud)
{
    certs_acme_order_t *o = ud;
    o->call = NULL;
    if (r->status < 0) {
        fail_reply(o, "challenge", r);
        return;
    }
    o->responded = 1;
    o->polls = 0;
    poll_later(o, T_POLL_AUTHZ, r);
}

int certs_acme_challenge_ready(certs_acme_order_t *order, const char *token, int status)
{
    if (!order || order->done || !order->waiting || !token || !order->authz.token ||
        strcmp(token, order->authz.token) != 0)
        return -ENOENT;
    order->waiting = 0;
    uv_timer_stop(&order->timer);
    if (status < 0) {
        order_fail(order, status, "challenge for %s: the solver could not serve it",
                   order->authz.identifier, NULL);
        return 0;
    }
    /* §7.5.1: the client says it is ready by POSTing an empty object to the challenge. */
    post(order, order->authz.chal_url, "{}", NULL, respond_reply);
    return 0;
}

static void ready_cb(certs_acme_t *acme, const acme_reply_t *r, void *ud)
{
    certs_acme_order_t *o = ud;
    o->waiter = NULL;
    if (o->done) /* ended by an earlier waiter's callback; its timer is closing */
        return;
    if (r->status < 0) {
        fail_reply(o, "account", r);
        return;
    }
    post(o, acme_dir(acme)->new_order, o->payload, NULL, order_reply);
}

static void timer_cb(uv_timer_t *t)
{
    certs_acme_order_t *o = t->data;
    switch (o->timer_use) {
    case T_START:
        o->waiter = acme_when_ready(o->acme, ready_cb, o);
        return;
    case T_POLL_AUTHZ:
        authz_fetch(o);
        return;
    case T_POLL_ORDER:
        post(o, o->url, "", NULL, order_reply);
        return;
    case T_CHALLENGE:
        order_fail(o, -ETIMEDOUT, "challenge for %s: not served before the deadline",
                   o->authz.identifier, NULL);
        return;
    }
}

/* {"identifiers":[{"type":"dns","value":...},{"type":"ip","value":...}]} (§7.4, RFC
 * 8738 §3 for "ip"). */
static char *identifiers_payload(const char *const *dns, size_t n_dns, const char *const *ips,
                                 size_t n_ips)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n_dns; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s}", "type", "dns", "value", dns[i]));
    for (size_t i = 0; i < n_ips; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s}", "type", "ip", "value", ips[i]));
    json_t *root = json_pack("{s:o}", "identifiers", arr);
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    char *copy = s ? hc_strdup(s) : NULL;
    free(s);
    return copy;
}

int certs_acme_order_start(certs_acme_t *acme, const char *const *dns, size_t n_dns,
                           const char *const *ips, size_t n_ips, const unsigned char *csr_der,
                           size_t csr_len, const certs_acme_order_cbs_t *cbs, void *ud,
                           certs_acme_order_t **out)
{
    if (!acme || acme_freeing(acme) || n_dns + n_ips == 0 || !csr_der || !csr_len || !cbs ||
        !cbs->on_challenge || !cbs->on_done)
        return -EINVAL;
    for (size_t i = 0; i < n_dns; i++)
        if (!dns[i] || !*dns[i])
            return -EINVAL;
    for (size_t i = 0; i < n_ips; i++)
        if (!ips[i] || !*ips[i])
            return -EINVAL;
    char *payload = identifiers_payload(dns, n_dns, ips, n_ips);
    if (!payload)
        return -EINVAL;
    certs_acme_order_t *o = hc_calloc(1, sizeof(*o));
    o->acme = acme;
    o->cbs = cbs;
    o->ud = ud;
    o->payload = payload;
    o->csr = hc_memdup(csr_der, csr_len);
    o->csr_len = csr_len;
    uv_timer_init(acme_loop(acme), &o->timer);
    o->timer.data = o;
    acme_hold(acme, 1);
    acme_order_link(acme, o, 1);
    arm(o, T_START, 0);
    if (out)
        *out = o;
    return 0;
}

void certs_acme_order_cancel(certs_acme_order_t *order)
{
    if (order)
        order_finish(order, -ECANCELED, "cancelled", NULL, NULL, 0);
}
