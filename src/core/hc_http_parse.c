/* hc_http_parse over llhttp 8 (see hc_http_parse.h), built from the C sources Debian's
 * node-llhttp package ships. This file is the only one that includes llhttp.h: swapping
 * the parser means rewriting this file alone. llhttp has no head limit of its own; the
 * configured limits are enforced before it, by the server's head scan and the client's
 * header cap, and HC_HTTP_PARSE_HEAD_MAX here is the backstop. */
#include "core/hc_http_parse.h"
#include "core/hc_alloc.h"
#include "core/hc_buf.h"

#include <llhttp.h>
#include <string.h>
#include <strings.h>

_Static_assert(sizeof(llhttp_t) <= sizeof(((hc_http_parser_t *)0)->impl.bytes),
               "hc_http_parser_t.impl too small for llhttp_t");

#define LL(p) ((llhttp_t *)(void *)(p)->impl.bytes)

enum { LF_UNKNOWN, LF_CRLF, LF_BARE }; /* hc_http_parser_t.lf */

static hc_http_parser_t *self_of(llhttp_t *ll)
{
    return ll->data;
}

/* A negative callback result fails the parse (llhttp's span callbacks fail on -1). */
static int data_cb(llhttp_t *ll, int (*cb)(void *, const char *, size_t), const char *at,
                   size_t len)
{
    hc_http_parser_t *p = self_of(ll);
    if (!cb)
        return 0;
    return cb(p->ud, at, len) < 0 ? -1 : 0;
}

static int on_message_begin(llhttp_t *ll)
{
    hc_http_parser_t *p = self_of(ll);
    p->in_message = 1;
    p->in_body = 0;
    p->eof_body = 0;
    if (p->cbs->on_begin && p->cbs->on_begin(p->ud) < 0)
        return -1;
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    return data_cb(ll, self_of(ll)->cbs->on_target, at, len);
}

static int on_status(llhttp_t *ll, const char *at, size_t len)
{
    return data_cb(ll, self_of(ll)->cbs->on_reason, at, len);
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    return data_cb(ll, self_of(ll)->cbs->on_header_field, at, len);
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    return data_cb(ll, self_of(ll)->cbs->on_header_value, at, len);
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    return data_cb(ll, self_of(ll)->cbs->on_body, at, len);
}

/* A chunked body is read here, not by llhttp, as Go's chunked reader
 * (net/http/internal/chunked.go) reads one: a chunk-size line is hex digits, then blanks
 * and ";" extensions, ended by CRLF; a chunk's data by CRLF; a trailer line is a field
 * name, ":" and a value, and ends at LF, a CR only right before it; an empty line ends
 * the body. llhttp 8 refuses blanks after the size that Go (and RFC 9112's BWS before an
 * extension) accept; http-parser, hearth's parser before it, had taken a CR and any byte
 * as a line's end, so "0\r\n\rGET /x ..." was two requests to hearth and one to a proxy
 * in front of it. Trailer fields are checked and dropped: hearth passes none on, and
 * reads at most HC_HTTP_PARSE_TRAILER_MAX bytes of them. Go's limits on what is not data
 * hold too: a size line under CHUNK_LINE_MAX bytes, at most 16 hex digits (leading zeros
 * counted), and the overhead (size lines and CRLFs) at most CHUNK_EXCESS_MAX bytes past
 * 16 bytes and twice the data of each chunk (CVE-2023-39326). */
#define CHUNK_LINE_MAX 4096u
#define CHUNK_EXCESS_MAX (16u << 10)
enum {
    CV_OFF,     /* not in a chunked body */
    CV_SIZE0,   /* a size's first digit */
    CV_SIZE,    /* its next digits */
    CV_BLANK,   /* blanks after the digits */
    CV_EXT,     /* an extension */
    CV_SIZE_LF, /* the size line's LF */
    CV_DATA,    /* cv_size bytes of data */
    CV_DATA_CR, /* the data's CRLF */
    CV_DATA_LF,
    CV_TLINE0, /* a trailer line's first byte, or the last line */
    CV_TNAME,  /* a trailer field's name */
    CV_TVALUE, /* its value */
    CV_TLINE_LF,
    CV_END_LF, /* the last line's LF */
};

static size_t chunked_fail(hc_http_parser_t *p, const char *why, size_t at)
{
    p->error = HC_HTTP_PARSE_ECHUNK;
    p->reason = why;
    return at;
}

