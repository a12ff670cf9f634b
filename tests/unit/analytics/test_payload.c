/* Unit tests for analytics_payload, analytics_url and analytics_data: the /api/send
 * validation rules (type, one of website/link/pixel, uuids, string limits, URLs,
 * numbers), the columns derived from url/referrer/title (expected values produced by
 * Node 20's URL, decodeURI and URLSearchParams on the same inputs), event types,
 * performance and identify bodies, repeated members, /api/batch bodies item by item,
 * revenue, and data flattening as Umami's flattenJSON
 * and getStringValue produce it (toFixed(4), toISOString, JSON.stringify, key order). */
#include "analytics/analytics_payload.h"
#include "analytics/analytics_url.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define SITE "94db1cb1-74f4-4a40-ad6c-962362670409"

/* Parses a copy of body (the parser rewrites it) of exactly its size, so ASan sees any
 * read past its end. */
static int parse(const char *body, analytics_event_t *ev, char *why)
{
    size_t n = strlen(body);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, body, n);
    int rc = analytics_payload_parse(copy, n, NULL, ev, why, 256);
    free(copy);
    return rc;
}

/* One event body around payload members given as JSON text. */
static int parse_payload(const char *members, analytics_event_t *ev, char *why)
{
    char body[8192];
    snprintf(body, sizeof(body), "{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\"%s%s}}",
             *members ? "," : "", members);
    return parse(body, ev, why);
}

