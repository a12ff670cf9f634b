/* The /api/send body (Umami v3 src/app/api/send/route.ts and its zod schema) turned into
 * an analytics_event_t: validation first (types, limits, one of website/link/pixel,
 * parseable URLs), then the columns the route derives from url, referrer and title. */
#include "analytics/analytics_payload.h"

#include "analytics/analytics_id.h"
#include "analytics/analytics_url.h"
#include "core/hc_alloc.h"
#include "core/hc_err.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* payload.timestamp bounds: JavaScript dates are valid to ±8.64e15 ms; hearth keeps
 * years 1..9999 so every salt string and column value is well formed. */
#define TS_MIN (-62135596800LL)
#define TS_MAX 253402300799LL

/* Optional string member key of p with at most max UTF-16 units (0 = no limit).
 * *out is NULL when absent. Returns 0 or -EINVAL with why set. */
static int get_str(const json_t *p, const char *key, size_t max, const char **out, size_t *len,
                   char *why, size_t whylen)
{
    json_t *v = json_object_get(p, key);
    *out = NULL;
    *len = 0;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return hc_errf(why, whylen, -EINVAL, "payload.%s: expected string", key);
    *out = json_string_value(v);
    *len = json_string_length(v);
    if (max && analytics_js_length(*out, *len) > max)
        return hc_errf(why, whylen, -EINVAL, "payload.%s: longer than %zu characters", key, max);
    return 0;
}

/* z.number().nonnegative().max(max), optional: *out stays -1 when absent. */
static int get_metric(const json_t *p, const char *key, double max, double *out, char *why,
                      size_t whylen)
{
    json_t *v = json_object_get(p, key);
    *out = -1;
    if (!v)
        return 0;
    if (!json_is_number(v))
        return hc_errf(why, whylen, -EINVAL, "payload.%s: expected number", key);
    double d = json_number_value(v);
    if (!(d >= 0 && d <= max))
        return hc_errf(why, whylen, -EINVAL, "payload.%s: out of range", key);
    *out = d;
    return 0;
}

/* JavaScript Number(v) for what a JSON value can be; NAN when it is not a number. */
static double js_to_number(const json_t *v)
{
    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_true(v))
        return 1;
    if (json_is_false(v) || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return NAN;
    const char *s = json_string_value(v);
    while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
        s++;
    if (!*s)
        return 0;
    char *end;
    double d = strtod(s, &end);
    if (end == s || !strncasecmp(s, "nan", 3) || !strncasecmp(s, "inf", 3) ||
        !strncasecmp(s + (*s == '-' || *s == '+'), "inf", 3))
        return NAN;
    while (*end == ' ' || (*end >= '\t' && *end <= '\r'))
        end++;
    return *end ? NAN : d;
}

/* Copies s (n bytes) into a fixed column, cut at a character boundary. */
#define COPY(dst, s, n) analytics_copy_utf8((dst), sizeof(dst), (s), (n))

static void strip_www(char *dst, size_t cap, const char *host)
{
    if (!strncmp(host, "www.", 4))
        host += 4;
    analytics_copy_utf8(dst, cap, host, strlen(host));
}

/* REMOVE_TRAILING_SLASH: /(?!^)\/(?=(#.*)?$)/ -> '' on pathname + hash. */
static void remove_trailing_slash(char *p)
{
    size_t n = strlen(p);
    for (size_t i = 1; i < n; i++)
        if (p[i] == '/' && (i + 1 == n || p[i + 1] == '#')) {
            memmove(p + i, p + i + 1, n - i);
            return;
        }
}

static const struct {
    const char *param;
    size_t off;
} query_fields[] = {
    {"utm_source", offsetof(analytics_event_t, utm_source)},
    {"utm_medium", offsetof(analytics_event_t, utm_medium)},
    {"utm_campaign", offsetof(analytics_event_t, utm_campaign)},
    {"utm_content", offsetof(analytics_event_t, utm_content)},
    {"utm_term", offsetof(analytics_event_t, utm_term)},
    {"gclid", offsetof(analytics_event_t, gclid)},
    {"fbclid", offsetof(analytics_event_t, fbclid)},
    {"msclkid", offsetof(analytics_event_t, msclkid)},
    {"ttclid", offsetof(analytics_event_t, ttclid)},
    {"li_fat_id", offsetof(analytics_event_t, li_fat_id)},
    {"twclid", offsetof(analytics_event_t, twclid)},
};

