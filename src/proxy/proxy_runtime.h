/* Generations of the proxy's configuration: everything a worker needs to answer requests
 * (the built proxy_config_t, one route table per entry point, the parsed middleware
 * instances with chains expanded per router, the TLS certificate set and options),
 * built on the main loop from the manifest snapshot, the --file YAML and `hearth up`'s
 * local services, then published to every worker.
 *
 * Ownership: a generation is immutable and refcounted (atomic). A request keeps the
 * generation it started with (proxy_gen_ref) until it ends, so a reload never changes
 * a request mid-flight. Middleware instances are parsed once per generation and shared
 * by every worker (rateLimit buckets are therefore shared process-wide). */
#ifndef PROXY_RUNTIME_H
#define PROXY_RUNTIME_H

#include "core/hc_manifest.h"
#include "core/hc_tls.h"
#include "proxy/mw.h"
#include "proxy/mw_circuitbreaker.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_route.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

/* Deepest nesting of chain middlewares, and most middlewares one router runs. */
#define PROXY_GEN_CHAIN_DEPTH 8u
#define PROXY_GEN_MAX_MWS 64u

/* Entry point indexes of proxy_gen_t.routes. */
enum { PROXY_GEN_WEB = 0, PROXY_GEN_WEBSECURE = 1, PROXY_GEN_NEP = 2 };

/* A parsed middleware of the generation; parallel to cfg->middlewares. */
typedef struct proxy_gen_mw {
    const proxy_middleware_t *def;
    proxy_mw_t mw; /* mw.type NULL when the spec did not parse (the router is disabled) */
    char *error;   /* then why */
} proxy_gen_mw_t;

/* What one router runs, chains expanded, in order. */
typedef struct proxy_gen_chain {
    const proxy_gen_mw_t **mws;
    size_t n;
    /* What the forward takes from the chain, worked out once per generation: the
     * smallest limits of its buffering middlewares (0: none), its innermost retry's. */
    uint64_t body_max, resp_max;
    unsigned retry_attempts;
    uint64_t retry_interval_ms;
    int sniff; /* a contentType middleware turns Content-Type detection on */
    uint64_t errors_at; /* bit i: mws[i] is an errors middleware */
    /* The router's own circuit breakers: n entries, set at the positions of
     * circuitBreaker middlewares; NULL when the chain has none. They live as long as
     * the generation, so a reload starts them again in standby, as Traefik's do. */
    proxy_mw_cb_t **breakers;
} proxy_gen_chain_t;

/* One TLSOption as hc_tls takes it; o points into the strings, which it owns. */
typedef struct proxy_gen_tlsopt {
    const char *name; /* the configuration's */
    hc_tls_server_opts_t o;
    char *min, *max, *suites, *curves, *ca;
} proxy_gen_tlsopt_t;

/* A certificate's facts for metrics and the API (never the key). */
typedef struct proxy_gen_cert {
    char *name;       /* proxy_cert_t.name, or "default" for the generated one */
    char *cn;         /* subject common name, "" when none */
    char *serial;     /* serial number in decimal, "" when unreadable */
    char *sans;       /* DNS subjectAltNames, sorted and comma-joined (the metric's label) */
    int64_t not_after; /* Unix seconds */
} proxy_gen_cert_t;

/* A local service published by proxy_local_publish (`hearth up`). */
typedef struct proxy_local {
    const char *name;
    const char *url;
} proxy_local_t;

