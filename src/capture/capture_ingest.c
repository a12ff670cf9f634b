/* HEP in: one UDP socket (recvmmsg, a large receive buffer) and a TCP listener whose
 * streams are framed by the HEP3 length and resynchronised on garbage, both on the
 * service loop. Each packet is decoded (capture_hep.h), checked against --hep-password,
 * deduplicated within --dedup, parsed (capture_sip.h), turned into heplify's row
 * (capture_record.h) and offered to the bounded queue (capture_batch.c). Nothing here
 * waits: a refused packet is counted by reason on /metrics and logged at most once per
 * second per reason. */
#include "capture/capture_int.h"
#include "capture/capture_record.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_runtime.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define UDP_SLOT 65536      /* libuv's recvmmsg slot size */
#define UDP_SLOTS 32        /* datagrams per recvmmsg call */
#define TCP_BUF (2 * 65536) /* per connection: one largest frame and a bit */
#define TCP_MAX_CONNS 256
#define SCRATCH (256 * 1024) /* inflated payloads */
#define DEDUP_SLOTS 65536    /* power of two */
#define NREASONS (CAPTURE_HEP_NERRORS + 4)

typedef struct conn {
    uv_tcp_t tcp;
    capture_svc_t *svc;
    struct conn *prev, *next;
    size_t len;
    uint8_t buf[TCP_BUF];
} conn_t;

typedef struct dedup_slot {
    uint64_t hash;
    uint64_t t_ms;
} dedup_slot_t;

struct capture_ingest {
    uv_udp_t udp;
    uv_tcp_t tcp;
    int udp_on, tcp_on;
    conn_t *conns;
    size_t nconns;
    int closing;
    void (*done)(capture_svc_t *svc);
    unsigned long udp_inode; /* the UDP socket's inode, to find it in /proc/net/udp */
    uint8_t *udp_buf;
    uint8_t *scratch;
    capture_record_t rec;
    dedup_slot_t *dedup;
    unsigned long long last_log_ms[NREASONS + 1]; /* the last one: queue-full drops */
    uint64_t suppressed[NREASONS + 1];
};

static const char *const extra_reasons[] = {"not_sip", "no_sid", "tcp_framing", "too_big"};

const char *capture_ingest_reason_name(int reason)
{
    if (reason >= CAPTURE_HEP_NERRORS && reason < NREASONS)
        return extra_reasons[reason - CAPTURE_HEP_NERRORS];
    return capture_hep_error_name((enum capture_hep_error)reason);
}

void capture_ingest_error(capture_svc_t *svc, int reason, const char *detail)
{
    capture_ingest_t *in = svc->ingest;
    svc->n.errors++;
    if (reason < 0 || reason >= NREASONS)
        reason = CAPTURE_HEP_TRUNCATED;
    hc_metrics_counter_inc(svc->m_errors[reason]);
    unsigned long long now = hc_now_ms();
    if (in->last_log_ms[reason] && now - in->last_log_ms[reason] < 1000) {
        in->suppressed[reason]++;
        return;
    }
    hc_log(HC_LOG_WARN, "capture: packet refused",
           HC_LS("reason", capture_ingest_reason_name(reason)), HC_LS("detail", detail),
           HC_LI("suppressed", in->suppressed[reason]), NULL);
    in->last_log_ms[reason] = now;
    in->suppressed[reason] = 0;
}

/* A packet refused because the queue is full: counted, and logged like the errors. */
static void dropped(capture_svc_t *svc)
{
    capture_ingest_t *in = svc->ingest;
    svc->n.dropped++;
    hc_metrics_counter_inc(svc->m_dropped);
    unsigned long long now = hc_now_ms();
    if (in->last_log_ms[NREASONS] && now - in->last_log_ms[NREASONS] < 1000) {
        in->suppressed[NREASONS]++;
        return;
    }
    hc_log(HC_LOG_WARN, "capture: queue full, packets dropped", HC_LI("queue", svc->queue_max),
           HC_LI("dropped_total", svc->n.dropped), HC_LI("suppressed", in->suppressed[NREASONS]),
           NULL);
    in->last_log_ms[NREASONS] = now;
    in->suppressed[NREASONS] = 0;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* FNV-1a, 64 bits: the payload's identity for --dedup. */
static uint64_t payload_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h ? h : 1;
}

