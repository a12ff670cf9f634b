/* Umami v3's identities (src/lib/crypto.ts and the /api/send route): sha512 hashes, the
 * secret, UUIDv5 names, rotating session/visit salts and the x-umami-cache token. Pure
 * functions over OpenSSL; the test vector of the reference pins every step. */
#include "analytics/analytics_id.h"
#include "analytics/analytics_keyhash.h"

#include "core/hc_alloc.h"
#include "core/hc_jwt.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>

/* RFC 4122 Appendix C: the DNS namespace, 6ba7b810-9dad-11d1-80b4-00c04fd430c8. */
static const unsigned char ns_dns[16] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                         0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};

#define VISIT_TTL_S 1800       /* a cached visit lasts 30 minutes from its first event */
#define IAT_MAX 253402300799LL /* a token's iat: seconds up to year 9999 */

static void hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* SHA-512 and SHA-1 fetched once: EVP_sha512() makes every EVP_DigestInit_ex look the
 * algorithm up again in the provider store. Kept for the process's life. */
static EVP_MD *md_sha512, *md_sha1;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
    md_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
    md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    if (!md_sha512 || !md_sha1)
        abort();
}

static const EVP_MD *md_get(int sha1)
{
    pthread_once(&md_once, md_fetch);
    return sha1 ? md_sha1 : md_sha512;
}

/* The digest of parts concatenated, as Umami's hash() joins its arguments with ''. */
static void digest_parts(const EVP_MD *md, const unsigned char *prefix, size_t prefix_len,
                         const char *const *parts, size_t n, unsigned char *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned len = 0;
    if (!ctx || !EVP_DigestInit_ex(ctx, md, NULL))
        abort();
    if (prefix_len)
        EVP_DigestUpdate(ctx, prefix, prefix_len);
    for (size_t i = 0; i < n; i++)
        if (parts[i])
            EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
    EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
}

void analytics_hash(char out[ANALYTICS_HASH_HEX + 1], const char *const *parts, size_t n)
{
    unsigned char md[64];
    digest_parts(md_get(0), NULL, 0, parts, n, md);
    hex(out, md, sizeof(md));
}

void analytics_secret(char out[ANALYTICS_HASH_HEX + 1], const char *app_secret,
                      const char *hash_salt, const char *database_url)
{
    const char *key = database_url;
    if (app_secret && *app_secret)
        key = app_secret;
    else if (hash_salt && *hash_salt)
        key = hash_salt;
    analytics_hash(out, &key, 1);
}

void analytics_uuid_format(char out[ANALYTICS_UUID_LEN + 1], const unsigned char b[16])
{
    static const unsigned char at[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
    static const char digits[] = "0123456789abcdef";
    memset(out, '-', ANALYTICS_UUID_LEN);
    for (size_t i = 0; i < 16; i++) {
        out[at[i]] = digits[b[i] >> 4];
        out[at[i] + 1] = digits[b[i] & 15];
    }
    out[ANALYTICS_UUID_LEN] = '\0';
}

void analytics_uuid(char out[ANALYTICS_UUID_LEN + 1], const char *secret, const char *const *parts,
                    size_t n)
{
    /* Umami: uuid(...args) = v5(hash(...args, secret()), DNS). At most 8 parts. */
    const char *all[9];
    size_t k = n < 8 ? n : 8;
    memcpy(all, parts, k * sizeof(*all));
    all[k] = secret;
    char name[ANALYTICS_HASH_HEX + 1];
    analytics_hash(name, all, k + 1);
    /* RFC 4122 §4.3: SHA-1(namespace || name), version 5, variant 10xx. */
    unsigned char md[20];
    const char *np = name;
    digest_parts(md_get(1), ns_dns, sizeof(ns_dns), &np, 1, md);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    analytics_uuid_format(out, md);
}

void analytics_uuid4(char out[ANALYTICS_UUID_LEN + 1])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        abort();
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    analytics_uuid_format(out, b);
}

int analytics_uuid_valid(const char *s)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    static const unsigned char hex[256] = {['0' ... '9'] = 1, ['a' ... 'f'] = 1, ['A' ... 'F'] = 1};
    if (!s)
        return 0;
    const char *p = s;
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++, p++)
            if (!hex[(unsigned char)*p])
                return 0;
        if (g < 4 && *p++ != '-')
            return 0;
    }
    return *p == '\0';
}

void analytics_uuid_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s + 32);
}

