/* Who sent an event (Umami v3 src/lib/ip.ts and src/lib/detect.ts): the client IP from
 * proxy headers, location from CDN headers or a MaxMind database, IGNORE_IP matching,
 * and the UA-derived columns (analytics_detect_ua.c). Immutable after creation, so
 * workers share one analytics_detect_t without locks (libmaxminddb lookups are
 * thread-safe on an opened database). */
#include "analytics/analytics_detect.h"

#include "analytics/analytics_keyhash.h"
#include "analytics/analytics_url.h"
#include "core/hc_alloc.h"
#include "core/hc_err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <maxminddb.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IGNORE_MAX 256 /* IGNORE_IP entries */

typedef struct ip_addr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char b[16];
} ip_addr_t;

typedef struct ignore_entry {
    char text[64]; /* exact entries compare as strings, as Umami does */
    ip_addr_t net;
    int prefix; /* -1: exact entry */
} ignore_entry_t;

struct analytics_detect {
    char client_ip_header[128];
    ignore_entry_t *ignore;
    size_t nignore;
    MMDB_s mmdb;
    int has_mmdb;
};

/* A header name and its length. */
typedef struct header_name {
    const char *name;
    size_t len;
} header_name_t;

#define NAME(s)                                                                                    \
    {                                                                                              \
        .name = (s), .len = sizeof(s) - 1                                                          \
    }

/* Umami's IP header list, in its order (CLIENT_IP_HEADER comes first). */
static const header_name_t ip_headers[] = {
    NAME("true-client-ip"),      NAME("cf-connecting-ip"),
    NAME("fastly-client-ip"),    NAME("x-nf-client-connection-ip"),
    NAME("do-connecting-ip"),    NAME("x-real-ip"),
    NAME("x-appengine-user-ip"), NAME("x-forwarded-for"),
    NAME("forwarded"),           NAME("x-client-ip"),
    NAME("x-cluster-client-ip"), NAME("x-forwarded"),
};

enum { IP_HEADERS = sizeof(ip_headers) / sizeof(ip_headers[0]) };

static int parse_ip(const char *s, ip_addr_t *a)
{
    if (inet_pton(AF_INET, s, a->b) == 1) {
        a->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, a->b) == 1) {
        a->family = AF_INET6;
        return 0;
    }
    return -1;
}

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static int parse_ignore(analytics_detect_t *d, const char *list, char *why, size_t wl)
{
    d->ignore = hc_calloc(IGNORE_MAX, sizeof(*d->ignore));
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        trim(&s, &n);
        p = comma ? comma + 1 : p + strlen(p);
        if (n == 0)
            continue;
        if (d->nignore == IGNORE_MAX || n >= sizeof(d->ignore[0].text))
            return hc_errf(why, wl, -EINVAL, "IGNORE_IP: too many or too long entries");
        ignore_entry_t *e = &d->ignore[d->nignore++];
        memcpy(e->text, s, n);
        e->text[n] = '\0';
        e->prefix = -1;
        char *slash = strchr(e->text, '/');
        if (!slash || slash == e->text)
            continue;
        /* CIDR, as ipaddr.parseCIDR reads it */
        char addr[64];
        snprintf(addr, sizeof(addr), "%.*s", (int)(slash - e->text), e->text);
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        if (parse_ip(addr, &e->net) < 0 || *end || end == slash + 1 || bits < 0 ||
            bits > (e->net.family == AF_INET ? 32 : 128))
            return hc_errf(why, wl, -EINVAL, "IGNORE_IP: bad CIDR %s", e->text);
        e->prefix = (int)bits;
    }
    return 0;
}

