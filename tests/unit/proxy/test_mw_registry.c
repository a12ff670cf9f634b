/* The registry on the seed's Middleware manifests (YAML as in the seed document, with
 * its lost indentation restored), forwardAuth's auth-request headers and answer
 * handling, URL resolution, and chain. */
#include "core/hc_alloc.h"
#include "core/hc_yaml.h"
#include "proxy/mw.h"
#include "proxy/mw_retry.h"
#include "proxy/mw_buffering.h"
#include "proxy/mw_errors.h"
#include "proxy/mw_chain.h"
#include "proxy/mw_compress.h"
#include "proxy/mw_forwardauth.h"

#include <errno.h>
#include <string.h>

static const char seed_yaml[] =
    "apiVersion: traefik.containo.us/v1alpha1\n"
    "kind: Middleware\n"
    "metadata:\n"
    "  name: security-headers\n"
    "  namespace: default\n"
    "spec:\n"
    "  headers:\n"
    "    customResponseHeaders:\n"
    "      X-Frame-Options: \"SAMEORIGIN\"\n"
    "      X-Content-Type-Options: \"nosniff\"\n"
    "      X-XSS-Protection: \"1; mode=block\"\n"
    "      Referrer-Policy: \"no-referrer-when-downgrade\"\n"
    "      Permissions-Policy: \"geolocation=(), microphone=(), camera=()\"\n"
    "---\n"
    "apiVersion: traefik.containo.us/v1alpha1\n"
    "kind: Middleware\n"
    "metadata:\n"
    "  name: rate-limit\n"
    "  namespace: default\n"
    "spec:\n"
    "  rateLimit:\n"
    "    average: 100\n"
    "    burst: 50\n"
    "    period: 1m\n"
    "---\n"
    "apiVersion: traefik.containo.us/v1alpha1\n"
    "kind: Middleware\n"
    "metadata:\n"
    "  name: compress\n"
    "  namespace: default\n"
    "spec:\n"
    "  compress: {}\n"
    "---\n"
    "apiVersion: traefik.containo.us/v1alpha1\n"
    "kind: Middleware\n"
    "metadata:\n"
    "  name: oauth-auth\n"
    "  namespace: client-demo-client\n"
    "spec:\n"
    "  forwardAuth:\n"
    "    address: https://auth.ominis.ai/outpost.goauthentik.io/auth/traefik\n"
    "    trustForwardHeader: true\n"
    "    authResponseHeaders:\n"
    "      - X-Auth-User\n"
    "      - X-Auth-Email\n"
    "---\n"
    "apiVersion: traefik.containo.us/v1alpha1\n"
    "kind: Middleware\n"
    "metadata:\n"
    "  name: redirect-https\n"
    "  namespace: default\n"
    "spec:\n"
    "  redirectScheme:\n"
    "    scheme: https\n"
    "    permanent: true\n";

