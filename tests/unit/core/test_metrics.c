/* hc_metrics: exact exposition text, escaping, histogram buckets, lock-free updates
 * from two threads, callbacks, limits and the process_* families. */
#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *render(hc_metrics_t *r)
{
    static char text[8192];
    hc_buf_t b;
    hc_buf_init(&b, 0);
    assert_int_equal(hc_metrics_render(r, &b), 0);
    assert_true(b.len < sizeof(text));
    memcpy(text, b.base ? b.base : "", b.len + 1);
    hc_buf_free(&b);
    return text;
}

static void test_counter_and_gauge_exact_text(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    hc_metric_t *reqs = hc_metrics_counter(r, "http_requests_total", "Requests served.",
                                           (const char *[]){"code", "method", NULL});
    hc_metric_t *up = hc_metrics_gauge(r, "app_up", "Whether the app is up.", NULL);
    hc_series_t *ok = hc_metrics_series(reqs, (const char *[]){"200", "GET"});
    hc_series_t *nf = hc_metrics_series(reqs, (const char *[]){"404", "GET"});
    assert_ptr_equal(hc_metrics_series(reqs, (const char *[]){"200", "GET"}), ok);
    hc_metrics_counter_inc(ok);
    hc_metrics_counter_add(ok, 41);
    hc_metrics_counter_inc(nf);
    hc_metrics_gauge_set(hc_metrics_series(up, NULL), 1);
    assert_string_equal(render(r), "# HELP app_up Whether the app is up.\n"
                                   "# TYPE app_up gauge\n"
                                   "app_up 1\n"
                                   "# HELP http_requests_total Requests served.\n"
                                   "# TYPE http_requests_total counter\n"
                                   "http_requests_total{code=\"200\",method=\"GET\"} 42\n"
                                   "http_requests_total{code=\"404\",method=\"GET\"} 1\n");
    hc_metrics_free(r);
}

static void test_families_sorted_children_in_creation_order(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    hc_metric_t *z = hc_metrics_counter(r, "zeta_total", "z", (const char *[]){"k", NULL});
    hc_metrics_counter(r, "alpha_total", "a", NULL);
    hc_metrics_counter(r, "mid_total", "m", (const char *[]){"k", NULL}); /* no series */
    hc_metrics_series(z, (const char *[]){"b"});
    hc_metrics_series(z, (const char *[]){"a"});
    assert_string_equal(render(r), "# HELP alpha_total a\n# TYPE alpha_total counter\n"
                                   "alpha_total 0\n"
                                   "# HELP zeta_total z\n# TYPE zeta_total counter\n"
                                   "zeta_total{k=\"b\"} 0\nzeta_total{k=\"a\"} 0\n");
    hc_metrics_free(r);
}

static void test_escaping(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    hc_metric_t *m = hc_metrics_gauge(r, "esc", "back\\slash \"quoted\"\nnext line",
                                      (const char *[]){"path", NULL});
    hc_metrics_series(m, (const char *[]){"a\\b\"c\nd"});
    hc_metrics_series(m, (const char *[]){" \xac caf\xc3\xa9"}); /* a raw UCS-2 CN, then UTF-8 */
    assert_string_equal(render(r), "# HELP esc back\\\\slash \"quoted\"\\nnext line\n"
                                   "# TYPE esc gauge\n"
                                   "esc{path=\"a\\\\b\\\"c\\nd\"} 0\n"
                                   "esc{path=\" \xef\xbf\xbd caf\xc3\xa9\"} 0\n");
    hc_metrics_free(r);
}

static void test_histogram_buckets_cumulative(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    const double bounds[] = {1, 2.5, 5, INFINITY};
    hc_metric_t *h = hc_metrics_histogram(r, "latency_seconds", "Latency.",
                                          (const char *[]){"route", NULL}, bounds, 4);
    hc_series_t *s = hc_metrics_series(h, (const char *[]){"api"});
    const double obs[] = {0.5, 1, 3, 10};
    for (size_t i = 0; i < 4; i++)
        hc_metrics_histogram_observe(s, obs[i]);
    assert_string_equal(render(r), "# HELP latency_seconds Latency.\n"
                                   "# TYPE latency_seconds histogram\n"
                                   "latency_seconds_bucket{route=\"api\",le=\"1\"} 2\n"
                                   "latency_seconds_bucket{route=\"api\",le=\"2.5\"} 2\n"
                                   "latency_seconds_bucket{route=\"api\",le=\"5\"} 3\n"
                                   "latency_seconds_bucket{route=\"api\",le=\"+Inf\"} 4\n"
                                   "latency_seconds_sum{route=\"api\"} 14.5\n"
                                   "latency_seconds_count{route=\"api\"} 4\n");
    assert_true(hc_metrics_series_value(s) == 4);
    hc_metrics_free(r);
}

