/* redirectScheme (status by method and permanence, port rules, X-Forwarded-Proto,
 * pass-through when already there) and redirectRegex (groups, no-match, same URL). */
#include "core/hc_alloc.h"
#include "core/hc_http_status.h"
#include "proxy/mw_redirect.h"
#include "json_fixture.h"

#include <errno.h>
#include <string.h>

typedef int (*parse_fn)(const json_t *, const char *, void **, char *, size_t);

typedef struct redirect_case {
    const char *spec, *method;
    int tls;
    const char *host, *target, *xfp;
    int want_status; /* 0: passes through */
    const char *want_location;
} redirect_case_t;

static void run_cases(parse_fn parse, const redirect_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const redirect_case_t *c = &cases[i];
        char err[256] = "";
        void *cfg = NULL;
        proxy_mw_req_t req;
        proxy_mw_resp_t resp;
        json_t *spec = json_loads(c->spec, 0, NULL);
        assert_non_null(spec);
        assert_int_equal(parse(spec, "r@file", &cfg, err, sizeof(err)), 0);
        proxy_mw_req_init(&req, c->method, c->tls, c->host, c->target, "192.0.2.1", 0);
        if (c->xfp)
            proxy_mw_headers_add(&req.headers, "X-Forwarded-Proto", c->xfp);
        proxy_mw_resp_init(&resp);
        proxy_mw_verdict_t v = proxy_mw_redirect_request(cfg, &req, &resp);
        if (c->want_status == 0) {
            assert_int_equal(v, PROXY_MW_NEXT);
            assert_int_equal(resp.status, 0);
        } else {
            assert_int_equal(v, PROXY_MW_RESPOND);
            assert_int_equal(resp.status, c->want_status);
            assert_string_equal(proxy_mw_headers_get(&resp.headers, "Location"),
                                c->want_location);
            assert_string_equal(resp.body.base, hc_http_status_text(c->want_status));
        }
        proxy_mw_resp_free(&resp);
        proxy_mw_req_free(&req);
        proxy_mw_redirect_free(cfg);
        json_decref(spec);
    }
}

