/* proxy_rule + proxy_route: the rule language (parse errors, evaluation), host
 * normalization, and request matching through built tables: Exact/Prefix/
 * ImplementationSpecific paths, element boundaries, trailing slashes, longest match,
 * ties, wildcard hosts, priorities, defaultBackend, TLS and entry points, many hosts. */
#include "core/hc_alloc.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_route.h"
#include "proxy/proxy_rule.h"
#include "json_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *test_header(void *ctx, const char *name, size_t *len)
{
    (void)ctx;
    if (strcasecmp(name, "x-env"))
        return NULL;
    *len = 4;
    return "prod";
}

static proxy_rule_req_t req(const char *method, const char *host, const char *path)
{
    return (proxy_rule_req_t){.method = method,
                              .method_len = strlen(method),
                              .host = host,
                              .host_len = strlen(host),
                              .path = path,
                              .path_len = strlen(path),
                              .header = test_header};
}

/* ---- rule language ---- */

static void test_rule_parse_errors(void **state)
{
    char deep[128] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "(");
    static const char *const cases[][2] = {
        {"", "empty rule"},
        {"Host(`a`", "expected ) to close Host"},
        {"Host(`a`) &&", "expected a matcher"},
        {"Frobnicate(`a`, `b`)", "unsupported matcher Frobnicate"},
        {"PathRegexp(`^/a(`)", "PathRegexp: "},
        {"HostRegexp(`a`, `b`)", "HostRegexp takes one"},
        {"Query(`a`, `b`, `c`)", "Query takes"},
        /* v2's forms are refused in v3, as Traefik's v3 muxer refuses them */
        {"Host(`a`, `b`)", "Host: unexpected number of parameters; got 2"},
        {"PathPrefix(`/x`, `/y`)", "PathPrefix: unexpected number of parameters"},
        {"Method(`GET`, `POST`)", "Method: unexpected number of parameters"},
        {"ClientIP(`10.0.0.0/8`, `::1`)", "ClientIP: unexpected number of parameters"},
        {"HostHeader(`a`)", "unsupported matcher HostHeader"},
        {"Headers(`a`, `b`)", "unsupported matcher Headers"},
        {"ClientIP(`10.0.0.0/99`)", "ClientIP: "},
        {"Path(`x`)", "must start with /"},
        {"Host(``)", "non-empty"},
        {"Header(`a`)", "name and a value"},
        {"Host(`a`) junk", "unexpected text"},
        {"Host(`unterminated", "unterminated string"},
        {"Host(\"a\\q\")", "invalid escape \\q"},
        {"Host(\"a\\x4\")", "invalid escape \\x"},
        {"Host(\"a\\ud800\")", "invalid escape \\u"},
        {"Host(\"a\\400\")", "invalid escape \\4"},
        {"Host `a`", "expected ( after Host"},
        {"PathPREFIX(`/x`)", "unsupported matcher PathPREFIX"}, /* Traefik's four spellings only */
        {NULL, "nesting deeper"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_rule_t *r = (proxy_rule_t *)1;
        char err[256];
        const char *text = cases[i][0] ? cases[i][0] : deep;
        assert_int_equal(proxy_rule_parse(text, &r, err, sizeof(err)), -EINVAL);
        assert_null(r);
        if (!strstr(err, cases[i][1]))
            fail_msg("rule %s: error \"%s\" lacks \"%s\"", text, err, cases[i][1]);
    }
}

