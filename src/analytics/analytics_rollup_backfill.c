/* The rollups' background jobs: the replay of events an earlier process committed but
 * did not flush into the rollups (it was killed), walked in event_id order; the
 * backfill of events written before hearth opened this database (an existing Umami
 * database), walked in created_at order; both in chunks off the loop; and the hourly
 * retention job (--retain-days) deleting old rows in bounded chunks. All run as chains
 * of hc_store reads and writes on the service's loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/analytics_rollup_int.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#define BACKFILL_CHUNK 2000     /* events per read: the rows are held while counted */
#define BACKFILL_LOG_EVERY 50   /* chunks between progress lines */
#define BACKFILL_FLUSH_EVERY 25 /* chunks between flushes (the cursor moves with them) */
#define BACKFILL_CELLS_MAX 4000 /* cells in memory that flush before the next chunk */
#define RETAIN_CHUNK 5000
#define RETAIN_MAX_CHUNKS 2000 /* per table per run: a run never holds the writer long */
#define RETAIN_FIRST_MS 3000
#define RETAIN_EVERY_MS 3600000

#define STR_(x) #x
#define STR(x) STR_(x)

#define STATE_UPSERT                                                                               \
    "INSERT INTO analytics_rollup_state (name, value) VALUES ($1, $2)"                             \
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value"

static void state_write(analytics_rollup_t *r, const char *name, const char *value)
{
    hc_store_value_t p[2] = {hc_store_text(name), hc_store_text(value)};
    int rc = hc_store_exec(r->an->store, STATE_UPSERT, p, 2, NULL, NULL);
    if (rc < 0)
        hc_log(HC_LOG_WARN, "analytics rollup state not written", HC_LS("name", name),
               HC_LI("rc", rc), NULL);
}

/* ---- backfill ---- */

#define BF_COLS                                                                                    \
    " e.event_type, e.url_path, e.url_query, e.referrer_domain, e.page_title, e.hostname,"         \
    " e.tag, e.event_name, e.utm_source, e.utm_medium, e.utm_campaign, e.utm_content,"             \
    " e.utm_term, s.browser, s.os, s.device, s.screen, s.language, s.country"                      \
    " FROM website_event e LEFT JOIN session s ON s.session_id = e.session_id"

#define BF_SELECT_PG                                                                               \
    "SELECT (extract(epoch from e.created_at) * 1000)::bigint, e.created_at::text,"                \
    " e.event_id::text, e.website_id::text, e.session_id::text, e.visit_id::text," BF_COLS
#define BF_SELECT_SQLITE                                                                           \
    "SELECT e.created_at, CAST(e.created_at AS TEXT), e.event_id, e.website_id, e.session_id,"     \
    " e.visit_id," BF_COLS

// clang-format off
static const char bf_sql_pg[] =
    BF_SELECT_PG " WHERE e.created_at < to_timestamp($1::bigint / 1000.0) AND e.created_at >= $2::timestamptz"
    " AND (e.created_at > $2::timestamptz"
    " OR (e.created_at = $2::timestamptz AND e.event_id > $3::uuid))"
    " ORDER BY e.created_at, e.event_id LIMIT " STR(BACKFILL_CHUNK);
static const char bf_sql_sqlite[] =
    BF_SELECT_SQLITE " WHERE e.created_at < $1 AND e.created_at >= CAST($2 AS INTEGER)"
    " AND (e.created_at > CAST($2 AS INTEGER)"
    " OR (e.created_at = CAST($2 AS INTEGER) AND e.event_id > $3))"
    " ORDER BY e.created_at, e.event_id LIMIT " STR(BACKFILL_CHUNK);

/* The replay reads a gap's events by their key. Only hearth's ids (uuid v7: version
 * digit 7) are time-ordered; an Umami id (v4) inside the range is a backfilled event. */
static const char rp_sql_pg[] =
    BF_SELECT_PG " WHERE e.event_id > $1::uuid AND e.event_id < $2::uuid"
    " AND substr(e.event_id::text, 15, 1) = '7' ORDER BY e.event_id LIMIT " STR(BACKFILL_CHUNK);
