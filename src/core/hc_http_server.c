/* The HTTP/1.1 server object (see hc_http_server.h): listeners, the pools that keep the
 * hot path free of malloc, the cached Date field, counters and draining. Connection
 * I/O lives in hc_http_conn.c, the request/response API in hc_http_req.c. */
#include "core/hc_http_internal.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    uv_timer_init(loop, &s->accept_timer);
    s->accept_timer.data = s;
    s->open_handles = 4;
    return s;
}

enum { BACKOFF_FIRST_MS = 5, BACKOFF_MAX_MS = 1000, BACKLOG = 1024 };

static void on_connection(uv_stream_t *listener, int status);

/* Reopens the paused listeners from their spares, each taking a new spare first; while
 * descriptors still run out, waits twice as long (Go's server: 5 ms doubling to 1 s). */
static void on_accept_retry(uv_timer_t *t)
{
    hc_http_server_t *s = t->data;
    for (unsigned i = 0; i < s->nlisteners && !s->draining; i++) {
        if (!(s->closed >> i & 1))
            continue;
        int next = fcntl(s->spare[i], F_DUPFD_CLOEXEC, 0);
        if (next < 0) {
            s->accept_backoff_ms = s->accept_backoff_ms * 2 > BACKOFF_MAX_MS
                                       ? BACKOFF_MAX_MS
                                       : s->accept_backoff_ms * 2;
            uv_timer_start(t, on_accept_retry, s->accept_backoff_ms, 0);
            return;
        }
        uv_tcp_t *l = &s->listeners[i];
        uv_tcp_init(s->loop, l);
        l->data = s;
        if (uv_tcp_open(l, s->spare[i]) || uv_listen((uv_stream_t *)l, BACKLOG, on_connection)) {
            hc_log(HC_LOG_ERROR, "cannot reopen a listener", NULL);
            abort(); /* a socket that was listening a moment ago */
        }
        s->spare[i] = next;
        s->paused &= ~(1u << i);
        s->closed &= ~(1u << i);
    }
}

static void on_handle_closed(uv_handle_t *h);

static void on_listener_paused(uv_handle_t *h)
{
    hc_http_server_t *s = h->data;
    s->closed |= 1u << ((uv_tcp_t *)h - s->listeners);
    if (s->draining) /* the drain began while it closed: it counts as closed now */
        on_handle_closed(h);
    else if (!uv_is_active((uv_handle_t *)&s->accept_timer))
        uv_timer_start(&s->accept_timer, on_accept_retry, s->accept_backoff_ms, 0);
}

/* No descriptor left for a connection: libuv would retry the accept at once, forever
 * when its reserve descriptor is taken by another thread (a spinning loop that never
 * serves a signal). So the listener closes, its spare keeping the socket and the
 * connections queued on it, until on_accept_retry. Returns 0, or -1 without a spare. */
static int accept_pause(hc_http_server_t *s, uv_stream_t *listener, int status)
{
    unsigned i = (unsigned)((uv_tcp_t *)listener - s->listeners);
    if (s->spare[i] < 0 || (s->paused >> i & 1))
        return -1;
    s->paused |= 1u << i;
    /* each pause without an accept since waits twice as long (Go's tempDelay) */
    s->accept_backoff_ms = !s->accept_backoff_ms                       ? BACKOFF_FIRST_MS
                           : s->accept_backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                                       : s->accept_backoff_ms * 2;
    s->pauses++;
    uint64_t now = uv_now(s->loop);
    if (!s->pause_logged || now - s->pause_logged >= 1000) { /* a line a second at most */
        hc_log(HC_LOG_WARN, "accept paused: out of descriptors",
               HC_LS("error", uv_strerror(status)), HC_LI("retry_ms", s->accept_backoff_ms),
               HC_LI("pauses", s->pauses), NULL);
        s->pause_logged = now;
        s->pauses = 0;
    }
    uv_close((uv_handle_t *)listener, on_listener_paused);
    return 0;
}

static void on_connection(uv_stream_t *listener, int status)
{
    hc_http_server_t *s = listener->data;
    if ((status == UV_EMFILE || status == UV_ENFILE) && accept_pause(s, listener, status) == 0)
        return;
    if (status < 0) {
        hc_log(HC_LOG_WARN, "accept failed", HC_LS("error", uv_strerror(status)), NULL);
        return;
    }
    if (s->accept_backoff_ms) { /* descriptors are back (Go resets its wait here too) */
        hc_log(HC_LOG_INFO, "accepting again", HC_LI("after_ms", s->accept_backoff_ms), NULL);
        s->accept_backoff_ms = 0;
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
    int rc = hc_tcp_listen(s->loop, l, addr, reuseport, BACKLOG, on_connection);
    if (rc < 0)
        return rc;
    uv_os_fd_t fd;
    l->data = s;
    s->spare[s->nlisteners] =
        uv_fileno((uv_handle_t *)l, &fd) == 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
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
    uv_close((uv_handle_t *)&s->accept_timer, on_handle_closed);
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
    uv_timer_stop(&s->accept_timer);
    for (unsigned i = 0; i < s->nlisteners; i++) {
        if (s->closed >> i & 1) /* closed already */
            s->open_handles--;
        else if (!(s->paused >> i & 1)) /* else on_listener_paused counts it */
            uv_close((uv_handle_t *)&s->listeners[i], on_handle_closed);
        if (s->spare[i] >= 0)
            close(s->spare[i]);
        s->spare[i] = -1;
    }
    for (hc_http_conn_t *c = s->conns, *n; c; c = n) {
        n = c->next;
        if (c->upgrade && s->o.drain_upgraded)
            continue; /* a tunnel ends by itself, or at the deadline */
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