int analytics_detect_new(const analytics_detect_opts_t *o, analytics_detect_t **out, char *why,
                         size_t whylen)
{
    analytics_detect_t *d = hc_calloc(1, sizeof(*d));
    *out = NULL;
    if (o && o->client_ip_header && *o->client_ip_header) {
        if (strlen(o->client_ip_header) >= sizeof(d->client_ip_header)) {
            analytics_detect_free(d);
            return hc_errf(why, whylen, -EINVAL, "CLIENT_IP_HEADER: too long");
        }
        snprintf(d->client_ip_header, sizeof(d->client_ip_header), "%s", o->client_ip_header);
    }
    if (o && o->ignore_ip && parse_ignore(d, o->ignore_ip, why, whylen) < 0) {
        analytics_detect_free(d);
        return -EINVAL;
    }
    if (o && o->geolite_db_path && *o->geolite_db_path) {
        int rc = MMDB_open(o->geolite_db_path, MMDB_MODE_MMAP, &d->mmdb);
        if (rc != MMDB_SUCCESS) {
            hc_errf(why, whylen, -EINVAL, "GEOLITE_DB_PATH %s: %s", o->geolite_db_path,
                    MMDB_strerror(rc));
            analytics_detect_free(d);
            return -EINVAL;
        }
        d->has_mmdb = 1;
    }
    *out = d;
    return 0;
}

void analytics_detect_free(analytics_detect_t *d)
{
    if (!d)
        return;
    if (d->has_mmdb)
        MMDB_close(&d->mmdb);
    hc_free(d->ignore);
    hc_free(d);
}

/* ---- client IP ---- */

/* A header value as Umami sees it: Node reads header bytes as latin1, so a byte of
 * 0x80 or more is the code point of that value, and hash() feeds it to sha512 as UTF-8.
 * Copies s[0..n) so into out (always valid UTF-8), cut at a character boundary. */
static void header_copy(char *out, size_t cap, const char *s, size_t n)
{
    if (cap && analytics_ascii(s, n)) { /* as values usually are: every byte stays */
        size_t len = n < cap ? n : cap - 1;
        memcpy(out, s, len);
        out[len] = '\0';
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n && cap; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t need = c < 0x80 ? 1 : 2;
        if (k + need >= cap)
            break;
        if (c < 0x80) {
            out[k++] = (char)c;
        } else {
            out[k++] = (char)(0xc0 | c >> 6);
            out[k++] = (char)(0x80 | (c & 0x3f));
        }
    }
    if (cap)
        out[k] = '\0';
}

/* Normalizes what a header gave: brackets and ports stripped, IPv4-mapped IPv6 as
 * IPv4, whitespace trimmed. */
static void normalize_ip(const char *s, size_t n, char *out, size_t cap)
{
    trim(&s, &n);
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (rb) {
            s++;
            n = (size_t)(rb - s);
        }
    }
    if (n > 7 && !strncasecmp(s, "::ffff:", 7) && memchr(s + 7, '.', n - 7)) {
        s += 7;
        n -= 7;
    }
    /* "1.2.3.4:5678": an IPv4 address (it has a dot and one colon) with a port */
    const char *colon = memchr(s, ':', n);
    if (colon && memchr(s, '.', n) && !memchr(colon + 1, ':', n - (size_t)(colon - s) - 1))
        n = (size_t)(colon - s);
    header_copy(out, cap, s, n);
}

/* forwarded: /for=(\[?[0-9a-fA-F:.]+\]?)/ -> the capture, else the whole value. */
static void forwarded_for(const char *v, size_t n, const char **s, size_t *len)
{
    static const char set[] = "0123456789abcdefABCDEF:.";
    *s = v;
    *len = n;
    for (const char *p = v; p + 4 <= v + n; p++) {
        if (memcmp(p, "for=", 4))
            continue;
        const char *a = p + 4, *e = v + n;
        const char *q = a;
        if (q < e && *q == '[')
            q++;
        const char *digits = q;
        while (q < e && *q && strchr(set, *q))
            q++;
        if (q == digits)
            continue;
        if (q < e && *q == ']')
            q++;
        *s = a;
        *len = (size_t)(q - a);
        return;
    }
}

/* Stores h as first[k] when it is the first header named names[k] (without case). */
static void note_header(const hc_http_header_t *h, const header_name_t *names, size_t n,
                        const hc_http_header_t **first)
{
    for (size_t k = 0; k < n; k++)
        if (!first[k] && h->name_len == names[k].len &&
            !strncasecmp(h->name, names[k].name, names[k].len))
            first[k] = h;
}

