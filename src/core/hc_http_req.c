/* The request/response API of hc_http_server (see hc_http_server.h): header lookup,
 * the per-request arena, body reading, response assembly into the connection's output
 * buffer (one buffer, one write per batch), server-sent events and error responses. */
#include "core/hc_http_internal.h"
#include "core/hc_alloc.h"
#include "core/hc_http_status.h"
#include "core/hc_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

void hc_http_rq_init(hc_http_rq_t *rq, const hc_http_server_opts_t *o)
{
    memset(rq, 0, sizeof(*rq));
    hc_buf_init(&rq->head, o->max_request_line + o->max_header_bytes + 2 * o->max_headers + 8);
    hc_buf_init(&rq->res_hdrs, HC_HTTP_RES_HEADERS_MAX);
    hc_buf_init(&rq->whole, 0);
    rq->hcap = o->max_headers < HC_HTTP_HDRS_START ? o->max_headers : HC_HTTP_HDRS_START;
    rq->hoff = hc_calloc(rq->hcap, sizeof(*rq->hoff));
    rq->hdrs = hc_calloc(rq->hcap, sizeof(*rq->hdrs));
}

/* Grows both field arrays to n entries. */
static void fields_resize(hc_http_rq_t *rq, unsigned n)
{
    rq->hoff = hc_realloc(rq->hoff, n * sizeof(*rq->hoff));
    rq->hdrs = hc_realloc(rq->hdrs, n * sizeof(*rq->hdrs));
    rq->hcap = n;
}

int hc_http_rq_field_room(hc_http_rq_t *rq, unsigned max)
{
    if (rq->nh < rq->hcap)
        return 0;
    if (rq->hcap >= max)
        return -1;
    fields_resize(rq, rq->hcap > max / 2 ? max : 2 * rq->hcap);
    return 0;
}

/* Frees the arena's blocks; keep leaves one standard block for the next request. */
static void arena_release(hc_http_rq_t *rq, int keep)
{
    hc_arena_block_t *b = rq->arena, *kept = NULL;
    while (b) {
        hc_arena_block_t *n = b->next;
        if (keep && !kept && b->cap == HC_HTTP_ARENA_BLOCK) {
            kept = b;
            kept->next = NULL;
            kept->used = 0;
        } else {
            hc_free(b);
        }
        b = n;
    }
    rq->arena = kept;
}

/* The most head a pooled request keeps between requests: above the default limits. */
#define HEAD_KEEP (64u * 1024u)

void hc_http_rq_reset(hc_http_rq_t *rq)
{
    /* Keep the buffers and the first arena block: the next request reuses them. A head
     * far past the usual (a service may allow 1 MiB) is not kept by a pooled block. */
    if (rq->head.cap > HEAD_KEEP)
        hc_buf_free(&rq->head);
    hc_buf_reset(&rq->head);
    if (rq->res_hdrs.cap > HEAD_KEEP)
        hc_buf_free(&rq->res_hdrs);
    hc_buf_reset(&rq->res_hdrs);
    if (rq->whole.cap > HC_HTTP_ARENA_BLOCK)
        hc_buf_free(&rq->whole);
    hc_buf_reset(&rq->whole);
    arena_release(rq, 1);
    if (rq->hcap > HC_HTTP_HDRS_START) /* a pooled request keeps the usual room only */
        fields_resize(rq, HC_HTTP_HDRS_START);
    hc_arena_block_t *keep = rq->arena;
    hc_http_hoff_t *hoff = rq->hoff;
    hc_http_header_t *hdrs = rq->hdrs;
    unsigned hcap = rq->hcap;
    hc_buf_t head = rq->head, res_hdrs = rq->res_hdrs, whole = rq->whole;
    memset(rq, 0, sizeof(*rq));
    rq->arena = keep;
    rq->hoff = hoff;
    rq->hdrs = hdrs;
    rq->hcap = hcap;
    rq->head = head;
    rq->res_hdrs = res_hdrs;
    rq->whole = whole;
    rq->pub.content_length = -1;
}

void hc_http_rq_free(hc_http_rq_t *rq)
{
    arena_release(rq, 0);
    hc_buf_free(&rq->head);
    hc_buf_free(&rq->res_hdrs);
    hc_buf_free(&rq->whole);
    hc_free(rq->hoff);
    hc_free(rq->hdrs);
}

