/* IP defragmentation for the capture agent: IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5)
 * fragments are put back together in a bounded table, so a SIP INVITE larger than the
 * path MTU still reaches the HEP server whole. Pure: no I/O, no clock of its own (callers
 * pass now_ms), one table per capture thread. */
#ifndef AGENT_DEFRAG_H
#define AGENT_DEFRAG_H

#include <stddef.h>
#include <stdint.h>

/* Limits: datagrams being reassembled at once, their largest size (the IPv4/IPv6 payload
 * length field is 16 bits) and how long a datagram may wait for its missing pieces
 * (RFC 8200 §4.5 says 60 s; SIP retransmits long before that). */
#define AGENT_DEFRAG_MAX_DATAGRAMS 64
#define AGENT_DEFRAG_MAX_BYTES 65535
#define AGENT_DEFRAG_TIMEOUT_MS 10000

/* Why fragments were given up on; the agent counts each on /metrics. */
enum agent_defrag_drop {
    AGENT_DEFRAG_DROP_TIMEOUT, /* a datagram never completed */
    AGENT_DEFRAG_DROP_EVICTED, /* the table was full: the oldest datagram went (one missing
                                * its first fragment goes first) */
    AGENT_DEFRAG_DROP_OVERLAP, /* fragments that overlap with different bounds (RFC 5722) */
    AGENT_DEFRAG_DROP_TOO_BIG, /* offset + length past 65535 */
    AGENT_DEFRAG_DROP_BAD,     /* a non-final fragment whose length is not a multiple of 8 */
    AGENT_DEFRAG_DROP_ORPHAN,  /* timed out or evicted without its first fragment: the
                                * capture filter keeps every later fragment, so these are
                                * mostly other ports' datagrams whose first one it left out */
    AGENT_DEFRAG_NDROPS,
};

/* One fragment as the decoder found it. Addresses are 4 or 16 bytes by family. */
typedef struct agent_frag {
    int family; /* AF_INET or AF_INET6 */
    uint8_t src[16], dst[16];
    uint32_t id;         /* IPv4 identification (16 bits) or IPv6 fragment id */
    uint8_t proto;       /* IPv4 protocol, or the IPv6 fragment header's next header */
    uint32_t offset;     /* byte offset of data in the original payload */
    int more;            /* the MF / M flag */
    const uint8_t *data; /* the fragment's payload (after the IP / fragment header) */
    size_t len;
} agent_frag_t;

typedef struct agent_defrag agent_defrag_t;

/** A new empty table. Free with agent_defrag_free. */
agent_defrag_t *agent_defrag_new(void);
/** Frees the table and every partial datagram; NULL is fine. */
void agent_defrag_free(agent_defrag_t *d);

/** Adds one fragment received at now_ms. Returns 1 when it completed its datagram: *out
 *  and *outlen then hold the whole original payload (what followed the IP header), valid
 *  until the next call on d. Returns 0 when the fragment was kept (or was an exact
 *  duplicate), and -1 when it was refused (counted in the drop counters). Datagrams older
 *  than AGENT_DEFRAG_TIMEOUT_MS are expired first. */
int agent_defrag_add(agent_defrag_t *d, const agent_frag_t *f, uint64_t now_ms, const uint8_t **out,
                     size_t *outlen);

/** Expires datagrams older than AGENT_DEFRAG_TIMEOUT_MS at now_ms (a periodic sweep, so
 *  a quiet link does not hold memory). */
void agent_defrag_expire(agent_defrag_t *d, uint64_t now_ms);

/** Datagrams waiting for fragments. */
size_t agent_defrag_pending(const agent_defrag_t *d);

/** Drops so far, by reason; and datagrams completed. */
uint64_t agent_defrag_drops(const agent_defrag_t *d, enum agent_defrag_drop why);
uint64_t agent_defrag_completed(const agent_defrag_t *d);

#endif
