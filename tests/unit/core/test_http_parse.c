/* hc_http_parse: requests and responses, whole and split at every byte, errors, pause
 * at message end, upgrade, and end-of-stream framing. */
#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_http_parse.h"

#include <stdio.h>
#include <string.h>

/* What the callbacks saw, rendered as text for easy comparison. */
typedef struct seen {
    char log[4096];
    size_t len;
    int last; /* 1 target, 2 reason, 3 field, 4 value, 5 body: pieces of one kind join */
    int pause;
    hc_http_parse_head_t head;
    int skip_body;
} seen_t;

static void put(seen_t *s, int kind, const char *tag, const char *at, size_t len)
{
    if (s->last != kind)
        s->len += (size_t)snprintf(s->log + s->len, sizeof(s->log) - s->len, "|%s=", tag);
    s->last = kind;
    if (len > sizeof(s->log) - s->len - 1)
        len = sizeof(s->log) - s->len - 1;
    memcpy(s->log + s->len, at, len);
    s->len += len;
    s->log[s->len] = '\0';
}

static int on_begin(void *ud)
{
    seen_t *s = ud;
    s->len += (size_t)snprintf(s->log + s->len, sizeof(s->log) - s->len, "|begin");
    s->last = 0;
    return 0;
}
static int on_target(void *ud, const char *at, size_t n)
{
    put(ud, 1, "T", at, n);
    return 0;
}
static int on_reason(void *ud, const char *at, size_t n)
{
    put(ud, 2, "R", at, n);
    return 0;
}
static int on_field(void *ud, const char *at, size_t n)
{
    put(ud, 3, "F", at, n);
    return 0;
}
static int on_value(void *ud, const char *at, size_t n)
{
    put(ud, 4, "V", at, n);
    return 0;
}
static int on_body(void *ud, const char *at, size_t n)
{
    put(ud, 5, "B", at, n);
    return 0;
}

static int on_headers(void *ud, const hc_http_parse_head_t *h)
{
    seen_t *s = ud;
    s->head = *h;
    s->len += (size_t)snprintf(s->log + s->len, sizeof(s->log) - s->len, "|head");
    s->last = 0;
    return s->skip_body ? HC_HTTP_PARSE_SKIP_BODY : 0;
}

static int on_complete(void *ud)
{
    seen_t *s = ud;
    s->len += (size_t)snprintf(s->log + s->len, sizeof(s->log) - s->len, "|done");
    s->last = 0;
    return s->pause ? HC_HTTP_PARSE_PAUSE : 0;
}

static const hc_http_parse_cbs_t cbs = {on_begin, on_target,  on_reason, on_field,
                                        on_value, on_headers, on_body,   on_complete};

/* Feeds in at the split point (also used to check every split). Returns the error. */
static int run(hc_http_parse_mode_t mode, const char *in, size_t split, seen_t *s)
{
    hc_http_parser_t p;
    size_t len = strlen(in);
    hc_http_parse_init(&p, mode, &cbs, s);
    /* heap copies of exact size so ASan catches a read past either piece */
    char *a = hc_memdup(in, split), *b = hc_memdup(in + split, len - split);
    size_t n = hc_http_parse_execute(&p, a, split);
    if (!hc_http_parse_error(&p) && n == split)
        hc_http_parse_execute(&p, b, len - split);
    if (!hc_http_parse_error(&p))
        hc_http_parse_execute(&p, NULL, 0);
    hc_free(a);
    hc_free(b);
    int err = hc_http_parse_error(&p);
    hc_http_parse_release(&p);
    return err;
}

