/* The proxy's Prometheus metrics with Traefik's names and labels (traefik/traefik
 * pkg/observability/metrics/prometheus.go), in the process-wide registry that
 * /metrics renders. Series are resolved once per worker and label set and cached in a
 * per-worker table, so recording a request takes no lock and allocates nothing. */
#ifndef PROXY_METRICS_H
#define PROXY_METRICS_H

#include "core/hc_metrics.h"
#include "proxy/proxy_runtime.h"

#include <stdint.h>

/** Registers the families in the default registry (idempotent). */
void proxy_metrics_init(void);

/** traefik_service_retries_total{service}: n more tries of a request to service. */
void proxy_metrics_retries(const char *service, unsigned n);

/** A reload finished: traefik_config_reloads_total += 1 and, when ok,
 *  traefik_config_last_reload_success = now (Unix seconds). */
void proxy_metrics_reload(int ok);

/** Main loop, before rendering: traefik_service_server_up{service,url} for every server
 *  of g (up(ud, service, url) gives 1/0; NULL up = 1) and
 *  traefik_tls_certs_not_after{cn,serial,sans} for its certificates. */
void proxy_metrics_refresh(const proxy_gen_t *g,
                           int (*up)(void *ud, const proxy_service_t *s, const char *url),
                           void *ud);

typedef struct proxy_metrics_worker proxy_metrics_worker_t;
/** A worker's series cache. Never NULL. */
proxy_metrics_worker_t *proxy_metrics_worker_new(void);
void proxy_metrics_worker_free(proxy_metrics_worker_t *w);

/** One finished request (worker thread). service may be NULL (no router matched).
 *  protocol is "http" or "websocket". tls_version ("1.3") and tls_cipher NULL without
 *  TLS. */
typedef struct proxy_metrics_req {
    const char *entrypoint; /* NULL: a mirrored copy, counted under its service only */
    const char *service;
    const char *method;
    const char *protocol;
    int code;
    double seconds;     /* the entry point's: the whole request */
    double svc_seconds; /* the service's: from the forward's start */
    uint64_t req_bytes, resp_bytes; /* the entry point's: what the client sent and got */
    uint64_t svc_resp_bytes;        /* the service's: what it wrote (Traefik counts inside
                                       the middlewares, so before compress) */
    const char *tls_version, *tls_cipher;
} proxy_metrics_req_t;
void proxy_metrics_observe(proxy_metrics_worker_t *w, const proxy_metrics_req_t *r);

/** traefik_open_connections{entrypoint,protocol="TCP"}: add delta (worker thread). */
void proxy_metrics_connections(proxy_metrics_worker_t *w, const char *entrypoint, double delta);

#endif
