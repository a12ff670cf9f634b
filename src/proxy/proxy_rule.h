/* A router's request-matching rule: Traefik's rule language (Host, HostRegexp, Path,
 * PathPrefix, PathRegexp, Method, Header, HeaderRegexp, Query, QueryRegexp, ClientIP,
 * with && || ! and parentheses) compiled into a small immutable tree, plus the Kubernetes
 * Ingress matchers that proxy_config builds directly. proxy_route evaluates the trees.
 * Regular expressions are Go's (mw_regex) and match anywhere unless anchored; the
 * HostRegexp Traefik writes for a `*.domain` Ingress host is kept as a host wildcard so
 * that routing indexes it by host.
 *
 * Host comparison is case-insensitive (RFC 9110 §4.2.3: the host is case-insensitive);
 * paths, methods (RFC 9110 §9.1) and header values compare case-sensitively. */
#ifndef PROXY_RULE_H
#define PROXY_RULE_H

#include <stddef.h>

/* Longest rule text accepted, and deepest nesting of ( and ! (bounds the recursion). */
#define PROXY_RULE_MAX_LEN 65536u
#define PROXY_RULE_MAX_DEPTH 32u
/* Longest host name kept for matching (RFC 1035 §2.3.4 allows 253 octets + a dot). */
#define PROXY_RULE_MAX_HOST 255u

typedef struct proxy_rule proxy_rule_t;

/* How an Ingress path matches (Kubernetes networking/v1 HTTPIngressPath.pathType). */
typedef enum proxy_rule_path {
    PROXY_RULE_PATH_EXACT,       /* the whole path, case-sensitive */
    PROXY_RULE_PATH_PREFIX_CHAR, /* a character prefix: /v1 matches /v11 (Traefik PathPrefix) */
    PROXY_RULE_PATH_PREFIX_ELEM, /* whole `/` elements: /foo matches /foo, /foo/x, not /foobar */
} proxy_rule_path_t;

/* What a rule sees of a request. Strings need not be NUL-terminated. */
typedef struct proxy_rule_req {
    const char *method;
    size_t method_len;
    const char *host; /* lowercase, without port or trailing dot: see proxy_rule_host_normalize */
    size_t host_len;
    const char *path; /* the path without the query */
    size_t path_len;
    const char *query; /* after '?', raw; NULL when none */
    size_t query_len;
    const char *client_ip; /* the TCP peer's address (ClientIP); NULL = unknown */
    /* Returns the value of header name (case-insensitive) and its length in *len, or NULL
     * when absent. NULL callback: no header is present. */
    const char *(*header)(void *ctx, const char *name, size_t *len);
    void *header_ctx;
    /* Set to 1 when a regexp could not tell whether it matches (proxy_mw_regex_test's
     * -1; it counts as no match): the caller refuses the request rather than let it
     * fall through to a lower router. NULL: not told. */
    int *undecided;
} proxy_rule_req_t;

/** Compiles rule text. Returns 0 and *out (free with proxy_rule_free), or -EINVAL with a
 *  message in err (errlen bytes, may be 0) naming the position and the problem: a syntax
 *  error, an unsupported matcher, a bad regular expression or address, a path not
 *  starting with `/`, an empty host. */
int proxy_rule_parse(const char *text, proxy_rule_t **out, char *err, size_t errlen);
/** proxy_rule_parse in a rule syntax: "v3" (or NULL, ""), or "v2" (Traefik v2's matchers,
 *  which v3 still reads for a router's ruleSyntax: v2); any other is an error. */
int proxy_rule_parse_syntax(const char *text, const char *syntax, proxy_rule_t **out, char *err,
                            size_t errlen);

/** A host matcher: "*.example.com" matches exactly one more label ([a-zA-Z0-9-]+, as
 *  Traefik's generated HostRegexp); anything else matches that host case-insensitively. */
proxy_rule_t *proxy_rule_new_host(const char *host);
/** A path matcher of the given kind. For PREFIX_ELEM a trailing `/` of path is ignored. */
proxy_rule_t *proxy_rule_new_path(proxy_rule_path_t kind, const char *path);
/** a && b, taking ownership of both; a NULL side is left out; both NULL matches anything. */
proxy_rule_t *proxy_rule_new_and(proxy_rule_t *a, proxy_rule_t *b);

/** Frees a tree; NULL is fine. */
void proxy_rule_free(proxy_rule_t *r);

/** 1 when the request matches. Thread-safe: reads the tree only. */
int proxy_rule_eval(const proxy_rule_t *r, const proxy_rule_req_t *req);

/** When every request the rule matches has one of a finite set of hosts, calls fn once per
 *  host (wildcard != 0: host is a suffix like ".example.com" matching one extra label)
 *  and returns 1; otherwise returns 0 without calling fn. proxy_route indexes by it. */
int proxy_rule_hosts(const proxy_rule_t *r, void (*fn)(void *ctx, const char *host, int wildcard),
                     void *ctx);

/** Writes the matching form of a Host header value (RFC 9110 §7.2: uri-host [":" port]) into out
 * (at least PROXY_RULE_MAX_HOST + 1 bytes): lowercase, without ":port" (also after an IPv6
 *  "[...]") and without one trailing dot. Returns its length, or -1 when longer than
 *  PROXY_RULE_MAX_HOST. */
int proxy_rule_host_normalize(const char *host, size_t len, char *out);

/** Rewrites a request path (path[0..*len), in place, as Traefik does before routing
 *  (its sanitizePath): percent-encoded unreserved characters decoded and the other
 *  escapes' hex digits uppercased (RFC 3986 §2.3, §6.2.2.1), then ".", ".." and empty
 *  segments removed as Go's path.Clean does, a trailing '/' kept. *len becomes the new
 *  length (never longer; NUL-terminated there when shorter). A path that does not
 *  begin with '/' (OPTIONS *) is left alone. Returns 0, or -EINVAL for a '%' without two
 *  hex digits (Go's server answers such a request 400), path then partly rewritten. */
int proxy_rule_path_normalize(char *path, size_t *len);

/** The path routers match, from a normalized one (len bytes, its escapes valid): every
 *  escape decoded but those of reserved characters (RFC 3986 §2.2, and '%'), so that
 *  PathPrefix(`/foo bar`) matches /foo%20bar, as Traefik's routing path; control
 *  characters stay escaped too. Written to out (len + 1 bytes, NUL-terminated); returns
 *  its length. */
size_t proxy_rule_routing_path(const char *path, size_t len, char *out);

#endif
