/* The API's JSON documents (proxy_api.h) in Traefik's shapes (traefik/traefik
 * pkg/api/handler_http.go, handler_overview.go, handler_entrypoint.go), rendered from
 * one generation. Pure: proxy_api.c serves them. */
#include "proxy/proxy_api.h"

#include "core/hc_alloc.h"
#include "proxy/mw.h" /* durations */
#include "proxy/proxy_lb.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* A name as the configuration of its provider wrote it: "svc@kubernetes" is "svc" in
 * an object of provider kubernetes, and stays qualified otherwise (Traefik's API shows
 * the names as configured). */
static json_t *name_as_configured(const char *qualified, proxy_provider_t owner)
{
    if (owner == PROXY_PROVIDER_INTERNAL) /* Traefik's internal provider writes noop@internal */
        return json_string(qualified);
    return json_stringn(qualified, proxy_config_local_len(qualified, owner));
}

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static void set_status(json_t *o, proxy_status_t st, char *const *errors, size_t nerrors)
{
    json_object_set_new(o, "status", json_string(proxy_status_name(st)));
    if (nerrors)
        json_object_set_new(o, "error", strv_json(errors, nerrors));
}

/* The entry points a router names (Traefik's "entryPoints"), or is served on: those of
 * them that exist (Traefik's "using"). */
static json_t *router_eps(const proxy_router_t *r, int existing)
{
    if (!r->nentrypoints)
        return json_pack("[s,s]", PROXY_EP_WEB, PROXY_EP_WEBSECURE);
    json_t *a = json_array();
    int internal = r->service && r->service->provider == PROXY_PROVIDER_INTERNAL;
    for (size_t i = 0; i < r->nentrypoints; i++) {
        const char *ep = r->entrypoints[i];
        if (!existing || proxy_ep_known(ep, internal))
            json_array_append_new(a, json_string(ep));
    }
    return a;
}

json_t *proxy_api_router_json(const proxy_api_t *api, const proxy_router_t *r)
{
    (void)api;
    json_t *o = json_object();
    json_object_set_new(o, "entryPoints", router_eps(r, 0));
    if (r->nmiddlewares)
        json_object_set_new(o, "middlewares", strv_json(r->middleware_names, r->nmiddlewares));
    if (r->service_name) /* none: the router is disabled, its error says why */
        json_object_set_new(o, "service", name_as_configured(r->service_name, r->provider));
    json_object_set_new(o, "rule", json_string(r->rule ? r->rule : ""));
    if (r->rule_syntax)
        json_object_set_new(o, "ruleSyntax", json_string(r->rule_syntax));
    if (r->priority_set && r->priority) /* Traefik's omitempty: unset, the rule's length rules */
        json_object_set_new(o, "priority", json_integer(r->priority));
    if (r->tls) {
        json_t *tls = json_object();
        /* as the provider wrote it; none is "default", as Traefik's API fills it in */
        json_object_set_new(tls, "options",
                            r->tls_options ? name_as_configured(r->tls_options, r->provider)
                                           : json_string("default"));
        if (r->cert_resolver)
            json_object_set_new(tls, "certResolver", json_string(r->cert_resolver));
        json_object_set_new(o, "tls", tls);
    }
    set_status(o, r->status, r->errors, r->nerrors);
    json_t *using = router_eps(r, 1);
    if (json_array_size(using)) /* omitempty */
        json_object_set_new(o, "using", using);
    else
        json_decref(using);
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "provider", json_string(proxy_provider_name(r->provider)));
    return o;
}

/* The routers naming the service or middleware in slot s of g's users (they are in name
 * order): routers only, as Traefik's PopulateUsedBy (a weighted parent is not listed). */
static void set_used_by(json_t *o, const proxy_gen_t *g, size_t s)
{
    if (!g || g->users_at[s] == g->users_at[s + 1]) /* omitempty */
        return;
    json_t *a = json_array();
    for (uint32_t i = g->users_at[s]; i < g->users_at[s + 1]; i++)
        json_array_append_new(a, json_string(g->cfg->routers[g->users[i]].name));
    json_object_set_new(o, "usedBy", a);
}

/* A sticky section as Traefik shows it: the cookie name it uses written back (its
 * cookie.GetName: the configured one sanitized, else the generated one). */