static void test_url_columns(void **state)
{
    (void)state;
    /* url, hostname -> url_path, url_query, hostname, utm_source (Node's answers) */
    static const struct {
        const char *url, *host, *path, *query, *hostname, *utm;
    } cases[] = {
        {"https://www.example.com/blog/"
         "post?utm_source=news%20letter&utm_medium=email&gclid=abc#top",
         "", "/blog/post#top", "utm_source=news%20letter&utm_medium=email&gclid=abc", "example.com",
         "news letter"},
        {"/pricing?plan=pro", "", "/pricing", "plan=pro", "localhost", ""},
        {"https://shop.example.com/p/../cart/./items?x=1", "www.example.com", "/cart/items", "x=1",
         "www.example.com", ""},
        {"//cdn.example.com/x", "", "/x", "", "cdn.example.com", ""},
        {"?q=1", "example.com", "/", "q=1", "example.com", ""},
        {"#section", "example.com", "/#section", "", "example.com", ""},
        {"", "example.com", "/", "", "example.com", ""},
        {"page.html", "example.com", "/page.html", "", "example.com", ""},
        {"https://h/%7e%20x/caf%C3%A9?q=%C3%A9", "", "/~ x/caf\xc3\xa9", "q=%C3%A9", "h", ""},
        {"https://h/a%2Fb%3Fc", "", "/a%2Fb%3Fc", "", "h", ""},
        {"https:\\\\\\\\host\\\\a\\\\b", "", "/a/b", "", "host", ""},
        {"https://h/a b?q=a b#f g", "", "/a b#f g", "q=a%20b", "h", ""},
        {"https://h/%E0%A4%A", "", "/%E0%A4%A", "", "h", ""}, /* malformed: kept encoded */
        {"http://[::FFFF:1.2.3.4]:8080/v6", "", "/v6", "", "[::ffff:102:304]", ""},
        {"http://0x7f.1/ip", "", "/ip", "", "127.0.0.1", ""},
        {"https://WWW.Example.COM:443/", "", "/", "", "example.com", ""},
        {"javascript:alert(1)", "", "alert(1)", "", "", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char members[1024], why[256];
        if (*cases[i].host)
            snprintf(members, sizeof(members), "\"url\":\"%s\",\"hostname\":\"%s\"", cases[i].url,
                     cases[i].host);
        else
            snprintf(members, sizeof(members), "\"url\":\"%s\"", cases[i].url);
        analytics_event_t ev;
        int rc = parse_payload(members, &ev, why);
        if (rc != 0)
            fail_msg("case %zu: %s", i, why);
        assert_string_equal(ev.url_path, cases[i].path);
        assert_string_equal(ev.url_query, cases[i].query);
        assert_string_equal(ev.hostname, cases[i].hostname);
        assert_string_equal(ev.utm_source, cases[i].utm);
        assert_int_equal(ev.event_type, ANALYTICS_PAGEVIEW);
        analytics_event_clear(&ev);
    }
}

static void test_click_ids_and_referrer(void **state)
{
    (void)state;
    analytics_event_t ev;
    char why[256];
    assert_int_equal(
        parse_payload("\"url\":\"https://example.com/?utm_source=a+b&utm_medium=cpc&"
                      "utm_campaign=%E2%82%AC&utm_content=c&utm_term=t&gclid=g%2F1&fbclid=f&"
                      "msclkid=m&ttclid=t2&li_fat_id=l&twclid=tw&utm_source=second\","
                      "\"referrer\":\"https://www.google.com/search?q=umami#x\","
                      "\"title\":\"Caf%C3%A9 %E0%A4%A menu\"",
                      &ev, why),
        0);
    assert_string_equal(ev.utm_source, "a b"); /* the first value, '+' as space */
    assert_string_equal(ev.utm_medium, "cpc");
    assert_string_equal(ev.utm_campaign, "\xe2\x82\xac");
    assert_string_equal(ev.utm_content, "c");
    assert_string_equal(ev.utm_term, "t");
    assert_string_equal(ev.gclid, "g/1");
    assert_string_equal(ev.fbclid, "f");
    assert_string_equal(ev.msclkid, "m");
    assert_string_equal(ev.ttclid, "t2");
    assert_string_equal(ev.li_fat_id, "l");
    assert_string_equal(ev.twclid, "tw");
    assert_string_equal(ev.referrer_path, "/search");
    assert_string_equal(ev.referrer_query, "q=umami");
    assert_string_equal(ev.referrer_domain, "google.com");
    /* decodeURIComponent throws on the malformed escape: the title is kept as sent */
    assert_string_equal(ev.page_title, "Caf%C3%A9 %E0%A4%A menu");
    analytics_event_clear(&ev);

    /* a path-only referrer resolves against the event's hostname */
    assert_int_equal(parse_payload("\"url\":\"/b\",\"hostname\":\"www.shop.io\","
                                   "\"referrer\":\"/a?x=1\",\"title\":\"Caf%C3%A9\"",
                                   &ev, why),
                     0);
    assert_string_equal(ev.referrer_domain, "shop.io");
    assert_string_equal(ev.referrer_path, "/a");
    assert_string_equal(ev.referrer_query, "x=1");
    assert_string_equal(ev.hostname, "www.shop.io"); /* payload.hostname is kept as sent */
    assert_string_equal(ev.page_title, "Caf\xc3\xa9");
    analytics_event_clear(&ev);

    /* no url at all (@umami/node's track): path '' */
    assert_int_equal(parse_payload("\"name\":\"signup\"", &ev, why), 0);
    assert_string_equal(ev.url_path, "");
    assert_string_equal(ev.hostname, "localhost");
    assert_string_equal(ev.event_name, "signup");
    assert_int_equal(ev.event_type, ANALYTICS_CUSTOM);
    analytics_event_clear(&ev);
}

static void test_trailing_slash_and_truncation(void **state)
{
    (void)state;
    analytics_payload_opts_t o = {.remove_trailing_slash = 1};
    static const struct {
        const char *url, *path;
    } cases[] = {{"/a/", "/a"}, {"/", "/"}, {"/a/#h", "/a#h"}, {"/a/b", "/a/b"}, {"/a/?q", "/a"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[512], why[256];
        snprintf(body, sizeof(body),
                 "{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"url\":\"%s\"}}",
                 cases[i].url);
        analytics_event_t ev;
        assert_int_equal(analytics_payload_parse(body, strlen(body), &o, &ev, why, sizeof(why)), 0);
        assert_string_equal(ev.url_path, cases[i].path);
    }
    /* 600 characters of path: cut to 500; a two-byte character is never split */
    char members[2048], why[256];
    char longp[700] = "/";
    memset(longp + 1, 'a', 498);
    strcpy(longp + 499, "\xc3\xa9xyz");
    snprintf(members, sizeof(members), "\"url\":\"%s\",\"title\":\"%s\"", longp, longp);
    analytics_event_t ev;
    assert_int_equal(parse_payload(members, &ev, why), 0);
    assert_int_equal(strlen(ev.url_path), 499);
    assert_int_equal(strlen(ev.page_title), 499);
    analytics_event_clear(&ev);
}

static void test_validation_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body, *why;
    } bad[] = {
        {"", "body: invalid JSON"},
        {"{\"type\":\"event\"", "body: invalid JSON"},
        {"[1]", "body: expected object"},
        {"{\"type\":\"click\",\"payload\":{\"website\":\"" SITE "\"}}", "type:"},
        {"{\"payload\":{\"website\":\"" SITE "\"}}", "type:"},
        {"{\"type\":\"event\"}", "payload: expected object"},
        {"{\"type\":\"event\",\"payload\":[]}", "payload: expected object"},
        {"{\"type\":\"event\",\"payload\":{}}", "payload: exactly one"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"link\":\"" SITE "\"}}",
         "payload: exactly one"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"not-a-uuid\"}}",
         "payload.website: invalid"},
        {"{\"type\":\"event\",\"payload\":{\"website\":42}}", "payload.website: expected string"},
        {"{\"type\":\"event\",\"payload\":{\"website\":null}}", "payload.website: expected string"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"url\":\"http://a:99999/\"}}",
         "payload.url: invalid url"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE
         "\",\"url\":\"https://exa mple/\"}}",
         "payload.url: invalid url"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"referrer\":\"http://\"}}",
         "payload.referrer: invalid url"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"screen\":\"123456789012\"}}",
         "payload.screen: longer than 11"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE
         "\",\"name\":\"012345678901234567890123456789012345678901234567890\"}}",
         "payload.name: longer than 50"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"data\":[1]}}",
         "payload.data: expected object"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"timestamp\":1.5}}",
         "payload.timestamp"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"timestamp\":\"soon\"}}",
         "payload.timestamp"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"timestamp\":1e300}}",
         "payload.timestamp"},
        {"{\"type\":\"performance\",\"payload\":{\"website\":\"" SITE "\",\"lcp\":60001}}",
         "payload.lcp: out of range"},
        {"{\"type\":\"performance\",\"payload\":{\"website\":\"" SITE "\",\"cls\":-1}}",
         "payload.cls: out of range"},
        {"{\"type\":\"performance\",\"payload\":{\"website\":\"" SITE "\",\"ttfb\":\"9\"}}",
         "payload.ttfb: expected number"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"hostname\":\"a b\"}}",
         "payload.hostname: invalid"},
        /* a NUL would cut the value short (or reach PostgreSQL, which refuses it): the id
         * below would otherwise read as the valid uuid before it */
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\\u0000x\"}}",
         "body: invalid JSON"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"title\":\"a\\u0000b\"}}",
         "body: invalid JSON"},
        {"{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\",\"data\":{\"k\":\"\\u0000\"}}}",
         "body: invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        analytics_event_t ev;
        char why[256] = "";
        assert_int_equal(parse(bad[i].body, &ev, why), -EINVAL);
        if (strncmp(why, bad[i].why, strlen(bad[i].why)) != 0)
            fail_msg("case %zu: reason \"%s\", wanted \"%s...\"", i, why, bad[i].why);
        assert_null(ev.data);
    }
    /* limits count UTF-16 units, as zod's max() does: 11 two-byte characters pass */
    analytics_event_t ev;
    char why[256];
    assert_int_equal(parse_payload("\"screen\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"",
                                   &ev, why),
                     0);
    /* an oversize body never reaches the JSON parser */
    char *big = malloc(ANALYTICS_BODY_MAX + 2);
    memset(big, ' ', ANALYTICS_BODY_MAX + 1);
    big[ANALYTICS_BODY_MAX + 1] = '\0';
    assert_int_equal(analytics_payload_parse(big, ANALYTICS_BODY_MAX + 1, NULL, &ev, why, 256),
                     -EINVAL);
    free(big);
}