static void test_histogram_default_buckets_no_labels(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    hc_metric_t *h = hc_metrics_histogram(r, "d", "h", NULL, NULL, 0);
    hc_metrics_histogram_observe(hc_metrics_series(h, NULL), 0.003);
    hc_metrics_histogram_observe(hc_metrics_series(h, NULL), 0.2);
    const char *t = render(r);
    static const char *const want[] = {
        "d_bucket{le=\"0.005\"} 1\n",
        "d_bucket{le=\"0.01\"} 1\n",
        "d_bucket{le=\"0.025\"} 1\n",
        "d_bucket{le=\"0.05\"} 1\n",
        "d_bucket{le=\"0.1\"} 1\n",
        "d_bucket{le=\"0.25\"} 2\n",
        "d_bucket{le=\"0.5\"} 2\n",
        "d_bucket{le=\"1\"} 2\n",
        "d_bucket{le=\"2.5\"} 2\n",
        "d_bucket{le=\"5\"} 2\n",
        "d_bucket{le=\"10\"} 2\n",
        "d_bucket{le=\"+Inf\"} 2\n",
        "d_sum 0.203\n",
        "d_count 2\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *at = strstr(t, want[i]);
        assert_non_null(at);
        t = at + strlen(want[i]);
    }
    assert_string_equal(t, "");
    hc_metrics_free(r);
}

static void test_value_formatting(void **state)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0, "v 0\n"},           {-2.5, "v -2.5\n"},           {0.1, "v 0.1\n"},
        {1e20, "v 1e+20\n"},    {123456789, "v 123456789\n"}, {1.0 / 3, "v 0.3333333333333333\n"},
        {INFINITY, "v +Inf\n"}, {-INFINITY, "v -Inf\n"},      {NAN, "v NaN\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hc_metrics_t *r = hc_metrics_new(0);
        hc_metrics_gauge_set(hc_metrics_series(hc_metrics_gauge(r, "v", "", NULL), NULL),
                             cases[i].v);
        const char *t = strstr(render(r), "\nv ");
        assert_non_null(t);
        assert_string_equal(t + 1, cases[i].text);
        hc_metrics_free(r);
    }
}

static void test_gauge_set_add_sub(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    hc_series_t *g = hc_metrics_series(hc_metrics_gauge(r, "conns", "", NULL), NULL);
    hc_metrics_gauge_set(g, 2);
    hc_metrics_gauge_add(g, 5);
    hc_metrics_gauge_sub(g, 1.5);
    assert_true(hc_metrics_series_value(g) == 5.5);
    hc_metrics_gauge_sub(g, 10);
    assert_true(hc_metrics_series_value(g) == -4.5);
    assert_non_null(strstr(render(r), "\nconns -4.5\n"));
    hc_metrics_free(r);
}

static double read_double(void *arg)
{
    return *(double *)arg;
}

static void test_callback_evaluated_at_render(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    hc_series_t *g = hc_metrics_series(hc_metrics_gauge(r, "open", "", NULL), NULL);
    hc_metrics_gauge_set(g, 99);
    double open = 17;
    assert_int_equal(hc_metrics_series_set_fn(g, read_double, &open), 0);
    assert_non_null(strstr(render(r), "\nopen 17\n"));
    open = 3;
    assert_non_null(strstr(render(r), "\nopen 3\n"));
    assert_int_equal(hc_metrics_series_set_fn(g, NULL, NULL), 0);
    assert_non_null(strstr(render(r), "\nopen 99\n"));
    hc_metric_t *h = hc_metrics_histogram(r, "h", "", NULL, NULL, 0);
    assert_int_equal(hc_metrics_series_set_fn(hc_metrics_series(h, NULL), read_double, &open),
                     -EINVAL);
    hc_metrics_free(r);
}

