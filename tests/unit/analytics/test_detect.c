/* Unit tests for analytics_detect: the client-IP header order and parsing, IGNORE_IP
 * (IPs and v4/v6 CIDRs), location from CDN headers and from a MaxMind database (a tiny
 * .mmdb written by the test), detect-browser names, OS names, ua-parser-js device
 * types, Umami's laptop/desktop screen rule, and isbot verdicts. The UA expectations
 * were checked against detect-browser 5.3.0, ua-parser-js 1.0.41 and isbot 5.2.3. */
#include "analytics/analytics_detect.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* A request carrying n "name: value" headers (no connection: only header lookups). */
typedef struct fake_req {
    hc_http_req_t req;
    hc_http_header_t h[16];
} fake_req_t;

static void fake(fake_req_t *f, const char *const *kv, size_t n)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n && i < 16; i++) {
        f->h[i].name = kv[2 * i];
        f->h[i].name_len = strlen(kv[2 * i]);
        f->h[i].value = kv[2 * i + 1];
        f->h[i].value_len = strlen(kv[2 * i + 1]);
    }
    f->req.headers = f->h;
    f->req.nheaders = n;
}

static void test_ip_header_order(void **state)
{
    (void)state;
    /* Umami's order; each header listed with all the later ones present must win */
    static const char *const order[] = {
        "true-client-ip",   "cf-connecting-ip", "fastly-client-ip",    "x-nf-client-connection-ip",
        "do-connecting-ip", "x-real-ip",        "x-appengine-user-ip", "x-forwarded-for",
        "forwarded",        "x-client-ip",      "x-cluster-client-ip", "x-forwarded"};
    size_t n = sizeof(order) / sizeof(order[0]);
    static char values[12][32];
    for (size_t first = 0; first < n; first++) {
        const char *kv[2 * 13];
        size_t k = 0;
        for (size_t i = n; i-- > first;) { /* reverse order: position must not matter */
            snprintf(values[i], sizeof(values[i]), "%s198.51.100.%zu",
                     !strcmp(order[i], "forwarded") ? "for=" : "", i + 1);
            kv[2 * k] = order[i];
            kv[2 * k + 1] = values[i];
            k++;
        }
        fake_req_t f;
        fake(&f, kv, k);
        char ip[64], want[32];
        analytics_client_ip(&f.req, NULL, ip, sizeof(ip));
        snprintf(want, sizeof(want), "198.51.100.%zu", first + 1);
        assert_string_equal(ip, want);
        /* CLIENT_IP_HEADER comes before all of them */
        const char *kv2[2 * 14];
        memcpy(kv2, kv, sizeof(kv[0]) * 2 * k);
        kv2[2 * k] = "X-My-IP";
        kv2[2 * k + 1] = "192.0.2.200";
        fake(&f, kv2, k + 1);
        analytics_client_ip(&f.req, "x-my-ip", ip, sizeof(ip));
        assert_string_equal(ip, "192.0.2.200");
    }
}

