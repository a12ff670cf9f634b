/* Internal to proxy_config*.c: the build state and the helpers the Kubernetes
 * translation (proxy_config_k8s.c) and the file provider (proxy_config_file.c) share
 * with the core (proxy_config.c: adding objects, naming, resolving references). */
#ifndef PROXY_CONFIG_INT_H
#define PROXY_CONFIG_INT_H

#include "proxy/proxy_config.h"

#include <jansson.h>
#include <stddef.h>

typedef struct pc_build {
    proxy_config_t *cfg;
    const proxy_config_input_t *in;
    size_t cap_routers, cap_services, cap_middlewares, cap_tls_options, cap_certs, cap_errors;
    size_t cap_transports;
} pc_build_t;

/* Errors text for routers and objects: one line, bounded. */
#define PC_ERR_MAX 512

/* Appends a config error; ns and name may be NULL (written as ""). */
void pc_error(pc_build_t *b, const char *source, const char *kind, const char *ns, const char *name,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Appends a zeroed element; the pointer is valid until the next add of that kind. */
proxy_router_t *pc_router_add(pc_build_t *b, char *name, proxy_provider_t p, const char *source);
proxy_service_t *pc_service_add(pc_build_t *b, char *name, proxy_provider_t p, const char *source);
proxy_middleware_t *pc_middleware_add(pc_build_t *b, char *name, proxy_provider_t p,
                                      const char *source);
proxy_transport_t *pc_transport_add(pc_build_t *b, char *name, proxy_provider_t p,
                                    const char *source);
proxy_tls_option_t *pc_tls_option_add(pc_build_t *b, char *name, proxy_provider_t p,
                                      const char *source);
proxy_cert_t *pc_cert_add(pc_build_t *b, char *name, const char *source);
/* Frees what a service holds (not the struct itself). */
void pc_service_clear(proxy_service_t *s);
/* The certificate named name, or NULL. */
proxy_cert_t *pc_cert_find(pc_build_t *b, const char *name);

/* Appends a message to a string list (errors of routers and services). */
void pc_strv_add(char ***v, size_t *n, const char *s);
void pc_strv_free(char **v, size_t n);
/* Marks a router (or service) with an error: status becomes at least st. */
void pc_router_fail(proxy_router_t *r, proxy_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pc_service_fail(proxy_service_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "name" + "@" + provider unless name already holds an "@". New string. */
char *pc_qualify(const char *name, const char *provider);
/* printf into a new string. */
char *pc_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The first 10 bytes of sha256(s) in hex, into out (21 bytes): Go's "%.10x" of the sum,
 * as Traefik suffixes colliding router keys. */
void pc_rule_hash(const char *s, char out[21]);

/* Sets priority, order and exact_first of a router from its rule (see proxy_config.h). */
void pc_router_order(proxy_router_t *r, long long priority, int ingress_exact);

/* A sticky section ({cookie: {name, secure, httpOnly, sameSite, maxAge}}, Traefik's
 * dynamic.Sticky) into *s; NULL sticky leaves s as it is. -1 when cookie is not a mapping. */
int pc_sticky_parse(const json_t *sticky, proxy_sticky_t *s);
/* A load balancer's strategy by Traefik's name ("wrr", "p2c", "hrw", "leasttime"; NULL or
 * "" the default
 * wrr; names compare exactly, as Traefik's switch) into *out; -1 for any other. */
int pc_strategy_parse(const char *name, proxy_strategy_t *out);
/** A mirroring's own settings on s (its children already in s->weighted, each mirror's
 *  percent as its weight): mirrorBody, maxBodySize. NULL, or what is wrong. */
const char *pc_mirroring_parse(proxy_service_t *s, const json_t *mirroring);
/* The service named name built so far, or NULL (a linear search: before the sort). */
proxy_service_t *pc_service_find(pc_build_t *b, const char *name);

/* A JSON string member of obj, or NULL when absent or not a string. */
const char *pc_str(const json_t *obj, const char *key);

/* The file provider's kinds of object, as pc_shape_check knows their shapes. */
typedef enum pc_shape {
    PC_SHAPE_FILE, /* the file's sections */
    PC_SHAPE_ROUTER,
    PC_SHAPE_SERVICE,
    PC_SHAPE_MIDDLEWARE, /* not checked here: each type's parser checks its own fields */
    PC_SHAPE_TRANSPORT,
    PC_SHAPE_TLS_OPTION,
    PC_SHAPE_CERTIFICATE,
    PC_SHAPE_STORE,
} pc_shape_t;
/* Checks the mapping o (an object of kind, named name) against its shape as Traefik's
 * file provider decodes it (proxy_config_shape.c): members renamed to Traefik's spelling
 * (their case may differ), fields hearth ignores logged. -1 with err when a member is
 * unknown, or a field hearth lacks and refuses. */
int pc_shape_check(json_t *o, pc_shape_t shape, const char *kind, const char *name, char *err,
                   size_t errlen);

/* Translates the Kubernetes objects of b->in; the file provider's configurations. */
void pc_k8s_load(pc_build_t *b);
void pc_file_load(pc_build_t *b, const json_t *root, const char *source);

/* ---- shared by proxy_config_k8s.c, proxy_config_crd.c and proxy_config_ingress.c ---- */

typedef enum pc_kind {
    PC_K_INGRESSCLASS,
    PC_K_MIDDLEWARE,
    PC_K_TLSOPTION,
    PC_K_SERVICE,
    PC_K_ENDPOINTS,
    PC_K_SLICE, /* indexed under its kubernetes.io/service-name label */
    PC_K_SECRET,
    PC_K_INGRESS,
    PC_K_INGRESSROUTE,
    PC_K_TRAEFIKSERVICE,
    PC_K_SERVERSTRANSPORT,
    PC_K_TLSSTORE,
} pc_kind_t;

typedef struct pc_kobj {
    pc_kind_t kind;
    const char *ns;
    const char *key;  /* metadata.name, or the service name for an EndpointSlice */
    const char *name; /* metadata.name */
    const json_t *obj;
    const char *source;
    size_t seq; /* input order, for "first definition wins" */
} pc_kobj_t;

typedef struct pc_kstate {
    pc_build_t *b;
    pc_kobj_t *objs; /* sorted by kind, ns, key, seq */
    size_t nobjs;
    char **failed_secrets; /* "<ns>-<name>" already reported */
    size_t nfailed;
    int have_default_backend;
    int default_class_known;   /* default_class was looked up */
    const char *default_class; /* the IngressClass annotated is-default-class, or NULL */
} pc_kstate_t;

/* A server scheme a Kubernetes Service reference may ask for: http or https (none: the
 * port decides); h2c (gRPC without TLS) would need HTTP/2 upstream, so it is refused
 * rather than built into a server every request fails against. 0 or -EINVAL with err. */
int pc_scheme_check(const char *scheme, char *err, size_t errlen);
/* First object of kind in ns with key, or NULL; the next ones with the same key follow
 * it in the array. */
const pc_kobj_t *pc_kfind(const pc_kstate_t *k, pc_kind_t kind, const char *ns, const char *key);
/* What an IngressRoute's service reference sets on the load balancer of a Kubernetes
 * Service, where an Ingress backend reads the Service's service.* annotations. */
typedef struct pc_lb_spec {
    const char *scheme;            /* NULL: https for port 443 or a port name "https..." */
    int pass_host_header;          /* 1 unless the reference says false */
    const json_t *sticky;          /* {cookie: {...}} or NULL */
    const char *servers_transport; /* qualified, or NULL */
    int native_lb;                 /* the Service's ClusterIP instead of its endpoints */
    proxy_strategy_t strategy;
} pc_lb_spec_t;

/* Adds the load-balancer service q (qualified, of provider p) for Service ns/name at its
 * port numbered pnum or named pname (pname wins), with lb's settings or, lb NULL, the
 * Service's annotations. With lb, an ExternalName Service takes any port number, as
 * Traefik's CRD provider does. Returns 0, or -EINVAL with err. */
int pc_k8s_service(pc_kstate_t *k, const char *ns, const char *name, long long pnum,
                   const char *pname, const pc_lb_spec_t *lb, const char *q, proxy_provider_t p,
                   char *err, size_t errlen);
/* Builds the Traefik service for an Ingress backend (Service + Endpoints/EndpointSlice)
 * under the qualified name *svc_name (always set when the backend names a service, else
 * NULL). Returns 0, or -EINVAL with err when the service cannot be built. */
int pc_k8s_backend(pc_kstate_t *k, const pc_kobj_t *ing, const json_t *backend,
                   const char *name_override, char **svc_name, char *err, size_t errlen);
/* Loads the TLS Secret ns/name as a certificate serving hosts (a JSON array or NULL),
 * chosen by its names (SNI) when by_name; the TLSStore's defaultCertificate is not.
 * Returns 0 or -EINVAL with err (reported once per Secret in the error list). */
int pc_k8s_secret(pc_kstate_t *k, const char *ns, const char *name, const json_t *hosts,
                  int by_name, char *err, size_t errlen);
/* Translates the Traefik CRDs of the index: Middlewares (Secrets and chain references
 * resolved to the dynamic-configuration shape) and TLSOptions. proxy_config_crd.c */
void pc_crd_load(pc_kstate_t *k);
/* Translates one Ingress into routers and services. */
void pc_ingress_load(pc_kstate_t *k, const pc_kobj_t *ing);
/* Whether an object's kubernetes.io/ingress.class annotation lets this proxy serve it:
 * equal to the configured class, or with none configured empty or "traefik" (Traefik's
 * shouldProcessIngress, for Ingresses without ingressClassName and for IngressRoutes). */
int pc_class_annotation_served(const pc_kstate_t *k, const json_t *obj);
/* Translates one IngressRoute into routers and services; one TraefikService into a
 * weighted service. proxy_config_ingressroute.c */
void pc_ingressroute_load(pc_kstate_t *k, const pc_kobj_t *o);
void pc_traefik_service_load(pc_kstate_t *k, const pc_kobj_t *o);
/* References between Traefik's CRDs (Traefik's makeMiddlewareKeys and resolveReference,
 * allowCrossNamespace false), in proxy_config_crd.c:
 * pc_crd_id: Normalize("<ns>-<name>"), the id of a CRD object (new string);
 * pc_crd_qualified: whether name ends in "@kubernetescrd" (it could name any namespace);
 * pc_crd_ref: a {name, namespace} reference of a referrer kind in ns to a what: "x@p"
 * of another provider as it is, "x@kubernetescrd" refused, the namespace the
 * referrer's or refused, else pc_crd_id; NULL with err. */
char *pc_crd_id(const char *ns, const char *name);
/* Normalize(raw) + "@kubernetescrd": a router, service or object name of the CRD
 * provider (new string). */
char *pc_crd_name(const char *raw);
#define CRD_SUFFIX "@kubernetescrd"
int pc_crd_qualified(const char *name);
char *pc_crd_ref(const char *ns, const json_t *ref, const char *what, const char *referrer,
                 char *err, size_t errlen);
/* A CRD's reference to a service ({name, port, namespace, kind, ...}, as an
 * IngressRoute's services[] entry or an errors middleware's service): a Kubernetes
 * Service's load balancer is built; returns the qualified name, or NULL with err. */
char *pc_crd_service(pc_kstate_t *k, const char *ns, const json_t *ref, char *err, size_t errlen);
/* Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False; -1 otherwise. */
int pc_parse_bool(const char *s);
/* An annotation's text: strings as they are, booleans and integers spelled out (a
 * manifest may leave them unquoted); NULL when absent or another type. buf: 32 bytes. */
const char *pc_annotation(const json_t *ann, const char *key, char *buf);
/* The annotation key's value as given: exact, or for a traefik.ingress.kubernetes.io/ key
 * its name after that prefix in any case (Traefik decodes them as labels); NULL if none. */
const json_t *pc_annotation_get(const json_t *ann, const char *key);
/* A router's observability mapping (file provider, IngressRoute): accessLogs and metrics
 * false opt it out. */
void pc_router_observability(proxy_router_t *r, const json_t *obs);

#endif
