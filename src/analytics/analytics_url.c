/* A careful subset of the WHATWG URL parser (https://url.spec.whatwg.org/, "basic URL
 * parser"), enough to split URLs the way Umami's `new URL(url, base)` does: trimming,
 * scheme, special-scheme slashes and backslashes, authority (userinfo skipped, host,
 * port), IPv4/IPv6 hosts, dot segments, the percent-encode sets, search and hash. */
#include "analytics/analytics_url.h"
#include "core/hc_buf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* An output buffer that refuses to overflow (the caps make that impossible for inputs
 * within ANALYTICS_URL_IN_MAX; the check keeps it so). */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int over;
} sbuf_t;

static void sb_init(sbuf_t *b, char *p, size_t cap)
{
    b->p = p;
    b->n = 0;
    b->cap = cap;
    b->over = 0;
    p[0] = '\0';
}

static void sb_putc(sbuf_t *b, char c)
{
    if (b->n + 1 >= b->cap) {
        b->over = 1;
        return;
    }
    b->p[b->n++] = c;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s)
{
    while (*s)
        sb_putc(b, *s++);
}

/* Percent-encode sets (URL Standard §1.3). */
enum { SET_C0, SET_FRAGMENT, SET_QUERY, SET_SPECIAL_QUERY, SET_PATH };

static int in_set(unsigned char c, int set)
{
    if (c < 0x20 || c > 0x7e)
        return 1;
    if (set == SET_C0)
        return 0;
    if (set == SET_FRAGMENT)
        return c == ' ' || c == '"' || c == '<' || c == '>' || c == '`';
    if (c == ' ' || c == '"' || c == '#' || c == '<' || c == '>')
        return 1;
    if (set == SET_SPECIAL_QUERY)
        return c == '\'';
    if (set == SET_PATH)
        return c == '?' || c == '`' || c == '{' || c == '}';
    return 0;
}

static void sb_encode(sbuf_t *b, const char *s, size_t n, int set)
{
    static const char hexd[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (in_set(c, set)) {
            sb_putc(b, '%');
            sb_putc(b, hexd[c >> 4]);
            sb_putc(b, hexd[c & 15]);
        } else {
            sb_putc(b, (char)c);
        }
    }
}

static int is_special(const char *scheme)
{
    static const char *const sp[] = {"http", "https", "ws", "wss", "ftp", "file"};
    for (size_t i = 0; i < sizeof(sp) / sizeof(sp[0]); i++)
        if (!strcmp(scheme, sp[i]))
            return 1;
    return 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- hosts ---- */

/* Reads one %XX at s (n bytes left); -1 when malformed. */
static int pct_byte(const char *s, size_t n)
{
    if (n < 3 || s[0] != '%')
        return -1;
    int hi = hexval((unsigned char)s[1]), lo = hexval((unsigned char)s[2]);
    return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

/* One IPv4 part: decimal, 0x hex or 0-leading octal. -1 when not a number. */
static int64_t ipv4_number(const char *s, size_t n)
{
    int base = 10;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        n -= 2;
    } else if (n >= 2 && s[0] == '0') {
        base = 8;
        s++;
        n--;
    }
    if (n == 0)
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hexval((unsigned char)s[i]);
        if (d < 0 || d >= base)
            return -1;
        v = v * base + d;
        if (v > 0xffffffffLL * 256)
            v = 0xffffffffLL * 256; /* saturate: already out of range */
    }
    return v;
}

/* URL Standard "ends in a number checker": the last non-empty label is a number. */
static int ends_in_number(const char *h, size_t n)
{
    if (n && h[n - 1] == '.')
        n--;
    size_t start = n;
    while (start > 0 && h[start - 1] != '.')
        start--;
    const char *l = h + start;
    size_t ln = n - start;
    if (ln == 0)
        return 0;
    if (strspn(l, "0123456789") >= ln)
        return 1;
    return ln >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') && ipv4_number(l, ln) >= 0;
}

