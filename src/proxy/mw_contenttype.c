/* The contentType middleware and Go's content sniffing (mw_contenttype.h). */
#include "proxy/mw_contenttype.h"

#include "core/hc_alloc.h"

#include <errno.h>
#include <string.h>

typedef struct contenttype_cfg {
    int enabled;
} contenttype_cfg_t;

int proxy_mw_contenttype_parse(const json_t *spec, const char *name, void **cfg, char *err,
                               size_t errlen)
{
    (void)name;
    int autodetect = 1;
    if (proxy_mw_json_bool(spec, "autoDetect", &autodetect, err, errlen) != 0)
        return -EINVAL;
    contenttype_cfg_t *c = hc_calloc(1, sizeof(*c));
    c->enabled = autodetect;
    *cfg = c;
    return 0;
}

void proxy_mw_contenttype_free(void *cfg)
{
    hc_free(cfg);
}

int proxy_mw_contenttype_enabled(const void *cfg)
{
    return ((const contenttype_cfg_t *)cfg)->enabled;
}

void proxy_mw_contenttype_response(const void *cfg, const proxy_mw_req_t *req,
                                   proxy_mw_resp_t *resp)
{
    (void)req;
    if (proxy_mw_contenttype_enabled(cfg) && resp->body.len &&
        !proxy_mw_headers_get(&resp->headers, "Content-Type"))
        proxy_mw_headers_set(
            &resp->headers, "Content-Type",
            proxy_mw_sniff((const unsigned char *)resp->body.base, resp->body.len));
}

/* ---- Go's DetectContentType: the signatures in its order, the first match wins ---- */

enum { SIG_HTML, SIG_BYTES, SIG_MP4, SIG_TEXT };

typedef struct sniff_sig {
    int kind;
    const char *pat;  /* SIG_HTML: upper-case letters match either case */
    const char *mask; /* SIG_BYTES: pat[i] == data[i] & mask[i]; NULL: every bit counts */
    size_t len;
    int skip_ws; /* matched after leading white space (HTML and XML) */
    const char *type;
} sniff_sig_t;

#define HTML(p)                                                                                    \
    {                                                                                              \
        SIG_HTML, p, NULL, sizeof(p) - 1, 1, "text/html; charset=utf-8"                            \
    }
#define EXACT(p, t)                                                                                \
    {                                                                                              \
        SIG_BYTES, p, NULL, sizeof(p) - 1, 0, t                                                    \
    }
#define MASKED(p, m, t)                                                                            \
    {                                                                                              \
        SIG_BYTES, p, m, sizeof(p) - 1, 0, t                                                       \
    }
#define RIFF(kind) "RIFF\0\0\0\0" kind
#define RIFF_MASK "\xFF\xFF\xFF\xFF\0\0\0\0\xFF\xFF\xFF\xFF"
#define ZEROS34 "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"

