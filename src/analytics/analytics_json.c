/* The strict JSON reader of analytics_json.h. A walk reads one container level; the
 * containers inside it are validated by a scan that keeps one bit per open level (no
 * recursion) and come back as their text. Grammar: RFC 8259 §2-§7; strings must be UTF-8
 * as RFC 3629 §4 defines it (no overlong forms, surrogates or code points past U+10FFFF).
 * Beyond the RFC, as jansson does: \u0000 and lone surrogate escapes are refused, so are
 * numbers too large for a double, and nesting ends at ANALYTICS_JSON_DEPTH_MAX. */
#include "analytics/analytics_json.h"
#include "core/hc_buf.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { FIRST, BETWEEN, ENDED }; /* analytics_json_iter_t.state */

/* Bytes that stand for themselves in a string: printable ASCII but '"' and '\\'. */
static const unsigned char plain[256] = {
    [0x20 ... 0x21] = 1,
    [0x23 ... 0x5b] = 1,
    [0x5d ... 0x7f] = 1,
};

static int fail(analytics_json_iter_t *it, const char *at, const char *msg)
{
    if (!it->error) {
        it->error = msg;
        it->error_at = (size_t)(at - it->text);
    }
    it->state = ENDED;
    return -EINVAL;
}

/* Eight copies of the byte c, one in each byte of a word. */
#define BYTES(c) (0x0101010101010101ull * (unsigned char)(c))

/* Non-zero when a byte of v is zero (the classic word-at-a-time test; bits may also be
 * set above a zero byte, which does not change the answer). */
static uint64_t any_zero(uint64_t v)
{
    return (v - BYTES(1)) & ~v & BYTES(0x80);
}

/* The first byte at or after p that is not plain, or end. Eight bytes are tested at
 * once: a byte stops the scan when it is 0x80 or above, below 0x20 (any_zero with 0x20
 * subtracted, exact once no byte is 0x80 or above), '"' or '\\'. The lowest bit set
 * in the result is that of the first byte that stops it (the stray bits any_zero may
 * set lie above a zero byte), so no byte is looked at twice. */
static char *skip_plain(char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        x = __builtin_bswap64(x); /* p[0] in the low byte */
#endif
        uint64_t stop = (x & BYTES(0x80)) | ((x - BYTES(0x20)) & ~x & BYTES(0x80)) |
                        any_zero(x ^ BYTES('"')) | any_zero(x ^ BYTES('\\'));
        if (stop)
            return p + __builtin_ctzll(stop) / 8;
        p += 8;
    }
    while (p < end && plain[(unsigned char)*p])
        p++;
    return p;
}

/* RFC 8259 §2: whitespace is space, tab, line feed and carriage return. */
static char *skip_ws(char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* The length of the UTF-8 sequence at p (a byte >= 0x80), 0 when it is not well formed. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n = c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
    if (!n || (size_t)(end - p) < n)
        return 0;
    unsigned lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* a surrogate */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* past U+10FFFF */
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* The four hex digits at p, or -1. */
static long hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], lc = c | 0x20;
        int d = c >= '0' && c <= '9' ? c - '0' : lc >= 'a' && lc <= 'f' ? lc - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* The escape whose backslash is at p (RFC 8259 §7): its code point in *cp, surrogate
 * pairs joined. Returns the byte after it, or NULL when it is invalid. */
static char *read_escape(char *p, const char *end, unsigned long *cp)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (end - p < 2)
        return NULL;
    if (p[1] != 'u') {
        const char *e = p[1] ? strchr(from, p[1]) : NULL;
        if (!e)
            return NULL;
        *cp = (unsigned char)to[e - from];
        return p + 2;
    }
    long hi = hex4(p + 2, end);
    if (hi < 0 || (hi >= 0xdc00 && hi <= 0xdfff))
        return NULL;
    if (hi < 0xd800 || hi > 0xdbff) {
        *cp = (unsigned long)hi;
        return p + 6;
    }
    long lo = end - p >= 8 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8, end) : -1;
    if (lo < 0xdc00 || lo > 0xdfff)
        return NULL;
    *cp = 0x10000 + ((unsigned long)(hi - 0xd800) << 10) + (unsigned long)(lo - 0xdc00);
    return p + 12;
}

