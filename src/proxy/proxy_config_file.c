/* Traefik's file provider: a dynamic configuration (YAML read by hc_yaml into json_t)
 * with http.routers, http.services (loadBalancer, weighted), http.middlewares,
 * tls.certificates and tls.options, every name suffixed @file. Part of
 * proxy_config_build; references are resolved afterwards by proxy_config.c. */
#include "proxy/proxy_config_int.h"

#include "core/hc_alloc.h"
#include "proxy/mw.h" /* durations */

#include <stdio.h>
#include <string.h>
#include <strings.h>

static void file_err(pc_build_t *b, const char *src, const char *kind, const char *name,
                     const char *msg)
{
    pc_error(b, src, kind, NULL, name, "%s", msg);
}

/* Appends the strings of a JSON array, each qualified with provider when not NULL. */
static int str_list(const json_t *arr, const char *provider, char ***v, size_t *n)
{
    size_t i;
    const json_t *e;
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return -1;
    json_array_foreach(arr, i, e)
    {
        if (!json_is_string(e))
            return -1;
        char *q =
            provider ? pc_qualify(json_string_value(e), provider) : hc_strdup(json_string_value(e));
        pc_strv_add(v, n, q);
        hc_free(q);
    }
    return 0;
}

static void router_refuse(pc_build_t *b, proxy_router_t *r, const char *src, const char *name,
                          const char *msg)
{
    pc_router_fail(r, PROXY_STATUS_DISABLED, "%s", msg);
    file_err(b, src, "router", name, msg);
}

static void router_tls(proxy_router_t *r, const json_t *tls)
{
    const char *opt = pc_str(tls, "options"), *resolver = pc_str(tls, "certResolver");
    r->tls = 1;
    r->tls_options = opt && strcmp(opt, "default") ? pc_qualify(opt, "file") : hc_strdup("default");
    if (resolver)
        r->cert_resolver = hc_strdup(resolver);
}

static void file_router(pc_build_t *b, const char *src, const char *name, const json_t *o)
{
    char err[PC_ERR_MAX];
    if (!json_is_object(o)) {
        file_err(b, src, "router", name, "a router must be a mapping");
        return;
    }
    const char *rule = pc_str(o, "rule"), *svc = pc_str(o, "service");
    const json_t *prio = json_object_get(o, "priority"), *tls = json_object_get(o, "tls");
    proxy_router_t *r = pc_router_add(b, pc_strf("%s@file", name), PROXY_PROVIDER_FILE, src);
    r->rule = hc_strdup(rule ? rule : "");
    pc_router_order(r, json_is_integer(prio) ? (long long)json_integer_value(prio) : 0, -1);
    if (!rule)
        router_refuse(b, r, src, name, "rule is missing");
    const char *syntax = pc_str(o, "ruleSyntax");
    r->rule_syntax = syntax && *syntax ? hc_strdup(syntax) : NULL;
    pc_router_observability(r, json_object_get(o, "observability"));
    if (rule && proxy_rule_parse_syntax(rule, syntax, &r->match, err, sizeof(err)) < 0)
        router_refuse(b, r, src, name, err);
    if (svc)
        r->service_name = pc_qualify(svc, "file");
    else
        router_refuse(b, r, src, name, "the service is missing on the router");
    if (prio && !json_is_integer(prio))
        router_refuse(b, r, src, name, "priority must be an integer");
    if (str_list(json_object_get(o, "middlewares"), "file", &r->middleware_names,
                 &r->nmiddlewares) < 0)
        router_refuse(b, r, src, name, "middlewares must be a list of names");
    if (str_list(json_object_get(o, "entryPoints"), NULL, &r->entrypoints, &r->nentrypoints) < 0)
        router_refuse(b, r, src, name, "entryPoints must be a list of names");
    if (tls && !json_is_object(tls) && !json_is_null(tls))
        router_refuse(b, r, src, name, "tls must be a mapping");
    else if (tls)
        router_tls(r, tls);
}

static int url_ok(const char *u)
{
    static const char *const schemes[] = {"http://", "https://"}; /* no h2c: HTTP/1.1 only */
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(schemes[i]);
        if (!strncmp(u, schemes[i], n) && u[n] && u[n] != '/')
            return 1;
    }
    return 0;
}

/* loadBalancer: servers[] (url, weight, preservePath), strategy, passHostHeader,
 * serversTransport, healthCheck, passiveHealthCheck, sticky. */
