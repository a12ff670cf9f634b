/* Rollups of hearth analytics: what lets /stats, /pageviews and /metrics answer without
 * scanning website_event. Start here for the rollup design; analytics_int.h declares
 * the open/observe/flush/close calls the service makes, this header what the read API
 * (analytics_query.c) and the unit tests use.
 *
 * GLOSSARY
 *   sketch     a distinct-count of 64-bit session hashes: an exact sorted set while it
 *              holds at most ANALYTICS_SKETCH_EXACT hashes, then a HyperLogLog with
 *              2^ANALYTICS_SKETCH_P one-byte registers (standard error ~0.8%). Sketches
 *              merge: the union of two exact sets stays exact while small.
 *   hour cell  (website, UTC hour): pageviews, visits, bounces, totaltime and a sketch of
 *              the sessions that viewed a page in that hour. A visit counts in the hour
 *              of its first pageview; its bounce and time move with its later events.
 *   day cell   (website, UTC day, metric type, value): pageviews (events for "event")
 *              and a sketch of the sessions behind them. Every day cell has an hourly
 *              twin (type + ANALYTICS_RT_HOURLY, the day column holding the UTC hour) so
 *              that a range of whole hours reads day cells for its whole days and hour
 *              cells only for the partial days at its ends.
 *   n          each day cell's row also stores its sketch's estimate, so a top-K metric
 *              read first sums estimates (an upper bound per value) and merges the
 *              sketches of the values that can reach the page only.
 *   gen        every cell in memory belongs to a generation number; its row in the
 *              rollup tables is keyed by (cell key, gen) and rewritten whole at each
 *              flush, so a restart or an evicted-then-revived cell adds a row instead of
 *              needing a read-modify-write. Reads sum and merge every row of a key.
 *
 * Exactness (documented limits): counts are exact; distinct counts are exact up to
 * ANALYTICS_SKETCH_EXACT sessions per merged result and HyperLogLog estimates beyond
 * (Umami's ClickHouse backend uses approximate uniq() as well). Visits straddling the
 * start of a queried range count in the hour they started.
 *
 * Crashes: cells are flushed every ANALYTICS_ROLLUP_FLUSH (1 s), each flush one
 * transaction with every dirty cell and two cursors in analytics_rollup_state:
 * live_cursor, the highest event_id observed, and replay_gaps. Event ids are uuid v7,
 * generated in the order the ingest enqueues them and observed in the order the store
 * commits them, so the cells flushed hold exactly the events of this process up to
 * live_cursor. At open, each process takes a floor (a v7 id of its start millisecond;
 * its ingest never generates a lower id) and adds the gap (live_cursor, floor) of the
 * previous process to replay_gaps: after a kill -9, the events it committed but did not
 * flush, after a clean stop usually none. The replay reads each gap's v7 rows in
 * event_id order, 2000 per read off the loop, counts them like the backfill, moves the
 * gap's start with them and flushes with the cells (so a crash during the replay resumes
 * it, up to ROLLUP_GAPS_MAX gaps); recent visits are seeded first without the gaps'
 * events. Until it finishes the read API answers from raw rows. Every event stored thus
 * counts once, unless the clock steps back across a restart past the last id counted
 * (logged; those events then stay out of the rollups, never count twice). Nothing is
 * flushed before the state was read. Several processes writing one database each
 * count their own events, but a restart would replay its gap for all of them: the gap
 * is added only where one process writes the database (SQLite, or PostgreSQL with
 * ANALYTICS_ROLLUP_REPLAY=on).
 *
 * Backfill: the first open on a database records live_since; events created before it
 * (an existing Umami database) are walked once in (created_at, event_id) order, 5000 per
 * read off the loop, flushed together with the cursor every 50k events, so a restart
 * resumes where it stopped; progress goes to the log. Memory stays bounded: after each
 * flush the cells behind the cursor are dropped (day cells keep their sketches at
 * ANALYTICS_SKETCH_P_LOW in memory too). Until it finishes the read API
 * answers from raw rows. A hearth send backdated (payload timestamp) before live_since
 * while the backfill runs may be counted twice. The rollup cells are UTC: /pageviews in
 * another zone regroups hour cells by the zone's offset when every offset in the range
 * is a whole number of hours (otherwise raw SQL). */
#ifndef ANALYTICS_ROLLUP_H
#define ANALYTICS_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "analytics/analytics_int.h"
#include "core/hc_buf.h"

/* ---- sketches ---- */

#define ANALYTICS_SKETCH_EXACT 256
#define ANALYTICS_SKETCH_P 14
#define ANALYTICS_SKETCH_M (1u << ANALYTICS_SKETCH_P)
/* Day cells are stored folded to this precision (4 KiB dense, standard error ~1.6%):
 * a metric read merges hundreds of them, and 16 KiB each is what it would read. */
#define ANALYTICS_SKETCH_P_LOW 12
#define ANALYTICS_SKETCH_MAX_BYTES (1 + ANALYTICS_SKETCH_M) /* largest encoding */

typedef struct analytics_sketch {
    uint32_t n;    /* hashes in set (exact mode) */
    uint32_t cap;  /* allocated slots of set */
    uint64_t *set; /* sorted, unique; NULL when empty or in HLL mode */
    uint8_t *reg;  /* 2^p registers once in HLL mode, else NULL */
    uint8_t p;     /* the registers' precision (ANALYTICS_SKETCH_P or _P_LOW); set on an
                    * empty sketch, the precision its set turns into (0: _P) */
} analytics_sketch_t;