/* IPv4 parser: up to four parts, the last filling the remaining bytes. */
static int ipv4_parse(const char *h, size_t n, char *out, size_t cap)
{
    int64_t parts[4];
    int np = 0;
    if (n && h[n - 1] == '.')
        n--;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && h[j] != '.')
            j++;
        if (np == 4 || j == i)
            return -1;
        int64_t v = ipv4_number(h + i, j - i);
        if (v < 0)
            return -1;
        parts[np++] = v;
        i = j + 1;
    }
    for (int k = 0; k < np - 1; k++)
        if (parts[k] > 255)
            return -1;
    if (parts[np - 1] >= (int64_t)1 << (8 * (5 - np)))
        return -1;
    uint32_t ip = (uint32_t)parts[np - 1];
    for (int k = 0; k < np - 1; k++)
        ip += (uint32_t)parts[k] << (8 * (3 - k));
    snprintf(out, cap, "%u.%u.%u.%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255);
    return 0;
}

/* "[...]" to the standard's serialization: lower-case hex, longest zero run compressed. */
static int ipv6_parse(const char *h, size_t n, char *out, size_t cap)
{
    char tmp[64];
    unsigned char a[16];
    if (n >= sizeof(tmp))
        return -1;
    memcpy(tmp, h, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET6, tmp, a) != 1)
        return -1;
    unsigned piece[8];
    for (int i = 0; i < 8; i++)
        piece[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    int best = -1, best_len = 1;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && piece[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    sbuf_t b;
    sb_init(&b, out, cap);
    sb_putc(&b, '[');
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            sb_puts(&b, i == 0 ? "::" : ":");
            i += best_len - 1;
            continue;
        }
        char p[8];
        snprintf(p, sizeof(p), "%x", piece[i]);
        sb_puts(&b, p);
        if (i < 7)
            sb_putc(&b, ':');
    }
    sb_putc(&b, ']');
    return b.over ? -1 : 0;
}

int analytics_ascii(const char *s, size_t n)
{
    unsigned char any = 0; /* no early exit: the compiler vectorizes this loop */
    for (size_t i = 0; i < n; i++)
        any |= (unsigned char)s[i];
    return any < 0x80;
}