/* Walks n bytes at q of a chunked body, passing its data to on_body when deliver is set;
 * returns the bytes used: all of them, or up to the body's end (p->cv is then CV_OFF),
 * or up to a failure. */
static size_t chunked_walk(hc_http_parser_t *p, const char *q, size_t n, int deliver)
{
    static const char size_line[] = "invalid chunk: its size line is not a size, extensions, CRLF";
    static const char data_crlf[] = "invalid chunk: its data is not followed by CRLF";
    static const char trailer[] = "invalid chunked body: a trailer line is no header field";
    size_t i = 0;
    while (i < n && p->cv != CV_OFF) {
        unsigned char c = (unsigned char)q[i];
        int h;
        if (p->cv >= CV_TLINE0 && ++p->cv_size > HC_HTTP_PARSE_TRAILER_MAX) /* counted */
            return chunked_fail(p, "invalid chunked body: trailer section too large", i);
        if (p->cv <= CV_SIZE_LF && ++p->cv_line >= CHUNK_LINE_MAX)
            return chunked_fail(p, "invalid chunk: its size line is too long", i);
        switch (p->cv) {
        case CV_SIZE0:
        case CV_SIZE:
            if ((h = hc_hex_digit(c)) >= 0) {
                if (p->cv_line > 16 || p->cv_size >> 59) /* Go's 16 digits; sizes < 2^63 */
                    return chunked_fail(p, "invalid chunk: its size is too large", i);
                p->cv_size = p->cv_size << 4 | (unsigned)h;
                p->cv = CV_SIZE;
                break;
            }
            if (p->cv == CV_SIZE0)
                return chunked_fail(p, size_line, i);
            p->cv = CV_BLANK; /* the byte after the digits */
            __attribute__((fallthrough));
        case CV_BLANK:
            if (c == ';' || c == '\r')
                p->cv = c == ';' ? CV_EXT : CV_SIZE_LF;
            else if (c != ' ' && c != '\t')
                return chunked_fail(p, size_line, i);
            break;
        case CV_EXT:
            if (c == '\n')
                return chunked_fail(p, size_line, i);
            if (c == '\r')
                p->cv = CV_SIZE_LF;
            break;
        case CV_SIZE_LF: {
            if (c != '\n')
                return chunked_fail(p, size_line, i);
            /* the line and the CRLF after the data, less what the data pays for */
            uint64_t paid = p->cv_size > (UINT64_MAX - 16) / 2 ? UINT64_MAX : 16 + 2 * p->cv_size;
            p->cv_excess += p->cv_line + 2;
            p->cv_excess = p->cv_excess > paid ? p->cv_excess - paid : 0;
            if (p->cv_excess > CHUNK_EXCESS_MAX)
                return chunked_fail(p, "invalid chunked body: too much that is not data", i);
            p->cv = p->cv_size ? CV_DATA : CV_TLINE0;
            break;
        }
        case CV_DATA: {
            size_t k = n - i < p->cv_size ? n - i : (size_t)p->cv_size;
            p->cv_size -= k;
            if (deliver && p->cbs->on_body && p->cbs->on_body(p->ud, q + i, k) < 0) {
                p->error = HC_HTTP_PARSE_ECALLBACK;
                p->reason = "a callback failed";
                return i;
            }
            i += k;
            if (!p->cv_size)
                p->cv = CV_DATA_CR;
            continue;
        }
        case CV_DATA_CR:
        case CV_DATA_LF:
            if (c != (p->cv == CV_DATA_CR ? '\r' : '\n'))
                return chunked_fail(p, data_crlf, i);
            if (p->cv == CV_DATA_LF)
                p->cv_line = 0;
            p->cv = p->cv == CV_DATA_CR ? CV_DATA_LF : CV_SIZE0;
            break;
        case CV_TLINE0:
            if ((c == ' ' || c == '\t') && p->cv_size > 1) /* obs-fold: the value goes on */
                p->cv = CV_TVALUE;
            else if (c == '\r' || c == '\n')
                p->cv = c == '\r' ? CV_END_LF : CV_OFF;
            else if (hc_http_tchar[c])
                p->cv = CV_TNAME;
            else
                return chunked_fail(p, trailer, i);
            break;
        case CV_TNAME:
            if (c == ':')
                p->cv = CV_TVALUE;
            else if (!hc_http_tchar[c])
                return chunked_fail(p, trailer, i);
            break;
        case CV_TVALUE:
            if (c == '\r' || c == '\n')
                p->cv = c == '\r' ? CV_TLINE_LF : CV_TLINE0;
            else if (c < ' ' && c != '\t')
                return chunked_fail(p, trailer, i);
            break;
        case CV_TLINE_LF:
        case CV_END_LF:
            if (c != '\n')
                return chunked_fail(p, "invalid chunked body: a trailer line does not end in CRLF",
                                    i);
            p->cv = p->cv == CV_END_LF ? CV_OFF : CV_TLINE0;
            break;
        }
        i++;
    }
    return i;
}

