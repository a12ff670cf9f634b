/* The rollups' write side: hot hour and day cells in memory, visit tracking, the ~1 s
 * flush into analytics_rollup_hour/_day together with the cursors that let a restart
 * after a crash recount what was not flushed. The backfill and the replay of those
 * events live in analytics_rollup_backfill.c, reads over the cells and retention in
 * analytics_rollup_read.c; the design is told in analytics_rollup.h. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "analytics/analytics_keyhash.h"
#include "analytics/analytics_rollup.h"
#include "analytics/analytics_rollup_int.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#define BACKFILL_CHUNK 5000
#define VISITS_MAX 50000      /* tracked visits before the least recent are dropped */
#define HOUR_KEEP_H 48        /* clean hour cells older than this are evicted */
#define DAY_KEEP_D 1          /* clean day cells older than this are evicted */
#define TWIN_KEEP_H 2         /* the same for day cells' hourly twins */
#define BACKFILL_KEEP_H 2     /* hour cells kept behind the backfill's cursor */

/* The rollup tables. Sessions are sketch encodings (analytics_rollup.h). */
#define ROLLUP_SQL(BLOB, BIG)                                                                      \
    "CREATE TABLE IF NOT EXISTS analytics_rollup_hour ("                                           \
    " website_id TEXT NOT NULL, hour " BIG " NOT NULL, gen " BIG " NOT NULL,"                      \
    " pageviews " BIG " NOT NULL, visits " BIG " NOT NULL, bounces " BIG " NOT NULL,"              \
    " totaltime " BIG " NOT NULL, sessions " BLOB " NOT NULL,"                                     \
    " PRIMARY KEY (website_id, hour, gen));"                                                       \
    "CREATE TABLE IF NOT EXISTS analytics_rollup_day ("                                            \
    " website_id TEXT NOT NULL, day " BIG " NOT NULL, type INTEGER NOT NULL,"                      \
    " value TEXT NOT NULL, gen " BIG " NOT NULL, y " BIG " NOT NULL, n " BIG " NOT NULL,"          \
    " sessions " BLOB " NOT NULL, PRIMARY KEY (website_id, type, day, value, gen));"               \
    "CREATE TABLE IF NOT EXISTS analytics_rollup_state ("                                          \
    " name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)"

/* The counts read of a metric (analytics_rollup_read.c) scans every value of a range
 * of days: this index covers it, so it never reads the rows' sketches. */
#define ROLLUP_COUNTS_SQL                                                                          \
    "CREATE INDEX IF NOT EXISTS analytics_rollup_day_counts"                                       \
    " ON analytics_rollup_day (website_id, type, day, value, gen, y, n)"

/* Its sketches read takes a few values over a range of days: this index finds them
 * without walking every value of each day (10 million events in PostgreSQL: 27 -> 9 ms). */
#define ROLLUP_VALUES_SQL                                                                          \
    "CREATE INDEX IF NOT EXISTS analytics_rollup_day_values"                                       \
    " ON analytics_rollup_day (website_id, type, value, day)"

static const hc_store_migration_t rollup_migrations[] = {
    {1, ROLLUP_SQL("BLOB", "INTEGER"), ROLLUP_SQL("BYTEA", "BIGINT")},
    {2, ROLLUP_COUNTS_SQL, ROLLUP_COUNTS_SQL},
    {3, ROLLUP_VALUES_SQL, ROLLUP_VALUES_SQL},
};

/* ---- the chained hash table shared by the three cell kinds ---- */

static void table_grow(rtable_t *t)
{
    size_t nb = t->nb ? t->nb * 2 : 1024;
    rnode_t **b = hc_calloc(nb, sizeof(*b));
    for (size_t i = 0; i < t->nb; i++)
        for (rnode_t *n = t->b[i], *next; n; n = next) {
            next = n->next;
            n->next = b[n->h & (nb - 1)];
            b[n->h & (nb - 1)] = n;
        }
    hc_free(t->b);
    t->b = b;
    t->nb = nb;
}

