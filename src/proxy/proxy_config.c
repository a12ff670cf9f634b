/* proxy_config core: the build entry point, element storage, Traefik naming helpers, and
 * the final pass that sorts everything by name, drops duplicates and resolves the
 * references routers make to services, middlewares and TLS options. The translations
 * live in proxy_config_k8s.c (Kubernetes objects) and proxy_config_file.c (file provider). */
#include "proxy/proxy_config_int.h"

#include "core/hc_alloc.h"
#include "core/hc_err.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return arr;
    *cap = *cap ? *cap * 2 : 8;
    return hc_realloc(arr, *cap * size);
}

char *pc_strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = hc_malloc((size_t)(n < 0 ? 0 : n) + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
    va_end(ap);
    return s;
}

void proxy_config_error_vset(proxy_config_error_t *e, const char *source, const char *kind,
                             const char *ns, const char *name, const char *fmt, va_list ap)
{
    char msg[PC_ERR_MAX];
    hc_verrf(msg, sizeof(msg), 0, fmt, ap);
    e->source = hc_strdup(source ? source : "");
    e->kind = hc_strdup(kind ? kind : "");
    e->ns = hc_strdup(ns ? ns : "");
    e->name = hc_strdup(name ? name : "");
    e->message = hc_strdup(msg);
}

void proxy_config_errors_free(proxy_config_error_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        hc_free(v[i].source);
        hc_free(v[i].kind);
        hc_free(v[i].ns);
        hc_free(v[i].name);
        hc_free(v[i].message);
    }
    hc_free(v);
}

void pc_error(pc_build_t *b, const char *source, const char *kind, const char *ns, const char *name,
              const char *fmt, ...)
{
    proxy_config_t *c = b->cfg;
    c->errors = grow(c->errors, &b->cap_errors, c->nerrors, sizeof(*c->errors));
    va_list ap;
    va_start(ap, fmt);
    proxy_config_error_vset(&c->errors[c->nerrors++], source, kind, ns, name, fmt, ap);
    va_end(ap);
}

#define ADD_ELEMENT(arr, n, cap, nm, prov, src)                                                    \
    do {                                                                                           \
        (arr) = grow((arr), &(cap), (n), sizeof(*(arr)));                                          \
        memset(&(arr)[(n)], 0, sizeof(*(arr)));                                                    \
        (arr)[(n)].name = (nm);                                                                    \
        (arr)[(n)].provider = (prov);                                                              \
        (arr)[(n)].source = hc_strdup((src) ? (src) : "");                                         \
    } while (0)

proxy_router_t *pc_router_add(pc_build_t *b, char *name, proxy_provider_t p, const char *source)
{
    proxy_config_t *c = b->cfg;
    ADD_ELEMENT(c->routers, c->nrouters, b->cap_routers, name, p, source);
    return &c->routers[c->nrouters++];
}

proxy_service_t *pc_service_add(pc_build_t *b, char *name, proxy_provider_t p, const char *source)
{
    proxy_config_t *c = b->cfg;
    ADD_ELEMENT(c->services, c->nservices, b->cap_services, name, p, source);
    c->services[c->nservices].pass_host_header = 1;
    return &c->services[c->nservices++];
}

proxy_middleware_t *pc_middleware_add(pc_build_t *b, char *name, proxy_provider_t p,
                                      const char *source)
{
    proxy_config_t *c = b->cfg;
    ADD_ELEMENT(c->middlewares, c->nmiddlewares, b->cap_middlewares, name, p, source);
    return &c->middlewares[c->nmiddlewares++];
}

proxy_tls_option_t *pc_tls_option_add(pc_build_t *b, char *name, proxy_provider_t p,
                                      const char *source)
{
    proxy_config_t *c = b->cfg;
    ADD_ELEMENT(c->tls_options, c->ntls_options, b->cap_tls_options, name, p, source);
    return &c->tls_options[c->ntls_options++];
}

proxy_transport_t *pc_transport_add(pc_build_t *b, char *name, proxy_provider_t p,
                                    const char *source)
{
    proxy_config_t *c = b->cfg;
    ADD_ELEMENT(c->transports, c->ntransports, b->cap_transports, name, p, source);
    return &c->transports[c->ntransports++];
}

proxy_cert_t *pc_cert_add(pc_build_t *b, char *name, const char *source)
{
    proxy_config_t *c = b->cfg;
    c->certs = grow(c->certs, &b->cap_certs, c->ncerts, sizeof(*c->certs));
    memset(&c->certs[c->ncerts], 0, sizeof(*c->certs));
    c->certs[c->ncerts].name = name;
    c->certs[c->ncerts].source = hc_strdup(source ? source : "");
    return &c->certs[c->ncerts++];
}