static void test_rule_eval_table(void **state)
{
    static const struct {
        const char *rule, *method, *host, *path;
        int want;
    } cases[] = {
        {"Host(`a.test`) || Host(`b.test`)", "GET", "b.test", "/", 1},
        {"Host(`a.test`) || Host(`b.test`)", "GET", "c.test", "/", 0},
        {"Host(`A.Test`)", "GET", "a.test", "/", 1},
        {"Host(`a.test`) && !Path(`/private`)", "GET", "a.test", "/private", 0},
        {"Host(`a.test`) && !Path(`/private`)", "GET", "a.test", "/public", 1},
        {"Method(`POST`) && PathPrefix(`/api`)", "GET", "x", "/api/a", 0},
        {"Method(`post`) && PathPrefix(`/api`)", "POST", "x", "/api/a", 1},
        {"Header(`X-Env`, `prod`)", "GET", "x", "/", 1},
        {"Header(`X-Env`, `dev`)", "GET", "x", "/", 0},
        {"Header(`X-Other`, `prod`)", "GET", "x", "/", 0},
        {"(Host(`a.test`) || Host(`b.test`)) && (Path(`/a`) || Path(`/b`))", "GET", "b.test", "/a",
         1},
        {"(Host(`a.test`) || Host(`b.test`)) && (Path(`/a`) || Path(`/b`))", "GET", "b.test", "/c",
         0},
        {"Host(\"a.test\") && Path(\"/q\\\"\")", "GET", "a.test", "/q\"", 1},
        {"HostRegexp(`^[a-zA-Z0-9-]+\\.a\\.test$`)", "GET", "x-1.a.test", "/", 1},
        {"HostRegexp(`^[a-zA-Z0-9-]+\\.a\\.test$`)", "GET", "y.x.a.test", "/", 0},
        {"HostRegexp(`^[a-zA-Z0-9-]+\\.a\\.test$`)", "GET", "a.test", "/", 0},
        {"PathPrefix(`/v1`)", "GET", "x", "/v11", 1},
        {"Path(`/v1`)", "GET", "x", "/v1/", 0},
        {"!!Path(`/v1`)", "GET", "x", "/v1", 1},
        {"(Host(`a`) || Host(`b`)) && (PathPrefix(`/x`) || PathPrefix(`/y`))", "GET", "b", "/y/1",
         1},
        {"Path(`/a`) || Path(`/b`) && Host(`z`)", "GET", "q", "/a", 1}, /* && binds tighter */
        {"host(`a.test`) && PATHPREFIX(`/x`) && Pathprefix(`/x`)", "GET", "a.test", "/x/1", 1},
        {"clientip(`0.0.0.0/0`) || METHOD(`PUT`)", "PUT", "x", "/", 1},
        {"Host(`a.test.`)", "GET", "a.test", "/", 1}, /* one trailing dot, as the request's */
        /* Go's escapes in a double-quoted string */
        {"Host(\"\\x61.t\\145st\") && Path(\"/caf\\u00e9\\U0001F600\\t\")", "GET", "a.test",
         "/caf\xc3\xa9\xf0\x9f\x98\x80\t", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_rule_t *r = NULL;
        char err[256];
        if (proxy_rule_parse(cases[i].rule, &r, err, sizeof(err)) < 0)
            fail_msg("%s: %s", cases[i].rule, err);
        proxy_rule_req_t q = req(cases[i].method, cases[i].host, cases[i].path);
        if (proxy_rule_eval(r, &q) != cases[i].want)
            fail_msg("case %zu: %s on %s %s%s: want %d", i, cases[i].rule, cases[i].method,
                     cases[i].host, cases[i].path, cases[i].want);
        proxy_rule_free(r);
    }
}

/* Traefik v3's regexp, query and client-address matchers. */
static void test_rule_eval_v3_matchers(void **state)
{
    static const struct {
        const char *rule, *host, *path, *query, *ip;
        int want;
    } cases[] = {
        {"PathRegexp(`^/api/v[0-9]+/`)", "x", "/api/v2/users", NULL, NULL, 1},
        {"PathRegexp(`^/api/v[0-9]+/`)", "x", "/api/vx/users", NULL, NULL, 0},
        {"PathRegexp(`\\.png$`)", "x", "/img/a.png", NULL, NULL, 1}, /* unanchored start */
        {"HostRegexp(`^(www|api)\\.a\\.test$`)", "api.a.test", "/", NULL, NULL, 1},
        {"HostRegexp(`^(www|api)\\.a\\.test$`)", "dev.a.test", "/", NULL, NULL, 0},
        {"HostRegexp(`^.+\\.x\\.com$`)", "a.b.x.com", "/", NULL, NULL, 1},
        {"HeaderRegexp(`X-Env`, `^pr`)", "x", "/", NULL, NULL, 1},
        {"HeaderRegexp(`X-Env`, `^dev`)", "x", "/", NULL, NULL, 0},
        {"HeaderRegexp(`X-None`, `.*`)", "x", "/", NULL, NULL, 0},
        {"Query(`mobile`, `true`)", "x", "/", "a=1&mobile=true", NULL, 1},
        {"Query(`mobile`, `true`)", "x", "/", "mobile=false", NULL, 0},
        {"Query(`mobile`)", "x", "/", "a=1&mobile", NULL, 1},
        {"Query(`mobile`)", "x", "/", "mobile=", NULL, 1},
        {"Query(`mobile`)", "x", "/", "mobile=1", NULL, 0}, /* Traefik: an empty value */
        {"Query(`mobile`)", "x", "/", "mobiles=1", NULL, 0},
        {"QueryRegexp(`mobile`)", "x", "/", "mobile", NULL, 1},
        {"Query(`q`, `a b`)", "x", "/", "q=a+b", NULL, 1},
        {"Query(`na me`, `v/1`)", "x", "/", "na%20me=v%2F1", NULL, 1},
        {"Query(`q`, `x`)", "x", "/", NULL, NULL, 0},
        {"QueryRegexp(`id`, `^[0-9]+$`)", "x", "/", "id=abc&id=42", NULL, 1},
        {"QueryRegexp(`id`, `^[0-9]+$`)", "x", "/", "id=abc", NULL, 0},
        {"ClientIP(`10.0.0.0/8`) || ClientIP(`192.0.2.7`)", "x", "/", NULL, "10.1.2.3", 1},
        {"ClientIP(`10.0.0.0/8`) || ClientIP(`192.0.2.7`)", "x", "/", NULL, "192.0.2.7", 1},
        {"ClientIP(`10.0.0.0/8`)", "x", "/", NULL, "11.0.0.1", 0},
        {"ClientIP(`10.0.0.0/8`)", "x", "/", NULL, NULL, 0},
        {"ClientIP(`2001:db8::/32`)", "x", "/", NULL, "2001:db8::1", 1},
        {"Host(`x`) && !ClientIP(`127.0.0.1`)", "x", "/", NULL, "127.0.0.1", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_rule_t *r = NULL;
        char err[256];
        if (proxy_rule_parse(cases[i].rule, &r, err, sizeof(err)) < 0)
            fail_msg("%s: %s", cases[i].rule, err);
        proxy_rule_req_t q = req("GET", cases[i].host, cases[i].path);
        q.query = cases[i].query;
        q.query_len = cases[i].query ? strlen(cases[i].query) : 0;
        q.client_ip = cases[i].ip;
        if (proxy_rule_eval(r, &q) != cases[i].want)
            fail_msg("case %zu: %s on %s%s?%s from %s: want %d", i, cases[i].rule, cases[i].host,
                     cases[i].path, cases[i].query ? cases[i].query : "",
                     cases[i].ip ? cases[i].ip : "-", cases[i].want);
        proxy_rule_free(r);
    }
    /* a long value (a JWT, a SAML request) is compared whole */
    char query[4096] = "a=1&token=ey";
    memset(query + strlen(query), 'x', 3000);
    proxy_rule_t *r = NULL;
    char err[256];
    assert_int_equal(proxy_rule_parse("QueryRegexp(`token`, `^ey.{3000}$`)", &r, err, sizeof(err)), 0);
    proxy_rule_req_t q = req("GET", "x", "/");
    q.query = query;
    q.query_len = strlen(query);
    assert_int_equal(proxy_rule_eval(r, &q), 1);
    proxy_rule_free(r);
}

/* Traefik v2's matchers (ruleSyntax: v2): gorilla/mux templates, Headers and Query pairs. */
static void test_rule_eval_v2_syntax(void **state)
{
    static const struct {
        const char *rule, *host, *path, *query;
        int want;
    } cases[] = {
        {"HostRegexp(`{sub:[a-z]+}.v2.test`)", "abc.v2.test", "/", NULL, 1},
        {"HostRegexp(`{sub:[a-z]+}.v2.test`)", "ab1.v2.test", "/", NULL, 0},
        {"HostRegexp(`{sub:[a-z]+}.v2.test`)", "abcxv2.test", "/", NULL, 0}, /* '.' literal */
        {"HostRegexp(`{any}.v2.test`, `v2.other`)", "x-1.v2.test", "/", NULL, 1},
        {"HostRegexp(`{any}.v2.test`)", "a.b.v2.test", "/", NULL, 0}, /* [^.]+ */
        {"HostRegexp(`{any}.v2.test`, `v2.other`)", "v2.other", "/", NULL, 1},
        {"Path(`/users/{id:[0-9]+}`)", "x", "/users/42", NULL, 1},
        {"Path(`/users/{id:[0-9]+}`)", "x", "/users/42/x", NULL, 0},
        {"Path(`/users/{id}`)", "x", "/users/a.b", NULL, 1},
        {"PathPrefix(`/api/{v:v[0-9]}/`)", "x", "/api/v2/items", NULL, 1},
        {"PathPrefix(`/api/{v:v[0-9]}/`)", "x", "/api/vx/items", NULL, 0},
        {"PathPrefix(`/a`, `/b`)", "x", "/bcd", NULL, 1},
        {"Query(`a=1`)", "x", "/", "a=1", 1},
        {"Query(`a=1`, `b=2`)", "x", "/", "b=2", 0}, /* gorilla's pairs: all of them */
        {"Query(`a=1`, `b=2`)", "x", "/", "b=2&a=1", 1},
        {"Headers(`X-Env`, ``)", "x", "/", NULL, 1}, /* the field, any value */
        {"Headers(`X-None`, ``)", "x", "/", NULL, 0},
        {"Query(`a=1`)", "x", "/", "a=2", 0},
        {"Query(`a=`)", "x", "/", "a=anything", 1},
        {"Query(`id={n:[0-9]+}`)", "x", "/", "id=77", 1},
        {"Headers(`X-Env`, `prod`)", "x", "/", NULL, 1},
        {"HeadersRegexp(`X-Env`, `^pr`)", "x", "/", NULL, 1},
        {"Host(`a.test`, `b.test`) && Method(`GET`, `POST`)", "b.test", "/", NULL, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_rule_t *r = NULL;
        char err[256];
        if (proxy_rule_parse_syntax(cases[i].rule, "v2", &r, err, sizeof(err)) < 0)
            fail_msg("%s: %s", cases[i].rule, err);
        proxy_rule_req_t q = req("GET", cases[i].host, cases[i].path);
        q.query = cases[i].query;
        q.query_len = cases[i].query ? strlen(cases[i].query) : 0;
        if (proxy_rule_eval(r, &q) != cases[i].want)
            fail_msg("case %zu: %s on %s%s?%s: want %d", i, cases[i].rule, cases[i].host,
                     cases[i].path, cases[i].query ? cases[i].query : "", cases[i].want);
        proxy_rule_free(r);
    }
    static const char *const bad[][2] = {
        {"Query(`a`)", "key=value"},
        {"Headers(`X-Env`)", "pairs"},
        {"PathRegexp(`^/a`)", "unsupported matcher PathRegexp in the v2 syntax"},
        {"HostRegexp(`{sub.v2.test`)", "unbalanced braces"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        proxy_rule_t *r = NULL;
        char err[256];
        assert_int_equal(proxy_rule_parse_syntax(bad[i][0], "v2", &r, err, sizeof(err)), -EINVAL);
        if (!strstr(err, bad[i][1]))
            fail_msg("%s: error \"%s\" lacks \"%s\"", bad[i][0], err, bad[i][1]);
    }
    proxy_rule_t *r = NULL;
    char err[256];
    assert_int_equal(proxy_rule_parse_syntax("Host(`a`)", "v1", &r, err, sizeof(err)), -EINVAL);
}

static void test_host_normalize_table(void **state)
{
    static const char *const cases[][2] = {
        {"Example.COM", "example.com"},  {"example.com:8443", "example.com"},
        {"example.com.", "example.com"}, {"[::1]:8080", "::1"},
        {"[FD00::1]", "fd00::1"},        {"", ""},
    };
    char out[PROXY_RULE_MAX_HOST + 1];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = proxy_rule_host_normalize(cases[i][0], strlen(cases[i][0]), out);
        assert_int_equal(n, strlen(cases[i][1]));
        assert_string_equal(out, cases[i][1]);
    }
    char longhost[300];
    memset(longhost, 'a', sizeof(longhost));
    assert_int_equal(proxy_rule_host_normalize(longhost, sizeof(longhost), out), -1);
}

/* Traefik's routing path: every escape decoded but the reserved characters', '%' and
 * (here) the control characters. */
static void test_routing_path_table(void **state)
{
    static const char *const cases[][2] = {
        {"/foo%20bar", "/foo bar"},
        {"/caf%C3%A9", "/caf\xc3\xa9"},
        {"/a%2Fb%3F%23%25%3A%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%5B%5D",
         "/a%2Fb%3F%23%25%3A%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%5B%5D"},
        {"/nul%00%0A%7F", "/nul%00%0A%7F"},
        {"/%22q%22%3C%3E%5C%5E%60%7B%7C%7D", "/\"q\"<>\\^`{|}"},
        {"/plain", "/plain"},
        {"/end%2", "/end%2"},
    };
    char out[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = proxy_rule_routing_path(cases[i][0], strlen(cases[i][0]), out);
        assert_int_equal(n, strlen(cases[i][1]));
        assert_string_equal(out, cases[i][1]);
    }
}

/* Traefik's sanitizePath: Go's url.JoinPath() over the escaped path, after unreserved
 * escapes were decoded. */
static void test_path_normalize_table(void **state)
{
    static const char *const cases[][2] = {
        {"/", "/"},
        {"/a/b", "/a/b"},
        {"/.well-known/acme", "/.well-known/acme"},
        {"/x/../admin/secret", "/admin/secret"},
        {"/public/%2e%2e/admin", "/admin"},
        {"/public/%2E%2e/%2e/admin/", "/admin/"},
        {"//admin//s", "/admin/s"},
        {"/./admin", "/admin"},
        {"/%61dmin/%7euser", "/admin/~user"},
        {"/a%2fb/%3b/%c3%a9", "/a%2Fb/%3B/%C3%A9"},
        {"/a/b/..", "/a"},
        {"/a/b/../", "/a/"},
        {"/a/.", "/a"},
        {"/..", "/"},
        {"/../../x", "/x"},
        {"/a/./", "/a/"},
        {"*", "*"},
        {"", ""},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s", cases[i][0]);
        size_t n = strlen(buf);
        assert_int_equal(proxy_rule_path_normalize(buf, &n), 0);
        assert_int_equal(n, strlen(cases[i][1]));
        assert_memory_equal(buf, cases[i][1], n);
        assert_int_equal(buf[n], '\0');
    }
    /* invalid escapes, as Go's URL parser refuses them: "%%32e" must not become "%2e" */
    static const char *const bad[] = {"/%zz", "/a%4", "/a%", "/p/%%32e%%32e/admin"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), "%s", bad[i]);
        size_t n = strlen(buf);
        assert_int_equal(proxy_rule_path_normalize(buf, &n), -EINVAL);
    }
}

/* ---- tables built from Ingresses ---- */

static char *ingress_path(char *out, size_t n, const char *path, const char *type, const char *svc)
{
    snprintf(
        out, n,
        "{'path':'%s','pathType':'%s','backend':{'service':{'name':'%s','port':{'number':80}}}}",
        path, type, svc);
    return out;
}

typedef struct world {
    const json_t *objs[64];
    const char *srcs[64];
    size_t n;
} world_t;

static void world_add(world_t *w, const char *json)
{
    w->srcs[w->n] = "w.yaml:1";
    w->objs[w->n++] = J(json);
}

/* An ExternalName Service for each backend name keeps the fixtures short. */
static void world_service(world_t *w, const char *ns, const char *name)
{
    char buf[512];
    snprintf(buf, sizeof(buf),
             "{'apiVersion':'v1','kind':'Service','metadata':{'name':'%s','namespace':'%s'},"
             "'spec':{'type':'ExternalName','externalName':'%s.svc','ports':[{'port':80}]}}",
             name, ns, name);
    world_add(w, buf);
}

static proxy_config_t *world_build(world_t *w)
{
    proxy_config_input_t in = {
        .allow_external_name = 1, .objects = w->objs, .sources = w->srcs, .nobjects = w->n};
    proxy_config_t *c = NULL;
    assert_int_equal(proxy_config_build(&in, &c), 0);
    for (size_t i = 0; i < w->n; i++)
        json_decref((json_t *)w->objs[i]);
    w->n = 0;
    for (size_t i = 0; i < c->nerrors; i++)
        fail_msg("unexpected config error: %s %s: %s", c->errors[i].kind, c->errors[i].name,
                 c->errors[i].message);
    return c;
}

typedef struct expect {
    const char *host, *path;
    const char *svc; /* backend Service name, NULL: no match */
} expect_t;

static void check_table(const proxy_route_table_t *t, const expect_t *cases, size_t n)
{
    char want[128];
    for (size_t i = 0; i < n; i++) {
        proxy_rule_req_t q = req("GET", cases[i].host, cases[i].path);
        const proxy_router_t *r = proxy_route_match(t, &q, 0);
        if (!cases[i].svc) {
            if (r)
                fail_msg("%s%s: want no match, got %s", cases[i].host, cases[i].path, r->name);
            continue;
        }
        snprintf(want, sizeof(want), "n-%s-80@kubernetes", cases[i].svc);
        if (!r || strcmp(r->service_name, want))
            fail_msg("%s%s: want %s, got %s", cases[i].host, cases[i].path, want,
                     r ? r->service_name : "no match");
    }
}

static void test_path_matching_table(void **state)
{
    static const char *const paths[][3] = {
        {"/foo", "Exact", "exact-foo"},
        {"/foo", "Prefix", "prefix-foo"},
        {"/foo/bar/", "Prefix", "foobar"}, /* the trailing slash is ignored */
        {"/aaa/bbb", "Prefix", "aaabbb"},
        {"/aaa", "Prefix", "aaa"},
        {"/v1", "ImplementationSpecific", "impl-v1"},
        {"/ex/", "Exact", "ex"},
    };
    world_t w = {0};
    char body[4096] = "", item[256];
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        strcat(body, i ? "," : "");
        strcat(body, ingress_path(item, sizeof(item), paths[i][0], paths[i][1], paths[i][2]));
        world_service(&w, "n", paths[i][2]);
    }
    char ing[6000];
    snprintf(ing, sizeof(ing),
             "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'t',"
             "'namespace':'n'},'spec':{'rules':[{'host':'h.test','http':{'paths':[%s]}}]}}",
             body);
    world_add(&w, ing);
    world_add(&w, "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'w',"
                  "'namespace':'n'},'spec':{'rules':["
                  "{'host':'*.w.test','http':{'paths':[{'path':'/','pathType':'Prefix','backend':{"
                  "'service':{'name':'wild','port':{'number':80}}}}]}},"
                  "{'host':'w.test','http':{'paths':[{'path':'/','pathType':'Prefix','backend':{"
                  "'service':{'name':'apex','port':{'number':80}}}}]}},"
                  "{'http':{'paths':[{'path':'/any','pathType':'Prefix','backend':{"
                  "'service':{'name':'anyhost','port':{'number':80}}}}]}}]}}");
    world_service(&w, "n", "wild");
    world_service(&w, "n", "apex");
    world_service(&w, "n", "anyhost");
    proxy_config_t *c = world_build(&w);
    proxy_route_table_t *t = NULL;
    assert_int_equal(proxy_route_build(c, "web", 0, &t), 0);
    assert_int_equal(proxy_route_count(t), 10);
    static const expect_t cases[] = {
        {"h.test", "/foo", "exact-foo"}, /* Exact beats Prefix on a tie */
        {"h.test", "/foo/", "prefix-foo"},
        {"h.test", "/foo/x", "prefix-foo"},
        {"h.test", "/foobar", NULL},      /* never across an element boundary */
        {"h.test", "/foo/bar", "foobar"}, /* longest path wins */
        {"h.test", "/foo/bar/", "foobar"},
        {"h.test", "/foo/barbaz", "prefix-foo"},
        {"h.test", "/aaa/bbb/ccc", "aaabbb"},
        {"h.test", "/aaa/bbbxyz", "aaa"},
        {"h.test", "/aaa", "aaa"},
        {"h.test", "/v1", "impl-v1"},
        {"h.test", "/v11", "impl-v1"}, /* ImplementationSpecific: character prefix */
        {"h.test", "/ex/", "ex"},
        {"h.test", "/ex", NULL},  /* Exact keeps the trailing slash */
        {"h.test", "/FOO", NULL}, /* case-sensitive */
        {"H.Test:8080", "/foo", "exact-foo"},
        {"other.test", "/foo", NULL},
        {"a.w.test", "/", "wild"},
        {"A.W.TEST:443", "/x", "wild"},
        {"b.a.w.test", "/", NULL}, /* *. matches one label only */
        {"w.test", "/", "apex"},
        {"other.test", "/any/x", "anyhost"},
        {"h.test", "/any", "anyhost"},
        {"", "/any", "anyhost"},
        {"", "/foo", NULL},
    };
    check_table(t, cases, sizeof(cases) / sizeof(cases[0]));
    proxy_route_free(t);
    proxy_config_free(c);
}