static void test_ip_parsing(void **state)
{
    (void)state;
    static const struct {
        const char *header, *value, *ip;
    } cases[] = {
        {"x-forwarded-for", " 203.0.113.7 , 10.0.0.1, 10.0.0.2", "203.0.113.7"},
        {"forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"},
        {"forwarded", "by=x; for=[2001:db8:cafe::17]:4711", "2001:db8:cafe::17"},
        {"x-real-ip", "::ffff:203.0.113.9", "203.0.113.9"},
        {"x-real-ip", "::FFFF:203.0.113.9:8080", "203.0.113.9"},
        {"x-real-ip", "203.0.113.7:5555", "203.0.113.7"},
        {"x-real-ip", "[2001:db8::1]:443", "2001:db8::1"},
        {"x-real-ip", "2001:db8::1", "2001:db8::1"},
        {"cf-connecting-ip", "2606:4700::6810:84e5", "2606:4700::6810:84e5"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *kv[] = {cases[i].header, cases[i].value};
        fake_req_t f;
        fake(&f, kv, 1);
        char ip[64];
        analytics_client_ip(&f.req, NULL, ip, sizeof(ip));
        assert_string_equal(ip, cases[i].ip);
    }
    /* an empty header is skipped; no header at all gives "" (never the socket) */
    const char *kv[] = {"true-client-ip", "", "x-client-ip", "192.0.2.1"};
    fake_req_t f;
    fake(&f, kv, 2);
    char ip[64];
    analytics_client_ip(&f.req, NULL, ip, sizeof(ip));
    assert_string_equal(ip, "192.0.2.1");
    fake(&f, NULL, 0);
    analytics_client_ip(&f.req, "x-custom", ip, sizeof(ip));
    assert_string_equal(ip, "");
}

static void test_ignore_ip(void **state)
{
    (void)state;
    analytics_detect_t *d;
    char why[128];
    analytics_detect_opts_t o = {.ignore_ip = " 192.0.2.1, 10.0.0.0/8,2001:db8::/32 ,,"
                                              "172.16.0.0/12, 198.51.100.128/25"};
    assert_int_equal(analytics_detect_new(&o, &d, why, sizeof(why)), 0);
    assert_true(analytics_ip_ignored(d, "192.0.2.1"));
    assert_false(analytics_ip_ignored(d, "192.0.2.10"));
    assert_true(analytics_ip_ignored(d, "10.255.1.2"));
    assert_false(analytics_ip_ignored(d, "11.0.0.1"));
    assert_true(analytics_ip_ignored(d, "172.31.255.255"));
    assert_false(analytics_ip_ignored(d, "172.32.0.0"));
    assert_true(analytics_ip_ignored(d, "198.51.100.200"));
    assert_false(analytics_ip_ignored(d, "198.51.100.127"));
    assert_true(analytics_ip_ignored(d, "2001:db8:ffff::1"));
    assert_false(analytics_ip_ignored(d, "2001:db9::1"));
    assert_false(analytics_ip_ignored(d, "::ffff:10.0.0.1")); /* other family: no match */
    assert_false(analytics_ip_ignored(d, ""));
    assert_false(analytics_ip_ignored(d, "not an ip"));
    analytics_detect_free(d);

    static const char *const bad[] = {"10.0.0.0/33", "2001:db8::/129", "10.0.0/8",
                                      "x/8",         "10.0.0.0/",      "10.0.0.0/8x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        analytics_detect_opts_t b = {.ignore_ip = bad[i]};
        assert_int_equal(analytics_detect_new(&b, &d, why, sizeof(why)), -EINVAL);
        assert_null(d);
        assert_non_null(strstr(why, "IGNORE_IP"));
    }
    analytics_detect_opts_t none = {0};
    assert_int_equal(analytics_detect_new(&none, &d, why, sizeof(why)), 0);
    assert_false(analytics_ip_ignored(d, "192.0.2.1"));
    analytics_detect_free(d);
}

static void fill(analytics_detect_t *d, const char *const *kv, size_t n, analytics_event_t *ev)
{
    fake_req_t f;
    fake(&f, kv, n);
    analytics_detect_fill(d, &f.req, ev);
}

static void test_cdn_location(void **state)
{
    (void)state;
    analytics_detect_t *d;
    assert_int_equal(analytics_detect_new(NULL, &d, NULL, 0), 0);
    analytics_event_t ev;

    memset(&ev, 0, sizeof(ev));
    const char *cf[] = {"x-forwarded-for", "203.0.113.7", "cf-ipcountry", "US",
                        "cf-region-code",  "CA",          "cf-ipcity",    "San%20Francisco"};
    fill(d, cf, 4, &ev);
    assert_string_equal(ev.ip, "203.0.113.7");
    assert_string_equal(ev.country, "US");
    assert_string_equal(ev.region, "US-CA");
    assert_string_equal(ev.city, "San Francisco");

    memset(&ev, 0, sizeof(ev));
    const char *vercel[] = {
        "x-real-ip", "203.0.113.8",      "x-vercel-ip-country", "BR", "x-vercel-ip-country-region",
        "BR-SP",     "x-vercel-ip-city", "S%C3%A3o%20Paulo"};
    fill(d, vercel, 4, &ev);
    assert_string_equal(ev.country, "BR");
    assert_string_equal(ev.region, "BR-SP"); /* already dashed: kept */
    assert_string_equal(ev.city, "S\xc3\xa3o Paulo");

    memset(&ev, 0, sizeof(ev));
    const char *cloudfront[] = {"x-real-ip",
                                "203.0.113.9",
                                "cloudfront-viewer-country",
                                "DE",
                                "cloudfront-viewer-country-region",
                                "BE"};
    fill(d, cloudfront, 3, &ev);
    assert_string_equal(ev.country, "DE");
    assert_string_equal(ev.region, "DE-BE");
    assert_string_equal(ev.city, "");

    /* header bytes that are not UTF-8 never reach a column */
    memset(&ev, 0, sizeof(ev));
    const char *badutf[] = {"x-real-ip", "203.0.113.9", "cf-ipcountry",   "US",
                            "cf-ipcity", "M\xfcnchen",  "cf-region-code", "%C3"};
    fill(d, badutf, 4, &ev);
    assert_string_equal(ev.country, "US");
    assert_string_equal(ev.city, "");
    assert_string_equal(ev.region, "US-%C3"); /* malformed escape: kept as sent */

    /* private or missing IPs have no location; nor does a payload-given IP use headers */
    static const char *const local[] = {"10.1.2.3",    "127.0.0.1", "192.168.1.1", "172.20.0.1",
                                        "169.254.0.9", "::1",       "fd00::1",     "fe80::1"};
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        memset(&ev, 0, sizeof(ev));
        const char *kv[] = {"x-real-ip", local[i], "cf-ipcountry", "US"};
        fill(d, kv, 2, &ev);
        assert_string_equal(ev.ip, local[i]);
        assert_string_equal(ev.country, "");
    }
    memset(&ev, 0, sizeof(ev));
    const char *nohdr[] = {"cf-ipcountry", "US"};
    fill(d, nohdr, 1, &ev);
    assert_string_equal(ev.ip, "");
    assert_string_equal(ev.country, "");
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.ip, sizeof(ev.ip), "203.0.113.50");
    ev.ip_from_payload = 1;
    const char *spoof[] = {"x-real-ip", "203.0.113.7", "cf-ipcountry", "US"};
    fill(d, spoof, 2, &ev);
    assert_string_equal(ev.ip, "203.0.113.50");
    assert_string_equal(ev.country, "");
    analytics_detect_free(d);
}

