/* Load-balancing algorithms of the proxy's upstream manager (proxy_upstream_gen.c), pure
 * and single-threaded: Traefik's earliest-deadline-first weighted round robin
 * (pkg/server/service/loadbalancer/wrr) with its exact heap order, its power of two
 * random choices (loadbalancer/p2c), rendezvous hashing (hrw) and least time
 * (leasttime), and the sticky cookie's name, value and Set-Cookie line
 * (pkg/server/cookie, pkg/server/service/loadbalancer). */
#ifndef PROXY_LB_H
#define PROXY_LB_H

#include "core/hc_buf.h"
#include "proxy/proxy_config.h"

#include <stddef.h>
#include <stdint.h>

/* "no server" from the pickers. */
#define PROXY_LB_NONE ((size_t)-1)

/** Tells whether candidate i may be picked (healthy); arg is the picker's. */
typedef int (*proxy_lb_ok_fn)(void *arg, size_t i);

/** Returns candidate i's load: its requests in flight; arg is the picker's. */
typedef unsigned (*proxy_lb_load_fn)(void *arg, size_t i);

/** Traefik's power of two random choices (p2c): two different candidates drawn at random
 *  among the n that ok accepts, the one with less load picked (either on a tie); the
 *  one left when only one is. *rng is the caller's xorshift state (never 0). Returns its
 *  index or PROXY_LB_NONE. Weights play no part, as in Traefik. */
size_t proxy_lb_p2c_next(uint64_t *rng, size_t n, proxy_lb_ok_fn ok, proxy_lb_load_fn load,
                         void *arg);
/** Returns candidate i's name (a server's URL) and, in *weight, its weight. */
typedef const char *(*proxy_lb_key_fn)(void *arg, size_t i, double *weight);

/** Traefik's hrw (rendezvous hashing): of the candidates ok accepts with a positive
 *  weight, the one scoring highest for src (the client's IP), its score
 *  1 / -ln(fnv64a(src + name) / 2^64) times its weight, so a client keeps its server
 *  while the set of servers stays. Returns its index or PROXY_LB_NONE. */
size_t proxy_lb_hrw_next(const char *src, size_t n, proxy_lb_ok_fn ok, proxy_lb_key_fn key,
                         void *arg);
/** The next number of an xorshift64* generator whose state is *rng (never 0). */
uint64_t proxy_lb_rand(uint64_t *rng);

/* Traefik's WRR: a binary min-heap of deadlines, ordered exactly as Go's container/heap
 * orders it, so equal deadlines resolve in the same sequence Traefik serves. */
typedef struct proxy_lb_wrr {
    size_t n;         /* candidates in the heap: those of positive weight */
    double *deadline; /* per candidate */
    double *weight;
    size_t *heap; /* candidate indices, heap order */
    double cur;   /* curDeadline: the deadline last picked */
} proxy_lb_wrr_t;

/** Adds n candidates with weights, in the order order[] lists them (NULL: 0 to n-1;
 *  Traefik adds them shuffled), each with deadline cur + 1/weight, as Balancer.Add does;
 *  one of weight <= 0 is left out (never chosen), as there. */
void proxy_lb_wrr_init(proxy_lb_wrr_t *w, const long long *weights, size_t n, const size_t *order);
/** Pops the earliest deadline, advances it by 1/weight, pushes it back; repeats while
 *  ok rejects, as long as ok accepts one of them. Returns the index or PROXY_LB_NONE. */
size_t proxy_lb_wrr_next(proxy_lb_wrr_t *w, proxy_lb_ok_fn ok, void *arg);
/** Frees the arrays; the struct is zeroed. */
void proxy_lb_wrr_free(proxy_lb_wrr_t *w);

/* Traefik's leasttime (pkg/server/service/loadbalancer/leasttime): the candidate with the
 * lowest average time to first byte (its last PROXY_LB_TTFB_SAMPLES, whole ms) times
 * one more than its requests in flight, over its weight; ties go to the earliest of
 * their own EDF deadlines. */
enum { PROXY_LB_TTFB_SAMPLES = 100 };

typedef struct proxy_lb_ttfb {
    double ms[PROXY_LB_TTFB_SAMPLES]; /* a ring */
    unsigned next, n;
    double sum;
} proxy_lb_ttfb_t;

typedef struct proxy_lb_lt {
    size_t n;
    size_t *order;    /* candidate indices in the order they were added */
    double *deadline; /* per candidate */
    double *weight;   /* <= 0: never chosen */
    proxy_lb_ttfb_t *ttfb;
    double cur; /* the latest deadline given */
} proxy_lb_lt_t;

/** n candidates with weights, added in order[] (NULL: 0 to n-1), each deadline the one
 *  before plus 1/weight, as Balancer.Add staggers them. */
void proxy_lb_lt_init(proxy_lb_lt_t *lt, const long long *weights, size_t n, const size_t *order);
/** The candidate ok accepts with the lowest score, its load from load(); the only one
 *  when one is left (its deadline untouched, as Traefik's). PROXY_LB_NONE when none. */
size_t proxy_lb_lt_next(proxy_lb_lt_t *lt, proxy_lb_ok_fn ok, proxy_lb_load_fn load, void *arg);
/** Records a time to first byte of candidate i, truncated to whole ms as Go's
 *  Duration.Milliseconds. */
void proxy_lb_lt_sample(proxy_lb_lt_t *lt, size_t i, uint64_t ns);
/** Frees the arrays; the struct is zeroed. */
void proxy_lb_lt_free(proxy_lb_lt_t *lt);

/* "_" + 5 hex digits, or a configured name (sanitized) cut to this size. */
#define PROXY_LB_COOKIE_NAME_MAX 128
/* 16 hex digits + NUL. */
#define PROXY_LB_COOKIE_VALUE_LEN 17

/** The sticky cookie name: st->name with every character that is not a cookie token
 *  character replaced by '_' (cookie.sanitizeName), or when unset "_" + the first 5
 *  hex digits of sha1("_TRAEFIK_BACKEND_" + service) (cookie.GenerateName). */
void proxy_lb_cookie_name(const proxy_sticky_t *st, const char *service,
                          char out[PROXY_LB_COOKIE_NAME_MAX]);
/** The cookie value standing for a server's URL, or a weighted child's name as
 *  configured: the first 16 hex digits of sha256(key). */
void proxy_lb_cookie_value(const char *key, char out[PROXY_LB_COOKIE_VALUE_LEN]);
/** Whether a cookie value names key: its hash, or the key itself (older Traefik). */
int proxy_lb_cookie_matches(const char *value, size_t len, const char *key);
/** The value of cookie name in a Cookie field value (RFC 6265 §5.4: "a=1; b=2"),
 *  borrowed, its length in *len; NULL when absent. */
const char *proxy_lb_cookie_find(const char *header, const char *name, size_t *len);
/** Writes the Set-Cookie value in Go's http.Cookie order: name=value; Path=/ (or
 *  st->path, printable bytes but ';'; none when ""); Domain= (st->domain when a valid
 *  domain, without a leading dot); Max-Age=N (N > 0; a negative maxAge gives Max-Age=0); HttpOnly;
 * Secure; SameSite=Lax|Strict|None (from st->samesite, any case; others omitted). */
void proxy_lb_set_cookie(const proxy_sticky_t *st, const char *name, const char *value,
                         hc_buf_t *out);

#endif
