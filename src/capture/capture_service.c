/* The capture service (capture.h): options, start-up (storage and schema, the admin
 * password and token key, metrics, the queue, the HEP listeners, the HTTP API), the
 * `hearth up` hooks and the staged stop that drains the queue into the database. */
#include "capture/capture_int.h"
#include "proxy/proxy.h"

#include "core/hc_alloc.h"
#include "core/hc_http_server.h"
#include "core/hc_jwt.h"
#include "core/hc_log.h"
#include "core/hc_password.h"
#include "core/hc_runtime.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static const hc_option_t capture_options[] = {
    {"hep", "CAPTURE_HEP", ":9060", "HEP listener address (UDP and TCP)", 0},
    {"http", "CAPTURE_HTTP", ":9080", "API, UI and /metrics listener address", 0},
    {"retain-days", "CAPTURE_RETAIN_DAYS", "14", "days of messages kept (older partitions dropped)",
     0},
    {"dedup", "CAPTURE_DEDUP", NULL, "drop identical payloads seen within this window (e.g. 500ms)",
     0},
    {"hep-password", "CAPTURE_HEP_PASSWORD", NULL, "HEP auth key (chunk 0x0e) packets must carry",
     HC_OPT_SECRET},
    {"database-url", "DATABASE_URL", NULL,
     "sqlite:PATH or postgresql://... (default sqlite:<data>/capture.db)", HC_OPT_SECRET},
    {"admin-password", "ADMIN_PASSWORD", NULL, "password of the admin user (default: generated)",
     HC_OPT_SECRET},
    {"queue", "CAPTURE_QUEUE", "100000", "rows held between the listeners and the database", 0},
    {"queue-bytes", "CAPTURE_QUEUE_BYTES", "128M",
     "bytes held between the listeners and the database", 0},
    {"batch", "CAPTURE_BATCH", "2000", "rows per COPY batch", 0},
    {"udp-buffer", "CAPTURE_UDP_BUFFER", "64M",
     "receive buffer of the HEP UDP socket: how long a burst the kernel holds while the "
     "listener is busy (datagrams beyond it are counted as socket drops)",
     0},
    {"flush", "CAPTURE_FLUSH", "200ms", "longest time a row waits before its batch is written", 0},
    {"sqlite-sync", "CAPTURE_SQLITE_SYNC", "normal",
     "SQLite commits: normal (survive a crash of hearth, a power loss may drop the last "
     "ones) or full (survive a power loss)",
     0},
    HC_OPTION_END,
};

static int opt_int(hc_config_t *cfg, const char *name, long long lo, long long hi, long long *out)
{
    char err[256];
    if (hc_config_get_int(cfg, name, out, err, sizeof(err)) == 0 && *out >= lo && *out <= hi)
        return 0;
    hc_log(HC_LOG_ERROR, "bad number option", HC_LS("option", name), HC_LI("min", lo),
           HC_LI("max", hi), NULL);
    return -EINVAL;
}

static int opt_addr(hc_config_t *cfg, const char *name, const char *up_default,
                    struct sockaddr_storage *sa, int in_up)
{
    const char *v = hc_config_get(cfg, name);
    const hc_option_t *o = capture_options;
    while (strcmp(o->name, name))
        o++;
    if (in_up && v && !strcmp(v, o->def))
        v = up_default; /* `hearth up` keeps the UI on loopback unless told otherwise */
    if (v && hc_addr_parse(v, sa) == 0)
        return 0;
    hc_log(HC_LOG_ERROR, "bad address", HC_LS("option", name), HC_LS("value", v), NULL);
    return -EINVAL;
}

