/* The middleware request/response view (see mw.h): header lists, owned strings, small
 * self-written responses, and the JSON field readers every middleware parser shares. */
#include "proxy/mw.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Field names compare case-insensitively (RFC 9110 §5.1). The first byte decides most
 * comparisons on the proxy's hot path (hop-by-hop stripping walks every field per
 * name): case variants of a byte differ only in 0x20, so unequal bytes after OR-ing it
 * in mean different names. */
static int name_eq(const char *a, const char *b)
{
    return ((a[0] | 0x20) == (b[0] | 0x20)) && strcasecmp(a, b) == 0;
}

void proxy_mw_header_release(proxy_mw_header_t *e)
{
    if (e->owned & PROXY_MW_OWN_NAME)
        hc_free(e->name);
    if (e->owned & PROXY_MW_OWN_VALUE)
        hc_free(e->value);
}

void proxy_mw_headers_clear(proxy_mw_headers_t *h)
{
    for (size_t i = 0; i < h->len; i++)
        if (h->v[i].owned) /* most live in a store: nothing to free */
            proxy_mw_header_release(&h->v[i]);
    h->len = 0;
}

void proxy_mw_headers_free(proxy_mw_headers_t *h)
{
    proxy_mw_headers_clear(h);
    hc_free(h->v);
    *h = (proxy_mw_headers_t){0};
}

int proxy_mw_header_is_framing(const char *name)
{
    return !strcasecmp(name, "Content-Type") || !strcasecmp(name, "Content-Length") ||
           !strcasecmp(name, "Transfer-Encoding") || !strcasecmp(name, "Date");
}

const char *proxy_mw_headers_get(const proxy_mw_headers_t *h, const char *name)
{
    for (size_t i = 0; i < h->len; i++)
        if (name_eq(h->v[i].name, name))
            return h->v[i].value;
    return NULL;
}

static proxy_mw_header_t *entry_new(proxy_mw_headers_t *h)
{
    if (h->len == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->v = hc_realloc(h->v, h->cap * sizeof(*h->v));
    }
    return &h->v[h->len++];
}

/* A NUL-terminated copy of n bytes: in the store's spare room, or hc_malloc'd (*own
 * gets bit). */
