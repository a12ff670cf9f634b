/* proxy_accesslog: Traefik's JSON line (field names, sorted keys, durations in ns,
 * host/port splitting, "-" for absent ports and users, TLS fields only over TLS), the
 * buffer limit, and the file writer with SIGUSR1-style reopening. */
#include "core/hc_alloc.h"
#include "proxy/proxy_accesslog.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static json_t *line_of(const proxy_accesslog_entry_t *e)
{
    hc_buf_t b;
    hc_buf_init(&b, 0);
    assert_int_equal(proxy_accesslog_format(e, &b), 0);
    assert_true(b.len > 2);
    assert_int_equal(b.base[b.len - 1], '\n');
    assert_null(memchr(b.base, '\n', b.len - 1));
    json_error_t err;
    json_t *j = json_loadb(b.base, b.len, 0, &err);
    if (!j)
        fail_msg("not JSON: %s: %.*s", err.text, (int)b.len, b.base);
    hc_buf_free(&b);
    return j;
}

/* Keys come sorted byte-wise, as Go's encoding/json writes a map (jansson keeps the
 * order of the text). */
static void keys_sorted(json_t *j)
{
    const char *key, *prev = NULL;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (prev)
            assert_true(strcmp(prev, key) < 0);
        prev = key;
    }
}

static const proxy_accesslog_entry_t plain = {
    .start_ns = 1700000000123456789LL,
    .duration_ns = 1500000,
    .origin_duration_ns = 1000000,
    .client_addr = "192.0.2.10:51234",
    .method = "GET",
    .host = "example-api.app.ominis.ai",
    .target = "/v1/items?x=1",
    .entrypoint = "web",
    .router = "client-example-example-ingress-example-api-app-ominis-ai@kubernetes",
    .service = "client-example-api-8000@kubernetes",
    .service_url = "http://10.0.0.7:8000",
    .service_addr = "10.0.0.7:8000",
    .downstream_status = 200,
    .origin_status = 200,
    .request_size = 0,
    .origin_size = 42,
    .downstream_size = 42,
};

static void test_plain_line(void **state)
{
    (void)state;
    json_t *j = line_of(&plain);
    keys_sorted(j);
    assert_string_equal(json_string_value(json_object_get(j, "ClientHost")), "192.0.2.10");
    assert_string_equal(json_string_value(json_object_get(j, "ClientPort")), "51234");
    assert_string_equal(json_string_value(json_object_get(j, "ClientUsername")), "-");
    assert_int_equal(json_integer_value(json_object_get(j, "Duration")), 1500000);
    assert_int_equal(json_integer_value(json_object_get(j, "OriginDuration")), 1000000);
    assert_int_equal(json_integer_value(json_object_get(j, "Overhead")), 500000);
    assert_string_equal(json_string_value(json_object_get(j, "RequestHost")),
                        "example-api.app.ominis.ai");
    assert_string_equal(json_string_value(json_object_get(j, "RequestPort")), "-");
    assert_string_equal(json_string_value(json_object_get(j, "RequestPath")), "/v1/items?x=1");
    assert_string_equal(json_string_value(json_object_get(j, "RequestScheme")), "http");
    assert_string_equal(json_string_value(json_object_get(j, "RequestProtocol")), "HTTP/1.1");
    assert_int_equal(json_integer_value(json_object_get(j, "DownstreamStatus")), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "OriginContentSize")), 42);
    assert_null(json_object_get(j, "GzipRatio")); /* the body passed unchanged */
    /* a running count (Traefik's), taken as each request arrives: the line carries the
       one it was given, so a slow request logged last keeps its earlier number */
    unsigned long long first = proxy_accesslog_count();
    assert_int_equal(proxy_accesslog_count(), first + 1);
    proxy_accesslog_entry_t counted = plain;
    counted.request_count = first;
    json_t *next = line_of(&counted);
    assert_int_equal(json_integer_value(json_object_get(next, "RequestCount")), first);
    json_decref(next);
    /* a body that changed size on the way (compress): Traefik's GzipRatio, origin/downstream */
    proxy_accesslog_entry_t gz = plain;
    gz.downstream_size = 16;
    json_t *g = line_of(&gz);
    keys_sorted(g);
    assert_true(json_real_value(json_object_get(g, "GzipRatio")) == 42.0 / 16.0);
    json_decref(g);
    /* written with the fewest digits that read back, as Go's encoding/json */
    gz.origin_size = 50000;
    gz.downstream_size = 194;
    hc_buf_t txt;
    hc_buf_init(&txt, 0);
    assert_int_equal(proxy_accesslog_format(&gz, &txt), 0);
    assert_non_null(strstr(txt.base, "\"GzipRatio\":257.7319587628866,"));
    hc_buf_free(&txt);
    static const struct {
        uint64_t origin, down;
        const char *text;
    } ratios[] = {
        {4000, 200, "20"}, {100000, 100, "1000"}, {3, 2, "1.5"}, {1, 3, "0.3333333333333333"}};
    for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
        char want[64];
        snprintf(want, sizeof(want), "\"GzipRatio\":%s,", ratios[i].text);
        gz.origin_size = ratios[i].origin;
        gz.downstream_size = ratios[i].down;
        hc_buf_init(&txt, 0);
        assert_int_equal(proxy_accesslog_format(&gz, &txt), 0);
        if (!strstr(txt.base, want))
            fail_msg("want %s in %s", want, txt.base);
        hc_buf_free(&txt);
    }
    /* an answer that never reached a service (a 404 page): no ratio */
    proxy_accesslog_entry_t nf = {.start_ns = 1700000000120000000LL,
                                  .downstream_status = 404,
                                  .downstream_size = 19,
                                  .method = "GET",
                                  .host = "x.test"};
    g = line_of(&nf);
    assert_null(json_object_get(g, "GzipRatio"));
    /* Go's RFC3339Nano: trailing zeros dropped, the dot too when nothing is left */
    assert_string_equal(json_string_value(json_object_get(g, "StartUTC")),
                        "2023-11-14T22:13:20.12Z");
    json_decref(g);
    nf.start_ns = 1700000000000000000LL;
    g = line_of(&nf);
    assert_string_equal(json_string_value(json_object_get(g, "StartUTC")), "2023-11-14T22:13:20Z");
    json_decref(g);
    assert_string_equal(json_string_value(json_object_get(j, "ServiceAddr")), "10.0.0.7:8000");
    assert_string_equal(json_string_value(json_object_get(j, "StartUTC")),
                        "2023-11-14T22:13:20.123456789Z");
    assert_string_equal(json_string_value(json_object_get(j, "entryPointName")), "web");
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_null(json_object_get(j, "TLSVersion"));
    assert_null(json_object_get(j, "TLSCipher"));
    json_decref(j);
}

