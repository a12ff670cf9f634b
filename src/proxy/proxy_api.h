/* The proxy's API on --api (paths in proxy.h): Traefik's JSON shapes (traefik/traefik
 * pkg/api) rendered from a generation, paging and filters, /ping, /metrics and the
 * embedded dashboard. The renderers are pure functions of a generation (unit-tested);
 * proxy_api_handle serves them on the main loop. */
#ifndef PROXY_API_H
#define PROXY_API_H

#include "core/hc_http_server.h"
#include "core/hc_metrics.h"
#include "core/hc_static.h"
#include "proxy/proxy.h"
#include "proxy/proxy_runtime.h"

#include <jansson.h>

/* Traefik's default and largest page size (pkg/api/handler.go defaultPerPage). */
#define PROXY_API_PER_PAGE 100

/** What the API reads. Owned by the service; every field is read on the main loop. */
typedef struct proxy_api {
    proxy_gen_t *gen; /* the current generation (borrowed), NULL before the first */
    /* Server health for serverStatus: 1 up, 0 down. NULL: every server "UP". */
    int (*server_up)(void *ud, const proxy_service_t *s, const char *url);
    void *server_up_ud;
    const char *addr[3]; /* listen addresses of web, websecure, traefik ("" = off) */
    int access_log;      /* features.accessLog */
    int kubernetes;      /* providers: manifests are read (KubernetesIngress, KubernetesCRD) */
    int file;            /* providers: --file is read (File) */
    const char *web_redirect_to; /* web's http.redirections.entryPoint.to, or NULL */
    int draining;        /* /ping answers 503 */
    hc_metrics_t *metrics; /* /metrics; NULL = 404 */
    hc_static_t *dashboard; /* /dashboard/; NULL = 404 */
    char start_date[40];   /* RFC 3339, for /api/version */
} proxy_api_t;

/** Filters and paging of a list request (Traefik's query parameters). */
typedef struct proxy_api_query {
    const char *search;          /* substring of the name (or rule / service), or NULL */
    const char *status;          /* "enabled", "warning", "disabled", or NULL */
    const char *service_name;    /* routers: exact service name, or NULL */
    const char *middleware_name; /* routers: uses this middleware, or NULL */
    long page;                   /* 1-based; 0 = 1 */
    long per_page;               /* 0 = PROXY_API_PER_PAGE */
} proxy_api_query_t;

/** One object of each kind in Traefik's shape (new references): a router (name,
 *  provider, rule, service, middlewares, entryPoints, priority, tls, status, using,
 *  error), a service (loadBalancer or weighted, status, usedBy, serverStatus, type), a
 *  middleware ("<type>": spec, status, usedBy, type lowercased). The object is one of
 *  api->gen's configuration (usedBy and a middleware's status are found by its place). */
json_t *proxy_api_router_json(const proxy_api_t *api, const proxy_router_t *r);
json_t *proxy_api_service_json(const proxy_api_t *api, const proxy_service_t *s);
json_t *proxy_api_middleware_json(const proxy_api_t *api, const proxy_middleware_t *m);
/** A servers transport: its spec (private keys given inline are not shown), name,
 *  provider, and status (disabled with the error when it could not be built). */
json_t *proxy_api_transport_json(const proxy_api_t *api, const proxy_transport_t *t);

/** The list at path (PROXY_API_ROUTERS, _SERVICES or _MIDDLEWARES) filtered and paged
 *  by q, sorted by name. Returns the array (new reference) and the X-Next-Page value in
 *  *next_page (page + 1 when more follow, else 1), or NULL with *status 400 (a page
 *  past the end) or 404 (unknown path). */
json_t *proxy_api_list(const proxy_api_t *api, const char *path, const proxy_api_query_t *q,
                       long *next_page, int *status);

/** /api/overview, /api/entrypoints, /api/version, /api/rawdata and /api/errors. */
json_t *proxy_api_overview(const proxy_api_t *api);
json_t *proxy_api_entrypoints(const proxy_api_t *api);
json_t *proxy_api_version(const proxy_api_t *api);
json_t *proxy_api_rawdata(const proxy_api_t *api);
json_t *proxy_api_errors(const proxy_api_t *api);

/** The hc_http_server handler (arg = the proxy_api_t) for every API path. */
void proxy_api_handle(hc_http_req_t *req, void *arg);

#endif
