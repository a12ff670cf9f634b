/* Load balancing (src/proxy/proxy_lb.c): p2c with health and load, hrw by client IP,
 * leasttime by time to first byte, Traefik's EDF
 * WRR sequence on Go's heap order, and the sticky cookie's name, value and line. */
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

static unsigned loads[4];

static unsigned load_of(void *arg, size_t i)
{
    (void)arg;
    return loads[i];
}

/* Traefik's p2c: of two different servers drawn at random, the one with fewer requests
 * in flight; with two up, always the less loaded; the one left when only one is up. */
static void test_p2c(void **state)
{
    uint64_t rng = 12345;
    memcpy(loads, (unsigned[]){3, 0, 5, 0}, sizeof(loads));
    for (int k = 0; k < 50; k++) /* a and c drawn together: a; any pair with b or d: those */
        assert_true(proxy_lb_p2c_next(&rng, 3, NULL, load_of, NULL) != 2);
    memcpy(loads, (unsigned[]){0, 2, 1, 0}, sizeof(loads));
    for (int k = 0; k < 20; k++) /* b down: a and c are the two, a has fewer */
        assert_true(proxy_lb_p2c_next(&rng, 3, not_one, load_of, NULL) == 0);
    memcpy(loads, (unsigned[]){0, 0, 0, 0}, sizeof(loads));
    unsigned seen[4] = {0};
    for (int k = 0; k < 400; k++) /* level loads: every server gets a share */
        seen[proxy_lb_p2c_next(&rng, 4, NULL, load_of, NULL)]++;
    for (int i = 0; i < 4; i++)
        assert_true(seen[i] > 50);
    assert_true(proxy_lb_p2c_next(&rng, 2, not_one, load_of, NULL) == 0); /* one left */
    assert_true(proxy_lb_p2c_next(&rng, 3, none, load_of, NULL) == PROXY_LB_NONE);
    assert_true(proxy_lb_p2c_next(&rng, 0, NULL, load_of, NULL) == PROXY_LB_NONE);
}

static const char *const hrw_names[] = {"http://a", "http://b", "http://c"};
static double hrw_weights[3];

static const char *hrw_key(void *arg, size_t i, double *weight)
{
    (void)arg;
    *weight = hrw_weights[i];
    return hrw_names[i];
}

/* Traefik's hrw: 1 / -ln(fnv64a(ip + name) / 2^64) times the weight, highest wins (the
 * expected picks computed with Go's formula: for 127.0.0.1, a 2.8046554 > c 2.8046540 >
 * b 2.8046534; for ::1, c > b > a). */
static void test_hrw(void **state)
{
    memcpy(hrw_weights, (double[]){1, 1, 1}, sizeof(hrw_weights));
    assert_int_equal(proxy_lb_hrw_next("127.0.0.1", 3, NULL, hrw_key, NULL), 0);
    assert_int_equal(proxy_lb_hrw_next("127.0.0.1", 3, NULL, hrw_key, NULL), 0); /* stays */
    assert_int_equal(proxy_lb_hrw_next("::1", 3, NULL, hrw_key, NULL), 2);
    assert_int_equal(proxy_lb_hrw_next("127.0.0.1", 3, not_one, hrw_key, NULL), 0);
    memcpy(hrw_weights, (double[]){0, 1, 1}, sizeof(hrw_weights)); /* a never chosen */
    assert_int_equal(proxy_lb_hrw_next("127.0.0.1", 3, NULL, hrw_key, NULL), 2);
    memcpy(hrw_weights, (double[]){1, 5, 1}, sizeof(hrw_weights));
    assert_int_equal(proxy_lb_hrw_next("127.0.0.1", 3, NULL, hrw_key, NULL), 1);
    assert_true(proxy_lb_hrw_next("127.0.0.1", 3, none, hrw_key, NULL) == PROXY_LB_NONE);
}

static char lt_seq(proxy_lb_lt_t *lt, proxy_lb_ok_fn ok)
{
    return (char)('a' + proxy_lb_lt_next(lt, ok, load_of, NULL));
}

/* Traefik's leasttime: average time to first byte x (1 + in flight) / weight, lowest
 * wins; ties (no samples yet: every score 0) by deadlines staggered as they were added
 * (1, 2, 3), the first of equal ones (sequences as Go's code gives them). */