static json_t *sticky_json(const proxy_sticky_t *st, const char *service)
{
    json_t *c = json_object();
    char name[PROXY_LB_COOKIE_NAME_MAX];
    proxy_lb_cookie_name(st, service, name);
    json_object_set_new(c, "name", json_string(name));
    if (st->secure)
        json_object_set_new(c, "secure", json_true());
    if (st->httponly)
        json_object_set_new(c, "httpOnly", json_true());
    if (st->samesite)
        json_object_set_new(c, "sameSite", json_string(st->samesite));
    if (st->maxage)
        json_object_set_new(c, "maxAge", json_integer(st->maxage));
    json_object_set_new(c, "path", json_string(st->path ? st->path : "/"));
    if (st->domain)
        json_object_set_new(c, "domain", json_string(st->domain));
    return json_pack("{s:o}", "cookie", c);
}

static json_t *loadbalancer_json(const proxy_api_t *api, const proxy_service_t *s,
                                 json_t **server_status)
{
    json_t *lb = json_object(), *servers = json_array();
    *server_status = json_object();
    for (size_t i = 0; i < s->nservers; i++) {
        json_t *srv = json_pack("{s:s}", "url", s->servers[i]);
        if (s->weights && s->weights[i] != PROXY_WEIGHT_UNSET) /* Traefik's omitempty *int */
            json_object_set_new(srv, "weight", json_integer(s->weights[i]));
        json_array_append_new(servers, srv);
        int up = !api->server_up || api->server_up(api->server_up_ud, s, s->servers[i]);
        json_object_set_new(*server_status, s->servers[i], json_string(up ? "UP" : "DOWN"));
    }
    json_object_set_new(lb, "servers", servers);
    if (s->sticky.enabled)
        json_object_set_new(lb, "sticky", sticky_json(&s->sticky, s->name));
    static const char *const strategies[] = {"wrr", "p2c", "hrw", "leasttime"}; /* by value */
    json_object_set_new(lb, "strategy", json_string(strategies[s->strategy]));
    json_object_set_new(lb, "passHostHeader", json_boolean(s->pass_host_header));
    if (s->health_check) { /* with the defaults Traefik's SetDefaults fills in */
        json_t *hc = json_deep_copy(s->health_check);
        static const char *const keys[] = {"mode", "interval", "timeout"};
        static const char *const values[] = {"http", "30s", "5s"};
        for (size_t i = 0; json_is_object(hc) && i < 3; i++)
            if (!json_object_get(hc, keys[i]))
                json_object_set_new(hc, keys[i], json_string(values[i]));
        if (json_is_object(hc) && !json_object_get(hc, "followRedirects"))
            json_object_set_new(hc, "followRedirects", json_true());
        json_object_set_new(lb, "healthCheck", hc);
    }
    if (s->passive_max) { /* Traefik's Duration marshals as Go writes it */
        char window[32];
        proxy_mw_go_duration_format(s->passive_window_ms * 1000000, window);
        json_object_set_new(lb, "passiveHealthCheck",
                            json_pack("{s:s, s:i}", "failureWindow", window, "maxFailedAttempts",
                                      (json_int_t)s->passive_max));
    }
    if (s->servers_transport)
        json_object_set_new(lb, "serversTransport", json_string(s->servers_transport));
    return lb;
}

