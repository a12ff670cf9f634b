/* SIP over TCP reassembly (agent_reasm.h): a hash table of flows (one per direction),
 * each an in-order byte buffer holding at most one partial message, cut by
 * agent_reasm_frame. Flows also sit on a list from least to most recently used, so
 * eviction and expiry cost O(1) per flow however full the table is. Content-Length is
 * read with capture_sip_header, the same header lookup the capture server uses, so
 * compact forms (`l:`) and folding behave alike. */
#include "agent/agent_reasm.h"

#include "capture/capture_sip.h"
#include "core/hc_alloc.h"

#include <string.h>
#include <sys/socket.h>

#define NBUCKETS (2 * AGENT_REASM_MAX_FLOWS) /* a power of two */
#define MAX_START_LINE 8192
#define MAX_METHOD 32
#define FIRST_BUF 4096 /* a flow's first buffer; it doubles from there */

typedef struct flow {
    agent_flow_key_t key;
    struct flow *next;                /* hash chain */
    struct flow *lru_prev, *lru_next; /* least recently used first */
    uint64_t last_ms;
    uint32_t next_seq;
    size_t skip; /* bytes of an oversize message still to pass over */
    int tls;     /* began with a TLS record: ignored until it ends */
    uint8_t *buf;
    size_t len, cap;
} flow_t;

struct agent_reasm {
    flow_t *buckets[NBUCKETS];
    flow_t *lru_head, *lru_tail;
    size_t nflows;
    size_t bytes; /* buffer capacity held by every flow */
    uint64_t drops[AGENT_REASM_NDROPS];
};

/* ---- framing ---- */

