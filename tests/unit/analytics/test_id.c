/* Unit tests for analytics_id: the reference's Umami v3 test vector (secret, sessionId,
 * visitId, uuid(website,'user42'), the cache JWT byte for byte), the secret's
 * precedence, salt rotation by month/week (Sunday)/day, the 30-minute visit rule and
 * the cache token's verification failures. Expected values come from Python's
 * hashlib/uuid5/hmac run over the same formulas. */
#include "analytics/analytics_id.h"
#include "core/hc_jwt.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static const char db_url[] = "postgresql://umami:umami@db:5432/umami";
static const char website[] = "94db1cb1-74f4-4a40-ad6c-962362670409";
static const char ip[] = "203.0.113.7";
static const char ua[] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/120.0.0.0 Safari/537.36";
static const int64_t t_vector = 1779021296; /* 2026-05-17T12:34:56Z */
static const char session_vector[] = "bd386612-203a-5437-ba22-669563119fec";
static const char visit_vector[] = "0c8f8f3b-54b3-5d27-bf98-7fa06550328e";
static const char jwt_vector[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJ3ZWJzaXRlSWQiOiI5NGRiMWNiMS03NGY0LTRhNDAtYWQ2Yy05NjIzNjI2NzA0MDkiLCJzZXNzaW9uSWQiOiJi"
    "ZDM4NjYxMi0yMDNhLTU0MzctYmEyMi02Njk1NjMxMTlmZWMiLCJ2aXNpdElkIjoiMGM4ZjhmM2ItNTRiMy01ZDI3"
    "LWJmOTgtN2ZhMDY1NTAzMjhlIiwiaWF0IjoxNzc5MDIxMjk2fQ.OyvVXtuOljgFRpiEPCcuwuF-_"
    "UKZD1VtySEhhBZ9450";

static void vector_secret(char s[ANALYTICS_HASH_HEX + 1])
{
    analytics_secret(s, NULL, NULL, db_url);
}

static analytics_event_t vector_event(void)
{
    analytics_event_t ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.website_id, sizeof(ev.website_id), "%s", website);
    snprintf(ev.ip, sizeof(ev.ip), "%s", ip);
    snprintf(ev.user_agent, sizeof(ev.user_agent), "%s", ua);
    return ev;
}

static void test_hash_and_secret(void **state)
{
    (void)state;
    char h[ANALYTICS_HASH_HEX + 1], h2[ANALYTICS_HASH_HEX + 1];
    const char *ab[] = {"a", "b"}, *joined[] = {"ab"}, *with_null[] = {"a", NULL, "b"};
    analytics_hash(h, ab, 2);
    assert_string_equal(h, "2d408a0717ec188158278a796c689044361dc6fdde28d6f04973b80896e1823975"
                           "cdbf12eb63f9e0591328ee235d80e9b5bf1aa6a44f4617ff3caf6400eb172d");
    analytics_hash(h2, joined, 1);
    assert_string_equal(h, h2);
    analytics_hash(h2, with_null, 3); /* undefined joins as '' */
    assert_string_equal(h, h2);

    vector_secret(h);
    assert_int_equal(strlen(h), ANALYTICS_HASH_HEX);
    assert_memory_equal(h, "7ac8c8fff5e32a536e604c22968dd588", 32);
    /* APP_SECRET wins, then HASH_SALT (hearth), then DATABASE_URL; "" counts as unset */
    analytics_secret(h, "app", "salt", db_url);
    assert_memory_equal(h, "f43f799324a27fbdf95f67fae0bc55b3", 32);
    analytics_secret(h, "", "salt", db_url);
    assert_memory_equal(h, "2e3fce77cf8c4c7478a96d207c1c3971", 32);
    analytics_secret(h, NULL, "", db_url);
    assert_memory_equal(h, "7ac8c8fff5e32a536e604c22968dd588", 32);
}

