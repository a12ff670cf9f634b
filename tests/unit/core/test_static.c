/* hc_static over tests/unit/assets (embedded by scripts/embed.py): variant choice by
 * Accept-Encoding, compressed bodies that decode back, ETags and 304, HEAD, methods,
 * path mapping and cache policy, plus registration errors on hand-written tables. */
#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_static.h"

#include <brotli/decode.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

extern const hc_static_table_t test_assets;

static hc_static_t *st;

static int setup(void **state)
{
    return hc_static_new(&test_assets, NULL, &st);
}

static int teardown(void **state)
{
    hc_static_free(st);
    return 0;
}

static void respond(const hc_static_t *s, const char *method, const char *path, const char *ae,
                    const char *inm, hc_static_response_t *res)
{
    hc_static_request_t req = {method, path, ae, inm};
    hc_static_respond(s, &req, res);
}

static const char *header(const hc_static_response_t *res, const char *name)
{
    return hc_static_header(res, name);
}

static void test_embedded_table(void **state)
{
    assert_int_equal(test_assets.count, 6); /* .hidden is skipped */
    const hc_static_asset_t *a = hc_static_find(st, "docs/read me.txt");
    assert_non_null(a);
    assert_string_equal(a->content_type, "text/plain; charset=utf-8");
    assert_int_equal(a->len, 144);
    assert_memory_equal(a->data, "spaces in names", 15);
    assert_string_equal(hc_static_find(st, "logo.png")->content_type, "image/png");
    assert_string_equal(hc_static_find(st, "app.3f9a1c2e.js")->content_type,
                        "text/javascript; charset=utf-8");
    assert_null(hc_static_find(st, ".hidden"));
    assert_null(hc_static_find(st, "/index.html"));
}

static void test_accept_encoding_table(void **state)
{
    static const struct {
        const char *ae;
        int status;
        const char *coding; /* NULL = identity */
    } cases[] = {
        {NULL, 200, NULL},
        {"", 200, NULL},
        {"gzip", 200, "gzip"},
        {"gzip, br", 200, "br"},
        {"gzip, deflate, br, zstd", 200, "br"},
        {"br;q=0, gzip", 200, "gzip"},
        {"br; q=0 , gzip", 200, "gzip"},
        {"br;q=0.5, gzip;q=1", 200, "br"},
        {"br;q=0.001", 200, "br"},
        {"br;q=0.000, gzip;q=0", 200, NULL},
        {"*", 200, "br"},
        {"*, br;q=0", 200, "gzip"},
        {"*;q=0", 406, NULL},
        {"identity;q=0", 406, NULL},
        {"identity;q=0, gzip", 200, "gzip"},
        {"*;q=0, identity", 200, NULL},
        {"x-gzip", 200, "gzip"},
        {"GZIP", 200, "gzip"},
        {"deflate", 200, NULL},
        {"gzip;q=2", 200, NULL},
        {"gzip;q=0.5x", 200, NULL},
        {"gzip;level=1;q=0.2", 200, "gzip"},
        {",,, ,br", 200, "br"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hc_static_response_t res;
        respond(st, "GET", "/index.html", cases[i].ae, NULL, &res);
        assert_int_equal(res.status, cases[i].status);
        assert_string_equal(header(&res, "Vary"), "Accept-Encoding");
        if (res.status != 200)
            continue;
        if (cases[i].coding)
            assert_string_equal(header(&res, "Content-Encoding"), cases[i].coding);
        else
            assert_null(header(&res, "Content-Encoding"));
    }
}

static void test_compressed_bodies_decode_to_the_original(void **state)
{
    const hc_static_asset_t *a = hc_static_find(st, "index.html");
    static unsigned char plain[8192];
    hc_static_response_t res;

    respond(st, "GET", "/index.html", "gzip", NULL, &res);
    assert_true(res.body_len < a->len);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK); /* gzip wrapper only */
    z.next_in = (Bytef *)res.body;
    z.avail_in = (uInt)res.body_len;
    z.next_out = plain;
    z.avail_out = sizeof(plain);
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, a->len);
    inflateEnd(&z);
    assert_memory_equal(plain, a->data, a->len);

    respond(st, "GET", "/index.html", "br", NULL, &res);
    assert_true(res.body_len < a->len);
    size_t n = sizeof(plain);
    assert_int_equal(BrotliDecoderDecompress(res.body_len, res.body, &n, plain),
                     BROTLI_DECODER_RESULT_SUCCESS);
    assert_int_equal(n, a->len);
    assert_memory_equal(plain, a->data, a->len);
}

