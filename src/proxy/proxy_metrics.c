/* Traefik's Prometheus metrics for the proxy (proxy_metrics.h): family registration,
 * per-worker series caches (an open-addressing table keyed by the label values), and
 * the gauges refreshed from a generation on the main loop. */
#include "proxy/proxy_metrics.h"

#include "core/hc_alloc.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS 4096u /* per worker; past 3/4 full, series resolve uncached */

static struct {
    hc_metric_t *reloads, *last_ok, *open_conns;
    hc_metric_t *ep_reqs, *ep_dur, *ep_tls, *ep_req_bytes, *ep_resp_bytes, *svc_tls;
    hc_metric_t *svc_reqs, *svc_dur, *svc_req_bytes, *svc_resp_bytes;
    hc_metric_t *server_up, *cert_not_after, *svc_retries;
} fam;

/* Traefik's request-duration buckets. */
static const double dur_buckets[] = {0.1, 0.3, 1.2, 5};

void proxy_metrics_init(void)
{
    hc_metrics_t *r = hc_metrics_default();
    static const char *const ep_l[] = {"code", "method", "protocol", "entrypoint", NULL};
    static const char *const svc_l[] = {"code", "method", "protocol", "service", NULL};
    fam.reloads = hc_metrics_counter(r, "traefik_config_reloads_total", "Config reloads", NULL);
    fam.last_ok = hc_metrics_gauge(r, "traefik_config_last_reload_success",
                                   "Last config reload success", NULL);
    fam.open_conns = hc_metrics_gauge(r, "traefik_open_connections",
                                      "How many open connections exist, by entryPoint and protocol",
                                      (const char *[]){"entrypoint", "protocol", NULL});
    fam.ep_reqs = hc_metrics_counter(r, "traefik_entrypoint_requests_total",
                                     "How many HTTP requests processed on an entrypoint, "
                                     "partitioned by status code, protocol, and method.", ep_l);
    fam.ep_dur = hc_metrics_histogram(r, "traefik_entrypoint_request_duration_seconds",
                                      "How long it took to process the request on an "
                                      "entrypoint, partitioned by status code, protocol, and "
                                      "method.", ep_l, dur_buckets, 4);
    fam.ep_tls = hc_metrics_counter(r, "traefik_entrypoint_requests_tls_total",
                                    "How many HTTP requests with TLS processed on an entrypoint, "
                                    "partitioned by TLS Version and TLS cipher Used.",
                                    (const char *[]){"tls_version", "tls_cipher", "entrypoint",
                                                     NULL});
    fam.ep_req_bytes = hc_metrics_counter(r, "traefik_entrypoint_requests_bytes_total",
                                          "The total size of requests in bytes handled by an "
                                          "entrypoint, partitioned by status code, protocol, "
                                          "and method.", ep_l);
    fam.ep_resp_bytes = hc_metrics_counter(r, "traefik_entrypoint_responses_bytes_total",
                                           "The total size of responses in bytes handled by an "
                                           "entrypoint, partitioned by status code, protocol, "
                                           "and method.", ep_l);
    fam.svc_reqs = hc_metrics_counter(r, "traefik_service_requests_total",
                                      "How many HTTP requests processed on a service, "
                                      "partitioned by status code, protocol, and method.", svc_l);
    fam.svc_tls =
        hc_metrics_counter(r, "traefik_service_requests_tls_total",
                           "How many HTTP requests with TLS processed on a service, "
                           "partitioned by TLS version and TLS cipher.",
                           (const char *[]){"tls_version", "tls_cipher", "service", NULL});
    fam.svc_dur = hc_metrics_histogram(r, "traefik_service_request_duration_seconds",
                                       "How long it took to process the request on a service, "
                                       "partitioned by status code, protocol, and method.",
                                       svc_l, dur_buckets, 4);
    fam.svc_req_bytes = hc_metrics_counter(r, "traefik_service_requests_bytes_total",
                                           "The total size of requests in bytes received by a "
                                           "service, partitioned by status code, protocol, and "
                                           "method.", svc_l);
    fam.svc_resp_bytes = hc_metrics_counter(r, "traefik_service_responses_bytes_total",
                                            "The total size of responses in bytes returned by a "
                                            "service, partitioned by status code, protocol, and "
                                            "method.", svc_l);
    fam.svc_retries = hc_metrics_counter(r, "traefik_service_retries_total",
                                         "How many request retries happened on a service.",
                                         (const char *[]){"service", NULL});
    fam.server_up = hc_metrics_gauge(r, "traefik_service_server_up",
                                     "service server is up, described by gauge value of 0 or 1.",
                                     (const char *[]){"service", "url", NULL});
    fam.cert_not_after = hc_metrics_gauge(r, "traefik_tls_certs_not_after",
                                          "Certificate expiration timestamp",
                                          (const char *[]){"cn", "serial", "sans", NULL});
}

