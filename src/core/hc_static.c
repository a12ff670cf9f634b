/* Embedded static assets (see hc_static.h): start-up precomputation of ETags and
 * compressed variants, then a pure request -> response function that a service's
 * HTTP handler calls for GET/HEAD under its mount prefix. */
#include "core/hc_static.h"
#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_log.h"

#include <brotli/encode.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define MAX_PATH 2048 /* decoded request paths longer than this are not ours (404) */

enum { V_IDENTITY, V_GZIP, V_BR, V_COUNT };

static const char *const coding_names[V_COUNT] = {NULL, "gzip", "br"};

struct variant {
    const unsigned char *data; /* identity: the table's bytes; others: owned */
    size_t len;
    int present;
    char etag[48];
};

struct entry {
    const hc_static_asset_t *asset;
    struct variant v[V_COUNT];
    const char *cache_control; /* one of the hc_static_t strings */
};

struct hc_static {
    struct entry *entries; /* sorted by asset path */
    size_t n;
    char *prefix; /* always ends in '/' */
    char *index;
    char cc_plain[48];
};

static const char CC_NO_CACHE[] = "no-cache";
static const char CC_IMMUTABLE[] = "public, max-age=31536000, immutable";

/* --- start-up: compression, ETags, cache policy -------------------------------------- */

/* Formats that are already compressed gain nothing from another pass. */
static int compressible(const char *type)
{
    static const char *const skip[] = {
        "image/png", "image/jpeg", "image/gif", "image/webp",      "image/avif",
        "font/woff", "audio/",     "video/",    "application/zip", "application/gzip"};
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (strncmp(type, skip[i], strlen(skip[i])) == 0)
            return 0;
    return 1;
}

/* gzip container (RFC 1952) around deflate at level 9; windowBits 15 + 16 asks zlib
 * for the gzip wrapper. */
static int gzip_compress(const unsigned char *in, size_t n, unsigned char **out, size_t *len)
{
    z_stream z = {0};
    if (n > UINT_MAX || deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return -EIO;
    size_t cap = deflateBound(&z, (uLong)n);
    unsigned char *buf = hc_malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        hc_free(buf);
        return -EIO;
    }
    *out = buf;
    return 0;
}

static int brotli_compress(const unsigned char *in, size_t n, const char *type, unsigned char **out,
                           size_t *len)
{
    size_t cap = BrotliEncoderMaxCompressedSize(n);
    if (cap == 0)
        return -EIO;
    BrotliEncoderMode mode = BROTLI_MODE_GENERIC;
    if (strncmp(type, "text/", 5) == 0 || strstr(type, "javascript") || strstr(type, "json"))
        mode = BROTLI_MODE_TEXT;
    else if (strncmp(type, "font/", 5) == 0)
        mode = BROTLI_MODE_FONT;
    unsigned char *buf = hc_malloc(cap);
    *len = cap;
    if (!BrotliEncoderCompress(11, BROTLI_DEFAULT_WINDOW, mode, n, in, len, buf)) {
        hc_free(buf);
        return -EIO;
    }
    *out = buf;
    return 0;
}

/* Compresses into variant i and keeps the result only when it is smaller. */
static int variant_make(struct entry *e, int i)
{
    const hc_static_asset_t *a = e->asset;
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = i == V_GZIP ? gzip_compress(a->data, a->len, &data, &len)
                         : brotli_compress(a->data, a->len, a->content_type, &data, &len);
    if (rc)
        return rc;
    if (len >= a->len) {
        hc_free(data);
        return 0;
    }
    e->v[i].data = hc_realloc(data, len);
    e->v[i].len = len;
    e->v[i].present = 1;
    return 0;
}

/* Strong ETags (RFC 9110 §8.8.3) from the first 128 bits of SHA-256 of the bytes. A
 * content coding makes another representation, so each variant gets its own tag. */