static void test_leasttime(void **state)
{
    memset(loads, 0, sizeof(loads));
    static const struct {
        long long w[3];
        const char *want;
    } cases[] = {{{1, 1, 1}, "aababcabc"}, {{2, 1, 0}, "aaabaabaa"}, {{1, 0, 1}, "aacaca"}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        proxy_lb_lt_t lt;
        proxy_lb_lt_init(&lt, cases[c].w, 3, NULL);
        char seq[16] = "";
        for (size_t k = 0; k < strlen(cases[c].want); k++)
            seq[k] = lt_seq(&lt, NULL);
        assert_string_equal(seq, cases[c].want);
        proxy_lb_lt_free(&lt);
    }
    long long ws[] = {1, 1, 2};
    proxy_lb_lt_t lt;
    proxy_lb_lt_init(&lt, ws, 3, NULL);
    proxy_lb_lt_sample(&lt, 0, 10999999); /* 10 ms (whole ms, as Go's Milliseconds) */
    proxy_lb_lt_sample(&lt, 1, 4000000);
    proxy_lb_lt_sample(&lt, 1, 6000000);  /* b: 5 ms */
    proxy_lb_lt_sample(&lt, 2, 12000000); /* c: 12 ms over weight 2: 6 */
    assert_int_equal(lt_seq(&lt, NULL), 'b');
    loads[1] = 2; /* b: 5 x 3 = 15 */
    assert_int_equal(lt_seq(&lt, NULL), 'c');
    loads[2] = 1; /* c: 12 x 2 / 2 = 12 */
    assert_int_equal(lt_seq(&lt, NULL), 'a');
    assert_int_equal(lt_seq(&lt, not_one), 'a');
    for (int k = 0; k < PROXY_LB_TTFB_SAMPLES; k++) /* the last 100 samples count */
        proxy_lb_lt_sample(&lt, 0, 30000000);
    assert_int_equal(lt_seq(&lt, NULL), 'c');
    assert_true(proxy_lb_lt_next(&lt, none, load_of, NULL) == PROXY_LB_NONE);
    proxy_lb_lt_free(&lt);
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
        proxy_lb_wrr_init(&w, cases[c].w, cases[c].n, NULL);
        char seq[16] = "";
        for (size_t k = 0; k < strlen(cases[c].want); k++)
            seq[k] = (char)('a' + proxy_lb_wrr_next(&w, NULL, NULL));
        assert_string_equal(seq, cases[c].want);
        proxy_lb_wrr_free(&w);
    }
}

/* Candidates added in another order (Traefik shuffles them) take the turns the same
 * positions in the list would: added c, a, b, the sequence of {1, 1, 1} ("acbcbaba")
 * with a, b, c standing for c, a, b. */
static void test_wrr_order(void **state)
{
    long long ws[] = {1, 1, 1};
    size_t order[] = {2, 0, 1};
    proxy_lb_wrr_t w;
    proxy_lb_wrr_init(&w, ws, 3, order);
    char seq[16] = "";
    for (size_t k = 0; k < 8; k++)
        seq[k] = (char)('a' + proxy_lb_wrr_next(&w, NULL, NULL));
    assert_string_equal(seq, "cbabacac");
    proxy_lb_wrr_free(&w);
}

static void test_wrr_skips_unhealthy(void **state)
{
    long long ws[] = {1, 5, 1};
    proxy_lb_wrr_t w;
    proxy_lb_wrr_init(&w, ws, 3, NULL);
    for (int k = 0; k < 10; k++)
        assert_true(proxy_lb_wrr_next(&w, not_one, NULL) != 1);
    assert_true(proxy_lb_wrr_next(&w, none, NULL) == PROXY_LB_NONE);
    proxy_lb_wrr_free(&w);
    static const long long heavies[][3] = {{1, 1000, 1}, {1, 5000000, 2}, {3, 1LL << 60, 1}};
    for (size_t h = 0; h < 3; h++) { /* a heavy one down: the light ones take every turn */
        proxy_lb_wrr_t hw;
        proxy_lb_wrr_init(&hw, heavies[h], 3, NULL);
        unsigned seen[3] = {0};
        for (int k = 0; k < 400; k++) {
            size_t i = proxy_lb_wrr_next(&hw, not_one, NULL);
            assert_true(i == 0 || i == 2);
            seen[i]++;
        }
        long long a = heavies[h][0], c = heavies[h][2]; /* their shares kept */
        assert_true(seen[0] * (a + c) >= 400 * a - (a + c) &&
                    seen[0] * (a + c) <= 400 * a + (a + c));
        proxy_lb_wrr_free(&hw);
    }
    long long pair[] = {2, 3, 1}; /* few steps past it: Traefik's own order, b skipped */
    proxy_lb_wrr_init(&w, pair, 3, NULL);
    char seq[16] = "";
    for (size_t k = 0; k < 9; k++)
        seq[k] = (char)('a' + proxy_lb_wrr_next(&w, not_one, NULL));
    assert_string_equal(seq, "aacaacaac"); /* as Go's heap gives it (simulated) */
    proxy_lb_wrr_free(&w);
    proxy_lb_wrr_init(&w, ws, 0, NULL);
    assert_true(proxy_lb_wrr_next(&w, NULL, NULL) == PROXY_LB_NONE);
    proxy_lb_wrr_free(&w);
    long long zeros[] = {0, -1};
    proxy_lb_wrr_init(&w, zeros, 2, NULL); /* nothing of positive weight: nothing to choose */
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
        cmocka_unit_test(test_p2c),
        cmocka_unit_test(test_hrw),
        cmocka_unit_test(test_leasttime),
        cmocka_unit_test(test_wrr_sequences),
        cmocka_unit_test(test_wrr_order),
        cmocka_unit_test(test_wrr_skips_unhealthy),
        cmocka_unit_test(test_cookie_name_and_value),
        cmocka_unit_test(test_cookie_find),
        cmocka_unit_test(test_set_cookie_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
