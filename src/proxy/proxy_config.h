/* The proxy's configuration model: Kubernetes objects (Ingress, IngressClass, Service,
 * Endpoints, EndpointSlice, TLS Secret, Traefik IngressRoute, TraefikService, Middleware
 * and TLSOption CRDs) and a Traefik file-provider dynamic configuration in, Traefik's
 * routers, services, middlewares, TLS options and certificates out, named exactly as
 * Traefik names them.
 * Start reading here; proxy_route.h turns a built config into the per-request table.
 *
 * Flow: hc_manifest/hc_yaml give json_t objects -> proxy_config_build -> proxy_config_t
 * (immutable) -> proxy_route_build per entry point -> proxy_route_match per request.
 *
 * Broken objects never fail the build: each becomes a proxy_config_error_t (source
 * "file:line", kind/namespace/name, message) and is skipped. A router whose service,
 * middleware or TLS option does not exist is kept with status DISABLED and its errors
 * (as Traefik's API shows it); one whose TLS Secret is missing is kept as WARNING and is
 * served with the default certificate.
 *
 * Glossary: "qualified name" = name@provider, e.g. default-security-headers@kubernetescrd. */
#ifndef PROXY_CONFIG_H
#define PROXY_CONFIG_H

#include "proxy/proxy_rule.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef enum proxy_provider {
    PROXY_PROVIDER_KUBERNETES,    /* Ingress and what it implies: "@kubernetes" */
    PROXY_PROVIDER_KUBERNETESCRD, /* Traefik's CRDs: "@kubernetescrd" */
    PROXY_PROVIDER_FILE,          /* file-provider dynamic configuration: "@file" */
    PROXY_PROVIDER_INTERNAL,      /* api@internal, dashboard@internal, noop@internal, ... */
} proxy_provider_t;

typedef enum proxy_status {
    PROXY_STATUS_ENABLED,
    PROXY_STATUS_WARNING,  /* served, with errors (a missing TLS Secret) */
    PROXY_STATUS_DISABLED, /* not served: broken rule or a missing reference */
} proxy_status_t;

/* Sticky sessions by cookie (annotation service.sticky.cookie*, file sticky.cookie). */
typedef struct proxy_sticky {
    int enabled;
    char *name; /* NULL: the derived name (reference: "_" + 5 hex of sha1) */
    int secure;
    int httponly;
    char *samesite; /* NULL when not set */
    long long maxage;
    char *path;   /* NULL: "/" (Traefik's default; "" leaves the attribute out) */
    char *domain; /* NULL when not set */
} proxy_sticky_t;

typedef enum proxy_service_type {
    PROXY_SERVICE_LOADBALANCER,
    PROXY_SERVICE_WEIGHTED,
    PROXY_SERVICE_FAILOVER,  /* weighted[0] while it has a healthy server, else weighted[1] */
    PROXY_SERVICE_MIRRORING, /* weighted[0] answers; weighted[1..] get copies, their
                                weight the percent of requests each is sent */
    PROXY_SERVICE_HRW,       /* highestRandomWeight: the child of weighted the client's IP
                                hashes highest with */
} proxy_service_type_t;

/* How a load balancer picks among its servers (Traefik's loadBalancer.strategy). */
typedef enum proxy_strategy {
    PROXY_STRATEGY_WRR,       /* "wrr", the default: weighted round robin */
    PROXY_STRATEGY_P2C,       /* "p2c": the fewer requests in flight of two drawn at random */
    PROXY_STRATEGY_HRW,       /* "hrw": the server the client's IP hashes highest with */
    PROXY_STRATEGY_LEASTTIME, /* "leasttime": the least time to first byte and load */
} proxy_strategy_t;

/* A server weight the configuration leaves out (Traefik's nil *int: weight 1). */
#define PROXY_WEIGHT_UNSET LLONG_MIN

typedef struct proxy_service proxy_service_t;

