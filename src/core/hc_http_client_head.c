/* The HTTP client's request building (see hc_http_client_int.h): URLs parsed into
 * origins (host, port, TLS name, pool key and Host value, made once per server by a
 * caller such as the proxy, or once per request from its URL) and the request head. */
#include "core/hc_alloc.h"
#include "core/hc_http_client_int.h"
#include "core/hc_http_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    HOST_MAX = 255,
    KEY_MAX = 768,
};

/* ---- origins -------------------------------------------------------------------- */

/* Appends n bytes at *p and a NUL; returns where they went. */
static const char *mem_put(char **p, const char *s, size_t n)
{
    char *at = *p;
    memcpy(at, s, n);
    at[n] = '\0';
    *p += n + 1;
    return at;
}

/* One block for the origin and its strings: host, sni, key, authority. */
static hc_http_client_origin_t *origin_make(int tls, const char *host, size_t hlen, int port,
                                            const char *sni, hc_tls_ctx_t *ctx)
{
    char hbuf[HOST_MAX + 1], key[KEY_MAX], auth[HOST_MAX + 16];
    memcpy(hbuf, host, hlen);
    hbuf[hlen] = '\0';
    sni = tls ? (sni ? sni : hbuf) : NULL;
    hc_hcli_target_t t = {.host = hbuf, .port = port, .tls = tls ? ctx : NULL, .sni = sni};
    size_t kl = hc_hcli_key(&t, key, sizeof(key));
    int v6 = memchr(host, ':', hlen) != NULL; /* RFC 3986 §3.2.2: IPv6 in brackets */
    int al =
        port == (tls ? 443 : 80)
            ? snprintf(auth, sizeof(auth), "%s%s%s", v6 ? "[" : "", hbuf, v6 ? "]" : "")
            : snprintf(auth, sizeof(auth), "%s%s%s:%d", v6 ? "[" : "", hbuf, v6 ? "]" : "", port);
    size_t sl = sni ? strlen(sni) : 0;
    hc_http_client_origin_t *o =
        hc_malloc(sizeof(*o) + hlen + 1 + (sni ? sl + 1 : 0) + kl + 1 + (size_t)al + 1);
    char *p = o->mem;
    o->refs = 1;
    o->tls = tls;
    o->target = t; /* the pool limits: the client's */
    o->target.host = mem_put(&p, hbuf, hlen);
    o->target.tls = tls ? hc_tls_ctx_ref(ctx) : NULL;
    o->target.sni = sni ? mem_put(&p, sni, sl) : NULL;
    o->key = mem_put(&p, key, kl);
    o->authority = mem_put(&p, auth, (size_t)al);
    o->authority_len = (size_t)al;
    return o;
}

/* http(s)://host[:port][path][?query][#fragment] (RFC 3986 §3; userinfo is refused,
 * RFC 9110 §4.2.4). An IPv6 literal comes in brackets (RFC 3986 §3.2.2). */
hc_http_client_origin_t *hc_hcli_origin_parse(const char *s, const char *tls_server_name,
                                              hc_tls_ctx_t *tls, const char **target)
{
    const char *a, *h, *hend, *port = NULL;
    int is_tls;
    if (!strncasecmp(s, "http://", 7))
        is_tls = 0, a = s + 7;
    else if (!strncasecmp(s, "https://", 8))
        is_tls = 1, a = s + 8;
    else
        return NULL;
    const char *aend = a + strcspn(a, "/?#");
    if (memchr(a, '@', (size_t)(aend - a)))
        return NULL;
    if (*a == '[') {
        h = a + 1;
        hend = memchr(a, ']', (size_t)(aend - a));
        if (!hend || (hend + 1 < aend && hend[1] != ':'))
            return NULL;
        port = hend + 1 < aend ? hend + 2 : NULL;
    } else {
        h = a;
        hend = memchr(a, ':', (size_t)(aend - a));
        port = hend ? hend + 1 : NULL;
        hend = hend ? hend : aend;
    }
    size_t hlen = (size_t)(hend - h);
    if (!hlen || hlen > HOST_MAX)
        return NULL;
    int p = is_tls ? 443 : 80;
    if (port) {
        char *stop;
        long n = port < aend && isdigit((unsigned char)*port) ? strtol(port, &stop, 10) : 0;
        if (!n || stop != aend || n > 65535)
            return NULL;
        p = (int)n;
    }
    if (target)
        *target = aend;
    return origin_make(is_tls, h, hlen, p, tls_server_name, tls);
}

hc_http_client_origin_t *hc_http_client_origin_new(hc_http_client_t *cl, const char *url,
                                                   const char *tls_server_name, hc_tls_ctx_t *tls)
{
    return url ? hc_hcli_origin_parse(url, tls_server_name, tls ? tls : cl->tls, NULL) : NULL;
}

void hc_http_client_origin_pool(hc_http_client_origin_t *o, int max_idle, uint64_t idle_ms)
{
    o->target.max_idle = max_idle;
    o->target.idle_ms = idle_ms;
}

void hc_http_client_origin_unref(hc_http_client_origin_t *o)
{
    if (!o || --o->refs)
        return;
    hc_tls_ctx_unref(o->target.tls);
    hc_free(o);
}

/* ---- the request head ----------------------------------------------------------- */

size_t hc_hcli_token_len(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    while (hc_http_tchar[*p])
        p++;
    return *p ? 0 : (size_t)(p - (const unsigned char *)name);
}

/* The length of a field value, or SIZE_MAX when it holds CR or LF (RFC 9110 §5.5). */
static size_t field_value_len(const char *v)
{
    size_t n = strcspn(v, "\r\n");
    return v[n] ? SIZE_MAX : n;
}

/* The request-target's length up to a fragment, or SIZE_MAX when it holds a control
 * byte or a space (RFC 9112 §3.2). */
