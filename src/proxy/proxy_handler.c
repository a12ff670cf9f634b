/* One request on a worker (proxy_service_int.h): route match on the entry point's table
 * of the worker's generation (404 "404 page not found" when none), the router's
 * middlewares in order (rateLimit waits on a timer, forwardAuth calls out through
 * hc_http_client, compress negotiates), then proxy_upstream_forward, whose hooks run the
 * response middlewares in reverse and compress the body as it streams; an errors
 * middleware's caught status becomes a second forward, for its page; at the end one
 * access-log line and the metrics. Middlewares themselves: mw_*.c; forwarding:
 * proxy_upstream.h. */
#include "proxy/proxy_service_int.h"

#include "core/hc_alloc.h"
#include "core/hc_http_parse.h"
#include "core/hc_log.h"
#include "proxy/mw_buffering.h"
#include "proxy/mw_circuitbreaker.h"
#include "proxy/mw_compress.h"
#include "proxy/mw_errors.h"
#include "proxy/mw_forwardauth.h"
#include "proxy/mw_tlscert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#define FREE_RQ_MAX 256u
#define STORE_MAX (1024u * 1024u) /* the packed request fields; the server caps them lower */
#define STORE_KEEP 8192u          /* store capacity a recycled state keeps */
#define STORE_SPARE 1024u         /* store room left for what middlewares add */
#define PACK_STRINGS 96u          /* store room for the method, scheme and peer address */
#define AUTH_TIMEOUT_MS 30000 /* Traefik forwardAuth's client timeout */

enum { PH_MW, PH_WAIT, PH_FORWARD, PH_DONE };

/* The per-request state; recycled through the worker's free list. */
struct proxy_rq {
    proxy_rq_t *next_free;
    proxy_worker_t *w;
    proxy_ep_t *ep;
    hc_http_req_t *req; /* NULL once the client went away */
    proxy_gen_t *gen;   /* the generation the request started with (a reference) */
    const proxy_router_t *router;
    const proxy_gen_chain_t *chain;
    size_t next_mw;
    int phase;
    proxy_mw_req_t mw;
    hc_buf_t store;               /* mw's header names and values, packed; kept when recycled */
    proxy_mw_headers_t spare;     /* mw's header array while the state is recycled */
    proxy_mw_resp_t resp;
    proxy_mw_headers_t auth_cookies;
    uv_timer_t *timer;                /* rateLimit delay; closes itself */
    hc_http_client_req_t *auth;       /* forwardAuth call in flight */
    const void *compress_cfg;         /* the first compress middleware */
    proxy_mw_encoding_t enc;
    proxy_mw_compressor_t *z;
    uint64_t resp_seen; /* response body bytes counted against the chain's resp_max */
    size_t err_mw;  /* 1 + the chain index of the errors middleware that caught a status */
    int err_status; /* the status it caught */
    int err_origin; /* the upstream's status when it caught the upstream's answer */
    uint64_t err_origin_size; /* and the size of that answer's body */
    unsigned err_retries; /* the retries before that answer */
    const char *err_service; /* the service that gave that answer (of gen's configuration) */
    uint64_t cb_counted;  /* chain positions whose circuit breaker counted this request */
    int64_t start_wall_ns;
    unsigned long long log_count; /* RequestCount, taken as the request is routed (Traefik's
                                     access log handler numbers it then), 0 until */
    uint64_t start_ns;
    int unobserved;          /* refused where Traefik has no handler yet: not counted, not
                                logged */
    int grpc;                /* protocol is grpc or grpc-web */
    int grpc_status;         /* 1 + the code label of the response's Grpc-Status (grpc_code);
                                0: no response of the service */
    uint64_t svc_end_ns;     /* when an errors middleware took the service's answer over
                                (its page is not the service's time); 0: at the end */
    uint64_t svc_start_ns;   /* when the forward began: the service series' duration starts
                                there, past the router's middlewares, as Traefik's service
                                metrics handler wraps the service alone */
    char client_addr[64];    /* "ip:port", filled only when there is an access log */
    char peer_ip[48];
    char *target;            /* the request-target as received; access log only, else NULL */
    char *client_xff;        /* a trusted X-Forwarded-For as received (ClientHost); access
                                log only, else NULL */
    int http10;              /* an HTTP/1.0 request (RequestProtocol) */
    char *tls_subject;       /* the client certificate's subject; access log only */
    const char *protocol;    /* the metrics' protocol label, from the request's fields */
    uint64_t request_size;   /* body bytes the service's forward read from the client */
    const char *tls_version; /* static strings of the TLS library, NULL when plain */
    const char *tls_cipher;
};

static void run_middlewares(proxy_rq_t *rq);

/* ---- state ---- */

static proxy_rq_t *rq_get(proxy_worker_t *w)
{
    proxy_rq_t *rq = w->free_rq;
    if (rq) {
        w->free_rq = rq->next_free;
        w->nfree_rq--;
        hc_buf_t store = rq->store;
        proxy_mw_headers_t spare = rq->spare;
        memset(rq, 0, sizeof(*rq));
        rq->store = store;
        rq->spare = spare;
    } else {
        rq = hc_calloc(1, sizeof(*rq));
        hc_buf_init(&rq->store, STORE_MAX);
    }
    rq->w = w;
    return rq;
}

static void rq_free(proxy_rq_t *rq)
{
    proxy_mw_headers_free(&rq->spare);
    hc_buf_free(&rq->store);
    hc_free(rq);
}

