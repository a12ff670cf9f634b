/* headers middleware: custom headers (replace, delete, XFF suppression, Host), security
 * headers and STS over HTTPS only, CORS preflight and response headers, allowedHosts. */
#include "core/hc_alloc.h"
#include "proxy/mw_headers.h"

#include <errno.h>
#include <string.h>

typedef struct fixture {
    void *cfg;
    proxy_mw_req_t req;
    proxy_mw_resp_t resp;
} fixture_t;

static void setup_req(fixture_t *f, const char *spec_json, const char *method, int tls)
{
    char err[256] = "";
    json_t *spec = json_loads(spec_json, 0, NULL);
    assert_non_null(spec);
    f->cfg = NULL;
    if (proxy_mw_hdr_parse(spec, "h@file", &f->cfg, err, sizeof(err)) != 0)
        fail_msg("parse: %s", err);
    json_decref(spec);
    proxy_mw_req_init(&f->req, method, tls, "app.test", "/x", "192.0.2.1", 0);
    proxy_mw_resp_init(&f->resp);
}

static void teardown_req(fixture_t *f)
{
    proxy_mw_resp_free(&f->resp);
    proxy_mw_req_free(&f->req);
    proxy_mw_hdr_free(f->cfg);
}

static void assert_header(const proxy_mw_headers_t *h, const char *name, const char *want)
{
    const char *v = proxy_mw_headers_get(h, name);
    if (!want) {
        if (v)
            fail_msg("%s present: %s", name, v);
        return;
    }
    if (!v)
        fail_msg("%s missing, want %s", name, want);
    assert_string_equal(v, want);
}

static void test_custom_request_headers(void **state)
{
    fixture_t f;
    setup_req(&f,
              "{\"customRequestHeaders\":{\"X-Script-Name\":\"test\",\"X-Drop\":\"\","
              "\"X-Forwarded-For\":\"\",\"Host\":\"backend.internal\"}}",
              "GET", 0);
    proxy_mw_headers_add(&f.req.headers, "x-script-name", "a");
    proxy_mw_headers_add(&f.req.headers, "X-Script-Name", "b");
    proxy_mw_headers_add(&f.req.headers, "X-Drop", "1");
    proxy_mw_headers_add(&f.req.headers, "X-Forwarded-For", "9.9.9.9");
    assert_int_equal(proxy_mw_hdr_request(f.cfg, &f.req, &f.resp), PROXY_MW_NEXT);
    assert_header(&f.req.headers, "X-Script-Name", "test");
    assert_int_equal(f.req.headers.len, 2); /* X-Script-Name replaced once, plus Host */
    assert_header(&f.req.headers, "X-Drop", NULL);
    assert_header(&f.req.headers, "X-Forwarded-For", NULL);
    assert_int_equal(f.req.no_xff, 1);
    assert_string_equal(f.req.host, "backend.internal");
    teardown_req(&f);
}

static void test_seed_security_headers(void **state)
{
    /* default-security-headers from the seed, as its customResponseHeaders. */
    fixture_t f;
    setup_req(&f,
              "{\"customResponseHeaders\":{\"X-Frame-Options\":\"SAMEORIGIN\","
              "\"X-Content-Type-Options\":\"nosniff\",\"X-XSS-Protection\":\"1; mode=block\","
              "\"Referrer-Policy\":\"no-referrer-when-downgrade\","
              "\"Permissions-Policy\":\"geolocation=(), microphone=(), camera=()\"}}",
              "GET", 0);
    proxy_mw_headers_add(&f.resp.headers, "X-Frame-Options", "ALLOW");
    f.resp.status = 200;
    assert_int_equal(proxy_mw_hdr_request(f.cfg, &f.req, &f.resp), PROXY_MW_NEXT);
    proxy_mw_hdr_response(f.cfg, &f.req, &f.resp);
    assert_header(&f.resp.headers, "X-Frame-Options", "SAMEORIGIN");
    assert_header(&f.resp.headers, "X-Content-Type-Options", "nosniff");
    assert_header(&f.resp.headers, "X-XSS-Protection", "1; mode=block");
    assert_header(&f.resp.headers, "Referrer-Policy", "no-referrer-when-downgrade");
    assert_header(&f.resp.headers, "Permissions-Policy",
                  "geolocation=(), microphone=(), camera=()");
    assert_int_equal(f.resp.headers.len, 5);
    teardown_req(&f);
}

