/* Kubernetes Ingress (networking.k8s.io/v1) to Traefik routers, as Traefik's
 * kubernetesIngress provider does it (traefik/traefik pkg/provider/kubernetes/ingress):
 * class filtering, traefik.ingress.kubernetes.io/router.* annotations, spec.tls
 * certificates, defaultBackend, and one router per rule path named
 * Normalize("<ns>-<ingress>-<host><path>")@kubernetes. Part of proxy_config_build. */
#include "proxy/proxy_config_int.h"

#include "core/hc_alloc.h"
#include "core/hc_manifest.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CLASS_ANN "kubernetes.io/ingress.class"
#define ROUTER_ANN "traefik.ingress.kubernetes.io/router."
#define TRAEFIK_CONTROLLER "traefik.io/ingress-controller"

typedef struct rtcfg {
    char **middlewares;
    size_t nmiddlewares;
    char **entrypoints;
    size_t nentrypoints;
    long long priority;
    int tls;
    const char *tls_options;
    const char *cert_resolver;
    const char *pathmatcher; /* Path, PathPrefix or PathRegexp for ImplementationSpecific
                                paths */
    const char *rule_syntax; /* router.rulesyntax: v2 or v3 (v2 reads path templates) */
    int no_access_log, no_metrics; /* router.observability.accesslogs / metrics false */
} rtcfg_t;

/* One router of an Ingress before collisions are settled. */
typedef struct pending {
    char *key;
    char *rule;
    proxy_rule_t *match;
    char *service;
    int exact;
} pending_t;

/* The class the API server's DefaultIngressClass admission writes into an Ingress that
 * names none (neither field nor annotation): the IngressClass annotated as the default,
 * NULL when none is. */
static const char *default_class(pc_kstate_t *k, const pc_kobj_t *o)
{
    char buf[32];
    const json_t *ann = json_object_get(json_object_get(o->obj, "metadata"), "annotations");
    if (pc_annotation(ann, CLASS_ANN, buf))
        return NULL;
    if (!k->default_class_known) { /* looked up once per build */
        k->default_class_known = 1;
        for (size_t i = 0; i < k->nobjs && !k->default_class; i++) {
            const pc_kobj_t *ic = &k->objs[i];
            const json_t *m = json_object_get(ic->obj, "metadata");
            const char *v = ic->kind != PC_K_INGRESSCLASS
                                ? NULL
                                : pc_annotation(json_object_get(m, "annotations"),
                                                "ingressclass.kubernetes.io/is-default-class", buf);
            if (v && !strcmp(v, "true"))
                k->default_class = ic->name;
        }
    }
    return k->default_class;
}

/* ingressClassName (or the default class the API server gives) must name a Traefik
 * IngressClass (one of the configured name, if any); without it the legacy annotation
 * must equal the configured class, or, with none configured, be empty or "traefik"
 * (Traefik shouldProcessIngress). */
static int ingress_served(pc_kstate_t *k, const pc_kobj_t *o)
{
    const char *want = k->b->in->ingress_class ? k->b->in->ingress_class : "";
    const char *cls = pc_str(json_object_get(o->obj, "spec"), "ingressClassName");
    if (!cls)
        cls = default_class(k, o);
    if (cls) {
        if (*want && strcmp(cls, want))
            return 0;
        const pc_kobj_t *ic = pc_kfind(k, PC_K_INGRESSCLASS, "", cls);
        if (!ic) /* assumed installed, as Traefik's Helm chart does */
            return !strcmp(cls, *want ? want : "traefik");
        const char *ctl = pc_str(json_object_get(ic->obj, "spec"), "controller");
        return ctl && !strcmp(ctl, TRAEFIK_CONTROLLER);
    }
    return pc_class_annotation_served(k, o->obj);
}

int pc_class_annotation_served(const pc_kstate_t *k, const json_t *obj)
{
    const char *want = k->b->in->ingress_class ? k->b->in->ingress_class : "";
    const json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
    char buf[32];
    const char *a = pc_annotation(ann, CLASS_ANN, buf);
    a = a ? a : "";
    return !strcmp(want, a) || (!*want && !strcmp(a, "traefik"));
}

