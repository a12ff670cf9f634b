/* inFlightReq (mw_inflight.h): a count per source in a striped table; a source's entry
 * lives while any of its requests does. */
#include "proxy/mw_inflight.h"
#include "proxy/mw_ip.h"

#include "core/hc_alloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define IF_STRIPES 64u
#define IF_SLOTS 64u

typedef struct if_entry {
    struct if_entry *next;
    uint64_t hash;
    long long count;
    char key[]; /* the source */
} if_entry_t;

typedef struct if_stripe {
    pthread_mutex_t mu;
    if_entry_t *slots[IF_SLOTS];
} if_stripe_t;

typedef struct if_cfg {
    long long amount;
    proxy_mw_source_t source;
    if_stripe_t *stripes; /* IF_STRIPES */
} if_cfg_t;

/* A request's place in its source's count. */
typedef struct if_hold {
    proxy_mw_hold_t base; /* first: the request's list holds these */
    if_stripe_t *st;
    if_entry_t *e;
} if_hold_t;

int proxy_mw_inflight_parse(const json_t *spec, const char *name, void **cfg, char *err,
                            size_t errlen)
{
    (void)name;
    long long amount = 0;
    if (proxy_mw_json_int(spec, "amount", &amount, err, errlen) != 0)
        return -EINVAL;
    if (amount < 0)
        return hc_errf(err, errlen, -EINVAL, "inFlightReq.amount: %lld is negative", amount);
    if_cfg_t *c = hc_calloc(1, sizeof(*c));
    if (proxy_mw_source_parse(proxy_mw_json_get(spec, "sourceCriterion"), "inFlightReq", 1,
                              &c->source, err, errlen) != 0) {
        hc_free(c);
        return -EINVAL;
    }
    c->amount = amount;
    c->stripes = hc_calloc(IF_STRIPES, sizeof(*c->stripes));
    for (size_t i = 0; i < IF_STRIPES; i++)
        pthread_mutex_init(&c->stripes[i].mu, NULL);
    *cfg = c;
    return 0;
}

void proxy_mw_inflight_free(void *cfg)
{
    if_cfg_t *c = cfg;
    if (!c)
        return;
    for (size_t i = 0; i < IF_STRIPES; i++) {
        for (size_t j = 0; j < IF_SLOTS; j++) {
            while (c->stripes[i].slots[j]) { /* none once every request let go */
                if_entry_t *e = c->stripes[i].slots[j];
                c->stripes[i].slots[j] = e->next;
                hc_free(e);
            }
        }
        pthread_mutex_destroy(&c->stripes[i].mu);
    }
    hc_free(c->stripes);
    proxy_mw_source_free(&c->source);
    hc_free(c);
}

/* The entry of key in st (locked), NULL when the source has nothing in flight; *slot is
 * set to the link that points at it (or that would). */
static if_entry_t *find(if_stripe_t *st, const char *key, uint64_t hash, if_entry_t ***slot)
{
    if_entry_t **pp = &st->slots[(hash / IF_STRIPES) % IF_SLOTS];
    while (*pp && ((*pp)->hash != hash || strcmp((*pp)->key, key)))
        pp = &(*pp)->next;
    *slot = pp;
    return *pp;
}

static void release(proxy_mw_hold_t *base)
{
    if_hold_t *h = (if_hold_t *)base;
    if_entry_t **pp;
    pthread_mutex_lock(&h->st->mu);
    if (--h->e->count == 0 && find(h->st, h->e->key, h->e->hash, &pp) == h->e) {
        *pp = h->e->next;
        hc_free(h->e);
    }
    pthread_mutex_unlock(&h->st->mu);
    hc_free(h);
}

proxy_mw_verdict_t proxy_mw_inflight_request(const void *cfg, proxy_mw_req_t *req,
                                             proxy_mw_resp_t *resp)
{
    const if_cfg_t *c = cfg;
    char ip[PROXY_MW_IP_MAX];
    const char *src;
    proxy_mw_source_get(&c->source, req, &src, ip); /* none: the "" source, as oxy */
    uint64_t hash = proxy_mw_hash(src);
    if_stripe_t *st = &c->stripes[hash % IF_STRIPES];
    if_entry_t **pp;
    pthread_mutex_lock(&st->mu);
    if_entry_t *e = find(st, src, hash, &pp);
    if ((e ? e->count : 0) >= c->amount) {
        pthread_mutex_unlock(&st->mu);
        char body[48]; /* oxy's MaxConnError, as its connlimit handler writes it */
        snprintf(body, sizeof(body), "max connections reached: %lld", c->amount);
        return proxy_mw_resp_text(resp, 429, NULL, body);
    }
    if (!e) {
        size_t n = strlen(src) + 1;
        e = hc_calloc(1, sizeof(*e) + n);
        e->hash = hash;
        memcpy(e->key, src, n);
        *pp = e;
    }
    e->count++;
    pthread_mutex_unlock(&st->mu);
    if_hold_t *h = hc_malloc(sizeof(*h));
    *h = (if_hold_t){{req->holds, release}, st, e};
    req->holds = &h->base;
    return PROXY_MW_NEXT;
}

long long proxy_mw_inflight_count(const void *cfg, const char *source)
{
    const if_cfg_t *c = cfg;
    uint64_t hash = proxy_mw_hash(source);
    if_stripe_t *st = &c->stripes[hash % IF_STRIPES];
    if_entry_t **pp;
    pthread_mutex_lock(&st->mu);
    if_entry_t *e = find(st, source, hash, &pp);
    long long n = e ? e->count : 0;
    pthread_mutex_unlock(&st->mu);
    return n;
}