static void test_priority_and_default_backend(void **state)
{
    world_t w = {0};
    world_add(
        &w, "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'p',"
            "'namespace':'n','annotations':{'traefik.ingress.kubernetes.io/router.priority':"
            "'1000'}},'spec':{'rules':[{'host':'h.test','http':{'paths':[{'path':'/',"
            "'pathType':'Prefix','backend':{'service':{'name':'top','port':{'number':80}}}}]}}]}}");
    world_add(&w,
              "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'q',"
              "'namespace':'n'},'spec':{'rules':[{'host':'h.test','http':{'paths':[{'path':"
              "'/very/long/path','pathType':'Exact','backend':{'service':{'name':'long','port':{"
              "'number':80}}}}]}}]}}");
    world_add(&w, "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'d',"
                  "'namespace':'n'},'spec':{'defaultBackend':{'service':{'name':'fallback','port':{"
                  "'number':80}}}}}");
    world_add(&w, "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'r',"
                  "'namespace':'n'},'spec':{'rules':[{'http':{'paths':[{'path':'/','pathType':"
                  "'Prefix','backend':{'service':{'name':'root','port':{'number':80}}}}]}}]}}");
    world_service(&w, "n", "top");
    world_service(&w, "n", "long");
    world_service(&w, "n", "fallback");
    world_service(&w, "n", "root");
    proxy_config_t *c = world_build(&w);
    proxy_route_table_t *t = NULL;
    assert_int_equal(proxy_route_build(c, "web", 0, &t), 0);
    proxy_rule_req_t q = req("GET", "h.test", "/very/long/path");
    assert_string_equal(proxy_route_match(t, &q, 0)->name, "n-p-h-test@kubernetes");
    q = req("GET", "elsewhere.test", "/x");
    assert_string_equal(proxy_route_match(t, &q, 0)->name, "n-r@kubernetes");
    proxy_route_free(t);
    /* Without the catch-all rule, the default backend answers last. */
    for (size_t i = 0; i < c->nrouters; i++)
        if (!strcmp(c->routers[i].name, "n-r@kubernetes"))
            c->routers[i].status = PROXY_STATUS_DISABLED;
    assert_int_equal(proxy_route_build(c, "web", 0, &t), 0);
    q = req("GET", "elsewhere.test", "/x");
    assert_string_equal(proxy_route_match(t, &q, 0)->name, "default-router@kubernetes");
    q = req("GET", "h.test", "/x");
    assert_string_equal(proxy_route_match(t, &q, 0)->name, "n-p-h-test@kubernetes");
    proxy_route_free(t);
    proxy_config_free(c);
}