void rtable_insert(rtable_t *t, rnode_t *n)
{
    if (t->n >= t->nb)
        table_grow(t);
    n->next = t->b[n->h & (t->nb - 1)];
    t->b[n->h & (t->nb - 1)] = n;
    t->n++;
}

rnode_t *rtable_first(const rtable_t *t, uint64_t h)
{
    return t->nb ? t->b[h & (t->nb - 1)] : NULL;
}

/* ---- cells ---- */

/* Cell keys hash without formatting: the site's hash mixed with the bucket and type. */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* The site_t of site, made when missing and make says so (else NULL). One event touches
 * ~35 cells of the same site: the last one found is compared first. */
static const site_t *site_of(analytics_rollup_t *r, const char *site, int make)
{
    if (r->site_cached && strcmp(site, r->site_cached->text) == 0)
        return r->site_cached;
    uint64_t h = analytics_key_hash(site, strlen(site));
    site_t *s = NULL;
    for (rnode_t *n = rtable_first(&r->sites, h); n && !s; n = n->next)
        if (n->h == h && strcmp(((site_t *)n)->text, site) == 0)
            s = (site_t *)n;
    if (!s && make) {
        s = hc_calloc(1, sizeof(*s));
        s->node.h = h;
        s->id = ++r->nsites;
        s->text = hc_strdup(site);
        rtable_insert(&r->sites, &s->node);
    }
    if (s)
        r->site_cached = s;
    return s;
}

static uint64_t hour_hash(const site_t *s, int64_t hour)
{
    return mix64(s->node.h ^ ((uint64_t)hour * 0x9e3779b97f4a7c15ull));
}

/* A day (or hour) cell's key from its site's and its value's hashes. */
static uint64_t day_key(const site_t *s, int64_t day, int type, uint64_t value_h)
{
    return mix64(s->node.h ^ ((uint64_t)day * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)type << 56)) ^
           value_h;
}

static hcell_t *hour_lookup(analytics_rollup_t *r, const site_t *s, int64_t hour)
{
    uint64_t h = hour_hash(s, hour);
    for (rnode_t *n = rtable_first(&r->hours, h); n; n = n->next) {
        hcell_t *c = (hcell_t *)n;
        if (n->h == h && c->hour == hour && c->site_id == s->id)
            return c;
    }
    return NULL;
}

hcell_t *rollup_hour_find(analytics_rollup_t *r, const char *site, int64_t hour)
{
    const site_t *s = site_of(r, site, 0);
    return s ? hour_lookup(r, s, hour) : NULL;
}

static hcell_t *hour_get(analytics_rollup_t *r, const site_t *s, int64_t hour)
{
    hcell_t *c = hour_lookup(r, s, hour);
    if (c)
        return c;
    c = hc_calloc(1, sizeof(*c));
    c->node.h = hour_hash(s, hour);
    c->site_id = s->id;
    snprintf(c->site, sizeof(c->site), "%s", s->text);
    c->hour = hour;
    c->gen = r->next_gen++;
    rtable_insert(&r->hours, &c->node);
    return c;
}

static dcell_t *day_lookup(analytics_rollup_t *r, uint64_t h, const site_t *s, int64_t day,
                           int type, const char *value)
{
    for (rnode_t *n = rtable_first(&r->days, h); n; n = n->next) {
        dcell_t *c = (dcell_t *)n;
        if (n->h == h && c->day == day && c->type == type && c->site_id == s->id &&
            strcmp(c->value, value) == 0)
            return c;
    }
    return NULL;
}

dcell_t *rollup_day_find(analytics_rollup_t *r, const char *site, int64_t day, int type,
                         const char *value)
{
    const site_t *s = site_of(r, site, 0);
    if (!s)
        return NULL;
    uint64_t h = day_key(s, day, type, analytics_key_hash(value, strlen(value)));
    return day_lookup(r, h, s, day, type, value);
}

