/* hc_http_parse over http-parser 2.9.4 (see hc_http_parse.h). This file is the only one
 * that includes http_parser.h: swapping the parser means rewriting this file alone. */
#include "core/hc_http_parse.h"
#include "core/hc_alloc.h"

#include <http_parser.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

/* http-parser's own head limit is one process-wide number (80 KiB unless raised). The
 * configured limits are enforced before it, by the server's head scan and the client's
 * header cap, and may go up to Traefik's 1 MiB: the parser's is set above them all. */
#define PARSER_HEAD_CEILING (16u << 20)

static void ceiling_set(void)
{
    http_parser_set_max_header_size(PARSER_HEAD_CEILING);
}

_Static_assert(sizeof(http_parser) <= sizeof(((hc_http_parser_t *)0)->impl.bytes),
               "hc_http_parser_t.impl too small for http_parser");

#define HP(p) ((http_parser *)(void *)(p)->impl.bytes)

static hc_http_parser_t *self_of(http_parser *hp)
{
    return hp->data;
}

/* A negative callback result fails the parse; http-parser fails on any non-zero. */
static int data_cb(http_parser *hp, int (*cb)(void *, const char *, size_t), const char *at,
                   size_t len)
{
    hc_http_parser_t *p = self_of(hp);
    if (!cb)
        return 0;
    return cb(p->ud, at, len) < 0 ? -1 : 0;
}

static int on_message_begin(http_parser *hp)
{
    hc_http_parser_t *p = self_of(hp);
    p->in_message = 1;
    p->eof_body = 0;
    if (p->cbs->on_begin && p->cbs->on_begin(p->ud) < 0)
        return -1;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    return data_cb(hp, self_of(hp)->cbs->on_target, at, len);
}

static int on_status(http_parser *hp, const char *at, size_t len)
{
    return data_cb(hp, self_of(hp)->cbs->on_reason, at, len);
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    return data_cb(hp, self_of(hp)->cbs->on_header_field, at, len);
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    return data_cb(hp, self_of(hp)->cbs->on_header_value, at, len);
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    return data_cb(hp, self_of(hp)->cbs->on_body, at, len);
}

/* Go's chunked reader (net/http/internal/chunked.go), which http-parser (built lenient)
 * is not, checked over a chunked body's bytes before http-parser reads them: a
 * chunk-size line is hex digits, then blanks and ";" extensions, ended by CRLF; a
 * chunk's data by CRLF; a trailer line ends at LF, a CR only right before it; an empty
 * line ends the body. http-parser had taken a CR and any byte as a line's end, so
 * "0\r\n\rGET /x ..." was two requests to hearth and one to a proxy in front of it. */
enum {
    CV_OFF,     /* not in a chunked body */
    CV_SKIP,    /* the head's last LF, which http-parser reads again */
    CV_SIZE0,   /* a size's first digit */
    CV_SIZE,    /* its next digits */
    CV_BLANK,   /* blanks after the digits */
    CV_EXT,     /* an extension */
    CV_SIZE_LF, /* the size line's LF */
    CV_DATA,    /* cv_size bytes of data */
    CV_DATA_CR, /* the data's CRLF */
    CV_DATA_LF,
    CV_TLINE0, /* a trailer line's first byte, or the last line */
    CV_TLINE,
    CV_TLINE_LF,
    CV_END_LF, /* the last line's LF */
};

static int hex_digit(unsigned char c)
{
    return c >= '0' && c <= '9'                     ? c - '0'
           : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                    : -1;
}

