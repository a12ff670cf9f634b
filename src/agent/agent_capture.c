/* Capture (agent_int.h): libpcap in non-blocking mode (20 ms blocks) with its descriptor
 * polled on the loop; each frame is decoded (agent_decode.c), UDP datagrams become one
 * message each, TCP segments go through agent_reasm.c, and every message passes the
 * -dim and -dd filters before agent_send.c encodes it. A one-second sweep expires
 * fragments and idle flows and reads the kernel's drop count. */
#include "agent/agent_int.h"

#include "core/hc_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DISPATCH_BATCH 256 /* frames per pcap_dispatch call */
#define DISPATCH_ROUNDS 16 /* calls per wake-up, so the loop's other work gets its turn */
#define DRAIN_ROUNDS 256   /* at stop: up to 64k frames still in the ring */
#define SWEEP_MS 1000

/* The frame being handled, for messages reassembly completes. */
typedef struct frame_ctx {
    agent_t *a;
    const agent_pkt_t *pkt;
    const struct timeval *ts;
} frame_ctx_t;

static void drop(agent_t *a, enum agent_drop why)
{
    hc_metrics_counter_inc(a->dropped[why]);
}

static void discard(agent_t *a, enum agent_discard why)
{
    hc_metrics_counter_inc(a->discarded[why]);
}

/* One SIP message (a UDP payload or a reassembled TCP message) through the filters. */
static void message(agent_t *a, const agent_pkt_t *pkt, const struct timeval *ts,
                    const uint8_t *msg, size_t len)
{
    while (len && (*msg == '\r' || *msg == '\n')) { /* RFC 3261 §7.5: ignore leading CRLF */
        msg++;
        len--;
    }
    if (!agent_reasm_is_sip(msg, len)) {
        discard(a, AGENT_DISCARD_NOT_SIP);
        return;
    }
    hc_metrics_counter_inc(a->sip);
    if (agent_dim_match(&a->dim, msg, len)) {
        discard(a, AGENT_DISCARD_METHOD);
        return;
    }
    uint64_t ms = (uint64_t)ts->tv_sec * 1000 + (uint64_t)ts->tv_usec / 1000;
    if (a->dedup && agent_dedup_seen(a->dd, msg, len, ms)) {
        discard(a, AGENT_DISCARD_DUPLICATE);
        return;
    }
    agent_send_sip(a, pkt, ts, msg, len);
}

static void on_tcp_message(void *arg, const agent_flow_key_t *key, const uint8_t *msg, size_t len)
{
    frame_ctx_t *fc = arg;
    (void)key; /* the segment that completed the message has the same addresses */
    hc_metrics_counter_inc(fc->a->reassembled);
    message(fc->a, fc->pkt, fc->ts, msg, len);
}

static int in_range(const agent_t *a, uint16_t port)
{
    return port >= a->port_lo && port <= a->port_hi;
}

static void on_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    agent_t *a = (agent_t *)user;
    agent_pkt_t pkt;
    hc_metrics_counter_inc(a->captured);
    int rc = agent_decode(a->dlt, bytes, h->caplen, a->defrag, uv_now(a->loop), &pkt);
    if (rc == AGENT_DECODE_TRUNCATED)
        drop(a, AGENT_DROP_TRUNCATED);
    else if (rc == AGENT_DECODE_MALFORMED)
        drop(a, AGENT_DROP_MALFORMED);
    if (rc != AGENT_DECODE_OK) /* fragment drops are counted by agent_capture_sync */
        return;
    /* Fragments pass the BPF filter whatever their ports: check them now. */
    if (!in_range(a, pkt.sport) && !in_range(a, pkt.dport))
        return;
    if (pkt.defragmented)
        hc_metrics_counter_inc(a->defragmented);
    if (pkt.proto == 17) {
        message(a, &pkt, &h->ts, pkt.payload, pkt.len);
        return;
    }
    agent_tcp_seg_t seg = {.key = {.family = pkt.family, .sport = pkt.sport, .dport = pkt.dport},
                           .seq = pkt.seq,
                           .flags = pkt.tcp_flags,
                           .data = pkt.payload,
                           .len = pkt.len};
    memcpy(seg.key.src, pkt.src, sizeof(pkt.src));
    memcpy(seg.key.dst, pkt.dst, sizeof(pkt.dst));
    frame_ctx_t fc = {a, &pkt, &h->ts};
    agent_reasm_segment(a->reasm, &seg, uv_now(a->loop), on_tcp_message, &fc);
}

