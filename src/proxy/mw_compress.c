/* compress middleware configuration, Accept-Encoding negotiation (RFC 9110 §12.5.3, with
 * Traefik's tie-breaking by list order) and the response decision (mw_compress.h). The
 * streaming codecs live in mw_compressor.c. */
#include "proxy/mw_compress.h"
#include "core/hc_alloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ENC_MAX 4
#define ENC_ZSTD (-1) /* configured but not available: never chosen */

typedef struct compress_cfg {
    int enc[ENC_MAX]; /* configured order: proxy_mw_encoding_t or ENC_ZSTD */
    size_t n_enc;
    int dflt; /* defaultEncoding, or -2 when unset */
    char **types;
    size_t n_types;
    int include; /* types are includedContentTypes (else excludedContentTypes) */
    long long min_bytes;
} compress_cfg_t;

static int enc_from_name(const char *s, size_t n)
{
    if (n == 4 && strncasecmp(s, "gzip", 4) == 0)
        return PROXY_MW_ENC_GZIP;
    if (n == 2 && strncasecmp(s, "br", 2) == 0)
        return PROXY_MW_ENC_BR;
    if (n == 4 && strncasecmp(s, "zstd", 4) == 0)
        return ENC_ZSTD;
    return -2;
}

const char *proxy_mw_encoding_name(proxy_mw_encoding_t enc)
{
    return enc == PROXY_MW_ENC_GZIP ? "gzip" : enc == PROXY_MW_ENC_BR ? "br" : "identity";
}

void proxy_mw_compress_free(void *cfg)
{
    compress_cfg_t *c = cfg;
    if (!c)
        return;
    proxy_mw_strv_free(c->types, c->n_types);
    hc_free(c);
}

static int parse_encodings(compress_cfg_t *c, const json_t *spec, char *err, size_t errlen)
{
    char **v = NULL, *d = NULL;
    size_t n = 0;
    int rc = proxy_mw_json_strv(spec, "encodings", &v, &n, err, errlen);
    if (rc == 0 && !proxy_mw_json_get(spec, "encodings")) {
        c->enc[0] = PROXY_MW_ENC_GZIP;
        c->enc[1] = PROXY_MW_ENC_BR;
        c->enc[2] = ENC_ZSTD;
        c->n_enc = 3;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int e = enc_from_name(v[i], strlen(v[i]));
        if (e == -2)
            rc = hc_errf(err, errlen, -EINVAL, "compress: unsupported encoding %s", v[i]);
        else if (c->n_enc < ENC_MAX)
            c->enc[c->n_enc++] = e;
    }
    proxy_mw_strv_free(v, n);
    if (rc == 0)
        rc = proxy_mw_json_str(spec, "defaultEncoding", &d, err, errlen);
    c->dflt = -2;
    if (rc == 0 && d && d[0]) {
        c->dflt = enc_from_name(d, strlen(d));
        if (c->dflt == -2)
            rc = hc_errf(err, errlen, -EINVAL, "compress: unsupported defaultEncoding %s", d);
        int listed = 0;
        for (size_t i = 0; i < c->n_enc; i++)
            listed |= c->enc[i] == c->dflt;
        if (rc == 0 && !listed) /* Traefik refuses it too */
            rc = hc_errf(err, errlen, -EINVAL,
                         "compress: defaultEncoding %s is not one of the encodings", d);
    }
    hc_free(d);
    return rc;
}

