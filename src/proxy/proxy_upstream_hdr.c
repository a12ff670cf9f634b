/* The header rules of forwarding (see proxy_upstream.h): hop-by-hop removal in both
 * directions (RFC 9110 §7.6.1) and Traefik's forwardedHeaders (X-Forwarded-*,
 * X-Real-Ip; traefik/traefik pkg/middlewares/forwardedheaders). Pure functions over
 * proxy_mw_headers_t, called by proxy_upstream.c (proxy_upstream_int.h). */
#include "proxy/proxy_upstream_int.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_http_parse.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §7.6.1 names these; Proxy-Connection is the pre-standard spelling. */
static const struct {
    const char *name;
    size_t len;
} hop_fields[] = {
    {"Connection", 10},
    {"Keep-Alive", 10},
    {"Proxy-Connection", 16},
    {"Proxy-Authenticate", 18},
    {"Proxy-Authorization", 19},
    {"TE", 2},
    {"Trailer", 7},
    {"Transfer-Encoding", 17},
    {"Upgrade", 7},
};

static int is_hop_len(const char *name, size_t len)
{
    /* every hop-by-hop name is 2, 7, 10 or 16..19 bytes long: most fields stop here */
    if (len != 2 && len != 7 && len != 10 && (len < 16 || len > 19))
        return 0;
    for (size_t i = 0; i < sizeof(hop_fields) / sizeof(hop_fields[0]); i++)
        if (hop_fields[i].len == len && (name[0] | 0x20) == (hop_fields[i].name[0] | 0x20) &&
            !strcasecmp(name, hop_fields[i].name))
            return 1;
    return 0;
}

int proxy_upstream_is_hop(const char *name)
{
    return is_hop_len(name, strlen(name));
}

/* Marks in drop the fields named by the comma-separated tokens of one Connection value
 * (RFC 9110 §7.6.1: connection-option = token). Sets *upgrade for the "upgrade" one. */
static void mark_named(const proxy_mw_headers_t *h, const size_t *lens, unsigned char *drop,
                       const char *v, int *upgrade)
{
    size_t t;
    for (const char *e, *end = v + strlen(v); (e = hc_http_list_next(&v, end, &t));) {
        if (t == 7 && !strncasecmp(e, "upgrade", 7))
            *upgrade = 1;
        else
            for (size_t i = 0; i < h->len; i++)
                if (lens[i] == t && !strncasecmp(h->v[i].name, e, t))
                    drop[i] = 1;
    }
}

/* One pass marks what goes (hop-by-hop names, then the Connection options), a second
 * compacts the list; names are measured once, or not at all when the caller knows. */
void up_strip_hop_lens(proxy_mw_headers_t *h, const size_t *known, int keep_upgrade)
{
    enum { STACK = 64 };
    size_t lens_stack[STACK];
    unsigned char drop_stack[STACK];
    size_t *lens = h->len <= STACK ? lens_stack : hc_malloc(h->len * sizeof(*lens));
    unsigned char *drop = h->len <= STACK ? drop_stack : hc_malloc(h->len);
    int upgrade = 0;
    const char *uv = NULL;
    for (size_t i = 0; i < h->len; i++) {
        lens[i] = known ? known[i] : strlen(h->v[i].name);
        drop[i] = (unsigned char)is_hop_len(h->v[i].name, lens[i]);
        if (!uv && lens[i] == 7 && !strcasecmp(h->v[i].name, "Upgrade"))
            uv = h->v[i].value;
    }
    for (size_t i = 0; i < h->len; i++)
        if (lens[i] == 10 && !strcasecmp(h->v[i].name, "Connection"))
            mark_named(h, lens, drop, h->v[i].value, &upgrade);
    char *up = keep_upgrade && upgrade && uv ? hc_strdup(uv) : NULL; /* RFC 9110 §7.8 */
    size_t j = 0;
    for (size_t i = 0; i < h->len; i++) {
        if (!drop[i])
            h->v[j++] = h->v[i];
        else
            proxy_mw_header_release(&h->v[i]);
    }
    h->len = j;
    if (lens != lens_stack) {
        hc_free(lens);
        hc_free(drop);
    }
    if (up) {
        proxy_mw_headers_add(h, "Connection", "Upgrade");
        proxy_mw_headers_add(h, "Upgrade", up);
        hc_free(up);
    }
}