static void test_headers_of_a_200(void **state)
{
    const hc_static_asset_t *a = hc_static_find(st, "index.html");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen;
    assert_int_equal(EVP_Digest(a->data, a->len, md, &mdlen, EVP_sha256(), NULL), 1);
    char etag[48] = "\"";
    for (int i = 0; i < 16; i++)
        snprintf(etag + 1 + 2 * i, 3, "%02x", md[i]);
    strcat(etag, "\"");

    hc_static_response_t res;
    respond(st, "GET", "/index.html", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.nheaders, 5);
    assert_string_equal(header(&res, "content-type"), "text/html; charset=utf-8");
    assert_string_equal(header(&res, "ETag"), etag);
    assert_string_equal(header(&res, "Cache-Control"), "no-cache");
    char len[24];
    snprintf(len, sizeof(len), "%zu", a->len);
    assert_string_equal(header(&res, "Content-Length"), len);
    assert_ptr_equal(res.body, a->data);
    assert_int_equal(res.body_len, a->len);

    respond(st, "GET", "/index.html", "br, gzip", NULL, &res);
    assert_int_equal(res.nheaders, 6);
    etag[33] = '\0';
    strcat(etag, "-br\"");
    assert_string_equal(header(&res, "ETag"), etag);
    snprintf(len, sizeof(len), "%zu", res.body_len);
    assert_string_equal(header(&res, "Content-Length"), len);
}

static void test_incompressible_tiny_and_empty_have_no_variants(void **state)
{
    static const char *const paths[] = {"/logo.png", "/tiny.txt", "/empty.txt"};
    for (size_t i = 0; i < 3; i++) {
        hc_static_response_t res;
        respond(st, "GET", paths[i], "br, gzip", NULL, &res);
        assert_int_equal(res.status, 200);
        assert_null(header(&res, "Content-Encoding"));
        assert_null(header(&res, "Vary"));
        const hc_static_asset_t *a = hc_static_find(st, paths[i] + 1);
        assert_int_equal(res.body_len, a->len);
        /* Nothing to fall back to when identity is refused. */
        respond(st, "GET", paths[i], "identity;q=0, br", NULL, &res);
        assert_int_equal(res.status, 406);
    }
    hc_static_response_t res;
    respond(st, "GET", "/empty.txt", NULL, NULL, &res);
    assert_string_equal(header(&res, "Content-Length"), "0");
    assert_int_equal(res.body_len, 0);
}

static void test_if_none_match(void **state)
{
    hc_static_response_t res;
    respond(st, "GET", "/index.html", "gzip", NULL, &res);
    char tag[48], weak[64], list[128], identity[48];
    snprintf(tag, sizeof(tag), "%s", header(&res, "ETag"));
    snprintf(weak, sizeof(weak), "W/%s", tag);
    snprintf(list, sizeof(list), "\"nope\", W/\"other\",%s", tag);
    respond(st, "GET", "/index.html", NULL, NULL, &res);
    snprintf(identity, sizeof(identity), "%s", header(&res, "ETag"));

    const char *const matching[] = {tag, weak, list, "*"};
    for (size_t i = 0; i < 4; i++) {
        respond(st, "GET", "/index.html", "gzip", matching[i], &res);
        assert_int_equal(res.status, 304);
        assert_null(res.body);
        assert_int_equal(res.nheaders, 3);
        assert_string_equal(header(&res, "ETag"), tag);
        assert_string_equal(header(&res, "Vary"), "Accept-Encoding");
        assert_string_equal(header(&res, "Cache-Control"), "no-cache");
        assert_null(header(&res, "Content-Length"));
    }
    /* The identity tag names another representation than the gzip one. */
    const char *other[] = {identity, "\"abc\"", "abc", "W/", "\"unterminated", ""};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        respond(st, "GET", "/index.html", "gzip", other[i], &res);
        assert_int_equal(res.status, 200);
    }
    respond(st, "HEAD", "/index.html", NULL, identity, &res);
    assert_int_equal(res.status, 304);
}