/* RFC 3261 §25.1 token characters. */
static int is_token(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-.!%*_+`'~", c));
}

/* Matches the literal lit against p (n bytes available): 1 matched, 0 matched so far
 * but input ended, -1 differs. */
static int lit(const uint8_t *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    size_t m = n < l ? n : l;
    if (memcmp(p, lit, m))
        return -1;
    return n >= l;
}

/* Is p a SIP start line (RFC 3261 §7.1 Request-Line or §7.2 Status-Line)? 1 yes, 0 not
 * yet decidable (input ends inside a line that is valid so far), -1 no. */
static int start_line(const uint8_t *p, size_t n)
{
    size_t i = 0;
    int r;
    if (n && p[0] == 'S' && (r = lit(p, n, "SIP/2.0 ")) >= 0) {
        if (!r)
            return 0;
        for (i = 8; i < 11; i++) {
            if (i >= n)
                return 0;
            if (p[i] < '0' || p[i] > '9')
                return -1;
        }
        if (i >= n)
            return 0;
        return p[i] == ' ' ? 1 : -1;
    }
    while (i < n && i < MAX_METHOD && is_token(p[i]))
        i++;
    if (i == n)
        return 0;
    if (i == 0 || p[i] != ' ')
        return -1;
    size_t uri = ++i;
    while (i < n && i - uri < MAX_START_LINE && p[i] > ' ' && p[i] < 0x7f)
        i++;
    if (i == n)
        return 0;
    if (i == uri || p[i] != ' ')
        return -1;
    i++;
    r = lit(p + i, n - i, "SIP/2.0\r\n");
    return r;
}

int agent_reasm_is_sip(const uint8_t *p, size_t n)
{
    return start_line(p, n) == 1;
}

int agent_reasm_is_tls(const uint8_t *p, size_t n)
{
    return n >= 3 && p[0] >= 20 && p[0] <= 23 && p[1] == 3 && p[2] <= 4;
}

static const uint8_t *find_crlfcrlf(const uint8_t *p, size_t n)
{
    for (size_t i = 3; i < n; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
            return p + i - 3;
    return NULL;
}

/* Content-Length's value: 0 when absent, -1 when not a number (RFC 3261 §20.14: 1*DIGIT). */
static long content_length(const uint8_t *head, size_t len)
{
    capture_str_t v = capture_sip_header((const char *)head, len, "Content-Length");
    long cl = 0;
    size_t i = 0;
    while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
        i++;
    if (v.len && i == v.len)
        return -1;
    for (; i < v.len && v.p[i] >= '0' && v.p[i] <= '9'; i++) {
        if (cl > 100000000)
            return -1;
        cl = cl * 10 + (v.p[i] - '0');
    }
    while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
        i++;
    return i == v.len ? cl : -1;
}

long agent_reasm_frame(const uint8_t *p, size_t avail, size_t *skip)
{
    *skip = 0;
    int sl = start_line(p, avail);
    if (sl < 0)
        return -1;
    size_t look = avail < AGENT_REASM_MAX_HEADER ? avail : AGENT_REASM_MAX_HEADER;
    const uint8_t *end = sl > 0 ? find_crlfcrlf(p, look) : NULL;
    if (!end)
        return avail >= AGENT_REASM_MAX_HEADER ? -2 : 0;
    size_t head = (size_t)(end - p) + 4;
    long cl = content_length(p, head - 2);
    if (cl < 0)
        return -1;
    size_t total = head + (size_t)cl;
    if (total > AGENT_REASM_MAX_MSG) {
        *skip = total;
        return -2;
    }
    return avail >= total ? (long)total : 0;
}

/* ---- flows ---- */

agent_reasm_t *agent_reasm_new(void)
{
    return hc_calloc(1, sizeof(agent_reasm_t));
}

static void flow_free(flow_t *f)
{
    hc_free(f->buf);
    hc_free(f);
}

void agent_reasm_free(agent_reasm_t *r)
{
    if (!r)
        return;
    for (flow_t *f = r->lru_head, *next; f; f = next) {
        next = f->lru_next;
        flow_free(f);
    }
    hc_free(r);
}

size_t agent_reasm_flows(const agent_reasm_t *r)
{
    return r->nflows;
}

size_t agent_reasm_bytes(const agent_reasm_t *r)
{
    return r->bytes;
}

uint64_t agent_reasm_drops(const agent_reasm_t *r, enum agent_reasm_drop why)
{
    return why < AGENT_REASM_NDROPS ? r->drops[why] : 0;
}

static size_t key_hash(const agent_flow_key_t *k)
{
    size_t n = k->family == AF_INET6 ? 16 : 4;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    const uint8_t *parts[2] = {k->src, k->dst};
    for (int j = 0; j < 2; j++)
        for (size_t i = 0; i < n; i++)
            h = (h ^ parts[j][i]) * 1099511628211ULL;
    h = (h ^ k->sport) * 1099511628211ULL;
    h = (h ^ k->dport) * 1099511628211ULL;
    return (size_t)(h & (NBUCKETS - 1));
}

static int key_eq(const agent_flow_key_t *a, const agent_flow_key_t *b)
{
    size_t n = a->family == AF_INET6 ? 16 : 4;
    return a->family == b->family && a->sport == b->sport && a->dport == b->dport &&
           !memcmp(a->src, b->src, n) && !memcmp(a->dst, b->dst, n);
}

static void lru_unlink(agent_reasm_t *r, flow_t *f)
{
    *(f->lru_prev ? &f->lru_prev->lru_next : &r->lru_head) = f->lru_next;
    *(f->lru_next ? &f->lru_next->lru_prev : &r->lru_tail) = f->lru_prev;
    f->lru_prev = f->lru_next = NULL;
}

static void lru_append(agent_reasm_t *r, flow_t *f)
{
    f->lru_prev = r->lru_tail;
    f->lru_next = NULL;
    *(r->lru_tail ? &r->lru_tail->lru_next : &r->lru_head) = f;
    r->lru_tail = f;
}

static void flow_remove(agent_reasm_t *r, flow_t *f)
{
    flow_t **pp = &r->buckets[key_hash(&f->key)];
    while (*pp != f)
        pp = &(*pp)->next;
    *pp = f->next;
    lru_unlink(r, f);
    r->nflows--;
    r->bytes -= f->cap;
    flow_free(f);
}

static flow_t *flow_find(agent_reasm_t *r, const agent_flow_key_t *k)
{
    for (flow_t *f = r->buckets[key_hash(k)]; f; f = f->next)
        if (key_eq(&f->key, k))
            return f;
    return NULL;
}

/* Forgets the least recently used flow other than keep (what it buffered is lost).
 * Returns 0, or -1 when keep is the only flow left. */
static int evict_idlest(agent_reasm_t *r, const flow_t *keep)
{
    flow_t *old = r->lru_head != keep ? r->lru_head : keep->lru_next;
    if (!old)
        return -1;
    r->drops[AGENT_REASM_DROP_EVICTED]++;
    flow_remove(r, old);
    return 0;
}

static flow_t *flow_add(agent_reasm_t *r, const agent_flow_key_t *k)
{
    if (r->nflows >= AGENT_REASM_MAX_FLOWS)
        evict_idlest(r, NULL);
    flow_t *f = hc_calloc(1, sizeof(*f));
    f->key = *k;
    size_t h = key_hash(k);
    f->next = r->buckets[h];
    r->buckets[h] = f;
    lru_append(r, f);
    r->nflows++;
    return f;
}

void agent_reasm_expire(agent_reasm_t *r, uint64_t now_ms)
{
    while (r->lru_head && now_ms - r->lru_head->last_ms >= AGENT_REASM_IDLE_MS)
        flow_remove(r, r->lru_head);
}

/* Appends n bytes to f's buffer, within AGENT_REASM_MAX_BYTES over all flows: idle
 * flows are evicted to make room. Returns 0, or -1 when even that cannot (then nothing
 * was appended). */
static int buf_append(agent_reasm_t *r, flow_t *f, const uint8_t *p, size_t n)
{
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : FIRST_BUF;
        while (cap < f->len + n)
            cap *= 2;
        while (r->bytes - f->cap + cap > AGENT_REASM_MAX_BYTES)
            if (evict_idlest(r, f))
                return -1;
        f->buf = hc_realloc(f->buf, cap);
        r->bytes += cap - f->cap;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, p, n);
    f->len += n;
    return 0;
}

/* An empty buffer goes back, so idle flows hold no memory (most messages arrive whole
 * in one segment and never need one). */
static void buf_trim(agent_reasm_t *r, flow_t *f)
{
    if (f->len || !f->buf)
        return;
    hc_free(f->buf);
    f->buf = NULL;
    r->bytes -= f->cap;
    f->cap = 0;
}

/* The offset of the next line start at or after from that may begin a start line, or
 * n when none does. */
static size_t resync(const uint8_t *p, size_t n, size_t from)
{
    for (size_t i = from; i < n; i++)
        if ((i == 0 || p[i - 1] == '\n') && start_line(p + i, n - i) >= 0)
            return i;
    return n;
}

/* Cuts every complete message from the front of p (n bytes: the flow's buffer, or a
 * segment when nothing is buffered) and adds them to *count. Returns the bytes used; the
 * rest begins a message still incomplete. */
static size_t cut(agent_reasm_t *r, flow_t *f, const uint8_t *p, size_t n, agent_reasm_emit_cb emit,
                  void *arg, int *count)
{
    size_t off = 0;
    while (off < n) {
        if (p[off] == '\r' || p[off] == '\n') { /* keep-alives, RFC 5626 §3.5.1 */
            off++;
            continue;
        }
        size_t skip;
        long m = agent_reasm_frame(p + off, n - off, &skip);
        if (m > 0) {
            emit(arg, &f->key, p + off, (size_t)m);
            off += (size_t)m;
            (*count)++;
        } else if (m == 0) {
            break;
        } else if (m == -1) {
            r->drops[AGENT_REASM_DROP_NOT_SIP]++;
            off = resync(p, n, off + 1);
        } else {
            r->drops[AGENT_REASM_DROP_OVERSIZE]++;
            if (skip && skip <= n - off) {
                off += skip;
            } else {
                f->skip = skip ? skip - (n - off) : 0;
                off = n; /* unknown length: the next start line resyncs */
            }
        }
    }
    return off;
}

/* Forgets a partial message (counted by the caller) and its buffer. */
static void flow_reset(agent_reasm_t *r, flow_t *f)
{
    f->len = f->skip = 0;
    buf_trim(r, f);
}

/* Appends a segment's bytes (after any skip) and cuts what completes. Messages that
 * arrive whole in one segment are cut from it directly, without a copy. */
static int flow_data(agent_reasm_t *r, flow_t *f, const uint8_t *data, size_t len,
                     agent_reasm_emit_cb emit, void *arg)
{
    int n = 0;
    if (!f->len) {
        size_t used = cut(r, f, data, len, emit, arg, &n);
        data += used;
        len -= used;
    }
    if (!len || buf_append(r, f, data, len) != 0) {
        if (len) { /* over the byte budget with no other flow to evict */
            r->drops[AGENT_REASM_DROP_OVERSIZE]++;
            flow_reset(r, f);
        }
        return n;
    }
    if (f->len > len) { /* a partial message was waiting: the new bytes may complete it */
        size_t used = cut(r, f, f->buf, f->len, emit, arg, &n);
        memmove(f->buf, f->buf + used, f->len - used);
        f->len -= used;
        buf_trim(r, f);
    }
    return n;
}

int agent_reasm_segment(agent_reasm_t *r, const agent_tcp_seg_t *seg, uint64_t now_ms,
                        agent_reasm_emit_cb emit, void *arg)
{
    flow_t *f = flow_find(r, &seg->key);
    const uint8_t *data = seg->data;
    size_t len = seg->len;
    uint32_t seq = seg->seq;
    if (!f && !len && !(seg->flags & AGENT_TCP_SYN))
        return 0; /* an ACK or FIN of a flow not tracked: nothing to keep */
    if (!f) {
        f = flow_add(r, &seg->key);
        f->next_seq = seq;
    }
    f->last_ms = now_ms;
    lru_unlink(r, f);
    lru_append(r, f);
    if (seg->flags & AGENT_TCP_SYN) { /* a new connection on the same ports */
        if ((f->len || f->skip) && !f->tls)
            r->drops[AGENT_REASM_DROP_GAP]++;
        flow_reset(r, f);
        f->tls = 0;
        f->next_seq = ++seq;
    }
    int32_t diff = (int32_t)(seq - f->next_seq);
    if (diff > 0) { /* a segment is missing: what was buffered cannot complete */
        if (f->len || f->skip)
            r->drops[AGENT_REASM_DROP_GAP]++;
        flow_reset(r, f);
    } else if (diff < 0) { /* a retransmission, maybe with new bytes at its end */
        size_t old = (size_t)(-(int64_t)diff);
        if (old >= len)
            len = 0;
        else {
            data += old;
            len -= old;
            seq = f->next_seq;
        }
    }
    int n = 0;
    if (len && !f->len && !f->skip && agent_reasm_is_tls(data, len))
        f->tls = 1;
    if (len && f->tls) {
        r->drops[AGENT_REASM_DROP_TLS]++;
        f->next_seq = seq + (uint32_t)len;
    } else if (len) {
        f->next_seq = seq + (uint32_t)len;
        size_t s = f->skip < len ? f->skip : len;
        f->skip -= s;
        n = flow_data(r, f, data + s, len - s, emit, arg);
    }
    if (seg->flags & (AGENT_TCP_FIN | AGENT_TCP_RST)) {
        if ((f->len || f->skip) && !f->tls)
            r->drops[AGENT_REASM_DROP_GAP]++;
        flow_remove(r, f);
    }
    return n;
}