/* The string whose opening quote is at it->p. With decode, its value is written over its
 * text from the byte after the quote and NUL-terminated: an escape of 2, 6 or 12 bytes
 * gives 1, at most 3, or 4 bytes, so the value never outgrows the text. Without decode
 * the text is only validated and v is left as it is. */
static int read_string_full(analytics_json_iter_t *it, int decode, analytics_json_value_t *v)
{
    char *p = it->p + 1, *end = it->end, *s = p;
    char *w = NULL; /* where the next decoded byte goes, once an escape was decoded */
    for (;;) {
        if (w)
            while (p < end && plain[(unsigned char)*p])
                *w++ = *p++;
        else
            p = skip_plain(p, end);
        if (p == end)
            return fail(it, p, "premature end of input");
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c >= 0x80) {
            size_t n = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
            if (!n)
                return fail(it, p, "invalid UTF-8");
            for (size_t i = 0; w && i < n; i++)
                *w++ = p[i];
            p += n;
        } else if (c == '\\') {
            unsigned long cp;
            char *next = read_escape(p, end, &cp);
            if (!next)
                return fail(it, p, "invalid escape");
            if (cp == 0)
                return fail(it, p, "\\u0000 is not allowed");
            if (decode) {
                w = w ? w : p;
                w += hc_utf8_put(w, (uint32_t)cp);
            }
            p = next;
        } else {
            return fail(it, p, "control character in string");
        }
    }
    if (decode) {
        v->type = ANALYTICS_JSON_STRING;
        v->s = s;
        v->len = (size_t)((w ? w : p) - s);
        s[v->len] = '\0';
    }
    it->p = p + 1;
    return 0;
}

/* read_string_full for a string of plain bytes, the usual kind, done inline: its value is
 * its text, NUL-terminated over the closing quote. Any other goes to read_string_full. */