void analytics_client_ip(const hc_http_req_t *req, const char *custom_header, char *out, size_t cap)
{
    /* each candidate as hc_http_req_header finds it (its first occurrence), all in one
     * pass over the request's headers rather than one pass per name */
    header_name_t custom_name = {custom_header, custom_header ? strlen(custom_header) : 0};
    const hc_http_header_t *first[IP_HEADERS] = {0}, *custom = NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (custom_name.len)
            note_header(&req->headers[i], &custom_name, 1, &custom);
        note_header(&req->headers[i], ip_headers, IP_HEADERS, first);
    }
    const hc_http_header_t *h = custom;
    const char *name = custom_header;
    for (size_t k = 0; (!h || !h->value_len) && k < IP_HEADERS; k++) {
        h = first[k];
        name = ip_headers[k].name;
    }
    out[0] = '\0';
    if (!h || !h->value_len)
        return;
    const char *v = h->value;
    size_t n = h->value_len;
    if (!strcasecmp(name, "x-forwarded-for")) {
        const char *comma = memchr(v, ',', n);
        if (comma)
            n = (size_t)(comma - v);
    } else if (!strcasecmp(name, "forwarded")) {
        forwarded_for(v, n, &v, &n);
    }
    normalize_ip(v, n, out, cap);
}

/* ---- IGNORE_IP ---- */

static int prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
    int bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)bytes))
        return 0;
    if (!rest)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

int analytics_ip_ignored(const analytics_detect_t *d, const char *ip)
{
    if (!d || !ip || !d->nignore)
        return 0;
    ip_addr_t a;
    int parsed = parse_ip(ip, &a) == 0;
    for (size_t i = 0; i < d->nignore; i++) {
        const ignore_entry_t *e = &d->ignore[i];
        if (!strcmp(e->text, ip))
            return 1;
        if (e->prefix >= 0 && parsed && a.family == e->net.family &&
            prefix_match(a.b, e->net.b, e->prefix))
            return 1;
    }
    return 0;
}

/* ---- location ---- */

/* is-localhost-ip: loopback, private, link-local, unspecified and unique-local
 * addresses have no location. Unparseable strings are not local. */
static int local_ip(const char *ip)
{
    ip_addr_t a;
    if (parse_ip(ip, &a) < 0)
        return 0;
    const unsigned char *b = a.b;
    if (a.family == AF_INET)
        return b[0] == 0 || b[0] == 10 || b[0] == 127 || (b[0] == 169 && b[1] == 254) ||
               (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168);
    static const unsigned char zero[16];
    if (!memcmp(b, zero, 15) && (b[15] == 0 || b[15] == 1))
        return 1; /* :: and ::1 */
    if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80))
        return 1; /* fc00::/7, fe80::/10 */
    return 0;
}

/* getRegionCode: "CC-XX", or the region as given when it has a dash. */
static void region_code(analytics_event_t *ev, const char *region)
{
    if (!ev->country[0] || !region || !*region)
        return;
    char r[64];
    if (strchr(region, '-'))
        snprintf(r, sizeof(r), "%s", region);
    else
        snprintf(r, sizeof(r), "%s-%s", ev->country, region);
    analytics_copy_utf8(ev->region, sizeof(ev->region), r, strlen(r));
}