static const struct {
    int mode;
    const char *in;
    int err;
    const char *log;
} cases[] = {
    {HC_HTTP_PARSE_REQUEST, "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Y:  z \r\n\r\n", 0,
     "|begin|T=/a?b=1|F=Host|V=x|F=X-Y|V=z |head|done"},
    {HC_HTTP_PARSE_REQUEST, "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 0,
     "|begin|T=/e|F=Host|V=x|F=Content-Length|V=5|head|B=hello|done"},
    {HC_HTTP_PARSE_REQUEST,
     "POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
     "chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
     0, "|begin|T=/e|F=Host|V=x|F=Transfer-Encoding|V=chunked|head|B=abcde|done"},
    /* a chunked body read as Go reads one: blanks after a size (servers that pad it),
     * extensions, trailer fields checked and dropped; then the next message */
    {HC_HTTP_PARSE_RESPONSE,
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3  \r\nabc\r\n0 ;n=v\r\nX-T: "
     "1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
     0, "|begin|R=OK|F=Transfer-Encoding|V=chunked|head|B=abc|done|begin|R=No Content|head|done"},
    {HC_HTTP_PARSE_REQUEST,
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nPUT /2 "
     "HTTP/1.1\r\n\r\n",
     0, "|begin|T=/|F=Transfer-Encoding|V=chunked|head|B=ab|done|begin|T=/2|head|done"},
    {HC_HTTP_PARSE_RESPONSE,
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a field\r\n\r\n",
     HC_HTTP_PARSE_ECHUNK, NULL},
    {HC_HTTP_PARSE_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
     HC_HTTP_PARSE_EEOF, NULL},
    /* a folded trailer line goes on the field before it */
    {HC_HTTP_PARSE_RESPONSE,
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: a\r\n b\r\n\r\n", 0,
     "|begin|R=OK|F=Transfer-Encoding|V=chunked|head|B=a|done"},
    /* RFC 9112 §2.2: bare LF line ends, read as Go reads them; any HTTP/d.d */
    {HC_HTTP_PARSE_REQUEST, "GET / HTTP/1.1\nHost: x\nX-Y: z\n\nGET /2 HTTP/1.2\r\n\r\n", 0,
     "|begin|T=/|F=Host|V=x|F=X-Y|V=z|head|done|begin|T=/2|head|done"},
    {HC_HTTP_PARSE_RESPONSE, "HTTP/1.0 200 OK\nContent-Length: 2\nX-Lf: 1\n\nok", 0,
     "|begin|R=OK|F=Content-Length|V=2|F=X-Lf|V=1|head|B=ok|done"},
    {HC_HTTP_PARSE_RESPONSE, "HTTP/3.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0,
     "|begin|R=OK|F=Content-Length|V=0|head|done"},
    /* each message's own first line decides, not the one before nor empty lines */
    {HC_HTTP_PARSE_RESPONSE,
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nContent-Length: 2\n\nok", 0,
     "|begin|R=Continue|head|done|begin|R=OK|F=Content-Length|V=2|head|B=ok|done"},
    {HC_HTTP_PARSE_REQUEST,
     "\r\nPOST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nok\r\nGET /b HTTP/1.1\nHost: a\n\n", 0,
     "|begin|T=/a|F=Content-Length|V=2|head|B=ok|done|begin|T=/b|F=Host|V=a|head|done"},
    /* Go reads a length as ParseUint(v, 10, 63) */
    {HC_HTTP_PARSE_REQUEST, "POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n",
     HC_HTTP_PARSE_ECONTENT_LENGTH, NULL},
    {HC_HTTP_PARSE_REQUEST, "POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n",
     HC_HTTP_PARSE_ECONTENT_LENGTH, NULL},
    {HC_HTTP_PARSE_REQUEST, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.0\r\n\r\n", 0,
     "|begin|T=/|F=Host|V=x|head|done|begin|T=/2|head|done"},
    {HC_HTTP_PARSE_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0,
     "|begin|R=OK|F=Content-Length|V=2|head|B=hi|done"},
    {HC_HTTP_PARSE_RESPONSE, "HTTP/1.1 200 OK\r\n\r\nuntil close", 0,
     "|begin|R=OK|head|B=until close|done"},
    {HC_HTTP_PARSE_RESPONSE, "HTTP/1.1 204 No Content\r\n\r\n", 0, "|begin|R=No Content|head|done"},
    /* RFC 9110 §9.1: any token is a method, in any case, known to llhttp or not */
    {HC_HTTP_PARSE_REQUEST, "BREW / HTTP/1.1\r\n\r\nget /2 HTTP/1.1\r\n\r\n", 0,
     "|begin|T=/|head|done|begin|T=/2|head|done"},
    {HC_HTTP_PARSE_REQUEST, "\r\nX-MY_METHOD /q HTTP/1.1\r\n\r\n", 0, "|begin|T=/q|head|done"},
    {HC_HTTP_PARSE_REQUEST, "GE(T / HTTP/1.1\r\n\r\n", HC_HTTP_PARSE_EMETHOD, NULL},
    {HC_HTTP_PARSE_REQUEST, " GET / HTTP/1.1\r\n\r\n", HC_HTTP_PARSE_EMETHOD, NULL},
    {HC_HTTP_PARSE_REQUEST, "QUER", HC_HTTP_PARSE_EEOF, NULL},
    {HC_HTTP_PARSE_REQUEST, "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
     HC_HTTP_PARSE_ECONTENT_LENGTH, NULL},
    {HC_HTTP_PARSE_REQUEST,
     "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
     HC_HTTP_PARSE_ECONTENT_LENGTH, NULL},
    {HC_HTTP_PARSE_REQUEST, "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
     HC_HTTP_PARSE_ECONTENT_LENGTH, NULL},
    {HC_HTTP_PARSE_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
     HC_HTTP_PARSE_ETRANSFER_ENCODING, NULL},
    {HC_HTTP_PARSE_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     HC_HTTP_PARSE_ECHUNK, NULL},
    /* the parser lets spaces into field names; the server's token check rejects them */
    {HC_HTTP_PARSE_REQUEST, "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 0,
     "|begin|T=/|F=Bad Name|V=x|head|done"},
    {HC_HTTP_PARSE_REQUEST, "GET / HTTP/1.1\r\nBad\x01: x\r\n\r\n", HC_HTTP_PARSE_ESYNTAX, NULL},
    {HC_HTTP_PARSE_REQUEST, "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc", HC_HTTP_PARSE_EEOF,
     NULL},
    {HC_HTTP_PARSE_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", HC_HTTP_PARSE_EEOF,
     NULL},
};

