/* Reads over the rollups: the rows of analytics_rollup_hour/_day in a range, merged with
 * the cells still in memory (a cell's own row is skipped when the cell is in memory with
 * the same generation), for /stats, /pageviews and /metrics. Contracts in
 * analytics_rollup.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/analytics_params.h"
#include "analytics/analytics_rollup_int.h"
#include "core/hc_alloc.h"

static const struct {
    const char *name;
    int type;
} metric_types[] = {
    {"path", ANALYTICS_RT_PATH},
    {"referrer", ANALYTICS_RT_REFERRER},
    {"domain", ANALYTICS_RT_REFERRER},
    {"title", ANALYTICS_RT_TITLE},
    {"query", ANALYTICS_RT_QUERY},
    {"hostname", ANALYTICS_RT_HOSTNAME},
    {"tag", ANALYTICS_RT_TAG},
    {"event", ANALYTICS_RT_EVENT},
    {"utmSource", ANALYTICS_RT_UTM_SOURCE},
    {"utmMedium", ANALYTICS_RT_UTM_MEDIUM},
    {"utmCampaign", ANALYTICS_RT_UTM_CAMPAIGN},
    {"utmContent", ANALYTICS_RT_UTM_CONTENT},
    {"utmTerm", ANALYTICS_RT_UTM_TERM},
    {"browser", ANALYTICS_RT_BROWSER},
    {"os", ANALYTICS_RT_OS},
    {"device", ANALYTICS_RT_DEVICE},
    {"screen", ANALYTICS_RT_SCREEN},
    {"language", ANALYTICS_RT_LANGUAGE},
    {"country", ANALYTICS_RT_COUNTRY},
};

int analytics_rollup_type_of(const char *metric)
{
    for (size_t i = 0; i < sizeof(metric_types) / sizeof(metric_types[0]); i++)
        if (strcmp(metric_types[i].name, metric) == 0)
            return metric_types[i].type;
    return 0;
}

int analytics_rollup_ready(const analytics_rollup_t *r)
{
    return r && r->ready && !r->closing;
}

/* ---- hour rows: stats and series ---- */

typedef struct hour_read {
    analytics_rollup_t *r;
    char site[ANALYTICS_UUID_LEN + 1];
    int64_t from_h, to_h;
    int series;
    int unit;
    analytics_tz_t tz; /* a copy of the caller's zone (segments shared, read-only) */
    analytics_totals_cb totals_cb;
    analytics_series_cb series_cb;
    void *arg;
} hour_read_t;

/* A bucket being summed. */
typedef struct bucket {
    int64_t start;
    int64_t pageviews, visits, bounces, totaltime;
    analytics_sketch_t sessions;
} bucket_t;

typedef struct buckets {
    bucket_t *b;
    size_t n, cap;
} buckets_t;

