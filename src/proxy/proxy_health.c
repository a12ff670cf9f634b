/* Server health (see proxy_health.h): the shared table of reference-counted entries
 * whose state is read with atomics, the healthCheck spec, and the active checker that
 * probes each server of a checked service every interval from one loop. */
#include "proxy/proxy_health.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "proxy/mw.h"
#include "proxy/mw_forwardauth.h" /* proxy_mw_url_resolve */
#include "proxy/proxy_upstream.h" /* proxy_upstream_transport_t */

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A hash table of chained entries (a configuration of 10,000 servers must not cost a
 * linear search per server when a reload refs them all). */
struct proxy_health {
    pthread_mutex_t lock;
    proxy_health_entry_t **buckets; /* nbuckets (a power of two) chains */
    size_t nbuckets, n;
};

enum { BUCKETS_FIRST = 64 };

uint64_t proxy_health_now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

proxy_health_t *proxy_health_new(void)
{
    proxy_health_t *h = hc_calloc(1, sizeof(*h));
    pthread_mutex_init(&h->lock, NULL);
    h->nbuckets = BUCKETS_FIRST;
    h->buckets = hc_calloc(h->nbuckets, sizeof(*h->buckets));
    return h;
}

void proxy_health_free(proxy_health_t *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    hc_free(h->buckets);
    hc_free(h);
}

/* The chain where key (of hash) is or would go. Called with the lock held. */
static proxy_health_entry_t **chain_of(proxy_health_t *h, uint64_t hash)
{
    return &h->buckets[hash & (h->nbuckets - 1)];
}

static proxy_health_entry_t *find(proxy_health_t *h, const char *key, uint64_t hash)
{
    proxy_health_entry_t *e = *chain_of(h, hash);
    while (e && (e->hash != hash || strcmp(e->key, key)))
        e = e->next;
    return e;
}

/* Twice the buckets once there are more entries than buckets. Lock held. */
static void grow(proxy_health_t *h)
{
    size_t old = h->nbuckets;
    proxy_health_entry_t **b = h->buckets;
    h->nbuckets *= 2;
    h->buckets = hc_calloc(h->nbuckets, sizeof(*h->buckets));
    for (size_t i = 0; i < old; i++)
        for (proxy_health_entry_t *e = b[i], *next; e; e = next) {
            next = e->next;
            proxy_health_entry_t **pp = chain_of(h, e->hash);
            e->next = *pp;
            *pp = e;
        }
    hc_free(b);
}

proxy_health_entry_t *proxy_health_ref(proxy_health_t *h, const char *key)
{
    uint64_t hash = proxy_mw_hash(key);
    pthread_mutex_lock(&h->lock);
    proxy_health_entry_t *e = find(h, key, hash);
    if (!e) {
        if (h->n >= h->nbuckets)
            grow(h);
        e = hc_calloc(1, sizeof(*e));
        e->key = hc_strdup(key);
        e->hash = hash;
        proxy_health_entry_t **pp = chain_of(h, hash);
        e->next = *pp;
        *pp = e;
        h->n++;
    }
    e->refs++;
    pthread_mutex_unlock(&h->lock);
    return e;
}

void proxy_health_unref(proxy_health_t *h, proxy_health_entry_t *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&h->lock);
    if (--e->refs == 0) {
        proxy_health_entry_t **pp = chain_of(h, e->hash);
        while (*pp != e)
            pp = &(*pp)->next;
        *pp = e->next;
        h->n--;
        hc_free(e->key);
        hc_free(e->fail_ms);
        hc_free(e);
    }
    pthread_mutex_unlock(&h->lock);
}

int proxy_health_up(proxy_health_t *h, const char *key, uint64_t now_ms)
{
    uint64_t hash = proxy_mw_hash(key);
    pthread_mutex_lock(&h->lock);
    const proxy_health_entry_t *e = find(h, key, hash);
    int up = !e || (!atomic_load(&e->active_down) && atomic_load(&e->down_until) <= now_ms);
    pthread_mutex_unlock(&h->lock);
    return up;
}

