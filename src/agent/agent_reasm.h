/* SIP over TCP, put back into messages: each direction of a TCP connection is a flow
 * whose bytes are appended in sequence order and cut into SIP messages by the header
 * section's end and Content-Length (RFC 3261 §18.3: mandatory on stream transports).
 * Several messages in one segment and one message over several segments both work; a
 * gap (a lost segment) or a capture that starts mid-stream resynchronizes on the next
 * SIP start line; a message larger than AGENT_REASM_MAX_MSG is skipped whole and
 * counted; a flow that starts with a TLS record (SIP over TLS) is ignored. Memory is
 * bounded by flow count and by the bytes buffered over all flows; an idle flow gives its
 * buffer back. Pure: no I/O, the caller passes the time. */
#ifndef AGENT_REASM_H
#define AGENT_REASM_H

#include <stddef.h>
#include <stdint.h>

#define AGENT_REASM_MAX_FLOWS 16384       /* directions tracked at once (a power of two) */
#define AGENT_REASM_MAX_BYTES (64u << 20) /* partial messages buffered over all flows */
#define AGENT_REASM_MAX_MSG 65000         /* largest SIP message (fits one HEP3 packet) */
#define AGENT_REASM_MAX_HEADER 16384      /* a header section longer than this is not SIP */
#define AGENT_REASM_IDLE_MS (5 * 60000)   /* a flow with no segment this long is forgotten */

/* Why bytes were given up on; counted per reason. */
enum agent_reasm_drop {
    AGENT_REASM_DROP_GAP,      /* a segment was missing: the partial message went */
    AGENT_REASM_DROP_OVERSIZE, /* a message (or header section) over the limits */
    AGENT_REASM_DROP_NOT_SIP,  /* bytes skipped while looking for a SIP start line */
    AGENT_REASM_DROP_EVICTED,  /* the flow table or byte budget was full: the idlest flow went */
    AGENT_REASM_DROP_TLS,      /* segments of a TLS flow (encrypted, never SIP here) */
    AGENT_REASM_NDROPS,
};

/* One direction of a TCP connection. Addresses are 4 or 16 bytes by family. */
typedef struct agent_flow_key {
    int family;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
} agent_flow_key_t;

enum {
    AGENT_TCP_FIN = 0x01,
    AGENT_TCP_SYN = 0x02,
    AGENT_TCP_RST = 0x04,
};

typedef struct agent_tcp_seg {
    agent_flow_key_t key;
    uint32_t seq;
    unsigned flags; /* AGENT_TCP_* */
    const uint8_t *data;
    size_t len;
} agent_tcp_seg_t;

/** Receives one complete SIP message (len bytes, valid during the call only) of flow key. */
typedef void (*agent_reasm_emit_cb)(void *arg, const agent_flow_key_t *key, const uint8_t *msg,
                                    size_t len);

typedef struct agent_reasm agent_reasm_t;

/** A new empty flow table. Free with agent_reasm_free. */
agent_reasm_t *agent_reasm_new(void);
/** Frees every flow and its buffer; NULL is fine. */
void agent_reasm_free(agent_reasm_t *r);

/** Feeds one segment seen at now_ms; calls emit once per message it completes, in
 *  order, before returning. SYN starts a flow in sync; FIN or RST ends it (bytes that do
 *  not make a whole message are dropped then). Returns the number of messages emitted. */
int agent_reasm_segment(agent_reasm_t *r, const agent_tcp_seg_t *seg, uint64_t now_ms,
                        agent_reasm_emit_cb emit, void *arg);

/** Forgets flows idle for AGENT_REASM_IDLE_MS at now_ms (a periodic sweep). */
void agent_reasm_expire(agent_reasm_t *r, uint64_t now_ms);

/** Flows tracked; bytes of buffer they hold (at most AGENT_REASM_MAX_BYTES; a flow
 *  with no partial message holds none); drops so far by reason. */
size_t agent_reasm_flows(const agent_reasm_t *r);
size_t agent_reasm_bytes(const agent_reasm_t *r);
uint64_t agent_reasm_drops(const agent_reasm_t *r, enum agent_reasm_drop why);

/** The length of the SIP message at the start of p (avail bytes), for stream framing:
 *  > 0 the whole message's length (header section + Content-Length body), 0 when more
 *  bytes are needed, -1 when p does not start with a SIP start line, -2 when the header
 *  section or the message is over the limits (*skip then holds the full message length
 *  when it is known, else 0). Leading CRLFs are not skipped here. */
long agent_reasm_frame(const uint8_t *p, size_t avail, size_t *skip);

/** 1 when p (n bytes) begins with a complete SIP start line (RFC 3261 §7.1/§7.2), else 0:
 *  how a UDP datagram is told from keep-alives, STUN and other traffic on SIP ports. */
int agent_reasm_is_sip(const uint8_t *p, size_t n);

/** 1 when p (n bytes) begins like a TLS record (RFC 8446 §5.1: type 20-23, version 3.x). */
int agent_reasm_is_tls(const uint8_t *p, size_t n);

#endif