static void rq_put(proxy_rq_t *rq)
{
    proxy_worker_t *w = rq->w;
    proxy_mw_headers_clear(&rq->mw.headers);
    rq->spare = rq->mw.headers; /* the next request reuses the array */
    rq->mw.headers = (proxy_mw_headers_t){0};
    proxy_mw_req_free(&rq->mw);
    hc_buf_reset(&rq->store);
    if (rq->store.cap > STORE_KEEP)
        hc_buf_free(&rq->store);
    proxy_mw_resp_free(&rq->resp);
    proxy_mw_headers_free(&rq->auth_cookies);
    proxy_mw_compressor_free(rq->z);
    hc_free(rq->target);
    hc_free(rq->client_xff);
    hc_free(rq->tls_subject);
    proxy_gen_unref(rq->gen);
    if (w->nfree_rq >= FREE_RQ_MAX) {
        rq_free(rq);
        return;
    }
    rq->next_free = w->free_rq;
    w->free_rq = rq;
    w->nfree_rq++;
}

void proxy_handler_worker_free(proxy_worker_t *w)
{
    while (w->free_rq) {
        proxy_rq_t *rq = w->free_rq;
        w->free_rq = rq->next_free;
        rq_free(rq);
    }
    w->nfree_rq = 0;
}

/* ---- the end of a request: access log and metrics ---- */

static const char *tls_version_short(const char *v)
{
    return v && !strncmp(v, "TLSv", 4) ? v + 4 : v;
}

_Static_assert(PROXY_GEN_MAX_MWS <= 64, "cb_counted and errors_at have a bit per position");

/* Counts status in the circuit breaker at chain position e (if any), once per request. */
static void breaker_count(proxy_rq_t *rq, size_t e, int status)
{
    proxy_mw_cb_t *cb = rq->chain && rq->chain->breakers ? rq->chain->breakers[e] : NULL;
    if (!cb || (rq->cb_counted >> e & 1))
        return;
    rq->cb_counted |= 1ull << e;
    uint64_t now = uv_hrtime();
    proxy_mw_cb_record(cb, status, now - rq->start_ns, now);
}

/* Traefik's text for its 499 (StatusClientClosedRequestText). */
#define CLIENT_CLOSED "Client Closed Request"

static void finish(proxy_rq_t *rq, const proxy_fwd_result_t *res, int status)
{
    proxy_worker_t *w = rq->w;
    uint64_t end = uv_hrtime(), dur = end - rq->start_ns;
    const char *tv = rq->tls_version, *tc = rq->tls_cipher;
    /* the service whose server was tried, as Traefik sets ServiceName and counts service
     * metrics per server: none for answers of middlewares or for no server at all */
    const char *svc = res ? res->service_name : NULL;
    const char *ep = rq->ep->idx == PROXY_GEN_WEB ? PROXY_EP_WEB : PROXY_EP_WEBSECURE;
    int code = res ? res->downstream_status : status;
    int origin = res ? res->origin_status : 0;
    uint64_t origin_size = res ? res->origin_content_size : 0;
    uint64_t size = res ? res->downstream_content_size : rq->resp.body.len;
    if (!code) { /* the client left before any answer: Traefik's 499 */
        code = 499;
        if (svc) { /* inside the server's handler, whose error handler writes it, with its
                      text, to the connection that is gone */
            origin = 499;
            origin_size = size = sizeof(CLIENT_CLOSED) - 1;
        }
    }
    const char *proto = rq->protocol; /* from the request's fields, as Traefik's: another
                                         protocol's upgrade is http (or grpc) too */
    int label = !rq->grpc ? code : rq->grpc_status ? rq->grpc_status - 1 : 2;
    /* breakers the request passed that saw no answer on its way out (the client left:
     * 499, as Traefik records a cancelled request; the server's own 413) */
    for (size_t e = 0; rq->chain && rq->chain->breakers && e < rq->next_mw; e++)
        breaker_count(rq, e, code);
    if (w->log && !rq->unobserved && !(rq->router && rq->router->no_access_log)) {
        proxy_accesslog_entry_t e = {
            .start_ns = rq->start_wall_ns,
            .duration_ns = dur,
            .origin_duration_ns = res ? res->origin_duration_ns : 0,
            .client_addr = rq->client_addr,
            .client_host = rq->client_xff,
            .protocol = rq->http10 ? "HTTP/1.0" : "HTTP/1.1",
            .client_user = rq->mw.user,
            .method = rq->mw.method,
            .host = rq->mw.host,
            .target = rq->target,
            .request_count = rq->log_count ? rq->log_count : proxy_accesslog_count(),
            .tls = rq->tls_version != NULL,
            .tls_version = tv,
            .tls_cipher = tc,
            .tls_subject = rq->tls_subject,
            .entrypoint = ep,
            .router = rq->router ? rq->router->name : NULL,
            .service = svc,
            .service_url = res ? res->service_url : NULL,
            .service_addr = res ? res->service_addr : NULL,
            .downstream_status = code,
            .origin_status = origin,
            .request_size = rq->request_size,
            .origin_size = origin_size,
            .downstream_size = size,
            .retry_attempts = res ? res->retry_attempts : 0,
        };
        proxy_accesslog_write(w->log, &e);
    }
    /* service series count what reached the service (Traefik wraps only the service
     * handler): not the answers of middlewares, nor an errors page standing for one */
    proxy_metrics_req_t m = {
        .entrypoint = ep,
        .service = !rq->err_mw || rq->err_origin ? svc : NULL,
        .method = rq->mw.method ? rq->mw.method : "GET",
        .protocol = proto,
        .code = label, /* a gRPC call's: its status code */
        .seconds = (double)dur / 1e9,
        .svc_seconds =
            (double)(rq->svc_start_ns ? (rq->svc_end_ns ? rq->svc_end_ns : end) - rq->svc_start_ns
                                      : dur) /
            1e9,
        .req_bytes = rq->request_size,
        .resp_bytes = size,
        .svc_resp_bytes = origin_size, /* what the service wrote, before compress */
        .tls_version = tv,
        .tls_cipher = tc};
    if (!rq->unobserved && !(rq->router && rq->router->no_metrics)) {
        proxy_metrics_observe(w->metrics, &m);
        if (res && res->retry_attempts && rq->router && rq->router->service_name)
            proxy_metrics_retries(rq->router->service_name, res->retry_attempts);
    }
    rq->phase = PH_DONE;
    rq_put(rq);
}