/* Fields the zod schema checks, gathered before anything is derived from them. */
typedef struct fields {
    const char *website, *link, *pixel, *hostname, *language, *screen, *title, *name, *tag;
    const char *url, *referrer, *ip, *ua, *id, *browser, *os, *device;
    size_t n_hostname, n_language, n_screen, n_title, n_name, n_tag, n_url, n_referrer, n_ip, n_ua,
        n_id, n_browser, n_os, n_device, n_website, n_link, n_pixel;
} fields_t;

static int read_fields(const json_t *p, fields_t *f, char *why, size_t wl)
{
    static const struct {
        const char *key;
        size_t max, off, noff;
    } spec[] = {
#define F(k, m, name) {k, m, offsetof(fields_t, name), offsetof(fields_t, n_##name)}
        F("website", 0, website),    F("link", 0, link),
        F("pixel", 0, pixel),        F("hostname", 100, hostname),
        F("language", 35, language), F("screen", 11, screen),
        F("title", 0, title),        F("name", 50, name),
        F("tag", 50, tag),           F("url", 0, url),
        F("referrer", 0, referrer),  F("ip", 0, ip),
        F("userAgent", 0, ua),       F("id", 0, id),
        F("browser", 0, browser),    F("os", 0, os),
        F("device", 0, device),
#undef F
    };
    for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
        const char **v = (const char **)((char *)f + spec[i].off);
        size_t *n = (size_t *)((char *)f + spec[i].noff);
        int rc = get_str(p, spec[i].key, spec[i].max, v, n, why, wl);
        if (rc < 0)
            return rc;
    }
    const char *ids[] = {f->website, f->link, f->pixel};
    const char *names[] = {"website", "link", "pixel"};
    int present = 0;
    for (int i = 0; i < 3; i++) {
        if (!ids[i])
            continue;
        if (!analytics_uuid_valid(ids[i]))
            return hc_errf(why, wl, -EINVAL, "payload.%s: invalid uuid", names[i]);
        present++;
    }
    if (present != 1)
        return hc_errf(why, wl, -EINVAL, "payload: exactly one of website, link or pixel");
    return 0;
}

/* The base `new URL(url, base)` resolves against: https://hostname or https://localhost. */
static int make_base(const fields_t *f, analytics_url_t *base, char *why, size_t wl)
{
    const char *host = f->hostname && f->n_hostname ? f->hostname : "localhost";
    size_t hn = f->hostname && f->n_hostname ? f->n_hostname : 9;
    char b[512];
    if (strlen(host) != hn || hn + 8 >= sizeof(b))
        return hc_errf(why, wl, -EINVAL, "payload.hostname: invalid hostname");
    int n = snprintf(b, sizeof(b), "https://%s", host);
    if (analytics_url_parse(b, (size_t)n, NULL, base) < 0)
        return hc_errf(why, wl, -EINVAL, "payload.hostname: invalid hostname");
    return 0;
}

/* The event columns of route.ts: path+hash, query, hostname, UTM/click ids, referrer.
 * u[0] and u[2] hold url and referrer as parsed against https://localhost (u[0] unparsed
 * when there is no url): kept when the base played no part, else parsed again against
 * the event's own base, made in u[1]. */
