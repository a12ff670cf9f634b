/* payload.data as Umami stores it (src/lib/data.ts flattenJSON/getDataType and the
 * event_data/session_data writers): nested objects flattened into dotted keys, each leaf
 * typed 1 string, 2 number, 3 boolean, 4 date, 5 array (JSON.stringify), with string
 * values produced the way JavaScript would (toFixed(4), toISOString, JSON.stringify). */
#include "analytics/analytics_payload.h"

#include "analytics/analytics_url.h"
#include "core/hc_alloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DATA_MAX_ROWS 100
#define DATA_MAX_DEPTH 8
#define DATA_VALUE_MAX 500 /* event_data.string_value varchar(500), in characters */
#define JSON_MAX_DEPTH 32  /* arrays serialized for data_type 5 */

/* Number of characters (code points) in s[0..n). */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            c++;
    return c;
}

/* Byte length of the first max characters of s[0..n). */
static size_t utf8_prefix(const char *s, size_t n, size_t max)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80 && c++ == max)
            return i;
    return n;
}

/* ---- JavaScript number formatting ---- */

/* Number.prototype.toString() (ECMA-262 Number::toString): the shortest digits that
 * round-trip, placed as JavaScript places them. */
static void js_number(double x, char *out, size_t cap)
{
    if (x == 0) {
        snprintf(out, cap, "0");
        return;
    }
    if (!isfinite(x)) {
        snprintf(out, cap, isnan(x) ? "NaN" : x < 0 ? "-Infinity" : "Infinity");
        return;
    }
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, x);
        if (strtod(e, NULL) == x)
            break;
    }
    /* e = [-]d[.ddd]e[+-]XX: collect digits and the decimal exponent n (x = 0.digits*10^n) */
    const char *p = e;
    int neg = *p == '-';
    if (neg)
        p++;
    char digits[24];
    int k = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = '\0';
    int n = atoi(p + 1) + 1;
    char t[64];
    size_t o = 0;
    if (neg)
        t[o++] = '-';
    if (k <= n && n <= 21) {
        memcpy(t + o, digits, (size_t)k);
        o += (size_t)k;
        for (int i = k; i < n; i++)
            t[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(t + o, digits, (size_t)n);
        o += (size_t)n;
        t[o++] = '.';
        memcpy(t + o, digits + n, (size_t)(k - n));
        o += (size_t)(k - n);
    } else if (-6 < n && n <= 0) {
        t[o++] = '0';
        t[o++] = '.';
        for (int i = 0; i < -n; i++)
            t[o++] = '0';
        memcpy(t + o, digits, (size_t)k);
        o += (size_t)k;
    } else {
        t[o++] = digits[0];
        if (k > 1) {
            t[o++] = '.';
            memcpy(t + o, digits + 1, (size_t)(k - 1));
            o += (size_t)(k - 1);
        }
        o += (size_t)snprintf(t + o, sizeof(t) - o, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
    t[o] = '\0';
    snprintf(out, cap, "%s", t);
}

/* Number.prototype.toFixed(4): round half up on the exact decimal expansion;
 * numbers of magnitude 1e21 and more print as toString() does. */
static void js_to_fixed4(double x, char *out, size_t cap)
{
    if (!isfinite(x) || fabs(x) >= 1e21) {
        js_number(x, out, cap);
        return;
    }
    char s[400];
    /* glibc prints the exact binary value; 60 fraction digits decide the rounding */
    snprintf(s, sizeof(s), "%.60f", fabs(x));
    char *dot = strchr(s, '.');
    size_t keep = (size_t)(dot - s) + 5; /* integer part, '.', four digits */
    int up = dot[5] >= '5';
    s[keep] = '\0';
    for (size_t i = keep; up && i-- > 0;) {
        if (s[i] == '.')
            continue;
        if (s[i] == '9') {
            s[i] = '0';
        } else {
            s[i]++;
            up = 0;
        }
    }
    /* below 1e21 the result has at most 28 characters; the check only bounds the copy */
    size_t len = strlen(s), o = 0;
    if (len + 3 > cap) {
        out[0] = '\0';
        return;
    }
    if (x < 0)
        out[o++] = '-';
    if (up)
        out[o++] = '1';
    memcpy(out + o, s, len + 1);
}

/* ---- JSON.stringify ---- */

typedef struct jbuf {
    char *p;
    size_t n, cap;
    int over;
} jbuf_t;

static void jb_put(jbuf_t *b, const char *s, size_t n)
{
    if (b->over || b->n + n >= b->cap) {
        b->over = 1;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void jb_str(jbuf_t *b, const char *s, size_t n)
{
    jb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            jb_put(b, esc, 2);
        } else if (c < 0x20) {
            const char *named = c == '\b'   ? "\\b"
                                : c == '\f' ? "\\f"
                                : c == '\n' ? "\\n"
                                : c == '\r' ? "\\r"
                                : c == '\t' ? "\\t"
                                            : NULL;
            if (named) {
                jb_put(b, named, 2);
            } else {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                jb_put(b, esc, 6);
            }
        } else {
            jb_put(b, s + i, 1);
        }
    }
    jb_put(b, "\"", 1);
}

/* 1 when key is a canonical array index ("0", "17"; not "01"): JavaScript enumerates
 * such keys first, in numeric order. */
static int index_key(const char *k, unsigned long *v)
{
    size_t n = strlen(k);
    if (n == 0 || n > 10 || (n > 1 && k[0] == '0') || strspn(k, "0123456789") != n)
        return 0;
    *v = strtoul(k, NULL, 10);
    return *v < 4294967295UL;
}

typedef struct okey {
    const char *key;
    json_t *value;
    unsigned long index;
    int is_index;
    size_t pos;
} okey_t;

static int okey_cmp(const void *a, const void *b)
{
    const okey_t *x = a, *y = b;
    if (x->is_index != y->is_index)
        return x->is_index ? -1 : 1;
    if (x->is_index)
        return x->index < y->index ? -1 : x->index > y->index;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* obj's members in Object.entries order (hc_malloc'd array of *n). */
static okey_t *object_entries(const json_t *obj, size_t *n)
{
    size_t cnt = json_object_size(obj), i = 0;
    okey_t *e = hc_calloc(cnt ? cnt : 1, sizeof(*e));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        e[i].key = k;
        e[i].value = v;
        e[i].is_index = index_key(k, &e[i].index);
        e[i].pos = i;
        i++;
    }
    qsort(e, i, sizeof(*e), okey_cmp);
    *n = i;
    return e;
}

static void js_stringify(const json_t *v, jbuf_t *b, int depth)
{
    char num[64];
    if (depth > JSON_MAX_DEPTH) {
        b->over = 1;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n;
        okey_t *e = object_entries(v, &n);
        jb_put(b, "{", 1);
        for (size_t i = 0; i < n && !b->over; i++) {
            if (i)
                jb_put(b, ",", 1);
            jb_str(b, e[i].key, strlen(e[i].key));
            jb_put(b, ":", 1);
            js_stringify(e[i].value, b, depth + 1);
        }
        jb_put(b, "}", 1);
        hc_free(e);
        break;
    }
    case JSON_ARRAY:
        jb_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v) && !b->over; i++) {
            if (i)
                jb_put(b, ",", 1);
            js_stringify(json_array_get(v, i), b, depth + 1);
        }
        jb_put(b, "]", 1);
        break;
    case JSON_STRING:
        jb_str(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        js_number(json_number_value(v), num, sizeof(num));
        jb_put(b, num, strlen(num));
        break;
    case JSON_TRUE:
        jb_put(b, "true", 4);
        break;
    case JSON_FALSE:
        jb_put(b, "false", 5);
        break;
    default:
        jb_put(b, "null", 4);
        break;
    }
}

