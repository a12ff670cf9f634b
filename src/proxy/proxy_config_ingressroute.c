/* Traefik's IngressRoute and TraefikService CRDs (traefik.io/v1alpha1, and the older
 * traefik.containo.us group) to routers and services, named as Traefik's kubernetescrd
 * provider names them (pkg/provider/kubernetes/crd):
 *   - one router per route: Normalize("<ns>-<name>-<hash>")@kubernetescrd, hash = 20 hex
 *     of sha256(match), with the route's match, priority, middlewares and the
 *     IngressRoute's entryPoints and tls;
 *   - a route's one Kubernetes Service: Normalize("<ns>-<svc>-<port>")@kubernetescrd;
 *     several services: a weighted service under the router's own name;
 *   - a TraefikService (weighted): Normalize("<ns>-<name>")@kubernetescrd.
 * References to other namespaces are refused, as with Traefik's default
 * allowCrossNamespace: false. Part of proxy_config_build (run by pc_k8s_load). */
#include "proxy/proxy_config_int.h"

#include "core/hc_alloc.h"
#include "core/hc_manifest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A Middleware or TLSOption reference, qualified: pc_crd_ref's name + "@kubernetescrd"
 * unless it names another provider. */
static char *crd_ref(const char *ns, const json_t *ref, const char *what, char *err, size_t errlen)
{
    char *id = pc_crd_ref(ns, ref, what, "IngressRoute", err, errlen);
    char *q = id ? pc_qualify(id, "kubernetescrd") : NULL;
    hc_free(id);
    return q;
}

/* The load balancer a services[] entry of kind Service builds: its port (a number or a
 * port name), scheme, strategy and the rest, under q. 0 or -EINVAL with err. */
static int kube_service(pc_kstate_t *k, const char *ns, const char *name, const json_t *ref,
                        const json_t *port, const char *q, char *err, size_t errlen)
{
    const char *strategy = pc_str(ref, "strategy"), *scheme = pc_str(ref, "scheme");
    const char *transport = pc_str(ref, "serversTransport");
    const json_t *phh = json_object_get(ref, "passHostHeader");
    proxy_strategy_t strat = PROXY_STRATEGY_WRR; /* RoundRobin: the v2 name of wrr */
    if (strategy && strcmp(strategy, "RoundRobin") && pc_strategy_parse(strategy, &strat) < 0) {
        snprintf(err, errlen, "unsupported load-balancer strategy %s (wrr, p2c, hrw, leasttime)",
                 strategy);
        return -EINVAL;
    }
    if (pc_scheme_check(scheme, err, errlen) < 0) /* also for a child another route built */
        return -EINVAL;
    if (transport && pc_crd_qualified(transport)) {
        snprintf(err, errlen,
                 "invalid reference to serversTransport %s: namespace-name@kubernetescrd format "
                 "is not allowed when crossnamespace is disallowed",
                 transport);
        return -EINVAL;
    }
    char *st = NULL;
    if (transport && *transport)
        st = strchr(transport, '@') ? hc_strdup(transport) : pc_strf("%s-%s", ns, transport);
    char *st_q = st && !strchr(st, '@') ? pc_crd_name(st) : NULL;
    const proxy_service_t *built = pc_service_find(k->b, q);
    if (built) { /* another route's reference built it already: with the same transport */
        const char *want = st_q ? st_q : st, *had = built->servers_transport;
        int same = !want == !had && (!want || !strcmp(want, had));
        if (!same)
            snprintf(err, errlen,
                     "service %s is referenced with serversTransport %s, and elsewhere with %s", q,
                     want ? want : "(default)", had ? had : "(default)");
        hc_free(st);
        hc_free(st_q);
        return same ? 0 : -EINVAL;
    }
    pc_lb_spec_t lb = {
        .scheme = scheme && *scheme ? scheme : NULL,
        .pass_host_header = !json_is_false(phh),
        .sticky = json_object_get(ref, "sticky"),
        .servers_transport = st_q ? st_q : st,
        .native_lb = json_is_true(json_object_get(ref, "nativeLB")),
        .strategy = strat,
    };
    int rc = pc_k8s_service(k, ns, name, json_integer_value(port), json_string_value(port), &lb, q,
                            PROXY_PROVIDER_KUBERNETESCRD, err, errlen);
    hc_free(st);
    hc_free(st_q);
    return rc;
}