/* ---- a minimal MaxMind DB (format spec 2.0) mapping 81.2.69.0/24 to London ---- */

typedef struct mbuf {
    unsigned char b[1024];
    size_t n;
} mbuf_t;

static void mb_put(mbuf_t *m, const void *p, size_t n)
{
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void mb_str(mbuf_t *m, const char *s)
{
    unsigned char c = (unsigned char)(2 << 5 | strlen(s));
    mb_put(m, &c, 1);
    mb_put(m, s, strlen(s));
}

static void mb_map(mbuf_t *m, unsigned n)
{
    unsigned char c = (unsigned char)(7 << 5 | n);
    mb_put(m, &c, 1);
}

static void mb_uint(mbuf_t *m, int type, uint64_t v, unsigned bytes)
{
    unsigned char c[10];
    size_t k = 0;
    if (type <= 7) {
        c[k++] = (unsigned char)(type << 5 | bytes);
    } else {
        c[k++] = (unsigned char)bytes;
        c[k++] = (unsigned char)(type - 7);
    }
    for (unsigned i = bytes; i-- > 0;)
        c[k++] = (unsigned char)(v >> (8 * i));
    mb_put(m, c, k);
}

static void mb_array(mbuf_t *m, unsigned n)
{
    unsigned char c[2] = {(unsigned char)n, 11 - 7};
    mb_put(m, c, 2);
}

static void write_mmdb(const char *path)
{
    enum { NODES = 24 };
    const uint32_t net = 81u << 24 | 2u << 16 | 69u << 8;
    mbuf_t data = {.n = 0}, meta = {.n = 0};
    mb_map(&data, 3);
    mb_str(&data, "city");
    mb_map(&data, 1);
    mb_str(&data, "names");
    mb_map(&data, 1);
    mb_str(&data, "en");
    mb_str(&data, "London");
    mb_str(&data, "country");
    mb_map(&data, 1);
    mb_str(&data, "iso_code");
    mb_str(&data, "GB");
    mb_str(&data, "subdivisions");
    mb_array(&data, 1);
    mb_map(&data, 1);
    mb_str(&data, "iso_code");
    mb_str(&data, "ENG");

    mb_map(&meta, 9);
    mb_str(&meta, "binary_format_major_version");
    mb_uint(&meta, 5, 2, 1);
    mb_str(&meta, "binary_format_minor_version");
    mb_uint(&meta, 5, 0, 0);
    mb_str(&meta, "build_epoch");
    mb_uint(&meta, 9, 1700000000, 4);
    mb_str(&meta, "database_type");
    mb_str(&meta, "GeoLite2-City");
    mb_str(&meta, "description");
    mb_map(&meta, 1);
    mb_str(&meta, "en");
    mb_str(&meta, "hearth test");
    mb_str(&meta, "ip_version");
    mb_uint(&meta, 5, 4, 1);
    mb_str(&meta, "languages");
    mb_array(&meta, 1);
    mb_str(&meta, "en");
    mb_str(&meta, "node_count");
    mb_uint(&meta, 6, NODES, 1);
    mb_str(&meta, "record_size");
    mb_uint(&meta, 5, 24, 1);

    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < NODES; i++) {
        /* node i tests bit i; the path to 81.2.69.0/24 continues, the other side is empty */
        uint32_t next = i + 1 < NODES ? (uint32_t)i + 1 : NODES + 16; /* data at offset 0 */
        uint32_t left = NODES, right = NODES;
        if (net >> (31 - i) & 1)
            right = next;
        else
            left = next;
        unsigned char rec[6] = {(unsigned char)(left >> 16), (unsigned char)(left >> 8),
                                (unsigned char)left,         (unsigned char)(right >> 16),
                                (unsigned char)(right >> 8), (unsigned char)right};
        fwrite(rec, 1, 6, f);
    }
    static const unsigned char sep[16];
    fwrite(sep, 1, sizeof(sep), f);
    fwrite(data.b, 1, data.n, f);
    fwrite("\xab\xcd\xefMaxMind.com", 1, 14, f);
    fwrite(meta.b, 1, meta.n, f);
    fclose(f);
}