static char *copy_n(proxy_mw_headers_t *h, const char *s, size_t n, int *own, int bit)
{
    hc_buf_t *st = h->store;
    char *p;
    if (st && st->cap - st->len > n) {
        p = st->base + st->len;
        st->len += n + 1;
    } else {
        p = hc_malloc(n + 1);
        *own |= bit;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void proxy_mw_headers_add_n(proxy_mw_headers_t *h, const char *name, size_t nlen,
                            const char *value, size_t vlen)
{
    int own = 0; /* name and value may point into h: copied before the array grows */
    char *n = copy_n(h, name, nlen, &own, PROXY_MW_OWN_NAME);
    char *v = copy_n(h, value, vlen, &own, PROXY_MW_OWN_VALUE);
    *entry_new(h) = (proxy_mw_header_t){n, v, own};
}

void proxy_mw_headers_add(proxy_mw_headers_t *h, const char *name, const char *value)
{
    proxy_mw_headers_add_n(h, name, strlen(name), value, strlen(value));
}

void proxy_mw_headers_remove(proxy_mw_headers_t *h, size_t i)
{
    proxy_mw_header_release(&h->v[i]);
    memmove(&h->v[i], &h->v[i + 1], (h->len - i - 1) * sizeof(*h->v));
    h->len--;
}

void proxy_mw_headers_set(proxy_mw_headers_t *h, const char *name, const char *value)
{
    size_t i = 0;
    while (i < h->len && !name_eq(h->v[i].name, name))
        i++;
    if (i == h->len) {
        proxy_mw_headers_add(h, name, value);
        return;
    }
    int own = 0; /* value may point into the entry being replaced */
    char *copy = copy_n(h, value, strlen(value), &own, PROXY_MW_OWN_VALUE);
    proxy_mw_header_t *e = &h->v[i];
    if (e->owned & PROXY_MW_OWN_VALUE)
        hc_free(e->value);
    e->value = copy;
    e->owned = (e->owned & PROXY_MW_OWN_NAME) | own;
    for (size_t j = h->len; j-- > i + 1;)
        if (name_eq(h->v[j].name, name))
            proxy_mw_headers_remove(h, j);
}

size_t proxy_mw_headers_del(proxy_mw_headers_t *h, const char *name)
{
    size_t n = 0;
    for (size_t j = h->len; j-- > 0;)
        if (name_eq(h->v[j].name, name)) {
            proxy_mw_headers_remove(h, j);
            n++;
        }
    return n;
}

void proxy_mw_str_set(char **field, const char *value)
{
    char *copy = value ? hc_strdup(value) : NULL;
    hc_free(*field);
    *field = copy;
}

/* Copies n bytes and a NUL at *p; returns where they went. */
static char *block_put(char **p, const char *s, size_t n)
{
    char *at = *p;
    memcpy(at, s, n);
    at[n] = '\0';
    *p += n + 1;
    return at;
}

void proxy_mw_req_init(proxy_mw_req_t *req, const char *method, int tls, const char *host,
                       const char *target, const char *peer_ip, uint64_t now_ns)
{
    proxy_mw_req_init_in(req, method, tls, host, target, peer_ip, now_ns, NULL);
}

void proxy_mw_req_init_in(proxy_mw_req_t *req, const char *method, int tls, const char *host,
                          const char *target, const char *peer_ip, uint64_t now_ns, hc_buf_t *store)
{
    memset(req, 0, sizeof(*req));
    const char *scheme = tls ? "https" : "http";
    host = host ? host : "";
    peer_ip = peer_ip ? peer_ip : "";
    size_t ml = strlen(method), sl = strlen(scheme), hl = strlen(host), tl = strlen(target);
    size_t il = strlen(peer_ip);
    const char *q = memchr(target, '?', tl);
    size_t pl = q ? (size_t)(q - target) : tl;
    req->block_len = ml + sl + hl + tl + il + 6;
    if (store && store->base && store->cap - store->len >= req->block_len) {
        req->block = store->base + store->len;
        store->len += req->block_len;
    } else {
        req->block = hc_malloc(req->block_len);
        req->block_owned = 1;
    }
    char *p = req->block;
    req->method = block_put(&p, method, ml);
    req->scheme = block_put(&p, scheme, sl);
    req->host = block_put(&p, host, hl);
    req->path = block_put(&p, target, pl);
    if (q)
        req->query = block_put(&p, q + 1, tl - pl - 1);
    req->peer_ip = block_put(&p, peer_ip, il);
    req->now_ns = now_ns;
}

/* 1 when s is one of the strings of req's block (freed with it). */
static int in_block(const proxy_mw_req_t *req, const char *s)
{
    uintptr_t b = (uintptr_t)req->block, a = (uintptr_t)s;
    return req->block && a >= b && a < b + req->block_len;
}

void proxy_mw_req_take(proxy_mw_req_t *req, char **field, char *s)
{
    if (!in_block(req, *field))
        hc_free(*field);
    *field = s;
    req->replaced = 1;
}

void proxy_mw_req_set(proxy_mw_req_t *req, char **field, const char *value)
{
    proxy_mw_req_take(req, field, hc_strdup(value));
}

void proxy_mw_req_free(proxy_mw_req_t *req)
{
    while (req->holds) {
        proxy_mw_hold_t *h = req->holds;
        req->holds = h->next;
        h->release(h);
    }
    char **f[] = {&req->method, &req->scheme, &req->host, &req->path, &req->query, &req->peer_ip};
    for (size_t i = 0; (req->replaced || !req->block) && i < sizeof(f) / sizeof(f[0]); i++)
        if (!in_block(req, *f[i]))
            hc_free(*f[i]);
    if (req->block_owned)
        hc_free(req->block);
    hc_free(req->user);
    proxy_mw_headers_free(&req->headers);
    memset(req, 0, sizeof(*req));
}

void proxy_mw_resp_init(proxy_mw_resp_t *resp)
{
    memset(resp, 0, sizeof(*resp));
    hc_buf_init(&resp->body, PROXY_MW_BODY_MAX);
}

void proxy_mw_resp_free(proxy_mw_resp_t *resp)
{
    proxy_mw_headers_free(&resp->headers);
    hc_buf_free(&resp->body);
    resp->status = 0;
}

proxy_mw_verdict_t proxy_mw_resp_text(proxy_mw_resp_t *resp, int status, const char *ctype,
                                      const char *body)
{
    char len[24];
    resp->status = status;
    hc_buf_reset(&resp->body);
    if (hc_buf_puts(&resp->body, body) != 0)
        hc_buf_reset(&resp->body);
    snprintf(len, sizeof(len), "%zu", resp->body.len);
    if (ctype)
        proxy_mw_headers_set(&resp->headers, "Content-Type", ctype);
    else
        proxy_mw_headers_del(&resp->headers, "Content-Type");
    proxy_mw_headers_set(&resp->headers, "Content-Length", len);
    return PROXY_MW_RESPOND;
}

const char *proxy_mw_host_split(const char *host, size_t *nl)
{
    const char *colon;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        colon = close && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strchr(host, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL; /* a bare IPv6 address has no port */
    }
    *nl = colon ? (size_t)(colon - host) : strlen(host);
    return colon ? colon + 1 : "";
}

proxy_mw_verdict_t proxy_mw_resp_too_long(proxy_mw_resp_t *resp, const char *name)
{
    hc_log(HC_LOG_WARN, "middleware result too long", HC_LS("middleware", name),
           HC_LI("limit", PROXY_MW_BUILD_MAX), NULL);
    return proxy_mw_resp_text(resp, 500, PROXY_MW_TEXT_PLAIN, "Internal Server Error");
}

uint64_t proxy_mw_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- Go durations ---- */

#define NS_PER_S 1000000000ull

void proxy_mw_go_duration_format(uint64_t ns, char out[32])
{
    /* Fraction digits without trailing zeros, as Go's fmtFrac. */
    char frac[16] = "";
    uint64_t unit = ns < 1000 ? 1 : ns < 1000000 ? 1000 : ns < NS_PER_S ? 1000000 : NS_PER_S;
    uint64_t f = ns % unit;
    int digits = unit == 1 ? 0 : unit == 1000 ? 3 : unit == 1000000 ? 6 : 9;
    if (f) {
        snprintf(frac, sizeof(frac), ".%0*llu", digits, (unsigned long long)f);
        size_t n = strlen(frac);
        while (n > 1 && frac[n - 1] == '0') /* f != 0: a non-zero digit stops it first */
            frac[--n] = '\0';
    }
    if (ns == 0) {
        snprintf(out, 32, "0s");
    } else if (unit < NS_PER_S) {
        const char *u = unit == 1 ? "ns" : unit == 1000 ? "\xc2\xb5s" : "ms";
        snprintf(out, 32, "%llu%s%s", (unsigned long long)(ns / unit), frac, u);
    } else {
        unsigned long long s = ns / NS_PER_S, h = s / 3600, m = (s / 60) % 60;
        if (h)
            snprintf(out, 32, "%lluh%llum%llu%ss", h, m, s % 60, frac);
        else if (m)
            snprintf(out, 32, "%llum%llu%ss", m, s % 60, frac);
        else
            snprintf(out, 32, "%llu%ss", s, frac);
    }
}

static uint64_t unit_ns(const char *u, size_t n)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {{"ns", 1},       {"us", 1000},         {"\xc2\xb5s", 1000},   {"ms", 1000000},
                 {"s", NS_PER_S}, {"m", 60 * NS_PER_S}, {"h", 3600 * NS_PER_S}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0)
            return units[i].ns;
    return 0;
}

int proxy_mw_go_duration_parse(const char *s, uint64_t *ns)
{
    char *end;
    double total = 0;
    if (!*s || *s == '-')
        return -EINVAL;
    unsigned long long whole = strtoull(s, &end, 10);
    if (!*end && end != s) { /* a bare integer: seconds (paerser types.Duration) */
        *ns = whole * NS_PER_S;
        return whole > UINT64_MAX / NS_PER_S ? -EINVAL : 0;
    }
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return 0;
    }
    const char *p = s + (*s == '+');
    while (*p) { /* Go's form: digits, maybe a fraction (no exponent, no "nan" or "inf") */
        double v = 0, scale = 1;
        int digits = 0;
        for (end = (char *)p; *end >= '0' && *end <= '9'; end++, digits++)
            v = v * 10 + (*end - '0');
        if (*end == '.')
            for (end++; *end >= '0' && *end <= '9'; end++, digits++)
                v += (*end - '0') * (scale /= 10);
        if (!digits)
            return -EINVAL;
        const char *u = end;
        while (*end && !(*end >= '0' && *end <= '9') && *end != '.')
            end++;
        uint64_t mul = unit_ns(u, (size_t)(end - u));
        if (!mul)
            return -EINVAL;
        total += v * (double)mul;
        p = end;
    }
    if (total >= 9.2e18)
        return -EINVAL;
    *ns = (uint64_t)total;
    return 0;
}