static void test_redirect_scheme_table(void **state)
{
    /* The seed's redirect-https middleware first. */
    static const char https_perm[] = "{\"scheme\":\"https\",\"permanent\":true}";
    static const char https_tmp[] = "{\"scheme\":\"https\"}";
    static const redirect_case_t cases[] = {
        {https_perm, "GET", 0, "a.test", "/p?x=1", NULL, 301, "https://a.test/p?x=1"},
        {https_perm, "POST", 0, "a.test", "/p", NULL, 308, "https://a.test/p"},
        {https_tmp, "GET", 0, "a.test", "/", NULL, 302, "https://a.test/"},
        {https_tmp, "HEAD", 0, "a.test", "/", NULL, 307, "https://a.test/"},
        {https_tmp, "PUT", 0, "a.test:8080", "/p", NULL, 307, "https://a.test/p"},
        {https_tmp, "GET", 1, "a.test", "/p", NULL, 0, NULL},
        {https_tmp, "GET", 0, "a.test", "/p", "https", 0, NULL},
        /* X-Forwarded-Proto in any case, ws and wss as http and https (Traefik's
         * clientRequestURL), and over the connection's own scheme; others ignored */
        {https_tmp, "GET", 0, "a.test", "/p", "HTTPS", 0, NULL},
        {https_tmp, "GET", 0, "a.test", "/p", "wss", 0, NULL},
        {https_tmp, "GET", 1, "a.test", "/p", "http", 302, "https://a.test/p"},
        {https_tmp, "GET", 0, "a.test", "/p", "gopher", 302, "https://a.test/p"},
        {https_tmp, "GET", 1, "a.test:443", "/p", NULL, 0, NULL},
        {https_tmp, "GET", 1, "a.test:8443", "/p", NULL, 302, "https://a.test/p"},
        {"{\"scheme\":\"https\",\"port\":\"8443\"}", "GET", 0, "a.test:8080", "/p", NULL, 302,
         "https://a.test:8443/p"},
        {"{\"scheme\":\"https\",\"port\":\"8443\"}", "GET", 1, "a.test:8443", "/p", NULL, 0, NULL},
        {"{\"scheme\":\"https\",\"port\":\"443\"}", "GET", 0, "a.test:80", "/p", NULL, 302,
         "https://a.test/p"},
        {"{\"scheme\":\"http\",\"port\":\"80\"}", "GET", 1, "a.test", "/p", NULL, 302,
         "http://a.test/p"},
        {"{\"scheme\":\"http\"}", "GET", 0, "a.test:80", "/p", NULL, 0, NULL},
        {https_tmp, "GET", 0, "[2001:db8::1]:8080", "/p", NULL, 302, "https://[2001:db8::1]/p"},
    };
    run_cases(proxy_mw_redirectscheme_parse, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_redirect_regex_table(void **state)
{
    static const char www[] =
        "{\"regex\":\"^https?://localhost/(.*)\",\"replacement\":\"http://mydomain/${1}\"}";
    static const char perm[] = "{\"regex\":\"^http://([^/]+)/old/(.*)\","
                               "\"replacement\":\"https://$1/new/$2\",\"permanent\":true}";
    static const redirect_case_t cases[] = {
        {www, "GET", 0, "localhost", "/foo?a=b", NULL, 302, "http://mydomain/foo?a=b"},
        {www, "POST", 1, "localhost", "/x", NULL, 307, "http://mydomain/x"},
        {www, "GET", 0, "other", "/foo", NULL, 0, NULL},
        {www, "GET", 0, "localhost:8080", "/foo", NULL, 0, NULL},
        {perm, "GET", 0, "h.test:81", "/old/a", NULL, 301, "https://h.test:81/new/a"},
        {perm, "DELETE", 0, "h.test", "/old/", NULL, 308, "https://h.test/new/"},
        {"{\"regex\":\"^(.*)$\",\"replacement\":\"$1\"}", "GET", 0, "h", "/same", NULL, 0, NULL},
    };
    run_cases(proxy_mw_redirectregex_parse, cases, sizeof(cases) / sizeof(cases[0]));
}

/* A URL the replacement multiplies past PROXY_MW_BUILD_MAX: 500, never the request let by
 * (and the warning logged on the way must not crash). */
static void test_result_past_the_limit_is_500(void **state)
{
    char err[256] = "";
    void *cfg = NULL;
    json_t *spec = json_loads(
        "{\"regex\":\"^http://h/(.*)\",\"replacement\":\"http://h/$1$1$1$1$1\"}", 0, NULL);
    assert_int_equal(proxy_mw_redirectregex_parse(spec, "r@file", &cfg, err, sizeof(err)), 0);
    char *target = long_path(PROXY_MW_BUILD_MAX / 4);
    proxy_mw_req_t req;
    proxy_mw_resp_t resp;
    proxy_mw_req_init(&req, "GET", 0, "h", target, "192.0.2.1", 0);
    proxy_mw_resp_init(&resp);
    assert_int_equal(proxy_mw_redirect_request(cfg, &req, &resp), PROXY_MW_RESPOND);
    assert_int_equal(resp.status, 500);
    assert_null(proxy_mw_headers_get(&resp.headers, "Location"));
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&req);
    free(target);
    proxy_mw_redirect_free(cfg);
    json_decref(spec);
}

static void test_parse_errors(void **state)
{
    static const struct {
        parse_fn parse;
        const char *spec;
    } cases[] = {
        {proxy_mw_redirectscheme_parse, "{}"},
        {proxy_mw_redirectscheme_parse, "{\"scheme\":\"\"}"},
        {proxy_mw_redirectscheme_parse, "{\"scheme\":\"https\",\"permanent\":\"maybe\"}"},
        {proxy_mw_redirectregex_parse, "{\"replacement\":\"x\"}"},
        {proxy_mw_redirectregex_parse, "{\"regex\":\"(\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        void *cfg = NULL;
        json_t *spec = json_loads(cases[i].spec, 0, NULL);
        assert_int_equal(cases[i].parse(spec, "r", &cfg, err, sizeof(err)), -EINVAL);
        assert_null(cfg);
        assert_true(err[0] != '\0');
        json_decref(spec);
    }
}

static void test_client_url(void **state)
{
    proxy_mw_req_t req;
    hc_buf_t b;
    hc_buf_init(&b, 256);
    proxy_mw_req_init(&req, "GET", 0, "h.test:80", "/a%20b?q", "192.0.2.1", 0);
    assert_int_equal(proxy_mw_redirect_client_url(&req, &b), 0);
    assert_string_equal(b.base, "http://h.test/a%20b?q");
    hc_buf_reset(&b);
    proxy_mw_headers_add(&req.headers, "X-Forwarded-Proto", "https");
    assert_int_equal(proxy_mw_redirect_client_url(&req, &b), 0);
    assert_string_equal(b.base, "https://h.test:80/a%20b?q");
    proxy_mw_req_free(&req);
    hc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redirect_scheme_table),
        cmocka_unit_test(test_redirect_regex_table),
        cmocka_unit_test(test_result_past_the_limit_is_500),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_client_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
