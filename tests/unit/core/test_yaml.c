/* hc_yaml: core-schema scalars, documents, anchors and merge keys, positions, errors
 * with lines, limits against alias bombs, and every prefix of an input. */
#include "core/hc_alloc.h"
#include "core/hc_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static hc_yaml_docs_t *parse_ok(const char *s)
{
    hc_yaml_docs_t *d = NULL;
    hc_yaml_error_t err;
    int rc = hc_yaml_parse("t.yaml", s, strlen(s), NULL, &d, &err);
    if (rc)
        fail_msg("parse failed: %d:%d %s", err.line, err.column, err.message);
    return d;
}

static void test_scalars_table(void **state)
{
    static const struct {
        const char *text;
        int type;
        const char *str;
        long long i;
        double d;
    } cases[] = {
        {"~", JSON_NULL},           {"null", JSON_NULL},       {"NULL", JSON_NULL},
        {"", JSON_NULL},            {"true", JSON_TRUE},       {"False", JSON_FALSE},
        {"yes", JSON_STRING, "yes"}, {"on", JSON_STRING, "on"}, {"42", JSON_INTEGER, 0, 42},
        {"-17", JSON_INTEGER, 0, -17}, {"+5", JSON_INTEGER, 0, 5},
        {"0x1F", JSON_INTEGER, 0, 31}, {"0o17", JSON_INTEGER, 0, 15},
        {"017", JSON_INTEGER, 0, 17}, {"1.5", JSON_REAL, 0, 0, 1.5},
        {"-.5e2", JSON_REAL, 0, 0, -50}, {"3.", JSON_REAL, 0, 0, 3},
        {"1e3", JSON_REAL, 0, 0, 1000}, {"99999999999999999999", JSON_REAL, 0, 0, 1e20},
        {"0x", JSON_STRING, "0x"},  {"1.2.3", JSON_STRING, "1.2.3"},
        {"'42'", JSON_STRING, "42"}, {"\"true\"", JSON_STRING, "true"},
        {"!!str 7", JSON_STRING, "7"}, {"! 7", JSON_STRING, "7"},
        {"!!float 2", JSON_REAL, 0, 0, 2}, {"12:30", JSON_STRING, "12:30"},
        {"\"a\\tb\"", JSON_STRING, "a\tb"}, {"8000m", JSON_STRING, "8000m"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char in[64];
        snprintf(in, sizeof(in), "v: %s\n", cases[i].text);
        hc_yaml_docs_t *d = parse_ok(in);
        json_t *v = json_object_get(hc_yaml_get(d, 0), "v");
        if (!v || (int)json_typeof(v) != cases[i].type)
            fail_msg("case %zu (%s): type %d", i, cases[i].text, v ? (int)json_typeof(v) : -1);
        if (cases[i].type == JSON_STRING)
            assert_string_equal(json_string_value(v), cases[i].str);
        if (cases[i].type == JSON_INTEGER)
            assert_int_equal(json_integer_value(v), cases[i].i);
        if (cases[i].type == JSON_REAL)
            assert_true(json_real_value(v) == cases[i].d);
        hc_yaml_free(d);
    }
}

/* The string a test document holds: descends through the first value of mappings and
 * the first item of sequences. */
static json_t *first_leaf(json_t *v)
{
    while (json_is_object(v) || json_is_array(v))
        v = json_is_array(v) ? json_array_get(v, 0)
                             : json_object_iter_value(json_object_iter(v));
    return v;
}

typedef struct {
    const char *in;
    const char *want;
    size_t want_len; /* 0: strlen(want) */
} decode_case_t;

static void check_decoded(const decode_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        hc_yaml_docs_t *d = parse_ok(cases[i].in);
        json_t *v = first_leaf(hc_yaml_get(d, 0));
        size_t len = cases[i].want_len ? cases[i].want_len : strlen(cases[i].want);
        int ok = json_is_string(v) && json_string_length(v) == len &&
                 !memcmp(json_string_value(v), cases[i].want, len);
        size_t got = json_string_length(v);
        hc_yaml_free(d);
        if (!ok)
            fail_msg("case %zu (%s): got %zu bytes, want \"%s\"", i, cases[i].in, got,
                     cases[i].want);
    }
}

/* YAML 1.2.2 §7.3.2: '' is one quote, lines fold as in §6.5. libfyaml 0.7.12 decoded
 * 'x''''y' as x''' and a white-space-only last line as a line feed. */