int proxy_mw_json_duration(const json_t *obj, const char *key, const char *what, uint64_t *ns,
                           char *err, size_t errlen)
{
    const json_t *v = proxy_mw_json_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        json_int_t secs = json_integer_value(v);
        if (secs < 0 || (uint64_t)secs > UINT64_MAX / NS_PER_S)
            return hc_errf(err, errlen, -EINVAL, "%s.%s: %lld is out of range", what, key,
                           (long long)secs);
        *ns = (uint64_t)secs * NS_PER_S;
        return 0;
    }
    if (!json_is_string(v) || proxy_mw_go_duration_parse(json_string_value(v), ns))
        return hc_errf(err, errlen, -EINVAL, "%s.%s: expected seconds or a duration", what, key);
    return 0;
}

int proxy_mw_query_escape(hc_buf_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const char *end = s + len; s < end; s++) {
        unsigned char ch = (unsigned char)*s;
        int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~';
        char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
        int rc = plain       ? hc_buf_append(out, s, 1)
                 : ch == ' ' ? hc_buf_append(out, "+", 1)
                             : hc_buf_append(out, esc, 3);
        if (rc < 0)
            return -ENOBUFS;
    }
    return 0;
}

/* The members a parser looked up, while proxy_mw_fields_begin's tracking is on: a
 * generation's middlewares are parsed on one thread. */