int analytics_utf8_valid(const char *s, size_t n)
{
    if (analytics_ascii(s, n))
        return 1; /* as hosts and most values are */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int len = c < 0x80             ? 1
                  : (c & 0xe0) == 0xc0 ? 2
                  : (c & 0xf0) == 0xe0 ? 3
                  : (c & 0xf8) == 0xf0 ? 4
                                       : 0;
        if (!len || i + (size_t)len > n)
            return 0;
        uint32_t cp = len == 1 ? c : (uint32_t)c & (0x7f >> len);
        for (int j = 1; j < len; j++) {
            if (((unsigned char)s[i + (size_t)j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | ((unsigned char)s[i + (size_t)j] & 63);
        }
        static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += (size_t)len;
    }
    return 1;
}

static int forbidden_host(unsigned char c)
{
    return c == 0 || c == '\t' || c == '\n' || c == '\r' || c == ' ' || c == '#' || c == '/' ||
           c == ':' || c == '<' || c == '>' || c == '?' || c == '@' || c == '[' || c == '\\' ||
           c == ']' || c == '^' || c == '|';
}

/* The host parser for h[0..n) (no port); special selects domain rules over opaque. */
static int host_parse(const char *h, size_t n, int special, char *out, size_t cap)
{
    if (n && h[0] == '[') {
        if (n < 2 || h[n - 1] != ']')
            return -1;
        return ipv6_parse(h + 1, n - 2, out, cap);
    }
    sbuf_t b;
    sb_init(&b, out, cap);
    if (!special) {
        for (size_t i = 0; i < n; i++)
            if (h[i] != '%' && forbidden_host((unsigned char)h[i]))
                return -1;
        sb_encode(&b, h, n, SET_C0);
        return b.over ? -1 : 0;
    }
    /* Domain: percent-decode, lower-case ASCII, reject forbidden domain code points. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        int d = c == '%' ? pct_byte(h + i, n - i) : -1;
        if (d >= 0) {
            c = (unsigned char)d;
            i += 2;
        }
        if (forbidden_host(c) || c < 0x20 || c == '%' || c == 0x7f)
            return -1;
        sb_putc(&b, (char)(c >= 'A' && c <= 'Z' ? c + 32 : c));
    }
    if (b.over || b.n == 0 || !analytics_utf8_valid(out, b.n))
        return -1; /* invalid UTF-8 decodes to U+FFFD, which no domain may hold */
    if (ends_in_number(out, b.n)) {
        char v4[16];
        if (ipv4_parse(out, b.n, v4, sizeof(v4)) < 0)
            return -1;
        snprintf(out, cap, "%s", v4);
    }
    return 0;
}

/* ---- paths ---- */

static int dot_segment(const char *s, size_t n)
{
    if (!n || (s[0] != '.' && s[0] != '%'))
        return 0; /* every spelling below starts so: most segments end here */
    if (n == 1 && s[0] == '.')
        return 1;
    if (n == 3 && !strncasecmp(s, "%2e", 3))
        return 1;
    if (n == 2 && !strncmp(s, "..", 2))
        return 2;
    if (n == 4 && (!strncasecmp(s, ".%2e", 4) || !strncasecmp(s, "%2e.", 4)))
        return 2;
    if (n == 6 && !strncasecmp(s, "%2e%2e", 6))
        return 2;
    return 0;
}

/* Removes the last segment of a serialized path ("/a/b" -> "/a"). */
static void path_shorten(sbuf_t *b)
{
    while (b->n > 0 && b->p[b->n - 1] != '/')
        b->n--;
    if (b->n > 0)
        b->n--;
    b->p[b->n] = '\0';
}

/* The path state over s[0..n) (no query or fragment), appending to the serialized path
 * in b: one leading slash consumed, segments split on '/' (and '\' when special). */
static void path_state(sbuf_t *b, const char *s, size_t n, int special, int leading)
{
    size_t i = 0;
    if (leading && n && (s[0] == '/' || (special && s[0] == '\\')))
        i = 1;
    if (!special && n == 0)
        return; /* a non-special URL may have an empty path */
    size_t seg = i;
    for (;; i++) {
        int end = i >= n;
        if (!end && !(s[i] == '/' || (special && s[i] == '\\')))
            continue;
        int dot = dot_segment(s + seg, i - seg);
        if (dot == 2) {
            path_shorten(b);
            if (end)
                sb_putc(b, '/');
        } else if (dot == 1) {
            if (end)
                sb_putc(b, '/');
        } else {
            sb_putc(b, '/');
            sb_encode(b, s + seg, i - seg, SET_PATH);
        }
        if (end)
            break;
        seg = i + 1;
    }
}

/* Query and fragment of rest[0..n) (which starts at '?', '#' or is empty). */
static void query_fragment(analytics_url_t *u, const char *rest, size_t n)
{
    sbuf_t q, f;
    sb_init(&q, u->query, sizeof(u->query));
    sb_init(&f, u->hash, sizeof(u->hash));
    const char *hash = memchr(rest, '#', n);
    size_t qn = hash ? (size_t)(hash - rest) : n;
    if (qn && rest[0] == '?')
        sb_encode(&q, rest + 1, qn - 1, u->special ? SET_SPECIAL_QUERY : SET_QUERY);
    if (hash && (size_t)(hash - rest) + 1 < n) {
        sb_putc(&f, '#');
        sb_encode(&f, hash + 1, n - (size_t)(hash - rest) - 1, SET_FRAGMENT);
    }
}

static size_t span_path(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != '?' && s[i] != '#')
        i++;
    return i;
}

/* Authority then path, query and fragment: s starts right after the slashes. */
static int parse_authority(analytics_url_t *u, const char *s, size_t n)
{
    size_t end = 0;
    while (end < n && s[end] != '/' && s[end] != '?' && s[end] != '#' &&
           !(u->special && s[end] == '\\'))
        end++;
    size_t start = 0;
    for (size_t i = 0; i < end; i++)
        if (s[i] == '@')
            start = i + 1; /* userinfo: not part of hostname */
    if (start && start == end)
        return -EINVAL; /* credentials without a host */
    const char *h = s + start;
    size_t hn = end - start, port_at = hn;
    if (hn && h[0] == '[') {
        const char *rb = memchr(h, ']', hn);
        if (!rb)
            return -EINVAL;
        port_at = (size_t)(rb - h) + 1;
        if (port_at < hn && h[port_at] != ':')
            return -EINVAL;
    } else {
        const char *colon = memchr(h, ':', hn);
        if (colon)
            port_at = (size_t)(colon - h);
    }
    if (port_at < hn) {
        size_t pn = hn - port_at - 1;
        const char *p = h + port_at + 1;
        long port = 0;
        for (size_t i = 0; i < pn; i++) {
            if (p[i] < '0' || p[i] > '9')
                return -EINVAL;
            port = port * 10 + (p[i] - '0');
            if (port > 65535)
                return -EINVAL;
        }
    }
    int file = !strcmp(u->scheme, "file");
    if (port_at < hn && (port_at == 0 || file))
        return -EINVAL; /* a port without a host, or on a file: URL */
    if (port_at == 0) {
        if (u->special && !file)
            return -EINVAL;
        u->host[0] = '\0';
    } else if (host_parse(h, port_at, u->special, u->host, sizeof(u->host)) < 0) {
        return -EINVAL;
    }
    if (file && !strcmp(u->host, "localhost"))
        u->host[0] = '\0';
    sbuf_t b;
    sb_init(&b, u->path, sizeof(u->path));
    size_t pl = span_path(s + end, n - end);
    path_state(&b, s + end, pl, u->special, 1);
    if (!u->special && pl == 0)
        b.p[0] = '\0';
    query_fragment(u, s + end + pl, n - end - pl);
    return 0;
}

static int is_slash(char c, int special)
{
    return c == '/' || (special && c == '\\');
}

/* Relative reference r against base (URL Standard "relative state"). */
static int parse_relative(analytics_url_t *u, const analytics_url_t *base, const char *r, size_t n)
{
    u->relative = 1;
    snprintf(u->scheme, sizeof(u->scheme), "%s", base->scheme);
    u->special = base->special;
    if (n >= 2 && is_slash(r[0], u->special) && is_slash(r[1], u->special)) {
        size_t k = 2;
        while (u->special && k < n && is_slash(r[k], 1)) /* extra slashes are ignored */
            k++;
        return parse_authority(u, r + k, n - k);
    }
    memcpy(u->host, base->host, sizeof(u->host));
    sbuf_t b;
    sb_init(&b, u->path, sizeof(u->path));
    size_t pl = span_path(r, n);
    if (n && is_slash(r[0], u->special)) {
        path_state(&b, r, pl, u->special, 1);
    } else if (pl == 0) {
        /* "", "?q" or "#h": the base's path (and query, unless replaced) */
        sb_puts(&b, base->path);
        if (!(n && r[0] == '?'))
            snprintf(u->query, sizeof(u->query), "%s", base->query);
        if (n == 0) {
            u->hash[0] = '\0';
            return b.over ? -EINVAL : 0;
        }
        if (r[0] == '#') {
            sbuf_t f;
            sb_init(&f, u->hash, sizeof(u->hash));
            if (n > 1) {
                sb_putc(&f, '#');
                sb_encode(&f, r + 1, n - 1, SET_FRAGMENT);
            }
            return b.over ? -EINVAL : 0;
        }
    } else {
        sb_puts(&b, base->path);
        path_shorten(&b);
        path_state(&b, r, pl, u->special, 0);
    }
    if (b.n == 0 && u->special)
        sb_putc(&b, '/');
    query_fragment(u, r + pl, n - pl);
    return b.over ? -EINVAL : 0;
}

int analytics_url_parse(const char *in, size_t len, const analytics_url_t *base,
                        analytics_url_t *out)
{
    /* Strip leading/trailing C0 controls and spaces, then every tab and newline. */
    while (len && (unsigned char)in[0] <= 0x20) {
        in++;
        len--;
    }
    while (len && (unsigned char)in[len - 1] <= 0x20)
        len--;
    if (len > ANALYTICS_URL_IN_MAX)
        return -EINVAL;
    char s[ANALYTICS_URL_IN_MAX + 1];
    size_t n = 0;
    if (!memchr(in, '\t', len) && !memchr(in, '\n', len) && !memchr(in, '\r', len)) {
        memcpy(s, in, len); /* the usual URL: nothing to take out */
        n = len;
    } else {
        for (size_t i = 0; i < len; i++)
            if (in[i] != '\t' && in[i] != '\n' && in[i] != '\r')
                s[n++] = in[i];
    }
    s[n] = '\0';
    out->scheme[0] = out->host[0] = out->path[0] = out->query[0] = out->hash[0] = '\0';
    out->special = out->relative = 0;

    size_t k = 0;
    if (n && ((s[0] | 32) >= 'a' && (s[0] | 32) <= 'z')) {
        k = 1;
        while (k < n && (((s[k] | 32) >= 'a' && (s[k] | 32) <= 'z') ||
                         (s[k] >= '0' && s[k] <= '9') || s[k] == '+' || s[k] == '-' || s[k] == '.'))
            k++;
        if (k >= n || s[k] != ':' || k >= sizeof(out->scheme))
            k = 0;
    }
    if (k == 0) {
        if (!base)
            return -EINVAL;
        return parse_relative(out, base, s, n);
    }
    for (size_t i = 0; i < k; i++)
        out->scheme[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    out->scheme[k] = '\0';
    out->special = is_special(out->scheme);
    const char *r = s + k + 1;
    size_t rn = n - k - 1;
    if (!strcmp(out->scheme, "file")) {
        /* file: "//" starts an (often empty) host; otherwise a path on no host */
        if (rn >= 2 && is_slash(r[0], 1) && is_slash(r[1], 1))
            return parse_authority(out, r + 2, rn - 2);
        sbuf_t b;
        sb_init(&b, out->path, sizeof(out->path));
        size_t pl = span_path(r, rn);
        path_state(&b, r, pl, 1, 1);
        query_fragment(out, r + pl, rn - pl);
        return b.over ? -EINVAL : 0;
    }
    if (out->special) {
        int two = rn >= 2 && is_slash(r[0], 1) && is_slash(r[1], 1);
        if (base && !strcmp(base->scheme, out->scheme) && !two)
            return parse_relative(out, base, r, rn);
        /* special authority slashes: any number of '/' and '\' are skipped */
        while (rn && is_slash(r[0], 1)) {
            r++;
            rn--;
        }
        return parse_authority(out, r, rn);
    }
    if (rn >= 2 && r[0] == '/' && r[1] == '/')
        return parse_authority(out, r + 2, rn - 2);
    size_t pl = span_path(r, rn);
    sbuf_t b;
    sb_init(&b, out->path, sizeof(out->path));
    if (rn && r[0] == '/')
        path_state(&b, r, pl, 0, 1);
    else
        sb_encode(&b, r, pl, SET_C0); /* opaque path */
    query_fragment(out, r + pl, rn - pl);
    return b.over ? -EINVAL : 0;
}

/* ---- decoding ---- */

size_t analytics_js_length(const char *s, size_t n)
{
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) != 0x80)
            u += c >= 0xf0 ? 2 : 1;
    }
    return u;
}