/* Go's hasToken: the token between the value's ends, commas, spaces or tabs, any case. */
static void test_has_token(void **state)
{
    static const struct {
        const char *v, *tok;
        int want;
    } toks[] = {
        {"100-continue", "100-continue", 1},
        {"foo, 100-Continue", "100-continue", 1},
        {"100-continue foo", "100-continue", 1},
        {"keep-alive,Upgrade", "upgrade", 1},
        {"x100-continue", "100-continue", 0},
        {"upgrades", "upgrade", 0},
        {"", "upgrade", 0},
    };
    for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++)
        assert_int_equal(hc_http_has_token(toks[i].v, strlen(toks[i].v), toks[i].tok),
                         toks[i].want);
}

static void test_table_at_every_split(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in);
        for (size_t split = 0; split <= len; split++) {
            seen_t s = {0};
            int err = run(cases[i].mode, cases[i].in, split, &s);
            if (err != cases[i].err || (cases[i].log && strcmp(s.log, cases[i].log))) {
                print_error("case %zu split %zu: err %d log %s\n", i, split, err, s.log);
                fail();
            }
        }
    }
}

static void test_head_facts(void **state)
{
    seen_t s = {0};
    assert_int_equal(run(HC_HTTP_PARSE_REQUEST,
                         "PUT /x HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                         4, &s),
                     0);
    assert_string_equal(s.head.method, "PUT");
    assert_int_equal(s.head.version_minor, 0);
    assert_int_equal(s.head.keep_alive, 1);
    assert_int_equal(s.head.content_length, 0);
    assert_int_equal(s.head.chunked, 0);

    memset(&s, 0, sizeof(s));
    assert_int_equal(run(HC_HTTP_PARSE_REQUEST,
                         "GET / HTTP/1.1\r\nConnection: close\r\nHost: a\r\n\r\n", 10, &s),
                     0);
    assert_int_equal(s.head.keep_alive, 0);
    assert_int_equal(s.head.content_length, -1);

    memset(&s, 0, sizeof(s));
    assert_int_equal(
        run(HC_HTTP_PARSE_RESPONSE, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 3, &s),
        0);
    assert_int_equal(s.head.status, 404);
    assert_null(s.head.method);
}

static void test_pause_holds_pipelined_request(void **state)
{
    static const char in[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    seen_t s = {.pause = 1};
    hc_http_parser_t p;
    hc_http_parse_init(&p, HC_HTTP_PARSE_REQUEST, &cbs, &s);
    size_t n = hc_http_parse_execute(&p, in, sizeof(in) - 1);
    assert_int_equal(n, 28);
    assert_true(hc_http_parse_is_paused(&p));
    assert_int_equal(hc_http_parse_execute(&p, in + n, sizeof(in) - 1 - n), 0);
    hc_http_parse_resume(&p);
    assert_int_equal(hc_http_parse_execute(&p, in + n, sizeof(in) - 1 - n), sizeof(in) - 1 - n);
    assert_string_equal(s.log, "|begin|T=/1|F=Host|V=a|head|done|begin|T=/2|F=Host|V=a|head|done");
}

static void test_upgrade_stops_at_end_of_head(void **state)
{
    static const char in[] = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\n\r\n\x81\x80";
    seen_t s = {0};
    hc_http_parser_t p;
    hc_http_parse_init(&p, HC_HTTP_PARSE_REQUEST, &cbs, &s);
    size_t n = hc_http_parse_execute(&p, in, sizeof(in) - 1);
    assert_int_equal(n, sizeof(in) - 3);
    assert_true(hc_http_parse_is_upgrade(&p));
    assert_int_equal(hc_http_parse_error(&p), 0);
    assert_int_equal(s.head.upgrade, 1);
}

static void test_boundary_and_skip_body(void **state)
{
    seen_t s = {.skip_body = 1};
    hc_http_parser_t p;
    hc_http_parse_init(&p, HC_HTTP_PARSE_RESPONSE, &cbs, &s);
    assert_true(hc_http_parse_at_boundary(&p));
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    assert_int_equal(hc_http_parse_execute(&p, head, sizeof(head) - 1), sizeof(head) - 1);
    assert_string_equal(s.log, "|begin|R=OK|F=Content-Length|V=10|head|done");
    assert_true(hc_http_parse_at_boundary(&p));

    seen_t s2 = {0};
    hc_http_parse_init(&p, HC_HTTP_PARSE_RESPONSE, &cbs, &s2);
    static const char open[] = "HTTP/1.1 200 OK\r\n\r\nabc";
    hc_http_parse_execute(&p, open, sizeof(open) - 1);
    assert_true(hc_http_parse_at_boundary(&p)); /* close-delimited */
    hc_http_parse_init(&p, HC_HTTP_PARSE_RESPONSE, &cbs, &s2);
    hc_http_parse_execute(&p, head, 10);
    assert_false(hc_http_parse_at_boundary(&p));
}

static int fail_headers(void *ud, const hc_http_parse_head_t *h)
{
    return -1;
}

static void test_callback_failure_reported(void **state)
{
    hc_http_parse_cbs_t c = {.on_headers_complete = fail_headers};
    hc_http_parser_t p;
    hc_http_parse_init(&p, HC_HTTP_PARSE_REQUEST, &c, NULL);
    static const char in[] = "GET / HTTP/1.1\r\n\r\n";
    hc_http_parse_execute(&p, in, sizeof(in) - 1);
    assert_int_equal(hc_http_parse_error(&p), HC_HTTP_PARSE_ECALLBACK);
    assert_true(strlen(hc_http_parse_reason(&p)) > 0);
    assert_int_equal(hc_http_parse_execute(&p, in, sizeof(in) - 1), 0);
}

/* Trailer fields are dropped, but read only up to HC_HTTP_PARSE_TRAILER_MAX bytes. */
static void test_trailer_section_bounded(void **state)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    static const char line[] = "X-Trailer: 0123456789abcdef0123456789abcdef0123456789\r\n";
    seen_t s = {0};
    hc_http_parser_t p;
    hc_http_parse_init(&p, HC_HTTP_PARSE_RESPONSE, &cbs, &s);
    assert_int_equal(hc_http_parse_execute(&p, head, sizeof(head) - 1), sizeof(head) - 1);
    size_t fed = 0;
    while (!hc_http_parse_error(&p) && fed <= HC_HTTP_PARSE_TRAILER_MAX) {
        hc_http_parse_execute(&p, line, sizeof(line) - 1);
        fed += sizeof(line) - 1;
    }
    assert_int_equal(hc_http_parse_error(&p), HC_HTTP_PARSE_ECHUNK);
    assert_true(fed > HC_HTTP_PARSE_TRAILER_MAX - sizeof(line));
    assert_null(strstr(s.log, "done"));
}

/* Feeds a chunked response's head, then body pieces (each n times); the error after. */
static int chunked_error(const char *piece, size_t times, const char *end)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    seen_t s = {0};
    hc_http_parser_t p;
    hc_http_parse_init(&p, HC_HTTP_PARSE_RESPONSE, &cbs, &s);
    hc_http_parse_execute(&p, head, sizeof(head) - 1);
    for (size_t i = 0; i < times && !hc_http_parse_error(&p); i++)
        hc_http_parse_execute(&p, piece, strlen(piece));
    if (!hc_http_parse_error(&p))
        hc_http_parse_execute(&p, end, strlen(end));
    return hc_http_parse_error(&p);
}