static void test_seed_middlewares(void **state)
{
    static const char *const want_type[] = {"headers", "rateLimit", "compress", "forwardAuth",
                                            "redirectScheme"};
    hc_yaml_docs_t *docs;
    hc_yaml_error_t yerr;
    assert_int_equal(hc_yaml_parse("seed", seed_yaml, strlen(seed_yaml), NULL, &docs, &yerr), 0);
    assert_int_equal(hc_yaml_count(docs), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *doc = hc_yaml_get(docs, i);
        proxy_mw_t mw;
        char err[256] = "";
        const char *name = json_string_value(json_object_get(json_object_get(doc, "metadata"),
                                                             "name"));
        if (proxy_mw_parse(json_object_get(doc, "spec"), name, &mw, err, sizeof(err)) != 0)
            fail_msg("%s: %s", name, err);
        assert_string_equal(mw.type->name, want_type[i]);
        proxy_mw_req_t req;
        proxy_mw_resp_t resp;
        proxy_mw_req_init(&req, "GET", 0, "app.test", "/", "192.0.2.1", 1000000000ull);
        proxy_mw_resp_init(&resp);
        proxy_mw_headers_add(&req.headers, "Accept-Encoding", "gzip, br, zstd");
        if (mw.type->on_request) {
            proxy_mw_verdict_t v = mw.type->on_request(mw.cfg, &req, &resp);
            /* Only redirect-https answers a plain-HTTP GET itself. */
            assert_int_equal(v, i == 4 ? PROXY_MW_RESPOND : PROXY_MW_NEXT);
        }
        if (i == 0) {
            mw.type->on_response(mw.cfg, &req, &resp);
            assert_string_equal(proxy_mw_headers_get(&resp.headers, "X-Frame-Options"),
                                "SAMEORIGIN");
        } else if (i == 2) {
            assert_int_equal(proxy_mw_compress_negotiate(mw.cfg, &req), PROXY_MW_ENC_GZIP);
        } else if (i == 3) {
            assert_string_equal(proxy_mw_forwardauth_address(mw.cfg),
                                "https://auth.ominis.ai/outpost.goauthentik.io/auth/traefik");
        } else if (i == 4) {
            assert_int_equal(resp.status, 301);
            assert_string_equal(proxy_mw_headers_get(&resp.headers, "Location"),
                                "https://app.test/");
        }
        proxy_mw_resp_free(&resp);
        proxy_mw_req_free(&req);
        proxy_mw_free(&mw);
    }
    hc_yaml_free(docs);
}

