/* IP defragmentation (agent_defrag.h): a small fixed table of partial datagrams, each a
 * buffer that grows to at most 65535 bytes and a bitmap of the 8-byte blocks received
 * (fragment offsets count in 8-byte units in both IPv4 and IPv6). */
#include "agent/agent_defrag.h"

#include "core/hc_alloc.h"

#include <string.h>
#include <sys/socket.h>

#define NBLOCKS ((AGENT_DEFRAG_MAX_BYTES + 7) / 8)

typedef struct dgram {
    int used;
    int family;
    uint8_t src[16], dst[16];
    uint32_t id;
    uint8_t proto;
    uint64_t first_ms;
    uint8_t *buf;
    size_t cap;
    uint32_t total;   /* payload length once the last fragment arrived, else 0 */
    uint32_t nblocks; /* blocks set in map */
    int have_first;   /* the fragment at offset 0 (with the transport header) is here */
    uint8_t map[(NBLOCKS + 7) / 8];
} dgram_t;

struct agent_defrag {
    dgram_t slots[AGENT_DEFRAG_MAX_DATAGRAMS];
    size_t pending;
    uint8_t *out; /* the last completed datagram, handed out until the next call */
    uint64_t drops[AGENT_DEFRAG_NDROPS];
    uint64_t completed;
};

agent_defrag_t *agent_defrag_new(void)
{
    return hc_calloc(1, sizeof(agent_defrag_t));
}

static void slot_release(agent_defrag_t *d, dgram_t *g)
{
    hc_free(g->buf);
    memset(g, 0, sizeof(*g));
    d->pending--;
}

void agent_defrag_free(agent_defrag_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < AGENT_DEFRAG_MAX_DATAGRAMS; i++)
        if (d->slots[i].used)
            slot_release(d, &d->slots[i]);
    hc_free(d->out);
    hc_free(d);
}

void agent_defrag_expire(agent_defrag_t *d, uint64_t now_ms)
{
    for (size_t i = 0; i < AGENT_DEFRAG_MAX_DATAGRAMS; i++) {
        dgram_t *g = &d->slots[i];
        if (g->used && now_ms - g->first_ms >= AGENT_DEFRAG_TIMEOUT_MS) {
            d->drops[g->have_first ? AGENT_DEFRAG_DROP_TIMEOUT : AGENT_DEFRAG_DROP_ORPHAN]++;
            slot_release(d, g);
        }
    }
}

size_t agent_defrag_pending(const agent_defrag_t *d)
{
    return d->pending;
}

uint64_t agent_defrag_drops(const agent_defrag_t *d, enum agent_defrag_drop why)
{
    return why < AGENT_DEFRAG_NDROPS ? d->drops[why] : 0;
}

uint64_t agent_defrag_completed(const agent_defrag_t *d)
{
    return d->completed;
}

static size_t addr_len(int family)
{
    return family == AF_INET6 ? 16 : 4;
}

static int same_key(const dgram_t *g, const agent_frag_t *f)
{
    size_t n = addr_len(f->family);
    return g->used && g->family == f->family && g->id == f->id && g->proto == f->proto &&
           !memcmp(g->src, f->src, n) && !memcmp(g->dst, f->dst, n);
}

/* The slot of f's datagram, a free one, or an evicted one: the oldest of those missing
 * their first fragment, else the oldest. */
static dgram_t *slot_for(agent_defrag_t *d, const agent_frag_t *f, uint64_t now_ms)
{
    dgram_t *free_slot = NULL, *oldest = NULL, *oldest_orphan = NULL;
    for (size_t i = 0; i < AGENT_DEFRAG_MAX_DATAGRAMS; i++) {
        dgram_t *g = &d->slots[i];
        if (same_key(g, f))
            return g;
        if (!g->used && !free_slot)
            free_slot = g;
        if (g->used && (!oldest || g->first_ms < oldest->first_ms))
            oldest = g;
        if (g->used && !g->have_first && (!oldest_orphan || g->first_ms < oldest_orphan->first_ms))
            oldest_orphan = g;
    }
    if (!free_slot) {
        free_slot = oldest_orphan ? oldest_orphan : oldest;
        d->drops[oldest_orphan ? AGENT_DEFRAG_DROP_ORPHAN : AGENT_DEFRAG_DROP_EVICTED]++;
        slot_release(d, free_slot);
    }
    size_t n = addr_len(f->family);
    free_slot->used = 1;
    free_slot->family = f->family;
    memcpy(free_slot->src, f->src, n);
    memcpy(free_slot->dst, f->dst, n);
    free_slot->id = f->id;
    free_slot->proto = f->proto;
    free_slot->first_ms = now_ms;
    d->pending++;
    return free_slot;
}

