/* HTTP/1.1 client requests (see hc_http_client.h): the response parse through
 * hc_http_parse, timeouts, collect mode and one retry on a pooled connection the server
 * had closed. Finished requests are recycled (their timer and buffers kept).
 * The head: hc_http_client_head.c; connections and the pool: hc_http_client_conn.c. */
#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_http_client_int.h"
#include "core/hc_http_parse.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    QUEUE_MAX = 1024 * 1024, /* streamed body bytes waiting: past it, the writer waits */
    REASON_MAX = 512,
    HEAD_MAX = (2 << 20) + 64 * 1024, /* request head we build: a proxied head (a 1 MiB
                                         request line and 1 MiB of fields) fits */
    FREE_REQS_MAX = 64,               /* finished requests kept for reuse */
    BUF_KEEP = 16 * 1024,             /* buffer capacity a recycled request keeps */
    MAX_INTERIM = 5, /* 1xx responses before the final one (Go's max1xxResponses) */
};

/* Kept while recycled: everything before `prev`. */
struct hc_http_client_req {
    hc_http_client_t *cl;
    hc_http_client_req_t *next_free;
    /* Deadlines are lazy: the timer is started only when a deadline comes before the
     * armed one, and checks them when it fires (so it may outlive a request). */
    uv_timer_t timer;
    uint64_t armed_at; /* loop ms the timer fires at, 0 = not armed */
    hc_buf_t out;      /* head + in-memory body, kept for the retry */
    hc_buf_t queued;   /* streamed body (framed) waiting for the connection */
    hc_buf_t hdrs;     /* name NUL value NUL ... */
    hc_buf_t reason;
    hc_buf_t body;
    hc_http_client_header_t *hv;
    size_t hv_cap;
    /* Per request: zeroed on reuse. */
    hc_http_client_req_t *prev, *next; /* the client's unfinished requests */
    const hc_http_client_req_cbs_t *cbs;
    void *ud;
    hc_hcli_conn_t *conn;
    hc_http_client_origin_t *origin;         /* where it goes (a reference) */
    uint64_t total_deadline, phase_deadline; /* loop ms, 0 = none */
    const char *phase;
    uint64_t connect_ms, tls_ms, header_ms;
    uint64_t continue_ms;       /* awaiting the server's 100 Continue: how long */
    uint64_t continue_deadline; /* loop ms the body is sent anyway, 0 = not waiting */
    int is_head, stream, ended, chunked, no_reuse;
    int ready;  /* conn is connected and serving this request */
    int paused; /* hc_http_client_req_pause in effect */
    int64_t stream_left; /* known-length streamed body: bytes still expected */
    int sent;            /* the whole request is written */
    int got_bytes;       /* some response byte arrived */
    int retried;
    int replayable; /* may be sent again when a pooled connection drops it (see ev_close) */
    int reused;     /* the connection came from the pool */
    int connected;  /* some connection (TCP and TLS) to the server was established */
    hc_http_parser_t parser;
    int in_value;
    size_t n_values; /* values begun in hdrs: the field count */
    hc_http_response_t res;
    int have_res, interim, complete, keep_alive;
    unsigned n_interim; /* 1xx responses so far */
    size_t collect_max;
    int done, status, pending_status;
    char error[192];
    int upgrade;               /* opts.upgrade */
    int small_head;            /* opts.small_head */
    int taken;                 /* the caller reads the body's rest (body_fd) */
    int64_t body_seen;         /* body bytes parsed or taken */
    hc_http_client_raw_t *raw; /* take_over asked for in on_headers */
};


static const hc_hcli_events_t req_events;
static void req_arm(hc_http_client_req_t *r);
static void req_timer(uv_timer_t *t);
static void req_continue(hc_http_client_req_t *r);

/* ---- finishing ------------------------------------------------------------------ */

static void req_freed(uv_handle_t *h)
{
    hc_http_client_req_t *r = h->data;
    hc_http_client_t *cl = r->cl;
    hc_buf_free(&r->out);
    hc_buf_free(&r->queued);
    hc_buf_free(&r->hdrs);
    hc_buf_free(&r->reason);
    hc_buf_free(&r->body);
    hc_free(r->hv);
    hc_free(r);
    cl->n_reqs--;
    hc_hcli_client_maybe_free(cl);
}

static void buf_trim(hc_buf_t *b)
{
    if (b->cap > BUF_KEEP)
        hc_buf_free(b);
}

/* After on_done: keeps the request for the next one, or frees it once its timer has
 * closed. A timer left armed no longer keeps the loop alive. */