typedef struct field_read {
    const json_t *obj;
    const char *key;
} field_read_t;
static __thread field_read_t *reads;
static __thread size_t nreads, capreads;
static __thread int tracking;

json_t *proxy_mw_json_get(const json_t *obj, const char *key)
{
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return NULL;
    if (tracking) {
        if (nreads == capreads) {
            capreads = capreads ? 2 * capreads : 32;
            reads = hc_realloc(reads, capreads * sizeof(*reads));
        }
        reads[nreads++] = (field_read_t){obj, key};
    }
    json_object_foreach((json_t *)obj, k, v)
        if (strcasecmp(k, key) == 0)
            return v;
    return NULL;
}

void proxy_mw_fields_begin(void)
{
    tracking = 1;
    nreads = 0;
}

/* 1 when the parser looked up key in o; 2 when it looked up none of o's (a map whose
 * names are data, such as customRequestHeaders, or an object it took whole); else 0. */
static int was_read(const json_t *o, const char *key)
{
    int any = 0;
    for (size_t i = 0; i < nreads; i++)
        if (reads[i].obj == o) {
            if (!strcasecmp(reads[i].key, key))
                return 1;
            any = 1;
        }
    return any ? 0 : 2;
}

static void unread_walk(const json_t *o, char *path, size_t plen, size_t cap, const char *name)
{
    const char *k;
    size_t i;
    json_t *v;
    if (json_is_array(o)) {
        json_array_foreach(o, i, v)
        {
            snprintf(path + plen, cap - plen, "[%zu]", i);
            unread_walk(v, path, strlen(path), cap, name);
        }
        return;
    }
    json_object_foreach((json_t *)o, k, v)
    {
        snprintf(path + plen, cap - plen, "%s%s", plen ? "." : "", k);
        int r = was_read(o, k);
        if (r == 0)
            hc_log(HC_LOG_WARN, "middleware field ignored", HC_LS("middleware", name),
                   HC_LS("field", path),
                   HC_LS("reason", "hearth does not read it: a misspelling (Traefik refuses "
                                   "those), or an option hearth does not implement"),
                   NULL);
        else if (r == 1)
            unread_walk(v, path, strlen(path), cap, name);
    }
}

