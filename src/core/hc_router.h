/* Request routing for hc_http_server: method + path patterns with ":name" segments and
 * a trailing "*" rest, a per-route body limit, and JSON 404/405 (with Allow) answers.
 * Routes are added at start-up; matching is read-only, so one router may serve the
 * servers of several loops. */
#ifndef HC_ROUTER_H
#define HC_ROUTER_H

#include "core/hc_http_server.h"

typedef struct hc_router hc_router_t;

/** An empty router. Free with hc_router_free. */
hc_router_t *hc_router_new(void);
void hc_router_free(hc_router_t *r);

/** Adds a route, tried in the order added. method is "GET", "POST", ... or "*" for any
 *  (a GET route also answers HEAD). pattern starts with '/'; a segment ":name" matches
 *  one non-empty segment, a final "*" matches the rest (possibly empty, without the
 *  leading '/'); at most HC_HTTP_MAX_PARAMS captures. max_body 0 keeps the server's
 *  default. Both strings are copied. Returns 0 or -EINVAL. */
int hc_router_add(hc_router_t *r, const char *method, const char *pattern, hc_http_handler_cb cb,
                  void *arg, size_t max_body);

/** What hc_router_match found. */
typedef struct hc_router_match {
    hc_http_handler_cb cb;
    void *arg;
    size_t max_body;
    char allow[128]; /* for 405: the methods the path accepts, "GET, HEAD, POST" */
} hc_router_match_t;

/** Matches method and path (path_len bytes). Returns 200 with m and params filled
 *  (values point into path, names into the router), 404 when no pattern matches, or
 *  405 when patterns match for other methods only (m->allow set). */
int hc_router_match(const hc_router_t *r, const char *method, const char *path, size_t path_len,
                    hc_http_header_t *params, unsigned *nparams, hc_router_match_t *m);

/** A hc_http_handler_cb (arg = the router): matches req, fills req->params and
 *  req->max_body and calls the route's handler, or answers 404/405 in JSON. */
void hc_router_handle(hc_http_req_t *req, void *router);

#endif