static void req_recycle(hc_http_client_req_t *r)
{
    hc_http_client_t *cl = r->cl;
    hc_http_client_origin_unref(r->origin);
    r->origin = NULL;
    if (cl->freeing || cl->n_free_reqs >= FREE_REQS_MAX) {
        uv_close((uv_handle_t *)&r->timer, req_freed);
        return;
    }
    buf_trim(&r->out);
    buf_trim(&r->queued);
    buf_trim(&r->hdrs);
    buf_trim(&r->body);
    uv_unref((uv_handle_t *)&r->timer);
    r->next_free = cl->free_reqs;
    cl->free_reqs = r;
    cl->n_free_reqs++;
}

/* A recycled request or a new one, its per-request part zeroed. */
static hc_http_client_req_t *req_get(hc_http_client_t *cl)
{
    hc_http_client_req_t *r = cl->free_reqs;
    if (!r) {
        r = hc_calloc(1, sizeof(*r));
        r->cl = cl;
        uv_timer_init(cl->loop, &r->timer);
        r->timer.data = r;
        cl->n_reqs++;
        return r;
    }
    cl->free_reqs = r->next_free;
    cl->n_free_reqs--;
    uv_ref((uv_handle_t *)&r->timer);
    memset(&r->prev, 0, sizeof(*r) - offsetof(hc_http_client_req_t, prev));
    return r;
}

/* The whole request is in the socket: nothing queued here or in libuv. */
static int req_handed(const hc_http_client_req_t *r)
{
    return r->conn && (!r->stream || r->ended) && !r->queued.len && !hc_hcli_conn_inflight(r->conn);
}

/* Ends the request once: hands the connection back (or closes it), reports on_done,
 * and recycles the request. */
static void req_finish(hc_http_client_req_t *r, int status, const char *reason)
{
    if (r->done)
        return;
    r->done = 1;
    r->status = status;
    if (status && reason && reason != r->error)
        snprintf(r->error, sizeof(r->error), "%s", reason);
    if (r->conn) {
        /* a request sent from outside the poll phase has its completion reported after
         * the response may have been read: everything in the socket counts as sent */
        int reuse = !status && r->keep_alive && (r->sent || req_handed(r)) && !r->no_reuse &&
                    !hc_http_parse_is_upgrade(&r->parser) && r->res.status != 101;
        if (reuse)
            hc_hcli_conn_release(r->conn);
        else
            hc_hcli_conn_close(r->conn);
        r->conn = NULL;
    }
    if (r->prev)
        r->prev->next = r->next;
    else
        r->cl->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->cbs->on_done(r, status, r->ud);
    req_recycle(r);
}

/* Fails from a context where on_done must not run yet (inside hc_http_client_request). */
static void req_fail_soon(hc_http_client_req_t *r, int status, const char *reason)
{
    r->pending_status = status;
    snprintf(r->error, sizeof(r->error), "%s", reason);
    req_arm(r);
}

static void req_timer(uv_timer_t *t)
{
    hc_http_client_req_t *r = t->data;
    uint64_t now = uv_now(r->cl->loop);
    char reason[64];
    r->armed_at = 0;
    if (r->done) /* a deadline left from a finished request */
        return;
    if (r->pending_status) {
        req_finish(r, r->pending_status, r->error);
    } else if (r->total_deadline && now >= r->total_deadline) {
        req_finish(r, -ETIMEDOUT, "request timeout");
    } else if (r->phase_deadline && now >= r->phase_deadline) {
        snprintf(reason, sizeof(reason), "%s timeout", r->phase);
        req_finish(r, -ETIMEDOUT, reason);
    } else {
        if (r->continue_deadline && now >= r->continue_deadline)
            req_continue(r); /* may finish r */
        req_arm(r);
    }
}

/* The earlier of two deadlines (0 = none). */
static uint64_t earlier(uint64_t a, uint64_t b)
{
    return !a || (b && b < a) ? b : a;
}

/* Makes the timer fire no later than the nearest deadline. */
static void req_arm(hc_http_client_req_t *r)
{
    if (r->done)
        return;
    uint64_t now = uv_now(r->cl->loop);
    uint64_t next = earlier(earlier(r->total_deadline, r->phase_deadline), r->continue_deadline);
    if (r->pending_status)
        next = now;
    if (!next || (r->armed_at && r->armed_at <= next))
        return;
    r->armed_at = next > now ? next : now;
    uv_timer_start(&r->timer, req_timer, next > now ? next - now : 0, 0);
}

/* RFC 9110 §10.1.1: the server asked for the body (100 Continue), or was silent for
 * continue_ms; the caller sends it now. */