static int opts_load(capture_svc_t *svc, hc_config_t *cfg)
{
    long long days = 0, q = 0, qb = 0, batch = 0, flush = 0, dedup = 0, rcvbuf = 0;
    char err[256];
    if (opt_addr(cfg, "hep", ":9060", &svc->hep_sa, svc->ctx->in_up) ||
        opt_addr(cfg, "http", "127.0.0.1:9080", &svc->http_sa, svc->ctx->in_up) ||
        opt_int(cfg, "retain-days", 1, 3650, &days) || opt_int(cfg, "queue", 1, 100000000, &q) ||
        opt_int(cfg, "batch", 1, 100000, &batch))
        return -EINVAL;
    if (hc_config_get_size(cfg, "queue-bytes", &qb, err, sizeof(err)) || qb < 65536 ||
        hc_config_get_size(cfg, "udp-buffer", &rcvbuf, err, sizeof(err)) || rcvbuf < 65536 ||
        rcvbuf > (1LL << 30) || hc_config_get_duration_ms(cfg, "flush", &flush, err, sizeof(err)) ||
        flush < 1 || hc_config_get_duration_ms(cfg, "dedup", &dedup, err, sizeof(err)) ||
        dedup < 0) {
        hc_log(HC_LOG_ERROR, "bad option", HC_LS("error", err), NULL);
        return -EINVAL;
    }
    svc->retain_days = (int)days;
    svc->queue_max = (size_t)q;
    svc->queue_bytes = (size_t)qb;
    svc->batch_rows = (size_t)batch;
    svc->udp_rcvbuf = (size_t)rcvbuf;
    svc->flush_ms = (unsigned)flush;
    svc->dedup_ms = (uint64_t)dedup;
    const char *pw = hc_config_get(cfg, "hep-password");
    svc->hep_password = pw && pw[0] ? pw : NULL;
    return 0;
}

/* SQLite's synchronous mode: WAL with NORMAL commits without fsync (the WAL reaches the
 * disk at each checkpoint), so a commit survives hearth being killed (the kernel holds
 * the written WAL) and only an OS crash or power loss can drop the last ones, never
 * corrupting the file; FULL adds an fsync per commit. Capture defaults to NORMAL: at
 * tens of thousands of messages per second the fsyncs cost more than the writer's CPU. */
static int store_open(capture_svc_t *svc)
{
    char def[4200];
    const char *sync = hc_config_get(svc->ctx->config, "sqlite-sync");
    if (!sync || (strcmp(sync, "normal") && strcmp(sync, "full"))) {
        hc_log(HC_LOG_ERROR, "bad option (normal or full)", HC_LS("option", "sqlite-sync"),
               HC_LS("value", sync), NULL);
        return -EINVAL;
    }
    const char *url = hc_config_get(svc->ctx->config, "database-url");
    if (!url || !url[0]) {
        snprintf(def, sizeof(def), "sqlite:%s/capture.db", svc->ctx->data_dir);
        url = def;
    }
    hc_store_options_t o = {.queue_max_units = 100000,
                            .queue_max_bytes = svc->queue_bytes + (64u << 20),
                            .batch_max_stmts = 20000,
                            .sqlite_sync_normal = !strcmp(sync, "normal")};
    int rc = hc_store_open(svc->loop, url, &o, &svc->store);
    if (rc)
        return rc;
    svc->pg = !strcmp(hc_store_backend(svc->store), "postgresql");
    return 0;
}

/* The admin password (configured, saved or generated) as a bcrypt hash, and the token
 * key derived from it: replicas sharing ADMIN_PASSWORD accept each other's tokens, and
 * changing the password ends every session. */
