/* Unit tests for analytics_json, the in-place reader of /api/send bodies: what it accepts
 * and refuses, each case also put to jansson's json_loadb(JSON_DECODE_INT_AS_REAL) so
 * the two agree (strings, escapes, surrogates, UTF-8, numbers, literals, nesting depth,
 * trailing bytes), decoded strings and numbers, members in order with repeats, count()
 * leaving the text as it was, and every prefix of valid documents read against a guard
 * page so an over-read crashes. */
#include "analytics/analytics_json.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

enum { ROOM_PAGES = 4 }; /* room before the guard page: the deepest documents fit */

static char *guard_page;
static size_t page_size;

static int group_setup(void **state)
{
    (void)state;
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    guard_page = mmap(NULL, (ROOM_PAGES + 1) * page_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_page == MAP_FAILED)
        return -1;
    return mprotect(guard_page + ROOM_PAGES * page_size, page_size, PROT_NONE);
}

static int group_teardown(void **state)
{
    (void)state;
    return munmap(guard_page, (ROOM_PAGES + 1) * page_size);
}

/* A copy of doc[0..n) whose last byte sits just before an unmapped page. */
static char *at_guard(const char *doc, size_t n)
{
    assert_true(n <= ROOM_PAGES * page_size);
    memcpy(guard_page + ROOM_PAGES * page_size - n, doc, n);
    return guard_page + ROOM_PAGES * page_size - n;
}

/* Walks every member of the container it walks, entering nested ones. Returns 0 or
 * -EINVAL. */
static int walk(analytics_json_iter_t *it)
{
    analytics_json_value_t key, val;
    int rc;
    while ((rc = analytics_json_next(it, &key, &val)) == 1) {
        if (val.type == ANALYTICS_JSON_OBJECT || val.type == ANALYTICS_JSON_ARRAY) {
            analytics_json_iter_t in;
            analytics_json_enter(&in, &val);
            if (walk(&in) < 0)
                return -EINVAL;
        }
    }
    return rc;
}

/* Reads doc[0..n) whole (against the guard page). Returns 0 or -EINVAL. */
static int read_all(const char *doc, size_t n)
{
    analytics_json_iter_t it;
    analytics_json_type_t type;
    char *p = at_guard(doc, n);
    if (analytics_json_open(&it, p, n, &type) < 0)
        return -EINVAL;
    return walk(&it);
}

static int jansson_accepts(const char *doc, size_t n)
{
    json_t *j = json_loadb(doc, n, JSON_DECODE_INT_AS_REAL, NULL);
    json_decref(j);
    return j != NULL;
}

#define DOC(s)                                                                                     \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }

