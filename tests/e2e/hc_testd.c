/* Fixture server for tests/e2e/test_http.py and the proxy's backends (test_proxy*.py):
 * hc_http_server + hc_router on N worker loops (hc_runtime), optional TLS with SNI
 * certificates, and routes that exercise each server feature. SIGTERM drains (10 s
 * deadline) and exits 0. With --name, every path no other route takes is answered with
 * the echo JSON (see echo_json) naming the backend, as a proxy's upstream.
 *   hc_testd --listen 127.0.0.1:8080 [--workers N] [--tls-cert F --tls-key F]
 *            [--sni-cert F --sni-key F]... [--name NAME] [--max-head BYTES] */
#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_http_server.h"
#include "core/hc_log.h"
#include "core/hc_router.h"
#include "core/hc_runtime.h"
#include "core/hc_tls.h"
#include "core/hc_ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SNI 4
#define STREAM_MAX_BODY ((size_t)1 << 30) /* POST /stream: the echo without a small limit */

static struct {
    struct sockaddr_storage addr;
    unsigned workers;
    const char *cert, *key, *sni_cert[MAX_SNI], *sni_key[MAX_SNI];
    unsigned nsni;
    const char *name; /* --name: the backend's name in echo answers; NULL = no catch-all */
    hc_tls_ctx_t *tls;
    hc_router_t *router;
    hc_http_server_t *servers[64];
    unsigned pool_trim_ms; /* --pool-trim-ms */
    size_t max_head;       /* --max-head: request line and header section limit (and then
                              up to 65535 fields); 0 = default */
} g;

static _Thread_local hc_http_server_t *worker_server; /* this worker thread's server */

/* ---- routes ---- */

static void fixed(hc_http_req_t *req, void *arg)
{
    hc_http_respond(req, 200, "text/plain", "ok\n", 3);
}

static void echo_drained(hc_http_req_t *req, void *arg)
{
    hc_http_req_pause_body(req, 0);
}

/* The response starts with the first piece, so a body the server rejects (413, bad
 * chunk) still gets its error status. */
static void echo_piece(hc_http_req_t *req, const char *data, size_t len, int status, void *arg)
{
    if (status < 0)
        return;
    if (!req->user) {
        req->user = req;
        hc_http_res_header(req, "Content-Type", "application/octet-stream");
        hc_http_res_start(req, 200,
                          req->chunked ? -1 : (req->content_length < 0 ? 0 : req->content_length));
    }
    if (status == 1) {
        hc_http_res_end(req);
        return;
    }
    if (hc_http_res_write(req, data, len) == HC_HTTP_WAIT) {
        hc_http_req_pause_body(req, 1);
        hc_http_res_on_drain(req, echo_drained, NULL);
    }
}

static void echo(hc_http_req_t *req, void *arg)
{
    hc_http_req_read_body(req, echo_piece, NULL);
}

/* A positive integer query parameter up to max, dflt when absent or out of range. */
static long query_long(hc_http_req_t *req, const char *name, long dflt, long max)
{
    size_t len = 0;
    const char *v = hc_http_req_query_param(req, name, &len);
    long n = v ? strtol(v, NULL, 10) : dflt;
    return n > 0 && n <= max ? n : dflt;
}

static void slow_timer_closed(uv_handle_t *h)
{
    hc_free(h);
}

static void slow_fire(uv_timer_t *t)
{
    hc_http_req_t *req = t->data;
    hc_http_req_on_close(req, NULL, NULL);
    hc_http_respond(req, 200, "text/plain", "slow\n", 5);
    uv_close((uv_handle_t *)t, slow_timer_closed);
}

static void slow_gone(hc_http_req_t *req, void *arg)
{
    uv_close((uv_handle_t *)arg, slow_timer_closed);
}

