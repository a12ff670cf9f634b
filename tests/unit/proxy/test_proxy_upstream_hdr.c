/* Forwarding header rules (src/proxy/proxy_upstream_hdr.c): hop-by-hop removal (RFC
 * 9110 §7.6.1) and Traefik's X-Forwarded-* / X-Real-Ip with trusted-hop awareness. */
#include "core/hc_alloc.h"
#include "proxy/proxy_upstream.h"

#include <string.h>

/* "Name: value\n" lines -> a header list. */
static void load(proxy_mw_headers_t *h, const char *lines)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", lines);
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *c = strchr(l, ':');
        *c = '\0';
        proxy_mw_headers_add(h, l, c + 2);
    }
}

/* The list back as "Name: value\n" lines, in order. */
static void dump(const proxy_mw_headers_t *h, char *out, size_t n)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < h->len; i++)
        off += (size_t)snprintf(out + off, n - off, "%s: %s\n", h->v[i].name, h->v[i].value);
}

static void test_is_hop(void **state)
{
    const char *hop[] = {"Connection", "keep-alive", "Proxy-Connection", "proxy-authenticate",
                         "Proxy-Authorization", "te", "Trailer", "transfer-encoding", "UPGRADE"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        assert_true(proxy_upstream_is_hop(hop[i]));
    assert_false(proxy_upstream_is_hop("Content-Length"));
    assert_false(proxy_upstream_is_hop("Trailers"));
    assert_false(proxy_upstream_is_hop("Host"));
}

static void test_strip_table(void **state)
{
    static const struct {
        const char *in;
        int keep_upgrade;
        const char *want;
    } cases[] = {
        {"Host: a\nConnection: keep-alive\nKeep-Alive: 5\nAccept: */*\n", 0,
         "Host: a\nAccept: */*\n"},
        {"Connection: close, X-Secret\nX-Secret: 1\nX-Other: 2\n", 0, "X-Other: 2\n"},
        {"Connection: x-a\nConnection: x-b\nX-A: 1\nX-B: 2\nX-C: 3\n", 0, "X-C: 3\n"},
        {"TE: trailers\nTrailer: X\nTransfer-Encoding: chunked\nProxy-Connection: k\n"
         "Proxy-Authorization: Basic x\nProxy-Authenticate: Basic\nA: 1\n",
         0, "A: 1\n"},
        {"Connection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Key: k\n", 1,
         "Sec-WebSocket-Key: k\nConnection: Upgrade\nUpgrade: websocket\n"},
        {"Connection: Upgrade\nUpgrade: websocket\n", 0, ""},
        {"Upgrade: websocket\nA: 1\n", 1, "A: 1\n"}, /* no Connection option: dropped */
        {"Connection: keep-alive, Upgrade\nUpgrade: h2c\nKeep-Alive: 1\n", 1,
         "Connection: Upgrade\nUpgrade: h2c\n"},
        {"Connection: ,, ,\nA: 1\n", 0, "A: 1\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_mw_headers_t h = {0};
        char got[1024];
        load(&h, cases[i].in);
        proxy_upstream_strip_hop(&h, cases[i].keep_upgrade);
        dump(&h, got, sizeof(got));
        assert_string_equal(got, cases[i].want);
        proxy_mw_headers_free(&h);
    }
}

static void test_forwarded_table(void **state)
{
    static const struct {
        const char *in;
        int trusted, tls, websocket, no_xff;
        const char *host, *server, *want;
    } cases[] = {
        /* untrusted: every incoming X-Forwarded-* / X-Real-Ip goes, fresh values come */
        {"X-Forwarded-For: 6.6.6.6\nX_Forwarded_Host: evil\nX-Real-Ip: 6.6.6.6\nA: 1\n", 0, 0,
         0, 0, "app.test", NULL,
         "A: 1\nX-Real-Ip: 10.0.0.9\nX-Forwarded-Proto: http\nX-Forwarded-Port: 80\n"
         "X-Forwarded-Host: app.test\nX-Forwarded-For: 10.0.0.9\n"},
        /* trusted: kept and extended */
        {"X-Forwarded-For: 1.1.1.1\nX-Forwarded-For: 2.2.2.2\nX-Forwarded-Proto: https\n", 1, 0,
         0, 0, "app.test:8080", "edge-1",
         "X-Forwarded-Proto: https\nX-Real-Ip: 10.0.0.9\nX-Forwarded-Port: 8080\n"
         "X-Forwarded-Host: app.test:8080\nX-Forwarded-Server: edge-1\n"
         "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.9\n"},
        /* TLS WebSocket without a port: wss and 443 */
        {"", 0, 1, 1, 0, "app.test", NULL,
         "X-Real-Ip: 10.0.0.9\nX-Forwarded-Proto: wss\nX-Forwarded-Port: 443\n"
         "X-Forwarded-Host: app.test\nX-Forwarded-For: 10.0.0.9\n"},
        /* headers middleware emptied X-Forwarded-For: none is added */
        {"", 0, 0, 0, 1, "[::1]:9000", NULL,
         "X-Real-Ip: 10.0.0.9\nX-Forwarded-Proto: http\nX-Forwarded-Port: 9000\n"
         "X-Forwarded-Host: [::1]:9000\n"},
        /* trusted X-Forwarded-Proto https decides the default port */
        {"X-Forwarded-Proto: https\n", 1, 0, 0, 0, "h", NULL,
         "X-Forwarded-Proto: https\nX-Real-Ip: 10.0.0.9\nX-Forwarded-Port: 443\n"
         "X-Forwarded-Host: h\nX-Forwarded-For: 10.0.0.9\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_mw_headers_t h = {0};
        char got[2048];
        load(&h, cases[i].in);
        proxy_upstream_forwarded(&h, "10.0.0.9", cases[i].trusted, cases[i].tls, cases[i].websocket,
                                 cases[i].host, cases[i].server);
        proxy_upstream_forwarded_for(&h, "10.0.0.9", cases[i].no_xff); /* on the way out */
        dump(&h, got, sizeof(got));
        assert_string_equal(got, cases[i].want);
        proxy_mw_headers_free(&h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_hop),
        cmocka_unit_test(test_strip_table),
        cmocka_unit_test(test_forwarded_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
