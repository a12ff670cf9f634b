/* The /api/send body (Umami v3 src/app/api/send/route.ts and its zod schema) turned into
 * an analytics_event_t: read in place with analytics_json (the payload's members gathered,
 * the last of a repeated one kept, as JSON.parse does), validation (types, limits, one of
 * website/link/pixel, parseable URLs), then the columns the route derives from url,
 * referrer and title. /api/batch bodies are arrays of the same, read item by item. */
#include "analytics/analytics_payload.h"

#include "analytics/analytics_id.h"
#include "analytics/analytics_url.h"
#include "core/hc_err.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* payload.timestamp bounds: JavaScript dates are valid to ±8.64e15 ms; hearth keeps
 * years 1..9999 so every salt string and column value is well formed. */
#define TS_MIN (-62135596800LL)
#define TS_MAX 253402300799LL

/* The payload members read (any other is validated and skipped). */
enum {
    M_WEBSITE,
    M_LINK,
    M_PIXEL,
    M_HOSTNAME,
    M_LANGUAGE,
    M_SCREEN,
    M_TITLE,
    M_NAME,
    M_TAG,
    M_URL,
    M_REFERRER,
    M_IP,
    M_UA,
    M_ID,
    M_BROWSER,
    M_OS,
    M_DEVICE,
    M_DATA,
    M_TIMESTAMP,
    M_LCP,
    M_INP,
    M_CLS,
    M_FCP,
    M_TTFB,
    M_COUNT
};

/* Their keys, NUL-padded: a key matches when it and its NUL are equal. */
static const char member_names[M_COUNT][10] = {
    [M_WEBSITE] = "website",
    [M_LINK] = "link",
    [M_PIXEL] = "pixel",
    [M_HOSTNAME] = "hostname",
    [M_LANGUAGE] = "language",
    [M_SCREEN] = "screen",
    [M_TITLE] = "title",
    [M_NAME] = "name",
    [M_TAG] = "tag",
    [M_URL] = "url",
    [M_REFERRER] = "referrer",
    [M_IP] = "ip",
    [M_UA] = "userAgent",
    [M_ID] = "id",
    [M_BROWSER] = "browser",
    [M_OS] = "os",
    [M_DEVICE] = "device",
    [M_DATA] = "data",
    [M_TIMESTAMP] = "timestamp",
    [M_LCP] = "lcp",
    [M_INP] = "inp",
    [M_CLS] = "cls",
    [M_FCP] = "fcp",
    [M_TTFB] = "ttfb",
};

/* The payload's members: the last of each one sent. */
typedef struct members {
    uint32_t present; /* bit m: member m was sent */
    analytics_json_value_t v[M_COUNT];
} members_t;

static const analytics_json_value_t *member(const members_t *m, int k)
{
    return m->present >> k & 1 ? &m->v[k] : NULL;
}

static int invalid_json(const analytics_json_iter_t *it, char *why, size_t whylen)
{
    return hc_errf(why, whylen, -EINVAL, "body: invalid JSON (%s at byte %zu)", it->error,
                   it->error_at);
}

/* Walks the payload object (it, from its first member) into *m. Returns 0 or -EINVAL. */
static int read_members(analytics_json_iter_t *it, members_t *m, char *why, size_t wl)
{
    analytics_json_value_t key, val;
    int rc;
    m->present = 0;
    while ((rc = analytics_json_next(it, &key, &val)) == 1) {
        for (int k = 0; key.len < sizeof(member_names[0]) && k < M_COUNT; k++) {
            if (key.s[0] == member_names[k][0] && !memcmp(key.s, member_names[k], key.len + 1)) {
                m->v[k] = val;
                m->present |= 1u << k;
                break;
            }
        }
    }
    return rc < 0 ? invalid_json(it, why, wl) : 0;
}

/* Optional string member k with at most max UTF-16 units (0 = no limit). *out is NULL
 * when absent. Returns 0 or -EINVAL with why set. */
static int get_str(const members_t *m, int k, size_t max, const char **out, size_t *len, char *why,
                   size_t whylen)
{
    const analytics_json_value_t *v = member(m, k);
    *out = NULL;
    *len = 0;
    if (!v)
        return 0;
    if (v->type != ANALYTICS_JSON_STRING)
        return hc_errf(why, whylen, -EINVAL, "payload.%s: expected string", member_names[k]);
    *out = v->s;
    *len = v->len;
    /* a character is never more UTF-16 units than bytes: only a long string is counted */
    if (max && *len > max && analytics_js_length(*out, *len) > max)
        return hc_errf(why, whylen, -EINVAL, "payload.%s: longer than %zu characters",
                       member_names[k], max);
    return 0;
}

