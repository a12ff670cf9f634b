/* HEP out (agent_int.h): each captured SIP message is encoded once as HEP3
 * (capture_hep_encode) and handed to every -hs server. UDP sends straight from the
 * encode buffer when the socket takes it; TCP writes, and both queue copies while a
 * server is down or busy, up to AGENT_SEND_QUEUE_BYTES per server, past which messages
 * are dropped and counted. Lost connections come back with exponential backoff. */
#include "agent/agent_int.h"

#include "core/hc_alloc.h"
#include "core/hc_err.h"
#include "core/hc_log.h"
#include "core/hc_runtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct agent_out {
    agent_out_t *next;
    agent_server_t *s;
    union {
        uv_write_t w;
        uv_udp_send_t u;
    } req;
    size_t len;
    uint8_t data[];
};

static void server_connect(agent_server_t *s);
static void server_close(agent_server_t *s, const char *why);

/* ---- -hs ---- */

static int server_parse(agent_server_t *s, const char *text, size_t n, char *err, size_t errlen)
{
    if (n >= sizeof(s->name))
        return hc_errf(err, errlen, -EINVAL, "-hs: \"%.40s...\" is too long", text);
    memcpy(s->name, text, n);
    s->name[n] = '\0';
    const char *host = s->name, *colon = strrchr(s->name, ':');
    size_t hl = colon ? (size_t)(colon - host) : 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
        host++, hl -= 2;
    long port = 0;
    char *end = NULL;
    if (colon)
        port = strtol(colon + 1, &end, 10);
    if (!colon || !hl || hl >= sizeof(s->host) || !colon[1] || *end || port < 1 || port > 65535)
        return hc_errf(err, errlen, -EINVAL,
                       "-hs: \"%s\" is not host:port (e.g. 127.0.0.1:9060 or homer:9060)", s->name);
    memcpy(s->host, host, hl);
    s->host[hl] = '\0';
    snprintf(s->port, sizeof(s->port), "%ld", port);
    s->numeric = hc_addr_parse(s->name, &s->sa) == 0;
    return 0;
}

int agent_send_parse(agent_t *a, const char *list, char *err, size_t errlen)
{
    const char *p = list ? list : "";
    a->nservers = 0;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *item = p;
        p += n + (p[n] == ',');
        while (n && (*item == ' '))
            item++, n--;
        while (n && item[n - 1] == ' ')
            n--;
        if (!n)
            continue;
        if (a->nservers == AGENT_MAX_SERVERS)
            return hc_errf(err, errlen, -EINVAL, "-hs lists more than %d servers",
                           AGENT_MAX_SERVERS);
        agent_server_t *s = &a->servers[a->nservers];
        memset(s, 0, sizeof(*s));
        int rc = server_parse(s, item, n, err, errlen);
        if (rc)
            return rc;
        a->nservers++;
    }
    if (!a->nservers)
        return hc_errf(err, errlen, -EINVAL, "-hs needs at least one host:port");
    return 0;
}

/* ---- queue ---- */

static void out_free(agent_out_t *o)
{
    o->s->queued -= o->len;
    hc_free(o);
}

static agent_out_t *out_new(agent_server_t *s, const uint8_t *p, size_t n)
{
    if (s->queued + n > AGENT_SEND_QUEUE_BYTES) {
        hc_metrics_counter_inc(s->agent->dropped[AGENT_DROP_QUEUE_FULL]);
        return NULL;
    }
    agent_out_t *o = hc_malloc(sizeof(*o) + n);
    o->next = NULL;
    o->s = s;
    o->len = n;
    memcpy(o->data, p, n);
    s->queued += n;
    return o;
}

static void send_failed(agent_server_t *s)
{
    hc_metrics_counter_inc(s->errors);
    hc_metrics_counter_inc(s->agent->dropped[AGENT_DROP_SEND_FAILED]);
}

static void on_sent(agent_out_t *o, int status)
{
    if (status < 0)
        send_failed(o->s);
    else
        hc_metrics_counter_inc(o->s->sent);
    out_free(o);
}

