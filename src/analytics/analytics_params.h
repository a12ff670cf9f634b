/* The read API's parameters (Umami's src/lib/schema.ts): the time range in epoch ms,
 * the time unit raised to the finest one the range allows, the IANA time zone (read
 * from the system's TZif files) and the filters with their operator prefixes. Pure
 * functions plus the zone loader; the read API (analytics_query.c) and the rollups
 * (analytics_rollup.c) call them. Nothing here touches the network or a database. */
#ifndef ANALYTICS_PARAMS_H
#define ANALYTICS_PARAMS_H

#include <stddef.h>
#include <stdint.h>

enum analytics_unit {
    ANALYTICS_UNIT_MINUTE,
    ANALYTICS_UNIT_HOUR,
    ANALYTICS_UNIT_DAY,
    ANALYTICS_UNIT_MONTH,
    ANALYTICS_UNIT_YEAR,
};

/* Filter operators: the value prefixes "eq." "neq." "c." "dnc." "re." "nre." (none = eq). */
enum analytics_op {
    ANALYTICS_OP_EQ,
    ANALYTICS_OP_NEQ,
    ANALYTICS_OP_CONTAINS,
    ANALYTICS_OP_NOT_CONTAINS,
    ANALYTICS_OP_REGEX,
    ANALYTICS_OP_NOT_REGEX,
};

/* A filterable column: the query parameter's name, the SQL column, and whether it lives
 * on the session table (joined) instead of website_event. */
typedef struct analytics_field {
    const char *param;
    const char *column;
    int on_session;
} analytics_field_t;

/* The fields in a fixed order; a filter names one by index. */
extern const analytics_field_t analytics_fields[];
extern const size_t analytics_nfields;

/** The index of the field whose parameter is name (n bytes), or -1. */
int analytics_field_find(const char *name, size_t n);

#define ANALYTICS_MAX_FILTERS 16
#define ANALYTICS_FILTER_MAX 500 /* bytes of a decoded filter value (Umami's url length) */

typedef struct analytics_filter {
    int field; /* index into analytics_fields */
    enum analytics_op op;
    char value[ANALYTICS_FILTER_MAX + 1];
} analytics_filter_t;

/* An IANA zone as offset segments: from at[i] (UTC seconds) on, the offset is off[i]
 * seconds east of UTC; before at[0], off0. Beyond the zone file's last transition
 * (2037 in Debian's "fat" files) the last offset holds. */
typedef struct analytics_tz {
    char name[64];
    int is_utc;
    int32_t off0;
    size_t n;
    int64_t *at;
    int32_t *off;
} analytics_tz_t;

/** Loads zone name (e.g. "Europe/Berlin"; "UTC", "Etc/UTC" and "" are UTC) from dir
 *  (NULL = /usr/share/zoneinfo). Names are checked (letters, digits, "_+-/", no "..",
 *  at most 63 bytes). Returns 0 with *out owned by the caller (analytics_tz_free),
 *  -EINVAL (bad name), -ENOENT (unknown zone) or -EBADMSG (not a TZif file). */
int analytics_tz_load(const char *dir, const char *name, analytics_tz_t **out);
void analytics_tz_free(analytics_tz_t *tz);

/** The zone's offset (seconds east of UTC) at UTC second t; NULL tz is UTC. */
int32_t analytics_tz_offset(const analytics_tz_t *tz, int64_t t);

/** 1 when every offset in [from, to] (UTC seconds) is a whole number of hours, so hour
 *  cells can be regrouped into local days exactly; 0 otherwise (e.g. Asia/Kolkata). */
int analytics_tz_whole_hours(const analytics_tz_t *tz, int64_t from, int64_t to);

/** Parses "minute".."year" (n bytes). Returns 0 or -EINVAL. */
int analytics_unit_parse(const char *s, size_t n, enum analytics_unit *out);
const char *analytics_unit_name(enum analytics_unit u);

/** The finest unit Umami allows for [start_ms, end_ms]: up to 60 minutes minute, up to
 *  30 days hour, up to 7 months day, up to 24 months month, else year. */
enum analytics_unit analytics_unit_min(int64_t start_ms, int64_t end_ms);

/** want raised to analytics_unit_min when it is finer. */
enum analytics_unit analytics_unit_raise(enum analytics_unit want, int64_t start_ms,
                                         int64_t end_ms);

/** The UTC second at which the bucket holding UTC second t starts, in tz (local
 *  midnight, first of the month, ...). */
int64_t analytics_bucket_start(enum analytics_unit u, const analytics_tz_t *tz, int64_t t);

/** The bucket after the one starting at UTC second b. */
int64_t analytics_bucket_next(enum analytics_unit u, const analytics_tz_t *tz, int64_t b);

/** Writes a bucket's x label for the bucket starting at UTC second b: in UTC
 *  "YYYY-MM-DDTHH:MM:00Z", in any other zone local "YYYY-MM-DD HH:MM:00". out holds at
 *  least 24 bytes. */
void analytics_bucket_label(const analytics_tz_t *tz, int64_t b, char *out, size_t outlen);

/** Writes the label of a bucket whose start is local (wall-clock seconds, as if UTC):
 *  "YYYY-MM-DDTHH:MM:00Z" when utc, else "YYYY-MM-DD HH:MM:00". */
void analytics_label_local(int64_t local, int utc, char *out, size_t outlen);

/** Parses one filter value with its optional operator prefix (raw: percent-encoded,
 *  n bytes) into f (f->field is left alone). Returns 0, -EINVAL (bad encoding) or
 *  -E2BIG (decoded longer than ANALYTICS_FILTER_MAX). */
int analytics_filter_parse(const char *raw, size_t n, analytics_filter_t *f);

#endif
