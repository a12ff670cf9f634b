/* Building and freeing generations (proxy_runtime.h): manifest objects + --file +
 * `hearth up` locals -> proxy_config_build -> route tables, parsed middlewares with
 * chains expanded, and errors. TLS certificates and options: proxy_runtime_tls.c. */
#include "proxy/proxy_runtime.h"
#include "proxy/proxy_runtime_int.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_log.h"
#include "core/hc_yaml.h"
#include "proxy/mw_buffering.h"
#include "proxy/mw_chain.h"
#include "proxy/mw_circuitbreaker.h"
#include "proxy/mw_contenttype.h"
#include "proxy/mw_errors.h"
#include "proxy/mw_retry.h"
#include "proxy/proxy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- errors ---- */

void proxy_gen_error_add(proxy_gen_t *g, const char *source, const char *kind, const char *ns,
                         const char *name, const char *fmt, ...)
{
    g->errors = hc_realloc(g->errors, (g->nerrors + 1) * sizeof(*g->errors));
    va_list ap;
    va_start(ap, fmt);
    proxy_config_error_vset(&g->errors[g->nerrors++], source, kind, ns, name, fmt, ap);
    va_end(ap);
}

/* ---- inputs ---- */

/* The file-provider configuration routing `<name>.localhost` to each local service, for
 * clients on this machine only (a name only it resolves): the services listen on the
 * loopback address, and the proxy's API has no authentication, while the entry points
 * may listen on every address. */
static json_t *locals_config(const proxy_local_t *locals, size_t n)
{
    json_t *routers = json_object(), *services = json_object();
    for (size_t i = 0; i < n; i++) {
        char id[96], rule[160];
        snprintf(id, sizeof(id), "%s-localhost", locals[i].name);
        snprintf(rule, sizeof(rule), "Host(`%s.localhost`)", locals[i].name);
        json_object_set_new(routers, id,
                            json_pack("{s:s, s:s, s:[s]}", "rule", rule, "service", id,
                                      "middlewares", "hearth-localhost-only"));
        json_object_set_new(services, id,
                            json_pack("{s:{s:[{s:s}]}}", "loadBalancer", "servers", "url",
                                      locals[i].url));
    }
    json_t *only = json_pack("{s:{s:{s:[s,s]}}}", "hearth-localhost-only", "ipAllowList",
                             "sourceRange", "127.0.0.0/8", "::1/128");
    return json_pack("{s:{s:o, s:o, s:o}}", "http", "routers", routers, "services", services,
                     "middlewares", only);
}

/* Fills the object arrays of ci from the manifest snapshot; sources are "file:line"
 * strings appended to srcbuf-owned storage (freed by the caller). */
static char **manifest_objects(proxy_gen_t *g, hc_manifest_set_t *set, const json_t ***objs,
                               const char ***srcs, size_t *n)
{
    size_t count = set ? hc_manifest_set_count(set) : 0;
    *objs = hc_calloc(count ? count : 1, sizeof(**objs));
    *srcs = hc_calloc(count ? count : 1, sizeof(**srcs));
    char **owned = hc_calloc(count ? count : 1, sizeof(char *));
    for (size_t i = 0; i < count; i++) {
        const hc_manifest_obj_t *o = hc_manifest_set_at(set, i);
        char src[4200];
        snprintf(src, sizeof(src), "%s:%d", o->file, o->line);
        owned[i] = hc_strdup(src);
        (*objs)[i] = o->doc;
        (*srcs)[i] = owned[i];
    }
    *n = count;
    const hc_manifest_error_t *errs;
    size_t nerr = set ? hc_manifest_set_errors(set, &errs) : 0;
    for (size_t i = 0; i < nerr; i++) {
        char src[4200];
        snprintf(src, sizeof(src), "%s:%d", errs[i].file, errs[i].line);
        proxy_gen_error_add(g, src, "", "", "", "%s", errs[i].message);
    }
    return owned;
}