/* One services[] entry (Traefik nameAndService): builds a Kubernetes Service's load
 * balancer, under as when given (a route's only service takes its router's name), else
 * "<ns>-<svc>-<port>"; a TraefikService is only named. "x@kubernetescrd" is x of the
 * referrer's namespace. Returns the qualified name, or NULL with err. */
static char *service_ref(pc_kstate_t *k, const char *ns, const json_t *ref, const char *as,
                         char *err, size_t errlen)
{
    const char *given = pc_str(ref, "name"), *rns = pc_str(ref, "namespace");
    const char *kind = pc_str(ref, "kind");
    const json_t *port = json_object_get(ref, "port");
    if (!json_is_object(ref) || !given || !*given) {
        snprintf(err, errlen, "a service needs a name");
        return NULL;
    }
    int local = pc_crd_qualified(given);
    char *name = local ? hc_memdup(given, strlen(given) - strlen(CRD_SUFFIX)) : hc_strdup(given);
    const char *at = strchr(name, '@');
    char *q = NULL;
    if (!at && !local && rns && *rns && strcmp(rns, ns)) {
        snprintf(err, errlen, "service %s/%s not in the parent resource namespace %s", rns, name,
                 ns);
    } else if (kind && !strcmp(kind, "TraefikService")) {
        /* "<ns>-<name>", or another provider's "<Normalize(name)>@provider" */
        char *base = at ? hc_memdup(name, (size_t)(at - name)) : pc_strf("%s-%s", ns, name);
        char *norm = proxy_config_normalize(base);
        q = pc_strf("%s%s", norm, at ? at : CRD_SUFFIX);
        hc_free(base);
        hc_free(norm);
    } else if (kind && *kind && strcmp(kind, "Service")) {
        snprintf(err, errlen, "unsupported service kind %s", kind);
    } else if (!(json_is_integer(port) && json_integer_value(port) > 0) &&
               !(json_is_string(port) && json_string_length(port))) {
        snprintf(err, errlen, "service %s: port not defined", name);
    } else {
        char *id = json_is_string(port)
                       ? pc_strf("%s-%s-%s", ns, name, json_string_value(port))
                       : pc_strf("%s-%s-%lld", ns, name, (long long)json_integer_value(port));
        q = as ? hc_strdup(as) : pc_crd_name(id);
        hc_free(id);
        if (kube_service(k, ns, name, ref, port, q, err, errlen) < 0) {
            hc_free(q);
            q = NULL;
        }
    }
    hc_free(name);
    return q;
}

char *pc_crd_service(pc_kstate_t *k, const char *ns, const json_t *ref, char *err, size_t errlen)
{
    return service_ref(k, ns, ref, NULL, err, errlen);
}

/* Builds the service ref names and adds it to q's children with weight (a percent for a
 * mirror). Returns q, which building the child may have moved; err set on failure. */
static proxy_service_t *child_add(pc_kstate_t *k, const pc_kobj_t *o, const json_t *ref,
                                  const char *q, long long weight, char *err, size_t errlen)
{
    char *child = service_ref(k, o->ns, ref, NULL, err, errlen);
    proxy_service_t *s = pc_service_find(k->b, q);
    if (child) {
        s->weighted = hc_realloc(s->weighted, (s->nweighted + 1) * sizeof(*s->weighted));
        s->weighted[s->nweighted++] = (proxy_weighted_t){.service_name = child, .weight = weight};
    }
    return s;
}

