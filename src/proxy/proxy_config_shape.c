/* The shapes of Traefik's dynamic configuration as its file provider decodes them
 * (traefik pkg/config/dynamic, pkg/tls): paerser matches a member's name to a Go field
 * without regard to case and refuses a file with a member no field takes ("field not
 * found"). pc_shape_check does the same for one object of a file: each member is renamed
 * to Traefik's spelling, so the readers find `entrypoints` as `entryPoints`; a member no
 * field takes refuses the object (a typo such as `caFile` must not leave client
 * certificates unchecked); a field hearth does not implement either refuses the object,
 * where ignoring it would serve something else than was asked, or is logged as ignored. */
#include "proxy/proxy_config_int.h"

#include "core/hc_log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    SH_REFUSE = 1, /* hearth lacks it: the object is refused */
    SH_IGNORE = 2, /* hearth lacks it: logged, the object serves without it */
    SH_LIST = 4,   /* a list whose elements have the field's shape */
};

typedef struct field {
    const char *name;
    const struct field *sub; /* the members of a mapping, NULL-named last; NULL: any value */
    unsigned flags;
    const char *why; /* for SH_REFUSE and SH_IGNORE */
} field_t;

#define END                                                                                        \
    {                                                                                              \
        NULL, NULL, 0, NULL                                                                        \
    }

static const field_t cookie[] = {{"name", NULL, 0, NULL},     {"secure", NULL, 0, NULL},
                                 {"httpOnly", NULL, 0, NULL}, {"sameSite", NULL, 0, NULL},
                                 {"maxAge", NULL, 0, NULL},   {"path", NULL, 0, NULL},
                                 {"domain", NULL, 0, NULL},   END};
static const field_t sticky[] = {{"cookie", cookie, 0, NULL}, END};
static const field_t cert_pair[] = {{"certFile", NULL, 0, NULL}, {"keyFile", NULL, 0, NULL}, END};

/* ---- routers ---- */

static const field_t router_tls[] = {
    {"options", NULL, 0, NULL},
    {"certResolver", NULL, SH_IGNORE, "no ACME resolver: the certificate comes from the files"},
    {"domains", NULL, SH_IGNORE, "no ACME resolver"},
    END};
static const field_t observability[] = {{"accessLogs", NULL, 0, NULL},
                                        {"metrics", NULL, 0, NULL},
                                        {"tracing", NULL, SH_IGNORE, "no tracing"},
                                        {"traceVerbosity", NULL, SH_IGNORE, "no tracing"},
                                        END};
static const field_t router_shape[] = {
    {"entryPoints", NULL, 0, NULL},
    {"middlewares", NULL, 0, NULL},
    {"service", NULL, 0, NULL},
    {"rule", NULL, 0, NULL},
    {"ruleSyntax", NULL, 0, NULL},
    {"priority", NULL, 0, NULL},
    {"tls", router_tls, 0, NULL},
    {"observability", observability, 0, NULL},
    {"parentRefs", NULL, SH_REFUSE,
     "multi-layer routing is not supported (the child would skip its parent's middlewares)"},
    END};

/* ---- services ---- */

static const field_t server[] = {
    {"url", NULL, 0, NULL}, {"weight", NULL, 0, NULL}, {"preservePath", NULL, 0, NULL}, END};
static const field_t health_check[] = {{"scheme", NULL, 0, NULL},
                                       {"mode", NULL, 0, NULL},
                                       {"path", NULL, 0, NULL},
                                       {"method", NULL, 0, NULL},
                                       {"status", NULL, 0, NULL},
                                       {"port", NULL, 0, NULL},
                                       {"interval", NULL, 0, NULL},
                                       {"unhealthyInterval", NULL, 0, NULL},
                                       {"timeout", NULL, 0, NULL},
                                       {"hostname", NULL, 0, NULL},
                                       {"followRedirects", NULL, 0, NULL},
                                       {"headers", NULL, 0, NULL},
                                       {"body", NULL, 0, NULL},
                                       END};
static const field_t passive_health[] = {
    {"failureWindow", NULL, 0, NULL}, {"maxFailedAttempts", NULL, 0, NULL}, END};