/* Go's limits on what in a chunked body is not data: a size line under 4096 bytes, 16
 * hex digits, and overhead bounded by the data it carries (CVE-2023-39326). */
static void test_chunk_overhead_bounded(void **state)
{
    static char ext[5000];
    memset(ext, 'e', sizeof(ext) - 1);
    memcpy(ext, "1;", 2);
    assert_int_equal(chunked_error(ext, 1, "\r\nx\r\n0\r\n\r\n"), HC_HTTP_PARSE_ECHUNK);
    assert_int_equal(chunked_error("0000000000000003\r\nabc\r\n", 1, "0\r\n\r\n"), 0);
    assert_int_equal(chunked_error("00000000000000003\r\nabc\r\n", 1, "0\r\n\r\n"),
                     HC_HTTP_PARSE_ECHUNK);
    /* a byte a chunk is streaming, allowed; a long extension on each is not */
    assert_int_equal(chunked_error("1\r\nx\r\n", 10000, "0\r\n\r\n"), 0);
    static char noisy[128];
    memset(noisy, 'e', sizeof(noisy) - 1);
    memcpy(noisy, "1;", 2);
    memcpy(noisy + sizeof(noisy) - 6, "\r\nx\r\n", 5);
    assert_int_equal(chunked_error(noisy, 1000, "0\r\n\r\n"), HC_HTTP_PARSE_ECHUNK);
    assert_int_equal(chunked_error(noisy, 100, "0\r\n\r\n"), 0);
    /* Go's count exactly: an 18-byte size line and the data's CRLF against 16 + 2 bytes
     * paid leave 2 a chunk, so the 8,193rd chunk passes 16 KiB */
    static const char l18[] = "1;eeeeeeeeeeeeee\r\nx\r\n";
    assert_int_equal(chunked_error(l18, 8192, "0\r\n\r\n"), 0);
    assert_int_equal(chunked_error(l18, 8193, "0\r\n\r\n"), HC_HTTP_PARSE_ECHUNK);
}

