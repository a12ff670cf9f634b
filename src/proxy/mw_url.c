/* RFC 3986 reference resolution for forwardAuth's Location header (mw_forwardauth.h):
 * split into components (Appendix B), transform references (§5.2.2), merge paths
 * (§5.2.3) and remove dot segments (§5.2.4). */
#include "proxy/mw_forwardauth.h"
#include "core/hc_alloc.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

typedef struct span {
    const char *p;
    size_t n;
    int set; /* the component is defined (it may still be empty) */
} span_t;

typedef struct uri {
    span_t scheme, authority, path, query, fragment;
} uri_t;

/* RFC 3986 Appendix B: ^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))? */
static void uri_split(const char *s, uri_t *u)
{
    memset(u, 0, sizeof(*u));
    size_t i = strcspn(s, ":/?#");
    if (s[i] == ':' && i > 0 && isalpha((unsigned char)s[0])) {
        u->scheme = (span_t){s, i, 1};
        s += i + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        size_t n = strcspn(s + 2, "/?#");
        u->authority = (span_t){s + 2, n, 1};
        s += 2 + n;
    }
    size_t n = strcspn(s, "?#");
    u->path = (span_t){s, n, 1};
    s += n;
    if (*s == '?') {
        n = strcspn(s + 1, "#");
        u->query = (span_t){s + 1, n, 1};
        s += 1 + n;
    }
    if (*s == '#')
        u->fragment = (span_t){s + 1, strlen(s + 1), 1};
}

/* §5.2.4 remove_dot_segments over in[0..n), appended to out. */
static int remove_dots(const char *in, size_t n, hc_buf_t *out)
{
    hc_buf_t b;
    hc_buf_init(&b, out->max);
    size_t i = 0;
    while (i < n) {
        const char *s = in + i;
        size_t left = n - i;
        if (left >= 3 && memcmp(s, "../", 3) == 0) {
            i += 3;
        } else if (left >= 2 && memcmp(s, "./", 2) == 0) {
            i += 2;
        } else if ((left >= 3 && memcmp(s, "/./", 3) == 0) ||
                   (left == 2 && memcmp(s, "/.", 2) == 0)) {
            i += 2; /* "/./x" -> "/x"; "/." -> "/" */
            if (left == 2) {
                if (hc_buf_append(&b, "/", 1) != 0)
                    goto nobufs;
            }
        } else if ((left >= 4 && memcmp(s, "/../", 4) == 0) ||
                   (left == 3 && memcmp(s, "/..", 3) == 0)) {
            i += 3;
            while (b.len > 0 && b.base[b.len - 1] != '/')
                b.len--;
            if (b.len > 0)
                b.len--;
            if (left == 3 && hc_buf_append(&b, "/", 1) != 0)
                goto nobufs;
        } else if ((left == 1 && s[0] == '.') || (left == 2 && memcmp(s, "..", 2) == 0)) {
            i = n;
        } else {
            size_t seg = 1 + strcspn(s + 1, "/");
            if (seg > left)
                seg = left;
            if (hc_buf_append(&b, s, seg) != 0)
                goto nobufs;
            i += seg;
        }
    }
    int rc = hc_buf_append(out, b.base ? b.base : "", b.len);
    hc_buf_free(&b);
    return rc;
nobufs:
    hc_buf_free(&b);
    return -ENOBUFS;
}

static int put(hc_buf_t *out, const char *pre, const span_t *s)
{
    if (!s->set)
        return 0;
    if (hc_buf_puts(out, pre) != 0 || hc_buf_append(out, s->p, s->n) != 0)
        return -ENOBUFS;
    return 0;
}

/* §5.2.3 merge followed by remove_dot_segments. */
static int merge_path(const uri_t *b, const uri_t *r, hc_buf_t *out)
{
    hc_buf_t m;
    hc_buf_init(&m, out->max);
    int rc = 0;
    if (b->authority.set && b->path.n == 0) {
        rc = hc_buf_puts(&m, "/");
    } else {
        size_t keep = b->path.n;
        while (keep > 0 && b->path.p[keep - 1] != '/')
            keep--;
        rc = hc_buf_append(&m, b->path.p, keep);
    }
    if (rc == 0)
        rc = hc_buf_append(&m, r->path.p, r->path.n);
    if (rc == 0)
        rc = remove_dots(m.base ? m.base : "", m.len, out);
    hc_buf_free(&m);
    return rc;
}

int proxy_mw_url_resolve(const char *base, const char *ref, hc_buf_t *out)
{
    uri_t b, r;
    uri_split(base, &b);
    uri_split(ref, &r);
    const uri_t *auth = r.scheme.set || r.authority.set ? &r : &b;
    const span_t *scheme = r.scheme.set ? &r.scheme : &b.scheme;
    if (hc_buf_append(out, scheme->p, scheme->n) != 0 || hc_buf_puts(out, ":") != 0 ||
        put(out, "//", &auth->authority) != 0)
        return -ENOBUFS;
    const span_t *query = &r.query;
    int rc;
    if (auth == &r || (r.path.n > 0 && r.path.p[0] == '/'))
        rc = remove_dots(r.path.p, r.path.n, out);
    else if (r.path.n == 0) {
        rc = hc_buf_append(out, b.path.p, b.path.n);
        query = r.query.set ? &r.query : &b.query;
    } else
        rc = merge_path(&b, &r, out);
    if (rc != 0 || put(out, "?", query) != 0 || put(out, "#", &r.fragment) != 0)
        return -ENOBUFS;
    return 0;
}