int proxy_health_passive(proxy_health_t *h, proxy_health_entry_t *e, int ok, uint64_t window_ms,
                         unsigned max, uint64_t now_ms)
{
    if (ok && !atomic_load(&e->fails))
        return 0;
    if (!max)
        max = 1;
    int out = 0;
    pthread_mutex_lock(&h->lock);
    if (ok) {
        e->nfail = 0;
    } else {
        unsigned k = 0; /* the failures within the window; the latest max suffice */
        for (unsigned i = 0; i < e->nfail; i++)
            if (e->fail_ms[i] + window_ms >= now_ms && e->nfail - i < max)
                e->fail_ms[k++] = e->fail_ms[i];
        if (e->fail_cap < max) {
            e->fail_ms = hc_realloc(e->fail_ms, max * sizeof(*e->fail_ms));
            e->fail_cap = max;
        }
        e->fail_ms[k++] = now_ms;
        e->nfail = k;
        out = k >= max;
    }
    atomic_store(&e->fails, e->nfail);
    pthread_mutex_unlock(&h->lock);
    if (!out)
        return 0;
    if (atomic_load(&e->probers)) { /* the next probe that finds it up brings it back */
        int was = atomic_exchange(&e->active_down, 1);
        if (atomic_load(&e->probers)) /* still probed: else its check just went */
            return !was;
        atomic_store(&e->active_down, 0);
    }
    if (atomic_load(&e->down_until) > now_ms)
        return 0; /* out already: its window is not stretched */
    atomic_store(&e->down_until, now_ms + window_ms);
    return 1;
}

/* ---- the spec ---- */

static int spec_duration(const json_t *j, const char *key, uint64_t *ms, char *err, size_t errlen)
{
    const json_t *v = proxy_mw_json_get(j, key);
    uint64_t ns = 0;
    if ((json_is_integer(v) && json_integer_value(v) < 0) ||
        (json_is_string(v) && json_string_value(v)[0] == '-' &&
         !proxy_mw_go_duration_parse(json_string_value(v) + 1, &ns))) {
        /* Traefik: a duration not above zero takes the default, with an error logged */
        hc_log(HC_LOG_WARN, "health check duration below zero: the default is used",
               HC_LS("field", key), NULL);
        *ms = 0;
        return 0;
    }
    ns = *ms * 1000000u;
    int rc = proxy_mw_json_duration(j, key, "healthCheck", &ns, err, errlen);
    *ms = ns / 1000000u;
    return rc;
}

static int spec_headers(const json_t *j, proxy_health_spec_t *out, char *err, size_t errlen)
{
    json_t *hs = proxy_mw_json_get(j, "headers");
    if (!hs)
        return 0;
    if (!json_is_object(hs))
        return hc_errf(err, errlen, -EINVAL, "healthCheck.headers: not an object");
    out->headers = hc_calloc(json_object_size(hs) + 1, sizeof(*out->headers));
    const char *k;
    json_t *v;
    json_object_foreach(hs, k, v)
    {
        if (!json_is_string(v))
            return hc_errf(err, errlen, -EINVAL, "healthCheck.headers.%.40s: not a string", k);
        out->headers[out->nheaders].name = hc_strdup(k);
        out->headers[out->nheaders++].value = hc_strdup(json_string_value(v));
    }
    return 0;
}

int proxy_health_spec_parse(const json_t *j, proxy_health_spec_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->interval_ms = 30000;
    out->timeout_ms = 5000;
    long long port = 0, status = 0;
    int rc = 0;
    if (!json_is_object(j))
        rc = hc_errf(err, errlen, -EINVAL, "healthCheck: not an object");
    if (!rc)
        rc = proxy_mw_json_str(j, "path", &out->path, err, errlen);
    if (!rc)
        rc = proxy_mw_json_str(j, "scheme", &out->scheme, err, errlen);
    if (!rc)
        rc = proxy_mw_json_str(j, "hostname", &out->hostname, err, errlen);
    if (!rc)
        rc = proxy_mw_json_str(j, "method", &out->method, err, errlen);
    if (!rc)
        rc = proxy_mw_json_int(j, "port", &port, err, errlen);
    if (!rc)
        rc = proxy_mw_json_int(j, "status", &status, err, errlen);
    if (!rc)
        rc = spec_duration(j, "interval", &out->interval_ms, err, errlen);
    if (!rc && proxy_mw_json_get(j, "unhealthyInterval")) {
        rc = spec_duration(j, "unhealthyInterval", &out->unhealthy_interval_ms, err, errlen);
        if (!out->unhealthy_interval_ms) /* Traefik: not above zero, the default */
            out->unhealthy_interval_ms = 30000;
    }
    if (!rc)
        rc = spec_duration(j, "timeout", &out->timeout_ms, err, errlen);
    if (!rc)
        rc = proxy_mw_json_str(j, "body", &out->body, err, errlen);
    if (!rc)
        rc = spec_headers(j, out, err, errlen);
    const json_t *fr = json_object_get(j, "followRedirects");
    if (!rc && fr && !json_is_boolean(fr))
        rc = hc_errf(err, errlen, -EINVAL, "healthCheck.followRedirects: true or false");
    out->follow_redirects = !json_is_false(fr); /* Traefik's default: true */
    if (!rc && (port < 0 || port > 65535 || status < 0 || status > 999))
        rc = hc_errf(err, errlen, -EINVAL, "healthCheck: port or status out of range");
    if (!rc && out->scheme && strcmp(out->scheme, "http") && strcmp(out->scheme, "https"))
        rc = hc_errf(err, errlen, -EINVAL, "healthCheck.scheme: http or https");
    if (rc) {
        proxy_health_spec_free(out);
        return rc;
    }
    if (!out->method)
        out->method = hc_strdup("GET");
    if (!out->interval_ms)
        out->interval_ms = 30000;
    if (!out->timeout_ms)
        out->timeout_ms = 5000;
    out->port = (int)port;
    out->status = (int)status;
    return 0;
}