static void test_single_quoted_table(void **state)
{
    static const decode_case_t cases[] = {
        {"v: 'x''''y'", "x''y"},
        {"v: 'x''''''y'", "x'''y"},
        {"v: '''x'''", "'x'"},
        {"v: ''''''''", "'''"},
        {"v: ''", ""},
        {"v: 'here''s to \"quotes\"'", "here's to \"quotes\""},               /* Ex. 7.7 */
        {"' 1st non-empty\n\n 2nd non-empty \n\t3rd non-empty '",            /* Ex. 7.9 */
         " 1st non-empty\n2nd non-empty 3rd non-empty "},
        {"v: 'a''\n  ''b'", "a' 'b"},
        {"v: 'a \t\n  '", "a "},
        {"v: 'a\n\n  '", "a\n"},
        {"v: 'a\r\n\r\n\r\n  b \\n'", "a\n\nb \\n"},
        {"v: '\n  a'", " a"},
    };
    check_decoded(cases, sizeof(cases) / sizeof(cases[0]));
}

/* §7.3.1 and §5.7. libfyaml 0.7.12 returned garbage for an escape right before a line
 * break, kept white space after an escaped backslash, and turned a white-space-only last
 * line into a line feed. */
static void test_double_quoted_table(void **state)
{
    static const decode_case_t cases[] = {
        {"\"Fun with \\\\\n\\\" \\a \\b \\e \\f\n\\n \\r \\t \\v \\0\n\\  \\_ \\N \\L \\P \\\n"
         "\\x41 \\u0041 \\U00000041\"",                                       /* Ex. 5.13 */
         "Fun with \\ \" \a \b \x1b \f \n \r \t \v \0   \xc2\xa0 \xc2\x85 \xe2\x80\xa8 "
         "\xe2\x80\xa9 A A A", 52},
        {"\"folded \nto a space,\t\n \nto a line feed, or \t\\\n \\ \tnon-content\"", /* 7.5 */
         "folded to a space,\nto a line feed, or \t \tnon-content"},
        {"\" 1st non-empty\n\n 2nd non-empty \n\t3rd non-empty \"",            /* Ex. 7.6 */
         " 1st non-empty\n2nd non-empty 3rd non-empty "},
        {"v: \"\\x41\\u00e9\\U0001F600\\/\\t\\\t\"", "A\xc3\xa9\xf0\x9f\x98\x80/\t\t"},
        {"v: \"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"},  /* a UTF-16 pair, as in JSON */
        {"v: \"a\\ \n  b\"", "a  b"},
        {"v: \"a\\t\n  b\"", "a\t b"},
        {"v: \"a\\\\\t\n  b\"", "a\\ b"},
        {"v: \"a \\\n\n  b\"", "a \nb"},
        {"v: \"a\\n\r\n  \"", "a\n "},
        {"v: \"\\\"\\\"\\\\\\\\\"", "\"\"\\\\"},
    };
    check_decoded(cases, sizeof(cases) / sizeof(cases[0]));
}

/* §8.1 block scalars, mostly the spec's examples. libfyaml 0.7.12 returned "\0" for an
 * empty block scalar at the end of the input, lost a line feed between a more-indented
 * line and an empty line, and added a line break the input does not have. */