/* spec, tls, header, expected value (NULL: absent). */
static void test_security_fields_table(void **state)
{
    static const struct {
        const char *spec;
        int tls;
        const char *name, *want;
    } cases[] = {
        {"{\"frameDeny\":true}", 0, "X-Frame-Options", "DENY"},
        {"{\"frameDeny\":true,\"customFrameOptionsValue\":\"SAMEORIGIN\"}", 0, "X-Frame-Options",
         "SAMEORIGIN"},
        {"{\"contentTypeNosniff\":true}", 0, "X-Content-Type-Options", "nosniff"},
        {"{\"browserXssFilter\":true}", 0, "X-XSS-Protection", "1; mode=block"},
        {"{\"browserXssFilter\":true,\"customBrowserXSSValue\":\"0\"}", 0, "X-XSS-Protection", "0"},
        {"{\"referrerPolicy\":\"same-origin\"}", 0, "Referrer-Policy", "same-origin"},
        {"{\"permissionsPolicy\":\"camera=()\"}", 0, "Permissions-Policy", "camera=()"},
        {"{\"contentSecurityPolicy\":\"default-src 'self'\"}", 0, "Content-Security-Policy",
         "default-src 'self'"},
        {"{\"stsSeconds\":31536000}", 0, "Strict-Transport-Security", NULL},
        {"{\"stsSeconds\":31536000}", 1, "Strict-Transport-Security", "max-age=31536000"},
        {"{\"stsSeconds\":60,\"stsIncludeSubdomains\":true,\"stsPreload\":true}", 1,
         "Strict-Transport-Security", "max-age=60; includeSubDomains; preload"},
        {"{\"stsSeconds\":60,\"forceSTSHeader\":true}", 0, "Strict-Transport-Security",
         "max-age=60"},
        {"{\"stsSeconds\":60,\"sslProxyHeaders\":{\"X-Forwarded-Proto\":\"https\"}}", 0,
         "Strict-Transport-Security", "max-age=60"},
        {"{\"sslRedirect\":true}", 0, "Location", NULL},
        /* removed in Traefik v3 with the ssl* options: ignored, with a warning */
        {"{\"featurePolicy\":\"camera 'none'\"}", 0, "Feature-Policy", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fixture_t f;
        setup_req(&f, cases[i].spec, "GET", cases[i].tls);
        proxy_mw_headers_add(&f.req.headers, "X-Forwarded-Proto", "https");
        assert_int_equal(proxy_mw_hdr_request(f.cfg, &f.req, &f.resp), PROXY_MW_NEXT);
        proxy_mw_hdr_response(f.cfg, &f.req, &f.resp);
        assert_header(&f.resp.headers, cases[i].name, cases[i].want);
        teardown_req(&f);
    }
}

static const char cors_spec[] =
    "{\"accessControlAllowMethods\":[\"GET\",\"OPTIONS\",\"PUT\"],"
    "\"accessControlAllowHeaders\":[\"X-A\",\"X-B\"],"
    "\"accessControlAllowOriginList\":[\"https://a.test\"],"
    "\"accessControlAllowOriginListRegex\":[\"^https://([a-z]+)\\\\.b\\\\.test$\"],"
    "\"accessControlExposeHeaders\":[\"X-E\"],"
    "\"accessControlAllowCredentials\":true,\"accessControlMaxAge\":100,\"addVaryHeader\":true}";

static void test_cors_preflight(void **state)
{
    static const struct {
        const char *method, *origin, *acrm;
        int answered;
        const char *allow_origin;
    } cases[] = {
        {"OPTIONS", "https://a.test", "PUT", 1, "https://a.test"},
        {"OPTIONS", "https://x.b.test", "PUT", 1, "https://x.b.test"},
        {"OPTIONS", "https://evil.test", "PUT", 1, NULL},
        {"OPTIONS", "https://a.test", NULL, 0, NULL},
        {"OPTIONS", NULL, "PUT", 0, NULL},
        {"GET", "https://a.test", "PUT", 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fixture_t f;
        setup_req(&f, cors_spec, cases[i].method, 1);
        if (cases[i].origin)
            proxy_mw_headers_add(&f.req.headers, "Origin", cases[i].origin);
        if (cases[i].acrm)
            proxy_mw_headers_add(&f.req.headers, "Access-Control-Request-Method", cases[i].acrm);
        proxy_mw_verdict_t v = proxy_mw_hdr_request(f.cfg, &f.req, &f.resp);
        assert_int_equal(v, cases[i].answered ? PROXY_MW_RESPOND : PROXY_MW_NEXT);
        if (cases[i].answered) {
            assert_int_equal(f.resp.status, 200);
            assert_int_equal(f.resp.body.len, 0);
            assert_header(&f.resp.headers, "Content-Length", "0");
            assert_header(&f.resp.headers, "Access-Control-Allow-Methods", "GET,OPTIONS,PUT");
            assert_header(&f.resp.headers, "Access-Control-Allow-Headers", "X-A,X-B");
            assert_header(&f.resp.headers, "Access-Control-Allow-Credentials", "true");
            assert_header(&f.resp.headers, "Access-Control-Max-Age", "100");
            assert_header(&f.resp.headers, "Access-Control-Allow-Origin", cases[i].allow_origin);
        }
        teardown_req(&f);
    }
    /* addVaryHeader alone makes the middleware a CORS one (Traefik's
     * HasCorsHeadersDefined): it answers the preflight itself */
    fixture_t f;
    setup_req(&f, "{\"addVaryHeader\":true}", "OPTIONS", 0);
    proxy_mw_headers_add(&f.req.headers, "Origin", "https://a.test");
    proxy_mw_headers_add(&f.req.headers, "Access-Control-Request-Method", "PUT");
    assert_int_equal(proxy_mw_hdr_request(f.cfg, &f.req, &f.resp), PROXY_MW_RESPOND);
    assert_int_equal(f.resp.status, 200);
    teardown_req(&f);
}

static void test_cors_response_and_vary(void **state)
{
    static const struct {
        const char *origin, *vary_in, *allow, *vary_out;
    } cases[] = {
        {"https://a.test", NULL, "https://a.test", "Origin"},
        {"https://q.b.test", "Accept-Encoding", "https://q.b.test", "Accept-Encoding,Origin"},
        {"https://no.test", "Origin", NULL, "Origin"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fixture_t f;
        setup_req(&f, cors_spec, "GET", 1);
        proxy_mw_headers_add(&f.req.headers, "Origin", cases[i].origin);
        if (cases[i].vary_in)
            proxy_mw_headers_add(&f.resp.headers, "Vary", cases[i].vary_in);
        assert_int_equal(proxy_mw_hdr_request(f.cfg, &f.req, &f.resp), PROXY_MW_NEXT);
        proxy_mw_hdr_response(f.cfg, &f.req, &f.resp);
        assert_header(&f.resp.headers, "Access-Control-Allow-Origin", cases[i].allow);
        assert_header(&f.resp.headers, "Access-Control-Expose-Headers", "X-E");
        assert_header(&f.resp.headers, "Access-Control-Allow-Credentials", "true");
        assert_header(&f.resp.headers, "Vary", cases[i].vary_out);
        teardown_req(&f);
    }
    fixture_t f;
    setup_req(&f, "{\"accessControlAllowOriginList\":[\"*\"]}", "GET", 0);
    proxy_mw_hdr_response(f.cfg, &f.req, &f.resp);
    assert_header(&f.resp.headers, "Access-Control-Allow-Origin", "*");
    assert_header(&f.resp.headers, "Vary", NULL);
    teardown_req(&f);
}

static void test_allowed_hosts(void **state)
{
    static const char spec[] = "{\"allowedHosts\":[\"app.test\",\"www.test\"],"
                               "\"hostsProxyHeaders\":[\"X-Forwarded-Host\"]}";
    static const struct {
        const char *xfh;
        int status;
    } cases[] = {{NULL, 0}, {"www.test", 0}, {"evil.test", 500}, {"", 0}, {"WWW.Test", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fixture_t f;
        setup_req(&f, spec, "GET", 0);
        if (cases[i].xfh)
            proxy_mw_headers_add(&f.req.headers, "X-Forwarded-Host", cases[i].xfh);
        proxy_mw_verdict_t v = proxy_mw_hdr_request(f.cfg, &f.req, &f.resp);
        assert_int_equal(v, cases[i].status ? PROXY_MW_RESPOND : PROXY_MW_NEXT);
        assert_int_equal(f.resp.status, cases[i].status);
        if (cases[i].status)
            assert_string_equal(f.resp.body.base, "Bad Host");
        teardown_req(&f);
    }
}

/* isDevelopment: unrolled/secure leaves AllowedHosts and STS out. */
static void test_is_development(void **state)
{
    fixture_t f;
    setup_req(&f,
              "{\"isDevelopment\":true,\"allowedHosts\":[\"prod.test\"],\"stsSeconds\":300,"
              "\"forceSTSHeader\":true,\"frameDeny\":true}",
              "GET", 1);
    assert_int_equal(proxy_mw_hdr_request(f.cfg, &f.req, &f.resp), PROXY_MW_NEXT);
    proxy_mw_hdr_response(f.cfg, &f.req, &f.resp);
    assert_header(&f.resp.headers, "Strict-Transport-Security", NULL);
    assert_header(&f.resp.headers, "X-Frame-Options", "DENY");
    teardown_req(&f);
}

static void test_parse_errors(void **state)
{
    const char *bad[] = {
        "[]",
        "{\"customRequestHeaders\":[\"a\"]}",
        "{\"customResponseHeaders\":{\"X\":1}}",
        "{\"frameDeny\":\"yes\"}",
        "{\"stsSeconds\":\"soon\"}",
        "{\"accessControlAllowOriginListRegex\":[\"(\"]}",
        "{\"accessControlAllowMethods\":\"GET\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        void *cfg = NULL;
        json_t *spec = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(spec);
        assert_int_equal(proxy_mw_hdr_parse(spec, "h", &cfg, err, sizeof(err)), -EINVAL);
        assert_null(cfg);
        assert_true(err[0] != '\0');
        json_decref(spec);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_custom_request_headers), cmocka_unit_test(test_seed_security_headers),
        cmocka_unit_test(test_security_fields_table),  cmocka_unit_test(test_cors_preflight),
        cmocka_unit_test(test_cors_response_and_vary), cmocka_unit_test(test_allowed_hosts),
        cmocka_unit_test(test_is_development),         cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