/* Checks n bytes at q, up to the body's end; NULL, or why they are no chunked body. */
static const char *cv_check(hc_http_parser_t *p, const char *q, size_t n)
{
    static const char size_line[] = "invalid chunk: its size line is not a size, extensions, CRLF";
    static const char data_crlf[] = "invalid chunk: its data is not followed by CRLF";
    for (size_t i = 0; i < n && p->cv != CV_OFF; i++) {
        unsigned char c = (unsigned char)q[i];
        int h;
        switch (p->cv) {
        case CV_SKIP:
            p->cv = CV_SIZE0;
            break;
        case CV_SIZE0:
        case CV_SIZE:
            if ((h = hex_digit(c)) >= 0) {
                if (p->cv_size >> 59)
                    return "invalid chunk: its size is too large";
                p->cv_size = p->cv_size << 4 | (unsigned)h;
                p->cv = CV_SIZE;
                break;
            }
            if (p->cv == CV_SIZE0)
                return size_line;
            p->cv = CV_BLANK; /* the byte after the digits */
            __attribute__((fallthrough));
        case CV_BLANK:
            if (c == ';' || c == '\r')
                p->cv = c == ';' ? CV_EXT : CV_SIZE_LF;
            else if (c != ' ' && c != '\t')
                return size_line;
            break;
        case CV_EXT:
            if (c == '\n')
                return size_line;
            if (c == '\r')
                p->cv = CV_SIZE_LF;
            break;
        case CV_SIZE_LF:
            if (c != '\n')
                return size_line;
            p->cv = p->cv_size ? CV_DATA : CV_TLINE0;
            break;
        case CV_DATA: {
            uint64_t k = n - i < p->cv_size ? n - i : p->cv_size;
            p->cv_size -= k;
            i += k - 1;
            if (!p->cv_size)
                p->cv = CV_DATA_CR;
            break;
        }
        case CV_DATA_CR:
        case CV_DATA_LF:
            if (c != (p->cv == CV_DATA_CR ? '\r' : '\n'))
                return data_crlf;
            p->cv = p->cv == CV_DATA_CR ? CV_DATA_LF : CV_SIZE0;
            break;
        case CV_TLINE0:
            p->cv = c == '\r' ? CV_END_LF : c == '\n' ? CV_OFF : CV_TLINE;
            break;
        case CV_TLINE:
            if (c == '\r' || c == '\n')
                p->cv = c == '\r' ? CV_TLINE_LF : CV_TLINE0;
            break;
        case CV_TLINE_LF:
        case CV_END_LF:
            if (c != '\n')
                return "invalid chunked body: a trailer line does not end in CRLF";
            p->cv = p->cv == CV_END_LF ? CV_OFF : CV_TLINE0;
            break;
        }
    }
    return NULL;
}

/* http-parser's contract: 0 = go on, 1 = no body, anything else = error. */
static int on_headers_complete(http_parser *hp)
{
    hc_http_parser_t *p = self_of(hp);
    hc_http_parse_head_t h = {
        .method = hp->type != HTTP_REQUEST ? NULL
                  : p->method_own          ? p->method
                                           : http_method_str((enum http_method)hp->method),
        .status = hp->type == HTTP_RESPONSE ? (int)hp->status_code : 0,
        .version_major = hp->http_major,
        .version_minor = hp->http_minor,
        .keep_alive = http_should_keep_alive(hp),
        .chunked = !!(hp->flags & F_CHUNKED),
        .has_transfer_encoding = hp->uses_transfer_encoding,
        .content_length = -1,
        .upgrade = hp->upgrade,
    };
    if ((hp->flags & F_CONTENTLENGTH) && !h.chunked)
        h.content_length = (int64_t)hp->content_length;
    int rc = p->cbs->on_headers_complete ? p->cbs->on_headers_complete(p->ud, &h) : 0;
    if (p->method_own) { /* the caller has read it */
        p->method_own = 0;
        hc_http_parse_release(p);
    }
    if (rc < 0)
        return -1;
    if (rc == HC_HTTP_PARSE_SKIP_BODY)
        return 1;
    if (h.chunked && !hp->upgrade) { /* back to hc_http_parse_execute to check its bytes */
        p->cv = CV_SKIP;
        p->cv_size = 0;
        p->cv_arm = 1;
        http_parser_pause(hp, 1);
    }
    /* RFC 9112 §6.3 item 8: a response without framing runs until the close. */
    p->eof_body = hp->type == HTTP_RESPONSE && !h.chunked && h.content_length < 0 &&
                  h.status >= 200 && h.status != 204 && h.status != 304;
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    hc_http_parser_t *p = self_of(hp);
    p->in_message = 0;
    int rc = p->cbs->on_message_complete ? p->cbs->on_message_complete(p->ud) : 0;
    if (rc < 0)
        return -1;
    if (rc == HC_HTTP_PARSE_PAUSE) {
        p->paused = 1;
        http_parser_pause(hp, 1);
    } else if (p->request) { /* back to hc_http_parse_execute for the next method */
        p->next_message = 1;
        http_parser_pause(hp, 1);
    }
    return 0;
}

static const http_parser_settings settings = {
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
    static uv_once_t once = UV_ONCE_INIT;
    uv_once(&once, ceiling_set);
    memset(p, 0, sizeof(*p));
    http_parser_init(HP(p), mode == HC_HTTP_PARSE_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE);
    HP(p)->data = p;
    /* A response with Transfer-Encoding: chunked and a Content-Length is read chunked, as
     * Go's transport reads it ("these appear in the wild"); a request never is. */
    HP(p)->allow_chunked_length = mode == HC_HTTP_PARSE_RESPONSE;
    p->request = mode == HC_HTTP_PARSE_REQUEST;
    p->cbs = cbs;
    p->ud = ud;
}