static void page_start(proxy_rq_t *rq);

/* An answer from inside the first outer middlewares (resp) goes out through them,
 * innermost first: their response hooks run (Traefik's middlewares wrap the response
 * writer, so a headers middleware's response fields reach whatever answers inside it: a
 * 429, a 401, a redirect, an error page, the upstream), and each errors middleware on
 * the way may catch its status. Returns 1 when one caught it:
 * the caller leaves the request to page_start, whose page goes out through the
 * middlewares outside that one in turn. A circuit breaker on the way counts the status
 * as it stands there (what happened after its position). */
static int wrap_or_catch(proxy_rq_t *rq, proxy_mw_resp_t *resp, size_t outer, int can_pass)
{
    for (size_t e = outer; e-- > 0;) {
        const proxy_mw_t *m = &rq->chain->mws[e]->mw;
        if (m->type->on_response)
            m->type->on_response(m->cfg, &rq->mw, resp);
        breaker_count(rq, e, resp->status);
        if (can_pass && (rq->chain->errors_at >> e & 1) &&
            proxy_mw_errors_catches(m->cfg, resp->status)) {
            rq->err_mw = e + 1;
            rq->err_status = resp->status;
            return 1;
        }
    }
    return 0;
}

/* Sends rq->resp (a middleware's own answer or an error), wrapped by the first outer
 * middlewares (those before the one that answered; the whole chain when nothing in it
 * did), and finishes; an errors middleware among them may answer with its page. */
static void respond(proxy_rq_t *rq, size_t outer)
{
    hc_http_req_t *req = rq->req;
    if (rq->chain && wrap_or_catch(rq, &rq->resp, outer, 1)) {
        page_start(rq);
        return;
    }
    const char *ctype = proxy_mw_headers_get(&rq->resp.headers, "Content-Type");
    for (size_t i = 0; i < rq->resp.headers.len; i++) {
        const proxy_mw_header_t *h = &rq->resp.headers.v[i];
        if (!proxy_mw_header_is_framing(h->name))
            hc_http_res_header(req, h->name, h->value);
    }
    hc_http_respond(req, rq->resp.status, ctype, rq->resp.body.base ? rq->resp.body.base : "",
                    rq->resp.body.len);
    finish(rq, NULL, rq->resp.status);
}

/* The proxy's own answer: body as text (ctype NULL: none, as Traefik writes a bare status
 * text), through the middlewares outside index outer. */
static void respond_typed(proxy_rq_t *rq, size_t outer, int status, const char *ctype,
                          const char *body)
{
    proxy_mw_resp_free(&rq->resp);
    proxy_mw_resp_init(&rq->resp);
    proxy_mw_resp_text(&rq->resp, status, ctype, body);
    respond(rq, outer);
}

static void respond_text(proxy_rq_t *rq, size_t outer, int status, const char *body)
{
    respond_typed(rq, outer, status, PROXY_MW_TEXT_PLAIN, body);
}

/* ---- forwarding ---- */

/* The code label of a gRPC call, as Traefik's grpcStatusCode reads the response's
 * Grpc-Status field: a code 0-16, else 2 (Unknown, also when there is none). */
static int grpc_code(const char *v)
{
    char *end;
    long c = v && *v >= '0' && *v <= '9' ? strtol(v, &end, 10) : -1;
    return c >= 0 && c <= 16 && !*end ? (int)c : 2;
}

/* A gRPC call's code label from the response as it leaves, past the middlewares, as
 * Traefik's reads the writer's fields after its chain ran. */
static void grpc_note(proxy_rq_t *rq, const proxy_mw_resp_t *resp)
{
    if (rq->grpc)
        rq->grpc_status = 1 + grpc_code(proxy_mw_headers_get(&resp->headers, "Grpc-Status"));
}

