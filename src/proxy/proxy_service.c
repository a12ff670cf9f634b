/* The proxy service (proxy.h): options, start-up (generation, TLS context, upstream
 * shared state, workers, API server), reloads on manifest and --file changes and
 * SIGHUP, SIGUSR1 log reopening, `hearth up` local routes, and the graceful stop. */
#include "proxy/proxy.h"
#include "proxy/proxy_service_int.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_LOCALS 32
#define FILE_DEBOUNCE_MS 200

extern const hc_static_table_t proxy_web;

const hc_option_t proxy_options[] = {
    {"manifests", "PROXY_MANIFESTS", NULL, "Kubernetes manifest directory or file", HC_OPT_MULTI},
    {"file", "PROXY_FILE", NULL, "Traefik file-provider dynamic configuration (YAML)", 0},
    {"web", "PROXY_WEB", ":8080", "address of the web entry point (plain HTTP)", 0},
    {"websecure", "PROXY_WEBSECURE", ":8443", "address of the websecure entry point (TLS)", 0},
    {"api", "PROXY_API", ":9000", "address of the API, dashboard, /ping and /metrics", 0},
    {"workers", "PROXY_WORKERS", "0", "worker threads (0 = one per core)", 0},
    {"ingress-class", "PROXY_INGRESS_CLASS", "traefik", "ingress class to serve", 0},
    {"access-log", "PROXY_ACCESS_LOG", NULL, "JSON access log file, or - for stdout", 0},
    {"trusted-ips", "PROXY_TRUSTED_IPS", NULL,
     "comma list of peers (IPs, CIDRs) whose X-Forwarded-* are kept: a load balancer in front "
     "(Traefik's forwardedHeaders.trustedIPs)",
     0},
    {"web-redirect-to", "PROXY_WEB_REDIRECT_TO", NULL,
     "redirect every request on web to https: websecure (its port) or :PORT (Traefik's "
     "entryPoints.web.http.redirections.entryPoint.to)",
     0},
    HC_OPTION_END,
};

/* `hearth up` locals (main loop only) and the running service they notify. */
static struct {
    char name[64];
    char url[128];
} locals[MAX_LOCALS];
static size_t nlocals;
static proxy_svc_t *running;
static proxy_local_cb local_cb; /* proxy_local_watch's watcher */
static void *local_cb_ud;

/* ---- generations ---- */

static int server_up(void *ud, const proxy_service_t *s, const char *url)
{
    return proxy_upstream_server_up(ud, s, url);
}

/* Builds a generation from the current inputs; fresh is --file as the caller just read
 * it, or NULL (read here; *file_failed tells whether that read failed). Returns NULL
 * only on unusable input. */