static void slow(hc_http_req_t *req, void *arg)
{
    uv_timer_t *t = hc_malloc(sizeof(*t));
    uv_timer_init(hc_http_req_loop(req), t);
    t->data = req;
    hc_http_req_on_close(req, slow_gone, t);
    uv_timer_start(t, slow_fire, (uint64_t)query_long(req, "ms", 100, 59999), 0);
}

/* GET /drip?pieces=N&size=B&ms=M&type=T[&length=1]: a streamed body (no Content-Length,
 * or with length=1 one announcing it all) of N pieces of B bytes of compressible text,
 * one every M ms, as Content-Type T (default text/plain): a slow stream or an event
 * stream, for the compress middleware. */
typedef struct drip {
    uv_timer_t timer;
    hc_http_req_t *req;
    long left, size;
} drip_t;

static void drip_closed(uv_handle_t *h)
{
    hc_free(h->data);
}

static void drip_stop(drip_t *d)
{
    uv_timer_stop(&d->timer);
    d->timer.data = d;
    uv_close((uv_handle_t *)&d->timer, drip_closed);
}

static void drip_gone(hc_http_req_t *req, void *arg)
{
    drip_stop(arg);
}

static void drip_fire(uv_timer_t *t)
{
    drip_t *d = t->data;
    char piece[8192];
    for (long i = 0; i < d->size; i++)
        piece[i] = "hearth proxy compressible text\n"[i % 31];
    hc_http_res_write(d->req, piece, (size_t)d->size);
    if (--d->left > 0)
        return;
    hc_http_req_on_close(d->req, NULL, NULL);
    hc_http_res_end(d->req);
    drip_stop(d);
}

static void drip(hc_http_req_t *req, void *arg)
{
    size_t tlen = 0;
    const char *t = hc_http_req_query_param(req, "type", &tlen);
    drip_t *d = hc_calloc(1, sizeof(*d));
    d->req = req;
    d->left = query_long(req, "pieces", 3, 100);
    d->size = query_long(req, "size", 100, 8192);
    long ms = query_long(req, "ms", 200, 10000);
    hc_http_res_header(req, "Content-Type", t ? hc_http_req_strndup(req, t, tlen) : "text/plain");
    hc_http_res_start(req, 200, query_long(req, "length", 0, 1) ? d->left * d->size : -1);
    uv_timer_init(hc_http_req_loop(req), &d->timer);
    d->timer.data = d;
    hc_http_req_on_close(req, drip_gone, d);
    uv_timer_start(&d->timer, drip_fire, 0, (uint64_t)ms);
}

static void ws_message(hc_ws_t *ws, int is_text, const char *data, size_t len, void *arg)
{
    hc_ws_send(ws, is_text, data, len);
}

static void ws_closed(hc_ws_t *ws, int code, void *arg) {}

static const hc_ws_cbs_t ws_cbs = {ws_message, ws_closed};

static void ws(hc_http_req_t *req, void *arg)
{
    hc_ws_accept(req, &ws_cbs, NULL, 1 << 16);
}

static void sse(hc_http_req_t *req, void *arg)
{
    hc_http_sse_start(req, 0);
    hc_http_sse_send(req, "greeting", "hello", "1");
    hc_http_sse_send(req, NULL, "two\nlines", "2");
    hc_http_sse_send(req, "bye", "3", "3");
    hc_http_res_end(req);
}

typedef struct big {
    size_t left;
} big_t;

static void big_more(hc_http_req_t *req, void *arg)
{
    static const char block[16384] = {[0 ... 16383] = 'x'};
    big_t *b = req->user;
    while (b->left) {
        size_t n = b->left < sizeof(block) ? b->left : sizeof(block);
        b->left -= n;
        int rc = hc_http_res_write(req, block, n);
        if (rc < 0)
            return;
        if (rc == HC_HTTP_WAIT && b->left) {
            hc_http_res_on_drain(req, big_more, NULL);
            return;
        }
    }
    hc_http_res_end(req);
}

