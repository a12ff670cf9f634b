/* End-to-end fixture for the proxy's upstream forwarding (tests/e2e/test_proxy_upstream.py):
 * one loop, one listener, every request forwarded to one service of a file-provider
 * configuration with no routing and no middlewares. SIGTERM drains and exits 0.
 *   proxy_fwd_fixture --listen 127.0.0.1:P --config JSON --service NAME@file
 *                     [--connect-timeout-ms N] [--response-timeout-ms N]
 *                     [--tunnel-idle-ms N] [--trusted CIDR] */
#include "core/hc_alloc.h"
#include "core/hc_http_server.h"
#include "core/hc_runtime.h"
#include "proxy/proxy_upstream.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    uv_loop_t *loop;
    hc_http_server_t *srv;
    proxy_config_t *cfg;
    proxy_upstream_shared_t *sh;
    proxy_upstream_t *up;
    const proxy_service_t *svc;
    uv_signal_t sig;
} g;

typedef struct fx_req {
    proxy_mw_req_t mw;
} fx_req_t;

static void on_done(void *ud, const proxy_fwd_result_t *res)
{
    fx_req_t *r = ud;
    fprintf(stderr, "fwd status=%d origin=%d url=%s retries=%u bytes=%llu\n",
            res->downstream_status, res->origin_status, res->service_url, res->retry_attempts,
            (unsigned long long)res->origin_content_size);
    proxy_mw_req_free(&r->mw);
    hc_free(r);
}

static const proxy_fwd_hooks_t hooks = {.on_done = on_done};

static void handle(hc_http_req_t *req, void *arg)
{
    (void)arg;
    struct sockaddr_storage ss;
    char ip[64] = "";
    if (hc_http_req_peer(req, &ss) == 0 && ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
    fx_req_t *r = hc_calloc(1, sizeof(*r));
    char target[8192];
    snprintf(target, sizeof(target), "%.*s", (int)req->target_len, req->target);
    proxy_mw_req_init(&r->mw, req->method, 0, hc_http_req_header(req, "Host", NULL), target, ip,
                      uv_hrtime());
    for (size_t i = 0; i < req->nheaders; i++)
        proxy_mw_headers_add(&r->mw.headers, req->headers[i].name, req->headers[i].value);
    req->max_body = (size_t)1 << 40; /* streamed through: no limit here */
    proxy_upstream_untrusted_strip(g.up, &r->mw, req); /* as the proxy's entry point */
    proxy_upstream_forwarded(&r->mw.headers, ip, 1, 0, proxy_upstream_is_websocket(&r->mw.headers),
                             r->mw.host, NULL);
    proxy_fwd_args_t a = {.req = req, .mw = &r->mw, .service = g.svc, .hooks = &hooks, .ud = r};
    if (proxy_upstream_forward(g.up, &a) < 0) {
        hc_http_respond(req, 500, "text/plain", "bad args\n", 9);
        proxy_mw_req_free(&r->mw);
        hc_free(r);
    }
}

static void server_done(hc_http_server_t *s, void *arg)
{
    (void)arg;
    hc_http_server_free(s);
    proxy_upstream_free(g.up);
    proxy_upstream_shared_free(g.sh);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    uv_close((uv_handle_t *)s, NULL);
    hc_http_server_drain(g.srv, 5000, server_done, NULL);
}

static int load_config(const char *json, const char *service)
{
    json_error_t je;
    json_t *file = json_loads(json, 0, &je);
    if (!file) {
        fprintf(stderr, "proxy_fwd_fixture: --config: %s\n", je.text);
        return -1;
    }
    const json_t *files[1] = {file};
    const char *sources[1] = {"fixture"};
    proxy_config_input_t in = {.files = files, .file_sources = sources, .nfiles = 1};
    int rc = proxy_config_build(&in, &g.cfg);
    json_decref(file);
    if (rc < 0 || !(g.svc = proxy_config_service(g.cfg, service))) {
        fprintf(stderr, "proxy_fwd_fixture: no service %s\n", service);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *listen = NULL, *config = NULL, *service = NULL, *trusted[1];
    proxy_upstream_opts_t o = {0};
    unsigned read_timeout_ms = 0;
    signal(SIGPIPE, SIG_IGN); /* as hc_runtime does: bodies are spliced into client sockets */
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--listen"))
            listen = v;
        else if (!strcmp(k, "--config"))
            config = v;
        else if (!strcmp(k, "--service"))
            service = v;
        else if (!strcmp(k, "--connect-timeout-ms"))
            o.connect_timeout_ms = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--response-timeout-ms"))
            o.response_timeout_ms = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--tunnel-idle-ms"))
            o.tunnel_idle_ms = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--read-timeout-ms"))
            read_timeout_ms = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--trusted"))
            trusted[0] = v, o.trusted_ips = trusted, o.ntrusted_ips = 1;
    }
    struct sockaddr_storage addr;
    if (!listen || !config || !service || hc_addr_parse(listen, &addr) < 0 ||
        load_config(config, service) < 0) {
        fprintf(stderr, "usage: proxy_fwd_fixture --listen ADDR --config JSON --service NAME\n");
        return 2;
    }
    char err[256];
    g.loop = uv_default_loop();
    g.sh = proxy_upstream_shared_new(g.loop, &o, err, sizeof(err));
    g.up = g.sh ? proxy_upstream_new(g.loop, g.sh, err, sizeof(err)) : NULL;
    if (!g.up) {
        fprintf(stderr, "proxy_fwd_fixture: %s\n", err);
        return 2;
    }
    proxy_upstream_shared_set_config(g.sh, g.cfg);
    proxy_upstream_set_config(g.up, g.cfg);
    g.srv =
        hc_http_server_new(g.loop, &(hc_http_server_opts_t){.handler = handle,
                                                            .server_header = "",
                                                            .idle_timeout_ms = 30000,
                                                            .read_timeout_ms = read_timeout_ms,
                                                            .header_timeout_ms = read_timeout_ms,
                                                            .read_timeout_whole = 1});
    int rc = hc_http_server_listen(g.srv, (struct sockaddr *)&addr, 0);
    if (rc < 0) {
        fprintf(stderr, "proxy_fwd_fixture: listen: %s\n", uv_strerror(rc));
        return 2;
    }
    uv_signal_init(g.loop, &g.sig);
    uv_signal_start(&g.sig, on_signal, SIGTERM);
    uv_run(g.loop, UV_RUN_DEFAULT);
    g.svc = NULL;
    proxy_config_free(g.cfg);
    uv_loop_close(g.loop);
    return 0;
}