static int on_fwd_response(void *ud, proxy_mw_resp_t *resp, long long body_len, int can_pass)
{
    proxy_rq_t *rq = ud;
    uint64_t max = rq->chain->resp_max;
    int over = max && body_len > 0 && (uint64_t)body_len > max;
    if (over) { /* buffering's maxResponseBodyBytes: not forwarded, the client gets a 500 */
        for (size_t e = rq->chain->n; e-- > 0;) { /* breakers inside the one that refuses
                                                      it see the upstream's status */
            const proxy_mw_t *m = &rq->chain->mws[e]->mw;
            uint64_t limit =
                strcmp(m->type->name, "buffering") ? 0 : proxy_mw_buffering_max_response(m->cfg);
            if (limit && (uint64_t)body_len > limit)
                break;
            breaker_count(rq, e, resp->status);
        }
        proxy_mw_resp_free(resp);
        proxy_mw_resp_init(resp);
        proxy_mw_resp_text(resp, 500, NULL, "Internal Server Error");
    }
    if (wrap_or_catch(rq, resp, rq->chain->n, can_pass))
        return PROXY_FWD_PASS;
    grpc_note(rq, resp);
    if (over)
        return PROXY_FWD_REPLACE;
    if (rq->auth_cookies.len)
        proxy_mw_forwardauth_merge_cookies(&rq->auth_cookies, resp);
    int sniff = rq->chain->sniff ? PROXY_FWD_SNIFF : 0;
    if (rq->compress_cfg && rq->enc != PROXY_MW_ENC_IDENTITY && resp->status != 101 &&
        proxy_mw_compress_response(rq->compress_cfg, rq->enc, resp, body_len) == 1 &&
        proxy_mw_compressor_new(rq->enc, &rq->z) == 0) {
        return PROXY_FWD_FILTER | sniff;
    }
    /* a body of unknown length is counted against the limit as it passes */
    return (max && body_len < 0 ? PROXY_FWD_FILTER : PROXY_FWD_SEND) | sniff;
}

static int on_fwd_body(void *ud, const char *data, size_t len, int last, proxy_fwd_sink_fn sink,
                       void *sink_ud)
{
    proxy_rq_t *rq = ud;
    uint64_t max = rq->chain->resp_max;
    if (max && (rq->resp_seen += len) > max) {
        hc_log(HC_LOG_WARN, "response body over buffering's maxResponseBodyBytes, cut",
               HC_LS("router", rq->router->name), HC_LI("max_bytes", max), NULL);
        return -EMSGSIZE; /* the head is out: the response is cut short, never completed */
    }
    if (!rq->z)
        return len ? sink(sink_ud, data, len) : 0;
    /* each piece read from the server goes out compressed at once, with a length or
     * without: a slow server's bytes are not held back (Go's reverse proxy flushes a
     * streamed body at once, any other within its 100 ms FlushInterval) */
    return proxy_mw_compressor_push(rq->z, data, len, last ? PROXY_MW_Z_FINISH : PROXY_MW_Z_FLUSH,
                                    sink, sink_ud);
}

static void on_fwd_done(void *ud, const proxy_fwd_result_t *res)
{
    proxy_rq_t *rq = ud;
    rq->request_size = res->request_content_size; /* an errors page reads none */
    if (res->passed) {
        rq->err_origin = res->origin_status;
        rq->err_origin_size = res->origin_content_size;
        rq->err_retries = res->retry_attempts;
        const proxy_service_t *s =
            res->service_name ? proxy_config_service(rq->gen->cfg, res->service_name) : NULL;
        rq->err_service = s ? s->name : NULL; /* res's strings end with the forward */
        page_start(rq);
    } else
        finish(rq, res, res->downstream_status);
}

static int on_fwd_error_page(void *ud, proxy_mw_resp_t *resp, int can_pass)
{
    proxy_rq_t *rq = ud;
    return wrap_or_catch(rq, resp, rq->chain->n, can_pass) ? PROXY_FWD_PASS : 0;
}

static const proxy_fwd_hooks_t fwd_hooks = {
    .on_response = on_fwd_response,
    .body_filter = on_fwd_body,
    .on_done = on_fwd_done,
    .on_error_page = on_fwd_error_page,
};

/* ---- the errors middleware's page ---- */

/* The page's response goes out with the caught status (or its rewrite), through the
 * middlewares outside the errors middleware (another errors middleware among them may
 * catch that status in turn). A page without a body (204, 304) sends none under its new
 * status either. */
static int on_page_response(void *ud, proxy_mw_resp_t *resp, long long body_len, int can_pass)
{
    proxy_rq_t *rq = ud;
    (void)body_len;
    if (resp->status < 200 || resp->status == 204 || resp->status == 304)
        proxy_mw_headers_set(&resp->headers, "Content-Length", "0");
    resp->status = proxy_mw_errors_status(rq->chain->mws[rq->err_mw - 1]->mw.cfg, rq->err_status);
    if (wrap_or_catch(rq, resp, rq->err_mw - 1, can_pass))
        return PROXY_FWD_PASS;
    grpc_note(rq, resp);
    if (rq->auth_cookies.len)
        proxy_mw_forwardauth_merge_cookies(&rq->auth_cookies, resp);
    return PROXY_FWD_SEND;
}

static int on_page_error(void *ud, proxy_mw_resp_t *resp, int can_pass)
{
    return on_page_response(ud, resp, 0, can_pass) == PROXY_FWD_PASS ? PROXY_FWD_PASS : 0;
}

static void on_page_done(void *ud, const proxy_fwd_result_t *res)
{
    proxy_rq_t *rq = ud;
    if (res->passed) { /* an outer errors middleware caught the page's status */
        page_start(rq);
        return;
    }
    proxy_fwd_result_t r = *res;
    r.origin_status = rq->err_origin; /* the log keeps what the service said, 0: none */
    r.origin_content_size = rq->err_origin_size; /* and what it sent (the service's bytes) */
    r.retry_attempts = rq->err_retries;
    r.service_name = rq->err_service;
    finish(rq, &r, r.downstream_status);
}

