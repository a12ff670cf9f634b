/* The HTTP client's connections (see hc_http_client_int.h): name resolution with
 * uv_getaddrinfo, TCP connect trying each address in turn, TLS through hc_tls, and
 * the keep-alive pool of idle connections per origin with its idle timeout. */
#include "core/hc_alloc.h"
#include "core/hc_http_client_int.h"
#include "core/hc_sock.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

typedef enum conn_state {
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_HANDSHAKING,
    CONN_ACTIVE, /* serving its owner */
    CONN_IDLE,   /* pooled */
    CONN_CLOSED,
} conn_state_t;

struct hc_hcli_origin {
    char *key;
    hc_hcli_conn_t *idle; /* most recently used first */
    unsigned n_idle;
    hc_hcli_origin_t *next;
};

struct hc_hcli_conn {
    hc_http_client_t *cl;
    conn_state_t state;
    char *key;
    char *host;
    int port;
    hc_tls_conn_t *tls;
    uv_tcp_t tcp;
    int fd;              /* tcp's socket once connected (hc_sock reads and writes it) */
    uv_timer_t timer;    /* idle timeout while pooled; deferred TLS drain while active */
    unsigned max_idle;   /* pooled beside at most max_idle - 1 others of its key */
    uint64_t idle_ms;    /* closed after this long pooled; UINT64_MAX = never */
    uint64_t idle_since; /* loop ms it was last pooled at */
    int idle_armed;      /* the timer runs conn_idle_expired: left running while the
                            connection is taken, it checks idle_since when it fires */
    uv_check_t written;  /* reports a write libuv finished at once (conn_send_raw) */
    uv_getaddrinfo_t gai;
    uv_connect_t connect;
    struct addrinfo *addrs, *next_addr;
    int gai_pending;
    int handles_open; /* tcp + timer + written not yet closed */
    int paused;
    int eof; /* the server half-closed a taken-over connection */
    int small_reads, watch; /* hc_hcli_conn_read_mode */
    size_t inflight;
    unsigned uses;
    const hc_hcli_events_t *ev;
    void *owner;
    hc_hcli_origin_t *origin; /* while pooled */
    hc_hcli_conn_t *next_idle;
};

typedef struct conn_write {
    uv_write_t req;
    hc_hcli_conn_t *conn;
    size_t len;
    char data[];
} conn_write_t;

static void conn_try_next(hc_hcli_conn_t *c);

/* Appends s (n bytes) at *p, at most *room of them. */
static void key_put(char **p, size_t *room, const char *s, size_t n)
{
    if (n > *room)
        n = *room;
    memcpy(*p, s, n);
    *p += n;
    *room -= n;
}

size_t hc_hcli_key(const hc_hcli_target_t *t, char *out, size_t room)
{
    /* "scheme|host|port|sni|ctx" built by hand: snprintf cost as much as the rest of
     * a proxied request's client-side setup. The context pointer keeps connections
     * verified against different CAs apart. */
    char num[2 * sizeof(uintptr_t) + 8];
    char *p = out;
    room--;
    const char *sni = t->sni ? t->sni : "";
    key_put(&p, &room, t->tls ? "https|" : "http|", t->tls ? 6 : 5);
    key_put(&p, &room, t->host, strlen(t->host));
    size_t n = sizeof(num);
    num[--n] = '|';
    unsigned port = (unsigned)t->port;
    do
        num[--n] = (char)('0' + port % 10);
    while ((port /= 10) && n > 1);
    num[--n] = '|';
    key_put(&p, &room, num + n, sizeof(num) - n);
    key_put(&p, &room, sni, strlen(sni));
    n = sizeof(num);
    uintptr_t ctx = (uintptr_t)(void *)t->tls;
    do
        num[--n] = "0123456789abcdef"[ctx & 15];
    while ((ctx >>= 4) && n > 1);
    num[--n] = '|';
    key_put(&p, &room, num + n, sizeof(num) - n);
    *p = '\0';
    return (size_t)(p - out);
}

/* ---- lifetime ------------------------------------------------------------------- */

static void conn_maybe_free(hc_hcli_conn_t *c)
{
    if (c->handles_open || c->gai_pending)
        return;
    hc_http_client_t *cl = c->cl;
    if (c->addrs)
        uv_freeaddrinfo(c->addrs);
    hc_tls_conn_free(c->tls);
    hc_free(c->key);
    hc_free(c->host);
    hc_free(c);
    cl->n_conns--;
    hc_hcli_client_maybe_free(cl);
}