static void big(hc_http_req_t *req, void *arg)
{
    size_t len = 0;
    const char *v = hc_http_req_query_param(req, "n", &len);
    big_t *b = hc_http_req_alloc(req, sizeof(*b));
    b->left = v ? strtoull(v, NULL, 10) : 1024;
    req->user = b;
    hc_http_res_header(req, "Content-Type", "application/octet-stream");
    hc_http_res_start(req, 200, (int64_t)b->left);
    big_more(req, NULL);
}

/* What a proxy sent us, as JSON: {"name", "method", "target", "headers": {Name: value,
 * repeated names joined with ", "}, "body_len", "peer_port" (the connection's, to tell
 * a reused one)}; also X-Backend: name, so a test can
 * tell backends apart without parsing the (possibly compressed) body. Status 200, or 401
 * when the handler set req->user (the denying /auth). */
static void echo_json(hc_http_req_t *req, char *body, size_t len, int err, void *arg)
{
    if (err < 0)
        return;
    json_t *h = json_object();
    for (size_t i = 0; i < req->nheaders; i++) {
        const hc_http_header_t *f = &req->headers[i];
        char *name = hc_http_req_strndup(req, f->name, f->name_len);
        json_t *old = json_object_get(h, name);
        json_t *v =
            old ? json_sprintf("%s, %.*s", json_string_value(old), (int)f->value_len, f->value)
                : json_stringn(f->value, f->value_len);
        json_object_set_new(h, name, v);
    }
    struct sockaddr_storage peer;
    int peer_port = hc_http_req_peer(req, &peer) == 0 && peer.ss_family == AF_INET
                        ? ntohs(((struct sockaddr_in *)&peer)->sin_port)
                        : 0;
    /* JSON holds UTF-8 only: a byte of the target that is not well-formed echoes as '?' */
    char *target = hc_http_req_strndup(req, req->target, req->target_len);
    for (size_t i = 0; i < req->target_len;) {
        size_t n = hc_utf8_seq(target + i, req->target_len - i);
        if (!n)
            target[i] = '?';
        i += n ? n : 1;
    }
    json_t *o = json_pack("{s:s, s:s, s:s%, s:o, s:I, s:i}", "name", g.name ? g.name : "", "method",
                          req->method, "target", target, req->target_len, "headers", h, "body_len",
                          (json_int_t)len, "peer_port", peer_port);
    char *text = json_dumps(o, JSON_SORT_KEYS);
    json_decref(o);
    hc_http_res_header(req, "X-Backend", g.name ? g.name : "");
    hc_http_respond(req, req->user ? 401 : 200, "application/json", text, strlen(text));
    free(text); /* allocated by jansson */
}

static void echo_all(hc_http_req_t *req, void *arg)
{
    hc_http_req_read_whole_body(req, 1 << 20, echo_json, NULL);
}

/* GET /status/:code answers that status with a short text body. */
static void status_code(hc_http_req_t *req, void *arg)
{
    size_t len = 0;
    const char *v = hc_http_req_param(req, "code", &len);
    long code = v ? strtol(v, NULL, 10) : 0;
    if (code < 200 || code > 599)
        code = 400;
    hc_http_respond(req, (int)code, "text/plain", "status\n", 7);
}

/* GET /text?n=N&type=T: N bytes of compressible text (default 4096) as Content-Type T
 * (default text/plain), for the compress middleware. */
static void text(hc_http_req_t *req, void *arg)
{
    size_t len = 0, tlen = 0;
    const char *v = hc_http_req_query_param(req, "n", &len);
    const char *t = hc_http_req_query_param(req, "type", &tlen);
    size_t n = v ? strtoull(v, NULL, 10) : 4096;
    if (n > (1 << 20))
        n = 1 << 20;
    char *body = hc_http_req_alloc(req, n + 1);
    for (size_t i = 0; i < n; i++)
        body[i] = "hearth proxy compressible text\n"[i % 31];
    char *type = hc_http_req_strndup(req, t ? t : "text/plain", t ? tlen : 10);
    for (char *p = type; *p; p++)
        if (*p == '+')
            *p = ' ';
    hc_http_respond(req, 200, type, body, n);
}

