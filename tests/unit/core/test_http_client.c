/* hc_http_client against small servers run inside the test on the same loop: a raw
 * libuv TCP server answering canned bytes (optionally over hc_tls with a CA made
 * here). Keep-alive reuse, chunked and Content-Length bodies, timeouts, refused
 * connections, TLS verification, streamed request bodies, bad responses. */
#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_http_client.h"
#include "tls_testcert.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- the test server ------------------------------------------------------------ */

typedef struct srv srv_t;

typedef struct sconn {
    srv_t *srv;
    uv_tcp_t tcp;
    uv_timer_t timer; /* sends response2 a little later */
    hc_tls_conn_t *tls;
    hc_buf_t in;
    int handles;
    struct sconn *next;
} sconn_t;

struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    const char *response;  /* sent for each complete request */
    const char *response2; /* then this, 20 ms later (NULL = nothing) */
    int close_after;       /* close once answered */
    int silent;            /* never answer */
    int quit_at;           /* at this request: stop listening and close unanswered (a
                              server shutting down) */
    hc_tls_ctx_t *tls;
    int accepted, requests, closed;
    hc_buf_t last; /* the last complete request, raw */
    sconn_t *conns;
};

static void sconn_closed(uv_handle_t *h)
{
    sconn_t *c = h->data;
    if (--c->handles)
        return;
    sconn_t **pp = &c->srv->conns;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    c->srv->closed++;
    hc_buf_free(&c->in);
    hc_tls_conn_free(c->tls);
    free(c);
}

static void sconn_close(sconn_t *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    uv_close((uv_handle_t *)&c->tcp, sconn_closed);
    uv_close((uv_handle_t *)&c->timer, sconn_closed);
}

static void swritten(uv_write_t *w, int status)
{
    free(w);
}

static void ssend_raw(sconn_t *c, const char *data, size_t len)
{
    uv_write_t *w = malloc(sizeof(*w) + len);
    memcpy(w + 1, data, len);
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
    if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, swritten))
        free(w);
}

static void sflush(sconn_t *c)
{
    const char *p;
    size_t n = hc_tls_conn_pending(c->tls, &p);
    if (n)
        ssend_raw(c, p, n);
    hc_tls_conn_consume(c->tls, n);
}

static void ssend(sconn_t *c, const char *s)
{
    if (!c->tls) {
        ssend_raw(c, s, strlen(s));
        return;
    }
    hc_tls_conn_write(c->tls, s, strlen(s));
    sflush(c);
}

static void ssend_later(uv_timer_t *t)
{
    sconn_t *c = t->data;
    ssend(c, c->srv->response2);
    if (c->srv->close_after)
        sconn_close(c);
}

/* Length of the first complete request in b (head + Content-Length or chunked
 * body), 0 while incomplete. */
static size_t request_len(const hc_buf_t *b)
{
    const char *end = b->base ? strstr(b->base, "\r\n\r\n") : NULL;
    if (!end)
        return 0;
    size_t head = (size_t)(end - b->base) + 4;
    const char *cl = strcasestr(b->base, "\r\ncontent-length:");
    if (cl && cl < end) {
        size_t n = (size_t)strtoul(cl + 17, NULL, 10);
        return b->len >= head + n ? head + n : 0;
    }
    const char *te = strcasestr(b->base, "\r\ntransfer-encoding: chunked");
    if (te && te < end) {
        const char *last = strstr(end + 4, "0\r\n\r\n");
        return last ? (size_t)(last - b->base) + 5 : 0;
    }
    return head;
}

static void srequest(sconn_t *c, const char *data, size_t len)
{
    srv_t *s = c->srv;
    hc_buf_append(&c->in, data, len);
    size_t n;
    while ((n = request_len(&c->in))) {
        s->requests++;
        hc_buf_reset(&s->last);
        hc_buf_append(&s->last, c->in.base, n);
        hc_buf_consume(&c->in, n);
        if (s->quit_at && s->requests == s->quit_at) {
            uv_close((uv_handle_t *)&s->listener, NULL);
            sconn_close(c);
            return;
        }
        if (s->silent)
            continue;
        ssend(c, s->response);
        if (s->response2)
            uv_timer_start(&c->timer, ssend_later, 20, 0);
        else if (s->close_after)
            sconn_close(c);
    }
}