static const char rp_sql_sqlite[] =
    BF_SELECT_SQLITE " WHERE e.event_id > $1 AND e.event_id < $2"
    " AND substr(e.event_id, 15, 1) = '7' ORDER BY e.event_id LIMIT " STR(BACKFILL_CHUNK);
// clang-format on

/* A backfill read came back: 1 when the rollups are closing (freed here if it was the
 * last thing they waited for), and its result is to be dropped. */
static int read_back_closing(analytics_rollup_t *r)
{
    r->backfill_inflight = 0;
    if (!r->closing)
        return 0;
    rollup_maybe_free(r);
    return 1;
}

static void cell_str(char *dst, size_t cap, const hc_store_value_t *v)
{
    if (v->type == HC_STORE_TEXT) {
        size_t n = v->v.s.len < cap - 1 ? v->v.s.len : cap - 1;
        memcpy(dst, v->v.s.p, n);
        dst[n] = '\0';
    } else {
        dst[0] = '\0';
    }
}

#define CELL_STR(field, col) cell_str(field, sizeof(field), hc_store_cell(res, i, col))

/* Row i of a BF_SELECT read (25 columns) as the event the ingest observed. */
static void row_event(const hc_store_result_t *res, size_t i, analytics_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->kind = ANALYTICS_SEND_EVENT;
    const hc_store_value_t *ts = hc_store_cell(res, i, 0);
    ev->created_at_ms = ts->type == HC_STORE_INT ? ts->v.i : 0;
    CELL_STR(ev->event_id, 2);
    CELL_STR(ev->website_id, 3);
    CELL_STR(ev->session_id, 4);
    CELL_STR(ev->visit_id, 5);
    const hc_store_value_t *et = hc_store_cell(res, i, 6);
    ev->event_type = et->type == HC_STORE_INT ? (int)et->v.i : 0;
    CELL_STR(ev->url_path, 7);
    CELL_STR(ev->url_query, 8);
    CELL_STR(ev->referrer_domain, 9);
    CELL_STR(ev->page_title, 10);
    CELL_STR(ev->hostname, 11);
    CELL_STR(ev->tag, 12);
    CELL_STR(ev->event_name, 13);
    CELL_STR(ev->utm_source, 14);
    CELL_STR(ev->utm_medium, 15);
    CELL_STR(ev->utm_campaign, 16);
    CELL_STR(ev->utm_content, 17);
    CELL_STR(ev->utm_term, 18);
    CELL_STR(ev->browser, 19);
    CELL_STR(ev->os, 20);
    CELL_STR(ev->device, 21);
    CELL_STR(ev->screen, 22);
    CELL_STR(ev->language, 23);
    CELL_STR(ev->country, 24);
}

static void on_chunk(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    analytics_rollup_t *r = arg;
    if (read_back_closing(r))
        return;
    if (status < 0 || res->ncols < 25) {
        hc_log(HC_LOG_ERROR, "analytics rollup backfill read failed; reads stay on raw rows",
               HC_LS("error", errmsg ? errmsg : "columns"), NULL);
        r->backfilling = 0;
        return;
    }
    analytics_event_t *ev = hc_malloc(sizeof(*ev));
    for (size_t i = 0; i < res->nrows; i++) {
        row_event(res, i, ev);
        CELL_STR(r->cursor_ts, 1);
        CELL_STR(r->cursor_id, 2);
        rollup_count(r, ev);
        r->backfill_ms = ev->created_at_ms;
    }
    hc_free(ev);
    r->backfilled += res->nrows;
    r->cursor_dirty = res->nrows > 0;
    uint64_t chunks = r->backfilled / BACKFILL_CHUNK;
    if (res->nrows == BACKFILL_CHUNK && chunks % BACKFILL_LOG_EVERY == 0)
        hc_log(HC_LOG_INFO, "analytics rollup backfill progress", HC_LI("events", r->backfilled),
               HC_LS("cursor", r->cursor_ts), NULL);
    if (res->nrows < BACKFILL_CHUNK) {
        r->backfilling = 0;
        r->ready = 1;
        hc_log(HC_LOG_INFO, "analytics rollup backfill done", HC_LI("events", r->backfilled), NULL);
    }
    /* every BACKFILL_FLUSH_EVERY chunks, or sooner once BACKFILL_CELLS_MAX cells are held
     * (and at the end), the next chunk waits until the cells are written with the cursor:
     * rewriting every hot cell after each chunk would write the same day cells dozens of
     * times; evicting after the flush bounds memory */
    if (r->backfilling && chunks % BACKFILL_FLUSH_EVERY != 0 &&
        r->hours.n + r->days.n < BACKFILL_CELLS_MAX) {
        rollup_backfill_next(r);
        return;
    }
    r->backfill_wait_flush = 1;
    r->trim_after_flush = 1; /* give the freed chunk and cells back to the system */
    if (!rollup_flush_now(r)) {
        r->backfill_wait_flush = 0;
        rollup_backfill_next(r);
    }
}