/* A comma list (spaces and newlines around items dropped, empty items skipped). */
static void split_list(const char *s, char ***v, size_t *n)
{
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *a = s, *z = s + len;
        while (a < z && isspace((unsigned char)*a))
            a++;
        while (z > a && isspace((unsigned char)z[-1]))
            z--;
        if (z > a) {
            char *item = hc_memdup(a, (size_t)(z - a));
            pc_strv_add(v, n, item);
            hc_free(item);
        }
        s = end ? end + 1 : s + len;
    }
}

static void rtcfg_free(rtcfg_t *c)
{
    pc_strv_free(c->middlewares, c->nmiddlewares);
    pc_strv_free(c->entrypoints, c->nentrypoints);
}

/* A router annotation Traefik decodes (its RouterIng): any other refuses the Ingress, as
 * Traefik's label decoder fails on an unknown field. name: after "router.". */
static int router_key_known(const char *name)
{
    static const char *const keys[] = {"middlewares",
                                       "entrypoints",
                                       "priority",
                                       "tls",
                                       "tls.options",
                                       "tls.certresolver",
                                       "rulesyntax",
                                       "pathmatcher",
                                       "observability.accesslogs",
                                       "observability.metrics",
                                       "observability.tracing",
                                       "observability.traceverbosity"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!strcasecmp(name, keys[i]))
            return 1;
    /* tls.domains.<n>.main and tls.domains.<n>.sans */
    size_t n = 0;
    if (strncasecmp(name, "tls.domains.", 12))
        return 0;
    name += 12;
    while (isdigit((unsigned char)name[n]))
        n++;
    return n && (!strcasecmp(name + n, ".main") || !strcasecmp(name + n, ".sans"));
}

static int rtcfg_parse(const json_t *ann, rtcfg_t *c, char *err, size_t errlen)
{
    char b1[32], b2[32];
    const char *v, *key;
    const json_t *x;
    memset(c, 0, sizeof(*c));
    const size_t pl = sizeof(ROUTER_ANN) - 1, tl = pl - sizeof("router.") + 1;
    if (json_is_object(ann))
        json_object_foreach((json_t *)ann, key, x) if (!strncmp(key, ROUTER_ANN, tl) &&
                                                       !strncasecmp(key + tl, "router.", 7) &&
                                                       !router_key_known(key + pl))
        {
            snprintf(err, errlen, "annotation %s: unknown key (Traefik refuses the Ingress)", key);
            return -EINVAL;
        }
    if ((v = pc_annotation(ann, ROUTER_ANN "middlewares", b1)))
        split_list(v, &c->middlewares, &c->nmiddlewares);
    if ((v = pc_annotation(ann, ROUTER_ANN "entrypoints", b1)))
        split_list(v, &c->entrypoints, &c->nentrypoints);
    if ((v = pc_annotation(ann, ROUTER_ANN "priority", b1))) {
        char *end;
        c->priority = strtoll(v, &end, 10);
        if (!*v || *end || c->priority < INT_MIN || c->priority > INT_MAX) {
            snprintf(err, errlen, "annotation " ROUTER_ANN "priority: %s is not an integer", v);
            return -EINVAL;
        }
    }
    if ((v = pc_annotation(ann, ROUTER_ANN "tls", b2)) && (c->tls = pc_parse_bool(v)) < 0) {
        snprintf(err, errlen, "annotation " ROUTER_ANN "tls: %s is not a boolean", v);
        return -EINVAL;
    }
    c->tls_options = json_string_value(pc_annotation_get(ann, ROUTER_ANN "tls.options"));
    c->cert_resolver = json_string_value(pc_annotation_get(ann, ROUTER_ANN "tls.certresolver"));
    /* Setting TLS options or a resolver makes the router a TLS router (Traefik labels). */
    c->tls = c->tls > 0 || c->tls_options || c->cert_resolver;
    static const char *const obs[] = {ROUTER_ANN "observability.accesslogs",
                                      ROUTER_ANN "observability.metrics"};
    int *obs_off[] = {&c->no_access_log, &c->no_metrics};
    for (size_t i = 0; i < 2; i++) {
        int on = (v = pc_annotation(ann, obs[i], b2)) ? pc_parse_bool(v) : 1;
        if (on < 0) {
            snprintf(err, errlen, "annotation %s: %s is not a boolean", obs[i], v);
            return -EINVAL;
        }
        *obs_off[i] = !on;
    }
    c->rule_syntax = json_string_value(pc_annotation_get(ann, ROUTER_ANN "rulesyntax"));
    if (c->rule_syntax && strcmp(c->rule_syntax, "v2") && strcmp(c->rule_syntax, "v3")) {
        snprintf(err, errlen, "annotation " ROUTER_ANN "rulesyntax: %s is not v2 or v3",
                 c->rule_syntax);
        return -EINVAL;
    }
    c->pathmatcher = json_string_value(pc_annotation_get(ann, ROUTER_ANN "pathmatcher"));
    if (c->pathmatcher && strcmp(c->pathmatcher, "Path") && strcmp(c->pathmatcher, "PathPrefix") &&
        strcmp(c->pathmatcher, "PathRegexp")) {
        snprintf(err, errlen,
                 "annotation " ROUTER_ANN "pathmatcher: %s is not supported (Path, "
                 "PathPrefix, PathRegexp)",
                 c->pathmatcher);
        return -EINVAL;
    }
    return 0;
}