static const proxy_fwd_hooks_t page_hooks = {
    .on_response = on_page_response,
    .on_done = on_page_done,
    .on_error_page = on_page_error,
};

/* Fetches the page of the errors middleware that caught rq->err_status (Traefik's
 * customerrors: a GET of its query on its service with the client's fields and Host)
 * and answers with it; without its service, the status with its reason phrase. */
static void page_start(proxy_rq_t *rq)
{
    proxy_worker_t *w = rq->w;
    if (rq->svc_start_ns && !rq->svc_end_ns)
        rq->svc_end_ns = uv_hrtime();
    size_t e = rq->err_mw - 1;
    const void *cfg = rq->chain->mws[e]->mw.cfg;
    int status = proxy_mw_errors_status(cfg, rq->err_status);
    const proxy_service_t *svc = proxy_config_service(w->gen->cfg, proxy_mw_errors_service(cfg));
    hc_buf_t url, target;
    hc_buf_init(&url, 0);
    hc_buf_init(&target, 0);
    hc_buf_printf(&url, "%s%s%s", rq->mw.path, rq->mw.query ? "?" : "",
                  rq->mw.query ? rq->mw.query : "");
    if (!svc || proxy_mw_errors_target(cfg, rq->err_status, url.base, &target) < 0 ||
        hc_buf_append(&target, "", 1) < 0) {
        hc_buf_free(&url);
        hc_buf_free(&target);
        respond_typed(rq, e, status, NULL, hc_http_status_text(status));
        return;
    }
    char *q = strchr(target.base, '?');
    if (q)
        *q++ = '\0';
    proxy_mw_req_t page = rq->mw; /* borrowed by the forward until it returns */
    page.method = "GET";
    page.path = target.base;
    page.query = q;
    page.no_xff = 1; /* Traefik's page request has no RemoteAddr: no peer is appended */
    rq->phase = PH_FORWARD;
    proxy_fwd_args_t args = {
        .req = rq->req, .mw = &page, .service = svc, .no_body = 1, .hooks = &page_hooks, .ud = rq};
    int rc = proxy_upstream_forward(w->up, &args);
    hc_buf_free(&url);
    hc_buf_free(&target);
    if (rc != 0)
        respond_text(rq, e, 500, "Internal Server Error");
}

static void forward(proxy_rq_t *rq)
{
    proxy_worker_t *w = rq->w;
    /* The upstream manager knows the worker's current generation: after a reload while
     * this request waited, find its service there by name. */
    const proxy_service_t *svc = rq->router->service;
    if (rq->gen != w->gen)
        svc = proxy_config_service(w->gen->cfg, rq->router->service_name);
    if (!svc) {
        respond_text(rq, rq->chain->n, 503, "Service Unavailable");
        return;
    }
    rq->phase = PH_FORWARD;
    rq->svc_start_ns = uv_hrtime();
    proxy_fwd_args_t args = {.req = rq->req,
                             .mw = &rq->mw,
                             .service = svc,
                             .max_body = rq->chain->body_max,
                             .retry_attempts = rq->chain->retry_attempts,
                             .retry_interval_ms = rq->chain->retry_interval_ms,
                             .fields_checked = rq->chain->n == 0, /* as parsed */
                             .protocol = rq->router->no_metrics ? NULL : rq->protocol,
                             .hooks = &fwd_hooks,
                             .ud = rq};
    if (proxy_upstream_forward(w->up, &args) != 0)
        respond_text(rq, rq->chain->n, 500, "Internal Server Error");
}

/* ---- middlewares ---- */

static void on_delay_closed(uv_handle_t *h)
{
    hc_free(h);
}

static void on_delay(uv_timer_t *t)
{
    proxy_rq_t *rq = t->data;
    uv_close((uv_handle_t *)t, on_delay_closed);
    rq->timer = NULL;
    rq->phase = PH_MW;
    run_middlewares(rq);
}

static void on_auth_done(hc_http_client_req_t *creq, int status, void *ud)
{
    proxy_rq_t *rq = ud;
    rq->auth = NULL;
    if (!rq->req) { /* the client went away while we waited */
        finish(rq, NULL, 499);
        return;
    }
    rq->phase = PH_MW;
    const proxy_mw_t *m = &rq->chain->mws[rq->next_mw - 1]->mw;
    const hc_http_response_t *res = hc_http_client_req_response(creq);
    if (status < 0 || !res) {
        hc_log(HC_LOG_WARN, "forwardAuth unreachable", HC_LS("router", rq->router->name),
               HC_LS("error", hc_http_client_req_error(creq)), NULL);
        respond_text(rq, rq->next_mw - 1, 500, "Internal Server Error");
        return;
    }
    proxy_mw_headers_t hdrs = {0};
    for (size_t i = 0; i < res->n_headers; i++)
        proxy_mw_headers_add(&hdrs, res->headers[i].name, res->headers[i].value);
    size_t blen = 0;
    const char *body = hc_http_client_req_body(creq, &blen);
    proxy_mw_verdict_t v = proxy_mw_forwardauth_apply(m->cfg, &rq->mw, res->status, &hdrs, body,
                                                      blen, &rq->auth_cookies, &rq->resp);
    proxy_mw_headers_free(&hdrs);
    if (v == PROXY_MW_RESPOND)
        respond(rq, rq->next_mw - 1);
    else
        run_middlewares(rq);
}

static const hc_http_client_req_cbs_t auth_cbs = {.on_done = on_auth_done};