static void on_udp_sent(uv_udp_send_t *req, int status)
{
    on_sent(req->data, status);
}

static void on_tcp_written(uv_write_t *req, int status)
{
    on_sent(req->data, status);
}

/* Starts the asynchronous send of o on an up server. */
static void out_start(agent_out_t *o)
{
    agent_server_t *s = o->s;
    uv_buf_t b = uv_buf_init((char *)o->data, (unsigned)o->len);
    int rc;
    if (s->agent->tcp) {
        o->req.w.data = o;
        rc = uv_write(&o->req.w, &s->h.stream, &b, 1, on_tcp_written);
    } else {
        o->req.u.data = o;
        rc = uv_udp_send(&o->req.u, &s->h.udp, &b, 1, NULL, on_udp_sent);
    }
    if (rc < 0)
        on_sent(o, rc);
}

static void pending_flush(agent_server_t *s)
{
    agent_out_t *o = s->pending;
    s->pending = NULL;
    s->pending_tail = &s->pending;
    while (o) {
        agent_out_t *next = o->next;
        o->next = NULL;
        out_start(o);
        o = next;
    }
}

static void pending_drop(agent_server_t *s)
{
    while (s->pending) {
        agent_out_t *o = s->pending;
        s->pending = o->next;
        hc_metrics_counter_inc(s->agent->dropped[AGENT_DROP_SEND_FAILED]);
        out_free(o);
    }
    s->pending_tail = &s->pending;
}

/* Sends n bytes now when the socket takes them whole, else queues a copy. */
static void server_send(agent_server_t *s, const uint8_t *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    agent_out_t *o;
    if (s->state != AGENT_SERVER_UP) {
        if ((o = out_new(s, p, n)) != NULL) {
            *s->pending_tail = o;
            s->pending_tail = &o->next;
        }
        return;
    }
    if (s->agent->tcp) {
        int rc = uv_stream_get_write_queue_size(&s->h.stream) ? UV_EAGAIN
                                                              : uv_try_write(&s->h.stream, &b, 1);
        if (rc == (int)n) {
            hc_metrics_counter_inc(s->sent);
            return;
        }
        if (rc < 0 && rc != UV_EAGAIN) {
            send_failed(s);
            return;
        }
        size_t done = rc > 0 ? (size_t)rc : 0; /* the rest must follow at once: same stream */
        if ((o = out_new(s, p + done, n - done)) != NULL)
            out_start(o);
        else if (done) /* half a packet went out: the HEP framing is broken, reconnect */
            server_close(s, "send queue full in the middle of a packet");
        return;
    }
    int rc = uv_udp_try_send(&s->h.udp, &b, 1, NULL);
    if (rc >= 0) {
        hc_metrics_counter_inc(s->sent);
    } else if (rc == UV_EAGAIN || rc == UV_ENOBUFS) {
        if ((o = out_new(s, p, n)) != NULL)
            out_start(o);
    } else {
        send_failed(s); /* e.g. ECONNREFUSED: nobody listens on the server's port */
    }
}

void agent_send_sip(agent_t *a, const agent_pkt_t *pkt, const struct timeval *ts,
                    const uint8_t *msg, size_t len)
{
    capture_hep_t h = {0};
    h.version = 3;
    h.family = pkt->family;
    h.ip_proto = pkt->proto;
    inet_ntop(pkt->family, pkt->src, h.src_ip, sizeof(h.src_ip));
    inet_ntop(pkt->family, pkt->dst, h.dst_ip, sizeof(h.dst_ip));
    h.src_port = pkt->sport;
    h.dst_port = pkt->dport;
    h.ts_sec = (uint32_t)ts->tv_sec;
    h.ts_usec = (uint32_t)ts->tv_usec;
    h.proto_type = CAPTURE_PROTO_SIP;
    h.capture_id = a->capture_id;
    h.vlan = pkt->vlan;
    if (a->auth_key) {
        h.auth_key = a->auth_key;
        h.auth_key_len = strlen(a->auth_key);
    }
    if (a->node_name) {
        h.node_name = a->node_name;
        h.node_name_len = strlen(a->node_name);
    }
    h.payload = msg;
    h.payload_len = len;
    long n = capture_hep_encode(&h, a->hep, sizeof(a->hep));
    if (n < 0) {
        hc_metrics_counter_inc(a->dropped[AGENT_DROP_TOO_LARGE]);
        return;
    }
    for (size_t i = 0; i < a->nservers; i++)
        server_send(&a->servers[i], a->hep, (size_t)n);
}