void proxy_metrics_reload(int ok)
{
    hc_metrics_counter_inc(hc_metrics_series(fam.reloads, NULL));
    if (ok)
        hc_metrics_gauge_set(hc_metrics_series(fam.last_ok, NULL), (double)time(NULL));
}

void proxy_metrics_retries(const char *service, unsigned n)
{
    hc_metrics_counter_add(hc_metrics_series(fam.svc_retries, (const char *[]){service}), n);
}

/* Whether the (service, url) of a server_up series is a server of g's configuration. */
static int server_in_gen(void *ud, const char *const *values)
{
    const proxy_gen_t *g = ud;
    const proxy_service_t *s = proxy_config_service(g->cfg, values[0]);
    for (size_t k = 0; s && k < s->nservers; k++)
        if (!strcmp(s->servers[k], values[1]))
            return 1;
    return 0;
}

/* Whether a tls_certs_not_after series (cn, serial, sans) is a certificate of g. */
static int cert_in_gen(void *ud, const char *const *values)
{
    const proxy_gen_t *g = ud;
    for (size_t i = 0; i < g->ncert_info; i++) {
        const proxy_gen_cert_t *c = &g->cert_info[i];
        if (!strcmp(c->cn, values[0]) && !strcmp(c->serial, values[1]) &&
            !strcmp(c->sans, values[2]))
            return 1;
    }
    return 0;
}

void proxy_metrics_refresh(const proxy_gen_t *g,
                           int (*up)(void *ud, const proxy_service_t *s, const char *url), void *ud)
{
    if (g) { /* the series of servers and certificates gone from the configuration go too
                (Traefik drops a removed server's; a rotated certificate's would alert) */
        hc_metrics_retain(fam.server_up, server_in_gen, (void *)g);
        hc_metrics_retain(fam.cert_not_after, cert_in_gen, (void *)g);
    }
    for (size_t i = 0; g && i < g->cfg->nservices; i++) {
        const proxy_service_t *s = &g->cfg->services[i];
        for (size_t k = 0; s->provider != PROXY_PROVIDER_INTERNAL && k < s->nservers; k++) {
            int u = !up || up(ud, s, s->servers[k]);
            hc_metrics_gauge_set(hc_metrics_series(fam.server_up,
                                                   (const char *[]){s->name, s->servers[k]}),
                                 u);
        }
    }
    for (size_t i = 0; g && i < g->ncert_info; i++) {
        const proxy_gen_cert_t *c = &g->cert_info[i];
        hc_metrics_gauge_set(
            hc_metrics_series(fam.cert_not_after, (const char *[]){c->cn, c->serial, c->sans}),
            (double)c->not_after);
    }
}

/* ---- per-worker caches ---- */

typedef struct slot {
    uint64_t hash;
    char *key; /* the label values joined by '\0', owned */
    size_t key_len;
    hc_series_t *s[4]; /* requests, duration, request bytes, response bytes (or one) */
} slot_t;

/* The last key looked up per family group: consecutive requests on a worker mostly
 * share their labels, and a match skips the hash and the probe. */
typedef struct memo {
    char key[128];
    size_t len; /* 0: empty */
    hc_series_t *s[4];
} memo_t;

struct proxy_metrics_worker {
    slot_t *slots;
    size_t used;
    memo_t memo[2]; /* entrypoint ('e') and service ('s') series */
};

proxy_metrics_worker_t *proxy_metrics_worker_new(void)
{
    proxy_metrics_worker_t *w = hc_calloc(1, sizeof(*w));
    w->slots = hc_calloc(CACHE_SLOTS, sizeof(slot_t));
    return w;
}

void proxy_metrics_worker_free(proxy_metrics_worker_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        hc_free(w->slots[i].key);
    hc_free(w->slots);
    hc_free(w);
}

/* FNV-1a over the family tag and the values. */
static uint64_t key_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    return h;
}

/* Packs tag and values into buf ("tag\0v1\0v2\0..."); returns the length or 0. */
static size_t key_pack(char *buf, size_t cap, char tag, const char *const *v, int n)
{
    size_t len = 0;
    buf[len++] = tag;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (len + l + 1 > cap)
            return 0;
        memcpy(buf + len, v[i], l + 1);
        len += l + 1;
    }
    return len;
}

/* The series of families f[0..nf) for the packed key (len 0: too long to cache). */
static void resolve(proxy_metrics_worker_t *w, hc_metric_t *const *f, int nf,
                    const char *const *v, const char *key, size_t len, hc_series_t **out)
{
    uint64_t h = len ? key_hash(key, len) : 0;
    for (size_t i = 0; len && i < CACHE_SLOTS; i++) {
        slot_t *s = &w->slots[(h + i) & (CACHE_SLOTS - 1)];
        if (s->key && s->hash == h && s->key_len == len && !memcmp(s->key, key, len)) {
            memcpy(out, s->s, (size_t)nf * sizeof(*out));
            return;
        }
        if (s->key)
            continue;
        for (int k = 0; k < nf; k++)
            out[k] = hc_metrics_series(f[k], v);
        if (w->used >= CACHE_SLOTS / 4 * 3)
            return;
        s->hash = h;
        s->key = hc_memdup(key, len);
        s->key_len = len;
        memcpy(s->s, out, (size_t)nf * sizeof(*out));
        w->used++;
        return;
    }
    for (int k = 0; k < nf; k++)
        out[k] = hc_metrics_series(f[k], v);
}