static void conn_handle_closed(uv_handle_t *h)
{
    hc_hcli_conn_t *c = h->data;
    c->handles_open--;
    conn_maybe_free(c);
}

static void origin_remove(hc_hcli_conn_t *c)
{
    hc_hcli_origin_t *o = c->origin;
    hc_hcli_conn_t **pp = &o->idle;
    while (*pp != c)
        pp = &(*pp)->next_idle;
    *pp = c->next_idle;
    c->next_idle = NULL;
    c->origin = NULL;
    if (--o->n_idle)
        return;
    hc_hcli_origin_t **op = &c->cl->origins;
    while (*op != o)
        op = &(*op)->next;
    *op = o->next;
    hc_free(o->key);
    hc_free(o);
}

void hc_hcli_conn_close(hc_hcli_conn_t *c)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->state == CONN_IDLE)
        origin_remove(c);
    if (c->gai_pending)
        uv_cancel((uv_req_t *)&c->gai);
    c->state = CONN_CLOSED;
    c->ev = NULL;
    c->owner = NULL;
    c->fd = -1; /* libuv closes the socket now */
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    uv_close((uv_handle_t *)&c->written, conn_handle_closed);
}

/* Tells the owner the connection failed or ended, then closes it. */
static void conn_fail(hc_hcli_conn_t *c, int status, const char *reason)
{
    const hc_hcli_events_t *ev = c->ev;
    void *owner = c->owner;
    int ready = c->state == CONN_ACTIVE;
    hc_hcli_conn_close(c);
    if (ev && ready)
        ev->on_close(owner, status, reason);
    else if (ev)
        ev->on_ready(owner, status ? status : -ECONNRESET, reason);
}

/* ---- writing -------------------------------------------------------------------- */

static void conn_written(uv_write_t *w, int status)
{
    conn_write_t *cw = (conn_write_t *)w;
    hc_hcli_conn_t *c = cw->conn;
    c->inflight -= cw->len;
    hc_free(cw);
    if (c->state == CONN_CLOSED)
        return;
    if (status < 0) {
        char reason[96];
        snprintf(reason, sizeof(reason), "write: %s", uv_strerror(status));
        conn_fail(c, status, reason);
    } else if (c->state == CONN_ACTIVE && c->ev) {
        c->ev->on_written(c->owner, c->inflight);
    }
}

/* After a write that went out at once: tells the owner, as a queued write's
 * completion would, but from the loop rather than inside the caller's write. */
static void conn_written_now(uv_check_t *h)
{
    hc_hcli_conn_t *c = h->data;
    uv_check_stop(h);
    if (c->state == CONN_ACTIVE && c->ev)
        c->ev->on_written(c->owner, c->inflight);
}

/* Hands len bytes to the socket: written at once when nothing is queued (no copy, and
 * no uv_write, whose completion costs an epoll_ctl per write), the rest copied. */
static int conn_send_raw(hc_hcli_conn_t *c, const char *data, size_t len)
{
    if (!len)
        return 0;
    uv_buf_t now = uv_buf_init((char *)data, (unsigned)len);
    ssize_t n = c->inflight ? UV_EAGAIN : hc_sock_send(c->fd, &now, 1);
    if (n < 0 && n != UV_EAGAIN)
        return n;
    if (n > 0) {
        data += n;
        len -= (size_t)n;
    }
    if (!len) {
        uv_check_start(&c->written, conn_written_now);
        return 0;
    }
    conn_write_t *cw = hc_malloc(sizeof(*cw) + len);
    memcpy(cw->data, data, len);
    cw->conn = c;
    cw->len = len;
    uv_buf_t b = uv_buf_init(cw->data, (unsigned)len);
    int rc = uv_write(&cw->req, (uv_stream_t *)&c->tcp, &b, 1, conn_written);
    if (rc < 0) {
        hc_free(cw);
        return rc;
    }
    c->inflight += len;
    return 0;
}

/* Sends the ciphertext hc_tls has waiting. */
static int conn_flush_tls(hc_hcli_conn_t *c)
{
    const char *p;
    size_t n = hc_tls_conn_pending(c->tls, &p);
    int rc = conn_send_raw(c, p, n);
    hc_tls_conn_consume(c->tls, n);
    return rc;
}

int hc_hcli_conn_write(hc_hcli_conn_t *c, const char *data, size_t len)
{
    if (c->state != CONN_ACTIVE)
        return -ENOTCONN;
    if (!c->tls)
        return conn_send_raw(c, data, len);
    while (len) {
        int n = hc_tls_conn_write(c->tls, data, len);
        if (n <= 0)
            return n ? n : -EPROTO;
        data += n;
        len -= (size_t)n;
        int rc = conn_flush_tls(c);
        if (rc)
            return rc;
    }
    return 0;
}

