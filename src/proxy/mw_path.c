/* stripPrefix, stripPrefixRegex, addPrefix, replacePath, replacePathRegex (mw_path.h).
 * One config type with a kind tag serves all five, since they share free and apply. */
#include "proxy/mw_path.h"
#include "proxy/mw_regex.h"
#include "core/hc_alloc.h"

#include <errno.h>
#include <string.h>

typedef enum path_kind {
    PATH_STRIP,
    PATH_STRIP_REGEX,
    PATH_ADD,
    PATH_REPLACE,
    PATH_REPLACE_REGEX,
} path_kind_t;

typedef struct path_cfg {
    path_kind_t kind;
    char **items; /* prefixes (strip) */
    size_t n;
    proxy_mw_regex_t **res; /* stripPrefixRegex: n regexes; replacePathRegex: one */
    char *text;             /* addPrefix prefix, replacePath path, replacement */
    int force_slash;
} path_cfg_t;

static path_cfg_t *path_new(path_kind_t kind)
{
    path_cfg_t *c = hc_calloc(1, sizeof(*c));
    c->kind = kind;
    return c;
}

void proxy_mw_path_free(void *cfg)
{
    path_cfg_t *c = cfg;
    if (!c)
        return;
    if (c->res)
        for (size_t i = 0; i < c->n; i++)
            proxy_mw_regex_free(c->res[i]);
    hc_free(c->res);
    proxy_mw_strv_free(c->items, c->n);
    hc_free(c->text);
    hc_free(c);
}

static int finish(path_cfg_t *c, int rc, void **cfg)
{
    if (rc != 0) {
        proxy_mw_path_free(c);
        return rc;
    }
    *cfg = c;
    return 0;
}

