/* Forwarding one request (see proxy_upstream.h): the upstream request through
 * hc_http_client (a parsed origin per server, fields passed with their lengths) with
 * the client body streamed under backpressure, the response head through the
 * pipeline's hook, the body streamed back (optionally filtered), retries on connect
 * failures, error pages, and the hand-over to proxy_tunnel.c after a 101. Forwards are
 * recycled per manager. The server choice is up_pick (proxy_upstream_gen.c). */
#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_log.h"
#include "core/hc_http_parse.h"
#include "proxy/proxy_upstream_int.h"
#include "proxy/mw_contenttype.h"
#include "proxy/mw_retry.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

enum {
    BODY_UNACKED_MAX = 256 * 1024, /* request body bytes queued upstream before pausing */
    MAX_TRIED = 16,
    LENS_STACK = 128,             /* field lengths measured on the stack (64 fields) */
    STORE_SPARE = 256,            /* field store room for X-Forwarded-* and middleware edits */
    HS_STACK = 64,                /* upstream request fields passed from the stack */
    URL_STACK = 1024,             /* upstream targets built on the stack */
    FREE_FWD_MAX = 64,            /* finished forwards kept per manager for reuse */
    STORE_KEEP = 16 * 1024,       /* field store capacity a recycled forward keeps */
    UPSTREAM_HEAD_MAX = 1 << 20,  /* response header section taken from a server */
    SPLICE_MIN = 768 * 1024,      /* body bytes left worth splicing (see splice_maybe) */
    LARGE_BODY = 784 * 1024,      /* SPLICE_MIN after a small head read (READ_SMALL) */
    PIPE_SIZE = 256 * 1024,       /* asked of the splice pipe: one move for most bodies */
    CONTINUE_MS = 1000,           /* a server's 100 Continue awaited (Traefik's transport) */
    TLS_HANDSHAKE_MS = 10000,     /* an https server's handshake (Traefik's transport) */
    MIRRORS_IN_FLIGHT_MAX = 1024, /* mirrored copies in flight per manager: more are dropped */
    MIRROR_BYTES_MAX = 64 << 20,  /* and their bodies' bytes (each copy holds its own) */
};

/* A forward's copies for a mirroring service's mirrors: sent once the forward is over
 * (as Traefik sends them after the main response), with the body kept as it streamed
 * past, unless the client left first or the body was over maxBodySize. */
typedef struct up_mirror {
    up_lb_t *lb;   /* the mirroring service */
    uint64_t due;  /* up_mirrors_due: the mirrors that get this request */
    hc_buf_t body; /* the request body as it went upstream */
    int keep;      /* 1: body bytes are kept (mirrorBody) */
    int body_done; /* the body ended (or there is none to keep) */
} up_mirror_t;

/* Recycled through the manager's free list: the members before `up` (buffers and
 * arrays) are kept, the rest is zeroed for the next request. */
struct proxy_fwd {
    proxy_fwd_t *next_free;
    proxy_mw_headers_t hdrs; /* the request's fields packed in store, then edits */
    hc_buf_t store, rstore;  /* request and response field bytes, one block each */
    proxy_mw_resp_t resp;
    hc_buf_t pre;
    proxy_upstream_t *up; /* NULL once the manager is gone */
    proxy_upstream_shared_t *sh;
    proxy_fwd_t *prev, *next;
    up_gen_t *gen;
    up_lb_t *root;       /* the service forwarded to (a weighted one's children below) */
    up_lb_t *lb;         /* the load-balanced (leaf) service */
    up_server_t *server; /* the current try */
    proxy_health_entry_t *inflight; /* p2c, leasttime: the current try counted there */
    int passive_noted;              /* the current try's end told passiveHealthCheck */
    up_server_t *tried[MAX_TRIED];
    unsigned ntried;         /* servers in tried, left out of the next pick */
    unsigned tries;          /* attempts made */
    unsigned retry_attempts; /* proxy_fwd_args_t */
    uint64_t retry_interval_ms;
    uv_timer_t *backoff; /* the wait before the next try, or NULL */
    hc_http_req_t *req; /* NULL once the client is gone or the response ended */
    const proxy_fwd_hooks_t *hooks;
    void *ud;
    char *method, *target, *host; /* in store */
    char client_ip[INET6_ADDRSTRLEN]; /* the peer's address, for hrw */
    int upgrade, has_body, idempotent, need_cookie;
    struct up_pick_child cookies[UP_PICK_COOKIES]; /* weighted levels to answer with one */
    unsigned ncookies;
    int fields_checked; /* proxy_fwd_args_t */
    int64_t body_len;
    uint64_t max_body; /* proxy_fwd_args_t */
    hc_http_client_req_t *creq;
    proxy_tunnel_t *tunnel;
    int tunnel_open; /* its tunnel runs: the forward ends when the tunnel closes (Traefik's
                        proxy returns then: the log line and duration cover the session) */
    int body_reading, body_paused, close_armed;
    int await_continue; /* the client's Expect: 100-continue waits on the server's */
    int body_on_connect; /* the body is read once a connection is up: a connect failure
                            leaves it unread, so the request can be tried again */
    int body_started;    /* reading it began: it cannot be sent again */
    int body_now;        /* on_connected came inside hc_http_client_request */
    size_t body_unacked;
    int head_sent, answered, filter, want_pause, res_paused, finished;
    int head_held;       /* the head waits for the first body bytes to name its type */
    int head_flushed;    /* sent ahead of a body that came later (on_creq_waiting) */
    int64_t held_len;    /* its Content-Length then, -1: none */
    int splice_ok;       /* plain on both sides: the body's rest may be spliced */
    int ufd;             /* the upstream socket once spliced from, else -1 */
    int64_t splice_left; /* body bytes still in the upstream socket */
    size_t spliced;      /* taken from it, reported when the last is out */
    uint64_t t_origin;
    proxy_fwd_result_t res;
    up_lb_t *mirroring; /* the mirroring service the first pick passed, if any */
    up_mirror_t *mirror;
    const char *protocol; /* proxy_fwd_args_t.protocol */
    int client_gone;      /* the client left before the response ended: no copies */
};

static const hc_http_client_req_cbs_t creq_cbs;
static void body_start(proxy_fwd_t *f);

/* Field names compare case-insensitively (RFC 9110 §5.1); unequal first bytes (case
 * variants differ only in 0x20) settle most comparisons without strcasecmp. */
static int name_is(const char *name, const char *want)
{
    return ((name[0] | 0x20) == (want[0] | 0x20)) && !strcasecmp(name, want);
}
static int attempt_start(proxy_fwd_t *f);

/* ---- choosing a server (up_pick in proxy_upstream_gen.c) ---- */

static up_server_t *pick(proxy_fwd_t *f, up_lb_t *lb)
{
    up_pick_t p = {.hdrs = &f->hdrs,
                   .client_ip = f->client_ip,
                   .tried = f->tried,
                   .ntried = f->ntried,
                   .lb = f->lb,
                   .need_cookie = f->need_cookie};
    up_server_t *s = up_pick(&p, lb);
    f->lb = p.lb;
    f->mirroring = p.mirroring;
    f->need_cookie = p.need_cookie;
    memcpy(f->cookies, p.set, p.nset * sizeof(p.set[0]));
    f->ncookies = p.nset;
    return s;
}

/* The next try goes to s (NULL: none). A p2c or leasttime balancer counts it among s's
 * requests in flight until the next try or the forward's end, as Traefik's count a
 * server's requests until its handler returns. */
static void use_server(proxy_fwd_t *f, up_server_t *s)
{
    if (f->inflight)
        atomic_fetch_sub(&f->inflight->inflight, 1);
    f->inflight =
        s && (f->lb->strategy == PROXY_STRATEGY_P2C || f->lb->strategy == PROXY_STRATEGY_LEASTTIME)
            ? s->active
            : NULL;
    if (f->inflight)
        atomic_fetch_add(&f->inflight->inflight, 1);
    f->server = s;
    f->passive_noted = 0;
}

/* passiveHealthCheck: the try ended, ok when the server answered below 500; its first
 * end counts (an answer refused after its head is not a second one). */