/* Kubernetes host names: lowercase RFC 1123 labels, optionally "*." first. */
static int host_valid(const char *h)
{
    if (h[0] == '*' && h[1] == '.')
        h += 2;
    if (!*h || strlen(h) > PROXY_RULE_MAX_HOST)
        return 0;
    for (; *h; h++)
        if (!islower((unsigned char)*h) && !isdigit((unsigned char)*h) && *h != '-' && *h != '.')
            return 0;
    return 1;
}

/* Host(`h`), or for *.domain the HostRegexp Traefik v3 writes. */
static char *host_rule(const char *host)
{
    if (host[0] != '*' || host[1] != '.')
        return pc_strf("Host(`%s`)", host);
    size_t n = strlen(host);
    char *dom = hc_malloc(2 * n + 1), *d = dom;
    for (const char *s = host + 1; *s; s++) {
        if (*s == '.')
            *d++ = '\\';
        *d++ = *s;
    }
    *d = '\0';
    char *r = pc_strf("HostRegexp(`^[a-zA-Z0-9-]+%s$`)", dom);
    hc_free(dom);
    return r;
}

/* Rule text and matcher of one path of a rule; -EINVAL with err. */
static int path_rule(const json_t *pa, const char *host, const rtcfg_t *c, pending_t *p, char *err,
                     size_t errlen)
{
    const char *path = pc_str(pa, "path"), *type = pc_str(pa, "pathType");
    const char *matcher = c->pathmatcher ? c->pathmatcher : "PathPrefix";
    proxy_rule_path_t kind = PROXY_RULE_PATH_PREFIX_CHAR;
    if (!type || !strcmp(type, "ImplementationSpecific")) {
        kind = !strcmp(matcher, "Path") ? PROXY_RULE_PATH_EXACT : PROXY_RULE_PATH_PREFIX_CHAR;
    } else if (!strcmp(type, "Exact")) {
        matcher = "Path";
        kind = PROXY_RULE_PATH_EXACT;
    } else if (!strcmp(type, "Prefix")) {
        matcher = "PathPrefix";
        kind = PROXY_RULE_PATH_PREFIX_ELEM;
    } else {
        snprintf(err, errlen, "pathType %s is not Exact, Prefix or ImplementationSpecific", type);
        return -EINVAL;
    }
    int regexp = !strcmp(matcher, "PathRegexp");
    if (path && *path && path[0] != '/' && !regexp) {
        snprintf(err, errlen, "path %s does not start with /", path);
        return -EINVAL;
    }
    int has_path = path && *path;
    proxy_rule_t *pm = NULL;
    /* v2's matchers read gorilla/mux templates ("/api/{v}"), as Traefik builds the rule
     * text and parses it in the router's syntax */
    int v2_template =
        has_path && !regexp && c->rule_syntax && !strcmp(c->rule_syntax, "v2") && strchr(path, '{');
    if (has_path && (regexp || v2_template)) { /* the parser compiles it */
        char *text = pc_strf("%s(`%s`)", matcher, path);
        int rc = proxy_rule_parse_syntax(text, regexp ? "v3" : "v2", &pm, err, errlen);
        hc_free(text);
        if (rc < 0)
            return rc;
    } else if (has_path) {
        pm = proxy_rule_new_path(kind, path);
    }
    char *hr = host ? host_rule(host) : NULL;
    if (hr && has_path)
        p->rule = pc_strf("%s && %s(`%s`)", hr, matcher, path);
    else if (has_path)
        p->rule = pc_strf("%s(`%s`)", matcher, path);
    else
        p->rule = hr ? hc_strdup(hr) : hc_strdup("");
    hc_free(hr);
    p->exact = kind == PROXY_RULE_PATH_EXACT;
    if (!host && !has_path) {
        snprintf(err, errlen, "empty rule: the path has neither host nor path");
        return -EINVAL;
    }
    p->match = proxy_rule_new_and(host ? proxy_rule_new_host(host) : NULL, pm);
    return 0;
}