size_t hc_hcli_conn_inflight(const hc_hcli_conn_t *c)
{
    return c->inflight;
}

int hc_hcli_conn_reused(const hc_hcli_conn_t *c)
{
    return c->uses > 1;
}

/* ---- reading -------------------------------------------------------------------- */

void hc_hcli_conn_read_mode(hc_hcli_conn_t *c, int small, int watch)
{
    c->small_reads = small && !c->tls;
    c->watch = watch && !c->tls;
}

int hc_hcli_conn_fd(const hc_hcli_conn_t *c)
{
    return c->tls ? -1 : c->fd;
}

int hc_hcli_conn_quiet(const hc_hcli_conn_t *c)
{
    char b;
    int fd = hc_hcli_conn_fd(c);
    return fd >= 0 && recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
           (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void conn_ready(hc_hcli_conn_t *c)
{
    c->state = CONN_ACTIVE;
    c->uses = 1;
    c->ev->on_ready(c->owner, 0, NULL);
}

/* Passes decrypted data to the owner until none is left, the owner lets go of the
 * connection, or it pauses (the rest is drained on resume). */
static void conn_drain_tls(hc_hcli_conn_t *c)
{
    while (c->state == CONN_ACTIVE && !c->paused) {
        int n = hc_tls_conn_read(c->tls, c->cl->pbuf, sizeof(c->cl->pbuf));
        conn_flush_tls(c);
        if (n == 0)
            return;
        if (n == -EPIPE && c->ev->on_eof) {
            c->eof = 1;
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->ev->on_eof(c->owner);
            return;
        }
        if (n < 0) {
            conn_fail(c, n == -EPIPE ? 0 : -EPROTO,
                      n == -EPIPE ? "closed by server" : hc_tls_conn_error(c->tls));
            return;
        }
        c->ev->on_data(c->owner, c->cl->pbuf, (size_t)n);
    }
}

/* TLS bytes arrived: continue the handshake, or decrypt for the owner. */
static void conn_read_tls(hc_hcli_conn_t *c, const char *data, size_t len)
{
    if (hc_tls_conn_feed(c->tls, data, len)) {
        conn_fail(c, -EPROTO, "TLS: too much unread data");
        return;
    }
    if (c->state == CONN_HANDSHAKING) {
        int hs = hc_tls_conn_handshake(c->tls);
        conn_flush_tls(c);
        if (hs < 0) {
            conn_fail(c,
                      hc_tls_conn_verify_failed(c->tls) ? -EKEYREJECTED
                      : hc_tls_conn_not_tls(c->tls)     ? -EPROTONOSUPPORT
                                                        : -EPROTO,
                      hc_tls_conn_error(c->tls));
            return;
        }
        if (hs == 0)
            return;
        conn_ready(c);
    }
    conn_drain_tls(c);
}

/* nread bytes are in the client's read buffer, or the read failed (UV_EOF at the end). */
static void conn_got(hc_hcli_conn_t *c, ssize_t nread)
{
    if (nread == UV_EOF && c->state == CONN_ACTIVE && c->ev->on_eof) {
        c->eof = 1; /* a tunnel: the other direction may go on */
        c->ev->on_eof(c->owner);
        return;
    }
    if (nread < 0 || c->state == CONN_IDLE) {
        /* An idle connection closed by the server, or sending unasked: drop it. */
        char reason[96];
        snprintf(reason, sizeof(reason), "read: %s", nread < 0 ? uv_strerror((int)nread) : "");
        conn_fail(c, nread == UV_EOF ? 0 : (int)(nread < 0 ? nread : -EPROTO),
                  nread == UV_EOF ? "closed by server" : reason);
        return;
    }
    if (c->tls)
        conn_read_tls(c, c->cl->rbuf, (size_t)nread);
    else
        c->ev->on_data(c->owner, c->cl->rbuf, (size_t)nread);
}

/* The socket is readable (UV_ENOBUFS from hc_sock_alloc_none). A watching owner is told
 * so and reads it itself; otherwise it is read, again while reads fill the buffer, as
 * libuv's own reads do. */
static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hc_hcli_conn_t *c = s->data;
    (void)nread;
    (void)buf;
    for (int count = 32; count > 0 && c->state != CONN_CLOSED && !c->paused && !c->eof; count--) {
        if (c->watch) {
            if (c->ev->on_readable)
                c->ev->on_readable(c->owner);
            return;
        }
        size_t want = c->small_reads ? HC_HCLI_READ_SMALL : sizeof(c->cl->rbuf);
        ssize_t n = hc_sock_recv(c->fd, c->cl->rbuf, want);
        if (n == UV_EAGAIN)
            return;
        if (n < 0)
            uv_read_stop(s); /* as libuv stops reading at the end or an error */
        conn_got(c, n);
        if (n < (ssize_t)want)
            return;
    }
}

static void conn_resume_tls(uv_timer_t *t)
{
    conn_drain_tls(t->data);
}

void hc_hcli_conn_pause(hc_hcli_conn_t *c, int paused)
{
    if (c->state != CONN_ACTIVE || c->paused == !!paused || c->eof)
        return;
    c->paused = !!paused;
    if (paused) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, hc_sock_alloc_none, conn_read);
    if (c->tls) { /* records already decrypted inside OpenSSL wait for no socket event */
        c->idle_armed = 0;
        uv_timer_start(&c->timer, conn_resume_tls, 0, 0);
    }
}