/* Every prefix of a header, as an exact-size heap copy so ASan catches an over-read,
 * still gets a well-formed answer. */
static void test_header_prefixes(void **state)
{
    static const char ae[] = " gzip;q=0.5 , br;q=0, x-gzip;level=1;q=1.000,identity;q=0 ,*;q=0";
    static const char inm[] = "W/\"a\", \"b\" ,*";
    for (size_t n = 0; n <= sizeof(ae) - 1; n++) {
        char *h = hc_memdup(ae, n);
        hc_static_response_t res;
        respond(st, "GET", "/index.html", h, NULL, &res);
        assert_true(res.status == 200 || res.status == 406);
        hc_free(h);
    }
    for (size_t n = 0; n <= sizeof(inm) - 1; n++) {
        char *h = hc_memdup(inm, n);
        hc_static_response_t res;
        respond(st, "GET", "/index.html", NULL, h, &res);
        assert_int_equal(res.status, n == sizeof(inm) - 1 ? 304 : 200);
        hc_free(h);
    }
}

static void test_head_and_methods(void **state)
{
    hc_static_response_t get, head;
    respond(st, "GET", "/app.3f9a1c2e.js", "gzip", NULL, &get);
    respond(st, "HEAD", "/app.3f9a1c2e.js", "gzip", NULL, &head);
    assert_int_equal(head.status, 200);
    assert_null(head.body);
    assert_int_equal(head.body_len, 0);
    assert_int_equal(head.nheaders, get.nheaders);
    for (size_t i = 0; i < get.nheaders; i++)
        assert_string_equal(header(&head, get.headers[i].name), get.headers[i].value);

    static const char *const bad[] = {"POST", "PUT", "DELETE", "get", "OPTIONS"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        respond(st, bad[i], "/app.3f9a1c2e.js", NULL, NULL, &head);
        assert_int_equal(head.status, 405);
        assert_string_equal(header(&head, "Allow"), "GET, HEAD");
        assert_null(head.body);
    }
    respond(st, "POST", "/missing", NULL, NULL, &head);
    assert_int_equal(head.status, 404);
    assert_int_equal(head.nheaders, 0);
}