/* Starts the forwardAuth call of m. Returns 0 (on_auth_done follows) or -errno. */
static int auth_start(proxy_rq_t *rq, const proxy_mw_t *m)
{
    proxy_mw_headers_t h = {0};
    proxy_mw_forwardauth_request_headers(m->cfg, &rq->mw, &h);
    hc_http_client_header_t hv[128];
    size_t n = 0;
    for (size_t i = 0; i < h.len && n < 128; i++)
        if (strcasecmp(h.v[i].name, "Host") != 0)
            hv[n++] = (hc_http_client_header_t){h.v[i].name, h.v[i].value};
    hc_http_client_req_opts_t o = {.method = proxy_mw_forwardauth_method(m->cfg, rq->mw.method),
                                   .url = proxy_mw_forwardauth_address(m->cfg),
                                   .headers = hv,
                                   .n_headers = n,
                                   .collect_max = PROXY_MW_FORWARDAUTH_BODY_MAX,
                                   .total_timeout_ms = AUTH_TIMEOUT_MS};
    rq->phase = PH_WAIT;
    int rc = hc_http_client_request(rq->w->client, &o, &auth_cbs, rq, &rq->auth);
    proxy_mw_headers_free(&h);
    return rc;
}

/* Runs one middleware. Returns 1 when the request continues synchronously, 0 when it
 * waits or was answered. */
static int run_one(proxy_rq_t *rq, const proxy_mw_t *m)
{
    const char *t = m->type->name;
    if (!strcmp(t, "compress")) {
        if (!rq->compress_cfg) {
            rq->compress_cfg = m->cfg;
            rq->enc = proxy_mw_compress_negotiate(m->cfg, &rq->mw);
        }
        return 1;
    }
    proxy_mw_cb_t *cb = rq->chain->breakers ? rq->chain->breakers[rq->next_mw - 1] : NULL;
    if (cb) { /* a circuitBreaker: its router's breaker, made with the generation */
        if (proxy_mw_cb_allow(cb, uv_hrtime()))
            return 1;
        int code = proxy_mw_cb_response_code(m->cfg);
        rq->cb_counted |= 1ull << (rq->next_mw - 1); /* its own answer is not counted */
        respond_typed(rq, rq->next_mw - 1, code, NULL, hc_http_status_text(code)); /* oxy's */
        return 0;
    }
    if (!strcmp(t, "forwardAuth")) {
        if (auth_start(rq, m) != 0)
            respond_text(rq, rq->next_mw - 1, 500, "Internal Server Error");
        return 0;
    }
    if (!strcmp(t, "passTLSClientCert")) {
        X509 *leaf = NULL;
        STACK_OF(X509) *chain = NULL;
        hc_tls_conn_t *tls = rq->req ? hc_http_req_tls(rq->req) : NULL;
        if (tls)
            hc_tls_conn_peer_certs(tls, &leaf, &chain);
        proxy_mw_tlscert_apply(m->cfg, &rq->mw, leaf, chain);
    }
    if (!m->type->on_request)
        return 1;
    rq->mw.delay_ms = 0;
    if (m->type->on_request(m->cfg, &rq->mw, &rq->resp) == PROXY_MW_RESPOND) {
        respond(rq, rq->next_mw - 1);
        return 0;
    }
    if (rq->mw.delay_ms) {
        rq->phase = PH_WAIT;
        rq->timer = hc_malloc(sizeof(uv_timer_t));
        uv_timer_init(rq->w->loop, rq->timer);
        rq->timer->data = rq;
        uv_timer_start(rq->timer, on_delay, rq->mw.delay_ms, 0);
        return 0;
    }
    return 1;
}

static void run_middlewares(proxy_rq_t *rq)
{
    if (rq->next_mw) /* resumed after a wait (forwardAuth, a rateLimit's delay): the
                        middlewares after it see the time now, as Go's time.Now() */
        rq->mw.now_ns = uv_hrtime();
    while (rq->next_mw < rq->chain->n) {
        const proxy_mw_t *m = &rq->chain->mws[rq->next_mw++]->mw;
        if (!run_one(rq, m))
            return;
    }
    forward(rq);
}

/* The client went away before the forward took the request over. */
static void on_client_close(hc_http_req_t *req, void *arg)
{
    proxy_rq_t *rq = arg;
    (void)req;
    if (rq->phase == PH_FORWARD || rq->phase == PH_DONE)
        return;
    rq->req = NULL;
    if (rq->timer) {
        uv_timer_stop(rq->timer);
        uv_close((uv_handle_t *)rq->timer, on_delay_closed);
        rq->timer = NULL;
        finish(rq, NULL, 499);
    } else if (rq->auth) {
        hc_http_client_req_cancel(rq->auth); /* on_auth_done finishes */
    }
}

/* ---- entry ---- */

/* Rules see the fields as the entry point left them: an untrusted client's
 * X-Forwarded-* are gone (as for Traefik's router). */
static const char *req_header(void *ctx, const char *name, size_t *len)
{
    const char *v = proxy_mw_headers_get(&((proxy_rq_t *)ctx)->mw.headers, name);
    if (v)
        *len = strlen(v);
    return v;
}

/* Dotted decimal (RFC 4001 §3 form) without inet_ntop's printf underneath. */
static void ipv4_format(const struct in_addr *a, char *out)
{
    const unsigned char *b = (const unsigned char *)&a->s_addr;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100)
            *out++ = (char)('0' + v / 100);
        if (v >= 10)
            *out++ = (char)('0' + v / 10 % 10);
        *out++ = (char)('0' + v % 10);
        *out++ = i < 3 ? '.' : '\0';
    }
}

