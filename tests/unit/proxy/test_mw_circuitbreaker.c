/* circuitBreaker: the expression language and its errors, each of the three figures
 * tripping a breaker, the 10-second window, && binding tighter than ||, the fallback
 * and recovery durations, oxy's linear ramp while recovering, and a trip again while
 * recovering. Times are given, so nothing here waits. */
#include "core/hc_alloc.h"
#include "core/hc_http_status.h"
#include "json_fixture.h"
#include "proxy/mw_circuitbreaker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MS 1000000ull
#define T0 (100000 * MS) /* an arbitrary monotonic start: 100 s */

static void *parse_ok(const char *spec)
{
    char err[256] = "";
    void *cfg = NULL;
    json_t *j = J(spec);
    if (proxy_mw_cb_parse(j, "cb@file", &cfg, err, sizeof(err)) != 0)
        fail_msg("parse %s: %s", spec, err);
    json_decref(j);
    return cfg;
}

static void parse_bad(const char *spec, const char *want)
{
    char err[256] = "";
    void *cfg = NULL;
    json_t *j = J(spec);
    assert_int_equal(proxy_mw_cb_parse(j, "cb@file", &cfg, err, sizeof(err)), -EINVAL);
    assert_null(cfg);
    if (!strstr(err, want))
        fail_msg("%s: error \"%s\" does not say \"%s\"", spec, err, want);
    json_decref(j);
}

static void test_specs(void **state)
{
    (void)state;
    void *cfg = parse_ok("{'expression':'NetworkErrorRatio() > 0.5'}");
    assert_int_equal(proxy_mw_cb_response_code(cfg), 503);
    proxy_mw_cb_free(cfg);
    cfg = parse_ok("{'expression':' ( LatencyAtQuantileMS(50.0)>100 || NetworkErrorRatio()>=.3 )"
                   " && ResponseCodeRatio(500, 600, 0, 600) != 0', 'responseCode': 429,"
                   " 'checkPeriod': '1s', 'fallbackDuration': 30, 'recoveryDuration': '1m'}");
    assert_int_equal(proxy_mw_cb_response_code(cfg), 429);
    proxy_mw_cb_free(cfg);

    parse_bad("{}", "expression is required");
    parse_bad("{'expression':''}", "expression is required");
    parse_bad("{'expression':'Latency() > 1'}", "unknown function");
    parse_bad("{'expression':'NetworkErrorRatio() > 0.5 &&'}", "a function was expected");
    parse_bad("{'expression':'NetworkErrorRatio() => 0.5'}", "a comparison");
    parse_bad("{'expression':'NetworkErrorRatio() > x'}", "a number was expected");
    parse_bad("{'expression':'NetworkErrorRatio(1) > 0.5'}", "')' was expected");
    parse_bad("{'expression':'ResponseCodeRatio(500, 600, 0) > 0.5'}", "',' was expected");
    parse_bad("{'expression':'ResponseCodeRatio(500.5, 600, 0, 600) > 0.5'}", "integer status");
    parse_bad("{'expression':'LatencyAtQuantileMS(150) > 5'}", "percentile from 0 to 100");
    parse_bad("{'expression':'NetworkErrorRatio() > 0.5 NetworkErrorRatio() > 0.5'}",
              "unexpected text at offset 26");
    parse_bad("{'expression':'(NetworkErrorRatio() > 0.5'}", "')' was expected");
    parse_bad("{'expression':'NetworkErrorRatio() > 1.5e'}", "malformed number");
    parse_bad("{'expression':'NetworkErrorRatio() > 0x10'}", "malformed number");
    parse_bad("{'expression':'NetworkErrorRatio() < 1e999'}", "out of range");
    parse_bad("{'expression':'ResponseCodeRatio(1e10, 600, 0, 600) > 0.5'}", "integer status");
    parse_bad("{'expression':'NetworkErrorRatio() > 0.5','responseCode':99}", "200 to 599");
    parse_bad("{'expression':'NetworkErrorRatio() > 0.5','checkPeriod':'soon'}", "checkPeriod");

    char deep[256] = "{'expression':'";
    for (int i = 0; i < 20; i++)
        strcat(deep, "(");
    strcat(deep, "NetworkErrorRatio() > 1'}");
    parse_bad(deep, "too deeply nested");
    char many[2048] = "{'expression':'NetworkErrorRatio()>1";
    for (int i = 0; i < 40; i++) /* 81 terms in 900 bytes */
        strcat(many, "||NetworkErrorRatio()>1");
    strcat(many, "'}");
    parse_bad(many, "too many terms");
}