static void req_continue(hc_http_client_req_t *r)
{
    if (!r->continue_ms)
        return;
    r->continue_ms = 0;
    r->continue_deadline = 0;
    if (r->cbs->on_continue)
        r->cbs->on_continue(r, r->ud);
}

static void req_phase(hc_http_client_req_t *r, const char *name, uint64_t ms)
{
    r->phase = name;
    r->phase_deadline = ms ? uv_now(r->cl->loop) + ms : 0;
    req_arm(r);
}

/* ---- the response --------------------------------------------------------------- */

static int p_begin(void *ud)
{
    hc_http_client_req_t *r = ud;
    hc_buf_reset(&r->hdrs);
    hc_buf_reset(&r->reason);
    r->in_value = 0;
    r->n_values = 0;
    r->interim = 0;
    return r->done ? -1 : 0;
}

static int p_reason(void *ud, const char *at, size_t len)
{
    hc_http_client_req_t *r = ud;
    if (r->done)
        return -1;
    if (hc_buf_append(&r->reason, at, len)) {
        req_finish(r, -EBADMSG, "bad response: reason phrase too long");
        return -1;
    }
    return 0;
}

/* Room for n entries in hv (kept across responses and requests). */
static void hv_reserve(hc_http_client_req_t *r, size_t n)
{
    if (n <= r->hv_cap)
        return;
    size_t cap = r->hv_cap ? 2 * r->hv_cap : 16;
    while (cap < n)
        cap *= 2;
    r->hv = hc_realloc(r->hv, cap * sizeof(*r->hv));
    r->hv_cap = cap;
}

/* Header pieces are stored as name NUL value NUL; a piece may come split in two. */
static int hdr_piece(hc_http_client_req_t *r, int is_value, const char *at, size_t len)
{
    if (r->done)
        return -1;
    hc_buf_t *b = &r->hdrs;
    size_t sep = is_value != r->in_value && (is_value || b->len); /* the NUL before */
    r->n_values += is_value && !r->in_value;
    r->in_value = is_value;
    if (hc_buf_reserve(b, sep + len)) {
        req_finish(r, -EBADMSG, "bad response: header section too large");
        return -1;
    }
    if (sep)
        b->base[b->len++] = '\0';
    memcpy(b->base + b->len, at, len);
    b->len += len;
    b->base[b->len] = '\0';
    return 0;
}

static int p_field(void *ud, const char *at, size_t len)
{
    return hdr_piece(ud, 0, at, len);
}

static int p_value(void *ud, const char *at, size_t len)
{
    return hdr_piece(ud, 1, at, len);
}

/* Turns the stored pieces into the header array of the response. */
/* Indexes the fields in r->hv: -EMSGSIZE when the section is too large, -EBADMSG when a
 * name is not a token (RFC 9112 §5.1: "Set-Cookie : x" must not be relayed). Trailing
 * whitespace is cut from values (not part of them, §5.1). */
static int hdrs_index(hc_http_client_req_t *r)
{
    if (r->in_value && hc_buf_append(&r->hdrs, "", 1))
        return -EMSGSIZE;
    size_t n = 2 * r->n_values; /* a name and a value each */
    hv_reserve(r, n / 2 + 1);
    r->res.n_headers = 0;
    int rc = 0;
    for (size_t i = 0; i + 1 < r->hdrs.len && r->res.n_headers < n / 2;) {
        hc_http_client_header_t *h = &r->hv[r->res.n_headers++];
        h->name = r->hdrs.base + i;
        h->name_len = strlen(h->name);
        i += h->name_len + 1;
        char *v = r->hdrs.base + i;
        size_t vl = strlen(v);
        i += vl + 1;
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        h->value = v;
        h->value_len = vl;
        if (!h->name_len || hc_hcli_token_len(h->name) != h->name_len)
            rc = -EBADMSG; /* ": x" too, as Go's "malformed MIME header line" */
    }
    r->res.headers = r->hv;
    return rc;
}

static void req_too_big(hc_http_client_req_t *r)
{
    char reason[96];
    snprintf(reason, sizeof(reason), "response body larger than %zu bytes", r->collect_max);
    req_finish(r, -EFBIG, reason);
}

/* Go's transport takes one Transfer-Encoding field holding "chunked" (any case, OWS
 * around it) and refuses any other, so a "gzip, chunked" body never passes for plain
 * bytes and a "chunked;x=1" one is not read until the close with its framing in it. */
