/* The upstream shared part (health table, active checker, options), the per-worker
 * configuration generations of load-balancing state (one up_lb_t per service, servers
 * bound to their shared health entries, round-robin positions and WRR deadlines carried
 * over from the previous generation when a service is unchanged) and the choice of a
 * server in them (sticky cookie, round robin, WRR over weighted children). */
#include "core/hc_alloc.h"
#include "proxy/proxy_upstream_int.h"

#include <errno.h>
#include <sys/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- shared part ---- */

proxy_upstream_shared_t *proxy_upstream_shared_new(uv_loop_t *loop,
                                                   const proxy_upstream_opts_t *opts,
                                                   char *err, size_t errlen)
{
    static const proxy_upstream_opts_t defaults = {0};
    const proxy_upstream_opts_t *o = opts ? opts : &defaults;
    proxy_upstream_shared_t *sh = hc_calloc(1, sizeof(*sh));
    sh->loop = loop;
    sh->o = *o;
    if (proxy_mw_ipset_parse(&sh->trusted, (char *const *)o->trusted_ips, o->ntrusted_ips, err,
                             errlen))
        goto fail;
    sh->o.trusted_ips = NULL;
    sh->o.ntrusted_ips = 0;
    sh->ca_file = o->ca_file ? hc_strdup(o->ca_file) : NULL;
    sh->o.ca_file = sh->ca_file;
    if (!sh->o.connect_timeout_ms)
        sh->o.connect_timeout_ms = 30000;
    if (!sh->o.response_timeout_ms) /* none: the client needs a number */
        sh->o.response_timeout_ms = 365ull * 24 * 3600 * 1000;
    if (!sh->o.idle_conn_timeout_ms)
        sh->o.idle_conn_timeout_ms = 90000;
    if (!sh->o.max_idle_per_server)
        sh->o.max_idle_per_server = 200;
    if (!sh->o.passive_down_ms)
        sh->o.passive_down_ms = 10000;
    sh->health = proxy_health_new();
    sh->checker = proxy_health_checker_new(loop, sh->health, sh->ca_file,
                                           o->insecure_skip_verify, err, errlen);
    if (!sh->checker)
        goto fail;
    return sh;
fail:
    proxy_mw_ipset_free(&sh->trusted);
    proxy_health_free(sh->health);
    hc_free(sh->ca_file);
    hc_free(sh);
    return NULL;
}

int proxy_upstream_shared_set_config(proxy_upstream_shared_t *sh, const proxy_config_t *cfg)
{
    if (!sh || !cfg)
        return -EINVAL;
    proxy_health_checker_set_config(sh->checker, cfg);
    return 0;
}

/* The health table's keys of a server: its active checks' are its service's; its
 * passive state (connect failures) is shared by the services reaching it through the
 * same transport, a failure through one (a wrong CA, a missing client certificate)
 * saying nothing of another. */
static void health_keys(const proxy_service_t *s, const char *url, char *active, char *passive,
                        size_t room)
{
    snprintf(active, room, "%s %s", s->name, url);
    if (s->transport)
        snprintf(passive, room, "%s via %s", url, s->transport->name);
    else
        snprintf(passive, room, "%s", url);
}

int proxy_upstream_server_up(proxy_upstream_shared_t *sh, const proxy_service_t *s, const char *url)
{
    char active[1024], passive[1024];
    uint64_t now = proxy_health_now_ms();
    health_keys(s, url, active, passive, sizeof(active));
    return proxy_health_up(sh->health, active, now) && proxy_health_up(sh->health, passive, now);
}

void proxy_upstream_shared_free(proxy_upstream_shared_t *sh)
{
    if (!sh)
        return;
    proxy_health_checker_free(sh->checker);
    proxy_health_free(sh->health);
    proxy_mw_ipset_free(&sh->trusted);
    hc_free(sh->ca_file);
    hc_free(sh);
}

/* ---- generations ---- */