static void test_block_scalars_table(void **state)
{
    static const decode_case_t cases[] = {
        {"--- |\n literal\n", "literal\n"},                                  /* Ex. 8.1 */
        {"--- >1\n  folded\n", " folded\n"},
        {"--- |+\n keep\n\n", "keep\n\n"},
        {"--- >1-\n  strip\n", " strip"},
        {"- |\n detected\n", "detected\n"},                                  /* Ex. 8.2 */
        {"- >\n \n  \n  # detected\n", "\n\n# detected\n"},
        {"- |1\n  explicit\n", " explicit\n"},
        {"- >\n \t\n detected\n", "\t\ndetected\n"},
        {"strip: |-\n  text\n", "text"},                                     /* Ex. 8.4 */
        {"clip: |\n  text\n", "text\n"},
        {"keep: |+\n  text\n", "text\n"},
        {"keep: |+\n  # text\n\n # Trail\n  # comments.\n", "# text\n\n"},   /* Ex. 8.5 */
        {"strip: >-\n\n", ""},                                               /* Ex. 8.6 */
        {"clip: >\n\n", ""},
        {"keep: |+\n\n", "\n"},
        {"|\n \n  \n  literal\n   \n  \n  text\n\n # Comment\n",              /* Ex. 8.8 */
         "\n\nliteral\n \n\ntext\n"},
        {">\n\n folded\n line\n\n next\n line\n   * bullet\n\n   * list\n   * lines\n\n"
         " last\n line\n\n# Comment\n",                                      /* Ex. 8.10 */
         "\nfolded line\nnext line\n  * bullet\n\n  * list\n  * lines\n\nlast line\n"},
        {"metadata:\n  annotations:\n    traefik.ingress.kubernetes.io/router.middlewares: >-\n"
         "      default-redirect@kubernetescrd,\n      default-headers@kubernetescrd\n",
         "default-redirect@kubernetescrd, default-headers@kubernetescrd"},
        {"v: |+\n", ""},
        {"v: >\n", ""},
        {"v: >2+\n   b c\n\n  d\n\n  \te\n", " b c\n\nd\n\n\te\n"},
        {"v: |\n  a", "a"},
        {"v: |+\n  a\n\n  ", "a\n\n"},
        {"v: |\r\n  a\r\n  b\r\n", "a\nb\n"},
        {"'k |1 #': |2 # > |\n    x\n", "  x\n"},
        {"v: &a !!str >-\n  a\n  b\n", "a b"},
        {"a:\n  v: |1\n    x\n", " x\n"},
        {"- - |2\n      x\n", "  x\n"},
    };
    check_decoded(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_bad_scalars_table(void **state)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"v: .inf", "cannot be represented"},
        {"v: -.Inf", "cannot be represented"},
        {"v: .nan", "cannot be represented"},
        {"v: !!int abc", "not a valid !!int"},
        {"v: !!bool 1", "not a valid !!bool"},
        {"v: 1e999", "cannot be represented"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hc_yaml_docs_t *d = NULL;
        hc_yaml_error_t err;
        assert_int_equal(hc_yaml_parse("s.yaml", cases[i].text, strlen(cases[i].text), NULL,
                                       &d, &err), -EINVAL);
        assert_null(d);
        assert_non_null(strstr(err.message, cases[i].msg));
        assert_int_equal(err.line, 1);
        assert_int_equal(err.column, 4);
        assert_string_equal(err.file, "s.yaml");
    }
}

static void test_multi_document(void **state)
{
    hc_yaml_docs_t *d = parse_ok("# lead\na: 1\n---\n---\n- x\n- y\n...\n---\nplain\n");
    assert_int_equal(hc_yaml_count(d), 4);
    assert_int_equal(json_integer_value(json_object_get(hc_yaml_get(d, 0), "a")), 1);
    assert_true(json_is_null(hc_yaml_get(d, 1)));
    assert_string_equal(json_string_value(json_array_get(hc_yaml_get(d, 2), 1)), "y");
    assert_string_equal(json_string_value(hc_yaml_get(d, 3)), "plain");
    assert_null(hc_yaml_get(d, 4));
    assert_string_equal(hc_yaml_name(d), "t.yaml");
    hc_yaml_free(d);

    d = parse_ok("");
    assert_int_equal(hc_yaml_count(d), 0);
    hc_yaml_free(d);
}

static void test_anchors_and_merge_keys(void **state)
{
    hc_yaml_docs_t *d = parse_ok("base: &b\n"
                                 "  port: 80\n"
                                 "  host: a\n"
                                 "extra: &e {tls: true, host: e}\n"
                                 "copy: *b\n"
                                 "merged:\n"
                                 "  host: mine\n"
                                 "  <<: [*b, *e]\n"
                                 "list: [&s str, *s]\n");
    json_t *r = hc_yaml_get(d, 0);
    json_t *copy = json_object_get(r, "copy");
    assert_int_equal(json_integer_value(json_object_get(copy, "port")), 80);
    assert_ptr_not_equal(copy, json_object_get(r, "base")); /* a copy, not shared */
    json_t *m = json_object_get(r, "merged");
    assert_string_equal(json_string_value(json_object_get(m, "host")), "mine");
    assert_int_equal(json_integer_value(json_object_get(m, "port")), 80);
    assert_true(json_is_true(json_object_get(m, "tls")));
    assert_int_equal(json_object_size(m), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "list"), 1)), "str");
    /* positions travel with the copy: port of copy is at the anchor's line 2 */
    assert_int_equal(hc_yaml_line_of_key(d, copy, "port", NULL), 2);
    assert_int_equal(hc_yaml_line_of_key(d, m, "tls", NULL), 4);
    hc_yaml_free(d);

    /* an explicit key after the merge replaces the merged value */
    d = parse_ok("a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  x: 9\n");
    json_t *b = json_object_get(hc_yaml_get(d, 0), "b");
    assert_int_equal(json_integer_value(json_object_get(b, "x")), 9);
    assert_int_equal(json_integer_value(json_object_get(b, "y")), 2);
    assert_int_equal(hc_yaml_line_of_key(d, b, "x", NULL), 4);
    hc_yaml_free(d);
}