static const field_t forwarding[] = {{"flushInterval", NULL, 0, NULL}, END};
static const field_t load_balancer[] = {
    {"sticky", sticky, 0, NULL},
    {"servers", server, SH_LIST, NULL},
    {"strategy", NULL, 0, NULL},
    {"healthCheck", health_check, 0, NULL},
    {"passiveHealthCheck", passive_health, 0, NULL},
    {"passHostHeader", NULL, 0, NULL},
    {"responseForwarding", forwarding, 0, NULL}, /* hearth writes each piece at once */
    {"serversTransport", NULL, 0, NULL},
    END};
static const field_t weighted_child[] = {{"name", NULL, 0, NULL}, {"weight", NULL, 0, NULL}, END};
static const field_t weighted[] = {
    {"services", weighted_child, SH_LIST, NULL},
    {"sticky", sticky, 0, NULL},
    {"healthCheck", NULL, SH_IGNORE, "health is not propagated between services"},
    END};
static const field_t highest_random_weight[] = {
    {"services", weighted_child, SH_LIST, NULL},
    {"healthCheck", NULL, SH_IGNORE, "health is not propagated between services"},
    END};
static const field_t mirror[] = {{"name", NULL, 0, NULL}, {"percent", NULL, 0, NULL}, END};
static const field_t mirroring[] = {
    {"service", NULL, 0, NULL},
    {"mirrorBody", NULL, 0, NULL},
    {"maxBodySize", NULL, 0, NULL},
    {"mirrors", mirror, SH_LIST, NULL},
    {"healthCheck", NULL, SH_IGNORE, "health is not propagated between services"},
    END};
static const field_t failover[] = {
    {"service", NULL, 0, NULL},
    {"fallback", NULL, 0, NULL},
    {"healthCheck", NULL, SH_IGNORE, "health is not propagated between services"},
    END};
static const field_t service_shape[] = {{"loadBalancer", load_balancer, 0, NULL},
                                        {"weighted", weighted, 0, NULL},
                                        {"highestRandomWeight", highest_random_weight, 0, NULL},
                                        {"mirroring", mirroring, 0, NULL},
                                        {"failover", failover, 0, NULL},
                                        END};

/* ---- servers transports (their readers refuse what they do not implement) ---- */

static const field_t timeouts[] = {
    {"dialTimeout", NULL, 0, NULL},     {"responseHeaderTimeout", NULL, 0, NULL},
    {"idleConnTimeout", NULL, 0, NULL}, {"readIdleTimeout", NULL, 0, NULL},
    {"pingTimeout", NULL, 0, NULL},     END};
static const field_t transport_shape[] = {{"serverName", NULL, 0, NULL},
                                          {"insecureSkipVerify", NULL, 0, NULL},
                                          {"rootCAs", NULL, 0, NULL},
                                          {"certificates", cert_pair, SH_LIST, NULL},
                                          {"maxIdleConnsPerHost", NULL, 0, NULL},
                                          {"forwardingTimeouts", timeouts, 0, NULL},
                                          {"disableHTTP2", NULL, 0, NULL},
                                          {"peerCertURI", NULL, 0, NULL},
                                          {"spiffe", NULL, 0, NULL},
                                          {"cipherSuites", NULL, 0, NULL},
                                          {"minVersion", NULL, 0, NULL},
                                          {"maxVersion", NULL, 0, NULL},
                                          END};

/* ---- TLS ---- */

static const field_t client_auth[] = {
    {"caFiles", NULL, 0, NULL}, {"clientAuthType", NULL, 0, NULL}, END};
static const field_t tls_option_shape[] = {
    {"minVersion", NULL, 0, NULL},
    {"maxVersion", NULL, 0, NULL},
    {"cipherSuites", NULL, 0, NULL},
    {"curvePreferences", NULL, 0, NULL},
    {"clientAuth", client_auth, 0, NULL},
    {"sniStrict", NULL, 0, NULL},
    {"disableSessionTickets", NULL, 0, NULL},
    {"preferServerCipherSuites", NULL, 0, NULL}, /* deprecated by Go, a no-op there too */
    {"alpnProtocols", NULL, SH_IGNORE, "ALPN offers http/1.1 only"},
    END};
static const field_t certificate_shape[] = {
    {"certFile", NULL, 0, NULL}, {"keyFile", NULL, 0, NULL}, {"stores", NULL, 0, NULL}, END};
