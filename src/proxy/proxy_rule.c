/* Traefik's router rule language compiled to a tree, and its evaluation per request.
 * Grammar (Traefik v3 docs, "Rules"): expr = and { "||" and }; and = unary { "&&" unary };
 * unary = "!" unary | "(" expr ")" | Name "(" string { "," string } ")"; strings are
 * `raw` or "Go-quoted". Called by proxy_config at build time and proxy_route per request. */
#include "proxy/proxy_rule.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_err.h"
#include "proxy/mw_ip.h"
#include "proxy/mw_regex.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#define MAX_ARGS 16

typedef enum rule_op {
    OP_TRUE,
    OP_AND,
    OP_OR,
    OP_NOT,
    OP_HOST,
    OP_HOST_WILD, /* a = ".example.com": one label [a-z0-9-]+ before it */
    OP_PATH,
    OP_PREFIX,
    OP_PREFIX_ELEM,
    OP_METHOD,
    OP_HEADER,    /* a = name, b = value */
    OP_HOST_RE,   /* re on the host */
    OP_PATH_RE,   /* re on the path */
    OP_HEADER_RE, /* a = name, re on its value */
    OP_QUERY,     /* a = key, b = value ("" for a key alone) */
    OP_QUERY_RE,  /* a = key, re on a value */
    OP_CLIENT_IP, /* ips holds the peer */
} rule_op_t;

struct proxy_rule {
    rule_op_t op;
    size_t nkids;
    proxy_rule_t **kids;
    char *a;
    size_t alen;
    char *b;
    size_t blen;
    proxy_mw_regex_t *re;
    proxy_mw_ipset_t ips;
};

typedef struct parser {
    const char *s;
    size_t len;
    size_t pos;
    unsigned depth;
    int v2; /* Traefik v2's matchers (ruleSyntax: v2) */
    char *err;
    size_t errlen;
} parser_t;

static proxy_rule_t *node_new(rule_op_t op, const char *a, size_t alen, const char *b, size_t blen)
{
    proxy_rule_t *r = hc_calloc(1, sizeof(*r));
    r->op = op;
    if (a) {
        r->a = hc_memdup(a, alen);
        r->alen = alen;
    }
    if (b) {
        r->b = hc_memdup(b, blen);
        r->blen = blen;
    }
    return r;
}

static void node_add(proxy_rule_t *parent, proxy_rule_t *kid)
{
    parent->kids = hc_realloc(parent->kids, (parent->nkids + 1) * sizeof(*parent->kids));
    parent->kids[parent->nkids++] = kid;
}

void proxy_rule_free(proxy_rule_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nkids; i++)
        proxy_rule_free(r->kids[i]);
    hc_free(r->kids);
    hc_free(r->a);
    hc_free(r->b);
    proxy_mw_regex_free(r->re);
    proxy_mw_ipset_free(&r->ips);
    hc_free(r);
}

static int perr(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(parser_t *p, const char *fmt, ...)
{
    char msg[256]; /* the longest message, with a 31-byte matcher name, is ~130 bytes */
    va_list ap;
    va_start(ap, fmt);
    hc_verrf(msg, sizeof(msg), 0, fmt, ap);
    va_end(ap);
    return hc_errf(p->err, p->errlen, -EINVAL, "rule offset %zu: %s", p->pos, msg);
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int eat(parser_t *p, const char *tok)
{
    size_t n = strlen(tok);
    skip_ws(p);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, tok, n) == 0) {
        p->pos += n;
        return 1;
    }
    return 0;
}

/* The value of n digits of base at s, or -1 when one is not a digit of it. */
static long digits(const char *s, size_t n, int base)
{
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = base == 8 ? (s[i] >= '0' && s[i] <= '7' ? s[i] - '0' : -1)
                          : hc_hex_digit((unsigned char)s[i]);
        if (d < 0)
            return -1;
        v = v * base + d;
    }
    return v;
}

/* A Go interpreted string literal body, with Go's escapes (strconv.Unquote): \a \b \f
 * \n \r \t \v \\ \", \xHH and \ooo bytes, \uHHHH and \UHHHHHHHH code points (written
 * in UTF-8, never longer than the escape). */
