/* proxy_runtime: building generations from the seed's manifests (Ingress with the
 * router.middlewares annotation, the three Middlewares, Service + Endpoints, a TLS
 * Secret), the --file provider, `hearth up` locals, chain expansion, broken objects
 * reported without failing the build, TLS options and the default certificate. */
#include "core/hc_alloc.h"
#include "core/hc_manifest.h"
#include "proxy/proxy_route.h"
#include "proxy/proxy_runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char seed[] =
    "apiVersion: networking.k8s.io/v1\n"
    "kind: Ingress\n"
    "metadata:\n"
    "  name: example-ingress\n"
    "  namespace: client-example\n"
    "  annotations:\n"
    "    traefik.ingress.kubernetes.io/router.middlewares: >-\n"
    "      default-security-headers@kubernetescrd,\n"
    "      default-rate-limit@kubernetescrd,\n"
    "      default-compress@kubernetescrd\n"
    "spec:\n"
    "  ingressClassName: traefik\n"
    "  rules:\n"
    "    - host: example-api.app.ominis.ai\n"
    "      http:\n"
    "        paths:\n"
    "          - path: /\n"
    "            pathType: Prefix\n"
    "            backend:\n"
    "              service:\n"
    "                name: api\n"
    "                port:\n"
    "                  number: 8000\n"
    "---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: client-example}\n"
    "spec: {ports: [{port: 8000, targetPort: 8000}]}\n"
    "---\n"
    "apiVersion: v1\nkind: Endpoints\nmetadata: {name: api, namespace: client-example}\n"
    "subsets: [{addresses: [{ip: 10.0.0.7}], ports: [{port: 8000}]}]\n"
    "---\n"
    "apiVersion: traefik.io/v1alpha1\nkind: Middleware\n"
    "metadata: {name: security-headers, namespace: default}\n"
    "spec: {headers: {frameDeny: true, contentTypeNosniff: true}}\n"
    "---\n"
    "apiVersion: traefik.io/v1alpha1\nkind: Middleware\n"
    "metadata: {name: rate-limit, namespace: default}\n"
    "spec: {rateLimit: {average: 100, burst: 50}}\n"
    "---\n"
    "apiVersion: traefik.io/v1alpha1\nkind: Middleware\n"
    "metadata: {name: compress, namespace: default}\n"
    "spec: {compress: {}}\n";

static proxy_gen_t *build(const char *yaml, const char *file_json, const proxy_local_t *loc,
                          size_t nloc)
{
    hc_manifest_set_t *set = yaml ? hc_manifest_parse("seed.yaml", yaml, strlen(yaml)) : NULL;
    json_t *file = file_json ? json_loads(file_json, 0, NULL) : NULL;
    proxy_gen_input_t in = {.manifests = set,
                            .file = file,
                            .file_source = "dyn.yaml",
                            .ingress_class = "traefik",
                            .locals = loc,
                            .nlocals = nloc,
                            .serial = 7};
    proxy_gen_t *g = NULL;
    assert_int_equal(proxy_gen_build(&in, &g), 0);
    assert_non_null(g);
    json_decref(file);
    hc_manifest_set_unref(set);
    return g;
}

static const proxy_router_t *match(const proxy_gen_t *g, int ep, const char *host,
                                   const char *path)
{
    proxy_rule_req_t q = {.method = "GET",
                          .method_len = 3,
                          .host = host,
                          .host_len = strlen(host),
                          .path = path,
                          .path_len = strlen(path)};
    return proxy_route_match(g->routes[ep], &q, ep == PROXY_GEN_WEBSECURE);
}

