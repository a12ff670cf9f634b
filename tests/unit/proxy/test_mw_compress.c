/* compress: Accept-Encoding negotiation (the reference's examples and quirks), the
 * response decision, and gzip/br round trips through the streaming compressor checked
 * with zlib's inflate and the brotli decoder. */
#include "core/hc_alloc.h"
#include "proxy/mw_compress.h"

#include <brotli/decode.h>
#include <errno.h>
#include <string.h>
#include <zlib.h>

static void *parse_ok(const char *spec_json)
{
    char err[256] = "";
    void *cfg = NULL;
    json_t *spec = json_loads(spec_json, 0, NULL);
    assert_non_null(spec);
    if (proxy_mw_compress_parse(spec, "default-compress@kubernetescrd", &cfg, err, sizeof(err)))
        fail_msg("parse %s: %s", spec_json, err);
    json_decref(spec);
    return cfg;
}

static void test_negotiate_table(void **state)
{
    static const struct {
        const char *spec, *method, *ae, *ct;
        proxy_mw_encoding_t want;
    } cases[] = {
        {"{}", "GET", "gzip, br, zstd", NULL, PROXY_MW_ENC_GZIP}, /* list order breaks ties */
        {"{}", "GET", "br, gzip", NULL, PROXY_MW_ENC_GZIP},
        {"{\"encodings\":[\"br\",\"gzip\"]}", "GET", "gzip, br", NULL, PROXY_MW_ENC_BR},
        {"{}", "GET", "gzip;q=0.5, br;q=0.8", NULL, PROXY_MW_ENC_BR},
        {"{}", "GET", "gzip;q=0, br;q=0", NULL, PROXY_MW_ENC_IDENTITY},
        {"{}", "GET", "gzip;q=0, *", NULL, PROXY_MW_ENC_IDENTITY}, /* gzhttp refuses it */
        {"{}", "GET", "*", NULL, PROXY_MW_ENC_GZIP},
        /* at equal q "*" ranks first (Traefik's buildSupportedEncodings) */
        {"{}", "GET", "br, *", NULL, PROXY_MW_ENC_GZIP},
        {"{\"defaultEncoding\":\"br\"}", "GET", "gzip, *", NULL, PROXY_MW_ENC_BR},
        {"{}", "GET", "br, *;q=0.5", NULL, PROXY_MW_ENC_BR},
        /* "*" standing for zstd, which hearth lacks: the next configured one */
        {"{\"encodings\":[\"zstd\",\"br\",\"gzip\"]}", "GET", "gzip, *", NULL, PROXY_MW_ENC_BR},
        {"{\"encodings\":[\"zstd\",\"gzip\"],\"defaultEncoding\":\"zstd\"}", "GET", "*", NULL,
         PROXY_MW_ENC_GZIP},
        {"{\"defaultEncoding\":\"br\"}", "GET", "*", NULL, PROXY_MW_ENC_BR},
        /* "*" never stands for a coding the client refused (RFC 9110 §12.5.3) */
        {"{}", "GET", "*, gzip;q=0", NULL, PROXY_MW_ENC_IDENTITY},
        {"{}", "GET", "gzip;q=0, *;q=0.5, br;q=0.1", NULL, PROXY_MW_ENC_IDENTITY},
        {"{}", "GET", "br;q=0, *", NULL, PROXY_MW_ENC_GZIP},
        {"{}", "GET", NULL, NULL, PROXY_MW_ENC_IDENTITY},
        {"{\"defaultEncoding\":\"gzip\"}", "GET", NULL, NULL, PROXY_MW_ENC_GZIP},
        {"{\"defaultEncoding\":\"gzip\"}", "GET", "", NULL, PROXY_MW_ENC_IDENTITY},
        {"{}", "GET", "deflate, compress", NULL, PROXY_MW_ENC_IDENTITY},
        {"{}", "GET", "zstd", NULL, PROXY_MW_ENC_IDENTITY},
        {"{}", "GET", "zstd, br;q=0.9", NULL, PROXY_MW_ENC_BR},
        {"{}", "GET", "identity, gzip;q=0.5", NULL, PROXY_MW_ENC_IDENTITY},
        {"{}", "GET", "GZIP", NULL, PROXY_MW_ENC_GZIP},
        {"{}", "GET", "br ; q=1.0 ,gzip;q=1.0", NULL, PROXY_MW_ENC_GZIP},
        {"{\"encodings\":[\"gzip\"]}", "GET", "br", NULL, PROXY_MW_ENC_IDENTITY},
        {"{}", "HEAD", "gzip", NULL, PROXY_MW_ENC_IDENTITY},
        {"{}", "POST", "gzip", "application/grpc", PROXY_MW_ENC_IDENTITY},
        {"{}", "POST", "gzip", "application/grpc+proto", PROXY_MW_ENC_GZIP},
        /* a request of an excluded type is passed by (Traefik, for event streams) */
        {"{\"excludedContentTypes\":[\"text/event-stream\"]}", "POST", "gzip",
         "Text/Event-Stream; charset=utf-8", PROXY_MW_ENC_IDENTITY},
        {"{\"includedContentTypes\":[\"text/event-stream\"]}", "POST", "gzip", "text/event-stream",
         PROXY_MW_ENC_GZIP},
        {"{\"includedContentTypes\":[\"text/plain\"]}", "POST", "gzip", "application/grpc",
         PROXY_MW_ENC_IDENTITY},
        {"{}", "POST", "gzip", "application/json", PROXY_MW_ENC_GZIP},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        void *cfg = parse_ok(cases[i].spec);
        proxy_mw_req_t req;
        proxy_mw_req_init(&req, cases[i].method, 0, "h", "/", "192.0.2.1", 0);
        if (cases[i].ae)
            proxy_mw_headers_add(&req.headers, "Accept-Encoding", cases[i].ae);
        if (cases[i].ct)
            proxy_mw_headers_add(&req.headers, "Content-Type", cases[i].ct);
        proxy_mw_encoding_t got = proxy_mw_compress_negotiate(cfg, &req);
        if (got != cases[i].want)
            fail_msg("case %zu (%s): got %s", i, cases[i].ae ? cases[i].ae : "(none)",
                     proxy_mw_encoding_name(got));
        proxy_mw_req_free(&req);
        proxy_mw_compress_free(cfg);
    }
}