static const char *load_balancer(proxy_service_t *s, const json_t *lb)
{
    size_t i;
    const json_t *srv, *phh = json_object_get(lb, "passHostHeader");
    if (!json_is_object(lb))
        return "loadBalancer must be a mapping";
    json_array_foreach(json_object_get(lb, "servers"), i, srv)
    {
        const char *url = pc_str(srv, "url");
        if (!url || !url_ok(url))
            return "each loadBalancer server needs a url http:// or https://host[:port] (h2c:// "
                   "is not supported)";
        const json_t *wt = json_object_get(srv, "weight");
        if (wt && !json_is_integer(wt))
            return "a server's weight must be an integer";
        pc_strv_add(&s->servers, &s->nservers, url);
        s->weights = hc_realloc(s->weights, s->nservers * sizeof(*s->weights));
        s->weights[s->nservers - 1] = wt ? (long long)json_integer_value(wt) : PROXY_WEIGHT_UNSET;
        if (json_is_true(json_object_get(srv, "preservePath")))
            pc_strv_add(&s->preserve_path, &s->npreserve_path, url);
    }
    if (json_is_boolean(phh))
        s->pass_host_header = json_is_true(phh);
    const char *mode = pc_str(json_object_get(lb, "healthCheck"), "mode");
    if (mode && *mode && strcasecmp(mode, "http"))
        return "healthCheck mode not supported (http only: probes are HTTP/1.1 requests)";
    const char *strategy = pc_str(lb, "strategy");
    if (pc_strategy_parse(strategy, &s->strategy) < 0)
        return "unsupported load-balancer strategy (wrr, p2c, hrw or leasttime)";
    const char *st = pc_str(lb, "serversTransport");
    if (st && *st) /* a name without provider is the file's own; "": the default */
        s->servers_transport = pc_qualify(st, "file");
    if (json_is_object(json_object_get(lb, "healthCheck")))
        s->health_check = json_deep_copy(json_object_get(lb, "healthCheck"));
    const json_t *passive = json_object_get(lb, "passiveHealthCheck");
    if (json_is_object(passive)) { /* Traefik's SetDefaults: 10 s, 1 */
        char err[160];
        uint64_t ns = 10000000000ULL;
        const json_t *max = proxy_mw_json_get(passive, "maxFailedAttempts");
        if (proxy_mw_json_duration(passive, "failureWindow", "passiveHealthCheck", &ns, err,
                                   sizeof(err)) < 0)
            return "passiveHealthCheck.failureWindow must be a duration";
        if (max && !json_is_integer(max))
            return "passiveHealthCheck.maxFailedAttempts must be an integer";
        long long m = max ? json_integer_value(max) : 1;
        s->passive_max = m < 1 ? 1 : m > 1000 ? 1000 : (unsigned)m;
        s->passive_window_ms = ns / 1000000;
    }
    if (pc_sticky_parse(json_object_get(lb, "sticky"), &s->sticky) < 0)
        return "sticky must hold a cookie mapping";
    return NULL;
}

/* weighted, or highestRandomWeight (type HRW: no sticky): services[] (name, weight). */
static const char *weighted(proxy_service_t *s, const json_t *w, proxy_service_type_t type)
{
    size_t i;
    const json_t *e;
    s->type = type;
    json_array_foreach(json_object_get(w, "services"), i, e)
    {
        const char *name = pc_str(e, "name");
        const json_t *wt = json_object_get(e, "weight");
        if (!name)
            return "each weighted service needs a name";
        s->weighted = hc_realloc(s->weighted, (s->nweighted + 1) * sizeof(*s->weighted));
        s->weighted[s->nweighted++] = (proxy_weighted_t){
            .service_name = pc_qualify(name, "file"),
            .weight = json_is_integer(wt) ? (long long)json_integer_value(wt) : 1,
        };
    }
    if (!s->nweighted)
        return type == PROXY_SERVICE_HRW ? "highestRandomWeight needs at least one service"
                                         : "weighted needs at least one service";
    if (type == PROXY_SERVICE_WEIGHTED &&
        pc_sticky_parse(json_object_get(w, "sticky"), &s->sticky) < 0)
        return "sticky must hold a cookie mapping";
    return NULL;
}

/* failover: service, and fallback when it has no healthy server (its health checks'). */
static const char *failover(proxy_service_t *s, const json_t *f)
{
    const char *names[2] = {pc_str(f, "service"), pc_str(f, "fallback")};
    if (!names[0] || !names[1] || !*names[0] || !*names[1])
        return "failover needs a service and a fallback";
    s->type = PROXY_SERVICE_FAILOVER;
    s->weighted = hc_calloc(2, sizeof(*s->weighted));
    for (size_t i = 0; i < 2; i++)
        s->weighted[s->nweighted++] =
            (proxy_weighted_t){.service_name = pc_qualify(names[i], "file"), .weight = 1};
    return NULL;
}

