/* Kubernetes objects for the proxy config: the object index, TLS Secrets as
 * certificates, and Services with their Endpoints or EndpointSlices as Traefik
 * load-balancer services. Ingress translation is in proxy_config_ingress.c, the Traefik
 * CRDs in proxy_config_crd.c; all run inside proxy_config_build. */
#include "proxy/proxy_config_int.h"

#include "core/hc_alloc.h"
#include "core/hc_jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TRAEFIK_IO "traefik.io/v1alpha1"
#define TRAEFIK_CONTAINO "traefik.containo.us/v1alpha1"
#define SERVICE_ANN "traefik.ingress.kubernetes.io/service."

int pc_parse_bool(const char *s)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (!strcmp(s, t[i]))
            return 1;
        if (!strcmp(s, f[i]))
            return 0;
    }
    return -1;
}

/* After this prefix, Traefik decodes annotation names as labels: in any case. */
#define TRAEFIK_ANN "traefik.ingress.kubernetes.io/"

const json_t *pc_annotation_get(const json_t *ann, const char *key)
{
    const json_t *v = json_is_object(ann) ? json_object_get(ann, key) : NULL;
    const size_t pl = sizeof(TRAEFIK_ANN) - 1;
    const char *k;
    const json_t *x;
    if (v || !json_is_object(ann) || strncmp(key, TRAEFIK_ANN, pl))
        return v;
    json_object_foreach((json_t *)ann, k, x) if (!strncmp(k, TRAEFIK_ANN, pl) &&
                                                 !strcasecmp(k + pl, key + pl)) return x;
    return NULL;
}