/* ---- dates ---- */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Umami's DATETIME_REGEX, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?(Z|\+\d{2}:\d{2})?$/,
 * then `new Date(s).toISOString()` as V8 computes it (out of range -> not a date:
 * Umami would fail with a RangeError; hearth keeps such values as strings). */
static int iso_date(const char *s, size_t n, char *iso, size_t cap)
{
    int Y, M, D, h, m, sec, ms = 0, oh = 0, om = 0;
    if (n < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &m) || digits(s + 17, 2, &sec))
        return -1;
    size_t i = 19;
    if (i < n && s[i] == '.') {
        if (n < i + 4 || digits(s + i + 1, 3, &ms))
            return -1;
        i += 4;
    }
    if (i < n && s[i] == 'Z') {
        i++;
    } else if (i < n && s[i] == '+') {
        if (n < i + 6 || digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || digits(s + i + 4, 2, &om))
            return -1;
        i += 6;
    }
    if (i != n)
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || m > 59 || sec > 59 || oh > 23 || om > 59 ||
        (h > 24 || (h == 24 && (m || sec || ms))))
        return -1;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    time_t t = timegm(&tm) - (time_t)(oh * 3600 + om * 60);
    struct tm u;
    if (!gmtime_r(&t, &u))
        return -1;
    int year = u.tm_year + 1900;
    int len;
    if (year >= 0 && year <= 9999)
        len = snprintf(iso, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, u.tm_mon + 1,
                       u.tm_mday, u.tm_hour, u.tm_min, u.tm_sec, ms);
    else
        len = snprintf(iso, cap, "%c%06d-%02d-%02dT%02d:%02d:%02d.%03dZ", year < 0 ? '-' : '+',
                       abs(year), u.tm_mon + 1, u.tm_mday, u.tm_hour, u.tm_min, u.tm_sec, ms);
    return len > 0 && (size_t)len < cap ? 0 : -1;
}