/* The cell keyed h (day_key of the rest), made when missing. */
static dcell_t *day_get(analytics_rollup_t *r, uint64_t h, const site_t *s, int64_t day, int type,
                        const char *value)
{
    dcell_t *c = day_lookup(r, h, s, day, type, value);
    if (c)
        return c;
    c = hc_calloc(1, sizeof(*c));
    c->node.h = h;
    c->site_id = s->id;
    snprintf(c->site, sizeof(c->site), "%s", s->text);
    c->day = day;
    c->type = type;
    c->value = hc_strdup(value);
    c->sessions.p = ANALYTICS_SKETCH_P_LOW; /* stored at that precision: 4 KiB, not 16 */
    c->gen = r->next_gen++;
    rtable_insert(&r->days, &c->node);
    return c;
}

/* ---- visits ---- */

static visit_t *visit_find(analytics_rollup_t *r, uint64_t key)
{
    for (rnode_t *n = rtable_first(&r->visits, key); n; n = n->next)
        if (n->h == key)
            return (visit_t *)n;
    return NULL;
}

/* Drops the least recently touched half of the tracked visits. */
static void visits_trim(analytics_rollup_t *r)
{
    uint64_t cutoff = r->touch - VISITS_MAX / 2;
    for (size_t i = 0; i < r->visits.nb; i++)
        for (rnode_t **pp = &r->visits.b[i]; *pp;) {
            visit_t *v = (visit_t *)*pp;
            if (v->touch < cutoff) {
                *pp = v->node.next;
                r->visits.n--;
                hc_free(v);
            } else {
                pp = &(*pp)->next;
            }
        }
}

/* Umami's totaltime per visit: whole seconds between its first and last pageview. */
static int64_t span_s(const visit_t *v)
{
    return (v->max_ms - v->min_ms) / 1000;
}

void rollup_visit_seed(analytics_rollup_t *r, const char *visit_id, int64_t min_ms, int64_t max_ms,
                       int64_t count)
{
    uint64_t key = analytics_key_hash(visit_id, strlen(visit_id));
    if (visit_find(r, key) || r->visits.n >= VISITS_MAX)
        return;
    visit_t *v = hc_calloc(1, sizeof(*v));
    v->node.h = key;
    v->start_hour = min_ms / 3600000;
    v->min_ms = min_ms;
    v->max_ms = max_ms;
    v->count = count;
    v->touch = ++r->touch;
    rtable_insert(&r->visits, &v->node);
}

static void count_visit(analytics_rollup_t *r, const site_t *site, const char *visit_id, int64_t ms)
{
    uint64_t key = analytics_key_hash(visit_id, strlen(visit_id));
    visit_t *v = visit_find(r, key);
    r->touch++;
    if (!v) {
        if (r->visits.n >= VISITS_MAX)
            visits_trim(r);
        v = hc_calloc(1, sizeof(*v));
        v->node.h = key;
        v->start_hour = ms / 3600000;
        v->min_ms = v->max_ms = ms;
        v->count = 1;
        v->touch = r->touch;
        rtable_insert(&r->visits, &v->node);
        hcell_t *c = hour_get(r, site, v->start_hour);
        c->visits++;
        c->bounces++;
        c->dirty = 1;
        return;
    }
    int64_t old_span = span_s(v);
    int64_t old_count = v->count;
    if (ms < v->min_ms)
        v->min_ms = ms;
    if (ms > v->max_ms)
        v->max_ms = ms;
    v->count++;
    v->touch = r->touch;
    hcell_t *c = hour_get(r, site, v->start_hour);
    if (old_count == 1)
        c->bounces--;
    c->totaltime += span_s(v) - old_span;
    c->dirty = 1;
}

