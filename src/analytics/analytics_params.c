/* The read API's parameters: units, time zones (TZif, RFC 8536), buckets and filters.
 * See analytics_params.h for the contracts. */
#include "analytics/analytics_params.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/hc_alloc.h"
#include "core/hc_buf.h"

/* Umami's filterable columns (src/lib/constants.ts FILTER_COLUMNS) in v3's schema: the
 * device and geo columns and distinct_id live on the session row. */
const analytics_field_t analytics_fields[] = {
    {"path", "url_path", 0},
    {"referrer", "referrer_domain", 0},
    {"title", "page_title", 0},
    {"query", "url_query", 0},
    {"hostname", "hostname", 0},
    {"event", "event_name", 0},
    {"tag", "tag", 0},
    {"utmSource", "utm_source", 0},
    {"utmMedium", "utm_medium", 0},
    {"utmCampaign", "utm_campaign", 0},
    {"utmContent", "utm_content", 0},
    {"utmTerm", "utm_term", 0},
    {"browser", "browser", 1},
    {"os", "os", 1},
    {"device", "device", 1},
    {"screen", "screen", 1},
    {"language", "language", 1},
    {"country", "country", 1},
    {"region", "region", 1},
    {"city", "city", 1},
    {"distinctId", "distinct_id", 1},
};
const size_t analytics_nfields = sizeof(analytics_fields) / sizeof(analytics_fields[0]);

int analytics_field_find(const char *name, size_t n)
{
    for (size_t i = 0; i < analytics_nfields; i++)
        if (strlen(analytics_fields[i].param) == n &&
            memcmp(analytics_fields[i].param, name, n) == 0)
            return (int)i;
    return -1;
}

/* ---- calendar (proleptic Gregorian, days since 1970-01-01) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* ---- units ---- */

static const char *const unit_names[] = {"minute", "hour", "day", "month", "year"};

int analytics_unit_parse(const char *s, size_t n, enum analytics_unit *out)
{
    for (int i = 0; i <= ANALYTICS_UNIT_YEAR; i++)
        if (strlen(unit_names[i]) == n && memcmp(unit_names[i], s, n) == 0) {
            *out = (enum analytics_unit)i;
            return 0;
        }
    return -EINVAL;
}

const char *analytics_unit_name(enum analytics_unit u)
{
    return unit_names[u];
}

/* date-fns differenceInMonths: whole calendar months from a to b (a <= b). */
static int64_t months_between(int64_t a_ms, int64_t b_ms)
{
    int64_t ay, by;
    unsigned am, ad, bm, bd;
    int64_t as = floor_div(a_ms, 1000), bs = floor_div(b_ms, 1000);
    civil_from_days(floor_div(as, 86400), &ay, &am, &ad);
    civil_from_days(floor_div(bs, 86400), &by, &bm, &bd);
    int64_t months = (by - ay) * 12 + (int64_t)bm - (int64_t)am;
    int64_t a_rest = (int64_t)ad * 86400 + (as - floor_div(as, 86400) * 86400);
    int64_t b_rest = (int64_t)bd * 86400 + (bs - floor_div(bs, 86400) * 86400);
    if (months > 0 && b_rest < a_rest)
        months--;
    return months;
}

enum analytics_unit analytics_unit_min(int64_t start_ms, int64_t end_ms)
{
    int64_t span = end_ms - start_ms;
    if (span < 0)
        span = 0;
    if (span / 60000 <= 60)
        return ANALYTICS_UNIT_MINUTE;
    if (span / 86400000 <= 30)
        return ANALYTICS_UNIT_HOUR;
    int64_t months = months_between(start_ms, end_ms);
    if (months <= 7)
        return ANALYTICS_UNIT_DAY;
    if (months <= 24)
        return ANALYTICS_UNIT_MONTH;
    return ANALYTICS_UNIT_YEAR;
}

enum analytics_unit analytics_unit_raise(enum analytics_unit want, int64_t start_ms, int64_t end_ms)
{
    enum analytics_unit min = analytics_unit_min(start_ms, end_ms);
    return want < min ? min : want;
}