static void test_seed_generation(void **state)
{
    (void)state;
    proxy_gen_t *g = build(seed, NULL, NULL, 0);
    assert_int_equal(g->serial, 7);
    assert_int_equal(g->nerrors, 0);
    const proxy_router_t *r = match(g, PROXY_GEN_WEB, "example-api.app.ominis.ai", "/x");
    assert_non_null(r);
    assert_non_null(match(g, PROXY_GEN_WEBSECURE, "example-api.app.ominis.ai", "/"));
    assert_null(match(g, PROXY_GEN_WEB, "other.example", "/"));
    const proxy_gen_chain_t *c = proxy_gen_chain(g, r);
    assert_int_equal(c->n, 3);
    /* Order kept as the annotation gives it. */
    assert_string_equal(c->mws[0]->mw.type->name, "headers");
    assert_string_equal(c->mws[1]->mw.type->name, "rateLimit");
    assert_string_equal(c->mws[2]->mw.type->name, "compress");
    assert_string_equal(c->mws[1]->def->name, "default-rate-limit@kubernetescrd");
    /* The certificate set holds at least the generated default. */
    hc_tls_certs_t *certs = proxy_gen_take_certs(g);
    assert_non_null(certs);
    assert_int_equal(hc_tls_certs_count(certs), 1);
    assert_null(proxy_gen_take_certs(g));
    hc_tls_certs_free(certs);
    proxy_gen_unref(g);
}

static void test_refcount(void **state)
{
    (void)state;
    proxy_gen_t *g = build(seed, NULL, NULL, 0);
    proxy_gen_ref(g);
    proxy_gen_unref(g);
    assert_int_equal(atomic_load(&g->refs), 1);
    proxy_gen_unref(g);
    proxy_gen_unref(NULL);
}

static void test_broken_objects_reported(void **state)
{
    (void)state;
    static const char broken[] =
        "apiVersion: traefik.io/v1alpha1\nkind: Middleware\n"
        "metadata: {name: bad, namespace: default}\n"
        "spec: {rateLimit: {average: -5, period: nonsense}}\n"
        "---\n"
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
        "metadata:\n  name: web\n  namespace: default\n  annotations:\n"
        "    traefik.ingress.kubernetes.io/router.middlewares: default-bad@kubernetescrd\n"
        "spec:\n  defaultBackend: {service: {name: api, port: {number: 80}}}\n"
        "---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: default}\n"
        "spec: {ports: [{port: 80}]}\n"
        "---\n"
        "apiVersion: v1\nkind: Endpoints\nmetadata: {name: api, namespace: default}\n"
        "subsets: [{addresses: [{ip: 10.0.0.8}], ports: [{port: 80}]}]\n"
        "---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {namespace: default}\n";
    proxy_gen_t *g = build(broken, NULL, NULL, 0);
    assert_true(g->nerrors >= 2);
    int mw_err = 0, router_err = 0, yaml_err = 0;
    for (size_t i = 0; i < g->nerrors; i++) {
        mw_err |= !strcmp(g->errors[i].kind, "middleware") &&
                  !strcmp(g->errors[i].name, "default-bad@kubernetescrd");
        router_err |= !strcmp(g->errors[i].kind, "router");
        yaml_err |= !strncmp(g->errors[i].source, "seed.yaml:", 10) && !g->errors[i].kind[0];
    }
    assert_true(mw_err);
    assert_true(router_err);
    assert_true(yaml_err);
    /* As Traefik: a router whose middleware cannot run is disabled, with the reason, and
     * not routed. */
    assert_null(match(g, PROXY_GEN_WEB, "any.host", "/"));
    int disabled = 0;
    for (size_t i = 0; i < g->cfg->nrouters; i++)
        disabled +=
            g->cfg->routers[i].status == PROXY_STATUS_DISABLED && g->cfg->routers[i].nerrors > 0;
    assert_int_equal(disabled, 1);
    proxy_gen_unref(g);
}

/* Traefik's CRD chain: [{name, namespace}] resolved in the chain's namespace and
 * provider; "x@provider" taken as written. */
