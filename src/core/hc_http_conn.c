/* One HTTP/1.1 connection of hc_http_server: socket (and TLS) I/O, feeding the parser,
 * the RFC 9112 strictness checks, timeouts, pipelining through the stash, and output
 * batching. The request/response API on top of it is in hc_http_req.c. */
#include "core/hc_http_internal.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static void process(hc_http_conn_t *c, const char *data, size_t len);
static void after_output(hc_http_conn_t *c);

/* ---- header section scanner ----
 * http-parser 2.9 accepts obs-fold and has no per-line limits, so the raw head is
 * scanned first. It also tells where the head ends, so the parser is fed the head
 * alone and each request is checked before any of its body is read. */
enum { SC_START, SC_REQLINE, SC_LINE_START, SC_HEADER, SC_END_CR, SC_DONE };

static void scan_reset(hc_http_conn_t *c)
{
    memset(&c->scan, 0, sizeof(c->scan));
    c->head_phase = 1;
}

/* Returns the bytes up to and including the end of the head, 0 when all of data belongs
 * to the head so far, or -status for a violation. */
static long head_scan(hc_http_conn_t *c, const char *data, size_t len)
{
    hc_http_scan_t *sc = &c->scan;
    const hc_http_server_opts_t *o = &c->srv->o;
    for (size_t i = 0; i < len; i++) {
        char ch = data[i];
        switch (sc->state) {
        case SC_START: /* RFC 9112 §2.2: empty lines before the request-line are ignored */
            if (ch != '\r' && ch != '\n') {
                sc->state = SC_REQLINE;
                sc->line_len = 1;
            } else if (++sc->head_len > 64) {
                return -400;
            }
            break;
        case SC_REQLINE:
            if (ch == '\n') {
                sc->state = SC_LINE_START;
                sc->head_len = 0;
            } else if (++sc->line_len > o->max_request_line) {
                return -414; /* RFC 9112 §3: a request-line longer than we parse */
            }
            break;
        case SC_LINE_START:
            /* RFC 9112 §5.2: obs-fold in a request is rejected with 400; §2.2: so is
             * whitespace between the start-line and the first field line. */
            if (ch == ' ' || ch == '\t')
                return -400;
            sc->state = ch == '\r' ? SC_END_CR : SC_HEADER;
            if (ch == '\n') {
                sc->state = SC_DONE;
                return (long)i + 1;
            }
            break;
        case SC_HEADER:
            if (ch == '\n')
                sc->state = SC_LINE_START;
            break;
        case SC_END_CR:
            if (ch != '\n')
                return -400;
            sc->state = SC_DONE;
            return (long)i + 1;
        default:
            return -400;
        }
        if (sc->state >= SC_LINE_START && ++sc->head_len > o->max_header_bytes)
            return -431; /* RFC 6585 §5 */
    }
    return 0;
}

/* ---- parser callbacks ---- */

static hc_http_rq_t *rq_of(void *ud)
{
    return &((hc_http_conn_t *)ud)->io->rq;
}

static int cb_begin(void *ud)
{
    hc_http_conn_t *c = ud;
    hc_http_rq_t *rq = rq_of(ud);
    hc_http_rq_reset(rq);
    rq->active = 1;
    rq->pub.conn = c;
    c->err_status = 0;
    c->srv->stats.active_requests++;
    hc_http_conn_arm(c, c->srv->o.header_timeout_ms);
    return 0;
}

static int reject(hc_http_conn_t *c, int status, const char *msg)
{
    c->err_status = status;
    c->err_msg = msg;
    return -1;
}