void proxy_upstream_strip_hop(proxy_mw_headers_t *h, int keep_upgrade)
{
    up_strip_hop_lens(h, NULL, keep_upgrade);
}

/* The fields Traefik's entry point keeps whatever Connection names (its xHeaders). */
static int traefik_managed(const char *name, size_t n)
{
    static const char *const managed[] = {"X-Forwarded-Proto",
                                          "X-Forwarded-For",
                                          "X-Forwarded-Host",
                                          "X-Forwarded-Port",
                                          "X-Forwarded-Server",
                                          "X-Forwarded-Uri",
                                          "X-Forwarded-Method",
                                          "X-Forwarded-Prefix",
                                          "X-Forwarded-Tls-Client-Cert",
                                          "X-Forwarded-Tls-Client-Cert-Info",
                                          "X-Real-Ip"};
    for (size_t i = 0; i < sizeof(managed) / sizeof(managed[0]); i++)
        if (strlen(managed[i]) == n && !strncasecmp(managed[i], name, n))
            return 1;
    return 0;
}

void proxy_upstream_connection_options(proxy_mw_headers_t *h)
{
    size_t i = 0;
    while (i < h->len && strcasecmp(h->v[i].name, "Connection"))
        i++;
    if (i == h->len) /* the usual case */
        return;
    char *names = NULL, *upgrade = NULL; /* the options, copied: deleting frees the fields */
    size_t len = 0;
    for (; i < h->len; i++)
        if (!strcasecmp(h->v[i].name, "Connection")) {
            size_t n = strlen(h->v[i].value);
            names = hc_realloc(names, len + n + 2);
            memcpy(names + len, h->v[i].value, n);
            names[len + n] = ',';
            len += n + 1;
            if (!upgrade && hc_http_list_has(h->v[i].value, n, "upgrade")) {
                const char *u = proxy_mw_headers_get(h, "Upgrade");
                upgrade = hc_strdup(u ? u : "");
            }
        }
    names[len] = '\0';
    proxy_mw_headers_del(h, "Connection");
    size_t t;
    const char *v = names;
    for (const char *e; (e = hc_http_list_next(&v, names + len, &t));)
        if (!traefik_managed(e, t)) {
            char save = e[t];
            names[e - names + t] = '\0'; /* names is ours: the element as a string */
            proxy_mw_headers_del(h, e);
            names[e - names + t] = save;
        }
    if (upgrade && *upgrade) { /* the upgrade stays asked for */
        proxy_mw_headers_set(h, "Upgrade", upgrade);
        proxy_mw_headers_add(h, "Connection", "Upgrade");
    }
    hc_free(upgrade);
    hc_free(names);
}

/* X-Forwarded-* and X-Real-Ip, also spelled with '_' (which some servers read as '-'). */
static int is_forwarded_field(const char *name)
{
    if ((name[0] | 0x20) != 'x')
        return 0;
    if (!strncasecmp(name, "x-forwarded-", 12) || !strncasecmp(name, "x_forwarded_", 12))
        return 1;
    return !strcasecmp(name, "x-real-ip") || !strcasecmp(name, "x_real_ip");
}

void up_strip_forwarded(proxy_mw_headers_t *h)
{
    size_t j = 0;
    for (size_t i = 0; i < h->len; i++) {
        if (is_forwarded_field(h->v[i].name)) {
            proxy_mw_header_release(&h->v[i]);
        } else {
            h->v[j++] = h->v[i];
        }
    }
    h->len = j;
}

/* Whether the client sent any X-Forwarded-* or X-Real-Ip: only then does the peer's
 * trust matter (checked after, as it parses the address). */