/* A breaker with its own copy of spec; free with done(). */
static proxy_mw_cb_t *breaker(const char *spec, void **cfg)
{
    *cfg = parse_ok(spec);
    return proxy_mw_cb_new(*cfg, "r@file");
}

static void done(proxy_mw_cb_t *cb, void *cfg)
{
    proxy_mw_cb_destroy(cb);
    proxy_mw_cb_free(cfg);
}

static void test_network_errors_trip_and_recover(void **state)
{
    (void)state;
    void *cfg;
    proxy_mw_cb_t *cb = breaker("{'expression':'NetworkErrorRatio() > 0.5'}", &cfg);
    assert_int_equal(proxy_mw_cb_allow(cb, T0), 1);
    proxy_mw_cb_record(cb, 200, MS, T0); /* checked at once: 0 */
    proxy_mw_cb_record(cb, 502, MS, T0 + 10 * MS);
    proxy_mw_cb_record(cb, 504, MS, T0 + 20 * MS); /* 2/3, but not yet checkPeriod later */
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_STANDBY);
    proxy_mw_cb_record(cb, 200, MS, T0 + 100 * MS); /* 2/4: not over 0.5 */
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_STANDBY);
    proxy_mw_cb_record(cb, 502, MS, T0 + 200 * MS); /* 3/5 */
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_TRIPPED);

    /* fallbackDuration (10 s): every request gets the fallback */
    for (uint64_t t = T0 + 201 * MS; t < T0 + 10200 * MS; t += 500 * MS)
        assert_int_equal(proxy_mw_cb_allow(cb, t), 0);
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_TRIPPED);

    /* recovering over 10 s: the share let through grows towards half */
    uint64_t start = T0 + 10200 * MS;
    int first = 0, second = 0;
    for (uint64_t t = start; t < start + 10000 * MS; t += 10 * MS) {
        int ok = proxy_mw_cb_allow(cb, t);
        if (t < start + 5000 * MS)
            first += ok;
        else
            second += ok;
    }
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_RECOVERING);
    /* oxy's target: allowed/(allowed+denied) < 0.5 * elapsed/duration, so a quarter
     * of the first 500 requests pass, half of all 1,000 */
    assert_in_range(first, 110, 130);
    assert_in_range(first + second, 490, 500);
    assert_int_equal(proxy_mw_cb_allow(cb, start + 10001 * MS), 1);
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_STANDBY);
    done(cb, cfg);
}

static void test_trips_again_while_recovering(void **state)
{
    (void)state;
    void *cfg;
    proxy_mw_cb_t *cb = breaker("{'expression':'NetworkErrorRatio() > 0.5', 'fallbackDuration':"
                                "'1s', 'recoveryDuration':'2s'}",
                                &cfg);
    proxy_mw_cb_record(cb, 502, MS, T0);
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_TRIPPED);
    assert_int_equal(proxy_mw_cb_allow(cb, T0 + 999 * MS), 0);
    uint64_t t = T0 + 1001 * MS;
    while (!proxy_mw_cb_allow(cb, t)) /* the ramp lets one through soon */
        t += 10 * MS;
    assert_true(t < T0 + 2000 * MS);
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_RECOVERING);
    /* the figures started again at the trip: this request's 200 alone does not trip */
    proxy_mw_cb_record(cb, 200, MS, t);
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_RECOVERING);
    proxy_mw_cb_record(cb, 502, MS, t + 100 * MS);
    proxy_mw_cb_record(cb, 502, MS, t + 200 * MS);
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_TRIPPED);
    assert_int_equal(proxy_mw_cb_allow(cb, t + 300 * MS), 0);
    done(cb, cfg);
}