/* llhttp has no head limit: the parser's own backstop ends a head past
 * HC_HTTP_PARSE_HEAD_MAX bytes, blanks and blank lines (which reach no callback) too. */
static void test_head_backstop(void **state)
{
    static char piece[64 * 1024];
    memset(piece, ' ', sizeof(piece));
    for (int blank_lines = 0; blank_lines < 2; blank_lines++) {
        seen_t s = {0};
        hc_http_parser_t p;
        hc_http_parse_init(&p, HC_HTTP_PARSE_RESPONSE, &cbs, &s);
        static const char head[] = "HTTP/1.1 200 OK\r\nX-Long:";
        if (blank_lines)
            for (size_t i = 0; i < sizeof(piece); i += 2)
                memcpy(piece + i, "\r\n", 2);
        else
            hc_http_parse_execute(&p, head, sizeof(head) - 1);
        size_t fed = 0;
        while (!hc_http_parse_error(&p) && fed <= HC_HTTP_PARSE_HEAD_MAX) {
            hc_http_parse_execute(&p, piece, sizeof(piece));
            fed += sizeof(piece);
        }
        assert_int_equal(hc_http_parse_error(&p), HC_HTTP_PARSE_EHEADER_SIZE);
        assert_true(fed >= HC_HTTP_PARSE_HEAD_MAX - 2 * sizeof(piece));
    }
    /* a whole message larger than it, in one piece, is no head past it */
    static const char head[] = "POST / HTTP/1.1\r\nContent-Length: 17825792\r\n\r\n";
    size_t n = sizeof(head) - 1 + 17825792;
    char *big = hc_malloc(n);
    memcpy(big, head, sizeof(head) - 1);
    memset(big + sizeof(head) - 1, 'x', n - (sizeof(head) - 1));
    seen_t s = {0};
    hc_http_parser_t p;
    hc_http_parse_init(&p, HC_HTTP_PARSE_REQUEST, &cbs, &s);
    assert_int_equal(hc_http_parse_execute(&p, big, n), n);
    assert_int_equal(hc_http_parse_error(&p), 0);
    assert_int_equal(hc_http_parse_at_boundary(&p), 1); /* the message ended */
    hc_free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_has_token),
        cmocka_unit_test(test_table_at_every_split),
        cmocka_unit_test(test_head_facts),
        cmocka_unit_test(test_pause_holds_pipelined_request),
        cmocka_unit_test(test_upgrade_stops_at_end_of_head),
        cmocka_unit_test(test_boundary_and_skip_body),
        cmocka_unit_test(test_callback_failure_reported),
        cmocka_unit_test(test_trailer_section_bounded),
        cmocka_unit_test(test_chunk_overhead_bounded),
        cmocka_unit_test(test_head_backstop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