static int te_supported(const hc_http_client_req_t *r, const hc_http_parse_head_t *head)
{
    size_t n = 0;
    const hc_http_client_header_t *te = NULL;
    if (!head->has_transfer_encoding || head->version_minor == 0) /* Go ignores it in 1.0 */
        return 1;
    for (size_t i = 0; i < r->res.n_headers; i++)
        if (r->hv[i].name_len == 17 && !strcasecmp(r->hv[i].name, "Transfer-Encoding"))
            te = &r->hv[i], n++;
    if (!n)
        return 1;
    const char *v = te->value, *e = te->value + te->value_len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return n == 1 && head->chunked && e - v == 7 && !strncasecmp(v, "chunked", 7);
}

static int p_headers_complete(void *ud, const hc_http_parse_head_t *head)
{
    hc_http_client_req_t *r = ud;
    if (r->done)
        return -1;
    /* RFC 9110 §15.2: a client skips 1xx interim responses it did not ask for (a proxy
     * forwards them: on_interim). */
    if (head->status >= 100 && head->status < 200 && head->status != 101) {
        r->interim = 1;
        if (++r->n_interim > MAX_INTERIM) { /* Go's transport allows 5 */
            req_finish(r, -EBADMSG, "bad response: too many 1xx informational responses");
            return -1;
        }
        if (r->cbs->on_interim && hdrs_index(r) == 0) {
            hc_http_response_t res = {.status = head->status,
                                      .version_minor = head->version_minor,
                                      .reason = r->reason.base ? r->reason.base : "",
                                      .headers = r->hv,
                                      .n_headers = r->res.n_headers,
                                      .content_length = -1};
            r->res.n_headers = 0;
            r->cbs->on_interim(r, &res, r->ud);
        }
        if (head->status == 100 && !r->done)
            req_continue(r);
        return r->done ? -1 : HC_HTTP_PARSE_SKIP_BODY;
    }
    int rc = hdrs_index(r);
    if (rc || head->status < 100 || !te_supported(r, head)) {
        req_finish(r, -EBADMSG,
                   rc == -EMSGSIZE      ? "bad response: header section too large"
                   : rc                 ? "bad response: invalid field name"
                   : head->status < 100 ? "bad response: status code below 100"
                                        : "bad response: unsupported transfer encoding");
        return -1;
    }
    if (r->conn)
        hc_hcli_conn_read_mode(r->conn, 0, 0); /* the body in whole reads */
    r->res.status = head->status;
    r->res.version_minor = head->version_minor;
    r->res.reason = r->reason.base ? r->reason.base : "";
    r->res.content_length = head->content_length;
    r->have_res = 1;
    r->keep_alive = head->keep_alive;
    for (size_t i = 0; head->chunked && i < r->res.n_headers; i++) /* chunked and a length: */
        if (r->hv[i].name_len == 14 && !strcasecmp(r->hv[i].name, "Content-Length"))
            r->keep_alive = 0; /* read chunked, but the connection is not trusted again */
    r->continue_ms = r->continue_deadline = 0; /* answered without the body */
    req_phase(r, NULL, 0);
    if (r->collect_max && !r->is_head && head->content_length > (int64_t)r->collect_max) {
        req_too_big(r); /* known from the head: no need to wait for the bytes */
        return -1;
    }
    if (r->cbs->on_headers) {
        rc = r->cbs->on_headers(r, &r->res, r->ud);
        if (rc < 0)
            req_finish(r, rc, "aborted by on_headers");
        if (r->done)
            return -1;
    }
    /* RFC 9112 §6.3 rule 1: no body after HEAD, 204 or 304. */
    return r->is_head || head->status == 204 || head->status == 304 ? HC_HTTP_PARSE_SKIP_BODY
                                                                     : 0;
}

static int p_body(void *ud, const char *at, size_t len)
{
    hc_http_client_req_t *r = ud;
    if (r->done)
        return -1;
    r->body_seen += (int64_t)len;
    if (r->collect_max) {
        if (hc_buf_append(&r->body, at, len)) {
            req_too_big(r);
            return -1;
        }
        return 0;
    }
    if (r->cbs->on_body) {
        int rc = r->cbs->on_body(r, at, len, r->ud);
        if (rc < 0)
            req_finish(r, rc, "aborted by on_body");
    }
    return r->done ? -1 : 0;
}

static int p_complete(void *ud)
{
    hc_http_client_req_t *r = ud;
    if (r->done)
        return -1;
    if (r->interim)
        return 0;
    r->complete = 1;
    return HC_HTTP_PARSE_PAUSE;
}