/* Reads n bytes at q of a chunked body (see chunked_walk). They are checked whole before
 * any of their data is passed on, so a request whose framing is broken within one read
 * is refused before its handler sees a byte of it. */
static size_t chunked_read(hc_http_parser_t *p, const char *q, size_t n)
{
    unsigned char cv = p->cv;
    uint64_t cv_size = p->cv_size, cv_excess = p->cv_excess;
    uint32_t cv_line = p->cv_line;
    size_t used = chunked_walk(p, q, n, 0);
    if (p->error)
        return used;
    p->cv = cv;
    p->cv_size = cv_size;
    p->cv_excess = cv_excess;
    p->cv_line = cv_line;
    return chunked_walk(p, q, n, 1);
}

/* llhttp's contract: 0 = go on, 1 = no body, HPE_PAUSED = stop here, -1 = error. */
static int on_headers_complete(llhttp_t *ll)
{
    hc_http_parser_t *p = self_of(ll);
    hc_http_parse_head_t h = {
        .method = ll->type != HTTP_REQUEST ? NULL
                  : p->method_own          ? p->method
                                           : llhttp_method_name((llhttp_method_t)ll->method),
        .status = ll->type == HTTP_RESPONSE ? (int)ll->status_code : 0,
        .version_major = ll->http_major,
        .version_minor = ll->http_minor,
        .keep_alive = llhttp_should_keep_alive(ll),
        .chunked = !!(ll->flags & F_CHUNKED),
        .has_transfer_encoding = !!(ll->flags & F_TRANSFER_ENCODING),
        .content_length = -1,
        .upgrade = ll->upgrade,
    };
    p->in_body = 1;
    if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > INT64_MAX) {
        /* Go reads a length as ParseUint(v, 10, 63): past it, no knowable length */
        p->error = HC_HTTP_PARSE_ECONTENT_LENGTH;
        p->reason = "Content-Length out of range";
        return -1;
    }
    if ((ll->flags & F_CONTENT_LENGTH) && !h.chunked)
        h.content_length = (int64_t)ll->content_length;
    int rc = p->cbs->on_headers_complete ? p->cbs->on_headers_complete(p->ud, &h) : 0;
    if (p->method_own) { /* the caller has read it */
        p->method_own = 0;
        hc_http_parse_release(p);
    }
    if (rc < 0)
        return -1;
    if (ll->type == HTTP_REQUEST && h.has_transfer_encoding && !h.chunked) {
        /* RFC 9112 §6.3 item 4: no knowable length (llhttp lets it through, see
         * hc_http_parse_init) */
        p->error = HC_HTTP_PARSE_ETRANSFER_ENCODING;
        p->reason = "request Transfer-Encoding does not end in chunked";
        return -1;
    }
    if (rc == HC_HTTP_PARSE_SKIP_BODY)
        return 1;
    /* RFC 9112 §6.3 item 8: a response without framing runs until the close. */
    p->eof_body = ll->type == HTTP_RESPONSE && !h.chunked && h.content_length < 0 &&
                  h.status >= 200 && h.status != 204 && h.status != 304;
    if (h.chunked && !ll->upgrade) { /* llhttp skips it: hc_http_parse_execute reads it */
        p->cv = CV_SIZE0;
        p->cv_size = p->cv_excess = 0;
        p->cv_line = 0;
        return 1;
    }
    return 0;
}

/* A message's end: the caller's on_message_complete. Returns HPE_PAUSED (llhttp stops
 * here: hc_http_parse_execute reads the next message's method and line ends afresh, or
 * the caller paused) or -1 on failure. */
