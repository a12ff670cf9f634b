/* Path middlewares: stripPrefix (v3 and v2 forceSlash), stripPrefixRegex, addPrefix,
 * replacePath, replacePathRegex, and the Go replacement template rules behind them. */
#include "core/hc_alloc.h"
#include "proxy/mw_path.h"
#include "proxy/mw_regex.h"
#include "json_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef int (*parse_fn)(const json_t *, const char *, void **, char *, size_t);

/* Parses spec_json with parse, runs it on path (query "q=1"), checks the new path and
 * the header it records (hdr_name NULL: none). */
static void run_case(parse_fn parse, const char *spec_json, const char *path,
                     const char *want_path, const char *hdr_name, const char *want_hdr)
{
    char err[256] = "";
    char target[256];
    void *cfg = NULL;
    json_t *spec = json_loads(spec_json, 0, NULL);
    assert_non_null(spec);
    assert_int_equal(parse(spec, "t@file", &cfg, err, sizeof(err)), 0);
    proxy_mw_req_t req;
    proxy_mw_resp_t resp;
    snprintf(target, sizeof(target), "%s?q=1", path);
    proxy_mw_req_init(&req, "GET", 0, "example.com", target, "192.0.2.1", 0);
    proxy_mw_resp_init(&resp);
    assert_int_equal(proxy_mw_path_request(cfg, &req, &resp), PROXY_MW_NEXT);
    assert_string_equal(req.path, want_path);
    assert_string_equal(req.query, "q=1");
    if (hdr_name) {
        assert_non_null(proxy_mw_headers_get(&req.headers, hdr_name));
        assert_string_equal(proxy_mw_headers_get(&req.headers, hdr_name), want_hdr);
    } else {
        assert_int_equal(req.headers.len, 0);
    }
    assert_int_equal(resp.status, 0);
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&req);
    proxy_mw_path_free(cfg);
    json_decref(spec);
}

