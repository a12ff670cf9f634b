/* The HTTP/1.1 server object (see hc_http_server.h): listeners, the pools that keep the
 * hot path free of malloc, the cached Date field, counters and draining. Connection
 * I/O lives in hc_http_conn.c, the request/response API in hc_http_req.c. */
#include "core/hc_http_internal.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_runtime.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Pooled io blocks (about 20 KiB each: the read buffer and a request's state). Every
 * connection in the middle of a request holds one, and a load of many connections in
 * step (each waiting for a group commit, say) returns them all at once: a small pool
 * freed most of them only to allocate them again a moment later. So the pool keeps up
 * to IO_POOL_MAX, and every io_pool_trim_ms a timer frees the blocks that sat unused
 * through the whole period, down to IO_POOL_KEEP: a burst's memory goes back within
 * two periods. */
enum { IO_POOL_KEEP = 64, IO_POOL_MAX = 4096 };

static void defaults(hc_http_server_opts_t *o)
{
    if (!o->max_request_line)
        o->max_request_line = 8192;
    if (!o->max_header_bytes)
        o->max_header_bytes = 32768;
    if (!o->max_headers)
        o->max_headers = 100;
    if (!o->max_body)
        o->max_body = 1 << 20;
    if (!o->header_timeout_ms)
        o->header_timeout_ms = 10000;
    if (!o->idle_timeout_ms)
        o->idle_timeout_ms = 60000;
    if (!o->io_pool_trim_ms)
        o->io_pool_trim_ms = 10000;
}

static void on_idle(uv_idle_t *h)
{
    hc_http_server_t *s = h->data;
    hc_http_conn_t *q = s->queue;
    s->queue = NULL;
    uv_idle_stop(&s->idle);
    while (q) {
        hc_http_conn_t *c = q;
        q = c->next_queued;
        c->next_queued = NULL;
        c->queued = 0;
        hc_http_conn_run_queued(c);
    }
}

hc_http_server_t *hc_http_server_new(uv_loop_t *loop, const hc_http_server_opts_t *opts)
{
    if (!opts || !opts->handler)
        return NULL;
    hc_http_server_t *s = hc_calloc(1, sizeof(*s));
    s->loop = loop;
    s->o = *opts;
    defaults(&s->o);
    const char *sv = opts->server_header ? opts->server_header : "hearth";
    if (*sv)
        snprintf(s->server_hdr, sizeof(s->server_hdr), "Server: %.80s\r\n", sv);
    s->o.server_header = NULL;
    if (s->o.tls)
        hc_tls_ctx_ref(s->o.tls);
    uv_idle_init(loop, &s->idle);
    s->idle.data = s;
    uv_timer_init(loop, &s->drain_timer);
    s->drain_timer.data = s;
    uv_timer_init(loop, &s->pool_timer);
    s->pool_timer.data = s;
    uv_unref((uv_handle_t *)&s->pool_timer); /* never what keeps the loop running */
    s->open_handles = 3;
    return s;
}

static void on_connection(uv_stream_t *listener, int status)
{
    hc_http_server_t *s = listener->data;
    if (status < 0) {
        hc_log(HC_LOG_WARN, "accept failed", HC_LS("error", uv_strerror(status)), NULL);
        return;
    }
    if (s->draining)
        return;
    hc_http_conn_accept(s, listener);
}

int hc_http_server_listen(hc_http_server_t *s, const struct sockaddr *addr, int reuseport)
{
    if (s->nlisteners >= sizeof(s->listeners) / sizeof(s->listeners[0]) || s->draining)
        return -ENOSPC;
    uv_tcp_t *l = &s->listeners[s->nlisteners];
    int rc = hc_tcp_listen(s->loop, l, addr, reuseport, 1024, on_connection);
    if (rc < 0)
        return rc;
    l->data = s;
    s->nlisteners++;
    s->open_handles++;
    return 0;
}

int hc_http_server_port(const hc_http_server_t *s)
{
    return s->nlisteners ? hc_tcp_port(&s->listeners[0]) : -1;
}

void hc_http_server_stats(const hc_http_server_t *s, hc_http_server_stats_t *out)
{
    *out = s->stats;
    out->pooled_io = s->nfree_io;
}

hc_http_io_t *hc_http_io_get(hc_http_server_t *s)
{
    hc_http_io_t *io = s->free_io;
    if (io) {
        s->free_io = io->next_free;
        if (--s->nfree_io < s->pool_low)
            s->pool_low = s->nfree_io;
        return io;
    }
    /* rbuf (most of the struct) is filled by reads before it is looked at: not zeroed */
    io = hc_malloc(sizeof(*io));
    memset(io, 0, offsetof(hc_http_io_t, rbuf));
    hc_buf_init(&io->out, HC_HTTP_OUT_MAX);
    hc_buf_init(&io->inflight, 0);
    hc_buf_init(&io->stash, HC_HTTP_STASH_MAX + HC_HTTP_RBUF);
    hc_http_rq_init(&io->rq, &s->o);
    return io;
}

