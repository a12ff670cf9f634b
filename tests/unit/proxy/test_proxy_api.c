/* proxy_api_json: Traefik's JSON shapes for routers, services (serverStatus from the
 * health callback), middlewares (type lowercased, usedBy, disabled with its error),
 * lists with filters and paging (X-Next-Page, 400 past the end), overview counts,
 * entry points, rawdata and hearth's /api/errors, from a generation built from the
 * seed's objects. */
#include "core/hc_alloc.h"
#include "core/hc_manifest.h"
#include "proxy/proxy_api.h"

#include <string.h>

static const char seed[] =
    "apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
    "metadata:\n  name: example-ingress\n  namespace: client-example\n  annotations:\n"
    "    traefik.ingress.kubernetes.io/router.middlewares: "
    "default-security-headers@kubernetescrd,default-compress@kubernetescrd\n"
    "spec:\n  rules:\n    - host: example-api.app.ominis.ai\n      http:\n        paths:\n"
    "          - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: "
    "8000}}}}\n"
    "---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: client-example}\n"
    "spec: {ports: [{port: 8000, targetPort: 8000}]}\n"
    "---\n"
    "apiVersion: v1\nkind: Endpoints\nmetadata: {name: api, namespace: client-example}\n"
    "subsets: [{addresses: [{ip: 10.0.0.7}, {ip: 10.0.0.8}], ports: [{port: 8000}]}]\n"
    "---\n"
    "apiVersion: traefik.io/v1alpha1\nkind: Middleware\n"
    "metadata: {name: security-headers, namespace: default}\n"
    "spec: {headers: {frameDeny: true}}\n"
    "---\n"
    "apiVersion: traefik.io/v1alpha1\nkind: Middleware\n"
    "metadata: {name: compress, namespace: default}\nspec: {compress: {}}\n"
    "---\n"
    "apiVersion: traefik.io/v1alpha1\nkind: Middleware\n"
    "metadata: {name: broken, namespace: default}\nspec: {rateLimit: {period: bogus}}\n";

static int down_8(void *ud, const proxy_service_t *service, const char *url)
{
    (void)ud;
    (void)service;
    return strstr(url, "10.0.0.8") == NULL;
}

static int setup(void **state)
{
    hc_manifest_set_t *set = hc_manifest_parse("seed.yaml", seed, strlen(seed));
    proxy_gen_input_t in = {.manifests = set, .ingress_class = "traefik"};
    proxy_api_t *api = test_calloc(1, sizeof(*api));
    assert_int_equal(proxy_gen_build(&in, &api->gen), 0);
    hc_manifest_set_unref(set);
    api->server_up = down_8;
    api->addr[0] = ":8080";
    api->addr[1] = ":8443";
    api->addr[2] = ":9000";
    strcpy(api->start_date, "2024-01-01T00:00:00Z");
    *state = api;
    return 0;
}

static int teardown(void **state)
{
    proxy_api_t *api = *state;
    proxy_gen_unref(api->gen);
    test_free(api);
    return 0;
}