/* 1 when the same payload was seen within the window. A direct-mapped table: a
 * collision forgets the older payload (a duplicate may pass), never drops a new one. */
static int dedup_seen(capture_svc_t *svc, const capture_hep_t *h)
{
    capture_ingest_t *in = svc->ingest;
    uint64_t hv = payload_hash(h->payload, h->payload_len), now = hc_now_ms();
    dedup_slot_t *s = &in->dedup[hv & (DEDUP_SLOTS - 1)];
    if (s->hash == hv && now - s->t_ms <= svc->dedup_ms)
        return 1;
    s->hash = hv;
    s->t_ms = now;
    return 0;
}

static hc_series_t *packets_series(capture_svc_t *svc, uint32_t type)
{
    unsigned i = type > 255 ? 255 : type;
    if (!svc->m_packets[i]) {
        char name[16];
        const char *v = type == CAPTURE_PROTO_SIP    ? "sip"
                        : type == CAPTURE_PROTO_RTCP ? "rtcp"
                        : type == CAPTURE_PROTO_LOG  ? "log"
                        : type > 255                 ? "other"
                                     : (snprintf(name, sizeof(name), "%u", type), name);
        svc->m_packets[i] = hc_metrics_series(svc->m_packets_family, (const char *[]){v});
    }
    return svc->m_packets[i];
}

static int auth_ok(const capture_svc_t *svc, const capture_hep_t *h)
{
    size_t n = strlen(svc->hep_password);
    return h->auth_key && h->auth_key_len == n &&
           CRYPTO_memcmp(h->auth_key, svc->hep_password, n) == 0;
}

void capture_ingest_packet(capture_svc_t *svc, const uint8_t *pkt, size_t len)
{
    capture_ingest_t *in = svc->ingest;
    capture_hep_t h;
    svc->n.packets++;
    enum capture_hep_error e = capture_hep_decode(pkt, len, &h, in->scratch, SCRATCH);
    if (e != CAPTURE_HEP_OK) {
        capture_ingest_error(svc, e, NULL);
        return;
    }
    hc_metrics_counter_inc(packets_series(svc, h.proto_type));
    if (svc->hep_password && !auth_ok(svc, &h)) {
        capture_ingest_error(svc, CAPTURE_HEP_AUTH, h.src_ip);
        return;
    }
    if (svc->dedup_ms && dedup_seen(svc, &h)) {
        svc->n.duplicates++;
        hc_metrics_counter_inc(svc->m_duplicates);
        return;
    }
    if (capture_batch_depth(svc) >= svc->queue_max) { /* refuse before the costly part */
        dropped(svc);
        return;
    }
    capture_sip_t sip, *sp = NULL;
    if (h.proto_type == CAPTURE_PROTO_SIP) {
        if (capture_sip_parse((const char *)h.payload, h.payload_len, &sip) != 0) {
            capture_ingest_error(svc, CAPTURE_ERR_NOT_SIP, h.src_ip);
            return;
        }
        sp = &sip;
    }
    int rc = capture_record_build(&in->rec, &h, sp, now_us());
    if (rc) {
        capture_ingest_error(svc, rc == -ENOBUFS ? CAPTURE_ERR_TOO_BIG : CAPTURE_ERR_NO_SID,
                             h.src_ip);
        return;
    }
    const capture_record_t *r = &in->rec;
    int t = capture_table_index(r->table);
    capture_row_t *row = capture_row_new(
        t < 0 ? CAPTURE_T_35_DEFAULT : t, r->create_date_us, r->sid, r->sid_len, r->protocol_header,
        r->protocol_header_len, r->data_header, r->data_header_len, r->raw, r->raw_len);
    if (capture_batch_push(svc, row) != 0) {
        dropped(svc);
        return;
    }
    if (sp)
        capture_calls_update(svc, &h, sp, r->create_date_us);
}

