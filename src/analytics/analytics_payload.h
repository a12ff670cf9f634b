/* The `/api/send` body: {"type":"event"|"identify"|"performance","payload":{...}},
 * validated with Umami v3's limits and turned into an analytics_event_t (url split
 * into path+hash and query, www. stripped, UTM and click ids, truncation, event type).
 * Pure functions: no I/O, no clock, no allocation beyond ev->data (payload.data, the
 * one member still read with jansson: analytics_data_flatten walks a json_t). */
#ifndef ANALYTICS_PAYLOAD_H
#define ANALYTICS_PAYLOAD_H

#include <jansson.h>
#include <stddef.h>

#include "analytics/analytics_event.h"
#include "analytics/analytics_json.h"

#define ANALYTICS_BODY_MAX (256 * 1024) /* /api/send; /api/batch allows 4 MiB */

typedef struct analytics_payload_opts {
    int remove_trailing_slash; /* REMOVE_TRAILING_SLASH */
} analytics_payload_opts_t;

/** Parses one /api/send body (JSON whatever the Content-Type), a {type,payload} object,
 *  into *ev (zeroed first; performance fields -1). The body is read in place: its strings
 *  are decoded over their text, so it is changed (body may be NULL when len is 0).
 *  ev->created_at_ms is left 0 unless payload.timestamp is given (seconds -> ms,
 *  has_timestamp = 1); the caller stamps the clock. Returns 0, or -EINVAL with a short
 *  reason in why ("payload.url: invalid url") for a 400. */
int analytics_payload_parse(char *body, size_t len, const analytics_payload_opts_t *o,
                            analytics_event_t *ev, char *why, size_t whylen);

/* A /api/batch body being read, item after item, in place as analytics_payload_parse
 * reads one body: the body is changed and must outlive it. */
typedef struct analytics_payload_batch {
    analytics_json_iter_t items;
} analytics_payload_batch_t;

/** Opens a /api/batch body: valid JSON (checked whole before any item is read) and an
 *  array of at most max items, counted in *n. Returns 0 or -EINVAL (for a 400). */
int analytics_payload_batch_open(analytics_payload_batch_t *b, char *body, size_t len, size_t max,
                                 size_t *n);

/** Parses the batch's next item into *ev as analytics_payload_parse parses a body (an
 *  item that is not an object: "body: expected object"). Call it once per item. */
int analytics_payload_batch_next(analytics_payload_batch_t *b, const analytics_payload_opts_t *o,
                                 analytics_event_t *ev, char *why, size_t whylen);

/* event_data / session_data rows from payload.data, flattened as Umami does. */
typedef struct analytics_data_row {
    char key[501];      /* data_key: nested keys joined with '.' */
    int data_type;      /* 1 string, 2 number, 3 boolean, 4 date, 5 array */
    char *string_value; /* owned; numbers toFixed(4), booleans "true"/"false", arrays JSON */
    double number_value;
    int has_number;
    char date_value[40]; /* ISO 8601 when data_type 4, else "" */
} analytics_data_row_t;

/** Flattens data into rows (allocated array, *n rows). Free with analytics_data_free.
 *  Returns 0 or -EINVAL (more than 100 keys, depth over 8). */
int analytics_data_flatten(const json_t *data, analytics_data_row_t **rows, size_t *n);
void analytics_data_free(analytics_data_row_t *rows, size_t n);

#endif
