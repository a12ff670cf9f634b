/* redirectScheme and redirectRegex (mw_redirect.h), after traefik/traefik
 * pkg/middlewares/redirect/{redirect,redirect_scheme,redirect_regex}.go. */
#include "proxy/mw_redirect.h"
#include "proxy/mw_regex.h"
#include "core/hc_alloc.h"
#include "core/hc_http_status.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

typedef struct redirect_cfg {
    proxy_mw_regex_t *re; /* redirectRegex; NULL for redirectScheme */
    char *replacement;    /* redirectRegex */
    char *scheme;         /* redirectScheme */
    char *port;           /* redirectScheme: ":<port>" or "" */
    int permanent;
} redirect_cfg_t;

void proxy_mw_redirect_free(void *cfg)
{
    redirect_cfg_t *c = cfg;
    if (!c)
        return;
    proxy_mw_regex_free(c->re);
    hc_free(c->replacement);
    hc_free(c->scheme);
    hc_free(c->port);
    hc_free(c);
}

int proxy_mw_redirectscheme_parse(const json_t *spec, const char *name, void **cfg,
                                  char *err, size_t errlen)
{
    char *port = NULL;
    redirect_cfg_t *c = hc_calloc(1, sizeof(*c));
    int rc = proxy_mw_json_str(spec, "scheme", &c->scheme, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_str(spec, "port", &port, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_bool(spec, "permanent", &c->permanent, err, errlen);
    if (rc == 0 && (!c->scheme || !c->scheme[0]))
        rc = hc_errf(err, errlen, -EINVAL, "redirectScheme: you must provide a target scheme");
    if (rc != 0) {
        hc_free(port);
        proxy_mw_redirect_free(c);
        return rc;
    }
    int dflt = port && ((strcmp(c->scheme, "http") == 0 && strcmp(port, "80") == 0) ||
                        (strcmp(c->scheme, "https") == 0 && strcmp(port, "443") == 0));
    if (port && port[0] && !dflt) {
        size_t n = strlen(port);
        c->port = hc_malloc(n + 2);
        c->port[0] = ':';
        memcpy(c->port + 1, port, n + 1);
    } else {
        c->port = hc_strdup("");
    }
    hc_free(port);
    *cfg = c;
    return 0;
}

int proxy_mw_redirectregex_parse(const json_t *spec, const char *name, void **cfg, char *err,
                                 size_t errlen)
{
    char *regex = NULL;
    redirect_cfg_t *c = hc_calloc(1, sizeof(*c));
    int rc = proxy_mw_json_str(spec, "regex", &regex, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_str(spec, "replacement", &c->replacement, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_bool(spec, "permanent", &c->permanent, err, errlen);
    if (rc == 0 && !regex)
        rc = hc_errf(err, errlen, -EINVAL, "redirectRegex: regex is required");
    if (rc == 0)
        rc = proxy_mw_regex_compile(regex, &c->re, err, errlen);
    hc_free(regex);
    if (rc != 0) {
        proxy_mw_redirect_free(c);
        return rc;
    }
    if (!c->replacement)
        c->replacement = hc_strdup("");
    *cfg = c;
    return 0;
}

static int append_uri(const proxy_mw_req_t *req, hc_buf_t *out)
{
    if (hc_buf_puts(out, req->path) != 0)
        return -ENOBUFS;
    if (req->query && (hc_buf_puts(out, "?") != 0 || hc_buf_puts(out, req->query) != 0))
        return -ENOBUFS;
    return 0;
}

/* Appends scheme://name[:port]<uri>, dropping the scheme's default port. */
static int build_url(const proxy_mw_req_t *req, const char *scheme, const char *port,
                     hc_buf_t *out)
{
    size_t nl;
    proxy_mw_host_split(req->host, &nl);
    int dflt = (strcmp(scheme, "http") == 0 && strcmp(port, "80") == 0) ||
               (strcmp(scheme, "https") == 0 && strcmp(port, "443") == 0);
    if (hc_buf_printf(out, "%s://%.*s", scheme, (int)nl, req->host) != 0)
        return -ENOBUFS;
    if (port[0] && !dflt && hc_buf_printf(out, ":%s", port) != 0)
        return -ENOBUFS;
    return append_uri(req, out);
}

/* Traefik's clientRequestURL: the connection's scheme, unless a (trusted) X-Forwarded-
 * Proto says http or ws, https or wss, in any case; another value is ignored. */
static const char *current_scheme(const proxy_mw_req_t *req)
{
    const char *xfp = proxy_mw_headers_get(&req->headers, "X-Forwarded-Proto");
    if (xfp && (!strcasecmp(xfp, "http") || !strcasecmp(xfp, "ws")))
        return "http";
    if (xfp && (!strcasecmp(xfp, "https") || !strcasecmp(xfp, "wss")))
        return "https";
    return strcmp(req->scheme, "https") == 0 ? "https" : "http";
}

int proxy_mw_redirect_client_url(const proxy_mw_req_t *req, hc_buf_t *out)
{
    size_t nl;
    return build_url(req, current_scheme(req), proxy_mw_host_split(req->host, &nl), out);
}

static proxy_mw_verdict_t moved(const redirect_cfg_t *c, const proxy_mw_req_t *req,
                                proxy_mw_resp_t *resp, const char *location)
{
    int get = strcmp(req->method, "GET") == 0;
    int status = c->permanent ? (get ? 301 : 308) : (get ? 302 : 307);
    proxy_mw_headers_set(&resp->headers, "Location", location);
    return proxy_mw_resp_text(resp, status, NULL, hc_http_status_text(status));
}

static proxy_mw_verdict_t redirect_scheme(const redirect_cfg_t *c, const proxy_mw_req_t *req,
                                          proxy_mw_resp_t *resp)
{
    hc_buf_t old, target;
    size_t nl;
    proxy_mw_verdict_t v = PROXY_MW_NEXT;
    proxy_mw_host_split(req->host, &nl);
    hc_buf_init(&old, PROXY_MW_BUILD_MAX);
    hc_buf_init(&target, PROXY_MW_BUILD_MAX);
    if (proxy_mw_redirect_client_url(req, &old) != 0 ||
        hc_buf_printf(&target, "%s://%.*s%s", c->scheme, (int)nl, req->host, c->port) != 0 ||
        append_uri(req, &target) != 0)
        v = proxy_mw_resp_too_long(resp, "redirectScheme");
    else if (strcmp(old.base, target.base) != 0)
        v = moved(c, req, resp, target.base);
    hc_buf_free(&target);
    hc_buf_free(&old);
    return v;
}

/* redirectRegex matches against Traefik's rawURL: http (https over TLS, X-Forwarded-Proto
 * ignored) + "://" + the Host value with its port + the request URI. */
static proxy_mw_verdict_t redirect_regex(const redirect_cfg_t *c, const proxy_mw_req_t *req,
                                         proxy_mw_resp_t *resp)
{
    hc_buf_t old, target;
    proxy_mw_verdict_t v = PROXY_MW_NEXT;
    hc_buf_init(&old, PROXY_MW_BUILD_MAX);
    hc_buf_init(&target, PROXY_MW_BUILD_MAX);
    if (hc_buf_printf(&old, "%s://%s", req->scheme, req->host) != 0 || append_uri(req, &old)) {
        v = proxy_mw_resp_too_long(resp, "redirectRegex");
        goto out;
    }
    if (!proxy_mw_regex_find(c->re, old.base, old.len, NULL, NULL))
        goto out;
    if (proxy_mw_regex_replace_all(c->re, old.base, c->replacement, &target) < 0) {
        v = proxy_mw_resp_too_long(resp, "redirectRegex");
        goto out;
    }
    if (strcmp(old.base, target.base ? target.base : "") != 0)
        v = moved(c, req, resp, target.base ? target.base : "");
out:
    hc_buf_free(&target);
    hc_buf_free(&old);
    return v;
}

proxy_mw_verdict_t proxy_mw_redirect_request(const void *cfg, proxy_mw_req_t *req,
                                             proxy_mw_resp_t *resp)
{
    const redirect_cfg_t *c = cfg;
    return c->re ? redirect_regex(c, req, resp) : redirect_scheme(c, req, resp);
}