/* ---- UDP ---- */

/* Datagrams the kernel dropped on our socket because its receive buffer was full: the
 * last column of our line in /proc/net/udp(6), matched by inode. */
uint64_t capture_ingest_socket_drops(capture_svc_t *svc)
{
    capture_ingest_t *in = svc->ingest;
    if (!in || !in->udp_inode)
        return 0;
    static const char *const files[] = {"/proc/net/udp", "/proc/net/udp6"};
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        char line[512];
        while (fp && fgets(line, sizeof(line), fp)) {
            unsigned long inode = 0;
            unsigned long long drops = 0;
            /* sl local rem st tx:rx tr:when retr uid timeout inode ref ptr drops */
            if (sscanf(line, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %*s %*s %llu", &inode,
                       &drops) == 2 &&
                inode == in->udp_inode) {
                fclose(fp);
                return drops;
            }
        }
        if (fp)
            fclose(fp);
    }
    return 0;
}

static double socket_drops_fn(void *arg)
{
    return (double)capture_ingest_socket_drops(arg);
}

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    capture_svc_t *svc = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)svc->ingest->udp_buf, UDP_SLOT * UDP_SLOTS);
}

static void udp_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags)
{
    capture_svc_t *svc = u->data;
    (void)flags;
    if (nread < 0) {
        hc_log(HC_LOG_WARN, "capture: UDP receive failed", HC_LS("error", uv_strerror((int)nread)),
               NULL);
        return;
    }
    if (nread == 0 || !addr)
        return; /* nothing more, or the end of a recvmmsg batch */
    capture_ingest_packet(svc, (const uint8_t *)buf->base, (size_t)nread);
}

static int udp_start(capture_svc_t *svc)
{
    capture_ingest_t *in = svc->ingest;
    const struct sockaddr *sa = (const struct sockaddr *)&svc->hep_sa;
    int rc = uv_udp_init_ex(svc->loop, &in->udp, sa->sa_family | UV_UDP_RECVMMSG);
    if (rc)
        return rc;
    in->udp.data = svc;
    in->udp_on = 1;
    if ((rc = uv_udp_bind(&in->udp, sa, UV_UDP_REUSEADDR)) != 0)
        return rc;
    uv_os_fd_t fd;
    int want = (int)svc->udp_rcvbuf, got = 0; /* SO_RCVBUFFORCE passes rmem_max (root) */
    socklen_t gl = sizeof(got);
    if (uv_fileno((uv_handle_t *)&in->udp, &fd) == 0) {
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) != 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
        struct stat sb;
        if (fstat(fd, &sb) == 0)
            in->udp_inode = (unsigned long)sb.st_ino;
    }
    hc_metrics_series_set_fn(svc->m_socket_drops, socket_drops_fn, svc);
    hc_log(HC_LOG_INFO, "capture: UDP receive buffer", HC_LI("bytes", got), NULL);
    return uv_udp_recv_start(&in->udp, udp_alloc, udp_recv);
}

/* ---- TCP ---- */

static void conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    capture_svc_t *svc = c->svc;
    capture_ingest_t *in = svc->ingest;
    if (c->prev)
        c->prev->next = c->next;
    else
        in->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    in->nconns--;
    hc_free(c);
    if (in->closing && !in->nconns && !in->udp_on && !in->tcp_on && in->done) {
        void (*done)(capture_svc_t *) = in->done;
        in->done = NULL;
        done(svc);
    }
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(TCP_BUF - c->len));
}

/* Frames every complete HEP3 packet in c->buf; skips bytes that cannot start one. */
static void conn_frame(conn_t *c)
{
    size_t off = 0;
    while (c->len - off >= 4) {
        const uint8_t *p = c->buf + off;
        size_t avail = c->len - off;
        long n = capture_hep_frame(p, avail);
        if (n == 0)
            break;
        if (n < 0) {
            size_t skip = capture_hep_resync(p, avail);
            char detail[48];
            snprintf(detail, sizeof(detail), "%zu bytes skipped", skip);
            capture_ingest_error(c->svc, CAPTURE_ERR_TCP_FRAMING, detail);
            off += skip;
            continue;
        }
        if ((size_t)n > avail)
            break;
        capture_ingest_packet(c->svc, p, (size_t)n);
        off += (size_t)n;
    }
    if (off) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    (void)buf;
    if (nread < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, conn_closed);
        return;
    }
    c->len += (size_t)nread;
    conn_frame(c);
}

