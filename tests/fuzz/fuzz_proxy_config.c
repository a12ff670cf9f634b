/* Fuzz target for the proxy configuration model and routing: the input is either
 * "rule:" + a Traefik rule (compiled and evaluated), "path:" + a request path
 * (normalized as before routing, its invariants checked), "mw:" + a Middleware spec
 * (parsed by its type's parser, then run on a request and a response; a circuit
 * breaker's expression is evaluated over a few responses), "sniff:" + the start of a
 * response body (its type detected as the contentType middleware does), or JSON: an
 * array of Kubernetes objects, or an object that is a file-provider dynamic
 * configuration. The built config is turned into a routing table and a few requests are
 * matched against it. */
#include "proxy/mw.h"
#include "proxy/mw_circuitbreaker.h"
#include "proxy/mw_contenttype.h"
#include "proxy/mw_errors.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_route.h"
#include "proxy/proxy_rule.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fuzz_header(void *ctx, const char *name, size_t *len)
{
    (void)ctx;
    if (strcasecmp(name, "X-Env") != 0)
        return NULL;
    *len = 4;
    return "prod";
}

static void match_some(const proxy_route_table_t *t, const proxy_rule_t *r)
{
    static const char *const hosts[] = {"example.com", "A.Example.COM:8443", "[::1]:80", "",
                                        "x.y.z."};
    static const char *const paths[] = {"/", "/foo", "/foo/bar", "/foobar", "/api/v1"};
    static const char *const queries[] = {NULL, "a=1&b", "q=a+b&%zz=%41", "=&&=x", "id=42"};
    static const char *const ips[] = {"127.0.0.1", "::1", "10.1.2.3", NULL, "bogus"};
    for (size_t h = 0; h < 5; h++) {
        for (size_t p = 0; p < 5; p++) {
            proxy_rule_req_t q = {.method = "GET",
                                  .method_len = 3,
                                  .host = hosts[h],
                                  .host_len = strlen(hosts[h]),
                                  .path = paths[p],
                                  .path_len = strlen(paths[p]),
                                  .query = queries[p],
                                  .query_len = queries[p] ? strlen(queries[p]) : 0,
                                  .client_ip = ips[h],
                                  .header = fuzz_header};
            if (t) {
                proxy_route_match(t, &q, (int)(p & 1));
            } else {
                char host[PROXY_RULE_MAX_HOST + 1];
                int n = proxy_rule_host_normalize(q.host, q.host_len, host);
                q.host = host;
                q.host_len = n > 0 ? (size_t)n : 0;
                proxy_rule_eval(r, &q);
            }
        }
    }
}

static void fuzz_rule(const uint8_t *data, size_t size, const char *syntax)
{
    char *text = malloc(size + 1), err[256];
    proxy_rule_t *r = NULL;
    memcpy(text, data, size);
    text[size] = '\0';
    if (proxy_rule_parse_syntax(text, syntax, &r, err, sizeof(err)) == 0) {
        match_some(NULL, r);
        proxy_rule_free(r);
    }
    free(text);
}

static void fuzz_config(json_t *root)
{
    const json_t *objs[64];
    const char *srcs[64];
    const json_t *files[1] = {root};
    const char *fsrc[1] = {"fuzz.yaml"};
    proxy_config_input_t in = {.allow_external_name = 1, .objects = objs, .sources = srcs};
    if (json_is_array(root)) {
        for (size_t i = 0; i < json_array_size(root) && i < 64; i++) {
            objs[i] = json_array_get(root, i);
            srcs[i] = "fuzz.yaml:1";
            in.nobjects++;
        }
    } else {
        in.files = files;
        in.file_sources = fsrc;
        in.nfiles = 1;
    }
    proxy_config_t *cfg = NULL;
    proxy_route_table_t *t = NULL;
    if (proxy_config_build(&in, &cfg) == 0 && proxy_route_build(cfg, "web", 0, &t) == 0)
        match_some(t, NULL);
    proxy_route_free(t);
    proxy_config_free(cfg);
}

/* The normalized path is no longer, keeps its root, holds no dot or empty segment
 * and is a fixed point. */