static int map_errno(enum http_errno e)
{
    switch (e) {
    case HPE_OK:
    case HPE_PAUSED:
        return HC_HTTP_PARSE_OK;
    case HPE_CB_message_begin:
    case HPE_CB_url:
    case HPE_CB_header_field:
    case HPE_CB_header_value:
    case HPE_CB_headers_complete:
    case HPE_CB_body:
    case HPE_CB_message_complete:
    case HPE_CB_status:
    case HPE_CB_chunk_header:
    case HPE_CB_chunk_complete:
        return HC_HTTP_PARSE_ECALLBACK;
    case HPE_HEADER_OVERFLOW:
        return HC_HTTP_PARSE_EHEADER_SIZE;
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

/* Whether http-parser knows the method m (n bytes): the common ones at once, then its
 * table. */
static int method_known(const char *m, size_t n)
{
    if ((n == 3 && (!memcmp(m, "GET", 3) || !memcmp(m, "PUT", 3))) ||
        (n == 4 && (!memcmp(m, "POST", 4) || !memcmp(m, "HEAD", 4))))
        return 1;
    for (int i = 0;; i++) {
        const char *k = http_method_str((enum http_method)i);
        if (!strcmp(k, "<unknown>"))
            return 0;
        if (strlen(k) == n && !memcmp(k, m, n))
            return 1;
    }
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

/* Feeds http-parser a method it knows: m, or GET standing for m (kept in p->method). */
static void method_feed(hc_http_parser_t *p, const char *m, size_t n)
{
    p->method_own = 1;
    method_room(p);
    memmove(p->method, m, n);
    p->method[n] = '\0';
    p->method_len = 0;
    if (http_parser_execute(HP(p), &settings, "GET", 3) != 3) {
        p->error = map_errno(HTTP_PARSER_ERRNO(HP(p)));
        p->reason = http_errno_description(HTTP_PARSER_ERRNO(HP(p)));
    }
}

/* Before a request: finds its method in data (len bytes), past the empty lines RFC 9112
 * §2.2 lets come first. A method http-parser knows is left for it to read (0 returned,
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
            if (http_parser_execute(HP(p), &settings, p->method, n) != n) {
                p->error = map_errno(HTTP_PARSER_ERRNO(HP(p)));
                p->reason = http_errno_description(HTTP_PARSER_ERRNO(HP(p)));
            }
            hc_http_parse_release(p);
        } else {
            method_feed(p, p->method, n);
        }
        return i;
    }
    if (method_known(data + start, n)) {
        p->method_own = 0;
        return 0; /* http-parser reads it, and what follows, as before */
    }
    method_feed(p, data + start, n);
    return i;
}

size_t hc_http_parse_execute(hc_http_parser_t *p, const char *data, size_t len)
{
    if (p->error || p->paused || (!len && !p->in_message && !p->method_len))
        return 0; /* an end of stream between messages is no event */
    if (!len && p->method_len) {
        p->error = HC_HTTP_PARSE_EEOF;
        p->reason = "the stream ended inside the request method";
        return 0;
    }
    if (!data)
        data = ""; /* the end of a stream, given as (NULL, 0): no arithmetic on NULL */
    size_t used = 0;
    for (;;) {
        if (p->request && !p->in_message && used < len) {
            used += method_read(p, data + used, len - used);
            if (p->error || used == len)
                return used;
        }
        const char *bad = p->cv ? cv_check(p, data + used, len - used) : NULL;
        if (bad) {
            p->error = HC_HTTP_PARSE_ECHUNK;
            p->reason = bad;
            return used;
        }
        used += http_parser_execute(HP(p), &settings, data + used, len - used);
        enum http_errno e = HTTP_PARSER_ERRNO(HP(p));
        p->error = map_errno(e);
        if (p->error)
            p->reason = http_errno_description(e);
        if (p->cv_arm && !p->error) { /* paused where a chunked body starts: check it */
            p->cv_arm = 0;
            http_parser_pause(HP(p), 0);
            continue;
        }
        if (!p->next_message || p->error)
            return used;
        /* a request ended and the caller goes on: the next one's method is read here */
        p->next_message = 0;
        http_parser_pause(HP(p), 0);
        if (used == len || HP(p)->upgrade)
            return used;
    }
}

void hc_http_parse_resume(hc_http_parser_t *p)
{
    if (!p->paused)
        return;
    p->paused = 0;
    http_parser_pause(HP(p), 0);
}

int hc_http_parse_gathering(const hc_http_parser_t *p)
{
    return p->method_len != 0;
}

int hc_http_parse_is_upgrade(const hc_http_parser_t *p)
{
    return HP(p)->upgrade;
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