static void test_registry_errors(void **state)
{
    static const struct {
        const char *spec;
        int rc;
    } cases[] = {
        {"{}", -EINVAL},
        {"[]", -EINVAL},
        {"{\"bogus\":{}}", -EINVAL},
        {"{\"grpcWeb\":{\"allowOrigins\":[\"*\"]}}", -ENOTSUP},
        {"{\"circuitBreaker\":{\"expression\":\"NetworkErrorRatio() >\"}}", -EINVAL},
        {"{\"contentType\":{\"autoDetect\":1.5}}", -EINVAL},
        {"{\"retry\":{\"attempts\":0}}", -EINVAL},
        {"{\"digestAuth\":{\"users\":[\"alice:0123\"]}}", -EINVAL},
        {"{\"digestAuth\":{\"users\":[\"alice:r:x:y\"]}}", -EINVAL},
        {"{\"digestAuth\":{}}", -EINVAL},
        {"{\"retry\":{\"attempts\":2,\"initialInterval\":\"nanms\"}}", -EINVAL},
        {"{\"retry\":{\"attempts\":2,\"initialInterval\":\"1e3ms\"}}", -EINVAL},
        {"{\"retry\":{\"attempts\":2,\"initialInterval\":\"infs\"}}", -EINVAL},
        {"{\"passTLSClientCert\":{\"info\":true}}", -EINVAL},
        {"{\"passTLSClientCert\":{\"info\":{\"subject\":{\"commonName\":\"maybe\"}}}}", -EINVAL},
        {"{\"retry\":{\"attempts\":2,\"initialInterval\":\"soon\"}}", -EINVAL},
        {"{\"headers\":{},\"compress\":{}}", -EINVAL},
        {"{\"compress\":true}", -EINVAL},
        {"{\"rateLimit\":{\"period\":\"soon\"}}", -EINVAL},
        {"{\"encodedCharacters\":{\"allowEncodedHash\":\"maybe\"}}", -EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_mw_t mw;
        char err[256] = "";
        json_t *spec = json_loads(cases[i].spec, JSON_DECODE_ANY, NULL);
        assert_int_equal(proxy_mw_parse(spec, "m", &mw, err, sizeof(err)), cases[i].rc);
        assert_null(mw.cfg);
        assert_true(err[0] != '\0');
        json_decref(spec);
    }
    assert_non_null(proxy_mw_type_find("ipWhiteList"));
    assert_non_null(proxy_mw_type_find("ipAllowList"));
    assert_null(proxy_mw_type_find("IPAllowList"));
}

/* errors: Traefik's status ranges (comma lists too), statusRewrites, the service
 * qualified with the middleware's provider, the page target's variables. */
static void test_errors_spec(void **state)
{
    (void)state;
    proxy_mw_t mw;
    char err[256] = "";
    json_t *spec =
        json_loads("{\"errors\":{\"status\":[\"500-599\",\"404, 418\"],\"statusRewrites\":"
                   "{\"418\":404,\"502-504\":\"500\"},\"service\":\"pages\",\"query\":"
                   "\"/{status}.html?o={originalStatus}&u={url}\"}}",
                   0, NULL);
    assert_int_equal(proxy_mw_parse(spec, "e@file", &mw, err, sizeof(err)), 0);
    json_decref(spec);
    const void *c = mw.cfg;
    assert_true(proxy_mw_errors_catches(c, 500) && proxy_mw_errors_catches(c, 599));
    assert_true(proxy_mw_errors_catches(c, 404) && proxy_mw_errors_catches(c, 418));
    assert_false(proxy_mw_errors_catches(c, 499) || proxy_mw_errors_catches(c, 200));
    assert_string_equal(proxy_mw_errors_service(c), "pages@file");
    assert_int_equal(proxy_mw_errors_status(c, 418), 404);
    assert_int_equal(proxy_mw_errors_status(c, 503), 500);
    assert_int_equal(proxy_mw_errors_status(c, 500), 500);
    hc_buf_t b;
    hc_buf_init(&b, 0);
    assert_int_equal(proxy_mw_errors_target(c, 503, "/a b/c?x=1&y=é", &b), 0);
    assert_int_equal(hc_buf_append(&b, "", 1), 0);
    assert_string_equal(b.base, "/500.html?o=503&u=%2Fa+b%2Fc%3Fx%3D1%26y%3D%C3%A9");
    hc_buf_free(&b);
    proxy_mw_free(&mw);

    /* one leading slash dropped, as Go's TrimPrefix; none given: "/"; "x@p" kept */
    static const struct {
        const char *query, *want;
    } targets[] = {{"\"errors/{status}\"", "/errors/404"}, {"\"//x\"", "//x"}, {"null", "/"}};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        char js[256];
        snprintf(js, sizeof(js),
                 "{\"errors\":{\"status\":[\"404\"],\"service\":\"s@kubernetescrd\","
                 "\"query\":%s}}",
                 targets[i].query);
        spec = json_loads(js, 0, NULL);
        assert_int_equal(proxy_mw_parse(spec, "e@file", &mw, err, sizeof(err)), 0);
        json_decref(spec);
        assert_string_equal(proxy_mw_errors_service(mw.cfg), "s@kubernetescrd");
        hc_buf_init(&b, 0);
        assert_int_equal(proxy_mw_errors_target(mw.cfg, 404, "/", &b), 0);
        assert_int_equal(hc_buf_append(&b, "", 1), 0);
        assert_string_equal(b.base, targets[i].want);
        hc_buf_free(&b);
        proxy_mw_free(&mw);
    }

    static const char *const bad[] = {
        "{\"errors\":{\"status\":[\"5xx\"],\"service\":\"s\"}}",
        "{\"errors\":{\"status\":[\"600-500\"],\"service\":\"s\"}}",
        "{\"errors\":{\"status\":\"500\",\"service\":\"s\"}}",
        "{\"errors\":{\"status\":[\"500\"]}}",
        "{\"errors\":{\"status\":[\"500\"],\"service\":\"s\",\"statusRewrites\":{\"5\":404}}}",
        "{\"errors\":{\"status\":[\"500\"],\"service\":\"s\",\"statusRewrites\":{\"500\":\"x\"}}}",
        "{\"errors\":{\"status\":[\"500\"],\"service\":\"s\",\"statusRewrites\":{\"500\":101}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spec = json_loads(bad[i], 0, NULL);
        err[0] = '\0';
        assert_int_equal(proxy_mw_parse(spec, "e@file", &mw, err, sizeof(err)), -EINVAL);
        assert_true(strstr(err, "errors") != NULL);
        json_decref(spec);
    }
}

