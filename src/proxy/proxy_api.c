/* The API server's request handling (proxy_api.h) on the main loop: dispatch by path,
 * query parameters, paging headers, /ping, /metrics and the embedded dashboard. The
 * documents themselves come from proxy_api_json.c. */
#include "proxy/proxy_api.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "proxy/proxy_metrics.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX (16u << 20)

/* Percent-decodes s[0..n) into request memory (RFC 3986 §2.1); '+' is a space in a
 * query (application/x-www-form-urlencoded, as Go's url.Query reads it). */
static char *decode(hc_http_req_t *req, const char *s, size_t n, int plus)
{
    char *out = hc_http_req_alloc(req, n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hc_hex_digit((unsigned char)s[i + 1])) >= 0 &&
            (lo = hc_hex_digit((unsigned char)s[i + 2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}

static const char *qparam(hc_http_req_t *req, const char *name)
{
    size_t len;
    const char *v = hc_http_req_query_param(req, name, &len);
    return v ? decode(req, v, len, 1) : NULL;
}

static void send_json(hc_http_req_t *req, int status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(doc);
    hc_http_respond(req, status, "application/json", text, strlen(text));
    free(text); /* jansson's allocation */
}

/* Traefik's API errors: {"message": ...} sent as Go's http.Error sends text. */
static void send_error(hc_http_req_t *req, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *doc = json_pack("{s:s}", "message", msg);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) { /* the message was not UTF-8 */
        hc_http_respond_error(req, status, "not found");
        return;
    }
    hc_http_res_header(req, "X-Content-Type-Options", "nosniff");
    size_t n = strlen(text);
    char *body = hc_malloc(n + 2);
    memcpy(body, text, n);
    body[n] = '\n';
    hc_http_respond(req, status, "text/plain; charset=utf-8", body, n + 1);
    hc_free(body);
    free(text); /* jansson's allocation */
}

/* A paging parameter as Traefik's getIntParam reads it (Go's Atoi, above 0): dflt
 * when absent or empty; -1 after answering 400 with Traefik's message. */
static long int_param(hc_http_req_t *req, const char *key, long dflt)
{
    const char *raw = qparam(req, key);
    if (!raw || !*raw)
        return dflt;
    char *end;
    errno = 0;
    long v = strtol(raw, &end, 10);
    if (*end || errno || isspace((unsigned char)*raw) || v <= 0) {
        /* Go's Atoi: 0 for a syntax error, the clamped value when out of range */
        int syntax = *end || isspace((unsigned char)*raw) || end == raw;
        send_error(req, 400, "invalid request: %s: %ld", key, syntax ? 0L : v);
        return -1;
    }
    return v;
}

static void serve_list(hc_http_req_t *req, const proxy_api_t *api, const char *path)
{
    long per = int_param(req, "per_page", PROXY_API_PER_PAGE);
    long page = per < 0 ? -1 : int_param(req, "page", 1);
    if (page < 0)
        return;
    proxy_api_query_t q = {.search = qparam(req, "search"),
                           .status = qparam(req, "status"),
                           .service_name = qparam(req, "serviceName"),
                           .middleware_name = qparam(req, "middlewareName"),
                           .page = page,
                           .per_page = per};
    long next = 1;
    int status = 0;
    json_t *list = proxy_api_list(api, path, &q, &next, &status);
    if (!list) {
        if (status == 400)
            send_error(req, 400, "invalid request: page: %ld, per_page: %ld", page, per);
        else
            hc_http_respond_error(req, status, "not found");
        return;
    }
    char nbuf[24];
    snprintf(nbuf, sizeof(nbuf), "%ld", next);
    hc_http_res_header(req, "X-Next-Page", nbuf);
    send_json(req, 200, list);
}

/* /api/http/<kind>/<id>: one object by its qualified name (URL-escaped). */
static void serve_one(hc_http_req_t *req, const proxy_api_t *api, const char *kind,
                      const char *id)
{
    const proxy_config_t *cfg = api->gen ? api->gen->cfg : NULL;
    json_t *doc = NULL;
    if (cfg && !strcmp(kind, "routers")) {
        const proxy_router_t *r = proxy_config_router(cfg, id);
        doc = r ? proxy_api_router_json(api, r) : NULL;
    } else if (cfg && !strcmp(kind, "services")) {
        const proxy_service_t *s = proxy_config_service(cfg, id);
        doc = s ? proxy_api_service_json(api, s) : NULL;
    } else if (cfg && !strcmp(kind, "middlewares")) {
        const proxy_middleware_t *m = proxy_config_middleware(cfg, id);
        doc = m ? proxy_api_middleware_json(api, m) : NULL;
    } else if (cfg && !strcmp(kind, "serversTransports")) {
        const proxy_transport_t *t = proxy_config_transport(cfg, id);
        doc = t ? proxy_api_transport_json(api, t) : NULL;
    }
    if (!doc) { /* Traefik's words: "router not found: <id>" */
        size_t kl = strlen(kind);
        send_error(req, 404, "%.*s not found: %s", (int)(kl ? kl - 1 : 0), kind, id);
        return;
    }
    send_json(req, 200, doc);
}

/* TCP and UDP routing is not hearth's: Traefik's lists of them are served empty (their
 * objects are then not found). */
static int serve_empty_list(hc_http_req_t *req, const char *path)
{
    static const char *const lists[] = {"/api/tcp/routers", "/api/tcp/services",
                                        "/api/tcp/middlewares", "/api/udp/routers",
                                        "/api/udp/services"};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        if (!strcmp(path, lists[i])) {
            hc_http_res_header(req, "X-Next-Page", "1");
            send_json(req, 200, json_array());
            return 1;
        }
    return 0;
}

static void serve_metrics(hc_http_req_t *req, const proxy_api_t *api)
{
    hc_buf_t b;
    hc_buf_init(&b, METRICS_MAX);
    /* Server health and certificate expiry are read now, not on every change. */
    proxy_metrics_refresh(api->gen, api->server_up, api->server_up_ud);
    static const char *const own[] = {"traefik_", "process_", NULL}; /* under `up`, the */
    hc_metrics_render_only(api->metrics, &b, own); /* registry is every service's */
    hc_http_respond(req, 200, HC_METRICS_CONTENT_TYPE, b.base ? b.base : "", b.len);
    hc_buf_free(&b);
}

static void serve_dashboard(hc_http_req_t *req, const proxy_api_t *api, const char *path)
{
    if (!strcmp(path, "/dashboard") || !strcmp(path, "/")) {
        hc_http_res_header(req, "Location", PROXY_API_DASHBOARD);
        hc_http_respond(req, 302, "text/plain; charset=utf-8", "Found", 5);
        return;
    }
    if (!api->dashboard || hc_static_serve(api->dashboard, req) == -ENOENT)
        hc_http_respond(req, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
}

/* /api/entrypoints/<name>: one of the list, or Traefik's 404. */
static void serve_entrypoint(hc_http_req_t *req, const proxy_api_t *api, const char *name)
{
    json_t *all = proxy_api_entrypoints(api), *ep;
    size_t i;
    json_array_foreach(all, i, ep)
    {
        if (!strcmp(json_string_value(json_object_get(ep, "name")), name)) {
            send_json(req, 200, json_incref(ep));
            json_decref(all);
            return;
        }
    }
    json_decref(all);
    send_error(req, 404, "entry point not found: %s", name);
}

/* The documents without parameters. Returns 1 when path was one of them. */
static int serve_doc(hc_http_req_t *req, const proxy_api_t *api, const char *path)
{
    json_t *doc = NULL;
    if (!strcmp(path, PROXY_API_OVERVIEW))
        doc = proxy_api_overview(api);
    else if (!strcmp(path, PROXY_API_ENTRYPOINTS))
        doc = proxy_api_entrypoints(api);
    else if (!strcmp(path, PROXY_API_VERSION))
        doc = proxy_api_version(api);
    else if (!strcmp(path, PROXY_API_RAWDATA))
        doc = proxy_api_rawdata(api);
    else if (!strcmp(path, PROXY_API_ERRORS))
        doc = proxy_api_errors(api);
    if (!doc)
        return 0;
    send_json(req, 200, doc);
    return 1;
}

void proxy_api_handle(hc_http_req_t *req, void *arg)
{
    const proxy_api_t *api = arg;
    const char *path = decode(req, req->path, req->path_len, 0);
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        hc_http_res_header(req, "Allow", "GET, HEAD");
        hc_http_respond_error(req, 405, "method not allowed");
        return;
    }
    if (!strcmp(path, PROXY_API_PING)) {
        hc_http_respond(req, api->draining ? 503 : 200, "text/plain; charset=utf-8",
                        api->draining ? "Service Unavailable" : "OK", api->draining ? 19 : 2);
        return;
    }
    if (!strcmp(path, PROXY_API_METRICS) && api->metrics) {
        serve_metrics(req, api);
        return;
    }
    if (!strcmp(path, "/") || !strncmp(path, "/dashboard", 10)) {
        serve_dashboard(req, api, path);
        return;
    }
    if (serve_doc(req, api, path) || serve_empty_list(req, path))
        return;
    static const char eps[] = PROXY_API_ENTRYPOINTS "/";
    if (!strncmp(path, eps, sizeof(eps) - 1)) {
        serve_entrypoint(req, api, path + sizeof(eps) - 1);
        return;
    }
    static const char http[] = "/api/http/";
    if (!strncmp(path, http, sizeof(http) - 1)) {
        const char *kind = path + sizeof(http) - 1, *slash = strchr(kind, '/');
        if (!slash) {
            serve_list(req, api, path);
            return;
        }
        char k[24];
        if ((size_t)(slash - kind) < sizeof(k)) {
            memcpy(k, kind, (size_t)(slash - kind));
            k[slash - kind] = '\0';
            serve_one(req, api, k, slash + 1);
            return;
        }
    }
    hc_http_respond(req, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
}