enum { PROXY_MIRRORS_MAX = 64 }; /* mirrors of one mirroring service */
/* Services over services (weighted, highestRandomWeight, failover, mirroring) nest at
 * depths 0 to this; deeper (or a cycle) disables the service. The load balancers they
 * lead to lie one deeper. */
enum { PROXY_NEST_MAX = 8 };

typedef struct proxy_weighted {
    char *service_name;             /* qualified */
    long long weight;               /* default 1 */
    const proxy_service_t *service; /* resolved; NULL when missing (service is DISABLED) */
} proxy_weighted_t;

struct proxy_service {
    char *name; /* qualified: "client-demo-client-api-8000@kubernetes" */
    proxy_provider_t provider;
    proxy_service_type_t type;
    char **servers; /* LOADBALANCER: URLs "http://10.0.0.7:8000", ready endpoints only */
    size_t nservers;
    long long *weights; /* parallel to servers (file provider), PROXY_WEIGHT_UNSET where
                           none is set; NULL: none set. <= 0: never chosen */
    proxy_strategy_t strategy;
    char **fenced; /* those of servers kept for sticky requests only (Traefik's fenced:
                      terminating endpoints still serving) */
    size_t nfenced;
    char **preserve_path; /* those of servers whose URL path prefixes the request's (a
                             file server's preservePath; Traefik drops it otherwise) */
    size_t npreserve_path;
    int pass_host_header;    /* default 1 */
    char *servers_transport; /* qualified; NULL when not set (or default@internal) */
    const struct proxy_transport *transport; /* resolved; NULL: the default transport */
    proxy_sticky_t sticky;
    json_t *health_check;       /* file provider loadBalancer.healthCheck (owned copy) or NULL */
    unsigned passive_max;       /* passiveHealthCheck.maxFailedAttempts (default 1); 0: none */
    uint64_t passive_window_ms; /* passiveHealthCheck.failureWindow (default 10 s) */
    proxy_weighted_t *weighted; /* WEIGHTED, HRW: the children in order; FAILOVER: the service,
                                   then the fallback (weights unused); MIRRORING: the
                                   service, then the mirrors */
    size_t nweighted;
    int mirror_body;           /* MIRRORING: mirrorBody (default 1) */
    long long mirror_max_body; /* MIRRORING: maxBodySize, -1 (the default) = no limit */
    proxy_status_t status;
    char **errors;
    size_t nerrors;
    char *source; /* "file:line" of the object it came from */
};

/* A servers transport (Traefik's ServersTransport): how the proxy connects to the
 * servers of the services naming it. Kept as its spec, read by the runtime
 * (proxy_runtime_transport.c): serverName, insecureSkipVerify, rootCAs (PEM text or file
 * paths), certificates ({certFile, keyFile}: PEM text or paths), forwardingTimeouts,
 * maxIdleConnsPerHost. A CRD's Secrets are already read into PEM text. */
typedef struct proxy_transport {
    char *name; /* qualified: "<ns>-<name>@kubernetescrd", "<name>@file" */
    proxy_provider_t provider;
    json_t *spec; /* owned copy */
    char *source;
    /* Set by the generation that owns the configuration, before it is shared: the
     * transport built from spec (proxy_upstream.h); NULL when it could not be. */
    const struct proxy_upstream_transport *ready;
} proxy_transport_t;

typedef struct proxy_middleware {
    char *name; /* qualified: "default-rate-limit@kubernetescrd", "auth@file" */
    proxy_provider_t provider;
    char *type;   /* the spec's single key: "headers", "rateLimit", "compress", ... */
    json_t *spec; /* that key's value, an owned copy; parsed by the middleware runtime */
    char *source;
} proxy_middleware_t;

typedef struct proxy_tls_option {
    char *name; /* "default" or qualified: "ns-name@kubernetescrd", "modern@file" */
    proxy_provider_t provider;
    json_t *spec; /* owned copy of the options object */
    char *source;
} proxy_tls_option_t;

