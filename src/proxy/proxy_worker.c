/* The proxy's worker threads (proxy_service_int.h): each opens its own SO_REUSEPORT
 * listeners for web and websecure, its upstream manager and forwardAuth client, takes
 * new generations from the main loop, and drains its servers when asked to stop. */
#include "proxy/proxy_service_int.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <errno.h>
#include <string.h>

#define TICK_MS 1000
#define IDLE_TIMEOUT_MS 180000 /* Traefik's entryPoints respondingTimeouts.idleTimeout */
#define READ_TIMEOUT_MS 60000  /* and its readTimeout: the head, then the request body */
#define HEAD_LIMIT (1u << 20) /* request line, and header section: Go's DefaultMaxHeaderBytes */
#define FIELDS_MAX 10000u     /* Go counts no fields, only bytes: this is far past clients */

/* Reports this worker's open connections to traefik_open_connections. */
static void on_tick(uv_timer_t *t)
{
    proxy_worker_t *w = t->data;
    for (int i = 0; i < PROXY_GEN_NEP; i++) {
        if (!w->ep[i].srv)
            continue;
        hc_http_server_stats_t st;
        hc_http_server_stats(w->ep[i].srv, &st);
        double delta = (double)st.open_connections - (double)w->ep[i].last_open;
        w->ep[i].last_open = st.open_connections;
        if (delta != 0)
            proxy_metrics_connections(w->metrics, i ? PROXY_EP_WEBSECURE : PROXY_EP_WEB, delta);
    }
}

static int ep_open(proxy_worker_t *w, int idx)
{
    proxy_svc_t *svc = w->svc;
    proxy_ep_t *ep = &w->ep[idx];
    ep->w = w;
    ep->idx = idx;
    hc_http_server_opts_t o = {.handler = proxy_handle,
                               .handler_arg = ep,
                               .max_request_line = HEAD_LIMIT,
                               .max_header_bytes = HEAD_LIMIT,
                               .max_headers = FIELDS_MAX,
                               .server_header = "",
                               .header_timeout_ms = READ_TIMEOUT_MS,
                               .idle_timeout_ms = IDLE_TIMEOUT_MS,
                               .read_timeout_ms = READ_TIMEOUT_MS,
                               .read_timeout_whole = 1, /* one deadline, as Go's */
                               .eof_aborts = 1,         /* the upstream request is cancelled */
                               .tls = svc->tls[idx],    /* a handshake on web too, as Traefik */
                               .go_errors = 1,
                               .drain_upgraded = 1,      /* WebSockets get graceTimeOut */
                               .tls_plain_fallback = 1}; /* on websecure, 404 (proxy_handle) */
    ep->srv = hc_http_server_new(w->loop, &o);
    if (!ep->srv)
        return -EINVAL;
    int rc = hc_http_server_listen(ep->srv, (struct sockaddr *)&svc->sa[idx], 1);
    if (rc && !atomic_exchange(&svc->listen_logged[idx], 1)) /* the same for every worker */
        hc_log(HC_LOG_ERROR, "cannot listen", HC_LS("addr", svc->addr[idx]),
               HC_LS("error", uv_strerror(rc)), NULL);
    return rc;
}

/* A mirrored copy ended: the mirror's service series count it, as Traefik's do. */
static void mirror_observe(void *ud, const proxy_mirror_done_t *d)
{
    proxy_worker_t *w = ud;
    proxy_metrics_observe(w->metrics, &(proxy_metrics_req_t){.service = d->service,
                                                             .method = d->method,
                                                             .protocol = d->protocol,
                                                             .code = d->code,
                                                             .svc_seconds = d->seconds,
                                                             .req_bytes = d->req_bytes,
                                                             .svc_resp_bytes = d->resp_bytes});
}

void proxy_worker_init(uv_loop_t *loop, unsigned idx, void *arg)
{
    proxy_svc_t *svc = arg;
    proxy_worker_t *w = &svc->w[idx];
    char err[256];
    w->svc = svc;
    w->loop = loop;
    w->idx = idx;
    loop->data = w;
    w->gen = proxy_gen_ref(svc->gen);
    w->up = proxy_upstream_new(loop, svc->shared, err, sizeof(err));
    if (w->up)
        proxy_upstream_set_config(w->up, w->gen->cfg);
    else
        hc_log(HC_LOG_ERROR, "upstream manager failed", HC_LS("error", err), NULL);
    w->client = hc_http_client_new(loop, &(hc_http_client_opts_t){0}, err, sizeof(err));
    w->metrics = proxy_metrics_worker_new();
    if (w->up)
        proxy_upstream_on_mirror(w->up, mirror_observe, w);
    w->log = proxy_accesslog_writer_new(loop);
    for (int i = 0; i < PROXY_GEN_NEP; i++) {
        if (!svc->addr[i][0])
            continue;
        if (ep_open(w, i) != 0)
            w->failed = 1;
        else /* the gauge's series exists (at 0) before the first connection */
            proxy_metrics_connections(w->metrics, i ? PROXY_EP_WEBSECURE : PROXY_EP_WEB, 0);
    }
    uv_timer_init(loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
}

/* Runs on the worker: installs a new generation (arg holds one reference for it). */
void proxy_worker_set_gen(uv_loop_t *loop, unsigned idx, void *arg)
{
    proxy_worker_t *w = loop->data;
    proxy_gen_t *g = arg, *old = w->gen;
    (void)idx;
    if (old && g->serial < old->serial) { /* never back to an older configuration */
        proxy_gen_unref(g);
        return;
    }
    if (w->up)
        proxy_upstream_set_config(w->up, g->cfg);
    w->gen = g;
    proxy_gen_unref(old); /* requests in flight hold their own references */
}

static void worker_closed(proxy_worker_t *w)
{
    if (--w->open_handles)
        return;
    for (int i = 0; i < PROXY_GEN_NEP; i++)
        if (w->ep[i].srv)
            hc_http_server_free(w->ep[i].srv);
    proxy_upstream_free(w->up);
    hc_http_client_free(w->client);
    proxy_accesslog_writer_free(w->log);
    proxy_metrics_connections(w->metrics, PROXY_EP_WEB, -(double)w->ep[0].last_open);
    proxy_metrics_connections(w->metrics, PROXY_EP_WEBSECURE, -(double)w->ep[1].last_open);
    proxy_metrics_worker_free(w->metrics);
    proxy_handler_worker_free(w);
    proxy_gen_unref(w->gen);
    w->gen = NULL;
}

static void on_server_drained(hc_http_server_t *s, void *arg)
{
    (void)s;
    worker_closed(arg);
}

static void on_tick_closed(uv_handle_t *h)
{
    worker_closed(h->data);
}

void proxy_worker_stop(uv_loop_t *loop, unsigned idx, void *arg)
{
    proxy_svc_t *svc = arg;
    proxy_worker_t *w = &svc->w[idx];
    (void)loop;
    w->open_handles = 1; /* the tick timer */
    for (int i = 0; i < PROXY_GEN_NEP; i++)
        w->open_handles += w->ep[i].srv != NULL;
    uv_close((uv_handle_t *)&w->tick, on_tick_closed);
    for (int i = 0; i < PROXY_GEN_NEP; i++)
        if (w->ep[i].srv)
            hc_http_server_drain(w->ep[i].srv, svc->drain_ms, on_server_drained, w);
}
