/* hc_buf: growth, the hard maximum, printf and JSON escaping. */
#include "core/hc_alloc.h"
#include "core/hc_buf.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static void test_append_grows_and_terminates(void **state)
{
    hc_buf_t b;
    hc_buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(hc_buf_append(&b, "abc", 3), 0);
    assert_int_equal(b.len, 3000);
    assert_int_equal(b.base[3000], '\0');
    assert_memory_equal(b.base + 2997, "abc", 3);
    hc_buf_free(&b);
}

static void test_max_is_enforced_and_nothing_partial(void **state)
{
    hc_buf_t b;
    hc_buf_init(&b, 8);
    assert_int_equal(hc_buf_puts(&b, "12345"), 0);
    assert_int_equal(hc_buf_puts(&b, "6789"), -ENOBUFS);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.base, "12345");
    assert_int_equal(hc_buf_printf(&b, "%d", 123), 0);
    assert_string_equal(b.base, "12345123");
    assert_int_equal(hc_buf_printf(&b, "%d", 4), -ENOBUFS);
    assert_string_equal(b.base, "12345123");
    hc_buf_free(&b);
}

static void test_json_escape_table(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"plain", 5, "plain"},
        {"a\"b", 3, "a\\\"b"},
        {"back\\slash", 10, "back\\\\slash"},
        {"nl\n\r\t", 5, "nl\\n\\r\\t"},
        {"\x01\x1f", 2, "\\u0001\\u001f"},
        {"nul\0x", 5, "nul\\u0000x"},
        {"\xc3\xa9t\xc3\xa9", 5, "\xc3\xa9t\xc3\xa9"},
        /* as Go's encoding/json: each ill-formed byte is U+FFFD (a truncated sequence,
           a stray continuation, a surrogate's three bytes), U+2028/9 escaped */
        {"/bad\xff", 5, "/bad\\ufffd"},
        {"\xc3", 1, "\\ufffd"},
        {"a\x80"
         "b",
         3, "a\\ufffdb"},
        {"\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd"},
        {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80"},
        {"l\xe2\x80\xa8p\xe2\x80\xa9", 8, "l\\u2028p\\u2029"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hc_buf_t b;
        hc_buf_init(&b, 0);
        assert_int_equal(hc_buf_json_escape(&b, cases[i].in, cases[i].len), 0);
        assert_string_equal(b.base, cases[i].out);
        hc_buf_free(&b);
    }
}

static void test_json_escape_over_max_leaves_buffer_unchanged(void **state)
{
    hc_buf_t b;
    hc_buf_init(&b, 6);
    assert_int_equal(hc_buf_puts(&b, "ab"), 0);
    assert_int_equal(hc_buf_json_escape(&b, "\n\n\n", 3), -ENOBUFS);
    assert_string_equal(b.base, "ab");
    hc_buf_free(&b);
}

/* Sizes whose len + n + 1 wraps around must fail, with or without a maximum: they
 * once passed the checks, so append "succeeded" and copied SIZE_MAX bytes. */
static void reserve_wraps(hc_buf_t *b)
{
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX - b->len, SIZE_MAX - b->len / 2};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t len = b->len;
        assert_int_equal(hc_buf_reserve(b, sizes[i]), -ENOBUFS);
        assert_int_equal(hc_buf_append(b, "x", sizes[i]), -ENOBUFS);
        assert_int_equal(b->len, len);
    }
}

static void test_reserve_size_overflow(void **state)
{
    static const size_t maxes[] = {0, 8, 4096};
    for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
        hc_buf_t b;
        hc_buf_init(&b, maxes[m]);
        reserve_wraps(&b);
        assert_int_equal(hc_buf_puts(&b, "abc"), 0);
        reserve_wraps(&b);
        assert_string_equal(b.base, "abc");
        hc_buf_free(&b);
    }
}

static void test_consume(void **state)
{
    hc_buf_t b;
    hc_buf_init(&b, 0);
    hc_buf_puts(&b, "hello world");
    hc_buf_consume(&b, 6);
    assert_string_equal(b.base, "world");
    hc_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    hc_buf_free(&b);
}

static void test_utf8_table(void **state)
{
    static const struct {
        const char *s;
        size_t n;
        int ok;
    } cases[] = {
        {"", 0, 1},
        {"hello", 5, 1},
        {"h\xc3\xa9llo", 6, 1},
        {"\xe2\x82\xac", 3, 1},     /* euro sign */
        {"\xf0\x9f\x98\x80", 4, 1}, /* emoji */
        {"\xc3\x28", 2, 0},         /* bad continuation */
        {"\xc0\xaf", 2, 0},         /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},     /* overlong */
        {"\xed\xa0\x80", 3, 0},     /* surrogate */
        {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
        {"\xe2\x82", 2, 0},         /* truncated */
        {"\xff", 1, 0},
        {"a\x00"
         "b",
         3, 1}, /* NUL is valid UTF-8 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(hc_utf8_valid(cases[i].s, cases[i].n), cases[i].ok);
    assert_int_equal(hc_utf8_seq("\xe2\x82\xac!", 4), 3);
    assert_int_equal(hc_utf8_seq("\xe2\x82", 2), 0);
    assert_int_equal(hc_utf8_seq("", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_grows_and_terminates),
        cmocka_unit_test(test_max_is_enforced_and_nothing_partial),
        cmocka_unit_test(test_json_escape_table),
        cmocka_unit_test(test_json_escape_over_max_leaves_buffer_unchanged),
        cmocka_unit_test(test_reserve_size_overflow),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_utf8_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
