/* analytics_params: unit raising, filters with operator prefixes, time zones, buckets. */
#include "core/hc_alloc.h"
#include "analytics/analytics_params.h"
#include "core/hc_buf.h"

#include <errno.h>
#include <string.h>

#define MIN_MS 60000LL
#define DAY_MS 86400000LL

static void test_unit_min_table(void **state)
{
    static const struct {
        int64_t span_ms;
        enum analytics_unit want;
    } cases[] = {
        {0, ANALYTICS_UNIT_MINUTE},
        {30 * MIN_MS, ANALYTICS_UNIT_MINUTE},
        {60 * MIN_MS, ANALYTICS_UNIT_MINUTE},
        {61 * MIN_MS, ANALYTICS_UNIT_HOUR},
        {DAY_MS - 1, ANALYTICS_UNIT_HOUR},
        {30 * DAY_MS + DAY_MS - 1, ANALYTICS_UNIT_HOUR}, /* 30 whole days */
        {31 * DAY_MS, ANALYTICS_UNIT_DAY},
        {180 * DAY_MS, ANALYTICS_UNIT_DAY},
        {250 * DAY_MS, ANALYTICS_UNIT_MONTH},
        {700 * DAY_MS, ANALYTICS_UNIT_MONTH},
        {800 * DAY_MS, ANALYTICS_UNIT_YEAR},
    };
    int64_t start = 1767225600000LL; /* 2026-01-01T00:00:00Z */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(analytics_unit_min(start, start + cases[i].span_ms), cases[i].want);
}

static void test_unit_raise_keeps_coarser(void **state)
{
    int64_t s = 1767225600000LL;
    assert_int_equal(analytics_unit_raise(ANALYTICS_UNIT_HOUR, s, s + 90 * DAY_MS),
                     ANALYTICS_UNIT_DAY);
    assert_int_equal(analytics_unit_raise(ANALYTICS_UNIT_MONTH, s, s + 2 * DAY_MS),
                     ANALYTICS_UNIT_MONTH);
    assert_int_equal(analytics_unit_raise(ANALYTICS_UNIT_MINUTE, s, s + 10 * MIN_MS),
                     ANALYTICS_UNIT_MINUTE);
    enum analytics_unit u;
    assert_int_equal(analytics_unit_parse("day", 3, &u), 0);
    assert_int_equal(u, ANALYTICS_UNIT_DAY);
    assert_int_equal(analytics_unit_parse("days", 4, &u), -EINVAL);
    assert_int_equal(analytics_unit_parse("", 0, &u), -EINVAL);
    assert_string_equal(analytics_unit_name(ANALYTICS_UNIT_YEAR), "year");
}

static void test_filter_prefixes(void **state)
{
    static const struct {
        const char *raw;
        int rc;
        enum analytics_op op;
        const char *value;
    } cases[] = {
        {"plain", 0, ANALYTICS_OP_EQ, "plain"},
        {"eq.%2Fpricing", 0, ANALYTICS_OP_EQ, "/pricing"},
        {"neq.Chrome", 0, ANALYTICS_OP_NEQ, "Chrome"},
        {"c.blog", 0, ANALYTICS_OP_CONTAINS, "blog"},
        {"dnc.a+b", 0, ANALYTICS_OP_NOT_CONTAINS, "a b"},
        {"re.%5E%2Fdocs", 0, ANALYTICS_OP_REGEX, "^/docs"},
        {"nre.x", 0, ANALYTICS_OP_NOT_REGEX, "x"},
        {"eq.", 0, ANALYTICS_OP_EQ, ""},
        {"cx.y", 0, ANALYTICS_OP_EQ, "cx.y"},
        {"%zz", -EINVAL, 0, NULL},
        {"a%2", -EINVAL, 0, NULL},
        {"a%00b", -EINVAL, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        analytics_filter_t f;
        int rc = analytics_filter_parse(cases[i].raw, strlen(cases[i].raw), &f);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            assert_int_equal(f.op, cases[i].op);
            assert_string_equal(f.value, cases[i].value);
        }
    }
    char big[ANALYTICS_FILTER_MAX + 10];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    analytics_filter_t f;
    assert_int_equal(analytics_filter_parse(big, strlen(big), &f), -E2BIG);
}

static void test_fields(void **state)
{
    int i = analytics_field_find("path", 4);
    assert_true(i >= 0);
    assert_string_equal(analytics_fields[i].column, "url_path");
    assert_false(analytics_fields[i].on_session);
    i = analytics_field_find("utmSource", 9);
    assert_string_equal(analytics_fields[i].column, "utm_source");
    i = analytics_field_find("country", 7);
    assert_true(analytics_fields[i].on_session);
    assert_int_equal(analytics_field_find("url", 3), -1);
    assert_int_equal(analytics_field_find("pathx", 5), -1);
}