static void test_tls_no_router_and_escaping(void **state)
{
    (void)state;
    proxy_accesslog_entry_t e = {
        .start_ns = 1700000000000000000LL,
        .duration_ns = 20000,
        .client_addr = "[2001:db8::1]:443",
        .client_user = "alice",
        .method = "POST",
        .host = "[::1]:8443",
        .target = "/a\"b\\c",
        .tls = 1,
        .tls_version = "1.3",
        .tls_cipher = "TLS_AES_128_GCM_SHA256",
        .entrypoint = "websecure",
        .downstream_status = 404,
    };
    json_t *j = line_of(&e);
    keys_sorted(j);
    assert_string_equal(json_string_value(json_object_get(j, "ClientHost")), "2001:db8::1");
    assert_string_equal(json_string_value(json_object_get(j, "ClientPort")), "443");
    assert_string_equal(json_string_value(json_object_get(j, "ClientUsername")), "alice");
    assert_string_equal(json_string_value(json_object_get(j, "RequestHost")), "::1");
    assert_string_equal(json_string_value(json_object_get(j, "RequestPort")), "8443");
    /* url.URL.String, as Traefik logs it: a quote and a backslash are escaped */
    assert_string_equal(json_string_value(json_object_get(j, "RequestPath")), "/a%22b%5Cc");
    assert_string_equal(json_string_value(json_object_get(j, "RequestScheme")), "https");
    assert_string_equal(json_string_value(json_object_get(j, "TLSVersion")), "1.3");
    assert_string_equal(json_string_value(json_object_get(j, "TLSCipher")),
                        "TLS_AES_128_GCM_SHA256");
    assert_int_equal(json_integer_value(json_object_get(j, "OriginStatus")), 0);
    assert_null(json_object_get(j, "RouterName"));
    assert_null(json_object_get(j, "ServiceName"));
    json_decref(j);
}

/* RequestPath and the host fields as Traefik writes them, and a line that stays valid
 * JSON whatever bytes the client sent. */
