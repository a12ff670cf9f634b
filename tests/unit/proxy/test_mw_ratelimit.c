/* rateLimit: defaults and the CRD integer period, delay vs reject thresholds with
 * Retry-After / X-Retry-In, sources, bucket cap and TTL, Go durations, and exact token
 * accounting with two threads on one bucket. */
#include "core/hc_alloc.h"
#include "proxy/mw_ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MS 1000000ull
#define SEC 1000000000ull

static void *parse_ok(const char *spec_json)
{
    char err[256] = "";
    void *cfg = NULL;
    json_t *spec = json_loads(spec_json, 0, NULL);
    assert_non_null(spec);
    int rc = proxy_mw_ratelimit_parse(spec, "default-rate-limit@kubernetescrd", &cfg, err,
                                      sizeof(err));
    if (rc != 0)
        fail_msg("parse %s: %s", spec_json, err);
    json_decref(spec);
    return cfg;
}

/* One request from peer at now; returns 0 (allowed, *delay_ms set) or the status. */
static int hit(void *cfg, const char *peer, uint64_t now, uint32_t *delay_ms,
               char retry_after[16], char retry_in[32])
{
    char ra_scratch[16], ri_scratch[32];
    retry_after = retry_after ? retry_after : ra_scratch;
    retry_in = retry_in ? retry_in : ri_scratch;
    proxy_mw_req_t req;
    proxy_mw_resp_t resp;
    proxy_mw_req_init(&req, "GET", 0, "h.test", "/", peer, now);
    proxy_mw_resp_init(&resp);
    int status = proxy_mw_ratelimit_request(cfg, &req, &resp) == PROXY_MW_NEXT ? 0 : resp.status;
    if (delay_ms)
        *delay_ms = req.delay_ms;
    if (status == 429) {
        snprintf(retry_after, 16, "%s", proxy_mw_headers_get(&resp.headers, "Retry-After"));
        snprintf(retry_in, 32, "%s", proxy_mw_headers_get(&resp.headers, "X-Retry-In"));
        assert_string_equal(resp.body.base, "Too Many Requests");
    }
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&req);
    return status;
}

static void test_delay_then_reject(void **state)
{
    /* 10/s, burst 1: max delay 1s/(2*10) = 50 ms. */
    void *cfg = parse_ok("{\"average\":10,\"burst\":1}");
    char ra[16] = "", ri[32] = "";
    uint32_t d;
    assert_int_equal(hit(cfg, "192.0.2.1", 1 * SEC, &d, ra, ri), 0);
    assert_int_equal(d, 0);
    assert_int_equal(hit(cfg, "192.0.2.1", 1 * SEC, &d, ra, ri), 429);
    assert_string_equal(ra, "1");
    assert_string_equal(ri, "100ms");
    /* 60 ms later 0.6 tokens are back: the next one is due in 40 ms, within 50 ms. */
    assert_int_equal(hit(cfg, "192.0.2.1", 1 * SEC + 60 * MS, &d, ra, ri), 0);
    assert_int_equal(d, 40);
    /* That token is reserved: the next waits 140 ms. */
    assert_int_equal(hit(cfg, "192.0.2.1", 1 * SEC + 60 * MS, &d, ra, ri), 429);
    assert_string_equal(ri, "140ms");
    /* Another source has its own bucket. */
    assert_int_equal(hit(cfg, "192.0.2.2", 1 * SEC, &d, ra, ri), 0);
    assert_int_equal(proxy_mw_ratelimit_count(cfg), 2);
    proxy_mw_ratelimit_free(cfg);
}