int up_server_ok(const up_server_t *s, int ignore_passive)
{
    if (atomic_load(&s->active->active_down))
        return 0;
    /* 0: never taken out; out: by passiveHealthCheck, which the fallback does not pass */
    uint64_t out = atomic_load(&s->active->down_until);
    uint64_t until = ignore_passive ? 0 : atomic_load(&s->passive->down_until);
    if (!out && !until)
        return 1;
    uint64_t now = proxy_health_now_ms();
    return out <= now && until <= now;
}

/* "http://h:p/x" -> "h:p" (ServiceAddr): the URL's host as written, without a port
 * when it has none (Go's url.URL.Host, which Traefik logs). */
static char *url_addr(const char *url)
{
    const char *a = strstr(url, "://");
    a = a ? a + 3 : url;
    size_t n = strcspn(a, "/?#");
    for (size_t i = n; i-- > 0;)
        if (a[i] == '@') { /* userinfo is not part of the host */
            n -= i + 1;
            a += i + 1;
            break;
        }
    return hc_memdup(a, n);
}

/* Server i's weight: Traefik's nil is 1. */
static long long server_weight(const proxy_service_t *s, size_t i)
{
    return !s->weights || s->weights[i] == PROXY_WEIGHT_UNSET ? 1 : s->weights[i];
}

static void lb_servers(proxy_upstream_shared_t *sh, up_lb_t *lb, const proxy_service_t *s)
{
    lb->nservers = s->nservers;
    lb->servers = hc_calloc(s->nservers + 1, sizeof(*lb->servers));
    for (size_t i = 0; i < s->nservers; i++) {
        up_server_t *v = &lb->servers[i];
        char active[1024], passive[1024];
        v->url = hc_strdup(s->servers[i]);
        v->addr = url_addr(v->url);
        v->weight = (double)server_weight(s, i);
        /* the URL's path prefixes the request's with preservePath only (Traefik's
         * directorBuilder) */
        const char *a = strstr(v->url, "://"), *end = v->url + strlen(v->url);
        v->path = a ? a + 3 + strcspn(a + 3, "/?#") : end;
        while (end > v->path && end[-1] == '/')
            end--;
        v->path_len = 0;
        for (size_t k = 0; k < s->npreserve_path && !v->path_len; k++)
            if (!strcmp(s->preserve_path[k], v->url))
                v->path_len = (size_t)(end - v->path);
        proxy_lb_cookie_value(v->url, v->cookie);
        for (size_t k = 0; k < s->nfenced && !v->fenced; k++)
            v->fenced = !strcmp(s->fenced[k], v->url);
        health_keys(s, v->url, active, passive, sizeof(active));
        v->active = proxy_health_ref(sh->health, active);
        v->passive = proxy_health_ref(sh->health, passive);
    }
    lb->has_check = s->health_check != NULL;
    lb->passive_max = s->passive_max;
    lb->passive_window_ms = s->passive_window_ms;
}

/* Same servers or children, and weights, as in the previous generation: keep the
 * positions in the round (the deadlines). */
static void lb_carry(up_lb_t *lb, const up_lb_t *old)
{
    if (!old || old->type != lb->type || old->nservers != lb->nservers ||
        old->nchildren != lb->nchildren || old->strategy != lb->strategy)
        return;
    for (size_t i = 0; i < lb->nservers; i++)
        if (strcmp(old->servers[i].url, lb->servers[i].url))
            return;
    /* a failover's or mirroring's children, and p2c's servers, take no turns */
    size_t n = lb->type == PROXY_SERVICE_WEIGHTED ? lb->nchildren
               : lb->type == PROXY_SERVICE_LOADBALANCER && lb->strategy == PROXY_STRATEGY_WRR
                   ? lb->nservers
                   : 0;
    for (size_t i = 0; i < n; i++)
        if (old->wrr.weight[i] != lb->wrr.weight[i])
            return;
    if (n) {
        memcpy(lb->wrr.deadline, old->wrr.deadline, n * sizeof(double));
        memcpy(lb->wrr.heap, old->wrr.heap, n * sizeof(size_t));
        lb->wrr.cur = old->wrr.cur;
    }
}