static size_t target_len(const char *t)
{
    const unsigned char *p = (const unsigned char *)t;
    for (; *p && *p != '#'; p++)
        if (*p <= ' ' || *p == 0x7f)
            return SIZE_MAX;
    return (size_t)(p - (const unsigned char *)t);
}

/* Fields the client writes itself (framing, connection options): 1 to skip name. */
static inline int head_own_field(const char *name, size_t n)
{
    if (n != 14 && n != 17 && n != 10)
        return 0;
    int c = name[0] | 0x20;
    return (n == 14 && c == 'c' && !strcasecmp(name, "content-length")) ||
           (n == 17 && c == 't' && !strcasecmp(name, "transfer-encoding")) ||
           (n == 10 && c == 'c' && !strcasecmp(name, "connection"));
}

/* Appends n bytes into room reserved before (the NUL comes once, at the end). */
static void head_put(hc_buf_t *b, const char *s, size_t n)
{
    memcpy(b->base + b->len, s, n);
    b->len += n;
}

/* The field lengths of h: given by a caller that checked them, else measured and
 * checked. 0 when the field is not valid. */
static int field_lens(const hc_http_client_header_t *h, int checked, size_t *nl, size_t *vl)
{
    if (checked) {
        *nl = h->name_len;
        *vl = h->value_len;
        return 1;
    }
    *nl = hc_hcli_token_len(h->name);
    *vl = field_value_len(h->value);
    return *nl && *vl != SIZE_MAX;
}

/* The decimal digits of v at the end of buf[24]; returns where they start. */
static char *fmt_u64(char *end, unsigned long long v)
{
    do
        *--end = (char)('0' + v % 10);
    while (v /= 10);
    return end;
}

/* RFC 9110 §8.6: a body-carrying method without a body says Content-Length: 0. */
static int wants_length(const char *m)
{
    return m[0] == 'P' && (!strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH"));
}

int hc_hcli_head_build(hc_buf_t *b, const hc_http_client_req_opts_t *o, const char *method,
                       const char *target, const hc_http_client_origin_t *org, unsigned flags)
{
    size_t tlen = target_len(target);
    if (tlen == SIZE_MAX)
        return -EINVAL;
    if (!tlen)
        target = "/", tlen = 1;
    /* Our own lines: connection options (RFC 9110 §7.6.1, §7.8 for Upgrade) and framing
     * (RFC 9112 §6). */
    const char *conn = flags & HC_HCLI_HEAD_CLOSE     ? "Connection: close\r\n"
                       : flags & HC_HCLI_HEAD_UPGRADE ? "Connection: Upgrade\r\n"
                                                      : "";
    char num[24], *digits = NULL;
    int stream = !!(flags & HC_HCLI_HEAD_STREAM);
    if (flags & HC_HCLI_HEAD_CHUNKED)
        conn = flags & HC_HCLI_HEAD_CLOSE ? "Connection: close\r\nTransfer-Encoding: chunked\r\n"
               : flags & HC_HCLI_HEAD_UPGRADE
                   ? "Connection: Upgrade\r\nTransfer-Encoding: chunked\r\n"
                   : "Transfer-Encoding: chunked\r\n";
    else if (stream)
        digits = fmt_u64(num + sizeof(num),
                         (unsigned long long)(o->stream_length < 0 ? 0 : o->stream_length));
    else if (o->body_len || wants_length(method))
        digits = fmt_u64(num + sizeof(num), (unsigned long long)o->body_len);
    size_t cl = strlen(conn), dl = digits ? (size_t)(num + sizeof(num) - digits) : 0;
    size_t body = stream ? 0 : o->body_len;
    /* Measured first and copied into one reservation: an append per piece cost more
     * than the rest of the head on the proxy's hot path. */
    int has_host = 0;
    size_t ml = strlen(method);
    size_t need = ml + 2 + tlen + 11 + 8 + org->authority_len + cl + (dl ? dl + 18 : 0) + 2 + body;
    for (size_t i = 0; i < o->n_headers; i++) {
        const hc_http_client_header_t *h = &o->headers[i];
        size_t nl, vl;
        if (!field_lens(h, o->headers_checked, &nl, &vl))
            return -EINVAL;
        if (!head_own_field(h->name, nl))
            need += nl + vl + 4;
        has_host |= nl == 4 && (h->name[0] | 0x20) == 'h' && !strcasecmp(h->name, "host");
    }
    if (hc_buf_reserve(b, need))
        return -EINVAL;
    head_put(b, method, ml);
    head_put(b, " /", *target == '?' ? 2 : 1);
    head_put(b, target, tlen);
    head_put(b, " HTTP/1.1\r\n", 11);
    for (size_t i = 0; i < o->n_headers; i++) {
        const hc_http_client_header_t *h = &o->headers[i];
        size_t nl = o->headers_checked ? h->name_len : strlen(h->name);
        if (head_own_field(h->name, nl))
            continue;
        head_put(b, h->name, nl);
        head_put(b, ": ", 2);
        head_put(b, h->value, o->headers_checked ? h->value_len : strlen(h->value));
        head_put(b, "\r\n", 2);
    }
    if (!has_host) { /* RFC 9110 §7.2: the authority, port only when not the default */
        head_put(b, "Host: ", 6);
        head_put(b, org->authority, org->authority_len);
        head_put(b, "\r\n", 2);
    }
    head_put(b, conn, cl);
    if (dl) {
        head_put(b, "Content-Length: ", 16);
        head_put(b, digits, dl);
        head_put(b, "\r\n", 2);
    }
    head_put(b, "\r\n", 2);
    if (body)
        head_put(b, o->body, body);
    b->base[b->len] = '\0'; /* the reservation kept room for it */
    return 0;
}