static const hc_http_parse_cbs_t parse_cbs = {
    .on_begin = p_begin,
    .on_reason = p_reason,
    .on_header_field = p_field,
    .on_header_value = p_value,
    .on_headers_complete = p_headers_complete,
    .on_body = p_body,
    .on_message_complete = p_complete,
};

/* Parses len bytes (len = 0: the stream ended) and finishes the request when the
 * response is complete or broken. */
static void raw_attach(hc_http_client_req_t *r, const char *rest, size_t len);

static void req_parse(hc_http_client_req_t *r, const char *data, size_t len)
{
    int64_t seen = r->body_seen;
    size_t n = hc_http_parse_execute(&r->parser, data, len);
    if (r->done)
        return;
    if (len && r->have_res && !r->complete && r->body_seen == seen && r->cbs->on_waiting &&
        !hc_http_parse_error(&r->parser)) {
        r->cbs->on_waiting(r, r->ud);
        if (r->done)
            return;
    }
    if (r->raw && r->conn && (r->complete || hc_http_parse_is_upgrade(&r->parser))) {
        raw_attach(r, data + n, len - n);
        req_finish(r, 0, NULL);
    } else if (r->complete) {
        if (n < len) /* more than one response: the connection cannot be trusted */
            r->keep_alive = 0;
        req_finish(r, 0, NULL);
    } else if (!len && !r->have_res && r->got_bytes) { /* inside the head: a malformed
                                                           response (Go's unexpected EOF) */
        req_finish(r, -EBADMSG, "bad response: connection closed inside the response head");
    } else if (!len) { /* the stream ended inside the message */
        req_finish(r, -ECONNRESET, r->have_res ? "connection closed before the response ended"
                                               : "connection closed before the response");
    } else if (hc_http_parse_error(&r->parser)) {
        char reason[128];
        snprintf(reason, sizeof(reason), "bad response: %s", hc_http_parse_reason(&r->parser));
        req_finish(r, -EBADMSG, reason);
    } else if (hc_http_parse_is_upgrade(&r->parser)) {
        req_finish(r, 0, NULL);
    }
}

/* ---- sending -------------------------------------------------------------------- */

/* Marks the request sent once everything is written; the response-header clock runs
 * from there (unless the response already began). */
static void req_check_sent(hc_http_client_req_t *r)
{
    if (r->sent || !req_handed(r))
        return;
    r->sent = 1;
    if (!r->have_res)
        req_phase(r, "response header", r->header_ms);
}

/* Sends the queued body once nothing is in flight: what comes meanwhile joins the queue
 * and goes in one write (a chunk each would be a write and an allocation each). */
static void req_flush_queued(hc_http_client_req_t *r)
{
    if (!r->ready || !r->queued.len || hc_hcli_conn_inflight(r->conn))
        return;
    int rc = hc_hcli_conn_write(r->conn, r->queued.base, r->queued.len);
    hc_buf_reset(&r->queued);
    if (rc)
        req_fail_soon(r, rc, "write failed");
}

/* The connection is ready: send the head and whatever body is at hand. */
static void req_send(hc_http_client_req_t *r)
{
    hc_http_parse_init(&r->parser, HC_HTTP_PARSE_RESPONSE, &parse_cbs, r);
    r->ready = 1;
    r->connected = 1;
    hc_hcli_conn_read_mode(r->conn, r->small_head, 0);
    if (r->paused)
        hc_hcli_conn_pause(r->conn, 1);
    req_phase(r, NULL, 0);
    int rc = hc_hcli_conn_write(r->conn, r->out.base, r->out.len);
    if (rc) {
        req_fail_soon(r, rc, "write failed");
        return;
    }
    if (r->continue_ms) {
        r->continue_deadline = uv_now(r->cl->loop) + r->continue_ms;
        req_arm(r);
    }
    req_flush_queued(r);
    if (r->cbs->on_connected)
        r->cbs->on_connected(r, r->ud);
}

/* Gets a connection: a pooled one when allowed, else a new one. */
static int req_start(hc_http_client_req_t *r, int pooled)
{
    int rc = 0;
    r->ready = 0;
    r->conn = pooled && !r->no_reuse ? hc_hcli_pool_take(r->cl, r->origin->key, &req_events, r)
                                     : NULL;
    if (r->conn) {
        r->reused = 1;
        req_send(r);
        return 0;
    }
    req_phase(r, "connect", r->connect_ms);
    r->conn = hc_hcli_conn_open(r->cl, &r->origin->target, r->origin->key, &req_events, r, &rc);
    return r->conn ? 0 : rc;
}

/* ---- connection events ---------------------------------------------------------- */