static int message_end(hc_http_parser_t *p)
{
    p->in_message = 0;
    p->in_body = 0;
    p->lf = LF_UNKNOWN;
    p->last_cr = 0;
    p->head_bytes = 0;
    int rc = p->cbs->on_message_complete ? p->cbs->on_message_complete(p->ud) : 0;
    if (rc < 0)
        return -1;
    if (rc == HC_HTTP_PARSE_PAUSE)
        p->paused = 1;
    else
        p->next_message = 1;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *ll)
{
    hc_http_parser_t *p = self_of(ll);
    if (p->cv != CV_OFF) /* a chunked body follows: llhttp waits while it is read */
        return HPE_PAUSED;
    return message_end(p);
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void hc_http_parse_init(hc_http_parser_t *p, hc_http_parse_mode_t mode,
                        const hc_http_parse_cbs_t *cbs, void *ud)
{
    memset(p, 0, sizeof(*p));
    llhttp_init(LL(p), mode == HC_HTTP_PARSE_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
    LL(p)->data = p;
    /* A response with Transfer-Encoding: chunked and a Content-Length is read chunked, as
     * Go's transport reads it ("these appear in the wild"); a request never is. */
    if (mode == HC_HTTP_PARSE_RESPONSE)
        llhttp_set_lenient_chunked_length(LL(p), 1);
    /* A request's Transfer-Encoding is judged from the whole head: first by the caller
     * (a server answers 400 or 501 by RFC 9112 and Go's rules), then by
     * on_headers_complete; llhttp lets every form through instead of failing it alone. */
    else
        llhttp_set_lenient_transfer_encoding(LL(p), 1);
    /* Any HTTP/d.d is read (1.2, 3.0): the caller judges the version (a server answers
     * 505 to one whose major is not 1), as Go reads it; llhttp would fail it alone. */
    LL(p)->lenient_flags |= LENIENT_VERSION;
    p->request = mode == HC_HTTP_PARSE_REQUEST;
    p->cbs = cbs;
    p->ud = ud;
}

static int map_errno(llhttp_errno_t e)
{
    switch (e) {
    case HPE_OK:
    case HPE_PAUSED:
    case HPE_PAUSED_UPGRADE:
        return HC_HTTP_PARSE_OK;
    case HPE_USER:
    case HPE_CB_MESSAGE_BEGIN:
    case HPE_CB_HEADERS_COMPLETE:
    case HPE_CB_MESSAGE_COMPLETE:
    case HPE_CB_CHUNK_HEADER:
    case HPE_CB_CHUNK_COMPLETE:
        return HC_HTTP_PARSE_ECALLBACK;
    case HPE_INVALID_CONTENT_LENGTH:
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        return HC_HTTP_PARSE_ECONTENT_LENGTH;
    case HPE_INVALID_TRANSFER_ENCODING:
        return HC_HTTP_PARSE_ETRANSFER_ENCODING;
    case HPE_INVALID_CHUNK_SIZE:
        return HC_HTTP_PARSE_ECHUNK;
    case HPE_INVALID_METHOD:
        return HC_HTTP_PARSE_EMETHOD;
    case HPE_INVALID_VERSION:
        return HC_HTTP_PARSE_EVERSION;
    case HPE_INVALID_EOF_STATE:
        return HC_HTTP_PARSE_EEOF;
    default:
        return HC_HTTP_PARSE_ESYNTAX;
    }
}

/* Runs llhttp over len bytes; returns how many it used and records a failure. */
static size_t run(hc_http_parser_t *p, const char *data, size_t len)
{
    if (llhttp_get_errno(LL(p)) != HPE_OK) /* paused: nothing is read until resumed */
        return 0;
    llhttp_errno_t e = llhttp_execute(LL(p), data, len);
    if (e == HPE_OK)
        return len;
    if (!p->error) { /* else a callback set it */
        p->error = map_errno(e);
        p->reason = p->error ? llhttp_get_error_reason(LL(p)) : NULL;
    }
    const char *at = llhttp_get_error_pos(LL(p));
    return at && at >= data && at <= data + len ? (size_t)(at - data) : len;
}

const unsigned char hc_http_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1,         ['&'] = 1,         ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,         ['^'] = 1,         ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

int hc_http_has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; tl && i + tl <= n; i++) {
        int start = i == 0 || v[i - 1] == ',' || v[i - 1] == ' ' || v[i - 1] == '\t';
        int end = i + tl == n || v[i + tl] == ',' || v[i + tl] == ' ' || v[i + tl] == '\t';
        if (start && end && !strncasecmp(v + i, token, tl))
            return 1;
    }
    return 0;
}

