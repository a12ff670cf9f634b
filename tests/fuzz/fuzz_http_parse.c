/* libFuzzer target for hc_http_parse, driven the way hc_http_conn.c drives it: pieces
 * copied into a bounded head buffer, a pause after every message and a resume, the
 * input split in two at a point taken from its first byte. An input starting "HTTP/"
 * (which no request can: '/' is not a token byte) is read in response mode, as
 * hc_http_client reads a server's answers (chunked with a Content-Length: chunked). */
#include "core/hc_buf.h"
#include "core/hc_http_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct fuzz_state {
    hc_buf_t head;
    uint64_t body;
    int messages;
} fuzz_state_t;

static int piece(void *ud, const char *at, size_t len)
{
    fuzz_state_t *s = ud;
    return hc_buf_append(&s->head, at, len) < 0 ? -1 : 0;
}

static int begin(void *ud)
{
    hc_buf_reset(&((fuzz_state_t *)ud)->head);
    return 0;
}

static int headers(void *ud, const hc_http_parse_head_t *h)
{
    /* read what the server reads: a method is a non-empty token of bounded length */
    if (h->method && (!*h->method || strlen(h->method) > HC_HTTP_PARSE_METHOD_MAX ||
                      strcspn(h->method, " \t\r\n\"(),/:;<=>?@[\\]{}") != strlen(h->method)))
        abort();
    if (h->chunked && h->content_length != -1) /* a chunked body has no length */
        abort();
    return h->content_length < -1 ? -1 : 0;
}

static int body(void *ud, const char *at, size_t len)
{
    fuzz_state_t *s = ud;
    for (size_t i = 0; i < len; i++) /* touch every byte */
        s->body += (unsigned char)at[i];
    return 0;
}

static int complete(void *ud)
{
    ((fuzz_state_t *)ud)->messages++;
    return HC_HTTP_PARSE_PAUSE;
}

static const hc_http_parse_cbs_t cbs = {
    .on_begin = begin,
    .on_target = piece,
    .on_reason = piece,
    .on_header_field = piece,
    .on_header_value = piece,
    .on_headers_complete = headers,
    .on_body = body,
    .on_message_complete = complete,
};

/* Feeds one piece, resuming after each paused message; returns 0 once the stream failed
 * or switched protocol. */
static int feed(hc_http_parser_t *p, const char *data, size_t len)
{
    while (len) {
        size_t n = hc_http_parse_execute(p, data, len);
        if (hc_http_parse_error(p) || hc_http_parse_is_upgrade(p))
            return 0;
        if (n > len)
            abort();
        data += n;
        len -= n;
        if (hc_http_parse_is_paused(p))
            hc_http_parse_resume(p);
        else if (len)
            abort(); /* neither paused nor failed, yet bytes were left */
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_state_t s = {0};
    hc_http_parser_t p;
    hc_buf_init(&s.head, 40 * 1024);
    int response = size >= 5 && !memcmp(data, "HTTP/", 5);
    hc_http_parse_init(&p, response ? HC_HTTP_PARSE_RESPONSE : HC_HTTP_PARSE_REQUEST, &cbs, &s);
    size_t split = size ? data[0] % (size + 1) : 0;
    /* separate heap copies of exact size: an over-read of either piece is caught */
    char *a = malloc(split ? split : 1), *b = malloc(size - split ? size - split : 1);
    memcpy(a, data, split);
    memcpy(b, data + split, size - split);
    if (feed(&p, a, split) && feed(&p, b, size - split))
        hc_http_parse_execute(&p, NULL, 0);
    free(a);
    free(b);
    hc_http_parse_release(&p);
    hc_buf_free(&s.head);
    return 0;
}
