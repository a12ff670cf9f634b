/* pcap 2.4 files of captured messages (the format libpcap, tshark and Wireshark read:
 * magic 0xA1B2C3D4 little-endian, µs timestamps, snaplen 65536, linktype 1 Ethernet).
 * Each message becomes one frame with synthetic Ethernet, IPv4 or IPv6 and UDP or TCP
 * headers (lengths and checksums correct, TCP sequence numbers advancing per direction),
 * keeping the transport the message travelled on; Homer's export writes UDP for all.
 * The call export (GET /api/calls/{callid}.pcap) writes into an hc_buf. */
#ifndef CAPTURE_PCAP_H
#define CAPTURE_PCAP_H

#include "core/hc_buf.h"

#include <stddef.h>
#include <stdint.h>

/* Directed TCP flows whose sequence numbers a writer tracks; past this, the least
 * recently added flow starts over at sequence 1. */
#define CAPTURE_PCAP_MAX_FLOWS 64

typedef struct capture_pcap_msg {
    int64_t time_us;             /* capture time, µs since the epoch */
    const char *src_ip, *dst_ip; /* textual IPv4 or IPv6, both of one family */
    uint16_t src_port, dst_port;
    int ip_proto; /* 6 TCP and 22 (kamailio's "TLS") as TCP; others UDP */
    const uint8_t *payload;
    size_t len; /* at most 65535 minus the IP and transport headers */
} capture_pcap_msg_t;

typedef struct capture_pcap {
    hc_buf_t *out; /* not owned */
    uint16_t ip_id;
    unsigned nflows, next_evict;
    struct capture_pcap_flow {
        uint8_t key[38]; /* family, addresses, ports */
        uint32_t seq;    /* next sequence number of this direction */
    } flows[CAPTURE_PCAP_MAX_FLOWS];
} capture_pcap_t;

/** Starts a file in out (appends the 24-byte global header). Returns 0 or -ENOBUFS. */
int capture_pcap_begin(capture_pcap_t *w, hc_buf_t *out);

/** Appends one frame for m. Returns 0, -EINVAL (addresses not parseable or of mixed
 *  families), -EMSGSIZE (payload too large for one IP packet) or -ENOBUFS (out's
 *  maximum; nothing appended). */
int capture_pcap_add(capture_pcap_t *w, const capture_pcap_msg_t *m);

#endif