static int etags_make(struct entry *e)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(e->asset->data, e->asset->len, md, &mdlen, EVP_sha256(), NULL))
        return -EIO;
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    for (int i = 0; i < V_COUNT; i++)
        snprintf(e->v[i].etag, sizeof(e->v[i].etag), "\"%s%s%s\"", hex, i ? "-" : "",
                 i ? coding_names[i] : "");
    return 0;
}

/* A bundler's content hash in the last name part before the extension: 8+ letters and
 * digits with at least one digit, after '.' or '-' ("app.3f9a1c2e.js",
 * "index-BxH3k9aZ.js"). */
static int name_hashed(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *ext = strrchr(base, '.');
    if (!ext)
        return 0;
    const char *p = ext;
    int digits = 0;
    while (p > base && ((p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z') ||
                        (p[-1] >= '0' && p[-1] <= '9'))) {
        p--;
        digits += *p >= '0' && *p <= '9';
    }
    return p > base && (p[-1] == '.' || p[-1] == '-') && ext - p >= 8 && digits > 0;
}

static const char *cache_policy(const hc_static_t *s, const hc_static_options_t *opt,
                                const hc_static_asset_t *a)
{
    if (strncmp(a->content_type, "text/html", 9) == 0)
        return CC_NO_CACHE;
    if (opt->immutable && name_hashed(a->path))
        return CC_IMMUTABLE;
    return opt->max_age ? s->cc_plain : CC_NO_CACHE;
}

static int asset_valid(const hc_static_asset_t *a)
{
    return a->path && a->path[0] && a->path[0] != '/' && strlen(a->path) < MAX_PATH &&
           a->content_type && (a->data || a->len == 0);
}

static int entry_cmp(const void *x, const void *y)
{
    return strcmp(((const struct entry *)x)->asset->path, ((const struct entry *)y)->asset->path);
}

static int entry_init(hc_static_t *s, const hc_static_options_t *opt, struct entry *e)
{
    const hc_static_asset_t *a = e->asset;
    e->v[V_IDENTITY].data = a->data;
    e->v[V_IDENTITY].len = a->len;
    e->v[V_IDENTITY].present = 1;
    e->cache_control = cache_policy(s, opt, a);
    int rc = etags_make(e);
    if (!rc && a->len && compressible(a->content_type))
        rc = variant_make(e, V_GZIP);
    if (!rc && a->len && compressible(a->content_type))
        rc = variant_make(e, V_BR);
    return rc;
}

/* A path present twice in the sorted entries, or NULL. */
static const char *duplicate_find(const hc_static_t *s)
{
    for (size_t i = 1; i < s->n; i++)
        if (entry_cmp(&s->entries[i - 1], &s->entries[i]) == 0)
            return s->entries[i].asset->path;
    return NULL;
}

int hc_static_new(const hc_static_table_t *table, const hc_static_options_t *opt, hc_static_t **out)
{
    static const hc_static_options_t defaults = {0};
    if (!opt)
        opt = &defaults;
    const char *prefix = opt->prefix ? opt->prefix : "/";
    size_t plen = strlen(prefix);
    if (!table || (table->count && !table->assets) || prefix[0] != '/')
        return -EINVAL;
    hc_static_t *s = hc_calloc(1, sizeof(*s));
    s->prefix = hc_malloc(plen + 2);
    snprintf(s->prefix, plen + 2, "%s%s", prefix, prefix[plen - 1] == '/' ? "" : "/");
    s->index = hc_strdup(opt->index ? opt->index : "index.html");
    snprintf(s->cc_plain, sizeof(s->cc_plain), "public, max-age=%u", opt->max_age);
    s->entries = hc_calloc(table->count, sizeof(*s->entries));
    int rc = 0;
    const char *bad = NULL;
    for (size_t i = 0; i < table->count && !rc; i++, s->n++) {
        bad = table->assets[i].path;
        s->entries[i].asset = &table->assets[i];
        rc = asset_valid(&table->assets[i]) ? entry_init(s, opt, &s->entries[i]) : -EINVAL;
    }
    if (rc)
        goto fail;
    qsort(s->entries, s->n, sizeof(*s->entries), entry_cmp);
    bad = duplicate_find(s);
    if (bad) {
        rc = -EINVAL;
        goto fail;
    }
    *out = s;
    return 0;
fail:
    hc_log(HC_LOG_ERROR, "static asset rejected", HC_LS("prefix", s->prefix), HC_LS("path", bad),
           HC_LI("error", rc), NULL);
    hc_static_free(s);
    return rc;
}

void hc_static_free(hc_static_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        for (int v = V_GZIP; v < V_COUNT; v++)
            hc_free((void *)s->entries[i].v[v].data);
    hc_free(s->entries);
    hc_free(s->index);
    hc_free(s->prefix);
    hc_free(s);
}

static const struct entry *entry_find(const hc_static_t *s, const char *path)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->entries[mid].asset->path, path);
        if (c == 0)
            return &s->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const hc_static_asset_t *hc_static_find(const hc_static_t *s, const char *path)
{
    const struct entry *e = s && path ? entry_find(s, path) : NULL;
    return e ? e->asset : NULL;
}