static bucket_t *bucket_get(buckets_t *bs, int64_t start)
{
    size_t lo = 0, hi = bs->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (bs->b[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < bs->n && bs->b[lo].start == start)
        return &bs->b[lo];
    if (bs->n == bs->cap) {
        bs->cap = bs->cap ? bs->cap * 2 : 64;
        bs->b = hc_realloc(bs->b, bs->cap * sizeof(bucket_t));
    }
    memmove(bs->b + lo + 1, bs->b + lo, (bs->n - lo) * sizeof(bucket_t));
    memset(&bs->b[lo], 0, sizeof(bucket_t));
    bs->b[lo].start = start;
    bs->n++;
    return &bs->b[lo];
}

static int64_t bucket_of(const hour_read_t *q, int64_t hour)
{
    if (!q->series)
        return 0;
    return analytics_bucket_start((enum analytics_unit)q->unit, &q->tz, hour * 3600);
}

static void on_hours(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    (void)errmsg;
    hour_read_t *q = arg;
    analytics_rollup_t *r = q->r;
    r->reads_inflight--;
    buckets_t bs = {0};
    if (status == 0 && !r->closing) {
        for (size_t i = 0; i < res->nrows; i++) {
            const hc_store_value_t *c = hc_store_cell(res, i, 0);
            int64_t hour = c[0].v.i, gen = c[1].v.i;
            hcell_t *mem = rollup_hour_find(r, q->site, hour);
            if (mem && mem->gen == gen)
                continue;
            bucket_t *b = bucket_get(&bs, bucket_of(q, hour));
            b->pageviews += c[2].v.i;
            b->visits += c[3].v.i;
            b->bounces += c[4].v.i;
            b->totaltime += c[5].v.i;
            if (c[6].type == HC_STORE_BLOB)
                analytics_sketch_merge_encoded(&b->sessions, c[6].v.s.p, c[6].v.s.len);
        }
        for (size_t i = 0; i < r->hours.nb; i++)
            for (rnode_t *n = r->hours.b[i]; n; n = n->next) {
                hcell_t *h = (hcell_t *)n;
                if (h->hour < q->from_h || h->hour > q->to_h || strcmp(h->site, q->site) != 0)
                    continue;
                bucket_t *b = bucket_get(&bs, bucket_of(q, h->hour));
                b->pageviews += h->pageviews;
                b->visits += h->visits;
                b->bounces += h->bounces;
                b->totaltime += h->totaltime;
                analytics_sketch_merge(&b->sessions, &h->sessions);
            }
    } else if (status == 0) {
        status = -ESHUTDOWN;
    }
    if (q->series) {
        analytics_point_t *pts = hc_calloc(bs.n ? bs.n : 1, sizeof(*pts));
        for (size_t i = 0; i < bs.n; i++)
            pts[i] = (analytics_point_t){bs.b[i].start, bs.b[i].pageviews,
                                         (int64_t)analytics_sketch_count(&bs.b[i].sessions)};
        q->series_cb(q->arg, status, status == 0 ? pts : NULL, status == 0 ? bs.n : 0);
        hc_free(pts);
    } else {
        analytics_totals_t t = {0};
        if (bs.n) {
            t.pageviews = bs.b[0].pageviews;
            t.visitors = (int64_t)analytics_sketch_count(&bs.b[0].sessions);
            t.visits = bs.b[0].visits;
            t.bounces = bs.b[0].bounces;
            t.totaltime = bs.b[0].totaltime;
        }
        q->totals_cb(q->arg, status, status == 0 ? &t : NULL);
    }
    for (size_t i = 0; i < bs.n; i++)
        analytics_sketch_clear(&bs.b[i].sessions);
    hc_free(bs.b);
    hc_free(q);
    if (r->closing)
        rollup_maybe_free(r);
}

static int hours_read(hour_read_t *q)
{
    analytics_rollup_t *r = q->r;
    hc_store_value_t p[3] = {hc_store_text(q->site), hc_store_int(q->from_h),
                             hc_store_int(q->to_h)};
    int rc =
        hc_store_query_binary(r->an->store, /* sketches as bytes, not hex */
                              "SELECT hour, gen, pageviews, visits, bounces, totaltime, sessions"
                              " FROM analytics_rollup_hour WHERE website_id = $1"
                              " AND hour >= $2 AND hour <= $3",
                              p, 3, on_hours, q);
    if (rc < 0) {
        hc_free(q);
        return rc;
    }
    r->reads_inflight++;
    return 0;
}

int analytics_rollup_stats(analytics_rollup_t *r, const char *website, int64_t from_h, int64_t to_h,
                           analytics_totals_cb cb, void *arg)
{
    hour_read_t *q = hc_calloc(1, sizeof(*q));
    q->r = r;
    snprintf(q->site, sizeof(q->site), "%s", website);
    q->from_h = from_h;
    q->to_h = to_h;
    q->totals_cb = cb;
    q->arg = arg;
    return hours_read(q);
}

int analytics_rollup_series(analytics_rollup_t *r, const char *website, int64_t from_h,
                            int64_t to_h, int unit, const void *tz, analytics_series_cb cb,
                            void *arg)
{
    hour_read_t *q = hc_calloc(1, sizeof(*q));
    q->r = r;
    snprintf(q->site, sizeof(q->site), "%s", website);
    q->from_h = from_h;
    q->to_h = to_h;
    q->series = 1;
    q->unit = unit;
    if (tz)
        q->tz = *(const analytics_tz_t *)tz;
    else
        q->tz.is_utc = 1;
    q->series_cb = cb;
    q->arg = arg;
    return hours_read(q);
}

/* ---- day rows: metrics ----
 *
 * Two reads. The first takes every cell's count (y) and distinct estimate (n) without
 * sketches: per value, the sum of n bounds its distinct sessions from above and the
 * largest n from below. Only values whose upper bound reaches the K-th largest lower
 * bound (K = offset + limit) can be in the page; the second read merges the sketches of
 * those values alone. Named events need no sketch: y counts them. */

#define METRIC_CANDIDATES_MAX 2000 /* past this, the second read takes every value */

typedef struct mval {
    rnode_t node;
    char *x;
    int64_t y;
    int64_t ub, lb;
    int cand;
    analytics_sketch_t sessions;
} mval_t;

typedef struct metric_read {
    analytics_rollup_t *r;
    char site[ANALYTICS_UUID_LEN + 1];
    int type;
    int64_t from_d, to_d;   /* whole days from day cells (empty when from_d > to_d) */
    int64_t h1_from, h1_to; /* hours before the first whole day, from hourly cells */
    int64_t h2_from, h2_to; /* hours after the last whole day */
    size_t limit, offset;
    rtable_t vals;
    mval_t **cand; /* the second read's values, NULL when it takes them all */
    size_t ncand;
    analytics_metric_cb cb;
    void *arg;
} metric_read_t;

static mval_t *mval_get(rtable_t *t, const char *x, int create)
{
    uint64_t h = analytics_hash64(x, strlen(x));
    for (rnode_t *n = rtable_first(t, h); n; n = n->next)
        if (n->h == h && strcmp(((mval_t *)n)->x, x) == 0)
            return (mval_t *)n;
    if (!create)
        return NULL;
    mval_t *v = hc_calloc(1, sizeof(*v));
    v->node.h = h;
    v->x = hc_strdup(x);
    rtable_insert(t, &v->node);
    return v;
}

static int row_cmp(const void *a, const void *b)
{
    const analytics_metric_row_t *x = a, *y = b;
    if (x->y != y->y)
        return x->y > y->y ? -1 : 1;
    return strcmp(x->x, y->x);
}

static int i64_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x > y ? -1 : x < y;
}