static void test_strip_prefix_table(void **state)
{
    static const struct {
        const char *spec, *path, *want, *hdr;
    } cases[] = {
        {"{\"prefixes\":[\"/foo\"]}", "/foo/bar", "/bar", "/foo"},
        {"{\"prefixes\":[\"/foo\"]}", "/foo", "", "/foo"},
        {"{\"prefixes\":[\"/foo\"]}", "/foobar", "/bar", "/foo"},
        {"{\"prefixes\":[\"/foo/\"]}", "/foo/bar", "/bar", "/foo/"},
        {"{\"prefixes\":[\"/a\",\"/a/b\"]}", "/a/b/c", "/b/c", "/a"},
        {"{\"prefixes\":[\"/x\"]}", "/foo/bar", "/foo/bar", NULL},
        {"{\"prefixes\":[\"/foo\"],\"forceSlash\":true}", "/foo", "/", "/foo"},
        {"{\"prefixes\":[\"/foo\"],\"forceSlash\":true}", "/foo/", "/", "/foo"},
        {"{\"prefixes\":[\"/foo\"],\"forceSlash\":true}", "/foo/bar", "/bar", "/foo"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(proxy_mw_stripprefix_parse, cases[i].spec, cases[i].path, cases[i].want,
                 cases[i].hdr ? "X-Forwarded-Prefix" : NULL, cases[i].hdr);
}

static void test_strip_prefix_regex_table(void **state)
{
    static const struct {
        const char *spec, *path, *want, *hdr;
    } cases[] = {
        {"{\"regex\":[\"/foo/[a-z0-9]+/[0-9]+/\"]}", "/foo/abc/123/x", "/x", "/foo/abc/123/"},
        {"{\"regex\":[\"/foo/[a-z]+\"]}", "/foo/abc", "", "/foo/abc"},
        {"{\"regex\":[\"/api/v[0-9]\"]}", "/other/api/v1", "/other/api/v1", NULL},
        {"{\"regex\":[\"x*\"]}", "/abc", "/abc", NULL},
        {"{\"regex\":[\"/nope\", \"^/t[a-z]+\"]}", "/test/z", "/z", "/test"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(proxy_mw_stripprefixregex_parse, cases[i].spec, cases[i].path, cases[i].want,
                 cases[i].hdr ? "X-Forwarded-Prefix" : NULL, cases[i].hdr);
}

static void test_add_and_replace(void **state)
{
    run_case(proxy_mw_addprefix_parse, "{\"prefix\":\"/api\"}", "/users", "/api/users", NULL,
             NULL);
    run_case(proxy_mw_addprefix_parse, "{\"prefix\":\"api\"}", "/users", "/api/users", NULL,
             NULL);
    run_case(proxy_mw_replacepath_parse, "{\"path\":\"/new\"}", "/old/x", "/new",
             "X-Replaced-Path", "/old/x");
    run_case(proxy_mw_replacepathregex_parse,
             "{\"regex\":\"^/foo/(.*)\",\"replacement\":\"/bar/$1\"}", "/foo/baz", "/bar/baz",
             "X-Replaced-Path", "/foo/baz");
    run_case(proxy_mw_replacepathregex_parse,
             "{\"regex\":\"^/foo/(.*)\",\"replacement\":\"/bar/$1\"}", "/nomatch", "/nomatch",
             NULL, NULL);
    /* Traefik trims regex and replacement; an empty replacement changes nothing */
    run_case(proxy_mw_replacepathregex_parse, "{\"regex\":\" ^/foo \",\"replacement\":\" /bar \"}",
             "/foo/x", "/bar/x", "X-Replaced-Path", "/foo/x");
    run_case(proxy_mw_replacepathregex_parse, "{\"regex\":\"^/foo\",\"replacement\":\"\"}",
             "/foo/bar", "/foo/bar", NULL, NULL);
}

/* A path the replacement multiplies past PROXY_MW_BUILD_MAX: 500, the path untouched. */
static void test_replacement_past_the_limit_is_500(void **state)
{
    char err[256] = "";
    void *cfg = NULL;
    json_t *spec = json_loads("{\"regex\":\"^/(.*)\",\"replacement\":\"/$1$1$1$1$1\"}", 0, NULL);
    assert_int_equal(proxy_mw_replacepathregex_parse(spec, "t@file", &cfg, err, sizeof(err)), 0);
    char *target = long_path(PROXY_MW_BUILD_MAX / 4);
    proxy_mw_req_t req;
    proxy_mw_resp_t resp;
    proxy_mw_req_init(&req, "GET", 0, "example.com", target, "192.0.2.1", 0);
    proxy_mw_resp_init(&resp);
    assert_int_equal(proxy_mw_path_request(cfg, &req, &resp), PROXY_MW_RESPOND);
    assert_int_equal(resp.status, 500);
    assert_string_equal(req.path, target);
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&req);
    free(target);
    proxy_mw_path_free(cfg);
    json_decref(spec);
}

static void test_parse_errors(void **state)
{
    static const struct {
        parse_fn parse;
        const char *spec;
    } cases[] = {
        {proxy_mw_addprefix_parse, "{}"},
        {proxy_mw_addprefix_parse, "{\"prefix\":\"\"}"},
        {proxy_mw_stripprefix_parse, "{\"prefixes\":\"/a\"}"},
        {proxy_mw_stripprefixregex_parse, "{\"regex\":[\"(unclosed\"]}"},
        {proxy_mw_replacepathregex_parse, "{\"replacement\":\"/x\"}"},
        {proxy_mw_replacepathregex_parse, "{\"regex\":\"[\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        void *cfg = NULL;
        json_t *spec = json_loads(cases[i].spec, 0, NULL);
        assert_int_equal(cases[i].parse(spec, "t", &cfg, err, sizeof(err)), -EINVAL);
        assert_null(cfg);
        assert_true(err[0] != '\0');
        json_decref(spec);
    }
}

/* Go's Regexp.ReplaceAllString on the same inputs gives these outputs. */
static void test_go_replace_all_table(void **state)
{
    static const struct {
        const char *re, *in, *tmpl, *out;
    } cases[] = {
        {"a(b)", "xabyab", "<$1>", "x<b>y<b>"},
        {"a(b)", "ab", "$1x", ""},               /* $1x is the group named "1x" */
        {"a(b)", "ab", "${1}x", "bx"},
        {"a(b)", "ab", "$$1", "$1"},
        {"a(b)", "ab", "$", "$"},
        {"a(b)", "ab", "${1", "${1"},
        {"(?P<w>b)", "ab", "[$w]", "a[b]"},
        {"a*", "baaac", "-", "-b-c-"},
        {"x*", "", "-", "-"},
        {"a|b", "cab", "$0$0", "caabb"},
        {"(a)|(b)", "b", "[$1][$2]", "[][b]"},
        {"^http://([^/]+)/(.*)$", "http://h.test/p?q", "https://$1/x/$2", "https://h.test/x/p?q"},
        {"é", "aéb", "E", "aEb"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256];
        proxy_mw_regex_t *re;
        hc_buf_t b;
        assert_int_equal(proxy_mw_regex_compile(cases[i].re, &re, err, sizeof(err)), 0);
        hc_buf_init(&b, 1024);
        assert_true(proxy_mw_regex_replace_all(re, cases[i].in, cases[i].tmpl, &b) >= 0);
        assert_string_equal(b.base ? b.base : "", cases[i].out);
        hc_buf_free(&b);
        proxy_mw_regex_free(re);
    }
}

static void test_regex_dollar_is_end_of_text(void **state)
{
    char err[256];
    proxy_mw_regex_t *re;
    assert_int_equal(proxy_mw_regex_compile("^/a$", &re, err, sizeof(err)), 0);
    assert_int_equal(proxy_mw_regex_find(re, "/a", 2, NULL, NULL), 1);
    assert_int_equal(proxy_mw_regex_find(re, "/a\n", 3, NULL, NULL), 0);
    proxy_mw_regex_free(re);
}

/* A yes-or-no match that runs out of its backtracking budget (nested repeats on a long
 * hostile subject) says so (-1) rather than "no": a rule then refuses the request instead
 * of letting it fall through to a lower router. A short subject is decided. */
static void test_regex_budget_undecided(void **state)
{
    char err[256], subject[64];
    proxy_mw_regex_t *re;
    assert_int_equal(proxy_mw_regex_compile("^/r/(a+)+$|^/r/a+b$", &re, err, sizeof(err)), 0);
    for (size_t n = 5; n <= 50; n += 15) {
        int k = snprintf(subject, sizeof(subject), "/r/%.*sb", (int)n,
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        int rc = proxy_mw_regex_test(re, subject, (size_t)k);
        assert_int_equal(rc, n == 5 ? 1 : -1); /* 2^n steps past 20 */
        assert_int_equal(proxy_mw_regex_find(re, subject, (size_t)k, NULL, NULL), rc == 1);
    }
    assert_int_equal(proxy_mw_regex_test(re, "/r/x", 4), 0);
    proxy_mw_regex_free(re);
}

/* What Go's regexp refuses is refused (Traefik would disable the router); what it takes,
 * character classes holding the same characters included, compiles. */
static void test_regex_go_syntax_only(void **state)
{
    static const char *const refused[] = {"^/(?=abc)", "(?!a)b",  "(?<=a)b", "(?<!a)b", "(?>a)",
                                          "(a)\\1",    "a\\Z",    "a\\G",    "a++",     "a*+",
                                          "a{2}+",     "(?(1)a)", "(?R)",    "(?|a)",   "\\k<n>"};
    static const char *const taken[] = {"^/a(?P<n>b)(?<m>c)(?:d)(?i)e$",
                                        "[(?=]x",
                                        "[\\1]",
                                        "[[:alpha:]+]+",
                                        "a+b?c*d{1,2}",
                                        "\\\\1",
                                        "a\\z",
                                        "[]+]"};
    char err[256];
    proxy_mw_regex_t *re;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (proxy_mw_regex_compile(refused[i], &re, err, sizeof(err)) != -EINVAL)
            fail_msg("%s was taken", refused[i]);
        assert_non_null(strstr(err, "not in Go's syntax"));
    }
    for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
        if (proxy_mw_regex_compile(taken[i], &re, err, sizeof(err)) != 0)
            fail_msg("%s: %s", taken[i], err);
        proxy_mw_regex_free(re);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strip_prefix_table),
        cmocka_unit_test(test_regex_go_syntax_only),
        cmocka_unit_test(test_strip_prefix_regex_table),
        cmocka_unit_test(test_add_and_replace),
        cmocka_unit_test(test_replacement_past_the_limit_is_500),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_go_replace_all_table),
        cmocka_unit_test(test_regex_dollar_is_end_of_text),
        cmocka_unit_test(test_regex_budget_undecided),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