/* --- request headers ----------------------------------------------------------------- */

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 9110 §12.4.2), in
 * thousandths; -1 when malformed. */
static int qvalue_parse(const char *p, const char *end)
{
    if (p >= end || (*p != '0' && *p != '1'))
        return -1;
    int q = (*p++ - '0') * 1000, scale = 100;
    if (p < end && *p == '.')
        for (p++; p < end && *p >= '0' && *p <= '9' && scale; p++, scale /= 10)
            q += (*p - '0') * scale;
    p = skip_ows(p, end);
    return p == end && q <= 1000 ? q : -1;
}

/* One list member: codings *( OWS ";" OWS "q=" qvalue ) (RFC 9110 §12.5.3); stores the
 * weight of br, gzip (or x-gzip, §8.4.1.3), identity and "*" in q[]. */
static void accept_member(const char *p, const char *end, int q[V_COUNT + 1])
{
    p = skip_ows(p, end);
    const char *tok = p;
    while (p < end && *p != ';' && *p != ' ' && *p != '\t')
        p++;
    size_t toklen = (size_t)(p - tok);
    int w = 1000;
    while (p < end && w >= 0) {
        p = skip_ows(p, end);
        if (p == end || *p != ';')
            break;
        p = skip_ows(p + 1, end);
        const char *param = p;
        while (p < end && *p != ';')
            p++;
        if (end - param >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=')
            w = qvalue_parse(param + 2, p);
    }
    static const char *const names[] = {"identity", "gzip", "br", "*", "x-gzip"};
    static const int slots[] = {V_IDENTITY, V_GZIP, V_BR, V_COUNT, V_GZIP};
    for (size_t i = 0; i < 5 && w >= 0; i++)
        if (toklen == strlen(names[i]) && strncasecmp(tok, names[i], toklen) == 0)
            q[slots[i]] = w;
}

/* Which codings the client accepts. Absent header: identity only. A coding not listed
 * takes the weight of "*" if given; identity stays acceptable unless refused by
 * "identity;q=0" or by "*;q=0" without an identity member (RFC 9110 §12.5.3). */
static void accept_parse(const char *h, int ok[V_COUNT])
{
    int q[V_COUNT + 1] = {-1, -1, -1, -1};
    if (h) {
        const char *end = h + strlen(h);
        for (const char *p = h; p < end;) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *stop = comma ? comma : end;
            accept_member(p, stop, q);
            p = stop + (comma != NULL);
        }
    }
    int star = q[V_COUNT];
    for (int i = 0; i < V_COUNT; i++) {
        int w = q[i] >= 0 ? q[i] : star;
        ok[i] = w > 0 || (w < 0 && i == V_IDENTITY);
    }
}