/* GET /auth: a forwardAuth server. "Authorization: Bearer good" gets 204 with
 * X-Auth-User and X-Auth-Email; anything else 401 with WWW-Authenticate, a relative
 * Location and the echo JSON of what the proxy sent as body (the proxy passes all of it
 * to the client, so a test sees the X-Forwarded-* of the auth request). */
static void auth(hc_http_req_t *req, void *arg)
{
    size_t len = 0;
    const char *a = hc_http_req_header(req, "Authorization", &len);
    if (a && len == 11 && !memcmp(a, "Bearer good", 11)) {
        hc_http_res_header(req, "X-Auth-User", "alice");
        hc_http_res_header(req, "X-Auth-Email", "alice@example.test");
        hc_http_res_header(req, "X-Auth-Other", "not-copied");
        hc_http_respond(req, 204, NULL, NULL, 0);
        return;
    }
    hc_http_res_header(req, "WWW-Authenticate", "Bearer realm=\"hearth\"");
    hc_http_res_header(req, "Location", "/login");
    req->user = req; /* echo_json: answer 401 */
    hc_http_req_read_whole_body(req, 1 << 20, echo_json, NULL);
}

/* ---- process ---- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = hc_malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

static int add_pair(hc_tls_certs_t *set, const char *cert, const char *key, int is_default)
{
    size_t cl = 0, kl = 0;
    char err[256] = "";
    char *c = read_file(cert, &cl), *k = read_file(key, &kl);
    int rc =
        c && k ? hc_tls_certs_add_pem(set, c, cl, k, kl,
                                      HC_TLS_CERT_BY_NAME | (is_default ? HC_TLS_CERT_DEFAULT : 0),
                                      err, sizeof(err))
               : -ENOENT;
    if (rc < 0)
        fprintf(stderr, "hc_testd: %s / %s: %s\n", cert, key, err[0] ? err : "cannot read");
    hc_free(c);
    hc_free(k);
    return rc;
}

static int setup_tls(void)
{
    char err[256] = "";
    if (!g.cert)
        return 0;
    g.tls = hc_tls_server_new(&(hc_tls_server_opts_t){0}, err, sizeof(err));
    if (!g.tls) {
        fprintf(stderr, "hc_testd: tls: %s\n", err);
        return -1;
    }
    hc_tls_certs_t *set = hc_tls_certs_new();
    int rc = add_pair(set, g.cert, g.key, 1);
    for (unsigned i = 0; !rc && i < g.nsni; i++)
        rc = add_pair(set, g.sni_cert[i], g.sni_key[i], 0);
    if (rc < 0) {
        hc_tls_certs_free(set);
        return -1;
    }
    hc_tls_ctx_set_certs(g.tls, set);
    return 0;
}

/* {"pooled": N}: the connection buffers this worker's server keeps pooled. */
static void pool(hc_http_req_t *req, void *arg)
{
    hc_http_server_stats_t st;
    hc_http_server_stats(worker_server, &st);
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"pooled\":%llu}", (unsigned long long)st.pooled_io);
    hc_http_respond(req, 200, "application/json", body, (size_t)n);
}

static void worker_init(uv_loop_t *loop, unsigned idx, void *arg)
{
    hc_http_server_opts_t o = {.handler = hc_router_handle,
                               .handler_arg = g.router,
                               .tls = g.tls,
                               .max_request_line = g.max_head,
                               .max_header_bytes = g.max_head,
                               .max_headers = g.max_head ? 65535 : 0,
                               .io_pool_trim_ms = g.pool_trim_ms};
    hc_http_server_t *s = hc_http_server_new(loop, &o);
    int rc = hc_http_server_listen(s, (struct sockaddr *)&g.addr, 1);
    if (rc < 0) {
        fprintf(stderr, "hc_testd: listen: %s\n", uv_strerror(rc));
        exit(2);
    }
    g.servers[idx] = s;
    worker_server = s;
}