/* Copies the annotations' settings into a new router. */
static void router_apply(proxy_router_t *r, const rtcfg_t *c)
{
    for (size_t i = 0; i < c->nmiddlewares; i++) {
        char *q = pc_qualify(c->middlewares[i], "kubernetes");
        pc_strv_add(&r->middleware_names, &r->nmiddlewares, q);
        hc_free(q);
    }
    for (size_t i = 0; i < c->nentrypoints; i++)
        pc_strv_add(&r->entrypoints, &r->nentrypoints, c->entrypoints[i]);
    r->tls = c->tls;
    r->rule_syntax = c->rule_syntax ? hc_strdup(c->rule_syntax) : NULL;
    r->no_access_log = c->no_access_log;
    r->no_metrics = c->no_metrics;
    if (c->tls)
        r->tls_options = c->tls_options && strcmp(c->tls_options, "default")
                             ? pc_qualify(c->tls_options, "kubernetes")
                             : hc_strdup("default");
    if (c->cert_resolver)
        r->cert_resolver = hc_strdup(c->cert_resolver);
}

/* Adds a router made from an Ingress; a TLS problem goes on it. Takes ownership of
 * name, rule, match and service. */
static void router_make(pc_kstate_t *k, const pc_kobj_t *ing, const rtcfg_t *c, pending_t *p,
                        const char *tls_err, long long priority)
{
    proxy_router_t *r = pc_router_add(k->b, pc_strf("%s@kubernetes", p->key),
                                      PROXY_PROVIDER_KUBERNETES, ing->source);
    r->rule = p->rule;
    r->match = p->match;
    r->service_name = p->service;
    p->rule = p->service = NULL;
    p->match = NULL;
    router_apply(r, c);
    pc_router_order(r, priority, priority == INT_MIN ? -1 : p->exact);
    if (tls_err && *tls_err)
        pc_router_fail(r, PROXY_STATUS_WARNING, "%s", tls_err);
}

static void pending_clear(pending_t *p)
{
    hc_free(p->key);
    hc_free(p->rule);
    proxy_rule_free(p->match);
    hc_free(p->service);
}

/* spec.tls: each secretName becomes a certificate; the last problem is returned in err
 * for the Ingress's routers (served with the default certificate, status warning). */
