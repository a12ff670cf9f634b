/* Private to the proxy service's files (proxy_service.c, proxy_worker.c,
 * proxy_handler.c): the process-wide service state and each worker's own. */
#ifndef PROXY_SERVICE_INT_H
#define PROXY_SERVICE_INT_H

#include "core/hc_http_client.h"
#include "core/hc_http_server.h"
#include "core/hc_manifest.h"
#include "core/hc_runtime.h"
#include "core/hc_service.h"
#include "core/hc_static.h"
#include "proxy/proxy_accesslog.h"
#include "proxy/proxy_api.h"
#include "proxy/proxy_metrics.h"
#include "proxy/proxy_runtime.h"
#include "proxy/proxy_upstream.h"

#include <stdatomic.h>
#include <sys/socket.h>

typedef struct proxy_svc proxy_svc_t;
typedef struct proxy_worker proxy_worker_t;
typedef struct proxy_rq proxy_rq_t;

/* One entry point of one worker: the handler's argument. */
typedef struct proxy_ep {
    proxy_worker_t *w;
    int idx; /* PROXY_GEN_WEB or PROXY_GEN_WEBSECURE */
    hc_http_server_t *srv;
    uint64_t last_open; /* connections last reported to traefik_open_connections */
} proxy_ep_t;

/* A worker: everything here belongs to its loop's thread. */
struct proxy_worker {
    proxy_svc_t *svc;
    uv_loop_t *loop;
    unsigned idx;
    proxy_gen_t *gen; /* current generation (one reference); requests take their own */
    proxy_upstream_t *up;
    hc_http_client_t *client; /* forwardAuth calls */
    proxy_ep_t ep[PROXY_GEN_NEP];
    proxy_accesslog_writer_t *log;
    proxy_metrics_worker_t *metrics;
    uv_timer_t tick; /* open-connection gauge */
    proxy_rq_t *free_rq; /* recycled per-request states */
    unsigned nfree_rq;
    unsigned open_handles; /* handles/servers still closing at stop */
    int failed;            /* a listener could not open */
};

/* The service: main-loop state. */
struct proxy_svc {
    hc_service_ctx_t *ctx;
    uv_loop_t *loop;
    const char *addr[3]; /* web, websecure, api ("" = off) */
    struct sockaddr_storage sa[3];
    char api_url[80]; /* the API listener for api@internal & co. ("" when off or port 0) */
    char api_local[32]; /* under hearth up, ":PORT" for the API as 127.0.0.1:PORT */
    const char *const *manifests;
    size_t nmanifests;
    const char **up_manifests; /* under `hearth up`: manifests + <data>/manifests (owned) */
    const char *file;
    json_t *file_good; /* --file as last read whole: kept while an edit is broken */
    int file_broken;   /* the last read of --file failed */
    char *file_stamp;  /* the files file_good names, as files_stamp writes them */
    const char *ingress_class;
    const char *redirect_to; /* --web-redirect-to, or NULL */
    char redirect_port[12];  /* the port its redirects name */
    char hostname[256]; /* X-Forwarded-Server, as Traefik sends os.Hostname() */
    unsigned nworkers;
    hc_manifest_watch_t *watch;
    uv_fs_event_t file_watch;
    uv_timer_t file_timer; /* debounce of --file changes */
    int file_watching;
    uv_signal_t usr1;
    uint64_t serial;
    proxy_gen_t *gen; /* the current generation (one reference) */
    hc_tls_ctx_t *tls[PROXY_GEN_NEP]; /* each entry point's server context: one certificate
                                         set, each its own TLS options per host */
    proxy_upstream_shared_t *shared;
    hc_workers_t *workers;
    proxy_worker_t *w; /* nworkers entries */
    atomic_int listen_logged[PROXY_GEN_NEP]; /* a listener's failure, logged by one worker */
    hc_http_server_t *api_srv;
    proxy_api_t api;
    hc_static_t *dashboard;
    unsigned drain_ms;
    unsigned pending_close; /* main-loop handles/servers still closing at stop */
    hc_service_stopped_cb stopped;
    uv_thread_t stopper;
    uv_async_t stop_async;
};

/** hc_workers callbacks (arg = the proxy_svc_t): open a worker's listeners and state;
 *  drain and free them. proxy_worker.c */
void proxy_worker_init(uv_loop_t *loop, unsigned idx, void *arg);
void proxy_worker_stop(uv_loop_t *loop, unsigned idx, void *arg);
/** hc_workers_each callback: installs generation arg (one reference given to the
 *  worker) after handing its config to the upstream manager. proxy_worker.c */
void proxy_worker_set_gen(uv_loop_t *loop, unsigned idx, void *arg);

/** The hc_http_server handler of an entry point (arg = proxy_ep_t). proxy_handler.c */
void proxy_handle(hc_http_req_t *req, void *arg);
/** Frees a worker's recycled request states. proxy_handler.c */
void proxy_handler_worker_free(proxy_worker_t *w);

#endif