static void test_tz_offsets(void **state)
{
    analytics_tz_t *tz;
    assert_int_equal(analytics_tz_load(NULL, "Europe/Berlin", &tz), 0);
    assert_int_equal(analytics_tz_offset(tz, 1768478400), 3600); /* 2026-01-15 */
    assert_int_equal(analytics_tz_offset(tz, 1784116800), 7200); /* 2026-07-15 */
    assert_true(analytics_tz_whole_hours(tz, 1768478400, 1784116800));
    analytics_tz_free(tz);

    assert_int_equal(analytics_tz_load(NULL, "Asia/Kolkata", &tz), 0);
    assert_int_equal(analytics_tz_offset(tz, 1768478400), 19800);
    assert_false(analytics_tz_whole_hours(tz, 1768478400, 1784116800));
    analytics_tz_free(tz);

    assert_int_equal(analytics_tz_load(NULL, "America/New_York", &tz), 0);
    assert_int_equal(analytics_tz_offset(tz, 1768478400), -18000);
    analytics_tz_free(tz);

    assert_int_equal(analytics_tz_load(NULL, "UTC", &tz), 0);
    assert_true(tz->is_utc);
    assert_int_equal(analytics_tz_offset(tz, 1768478400), 0);
    analytics_tz_free(tz);
    assert_int_equal(analytics_tz_offset(NULL, 1768478400), 0);

    assert_int_equal(analytics_tz_load(NULL, "../../etc/passwd", &tz), -EINVAL);
    assert_null(tz);
    assert_int_equal(analytics_tz_load(NULL, "/etc/passwd", &tz), -EINVAL);
    assert_int_equal(analytics_tz_load(NULL, "Europe/Berlin;rm", &tz), -EINVAL);
    assert_int_equal(analytics_tz_load(NULL, "Nowhere/City", &tz), -ENOENT);
    /* a directory or a non-TZif file is refused, not trusted */
    assert_int_equal(analytics_tz_load(NULL, "Europe", &tz), -EBADMSG);
    assert_int_equal(analytics_tz_load(NULL, "zone.tab", &tz), -EINVAL);
}

static void test_buckets(void **state)
{
    analytics_tz_t *tz;
    char label[32];
    assert_int_equal(analytics_tz_load(NULL, "Europe/Berlin", &tz), 0);
    /* 01:30Z on July 15 is 03:30 local: the local day started at 22:00Z on July 14 */
    int64_t b = analytics_bucket_start(ANALYTICS_UNIT_DAY, tz, 1784079000);
    assert_int_equal(b, 1784066400);
    analytics_bucket_label(tz, b, label, sizeof(label));
    assert_string_equal(label, "2026-07-15 00:00:00");
    /* 23:30Z on March 31 is April 1 local: the month starts 2026-03-31T22:00Z */
    b = analytics_bucket_start(ANALYTICS_UNIT_MONTH, tz, 1774999800);
    assert_int_equal(b, 1774994400);
    assert_int_equal(analytics_bucket_next(ANALYTICS_UNIT_MONTH, tz, b), 1777586400);
    /* the DST day (March 29) has 23 hours */
    b = analytics_bucket_start(ANALYTICS_UNIT_DAY, tz, 1774785600);
    assert_int_equal(b, 1774738800);
    assert_int_equal(analytics_bucket_next(ANALYTICS_UNIT_DAY, tz, b), 1774821600);
    analytics_tz_free(tz);

    b = analytics_bucket_start(ANALYTICS_UNIT_HOUR, NULL, 1779021296);
    assert_int_equal(b, 1779019200);
    analytics_bucket_label(NULL, b, label, sizeof(label));
    assert_string_equal(label, "2026-05-17T12:00:00Z");
    b = analytics_bucket_start(ANALYTICS_UNIT_MINUTE, NULL, 1779021296);
    analytics_bucket_label(NULL, b, label, sizeof(label));
    assert_string_equal(label, "2026-05-17T12:34:00Z");
    b = analytics_bucket_start(ANALYTICS_UNIT_YEAR, NULL, 1779021296);
    analytics_bucket_label(NULL, b, label, sizeof(label));
    assert_string_equal(label, "2026-01-01T00:00:00Z");
    assert_int_equal(analytics_bucket_next(ANALYTICS_UNIT_YEAR, NULL, b), 1798761600);
    analytics_label_local(1779019200, 0, label, sizeof(label));
    assert_string_equal(label, "2026-05-17 12:00:00");
}

static void test_url_decode_bounds(void **state)
{
    char out[4];
    assert_int_equal(hc_url_decode("abc", 3, out, sizeof(out), 1), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(hc_url_decode("abcd", 4, out, sizeof(out), 1), -E2BIG);
    assert_int_equal(hc_url_decode("%41", 3, out, sizeof(out), 1), 1);
    assert_string_equal(out, "A");
    /* a value ending in a cut escape must not read past n */
    assert_int_equal(hc_url_decode("%4", 2, out, sizeof(out), 1), -EINVAL);
    assert_int_equal(hc_url_decode("%", 1, out, sizeof(out), 1), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unit_min_table),    cmocka_unit_test(test_unit_raise_keeps_coarser),
        cmocka_unit_test(test_filter_prefixes),   cmocka_unit_test(test_fields),
        cmocka_unit_test(test_tz_offsets),        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_url_decode_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