/* No more frames will come: the heartbeat turns unhealthy and polling stops (a poll
 * left on a broken descriptor would wake the loop forever). */
static void capture_fail(agent_t *a, const char *error)
{
    hc_log(HC_LOG_ERROR, "capture stopped", HC_LS("interface", a->iface), HC_LS("error", error),
           NULL);
    a->capture_failed = 1;
    uv_poll_stop(&a->poll);
}

/* Reads up to rounds batches of frames; stops early when the ring has no more. */
static void capture_read(agent_t *a, int rounds)
{
    for (int i = 0; i < rounds && !a->capture_failed; i++) {
        int n = pcap_dispatch(a->pcap, DISPATCH_BATCH, on_frame, (u_char *)a);
        if (n < 0)
            capture_fail(a, pcap_geterr(a->pcap));
        if (n < DISPATCH_BATCH)
            return;
    }
}

static void on_readable(uv_poll_t *poll, int status, int events)
{
    agent_t *a = poll->data;
    (void)events;
    if (status < 0) {
        capture_fail(a, uv_strerror(status));
        return;
    }
    capture_read(a, DISPATCH_ROUNDS);
}

int agent_capture_draining(const agent_t *a)
{
    return a->poll_open && !a->capture_failed;
}

void agent_capture_drain(agent_t *a)
{
    if (agent_capture_draining(a))
        capture_read(a, DRAIN_ROUNDS);
}

/* Adds to counter c what total gained since *seen. */
static void sync_counter(hc_series_t *c, uint64_t total, uint64_t *seen)
{
    if (total > *seen)
        hc_metrics_counter_add(c, total - *seen);
    *seen = total;
}

void agent_capture_sync(agent_t *a)
{
    if (!a->pcap)
        return;
    hc_series_t *frag_map[AGENT_DEFRAG_NDROPS] = {
        [AGENT_DEFRAG_DROP_TIMEOUT] = a->dropped[AGENT_DROP_FRAG_TIMEOUT],
        [AGENT_DEFRAG_DROP_EVICTED] = a->dropped[AGENT_DROP_FRAG_EVICTED],
        [AGENT_DEFRAG_DROP_OVERLAP] = a->dropped[AGENT_DROP_FRAG_INVALID],
        [AGENT_DEFRAG_DROP_TOO_BIG] = a->dropped[AGENT_DROP_FRAG_INVALID],
        [AGENT_DEFRAG_DROP_BAD] = a->dropped[AGENT_DROP_FRAG_INVALID],
        [AGENT_DEFRAG_DROP_ORPHAN] = a->discarded[AGENT_DISCARD_FRAGMENT_ORPHAN],
    };
    for (int i = 0; i < AGENT_DEFRAG_NDROPS; i++)
        sync_counter(frag_map[i], agent_defrag_drops(a->defrag, i), &a->seen_frag[i]);
    hc_series_t *reasm_map[AGENT_REASM_NDROPS] = {
        [AGENT_REASM_DROP_GAP] = a->dropped[AGENT_DROP_TCP_GAP],
        [AGENT_REASM_DROP_OVERSIZE] = a->dropped[AGENT_DROP_TCP_OVERSIZE],
        [AGENT_REASM_DROP_NOT_SIP] = a->discarded[AGENT_DISCARD_NOT_SIP],
        [AGENT_REASM_DROP_EVICTED] = a->dropped[AGENT_DROP_TCP_EVICTED],
        [AGENT_REASM_DROP_TLS] = a->discarded[AGENT_DISCARD_TLS],
    };
    for (int i = 0; i < AGENT_REASM_NDROPS; i++)
        sync_counter(reasm_map[i], agent_reasm_drops(a->reasm, i), &a->seen_reasm[i]);
    struct pcap_stat st;
    if (pcap_stats(a->pcap, &st) == 0)
        sync_counter(a->dropped[AGENT_DROP_KERNEL], (uint64_t)st.ps_drop + st.ps_ifdrop,
                     &a->kernel_drops);
}

static void on_sweep(uv_timer_t *t)
{
    agent_t *a = t->data;
    uint64_t now = uv_now(a->loop);
    agent_defrag_expire(a->defrag, now);
    agent_reasm_expire(a->reasm, now);
    agent_capture_sync(a);
}

