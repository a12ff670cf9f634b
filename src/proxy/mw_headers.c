/* The headers middleware (mw_headers.h). Security headers are rendered once at parse
 * time into a list that the response phase sets; the order of phases follows Traefik,
 * where the custom-headers handler wraps the secure one, so custom values win. */
#include "proxy/mw_headers.h"
#include "proxy/mw_regex.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct hdr_cfg {
    proxy_mw_headers_t req_custom;  /* value "" = delete */
    proxy_mw_headers_t resp_custom;
    proxy_mw_headers_t secure;      /* rendered security headers */
    proxy_mw_headers_t ssl_proxy;   /* header -> value marking a request as HTTPS */
    char *sts;                      /* Strict-Transport-Security value or NULL */
    int force_sts;
    char **allowed_hosts, **hosts_proxy;
    size_t n_allowed_hosts, n_hosts_proxy;
    int cors;                       /* any accessControl* field set */
    int allow_credentials, add_vary;
    long long max_age;
    char *allow_headers, *allow_methods, *expose_headers; /* joined with ",", or NULL */
    char **origins;
    size_t n_origins;
    proxy_mw_regex_t **origin_res;
    size_t n_origin_res;
} hdr_cfg_t;

void proxy_mw_hdr_free(void *cfg)
{
    hdr_cfg_t *c = cfg;
    if (!c)
        return;
    proxy_mw_headers_free(&c->req_custom);
    proxy_mw_headers_free(&c->resp_custom);
    proxy_mw_headers_free(&c->secure);
    proxy_mw_headers_free(&c->ssl_proxy);
    hc_free(c->sts);
    proxy_mw_strv_free(c->allowed_hosts, c->n_allowed_hosts);
    proxy_mw_strv_free(c->hosts_proxy, c->n_hosts_proxy);
    hc_free(c->allow_headers);
    hc_free(c->allow_methods);
    hc_free(c->expose_headers);
    proxy_mw_strv_free(c->origins, c->n_origins);
    for (size_t i = 0; i < c->n_origin_res; i++)
        proxy_mw_regex_free(c->origin_res[i]);
    hc_free(c->origin_res);
    hc_free(c);
}

/* Reads a name -> string map (customRequestHeaders, ...) into out, in document order. */
static int parse_map(const json_t *spec, const char *key, proxy_mw_headers_t *out, char *err,
                     size_t errlen)
{
    const char *k;
    json_t *v, *obj = proxy_mw_json_get(spec, key);
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return hc_errf(err, errlen, -EINVAL, "%s: expected a map of header names to values", key);
    json_object_foreach(obj, k, v) {
        if (json_is_null(v))
            proxy_mw_headers_add(out, k, "");
        else if (json_is_string(v))
            proxy_mw_headers_add(out, k, json_string_value(v));
        else
            return hc_errf(err, errlen, -EINVAL, "%s.%s: expected a string", key, k);
    }
    return 0;
}

/* Reads a list of strings and joins it with "," (Traefik's strings.Join(list, ",")). */
static int parse_joined(const json_t *spec, const char *key, char **out, int *any, char *err,
                        size_t errlen)
{
    char **v;
    size_t n;
    hc_buf_t b;
    if (proxy_mw_json_strv(spec, key, &v, &n, err, errlen) != 0)
        return -EINVAL;
    if (n) {
        hc_buf_init(&b, 0);
        for (size_t i = 0; i < n; i++)
            if ((i && hc_buf_puts(&b, ",") != 0) || hc_buf_puts(&b, v[i]) != 0)
                break;
        *out = hc_strdup(b.base);
        hc_buf_free(&b);
        *any = 1;
    }
    proxy_mw_strv_free(v, n);
    return 0;
}

/* Adds header name = the string field key to c->secure when it is set and non-empty. */
static int secure_str(hdr_cfg_t *c, const json_t *spec, const char *key, const char *name,
                      char *err, size_t errlen)
{
    char *v = NULL;
    if (proxy_mw_json_str(spec, key, &v, err, errlen) != 0)
        return -EINVAL;
    if (v && v[0])
        proxy_mw_headers_set(&c->secure, name, v);
    hc_free(v);
    return 0;
}

/* unrolled/secure: a custom value wins over the boolean's fixed value. */
static int secure_flag(hdr_cfg_t *c, const json_t *spec, const char *flag, const char *custom,
                       const char *name, const char *fixed, char *err, size_t errlen)
{
    int on = 0;
    if (proxy_mw_json_bool(spec, flag, &on, err, errlen) != 0)
        return -EINVAL;
    if (on)
        proxy_mw_headers_set(&c->secure, name, fixed);
    return custom ? secure_str(c, spec, custom, name, err, errlen) : 0;
}