void analytics_copy_utf8(char *out, size_t cap, const char *s, size_t len)
{
    if (cap == 0)
        return;
    if (len >= cap) {
        len = cap - 1;
        /* back off continuation bytes so a multi-byte character is never split */
        while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
    }
    memmove(out, s, len);
    out[len] = '\0';
}

/* Appends the UTF-8 encoding of cp. */
static void sb_utf8(sbuf_t *b, uint32_t cp)
{
    char u[4];
    size_t n = hc_utf8_put(u, cp);
    for (size_t i = 0; i < n; i++)
        sb_putc(b, u[i]);
}

/* ECMA-262 Decode(string, reservedSet): 0 on success, -1 where it throws URIError. */
static int js_decode(const char *in, int component, sbuf_t *b)
{
    size_t n = strlen(in);
    for (size_t i = 0; i < n;) {
        if (in[i] != '%') {
            sb_putc(b, in[i++]);
            continue;
        }
        int c = pct_byte(in + i, n - i);
        if (c < 0)
            return -1;
        if (c < 0x80) {
            if (c == 0 || (!component && strchr(";/?:@&=+$,#", c)))
                for (int j = 0; j < 3; j++)
                    sb_putc(b, in[i + j]);
            else
                sb_putc(b, (char)c);
            i += 3;
            continue;
        }
        int len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!len)
            return -1;
        uint32_t cp = (uint32_t)c & (0x7f >> len);
        for (int j = 1; j < len; j++) {
            size_t off = i + 3 * (size_t)j;
            int cc = off < n ? pct_byte(in + off, n - off) : -1;
            if (cc < 0 || (cc & 0xc0) != 0x80)
                return -1;
            cp = cp << 6 | (uint32_t)(cc & 63);
        }
        static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        sb_utf8(b, cp);
        i += 3 * (size_t)len;
    }
    return 0;
}