/* Whether a cell of type/bucket belongs to the read. */
static int metric_wants(const metric_read_t *q, int type, int64_t b)
{
    if (type == q->type)
        return b >= q->from_d && b <= q->to_d;
    if (type == q->type + ANALYTICS_RT_HOURLY)
        return (b >= q->h1_from && b <= q->h1_to) || (b >= q->h2_from && b <= q->h2_to);
    return 0;
}

static void metric_free(metric_read_t *q)
{
    for (size_t i = 0; i < q->vals.nb; i++)
        for (rnode_t *nd = q->vals.b[i], *next; nd; nd = next) {
            next = nd->next;
            mval_t *v = (mval_t *)nd;
            analytics_sketch_clear(&v->sessions);
            hc_free(v->x);
            hc_free(v);
        }
    hc_free(q->vals.b);
    hc_free(q->cand);
    hc_free(q);
}

/* Answers with the values marked cand (all when every value is one), y from sketches
 * or, for named events, from counts. */
static void metric_answer(metric_read_t *q, int status)
{
    analytics_rollup_t *r = q->r;
    analytics_metric_row_t *rows = hc_calloc(q->vals.n ? q->vals.n : 1, sizeof(*rows));
    size_t n = 0;
    for (size_t i = 0; status == 0 && i < q->vals.nb; i++)
        for (rnode_t *nd = q->vals.b[i]; nd; nd = nd->next) {
            mval_t *v = (mval_t *)nd;
            if (!v->cand)
                continue;
            rows[n].x = v->x;
            rows[n].y = q->type == ANALYTICS_RT_EVENT
                            ? v->y
                            : (int64_t)analytics_sketch_count(&v->sessions);
            n++;
        }
    qsort(rows, n, sizeof(*rows), row_cmp);
    size_t first = q->offset < n ? q->offset : n;
    size_t count = n - first < q->limit ? n - first : q->limit;
    q->cb(q->arg, status, status == 0 ? rows + first : NULL, status == 0 ? count : 0);
    hc_free(rows);
    metric_free(q);
    if (r->closing)
        rollup_maybe_free(r);
}