static void io_free(hc_http_io_t *io)
{
    hc_buf_free(&io->out);
    hc_buf_free(&io->inflight);
    hc_buf_free(&io->stash);
    hc_http_rq_free(&io->rq);
    hc_free(io);
}

/* Frees the pooled blocks no request took since the last trim, keeping IO_POOL_KEEP. */
static void on_pool_trim(uv_timer_t *t)
{
    hc_http_server_t *s = t->data;
    unsigned idle = s->pool_low;
    while (idle-- > 0 && s->nfree_io > IO_POOL_KEEP) {
        hc_http_io_t *io = s->free_io;
        s->free_io = io->next_free;
        s->nfree_io--;
        io_free(io);
    }
    s->pool_low = s->nfree_io;
    if (s->nfree_io <= IO_POOL_KEEP)
        uv_timer_stop(t);
}

void hc_http_io_put(hc_http_server_t *s, hc_http_io_t *io)
{
    hc_buf_reset(&io->out);
    hc_buf_reset(&io->inflight);
    hc_buf_reset(&io->stash);
    /* A buffer that grew for a big response is not worth keeping around. */
    if (io->out.cap > 2 * HC_HTTP_OUT_HIGH)
        hc_buf_free(&io->out);
    if (io->inflight.cap > 2 * HC_HTTP_OUT_HIGH)
        hc_buf_free(&io->inflight);
    if (s->nfree_io >= IO_POOL_MAX || s->draining) {
        io_free(io);
        return;
    }
    io->next_free = s->free_io;
    s->free_io = io;
    if (++s->nfree_io > IO_POOL_KEEP && !uv_is_active((uv_handle_t *)&s->pool_timer)) {
        s->pool_low = s->nfree_io;
        uv_timer_start(&s->pool_timer, on_pool_trim, s->o.io_pool_trim_ms, s->o.io_pool_trim_ms);
    }
}

/* RFC 9110 §5.6.7 IMF-fixdate, rebuilt at most once per second of loop time. */
const char *hc_http_date(hc_http_server_t *s)
{
    uint64_t now = uv_now(s->loop);
    if (s->date[0] && now - s->date_at < 1000)
        return s->date;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(s->date, sizeof(s->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    s->date_at = now;
    return s->date;
}

void hc_http_queue(hc_http_conn_t *c)
{
    hc_http_server_t *s = c->srv;
    if (c->queued || c->closing)
        return;
    c->queued = 1;
    c->next_queued = s->queue;
    s->queue = c;
    uv_idle_start(&s->idle, on_idle);
}

static void on_handle_closed(uv_handle_t *h)
{
    hc_http_server_t *s = h->data;
    if (--s->open_handles == 0 && s->done_cb)
        s->done_cb(s, s->done_arg);
}

static void finish_drain(hc_http_server_t *s)
{
    if (s->closed_all)
        return;
    s->closed_all = 1;
    uv_close((uv_handle_t *)&s->idle, on_handle_closed);
    uv_close((uv_handle_t *)&s->drain_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->pool_timer, on_handle_closed);
}

void hc_http_server_conn_gone(hc_http_server_t *s, hc_http_conn_t *c)
{
    if (c->queued) {
        hc_http_conn_t **pp = &s->queue;
        while (*pp && *pp != c)
            pp = &(*pp)->next_queued;
        if (*pp)
            *pp = c->next_queued;
        c->queued = 0;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->stats.open_connections--;
    if (s->draining && !s->conns)
        finish_drain(s);
}

static void on_drain_deadline(uv_timer_t *t)
{
    hc_http_server_t *s = t->data;
    hc_log(HC_LOG_INFO, "drain deadline reached", HC_LI("connections", s->stats.open_connections),
           NULL);
    for (hc_http_conn_t *c = s->conns, *n; c; c = n) {
        n = c->next;
        hc_http_conn_close(c);
    }
}

void hc_http_server_drain(hc_http_server_t *s, unsigned deadline_ms, hc_http_server_done_cb done,
                          void *arg)
{
    if (s->draining)
        return;
    s->draining = 1;
    s->done_cb = done;
    s->done_arg = arg;
    for (unsigned i = 0; i < s->nlisteners; i++)
        uv_close((uv_handle_t *)&s->listeners[i], on_handle_closed);
    for (hc_http_conn_t *c = s->conns, *n; c; c = n) {
        n = c->next;
        if (!c->io || !c->io->rq.active)
            hc_http_conn_close(c); /* idle keep-alive */
        else
            c->keep_alive = 0; /* closes after its response */
    }
    if (!s->conns)
        finish_drain(s);
    else
        uv_timer_start(&s->drain_timer, on_drain_deadline, deadline_ms, 0);
}

void hc_http_server_free(hc_http_server_t *s)
{
    if (!s)
        return;
    while (s->free_io) {
        hc_http_io_t *io = s->free_io;
        s->free_io = io->next_free;
        io_free(io);
    }
    if (s->o.tls)
        hc_tls_ctx_unref(s->o.tls);
    hc_free(s);
}
