/* The header rules of forwarding (see proxy_upstream.h): hop-by-hop removal in both
 * directions (RFC 9110 §7.6.1) and Traefik's forwardedHeaders (X-Forwarded-*,
 * X-Real-Ip; traefik/traefik pkg/middlewares/forwardedheaders). Pure functions over
 * proxy_mw_headers_t, called by proxy_upstream.c. */
#include "proxy/proxy_upstream.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §7.6.1 names these; Proxy-Connection is the pre-standard spelling. */
static const char *const hop_fields[] = {
    "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
    "TE",         "Trailer",    "Transfer-Encoding", "Upgrade",
};

int proxy_upstream_is_hop(const char *name)
{
    for (size_t i = 0; i < sizeof(hop_fields) / sizeof(hop_fields[0]); i++)
        if (!strcasecmp(name, hop_fields[i]))
            return 1;
    return 0;
}

/* Removes the fields named by the comma-separated tokens of one Connection value
 * (RFC 9110 §7.6.1: connection-option = token). Sets *upgrade for the "upgrade" one. */
static void strip_named(proxy_mw_headers_t *h, const char *v, int *upgrade)
{
    char tok[128];
    while (*v) {
        v += strspn(v, " \t,");
        size_t n = strcspn(v, " \t,");
        if (n && n < sizeof(tok)) {
            memcpy(tok, v, n);
            tok[n] = '\0';
            if (!strcasecmp(tok, "upgrade"))
                *upgrade = 1;
            else
                proxy_mw_headers_del(h, tok);
        }
        v += n;
    }
}

void proxy_upstream_strip_hop(proxy_mw_headers_t *h, int keep_upgrade)
{
    int upgrade = 0;
    for (size_t i = 0; i < h->len; i++) {
        if (strcasecmp(h->v[i].name, "Connection"))
            continue;
        char *v = hc_strdup(h->v[i].value); /* deleting may move the entry */
        size_t before = h->len;
        strip_named(h, v, &upgrade);
        hc_free(v);
        if (h->len != before)
            i = (size_t)-1; /* the list changed: scan again from the start */
    }
    char *up = NULL;
    const char *uv = proxy_mw_headers_get(h, "Upgrade");
    if (keep_upgrade && upgrade && uv) /* RFC 9110 §7.8: the one option re-sent */
        up = hc_strdup(uv);
    for (size_t i = 0; i < sizeof(hop_fields) / sizeof(hop_fields[0]); i++)
        proxy_mw_headers_del(h, hop_fields[i]);
    if (up) {
        proxy_mw_headers_add(h, "Connection", "Upgrade");
        proxy_mw_headers_add(h, "Upgrade", up);
        hc_free(up);
    }
}

/* X-Forwarded-* and X-Real-Ip, also spelled with '_' (which some servers read as '-'). */
static int is_forwarded_field(const char *name)
{
    if (!strncasecmp(name, "x-forwarded-", 12) || !strncasecmp(name, "x_forwarded_", 12))
        return 1;
    return !strcasecmp(name, "x-real-ip") || !strcasecmp(name, "x_real_ip");
}

static void strip_forwarded(proxy_mw_headers_t *h)
{
    size_t j = 0;
    for (size_t i = 0; i < h->len; i++) {
        if (is_forwarded_field(h->v[i].name)) {
            hc_free(h->v[i].name);
            hc_free(h->v[i].value);
        } else {
            h->v[j++] = h->v[i];
        }
    }
    h->len = j;
}

/* The port of a Host value ("h:8080", "[::1]:8443"), or NULL. */
static const char *host_port(const char *host)
{
    if (!host)
        return NULL;
    const char *c = strrchr(host, ':');
    const char *rb = strrchr(host, ']');
    if (!c || (rb && c < rb) || !c[1])
        return NULL;
    if (!rb && strchr(host, ':') != c) /* a bare IPv6 address: no port */
        return NULL;
    return c + 1;
}

static void set_if_empty(proxy_mw_headers_t *h, const char *name, const char *value)
{
    const char *cur = proxy_mw_headers_get(h, name);
    if (!cur || !*cur)
        proxy_mw_headers_set(h, name, value);
}

/* Go's ReverseProxy: prior X-Forwarded-For values joined with ", ", then the peer. */
static void append_xff(proxy_mw_headers_t *h, const char *peer_ip)
{
    hc_buf_t b;
    hc_buf_init(&b, 64 * 1024);
    for (size_t i = 0; i < h->len; i++) {
        if (strcasecmp(h->v[i].name, "X-Forwarded-For"))
            continue;
        hc_buf_puts(&b, h->v[i].value);
        hc_buf_puts(&b, ", ");
    }
    if (hc_buf_puts(&b, peer_ip) == 0) {
        hc_buf_append(&b, "", 1);
        proxy_mw_headers_del(h, "X-Forwarded-For");
        proxy_mw_headers_add(h, "X-Forwarded-For", b.base);
    }
    hc_buf_free(&b);
}

void proxy_upstream_forwarded(proxy_mw_headers_t *h, const char *peer_ip, int trusted,
                              int tls, int upgrade, const char *host,
                              const char *server_name, int no_xff)
{
    if (!trusted)
        strip_forwarded(h);
    if (peer_ip && *peer_ip)
        set_if_empty(h, "X-Real-Ip", peer_ip);
    const char *proto = upgrade ? (tls ? "wss" : "ws") : (tls ? "https" : "http");
    set_if_empty(h, "X-Forwarded-Proto", proto);
    const char *xfp = proxy_mw_headers_get(h, "X-Forwarded-Proto");
    const char *port = host_port(host);
    if (!port) /* Traefik's forwardedPort: 443 for https/wss or TLS, else 80 */
        port = tls || (xfp && (!strcmp(xfp, "https") || !strcmp(xfp, "wss"))) ? "443" : "80";
    set_if_empty(h, "X-Forwarded-Port", port);
    if (host && *host)
        set_if_empty(h, "X-Forwarded-Host", host);
    if (server_name && *server_name)
        proxy_mw_headers_set(h, "X-Forwarded-Server", server_name);
    if (!no_xff && peer_ip && *peer_ip)
        append_xff(h, peer_ip);
}
