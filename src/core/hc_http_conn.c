/* One HTTP/1.1 connection of hc_http_server: socket (and TLS) I/O, feeding the parser,
 * timeouts, pipelining through the stash, and output batching. The request head (raw
 * scan, parser callbacks, RFC 9112 strictness checks) is in hc_http_conn_head.c; the
 * request/response API on top of it is in hc_http_req.c. */
#include "core/hc_http_internal.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_sock.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static void process(hc_http_conn_t *c, const char *data, size_t len);
static void after_output(hc_http_conn_t *c);

/* ---- timers ---- */

static void on_timer(uv_timer_t *t);

static void timer_set(hc_http_conn_t *c, uint64_t at)
{
    uint64_t now = uv_now(c->srv->loop);
    c->armed_at = at;
    uv_timer_start(&c->timer, on_timer, at > now ? at - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    hc_http_conn_t *c = t->data;
    hc_http_rq_t *rq = c->io ? &c->io->rq : NULL;
    c->armed_at = 0;
    if (!c->deadline)
        return;
    if (c->deadline > uv_now(c->srv->loop)) { /* armed for an earlier deadline */
        timer_set(c, c->deadline);
        return;
    }
    c->deadline = 0;
    if (c->lingering || !rq || !rq->active) {
        hc_http_conn_close(c); /* idle keep-alive, or the linger after a close */
    } else if (c->head_phase) {
        hc_http_conn_fail(c, 408, "header section not received in time");
    } else if (rq->sse_keepalive_ms && rq->res_state == RQ_RES_STARTED) {
        hc_http_res_write(&rq->pub, ":\n\n", 3); /* (an event stream's ticks replace the
                                                    body deadline) */
        hc_http_conn_arm(c, rq->sse_keepalive_ms);
    } else if (c->body_timed && !rq->msg_complete) {
        c->body_timed = 0;
        if (rq->res_state == RQ_RES_NONE)
            hc_http_conn_fail(c, 408, "request body not received in time");
        else
            hc_http_conn_close(c);
    }
}

void hc_http_conn_arm(hc_http_conn_t *c, unsigned ms)
{
    c->deadline = uv_now(c->srv->loop) + ms;
    if (!c->armed_at || c->armed_at > c->deadline)
        timer_set(c, c->deadline);
}

void hc_http_conn_disarm(hc_http_conn_t *c)
{
    c->deadline = 0;
}

/* ---- output ---- */

size_t hc_http_conn_buffered(const hc_http_conn_t *c)
{
    return c->io ? c->io->out.len + c->io->inflight.len : 0;
}

static void on_write(uv_write_t *w, int status)
{
    hc_http_conn_t *c = w->data;
    c->writing = 0;
    if (c->closing)
        return;
    hc_buf_reset(&c->io->inflight);
    if (status < 0) {
        hc_http_conn_close(c);
        return;
    }
    hc_http_conn_flush(c);
}

/* Sends data: straight to the socket first, the rest copied to inflight for one uv_write.
 * Returns bytes taken (all of them unless an error) or a negative errno. */
static long send_bytes(hc_http_conn_t *c, const char *data, size_t len)
{
    hc_http_io_t *io = c->io;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    ssize_t n = hc_sock_send(c->fd, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0)
        return n;
    if ((size_t)n < len) {
        hc_buf_append(&io->inflight, data + n, len - (size_t)n);
        b = uv_buf_init(io->inflight.base, (unsigned)io->inflight.len);
        io->wreq.data = c;
        int rc = uv_write(&io->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
        if (rc < 0)
            return rc;
        c->writing = 1;
    }
    return (long)len;
}

static int flush_tls(hc_http_conn_t *c)
{
    hc_http_io_t *io = c->io;
    while (io->out.len) {
        int n = hc_tls_conn_write(c->tls, io->out.base, io->out.len);
        if (n < 0)
            return n;
        if (n == 0)
            break; /* handshake not done yet */
        hc_buf_consume(&io->out, (size_t)n);
    }
    const char *data;
    size_t len = hc_tls_conn_pending(c->tls, &data);
    if (!len)
        return 0;
    long rc = send_bytes(c, data, len);
    if (rc < 0)
        return (int)rc;
    hc_tls_conn_consume(c->tls, len);
    return 0;
}

void hc_http_conn_flush(hc_http_conn_t *c)
{
    if (c->in_read || c->closing || !c->io || c->writing)
        return;
    hc_http_io_t *io = c->io;
    long rc = 0;
    if (c->tls) {
        rc = flush_tls(c);
    } else if (io->out.len) {
        rc = send_bytes(c, io->out.base, io->out.len);
        hc_buf_reset(&io->out);
    }
    if (rc < 0) {
        hc_http_conn_close(c);
        return;
    }
    if (!c->writing)
        after_output(c);
}

enum { DIRECT_TLS_MIN = 4096 }; /* smaller bodies share the head's record */

/* A plain connection writes the buffered head and data in one writev, straight from the
 * caller's buffer; a TLS connection encrypts the head, then data of DIRECT_TLS_MIN bytes
 * or more, without copying data first (the ciphertext goes out with the next flush). Anything
 * unusual (a read in progress, a write in flight, a handshake not done, a socket error) takes
 * nothing and leaves it to the buffered path, which reports errors. */
size_t hc_http_conn_write_direct(hc_http_conn_t *c, const char *data, size_t len)
{
    hc_http_io_t *io = c->io;
    if (c->in_read || c->closing || c->writing || !io || !len || len > INT_MAX)
        return 0;
    if (c->tls) {
        if (len < DIRECT_TLS_MIN)
            return 0;         /* copied, it goes out in one record with the head */
        while (io->out.len) { /* the head first, as flush_tls would */
            int n = hc_tls_conn_write(c->tls, io->out.base, io->out.len);
            if (n <= 0)
                return 0;
            hc_buf_consume(&io->out, (size_t)n);
        }
        int n = hc_tls_conn_write(c->tls, data, len);
        return n > 0 ? (size_t)n : 0;
    }
    uv_buf_t b[2];
    unsigned nb = 0;
    size_t head = io->out.len;
    if (head)
        b[nb++] = uv_buf_init(io->out.base, (unsigned)head);
    b[nb++] = uv_buf_init((char *)data, (unsigned)len);
    ssize_t n = hc_sock_send(c->fd, b, nb);
    if (n <= 0)
        return 0;
    if ((size_t)n <= head) {
        hc_buf_consume(&io->out, (size_t)n);
        return 0;
    }
    hc_buf_reset(&io->out);
    return (size_t)n - head;
}

static void release_io_if_idle(hc_http_conn_t *c)
{
    hc_http_io_t *io = c->io;
    if (!io || io->rq.active || c->writing || io->out.len || io->stash.len || c->upgrade ||
        c->close_after || c->closing || c->in_read || c->queued)
        return;
    if (c->tls && hc_tls_conn_pending(c->tls, &(const char *){NULL}))
        return;
    hc_http_io_put(c->srv, io);
    c->io = NULL;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

/* Whether stashed bytes may still become requests: not past a close or an upgrade. */
static int parsing_open(const hc_http_conn_t *c)
{
    return !c->closing && !c->close_after && !c->lingering && !c->upgrade;
}

/* Everything buffered went out: fire the drain callback, close when asked to. */
static void after_output(hc_http_conn_t *c)
{
    hc_http_io_t *io = c->io;
    hc_http_rq_t *rq = &io->rq;
    if (rq->active && rq->drain_cb) {
        hc_http_drain_cb cb = rq->drain_cb;
        rq->drain_cb = NULL;
        cb(&rq->pub, rq->drain_arg);
        if (c->closing || !c->io)
            return;
    }
    if (c->upgrade && c->upgrade->on_drain)
        c->upgrade->on_drain(c->upgrade->ud);
    if (c->closing || !c->io)
        return;
    if (c->raw_shut && !c->shutting && !io->out.len && !c->writing) {
        c->shutting = 1; /* half-close of a tunnel: close_notify, then FIN after it */
        if (c->tls) {
            hc_tls_conn_shutdown(c->tls);
            hc_http_conn_flush(c);
        }
        if (!c->closing && uv_shutdown(&io->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
            hc_http_conn_close(c);
        return;
    }
    if (c->close_after && c->tls && !c->shutting && !io->out.len) {
        c->shutting = 1; /* close_notify after the last response bytes */
        hc_tls_conn_shutdown(c->tls);
        hc_http_conn_flush(c);
        return;
    }
    if (c->close_after && !c->lingering && !c->writing && !io->out.len && !c->closing) {
        /* Lingering close: stop sending, keep reading briefly so a client still
         * sending does not get a reset that destroys the response it has not read. */
        c->lingering = 1;
        if (uv_shutdown(&io->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
            hc_http_conn_close(c);
            return;
        }
        hc_http_conn_set_reading(c, 1);
        hc_http_conn_arm(c, HC_HTTP_LINGER_MS);
        return;
    }
    if (!rq->active && io->stash.len && parsing_open(c)) /* held back by parser_must_wait */
        hc_http_queue(c);
    release_io_if_idle(c);
}

void hc_http_conn_close_after_write(hc_http_conn_t *c)
{
    c->close_after = 1;
    c->keep_alive = 0;
    hc_http_conn_flush(c);
}

/* ---- feeding the parser ---- */

/* Must the parser wait before taking more bytes of this connection? Yes while a
 * finished request awaits its response (pipelining keeps order) and while a body
 * nobody reads yet would have to be buffered. */
static int parser_must_wait(hc_http_conn_t *c)
{
    hc_http_rq_t *rq = &c->io->rq;
    if (!rq->active) /* a pipelined request waits while earlier answers are still going out */
        return hc_http_conn_buffered(c) > HC_HTTP_OUT_HIGH;
    if (rq->msg_complete)
        return 1;
    if (c->head_phase || rq->res_state == RQ_RES_ENDED)
        return 0;
    return rq->body_state != RQ_BODY_READING || rq->body_paused;
}

static void finish_rq(hc_http_conn_t *c)
{
    hc_http_rq_t *rq = &c->io->rq;
    rq->active = 0;
    c->srv->stats.active_requests--;
    c->srv->stats.requests_served++;
    hc_http_rq_reset(rq);
}

static void request_done(hc_http_conn_t *c)
{
    finish_rq(c);
    hc_http_parse_resume(&c->parser);
    hc_http_conn_scan_reset(c);
    if (!c->keep_alive || (c->peer_eof && !c->io->stash.len)) {
        hc_http_conn_close_after_write(c);
        return;
    }
    hc_http_conn_arm(c, c->srv->o.idle_timeout_ms);
    if (!c->in_read && c->io->stash.len)
        hc_http_queue(c);
}

void hc_http_conn_request_done(hc_http_conn_t *c)
{
    if (!c->in_read && !c->closing)
        request_done(c); /* inside the parse loop, the loop finishes it */
}

static void parse_failed(hc_http_conn_t *c)
{
    int e = hc_http_parse_error(&c->parser);
    if (c->err_status)
        hc_http_conn_fail(c, c->err_status, c->err_msg);
    else if (e == HC_HTTP_PARSE_EHEADER_SIZE)
        hc_http_conn_fail(c, 431, "header section too large");
    else if (e == HC_HTTP_PARSE_ECALLBACK)
        hc_http_conn_close_after_write(c);
    else
        hc_http_conn_fail(c, 400, hc_http_parse_reason(&c->parser));
}

static const char *scan_reason(long status)
{
    switch (status) {
    case 414:
        return "request line too long";
    case 431:
        return "header section too large";
    default:
        return "malformed request-line or header section (HTTP-version, obs-fold or stray "
               "whitespace)";
    }
}

/* Feeds data to the parser until it is used up or the request must wait. Returns the
 * bytes used; the caller keeps the rest in the stash. */
static size_t parse_some(hc_http_conn_t *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len && parsing_open(c)) {
        if (parser_must_wait(c))
            break;
        size_t feed = len - off;
        if (c->head_phase) {
            long n = hc_http_conn_head_scan(c, data + off, feed);
            if (n < 0) {
                hc_http_conn_fail(c, (int)-n, scan_reason(-n));
                return len;
            }
            if (n > 0)
                feed = (size_t)n;
        }
        int gathering = hc_http_parse_gathering(&c->parser);
        off += hc_http_parse_execute(&c->parser, data + off, feed);
        if (!gathering && hc_http_parse_gathering(&c->parser)) /* a method split over */
            hc_http_conn_arm(c, c->srv->o.header_timeout_ms);  /* reads: the head's clock */
        if (hc_http_parse_error(&c->parser)) {
            parse_failed(c);
            return len;
        }
        if (hc_http_parse_is_upgrade(&c->parser)) {
            if (!c->upgrade) { /* not taken over (yet): the rest waits in the stash */
                c->keep_alive = 0;
                if (c->io->rq.res_state == RQ_RES_ENDED) /* answered here: close after it */
                    request_done(c);
                return off;
            }
            if (c->io->rq.active)
                finish_rq(c);
            if (off < len)
                c->upgrade->on_data(c->upgrade->ud, data + off, len - off);
            return len;
        }
        if (hc_http_parse_is_paused(&c->parser) && c->io->rq.res_state == RQ_RES_ENDED)
            request_done(c);
    }
    return off;
}

static void stash_add(hc_http_conn_t *c, const char *data, size_t len)
{
    hc_http_io_t *io = c->io;
    if (hc_buf_append(&io->stash, data, len) < 0) {
        hc_http_conn_close(c);
        return;
    }
    if (io->stash.len >= HC_HTTP_STASH_MAX)
        hc_http_conn_set_reading(c, 0);
}

static void run_stash(hc_http_conn_t *c)
{
    hc_http_io_t *io = c->io;
    c->in_read = 1;
    size_t used = parse_some(c, io->stash.base, io->stash.len);
    hc_buf_consume(&io->stash, used);
    c->in_read = 0;
    if (!c->lingering && io->stash.len < HC_HTTP_STASH_MAX)
        hc_http_conn_set_reading(c, 1);
    hc_http_conn_flush(c);
}

static void process(hc_http_conn_t *c, const char *data, size_t len)
{
    if (c->upgrade) {
        c->upgrade->on_data(c->upgrade->ud, data, len);
        return;
    }
    if (!c->io) /* released after the piece before (one read may decrypt to several) */
        c->io = hc_http_io_get(c->srv);
    if (c->io->stash.len) {
        stash_add(c, data, len);
        if (!c->closing)
            run_stash(c);
        return;
    }
    c->in_read = 1;
    size_t used = parse_some(c, data, len);
    if (used < len && !c->closing && !c->close_after)
        stash_add(c, data + used, len - used);
    c->in_read = 0;
    hc_http_conn_flush(c);
}

void hc_http_conn_run_queued(hc_http_conn_t *c)
{
    if (c->closing || !c->io)
        return;
    hc_http_rq_t *rq = &c->io->rq;
    if (rq->active && rq->body_state == RQ_BODY_READING && rq->msg_complete)
        hc_http_rq_body(rq, NULL, 0, 1);
    if (c->closing)
        return;
    if (c->io->stash.len && c->upgrade) {
        /* bytes that followed the request head belong to the taken-over protocol */
        hc_http_io_t *io = c->io;
        c->upgrade->on_data(c->upgrade->ud, io->stash.base, io->stash.len);
        hc_buf_reset(&io->stash);
    } else if (c->io->stash.len && !c->upgrade)
        run_stash(c);
    else
        hc_http_conn_flush(c);
}

void hc_http_conn_take_over(hc_http_conn_t *c, const hc_http_upgrade_t *up)
{
    c->upgrade = up;
    c->keep_alive = 0;
    hc_http_conn_disarm(c);
}

int hc_http_req_upgradable(const hc_http_req_t *req)
{
    const hc_http_conn_t *c = req->conn;
    return !c->closing && !c->upgrade && hc_http_parse_is_upgrade(&c->parser);
}

int hc_http_req_take_over(hc_http_req_t *req, const hc_http_raw_cbs_t *cbs, void *ud,
                          hc_http_conn_t **out)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    hc_http_conn_t *c = req->conn;
    if (!hc_http_req_upgradable(req) || rq->res_state != RQ_RES_STARTED || !cbs || !cbs->on_data ||
        !cbs->on_close)
        return -EINVAL;
    hc_http_io_t *io = c->io;
    rq->res_state = RQ_RES_ENDED;
    io->raw = (hc_http_upgrade_t){cbs->on_data, cbs->on_drain, cbs->on_close, ud, cbs->on_eof};
    hc_http_conn_take_over(c, &io->raw);
    if (!c->in_read) { /* inside the handler, the parse loop finishes the request */
        finish_rq(c);
        hc_http_conn_set_reading(c, 1);
        if (io->stash.len)
            hc_http_queue(c);
        hc_http_conn_flush(c);
    }
    *out = c;
    return 0;
}

/* ---- lifecycle ---- */

static void on_tcp_closed(uv_handle_t *h)
{
    hc_http_conn_t *c = h->data;
    hc_http_server_t *s = c->srv;
    if (c->io)
        hc_http_io_put(s, c->io);
    if (c->tls)
        hc_tls_conn_free(c->tls);
    hc_http_parse_release(&c->parser);
    hc_free(c);
    if (--s->open_handles == 0 && s->done_cb)
        s->done_cb(s, s->done_arg);
}

static void on_timer_closed(uv_handle_t *h)
{
    hc_http_conn_t *c = h->data;
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

void hc_http_conn_close(hc_http_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    hc_http_rq_t *rq = c->io ? &c->io->rq : NULL;
    if (rq && rq->active) {
        if (rq->body_state == RQ_BODY_READING)
            hc_http_rq_body(rq, NULL, 0, -ECONNRESET);
        if (rq->res_state != RQ_RES_ENDED && rq->close_cb)
            rq->close_cb(&rq->pub, rq->close_arg);
        rq->active = 0;
        c->srv->stats.active_requests--;
        hc_http_rq_reset(rq);
    }
    if (c->upgrade) {
        const hc_http_upgrade_t *up = c->upgrade;
        c->upgrade = NULL;
        up->on_close(up->ud);
    }
    hc_http_server_conn_gone(c->srv, c);
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

static void on_eof(hc_http_conn_t *c)
{
    hc_http_rq_t *rq = c->io ? &c->io->rq : NULL;
    if (c->upgrade && c->upgrade->on_eof) {
        c->peer_eof = 1;
        hc_http_conn_set_reading(c, 0);
        c->upgrade->on_eof(c->upgrade->ud);
        return;
    }
    /* A client may half-close after sending its request (RFC 9112 §9.6): finish the
     * response before closing, unless EOF counts as leaving. A streaming response or a
     * half-sent request: gone. */
    if (rq && rq->active && rq->msg_complete && rq->res_state == RQ_RES_NONE && !c->lingering &&
        !c->srv->o.eof_aborts) {
        c->peer_eof = 1;
        c->keep_alive = 0;
        hc_http_conn_set_reading(c, 0);
        return;
    }
    hc_http_conn_close(c);
}

/* The connection's TLS state, made when a handshake begins (or at accept on a TLS-only
 * listener). */
static void tls_begin(hc_http_conn_t *c)
{
    c->tls = hc_tls_conn_server(c->srv->o.tls);
    hc_tls_conn_set_fd(c->tls, c->fd);
}

/* A failed handshake or record: the alert OpenSSL queued goes out before the close
 * (best effort: the socket closes right after), so the client can tell why, as Go's
 * server tells it. */
static void tls_failed(hc_http_conn_t *c)
{
    const char *data;
    size_t len = hc_tls_conn_pending(c->tls, &data);
    if (len && !c->writing) {
        uv_buf_t b = uv_buf_init((char *)data, len > UINT_MAX ? UINT_MAX : (unsigned)len);
        hc_sock_send(c->fd, &b, 1);
    }
    hc_http_conn_close(c);
}

/* nread bytes are in the read buffer, or the read failed (UV_EOF at the end). */
static void on_bytes(hc_http_conn_t *c, ssize_t nread)
{
    if (nread < 0) {
        if (nread == UV_EOF)
            on_eof(c);
        else
            hc_http_conn_close(c);
        return;
    }
    if (nread > 0 && c->lingering)
        return;
    if (nread > 0 && c->tls_fresh) {
        c->tls_fresh = 0;
        if (c->io->rbuf[0] == 0x16) /* a TLS handshake record (RFC 8446 §5.1) */
            tls_begin(c);
    }
    if (nread > 0 && c->tls) {
        if (hc_tls_conn_feed(c->tls, c->io->rbuf, (size_t)nread) < 0) {
            hc_http_conn_close(c);
            return;
        }
        char plain[HC_HTTP_RBUF];
        int n;
        while (!c->closing && (n = hc_tls_conn_read(c->tls, plain, sizeof(plain))) > 0)
            process(c, plain, (size_t)n);
        if (!c->closing && n < 0) {
            if (n == -EPIPE)
                on_eof(c);
            else
                tls_failed(c);
            return;
        }
        if (!c->closing)
            hc_http_conn_flush(c); /* handshake bytes */
    } else if (nread > 0) {
        process(c, c->io->rbuf, (size_t)nread);
    }
}

/* The socket is readable (UV_ENOBUFS from hc_sock_alloc_none): reads it into the
 * connection's buffer, taken only now so that idle connections hold none, and again
 * while reads fill the buffer, as libuv's own reads do. */
static void on_readable(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hc_http_conn_t *c = s->data;
    (void)nread;
    (void)buf;
    for (int count = 32; count > 0 && !c->closing && !c->read_stopped; count--) {
        if (!c->io)
            c->io = hc_http_io_get(c->srv);
        ssize_t n = hc_sock_recv(c->fd, c->io->rbuf, sizeof(c->io->rbuf));
        if (n == UV_EAGAIN)
            break;
        if (n < 0)
            uv_read_stop(s); /* as libuv stops reading at the end or an error */
        on_bytes(c, n);
        if (n < (ssize_t)sizeof(c->io->rbuf))
            break;
    }
    if (!c->closing)
        release_io_if_idle(c);
}

void hc_http_conn_set_reading(hc_http_conn_t *c, int on)
{
    if (c->closing)
        return;
    if (on && c->read_stopped && !c->peer_eof) {
        c->read_stopped = 0;
        uv_read_start((uv_stream_t *)&c->tcp, hc_sock_alloc_none, on_readable);
    } else if (!on && !c->read_stopped) {
        c->read_stopped = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

static void on_unaccepted_closed(uv_handle_t *h)
{
    hc_free(h->data);
}

void hc_http_conn_accept(hc_http_server_t *s, uv_stream_t *listener)
{
    hc_http_conn_t *c = hc_calloc(1, sizeof(*c));
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_unaccepted_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    c->fd = hc_sock_fd(&c->tcp);
    if (s->o.tls && s->o.tls_plain_fallback)
        c->tls_fresh = 1; /* TLS or not: the first byte tells */
    else if (s->o.tls)
        tls_begin(c);
    hc_http_parse_init(&c->parser, HC_HTTP_PARSE_REQUEST, &hc_http_conn_parse_cbs, c);
    hc_http_conn_scan_reset(c);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->open_handles++;
    s->stats.open_connections++;
    hc_http_conn_arm(c, s->o.header_timeout_ms);
    uv_read_start((uv_stream_t *)&c->tcp, hc_sock_alloc_none, on_readable);
}
