/* The rollups' private state, shared by analytics_rollup.c (cells, flush, open/close),
 * analytics_rollup_backfill.c (backfill, retention) and analytics_rollup_read.c (reads).
 * Everything runs on the service's loop thread. */
#ifndef ANALYTICS_ROLLUP_INT_H
#define ANALYTICS_ROLLUP_INT_H

#include <stdint.h>
#include <uv.h>

#include "analytics/analytics_rollup.h"

/* An intrusive chained hash table; every entry starts with an rnode_t. */
typedef struct rnode {
    struct rnode *next;
    uint64_t h;
} rnode_t;

typedef struct rtable {
    rnode_t **b;
    size_t nb; /* power of two, 0 before the first insert */
    size_t n;
} rtable_t;

/* A site cells were counted for, numbered so that a cell lookup compares sites as
 * integers rather than strings. Kept until the rollup is freed (one per website). */
typedef struct site {
    rnode_t node; /* h = analytics_key_hash of text */
    uint32_t id;  /* from 1 */
    char *text;   /* owned */
} site_t;

typedef struct hcell {
    rnode_t node;
    uint32_t site_id; /* site_t.id of site */
    char site[ANALYTICS_UUID_LEN + 1];
    int64_t hour; /* UTC hours since the epoch */
    int64_t gen;
    int64_t pageviews, visits, bounces, totaltime;
    analytics_sketch_t sessions;
    int dirty;
} hcell_t;

typedef struct dcell {
    rnode_t node;
    uint32_t site_id; /* site_t.id of site */
    char site[ANALYTICS_UUID_LEN + 1];
    int64_t day; /* UTC days since the epoch */
    int type;    /* enum analytics_rollup_type */
    char *value; /* owned */
    int64_t gen;
    int64_t y;
    analytics_sketch_t sessions;
    int dirty;
} dcell_t;

/* A visit in progress: enough to move its bounce and time as events arrive. */
typedef struct visit {
    rnode_t node; /* h = hash of the visit id */
    int64_t start_hour;
    int64_t min_ms, max_ms;
    int64_t count;
    uint64_t touch;
} visit_t;

/* A range of event ids (both bounds excluded) that an earlier process committed to
 * website_event and did not flush into the rollups: replayed at open. */
#define ROLLUP_GAPS_MAX 8
typedef struct rollup_gap {
    char from[ANALYTICS_UUID_LEN + 1]; /* moves on as the replay counts */
    char to[ANALYTICS_UUID_LEN + 1];
} rollup_gap_t;

typedef struct flush_waiter {
    struct flush_waiter *next;
    void (*done)(void *arg);
    void *arg;
} flush_waiter_t;

struct analytics_rollup {
    analytics_t *an;
    int64_t open_ms;   /* wall clock at open */
    int64_t next_gen;  /* the next cell generation */
    int64_t horizon_s; /* newest event time counted (UTC seconds) */
    rtable_t hours, days, visits, sites;
    uint32_t nsites;
    const site_t *site_cached; /* the last site looked up */
    uint64_t touch;            /* visit recency clock */
    uv_timer_t tick;           /* flush every an->rollup_flush_ms */
    uv_timer_t retain;         /* retention, hourly */
    int open_handles;
    int flushing;
    uint64_t flushed_cells;
    flush_waiter_t *waiters;
    int closing, free_when_idle;
    int reads_inflight, backfill_inflight, retention_inflight;

    /* backfill: events with created_at < live_since_ms were written before hearth */
    int ready;
    int backfilling;
    int backfill_wait_flush;
    int64_t live_since_ms;
    int64_t backfill_ms; /* created_at of the cursor, ms */
    char cursor_ts[64];  /* the cursor as the database spells created_at */
    char cursor_id[ANALYTICS_UUID_LEN + 1];
    int cursor_dirty;
    uint64_t backfilled;
    int trim_after_flush; /* give the backfill's freed cells back to the system */

    /* crash recovery (analytics_rollup.h): every event observed here has an id <= live_id
     * and above live_floor, and the cells flushed hold exactly the events observed */
    int state_ready; /* the state was read: flushes may write (and the cursors with them) */
    char live_floor[ANALYTICS_UUID_LEN + 1]; /* below every id this process generates */
    char live_id[ANALYTICS_UUID_LEN + 1];    /* the highest id observed */
    int live_dirty;
    rollup_gap_t gaps[ROLLUP_GAPS_MAX]; /* still to replay, oldest first */
    size_t ngaps;
    int gaps_dirty;
    int replaying;
    int backfill_after_replay; /* the backfill is not done: it starts once the replay is */
    uint64_t replayed;

    /* retention */
    int64_t retain_cut_ms;
    int retain_step;
    unsigned retain_chunks;
};

void rtable_insert(rtable_t *t, rnode_t *n);
rnode_t *rtable_first(const rtable_t *t, uint64_t h);
hcell_t *rollup_hour_find(analytics_rollup_t *r, const char *site, int64_t hour);
dcell_t *rollup_day_find(analytics_rollup_t *r, const char *site, int64_t day, int type,
                         const char *value);

/** Counts one event into the cells (observe and the backfill). */
void rollup_count(analytics_rollup_t *r, const analytics_event_t *ev);
/** Remembers a visit counted before this process started (its first and last pageview
 *  and their number), so its next pageview moves its bounce and time instead of
 *  counting a new visit. */
void rollup_visit_seed(analytics_rollup_t *r, const char *visit_id, int64_t min_ms, int64_t max_ms,
                       int64_t count);
/** Starts a flush now; 1 when one is running. */
int rollup_flush_now(analytics_rollup_t *r);
/** Frees a closing rollup once no store callback is outstanding. */
void rollup_maybe_free(analytics_rollup_t *r);

/** Reads the backfill state and starts walking website_event (analytics_rollup_backfill.c). */
int rollup_backfill_start(analytics_rollup_t *r);
/** Fetches the next backfill chunk (after the previous one was flushed). */
void rollup_backfill_next(analytics_rollup_t *r);
/* Room for the gaps' text: ROLLUP_GAPS_MAX pairs of ids and their spaces. */
#define ROLLUP_GAPS_TEXT (ROLLUP_GAPS_MAX * 2 * (ANALYTICS_UUID_LEN + 1) + 1)
/** Formats the gaps left to replay as their analytics_rollup_state text: "from to from
 *  to ..." (empty when none) into out (ROLLUP_GAPS_TEXT bytes). */
void rollup_gaps_format(const analytics_rollup_t *r, char out[ROLLUP_GAPS_TEXT]);
/** Starts the hourly retention timer when an->retain_days > 0. */
void rollup_retention_start(analytics_rollup_t *r);

#endif