json_t *proxy_api_service_json(const proxy_api_t *api, const proxy_service_t *s)
{
    json_t *o = json_object();
    if (s->type == PROXY_SERVICE_FAILOVER) {
        json_object_set_new(
            o, "failover",
            json_pack("{s:o, s:o}", "service",
                      name_as_configured(s->weighted[0].service_name, s->provider), "fallback",
                      name_as_configured(s->weighted[1].service_name, s->provider)));
    } else if (s->type == PROXY_SERVICE_MIRRORING) {
        json_t *m = json_object(), *list = json_array();
        if (s->nweighted)
            json_object_set_new(m, "service",
                                name_as_configured(s->weighted[0].service_name, s->provider));
        json_object_set_new(m, "mirrorBody", json_boolean(s->mirror_body));
        json_object_set_new(m, "maxBodySize", json_integer(s->mirror_max_body));
        for (size_t i = 1; i < s->nweighted; i++)
            json_array_append_new(
                list, json_pack("{s:o, s:I}", "name",
                                name_as_configured(s->weighted[i].service_name, s->provider),
                                "percent", (json_int_t)s->weighted[i].weight));
        json_object_set_new(m, "mirrors", list);
        json_object_set_new(o, "mirroring", m);
    } else if (s->type == PROXY_SERVICE_WEIGHTED || s->type == PROXY_SERVICE_HRW) {
        json_t *list = json_array();
        for (size_t i = 0; i < s->nweighted; i++)
            json_array_append_new(list, json_pack("{s:o, s:I}", "name",
                                                  name_as_configured(s->weighted[i].service_name,
                                                                     s->provider),
                                                  "weight", (json_int_t)s->weighted[i].weight));
        json_t *w = json_pack("{s:o}", "services", list);
        if (s->sticky.enabled)
            json_object_set_new(w, "sticky", sticky_json(&s->sticky, s->name));
        json_object_set_new(o, s->type == PROXY_SERVICE_HRW ? "highestRandomWeight" : "weighted",
                            w);
    } else if (s->provider != PROXY_PROVIDER_INTERNAL) { /* Traefik shows no servers */
        json_t *status;
        json_object_set_new(o, "loadBalancer", loadbalancer_json(api, s, &status));
        json_object_set_new(o, "serverStatus", status);
    }
    set_status(o, s->status, s->errors, s->nerrors);
    if (api->gen)
        set_used_by(o, api->gen, (size_t)(s - api->gen->cfg->services));

    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "provider", json_string(proxy_provider_name(s->provider)));
    static const char *const types[] = {[PROXY_SERVICE_LOADBALANCER] = "loadbalancer",
                                        [PROXY_SERVICE_WEIGHTED] = "weighted",
                                        [PROXY_SERVICE_FAILOVER] = "failover",
                                        [PROXY_SERVICE_MIRRORING] = "mirroring",
                                        [PROXY_SERVICE_HRW] = "highestrandomweight"};
    if (s->provider != PROXY_PROVIDER_INTERNAL) /* an empty Service in Traefik: no type */
        json_object_set_new(o, "type", json_string(types[s->type]));
    return o;
}

/* A middleware's status: disabled when its spec did not parse (with the parse error). */
static void middleware_status(const proxy_api_t *api, const proxy_middleware_t *m, json_t *o)
{
    const proxy_gen_t *g = api->gen;
    if (!g || g->mws[m - g->cfg->middlewares].mw.type) {
        set_status(o, PROXY_STATUS_ENABLED, NULL, 0);
        return;
    }
    json_t *errs = json_array();
    for (size_t i = 0; i < g->nerrors; i++)
        if (!strcmp(g->errors[i].kind, "middleware") && !strcmp(g->errors[i].name, m->name))
            json_array_append_new(errs, json_string(g->errors[i].message));
    json_object_set_new(o, "status", json_string("disabled"));
    json_object_set_new(o, "error", errs);
}

json_t *proxy_api_middleware_json(const proxy_api_t *api, const proxy_middleware_t *m)
{
    json_t *o = json_object();
    json_object_set_new(o, m->type, m->spec ? json_deep_copy(m->spec) : json_object());
    middleware_status(api, m, o);
    if (api->gen)
        set_used_by(o, api->gen,
                    api->gen->cfg->nservices + (size_t)(m - api->gen->cfg->middlewares));
    json_object_set_new(o, "name", json_string(m->name));
    json_object_set_new(o, "provider", json_string(proxy_provider_name(m->provider)));
    char type[64];
    size_t i = 0;
    for (; m->type[i] && i < sizeof(type) - 1; i++)
        type[i] = (char)tolower((unsigned char)m->type[i]);
    type[i] = '\0';
    json_object_set_new(o, "type", json_string(type));
    return o;
}

json_t *proxy_api_transport_json(const proxy_api_t *api, const proxy_transport_t *t)
{
    json_t *o = t->spec ? json_deep_copy(t->spec) : json_object();
    const char *k, *kk;
    json_t *list, *c, *v;
    size_t i;
    json_object_foreach(o, k, list) /* keys in any case, as the runtime reads them */
    {
        if (strcasecmp(k, "certificates"))
            continue;
        json_array_foreach(list, i, c)
        {
            json_object_foreach(c, kk, v)
            {
                const char *key = json_string_value(v);
                if (!strcasecmp(kk, "keyFile") && key && strstr(key, "-----BEGIN"))
                    json_object_set_new(c, kk, json_string("(redacted)")); /* PEM inline */
            }
        }
    }
    json_t *errs = json_array();
    for (size_t e = 0; api->gen && e < api->gen->nerrors; e++)
        if (!strcmp(api->gen->errors[e].kind, "serversTransport") &&
            !strcmp(api->gen->errors[e].name, t->name))
            json_array_append_new(errs, json_string(api->gen->errors[e].message));
    json_object_set_new(o, "status", json_string(t->ready || !api->gen ? "enabled" : "disabled"));
    if (json_array_size(errs))
        json_object_set(o, "error", errs);
    json_decref(errs);
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "provider", json_string(proxy_provider_name(t->provider)));
    return o;
}

