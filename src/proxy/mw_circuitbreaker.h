/* The circuitBreaker middleware (traefik/traefik pkg/middlewares/circuitbreaker, over
 * vulcand/oxy's cbreaker): an expression over what the requests passing it met inside
 * (NetworkErrorRatio(), ResponseCodeRatio(a, b, c, d), LatencyAtQuantileMS(q), compared
 * with constants and joined by && and ||) opens the circuit; while open, requests get
 * `responseCode` (503) without being forwarded.
 *
 * States, as oxy's: standby (everything passes, the expression is checked at most every
 * checkPeriod after a response) -> tripped (every request answered, for
 * fallbackDuration; the figures start again) -> recovering (a share of the requests
 * passes, growing linearly to half over recoveryDuration; the expression trips it again)
 * -> standby. The figures are oxy's windows: counts over the last 10 seconds, latencies
 * over the last minute.
 *
 * The parsed spec is shared; the state is a breaker of each router that uses it
 * (proxy_mw_cb_t, one per router and position in its chain, as Traefik builds one per
 * router), safe to use from every worker. Times are monotonic nanoseconds. */
#ifndef PROXY_MW_CIRCUITBREAKER_H
#define PROXY_MW_CIRCUITBREAKER_H

#include "proxy/mw.h"

#include <stdint.h>

#define PROXY_MW_CB_EXPR_MAX 1024u /* expression length */

typedef struct proxy_mw_cb proxy_mw_cb_t;

typedef enum proxy_mw_cb_state {
    PROXY_MW_CB_STANDBY = 0,
    PROXY_MW_CB_TRIPPED = 1,
    PROXY_MW_CB_RECOVERING = 2,
} proxy_mw_cb_state_t;

/** circuitBreaker spec: expression (required), checkPeriod (100ms), fallbackDuration
 *  (10s), recoveryDuration (10s), responseCode (503); a duration of 0 takes the
 *  default. Contract of proxy_mw_parse_fn. */
int proxy_mw_cb_parse(const json_t *spec, const char *name, void **cfg, char *err, size_t errlen);
void proxy_mw_cb_free(void *cfg);
/** The status a request gets while the circuit is open. */
int proxy_mw_cb_response_code(const void *cfg);

/** A breaker over cfg (borrowed: it must outlive the breaker) for the router named
 *  router (copied; named in the log lines of its state changes). */
proxy_mw_cb_t *proxy_mw_cb_new(const void *cfg, const char *router);
void proxy_mw_cb_destroy(proxy_mw_cb_t *cb);
/** Whether a request arriving at now may go on (1) or gets the fallback answer (0). */
int proxy_mw_cb_allow(proxy_mw_cb_t *cb, uint64_t now_ns);
/** Counts a response of status that took latency_ns, at now; checks the expression when
 *  checkPeriod has passed since the last check, and trips the circuit when it holds. */
void proxy_mw_cb_record(proxy_mw_cb_t *cb, int status, uint64_t latency_ns, uint64_t now_ns);
proxy_mw_cb_state_t proxy_mw_cb_state(proxy_mw_cb_t *cb);

#endif