/* ---- replay of the events a killed process did not flush (the backfill's rows) ---- */

void rollup_gaps_format(const analytics_rollup_t *r, char out[ROLLUP_GAPS_TEXT])
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->ngaps; i++)
        n += (size_t)snprintf(out + n, ROLLUP_GAPS_TEXT - n, "%s%s %s", i ? " " : "",
                              r->gaps[i].from, r->gaps[i].to);
}

/* Appends the gap (from, to) unless it is empty; 0, or -ENOSPC when ROLLUP_GAPS_MAX are
 * held (each needs a crash during the replay of the ones before it). */
static int gap_add(analytics_rollup_t *r, const char *from, size_t nfrom, const char *to,
                   size_t nto)
{
    if (nfrom != ANALYTICS_UUID_LEN || nto != ANALYTICS_UUID_LEN ||
        memcmp(from, to, ANALYTICS_UUID_LEN) >= 0)
        return 0;
    if (r->ngaps == ROLLUP_GAPS_MAX)
        return -ENOSPC;
    rollup_gap_t *g = &r->gaps[r->ngaps++];
    memcpy(g->from, from, nfrom);
    g->from[nfrom] = '\0';
    memcpy(g->to, to, nto);
    g->to[nto] = '\0';
    return 0;
}

/* The gaps a previous process left (its "replay_gaps" text), then the one it leaves
 * itself: from its live cursor to this process's floor. */
static void gaps_load(analytics_rollup_t *r, const char *text, const char *cursor)
{
    const char *p = text;
    while (p && *p) {
        size_t n1 = strcspn(p, " ");
        const char *q = p + n1 + (p[n1] == ' ');
        size_t n2 = strcspn(q, " ");
        if (gap_add(r, p, n1, q, n2) < 0)
            break;
        p = q + n2 + (q[n2] == ' ');
    }
    if (!cursor)
        return; /* the first start of this version: nothing is known to be missing */
    if (r->an->rollup_replay == 0 || (r->an->rollup_replay < 0 && r->an->is_pg))
        return; /* several processes may share the database: their cursors are one */
    if (strcmp(cursor, r->live_floor) >= 0) {
        /* the clock went back since: this process's ids may fall below the cursor, and
         * counting them from the cursor on never counts an event twice */
        hc_log(HC_LOG_WARN, "analytics rollup: the clock is behind the last event counted",
               HC_LS("cursor", cursor), HC_LS("floor", r->live_floor), NULL);
        snprintf(r->live_id, sizeof(r->live_id), "%s", cursor);
        return;
    }
    if (gap_add(r, cursor, strlen(cursor), r->live_floor, strlen(r->live_floor)) < 0)
        hc_log(HC_LOG_ERROR,
               "analytics rollup: too many gaps to replay; events of an unclean"
               " stop stay out of the rollups",
               HC_LS("after", cursor), NULL);
}