/* If-None-Match = "*" / #entity-tag, compared with the weak function, which ignores the
 * W/ prefix (RFC 9110 §13.1.2, §8.8.3.2). Malformed input matches nothing. */
static int etag_matches(const char *h, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = h, *end = h + strlen(h);
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p == end)
            break;
        if (*p == '*')
            return 1;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
            p += 2;
        if (p == end || *p != '"')
            return 0;
        const char *close = memchr(p + 1, '"', (size_t)(end - p - 1));
        if (!close)
            return 0;
        if ((size_t)(close + 1 - p) == elen && memcmp(p, etag, elen) == 0)
            return 1;
        p = close + 1;
    }
    return 0;
}

/* --- responding ---------------------------------------------------------------------- */

/* Maps the request target to a table path: drop query and fragment, require the
 * prefix, decode %XX (RFC 3986 §2.1), append the index file to a directory path.
 * Returns 0, or -ENOENT when the target cannot name an asset. */
static int target_to_path(const hc_static_t *s, const char *target, char *out, size_t cap)
{
    size_t tlen = strcspn(target, "?#");
    size_t plen = strlen(s->prefix);
    if (plen > 1 && tlen + 1 == plen && strncmp(target, s->prefix, tlen) == 0)
        tlen = plen; /* "/ui" names the index of "/ui/" */
    else if (tlen < plen || strncmp(target, s->prefix, plen) != 0)
        return -ENOENT;
    long dn = hc_url_decode(target + plen, tlen - plen, out, cap, 0);
    if (dn < 0)
        return -ENOENT;
    size_t n = (size_t)dn;
    if ((n == 0 || out[n - 1] == '/') && n + strlen(s->index) < cap)
        strcpy(out + n, s->index);
    return 0;
}

static void header_add(hc_static_response_t *res, const char *name, const char *value)
{
    res->headers[res->nheaders].name = name;
    res->headers[res->nheaders].value = value;
    res->nheaders++;
}

void hc_static_respond(const hc_static_t *s, const hc_static_request_t *req,
                       hc_static_response_t *res)
{
    memset(res, 0, sizeof(*res));
    res->status = 404;
    char path[MAX_PATH];
    const struct entry *e = NULL;
    if (req->path && target_to_path(s, req->path, path, sizeof(path)) == 0)
        e = entry_find(s, path);
    if (!e)
        return;
    /* Method names are case-sensitive (RFC 9110 §9.1). */
    int head = strcmp(req->method, "HEAD") == 0;
    if (!head && strcmp(req->method, "GET") != 0) {
        res->status = 405;
        header_add(res, "Allow", "GET, HEAD");
        return;
    }
    int ok[V_COUNT];
    accept_parse(req->accept_encoding, ok);
    int v = V_BR;
    while (v >= 0 && !(e->v[v].present && ok[v]))
        v--;
    int varies = e->v[V_GZIP].present || e->v[V_BR].present;
    if (varies)
        header_add(res, "Vary", "Accept-Encoding");
    if (v < 0) {
        res->status = 406;
        return;
    }
    const struct variant *var = &e->v[v];
    header_add(res, "ETag", var->etag);
    header_add(res, "Cache-Control", e->cache_control);
    if (req->if_none_match && etag_matches(req->if_none_match, var->etag)) {
        res->status = 304; /* fields a 200 would carry that caches need: §15.4.5 */
        return;
    }
    res->status = 200;
    header_add(res, "Content-Type", e->asset->content_type);
    if (coding_names[v])
        header_add(res, "Content-Encoding", coding_names[v]);
    snprintf(res->length, sizeof(res->length), "%zu", var->len);
    header_add(res, "Content-Length", res->length);
    if (!head) {
        res->body = var->data;
        res->body_len = var->len;
    }
}

const char *hc_static_header(const hc_static_response_t *res, const char *name)
{
    for (size_t i = 0; i < res->nheaders; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}
