/* Method + path routing (see hc_router.h): a list of routes tried in order, each a
 * pattern split into segments when added, so matching allocates nothing. */
#include "core/hc_router.h"
#include "core/hc_alloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct hc_route {
    char *method;
    char *pattern;
    hc_http_handler_cb cb;
    void *arg;
    size_t max_body;
} hc_route_t;

struct hc_router {
    hc_route_t *routes;
    size_t n, cap;
};

hc_router_t *hc_router_new(void)
{
    return hc_calloc(1, sizeof(hc_router_t));
}

void hc_router_free(hc_router_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        hc_free(r->routes[i].method);
        hc_free(r->routes[i].pattern);
    }
    hc_free(r->routes);
    hc_free(r);
}

int hc_router_add(hc_router_t *r, const char *method, const char *pattern, hc_http_handler_cb cb,
                  void *arg, size_t max_body)
{
    if (!method || !*method || !pattern || pattern[0] != '/' || !cb)
        return -EINVAL;
    const char *star = strchr(pattern, '*');
    if (star && (star[1] || star[-1] != '/'))
        return -EINVAL; /* "*" only as the whole last segment */
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->routes = hc_realloc(r->routes, r->cap * sizeof(*r->routes));
    }
    hc_route_t *rt = &r->routes[r->n++];
    rt->method = hc_strdup(method);
    rt->pattern = hc_strdup(pattern);
    rt->cb = cb;
    rt->arg = arg;
    rt->max_body = max_body;
    return 0;
}

/* Matches one pattern against path; fills params. Returns 1 on a match. */
static int path_match(const char *pat, const char *path, size_t len, hc_http_header_t *params,
                      unsigned *np)
{
    const char *end = path + len;
    unsigned n = 0;
    pat++; /* both start with '/' */
    if (!len || path[0] != '/')
        return 0;
    path++;
    for (;;) {
        const char *pe = strchr(pat, '/');
        size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
        const char *se = memchr(path, '/', (size_t)(end - path));
        size_t sl = se ? (size_t)(se - path) : (size_t)(end - path);
        if (pl == 1 && pat[0] == '*') {
            if (n >= HC_HTTP_MAX_PARAMS)
                return 0;
            params[n++] = (hc_http_header_t){"*", 1, path, (size_t)(end - path)};
            break;
        }
        if (pat[0] == ':' && pl > 1) {
            if (!sl || n >= HC_HTTP_MAX_PARAMS)
                return 0;
            params[n++] = (hc_http_header_t){pat + 1, pl - 1, path, sl};
        } else if (pl != sl || memcmp(pat, path, pl)) {
            return 0;
        }
        if (!pe || !se) {
            if (pe || se)
                return 0; /* one has more segments */
            break;
        }
        pat = pe + 1;
        path = se + 1;
    }
    *np = n;
    return 1;
}

static int method_ok(const char *route, const char *method)
{
    return !strcmp(route, "*") || !strcmp(route, method) ||
           (!strcmp(method, "HEAD") && !strcmp(route, "GET"));
}

static void allow_add(char *allow, size_t cap, const char *m)
{
    if (strstr(allow, m))
        return; /* methods are distinct words; a repeat adds nothing */
    size_t l = strlen(allow);
    snprintf(allow + l, cap - l, "%s%s", l ? ", " : "", m);
}

int hc_router_match(const hc_router_t *r, const char *method, const char *path, size_t path_len,
                    hc_http_header_t *params, unsigned *nparams, hc_router_match_t *m)
{
    hc_http_header_t tmp[HC_HTTP_MAX_PARAMS];
    unsigned np = 0;
    memset(m, 0, sizeof(*m));
    for (size_t i = 0; i < r->n; i++) {
        const hc_route_t *rt = &r->routes[i];
        if (!path_match(rt->pattern, path, path_len, tmp, &np))
            continue;
        if (method_ok(rt->method, method)) {
            memcpy(params, tmp, np * sizeof(*tmp));
            *nparams = np;
            m->cb = rt->cb;
            m->arg = rt->arg;
            m->max_body = rt->max_body;
            return 200;
        }
        allow_add(m->allow, sizeof(m->allow), rt->method);
        if (!strcmp(rt->method, "GET"))
            allow_add(m->allow, sizeof(m->allow), "HEAD");
    }
    *nparams = 0;
    return m->allow[0] ? 405 : 404;
}

void hc_router_handle(hc_http_req_t *req, void *router)
{
    hc_router_match_t m;
    int st = hc_router_match(router, req->method, req->path, req->path_len, req->params,
                             &req->nparams, &m);
    if (st == 200) {
        if (m.max_body)
            req->max_body = m.max_body;
        m.cb(req, m.arg);
        return;
    }
    if (st == 405) /* RFC 9110 §15.5.6: a 405 lists the allowed methods */
        hc_http_res_header(req, "Allow", m.allow);
    hc_http_respond_error(req, st, st == 404 ? "not found" : "method not allowed");
}