const char *hc_http_list_next(const char **v, const char *end, size_t *n)
{
    const char *p = *v;
    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
        p++;
    if (p == end)
        return NULL;
    const char *e = memchr(p, ',', (size_t)(end - p));
    *v = e ? e : end;
    while (*v > p && ((*v)[-1] == ' ' || (*v)[-1] == '\t'))
        (*v)--;
    *n = (size_t)(*v - p);
    *v = e ? e : end;
    return p;
}

int hc_http_list_has(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token), el;
    for (const char *e, *end = v + n; (e = hc_http_list_next(&v, end, &el));)
        if (el == tl && !strncasecmp(e, token, tl))
            return 1;
    return 0;
}

/* Whether llhttp reads the method m (n bytes) itself: the common ones. Any other token is
 * fed to it as GET; CONNECT and HEAD are among these, since their meaning changes the
 * framing. */
static int method_known(const char *m, size_t n)
{
    static const char *const known[] = {"GET",    "HEAD",    "POST",  "PUT",
                                        "DELETE", "OPTIONS", "PATCH", "CONNECT"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strlen(known[i]) == n && !memcmp(known[i], m, n))
            return 1;
    return 0;
}

static void method_error(hc_http_parser_t *p)
{
    p->error = HC_HTTP_PARSE_EMETHOD;
    p->reason = "invalid HTTP method";
}

static void method_room(hc_http_parser_t *p)
{
    if (!p->method)
        p->method = hc_malloc(HC_HTTP_PARSE_METHOD_MAX + 1);
}

void hc_http_parse_release(hc_http_parser_t *p)
{
    hc_free(p->method);
    p->method = NULL;
    p->method_len = 0;
}

/* Feeds llhttp a method it knows: m, or GET standing for m (kept in p->method). */
static void method_feed(hc_http_parser_t *p, const char *m, size_t n)
{
    p->method_own = 1;
    method_room(p);
    memmove(p->method, m, n);
    p->method[n] = '\0';
    p->method_len = 0;
    run(p, "GET", 3);
}

/* Before a request: finds its method in data (len bytes), past the empty lines RFC 9112
 * §2.2 lets come first. A method llhttp knows is left for it to read (0 returned,
 * method_own cleared); another token is read here and fed to it as GET (its bytes
 * returned as used); one split over reads is gathered in p->method first. Sets p->error
 * on a method that is not a token. */
static size_t method_read(hc_http_parser_t *p, const char *data, size_t len)
{
    size_t i = 0, start = 0;
    if (!p->method_len) {
        while (start < len && (data[start] == '\r' || data[start] == '\n'))
            start++;
        i = start;
    }
    while (i < len && hc_http_tchar[(unsigned char)data[i]] &&
           p->method_len + i - start < HC_HTTP_PARSE_METHOD_MAX)
        i++;
    if (i == len) { /* the method goes on in the next read: gathered here */
        if (i > start) {
            method_room(p);
            memcpy(p->method + p->method_len, data + start, i - start);
            p->method_len = (unsigned char)(p->method_len + i - start);
        }
        return len;
    }
    size_t n = p->method_len + i - start;
    if (data[i] != ' ' || !n) {
        method_error(p);
        return i;
    }
    if (p->method_len) { /* gathered: fed whole from p->method */
        memcpy(p->method + p->method_len, data + start, i - start);
        if (method_known(p->method, n)) {
            p->method_own = 0, p->method_len = 0;
            run(p, p->method, n);
            hc_http_parse_release(p);
        } else {
            method_feed(p, p->method, n);
        }
        return i;
    }
    if (method_known(data + start, n)) {
        p->method_own = 0;
        return 0; /* llhttp reads it, and what follows */
    }
    method_feed(p, data + start, n);
    return i;
}

/* Feeds llhttp len bytes at data; returns the bytes used. A head whose first line ends in
 * a bare LF has each of its bare LFs fed as CRLF (RFC 9112 §2.2 lets a recipient take LF
 * as a line's end, and Go does; llhttp 8 takes it only after the request line). The
 * first line decides, so the common CRLF head costs one memchr. */
