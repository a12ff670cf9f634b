/* hc_router: literal, ":name" and "*" patterns, method fallback (HEAD -> GET), 404 vs
 * 405 with Allow, per-route body limits, and rejected patterns. */
#include "core/hc_alloc.h"
#include "core/hc_router.h"

#include <errno.h>
#include <string.h>

static void h_a(hc_http_req_t *req, void *arg) {}
static void h_b(hc_http_req_t *req, void *arg) {}

static hc_router_t *make(void)
{
    hc_router_t *r = hc_router_new();
    assert_int_equal(hc_router_add(r, "GET", "/", h_a, "root", 0), 0);
    assert_int_equal(hc_router_add(r, "GET", "/users/:id", h_a, "user", 0), 0);
    assert_int_equal(hc_router_add(r, "POST", "/users/:id", h_b, "user-post", 42), 0);
    assert_int_equal(hc_router_add(r, "GET", "/users/:id/posts/:post", h_a, "post", 0), 0);
    assert_int_equal(hc_router_add(r, "GET", "/static/*", h_b, "static", 0), 0);
    assert_int_equal(hc_router_add(r, "*", "/any", h_b, "any", 0), 0);
    return r;
}

static void test_match_table(void **state)
{
    static const struct {
        const char *method, *path;
        int status;
        const char *arg;
        unsigned nparams;
        const char *p0, *v0, *p1, *v1;
        const char *allow;
    } cases[] = {
        {"GET", "/", 200, "root", 0},
        {"HEAD", "/", 200, "root", 0},
        {"GET", "/users/7", 200, "user", 1, "id", "7"},
        {"POST", "/users/abc", 200, "user-post", 1, "id", "abc"},
        {"GET", "/users/7/posts/99", 200, "post", 2, "id", "7", "post", "99"},
        {"GET", "/static/css/a.css", 200, "static", 1, "*", "css/a.css"},
        {"GET", "/static/", 200, "static", 1, "*", ""},
        {"DELETE", "/any", 200, "any", 0},
        {"GET", "/users/", 404},
        {"GET", "/users", 404},
        {"GET", "/users/7/", 404},
        {"GET", "/nothing", 404},
        {"GET", "", 404},
        {"DELETE", "/users/7", 405, NULL, 0, NULL, NULL, NULL, NULL, "GET, HEAD, POST"},
        {"POST", "/", 405, NULL, 0, NULL, NULL, NULL, NULL, "GET, HEAD"},
    };
    hc_router_t *r = make();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hc_http_header_t params[HC_HTTP_MAX_PARAMS];
        unsigned np = 99;
        hc_router_match_t m;
        int st = hc_router_match(r, cases[i].method, cases[i].path, strlen(cases[i].path), params,
                                 &np, &m);
        assert_int_equal(st, cases[i].status);
        if (st == 200) {
            assert_string_equal(m.arg, cases[i].arg);
            assert_int_equal(np, cases[i].nparams);
        }
        if (cases[i].p0) {
            assert_int_equal(params[0].name_len, strlen(cases[i].p0));
            assert_memory_equal(params[0].name, cases[i].p0, params[0].name_len);
            assert_int_equal(params[0].value_len, strlen(cases[i].v0));
            assert_memory_equal(params[0].value, cases[i].v0, params[0].value_len);
        }
        if (cases[i].p1) {
            assert_memory_equal(params[1].name, cases[i].p1, params[1].name_len);
            assert_int_equal(params[1].value_len, strlen(cases[i].v1));
            assert_memory_equal(params[1].value, cases[i].v1, params[1].value_len);
        }
        if (cases[i].allow)
            assert_string_equal(m.allow, cases[i].allow);
    }
    hc_router_free(r);
}

static void test_route_body_limit(void **state)
{
    hc_router_t *r = make();
    hc_http_header_t params[HC_HTTP_MAX_PARAMS];
    unsigned np;
    hc_router_match_t m;
    assert_int_equal(hc_router_match(r, "POST", "/users/1", 8, params, &np, &m), 200);
    assert_int_equal(m.max_body, 42);
    assert_ptr_equal(m.cb, h_b);
    assert_int_equal(hc_router_match(r, "GET", "/users/1", 8, params, &np, &m), 200);
    assert_int_equal(m.max_body, 0);
    hc_router_free(r);
}

static void test_bad_patterns(void **state)
{
    hc_router_t *r = hc_router_new();
    assert_int_equal(hc_router_add(r, "GET", "nope", h_a, NULL, 0), -EINVAL);
    assert_int_equal(hc_router_add(r, "GET", "/a*", h_a, NULL, 0), -EINVAL);
    assert_int_equal(hc_router_add(r, "GET", "/*/x", h_a, NULL, 0), -EINVAL);
    assert_int_equal(hc_router_add(r, "", "/x", h_a, NULL, 0), -EINVAL);
    assert_int_equal(hc_router_add(r, "GET", "/x", NULL, NULL, 0), -EINVAL);
    hc_router_free(r);
}

static void test_path_not_nul_terminated(void **state)
{
    hc_router_t *r = make();
    hc_http_header_t params[HC_HTTP_MAX_PARAMS];
    unsigned np;
    hc_router_match_t m;
    /* only the first 8 bytes count: "/users/7" */
    assert_int_equal(hc_router_match(r, "GET", "/users/7/posts/1", 8, params, &np, &m), 200);
    assert_string_equal(m.arg, "user");
    assert_int_equal(params[0].value_len, 1);
    hc_router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_route_body_limit),
        cmocka_unit_test(test_bad_patterns),
        cmocka_unit_test(test_path_not_nul_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