/* z.number().nonnegative().max(max), optional: *out stays -1 when absent. */
static int get_metric(const members_t *m, int k, double max, double *out, char *why, size_t whylen)
{
    const analytics_json_value_t *v = member(m, k);
    *out = -1;
    if (!v)
        return 0;
    if (v->type != ANALYTICS_JSON_NUMBER)
        return hc_errf(why, whylen, -EINVAL, "payload.%s: expected number", member_names[k]);
    if (!(v->num >= 0 && v->num <= max))
        return hc_errf(why, whylen, -EINVAL, "payload.%s: out of range", member_names[k]);
    *out = v->num;
    return 0;
}

/* JavaScript Number(s) for a string: NAN unless it is a number with optional whitespace
 * around it ("" and "  " are 0). */
static double js_string_number(const char *s)
{
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

/* JavaScript Number(v) for what a JSON value can be; NAN for objects and arrays. */
static double js_to_number(const analytics_json_value_t *v)
{
    switch (v->type) {
    case ANALYTICS_JSON_NUMBER:
        return v->num;
    case ANALYTICS_JSON_TRUE:
        return 1;
    case ANALYTICS_JSON_FALSE:
    case ANALYTICS_JSON_NULL:
        return 0;
    case ANALYTICS_JSON_STRING:
        return js_string_number(v->s);
    default:
        return NAN;
    }
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

static int read_fields(const members_t *m, fields_t *f, char *why, size_t wl)
{
    static const struct {
        int member;
        size_t max, off, noff;
    } spec[] = {
#define F(k, m, name) {k, m, offsetof(fields_t, name), offsetof(fields_t, n_##name)}
        F(M_WEBSITE, 0, website),
        F(M_LINK, 0, link),
        F(M_PIXEL, 0, pixel),
        F(M_HOSTNAME, 100, hostname),
        F(M_LANGUAGE, 35, language),
        F(M_SCREEN, 11, screen),
        F(M_TITLE, 0, title),
        F(M_NAME, 50, name),
        F(M_TAG, 50, tag),
        F(M_URL, 0, url),
        F(M_REFERRER, 0, referrer),
        F(M_IP, 0, ip),
        F(M_UA, 0, ua),
        F(M_ID, 0, id),
        F(M_BROWSER, 0, browser),
        F(M_OS, 0, os),
        F(M_DEVICE, 0, device),
#undef F
    };
    for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
        const char **v = (const char **)((char *)f + spec[i].off);
        size_t *n = (size_t *)((char *)f + spec[i].noff);
        int rc = get_str(m, spec[i].member, spec[i].max, v, n, why, wl);
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

/* The bases `new URL(v, base)` resolves against are "https://" and a host: localhost,
 * which every URL must parse against, and the event's hostname. A site sends one
 * hostname (or a few), so each thread keeps the last base of each kind with the host it
 * was parsed from, and parses again only when the host differs. */
enum { BASE_MAX = 512 }; /* bytes of "https://" and the host, with a NUL */

typedef struct base_memo {
    char host[BASE_MAX - 8];
    size_t len; /* 0 = nothing parsed yet (a host is never empty) */
    int ok;     /* the base parsed */
    analytics_url_t url;
} base_memo_t;

/* ~37 KiB each: neither on the stack nor allocated per event */
static _Thread_local base_memo_t localhost_base, hostname_base;

/* https://host for host[0..n) (0 < n < BASE_MAX - 8), from m when it was parsed from the
 * same host. NULL when it does not parse. */
static const analytics_url_t *https_base(base_memo_t *m, const char *host, size_t n)
{
    if (m->len != n || memcmp(m->host, host, n) != 0) {
        char b[BASE_MAX];
        memcpy(b, "https://", 8);
        memcpy(b + 8, host, n);
        m->ok = analytics_url_parse(b, n + 8, NULL, &m->url) == 0;
        memcpy(m->host, host, n);
        m->len = n;
    }
    return m->ok ? &m->url : NULL;
}

/* The event's base: https://hostname, or https://localhost without one. */
static const analytics_url_t *make_base(const fields_t *f, char *why, size_t wl)
{
    const analytics_url_t *base = NULL;
    if (!f->hostname || !f->n_hostname)
        base = https_base(&localhost_base, "localhost", 9);
    else if (strlen(f->hostname) == f->n_hostname && f->n_hostname < sizeof(hostname_base.host))
        base = https_base(&hostname_base, f->hostname, f->n_hostname);
    if (!base)
        hc_errf(why, wl, -EINVAL, "payload.hostname: invalid hostname");
    return base;
}

/* The event columns of route.ts: path+hash, query, hostname, UTM/click ids, referrer.
 * u[0] and u[1] hold url and referrer as parsed against https://localhost (u[0] unparsed
 * when there is no url): kept when the base played no part, else parsed again against
 * the event's own base. */
static int derive_page(const fields_t *f, const analytics_payload_opts_t *o, analytics_event_t *ev,
                       analytics_url_t *u, char *why, size_t wl)
{
    analytics_url_t *ref = u + 1;
    const analytics_url_t *base = make_base(f, why, wl);
    if (!base)
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
    if (u->query[0]) {
        enum { N = sizeof(query_fields) / sizeof(query_fields[0]) };
        const char *names[N];
        char *cols[N];
        for (size_t i = 0; i < N; i++) {
            names[i] = query_fields[i].param;
            cols[i] = (char *)ev + query_fields[i].off;
        }
        analytics_url_params(u->query, names, cols, N, sizeof(ev->utm_source));
    }
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
    double v = json_is_number(r)    ? json_number_value(r)
               : json_is_string(r)  ? js_string_number(json_string_value(r))
               : json_is_boolean(r) ? json_is_true(r)
                                    : NAN;
    if (!(v > 0) || !isfinite(v) || !json_is_string(c) || json_string_length(c) == 0)
        return;
    ev->has_revenue = 1;
    ev->revenue = v;
    COPY(ev->currency, json_string_value(c), json_string_length(c));
}

/* url and referrer while an event is parsed (~74 KiB, so neither on the stack nor
 * allocated per event). */
static _Thread_local analytics_url_t url_scratch[2];

static int parse_payload(const members_t *m, const analytics_payload_opts_t *o,
                         analytics_event_t *ev, char *why, size_t wl)
{
    fields_t f;
    memset(&f, 0, sizeof(f));
    if (read_fields(m, &f, why, wl) < 0)
        return -EINVAL;
    /* every URL must parse against https://localhost (urlOrPathParam) */
    analytics_url_t *u = url_scratch;
    const analytics_url_t *localhost = https_base(&localhost_base, "localhost", 9);
    json_t *data = NULL;
    int rc = -EINVAL;
    if (!localhost)
        goto out;
    if (f.url && analytics_url_parse(f.url, f.n_url, localhost, u) < 0) {
        hc_errf(why, wl, -EINVAL, "payload.url: invalid url");
        goto out;
    }
    if (f.referrer && analytics_url_parse(f.referrer, f.n_referrer, localhost, u + 1) < 0) {
        hc_errf(why, wl, -EINVAL, "payload.referrer: invalid url");
        goto out;
    }
    const analytics_json_value_t *dv = member(m, M_DATA);
    if (dv && dv->type != ANALYTICS_JSON_OBJECT) {
        hc_errf(why, wl, -EINVAL, "payload.data: expected object");
        goto out;
    }
    if (dv) {
        /* the reader validated it: jansson fails here only when out of memory */
        json_error_t err;
        data = json_loadb(dv->s, dv->len, JSON_DECODE_INT_AS_REAL, &err);
        if (!data) {
            hc_errf(why, wl, -EINVAL, "body: invalid JSON (%s)", err.text);
            goto out;
        }
    }
    const analytics_json_value_t *ts = member(m, M_TIMESTAMP);
    if (ts) {
        double t = js_to_number(ts);
        if (!isfinite(t) || t != floor(t) || t < TS_MIN || t > TS_MAX) {
            hc_errf(why, wl, -EINVAL, "payload.timestamp: expected integer seconds");
            goto out;
        }
        ev->has_timestamp = 1;
        ev->created_at_ms = (int64_t)t * 1000;
    }
    if (get_metric(m, M_LCP, 60000, &ev->lcp, why, wl) < 0 ||
        get_metric(m, M_INP, 60000, &ev->inp, why, wl) < 0 ||
        get_metric(m, M_CLS, 100, &ev->cls, why, wl) < 0 ||
        get_metric(m, M_FCP, 60000, &ev->fcp, why, wl) < 0 ||
        get_metric(m, M_TTFB, 60000, &ev->ttfb, why, wl) < 0)
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
    ev->data = data; /* the event owns it now */
    data = NULL;

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
    json_decref(data);
    return rc;
}

/* The event's starting point: zeroed, performance metrics absent (-1), no reason yet. */
static void event_init(analytics_event_t *ev, char *why, size_t whylen)
{
    memset(ev, 0, sizeof(*ev));
    ev->lcp = ev->inp = ev->cls = ev->fcp = ev->ttfb = -1;
    if (why && whylen)
        why[0] = '\0';
}

/* Reads the {type,payload} object that it walks (from its first member) into *ev. */
static int parse_event(analytics_json_iter_t *it, const analytics_payload_opts_t *o,
                       analytics_event_t *ev, char *why, size_t whylen)
{
    analytics_json_value_t key, val, type = {.type = ANALYTICS_JSON_NULL}, payload = type;
    analytics_json_iter_t inner;
    members_t m;
    int rc;
    /* the payload's members are read as the walk passes them, so the object is read once
     * (its JSON is still all checked before the body's shape is judged) */
    while ((rc = analytics_json_next_into(it, &key, &val, &inner)) == 1) {
        if (!strcmp(key.s, "type")) {
            type = val;
        } else if (!strcmp(key.s, "payload")) {
            payload = val;
            if (val.type == ANALYTICS_JSON_OBJECT && read_members(&inner, &m, why, whylen) < 0)
                return -EINVAL;
        }
    }
    if (rc < 0)
        return invalid_json(it, why, whylen);
    const char *t = type.type == ANALYTICS_JSON_STRING ? type.s : "";
    if (!strcmp(t, "event"))
        ev->kind = ANALYTICS_SEND_EVENT;
    else if (!strcmp(t, "identify"))
        ev->kind = ANALYTICS_SEND_IDENTIFY;
    else if (!strcmp(t, "performance"))
        ev->kind = ANALYTICS_SEND_PERFORMANCE;
    else
        return hc_errf(why, whylen, -EINVAL, "type: expected event, identify or performance");
    if (payload.type != ANALYTICS_JSON_OBJECT)
        return hc_errf(why, whylen, -EINVAL, "payload: expected object");
    rc = parse_payload(&m, o, ev, why, whylen);
    if (rc < 0)
        analytics_event_clear(ev);
    return rc;
}

int analytics_payload_parse(char *body, size_t len, const analytics_payload_opts_t *o,
                            analytics_event_t *ev, char *why, size_t whylen)
{
    event_init(ev, why, whylen);
    if (len > ANALYTICS_BODY_MAX)
        return hc_errf(why, whylen, -EINVAL, "body: larger than %d bytes", ANALYTICS_BODY_MAX);
    analytics_json_iter_t it;
    analytics_json_type_t type;
    size_t n;
    /* the whole body is JSON before its shape is judged, as with a parser building a tree */
    if (analytics_json_open(&it, body, len, &type) < 0 ||
        (type == ANALYTICS_JSON_ARRAY && analytics_json_count(&it, &n) < 0))
        return invalid_json(&it, why, whylen);
    if (type != ANALYTICS_JSON_OBJECT)
        return hc_errf(why, whylen, -EINVAL, "body: expected object");
    return parse_event(&it, o, ev, why, whylen);
}

int analytics_payload_batch_open(analytics_payload_batch_t *b, char *body, size_t len, size_t max,
                                 size_t *n)
{
    analytics_json_type_t type;
    *n = 0;
    if (analytics_json_open(&b->items, body, len, &type) < 0 || type != ANALYTICS_JSON_ARRAY ||
        analytics_json_count(&b->items, n) < 0 || *n > max)
        return -EINVAL;
    return analytics_json_open(&b->items, body, len, &type); /* again, to read the items */
}

int analytics_payload_batch_next(analytics_payload_batch_t *b, const analytics_payload_opts_t *o,
                                 analytics_event_t *ev, char *why, size_t whylen)
{
    event_init(ev, why, whylen);
    analytics_json_value_t item;
    int rc = analytics_json_next(&b->items, NULL, &item);
    if (rc < 0)
        return invalid_json(&b->items, why, whylen);
    if (rc == 0)
        return hc_errf(why, whylen, -EINVAL, "batch: no item left");
    if (item.type != ANALYTICS_JSON_OBJECT)
        return hc_errf(why, whylen, -EINVAL, "body: expected object");
    analytics_json_iter_t it;
    analytics_json_enter(&it, &item);
    return parse_event(&it, o, ev, why, whylen);
}