static void ev_ready(void *owner, int status, const char *reason)
{
    hc_http_client_req_t *r = owner;
    if (status < 0) {
        r->conn = NULL; /* closed by the connection layer */
        r->ready = 0;
        req_finish(r, status, reason);
        return;
    }
    req_send(r);
}

/* Go's transport times the handshake on its own (TLSHandshakeTimeout). */
static void ev_handshake(void *owner)
{
    hc_http_client_req_t *r = owner;
    if (r->tls_ms)
        req_phase(r, "TLS handshake", r->tls_ms);
}

static void ev_data(void *owner, const char *data, size_t len)
{
    hc_http_client_req_t *r = owner;
    r->got_bytes = 1;
    if (!r->done)
        req_parse(r, data, len);
}

static void ev_close(void *owner, int status, const char *reason)
{
    hc_http_client_req_t *r = owner;
    int reused = hc_hcli_conn_reused(r->conn);
    r->conn = NULL;
    r->ready = 0;
    if (r->done)
        return;
    /* A pooled connection the server closed just as we reused it: RFC 9112 §9.3.1
     * allows a retry when nothing came back, of an idempotent request only (the server
     * may have acted on it); only a body we still hold is resent. */
    if (reused && !r->got_bytes && !r->retried && !r->stream && r->replayable) {
        r->retried = 1;
        r->sent = 0;
        r->connected = 0; /* what counts now is whether the new connection is made */
        int rc = req_start(r, 0);
        if (rc)
            req_finish(r, rc, "cannot reconnect");
        return;
    }
    if (status == 0)
        req_parse(r, "", 0); /* a response delimited by the close completes here */
    else
        req_finish(r, status, reason);
}

static void ev_written(void *owner, size_t inflight)
{
    hc_http_client_req_t *r = owner;
    if (r->done)
        return;
    if (!inflight)
        req_flush_queued(r);
    req_check_sent(r);
    inflight = r->conn ? hc_hcli_conn_inflight(r->conn) : 0;
    if (r->stream && !r->ended && !inflight && !r->queued.len && r->cbs->on_drain)
        r->cbs->on_drain(r, r->ud);
}

static void ev_readable(void *owner)
{
    hc_http_client_req_t *r = owner;
    if (!r->done && r->taken && r->cbs->on_readable)
        r->cbs->on_readable(r, r->ud);
}

static const hc_hcli_events_t req_events = {
    .on_ready = ev_ready,
    .on_handshake = ev_handshake,
    .on_data = ev_data,
    .on_close = ev_close,
    .on_written = ev_written,
    .on_readable = ev_readable,
};

/* ---- public API ----------------------------------------------------------------- */

hc_http_client_t *hc_http_client_new(uv_loop_t *loop, const hc_http_client_opts_t *opts,
                                     char *err, size_t errlen)
{
    static const hc_http_client_opts_t defaults = {0};
    if (!opts)
        opts = &defaults;
    hc_tls_ctx_t *tls = hc_tls_client_new(opts->ca_file, !opts->insecure_skip_verify, err,
                                          errlen);
    if (!tls)
        return NULL;
    hc_http_client_t *cl = hc_calloc(1, sizeof(*cl));
    cl->loop = loop;
    cl->tls = tls;
    cl->max_idle = opts->max_idle_per_origin ? opts->max_idle_per_origin : 8;
    cl->idle_ms = opts->idle_timeout_ms ? opts->idle_timeout_ms : 90000;
    cl->max_header = opts->max_header_bytes ? opts->max_header_bytes : 64 * 1024;
    return cl;
}

void hc_hcli_client_maybe_free(hc_http_client_t *cl)
{
    if (!cl->freeing || cl->n_conns || cl->n_reqs)
        return;
    hc_tls_ctx_unref(cl->tls);
    hc_free(cl);
}

void hc_http_client_free(hc_http_client_t *cl)
{
    if (!cl)
        return;
    cl->freeing = 1;
    cl->n_reqs++; /* keeps cl alive while requests finish below */
    while (cl->reqs)
        req_finish(cl->reqs, -ECANCELED, "cancelled");
    while (cl->free_reqs) {
        hc_http_client_req_t *r = cl->free_reqs;
        cl->free_reqs = r->next_free;
        uv_close((uv_handle_t *)&r->timer, req_freed);
    }
    cl->n_free_reqs = 0;
    hc_hcli_pool_clear(cl);
    cl->n_reqs--;
    hc_hcli_client_maybe_free(cl);
}

/* Sets a buffer of a new or recycled request up for this one. */
static void buf_prep(hc_buf_t *b, size_t max)
{
    hc_buf_reset(b);
    b->max = max;
}

