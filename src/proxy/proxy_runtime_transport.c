/* A generation's servers transports (proxy_runtime_int.h): each configuration
 * ServersTransport made into a client TLS context and timeouts the forward uses, or
 * carried over from the generation before when neither it nor the files it names
 * changed (the pooled connections are keyed by the context). */
#include "proxy/proxy_runtime_int.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "proxy/proxy_upstream.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#define CA_MAX (4u << 20) /* rootCAs in all */
#define MS 1000000u

static void stamp(const json_t *v, hc_buf_t *out, int depth)
{
    size_t i;
    const char *k;
    json_t *e;
    struct stat st;
    if (depth > 32)
        return;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (*s && json_string_length(v) < 4096 && !strchr(s, '\n') && stat(s, &st) == 0 &&
            S_ISREG(st.st_mode))
            hc_buf_printf(out, "%s:%lld:%lld.%09ld:%llu\n", s, (long long)st.st_size,
                          (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                          (unsigned long long)st.st_ino);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e) stamp(e, out, depth + 1);
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, e) stamp(e, out, depth + 1);
    }
}

char *proxy_gen_files_stamp(const json_t *v)
{
    hc_buf_t b;
    hc_buf_init(&b, 0);
    stamp(v, &b, 0);
    char *s = hc_strdup(b.len && !hc_buf_append(&b, "", 1) ? b.base : "");
    hc_buf_free(&b);
    return s;
}

/* rootCAs: PEM text, or file paths when files_ok, concatenated into b. */
static int root_cas(const json_t *list, int files_ok, hc_buf_t *b, char *err, size_t errlen)
{
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        char *owned = NULL;
        size_t len = 0;
        const char *pem =
            proxy_gen_file_or_pem(json_string_value(v), files_ok, &len, &owned, err, errlen);
        int rc = !pem ? -EINVAL
                 : hc_buf_append(b, pem, len) || hc_buf_puts(b, "\n")
                     ? hc_errf(err, errlen, -EINVAL, "rootCAs: more than %u bytes", CA_MAX)
                     : 0;
        hc_free(owned);
        if (rc)
            return rc;
    }
    return 0;
}

/* Each of certificates ({certFile, keyFile}, each PEM text or a path) becomes a client
 * certificate of ctx, in order (the TLS layer presents the first one the server's CAs
 * issued). */
static int client_certs(hc_tls_ctx_t *ctx, const json_t *certs, int files_ok, char *err,
                        size_t errlen)
{
    size_t i;
    const json_t *c;
    json_array_foreach(certs, i, c)
    {
        char *cown = NULL, *kown = NULL;
        size_t clen = 0, klen = 0;
        const char *crt = proxy_gen_file_or_pem(json_string_value(proxy_mw_json_get(c, "certFile")),
                                                files_ok, &clen, &cown, err, errlen);
        const char *key =
            crt ? proxy_gen_file_or_pem(json_string_value(proxy_mw_json_get(c, "keyFile")),
                                        files_ok, &klen, &kown, err, errlen)
                : NULL;
        int rc =
            crt && key ? hc_tls_client_add_cert(ctx, crt, clen, key, klen, err, errlen) : -EINVAL;
        hc_free(cown);
        hc_free(kown);
        if (rc)
            return rc;
    }
    return 0;
}

#define ABSENT UINT64_MAX                         /* a duration not given */
#define NO_TIMEOUT_MS (365ull * 24 * 3600 * 1000) /* "0 = no timeout": the client needs one */

/* A duration in whole milliseconds, rounded up (500us is not "none"). */
static uint64_t to_ms(uint64_t ns)
{
    return ns / MS + (ns % MS != 0);
}

