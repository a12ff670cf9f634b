/* One collected event, the unit every part of hearth analytics passes around: the
 * payload parser (analytics_payload.c) fills it from `/api/send`, detection
 * (analytics_detect.c) adds the client's browser/OS/device/geo, identity
 * (analytics_id.c) its session and visit ids, the ingest path (analytics_ingest.c)
 * writes it as Umami v3 rows and the rollups (analytics_rollup.c) count it.
 *
 * Strings are fixed-size, NUL-terminated and already truncated to Umami's column limits,
 * so an event is one flat allocation-free struct; `data` is the only owned pointer. */
#ifndef ANALYTICS_EVENT_H
#define ANALYTICS_EVENT_H

#include <jansson.h>
#include <stdint.h>

#define ANALYTICS_UUID_LEN 36 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */

/* website_event.event_type */
enum analytics_event_type {
    ANALYTICS_PAGEVIEW = 1,
    ANALYTICS_CUSTOM = 2, /* a named event */
    ANALYTICS_LINK = 3,
    ANALYTICS_PIXEL = 4,
    ANALYTICS_PERFORMANCE = 5,
};

/* What `/api/send` was asked to do: the body's "type". */
enum analytics_send_kind {
    ANALYTICS_SEND_EVENT,
    ANALYTICS_SEND_IDENTIFY,
    ANALYTICS_SEND_PERFORMANCE,
};

typedef struct analytics_event {
    enum analytics_send_kind kind;
    int event_type; /* enum analytics_event_type */

    /* identity: website (or link/pixel) from the payload, the rest computed */
    char website_id[ANALYTICS_UUID_LEN + 1];
    char session_id[ANALYTICS_UUID_LEN + 1];
    char visit_id[ANALYTICS_UUID_LEN + 1];
    char event_id[ANALYTICS_UUID_LEN + 1]; /* a time-ordered uuid v7 (analytics_ingest.c) */
    int64_t created_at_ms;                 /* now, or payload.timestamp * 1000 */
    int has_timestamp;                     /* payload.timestamp was given */

    /* page (website_event columns, Umami's sizes) */
    char hostname[101];
    char url_path[501];
    char url_query[501];
    char referrer_path[501];
    char referrer_query[501];
    char referrer_domain[501];
    char page_title[501];
    char event_name[51];
    char tag[51];
    char distinct_id[51];
    char utm_source[256], utm_medium[256], utm_campaign[256], utm_content[256], utm_term[256];
    char gclid[256], fbclid[256], msclkid[256], ttclid[256], li_fat_id[256], twclid[256];

    /* client (session columns); filled by detection unless the payload overrides */
    char ip[64];         /* the client IP as Umami derives it ("" when no header) */
    int ip_from_payload; /* payload.ip was given: no header IP, no CDN geo headers */
    char user_agent[512];
    char browser[21];
    char os[21];
    char device[21];
    char screen[12];
    char language[36];
    char country[3];
    char region[21];
    char city[51];

    /* revenue row: a type "event" whose data has revenue > 0 and a currency */
    int has_revenue;
    double revenue;
    char currency[101];

    /* performance (type "performance"); -1 when absent */
    double lcp, inp, cls, fcp, ttfb;

    /* payload.data as sent (owned; NULL when absent): event_data rows, or session_data
     * rows for identify. Free with analytics_event_clear. */
    json_t *data;
} analytics_event_t;

static inline void analytics_event_clear(analytics_event_t *ev)
{
    if (ev->data)
        json_decref(ev->data);
    ev->data = NULL;
}

#endif