static void replay_next(analytics_rollup_t *r);
static void backfill_begin(analytics_rollup_t *r);

static void replay_done(analytics_rollup_t *r)
{
    r->replaying = 0;
    /* one line per start: after a clean stop the gap is usually empty */
    hc_log(HC_LOG_INFO, "analytics rollup replay done", HC_LI("events", r->replayed), NULL);
    if (r->backfill_after_replay)
        backfill_begin(r);
    else
        r->ready = 1;
}

static void on_replay_chunk(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    analytics_rollup_t *r = arg;
    if (read_back_closing(r))
        return;
    if (status < 0 || res->ncols < 25) {
        /* the gaps stay recorded: the next start replays them */
        hc_log(HC_LOG_ERROR, "analytics rollup replay read failed; reads stay on raw rows",
               HC_LS("error", errmsg ? errmsg : "columns"), NULL);
        r->replaying = 0;
        return;
    }
    rollup_gap_t *g = &r->gaps[0];
    analytics_event_t *ev = hc_malloc(sizeof(*ev));
    for (size_t i = 0; i < res->nrows; i++) {
        row_event(res, i, ev);
        rollup_count(r, ev);
        memcpy(g->from, ev->event_id, sizeof(g->from));
    }
    hc_free(ev);
    r->replayed += res->nrows;
    r->gaps_dirty = 1;
    if (res->nrows < BACKFILL_CHUNK) {
        memmove(r->gaps, r->gaps + 1, (r->ngaps - 1) * sizeof(r->gaps[0]));
        r->ngaps--;
    } else if ((r->replayed / BACKFILL_CHUNK) % BACKFILL_LOG_EVERY == 0) {
        hc_log(HC_LOG_INFO, "analytics rollup replay progress", HC_LI("events", r->replayed),
               HC_LS("cursor", g->from), NULL);
    }
    /* the live flush writes the cells with the gaps' progress every tick; held cells
     * past BACKFILL_CELLS_MAX are written (then evicted) before the next chunk */
    if (r->hours.n + r->days.n < BACKFILL_CELLS_MAX) {
        replay_next(r);
        return;
    }
    r->backfill_wait_flush = 1;
    if (!rollup_flush_now(r)) {
        r->backfill_wait_flush = 0;
        replay_next(r);
    }
}

static void replay_next(analytics_rollup_t *r)
{
    if (r->closing)
        return;
    if (r->ngaps == 0) {
        replay_done(r);
        return;
    }
    hc_store_value_t p[2] = {hc_store_text(r->gaps[0].from), hc_store_text(r->gaps[0].to)};
    int rc = hc_store_query(r->an->store, r->an->is_pg ? rp_sql_pg : rp_sql_sqlite, p, 2,
                            on_replay_chunk, r);
    if (rc < 0) {
        hc_log(HC_LOG_ERROR, "analytics rollup replay stopped", HC_LI("rc", rc), NULL);
        r->replaying = 0;
        return;
    }
    r->backfill_inflight = 1;
}

/* A backfill's upserts leave PostgreSQL's rollup tables full of dead row versions, with
 * statistics from before it, until autovacuum comes round: right after 10 million events
 * the path metric took 106 ms (57 ms once autovacuum had run). So they are vacuumed and
 * analyzed, on a read connection (VACUUM runs outside a transaction), before the done
 * mark. SQLite updates in place and needs neither. */
static const char VACUUM_SQL[] = "VACUUM (ANALYZE) analytics_rollup_hour, analytics_rollup_day";

static void on_vacuumed(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    (void)res;
    analytics_rollup_t *r = arg;
    if (read_back_closing(r))
        return;
    if (status < 0)
        hc_log(HC_LOG_WARN, "analytics rollup tables not vacuumed after the backfill",
               HC_LS("error", errmsg), NULL);
    else
        hc_log(HC_LOG_INFO, "analytics rollup tables vacuumed after the backfill", NULL);
    state_write(r, "backfill_done", "1");
}