/* ---- lists ---- */

/* Traefik's searchIn: a substring, both sides lower-cased. */
static int str_has(const char *s, const char *needle)
{
    return s && strcasestr(s, needle) != NULL;
}

/* Traefik's serviceName filter: a router's service written with its provider must be
 * asked for whole; one written without matches the asked name before its '@'. */
static int service_is(const char *svc, const char *want)
{
    if (!svc)
        return 0;
    if (strchr(svc, '@'))
        return !strcmp(svc, want);
    size_t n = strcspn(want, "@");
    return strlen(svc) == n && !strncmp(svc, want, n);
}

static int keep(const json_t *o, const proxy_api_query_t *q)
{
    const char *name = json_string_value(json_object_get(o, "name"));
    if (q->status && *q->status &&
        strcasecmp(json_string_value(json_object_get(o, "status")), q->status) != 0)
        return 0;
    /* a router's name and rule; any other object's name */
    if (q->search && *q->search && !str_has(name, q->search) &&
        !str_has(json_string_value(json_object_get(o, "rule")), q->search))
        return 0;
    if (q->service_name && *q->service_name &&
        !service_is(json_string_value(json_object_get(o, "service")), q->service_name))
        return 0;
    if (q->middleware_name && *q->middleware_name) {
        size_t i;
        json_t *v;
        int found = 0;
        json_array_foreach(json_object_get(o, "middlewares"), i, v)
        {
            found |= !strcmp(json_string_value(v), q->middleware_name);
        }
        return found;
    }
    return 1;
}

/* Every object of the kind at path, in name order (the config's arrays are sorted). */
static json_t *all_of(const proxy_api_t *api, const char *path)
{
    const proxy_config_t *cfg = api->gen ? api->gen->cfg : NULL;
    json_t *a = json_array();
    if (!strcmp(path, PROXY_API_ROUTERS)) {
        for (size_t i = 0; cfg && i < cfg->nrouters; i++)
            json_array_append_new(a, proxy_api_router_json(api, &cfg->routers[i]));
    } else if (!strcmp(path, PROXY_API_SERVICES)) {
        for (size_t i = 0; cfg && i < cfg->nservices; i++)
            json_array_append_new(a, proxy_api_service_json(api, &cfg->services[i]));
    } else if (!strcmp(path, PROXY_API_MIDDLEWARES)) {
        for (size_t i = 0; cfg && i < cfg->nmiddlewares; i++)
            json_array_append_new(a, proxy_api_middleware_json(api, &cfg->middlewares[i]));
    } else if (!strcmp(path, PROXY_API_TRANSPORTS)) {
        for (size_t i = 0; cfg && i < cfg->ntransports; i++)
            json_array_append_new(a, proxy_api_transport_json(api, &cfg->transports[i]));
    } else {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *proxy_api_list(const proxy_api_t *api, const char *path, const proxy_api_query_t *q,
                       long *next_page, int *status)
{
    json_t *all = all_of(api, path);
    if (!all) {
        *status = 404;
        return NULL;
    }
    json_t *kept = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v)
    {
        if (keep(v, q))
            json_array_append(kept, v);
    }
    json_decref(all);
    /* Traefik pkg/api/handler.go pagination(): a start past the end is a 400. */
    long page = q->page > 0 ? q->page : 1, per = q->per_page > 0 ? q->per_page : PROXY_API_PER_PAGE;
    size_t n = json_array_size(kept);
    /* in size_t, a product that would overflow is past the end anyway */
    size_t skip =
        (size_t)(page - 1) > SIZE_MAX / (size_t)per ? SIZE_MAX : (size_t)(page - 1) * (size_t)per;
    if (page > 1 && skip >= n) {
        json_decref(kept);
        *status = 400;
        return NULL;
    }
    size_t start = skip, end = n - start > (size_t)per ? start + (size_t)per : n;
    json_t *out = json_array();
    for (size_t k = start; k < end; k++)
        json_array_append(out, json_array_get(kept, k));
    json_decref(kept);
    *next_page = end < n ? page + 1 : 1;
    *status = 200;
    return out;
}

/* ---- the other documents ---- */

static json_t *section_counts(const proxy_api_t *api, const char *path)
{
    json_t *all = all_of(api, path);
    long total = (long)json_array_size(all), warnings = 0, errors = 0;
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v)
    {
        const char *st = json_string_value(json_object_get(v, "status"));
        warnings += st && !strcmp(st, "warning");
        errors += st && !strcmp(st, "disabled");
    }
    json_decref(all);
    return json_pack("{s:i, s:i, s:i}", "total", (int)total, "warnings", (int)warnings, "errors",
                     (int)errors);
}

