/* The buffering middleware's limits (traefik/traefik pkg/middlewares/buffering, over
 * vulcand/oxy's buffer): a request body over maxRequestBodyBytes gets 413 and is not
 * forwarded, a response body over maxResponseBodyBytes is not forwarded either. hearth
 * streams both ways instead of buffering, so a body whose size is not announced is
 * counted as it passes (the caller, proxy_handler.c, applies the limits there). */
#ifndef PROXY_MW_BUFFERING_H
#define PROXY_MW_BUFFERING_H

#include "proxy/mw.h"

#include <stdint.h>

/** buffering spec: maxRequestBodyBytes, maxResponseBodyBytes (0: no limit),
 *  memRequestBodyBytes, memResponseBodyBytes (accepted: nothing is spooled to disk);
 *  retryExpression is refused (not supported). Contract of proxy_mw_parse_fn. */
int proxy_mw_buffering_parse(const json_t *spec, const char *name, void **cfg, char *err,
                             size_t errlen);
void proxy_mw_buffering_free(void *cfg);
/** 413 "Request Entity Too Large" when the request's Content-Length is over the limit. */
proxy_mw_verdict_t proxy_mw_buffering_request(const void *cfg, proxy_mw_req_t *req,
                                              proxy_mw_resp_t *resp);
/** The limits (0: none). */
uint64_t proxy_mw_buffering_max_request(const void *cfg);
uint64_t proxy_mw_buffering_max_response(const void *cfg);

#endif