static void peer_of(proxy_rq_t *rq)
{
    struct sockaddr_storage ss;
    if (hc_http_req_peer(rq->req, &ss) != 0)
        return;
    if (rq->w->log)
        hc_addr_format((struct sockaddr *)&ss, rq->client_addr, sizeof(rq->client_addr));
    if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, rq->peer_ip,
                  sizeof(rq->peer_ip));
    else if (ss.ss_family == AF_INET)
        ipv4_format(&((struct sockaddr_in *)&ss)->sin_addr, rq->peer_ip);
}

/* The request into the view: its strings and fields copied once, packed into the
 * recycled store (with room for what middlewares add); the store is not grown while
 * the view uses it. */
static void pack_request(proxy_rq_t *rq, const char *host, size_t hlen)
{
    const hc_http_req_t *req = rq->req;
    size_t need = STORE_SPARE + PACK_STRINGS + hlen + req->target_len;
    for (size_t i = 0; i < req->nheaders; i++)
        need += req->headers[i].name_len + req->headers[i].value_len + 2;
    hc_buf_reset(&rq->store);
    (void)hc_buf_reserve(&rq->store, need); /* short of room, fields are copied one by one */
    proxy_mw_req_init_in(&rq->mw, req->method, rq->tls_version != NULL, host ? host : "",
                         req->target, rq->peer_ip, rq->start_ns, &rq->store);
    rq->mw.headers = rq->spare;
    rq->spare = (proxy_mw_headers_t){0};
    rq->mw.headers.store = &rq->store;
    for (size_t i = 0; i < req->nheaders; i++) {
        const hc_http_header_t *h = &req->headers[i];
        proxy_mw_headers_add_n(&rq->mw.headers, h->name, h->name_len, h->value, h->value_len);
    }
    proxy_upstream_connection_options(&rq->mw.headers);
}

/* "path?query" in a new allocation. */
static char *log_target(const char *path, size_t plen, const char *query)
{
    size_t qlen = strlen(query);
    char *t = hc_malloc(plen + qlen + 2);
    memcpy(t, path, plen);
    t[plen] = '?';
    memcpy(t + plen + 1, query, qlen + 1);
    return t;
}

static const proxy_router_t *route(proxy_rq_t *rq, const char *host, size_t hlen, size_t plen,
                                   int *undecided)
{
    hc_http_req_t *req = rq->req;
    /* escapes left after normalizing: routers see them decoded (the routing path) */
    char path_stack[512], *path = rq->mw.path;
    if (memchr(path, '%', plen)) {
        path = plen < sizeof(path_stack) ? path_stack : hc_malloc(plen + 1);
        plen = proxy_rule_routing_path(rq->mw.path, plen, path);
    }
    proxy_rule_req_t q = {.method = req->method,
                          .method_len = strlen(req->method),
                          .host = host, /* normalized by the table */
                          .host_len = host ? hlen : 0,
                          .path = path,
                          .path_len = plen,
                          .query = rq->mw.query, /* the request's, semicolons replaced */
                          .query_len = rq->mw.query ? req->query_len : 0,
                          .client_ip = rq->peer_ip,
                          .header = req_header,
                          .header_ctx = rq,
                          .undecided = undecided};
    const proxy_router_t *r =
        proxy_route_match(rq->gen->routes[rq->ep->idx], &q, rq->tls_version != NULL);
    if (path != rq->mw.path && path != path_stack)
        hc_free(path);
    return r;
}

/* Whether field f (the first of its name, or NULL) lists token (Go's hasToken). */
static int field_has(const hc_http_header_t *f, const char *token)
{
    return f && hc_http_has_token(f->value, f->value_len, token);
}

/* The protocol label as Traefik's metrics tell it from the request: a WebSocket
 * handshake, an event stream, else http (also when the handshake is refused). One pass
 * over the fields, telling names apart by length first. */
static const char *request_protocol(const hc_http_req_t *req)
{
    const hc_http_header_t *conn = NULL, *upgrade = NULL, *accept = NULL, *ctype = NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        const hc_http_header_t *h = &req->headers[i];
        if (h->name_len == 10 && !conn && !strncasecmp(h->name, "Connection", 10))
            conn = h;
        else if (h->name_len == 7 && !upgrade && !strncasecmp(h->name, "Upgrade", 7))
            upgrade = h;
        else if (h->name_len == 6 && !accept && !strncasecmp(h->name, "Accept", 6))
            accept = h;
        else if (h->name_len == 12 && !ctype && !strncasecmp(h->name, "Content-Type", 12))
            ctype = h;
    }
    if (field_has(conn, "upgrade") && field_has(upgrade, "websocket"))
        return "websocket";
    if (field_has(accept, "text/event-stream"))
        return "sse";
    /* Traefik tells gRPC by the Content-Type's prefix alone, whatever the HTTP version */
    if (ctype && ctype->value_len >= 16 && !memcmp(ctype->value, "application/grpc", 16))
        return ctype->value_len >= 20 && !memcmp(ctype->value + 16, "-web", 4) ? "grpc-web"
                                                                               : "grpc";
    return "http";
}