static void test_response_decision_table(void **state)
{
    static const struct {
        const char *spec;
        int status;
        const char *ct, *ce;
        long long len;
        int want;
    } cases[] = {
        {"{}", 200, "text/html", NULL, 5000, 1},
        {"{}", 200, "text/html", NULL, 1023, 0},
        {"{}", 200, "text/html", NULL, 1024, 1},
        {"{}", 200, "text/html", NULL, -1, 1},
        {"{\"minResponseBodyBytes\":10}", 200, "text/html", NULL, 20, 1},
        {"{\"minResponseBodyBytes\":0}", 200, "text/html", NULL, 355, 0}, /* 0: the 1024 */
        {"{}", 200, "text/html", "br", 5000, 0},
        {"{}", 204, NULL, NULL, 5000, 0},
        {"{}", 304, "text/html", NULL, 5000, 0},
        {"{\"excludedContentTypes\":[\"text/event-stream\"]}", 200, "text/event-stream", NULL, 5000,
         0},
        {"{\"excludedContentTypes\":[\"text/html\"]}", 200, "Text/HTML; charset=utf-8", NULL, 5000,
         0},
        /* configured types count by media type alone, as Traefik parses them */
        {"{\"excludedContentTypes\":[\"text/html; charset=utf-8\"]}", 200, "text/html", NULL, 5000,
         0},
        {"{}", 200, "application/grpc", NULL, 5000, 0},
        {"{\"excludedContentTypes\":[\"image/png\"]}", 200, "application/grpc; x=1", NULL, 5000, 0},
        {"{\"includedContentTypes\":[\"application/grpc\"]}", 200, "application/grpc", NULL, 5000,
         1},
        {"{\"includedContentTypes\":[\"application/json; charset=utf-8\"]}", 200,
         "application/json", NULL, 5000, 1},
        {"{\"includedContentTypes\":[\"application/json\"]}", 200, "application/json", NULL, 5000,
         1},
        {"{\"includedContentTypes\":[\"application/json\"]}", 200, "text/plain", NULL, 5000, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        void *cfg = parse_ok(cases[i].spec);
        proxy_mw_resp_t resp;
        proxy_mw_resp_init(&resp);
        resp.status = cases[i].status;
        proxy_mw_headers_add(&resp.headers, "Content-Length", "5000");
        if (cases[i].ct)
            proxy_mw_headers_add(&resp.headers, "Content-Type", cases[i].ct);
        if (cases[i].ce)
            proxy_mw_headers_add(&resp.headers, "Content-Encoding", cases[i].ce);
        int got = proxy_mw_compress_response(cfg, PROXY_MW_ENC_GZIP, &resp, cases[i].len);
        if (got != cases[i].want)
            fail_msg("case %zu: got %d", i, got);
        /* an encoder was picked: Vary either way, as Traefik's handlers add it first */
        assert_string_equal(proxy_mw_headers_get(&resp.headers, "Vary"), "Accept-Encoding");
        if (got) {
            assert_null(proxy_mw_headers_get(&resp.headers, "Content-Length"));
            assert_string_equal(proxy_mw_headers_get(&resp.headers, "Content-Encoding"), "gzip");
        } else {
            assert_string_equal(proxy_mw_headers_get(&resp.headers, "Content-Length"), "5000");
        }
        assert_int_equal(proxy_mw_compress_response(cfg, PROXY_MW_ENC_IDENTITY, &resp, 9999), 0);
        proxy_mw_resp_free(&resp);
        proxy_mw_compress_free(cfg);
    }
}

static void test_parse_errors(void **state)
{
    const char *bad[] = {
        "{\"encodings\":[\"deflate\"]}",
        "{\"defaultEncoding\":\"lzma\"}",
        "{\"encodings\":[\"gzip\"],\"defaultEncoding\":\"br\"}", /* not listed: Traefik's error */
        "{\"minResponseBodyBytes\":-1}",
        "{\"excludedContentTypes\":[\"a/b\"],\"includedContentTypes\":[\"c/d\"]}",
        "{\"encodings\":\"gzip\"}",
        "{\"excludedContentTypes\":[\" ; x\"]}", /* no media type: Go's ParseMediaType refuses */
        "{\"includedContentTypes\":[\"\"]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        void *cfg = NULL;
        json_t *spec = json_loads(bad[i], 0, NULL);
        assert_int_equal(proxy_mw_compress_parse(spec, "c", &cfg, err, sizeof(err)), -EINVAL);
        assert_null(cfg);
        assert_true(err[0] != '\0');
        json_decref(spec);
    }
}

typedef struct sink_buf {
    hc_buf_t b;
    size_t pieces, largest;
} sink_buf_t;

static int collect(void *ud, const void *p, size_t n)
{
    sink_buf_t *s = ud;
    s->pieces++;
    if (n > s->largest)
        s->largest = n;
    return hc_buf_append(&s->b, p, n);
}

static int refuse(void *ud, const void *p, size_t n)
{
    return -EPIPE;
}

/* A body of 1 MiB that compresses but is not trivial. */
static char *make_body(size_t n)
{
    char *body = hc_malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        body[i] = (i % 64 < 48) ? "hearth proxy middleware "[i % 24] : (char)('a' + (x >> 16) % 26);
    }
    return body;
}