/* ---- flattening ---- */

typedef struct flat {
    analytics_data_row_t *rows;
    size_t n;
} flat_t;

static char *dup_chars(const char *s, size_t n, size_t max_chars)
{
    size_t len = utf8_prefix(s, n, max_chars);
    char *p = hc_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* createKeyValue + getStringValue for one leaf. */
static void leaf(analytics_data_row_t *r, const json_t *v)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (iso_date(s, n, r->date_value, sizeof(r->date_value)) == 0) {
            r->data_type = 4;
            r->string_value = hc_strdup(r->date_value);
        } else {
            r->data_type = 1;
            r->string_value = dup_chars(s, n, DATA_VALUE_MAX);
        }
        break;
    }
    case JSON_INTEGER:
    case JSON_REAL:
        r->data_type = 2;
        r->number_value = json_number_value(v);
        r->has_number = 1;
        js_to_fixed4(r->number_value, buf, sizeof(buf));
        r->string_value = hc_strdup(buf);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        r->data_type = 3;
        r->string_value = hc_strdup(json_is_true(v) ? "true" : "false");
        break;
    default: { /* arrays and null: typeof 'object' -> JSON.stringify */
        char tmp[4 * DATA_VALUE_MAX + 8];
        jbuf_t b = {tmp, 0, sizeof(tmp), 0};
        tmp[0] = '\0';
        js_stringify(v, &b, 0);
        r->data_type = 5;
        /* longer than the column: stored as NULL, as Umami's getStoredStringValue does */
        if (!b.over && utf8_chars(tmp, b.n) <= DATA_VALUE_MAX)
            r->string_value = hc_strdup(tmp);
        break;
    }
    }
}

static int flatten(const json_t *obj, const char *prefix, size_t plen, int depth, flat_t *f)
{
    if (depth > DATA_MAX_DEPTH || json_object_size(obj) > DATA_MAX_ROWS)
        return -EINVAL;
    size_t n;
    okey_t *e = object_entries(obj, &n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* data_key is at most 500 bytes, cut at a character boundary */
        char full[2 * sizeof(f->rows[0].key)], key[sizeof(f->rows[0].key)];
        int fl = snprintf(full, sizeof(full), "%.*s%s%.520s", (int)plen, prefix, plen ? "." : "",
                          e[i].key);
        analytics_copy_utf8(key, sizeof(key), full, fl > 0 ? (size_t)fl : 0);
        json_t *v = e[i].value;
        if (json_is_object(v)) {
            rc = flatten(v, key, strlen(key), depth + 1, f);
            continue;
        }
        if (f->n == DATA_MAX_ROWS) {
            rc = -EINVAL;
            break;
        }
        analytics_data_row_t *r = &f->rows[f->n++];
        memset(r, 0, sizeof(*r));
        memcpy(r->key, key, strlen(key) + 1);
        leaf(r, v);
    }
    hc_free(e);
    return rc;
}

int analytics_data_flatten(const json_t *data, analytics_data_row_t **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (!data)
        return 0;
    if (!json_is_object(data))
        return -EINVAL;
    flat_t f = {hc_calloc(DATA_MAX_ROWS, sizeof(analytics_data_row_t)), 0};
    int rc = flatten(data, "", 0, 1, &f);
    if (rc < 0 || f.n == 0) {
        analytics_data_free(f.rows, f.n);
        return rc;
    }
    *rows = f.rows;
    *n = f.n;
    return 0;
}

void analytics_data_free(analytics_data_row_t *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++)
        hc_free(rows[i].string_value);
    hc_free(rows);
}