int proxy_mw_stripprefix_parse(const json_t *spec, const char *name, void **cfg, char *err,
                               size_t errlen)
{
    path_cfg_t *c = path_new(PATH_STRIP);
    int rc = proxy_mw_json_strv(spec, "prefixes", &c->items, &c->n, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_bool(spec, "forceSlash", &c->force_slash, err, errlen);
    return finish(c, rc, cfg);
}

/* Compiles the strings of c->items into c->res (same count). */
static int compile_items(path_cfg_t *c, char *err, size_t errlen)
{
    c->res = hc_calloc(c->n ? c->n : 1, sizeof(*c->res));
    for (size_t i = 0; i < c->n; i++) {
        int rc = proxy_mw_regex_compile(c->items[i], &c->res[i], err, errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int proxy_mw_stripprefixregex_parse(const json_t *spec, const char *name, void **cfg,
                                    char *err, size_t errlen)
{
    path_cfg_t *c = path_new(PATH_STRIP_REGEX);
    int rc = proxy_mw_json_strv(spec, "regex", &c->items, &c->n, err, errlen);
    if (rc == 0)
        rc = compile_items(c, err, errlen);
    return finish(c, rc, cfg);
}

int proxy_mw_addprefix_parse(const json_t *spec, const char *name, void **cfg, char *err,
                             size_t errlen)
{
    path_cfg_t *c = path_new(PATH_ADD);
    int rc = proxy_mw_json_str(spec, "prefix", &c->text, err, errlen);
    if (rc == 0 && (!c->text || !c->text[0]))
        rc = hc_errf(err, errlen, -EINVAL, "addPrefix: prefix cannot be empty");
    return finish(c, rc, cfg);
}

int proxy_mw_replacepath_parse(const json_t *spec, const char *name, void **cfg, char *err,
                               size_t errlen)
{
    path_cfg_t *c = path_new(PATH_REPLACE);
    int rc = proxy_mw_json_str(spec, "path", &c->text, err, errlen);
    if (rc == 0 && !c->text)
        c->text = hc_strdup("");
    return finish(c, rc, cfg);
}

/* Drops leading and trailing ASCII white space from s, in place. */
static void trim_space(char *s)
{
    size_t a = strspn(s, " \t\r\n\v\f"), n = strlen(s);
    while (n > a && strchr(" \t\r\n\v\f", s[n - 1]))
        n--;
    memmove(s, s + a, n - a);
    s[n - a] = '\0';
}

int proxy_mw_replacepathregex_parse(const json_t *spec, const char *name, void **cfg,
                                    char *err, size_t errlen)
{
    path_cfg_t *c = path_new(PATH_REPLACE_REGEX);
    c->items = hc_calloc(1, sizeof(*c->items));
    c->n = 1;
    int rc = proxy_mw_json_str(spec, "regex", &c->items[0], err, errlen);
    if (rc == 0 && !c->items[0])
        rc = hc_errf(err, errlen, -EINVAL, "replacePathRegex: regex is required");
    if (rc == 0)
        rc = proxy_mw_json_str(spec, "replacement", &c->text, err, errlen);
    if (rc == 0 && !c->text)
        c->text = hc_strdup("");
    if (rc == 0) { /* Traefik trims both (strings.TrimSpace) */
        trim_space(c->items[0]);
        trim_space(c->text);
        rc = compile_items(c, err, errlen);
    }
    return finish(c, rc, cfg);
}

/* Sets req->path to s, adding a leading '/' unless s is empty (Traefik's
 * ensureLeadingSlash). */
static void set_path_slashed(proxy_mw_req_t *req, const char *s)
{
    if (!s[0] || s[0] == '/') {
        proxy_mw_req_set(req, &req->path, s);
        return;
    }
    size_t n = strlen(s);
    char *p = hc_malloc(n + 2);
    p[0] = '/';
    memcpy(p + 1, s, n + 1);
    proxy_mw_req_take(req, &req->path, p);
}

static void strip_prefix(const path_cfg_t *c, proxy_mw_req_t *req)
{
    for (size_t i = 0; i < c->n; i++) {
        size_t pl = strlen(c->items[i]);
        if (strncmp(req->path, c->items[i], pl) != 0)
            continue;
        char *prefix = hc_strdup(c->items[i]);
        const char *rest = req->path + pl;
        if (c->force_slash)
            rest += *rest == '/';
        char *copy = hc_strdup(rest);
        if (c->force_slash && !copy[0])
            proxy_mw_req_set(req, &req->path, "/");
        else
            set_path_slashed(req, copy);
        hc_free(copy);
        proxy_mw_headers_add(&req->headers, "X-Forwarded-Prefix", prefix);
        hc_free(prefix);
        return;
    }
}

static void strip_prefix_regex(const path_cfg_t *c, proxy_mw_req_t *req)
{
    size_t so, eo, len = strlen(req->path);
    for (size_t i = 0; i < c->n; i++) {
        if (!proxy_mw_regex_find(c->res[i], req->path, len, &so, &eo) || eo == so || so != 0)
            continue;
        char *prefix = hc_memdup(req->path, eo);
        char *rest = hc_strdup(req->path + eo);
        proxy_mw_headers_add(&req->headers, "X-Forwarded-Prefix", prefix);
        set_path_slashed(req, rest);
        hc_free(rest);
        hc_free(prefix);
        return;
    }
}

/* add_prefix and replace_path_regex: 0, or -ENOBUFS past PROXY_MW_BUILD_MAX. */
static int add_prefix(const path_cfg_t *c, proxy_mw_req_t *req)
{
    hc_buf_t b;
    hc_buf_init(&b, PROXY_MW_BUILD_MAX);
    int rc = hc_buf_puts(&b, c->text) == 0 && hc_buf_puts(&b, req->path) == 0 ? 0 : -ENOBUFS;
    if (rc == 0)
        set_path_slashed(req, b.base);
    hc_buf_free(&b);
    return rc;
}

static int replace_path_regex(const path_cfg_t *c, proxy_mw_req_t *req)
{
    hc_buf_t b;
    if (!proxy_mw_regex_find(c->res[0], req->path, strlen(req->path), NULL, NULL))
        return 0;
    hc_buf_init(&b, PROXY_MW_BUILD_MAX);
    int n = proxy_mw_regex_replace_all(c->res[0], req->path, c->text, &b);
    if (n > 0) {
        proxy_mw_headers_add(&req->headers, "X-Replaced-Path", req->path);
        proxy_mw_req_set(req, &req->path, b.base ? b.base : "");
    }
    hc_buf_free(&b);
    return n < 0 ? -ENOBUFS : 0;
}

proxy_mw_verdict_t proxy_mw_path_request(const void *cfg, proxy_mw_req_t *req,
                                         proxy_mw_resp_t *resp)
{
    const path_cfg_t *c = cfg;
    switch (c->kind) {
    case PATH_STRIP:
        strip_prefix(c, req);
        break;
    case PATH_STRIP_REGEX:
        strip_prefix_regex(c, req);
        break;
    case PATH_ADD:
        if (add_prefix(c, req) != 0)
            return proxy_mw_resp_too_long(resp, "addPrefix");
        break;
    case PATH_REPLACE:
        proxy_mw_headers_add(&req->headers, "X-Replaced-Path", req->path);
        proxy_mw_req_set(req, &req->path, c->text);
        break;
    case PATH_REPLACE_REGEX: /* Traefik: an empty replacement changes nothing */
        if (c->text[0] && replace_path_regex(c, req) != 0)
            return proxy_mw_resp_too_long(resp, "replacePathRegex");
        break;
    }
    return PROXY_MW_NEXT;
}