static void salloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char rbuf[65536];
    *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void sread(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    sconn_t *c = st->data;
    if (nread < 0) {
        sconn_close(c);
        return;
    }
    if (!c->tls) {
        srequest(c, buf->base, (size_t)nread);
        return;
    }
    char plain[65536];
    int n;
    hc_tls_conn_feed(c->tls, buf->base, (size_t)nread);
    while ((n = hc_tls_conn_read(c->tls, plain, sizeof(plain))) > 0)
        srequest(c, plain, (size_t)n);
    sflush(c);
    if (n < 0)
        sconn_close(c);
}

static void saccept(uv_stream_t *l, int status)
{
    srv_t *s = l->data;
    sconn_t *c = calloc(1, sizeof(*c));
    c->srv = s;
    hc_buf_init(&c->in, 1 << 20);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    c->next = s->conns;
    s->conns = c;
    if (s->tls)
        c->tls = hc_tls_conn_server(s->tls);
    assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
    s->accepted++;
    uv_read_start((uv_stream_t *)&c->tcp, salloc, sread);
}

static void srv_start(srv_t *s, uv_loop_t *loop, const char *response)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->response = response;
    hc_buf_init(&s->last, 1 << 20);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    assert_int_equal(uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 16, saccept), 0);
    int len = sizeof(addr);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&addr, &len);
    s->port = ntohs(addr.sin_port);
}

static void srv_stop(srv_t *s)
{
    if (!uv_is_closing((uv_handle_t *)&s->listener))
        uv_close((uv_handle_t *)&s->listener, NULL);
    for (sconn_t *c = s->conns; c; c = c->next)
        sconn_close(c);
    hc_buf_free(&s->last);
}

/* ---- the client side ------------------------------------------------------------ */

typedef struct result {
    int done, status, headers_status, reused, body_calls, connected;
    char error[192];
    char body[4096];
    size_t body_len;
    char header[64]; /* value of X-Test in the response */
} result_t;

static int on_headers(hc_http_client_req_t *req, const hc_http_response_t *res, void *ud)
{
    result_t *r = ud;
    const char *v = hc_http_response_header(res, "x-test");
    for (size_t i = 0; i < res->n_headers; i++) { /* lengths come with the fields */
        assert_int_equal(res->headers[i].name_len, strlen(res->headers[i].name));
        assert_int_equal(res->headers[i].value_len, strlen(res->headers[i].value));
    }
    r->headers_status = res->status;
    snprintf(r->header, sizeof(r->header), "%s", v ? v : "");
    return 0;
}

static int on_body(hc_http_client_req_t *req, const char *data, size_t len, void *ud)
{
    result_t *r = ud;
    assert_true(r->body_len + len < sizeof(r->body));
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body_calls++;
    return 0;
}

static void on_done(hc_http_client_req_t *req, int status, void *ud)
{
    result_t *r = ud;
    size_t len;
    const char *body = hc_http_client_req_body(req, &len);
    r->done = 1;
    r->status = status;
    r->reused = hc_http_client_req_reused(req);
    r->connected = hc_http_client_req_connected(req);
    snprintf(r->error, sizeof(r->error), "%s", hc_http_client_req_error(req));
    if (len) {
        memcpy(r->body, body, len);
        r->body_len = len;
    }
}

static const hc_http_client_req_cbs_t cbs = {
    .on_headers = on_headers, .on_body = on_body, .on_done = on_done};

/* Runs the loop until *flag is set; bounded in iterations (requests carry a total
 * timeout, so the loop never waits forever). */
static void run_until(uv_loop_t *loop, const int *flag)
{
    for (int i = 0; i < 10000 && !*flag; i++)
        uv_run(loop, UV_RUN_ONCE);
    assert_true(*flag);
}

/* Runs the loop for about ms milliseconds. */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + ms;
    for (int i = 0; i < 10000 && uv_now(loop) < end; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(2000);
        uv_update_time(loop);
    }
}

static void fetch(hc_http_client_t *cl, uv_loop_t *loop, hc_http_client_req_opts_t *o, result_t *r)
{
    memset(r, 0, sizeof(*r));
    if (!o->total_timeout_ms)
        o->total_timeout_ms = 5000;
    assert_int_equal(hc_http_client_request(cl, o, &cbs, r, NULL), 0);
    run_until(loop, &r->done);
}