proxy_service_t *pc_service_find(pc_build_t *b, const char *name)
{
    for (size_t i = 0; i < b->cfg->nservices; i++)
        if (!strcmp(b->cfg->services[i].name, name))
            return &b->cfg->services[i];
    return NULL;
}

proxy_cert_t *pc_cert_find(pc_build_t *b, const char *name)
{
    for (size_t i = 0; i < b->cfg->ncerts; i++)
        if (!strcmp(b->cfg->certs[i].name, name))
            return &b->cfg->certs[i];
    return NULL;
}

void pc_strv_add(char ***v, size_t *n, const char *s)
{
    *v = hc_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = hc_strdup(s);
}

void pc_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hc_free(v[i]);
    hc_free(v);
}

/* Appends the message fmt formats, cut to PC_ERR_MAX - 1 bytes, to the list *v. */
static void strv_vaddf(char ***v, size_t *n, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void strv_vaddf(char ***v, size_t *n, const char *fmt, va_list ap)
{
    char msg[PC_ERR_MAX];
    hc_verrf(msg, sizeof(msg), 0, fmt, ap);
    pc_strv_add(v, n, msg);
}

void pc_router_fail(proxy_router_t *r, proxy_status_t st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strv_vaddf(&r->errors, &r->nerrors, fmt, ap);
    va_end(ap);
    if (st > r->status)
        r->status = st;
}

void proxy_config_router_fail(proxy_router_t *r, proxy_status_t st, const char *msg)
{
    pc_router_fail(r, st, "%s", msg);
}

void pc_service_fail(proxy_service_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strv_vaddf(&s->errors, &s->nerrors, fmt, ap);
    va_end(ap);
    s->status = PROXY_STATUS_DISABLED;
}

char *pc_qualify(const char *name, const char *provider)
{
    if (strchr(name, '@'))
        return hc_strdup(name);
    return pc_strf("%s@%s", name, provider);
}

void pc_rule_hash(const char *s, char out[21])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) || mdlen < 10)
        memset(md, 0, 10);
    for (int i = 0; i < 10; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[20] = '\0';
}

void pc_router_order(proxy_router_t *r, long long priority, int ingress_exact)
{
    long long len = (long long)strlen(r->rule);
    r->priority_set = priority != 0;
    r->priority = priority ? priority : len;
    r->order = r->priority;
    r->exact_first = 0;
    if (!priority && ingress_exact >= 0) {
        /* Ingress path without router.priority: Kubernetes order (proxy_config.h). */
        r->order = len + (ingress_exact ? (long long)(strlen("PathPrefix") - strlen("Path")) : 0);
        r->exact_first = ingress_exact;
    }
}

const char *pc_str(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

char *proxy_config_normalize(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = hc_malloc(n + 1);
    int pending = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c >= 0x80) {
            if (pending && o)
                out[o++] = '-';
            pending = 0;
            out[o++] = (char)c;
        } else {
            pending = 1;
        }
    }
    out[o] = '\0';
    return out;
}

const char *proxy_status_name(proxy_status_t s)
{
    return s == PROXY_STATUS_ENABLED   ? "enabled"
           : s == PROXY_STATUS_WARNING ? "warning"
                                       : "disabled";
}

const char *proxy_provider_name(proxy_provider_t p)
{
    switch (p) {
    case PROXY_PROVIDER_KUBERNETES:
        return "kubernetes";
    case PROXY_PROVIDER_KUBERNETESCRD:
        return "kubernetescrd";
    case PROXY_PROVIDER_FILE:
        return "file";
    case PROXY_PROVIDER_INTERNAL:
        return "internal";
    }
    return "";
}

/* ---- freeing ---- */

int pc_sticky_parse(const json_t *sticky, proxy_sticky_t *s)
{
    const json_t *c = json_object_get(sticky, "cookie");
    if (!sticky)
        return 0;
    if (!json_is_object(c))
        return -1;
    const char *name = pc_str(c, "name"), *same = pc_str(c, "sameSite");
    s->enabled = 1;
    s->name = name ? hc_strdup(name) : NULL;
    s->samesite = same ? hc_strdup(same) : NULL;
    s->secure = json_is_true(json_object_get(c, "secure"));
    s->httponly = json_is_true(json_object_get(c, "httpOnly"));
    s->maxage = json_integer_value(json_object_get(c, "maxAge"));
    const char *path = pc_str(c, "path"), *domain = pc_str(c, "domain");
    s->path = path ? hc_strdup(path) : NULL;
    s->domain = domain && *domain ? hc_strdup(domain) : NULL;
    return 0;
}