int up_has_client_forwarded(const hc_http_req_t *req)
{
    for (size_t k = 0; k < req->nheaders; k++)
        if (is_forwarded_field(req->headers[k].name))
            return 1;
    return 0;
}

/* The port of a Host value ("h:8080", "[::1]:8443"), or NULL. */
static const char *host_port(const char *host)
{
    size_t nl;
    const char *port = host ? proxy_mw_host_split(host, &nl) : "";
    return *port ? port : NULL;
}

static void set_if_empty(proxy_mw_headers_t *h, const char *name, const char *value)
{
    const char *cur = proxy_mw_headers_get(h, name);
    if (!cur)
        proxy_mw_headers_add(h, name, value);
    else if (!*cur)
        proxy_mw_headers_set(h, name, value);
}

/* Go's ReverseProxy: prior X-Forwarded-For values joined with ", ", then the peer. */
static void append_xff(proxy_mw_headers_t *h, const char *peer_ip)
{
    if (!proxy_mw_headers_get(h, "X-Forwarded-For")) { /* the usual case: no prior hop */
        proxy_mw_headers_add(h, "X-Forwarded-For", peer_ip);
        return;
    }
    hc_buf_t b;
    hc_buf_init(&b, 64 * 1024);
    for (size_t i = 0; i < h->len; i++) {
        if ((h->v[i].name[0] | 0x20) != 'x' || strcasecmp(h->v[i].name, "X-Forwarded-For"))
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

/* Appends a field whose name is a string literal (its length known). */
#define ADD_LIT(h, name, value)                                                                    \
    proxy_mw_headers_add_n(h, name, sizeof(name) - 1, value, strlen(value))

/* proxy_upstream_forwarded when h holds none of the fields: the same ones, in the same
 * order, appended. */
static void add_fresh(proxy_mw_headers_t *h, const char *peer_ip, int tls, int websocket,
                      const char *host, const char *server_name)
{
    if (peer_ip && *peer_ip)
        ADD_LIT(h, "X-Real-Ip", peer_ip);
    ADD_LIT(h, "X-Forwarded-Proto", websocket ? (tls ? "wss" : "ws") : (tls ? "https" : "http"));
    const char *port = host_port(host);
    ADD_LIT(h, "X-Forwarded-Port", port ? port : tls ? "443" : "80");
    if (host && *host)
        ADD_LIT(h, "X-Forwarded-Host", host);
    if (server_name && *server_name)
        ADD_LIT(h, "X-Forwarded-Server", server_name);
}

void proxy_upstream_forwarded(proxy_mw_headers_t *h, const char *peer_ip, int trusted, int tls,
                              int websocket, const char *host, const char *server_name)
{
    if (!trusted)
        up_strip_forwarded(h);
    int any = 0;
    for (size_t i = 0; i < h->len && !any; i++)
        any = is_forwarded_field(h->v[i].name);
    if (!any) { /* the usual case: nothing to keep, no lookups needed */
        add_fresh(h, peer_ip, tls, websocket, host, server_name);
        return;
    }
    if (peer_ip && *peer_ip)
        set_if_empty(h, "X-Real-Ip", peer_ip);
    const char *proto = websocket ? (tls ? "wss" : "ws") : (tls ? "https" : "http");
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
}

int proxy_upstream_is_websocket(const proxy_mw_headers_t *h)
{
    const char *u = proxy_mw_headers_get(h, "Upgrade"); /* rare: looked for first */
    const char *c = u ? proxy_mw_headers_get(h, "Connection") : NULL;
    return c && hc_http_list_has(c, strlen(c), "upgrade") &&
           hc_http_list_has(u, strlen(u), "websocket");
}

void proxy_upstream_forwarded_for(proxy_mw_headers_t *h, const char *peer_ip, int no_xff)
{
    if (!no_xff && peer_ip && *peer_ip)
        append_xff(h, peer_ip);
}