/* Appends a piece of the part in progress; part 0 = target, 1 = name, 2 = value. */
static int head_piece(hc_http_conn_t *c, int part, const char *at, size_t len)
{
    hc_http_rq_t *rq = &c->io->rq;
    if (part == 1 && (rq->in_value || rq->nh == 0)) {
        if (rq->nh >= c->srv->o.max_headers)
            return reject(c, 431, "too many header fields");
        if (hc_buf_append(&rq->head, "", 1))
            return reject(c, 431, "header section too large");
        rq->hoff[rq->nh].name_off = (uint32_t)rq->head.len;
        rq->hoff[rq->nh].name_len = 0;
        rq->nh++;
        rq->in_value = 0;
    } else if (part == 2 && !rq->in_value) {
        if (hc_buf_append(&rq->head, "", 1))
            return reject(c, 431, "header section too large");
        rq->hoff[rq->nh - 1].value_off = (uint32_t)rq->head.len;
        rq->hoff[rq->nh - 1].value_len = 0;
        rq->in_value = 1;
    }
    if (hc_buf_append(&rq->head, at, len))
        return reject(c, part ? 431 : 414, part ? "header section too large" : "URI too long");
    if (part == 1)
        rq->hoff[rq->nh - 1].name_len += (uint32_t)len;
    else if (part == 2)
        rq->hoff[rq->nh - 1].value_len += (uint32_t)len;
    return 0;
}

static int cb_target(void *ud, const char *at, size_t len)
{
    return head_piece(ud, 0, at, len);
}

static int cb_field(void *ud, const char *at, size_t len)
{
    hc_http_conn_t *c = ud;
    if (!c->head_phase)
        return 0; /* trailer fields of a chunked body: discarded */
    return head_piece(c, 1, at, len);
}

static int cb_value(void *ud, const char *at, size_t len)
{
    hc_http_conn_t *c = ud;
    if (!c->head_phase)
        return 0;
    if (c->io->rq.nh == 0)
        return reject(c, 400, "header value without name");
    return head_piece(c, 2, at, len);
}

/* RFC 9112 §6.1: the codings of one Transfer-Encoding field, in order. Sets *last_chunked
 * when the final one is chunked and counts the known codings we do not decode. */
static int te_check(hc_http_conn_t *c, const char *v, size_t n, int *last_chunked, int *other)
{
    static const char *known[] = {"gzip", "x-gzip", "deflate", "compress", "x-compress"};
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ';' && v[i] != ' ' && v[i] != '\t')
            i++;
        size_t tl = i - s;
        while (i < n && v[i] != ',')
            i++;
        if (!tl)
            continue;
        if (*last_chunked) /* chunked must be the final coding, applied once */
            return reject(c, 400, "chunked is not the final transfer coding");
        if (tl == 7 && !strncasecmp(v + s, "chunked", 7)) {
            *last_chunked = 1;
            continue;
        }
        int is_known = 0;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            is_known |= strlen(known[k]) == tl && !strncasecmp(v + s, known[k], tl);
        if (!is_known)
            return reject(c, 501, "unknown transfer coding");
        (*other)++;
    }
    return 0;
}

/* RFC 9110 §5.6.2 tchar */
/* RFC 9110 §5.6.2 tchar: "!#$%&'*+-.^_`|~", digits and letters, one bit per byte value
 * (a table: strspn built its own from the set string on every field). */
static const uint32_t tchar_bits[8] = {0x00000000u, 0x03ff6cfau, 0xc7fffffeu, 0x57ffffffu};

static int is_token_n(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(tchar_bits[c >> 5] & (1u << (c & 31))))
            return 0;
    }
    return n > 0;
}

/* RFC 9112 §6.1, §6.3 and §3.2 checks on the complete head. */
static int check_head(hc_http_conn_t *c, const hc_http_parse_head_t *h)
{
    hc_http_rq_t *rq = &c->io->rq;
    if (h->version_major != 1)
        return reject(c, 505, "HTTP version not supported");
    int hosts = 0, te = 0, cl = 0, chunked = 0, other = 0;
    for (unsigned i = 0; i < rq->nh; i++) {
        const hc_http_header_t *f = &rq->hdrs[i];
        /* RFC 9112 §5.1: no whitespace between field name and colon (400); RFC 9110
         * §5.1: a field name is a token. */
        if (!is_token_n(f->name, f->name_len))
            return reject(c, 400, "invalid field name");
        if (f->name_len == 4 && !strcasecmp(f->name, "host"))
            hosts++;
        else if (f->name_len == 14 && !strcasecmp(f->name, "content-length"))
            cl++;
        else if (f->name_len == 17 && !strcasecmp(f->name, "transfer-encoding")) {
            te++;
            if (te_check(c, f->value, f->value_len, &chunked, &other) < 0)
                return -1;
        } else if (f->name_len == 6 && !strcasecmp(f->name, "expect") && h->version_minor >= 1 &&
                   !strcasecmp(f->value, "100-continue"))
            rq->expect_continue = 1;
    }
    /* RFC 9112 §3.2: a client MUST send Host in HTTP/1.1; a server MUST answer 400 to
     * a request without it or with more than one. */
    if (hosts > 1 || (h->version_minor >= 1 && hosts != 1))
        return reject(c, 400, hosts ? "more than one Host field" : "missing Host field");
    /* §6.3 item 3: both Transfer-Encoding and Content-Length: smuggling risk. */
    if (te && cl)
        return reject(c, 400, "both Transfer-Encoding and Content-Length");
    /* §6.3 item 4: a request whose final coding is not chunked has no knowable length. */
    if (te && !chunked)
        return reject(c, 400, "Transfer-Encoding without final chunked");
    if (other)
        return reject(c, 501, "transfer coding not supported");
    return 0;
}