static int parse_quoted(parser_t *p, char *out, size_t *olen)
{
    static const char simple[] = "a\ab\bf\fn\nr\rt\tv\v\\\\\"\"";
    size_t n = 0;
    while (p->pos < p->len && p->s[p->pos] != '"') {
        char c = p->s[p->pos++];
        if (c != '\\') {
            out[n++] = c;
            continue;
        }
        if (p->pos >= p->len)
            break;
        c = p->s[p->pos++];
        const char *e = c ? strchr(simple, c) : NULL;
        if (e && (e - simple) % 2 == 0) {
            out[n++] = e[1];
            continue;
        }
        size_t width = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : (c >= '0' && c <= '7') ? 3 : 0;
        size_t at = c >= '0' && c <= '7' ? p->pos - 1 : p->pos; /* octal: c is a digit */
        long v = width && at + width <= p->len ? digits(p->s + at, width, width == 3 ? 8 : 16) : -1;
        if (v < 0 || (width == 3 && v > 255) ||
            ((c == 'u' || c == 'U') && (v > 0x10ffff || (v >= 0xd800 && v < 0xe000))))
            return perr(p, "invalid escape \\%c in a quoted string", c);
        p->pos = at + width;
        if (c == 'u' || c == 'U')
            n += hc_utf8_put(out + n, (uint32_t)v);
        else
            out[n++] = (char)v;
    }
    if (p->pos >= p->len)
        return perr(p, "unterminated string");
    p->pos++;
    *olen = n;
    return 0;
}

/* One string argument into a new allocation (*out, *olen). */
static int parse_string(parser_t *p, char **out, size_t *olen)
{
    skip_ws(p);
    if (p->pos >= p->len || (p->s[p->pos] != '`' && p->s[p->pos] != '"'))
        return perr(p, "expected a `string` or \"string\"");
    char q = p->s[p->pos++];
    char *buf = hc_malloc(p->len - p->pos + 1);
    size_t n = 0;
    if (q == '"') {
        if (parse_quoted(p, buf, &n) < 0) {
            hc_free(buf);
            return -EINVAL;
        }
    } else {
        const char *end = memchr(p->s + p->pos, '`', p->len - p->pos);
        if (!end) {
            hc_free(buf);
            return perr(p, "unterminated string");
        }
        n = (size_t)(end - (p->s + p->pos));
        memcpy(buf, p->s + p->pos, n);
        p->pos += n + 1;
    }
    buf[n] = '\0';
    *out = buf;
    *olen = n;
    return 0;
}

/* HostRegexp is accepted only as `^[a-zA-Z0-9-]+\.<domain with dots as \.>$`, the text
 * Traefik's Kubernetes Ingress provider writes for a `*.domain` host. */
static proxy_rule_t *wild_from_regexp(const char *re)
{
    static const char head[] = "^[a-zA-Z0-9-]+\\.";
    size_t hl = sizeof(head) - 1, len = strlen(re);
    if (len < hl + 2 || memcmp(re, head, hl) != 0 || re[len - 1] != '$')
        return NULL;
    char dom[PROXY_RULE_MAX_HOST + 2];
    size_t n = 0;
    dom[n++] = '.';
    for (size_t i = hl; i < len - 1; i++) {
        char c = re[i];
        if (c == '\\' && re[i + 1] == '.') {
            c = '.';
            i++;
        } else if (!isalnum((unsigned char)c) && c != '-') {
            return NULL;
        }
        if (n >= PROXY_RULE_MAX_HOST)
            return NULL;
        dom[n++] = (char)tolower((unsigned char)c);
    }
    if (n < 2)
        return NULL;
    return node_new(OP_HOST_WILD, dom, n, NULL, 0);
}

static proxy_rule_t *host_leaf(const char *h, size_t n)
{
    if (n > 1 && h[n - 1] == '.') /* as the request's: Host(`a.test.`) is a.test */
        n--;
    proxy_rule_t *r = node_new(OP_HOST, h, n, NULL, 0);
    for (size_t i = 0; i < n; i++)
        r->a[i] = (char)tolower((unsigned char)r->a[i]);
    return r;
}

/* A node whose last argument is a regular expression (Go syntax, as mw_regex reads it). */
static int regex_node(parser_t *p, rule_op_t op, const char *name, const char *a, size_t alen,
                      const char *pattern, proxy_rule_t **out)
{
    char msg[160];
    proxy_mw_regex_t *re;
    if (proxy_mw_regex_compile(pattern, &re, msg, sizeof(msg)) < 0)
        return perr(p, "%s: %s", name, msg);
    *out = node_new(op, a, alen, NULL, 0);
    (*out)->re = re;
    return 0;
}

/* Traefik v3's matchers beyond the plain ones: HostRegexp, PathRegexp, HeaderRegexp,
 * Query, QueryRegexp, ClientIP. Returns 1 when name is none of them. */
