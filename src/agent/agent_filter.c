/* The agent's filters (agent_filter.h): port range and BPF text, -dim methods against
 * the CSeq header (read through capture_sip_header, as the capture server reads it),
 * and the -dd duplicate window. */
#include "agent/agent_filter.h"

#include "capture/capture_sip.h"
#include "core/hc_alloc.h"
#include "core/hc_err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- -pr ---- */

static int port_parse(const char *s, size_t n, uint16_t *out)
{
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

int agent_portrange_parse(const char *text, uint16_t *lo, uint16_t *hi, char *err, size_t errlen)
{
    const char *dash = text ? strchr(text, '-') : NULL;
    uint16_t a, b;
    if (!text)
        return hc_errf(err, errlen, -EINVAL, "-pr needs a port range such as 5060-5090");
    size_t la = dash ? (size_t)(dash - text) : strlen(text);
    if (port_parse(text, la, &a) ||
        port_parse(dash ? dash + 1 : text, dash ? strlen(dash + 1) : la, &b) || a > b)
        return hc_errf(
            err, errlen, -EINVAL,
            "-pr \"%.40s\" is not a port range: give FIRST-LAST, e.g. 5060-5090 (ports 1-65535)",
            text);
    *lo = a;
    *hi = b;
    return 0;
}

int agent_bpf_string(uint16_t lo, uint16_t hi, char *out, size_t outlen)
{
    /* pcap-filter(7): "and" and "or" share one precedence, so every group is bracketed.
     * ip[6:2] & 0x1fff is the IPv4 fragment offset; ip6[6] = 44 a fragment header right
     * after the fixed IPv6 header (RFC 8200 §4.5). */
    int n = snprintf(
        out, outlen,
        "((udp or tcp) and portrange %u-%u) or (ip[6:2] & 0x1fff != 0) or (ip6[6] = 44)", lo, hi);
    return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}

/* ---- -dim ---- */

/* The methods SIP defines: RFC 3261 §27.4 and the RFCs it lists since. */
static const char *const sip_methods[] = {
    "INVITE", "ACK",     "BYE",  "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
    "NOTIFY", "PUBLISH", "INFO", "REFER",  "MESSAGE", "UPDATE",   NULL,
};

static const char *method_known(const char *s, size_t n)
{
    for (const char *const *m = sip_methods; *m; m++)
        if (strlen(*m) == n && !strncasecmp(*m, s, n))
            return *m;
    return NULL;
}

int agent_dim_parse(const char *text, agent_dim_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *p = text ? text : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (n && isspace((unsigned char)*s))
            s++, n--;
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
        p += end ? (size_t)(end - p) + 1 : strlen(p);
        if (!n)
            continue;
        const char *m = method_known(s, n);
        if (!m)
            return hc_errf(err, errlen, -EINVAL,
                           "-dim \"%.*s\" is not a SIP method: -dim lists SIP methods to discard, "
                           "compared with each message's CSeq method (e.g. -dim OPTIONS,NOTIFY); "
                           "known methods: INVITE ACK BYE CANCEL OPTIONS REGISTER PRACK SUBSCRIBE "
                           "NOTIFY PUBLISH INFO REFER MESSAGE UPDATE. SIP is always captured with "
                           "its SDP bodies: to keep every message, leave -dim out",
                           (int)(n > 40 ? 40 : n), s);
        if (out->n == AGENT_DIM_MAX)
            return hc_errf(err, errlen, -EINVAL, "-dim lists more than %d methods", AGENT_DIM_MAX);
        snprintf(out->methods[out->n++], sizeof(out->methods[0]), "%s", m);
    }
    return 0;
}

int agent_cseq_method(const uint8_t *msg, size_t len, const char **method, size_t *mlen)
{
    /* RFC 3261 §20.16: CSeq = 1*DIGIT LWS Method */
    capture_str_t v = capture_sip_header((const char *)msg, len, "CSeq");
    size_t i = 0;
    while (i < v.len && isspace((unsigned char)v.p[i]))
        i++;
    size_t d = i;
    while (i < v.len && isdigit((unsigned char)v.p[i]))
        i++;
    if (i == d)
        return -1;
    while (i < v.len && isspace((unsigned char)v.p[i]))
        i++;
    size_t m = i;
    while (i < v.len && !isspace((unsigned char)v.p[i]))
        i++;
    if (i == m)
        return -1;
    *method = v.p + m;
    *mlen = i - m;
    return 0;
}

int agent_dim_match(const agent_dim_t *d, const uint8_t *msg, size_t len)
{
    const char *m;
    size_t n;
    if (!d->n || agent_cseq_method(msg, len, &m, &n))
        return 0;
    for (size_t i = 0; i < d->n; i++)
        if (strlen(d->methods[i]) == n && !strncasecmp(d->methods[i], m, n))
            return 1;
    return 0;
}

/* ---- -dd ---- */

typedef struct dedup_slot {
    uint64_t hash;
    uint64_t seen_ms;
    uint32_t len;
} dedup_slot_t;

struct agent_dedup {
    dedup_slot_t slots[AGENT_DEDUP_SLOTS];
};

agent_dedup_t *agent_dedup_new(void)
{
    return hc_calloc(1, sizeof(agent_dedup_t));
}

void agent_dedup_free(agent_dedup_t *d)
{
    hc_free(d);
}

int agent_dedup_seen(agent_dedup_t *d, const uint8_t *payload, size_t len, uint64_t now_ms)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ payload[i]) * 1099511628211ULL;
    h |= 1; /* 0 marks an empty slot */
    dedup_slot_t *s = &d->slots[h % AGENT_DEDUP_SLOTS];
    int dup =
        s->hash == h && s->len == (uint32_t)len && now_ms - s->seen_ms < AGENT_DEDUP_WINDOW_MS;
    if (!dup) { /* the window runs from the first copy, as heplify's does */
        s->hash = h;
        s->len = (uint32_t)len;
        s->seen_ms = now_ms;
    }
    return dup;
}