static void server_done(hc_http_server_t *s, void *arg)
{
    hc_http_server_free(s);
}

static void worker_stop(uv_loop_t *loop, unsigned idx, void *arg)
{
    hc_http_server_drain(g.servers[idx], 10000, server_done, NULL);
}

static void on_stop(void *arg)
{
    hc_workers_stop(arg);
    hc_signals_stop();
}

static int parse_args(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8080";
    g.workers = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--listen"))
            listen = v;
        else if (!strcmp(k, "--workers"))
            g.workers = (unsigned)atoi(v);
        else if (!strcmp(k, "--tls-cert"))
            g.cert = v;
        else if (!strcmp(k, "--tls-key"))
            g.key = v;
        else if (!strcmp(k, "--sni-cert") && g.nsni < MAX_SNI)
            g.sni_cert[g.nsni] = v;
        else if (!strcmp(k, "--sni-key") && g.nsni < MAX_SNI)
            g.sni_key[g.nsni++] = v;
        else if (!strcmp(k, "--name"))
            g.name = v;
        else if (!strcmp(k, "--pool-trim-ms"))
            g.pool_trim_ms = (unsigned)atoi(v);
        else if (!strcmp(k, "--max-head"))
            g.max_head = strtoul(v, NULL, 10);
        else
            return -1;
    }
    if (g.workers < 1 || g.workers > 64 || (g.cert && !g.key))
        return -1;
    return hc_addr_parse(listen, &g.addr);
}

int main(int argc, char **argv)
{
    hc_log_setup(HC_LOG_INFO, HC_LOG_FORMAT_AUTO);
    if (parse_args(argc, argv) < 0) {
        fprintf(stderr, "usage: hc_testd --listen ADDR [--workers N] [--tls-cert F --tls-key F]"
                        " [--sni-cert F --sni-key F]... [--name NAME] [--pool-trim-ms MS]"
                        " [--max-head BYTES]\n");
        return 2;
    }
    if (setup_tls() < 0)
        return 2;
    g.router = hc_router_new();
    hc_router_add(g.router, "GET", "/fixed", fixed, NULL, 0);
    hc_router_add(g.router, "POST", "/echo", echo, NULL, 0);
    hc_router_add(g.router, "POST", "/small", echo, NULL, 16);
    hc_router_add(g.router, "POST", "/stream", echo, NULL, STREAM_MAX_BODY);
    hc_router_add(g.router, "GET", "/slow", slow, NULL, 0);
    hc_router_add(g.router, "GET", "/ws", ws, NULL, 0);
    hc_router_add(g.router, "GET", "/sse", sse, NULL, 0);
    hc_router_add(g.router, "GET", "/big", big, NULL, 0);
    hc_router_add(g.router, "GET", "/drip", drip, NULL, 0);
    hc_router_add(g.router, "*", "/headers", echo_all, NULL, 0);
    hc_router_add(g.router, "GET", "/status/:code", status_code, NULL, 0);
    hc_router_add(g.router, "GET", "/text", text, NULL, 0);
    hc_router_add(g.router, "*", "/auth", auth, NULL, 0);
    hc_router_add(g.router, "GET", "/pool", pool, NULL, 0);
    if (g.name)
        hc_router_add(g.router, "*", "/*", echo_all, NULL, 0);
    hc_workers_t *w = hc_workers_start(g.workers, worker_init, worker_stop, NULL);
    uv_loop_t *main_loop = uv_default_loop();
    hc_signals_start(main_loop, on_stop, NULL, w);
    hc_log(HC_LOG_INFO, "hc_testd listening", HC_LI("workers", g.workers), NULL);
    uv_run(main_loop, UV_RUN_DEFAULT);
    uv_loop_close(main_loop);
    hc_router_free(g.router);
    if (g.tls)
        hc_tls_ctx_unref(g.tls);
    return 0;
}