static int build_v3_matcher(parser_t *p, const char *name, char **args, size_t *lens,
                            size_t nargs, proxy_rule_t **out)
{
    if (!strcmp(name, "HostRegexp")) {
        if (nargs != 1)
            return perr(p, "HostRegexp takes one regular expression");
        *out = wild_from_regexp(args[0]); /* the Ingress *.domain form: indexed by host */
        return *out ? 0 : regex_node(p, OP_HOST_RE, name, NULL, 0, args[0], out);
    }
    if (!strcmp(name, "PathRegexp")) {
        if (nargs != 1)
            return perr(p, "PathRegexp takes one regular expression");
        return regex_node(p, OP_PATH_RE, name, NULL, 0, args[0], out);
    }
    if (!strcmp(name, "HeaderRegexp")) {
        if (nargs != 2)
            return perr(p, "HeaderRegexp takes a name and a regular expression");
        return regex_node(p, OP_HEADER_RE, name, args[0], lens[0], args[1], out);
    }
    int query_re = !strcmp(name, "QueryRegexp");
    if (query_re || !strcmp(name, "Query")) {
        if (nargs != 1 && nargs != 2)
            return perr(p, "%s takes a key, or a key and a value", name);
        if (query_re && nargs == 2)
            return regex_node(p, OP_QUERY_RE, name, args[0], lens[0], args[1], out);
        /* Traefik: a key alone matches it with an empty value ("?debug", "?debug=") */
        *out = node_new(OP_QUERY, args[0], lens[0], nargs == 2 ? args[1] : "",
                        nargs == 2 ? lens[1] : 0);
        return 0;
    }
    if (!strcmp(name, "ClientIP")) {
        char msg[160];
        proxy_rule_t *r = node_new(OP_CLIENT_IP, NULL, 0, NULL, 0);
        if (proxy_mw_ipset_parse(&r->ips, args, nargs, msg, sizeof(msg)) < 0) {
            proxy_rule_free(r);
            return perr(p, "ClientIP: %s", msg);
        }
        *out = r;
        return 0;
    }
    return 1;
}

/* Builds the node of one matcher from its arguments; -EINVAL with a message otherwise.
 * Under v3 (Traefik's httpFuncs) Host, Path, PathPrefix, Method and ClientIP take one
 * argument; v2's HostHeader, Headers and argument lists are refused there. */
static int build_matcher(parser_t *p, const char *name, char **args, size_t *lens, size_t nargs,
                         proxy_rule_t **out)
{
    int host = !strcmp(name, "Host") || (p->v2 && !strcmp(name, "HostHeader"));
    int path = !strcmp(name, "Path"), prefix = !strcmp(name, "PathPrefix");
    int method = !strcmp(name, "Method");
    if (!strcmp(name, "Header") || (p->v2 && !strcmp(name, "Headers"))) {
        if (nargs != 2)
            return perr(p, "%s takes a name and a value", name);
        *out = node_new(OP_HEADER, args[0], lens[0], args[1], lens[1]);
        return 0;
    }
    if (!p->v2 && nargs != 1 && (host || path || prefix || method || !strcmp(name, "ClientIP")))
        return perr(p, "%s: unexpected number of parameters; got %zu, expected one of [1]", name,
                    nargs);
    int rc = build_v3_matcher(p, name, args, lens, nargs, out);
    if (rc <= 0)
        return rc;
    if (!host && !path && !prefix && !method)
        return perr(p,
                    "unsupported matcher %s (supported: Host, HostRegexp, Path, PathPrefix, "
                    "PathRegexp, Method, Header, HeaderRegexp, Query, QueryRegexp, ClientIP)",
                    name);
    proxy_rule_t *any = node_new(OP_OR, NULL, 0, NULL, 0);
    for (size_t i = 0; i < nargs; i++) {
        proxy_rule_t *leaf;
        if ((host || method) && lens[i] == 0) {
            proxy_rule_free(any);
            return perr(p, "%s needs a non-empty value", name);
        }
        if ((path || prefix) && args[i][0] != '/') {
            proxy_rule_free(any);
            return perr(p, "%s value must start with /", name);
        }
        if (host) {
            leaf = host_leaf(args[i], lens[i]);
        } else if (method) {
            leaf = node_new(OP_METHOD, args[i], lens[i], NULL, 0);
            for (size_t j = 0; j < lens[i]; j++)
                leaf->a[j] = (char)toupper((unsigned char)leaf->a[j]);
        } else {
            leaf = node_new(path ? OP_PATH : OP_PREFIX, args[i], lens[i], NULL, 0);
        }
        node_add(any, leaf);
    }
    if (any->nkids == 1) {
        *out = any->kids[0];
        any->nkids = 0;
        proxy_rule_free(any);
    } else {
        *out = any;
    }
    return 0;
}