static void test_response_codes_and_window(void **state)
{
    (void)state;
    const char *spec = "{'expression':'ResponseCodeRatio(500, 600, 0, 600) > 0.5',"
                       " 'checkPeriod':'1s'}";
    void *cfg1, *cfg2;
    proxy_mw_cb_t *now = breaker(spec, &cfg1), *later = breaker(spec, &cfg2);
    for (proxy_mw_cb_t *cb = now; cb; cb = cb == now ? later : NULL) {
        proxy_mw_cb_record(cb, 200, MS, T0);
        proxy_mw_cb_record(cb, 500, MS, T0 + 100 * MS);
        proxy_mw_cb_record(cb, 503, MS, T0 + 200 * MS);
        proxy_mw_cb_record(cb, 599, MS, T0 + 300 * MS);
        proxy_mw_cb_record(cb, 600, MS, T0 + 400 * MS); /* outside [0, 600) */
    }
    /* checked a second later: 3 of 4 are 5xx */
    proxy_mw_cb_record(now, 200, MS, T0 + 1000 * MS);
    assert_int_equal(proxy_mw_cb_state(now), PROXY_MW_CB_TRIPPED);
    /* checked 11 s later: the 5xx are out of the 10-second window */
    proxy_mw_cb_record(later, 200, MS, T0 + 11000 * MS);
    assert_int_equal(proxy_mw_cb_state(later), PROXY_MW_CB_STANDBY);
    done(now, cfg1);
    done(later, cfg2);
}

static void test_latency_quantile(void **state)
{
    (void)state;
    void *cfg;
    proxy_mw_cb_t *cb = breaker("{'expression':'LatencyAtQuantileMS(50.0) > 100',"
                                " 'checkPeriod':'1s'}",
                                &cfg);
    uint64_t t = T0;
    for (int i = 0; i < 10; i++, t += 10 * MS)
        proxy_mw_cb_record(cb, 200, 50 * MS, t);
    for (int i = 0; i < 9; i++, t += 10 * MS)
        proxy_mw_cb_record(cb, 200, 200 * MS, t);
    proxy_mw_cb_record(cb, 200, 200 * MS, T0 + 1000 * MS); /* median: 50 ms */
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_STANDBY);
    for (int i = 0; i < 5; i++)
        proxy_mw_cb_record(cb, 200, 200 * MS, T0 + 1500 * MS);
    proxy_mw_cb_record(cb, 200, 200 * MS, T0 + 2000 * MS); /* median: 200 ms */
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_TRIPPED);
    done(cb, cfg);

    /* latencies of the last minute count: 59 s later a slow one still does, 70 s later
     * it does not */
    const char *spec = "{'expression':'LatencyAtQuantileMS(99) >= 1000', 'checkPeriod':'1s'}";
    void *c1, *c2;
    proxy_mw_cb_t *b1 = breaker(spec, &c1), *b2 = breaker(spec, &c2);
    for (proxy_mw_cb_t *b = b1; b; b = b == b1 ? b2 : NULL) {
        proxy_mw_cb_record(b, 200, MS, T0); /* checked: fine */
        proxy_mw_cb_record(b, 200, 3000 * MS, T0 + 100 * MS);
    }
    proxy_mw_cb_record(b1, 200, MS, T0 + 59000 * MS);
    assert_int_equal(proxy_mw_cb_state(b1), PROXY_MW_CB_TRIPPED);
    proxy_mw_cb_record(b2, 200, MS, T0 + 70000 * MS);
    assert_int_equal(proxy_mw_cb_state(b2), PROXY_MW_CB_STANDBY);
    done(b1, c1);
    done(b2, c2);
}