static const field_t store_shape[] = {
    {"defaultCertificate", cert_pair, 0, NULL},
    {"defaultGeneratedCert", NULL, SH_IGNORE, "no ACME resolver: the generated certificate serves"},
    END};

/* ---- the file's sections (their members are checked one by one, by kind) ---- */

static const field_t http_sections[] = {
    {"routers", NULL, 0, NULL},
    {"services", NULL, 0, NULL},
    {"middlewares", NULL, 0, NULL},
    {"serversTransports", NULL, 0, NULL},
    {"models", NULL, SH_IGNORE, "router models belong to entry points"},
    END};
static const field_t tls_sections[] = {
    {"certificates", NULL, 0, NULL}, {"options", NULL, 0, NULL}, {"stores", NULL, 0, NULL}, END};
static const field_t file_shape[] = {{"http", http_sections, 0, NULL},
                                     {"tcp", NULL, 0, NULL},
                                     {"udp", NULL, 0, NULL},
                                     {"tls", tls_sections, 0, NULL},
                                     END};

static const field_t *find(const field_t *f, const char *key)
{
    for (; f->name; f++)
        if (!strcasecmp(f->name, key))
            return f;
    return NULL;
}

static int check(json_t *o, const field_t *shape, const char *path, char *err, size_t errlen,
                 const char *kind, const char *name);

/* One member's value against its field; path names it in messages. */
static int check_value(json_t *v, const field_t *f, const char *path, char *err, size_t errlen,
                       const char *kind, const char *name)
{
    char sub[256];
    size_t i;
    json_t *e;
    if (!f->sub || json_is_null(v))
        return 0;
    if (!(f->flags & SH_LIST))
        return json_is_object(v) ? check(v, f->sub, path, err, errlen, kind, name) : 0;
    int rc = 0;
    json_array_foreach(v, i, e)
    {
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (json_is_object(e) && check(e, f->sub, sub, rc ? NULL : err, errlen, kind, name) < 0)
            rc = -1;
    }
    return rc;
}

static int check(json_t *o, const field_t *shape, const char *path, char *err, size_t errlen,
                 const char *kind, const char *name)
{
    const char *key;
    json_t *v, *tmp, *renamed = NULL;
    int rc = 0;
    json_object_foreach_safe(o, tmp, key, v)
    {
        char at[256];
        const field_t *f = find(shape, key);
        snprintf(at, sizeof(at), "%s%s%s", path, *path ? "." : "", f ? f->name : key);
        if (!f || (f->flags & SH_REFUSE)) { /* the first one told, the others still renamed */
            if (!rc && err && f)
                snprintf(err, errlen, "%s: %s", at, f->why);
            else if (!rc && err)
                snprintf(err, errlen, "field not found: %s", at);
            rc = -1;
            continue;
        }
        if (f->flags & SH_IGNORE)
            hc_log(HC_LOG_WARN, "configuration field ignored", HC_LS("kind", kind),
                   HC_LS("name", name), HC_LS("field", at), HC_LS("reason", f->why), NULL);
        if (check_value(v, f, at, rc ? NULL : err, errlen, kind, name) < 0)
            rc = -1;
        if (strcmp(key, f->name)) { /* Traefik's spelling, for the readers, once done */
            if (!renamed)
                renamed = json_object();
            json_object_set(renamed, f->name, v);
            json_object_del(o, key);
        }
    }
    if (renamed)
        json_object_update(o, renamed);
    json_decref(renamed);
    return rc;
}

int pc_shape_check(json_t *o, pc_shape_t shape, const char *kind, const char *name, char *err,
                   size_t errlen)
{
    static const field_t *const shapes[] = {
        [PC_SHAPE_FILE] = file_shape,
        [PC_SHAPE_ROUTER] = router_shape,
        [PC_SHAPE_SERVICE] = service_shape,
        [PC_SHAPE_TRANSPORT] = transport_shape,
        [PC_SHAPE_TLS_OPTION] = tls_option_shape,
        [PC_SHAPE_CERTIFICATE] = certificate_shape,
        [PC_SHAPE_STORE] = store_shape,
    };
    return json_is_object(o) && shapes[shape] ? check(o, shapes[shape], "", err, errlen, kind, name)
                                              : 0;
}