/* ---- Traefik v2's matchers (gorilla/mux templates) ---- */

/* A gorilla/mux template as a regular expression: each {name} or {name:pattern} a group
 * (dflt when no pattern: [^.]+ in hosts, [^/]+ in paths), the rest literal; anchored at
 * the start, and at the end unless prefix. A new string, or NULL with an error. */
static char *v2_template(parser_t *p, const char *name, const char *t, size_t n, const char *dflt,
                         int prefix)
{
    hc_buf_t b;
    hc_buf_init(&b, 0);
    hc_buf_puts(&b, "^");
    for (size_t i = 0; i < n; i++) {
        if (t[i] != '{') {
            if (t[i] == '}' || strchr("\\.+*?()|[]^$", t[i]))
                hc_buf_puts(&b, "\\");
            hc_buf_append(&b, t + i, 1);
            continue;
        }
        size_t depth = 1, s = ++i;
        for (; i < n && depth; i++)
            depth += t[i] == '{' ? 1 : t[i] == '}' ? -1 : 0;
        if (depth) {
            hc_buf_free(&b);
            perr(p, "%s: unbalanced braces in %.*s", name, (int)n, t);
            return NULL;
        }
        const char *colon = memchr(t + s, ':', --i - s); /* t[i] is the closing brace */
        hc_buf_puts(&b, "(?:");
        if (colon && colon + 1 < t + i)
            hc_buf_append(&b, colon + 1, (size_t)(t + i - colon - 1));
        else
            hc_buf_puts(&b, dflt);
        hc_buf_puts(&b, ")");
    }
    if (!prefix)
        hc_buf_puts(&b, "$");
    hc_buf_append(&b, "", 1);
    return b.base;
}

/* A v2 template matcher: a plain leaf when it holds no variable, else a regexp node. */
static int v2_leaf(parser_t *p, const char *name, rule_op_t plain, rule_op_t re_op, const char *a,
                   size_t alen, const char *t, size_t n, const char *dflt, int prefix,
                   proxy_rule_t **out)
{
    if (!memchr(t, '{', n)) {
        *out = plain == OP_HOST    ? host_leaf(t, n)
               : plain == OP_QUERY ? node_new(OP_QUERY, a, alen, t, n)
                                   : node_new(plain, t, n, NULL, 0);
        return 0;
    }
    char *re = v2_template(p, name, t, n, dflt, prefix);
    if (!re)
        return -EINVAL;
    int rc = regex_node(p, re_op, name, a, alen, re, out);
    hc_free(re);
    return rc;
}

/* Traefik v2's matchers (its httpFuncsV2): Host and HostHeader, HostRegexp, Path and
 * PathPrefix with gorilla/mux templates, Method, Headers and HeadersRegexp in pairs,
 * Query as key=value (gorilla's pairs), ClientIP. Headers, HeadersRegexp and Query match
 * when all their pairs do, the others when any argument does. */