static void test_vector_ids(void **state)
{
    (void)state;
    char secret[ANALYTICS_HASH_HEX + 1];
    vector_secret(secret);
    analytics_event_t ev = vector_event();
    int64_t iat = 0;
    /* now = the event time, no timestamp given: the clock stamps created_at */
    analytics_ids(&ev, secret, NULL, ANALYTICS_SALT_MONTH, t_vector * 1000 + 123, &iat);
    assert_string_equal(ev.session_id, session_vector);
    assert_string_equal(ev.visit_id, visit_vector);
    assert_int_equal(iat, t_vector);

    char u[ANALYTICS_UUID_LEN + 1];
    const char *parts[] = {website, "user42"};
    analytics_uuid(u, secret, parts, 2);
    assert_string_equal(u, "b3197dc6-049f-5bf3-873e-8931b1399120");
    /* with a distinct id the session ignores ip and UA */
    snprintf(ev.distinct_id, sizeof(ev.distinct_id), "user42");
    snprintf(ev.ip, sizeof(ev.ip), "198.51.100.1");
    analytics_ids(&ev, secret, NULL, ANALYTICS_SALT_MONTH, t_vector * 1000, &iat);
    assert_string_equal(ev.session_id, "b3197dc6-049f-5bf3-873e-8931b1399120");
}

static void test_vector_jwt(void **state)
{
    (void)state;
    char secret[ANALYTICS_HASH_HEX + 1], tok[512];
    vector_secret(secret);
    analytics_cache_t c;
    memset(&c, 0, sizeof(c));
    snprintf(c.website_id, sizeof(c.website_id), "%s", website);
    snprintf(c.session_id, sizeof(c.session_id), "%s", session_vector);
    snprintf(c.visit_id, sizeof(c.visit_id), "%s", visit_vector);
    c.iat = t_vector;
    int n = analytics_cache_sign(tok, sizeof(tok), &c, secret);
    assert_int_equal(n, strlen(jwt_vector));
    assert_string_equal(tok, jwt_vector);
    assert_int_equal(analytics_cache_sign(tok, (size_t)n, &c, secret), -ENOSPC);

    analytics_cache_t back;
    assert_int_equal(analytics_cache_verify(jwt_vector, strlen(jwt_vector), secret, &back), 0);
    assert_string_equal(back.website_id, website);
    assert_string_equal(back.session_id, session_vector);
    assert_string_equal(back.visit_id, visit_vector);
    assert_int_equal(back.iat, t_vector);
}

/* An HS256 token over payload with the analytics secret as key. */
static long sign_test_token(const char *payload, char *out, size_t cap, const char *secret)
{
    return hc_jwt_sign(payload, strlen(payload), secret, strlen(secret), out, cap);
}

static void test_cache_verify_rejects(void **state)
{
    (void)state;
    char secret[ANALYTICS_HASH_HEX + 1], other[ANALYTICS_HASH_HEX + 1], tok[512];
    vector_secret(secret);
    analytics_secret(other, "another", NULL, NULL);
    analytics_cache_t c;
    assert_int_equal(analytics_cache_verify(jwt_vector, strlen(jwt_vector), other, &c), -EINVAL);
    assert_string_equal(c.session_id, "");
    assert_int_equal(analytics_cache_verify("", 0, secret, &c), -EINVAL);
    assert_int_equal(analytics_cache_verify("x.y.z", 5, secret, &c), -EINVAL);
    char bad[sizeof(jwt_vector)];
    memcpy(bad, jwt_vector, sizeof(jwt_vector));
    bad[60] = bad[60] == 'A' ? 'B' : 'A';
    assert_int_equal(analytics_cache_verify(bad, strlen(bad), secret, &c), -EINVAL);
    /* signed, but not a cache payload: an id that is not uuid-shaped, a non-object */
    static const char *const payloads[] = {
        "{\"sessionId\":\"a\\\"b\"}", "[1,2]", "{\"visitId\":12}", "{\"iat\":\"x\"}", "nope",
        /* an iat now - iat would overflow on */
        "{\"iat\":-9223372036854775807}", "{\"iat\":9223372036854775807}"};
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        long n = sign_test_token(payloads[i], tok, sizeof(tok), secret);
        assert_true(n > 0);
        assert_int_equal(analytics_cache_verify(tok, (size_t)n, secret, &c), -EINVAL);
    }
    /* a link/pixel token has no websiteId, and a missing iat reads as 0 */
    long n = sign_test_token("{\"sessionId\":\"s\",\"visitId\":\"v\"}", tok, sizeof(tok), secret);
    assert_int_equal(analytics_cache_verify(tok, (size_t)n, secret, &c), 0);
    assert_string_equal(c.website_id, "");
    assert_string_equal(c.session_id, "s");
    assert_int_equal(c.iat, 0);
}