/* Compresses body in pieces of `piece` bytes, with one flush midway. */
static void compress_body(proxy_mw_encoding_t enc, const char *body, size_t n, size_t piece,
                          sink_buf_t *out)
{
    proxy_mw_compressor_t *c;
    hc_buf_init(&out->b, 4u << 20);
    out->pieces = out->largest = 0;
    assert_int_equal(proxy_mw_compressor_new(enc, &c), 0);
    for (size_t off = 0; off < n; off += piece) {
        size_t len = n - off < piece ? n - off : piece;
        int mid = off <= n / 2 && n / 2 < off + len;
        proxy_mw_flush_t mode = mid ? PROXY_MW_Z_FLUSH : PROXY_MW_Z_MORE;
        assert_int_equal(proxy_mw_compressor_push(c, body + off, len, mode, collect, out), 0);
    }
    assert_int_equal(proxy_mw_compressor_push(c, NULL, 0, PROXY_MW_Z_FINISH, collect, out), 0);
    assert_int_equal(proxy_mw_compressor_push(c, "x", 1, PROXY_MW_Z_MORE, collect, out), -EINVAL);
    proxy_mw_compressor_free(c);
    assert_true(out->largest <= 16384);
}

static void test_gzip_round_trip(void **state)
{
    size_t n = 1u << 20;
    char *body = make_body(n);
    sink_buf_t out;
    compress_body(PROXY_MW_ENC_GZIP, body, n, 1000, &out);
    assert_true(out.b.len < n / 2);
    assert_int_equal((unsigned char)out.b.base[0], 0x1f); /* gzip magic, RFC 1952 §2.3.1 */
    assert_int_equal((unsigned char)out.b.base[1], 0x8b);
    char *plain = hc_malloc(n + 1);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)out.b.base;
    z.avail_in = (uInt)out.b.len;
    z.next_out = (Bytef *)plain;
    z.avail_out = (uInt)n + 1;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, n);
    assert_memory_equal(plain, body, n);
    inflateEnd(&z);
    hc_free(plain);
    hc_buf_free(&out.b);
    hc_free(body);
}