static int build_v2_matcher(parser_t *p, const char *name, char **args, size_t *lens, size_t nargs,
                            proxy_rule_t **out)
{
    int host_re = !strcmp(name, "HostRegexp"), path = !strcmp(name, "Path");
    int prefix = !strcmp(name, "PathPrefix"), query = !strcmp(name, "Query");
    int headers = !strcmp(name, "Headers"), headers_re = !strcmp(name, "HeadersRegexp");
    if (!host_re && !path && !prefix && !query && !headers && !headers_re) {
        if (!strcmp(name, "Host") || !strcmp(name, "HostHeader") || !strcmp(name, "Method") ||
            !strcmp(name, "ClientIP"))
            return build_matcher(p, name, args, lens, nargs, out); /* the same in v3 */
        return perr(p,
                    "unsupported matcher %s in the v2 syntax (supported: Host, HostHeader, "
                    "HostRegexp, Path, PathPrefix, Method, Headers, HeadersRegexp, Query, "
                    "ClientIP)",
                    name);
    }
    if ((headers || headers_re) && nargs % 2)
        return perr(p, "%s takes names and values in pairs", name);
    /* gorilla's Headers and Queries take pairs that must all match; the others any */
    proxy_rule_t *node = node_new((headers || headers_re || query) ? OP_AND : OP_OR, NULL, 0, NULL, 0);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nargs; i += (headers || headers_re) ? 2 : 1) {
        proxy_rule_t *leaf = NULL;
        if (headers && lens[i + 1]) {
            leaf = node_new(OP_HEADER, args[i], lens[i], args[i + 1], lens[i + 1]);
        } else if (headers) { /* gorilla: an empty value asks for the field, any value */
            rc = regex_node(p, OP_HEADER_RE, name, args[i], lens[i], "", &leaf);
        } else if (headers_re) {
            rc = regex_node(p, OP_HEADER_RE, name, args[i], lens[i], args[i + 1], &leaf);
        } else if (query) { /* "k=v", the value a template; "k=" any value */
            const char *eq = memchr(args[i], '=', lens[i]);
            if (!eq) {
                rc = perr(p, "Query takes key=value pairs in the v2 syntax");
                break;
            }
            size_t kl = (size_t)(eq - args[i]), vl = lens[i] - kl - 1;
            rc = vl ? v2_leaf(p, name, OP_QUERY, OP_QUERY_RE, args[i], kl, eq + 1, vl, ".*", 0,
                              &leaf)
                    : regex_node(p, OP_QUERY_RE, name, args[i], kl, "", &leaf);
        } else if (host_re) {
            rc =
                v2_leaf(p, name, OP_HOST, OP_HOST_RE, NULL, 0, args[i], lens[i], "[^.]+", 0, &leaf);
        } else if (args[i][0] != '/') {
            rc = perr(p, "%s value must start with /", name);
        } else {
            rc = v2_leaf(p, name, path ? OP_PATH : OP_PREFIX, OP_PATH_RE, NULL, 0, args[i], lens[i],
                         "[^/]+", prefix, &leaf);
        }
        if (leaf)
            node_add(node, leaf);
    }
    if (rc < 0) {
        proxy_rule_free(node);
        return rc;
    }
    if (node->nkids == 1) {
        *out = node->kids[0];
        node->nkids = 0;
        proxy_rule_free(node);
    } else {
        *out = node;
    }
    return 0;
}

/* Traefik's parser takes each matcher as written, all lowercase, all uppercase or
 * capitalised (Go's strings.Title of the lowercase): "pathprefix", "PATHPREFIX" and
 * "Pathprefix" are PathPrefix. Rewrites name to the spelling written here. */
static void matcher_canonical(char *name)
{
    static const char *const names[] = {"Host",       "HostHeader",   "HostRegexp", "Path",
                                        "PathPrefix", "PathRegexp",   "Method",     "Header",
                                        "Headers",    "HeaderRegexp", "Query",      "QueryRegexp",
                                        "ClientIP",   "HeadersRegexp"};
    int lower = 1, upper = 1, title = isupper((unsigned char)name[0]) != 0;
    for (size_t i = 0; name[i]; i++) {
        lower &= islower((unsigned char)name[i]) != 0;
        upper &= isupper((unsigned char)name[i]) != 0;
        title &= i == 0 || islower((unsigned char)name[i]);
    }
    for (size_t i = 0; (lower || upper || title) && i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcasecmp(name, names[i])) {
            strcpy(name, names[i]); /* the same length */
            return;
        }
}

static int parse_matcher(parser_t *p, proxy_rule_t **out)
{
    char name[32];
    size_t n = 0;
    skip_ws(p);
    while (p->pos < p->len && isalpha((unsigned char)p->s[p->pos])) {
        if (n + 1 >= sizeof(name))
            return perr(p, "matcher name too long");
        name[n++] = p->s[p->pos++];
    }
    name[n] = '\0';
    if (n == 0)
        return perr(p, "expected a matcher, ( or !");
    matcher_canonical(name);
    if (!eat(p, "("))
        return perr(p, "expected ( after %s", name);
    char *args[MAX_ARGS];
    size_t lens[MAX_ARGS], nargs = 0;
    int rc = 0;
    do {
        if (nargs == MAX_ARGS) {
            rc = perr(p, "too many arguments to %s", name);
            goto out;
        }
        if ((rc = parse_string(p, &args[nargs], &lens[nargs])) < 0)
            goto out;
        nargs++;
    } while (eat(p, ","));
    if (!eat(p, ")")) {
        rc = perr(p, "expected ) to close %s", name);
        goto out;
    }
    rc = p->v2 ? build_v2_matcher(p, name, args, lens, nargs, out)
               : build_matcher(p, name, args, lens, nargs, out);
out:
    for (size_t i = 0; i < nargs; i++)
        hc_free(args[i]);
    return rc;
}

static int parse_or(parser_t *p, proxy_rule_t **out);