static void ingress_tls(pc_kstate_t *k, const pc_kobj_t *ing, const json_t *spec, char *err,
                        size_t errlen)
{
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(spec, "tls"), i, t)
    {
        const char *secret = pc_str(t, "secretName");
        char e[PC_ERR_MAX - 8];
        if (!secret || !*secret)
            continue; /* Traefik: no secret name, nothing to load */
        if (pc_k8s_secret(k, ing->ns, secret, json_object_get(t, "hosts"), 1, e, sizeof(e)) < 0) {
            /* cert-manager's ingress-shim issues it from this very Ingress: say so */
            const json_t *ann =
                json_object_get(json_object_get(ing->obj, "metadata"), "annotations");
            char buf[32];
            const char *kind = "cluster-issuer",
                       *issuer = pc_annotation(ann, "cert-manager.io/cluster-issuer", buf);
            if (!issuer)
                kind = "issuer", issuer = pc_annotation(ann, "cert-manager.io/issuer", buf);
            if (issuer && strstr(e, "does not exist"))
                snprintf(e + strlen(e), sizeof(e) - strlen(e),
                         " yet: cert-manager.io/%s %.64s issues it", kind, issuer);
            snprintf(err, errlen, "TLS: %s", e);
            pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name, "TLS: %s", e);
        }
    }
}

static void default_backend(pc_kstate_t *k, const pc_kobj_t *ing, const json_t *backend,
                            const rtcfg_t *c, const char *tls_err)
{
    char err[PC_ERR_MAX];
    if (k->have_default_backend) {
        pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name,
                 "the default backend already exists");
        return;
    }
    char *service;
    /* a backend that cannot be served is reported, and no router made, as Traefik skips it */
    if (pc_k8s_backend(k, ing, backend, "default-backend", &service, err, sizeof(err)) < 0) {
        pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name, "defaultBackend: %s", err);
        hc_free(service);
        return;
    }
    pending_t p = {.key = hc_strdup("default-router"),
                   .rule = hc_strdup("PathPrefix(`/`)"),
                   .service = service};
    p.match = proxy_rule_new_path(PROXY_RULE_PATH_PREFIX_CHAR, "/");
    k->have_default_backend = 1;
    router_make(k, ing, c, &p, tls_err, INT_MIN);
    pending_clear(&p);
}

/* Routers of spec.rules[].http.paths[] into *out (count *n). */
static void rule_paths(pc_kstate_t *k, const pc_kobj_t *ing, const rtcfg_t *c, pending_t **out,
                       size_t *n)
{
    size_t i, j;
    const json_t *rule, *pa;
    json_array_foreach(json_object_get(json_object_get(ing->obj, "spec"), "rules"), i, rule)
    {
        const char *host = pc_str(rule, "host");
        if (host && !*host) /* "" is no host, for Traefik and the API server alike */
            host = NULL;
        const json_t *http = json_object_get(rule, "http"), *paths = json_object_get(http, "paths");
        if (host && !host_valid(host)) {
            pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name,
                     "rules[%zu].host %s is not a valid host name", i, host);
            continue;
        }
        if (http && (!json_is_array(paths) || !json_array_size(paths))) {
            /* the API server's validation: paths is required, a non-empty list */
            pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name, "rules[%zu].http.paths: %s",
                     i, paths ? "expected a non-empty list of paths" : "required");
            continue;
        }
        json_array_foreach(paths, j, pa)
        {
            char err[PC_ERR_MAX];
            pending_t p = {0};
            if (path_rule(pa, host, c, &p, err, sizeof(err)) < 0) {
                pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name,
                         "rules[%zu].http.paths[%zu]: %s", i, j, err);
                pending_clear(&p);
                continue;
            }
            char *raw = pc_strf("%s-%s-%s%s", ing->ns, ing->name, host ? host : "",
                                pc_str(pa, "path") ? pc_str(pa, "path") : "");
            p.key = proxy_config_normalize(raw);
            hc_free(raw);
            if (pc_k8s_backend(k, ing, json_object_get(pa, "backend"), NULL, &p.service, err,
                               sizeof(err)) < 0) { /* reported, the path skipped: Traefik's */
                pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name,
                         "rules[%zu].http.paths[%zu]: %s", i, j, err);
                pending_clear(&p);
                continue;
            }
            *out = hc_realloc(*out, (*n + 1) * sizeof(**out));
            (*out)[(*n)++] = p;
        }
    }
}