void proxy_mw_fields_end(const json_t *spec, const char *type, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s", type);
    if (spec && json_is_object(spec) && was_read(spec, "") != 2)
        unread_walk(spec, path, strlen(path), sizeof(path), name ? name : "");
    tracking = 0;
    hc_free(reads);
    reads = NULL;
    nreads = capreads = 0;
}

int proxy_mw_json_bool(const json_t *obj, const char *key, int *out, char *err, size_t errlen)
{
    json_t *v = proxy_mw_json_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v) && strcasecmp(json_string_value(v), "true") == 0) {
        *out = 1;
        return 0;
    }
    if (json_is_string(v) && strcasecmp(json_string_value(v), "false") == 0) {
        *out = 0;
        return 0;
    }
    return hc_errf(err, errlen, -EINVAL, "%s: expected a boolean", key);
}

int proxy_mw_json_int(const json_t *obj, const char *key, long long *out, char *err,
                      size_t errlen)
{
    json_t *v = proxy_mw_json_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (*s && !*end && errno == 0) {
            *out = x;
            return 0;
        }
    }
    return hc_errf(err, errlen, -EINVAL, "%s: expected an integer", key);
}

int proxy_mw_json_str(const json_t *obj, const char *key, char **out, char *err, size_t errlen)
{
    char num[32];
    json_t *v = proxy_mw_json_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        proxy_mw_str_set(out, json_string_value(v));
        return 0;
    }
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        proxy_mw_str_set(out, num);
        return 0;
    }
    return hc_errf(err, errlen, -EINVAL, "%s: expected a string", key);
}

void proxy_mw_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hc_free(v[i]);
    hc_free(v);
}

int proxy_mw_json_strv(const json_t *obj, const char *key, char ***out, size_t *n, char *err,
                       size_t errlen)
{
    json_t *v = proxy_mw_json_get(obj, key);
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return hc_errf(err, errlen, -EINVAL, "%s: expected a list of strings", key);
    size_t count = json_array_size(v);
    char **items = hc_calloc(count ? count : 1, sizeof(*items));
    for (size_t i = 0; i < count; i++) {
        json_t *it = json_array_get(v, i);
        if (!json_is_string(it)) {
            proxy_mw_strv_free(items, i);
            return hc_errf(err, errlen, -EINVAL, "%s[%zu]: expected a string", key, i);
        }
        items[i] = hc_strdup(json_string_value(it));
    }
    *out = items;
    *n = count;
    return 0;
}