static void test_salt_rotation(void **state)
{
    (void)state;
    char secret[ANALYTICS_HASH_HEX + 1];
    vector_secret(secret);
    const int64_t wed = 1779264000; /* 2026-05-20T08:00:00Z, a Wednesday */
    static const struct {
        enum analytics_salt_rotation rot;
        const char *session;
    } cases[] = {
        {ANALYTICS_SALT_MONTH, "bd386612-203a-5437-ba22-669563119fec"}, /* Fri, 01 May */
        {ANALYTICS_SALT_WEEK, "c35e15b0-8850-5448-974e-b5970b3d8af6"},  /* Sun, 17 May */
        {ANALYTICS_SALT_DAY, "700eaa96-cb82-5e04-a2ce-52923c5a7af4"},   /* Wed, 20 May */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        analytics_event_t ev = vector_event();
        analytics_ids(&ev, secret, NULL, cases[i].rot, wed * 1000, NULL);
        assert_string_equal(ev.session_id, cases[i].session);
    }
    /* a backdated event uses its own time for the salts */
    analytics_event_t ev = vector_event();
    ev.has_timestamp = 1;
    ev.created_at_ms = t_vector * 1000;
    analytics_ids(&ev, secret, NULL, ANALYTICS_SALT_MONTH, wed * 1000, NULL);
    assert_string_equal(ev.session_id, session_vector);
    assert_string_equal(ev.visit_id, visit_vector);
    /* same hour, different minute: same visit */
    ev = vector_event();
    analytics_ids(&ev, secret, NULL, ANALYTICS_SALT_MONTH, (t_vector + 1500) * 1000, NULL);
    assert_string_equal(ev.visit_id, visit_vector);
}

/* The memo gives the ids a fresh computation gives: across rotations, salt periods
 * (the memo keeps a session id only for its period and a visit id only for its hour,
 * wed + 3600 being the next hour of the same session) and visitors. */
static void test_memo_matches(void **state)
{
    (void)state;
    char secret[ANALYTICS_HASH_HEX + 1];
    vector_secret(secret);
    analytics_id_memo_t *memo = analytics_id_memo_new(4); /* small: slots are shared */
    const int64_t wed = 1779264000;
    const int64_t times[] = {wed, wed + 60,   wed + 3600, t_vector, wed + 40 * 86400,
                             wed, wed + 86400};
    const char *ips[] = {"203.0.113.7", "203.0.113.8", "2001:db8::1"};
    for (int round = 0; round < 2; round++)
        for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++)
            for (int rot = ANALYTICS_SALT_MONTH; rot <= ANALYTICS_SALT_DAY; rot++)
                for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
                    analytics_event_t a = vector_event(), b = vector_event();
                    snprintf(a.ip, sizeof(a.ip), "%s", ips[i]);
                    snprintf(b.ip, sizeof(b.ip), "%s", ips[i]);
                    analytics_ids(&a, secret, NULL, rot, times[t] * 1000, NULL);
                    analytics_ids_memo(&b, secret, NULL, rot, times[t] * 1000, NULL, memo);
                    assert_string_equal(a.session_id, b.session_id);
                    assert_string_equal(a.visit_id, b.visit_id);
                }
    /* the vector itself through the memo, twice */
    for (int k = 0; k < 2; k++) {
        analytics_event_t ev = vector_event();
        ev.has_timestamp = 1;
        ev.created_at_ms = t_vector * 1000;
        analytics_ids_memo(&ev, secret, NULL, ANALYTICS_SALT_MONTH, wed * 1000, NULL, memo);
        assert_string_equal(ev.session_id, session_vector);
        assert_string_equal(ev.visit_id, visit_vector);
    }
    analytics_id_memo_free(memo);
}

