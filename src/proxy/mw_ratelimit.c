/* rateLimit (mw_ratelimit.h): source extraction, the striped bucket table with TTL and
 * size-bound eviction (as Traefik's ttlmap) and the x/time/rate reservation arithmetic. */
#include "proxy/mw_ratelimit.h"
#include "proxy/mw_ip.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_STRIPES 64u
#define RL_SLOTS 256u
#define RL_STRIPE_MAX (PROXY_MW_RATELIMIT_MAX_BUCKETS / RL_STRIPES)
#define NS_PER_S 1000000000ull

typedef struct rl_bucket {
    struct rl_bucket *next;
    uint64_t hash;
    char *key;
    double tokens;
    uint64_t last_ns;
    uint64_t expires_ns;
} rl_bucket_t;

typedef struct rl_stripe {
    pthread_mutex_t mu;
    size_t count;
    rl_bucket_t *slots[RL_SLOTS];
} rl_stripe_t;

typedef struct rl_cfg {
    char *name;
    double rate; /* tokens per second; 0 = unlimited */
    double burst;
    uint64_t max_delay_ns;
    uint64_t ttl_ns;
    proxy_mw_source_t source;
    rl_stripe_t *stripes; /* RL_STRIPES */
} rl_cfg_t;

static int parse_period(const json_t *spec, uint64_t *ns, char *err, size_t errlen)
{
    *ns = 0;
    if (proxy_mw_json_duration(spec, "period", "rateLimit", ns, err, errlen) != 0)
        return -EINVAL;
    if (*ns == 0)
        *ns = NS_PER_S;
    return 0;
}

/* Traefik: rate = average/period; burst >= 1; maxDelay = 1s/(2*int(rate)) or 500 ms
 * below 1/s; ttl = 2 s, or 1 + int(1/rate) s below 1/s. */
static int parse_limits(rl_cfg_t *c, const json_t *spec, char *err, size_t errlen)
{
    long long average = 0, burst = 1;
    uint64_t period;
    if (proxy_mw_json_int(spec, "average", &average, err, errlen) != 0 ||
        proxy_mw_json_int(spec, "burst", &burst, err, errlen) != 0 ||
        parse_period(spec, &period, err, errlen) != 0)
        return -EINVAL;
    c->burst = burst < 1 ? 1 : (double)burst;
    c->ttl_ns = 2 * NS_PER_S;
    if (average > 0) {
        c->rate = (double)average * (double)NS_PER_S / (double)period;
        if (c->rate < 1) {
            c->max_delay_ns = 500000000ull;
            c->ttl_ns = (1 + (uint64_t)(1 / c->rate)) * NS_PER_S;
        } else {
            c->max_delay_ns = NS_PER_S / (2 * (uint64_t)c->rate);
        }
    }
    return 0;
}

int proxy_mw_ratelimit_parse(const json_t *spec, const char *name, void **cfg, char *err,
                             size_t errlen)
{
    rl_cfg_t *c = hc_calloc(1, sizeof(*c));
    int rc = parse_limits(c, spec, err, errlen);
    if (rc == 0)
        rc = proxy_mw_source_parse(proxy_mw_json_get(spec, "sourceCriterion"), "rateLimit", 0,
                                   &c->source, err, errlen);
    if (rc != 0) {
        hc_free(c);
        return rc;
    }
    const json_t *redis = proxy_mw_json_get(spec, "redis");
    if (redis && !json_is_null(redis)) /* the limit still holds, per process */
        hc_log(HC_LOG_WARN,
               "rateLimit: redis is not supported; each proxy process keeps its own buckets",
               HC_LS("middleware", name ? name : ""), NULL);
    c->name = hc_strdup(name ? name : "");
    c->stripes = hc_calloc(RL_STRIPES, sizeof(*c->stripes));
    for (size_t i = 0; i < RL_STRIPES; i++)
        pthread_mutex_init(&c->stripes[i].mu, NULL);
    *cfg = c;
    return 0;
}

void proxy_mw_ratelimit_free(void *cfg)
{
    rl_cfg_t *c = cfg;
    if (!c)
        return;
    for (size_t i = 0; i < RL_STRIPES; i++) {
        for (size_t j = 0; j < RL_SLOTS; j++) {
            rl_bucket_t *b = c->stripes[i].slots[j];
            while (b) {
                rl_bucket_t *next = b->next;
                hc_free(b->key);
                hc_free(b);
                b = next;
            }
        }
        pthread_mutex_destroy(&c->stripes[i].mu);
    }
    hc_free(c->stripes);
    proxy_mw_source_free(&c->source);
    hc_free(c->name);
    hc_free(c);
}

size_t proxy_mw_ratelimit_count(const void *cfg)
{
    const rl_cfg_t *c = cfg;
    size_t n = 0;
    for (size_t i = 0; i < RL_STRIPES; i++) {
        pthread_mutex_lock(&c->stripes[i].mu);
        n += c->stripes[i].count;
        pthread_mutex_unlock(&c->stripes[i].mu);
    }
    return n;
}

/* Unlinks b (found in slot j) from the stripe and frees it. */
static void bucket_drop(rl_stripe_t *st, size_t j, rl_bucket_t *b)
{
    rl_bucket_t **pp = &st->slots[j];
    while (*pp != b)
        pp = &(*pp)->next;
    *pp = b->next;
    hc_free(b->key);
    hc_free(b);
    st->count--;
}