static void test_maxmind(void **state)
{
    (void)state;
    char path[] = "/tmp/hearth-test-geo-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_mmdb(path);
    analytics_detect_t *d;
    char why[256];
    analytics_detect_opts_t o = {.geolite_db_path = path};
    int rc = analytics_detect_new(&o, &d, why, sizeof(why));
    if (rc != 0)
        fail_msg("%s", why);
    analytics_event_t ev;
    memset(&ev, 0, sizeof(ev));
    const char *kv[] = {"x-forwarded-for", "81.2.69.160"};
    fill(d, kv, 1, &ev);
    assert_string_equal(ev.country, "GB");
    assert_string_equal(ev.region, "GB-ENG");
    assert_string_equal(ev.city, "London");
    /* CDN headers win over the database; unknown addresses stay empty */
    memset(&ev, 0, sizeof(ev));
    const char *cdn[] = {"x-forwarded-for", "81.2.69.160", "cf-ipcountry", "FR"};
    fill(d, cdn, 2, &ev);
    assert_string_equal(ev.country, "FR");
    memset(&ev, 0, sizeof(ev));
    const char *other[] = {"x-forwarded-for", "81.2.70.1"};
    fill(d, other, 1, &ev);
    assert_string_equal(ev.country, "");
    /* a payload IP still gets a database location */
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.ip, sizeof(ev.ip), "81.2.69.1");
    ev.ip_from_payload = 1;
    fill(d, cdn + 2, 1, &ev);
    assert_string_equal(ev.country, "GB");
    analytics_detect_free(d);
    unlink(path);

    analytics_detect_opts_t missing = {.geolite_db_path = "/nonexistent/GeoLite2-City.mmdb"};
    assert_int_equal(analytics_detect_new(&missing, &d, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "GEOLITE_DB_PATH"));
}

