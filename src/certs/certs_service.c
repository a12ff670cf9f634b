/* The certs service (certs.h): options, start-up (manifest watch, solver and status
 * listeners, the `hearth up` local CA of certs_up.c, the first scheduling pass), reloads
 * on manifest changes and SIGHUP, and the graceful stop. */
#include "certs/certs.h"
#include "certs/certs_int.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_runtime.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const hc_option_t certs_options[] = {
    {"manifests", "CERTS_MANIFESTS", NULL,
     "Kubernetes manifest directory or file; Secrets are written to the first directory",
     HC_OPT_MULTI},
    {"solver", "CERTS_SOLVER", "127.0.0.1:8089", "address of the HTTP-01 solver listener", 0},
    {"status", "CERTS_STATUS", "127.0.0.1:9402", "address of /api/certificates, /metrics, /healthz", 0},
    {"cluster-resource-namespace", "CERTS_CLUSTER_RESOURCE_NAMESPACE", "cert-manager",
     "namespace of ClusterIssuer Secrets (CA key pair, ACME account key)", 0},
    {"ca-file", "CERTS_CA_FILE", NULL, "extra PEM CA file to trust ACME servers with", 0},
    {"self-check-addr", "CERTS_SELF_CHECK_ADDR", NULL,
     "host:port the HTTP-01 self-check connects to (default: the identifier on port 80)", 0},
    {"self-check-attempts", "CERTS_SELF_CHECK_ATTEMPTS", "10",
     "self-check tries before asking the ACME server to validate anyway", 0},
    {"self-check-interval", "CERTS_SELF_CHECK_INTERVAL", "2s", "time between self-check tries", 0},
    {"retry-base", "CERTS_RETRY_BASE", "1m", "first retry delay after a failure (doubles each time)", 0},
    {"retry-max", "CERTS_RETRY_MAX", "32h", "longest retry delay", 0},
    {"max-orders", "CERTS_MAX_ORDERS", "16", "ACME orders in flight at once", 0},
    {"min-duration", "CERTS_MIN_DURATION", "1h",
     "shortest spec.duration accepted (cert-manager: 1h; lower only for tests)", 0},
    HC_OPTION_END,
};