void *hc_http_req_alloc(hc_http_req_t *req, size_t n)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    n = (n + 7) & ~(size_t)7;
    hc_arena_block_t *b = rq->arena;
    if (b && b->cap - b->used >= n) {
        void *p = (char *)b->data + b->used;
        b->used += n;
        return p;
    }
    /* A new head block; big requests get a block of their own size. */
    size_t cap = n > HC_HTTP_ARENA_BLOCK / 2 ? n : HC_HTTP_ARENA_BLOCK;
    hc_arena_block_t *nb = hc_malloc(sizeof(*nb) + cap);
    nb->cap = cap;
    nb->used = n;
    nb->next = b;
    if (b && cap != HC_HTTP_ARENA_BLOCK) { /* keep the roomy block at the head */
        nb->next = b->next;
        b->next = nb;
        return nb->data;
    }
    rq->arena = nb;
    return nb->data;
}

uv_loop_t *hc_http_req_loop(const hc_http_req_t *req)
{
    return req->conn->srv->loop;
}

int hc_http_req_peer(const hc_http_req_t *req, struct sockaddr_storage *out)
{
    hc_http_conn_t *c = req->conn;
    if (!c->peer.sin6_family) { /* the peer never changes: ask the kernel once */
        int len = (int)sizeof(*out);
        int rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)out, &len);
        if (rc < 0)
            return rc;
        if ((size_t)len > sizeof(c->peer))
            return 0;
        memcpy(&c->peer, out, (size_t)len);
    }
    memset(out, 0, sizeof(*out));
    memcpy(out, &c->peer, sizeof(c->peer));
    return 0;
}

hc_tls_conn_t *hc_http_req_tls(const hc_http_req_t *req)
{
    return req->conn->tls;
}