/* JavaScript's Date.prototype.toUTCString: "Fri, 01 May 2026 00:00:00 GMT". */
static void utc_string(char *out, size_t cap, int64_t secs)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof(tm)); /* out of range: callers bound their times */
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Start of the month/week (date-fns startOfWeek: Sunday)/day/hour of t, in UTC (Umami
 * runs in the server's zone, UTC in its container). */
static int64_t period_start(int64_t secs, int period)
{
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof(tm)); /* out of range: callers bound their times */
    int64_t day_start = secs - (tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
    switch (period) {
    case 'M':
        return day_start - (int64_t)(tm.tm_mday - 1) * 86400;
    case 'W':
        return day_start - (int64_t)tm.tm_wday * 86400;
    case 'D':
        return day_start;
    default: /* hour */
        return secs - (tm.tm_min * 60 + tm.tm_sec);
    }
}

/* The start of the period after the one starting at start. */
static int64_t period_next(int64_t start, int period)
{
    switch (period) {
    case 'M':
        return period_start(start + 32 * 86400, 'M');
    case 'W':
        return start + 7 * 86400;
    case 'D':
        return start + 86400;
    default:
        return start + 3600;
    }
}

/* A salt stays the same for its whole period: each thread keeps the last one of each
 * kind (hour, day, week, month) with the seconds it covers. */
typedef struct salt_memo {
    int64_t from, to; /* [from, to); to == from when empty */
    char hex[ANALYTICS_HASH_HEX + 1];
} salt_memo_t;

static _Thread_local salt_memo_t salt_memos[4];

/* Writes the salt of the period holding secs into out; returns the period's start. */
static int64_t salt(char out[ANALYTICS_HASH_HEX + 1], int64_t secs, int period)
{
    salt_memo_t *m = &salt_memos[period == 'M' ? 0 : period == 'W' ? 1 : period == 'D' ? 2 : 3];
    if (secs < m->from || secs >= m->to) {
        char s[64];
        int64_t start = period_start(secs, period);
        utc_string(s, sizeof(s), start);
        const char *p = s;
        analytics_hash(m->hex, &p, 1);
        m->from = start;
        m->to = period_next(start, period);
    }
    memcpy(out, m->hex, sizeof(m->hex));
    return m->from;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- the session id memo ---- */

enum { MEMO_KEY = ANALYTICS_UUID_LEN + 64 + 512 + 2 }; /* website, ip, user agent, separators */

typedef struct memo_slot {
    int64_t salt_from;  /* the session salt's period start */
    int64_t visit_from; /* the hour visit_id belongs to (INT64_MIN = none yet) */
    int rot;
    size_t len; /* 0 = empty */
    char session_id[ANALYTICS_UUID_LEN + 1];
    char visit_id[ANALYTICS_UUID_LEN + 1]; /* uuid(session_id, hour salt) */
    char key[MEMO_KEY];
} memo_slot_t;

struct analytics_id_memo {
    size_t mask;
    memo_slot_t *slots;
};

analytics_id_memo_t *analytics_id_memo_new(size_t slots)
{
    size_t n = 1;
    while (n < slots && n < 65536)
        n *= 2;
    analytics_id_memo_t *m = hc_calloc(1, sizeof(*m));
    m->slots = hc_calloc(n, sizeof(*m->slots));
    m->mask = n - 1;
    return m;
}

void analytics_id_memo_free(analytics_id_memo_t *m)
{
    if (!m)
        return;
    hc_free(m->slots);
    hc_free(m);
}

/* The session id of (website, ip, ua) under the session salt that starts at salt_from.
 * Returns the memo slot that now holds it (NULL without a memo). */
static memo_slot_t *session_of(analytics_event_t *ev, const char *secret, const char *session_salt,
                               int64_t salt_from, int rot, analytics_id_memo_t *memo)
{
    const char *parts[] = {ev->website_id, ev->ip, ev->user_agent, session_salt};
    char key[MEMO_KEY];
    size_t len = 0;
    for (int i = 0; memo && i < 3; i++) {
        size_t n = strlen(parts[i]);
        if (len + n + 1 > sizeof(key)) {
            memo = NULL; /* longer than the columns allow: not kept */
            break;
        }
        memcpy(key + len, parts[i], n);
        len += n;
        key[len++] = '\n'; /* no part holds a newline (a header cannot) */
    }
    memo_slot_t *slot = NULL;
    if (memo) {
        slot = &memo->slots[analytics_key_hash(key, len) & memo->mask];
        if (slot->len == len && slot->salt_from == salt_from && slot->rot == rot &&
            !memcmp(slot->key, key, len)) {
            memcpy(ev->session_id, slot->session_id, sizeof(ev->session_id));
            return slot;
        }
    }
    analytics_uuid(ev->session_id, secret, parts, 4);
    if (slot) {
        slot->salt_from = salt_from;
        slot->visit_from = INT64_MIN;
        slot->rot = rot;
        slot->len = len;
        memcpy(slot->key, key, len);
        memcpy(slot->session_id, ev->session_id, sizeof(slot->session_id));
    }
    return slot;
}

void analytics_ids(analytics_event_t *ev, const char *secret, const analytics_cache_t *cache,
                   enum analytics_salt_rotation rot, int64_t now_ms, int64_t *iat_out)
{
    analytics_ids_memo(ev, secret, cache, rot, now_ms, iat_out, NULL);
}

void analytics_ids_memo(analytics_event_t *ev, const char *secret, const analytics_cache_t *cache,
                        enum analytics_salt_rotation rot, int64_t now_ms, int64_t *iat_out,
                        analytics_id_memo_t *memo)
{
    int64_t created_ms = ev->has_timestamp || ev->created_at_ms ? ev->created_at_ms : now_ms;
    int64_t created = floor_div(created_ms, 1000), now = floor_div(now_ms, 1000);
    char session_salt[ANALYTICS_HASH_HEX + 1], visit_salt[ANALYTICS_HASH_HEX + 1];
    int period = rot == ANALYTICS_SALT_DAY ? 'D' : rot == ANALYTICS_SALT_WEEK ? 'W' : 'M';
    int64_t salt_from = salt(session_salt, created, period);
    int64_t hour_from = salt(visit_salt, created, 'H');

    memo_slot_t *slot = NULL;
    if (ev->distinct_id[0]) {
        const char *parts[] = {ev->website_id, ev->distinct_id};
        analytics_uuid(ev->session_id, secret, parts, 2);
    } else {
        slot = session_of(ev, secret, session_salt, salt_from, period, memo);
    }

    int64_t iat = cache && cache->iat ? cache->iat : now;
    int expired = !ev->has_timestamp && now - iat > VISIT_TTL_S;
    if (cache && cache->visit_id[0] && !expired) {
        memcpy(ev->visit_id, cache->visit_id, sizeof(ev->visit_id));
    } else if (slot && slot->visit_from == hour_from) {
        memcpy(ev->visit_id, slot->visit_id, sizeof(ev->visit_id));
    } else {
        const char *vparts[] = {ev->session_id, visit_salt};
        analytics_uuid(ev->visit_id, secret, vparts, 2);
        if (slot) {
            slot->visit_from = hour_from;
            memcpy(slot->visit_id, ev->visit_id, sizeof(slot->visit_id));
        }
    }
    /* A visit expires 30 minutes after the token's iat, unless the event is backdated. */
    if (expired)
        iat = now;
    if (iat_out)
        *iat_out = iat;
}

/* 1 when s may go into the token's JSON without escaping (uuid-like ids). */
static int plain_id(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              *s == '-'))
            return 0;
    return 1;
}