static proxy_gen_t *gen_make(proxy_svc_t *svc, hc_manifest_set_t *set, json_t *fresh,
                             int *file_failed)
{
    json_t *file = fresh ? json_incref(fresh) : NULL;
    char ferr[512] = "";
    if (!file && svc->file && proxy_gen_read_file(svc->file, &file, ferr, sizeof(ferr)) != 0) {
        /* as Traefik's file provider: a broken edit is reported, the last good one serves */
        hc_log(HC_LOG_ERROR, "cannot read --file", HC_LS("error", ferr),
               HC_LI("keeping_last_good", svc->file_good != NULL), NULL);
        file = json_incref(svc->file_good);
        svc->file_broken = 1;
    } else if (file) {
        svc->file_broken = 0;
        json_decref(svc->file_good);
        svc->file_good = json_incref(file);
        hc_free(svc->file_stamp);
        svc->file_stamp = proxy_gen_files_stamp(file);
    }
    proxy_local_t loc[MAX_LOCALS];
    for (size_t i = 0; i < nlocals; i++)
        loc[i] = (proxy_local_t){locals[i].name, locals[i].url};
    proxy_gen_input_t in = {.manifests = set,
                            .file = file,
                            .file_source = svc->file,
                            .file_error = ferr[0] ? ferr : NULL,
                            .ingress_class = svc->ingress_class,
                            .internal_url = svc->api_url[0] ? svc->api_url : NULL,
                            .web_redirect_to = svc->redirect_to,
                            .web_redirect_port = svc->redirect_port,
                            .prev = svc->gen,
                            .locals = loc,
                            .nlocals = nlocals,
                            .serial = ++svc->serial};
    proxy_gen_t *g = NULL;
    proxy_gen_build(&in, &g);
    *file_failed = ferr[0] != '\0';
    json_decref(file);
    return g;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Applies g's TLS options to the context of each entry point whose options changed from
 * old's (all when old is NULL), for the next handshakes; an unchanged one keeps its
 * OpenSSL context and session tickets. Each was checked alone when g was built; should
 * the whole set still be refused, the options in force stay (falling back to defaults
 * would drop every host's client authentication). */
static void tls_options_apply(proxy_svc_t *svc, const proxy_gen_t *old, const proxy_gen_t *g)
{
    for (int ep = 0; ep < PROXY_GEN_NEP; ep++) {
        char err[256] = "";
        if (old && same_str(old->tls_key[ep], g->tls_key[ep]))
            continue;
        if (hc_tls_ctx_set_options(svc->tls[ep], &g->tls[ep], err, sizeof(err)) != 0)
            hc_log(HC_LOG_ERROR, "TLS options refused; the previous ones stay",
                   HC_LS("entrypoint", ep == PROXY_GEN_WEB ? "web" : "websecure"),
                   HC_LS("error", err), NULL);
    }
}

/* Installs g's certificate set in both contexts. */
static void tls_certs_apply(proxy_svc_t *svc, proxy_gen_t *g)
{
    hc_tls_certs_t *set = proxy_gen_take_certs(g);
    hc_tls_ctx_set_certs(svc->tls[PROXY_GEN_WEB], hc_tls_certs_hold(set));
    hc_tls_ctx_set_certs(svc->tls[PROXY_GEN_WEBSECURE], set);
}

/* Makes g current: certificates and TLS options into the TLS contexts, health checks,
 * every worker. */
static void gen_publish(proxy_svc_t *svc, proxy_gen_t *g)
{
    if (svc->tls[0]) { /* at start-up the contexts are made after the first generation */
        tls_certs_apply(svc, g);
        tls_options_apply(svc, svc->gen, g);
    }
    proxy_upstream_shared_set_config(svc->shared, g->cfg);
    proxy_gen_t *old = svc->gen;
    svc->gen = g;
    svc->api.gen = g;
    if (svc->workers) {
        for (unsigned i = 0; i < svc->nworkers; i++)
            proxy_gen_ref(g);
        hc_workers_each(svc->workers, proxy_worker_set_gen, g);
    }
    proxy_gen_unref(old);
    for (size_t i = 0; i < g->nerrors; i++)
        hc_log(HC_LOG_WARN, "configuration error", HC_LS("source", g->errors[i].source),
               HC_LS("kind", g->errors[i].kind), HC_LS("name", g->errors[i].name),
               HC_LS("error", g->errors[i].message), NULL);
    hc_log(HC_LOG_INFO, "configuration loaded", HC_LI("generation", g->serial),
           HC_LI("routers", g->cfg->nrouters), HC_LI("services", g->cfg->nservices),
           HC_LI("errors", g->nerrors), NULL);
}

/* file_read: the rebuild is for --file (an edit, SIGHUP); when the file then does not
 * parse it is not counted in traefik_config_reloads_total, as Traefik's file provider
 * sends no configuration for it. A manifest change is counted with the last good file. */
static int rebuild_with(proxy_svc_t *svc, hc_manifest_set_t *set, json_t *fresh, int file_read)
{
    if (svc->api.draining) /* the workers are stopping: none would take it */
        return -ECANCELED;
    int file_failed = 0;
    proxy_gen_t *g = gen_make(svc, set, fresh, &file_failed);
    if (!(file_read && file_failed))
        proxy_metrics_reload(g != NULL);
    if (!g)
        return -EINVAL;
    gen_publish(svc, g);
    return 0;
}

static int rebuild(proxy_svc_t *svc, hc_manifest_set_t *set)
{
    return rebuild_with(svc, set, NULL, 0);
}

static void on_manifests(hc_manifest_watch_t *w, hc_manifest_set_t *set, void *data)
{
    (void)w;
    rebuild(data, set);
}

static hc_manifest_set_t *current_manifests(proxy_svc_t *svc)
{
    return svc->watch ? hc_manifest_watch_current(svc->watch) : NULL;
}

/* As Traefik's provider aggregator, an edit that leaves --file's configuration as it
 * was (a touch, a rewrite with the same content, a comment) builds nothing: what a
 * generation keeps (circuit breakers, rateLimit buckets) carries on. The files it names
 * count as part of it. */
static void on_file_timer(uv_timer_t *t)
{
    proxy_svc_t *svc = t->data;
    json_t *file = NULL;
    char err[512];
    if (proxy_gen_read_file(svc->file, &file, err, sizeof(err)) != 0)
        file = NULL; /* the build reads it again, to report why */
    int same = file && !svc->file_broken && svc->file_good && json_equal(file, svc->file_good);
    if (same) {
        char *stamp = proxy_gen_files_stamp(file);
        same = svc->file_stamp && !strcmp(stamp, svc->file_stamp);
        hc_free(stamp);
    }
    if (same)
        hc_log(HC_LOG_INFO, "--file unchanged, nothing to reload", HC_LS("file", svc->file), NULL);
    else
        rebuild_with(svc, current_manifests(svc), file, 1); /* as read here */
    json_decref(file);
}

static void on_file_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    proxy_svc_t *svc = h->data;
    const char *slash = strrchr(svc->file, '/'), *base = slash ? slash + 1 : svc->file;
    (void)events;
    (void)status;
    /* another file of the directory (an access log, say) is not ours; "..data" is: a
     * ConfigMap volume's file is a symlink through it, and kubelet's update swaps it */
    if (filename && strcmp(filename, base) != 0 && strcmp(filename, "..data") != 0)
        return;
    uv_timer_start(&svc->file_timer, on_file_timer, FILE_DEBOUNCE_MS, 0);
}

static void on_usr1(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    int rc = proxy_accesslog_reopen();
    hc_log(rc ? HC_LOG_ERROR : HC_LOG_INFO, rc ? "cannot reopen access log" : "access log reopened",
           HC_LS("error", rc ? strerror(-rc) : NULL), NULL);
}

/* ---- start ---- */

int proxy_up_manifests_dir(const char *data_dir, char *out, size_t n)
{
    int rc = 0;
    if (snprintf(out, n, "%s/manifests", data_dir) >= (int)n)
        rc = -ENAMETOOLONG;
    else if (mkdir(out, 0700) != 0 && errno != EEXIST)
        rc = -errno;
    if (rc)
        hc_log(HC_LOG_ERROR, "cannot create the manifests directory", HC_LS("data", data_dir),
               HC_LS("error", strerror(-rc)), NULL);
    return rc;
}

/* Under `hearth up`, <data>/manifests joins the watched paths: the certs service writes
 * the Secrets and the Ingress of the `<service>.localhost` certificates there. */
static int up_manifests_add(proxy_svc_t *svc)
{
    char dir[4096];
    int rc = proxy_up_manifests_dir(svc->ctx->data_dir, dir, sizeof(dir));
    if (rc)
        return rc;
    const char **v = hc_calloc(svc->nmanifests + 1, sizeof(*v));
    for (size_t i = 0; i < svc->nmanifests; i++)
        v[i] = svc->manifests[i];
    v[svc->nmanifests++] = hc_strdup(dir);
    svc->up_manifests = v;
    svc->manifests = v;
    return 0;
}

static void local_url(const struct sockaddr_storage *sa, int port, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "127.0.0.1";
    if (sa->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        inet_ntop(AF_INET6, IN6_IS_ADDR_UNSPECIFIED(a) ? &in6addr_loopback : a, host, sizeof(host));
        snprintf(out, n, "http://[%s]:%d", host, port);
        return;
    }
    const struct in_addr *a = &((const struct sockaddr_in *)sa)->sin_addr;
    if (a->s_addr != htonl(INADDR_ANY))
        inet_ntop(AF_INET, a, host, sizeof(host));
    snprintf(out, n, "http://%s:%d", host, port);
}

/* --web-redirect-to: ":PORT", or an entry point whose port the redirects name (Traefik's
 * getRedirectPort; its messages). */
static int redirect_load(proxy_svc_t *svc, const char *to)
{
    static const char *const eps[2] = {"web", "websecure"};
    const char *p = to[0] == ':' ? to + 1 : NULL;
    size_t n = p ? strspn(p, "0123456789") : 0;
    int port = 0;
    if (p && n && n <= 5 && !p[n])
        port = atoi(p);
    for (int i = 0; !p && i < 2; i++)
        if (!strcmp(to, eps[i]) && svc->addr[i][0])
            port = ntohs(((struct sockaddr_in *)&svc->sa[i])->sin_port);
    if (!port || port > 65535) {
        hc_log(HC_LOG_ERROR, "bad --web-redirect-to",
               HC_LS("error", p ? "invalid port value"
                                : "'to' entry point field references a non-existing entry point "
                                  "(or one listening on port 0)"),
               HC_LS("value", to), NULL);
        return -EINVAL;
    }
    svc->redirect_to = to;
    snprintf(svc->redirect_port, sizeof(svc->redirect_port), "%d", port);
    return 0;
}

static int opts_load(proxy_svc_t *svc, hc_config_t *cfg)
{
    static const char *const names[3] = {"web", "websecure", "api"};
    char err[256] = "";
    for (int i = 0; i < 3; i++) {
        svc->addr[i] = hc_config_get(cfg, names[i]);
        if (!svc->addr[i])
            svc->addr[i] = "";
        /* under hearth up the API (unauthenticated: /api/rawdata holds the whole
         * configuration) stays on this machine, as the other services' listeners do */
        if (i == 2 && svc->ctx->in_up && svc->addr[i][0] == ':') {
            snprintf(svc->api_local, sizeof(svc->api_local), "127.0.0.1%s", svc->addr[i]);
            svc->addr[i] = svc->api_local;
        }
        if (svc->addr[i][0] && hc_addr_parse(svc->addr[i], &svc->sa[i]) != 0) {
            hc_log(
                HC_LOG_ERROR, "bad address", HC_LS("option", names[i]),
                HC_LS("value", svc->addr[i]),
                HC_LS("expected", "[HOST]:PORT (HOST an IPv4 or [IPv6] address), or \"\" for none"),
                NULL);
            return -EINVAL;
        }
    }
    int api_port = svc->addr[2][0] ? ntohs(((struct sockaddr_in *)&svc->sa[2])->sin_port) : 0;
    if (api_port) /* sin_port and sin6_port share their place */
        local_url(&svc->sa[2], api_port, svc->api_url, sizeof(svc->api_url));
    long long n = 0;
    if (hc_config_get_int(cfg, "workers", &n, err, sizeof(err)) != 0 || n < 0 || n > 1024) {
        hc_log(HC_LOG_ERROR, "bad --workers", HC_LS("error", err[0] ? err : "not in 0-1024"),
               HC_LS("expected", "0 (one per core) to 1024"), NULL);
        return -EINVAL;
    }
    svc->nworkers = n ? (unsigned)n : hc_cpu_count();
    const char *const *m;
    svc->nmanifests = hc_config_get_all(cfg, "manifests", &m);
    svc->manifests = m;
    if (svc->ctx->in_up) {
        int rc = up_manifests_add(svc);
        if (rc)
            return rc;
    }
    const char *to = hc_config_get(cfg, "web-redirect-to");
    if (to && *to && redirect_load(svc, to) != 0)
        return -EINVAL;
    svc->file = hc_config_get(cfg, "file");
    svc->ingress_class = hc_config_get(cfg, "ingress-class");
    size_t hn = sizeof(svc->hostname);
    if (uv_os_gethostname(svc->hostname, &hn) != 0)
        svc->hostname[0] = '\0';
    const char *log = hc_config_get(cfg, "access-log");
    if (log && *log) {
        int rc = proxy_accesslog_open(log);
        if (rc) {
            hc_log(HC_LOG_ERROR, "cannot open access log", HC_LS("path", log),
                   HC_LS("error", strerror(-rc)), NULL);
            return rc;
        }
    }
    return 0;
}

/* Watches the directory of --file (editors replace files by renaming). */
static void file_watch_start(proxy_svc_t *svc)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", svc->file);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    uv_timer_init(svc->loop, &svc->file_timer);
    svc->file_timer.data = svc;
    uv_fs_event_init(svc->loop, &svc->file_watch);
    svc->file_watch.data = svc;
    svc->file_watching = uv_fs_event_start(&svc->file_watch, on_file_event, dir, 0) == 0;
    if (!svc->file_watching)
        hc_log(HC_LOG_WARN, "cannot watch --file; SIGHUP reloads it", HC_LS("path", dir), NULL);
}