static int derive_page(const fields_t *f, const analytics_payload_opts_t *o, analytics_event_t *ev,
                       analytics_url_t *u, char *why, size_t wl)
{
    analytics_url_t *base = u + 1, *ref = u + 2;
    if (make_base(f, base, why, wl) < 0)
        return -EINVAL;
    const char *url = f->url ? f->url : "undefined"; /* new URL(undefined, base) */
    size_t un = f->url ? f->n_url : 9;
    if ((!f->url || u->relative) && analytics_url_parse(url, un, base, u) < 0)
        return hc_errf(why, wl, -EINVAL, "payload.url: invalid url");
    int perf = ev->kind == ANALYTICS_SEND_PERFORMANCE;
    if (strcmp(u->path, "/undefined") != 0) {
        char *path = u->path;
        if (!perf) {
            size_t pl = strlen(path), hl = strlen(u->hash);
            if (pl + hl < sizeof(u->path))
                memcpy(path + pl, u->hash, hl + 1);
            if (o && o->remove_trailing_slash)
                remove_trailing_slash(path);
        }
        if (perf) /* the performance branch stores the pathname as parsed */
            COPY(ev->url_path, path, strlen(path));
        else
            analytics_uri_decode(path, 0, ev->url_path, sizeof(ev->url_path));
    }
    if (perf)
        return 0;
    COPY(ev->url_query, u->query, strlen(u->query));
    if (f->hostname && f->n_hostname)
        COPY(ev->hostname, f->hostname, f->n_hostname);
    else
        strip_www(ev->hostname, sizeof(ev->hostname), u->host);
    for (size_t i = 0; u->query[0] && i < sizeof(query_fields) / sizeof(query_fields[0]); i++)
        analytics_url_param(u->query, query_fields[i].param, (char *)ev + query_fields[i].off,
                            sizeof(ev->utm_source));
    if (f->referrer && f->n_referrer) {
        if (ref->relative && analytics_url_parse(f->referrer, f->n_referrer, base, ref) < 0)
            return hc_errf(why, wl, -EINVAL, "payload.referrer: invalid url");
        analytics_uri_decode(ref->path, 0, ev->referrer_path, sizeof(ev->referrer_path));
        COPY(ev->referrer_query, ref->query, strlen(ref->query));
        strip_www(ev->referrer_domain, sizeof(ev->referrer_domain), ref->host);
    }
    return 0;
}

/* data.revenue > 0 && data.currency, as the event writer tests them. */
static void revenue(analytics_event_t *ev)
{
    json_t *r = json_object_get(ev->data, "revenue");
    json_t *c = json_object_get(ev->data, "currency");
    double v =
        r && !json_is_null(r) && !json_is_object(r) && !json_is_array(r) ? js_to_number(r) : NAN;
    if (!(v > 0) || !isfinite(v) || !json_is_string(c) || json_string_length(c) == 0)
        return;
    ev->has_revenue = 1;
    ev->revenue = v;
    COPY(ev->currency, json_string_value(c), json_string_length(c));
}

static int parse_payload(const json_t *p, const analytics_payload_opts_t *o, analytics_event_t *ev,
                         char *why, size_t wl)
{
    fields_t f;
    memset(&f, 0, sizeof(f));
    if (read_fields(p, &f, why, wl) < 0)
        return -EINVAL;
    /* every URL must parse against https://localhost (urlOrPathParam) */
    analytics_url_t *u = hc_malloc(3 * sizeof(*u)); /* ~110 KiB: kept off the stack */
    int rc = -EINVAL;
    if (analytics_url_parse("https://localhost", 17, NULL, u + 1) < 0)
        goto out;
    if (f.url && analytics_url_parse(f.url, f.n_url, u + 1, u) < 0) {
        hc_errf(why, wl, -EINVAL, "payload.url: invalid url");
        goto out;
    }
    if (f.referrer && analytics_url_parse(f.referrer, f.n_referrer, u + 1, u + 2) < 0) {
        hc_errf(why, wl, -EINVAL, "payload.referrer: invalid url");
        goto out;
    }
    json_t *data = json_object_get(p, "data");
    if (data && !json_is_object(data)) {
        hc_errf(why, wl, -EINVAL, "payload.data: expected object");
        goto out;
    }
    json_t *ts = json_object_get(p, "timestamp");
    if (ts) {
        double t = js_to_number(ts);
        if (!isfinite(t) || t != floor(t) || t < TS_MIN || t > TS_MAX) {
            hc_errf(why, wl, -EINVAL, "payload.timestamp: expected integer seconds");
            goto out;
        }
        ev->has_timestamp = 1;
        ev->created_at_ms = (int64_t)t * 1000;
    }
    if (get_metric(p, "lcp", 60000, &ev->lcp, why, wl) < 0 ||
        get_metric(p, "inp", 60000, &ev->inp, why, wl) < 0 ||
        get_metric(p, "cls", 100, &ev->cls, why, wl) < 0 ||
        get_metric(p, "fcp", 60000, &ev->fcp, why, wl) < 0 ||
        get_metric(p, "ttfb", 60000, &ev->ttfb, why, wl) < 0)
        goto out;
    if (data) {
        analytics_data_row_t *rows;
        size_t n;
        if (analytics_data_flatten(data, &rows, &n) < 0) {
            hc_errf(why, wl, -EINVAL, "payload.data: too many keys or too deep");
            goto out;
        }
        analytics_data_free(rows, n);
    }

    const char *src = f.website ? f.website : f.link ? f.link : f.pixel;
    COPY(ev->website_id, src, strlen(src));
    /* one spelling, as PostgreSQL's uuid type stores it, so SQLite finds the website and
     * rollups and rows agree (Umami hashes the id as sent: an upper-case id gets other
     * session ids there) */
    analytics_uuid_lower(ev->website_id);
    if (f.screen)
        COPY(ev->screen, f.screen, f.n_screen);
    if (f.language)
        COPY(ev->language, f.language, f.n_language);
    if (f.ip && f.n_ip) {
        COPY(ev->ip, f.ip, f.n_ip);
        ev->ip_from_payload = 1;
    }
    if (f.ua)
        COPY(ev->user_agent, f.ua, f.n_ua);
    if (f.browser)
        COPY(ev->browser, f.browser, f.n_browser);
    if (f.os)
        COPY(ev->os, f.os, f.n_os);
    if (f.device)
        COPY(ev->device, f.device, f.n_device);
    if (f.id)
        COPY(ev->distinct_id, f.id, f.n_id);
    if (f.tag)
        COPY(ev->tag, f.tag, f.n_tag);
    if (f.title)
        analytics_uri_decode(f.title, 1, ev->page_title, sizeof(ev->page_title));
    if (data)
        ev->data = json_incref((json_t *)data);

    if (ev->kind == ANALYTICS_SEND_IDENTIFY) {
        rc = 0;
        goto out;
    }
    if (derive_page(&f, o, ev, u, why, wl) < 0)
        goto out;
    if (ev->kind == ANALYTICS_SEND_PERFORMANCE) {
        ev->event_type = ANALYTICS_PERFORMANCE;
    } else {
        if (f.name)
            COPY(ev->event_name, f.name, f.n_name);
        ev->event_type = f.link               ? ANALYTICS_LINK
                         : f.pixel            ? ANALYTICS_PIXEL
                         : f.name && f.n_name ? ANALYTICS_CUSTOM
                                              : ANALYTICS_PAGEVIEW;
        if (ev->data)
            revenue(ev);
    }
    rc = 0;
out:
    hc_free(u);
    return rc;
}