static void on_sketches(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    (void)errmsg;
    metric_read_t *q = arg;
    analytics_rollup_t *r = q->r;
    r->reads_inflight--;
    if (status == 0 && r->closing)
        status = -ESHUTDOWN;
    if (status == 0) {
        for (size_t i = 0; i < res->nrows; i++) {
            const hc_store_value_t *c = hc_store_cell(res, i, 0);
            if (c[0].type != HC_STORE_TEXT || c[4].type != HC_STORE_BLOB)
                continue;
            mval_t *v = mval_get(&q->vals, c[0].v.s.p, 0);
            if (!v || !v->cand)
                continue;
            dcell_t *mem = rollup_day_find(r, q->site, c[2].v.i, (int)c[3].v.i, c[0].v.s.p);
            if (mem && mem->gen == c[1].v.i)
                continue;
            analytics_sketch_merge_encoded(&v->sessions, c[4].v.s.p, c[4].v.s.len);
        }
        for (size_t i = 0; i < r->days.nb; i++)
            for (rnode_t *n = r->days.b[i]; n; n = n->next) {
                dcell_t *d = (dcell_t *)n;
                if (!metric_wants(q, d->type, d->day) || strcmp(d->site, q->site) != 0)
                    continue;
                mval_t *v = mval_get(&q->vals, d->value, 0);
                if (v && v->cand)
                    analytics_sketch_merge(&v->sessions, &d->sessions);
            }
    }
    metric_answer(q, status);
}

/* The three index range scans (website_id, type, day) of a read; an OR would scan
 * every type. sketches selects the blob, else the counts; the candidates' values are
 * $10... */
static void metric_sql(const metric_read_t *q, int sketches, hc_buf_t *sql)
{
    static const char *const ranges[3][3] = {
        {"$2", "$3", "$4"}, {"$5", "$6", "$7"}, {"$5", "$8", "$9"}};
    for (int part = 0; part < 3; part++) {
        hc_buf_printf(sql,
                      "%sSELECT value, gen, day, type, %s FROM analytics_rollup_day"
                      " WHERE website_id = $1 AND type = %s AND day >= %s AND day <= %s",
                      part ? " UNION ALL " : "", sketches ? "sessions" : "y, n", ranges[part][0],
                      ranges[part][1], ranges[part][2]);
        if (q->cand) {
            hc_buf_puts(sql, " AND value IN (");
            for (size_t i = 0; i < q->ncand; i++)
                hc_buf_printf(sql, "%s$%zu", i ? ", " : "", 10 + i);
            hc_buf_puts(sql, ")");
        }
    }
}

static int metric_query(metric_read_t *q, int sketches, hc_store_result_cb cb)
{
    hc_buf_t sql;
    hc_buf_init(&sql, 0);
    metric_sql(q, sketches, &sql);
    size_t np = 9 + q->ncand;
    hc_store_value_t *p = hc_calloc(np, sizeof(*p));
    p[0] = hc_store_text(q->site);
    p[1] = hc_store_int(q->type);
    p[2] = hc_store_int(q->from_d);
    p[3] = hc_store_int(q->to_d);
    p[4] = hc_store_int(q->type + ANALYTICS_RT_HOURLY);
    p[5] = hc_store_int(q->h1_from);
    p[6] = hc_store_int(q->h1_to);
    p[7] = hc_store_int(q->h2_from);
    p[8] = hc_store_int(q->h2_to);
    for (size_t i = 0; i < q->ncand; i++)
        p[9 + i] = hc_store_text(q->cand[i]->x);
    int rc = sketches ? hc_store_query_binary(q->r->an->store, sql.base, p, np, cb, q)
                      : hc_store_query(q->r->an->store, sql.base, p, np, cb, q);
    hc_free(p);
    hc_buf_free(&sql);
    if (rc == 0)
        q->r->reads_inflight++;
    return rc;
}

/* Marks the values whose sketches the second read merges; returns how many. Safe
 * rule: a value whose upper bound is below the K-th largest lower bound cannot reach the
 * page. When that still leaves more than 2K + 20 values (the lower bound, one day's
 * estimate, is weak over many days), the 2K + 20 largest upper bounds are taken: sessions
 * rarely span days, so the sum of daily estimates ranks values as their union does. */
static size_t mark_candidates(metric_read_t *q)
{
    size_t n = q->vals.n, k = q->offset + q->limit, cap = 2 * k + 20, ncand = 0;
    if (n <= k) {
        for (size_t i = 0; i < q->vals.nb; i++)
            for (rnode_t *nd = q->vals.b[i]; nd; nd = nd->next)
                ((mval_t *)nd)->cand = 1;
        return n;
    }
    int64_t *lbs = hc_calloc(n, sizeof(int64_t)), *ubs = hc_calloc(n, sizeof(int64_t));
    size_t j = 0;
    for (size_t i = 0; i < q->vals.nb; i++)
        for (rnode_t *nd = q->vals.b[i]; nd; nd = nd->next, j++) {
            lbs[j] = ((mval_t *)nd)->lb;
            ubs[j] = ((mval_t *)nd)->ub;
        }
    qsort(lbs, n, sizeof(int64_t), i64_desc);
    qsort(ubs, n, sizeof(int64_t), i64_desc);
    int64_t threshold = lbs[k - 1];
    size_t safe = 0;
    for (j = 0; j < n; j++)
        safe += ubs[j] >= threshold;
    if (safe > cap && cap < n)
        threshold = ubs[cap - 1];
    hc_free(lbs);
    hc_free(ubs);
    for (size_t i = 0; i < q->vals.nb; i++)
        for (rnode_t *nd = q->vals.b[i]; nd; nd = nd->next) {
            mval_t *v = (mval_t *)nd;
            v->cand = v->ub >= threshold;
            ncand += (size_t)v->cand;
        }
    return ncand;
}

