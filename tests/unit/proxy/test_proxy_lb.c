/* Load balancing (src/proxy/proxy_lb.c): round robin with health, Traefik's EDF WRR
 * sequence on Go's heap order, and the sticky cookie's name, value and line. */
#include "core/hc_alloc.h"
#include "proxy/proxy_lb.h"

#include <string.h>

static int not_one(void *arg, size_t i)
{
    (void)arg;
    return i != 1;
}

static int none(void *arg, size_t i)
{
    (void)arg;
    (void)i;
    return 0;
}

static void test_round_robin(void **state)
{
    unsigned pos = 0;
    char seq[16] = "";
    for (int k = 0; k < 7; k++)
        seq[k] = (char)('a' + proxy_lb_rr_next(&pos, 3, NULL, NULL));
    assert_string_equal(seq, "abcabca");
    memset(seq, 0, sizeof(seq));
    for (int k = 0; k < 5; k++) /* b is down: skipped, order kept */
        seq[k] = (char)('a' + proxy_lb_rr_next(&pos, 3, not_one, NULL));
    assert_string_equal(seq, "cacac");
    assert_true(proxy_lb_rr_next(&pos, 3, none, NULL) == PROXY_LB_NONE);
    assert_true(proxy_lb_rr_next(&pos, 0, NULL, NULL) == PROXY_LB_NONE);
}

/* Weights -> the first picks, as Traefik's wrr.Balancer serves them (container/heap
 * order: equal deadlines do not come out in insertion order). */
static void test_wrr_sequences(void **state)
{
    static const struct {
        long long w[4];
        size_t n;
        const char *want;
    } cases[] = {
        {{3, 1}, 2, "aabaaaab"}, /* float64 sums of 1/3 fall just short of 2.0 */
        {{1, 1, 1}, 3, "acbcbaba"}, {{1, 3}, 2, "bbabbbba"},
        {{2, 1, 1}, 3, "acababac"}, {{0, 1}, 2, "bbbbbbbb"}, /* weight 0: left out, never chosen */
        {{2, 0, 1}, 3, "acaacaac"}, {{5}, 1, "aaaaaaaa"},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        proxy_lb_wrr_t w;
        proxy_lb_wrr_init(&w, cases[c].w, cases[c].n);
        char seq[16] = "";
        for (size_t k = 0; k < strlen(cases[c].want); k++)
            seq[k] = (char)('a' + proxy_lb_wrr_next(&w, NULL, NULL));
        assert_string_equal(seq, cases[c].want);
        proxy_lb_wrr_free(&w);
    }
}

static void test_wrr_skips_unhealthy(void **state)
{
    long long ws[] = {1, 5, 1};
    proxy_lb_wrr_t w;
    proxy_lb_wrr_init(&w, ws, 3);
    for (int k = 0; k < 10; k++)
        assert_true(proxy_lb_wrr_next(&w, not_one, NULL) != 1);
    assert_true(proxy_lb_wrr_next(&w, none, NULL) == PROXY_LB_NONE);
    proxy_lb_wrr_free(&w);
    proxy_lb_wrr_init(&w, ws, 0);
    assert_true(proxy_lb_wrr_next(&w, NULL, NULL) == PROXY_LB_NONE);
    proxy_lb_wrr_free(&w);
    long long zeros[] = {0, -1};
    proxy_lb_wrr_init(&w, zeros, 2); /* nothing of positive weight: nothing to choose */
    assert_true(proxy_lb_wrr_next(&w, NULL, NULL) == PROXY_LB_NONE);
    proxy_lb_wrr_free(&w);
}

static void test_cookie_name_and_value(void **state)
{
    char name[PROXY_LB_COOKIE_NAME_MAX], value[PROXY_LB_COOKIE_VALUE_LEN];
    proxy_sticky_t st = {.enabled = 1};
    /* "_" + sha1("_TRAEFIK_BACKEND_" + service)[:5] (Traefik cookie.GenerateName) */
    proxy_lb_cookie_name(&st, "whoami@file", name);
    assert_string_equal(name, "_77b1f");
    proxy_lb_cookie_name(&st, "client-demo-client-api-8000@kubernetes", name);
    assert_string_equal(name, "_6db30");
    st.name = "my cookie;v=1";
    proxy_lb_cookie_name(&st, "whoami@file", name); /* cookie.sanitizeName */
    assert_string_equal(name, "my_cookie_v_1");
    proxy_lb_cookie_value("http://10.42.0.7:8000", value); /* sha256(url)[:16] */
    assert_string_equal(value, "4cd8c2cc3cccc02b");
    assert_true(proxy_lb_cookie_matches("4cd8c2cc3cccc02b", 16, "http://10.42.0.7:8000"));
    assert_true(proxy_lb_cookie_matches("http://10.42.0.7:8000", 21, "http://10.42.0.7:8000"));
    assert_false(proxy_lb_cookie_matches("4cd8c2cc3cccc02c", 16, "http://10.42.0.7:8000"));
}

static void test_cookie_find(void **state)
{
    static const struct {
        const char *header, *name, *want;
    } cases[] = {
        {"a=1; _77b1f=abc; z=2", "_77b1f", "abc"},
        {"_77b1f=abc", "_77b1f", "abc"},
        {"x_77b1f=no; _77b1f=yes", "_77b1f", "yes"},
        {"_77b1f=\"quoted\"", "_77b1f", "quoted"},
        {"_77b1f=", "_77b1f", ""},
        {"a=1;b=2", "_77b1f", NULL},
        {"", "_77b1f", NULL},
        {"_77b1f", "_77b1f", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = 0;
        const char *v = proxy_lb_cookie_find(cases[i].header, cases[i].name, &len);
        if (!cases[i].want) {
            assert_null(v);
            continue;
        }
        assert_non_null(v);
        assert_int_equal(len, strlen(cases[i].want));
        assert_memory_equal(v, cases[i].want, len);
    }
}

static void test_set_cookie_line(void **state)
{
    static const struct {
        proxy_sticky_t st;
        const char *want;
    } cases[] = {
        {{.enabled = 1}, "_n=v; Path=/"},
        {{.enabled = 1, .httponly = 1, .secure = 1}, "_n=v; Path=/; HttpOnly; Secure"},
        {{.enabled = 1, .samesite = "none", .secure = 1}, "_n=v; Path=/; Secure; SameSite=None"},
        {{.enabled = 1, .samesite = "Strict", .maxage = 60},
         "_n=v; Path=/; Max-Age=60; SameSite=Strict"},
        {{.enabled = 1, .samesite = "lax", .maxage = -1}, "_n=v; Path=/; Max-Age=0; SameSite=Lax"},
        {{.enabled = 1, .path = "/a;b\x01", .domain = ".Example.test"},
         "_n=v; Path=/ab; Domain=Example.test"},
        {{.enabled = 1, .path = "", .domain = "bad..domain"}, "_n=v"},
        {{.enabled = 1, .domain = "under_score-1.test", .httponly = 1},
         "_n=v; Path=/; Domain=under_score-1.test; HttpOnly"},
        {{.enabled = 1, .samesite = "bogus"}, "_n=v; Path=/"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hc_buf_t b;
        hc_buf_init(&b, 512);
        proxy_lb_set_cookie(&cases[i].st, "_n", "v", &b);
        hc_buf_append(&b, "", 1);
        assert_string_equal(b.base, cases[i].want);
        hc_buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_wrr_sequences),
        cmocka_unit_test(test_wrr_skips_unhealthy),
        cmocka_unit_test(test_cookie_name_and_value),
        cmocka_unit_test(test_cookie_find),
        cmocka_unit_test(test_set_cookie_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