static int auth_setup(capture_svc_t *svc)
{
    char pw[256];
    int generated = 0;
    hc_service_ctx_t *ctx = svc->ctx;
    const char *conf = hc_config_get(ctx->config, "admin-password");
    int rc = hc_password_bootstrap(conf, ctx->data_dir, "capture", pw, sizeof(pw), &generated);
    if (rc)
        return rc;
    rc = hc_password_hash(pw, svc->admin_hash, sizeof(svc->admin_hash));
    static const char label[] = "hearth capture token key v1";
    if (!rc && hc_hmac_sha256(pw, strlen(pw), label, sizeof(label) - 1, svc->jwt_key) < 0)
        rc = -EIO;
    /* `hearth up`'s banner, as the other services word it */
    if (conf && *conf)
        snprintf(ctx->note, sizeof(ctx->note), "login admin (password from ADMIN_PASSWORD)");
    else if (generated)
        snprintf(ctx->note, sizeof(ctx->note),
                 "login admin / %.64s (saved in %.120s/capture-admin-password)", pw, ctx->data_dir);
    else
        snprintf(ctx->note, sizeof(ctx->note),
                 "login admin, password in %.160s/capture-admin-password", ctx->data_dir);
    OPENSSL_cleanse(pw, sizeof(pw));
    return rc;
}

static void metrics_setup(capture_svc_t *svc)
{
    hc_metrics_t *r = hc_metrics_default();
    svc->m_packets_family =
        hc_metrics_counter(r, "hearth_capture_packets_total",
                           "HEP packets decoded, by payload type.", (const char *[]){"type", NULL});
    svc->m_errors_family =
        hc_metrics_counter(r, "hearth_capture_errors_total", "HEP packets refused, by reason.",
                           (const char *[]){"reason", NULL});
    for (int i = 1; i < CAPTURE_HEP_NERRORS + 4; i++)
        svc->m_errors[i] = hc_metrics_series(svc->m_errors_family,
                                             (const char *[]){capture_ingest_reason_name(i)});
    svc->m_dropped =
        hc_metrics_series(hc_metrics_counter(r, "hearth_capture_dropped_total",
                                             "Packets dropped because the queue was full.", NULL),
                          NULL);
    svc->m_socket_drops = hc_metrics_series(
        hc_metrics_counter(
            r, "hearth_capture_socket_drops_total",
            "Datagrams the kernel dropped on the HEP UDP socket (receive buffer full).", NULL),
        NULL);
    svc->m_duplicates = hc_metrics_series(hc_metrics_counter(r, "hearth_capture_duplicates_total",
                                                             "Packets dropped by --dedup.", NULL),
                                          NULL);
    svc->m_queue_depth = hc_metrics_series(
        hc_metrics_gauge(r, "hearth_capture_queue_depth", "Rows queued or being written.", NULL),
        NULL);
    svc->m_rows_failed = hc_metrics_series(hc_metrics_counter(r, "hearth_capture_rows_failed_total",
                                                              "Rows the database refused.", NULL),
                                           NULL);
    hc_metric_t *rows =
        hc_metrics_counter(r, "hearth_capture_rows_written_total", "Rows committed, by table.",
                           (const char *[]){"table", NULL});
    for (int t = 0; t < CAPTURE_NTABLES; t++)
        svc->m_rows[t] = hc_metrics_series(rows, (const char *[]){capture_table_names[t]});
    static const double bounds[] = {.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5};
    svc->m_batch_seconds = hc_metrics_series(
        hc_metrics_histogram(r, "hearth_capture_batch_seconds",
                             "Time from handing a batch to the writer until it committed.", NULL,
                             bounds, sizeof(bounds) / sizeof(bounds[0])),
        NULL);
}

static void set_urls(capture_svc_t *svc)
{
    hc_service_ctx_t *ctx = svc->ctx;
    char addr[96];
    hc_addr_format((struct sockaddr *)&svc->http_sa, addr, sizeof(addr));
    int port = hc_http_server_port(svc->http);
    const char *host = "127.0.0.1";
    char h[64];
    const char *colon = strrchr(addr, ':');
    if (strncmp(addr, "0.0.0.0:", 8) && addr[0] != ':' && addr[0] != '[' && colon &&
        (size_t)(colon - addr) < sizeof(h)) {
        snprintf(h, sizeof(h), "%.*s", (int)(colon - addr), addr);
        host = h;
    }
    snprintf(ctx->url, sizeof(ctx->url), "http://%s:%d", host, port);
    snprintf(ctx->health_url, sizeof(ctx->health_url), "http://%s:%d/api/heartbeat", host, port);
}