static void test_br_round_trip(void **state)
{
    size_t n = 1u << 20;
    char *body = make_body(n);
    sink_buf_t out;
    compress_body(PROXY_MW_ENC_BR, body, n, 7777, &out);
    assert_true(out.b.len < n / 2);
    char *plain = hc_malloc(n + 1);
    size_t plain_len = n + 1;
    assert_int_equal(BrotliDecoderDecompress(out.b.len, (const uint8_t *)out.b.base, &plain_len,
                                             (uint8_t *)plain),
                     BROTLI_DECODER_RESULT_SUCCESS);
    assert_int_equal(plain_len, n);
    assert_memory_equal(plain, body, n);
    hc_free(plain);
    hc_buf_free(&out.b);
    hc_free(body);
}

static void test_compressor_errors(void **state)
{
    proxy_mw_compressor_t *c = NULL;
    assert_int_equal(proxy_mw_compressor_new(PROXY_MW_ENC_IDENTITY, &c), -EINVAL);
    assert_int_equal(proxy_mw_compressor_new(PROXY_MW_ENC_GZIP, &c), 0);
    assert_int_equal(proxy_mw_compressor_push(c, "abc", 3, PROXY_MW_Z_FINISH, refuse, NULL),
                     -EPIPE);
    proxy_mw_compressor_free(c);
    /* An empty body still makes a valid stream. */
    sink_buf_t out;
    compress_body(PROXY_MW_ENC_BR, "", 0, 1, &out);
    uint8_t tmp[4];
    size_t tl = sizeof(tmp);
    assert_int_equal(BrotliDecoderDecompress(out.b.len, (const uint8_t *)out.b.base, &tl, tmp),
                     BROTLI_DECODER_RESULT_SUCCESS);
    assert_int_equal(tl, 0);
    hc_buf_free(&out.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiate_table),
        cmocka_unit_test(test_response_decision_table),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_gzip_round_trip),
        cmocka_unit_test(test_br_round_trip),
        cmocka_unit_test(test_compressor_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