/* buffering: the limits, 413 on an announced body over maxRequestBodyBytes, what is
 * refused (a negative size, retryExpression). */
static void test_buffering_spec(void **state)
{
    (void)state;
    proxy_mw_t mw;
    char err[256] = "";
    json_t *spec =
        json_loads("{\"buffering\":{\"maxRequestBodyBytes\":1000,\"memRequestBodyBytes\":"
                   "10,\"maxResponseBodyBytes\":\"2000\"}}",
                   0, NULL);
    assert_int_equal(proxy_mw_parse(spec, "b@file", &mw, err, sizeof(err)), 0);
    json_decref(spec);
    assert_int_equal(proxy_mw_buffering_max_request(mw.cfg), 1000);
    assert_int_equal(proxy_mw_buffering_max_response(mw.cfg), 2000);
    static const struct {
        const char *cl;
        int status;
    } cases[] = {{"1000", 0}, {"1001", 413}, {NULL, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_mw_req_t req;
        proxy_mw_resp_t resp;
        proxy_mw_req_init(&req, "POST", 0, "a.test", "/", "127.0.0.1", 0);
        if (cases[i].cl)
            proxy_mw_headers_add(&req.headers, "Content-Length", cases[i].cl);
        proxy_mw_resp_init(&resp);
        proxy_mw_verdict_t v = mw.type->on_request(mw.cfg, &req, &resp);
        assert_int_equal(v, cases[i].status ? PROXY_MW_RESPOND : PROXY_MW_NEXT);
        assert_int_equal(resp.status, cases[i].status);
        if (cases[i].status)
            assert_memory_equal(resp.body.base, "Request Entity Too Large", 24);
        proxy_mw_resp_free(&resp);
        proxy_mw_req_free(&req);
    }
    proxy_mw_free(&mw);
    static const char *const bad[] = {
        "{\"buffering\":{\"maxRequestBodyBytes\":-1}}",
        "{\"buffering\":{\"retryExpression\":\"IsNetworkError() && Attempts() < 2\"}}",
        "{\"buffering\":{\"maxResponseBodyBytes\":\"lots\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spec = json_loads(bad[i], 0, NULL);
        err[0] = '\0';
        assert_int_equal(proxy_mw_parse(spec, "b@file", &mw, err, sizeof(err)), -EINVAL);
        assert_true(err[0] != '\0');
        json_decref(spec);
    }
}

/* retry: attempts and initialInterval; the backoff grows by 2^(1/(attempts-1)) per try
 * from initialInterval, randomized by +-50 % (cenkalti/backoff, as Traefik uses it). */
static void test_retry_spec(void **state)
{
    (void)state;
    proxy_mw_t mw;
    char err[256] = "";
    json_t *spec =
        json_loads("{\"retry\":{\"attempts\":3,\"initialInterval\":\"100ms\"}}", 0, NULL);
    assert_int_equal(proxy_mw_parse(spec, "r@file", &mw, err, sizeof(err)), 0);
    json_decref(spec);
    assert_int_equal(proxy_mw_retry_attempts(mw.cfg), 3);
    assert_int_equal(proxy_mw_retry_interval_ms(mw.cfg), 100);
    proxy_mw_free(&mw);
    assert_int_equal(proxy_mw_retry_backoff_ms(100, 3, 2, 0.5), 100);
    assert_int_equal(proxy_mw_retry_backoff_ms(100, 3, 3, 0.5), 141); /* 100 * 2^(1/2) */
    assert_int_equal(proxy_mw_retry_backoff_ms(100, 3, 2, 0.0), 50);
    assert_int_equal(proxy_mw_retry_backoff_ms(100, 3, 2, 0.999), 149);
    assert_int_equal(proxy_mw_retry_backoff_ms(0, 3, 2, 0.5), 0);   /* no interval: at once */
    assert_int_equal(proxy_mw_retry_backoff_ms(100, 1, 2, 0.5), 0); /* one attempt */
    spec = json_loads("{\"retry\":{\"attempts\":2,\"initialInterval\":\"1.5s\"}}", 0, NULL);
    assert_int_equal(proxy_mw_parse(spec, "r@file", &mw, err, sizeof(err)), 0);
    json_decref(spec);
    assert_int_equal(proxy_mw_retry_interval_ms(mw.cfg), 1500);
    proxy_mw_free(&mw);
    spec = json_loads("{\"retry\":{\"attempts\":2,\"initialInterval\":1}}", 0, NULL);
    assert_int_equal(proxy_mw_parse(spec, "r@file", &mw, err, sizeof(err)), 0); /* seconds */
    json_decref(spec);
    assert_int_equal(proxy_mw_retry_interval_ms(mw.cfg), 1000);
    proxy_mw_free(&mw);
}

static void *fa_parse(const char *spec_json)
{
    char err[256] = "";
    void *cfg = NULL;
    json_t *spec = json_loads(spec_json, 0, NULL);
    if (proxy_mw_forwardauth_parse(spec, "fa", &cfg, err, sizeof(err)) != 0)
        fail_msg("parse: %s", err);
    json_decref(spec);
    return cfg;
}

static void fa_request(void *cfg, proxy_mw_headers_t *out)
{
    proxy_mw_req_t req;
    proxy_mw_req_init(&req, "POST", 1, "app.test:8443", "/a/b?x=1", "192.0.2.9", 0);
    proxy_mw_headers_add(&req.headers, "Cookie", "s=1");
    proxy_mw_headers_add(&req.headers, "Connection", "keep-alive, X-Secret-Hop");
    proxy_mw_headers_add(&req.headers, "X-Secret-Hop", "1");
    proxy_mw_headers_add(&req.headers, "Keep-Alive", "timeout=5");
    proxy_mw_headers_add(&req.headers, "Upgrade", "websocket");
    proxy_mw_headers_add(&req.headers, "Proxy-Authorization", "Basic eA==");
    proxy_mw_headers_add(&req.headers, "X-Forwarded-For", "10.0.0.1");
    proxy_mw_headers_add(&req.headers, "X-Forwarded-Host", "spoofed.test");
    proxy_mw_headers_add(&req.headers, "X-Forwarded-Uri", "/spoofed");
    proxy_mw_headers_add(&req.headers, "X-Forwarded-Port", "8443"); /* the entry point's */
    proxy_mw_headers_add(&req.headers, "X-Real-Ip", "192.0.2.9");
    proxy_mw_forwardauth_request_headers(cfg, &req, out);
    proxy_mw_req_free(&req);
}

static void test_forwardauth_request_headers(void **state)
{
    static const struct {
        const char *name, *untrusted, *trusted;
    } want[] = {
        {"Cookie", "s=1", "s=1"},
        {"Proxy-Authorization", "Basic eA==", "Basic eA=="},
        {"Connection", NULL, NULL},
        {"X-Secret-Hop", NULL, NULL},
        {"Keep-Alive", NULL, NULL},
        {"Upgrade", NULL, NULL},
        {"X-Forwarded-For", "192.0.2.9", "10.0.0.1, 192.0.2.9"},
        {"X-Forwarded-Method", "POST", "POST"},
        {"X-Forwarded-Proto", "https", "https"},
        {"X-Forwarded-Host", "app.test:8443", "spoofed.test"},
        {"X-Forwarded-Uri", "/a/b?x=1", "/spoofed"},
        {"X-Forwarded-Port", "8443", "8443"},
        {"X-Real-Ip", "192.0.2.9", "192.0.2.9"}, /* copied as the request has it */
    };
    void *cfgs[2] = {
        fa_parse("{\"address\":\"http://auth:9000/check\"}"),
        fa_parse("{\"address\":\"http://auth:9000/check\",\"trustForwardHeader\":true}"),
    };
    for (int t = 0; t < 2; t++) {
        proxy_mw_headers_t out = {0};
        fa_request(cfgs[t], &out);
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            const char *w = t ? want[i].trusted : want[i].untrusted;
            const char *got = proxy_mw_headers_get(&out, want[i].name);
            if (!w ? got != NULL : (!got || strcmp(got, w) != 0))
                fail_msg("trust=%d %s: got %s want %s", t, want[i].name, got ? got : "(none)",
                         w ? w : "(none)");
        }
        proxy_mw_headers_free(&out);
        proxy_mw_forwardauth_free(cfgs[t]);
    }
    /* authRequestHeaders limits what is copied from the client. */
    void *cfg = fa_parse("{\"address\":\"http://a/\",\"authRequestHeaders\":[\"cookie\"]}");
    proxy_mw_headers_t out = {0};
    fa_request(cfg, &out);
    assert_string_equal(proxy_mw_headers_get(&out, "Cookie"), "s=1");
    assert_null(proxy_mw_headers_get(&out, "Proxy-Authorization"));
    assert_string_equal(proxy_mw_headers_get(&out, "X-Forwarded-Host"), "app.test:8443");
    proxy_mw_headers_free(&out);
    proxy_mw_forwardauth_free(cfg);
}