static void test_crd_chain_expands(void **state)
{
    (void)state;
    static const char yaml[] =
        "apiVersion: traefik.io/v1alpha1\nkind: Middleware\n"
        "metadata: {name: both, namespace: app}\n"
        "spec: {chain: {middlewares: [{name: hdr}, {name: strip, namespace: app},"
        " {name: add@file}]}}\n"
        "---\n"
        "apiVersion: traefik.io/v1alpha1\nkind: Middleware\n"
        "metadata: {name: hdr, namespace: app}\n"
        "spec: {headers: {customRequestHeaders: {X-A: '1'}}}\n"
        "---\n"
        "apiVersion: traefik.containo.us/v1alpha1\nkind: Middleware\n"
        "metadata: {name: strip, namespace: app}\n"
        "spec: {stripPrefix: {prefixes: [/api]}}\n"
        "---\n"
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
        "metadata:\n  name: web\n  namespace: app\n  annotations:\n"
        "    traefik.ingress.kubernetes.io/router.middlewares: app-both@kubernetescrd\n"
        "spec:\n  defaultBackend: {service: {name: api, port: {number: 80}}}\n"
        "---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: app}\n"
        "spec: {ports: [{port: 80}]}\n"
        "---\n"
        "apiVersion: v1\nkind: Endpoints\nmetadata: {name: api, namespace: app}\n"
        "subsets: [{addresses: [{ip: 10.0.0.8}], ports: [{port: 80}]}]\n";
    static const char dyn[] =
        "{\"http\": {\"middlewares\": {\"add\": {\"addPrefix\": {\"prefix\": \"/v1\"}}}}}";
    proxy_gen_t *g = build(yaml, dyn, NULL, 0);
    const proxy_router_t *r = match(g, PROXY_GEN_WEB, "any.host", "/");
    assert_non_null(r);
    const proxy_gen_chain_t *c = proxy_gen_chain(g, r);
    assert_int_equal(c->n, 3);
    assert_string_equal(c->mws[0]->def->name, "app-hdr@kubernetescrd");
    assert_string_equal(c->mws[1]->def->name, "app-strip@kubernetescrd");
    assert_string_equal(c->mws[2]->def->name, "add@file");
    proxy_gen_unref(g);
}

static void test_file_provider_chain_and_tls(void **state)
{
    (void)state;
    static const char dyn[] =
        "{\"http\": {"
        " \"routers\": {\"web\": {\"rule\": \"Host(`a.test`)\", \"service\": \"app\","
        "   \"middlewares\": [\"secure\"], \"entryPoints\": [\"web\"]}},"
        " \"services\": {\"app\": {\"loadBalancer\": {\"servers\": [{\"url\": "
        "\"http://127.0.0.1:9\"}]}}},"
        " \"middlewares\": {"
        "  \"secure\": {\"chain\": {\"middlewares\": [\"hdr\", \"strip@file\"]}},"
        "  \"hdr\": {\"headers\": {\"customRequestHeaders\": {\"X-A\": \"1\"}}},"
        "  \"strip\": {\"stripPrefix\": {\"prefixes\": [\"/api\"]}},"
        "  \"loop\": {\"chain\": {\"middlewares\": [\"loop\"]}}}},"
        " \"tls\": {\"options\": {\"default\": {\"minVersion\": \"VersionTLS13\","
        "   \"cipherSuites\": [\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\","
        "   \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]}}}}";
    proxy_gen_t *g = build(NULL, dyn, NULL, 0);
    const proxy_router_t *r = match(g, PROXY_GEN_WEB, "a.test", "/api/x");
    assert_non_null(r);
    assert_string_equal(r->name, "web@file");
    /* entryPoints: [web] keeps the router off websecure. */
    assert_null(match(g, PROXY_GEN_WEBSECURE, "a.test", "/api/x"));
    const proxy_gen_chain_t *c = proxy_gen_chain(g, r);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->mws[0]->mw.type->name, "headers");
    assert_string_equal(c->mws[1]->mw.type->name, "stripPrefix");
    assert_string_equal(g->tls[PROXY_GEN_WEBSECURE].min_version, "VersionTLS13");
    assert_string_equal(g->tls[PROXY_GEN_WEBSECURE].cipher_suites,
                        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
                        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    assert_int_equal(g->tls[PROXY_GEN_WEBSECURE].nhosts, 0);
    proxy_gen_unref(g);
}