void analytics_uri_decode(const char *in, int component, char *out, size_t cap)
{
    if (!strchr(in, '%')) { /* nothing to decode, as is usual */
        analytics_copy_utf8(out, cap, in, strlen(in));
        return;
    }
    char tmp[ANALYTICS_URL_PART];
    sbuf_t b;
    sb_init(&b, tmp, sizeof(tmp));
    const char *res = in;
    if (js_decode(in, component, &b) == 0 && !b.over)
        res = tmp;
    analytics_copy_utf8(out, cap, res, strlen(res));
}

/* application/x-www-form-urlencoded value decoding: '+' is space, %XX bytes, then
 * UTF-8 decoding without BOM where invalid sequences become U+FFFD. */
static void form_decode(const char *s, size_t n, sbuf_t *b)
{
    unsigned char raw[ANALYTICS_URL_PART];
    size_t rn = 0;
    for (size_t i = 0; i < n && rn < sizeof(raw); i++) {
        int c = s[i] == '%' ? pct_byte(s + i, n - i) : -1;
        if (c >= 0) {
            raw[rn++] = (unsigned char)c;
            i += 2;
        } else {
            raw[rn++] = (unsigned char)(s[i] == '+' ? ' ' : s[i]);
        }
    }
    for (size_t i = 0; i < rn;) {
        unsigned char c = raw[i];
        int len = c < 0x80             ? 1
                  : (c & 0xe0) == 0xc0 ? 2
                  : (c & 0xf0) == 0xe0 ? 3
                  : (c & 0xf8) == 0xf0 ? 4
                                       : 0;
        uint32_t cp = len == 1 ? c : (uint32_t)c & (0x7f >> len);
        int ok = len > 0 && i + (size_t)len <= rn;
        for (int j = 1; ok && j < len; j++) {
            if ((raw[i + (size_t)j] & 0xc0) != 0x80)
                ok = 0;
            else
                cp = cp << 6 | (raw[i + (size_t)j] & 63);
        }
        static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        if (ok && (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
            ok = 0;
        if (!ok) {
            sb_utf8(b, 0xfffd);
            i++;
            continue;
        }
        if (cp == 0)
            sb_puts(b, "%00");
        else
            sb_utf8(b, cp);
        i += (size_t)len;
    }
}

size_t analytics_url_params(const char *query, const char *const *names, char *const *out, size_t n,
                            size_t cap)
{
    uint64_t found = 0, all = n >= 64 ? ~0ull : (1ull << n) - 1;
    size_t qn = strlen(query), nfound = 0;
    char key[256], val[ANALYTICS_URL_PART];
    for (size_t k = 0; k < n && cap; k++)
        out[k][0] = '\0';
    for (size_t i = 0; i <= qn && found != all;) {
        size_t j = i;
        while (j < qn && query[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(query + i, '=', j - i);
            size_t kn = eq ? (size_t)(eq - query - i) : j - i;
            sbuf_t kb, vb = {0};
            sb_init(&kb, key, sizeof(key));
            form_decode(query + i, kn, &kb);
            for (size_t k = 0; !kb.over && k < n; k++) {
                if (found >> k & 1 || key[0] != names[k][0] || strcmp(key, names[k]) != 0)
                    continue;
                if (!vb.p) { /* decoded once, for every name it answers */
                    sb_init(&vb, val, sizeof(val));
                    if (eq)
                        form_decode(eq + 1, (size_t)(query + j - eq - 1), &vb);
                }
                analytics_copy_utf8(out[k], cap, val, vb.n);
                found |= 1ull << k;
                nfound++;
            }
        }
        i = j + 1;
    }
    return nfound;
}

int analytics_url_param(const char *query, const char *name, char *out, size_t cap)
{
    return analytics_url_params(query, &name, &out, 1, cap) == 1;
}
