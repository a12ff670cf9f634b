/* The analytics service (analytics.h): Umami's environment as options, start-up (store,
 * migrations, rollups, routes, listener, `hearth up` hooks), the request entry point
 * (CORS, preflight, latency), the tracker script and dashboard, /metrics, and the staged
 * stop that acknowledges nothing it has not committed. */
#include "analytics/analytics.h"
#include "analytics/analytics_int.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_password.h"
#include "core/hc_runtime.h"
#include "core/hc_static.h"
#include "proxy/proxy.h"

#include <errno.h>
#include <libpq-fe.h>
#include <malloc.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const hc_static_table_t analytics_web;

enum { METRICS_MAX = 1 << 20, SCRIPT_ALIASES_MAX = 8, API_BODY_MAX = 64 * 1024 };

static const hc_option_t analytics_options[] = {
    {"port", "PORT", "3000", "TCP port of the collector, API and dashboard", 0},
    {"host", "ANALYTICS_HOST", NULL,
     "address to listen on (default 0.0.0.0; 127.0.0.1 under `hearth up`)", 0},
    {"database-url", "DATABASE_URL", NULL,
     "sqlite:PATH or postgresql://... (default sqlite:<data>/analytics.db)", HC_OPT_SECRET},
    {"app-secret", "APP_SECRET", NULL, "key of session ids, cache and login tokens", HC_OPT_SECRET},
    {"hash-salt", "HASH_SALT", NULL,
     "used as the key when APP_SECRET is unset (Umami v3 ignores it: see docs/analytics.md)",
     HC_OPT_SECRET},
    {"admin-password", "ADMIN_PASSWORD", NULL,
     "password of the bootstrap user admin (default: generated and saved under the data dir)",
     HC_OPT_SECRET},
    {"disable-bot-check", "DISABLE_BOT_CHECK", "false", "store events from bot User-Agents too",
     HC_OPT_BOOL},
    {"ignore-ip", "IGNORE_IP", NULL, "comma list of IPs and CIDRs whose events get 403", 0},
    {"client-ip-header", "CLIENT_IP_HEADER", NULL, "header checked first for the client IP", 0},
    {"geolite-db-path", "GEOLITE_DB_PATH", NULL, "MaxMind GeoLite2 City database", 0},
    {"remove-trailing-slash", "REMOVE_TRAILING_SLASH", "false",
     "strip a trailing / from stored paths", HC_OPT_BOOL},
    {"cors-max-age", "CORS_MAX_AGE", "86400", "Access-Control-Max-Age of /api responses", 0},
    {"tracker-script-name", "TRACKER_SCRIPT_NAME", NULL,
     "comma list of extra names the tracker script is served under", 0},
    {"collect-api-endpoint", "COLLECT_API_ENDPOINT", NULL, "extra path answering as /api/send", 0},
    {"salt-rotation", "SALT_ROTATION", "month", "session salt period: month, week or day", 0},
    {"retain-days", "ANALYTICS_RETAIN_DAYS", "0", "delete events older than N days (0 = keep)", 0},
    {"queue-max", "ANALYTICS_QUEUE_MAX", "10000",
     "events waiting for the database before 503 (and store queue units)", 0},
    {"wait-max", "ANALYTICS_WAIT_MAX", "10s", "longest a send waits for its commit before 503", 0},
    {"rollup-flush", "ANALYTICS_ROLLUP_FLUSH", "1s",
     "how often counted rollup cells are written (a restart after a crash recounts the rest)", 0},
    {"rollup-replay", "ANALYTICS_ROLLUP_REPLAY", "auto",
     "after an unclean stop, count the events the rollups had not written: auto (SQLite: "
     "yes; PostgreSQL: no, as replicas may share it), on, off",
     0},
    /* normal by default: in WAL mode a commit is then a write() into the WAL without an
     * fsync (the checkpoint fsyncs). A committed event survives the process dying, kill -9
     * included (the OS holds the pages); only a power loss or kernel crash may drop the
     * last commits (never corrupts). full fsyncs each group commit, so every
     * acknowledged event also survives power loss, at a fraction of the throughput. */
    {"sqlite-sync", "ANALYTICS_SQLITE_SYNC", "normal",
     "SQLite synchronous mode: normal (acks survive a crash, not a power loss) or full", 0},
    HC_OPTION_END,
};