static void test_positions(void **state)
{
    hc_yaml_docs_t *d = parse_ok("apiVersion: v1\n"
                                 "kind: Secret\n"
                                 "metadata:\n"
                                 "  name: s\n"
                                 "  labels: {a: b}\n"
                                 "data:\n"
                                 "  - one\n"
                                 "  - null\n"
                                 "---\n"
                                 "x: 1\n");
    json_t *r = hc_yaml_get(d, 0);
    int col;
    assert_int_equal(hc_yaml_line_of(d, r, &col), 1);
    assert_int_equal(col, 1);
    json_t *md = json_object_get(r, "metadata");
    assert_int_equal(hc_yaml_line_of_key(d, r, "metadata", NULL), 3);
    assert_int_equal(hc_yaml_line_of(d, md, &col), 4);
    assert_int_equal(col, 3);
    assert_int_equal(hc_yaml_line_of(d, json_object_get(md, "name"), &col), 4);
    assert_int_equal(col, 9);
    assert_int_equal(hc_yaml_line_of_key(d, md, "labels", &col), 5);
    assert_int_equal(col, 3);
    json_t *data = json_object_get(r, "data");
    assert_int_equal(hc_yaml_line_of_index(d, data, 1, &col), 8);
    assert_int_equal(col, 5);
    assert_int_equal(hc_yaml_line_of(d, json_array_get(data, 1), NULL), 0); /* null */
    assert_int_equal(hc_yaml_line_of_key(d, hc_yaml_get(d, 1), "x", NULL), 10);
    assert_int_equal(hc_yaml_line_of_key(d, r, "absent", &col), 0);
    assert_int_equal(col, 0);
    hc_yaml_free(d);
}

