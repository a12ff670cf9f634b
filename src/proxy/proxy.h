/* The proxy service's public surface (`hearth proxy`, a Traefik-compatible ingress):
 * its options, the entry points it listens on, the API paths it serves, and the hook
 * through which `hearth up` routes `<service>.localhost` to the other services.
 *
 * Start reading here. Files of the service:
 *   proxy_service.c   options, start/stop/reload, worker threads, listeners
 *   proxy_runtime.[ch] a "generation": config + route tables + parsed middlewares +
 *                     TLS certificates, built on the main loop, published to workers
 *   proxy_handler.c   one request on a worker: route, middlewares, upstream, response
 *   proxy_upstream.h  forwarding to upstream servers (load balancing, health, tunnels)
 *   proxy_api.c       the API on --api (Traefik's JSON shapes), /ping, /metrics, dashboard
 *   proxy_accesslog.c JSON access log lines with Traefik's field names
 *   proxy_metrics.c   Prometheus metrics with Traefik's names and labels */
#ifndef PROXY_H
#define PROXY_H

#include "core/hc_config.h"
#include "core/hc_service.h"

#include <string.h>

/** The service, listed once in src/services.c. */
extern const hc_service_t proxy_service;

/** The option table (flags, environment variables, defaults), exactly the issue's
 *  command line: --manifests DIR (repeatable, PROXY_MANIFESTS; under `hearth up` the
 *  directory <data>/manifests, created if missing, is watched too), --file FILE
 *  (PROXY_FILE), --web ADDR (:8080), --websecure ADDR (:8443), --api ADDR (:9000),
 *  --workers N (0 = one per core), --ingress-class NAME (traefik), --access-log PATH|-
 *  (unset: no access log; "-": stdout). An empty --websecure or --api ("") disables
 *  that listener. */
extern const hc_option_t proxy_options[];

/* Entry point names, as Traefik's Helm chart names them; routers' `entryPoints` and the
 * router.entrypoints annotation refer to these. websecure terminates TLS for every
 * router (the chart's ports.websecure.tls.enabled). */
#define PROXY_EP_WEB "web"
#define PROXY_EP_WEBSECURE "websecure"

/* The API entry point's name in /api/entrypoints (Traefik's internal one). */
#define PROXY_EP_TRAEFIK "traefik"

/** Whether ep names one of hearth's entry points (web, websecure), or is `traefik` for a
 *  router to the API's own services (internal: the dashboard IngressRoute of Traefik's
 *  Helm chart, on the port --api serves them on anyway). */
static inline int proxy_ep_known(const char *ep, int internal)
{
    return !strcmp(ep, PROXY_EP_WEB) || !strcmp(ep, PROXY_EP_WEBSECURE) ||
           (internal && !strcmp(ep, PROXY_EP_TRAEFIK));
}

/* Paths served on --api, GET (and HEAD) only, in Traefik's JSON shapes (pkg/api):
 * lists take ?page=N&per_page=M (default 100) and say the next page in X-Next-Page,
 * and ?search=, ?status=, ?serviceName=, ?middlewareName= filter them; `/<id>` after a
 * list path returns one object ("name@provider", URL-escaped) or 404. */
#define PROXY_API_OVERVIEW "/api/overview"
#define PROXY_API_ROUTERS "/api/http/routers"
#define PROXY_API_SERVICES "/api/http/services"
#define PROXY_API_MIDDLEWARES "/api/http/middlewares"
#define PROXY_API_TRANSPORTS "/api/http/serversTransports"
#define PROXY_API_ENTRYPOINTS "/api/entrypoints"
#define PROXY_API_VERSION "/api/version"
#define PROXY_API_RAWDATA "/api/rawdata"
/* hearth's own: configuration errors, [{"source":"file:line","kind","namespace","name",
 * "message"}] (manifest read errors have kind "" and name ""). */
#define PROXY_API_ERRORS "/api/errors"
/* Health (`hearth check` probes it): 200 "OK" while serving, 503 while draining. */
#define PROXY_API_PING "/ping"
#define PROXY_API_METRICS "/metrics"
/* The dashboard: web/proxy/ embedded; "/dashboard" redirects to "/dashboard/". */
#define PROXY_API_DASHBOARD "/dashboard/"

/** `hearth up` hook: another built-in service announces the local URL it listens on
 *  (e.g. "http://127.0.0.1:3000"), so that the proxy routes `<name>.localhost` (any
 *  path) to it on the web and websecure entry points, as a file-provider router
 *  "<name>-localhost@file" with service "<name>-localhost@file". One line in the
 *  service's start(), on the main loop:
 *      proxy_local_publish(ctx->service->name, ctx->url);
 *  name and url are copied; publishing a name again replaces its URL, an empty url
 *  removes it. A running proxy rebuilds its routes at once; one started later reads
 *  them at start-up. Main loop only (services start there). Returns 0, or -EINVAL for
 *  a name that is not a DNS label or a url that is not http(s)://. */
int proxy_local_publish(const char *name, const char *url);

/** `hearth up`: the manifests directory the proxy and the certs service share,
 *  "<data_dir>/manifests", into out (n bytes), created (mode 0700) when missing. Returns
 *  0, or a negative errno after logging. */
int proxy_up_manifests_dir(const char *data_dir, char *out, size_t n);

/** Told a published name: the name passed to proxy_local_publish, borrowed for the call. */
typedef void (*proxy_local_cb)(const char *name, void *ud);

/** `hearth up` hook for the certs service, which issues certificates for the
 *  `<name>.localhost` routes: calls cb(name, ud) at once for every name published so
 *  far, then on the main loop for every later publish of a name with a URL (removals are
 *  not reported: a certificate may keep a name a stopping service took away). One
 *  watcher at a time; a new call replaces it, cb NULL ends it. Main loop only. */
void proxy_local_watch(proxy_local_cb cb, void *ud);

#endif