static void backfill_done(analytics_rollup_t *r)
{
    if (r->an->is_pg && hc_store_query(r->an->store, VACUUM_SQL, NULL, 0, on_vacuumed, r) == 0) {
        r->backfill_inflight = 1;
        return;
    }
    state_write(r, "backfill_done", "1");
}

void rollup_backfill_next(analytics_rollup_t *r)
{
    if (r->closing)
        return;
    if (r->replaying) {
        replay_next(r);
        return;
    }
    if (!r->backfilling) {
        if (r->ready)
            backfill_done(r);
        return;
    }
    hc_store_value_t p[3] = {hc_store_int(r->live_since_ms), hc_store_text(r->cursor_ts),
                             hc_store_text(r->cursor_id)};
    int rc =
        hc_store_query(r->an->store, r->an->is_pg ? bf_sql_pg : bf_sql_sqlite, p, 3, on_chunk, r);
    if (rc < 0) {
        hc_log(HC_LOG_ERROR, "analytics rollup backfill stopped", HC_LI("rc", rc), NULL);
        r->backfilling = 0;
        return;
    }
    r->backfill_inflight = 1;
}

/* Visits in progress when the previous process stopped: pageviews of the two hours (a
 * visit lasts 30 minutes from its first event, or a clock hour) before this start, or
 * before the first gap to replay. The events still to be counted (the gaps' and this
 * process's own, observed live) are left out: counting them moves their visits. */
#define SEED_WINDOW_MS (2 * 3600000)
#define SEED_SQL_MAX 2048

/* The millisecond a uuid v7 was made in (its first 48 bits). */
static int64_t uuid_ms(const char *id)
{
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    return strtoll(hex, NULL, 16);
}

static void seed_done(analytics_rollup_t *r)
{
    if (r->ngaps) {
        r->replaying = 1;
        hc_log(HC_LOG_DEBUG, "analytics rollup replay starting", HC_LS("after", r->gaps[0].from),
               HC_LI("gaps", r->ngaps), NULL);
        replay_next(r);
    } else if (r->backfill_after_replay) {
        backfill_begin(r);
    }
}

static void on_seed(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    analytics_rollup_t *r = arg;
    if (read_back_closing(r))
        return;
    if (status < 0 || res->ncols != 4) {
        hc_log(HC_LOG_WARN,
               "analytics rollup: recent visits not read; visits in progress"
               " count again",
               HC_LS("error", errmsg ? errmsg : "columns"), NULL);
    } else {
        for (size_t i = 0; i < res->nrows; i++) {
            const hc_store_value_t *c = hc_store_cell(res, i, 0);
            if (c[0].type == HC_STORE_TEXT && c[1].type == HC_STORE_INT &&
                c[2].type == HC_STORE_INT && c[3].type == HC_STORE_INT)
                rollup_visit_seed(r, c[0].v.s.p, c[1].v.i, c[2].v.i, c[3].v.i);
        }
    }
    seed_done(r);
}