/* pcap_create + options + activate, with the reason in words when it fails. */
static int open_pcap(agent_t *a)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    a->pcap = pcap_create(a->iface, errbuf);
    if (!a->pcap) {
        hc_log(HC_LOG_ERROR, "cannot open the capture interface", HC_LS("interface", a->iface),
               HC_LS("error", errbuf), NULL);
        return -ENODEV;
    }
    pcap_set_snaplen(a->pcap, a->snaplen);
    pcap_set_promisc(a->pcap, strcmp(a->iface, "any") != 0);
    pcap_set_timeout(a->pcap, AGENT_CAPTURE_BLOCK_MS);
    pcap_set_buffer_size(a->pcap, a->buffer_mb << 20);
    int rc = pcap_activate(a->pcap);
    if (rc < 0) {
        const char *hint = rc == PCAP_ERROR_PERM_DENIED      ? "capturing needs root or CAP_NET_RAW"
                           : rc == PCAP_ERROR_NO_SUCH_DEVICE ? "no such interface (see `ip link`)"
                                                             : NULL;
        hc_log(HC_LOG_ERROR, "cannot start capturing", HC_LS("interface", a->iface),
               HC_LS("error", pcap_geterr(a->pcap)), HC_LS("hint", hint), NULL);
        return rc == PCAP_ERROR_PERM_DENIED ? -EPERM : -ENODEV;
    }
    if (rc > 0)
        hc_log(HC_LOG_WARN, "capture started with a warning", HC_LS("interface", a->iface),
               HC_LS("warning", pcap_statustostr(rc)), NULL);
    a->dlt = pcap_datalink(a->pcap);
    if (!agent_decode_supported(a->dlt)) {
        hc_log(HC_LOG_ERROR, "unsupported link type", HC_LS("interface", a->iface),
               HC_LS("link_type", pcap_datalink_val_to_name(a->dlt)), NULL);
        return -ENOTSUP;
    }
    return 0;
}

static int set_filter(agent_t *a)
{
    char text[256];
    struct bpf_program prog;
    agent_bpf_string(a->port_lo, a->port_hi, text, sizeof(text));
    if (pcap_compile(a->pcap, &prog, text, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        hc_log(HC_LOG_ERROR, "cannot compile the capture filter", HC_LS("filter", text),
               HC_LS("error", pcap_geterr(a->pcap)), NULL);
        return -EINVAL;
    }
    int rc = pcap_setfilter(a->pcap, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        hc_log(HC_LOG_ERROR, "cannot set the capture filter", HC_LS("filter", text),
               HC_LS("error", pcap_geterr(a->pcap)), NULL);
        return -EINVAL;
    }
    hc_log(HC_LOG_INFO, "capturing", HC_LS("interface", a->iface),
           HC_LS("link_type", pcap_datalink_val_to_name(a->dlt)), HC_LS("filter", text), NULL);
    return 0;
}

int agent_capture_start(agent_t *a)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    int rc;
    a->defrag = agent_defrag_new();
    a->reasm = agent_reasm_new();
    a->dd = agent_dedup_new();
    if ((rc = open_pcap(a)) != 0 || (rc = set_filter(a)) != 0)
        return rc;
    if (pcap_setnonblock(a->pcap, 1, errbuf) != 0) {
        hc_log(HC_LOG_ERROR, "cannot make the capture non-blocking", HC_LS("error", errbuf), NULL);
        return -EIO;
    }
    int fd = pcap_get_selectable_fd(a->pcap);
    if (fd < 0 || (rc = uv_poll_init(a->loop, &a->poll, fd)) != 0) {
        hc_log(HC_LOG_ERROR, "cannot poll the capture", HC_LS("interface", a->iface), NULL);
        return -EIO;
    }
    a->poll.data = a;
    a->poll_open = 1;
    uv_poll_start(&a->poll, UV_READABLE, on_readable);
    uv_timer_init(a->loop, &a->sweep);
    a->sweep.data = a;
    a->sweep_open = 1;
    uv_timer_start(&a->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    return 0;
}

static void on_capture_closed(uv_handle_t *h)
{
    agent_stop_step(h->data);
}

void agent_capture_stop(agent_t *a)
{
    if (a->poll_open) {
        a->poll_open = 0;
        a->stop_steps++;
        uv_close((uv_handle_t *)&a->poll, on_capture_closed);
    }
    if (a->sweep_open) {
        a->sweep_open = 0;
        a->stop_steps++;
        uv_close((uv_handle_t *)&a->sweep, on_capture_closed);
    }
}