static void capture_stop(hc_service_ctx_t *ctx, unsigned deadline_ms, hc_service_stopped_cb done);

static int capture_start(hc_service_ctx_t *ctx)
{
    capture_svc_t *svc = hc_calloc(1, sizeof(*svc));
    int rc;
    svc->ctx = ctx;
    svc->loop = ctx->loop;
    ctx->state = svc;
    if ((rc = opts_load(svc, ctx->config)) != 0)
        goto fail;
    if ((rc = store_open(svc)) != 0) {
        hc_log(HC_LOG_ERROR, "capture: cannot open the database", HC_LS("error", strerror(-rc)),
               NULL);
        goto fail;
    }
    if ((rc = capture_schema_start(svc)) != 0 || (rc = auth_setup(svc)) != 0)
        goto fail;
    metrics_setup(svc);
    capture_calls_init(svc);
    capture_batch_start(svc);
    if ((rc = capture_ingest_start(svc)) != 0 || (rc = capture_api_start(svc)) != 0)
        goto fail;
    set_urls(svc);
    if (ctx->in_up)
        proxy_local_publish(ctx->service->name, ctx->url);
    char hep[96];
    hc_addr_format((struct sockaddr *)&svc->hep_sa, hep, sizeof(hep));
    size_t nl = strlen(ctx->note);
    snprintf(ctx->note + nl, sizeof(ctx->note) - nl, "; HEP on %s (UDP and TCP)", hep);
    hc_log(HC_LOG_INFO, "capture listening", HC_LS("hep", hep), HC_LS("http", ctx->url),
           HC_LS("database", hc_store_backend(svc->store)), HC_LI("retain_days", svc->retain_days),
           NULL);
    return 0;
fail:
    capture_stop(ctx, 0, NULL);
    return rc ? rc : -EINVAL;
}

/* ---- the staged stop: listeners, queue (drained into the database), timers, HTTP,
 * store ---- */

static void on_store_closed(void *arg)
{
    capture_svc_t *svc = arg;
    hc_service_ctx_t *ctx = svc->ctx;
    hc_service_stopped_cb done = svc->stopped;
    capture_calls_free(svc);
    capture_ingest_free(svc);
    hc_free(svc);
    ctx->state = NULL;
    if (done)
        done(ctx);
}

static void stop_store(capture_svc_t *svc)
{
    if (svc->store)
        hc_store_close(svc->store, on_store_closed, svc);
    else
        on_store_closed(svc);
}

static void on_api_stopped(capture_svc_t *svc)
{
    stop_store(svc);
}

static void on_schema_stopped(capture_svc_t *svc)
{
    capture_api_stop(svc, on_api_stopped);
}

static void on_batch_drained(capture_svc_t *svc)
{
    capture_schema_stop(svc, on_schema_stopped);
}

static void on_ingest_stopped(capture_svc_t *svc)
{
    if (svc->batch)
        capture_batch_stop(svc, on_batch_drained);
    else
        on_batch_drained(svc);
}

static void capture_stop(hc_service_ctx_t *ctx, unsigned deadline_ms, hc_service_stopped_cb done)
{
    capture_svc_t *svc = ctx->state;
    svc->stop_deadline_ms = deadline_ms;
    svc->stopped = done;
    svc->stopping = 1;
    if (ctx->in_up && ctx->url[0])
        proxy_local_publish(ctx->service->name, "");
    capture_ingest_stop(svc, on_ingest_stopped);
}

const hc_service_t capture_service = {
    .name = "capture",
    .summary = "HEP capture server, SIP search API and UI (Homer + heplify-server)",
    .usage = "hearth capture [--hep ADDR] [--http ADDR] [--retain-days N] [--dedup DURATION] "
             "[--hep-password SECRET]",
    .options = capture_options,
    .start = capture_start,
    .stop = capture_stop,
};