static void passive_note(proxy_fwd_t *f, int ok)
{
    up_lb_t *lb = f->lb;
    if (!lb->passive_max || !f->server || f->passive_noted++ ||
        !proxy_health_passive(f->sh->health, f->server->active, ok, lb->passive_window_ms,
                              lb->passive_max, proxy_health_now_ms()))
        return;
    hc_log(HC_LOG_WARN, "server taken out by the passive health check", HC_LS("service", lb->name),
           HC_LS("server", f->server->url), HC_LI("failures", lb->passive_max),
           HC_LI("window_ms", lb->passive_window_ms), NULL);
}

/* ---- finishing ---- */

static void fwd_destroy(proxy_fwd_t *f)
{
    proxy_mw_headers_free(&f->hdrs);
    proxy_mw_resp_free(&f->resp);
    hc_buf_free(&f->store);
    hc_buf_free(&f->rstore);
    hc_free(f);
}

/* A recycled forward or a new one, its per-request part zeroed. */
static proxy_fwd_t *fwd_get(proxy_upstream_t *up)
{
    proxy_fwd_t *f = up->free_fwds;
    if (!f) {
        f = hc_calloc(1, sizeof(*f));
        proxy_mw_resp_init(&f->resp);
        hc_buf_init(&f->rstore, 0);
        hc_buf_init(&f->store, 0);
        return f;
    }
    up->free_fwds = f->next_free;
    up->nfree_fwds--;
    memset(&f->up, 0, sizeof(*f) - offsetof(proxy_fwd_t, up));
    return f;
}

static void buf_trim(hc_buf_t *b)
{
    hc_buf_reset(b);
    if (b->cap > STORE_KEEP)
        hc_buf_free(b);
}

static void mirror_send(proxy_fwd_t *f);

static void fwd_free(proxy_fwd_t *f)
{
    if (f->mirror)
        mirror_send(f);
    proxy_upstream_t *up = f->up;
    if (up) {
        if (f->prev)
            f->prev->next = f->next;
        else
            up->fwds = f->next;
        if (f->next)
            f->next->prev = f->prev;
    }
    up_gen_unref(f->sh, f->gen);
    if (!up || up->nfree_fwds >= FREE_FWD_MAX) {
        fwd_destroy(f);
        return;
    }
    proxy_mw_headers_clear(&f->hdrs);
    proxy_mw_headers_clear(&f->resp.headers);
    f->resp.status = 0;
    buf_trim(&f->resp.body);
    buf_trim(&f->store);
    buf_trim(&f->rstore);
    f->next_free = up->free_fwds;
    up->free_fwds = f;
    up->nfree_fwds++;
}

/* Frees f once nothing can call back into it: the upstream request ended, the body
 * reader got its end, and the client connection can no longer report its close. */
static void maybe_free(proxy_fwd_t *f)
{
    if (f->finished && !f->creq && !f->body_reading && !f->close_armed && !f->backoff &&
        !f->tunnel_open)
        fwd_free(f);
}

static void finish(proxy_fwd_t *f)
{
    if (f->finished)
        return;
    f->finished = 1;
    if (f->inflight) { /* the request is done with its server */
        atomic_fetch_sub(&f->inflight->inflight, 1);
        f->inflight = NULL;
    }
    f->res.service_name = f->server ? f->lb->name : NULL;
    f->res.service_url = f->server ? f->server->url : "";
    f->res.service_addr = f->server ? f->server->addr : "";
    f->res.retry_attempts = f->tries > 1 ? f->tries - 1 : 0;
    if (f->t_origin && !f->res.origin_duration_ns)
        f->res.origin_duration_ns = uv_hrtime() - f->t_origin;
    if (f->body_paused && f->req) { /* let the server read (and drop) the rest */
        f->body_paused = 0;
        hc_http_req_pause_body(f->req, 0);
    }
    if (f->res.passed && f->req) { /* the caller answers: it watches the client now */
        hc_http_req_on_close(f->req, NULL, NULL);
        f->close_armed = 0;
        f->req = NULL;
    }
    if (f->hooks && f->hooks->on_done)
        f->hooks->on_done(f->ud, &f->res);
    maybe_free(f);
}

/* After the response ended: the request may go away once its body is consumed. */
static void response_over(proxy_fwd_t *f)
{
    f->close_armed = 0;
    if (!f->body_reading)
        f->req = NULL;
}

/* A hook passed the request back: nothing is answered here; finish hands it over. */
static void pass_back(proxy_fwd_t *f)
{
    f->answered = 1;
    f->res.passed = 1;
    f->res.downstream_status = 0;
}

/* The error page: text (NULL: the status's reason phrase) as text/plain. */
static void respond_error_text(proxy_fwd_t *f, int status, const char *text)
{
    f->answered = 1;
    f->res.downstream_status = status;
    if (f->tries && status != 503) { /* Traefik's proxy error handler writes inside the
                                        server's handler: the log sees it as its answer */
        f->res.origin_status = status;
        f->res.origin_content_size = strlen(hc_http_status_text(status));
    }
    if (!f->req)
        return;
    proxy_mw_resp_t page;
    proxy_mw_resp_init(&page);
    page.status = status;
    if (f->hooks && f->hooks->on_error_page &&
        f->hooks->on_error_page(f->ud, &page, !f->body_reading) == PROXY_FWD_PASS &&
        !f->body_reading) {
        proxy_mw_resp_free(&page);
        pass_back(f);
        return;
    }
    f->res.downstream_status = page.status;
    for (size_t i = 0; i < page.headers.len; i++)
        if (!proxy_mw_header_is_framing(page.headers.v[i].name))
            hc_http_res_header(f->req, page.headers.v[i].name, page.headers.v[i].value);
    /* Traefik's error handler writes the status text alone, and its entry point turns Go's
     * type sniffing off (v3's DisableAutoDetection): no Content-Type; http.Error (text)
     * sets one, with nosniff */
    const char *ctype = proxy_mw_headers_get(&page.headers, "Content-Type");
    if (!text) {
        text = hc_http_status_text(status);
    } else {
        hc_http_res_header(f->req, "X-Content-Type-Options", "nosniff");
        if (!ctype)
            ctype = "text/plain; charset=utf-8";
    }
    f->res.downstream_content_size = strlen(text);
    hc_http_respond(f->req, page.status, ctype, text, f->res.downstream_content_size);
    proxy_mw_resp_free(&page);
    response_over(f);
}

static void respond_error(proxy_fwd_t *f, int status)
{
    respond_error_text(f, status, NULL);
}

/* ---- the response ---- */

static int head_start(proxy_fwd_t *f, int64_t len);

static int sink_write(void *ud, const void *p, size_t n)
{
    proxy_fwd_t *f = ud;
    if (!f->req)
        return -EPIPE;
    if (f->head_held) { /* a filter's own bytes, with no body before them */
        int rc = n ? head_start(f, f->held_len) : 0;
        if (!n || rc < 0)
            return rc;
    }
    int rc = hc_http_res_write(f->req, p, n);
    if (rc < 0)
        return rc;
    f->res.downstream_content_size += n;
    if (rc == HC_HTTP_WAIT)
        f->want_pause = 1;
    return 0;
}

static void on_res_drain(hc_http_req_t *req, void *arg)
{
    proxy_fwd_t *f = arg;
    (void)req;
    f->res_paused = 0;
    if (f->creq)
        hc_http_client_req_pause(f->creq, 0);
}

/* Stops reading the upstream until the client took what is buffered for it. */
static void pause_for_drain(proxy_fwd_t *f)
{
    f->want_pause = 0;
    if (f->res_paused || !f->creq || !f->req)
        return;
    f->res_paused = 1;
    hc_http_client_req_pause(f->creq, 1);
    hc_http_res_on_drain(f->req, on_res_drain, f);
}

static int write_body(proxy_fwd_t *f, const char *data, size_t len, int last)
{
    int rc = 0;
    if (f->head_held && len) { /* the type of what the upstream sent, before any filter */
        proxy_mw_headers_set(&f->resp.headers, "Content-Type",
                             proxy_mw_sniff((const unsigned char *)data, len));
        if ((rc = head_start(f, f->held_len)) < 0)
            return rc;
    }
    if (f->filter)
        rc = f->hooks->body_filter(f->ud, data, len, last, sink_write, f);
    else if (len)
        rc = sink_write(f, data, len);
    if (rc == 0 && f->want_pause)
        pause_for_drain(f);
    return rc;
}

