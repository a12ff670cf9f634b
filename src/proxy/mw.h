/* Proxy middlewares: the request/response view every middleware works on, and the
 * registry mapping a Traefik middleware type name (the key under a Middleware CRD's
 * `spec`, or under `http.middlewares.<name>` in the file provider) to its functions.
 *
 * Start here. Each family lives in its own mw_<family>.c/.h; they are pure functions
 * over this view (no I/O, no event loop), thread-safe on a shared parsed config, so the
 * HTTP server can run them on any worker. Flow for one request through a middleware:
 *   on_request(cfg, req, resp) -> PROXY_MW_NEXT (go on; maybe after req->delay_ms)
 *                               | PROXY_MW_RESPOND (answer with resp, do not forward)
 *   ... upstream answers into resp ...
 *   on_response(cfg, req, resp) (response headers, in reverse middleware order).
 * compress, forwardAuth and errors need the body or a network call and expose their own
 * entry points (mw_compress.h, mw_forwardauth.h, mw_errors.h); chain only names other
 * middlewares. */
#ifndef PROXY_MW_H
#define PROXY_MW_H

#include "core/hc_buf.h"
#include "core/hc_err.h" /* hc_errf: the parsers' error messages */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Bodies that middlewares write themselves (401, 429, redirects) are small. */
#define PROXY_MW_BODY_MAX 4096u
/* What a middleware builds from a request (a URL, a path) may grow to this: the request's
 * head is at most 1 MiB (Go's limit, which Traefik keeps), and the rest is room for what
 * a configured prefix or regex replacement adds. Past it the middleware answers 500
 * (proxy_mw_resp_too_long) rather than let the request by as if it had not run. */
#define PROXY_MW_BUILD_MAX (4u << 20)

typedef struct proxy_mw_header {
    char *name; /* as received or set; compared case-insensitively (RFC 9110 §5.1) */
    char *value;
    int owned;  /* PROXY_MW_OWN_* bits: which of the two the list frees */
} proxy_mw_header_t;

#define PROXY_MW_OWN_NAME 1
#define PROXY_MW_OWN_VALUE 2

/* An ordered header list. Owns the names and values it copied with hc_* memory. With
 * a store set, copies go into the store's spare room instead while it lasts (never
 * freed by the list, no allocation per field): the proxy packs a request's fields there
 * once, with room left for what middlewares and forwarding add. */
typedef struct proxy_mw_headers {
    proxy_mw_header_t *v;
    size_t len;
    size_t cap;
    hc_buf_t *store; /* NULL, or the caller's: never grown by the list, must outlive it */
} proxy_mw_headers_t;

/* Something a middleware keeps for as long as the request lives (inFlightReq's place in
 * its count): proxy_mw_req_free releases it. */
typedef struct proxy_mw_hold {
    struct proxy_mw_hold *next;
    void (*release)(struct proxy_mw_hold *h); /* gives it back and frees h */
} proxy_mw_hold_t;

/* The request as middlewares see it. Every string is owned by the view and freed by
 * proxy_mw_req_free: proxy_mw_req_init copies them into one block; middlewares replace
 * host and path with proxy_mw_req_set, user with proxy_mw_str_set. */
typedef struct proxy_mw_req {
    char *method;  /* "GET", ... */
    char *scheme;  /* "http" or "https": https when the client connection is TLS */
    char *host;    /* Host header value, may carry ":port" */
    char *path;    /* raw path as received ("/a%20b"); "" after stripping everything */
    char *query;   /* without '?'; NULL when the request has none */
    char *peer_ip; /* TCP peer address, no port ("192.0.2.1", "2001:db8::1") */
    proxy_mw_headers_t headers;
    uint64_t now_ns;   /* monotonic arrival time; rateLimit reads it */
    uint32_t delay_ms; /* out: hold the request this long before going on (rateLimit) */
    int no_xff;        /* out: do not add X-Forwarded-For upstream (headers middleware) */
    char *user;        /* out: authenticated user name (basicAuth), NULL otherwise */
    proxy_mw_hold_t *holds; /* out: released, newest first, by proxy_mw_req_free */
    char *block;       /* the strings proxy_mw_req_init copied, one piece of memory */
    size_t block_len;
    int block_owned; /* block is an allocation of its own (else in the caller's store) */
    int replaced;    /* proxy_mw_req_set/take ran: some field may be outside block */
} proxy_mw_req_t;

/* A response: one a middleware writes itself, or the upstream's headers. */
typedef struct proxy_mw_resp {
    int status; /* 0 until set */
    proxy_mw_headers_t headers;
    hc_buf_t body; /* max PROXY_MW_BODY_MAX */
} proxy_mw_resp_t;

typedef enum proxy_mw_verdict {
    PROXY_MW_NEXT = 0,    /* continue: next middleware, then the upstream */
    PROXY_MW_RESPOND = 1, /* resp is complete: send it, do not forward */
} proxy_mw_verdict_t;

