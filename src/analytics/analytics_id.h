/* Umami v3's identities, computed exactly as Umami does so that ids line up with an
 * existing database (facts: ../shared/reference/analytics.md, "Identity"):
 *   hash(a, b, ...)  sha512 hex of the concatenation
 *   secret()         hash(APP_SECRET || HASH_SALT || DATABASE_URL)   (Umami: no HASH_SALT)
 *   uuid(a, ...)     UUIDv5 in the DNS namespace of hash(a, ..., secret())
 *   session          id ? uuid(website, id) : uuid(website, ip, ua, sessionSalt)
 *   visit            cache.visitId || uuid(session, visitSalt)
 * and the `x-umami-cache` token: an HS256 JWT over {websiteId,sessionId,visitId,iat}. */
#ifndef ANALYTICS_ID_H
#define ANALYTICS_ID_H

#include <stddef.h>
#include <stdint.h>

#include "analytics/analytics_event.h"

#define ANALYTICS_HASH_HEX 128

/** out = sha512 hex of parts[0..n) concatenated (NULL parts count as ""). */
void analytics_hash(char out[ANALYTICS_HASH_HEX + 1], const char *const *parts, size_t n);

/** The key everything is derived from: hash(app_secret) when app_secret is non-empty,
 *  else hash(hash_salt) when non-empty, else hash(database_url). */
void analytics_secret(char out[ANALYTICS_HASH_HEX + 1], const char *app_secret,
                      const char *hash_salt, const char *database_url);

/** out = uuid(parts..., secret) as Umami's uuid(): lower-case, dashed. */
void analytics_uuid(char out[ANALYTICS_UUID_LEN + 1], const char *secret, const char *const *parts,
                    size_t n);

/** Formats 16 bytes as a uuid: the dashed lower-case 8-4-4-4-12 form. */
void analytics_uuid_format(char out[ANALYTICS_UUID_LEN + 1], const unsigned char b[16]);

/** A random (v4) uuid, for event ids and new rows. */
void analytics_uuid4(char out[ANALYTICS_UUID_LEN + 1]);

/** 1 when s is a uuid Umami's zod schema accepts (8-4-4-4-12 hex), else 0. */
int analytics_uuid_valid(const char *s);

/** Lower-cases s in place (ASCII only): the one spelling of a uuid that PostgreSQL's uuid
 *  type stores, so SQLite's text comparisons find the same rows. */
void analytics_uuid_lower(char *s);

enum analytics_salt_rotation { ANALYTICS_SALT_MONTH, ANALYTICS_SALT_WEEK, ANALYTICS_SALT_DAY };

/** What a valid x-umami-cache token carried. */
typedef struct analytics_cache {
    char website_id[ANALYTICS_UUID_LEN + 1];
    char session_id[ANALYTICS_UUID_LEN + 1];
    char visit_id[ANALYTICS_UUID_LEN + 1];
    int64_t iat; /* seconds */
} analytics_cache_t;

/** Fills ev->session_id and ev->visit_id from ev (website_id, ip, user_agent,
 *  distinct_id, created_at_ms, has_timestamp) and the cache (NULL when none), following
 *  Umami's rules including the 30-minute visit rollover; *iat_out receives the iat the
 *  new cache token must carry. now_ms is the wall clock. */
void analytics_ids(analytics_event_t *ev, const char *secret, const analytics_cache_t *cache,
                   enum analytics_salt_rotation rot, int64_t now_ms, int64_t *iat_out);

/* Returning visitors hash the same (website, ip, user agent, session salt) again and
 * again: a memo remembers the session ids it computed, and each session's visit id for
 * the hour (keys compared in full, so no crafted input can take another visitor's id).
 * One per secret and per thread. */
typedef struct analytics_id_memo analytics_id_memo_t;

/** A memo of slots session ids (rounded up to a power of two, at most 65536). */
analytics_id_memo_t *analytics_id_memo_new(size_t slots);
void analytics_id_memo_free(analytics_id_memo_t *m);

/** analytics_ids with a memo (may be NULL) for the session and visit ids; the same results. */
void analytics_ids_memo(analytics_event_t *ev, const char *secret, const analytics_cache_t *cache,
                        enum analytics_salt_rotation rot, int64_t now_ms, int64_t *iat_out,
                        analytics_id_memo_t *memo);

/** Writes the HS256 JWT for c into out (NUL-terminated). Returns its length, or -ENOSPC. */
int analytics_cache_sign(char *out, size_t cap, const analytics_cache_t *c, const char *secret);

/** Verifies token (signature with secret, shape) and fills c. Returns 0 or -EINVAL. */
int analytics_cache_verify(const char *token, size_t len, const char *secret, analytics_cache_t *c);

#endif
