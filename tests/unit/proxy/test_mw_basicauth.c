/* basicAuth: each htpasswd hash format (Traefik's documented test users among them),
 * Authorization parsing, 401 shape, headerField / removeHeader, users from a Secret's
 * text and from usersFile. */
#include "core/hc_alloc.h"
#include "proxy/mw_basicauth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void test_hash_formats_table(void **state)
{
    static const struct {
        const char *hash, *pw;
        int want;
    } cases[] = {
        {"$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "test", 1}, /* Traefik docs' test user */
        {"$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0", "test2", 1},
        {"$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "test2", 0},
        {"$apr1$saltsalt$LrttParrLPdxvgutaSXWJ0", "secret", 1}, /* openssl passwd -apr1 */
        {"$1$abc$iCQ2D3nhptRYi27fDYv2s1", "secret", 1},
        {"$2b$04$4mowS792XXbz.erWHp4GJenxxmPlPXVub5pVBCYcJFjawt0zWWDJC", "secret", 1},
        {"$2y$04$4mowS792XXbz.erWHp4GJenxxmPlPXVub5pVBCYcJFjawt0zWWDJC", "secret", 1},
        {"$2a$04$4mowS792XXbz.erWHp4GJenxxmPlPXVub5pVBCYcJFjawt0zWWDJC", "secret", 1},
        {"$2b$04$4mowS792XXbz.erWHp4GJenxxmPlPXVub5pVBCYcJFjawt0zWWDJC", "Secret", 0},
        {"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret", 1},
        {"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret ", 0},
        {"secret", "secret", 0}, /* plain text is not a hash go-http-auth accepts */
        {"$2b$04$short", "secret", 0},
        {"", "", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (proxy_mw_htpasswd_check(cases[i].hash, cases[i].pw) != cases[i].want)
            fail_msg("case %zu: %s", i, cases[i].hash);
}

static void *parse_ok(const char *spec_json)
{
    char err[256] = "";
    void *cfg = NULL;
    json_t *spec = json_loads(spec_json, 0, NULL);
    assert_non_null(spec);
    if (proxy_mw_basicauth_parse(spec, "auth@file", &cfg, err, sizeof(err)) != 0)
        fail_msg("parse: %s", err);
    json_decref(spec);
    return cfg;
}

/* Runs the middleware with Authorization value auth (NULL: none). Returns the status
 * (0: forwarded) and leaves the request in *req for inspection (caller frees). */
static int run(void *cfg, const char *auth, proxy_mw_req_t *req, proxy_mw_resp_t *resp)
{
    proxy_mw_req_init(req, "GET", 1, "h", "/", "192.0.2.1", 0);
    proxy_mw_resp_init(resp);
    if (auth)
        proxy_mw_headers_add(&req->headers, "Authorization", auth);
    return proxy_mw_basicauth_request(cfg, req, resp) == PROXY_MW_NEXT ? 0 : resp->status;
}

static void test_authorization_table(void **state)
{
    void *cfg = parse_ok("{\"users\":[\"test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\","
                         "\"test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0\"]}");
    static const struct {
        const char *auth;
        int status;
        const char *user; /* ClientUsername: the name given, refused or not (Traefik's) */
    } cases[] = {
        {"Basic dGVzdDp0ZXN0", 0, "test"},       /* test:test */
        {"basic dGVzdDp0ZXN0", 0, "test"},       /* scheme is case-insensitive */
        {"Basic dGVzdDI6dGVzdDI=", 0, "test2"},  /* test2:test2 */
        {"Basic dGVzdDp0ZXN0Mg==", 401, "test"}, /* test:test2 */
        {"Basic VGVzdDp0ZXN0", 401, "Test"},     /* Test:test: names are case-sensitive */
        {"Basic dGVzdHRlc3Q=", 401, ""},         /* no colon */
        {"Basic dGVzdDp0ZXN0=", 401, ""},        /* bad padding */
        {"Basic  dGVzdDp0ZXN0", 401, ""},
        {"Bearer dGVzdDp0ZXN0", 401, ""},
        {"Basic", 401, ""},
        {NULL, 401, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_mw_req_t req;
        proxy_mw_resp_t resp;
        int status = run(cfg, cases[i].auth, &req, &resp);
        if (status != cases[i].status)
            fail_msg("case %zu (%s): %d", i, cases[i].auth ? cases[i].auth : "none", status);
        if (status == 401) {
            assert_string_equal(proxy_mw_headers_get(&resp.headers, "WWW-Authenticate"),
                                "Basic realm=\"traefik\"");
            assert_string_equal(resp.body.base, "401 Unauthorized\n");
        } else {
            assert_non_null(proxy_mw_headers_get(&req.headers, "Authorization"));
        }
        assert_non_null(req.user);
        assert_string_equal(req.user, cases[i].user);
        proxy_mw_resp_free(&resp);
        proxy_mw_req_free(&req);
    }
    proxy_mw_basicauth_free(cfg);
}

static void test_secret_text_header_field_remove(void **state)
{
    /* A Secret's `users` value: htpasswd lines with a comment and a blank line; the later
     * line for "test" wins. */
    void *cfg = parse_ok("{\"users\":\"# team\\ntest:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0\\n"
                         "\\r\\ntest:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\\n\","
                         "\"realm\":\"ops\",\"headerField\":\"X-WebAuth-User\","
                         "\"removeHeader\":true}");
    proxy_mw_req_t req;
    proxy_mw_resp_t resp;
    assert_int_equal(run(cfg, "Basic dGVzdDpzZWNyZXQ=", &req, &resp), 0); /* test:secret */
    assert_string_equal(req.user, "test");
    assert_string_equal(proxy_mw_headers_get(&req.headers, "X-WebAuth-User"), "test");
    assert_null(proxy_mw_headers_get(&req.headers, "Authorization"));
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&req);
    assert_int_equal(run(cfg, "Basic dGVzdDp0ZXN0Mg==", &req, &resp), 401);
    assert_string_equal(proxy_mw_headers_get(&resp.headers, "WWW-Authenticate"),
                        "Basic realm=\"ops\"");
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&req);
    proxy_mw_basicauth_free(cfg);
}

static void test_users_file(void **state)
{
    char path[] = "/tmp/hearth-htpasswd-######";
    memset(path + sizeof(path) - 7, 'X', 6); /* mkstemp's template suffix */
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "bob:$2b$04$4mowS792XXbz.erWHp4GJenxxmPlPXVub5pVBCYcJFjawt0zWWDJC\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    char spec[128];
    snprintf(spec, sizeof(spec), "{\"usersFile\":\"%s\"}", path);
    void *cfg = parse_ok(spec);
    proxy_mw_req_t req;
    proxy_mw_resp_t resp;
    assert_int_equal(run(cfg, "Basic Ym9iOnNlY3JldA==", &req, &resp), 0); /* bob:secret */
    proxy_mw_resp_free(&resp);
    proxy_mw_req_free(&req);
    proxy_mw_basicauth_free(cfg);
    unlink(path);
}

static void test_parse_errors(void **state)
{
    const char *bad[] = {
        "{}",
        "{\"users\":[]}",
        "{\"users\":[\"nocolon\"]}",
        "{\"users\":[\":hash\"]}",
        "{\"users\":[1]}",
        "{\"users\":{\"a\":\"b\"}}",
        "{\"usersFile\":\"/nonexistent/htpasswd\"}",
        "{\"users\":[\"a:b\"],\"removeHeader\":\"sometimes\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        void *cfg = NULL;
        json_t *spec = json_loads(bad[i], 0, NULL);
        assert_int_equal(proxy_mw_basicauth_parse(spec, "a", &cfg, err, sizeof(err)), -EINVAL);
        assert_null(cfg);
        assert_true(err[0] != '\0');
        json_decref(spec);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_formats_table),
        cmocka_unit_test(test_authorization_table),
        cmocka_unit_test(test_secret_text_header_field_remove),
        cmocka_unit_test(test_users_file),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