static void test_registration_rules(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    const char *const kl[] = {"k", NULL};
    hc_metric_t *c = hc_metrics_counter(r, "c_total", "c", kl);
    assert_non_null(c);
    assert_ptr_equal(hc_metrics_counter(r, "c_total", "other help", kl), c);
    assert_null(hc_metrics_gauge(r, "c_total", "c", kl));
    assert_null(hc_metrics_counter(r, "c_total", "c", NULL));
    assert_null(hc_metrics_counter(r, "c_total", "c", (const char *[]){"j", NULL}));
    static const char *const bad_names[] = {"", "1abc", "a-b", "a b", "é"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
        assert_null(hc_metrics_counter(r, bad_names[i], "", NULL));
    assert_non_null(hc_metrics_counter(r, "ns:sub_total", "", NULL));
    assert_null(hc_metrics_counter(r, "x", "", (const char *[]){"a:b", NULL}));
    assert_null(hc_metrics_counter(r, "x", "", (const char *[]){"__x", NULL}));
    assert_null(hc_metrics_counter(r, "x", "", (const char *[]){"a", "a", NULL}));
    assert_null(hc_metrics_histogram(r, "x", "", (const char *[]){"le", NULL}, NULL, 0));
    assert_null(hc_metrics_histogram(r, "x", "", NULL, (const double[]){2, 1}, 2));
    assert_null(hc_metrics_histogram(r, "x", "", NULL, (const double[]){1, NAN}, 2));
    const char *nine[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", NULL};
    assert_null(hc_metrics_counter(r, "x", "", nine));
    nine[8] = NULL;
    assert_non_null(hc_metrics_counter(r, "x", "", nine));
    /* NULL flows through without effect. */
    assert_null(hc_metrics_series(NULL, NULL));
    assert_null(hc_metrics_series(c, (const char *[]){NULL}));
    hc_metrics_counter_inc(NULL);
    hc_metrics_gauge_set(NULL, 1);
    hc_metrics_histogram_observe(NULL, 1);
    /* Updates of the wrong type are ignored. */
    hc_series_t *cs = hc_metrics_series(c, (const char *[]){"v"});
    hc_metrics_gauge_set(cs, 5);
    hc_metrics_histogram_observe(cs, 5);
    assert_true(hc_metrics_series_value(cs) == 0);
    hc_metrics_free(r);
}

static void test_series_limit(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    hc_metric_t *m = hc_metrics_counter(r, "many_total", "", (const char *[]){"id", NULL});
    char v[16];
    for (int i = 0; i < HC_METRICS_MAX_SERIES; i++) {
        snprintf(v, sizeof(v), "%d", i);
        assert_non_null(hc_metrics_series(m, (const char *[]){v}));
    }
    assert_null(hc_metrics_series(m, (const char *[]){"new"}));
    assert_non_null(hc_metrics_series(m, (const char *[]){"7"}));
    char *longv = calloc(1, HC_METRICS_MAX_VALUE_LEN + 2);
    memset(longv, 'x', HC_METRICS_MAX_VALUE_LEN + 1);
    hc_metric_t *g = hc_metrics_gauge(r, "g", "", (const char *[]){"v", NULL});
    assert_null(hc_metrics_series(g, (const char *[]){longv}));
    longv[HC_METRICS_MAX_VALUE_LEN] = '\0';
    assert_non_null(hc_metrics_series(g, (const char *[]){longv}));
    free(longv);
    hc_metrics_free(r);
}

/* Series the configuration dropped go (a removed server's up gauge), and their room is
 * free again for new ones. */
static int keep_even(void *ud, const char *const *values)
{
    (void)ud;
    return atoi(values[0]) % 2 == 0;
}

static void test_retain(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    hc_metric_t *m = hc_metrics_gauge(r, "up", "", (const char *[]){"id", NULL});
    char v[16];
    for (int i = 0; i < HC_METRICS_MAX_SERIES; i++) {
        snprintf(v, sizeof(v), "%d", i);
        hc_metrics_gauge_set(hc_metrics_series(m, (const char *[]){v}), i);
    }
    assert_null(hc_metrics_series(m, (const char *[]){"new"})); /* full */
    hc_metrics_retain(m, keep_even, NULL);
    assert_non_null(hc_metrics_series(m, (const char *[]){"new"}));
    hc_metrics_retain(m, keep_even, NULL); /* "new" is 0: kept; the tail moved */
    hc_metrics_gauge_set(hc_metrics_series(m, (const char *[]){"10001"}), 1);
    char *text = NULL;
    hc_buf_t b;
    hc_buf_init(&b, 0);
    assert_int_equal(hc_metrics_render(r, &b), 0);
    text = b.base;
    assert_non_null(strstr(text, "up{id=\"9998\"} 9998\n"));
    assert_null(strstr(text, "up{id=\"9999\"}"));
    assert_null(strstr(text, "up{id=\"1\"}"));
    assert_non_null(strstr(text, "up{id=\"new\"} 0\nup{id=\"10001\"} 1\n"));
    hc_buf_free(&b);
    hc_metrics_free(r);
}

static void test_render_respects_buffer_max(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    hc_metrics_counter(r, "a_long_metric_name_total", "some help text", NULL);
    hc_buf_t b;
    hc_buf_init(&b, 32);
    assert_int_equal(hc_metrics_render(r, &b), -ENOBUFS);
    assert_true(b.len <= 32);
    hc_buf_free(&b);
    hc_metrics_free(r);
}

struct worker {
    hc_series_t *counter, *gauge, *hist;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 1000000; i++) {
        hc_metrics_counter_inc(w->counter);
        if (i % 10 == 0) {
            hc_metrics_gauge_add(w->gauge, 1);
            hc_metrics_histogram_observe(w->hist, 0.5);
        }
    }
    return NULL;
}

static void test_two_threads_exact_totals(void **state)
{
    hc_metrics_t *r = hc_metrics_new(0);
    hc_metric_t *c = hc_metrics_counter(r, "hits_total", "", (const char *[]){"w", NULL});
    struct worker w = {
        .counter = hc_metrics_series(c, (const char *[]){"shared"}),
        .gauge = hc_metrics_series(hc_metrics_gauge(r, "g", "", NULL), NULL),
        .hist = hc_metrics_series(hc_metrics_histogram(r, "h", "", NULL, NULL, 0), NULL),
    };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &w), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_true(hc_metrics_series_value(w.counter) == 2000000);
    assert_true(hc_metrics_series_value(w.gauge) == 200000);
    assert_true(hc_metrics_series_value(w.hist) == 200000);
    const char *t2 = render(r);
    assert_non_null(strstr(t2, "hits_total{w=\"shared\"} 2000000\n"));
    assert_non_null(strstr(t2, "\nh_sum 100000\n"));
    assert_non_null(strstr(t2, "\nh_bucket{le=\"0.5\"} 200000\n"));
    hc_metrics_free(r);
}