static void test_locals_and_file_error(void **state)
{
    (void)state;
    const proxy_local_t loc[] = {{"analytics", "http://127.0.0.1:3000"},
                                 {"capture", "http://127.0.0.1:9080"}};
    hc_manifest_set_t *set = NULL;
    proxy_gen_input_t in = {.file_source = "dyn.yaml",
                            .file_error = "dyn.yaml:3: bad indentation",
                            .locals = loc,
                            .nlocals = 2};
    proxy_gen_t *g = NULL;
    assert_int_equal(proxy_gen_build(&in, &g), 0);
    const proxy_router_t *r = match(g, PROXY_GEN_WEB, "analytics.localhost", "/x");
    assert_non_null(r);
    assert_string_equal(r->name, "analytics-localhost@file");
    assert_non_null(r->service);
    assert_string_equal(r->service->servers[0], "http://127.0.0.1:3000");
    r = match(g, PROXY_GEN_WEBSECURE, "capture.localhost", "/");
    assert_non_null(r);
    assert_string_equal(r->service->servers[0], "http://127.0.0.1:9080");
    assert_null(match(g, PROXY_GEN_WEB, "other.localhost", "/"));
    assert_int_equal(g->nerrors, 1);
    assert_string_equal(g->errors[0].source, "dyn.yaml");
    assert_string_equal(g->errors[0].message, "dyn.yaml:3: bad indentation");
    proxy_gen_unref(g);
    hc_manifest_set_unref(set);
    assert_int_equal(proxy_gen_build(NULL, &g), -EINVAL);
    assert_null(g);
}

static void test_read_file(void **state)
{
    (void)state;
    char path[] = "/tmp/hearth-dyn-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char y[] = "http:\n  routers:\n    r:\n      rule: Host(`x`)\n"
                            "      service: s\n";
    assert_int_equal(write(fd, y, sizeof(y) - 1), (ssize_t)(sizeof(y) - 1));
    close(fd);
    json_t *doc = NULL;
    char err[256];
    assert_int_equal(proxy_gen_read_file(path, &doc, err, sizeof(err)), 0);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(doc, "http"), "routers"), "r"),
            "rule")),
        "Host(`x`)");
    json_decref(doc);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "http: [1,\n", 10), 10);
    close(fd);
    assert_true(proxy_gen_read_file(path, &doc, err, sizeof(err)) < 0);
    assert_null(doc);
    assert_non_null(strstr(err, path));
    unlink(path);
    assert_int_equal(proxy_gen_read_file("/nonexistent/x.yaml", &doc, err, sizeof(err)), -ENOENT);
}

/* Routers' own TLSOptions: their Host domains get them (file provider names), a host two
 * options claim keeps the default with an error, and a refused option is reported. */