static void fuzz_path(const uint8_t *data, size_t size)
{
    char *p = malloc(size + 1), *again = malloc(size + 1);
    memcpy(p, data, size);
    p[size] = '\0';
    size_t n = size;
    if (proxy_rule_path_normalize(p, &n) < 0) {
        free(again);
        free(p);
        return;
    }
    if (n > size || (size && p[0] == '/' && (n == 0 || p[0] != '/')))
        abort();
    if (size && data[0] == '/' &&
        (memmem(p, n, "//", 2) || memmem(p, n, "/./", 3) || memmem(p, n, "/../", 4)))
        abort();
    memcpy(again, p, n);
    again[n] = '\0';
    size_t m = n;
    if (proxy_rule_path_normalize(again, &m) != 0 || m != n || memcmp(again, p, n) != 0)
        abort();
    free(again);
    free(p);
}

/* A Middleware spec ({"<type>": {...}}) through its parser and, when it parses, its
 * request and response steps on a request with a few fields. */
static void fuzz_mw(const uint8_t *data, size_t size)
{
    json_t *spec = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    proxy_mw_t mw;
    char err[256];
    if (spec && proxy_mw_parse(spec, "fuzz@file", &mw, err, sizeof(err)) == 0) {
        proxy_mw_req_t req;
        proxy_mw_resp_t resp;
        proxy_mw_req_init(&req, "GET", 1, "app.test:8443", "/a%2Fb/c?x=1", "10.0.0.9", 1000);
        proxy_mw_headers_add(&req.headers, "X-Forwarded-For", "192.0.2.1, 10.0.0.1");
        proxy_mw_headers_add(&req.headers, "Authorization", "Basic YTpi");
        proxy_mw_resp_init(&resp);
        if (mw.type->on_request)
            mw.type->on_request(mw.cfg, &req, &resp);
        if (mw.type->on_response)
            mw.type->on_response(mw.cfg, &req, &resp);
        if (!strcmp(mw.type->name, "errors")) { /* the page's status and target */
            hc_buf_t b;
            hc_buf_init(&b, 0);
            for (int st = 399; st <= 600; st += 101)
                if (proxy_mw_errors_catches(mw.cfg, st) + proxy_mw_errors_status(mw.cfg, st) > 0)
                    (void)proxy_mw_errors_target(mw.cfg, st, "/a b?x=%zz", &b);
            hc_buf_free(&b);
        }
        if (!strcmp(mw.type->name, "circuitBreaker")) { /* its expression, evaluated */
            proxy_mw_cb_t *cb = proxy_mw_cb_new(mw.cfg, "fuzz@file");
            for (uint64_t i = 0, t = 1; i < 8; i++, t += 400000000u) {
                (void)proxy_mw_cb_allow(cb, t);
                proxy_mw_cb_record(cb, i & 1 ? 502 : 200 + (int)i, i * 7000000u, t);
            }
            proxy_mw_cb_destroy(cb);
        }
        proxy_mw_resp_free(&resp);
        proxy_mw_req_free(&req); /* gives back what the request held */
        proxy_mw_free(&mw);
    }
    json_decref(spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 3 && memcmp(data, "mw:", 3) == 0) {
        fuzz_mw(data + 3, size - 3);
        return 0;
    }
    if (size >= 6 && memcmp(data, "sniff:", 6) == 0) { /* a response body's first bytes */
        const char *type = proxy_mw_sniff(data + 6, size - 6);
        if (!type || !strchr(type, '/'))
            __builtin_trap();
        return 0;
    }
    if (size >= 5 && memcmp(data, "path:", 5) == 0) {
        fuzz_path(data + 5, size - 5);
        return 0;
    }
    if (size >= 5 && memcmp(data, "rule:", 5) == 0) {
        fuzz_rule(data + 5, size - 5, NULL);
        return 0;
    }
    if (size >= 7 && memcmp(data, "rulev2:", 7) == 0) { /* ruleSyntax: v2 */
        fuzz_rule(data + 7, size - 7, "v2");
        return 0;
    }
    json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (root) {
        fuzz_config(root);
        json_decref(root);
    }
    return 0;
}