static int tls_start(proxy_svc_t *svc)
{
    static const char *const alpn[] = {"http/1.1", NULL};
    hc_tls_server_opts_t o = {.alpn = alpn};
    for (int ep = 0; ep < PROXY_GEN_NEP; ep++)
        if (!(svc->tls[ep] = hc_tls_server_new(&o, NULL, 0)))
            return -EINVAL;
    tls_options_apply(svc, NULL, svc->gen);
    tls_certs_apply(svc, svc->gen);
    return 0;
}

static int api_start(proxy_svc_t *svc)
{
    struct tm tm;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(svc->api.start_date, sizeof(svc->api.start_date), "%Y-%m-%dT%H:%M:%SZ", &tm);
    for (int i = 0; i < 3; i++)
        svc->api.addr[i] = svc->addr[i];
    svc->api.server_up = server_up;
    svc->api.server_up_ud = svc->shared;
    svc->api.access_log = proxy_accesslog_enabled();
    svc->api.kubernetes = svc->nmanifests > 0 || svc->up_manifests;
    svc->api.file = svc->file && *svc->file;
    svc->api.web_redirect_to = svc->redirect_to;
    svc->api.metrics = hc_metrics_default();
    if (hc_static_new(&proxy_web, &(hc_static_options_t){.prefix = PROXY_API_DASHBOARD},
                      &svc->dashboard) == 0)
        svc->api.dashboard = svc->dashboard;
    if (!svc->addr[2][0])
        return 0;
    hc_http_server_opts_t o = {.handler = proxy_api_handle, .handler_arg = &svc->api};
    svc->api_srv = hc_http_server_new(svc->loop, &o);
    int rc = svc->api_srv ? hc_http_server_listen(svc->api_srv, (struct sockaddr *)&svc->sa[2], 0)
                          : -EINVAL;
    if (rc)
        hc_log(HC_LOG_ERROR, "cannot listen", HC_LS("addr", svc->addr[2]),
               HC_LS("error", uv_strerror(rc)), NULL);
    return rc;
}