static void test_accepts_as_jansson(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        size_t len;
    } ok[] = {
        DOC("{}"),
        DOC("[]"),
        DOC(" \t\r\n{ } \n"),
        DOC("{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}"),
        DOC("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"),
        DOC("[\"\\u00e9\\u20AC\\ud83d\\ude00\\uD834\\uDD1E\"]"),
        DOC("[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\x7f\"]"),
        DOC("[0,-0,1,-1,0.5,-0.5e-3,1E5,1e+5,1e-5,123456789012345678901234567890]"),
        DOC("[1e-400,-1e-400,1.7976931348623157e308]"),
        DOC("{\"a\":1,\"a\":2}"),
        DOC("[[[[[]]]],{\"\":{}}]"),
    };
    static const struct {
        const char *doc;
        size_t len;
    } bad[] = {
        DOC(""),
        DOC("   "),
        DOC("1"),
        DOC("\"a\""),
        DOC("null"),
        DOC("{} x"),
        DOC("{}{}"),
        DOC("[1]]"),
        DOC("{"),
        DOC("[1,]"),
        DOC("{\"a\":1,}"),
        DOC("{,}"),
        DOC("[,1]"),
        DOC("{\"a\" 1}"),
        DOC("{a:1}"),
        DOC("{1:1}"),
        DOC("[1 2]"),
        DOC("['a']"),
        DOC("[\"a\\u0000b\"]"),
        DOC("{\"\\u0000\":1}"),
        DOC("[\"a\x01\"]"),
        DOC("[\"a\nb\"]"),
        DOC("[\"a\x1f\"]"),
        DOC("[\"\\x\"]"),
        DOC("[\"\\u12\"]"),
        DOC("[\"\\u12g4\"]"),
        DOC("[\"\\ud800\"]"),
        DOC("[\"\\ud800x\"]"),
        DOC("[\"\\ud800\\u0041\"]"),
        DOC("[\"\\ud800\\ud800\"]"),
        DOC("[\"\\udc00\\ud800\"]"),
        DOC("[\"\\udfff\"]"),
        DOC("[\"\xc0\xaf\"]"),         /* overlong '/' */
        DOC("[\"\xe0\x80\xaf\"]"),     /* overlong */
        DOC("[\"\xed\xa0\x80\"]"),     /* a surrogate in UTF-8 */
        DOC("[\"\xf4\x90\x80\x80\"]"), /* past U+10FFFF */
        DOC("[\"\xf5\x80\x80\x80\"]"),
        DOC("[\"\xff\"]"),
        DOC("[\"\x80\"]"),
        DOC("[\"\xc3\"]"), /* cut short */
        DOC("[\"\xe2\x82\"]"),
        DOC("[\"\xc3\x28\"]"),
        DOC("[\"a"),
        DOC("[\"a\\"),
        DOC("[\xc3\xa9]"),
        DOC("\xef\xbb\xbf{}"), /* a byte order mark */
        DOC("[01]"),
        DOC("[-01]"),
        DOC("[00]"),
        DOC("[1.]"),
        DOC("[.5]"),
        DOC("[1.e5]"),
        DOC("[1e]"),
        DOC("[1e+]"),
        DOC("[-]"),
        DOC("[+1]"),
        DOC("[--1]"),
        DOC("[0x10]"),
        DOC("[1e400]"),
        DOC("[-1e400]"),
        DOC("[1.5.3]"),
        DOC("[Infinity]"),
        DOC("[NaN]"),
        DOC("[tru]"),
        DOC("[truex]"),
        DOC("[nul]"),
        DOC("[True]"),
        DOC("[1"),
        DOC("[1\0]"), /* jansson drops one NUL after a number: an accident, refused here */
        DOC("{\"a\":1}\0"),
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (read_all(ok[i].doc, ok[i].len) != 0)
            fail_msg("ok case %zu refused", i);
        assert_true(jansson_accepts(ok[i].doc, ok[i].len));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (read_all(bad[i].doc, bad[i].len) != -EINVAL)
            fail_msg("bad case %zu accepted", i);
        if (jansson_accepts(bad[i].doc, bad[i].len) && !memchr(bad[i].doc, 0, bad[i].len))
            fail_msg("bad case %zu: jansson accepts it", i);
    }
    /* the empty document may come as NULL */
    analytics_json_iter_t it;
    analytics_json_type_t type;
    assert_int_equal(analytics_json_open(&it, NULL, 0, &type), -EINVAL);
    assert_string_equal(it.error, "'[' or '{' expected");
}