static void test_user_agents(void **state)
{
    (void)state;
    static const struct {
        const char *ua, *browser, *os, *device;
        int bot;
    } cases[] = {
        {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Safari/537.36",
         "chrome", "Linux", "desktop", 0},
        {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
         "edge-chromium", "Windows 10", "desktop", 0},
        {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582",
         "edge", "Windows 10", "desktop", 0},
        {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
         "Gecko) Version/17.2 Safari/605.1.15",
         "safari", "Mac OS", "desktop", 0},
        {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
         "firefox", "Mac OS", "desktop", 0},
        {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
         "like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
         "ios", "iOS", "mobile", 0},
        {"Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.2 Mobile/15E148 Safari/604.1",
         "ios", "iOS", "tablet", 0},
        {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
         "like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
         "crios", "iOS", "mobile", 0},
        {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
         "like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
         "fxios", "iOS", "mobile", 0},
        {"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
         "like Gecko) Mobile/15E148",
         "ios-webview", "iOS", "mobile", 0},
        {"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.6099.144 Mobile Safari/537.36",
         "chrome", "Android OS", "mobile", 0},
        {"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
         "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
         "samsung", "Android OS", "mobile", 0},
        {"Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Safari/537.36",
         "chrome", "Android OS", "tablet", 0},
        {"Mozilla/5.0 (Linux; Android 12; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
         "Chrome/119.0.6045.193 Mobile Safari/537.36",
         "chromium-webview", "Android OS", "mobile", 0},
        {"Mozilla/5.0 (Linux; Android 4.4.2; Nexus 5 Build/KOT49H) AppleWebKit/537.36 (KHTML, "
         "like Gecko) Version/4.0 Mobile Safari/537.36",
         "android", "Android OS", "mobile", 0},
        {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
         "opera", "Windows 10", "desktop", 0},
        {"Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko", "ie", "Windows 7",
         "desktop", 0},
        {"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1)", "ie", "Windows XP", "desktop", 0},
        {"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Safari/537.36",
         "chrome", "Chrome OS", "desktop", 0},
        {"Mozilla/5.0 (BB10; Touch) AppleWebKit/537.10+ (KHTML, like Gecko) Version/10.0.9.2372 "
         "Mobile Safari/537.10+",
         "bb10", "BlackBerry OS", "mobile", 0},
        {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "HeadlessChrome/120.0.6099.28 Safari/537.36",
         "chrome", "Linux", "desktop", 1},
        {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "searchbot",
         NULL, "desktop", 1},
        {"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "searchbot",
         NULL, "desktop", 1},
        {"curl/8.5.0", "curl", NULL, "desktop", 1},
        {"Wget/1.21.4", NULL, NULL, "desktop", 1},
        {"wrk/4.2.0", NULL, NULL, "desktop", 1},
        {"wrk", NULL, NULL, "desktop", 1},
        {"node", NULL, NULL, "desktop", 1},
        {"undici", NULL, NULL, "desktop", 1},
        {"axios/1.6.7", NULL, NULL, "desktop", 1},
        {"python-requests/2.31.0", NULL, NULL, "desktop", 1},
        {"Go-http-client/1.1", NULL, NULL, "desktop", 1},
        {"Java/17.0.2", NULL, NULL, "desktop", 1},
        {"PostmanRuntime/7.36.0", NULL, NULL, "desktop", 1},
        {"Mozilla/5.0 Umami/v20.11.0", NULL, NULL, "desktop", 0},
        {"Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)",
         "ios-webview", NULL, "console", 0},
        {"Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
         "SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
         "samsung", "Linux", "smarttv", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *b = analytics_browser_name(cases[i].ua), *o = analytics_os_name(cases[i].ua);
        if ((b == NULL) != (cases[i].browser == NULL) || (b && strcmp(b, cases[i].browser) != 0))
            fail_msg("case %zu browser %s", i, b ? b : "NULL");
        if ((o == NULL) != (cases[i].os == NULL) || (o && strcmp(o, cases[i].os) != 0))
            fail_msg("case %zu os %s", i, o ? o : "NULL");
        assert_string_equal(analytics_device_type(cases[i].ua, NULL), cases[i].device);
        if (analytics_is_bot(cases[i].ua) != cases[i].bot)
            fail_msg("case %zu: bot should be %d", i, cases[i].bot);
    }
    /* a missing or empty UA is nobody in particular, and not a bot */
    assert_false(analytics_is_bot(NULL));
    assert_false(analytics_is_bot(""));
    assert_null(analytics_browser_name(""));
    assert_null(analytics_os_name(NULL));
}

static void test_device_and_fill(void **state)
{
    (void)state;
    const char *desk = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/120.0.0.0 Safari/537.36";
    /* Umami v3 getDevice: desktop types become laptop when the width is <= 1920 */
    assert_string_equal(analytics_device_type(desk, "1920x1080"), "laptop");
    assert_string_equal(analytics_device_type(desk, "1366x768"), "laptop");
    assert_string_equal(analytics_device_type(desk, "2560x1440"), "desktop");
    assert_string_equal(analytics_device_type(desk, ""), "desktop");
    assert_string_equal(analytics_device_type(desk, NULL), "desktop");
    assert_string_equal(analytics_device_type(desk, "abc"), "desktop"); /* +'abc' is NaN */
    assert_string_equal(analytics_device_type(desk, "x900"), "laptop"); /* +'' is 0 */
    assert_string_equal(analytics_device_type("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac "
                                              "OS X) AppleWebKit/605.1.15 Mobile/15E148",
                                              "390x844"),
                        "mobile");

    analytics_detect_t *d;
    assert_int_equal(analytics_detect_new(NULL, &d, NULL, 0), 0);
    analytics_event_t ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.screen, sizeof(ev.screen), "2560x1440");
    const char *kv[] = {"User-Agent", desk, "x-forwarded-for", "203.0.113.7"};
    fill(d, kv, 2, &ev);
    assert_string_equal(ev.user_agent, desk);
    assert_string_equal(ev.browser, "chrome");
    assert_string_equal(ev.os, "Linux");
    assert_string_equal(ev.device, "desktop");
    /* header bytes past ASCII are latin1 to Node: hashed (and kept) as their UTF-8 */
    memset(&ev, 0, sizeof(ev));
    const char *latin[] = {"User-Agent", "Caf\351Browser/1.0 \377", "x-real-ip", "1.2.3.4\xa0"};
    fill(d, latin, 2, &ev);
    assert_string_equal(ev.user_agent, "Caf\303\251Browser/1.0 \303\277");
    assert_string_equal(ev.ip, "1.2.3.4\xc2\xa0");
    /* payload overrides are kept */
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.user_agent, sizeof(ev.user_agent), "curl/8.5.0");
    snprintf(ev.browser, sizeof(ev.browser), "custom");
    fill(d, kv, 2, &ev);
    assert_string_equal(ev.user_agent, "curl/8.5.0");
    assert_string_equal(ev.browser, "custom");
    assert_string_equal(ev.os, "");
    assert_string_equal(ev.device, "desktop");
    analytics_detect_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_header_order), cmocka_unit_test(test_ip_parsing),
        cmocka_unit_test(test_ignore_ip),       cmocka_unit_test(test_cdn_location),
        cmocka_unit_test(test_maxmind),         cmocka_unit_test(test_user_agents),
        cmocka_unit_test(test_device_and_fill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