static void test_paths_hosts_and_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *target, *path;
    } cases[] = {
        {"/v1/items?x=1", "/v1/items?x=1"}, /* kept as sent */
        {"/a%2Fb!$&'()*+,;=:@[]~?q", "/a%2Fb!$&'()*+,;=:@[]~?q"},
        {"/caf\xc3\xa9?x=\xc3\xa9", "/caf%C3%A9?x=\xc3\xa9"}, /* the query as sent */
        {"/a b%2F<c>", "/a%20b/%3Cc%3E"}, /* escaped anew from the decoded path */
        {"/bad\xff", "/bad%FF"},
        {"/x?q=\xfe", "/x?q=\xef\xbf\xbd"}, /* an ill-formed byte: U+FFFD */
        {"/x#frag", "/x%23frag"},
        {"/?", "/?"},
        {"/a\"%00", "/a%22%00"}, /* an escaped NUL decodes and escapes like any byte */
        {"/a%2f\"", "/a/%22"},   /* Go's escape from the decoded path: %2f is a '/' */
        {"/a\"%4", "/a%22%254"}, /* a '%' that starts no escape is one */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_accesslog_entry_t e = plain;
        e.target = cases[i].target;
        json_t *j = line_of(&e);
        assert_string_equal(json_string_value(json_object_get(j, "RequestPath")), cases[i].path);
        json_decref(j);
    }
    proxy_accesslog_entry_t e = plain;
    e.client_user = "b\xffob";
    e.host = NULL; /* an HTTP/1.0 request without Host: Traefik writes no host fields */
    json_t *j = line_of(&e);
    keys_sorted(j);
    assert_string_equal(json_string_value(json_object_get(j, "ClientUsername")), "b\xef\xbf\xbdob");
    assert_null(json_object_get(j, "RequestAddr"));
    assert_null(json_object_get(j, "RequestHost"));
    assert_null(json_object_get(j, "RequestPort"));
    json_decref(j);
}

static void test_buffer_limit(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 64);
    assert_int_equal(proxy_accesslog_format(&plain, &b), -ENOBUFS);
    assert_int_equal(b.len, 0);
    hc_buf_free(&b);
}

static void test_file_and_reopen(void **state)
{
    (void)state;
    char path[] = "/tmp/hearth-access-XXXXXX", moved[64];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(moved, sizeof(moved), "%s.1", path);
    assert_int_equal(proxy_accesslog_open(path), 0);
    assert_true(proxy_accesslog_enabled());
    uv_loop_t loop;
    uv_loop_init(&loop);
    proxy_accesslog_writer_t *w = proxy_accesslog_writer_new(&loop);
    assert_non_null(w);
    proxy_accesslog_write(w, &plain);
    proxy_accesslog_writer_free(w); /* flushes */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(proxy_accesslog_reopen(), 0);
    w = proxy_accesslog_writer_new(&loop);
    proxy_accesslog_write(w, &plain);
    proxy_accesslog_write(w, &plain);
    proxy_accesslog_writer_free(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    proxy_accesslog_close();
    assert_false(proxy_accesslog_enabled());
    char buf[8192];
    FILE *f = fopen(moved, "r");
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    assert_int_equal(lines, 1);
    f = fopen(path, "r");
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    assert_int_equal(lines, 2);
    unlink(path);
    unlink(moved);
}

/* TLSClientSubject as Go's pkix.Name.String(): one RDN per named field, its values in
 * order joined by '+' (CommonName: the last), last first; other attributes as OID=#DER. */
static void test_client_subject(void **state)
{
    (void)state;
    static const char *const attrs[][2] = {{"C", "FR"},        {"O", "A"},   {"O", "B"},
                                           {"CN", "x"},        {"CN", "y"},  {"OU", "a,b"},
                                           {"1.2.3.4", "a*b"}, {"DC", "org"}};
    X509 *cert = X509_new();
    X509_NAME *name = X509_get_subject_name(cert);
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
        assert_int_equal(X509_NAME_add_entry_by_txt(name, attrs[i][0], MBSTRING_UTF8,
                                                    (const unsigned char *)attrs[i][1], -1, -1, 0),
                         1);
    char *s = proxy_accesslog_subject(cert);
    assert_string_equal(s, "CN=y,OU=a\\,b,O=A+O=B,C=FR,0.9.2342.19200300.100.1.25=#13036f7267,"
                           "1.2.3.4=#0c03612a62");
    hc_free(s);
    assert_null(proxy_accesslog_subject(NULL));
    X509_free(cert);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_line),
        cmocka_unit_test(test_tls_no_router_and_escaping),
        cmocka_unit_test(test_paths_hosts_and_bytes),
        cmocka_unit_test(test_buffer_limit),
        cmocka_unit_test(test_file_and_reopen),
        cmocka_unit_test(test_client_subject),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