static void seed_visits(analytics_rollup_t *r)
{
    int pg = r->an->is_pg;
    const char *uuid = pg ? "::uuid" : "";
    int64_t from = r->open_ms;
    if (r->ngaps && uuid_ms(r->gaps[0].from) < from)
        from = uuid_ms(r->gaps[0].from);
    from -= SEED_WINDOW_MS;
    if (r->backfill_after_replay && from < r->live_since_ms)
        from = r->live_since_ms; /* the backfill counts the visits before */
    char sql[SEED_SQL_MAX];
    hc_store_value_t p[2 + 2 * ROLLUP_GAPS_MAX];
    size_t np = 0;
    int n = snprintf(sql, sizeof(sql), "%s",
                     pg ? "SELECT visit_id::text, (extract(epoch from min(created_at)) * 1000)"
                          "::bigint, (extract(epoch from max(created_at)) * 1000)::bigint,"
                          " count(*) FROM website_event WHERE created_at >="
                          " to_timestamp($1::bigint / 1000.0) AND event_type = 1"
                          " AND NOT (substr(event_id::text, 15, 1) = '7' AND ("
                        : "SELECT visit_id, min(created_at), max(created_at), count(*)"
                          " FROM website_event WHERE created_at >= $1 AND event_type = 1"
                          " AND NOT (substr(event_id, 15, 1) = '7' AND (");
    p[np++] = hc_store_int(from);
    for (size_t i = 0; i < r->ngaps; i++) {
        n += snprintf(sql + n, sizeof(sql) - (size_t)n,
                      "(event_id > $%zu%s AND event_id < $%zu%s) OR ", np + 1, uuid, np + 2, uuid);
        p[np++] = hc_store_text(r->gaps[i].from);
        p[np++] = hc_store_text(r->gaps[i].to);
    }
    /* bounded like the visit table */
    snprintf(sql + n, sizeof(sql) - (size_t)n, "event_id > $%zu%s)) GROUP BY visit_id LIMIT 100000",
             np + 1, uuid);
    p[np++] = hc_store_text(r->live_floor);
    if (hc_store_query(r->an->store, sql, p, np, on_seed, r) == 0)
        r->backfill_inflight = 1;
    else
        seed_done(r);
}

static void backfill_begin(analytics_rollup_t *r)
{
    hc_log(HC_LOG_INFO, "analytics rollup backfill starting", HC_LS("after", r->cursor_ts), NULL);
    r->backfilling = 1;
    rollup_backfill_next(r);
}

static void on_state(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    analytics_rollup_t *r = arg;
    if (read_back_closing(r))
        return;
    if (status < 0) {
        /* flushes go on (memory stays bounded) and write this process's cursor: the
         * previous one's unflushed events, if any, are not recounted */
        hc_log(HC_LOG_ERROR, "analytics rollup state unreadable; reads stay on raw rows",
               HC_LS("error", errmsg), NULL);
        r->state_ready = 1;
        r->live_dirty = 1;
        return;
    }
    int done = 0, have_since = 0;
    const char *cursor = NULL, *gaps = NULL;
    for (size_t i = 0; i < res->nrows; i++) {
        const hc_store_value_t *k = hc_store_cell(res, i, 0), *v = hc_store_cell(res, i, 1);
        if (k->type != HC_STORE_TEXT || v->type != HC_STORE_TEXT)
            continue;
        if (strcmp(k->v.s.p, "live_since_ms") == 0) {
            r->live_since_ms = strtoll(v->v.s.p, NULL, 10);
            have_since = 1;
        } else if (strcmp(k->v.s.p, "backfill_done") == 0) {
            done = 1;
        } else if (strcmp(k->v.s.p, "backfill_cursor") == 0) {
            cell_str(r->cursor_ts, sizeof(r->cursor_ts), v);
        } else if (strcmp(k->v.s.p, "backfill_cursor_id") == 0) {
            cell_str(r->cursor_id, sizeof(r->cursor_id), v);
        } else if (strcmp(k->v.s.p, "live_cursor") == 0 && v->v.s.len == ANALYTICS_UUID_LEN) {
            cursor = v->v.s.p;
        } else if (strcmp(k->v.s.p, "replay_gaps") == 0) {
            gaps = v->v.s.p;
        }
    }
    if (!have_since) {
        char buf[32];
        r->live_since_ms = r->open_ms;
        snprintf(buf, sizeof(buf), "%lld", (long long)r->live_since_ms);
        state_write(r, "live_since_ms", buf);
    }
    /* from here on every flush writes this process's cursor and the gaps left, with the
     * cells that hold what they say */
    gaps_load(r, gaps, cursor);
    r->state_ready = 1;
    r->live_dirty = r->gaps_dirty = 1;
    r->backfill_after_replay = !done;
    if (done && !r->ngaps)
        r->ready = 1;
    if (done || r->ngaps)
        seed_visits(r);
    else
        backfill_begin(r);
}