void proxy_health_spec_free(proxy_health_spec_t *s)
{
    hc_free(s->path);
    hc_free(s->scheme);
    hc_free(s->hostname);
    hc_free(s->body);
    hc_free(s->method);
    for (size_t i = 0; i < s->nheaders; i++) {
        hc_free((char *)s->headers[i].name);
        hc_free((char *)s->headers[i].value);
    }
    hc_free(s->headers);
    memset(s, 0, sizeof(*s));
}

int proxy_health_probe_url(const proxy_health_spec_t *s, const char *url, char *out,
                           size_t outlen)
{
    if (strncmp(url, "http", 4) || !strstr(url, "://"))
        return -EINVAL;
    /* Go's target.Parse(path): the path resolved against the server's URL (RFC 3986), so
     * "health" beside "http://h/base/" is /base/health, and none is the server's own */
    hc_buf_t b;
    hc_buf_init(&b, outlen);
    int rc = proxy_mw_url_resolve(url, s->path ? s->path : "", &b);
    if (rc == 0)
        rc = hc_buf_append(&b, "", 1);
    const char *a = rc == 0 ? strstr(b.base, "://") : NULL;
    if (!a) {
        hc_buf_free(&b);
        return -EINVAL;
    }
    size_t sl = (size_t)(a - b.base);
    a += 3;
    size_t al = strcspn(a, "/?#");
    const char *rest = a + al;
    const char *h = a; /* the host, past any userinfo */
    for (const char *at = memchr(h, '@', al); at; at = memchr(h, '@', (size_t)(rest - h)))
        h = at + 1;
    const char *rb = memchr(h, ']', (size_t)(rest - h));
    const char *colon = memchr(rb ? rb : h, ':', (size_t)(rest - (rb ? rb : h)));
    size_t hl = (size_t)((colon ? colon : rest) - a); /* userinfo and host, without port */
    char port[8] = "";
    if (s->port) /* the port replaced */
        snprintf(port, sizeof(port), ":%d", s->port);
    const char *scheme = s->scheme ? s->scheme : b.base;
    int n = snprintf(out, outlen, "%.*s://%.*s%s%s%s", s->scheme ? (int)strlen(s->scheme) : (int)sl,
                     scheme, (int)(s->port ? hl : al), a, port, *rest == '/' ? "" : "/", rest);
    hc_buf_free(&b);
    return n > 0 && (size_t)n < outlen ? 0 : -EINVAL;
}

/* The length of ref's scheme ("http" of "http://x"), 0 when it has none (RFC 3986 §3.1). */
static size_t url_scheme_len(const char *ref)
{
    const char *p = ref;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    return *p == ':' && p > ref ? (size_t)(p - ref) : 0;
}

