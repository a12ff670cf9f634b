/* Health pieces (src/proxy/proxy_health.c): Go durations as healthCheck reads them (the
 * middlewares' parser, mw.h), the healthCheck spec, probe URLs, the shared table's
 * reference counting and state, and passiveHealthCheck's counting. */
#include "core/hc_alloc.h"
#include "proxy/mw.h"
#include "proxy/proxy_health.h"

#include <errno.h>
#include <string.h>

static void test_durations(void **state)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t ms;
    } cases[] = {
        {"10s", 0, 10000}, {"500ms", 0, 500}, {"1m30s", 0, 90000}, {"1h", 0, 3600000},
        {"1.5s", 0, 1500}, {"30", 0, 30000},  {"0", 0, 0},         {"", -EINVAL, 0},
        {"5x", -EINVAL, 0}, {"s", -EINVAL, 0}, {"-1s", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ns = 0;
        assert_int_equal(proxy_mw_go_duration_parse(cases[i].in, &ns), cases[i].rc);
        if (!cases[i].rc)
            assert_int_equal(ns / 1000000u, cases[i].ms);
    }
}

static void test_spec_and_probe_url(void **state)
{
    char err[256], url[256];
    json_t *j = json_loads("{\"path\":\"/health\",\"interval\":\"2s\",\"timeout\":\"500ms\","
                           "\"port\":9090,\"scheme\":\"https\",\"hostname\":\"h.test\","
                           "\"status\":204,\"headers\":{\"X-Probe\":\"1\"}}",
                           0, NULL);
    proxy_health_spec_t s;
    assert_int_equal(proxy_health_spec_parse(j, &s, err, sizeof(err)), 0);
    assert_int_equal(s.interval_ms, 2000);
    assert_int_equal(s.timeout_ms, 500);
    assert_int_equal(s.status, 204);
    assert_int_equal(s.nheaders, 1);
    assert_string_equal(s.headers[0].name, "X-Probe");
    assert_int_equal(proxy_health_probe_url(&s, "http://10.0.0.7:8000", url, sizeof(url)), 0);
    assert_string_equal(url, "https://10.0.0.7:9090/health");
    assert_int_equal(proxy_health_probe_url(&s, "http://[::1]:8000/x", url, sizeof(url)), 0);
    assert_string_equal(url, "https://[::1]:9090/health");
    assert_int_equal(proxy_health_probe_url(&s, "http://u:p@h:8080/x", url, sizeof(url)), 0);
    assert_string_equal(url, "https://u:p@h:9090/health"); /* the port past the userinfo */
    proxy_health_spec_free(&s);
    json_decref(j);

    j = json_loads("{\"path\":\"/ping\"}", 0, NULL);
    assert_int_equal(proxy_health_spec_parse(j, &s, err, sizeof(err)), 0);
    assert_int_equal(s.interval_ms, 30000); /* Traefik's defaults */
    assert_int_equal(s.timeout_ms, 5000);
    assert_string_equal(s.method, "GET");
    assert_true(s.follow_redirects); /* Traefik's default */
    assert_int_equal(proxy_health_probe_url(&s, "http://10.0.0.7:8000", url, sizeof(url)), 0);
    assert_string_equal(url, "http://10.0.0.7:8000/ping");
    assert_int_equal(proxy_health_probe_url(&s, "ftp://x", url, sizeof(url)), -EINVAL);
    hc_free(s.path); /* Go's target.Parse: relative to the server's URL, or the URL itself */
    s.path = hc_strdup("health?x=1");
    assert_int_equal(proxy_health_probe_url(&s, "http://h:8/base/", url, sizeof(url)), 0);
    assert_string_equal(url, "http://h:8/base/health?x=1");
    assert_int_equal(proxy_health_probe_url(&s, "http://h:8", url, sizeof(url)), 0);
    assert_string_equal(url, "http://h:8/health?x=1");
    hc_free(s.path);
    s.path = NULL;
    assert_int_equal(proxy_health_probe_url(&s, "http://h:8/base/", url, sizeof(url)), 0);
    assert_string_equal(url, "http://h:8/base/");
    assert_int_equal(proxy_health_probe_url(&s, "http://h:8", url, sizeof(url)), 0);
    assert_string_equal(url, "http://h:8/");
    proxy_health_spec_free(&s);
    json_decref(j);

    j = json_loads("{\"followRedirects\":false}", 0, NULL);
    assert_int_equal(proxy_health_spec_parse(j, &s, err, sizeof(err)), 0);
    assert_false(s.follow_redirects);
    assert_int_equal(s.unhealthy_interval_ms, 0); /* unset: interval's pace */
    assert_null(s.body);
    proxy_health_spec_free(&s);
    json_decref(j);

    j = json_loads("{\"unhealthyInterval\":\"250ms\",\"body\":\"ping\"}", 0, NULL);
    assert_int_equal(proxy_health_spec_parse(j, &s, err, sizeof(err)), 0);
    assert_int_equal(s.unhealthy_interval_ms, 250);
    assert_string_equal(s.body, "ping");
    proxy_health_spec_free(&s);
    json_decref(j);

    j = json_loads("{\"unhealthyInterval\":\"0s\"}", 0, NULL);
    assert_int_equal(proxy_health_spec_parse(j, &s, err, sizeof(err)), 0);
    assert_int_equal(s.unhealthy_interval_ms, 30000); /* Traefik: not above zero, default */
    proxy_health_spec_free(&s);
    json_decref(j);

    const char *bad[] = {"{\"interval\":\"soon\"}",
                         "{\"scheme\":\"gopher\"}",
                         "{\"port\":70000}",
                         "{\"headers\":[1]}",
                         "[]",
                         "{\"followRedirects\":\"yes\"}",
                         "{\"unhealthyInterval\":\"later\"}",
                         "{\"body\":{}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = json_loads(bad[i], 0, NULL);
        err[0] = '\0';
        assert_int_equal(proxy_health_spec_parse(j, &s, err, sizeof(err)), -EINVAL);
        assert_true(err[0] != '\0');
        json_decref(j);
    }
}