static void test_forwardauth_apply(void **state)
{
    void *cfg = fa_parse("{\"address\":\"https://auth.test/outpost/auth/traefik\","
                         "\"authResponseHeaders\":[\"X-Auth-User\",\"X-Auth-Email\"],"
                         "\"authResponseHeadersRegex\":\"^X-Authentik-\","
                         "\"addAuthCookiesToResponse\":[\"sid\"]}");
    proxy_mw_headers_t ah = {0}, cookies = {0};
    proxy_mw_headers_add(&ah, "X-Auth-User", "alice");
    proxy_mw_headers_add(&ah, "X-Authentik-Groups", "admins");
    proxy_mw_headers_add(&ah, "X-Other", "no");
    proxy_mw_headers_add(&ah, "Set-Cookie", "sid=abc; Path=/");
    proxy_mw_headers_add(&ah, "Set-Cookie", "other=1");
    proxy_mw_req_t req;
    proxy_mw_resp_t resp;
    proxy_mw_req_init(&req, "GET", 1, "app.test", "/", "192.0.2.9", 0);
    proxy_mw_resp_init(&resp);
    proxy_mw_headers_add(&req.headers, "X-Auth-User", "forged");
    proxy_mw_headers_add(&req.headers, "X-Auth-Email", "forged@x");
    proxy_mw_headers_add(&req.headers, "X-Authentik-Uid", "forged");
    assert_int_equal(proxy_mw_forwardauth_apply(cfg, &req, 200, &ah, "", 0, &cookies, &resp),
                     PROXY_MW_NEXT);
    assert_string_equal(proxy_mw_headers_get(&req.headers, "X-Auth-User"), "alice");
    assert_null(proxy_mw_headers_get(&req.headers, "X-Auth-Email"));
    assert_null(proxy_mw_headers_get(&req.headers, "X-Authentik-Uid"));
    assert_string_equal(proxy_mw_headers_get(&req.headers, "X-Authentik-Groups"), "admins");
    assert_null(proxy_mw_headers_get(&req.headers, "X-Other"));
    assert_int_equal(cookies.len, 1);
    /* The backend's own sid cookie is replaced by the auth one. */
    proxy_mw_headers_add(&resp.headers, "Set-Cookie", "sid=backend");
    proxy_mw_headers_add(&resp.headers, "Set-Cookie", "sidx=keep");
    proxy_mw_forwardauth_merge_cookies(&cookies, &resp);
    assert_int_equal(resp.headers.len, 2);
    assert_string_equal(resp.headers.v[0].value, "sidx=keep");
    assert_string_equal(resp.headers.v[1].value, "sid=abc; Path=/");
    proxy_mw_resp_free(&resp);

    /* A 302 to a relative login page goes back to the client, resolved. */
    proxy_mw_headers_t deny = {0};
    proxy_mw_headers_add(&deny, "Location", "../flows/login?next=%2F");
    proxy_mw_headers_add(&deny, "Connection", "close");
    proxy_mw_headers_add(&deny, "Content-Type", "text/html");
    proxy_mw_resp_init(&resp);
    assert_int_equal(proxy_mw_forwardauth_apply(cfg, &req, 302, &deny, "<a>login</a>", 12, NULL,
                                                &resp),
                     PROXY_MW_RESPOND);
    assert_int_equal(resp.status, 302);
    assert_string_equal(proxy_mw_headers_get(&resp.headers, "Location"),
                        "https://auth.test/outpost/flows/login?next=%2F");
    assert_null(proxy_mw_headers_get(&resp.headers, "Connection"));
    assert_string_equal(proxy_mw_headers_get(&resp.headers, "Content-Type"), "text/html");
    assert_memory_equal(resp.body.base, "<a>login</a>", 12);
    proxy_mw_resp_free(&resp);
    proxy_mw_headers_free(&deny);

    proxy_mw_resp_init(&resp);
    static char big[PROXY_MW_FORWARDAUTH_BODY_MAX + 1];
    assert_int_equal(proxy_mw_forwardauth_apply(cfg, &req, 403, &ah, big, sizeof(big), NULL,
                                                &resp),
                     PROXY_MW_RESPOND);
    assert_int_equal(resp.status, 401);
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&req);
    proxy_mw_headers_free(&ah);
    proxy_mw_headers_free(&cookies);
    proxy_mw_forwardauth_free(cfg);
}