/* 1 when the memo holds values v (its key packed as key_pack does), compared in one
 * pass without packing them first. */
static int memo_match(const memo_t *m, const char *const *v, int n)
{
    if (!m->len)
        return 0;
    const char *k = m->key + 1; /* after the tag */
    for (int i = 0; i < n; i++) {
        const char *p = v[i];
        while (*p && *p == *k)
            p++, k++;
        if (*p != *k)
            return 0;
        k++;
    }
    return 1;
}

/* The series of families f[0..nf) for values v, cached. out gets nf series. */
static void lookup(proxy_metrics_worker_t *w, char tag, hc_metric_t *const *f, int nf,
                   const char *const *v, int nv, hc_series_t **out)
{
    char key[1024];
    memo_t *m = tag == 'e' ? &w->memo[0] : tag == 's' ? &w->memo[1] : NULL;
    if (m && memo_match(m, v, nv)) {
        memcpy(out, m->s, (size_t)nf * sizeof(*out));
        return;
    }
    size_t len = key_pack(key, sizeof(key), tag, v, nv);
    resolve(w, f, nf, v, key, len, out);
    if (m && len && len <= sizeof(m->key)) {
        memcpy(m->key, key, len);
        m->len = len;
        memcpy(m->s, out, (size_t)nf * sizeof(*out));
    }
}

static void observe4(hc_series_t *const *s, double seconds, uint64_t req_bytes, uint64_t resp_bytes)
{
    hc_metrics_counter_inc(s[0]);
    hc_metrics_histogram_observe(s[1], seconds);
    hc_metrics_counter_add(s[2], req_bytes);
    hc_metrics_counter_add(s[3], resp_bytes);
}

/* The status as the label value ("200"): decimal digits without snprintf's cost. */
static void code_format(int code, char out[12])
{
    char tmp[12];
    size_t n = 0;
    unsigned v = code < 0 ? 0u - (unsigned)code : (unsigned)code;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < sizeof(tmp) - 1);
    size_t k = 0;
    if (code < 0)
        out[k++] = '-';
    while (n)
        out[k++] = tmp[--n];
    out[k] = '\0';
}

/* The method label: RFC 9110's methods, PATCH and PRI as sent, any other EXTENSION_METHOD
 * (Traefik's getMethod: a client cannot grow the series without bound). */
static const char *method_label(const char *m)
{
    static const char *const known[] = {"GET",    "HEAD",    "POST",    "PUT",   "PATCH",
                                        "DELETE", "CONNECT", "OPTIONS", "TRACE", "PRI"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(m, known[i]))
            return known[i];
    return "EXTENSION_METHOD";
}

void proxy_metrics_observe(proxy_metrics_worker_t *w, const proxy_metrics_req_t *r)
{
    char code[12];
    code_format(r->code, code);
    const char *method = method_label(r->method);
    hc_series_t *s[4];
    hc_metric_t *ep[4] = {fam.ep_reqs, fam.ep_dur, fam.ep_req_bytes, fam.ep_resp_bytes};
    if (r->entrypoint) {
        lookup(w, 'e', ep, 4, (const char *[]){code, method, r->protocol, r->entrypoint}, 4, s);
        observe4(s, r->seconds, r->req_bytes, r->resp_bytes);
    }
    if (r->service) {
        hc_metric_t *sv[4] = {fam.svc_reqs, fam.svc_dur, fam.svc_req_bytes, fam.svc_resp_bytes};
        lookup(w, 's', sv, 4, (const char *[]){code, method, r->protocol, r->service}, 4, s);
        observe4(s, r->svc_seconds, r->req_bytes, r->svc_resp_bytes);
    }
    if (r->tls_version && r->tls_cipher) {
        lookup(w, 't', &fam.ep_tls, 1,
               (const char *[]){r->tls_version, r->tls_cipher, r->entrypoint}, 3, s);
        hc_metrics_counter_inc(s[0]);
        if (r->service) {
            lookup(w, 'u', &fam.svc_tls, 1,
                   (const char *[]){r->tls_version, r->tls_cipher, r->service}, 3, s);
            hc_metrics_counter_inc(s[0]);
        }
    }
}

void proxy_metrics_connections(proxy_metrics_worker_t *w, const char *entrypoint, double delta)
{
    hc_series_t *s;
    lookup(w, 'c', &fam.open_conns, 1, (const char *[]){entrypoint, "TCP"}, 2, &s);
    hc_metrics_gauge_add(s, delta);
}