static void test_kinds_and_overrides(void **state)
{
    (void)state;
    analytics_event_t ev;
    char why[256];
    /* link and pixel events: the id goes to website_id, the type says which */
    assert_int_equal(
        parse("{\"type\":\"event\",\"payload\":{\"link\":\"" SITE "\",\"name\":\"x\"}}", &ev, why),
        0);
    assert_int_equal(ev.event_type, ANALYTICS_LINK);
    assert_string_equal(ev.website_id, SITE);
    assert_int_equal(parse("{\"type\":\"event\",\"payload\":{\"pixel\":\"" SITE "\"}}", &ev, why),
                     0);
    assert_int_equal(ev.event_type, ANALYTICS_PIXEL);
    /* an upper-case id is stored as PostgreSQL's uuid type spells it */
    assert_int_equal(parse("{\"type\":\"event\",\"payload\":{\"website\":\"94DB1CB1-74F4-4A40-AD6C-"
                           "962362670409\"}}",
                           &ev, why),
                     0);
    assert_string_equal(ev.website_id, SITE);
    /* an empty name is a pageview */
    assert_int_equal(parse_payload("\"name\":\"\"", &ev, why), 0);
    assert_int_equal(ev.event_type, ANALYTICS_PAGEVIEW);

    /* performance: path without hash, metrics, no query columns */
    assert_int_equal(parse("{\"type\":\"performance\",\"payload\":{\"website\":\"" SITE
                           "\",\"url\":\"/p/a%20b?x=1#h\",\"lcp\":1234.5,\"inp\":80,"
                           "\"cls\":0.05,\"fcp\":900,\"ttfb\":0}}",
                           &ev, why),
                     0);
    assert_int_equal(ev.kind, ANALYTICS_SEND_PERFORMANCE);
    assert_int_equal(ev.event_type, ANALYTICS_PERFORMANCE);
    assert_string_equal(ev.url_path, "/p/a%20b");
    assert_string_equal(ev.url_query, "");
    assert_true(ev.lcp == 1234.5 && ev.inp == 80 && ev.cls == 0.05 && ev.fcp == 900 &&
                ev.ttfb == 0);

    /* identify: distinct id and session data, no page columns */
    assert_int_equal(parse("{\"type\":\"identify\",\"payload\":{\"website\":\"" SITE
                           "\",\"id\":\"user-1\",\"data\":{\"plan\":\"pro\"},\"url\":\"/x\"}}",
                           &ev, why),
                     0);
    assert_int_equal(ev.kind, ANALYTICS_SEND_IDENTIFY);
    assert_string_equal(ev.distinct_id, "user-1");
    assert_string_equal(ev.url_path, "");
    assert_non_null(ev.data);
    assert_true(ev.lcp == -1);
    analytics_event_clear(&ev);
    assert_null(ev.data);

    /* overrides and timestamp (seconds; a numeric string is coerced as zod does) */
    assert_int_equal(parse_payload("\"ip\":\"198.51.100.4\",\"userAgent\":\"UA/1\","
                                   "\"browser\":\"b\",\"os\":\"o\",\"device\":\"d\","
                                   "\"timestamp\":\"1779021296\",\"screen\":\"1920x1080\","
                                   "\"language\":\"de-DE\",\"tag\":\"t\"",
                                   &ev, why),
                     0);
    assert_string_equal(ev.ip, "198.51.100.4");
    assert_int_equal(ev.ip_from_payload, 1);
    assert_string_equal(ev.user_agent, "UA/1");
    assert_string_equal(ev.browser, "b");
    assert_string_equal(ev.os, "o");
    assert_string_equal(ev.device, "d");
    assert_int_equal(ev.has_timestamp, 1);
    assert_int_equal(ev.created_at_ms, 1779021296000LL);
    assert_string_equal(ev.screen, "1920x1080");
    assert_string_equal(ev.language, "de-DE");
    assert_string_equal(ev.tag, "t");
    /* an empty ip does not count as given */
    assert_int_equal(parse_payload("\"ip\":\"\"", &ev, why), 0);
    assert_int_equal(ev.ip_from_payload, 0);
    assert_int_equal(ev.has_timestamp, 0);
    assert_int_equal(ev.created_at_ms, 0);
}

