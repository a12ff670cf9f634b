/* A generation's servers transports (proxy_runtime_int.h): each configuration
 * ServersTransport made into a client TLS context and timeouts the forward uses. */
#include "proxy/proxy_runtime_int.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "proxy/proxy_upstream.h"

#include <errno.h>
#include <string.h>

#define CA_MAX (4u << 20) /* rootCAs in all */

/* rootCAs: PEM text or file paths, concatenated into b. */
static int root_cas(const json_t *list, hc_buf_t *b, char *err, size_t errlen)
{
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        char *owned = NULL;
        size_t len = 0;
        const char *pem = proxy_gen_file_or_pem(json_string_value(v), &len, &owned, err, errlen);
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

/* The first of certificates ({certFile, keyFile}, each PEM text or a path) becomes the
 * client certificate of ctx (Go presents the first one when the server's CAs do not
 * single out another). */
static int client_cert(hc_tls_ctx_t *ctx, const json_t *certs, char *err, size_t errlen)
{
    const json_t *c = json_array_get(certs, 0);
    if (!c)
        return 0;
    char *cown = NULL, *kown = NULL;
    size_t clen = 0, klen = 0;
    const char *crt = proxy_gen_file_or_pem(json_string_value(proxy_mw_json_get(c, "certFile")),
                                            &clen, &cown, err, errlen);
    const char *key =
        crt ? proxy_gen_file_or_pem(json_string_value(proxy_mw_json_get(c, "keyFile")), &klen,
                                    &kown, err, errlen)
            : NULL;
    int rc = crt && key ? hc_tls_client_set_cert(ctx, crt, clen, key, klen, err, errlen) : -EINVAL;
    hc_free(cown);
    hc_free(kown);
    return rc;
}

/* The fields of spec into t. Returns 0 or -EINVAL with err. */
static int transport_make(const json_t *spec, proxy_upstream_transport_t *t, char *err,
                          size_t errlen)
{
    static const char *const refused[] = {"peerCertURI", "spiffe"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (proxy_mw_json_get(spec, refused[i]))
            return hc_errf(err, errlen, -EINVAL, "%s is not supported", refused[i]);
    int insecure = 0;
    char *server_name = NULL;
    long long max_idle = 0;
    const json_t *ft = proxy_mw_json_get(spec, "forwardingTimeouts");
    uint64_t dial = 0, header = 0, idle = 0;
    if (proxy_mw_json_bool(spec, "insecureSkipVerify", &insecure, err, errlen) ||
        proxy_mw_json_str(spec, "serverName", &server_name, err, errlen) ||
        proxy_mw_json_int(spec, "maxIdleConnsPerHost", &max_idle, err, errlen) ||
        proxy_mw_json_duration(ft, "dialTimeout", "forwardingTimeouts", &dial, err, errlen) ||
        proxy_mw_json_duration(ft, "responseHeaderTimeout", "forwardingTimeouts", &header, err,
                               errlen) ||
        proxy_mw_json_duration(ft, "idleConnTimeout", "forwardingTimeouts", &idle, err, errlen)) {
        hc_free(server_name);
        return -EINVAL;
    }
    const json_t *cas = proxy_mw_json_get(spec, "rootCAs");
    const json_t *certs = proxy_mw_json_get(spec, "certificates");
    hc_buf_t b;
    hc_buf_init(&b, CA_MAX);
    int rc = root_cas(cas, &b, err, errlen);
    if (rc == 0 && !insecure && b.len)
        t->tls = hc_tls_client_new_roots(b.base, b.len, err, errlen);
    else if (rc == 0 && (insecure || json_array_size(certs)))
        t->tls = hc_tls_client_new(NULL, !insecure, err, errlen);
    if (rc == 0 && (insecure || b.len || json_array_size(certs)) && !t->tls)
        rc = -EINVAL;
    if (rc == 0 && t->tls)
        rc = client_cert(t->tls, certs, err, errlen);
    hc_buf_free(&b);
    t->server_name = server_name && *server_name ? server_name : NULL;
    if (!t->server_name)
        hc_free(server_name);
    t->dial_timeout_ms = dial / 1000000u;
    t->header_timeout_ms = header / 1000000u;
    return rc;
}

static void transport_clear(proxy_upstream_transport_t *t)
{
    hc_tls_ctx_unref(t->tls);
    hc_free(t->server_name);
    hc_free(t->name);
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

void proxy_gen_transports_build(proxy_gen_t *g)
{
    proxy_config_t *cfg = g->cfg;
    g->transports = hc_calloc(cfg->ntransports ? cfg->ntransports : 1, sizeof(*g->transports));
    for (size_t i = 0; i < cfg->ntransports; i++) {
        proxy_transport_t *ct = &cfg->transports[i];
        proxy_upstream_transport_t *t = &g->transports[g->ntransports];
        char err[512] = "";
        if (transport_make(ct->spec, t, err, sizeof(err)) != 0) {
            transport_clear(t);
            memset(t, 0, sizeof(*t));
            proxy_gen_error_add(g, ct->source, "serversTransport", "", ct->name, "%s", err);
            continue;
        }
        t->name = hc_strdup(ct->name);
        ct->ready = t;
        g->ntransports++;
    }
    for (size_t r = 0; r < cfg->nrouters; r++) {
        proxy_router_t *rt = &cfg->routers[r];
        if (rt->status != PROXY_STATUS_DISABLED && service_broken(rt->service, 0)) {
            char msg[320];
            snprintf(msg, sizeof(msg),
                     "the service \"%.200s\" uses a servers transport that "
                     "could not be built",
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