char *hc_http_req_strndup(hc_http_req_t *req, const char *s, size_t n)
{
    char *d = hc_http_req_alloc(req, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

const char *hc_http_req_header(const hc_http_req_t *req, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->nheaders; i++) {
        const hc_http_header_t *h = &req->headers[i];
        if (h->name_len == nl && !strcasecmp(h->name, name)) {
            if (len)
                *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

const char *hc_http_req_param(const hc_http_req_t *req, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (unsigned i = 0; i < req->nparams; i++) {
        if (req->params[i].name_len == nl && !memcmp(req->params[i].name, name, nl)) {
            if (len)
                *len = req->params[i].value_len;
            return req->params[i].value;
        }
    }
    return NULL;
}

const char *hc_http_req_query_param(const hc_http_req_t *req, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = req->query, *end = req->query ? req->query + req->query_len : NULL;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t kl = (size_t)((eq ? eq : stop) - p);
        if (kl == nl && !memcmp(p, name, nl)) {
            const char *v = eq ? eq + 1 : stop;
            if (len)
                *len = (size_t)(stop - v);
            return v;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* ---- bodies ---- */

void hc_http_rq_body(hc_http_rq_t *rq, const char *data, size_t len, int status)
{
    if (rq->body_state != RQ_BODY_READING)
        return;
    if (status != 0)
        rq->body_state = RQ_BODY_DONE;
    if (rq->body_cb)
        rq->body_cb(&rq->pub, data, len, status, rq->body_arg);
}

int hc_http_req_read_body(hc_http_req_t *req, hc_http_body_cb cb, void *arg)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    hc_http_conn_t *c = req->conn;
    if (rq->body_state != RQ_BODY_IDLE)
        return -EALREADY;
    rq->body_state = RQ_BODY_READING;
    rq->body_cb = cb;
    rq->body_arg = arg;
    if (req->content_length > 0 && (uint64_t)req->content_length > req->max_body) {
        /* RFC 9110 §15.5.14: refuse before the client sends it. */
        hc_http_conn_fail(c, 413, "request body too large");
        return 0;
    }
    /* RFC 9110 §10.1.1: 100 Continue only once the body is really wanted. */
    if (rq->expect_continue && rq->res_state == RQ_RES_NONE && !rq->msg_complete)
        hc_buf_puts(&c->io->out, "HTTP/1.1 100 Continue\r\n\r\n");
    hc_http_queue(c);
    return 0;
}

int hc_http_req_expects_continue(hc_http_req_t *req)
{
    const hc_http_rq_t *rq = hc_http_rq_of(req);
    return rq->expect_continue && rq->body_state == RQ_BODY_IDLE && !rq->msg_complete;
}

void hc_http_req_pause_body(hc_http_req_t *req, int pause)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    rq->body_paused = pause;
    if (!pause)
        hc_http_queue(req->conn);
}

static void whole_piece(hc_http_req_t *req, const char *data, size_t len, int status, void *arg)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    (void)arg;
    if (status == 0) {
        if (hc_buf_append(&rq->whole, data, len) < 0)
            hc_http_conn_fail(req->conn, 413, "request body too large");
        return;
    }
    hc_http_whole_body_cb cb = rq->whole_cb;
    if (status < 0) {
        cb(req, NULL, 0, status, rq->whole_arg);
        return;
    }
    char *body = hc_http_req_strndup(req, rq->whole.base ? rq->whole.base : "", rq->whole.len);
    size_t n = rq->whole.len;
    hc_buf_reset(&rq->whole);
    cb(req, body, n, 0, rq->whole_arg);
}

int hc_http_req_read_whole_body(hc_http_req_t *req, size_t max, hc_http_whole_body_cb cb, void *arg)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    if (max && max < req->max_body)
        req->max_body = max;
    rq->whole.max = req->max_body;
    rq->whole_cb = cb;
    rq->whole_arg = arg;
    return hc_http_req_read_body(req, whole_piece, NULL);
}

void hc_http_req_on_close(hc_http_req_t *req, hc_http_close_cb cb, void *arg)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    rq->close_cb = cb;
    rq->close_arg = arg;
}

/* ---- responses ---- */

/* The reason phrase of a status line: Go's text, or "status code N" as Go writes for a
 * code it does not name (own holds it). */
static const char *reason(int status, char own[32])
{
    const char *t = hc_http_status_text(status);
    if (*t)
        return t;
    snprintf(own, 32, "status code %d", status);
    return own;
}

static int valid_field(const char *s)
{
    return !strpbrk(s, "\r\n");
}

int hc_http_res_header(hc_http_req_t *req, const char *name, const char *value)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    if (rq->res_state != RQ_RES_NONE)
        return -EALREADY;
    /* No CR or LF anywhere (RFC 9110 §5.5), no ':' in the name: measured and checked
     * in one pass each, then copied into one reservation. */
    size_t nl = strcspn(name, "\r\n:"), vl = strcspn(value, "\r\n");
    if (!nl || name[nl] || value[vl])
        return -EINVAL;
    hc_buf_t *b = &rq->res_hdrs;
    if (hc_buf_reserve(b, nl + vl + 4))
        return -ENOBUFS;
    if (nl == 4 && !strncasecmp(name, "Date", 4))
        rq->res_date = 1; /* an origin's Date is kept (RFC 9110 §6.6.1) */
    char *p = b->base + b->len;
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 3);
    b->len += nl + vl + 4;
    return 0;
}

void hc_http_res_headers_clear(hc_http_req_t *req)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    if (rq->res_state == RQ_RES_NONE) {
        hc_buf_reset(&rq->res_hdrs);
        rq->res_date = 0;
    }
}

int hc_http_res_interim(hc_http_req_t *req, int status, const hc_http_header_t *fields, size_t n)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    hc_http_conn_t *c = req->conn;
    if (rq->res_state != RQ_RES_NONE)
        return -EALREADY;
    if (status < 100 || status > 199 || status == 101)
        return -EINVAL;
    if (!req->version_minor || c->closing)
        return 0;
    hc_buf_t *out = &c->io->out;
    char own[32];
    hc_buf_printf(out, "HTTP/1.1 %d %s\r\n", status, reason(status, own));
    for (size_t i = 0; i < n; i++)
        if (!memchr(fields[i].value, '\r', fields[i].value_len) &&
            !memchr(fields[i].value, '\n', fields[i].value_len))
            hc_buf_printf(out, "%.*s: %.*s\r\n", (int)fields[i].name_len, fields[i].name,
                          (int)fields[i].value_len, fields[i].value);
    hc_buf_append(out, "\r\n", 2);
    hc_http_conn_flush(c);
    return 0;
}

/* Appends n bytes into room reserved before (hc_buf_reserve): no checks, no growth. */
static void put_raw(hc_buf_t *b, const char *s, size_t n)
{
    memcpy(b->base + b->len, s, n);
    b->len += n;
    b->base[b->len] = '\0';
}

