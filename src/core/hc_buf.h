/* A growable byte buffer with a hard maximum. Used for response assembly, small
 * request bodies and text rendering (metrics, JSON). Owns its memory. Also the two
 * text codecs every service needs: JSON string escaping and percent-decoding. */
#ifndef HC_BUF_H
#define HC_BUF_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct hc_buf {
    char *base; /* NUL-terminated when len < cap; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* appends that would pass this fail with -ENOBUFS; 0 = no limit */
} hc_buf_t;

/** Initializes an empty buffer that may grow to max bytes (0 = unlimited). */
void hc_buf_init(hc_buf_t *b, size_t max);
/** Frees the memory; the buffer is empty and reusable afterwards. */
void hc_buf_free(hc_buf_t *b);
/** hc_buf_reserve when the room is not there yet: grows the memory. */
int hc_buf_grow(hc_buf_t *b, size_t n);

/** Makes room for n more bytes (and a NUL after them). Returns 0 or -ENOBUFS when past
 *  max. Inline: a proxied request makes a few dozen of these calls, nearly all with
 *  room already there. */
static inline int hc_buf_reserve(hc_buf_t *b, size_t n)
{
    if (b->len < b->cap && n < b->cap - b->len && (!b->max || b->len + n <= b->max))
        return 0;
    return hc_buf_grow(b, n);
}

/** Appends n bytes. Returns 0 or -ENOBUFS (nothing appended). */
static inline int hc_buf_append(hc_buf_t *b, const void *p, size_t n)
{
    if (hc_buf_reserve(b, n))
        return -ENOBUFS;
    if (n)
        memcpy(b->base + b->len, p, n);
    b->len += n;
    b->base[b->len] = '\0';
    return 0;
}

/** Appends a NUL-terminated string. Returns 0 or -ENOBUFS. */
int hc_buf_puts(hc_buf_t *b, const char *s);
/** Writes the code point cp (at most 0x10FFFF) in UTF-8 at out, which has room for 4
 *  bytes; returns the bytes written. */
size_t hc_utf8_put(char *out, uint32_t cp);
/** The length (1-4) of the well-formed UTF-8 sequence s[0..n) begins with, or 0 when it
 *  begins with none (RFC 3629 §4: no overlongs, no surrogates, nothing past U+10FFFF). */
size_t hc_utf8_seq(const char *s, size_t n);
/** 1 when s[0..n) is well-formed UTF-8. */
int hc_utf8_valid(const char *s, size_t n);
/** Appends printf-formatted text. Returns 0 or -ENOBUFS (nothing appended). */
int hc_buf_printf(hc_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hc_buf_vprintf(hc_buf_t *b, const char *fmt, va_list ap);
/** Appends s as the inside of a JSON string (no quotes): escapes ", \, controls and
 *  U+2028/U+2029, and writes each ill-formed UTF-8 byte as U+FFFD (Go's encoding/json),
 *  so the text is valid JSON whatever s holds. */
int hc_buf_json_escape(hc_buf_t *b, const char *s, size_t n);
/** The value of hex digit c (either case), or -1 when c is not one. */
int hc_hex_digit(int c);
/** Percent-decodes n bytes of s (RFC 3986 §2.1; with plus set, '+' is a space as in a
 *  query string) into out, NUL-terminated. Returns the decoded length, -EINVAL for a
 *  malformed escape or an escaped NUL, -E2BIG when it does not fit in cap bytes. */
long hc_url_decode(const char *s, size_t n, char *out, size_t cap, int plus);
/** 1 when a URL path may carry byte c as it is, as Go's url.EscapedPath keeps a path
 *  (validEncoded: RFC 3986 pchar, '/', '%' and the brackets); others must be escaped. */
int hc_url_path_byte_valid(unsigned char c);
/** Drops the first n bytes (n <= len). */
void hc_buf_consume(hc_buf_t *b, size_t n);
/** Sets len to 0, keeping the memory. */
static inline void hc_buf_reset(hc_buf_t *b)
{
    b->len = 0;
    if (b->base)
        b->base[0] = '\0';
}

#endif