typedef struct fixture {
    uv_loop_t loop;
    hc_http_client_t *cl;
    srv_t srv;
    char url[128];
} fixture_t;

static void fx_start(fixture_t *f, const char *response, const hc_http_client_opts_t *opts)
{
    uv_loop_init(&f->loop);
    srv_start(&f->srv, &f->loop, response);
    f->cl = hc_http_client_new(&f->loop, opts, NULL, 0);
    assert_non_null(f->cl);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/path?q=1", f->srv.port);
}

static void fx_stop(fixture_t *f)
{
    hc_http_client_free(f->cl);
    srv_stop(&f->srv);
    for (int i = 0; i < 100 && uv_run(&f->loop, UV_RUN_NOWAIT); i++)
        usleep(1000);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* ---- tests ---------------------------------------------------------------------- */

static const char ok_hello[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\nhello";

static void test_keep_alive_reuses_one_connection(void **state)
{
    fixture_t f;
    result_t r;
    fx_start(&f, ok_hello, NULL);
    hc_http_client_req_opts_t o = {.url = f.url, .collect_max = 100};
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.reused, 0);
    assert_int_equal(r.headers_status, 200);
    assert_string_equal(r.header, "yes");
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(r.body, "hello", 5);
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.reused, 1);
    assert_memory_equal(r.body, "hello", 5);
    assert_int_equal(f.srv.accepted, 1);
    assert_int_equal(f.srv.requests, 2);
    fx_stop(&f);
}

static void test_request_bytes(void **state)
{
    fixture_t f;
    result_t r;
    fx_start(&f, ok_hello, NULL);
    static const hc_http_client_header_t hdrs[] = {
        {"X-Api-Key", "k1"}, {"Content-Length", "999"}, {"Connection", "upgrade"}};
    hc_http_client_req_opts_t o = {.url = f.url, .method = "POST", .headers = hdrs, .n_headers = 3,
                            .body = "a=1", .body_len = 3};
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.status, 0);
    char want[256];
    snprintf(want, sizeof(want),
             "POST /path?q=1 HTTP/1.1\r\nX-Api-Key: k1\r\nHost: 127.0.0.1:%d\r\n"
             "Content-Length: 3\r\n\r\na=1",
             f.srv.port);
    assert_string_equal(f.srv.last.base, want);
    /* a Host given by the caller is kept; a bad header value is refused */
    static const hc_http_client_header_t host[] = {{"Host", "example.test"}};
    hc_http_client_req_opts_t o2 = {.url = f.url, .headers = host, .n_headers = 1, .no_reuse = 1};
    fetch(f.cl, &f.loop, &o2, &r);
    assert_string_equal(f.srv.last.base, "GET /path?q=1 HTTP/1.1\r\nHost: example.test\r\n"
                                         "Connection: close\r\n\r\n");
    static const hc_http_client_header_t bad[] = {{"X-Bad", "a\r\nInjected: 1"}};
    hc_http_client_req_opts_t o3 = {.url = f.url, .headers = bad, .n_headers = 1};
    assert_int_equal(hc_http_client_request(f.cl, &o3, &cbs, &r, NULL), -EINVAL);
    fx_stop(&f);
}

/* A parsed origin with a request-target and fields whose lengths the caller gives:
 * the same bytes as a URL request, the origin kept alive by its requests. */