static size_t feed(hc_http_parser_t *p, const char *data, size_t len)
{
    int in_head = !p->in_body;
    size_t used = 0;
    if (!p->in_message) /* empty lines before a message (RFC 9112 §2.2) decide nothing */
        while (used < len && (data[used] == '\r' || data[used] == '\n'))
            used++;
    if (used) {
        size_t n = run(p, data, used);
        if (n < used)
            return n;
    }
    while (used < len && !p->in_body && p->lf != LF_CRLF) {
        const char *d = data + used, *lf = memchr(d, '\n', len - used);
        if (!lf)
            break;
        int cr = lf > d ? lf[-1] == '\r' : used ? data[used - 1] == '\r' : p->last_cr;
        if (p->lf == LF_UNKNOWN) {
            p->lf = cr ? LF_CRLF : LF_BARE;
            if (cr)
                break;
        }
        size_t k = (size_t)(lf - d) + (cr ? 1 : 0); /* a CRLF goes through whole */
        size_t n = run(p, d, k);
        used += n;
        if (n < k || llhttp_get_errno(LL(p)) != HPE_OK)
            break; /* paused, failed or upgraded */
        if (cr)
            continue;
        if (run(p, "\r\n", 2) != 2)
            break;
        used++;
    }
    if (used < len && llhttp_get_errno(LL(p)) == HPE_OK && !p->error)
        used += run(p, data + used, len - used);
    p->last_cr = used && data[used - 1] == '\r';
    if (in_head && !p->in_body && !p->next_message && !p->paused && !p->error &&
        (p->head_bytes += used) > HC_HTTP_PARSE_HEAD_MAX) { /* no message ended here */
        p->error = HC_HTTP_PARSE_EHEADER_SIZE;
        p->reason = "header section too large";
    }
    return used;
}

/* The stream ended: completes a response delimited by the close, or fails a message cut
 * short. */
static void finish(hc_http_parser_t *p)
{
    llhttp_errno_t e = llhttp_finish(LL(p));
    if (e == HPE_OK || e == HPE_PAUSED)
        return;
    p->error = (int)e < 0 ? HC_HTTP_PARSE_ECALLBACK : map_errno(e);
    p->reason = p->error == HC_HTTP_PARSE_EEOF ? "the stream ended inside a message"
                                               : "a callback failed at the stream's end";
}

size_t hc_http_parse_execute(hc_http_parser_t *p, const char *data, size_t len)
{
    if (p->error || p->paused || (!len && !p->in_message && !p->method_len) ||
        llhttp_get_errno(LL(p)) == HPE_PAUSED_UPGRADE)
        return 0; /* an end of stream between messages is no event */
    if (!len && p->method_len) {
        p->error = HC_HTTP_PARSE_EEOF;
        p->reason = "the stream ended inside the request method";
        return 0;
    }
    if (!len && p->cv != CV_OFF) {
        p->error = HC_HTTP_PARSE_EEOF;
        p->reason = "the stream ended inside a chunked body";
        return 0;
    }
    if (!len) {
        finish(p);
        return 0;
    }
    size_t used = 0;
    for (;;) {
        if (p->request && !p->in_message && used < len) {
            used += method_read(p, data + used, len - used);
            if (p->error || used == len)
                return used;
        }
        if (p->cv == CV_OFF) {
            used += feed(p, data + used, len - used);
            if (p->error)
                return used;
            if (p->cv != CV_OFF) /* paused where a chunked body starts */
                continue;
        } else {
            used += chunked_read(p, data + used, len - used);
            if (p->error || p->cv != CV_OFF)
                return used;
            if (message_end(p) < 0) {
                p->error = HC_HTTP_PARSE_ECALLBACK;
                p->reason = "a callback failed";
                return used;
            }
        }
        if (!p->next_message)
            return used;
        /* a message ended and the caller goes on: the next one's method and line ends are
         * read here */
        p->next_message = 0;
        llhttp_resume(LL(p));
        if (used == len || LL(p)->upgrade)
            return used;
    }
}

void hc_http_parse_resume(hc_http_parser_t *p)
{
    if (!p->paused)
        return;
    p->paused = 0;
    llhttp_resume(LL(p));
}

int hc_http_parse_gathering(const hc_http_parser_t *p)
{
    return p->method_len != 0;
}

int hc_http_parse_is_upgrade(const hc_http_parser_t *p)
{
    return LL(p)->upgrade;
}

int hc_http_parse_is_paused(const hc_http_parser_t *p)
{
    return p->paused;
}

int hc_http_parse_at_boundary(const hc_http_parser_t *p)
{
    if (!p->in_message)
        return 1;
    return p->eof_body;
}