/* ---- time zones ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int tz_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63 || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '+' || c == '-' || c == '/'))
            return 0;
    }
    return 1;
}

#define TZIF_MAX (256 * 1024)

/* Parses the version 2+ (64-bit) block of a TZif file (RFC 8536 §3). */
static int tz_parse(const unsigned char *d, size_t len, analytics_tz_t *tz)
{
    if (len < 44 || memcmp(d, "TZif", 4) != 0 || d[4] < '2')
        return -EBADMSG;
    uint32_t c[6];
    for (int i = 0; i < 6; i++)
        c[i] = be32(d + 20 + 4 * i);
    /* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
    size_t v1 = (size_t)c[3] * 5 + (size_t)c[4] * 6 + c[5] + (size_t)c[2] * 8 + c[1] + c[0];
    size_t h2 = 44 + v1;
    if (c[3] > 100000 || c[4] > 1000 || h2 + 44 > len || memcmp(d + h2, "TZif", 4) != 0)
        return -EBADMSG;
    for (int i = 0; i < 6; i++)
        c[i] = be32(d + h2 + 20 + 4 * i);
    size_t timecnt = c[3], typecnt = c[4];
    const unsigned char *p = d + h2 + 44;
    size_t need = timecnt * 9 + typecnt * 6;
    if (typecnt == 0 || typecnt > 256 || timecnt > 100000 || (size_t)(p - d) + need > len)
        return -EBADMSG;
    const unsigned char *times = p, *idx = p + timecnt * 8, *types = idx + timecnt;
    tz->off0 = (int32_t)be32(types);
    tz->n = timecnt;
    tz->at = hc_calloc(timecnt ? timecnt : 1, sizeof(int64_t));
    tz->off = hc_calloc(timecnt ? timecnt : 1, sizeof(int32_t));
    for (size_t i = 0; i < timecnt; i++) {
        if (idx[i] >= typecnt)
            return -EBADMSG;
        tz->at[i] = be64(times + 8 * i);
        tz->off[i] = (int32_t)be32(types + 6 * idx[i]);
    }
    return 0;
}

int analytics_tz_load(const char *dir, const char *name, analytics_tz_t **out)
{
    *out = NULL;
    analytics_tz_t *tz = hc_calloc(1, sizeof(*tz));
    if (!name || !name[0] || strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 ||
        strcmp(name, "GMT") == 0) {
        snprintf(tz->name, sizeof(tz->name), "UTC");
        tz->is_utc = 1;
        *out = tz;
        return 0;
    }
    if (!tz_name_ok(name)) {
        hc_free(tz);
        return -EINVAL;
    }
    snprintf(tz->name, sizeof(tz->name), "%s", name);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/usr/share/zoneinfo", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        hc_free(tz);
        return -ENOENT;
    }
    unsigned char *buf = hc_malloc(TZIF_MAX);
    size_t len = fread(buf, 1, TZIF_MAX, f);
    fclose(f);
    int rc = tz_parse(buf, len, tz);
    hc_free(buf);
    if (rc < 0) {
        analytics_tz_free(tz);
        return rc;
    }
    *out = tz;
    return 0;
}

void analytics_tz_free(analytics_tz_t *tz)
{
    if (!tz)
        return;
    hc_free(tz->at);
    hc_free(tz->off);
    hc_free(tz);
}

int32_t analytics_tz_offset(const analytics_tz_t *tz, int64_t t)
{
    if (!tz || tz->is_utc || tz->n == 0)
        return tz && !tz->is_utc ? tz->off0 : 0;
    if (t < tz->at[0])
        return tz->off0;
    size_t lo = 0, hi = tz->n; /* the last transition at or before t */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (tz->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->off[lo];
}

int analytics_tz_whole_hours(const analytics_tz_t *tz, int64_t from, int64_t to)
{
    if (!tz || tz->is_utc)
        return 1;
    if (analytics_tz_offset(tz, from) % 3600 != 0)
        return 0;
    for (size_t i = 0; i < tz->n; i++)
        if (tz->at[i] > from && tz->at[i] <= to && tz->off[i] % 3600 != 0)
            return 0;
    return 1;
}

/* ---- buckets ---- */

/* The UTC second whose local time is local, near the UTC second hint. */
static int64_t local_to_utc(const analytics_tz_t *tz, int64_t local, int64_t hint)
{
    int64_t u = local - analytics_tz_offset(tz, hint);
    int32_t off = analytics_tz_offset(tz, u);
    return local - off;
}

static int64_t truncate_local(enum analytics_unit u, int64_t local)
{
    int64_t y;
    unsigned m, d;
    switch (u) {
    case ANALYTICS_UNIT_MINUTE:
        return floor_div(local, 60) * 60;
    case ANALYTICS_UNIT_HOUR:
        return floor_div(local, 3600) * 3600;
    case ANALYTICS_UNIT_DAY:
        return floor_div(local, 86400) * 86400;
    case ANALYTICS_UNIT_MONTH:
        civil_from_days(floor_div(local, 86400), &y, &m, &d);
        return days_from_civil(y, m, 1) * 86400;
    case ANALYTICS_UNIT_YEAR:
    default:
        civil_from_days(floor_div(local, 86400), &y, &m, &d);
        return days_from_civil(y, 1, 1) * 86400;
    }
}

int64_t analytics_bucket_start(enum analytics_unit u, const analytics_tz_t *tz, int64_t t)
{
    int64_t local = t + analytics_tz_offset(tz, t);
    return local_to_utc(tz, truncate_local(u, local), t);
}

int64_t analytics_bucket_next(enum analytics_unit u, const analytics_tz_t *tz, int64_t b)
{
    int64_t y;
    unsigned m, d;
    if (u == ANALYTICS_UNIT_MINUTE)
        return b + 60;
    if (u == ANALYTICS_UNIT_HOUR)
        return b + 3600;
    int64_t local = b + analytics_tz_offset(tz, b), next;
    civil_from_days(floor_div(local, 86400), &y, &m, &d);
    if (u == ANALYTICS_UNIT_DAY)
        next = (days_from_civil(y, m, d) + 1) * 86400;
    else if (u == ANALYTICS_UNIT_MONTH)
        next = days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * 86400;
    else
        next = days_from_civil(y + 1, 1, 1) * 86400;
    return local_to_utc(tz, next, b + (next - local));
}

void analytics_label_local(int64_t local, int utc, char *out, size_t outlen)
{
    int64_t y;
    unsigned m, d;
    int64_t days = floor_div(local, 86400), secs = local - days * 86400;
    civil_from_days(days, &y, &m, &d);
    int hh = (int)(secs / 3600), mi = (int)(secs % 3600 / 60);
    if (utc)
        snprintf(out, outlen, "%04lld-%02u-%02uT%02d:%02d:00Z", (long long)y, m, d, hh, mi);
    else
        snprintf(out, outlen, "%04lld-%02u-%02u %02d:%02d:00", (long long)y, m, d, hh, mi);
}

void analytics_bucket_label(const analytics_tz_t *tz, int64_t b, char *out, size_t outlen)
{
    analytics_label_local(b + analytics_tz_offset(tz, b), !tz || tz->is_utc, out, outlen);
}

/* ---- filters ---- */

static const struct {
    const char *prefix;
    enum analytics_op op;
} op_prefixes[] = {
    {"eq.", ANALYTICS_OP_EQ},      {"neq.", ANALYTICS_OP_NEQ},
    {"c.", ANALYTICS_OP_CONTAINS}, {"dnc.", ANALYTICS_OP_NOT_CONTAINS},
    {"re.", ANALYTICS_OP_REGEX},   {"nre.", ANALYTICS_OP_NOT_REGEX},
};

int analytics_filter_parse(const char *raw, size_t n, analytics_filter_t *f)
{
    char tmp[ANALYTICS_FILTER_MAX + 8];
    long len = hc_url_decode(raw, n, tmp, sizeof(tmp), 1);
    if (len < 0)
        return (int)len;
    f->op = ANALYTICS_OP_EQ;
    const char *v = tmp;
    for (size_t i = 0; i < sizeof(op_prefixes) / sizeof(op_prefixes[0]); i++) {
        size_t pl = strlen(op_prefixes[i].prefix);
        if ((size_t)len >= pl && memcmp(tmp, op_prefixes[i].prefix, pl) == 0) {
            f->op = op_prefixes[i].op;
            v = tmp + pl;
            break;
        }
    }
    size_t vl = strlen(v);
    if (vl > ANALYTICS_FILTER_MAX)
        return -E2BIG;
    memcpy(f->value, v, vl + 1);
    return 0;
}
