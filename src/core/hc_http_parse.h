/* HTTP/1.x message parsing behind hearth's own thin interface (llhttp 8 today),
 * used by the server (requests) and the client (responses). It only tokenizes and frames;
 * the strictness rules of RFC 9112 that a proxy must add live in hc_http_server.c.
 *
 * Start here: hc_http_parse_init, then hc_http_parse_execute on each piece received. */
#ifndef HC_HTTP_PARSE_H
#define HC_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

typedef enum hc_http_parse_mode {
    HC_HTTP_PARSE_REQUEST,
    HC_HTTP_PARSE_RESPONSE,
} hc_http_parse_mode_t;

/** What the parser knows once a message's header section is complete. */
typedef struct hc_http_parse_head {
    const char *method;        /* request: "GET", any token (valid until the next message
                                  starts); response: NULL */
    int status;                /* response: status code; request: 0 */
    int version_major;         /* 1 */
    int version_minor;         /* 0 or 1 */
    int keep_alive;            /* 1 when the connection may carry another message */
    int chunked;               /* 1 when Transfer-Encoding ends in chunked */
    int has_transfer_encoding; /* 1 when any Transfer-Encoding field was present */
    int64_t content_length;    /* -1 when absent (or superseded by chunked) */
    int upgrade;               /* 1 for Upgrade + Connection: upgrade, or CONNECT */
} hc_http_parse_head_t;

/* A callback returns 0 to go on or a negative value to fail the message (the error
 * becomes HC_HTTP_PARSE_ECALLBACK). on_message_complete may also return
 * HC_HTTP_PARSE_PAUSE: hc_http_parse_execute then returns right after the message's last
 * byte (continue with hc_http_parse_resume), which is how a server holds pipelined
 * requests until the current response is done. */
#define HC_HTTP_PARSE_PAUSE 1
/* on_headers_complete may also return this: the message has no body whatever its
 * headers say (a response to HEAD, or a 1xx/204/304 the caller knows about). */
#define HC_HTTP_PARSE_SKIP_BODY 2

/** Callbacks, all optional. Data pointers point into the caller's buffer and are only
 *  valid during the call; a piece (target, reason, field, value, body) may arrive split
 *  over several calls when it spans two buffers. They fire in message order:
 *  on_begin, on_target|on_reason..., (on_header_field, on_header_value)...,
 *  on_headers_complete, on_body..., on_message_complete. Trailer fields of a chunked
 *  body are checked and dropped (hearth passes no trailers on). */
typedef struct hc_http_parse_cbs {
    int (*on_begin)(void *ud);
    int (*on_target)(void *ud, const char *at, size_t len); /* request-target */
    int (*on_reason)(void *ud, const char *at, size_t len); /* response reason phrase */
    int (*on_header_field)(void *ud, const char *at, size_t len);
    int (*on_header_value)(void *ud, const char *at, size_t len);
    int (*on_headers_complete)(void *ud, const hc_http_parse_head_t *head);
    int (*on_body)(void *ud, const char *at, size_t len);
    int (*on_message_complete)(void *ud);
} hc_http_parse_cbs_t;

/* Error codes from hc_http_parse_error (0 = none). */
enum {
    HC_HTTP_PARSE_OK = 0,
    HC_HTTP_PARSE_ECALLBACK,          /* a callback returned a negative value */
    HC_HTTP_PARSE_EHEADER_SIZE,       /* more than HC_HTTP_PARSE_HEAD_MAX bytes of head */
    HC_HTTP_PARSE_ECONTENT_LENGTH,    /* invalid, repeated-different or CL with TE */
    HC_HTTP_PARSE_ETRANSFER_ENCODING, /* request TE whose final coding is not chunked */
    HC_HTTP_PARSE_ECHUNK,             /* malformed chunk size or chunk framing */
    HC_HTTP_PARSE_EMETHOD,            /* a method that is not a token, or too long */
    HC_HTTP_PARSE_EVERSION,           /* bad HTTP-version */
    HC_HTTP_PARSE_ESYNTAX,            /* anything else malformed */
    HC_HTTP_PARSE_EEOF,               /* the stream ended inside a message */
};

/* RFC 9110 §5.6.2 tchar: "!#$%&'*+-.^_`|~", digits and letters (1), else 0; NUL is not
 * one. */
extern const unsigned char hc_http_tchar[256];

/** Whether the field value v (n bytes) holds token in any case, as Go's hasToken reads
 *  a list: the token bounded by the value's ends, commas, spaces or tabs. */
int hc_http_has_token(const char *v, size_t n, const char *token);
/** Whether the comma-separated list v (n bytes) holds token in any case, as Go's
 *  httpguts.HeaderValuesContainsToken reads one value (ReverseProxy's upgrade test): each
 *  element trimmed of spaces and tabs, compared whole ("keep-alive upgrade" is one). */