static int parse_unary(parser_t *p, proxy_rule_t **out)
{
    int rc;
    if (eat(p, "!") || eat(p, "(")) {
        int neg = p->s[p->pos - 1] == '!';
        if (++p->depth > PROXY_RULE_MAX_DEPTH)
            return perr(p, "nesting deeper than %u", PROXY_RULE_MAX_DEPTH);
        proxy_rule_t *kid = NULL;
        rc = neg ? parse_unary(p, &kid) : parse_or(p, &kid);
        p->depth--;
        if (rc < 0)
            return rc;
        if (!neg && !eat(p, ")")) {
            proxy_rule_free(kid);
            return perr(p, "expected )");
        }
        if (!neg) {
            *out = kid;
            return 0;
        }
        *out = node_new(OP_NOT, NULL, 0, NULL, 0);
        node_add(*out, kid);
        return 0;
    }
    return parse_matcher(p, out);
}

/* One level of a left-to-right chain joined by tok ("&&" or "||"). */
static int parse_chain(parser_t *p, rule_op_t op, const char *tok, proxy_rule_t **out)
{
    proxy_rule_t *first = NULL, *group = NULL;
    int rc = op == OP_OR ? parse_chain(p, OP_AND, "&&", &first) : parse_unary(p, &first);
    if (rc < 0)
        return rc;
    while (eat(p, tok)) {
        proxy_rule_t *next = NULL;
        rc = op == OP_OR ? parse_chain(p, OP_AND, "&&", &next) : parse_unary(p, &next);
        if (rc < 0) {
            proxy_rule_free(group ? group : first);
            return rc;
        }
        if (!group) {
            group = node_new(op, NULL, 0, NULL, 0);
            node_add(group, first);
        }
        node_add(group, next);
    }
    *out = group ? group : first;
    return 0;
}

static int parse_or(parser_t *p, proxy_rule_t **out)
{
    return parse_chain(p, OP_OR, "||", out);
}

int proxy_rule_parse(const char *text, proxy_rule_t **out, char *err, size_t errlen)
{
    return proxy_rule_parse_syntax(text, NULL, out, err, errlen);
}

int proxy_rule_parse_syntax(const char *text, const char *syntax, proxy_rule_t **out, char *err,
                            size_t errlen)
{
    parser_t p = {.s = text, .len = strlen(text), .err = err, .errlen = errlen};
    if (syntax && *syntax && strcmp(syntax, "v3") && strcmp(syntax, "v2"))
        return perr(&p, "rule syntax %s is not v3 or v2", syntax);
    p.v2 = syntax && !strcmp(syntax, "v2");
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    if (p.len > PROXY_RULE_MAX_LEN)
        return perr(&p, "rule longer than %u bytes", PROXY_RULE_MAX_LEN);
    skip_ws(&p);
    if (p.pos == p.len)
        return perr(&p, "empty rule");
    proxy_rule_t *r = NULL;
    int rc = parse_or(&p, &r);
    if (rc < 0)
        return rc;
    skip_ws(&p);
    if (p.pos != p.len) {
        proxy_rule_free(r);
        return perr(&p, "unexpected text after the rule");
    }
    *out = r;
    return 0;
}

proxy_rule_t *proxy_rule_new_host(const char *host)
{
    if (host[0] == '*' && host[1] == '.') {
        proxy_rule_t *r = host_leaf(host + 1, strlen(host + 1));
        r->op = OP_HOST_WILD;
        return r;
    }
    return host_leaf(host, strlen(host));
}

proxy_rule_t *proxy_rule_new_path(proxy_rule_path_t kind, const char *path)
{
    size_t n = strlen(path);
    if (kind == PROXY_RULE_PATH_PREFIX_ELEM) {
        while (n > 1 && path[n - 1] == '/')
            n--;
        return node_new(OP_PREFIX_ELEM, path, n, NULL, 0);
    }
    return node_new(kind == PROXY_RULE_PATH_EXACT ? OP_PATH : OP_PREFIX, path, n, NULL, 0);
}

proxy_rule_t *proxy_rule_new_and(proxy_rule_t *a, proxy_rule_t *b)
{
    if (!a && !b)
        return node_new(OP_TRUE, NULL, 0, NULL, 0);
    if (!a || !b)
        return a ? a : b;
    proxy_rule_t *r = node_new(OP_AND, NULL, 0, NULL, 0);
    node_add(r, a);
    node_add(r, b);
    return r;
}