static int bit_get(const dgram_t *g, uint32_t b)
{
    return (g->map[b >> 3] >> (b & 7)) & 1;
}

/* 0: none of f's blocks were received; 1: all were, with the same bytes (a duplicate);
 * -1: a partial or different overlap. */
static int overlap(const dgram_t *g, const agent_frag_t *f, uint32_t b0, uint32_t b1)
{
    uint32_t set = 0;
    for (uint32_t b = b0; b < b1; b++)
        set += (uint32_t)bit_get(g, b);
    if (set == 0)
        return 0;
    if (set == b1 - b0 && f->offset + f->len <= g->cap &&
        !memcmp(g->buf + f->offset, f->data, f->len))
        return 1;
    return -1;
}

static int refuse(agent_defrag_t *d, dgram_t *g, enum agent_defrag_drop why)
{
    d->drops[why]++;
    if (g)
        slot_release(d, g);
    return -1;
}

int agent_defrag_add(agent_defrag_t *d, const agent_frag_t *f, uint64_t now_ms, const uint8_t **out,
                     size_t *outlen)
{
    hc_free(d->out);
    d->out = NULL;
    agent_defrag_expire(d, now_ms);
    uint64_t end = (uint64_t)f->offset + f->len;
    if (end > AGENT_DEFRAG_MAX_BYTES)
        return refuse(d, NULL, AGENT_DEFRAG_DROP_TOO_BIG);
    if (f->more && (f->len == 0 || f->len % 8))
        return refuse(d, NULL, AGENT_DEFRAG_DROP_BAD);
    dgram_t *g = slot_for(d, f, now_ms);
    uint32_t b0 = f->offset / 8, b1 = (uint32_t)((end + 7) / 8);
    if (!f->more && g->total && g->total != end)
        return refuse(d, g, AGENT_DEFRAG_DROP_OVERLAP);
    if (g->total && end > g->total)
        return refuse(d, g, AGENT_DEFRAG_DROP_OVERLAP);
    int ov = overlap(g, f, b0, b1);
    if (ov < 0)
        return refuse(d, g, AGENT_DEFRAG_DROP_OVERLAP);
    if (!f->more) {
        /* the last fragment: nothing received may lie past its end */
        for (uint32_t b = b1; b < NBLOCKS && g->nblocks; b++)
            if (bit_get(g, b))
                return refuse(d, g, AGENT_DEFRAG_DROP_OVERLAP);
        g->total = (uint32_t)end;
    }
    if (ov == 0) {
        if (end > g->cap) {
            size_t cap = g->cap ? g->cap : 2048;
            while (cap < end)
                cap *= 2;
            cap = cap > AGENT_DEFRAG_MAX_BYTES ? AGENT_DEFRAG_MAX_BYTES : cap;
            g->buf = hc_realloc(g->buf, cap);
            g->cap = cap;
        }
        memcpy(g->buf + f->offset, f->data, f->len);
        for (uint32_t b = b0; b < b1; b++)
            g->map[b >> 3] |= (uint8_t)(1u << (b & 7));
        g->nblocks += b1 - b0;
    }
    if (f->offset == 0)
        g->have_first = 1;
    if (!g->total || g->nblocks != (g->total + 7) / 8)
        return 0;
    d->out = g->buf;
    *out = g->buf;
    *outlen = g->total;
    g->buf = NULL;
    slot_release(d, g);
    d->completed++;
    return 1;
}