static int parse_sts(hdr_cfg_t *c, const json_t *spec, char *err, size_t errlen)
{
    long long secs = 0;
    int sub = 0, preload = 0;
    char v[96];
    if (proxy_mw_json_int(spec, "stsSeconds", &secs, err, errlen) != 0 ||
        proxy_mw_json_bool(spec, "stsIncludeSubdomains", &sub, err, errlen) != 0 ||
        proxy_mw_json_bool(spec, "stsPreload", &preload, err, errlen) != 0 ||
        proxy_mw_json_bool(spec, "forceSTSHeader", &c->force_sts, err, errlen) != 0)
        return -EINVAL;
    if (secs != 0) {
        snprintf(v, sizeof(v), "max-age=%lld%s%s", secs, sub ? "; includeSubDomains" : "",
                 preload ? "; preload" : "");
        c->sts = hc_strdup(v);
    }
    return 0;
}

static int parse_secure(hdr_cfg_t *c, const json_t *spec, char *err, size_t errlen)
{
    if (secure_flag(c, spec, "frameDeny", "customFrameOptionsValue", "X-Frame-Options", "DENY", err,
                    errlen) != 0 ||
        secure_flag(c, spec, "contentTypeNosniff", NULL, "X-Content-Type-Options", "nosniff", err,
                    errlen) != 0 ||
        secure_flag(c, spec, "browserXssFilter", "customBrowserXSSValue", "X-XSS-Protection",
                    "1; mode=block", err, errlen) != 0 ||
        secure_str(c, spec, "contentSecurityPolicy", "Content-Security-Policy", err, errlen) ||
        secure_str(c, spec, "contentSecurityPolicyReportOnly",
                   "Content-Security-Policy-Report-Only", err, errlen) ||
        secure_str(c, spec, "referrerPolicy", "Referrer-Policy", err, errlen) ||
        secure_str(c, spec, "permissionsPolicy", "Permissions-Policy", err, errlen))
        return -EINVAL;
    return parse_sts(c, spec, err, errlen);
}

static int parse_cors(hdr_cfg_t *c, const json_t *spec, char *err, size_t errlen)
{
    char **res;
    size_t n;
    if (proxy_mw_json_bool(spec, "accessControlAllowCredentials", &c->allow_credentials, err,
                           errlen) != 0 ||
        proxy_mw_json_bool(spec, "addVaryHeader", &c->add_vary, err, errlen) != 0 ||
        proxy_mw_json_int(spec, "accessControlMaxAge", &c->max_age, err, errlen) != 0 ||
        parse_joined(spec, "accessControlAllowHeaders", &c->allow_headers, &c->cors, err,
                     errlen) != 0 ||
        parse_joined(spec, "accessControlAllowMethods", &c->allow_methods, &c->cors, err,
                     errlen) != 0 ||
        parse_joined(spec, "accessControlExposeHeaders", &c->expose_headers, &c->cors, err,
                     errlen) != 0 ||
        proxy_mw_json_strv(spec, "accessControlAllowOriginList", &c->origins, &c->n_origins,
                           err, errlen) != 0 ||
        proxy_mw_json_strv(spec, "accessControlAllowOriginListRegex", &res, &n, err, errlen))
        return -EINVAL;
    c->origin_res = hc_calloc(n ? n : 1, sizeof(*c->origin_res));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = proxy_mw_regex_compile(res[i], &c->origin_res[i], err, errlen);
        if (rc == 0)
            c->n_origin_res++;
    }
    proxy_mw_strv_free(res, n);
    if (c->allow_credentials || c->max_age || c->n_origins || n || c->add_vary)
        c->cors = 1; /* Traefik's HasCorsHeadersDefined, addVaryHeader included */
    return rc;
}

static void warn_ignored(const json_t *spec, const char *name)
{
    static const char *const ignored[] = {"sslRedirect", "sslTemporaryRedirect",
                                          "sslHost",     "sslForceHost",
                                          "publicKey",   "featurePolicy"};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        if (proxy_mw_json_get(spec, ignored[i]))
            hc_log(HC_LOG_WARN, "headers middleware option ignored (removed in Traefik v3)",
                   HC_LS("middleware", name), HC_LS("option", ignored[i]), NULL);
}