int pc_strategy_parse(const char *name, proxy_strategy_t *out)
{
    if (!name || !*name || !strcmp(name, "wrr"))
        *out = PROXY_STRATEGY_WRR;
    else if (!strcmp(name, "p2c"))
        *out = PROXY_STRATEGY_P2C;
    else if (!strcmp(name, "hrw"))
        *out = PROXY_STRATEGY_HRW;
    else if (!strcmp(name, "leasttime"))
        *out = PROXY_STRATEGY_LEASTTIME;
    else
        return -1;
    return 0;
}

void pc_router_observability(proxy_router_t *r, const json_t *obs)
{
    r->no_access_log = json_is_false(json_object_get(obs, "accessLogs"));
    r->no_metrics = json_is_false(json_object_get(obs, "metrics"));
}

const char *pc_mirroring_parse(proxy_service_t *s, const json_t *m)
{
    const json_t *body = json_object_get(m, "mirrorBody"), *max = json_object_get(m, "maxBodySize");
    s->type = PROXY_SERVICE_MIRRORING;
    for (size_t i = 1; i < s->nweighted; i++)
        if (s->weighted[i].weight < 0 || s->weighted[i].weight > 100)
            return "percent must be between 0 and 100"; /* Traefik's AddMirror */
    if (s->nweighted > PROXY_MIRRORS_MAX + 1)
        return "a mirroring service takes at most 64 mirrors"; /* PROXY_MIRRORS_MAX */
    if (body && !json_is_boolean(body))
        return "mirrorBody must be true or false";
    if (max && !json_is_integer(max))
        return "maxBodySize must be an integer";
    s->mirror_body = !json_is_false(body);
    s->mirror_max_body = max ? (long long)json_integer_value(max) : -1;
    return NULL;
}

static char *strdup_or_null(const char *s)
{
    return s ? hc_strdup(s) : NULL;
}

void proxy_sticky_copy(proxy_sticky_t *dst, const proxy_sticky_t *src)
{
    *dst = *src;
    dst->name = strdup_or_null(src->name);
    dst->samesite = strdup_or_null(src->samesite);
    dst->path = strdup_or_null(src->path);
    dst->domain = strdup_or_null(src->domain);
}

void proxy_sticky_free(proxy_sticky_t *s)
{
    hc_free(s->name);
    hc_free(s->samesite);
    hc_free(s->path);
    hc_free(s->domain);
}

size_t proxy_config_local_len(const char *qualified, proxy_provider_t owner)
{
    const char *at = strrchr(qualified, '@');
    if (at && !strcmp(at + 1, proxy_provider_name(owner)))
        return (size_t)(at - qualified);
    return strlen(qualified);
}

static void router_free(proxy_router_t *r)
{
    hc_free(r->name);
    hc_free(r->rule);
    hc_free(r->rule_syntax);
    hc_free(r->service_name);
    pc_strv_free(r->middleware_names, r->nmiddlewares);
    hc_free(r->middlewares);
    pc_strv_free(r->entrypoints, r->nentrypoints);
    hc_free(r->tls_options);
    hc_free(r->cert_resolver);
    pc_strv_free(r->errors, r->nerrors);
    hc_free(r->source);
    proxy_rule_free(r->match);
}

void pc_service_clear(proxy_service_t *s)
{
    hc_free(s->name);
    pc_strv_free(s->servers, s->nservers);
    hc_free(s->weights);
    pc_strv_free(s->fenced, s->nfenced);
    pc_strv_free(s->preserve_path, s->npreserve_path);
    hc_free(s->servers_transport);
    proxy_sticky_free(&s->sticky);
    if (s->health_check)
        json_decref(s->health_check);
    for (size_t i = 0; i < s->nweighted; i++)
        hc_free(s->weighted[i].service_name);
    hc_free(s->weighted);
    pc_strv_free(s->errors, s->nerrors);
    hc_free(s->source);
}

static void middleware_free(proxy_middleware_t *m)
{
    hc_free(m->name);
    hc_free(m->type);
    if (m->spec)
        json_decref(m->spec);
    hc_free(m->source);
}