/* The fields of spec into t. Returns 0 or -EINVAL with err. */
static int transport_make(const json_t *spec, int files_ok, proxy_upstream_transport_t *t,
                          char *err, size_t errlen)
{
    /* fields that would ask for more than hearth does: refused, never ignored */
    static const char *const refused[] = {"peerCertURI", "spiffe", "cipherSuites"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (proxy_mw_json_get(spec, refused[i]))
            return hc_errf(err, errlen, -EINVAL, "%s is not supported", refused[i]);
    const json_t *ft = proxy_mw_json_get(spec, "forwardingTimeouts");
    const json_t *cas = proxy_mw_json_get(spec, "rootCAs");
    const json_t *certs = proxy_mw_json_get(spec, "certificates");
    if ((cas && !json_is_array(cas)) || (certs && !json_is_array(certs)) ||
        (ft && !json_is_object(ft)))
        return hc_errf(err, errlen, -EINVAL,
                       "rootCAs and certificates must be lists, forwardingTimeouts a mapping");
    int insecure = 0;
    char *server_name = NULL, *min = NULL, *max = NULL;
    long long max_idle = 0;
    uint64_t dial = ABSENT, header = 0, idle = ABSENT;
    int rc = 0;
    if (proxy_mw_json_bool(spec, "insecureSkipVerify", &insecure, err, errlen) ||
        proxy_mw_json_str(spec, "serverName", &server_name, err, errlen) ||
        proxy_mw_json_str(spec, "minVersion", &min, err, errlen) ||
        proxy_mw_json_str(spec, "maxVersion", &max, err, errlen) ||
        proxy_mw_json_int(spec, "maxIdleConnsPerHost", &max_idle, err, errlen) ||
        proxy_mw_json_duration(ft, "dialTimeout", "forwardingTimeouts", &dial, err, errlen) ||
        proxy_mw_json_duration(ft, "responseHeaderTimeout", "forwardingTimeouts", &header, err,
                               errlen) ||
        proxy_mw_json_duration(ft, "idleConnTimeout", "forwardingTimeouts", &idle, err, errlen))
        rc = -EINVAL;
    hc_buf_t b;
    hc_buf_init(&b, CA_MAX);
    if (rc == 0)
        rc = root_cas(cas, files_ok, &b, err, errlen);
    int own_ctx = insecure || b.len || json_array_size(certs) || min || max;
    if (rc == 0 && own_ctx) {
        t->tls = !insecure && b.len ? hc_tls_client_new_roots(b.base, b.len, err, errlen)
                                    : hc_tls_client_new(NULL, !insecure, err, errlen);
        rc = t->tls ? 0 : -EINVAL;
    }
    if (rc == 0 && (min || max))
        rc = hc_tls_client_set_versions(t->tls, min, max, err, errlen);
    if (rc == 0 && t->tls)
        rc = client_certs(t->tls, certs, files_ok, err, errlen);
    hc_buf_free(&b);
    hc_free(min);
    hc_free(max);
    t->server_name = server_name && *server_name ? server_name : NULL;
    if (!t->server_name)
        hc_free(server_name);
    /* Go's: dialTimeout and idleConnTimeout 0 = none, an unset maxIdleConnsPerHost = 2
     * (http.DefaultMaxIdleConnsPerHost, not the default transport's 200), a negative one
     * keeps no connection idle */
    t->dial_timeout_ms = dial == ABSENT ? 0 : dial ? to_ms(dial) : NO_TIMEOUT_MS;
    t->header_timeout_ms = to_ms(header);
    t->idle_ms = idle == ABSENT ? 0 : idle ? to_ms(idle) : UINT64_MAX;
    t->max_idle = max_idle < 0 ? -1 : !max_idle ? 2 : max_idle > INT_MAX ? INT_MAX : (int)max_idle;
    return rc;
}

static void transport_clear(proxy_upstream_transport_t *t)
{
    hc_tls_ctx_unref(t->tls);
    hc_free(t->server_name);
    hc_free(t->name);
    json_decref(t->spec);
    hc_free(t->files);
    memset(t, 0, sizeof(*t));
}

/* The previous generation's transport of that name, when built from the same spec and
 * the same files. */
static const proxy_upstream_transport_t *unchanged(const proxy_gen_t *prev,
                                                   const proxy_transport_t *ct, const char *files)
{
    for (size_t i = 0; prev && i < prev->ntransports; i++) {
        const proxy_upstream_transport_t *p = &prev->transports[i];
        if (!strcmp(p->name, ct->name) && json_equal(p->spec, ct->spec) && !strcmp(p->files, files))
            return p;
    }
    return NULL;
}

/* Whether s, or a weighted child of it, goes through a transport that could not be built. */
static int service_broken(const proxy_service_t *s, int depth)
{
    if (!s || depth > 16)
        return 0;
    if (s->transport && !s->transport->ready)
        return 1;
    for (size_t i = 0; i < s->nweighted; i++)
        if (service_broken(s->weighted[i].service, depth + 1))
            return 1;
    return 0;
}

void proxy_gen_transports_build(proxy_gen_t *g, const proxy_gen_t *prev)
{
    proxy_config_t *cfg = g->cfg;
    g->transports = hc_calloc(cfg->ntransports ? cfg->ntransports : 1, sizeof(*g->transports));
    for (size_t i = 0; i < cfg->ntransports; i++) {
        proxy_transport_t *ct = &cfg->transports[i];
        proxy_upstream_transport_t *t = &g->transports[g->ntransports];
        int files_ok = ct->provider == PROXY_PROVIDER_FILE;
        char *files = files_ok ? proxy_gen_files_stamp(ct->spec) : hc_strdup("");
        const proxy_upstream_transport_t *p = unchanged(prev, ct, files);
        char err[512] = "";
        if (p) {
            t->tls = p->tls ? hc_tls_ctx_ref(p->tls) : NULL;
            t->server_name = p->server_name ? hc_strdup(p->server_name) : NULL;
            t->dial_timeout_ms = p->dial_timeout_ms;
            t->header_timeout_ms = p->header_timeout_ms;
            t->max_idle = p->max_idle;
            t->idle_ms = p->idle_ms;
        } else if (transport_make(ct->spec, files_ok, t, err, sizeof(err)) != 0) {
            transport_clear(t);
            hc_free(files);
            proxy_gen_error_add(g, ct->source, "serversTransport", "", ct->name, "%s", err);
            continue;
        }
        t->name = hc_strdup(ct->name);
        t->spec = json_incref(ct->spec);
        t->files = files;
        ct->ready = t;
        g->ntransports++;
    }
    for (size_t r = 0; r < cfg->nrouters; r++) {
        proxy_router_t *rt = &cfg->routers[r];
        if (rt->status != PROXY_STATUS_DISABLED && service_broken(rt->service, 0)) {
            char msg[320];
            snprintf(msg, sizeof(msg),
                     "the service \"%.200s\" uses a servers transport that could not be built",
                     rt->service_name);
            proxy_config_router_fail(rt, PROXY_STATUS_DISABLED, msg);
            proxy_gen_error_add(g, rt->source, "router", "", rt->name, "%s", msg);
        }
    }
}

void proxy_gen_transports_free(proxy_gen_t *g)
{
    for (size_t i = 0; i < g->ntransports; i++)
        transport_clear(&g->transports[i]);
    hc_free(g->transports);
}