int proxy_mw_compress_parse(const json_t *spec, const char *name, void **cfg, char *err,
                            size_t errlen)
{
    char **inc = NULL;
    size_t n_inc = 0;
    compress_cfg_t *c = hc_calloc(1, sizeof(*c));
    c->min_bytes = 1024;
    int rc = parse_encodings(c, spec, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_int(spec, "minResponseBodyBytes", &c->min_bytes, err, errlen);
    if (rc == 0 && c->min_bytes < 0)
        rc = hc_errf(err, errlen, -EINVAL, "compress: minResponseBodyBytes must be >= 0");
    if (rc == 0 && c->min_bytes == 0) /* Traefik: only a positive value replaces 1024 */
        c->min_bytes = 1024;
    if (rc == 0)
        rc = proxy_mw_json_strv(spec, "excludedContentTypes", &c->types, &c->n_types, err,
                                errlen);
    if (rc == 0)
        rc = proxy_mw_json_strv(spec, "includedContentTypes", &inc, &n_inc, err, errlen);
    if (rc == 0 && n_inc && c->n_types)
        rc = hc_errf(err, errlen, -EINVAL, "compress: excludedContentTypes and "
                                       "includedContentTypes are mutually exclusive");
    if (rc == 0 && n_inc) {
        c->types = inc;
        c->n_types = n_inc;
        c->include = 1;
        inc = NULL;
        n_inc = 0;
    }
    proxy_mw_strv_free(inc, n_inc);
    /* Traefik keeps only each type's media type (mime.ParseMediaType): parameters never
     * take part in the match */
    for (size_t i = 0; rc == 0 && i < c->n_types; i++) {
        char *t = c->types[i];
        size_t n = strcspn(t, ";");
        while (n && isspace((unsigned char)t[n - 1]))
            n--;
        size_t lead = strspn(t, " \t");
        n = n > lead ? n - lead : 0;
        memmove(t, t + lead, n);
        t[n] = '\0';
        if (!n)
            rc = hc_errf(err, errlen, -EINVAL, "compress: %s[%zu]: no media type",
                         c->include ? "includedContentTypes" : "excludedContentTypes", i);
    }
    if (rc != 0) {
        proxy_mw_compress_free(c);
        return rc;
    }
    *cfg = c;
    return 0;
}

#define ENC_STAR 100

/* Rank of an acceptable coding at equal q, as Traefik's buildSupportedEncodings has it:
 * "*" first (standing for defaultEncoding, else the first configured), then the
 * configured ones by list position, then identity. */
static int rank_of(const compress_cfg_t *c, int e)
{
    if (e == ENC_STAR)
        return -1;
    for (size_t i = 0; i < c->n_enc; i++)
        if (c->enc[i] == e)
            return (int)i;
    return e == PROXY_MW_ENC_IDENTITY ? ENC_MAX : ENC_MAX + 1;
}

/* Is ct's media type (before its parameters, spaces trimmed) t, in any case? */
static int media_is(const char *ct, const char *t)
{
    ct += strspn(ct, " \t");
    size_t n = strcspn(ct, ";");
    while (n && isspace((unsigned char)ct[n - 1]))
        n--;
    return strlen(t) == n && strncasecmp(ct, t, n) == 0;
}

/* Traefik's excludes: application/grpc always, and excludedContentTypes. A request of
 * such a type is passed by (its answer to an event stream must not be held back), and so
 * is such a response when no includedContentTypes are given. */
static int excluded(const compress_cfg_t *c, const char *ct)
{
    if (media_is(ct, "application/grpc"))
        return 1;
    for (size_t i = 0; !c->include && i < c->n_types; i++)
        if (media_is(ct, c->types[i]))
            return 1;
    return 0;
}

/* Parses one "coding[;q=w]" element [s, e) into *enc and *q; 0 when it is not one the
 * middleware supports. */
static int parse_element(const compress_cfg_t *c, const char *s, const char *e, int *enc,
                         double *q)
{
    const char *semi = memchr(s, ';', (size_t)(e - s));
    const char *ne = semi ? semi : e;
    while (ne > s && isspace((unsigned char)ne[-1]))
        ne--;
    *q = 1;
    if (ne - s == 1 && *s == '*')
        *enc = ENC_STAR;
    else if (ne - s == 8 && strncasecmp(s, "identity", 8) == 0)
        *enc = PROXY_MW_ENC_IDENTITY;
    else if ((*enc = enc_from_name(s, (size_t)(ne - s))) < 0 || rank_of(c, *enc) >= ENC_MAX)
        return 0;
    if (semi) {
        const char *p = semi + 1;
        while (p < e && isspace((unsigned char)*p))
            p++;
        if (e - p > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
            *q = strtod(p + 2, NULL);
    }
    return 1;
}

/* What "*" stands for: defaultEncoding, else the first configured encoding; one hearth
 * lacks (zstd) gives way to the next it has. */
static int star_encoding(const compress_cfg_t *c)
{
    if (c->dflt >= 0)
        return c->dflt;
    for (size_t i = 0; i < c->n_enc; i++)
        if (c->enc[i] >= 0)
            return c->enc[i];
    return PROXY_MW_ENC_IDENTITY;
}

proxy_mw_encoding_t proxy_mw_compress_negotiate(const void *cfg, const proxy_mw_req_t *req)
{
    const compress_cfg_t *c = cfg;
    const char *ct = proxy_mw_headers_get(&req->headers, "Content-Type");
    if (strcmp(req->method, "HEAD") == 0 || (ct && excluded(c, ct)))
        return PROXY_MW_ENC_IDENTITY;
    int best = -1, seen = 0;
    unsigned refused = 0; /* the codings given q=0: "*" never stands for them */
    double best_q = 0;
    /* Every Accept-Encoding line counts, as one comma list (RFC 9110 §5.3; Traefik's
     * parseAcceptableEncodings). An empty value means identity only (§12.5.3). */
    for (size_t i = 0; i < req->headers.len; i++) {
        if (strcasecmp(req->headers.v[i].name, "Accept-Encoding"))
            continue;
        seen = 1;
        for (const char *s = req->headers.v[i].value; *s;) {
            while (*s == ' ' || *s == '\t' || *s == ',')
                s++;
            const char *e = s;
            while (*e && *e != ',')
                e++;
            int enc;
            double q;
            if (e > s && parse_element(c, s, e, &enc, &q)) {
                if (q <= 0 && enc != ENC_STAR)
                    refused |= 1u << enc;
                else if (q > 0 && (best < 0 || q > best_q ||
                                   (q == best_q && rank_of(c, enc) < rank_of(c, best)))) {
                    best = enc;
                    best_q = q;
                }
            }
            s = e;
        }
    }
    if (!seen)
        return c->dflt >= 0 ? (proxy_mw_encoding_t)c->dflt : PROXY_MW_ENC_IDENTITY;
    if (best == ENC_STAR) { /* as Traefik's: the coding it names, unless refused explicitly */
        int star = star_encoding(c);
        best = refused & (1u << star) ? PROXY_MW_ENC_IDENTITY : star;
    }
    return best > 0 ? (proxy_mw_encoding_t)best : PROXY_MW_ENC_IDENTITY;
}

static int type_allowed(const compress_cfg_t *c, const char *ct)
{
    if (!c->include)
        return !excluded(c, ct ? ct : "");
    for (size_t i = 0; i < c->n_types; i++)
        if (media_is(ct ? ct : "", c->types[i]))
            return 1;
    return 0;
}

int proxy_mw_compress_response(const void *cfg, proxy_mw_encoding_t enc,
                               proxy_mw_resp_t *resp, long long body_len)
{
    const compress_cfg_t *c = cfg;
    proxy_mw_headers_t *h = &resp->headers;
    if (enc == PROXY_MW_ENC_IDENTITY)
        return 0;
    /* an encoder was picked: the answer varies with Accept-Encoding whether or not this
     * one is compressed (Traefik's handlers add it before the response is known) */
    proxy_mw_headers_add(h, "Vary", "Accept-Encoding");
    if (resp->status < 200 || resp->status == 204 || resp->status == 304)
        return 0;
    const char *ce = proxy_mw_headers_get(h, "Content-Encoding");
    if ((ce && ce[0]) || !type_allowed(c, proxy_mw_headers_get(h, "Content-Type")))
        return 0;
    if (body_len >= 0 && body_len < c->min_bytes)
        return 0;
    /* a part of a resource (206) stays as it is: its range counts bytes of the identity
     * body (gzhttp's rule under Traefik); ranges of the compressed body are not offered */
    if (proxy_mw_headers_get(h, "Content-Range"))
        return 0;
    proxy_mw_headers_del(h, "Accept-Ranges");
    proxy_mw_headers_del(h, "Content-Length");
    proxy_mw_headers_set(h, "Content-Encoding", proxy_mw_encoding_name(enc));
    return 1;
}