static void test_paths(void **state)
{
    hc_static_t *ui;
    assert_int_equal(hc_static_new(&test_assets, &(hc_static_options_t){.prefix = "/ui"}, &ui), 0);
    static const struct {
        int root; /* 1: mounted at "/", 0: at "/ui/" */
        const char *target;
        const char *asset; /* NULL: 404 */
    } cases[] = {
        {1, "/", "index.html"},
        {1, "/index.html?v=3#top", "index.html"},
        {1, "/?q", "index.html"},
        {1, "/docs/read%20me.txt", "docs/read me.txt"},
        {1, "/docs/read%20Me.txt", NULL},
        {1, "/%64ocs/read%20me.txt", "docs/read me.txt"},
        {1, "/docs/", NULL},
        {1, "/tiny.txt%", NULL},
        {1, "/tiny.txt%2", NULL},
        {1, "/tiny.tx%zz", NULL},
        {1, "/tiny.txt%00", NULL},
        {1, "tiny.txt", NULL},
        {1, "", NULL},
        {1, "/.hidden", NULL},
        {0, "/ui", "index.html"},
        {0, "/ui/", "index.html"},
        {0, "/ui/tiny.txt", "tiny.txt"},
        {0, "/uitiny.txt", NULL},
        {0, "/tiny.txt", NULL},
        {0, "/u", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hc_static_response_t res;
        respond(cases[i].root ? st : ui, "GET", cases[i].target, NULL, NULL, &res);
        if (!cases[i].asset) {
            assert_int_equal(res.status, 404);
            continue;
        }
        assert_int_equal(res.status, 200);
        assert_ptr_equal(res.body, hc_static_find(st, cases[i].asset)->data);
    }
    hc_static_free(ui);
}

static void test_long_target_is_404(void **state)
{
    static char target[5000];
    memset(target, 'a', sizeof(target) - 1);
    target[0] = '/';
    hc_static_response_t res;
    respond(st, "GET", target, NULL, NULL, &res);
    assert_int_equal(res.status, 404);
}

static void test_cache_policy(void **state)
{
    static const unsigned char x[] = "x";
    static const hc_static_asset_t assets[] = {
        {"app.3f9a1c2e.js", x, 1, "text/javascript"},
        {"index-BxH3k9aZ.js", x, 1, "text/javascript"},
        {"page.1234abcd.html", x, 1, "text/html; charset=utf-8"},
        {"jquery-datetime.js", x, 1, "text/javascript"},
        {"chunk.abc123.js", x, 1, "text/javascript"},
        {"12345678.js", x, 1, "text/javascript"},
        {"style.css", x, 1, "text/css"},
    };
    static const char *const want[] = {
        "public, max-age=31536000, immutable",
        "public, max-age=31536000, immutable",
        "no-cache",
        "public, max-age=600",
        "public, max-age=600",
        "public, max-age=600",
        "public, max-age=600",
    };
    const hc_static_table_t t = {assets, 7};
    hc_static_t *s;
    assert_int_equal(hc_static_new(&t, &(hc_static_options_t){.max_age = 600, .immutable = 1}, &s),
                     0);
    for (size_t i = 0; i < 7; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/%s", assets[i].path);
        hc_static_response_t res;
        respond(s, "GET", path, NULL, NULL, &res);
        assert_string_equal(header(&res, "Cache-Control"), want[i]);
    }
    hc_static_free(s);
    /* Without the options every asset must be revalidated. */
    assert_int_equal(hc_static_new(&t, NULL, &s), 0);
    hc_static_response_t res;
    respond(s, "GET", "/app.3f9a1c2e.js", NULL, NULL, &res);
    assert_string_equal(header(&res, "Cache-Control"), "no-cache");
    hc_static_free(s);
}

static void test_registration_errors(void **state)
{
    static const unsigned char x[] = "x";
    static const hc_static_asset_t cases[][2] = {
        {{"a.txt", x, 1, "text/plain"}, {"a.txt", x, 1, "text/plain"}},
        {{"a.txt", x, 1, "text/plain"}, {"/b.txt", x, 1, "text/plain"}},
        {{"a.txt", x, 1, "text/plain"}, {"", x, 1, "text/plain"}},
        {{"a.txt", x, 1, "text/plain"}, {NULL, x, 1, "text/plain"}},
        {{"a.txt", x, 1, "text/plain"}, {"b.txt", x, 1, NULL}},
        {{"a.txt", x, 1, "text/plain"}, {"b.txt", NULL, 1, "text/plain"}},
    };
    hc_static_t *s = NULL;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const hc_static_table_t t = {cases[i], 2};
        assert_int_equal(hc_static_new(&t, NULL, &s), -EINVAL);
    }
    const hc_static_table_t ok = {cases[0], 1};
    assert_int_equal(hc_static_new(&ok, &(hc_static_options_t){.prefix = "ui/"}, &s), -EINVAL);
    assert_int_equal(hc_static_new(NULL, NULL, &s), -EINVAL);
    const hc_static_table_t empty = {NULL, 0};
    assert_int_equal(hc_static_new(&empty, NULL, &s), 0);
    hc_static_response_t res;
    respond(s, "GET", "/", NULL, NULL, &res);
    assert_int_equal(res.status, 404);
    hc_static_free(s);
}

int main(void)
{
    hc_log_setup(HC_LOG_ERROR, HC_LOG_FORMAT_JSON);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_table),
        cmocka_unit_test(test_accept_encoding_table),
        cmocka_unit_test(test_compressed_bodies_decode_to_the_original),
        cmocka_unit_test(test_headers_of_a_200),
        cmocka_unit_test(test_incompressible_tiny_and_empty_have_no_variants),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_header_prefixes),
        cmocka_unit_test(test_head_and_methods),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_long_target_is_404),
        cmocka_unit_test(test_cache_policy),
        cmocka_unit_test(test_registration_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