/* "http://host:port" that reaches the listener at sa from this machine: the loopback
 * address when it listens on every address. */
/* The banner and health URLs; under `hearth up`, also `proxy.localhost` on the web
 * entry point routed to the API (whose "/" is the dashboard). */
static void urls_set(proxy_svc_t *svc)
{
    hc_service_ctx_t *ctx = svc->ctx;
    int web = svc->w[0].ep[PROXY_GEN_WEB].srv ? hc_http_server_port(svc->w[0].ep[0].srv) : 0;
    int api = svc->api_srv ? hc_http_server_port(svc->api_srv) : 0;
    char self[96];
    snprintf(ctx->url, sizeof(ctx->url), "http://localhost:%d/", web);
    if (!api)
        return;
    snprintf(ctx->url, sizeof(ctx->url), "http://localhost:%d%s", api, PROXY_API_DASHBOARD);
    local_url(&svc->sa[2], api, self, sizeof(self));
    snprintf(ctx->health_url, sizeof(ctx->health_url), "%s%s", self, PROXY_API_PING);
    if (ctx->in_up && web && proxy_local_publish(ctx->service->name, self) == 0)
        snprintf(ctx->note, sizeof(ctx->note),
                 "routes <service>.localhost on :%d; dashboard also at http://%s.localhost:%d/",
                 web, ctx->service->name, web);
}

