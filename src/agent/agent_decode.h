/* Captured frames to transport payloads: the link layers libpcap hands the agent
 * (Ethernet with 802.1Q/802.1ad tags, Linux cooked v1 and v2 from `any`, BSD loopback,
 * raw IP), IPv4 and IPv6 (extension headers walked, fragments through agent_defrag),
 * then UDP or TCP. Pure and bounds-checked: every length field is checked against the
 * bytes captured. */
#ifndef AGENT_DECODE_H
#define AGENT_DECODE_H

#include "agent/agent_defrag.h"

#include <stddef.h>
#include <stdint.h>

/* A UDP datagram or TCP segment. Views point into the frame or into the defrag table's
 * output, valid until the next agent_decode call. */
typedef struct agent_pkt {
    int family; /* AF_INET or AF_INET6 */
    uint8_t src[16], dst[16];
    uint8_t proto; /* 17 UDP or 6 TCP */
    uint16_t sport, dport;
    uint16_t vlan;      /* the outer 802.1Q id, 0 when untagged */
    uint32_t seq;       /* TCP only */
    unsigned tcp_flags; /* TCP only: AGENT_TCP_* of agent_reasm.h */
    int defragmented;   /* put together from IP fragments */
    const uint8_t *payload;
    size_t len;
} agent_pkt_t;

enum agent_decode_result {
    AGENT_DECODE_OK = 1,         /* *out holds a datagram or segment */
    AGENT_DECODE_HELD = 0,       /* a fragment, kept until its datagram completes */
    AGENT_DECODE_SKIP = -1,      /* not IP, or not UDP/TCP */
    AGENT_DECODE_TRUNCATED = -2, /* fewer bytes captured than the headers announce */
    AGENT_DECODE_MALFORMED = -3, /* a header that cannot be right */
    AGENT_DECODE_FRAG_DROP = -4, /* a fragment the defrag table refused */
};

/** Decodes one frame of link type dlt (a pcap DLT_* value) captured at now_ms. df
 *  receives fragments. Returns an enum agent_decode_result. (On `any`, libpcap itself
 *  drops the outgoing copy of loopback packets, so each is seen once.) */
int agent_decode(int dlt, const uint8_t *frame, size_t caplen, agent_defrag_t *df, uint64_t now_ms,
                 agent_pkt_t *out);

/** 1 when the link type is one agent_decode understands. */
int agent_decode_supported(int dlt);

#endif