void hc_hcli_conn_rebind(hc_hcli_conn_t *c, const hc_hcli_events_t *ev, void *owner)
{
    c->ev = ev;
    c->owner = owner;
}

static void conn_shut_done(uv_shutdown_t *req, int status)
{
    (void)status;
    hc_free(req);
}

void hc_hcli_conn_shutdown(hc_hcli_conn_t *c)
{
    if (c->state != CONN_ACTIVE)
        return;
    if (c->tls) {
        hc_tls_conn_shutdown(c->tls);
        conn_flush_tls(c);
    }
    uv_shutdown_t *req = hc_malloc(sizeof(*req));
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, conn_shut_done) < 0)
        hc_free(req);
}

/* ---- connecting ----------------------------------------------------------------- */

/* The handle of a failed attempt closed: start over with the next address, unless
 * the connection was closed meanwhile. */
static void conn_retry_closed(uv_handle_t *h)
{
    hc_hcli_conn_t *c = h->data;
    if (c->state == CONN_CLOSED) {
        conn_handle_closed(h);
        return;
    }
    uv_tcp_init(c->cl->loop, &c->tcp);
    c->tcp.data = c;
    conn_try_next(c);
}

static void conn_connected(uv_connect_t *req, int status)
{
    hc_hcli_conn_t *c = req->data;
    if (c->state != CONN_CONNECTING)
        return;
    if (status < 0) {
        if (c->next_addr) {
            /* A failed socket cannot connect again: a fresh handle for the next address
             * once this one has closed. */
            uv_close((uv_handle_t *)&c->tcp, conn_retry_closed);
            return;
        }
        char reason[96];
        snprintf(reason, sizeof(reason), "connect: %s", uv_strerror(status));
        conn_fail(c, status, reason);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->fd = hc_sock_fd(&c->tcp);
    uv_read_start((uv_stream_t *)&c->tcp, hc_sock_alloc_none, conn_read);
    if (!c->tls) {
        conn_ready(c);
        return;
    }
    c->state = CONN_HANDSHAKING;
    if (c->ev->on_handshake)
        c->ev->on_handshake(c->owner);
    if (hc_tls_conn_handshake(c->tls) < 0 || conn_flush_tls(c))
        conn_fail(c, -EPROTO, "TLS: cannot start the handshake");
}

/* Connects to the next resolved address with the (fresh) tcp handle. */
static void conn_try_next(hc_hcli_conn_t *c)
{
    struct addrinfo *ai = c->next_addr;
    c->next_addr = ai->ai_next;
    c->state = CONN_CONNECTING;
    c->connect.data = c;
    int rc = uv_tcp_connect(&c->connect, &c->tcp, ai->ai_addr, conn_connected);
    if (rc < 0) {
        char reason[96];
        snprintf(reason, sizeof(reason), "connect: %s", uv_strerror(rc));
        conn_fail(c, rc, reason);
    }
}

static void conn_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    hc_hcli_conn_t *c = req->data;
    c->gai_pending = 0;
    c->addrs = res;
    if (c->state == CONN_CLOSED) {
        conn_maybe_free(c);
        return;
    }
    if (status < 0 || !res) {
        char reason[160];
        snprintf(reason, sizeof(reason), "DNS: %s: %s", c->host, uv_strerror(status));
        conn_fail(c, -EHOSTUNREACH, reason);
        return;
    }
    c->next_addr = res;
    conn_try_next(c);
}