static void test_visit_rollover(void **state)
{
    (void)state;
    char secret[ANALYTICS_HASH_HEX + 1];
    vector_secret(secret);
    const int64_t wed = 1779264000;
    analytics_cache_t c;
    memset(&c, 0, sizeof(c));
    snprintf(c.website_id, sizeof(c.website_id), "%s", website);
    snprintf(c.session_id, sizeof(c.session_id), "%s", session_vector);
    snprintf(c.visit_id, sizeof(c.visit_id), "%s", visit_vector);

    /* 30 minutes after iat: the cached visit continues and iat is not refreshed */
    c.iat = wed - 1800;
    analytics_event_t ev = vector_event();
    int64_t iat = 0;
    analytics_ids(&ev, secret, &c, ANALYTICS_SALT_MONTH, wed * 1000, &iat);
    assert_string_equal(ev.visit_id, visit_vector);
    assert_int_equal(iat, wed - 1800);

    /* one second more: a new visit from this hour's salt, iat = now */
    c.iat = wed - 1801;
    ev = vector_event();
    analytics_ids(&ev, secret, &c, ANALYTICS_SALT_MONTH, wed * 1000, &iat);
    assert_string_equal(ev.visit_id, "612b0063-d0bf-5603-ab60-69256d657ada");
    assert_int_equal(iat, wed);

    /* a backdated event never rolls the visit over */
    ev = vector_event();
    ev.has_timestamp = 1;
    ev.created_at_ms = (wed - 7200) * 1000;
    analytics_ids(&ev, secret, &c, ANALYTICS_SALT_MONTH, wed * 1000, &iat);
    assert_string_equal(ev.visit_id, visit_vector);
    assert_int_equal(iat, wed - 1801);

    /* a cache without iat counts as issued now */
    c.iat = 0;
    ev = vector_event();
    analytics_ids(&ev, secret, &c, ANALYTICS_SALT_MONTH, wed * 1000, &iat);
    assert_string_equal(ev.visit_id, visit_vector);
    assert_int_equal(iat, wed);
}

static void test_uuid_shapes(void **state)
{
    (void)state;
    assert_true(analytics_uuid_valid(website));
    assert_true(analytics_uuid_valid("94DB1CB1-74F4-4A40-AD6C-962362670409"));
    assert_true(analytics_uuid_valid("00000000-0000-0000-0000-000000000000"));
    assert_false(analytics_uuid_valid(NULL));
    assert_false(analytics_uuid_valid(""));
    assert_false(analytics_uuid_valid("94db1cb1-74f4-4a40-ad6c-96236267040"));
    assert_false(analytics_uuid_valid("94db1cb1-74f4-4a40-ad6c-9623626704090"));
    assert_false(analytics_uuid_valid("94db1cb1074f4-4a40-ad6c-962362670409"));
    assert_false(analytics_uuid_valid("94db1cb1-74f4-4a40-ad6c-96236267040g"));
    assert_false(analytics_uuid_valid("{94db1cb1-74f4-4a40-ad6c-962362670409}"));
    char a[ANALYTICS_UUID_LEN + 1], b[ANALYTICS_UUID_LEN + 1];
    analytics_uuid4(a);
    analytics_uuid4(b);
    assert_true(analytics_uuid_valid(a));
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_and_secret), cmocka_unit_test(test_vector_ids),
        cmocka_unit_test(test_vector_jwt),      cmocka_unit_test(test_cache_verify_rejects),
        cmocka_unit_test(test_salt_rotation),   cmocka_unit_test(test_visit_rollover),
        cmocka_unit_test(test_memo_matches),    cmocka_unit_test(test_uuid_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