static int config_build(proxy_gen_t *g, const proxy_gen_input_t *in)
{
    const json_t **objs, *files[2];
    const char **srcs, *fsrcs[2];
    size_t nobjs, nfiles = 0;
    char **owned = manifest_objects(g, in->manifests, &objs, &srcs, &nobjs);
    if (in->file_error)
        proxy_gen_error_add(g, in->file_source, "", "", "", "%s", in->file_error);
    /* hearth up's routes first: an object defined twice keeps its first definition, so
     * a --file cannot replace the localhost-only middleware that guards them */
    json_t *locals = in->nlocals ? locals_config(in->locals, in->nlocals) : NULL;
    if (locals) {
        files[nfiles] = locals;
        fsrcs[nfiles++] = "hearth up";
    }
    if (in->file) {
        files[nfiles] = in->file;
        fsrcs[nfiles++] = in->file_source ? in->file_source : "file";
    }
    /* --ingress-class traefik (the default) also serves Ingresses without a class,
     * which proxy_config does when no class is configured. */
    const char *cls = in->ingress_class;
    /* ExternalName Services are served (Traefik's allowExternalNameServices: true): the
     * issue's manifests may name external backends, and no cluster boundary applies. */
    proxy_config_input_t ci = {.ingress_class = cls && strcmp(cls, "traefik") ? cls : NULL,
                               .allow_external_name = 1,
                               .internal_url = in->internal_url,
                               .web_redirect_to = in->web_redirect_to,
                               .web_redirect_port = in->web_redirect_port,
                               .objects = objs,
                               .sources = srcs,
                               .nobjects = nobjs,
                               .files = files,
                               .file_sources = fsrcs,
                               .nfiles = nfiles};
    int rc = proxy_config_build(&ci, &g->cfg);
    json_decref(locals);
    for (size_t i = 0; i < nobjs; i++)
        hc_free(owned[i]);
    hc_free(owned);
    hc_free(objs);
    hc_free(srcs);
    if (rc)
        return rc;
    for (size_t i = 0; i < g->cfg->nerrors; i++) {
        const proxy_config_error_t *e = &g->cfg->errors[i];
        proxy_gen_error_add(g, e->source, e->kind, e->ns, e->name, "%s", e->message);
    }
    return 0;
}

/* ---- middlewares ---- */

static void mws_parse(proxy_gen_t *g)
{
    const proxy_config_t *cfg = g->cfg;
    g->mws = hc_calloc(cfg->nmiddlewares ? cfg->nmiddlewares : 1, sizeof(*g->mws));
    for (size_t i = 0; i < cfg->nmiddlewares; i++) {
        const proxy_middleware_t *m = &cfg->middlewares[i];
        json_t *spec = json_pack("{s:O}", m->type, m->spec ? m->spec : json_null());
        char err[256];
        g->mws[i].def = m;
        int rc = proxy_mw_parse(spec, m->name, &g->mws[i].mw, err, sizeof(err));
        json_decref(spec);
        if (rc) {
            memset(&g->mws[i].mw, 0, sizeof(g->mws[i].mw));
            g->mws[i].error = hc_strdup(err);
            proxy_gen_error_add(g, m->source, "middleware", "", m->name, "%s", err);
        }
    }
}

static const proxy_gen_mw_t *mw_by_name(const proxy_gen_t *g, const char *name)
{
    const proxy_middleware_t *m = proxy_config_middleware(g->cfg, name);
    return m ? &g->mws[m - g->cfg->middlewares] : NULL;
}

/* Resolves a name written in a chain as Traefik's chain builder does: "x@p" as is,
 * else qualified with the chain's own provider ("x@file"; the Kubernetes CRD
 * translation already wrote "<ns>-<name>", so "<ns>-<name>@kubernetescrd"). */
