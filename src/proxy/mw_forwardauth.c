/* forwardAuth's pure parts (mw_forwardauth.h): auth request headers, and applying the
 * auth answer to the request (2xx) or as the client's response (anything else). */
#include "proxy/mw_forwardauth.h"
#include "proxy/mw_regex.h"
#include "core/hc_alloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct fa_cfg {
    char *address;
    int trust;
    char *header_field; /* the request field naming the user for the access log */
    char **resp_headers, **req_headers, **cookie_names;
    size_t n_resp_headers, n_req_headers, n_cookie_names;
    proxy_mw_regex_t *resp_regex;
    long long max_body;
    int preserve_method;   /* preserveRequestMethod: the client's method, not GET */
    int preserve_location; /* preserveLocationHeader: the auth server's Location as sent */
} fa_cfg_t;

/* RFC 9110 §7.6.1 hop-by-hop fields, as Traefik's forward.go hopHeaders (it spells
 * "Trailers"; both spellings are dropped). Proxy-Authorization is deliberately kept. */
static const char *const hop_headers[] = {"Connection", "Keep-Alive", "Te", "Trailer",
                                          "Trailers", "Transfer-Encoding", "Upgrade"};

void proxy_mw_forwardauth_free(void *cfg)
{
    fa_cfg_t *c = cfg;
    if (!c)
        return;
    hc_free(c->address);
    hc_free(c->header_field);
    proxy_mw_strv_free(c->resp_headers, c->n_resp_headers);
    proxy_mw_strv_free(c->req_headers, c->n_req_headers);
    proxy_mw_strv_free(c->cookie_names, c->n_cookie_names);
    proxy_mw_regex_free(c->resp_regex);
    hc_free(c);
}