/* ---- connections ---- */

static void set_up(agent_server_t *s)
{
    s->state = AGENT_SERVER_UP;
    s->backoff_ms = AGENT_BACKOFF_MIN_MS;
    s->outage_logged = 0;
    hc_metrics_gauge_set(s->up, 1);
    hc_log(HC_LOG_INFO, "HEP server ready", HC_LS("server", s->name),
           HC_LS("transport", s->agent->tcp ? "tcp" : "udp"), NULL);
    pending_flush(s);
}

/* Logs an outage once, until the server is up again. */
static void outage(agent_server_t *s, const char *why)
{
    if (s->outage_logged || !why)
        return;
    s->outage_logged = 1;
    hc_log(HC_LOG_WARN, "HEP server unreachable, retrying with backoff", HC_LS("server", s->name),
           HC_LS("error", why), HC_LI("queued_bytes", s->queued), NULL);
}

static void on_retry(uv_timer_t *t)
{
    server_connect(t->data);
}

static void retry_later(agent_server_t *s, const char *why)
{
    outage(s, why);
    s->state = AGENT_SERVER_DOWN;
    hc_metrics_gauge_set(s->up, 0);
    uv_timer_start(&s->retry, on_retry, s->backoff_ms, 0);
    s->backoff_ms =
        s->backoff_ms * 2 > AGENT_BACKOFF_MAX_MS ? AGENT_BACKOFF_MAX_MS : s->backoff_ms * 2;
}

static void on_server_closed(uv_handle_t *h)
{
    agent_server_t *s = h->data;
    s->state = AGENT_SERVER_DOWN;
    if (s->agent->stopping)
        agent_stop_step(s->agent);
    else
        retry_later(s, "connection closed");
}

static void server_close(agent_server_t *s, const char *why)
{
    if (!s->open)
        return;
    if (!s->agent->stopping)
        outage(s, why);
    s->open = 0;
    s->state = AGENT_SERVER_CLOSING;
    hc_metrics_gauge_set(s->up, 0);
    uv_close(&s->h.handle, on_server_closed);
}

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    static char sink[512]; /* HEP servers send nothing: whatever comes is discarded */
    (void)h;
    (void)size;
    *buf = uv_buf_init(sink, sizeof(sink));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0)
        server_close(st->data, nread == UV_EOF ? "closed by the server" : uv_strerror((int)nread));
}

static void on_connected(uv_connect_t *req, int status)
{
    agent_server_t *s = req->data;
    if (status == UV_ECANCELED || !s->open)
        return;
    if (status < 0) {
        s->addr_idx++; /* a name with several addresses: the next attempt tries another */
        server_close(s, uv_strerror(status));
        return;
    }
    uv_read_start(&s->h.stream, on_alloc, on_read);
    set_up(s);
}