/** Frees every entry and the array; the list is empty (no store) and reusable. */
void proxy_mw_headers_free(proxy_mw_headers_t *h);
/** Frees the owned entries and empties the list, keeping its array and store. */
void proxy_mw_headers_clear(proxy_mw_headers_t *h);
/** Frees what e owns of its name and value (the entry's pointers stay as they are). */
void proxy_mw_header_release(proxy_mw_header_t *e);
/** Appends a header from nlen and vlen bytes (no NUL needed), copied NUL-terminated:
 *  into h->store's spare room when it has enough (the caller reserved it with
 *  hc_buf_reserve and grows it no further while h uses it), else as hc_* copies. */
void proxy_mw_headers_add_n(proxy_mw_headers_t *h, const char *name, size_t nlen,
                            const char *value, size_t vlen);
/** Removes entry i (frees what it owns); later entries move up by one. */
void proxy_mw_headers_remove(proxy_mw_headers_t *h, size_t i);
/** The value of the first header named name (case-insensitive), borrowed, or NULL. */
const char *proxy_mw_headers_get(const proxy_mw_headers_t *h, const char *name);
/** Whether a response field is one a server writes itself when it answers (Content-Type,
 *  Content-Length, Transfer-Encoding, Date): copying a response's fields skips these. */
int proxy_mw_header_is_framing(const char *name);
/** Appends a header (copies name and value). */
void proxy_mw_headers_add(proxy_mw_headers_t *h, const char *name, const char *value);
/** Replaces all headers named name by one with value (the first keeps its place). */
void proxy_mw_headers_set(proxy_mw_headers_t *h, const char *name, const char *value);
/** Removes all headers named name. Returns how many were removed. */
size_t proxy_mw_headers_del(proxy_mw_headers_t *h, const char *name);

/** Fills req from borrowed strings (copied). target is the request-target in origin
 *  form ("/p?q"); tls selects the scheme. now_ns is the arrival time. */
void proxy_mw_req_init(proxy_mw_req_t *req, const char *method, int tls, const char *host,
                       const char *target, const char *peer_ip, uint64_t now_ns);
/** proxy_mw_req_init copying the strings into store's spare room when it has enough
 *  (reserved by the caller, who grows it no further while req uses it), else into an
 *  allocation of req's own. */
void proxy_mw_req_init_in(proxy_mw_req_t *req, const char *method, int tls, const char *host,
                          const char *target, const char *peer_ip, uint64_t now_ns,
                          hc_buf_t *store);
/** Releases req's holds and frees everything it owns. */
void proxy_mw_req_free(proxy_mw_req_t *req);
/** Replaces an owned string field with a copy of value (NULL allowed). */
void proxy_mw_str_set(char **field, const char *value);
/** Replaces req->host or req->path (field) with a copy of value. */
void proxy_mw_req_set(proxy_mw_req_t *req, char **field, const char *value);
/** Replaces req->host or req->path (field) with s (hc_* memory, now req's). */
void proxy_mw_req_take(proxy_mw_req_t *req, char **field, char *s);

/** An empty response with a body limited to PROXY_MW_BODY_MAX. */
void proxy_mw_resp_init(proxy_mw_resp_t *resp);
void proxy_mw_resp_free(proxy_mw_resp_t *resp);
/** Go's http.Error type. */
#define PROXY_MW_TEXT_PLAIN "text/plain; charset=utf-8"
/** Sets status, a text body and its Content-Length; Content-Type ctype, or none when NULL
 *  (Traefik v3 writes most of its own answers without one: its entry point turns Go's
 *  type sniffing off). Returns PROXY_MW_RESPOND so a middleware can
 *  `return proxy_mw_resp_text(...)`. */
proxy_mw_verdict_t proxy_mw_resp_text(proxy_mw_resp_t *resp, int status, const char *ctype,
                                      const char *body);
/** Splits a Host value or an address into name [0, *nl) and port (after ':', "" when
 *  absent), as Go's net.SplitHostPort reads them: "[v6]:port" keeps its brackets in the
 *  name, and a bare IPv6 address, or more than one ':' outside brackets, has no port. */
const char *proxy_mw_host_split(const char *host, size_t *nl);
/** Logs that what middleware `name` built passed PROXY_MW_BUILD_MAX; answers 500. */
proxy_mw_verdict_t proxy_mw_resp_too_long(proxy_mw_resp_t *resp, const char *name);
/** FNV-1a of s: the key hash of the shared per-source tables (rateLimit, inFlightReq). */
uint64_t proxy_mw_hash(const char *s);
/** Appends the len bytes at s escaped as Go's url.QueryEscape does (unreserved bytes as
 *  they are, space as '+', the rest %XX, NUL included). Returns 0 or -ENOBUFS. */
int proxy_mw_query_escape(hc_buf_t *out, const char *s, size_t len);