static json_t *zero_counts(void)
{
    return json_pack("{s:i, s:i, s:i}", "total", 0, "warnings", 0, "errors", 0);
}

json_t *proxy_api_overview(const proxy_api_t *api)
{
    json_t *providers = json_array(); /* the configured ones (Traefik's getProviders) */
    if (api->kubernetes) {
        json_array_append_new(providers, json_string("KubernetesIngress"));
        json_array_append_new(providers, json_string("KubernetesCRD"));
    }
    if (api->file)
        json_array_append_new(providers, json_string("File"));
    return json_pack("{s:{s:o, s:o, s:o}, s:{s:o, s:o, s:o}, s:{s:o, s:o}, s:{s:s, s:s, s:b}, s:o}",
                     "http", "routers", section_counts(api, PROXY_API_ROUTERS), "services",
                     section_counts(api, PROXY_API_SERVICES), "middlewares",
                     section_counts(api, PROXY_API_MIDDLEWARES), "tcp", "routers", zero_counts(),
                     "services", zero_counts(), "middlewares", zero_counts(), "udp", "routers",
                     zero_counts(), "services", zero_counts(), "features", "tracing", "", "metrics",
                     "Prometheus", "accessLog", api->access_log, "providers", providers);
}

json_t *proxy_api_entrypoints(const proxy_api_t *api)
{
    static const char *const names[3] = {PROXY_EP_WEB, PROXY_EP_WEBSECURE, PROXY_EP_TRAEFIK};
    json_t *a = json_array();
    for (int i = 0; i < 3; i++) {
        if (!api->addr[i] || !*api->addr[i])
            continue;
        /* Traefik's defaults, as Go's Duration.String() writes them */
        json_t *ep =
            json_pack("{s:s, s:{s:{s:s, s:s, s:s}}, s:{}, s:{}, s:s}", "address", api->addr[i],
                      "transport", "respondingTimeouts", "readTimeout", "1m0s", "idleTimeout",
                      "3m0s", "writeTimeout", "0s", "forwardedHeaders", "http", "name", names[i]);
        if (i == 1)
            json_object_set_new(json_object_get(ep, "http"), "tls", json_object());
        if (i == 0 && api->web_redirect_to) /* priority: MaxInt - 1 */
            json_object_set_new(json_object_get(ep, "http"), "redirections",
                                json_pack("{s:{s:s, s:s, s:b, s:I}}", "entryPoint", "to",
                                          api->web_redirect_to, "scheme", "https", "permanent", 1,
                                          "priority", (json_int_t)(LLONG_MAX - 1)));
        json_array_append_new(a, ep);
    }
    return a;
}

json_t *proxy_api_version(const proxy_api_t *api)
{
    return json_pack("{s:s, s:s, s:s}", "Version", HEARTH_VERSION, "Codename", "hearth",
                     "startDate", api->start_date);
}

json_t *proxy_api_rawdata(const proxy_api_t *api)
{
    json_t *out = json_object();
    static const char *const kinds[4][2] = {{"routers", PROXY_API_ROUTERS},
                                            {"services", PROXY_API_SERVICES},
                                            {"middlewares", PROXY_API_MIDDLEWARES},
                                            {"serversTransports", PROXY_API_TRANSPORTS}};
    for (int k = 0; k < 4; k++) {
        json_t *map = json_object(), *all = all_of(api, kinds[k][1]);
        size_t i;
        json_t *v;
        json_array_foreach(all, i, v)
        {
            json_object_set(map, json_string_value(json_object_get(v, "name")), v);
        }
        json_decref(all);
        json_object_set_new(out, kinds[k][0], map);
    }
    return out;
}

json_t *proxy_api_errors(const proxy_api_t *api)
{
    json_t *a = json_array();
    for (size_t i = 0; api->gen && i < api->gen->nerrors; i++) {
        const proxy_config_error_t *e = &api->gen->errors[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "source", e->source,
                                           "kind", e->kind, "namespace", e->ns, "name", e->name,
                                           "message", e->message));
    }
    return a;
}