/* Where a probe's redirect leads (RFC 3986 §5.2, as Go's client resolves Location). */
static void test_redirect_url(void **state)
{
    static const char *const cases[][3] = {
        {"http://10.0.0.7:8000/health", "/broken", "http://10.0.0.7:8000/broken"},
        {"http://10.0.0.7:8000/a/health?x=1", "ok", "http://10.0.0.7:8000/a/ok"},
        {"http://10.0.0.7:8000", "ok", "http://10.0.0.7:8000/ok"},
        {"https://h.test/x", "//other.test/y", "https://other.test/y"},
        {"http://h.test/x", "HTTPS://login.test/", "HTTPS://login.test/"},
        {"http://h.test/x", "/p?q=1", "http://h.test/p?q=1"},
        {"http://h:1/a/b?x=1", "?y=2", "http://h:1/a/b?y=2"},
        {"http://h:1/a/b?x=1", "#f", "http://h:1/a/b?x=1"},
        {"http://h:1/a/b?x=1", "../c", "http://h:1/c"},
        {"http://h:1/a/b", "./c/", "http://h:1/a/c/"},
        {"http://h:1/a/b", "../../../c", "http://h:1/c"},
        {"http://h:1/a/b", "/x/./y/../z#frag", "http://h:1/x/z"},
        {"http://h:1/a/b", "..", "http://h:1/"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(proxy_health_redirect_url(cases[i][0], cases[i][1], out, sizeof(out)), 0);
        assert_string_equal(out, cases[i][2]);
    }
    assert_int_equal(proxy_health_redirect_url("http://h.test/x", "ftp://f/", out, sizeof(out)),
                     -EINVAL);
    assert_int_equal(proxy_health_redirect_url("http://h.test/x?q", "", out, sizeof(out)), 0);
    assert_string_equal(out, "http://h.test/x?q"); /* the base itself (RFC 3986 §5.2.2) */
    assert_int_equal(proxy_health_redirect_url("http://h.test/x", "/y", out, 10), -EINVAL);
}

static void test_table(void **state)
{
    proxy_health_t *h = proxy_health_new();
    uint64_t now = proxy_health_now_ms();
    proxy_health_entry_t *a = proxy_health_ref(h, "http://a");
    proxy_health_entry_t *a2 = proxy_health_ref(h, "http://a");
    assert_ptr_equal(a, a2);
    assert_int_equal(proxy_health_up(h, "http://a", now), 1);
    atomic_store(&a->down_until, now + 1000);
    assert_int_equal(proxy_health_up(h, "http://a", now), 0);
    assert_int_equal(proxy_health_up(h, "http://a", now + 1000), 1);
    atomic_store(&a->active_down, 1);
    assert_int_equal(proxy_health_up(h, "http://a", now + 5000), 0);
    assert_int_equal(proxy_health_up(h, "http://unknown", now), 1);
    proxy_health_unref(h, a);
    assert_int_equal(proxy_health_up(h, "http://a", now + 5000), 0); /* still held */
    proxy_health_unref(h, a2);
    assert_int_equal(proxy_health_up(h, "http://a", now + 5000), 1); /* gone: up */
    /* thousands of servers (the table grows): each key its own entry, found again,
     * released in any order */
    enum { N = 5000 };
    static proxy_health_entry_t *e[N];
    char key[64];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "svc%d@file http://10.0.%d.%d:80", i, i / 256, i % 256);
        e[i] = proxy_health_ref(h, key);
        if (i % 7 == 0)
            atomic_store(&e[i]->active_down, 1);
    }
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "svc%d@file http://10.0.%d.%d:80", i, i / 256, i % 256);
        assert_ptr_equal(proxy_health_ref(h, key), e[i]);
        assert_int_equal(proxy_health_up(h, key, now), i % 7 != 0);
        proxy_health_unref(h, e[i]);
    }
    for (int i = N; i-- > 0;)
        if (i % 2)
            proxy_health_unref(h, e[i]);
    for (int i = 0; i < N; i += 2)
        proxy_health_unref(h, e[i]);
    assert_int_equal(proxy_health_up(h, "svc7@file http://10.0.0.7:80", now), 1); /* gone */
    proxy_health_free(h);
}