int rollup_backfill_start(analytics_rollup_t *r)
{
    snprintf(r->cursor_ts, sizeof(r->cursor_ts), "%s",
             r->an->is_pg ? "-infinity" : "-9000000000000000000");
    snprintf(r->cursor_id, sizeof(r->cursor_id), "00000000-0000-0000-0000-000000000000");
    int rc = hc_store_query(r->an->store, "SELECT name, value FROM analytics_rollup_state", NULL, 0,
                            on_state, r);
    if (rc < 0)
        return rc;
    r->backfill_inflight = 1;
    return 0;
}

/* ---- retention ---- */

/* One table per step: how to probe for old rows and delete a chunk of them. $1 is the
 * cut (ms for created_at, hours or days for the rollup tables). */
typedef struct retain_step {
    const char *name;
    const char *probe_pg, *probe_sqlite;
    const char *delete_pg, *delete_sqlite;
    int unit; /* 0 ms, 1 hours, 2 days */
} retain_step_t;

#define PG_CUT "to_timestamp($1::bigint / 1000.0)"
#define OLD_SESSION(CUT)                                                                           \
    "created_at < " CUT " AND NOT EXISTS (SELECT 1 FROM website_event e"                           \
    " WHERE e.session_id = session.session_id)"

/* A table whose rows go by their own created_at, a chunk of them by primary key. */
// clang-format off
#define OLD_ROWS(T, ID)                                                                            \
    {T,                                                                                            \
     "SELECT count(*) FROM (SELECT 1 FROM " T " WHERE created_at < " PG_CUT " LIMIT 1) q",         \
     "SELECT count(*) FROM (SELECT 1 FROM " T " WHERE created_at < $1 LIMIT 1) q",                 \
     "DELETE FROM " T " WHERE " ID " IN (SELECT " ID " FROM " T " WHERE created_at < " PG_CUT      \
     " LIMIT 5000)",                                                                               \
     "DELETE FROM " T " WHERE " ID " IN (SELECT " ID " FROM " T " WHERE created_at < $1"           \
     " LIMIT 5000)",                                                                               \
     0}
// clang-format on

/* Identify data and revenue go with the events: they are the most personal rows. */
static const retain_step_t retain_steps[] = {
    OLD_ROWS("website_event", "event_id"),
    OLD_ROWS("event_data", "event_data_id"),
    OLD_ROWS("session_data", "session_data_id"),
    OLD_ROWS("revenue", "revenue_id"),
    {"session",
     "SELECT count(*) FROM (SELECT 1 FROM session WHERE " OLD_SESSION(PG_CUT) " LIMIT 1) q",
     "SELECT count(*) FROM (SELECT 1 FROM session WHERE " OLD_SESSION("$1") " LIMIT 1) q",
     "DELETE FROM session WHERE session_id IN (SELECT session_id FROM session WHERE " OLD_SESSION(
         PG_CUT) " LIMIT 5000)",
     "DELETE FROM session WHERE session_id IN (SELECT session_id FROM session WHERE " OLD_SESSION(
         "$1") " LIMIT 5000)",
     0},
    {"analytics_rollup_hour", NULL, NULL, "DELETE FROM analytics_rollup_hour WHERE hour < $1",
     "DELETE FROM analytics_rollup_hour WHERE hour < $1", 1},
    {"analytics_rollup_day", NULL, NULL,
     "DELETE FROM analytics_rollup_day WHERE (type < 100 AND day < $1) OR (type >= 100 AND day < "
     "$2)",
     "DELETE FROM analytics_rollup_day WHERE (type < 100 AND day < $1) OR (type >= 100 AND day < "
     "$2)",
     2},
};
#define RETAIN_NSTEPS (sizeof(retain_steps) / sizeof(retain_steps[0]))

static void retain_run_step(analytics_rollup_t *r);

/* The step's parameters into p; returns how many (day cells: days, then hours for
 * their hourly twins). */
