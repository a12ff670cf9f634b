/* The errors middleware (traefik/traefik pkg/middlewares/customerrors): a response whose
 * status falls in the configured ranges is replaced by a page fetched from another
 * service (a GET of `query`, the client's fields copied), sent with the original status
 * (or its statusRewrites code). The parts here are pure: which statuses are caught, the
 * page's target and status. The fetch belongs to the caller (proxy_handler.c). */
#ifndef PROXY_MW_ERRORS_H
#define PROXY_MW_ERRORS_H

#include "proxy/mw.h"

/** errors spec: status (list of "500", "500-599" or "404,418"), service (a service
 *  name, qualified with the middleware's provider unless it holds "@"), query (the
 *  page's path and query: {status}, {originalStatus} and {url} replaced),
 *  statusRewrites ({"418": 404, "502-504": 500}). Contract of proxy_mw_parse_fn. */
int proxy_mw_errors_parse(const json_t *spec, const char *name, void **cfg, char *err,
                          size_t errlen);
void proxy_mw_errors_free(void *cfg);
/** 1 when status is one of the middleware's. */
int proxy_mw_errors_catches(const void *cfg, int status);
/** The qualified name of the service serving the pages, borrowed from cfg. */
const char *proxy_mw_errors_service(const void *cfg);
/** The status the page goes out with: status rewritten by statusRewrites, else status. */
int proxy_mw_errors_status(const void *cfg, int status);
/** The page's request-target for a caught status into out: "/" + query less one leading
 *  slash, {status} the status it goes out with, {originalStatus} the caught
 *  one, {url} the request's URL (path?query) query-escaped as Go's url.QueryEscape
 *  does; "/" when no query is set. Returns 0 or -ENOBUFS. */
int proxy_mw_errors_target(const void *cfg, int status, const char *url, hc_buf_t *out);

#endif