/* A certificate: from a kubernetes.io/tls Secret (PEM bytes, base64-decoded) or from the
 * file provider's tls.certificates (paths, or PEM given inline). The key is a secret:
 * never log it. */
typedef struct proxy_cert {
    char *name; /* "<ns>-<secret>" for a Secret, the certFile for the file provider */
    char *cert; /* PEM bytes or NULL */
    size_t cert_len;
    char *key; /* PEM bytes or NULL */
    size_t key_len;
    char *cert_file; /* paths or NULL */
    char *key_file;
    char **hosts; /* hosts of the Ingress spec.tls entries naming it */
    size_t nhosts;
    char *source;
    int by_name;    /* chosen by the SNI its names match (not so the defaultCertificate) */
    int is_default; /* tls.stores.default.defaultCertificate: served when no SNI matches */
} proxy_cert_t;

typedef struct proxy_router {
    char *name; /* qualified: "<Normalize(ns-ingress-host+path)>@kubernetes", "web@file" */
    proxy_provider_t provider;
    char *rule;         /* Traefik's rule text: Host(`h`) && PathPrefix(`/p`) */
    char *rule_syntax;  /* "v2" or "v3" when given (ruleSyntax), else NULL: v3 */
    int no_access_log;  /* observability.accessLogs false: its requests are not logged */
    int no_metrics;     /* observability.metrics false: nor counted in /metrics */
    long long priority; /* the router.priority / priority given, else len(rule) */
    int priority_set;
    char *service_name;                     /* qualified */
    const proxy_service_t *service;         /* resolved; NULL when DISABLED */
    char **middleware_names;                /* qualified, in the order given */
    const proxy_middleware_t **middlewares; /* resolved, same order; NULL when DISABLED */
    size_t nmiddlewares;
    char **entrypoints; /* empty: every entry point */
    size_t nentrypoints;
    int tls;                              /* router.tls "true" or a file router's tls section */
    char *tls_options;                    /* "default" or qualified */
    const proxy_tls_option_t *tls_option; /* NULL when "default" is not defined */
    char *cert_resolver;                  /* NULL when not set */
    proxy_status_t status;
    char **errors;
    size_t nerrors;
    char *source;
    proxy_rule_t *match; /* the compiled rule; NULL when the rule is broken */
    /* Routing order (proxy_route): higher order first, then exact_first, then name. For
     * an Ingress path without router.priority, order is len(rule) counted as if the path
     * matcher were PathPrefix, and exact_first is 1 for Exact, so the longest path wins
     * and Exact beats Prefix on a tie (Kubernetes Ingress spec); otherwise order is
     * the priority and exact_first 0. */
    long long order;
    int exact_first;
} proxy_router_t;

typedef struct proxy_config_error {
    char *source; /* "file:line" of the object, or the file name */
    char *kind;   /* "Ingress", "Service", ..., or "router"/"service"/... for the file */
    char *ns;     /* "" when none */
    char *name;
    char *message;
} proxy_config_error_t;

/* The built configuration. Every array is sorted by name and owned; all of it is
 * read-only after proxy_config_build, so any thread may read it. */
typedef struct proxy_config {
    proxy_router_t *routers;
    size_t nrouters;
    proxy_service_t *services;
    size_t nservices;
    proxy_middleware_t *middlewares;
    size_t nmiddlewares;
    proxy_tls_option_t *tls_options;
    size_t ntls_options;
    proxy_cert_t *certs;
    size_t ncerts;
    proxy_transport_t *transports;
    size_t ntransports;
    proxy_config_error_t *errors; /* in the order found */
    size_t nerrors;
} proxy_config_t;

