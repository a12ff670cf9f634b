/* The `/api/send` body: {"type":"event"|"identify"|"performance","payload":{...}},
 * validated with Umami v3's limits and turned into an analytics_event_t (url split
 * into path+hash and query, www. stripped, UTM and click ids, truncation, event type).
 * Pure functions: no I/O, no clock, no allocation beyond ev->data. */
#ifndef ANALYTICS_PAYLOAD_H
#define ANALYTICS_PAYLOAD_H

#include <jansson.h>
#include <stddef.h>

#include "analytics/analytics_event.h"

#define ANALYTICS_BODY_MAX (256 * 1024) /* /api/send; /api/batch allows 4 MiB */

typedef struct analytics_payload_opts {
    int remove_trailing_slash; /* REMOVE_TRAILING_SLASH */
} analytics_payload_opts_t;

/** Parses one {type,payload} object into *ev (zeroed first; performance fields -1).
 *  ev->created_at_ms is left 0 unless payload.timestamp is given (seconds -> ms,
 *  has_timestamp = 1); the caller stamps the clock. Returns 0, or -EINVAL with a short
 *  reason in why ("payload.url: invalid url") for a 400. */
int analytics_payload_parse_json(const json_t *obj, const analytics_payload_opts_t *o,
                                 analytics_event_t *ev, char *why, size_t whylen);

/** The same over raw body bytes (JSON whatever the Content-Type). */
int analytics_payload_parse(const char *body, size_t len, const analytics_payload_opts_t *o,
                            analytics_event_t *ev, char *why, size_t whylen);

/* event_data / session_data rows from payload.data, flattened as Umami does. */
typedef struct analytics_data_row {
    char key[501];   /* data_key: nested keys joined with '.' */
    int data_type;   /* 1 string, 2 number, 3 boolean, 4 date, 5 array */
    char *string_value; /* owned; numbers toFixed(4), booleans "true"/"false", arrays JSON */
    double number_value; int has_number;
    char date_value[40]; /* ISO 8601 when data_type 4, else "" */
} analytics_data_row_t;

/** Flattens data into rows (allocated array, *n rows). Free with analytics_data_free.
 *  Returns 0 or -EINVAL (more than 100 keys, depth over 8). */
int analytics_data_flatten(const json_t *data, analytics_data_row_t **rows, size_t *n);
void analytics_data_free(analytics_data_row_t *rows, size_t n);

#endif