/* The running service plus what only this file touches. */
typedef struct an_svc {
    analytics_t an;
    hc_static_t *web;
    char *script_names[SCRIPT_ALIASES_MAX + 1]; /* "/script.js" and aliases */
    size_t nscripts;
    char *db_url;
    hc_service_stopped_cb stopped;
    uv_timer_t deadline;
    int stop_phase; /* 1 draining sends, 2 flushing and closing the store */
    int server_drained, store_closed;
} an_svc_t;

/* What each request carries in req->user: the start time /api answers are timed from. */
typedef struct an_reqctx {
    analytics_t *an;
    uint64_t start_ns;
} an_reqctx_t;

static void on_call_closed(hc_http_req_t *req, void *arg)
{
    (void)req;
    analytics_call_t *c = arg;
    c->req = NULL;
    if (!c->busy)
        hc_free(c);
}

void *analytics_call_new(hc_http_req_t *req, size_t size)
{
    analytics_call_t *c = hc_calloc(1, size);
    c->req = req;
    hc_http_req_on_close(req, on_call_closed, c);
    return c;
}

hc_http_req_t *analytics_call_finish(void *call)
{
    analytics_call_t *c = call;
    hc_http_req_t *req = c->req;
    if (req)
        hc_http_req_on_close(req, NULL, NULL);
    hc_free(c);
    return req;
}

static void observe_latency(hc_http_req_t *req)
{
    an_reqctx_t *rc = req->user;
    if (rc && rc->start_ns) {
        hc_metrics_histogram_observe(rc->an->m_latency, (double)(uv_hrtime() - rc->start_ns) / 1e9);
        rc->start_ns = 0;
    }
}

void analytics_cors(analytics_t *an, hc_http_req_t *req)
{
    hc_http_res_header(req, "Access-Control-Allow-Origin", "*");
    hc_http_res_header(req, "Access-Control-Allow-Headers", "*");
    hc_http_res_header(req, "Access-Control-Allow-Methods", "GET, DELETE, POST, PUT");
    hc_http_res_header(req, "Access-Control-Max-Age", an->cors_max_age);
    hc_http_res_header(req, "Cache-Control", "no-cache");
}

void analytics_respond_json(hc_http_req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    observe_latency(req);
    hc_http_respond(req, status, "application/json", text ? text : "null", text ? strlen(text) : 4);
    free(text);
}

void analytics_respond_text(hc_http_req_t *req, int status, const char *json, size_t len)
{
    observe_latency(req);
    hc_http_respond(req, status, "application/json", json, len);
}

void analytics_respond_error(hc_http_req_t *req, int status, const char *code, const char *message)
{
    analytics_respond_json(req, status,
                           json_pack("{s:{s:s, s:s, s:i}}", "error", "message", message, "code",
                                     code, "status", status));
}

void analytics_reject(analytics_t *an, const char *reason)
{
    hc_metrics_counter_inc(hc_metrics_series(an->m_rejected, (const char *[]){reason}));
}

/* ---- timestamps ---- */

const char *analytics_ts_iso(int64_t ms, char *buf)
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, 24, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03dZ", (int)(ms - (int64_t)s * 1000));
    return buf;
}

hc_store_value_t analytics_ts_param(const analytics_t *an, int64_t ms, char *buf)
{
    if (!an->is_pg)
        return hc_store_int(ms);
    return hc_store_text(analytics_ts_iso(ms, buf));
}