typedef struct proxy_config_input {
    /* The ingress class to serve (Traefik providers.kubernetesIngress.ingressClass).
     * NULL or "": none configured, so Ingresses without a class and with class
     * "traefik" are served. An IngressClass of this name (or "traefik") with controller
     * traefik.io/ingress-controller is assumed installed, as Traefik's Helm chart does,
     * unless the objects define one of that name. */
    const char *ingress_class;
    int allow_external_name;  /* ExternalName Services (Traefik's default: refused) */
    int allow_empty_services; /* keep routers whose service has no ready endpoint */
    /* The API listener's URL ("http://127.0.0.1:9000"): the internal services
     * api@internal, dashboard@internal, ping@internal and prometheus@internal are load
     * balancers to it, so a router naming one (a dashboard IngressRoute) serves the API
     * there. NULL: such a router answers 503. */
    const char *internal_url;
    /* Traefik's entryPoints.web.http.redirections.entryPoint.to: the target as given
     * ("websecure" or ":443"; it names the internal router web-to-<to>) and the port
     * its redirects name. NULL: web is not redirected. */
    const char *web_redirect_to;
    const char *web_redirect_port;
    /* Kubernetes objects (borrowed; only read) with one "file:line" per object. */
    const json_t *const *objects;
    const char *const *sources;
    size_t nobjects;
    /* File-provider dynamic configurations (borrowed), one source name each. */
    const json_t *const *files;
    const char *const *file_sources;
    size_t nfiles;
} proxy_config_input_t;

/** Builds the configuration from in (nothing of in is kept). Returns 0 with *out (free
 *  with proxy_config_free), including when objects were broken: those are in
 *  (*out)->errors. Returns -EINVAL (and *out NULL) only when in itself is unusable
 *  (NULL arrays with a non-zero count). */
int proxy_config_build(const proxy_config_input_t *in, proxy_config_t **out);

/** Frees everything; NULL is fine. Route tables built from cfg must be freed first. */
void proxy_config_free(proxy_config_t *cfg);

/** Fills *e (for an error list of the configuration or of a proxy generation) with
 *  hc_strdup copies of source, kind, ns and name (NULL gives "") and the message fmt
 *  formats, cut to 511 bytes. Free the list with proxy_config_errors_free. */
void proxy_config_error_vset(proxy_config_error_t *e, const char *source, const char *kind,
                             const char *ns, const char *name, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

/** Frees the n errors of v and the array v (hc_* memory); NULL with 0 is fine. */
void proxy_config_errors_free(proxy_config_error_t *v, size_t n);

/** Look-ups by qualified name (binary search); NULL when absent. */
const proxy_router_t *proxy_config_router(const proxy_config_t *cfg, const char *name);
const proxy_service_t *proxy_config_service(const proxy_config_t *cfg, const char *name);
const proxy_middleware_t *proxy_config_middleware(const proxy_config_t *cfg, const char *name);
const proxy_transport_t *proxy_config_transport(const proxy_config_t *cfg, const char *name);

/** Adds msg to r's errors, for a problem found after the build (a middleware that cannot
 *  run, an entry point that does not exist), and raises its status to st at least: the
 *  API shows it, and route tables built afterwards leave a DISABLED r out. */
void proxy_config_router_fail(proxy_router_t *r, proxy_status_t st, const char *msg);

/** "enabled", "warning" or "disabled", as Traefik's API writes them. */
const char *proxy_status_name(proxy_status_t s);
/** "kubernetes", "kubernetescrd", "file" or "internal". */
const char *proxy_provider_name(proxy_provider_t p);
/** The length of a qualified name as written in the configuration of a provider: without
 *  "@<owner>" when it names that provider, whole otherwise. */
size_t proxy_config_local_len(const char *qualified, proxy_provider_t owner);

/** A deep copy of a sticky configuration; proxy_sticky_free frees what it holds. */
void proxy_sticky_copy(proxy_sticky_t *dst, const proxy_sticky_t *src);
void proxy_sticky_free(proxy_sticky_t *s);

/** Traefik's provider.Normalize: each run of characters that are not letters or digits
 *  becomes one `-`, with none at either end (bytes >= 0x80 count as letters). Returns a
 *  new string (hc_free it). */
char *proxy_config_normalize(const char *s);

#endif