/* Opens a socket to sa. */
static void server_open(agent_server_t *s, const struct sockaddr *sa)
{
    uv_loop_t *loop = s->agent->loop;
    int rc;
    s->h.handle.data = s;
    if (s->agent->tcp) {
        uv_tcp_init(loop, &s->h.tcp);
        s->open = 1;
        uv_tcp_nodelay(&s->h.tcp, 1);
        s->connect_req.data = s;
        s->state = AGENT_SERVER_CONNECTING;
        if ((rc = uv_tcp_connect(&s->connect_req, &s->h.tcp, sa, on_connected)) < 0)
            server_close(s, uv_strerror(rc));
        return;
    }
    uv_udp_init(loop, &s->h.udp);
    s->open = 1;
    if ((rc = uv_udp_connect(&s->h.udp, sa)) < 0) {
        server_close(s, uv_strerror(rc));
        return;
    }
    set_up(s);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    agent_server_t *s = req->data;
    if (s->agent->stopping) {
        uv_freeaddrinfo(res);
        agent_stop_step(s->agent);
        return;
    }
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        retry_later(s, status < 0 ? uv_strerror(status) : "no address");
        return;
    }
    /* The address after the last one refused (localhost may give ::1 first to a server
     * that listens on 127.0.0.1 only); the one that worked while it keeps working. */
    size_t n = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        n++;
    struct addrinfo *pick = res;
    for (size_t i = s->addr_idx % n; i; i--)
        pick = pick->ai_next;
    memcpy(&s->sa, pick->ai_addr, pick->ai_addrlen);
    uv_freeaddrinfo(res);
    server_open(s, (struct sockaddr *)&s->sa);
}

static void server_connect(agent_server_t *s)
{
    if (s->agent->stopping)
        return;
    if (s->numeric) {
        server_open(s, (struct sockaddr *)&s->sa);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = s->agent->tcp ? SOCK_STREAM : SOCK_DGRAM};
    s->gai.data = s;
    s->state = AGENT_SERVER_RESOLVING;
    int rc = uv_getaddrinfo(s->agent->loop, &s->gai, on_resolved, s->host, s->port, &hints);
    if (rc < 0)
        retry_later(s, uv_strerror(rc));
}

int agent_send_start(agent_t *a)
{
    static const char *const server_label[] = {"server", NULL};
    hc_metric_t *sent =
        hc_metrics_counter(a->metrics, "hearth_agent_hep_sent_total",
                           "HEP packets handed to the kernel, per server.", server_label);
    hc_metric_t *errors = hc_metrics_counter(a->metrics, "hearth_agent_send_errors_total",
                                             "Sends that failed, per server.", server_label);
    hc_metric_t *up = hc_metrics_gauge(a->metrics, "hearth_agent_server_up",
                                       "1 while the HEP server's socket is ready.", server_label);
    for (size_t i = 0; i < a->nservers; i++) {
        agent_server_t *s = &a->servers[i];
        const char *v[] = {s->name};
        s->agent = a;
        s->pending_tail = &s->pending;
        s->backoff_ms = AGENT_BACKOFF_MIN_MS;
        s->sent = hc_metrics_series(sent, v);
        s->errors = hc_metrics_series(errors, v);
        s->up = hc_metrics_series(up, v);
        uv_timer_init(a->loop, &s->retry);
        s->retry.data = s;
        s->retry_open = 1;
        server_connect(s);
    }
    return 0;
}

static void on_retry_closed(uv_handle_t *h)
{
    agent_server_t *s = h->data;
    agent_stop_step(s->agent);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    server_close(req->data, NULL);
}

void agent_send_stop(agent_t *a, int force)
{
    for (size_t i = 0; i < a->nservers; i++) {
        agent_server_t *s = &a->servers[i];
        if (force) {
            server_close(s, NULL);
            continue;
        }
        pending_drop(s);
        if (s->retry_open) {
            s->retry_open = 0;
            a->stop_steps++;
            uv_close((uv_handle_t *)&s->retry, on_retry_closed);
        }
        if (s->state == AGENT_SERVER_RESOLVING) {
            a->stop_steps++; /* on_resolved fires, cancelled or not */
            uv_cancel((uv_req_t *)&s->gai);
        }
        if (s->state == AGENT_SERVER_CLOSING)
            a->stop_steps++; /* on_server_closed is on its way */
        if (!s->open)
            continue;
        a->stop_steps++; /* on_server_closed */
        s->shutdown_req.data = s;
        if (!(a->tcp && s->state == AGENT_SERVER_UP &&
              uv_shutdown(&s->shutdown_req, &s->h.stream, on_shutdown) == 0))
            server_close(s, NULL);
    }
}