const char *pc_annotation(const json_t *ann, const char *key, char *buf)
{
    const json_t *v = pc_annotation_get(ann, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    if (json_is_integer(v)) {
        snprintf(buf, 32, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return NULL;
}

/* ---- index ---- */

static int kind_of(const char *kind, const char *api, pc_kind_t *out)
{
    static const struct {
        const char *kind, *api, *api2;
        pc_kind_t k;
    } table[] = {
        {"Ingress", "networking.k8s.io/v1", NULL, PC_K_INGRESS},
        {"IngressClass", "networking.k8s.io/v1", NULL, PC_K_INGRESSCLASS},
        {"Service", "v1", NULL, PC_K_SERVICE},
        {"Endpoints", "v1", NULL, PC_K_ENDPOINTS},
        {"Secret", "v1", NULL, PC_K_SECRET},
        {"EndpointSlice", "discovery.k8s.io/v1", NULL, PC_K_SLICE},
        {"Middleware", TRAEFIK_IO, TRAEFIK_CONTAINO, PC_K_MIDDLEWARE},
        {"TLSOption", TRAEFIK_IO, TRAEFIK_CONTAINO, PC_K_TLSOPTION},
        {"IngressRoute", TRAEFIK_IO, TRAEFIK_CONTAINO, PC_K_INGRESSROUTE},
        {"TraefikService", TRAEFIK_IO, TRAEFIK_CONTAINO, PC_K_TRAEFIKSERVICE},
        {"ServersTransport", TRAEFIK_IO, TRAEFIK_CONTAINO, PC_K_SERVERSTRANSPORT},
        {"TLSStore", TRAEFIK_IO, TRAEFIK_CONTAINO, PC_K_TLSSTORE},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(kind, table[i].kind))
            continue;
        if (strcmp(api, table[i].api) && (!table[i].api2 || strcmp(api, table[i].api2)))
            return -EINVAL;
        *out = table[i].k;
        return 0;
    }
    return -ENOENT;
}

static int cmp_kobj(const void *pa, const void *pb)
{
    const pc_kobj_t *a = pa, *b = pb;
    int c;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if ((c = strcmp(a->ns, b->ns)) || (c = strcmp(a->key, b->key)))
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

const pc_kobj_t *pc_kfind(const pc_kstate_t *k, pc_kind_t kind, const char *ns, const char *key)
{
    size_t lo = 0, hi = k->nobjs;
    pc_kobj_t probe = {.kind = kind, .ns = ns, .key = key, .seq = 0};
    while (lo < hi) { /* lower bound: seq 0 sorts before every real entry */
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_kobj(&k->objs[mid], &probe) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < k->nobjs && k->objs[lo].kind == kind && !strcmp(k->objs[lo].ns, ns) &&
        !strcmp(k->objs[lo].key, key))
        return &k->objs[lo];
    return NULL;
}

/* Adds one input object to the index, or reports why it cannot be used. */
static void index_one(pc_kstate_t *k, const json_t *o, const char *src, size_t seq)
{
    if (!json_is_object(o))
        return; /* an empty YAML document */
    const char *kind = pc_str(o, "kind"), *api = pc_str(o, "apiVersion");
    const json_t *meta = json_object_get(o, "metadata");
    const char *name = pc_str(meta, "name"), *ns = pc_str(meta, "namespace");
    pc_kind_t kk;
    if (!kind || !api) {
        pc_error(k->b, src, kind, ns, name, "object without kind or apiVersion");
        return;
    }
    int rc = kind_of(kind, api, &kk);
    if (rc == -ENOENT)
        return; /* not the proxy's (Deployment, Certificate, ...) */
    if (rc < 0) {
        pc_error(k->b, src, kind, ns, name, "unsupported apiVersion %s for %s", api, kind);
        return;
    }
    if (!name || !*name) {
        pc_error(k->b, src, kind, ns, NULL, "metadata.name is missing");
        return;
    }
    pc_kobj_t *e = &k->objs[k->nobjs++];
    *e = (pc_kobj_t){.kind = kk,
                     .ns = ns && *ns ? ns : "default",
                     .key = name,
                     .name = name,
                     .obj = o,
                     .source = src,
                     .seq = seq + 1};
    if (kk == PC_K_INGRESSCLASS)
        e->ns = "";
    if (kk == PC_K_SLICE) {
        const char *svc = pc_str(json_object_get(meta, "labels"), "kubernetes.io/service-name");
        if (!svc) {
            pc_error(k->b, src, kind, e->ns, name, "label kubernetes.io/service-name is missing");
            k->nobjs--;
            return;
        }
        e->key = svc;
    }
}

/* ---- TLS Secrets ---- */

/* One of tls.crt / tls.key from data (base64) or stringData (plain). */
static int secret_entry(const json_t *obj, const char *key, char **out, size_t *len, char *err,
                        size_t errlen)
{
    const char *plain = pc_str(json_object_get(obj, "stringData"), key);
    const char *enc = pc_str(json_object_get(obj, "data"), key);
    if (plain) {
        *out = hc_strdup(plain);
        *len = strlen(plain);
    } else if (enc) {
        if (!(*out = hc_base64_decode(enc, strlen(enc), len))) {
            snprintf(err, errlen, "%s is not valid base64", key);
            return -EINVAL;
        }
    } else {
        snprintf(err, errlen, "missing TLS data entry %s", key);
        return -EINVAL;
    }
    if (*len == 0) {
        hc_free(*out);
        *out = NULL;
        snprintf(err, errlen, "empty TLS data entry %s", key);
        return -EINVAL;
    }
    return 0;
}

static void cert_hosts(proxy_cert_t *c, const json_t *hosts)
{
    size_t i;
    const json_t *h;
    json_array_foreach(hosts, i, h)
    {
        if (!json_is_string(h))
            continue;
        size_t j = 0;
        while (j < c->nhosts && strcmp(c->hosts[j], json_string_value(h)))
            j++;
        if (j == c->nhosts)
            pc_strv_add(&c->hosts, &c->nhosts, json_string_value(h));
    }
}

int pc_k8s_secret(pc_kstate_t *k, const char *ns, const char *name, const json_t *hosts,
                  int by_name, char *err, size_t errlen)
{
    char *id = pc_strf("%s-%s", ns, name), *crt = NULL, *key = NULL;
    size_t crtlen = 0, keylen = 0;
    proxy_cert_t *c = pc_cert_find(k->b, id);
    int rc = 0, seen = 0;
    if (c) {
        cert_hosts(c, hosts);
        c->by_name |= by_name;
        goto out;
    }
    for (size_t i = 0; i < k->nfailed; i++)
        seen |= !strcmp(k->failed_secrets[i], id);
    const pc_kobj_t *o = pc_kfind(k, PC_K_SECRET, ns, name);
    if (!o) {
        snprintf(err, errlen, "secret %s/%s does not exist", ns, name);
        rc = -EINVAL;
        goto out;
    }
    if ((rc = secret_entry(o->obj, "tls.crt", &crt, &crtlen, err, errlen)) < 0 ||
        (rc = secret_entry(o->obj, "tls.key", &key, &keylen, err, errlen)) < 0) {
        if (!seen)
            pc_error(k->b, o->source, "Secret", ns, name, "%s", err);
        goto out;
    }
    c = pc_cert_add(k->b, id, o->source);
    id = NULL;
    c->cert = crt;
    c->cert_len = crtlen;
    c->key = key;
    c->key_len = keylen;
    crt = key = NULL;
    c->by_name = by_name;
    cert_hosts(c, hosts);
out:
    if (rc < 0 && !seen && id) {
        pc_strv_add(&k->failed_secrets, &k->nfailed, id);
    }
    hc_free(crt);
    hc_free(key);
    hc_free(id);
    return rc;
}

/* ---- Services and endpoints ---- */

/* A service.* annotation name Traefik decodes (its ServiceIng), after "service.": 1 read
 * here, -1 known to Traefik but not served by hearth, 0 unknown (Traefik's label decoder
 * fails on it, so the Ingress path is refused). */
static int service_key_known(const char *name)
{
    static const char *const keys[] = {"serversscheme",          "serverstransport",
                                       "passhostheader",         "nativelb",
                                       "sticky.cookie",          "sticky.cookie.name",
                                       "sticky.cookie.secure",   "sticky.cookie.httponly",
                                       "sticky.cookie.samesite", "sticky.cookie.maxage",
                                       "sticky.cookie.path",     "sticky.cookie.domain"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!strcasecmp(name, keys[i]))
            return 1;
    return !strcasecmp(name, "nodeportlb") || !strcasecmp(name, "middlewares") ? -1 : 0;
}

/* The service.* annotations of a Service (Traefik reads them from the Service). */
static int service_annotations(const json_t *ann, proxy_service_t *s, const char **scheme,
                               int *native_lb, char *err, size_t errlen)
{
    const size_t pl = sizeof(SERVICE_ANN) - 1, tl = pl - sizeof("service.") + 1;
    const char *k;
    const json_t *x;
    if (json_is_object(ann))
        json_object_foreach((json_t *)ann, k, x)
        {
            int known = strncmp(k, SERVICE_ANN, tl) || strncasecmp(k + tl, "service.", 8)
                            ? 1
                            : service_key_known(k + pl);
            if (known <= 0) {
                snprintf(err, errlen,
                         known ? "annotation %s: not supported by hearth"
                               : "annotation %s: unknown key (Traefik cannot build the service)",
                         k);
                return -EINVAL;
            }
        }
    static const char *const bools[] = {"passhostheader", "sticky.cookie", "sticky.cookie.secure",
                                        "sticky.cookie.httponly", "nativelb"};
    int *dst[] = {&s->pass_host_header, &s->sticky.enabled, &s->sticky.secure, &s->sticky.httponly,
                  native_lb};
    char key[96], buf[32];
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        snprintf(key, sizeof(key), SERVICE_ANN "%s", bools[i]);
        const char *v = pc_annotation(ann, key, buf);
        if (v && (*dst[i] = pc_parse_bool(v)) < 0) {
            snprintf(err, errlen, "annotation %s: %s is not a boolean", key, v);
            return -EINVAL;
        }
    }
    const char *v;
    *scheme = pc_annotation(ann, SERVICE_ANN "serversscheme", buf);
    if ((v = pc_annotation(ann, SERVICE_ANN "serverstransport", buf)) && *v)
        s->servers_transport = pc_qualify(v, "kubernetes"); /* the provider's own name */
    if ((v = pc_annotation(ann, SERVICE_ANN "sticky.cookie.name", buf)))
        s->sticky.name = hc_strdup(v);
    if ((v = pc_annotation(ann, SERVICE_ANN "sticky.cookie.samesite", buf)))
        s->sticky.samesite = hc_strdup(v);
    if ((v = pc_annotation(ann, SERVICE_ANN "sticky.cookie.path", buf)))
        s->sticky.path = hc_strdup(v);
    if ((v = pc_annotation(ann, SERVICE_ANN "sticky.cookie.domain", buf)) && *v)
        s->sticky.domain = hc_strdup(v);
    if ((v = pc_annotation(ann, SERVICE_ANN "sticky.cookie.maxage", buf))) {
        char *end;
        s->sticky.maxage = strtoll(v, &end, 10);
        if (!*v || *end) {
            snprintf(err, errlen,
                     "annotation " SERVICE_ANN "sticky.cookie.maxage: %s is not an integer", v);
            return -EINVAL;
        }
    }
    s->sticky.enabled |= s->sticky.name || s->sticky.samesite || s->sticky.maxage ||
                         s->sticky.secure || s->sticky.httponly || s->sticky.path ||
                         s->sticky.domain;
    return 0;
}

static void server_add(proxy_service_t *s, const char *proto, const char *ip, long long port,
                       int fenced)
{
    char url[320];
    snprintf(url, sizeof(url), strchr(ip, ':') ? "%s://[%s]:%lld" : "%s://%s:%lld", proto, ip,
             port);
    for (size_t i = 0; i < s->nservers; i++)
        if (!strcmp(s->servers[i], url))
            return;
    pc_strv_add(&s->servers, &s->nservers, url);
    if (fenced)
        pc_strv_add(&s->fenced, &s->nfenced, url);
}

/* The port of the endpoint ports array named port_name ("" matches an unnamed port). */
static long long endpoint_port(const json_t *ports, const char *port_name)
{
    size_t i;
    const json_t *p;
    json_array_foreach(ports, i, p)
    {
        const char *n = pc_str(p, "name");
        if (!strcmp(n ? n : "", port_name))
            return json_integer_value(json_object_get(p, "port"));
    }
    return 0;
}

/* Ready addresses of the Service's EndpointSlices, else of its Endpoints. Returns 0 when
 * neither exists. */
static int service_endpoints(pc_kstate_t *k, const char *ns, const char *svc, const char *port_name,
                             const char *proto, proxy_service_t *s)
{
    const pc_kobj_t *o = pc_kfind(k, PC_K_SLICE, ns, svc);
    int found = o != NULL;
    for (; o && o < k->objs + k->nobjs && o->kind == PC_K_SLICE && !strcmp(o->ns, ns) &&
           !strcmp(o->key, svc);
         o++) {
        long long port = endpoint_port(json_object_get(o->obj, "ports"), port_name);
        size_t i, j;
        const json_t *ep, *addr;
        json_array_foreach(json_object_get(o->obj, "endpoints"), i, ep)
        {
            /* Traefik's EndpointServing: ready or serving, each false when not given
             * (Kubernetes would read a nil ready as ready; Traefik skips the endpoint).
             * One serving while terminating is fenced: only sticky requests go to it. */
            const json_t *cond = json_object_get(ep, "conditions");
            int serving = json_is_true(json_object_get(cond, "serving"));
            int fenced = serving && json_is_true(json_object_get(cond, "terminating"));
            if (port <= 0 || !(json_is_true(json_object_get(cond, "ready")) || serving))
                continue;
            json_array_foreach(json_object_get(ep, "addresses"), j, addr) if (json_is_string(addr))
                server_add(s, proto, json_string_value(addr), port, fenced);
        }
    }
    if (found)
        return 1;
    o = pc_kfind(k, PC_K_ENDPOINTS, ns, svc);
    if (!o)
        return 0;
    size_t i, j;
    const json_t *sub, *addr;
    json_array_foreach(json_object_get(o->obj, "subsets"), i, sub)
    {
        long long port = endpoint_port(json_object_get(sub, "ports"), port_name);
        if (port <= 0)
            continue;
        json_array_foreach(json_object_get(sub, "addresses"), j, addr) if (pc_str(addr, "ip"))
            server_add(s, proto, pc_str(addr, "ip"), port, 0);
    }
    return 1;
}

/* The Service port an Ingress backend names, by number or by name. */
static const json_t *service_port(const json_t *svc, long long number, const char *name)
{
    size_t i;
    const json_t *p;
    json_array_foreach(json_object_get(json_object_get(svc, "spec"), "ports"), i, p)
    {
        const char *pn = pc_str(p, "name");
        if ((number && json_integer_value(json_object_get(p, "port")) == number) ||
            (name && pn && *pn && !strcmp(pn, name)))
            return p;
    }
    return NULL;
}

/* The servers of the Service's ClusterIP (nativeLB, or the service.nativelb annotation): one, the
 * Service's virtual address, which Kubernetes balances itself. */
static int cluster_ip(const pc_kobj_t *o, const char *proto, long long pnum, proxy_service_t *s,
                      char *err, size_t errlen)
{
    const char *ip = pc_str(json_object_get(o->obj, "spec"), "clusterIP");
    if (!ip || !*ip || !strcmp(ip, "None")) {
        snprintf(err, errlen, "no clusterIP found for service %s/%s", o->ns, o->name);
        return -EINVAL;
    }
    server_add(s, proto, ip, pnum, 0);
    return 0;
}

int pc_scheme_check(const char *scheme, char *err, size_t errlen)
{
    if (!scheme || !*scheme || !strcmp(scheme, "http") || !strcmp(scheme, "https"))
        return 0;
    snprintf(err, errlen, "scheme %s is not supported (http, https)", scheme);
    return -EINVAL;
}

/* Fills s from the Service object o and the port it exposes, with an IngressRoute's
 * settings (lb) or else the Service's annotations; -EINVAL with err. */
static int service_fill(pc_kstate_t *k, const pc_kobj_t *o, const json_t *port,
                        const pc_lb_spec_t *lb, proxy_service_t *s, char *err, size_t errlen)
{
    const json_t *spec = json_object_get(o->obj, "spec");
    const char *type = pc_str(spec, "type"), *scheme = NULL;
    const char *pname = pc_str(port, "name");
    long long pnum = json_integer_value(json_object_get(port, "port"));
    int native_lb = 0;
    if (lb) {
        native_lb = lb->native_lb;
        scheme = lb->scheme;
        s->pass_host_header = lb->pass_host_header;
        s->strategy = lb->strategy;
        if (lb->servers_transport)
            s->servers_transport = hc_strdup(lb->servers_transport);
        if (pc_sticky_parse(lb->sticky, &s->sticky) < 0) {
            snprintf(err, errlen, "sticky must hold a cookie mapping");
            return -EINVAL;
        }
    } else {
        const json_t *ann = json_object_get(json_object_get(o->obj, "metadata"), "annotations");
        int rc = service_annotations(ann, s, &scheme, &native_lb, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (scheme && !*scheme)
        scheme = NULL;
    if (pc_scheme_check(scheme, err, errlen) < 0)
        return -EINVAL;
    /* https when the port is 443 or its name starts with "https" (Traefik getProtocol). */
    const char *proto = scheme                                                    ? scheme
                        : (pnum == 443 || (pname && !strncmp(pname, "https", 5))) ? "https"
                                                                                  : "http";
    if (type && !strcmp(type, "ExternalName")) {
        const char *ext = pc_str(spec, "externalName");
        if (!k->b->in->allow_external_name) {
            snprintf(err, errlen, "externalName services not allowed: %s/%s", o->ns, o->name);
            return -EINVAL;
        }
        if (!ext || !*ext) {
            snprintf(err, errlen, "service %s/%s has no spec.externalName", o->ns, o->name);
            return -EINVAL;
        }
        server_add(s, proto, ext, pnum, 0);
        return 0;
    }
    if (native_lb)
        return cluster_ip(o, proto, pnum, s, err, errlen);
    if (!service_endpoints(k, o->ns, o->name, pname ? pname : "", proto, s)) {
        snprintf(err, errlen, "endpoints not found for service %s/%s", o->ns, o->name);
        return -EINVAL;
    }
    if (!s->nservers && !k->b->in->allow_empty_services) {
        snprintf(err, errlen, "service %s/%s has no ready endpoints", o->ns, o->name);
        return -EINVAL;
    }
    return 0;
}

int pc_k8s_service(pc_kstate_t *k, const char *ns, const char *name, long long pnum,
                   const char *pname, const pc_lb_spec_t *lb, const char *q, proxy_provider_t p,
                   char *err, size_t errlen)
{
    const pc_kobj_t *o = pc_kfind(k, PC_K_SERVICE, ns, name);
    if (!o) {
        snprintf(err, errlen, "service %s/%s not found", ns, name);
        return -EINVAL;
    }
    const json_t *sp = service_port(o->obj, pname ? 0 : pnum, pname);
    json_t *any = NULL;
    const char *type = pc_str(json_object_get(o->obj, "spec"), "type");
    if (!sp && lb && !pname && pnum > 0 && type && !strcmp(type, "ExternalName"))
        sp = any = json_pack("{s:I}", "port", (json_int_t)pnum); /* Traefik's CRD getServicePort */
    if (!sp) {
        if (pname)
            snprintf(err, errlen, "service %s/%s has no port %s", ns, name, pname);
        else
            snprintf(err, errlen, "service %s/%s has no port %lld", ns, name, pnum);
        return -EINVAL;
    }
    proxy_service_t tmp = {.pass_host_header = 1};
    int rc = service_fill(k, o, sp, lb, &tmp, err, errlen);
    json_decref(any);
    if (rc < 0) {
        pc_service_clear(&tmp);
        return -EINVAL;
    }
    proxy_service_t *s = pc_service_add(k->b, hc_strdup(q), p, o->source);
    tmp.name = s->name;
    tmp.source = s->source;
    tmp.provider = s->provider;
    *s = tmp;
    return 0;
}

int pc_k8s_backend(pc_kstate_t *k, const pc_kobj_t *ing, const json_t *backend,
                   const char *name_override, char **svc_name, char *err, size_t errlen)
{
    const json_t *svc = json_object_get(backend, "service");
    const json_t *port = json_object_get(svc, "port");
    const char *name = pc_str(svc, "name"), *pname = pc_str(port, "name");
    long long pnum = json_integer_value(json_object_get(port, "number"));
    *svc_name = NULL;
    if (json_object_get(backend, "resource")) {
        snprintf(err, errlen, "backend.resource is not supported");
        return -EINVAL;
    }
    if (!name || (!pname && pnum <= 0)) {
        snprintf(err, errlen, "backend needs service.name and service.port.number or .name");
        return -EINVAL;
    }
    if (name_override) {
        *svc_name = pc_strf("%s@kubernetes", name_override);
    } else {
        char *raw = pname ? pc_strf("%s-%s-%s", ing->ns, name, pname)
                          : pc_strf("%s-%s-%lld", ing->ns, name, pnum);
        char *norm = proxy_config_normalize(raw);
        *svc_name = pc_strf("%s@kubernetes", norm);
        hc_free(norm);
        hc_free(raw);
    }
    return pc_k8s_service(k, ing->ns, name, pnum, pname, NULL, *svc_name, PROXY_PROVIDER_KUBERNETES,
                          err, errlen);
}

void pc_k8s_load(pc_build_t *b)
{
    const proxy_config_input_t *in = b->in;
    pc_kstate_t k = {.b = b, .objs = hc_calloc(in->nobjects ? in->nobjects : 1, sizeof(pc_kobj_t))};
    for (size_t i = 0; i < in->nobjects; i++)
        index_one(&k, in->objects[i], in->sources[i], i);
    qsort(k.objs, k.nobjs, sizeof(*k.objs), cmp_kobj);
    pc_crd_load(&k);
    for (size_t i = 0; i < k.nobjs; i++) {
        if (k.objs[i].kind == PC_K_INGRESS)
            pc_ingress_load(&k, &k.objs[i]);
        else if (k.objs[i].kind == PC_K_INGRESSROUTE)
            pc_ingressroute_load(&k, &k.objs[i]);
        else if (k.objs[i].kind == PC_K_TRAEFIKSERVICE)
            pc_traefik_service_load(&k, &k.objs[i]);
    }
    pc_strv_free(k.failed_secrets, k.nfailed);
    hc_free(k.objs);
}
