/* The agent's running state, shared by agent_service.c (options, HTTP, stop),
 * agent_capture.c (libpcap, decode, reassembly, filters) and agent_send.c (HEP out).
 * Everything runs on the service's one loop: pcap's descriptor is polled there, so no
 * state here is touched by two threads. */
#ifndef AGENT_INT_H
#define AGENT_INT_H

#include "agent/agent_decode.h"
#include "agent/agent_filter.h"
#include "agent/agent_reasm.h"
#include "capture/capture_hep.h"
#include "core/hc_http_server.h"
#include "core/hc_metrics.h"
#include "core/hc_router.h"
#include "core/hc_service.h"

#include <pcap/pcap.h>
#include <sys/socket.h>
#include <uv.h>

#define AGENT_MAX_SERVERS 8
#define AGENT_SEND_QUEUE_BYTES (8u << 20) /* per server: queued + in-flight HEP bytes */
#define AGENT_BACKOFF_MIN_MS 250
#define AGENT_BACKOFF_MAX_MS 30000
#define AGENT_HEP_MAX 65535
/* Not immediate mode: Linux then packs packets of any size into the ring's blocks
 * (TPACKET_V3) instead of one snaplen-sized slot each, so the -b buffer holds thousands
 * of messages; a block is handed over when full or after this long. */
#define AGENT_CAPTURE_BLOCK_MS 20

/* Why a captured message did not reach a HEP server (dropped_total{reason}). */
enum agent_drop {
    AGENT_DROP_TRUNCATED,    /* snap length or a short frame cut the headers */
    AGENT_DROP_MALFORMED,    /* impossible IP/UDP/TCP headers */
    AGENT_DROP_FRAG_TIMEOUT, /* IP fragments that never completed */
    AGENT_DROP_FRAG_EVICTED, /* the fragment table was full */
    AGENT_DROP_FRAG_INVALID, /* overlapping, oversize or misaligned fragments */
    AGENT_DROP_TCP_GAP,      /* a missing TCP segment lost a partial message */
    AGENT_DROP_TCP_OVERSIZE, /* a SIP message over 65000 bytes */
    AGENT_DROP_TCP_EVICTED,  /* the TCP flow table or its byte budget was full */
    AGENT_DROP_TOO_LARGE,    /* too large for one HEP packet */
    AGENT_DROP_QUEUE_FULL,   /* a server's send queue was full */
    AGENT_DROP_SEND_FAILED,  /* the socket refused it or the connection broke */
    AGENT_DROP_KERNEL,       /* the kernel's capture buffer overflowed (pcap_stats) */
    AGENT_NDROPS,
};

/* Messages left out on purpose (discarded_total{reason}). */
enum agent_discard {
    AGENT_DISCARD_METHOD,          /* -dim */
    AGENT_DISCARD_DUPLICATE,       /* -dd */
    AGENT_DISCARD_NOT_SIP,         /* keep-alives, STUN, bytes between messages */
    AGENT_DISCARD_TLS,             /* SIP over TLS segments (encrypted) */
    AGENT_DISCARD_FRAGMENT_ORPHAN, /* fragments whose first one never came (other ports) */
    AGENT_NDISCARDS,
};

typedef struct agent agent_t;
typedef struct agent_out agent_out_t;

/* One -hs destination. A name is resolved again before each (re)connection, so a
 * Kubernetes Service that moves is followed. */
enum agent_server_state {
    AGENT_SERVER_DOWN,       /* no socket; the retry timer runs */
    AGENT_SERVER_RESOLVING,  /* uv_getaddrinfo in flight */
    AGENT_SERVER_CONNECTING, /* TCP connect in flight */
    AGENT_SERVER_UP,         /* sending */
    AGENT_SERVER_CLOSING,    /* handle closing */
};

typedef struct agent_server {
    agent_t *agent;
    char name[128]; /* "host:port" as given */
    char host[100], port[8];
    int numeric;       /* host is an address: sa holds it */
    unsigned addr_idx; /* which of a name's addresses to use: moves on when a connect fails */
    struct sockaddr_storage sa;
    enum agent_server_state state;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_udp_t udp;
        uv_tcp_t tcp;
    } h;
    int open; /* h initialized and not closing */
    uv_getaddrinfo_t gai;
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    uv_timer_t retry;
    int retry_open;
    unsigned backoff_ms;
    int outage_logged;
    agent_out_t *pending, **pending_tail; /* waiting for the server to be up */
    size_t queued;                        /* bytes pending or being written */
    hc_series_t *sent, *errors, *up;
} agent_server_t;