int64_t analytics_ts_cell(const hc_store_value_t *v)
{
    if (v->type == HC_STORE_INT)
        return v->v.i;
    if (v->type == HC_STORE_DOUBLE)
        return (int64_t)v->v.d;
    if (v->type != HC_STORE_TEXT || v->v.s.len < 19)
        return 0;
    /* PostgreSQL text: "2026-05-17 12:34:56.123+00" (the session time zone is UTC). */
    struct tm tm = {0};
    const char *p = v->v.s.p;
    if (sscanf(p, "%4d-%2d-%2d%*c%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t ms = (int64_t)timegm(&tm) * 1000;
    const char *q = p + 19;
    if (*q == '.') {
        int scale = 100;
        for (q++; *q >= '0' && *q <= '9'; q++, scale /= 10)
            ms += scale ? (*q - '0') * scale : 0;
    }
    if (*q == '+' || *q == '-') {
        int hh = 0, mm = 0;
        sscanf(q + 1, "%2d:%2d", &hh, &mm);
        int64_t off = ((int64_t)hh * 60 + mm) * 60000;
        ms += *q == '+' ? -off : off;
    }
    return ms;
}

/* ---- the request entry point ---- */

static void gauge(analytics_t *an, const char *name, const char *help, double v)
{
    hc_metrics_gauge_set(hc_metrics_series(hc_metrics_gauge(an->metrics, name, help, NULL), NULL),
                         v);
}

static void serve_metrics(hc_http_req_t *req, void *arg)
{
    analytics_t *an = arg;
    hc_store_stats_t st;
    hc_store_stats(an->store, &st);
    gauge(an, "hearth_analytics_store_queue_units", "Write units queued or in flight.",
          (double)st.queued_units);
    gauge(an, "hearth_analytics_store_transactions",
          "Write transactions committed (group commits).", (double)st.transactions);
    gauge(an, "hearth_analytics_store_checkpoints", "SQLite WAL checkpoints run beside the writer.",
          (double)st.checkpoints);
    gauge(an, "hearth_analytics_store_checkpoints_inline",
          "SQLite WAL checkpoints the writer ran itself, the other having fallen behind.",
          (double)st.checkpoints_inline);
    gauge(an, "hearth_analytics_waiting_events", "Sends waiting for room in the store queue.",
          (double)analytics_ingest_waiting(an));
    hc_buf_t b;
    hc_buf_init(&b, METRICS_MAX);
    hc_metrics_render(an->metrics, &b);
    hc_http_respond(req, 200, HC_METRICS_CONTENT_TYPE, b.base ? b.base : "", b.len);
    hc_buf_free(&b);
}

static void serve_heartbeat(hc_http_req_t *req, void *arg)
{
    (void)arg;
    analytics_respond_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void api_not_found(hc_http_req_t *req, void *arg)
{
    (void)arg;
    analytics_respond_error(req, 404, "not-found", "Not found");
}

static int is_script(const an_svc_t *svc, const char *path, size_t len)
{
    for (size_t i = 0; i < svc->nscripts; i++)
        if (strlen(svc->script_names[i]) == len && !memcmp(svc->script_names[i], path, len))
            return 1;
    return 0;
}

/* The tracker: Umami's headers (any origin may load it, cached a day). */
static void serve_script(an_svc_t *svc, hc_http_req_t *req)
{
    hc_static_request_t in = {
        .method = req->is_head ? "GET" : req->method,
        .path = "/script.js",
        .accept_encoding = hc_http_req_header(req, "Accept-Encoding", NULL),
        .if_none_match = hc_http_req_header(req, "If-None-Match", NULL),
    };
    hc_static_response_t res;
    hc_static_respond(svc->web, &in, &res);
    if (res.status == 404 || res.status == 405 || res.status == 406) {
        hc_http_respond_error(req, res.status, "tracker script not available");
        return;
    }
    const char *type = NULL;
    for (size_t i = 0; i < res.nheaders; i++) {
        const hc_static_header_t *h = &res.headers[i];
        if (!strcmp(h->name, "Content-Type"))
            type = h->value;
        else if (strcmp(h->name, "Content-Length") && strcmp(h->name, "Cache-Control"))
            hc_http_res_header(req, h->name, h->value);
    }
    hc_http_res_header(req, "Access-Control-Allow-Origin", "*");
    hc_http_res_header(req, "Cache-Control", "public, max-age=86400, must-revalidate");
    hc_http_respond(req, res.status, type, (const char *)res.body, res.body_len);
}

/* The dashboard: its files, and index.html for every other path so the SPA routes. */
static void serve_web(hc_http_req_t *req, void *arg)
{
    an_svc_t *svc = arg;
    if (is_script(svc, req->path, req->path_len)) {
        serve_script(svc, req);
        return;
    }
    if (hc_static_serve(svc->web, req) != -ENOENT)
        return;
    hc_static_request_t in = {
        .method = req->is_head ? "GET" : req->method,
        .path = "/index.html",
        .accept_encoding = hc_http_req_header(req, "Accept-Encoding", NULL),
    };
    hc_static_response_t res;
    hc_static_respond(svc->web, &in, &res);
    if (res.status != 200) {
        hc_http_respond(req, 404, "text/plain; charset=utf-8", "Not found\n", 10);
        return;
    }
    const char *type = NULL;
    for (size_t i = 0; i < res.nheaders; i++) {
        const hc_static_header_t *h = &res.headers[i];
        if (!strcmp(h->name, "Content-Type"))
            type = h->value;
        else if (strcmp(h->name, "Content-Length") && strcmp(h->name, "ETag"))
            hc_http_res_header(req, h->name, h->value);
    }
    hc_http_respond(req, 200, type, (const char *)res.body, res.body_len);
}

static void on_request(hc_http_req_t *req, void *arg)
{
    an_svc_t *svc = arg;
    an_reqctx_t *rc = hc_http_req_alloc(req, sizeof(*rc));
    rc->an = &svc->an;
    rc->start_ns = uv_hrtime();
    req->user = rc;
    int api = req->path_len >= 5 && !memcmp(req->path, "/api/", 5);
    if (api || (req->path_len == 4 && !memcmp(req->path, "/api", 4)))
        analytics_cors(&svc->an, req);
    if (api && !strcmp(req->method, "OPTIONS")) {
        /* The tracker's preflight: JSON plus x-umami-cache. */
        hc_http_respond(req, 204, NULL, NULL, 0);
        return;
    }
    hc_router_handle(req, svc->an.router);
}

/* ---- options ---- */

static int opt_uint(hc_config_t *cfg, const char *name, long long max, unsigned *out)
{
    long long v = 0;
    char err[256];
    if (hc_config_get_int(cfg, name, &v, err, sizeof(err)) || v < 0 || v > max) {
        hc_log(HC_LOG_ERROR, "bad number option", HC_LS("option", name), HC_LS("error", err), NULL);
        return -EINVAL;
    }
    *out = (unsigned)v;
    return 0;
}

static int opt_bool(hc_config_t *cfg, const char *name, int *out)
{
    char err[256];
    if (hc_config_get_bool(cfg, name, out, err, sizeof(err))) {
        hc_log(HC_LOG_ERROR, "bad boolean option", HC_LS("option", name), HC_LS("error", err),
               NULL);
        return -EINVAL;
    }
    return 0;
}

/* "/script.js" plus TRACKER_SCRIPT_NAME's comma list ("umami.js, /x/t.js"). */
static int script_names(an_svc_t *svc, const char *list)
{
    svc->script_names[svc->nscripts++] = hc_strdup("/script.js");
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (!n)
            break;
        if (svc->nscripts == SCRIPT_ALIASES_MAX || n > 200) {
            hc_log(HC_LOG_ERROR, "TRACKER_SCRIPT_NAME: too many or too long names", NULL);
            return -EINVAL;
        }
        char *name = hc_malloc(n + 2);
        snprintf(name, n + 2, "%s%.*s", *p == '/' ? "" : "/", (int)n, p);
        svc->script_names[svc->nscripts++] = name;
        p += n;
    }
    return 0;
}

static int opts_load(an_svc_t *svc, hc_config_t *cfg)
{
    analytics_t *an = &svc->an;
    unsigned u = 0, age = 0;
    const char *rot = hc_config_get(cfg, "salt-rotation");
    if (!strcmp(rot, "month"))
        an->salt_rotation = ANALYTICS_SALT_MONTH;
    else if (!strcmp(rot, "week"))
        an->salt_rotation = ANALYTICS_SALT_WEEK;
    else if (!strcmp(rot, "day"))
        an->salt_rotation = ANALYTICS_SALT_DAY;
    else {
        hc_log(HC_LOG_ERROR, "SALT_ROTATION must be month, week or day", HC_LS("value", rot), NULL);
        return -EINVAL;
    }
    if (opt_bool(cfg, "disable-bot-check", &an->disable_bot_check) ||
        opt_bool(cfg, "remove-trailing-slash", &an->payload_opts.remove_trailing_slash) ||
        opt_uint(cfg, "cors-max-age", 1LL << 30, &age) ||
        opt_uint(cfg, "retain-days", 1000000, &an->retain_days) || opt_uint(cfg, "port", 65535, &u))
        return -EINVAL;
    long long flush_ms = 1000;
    char err[256] = "out of range";
    if (hc_config_get_duration_ms(cfg, "rollup-flush", &flush_ms, err, sizeof(err)) ||
        flush_ms <= 0 || flush_ms > 86400000) {
        hc_log(HC_LOG_ERROR, "ANALYTICS_ROLLUP_FLUSH must be a duration up to a day",
               HC_LS("error", err), NULL);
        return -EINVAL;
    }
    an->rollup_flush_ms = (unsigned)flush_ms;
    const char *replay = hc_config_get(cfg, "rollup-replay");
    if (!replay || (strcmp(replay, "auto") && strcmp(replay, "on") && strcmp(replay, "off"))) {
        hc_log(HC_LOG_ERROR, "ANALYTICS_ROLLUP_REPLAY must be auto, on or off",
               HC_LS("value", replay), NULL);
        return -EINVAL;
    }
    an->rollup_replay = !strcmp(replay, "on") ? 1 : !strcmp(replay, "off") ? 0 : -1;
    snprintf(an->cors_max_age, sizeof(an->cors_max_age), "%u", age);
    return script_names(svc, hc_config_get(cfg, "tracker-script-name"));
}

static int open_store(an_svc_t *svc, hc_config_t *cfg)
{
    analytics_t *an = &svc->an;
    const char *url = hc_config_get(cfg, "database-url");
    if (url && *url) {
        svc->db_url = hc_strdup(url);
    } else {
        size_t n = strlen(an->ctx->data_dir) + 32;
        svc->db_url = hc_malloc(n);
        snprintf(svc->db_url, n, "sqlite:%s/analytics.db", an->ctx->data_dir);
    }
    unsigned qmax = 0;
    if (opt_uint(cfg, "queue-max", 1000000, &qmax))
        return -EINVAL;
    const char *sync = hc_config_get(cfg, "sqlite-sync");
    if (strcmp(sync, "normal") && strcmp(sync, "full")) {
        hc_log(HC_LOG_ERROR, "ANALYTICS_SQLITE_SYNC must be normal or full", HC_LS("value", sync),
               NULL);
        return -EINVAL;
    }
    hc_store_options_t so = {.queue_max_units = qmax ? qmax : 10000,
                             .sqlite_sync_normal = !strcmp(sync, "normal")};
    int rc = hc_store_open(an->loop, svc->db_url, &so, &an->store);
    if (rc)
        return rc;
    an->is_pg = !strcmp(hc_store_backend(an->store), "postgresql");
    size_t applied = 0;
    rc = hc_store_migrate(an->store, "analytics", analytics_migrations, analytics_nmigrations,
                          &applied);
    if (rc)
        return rc;
    analytics_secret(an->secret, hc_config_get(cfg, "app-secret"), hc_config_get(cfg, "hash-salt"),
                     url && *url ? url : svc->db_url);
    return 0;
}

static int open_detect(an_svc_t *svc, hc_config_t *cfg)
{
    char why[256] = "";
    analytics_detect_opts_t o = {
        .client_ip_header = hc_config_get(cfg, "client-ip-header"),
        .ignore_ip = hc_config_get(cfg, "ignore-ip"),
        .geolite_db_path = hc_config_get(cfg, "geolite-db-path"),
    };
    int rc = analytics_detect_new(&o, &svc->an.detect, why, sizeof(why));
    if (rc)
        hc_log(HC_LOG_ERROR, "analytics: bad detection options", HC_LS("error", why), NULL);
    return rc;
}

static void metrics_open(analytics_t *an)
{
    an->metrics = hc_metrics_new(1);
    an->m_accepted =
        hc_metrics_series(hc_metrics_counter(an->metrics, "hearth_analytics_events_accepted_total",
                                             "Events committed and acknowledged.", NULL),
                          NULL);
    an->m_rejected =
        hc_metrics_counter(an->metrics, "hearth_analytics_events_rejected_total",
                           "Events refused, by reason.", (const char *[]){"reason", NULL});
    an->m_latency = hc_metrics_series(
        hc_metrics_histogram(an->metrics, "hearth_analytics_request_duration_seconds",
                             "Time from request head to response.", NULL, NULL, 0),
        NULL);
}

static int routes(an_svc_t *svc, hc_config_t *cfg)
{
    analytics_t *an = &svc->an;
    an->router = hc_router_new();
    int rc = 0;
    rc |= hc_router_add(an->router, "GET", ANALYTICS_API_HEARTBEAT, serve_heartbeat, an, 0);
    rc |= hc_router_add(an->router, "GET", ANALYTICS_METRICS, serve_metrics, an, 0);
    if (rc || (rc = analytics_ingest_open(an, hc_config_get(cfg, "collect-api-endpoint"))) ||
        (rc = analytics_auth_open(an)) || (rc = analytics_websites_routes(an)) ||
        (rc = analytics_query_routes(an)))
        return rc ? rc : -EINVAL;
    rc |= hc_router_add(an->router, "*", "/api/*", api_not_found, an, 0);
    rc |= hc_router_add(an->router, "GET", "/*", serve_web, svc, 0);
    return rc ? -EINVAL : 0;
}

static int listen_on(an_svc_t *svc, hc_config_t *cfg)
{
    analytics_t *an = &svc->an;
    const char *host = hc_config_get(cfg, "host");
    if (!host)
        host = an->ctx->in_up ? "127.0.0.1" : "0.0.0.0";
    char addr[300];
    snprintf(addr, sizeof(addr), "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", hc_config_get(cfg, "port"));
    struct sockaddr_storage sa;
    if (hc_addr_parse(addr, &sa)) {
        hc_log(HC_LOG_ERROR, "analytics: bad listen address", HC_LS("addr", addr), NULL);
        return -EINVAL;
    }
    an->server = hc_http_server_new(an->loop, &(hc_http_server_opts_t){
                                                  .max_body = API_BODY_MAX,
                                                  .handler = on_request,
                                                  .handler_arg = svc,
                                              });
    int rc = hc_http_server_listen(an->server, (struct sockaddr *)&sa, 0);
    if (rc) {
        hc_log(HC_LOG_ERROR, "analytics: cannot listen", HC_LS("addr", addr),
               HC_LS("error", strerror(-rc)), NULL);
        return rc;
    }
    hc_service_ctx_t *ctx = an->ctx;
    const char *shown = strcmp(host, "0.0.0.0") && strcmp(host, "::") ? host : "127.0.0.1";
    int port = hc_http_server_port(an->server);
    snprintf(ctx->url, sizeof(ctx->url), "http://%s%s%s:%d/", strchr(shown, ':') ? "[" : "", shown,
             strchr(shown, ':') ? "]" : "", port);
    snprintf(ctx->health_url, sizeof(ctx->health_url), "%.*s" ANALYTICS_API_HEARTBEAT,
             (int)strlen(ctx->url) - 1, ctx->url);
    hc_log(HC_LOG_INFO, "analytics listening", HC_LS("addr", addr),
           HC_LS("database", hc_store_backend(an->store)), NULL);
    return 0;
}

/* Whether the database already has a user called admin, asked before the bootstrap
 * (analytics_auth_open) creates one: 1, 0, or -1 when it cannot tell. Start-up only, as
 * it blocks: a short connection of its own, since the store answers reads on the loop,
 * after `hearth up` printed its banner. */
static int admin_exists(const char *url)
{
    static const char sql[] =
        "SELECT 1 FROM \"user\" WHERE username = 'admin' AND deleted_at IS NULL";
    int found = -1;
    if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11)) {
        PGconn *c = PQconnectdb(url);
        if (PQstatus(c) == CONNECTION_OK) {
            PGresult *r = PQexec(c, sql);
            if (PQresultStatus(r) == PGRES_TUPLES_OK)
                found = PQntuples(r) > 0;
            PQclear(r);
        }
        PQfinish(c);
        return found;
    }
    static const char *const prefixes[] = {"sqlite://", "sqlite:", "file:"};
    const char *path = NULL;
    for (size_t i = 0; !path && i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(url, prefixes[i], strlen(prefixes[i])))
            path = url + strlen(prefixes[i]);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (path && sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        int rc = sqlite3_step(st);
        found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}

static int admin_password(an_svc_t *svc, hc_config_t *cfg)
{
    analytics_t *an = &svc->an;
    const char *conf = hc_config_get(cfg, "admin-password");
    int rc = hc_password_bootstrap(conf, an->ctx->data_dir, "analytics", an->admin_password,
                                   sizeof(an->admin_password), &an->admin_generated);
    if (rc)
        return rc;
    hc_service_ctx_t *ctx = an->ctx;
    if (conf && *conf)
        snprintf(ctx->note, sizeof(ctx->note), "login admin (password from ADMIN_PASSWORD)");
    else if (an->admin_generated && admin_exists(svc->db_url) == 1)
        /* a password made just now cannot be the one of an admin the database had */
        snprintf(ctx->note, sizeof(ctx->note),
                 "login admin with the password the database's admin already had (the one "
                 "generated in %s/analytics-admin-password is for a new admin only)",
                 ctx->data_dir);
    else if (an->admin_generated)
        snprintf(ctx->note, sizeof(ctx->note),
                 "login admin / %s (saved in %s/analytics-admin-password)", an->admin_password,
                 ctx->data_dir);
    else
        snprintf(ctx->note, sizeof(ctx->note),
                 "login admin, password in %s/analytics-admin-password", ctx->data_dir);
    return 0;
}

static void analytics_stop(hc_service_ctx_t *ctx, unsigned deadline_ms, hc_service_stopped_cb done);

static int analytics_start(hc_service_ctx_t *ctx)
{
    an_svc_t *svc = hc_calloc(1, sizeof(*svc));
    analytics_t *an = &svc->an;
    hc_config_t *cfg = ctx->config;
    int rc;
    /* before the store starts its threads: glibc gives each thread that allocates its own
     * arena and keeps what was freed in it (the store's rows are allocated on the thread
     * pool and freed on the loop); one arena shares that memory between them. A fixed
     * mmap threshold keeps large short-lived blocks (a read's rows, a flush's group) out
     * of the heap, where they would leave holes, and gives them back when freed; the heap
     * is trimmed past 4 MiB free (setting the threshold leaves the trim at 128 KiB, and
     * each dashboard read then gave back and faulted in its pages again). */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
    an->ctx = ctx;
    an->loop = ctx->loop;
    ctx->state = svc;
    metrics_open(an);
    if ((rc = opts_load(svc, cfg)) || (rc = open_detect(svc, cfg)) || (rc = open_store(svc, cfg)) ||
        (rc = admin_password(svc, cfg)))
        goto fail;
    if ((rc = hc_static_new(&analytics_web, &(hc_static_options_t){.immutable = 1}, &svc->web))) {
        hc_log(HC_LOG_ERROR, "analytics: cannot index the embedded dashboard", NULL);
        goto fail;
    }
    if ((rc = analytics_rollup_open(an, &an->rollup))) {
        hc_log(HC_LOG_ERROR, "analytics: cannot open the rollups", HC_LS("error", strerror(-rc)),
               NULL);
        goto fail;
    }
    if ((rc = analytics_sites_open(an)) || (rc = routes(svc, cfg)) || (rc = listen_on(svc, cfg)))
        goto fail;
    if (ctx->in_up && (rc = proxy_local_publish(ctx->service->name, ctx->url)))
        goto fail;
    return 0;
fail:
    analytics_stop(ctx, 0, NULL); /* finishes from the loop */
    ctx->state = NULL;            /* so the runtime does not stop it again */
    return rc < 0 ? rc : -EINVAL;
}

/* ---- stop: listener, in-flight sends, rollups, store ----
 * The server drains (no new connections; in-flight sends are answered as their commits
 * land), then the ingest line empties, the rollups flush and the store closes (it
 * commits every queued unit). The deadline skips waiting for the line: closing the store
 * then decides each pending send. The service is freed once the server drained and the
 * store closed, in whichever order they end. */

static void stop_finish(an_svc_t *svc)
{
    analytics_t *an = &svc->an;
    hc_service_ctx_t *ctx = an->ctx;
    hc_service_stopped_cb done = svc->stopped;
    analytics_ingest_close(an);
    analytics_sites_close(an);
    analytics_auth_close(an);
    if (an->server)
        hc_http_server_free(an->server);
    hc_router_free(an->router);
    hc_static_free(svc->web);
    analytics_detect_free(an->detect);
    hc_metrics_free(an->metrics);
    for (size_t i = 0; i < svc->nscripts; i++)
        hc_free(svc->script_names[i]);
    hc_free(svc->db_url);
    hc_free(svc);
    ctx->state = NULL;
    if (done)
        done(ctx);
}

static void on_deadline_closed(uv_handle_t *h)
{
    stop_finish(h->data);
}

static void stop_step(an_svc_t *svc)
{
    if (!svc->server_drained || !svc->store_closed)
        return;
    uv_close((uv_handle_t *)&svc->deadline, on_deadline_closed);
}

static void on_store_closed(void *arg)
{
    an_svc_t *svc = arg;
    svc->an.store = NULL;
    svc->store_closed = 1;
    stop_step(svc);
}

static void close_store(an_svc_t *svc)
{
    analytics_t *an = &svc->an;
    uv_timer_stop(&svc->deadline);
    if (an->rollup)
        analytics_rollup_close(an->rollup);
    an->rollup = NULL;
    if (an->store)
        hc_store_close(an->store, on_store_closed, svc);
    else
        on_store_closed(svc);
}

static void on_rollup_flushed(void *arg)
{
    close_store(arg);
}

/* Every accepted send was answered (or the deadline passed): flush the rollups. */
static void on_ingest_drained(void *arg)
{
    an_svc_t *svc = arg;
    if (svc->stop_phase != 1)
        return;
    svc->stop_phase = 2;
    if (svc->an.rollup)
        analytics_rollup_flush(svc->an.rollup, on_rollup_flushed, svc);
    else
        close_store(svc);
}

static void on_server_drained(hc_http_server_t *s, void *arg)
{
    (void)s;
    an_svc_t *svc = arg;
    svc->server_drained = 1;
    stop_step(svc);
}

static void on_deadline(uv_timer_t *t)
{
    on_ingest_drained(t->data);
}

static void analytics_stop(hc_service_ctx_t *ctx, unsigned deadline_ms, hc_service_stopped_cb done)
{
    an_svc_t *svc = ctx->state;
    analytics_t *an = &svc->an;
    svc->stopped = done;
    an->stopping = 1;
    svc->stop_phase = 1;
    if (ctx->in_up && ctx->url[0])
        proxy_local_publish(ctx->service->name, "");
    uv_timer_init(an->loop, &svc->deadline);
    svc->deadline.data = svc;
    uv_timer_start(&svc->deadline, on_deadline, deadline_ms ? deadline_ms : 1, 0);
    if (an->server)
        hc_http_server_drain(an->server, deadline_ms, on_server_drained, svc);
    else
        svc->server_drained = 1;
    if (an->ingest)
        analytics_ingest_drain(an, on_ingest_drained, svc);
    else
        on_ingest_drained(svc);
}

static int analytics_reload(hc_service_ctx_t *ctx)
{
    an_svc_t *svc = ctx->state;
    analytics_sites_close(&svc->an);
    return analytics_sites_open(&svc->an);
}

const hc_service_t analytics_service = {
    .name = "analytics",
    .summary = "Umami-compatible web analytics (tracker, /api/send, API, dashboard)",
    .usage = "hearth analytics [--port N] [--retain-days N]   (env as Umami: DATABASE_URL, ...)",
    .options = analytics_options,
    .start = analytics_start,
    .stop = analytics_stop,
    .reload = analytics_reload,
};