static void test_errors_name_the_line(void **state)
{
    static const struct {
        const char *in;
        int rc;
        int line;
        const char *msg;
    } cases[] = {
        {"a: 1\nb: 2\na: 3\n", -EINVAL, 3, "duplicate key \"a\" (first at line 1)"},
        {"a: 1\n1: x\n", -EINVAL, 2, "not a string"},
        {"a: 1\n? [k]\n: v\n", -EINVAL, 2, "not a string"},
        {"a: 1\nnull: x\n", -EINVAL, 2, "not a string"},
        {"a: *nope\n", -EINVAL, 1, "unknown anchor \"nope\""},
        {"a: &x [*x]\n", -EINVAL, 1, "unknown anchor"},
        {"a:\n  b: 1\n c: 2\n", -EINVAL, 3, "indentation"},
        {"a: [1\nb: 2\n", -EINVAL, 3, "closing bracket"},
        {"a: 1\n<<: 5\n", -EINVAL, 2, "merge key"},
        {"x: 1\n---\ny: \"\\x00\"\nz: 1\nz: 2\n", -EINVAL, 5, "duplicate key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hc_yaml_docs_t *d = NULL;
        hc_yaml_error_t err;
        int rc = hc_yaml_parse("e.yaml", cases[i].in, strlen(cases[i].in), NULL, &d, &err);
        if (rc != cases[i].rc || err.line != cases[i].line || !strstr(err.message, cases[i].msg))
            fail_msg("case %zu: rc %d line %d msg %s", i, rc, err.line, err.message);
        assert_null(d);
    }
}

/* Malformed UTF-8 is refused before libfyaml runs: its directive scanner used to loop
 * forever on "%" followed by an invalid byte (found by fuzz_manifest). Well-formed
 * multi-byte text still parses. */
static void test_invalid_utf8_is_refused(void **state)
{
    static const struct {
        const char *in;
        int line, column;
    } bad[] = {
        {"%\xa1", 1, 2},                          /* once an endless loop */
        {"%YAML 1.2\n%\xa1\n---\na: 1\n", 2, 2}, /* the same, on a later line */
        {"\xef\xbb\xbf%FOO \xa1", 1, 7},          /* after a BOM */
        {"a: b\n# \xc3\n", 2, 3},                 /* truncated sequence */
        {"a: \xc0\x80\n", 1, 4},                   /* overlong NUL */
        {"a: \xed\xa0\x80\n", 1, 4},               /* UTF-16 surrogate */
        {"a: \xf4\x90\x80\x80\n", 1, 4},           /* past U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hc_yaml_docs_t *d = NULL;
        hc_yaml_error_t err;
        int rc = hc_yaml_parse("u.yaml", bad[i].in, strlen(bad[i].in), NULL, &d, &err);
        if (rc != -EINVAL || err.line != bad[i].line || err.column != bad[i].column ||
            !strstr(err.message, "UTF-8"))
            fail_msg("case %zu: rc %d at %d:%d %s", i, rc, err.line, err.column, err.message);
        assert_null(d);
    }
    hc_yaml_docs_t *d = parse_ok("\xef\xbb\xbfk: \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"\n");
    assert_string_equal(json_string_value(json_object_get(hc_yaml_get(d, 0), "k")),
                        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    hc_yaml_free(d);
}

static void test_limits_stop_alias_bombs(void **state)
{
    char bomb[2048];
    size_t n = (size_t)snprintf(bomb, sizeof(bomb), "a: &a [\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (char c = 'b'; c <= 'j'; c++)
        n += (size_t)snprintf(bomb + n, sizeof(bomb) - n, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c]\n",
                              c, c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
    hc_yaml_docs_t *d = NULL;
    hc_yaml_error_t err;
    assert_int_equal(hc_yaml_parse("bomb", bomb, n, NULL, &d, &err), -EFBIG);
    assert_non_null(strstr(err.message, "nodes"));
    assert_null(d);

    hc_yaml_limits_t lim;
    hc_yaml_limits_default(&lim);
    lim.max_depth = 3;
    const char *deep = "a: {b: {c: {d: 1}}}\n";
    assert_int_equal(hc_yaml_parse("deep", deep, strlen(deep), &lim, &d, &err), -EFBIG);
    assert_int_equal(err.line, 1);
    const char *viaalias = "a: &x {b: 1}\nc: {d: *x}\n";
    assert_int_equal(hc_yaml_parse("alias", viaalias, strlen(viaalias), &lim, &d, &err), 0);
    hc_yaml_free(d);
    lim.max_depth = 2;
    assert_int_equal(hc_yaml_parse("alias", viaalias, strlen(viaalias), &lim, &d, &err), -EFBIG);
    assert_int_equal(err.line, 2);
    lim.max_input = 4;
    assert_int_equal(hc_yaml_parse("big", "a: 12", 5, &lim, &d, &err), -EFBIG);
}

static void test_every_prefix_parses_or_fails_cleanly(void **state)
{
    static const char doc[] = "apiVersion: v1\nkind: List\nitems:\n  - &i {a: 'q', b: [1, 2]}\n"
                              "  - <<: *i\n    c: \"x\\ny\"\n  - |\n    block\n---\nz: ~\n"
                              "s: 'a''b\n\n  c'\nd: \"\\u00e9 \\\n  \\x41\"\nf: >-\n  x\n\n  y\n";
    size_t n = sizeof(doc) - 1;
    for (size_t len = 0; len <= n; len++) {
        char *copy = hc_memdup(doc, len); /* exact size: an over-read shows under ASan */
        hc_yaml_docs_t *d = NULL;
        int rc = hc_yaml_parse("p", copy, len, NULL, &d, NULL);
        assert_true(rc == 0 || rc == -EINVAL);
        assert_true((rc == 0) == (d != NULL));
        hc_yaml_free(d);
        hc_free(copy);
    }
}

static void test_parse_file(void **state)
{
    char path[] = "/tmp/hc_yaml_testXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "k: v\n", 5), 5);
    close(fd);
    hc_yaml_docs_t *d = NULL;
    hc_yaml_error_t err;
    assert_int_equal(hc_yaml_parse_file(path, NULL, &d, &err), 0);
    assert_string_equal(hc_yaml_name(d), path);
    assert_string_equal(json_string_value(json_object_get(hc_yaml_get(d, 0), "k")), "v");
    hc_yaml_free(d);
    unlink(path);
    assert_int_equal(hc_yaml_parse_file(path, NULL, &d, &err), -ENOENT);
    assert_string_equal(err.file, path);
    assert_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_table),
        cmocka_unit_test(test_single_quoted_table),
        cmocka_unit_test(test_double_quoted_table),
        cmocka_unit_test(test_block_scalars_table),
        cmocka_unit_test(test_bad_scalars_table),
        cmocka_unit_test(test_multi_document),
        cmocka_unit_test(test_anchors_and_merge_keys),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_invalid_utf8_is_refused),
        cmocka_unit_test(test_limits_stop_alias_bombs),
        cmocka_unit_test(test_every_prefix_parses_or_fails_cleanly),
        cmocka_unit_test(test_parse_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