/* mirroring: service, mirrors ({name, percent}), mirrorBody, maxBodySize. */
static const char *mirroring(proxy_service_t *s, const json_t *m)
{
    size_t i;
    const json_t *e;
    const char *main = pc_str(m, "service");
    if (!main || !*main)
        return "mirroring needs a service";
    s->weighted =
        hc_calloc(json_array_size(json_object_get(m, "mirrors")) + 1, sizeof(*s->weighted));
    s->weighted[s->nweighted++] = (proxy_weighted_t){.service_name = pc_qualify(main, "file")};
    json_array_foreach(json_object_get(m, "mirrors"), i, e)
    {
        const char *name = pc_str(e, "name");
        const json_t *pct = json_object_get(e, "percent");
        if (!name || !*name)
            return "each mirror needs a name";
        s->weighted[s->nweighted++] = (proxy_weighted_t){
            .service_name = pc_qualify(name, "file"),
            .weight = json_is_integer(pct) ? (long long)json_integer_value(pct) : 0,
        };
    }
    return pc_mirroring_parse(s, m);
}

static void file_service(pc_build_t *b, const char *src, const char *name, const json_t *o)
{
    const json_t *lb = json_object_get(o, "loadBalancer"), *w = json_object_get(o, "weighted");
    const json_t *f = json_object_get(o, "failover"), *m = json_object_get(o, "mirroring");
    const json_t *h = json_object_get(o, "highestRandomWeight");
    if (!json_is_object(o) || json_object_size(o) != 1 || (!lb && !w && !f && !m && !h)) {
        file_err(b, src, "service", name,
                 "a service must define exactly one of loadBalancer, weighted, "
                 "highestRandomWeight, failover or mirroring");
        return;
    }
    proxy_service_t *s = pc_service_add(b, pc_strf("%s@file", name), PROXY_PROVIDER_FILE, src);
    const char *err = lb  ? load_balancer(s, lb)
                      : w ? weighted(s, w, PROXY_SERVICE_WEIGHTED)
                      : h ? weighted(s, h, PROXY_SERVICE_HRW)
                      : f ? failover(s, f)
                          : mirroring(s, m);
    if (err) {
        pc_service_fail(s, "%s", err);
        file_err(b, src, "service", name, err);
    }
}

static void file_middleware(pc_build_t *b, const char *src, const char *name, const json_t *o)
{
    if (!json_is_object(o) || json_object_size(o) != 1) {
        file_err(b, src, "middleware", name, "a middleware must hold exactly one middleware type");
        return;
    }
    const char *type = json_object_iter_key(json_object_iter((json_t *)o));
    proxy_middleware_t *m =
        pc_middleware_add(b, pc_strf("%s@file", name), PROXY_PROVIDER_FILE, src);
    m->type = hc_strdup(type);
    m->spec = json_deep_copy(json_object_get(o, type));
}

/* certFile/keyFile hold paths, or the PEM itself (Traefik's FileOrContent). */
/* One {certFile, keyFile} (paths or PEM text) as a certificate named label. */
static proxy_cert_t *file_cert(pc_build_t *b, const char *src, const char *label, const json_t *c)
{
    const char *crt = pc_str(c, "certFile"), *key = pc_str(c, "keyFile");
    if (!crt || !key || !*crt || !*key) {
        file_err(b, src, "certificate", label, "certFile and keyFile are both required");
        return NULL;
    }
    int inline_pem = !strncmp(crt, "-----BEGIN", 10);
    proxy_cert_t *pc =
        pc_cert_add(b, inline_pem ? pc_strf("%s#%s", src, label) : hc_strdup(crt), src);
    if (inline_pem) {
        pc->cert = hc_strdup(crt);
        pc->cert_len = strlen(crt);
    } else {
        pc->cert_file = hc_strdup(crt);
    }
    if (!strncmp(key, "-----BEGIN", 10)) {
        pc->key = hc_strdup(key);
        pc->key_len = strlen(key);
    } else {
        pc->key_file = hc_strdup(key);
    }
    return pc;
}