typedef struct proxy_gen {
    atomic_uint refs;
    uint64_t serial; /* 1, 2, ... in build order */
    int64_t built_at; /* Unix seconds */
    proxy_config_t *cfg;
    proxy_route_table_t *routes[PROXY_GEN_NEP];
    proxy_gen_mw_t *mws;      /* cfg->nmiddlewares entries */
    proxy_gen_chain_t *chains; /* cfg->nrouters entries: chains[r - cfg->routers] */
    /* The API's usedBy, found once: the routers (indexes in cfg, in name order) naming
     * service i are users[users_at[i]] to users[users_at[i + 1]]; the middlewares
     * follow the services (index cfg->nservices + m). */
    uint32_t *users, *users_at;
    /* Every problem of this generation, in order: manifest read errors, the --file
     * error, configuration errors, middleware and certificate errors. */
    proxy_config_error_t *errors;
    size_t nerrors;
    /* TLS: the certificate set (moved out by proxy_gen_take_certs), the facts of each
     * certificate, and the TLS options of each entry point, as Traefik builds them per
     * entry point: TLSOption `default` for every handshake but those naming a host whose
     * TLS routers there use other options (tls[ep].hosts, pointing into tls_opts). */
    hc_tls_certs_t *certs;
    proxy_gen_cert_t *cert_info;
    size_t ncert_info;
    proxy_gen_tlsopt_t *tls_opts; /* [0] is `default` (empty when not defined) */
    size_t ntls_opts;
    hc_tls_host_opts_t *tls_hosts[PROXY_GEN_NEP];
    size_t ntls_hosts[PROXY_GEN_NEP];
    hc_tls_server_opts_t tls[PROXY_GEN_NEP]; /* tls_opts[0] with an entry point's hosts */
    char *tls_key[PROXY_GEN_NEP];            /* an entry point's options as text: equal keys, equal
                                                options */
    /* The servers transports that could be built (cfg's point at them: ready). */
    struct proxy_upstream_transport *transports;
    size_t ntransports;
} proxy_gen_t;

/* What a generation is built from; all borrowed. */
typedef struct proxy_gen_input {
    hc_manifest_set_t *manifests; /* NULL when no --manifests */
    const json_t *file;           /* the --file dynamic configuration, or NULL */
    const char *file_source;      /* its path */
    const char *file_error;       /* why --file could not be read/parsed, or NULL */
    const char *ingress_class;    /* --ingress-class; "traefik" or NULL also serves
                                     Ingresses without a class */
    const char *internal_url;     /* the API listener for api@internal & co., or NULL */
    const char *web_redirect_to;  /* --web-redirect-to as given, or NULL */
    const char *web_redirect_port; /* the port its redirects name */
    const struct proxy_gen *prev; /* the generation in force, or NULL: what did not change
                                     is carried over from it (servers transports) */
    const proxy_local_t *locals;  /* `hearth up` services */
    size_t nlocals;
    uint64_t serial;
} proxy_gen_input_t;

/** Builds a generation from in (nothing of in is kept). Broken objects become errors of
 *  the generation and are skipped; the build itself only fails on unusable input.
 *  The certificate set always holds a generated default certificate ("TRAEFIK DEFAULT
 *  CERT", Traefik's fallback), used when no SNI name matches. Returns 0 with *out
 *  (one reference, held by the caller) or -EINVAL. */
int proxy_gen_build(const proxy_gen_input_t *in, proxy_gen_t **out);

/** Takes a reference (atomic, any thread); returns g. */
static inline proxy_gen_t *proxy_gen_ref(proxy_gen_t *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    return g;
}

/** Drops a reference (any thread); the last one frees the generation. NULL is fine. */
void proxy_gen_unref(proxy_gen_t *g);

/** Moves the certificate set out (the caller installs it with hc_tls_ctx_set_certs);
 *  NULL when already taken. */
hc_tls_certs_t *proxy_gen_take_certs(proxy_gen_t *g);
/** Whether a TLS request naming host (its Host value, hlen bytes) came over a handshake
 *  for sni under other TLS options: Traefik's domain-fronting check, answered 421 so a
 *  handshake without a client certificate cannot reach a host that requires one. */
int proxy_gen_tls_misdirected(const proxy_gen_t *g, int ep, const char *host, size_t hlen,
                              const char *sni);

/** The chain of the router r of g (r from g->cfg or one of g's route tables). */
static inline const proxy_gen_chain_t *proxy_gen_chain(const proxy_gen_t *g,
                                                       const proxy_router_t *r)
{
    return &g->chains[r - g->cfg->routers];
}

/** The files a configuration names (certificates, CA files, users files): each string of
 *  v that names a regular file, with its size, modification time and inode, one per
 *  line. Traefik reads such files into the configuration before telling whether it
 *  changed; this stands for them. A new string. */
char *proxy_gen_files_stamp(const json_t *v);

/** Reads the --file dynamic configuration at path (YAML or JSON, one document) into
 *  *out (the caller json_decref's it). Returns 0, or a negative errno with a message in
 *  err naming file:line. */
int proxy_gen_read_file(const char *path, json_t **out, char *err, size_t errlen);

#endif