static void test_strings_decoded_in_place(void **state)
{
    (void)state;
    static const struct {
        const char *json, *value;
        size_t len;
    } cases[] = {
        {"[\"plain\"]", "plain", 5},
        {"[\"\"]", "", 0},
        {"[\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\"]", "q\"b\\s/\b\f\n\r\t", 11},
        {"[\"\\u0041\\u00e9\\u20ac\"]", "A\xc3\xa9\xe2\x82\xac", 6},
        {"[\"\\ud83d\\ude00x\"]", "\xf0\x9f\x98\x80x", 5},
        {"[\"caf\xc3\xa9 \\u00e9\"]", "caf\xc3\xa9 \xc3\xa9", 8},
        {"[\"\\uFFFF\\u0080\\u07FF\\u0800\"]", "\xef\xbf\xbf\xc2\x80\xdf\xbf\xe0\xa0\x80", 10},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];
        size_t n = strlen(cases[i].json);
        memcpy(buf, cases[i].json, n);
        analytics_json_iter_t it;
        analytics_json_type_t type;
        analytics_json_value_t v;
        assert_int_equal(analytics_json_open(&it, buf, n, &type), 0);
        assert_int_equal(type, ANALYTICS_JSON_ARRAY);
        assert_int_equal(analytics_json_next(&it, NULL, &v), 1);
        assert_int_equal(v.type, ANALYTICS_JSON_STRING);
        assert_int_equal(v.len, cases[i].len);
        assert_memory_equal(v.s, cases[i].value, v.len);
        assert_int_equal(v.s[v.len], '\0');
        assert_true(v.s == buf + 2); /* in place */
        assert_int_equal(analytics_json_next(&it, NULL, &v), 0);
        assert_int_equal(analytics_json_next(&it, NULL, &v), 0); /* stays ended */
    }
}

static void test_numbers(void **state)
{
    (void)state;
    char doc[] = "[0,-0,42,-7,0.1,2.5e-3,1E3,123456789012345,1234567890123456789,"
                 "9007199254740993,1e-400,1.7976931348623157e308]";
    const double want[] = {0,
                           -0.0,
                           42,
                           -7,
                           0.1,
                           2.5e-3,
                           1e3,
                           123456789012345.0,
                           1234567890123456789.0,
                           9007199254740992.0,
                           0,
                           1.7976931348623157e308};
    analytics_json_iter_t it;
    analytics_json_type_t type;
    analytics_json_value_t v;
    assert_int_equal(analytics_json_open(&it, doc, strlen(doc), &type), 0);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(analytics_json_next(&it, NULL, &v), 1);
        assert_int_equal(v.type, ANALYTICS_JSON_NUMBER);
        if (v.num != want[i] || signbit(v.num) != signbit(want[i]))
            fail_msg("number %zu: %.17g, wanted %.17g", i, v.num, want[i]);
    }
    assert_int_equal(analytics_json_next(&it, NULL, &v), 0);

    char big[] = "{\"n\":1e400}";
    assert_int_equal(analytics_json_open(&it, big, strlen(big), &type), 0);
    assert_int_equal(analytics_json_next(&it, NULL, &v), -EINVAL);
    assert_string_equal(it.error, "real number overflow");
    assert_int_equal(it.error_at, 5);
}

static void test_members_and_containers(void **state)
{
    (void)state;
    char doc[] = "{\"a\":1,\"k\\u00e9\":[1,{\"x\":\"\\n\"}],\"a\":true,\"o\":{}}";
    analytics_json_iter_t it, in;
    analytics_json_type_t type;
    analytics_json_value_t k, v;
    assert_int_equal(analytics_json_open(&it, doc, strlen(doc), &type), 0);
    assert_int_equal(type, ANALYTICS_JSON_OBJECT);
    assert_int_equal(analytics_json_next(&it, &k, &v), 1);
    assert_string_equal(k.s, "a");
    assert_true(v.type == ANALYTICS_JSON_NUMBER && v.num == 1);
    assert_int_equal(analytics_json_next(&it, &k, &v), 1);
    assert_string_equal(k.s, "k\xc3\xa9");
    assert_int_equal(v.type, ANALYTICS_JSON_ARRAY);
    assert_int_equal(v.depth, 2);
    /* a container comes as its text, untouched until it is walked */
    assert_int_equal(v.len, strlen("[1,{\"x\":\"\\n\"}]"));
    assert_memory_equal(v.s, "[1,{\"x\":\"\\n\"}]", v.len);
    analytics_json_enter(&in, &v);
    analytics_json_value_t e;
    assert_int_equal(analytics_json_next(&in, NULL, &e), 1);
    assert_int_equal(analytics_json_next(&in, NULL, &e), 1);
    assert_int_equal(e.type, ANALYTICS_JSON_OBJECT);
    assert_int_equal(e.depth, 3);
    assert_int_equal(analytics_json_next(&in, NULL, &e), 0);
    /* a repeated key comes again: the caller keeps the last, as JSON.parse does */
    assert_int_equal(analytics_json_next(&it, &k, &v), 1);
    assert_string_equal(k.s, "a");
    assert_int_equal(v.type, ANALYTICS_JSON_TRUE);
    assert_int_equal(analytics_json_next(&it, &k, &v), 1);
    assert_int_equal(v.type, ANALYTICS_JSON_OBJECT);
    assert_int_equal(v.len, 2);
    assert_int_equal(analytics_json_next(&it, &k, &v), 0);
}