static void test_seed_limits_and_slow_rate(void **state)
{
    /* The seed: average 100 per 1m, burst 50 -> 1.67/s; max delay 1s/(2*int(1.67)). */
    void *cfg = parse_ok("{\"average\":100,\"burst\":50,\"period\":\"1m\"}");
    char ra[16], ri[32];
    uint32_t d;
    for (int i = 0; i < 50; i++)
        assert_int_equal(hit(cfg, "198.51.100.9", SEC, &d, ra, ri), 0);
    assert_int_equal(hit(cfg, "198.51.100.9", SEC, &d, ra, ri), 429);
    assert_string_equal(ri, "600ms");
    assert_string_equal(ra, "1");
    /* 200 ms later the next token is due in 400 ms <= 500 ms: delayed, not rejected. */
    assert_int_equal(hit(cfg, "198.51.100.9", SEC + 200 * MS, &d, ra, ri), 0);
    assert_int_equal(d, 400);
    proxy_mw_ratelimit_free(cfg);

    /* CRD integer period = seconds: 1 per 10 s is rate 0.1 (max delay 500 ms). */
    cfg = parse_ok("{\"average\":1,\"period\":10}");
    assert_int_equal(hit(cfg, "198.51.100.9", SEC, &d, ra, ri), 0);
    assert_int_equal(hit(cfg, "198.51.100.9", SEC, &d, ra, ri), 429);
    assert_string_equal(ra, "10");
    assert_string_equal(ri, "10s");
    assert_int_equal(hit(cfg, "198.51.100.9", 10 * SEC + 600 * MS, &d, ra, ri), 0);
    assert_int_equal(d, 400);
    /* TTL 1 + 1/0.1 = 11 s: after it the bucket starts full again. */
    assert_int_equal(hit(cfg, "198.51.100.9", 22 * SEC, &d, ra, ri), 0);
    assert_int_equal(d, 0);
    proxy_mw_ratelimit_free(cfg);
}

static void test_unlimited_and_defaults(void **state)
{
    void *cfg = parse_ok("{}");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(hit(cfg, "192.0.2.1", SEC, NULL, NULL, NULL), 0);
    assert_int_equal(proxy_mw_ratelimit_count(cfg), 0);
    proxy_mw_ratelimit_free(cfg);
    /* burst 0 means 1 */
    cfg = parse_ok("{\"average\":1,\"burst\":0,\"period\":\"1s\"}");
    char ra[16], ri[32];
    assert_int_equal(hit(cfg, "192.0.2.1", SEC, NULL, ra, ri), 0);
    assert_int_equal(hit(cfg, "192.0.2.1", SEC, NULL, ra, ri), 429);
    assert_string_equal(ri, "1s");
    proxy_mw_ratelimit_free(cfg);
}

static void test_sources(void **state)
{
    char err[256];
    void *cfg = parse_ok("{\"average\":1,\"sourceCriterion\":{\"requestHeaderName\":\"X-Key\"}}");
    proxy_mw_req_t req;
    proxy_mw_resp_t resp;
    proxy_mw_req_init(&req, "GET", 0, "h", "/", "192.0.2.1", SEC);
    proxy_mw_resp_init(&resp);
    /* without the field: the "" source, one bucket for all such requests (oxy's) */
    assert_int_equal(proxy_mw_ratelimit_request(cfg, &req, &resp), PROXY_MW_NEXT);
    assert_int_equal(proxy_mw_ratelimit_request(cfg, &req, &resp), PROXY_MW_RESPOND);
    assert_int_equal(resp.status, 429);
    proxy_mw_resp_free(&resp);
    proxy_mw_resp_init(&resp);
    proxy_mw_headers_add(&req.headers, "x-key", "alice");
    assert_int_equal(proxy_mw_ratelimit_request(cfg, &req, &resp), PROXY_MW_NEXT);
    assert_int_equal(proxy_mw_ratelimit_request(cfg, &req, &resp), PROXY_MW_RESPOND);
    assert_int_equal(resp.status, 429);
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&req);
    proxy_mw_ratelimit_free(cfg);

    /* depth 1: the right-most X-Forwarded-For entry is the key; too few gives "". */
    cfg = parse_ok("{\"average\":1,\"sourceCriterion\":{\"ipStrategy\":{\"depth\":1}}}");
    proxy_mw_req_init(&req, "GET", 0, "h", "/", "10.0.0.1", SEC);
    proxy_mw_headers_add(&req.headers, "X-Forwarded-For", "1.1.1.1, 2.2.2.2");
    proxy_mw_resp_init(&resp);
    assert_int_equal(proxy_mw_ratelimit_request(cfg, &req, &resp), PROXY_MW_NEXT);
    proxy_mw_headers_set(&req.headers, "X-Forwarded-For", "3.3.3.3, 2.2.2.2");
    assert_int_equal(proxy_mw_ratelimit_request(cfg, &req, &resp), PROXY_MW_RESPOND);
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&req);
    proxy_mw_ratelimit_free(cfg);

    json_t *bad = json_loads("{\"average\":1,\"sourceCriterion\":{\"requestHost\":true,"
                             "\"requestHeaderName\":\"X\"}}",
                             0, NULL);
    void *none = NULL;
    assert_int_equal(proxy_mw_ratelimit_parse(bad, "x", &none, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "mutually exclusive"));
    json_decref(bad);
    bad = json_loads("{\"average\":1,\"period\":\"-1s\"}", 0, NULL);
    assert_int_equal(proxy_mw_ratelimit_parse(bad, "x", &none, err, sizeof(err)), -EINVAL);
    json_decref(bad);
    assert_null(none);
}