static const char *S(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void test_routers(void **state)
{
    proxy_api_t *api = *state;
    proxy_api_query_t q = {0};
    long next = 0;
    int status = 0;
    json_t *list = proxy_api_list(api, PROXY_API_ROUTERS, &q, &next, &status);
    assert_int_equal(status, 200);
    assert_int_equal(next, 1);
    assert_int_equal(json_array_size(list), 1);
    json_t *r = json_array_get(list, 0);
    assert_string_equal(S(r, "name"),
                        "client-example-example-ingress-example-api-app-ominis-ai@kubernetes");
    assert_string_equal(S(r, "provider"), "kubernetes");
    assert_string_equal(S(r, "service"), "client-example-api-8000");
    assert_string_equal(S(r, "rule"), "Host(`example-api.app.ominis.ai`) && PathPrefix(`/`)");
    assert_string_equal(S(r, "status"), "enabled");
    json_t *mws = json_object_get(r, "middlewares");
    assert_int_equal(json_array_size(mws), 2);
    assert_string_equal(json_string_value(json_array_get(mws, 0)),
                        "default-security-headers@kubernetescrd");
    assert_int_equal(json_array_size(json_object_get(r, "using")), 2);
    json_decref(list);
    q.middleware_name = "default-compress@kubernetescrd";
    list = proxy_api_list(api, PROXY_API_ROUTERS, &q, &next, &status);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    q.middleware_name = NULL;
    q.status = "disabled";
    list = proxy_api_list(api, PROXY_API_ROUTERS, &q, &next, &status);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

static void test_services_server_status(void **state)
{
    proxy_api_t *api = *state;
    const proxy_service_t *s = proxy_config_service(api->gen->cfg,
                                                    "client-example-api-8000@kubernetes");
    assert_non_null(s);
    json_t *o = proxy_api_service_json(api, s);
    assert_string_equal(S(o, "type"), "loadbalancer");
    json_t *lb = json_object_get(o, "loadBalancer");
    assert_int_equal(json_array_size(json_object_get(lb, "servers")), 2);
    assert_true(json_is_true(json_object_get(lb, "passHostHeader")));
    json_t *st = json_object_get(o, "serverStatus");
    assert_string_equal(S(st, "http://10.0.0.7:8000"), "UP");
    assert_string_equal(S(st, "http://10.0.0.8:8000"), "DOWN");
    assert_int_equal(json_array_size(json_object_get(o, "usedBy")), 1);
    json_decref(o);
}

static void test_middlewares(void **state)
{
    proxy_api_t *api = *state;
    proxy_api_query_t q = {.search = "broken"};
    long next;
    int status;
    json_t *list = proxy_api_list(api, PROXY_API_MIDDLEWARES, &q, &next, &status);
    assert_int_equal(json_array_size(list), 1);
    json_t *m = json_array_get(list, 0);
    assert_string_equal(S(m, "type"), "ratelimit");
    assert_string_equal(S(m, "status"), "disabled");
    assert_true(json_array_size(json_object_get(m, "error")) >= 1);
    json_decref(list);
    const proxy_middleware_t *h = proxy_config_middleware(api->gen->cfg,
                                                          "default-security-headers@kubernetescrd");
    m = proxy_api_middleware_json(api, h);
    assert_true(json_is_true(json_object_get(json_object_get(m, "headers"), "frameDeny")));
    assert_string_equal(S(m, "status"), "enabled");
    assert_string_equal(json_string_value(json_array_get(json_object_get(m, "usedBy"), 0)),
                        "client-example-example-ingress-example-api-app-ominis-ai@kubernetes");
    json_decref(m);
}

static void test_paging(void **state)
{
    proxy_api_t *api = *state;
    long next;
    int status;
    proxy_api_query_t q = {.per_page = 2, .page = 1};
    json_t *l = proxy_api_list(api, PROXY_API_MIDDLEWARES, &q, &next, &status);
    assert_int_equal(json_array_size(l), 2);
    assert_int_equal(next, 2);
    json_decref(l);
    q.page = 2;
    l = proxy_api_list(api, PROXY_API_MIDDLEWARES, &q, &next, &status);
    assert_int_equal(json_array_size(l), 1);
    assert_int_equal(next, 1);
    json_decref(l);
    q.page = 3;
    assert_null(proxy_api_list(api, PROXY_API_MIDDLEWARES, &q, &next, &status));
    assert_int_equal(status, 400);
    assert_null(proxy_api_list(api, "/api/http/nothing", &q, &next, &status));
    assert_int_equal(status, 404);
}

static void test_documents(void **state)
{
    proxy_api_t *api = *state;
    json_t *o = proxy_api_overview(api);
    json_t *http = json_object_get(o, "http");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(http, "routers"),
                                                        "total")), 1);
    json_t *mw = json_object_get(http, "middlewares");
    assert_int_equal(json_integer_value(json_object_get(mw, "total")), 3);
    assert_int_equal(json_integer_value(json_object_get(mw, "errors")), 1);
    assert_string_equal(S(json_object_get(o, "features"), "metrics"), "Prometheus");
    json_decref(o);
    json_t *eps = proxy_api_entrypoints(api);
    assert_int_equal(json_array_size(eps), 3);
    assert_string_equal(S(json_array_get(eps, 1), "name"), "websecure");
    assert_string_equal(S(json_array_get(eps, 1), "address"), ":8443");
    json_decref(eps);
    json_t *v = proxy_api_version(api);
    assert_string_equal(S(v, "startDate"), "2024-01-01T00:00:00Z");
    assert_non_null(S(v, "Version"));
    json_decref(v);
    json_t *raw = proxy_api_rawdata(api);
    assert_non_null(json_object_get(json_object_get(raw, "services"),
                                    "client-example-api-8000@kubernetes"));
    json_decref(raw);
    json_t *errs = proxy_api_errors(api);
    assert_true(json_array_size(errs) >= 1);
    assert_string_equal(S(json_array_get(errs, 0), "name"), "default-broken@kubernetescrd");
    assert_non_null(strstr(S(json_array_get(errs, 0), "source"), "seed.yaml:"));
    json_decref(errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routers),
        cmocka_unit_test(test_services_server_status),
        cmocka_unit_test(test_middlewares),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_documents),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