struct agent {
    hc_service_ctx_t *ctx;
    uv_loop_t *loop;
    /* options */
    const char *iface; /* NULL: no capture (`hearth up` without -i) */
    uint16_t port_lo, port_hi;
    agent_dim_t dim;
    uint32_t capture_id;
    const char *node_name, *auth_key;
    int tcp, dedup;
    int snaplen, buffer_mb;
    struct sockaddr_storage metrics_sa;
    /* capture */
    pcap_t *pcap;
    int dlt;
    uv_poll_t poll;
    int poll_open;
    uv_timer_t sweep; /* expiry of fragments and idle flows, kernel drop counts */
    int sweep_open;
    agent_defrag_t *defrag;
    agent_reasm_t *reasm;
    agent_dedup_t *dd;
    uint64_t kernel_drops; /* pcap_stats at the last sweep */
    uint64_t seen_frag[AGENT_DEFRAG_NDROPS], seen_reasm[AGENT_REASM_NDROPS];
    int capture_failed; /* pcap reported an error: no more frames come */
    /* sending */
    agent_server_t servers[AGENT_MAX_SERVERS];
    size_t nservers;
    uint8_t hep[AGENT_HEP_MAX];
    /* HTTP */
    hc_http_server_t *http;
    hc_router_t *router;
    /* metrics: a registry of the agent's own, served on -prometheus */
    hc_metrics_t *metrics;
    hc_series_t *captured, *sip, *reassembled, *defragmented;
    hc_series_t *dropped[AGENT_NDROPS], *discarded[AGENT_NDISCARDS];
    /* stop */
    int stopping; /* the HEP servers are closing: no reconnects */
    unsigned stop_steps;
    unsigned deadline_ms;
    uv_timer_t drain_timer; /* waits for the ring's last block before the capture closes */
    uv_timer_t stop_timer;
    int stop_timer_open;
    hc_service_stopped_cb stopped;
};

/* ---- agent_capture.c ---- */

/** Opens a->iface with libpcap (non-blocking, 20 ms ring blocks, the -pr BPF filter) and
 *  polls it on a->loop. Returns 0 or a negative errno after logging why. */
int agent_capture_start(agent_t *a);
/** 1 while frames may still sit in the capture ring (capturing and not failed). */
int agent_capture_draining(const agent_t *a);
/** At stop: handles every frame the ring holds now. The kernel hands a ring block over
 *  at most AGENT_CAPTURE_BLOCK_MS after its first frame, so a caller that waits that
 *  long after SIGTERM gets every frame captured before it. */
void agent_capture_drain(agent_t *a);
/** Stops polling and closes the capture; each closed handle calls agent_stop_step. */
void agent_capture_stop(agent_t *a);
/** Brings the kernel, fragment and reassembly drop counters into a->dropped. */
void agent_capture_sync(agent_t *a);

/* ---- agent_send.c ---- */

/** Parses -hs ("host:port[,host:port]") into a->servers. Returns 0 or -EINVAL with err. */
int agent_send_parse(agent_t *a, const char *list, char *err, size_t errlen);
/** Opens a socket per server (TCP connects in the background, with backoff). */
int agent_send_start(agent_t *a);
/** Encodes one SIP message of packet pkt (captured at hdr's time) as HEP3 and queues it
 *  for every server. */
void agent_send_sip(agent_t *a, const agent_pkt_t *pkt, const struct timeval *ts,
                    const uint8_t *msg, size_t len);
/** Closes every server: TCP connections flush their writes first; each closed handle
 *  calls agent_stop_step. force closes at once what is still open. */
void agent_send_stop(agent_t *a, int force);

/* ---- agent_service.c ---- */

/** Counts one finished step of the stop; the last one frees a and calls done. */
void agent_stop_step(agent_t *a);

#endif