/* Counts value into its day cell and that cell's hourly twin. */
static void count_day(analytics_rollup_t *r, const site_t *site, int64_t ms, int type,
                      const char *value, uint64_t sh)
{
    if (!value || !value[0])
        return;
    int64_t hour = ms >= 0 ? ms / 3600000 : (ms - 3599999) / 3600000;
    int64_t day = hour >= 0 ? hour / 24 : (hour - 23) / 24;
    uint64_t value_h = analytics_key_hash(value, strlen(value));
    dcell_t *c = day_get(r, day_key(site, day, type, value_h), site, day, type, value);
    c->y++;
    analytics_sketch_add(&c->sessions, sh);
    c->dirty = 1;
    int htype = type + ANALYTICS_RT_HOURLY;
    c = day_get(r, day_key(site, hour, htype, value_h), site, hour, htype, value);
    c->y++;
    analytics_sketch_add(&c->sessions, sh);
    c->dirty = 1;
}

void rollup_count(analytics_rollup_t *r, const analytics_event_t *ev)
{
    if (ev->kind != ANALYTICS_SEND_EVENT || !ev->website_id[0] || !ev->session_id[0])
        return;
    const site_t *site = site_of(r, ev->website_id, 1);
    int64_t ms = ev->created_at_ms;
    uint64_t sh = analytics_hash64(ev->session_id, strlen(ev->session_id));
    if (ms / 1000 > r->horizon_s)
        r->horizon_s = ms / 1000;
    if (ev->event_type == ANALYTICS_CUSTOM) {
        count_day(r, site, ms, ANALYTICS_RT_EVENT, ev->event_name, sh);
        return;
    }
    if (ev->event_type != ANALYTICS_PAGEVIEW)
        return;
    hcell_t *c = hour_get(r, site, ms / 3600000);
    c->pageviews++;
    analytics_sketch_add(&c->sessions, sh);
    c->dirty = 1;
    if (ev->visit_id[0])
        count_visit(r, site, ev->visit_id, ms);

    char lang[3] = {0};
    for (int i = 0; i < 2 && ev->language[i]; i++) {
        char ch = ev->language[i];
        lang[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    const char *referrer =
        strcmp(ev->referrer_domain, ev->hostname) == 0 ? "" : ev->referrer_domain;
    const struct {
        int type;
        const char *v;
    } vals[] = {
        {ANALYTICS_RT_PATH, ev->url_path},
        {ANALYTICS_RT_REFERRER, referrer},
        {ANALYTICS_RT_TITLE, ev->page_title},
        {ANALYTICS_RT_QUERY, ev->url_query},
        {ANALYTICS_RT_HOSTNAME, ev->hostname},
        {ANALYTICS_RT_TAG, ev->tag},
        {ANALYTICS_RT_UTM_SOURCE, ev->utm_source},
        {ANALYTICS_RT_UTM_MEDIUM, ev->utm_medium},
        {ANALYTICS_RT_UTM_CAMPAIGN, ev->utm_campaign},
        {ANALYTICS_RT_UTM_CONTENT, ev->utm_content},
        {ANALYTICS_RT_UTM_TERM, ev->utm_term},
        {ANALYTICS_RT_BROWSER, ev->browser},
        {ANALYTICS_RT_OS, ev->os},
        {ANALYTICS_RT_DEVICE, ev->device},
        {ANALYTICS_RT_SCREEN, ev->screen},
        {ANALYTICS_RT_LANGUAGE, lang},
        {ANALYTICS_RT_COUNTRY, ev->country},
    };
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        count_day(r, site, ms, vals[i].type, vals[i].v, sh);
}

void analytics_rollup_observe(analytics_rollup_t *r, const analytics_event_t *ev)
{
    if (!r)
        return;
    rollup_count(r, ev);
    /* ids arrive in ascending order (analytics_int.h): the last one is the cursor */
    if (strcmp(ev->event_id, r->live_id) > 0) {
        memcpy(r->live_id, ev->event_id, sizeof(r->live_id));
        r->live_dirty = 1;
    }
}

/* ---- flush ---- */

typedef struct flush_job {
    analytics_rollup_t *r;
    hcell_t **hc;
    size_t nh;
    dcell_t **dc;
    size_t nd;
    int cursors; /* it wrote the cursors (dirty again if it fails) */
} flush_job_t;

static void evict(analytics_rollup_t *r)
{
    if (r->reads_inflight > 0 || r->flushing)
        return;
    int64_t hour_cut = r->horizon_s / 3600 - HOUR_KEEP_H;
    int64_t day_cut = r->horizon_s / 86400 - DAY_KEEP_D;
    int64_t twin_cut = r->horizon_s / 3600 - TWIN_KEEP_H, bh = INT64_MAX;
    if (r->backfilling) {
        /* the backfill walks forward in time: what lies behind its cursor is done (an
         * hour cell still moves with its visits' later events for a visit's length) */
        bh = r->backfill_ms / 3600000;
        twin_cut = bh < twin_cut ? bh : twin_cut;
        bh -= BACKFILL_KEEP_H;
        int64_t bd = r->backfill_ms / 86400000;
        day_cut = bd < day_cut ? bd : day_cut;
    }
    for (size_t i = 0; i < r->hours.nb; i++)
        for (rnode_t **pp = &r->hours.b[i]; *pp;) {
            hcell_t *c = (hcell_t *)*pp;
            if (!c->dirty && (c->hour < hour_cut || c->hour < bh)) {
                *pp = c->node.next;
                r->hours.n--;
                analytics_sketch_clear(&c->sessions);
                hc_free(c);
            } else {
                pp = &(*pp)->next;
            }
        }
    for (size_t i = 0; i < r->days.nb; i++)
        for (rnode_t **pp = &r->days.b[i]; *pp;) {
            dcell_t *c = (dcell_t *)*pp;
            if (!c->dirty && c->day < (c->type >= ANALYTICS_RT_HOURLY ? twin_cut : day_cut)) {
                *pp = c->node.next;
                r->days.n--;
                analytics_sketch_clear(&c->sessions);
                hc_free(c->value);
                hc_free(c);
            } else {
                pp = &(*pp)->next;
            }
        }
}

static void flush_waiters_run(analytics_rollup_t *r)
{
    flush_waiter_t *w = r->waiters;
    r->waiters = NULL;
    while (w) {
        flush_waiter_t *next = w->next;
        w->done(w->arg);
        hc_free(w);
        w = next;
    }
}

static int flush_start(analytics_rollup_t *r);

static void flush_done(void *arg, int status, const char *errmsg)
{
    flush_job_t *job = arg;
    analytics_rollup_t *r = job->r;
    if (status < 0) {
        hc_log(HC_LOG_ERROR, "analytics rollup flush failed", HC_LI("cells", job->nh + job->nd),
               HC_LS("error", errmsg), NULL);
        for (size_t i = 0; i < job->nh; i++)
            job->hc[i]->dirty = 1;
        for (size_t i = 0; i < job->nd; i++)
            job->dc[i]->dirty = 1;
        r->live_dirty |= job->cursors;
        r->gaps_dirty |= job->cursors;
    } else {
        r->flushed_cells += job->nh + job->nd;
    }
    hc_free(job->hc);
    hc_free(job->dc);
    hc_free(job);
    r->flushing = 0;
    evict(r);
    if (r->trim_after_flush) {
        r->trim_after_flush = 0;
        malloc_trim(0);
    }
    if (r->closing) {
        flush_waiters_run(r);
        rollup_maybe_free(r);
        return;
    }
    if (r->backfill_wait_flush) {
        r->backfill_wait_flush = 0;
        rollup_backfill_next(r);
    }
    /* a drain waits for everything counted so far: flush again while cells are dirty */
    if (r->waiters && flush_start(r))
        return;
    flush_waiters_run(r);
}

#define HOUR_UPSERT                                                                                \
    "INSERT INTO analytics_rollup_hour (website_id, hour, gen, pageviews, visits, bounces,"        \
    " totaltime, sessions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"                                \
    " ON CONFLICT (website_id, hour, gen) DO UPDATE SET pageviews = excluded.pageviews,"           \
    " visits = excluded.visits, bounces = excluded.bounces, totaltime = excluded.totaltime,"       \
    " sessions = excluded.sessions"
#define DAY_UPSERT                                                                                 \
    "INSERT INTO analytics_rollup_day (website_id, day, type, value, gen, y, n, sessions)"         \
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (website_id, type, day, value, gen)"     \
    " DO UPDATE SET y = excluded.y, n = excluded.n, sessions = excluded.sessions"
#define STATE_UPSERT                                                                               \
    "INSERT INTO analytics_rollup_state (name, value) VALUES ($1, $2)"                             \
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value"

/* Writes every dirty cell, the backfill's cursor, the live cursor and the gaps left to
 * replay as one transaction: the cursors then say exactly which events the cells hold,
 * so no cell may wait for a later flush. Nothing is written before the state was read
 * (the cursors of the previous process are still to be turned into gaps). Returns 1
 * when a write was queued. */
static int flush_start(analytics_rollup_t *r)
{
    if (r->flushing)
        return 1;
    if (!r->state_ready)
        return 0;
    flush_job_t *job = hc_calloc(1, sizeof(*job));
    job->r = r;
    size_t cap = 0;
    for (size_t i = 0; i < r->hours.nb; i++)
        for (rnode_t *n = r->hours.b[i]; n; n = n->next)
            if (((hcell_t *)n)->dirty) {
                if (job->nh == cap) {
                    cap = cap ? cap * 2 : 64;
                    job->hc = hc_realloc(job->hc, cap * sizeof(*job->hc));
                }
                job->hc[job->nh++] = (hcell_t *)n;
            }
    cap = 0;
    for (size_t i = 0; i < r->days.nb; i++)
        for (rnode_t *n = r->days.b[i]; n; n = n->next)
            if (((dcell_t *)n)->dirty) {
                if (job->nd == cap) {
                    cap = cap ? cap * 2 : 64;
                    job->dc = hc_realloc(job->dc, cap * sizeof(*job->dc));
                }
                job->dc[job->nd++] = (dcell_t *)n;
            }
    int with_cursor = r->cursor_dirty;
    job->cursors = r->live_dirty || r->gaps_dirty;
    size_t nstmts = job->nh + job->nd + (with_cursor ? 2 : 0) + (job->cursors ? 2 : 0);
    if (nstmts == 0) {
        hc_free(job);
        return 0;
    }
    /* encode every sketch first: the buffer moves while it grows */
    hc_buf_t blobs;
    hc_buf_init(&blobs, (size_t)1 << 31);
    size_t *off = hc_calloc(job->nh + job->nd + 1, sizeof(size_t));
    for (size_t i = 0; i < job->nh; i++) {
        off[i] = blobs.len;
        analytics_sketch_encode(&job->hc[i]->sessions, &blobs);
    }
    for (size_t i = 0; i < job->nd; i++) {
        off[job->nh + i] = blobs.len;
        analytics_sketch_encode_at(&job->dc[i]->sessions, ANALYTICS_SKETCH_P_LOW, &blobs);
    }
    off[job->nh + job->nd] = blobs.len;
    hc_store_stmt_t *st = hc_calloc(nstmts, sizeof(*st));
    hc_store_value_t *pv = hc_calloc(nstmts * 8, sizeof(*pv));
    size_t k = 0;
    for (size_t i = 0; i < job->nh; i++, k++) {
        hcell_t *c = job->hc[i];
        hc_store_value_t *p = pv + k * 8;
        p[0] = hc_store_text(c->site);
        p[1] = hc_store_int(c->hour);
        p[2] = hc_store_int(c->gen);
        p[3] = hc_store_int(c->pageviews);
        p[4] = hc_store_int(c->visits);
        p[5] = hc_store_int(c->bounces);
        p[6] = hc_store_int(c->totaltime);
        p[7] = hc_store_blob(blobs.base + off[i], off[i + 1] - off[i]);
        st[k] = (hc_store_stmt_t){HOUR_UPSERT, p, 8, 1};
        c->dirty = 0;
    }
    for (size_t i = 0; i < job->nd; i++, k++) {
        dcell_t *c = job->dc[i];
        hc_store_value_t *p = pv + k * 8;
        size_t j = job->nh + i;
        p[0] = hc_store_text(c->site);
        p[1] = hc_store_int(c->day);
        p[2] = hc_store_int(c->type);
        p[3] = hc_store_text(c->value);
        p[4] = hc_store_int(c->gen);
        p[5] = hc_store_int(c->y);
        p[6] = hc_store_int((int64_t)analytics_sketch_count(&c->sessions));
        p[7] = hc_store_blob(blobs.base + off[j], off[j + 1] - off[j]);
        st[k] = (hc_store_stmt_t){DAY_UPSERT, p, 8, 1};
        c->dirty = 0;
    }
    if (with_cursor) {
        hc_store_value_t *p = pv + k * 8;
        p[0] = hc_store_text("backfill_cursor");
        p[1] = hc_store_text(r->cursor_ts);
        p[2] = hc_store_text("backfill_cursor_id");
        p[3] = hc_store_text(r->cursor_id);
        st[k++] = (hc_store_stmt_t){STATE_UPSERT, p, 2, 1};
        st[k++] = (hc_store_stmt_t){STATE_UPSERT, p + 2, 2, 1};
        r->cursor_dirty = 0;
    }
    char gaps[ROLLUP_GAPS_TEXT];
    if (job->cursors) {
        rollup_gaps_format(r, gaps);
        hc_store_value_t *p = pv + k * 8;
        p[0] = hc_store_text("live_cursor");
        p[1] = hc_store_text(r->live_id);
        p[2] = hc_store_text("replay_gaps");
        p[3] = hc_store_text(gaps);
        st[k++] = (hc_store_stmt_t){STATE_UPSERT, p, 2, 1};
        st[k++] = (hc_store_stmt_t){STATE_UPSERT, p + 2, 2, 1};
        r->live_dirty = r->gaps_dirty = 0;
    }
    int rc = hc_store_exec_group(r->an->store, st, k, flush_done, job);
    hc_free(st);
    hc_free(pv);
    hc_free(off);
    hc_buf_free(&blobs);
    if (rc < 0) {
        /* queue full or closing: the cells stay dirty for the next tick */
        for (size_t i = 0; i < job->nh; i++)
            job->hc[i]->dirty = 1;
        for (size_t i = 0; i < job->nd; i++)
            job->dc[i]->dirty = 1;
        r->cursor_dirty |= with_cursor;
        r->live_dirty |= job->cursors;
        r->gaps_dirty |= job->cursors;
        hc_free(job->hc);
        hc_free(job->dc);
        hc_free(job);
        return 0;
    }
    r->flushing = 1;
    return 1;
}

int rollup_flush_now(analytics_rollup_t *r)
{
    return flush_start(r);
}

static void on_tick(uv_timer_t *t)
{
    analytics_rollup_t *r = t->data;
    /* while the backfill runs, its own flushes write every dirty cell (live ones too) */
    if (!r->backfilling)
        flush_start(r);
}

void analytics_rollup_flush(analytics_rollup_t *r, void (*done)(void *arg), void *arg)
{
    if (!r) {
        done(arg);
        return;
    }
    flush_waiter_t *w = hc_calloc(1, sizeof(*w));
    w->done = done;
    w->arg = arg;
    w->next = r->waiters;
    r->waiters = w;
    if (!r->flushing && !flush_start(r))
        flush_waiters_run(r);
}

/* ---- open / close ---- */

int analytics_rollup_open(analytics_t *an, analytics_rollup_t **out)
{
    *out = NULL;
    int rc = hc_store_migrate(an->store, "analytics-rollup", rollup_migrations,
                              sizeof(rollup_migrations) / sizeof(rollup_migrations[0]), NULL);
    if (rc < 0) {
        hc_log(HC_LOG_ERROR, "analytics rollup migrations failed", HC_LI("rc", rc), NULL);
        return rc;
    }
    analytics_rollup_t *r = hc_calloc(1, sizeof(*r));
    r->an = an;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->open_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    r->next_gen = r->open_ms * 1000;
    r->horizon_s = r->open_ms / 1000;
    /* every id the ingest generates from now on is above the floor (analytics_ingest.c
     * starts its clock there): a uuid v7 of this millisecond with sequence and random
     * bits zero, which no generated id equals (their variant bits are 10) */
    unsigned char b[16] = {0};
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)((uint64_t)r->open_ms >> (40 - 8 * i));
    b[6] = 0x70;
    analytics_uuid_format(r->live_floor, b);
    memcpy(r->live_id, r->live_floor, sizeof(r->live_id));
    an->id_floor_ms = r->open_ms;
    unsigned flush_ms = an->rollup_flush_ms ? an->rollup_flush_ms : 1000;
    uv_timer_init(an->loop, &r->tick);
    r->tick.data = r;
    uv_timer_start(&r->tick, on_tick, flush_ms, flush_ms);
    rollup_retention_start(r);
    rc = rollup_backfill_start(r);
    if (rc < 0) {
        analytics_rollup_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

static void free_tables(analytics_rollup_t *r)
{
    for (size_t i = 0; i < r->hours.nb; i++)
        for (rnode_t *n = r->hours.b[i], *next; n; n = next) {
            next = n->next;
            analytics_sketch_clear(&((hcell_t *)n)->sessions);
            hc_free(n);
        }
    for (size_t i = 0; i < r->days.nb; i++)
        for (rnode_t *n = r->days.b[i], *next; n; n = next) {
            next = n->next;
            analytics_sketch_clear(&((dcell_t *)n)->sessions);
            hc_free(((dcell_t *)n)->value);
            hc_free(n);
        }
    for (size_t i = 0; i < r->visits.nb; i++)
        for (rnode_t *n = r->visits.b[i], *next; n; n = next) {
            next = n->next;
            hc_free(n);
        }
    for (size_t i = 0; i < r->sites.nb; i++)
        for (rnode_t *n = r->sites.b[i], *next; n; n = next) {
            next = n->next;
            hc_free(((site_t *)n)->text);
            hc_free(n);
        }
    hc_free(r->hours.b);
    hc_free(r->days.b);
    hc_free(r->visits.b);
    hc_free(r->sites.b);
}

static void on_handle_closed(uv_handle_t *h)
{
    analytics_rollup_t *r = h->data;
    if (--r->open_handles > 0)
        return;
    free_tables(r);
    hc_free(r);
}

/* Frees the rollup once its timers closed and no callback of the store can reach it
 * (the service closes the store after this, and store callbacks check r->closing). */
void analytics_rollup_close(analytics_rollup_t *r)
{
    if (!r)
        return;
    r->closing = 1;
    flush_waiters_run(r);
    if (r->flushing || r->reads_inflight || r->backfill_inflight || r->retention_inflight) {
        /* a store callback is outstanding: it frees the rollup (rollup_maybe_free) */
        uv_timer_stop(&r->tick);
        uv_timer_stop(&r->retain);
        r->free_when_idle = 1;
        return;
    }
    r->open_handles = 2;
    uv_close((uv_handle_t *)&r->tick, on_handle_closed);
    uv_close((uv_handle_t *)&r->retain, on_handle_closed);
}

void rollup_maybe_free(analytics_rollup_t *r)
{
    if (!r->free_when_idle || r->flushing || r->reads_inflight || r->backfill_inflight ||
        r->retention_inflight)
        return;
    r->free_when_idle = 0;
    r->open_handles = 2;
    uv_close((uv_handle_t *)&r->tick, on_handle_closed);
    uv_close((uv_handle_t *)&r->retain, on_handle_closed);
}