static void proxy_stop(hc_service_ctx_t *ctx, unsigned deadline_ms, hc_service_stopped_cb done);

static int proxy_start(hc_service_ctx_t *ctx)
{
    proxy_svc_t *svc = hc_calloc(1, sizeof(*svc));
    char err[256];
    svc->ctx = ctx;
    svc->loop = ctx->loop;
    ctx->state = svc;
    proxy_metrics_init();
    int rc = opts_load(svc, ctx->config);
    if (rc)
        goto fail;
    /* --trusted-ips: split on commas (and blanks) into the list the upstream parses */
    const char *list = hc_config_get(svc->ctx->config, "trusted-ips");
    char *trusted = hc_strdup(list ? list : "");
    const char **ips = NULL;
    size_t nips = 0;
    char *save = NULL;
    for (char *t = strtok_r(trusted, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        ips = hc_realloc(ips, (nips + 1) * sizeof(*ips));
        ips[nips++] = t;
    }
    svc->shared = proxy_upstream_shared_new(
        svc->loop, &(proxy_upstream_opts_t){.trusted_ips = ips, .ntrusted_ips = nips}, err,
        sizeof(err));
    hc_free(ips);
    hc_free(trusted);
    if (!svc->shared) {
        hc_log(HC_LOG_ERROR, "upstream setup failed", HC_LS("error", err), NULL);
        rc = -EINVAL;
        goto fail;
    }
    if (svc->nmanifests &&
        (rc = hc_manifest_watch_start(svc->loop, svc->manifests, svc->nmanifests, NULL,
                                      on_manifests, svc, &svc->watch)) != 0)
        goto fail;
    if (svc->file)
        file_watch_start(svc);
    uv_signal_init(svc->loop, &svc->usr1);
    uv_signal_start(&svc->usr1, on_usr1, SIGUSR1);
    uv_unref((uv_handle_t *)&svc->usr1);
    if ((rc = rebuild(svc, current_manifests(svc))) != 0 || (rc = tls_start(svc)) != 0)
        goto fail;
    svc->w = hc_calloc(svc->nworkers, sizeof(*svc->w));
    svc->workers = hc_workers_start(svc->nworkers, proxy_worker_init, proxy_worker_stop, svc);
    for (unsigned i = 0; i < svc->nworkers; i++)
        if (svc->w[i].failed)
            rc = -EADDRINUSE;
    if (rc || (rc = api_start(svc)) != 0)
        goto fail;
    running = svc; /* before urls_set: its proxy_local_publish rebuilds the routes */
    urls_set(svc);
    hc_log(HC_LOG_INFO, "proxy listening", HC_LS("web", svc->addr[0]),
           HC_LS("websecure", svc->addr[1]), HC_LS("api", svc->addr[2]),
           HC_LI("workers", svc->nworkers), NULL);
    return 0;
fail:
    proxy_stop(ctx, 0, NULL);
    return rc ? rc : -EINVAL;
}

/* ---- stop ---- */

static void stop_step(proxy_svc_t *svc)
{
    if (--svc->pending_close)
        return;
    hc_service_stopped_cb done = svc->stopped;
    hc_service_ctx_t *ctx = svc->ctx;
    if (svc->api_srv)
        hc_http_server_free(svc->api_srv);
    proxy_upstream_shared_free(svc->shared);
    hc_static_free(svc->dashboard);
    for (int ep = 0; ep < PROXY_GEN_NEP; ep++)
        hc_tls_ctx_unref(svc->tls[ep]);
    proxy_gen_unref(svc->gen);
    proxy_accesslog_close();
    if (svc->up_manifests)
        hc_free((char *)svc->up_manifests[svc->nmanifests - 1]);
    hc_free(svc->up_manifests);
    json_decref(svc->file_good);
    hc_free(svc->file_stamp);
    hc_free(svc->w);
    hc_free(svc);
    ctx->state = NULL;
    if (done)
        done(ctx);
}

static void on_handle_closed(uv_handle_t *h)
{
    stop_step(h->data);
}

static void on_api_drained(hc_http_server_t *s, void *arg)
{
    (void)s;
    stop_step(arg);
}

static void on_watch_closed(void *arg)
{
    stop_step(arg);
}

static void on_workers_stopped(uv_async_t *a)
{
    proxy_svc_t *svc = a->data;
    uv_thread_join(&svc->stopper);
    svc->workers = NULL;
    uv_close((uv_handle_t *)a, on_handle_closed);
}

/* Off the main loop: hc_workers_stop blocks until every worker drained. */
static void stopper_main(void *arg)
{
    proxy_svc_t *svc = arg;
    hc_workers_stop(svc->workers);
    uv_async_send(&svc->stop_async);
}

static void close_handle(proxy_svc_t *svc, uv_handle_t *h)
{
    h->data = svc;
    svc->pending_close++;
    uv_close(h, on_handle_closed);
}

static void proxy_stop(hc_service_ctx_t *ctx, unsigned deadline_ms, hc_service_stopped_cb done)
{
    proxy_svc_t *svc = ctx->state;
    if (running == svc) {
        running = NULL;
        if (ctx->in_up)
            proxy_local_publish(ctx->service->name, "");
    }
    svc->stopped = done;
    svc->drain_ms = deadline_ms;
    svc->api.draining = 1;
    svc->pending_close = 1; /* released at the end of this function */
    if (svc->watch) {
        svc->pending_close++;
        hc_manifest_watch_close(svc->watch, on_watch_closed, svc);
        svc->watch = NULL; /* it frees itself once closed */
    }
    if (svc->file_timer.loop) {
        close_handle(svc, (uv_handle_t *)&svc->file_watch);
        close_handle(svc, (uv_handle_t *)&svc->file_timer);
    }
    if (svc->usr1.loop)
        close_handle(svc, (uv_handle_t *)&svc->usr1);
    if (svc->api_srv) {
        svc->pending_close++;
        hc_http_server_drain(svc->api_srv, deadline_ms, on_api_drained, svc);
    }
    if (svc->workers) {
        svc->pending_close++;
        uv_async_init(svc->loop, &svc->stop_async, on_workers_stopped);
        svc->stop_async.data = svc;
        uv_thread_create(&svc->stopper, stopper_main, svc);
    }
    stop_step(svc);
}

/* SIGHUP: every manifest read again through the watch, so a file that is broken now
 * keeps its last good objects as after an edit, and --file read again. */
static int proxy_reload(hc_service_ctx_t *ctx)
{
    proxy_svc_t *svc = ctx->state;
    if (svc->api.draining) /* a stop no signal began (a service after it failed to start) */
        return 0;
    return rebuild_with(svc, svc->watch ? hc_manifest_watch_refresh(svc->watch) : NULL, NULL, 1);
}

/* ---- `hearth up` locals ---- */

static int label_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

int proxy_local_publish(const char *name, const char *url)
{
    if (!name || !url || !label_ok(name) ||
        (*url && strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
        strlen(url) >= sizeof(locals[0].url))
        return -EINVAL;
    size_t i = 0;
    while (i < nlocals && strcmp(locals[i].name, name))
        i++;
    if (!*url) {
        if (i < nlocals)
            locals[i] = locals[--nlocals];
    } else {
        if (i == nlocals && nlocals == MAX_LOCALS)
            return -ENOSPC;
        snprintf(locals[i].name, sizeof(locals[i].name), "%s", name);
        snprintf(locals[i].url, sizeof(locals[i].url), "%s", url);
        nlocals += i == nlocals;
        if (local_cb)
            local_cb(name, local_cb_ud);
    }
    if (running)
        rebuild(running, current_manifests(running));
    return 0;
}

void proxy_local_watch(proxy_local_cb cb, void *ud)
{
    local_cb = cb;
    local_cb_ud = ud;
    for (size_t i = 0; cb && i < nlocals; i++)
        cb(locals[i].name, ud);
}

const hc_service_t proxy_service = {
    .name = "proxy",
    .summary = "Traefik-compatible ingress proxy (Kubernetes Ingress, CRDs, file provider)",
    .usage = "hearth proxy [--manifests DIR]... [--file FILE] [--web ADDR] [--websecure ADDR] "
             "[--api ADDR] [--workers N] [--ingress-class NAME] [--access-log PATH|-] "
             "[--trusted-ips LIST] [--web-redirect-to websecure|:PORT]",
    .options = proxy_options,
    .start = proxy_start,
    .stop = proxy_stop,
    .reload = proxy_reload,
};