/* Traefik's HasCustomHeadersDefined, HasCorsHeadersDefined and HasSecureHeadersDefined
 * together: some field of the spec (every field is in one of them) holds a value other
 * than false, 0, "" or an empty list or map. */
static int any_defined(const json_t *spec)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v)
    {
        if (json_is_true(v) || (json_is_string(v) && *json_string_value(v)) ||
            (json_is_integer(v) && json_integer_value(v)) ||
            (json_is_real(v) && json_real_value(v)) || (json_is_object(v) && json_object_size(v)) ||
            (json_is_array(v) && json_array_size(v)))
            return 1;
    }
    return 0;
}

int proxy_mw_hdr_parse(const json_t *spec, const char *name, void **cfg, char *err,
                       size_t errlen)
{
    if (!json_is_object(spec))
        return hc_errf(err, errlen, -EINVAL, "headers: expected an object");
    if (!any_defined(spec)) /* Traefik refuses to build it */
        return hc_errf(err, errlen, -EINVAL, "headers configuration not valid: no header set");
    hdr_cfg_t *c = hc_calloc(1, sizeof(*c));
    int rc = parse_map(spec, "customRequestHeaders", &c->req_custom, err, errlen);
    if (rc == 0)
        rc = parse_map(spec, "customResponseHeaders", &c->resp_custom, err, errlen);
    if (rc == 0)
        rc = parse_map(spec, "sslProxyHeaders", &c->ssl_proxy, err, errlen);
    if (rc == 0)
        rc = parse_secure(c, spec, err, errlen);
    if (rc == 0)
        rc = parse_cors(c, spec, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_strv(spec, "allowedHosts", &c->allowed_hosts, &c->n_allowed_hosts,
                                err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_strv(spec, "hostsProxyHeaders", &c->hosts_proxy, &c->n_hosts_proxy,
                                err, errlen);
    int dev = 0;
    if (rc == 0)
        rc = proxy_mw_json_bool(spec, "isDevelopment", &dev, err, errlen);
    if (rc != 0) {
        proxy_mw_hdr_free(c);
        return rc;
    }
    if (dev) { /* unrolled/secure's IsDevelopment: AllowedHosts and STS are left out */
        proxy_mw_strv_free(c->allowed_hosts, c->n_allowed_hosts);
        c->allowed_hosts = NULL;
        c->n_allowed_hosts = 0;
        hc_free(c->sts);
        c->sts = NULL;
    }
    warn_ignored(spec, name);
    *cfg = c;
    return 0;
}

/* Traefik isOriginAllowed: "*" or an exact entry answers with that entry; a regex match
 * answers with the origin itself. Returns the value for Access-Control-Allow-Origin. */
static const char *origin_allowed(const hdr_cfg_t *c, const char *origin)
{
    for (size_t i = 0; i < c->n_origins; i++)
        if (strcmp(c->origins[i], "*") == 0 || strcmp(c->origins[i], origin) == 0)
            return c->origins[i];
    for (size_t i = 0; i < c->n_origin_res; i++)
        if (proxy_mw_regex_find(c->origin_res[i], origin, strlen(origin), NULL, NULL))
            return origin;
    return NULL;
}

static proxy_mw_verdict_t preflight(const hdr_cfg_t *c, const proxy_mw_req_t *req,
                                    proxy_mw_resp_t *resp, const char *origin)
{
    char age[24];
    proxy_mw_headers_t *h = &resp->headers;
    if (c->allow_credentials)
        proxy_mw_headers_set(h, "Access-Control-Allow-Credentials", "true");
    if (c->allow_headers)
        proxy_mw_headers_set(h, "Access-Control-Allow-Headers", c->allow_headers);
    if (c->allow_methods)
        proxy_mw_headers_set(h, "Access-Control-Allow-Methods", c->allow_methods);
    const char *allow = origin_allowed(c, origin);
    if (allow)
        proxy_mw_headers_set(h, "Access-Control-Allow-Origin", allow);
    snprintf(age, sizeof(age), "%lld", c->max_age);
    proxy_mw_headers_set(h, "Access-Control-Max-Age", age);
    proxy_mw_headers_set(h, "Content-Length", "0");
    resp->status = 200;
    hc_buf_reset(&resp->body);
    return PROXY_MW_RESPOND;
}

/* unrolled/secure AllowedHosts: the host may come from a proxy header. */
static int host_allowed(const hdr_cfg_t *c, const proxy_mw_req_t *req)
{
    const char *host = req->host;
    if (!c->n_allowed_hosts)
        return 1;
    for (size_t i = 0; i < c->n_hosts_proxy; i++) {
        const char *v = proxy_mw_headers_get(&req->headers, c->hosts_proxy[i]);
        if (v && v[0]) {
            host = v;
            break;
        }
    }
    for (size_t i = 0; i < c->n_allowed_hosts; i++) /* strings.EqualFold, as unrolled/secure */
        if (strcasecmp(c->allowed_hosts[i], host) == 0)
            return 1;
    return 0;
}

proxy_mw_verdict_t proxy_mw_hdr_request(const void *cfg, proxy_mw_req_t *req,
                                        proxy_mw_resp_t *resp)
{
    const hdr_cfg_t *c = cfg;
    const char *origin = proxy_mw_headers_get(&req->headers, "Origin");
    const char *acrm = proxy_mw_headers_get(&req->headers, "Access-Control-Request-Method");
    if (c->cors && origin && origin[0] && acrm && acrm[0] && strcmp(req->method, "OPTIONS") == 0)
        return preflight(c, req, resp, origin);
    for (size_t i = 0; i < c->req_custom.len; i++) {
        const proxy_mw_header_t *h = &c->req_custom.v[i];
        if (h->value[0]) {
            proxy_mw_headers_set(&req->headers, h->name, h->value);
            if (strcasecmp(h->name, "Host") == 0)
                proxy_mw_req_set(req, &req->host, h->value);
        } else {
            proxy_mw_headers_del(&req->headers, h->name);
            if (strcasecmp(h->name, "X-Forwarded-For") == 0)
                req->no_xff = 1;
        }
    }
    if (!host_allowed(c, req))
        return proxy_mw_resp_text(resp, 500, PROXY_MW_TEXT_PLAIN, "Bad Host");
    return PROXY_MW_NEXT;
}

static int request_is_ssl(const hdr_cfg_t *c, const proxy_mw_req_t *req)
{
    if (strcmp(req->scheme, "https") == 0)
        return 1;
    for (size_t i = 0; i < c->ssl_proxy.len; i++) {
        const char *v = proxy_mw_headers_get(&req->headers, c->ssl_proxy.v[i].name);
        if (v && strcasecmp(v, c->ssl_proxy.v[i].value) == 0)
            return 1;
    }
    return 0;
}

static void cors_response(const hdr_cfg_t *c, const proxy_mw_req_t *req, proxy_mw_headers_t *h)
{
    const char *origin = proxy_mw_headers_get(&req->headers, "Origin");
    const char *allow = origin_allowed(c, origin ? origin : "");
    if (allow)
        proxy_mw_headers_set(h, "Access-Control-Allow-Origin", allow);
    if (c->allow_credentials)
        proxy_mw_headers_set(h, "Access-Control-Allow-Credentials", "true");
    if (c->expose_headers)
        proxy_mw_headers_set(h, "Access-Control-Expose-Headers", c->expose_headers);
    if (!c->add_vary)
        return;
    const char *vary = proxy_mw_headers_get(h, "Vary");
    if (!vary || !vary[0]) {
        proxy_mw_headers_set(h, "Vary", "Origin");
    } else if (strcmp(vary, "Origin") != 0) {
        size_t n = strlen(vary);
        char *joined = hc_malloc(n + sizeof(",Origin"));
        memcpy(joined, vary, n);
        memcpy(joined + n, ",Origin", sizeof(",Origin"));
        proxy_mw_headers_set(h, "Vary", joined);
        hc_free(joined);
    }
}

void proxy_mw_hdr_response(const void *cfg, const proxy_mw_req_t *req, proxy_mw_resp_t *resp)
{
    const hdr_cfg_t *c = cfg;
    proxy_mw_headers_t *h = &resp->headers;
    for (size_t i = 0; i < c->secure.len; i++)
        proxy_mw_headers_set(h, c->secure.v[i].name, c->secure.v[i].value);
    if (c->sts && (c->force_sts || request_is_ssl(c, req)))
        proxy_mw_headers_set(h, "Strict-Transport-Security", c->sts);
    for (size_t i = 0; i < c->resp_custom.len; i++) {
        const proxy_mw_header_t *e = &c->resp_custom.v[i];
        if (e->value[0])
            proxy_mw_headers_set(h, e->name, e->value);
        else
            proxy_mw_headers_del(h, e->name);
    }
    cors_response(c, req, h);
}
