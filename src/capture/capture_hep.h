/* HEP, the Homer Encapsulation Protocol: decoding v1/v2 (fixed header) and v3 (chunks)
 * as real senders write them, quirks included (facts: ../shared/reference/capture.md),
 * and encoding v3 for the agent, the load generator and tests. Pure functions. */
#ifndef CAPTURE_HEP_H
#define CAPTURE_HEP_H

#include <stddef.h>
#include <stdint.h>

/* HEP payload types (chunk 0x000b) */
enum capture_proto {
    CAPTURE_PROTO_SIP = 1,
    CAPTURE_PROTO_RTCP = 5,
    CAPTURE_PROTO_RTCPXR = 34, /* "35" in heplify's table names is the log/report type */
    CAPTURE_PROTO_LOG = 100,
};

/* Why a packet was refused; counted per reason on /metrics. */
enum capture_hep_error {
    CAPTURE_HEP_OK = 0,
    CAPTURE_HEP_TRUNCATED,   /* shorter than its header or a chunk says */
    CAPTURE_HEP_BAD_VERSION, /* not HEP1/2/3 */
    CAPTURE_HEP_BAD_CHUNK,   /* chunk length < 6 or past the end */
    CAPTURE_HEP_BAD_ADDRESS, /* address family / length mismatch */
    CAPTURE_HEP_NO_PAYLOAD,
    CAPTURE_HEP_BAD_COMPRESSION,
    CAPTURE_HEP_AUTH,       /* --hep-password set and the auth key differs */
    CAPTURE_HEP_BAD_LENGTH, /* HEP3 header length differs from the datagram's length */
    CAPTURE_HEP_NERRORS,
};

const char *capture_hep_error_name(enum capture_hep_error e);

typedef struct capture_hep {
    int version;  /* 1, 2 or 3 */
    int family;   /* AF_INET or AF_INET6 */
    int ip_proto; /* 17 UDP, 6 TCP, 132 SCTP, ... */
    char src_ip[46], dst_ip[46];
    uint16_t src_port, dst_port;
    uint32_t ts_sec, ts_usec;
    uint32_t proto_type; /* enum capture_proto */
    uint32_t capture_id;
    const char *auth_key;
    size_t auth_key_len; /* into the packet or NULL */
    const char *correlation_id;
    size_t correlation_id_len;
    const char *node_name;
    size_t node_name_len;
    uint16_t vlan;
    const uint8_t *payload;
    size_t payload_len; /* the packet's bytes, or scratch when the
                           payload was compressed */
} capture_hep_t;

/** Decodes one HEP packet of len bytes. scratch (scratch_cap bytes, may be NULL) receives
 *  an inflated payload. Returns CAPTURE_HEP_OK and fills *h, or the reason it refused. */
enum capture_hep_error capture_hep_decode(const uint8_t *pkt, size_t len, capture_hep_t *h,
                                          uint8_t *scratch, size_t scratch_cap);

/** For TCP streams: the length of the HEP3 packet starting at p (needs 6 bytes), 0 when
 *  more bytes are needed, or -1 when p does not start a HEP3 packet (resync). */
long capture_hep_frame(const uint8_t *p, size_t avail);

/** After capture_hep_frame returned -1: the offset (>= 1) of the next place in p that may
 *  start a HEP3 packet (the next "HEP3", or the start of a partial "HEP" at the end);
 *  the caller drops that many bytes and frames again. */
size_t capture_hep_resync(const uint8_t *p, size_t avail);

/** Encodes h (payload, addresses, times, ids; auth key, correlation id and node name when
 *  set) as HEP3 into out. Returns the length, or -1 when cap is too small. */
long capture_hep_encode(const capture_hep_t *h, uint8_t *out, size_t cap);

#endif