static int eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int wild_match(const proxy_rule_t *r, const proxy_rule_req_t *q)
{
    if (q->host_len <= r->alen || memcmp(q->host + q->host_len - r->alen, r->a, r->alen) != 0)
        return 0;
    for (size_t i = 0; i < q->host_len - r->alen; i++) {
        char c = q->host[i];
        if (!isalnum((unsigned char)c) && c != '-')
            return 0;
    }
    return 1;
}

/* A regexp matcher's answer; one it cannot give marks the request undecided. */
static int re_match(const proxy_rule_t *r, const proxy_rule_req_t *q, const char *s, size_t len)
{
    int rc = proxy_mw_regex_test(r->re, s, len);
    if (rc < 0 && q->undecided)
        *q->undecided = 1;
    return rc == 1;
}

/* Whether some parameter of the query is named r->a with a value that r->b equals (or
 * r->re matches), keys and values decoded as Go's url.ParseQuery does (a pair with a bad
 * escape is skipped); a decoded part is never longer than the raw one. */
static int query_match(const proxy_rule_t *r, const proxy_rule_req_t *q)
{
    if (!q->query)
        return 0;
    size_t cap = q->query_len + 1;
    char stack[512], *buf = cap <= sizeof(stack) ? stack : hc_malloc(cap);
    const char *s = q->query, *end = q->query + q->query_len;
    int found = 0;
    while (!found && s && s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s)), *stop = amp ? amp : end;
        const char *eqs = memchr(s, '=', (size_t)(stop - s)), *kend = eqs ? eqs : stop;
        long kl = hc_url_decode(s, (size_t)(kend - s), buf, cap, 1);
        if (kl >= 0 && eq(buf, (size_t)kl, r->a, r->alen)) {
            const char *v = eqs ? eqs + 1 : stop;
            long vl = hc_url_decode(v, (size_t)(stop - v), buf, cap, 1);
            found = vl >= 0 &&
                    (r->re ? re_match(r, q, buf, (size_t)vl) : eq(buf, (size_t)vl, r->b, r->blen));
        }
        s = amp ? amp + 1 : NULL;
    }
    if (buf != stack)
        hc_free(buf);
    return found;
}

int proxy_rule_eval(const proxy_rule_t *r, const proxy_rule_req_t *q)
{
    switch (r->op) {
    case OP_TRUE:
        return 1;
    case OP_AND:
        for (size_t i = 0; i < r->nkids; i++)
            if (!proxy_rule_eval(r->kids[i], q))
                return 0;
        return 1;
    case OP_OR:
        for (size_t i = 0; i < r->nkids; i++)
            if (proxy_rule_eval(r->kids[i], q))
                return 1;
        return 0;
    case OP_NOT:
        return !proxy_rule_eval(r->kids[0], q);
    case OP_HOST:
        return eq(q->host, q->host_len, r->a, r->alen);
    case OP_HOST_WILD:
        return wild_match(r, q);
    case OP_PATH:
        return eq(q->path, q->path_len, r->a, r->alen);
    case OP_PREFIX:
        return q->path_len >= r->alen && memcmp(q->path, r->a, r->alen) == 0;
    case OP_PREFIX_ELEM:
        /* Kubernetes Ingress, pathType Prefix: matched element by element on `/`. */
        if (r->alen == 1)
            return 1;
        return q->path_len >= r->alen && memcmp(q->path, r->a, r->alen) == 0 &&
               (q->path_len == r->alen || q->path[r->alen] == '/');
    case OP_METHOD:
        return eq(q->method, q->method_len, r->a, r->alen);
    case OP_HEADER:
    case OP_HEADER_RE: {
        size_t vlen = 0;
        const char *v = q->header ? q->header(q->header_ctx, r->a, &vlen) : NULL;
        if (!v)
            return 0;
        return r->op == OP_HEADER ? eq(v, vlen, r->b, r->blen) : re_match(r, q, v, vlen);
    }
    case OP_HOST_RE:
        return re_match(r, q, q->host, q->host_len);
    case OP_PATH_RE:
        return re_match(r, q, q->path, q->path_len);
    case OP_QUERY:
    case OP_QUERY_RE:
        return query_match(r, q);
    case OP_CLIENT_IP:
        return q->client_ip && proxy_mw_ipset_contains(&r->ips, q->client_ip) == 1;
    }
    return 0;
}

static int host_restricted(const proxy_rule_t *r)
{
    switch (r->op) {
    case OP_HOST:
    case OP_HOST_WILD:
        return 1;
    case OP_AND:
        for (size_t i = 0; i < r->nkids; i++)
            if (host_restricted(r->kids[i]))
                return 1;
        return 0;
    case OP_OR:
        for (size_t i = 0; i < r->nkids; i++)
            if (!host_restricted(r->kids[i]))
                return 0;
        return r->nkids > 0;
    default:
        return 0;
    }
}

