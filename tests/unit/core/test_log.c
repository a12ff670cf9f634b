/* hc_log: JSON lines with typed fields, escaping, levels, the human format. */
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fds[2];

static int setup(void **state)
{
    if (pipe(fds))
        return -1;
    hc_log_set_fd(fds[1]);
    unsetenv("HEARTH_LOG_LEVEL");
    unsetenv("HEARTH_LOG_FORMAT");
    hc_log_setup(HC_LOG_INFO, HC_LOG_FORMAT_JSON);
    return 0;
}

static int teardown(void **state)
{
    hc_log_set_fd(-1);
    close(fds[0]);
    close(fds[1]);
    return 0;
}

/* Reads what the logger wrote so far (one write per line, so one read suffices). */
static char *drain(char *buf, size_t cap)
{
    ssize_t n = read(fds[0], buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_json_line_has_typed_fields(void **state)
{
    char buf[4096];
    hc_log(HC_LOG_WARN, "upstream \"down\"", HC_LS("addr", "10.0.0.1:80"), HC_LI("tries", 3),
           HC_LD("ratio", 0.5), HC_LB("retry", 1), HC_LS("none", NULL), NULL);
    drain(buf, sizeof(buf));
    assert_non_null(strchr(buf, '\n'));
    assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);

    json_error_t err;
    json_t *o = json_loads(buf, 0, &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "upstream \"down\"");
    assert_string_equal(json_string_value(json_object_get(o, "addr")), "10.0.0.1:80");
    assert_int_equal(json_integer_value(json_object_get(o, "tries")), 3);
    assert_true(json_real_value(json_object_get(o, "ratio")) == 0.5);
    assert_true(json_is_true(json_object_get(o, "retry")));
    assert_true(json_is_null(json_object_get(o, "none")));
    const char *t = json_string_value(json_object_get(o, "time"));
    assert_non_null(t);
    assert_int_equal(strlen(t), 24); /* 2026-01-02T03:04:05.678Z */
    json_decref(o);
}

static void test_level_filter(void **state)
{
    char buf[256];
    hc_log(HC_LOG_DEBUG, "hidden", NULL);
    hc_log(HC_LOG_ERROR, "shown", NULL);
    drain(buf, sizeof(buf));
    assert_null(strstr(buf, "hidden"));
    assert_non_null(strstr(buf, "\"shown\""));
    assert_false(hc_log_enabled(HC_LOG_DEBUG));
    assert_true(hc_log_enabled(HC_LOG_INFO));
}

static void test_env_overrides_level_and_format(void **state)
{
    char buf[256];
    setenv("HEARTH_LOG_LEVEL", "debug", 1);
    setenv("HEARTH_LOG_FORMAT", "human", 1);
    hc_log_setup(HC_LOG_ERROR, HC_LOG_FORMAT_JSON);
    hc_log(HC_LOG_DEBUG, "hello", HC_LI("n", 7), NULL);
    drain(buf, sizeof(buf));
    assert_non_null(strstr(buf, "debug hello n=7\n"));
    assert_int_equal(buf[0] >= '0' && buf[0] <= '9', 1);
    unsetenv("HEARTH_LOG_LEVEL");
    unsetenv("HEARTH_LOG_FORMAT");
    hc_log_setup(HC_LOG_INFO, HC_LOG_FORMAT_JSON);
}

/* Whatever the length of a field, a line stays one valid JSON object: a field that does
 * not fit is left out whole and the line says it was truncated (lines near the 16 KiB
 * limit once lost their closing brace). The human format escapes values, so a value
 * with a newline cannot forge a line. */
static void test_long_field_keeps_line_valid(void **state)
{
    static char big[20000];
    char buf[20000];
    for (size_t n = 16250; n < 16350; n += 3) {
        memset(big, 'x', n);
        big[n] = '\0';
        hc_log(HC_LOG_ERROR, "long", HC_LS("big", big), HC_LI("after", 5), NULL);
        drain(buf, sizeof(buf));
        assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);
        json_error_t err;
        json_t *o = json_loads(buf, 0, &err);
        if (!o)
            fail_msg("n %zu: not JSON: %s", n, err.text);
        const char *v = json_string_value(json_object_get(o, "big"));
        assert_true(v ? strlen(v) == n : json_is_true(json_object_get(o, "truncated")));
        json_decref(o);
    }
    memset(big, 'x', sizeof(big) - 1);
    hc_log(HC_LOG_ERROR, "long", HC_LS("big", big), HC_LI("after", 5), NULL);
    drain(buf, sizeof(buf));
    json_t *o = json_loads(buf, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "after")), 5);
    json_decref(o);

    hc_log_setup(HC_LOG_INFO, HC_LOG_FORMAT_HUMAN);
    hc_log(HC_LOG_WARN, "bad path", HC_LS("path", "/a\nINFO forged"), NULL);
    drain(buf, sizeof(buf));
    assert_non_null(strstr(buf, "bad path path=/a\\nINFO forged\n"));
    assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);
    hc_log_setup(HC_LOG_INFO, HC_LOG_FORMAT_JSON);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_line_has_typed_fields),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_env_overrides_level_and_format),
        cmocka_unit_test(test_long_field_keeps_line_valid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