hc_hcli_conn_t *hc_hcli_conn_open(hc_http_client_t *cl, const hc_hcli_target_t *t,
                                  const char *key, const hc_hcli_events_t *ev, void *owner,
                                  int *rc)
{
    hc_tls_conn_t *tls = NULL;
    if (t->tls && !(tls = hc_tls_conn_client(t->tls, t->sni, "http/1.1"))) {
        *rc = -EINVAL;
        return NULL;
    }
    hc_hcli_conn_t *c = hc_calloc(1, sizeof(*c));
    c->cl = cl;
    c->tls = tls;
    c->key = hc_strdup(key);
    c->host = hc_strdup(t->host);
    c->port = t->port;
    c->fd = -1;
    c->max_idle = t->max_idle < 0 ? 0 : t->max_idle ? (unsigned)t->max_idle : cl->max_idle;
    c->idle_ms = t->idle_ms ? t->idle_ms : cl->idle_ms;
    c->ev = ev;
    c->owner = owner;
    uv_tcp_init(cl->loop, &c->tcp);
    uv_timer_init(cl->loop, &c->timer);
    uv_check_init(cl->loop, &c->written);
    c->tcp.data = c->timer.data = c->written.data = c->gai.data = c;
    c->handles_open = 3;
    cl->n_conns++;
    c->state = CONN_RESOLVING;
    char port[8];
    snprintf(port, sizeof(port), "%d", t->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    *rc = uv_getaddrinfo(cl->loop, &c->gai, conn_resolved, t->host, port, &hints);
    if (*rc < 0) {
        hc_hcli_conn_close(c);
        *rc = -EHOSTUNREACH;
        return NULL;
    }
    c->gai_pending = 1;
    return c;
}

/* ---- pool ----------------------------------------------------------------------- */

static void conn_idle_expired(uv_timer_t *t)
{
    hc_hcli_conn_t *c = t->data;
    uint64_t idle = uv_now(c->cl->loop) - c->idle_since;
    c->idle_armed = 0;
    if (c->state != CONN_IDLE) /* taken since: the next release arms it again */
        return;
    if (idle >= c->idle_ms) {
        hc_hcli_conn_close(c);
        return;
    }
    c->idle_armed = 1; /* pooled again since it was armed */
    uv_timer_start(&c->timer, conn_idle_expired, c->idle_ms - idle, 0);
}

hc_hcli_conn_t *hc_hcli_pool_take(hc_http_client_t *cl, const char *key,
                                  const hc_hcli_events_t *ev, void *owner)
{
    hc_hcli_origin_t *o = cl->origins;
    while (o && strcmp(o->key, key))
        o = o->next;
    if (!o)
        return NULL;
    hc_hcli_conn_t *c = o->idle;
    origin_remove(c);
    c->state = CONN_ACTIVE;
    c->uses++;
    c->ev = ev;
    c->owner = owner;
    return c;
}

void hc_hcli_conn_release(hc_hcli_conn_t *c)
{
    hc_http_client_t *cl = c->cl;
    char probe;
    /* Bytes after the response (or a close_notify) already inside OpenSSL would be
     * taken for the next response: such a connection is not reused. */
    if (c->state != CONN_ACTIVE || c->inflight || cl->freeing ||
        (c->tls && hc_tls_conn_read(c->tls, &probe, 1) != 0)) {
        hc_hcli_conn_close(c);
        return;
    }
    hc_hcli_origin_t *o = cl->origins;
    while (o && strcmp(o->key, c->key))
        o = o->next;
    if (!c->max_idle || (o && o->n_idle >= c->max_idle)) {
        hc_hcli_conn_close(c);
        return;
    }
    if (!o) {
        o = hc_calloc(1, sizeof(*o));
        o->key = hc_strdup(c->key);
        o->next = cl->origins;
        cl->origins = o;
    }
    c->ev = NULL;
    c->owner = NULL;
    c->state = CONN_IDLE;
    c->small_reads = c->watch = 0;
    c->origin = o;
    c->next_idle = o->idle;
    o->idle = c;
    o->n_idle++;
    /* Keep reading: the server closing an idle connection must be noticed. */
    if (c->paused) {
        c->paused = 0;
        uv_read_start((uv_stream_t *)&c->tcp, hc_sock_alloc_none, conn_read);
    }
    c->idle_since = uv_now(cl->loop);
    if (!c->idle_armed && c->idle_ms != UINT64_MAX) {
        c->idle_armed = 1;
        uv_timer_start(&c->timer, conn_idle_expired, c->idle_ms, 0);
    }
}

void hc_hcli_pool_clear(hc_http_client_t *cl)
{
    while (cl->origins)
        hc_hcli_conn_close(cl->origins->idle);
}