static void on_tcp_conn(uv_stream_t *server, int status)
{
    capture_svc_t *svc = server->data;
    capture_ingest_t *in = svc->ingest;
    if (status < 0)
        return;
    conn_t *c = hc_malloc(sizeof(*c));
    memset(c, 0, offsetof(conn_t, buf));
    c->svc = svc;
    uv_tcp_init(svc->loop, &c->tcp);
    c->tcp.data = c;
    c->next = in->conns;
    if (in->conns)
        in->conns->prev = c;
    in->conns = c;
    in->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || in->nconns > TCP_MAX_CONNS) {
        if (in->nconns > TCP_MAX_CONNS)
            hc_log(HC_LOG_WARN, "capture: too many HEP TCP connections",
                   HC_LI("max", TCP_MAX_CONNS), NULL);
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

int capture_ingest_start(capture_svc_t *svc)
{
    capture_ingest_t *in = hc_calloc(1, sizeof(*in));
    svc->ingest = in;
    in->udp_buf = hc_malloc(UDP_SLOT * UDP_SLOTS);
    in->scratch = hc_malloc(SCRATCH);
    in->dedup = hc_calloc(DEDUP_SLOTS, sizeof(*in->dedup));
    capture_record_init(&in->rec);
    int rc = udp_start(svc);
    if (rc) {
        hc_log(HC_LOG_ERROR, "capture: cannot listen for HEP on UDP",
               HC_LS("error", uv_strerror(rc)), NULL);
        return rc;
    }
    rc = hc_tcp_listen(svc->loop, &in->tcp, (const struct sockaddr *)&svc->hep_sa, 0, 128,
                       on_tcp_conn);
    if (rc) {
        hc_log(HC_LOG_ERROR, "capture: cannot listen for HEP on TCP", HC_LS("error", strerror(-rc)),
               NULL);
        return rc;
    }
    in->tcp.data = svc;
    in->tcp_on = 1;
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    capture_svc_t *svc = h->data;
    capture_ingest_t *in = svc->ingest;
    if (h == (uv_handle_t *)&in->udp)
        in->udp_on = 0;
    else
        in->tcp_on = 0;
    if (!in->nconns && !in->udp_on && !in->tcp_on && in->done) {
        void (*done)(capture_svc_t *) = in->done;
        in->done = NULL;
        done(svc);
    }
}

void capture_ingest_stop(capture_svc_t *svc, void (*done)(capture_svc_t *svc))
{
    capture_ingest_t *in = svc->ingest;
    if (!in) {
        done(svc);
        return;
    }
    in->closing = 1;
    in->done = done;
    hc_metrics_series_set_fn(svc->m_socket_drops, NULL, NULL);
    int pending = in->udp_on || in->tcp_on || in->nconns;
    if (in->udp_on)
        uv_close((uv_handle_t *)&in->udp, listener_closed);
    if (in->tcp_on)
        uv_close((uv_handle_t *)&in->tcp, listener_closed);
    for (conn_t *c = in->conns; c; c = c->next)
        if (!uv_is_closing((uv_handle_t *)&c->tcp))
            uv_close((uv_handle_t *)&c->tcp, conn_closed);
    if (!pending) {
        in->done = NULL;
        done(svc);
    }
}

/** Frees what capture_ingest_start allocated (after capture_ingest_stop finished). */
void capture_ingest_free(capture_svc_t *svc)
{
    capture_ingest_t *in = svc->ingest;
    if (!in)
        return;
    capture_record_free(&in->rec);
    hc_free(in->udp_buf);
    hc_free(in->scratch);
    hc_free(in->dedup);
    hc_free(in);
    svc->ingest = NULL;
}