static size_t retain_cut(const analytics_rollup_t *r, const retain_step_t *s, hc_store_value_t *p)
{
    if (s->unit == 1) {
        p[0] = hc_store_int(r->retain_cut_ms / 3600000);
        return 1;
    }
    if (s->unit == 2) {
        p[0] = hc_store_int(r->retain_cut_ms / 86400000);
        p[1] = hc_store_int(r->retain_cut_ms / 3600000);
        return 2;
    }
    p[0] = hc_store_int(r->retain_cut_ms);
    return 1;
}

static void retain_next_step(analytics_rollup_t *r)
{
    r->retain_step++;
    r->retain_chunks = 0;
    retain_run_step(r);
}

static void on_retain_deleted(void *arg, int status, const char *errmsg)
{
    analytics_rollup_t *r = arg;
    r->retention_inflight = 0;
    if (r->closing) {
        rollup_maybe_free(r);
        return;
    }
    const retain_step_t *s = &retain_steps[r->retain_step];
    if (status < 0) {
        hc_log(HC_LOG_ERROR, "analytics retention delete failed", HC_LS("table", s->name),
               HC_LS("error", errmsg), NULL);
        retain_next_step(r);
        return;
    }
    if (!s->probe_pg || ++r->retain_chunks >= RETAIN_MAX_CHUNKS)
        retain_next_step(r);
    else
        retain_run_step(r);
}

static void on_retain_probe(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    analytics_rollup_t *r = arg;
    r->retention_inflight = 0;
    if (r->closing) {
        rollup_maybe_free(r);
        return;
    }
    const retain_step_t *s = &retain_steps[r->retain_step];
    if (status < 0 || res->nrows != 1 || hc_store_cell(res, 0, 0)->type != HC_STORE_INT) {
        hc_log(HC_LOG_ERROR, "analytics retention probe failed", HC_LS("table", s->name),
               HC_LS("error", errmsg ? errmsg : "shape"), NULL);
        retain_next_step(r);
        return;
    }
    if (hc_store_cell(res, 0, 0)->v.i == 0) {
        retain_next_step(r);
        return;
    }
    hc_store_value_t p[2];
    size_t np = retain_cut(r, s, p);
    if (hc_store_exec(r->an->store, r->an->is_pg ? s->delete_pg : s->delete_sqlite, p, np,
                      on_retain_deleted, r) < 0) {
        retain_next_step(r);
        return;
    }
    r->retention_inflight = 1;
}

static void retain_run_step(analytics_rollup_t *r)
{
    if (r->retain_step >= (int)RETAIN_NSTEPS) {
        hc_log(HC_LOG_INFO, "analytics retention done", HC_LI("retain_days", r->an->retain_days),
               NULL);
        return;
    }
    const retain_step_t *s = &retain_steps[r->retain_step];
    hc_store_value_t p[2];
    size_t np = retain_cut(r, s, p);
    int rc;
    if (s->probe_pg)
        rc = hc_store_query(r->an->store, r->an->is_pg ? s->probe_pg : s->probe_sqlite, p, np,
                            on_retain_probe, r);
    else
        rc = hc_store_exec(r->an->store, r->an->is_pg ? s->delete_pg : s->delete_sqlite, p, np,
                           on_retain_deleted, r);
    if (rc < 0) {
        hc_log(HC_LOG_WARN, "analytics retention postponed", HC_LS("table", s->name),
               HC_LI("rc", rc), NULL);
        return;
    }
    r->retention_inflight = 1;
}

static void on_retain_timer(uv_timer_t *t)
{
    analytics_rollup_t *r = t->data;
    if (r->retention_inflight || r->closing)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    r->retain_cut_ms = now - (int64_t)r->an->retain_days * 86400000;
    r->retain_step = 0;
    r->retain_chunks = 0;
    retain_run_step(r);
}

void rollup_retention_start(analytics_rollup_t *r)
{
    uv_timer_init(r->an->loop, &r->retain);
    r->retain.data = r;
    if (r->an->retain_days > 0)
        uv_timer_start(&r->retain, on_retain_timer, RETAIN_FIRST_MS, RETAIN_EVERY_MS);
}
