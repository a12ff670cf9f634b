/* Fuzz target for hearth analytics' collection primitives: the input is one /api/send
 * body, handed to analytics_payload_parse (both REMOVE_TRAILING_SLASH settings) and read
 * as a /api/batch body, analytics_data_flatten (its payload.data, and the whole body when
 * it is an object), analytics_cache_verify (the body as an x-umami-cache token), a
 * sign/verify round trip of the event's ids, and the URL parser and User-Agent
 * classifiers on the raw bytes. Traps when a column is not valid UTF-8 (PostgreSQL would
 * refuse the row). The JSON reader itself has its own target, fuzz_analytics_json. */
#include "analytics/analytics_detect.h"
#include "analytics/analytics_id.h"
#include "analytics/analytics_payload.h"
#include "analytics/analytics_url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char secret[] = "7ac8c8fff5e32a536e604c22968dd588"; /* any hex key */

static int utf8_ok(const char *s)
{
    return analytics_utf8_valid(s, strlen(s));
}

static void check_rows(const json_t *data)
{
    analytics_data_row_t *rows;
    size_t n;
    if (analytics_data_flatten(data, &rows, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (!utf8_ok(rows[i].key) || rows[i].data_type < 1 || rows[i].data_type > 5 ||
            (rows[i].string_value && !utf8_ok(rows[i].string_value)))
            __builtin_trap();
    }
    analytics_data_free(rows, n);
}

/* The checks every parsed event passes: valid UTF-8 columns, one spelling of the
 * website id, and ids that survive a cache token's sign/verify round trip. */
static void check_event(analytics_event_t *ev)
{
    const char *cols[] = {
        ev->website_id,     ev->hostname,        ev->url_path,   ev->url_query,  ev->referrer_path,
        ev->referrer_query, ev->referrer_domain, ev->page_title, ev->event_name, ev->tag,
        ev->distinct_id,    ev->utm_source,      ev->gclid,      ev->user_agent, ev->screen,
        ev->language,       ev->currency};
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        if (!utf8_ok(cols[i]))
            __builtin_trap();
    if (!analytics_uuid_valid(ev->website_id) || strpbrk(ev->website_id, "ABCDEF"))
        __builtin_trap(); /* one spelling: lower case, as PostgreSQL stores it */
    if (ev->data)
        check_rows(ev->data);
    analytics_cache_t c = {0}, back;
    int64_t iat = 0;
    analytics_ids(ev, secret, NULL, ANALYTICS_SALT_MONTH, 1779021296000LL, &iat);
    memcpy(c.website_id, ev->website_id, sizeof(c.website_id));
    memcpy(c.session_id, ev->session_id, sizeof(c.session_id));
    memcpy(c.visit_id, ev->visit_id, sizeof(c.visit_id));
    c.iat = iat;
    char tok[512];
    int n = analytics_cache_sign(tok, sizeof(tok), &c, secret);
    if (n < 0 || analytics_cache_verify(tok, (size_t)n, secret, &back) < 0 ||
        strcmp(back.visit_id, ev->visit_id) || back.iat != iat)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char why[256];
    /* the parser rewrites the body: each reading gets a fresh copy of exactly its size */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    for (int slash = 0; slash < 2; slash++) {
        analytics_payload_opts_t o = {.remove_trailing_slash = slash};
        analytics_event_t ev;
        memcpy(copy, data, size);
        if (analytics_payload_parse(copy, size, &o, &ev, why, sizeof(why)) < 0)
            continue;
        check_event(&ev);
        analytics_event_clear(&ev);
    }
    /* the body as a /api/batch body */
    analytics_payload_batch_t b;
    size_t items;
    memcpy(copy, data, size);
    if (analytics_payload_batch_open(&b, copy, size, 1000, &items) == 0) {
        for (size_t i = 0; i < items; i++) {
            analytics_event_t ev;
            if (analytics_payload_batch_next(&b, NULL, &ev, why, sizeof(why)) == 0)
                check_event(&ev);
            analytics_event_clear(&ev);
        }
    }
    free(copy);
    json_t *whole = json_loadb(body, size, JSON_DECODE_INT_AS_REAL, NULL);
    if (json_is_object(whole))
        check_rows(whole);
    json_decref(whole);

    analytics_cache_t c;
    analytics_cache_verify(body, size, secret, &c);

    /* the raw bytes as a URL and as a User-Agent */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    static analytics_url_t base, u;
    if (!base.path[0] && analytics_url_parse("https://localhost", 17, NULL, &base) < 0)
        __builtin_trap();
    if (analytics_url_parse(s, size, &base, &u) == 0 &&
        (!utf8_ok(u.host) || !utf8_ok(u.path) || !utf8_ok(u.query) || !utf8_ok(u.hash)) &&
        utf8_ok(s))
        __builtin_trap();
    analytics_is_bot(s);
    analytics_browser_name(s);
    analytics_os_name(s);
    analytics_device_type(s, s);
    free(s);
    return 0;
}