/* ---- splicing: the rest of a large body goes upstream socket -> pipe -> client
 * socket without entering user space (the kernel moves page references). The pipe is
 * the manager's, and empty whenever splice_run returns: bytes the client's socket would
 * not take are read back and buffered as any other body bytes. ---- */

static void pipe_drop(proxy_upstream_t *up)
{
    if (up->pipe[0] >= 0) {
        close(up->pipe[0]);
        close(up->pipe[1]);
    }
    up->pipe[0] = up->pipe[1] = -1;
}

static int pipe_ready(proxy_upstream_t *up)
{
    if (up->pipe[0] < 0) {
        if (pipe2(up->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
            up->pipe[0] = up->pipe[1] = -1;
            return 0;
        }
        (void)fcntl(up->pipe[1], F_SETPIPE_SZ, PIPE_SIZE); /* the default 64 KiB will do */
    }
    return 1;
}

/* Called after the body bytes that came with the head: takes the rest off the upstream
 * connection when it is large and nothing transforms it. Large means SPLICE_MIN bytes
 * left: below, one read into the 256 KiB buffer and a writev from there cost no more CPU
 * per response (measured, one core: 64 KB a tie at 24.3 µs, 512 KB 131 against 138),
 * and the client reads the copied segments faster (a 64 KB body: 26,700 responses/s
 * against 25,700); a 1 MB body costs 226 µs spliced against 307 copied. */
static void splice_maybe(proxy_fwd_t *f)
{
    f->splice_ok = 0; /* one look per response */
    if (!f->filter && !f->head_held && f->creq && f->up && pipe_ready(f->up))
        f->ufd = hc_http_client_req_body_fd(f->creq, SPLICE_MIN, &f->splice_left);
}

/* The client's socket would not take what is in the pipe: buffer it as usual. Returns
 * 0, or -1 when the client is gone (and f may be too). */
static int splice_spill(proxy_fwd_t *f, size_t n)
{
    char *buf = hc_malloc(n);
    ssize_t got = read(f->up->pipe[0], buf, n);
    int rc = -1;
    if (got != (ssize_t)n) {
        pipe_drop(f->up);
        hc_http_res_abort(f->req); /* on_client_gone cancels the upstream */
    } else if (write_body(f, buf, n, 0) == 0) {
        pause_for_drain(f);
        rc = 0;
    }
    hc_free(buf);
    return rc;
}

static void splice_run(proxy_fwd_t *f)
{
    proxy_upstream_t *up = f->up;
    size_t in_pipe = 0;
    while (f->req && f->creq && up) {
        if (in_pipe) {
            int cfd = hc_http_res_fd(f->req);
            ssize_t n = cfd < 0 ? -1
                                : splice(up->pipe[0], NULL, cfd, NULL, in_pipe,
                                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                in_pipe -= (size_t)n;
                f->res.downstream_content_size += (size_t)n;
                continue;
            }
            if (cfd < 0 || errno == EAGAIN) {
                /* the last bytes are the client's now: no upstream event would end it */
                if (splice_spill(f, in_pipe) == 0 && !f->splice_left)
                    hc_http_client_req_body_taken(f->creq, f->spliced);
            } else { /* the client is gone: its close callback cancels the upstream */
                pipe_drop(up);
                hc_http_res_abort(f->req);
            }
            return;
        }
        if (!f->splice_left) { /* all out: completes the upstream request (on_creq_done) */
            hc_http_client_req_body_taken(f->creq, f->spliced);
            return;
        }
        size_t want = f->splice_left > PIPE_SIZE ? PIPE_SIZE : (size_t)f->splice_left;
        ssize_t n =
            splice(f->ufd, NULL, up->pipe[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            in_pipe = (size_t)n;
            f->splice_left -= n;
            f->spliced += (size_t)n;
            f->res.origin_content_size += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EAGAIN)
            return; /* on_readable comes back */
        /* the upstream closed or broke before the body's end: the client's is cut short */
        if (f->spliced) /* short of the end: on_done does not fire yet */
            hc_http_client_req_body_taken(f->creq, f->spliced);
        hc_http_client_req_body_taken(f->creq, 0);
        return;
    }
}

static void on_readable(hc_http_client_req_t *creq, void *ud)
{
    (void)creq;
    splice_run(ud);
}

/* Status codes without content (RFC 9110 §6.4.1). */
static int no_content(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* The response fields to the client: 0, or -ENOBUFS (none kept) when they exceed
 * what a response holds. */
static int send_headers(proxy_fwd_t *f)
{
    for (size_t i = 0; i < f->resp.headers.len; i++) {
        const proxy_mw_header_t *h = &f->resp.headers.v[i];
        /* the server writes its own framing; the origin's Date stays (RFC 9110 §6.6.1) */
        if (!name_is(h->name, "Content-Length") && !name_is(h->name, "Transfer-Encoding") &&
            hc_http_res_header(f->req, h->name, h->value) == -ENOBUFS) {
            hc_http_res_headers_clear(f->req);
            return -ENOBUFS;
        }
    }
    return 0;
}

/* Answers with the hook's own response instead of the upstream's. */
static void send_replacement(proxy_fwd_t *f)
{
    const char *v = proxy_mw_headers_get(&f->resp.headers, "Content-Type");
    char *ct = v ? hc_strdup(v) : NULL; /* deleting the field may free its value */
    proxy_mw_headers_del(&f->resp.headers, "Content-Type");
    (void)send_headers(f); /* a middleware's few fields */
    f->answered = 1;
    f->res.downstream_status = f->resp.status;
    hc_http_respond(f->req, f->resp.status, ct, f->resp.body.base ? f->resp.body.base : "",
                    f->resp.body.len);
    hc_free(ct);
    f->res.downstream_content_size = f->resp.body.len;
    response_over(f);
}

/* A Content-Length value as strtoll reads it; plain digits (the usual case) without
 * strtoll's locale and sign handling. */
static int64_t length_of(const char *v)
{
    int64_t n = 0;
    size_t i = 0;
    for (; v[i] >= '0' && v[i] <= '9' && i < 18; i++)
        n = n * 10 + (v[i] - '0');
    return i && !v[i] ? n : strtoll(v, NULL, 10);
}

/* Runs the response hook and starts the client response (or holds its head back for
 * sniffing). Returns 0 to go on with the body, or a negative errno that stops the
 * upstream request. */
static int deliver_head(proxy_fwd_t *f, long long body_len)
{
    if (!f->req)
        return -ECANCELED;
    int can_pass = !f->body_reading;
    int verdict = f->hooks && f->hooks->on_response
                      ? f->hooks->on_response(f->ud, &f->resp, body_len, can_pass)
                      : PROXY_FWD_SEND;
    if (verdict < 0) {
        respond_error(f, 502);
        return -ECANCELED;
    }
    int sniff = verdict & PROXY_FWD_SNIFF;
    verdict &= ~PROXY_FWD_SNIFF;
    if (verdict == PROXY_FWD_PASS && can_pass) { /* the upstream's answer is dropped */
        /* what the server sent, by its length (unread: a chunked one counts 0), as
           Traefik's service capture counts the body its proxy copies to the catcher */
        f->res.origin_content_size = body_len > 0 ? (uint64_t)body_len : 0;
        pass_back(f);
        return -ECANCELED;
    }
    if (verdict == PROXY_FWD_REPLACE) {
        send_replacement(f);
        return -ECANCELED;
    }
    f->filter = verdict == PROXY_FWD_FILTER && f->hooks->body_filter;
    const char *cl = proxy_mw_headers_get(&f->resp.headers, "Content-Length");
    int64_t len = !f->filter && cl ? length_of(cl) : -1;
    if (sniff && body_len != 0 && !proxy_mw_headers_get(&f->resp.headers, "Content-Type")) {
        f->head_held = 1; /* head_start once the first bytes are known (sink_write) */
        f->held_len = len;
        return 0;
    }
    return head_start(f, len);
}

/* Sends the response head with Content-Length len (-1: none). Returns 0 or a negative
 * errno that stops the upstream request. */
static int head_start(proxy_fwd_t *f, int64_t len)
{
    f->head_held = 0;
    if (send_headers(f) < 0) {
        hc_log(HC_LOG_WARN, "upstream response head too large", HC_LS("service", f->lb->name),
               HC_LI("max_bytes", HC_HTTP_RES_HEADERS_MAX), NULL);
        respond_error(f, 502);
        return -ECANCELED;
    }
    if (hc_http_res_start(f->req, f->resp.status, len) < 0)
        return -EPIPE;
    f->head_sent = 1;
    f->res.downstream_status = f->resp.status;
    return 0;
}

static void add_sticky_cookie(proxy_fwd_t *f, const up_lb_t *lb, const char *value)
{
    hc_buf_t b;
    hc_buf_init(&b, 1024);
    proxy_lb_set_cookie(&lb->sticky, lb->cookie_name, value, &b);
    hc_buf_append(&b, "", 1);
    proxy_mw_headers_add(&f->resp.headers, "Set-Cookie", b.base);
    hc_buf_free(&b);
}

/* The upstream head as middlewares see it: hop-by-hop fields gone, sticky cookie. */
static void build_resp(proxy_fwd_t *f, const hc_http_response_t *res)
{
    proxy_mw_headers_clear(&f->resp.headers); /* a retry's response replaces the last one's */
    hc_buf_reset(&f->resp.body);
    f->resp.status = res->status;
    size_t need = STORE_SPARE, lens[LENS_STACK];
    for (size_t i = 0; i < res->n_headers; i++) {
        need += res->headers[i].name_len + res->headers[i].value_len + 2;
        if (i < LENS_STACK)
            lens[i] = res->headers[i].name_len;
    }
    hc_buf_reset(&f->rstore); /* a retry's response replaces the last one's */
    f->rstore.max = need;
    (void)hc_buf_reserve(&f->rstore, need); /* short of room, fields are copied one by one */
    f->resp.headers.store = &f->rstore;
    for (size_t i = 0; i < res->n_headers; i++)
        proxy_mw_headers_add_n(&f->resp.headers, res->headers[i].name, res->headers[i].name_len,
                               res->headers[i].value, res->headers[i].value_len);
    /* the fields as added, one per header of res: their name lengths are known */
    up_strip_hop_lens(&f->resp.headers, f->resp.headers.len <= LENS_STACK ? lens : NULL,
                      res->status == 101);
    for (unsigned i = 0; f->server && i < f->ncookies; i++) /* outer levels first */
        add_sticky_cookie(f, f->cookies[i].lb,
                          f->cookies[i].lb->child_cookies[f->cookies[i].child]);
    if (f->need_cookie && f->server)
        add_sticky_cookie(f, f->lb, f->server->cookie);
}

static int on_switch(proxy_fwd_t *f, hc_http_client_req_t *creq)
{
    f->tunnel = proxy_tunnel_new(f->up, creq);
    if (!f->tunnel)
        return -EPROTO;
    f->res.upgraded = 1;
    if (f->hooks && f->hooks->on_response && f->hooks->on_response(f->ud, &f->resp, 0, 0) < 0)
        return -ECANCELED;
    if (send_headers(f) < 0 || hc_http_res_start(f->req, 101, -1) < 0 ||
        proxy_tunnel_client(f->tunnel, f->req) < 0)
        return -EPIPE;
    f->head_sent = 1;
    f->answered = 1;
    f->res.downstream_status = 101;
    f->close_armed = 0; /* the connection is the tunnel's now */
    f->req = NULL;
    return 0;
}

static int on_headers(hc_http_client_req_t *creq, const hc_http_response_t *res, void *ud)
{
    proxy_fwd_t *f = ud;
    if (f->lb->strategy == PROXY_STRATEGY_LEASTTIME) /* its time to first byte */
        proxy_lb_lt_sample(&f->lb->lt, (size_t)(f->server - f->lb->servers),
                           uv_hrtime() - f->t_origin);
    if (res->status != 101) /* a switch counts once it is taken (a refused one is a 500) */
        passive_note(f, res->status < 500);
    if (!f->req)
        return -ECANCELED;
    f->res.origin_status = res->status;
    build_resp(f, res);
    if (res->content_length < 0) /* a chunked body's Content-Length is no length: RFC 9112
                                    §6.3, a proxy removes it before forwarding */
        proxy_mw_headers_del(&f->resp.headers, "Content-Length");
    if (res->status == 304) { /* Go's server: suppressedHeaders304 (RFC 9110 §15.4.5) */
        proxy_mw_headers_del(&f->resp.headers, "Content-Type");
        proxy_mw_headers_del(&f->resp.headers, "Content-Length");
    }
    if (res->status == 101) {
        /* Go's handleUpgradeResponse: a switch the request did not ask for, or to another
         * protocol, is an error, which Traefik answers 500 (not a network error) */
        const char *asked = f->upgrade ? proxy_mw_headers_get(&f->hdrs, "Upgrade") : NULL;
        const char *got = proxy_mw_headers_get(&f->resp.headers, "Upgrade");
        const char *conn = hc_http_response_header(res, "Connection"); /* Go's upgradeType:
                                                    none without Connection: upgrade */
        if (!asked || !got || !conn || !hc_http_list_has(conn, strlen(conn), "upgrade") ||
            strcasecmp(asked, got) != 0 || !hc_http_req_upgradable(f->req))
            return -EBADMSG;
        passive_note(f, 1);
        return f->up ? on_switch(f, creq) : -EPROTO;
    }
    long long body_len = res->content_length;
    if (no_content(res->status) || f->req->is_head)
        body_len = 0;
    if (f->server)
        f->server->large_bodies = body_len >= LARGE_BODY;
    return deliver_head(f, body_len);
}

/* Whether a Connection field of res names the field name (RFC 9110 §7.6.1). */
static int named_by_connection(const hc_http_response_t *res, const char *name)
{
    for (size_t i = 0; i < res->n_headers; i++)
        if (name_is(res->headers[i].name, "Connection") &&
            hc_http_list_has(res->headers[i].value, res->headers[i].value_len, name))
            return 1;
    return 0;
}

/* RFC 9110 §15.2: a proxy forwards 1xx responses (Go's reverse proxy does, 103 Early
 * Hints above all), without their hop-by-hop fields (§7.6.1; Go forwards them all); a
 * 100 Continue is the client-facing server's own to send. */
static void on_interim(hc_http_client_req_t *creq, const hc_http_response_t *res, void *ud)
{
    proxy_fwd_t *f = ud;
    (void)creq;
    if (!f->req || res->status == 100)
        return;
    hc_http_header_t stack[HS_STACK] = {0}; /* (1xx are rare) quiets -Wmaybe-uninitialized */
    hc_http_header_t *v =
        res->n_headers <= HS_STACK ? stack : hc_calloc(res->n_headers, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < res->n_headers; i++) {
        const hc_http_client_header_t *h = &res->headers[i];
        if (!proxy_upstream_is_hop(h->name) && !name_is(h->name, "Content-Length") &&
            !named_by_connection(res, h->name))
            v[n++] = (hc_http_header_t){h->name, h->name_len, h->value, h->value_len};
    }
    hc_http_res_interim(f->req, res->status, v, n);
    if (v != stack)
        hc_free(v);
}

static int on_body(hc_http_client_req_t *creq, const char *data, size_t len, void *ud)
{
    proxy_fwd_t *f = ud;
    (void)creq;
    f->res.origin_content_size += len;
    if (!f->req)
        return -ECANCELED;
    int rc = write_body(f, data, len, 0);
    if (rc == 0 && f->splice_ok)
        splice_maybe(f);
    return rc;
}

/* A failure to reach the server at all: another server might not have it, and nothing
 * of the request was sent. */
static int connect_failed(hc_http_client_req_t *creq)
{
    return !hc_http_client_req_connected(creq);
}

static int may_retry(const proxy_fwd_t *f)
{
    if (!f->req || f->body_started) /* a body already streaming upstream cannot be sent again */
        return 0;
    if (f->retry_attempts) /* the retry middleware: any method, as nothing was sent */
        return f->tries < f->retry_attempts;
    unsigned max = f->sh->o.max_attempts ? f->sh->o.max_attempts : MAX_TRIED;
    return f->idempotent && f->ntried < max && f->ntried < MAX_TRIED;
}

/* ---- the retry middleware's backoff ---- */

static void backoff_closed(uv_handle_t *h)
{
    hc_free(h);
}

static void backoff_cancel(proxy_fwd_t *f)
{
    uv_timer_stop(f->backoff);
    uv_close((uv_handle_t *)f->backoff, backoff_closed);
    f->backoff = NULL;
}

static void on_backoff(uv_timer_t *t)
{
    proxy_fwd_t *f = t->data;
    backoff_cancel(f);
    f->tries++;
    f->res.origin_duration_ns = 0; /* the next try's, from its start */
    if (attempt_start(f) < 0) {
        respond_error(f, 502);
        finish(f);
    }
}

/* The next try: at once, or after the retry middleware's backoff. Returns 0, or
 * -errno when it could not start. */
static int retry_start(proxy_fwd_t *f)
{
    uint32_t u = 0;
    (void)!getrandom(&u, sizeof(u), 0); /* each process its own jitter */
    double r = (double)u / 4294967296.0;
    uint64_t ms =
        proxy_mw_retry_backoff_ms(f->retry_interval_ms, f->retry_attempts, f->tries + 1, r);
    if (!ms || !f->up) {
        f->tries++;
        return attempt_start(f);
    }
    f->backoff = hc_malloc(sizeof(*f->backoff));
    uv_timer_init(f->up->loop, f->backoff);
    f->backoff->data = f;
    uv_timer_start(f->backoff, on_backoff, ms, 0);
    return 0;
}

/* The status of the proxy's page for a failed upstream request, as Traefik's
 * ComputeStatusCode: a timeout 504, a network error or an end of stream 502, anything else
 * 500 (a malformed response, and the TLS configuration errors of isTLSConfigError: a
 * certificate refused, a server speaking no TLS). */
static int error_status(int status)
{
    if (status == -ETIMEDOUT)
        return 504;
    if (status == -EBADMSG || status == -EKEYREJECTED || status == -EPROTONOSUPPORT)
        return 500;
    return 502;
}

/* The upstream request failed: retry elsewhere, or tell the client. */
static void upstream_failed(proxy_fwd_t *f, hc_http_client_req_t *creq, int status)
{
    f->res.error = status;
    if (f->answered || !f->req)
        return;
    if (f->head_sent) { /* mid-body: a truncated response must not look complete */
        hc_http_res_abort(f->req);
        return;
    }
    passive_note(f, 0); /* the proxy answers 5xx for this try */
    int conn_fail = connect_failed(creq);
    /* Traefik's isTLSConfigError: a certificate refused or a server speaking no TLS is
     * the transport's configuration, not the server failing: it stays in rotation, and
     * only a retry middleware tries again (nothing was written: Go dials TLS first) */
    if (status == -EKEYREJECTED || status == -EPROTONOSUPPORT) {
        hc_log(HC_LOG_ERROR, "upstream TLS configuration error", HC_LS("service", f->lb->name),
               HC_LS("server", f->server ? f->server->url : ""),
               HC_LS("reason", hc_http_client_req_error(creq)), NULL);
        if (!f->retry_attempts) {
            respond_error(f, error_status(status));
            return;
        }
    } else if (conn_fail && f->server) {
        /* out of descriptors here is not the server's fault: it stays in rotation */
        int local = status == -EMFILE || status == -ENFILE;
        if (!local)
            atomic_store(&f->server->passive->down_until,
                         proxy_health_now_ms() + f->sh->o.passive_down_ms);
        hc_log(HC_LOG_WARN,
               local ? "upstream not reached: out of descriptors" : "upstream unreachable",
               HC_LS("service", f->lb->name), HC_LS("server", f->server->url),
               HC_LS("reason", hc_http_client_req_error(creq)), NULL);
    }
    if (conn_fail && may_retry(f)) {
        /* the retry middleware wraps the whole service: a weighted one picks again */
        up_lb_t *from = f->retry_attempts ? f->root : f->lb;
        up_server_t *s = pick(f, from);
        if (!s && f->retry_attempts) { /* every server tried: round again, as Traefik */
            f->ntried = 0;
            s = pick(f, from);
        }
        if (s) {
            use_server(f, s);
            if (f->ntried < MAX_TRIED)
                f->tried[f->ntried++] = s;
            if (retry_start(f) == 0)
                return;
        }
    }
    if (status == -EBADMSG) /* an answer Go's transport refuses: say why */
        hc_log(HC_LOG_WARN, "upstream answer refused", HC_LS("service", f->lb->name),
               HC_LS("server", f->server ? f->server->url : ""),
               HC_LS("reason", hc_http_client_req_error(creq)), NULL);
    respond_error(f, error_status(status));
}

static void on_tunnel_closed(void *ud)
{
    proxy_fwd_t *f = ud;
    f->tunnel_open = 0;
    f->res.origin_duration_ns = uv_hrtime() - f->t_origin;
    finish(f);
}

static void on_creq_done(hc_http_client_req_t *creq, int status, void *ud)
{
    proxy_fwd_t *f = ud;
    f->creq = NULL;
    f->res.origin_duration_ns = uv_hrtime() - f->t_origin;
    if (f->tunnel) {
        proxy_tunnel_t *t = f->tunnel;
        f->tunnel = NULL;
        if (proxy_tunnel_go(t, f->answered ? status : -EPROTO)) {
            f->tunnel_open = 1;
            proxy_tunnel_on_close(t, on_tunnel_closed, f);
        }
        if (!f->answered)
            upstream_failed(f, creq, status < 0 ? status : -EPROTO);
    } else if (status == 0 && f->req && !f->answered) {
        if (f->filter) /* its last bytes may start a held head, which may fail */
            write_body(f, NULL, 0, 1);
        if (f->req && !f->answered &&
            (!f->head_held || head_start(f, f->held_len) == 0)) { /* no body came: no type */
            hc_http_res_end(f->req);
            response_over(f);
        }
    } else if (status < 0) {
        upstream_failed(f, creq, status);
    }
    if (!f->creq && !f->backoff && !f->tunnel_open) /* not retrying, no tunnel */
        finish(f);
    else if (f->creq) /* a try at once: its duration from its own start */
        f->res.origin_duration_ns = 0;
}

static void on_creq_drain(hc_http_client_req_t *creq, void *ud)
{
    proxy_fwd_t *f = ud;
    (void)creq;
    f->body_unacked = 0;
    if (f->body_paused && f->req) {
        f->body_paused = 0;
        hc_http_req_pause_body(f->req, 0);
    }
}

/* The server wants the body (or stayed silent for CONTINUE_MS): now the client gets its
 * 100 Continue and sends it. */
static void on_creq_continue(hc_http_client_req_t *creq, void *ud)
{
    proxy_fwd_t *f = ud;
    (void)creq;
    if (f->await_continue && f->req && !f->answered)
        body_start(f);
}

static void on_creq_connected(hc_http_client_req_t *creq, void *ud)
{
    proxy_fwd_t *f = ud;
    (void)creq;
    if (!f->body_on_connect || f->body_started || !f->req || f->answered)
        return;
    if (!f->creq) /* a pooled connection, inside hc_http_client_request: after it */
        f->body_now = 1;
    else
        body_start(f);
}

/* The head came alone: the client gets it now, as Go flushes a head whose body is late
 * (an event stream or a long poll would show nothing until its first byte). */
static void on_creq_waiting(hc_http_client_req_t *creq, void *ud)
{
    proxy_fwd_t *f = ud;
    (void)creq;
    if (f->req && f->head_sent && !f->head_flushed) {
        f->head_flushed = 1;
        hc_http_res_flush(f->req);
    }
}

static const hc_http_client_req_cbs_t creq_cbs = {
    .on_headers = on_headers,
    .on_waiting = on_creq_waiting,
    .on_continue = on_creq_continue,
    .on_connected = on_creq_connected,
    .on_body = on_body,
    .on_drain = on_creq_drain,
    .on_readable = on_readable,
    .on_interim = on_interim,
    .on_done = on_creq_done,
};

/* ---- the request ---- */

/* sv's origin for the worker's client, parsed at first use (once per server and
 * generation) with leaf's transport; -EINVAL when its URL does not parse. */
static int server_origin(proxy_upstream_t *up, const up_lb_t *leaf, up_server_t *sv)
{
    if (sv->origin)
        return 0;
    sv->origin = hc_http_client_origin_new(up->client, sv->url, leaf->server_name, leaf->tls);
    if (!sv->origin)
        return -EINVAL;
    hc_http_client_origin_pool(sv->origin, leaf->max_idle, leaf->idle_ms);
    return 0;
}

/* The upstream request's fields into hs (room for f->hdrs.len + 1): f's fields, Host as
 * leaf's passHostHeader says. Returns their number. */
static size_t request_fields(const proxy_fwd_t *f, const up_lb_t *leaf, hc_http_client_header_t *hs)
{
    size_t k = 0;
    for (size_t i = 0; i < f->hdrs.len; i++) {
        const char *name = f->hdrs.v[i].name, *value = f->hdrs.v[i].value;
        size_t nl = strlen(name);
        if (nl != 4 || !name_is(name, "Host"))
            hs[k++] = (hc_http_client_header_t){name, value, nl, strlen(value)};
    }
    if (leaf->pass_host && f->host && *f->host)
        hs[k++] = (hc_http_client_header_t){"Host", f->host, 4, strlen(f->host)};
    return k;
}

/* The request-target for sv: its URL's path prefix, then the request's target; in
 * stack (URL_STACK bytes) when it fits, else allocated (free it when != stack and !=
 * f->target). */
static char *request_target(const proxy_fwd_t *f, const up_server_t *sv, char *stack)
{
    if (!sv->path_len)
        return f->target;
    size_t tl = strlen(f->target);
    char *target = sv->path_len + tl < URL_STACK ? stack : hc_malloc(sv->path_len + tl + 1);
    memcpy(target, sv->path, sv->path_len);
    memcpy(target + sv->path_len, f->target, tl + 1);
    return target;
}

/* Sends f's request to server sv of the load-balanced service leaf: f's fields (Host as
 * leaf says), the target below sv's path, leaf's timeouts; o holds the rest (the body).
 * As hc_http_client_request. */
static int request_to(proxy_fwd_t *f, const up_lb_t *leaf, up_server_t *sv,
                      hc_http_client_req_opts_t *o, const hc_http_client_req_cbs_t *cbs, void *ud,
                      hc_http_client_req_t **creq)
{
    size_t n = f->hdrs.len;
    hc_http_client_header_t hs_stack[HS_STACK];
    hc_http_client_header_t *hs = n + 1 <= HS_STACK ? hs_stack : hc_calloc(n + 1, sizeof(*hs));
    char url_stack[URL_STACK];
    char *target = request_target(f, sv, url_stack);
    o->method = f->method;
    o->origin = sv->origin;
    o->target = target;
    o->headers = hs;
    o->n_headers = request_fields(f, leaf, hs);
    o->headers_checked = f->fields_checked;
    o->connect_timeout_ms = leaf->connect_timeout_ms;
    o->tls_timeout_ms = TLS_HANDSHAKE_MS;
    o->header_timeout_ms = leaf->header_timeout_ms;
    int rc = hc_http_client_request(f->up->client, o, cbs, ud, creq);
    if (target != url_stack && target != f->target)
        hc_free(target);
    if (hs != hs_stack)
        hc_free(hs);
    return rc;
}

static int attempt_start(proxy_fwd_t *f)
{
    up_server_t *sv = f->server;
    if (server_origin(f->up, f->lb, sv) < 0)
        return -EINVAL;
    hc_http_client_req_opts_t o = {
        .stream_body = f->has_body,
        .stream_length = f->has_body ? f->body_len : 0,
        .continue_timeout_ms = f->await_continue ? CONTINUE_MS : 0,
        .upgrade = f->upgrade,
        /* a small first read pays off only before a large body; a server's last one is
           the guess (the client reads TLS upstreams whole whatever it is asked) */
        .small_head = sv->large_bodies,
    };
    f->splice_ok = !f->upgrade && !f->req->is_head && !hc_http_req_tls(f->req);
    o.small_head &= f->splice_ok;
    f->ufd = -1;
    f->t_origin = uv_hrtime();
    int rc = request_to(f, f->lb, sv, &o, &creq_cbs, f, &f->creq);
    if (rc < 0)
        f->creq = NULL;
    int start_body = rc == 0 && f->body_now;
    f->body_now = 0;
    if (start_body)
        body_start(f); /* may end the request at once (a malformed body): f is left alone */
    return rc;
}

/* ---- mirroring ---- */

/* Whether the request's mirrors are due a copy: then the body is kept as it passes. An
 * Upgrade is not mirrored (a copy could not take the connection over). */
static void mirror_begin(proxy_fwd_t *f)
{
    uint64_t due = f->mirroring && !f->upgrade ? up_mirrors_due(f->mirroring) : 0;
    if (!due)
        return;
    const up_lb_t *lb = f->mirroring;
    if (f->has_body && lb->mirror_body && lb->mirror_max_body >= 0 &&
        f->body_len > lb->mirror_max_body) {
        hc_log(HC_LOG_DEBUG, "not mirrored: the request body is over maxBodySize",
               HC_LS("service", lb->name), NULL);
        return;
    }
    up_mirror_t *m = hc_calloc(1, sizeof(*m));
    m->lb = f->mirroring;
    m->due = due;
    m->keep = f->has_body && lb->mirror_body;
    m->body_done = !m->keep;
    hc_buf_init(&m->body, 0);
    f->mirror = m;
}

static void mirror_drop(proxy_fwd_t *f)
{
    hc_buf_free(&f->mirror->body);
    hc_free(f->mirror);
    f->mirror = NULL;
}

/* A piece of the body, kept for the copies unless the whole is over maxBodySize. */
static void mirror_keep(proxy_fwd_t *f, const char *data, size_t len)
{
    up_mirror_t *m = f->mirror;
    long long max = m->lb->mirror_max_body;
    if (max >= 0 && m->body.len + len > (unsigned long long)max) {
        hc_log(HC_LOG_DEBUG, "not mirrored: the request body is over maxBodySize",
               HC_LS("service", m->lb->name), NULL);
        mirror_drop(f);
    } else if (hc_buf_append(&m->body, data, len) < 0) {
        hc_log(HC_LOG_WARN, "not mirrored: no memory for the request body",
               HC_LS("service", m->lb->name), NULL);
        mirror_drop(f);
    }
}

/* A copy in flight: its manager's counts go down when it ends, and its figures go to
 * the mirror's metrics. */
typedef struct mirror_copy {
    proxy_upstream_t *up;
    size_t len;
    uint64_t start_ns, resp_bytes;
    const char *protocol; /* NULL: not counted */
    char *service;        /* the mirror's load balancer (a reload may free it) */
    char method[];
} mirror_copy_t;

static int on_mirror_body(hc_http_client_req_t *creq, const char *data, size_t len, void *ud)
{
    (void)creq;
    (void)data;
    ((mirror_copy_t *)ud)->resp_bytes += len;
    return 0;
}

static void on_mirror_done(hc_http_client_req_t *creq, int status, void *ud)
{
    mirror_copy_t *c = ud;
    proxy_upstream_t *up = c->up;
    up->mirrors--;
    up->mirror_bytes -= c->len;
    const hc_http_response_t *res = status ? NULL : hc_http_client_req_response(creq);
    if (status < 0)
        hc_log(HC_LOG_DEBUG, "mirrored request failed", HC_LS("error", strerror(-status)), NULL);
    if (status != -ECANCELED && c->protocol && up->on_mirror) {
        int code = res ? res->status : error_status(status); /* as the forward's own pages */
        up->on_mirror(up->on_mirror_ud,
                      &(proxy_mirror_done_t){c->service, c->method, c->protocol, code,
                                             (double)(uv_hrtime() - c->start_ns) / 1e9, c->len,
                                             c->resp_bytes});
    }
    hc_free(c->service);
    hc_free(c);
}

static const hc_http_client_req_cbs_t mirror_cbs = {.on_body = on_mirror_body,
                                                    .on_done = on_mirror_done};

void proxy_upstream_on_mirror(proxy_upstream_t *up,
                              void (*cb)(void *ud, const proxy_mirror_done_t *d), void *ud)
{
    up->on_mirror = cb;
    up->on_mirror_ud = ud;
}

/* One copy to a server of mirror; its response is dropped. */
static void mirror_one(proxy_fwd_t *f, up_lb_t *mirror, const hc_buf_t *body)
{
    up_pick_t p = {.hdrs = &f->hdrs, .client_ip = f->client_ip};
    up_server_t *sv = up_pick(&p, mirror);
    if (!sv || server_origin(f->up, p.lb, sv) < 0) {
        hc_log(HC_LOG_DEBUG, "mirror has no server", HC_LS("service", mirror->name), NULL);
        return;
    }
    hc_http_client_req_opts_t o = {.body = body->base, .body_len = body->len};
    hc_http_client_req_t *creq;
    size_t ml = strlen(f->method) + 1;
    mirror_copy_t *c = hc_malloc(sizeof(*c) + ml);
    *c = (mirror_copy_t){f->up, body->len, uv_hrtime(), 0, f->protocol, hc_strdup(p.lb->name)};
    memcpy(c->method, f->method, ml);
    if (request_to(f, p.lb, sv, &o, &mirror_cbs, c, &creq) == 0) {
        f->up->mirrors++;
        f->up->mirror_bytes += body->len;
    } else {
        hc_free(c->service);
        hc_free(c);
    }
}

/* The forward is over: its copies go out, unless the client left or the body did not
 * arrive whole. */
static void mirror_send(proxy_fwd_t *f)
{
    up_mirror_t *m = f->mirror;
    if (m->body_done && f->up && !f->client_gone) {
        for (size_t k = 1; k < m->lb->nchildren && k <= PROXY_MIRRORS_MAX; k++) {
            if (!(m->due >> (k - 1) & 1) || !m->lb->children[k])
                continue;
            if (f->up->mirrors >= MIRRORS_IN_FLIGHT_MAX ||
                f->up->mirror_bytes + m->body.len > MIRROR_BYTES_MAX) {
                hc_log(HC_LOG_WARN, "mirrored copy dropped: too many in flight",
                       HC_LS("service", m->lb->name), HC_LI("in_flight", f->up->mirrors), NULL);
                break;
            }
            mirror_one(f, m->lb->children[k], &m->body);
        }
    }
    mirror_drop(f);
}

static void on_client_gone(hc_http_req_t *req, void *arg)
{
    proxy_fwd_t *f = arg;
    (void)req;
    f->close_armed = 0;
    f->req = NULL;
    f->body_reading = 0;
    f->res.error = -ECONNRESET;
    f->client_gone = 1; /* no copies either (Traefik's canceled request) */
    f->res.passed = 0;  /* nobody left to answer */
    if (f->creq) {
        hc_http_client_req_cancel(f->creq); /* on_creq_done finishes */
    } else if (f->backoff) {
        backoff_cancel(f);
        finish(f);
    } else {
        maybe_free(f);
    }
}

static void on_req_body(hc_http_req_t *req, const char *data, size_t len, int status, void *arg)
{
    proxy_fwd_t *f = arg;
    if (status == -ECONNRESET) {
        /* The client left mid-body: its close callback would follow, after the upstream's
         * cancellation had already answered (and freed) through a connection closing. */
        hc_http_req_on_close(req, NULL, NULL);
        on_client_gone(req, f);
        return;
    }
    if (status == 0) {
        f->res.request_content_size += len;
        if (f->mirror && f->mirror->keep)
            mirror_keep(f, data, len);
        if (!f->creq)
            return; /* the upstream is done: the rest is dropped */
        int full = hc_http_client_req_write(f->creq, data, len);
        if (full < 0) { /* never a body forwarded with a piece missing */
            hc_log(HC_LOG_WARN, "request body not forwarded", HC_LS("service", f->lb->name),
                   HC_LS("error", strerror(-full)), NULL);
            hc_http_client_req_cancel(f->creq); /* on_creq_done finishes; f may be gone */
            return;
        }
        f->body_unacked += len;
        if ((full || f->body_unacked > BODY_UNACKED_MAX) && !f->body_paused) {
            f->body_paused = 1;
            hc_http_req_pause_body(req, 1);
        }
        return;
    }
    f->body_reading = 0;
    f->body_paused = 0;
    if (!f->close_armed && f->finished)
        f->req = NULL;
    if (status == 1) {
        if (f->mirror)
            f->mirror->body_done = 1;
        if (f->creq)
            hc_http_client_req_end(f->creq);
        maybe_free(f);
        return;
    }
    /* -EMSGSIZE / -EPROTO: the server answers 413 / 400 itself (or closes when our
     * response already started). */
    if (!f->head_sent) {
        f->answered = 1;
        f->res.downstream_status = status == -EMSGSIZE ? 413 : 400;
        f->close_armed = 0;
        f->req = NULL;
    }
    if (f->creq)
        hc_http_client_req_cancel(f->creq); /* on_creq_done finishes; f may be gone */
    else
        maybe_free(f);
}

static void body_start(proxy_fwd_t *f)
{
    f->await_continue = 0;
    f->body_reading = 1;
    f->body_started = 1;
    /* streamed through: no limit but the caller's, as Traefik sets none */
    f->req->max_body = f->max_body && f->max_body < SIZE_MAX ? (size_t)f->max_body : SIZE_MAX;
    hc_http_req_read_body(f->req, on_req_body, f); /* may refuse it at once: 413 */
}

/* RFC 9110 §9.2.2. */
static int is_idempotent(const char *m)
{
    static const char *const v[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (!strcmp(m, v[i]))
            return 1;
    return 0;
}

static int peer_trusted(const proxy_upstream_shared_t *sh, const char *peer_ip)
{
    return sh->o.forwarded_insecure ||
           (peer_ip && proxy_mw_ipset_contains(&sh->trusted, peer_ip) == 1);
}

static char *store_put(hc_buf_t *b, const char *s, size_t n)
{
    char *p = b->base + b->len;
    memcpy(p, s, n);
    p[n] = '\0';
    b->len += n + 1;
    return p;
}

/* Whether any Connection field lists "upgrade", as Go's ReverseProxy reads them all
 * (httpguts: "keep-alive upgrade" is one element, not an upgrade). */
static int asks_upgrade(const proxy_mw_headers_t *h)
{
    for (size_t i = 0; i < h->len; i++)
        if (!strcasecmp(h->v[i].name, "Connection") &&
            hc_http_list_has(h->v[i].value, strlen(h->v[i].value), "upgrade"))
            return 1;
    return 0;
}

/* Method, target ("/" + path + "?" + query), host and the fields, copied into one
 * block (f->store): the caller's view is borrowed only until forward returns. */
static void copy_request(proxy_fwd_t *f, const proxy_fwd_args_t *a)
{
    const proxy_mw_req_t *mw = a->mw;
    const char *host = mw->host ? mw->host : "";
    size_t pl = strlen(mw->path), ql = mw->query ? strlen(mw->query) : 0, esc = 0;
    /* bytes Go's EscapedPath would not send as they are (a backslash, '"', '<', '{', '|',
     * '^', '`', bytes past ASCII) go upstream escaped, so "/public\..\admin" cannot
     * reach a server that reads a backslash as '/' past the middlewares of "/admin" */
    for (size_t i = 0; i < pl; i++)
        esc += !hc_url_path_byte_valid((unsigned char)mw->path[i]);
    size_t ml = strlen(mw->method), hl = strlen(host), n = mw->headers.len;
    size_t need = ml + hl + pl + 2 * esc + ql + 5 + STORE_SPARE;
    size_t lens_stack[LENS_STACK];
    size_t *lens = 2 * n <= LENS_STACK ? lens_stack : hc_malloc(2 * n * sizeof(*lens));
    for (size_t i = 0; i < n; i++) {
        lens[2 * i] = strlen(mw->headers.v[i].name);
        lens[2 * i + 1] = strlen(mw->headers.v[i].value);
        need += lens[2 * i] + lens[2 * i + 1] + 2;
    }
    hc_buf_reset(&f->store);
    f->store.max = need;
    hc_buf_reserve(&f->store, need); /* exactly its maximum: cannot fail */
    f->method = store_put(&f->store, mw->method, ml);
    f->host = store_put(&f->store, host, hl);
    f->target = f->store.base + f->store.len;
    if (*mw->path != '/')
        f->store.base[f->store.len++] = '/';
    if (esc) {
        char *o = f->store.base + f->store.len;
        for (size_t i = 0; i < pl; i++) {
            unsigned char c = (unsigned char)mw->path[i];
            if (hc_url_path_byte_valid(c)) {
                *o++ = (char)c;
            } else {
                *o++ = '%';
                *o++ = "0123456789ABCDEF"[c >> 4];
                *o++ = "0123456789ABCDEF"[c & 15];
            }
        }
        f->store.len = (size_t)(o - f->store.base);
    } else {
        memcpy(f->store.base + f->store.len, mw->path, pl);
        f->store.len += pl;
    }
    if (mw->query) {
        f->store.base[f->store.len++] = '?';
        memcpy(f->store.base + f->store.len, mw->query, ql);
        f->store.len += ql;
    }
    f->store.base[f->store.len++] = '\0';
    f->hdrs.store = &f->store;
    for (size_t i = 0; i < n; i++) {
        int empty_ua = !lens[2 * i + 1] && lens[2 * i] == 10 &&
                       !strcasecmp(mw->headers.v[i].name, "User-Agent");
        if (!empty_ua) /* Go's Request.Write leaves an empty User-Agent out */
            proxy_mw_headers_add_n(&f->hdrs, mw->headers.v[i].name, lens[2 * i],
                                   mw->headers.v[i].value, lens[2 * i + 1]);
    }
    if (lens != lens_stack)
        hc_free(lens);
    const char *upg = proxy_mw_headers_get(&f->hdrs, "Upgrade");
    /* h2c is HTTP/2's own upgrade (RFC 7540 §3.2): Traefik's entry point takes it itself;
     * here it is an HTTP/1.1 request like any other, its Upgrade fields dropped */
    f->upgrade = upg && strcasecmp(upg, "h2c") && asks_upgrade(&f->hdrs);
    proxy_upstream_strip_hop(&f->hdrs, f->upgrade);
    proxy_upstream_forwarded_for(&f->hdrs, mw->peer_ip, mw->no_xff);
    size_t ipl = mw->peer_ip ? strnlen(mw->peer_ip, sizeof(f->client_ip) - 1) : 0;
    memcpy(f->client_ip, mw->peer_ip ? mw->peer_ip : "", ipl);
    f->client_ip[ipl] = '\0';
    f->idempotent = is_idempotent(f->method);
    f->protocol = a->protocol;
    f->has_body = !a->no_body && (a->req->content_length > 0 || a->req->chunked);
    f->body_len = !f->has_body ? 0 : a->req->chunked ? -1 : a->req->content_length;
    if (a->no_body) { /* Go's transport writes framing from the request, not its fields */
        static const char *const drop[] = {"Content-Length",
                                           "Expect",
                                           "Range",
                                           "If-Range",
                                           "If-Match",
                                           "If-None-Match",
                                           "If-Modified-Since",
                                           "If-Unmodified-Since"};
        /* and the page is wanted whole: a 304 or 206 cannot stand for an error */
        for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
            proxy_mw_headers_del(&f->hdrs, drop[i]);
    }
}

void proxy_upstream_untrusted_strip(const proxy_upstream_t *up, proxy_mw_req_t *mw,
                                    const hc_http_req_t *req)
{
    if (up && up_has_client_forwarded(req) && !peer_trusted(up->sh, mw->peer_ip))
        up_strip_forwarded(&mw->headers); /* before any middleware: all the client's */
}

int proxy_upstream_forward(proxy_upstream_t *up, const proxy_fwd_args_t *a)
{
    if (!up || !a || !a->req || !a->mw || !a->service || !a->mw->method || !a->mw->path ||
        !a->mw->scheme)
        return -EINVAL;
    proxy_fwd_t *f = fwd_get(up);
    f->up = up;
    f->sh = up->sh;
    f->req = a->req;
    f->hooks = a->hooks;
    f->ud = a->ud;
    f->fields_checked = a->fields_checked;
    f->max_body = a->max_body;
    f->retry_attempts = a->retry_attempts;
    f->retry_interval_ms = a->retry_interval_ms;
    f->gen = up->gen;
    if (f->gen)
        f->gen->refs++;
    f->next = up->fwds;
    if (up->fwds)
        up->fwds->prev = f;
    up->fwds = f;
    copy_request(f, a);
    f->close_armed = 1;
    hc_http_req_on_close(f->req, on_client_gone, f);
    up_lb_t *lb = up_gen_find(f->gen, a->service->name);
    f->root = lb;
    use_server(
        f, lb && (lb->type != PROXY_SERVICE_LOADBALANCER || !lb->has_check || up_lb_has_server(lb))
               ? pick(f, lb)
               : NULL);
    mirror_begin(f);  /* Traefik counts the mirrors due before the service answers */
    if (!f->server) { /* none configured or none healthy: Traefik v3's balancer says so
                         itself (a failover as http.Error does) */
        const char *text = !lb                                  ? NULL
                           : lb->type == PROXY_SERVICE_FAILOVER ? "Service Unavailable\n"
                                                                : "no available server\n";
        respond_error_text(f, 503, text);
        finish(f);
        return 0;
    }
    f->tried[f->ntried++] = f->server;
    f->tries = 1;
    /* RFC 9110 §10.1.1: a client that expects 100-continue gets it when the server asks
     * for the body (Expect goes through), so a refusal costs it no upload. */
    f->await_continue = f->has_body && hc_http_req_expects_continue(f->req);
    /* A body that may be tried again is read only once a connection is up, so a connect
     * failure leaves it whole for the next try (as Go's transport, which reads nothing
     * before it has dialed); one announced over the limit is refused at once. */
    f->body_on_connect = f->has_body && !f->await_continue &&
                         (f->retry_attempts || f->idempotent) &&
                         !(f->max_body && f->body_len > (int64_t)f->max_body);
    if (f->has_body && !f->await_continue && !f->body_on_connect)
        body_start(f);
    if (f->answered) {
        finish(f);
    } else if (attempt_start(f) < 0) {
        respond_error(f, 502);
        finish(f);
    }
    return 0;
}

/* ---- the manager ---- */

proxy_upstream_t *proxy_upstream_new(uv_loop_t *loop, proxy_upstream_shared_t *sh, char *err,
                                     size_t errlen)
{
    if (!loop || !sh) {
        snprintf(err, errlen, "no loop or shared part");
        return NULL;
    }
    hc_http_client_opts_t o = {
        .max_idle_per_origin = sh->o.max_idle_per_server,
        .max_header_bytes = UPSTREAM_HEAD_MAX,
        .idle_timeout_ms = sh->o.idle_conn_timeout_ms,
        .ca_file = sh->ca_file,
        .insecure_skip_verify = sh->o.insecure_skip_verify,
    };
    hc_http_client_t *cl = hc_http_client_new(loop, &o, err, errlen);
    if (!cl)
        return NULL;
    proxy_upstream_t *up = hc_calloc(1, sizeof(*up));
    up->pipe[0] = up->pipe[1] = -1;
    up->loop = loop;
    up->sh = sh;
    up->client = cl;
    return up;
}

int proxy_upstream_set_config(proxy_upstream_t *up, const proxy_config_t *cfg)
{
    if (!up || !cfg)
        return -EINVAL;
    up_gen_t *g = up_gen_build(up->sh, cfg, up->gen);
    up_gen_unref(up->sh, up->gen);
    up->gen = g;
    return 0;
}

size_t proxy_upstream_tunnels(const proxy_upstream_t *up)
{
    return up ? up->ntunnels : 0;
}

void proxy_upstream_free(proxy_upstream_t *up)
{
    if (!up)
        return;
    proxy_tunnel_close_all(up);
    /* cancelling answers 502 (or aborts) and may free the forward: start over each time */
    for (proxy_fwd_t *f = up->fwds; f;) {
        if (f->backoff) { /* waiting to try again: nothing was sent */
            backoff_cancel(f);
            respond_error(f, 502);
            finish(f);
            f = up->fwds;
            continue;
        }
        if (!f->creq) {
            f = f->next;
            continue;
        }
        hc_http_client_req_cancel(f->creq);
        f = up->fwds;
    }
    for (proxy_fwd_t *f = up->fwds; f; f = f->next)
        f->up = NULL; /* still reading a body: freed by its callbacks later */
    hc_http_client_free(up->client);
    pipe_drop(up);
    up_gen_unref(up->sh, up->gen);
    while (up->free_fwds) {
        proxy_fwd_t *f = up->free_fwds;
        up->free_fwds = f->next_free;
        fwd_destroy(f);
    }
    hc_free(up);
}