/* As Go's transport: safe methods, or a request marked with an Idempotency-Key
 * (draft-ietf-httpapi-idempotency-key-header). */
static int is_replayable(const char *method, const hc_http_client_req_opts_t *o)
{
    static const char *const safe[] = {"GET", "HEAD", "OPTIONS", "TRACE"};
    for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
        if (!strcmp(method, safe[i]))
            return 1;
    for (size_t i = 0; i < o->n_headers; i++)
        if (!strcasecmp(o->headers[i].name, "Idempotency-Key") ||
            !strcasecmp(o->headers[i].name, "X-Idempotency-Key"))
            return 1;
    return 0;
}

/* Fills r from the options; -EINVAL on a bad URL, method or header. */
static int req_setup(hc_http_client_req_t *r, const hc_http_client_req_opts_t *o)
{
    const char *method = o->method ? o->method : "GET", *target = o->target;
    if ((!o->url && !o->origin) || !hc_hcli_token_len(method) ||
        (o->stream_body && o->body_len) || (o->body_len && !o->body))
        return -EINVAL;
    if (o->origin) {
        r->origin = o->origin;
        r->origin->refs++;
    } else {
        r->origin = hc_hcli_origin_parse(o->url, o->tls_server_name, o->tls ? o->tls : r->cl->tls,
                                         &target);
        if (!r->origin)
            return -EINVAL;
    }
    r->is_head = method[0] == 'H' && !strcmp(method, "HEAD");
    r->replayable = is_replayable(method, o);
    r->stream = !!o->stream_body;
    r->chunked = r->stream && o->stream_length < 0;
    r->stream_left = o->stream_length;
    r->no_reuse = !!o->no_reuse;
    r->upgrade = !!o->upgrade;
    r->small_head = !!o->small_head;
    r->collect_max = o->collect_max;
    r->connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
    r->tls_ms = o->tls_timeout_ms;
    r->header_ms = o->header_timeout_ms ? o->header_timeout_ms : 60000;
    r->continue_ms = r->stream ? o->continue_timeout_ms : 0;
    if (o->total_timeout_ms)
        r->total_deadline = uv_now(r->cl->loop) + o->total_timeout_ms;
    buf_prep(&r->out, HEAD_MAX + o->body_len);
    buf_prep(&r->queued, 2 * QUEUE_MAX); /* room for what comes before the writer waits */
    buf_prep(&r->hdrs, r->cl->max_header);
    buf_prep(&r->reason, REASON_MAX);
    buf_prep(&r->body, o->collect_max);
    unsigned flags = (r->no_reuse ? HC_HCLI_HEAD_CLOSE : 0) |
                     (r->upgrade ? HC_HCLI_HEAD_UPGRADE : 0) |
                     (r->stream ? HC_HCLI_HEAD_STREAM : 0) | (r->chunked ? HC_HCLI_HEAD_CHUNKED : 0);
    return hc_hcli_head_build(&r->out, o, method, target ? target : "/", r->origin, flags);
}

int hc_http_client_request(hc_http_client_t *cl, const hc_http_client_req_opts_t *opts,
                    const hc_http_client_req_cbs_t *cbs, void *ud, hc_http_client_req_t **out)
{
    if (cl->freeing || !cbs->on_done)
        return -EINVAL;
    hc_http_client_req_t *r = req_get(cl);
    r->cbs = cbs;
    r->ud = ud;
    int rc = req_setup(r, opts);
    if (rc) {
        r->done = 1;
        req_recycle(r);
        return rc;
    }
    r->next = cl->reqs;
    if (cl->reqs)
        cl->reqs->prev = r;
    cl->reqs = r;
    rc = req_start(r, 1);
    if (rc)
        req_fail_soon(r, rc, rc == -EINVAL ? "bad TLS server name" : "cannot resolve");
    if (out)
        *out = r;
    return 0;
}

int hc_http_client_req_write(hc_http_client_req_t *r, const char *data, size_t len)
{
    if (r->done || !r->stream || r->ended || (!r->chunked && (int64_t)len > r->stream_left))
        return -EINVAL;
    if (!len)
        return 0;
    char size[24]; /* RFC 9112 §7.1: chunk-size in hex, CRLF, data, CRLF */
    int n = r->chunked ? snprintf(size, sizeof(size), "%zx\r\n", len) : 0;
    /* taken whole, or not at all; room kept for the last chunk hc_http_client_req_end adds */
    if (hc_buf_reserve(&r->queued, (size_t)n + len + 2 + 5))
        return -ENOBUFS;
    hc_buf_append(&r->queued, size, (size_t)n);
    hc_buf_append(&r->queued, data, len);
    if (r->chunked)
        hc_buf_append(&r->queued, "\r\n", 2);
    else
        r->stream_left -= (int64_t)len;
    req_flush_queued(r);
    return r->queued.len + (r->ready ? hc_hcli_conn_inflight(r->conn) : 0) > QUEUE_MAX;
}