static void test_origin_requests(void **state)
{
    fixture_t f;
    result_t r;
    fx_start(&f, ok_hello, NULL);
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d/ignored", f.srv.port);
    assert_null(hc_http_client_origin_new(f.cl, "ftp://x/", NULL, NULL));
    assert_null(hc_http_client_origin_new(f.cl, "http://h:99999", NULL, NULL));
    hc_http_client_origin_t *org = hc_http_client_origin_new(f.cl, base, NULL, NULL);
    assert_non_null(org);
    static const hc_http_client_header_t hdrs[] = {{"X-Api-Key", "k1", 9, 2},
                                                   {"Connection", "x", 10, 1}};
    hc_http_client_req_opts_t o = {.origin = org, .target = "/a/b?c=d#frag", .headers = hdrs,
                                   .n_headers = 2, .headers_checked = 1, .collect_max = 100};
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.status, 0);
    assert_memory_equal(r.body, "hello", 5);
    char want[256];
    snprintf(want, sizeof(want), "GET /a/b?c=d HTTP/1.1\r\nX-Api-Key: k1\r\nHost: 127.0.0.1:%d\r\n\r\n",
             f.srv.port);
    assert_string_equal(f.srv.last.base, want);
    /* the request holds its own reference: dropping ours at once is fine */
    hc_http_client_req_opts_t o2 = {.origin = org, .collect_max = 100};
    memset(&r, 0, sizeof(r));
    o2.total_timeout_ms = 5000;
    assert_int_equal(hc_http_client_request(f.cl, &o2, &cbs, &r, NULL), 0);
    hc_http_client_origin_unref(org);
    run_until(&f.loop, &r.done);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.reused, 1);
    snprintf(want, sizeof(want), "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", f.srv.port);
    assert_string_equal(f.srv.last.base, want);
    assert_int_equal(f.srv.accepted, 1);
    /* a target with a space is refused as a URL with one is */
    org = hc_http_client_origin_new(f.cl, base, NULL, NULL);
    hc_http_client_req_opts_t o3 = {.origin = org, .target = "/a b"};
    assert_int_equal(hc_http_client_request(f.cl, &o3, &cbs, &r, NULL), -EINVAL);
    hc_http_client_origin_unref(org);
    fx_stop(&f);
}

static void test_chunked_response_streamed(void **state)
{
    fixture_t f;
    result_t r;
    fx_start(&f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", NULL);
    f.srv.response2 = "6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    hc_http_client_req_opts_t o = {.url = f.url};
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.body_len, 11);
    assert_memory_equal(r.body, "hello world", 11);
    assert_true(r.body_calls >= 2); /* the pieces came as they arrived */
    fetch(f.cl, &f.loop, &o, &r);  /* the connection is still usable after a chunked body */
    assert_int_equal(r.reused, 1);
    assert_memory_equal(r.body, "hello world", 11);
    fx_stop(&f);
}

static void test_response_shapes(void **state)
{
    static const struct {
        const char *response, *body, *error_part;
        int status, close_after, head;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", "", 0, 0, 0},
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", "", 0,
         0, 0},
        {"HTTP/1.0 200 OK\r\n\r\nuntil close", "until close", "", 0, 1, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "", "", 0, 0, 1},
        {"HTTP/1.1 204 No Content\r\n\r\n", "", "", 0, 0, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "", "bad response", -EBADMSG, 0, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "", "bad response",
         -EBADMSG, 0, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "short", "closed before",
         -ECONNRESET, 1, 0},
        {"", "", "closed before the response", -ECONNRESET, 1, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n", "", "larger than 100", -EFBIG, 0, 0},
        {"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 103 Early "
         "Hints\r\n\r\n"
         "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\n"
         "Content-Length: 2\r\n\r\nok",
         "ok", "", 0, 0, 0},
        {"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 103 Early "
         "Hints\r\n\r\n"
         "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 103 Early "
         "Hints\r\n\r\n"
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
         "", "too many 1xx", -EBADMSG, 0, 0},
        /* Transfer-Encoding: one field, chunked (any case), else refused as by Go */
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding:  Chunked \r\n\r\n2\r\nok\r\n0\r\n\r\n", "ok", "", 0,
         0, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", "",
         "unsupported transfer encoding", -EBADMSG, 0, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=1\r\n\r\n2\r\nok\r\n0\r\n\r\n", "",
         "unsupported transfer encoding", -EBADMSG, 1, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
         "2\r\nok\r\n0\r\n\r\n",
         "", "unsupported transfer encoding", -EBADMSG, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fixture_t f;
        result_t r;
        fx_start(&f, cases[i].response, NULL);
        f.srv.close_after = cases[i].close_after;
        hc_http_client_req_opts_t o = {.url = f.url, .collect_max = 100,
                                .method = cases[i].head ? "HEAD" : "GET"};
        fetch(f.cl, &f.loop, &o, &r);
        assert_int_equal(r.status, cases[i].status);
        assert_int_equal(r.body_len, strlen(cases[i].body));
        assert_memory_equal(r.body, cases[i].body, r.body_len);
        assert_non_null(strstr(r.error, cases[i].error_part));
        fx_stop(&f);
    }
}