/* Cloudflare, Vercel and CloudFront location headers; values are URI-decoded. */
static int cdn_location(const hc_http_req_t *req, analytics_event_t *ev)
{
    static const char *const providers[][3] = {
        {"cf-ipcountry", "cf-region-code", "cf-ipcity"},
        {"x-vercel-ip-country", "x-vercel-ip-country-region", "x-vercel-ip-city"},
        {"cloudfront-viewer-country", "cloudfront-viewer-country-region", "cloudfront-viewer-city"},
    };
    for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        size_t n = 0;
        const char *country = hc_http_req_header(req, providers[i][0], &n);
        if (!country || !n)
            continue;
        char region[128] = "", city[256] = "";
        const char *r = hc_http_req_header(req, providers[i][1], NULL);
        const char *c = hc_http_req_header(req, providers[i][2], NULL);
        analytics_uri_decode(country, 1, ev->country, sizeof(ev->country));
        if (r)
            analytics_uri_decode(r, 1, region, sizeof(region));
        if (c)
            analytics_uri_decode(c, 1, city, sizeof(city));
        /* header bytes are not checked for UTF-8 upstream: a column must be */
        if (!analytics_utf8_valid(ev->country, strlen(ev->country)))
            ev->country[0] = '\0';
        if (analytics_utf8_valid(region, strlen(region)))
            region_code(ev, region);
        if (analytics_utf8_valid(city, strlen(city)))
            analytics_copy_utf8(ev->city, sizeof(ev->city), city, strlen(city));
        return 1;
    }
    return 0;
}

static void mmdb_string(MMDB_entry_s *entry, char *out, size_t cap, ...)
{
    MMDB_entry_data_s data;
    va_list ap;
    va_start(ap, cap);
    int rc = MMDB_vget_value(entry, &data, ap);
    va_end(ap);
    if (rc == MMDB_SUCCESS && data.has_data && data.type == MMDB_DATA_TYPE_UTF8_STRING)
        analytics_copy_utf8(out, cap, data.utf8_string, data.data_size);
    else if (cap)
        out[0] = '\0';
}

static void mmdb_location(const analytics_detect_t *d, analytics_event_t *ev)
{
    int gai = 0, err = 0;
    MMDB_lookup_result_s res = MMDB_lookup_string(&d->mmdb, ev->ip, &gai, &err);
    if (gai || err != MMDB_SUCCESS || !res.found_entry)
        return;
    mmdb_string(&res.entry, ev->country, sizeof(ev->country), "country", "iso_code", NULL);
    if (!ev->country[0])
        mmdb_string(&res.entry, ev->country, sizeof(ev->country), "registered_country", "iso_code",
                    NULL);
    char region[32];
    mmdb_string(&res.entry, region, sizeof(region), "subdivisions", "0", "iso_code", NULL);
    region_code(ev, region);
    mmdb_string(&res.entry, ev->city, sizeof(ev->city), "city", "names", "en", NULL);
}

void analytics_detect_fill(const analytics_detect_t *d, const hc_http_req_t *req,
                           analytics_event_t *ev)
{
    if (!ev->user_agent[0] && req) {
        size_t n = 0;
        const char *ua = hc_http_req_header(req, "user-agent", &n);
        if (ua)
            header_copy(ev->user_agent, sizeof(ev->user_agent), ua, n);
    }
    if (!ev->ip_from_payload && req)
        analytics_client_ip(req, d ? d->client_ip_header : NULL, ev->ip, sizeof(ev->ip));
    if (ev->ip[0] && !local_ip(ev->ip)) {
        int found = !ev->ip_from_payload && req && cdn_location(req, ev);
        if (!found && d && d->has_mmdb)
            mmdb_location(d, ev);
    }
    const char *v;
    if (!ev->browser[0] && (v = analytics_browser_name(ev->user_agent)))
        analytics_copy_utf8(ev->browser, sizeof(ev->browser), v, strlen(v));
    if (!ev->os[0] && (v = analytics_os_name(ev->user_agent)))
        analytics_copy_utf8(ev->os, sizeof(ev->os), v, strlen(v));
    if (!ev->device[0]) {
        v = analytics_device_type(ev->user_agent, ev->screen);
        analytics_copy_utf8(ev->device, sizeof(ev->device), v, strlen(v));
    }
}

