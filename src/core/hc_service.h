/* The shape every service module has. A service fills in an hc_service_t and is listed
 * once in src/services.c; `hearth <name>` runs it alone and `hearth up` runs them all in
 * one process. Start here to read how a service plugs into the runtime. */
#ifndef HC_SERVICE_H
#define HC_SERVICE_H

#include <uv.h>

#include "core/hc_buf.h"
#include "core/hc_config.h"

typedef struct hc_service hc_service_t;
typedef struct hc_service_ctx hc_service_ctx_t;

/** What a running service gets from the process. Owned by the runtime. */
struct hc_service_ctx {
    const hc_service_t *service;
    uv_loop_t *loop;     /* the main loop; services may start worker loops of their own */
    hc_config_t *config; /* resolved options of the service's table */
    const char *data_dir; /* where embedded state lives (`up --data`), never NULL */
    int in_up;           /* 1 when started by `hearth up` beside the other services */
    void *state;         /* the service's own, set by start() */
    /* Set by the service once it listens, for `up`'s banner and `hearth check`:
     * the URL a person opens and the URL that answers health probes. */
    char url[128];
    char health_url[160];
    /* Optional line for `up`'s banner, e.g. where a generated admin password was saved. */
    char note[256];
};

/** Called by the service when its stop() has drained; runs on the main loop. */
typedef void (*hc_service_stopped_cb)(hc_service_ctx_t *ctx);

struct hc_service {
    const char *name;    /* the subcommand: `hearth <name>` */
    const char *summary; /* one line for `hearth --help` */
    const char *usage;   /* usage line for `hearth <name> --help` */
    const hc_option_t *options;
    /** Binds listeners and starts work on ctx->loop. Returns 0 or a negative errno
     *  after logging the reason. */
    int (*start)(hc_service_ctx_t *ctx);
    /** Stops accepting, lets in-flight work finish until deadline_ms passes, then
     *  calls done (exactly once, on the main loop). */
    void (*stop)(hc_service_ctx_t *ctx, unsigned deadline_ms, hc_service_stopped_cb done);
    /** Re-reads configuration without dropping connections (SIGHUP). May be NULL. */
    int (*reload)(hc_service_ctx_t *ctx);
};

#endif