int analytics_payload_parse_json(const json_t *obj, const analytics_payload_opts_t *o,
                                 analytics_event_t *ev, char *why, size_t whylen)
{
    memset(ev, 0, sizeof(*ev));
    ev->lcp = ev->inp = ev->cls = ev->fcp = ev->ttfb = -1;
    if (why && whylen)
        why[0] = '\0';
    if (!json_is_object(obj))
        return hc_errf(why, whylen, -EINVAL, "body: expected object");
    json_t *type = json_object_get(obj, "type");
    const char *t = json_is_string(type) ? json_string_value(type) : "";
    if (!strcmp(t, "event"))
        ev->kind = ANALYTICS_SEND_EVENT;
    else if (!strcmp(t, "identify"))
        ev->kind = ANALYTICS_SEND_IDENTIFY;
    else if (!strcmp(t, "performance"))
        ev->kind = ANALYTICS_SEND_PERFORMANCE;
    else
        return hc_errf(why, whylen, -EINVAL, "type: expected event, identify or performance");
    json_t *p = json_object_get(obj, "payload");
    if (!json_is_object(p))
        return hc_errf(why, whylen, -EINVAL, "payload: expected object");
    int rc = parse_payload(p, o, ev, why, whylen);
    if (rc < 0)
        analytics_event_clear(ev);
    return rc;
}

int analytics_payload_parse(const char *body, size_t len, const analytics_payload_opts_t *o,
                            analytics_event_t *ev, char *why, size_t whylen)
{
    memset(ev, 0, sizeof(*ev));
    ev->lcp = ev->inp = ev->cls = ev->fcp = ev->ttfb = -1;
    if (len > ANALYTICS_BODY_MAX)
        return hc_errf(why, whylen, -EINVAL, "body: larger than %d bytes", ANALYTICS_BODY_MAX);
    /* Integers as doubles, as JavaScript reads them (no "integer too big" failures). */
    json_error_t err;
    json_t *obj = json_loadb(body, len, JSON_DECODE_INT_AS_REAL, &err);
    if (!obj)
        return hc_errf(why, whylen, -EINVAL, "body: invalid JSON (%s)", err.text);
    int rc = analytics_payload_parse_json(obj, o, ev, why, whylen);
    json_decref(obj);
    return rc;
}
