/* The errors middleware's pure parts (mw_errors.h): status ranges as Traefik's
 * types.NewHTTPCodeRanges reads them, statusRewrites, and the page's target. */
#include "proxy/mw_errors.h"

#include "core/hc_alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANGES_MAX 64

typedef struct range {
    int lo, hi;
} range_t;

typedef struct rewrite {
    range_t from;
    int to;
} rewrite_t;

typedef struct errors_cfg {
    range_t ranges[RANGES_MAX];
    size_t nranges;
    rewrite_t rewrites[RANGES_MAX];
    size_t nrewrites;
    char *service; /* qualified */
    char *query;   /* NULL: none */
} errors_cfg_t;

/* One code, 100..999, of exactly len bytes at s. */
static int code_of(const char *s, size_t len)
{
    if (len == 0 || len > 3)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 100 ? v : -1;
}

/* "500" or "500-599" (spaces around ignored) into *r. */
static int range_of(const char *s, size_t len, range_t *r)
{
    while (len && *s == ' ')
        s++, len--;
    while (len && s[len - 1] == ' ')
        len--;
    const char *dash = memchr(s, '-', len);
    r->lo = code_of(s, dash ? (size_t)(dash - s) : len);
    r->hi = dash ? code_of(dash + 1, len - (size_t)(dash - s) - 1) : r->lo;
    return r->lo < 0 || r->hi < r->lo ? -1 : 0;
}

/* The comma lists of each string of status into c->ranges. */
static int ranges_parse(const json_t *status, errors_cfg_t *c, char *err, size_t errlen)
{
    size_t i;
    const json_t *v;
    if (status && !json_is_array(status))
        return hc_errf(err, errlen, -EINVAL, "errors.status must be a list of status ranges");
    json_array_foreach(status, i, v)
    {
        char num[16];
        const char *s = json_string_value(v);
        if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            s = num;
        }
        if (!s)
            return hc_errf(err, errlen, -EINVAL, "errors.status[%zu] must be a string", i);
        for (const char *p = s;; p++) {
            size_t len = strcspn(p, ",");
            if (c->nranges == RANGES_MAX)
                return hc_errf(err, errlen, -EINVAL, "errors.status: more than %d ranges",
                               RANGES_MAX);
            if (range_of(p, len, &c->ranges[c->nranges++]) < 0)
                return hc_errf(err, errlen, -EINVAL,
                               "errors.status: %.*s is not a status code or range (500-599)",
                               (int)len, p);
            p += len;
            if (!*p)
                break;
        }
    }
    return 0;
}

static int rewrites_parse(const json_t *rw, errors_cfg_t *c, char *err, size_t errlen)
{
    const char *key;
    const json_t *v;
    if (rw && !json_is_object(rw))
        return hc_errf(err, errlen, -EINVAL, "errors.statusRewrites must be a mapping");
    json_object_foreach((json_t *)rw, key, v)
    {
        rewrite_t *r = &c->rewrites[c->nrewrites];
        if (c->nrewrites == RANGES_MAX)
            return hc_errf(err, errlen, -EINVAL, "errors.statusRewrites: more than %d entries",
                           RANGES_MAX);
        if (range_of(key, strlen(key), &r->from) < 0)
            return hc_errf(err, errlen, -EINVAL,
                           "errors.statusRewrites: %s is not a status code or range", key);
        const char *s = json_string_value(v);
        r->to = json_is_integer(v) ? (int)json_integer_value(v) : s ? code_of(s, strlen(s)) : -1;
        if (r->to < 200 || r->to > 999) /* a 1xx cannot end a response */
            return hc_errf(err, errlen, -EINVAL,
                           "errors.statusRewrites.%s must be a final status code (200-999)", key);
        c->nrewrites++;
    }
    return 0;
}

int proxy_mw_errors_parse(const json_t *spec, const char *name, void **cfg, char *err,
                          size_t errlen)
{
    errors_cfg_t *c = hc_calloc(1, sizeof(*c));
    char *service = NULL;
    int rc = ranges_parse(proxy_mw_json_get(spec, "status"), c, err, errlen);
    if (!rc)
        rc = rewrites_parse(proxy_mw_json_get(spec, "statusRewrites"), c, err, errlen);
    if (!rc)
        rc = proxy_mw_json_str(spec, "query", &c->query, err, errlen);
    if (!rc)
        rc = proxy_mw_json_str(spec, "service", &service, err, errlen);
    if (!rc && (!service || !*service))
        rc = hc_errf(err, errlen, -EINVAL, "errors.service is required");
    if (rc) {
        hc_free(service);
        proxy_mw_errors_free(c);
        return -EINVAL;
    }
    /* a name without a provider is the middleware's provider's ("x@file") */
    const char *at = strchr(name, '@');
    if (strchr(service, '@') || !at) {
        c->service = service;
    } else {
        size_t sl = strlen(service), al = strlen(at);
        c->service = hc_malloc(sl + al + 1);
        memcpy(c->service, service, sl);
        memcpy(c->service + sl, at, al + 1);
        hc_free(service);
    }
    *cfg = c;
    return 0;
}

void proxy_mw_errors_free(void *cfg)
{
    errors_cfg_t *c = cfg;
    if (!c)
        return;
    hc_free(c->service);
    hc_free(c->query);
    hc_free(c);
}

int proxy_mw_errors_catches(const void *cfg, int status)
{
    const errors_cfg_t *c = cfg;
    for (size_t i = 0; i < c->nranges; i++)
        if (status >= c->ranges[i].lo && status <= c->ranges[i].hi)
            return 1;
    return 0;
}

const char *proxy_mw_errors_service(const void *cfg)
{
    return ((const errors_cfg_t *)cfg)->service;
}

int proxy_mw_errors_status(const void *cfg, int status)
{
    const errors_cfg_t *c = cfg;
    for (size_t i = 0; i < c->nrewrites; i++)
        if (status >= c->rewrites[i].from.lo && status <= c->rewrites[i].from.hi)
            return c->rewrites[i].to;
    return status;
}

int proxy_mw_errors_target(const void *cfg, int status, const char *url, hc_buf_t *out)
{
    const errors_cfg_t *c = cfg;
    static const char *const vars[] = {"{status}", "{originalStatus}", "{url}"};
    char codes[2][8];
    snprintf(codes[0], sizeof(codes[0]), "%d", proxy_mw_errors_status(cfg, status));
    snprintf(codes[1], sizeof(codes[1]), "%d", status);
    const char *q = c->query ? c->query : "";
    if (*q == '/') /* Go's strings.TrimPrefix: one slash */
        q++;
    if (hc_buf_append(out, "/", 1) < 0)
        return -ENOBUFS;
    while (*q) {
        size_t v = 0;
        while (v < 3 && strncmp(q, vars[v], strlen(vars[v])))
            v++;
        int rc = v == 3   ? hc_buf_append(out, q, 1)
                 : v == 2 ? proxy_mw_query_escape(out, url ? url : "", url ? strlen(url) : 0)
                          : hc_buf_append(out, codes[v], strlen(codes[v]));
        if (rc < 0)
            return -ENOBUFS;
        q += v == 3 ? 1 : strlen(vars[v]);
    }
    return 0;
}