/* passiveHealthCheck: max failures within the window take the server out for the
 * window (not stretched by more), a success forgets the failures, failures older than
 * the window do not count; with an active check, out until a probe finds it up. */
static void test_passive(void **state)
{
    proxy_health_t *h = proxy_health_new();
    proxy_health_entry_t *e = proxy_health_ref(h, "svc@file http://a");
    assert_int_equal(proxy_health_passive(h, e, 0, 1000, 3, 100), 0);
    assert_int_equal(proxy_health_passive(h, e, 0, 1000, 3, 200), 0);
    assert_int_equal(proxy_health_passive(h, e, 1, 1000, 3, 250), 0); /* forgotten */
    assert_int_equal(proxy_health_passive(h, e, 0, 1000, 3, 300), 0);
    assert_int_equal(proxy_health_passive(h, e, 0, 1000, 3, 400), 0);
    assert_int_equal(proxy_health_up(h, "svc@file http://a", 400), 1);
    assert_int_equal(proxy_health_passive(h, e, 0, 1000, 3, 500), 1); /* the third */
    assert_int_equal(proxy_health_up(h, "svc@file http://a", 1499), 0);
    assert_int_equal(proxy_health_passive(h, e, 0, 1000, 3, 900), 0); /* out already */
    assert_int_equal(proxy_health_up(h, "svc@file http://a", 1500), 1);
    assert_int_equal(proxy_health_passive(h, e, 1, 1000, 3, 1600), 0);
    for (uint64_t t = 2000; t < 8000; t += 1100) /* each failure alone in its window */
        assert_int_equal(proxy_health_passive(h, e, 0, 1000, 2, t), 0);
    assert_int_equal(proxy_health_passive(h, e, 0, 1000, 2, 8000), 1);
    proxy_health_entry_t *c = proxy_health_ref(h, "chk@file http://a");
    atomic_store(&c->probers, 1); /* an active check probes it */
    assert_int_equal(proxy_health_passive(h, c, 0, 1000, 1, 100), 1);
    assert_int_equal(atomic_load(&c->active_down), 1);
    assert_int_equal(proxy_health_up(h, "chk@file http://a", 99999), 0); /* until a probe */
    assert_int_equal(proxy_health_passive(h, c, 0, 1000, 1, 200), 0);
    proxy_health_unref(h, c);
    proxy_health_unref(h, e);
    proxy_health_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),    cmocka_unit_test(test_spec_and_probe_url),
        cmocka_unit_test(test_redirect_url), cmocka_unit_test(test_table),
        cmocka_unit_test(test_passive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