void proxy_handle(hc_http_req_t *req, void *arg)
{
    proxy_ep_t *ep = arg;
    proxy_rq_t *rq = rq_get(ep->w);
    if (ep->w->log) { /* the wall clock only goes to the access log (fixed per worker) */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        rq->start_wall_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    rq->start_ns = uv_hrtime();
    rq->ep = ep;
    rq->req = req;
    rq->gen = proxy_gen_ref(ep->w->gen);
    peer_of(rq);
    rq->target = ep->w->log ? hc_strdup(req->target) : NULL;
    rq->http10 = req->version_minor == 0;
    rq->protocol = request_protocol(req);
    rq->grpc = rq->protocol[0] == 'g'; /* grpc, grpc-web */
    rq->request_size = 0;
    hc_tls_conn_t *tls = hc_http_req_tls(req);
    if (tls) {
        rq->tls_version = tls_version_short(hc_tls_conn_version(tls));
        rq->tls_cipher = hc_tls_conn_cipher(tls);
        X509 *leaf = NULL;
        if (ep->w->log)
            hc_tls_conn_peer_certs(tls, &leaf, NULL);
        rq->tls_subject = proxy_accesslog_subject(leaf);
    }
    proxy_mw_resp_init(&rq->resp);
    size_t hlen = 0;
    const char *host = hc_http_req_header(req, "Host", &hlen);
    pack_request(rq, host, hlen);
    /* Traefik's entry points run Go's AllowQuerySemicolons (traefik#9164, since 2.7.2):
     * a ';' in the query is an '&' for routers, middlewares and the upstream */
    for (char *s = rq->mw.query; s && (s = strchr(s, ';'));)
        *s++ = '&';
    if (tls && proxy_gen_tls_misdirected(rq->gen, ep->idx, host, hlen, hc_tls_conn_sni(tls))) {
        proxy_mw_resp_text(&rq->resp, 421, PROXY_MW_TEXT_PLAIN,
                           "Misdirected Request\n"); /* Go's http.Error */
        proxy_mw_headers_set(&rq->resp.headers, "X-Content-Type-Options", "nosniff");
        respond(rq, 0);
        return;
    }
    proxy_upstream_untrusted_strip(ep->w->up, &rq->mw, req);
    /* Traefik's entry point sets them before routing: rules, middlewares and forwardAuth
     * see them, and a headers middleware may change or remove them */
    proxy_upstream_forwarded(&rq->mw.headers, rq->peer_ip, 1, tls != NULL,
                             proxy_upstream_is_websocket(&rq->mw.headers), rq->mw.host,
                             ep->w->svc->hostname);
    const char *xff = ep->w->log ? proxy_mw_headers_get(&rq->mw.headers, "X-Forwarded-For") : NULL;
    rq->client_xff = xff && *xff ? hc_strdup(xff) : NULL; /* Traefik logs it as ClientHost */
    if (req->target_len == 1 && req->target[0] == '*' && !strcmp(req->method, "OPTIONS")) {
        /* "OPTIONS *" asks about the server as a whole: Go's server answers it (200, no
         * content) before any router, so Traefik does */
        proxy_mw_resp_free(&rq->resp);
        proxy_mw_resp_init(&rq->resp);
        rq->resp.status = 200;
        respond(rq, 0);
        return;
    }
    /* Routing and the upstream see the path as Traefik's sanitizePath leaves it: a
     * "/public/%2e%2e/admin" must meet the admin router's middlewares. */
    size_t plen = req->path_len;
    /* Both refused before any of Traefik's handlers (Go's URL parser; denyFragment wraps
     * the entry point's whole chain): neither counted nor logged */
    if (memchr(rq->mw.path, '#', plen)) { /* Traefik's denyFragment: '#' would be encoded
                                             on the way, changing what the client meant */
        rq->unobserved = 1;
        respond_text(rq, 0, 400, "400 Bad Request: a fragment in the request path");
        return;
    }
    if (proxy_rule_path_normalize(rq->mw.path, &plen) < 0) {
        rq->unobserved = 1;
        respond_text(rq, 0, 400, "400 Bad Request: invalid URL escape");
        return;
    }
    if (ep->w->log) { /* Traefik's access log sees the request past its entry point's
                         normalizing: the path cleaned, the query's ';' made '&' */
        hc_free(rq->target);
        rq->target = rq->mw.query ? log_target(rq->mw.path, plen, rq->mw.query)
                                  : hc_memdup(rq->mw.path, plen);
    }
    /* a plain connection is matched against the entry point's plain routers, a TLS one
     * against its TLS routers, as Traefik's HTTP and HTTPS handlers: so plain HTTP on
     * websecure finds none, and a handshake on web only the TLS routers listing web */
    int undecided = 0;
    rq->router = route(rq, host, hlen, plen, &undecided);
    if (undecided) { /* a router it might be for could not tell: never a lower one */
        hc_log(HC_LOG_WARN, "request refused: a rule's regexp could not decide",
               HC_LS("router", rq->router ? rq->router->name : ""), NULL);
        rq->router = NULL;
        respond_text(rq, 0, 400, "400 Bad Request: the request could not be matched");
        return;
    }
    if (!rq->router) {
        hc_http_res_header(req, "X-Content-Type-Options", "nosniff");
        respond_text(rq, 0, 404, "404 page not found\n");
        return;
    }
    if (ep->w->log && !rq->router->no_access_log)
        rq->log_count = proxy_accesslog_count();
    rq->chain = proxy_gen_chain(rq->gen, rq->router);
    hc_http_req_on_close(req, on_client_close, rq);
    run_middlewares(rq);
}