/* Traefik adds a balancer's servers, or a weighted service's children, in an order
 * shuffled when it builds it, so that replicas and workers do not all start at the
 * first; each worker shuffles here. The turns of wrr, or leasttime's. */
static void lb_turns_init(up_lb_t *lb, const long long *weights, size_t n, uint64_t *rng)
{
    size_t *order = hc_calloc(n + 1, sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
        size_t j = (size_t)(proxy_lb_rand(rng) % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    if (lb->strategy == PROXY_STRATEGY_LEASTTIME)
        proxy_lb_lt_init(&lb->lt, weights, n, order);
    else
        proxy_lb_wrr_init(&lb->wrr, weights, n, order);
    hc_free(order);
}

static void lb_init(proxy_upstream_shared_t *sh, up_lb_t *lb, const proxy_service_t *s,
                    uint64_t *rng)
{
    lb->name = hc_strdup(s->name);
    lb->type = s->type;
    lb->pass_host = s->pass_host_header;
    const proxy_upstream_transport_t *t = s->transport ? s->transport->ready : NULL;
    lb->tls = t && t->tls ? hc_tls_ctx_ref(t->tls) : NULL;
    lb->server_name = t && t->server_name ? hc_strdup(t->server_name) : NULL;
    lb->connect_timeout_ms =
        t && t->dial_timeout_ms ? t->dial_timeout_ms : sh->o.connect_timeout_ms;
    lb->header_timeout_ms =
        t && t->header_timeout_ms ? t->header_timeout_ms : sh->o.response_timeout_ms;
    lb->max_idle = t ? t->max_idle : 0;
    lb->idle_ms = t ? t->idle_ms : 0;
    proxy_sticky_copy(&lb->sticky, &s->sticky);
    proxy_lb_cookie_name(&lb->sticky, s->name, lb->cookie_name);
    if (s->type == PROXY_SERVICE_LOADBALANCER) {
        lb_servers(sh, lb, s);
        lb->strategy = s->strategy;
        lb->rng = proxy_lb_rand(rng) | 1;
        if (lb->strategy != PROXY_STRATEGY_WRR && lb->strategy != PROXY_STRATEGY_LEASTTIME)
            return;
        long long *w = hc_calloc(s->nservers + 1, sizeof(*w));
        for (size_t i = 0; i < s->nservers; i++)
            w[i] = server_weight(s, i);
        lb_turns_init(lb, w, s->nservers, rng);
        hc_free(w);
        return;
    }
    if (s->type == PROXY_SERVICE_FAILOVER || s->type == PROXY_SERVICE_MIRRORING) {
        lb->nchildren = s->nweighted;
        lb->children = hc_calloc(s->nweighted + 1, sizeof(*lb->children));
        if (s->type == PROXY_SERVICE_FAILOVER)
            return;
        lb->percent = hc_calloc(s->nweighted + 1, sizeof(*lb->percent));
        lb->sent = hc_calloc(s->nweighted + 1, sizeof(*lb->sent));
        for (size_t i = 1; i < s->nweighted; i++)
            lb->percent[i] = (unsigned)s->weighted[i].weight; /* 0..100, checked */
        lb->mirror_body = s->mirror_body;
        lb->mirror_max_body = s->mirror_max_body;
        return;
    }
    long long *w = hc_calloc(s->nweighted + 1, sizeof(*w));
    for (size_t i = 0; i < s->nweighted; i++)
        w[i] = s->weighted[i].weight;
    lb_turns_init(lb, w, s->nweighted, rng);
    hc_free(w);
    lb->nchildren = s->nweighted;
    lb->children = hc_calloc(s->nweighted + 1, sizeof(*lb->children));
    if (!lb->sticky.enabled && s->type != PROXY_SERVICE_HRW) /* hrw hashes the names */
        return;
    lb->child_keys = hc_calloc(s->nweighted + 1, sizeof(*lb->child_keys));
    lb->child_cookies = hc_calloc(s->nweighted + 1, sizeof(*lb->child_cookies));
    for (size_t i = 0; i < s->nweighted; i++) { /* Traefik hashes the name as written */
        const char *q = s->weighted[i].service_name;
        size_t n = proxy_config_local_len(q, s->provider);
        lb->child_keys[i] = hc_calloc(1, n + 1);
        memcpy(lb->child_keys[i], q, n);
        proxy_lb_cookie_value(lb->child_keys[i], lb->child_cookies[i]);
    }
}

up_lb_t *up_gen_find(up_gen_t *g, const char *name)
{
    size_t lo = 0, hi = g ? g->n : 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(g->lbs[mid].name, name);
        if (!c)
            return &g->lbs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

up_gen_t *up_gen_build(proxy_upstream_shared_t *sh, const proxy_config_t *cfg,
                       const up_gen_t *prev)
{
    up_gen_t *g = hc_calloc(1, sizeof(*g));
    g->refs = 1;
    g->n = cfg->nservices;
    g->lbs = hc_calloc(g->n + 1, sizeof(*g->lbs));
    uint64_t rng = 0; /* this worker's draws: its shuffles, and the seeds of p2c's */
    if (getrandom(&rng, sizeof(rng), 0) != (ssize_t)sizeof(rng) || !rng)
        rng = uv_hrtime() | 1;
    for (size_t i = 0; i < g->n; i++) /* cfg->services is sorted by name */
        lb_init(sh, &g->lbs[i], &cfg->services[i], &rng);
    for (size_t i = 0; i < g->n; i++) {
        const proxy_service_t *s = &cfg->services[i];
        for (size_t k = 0; k < g->lbs[i].nchildren; k++)
            g->lbs[i].children[k] = up_gen_find(g, s->weighted[k].service_name);
        lb_carry(&g->lbs[i], up_gen_find((up_gen_t *)prev, s->name));
    }
    return g;
}

void up_gen_unref(proxy_upstream_shared_t *sh, up_gen_t *g)
{
    if (!g || --g->refs)
        return;
    for (size_t i = 0; i < g->n; i++) {
        up_lb_t *lb = &g->lbs[i];
        for (size_t k = 0; k < lb->nservers; k++) {
            hc_free(lb->servers[k].url);
            hc_free(lb->servers[k].addr);
            hc_http_client_origin_unref(lb->servers[k].origin);
            proxy_health_unref(sh->health, lb->servers[k].active);
            proxy_health_unref(sh->health, lb->servers[k].passive);
        }
        hc_free(lb->servers);
        hc_free(lb->children);
        for (size_t k = 0; lb->child_keys && k < lb->nchildren; k++)
            hc_free(lb->child_keys[k]);
        hc_free(lb->child_keys);
        hc_free(lb->child_cookies);
        hc_free(lb->percent);
        hc_free(lb->sent);
        proxy_lb_wrr_free(&lb->wrr);
        proxy_lb_lt_free(&lb->lt);
        proxy_sticky_free(&lb->sticky);
        hc_free(lb->name);
        hc_tls_ctx_unref(lb->tls);
        hc_free(lb->server_name);
    }
    hc_free(g->lbs);
    hc_free(g);
}

/* ---- choosing a server ---- */

enum { MAX_PICK_DEPTH = PROXY_NEST_MAX + 1 }; /* the load balancers below the deepest */

typedef struct pick_ctx {
    const up_pick_t *p;
    up_lb_t *lb;
    int ignore_passive;
} pick_ctx_t;

static int was_tried(const up_pick_t *p, const up_server_t *s)
{
    for (unsigned i = 0; i < p->ntried; i++)
        if (p->tried[i] == s)
            return 1;
    return 0;
}

static int server_ok(void *arg, size_t i)
{
    pick_ctx_t *c = arg;
    up_server_t *s = &c->lb->servers[i];
    return !s->fenced && !was_tried(c->p, s) && up_server_ok(s, c->ignore_passive);
}

static unsigned server_load(void *arg, size_t i)
{
    pick_ctx_t *c = arg;
    return atomic_load(&c->lb->servers[i].active->inflight);
}

static const char *server_key(void *arg, size_t i, double *weight)
{
    pick_ctx_t *c = arg;
    *weight = c->lb->servers[i].weight;
    return c->lb->servers[i].url;
}

static size_t pick_server(pick_ctx_t *c)
{
    up_lb_t *lb = c->lb;
    switch (lb->strategy) {
    case PROXY_STRATEGY_P2C:
        return proxy_lb_p2c_next(&lb->rng, lb->nservers, server_ok, server_load, c);
    case PROXY_STRATEGY_HRW:
        return proxy_lb_hrw_next(c->p->client_ip, lb->nservers, server_ok, server_key, c);
    case PROXY_STRATEGY_LEASTTIME:
        return proxy_lb_lt_next(&lb->lt, server_ok, server_load, c);
    case PROXY_STRATEGY_WRR:
        break;
    }
    return proxy_lb_wrr_next(&lb->wrr, server_ok, c);
}

/* Weight 0 or less: wrr, hrw and leasttime never add the server, not for a sticky cookie
 * either (draining one by its weight sends its clients elsewhere); p2c weighs nothing. */
static int weighed_out(const up_lb_t *lb, const up_server_t *s)
{
    return s->weight <= 0 && lb->strategy != PROXY_STRATEGY_P2C;
}

static int lb_has_server(up_lb_t *lb, int depth);

/* Child i of lb (at depth) may answer: it has a server left, and a weighted or hrw
 * service never adds a child of weight 0 or less. */
static int child_serves(up_lb_t *lb, size_t i, int depth)
{
    int by_weight = lb->type == PROXY_SERVICE_WEIGHTED || lb->type == PROXY_SERVICE_HRW;
    return (!by_weight || lb->wrr.weight[i] > 0) && lb_has_server(lb->children[i], depth + 1);
}

static int lb_has_server(up_lb_t *lb, int depth)
{
    if (!lb || depth > MAX_PICK_DEPTH)
        return 0;
    for (size_t i = 0; i < lb->nservers; i++) {
        const up_server_t *s = &lb->servers[i];
        if (!s->fenced && !weighed_out(lb, s) && up_server_ok(s, 1))
            return 1;
    }
    /* a mirroring service answers with its first child alone */
    size_t n = lb->type == PROXY_SERVICE_MIRRORING && lb->nchildren ? 1 : lb->nchildren;
    for (size_t i = 0; i < n; i++)
        if (child_serves(lb, i, depth))
            return 1;
    return 0;
}

static int child_ok(void *arg, size_t i)
{
    return child_serves(arg, i, 0);
}

/* The value of lb's sticky cookie in the request; NULL when it has none. */
static const char *sticky_value(const up_pick_t *p, const up_lb_t *lb, size_t *len)
{
    for (size_t i = 0; i < p->hdrs->len; i++) {
        if (strcasecmp(p->hdrs->v[i].name, "Cookie")) /* RFC 9110 §5.1 */
            continue;
        const char *v = proxy_lb_cookie_find(p->hdrs->v[i].value, lb->cookie_name, len);
        if (v)
            return v;
    }
    return NULL;
}

/* The sticky cookie's server, when it is one of lb's and may take traffic. */
static up_server_t *pick_sticky(const up_pick_t *p, up_lb_t *lb)
{
    size_t len;
    const char *v = sticky_value(p, lb, &len);
    for (size_t k = 0; v && k < lb->nservers; k++) {
        up_server_t *s = &lb->servers[k];
        if (proxy_lb_cookie_matches(v, len, s->url) && !weighed_out(lb, s) && !was_tried(p, s) &&
            up_server_ok(s, 0))
            return s;
    }
    return NULL;
}

/* The next child of a weighted service by weight; with sticky, remembered for a
 * Set-Cookie (Traefik's WRR sticky). */
static size_t pick_child(up_pick_t *p, up_lb_t *lb)
{
    size_t i = proxy_lb_wrr_next(&lb->wrr, child_ok, lb);
    if (lb->sticky.enabled && i != PROXY_LB_NONE && p->nset < UP_PICK_COOKIES)
        p->set[p->nset++] = (struct up_pick_child){lb, i};
    return i;
}

/* The child a sticky weighted service's cookie names, when it has a server left;
 * PROXY_LB_NONE otherwise. */
static size_t cookie_child(const up_pick_t *p, up_lb_t *lb)
{
    size_t len;
    const char *v = lb->sticky.enabled ? sticky_value(p, lb, &len) : NULL;
    for (size_t k = 0; v && k < lb->nchildren; k++)
        if (proxy_lb_cookie_matches(v, len, lb->child_keys[k]) && child_ok(lb, k))
            return k;
    return PROXY_LB_NONE;
}

static const char *child_key(void *arg, size_t i, double *weight)
{
    up_lb_t *lb = arg;
    *weight = lb->wrr.weight[i];
    return lb->child_keys[i];
}

/* A server of lb (a weighted service descends into a child). Healthy servers first;
 * when every one is out after connect failures, one of those is tried anyway, so a
 * lone server that came back is found at once. */
static up_server_t *pick(up_pick_t *p, up_lb_t *lb, int depth)
{
    if (!lb || depth > MAX_PICK_DEPTH)
        return NULL;
    if (lb->type == PROXY_SERVICE_FAILOVER) { /* Traefik's: by the health checks' status */
        up_lb_t *main = lb->children[0];
        int main_up = lb_has_server(main, depth + 1);
        up_server_t *s = pick(p, main_up ? main : lb->children[1], depth + 1);
        /* main's servers all tried already (a retry): the fallback rather than none */
        return s || !main_up ? s : pick(p, lb->children[1], depth + 1);
    }
    if (lb->type == PROXY_SERVICE_MIRRORING) {
        if (!p->mirroring)
            p->mirroring = lb;
        return lb->nchildren ? pick(p, lb->children[0], depth + 1) : NULL;
    }
    if (lb->type == PROXY_SERVICE_HRW) { /* the child the client's address ranks first */
        size_t i = proxy_lb_hrw_next(p->client_ip, lb->nchildren, child_ok, child_key, lb);
        return i == PROXY_LB_NONE ? NULL : pick(p, lb->children[i], depth + 1);
    }
    if (lb->type == PROXY_SERVICE_WEIGHTED) {
        size_t i = cookie_child(p, lb);
        up_server_t *s = i == PROXY_LB_NONE ? NULL : pick(p, lb->children[i], depth + 1);
        if (!s) /* no cookie, or its child has no server left to try: the next by weight */
            s = (i = pick_child(p, lb)) == PROXY_LB_NONE ? NULL : pick(p, lb->children[i], depth + 1);
        return s;
    }
    p->lb = lb;
    int sticky = lb->sticky.enabled && lb->strategy != PROXY_STRATEGY_HRW; /* hrw has none */
    up_server_t *s = sticky ? pick_sticky(p, lb) : NULL;
    if (s)
        return s;
    p->need_cookie = sticky;
    pick_ctx_t c = {p, lb, 0};
    size_t i = pick_server(&c);
    if (i == PROXY_LB_NONE) {
        c.ignore_passive = 1;
        i = pick_server(&c);
    }
    return i == PROXY_LB_NONE ? NULL : &lb->servers[i];
}

up_server_t *up_pick(up_pick_t *p, up_lb_t *lb)
{
    p->nset = 0;
    return pick(p, lb, 0);
}

int up_lb_has_server(up_lb_t *lb)
{
    return lb_has_server(lb, 0);
}

uint64_t up_mirrors_due(up_lb_t *lb)
{
    uint64_t due = 0;
    lb->total++;
    for (size_t k = 1; k < lb->nchildren && k <= PROXY_MIRRORS_MAX; k++) {
        if (lb->children[k] && lb->sent[k] * 100 < lb->total * lb->percent[k]) {
            lb->sent[k]++;
            due |= (uint64_t)1 << (k - 1);
        }
    }
    return due;
}