int hc_http_list_has(const char *v, size_t n, const char *token);
/** The next element of the comma-separated list from *v to end: its start, its length
 *  (blanks around it trimmed) in *n, *v moved past it; NULL when none is left. */
const char *hc_http_list_next(const char **v, const char *end, size_t *n);

/* The parser's own backstop on a head's bytes (blank lines before it and blanks in it
 * included, which reach no callback); callers enforce their own, smaller limits. */
#define HC_HTTP_PARSE_HEAD_MAX (16u << 20)

/* Most bytes of trailer fields a chunked body may end with: Go reads no more than its
 * 4 KiB read buffer holds; this leaves room for four times that. */
#define HC_HTTP_PARSE_TRAILER_MAX (16u << 10)

/* Longest request method read (RFC 9110 §9.1: any token; Go sets no limit but the head's). */
#define HC_HTTP_PARSE_METHOD_MAX 64

/** The parser state. Embed it (no allocation); its inside is private. */
typedef struct hc_http_parser {
    union {
        void *align;
        unsigned char bytes[96];
    } impl;
    const hc_http_parse_cbs_t *cbs;
    void *ud;
    int error;
    const char *reason;
    int in_message; /* between on_begin and on_message_complete */
    int in_body;    /* past on_headers_complete (until the message ends) */
    /* A head's line ends: HC_HTTP_PARSE_LF_* as its first line ended; after a bare LF,
     * its bare LFs are fed to llhttp as CRLF. last_cr: the last byte fed was CR. */
    unsigned char lf, last_cr;
    uint64_t head_bytes; /* fed while a head was read, against HC_HTTP_PARSE_HEAD_MAX */
    int paused;
    int eof_body; /* the current response's body ends when the stream does */
    /* A chunked body, read here as Go's chunked reader reads it (llhttp skips it): where
     * in it the next byte is (cv, 0 outside one), the size being read or the data left
     * of the chunk (cv_size), the bytes of the size line so far (cv_line), and the
     * overhead not yet paid for by data (cv_excess, Go's rule). */
    uint64_t cv_size, cv_excess;
    uint32_t cv_line;
    unsigned char cv;
    /* Requests: llhttp knows a fixed list of methods, so the method is read here first
     * and any other token is fed to it as GET, then reported as read. Every
     * connection has a parser: the method's room is allocated only while needed. */
    unsigned char request;
    unsigned char method_own;   /* the current request's method is method */
    unsigned char next_message; /* llhttp paused at a message's end to read the next */
    unsigned char method_len;   /* bytes of the next request's method gathered so far */
    char *method;               /* HC_HTTP_PARSE_METHOD_MAX + 1 bytes, or NULL */
} hc_http_parser_t;

/** Prepares p for a new stream in mode; cbs (not copied, must outlive p) get ud. */
void hc_http_parse_init(hc_http_parser_t *p, hc_http_parse_mode_t mode,
                        const hc_http_parse_cbs_t *cbs, void *ud);

/** 1 while a request's method is gathered over reads (no message has begun yet). */
int hc_http_parse_gathering(const hc_http_parser_t *p);

/** Frees what a request parser may hold between calls (a method being gathered). The
 *  parser may be used again afterwards. */
void hc_http_parse_release(hc_http_parser_t *p);

/** Parses len bytes. Returns how many were consumed: len unless the parser paused, hit
 *  an upgrade (the rest belongs to the new protocol), or failed (then
 *  hc_http_parse_error is non-zero and the stream cannot continue). len = 0 tells the
 *  parser the stream ended (a response delimited by close completes then). */
size_t hc_http_parse_execute(hc_http_parser_t *p, const char *data, size_t len);

/** Lets a parser that paused through HC_HTTP_PARSE_PAUSE continue. */
void hc_http_parse_resume(hc_http_parser_t *p);

/** 1 when the parser stopped because the message switched protocol (upgrade). */
int hc_http_parse_is_upgrade(const hc_http_parser_t *p);

/** 1 while paused through HC_HTTP_PARSE_PAUSE. */
int hc_http_parse_is_paused(const hc_http_parser_t *p);

/** 1 when the stream may end now without losing a message: no message begun, or a
 *  response that is delimited by the connection closing. */
int hc_http_parse_at_boundary(const hc_http_parser_t *p);

/** The HC_HTTP_PARSE_E* code of the failure (0 = none). */
static inline int hc_http_parse_error(const hc_http_parser_t *p)
{
    return p->error;
}

/** A short static English text for the failure, for logs ("" when none). */
static inline const char *hc_http_parse_reason(const hc_http_parser_t *p)
{
    return p->reason ? p->reason : "";
}

#endif