static const sniff_sig_t sigs[] = {
    HTML("<!DOCTYPE HTML"),
    HTML("<HTML"),
    HTML("<HEAD"),
    HTML("<SCRIPT"),
    HTML("<IFRAME"),
    HTML("<H1"),
    HTML("<DIV"),
    HTML("<FONT"),
    HTML("<TABLE"),
    HTML("<A"),
    HTML("<STYLE"),
    HTML("<TITLE"),
    HTML("<B"),
    HTML("<BODY"),
    HTML("<BR"),
    HTML("<P"),
    HTML("<!--"),
    {SIG_BYTES, "<?xml", NULL, 5, 1, "text/xml; charset=utf-8"},
    EXACT("%PDF-", "application/pdf"),
    EXACT("%!PS-Adobe-", "application/postscript"),
    /* byte order marks */
    MASKED("\xFE\xFF\0\0", "\xFF\xFF\0\0", "text/plain; charset=utf-16be"),
    MASKED("\xFF\xFE\0\0", "\xFF\xFF\0\0", "text/plain; charset=utf-16le"),
    MASKED("\xEF\xBB\xBF\0", "\xFF\xFF\xFF\0", "text/plain; charset=utf-8"),
    /* images */
    EXACT("\0\0\1\0", "image/x-icon"),
    EXACT("\0\0\2\0", "image/x-icon"),
    EXACT("BM", "image/bmp"),
    EXACT("GIF87a", "image/gif"),
    EXACT("GIF89a", "image/gif"),
    MASKED(RIFF("WEBPVP"), RIFF_MASK "\xFF\xFF", "image/webp"),
    EXACT("\x89PNG\r\n\x1A\n", "image/png"),
    EXACT("\xFF\xD8\xFF", "image/jpeg"),
    /* audio and video */
    MASKED("FORM\0\0\0\0AIFF", RIFF_MASK, "audio/aiff"),
    EXACT("ID3", "audio/mpeg"),
    EXACT("OggS\0", "application/ogg"),
    EXACT("MThd\0\0\0\6", "audio/midi"),
    MASKED(RIFF("AVI "), RIFF_MASK, "video/avi"),
    MASKED(RIFF("WAVE"), RIFF_MASK, "audio/wave"),
    {SIG_MP4, NULL, NULL, 0, 0, "video/mp4"},
    EXACT("\x1A\x45\xDF\xA3", "video/webm"),
    /* fonts */
    MASKED(ZEROS34 "LP", ZEROS34 "\xFF\xFF", "application/vnd.ms-fontobject"),
    EXACT("\0\1\0\0", "font/ttf"),
    EXACT("OTTO", "font/otf"),
    EXACT("ttcf", "font/collection"),
    EXACT("wOFF", "font/woff"),
    EXACT("wOF2", "font/woff2"),
    /* archives */
    EXACT("\x1F\x8B\x08", "application/x-gzip"),
    EXACT("PK\3\4", "application/zip"),
    EXACT("Rar!\x1A\x07\0", "application/x-rar-compressed"),
    EXACT("Rar!\x1A\x07\1\0", "application/x-rar-compressed"),
    EXACT("\0asm", "application/wasm"),
    {SIG_TEXT, NULL, NULL, 0, 0, "text/plain; charset=utf-8"},
};

static int is_ws(unsigned char b)
{
    return b == '\t' || b == '\n' || b == '\x0c' || b == '\r' || b == ' ';
}

static int html_match(const sniff_sig_t *s, const unsigned char *d, size_t n)
{
    if (n < s->len + 1)
        return 0;
    for (size_t i = 0; i < s->len; i++) {
        unsigned char p = (unsigned char)s->pat[i], b = d[i];
        if (p >= 'A' && p <= 'Z')
            b &= 0xDF;
        if (b != p)
            return 0;
    }
    return d[s->len] == ' ' || d[s->len] == '>'; /* the tag ends */
}

static int bytes_match(const sniff_sig_t *s, const unsigned char *d, size_t n)
{
    if (n < s->len)
        return 0;
    for (size_t i = 0; i < s->len; i++) {
        unsigned char m = s->mask ? (unsigned char)s->mask[i] : 0xFF;
        if ((d[i] & m) != (unsigned char)s->pat[i])
            return 0;
    }
    return 1;
}

/* An ISO base media file whose ftyp box names an mp4 brand (WHATWG §6.2.1). */
static int mp4_match(const unsigned char *d, size_t n)
{
    if (n < 12)
        return 0;
    size_t box = (size_t)d[0] << 24 | (size_t)d[1] << 16 | (size_t)d[2] << 8 | d[3];
    if (box % 4 || n < box || memcmp(d + 4, "ftyp", 4) != 0)
        return 0;
    for (size_t at = 8; at < box; at += 4)
        if (at != 12 && memcmp(d + at, "mp4", 3) == 0) /* 12: the minor version */
            return 1;
    return 0;
}

/* No byte that marks binary data (WHATWG §5, step 4). */
static int text_match(const unsigned char *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char b = d[i];
        if (b <= 0x08 || b == 0x0B || (b >= 0x0E && b <= 0x1A) || (b >= 0x1C && b <= 0x1F))
            return 0;
    }
    return 1;
}

const char *proxy_mw_sniff(const unsigned char *data, size_t len)
{
    if (len > PROXY_MW_SNIFF_LEN)
        len = PROXY_MW_SNIFF_LEN;
    size_t ws = 0;
    while (ws < len && is_ws(data[ws]))
        ws++;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        const sniff_sig_t *s = &sigs[i];
        const unsigned char *d = s->skip_ws ? data + ws : data;
        size_t n = s->skip_ws ? len - ws : len;
        int hit = s->kind == SIG_HTML    ? html_match(s, d, n)
                  : s->kind == SIG_BYTES ? bytes_match(s, d, n)
                  : s->kind == SIG_MP4   ? mp4_match(d, n)
                                         : text_match(data + ws, len - ws);
        if (hit)
            return s->type;
    }
    return "application/octet-stream";
}