static void test_tls_options_by_host(void **state)
{
    (void)state;
    static const char dyn[] =
        "{\"http\": {\"routers\": {"
        "  \"a\": {\"rule\": \"Host(`A.test`)\", \"service\": \"app\", \"tls\": {\"options\": "
        "\"ask\"}},"
        "  \"b\": {\"rule\": \"Host(`b.test`) || Host(`c.test`)\", \"service\": \"app\","
        "         \"tls\": {\"options\": \"ask\"}},"
        "  \"c\": {\"rule\": \"Host(`c.test`)\", \"service\": \"app\", \"tls\": {\"options\": "
        "\"new\"}},"
        "  \"d\": {\"rule\": \"Host(`d.test`)\", \"service\": \"app\", \"tls\": {\"options\": "
        "\"bad\"}}},"
        " \"services\": {\"app\": {\"loadBalancer\": {\"servers\": [{\"url\": "
        "\"http://127.0.0.1:9\"}]}}}},"
        " \"tls\": {\"options\": {"
        "  \"ask\": {\"clientAuth\": {\"clientAuthType\": \"RequestClientCert\"}},"
        "  \"new\": {\"minVersion\": \"VersionTLS13\"},"
        "  \"bad\": {\"clientAuth\": {\"clientAuthType\": \"RequireAndVerifyClientCert\"}}}}}";
    proxy_gen_t *g = build(NULL, dyn, NULL, 0);
    assert_int_equal(g->tls[PROXY_GEN_WEBSECURE].nhosts, 2);
    assert_string_equal(g->tls[PROXY_GEN_WEBSECURE].hosts[0].host, "a.test");
    assert_string_equal(g->tls[PROXY_GEN_WEBSECURE].hosts[1].host, "b.test");
    assert_string_equal(g->tls[PROXY_GEN_WEBSECURE].hosts[0].id, "ask@file");
    assert_int_equal(g->tls[PROXY_GEN_WEBSECURE].hosts[1].opts->client_auth, HC_TLS_CLIENT_REQUEST);
    int conflict = 0, refused = 0;
    for (size_t i = 0; i < g->nerrors; i++) {
        conflict += strstr(g->errors[i].message, "different TLS options") != NULL &&
                    !strcmp(g->errors[i].name, "c.test");
        refused += !strcmp(g->errors[i].name, "bad@file") && strstr(g->errors[i].message, "CA");
    }
    assert_int_equal(conflict, 1);
    assert_int_equal(refused, 1);
    assert_non_null(g->tls_key[PROXY_GEN_WEBSECURE]);
    /* Traefik's domain fronting check: Host and SNI under different options */
    assert_false(
        proxy_gen_tls_misdirected(g, PROXY_GEN_WEBSECURE, "a.test", 6, "b.test")); /* both "ask" */
    assert_true(proxy_gen_tls_misdirected(g, PROXY_GEN_WEBSECURE, "a.test", 6, "x.test"));
    assert_true(proxy_gen_tls_misdirected(g, PROXY_GEN_WEBSECURE, "a.test", 6, NULL));
    assert_false(proxy_gen_tls_misdirected(g, PROXY_GEN_WEBSECURE, "x.test", 6,
                                           "y.test")); /* both default */
    assert_false(proxy_gen_tls_misdirected(g, PROXY_GEN_WEBSECURE, "A.test:443", 10, "a.test."));
    proxy_gen_unref(g);

    /* a host name too long for a TLS name keeps its router's options to itself: the rest
     * still apply */
    char label[301], big[1024];
    memset(label, 'h', 300);
    label[300] = '\0';
    snprintf(big, sizeof(big),
             "{\"http\": {\"routers\": {\"a\": {\"rule\": \"Host(`a.test`)\", \"service\": \"s\","
             " \"tls\": {\"options\": \"ask\"}}, \"l\": {\"rule\": \"Host(`%s.test`)\","
             " \"service\": \"s\", \"tls\": {\"options\": \"ask\"}}},"
             " \"services\": {\"s\": {\"loadBalancer\": {\"servers\": [{\"url\": "
             "\"http://127.0.0.1:9\"}]}}}},"
             " \"tls\": {\"options\": {\"ask\": {\"clientAuth\": {\"clientAuthType\": "
             "\"RequestClientCert\"}}}}}",
             label);
    g = build(NULL, big, NULL, 0);
    assert_int_equal(g->tls[PROXY_GEN_WEBSECURE].nhosts, 1);
    char err[256] = "";
    hc_tls_ctx_t *ctx = hc_tls_server_new(&g->tls[PROXY_GEN_WEBSECURE], err, sizeof(err));
    if (!ctx)
        fail_msg("%s", err);
    hc_tls_ctx_unref(ctx);
    proxy_gen_unref(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_generation),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_broken_objects_reported),
        cmocka_unit_test(test_crd_chain_expands),
        cmocka_unit_test(test_file_provider_chain_and_tls),
        cmocka_unit_test(test_locals_and_file_error),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_tls_options_by_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