int proxy_health_redirect_url(const char *url, const char *location, char *out, size_t outlen)
{
    hc_buf_t b;
    hc_buf_init(&b, outlen);                          /* the URL and its NUL */
    int rc = proxy_mw_url_resolve(url, location, &b); /* forwardAuth's RFC 3986 resolver */
    if (rc == 0)
        rc = hc_buf_append(&b, "", 1);
    size_t sl = rc == 0 ? url_scheme_len(b.base) : 0;
    if (rc == 0 && (sl == 4 || sl == 5) && !strncasecmp(b.base, "http", 4) &&
        (sl == 4 || tolower((unsigned char)b.base[4]) == 's')) {
        size_t n = strcspn(b.base, "#"); /* a fragment is not sent */
        memcpy(out, b.base, n);
        out[n] = '\0';
    } else {
        rc = -EINVAL; /* too long, or not http(s) */
    }
    hc_buf_free(&b);
    return rc;
}

/* ---- the active checker ---- */

typedef struct check check_t;

enum { MAX_REQUESTS = 10 }; /* Go's client: a 10th redirect fails the request */

typedef struct probe {
    check_t *check;
    size_t idx;
    hc_http_client_req_t *req; /* in flight, or NULL */
    unsigned hops;             /* redirects followed in this probe */
    int keep_host;             /* the redirects so far were relative: Host stays */
    int body;                  /* the spec's body goes along (not after a turn to GET) */
    char url[1024];            /* the request's URL */
} probe_t;

/* The checks of one service: one probe per server, every interval; with an
 * unhealthyInterval of its own, the servers found down are probed at that pace by a
 * second timer (Traefik's two tickers over healthy and unhealthy targets). */
struct check {
    proxy_health_checker_t *owner;
    check_t *next;
    char *service;
    json_t *spec_json; /* to tell an unchanged spec */
    hc_tls_ctx_t *tls; /* the servers transport's (a reference; a changed transport is a
                          new context), or NULL */
    char *server_name;
    proxy_health_spec_t spec;
    char **urls;
    proxy_health_entry_t **entries;
    probe_t *probes;
    size_t n;
    uv_timer_t timer;      /* every server, or only those up when split */
    uv_timer_t down_timer; /* split: the servers down */
    int split;             /* unhealthyInterval differs from interval */
    int open_timers;       /* closing: freed when both are closed */
    int seen; /* still in the configuration being applied */
};

struct proxy_health_checker {
    uv_loop_t *loop;
    proxy_health_t *h;
    hc_http_client_t *client;
    check_t *checks;
};

static const hc_http_client_req_cbs_t probe_cbs;
static int probe_send(probe_t *p, const char *method);

/* The Location of a redirect Go's client follows (301, 302, 303, 307, 308), or NULL. */
static const char *redirect_location(const hc_http_response_t *res)
{
    int s = res->status;
    if (s != 301 && s != 302 && s != 303 && s != 307 && s != 308)
        return NULL;
    for (size_t i = 0; i < res->n_headers; i++)
        if (res->headers[i].name_len == 8 && !strcasecmp(res->headers[i].name, "Location"))
            return res->headers[i].value_len ? res->headers[i].value : NULL; /* none: final */
    return NULL;
}

static void probe_done(hc_http_client_req_t *req, int status, void *ud)
{
    probe_t *p = ud;
    check_t *c = p->check;
    p->req = NULL;
    if (status == -ECANCELED)
        return;
    const hc_http_response_t *res = hc_http_client_req_response(req);
    const char *loc = res && !status && c->spec.follow_redirects ? redirect_location(res) : NULL;
    if (loc && p->hops + 1 >= MAX_REQUESTS) {
        status = -ELOOP; /* "stopped after 10 redirects" */
    } else if (loc) {
        char next[sizeof(p->url)];
        /* Go's client: 307 and 308 keep the method, the others turn it into GET (HEAD
         * stays HEAD) */
        int keep = res->status == 307 || res->status == 308;
        const char *m = keep || !strcmp(c->spec.method, "HEAD") ? c->spec.method : "GET";
        p->body = p->body && keep; /* as the method: a GET goes without the body */
        if (proxy_health_redirect_url(p->url, loc, next, sizeof(next)) == 0) {
            memcpy(p->url, next, sizeof(next));
            p->hops++;
            /* Go keeps a set Host only while redirects have no scheme (golang/go#22233) */
            p->keep_host &= !url_scheme_len(loc);
            if (probe_send(p, m) == 0)
                return;
        }
        status = -EINVAL; /* a redirect that cannot be followed fails the probe, as in Go */
    }
    int code = res && !status ? res->status : 0;
    int ok = c->spec.status ? code == c->spec.status : code >= 200 && code < 400;
    int was_down = atomic_exchange(&c->entries[p->idx]->active_down, !ok);
    if (was_down == ok) /* a change: say so once */
        hc_log(ok ? HC_LOG_INFO : HC_LOG_WARN, "health check", HC_LS("service", c->service),
               HC_LS("server", c->urls[p->idx]), HC_LS("state", ok ? "UP" : "DOWN"),
               HC_LI("status", code), HC_LS("reason", hc_http_client_req_error(req)), NULL);
}