static void fill_req(hc_http_conn_t *c, const hc_http_parse_head_t *h)
{
    hc_http_rq_t *rq = &c->io->rq;
    hc_http_req_t *r = &rq->pub;
    hc_buf_append(&rq->head, "", 1); /* room was left by the limits; terminates the last part */
    for (unsigned i = 0; i < rq->nh; i++) {
        rq->hdrs[i].name = rq->head.base + rq->hoff[i].name_off;
        rq->hdrs[i].name_len = rq->hoff[i].name_len;
        rq->hdrs[i].value = rq->head.base + rq->hoff[i].value_off;
        rq->hdrs[i].value_len = rq->hoff[i].value_len;
        if (!rq->hoff[i].value_off) /* a field with an empty value */
            rq->hdrs[i].value = "";
    }
    r->method = h->method;
    r->target = rq->head.base;
    r->target_len = strlen(rq->head.base);
    const char *q = memchr(r->target, '?', r->target_len);
    r->path_len = q ? (size_t)(q - r->target) : r->target_len;
    r->path = hc_http_req_strndup(r, r->target, r->path_len);
    r->query = q ? q + 1 : NULL;
    r->query_len = q ? r->target_len - r->path_len - 1 : 0;
    r->version_minor = h->version_minor;
    r->headers = rq->hdrs;
    r->nheaders = rq->nh;
    r->content_length = h->content_length;
    r->chunked = h->chunked;
    r->is_head = !strcmp(h->method, "HEAD");
    r->max_body = c->srv->o.max_body;
}

static int cb_headers_complete(void *ud, const hc_http_parse_head_t *h)
{
    hc_http_conn_t *c = ud;
    hc_http_rq_t *rq = &c->io->rq;
    if (c->err_status)
        return -1;
    if (!rq->head.len)
        return reject(c, 400, "empty request-target");
    fill_req(c, h);
    c->head_phase = 0;
    c->keep_alive = h->keep_alive && !c->srv->draining && !c->peer_eof;
    uv_timer_stop(&c->timer);
    if (check_head(c, h) < 0)
        return -1;
    c->srv->o.handler(&rq->pub, c->srv->o.handler_arg);
    return 0;
}

static int cb_body(void *ud, const char *at, size_t len)
{
    hc_http_conn_t *c = ud;
    hc_http_rq_t *rq = &c->io->rq;
    rq->body_received += (int64_t)len;
    if (rq->res_state == RQ_RES_ENDED) { /* discarding an unread body */
        if ((size_t)rq->body_received > rq->pub.max_body)
            c->keep_alive = 0;
        return c->keep_alive ? 0 : -1;
    }
    if ((size_t)rq->body_received > rq->pub.max_body)
        return reject(c, 413, "request body too large");
    hc_http_rq_body(rq, at, len, 0);
    return 0;
}

static int cb_message_complete(void *ud)
{
    hc_http_conn_t *c = ud;
    hc_http_rq_t *rq = &c->io->rq;
    rq->msg_complete = 1;
    if (rq->body_state == RQ_BODY_READING)
        hc_http_rq_body(rq, NULL, 0, 1);
    return HC_HTTP_PARSE_PAUSE;
}

static const hc_http_parse_cbs_t parse_cbs = {
    .on_begin = cb_begin,
    .on_target = cb_target,
    .on_header_field = cb_field,
    .on_header_value = cb_value,
    .on_headers_complete = cb_headers_complete,
    .on_body = cb_body,
    .on_message_complete = cb_message_complete,
};

