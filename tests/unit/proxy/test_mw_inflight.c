/* inFlightReq: places taken per source up to amount, given back when the request's view
 * is freed, sources (Host by default, a field, the peer), amount 0, bad specs, and exact
 * counts with two threads on one source. */
#include "core/hc_alloc.h"
#include "proxy/mw_inflight.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static void *parse_ok(const char *spec_json)
{
    char err[256] = "";
    void *cfg = NULL;
    json_t *spec = json_loads(spec_json, 0, NULL);
    assert_non_null(spec);
    if (proxy_mw_inflight_parse(spec, "limit@file", &cfg, err, sizeof(err)) != 0)
        fail_msg("parse %s: %s", spec_json, err);
    json_decref(spec);
    return cfg;
}

/* Starts a request from peer to host (field X-Tenant: tenant unless NULL): 0 when it is
 * let through (req then holds its place until freed), else the status. */
static int start(void *cfg, proxy_mw_req_t *req, const char *host, const char *peer,
                 const char *tenant)
{
    proxy_mw_resp_t resp;
    proxy_mw_req_init(req, "GET", 0, host, "/", peer, 0);
    if (tenant)
        proxy_mw_headers_add(&req->headers, "X-Tenant", tenant);
    proxy_mw_resp_init(&resp);
    int status = proxy_mw_inflight_request(cfg, req, &resp) == PROXY_MW_NEXT ? 0 : resp.status;
    if (status)
        assert_memory_equal(resp.body.base, "max connections reached: ", 25); /* oxy's */
    proxy_mw_resp_free(&resp);
    return status;
}

static void test_places_by_host_by_default(void **state)
{
    (void)state;
    void *cfg = parse_ok("{\"amount\":2}");
    proxy_mw_req_t a, b, c, d;
    assert_int_equal(start(cfg, &a, "one.test", "192.0.2.1", NULL), 0);
    assert_int_equal(start(cfg, &b, "one.test", "192.0.2.2", NULL), 0);
    assert_int_equal(start(cfg, &c, "one.test", "192.0.2.3", NULL), 429);
    proxy_mw_req_free(&c); /* refused: held nothing */
    assert_int_equal(proxy_mw_inflight_count(cfg, "one.test"), 2);
    assert_int_equal(start(cfg, &d, "two.test", "192.0.2.1", NULL), 0);
    proxy_mw_req_free(&a);
    assert_int_equal(proxy_mw_inflight_count(cfg, "one.test"), 1);
    assert_int_equal(start(cfg, &a, "one.test", "192.0.2.1", NULL), 0);
    proxy_mw_req_free(&a);
    proxy_mw_req_free(&b);
    proxy_mw_req_free(&d);
    assert_int_equal(proxy_mw_inflight_count(cfg, "one.test"), 0);
    assert_int_equal(proxy_mw_inflight_count(cfg, "two.test"), 0);
    proxy_mw_inflight_free(cfg);
}

static void test_sources(void **state)
{
    (void)state;
    void *cfg = parse_ok("{\"amount\":1,\"sourceCriterion\":{\"requestHeaderName\":\"X-Tenant\"}}");
    proxy_mw_req_t a, b, c, d;
    assert_int_equal(start(cfg, &a, "h.test", "192.0.2.1", "acme"), 0);
    assert_int_equal(start(cfg, &b, "h.test", "192.0.2.1", "acme"), 429);
    assert_int_equal(start(cfg, &c, "h.test", "192.0.2.1", "globex"), 0);
    assert_int_equal(start(cfg, &d, "h.test", "192.0.2.1", NULL), 0); /* the "" source */
    proxy_mw_req_free(&a);
    proxy_mw_req_free(&b);
    proxy_mw_req_free(&c);
    proxy_mw_req_free(&d);
    proxy_mw_inflight_free(cfg);

    cfg = parse_ok("{\"amount\":1,\"sourceCriterion\":{\"ipStrategy\":{\"depth\":1}}}");
    assert_int_equal(start(cfg, &a, "h.test", "192.0.2.1", NULL), 0);
    proxy_mw_headers_add(&a.headers, "X-Forwarded-For", "unused"); /* read at start only */
    proxy_mw_req_init(&b, "GET", 0, "h.test", "/", "192.0.2.1", 0);
    proxy_mw_headers_add(&b.headers, "X-Forwarded-For", "198.51.100.7");
    proxy_mw_resp_t resp;
    proxy_mw_resp_init(&resp);
    assert_int_equal(proxy_mw_inflight_request(cfg, &b, &resp), PROXY_MW_NEXT);
    assert_int_equal(proxy_mw_inflight_count(cfg, "198.51.100.7"), 1);
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&a);
    proxy_mw_req_free(&b);
    proxy_mw_inflight_free(cfg);

    cfg = parse_ok("{\"amount\":0}"); /* Traefik refuses everything */
    assert_int_equal(start(cfg, &a, "h.test", "192.0.2.1", NULL), 429);
    proxy_mw_req_free(&a);
    proxy_mw_inflight_free(cfg);
}

static void test_bad_specs(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{\"amount\":-1}",
        "{\"amount\":\"many\"}",
        "{\"amount\":1,\"sourceCriterion\":{\"requestHost\":true,\"requestHeaderName\":\"X\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        void *cfg = NULL;
        json_t *spec = json_loads(bad[i], 0, NULL);
        assert_int_equal(proxy_mw_inflight_parse(spec, "m", &cfg, err, sizeof(err)), -EINVAL);
        assert_null(cfg);
        assert_true(err[0] != '\0');
        json_decref(spec);
    }
}

typedef struct worker {
    void *cfg;
    int allowed, refused;
} worker_t;

/* Takes and gives back a place 2,000 times; amount 1 across two threads. */
static void *churn(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < 2000; i++) {
        proxy_mw_req_t req;
        int status = start(w->cfg, &req, "h.test", "192.0.2.1", NULL);
        if (status == 0) {
            w->allowed++;
            if (proxy_mw_inflight_count(w->cfg, "h.test") != 1)
                w->refused = -100000; /* two in flight at once: a lost update */
        } else {
            w->refused++;
        }
        proxy_mw_req_free(&req);
    }
    return NULL;
}

static void test_two_threads_never_exceed(void **state)
{
    (void)state;
    void *cfg = parse_ok("{\"amount\":1}");
    worker_t w[2] = {{cfg, 0, 0}, {cfg, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_true(w[0].refused >= 0 && w[1].refused >= 0);
    assert_int_equal(w[0].allowed + w[1].allowed + w[0].refused + w[1].refused, 4000);
    assert_int_equal(proxy_mw_inflight_count(cfg, "h.test"), 0);
    proxy_mw_inflight_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_places_by_host_by_default),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_two_threads_never_exceed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