/* ---- file provider: TLS, entry points, host index over complex rules ---- */

static proxy_config_t *file_config(json_t *file)
{
    const json_t *files[] = {file};
    const char *srcs[] = {"dynamic.yaml"};
    proxy_config_input_t in = {.files = files, .file_sources = srcs, .nfiles = 1};
    proxy_config_t *c = NULL;
    assert_int_equal(proxy_config_build(&in, &c), 0);
    json_decref(file);
    return c;
}

static void test_tls_entrypoints_and_rule_index(void **state)
{
    proxy_config_t *c = file_config(
        J("{'http':{'routers':{"
          "'plain':{'rule':'PathPrefix(`/`)','service':'s'},"
          "'secure':{'rule':'PathPrefix(`/`)','service':'s','tls':{}},"
          "'adm':{'rule':'Path(`/x`)','service':'s','entryPoints':['admin'],'priority':1000},"
          "'multi':{'rule':'(Host(`m1.test`) || Host(`m2.test`)) && Path(`/m`)','service':'s'},"
          "'notted':{'rule':'!Host(`z.test`) && Path(`/n`)','service':'s'},"
          "'hdr':{'rule':'Host(`m1.test`) && Header(`X-Env`, `prod`) && Method(`PUT`)',"
          "'service':'s','priority':500}},"
          "'services':{'s':{'loadBalancer':{'servers':[{'url':'http://127.0.0.1:1'}]}}}}}"));
    proxy_route_table_t *web = NULL, *admin = NULL, *webtls = NULL;
    assert_int_equal(proxy_route_build(c, "web", 0, &web), 0);
    assert_int_equal(proxy_route_build(c, "admin", 0, &admin), 0);
    assert_int_equal(proxy_route_build(c, "web", 1, &webtls), 0);
    const struct {
        proxy_route_table_t **t;
        const char *method, *host, *path;
        int tls;
        const char *want;
    } cases[] = {
        {&web, "GET", "a.test", "/", 0, "plain@file"},
        {&web, "GET", "a.test", "/", 1, "secure@file"},
        {&web, "GET", "a.test", "/x", 0, "plain@file"}, /* adm is not on web */
        {&admin, "GET", "a.test", "/x", 0, "adm@file"},
        {&web, "GET", "m2.test", "/m", 0, "multi@file"},
        {&web, "GET", "m3.test", "/m", 0, "plain@file"},
        {&web, "GET", "q.test", "/n", 0, "notted@file"},
        {&web, "GET", "z.test", "/n", 0, "plain@file"},
        {&web, "PUT", "m1.test", "/m", 0, "hdr@file"},
        {&web, "GET", "m1.test", "/m", 0, "multi@file"},
        {&webtls, "GET", "a.test", "/", 1, "plain@file"}, /* http.tls: all TLS; tie by name */
        {&webtls, "GET", "a.test", "/", 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_rule_req_t q = req(cases[i].method, cases[i].host, cases[i].path);
        const proxy_router_t *r = proxy_route_match(*cases[i].t, &q, cases[i].tls);
        const char *got = r ? r->name : NULL;
        if ((got == NULL) != (cases[i].want == NULL) || (got && strcmp(got, cases[i].want)))
            fail_msg("case %zu: want %s, got %s", i, cases[i].want ? cases[i].want : "none",
                     got ? got : "none");
    }
    proxy_route_free(web);
    proxy_route_free(admin);
    proxy_route_free(webtls);
    proxy_config_free(c);
}

static void test_many_hosts(void **state)
{
    json_t *routers = json_object(), *file = json_object(), *http = json_object();
    char name[32], rule[96];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        snprintf(rule, sizeof(rule), "Host(`h%d.test`) && PathPrefix(`/p%d`)", i, i % 7);
        json_t *r = json_object();
        json_object_set_new(r, "rule", json_string(rule));
        json_object_set_new(r, "service", json_string("s"));
        json_object_set_new(routers, name, r);
    }
    json_object_set_new(http, "routers", routers);
    json_object_set_new(http, "services",
                        J("{'s':{'loadBalancer':{'servers':[{'url':'http://127.0.0.1:1'}]}}}"));
    json_object_set_new(file, "http", http);
    proxy_config_t *c = file_config(file);
    proxy_route_table_t *t = NULL;
    assert_int_equal(proxy_route_build(c, "web", 0, &t), 0);
    assert_int_equal(proxy_route_count(t), 3000);
    for (int i = 0; i < 3000; i += 37) {
        char host[32], path[32];
        snprintf(host, sizeof(host), "H%d.test", i);
        snprintf(path, sizeof(path), "/p%d/x", i % 7);
        proxy_rule_req_t q = req("GET", host, path);
        const proxy_router_t *r = proxy_route_match(t, &q, 0);
        snprintf(name, sizeof(name), "r%d@file", i);
        assert_non_null(r);
        assert_string_equal(r->name, name);
        snprintf(path, sizeof(path), "/p%d/x", (i + 1) % 7);
        q = req("GET", host, path);
        assert_null(proxy_route_match(t, &q, 0));
    }
    proxy_route_free(t);
    proxy_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_parse_errors),
        cmocka_unit_test(test_rule_eval_table),
        cmocka_unit_test(test_rule_eval_v3_matchers),
        cmocka_unit_test(test_rule_eval_v2_syntax),
        cmocka_unit_test(test_host_normalize_table),
        cmocka_unit_test(test_routing_path_table),
        cmocka_unit_test(test_path_normalize_table),
        cmocka_unit_test(test_path_matching_table),
        cmocka_unit_test(test_priority_and_default_backend),
        cmocka_unit_test(test_tls_entrypoints_and_rule_index),
        cmocka_unit_test(test_many_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