static void on_counts(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    (void)errmsg;
    metric_read_t *q = arg;
    analytics_rollup_t *r = q->r;
    r->reads_inflight--;
    if (status == 0 && r->closing)
        status = -ESHUTDOWN;
    if (status < 0) {
        metric_answer(q, status);
        return;
    }
    for (size_t i = 0; i < res->nrows; i++) {
        const hc_store_value_t *c = hc_store_cell(res, i, 0);
        if (c[0].type != HC_STORE_TEXT)
            continue;
        dcell_t *mem = rollup_day_find(r, q->site, c[2].v.i, (int)c[3].v.i, c[0].v.s.p);
        if (mem && mem->gen == c[1].v.i)
            continue;
        mval_t *v = mval_get(&q->vals, c[0].v.s.p, 1);
        v->y += c[4].v.i;
        v->ub += c[5].v.i;
        v->lb = c[5].v.i > v->lb ? c[5].v.i : v->lb;
    }
    for (size_t i = 0; i < r->days.nb; i++)
        for (rnode_t *n = r->days.b[i]; n; n = n->next) {
            dcell_t *d = (dcell_t *)n;
            if (!metric_wants(q, d->type, d->day) || strcmp(d->site, q->site) != 0)
                continue;
            mval_t *v = mval_get(&q->vals, d->value, 1);
            int64_t dn = (int64_t)analytics_sketch_count(&d->sessions);
            v->y += d->y;
            v->ub += dn;
            v->lb = dn > v->lb ? dn : v->lb;
        }
    size_t ncand = mark_candidates(q);
    if (q->type == ANALYTICS_RT_EVENT || ncand == 0) {
        for (size_t i = 0; i < q->vals.nb; i++)
            for (rnode_t *nd = q->vals.b[i]; nd; nd = nd->next)
                ((mval_t *)nd)->cand = 1;
        metric_answer(q, 0);
        return;
    }
    if (ncand < q->vals.n && ncand <= METRIC_CANDIDATES_MAX) {
        q->cand = hc_calloc(ncand, sizeof(*q->cand));
        for (size_t i = 0; i < q->vals.nb; i++)
            for (rnode_t *nd = q->vals.b[i]; nd; nd = nd->next)
                if (((mval_t *)nd)->cand)
                    q->cand[q->ncand++] = (mval_t *)nd;
    }
    int rc = metric_query(q, 1, on_sketches);
    if (rc < 0)
        metric_answer(q, rc);
}

int analytics_rollup_metric(analytics_rollup_t *r, const char *website, int type, int64_t from_h,
                            int64_t to_h, size_t limit, size_t offset, analytics_metric_cb cb,
                            void *arg)
{
    metric_read_t *q = hc_calloc(1, sizeof(*q));
    q->r = r;
    snprintf(q->site, sizeof(q->site), "%s", website);
    q->type = type;
    /* whole days inside the hours, and the partial days' hours at both ends */
    q->from_d = from_h >= 0 ? (from_h + 23) / 24 : from_h / 24;
    q->to_d = (to_h + 1) / 24 - 1;
    if (q->from_d <= q->to_d) {
        q->h1_from = from_h;
        q->h1_to = q->from_d * 24 - 1;
        q->h2_from = (q->to_d + 1) * 24;
        q->h2_to = to_h;
    } else {
        q->from_d = 1;
        q->to_d = 0;
        q->h1_from = from_h;
        q->h1_to = to_h;
        q->h2_from = 1;
        q->h2_to = 0;
    }
    q->limit = limit;
    q->offset = offset;
    q->cb = cb;
    q->arg = arg;
    int rc = metric_query(q, 0, on_counts);
    if (rc < 0)
        metric_free(q);
    return rc;
}