/* The named objects kept as their spec (TLS options, servers transports). */
#define SPEC_OBJECT_FREE(t)                                                                        \
    do {                                                                                           \
        hc_free((t)->name);                                                                        \
        if ((t)->spec)                                                                             \
            json_decref((t)->spec);                                                                \
        hc_free((t)->source);                                                                      \
    } while (0)

static void tls_option_free(proxy_tls_option_t *t)
{
    SPEC_OBJECT_FREE(t);
}

static void transport_free(proxy_transport_t *t)
{
    SPEC_OBJECT_FREE(t);
}

static void cert_free(proxy_cert_t *c)
{
    hc_free(c->name);
    if (c->key)
        OPENSSL_cleanse(c->key, c->key_len);
    hc_free(c->cert);
    hc_free(c->key);
    hc_free(c->cert_file);
    hc_free(c->key_file);
    pc_strv_free(c->hosts, c->nhosts);
    hc_free(c->source);
}

void proxy_config_free(proxy_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nrouters; i++)
        router_free(&cfg->routers[i]);
    for (size_t i = 0; i < cfg->nservices; i++)
        pc_service_clear(&cfg->services[i]);
    for (size_t i = 0; i < cfg->nmiddlewares; i++)
        middleware_free(&cfg->middlewares[i]);
    for (size_t i = 0; i < cfg->ntls_options; i++)
        tls_option_free(&cfg->tls_options[i]);
    for (size_t i = 0; i < cfg->ncerts; i++)
        cert_free(&cfg->certs[i]);
    for (size_t i = 0; i < cfg->ntransports; i++)
        transport_free(&cfg->transports[i]);
    proxy_config_errors_free(cfg->errors, cfg->nerrors);
    hc_free(cfg->routers);
    hc_free(cfg->services);
    hc_free(cfg->middlewares);
    hc_free(cfg->tls_options);
    hc_free(cfg->certs);
    hc_free(cfg->transports);
    hc_free(cfg);
}

/* ---- sorting, duplicates, look-ups ---- */

/* A stable merge sort: of two elements with the same name, the one added first stays
 * first, so "the first definition wins" holds for duplicates. */
static void sort_stable(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n < 2)
        return;
    char *a = base, *tmp = hc_malloc(n * size);
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n,
                   hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                memcpy(tmp + size * k++,
                       cmp(a + size * j, a + size * i) < 0 ? a + size * j++ : a + size * i++, size);
            while (i < mid)
                memcpy(tmp + size * k++, a + size * i++, size);
            while (j < hi)
                memcpy(tmp + size * k++, a + size * j++, size);
        }
        memcpy(a, tmp, n * size);
    }
    hc_free(tmp);
}

