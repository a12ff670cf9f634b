/* What the agent keeps and what it leaves out, as pure functions the tests drive
 * directly: heplify's -pr port range and the BPF filter built from it, -dim (SIP methods
 * to discard, matched against the CSeq method of requests and responses), and -dd
 * (identical payloads within a short window are sent once). */
#ifndef AGENT_FILTER_H
#define AGENT_FILTER_H

#include <stddef.h>
#include <stdint.h>

/* ---- -pr: port range ---- */

/** Parses "5060-5090" or "5060" into *lo and *hi (1..65535, lo <= hi). Returns 0 or -EINVAL
 *  with a message in err. */
int agent_portrange_parse(const char *text, uint16_t *lo, uint16_t *hi, char *err, size_t errlen);

/** Writes the capture filter for ports lo-hi into out: UDP and TCP on the range, plus
 *  every IPv4 fragment after the first and every IPv6 packet with a fragment header
 *  (later fragments carry no ports, so a port filter alone would lose them). Returns 0
 *  or -ENOSPC. */
int agent_bpf_string(uint16_t lo, uint16_t hi, char *out, size_t outlen);

/* ---- -dim: discard by CSeq method ---- */

#define AGENT_DIM_MAX 16

typedef struct agent_dim {
    size_t n;
    char methods[AGENT_DIM_MAX][16]; /* upper case */
} agent_dim_t;

/** Parses a comma list of SIP methods ("OPTIONS,NOTIFY", any case, spaces allowed).
 *  Each must be a method SIP defines (RFC 3261 and its extensions: INVITE ACK BYE CANCEL
 *  OPTIONS REGISTER PRACK SUBSCRIBE NOTIFY PUBLISH INFO REFER MESSAGE UPDATE): anything
 *  else, such as heplify's documented `sip,sdp`, is refused with a message saying -dim
 *  compares CSeq methods. NULL or "" gives an empty list. Returns 0 or -EINVAL. */
int agent_dim_parse(const char *text, agent_dim_t *out, char *err, size_t errlen);

/** The CSeq method of the SIP message msg (len bytes) into *method and *mlen (a view into
 *  msg). Returns 0, or -1 when the message has no readable CSeq. */
int agent_cseq_method(const uint8_t *msg, size_t len, const char **method, size_t *mlen);

/** 1 when msg's CSeq method is one of d's (case-insensitively), else 0. */
int agent_dim_match(const agent_dim_t *d, const uint8_t *msg, size_t len);

/* ---- -dd: duplicate payloads ---- */

/* heplify's documented window (its code comment says 400 ms; the cache it uses counts
 * expiry in seconds and is given 4). A SIP retransmission (T1 = 500 ms) is kept. */
#define AGENT_DEDUP_WINDOW_MS 400
#define AGENT_DEDUP_SLOTS 8192

typedef struct agent_dedup agent_dedup_t;

/** A new, empty duplicate detector. Free with agent_dedup_free (NULL fine). */
agent_dedup_t *agent_dedup_new(void);
void agent_dedup_free(agent_dedup_t *d);

/** 1 when the same bytes (payload, len) were seen less than AGENT_DEDUP_WINDOW_MS before
 *  now_ms, else 0 (and remembers them). A 64-bit hash stands for the bytes; slots are
 *  overwritten, so under heavy load a duplicate may pass, but distinct payloads are
 *  never merged unless their hashes and lengths collide. */
int agent_dedup_seen(agent_dedup_t *d, const uint8_t *payload, size_t len, uint64_t now_ms);

#endif