/* Decimal v; at most 20 digits, into room reserved before. */
static void put_u64(hc_buf_t *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_raw(b, tmp + i, sizeof(tmp) - i);
}

int hc_http_res_start(hc_http_req_t *req, int status, int64_t content_length)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    hc_http_conn_t *c = req->conn;
    if (rq->res_state != RQ_RES_NONE)
        return -EALREADY;
    if (c->closing)
        return -EPIPE;
    hc_buf_t *out = &c->io->out;
    rq->res_state = RQ_RES_STARTED;
    /* RFC 9110 §6.4.1: 1xx, 204 and 304 have no content; HEAD answers carry none. */
    int no_content = status < 200 || status == 204 || status == 304;
    rq->res_no_body = no_content || req->is_head;
    if (hc_http_req_expects_continue(req))
        c->keep_alive = 0; /* the client may or may not send the body now */
    /* One reservation for the whole head (the framing and connection lines take at most
     * 64 bytes): the puts below then neither check nor grow. */
    char own[32];
    const char *text = reason(status, own), *server = c->srv->server_hdr;
    size_t tl = strlen(text), sl = strlen(server);
    if (hc_buf_reserve(out, 9 + 20 + 1 + tl + 2 + 37 + sl + 64 + rq->res_hdrs.len + 2) < 0)
        return -ENOBUFS;
    put_raw(out, req->version_minor ? "HTTP/1.1 " : "HTTP/1.0 ", 9);
    put_u64(out, (uint64_t)status);
    put_raw(out, " ", 1);
    put_raw(out, text, tl);
    put_raw(out, "\r\n", 2);
    if (!rq->res_date)
        put_raw(out, hc_http_date(c->srv), 37);
    put_raw(out, server, sl);
    if (status == 101) {
        /* the upgrade sends its own Connection/Upgrade fields */
    } else if (content_length >= 0) {
        rq->res_length = 1;
        if (!no_content) {
            put_raw(out, "Content-Length: ", 16);
            put_u64(out, (uint64_t)content_length);
            put_raw(out, "\r\n", 2);
        }
    } else if (!no_content && req->version_minor >= 1) {
        rq->res_chunked = 1;
        put_raw(out, "Transfer-Encoding: chunked\r\n", 28);
    } else if (!no_content) {
        c->keep_alive = 0; /* HTTP/1.0 without a length: the close ends the body */
    }
    if (c->srv->draining)
        c->keep_alive = 0;
    /* an Upgrade or CONNECT request answered without switching: its connection ends after
     * the answer (only a 101 is taken over), and the head says so */
    if (status != 101 && hc_http_parse_is_upgrade(&c->parser))
        c->keep_alive = 0;
    if (status != 101 && !c->keep_alive)
        put_raw(out, "Connection: close\r\n", 19);
    else if (status != 101 && !req->version_minor)
        put_raw(out, "Connection: keep-alive\r\n", 24);
    put_raw(out, rq->res_hdrs.base ? rq->res_hdrs.base : "", rq->res_hdrs.len);
    put_raw(out, "\r\n", 2);
    return 0;
}

void hc_http_res_flush(hc_http_req_t *req)
{
    if (!req->conn->closing)
        hc_http_conn_flush(req->conn);
}

int hc_http_res_write(hc_http_req_t *req, const char *data, size_t len)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    hc_http_conn_t *c = req->conn;
    if (rq->res_state != RQ_RES_STARTED)
        return -EINVAL;
    if (c->closing)
        return -EPIPE;
    if (!len || rq->res_no_body)
        return 0;
    hc_buf_t *out = &c->io->out;
    int rc = 0;
    if (rq->res_chunked) { /* RFC 9112 §7.1 */
        char hex[20];
        int n = snprintf(hex, sizeof(hex), "%zx\r\n", len);
        rc |= hc_buf_append(out, hex, (size_t)n);
        rc |= hc_buf_append(out, data, len);
        rc |= hc_buf_append(out, "\r\n", 2);
    } else {
        size_t sent = hc_http_conn_write_direct(c, data, len);
        if (sent < len)
            rc = hc_buf_append(out, data + sent, len - sent);
    }
    if (rc < 0) {
        hc_http_conn_close(c);
        return -ENOBUFS;
    }
    if (rq->sse_keepalive_ms)
        hc_http_conn_arm(c, rq->sse_keepalive_ms);
    hc_http_conn_flush(c);
    if (c->closing)
        return -EPIPE;
    return hc_http_conn_buffered(c) > HC_HTTP_OUT_HIGH ? HC_HTTP_WAIT : 0;
}

