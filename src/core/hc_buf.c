/* Growable byte buffer with a hard maximum (see hc_buf.h). */
#include "core/hc_buf.h"
#include "core/hc_alloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void hc_buf_init(hc_buf_t *b, size_t max)
{
    b->base = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void hc_buf_free(hc_buf_t *b)
{
    hc_free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}

int hc_buf_grow(hc_buf_t *b, size_t n)
{
    /* Checked before adding: len + n + 1 must neither wrap nor pass max. */
    if (n > SIZE_MAX - 1 - b->len || (b->max && b->len + n > b->max))
        return -ENOBUFS;
    size_t need = b->len + n + 1; /* room for the trailing NUL */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->max && cap > b->max + 1)
        cap = b->max + 1;
    b->base = hc_realloc(b->base, cap);
    b->cap = cap;
    return 0;
}

int hc_buf_puts(hc_buf_t *b, const char *s)
{
    return hc_buf_append(b, s, strlen(s));
}

int hc_buf_vprintf(hc_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || hc_buf_reserve(b, (size_t)n))
        return -ENOBUFS;
    vsnprintf(b->base + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int hc_buf_printf(hc_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = hc_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* Bytes that pass as they are: printable ASCII but the quote and the backslash. */
static int json_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

int hc_buf_json_escape(hc_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = b->len;
    for (size_t i = 0; i < n;) {
        size_t run = i;
        while (run < n && json_plain((unsigned char)s[run]))
            run++;
        if (run > i && hc_buf_append(b, s + i, run - i))
            goto fail;
        if ((i = run) == n)
            break;
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', 0};
        size_t elen = 2, used = 1;
        if (c >= 0x80) {
            /* As Go's encoding/json: an ill-formed byte is U+FFFD, and U+2028/U+2029 are
             * escaped (JavaScript reads them as line ends); the rest passes whole. */
            size_t seq = hc_utf8_seq(s + i, n - i);
            if (!seq)
                memcpy(esc, "\\ufffd", elen = 6);
            else if (seq == 3 && c == 0xe2 && (unsigned char)s[i + 1] == 0x80 &&
                     ((unsigned char)s[i + 2] | 1) == 0xa9)
                memcpy(esc, (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", elen = 6);
            else
                memcpy(esc, s + i, elen = seq);
            used = seq ? seq : 1;
        } else {
            switch (c) {
            case '"':
                esc[1] = '"';
                break;
            case '\\':
                esc[1] = '\\';
                break;
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            default:
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                elen = 6;
            }
        }
        if (hc_buf_append(b, esc, elen))
            goto fail;
        i += used;
    }
    return 0;
fail:
    b->len = start;
    if (b->base)
        b->base[start] = '\0';
    return -ENOBUFS;
}

void hc_buf_consume(hc_buf_t *b, size_t n)
{
    if (n >= b->len) {
        hc_buf_reset(b);
        return;
    }
    memmove(b->base, b->base + n, b->len - n);
    b->len -= n;
    b->base[b->len] = '\0';
}

int hc_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int hc_url_path_byte_valid(unsigned char c)
{
    return (unsigned char)((c | 0x20) - 'a') < 26 || (unsigned char)(c - '0') < 10 || c == '/' ||
           (c && c < 0x80 && strchr("-._~!$&'()*+,;=:@[]%", c));
}

long hc_url_decode(const char *s, size_t n, char *out, size_t cap, int plus)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hc_hex_digit((unsigned char)s[i + 1]) : -1;
            int lo = hi >= 0 ? hc_hex_digit((unsigned char)s[i + 2]) : -1;
            if (lo < 0 || (hi | lo) == 0)
                return -EINVAL;
            c = hi << 4 | lo;
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (o + 1 >= cap)
            return -E2BIG;
        out[o++] = (char)c;
    }
    if (!cap)
        return -E2BIG;
    out[o] = '\0';
    return (long)o;
}

size_t hc_utf8_seq(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = n ? p[0] : 0x80, min, cp;
    size_t need;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        need = 1, min = 0x80, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        need = 2, min = 0x800, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        need = 3, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if (n <= need)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need + 1;
}

int hc_utf8_valid(const char *s, size_t n)
{
    size_t i = 0, k;
    while (i < n && (k = hc_utf8_seq(s + i, n - i)))
        i += k;
    return i == n;
}

size_t hc_utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}