/** A 64-bit hash of n bytes, well mixed in every bit (FNV-1a then a splitmix64 finish). */
uint64_t analytics_hash64(const void *p, size_t n);

/** Adds hash h. */
void analytics_sketch_add(analytics_sketch_t *s, uint64_t h);
/** Merges src into dst (src unchanged); the union of registers of two precisions takes
 *  the lower one. */
void analytics_sketch_merge(analytics_sketch_t *dst, const analytics_sketch_t *src);
/** The number of distinct hashes: exact in set mode, the HyperLogLog estimate (with
 *  linear counting for small cardinalities) otherwise. */
uint64_t analytics_sketch_count(const analytics_sketch_t *s);
/** Frees the sketch's memory and empties it. */
void analytics_sketch_clear(analytics_sketch_t *s);
/** Appends the sketch's encoding to b: tag 1 + little-endian hashes (exact), tag 2 +
 *  (u16 index, u8 value) pairs (sparse HLL) or tag 3 + every register (dense HLL); tags
 *  4 and 5 are the sparse and dense forms at ANALYTICS_SKETCH_P_LOW.
 *  Returns 0 or -ENOBUFS (b's maximum). */
int analytics_sketch_encode(const analytics_sketch_t *s, hc_buf_t *b);
/** Like analytics_sketch_encode, with registers folded down to precision p when theirs
 *  is higher (p = ANALYTICS_SKETCH_P_LOW or ANALYTICS_SKETCH_P). */
int analytics_sketch_encode_at(const analytics_sketch_t *s, unsigned p, hc_buf_t *b);
/** Merges an encoding of n bytes into s. Returns 0 or -EBADMSG (s unchanged then). */
int analytics_sketch_merge_encoded(analytics_sketch_t *s, const void *p, size_t n);

/* ---- metric types kept in day cells ---- */

enum analytics_rollup_type {
    ANALYTICS_RT_PATH = 1,
    ANALYTICS_RT_REFERRER, /* referrer_domain, without '' and the page's own hostname */
    ANALYTICS_RT_TITLE,
    ANALYTICS_RT_QUERY,
    ANALYTICS_RT_HOSTNAME,
    ANALYTICS_RT_TAG,
    ANALYTICS_RT_EVENT, /* event_name of named events (event_type 2); y counts events */
    ANALYTICS_RT_UTM_SOURCE,
    ANALYTICS_RT_UTM_MEDIUM,
    ANALYTICS_RT_UTM_CAMPAIGN,
    ANALYTICS_RT_UTM_CONTENT,
    ANALYTICS_RT_UTM_TERM,
    ANALYTICS_RT_BROWSER,
    ANALYTICS_RT_OS,
    ANALYTICS_RT_DEVICE,
    ANALYTICS_RT_SCREEN,
    ANALYTICS_RT_LANGUAGE, /* lower(left(language, 2)) */
    ANALYTICS_RT_COUNTRY,
    ANALYTICS_RT_COUNT_,
};
#define ANALYTICS_RT_HOURLY 100 /* added to a type: the hourly twin of its day cells */

/** The day-cell type of a /metrics type name ("path", "utmSource", ...; "domain" is the
 *  referrer cell), or 0 when that type is answered from raw rows only. */
int analytics_rollup_type_of(const char *metric);

/* ---- reads over the rollups ---- */

typedef struct analytics_totals {
    int64_t pageviews, visitors, visits, bounces, totaltime;
} analytics_totals_t;

/** 1 when the rollups cover every event of the store (the backfill finished), so the
 *  read API may answer from them. */
int analytics_rollup_ready(const analytics_rollup_t *r);

/** Stats over the whole hours [from_h, to_h] (UTC hours since the epoch). cb fires from
 *  the loop with status 0 and the totals, or a negative errno. Returns 0 or -EAGAIN. */
typedef void (*analytics_totals_cb)(void *arg, int status, const analytics_totals_t *t);
int analytics_rollup_stats(analytics_rollup_t *r, const char *website, int64_t from_h, int64_t to_h,
                           analytics_totals_cb cb, void *arg);

/* One point of a series: a bucket start (UTC seconds), pageviews and distinct sessions. */
typedef struct analytics_point {
    int64_t bucket;
    int64_t pageviews;
    int64_t sessions;
} analytics_point_t;

/** The pageview and session series over whole hours [from_h, to_h] in buckets of unit
 *  (hour or coarser) in tz (whole-hour offsets only: analytics_tz_whole_hours). cb gets
 *  the non-empty buckets in ascending order (array valid during the call). */
typedef void (*analytics_series_cb)(void *arg, int status, const analytics_point_t *pts, size_t n);
int analytics_rollup_series(analytics_rollup_t *r, const char *website, int64_t from_h,
                            int64_t to_h, int unit, const void *tz, analytics_series_cb cb,
                            void *arg);

/* One /metrics row. */
typedef struct analytics_metric_row {
    const char *x;
    int64_t y;
} analytics_metric_row_t;

/** A metric of day-cell type over the whole UTC hours [from_h, to_h] (whole days from day
 *  cells, the partial days at the ends from their hourly twins): rows sorted by y
 *  descending then x, after offset, at most limit. */
typedef void (*analytics_metric_cb)(void *arg, int status, const analytics_metric_row_t *rows,
                                    size_t n);
int analytics_rollup_metric(analytics_rollup_t *r, const char *website, int type, int64_t from_h,
                            int64_t to_h, size_t limit, size_t offset, analytics_metric_cb cb,
                            void *arg);

#endif