static double field(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    assert_non_null(p);
    return strtod(p + strlen(name), NULL);
}

static void test_default_registry_has_process_metrics(void **state)
{
    hc_metrics_t *r = hc_metrics_default();
    assert_ptr_equal(hc_metrics_default(), r);
    const char *t = render(r);
    assert_non_null(strstr(t, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(t, "# TYPE process_open_fds gauge\n"));
    assert_true(field(t, "\nprocess_resident_memory_bytes ") > 1024 * 1024);
    assert_true(field(t, "\nprocess_open_fds ") >= 3);
    assert_true(field(t, "\nprocess_cpu_seconds_total ") >= 0);
    double start = field(t, "\nprocess_start_time_seconds ");
    double now = (double)time(NULL);
    assert_true(start > now - 3600 && start <= now + 1);
    /* Sorted by name: cpu, open_fds, resident_memory, start_time. */
    assert_true(strstr(t, "process_cpu") < strstr(t, "process_open_fds"));
    assert_true(strstr(t, "process_open_fds") < strstr(t, "process_resident"));
    assert_true(strstr(t, "process_resident") < strstr(t, "process_start"));
    hc_metrics_default_free();
}

int main(void)
{
    hc_log_setup(HC_LOG_ERROR, HC_LOG_FORMAT_JSON);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge_exact_text),
        cmocka_unit_test(test_families_sorted_children_in_creation_order),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histogram_buckets_cumulative),
        cmocka_unit_test(test_histogram_default_buckets_no_labels),
        cmocka_unit_test(test_value_formatting),
        cmocka_unit_test(test_gauge_set_add_sub),
        cmocka_unit_test(test_callback_evaluated_at_render),
        cmocka_unit_test(test_registration_rules),
        cmocka_unit_test(test_series_limit),
        cmocka_unit_test(test_retain),
        cmocka_unit_test(test_render_respects_buffer_max),
        cmocka_unit_test(test_two_threads_exact_totals),
        cmocka_unit_test(test_default_registry_has_process_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