/* oxy's HDR histogram keeps 2 significant figures: 250 ms reads as 250, 1 s as 1003 */
static void test_latency_precision(void **state)
{
    (void)state;
    static const struct {
        uint64_t ms;
        const char *expr;
        int trips;
    } cases[] = {
        {250, "LatencyAtQuantileMS(50) > 250", 0},   {250, "LatencyAtQuantileMS(50) >= 250", 1},
        {1000, "LatencyAtQuantileMS(50) > 1003", 0}, {1000, "LatencyAtQuantileMS(50) == 1003", 1},
        {4000000, "LatencyAtQuantileMS(50) > 0", 0}, /* over an hour: not counted */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char spec[160];
        snprintf(spec, sizeof(spec), "{'expression':'%s'}", cases[i].expr);
        void *cfg;
        proxy_mw_cb_t *cb = breaker(spec, &cfg);
        proxy_mw_cb_record(cb, 200, cases[i].ms * MS, T0);
        if ((proxy_mw_cb_state(cb) == PROXY_MW_CB_TRIPPED) != cases[i].trips)
            fail_msg("%s after %llu ms", cases[i].expr, (unsigned long long)cases[i].ms);
        done(cb, cfg);
    }
}

/* Durations as long as Go's go (integer seconds past 292 years are cut there) never
 * wrap the clock; a worker whose clock read came before the ramp began is not let
 * through for it. */
static void test_long_durations_and_late_clocks(void **state)
{
    (void)state;
    void *cfg;
    proxy_mw_cb_t *cb = breaker("{'expression':'NetworkErrorRatio() > 0.5',"
                                " 'fallbackDuration': 18446744000, 'checkPeriod': 18446744000}",
                                &cfg);
    proxy_mw_cb_record(cb, 502, MS, T0);
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_TRIPPED);
    assert_int_equal(proxy_mw_cb_allow(cb, T0 + 1), 0);
    assert_int_equal(proxy_mw_cb_allow(cb, T0 + 3600000 * MS), 0);
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_TRIPPED);
    done(cb, cfg);

    cb = breaker("{'expression':'NetworkErrorRatio() > 0.5', 'fallbackDuration':'1s'}", &cfg);
    proxy_mw_cb_record(cb, 502, MS, T0);
    uint64_t t = T0 + 2000 * MS;
    assert_int_equal(proxy_mw_cb_allow(cb, t), 0); /* the ramp starts at t */
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_RECOVERING);
    assert_int_equal(proxy_mw_cb_allow(cb, t - 1), 0);
    done(cb, cfg);
}

/* The fallback's body: Go's http.StatusText, "" for a code it does not know. */
static void test_fallback_texts(void **state)
{
    (void)state;
    assert_string_equal(hc_http_status_text(503), "Service Unavailable");
    assert_string_equal(hc_http_status_text(418), "I'm a teapot");
    assert_string_equal(hc_http_status_text(413), "Request Entity Too Large");
    assert_string_equal(hc_http_status_text(507), "Insufficient Storage");
    assert_string_equal(hc_http_status_text(299), "");
}

static void test_and_binds_tighter(void **state)
{
    (void)state;
    void *cfg;
    /* A || (B && C): a 500 alone makes A true; (A || B) && C would stay false */
    proxy_mw_cb_t *cb = breaker("{'expression':'ResponseCodeRatio(500, 600, 0, 600) > 0.5 ||"
                                " NetworkErrorRatio() > 0.5 && LatencyAtQuantileMS(50) > 1000'}",
                                &cfg);
    proxy_mw_cb_record(cb, 500, MS, T0);
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_TRIPPED);
    done(cb, cfg);
    /* (A || B) && C with C false */
    cb = breaker("{'expression':'(ResponseCodeRatio(500, 600, 0, 600) > 0.5 ||"
                 " NetworkErrorRatio() > 0.5) && LatencyAtQuantileMS(50) > 1000'}",
                 &cfg);
    proxy_mw_cb_record(cb, 500, MS, T0);
    assert_int_equal(proxy_mw_cb_state(cb), PROXY_MW_CB_STANDBY);
    done(cb, cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specs),
        cmocka_unit_test(test_network_errors_trip_and_recover),
        cmocka_unit_test(test_trips_again_while_recovering),
        cmocka_unit_test(test_response_codes_and_window),
        cmocka_unit_test(test_latency_quantile),
        cmocka_unit_test(test_latency_precision),
        cmocka_unit_test(test_long_durations_and_late_clocks),
        cmocka_unit_test(test_fallback_texts),
        cmocka_unit_test(test_and_binds_tighter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