/* Whether h (of n) has a field named name. */
static int has_field(const hc_http_client_header_t *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(h[i].name, name))
            return 1;
    return 0;
}

/* One request of a probe to p->url, as Go's client sends Traefik's: the configured fields
 * but Host (Go writes req.Host, never a Host field), hostname as Host until a redirect
 * leaves the server, Go's User-Agent and Accept-Encoding unless configured, the
 * transport's TLS name. Returns 0 or -errno. */
static int probe_send(probe_t *p, const char *method)
{
    check_t *c = p->check;
    hc_http_client_header_t hs[67];
    size_t nh = 0;
    for (size_t k = 0; k < c->spec.nheaders && nh < 64; k++)
        if (strcasecmp(c->spec.headers[k].name, "Host"))
            hs[nh++] = c->spec.headers[k];
    if (!has_field(hs, nh, "User-Agent"))
        hs[nh++] = (hc_http_client_header_t){"User-Agent", "Go-http-client/1.1"};
    if (!has_field(hs, nh, "Accept-Encoding") && strcmp(method, "HEAD"))
        hs[nh++] = (hc_http_client_header_t){"Accept-Encoding", "gzip"};
    if (c->spec.hostname && p->keep_host)
        hs[nh++] = (hc_http_client_header_t){"Host", c->spec.hostname};
    hc_http_client_req_opts_t o = {
        .method = method,
        .url = p->url,
        .headers = hs,
        .n_headers = nh,
        .body = p->body ? c->spec.body : NULL,
        .body_len = p->body ? strlen(c->spec.body) : 0,
        .collect_max = 4096,
        .connect_timeout_ms = c->spec.timeout_ms,
        .header_timeout_ms = c->spec.timeout_ms,
        .total_timeout_ms = c->spec.timeout_ms,
        .tls = c->tls,
        .tls_server_name = c->server_name,
    };
    int rc = hc_http_client_request(c->owner->client, &o, &probe_cbs, p, &p->req);
    if (rc < 0)
        p->req = NULL;
    return rc;
}

static void probe_start(check_t *c, size_t i)
{
    probe_t *p = &c->probes[i];
    if (p->req || proxy_health_probe_url(&c->spec, c->urls[i], p->url, sizeof(p->url)))
        return;
    p->hops = 0;
    p->keep_host = 1;
    p->body = c->spec.body != NULL;
    probe_send(p, c->spec.method);
}

/* Probes the servers whose last probe found them down (or up); all unless split. */
static void probe_all(check_t *c, int down)
{
    for (size_t i = 0; i < c->n; i++)
        if (!c->split || atomic_load(&c->entries[i]->active_down) == down)
            probe_start(c, i);
}

static void check_tick(uv_timer_t *t)
{
    probe_all(t->data, 0);
}

static void check_tick_down(uv_timer_t *t)
{
    probe_all(t->data, 1);
}

static const hc_http_client_req_cbs_t probe_cbs = {.on_done = probe_done};

static void check_closed(uv_handle_t *hd)
{
    check_t *c = hd->data;
    if (--c->open_timers == 0)
        hc_free(c);
}

static void check_free(check_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->probes[i].req)
            hc_http_client_req_cancel(c->probes[i].req);
        /* the last check of a server gone: up, as Traefik builds servers anew */
        if (atomic_fetch_sub(&c->entries[i]->probers, 1) == 1)
            atomic_store(&c->entries[i]->active_down, 0);
        proxy_health_unref(c->owner->h, c->entries[i]);
        hc_free(c->urls[i]);
    }
    hc_free(c->urls);
    hc_free(c->entries);
    hc_free(c->probes);
    hc_free(c->service);
    json_decref(c->spec_json);
    hc_tls_ctx_unref(c->tls);
    hc_free(c->server_name);
    proxy_health_spec_free(&c->spec);
    uv_close((uv_handle_t *)&c->timer, check_closed);
    uv_close((uv_handle_t *)&c->down_timer, check_closed);
}