static void test_timeouts(void **state)
{
    fixture_t f;
    result_t r;
    fx_start(&f, ok_hello, NULL);
    f.srv.silent = 1;
    hc_http_client_req_opts_t o = {.url = f.url, .header_timeout_ms = 100};
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.status, -ETIMEDOUT);
    assert_string_equal(r.error, "response header timeout");
    hc_http_client_req_opts_t o2 = {.url = f.url, .total_timeout_ms = 80};
    fetch(f.cl, &f.loop, &o2, &r);
    assert_int_equal(r.status, -ETIMEDOUT);
    assert_string_equal(r.error, "request timeout");
    /* A server that never answers the ClientHello: the connect timeout covers the
     * handshake, unless the handshake has its own (Go's TLSHandshakeTimeout), which then
     * outlasts a shorter connect timeout. */
    snprintf(f.url, sizeof(f.url), "https://127.0.0.1:%d/", f.srv.port);
    hc_http_client_req_opts_t o3 = {.url = f.url, .connect_timeout_ms = 60};
    fetch(f.cl, &f.loop, &o3, &r);
    assert_int_equal(r.status, -ETIMEDOUT);
    assert_string_equal(r.error, "connect timeout");
    uv_update_time(&f.loop);
    uint64_t t0 = uv_now(&f.loop);
    /* the connect phase (name lookup on the thread pool too) given room on a busy machine */
    hc_http_client_req_opts_t o4 = {
        .url = f.url, .connect_timeout_ms = 500, .tls_timeout_ms = 1500};
    fetch(f.cl, &f.loop, &o4, &r);
    assert_int_equal(r.status, -ETIMEDOUT);
    assert_string_equal(r.error, "TLS handshake timeout");
    assert_true(uv_now(&f.loop) - t0 >= 1490);
    fx_stop(&f);
}

static void test_connection_refused(void **state)
{
    fixture_t f;
    result_t r;
    fx_start(&f, ok_hello, NULL);
    srv_stop(&f.srv); /* nothing listens on the port any more */
    run_for(&f.loop, 10);
    hc_http_client_req_opts_t o = {.url = f.url};
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.status, -ECONNREFUSED);
    assert_non_null(strstr(r.error, "connect"));
    hc_http_client_req_opts_t o2 = {.url = "http://name.invalid/"};
    fetch(f.cl, &f.loop, &o2, &r);
    assert_int_equal(r.status, -EHOSTUNREACH);
    hc_buf_init(&f.srv.last, 1); /* srv_stop already freed it */
    fx_stop(&f);
}

static void test_server_closing_pooled_connection(void **state)
{
    fixture_t f;
    result_t r;
    fx_start(&f, ok_hello, NULL);
    f.srv.close_after = 1; /* answers keep-alive, then closes anyway */
    hc_http_client_req_opts_t o = {.url = f.url, .collect_max = 100};
    for (int i = 0; i < 3; i++) {
        fetch(f.cl, &f.loop, &o, &r);
        assert_int_equal(r.status, 0);
        assert_memory_equal(r.body, "hello", 5);
    }
    assert_int_equal(f.srv.accepted, 3);
    fx_stop(&f);
}

/* The server closes the pooled connection unanswered as it shuts down: the request is
 * tried once more on a new connection, which is refused; what the caller learns is a
 * connect failure (so a proxy may take another server), not a request the server got. */
static void test_server_shutting_down_under_a_pooled_request(void **state)
{
    fixture_t f;
    result_t r;
    fx_start(&f, ok_hello, NULL);
    f.srv.quit_at = 2;
    hc_http_client_req_opts_t o = {.url = f.url, .collect_max = 100};
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.status, 0);
    assert_true(r.connected);
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.status, -ECONNREFUSED);
    assert_false(r.connected);
    fx_stop(&f);
}

static void test_idle_timeout_closes(void **state)
{
    fixture_t f;
    result_t r;
    hc_http_client_opts_t opts = {.idle_timeout_ms = 30};
    fx_start(&f, ok_hello, &opts);
    hc_http_client_req_opts_t o = {.url = f.url};
    fetch(f.cl, &f.loop, &o, &r);
    run_for(&f.loop, 120);
    assert_int_equal(f.srv.closed, 1);
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.reused, 0);
    assert_int_equal(f.srv.accepted, 2);
    fx_stop(&f);
}

