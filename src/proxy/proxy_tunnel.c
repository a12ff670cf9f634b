/* Upgrade tunnels (WebSocket and any other protocol switched with 101, RFC 9110
 * §7.8): after the 101 went to the client, bytes are copied both ways between the
 * client connection and the upstream one, with backpressure each way, half-close
 * passed on, and an idle timeout. A tunnel belongs to the worker's manager, not to a
 * configuration, so reloads leave it alone. */
#include "core/hc_alloc.h"
#include "proxy/proxy_upstream_int.h"

#include <errno.h>

enum { UP_INFLIGHT_MAX = 256 * 1024 }; /* client bytes queued upstream before pausing */

struct proxy_tunnel {
    proxy_upstream_t *up; /* NULL once unlinked */
    proxy_tunnel_t *prev, *next;
    hc_http_conn_t *cc;       /* client side, NULL once closed */
    hc_http_client_raw_t *raw; /* upstream side, NULL once closed */
    uv_timer_t timer;
    uint64_t idle_ms, last;
    int c_eof, u_eof, c_paused, u_paused, closing;
    void (*on_close)(void *ud); /* proxy_tunnel_on_close */
    void *ud;
};

static void tunnel_freed(uv_handle_t *h)
{
    hc_free(h->data);
}

static void tunnel_close(proxy_tunnel_t *t)
{
    if (t->closing)
        return;
    t->closing = 1;
    if (t->up) {
        if (t->prev)
            t->prev->next = t->next;
        else
            t->up->tunnels = t->next;
        if (t->next)
            t->next->prev = t->prev;
        t->up->ntunnels--;
        t->up = NULL;
    }
    hc_http_client_raw_close(t->raw);
    t->raw = NULL;
    hc_http_conn_t *cc = t->cc;
    t->cc = NULL;
    if (cc)
        hc_http_raw_close(cc); /* its on_close sees closing */
    uv_close((uv_handle_t *)&t->timer, tunnel_freed);
    if (t->on_close)
        t->on_close(t->ud);
}

static void touch(proxy_tunnel_t *t)
{
    t->last = uv_now(t->timer.loop);
}

static void on_idle(uv_timer_t *tm)
{
    proxy_tunnel_t *t = tm->data;
    uint64_t quiet = uv_now(tm->loop) - t->last;
    if (quiet >= t->idle_ms)
        tunnel_close(t);
    else
        uv_timer_start(tm, on_idle, t->idle_ms - quiet, 0);
}

/* ---- client side ---- */

static void c_data(void *ud, const char *data, size_t len)
{
    proxy_tunnel_t *t = ud;
    touch(t);
    if (!t->raw || hc_http_client_raw_write(t->raw, data, len) < 0) {
        tunnel_close(t);
        return;
    }
    if (hc_http_client_raw_inflight(t->raw) > UP_INFLIGHT_MAX && !t->c_paused) {
        t->c_paused = 1;
        hc_http_raw_pause(t->cc, 1);
    }
}

static void c_eof(void *ud)
{
    proxy_tunnel_t *t = ud;
    t->c_eof = 1;
    if (t->u_eof)
        tunnel_close(t);
    else if (t->raw)
        hc_http_client_raw_shutdown(t->raw);
}

static void c_drain(void *ud)
{
    proxy_tunnel_t *t = ud;
    if (t->u_paused && t->raw) {
        t->u_paused = 0;
        hc_http_client_raw_pause(t->raw, 0);
    }
}

static void c_close(void *ud)
{
    proxy_tunnel_t *t = ud;
    if (t->closing)
        return;
    t->cc = NULL;
    tunnel_close(t);
}

static const hc_http_raw_cbs_t client_cbs = {
    .on_data = c_data,
    .on_eof = c_eof,
    .on_drain = c_drain,
    .on_close = c_close,
};

/* ---- upstream side ---- */

static void u_data(void *ud, const char *data, size_t len)
{
    proxy_tunnel_t *t = ud;
    touch(t);
    int rc = t->cc ? hc_http_raw_write(t->cc, data, len) : -EPIPE;
    if (rc < 0) {
        tunnel_close(t);
        return;
    }
    if (rc == HC_HTTP_WAIT && !t->u_paused && t->raw) {
        t->u_paused = 1;
        hc_http_client_raw_pause(t->raw, 1);
    }
}

static void u_eof(void *ud)
{
    proxy_tunnel_t *t = ud;
    t->u_eof = 1;
    if (t->c_eof)
        tunnel_close(t);
    else if (t->cc)
        hc_http_raw_shutdown(t->cc);
}

static void u_drain(void *ud)
{
    proxy_tunnel_t *t = ud;
    if (t->c_paused && t->cc) {
        t->c_paused = 0;
        hc_http_raw_pause(t->cc, 0);
    }
}

static void u_close(void *ud, int status)
{
    (void)status;
    tunnel_close(ud);
}

static const hc_http_client_raw_cbs_t upstream_cbs = {
    .on_data = u_data,
    .on_eof = u_eof,
    .on_drain = u_drain,
    .on_close = u_close,
};

/* ---- life ---- */

proxy_tunnel_t *proxy_tunnel_new(proxy_upstream_t *up, hc_http_client_req_t *creq)
{
    proxy_tunnel_t *t = hc_calloc(1, sizeof(*t));
    t->raw = hc_http_client_req_take_over(creq, &upstream_cbs, t);
    if (!t->raw) {
        hc_free(t);
        return NULL;
    }
    t->up = up;
    t->idle_ms = up->sh->o.tunnel_idle_ms;
    uv_timer_init(up->loop, &t->timer);
    t->timer.data = t;
    t->next = up->tunnels;
    if (up->tunnels)
        up->tunnels->prev = t;
    up->tunnels = t;
    up->ntunnels++;
    return t;
}

int proxy_tunnel_client(proxy_tunnel_t *t, hc_http_req_t *req)
{
    return hc_http_req_take_over(req, &client_cbs, t, &t->cc);
}

int proxy_tunnel_go(proxy_tunnel_t *t, int status)
{
    if (status || !t->cc || !t->raw) {
        tunnel_close(t);
        return 0;
    }
    touch(t);
    if (t->idle_ms)
        uv_timer_start(&t->timer, on_idle, t->idle_ms, 0);
    hc_http_client_raw_pause(t->raw, 0); /* may deliver bytes that followed the 101 */
    return !t->closing;                  /* (their copy may have failed) */
}

void proxy_tunnel_on_close(proxy_tunnel_t *t, void (*cb)(void *ud), void *ud)
{
    t->on_close = cb;
    t->ud = ud;
}

void proxy_tunnel_close_all(proxy_upstream_t *up)
{
    while (up->tunnels)
        tunnel_close(up->tunnels);
}