static int first_dir(certs_svc_t *svc)
{
    struct stat sb;
    for (size_t i = 0; i < svc->nmanifests; i++)
        if (stat(svc->manifests[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            svc->out_dir = svc->manifests[i];
            return 0;
        }
    hc_log(HC_LOG_ERROR, "--manifests needs at least one existing directory (Secrets are written there)",
           NULL);
    return -EINVAL;
}

static int opt_ms(hc_config_t *cfg, const char *name, uint64_t *out)
{
    long long v = 0;
    char err[256];
    if (hc_config_get_duration_ms(cfg, name, &v, err, sizeof(err)) != 0 || v <= 0) {
        hc_log(HC_LOG_ERROR, "bad duration option", HC_LS("option", name), HC_LS("error", err), NULL);
        return -EINVAL;
    }
    *out = (uint64_t)v;
    return 0;
}

static int opt_uint(hc_config_t *cfg, const char *name, unsigned *out)
{
    long long v = 0;
    char err[256];
    if (hc_config_get_int(cfg, name, &v, err, sizeof(err)) != 0 || v < 1 || v > 100000) {
        hc_log(HC_LOG_ERROR, "bad number option", HC_LS("option", name), HC_LS("error", err), NULL);
        return -EINVAL;
    }
    *out = (unsigned)v;
    return 0;
}

static int opt_addr(hc_config_t *cfg, const char *name, struct sockaddr_storage *sa)
{
    const char *v = hc_config_get(cfg, name);
    if (v && hc_addr_parse(v, sa) == 0)
        return 0;
    hc_log(HC_LOG_ERROR, "bad address", HC_LS("option", name), HC_LS("value", v), NULL);
    return -EINVAL;
}

static int opts_load(certs_svc_t *svc, hc_config_t *cfg)
{
    const char *const *m;
    uint64_t min_ms = 0;
    svc->nmanifests = hc_config_get_all(cfg, "manifests", &m);
    svc->manifests = m;
    if (svc->ctx->in_up && certs_up_paths(svc) != 0)
        return -EINVAL;
    svc->cluster_ns = hc_config_get(cfg, "cluster-resource-namespace");
    svc->ca_file = hc_config_get(cfg, "ca-file");
    svc->self_check_addr = hc_config_get(cfg, "self-check-addr");
    if (first_dir(svc) || opt_addr(cfg, "solver", &svc->solver_sa) ||
        opt_addr(cfg, "status", &svc->status_sa) ||
        opt_uint(cfg, "self-check-attempts", &svc->self_check_attempts) ||
        opt_ms(cfg, "self-check-interval", &svc->self_check_interval_ms) ||
        opt_ms(cfg, "retry-base", &svc->retry_base_ms) || opt_ms(cfg, "retry-max", &svc->retry_max_ms) ||
        opt_uint(cfg, "max-orders", &svc->max_orders) || opt_ms(cfg, "min-duration", &min_ms))
        return -EINVAL;
    svc->min_duration_s = (long long)(min_ms / 1000) ? (long long)(min_ms / 1000) : 1;
    return 0;
}

static void on_manifests(hc_manifest_watch_t *w, hc_manifest_set_t *set, void *data)
{
    (void)w;
    certs_sched_apply(data, hc_manifest_set_ref(set));
}

static void status_urls(certs_svc_t *svc)
{
    hc_service_ctx_t *ctx = svc->ctx;
    char addr[96];
    hc_addr_format((struct sockaddr *)&svc->status_sa, addr, sizeof(addr));
    int port = hc_http_server_port(svc->status_srv);
    const char *host = strncmp(addr, "0.0.0.0:", 8) && addr[0] != ':' ? addr : "127.0.0.1:";
    const char *colon = strrchr(host, ':');
    snprintf(ctx->url, sizeof(ctx->url), "http://%.*s:%d%s", (int)(colon - host), host, port,
             CERTS_API_CERTIFICATES);
    snprintf(ctx->health_url, sizeof(ctx->health_url), "http://%.*s:%d%s", (int)(colon - host),
             host, port, CERTS_API_HEALTH);
}

static void certs_stop(hc_service_ctx_t *ctx, unsigned deadline_ms, hc_service_stopped_cb done);

static int certs_start(hc_service_ctx_t *ctx)
{
    certs_svc_t *svc = hc_calloc(1, sizeof(*svc));
    char err[256];
    int rc;
    svc->ctx = ctx;
    svc->loop = ctx->loop;
    ctx->state = svc;
    if ((rc = opts_load(svc, ctx->config)) != 0)
        goto fail;
    svc->http = hc_http_client_new(svc->loop, &(hc_http_client_opts_t){0}, err, sizeof(err));
    if (!svc->http) {
        hc_log(HC_LOG_ERROR, "cannot create the self-check HTTP client", HC_LS("error", err), NULL);
        rc = -EIO;
        goto fail;
    }
    if ((rc = certs_solver_start(svc)) != 0) {
        hc_log(HC_LOG_ERROR, "cannot listen (solver)", HC_LS("error", strerror(-rc)), NULL);
        goto fail;
    }
    if ((rc = certs_api_start(svc)) != 0) {
        hc_log(HC_LOG_ERROR, "cannot listen (status)", HC_LS("error", strerror(-rc)), NULL);
        goto fail;
    }
    if ((rc = hc_manifest_watch_start(svc->loop, svc->manifests, svc->nmanifests, NULL,
                                      on_manifests, svc, &svc->watch)) != 0)
        goto fail;
    if (ctx->in_up && (rc = certs_up_start(svc)) != 0)
        goto fail;
    status_urls(svc);
    hc_log(HC_LOG_INFO, "certs listening", HC_LS("solver", hc_config_get(ctx->config, "solver")),
           HC_LS("status", hc_config_get(ctx->config, "status")), HC_LS("secrets", svc->out_dir), NULL);
    certs_sched_apply(svc, hc_manifest_set_ref(hc_manifest_watch_current(svc->watch)));
    return 0;
fail:
    certs_stop(ctx, 0, NULL);
    return rc ? rc : -EINVAL;
}

/* ---- stop ---- */

static void stop_step(certs_svc_t *svc)
{
    if (--svc->stop_steps)
        return;
    hc_service_ctx_t *ctx = svc->ctx;
    hc_service_stopped_cb done = svc->stopped;
    if (svc->solver_srv)
        hc_http_server_free(svc->solver_srv);
    if (svc->status_srv)
        hc_http_server_free(svc->status_srv);
    hc_router_free(svc->router);
    certs_model_free(svc->model);
    hc_manifest_set_unref(svc->set);
    hc_free(svc->challenges);
    if (svc->up_manifests)
        hc_free((char *)svc->up_manifests[0]);
    hc_free(svc->up_manifests);
    hc_free(svc);
    ctx->state = NULL;
    if (done)
        done(ctx);
}

static void on_server_drained(hc_http_server_t *s, void *arg)
{
    (void)s;
    stop_step(arg);
}

static void on_watch_closed(void *arg)
{
    stop_step(arg);
}

/* certs_sched_close's and certs_up_stop's end */
static void on_sched_closed(certs_svc_t *svc)
{
    stop_step(svc);
}

static void certs_stop(hc_service_ctx_t *ctx, unsigned deadline_ms, hc_service_stopped_cb done)
{
    certs_svc_t *svc = ctx->state;
    svc->stopped = done;
    svc->stopping = 1;
    svc->stop_steps = 1; /* released at the end */
    certs_issue_close(svc); /* orders end; their challenges and solver files go */
    while (svc->nchallenges)
        certs_solver_remove(svc, svc->challenges[0]->token);
    hc_http_client_free(svc->http);
    svc->http = NULL;
    if (svc->watch) {
        svc->stop_steps++;
        hc_manifest_watch_close(svc->watch, on_watch_closed, svc);
        svc->watch = NULL; /* it frees itself once closed */
    }
    hc_http_server_t *srv[2] = {svc->solver_srv, svc->status_srv};
    for (int i = 0; i < 2; i++)
        if (srv[i]) {
            svc->stop_steps++;
            hc_http_server_drain(srv[i], deadline_ms, on_server_drained, svc);
        }
    svc->stop_steps++;
    certs_sched_close(svc, on_sched_closed);
    svc->stop_steps++;
    certs_up_stop(svc, on_sched_closed);
    stop_step(svc);
}

/* SIGHUP: every manifest read again through the watch, so a file that is broken now
 * keeps its last good objects (its Certificates stay managed) as after an edit. */
static int certs_reload(hc_service_ctx_t *ctx)
{
    certs_svc_t *svc = ctx->state;
    if (svc->stopping) /* a stop no signal began (a service after it failed to start) */
        return 0;
    certs_sched_apply(svc, hc_manifest_set_ref(hc_manifest_watch_refresh(svc->watch)));
    return 0;
}

const hc_service_t certs_service = {
    .name = "certs",
    .summary = "certificates from cert-manager manifests (selfSigned, CA, ACME HTTP-01)",
    .usage = "hearth certs --manifests DIR... [--solver ADDR] [--status ADDR]",
    .options = certs_options,
    .start = certs_start,
    .stop = certs_stop,
    .reload = certs_reload,
};
