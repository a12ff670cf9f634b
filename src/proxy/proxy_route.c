/* The routing table behind proxy_route_match: routers sorted once into routing order,
 * indexed by exact host and by wildcard parent domain in two open-addressing hash maps,
 * plus the list of routers that may match any host. A look-up merges the (at most
 * three) candidate lists by position and returns the first router whose rule matches. */
#include "proxy/proxy_route.h"

#include "core/hc_alloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    const proxy_router_t *router;
    int tls;
} entry_t;

/* One host's routers: positions in entries[], ascending (= routing order). */
typedef struct bucket {
    char *host; /* NULL: empty slot */
    size_t hlen;
    size_t *pos;
    size_t n;
} bucket_t;

typedef struct hmap {
    bucket_t *slots;
    size_t cap; /* a power of two */
    size_t used;
} hmap_t;

struct proxy_route_table {
    entry_t *entries;
    size_t n;
    hmap_t exact; /* "www.example.com" */
    hmap_t wild;  /* ".example.com" for *.example.com */
    size_t *any;  /* routers not tied to a host set */
    size_t nany;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bucket_t *hmap_slot(const hmap_t *m, const char *host, size_t n)
{
    if (!m->cap)
        return NULL;
    for (size_t i = fnv1a(host, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        bucket_t *b = &m->slots[i];
        if (!b->host || (b->hlen == n && memcmp(b->host, host, n) == 0))
            return b;
    }
}

static void hmap_grow(hmap_t *m)
{
    hmap_t bigger = {.cap = m->cap ? m->cap * 2 : 16};
    bigger.slots = hc_calloc(bigger.cap, sizeof(bucket_t));
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].host)
            continue;
        *hmap_slot(&bigger, m->slots[i].host, m->slots[i].hlen) = m->slots[i];
        bigger.used++;
    }
    hc_free(m->slots);
    *m = bigger;
}

static void hmap_add(hmap_t *m, const char *host, size_t pos)
{
    size_t n = strlen(host);
    if ((m->used + 1) * 2 > m->cap)
        hmap_grow(m);
    bucket_t *b = hmap_slot(m, host, n);
    if (!b->host) {
        b->host = hc_memdup(host, n);
        b->hlen = n;
        m->used++;
    }
    if (b->n && b->pos[b->n - 1] == pos)
        return; /* Host(`a`) || Host(`a`) */
    b->pos = hc_realloc(b->pos, (b->n + 1) * sizeof(*b->pos));
    b->pos[b->n++] = pos;
}

static void hmap_free(hmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        hc_free(m->slots[i].host);
        hc_free(m->slots[i].pos);
    }
    hc_free(m->slots);
}

/* Routing order: order descending, then Exact first, then name (deterministic). */
static int cmp_entry(const void *pa, const void *pb)
{
    const proxy_router_t *a = ((const entry_t *)pa)->router, *b = ((const entry_t *)pb)->router;
    if (a->order != b->order)
        return a->order > b->order ? -1 : 1;
    if (a->exact_first != b->exact_first)
        return a->exact_first > b->exact_first ? -1 : 1;
    return strcmp(a->name, b->name);
}

int proxy_router_on_entrypoint(const proxy_router_t *r, const char *ep)
{
    if (!r->nentrypoints)
        return 1;
    for (size_t i = 0; i < r->nentrypoints; i++)
        if (!strcmp(r->entrypoints[i], ep))
            return 1;
    return 0;
}

typedef struct index_ctx {
    proxy_route_table_t *t;
    size_t pos;
} index_ctx_t;

static void index_host(void *ctx, const char *host, int wildcard)
{
    index_ctx_t *c = ctx;
    hmap_add(wildcard ? &c->t->wild : &c->t->exact, host, c->pos);
}

int proxy_route_build(const proxy_config_t *cfg, const char *entrypoint, int entrypoint_tls,
                      proxy_route_table_t **out)
{
    if (!cfg || !entrypoint || !out)
        return -EINVAL;
    proxy_route_table_t *t = hc_calloc(1, sizeof(*t));
    t->entries = hc_calloc(cfg->nrouters ? cfg->nrouters : 1, sizeof(*t->entries));
    for (size_t i = 0; i < cfg->nrouters; i++) {
        const proxy_router_t *r = &cfg->routers[i];
        if (r->status == PROXY_STATUS_DISABLED || !r->match ||
            !proxy_router_on_entrypoint(r, entrypoint))
            continue;
        t->entries[t->n++] = (entry_t){.router = r, .tls = r->tls || entrypoint_tls};
    }
    qsort(t->entries, t->n, sizeof(*t->entries), cmp_entry);
    t->any = hc_calloc(t->n ? t->n : 1, sizeof(*t->any));
    for (size_t i = 0; i < t->n; i++) {
        index_ctx_t c = {.t = t, .pos = i};
        if (!proxy_rule_hosts(t->entries[i].router->match, index_host, &c))
            t->any[t->nany++] = i;
    }
    *out = t;
    return 0;
}

void proxy_route_free(proxy_route_table_t *t)
{
    if (!t)
        return;
    hmap_free(&t->exact);
    hmap_free(&t->wild);
    hc_free(t->any);
    hc_free(t->entries);
    hc_free(t);
}

size_t proxy_route_count(const proxy_route_table_t *t)
{
    return t->n;
}

static const bucket_t *lookup(const hmap_t *m, const char *host, size_t n)
{
    const bucket_t *b = hmap_slot(m, host, n);
    return b && b->host ? b : NULL;
}

const proxy_router_t *proxy_route_match(const proxy_route_table_t *t, const proxy_rule_req_t *req,
                                        int tls)
{
    char host[PROXY_RULE_MAX_HOST + 1];
    int hl =
        proxy_rule_host_normalize(req->host ? req->host : "", req->host ? req->host_len : 0, host);
    proxy_rule_req_t q = *req;
    q.host = host;
    q.host_len = hl > 0 ? (size_t)hl : 0;
    const bucket_t *be = NULL, *bw = NULL;
    if (hl > 0) {
        const char *dot = memchr(host, '.', (size_t)hl);
        be = lookup(&t->exact, host, (size_t)hl);
        if (dot)
            bw = lookup(&t->wild, dot, (size_t)hl - (size_t)(dot - host));
    } else {
        host[0] = '\0';
    }
    size_t ie = 0, iw = 0, ia = 0;
    for (;;) {
        size_t pe = be && ie < be->n ? be->pos[ie] : SIZE_MAX;
        size_t pw = bw && iw < bw->n ? bw->pos[iw] : SIZE_MAX;
        size_t pa = ia < t->nany ? t->any[ia] : SIZE_MAX;
        size_t p = pe < pw ? pe : pw;
        p = pa < p ? pa : p;
        if (p == SIZE_MAX)
            return NULL;
        ie += pe == p;
        iw += pw == p;
        ia += pa == p;
        const entry_t *e = &t->entries[p];
        if (e->tls == !!tls && proxy_rule_eval(e->router->match, &q))
            return e->router;
    }
}
