/* CIDR sets, ipStrategy (peer, depth, excludedIPs, ipv6Subnet) and ipAllowList. */
#include "core/hc_alloc.h"
#include "proxy/mw_ip.h"

#include <errno.h>
#include <string.h>

static void test_ipset_contains_table(void **state)
{
    char *items[] = {"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "172.16.0.0/12"};
    proxy_mw_ipset_t set;
    char err[128];
    assert_int_equal(proxy_mw_ipset_parse(&set, items, 4, err, sizeof(err)), 0);
    static const struct {
        const char *ip;
        int want;
    } cases[] = {
        {"10.1.2.3", 1},       {"11.0.0.1", 0},        {"192.0.2.7", 1},
        {"192.0.2.8", 0},      {"2001:db8::1", 1},     {"2001:db9::1", 0},
        {"::ffff:10.9.9.9", 1}, {"172.31.255.255", 1}, {"172.32.0.0", 0},
        {"not-an-ip", -EINVAL}, {"", -EINVAL},          {"10.0.0.1:80", -EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(proxy_mw_ipset_contains(&set, cases[i].ip), cases[i].want);
    proxy_mw_ipset_free(&set);
}

static void test_ipset_parse_errors(void **state)
{
    const char *bad[] = {"10.0.0.0/33", "10.0.0.0/", "300.1.1.1", "2001:db8::/129", "x/8"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *items[] = {(char *)bad[i]};
        proxy_mw_ipset_t set;
        char err[128] = "";
        assert_int_equal(proxy_mw_ipset_parse(&set, items, 1, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, bad[i]));
        assert_null(set.v);
    }
}

/* Strategy spec, X-Forwarded-For value (NULL: none), peer -> chosen client address. */
static void test_strategy_table(void **state)
{
    static const struct {
        const char *spec, *xff, *peer, *want;
    } cases[] = {
        {"{}", "1.1.1.1", "10.0.0.1", "10.0.0.1"},
        {"{\"depth\":1}", "1.1.1.1, 2.2.2.2, 3.3.3.3", "10.0.0.1", "3.3.3.3"},
        {"{\"depth\":2}", "1.1.1.1, 2.2.2.2, 3.3.3.3", "10.0.0.1", "2.2.2.2"},
        {"{\"depth\":3}", "1.1.1.1, 2.2.2.2, 3.3.3.3", "10.0.0.1", "1.1.1.1"},
        {"{\"depth\":4}", "1.1.1.1, 2.2.2.2, 3.3.3.3", "10.0.0.1", ""},
        {"{\"depth\":1}", NULL, "10.0.0.1", ""},
        {"{\"excludedIPs\":[\"3.3.3.0/24\"]}", "1.1.1.1, 2.2.2.2, 3.3.3.3", "10.0.0.1",
         "2.2.2.2"},
        {"{\"excludedIPs\":[\"2.2.2.2\",\"3.3.3.3\"]}", "1.1.1.1,2.2.2.2,3.3.3.3", "x",
         "1.1.1.1"},
        {"{\"excludedIPs\":[\"0.0.0.0/0\"]}", "1.1.1.1", "10.0.0.1", ""},
        {"{\"excludedIPs\":[\"3.3.3.3\"]}", "1.1.1.1, , 3.3.3.3", "10.0.0.1", "1.1.1.1"},
        {"{\"ipv6Subnet\":64}", NULL, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
        {"{\"ipv6Subnet\":64}", NULL, "192.0.2.1", "192.0.2.1"},
        {"{\"depth\":1,\"ipv6Subnet\":48}", "2001:db8:aa:bb::1", "10.0.0.1", "2001:db8:aa::"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[128], out[PROXY_MW_IP_MAX];
        proxy_mw_ipstrategy_t s;
        proxy_mw_req_t req;
        json_t *spec = json_loads(cases[i].spec, 0, NULL);
        assert_int_equal(proxy_mw_ipstrategy_parse(spec, &s, err, sizeof(err)), 0);
        proxy_mw_req_init(&req, "GET", 0, "h", "/", cases[i].peer, 0);
        if (cases[i].xff)
            proxy_mw_headers_add(&req.headers, "X-Forwarded-For", cases[i].xff);
        proxy_mw_ipstrategy_get(&s, &req, out);
        assert_string_equal(out, cases[i].want);
        proxy_mw_req_free(&req);
        proxy_mw_ipstrategy_free(&s);
        json_decref(spec);
    }
}

static int allow_status(const char *spec_json, const char *peer, const char *xff)
{
    char err[128] = "";
    void *cfg = NULL;
    proxy_mw_req_t req;
    proxy_mw_resp_t resp;
    json_t *spec = json_loads(spec_json, 0, NULL);
    assert_int_equal(proxy_mw_ipallow_parse(spec, "a@file", &cfg, err, sizeof(err)), 0);
    proxy_mw_req_init(&req, "GET", 0, "h", "/", peer, 0);
    proxy_mw_resp_init(&resp);
    if (xff)
        proxy_mw_headers_add(&req.headers, "X-Forwarded-For", xff);
    int status = proxy_mw_ipallow_request(cfg, &req, &resp) == PROXY_MW_NEXT ? 0 : resp.status;
    if (status == 403)
        assert_string_equal(resp.body.base, "Forbidden");
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&req);
    proxy_mw_ipallow_free(cfg);
    json_decref(spec);
    return status;
}

static void test_allow_list(void **state)
{
    const char *lan = "{\"sourceRange\":[\"127.0.0.1/32\",\"192.168.1.0/24\",\"::1\"]}";
    assert_int_equal(allow_status(lan, "127.0.0.1", NULL), 0);
    assert_int_equal(allow_status(lan, "192.168.1.77", NULL), 0);
    assert_int_equal(allow_status(lan, "::1", NULL), 0);
    assert_int_equal(allow_status(lan, "192.168.2.1", NULL), 403);
    assert_int_equal(allow_status(lan, "", NULL), 403);
    const char *d1 = "{\"sourceRange\":[\"1.2.3.4\"],\"ipStrategy\":{\"depth\":1}}";
    assert_int_equal(allow_status(d1, "10.0.0.1", "9.9.9.9, 1.2.3.4"), 0);
    assert_int_equal(allow_status(d1, "1.2.3.4", "1.2.3.4, 9.9.9.9"), 403);
    assert_int_equal(allow_status(d1, "1.2.3.4", NULL), 403);
    /* a port in the chosen entry is dropped before matching (Go's SplitHostPort) */
    assert_int_equal(allow_status(d1, "10.0.0.1", "9.9.9.9, 1.2.3.4:5555"), 0);
    assert_int_equal(allow_status(d1, "10.0.0.1", "1.2.3.4:5555:1"), 403);
    const char *v6 = "{\"sourceRange\":[\"2001:db8::/32\"],\"ipStrategy\":{\"depth\":1}}";
    assert_int_equal(allow_status(v6, "10.0.0.1", "[2001:db8::7]:443"), 0);
    assert_int_equal(
        allow_status(v6, "10.0.0.1", "[2001:0db8:0000:0000:0000:0000:0000:0007]:65535"), 0);
    assert_int_equal(allow_status(v6, "10.0.0.1", "2001:db8::7"), 0);
    assert_int_equal(allow_status(v6, "10.0.0.1", "[2001:db8::7]"), 403);
    assert_int_equal(
        allow_status("{\"sourceRange\":[\"1.2.3.4\"],\"rejectStatusCode\":404}", "5.5.5.5", NULL),
        404);
}

static void test_allow_list_parse_errors(void **state)
{
    const char *bad[] = {
        "{}",
        "{\"sourceRange\":[]}",
        "{\"sourceRange\":[\"1.2.3.4/40\"]}",
        "{\"sourceRange\":[\"1.2.3.4\"],\"ipStrategy\":{\"depth\":-1}}",
        "{\"sourceRange\":[\"1.2.3.4\"],\"ipStrategy\":{\"excludedIPs\":[\"bad\"]}}",
        "{\"sourceRange\":[\"1.2.3.4\"],\"rejectStatusCode\":42}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[128] = "";
        void *cfg = NULL;
        json_t *spec = json_loads(bad[i], 0, NULL);
        assert_int_equal(proxy_mw_ipallow_parse(spec, "a", &cfg, err, sizeof(err)), -EINVAL);
        assert_null(cfg);
        assert_true(err[0] != '\0');
        json_decref(spec);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipset_contains_table),
        cmocka_unit_test(test_ipset_parse_errors),
        cmocka_unit_test(test_strategy_table),
        cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_allow_list_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