static void test_integers_and_repeats(void **state)
{
    (void)state;
    /* integers are doubles, as JavaScript reads them: no "integer too big" refusals */
    analytics_event_t ev;
    char why[256];
    assert_int_equal(
        parse("{\"type\":\"event\",\"payload\":{\"website\":\"" SITE
              "\",\"url\":\"/i\",\"timestamp\":1779021296,\"data\":{\"n\":7,"
              "\"revenue\":12,\"l\":[9007199254740993],\"b\":123456789012345678901234567890},"
              "\"lcp\":5}}",
              &ev, why),
        0);
    assert_int_equal(ev.created_at_ms, 1779021296000LL);
    assert_true(ev.lcp == 5);
    assert_int_equal(ev.has_revenue, 0); /* no currency */
    analytics_data_row_t *rows;
    size_t n;
    assert_int_equal(analytics_data_flatten(ev.data, &rows, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(rows[0].string_value, "7.0000");
    assert_true(rows[0].has_number && rows[0].number_value == 7);
    assert_string_equal(rows[2].string_value, "[9007199254740992]"); /* a double, as in JS */
    analytics_data_free(rows, n);
    analytics_event_clear(&ev);

    /* a repeated member: the last one counts, as JSON.parse keeps it; escapes decoded */
    assert_int_equal(
        parse("{\"type\":\"identify\",\"payload\":{\"website\":\"x\"},"
              "\"typ\\u0065\":\"event\",\"payload\":{\"website\":\"nope\","
              "\"url\":\"/a\",\"website\":\"" SITE "\",\"url\":\"\\/b\","
              "\"title\":\"Caf\\u00e9 \\ud83d\\ude00\",\"data\":[1],\"data\":{\"k\":\"\\\"v\"}}}",
              &ev, why),
        0);
    assert_int_equal(ev.kind, ANALYTICS_SEND_EVENT);
    assert_string_equal(ev.url_path, "/b");
    assert_string_equal(ev.page_title, "Caf\xc3\xa9 \xf0\x9f\x98\x80");
    assert_non_null(ev.data);
    assert_string_equal(json_string_value(json_object_get(ev.data, "k")), "\"v");
    analytics_event_clear(&ev);

    /* the event is zeroed whatever went wrong */
    memset(&ev, 0xa5, sizeof(ev));
    ev.data = NULL;
    assert_int_equal(parse("{\"type\":", &ev, why), -EINVAL);
    assert_int_equal(ev.website_id[0], 0);
    assert_int_equal(ev.created_at_ms, 0);
    assert_true(ev.lcp == -1);
}

/* Parses a batch body given as text; the items' reasons (or "" when parsed) joined by
 * '|' in out. Returns what analytics_payload_batch_open returned. */
static int batch(const char *body, size_t max, char *out, size_t cap)
{
    size_t len = strlen(body), n, o = 0;
    char *copy = malloc(len ? len : 1);
    memcpy(copy, body, len);
    analytics_payload_batch_t b;
    out[0] = '\0';
    int rc = analytics_payload_batch_open(&b, copy, len, max, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        analytics_event_t ev;
        char why[256];
        if (analytics_payload_batch_next(&b, NULL, &ev, why, sizeof(why)) == 0)
            why[0] = '\0';
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "|" : "", why);
        analytics_event_clear(&ev);
    }
    free(copy);
    return rc;
}

static void test_batch(void **state)
{
    (void)state;
    char out[1024];
    const char *good = "{\"type\":\"event\",\"payload\":{\"website\":\"" SITE "\"}}";
    char body[4096];
    /* items are parsed one by one, each with its own reason */
    snprintf(body, sizeof(body),
             " [%s, 1, {\"type\":\"click\"}, [], %s, {\"type\":\"event\","
             "\"payload\":{\"website\":\"" SITE "\",\"url\":\"http://a:99999/\"}}] ",
             good, good);
    assert_int_equal(batch(body, 1000, out, sizeof(out)), 0);
    assert_string_equal(out, "|body: expected object|type: expected event, identify or performance|"
                             "body: expected object||payload.url: invalid url");
    assert_int_equal(batch("[]", 1000, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* the body as a whole: JSON, an array, at most max items */
    snprintf(body, sizeof(body), "[%s,%s,%s]", good, good, good);
    assert_int_equal(batch(body, 3, out, sizeof(out)), 0);
    assert_int_equal(batch(body, 2, out, sizeof(out)), -EINVAL);
    snprintf(body, sizeof(body), "[%s,{\"a\":tru}]", good);
    assert_int_equal(batch(body, 1000, out, sizeof(out)), -EINVAL);
    assert_int_equal(batch(good, 1000, out, sizeof(out)), -EINVAL);
    assert_int_equal(batch("", 1000, out, sizeof(out)), -EINVAL);
    assert_int_equal(batch("[1] x", 1000, out, sizeof(out)), -EINVAL);
    analytics_payload_batch_t b;
    size_t n;
    assert_int_equal(analytics_payload_batch_open(&b, NULL, 0, 1000, &n), -EINVAL);
}

static void test_revenue(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        int has;
        double revenue;
        const char *currency;
    } cases[] = {
        {"{\"revenue\":19.99,\"currency\":\"EUR\"}", 1, 19.99, "EUR"},
        {"{\"revenue\":\"5\",\"currency\":\"USD\"}", 1, 5, "USD"},
        {"{\"revenue\":0,\"currency\":\"USD\"}", 0, 0, ""},
        {"{\"revenue\":-3,\"currency\":\"USD\"}", 0, 0, ""},
        {"{\"revenue\":10}", 0, 0, ""},
        {"{\"revenue\":10,\"currency\":\"\"}", 0, 0, ""},
        {"{\"revenue\":\"abc\",\"currency\":\"USD\"}", 0, 0, ""},
        {"{\"order\":{\"revenue\":10,\"currency\":\"USD\"}}", 0, 0, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char members[512], why[256];
        snprintf(members, sizeof(members), "\"name\":\"checkout\",\"data\":%s", cases[i].data);
        analytics_event_t ev;
        assert_int_equal(parse_payload(members, &ev, why), 0);
        assert_int_equal(ev.has_revenue, cases[i].has);
        if (cases[i].has) {
            assert_true(ev.revenue == cases[i].revenue);
            assert_string_equal(ev.currency, cases[i].currency);
        }
        analytics_event_clear(&ev);
    }
}

/* Flattens JSON text; the rows as "key|type|value" lines. */
static void flat(const char *json, char *out, size_t cap)
{
    json_error_t err;
    json_t *d = json_loads(json, JSON_DECODE_INT_AS_REAL, &err);
    assert_non_null(d);
    analytics_data_row_t *rows;
    size_t n;
    out[0] = '\0';
    assert_int_equal(analytics_data_flatten(d, &rows, &n), 0);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s|%d|%s\n", rows[i].key, rows[i].data_type,
                              rows[i].string_value ? rows[i].string_value : "NULL");
    analytics_data_free(rows, n);
    json_decref(d);
}

static void test_data_flatten(void **state)
{
    (void)state;
    char out[4096];
    /* Object.entries order: integer keys first, ascending; nested keys joined with '.' */
    flat("{\"b\":1,\"2\":true,\"a\":{\"x\":\"s\",\"10\":false,\"1\":null},\"01\":[1,\"x\",{\"z\":1,"
         "\"3\":2}]}",
         out, sizeof(out));
    assert_string_equal(out, "2|3|true\n"
                             "b|2|1.0000\n"
                             "a.1|5|null\n"
                             "a.10|3|false\n"
                             "a.x|1|s\n"
                             "01|5|[1,\"x\",{\"3\":2,\"z\":1}]\n");
    /* numbers: toFixed(4) rounds half up on the exact value; 1e21 and up print as
     * toString(); arrays use JavaScript's shortest number form */
    flat("{\"a\":0.03125,\"b\":-0.03125,\"c\":1.00005,\"d\":2.5e-7,\"e\":1e21,\"f\":-0.00001,"
         "\"g\":123456789.123456,\"h\":0,\"i\":[0.1,1e21,1.5e-7,100,-0.5,1e300]}",
         out, sizeof(out));
    assert_string_equal(out, "a|2|0.0313\n"
                             "b|2|-0.0313\n"
                             "c|2|1.0001\n"
                             "d|2|0.0000\n"
                             "e|2|1e+21\n"
                             "f|2|-0.0000\n"
                             "g|2|123456789.1235\n"
                             "h|2|0.0000\n"
                             "i|5|[0.1,1e+21,1.5e-7,100,-0.5,1e+300]\n");
    /* dates: Umami's DATETIME_REGEX then toISOString (offsets applied, day overflow
     * rolls over as V8 does); impossible ones stay strings */
    flat("{\"a\":\"2024-01-02T03:04:05Z\",\"b\":\"2024-01-02T03:04:05.123+02:00\","
         "\"c\":\"2024-02-30T00:00:00\",\"d\":\"2024-13-01T00:00:00Z\",\"e\":\"2024-01-02\","
         "\"f\":\"2024-01-02T24:00:00Z\",\"g\":\"2024-01-02T03:04:05-02:00\","
         "\"h\":{\"i\":\"1999-12-31T23:59:59.999Z\"}}",
         out, sizeof(out));
    assert_string_equal(out, "a|4|2024-01-02T03:04:05.000Z\n"
                             "b|4|2024-01-02T01:04:05.123Z\n"
                             "c|4|2024-03-01T00:00:00.000Z\n"
                             "d|1|2024-13-01T00:00:00Z\n"
                             "e|1|2024-01-02\n"
                             "f|4|2024-01-03T00:00:00.000Z\n"
                             "g|1|2024-01-02T03:04:05-02:00\n"
                             "h.i|4|1999-12-31T23:59:59.999Z\n");
    /* strings escape in arrays as JSON.stringify does; empty objects give no rows */
    flat("{\"a\":[\"q\\\"\\\\\\n\\u0001\\u00e9/\"],\"b\":{},\"c\":[]}", out, sizeof(out));
    assert_string_equal(out, "a|5|[\"q\\\"\\\\\\n\\u0001\xc3\xa9/\"]\n"
                             "c|5|[]\n");
}

static void test_data_limits(void **state)
{
    (void)state;
    analytics_data_row_t *rows;
    size_t n;
    /* 600-character string: cut to 500 characters; a 600-character array: NULL */
    json_t *d = json_object();
    char big[601];
    memset(big, 'x', 600);
    big[600] = '\0';
    json_object_set_new(d, "s", json_string(big));
    json_object_set_new(d, "a", json_pack("[s]", big));
    assert_int_equal(analytics_data_flatten(d, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(strlen(rows[0].string_value), 500);
    assert_null(rows[1].string_value);
    analytics_data_free(rows, n);
    json_decref(d);

    /* 101 leaves, or nesting deeper than 8 levels: refused */
    d = json_object();
    for (int i = 0; i < 101; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        json_object_set_new(d, k, json_integer(i));
    }
    assert_int_equal(analytics_data_flatten(d, &rows, &n), -EINVAL);
    assert_null(rows);
    json_object_del(d, "k0");
    assert_int_equal(analytics_data_flatten(d, &rows, &n), 0);
    assert_int_equal(n, 100);
    analytics_data_free(rows, n);
    json_decref(d);
    d = json_loads("{\"1\":{\"2\":{\"3\":{\"4\":{\"5\":{\"6\":{\"7\":{\"8\":{\"9\":1}}}}}}}}}", 0,
                   NULL);
    assert_int_equal(analytics_data_flatten(d, &rows, &n), -EINVAL);
    json_decref(d);
    d = json_loads("{\"1\":{\"2\":{\"3\":{\"4\":{\"5\":{\"6\":{\"7\":{\"8\":1}}}}}}}}", 0, NULL);
    assert_int_equal(analytics_data_flatten(d, &rows, &n), 0);
    assert_string_equal(rows[0].key, "1.2.3.4.5.6.7.8");
    analytics_data_free(rows, n);
    json_decref(d);
    assert_int_equal(analytics_data_flatten(NULL, &rows, &n), 0);
    assert_int_equal(n, 0);
}

static void test_url_helpers(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(analytics_url_param("a=1&b=%ZZ&c&d=x+y%21&a=2", "a", out, sizeof(out)), 1);
    assert_string_equal(out, "1");
    assert_int_equal(analytics_url_param("a=1&b=%ZZ&c&d=x+y%21", "b", out, sizeof(out)), 1);
    assert_string_equal(out, "%ZZ");
    assert_int_equal(analytics_url_param("a=1&b=%ZZ&c&d=x+y%21", "c", out, sizeof(out)), 1);
    assert_string_equal(out, "");
    assert_int_equal(analytics_url_param("a=1&b=%ZZ&c&d=x+y%21", "d", out, sizeof(out)), 1);
    assert_string_equal(out, "x y!");
    assert_int_equal(analytics_url_param("a%5Fb=1", "a_b", out, sizeof(out)), 1);
    assert_int_equal(analytics_url_param("x=%FF", "x", out, sizeof(out)), 1);
    assert_string_equal(out, "\xef\xbf\xbd"); /* invalid UTF-8 -> U+FFFD */
    assert_int_equal(analytics_url_param("", "a", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* several names in one pass: each gets its first value, a missing one "" */
    char o1[16] = "x", o2[16] = "x", o3[16] = "x";
    const char *names[] = {"b", "a", "zz"};
    char *outs[] = {o1, o2, o3};
    assert_int_equal(analytics_url_params("a=1&b=%41&a=2&b=3", names, outs, 3, sizeof(o1)), 2);
    assert_string_equal(o1, "A");
    assert_string_equal(o2, "1");
    assert_string_equal(o3, "");

    analytics_uri_decode("/a%2Fb%20c%3F%23%C3%A9", 0, out, sizeof(out));
    assert_string_equal(out, "/a%2Fb c%3F%23\xc3\xa9");
    analytics_uri_decode("/a%2Fb%20c%3F%23%C3%A9", 1, out, sizeof(out));
    assert_string_equal(out, "/a/b c?#\xc3\xa9");
    analytics_uri_decode("%C3", 1, out, sizeof(out));
    assert_string_equal(out, "%C3");
    analytics_uri_decode("%ED%A0%80", 1, out, sizeof(out)); /* a surrogate: URIError */
    assert_string_equal(out, "%ED%A0%80");
    analytics_uri_decode("a%00b", 1, out, sizeof(out));
    assert_string_equal(out, "a%00b");
    char small[4];
    analytics_uri_decode("ab%C3%A9", 1, small, sizeof(small)); /* "ab" + 2-byte char */
    assert_string_equal(small, "ab");

    /* the parser on its own: absolute without base, file URLs, opaque paths */
    static analytics_url_t u;
    assert_int_equal(analytics_url_parse("/relative", 9, NULL, &u), -EINVAL);
    assert_int_equal(analytics_url_parse("file:///etc/hosts", 17, NULL, &u), 0);
    assert_string_equal(u.host, "");
    assert_string_equal(u.path, "/etc/hosts");
    assert_int_equal(analytics_url_parse("mailto:a@b.c?subject=x", 22, NULL, &u), 0);
    assert_string_equal(u.path, "a@b.c");
    assert_string_equal(u.query, "subject=x");
    assert_int_equal(analytics_url_parse("http://[1:0:0:2::3:0]/", 22, NULL, &u), 0);
    assert_string_equal(u.host, "[1::2:0:0:3:0]");
    assert_int_equal(analytics_url_parse("http://1.2.3.4.5/", 17, NULL, &u), -EINVAL);
    assert_int_equal(analytics_url_parse("http://256.1.1.1/", 17, NULL, &u), -EINVAL);
    assert_int_equal(analytics_url_parse("http://u@/", 10, NULL, &u), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_columns),
        cmocka_unit_test(test_click_ids_and_referrer),
        cmocka_unit_test(test_trailing_slash_and_truncation),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_kinds_and_overrides),
        cmocka_unit_test(test_integers_and_repeats),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_revenue),
        cmocka_unit_test(test_data_flatten),
        cmocka_unit_test(test_data_limits),
        cmocka_unit_test(test_url_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