/* Makes room in a full stripe: drops the expired buckets, or else the one expiring
 * soonest (Traefik's ttlmap evicts that one when full). */
static void stripe_evict(rl_stripe_t *st, uint64_t now)
{
    rl_bucket_t *oldest = NULL;
    size_t oldest_slot = 0;
    for (size_t j = 0; j < RL_SLOTS; j++) {
        rl_bucket_t *b = st->slots[j];
        while (b) {
            rl_bucket_t *next = b->next;
            if (b->expires_ns <= now)
                bucket_drop(st, j, b);
            else if (!oldest || b->expires_ns < oldest->expires_ns) {
                oldest = b;
                oldest_slot = j;
            }
            b = next;
        }
    }
    if (st->count >= RL_STRIPE_MAX && oldest)
        bucket_drop(st, oldest_slot, oldest);
}

/* The bucket for key, created full (or refilled when it had expired). Stripe locked. */
static rl_bucket_t *bucket_get(const rl_cfg_t *c, rl_stripe_t *st, const char *key,
                               uint64_t hash, uint64_t now)
{
    size_t j = (hash / RL_STRIPES) % RL_SLOTS;
    for (rl_bucket_t *b = st->slots[j]; b; b = b->next)
        if (b->hash == hash && strcmp(b->key, key) == 0) {
            if (b->expires_ns <= now) {
                b->tokens = c->burst;
                b->last_ns = now;
            }
            return b;
        }
    if (st->count >= RL_STRIPE_MAX)
        stripe_evict(st, now);
    rl_bucket_t *b = hc_calloc(1, sizeof(*b));
    b->hash = hash;
    b->key = hc_strdup(key);
    b->tokens = c->burst;
    b->last_ns = now;
    b->next = st->slots[j];
    st->slots[j] = b;
    st->count++;
    return b;
}

/* x/time/rate Reserve(): refill, take a token, and return the wait before it is due.
 * A wait above max_delay gives the token back (Reservation.Cancel) and is returned so
 * the caller can reject. */
static uint64_t bucket_reserve(const rl_cfg_t *c, rl_bucket_t *b, uint64_t now)
{
    if (now > b->last_ns) {
        b->tokens += (double)(now - b->last_ns) / (double)NS_PER_S * c->rate;
        if (b->tokens > c->burst)
            b->tokens = c->burst;
        b->last_ns = now;
    }
    b->expires_ns = now + c->ttl_ns;
    b->tokens -= 1;
    if (b->tokens >= 0)
        return 0;
    uint64_t wait = (uint64_t)(-b->tokens / c->rate * (double)NS_PER_S);
    if (wait > c->max_delay_ns)
        b->tokens += 1;
    return wait;
}

int proxy_mw_ratelimit_take(const void *cfg, const proxy_mw_req_t *req, uint64_t *wait_ns)
{
    const rl_cfg_t *c = cfg;
    char ip[PROXY_MW_IP_MAX], small[512];
    const char *src;
    *wait_ns = 0;
    if (c->rate <= 0)
        return 0;
    if (proxy_mw_source_get(&c->source, req, &src, ip) != 0)
        return -ENOENT;
    /* The key "<middleware>:<source>" lives on the stack unless it is unusually long. */
    size_t need = strlen(c->name) + 1 + strlen(src) + 1;
    char *key = need <= sizeof(small) ? small : hc_malloc(need);
    snprintf(key, need, "%s:%s", c->name, src);
    uint64_t hash = proxy_mw_hash(key);
    rl_stripe_t *st = &c->stripes[hash % RL_STRIPES];
    pthread_mutex_lock(&st->mu);
    uint64_t wait = bucket_reserve(c, bucket_get(c, st, key, hash, req->now_ns), req->now_ns);
    pthread_mutex_unlock(&st->mu);
    if (key != small)
        hc_free(key);
    *wait_ns = wait;
    return wait > c->max_delay_ns ? -EAGAIN : wait > 0;
}

static proxy_mw_verdict_t too_many(proxy_mw_resp_t *resp, uint64_t wait)
{
    char v[32];
    snprintf(v, sizeof(v), "%.0f", ceil((double)wait / (double)NS_PER_S));
    proxy_mw_headers_set(&resp->headers, "Retry-After", v);
    proxy_mw_go_duration_format(wait, v);
    proxy_mw_headers_set(&resp->headers, "X-Retry-In", v);
    return proxy_mw_resp_text(resp, 429, NULL, "Too Many Requests");
}

proxy_mw_verdict_t proxy_mw_ratelimit_request(const void *cfg, proxy_mw_req_t *req,
                                              proxy_mw_resp_t *resp)
{
    uint64_t wait;
    int rc = proxy_mw_ratelimit_take(cfg, req, &wait);
    if (rc == -ENOENT)
        return proxy_mw_resp_text(resp, 500, PROXY_MW_TEXT_PLAIN,
                                  "could not extract source of request\n");
    if (rc == -EAGAIN)
        return too_many(resp, wait);
    req->delay_ms += (uint32_t)((wait + 999999) / 1000000);
    return PROXY_MW_NEXT;
}