int analytics_cache_sign(char *out, size_t cap, const analytics_cache_t *c, const char *secret)
{
    if (!plain_id(c->website_id) || !plain_id(c->session_id) || !plain_id(c->visit_id))
        return -EINVAL;
    /* Umami's createToken({websiteId, sessionId, visitId, iat}): JSON.stringify order, and
     * an undefined websiteId (link and pixel events) is left out. */
    char payload[256];
    int n = snprintf(payload, sizeof(payload),
                     "{%s%s%s\"sessionId\":\"%s\",\"visitId\":\"%s\","
                     "\"iat\":%lld}",
                     c->website_id[0] ? "\"websiteId\":\"" : "", c->website_id,
                     c->website_id[0] ? "\"," : "", c->session_id, c->visit_id, (long long)c->iat);
    if (n < 0 || (size_t)n >= sizeof(payload))
        return -EINVAL;
    long len = hc_jwt_sign(payload, (size_t)n, secret, strlen(secret), out, cap);
    return len < 0 ? -ENOSPC : (int)len;
}

/* Copies a uuid-sized string member of o into dst ("" when absent); -1 when it has the
 * wrong type or size. */
static int copy_id(json_t *o, const char *key, char dst[ANALYTICS_UUID_LEN + 1])
{
    json_t *v = json_object_get(o, key);
    dst[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > ANALYTICS_UUID_LEN ||
        !plain_id(json_string_value(v)))
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

int analytics_cache_verify(const char *token, size_t len, const char *secret, analytics_cache_t *c)
{
    memset(c, 0, sizeof(*c));
    char payload[1024];
    if (!token || !secret || len > 2048)
        return -EINVAL;
    long n = hc_jwt_verify(token, len, secret, strlen(secret), payload, sizeof(payload));
    if (n < 0)
        return -EINVAL;
    json_t *o = json_loadb(payload, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    int rc = -EINVAL;
    if (!json_is_object(o))
        goto out;
    if (copy_id(o, "websiteId", c->website_id) < 0 || copy_id(o, "sessionId", c->session_id) < 0 ||
        copy_id(o, "visitId", c->visit_id) < 0)
        goto out;
    json_t *iat = json_object_get(o, "iat");
    if (json_is_integer(iat))
        c->iat = json_integer_value(iat);
    else if (json_is_real(iat) && json_real_value(iat) > -1e15 && json_real_value(iat) < 1e15)
        c->iat = (int64_t)json_real_value(iat);
    else if (iat && !json_is_null(iat))
        goto out;
    if (c->iat < 0 || c->iat > IAT_MAX) /* keeps now - iat (analytics_ids) in range */
        goto out;
    rc = 0;
out:
    json_decref(o);
    if (rc < 0)
        memset(c, 0, sizeof(*c));
    return rc;
}