/* Every element type starts with `char *name`. */
static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const void *find_name(const void *base, size_t n, size_t size, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *elem = base;
        int c = strcmp(name, *(char *const *)(elem + mid * size));
        if (c == 0)
            return elem + mid * size;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const proxy_router_t *proxy_config_router(const proxy_config_t *cfg, const char *name)
{
    return find_name(cfg->routers, cfg->nrouters, sizeof(*cfg->routers), name);
}

const proxy_service_t *proxy_config_service(const proxy_config_t *cfg, const char *name)
{
    return find_name(cfg->services, cfg->nservices, sizeof(*cfg->services), name);
}

const proxy_middleware_t *proxy_config_middleware(const proxy_config_t *cfg, const char *name)
{
    return find_name(cfg->middlewares, cfg->nmiddlewares, sizeof(*cfg->middlewares), name);
}

const proxy_transport_t *proxy_config_transport(const proxy_config_t *cfg, const char *name)
{
    return find_name(cfg->transports, cfg->ntransports, sizeof(*cfg->transports), name);
}

static const proxy_tls_option_t *find_tls_option(const proxy_config_t *cfg, const char *name)
{
    return find_name(cfg->tls_options, cfg->ntls_options, sizeof(*cfg->tls_options), name);
}

/* Sorts an array by name and removes later duplicates. Duplicates of an Ingress-made
 * service are the same service built twice and go silently; others are errors. */
#define SORT_DEDUP(b, arr, n, what, freefn)                                                        \
    do {                                                                                           \
        sort_stable((arr), (n), sizeof(*(arr)), cmp_name);                                         \
        size_t keep_ = 0;                                                                          \
        for (size_t i_ = 0; i_ < (n); i_++) {                                                      \
            if (keep_ && !strcmp((arr)[keep_ - 1].name, (arr)[i_].name)) {                         \
                if ((arr)[i_].provider != PROXY_PROVIDER_KUBERNETES || strcmp(what, "service"))    \
                    pc_error((b), (arr)[i_].source, what, NULL, (arr)[i_].name,                    \
                             "%s defined more than once (first at %s); this one is ignored", what, \
                             (arr)[keep_ - 1].source);                                             \
                freefn(&(arr)[i_]);                                                                \
                continue;                                                                          \
            }                                                                                      \
            (arr)[keep_++] = (arr)[i_];                                                            \
        }                                                                                          \
        (n) = keep_;                                                                               \
    } while (0)

/* Traefik's internal services; all but noop@internal are served by the API listener. */
static const char *const internal_names[] = {"api@internal", "dashboard@internal", "ping@internal",
                                             "prometheus@internal", "noop@internal"};
#define INTERNAL_SERVED 4 /* the first ones */

static int internal_service(const char *name)
{
    for (size_t i = 0; i < sizeof(internal_names) / sizeof(internal_names[0]); i++)
        if (!strcmp(name, internal_names[i]))
            return 1;
    return 0;
}

/* The internal services the API listener serves, as load balancers to it. */
static void internal_add(pc_build_t *b, const char *url)
{
    for (size_t i = 0; i < INTERNAL_SERVED; i++) {
        proxy_service_t *s =
            pc_service_add(b, hc_strdup(internal_names[i]), PROXY_PROVIDER_INTERNAL, "internal");
        pc_strv_add(&s->servers, &s->nservers, url);
    }
}

/* Traefik's entry-point redirection as its internal provider builds it: the router
 * web-to-<to>@internal, HostRegexp(`^.+$`) at priority MaxInt - 1 (so it takes every
 * request on web but ACME's challenges), to noop@internal through the redirectScheme
 * middleware redirect-web-to-<to>@internal: https, permanent, the port given. */
static void redirection_add(pc_build_t *b, const char *to, const char *port)
{
    char *raw = pc_strf("web-to-%s", to), *id = proxy_config_normalize(raw);
    char err[PC_ERR_MAX];
    proxy_router_t *r =
        pc_router_add(b, pc_strf("%s@internal", id), PROXY_PROVIDER_INTERNAL, "internal");
    r->rule = hc_strdup("HostRegexp(`^.+$`)");
    r->rule_syntax = hc_strdup("v3");
    if (proxy_rule_parse_syntax(r->rule, r->rule_syntax, &r->match, err, sizeof(err)) < 0)
        pc_router_fail(r, PROXY_STATUS_DISABLED, "%s", err); /* cannot happen: a fixed rule */
    pc_router_order(r, LLONG_MAX - 1, -1);
    r->service_name = hc_strdup("noop@internal");
    pc_strv_add(&r->entrypoints, &r->nentrypoints, "web");
    char *mw = pc_strf("redirect-%s@internal", id);
    pc_strv_add(&r->middleware_names, &r->nmiddlewares, mw);
    proxy_middleware_t *m = pc_middleware_add(b, mw, PROXY_PROVIDER_INTERNAL, "internal");
    m->type = hc_strdup("redirectScheme");
    m->spec = json_pack("{s:s, s:s, s:b}", "scheme", "https", "port", port, "permanent", 1);
    hc_free(id);
    hc_free(raw);
}

/* Resolves a load balancer's servers transport (Traefik: "servers transport not found"
 * fails the service) and weighted children; returns the service's status after nesting
 * checks. */
static proxy_status_t service_resolve(pc_build_t *b, proxy_service_t *s, int depth)
{
    if (s->servers_transport && !s->transport && s->status != PROXY_STATUS_DISABLED &&
        strcmp(s->servers_transport, "default@internal")) {
        s->transport = proxy_config_transport(b->cfg, s->servers_transport);
        if (!s->transport)
            pc_service_fail(s, "servers transport not found %s", s->servers_transport);
    }
    if (s->type == PROXY_SERVICE_LOADBALANCER || s->status == PROXY_STATUS_DISABLED)
        return s->status;
    if (depth > PROXY_NEST_MAX) {
        pc_service_fail(s, "weighted services nest deeper than %d or form a cycle", PROXY_NEST_MAX);
        return s->status;
    }
    for (size_t i = 0; i < s->nweighted; i++) {
        proxy_weighted_t *w = &s->weighted[i];
        proxy_service_t *child = (proxy_service_t *)proxy_config_service(b->cfg, w->service_name);
        if (!child) {
            pc_service_fail(s, "the service \"%s\" does not exist", w->service_name);
            continue;
        }
        if (service_resolve(b, child, depth + 1) == PROXY_STATUS_DISABLED) {
            pc_service_fail(s, "the service \"%s\" is disabled", w->service_name);
            continue;
        }
        w->service = child;
    }
    return s->status;
}

/* A disabling problem of a router: on the router and in the error list. */
static void router_refuse(pc_build_t *b, proxy_router_t *r, proxy_status_t st, const char *fmt,
                          const char *what)
{
    char msg[PC_ERR_MAX];
    snprintf(msg, sizeof(msg), fmt, what);
    pc_router_fail(r, st, "%s", msg);
    pc_error(b, r->source, "router", NULL, r->name, "%s", msg);
}

static void router_resolve(pc_build_t *b, proxy_router_t *r)
{
    const proxy_config_t *c = b->cfg;
    r->middlewares = hc_calloc(r->nmiddlewares ? r->nmiddlewares : 1, sizeof(*r->middlewares));
    /* Traefik's metrics.addInternals and accessLog.addInternals, false by default: a router
     * to an internal service (the API, the dashboard, ping, a redirection's noop) gives no
     * metrics and no access-log line, whatever its own observability says */
    if (r->service_name && internal_service(r->service_name))
        r->no_metrics = r->no_access_log = 1;
    /* A router already disabled by its backend carries that error; do not add another. */
    if (r->service_name && r->status != PROXY_STATUS_DISABLED) {
        const proxy_service_t *s = proxy_config_service(c, r->service_name);
        if (!s && internal_service(r->service_name))
            ; /* noop@internal, or the API off: answered by the proxy itself */
        else if (!s)
            router_refuse(b, r, PROXY_STATUS_DISABLED, "the service \"%s\" does not exist",
                          r->service_name);
        else if (s->status == PROXY_STATUS_DISABLED)
            router_refuse(b, r, PROXY_STATUS_DISABLED, "the service \"%s\" is disabled",
                          r->service_name);
        else
            r->service = s;
    }
    for (size_t i = 0; i < r->nmiddlewares; i++) {
        r->middlewares[i] = proxy_config_middleware(c, r->middleware_names[i]);
        if (!r->middlewares[i])
            router_refuse(b, r, PROXY_STATUS_DISABLED, "middleware \"%s\" does not exist",
                          r->middleware_names[i]);
    }
    if (r->tls_options) {
        r->tls_option = find_tls_option(c, r->tls_options);
        if (!r->tls_option && strcmp(r->tls_options, "default"))
            router_refuse(b, r, PROXY_STATUS_DISABLED, "unknown TLS options: %s", r->tls_options);
    }
    if (r->status == PROXY_STATUS_DISABLED) {
        r->service = NULL;
        memset(r->middlewares, 0, r->nmiddlewares * sizeof(*r->middlewares));
        r->tls_option = NULL;
    }
}

static void finish(pc_build_t *b)
{
    proxy_config_t *c = b->cfg;
    SORT_DEDUP(b, c->routers, c->nrouters, "router", router_free);
    SORT_DEDUP(b, c->services, c->nservices, "service", pc_service_clear);
    SORT_DEDUP(b, c->middlewares, c->nmiddlewares, "middleware", middleware_free);
    SORT_DEDUP(b, c->tls_options, c->ntls_options, "TLS option", tls_option_free);
    SORT_DEDUP(b, c->transports, c->ntransports, "servers transport", transport_free);
    sort_stable(c->certs, c->ncerts, sizeof(*c->certs), cmp_name);
    for (size_t i = 0; i < c->nservices; i++)
        service_resolve(b, &c->services[i], 0);
    for (size_t i = 0; i < c->nrouters; i++)
        router_resolve(b, &c->routers[i]);
}

int proxy_config_build(const proxy_config_input_t *in, proxy_config_t **out)
{
    *out = NULL;
    if ((in->nobjects && (!in->objects || !in->sources)) ||
        (in->nfiles && (!in->files || !in->file_sources)))
        return -EINVAL;
    pc_build_t b = {.cfg = hc_calloc(1, sizeof(proxy_config_t)), .in = in};
    pc_k8s_load(&b);
    for (size_t i = 0; i < in->nfiles; i++)
        pc_file_load(&b, in->files[i], in->file_sources[i]);
    if (in->internal_url)
        internal_add(&b, in->internal_url);
    if (in->web_redirect_to && in->web_redirect_port)
        redirection_add(&b, in->web_redirect_to, in->web_redirect_port);
    finish(&b);
    *out = b.cfg;
    return 0;
}