int hc_http_client_req_end(hc_http_client_req_t *r)
{
    if (r->done || !r->stream || r->ended)
        return -EINVAL;
    r->ended = 1;
    if (!r->chunked && r->stream_left) {
        req_fail_soon(r, -EINVAL, "request body shorter than its length");
        return -EINVAL;
    }
    if (r->chunked) /* the last chunk, no trailers */
        hc_buf_puts(&r->queued, "0\r\n\r\n");
    req_flush_queued(r);
    if (r->ready)
        req_check_sent(r);
    return 0;
}

void hc_http_client_req_pause(hc_http_client_req_t *r, int paused)
{
    r->paused = !!paused;
    if (r->ready && !r->done)
        hc_hcli_conn_pause(r->conn, r->paused);
}

int hc_http_client_req_body_fd(hc_http_client_req_t *r, int64_t min, int64_t *left)
{
    int fd = r->conn && r->ready ? hc_hcli_conn_fd(r->conn) : -1;
    if (fd < 0 || r->done || r->taken || !r->have_res || r->complete || r->collect_max ||
        r->is_head || r->res.content_length - r->body_seen < (min > 0 ? min : 1) ||
        hc_http_parse_is_upgrade(&r->parser))
        return -1;
    r->taken = 1;
    *left = r->res.content_length - r->body_seen;
    hc_hcli_conn_read_mode(r->conn, 0, 1);
    return fd;
}

void hc_http_client_req_body_taken(hc_http_client_req_t *r, size_t n)
{
    if (r->done || !r->taken)
        return;
    r->got_bytes = 1;
    r->body_seen += (int64_t)n;
    if (!n) {
        req_finish(r, -ECONNRESET, "connection closed before the response ended");
    } else if (r->body_seen >= r->res.content_length) {
        if (!hc_hcli_conn_quiet(r->conn)) /* bytes past the body: not to be trusted */
            r->keep_alive = 0;
        req_finish(r, 0, NULL);
    }
}

void hc_http_client_req_cancel(hc_http_client_req_t *r)
{
    req_finish(r, -ECANCELED, "cancelled");
}

const hc_http_response_t *hc_http_client_req_response(const hc_http_client_req_t *r)
{
    return r->have_res ? &r->res : NULL;
}

const char *hc_http_client_req_body(const hc_http_client_req_t *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.base ? r->body.base : "";
}

const char *hc_http_client_req_error(const hc_http_client_req_t *r)
{
    return r->status ? r->error : "";
}

int hc_http_client_req_reused(const hc_http_client_req_t *r)
{
    return r->reused;
}

int hc_http_client_req_connected(const hc_http_client_req_t *r)
{
    return r->connected;
}

const char *hc_http_response_header(const hc_http_response_t *res, const char *name)
{
    for (size_t i = 0; i < res->n_headers; i++)
        if (!strcasecmp(res->headers[i].name, name))
            return res->headers[i].value;
    return NULL;
}

/* ---- taking the connection over after a 101 ------------------------------------ */

/* The 101 head was parsed: the connection (and what followed the head) goes to raw. */
static void raw_attach(hc_http_client_req_t *r, const char *rest, size_t len)
{
    hc_http_client_raw_t *raw = r->raw;
    raw->conn = r->conn;
    r->conn = NULL;
    hc_hcli_conn_pause(raw->conn, 1);
    hc_hcli_conn_rebind(raw->conn, &hc_hcli_raw_events, raw);
    hc_buf_append(&raw->rest, rest, len);
}

hc_http_client_raw_t *hc_http_client_req_take_over(hc_http_client_req_t *r,
                                                   const hc_http_client_raw_cbs_t *cbs, void *ud)
{
    if (!r->upgrade || !r->have_res || r->res.status != 101 || r->raw || r->done || !cbs ||
        !cbs->on_data || !cbs->on_close)
        return NULL;
    hc_http_client_raw_t *raw = hc_calloc(1, sizeof(*raw));
    raw->cbs = cbs;
    raw->ud = ud;
    hc_buf_init(&raw->rest, HC_HCLI_READ_BUF);
    r->raw = raw;
    return raw;
}