/** Parses a spec: 0 with *cfg set (owned by the caller, free with the type's free), or
 *  -EINVAL with a message in err (errlen bytes, always NUL-terminated). name is the
 *  middleware's qualified name ("default-rate-limit@kubernetescrd"), copied. */
typedef int (*proxy_mw_parse_fn)(const json_t *spec, const char *name, void **cfg, char *err,
                                 size_t errlen);
typedef void (*proxy_mw_free_fn)(void *cfg);
/** Runs before forwarding; may edit req, or fill resp and return PROXY_MW_RESPOND. */
typedef proxy_mw_verdict_t (*proxy_mw_request_fn)(const void *cfg, proxy_mw_req_t *req,
                                                  proxy_mw_resp_t *resp);
/** Runs on the upstream response headers (resp), with the request as it was forwarded. */
typedef void (*proxy_mw_response_fn)(const void *cfg, const proxy_mw_req_t *req,
                                     proxy_mw_resp_t *resp);

typedef struct proxy_mw_type {
    const char *name; /* Traefik type key: "headers", "rateLimit", "ipAllowList", ... */
    proxy_mw_parse_fn parse;
    proxy_mw_free_fn free;
    proxy_mw_request_fn on_request;   /* NULL for compress, forwardAuth, chain */
    proxy_mw_response_fn on_response; /* NULL when the type leaves responses alone */
} proxy_mw_type_t;

/** The type registered under name (exact Traefik spelling), or NULL. */
const proxy_mw_type_t *proxy_mw_type_find(const char *name);

/** A parsed middleware: its type and config. Owns cfg. */
typedef struct proxy_mw {
    const proxy_mw_type_t *type;
    void *cfg;
} proxy_mw_t;

/** Parses a whole Middleware spec ({"<type>": {...}}, exactly one known type key) into
 *  mw. Returns 0, -EINVAL (unknown or several types, bad fields: err says which) or
 *  -ENOTSUP for a Traefik type hearth does not implement. Free with proxy_mw_free. */
int proxy_mw_parse(const json_t *spec, const char *name, proxy_mw_t *mw, char *err,
                   size_t errlen);
/** Frees mw->cfg; NULL-safe on a zeroed mw. */
void proxy_mw_free(proxy_mw_t *mw);

/* Helpers for the parsers (mw_view.c). Key lookups ignore case, as Traefik's file
 * provider does; CRD JSON uses the exact camelCase spellings, which also match. */

/** The member key of obj, ignoring case; NULL when absent or obj is not an object. */
json_t *proxy_mw_json_get(const json_t *obj, const char *key);
/** Between these two calls (one thread), the members proxy_mw_json_get looks up are
 *  noted; the end logs each member of spec (a middleware's settings, of type, named
 *  name) that its parser never looked up, in the objects it looked into: a misspelled
 *  option is told, not silently dropped. */
void proxy_mw_fields_begin(void);
void proxy_mw_fields_end(const json_t *spec, const char *type, const char *name);
/** Reads a boolean (true/false or "true"/"false") into *out; absent leaves *out. */
int proxy_mw_json_bool(const json_t *obj, const char *key, int *out, char *err, size_t errlen);
/** Reads an integer (or a decimal string) into *out; absent leaves *out. */
int proxy_mw_json_int(const json_t *obj, const char *key, long long *out, char *err,
                      size_t errlen);
/** Copies a string (numbers are formatted) into *out (hc_strdup); absent leaves *out. */
int proxy_mw_json_str(const json_t *obj, const char *key, char **out, char *err, size_t errlen);
/** Copies a list of strings into *out (hc_* array of hc_strdup strings, *n entries).
 *  Absent gives 0 entries. Free with proxy_mw_strv_free. */
int proxy_mw_json_strv(const json_t *obj, const char *key, char ***out, size_t *n, char *err,
                       size_t errlen);
void proxy_mw_strv_free(char **v, size_t n);
/** Reads a duration (an integer: seconds; a string: Go's time.ParseDuration, a bare
 *  integer meaning seconds) into *ns; absent or null leaves *ns. -EINVAL with
 *  "<what>.<key>: ..." in err otherwise. */
int proxy_mw_json_duration(const json_t *obj, const char *key, const char *what, uint64_t *ns,
                           char *err, size_t errlen);
/** Formats ns as Go's time.Duration.String(): "0s", "750µs", "1.5s", "1m0s", "2h3m4.5s".
 *  out needs 32 bytes. */
void proxy_mw_go_duration_format(uint64_t ns, char out[32]);
/** Parses a Go duration ("1m", "1.5s", "1h30m", "250ms", "10us") into *ns; a bare
 *  integer means seconds. Returns 0 or -EINVAL (also for negative values, exponents,
 *  "nan" or "inf"). */
int proxy_mw_go_duration_parse(const char *s, uint64_t *ns);

#endif