static inline int read_string(analytics_json_iter_t *it, int decode, analytics_json_value_t *v)
{
    char *s = it->p + 1, *p = skip_plain(s, it->end);
    if (p == it->end || *p != '"')
        return read_string_full(it, decode, v);
    if (decode) {
        v->type = ANALYTICS_JSON_STRING;
        v->s = s;
        v->len = (size_t)(p - s);
        *p = '\0';
    }
    it->p = p + 1;
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The number at it->p (RFC 8259 §6), as strtod reads it; one of 15 digits or fewer with
 * no fraction or exponent is exact without it. A magnitude past DBL_MAX is refused
 * (jansson's "real number overflow"); one below the smallest double becomes 0. */
static int read_number(analytics_json_iter_t *it, double *out)
{
    char *s = it->p, *end = it->end;
    char *p = s + (*s == '-'), *digits = p;
    if (p < end && *p == '0')
        p++;
    else if (p < end && is_digit(*p))
        while (p < end && is_digit(*p))
            p++;
    else
        return fail(it, s, "invalid number");
    int integer = 1;
    if (p < end && *p == '.') {
        if (++p == end || !is_digit(*p))
            return fail(it, p, "invalid number");
        while (p < end && is_digit(*p))
            p++;
        integer = 0;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return fail(it, p, "invalid number");
        while (p < end && is_digit(*p))
            p++;
        integer = 0;
    }
    /* in a valid document a number is followed by whitespace, ',' or a close, which
     * stops strtod where the grammar stopped */
    if (p == end)
        return fail(it, p, "premature end of input");
    if (*p != ',' && *p != ']' && *p != '}' && skip_ws(p, end) == p)
        return fail(it, p, "invalid number");
    if (integer && p - digits <= 15) {
        uint64_t n = 0;
        for (const char *d = digits; d < p; d++)
            n = n * 10 + (uint64_t)(*d - '0');
        *out = *s == '-' ? -(double)n : (double)n;
    } else {
        char *stop;
        errno = 0;
        double d = strtod(s, &stop);
        if (stop != p) /* a locale whose decimal point is not '.' */
            return fail(it, s, "invalid number");
        if (errno == ERANGE && fabs(d) == HUGE_VAL)
            return fail(it, s, "real number overflow");
        *out = d;
    }
    it->p = p;
    return 0;
}

static int read_literal(analytics_json_iter_t *it, analytics_json_value_t *v)
{
    static const struct {
        const char *text;
        size_t len;
        analytics_json_type_t type;
    } lits[] = {
        {"true", 4, ANALYTICS_JSON_TRUE},
        {"false", 5, ANALYTICS_JSON_FALSE},
        {"null", 4, ANALYTICS_JSON_NULL},
    };
    char *p = it->p;
    for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
        if (*p != lits[i].text[0])
            continue;
        if ((size_t)(it->end - p) < lits[i].len || memcmp(p, lits[i].text, lits[i].len))
            break;
        v->type = lits[i].type;
        it->p = p + lits[i].len;
        return 0;
    }
    return fail(it, p, "invalid token");
}

static int scan_container(analytics_json_iter_t *it, unsigned depth);

/* The value at it->p (a byte, as member_begin leaves it), nested at depth. A container
 * is validated and given as its text; a string is decoded when decode says so. */
static int read_value(analytics_json_iter_t *it, unsigned depth, int decode,
                      analytics_json_value_t *v)
{
    char *start = it->p;
    if (depth > ANALYTICS_JSON_DEPTH_MAX)
        return fail(it, start, "maximum parsing depth reached");
    v->depth = depth;
    switch (*start) {
    case '"':
        return read_string(it, decode, v);
    case '{':
    case '[':
        if (scan_container(it, depth) < 0)
            return -EINVAL;
        v->type = *start == '{' ? ANALYTICS_JSON_OBJECT : ANALYTICS_JSON_ARRAY;
        v->s = start;
        v->len = (size_t)(it->p - start);
        return 0;
    case 't':
    case 'f':
    case 'n':
        return read_literal(it, v);
    default:
        if (*start != '-' && !is_digit(*start))
            return fail(it, start, "invalid token");
        v->type = ANALYTICS_JSON_NUMBER;
        return read_number(it, &v->num);
    }
}

/* What comes before a member of the container that close ends: whitespace, the ','
 * after the member before, and for an object the key and ':'. Returns 1 with it->p on
 * the value's first byte (there is one), 0 when the container closed (it->p after it),
 * or -EINVAL. */
static int member_begin(analytics_json_iter_t *it, char close, int first, int decode,
                        analytics_json_value_t *key)
{
    char *p = skip_ws(it->p, it->end);
    if (p == it->end)
        return fail(it, p, "premature end of input");
    if (*p == close) {
        it->p = p + 1;
        return 0;
    }
    if (!first) {
        if (*p != ',')
            return fail(it, p, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
        p = skip_ws(p + 1, it->end);
    }
    if (close == '}') {
        if (p == it->end || *p != '"')
            return fail(it, p, "string expected");
        it->p = p;
        if (read_string(it, decode, key) < 0)
            return -EINVAL;
        p = skip_ws(it->p, it->end);
        if (p == it->end || *p != ':')
            return fail(it, p, "':' expected");
        p = skip_ws(p + 1, it->end);
    }
    if (p == it->end)
        return fail(it, p, "premature end of input");
    it->p = p;
    return 1;
}

/* Validates the container at it->p, nested at depth, and all it holds without changing
 * a byte; it->p ends after its close. Bit l of open[] says whether the level l below
 * it is an object. */
static int scan_container(analytics_json_iter_t *it, unsigned depth)
{
    uint64_t open[ANALYTICS_JSON_DEPTH_MAX / 64 + 1];
    unsigned level = 0;
    int first = 1;
    open[0] = *it->p == '{';
    it->p++;
    for (;;) {
        char close = open[level / 64] >> (level % 64) & 1 ? '}' : ']';
        analytics_json_value_t v;
        int rc = member_begin(it, close, first, 0, &v);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if (level == 0)
                return 0;
            level--;
            first = 0;
            continue;
        }
        char c = *it->p;
        if (c == '{' || c == '[') {
            if (depth + level + 1 > ANALYTICS_JSON_DEPTH_MAX)
                return fail(it, it->p, "maximum parsing depth reached");
            level++;
            uint64_t bit = 1ull << (level % 64), word = level % 64 ? open[level / 64] : 0;
            open[level / 64] = c == '{' ? word | bit : word & ~bit;
            it->p++;
            first = 1;
            continue;
        }
        if (read_value(it, depth + level + 1, 0, &v) < 0)
            return -EINVAL;
        first = 0;
    }
}

int analytics_json_open(analytics_json_iter_t *it, char *doc, size_t len,
                        analytics_json_type_t *type)
{
    static char empty[1];
    if (!doc) {
        doc = empty;
        len = 0;
    }
    *it = (analytics_json_iter_t){.p = doc, .end = doc + len, .text = doc, .depth = 1, .top = 1};
    char *p = skip_ws(doc, it->end);
    if (p == it->end || (*p != '{' && *p != '['))
        return fail(it, p, "'[' or '{' expected");
    *type = *p == '{' ? ANALYTICS_JSON_OBJECT : ANALYTICS_JSON_ARRAY;
    it->close = *p == '{' ? '}' : ']';
    it->p = p + 1;
    return 0;
}

void analytics_json_enter(analytics_json_iter_t *it, const analytics_json_value_t *v)
{
    *it = (analytics_json_iter_t){
        .p = v->s + 1,
        .end = v->s + v->len,
        .text = v->s,
        .depth = v->depth,
        .close = v->type == ANALYTICS_JSON_OBJECT ? '}' : ']',
    };
}

/* Moves the walk past the object whose inner walk analytics_json_next_into handed out,
 * once that walk is read to its end (here, for what its caller left unread). */
static int leave_inner(analytics_json_iter_t *it)
{
    analytics_json_iter_t *in = it->inner;
    size_t n;
    it->inner = NULL;
    if (in->state != ENDED)
        analytics_json_count(in, &n);
    if (in->error) {
        fail(it, it->text + in->error_at, in->error);
        return -EINVAL;
    }
    it->p = in->p;
    return 0;
}

/* One member of the walk, decoded or only validated; with inner, an object value is
 * handed out unread (analytics_json_next_into). */
static int step(analytics_json_iter_t *it, int decode, analytics_json_value_t *key,
                analytics_json_value_t *val, analytics_json_iter_t *inner)
{
    if (it->inner && leave_inner(it) < 0)
        return -EINVAL;
    if (it->state == ENDED)
        return it->error ? -EINVAL : 0;
    int rc = member_begin(it, it->close, it->state == FIRST, decode, key);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        it->state = ENDED;
        if (it->top && skip_ws(it->p, it->end) != it->end)
            return fail(it, skip_ws(it->p, it->end), "end of file expected");
        return 0;
    }
    it->state = BETWEEN;
    unsigned depth = it->depth + 1;
    if (inner && *it->p == '{' && depth <= ANALYTICS_JSON_DEPTH_MAX) {
        *val = (analytics_json_value_t){.type = ANALYTICS_JSON_OBJECT, .s = it->p, .depth = depth};
        *inner = (analytics_json_iter_t){
            .p = it->p + 1, .end = it->end, .text = it->text, .depth = depth, .close = '}'};
        it->inner = inner;
        return 1;
    }
    if (read_value(it, depth, decode, val) < 0)
        return -EINVAL;
    return 1;
}

int analytics_json_next(analytics_json_iter_t *it, analytics_json_value_t *key,
                        analytics_json_value_t *val)
{
    analytics_json_value_t unused;
    return step(it, 1, key ? key : &unused, val, NULL);
}

int analytics_json_next_into(analytics_json_iter_t *it, analytics_json_value_t *key,
                             analytics_json_value_t *val, analytics_json_iter_t *inner)
{
    analytics_json_value_t unused;
    return step(it, 1, key ? key : &unused, val, inner);
}

int analytics_json_count(analytics_json_iter_t *it, size_t *n)
{
    analytics_json_value_t key, val;
    int rc;
    *n = 0;
    while ((rc = step(it, 0, &key, &val, NULL)) == 1)
        (*n)++;
    return rc;
}
