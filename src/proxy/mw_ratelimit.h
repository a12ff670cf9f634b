/* The rateLimit middleware (traefik/traefik pkg/middlewares/ratelimiter): one token
 * bucket per source (golang.org/x/time/rate semantics) in a table shared by all worker
 * threads, striped by key hash so requests from different sources rarely contend.
 * At most 65,536 buckets per middleware; idle buckets expire after the TTL. */
#ifndef PROXY_MW_RATELIMIT_H
#define PROXY_MW_RATELIMIT_H

#include "proxy/mw.h"

#include <stdint.h>

#define PROXY_MW_RATELIMIT_MAX_BUCKETS 65536u

/** Parses a `rateLimit` spec: average (0 = unlimited), period (default 1s; an integer or
 *  a unit-less string means seconds, as a CRD's int-or-string; else a Go duration such
 *  as "1m"), burst (default and minimum 1), sourceCriterion with exactly one of
 *  ipStrategy {depth, excludedIPs, ipv6Subnet}, requestHeaderName, requestHost (none:
 *  the peer address). The rate is average/period per second. The config owns the
 *  bucket table; it is safe to call proxy_mw_ratelimit_request on it from any number of
 *  threads. Contract of proxy_mw_parse_fn (mw.h). */
int proxy_mw_ratelimit_parse(const json_t *spec, const char *name, void **cfg, char *err,
                             size_t errlen);
/** Frees a config and its buckets; no request may be running on it. NULL is fine. */
void proxy_mw_ratelimit_free(void *cfg);
/** Takes one token from the bucket of the request's source at req->now_ns. Allowed now:
 *  PROXY_MW_NEXT. Allowed after a wait no longer than 1/(2*int(rate)) s (500 ms when
 *  rate < 1): PROXY_MW_NEXT with the wait added to req->delay_ms (rounded up). Longer:
 *  resp is 429 "Too Many Requests" with Retry-After (ceil seconds) and X-Retry-In (Go
 *  duration), and no token is used. No source (missing header): 500. */
proxy_mw_verdict_t proxy_mw_ratelimit_request(const void *cfg, proxy_mw_req_t *req,
                                              proxy_mw_resp_t *resp);
/** The limiter's decision alone, without a response: 0 allowed now, 1 allowed after
 *  *wait_ns, -EAGAIN rejected (*wait_ns until a token is due; no token used), -ENOENT
 *  no source. Does not allocate unless "<middleware>:<source>" exceeds 511 bytes or the
 *  source has no bucket yet. */
int proxy_mw_ratelimit_take(const void *cfg, const proxy_mw_req_t *req, uint64_t *wait_ns);
/** Number of live buckets (expired ones included until evicted); for tests and metrics. */
size_t proxy_mw_ratelimit_count(const void *cfg);

#endif