static const proxy_gen_mw_t *chain_resolve(const proxy_gen_t *g, const proxy_gen_mw_t *chain,
                                           const char *name)
{
    char q[512];
    if (strchr(name, '@'))
        return mw_by_name(g, name);
    snprintf(q, sizeof(q), "%s@%s", name, proxy_provider_name(chain->def->provider));
    return mw_by_name(g, q);
}

/* Appends m (or, for a chain, what it names) to out. Returns 0 or -EINVAL with err. */
static int chain_expand(const proxy_gen_t *g, const proxy_gen_mw_t *m, unsigned depth,
                        const proxy_gen_mw_t **out, size_t *n, char *err, size_t errlen)
{
    if (!m->mw.type) {
        snprintf(err, errlen, "%s", m->error);
        return -EINVAL;
    }
    if (!strcmp(m->mw.type->name, "errors") &&
        !proxy_config_service(g->cfg, proxy_mw_errors_service(m->mw.cfg))) {
        snprintf(err, errlen, "errors middleware %s: the service \"%s\" does not exist",
                 m->def->name, proxy_mw_errors_service(m->mw.cfg));
        return -EINVAL;
    }
    if (strcmp(m->mw.type->name, "chain") != 0) {
        if (*n >= PROXY_GEN_MAX_MWS) {
            snprintf(err, errlen, "more than %u middlewares", PROXY_GEN_MAX_MWS);
            return -EINVAL;
        }
        out[(*n)++] = m;
        return 0;
    }
    if (depth >= PROXY_GEN_CHAIN_DEPTH) {
        snprintf(err, errlen, "chain %s nests deeper than %u (a cycle?)", m->def->name,
                 PROXY_GEN_CHAIN_DEPTH);
        return -EINVAL;
    }
    for (size_t i = 0; i < proxy_mw_chain_count(m->mw.cfg); i++) {
        const char *name = proxy_mw_chain_name(m->mw.cfg, i);
        const proxy_gen_mw_t *c = chain_resolve(g, m, name);
        if (!c) {
            snprintf(err, errlen, "chain %s: middleware %s does not exist", m->def->name, name);
            return -EINVAL;
        }
        int rc = chain_expand(g, c, depth + 1, out, n, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

static uint64_t min_limit(uint64_t a, uint64_t b)
{
    return a && (!b || a < b) ? a : b;
}

/* What the forward takes from a chain's buffering, retry and contentType middlewares,
 * and the router's circuit breakers. */
static void chain_prepare(proxy_gen_chain_t *c, const char *router)
{
    for (size_t i = 0; i < c->n; i++) {
        const proxy_mw_t *m = &c->mws[i]->mw;
        if (!strcmp(m->type->name, "circuitBreaker")) {
            if (!c->breakers)
                c->breakers = hc_calloc(c->n, sizeof(*c->breakers));
            c->breakers[i] = proxy_mw_cb_new(m->cfg, router);
        } else if (!strcmp(m->type->name, "errors")) {
            c->errors_at |= 1ull << i;
        } else if (!strcmp(m->type->name, "contentType")) {
            c->sniff |= proxy_mw_contenttype_enabled(m->cfg);
        } else if (!strcmp(m->type->name, "buffering")) {
            c->body_max = min_limit(proxy_mw_buffering_max_request(m->cfg), c->body_max);
            c->resp_max = min_limit(proxy_mw_buffering_max_response(m->cfg), c->resp_max);
        } else if (!strcmp(m->type->name, "retry")) {
            c->retry_attempts = proxy_mw_retry_attempts(m->cfg);
            c->retry_interval_ms = proxy_mw_retry_interval_ms(m->cfg);
        }
    }
}

/* Expands each enabled router's middlewares. A router whose chain cannot be expanded
 * (an invalid or unsupported middleware, a chain loop) is disabled and reported, as
 * Traefik does: it is not routed. Runs before the route tables are built. */
static void chains_build(proxy_gen_t *g)
{
    proxy_config_t *cfg = g->cfg;
    g->chains = hc_calloc(cfg->nrouters ? cfg->nrouters : 1, sizeof(*g->chains));
    const proxy_gen_mw_t *tmp[PROXY_GEN_MAX_MWS];
    for (size_t r = 0; r < cfg->nrouters; r++) {
        proxy_router_t *rt = &cfg->routers[r];
        if (rt->status == PROXY_STATUS_DISABLED || !rt->middlewares)
            continue;
        size_t n = 0;
        int rc = 0;
        char err[512] = "";
        for (size_t i = 0; rc == 0 && i < rt->nmiddlewares; i++)
            rc = chain_expand(g, &g->mws[rt->middlewares[i] - cfg->middlewares], 0, tmp, &n, err,
                              sizeof(err));
        if (rc) {
            proxy_config_router_fail(rt, PROXY_STATUS_DISABLED, err);
            proxy_gen_error_add(g, rt->source, "router", "", rt->name, "%s", err);
            continue;
        }
        g->chains[r].mws = hc_memdup(tmp, n * sizeof(tmp[0]));
        g->chains[r].n = n;
        chain_prepare(&g->chains[r], rt->name);
    }
}

/* Entry points a router names that do not exist are reported (Traefik's
 * GetRoutersByEntryPoints): a warning, or the router disabled when it names none that
 * does. */
static void entrypoints_check(proxy_gen_t *g)
{
    for (size_t r = 0; r < g->cfg->nrouters; r++) {
        proxy_router_t *rt = &g->cfg->routers[r];
        size_t known = 0;
        int internal = rt->service && rt->service->provider == PROXY_PROVIDER_INTERNAL;
        for (size_t i = 0; i < rt->nentrypoints; i++) {
            const char *ep = rt->entrypoints[i];
            if (proxy_ep_known(ep, internal)) {
                known++;
                continue;
            }
            char msg[256];
            snprintf(msg, sizeof(msg), "entryPoint \"%.200s\" doesn't exist", ep);
            proxy_config_router_fail(rt, PROXY_STATUS_WARNING, msg);
        }
        int routed = !rt->nentrypoints;
        for (size_t i = 0; i < rt->nentrypoints; i++)
            routed |= proxy_ep_known(rt->entrypoints[i], 0);
        if (known && !routed && rt->nmiddlewares) /* only traefik: the API listener */
            proxy_config_router_fail(rt, PROXY_STATUS_WARNING,
                                     "on the traefik entry point hearth's --api listener serves "
                                     "the API and dashboard itself: this router's middlewares "
                                     "are not applied");
        if (rt->nentrypoints && !known) {
            proxy_config_router_fail(rt, PROXY_STATUS_DISABLED,
                                     "no valid entryPoint for this router");
            proxy_gen_error_add(g, rt->source, "router", "", rt->name,
                                "no valid entryPoint for this router");
        }
    }
}

/* ---- generations ---- */

/* The slot of the service or middleware a router names, or -1. */
static long user_slot(const proxy_config_t *c, const char *name, int middleware)
{
    if (!middleware) {
        const proxy_service_t *s = name ? proxy_config_service(c, name) : NULL;
        return s ? s - c->services : -1;
    }
    const proxy_middleware_t *m = proxy_config_middleware(c, name);
    return m ? (long)c->nservices + (m - c->middlewares) : -1;
}

/* users and users_at: each router under the service and the middlewares it names (a
 * middleware named twice counts once), by a counting sort: slot s's count goes to
 * users_at[s + 2], the sums make users_at[s + 1] where s's routers start, and placing
 * them moves it to where they end, which is where s + 1's start. */
static void users_build(proxy_gen_t *g)
{
    const proxy_config_t *c = g->cfg;
    size_t slots = c->nservices + c->nmiddlewares;
    g->users_at = hc_calloc(slots + 2, sizeof(*g->users_at));
    for (int pass = 0; pass < 2; pass++) {
        if (pass) {
            for (size_t i = 2; i <= slots + 1; i++)
                g->users_at[i] += g->users_at[i - 1];
            g->users = hc_calloc(g->users_at[slots + 1] + 1, sizeof(*g->users));
        }
        for (size_t r = 0; r < c->nrouters; r++) {
            const proxy_router_t *rt = &c->routers[r];
            for (size_t k = 0; k <= rt->nmiddlewares; k++) {
                long s = k ? user_slot(c, rt->middleware_names[k - 1], 1)
                           : user_slot(c, rt->service_name, 0);
                int seen = 0;
                for (size_t j = 1; s >= 0 && j < k; j++)
                    seen |= user_slot(c, rt->middleware_names[j - 1], 1) == s;
                if (s < 0 || seen)
                    continue;
                if (pass)
                    g->users[g->users_at[s + 1]++] = (uint32_t)r;
                else
                    g->users_at[s + 2]++;
            }
        }
    }
}

int proxy_gen_build(const proxy_gen_input_t *in, proxy_gen_t **out)
{
    *out = NULL;
    if (!in)
        return -EINVAL;
    proxy_gen_t *g = hc_calloc(1, sizeof(*g));
    atomic_init(&g->refs, 1);
    g->serial = in->serial;
    g->built_at = (int64_t)time(NULL);
    int rc = config_build(g, in);
    if (rc)
        goto fail;
    proxy_gen_transports_build(g, in->prev);
    mws_parse(g);
    entrypoints_check(g);
    chains_build(g);
    users_build(g);
    proxy_gen_tls_build(g); /* before the routes: it disables routers with broken options */
    if ((rc = proxy_route_build(g->cfg, "web", 0, &g->routes[PROXY_GEN_WEB])) ||
        (rc = proxy_route_build(g->cfg, "websecure", 1, &g->routes[PROXY_GEN_WEBSECURE])))
        goto fail;
    *out = g;
    return 0;
fail:
    proxy_gen_unref(g);
    return rc;
}

static void gen_free(proxy_gen_t *g)
{
    proxy_gen_tls_free(g);
    proxy_gen_transports_free(g);
    for (size_t r = 0; g->chains && r < g->cfg->nrouters; r++) {
        proxy_gen_chain_t *ch = &g->chains[r];
        for (size_t i = 0; ch->breakers && i < ch->n; i++)
            proxy_mw_cb_destroy(ch->breakers[i]);
        hc_free(ch->breakers);
        hc_free(ch->mws);
    }
    hc_free(g->chains);
    hc_free(g->users);
    hc_free(g->users_at);
    if (g->mws)
        for (size_t i = 0; i < g->cfg->nmiddlewares; i++) {
            proxy_mw_free(&g->mws[i].mw);
            hc_free(g->mws[i].error);
        }
    hc_free(g->mws);
    for (int i = 0; i < PROXY_GEN_NEP; i++)
        proxy_route_free(g->routes[i]);
    proxy_config_free(g->cfg);
    proxy_config_errors_free(g->errors, g->nerrors);
    hc_free(g);
}

void proxy_gen_unref(proxy_gen_t *g)
{
    if (g && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
        gen_free(g);
}

int proxy_gen_read_file(const char *path, json_t **out, char *err, size_t errlen)
{
    hc_yaml_docs_t *docs = NULL;
    hc_yaml_error_t ye;
    *out = NULL;
    int rc = hc_yaml_parse_file(path, NULL, &docs, &ye);
    if (rc) {
        snprintf(err, errlen, "%s:%d: %s", path, ye.line, ye.message);
        return rc;
    }
    json_t *doc = hc_yaml_count(docs) ? hc_yaml_get(docs, 0) : NULL;
    if (!json_is_object(doc) && !json_is_null(doc) && doc) {
        snprintf(err, errlen, "%s:1: the dynamic configuration must be a mapping", path);
        hc_yaml_free(docs);
        return -EINVAL;
    }
    *out = json_is_object(doc) ? json_incref(doc) : json_object();
    hc_yaml_free(docs);
    return 0;
}