int proxy_mw_forwardauth_parse(const json_t *spec, const char *name, void **cfg, char *err,
                               size_t errlen)
{
    char *re = NULL;
    fa_cfg_t *c = hc_calloc(1, sizeof(*c));
    c->max_body = -1;
    int rc = proxy_mw_json_str(spec, "address", &c->address, err, errlen);
    if (rc == 0 && (!c->address || (strncmp(c->address, "http://", 7) != 0 &&
                                    strncmp(c->address, "https://", 8) != 0)))
        rc = hc_errf(err, errlen, -EINVAL, "forwardAuth: address must be an http(s) URL");
    if (rc == 0)
        rc = proxy_mw_json_bool(spec, "trustForwardHeader", &c->trust, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_strv(spec, "authResponseHeaders", &c->resp_headers,
                                &c->n_resp_headers, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_strv(spec, "authRequestHeaders", &c->req_headers, &c->n_req_headers,
                                err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_strv(spec, "addAuthCookiesToResponse", &c->cookie_names,
                                &c->n_cookie_names, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_int(spec, "maxResponseBodySize", &c->max_body, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_bool(spec, "preserveRequestMethod", &c->preserve_method, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_bool(spec, "preserveLocationHeader", &c->preserve_location, err, errlen);
    int body = 0;
    if (rc == 0)
        rc = proxy_mw_json_bool(spec, "forwardBody", &body, err, errlen);
    if (rc == 0 && body) /* refused, never ignored: an auth server may sign the body */
        rc = hc_errf(err, errlen, -EINVAL, "forwardAuth: forwardBody is not supported");
    if (rc == 0)
        rc = proxy_mw_json_str(spec, "headerField", &c->header_field, err, errlen);
    /* refused, never ignored: the worker's client verifies against the system store, so
       each request would fail (500) where a CA or client certificate was asked for */
    const json_t *tls = proxy_mw_json_get(spec, "tls");
    int insecure = 0;
    if (rc == 0)
        rc = proxy_mw_json_bool(tls, "insecureSkipVerify", &insecure, err, errlen);
    if (rc == 0 && (insecure || proxy_mw_json_get(tls, "ca") || proxy_mw_json_get(tls, "cert") ||
                    proxy_mw_json_get(tls, "key") || proxy_mw_json_get(tls, "caSecret") ||
                    proxy_mw_json_get(tls, "certSecret")))
        rc = hc_errf(err, errlen, -EINVAL,
                     "forwardAuth: tls (ca, cert, key, insecureSkipVerify) "
                     "is not supported");
    (void)proxy_mw_json_get(tls, "caOptional"); /* without a CA, nothing to make optional */
    if (rc == 0)
        rc = proxy_mw_json_str(spec, "authResponseHeadersRegex", &re, err, errlen);
    if (rc == 0 && re && re[0])
        rc = proxy_mw_regex_compile(re, &c->resp_regex, err, errlen);
    hc_free(re);
    if (rc != 0) {
        proxy_mw_forwardauth_free(c);
        return rc;
    }
    *cfg = c;
    return 0;
}

const char *proxy_mw_forwardauth_address(const void *cfg)
{
    return ((const fa_cfg_t *)cfg)->address;
}

const char *proxy_mw_forwardauth_method(const void *cfg, const char *method)
{
    return ((const fa_cfg_t *)cfg)->preserve_method && method ? method : "GET";
}

static int listed(char *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v[i], name) == 0)
            return 1;
    return 0;
}

/* Is name among the tokens of the Connection value conn (RFC 9110 §7.6.1)? */
static int named_by_connection(const char *conn, const char *name)
{
    size_t nl = strlen(name);
    if (nl == 0)
        return 0;
    for (const char *s = conn; s && *s;) {
        s += strspn(s, " \t,");
        size_t n = strcspn(s, " \t,");
        if (n == nl && strncasecmp(s, name, n) == 0)
            return 1;
        s += n;
    }
    return 0;
}

static void strip_hop_headers(proxy_mw_headers_t *h)
{
    for (size_t i = 0; i < h->len; i++)
        if (strcasecmp(h->v[i].name, "Connection") == 0)
            for (size_t j = h->len; j-- > 0;)
                if (j != i && named_by_connection(h->v[i].value, h->v[j].name))
                    h->v[j].name[0] = '\0'; /* an empty name marks it for removal */
    proxy_mw_headers_del(h, "");
    for (size_t i = 0; i < sizeof(hop_headers) / sizeof(hop_headers[0]); i++)
        proxy_mw_headers_del(h, hop_headers[i]);
}

/* Sets name to the client's own value when trusted and present, else to computed. */
static void forwarded(const fa_cfg_t *c, const proxy_mw_req_t *req, proxy_mw_headers_t *out,
                      const char *name, const char *computed)
{
    const char *v = proxy_mw_headers_get(&req->headers, name);
    if (c->trust && v && v[0])
        proxy_mw_headers_set(out, name, v);
    else if (computed && computed[0])
        proxy_mw_headers_set(out, name, computed);
    else
        proxy_mw_headers_del(out, name);
}

static void forwarded_for(const fa_cfg_t *c, const proxy_mw_req_t *req, proxy_mw_headers_t *out)
{
    hc_buf_t b;
    hc_buf_init(&b, 0);
    for (size_t i = 0; c->trust && i < req->headers.len; i++)
        if (strcasecmp(req->headers.v[i].name, "X-Forwarded-For") == 0)
            hc_buf_printf(&b, "%s, ", req->headers.v[i].value);
    hc_buf_puts(&b, req->peer_ip);
    proxy_mw_headers_set(out, "X-Forwarded-For", b.base);
    hc_buf_free(&b);
}

void proxy_mw_forwardauth_request_headers(const void *cfg, const proxy_mw_req_t *req,
                                          proxy_mw_headers_t *out)
{
    const fa_cfg_t *c = cfg;
    hc_buf_t uri;
    for (size_t i = 0; i < req->headers.len; i++) {
        const proxy_mw_header_t *h = &req->headers.v[i];
        if (!c->n_req_headers || listed(c->req_headers, c->n_req_headers, h->name))
            proxy_mw_headers_add(out, h->name, h->value);
    }
    strip_hop_headers(out);
    if (req->peer_ip[0])
        forwarded_for(c, req, out);
    forwarded(c, req, out, "X-Forwarded-Method", req->method);
    forwarded(c, req, out, "X-Forwarded-Proto", req->scheme);
    forwarded(c, req, out, "X-Forwarded-Host", req->host);
    hc_buf_init(&uri, PROXY_MW_BUILD_MAX);
    if (hc_buf_puts(&uri, req->path) == 0 && req->query)
        hc_buf_printf(&uri, "?%s", req->query);
    forwarded(c, req, out, "X-Forwarded-Uri", uri.base);
    hc_buf_free(&uri);
    /* X-Forwarded-Port, X-Real-Ip, X-Forwarded-Server: as the entry point set them, when
     * authRequestHeaders lets them through (Traefik re-sets only a trusted port) */
    const char *port = c->trust ? proxy_mw_headers_get(&req->headers, "X-Forwarded-Port") : NULL;
    if (port && *port)
        proxy_mw_headers_set(out, "X-Forwarded-Port", port);
}

static int cookie_named(const char *set_cookie, char *const *names, size_t n)
{
    size_t nl = strcspn(set_cookie, "=");
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == nl && strncmp(names[i], set_cookie, nl) == 0)
            return 1;
    return 0;
}

static void copy_auth_headers(const fa_cfg_t *c, proxy_mw_req_t *req,
                              const proxy_mw_headers_t *ah, proxy_mw_headers_t *cookies)
{
    for (size_t i = 0; i < c->n_resp_headers; i++) {
        proxy_mw_headers_del(&req->headers, c->resp_headers[i]);
        for (size_t j = 0; j < ah->len; j++)
            if (strcasecmp(ah->v[j].name, c->resp_headers[i]) == 0)
                proxy_mw_headers_add(&req->headers, ah->v[j].name, ah->v[j].value);
    }
    if (c->resp_regex) {
        for (size_t j = req->headers.len; j-- > 0;) {
            const char *n = req->headers.v[j].name;
            if (proxy_mw_regex_find(c->resp_regex, n, strlen(n), NULL, NULL))
                req->headers.v[j].name[0] = '\0';
        }
        proxy_mw_headers_del(&req->headers, "");
        for (size_t j = 0; j < ah->len; j++) {
            const char *n = ah->v[j].name;
            if (proxy_mw_regex_find(c->resp_regex, n, strlen(n), NULL, NULL))
                proxy_mw_headers_add(&req->headers, n, ah->v[j].value);
        }
    }
    for (size_t j = 0; cookies && j < ah->len; j++)
        if (strcasecmp(ah->v[j].name, "Set-Cookie") == 0 &&
            cookie_named(ah->v[j].value, c->cookie_names, c->n_cookie_names))
            proxy_mw_headers_add(cookies, "Set-Cookie", ah->v[j].value);
}

proxy_mw_verdict_t proxy_mw_forwardauth_apply(const void *cfg, proxy_mw_req_t *req, int status,
                                              const proxy_mw_headers_t *auth_headers,
                                              const void *body, size_t body_len,
                                              proxy_mw_headers_t *cookies,
                                              proxy_mw_resp_t *resp)
{
    const fa_cfg_t *c = cfg;
    size_t max = c->max_body >= 0 ? (size_t)c->max_body : PROXY_MW_FORWARDAUTH_BODY_MAX;
    if (body_len > max)
        return proxy_mw_resp_text(resp, 401, PROXY_MW_TEXT_PLAIN, "Unauthorized");
    /* Traefik's headerField: the auth server's answer names the access log's
     * ClientUsername, whatever its status */
    const char *user = c->header_field && *c->header_field
                           ? proxy_mw_headers_get(auth_headers, c->header_field)
                           : NULL;
    if (user)
        proxy_mw_str_set(&req->user, user);
    if (status >= 200 && status < 300) {
        copy_auth_headers(c, req, auth_headers, cookies);
        return PROXY_MW_NEXT;
    }
    for (size_t i = 0; i < auth_headers->len; i++)
        proxy_mw_headers_add(&resp->headers, auth_headers->v[i].name, auth_headers->v[i].value);
    strip_hop_headers(&resp->headers);
    const char *loc = proxy_mw_headers_get(&resp->headers, "Location");
    if (loc && loc[0] && !c->preserve_location) {
        hc_buf_t abs;
        hc_buf_init(&abs, PROXY_MW_BUILD_MAX);
        if (proxy_mw_url_resolve(c->address, loc, &abs) == 0)
            proxy_mw_headers_set(&resp->headers, "Location", abs.base);
        hc_buf_free(&abs);
    }
    resp->status = status;
    hc_buf_reset(&resp->body);
    resp->body.max = max;
    if (body_len && hc_buf_append(&resp->body, body, body_len) != 0)
        return proxy_mw_resp_text(resp, 401, PROXY_MW_TEXT_PLAIN, "Unauthorized");
    return PROXY_MW_RESPOND;
}

void proxy_mw_forwardauth_merge_cookies(const proxy_mw_headers_t *cookies,
                                        proxy_mw_resp_t *resp)
{
    proxy_mw_headers_t *h = &resp->headers;
    for (size_t i = 0; i < cookies->len; i++) {
        const char *v = cookies->v[i].value;
        size_t nl = strcspn(v, "=");
        for (size_t j = 0; j < h->len; j++)
            if (strcasecmp(h->v[j].name, "Set-Cookie") == 0 &&
                strncmp(h->v[j].value, v, nl) == 0 && h->v[j].value[nl] == '=')
                h->v[j].name[0] = '\0';
    }
    proxy_mw_headers_del(h, "");
    for (size_t i = 0; i < cookies->len; i++)
        proxy_mw_headers_add(h, "Set-Cookie", cookies->v[i].value);
}