/* An origin's own pool limits (a servers transport's maxIdleConnsPerHost and
 * idleConnTimeout): none kept, then a short idle timeout, then never timing out, each
 * against a client whose own timeout is short. */
static void test_origin_pool_limits(void **state)
{
    fixture_t f;
    result_t r;
    hc_http_client_opts_t opts = {.idle_timeout_ms = 30};
    fx_start(&f, ok_hello, &opts);
    hc_http_client_origin_t *org = hc_http_client_origin_new(f.cl, f.url, NULL, NULL);
    hc_http_client_req_opts_t o = {.origin = org, .target = "/"};
    hc_http_client_origin_pool(org, -1, 0);
    fetch(f.cl, &f.loop, &o, &r);
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.reused, 0);
    assert_int_equal(f.srv.accepted, 2);
    hc_http_client_origin_pool(org, 1, 1000); /* longer than the client's 30 ms */
    fetch(f.cl, &f.loop, &o, &r);
    run_for(&f.loop, 80);
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.reused, 1);
    run_for(&f.loop, 1400);
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.reused, 0);
    assert_int_equal(f.srv.accepted, 4);
    hc_http_client_origin_pool(org, 0, UINT64_MAX);
    run_for(&f.loop, 1400); /* the pooled one opened under 1000 ms times out */
    fetch(f.cl, &f.loop, &o, &r);
    run_for(&f.loop, 150);
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.reused, 1);
    assert_int_equal(f.srv.accepted, 5);
    hc_http_client_origin_unref(org);
    fx_stop(&f);
}

typedef struct streamer {
    result_t r;
    hc_http_client_req_t *req;
    int drains;
} streamer_t;

static void stream_drain(hc_http_client_req_t *req, void *ud)
{
    streamer_t *s = ud;
    if (s->drains++ == 0) {
        assert_int_equal(hc_http_client_req_write(req, "world", 5), 0);
        assert_int_equal(hc_http_client_req_end(req), 0);
    }
}

static void stream_done(hc_http_client_req_t *req, int status, void *ud)
{
    on_done(req, status, &((streamer_t *)ud)->r);
}

static void test_streamed_request_body(void **state)
{
    static const hc_http_client_req_cbs_t scbs = {.on_drain = stream_drain, .on_done = stream_done};
    fixture_t f;
    fx_start(&f, ok_hello, NULL);
    for (int known = 0; known < 2; known++) {
        streamer_t s = {0};
        hc_http_client_req_opts_t o = {.url = f.url, .method = "PUT", .stream_body = 1,
                                .stream_length = known ? 10 : -1, .total_timeout_ms = 5000};
        assert_int_equal(hc_http_client_request(f.cl, &o, &scbs, &s, &s.req), 0);
        assert_int_equal(hc_http_client_req_write(s.req, "hello", 5), 0); /* before connecting */
        run_until(&f.loop, &s.r.done);
        assert_int_equal(s.r.status, 0);
        const char *body = strstr(f.srv.last.base, "\r\n\r\n") + 4;
        if (known) {
            assert_non_null(strstr(f.srv.last.base, "Content-Length: 10\r\n"));
            assert_string_equal(body, "helloworld");
        } else {
            assert_non_null(strstr(f.srv.last.base, "Transfer-Encoding: chunked\r\n"));
            assert_string_equal(body, "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n");
        }
    }
    fx_stop(&f);
}

static void cancel_done(hc_http_client_req_t *req, int status, void *ud)
{
    on_done(req, status, ud);
}

static int cancel_in_headers(hc_http_client_req_t *req, const hc_http_response_t *res, void *ud)
{
    hc_http_client_req_cancel(req);
    return 0;
}

static void test_cancel(void **state)
{
    static const hc_http_client_req_cbs_t ccbs = {.on_headers = cancel_in_headers,
                                           .on_done = cancel_done};
    fixture_t f;
    result_t r = {0};
    fx_start(&f, ok_hello, NULL);
    hc_http_client_req_opts_t o = {.url = f.url, .total_timeout_ms = 5000};
    assert_int_equal(hc_http_client_request(f.cl, &o, &ccbs, &r, NULL), 0);
    run_until(&f.loop, &r.done);
    assert_int_equal(r.status, -ECANCELED);
    /* a request still connecting when the client goes away */
    result_t r2 = {0};
    assert_int_equal(hc_http_client_request(f.cl, &o, &cbs, &r2, NULL), 0);
    fx_stop(&f);
    assert_int_equal(r2.status, -ECANCELED);
}

