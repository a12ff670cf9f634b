/* Static assets embedded in the binary: scripts/embed.py turns web/<service>/ into an
 * hc_static_table_t (see web/meson.build); hc_static precomputes ETags and gzip/brotli
 * variants once, then answers GET/HEAD for them as a pure function of the request.
 *
 *   hc_static_t *st;
 *   hc_static_new(&analytics_web, &(hc_static_options_t){.prefix = "/"}, &st);
 *   hc_static_response_t res;
 *   hc_static_respond(st, &(hc_static_request_t){"GET", "/app.js", "gzip, br", NULL}, &res);
 *   (res.status, res.headers[0..nheaders), res.body/res.body_len go to the client)
 */
#ifndef HC_STATIC_H
#define HC_STATIC_H

#include <stddef.h>

/** One embedded file, as scripts/embed.py writes it. path is relative to the embedded
 *  folder, '/'-separated, without a leading '/' ("index.html", "js/app.js"). */
typedef struct hc_static_asset {
    const char *path;
    const unsigned char *data;
    size_t len;
    const char *content_type;
} hc_static_asset_t;

/** A whole embedded folder: count assets, static storage, sorted by path. */
typedef struct hc_static_table {
    const hc_static_asset_t *assets;
    size_t count;
} hc_static_table_t;

typedef struct hc_static_options {
    const char *prefix; /* URL path the folder is mounted at; NULL = "/" (a missing
                           trailing '/' is implied) */
    const char *index;  /* file served for a path ending in '/'; NULL = "index.html" */
    unsigned max_age;   /* Cache-Control max-age for plain assets; 0 = "no-cache" */
    int immutable;      /* nonzero: names with a content hash ("app.3f9a1c2e.js",
                           "index-BxH3k9aZ.js") get "public, max-age=31536000, immutable" */
} hc_static_options_t;

/** The request parts hc_static looks at; every string NUL-terminated, headers NULL when
 *  absent. path is the request target; a query string or fragment is ignored. */
typedef struct hc_static_request {
    const char *method;
    const char *path;
    const char *accept_encoding;
    const char *if_none_match;
} hc_static_request_t;

#define HC_STATIC_MAX_HEADERS 7

typedef struct hc_static_header {
    const char *name;
    const char *value;
} hc_static_header_t;

/** What to send. Every pointer refers to the hc_static_t or to this struct (the
 *  Content-Length digits): valid while both live. */
typedef struct hc_static_response {
    int status; /* 200, 304, 404, 405 or 406 */
    hc_static_header_t headers[HC_STATIC_MAX_HEADERS];
    size_t nheaders;
    const unsigned char *body; /* NULL for HEAD, 304 and errors */
    size_t body_len;
    char length[24]; /* storage for the Content-Length value */
} hc_static_response_t;

typedef struct hc_static hc_static_t;

/** Indexes table and precomputes, for each asset, a strong ETag (SHA-256 of the bytes)
 *  and gzip (zlib level 9) and brotli (quality 11) variants, kept only when smaller.
 *  table must outlive the result (it is not copied); opt may be NULL and is copied.
 *  Returns 0 and *out (free with hc_static_free), or -EINVAL for a duplicate or
 *  malformed path, or -EIO when a compressor fails. Slow for large tables: call at
 *  start-up, not per request. */
int hc_static_new(const hc_static_table_t *table, const hc_static_options_t *opt,
                  hc_static_t **out);

/** Frees what hc_static_new built. NULL is fine. */
void hc_static_free(hc_static_t *s);

/** Looks up an asset by its table path ("js/app.js"); NULL when absent. */
const hc_static_asset_t *hc_static_find(const hc_static_t *s, const char *path);

/** Answers req without side effects. Found asset, GET or HEAD: 200 with Content-Type,
 *  Content-Length, ETag, Cache-Control, and Content-Encoding + Vary when a compressed
 *  variant exists (br, then gzip, then identity, each only when Accept-Encoding does
 *  not give it q=0; identity when the header is absent); 304 when If-None-Match
 *  matches the chosen variant's ETag; 406 when every coding we hold is refused.
 *  Another method on a found asset: 405 with Allow. Path outside the prefix or not in
 *  the table: 404 with no headers, so a router may fall through to other handlers. */
void hc_static_respond(const hc_static_t *s, const hc_static_request_t *req,
                       hc_static_response_t *res);

/** Looks up a header of res by name (case-insensitive); NULL when not set. */
const char *hc_static_header(const hc_static_response_t *res, const char *name);

struct hc_http_req;

/** Answers an HTTP server request (core/hc_http_server.h) from s: runs
 *  hc_static_respond on its method, target, Accept-Encoding and If-None-Match and sends
 *  the result with hc_http_respond (405/406 as JSON errors). Returns 0 when a response
 *  was sent, -ENOENT when the target names no asset (nothing sent: the caller answers
 *  or tries another handler), or the server's negative errno. */
int hc_static_serve(const hc_static_t *s, struct hc_http_req *req);

#endif