static void host_emit(const proxy_rule_t *r, void (*fn)(void *, const char *, int), void *ctx)
{
    if (r->op == OP_HOST || r->op == OP_HOST_WILD) {
        fn(ctx, r->a, r->op == OP_HOST_WILD);
        return;
    }
    for (size_t i = 0; i < r->nkids; i++) {
        if (r->op == OP_AND && !host_restricted(r->kids[i]))
            continue;
        host_emit(r->kids[i], fn, ctx);
        if (r->op == OP_AND)
            return;
    }
}

int proxy_rule_hosts(const proxy_rule_t *r, void (*fn)(void *ctx, const char *host, int wildcard),
                     void *ctx)
{
    if (!host_restricted(r))
        return 0;
    host_emit(r, fn, ctx);
    return 1;
}

int proxy_rule_host_normalize(const char *host, size_t len, char *out)
{
    size_t start = 0, end = len;
    if (len && host[0] == '[') {
        const char *close = memchr(host, ']', len);
        if (close) {
            start = 1;
            end = (size_t)(close - host);
        }
    } else {
        const char *colon = memchr(host, ':', len);
        if (colon)
            end = (size_t)(colon - host);
    }
    if (end > start && host[end - 1] == '.')
        end--;
    if (end - start > PROXY_RULE_MAX_HOST)
        return -1;
    for (size_t i = start; i < end; i++)
        out[i - start] = (char)tolower((unsigned char)host[i]);
    out[end - start] = '\0';
    return (int)(end - start);
}

/* RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~" */
static int unreserved(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 §2.2 gen-delims and sub-delims, and '%' (decoding it would change what the
 * rest means), and the control characters: the escapes a routing path keeps. */
static int kept_escaped(int c)
{
    return c < 0x20 || c == 0x7f || (c < 0x80 && strchr(":/?#[]@!$&'()*+,;=%", c));
}

size_t proxy_rule_routing_path(const char *path, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (path[i] == '%' && i + 2 < len && (hi = hc_hex_digit((unsigned char)path[i + 1])) >= 0 &&
            (lo = hc_hex_digit((unsigned char)path[i + 2])) >= 0 && !kept_escaped(hi * 16 + lo)) {
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = path[i];
        }
    }
    out[n] = '\0';
    return n;
}

/* "//", "/." or an escape: the path may change. */
static int path_needs_work(const char *path, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (path[i] == '/' && (path[i + 1] == '/' || path[i + 1] == '.'))
            return 1;
    return memchr(path, '%', len) != NULL;
}

int proxy_rule_path_normalize(char *path, size_t *lenp)
{
    size_t len = *lenp;
    if (!len || path[0] != '/' || !path_needs_work(path, len))
        return 0;
    /* 1. escapes: decode the unreserved ones, uppercase the rest (in place, shorter) */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (path[i] == '%') {
            if (i + 2 >= len || (hi = hc_hex_digit((unsigned char)path[i + 1])) < 0 ||
                (lo = hc_hex_digit((unsigned char)path[i + 2])) < 0)
                return -EINVAL; /* nothing written yet past what was read */
            int c = hi * 16 + lo;
            if (unreserved(c)) {
                path[n++] = (char)c;
            } else {
                path[n++] = '%';
                path[n++] = (char)toupper((unsigned char)path[i + 1]);
                path[n++] = (char)toupper((unsigned char)path[i + 2]);
            }
            i += 2;
        } else {
            path[n++] = path[i];
        }
    }
    /* 2. segments, as path.Clean: "" and "." dropped, ".." drops the one before it */
    int trailing = path[n - 1] == '/';
    size_t out = 1, i = 1; /* path[0] is the root '/' */
    while (i < n) {
        size_t e = i;
        while (e < n && path[e] != '/')
            e++;
        size_t seg = e - i;
        if (seg == 0 || (seg == 1 && path[i] == '.')) {
            /* dropped */
        } else if (seg == 2 && path[i] == '.' && path[i + 1] == '.') {
            while (out > 1 && path[out - 1] != '/')
                out--;
            if (out > 1)
                out--; /* the '/' before the dropped segment */
        } else {
            if (out > 1)
                path[out++] = '/';
            memmove(path + out, path + i, seg);
            out += seg;
        }
        i = e + 1;
    }
    if (trailing && path[out - 1] != '/')
        path[out++] = '/';
    if (out < len)
        path[out] = '\0';
    *lenp = out;
    return 0;
}