static void test_next_into(void **state)
{
    (void)state;
    char doc[] = "{\"o\":{\"x\":\"y\",\"n\":[1]},\"p\":{\"z\":{}},\"s\":\"t\"}";
    analytics_json_iter_t it, in;
    analytics_json_type_t type;
    analytics_json_value_t k, v, ik, iv;
    assert_int_equal(analytics_json_open(&it, doc, strlen(doc), &type), 0);
    /* an object comes unread, with a walk over it that the caller reads in the same pass */
    assert_int_equal(analytics_json_next_into(&it, &k, &v, &in), 1);
    assert_string_equal(k.s, "o");
    assert_int_equal(v.type, ANALYTICS_JSON_OBJECT);
    assert_int_equal(v.depth, 2);
    assert_int_equal(analytics_json_next(&in, &ik, &iv), 1);
    assert_string_equal(ik.s, "x");
    assert_string_equal(iv.s, "y");
    assert_int_equal(analytics_json_next(&in, &ik, &iv), 1);
    assert_int_equal(iv.type, ANALYTICS_JSON_ARRAY);
    assert_int_equal(analytics_json_next(&in, &ik, &iv), 0);
    /* one left unread is read past by the next call; a string comes as it always does */
    assert_int_equal(analytics_json_next_into(&it, &k, &v, &in), 1);
    assert_string_equal(k.s, "p");
    assert_int_equal(analytics_json_next_into(&it, &k, &v, &in), 1);
    assert_string_equal(k.s, "s");
    assert_string_equal(v.s, "t");
    assert_int_equal(analytics_json_next_into(&it, &k, &v, &in), 0);
    /* an error in an object left unread comes from the outer walk, at its own offset */
    char bad[] = "{\"p\":{\"z\":[1,]},\"s\":1}";
    assert_int_equal(analytics_json_open(&it, bad, strlen(bad), &type), 0);
    assert_int_equal(analytics_json_next_into(&it, &k, &v, &in), 1);
    assert_int_equal(analytics_json_next_into(&it, &k, &v, &in), -EINVAL);
    assert_string_equal(it.error, "invalid token");
    assert_int_equal(it.error_at, 13);
    /* and one the caller reads fails there, at the same offset */
    char bad2[] = "{\"p\":{\"z\":[1,]},\"s\":1}";
    assert_int_equal(analytics_json_open(&it, bad2, strlen(bad2), &type), 0);
    assert_int_equal(analytics_json_next_into(&it, &k, &v, &in), 1);
    assert_int_equal(analytics_json_next(&in, &ik, &iv), -EINVAL);
    assert_int_equal(in.error_at, 13);
    assert_int_equal(analytics_json_next_into(&it, &k, &v, &in), -EINVAL);
    assert_int_equal(it.error_at, 13);
}