/* JavaScript's +s for the width part of "WxH": NAN when not a number. */
static double js_plus(const char *s, size_t n)
{
    uint32_t w = 0;
    size_t digits = 0;
    while (digits < n && digits < 9 && s[digits] >= '0' && s[digits] <= '9')
        w = w * 10 + (uint32_t)(s[digits++] - '0');
    if (digits && digits == n)
        return w; /* the usual width, plain digits: what strtod would give */
    char b[32];
    if (n >= sizeof(b))
        return NAN;
    memcpy(b, s, n);
    b[n] = '\0';
    char *p = b;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p)
        return 0;
    char *end;
    double d = strtod(p, &end);
    while (isspace((unsigned char)*end))
        end++;
    return end == p || *end || !isfinite(d) ? NAN : d;
}

/* ---- User-Agent verdicts through a memo (the scans: analytics_detect_ua.c) ---- */

/* Real traffic repeats a few User-Agents: each thread remembers what it found for the
 * last ones it classified (direct-mapped by a hash of the string, compared in full). The
 * functions are pure in ua, so an answer from the memo is the one a new scan gives. */
enum { UA_MEMO = 16, UA_MEMO_LEN = 512, M_BOT = 1, M_BROWSER = 2, M_OS = 4, M_DEVICE = 8 };

typedef struct ua_memo {
    size_t len;    /* 0 = empty */
    unsigned have; /* M_* bits: the verdicts found so far */
    int bot;
    const char *browser, *os, *device;
    char ua[UA_MEMO_LEN];
} ua_memo_t;

static _Thread_local ua_memo_t ua_memos[UA_MEMO];
static _Thread_local ua_memo_t *ua_last; /* the entry memo_of gave last */

/* The memo entry of a non-empty ua (claimed and emptied when another ua held it), or
 * NULL when ua is too long to keep. An event asks for four verdicts on one ua in a row,
 * so the entry given last is compared first, without hashing. */
static ua_memo_t *memo_of(const char *ua)
{
    size_t n = strlen(ua);
    if (n >= UA_MEMO_LEN)
        return NULL;
    if (ua_last && ua_last->len == n && !memcmp(ua_last->ua, ua, n))
        return ua_last;
    ua_memo_t *m = &ua_memos[analytics_key_hash(ua, n) % UA_MEMO];
    if (m->len != n || memcmp(m->ua, ua, n)) {
        m->len = n;
        m->have = 0;
        memcpy(m->ua, ua, n);
    }
    ua_last = m;
    return m;
}

int analytics_is_bot(const char *ua)
{
    if (!ua || !*ua)
        return 0;
    ua_memo_t *m = memo_of(ua);
    if (!m)
        return analytics_ua_bot(ua);
    if (!(m->have & M_BOT)) {
        m->bot = analytics_ua_bot(ua);
        m->have |= M_BOT;
    }
    return m->bot;
}

const char *analytics_browser_name(const char *ua)
{
    ua_memo_t *m = ua && *ua ? memo_of(ua) : NULL;
    if (!m)
        return analytics_ua_browser(ua);
    if (!(m->have & M_BROWSER)) {
        m->browser = analytics_ua_browser(ua);
        m->have |= M_BROWSER;
    }
    return m->browser;
}

const char *analytics_os_name(const char *ua)
{
    ua_memo_t *m = ua && *ua ? memo_of(ua) : NULL;
    if (!m)
        return analytics_ua_os(ua);
    if (!(m->have & M_OS)) {
        m->os = analytics_ua_os(ua);
        m->have |= M_OS;
    }
    return m->os;
}

/* ua_device through the memo (ua not empty). */
static const char *device_of(const char *ua)
{
    ua_memo_t *m = memo_of(ua);
    if (!m)
        return analytics_ua_device(ua);
    if (!(m->have & M_DEVICE)) {
        m->device = analytics_ua_device(ua);
        m->have |= M_DEVICE;
    }
    return m->device;
}

const char *analytics_device_type(const char *ua, const char *screen)
{
    const char *type = ua && *ua ? device_of(ua) : "";
    if (*type)
        return type;
    if (screen && *screen) {
        const char *x = strchr(screen, 'x');
        double w = js_plus(screen, x ? (size_t)(x - screen) : strlen(screen));
        if (w <= 1920)
            return "laptop";
    }
    return "desktop";
}