/* ---- timers ---- */

static void on_timer(uv_timer_t *t)
{
    hc_http_conn_t *c = t->data;
    hc_http_rq_t *rq = c->io ? &c->io->rq : NULL;
    if (c->lingering || !rq || !rq->active) {
        hc_http_conn_close(c); /* idle keep-alive, or the linger after a close */
    } else if (c->head_phase) {
        hc_http_conn_fail(c, 408, "header section not received in time");
    } else if (rq->sse_keepalive_ms && rq->res_state == RQ_RES_STARTED) {
        hc_http_res_write(&rq->pub, ":\n\n", 3);
        uv_timer_start(&c->timer, on_timer, rq->sse_keepalive_ms, 0);
    }
}

void hc_http_conn_arm(hc_http_conn_t *c, unsigned ms)
{
    uv_timer_start(&c->timer, on_timer, ms, 0);
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

/* Sends data: uv_try_write first, the rest copied to inflight for one uv_write.
 * Returns bytes taken (all of them unless an error) or a negative errno. */
static long send_bytes(hc_http_conn_t *c, const char *data, size_t len)
{
    hc_http_io_t *io = c->io;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
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
    if (!rq->active)
        return 0;
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
    scan_reset(c);
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
        return "malformed header section (obs-fold or stray whitespace)";
    }
}

/* Feeds data to the parser until it is used up or the request must wait. Returns the
 * bytes used; the caller keeps the rest in the stash. */
static size_t parse_some(hc_http_conn_t *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len && !c->closing && !c->close_after && !c->upgrade) {
        if (parser_must_wait(c))
            break;
        size_t feed = len - off;
        if (c->head_phase) {
            long n = head_scan(c, data + off, feed);
            if (n < 0) {
                hc_http_conn_fail(c, (int)-n, scan_reason(-n));
                return len;
            }
            if (n > 0)
                feed = (size_t)n;
        }
        off += hc_http_parse_execute(&c->parser, data + off, feed);
        if (hc_http_parse_error(&c->parser)) {
            parse_failed(c);
            return len;
        }
        if (hc_http_parse_is_upgrade(&c->parser)) {
            if (!c->upgrade) { /* not taken over (yet): the rest waits in the stash */
                c->keep_alive = 0;
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
    uv_timer_stop(&c->timer);
}

int hc_http_req_take_over(hc_http_req_t *req, const hc_http_raw_cbs_t *cbs, void *ud,
                          hc_http_conn_t **out)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    hc_http_conn_t *c = req->conn;
    if (c->closing || c->upgrade || rq->res_state != RQ_RES_STARTED ||
        !hc_http_parse_is_upgrade(&c->parser) || !cbs || !cbs->on_data || !cbs->on_close)
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

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    hc_http_conn_t *c = h->data;
    (void)hint;
    if (!c->io)
        c->io = hc_http_io_get(c->srv);
    *buf = uv_buf_init(c->io->rbuf, sizeof(c->io->rbuf));
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
     * response before closing. A streaming response or a half-sent request: gone. */
    if (rq && rq->active && rq->msg_complete && rq->res_state == RQ_RES_NONE && !c->lingering) {
        c->peer_eof = 1;
        c->keep_alive = 0;
        hc_http_conn_set_reading(c, 0);
        return;
    }
    hc_http_conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hc_http_conn_t *c = s->data;
    (void)buf;
    if (nread < 0) {
        if (nread == UV_EOF)
            on_eof(c);
        else
            hc_http_conn_close(c);
        return;
    }
    if (nread > 0 && c->lingering)
        return;
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
                hc_http_conn_close(c);
            return;
        }
        if (!c->closing)
            hc_http_conn_flush(c); /* handshake bytes */
    } else if (nread > 0) {
        process(c, c->io->rbuf, (size_t)nread);
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
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
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
    if (s->o.tls)
        c->tls = hc_tls_conn_server(s->o.tls);
    hc_http_parse_init(&c->parser, HC_HTTP_PARSE_REQUEST, &parse_cbs, c);
    scan_reset(c);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->open_handles++;
    s->stats.open_connections++;
    hc_http_conn_arm(c, s->o.header_timeout_ms);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}