static void test_count_leaves_text(void **state)
{
    (void)state;
    const char orig[] = " [1,\"a\\u00e9\\n\",{\"k\\\"\":[\"\\/\"]},[],null] ";
    char doc[sizeof(orig)];
    memcpy(doc, orig, sizeof(orig));
    analytics_json_iter_t it;
    analytics_json_type_t type;
    size_t n;
    assert_int_equal(analytics_json_open(&it, doc, sizeof(orig) - 1, &type), 0);
    assert_int_equal(analytics_json_count(&it, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(doc, orig, sizeof(orig));
    /* opened again, the same members; trailing garbage is found by count too */
    char bad[] = "[1,2] ,";
    assert_int_equal(analytics_json_open(&it, bad, strlen(bad), &type), 0);
    assert_int_equal(analytics_json_count(&it, &n), -EINVAL);
    assert_string_equal(it.error, "end of file expected");
    assert_int_equal(it.error_at, 6);
}

/* n nested arrays, with a scalar in the innermost when scalar is set. */
static size_t nested(char *buf, size_t n, int scalar)
{
    memset(buf, '[', n);
    size_t len = n;
    if (scalar)
        buf[len++] = '1';
    memset(buf + len, ']', n);
    return len + n;
}

static void test_depth_limit(void **state)
{
    (void)state;
    char *buf = malloc(2 * ANALYTICS_JSON_DEPTH_MAX + 8);
    /* jansson's count: the top level is 1, and a scalar is a level too */
    static const struct {
        size_t arrays;
        int scalar, ok;
    } cases[] = {
        {ANALYTICS_JSON_DEPTH_MAX, 0, 1},
        {ANALYTICS_JSON_DEPTH_MAX + 1, 0, 0},
        {ANALYTICS_JSON_DEPTH_MAX - 1, 1, 1},
        {ANALYTICS_JSON_DEPTH_MAX, 1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = nested(buf, cases[i].arrays, cases[i].scalar);
        assert_int_equal(jansson_accepts(buf, n), cases[i].ok);
        /* whole, and walked level by level */
        analytics_json_iter_t it;
        analytics_json_type_t type;
        size_t count;
        assert_int_equal(analytics_json_open(&it, buf, n, &type), 0);
        assert_int_equal(analytics_json_count(&it, &count), cases[i].ok ? 0 : -EINVAL);
        assert_int_equal(read_all(buf, n), cases[i].ok ? 0 : -EINVAL);
    }
    free(buf);
    /* objects count the same */
    char *obj = malloc(6 * ANALYTICS_JSON_DEPTH_MAX + 8);
    for (int extra = 0; extra < 2; extra++) {
        size_t len = 0, levels = ANALYTICS_JSON_DEPTH_MAX - 1 + (size_t)extra;
        for (size_t i = 0; i < levels; i++) {
            memcpy(obj + len, "{\"a\":", 5);
            len += 5;
        }
        obj[len++] = '1';
        memset(obj + len, '}', levels);
        len += levels;
        assert_int_equal(jansson_accepts(obj, len), !extra);
        assert_int_equal(read_all(obj, len), extra ? -EINVAL : 0);
    }
    free(obj);
}

static void test_prefixes_against_guard_page(void **state)
{
    (void)state;
    static const char *docs[] = {
        "{\"type\":\"event\",\"payload\":{\"website\":\"94db1cb1-74f4-4a40-ad6c-962362670409\","
        "\"url\":\"/a\\u00e9\\ud83d\\ude00\",\"n\":-12.5e-3,\"ok\":true,\"no\":false,"
        "\"z\":null,\"data\":{\"k\":[1,\"\xc3\xa9\",{}]}}}",
        "[{\"a\":[]},[[\"x\"]],0,\"\\\"\"]",
    };
    for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
        size_t n = strlen(docs[d]);
        for (size_t cut = 0; cut < n; cut++) {
            if (read_all(docs[d], cut) != -EINVAL)
                fail_msg("doc %zu cut at %zu accepted", d, cut);
            analytics_json_iter_t it;
            analytics_json_type_t type;
            size_t count;
            char *p = at_guard(docs[d], cut);
            if (analytics_json_open(&it, p, cut, &type) == 0)
                assert_int_equal(analytics_json_count(&it, &count), -EINVAL);
        }
        assert_int_equal(read_all(docs[d], n), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_as_jansson),
        cmocka_unit_test(test_strings_decoded_in_place),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_members_and_containers),
        cmocka_unit_test(test_next_into),
        cmocka_unit_test(test_count_leaves_text),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_prefixes_against_guard_page),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