/* RFC 3986 §5.4.1 normal examples and some of §5.4.2. */
static void test_url_resolve_rfc3986(void **state)
{
    static const struct {
        const char *ref, *want;
    } cases[] = {
        {"g:h", "g:h"},
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {";x", "http://a/b/c/;x"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../g", "http://a/g"},
        {"../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hc_buf_t b;
        hc_buf_init(&b, 1024);
        assert_int_equal(proxy_mw_url_resolve("http://a/b/c/d;p?q", cases[i].ref, &b), 0);
        if (strcmp(b.base, cases[i].want) != 0)
            fail_msg("%s: got %s want %s", cases[i].ref, b.base, cases[i].want);
        hc_buf_free(&b);
    }
}

static void test_chain_and_forwardauth_errors(void **state)
{
    proxy_mw_t mw;
    char err[256] = "";
    json_t *spec = json_loads("{\"chain\":{\"middlewares\":[\"a\",\"b@file\"]}}", 0, NULL);
    assert_int_equal(proxy_mw_parse(spec, "c", &mw, err, sizeof(err)), 0);
    assert_int_equal(proxy_mw_chain_count(mw.cfg), 2);
    assert_string_equal(proxy_mw_chain_name(mw.cfg, 1), "b@file");
    proxy_mw_free(&mw);
    json_decref(spec);
    const char *bad[] = {
        "{\"chain\":{\"middlewares\":[]}}",
        "{\"chain\":{\"middlewares\":[\"\"]}}",
        "{\"forwardAuth\":{}}",
        "{\"forwardAuth\":{\"address\":\"ftp://x\"}}",
        "{\"forwardAuth\":{\"address\":\"http://x\",\"authResponseHeadersRegex\":\"(\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spec = json_loads(bad[i], 0, NULL);
        assert_int_equal(proxy_mw_parse(spec, "m", &mw, err, sizeof(err)), -EINVAL);
        assert_null(mw.cfg);
        json_decref(spec);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_middlewares),
        cmocka_unit_test(test_registry_errors),
        cmocka_unit_test(test_errors_spec),
        cmocka_unit_test(test_buffering_spec),
        cmocka_unit_test(test_retry_spec),
        cmocka_unit_test(test_forwardauth_request_headers),
        cmocka_unit_test(test_forwardauth_apply),
        cmocka_unit_test(test_url_resolve_rfc3986),
        cmocka_unit_test(test_chain_and_forwardauth_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