int hc_http_res_fd(hc_http_req_t *req)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    hc_http_conn_t *c = req->conn;
    if (rq->res_state != RQ_RES_STARTED || rq->res_chunked || rq->res_no_body || c->tls ||
        c->closing || !rq->res_length || c->writing || c->io->out.len)
        return -1;
    return c->fd;
}

int hc_http_res_end(hc_http_req_t *req)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    hc_http_conn_t *c = req->conn;
    if (rq->res_state != RQ_RES_STARTED)
        return -EINVAL;
    if (rq->res_chunked && !rq->res_no_body)
        hc_buf_append(&c->io->out, "0\r\n\r\n", 5);
    rq->res_state = RQ_RES_ENDED;
    rq->sse_keepalive_ms = 0;
    if (c->closing)
        return -EPIPE;
    if (hc_http_req_expects_continue(req))
        c->keep_alive = 0;
    if (rq->msg_complete)
        hc_http_conn_request_done(c);
    else if (!c->keep_alive) /* the rest of the body no longer matters */
        hc_http_conn_close_after_write(c);
    hc_http_conn_flush(c);
    return 0;
}

int hc_http_respond(hc_http_req_t *req, int status, const char *content_type, const char *body,
                    size_t len)
{
    if (content_type) {
        int rc = hc_http_res_header(req, "Content-Type", content_type);
        if (rc < 0)
            return rc;
    }
    int rc = hc_http_res_start(req, status, (int64_t)len);
    if (rc < 0)
        return rc;
    rc = hc_http_res_write(req, body, len);
    if (rc < 0)
        return rc;
    return hc_http_res_end(req);
}

void hc_http_res_on_drain(hc_http_req_t *req, hc_http_drain_cb cb, void *arg)
{
    hc_http_rq_t *rq = hc_http_rq_of(req);
    rq->drain_cb = cb;
    rq->drain_arg = arg;
    if (!req->conn->writing)
        hc_http_queue(req->conn); /* nothing pending: fire from the loop */
}