/* An integer field of ref, dflt when absent. */
static long long ref_int(const json_t *ref, const char *key, long long dflt)
{
    const json_t *v = json_object_get(ref, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* A weighted (or, type HRW, highestRandomWeight) service q over services (a list of
 * references with weights), sticky as given. A child that cannot be built disables q
 * with the reason, also returned in err (-EINVAL). */
static int weighted_add(pc_kstate_t *k, const pc_kobj_t *o, proxy_service_type_t type,
                        const json_t *services, const json_t *sticky, const char *q, char *err,
                        size_t errlen)
{
    proxy_service_t *s =
        pc_service_add(k->b, hc_strdup(q), PROXY_PROVIDER_KUBERNETESCRD, o->source);
    size_t i;
    const json_t *ref;
    s->type = type;
    *err = '\0';
    json_array_foreach(services, i, ref)
    {
        s = child_add(k, o, ref, q, ref_int(ref, "weight", 1), err, errlen);
        if (*err)
            break;
    }
    if (!*err && !s->nweighted)
        snprintf(err, errlen, "%s needs at least one service",
                 type == PROXY_SERVICE_HRW ? "highestRandomWeight" : "weighted");
    if (!*err && pc_sticky_parse(sticky, &s->sticky) < 0)
        snprintf(err, errlen, "sticky must hold a cookie mapping");
    if (*err)
        pc_service_fail(s, "%s", err);
    return *err ? -EINVAL : 0;
}

/* A mirroring service q: m names the service (a reference), its mirrors (references
 * with percents), mirrorBody and maxBodySize. Failures as weighted_add. */
static int mirroring_add(pc_kstate_t *k, const pc_kobj_t *o, const json_t *m, const char *q,
                         char *err, size_t errlen)
{
    proxy_service_t *s =
        pc_service_add(k->b, hc_strdup(q), PROXY_PROVIDER_KUBERNETESCRD, o->source);
    size_t i;
    const json_t *ref;
    s->type = PROXY_SERVICE_MIRRORING;
    *err = '\0';
    s = child_add(k, o, m, q, 0, err, errlen);
    json_array_foreach(json_object_get(m, "mirrors"), i, ref)
    {
        if (*err)
            break;
        s = child_add(k, o, ref, q, ref_int(ref, "percent", 0), err, errlen);
    }
    const char *bad = *err ? NULL : pc_mirroring_parse(s, m);
    if (bad)
        snprintf(err, errlen, "%s", bad);
    if (*err)
        pc_service_fail(s, "%s", err);
    return *err ? -EINVAL : 0;
}

/* A route's problem: on its router (disabled) and in the error list. */
static void route_fail(pc_kstate_t *k, const pc_kobj_t *o, proxy_router_t *r, size_t i,
                       const char *msg)
{
    pc_router_fail(r, PROXY_STATUS_DISABLED, "%s", msg);
    pc_error(k->b, o->source, "IngressRoute", o->ns, o->name, "routes[%zu]: %s", i, msg);
}

/* The router's middlewares, in order; -EINVAL with err for a bad reference. */
static int route_middlewares(const pc_kobj_t *o, proxy_router_t *r, const json_t *list, char *err,
                             size_t errlen)
{
    size_t i;
    const json_t *m;
    if (list && !json_is_array(list)) {
        snprintf(err, errlen, "middlewares must be a list of {name, namespace}");
        return -EINVAL;
    }
    json_array_foreach(list, i, m)
    {
        char *q = crd_ref(o->ns, m, "middleware", err, errlen);
        if (!q)
            return -EINVAL;
        pc_strv_add(&r->middleware_names, &r->nmiddlewares, q);
        hc_free(q);
    }
    return 0;
}

/* The route's service: one reference is used by name, several are weighted under the
 * router's own name; none leaves that name unresolved, as in Traefik. */
static int route_service(pc_kstate_t *k, const pc_kobj_t *o, proxy_router_t *r, const char *key,
                         const json_t *services, char *err, size_t errlen)
{
    char *q = NULL;
    if (services && !json_is_array(services)) {
        snprintf(err, errlen, "services must be a list");
        return -EINVAL;
    }
    if (json_array_size(services) == 1) {
        q = service_ref(k, o->ns, json_array_get(services, 0), key, err, errlen);
        if (!q)
            return -EINVAL;
    } else {
        q = hc_strdup(key);
    }
    r->service_name = q;
    if (json_array_size(services) > 1)
        return weighted_add(k, o, PROXY_SERVICE_WEIGHTED, services, NULL, q, err, errlen);
    return 0;
}

/* spec.tls: the Secret's certificate, the TLS options reference, the resolver. The
 * router serves TLS only, as any router with a tls section. */
static int route_tls(const pc_kobj_t *o, const json_t *tls, proxy_router_t *r, char *err,
                     size_t errlen)
{
    const json_t *opts = json_object_get(tls, "options");
    const char *resolver = pc_str(tls, "certResolver");
    r->tls = 1;
    if (pc_str(opts, "name") && *pc_str(opts, "name")) {
        if (!(r->tls_options = crd_ref(o->ns, opts, "TLSOption", err, errlen)))
            return -EINVAL;
    } else {
        r->tls_options = hc_strdup("default");
    }
    if (resolver && *resolver)
        r->cert_resolver = hc_strdup(resolver);
    return 0;
}

static void route_load(pc_kstate_t *k, const pc_kobj_t *o, size_t i, const json_t *route,
                       const char *tls_err)
{
    const json_t *spec = json_object_get(o->obj, "spec");
    const char *kind = pc_str(route, "kind"), *match = pc_str(route, "match");
    const json_t *prio = json_object_get(route, "priority"), *tls = json_object_get(spec, "tls");
    char err[PC_ERR_MAX], hex[21];
    if (kind && *kind && strcmp(kind, "Rule")) {
        pc_error(k->b, o->source, "IngressRoute", o->ns, o->name,
                 "routes[%zu]: unsupported match kind %s (only Rule)", i, kind);
        return;
    }
    if (!match || !*match) {
        pc_error(k->b, o->source, "IngressRoute", o->ns, o->name, "routes[%zu]: %s", i,
                 json_object_get(route, "match") && !match ? "match must be a string"
                                                           : "empty match rule");
        return;
    }
    pc_rule_hash(match, hex);
    char *id = pc_strf("%s-%s-%s", o->ns, o->name, hex), *key = pc_crd_name(id);
    hc_free(id);
    proxy_router_t *r =
        pc_router_add(k->b, hc_strdup(key), PROXY_PROVIDER_KUBERNETESCRD, o->source);
    r->rule = hc_strdup(match);
    pc_router_order(r, json_is_integer(prio) ? (long long)json_integer_value(prio) : 0, -1);
    const char *syntax = pc_str(route, "syntax");
    r->rule_syntax = syntax && *syntax ? hc_strdup(syntax) : NULL;
    pc_router_observability(r, json_object_get(route, "observability"));
    if (proxy_rule_parse_syntax(match, syntax, &r->match, err, sizeof(err)) < 0)
        route_fail(k, o, r, i, err);
    if (prio && !json_is_integer(prio))
        route_fail(k, o, r, i, "priority must be an integer");
    const json_t *eps = json_object_get(spec, "entryPoints"), *ep;
    size_t j;
    json_array_foreach(eps, j, ep) if (json_is_string(ep))
        pc_strv_add(&r->entrypoints, &r->nentrypoints, json_string_value(ep));
    if (route_middlewares(o, r, json_object_get(route, "middlewares"), err, sizeof(err)) < 0)
        route_fail(k, o, r, i, err);
    /* building services grows the services array, not the routers': r stays valid */
    if (route_service(k, o, r, key, json_object_get(route, "services"), err, sizeof(err)) < 0)
        route_fail(k, o, r, i, err);
    if (tls && !json_is_null(tls) && route_tls(o, tls, r, err, sizeof(err)) < 0)
        route_fail(k, o, r, i, err);
    if (*tls_err)
        pc_router_fail(r, PROXY_STATUS_WARNING, "%s", tls_err);
    hc_free(key);
}

/* Whether a later route of the list has the same match: Traefik keeps the last one
 * under the routers' shared key. */
static int superseded(const json_t *routes, size_t i)
{
    const char *m = pc_str(json_array_get(routes, i), "match");
    for (size_t j = i + 1; m && j < json_array_size(routes); j++) {
        const char *n = pc_str(json_array_get(routes, j), "match");
        if (n && !strcmp(m, n))
            return 1;
    }
    return 0;
}

void pc_ingressroute_load(pc_kstate_t *k, const pc_kobj_t *o)
{
    const json_t *spec = json_object_get(o->obj, "spec");
    const json_t *routes = json_object_get(spec, "routes"), *route;
    const json_t *tls = json_object_get(spec, "tls");
    char tls_err[PC_ERR_MAX] = "";
    size_t i;
    if (!pc_class_annotation_served(k, o->obj))
        return;
    if (!json_is_array(routes) || !json_array_size(routes)) {
        pc_error(k->b, o->source, "IngressRoute", o->ns, o->name,
                 "spec.routes: expected a non-empty list of routes");
        return;
    }
    if (tls && !json_is_object(tls) && !json_is_null(tls)) {
        pc_error(k->b, o->source, "IngressRoute", o->ns, o->name, "spec.tls must be a mapping");
        return;
    }
    if (hc_manifest_member(spec, "parentRefs")) { /* Traefik 3.6's multi-layer routing */
        pc_error(k->b, o->source, "IngressRoute", o->ns, o->name,
                 "spec.parentRefs: multi-layer routing is not supported (the routes would "
                 "skip their parent's middlewares)");
        return;
    }
    const char *secret = pc_str(tls, "secretName");
    if (secret && *secret) {
        char e[PC_ERR_MAX - 8];
        if (pc_k8s_secret(k, o->ns, secret, NULL, 1, e, sizeof(e)) < 0) {
            snprintf(tls_err, sizeof(tls_err), "TLS: %s", e);
            pc_error(k->b, o->source, "IngressRoute", o->ns, o->name, "%s", tls_err);
        }
    }
    json_array_foreach(routes, i, route) if (!superseded(routes, i))
        route_load(k, o, i, route, tls_err);
}

void pc_traefik_service_load(pc_kstate_t *k, const pc_kobj_t *o)
{
    const json_t *spec = json_object_get(o->obj, "spec");
    const json_t *w = json_object_get(spec, "weighted"), *m = json_object_get(spec, "mirroring");
    const json_t *h = json_object_get(spec, "highestRandomWeight");
    char err[PC_ERR_MAX];
    if (json_is_object(w) + json_is_object(m) + json_is_object(h) != 1) {
        pc_error(k->b, o->source, "TraefikService", o->ns, o->name,
                 "spec must define one of weighted, mirroring or highestRandomWeight");
        return;
    }
    char *id = pc_strf("%s-%s", o->ns, o->name), *q = pc_crd_name(id);
    int rc = json_is_object(m) ? mirroring_add(k, o, m, q, err, sizeof(err))
             : json_is_object(h)
                 ? weighted_add(k, o, PROXY_SERVICE_HRW, json_object_get(h, "services"), NULL, q,
                                err, sizeof(err))
                 : weighted_add(k, o, PROXY_SERVICE_WEIGHTED, json_object_get(w, "services"),
                                json_object_get(w, "sticky"), q, err, sizeof(err));
    if (rc < 0)
        pc_error(k->b, o->source, "TraefikService", o->ns, o->name, "%s", err);
    hc_free(id);
    hc_free(q);
}
