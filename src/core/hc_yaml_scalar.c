/* Scalar text for hc_yaml.c (see hc_yaml_scalar.h): core-schema resolution of plain scalars,
 * and quoted and block scalars decoded from the source itself (libfyaml 0.7.12 mis-decodes
 * adjacent '' escapes, white-space-only last lines, escaped spaces before line breaks and
 * empty block scalars, and leaks the text of some scalars). */
#include "core/hc_yaml_scalar.h"
#include "core/hc_alloc.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t span(const char *s, size_t n, const char *set)
{
    size_t i = 0;
    while (i < n && s[i] && strchr(set, s[i]))
        i++;
    return i;
}

/* ---- plain scalars: YAML 1.2.2 §10.3.2 "Tag Resolution" of the core schema ---- */

int hc_yaml_null_text(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

int hc_yaml_bool_text(const char *s, size_t n)
{
    if (n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4)))
        return 1;
    if (n == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5)))
        return 0;
    return -1;
}

#define DIGITS "0123456789"

/* 0o[0-7]+ and 0x[0-9a-fA-F]+ (no sign), or [-+]?[0-9]+. Returns 1 with *v, 0 when the
 * text is no int, -1 when it is one but does not fit. */
int hc_yaml_int_text(const char *s, size_t n, long long *v)
{
    char tmp[72];
    int base = 10;
    size_t i = 0;
    if (n >= 3 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        i = 2;
        if (span(s + i, n - i, base == 8 ? "01234567" : DIGITS "abcdefABCDEF") != n - i)
            return 0;
    } else {
        if (n && (s[0] == '-' || s[0] == '+'))
            i = 1;
        if (i == n || span(s + i, n - i, DIGITS) != n - i)
            return 0;
    }
    if (n >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    char *end;
    if (base == 10) {
        *v = strtoll(tmp, &end, 10);
        return errno ? -1 : 1;
    }
    unsigned long long u = strtoull(tmp + 2, &end, base);
    if (errno || u > (unsigned long long)INT64_MAX)
        return -1;
    *v = (long long)u;
    return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, and the .inf/.nan forms (which
 * return -1: JSON has no such numbers, and Kubernetes rejects them as well). */
int hc_yaml_float_text(const char *s, size_t n, double *v)
{
    size_t i = 0;
    if (n && (s[0] == '-' || s[0] == '+'))
        i = 1;
    const char *r = s + i;
    size_t rn = n - i;
    if ((rn == 4 && (!memcmp(r, ".inf", 4) || !memcmp(r, ".Inf", 4) || !memcmp(r, ".INF", 4))) ||
        (i == 0 && rn == 4 &&
         (!memcmp(r, ".nan", 4) || !memcmp(r, ".NaN", 4) || !memcmp(r, ".NAN", 4))))
        return -1;
    size_t d = span(s + i, n - i, DIGITS);
    i += d;
    if (i < n && s[i] == '.') {
        size_t f = span(s + i + 1, n - i - 1, DIGITS);
        if (!d && !f)
            return 0;
        i += 1 + f;
    } else if (!d) {
        return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t e = span(s + i, n - i, DIGITS);
        if (!e)
            return 0;
        i += e;
    }
    char tmp[352];
    if (i != n)
        return 0;
    if (n >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    *v = strtod(tmp, NULL);
    return isfinite(*v) ? 1 : -1;
}

/* ---- quoted and block scalars ---- */

typedef struct sbuf {
    char *p; /* sized by the caller for the worst case of the input */
    size_t n;
    size_t keep; /* flow scalars: length without the white space a line break trims */
} sbuf_t;

static int is_break(char c)
{
    return c == '\n' || c == '\r';
}

static int is_white(char c)
{
    return c == ' ' || c == '\t';
}

static void put_chars(sbuf_t *o, char c, size_t count)
{
    memset(o->p + o->n, c, count);
    o->n += count;
}

/* Index after the line break at s[i]: CR LF, CR or LF (YAML 1.2.2 §5.4). */
static size_t skip_break(const char *s, size_t n, size_t i)
{
    return i + (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n' ? 2 : 1);
}

/* After a line break in a flow scalar: skips the empty lines and the white space that
 * starts the next line (§6.5 l-empty, §7.3 s-flow-line-prefix); returns how many empty
 * lines there were. */
static size_t flow_empty_lines(const char *s, size_t n, size_t *i)
{
    size_t lines = 0;
    for (;;) {
        size_t j = *i;
        while (j < n && is_white(s[j]))
            j++;
        if (j == n || !is_break(s[j])) {
            *i = j;
            return lines;
        }
        lines++;
        *i = skip_break(s, n, j);
    }
}

static void put_utf8(sbuf_t *o, uint32_t c)
{
    static const unsigned char lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
    unsigned char *p = (unsigned char *)o->p + o->n;
    size_t len = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    for (size_t k = len - 1; k > 0; k--, c >>= 6)
        p[k] = (unsigned char)(0x80 | (c & 0x3f));
    p[0] = (unsigned char)(lead[len] | c);
    o->n += len;
}

/* The value of the digits hex digits at s[i..n) in *v, or -1. */
static int hex_value(const char *s, size_t n, size_t i, size_t digits, uint32_t *v)
{
    if (n - i < digits || span(s + i, digits, DIGITS "abcdefABCDEF") != digits)
        return -1;
    *v = 0;
    for (size_t k = 0; k < digits; k++) {
        char c = s[i + k];
        *v = *v << 4 | (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return 0;
}

/* The code point of a \x, \u or \U escape whose letter is at s[*i] (§5.7); a \u pair of
 * UTF-16 surrogates is one character, as in JSON (RFC 8259 §7). Moves *i past it. */
static int escape_code(const char *s, size_t n, size_t *i, uint32_t *c)
{
    size_t digits = s[*i] == 'x' ? 2 : s[*i] == 'u' ? 4 : 8;
    uint32_t lo;
    if (hex_value(s, n, *i + 1, digits, c))
        return -EINVAL;
    *i += 1 + digits;
    if (digits == 4 && *c >= 0xd800 && *c <= 0xdbff && n - *i >= 6 && s[*i] == '\\' &&
        s[*i + 1] == 'u' && !hex_value(s, n, *i + 2, 4, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
        *c = 0x10000 + ((*c - 0xd800) << 10) + (lo - 0xdc00);
        *i += 6;
    }
    return (*c >= 0xd800 && *c <= 0xdfff) || *c > 0x10ffff ? -EINVAL : 0;
}

/* The escape sequence whose backslash is at s[*i] (YAML 1.2.2 §5.7), other than an
 * escaped line break. Moves *i past it. Returns 0 or -EINVAL. */
static int dq_escape(sbuf_t *o, const char *s, size_t n, size_t *i)
{
    static const char from[] = "0abt\tnvfre \"/\\N_LP";
    static const uint32_t to[] = {0,  7,  8,  9,  9,  10,   11,   12,     13,
                                  27, 32, 34, 47, 92, 0x85, 0xa0, 0x2028, 0x2029};
    uint32_t c;
    if (++*i == n)
        return -EINVAL;
    const char *f = memchr(from, s[*i], sizeof(from) - 1);
    if (f) {
        put_utf8(o, to[f - from]);
        ++*i;
        return 0;
    }
    if (s[*i] != 'x' && s[*i] != 'u' && s[*i] != 'U')
        return -EINVAL;
    int rc = escape_code(s, n, i, &c);
    if (!rc)
        put_utf8(o, c);
    return rc;
}

/* Decodes the content s[0..n) of a single-quoted (dq 0) or double-quoted (dq 1) scalar
 * (§7.3.2: '' is one quote; §7.3.1: escapes; line folding §6.5: trailing white space is
 * trimmed, a lone line break becomes a space, each empty line a line feed). o holds
 * 2 * n bytes: no sequence grows more than that (\L is 2 bytes in, 3 out). */
static int flow_decode(sbuf_t *o, const char *s, size_t n, int dq)
{
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (is_break(c)) {
            o->n = o->keep;
            i = skip_break(s, n, i);
            size_t e = flow_empty_lines(s, n, &i);
            put_chars(o, e ? '\n' : ' ', e ? e : 1);
        } else if (dq && c == '\\' && i + 1 < n && is_break(s[i + 1])) {
            /* §7.3.1 s-double-escaped: the break goes, white space before it stays */
            i = skip_break(s, n, i + 1);
            put_chars(o, '\n', flow_empty_lines(s, n, &i));
        } else if (dq && c == '\\') {
            if (dq_escape(o, s, n, &i))
                return -EINVAL;
        } else {
            i += !dq && c == '\'' ? 2 : 1;
            put_chars(o, c, 1);
            if (is_white(c))
                continue;
        }
        o->keep = o->n;
    }
    return 0;
}

typedef struct block_head {
    int folded;
    int chomp;    /* -1 strip, 0 clip, 1 keep (§8.1.1.2) */
    unsigned ind; /* indentation indicator, 0 when auto-detected (§8.1.1.1) */
} block_head_t;

/* Reads the header of the block scalar whose content starts at src[start] (the line after
 * its header, §8.1.1). The indicator is the first '|' or '>' on that line at or after
 * from, the end of the last token before it (an earlier key may contain '|' or '>'). */
static int block_header(const char *src, size_t from, size_t start, block_head_t *h)
{
    size_t ls = start;
    if (ls && src[ls - 1] == '\n')
        ls--;
    if (ls && src[ls - 1] == '\r')
        ls--;
    while (ls && !is_break(src[ls - 1]))
        ls--;
    size_t i = from > ls ? from : ls;
    while (i < start && src[i] != '|' && src[i] != '>')
        i++;
    if (i == start)
        return -EINVAL;
    memset(h, 0, sizeof(*h));
    h->folded = src[i++] == '>';
    for (int k = 0; k < 2 && i < start; k++, i++) {
        if (src[i] == '-' || src[i] == '+')
            h->chomp = src[i] == '-' ? -1 : 1;
        else if (src[i] >= '1' && src[i] <= '9')
            h->ind = (unsigned)(src[i] - '0');
        else
            break;
    }
    return 0;
}

/* §8.1.1.1: the leading spaces of the first non-empty line, or of the longest line when
 * all are empty. */
static size_t block_auto_indent(const char *s, size_t n)
{
    size_t most = 0;
    for (size_t i = 0; i < n;) {
        size_t k = span(s + i, n - i, " ");
        if (i + k < n && !is_break(s[i + k]))
            return k;
        most = k > most ? k : most;
        i = i + k < n ? skip_break(s, n, i + k) : n;
    }
    return most;
}

/* Decodes the lines s[0..n) of a block scalar at content indentation indent: literal
 * (§8.1.2) keeps line breaks; folded (§8.1.3) folds a break between two lines that do not
 * start with white space into a space, or drops it when empty lines follow; chomping
 * (§8.1.1.2) decides the final break and trailing empty lines. o holds n bytes. */
static void block_decode(sbuf_t *o, const char *s, size_t n, const block_head_t *h, size_t indent)
{
    size_t empty = 0;
    int text = 0, spaced = 0, last_break = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + span(s + i, n - i < indent ? n - i : indent, " "), e = j;
        while (e < n && !is_break(s[e]))
            e++;
        if (j == e) {
            empty += e < n;
        } else {
            int sp = is_white(s[j]);
            if (text && h->folded && !sp && !spaced && !empty)
                put_chars(o, ' ', 1);
            else /* a break between lines stays, except where folded */
                put_chars(o, '\n', text && (!h->folded || sp || spaced) ? empty + 1 : empty);
            memcpy(o->p + o->n, s + j, e - j);
            o->n += e - j;
            text = 1;
            spaced = sp;
            empty = 0;
            last_break = e < n;
        }
        i = e < n ? skip_break(s, n, e) : n;
    }
    if (h->chomp >= 0 && text && last_break)
        put_chars(o, '\n', 1);
    if (h->chomp > 0)
        put_chars(o, '\n', empty);
}

/* Hands the decoded text to the caller, or frees it when decoding failed. */
static int scalar_out(sbuf_t *o, int rc, char **out, size_t *out_n)
{
    if (rc) {
        hc_free(o->p);
        o->p = NULL;
        o->n = 0;
    }
    *out = o->p;
    *out_n = o->n;
    return rc;
}

int hc_yaml_scalar_flow(const char *s, size_t n, int dq, char **out, size_t *out_n)
{
    sbuf_t o = {.p = hc_malloc(2 * n + 1)};
    return scalar_out(&o, flow_decode(&o, s, n, dq), out, out_n);
}

int hc_yaml_scalar_block(const char *src, size_t from, size_t start, size_t n, size_t parent,
                         char **out, size_t *out_n)
{
    const char *s = src + start;
    sbuf_t o = {.p = hc_malloc(2 * n + 1)};
    block_head_t h;
    int rc = block_header(src, from, start, &h);
    if (!rc)
        block_decode(&o, s, n, &h, h.ind ? parent + h.ind : block_auto_indent(s, n));
    return scalar_out(&o, rc, out, out_n);
}
