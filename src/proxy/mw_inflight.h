/* The inFlightReq middleware (traefik/traefik pkg/middlewares/inflightreq, on
 * vulcand/oxy's connlimit): at most `amount` requests of one source in flight at once,
 * counted in a table shared by all worker threads; a request over the limit gets 429.
 * A request's place is held (proxy_mw_hold_t) until its view is freed, which the proxy
 * does when the response has ended or the client went away. */
#ifndef PROXY_MW_INFLIGHT_H
#define PROXY_MW_INFLIGHT_H

#include "proxy/mw.h"

/** inFlightReq spec: {amount, sourceCriterion} (none given: the request's Host, as
 *  Traefik). amount 0 refuses every request, as Traefik does. Contract of
 *  proxy_mw_parse_fn. */
int proxy_mw_inflight_parse(const json_t *spec, const char *name, void **cfg, char *err,
                            size_t errlen);
/** Frees a config; no request may hold a place in it. NULL is fine. */
void proxy_mw_inflight_free(void *cfg);
/** Takes a place for the request's source (an absent source counts as ""), held in
 *  req->holds: PROXY_MW_NEXT; or, with amount already in flight, 429 "Too Many
 *  Requests". */
proxy_mw_verdict_t proxy_mw_inflight_request(const void *cfg, proxy_mw_req_t *req,
                                             proxy_mw_resp_t *resp);
/** Requests of source in flight now (tests, metrics). */
long long proxy_mw_inflight_count(const void *cfg, const char *source);

#endif
