/* hc_config: flags, env, NAME_FILE, YAML file and defaults in their precedence, errors
 * that name the flag/variable/line, durations and sizes, and --help with secrets masked. */
#include "core/hc_alloc.h"
#include "core/hc_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const hc_option_t opts[] = {
    {"web", "T_WEB", ":8080", "listen address", 0},
    {"secret", "T_SECRET", "hunter2", "signing key", HC_OPT_SECRET},
    {"manifests", "T_MANIFESTS", NULL, "manifest directory", HC_OPT_MULTI},
    {"debug", "T_DEBUG", "false", "verbose logs", HC_OPT_BOOL},
    {"timeout", "T_TIMEOUT", "30s", "request timeout", 0},
    {"max-body", NULL, "1M", "largest body", 0},
    {"level", "T_LEVEL", "info", "log level", 0},
    HC_OPTION_END,
};

static char tmpdir[64];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hc_config_testXXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd);
}

/* Writes text to tmpdir/name; returns the path (one buffer per name slot). */
static const char *write_file(const char *name, const char *text)
{
    static char paths[4][128];
    static unsigned next;
    char *path = paths[next++ % 4];
    snprintf(path, 128, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_precedence_any_loader_order(void **state)
{
    const char *yaml = write_file("c.yaml", "web: ':1'\nsecret: from-yaml\nlevel: warn\n"
                                            "timeout: 5s\nmanifests: [a, b]\n");
    const char *sfile = write_file("secret", "from-file\n");
    setenv("T_WEB", ":2", 1);
    setenv("T_SECRET_FILE", sfile, 1);
    setenv("T_LEVEL_FILE", sfile, 1);
    setenv("T_LEVEL", "error", 1);
    setenv("T_TIMEOUT", "", 1); /* empty counts as unset */
    char *argv[] = {"--web", ":3", "pos1", "--", "--web", "-x"};
    char err[256] = "";
    for (int order = 0; order < 2; order++) {
        hc_config_t *c = hc_config_new(opts);
        if (order == 0) {
            assert_int_equal(hc_config_parse_args(c, 6, argv, err, sizeof(err)), 0);
            assert_int_equal(hc_config_load_env(c, err, sizeof(err)), 0);
            assert_int_equal(hc_config_load_yaml(c, yaml, err, sizeof(err)), 0);
        } else {
            assert_int_equal(hc_config_load_yaml(c, yaml, err, sizeof(err)), 0);
            assert_int_equal(hc_config_load_env(c, err, sizeof(err)), 0);
            assert_int_equal(hc_config_parse_args(c, 6, argv, err, sizeof(err)), 0);
        }
        assert_string_equal(hc_config_get(c, "web"), ":3");          /* flag */
        assert_string_equal(hc_config_get(c, "level"), "error");     /* env over _FILE */
        assert_string_equal(hc_config_get(c, "secret"), "from-file"); /* _FILE over yaml */
        assert_string_equal(hc_config_get(c, "timeout"), "5s");      /* yaml over default */
        assert_string_equal(hc_config_get(c, "max-body"), "1M");     /* default */
        assert_null(hc_config_get(c, "nope"));
        const char *const *vals;
        assert_int_equal(hc_config_get_all(c, "manifests", &vals), 2);
        assert_string_equal(vals[1], "b");
        size_t n;
        char *const *args = hc_config_args(c, &n);
        assert_int_equal(n, 3);
        assert_string_equal(args[0], "pos1");
        assert_string_equal(args[1], "--web");
        assert_string_equal(args[2], "-x");
        hc_config_free(c);
    }
    unsetenv("T_WEB");
    unsetenv("T_SECRET_FILE");
    unsetenv("T_LEVEL_FILE");
    unsetenv("T_LEVEL");
    unsetenv("T_TIMEOUT");
}

static void test_flag_forms(void **state)
{
    char *argv[] = {"--manifests=a", "-manifests", "b", "--debug", "--timeout=", "-7", "-"};
    char err[256];
    hc_config_t *c = hc_config_new(opts);
    assert_int_equal(hc_config_parse_args(c, 7, argv, err, sizeof(err)), 0);
    const char *const *vals;
    assert_int_equal(hc_config_get_all(c, "manifests", &vals), 2);
    assert_string_equal(vals[0], "a");
    assert_string_equal(vals[1], "b");
    assert_string_equal(hc_config_get(c, "debug"), "true");
    assert_string_equal(hc_config_get(c, "timeout"), "");
    size_t n;
    char *const *args = hc_config_args(c, &n);
    assert_int_equal(n, 2);
    assert_string_equal(args[0], "-7");
    assert_int_equal(hc_config_set(c, "web", ":9"), 0);
    assert_string_equal(hc_config_get(c, "web"), ":9");
    assert_int_equal(hc_config_set(c, "nope", "x"), -EINVAL);
    assert_int_equal(hc_config_get_all(c, "web", &vals), 1);
    hc_config_free(c);

    c = hc_config_new(opts);
    char *help[] = {"--web", ":1", "-h", "--bogus"};
    assert_int_equal(hc_config_parse_args(c, 4, help, err, sizeof(err)), 1);
    assert_int_equal(hc_config_get_all(c, "manifests", &vals), 0);
    hc_config_free(c);
}

static void test_flag_errors_table(void **state)
{
    static const struct {
        const char *arg;
        const char *msg;
    } cases[] = {
        {"--wbe", "unknown flag --wbe (did you mean --web?)"},
        {"--manifest=x", "unknown flag --manifest (did you mean --manifests?)"},
        {"--max", "unknown flag --max (did you mean --max-body?)"},
        {"--zzzzzz", "unknown flag --zzzzzz"},
        {"--level", "flag --level needs a value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        char *argv[] = {(char *)cases[i].arg};
        hc_config_t *c = hc_config_new(opts);
        assert_int_equal(hc_config_parse_args(c, 1, argv, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, cases[i].msg);
        hc_config_free(c);
    }
}

static void test_env_file_errors_and_multi(void **state)
{
    char err[256] = "";
    hc_config_t *c = hc_config_new(opts);
    setenv("T_SECRET_FILE", "/nonexistent/key", 1);
    assert_int_equal(hc_config_load_env(c, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "T_SECRET_FILE=/nonexistent/key: No such file or directory");
    unsetenv("T_SECRET_FILE");
    setenv("T_MANIFESTS", " /a , /b,,", 1);
    assert_int_equal(hc_config_load_env(c, err, sizeof(err)), 0);
    const char *const *vals;
    assert_int_equal(hc_config_get_all(c, "manifests", &vals), 2);
    assert_string_equal(vals[0], "/a");
    assert_string_equal(vals[1], "/b");
    unsetenv("T_MANIFESTS");
    hc_config_free(c);
}

static void test_yaml_errors_name_line_and_key(void **state)
{
    static const struct {
        const char *text;
        int rc;
        const char *msg; /* after "<dir>/e.yaml" */
    } cases[] = {
        {"web: x\nlevl: debug\n", -EINVAL, ":2: unknown key levl (did you mean level?)"},
        {"web: x\nweb2: 1\n", -EINVAL, ":2: unknown key web2 (did you mean web?)"},
        {"\n\nweb: [a, b]\n", -EINVAL, ":3: key \"web\" takes a single scalar value"},
        {"manifests: {a: 1}\n", -EINVAL, ":1: key \"manifests\" takes a scalar or a sequence"},
        {"- web\n", -EINVAL, ":1: expected a mapping"},
        {"web: 1\nweb: 2\n", -EINVAL, ":2:1: duplicate key \"web\""},
        {"a: 1\n---\nb: 2\n", -EINVAL, ": expected one YAML document, found 2"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path = write_file("e.yaml", cases[i].text);
        char err[256] = "", want[300];
        hc_config_t *c = hc_config_new(opts);
        assert_int_equal(hc_config_load_yaml(c, path, err, sizeof(err)), cases[i].rc);
        snprintf(want, sizeof(want), "%s%s", path, cases[i].msg);
        if (strncmp(err, want, strlen(want)))
            fail_msg("case %zu: %s", i, err);
        hc_config_free(c);
    }
    char err[256];
    hc_config_t *c = hc_config_new(opts);
    assert_int_equal(hc_config_load_yaml(c, "/nonexistent.yaml", err, sizeof(err)), -ENOENT);
    const char *path = write_file("ok.yaml", "debug: true\ntimeout: 90\nlevel: ~\nmax-body: 1.5\n");
    assert_int_equal(hc_config_load_yaml(c, path, err, sizeof(err)), 0);
    assert_string_equal(hc_config_get(c, "debug"), "true");
    assert_string_equal(hc_config_get(c, "timeout"), "90");
    assert_string_equal(hc_config_get(c, "level"), "info");
    assert_string_equal(hc_config_get(c, "max-body"), "1.5");
    hc_config_free(c);
}

static void test_parsed_forms_table(void **state)
{
    static const struct {
        const char *dur;
        long long ms; /* -1: invalid */
        const char *size;
        long long bytes;
    } cases[] = {
        {"500ms", 500, "512", 512},       {"30s", 30000, "64k", 65536},
        {"5m", 300000, "10M", 10485760},  {"2h", 7200000, "1G", 1073741824},
        {"14d", 1209600000, "2KiB", 2048}, {"45", 45000, "3mb", 3145728},
        {"1h30m", 5400000, "1T", 1099511627776LL}, {"", -1, "", -1},
        {"5x", -1, "5q", -1},             {"m", -1, "k", -1},
        {"1h30", -1, "-1", -1},           {"99999999999999999999d", -1, "9999999999999T", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        long long v = -7;
        hc_config_t *c = hc_config_new(opts);
        hc_config_set(c, "timeout", cases[i].dur);
        hc_config_set(c, "max-body", cases[i].size);
        int rc = hc_config_get_duration_ms(c, "timeout", &v, err, sizeof(err));
        if (cases[i].ms < 0) {
            assert_int_equal(rc, -EINVAL);
            assert_int_equal(v, -7);
            assert_non_null(strstr(err, "option --timeout: \""));
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(v, cases[i].ms);
        }
        v = -7;
        rc = hc_config_get_size(c, "max-body", &v, err, sizeof(err));
        assert_int_equal(rc, cases[i].bytes < 0 ? -EINVAL : 0);
        assert_int_equal(v, cases[i].bytes < 0 ? -7 : cases[i].bytes);
        hc_config_free(c);
    }
    char err[256];
    hc_config_t *c = hc_config_new(opts);
    int b = -1;
    assert_int_equal(hc_config_get_bool(c, "debug", &b, err, sizeof(err)), 0);
    assert_int_equal(b, 0);
    hc_config_set(c, "debug", "ON");
    assert_int_equal(hc_config_get_bool(c, "debug", &b, err, sizeof(err)), 0);
    assert_int_equal(b, 1);
    long long n = 5;
    assert_int_equal(hc_config_get_int(c, "manifests", &n, err, sizeof(err)), 0); /* unset */
    assert_int_equal(n, 5);
    hc_config_set(c, "secret", "s3cr3t-value");
    assert_int_equal(hc_config_get_int(c, "secret", &n, err, sizeof(err)), -EINVAL);
    assert_null(strstr(err, "s3cr3t"));
    assert_string_equal(err, "option --secret: value is not an integer");
    hc_config_set(c, "level", "12x");
    assert_int_equal(hc_config_get_int(c, "level", &n, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "option --level: \"12x\" is not an integer");
    hc_config_free(c);
}

static void test_help_aligned_and_masked(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    hc_config_t *c = hc_config_new(opts);
    hc_config_set(c, "secret", "live-secret");
    hc_config_help(c, f, "hearth test [flags]", "A test command.");
    fclose(f);
    hc_config_free(c);
    assert_null(strstr(text, "hunter2"));
    assert_null(strstr(text, "live-secret"));
    assert_non_null(strstr(text, "Usage: hearth test [flags]\n\nA test command.\n"));
    const char *web = strstr(text, "  --web VALUE ");
    const char *sec = strstr(text, "  --secret VALUE ");
    const char *dbg = strstr(text, "  --debug ");
    assert_non_null(web);
    assert_non_null(sec);
    assert_non_null(dbg);
    /* columns line up: env names start at the same offset on every line */
    const char *we = strstr(web, "T_WEB"), *se = strstr(sec, "T_SECRET");
    assert_int_equal(we - web, se - sec);
    const char *wd = strstr(web, ":8080"), *sd = strstr(sec, "(secret)");
    assert_non_null(sd);
    assert_int_equal(wd - web, sd - sec);
    assert_non_null(strstr(text, "manifest directory (repeatable)"));
    free(text); /* open_memstream's buffer belongs to libc */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence_any_loader_order),
        cmocka_unit_test(test_flag_forms),
        cmocka_unit_test(test_flag_errors_table),
        cmocka_unit_test(test_env_file_errors_and_multi),
        cmocka_unit_test(test_yaml_errors_name_line_and_key),
        cmocka_unit_test(test_parsed_forms_table),
        cmocka_unit_test(test_help_aligned_and_masked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
