/* The proxy's routing table: built once per configuration and entry point from a
 * proxy_config_t, then read-only, so every worker thread matches requests against it
 * without locks. A request picks the first router, in routing order, whose rule
 * matches (see proxy_router_t.order in proxy_config.h: the priority; for Ingress paths
 * without one, the longest path, then Exact before Prefix; defaultBackend last).
 *
 * Look-up cost: one hash probe on the exact host, one on its parent domain (for `*.`
 * hosts), then only the routers of those hosts and those that match any host, walked in
 * routing order. Disabled routers are not in the table. */
#ifndef PROXY_ROUTE_H
#define PROXY_ROUTE_H

#include "proxy/proxy_config.h"
#include "proxy/proxy_rule.h"

#include <stddef.h>

typedef struct proxy_route_table proxy_route_table_t;

/** Whether router r is served on entry point ep: it lists it, or lists none. */
int proxy_router_on_entrypoint(const proxy_router_t *r, const char *ep);

/** Builds the table of the routers of cfg served on entrypoint: those listing it in
 *  entryPoints and those listing none. entrypoint_tls != 0 when the entry point
 *  terminates TLS for every router (Traefik entryPoints.<name>.http.tls); otherwise
 *  only routers with tls serve TLS connections and the others plain ones. cfg is
 *  borrowed and must outlive the table. Returns 0 and *out, or -EINVAL (NULL args). */
int proxy_route_build(const proxy_config_t *cfg, const char *entrypoint, int entrypoint_tls,
                      proxy_route_table_t **out);

/** Frees the table (not the config); NULL is fine. */
void proxy_route_free(proxy_route_table_t *t);

/** The router for a request, or NULL when none matches (the caller answers 404).
 *  req->host is the Host header as received (any case, with a port or not); it is
 *  normalized here. tls: whether the connection is TLS. Thread-safe; no allocation. */
const proxy_router_t *proxy_route_match(const proxy_route_table_t *t, const proxy_rule_req_t *req,
                                        int tls);

/** Number of routers in the table. */
size_t proxy_route_count(const proxy_route_table_t *t);

#endif