static int check_same(const check_t *c, const proxy_service_t *s)
{
    const proxy_upstream_transport_t *t = s->transport ? s->transport->ready : NULL;
    const char *sn = t ? t->server_name : NULL;
    if (strcmp(c->service, s->name) || c->n != s->nservers ||
        !json_equal(c->spec_json, s->health_check) || c->tls != (t ? t->tls : NULL) ||
        !c->server_name != !sn || (sn && strcmp(c->server_name, sn)))
        return 0;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->urls[i], s->servers[i]))
            return 0;
    return 1;
}

static void check_add(proxy_health_checker_t *ck, const proxy_service_t *s)
{
    char err[256];
    proxy_health_spec_t spec;
    if (proxy_health_spec_parse(s->health_check, &spec, err, sizeof(err))) {
        hc_log(HC_LOG_WARN, "health check ignored", HC_LS("service", s->name), HC_LS("error", err),
               NULL);
        return;
    }
    check_t *c = hc_calloc(1, sizeof(*c));
    c->owner = ck;
    c->service = hc_strdup(s->name);
    c->spec_json = json_incref(s->health_check);
    c->spec = spec;
    const proxy_upstream_transport_t *t = s->transport ? s->transport->ready : NULL;
    if (t) { /* the service's servers transport applies to its checks too */
        c->tls = t->tls ? hc_tls_ctx_ref(t->tls) : NULL;
        c->server_name = t->server_name ? hc_strdup(t->server_name) : NULL;
    }
    c->n = s->nservers;
    c->urls = hc_calloc(c->n + 1, sizeof(char *));
    c->entries = hc_calloc(c->n + 1, sizeof(*c->entries));
    c->probes = hc_calloc(c->n + 1, sizeof(*c->probes));
    for (size_t i = 0; i < c->n; i++) {
        char key[1024];
        c->urls[i] = hc_strdup(s->servers[i]);
        snprintf(key, sizeof(key), "%s %s", s->name, s->servers[i]);
        c->entries[i] = proxy_health_ref(ck->h, key);
        atomic_fetch_add(&c->entries[i]->probers, 1);
        c->probes[i] = (probe_t){c, i, NULL};
    }
    c->seen = 1;
    uv_timer_init(ck->loop, &c->timer);
    uv_timer_init(ck->loop, &c->down_timer);
    c->timer.data = c->down_timer.data = c;
    c->open_timers = 2;
    uv_timer_start(&c->timer, check_tick, 0, spec.interval_ms);
    uint64_t down_ms = spec.unhealthy_interval_ms;
    c->split = down_ms && down_ms != spec.interval_ms;
    if (c->split)
        uv_timer_start(&c->down_timer, check_tick_down, down_ms, down_ms);
    c->next = ck->checks;
    ck->checks = c;
}

proxy_health_checker_t *proxy_health_checker_new(uv_loop_t *loop, proxy_health_t *h,
                                                 const char *ca_file, int insecure,
                                                 char *err, size_t errlen)
{
    hc_http_client_opts_t o = {.ca_file = ca_file, .insecure_skip_verify = insecure,
                               .max_idle_per_origin = 1};
    hc_http_client_t *cl = hc_http_client_new(loop, &o, err, errlen);
    if (!cl)
        return NULL;
    proxy_health_checker_t *c = hc_calloc(1, sizeof(*c));
    c->loop = loop;
    c->h = h;
    c->client = cl;
    return c;
}

void proxy_health_checker_set_config(proxy_health_checker_t *ck, const proxy_config_t *cfg)
{
    for (check_t *c = ck->checks; c; c = c->next)
        c->seen = 0;
    for (size_t i = 0; cfg && i < cfg->nservices; i++) {
        const proxy_service_t *s = &cfg->services[i];
        if (!s->health_check || s->type != PROXY_SERVICE_LOADBALANCER)
            continue;
        check_t *c = ck->checks;
        while (c && !check_same(c, s))
            c = c->next;
        if (c)
            c->seen = 1;
        else
            check_add(ck, s);
    }
    for (check_t **pp = &ck->checks; *pp;) {
        check_t *c = *pp;
        if (c->seen) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        check_free(c);
    }
}

void proxy_health_checker_free(proxy_health_checker_t *ck)
{
    if (!ck)
        return;
    while (ck->checks) {
        check_t *c = ck->checks;
        ck->checks = c->next;
        check_free(c);
    }
    hc_http_client_free(ck->client);
    hc_free(ck);
}