/* Keys used by more than one path of the Ingress get "-" + the rule's hash (20 hex). */
static void settle_collisions(pending_t *v, size_t n)
{
    int *dup = hc_calloc(n ? n : 1, sizeof(int));
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (!strcmp(v[i].key, v[j].key))
                dup[i] = dup[j] = 1;
    for (size_t i = 0; i < n; i++) {
        if (!dup[i])
            continue;
        char hex[21];
        pc_rule_hash(v[i].rule, hex);
        char *key = pc_strf("%s-%s", v[i].key, hex);
        hc_free(v[i].key);
        v[i].key = key;
    }
    hc_free(dup);
}

/* What the API server would refuse of an IngressSpec (networking.k8s.io/v1): rules that
 * are not a list, nothing to serve (-1: the object is skipped, reported); a field it
 * does not know is reported and the rest served (kubectl's --validate=warn). An Ingress
 * with only `tls` is taken for its certificates (as `hearth up` writes one), though the
 * API server would want rules or a defaultBackend too. */
static int spec_check(pc_kstate_t *k, const pc_kobj_t *ing, const json_t *spec)
{
    static const char *const known[] = {"ingressClassName", "defaultBackend", "tls", "rules"};
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)spec, key, v)
    {
        size_t i = 0;
        while (i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]))
            i++;
        if (i == sizeof(known) / sizeof(known[0]))
            pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name,
                     "unknown field spec.%s (ignored)", key);
    }
    const json_t *rules = json_object_get(spec, "rules");
    const char *why = rules && !json_is_null(rules) && !json_is_array(rules)
                          ? "spec.rules: expected a list"
                      : !json_array_size(rules) && !hc_manifest_member(spec, "defaultBackend") &&
                              !hc_manifest_member(spec, "tls")
                          ? "spec: either defaultBackend or rules must be specified"
                          : NULL;
    if (why)
        pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name, "%s", why);
    return why ? -1 : 0;
}

void pc_ingress_load(pc_kstate_t *k, const pc_kobj_t *ing)
{
    const json_t *spec = json_object_get(ing->obj, "spec");
    const json_t *ann = json_object_get(json_object_get(ing->obj, "metadata"), "annotations");
    char err[PC_ERR_MAX], tls_err[PC_ERR_MAX] = "";
    rtcfg_t c;
    if (!ingress_served(k, ing))
        return;
    if (rtcfg_parse(ann, &c, err, sizeof(err)) < 0) {
        pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name, "%s", err);
        goto out;
    }
    if (spec_check(k, ing, spec) < 0)
        goto out;
    ingress_tls(k, ing, spec, tls_err, sizeof(tls_err));
    const json_t *backend = hc_manifest_member(spec, "defaultBackend");
    if (backend && json_array_size(json_object_get(spec, "rules")) == 0)
        default_backend(k, ing, backend, &c, tls_err);
    else if (backend)
        pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name,
                 "defaultBackend is ignored: Traefik uses it only for an Ingress without rules");
    pending_t *v = NULL;
    size_t n = 0;
    rule_paths(k, ing, &c, &v, &n);
    settle_collisions(v, n);
    for (size_t i = 0; i < n; i++) {
        size_t later = i + 1;
        while (later < n && strcmp(v[later].key, v[i].key))
            later++;
        if (later < n) { /* the same host and path again: Traefik's map keeps the last */
            pc_error(k->b, ing->source, "Ingress", ing->ns, ing->name,
                     "router %s defined more than once in this Ingress (same host and path): "
                     "the last one is served",
                     v[i].key);
            continue;
        }
        router_make(k, ing, &c, &v[i], tls_err, c.priority);
    }
    for (size_t i = 0; i < n; i++)
        pending_clear(&v[i]);
    hc_free(v);
out:
    rtcfg_free(&c);
}