void hc_http_res_abort(hc_http_req_t *req)
{
    const hc_http_rq_t *rq = hc_http_rq_of(req);
    /* a body delimited by the close (an HTTP/1.0 client's) would end as if complete at
     * a FIN: it ends with a reset; a length or chunks tell a short body by themselves,
     * and a reset could cost the client what it has not read yet */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (!rq->res_length && !rq->res_chunked && !rq->res_no_body)
        (void)setsockopt(req->conn->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    hc_http_conn_close(req->conn);
}

/* ---- taken-over connections (hc_http_req_take_over in hc_http_conn.c) ---- */

int hc_http_raw_write(hc_http_conn_t *c, const char *data, size_t len)
{
    if (c->closing || !c->io || c->raw_shut)
        return -EPIPE;
    if (hc_buf_append(&c->io->out, data, len) < 0) {
        hc_http_conn_close(c);
        return -EPIPE;
    }
    hc_http_conn_flush(c);
    if (c->closing)
        return -EPIPE;
    return hc_http_conn_buffered(c) > HC_HTTP_OUT_HIGH ? HC_HTTP_WAIT : 0;
}

void hc_http_raw_pause(hc_http_conn_t *c, int pause)
{
    hc_http_conn_set_reading(c, !pause);
}

void hc_http_raw_shutdown(hc_http_conn_t *c)
{
    if (c->closing || c->raw_shut)
        return;
    c->raw_shut = 1;
    hc_http_conn_flush(c);
}

void hc_http_raw_close(hc_http_conn_t *c)
{
    hc_http_conn_close(c);
}

int hc_http_respond_error(hc_http_req_t *req, int status, const char *msg)
{
    char body[256];
    hc_buf_t b;
    hc_buf_init(&b, sizeof(body) - 1);
    hc_buf_puts(&b, "{\"error\":\"");
    hc_buf_json_escape(&b, msg, strlen(msg) > 200 ? 200 : strlen(msg));
    hc_buf_puts(&b, "\"}\n");
    size_t n = b.len < sizeof(body) ? b.len : sizeof(body) - 1;
    memcpy(body, b.base, n);
    hc_buf_free(&b);
    hc_log(status >= 500 ? HC_LOG_WARN : HC_LOG_INFO, "request rejected", HC_LI("status", status),
           HC_LS("reason", msg), HC_LS("method", req->method ? req->method : "-"), NULL);
    return hc_http_respond(req, status, "application/json", body, n);
}

/* Errors found by the server itself: answer when nothing was sent yet, then close
 * (framing is in doubt). A body reader learns why through its callback. */
void hc_http_conn_fail(hc_http_conn_t *c, int status, const char *msg)
{
    hc_http_rq_t *rq = &c->io->rq;
    if (c->closing)
        return;
    c->keep_alive = 0;
    if (rq->active && rq->body_state == RQ_BODY_READING)
        hc_http_rq_body(rq, NULL, 0, status == 413 ? -EMSGSIZE : -EPROTO);
    if (c->closing)
        return;
    if (rq->active && rq->res_state != RQ_RES_NONE) {
        hc_log(HC_LOG_INFO, "request failed after response start", HC_LI("status", status),
               HC_LS("reason", msg), NULL);
        hc_http_conn_close(c);
        return;
    }
    if (!rq->active) {
        hc_http_rq_reset(rq);
        rq->pub.conn = c;
        rq->pub.version_minor = 1;
        rq->pub.method = "-";
        rq->active = 1;
        c->srv->stats.active_requests++;
    }
    if (c->head_phase) { /* the head was not understood: answer in HTTP/1.1 */
        rq->pub.version_minor = 1;
        rq->pub.is_head = 0;
    }
    rq->close_cb = NULL;
    rq->msg_complete = 1;
    hc_buf_reset(&rq->res_hdrs);
    if (c->srv->o.go_errors) {
        char body[256];
        int n = snprintf(body, sizeof(body), status == 431 ? "%d %s" : "%d %s: %s", status,
                         hc_http_status_text(status), msg);
        hc_log(HC_LOG_INFO, "request rejected", HC_LI("status", status), HC_LS("reason", msg),
               HC_LS("method", rq->pub.method), NULL); /* "-" before the method was read */
        hc_http_respond(&rq->pub, status, "text/plain; charset=utf-8", body,
                        n < (int)sizeof(body) ? (size_t)n : sizeof(body) - 1);
    } else {
        hc_http_respond_error(&rq->pub, status, msg);
    }
    hc_http_conn_close_after_write(c);
}

/* ---- server-sent events ---- */

int hc_http_sse_start(hc_http_req_t *req, unsigned keepalive_ms)
{
    hc_http_res_header(req, "Content-Type", "text/event-stream");
    hc_http_res_header(req, "Cache-Control", "no-cache");
    int rc = hc_http_res_start(req, 200, -1);
    if (rc < 0)
        return rc;
    hc_http_rq_t *rq = hc_http_rq_of(req);
    rq->sse_keepalive_ms = keepalive_ms;
    hc_http_conn_flush(req->conn);
    if (keepalive_ms)
        hc_http_conn_arm(req->conn, keepalive_ms);
    return 0;
}

static void sse_field(hc_buf_t *b, const char *name, const char *v, size_t n)
{
    hc_buf_puts(b, name);
    hc_buf_append(b, ": ", 2);
    hc_buf_append(b, v, n);
    hc_buf_append(b, "\n", 1);
}

int hc_http_sse_send(hc_http_req_t *req, const char *event, const char *data, const char *id)
{
    hc_buf_t b;
    hc_buf_init(&b, HC_HTTP_OUT_MAX);
    if (event && valid_field(event))
        sse_field(&b, "event", event, strlen(event));
    if (id && valid_field(id))
        sse_field(&b, "id", id, strlen(id));
    const char *p = data ? data : "";
    do { /* WHATWG HTML §9.2.6: one data line per line, joined back with LF */
        size_t n = strcspn(p, "\n");
        sse_field(&b, "data", p, n);
        p += n;
    } while (*p++);
    hc_buf_append(&b, "\n", 1);
    int rc = hc_http_res_write(req, b.base, b.len);
    hc_buf_free(&b);
    return rc;
}

int hc_http_sse_comment(hc_http_req_t *req, const char *text)
{
    char line[256];
    int n = snprintf(line, sizeof(line), ": %.200s\n\n", valid_field(text) ? text : "");
    return hc_http_res_write(req, line, (size_t)n);
}