static void file_certificates(pc_build_t *b, const char *src, json_t *certs)
{
    size_t i;
    json_t *c;
    proxy_cert_t *pc;
    json_array_foreach(certs, i, c)
    {
        char label[48], err[PC_ERR_MAX];
        snprintf(label, sizeof(label), "tls.certificates[%zu]", i);
        if (pc_shape_check(c, PC_SHAPE_CERTIFICATE, "certificate", label, err, sizeof(err)) < 0)
            file_err(b, src, "certificate", label, err);
        else if ((pc = file_cert(b, src, label, c)))
            pc->by_name = 1;
    }
}

/* A tls.stores member: the default store's defaultCertificate replaces the generated one
 * (Traefik uses no other store; those are reported). */
static void file_store(pc_build_t *b, const char *src, const char *name, const json_t *s)
{
    if (strcmp(name, "default")) {
        file_err(b, src, "TLS store", name, "only the default TLS store is used");
        return;
    }
    const json_t *dc = json_object_get(s, "defaultCertificate");
    proxy_cert_t *pc = dc ? file_cert(b, src, "tls.stores.default.defaultCertificate", dc) : NULL;
    if (pc)
        pc->is_default = 1;
}

typedef void (*named_fn)(pc_build_t *b, const char *src, const char *name, const json_t *o);

/* Calls fn for each member of the mapping section (a non-mapping is one error) that has
 * its shape; a member that does not is reported and skipped. */
static void each_named(pc_build_t *b, const char *src, json_t *section, const char *what,
                       pc_shape_t shape, named_fn fn)
{
    const char *name;
    json_t *o;
    char err[PC_ERR_MAX];
    if (!section || json_is_null(section))
        return;
    if (!json_is_object(section)) {
        file_err(b, src, what, NULL, "this section must be a mapping of names");
        return;
    }
    json_object_foreach(section, name, o)
    {
        if (pc_shape_check(o, shape, what, name, err, sizeof(err)) < 0)
            file_err(b, src, what, name, err);
        else
            fn(b, src, name, o);
    }
}

static void file_tls_option(pc_build_t *b, const char *src, const char *name, const json_t *o)
{
    if (!json_is_object(o)) {
        file_err(b, src, "TLS option", name, "TLS options must be a mapping");
        return;
    }
    proxy_tls_option_t *t = pc_tls_option_add(
        b, strcmp(name, "default") ? pc_strf("%s@file", name) : hc_strdup("default"),
        PROXY_PROVIDER_FILE, src);
    t->spec = json_deep_copy(o);
}

static void file_transport(pc_build_t *b, const char *src, const char *name, const json_t *o)
{
    if (!json_is_object(o)) {
        file_err(b, src, "servers transport", name, "a servers transport must be a mapping");
        return;
    }
    pc_transport_add(b, pc_strf("%s@file", name), PROXY_PROVIDER_FILE, src)->spec =
        json_deep_copy(o);
}

void pc_file_load(pc_build_t *b, const json_t *file, const char *src)
{
    char err[PC_ERR_MAX];
    if (!file || json_is_null(file))
        return;
    if (!json_is_object(file)) {
        file_err(b, src, "file", NULL, "the dynamic configuration must be a mapping");
        return;
    }
    json_t *root = json_deep_copy(file); /* members renamed to Traefik's spelling */
    if (pc_shape_check(root, PC_SHAPE_FILE, "file", src, err, sizeof(err)) < 0)
        file_err(b, src, "file", NULL, err); /* the sections Traefik knows still load */
    if (json_object_get(root, "tcp") || json_object_get(root, "udp"))
        file_err(b, src, "file", NULL, "tcp and udp sections are not supported; ignored");
    json_t *http = json_object_get(root, "http"), *tls = json_object_get(root, "tls");
    each_named(b, src, json_object_get(http, "routers"), "router", PC_SHAPE_ROUTER, file_router);
    each_named(b, src, json_object_get(http, "services"), "service", PC_SHAPE_SERVICE,
               file_service);
    each_named(b, src, json_object_get(http, "middlewares"), "middleware", PC_SHAPE_MIDDLEWARE,
               file_middleware);
    each_named(b, src, json_object_get(http, "serversTransports"), "servers transport",
               PC_SHAPE_TRANSPORT, file_transport);
    each_named(b, src, json_object_get(tls, "options"), "TLS option", PC_SHAPE_TLS_OPTION,
               file_tls_option);
    each_named(b, src, json_object_get(tls, "stores"), "TLS store", PC_SHAPE_STORE, file_store);
    json_t *certs = json_object_get(tls, "certificates");
    if (certs && !json_is_array(certs))
        file_err(b, src, "certificate", NULL, "tls.certificates must be a list");
    else
        file_certificates(b, src, certs);
    json_decref(root);
}