static void test_bucket_cap(void **state)
{
    void *cfg = parse_ok("{\"average\":1}");
    char ip[32];
    for (unsigned i = 0; i < 70000; i++) {
        snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        assert_int_equal(hit(cfg, ip, SEC + i, NULL, NULL, NULL), 0);
    }
    assert_true(proxy_mw_ratelimit_count(cfg) <= PROXY_MW_RATELIMIT_MAX_BUCKETS);
    assert_true(proxy_mw_ratelimit_count(cfg) > PROXY_MW_RATELIMIT_MAX_BUCKETS / 2);
    proxy_mw_ratelimit_free(cfg);
}

static void test_go_durations(void **state)
{
    static const struct {
        uint64_t ns;
        const char *text;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {1500, "1.5\xc2\xb5s"},
        {100 * MS, "100ms"},
        {1234567, "1.234567ms"},
        {SEC, "1s"},
        {1500 * MS, "1.5s"},
        {60 * SEC, "1m0s"},
        {3600 * SEC, "1h0m0s"},
        {2 * 3600 * SEC + 3 * 60 * SEC + 4500 * MS, "2h3m4.5s"},
    };
    char out[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_mw_go_duration_format(cases[i].ns, out);
        assert_string_equal(out, cases[i].text);
        uint64_t back = 0;
        assert_int_equal(proxy_mw_go_duration_parse(cases[i].text, &back), 0);
        assert_int_equal(back, cases[i].ns);
    }
    uint64_t ns;
    assert_int_equal(proxy_mw_go_duration_parse("1h30m", &ns), 0);
    assert_int_equal(ns, 5400 * SEC);
    assert_int_equal(proxy_mw_go_duration_parse("10", &ns), 0);
    assert_int_equal(ns, 10 * SEC);
    assert_int_equal(proxy_mw_go_duration_parse("250us", &ns), 0);
    assert_int_equal(ns, 250000);
    const char *bad[] = {"", "1x", "m", "-1s", "1.5", "s1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(proxy_mw_go_duration_parse(bad[i], &ns), -EINVAL);
}

typedef struct worker {
    void *cfg;
    const char *peer;
    int allowed;
    int bad;
} worker_t;

static void *worker_run(void *arg)
{
    worker_t *w = arg;
    /* cmocka's allocator is not thread-safe: the view is built without hc_* memory and
     * proxy_mw_ratelimit_take does not allocate once the bucket exists. */
    proxy_mw_req_t req;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.scheme = "http";
    req.host = "h";
    req.path = "/";
    req.peer_ip = (char *)w->peer;
    req.now_ns = SEC;
    for (int i = 0; i < 5000; i++) {
        uint64_t wait;
        int rc = proxy_mw_ratelimit_take(w->cfg, &req, &wait);
        if (rc == 0)
            w->allowed++;
        else if (rc != -EAGAIN || wait != 3600 * SEC)
            w->bad++;
    }
    return NULL;
}

static void test_two_threads_exact_tokens(void **state)
{
    /* 1 per hour, burst 1000: at a fixed instant exactly 1000 requests pass in total. */
    void *cfg = parse_ok("{\"average\":1,\"period\":\"1h\",\"burst\":1000}");
    /* Create the bucket first: the buckets themselves are hc_* (cmocka) memory. */
    assert_int_equal(hit(cfg, "203.0.113.5", SEC, NULL, NULL, NULL), 0);
    worker_t w[2] = {{cfg, "203.0.113.5", 0, 0}, {cfg, "203.0.113.5", 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(w[0].allowed + w[1].allowed, 999);
    assert_int_equal(w[0].bad + w[1].bad, 0);
    assert_int_equal(hit(cfg, "203.0.113.5", SEC, NULL, NULL, NULL), 429);
    proxy_mw_ratelimit_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_then_reject),
        cmocka_unit_test(test_seed_limits_and_slow_rate),
        cmocka_unit_test(test_unlimited_and_defaults),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_bucket_cap),
        cmocka_unit_test(test_go_durations),
        cmocka_unit_test(test_two_threads_exact_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