static void test_tls_verification(void **state)
{
    tc_pem_t ca, leaf;
    tc_make_ca(&ca, "client test CA");
    tc_make_leaf(&leaf, &ca, "svc.test", "DNS:svc.test,IP:127.0.0.1");
    char ca_path[] = "/tmp/hearth-test-ca-XXXXXX";
    int fd = mkstemp(ca_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ca.cert, strlen(ca.cert)), (ssize_t)strlen(ca.cert));
    close(fd);
    hc_http_client_opts_t opts = {.ca_file = ca_path};
    fixture_t f;
    result_t r;
    fx_start(&f, ok_hello, &opts);
    unlink(ca_path);
    f.srv.tls = hc_tls_server_new(NULL, NULL, 0);
    hc_tls_certs_t *set = hc_tls_certs_new();
    assert_int_equal(hc_tls_certs_add_pem(set, leaf.cert, strlen(leaf.cert), leaf.key,
                                          strlen(leaf.key),
                                          HC_TLS_CERT_BY_NAME | HC_TLS_CERT_DEFAULT, NULL, 0),
                     0);
    hc_tls_ctx_set_certs(f.srv.tls, set);
    snprintf(f.url, sizeof(f.url), "https://127.0.0.1:%d/", f.srv.port);
    static const struct {
        const char *sni;
        int status;
        const char *error_part;
    } cases[] = {
        {NULL, 0, ""},        /* the IP SAN */
        {"svc.test", 0, ""},  /* the DNS SAN, sent as SNI */
        {"other.test", -EKEYREJECTED, "certificate verify failed"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hc_http_client_req_opts_t o = {.url = f.url, .collect_max = 64,
                                .tls_server_name = cases[i].sni};
        fetch(f.cl, &f.loop, &o, &r);
        assert_int_equal(r.status, cases[i].status);
        assert_non_null(strstr(r.error, cases[i].error_part));
        if (!r.status)
            assert_memory_equal(r.body, "hello", 5);
    }
    /* an unknown CA: the client's default trust store does not know ours */
    hc_tls_ctx_t *sys = hc_tls_client_new(NULL, 1, NULL, 0);
    hc_http_client_req_opts_t o = {.url = f.url, .tls = sys};
    fetch(f.cl, &f.loop, &o, &r);
    assert_int_equal(r.status, -EKEYREJECTED);
    hc_tls_ctx_unref(sys);
    fx_stop(&f);
    hc_tls_ctx_unref(f.srv.tls);
    tc_pem_free(&leaf);
    tc_pem_free(&ca);
}

static void test_bad_requests_are_refused(void **state)
{
    static const char *const urls[] = {
        "ftp://x/", "http://", "http://:80/", "http://h:0/", "http://h:99999/",
        "http://user@h/", "http://[::1/", "http://h/a b", "http://h:12x/", "http://h:/",
    };
    uv_loop_t loop;
    uv_loop_init(&loop);
    hc_http_client_t *cl = hc_http_client_new(&loop, NULL, NULL, 0);
    assert_non_null(cl);
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        hc_http_client_req_opts_t o = {.url = urls[i]};
        assert_int_equal(hc_http_client_request(cl, &o, &cbs, NULL, NULL), -EINVAL);
    }
    hc_http_client_req_opts_t o = {.url = "http://h/", .method = "GE T"};
    assert_int_equal(hc_http_client_request(cl, &o, &cbs, NULL, NULL), -EINVAL);
    hc_http_client_free(cl);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive_reuses_one_connection),
        cmocka_unit_test(test_request_bytes),
        cmocka_unit_test(test_origin_requests),
        cmocka_unit_test(test_chunked_response_streamed),
        cmocka_unit_test(test_response_shapes),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_server_closing_pooled_connection),
        cmocka_unit_test(test_server_shutting_down_under_a_pooled_request),
        cmocka_unit_test(test_idle_timeout_closes),
        cmocka_unit_test(test_origin_pool_limits),
        cmocka_unit_test(test_streamed_request_body),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_tls_verification),
        cmocka_unit_test(test_bad_requests_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
