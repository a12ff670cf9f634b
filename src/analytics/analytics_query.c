/* The read API (Umami v3's /api/websites/:websiteId/...): the request context and SQL
 * builder every read shares, stats with the comparison period, the pageviews series and
 * active visitors; metrics live in analytics_query_metrics.c, the paged lists in
 * analytics_query_list.c, the CSV export in analytics_export.c. Unfiltered stats and
 * pageviews answer from the rollups (analytics_rollup.h) when the range is whole hours;
 * the rest runs Umami's SQL over website_event in either dialect. */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics/analytics_query_int.h"
#include "analytics/analytics_rollup.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

/* ---- context ---- */

static void on_client_gone(hc_http_req_t *req, void *arg)
{
    (void)req;
    query_ctx_t *ctx = arg;
    ctx->req = NULL;
}

query_ctx_t *query_ctx_new(analytics_t *an, hc_http_req_t *req, const char *website)
{
    query_ctx_t *ctx = hc_calloc(1, sizeof(*ctx));
    ctx->an = an;
    ctx->req = req;
    snprintf(ctx->website, sizeof(ctx->website), "%s", website);
    hc_buf_init(&ctx->sql, QUERY_SQL_MAX);
    hc_buf_init(&ctx->out, 0);
    hc_http_req_on_close(req, on_client_gone, ctx);
    return ctx;
}

hc_http_req_t *query_take_req(query_ctx_t *ctx)
{
    hc_http_req_t *req = ctx->req;
    if (req)
        hc_http_req_on_close(req, NULL, NULL);
    ctx->req = NULL;
    return req;
}

void query_ctx_free(query_ctx_t *ctx)
{
    query_take_req(ctx);
    analytics_tz_free(ctx->tz);
    if (ctx->acc)
        json_decref(ctx->acc);
    hc_buf_free(&ctx->sql);
    hc_buf_free(&ctx->out);
    hc_free(ctx);
}

void query_bad_request(query_ctx_t *ctx, const char *msg)
{
    hc_http_req_t *req = query_take_req(ctx);
    if (req)
        analytics_respond_error(req, 400, "bad-request", msg);
    query_ctx_free(ctx);
}

void query_fail(query_ctx_t *ctx, int status, const char *errmsg)
{
    hc_http_req_t *req = query_take_req(ctx);
    if (req) {
        hc_log(HC_LOG_ERROR, "analytics read failed", HC_LI("rc", status),
               HC_LS("error", errmsg ? errmsg : ""), NULL);
        if (status == -EAGAIN)
            analytics_respond_error(req, 503, "service-unavailable", "Service unavailable");
        else
            analytics_respond_error(req, 500, "server-error", "Server error");
    }
    query_ctx_free(ctx);
}

void query_reply(query_ctx_t *ctx, json_t *body)
{
    hc_http_req_t *req = query_take_req(ctx);
    if (req)
        analytics_respond_json(req, 200, body);
    else
        json_decref(body);
    query_ctx_free(ctx);
}

/* ---- parameters ---- */

void query_website_param(hc_http_req_t *req, char out[ANALYTICS_UUID_LEN + 1])
{
    size_t n = 0;
    const char *id = hc_http_req_param(req, "websiteId", &n);
    out[0] = '\0';
    if (id && n <= ANALYTICS_UUID_LEN) {
        memcpy(out, id, n);
        out[n] = '\0';
        analytics_uuid_lower(out);
    }
}

static int param_int(const char *s, size_t n, int64_t *out)
{
    char buf[24];
    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

int query_int_param(query_ctx_t *ctx, const char *name, int64_t def, int64_t min, int64_t max,
                    int64_t *out)
{
    size_t n;
    const char *v = hc_http_req_query_param(ctx->req, name, &n);
    *out = def;
    if (!v || n == 0)
        return 0;
    if (param_int(v, n, out) < 0 || *out < min || *out > max) {
        char msg[96];
        snprintf(msg, sizeof(msg), "Invalid %s", name);
        query_bad_request(ctx, msg);
        return -1;
    }
    return 0;
}

/* Whether SQLite's REGEXP (POSIX extended, hc_store_sqlite) accepts pattern: a bad one is
 * the client's mistake, not a failed query. PostgreSQL's own syntax is left to it. */
static int regex_valid(const char *pattern)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB))
        return 0;
    regfree(&re);
    return 1;
}

int query_parse_common(query_ctx_t *ctx, int need_range)
{
    hc_http_req_t *req = ctx->req;
    size_t n;
    const char *v;
    int64_t s = 0, e = 0;
    const char *sv = hc_http_req_query_param(req, "startAt", &n);
    int has_s = sv && param_int(sv, n, &s) == 0;
    size_t en;
    const char *ev = hc_http_req_query_param(req, "endAt", &en);
    int has_e = ev && param_int(ev, en, &e) == 0;
    if ((sv && !has_s) || (ev && !has_e) || (need_range && (!has_s || !has_e)) ||
        (has_s && has_e && e < s)) {
        query_bad_request(ctx, "startAt and endAt must be epoch milliseconds, startAt <= endAt");
        return -EINVAL;
    }
    ctx->start_ms = has_s ? s : 0;
    ctx->end_ms = has_e ? e : 0;

    char tz_name[64] = "";
    v = hc_http_req_query_param(req, "timezone", &n);
    if (v && hc_url_decode(v, n, tz_name, sizeof(tz_name), 1) < 0) {
        query_bad_request(ctx, "Invalid timezone");
        return -EINVAL;
    }
    if (analytics_tz_load(NULL, tz_name, &ctx->tz) < 0) {
        query_bad_request(ctx, "Invalid timezone");
        return -EINVAL;
    }
    enum analytics_unit unit = ANALYTICS_UNIT_MINUTE;
    v = hc_http_req_query_param(req, "unit", &n);
    if (v && analytics_unit_parse(v, n, &unit) < 0) {
        query_bad_request(ctx, "Invalid unit");
        return -EINVAL;
    }
    ctx->unit = analytics_unit_raise(unit, ctx->start_ms, ctx->end_ms);

    for (size_t i = 0; i < analytics_nfields; i++) {
        v = hc_http_req_query_param(req, analytics_fields[i].param, &n);
        if (!v)
            continue;
        if (ctx->nfilters == ANALYTICS_MAX_FILTERS) {
            query_bad_request(ctx, "Too many filters");
            return -E2BIG;
        }
        analytics_filter_t *f = &ctx->filters[ctx->nfilters];
        if (analytics_filter_parse(v, n, f) < 0) {
            query_bad_request(ctx, "Invalid filter");
            return -EINVAL;
        }
        f->field = (int)i;
        if (!ctx->an->is_pg && (f->op == ANALYTICS_OP_REGEX || f->op == ANALYTICS_OP_NOT_REGEX) &&
            !regex_valid(f->value)) {
            query_bad_request(ctx, "Invalid regular expression");
            return -EINVAL;
        }
        ctx->nfilters++;
    }
    return 0;
}

/* ---- SQL builder ---- */

void query_reset(query_ctx_t *ctx)
{
    hc_buf_reset(&ctx->sql);
    ctx->np = 0;
}

int qp_int(query_ctx_t *ctx, int64_t v)
{
    ctx->p[ctx->np] = hc_store_int(v);
    return (int)++ctx->np;
}

int qp_text(query_ctx_t *ctx, const char *s)
{
    ctx->p[ctx->np] = hc_store_text(s);
    return (int)++ctx->np;
}

void qs(query_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hc_buf_vprintf(&ctx->sql, fmt, ap);
    va_end(ap);
}

void qs_ts(query_ctx_t *ctx, int n)
{
    if (ctx->an->is_pg)
        qs(ctx, "to_timestamp($%d::bigint / 1000.0)", n);
    else
        qs(ctx, "$%d", n);
}

void qs_ts_ms(query_ctx_t *ctx, const char *col)
{
    if (ctx->an->is_pg)
        qs(ctx, "(extract(epoch from %s) * 1000)::bigint", col);
    else
        qs(ctx, "%s", col);
}

static const char *field_table(const analytics_field_t *f)
{
    return f->on_session ? "session" : "website_event";
}

int qs_from_where(query_ctx_t *ctx, int event_type, int force_session_join, int64_t start_ms,
                  int64_t end_ms)
{
    int join = force_session_join;
    for (size_t i = 0; i < ctx->nfilters; i++)
        join |= analytics_fields[ctx->filters[i].field].on_session;
    qs(ctx, " FROM website_event");
    if (join)
        qs(ctx, " JOIN session ON session.session_id = website_event.session_id"
                " AND session.website_id = website_event.website_id");
    qs(ctx, " WHERE website_event.website_id = $%d AND website_event.created_at BETWEEN ",
       qp_text(ctx, ctx->website));
    qs_ts(ctx, qp_int(ctx, start_ms));
    qs(ctx, " AND ");
    qs_ts(ctx, qp_int(ctx, end_ms));
    if (event_type > 0)
        qs(ctx, " AND website_event.event_type = %d", event_type);
    for (size_t i = 0; i < ctx->nfilters; i++) {
        const analytics_filter_t *f = &ctx->filters[i];
        const analytics_field_t *fd = &analytics_fields[f->field];
        const char *op;
        const char *val = f->value;
        int pg = ctx->an->is_pg;
        switch (f->op) {
        case ANALYTICS_OP_NEQ:
            op = "!=";
            break;
        case ANALYTICS_OP_CONTAINS:
        case ANALYTICS_OP_NOT_CONTAINS:
            snprintf(ctx->strs[i], sizeof(ctx->strs[i]), "%%%s%%", f->value);
            val = ctx->strs[i];
            op = f->op == ANALYTICS_OP_CONTAINS ? (pg ? "ILIKE" : "LIKE")
                                                : (pg ? "NOT ILIKE" : "NOT LIKE");
            break;
        case ANALYTICS_OP_REGEX: /* SQLite's REGEXP: hc_store_sqlite's POSIX ERE */
            op = pg ? "~" : "REGEXP";
            break;
        case ANALYTICS_OP_NOT_REGEX:
            op = pg ? "!~" : "NOT REGEXP";
            break;
        case ANALYTICS_OP_EQ:
        default:
            op = "=";
            break;
        }
        qs(ctx, " AND %s.%s %s $%d", field_table(fd), fd->column, op, qp_text(ctx, val));
    }
    return 0;
}

void query_run(query_ctx_t *ctx, hc_store_result_cb cb)
{
    if (ctx->sql.len == 0 || ctx->sql.len >= QUERY_SQL_MAX - 1) {
        query_fail(ctx, -EINVAL, "query too long");
        return;
    }
    int rc = hc_store_query(ctx->an->store, ctx->sql.base, ctx->p, ctx->np, cb, ctx);
    if (rc < 0)
        query_fail(ctx, rc, "read not queued");
}

int64_t cell_int(const hc_store_result_t *res, size_t row, size_t col)
{
    const hc_store_value_t *v = hc_store_cell(res, row, col);
    if (v->type == HC_STORE_INT)
        return v->v.i;
    if (v->type == HC_STORE_DOUBLE)
        return (int64_t)v->v.d;
    if (v->type == HC_STORE_TEXT)
        return strtoll(v->v.s.p, NULL, 10);
    return 0;
}

const char *cell_text(const hc_store_result_t *res, size_t row, size_t col)
{
    const hc_store_value_t *v = hc_store_cell(res, row, col);
    return v->type == HC_STORE_TEXT ? v->v.s.p : "";
}

json_t *cell_json_str(const hc_store_result_t *res, size_t row, size_t col)
{
    const hc_store_value_t *v = hc_store_cell(res, row, col);
    if (v->type == HC_STORE_TEXT)
        return json_stringn(v->v.s.p, v->v.s.len);
    if (v->type == HC_STORE_INT)
        return json_integer(v->v.i);
    return json_null();
}

/* ---- which ranges the rollups answer ---- */

int query_whole_hours(int64_t start, int64_t end, int64_t *from, int64_t *to)
{
    if (start % 3600000 != 0)
        return 0;
    if ((end + 1) % 3600000 == 0)
        *to = (end + 1) / 3600000 - 1;
    else if (end % 3600000 == 0)
        *to = end / 3600000 - 1;
    else
        return 0;
    *from = start / 3600000;
    return *to >= *from;
}

int query_use_rollups(const query_ctx_t *ctx)
{
    return ctx->nfilters == 0 && analytics_rollup_ready(ctx->an->rollup) && ctx->start_ms >= 0;
}

/* ---- stats ---- */

static json_t *totals_json(const analytics_totals_t *t)
{
    return json_pack("{sIsIsIsIsI}", "pageviews", (json_int_t)t->pageviews, "visitors",
                     (json_int_t)t->visitors, "visits", (json_int_t)t->visits, "bounces",
                     (json_int_t)t->bounces, "totaltime", (json_int_t)t->totaltime);
}

static void stats_step(query_ctx_t *ctx);

static void stats_have(query_ctx_t *ctx, const analytics_totals_t *t)
{
    if (ctx->phase == 0) {
        ctx->acc = totals_json(t);
        ctx->phase = 1;
        stats_step(ctx);
        return;
    }
    json_t *body = ctx->acc;
    ctx->acc = NULL;
    json_object_set_new(body, "comparison", totals_json(t));
    query_reply(ctx, body);
}

static void on_stats_rollup(void *arg, int status, const analytics_totals_t *t)
{
    query_ctx_t *ctx = arg;
    if (status < 0) {
        query_fail(ctx, status, "rollup read failed");
        return;
    }
    stats_have(ctx, t);
}

static void on_stats_sql(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    query_ctx_t *ctx = arg;
    if (status < 0 || res->nrows != 1 || res->ncols != 5) {
        query_fail(ctx, status < 0 ? status : -EIO, errmsg);
        return;
    }
    analytics_totals_t t = {cell_int(res, 0, 0), cell_int(res, 0, 1), cell_int(res, 0, 2),
                            cell_int(res, 0, 3), cell_int(res, 0, 4)};
    stats_have(ctx, &t);
}

/* Umami's getWebsiteStats: pageviews grouped by (session, visit). */
static void stats_sql(query_ctx_t *ctx, int64_t start, int64_t end)
{
    query_reset(ctx);
    const char *big = ctx->an->is_pg ? "::bigint" : "";
    qs(ctx,
       "SELECT coalesce(sum(t.c), 0)%s, count(DISTINCT t.session_id), count(DISTINCT t.visit_id),"
       " coalesce(sum(CASE WHEN t.c = 1 THEN 1 ELSE 0 END), 0)%s, coalesce(sum(t.d), 0)%s"
       " FROM (SELECT website_event.session_id, website_event.visit_id, count(*) AS c, ",
       big, big, big);
    if (ctx->an->is_pg)
        qs(ctx, "floor(extract(epoch from max(website_event.created_at) -"
                " min(website_event.created_at))) AS d");
    else
        qs(ctx, "(max(website_event.created_at) - min(website_event.created_at)) / 1000 AS d");
    qs_from_where(ctx, ANALYTICS_PAGEVIEW, 0, start, end);
    qs(ctx, " GROUP BY 1, 2) t");
    query_run(ctx, on_stats_sql);
}

static void stats_step(query_ctx_t *ctx)
{
    int64_t start = ctx->phase ? ctx->cmp_start_ms : ctx->start_ms;
    int64_t end = ctx->phase ? ctx->cmp_end_ms : ctx->end_ms;
    int64_t fh, th;
    if (query_use_rollups(ctx) && start >= 0 && query_whole_hours(start, end, &fh, &th)) {
        int rc =
            analytics_rollup_stats(ctx->an->rollup, ctx->website, fh, th, on_stats_rollup, ctx);
        if (rc < 0)
            query_fail(ctx, rc, "rollup read not queued");
        return;
    }
    stats_sql(ctx, start, end);
}

static void stats_run(query_ctx_t *ctx)
{
    if (query_parse_common(ctx, 1) < 0)
        return;
    size_t n;
    const char *cmp = hc_http_req_query_param(ctx->req, "compare", &n);
    int64_t span = ctx->end_ms - ctx->start_ms;
    if (cmp && n == 3 && memcmp(cmp, "yoy", 3) == 0) {
        ctx->cmp_start_ms = ctx->start_ms - 365LL * 86400000;
        ctx->cmp_end_ms = ctx->end_ms - 365LL * 86400000;
    } else {
        /* the previous period of the same length, in whole minutes. Umami truncates
         * (date-fns differenceInMinutes), so its comparison of an endOfHour range overlaps
         * the range by a minute; rounding gives the period a person means, and one the
         * rollups can answer */
        int64_t shift = (span + 30000) / 60000 * 60000;
        ctx->cmp_start_ms = ctx->start_ms - shift;
        ctx->cmp_end_ms = ctx->end_ms - shift;
    }
    stats_step(ctx);
}

QUERY_ROUTE(stats, stats_run)

/* ---- pageviews ---- */

static void series_json(query_ctx_t *ctx, const char *const *x, const int64_t *pv,
                        const int64_t *se, size_t n)
{
    json_t *pageviews = json_array(), *sessions = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(pageviews, json_pack("{sssI}", "x", x[i], "y", (json_int_t)pv[i]));
        json_array_append_new(sessions, json_pack("{sssI}", "x", x[i], "y", (json_int_t)se[i]));
    }
    query_reply(ctx, json_pack("{soso}", "pageviews", pageviews, "sessions", sessions));
}

static void on_series_rollup(void *arg, int status, const analytics_point_t *pts, size_t n)
{
    query_ctx_t *ctx = arg;
    if (status < 0) {
        query_fail(ctx, status, "rollup read failed");
        return;
    }
    char(*labels)[32] = hc_calloc(n ? n : 1, 32);
    const char **x = hc_calloc(n ? n : 1, sizeof(char *));
    int64_t *pv = hc_calloc(n ? n : 1, sizeof(int64_t)),
            *se = hc_calloc(n ? n : 1, sizeof(int64_t));
    for (size_t i = 0; i < n; i++) {
        analytics_bucket_label(ctx->tz, pts[i].bucket, labels[i], 32);
        x[i] = labels[i];
        pv[i] = pts[i].pageviews;
        se[i] = pts[i].sessions;
    }
    series_json(ctx, x, pv, se, n);
    hc_free(labels);
    hc_free(x);
    hc_free(pv);
    hc_free(se);
}

static void on_series_sql(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    query_ctx_t *ctx = arg;
    if (status < 0 || res->ncols != 3) {
        query_fail(ctx, status < 0 ? status : -EIO, errmsg);
        return;
    }
    size_t n = res->nrows;
    char(*labels)[32] = hc_calloc(n ? n : 1, 32);
    const char **x = hc_calloc(n ? n : 1, sizeof(char *));
    int64_t *pv = hc_calloc(n ? n : 1, sizeof(int64_t)),
            *se = hc_calloc(n ? n : 1, sizeof(int64_t));
    for (size_t i = 0; i < n; i++) {
        analytics_label_local(cell_int(res, i, 0), ctx->tz->is_utc, labels[i], 32);
        x[i] = labels[i];
        pv[i] = cell_int(res, i, 1);
        se[i] = cell_int(res, i, 2);
    }
    series_json(ctx, x, pv, se, n);
    hc_free(labels);
    hc_free(x);
    hc_free(pv);
    hc_free(se);
}

/* The bucket start as local wall-clock epoch seconds. PostgreSQL converts with the zone
 * itself; SQLite gets the zone's offsets over the range as a CASE. */
static void qs_bucket(query_ctx_t *ctx)
{
    const char *u = analytics_unit_name(ctx->unit);
    if (ctx->an->is_pg) {
        qs(ctx,
           "extract(epoch from date_trunc('%s', website_event.created_at AT TIME ZONE $%d))"
           "::bigint",
           u, qp_text(ctx, ctx->tz->is_utc ? "UTC" : ctx->tz->name));
        return;
    }
    /* local seconds = created_at / 1000 + offset in force at that instant */
    hc_buf_t *b = &ctx->sql;
    hc_buf_printf(b, "(SELECT ");
    const char *local = "(website_event.created_at / 1000 + %s)";
    char off[4096];
    int64_t s = ctx->start_ms / 1000, e = ctx->end_ms / 1000;
    size_t o = 0;
    const analytics_tz_t *tz = ctx->tz;
    for (size_t i = 0; !tz->is_utc && i < tz->n && o < sizeof(off) - 64; i++)
        if (tz->at[i] > s && tz->at[i] <= e)
            o += (size_t)snprintf(off + o, sizeof(off) - o,
                                  "%s WHEN website_event.created_at < %lld THEN %d",
                                  o ? "" : "CASE", (long long)tz->at[i] * 1000,
                                  (int)analytics_tz_offset(tz, tz->at[i] - 1));
    /* no change of offset in the range (always so in UTC): the offset alone */
    snprintf(off + o, sizeof(off) - o, o ? " ELSE %d END" : "%d", (int)analytics_tz_offset(tz, e));
    char expr[4200];
    snprintf(expr, sizeof(expr), local, off);
    switch (ctx->unit) {
    case ANALYTICS_UNIT_MINUTE:
        hc_buf_printf(b, "(%s / 60) * 60)", expr);
        break;
    case ANALYTICS_UNIT_HOUR:
        hc_buf_printf(b, "(%s / 3600) * 3600)", expr);
        break;
    case ANALYTICS_UNIT_DAY:
        hc_buf_printf(b, "(%s / 86400) * 86400)", expr);
        break;
    default:
        hc_buf_printf(b, "CAST(strftime('%%s', %s, 'unixepoch', 'start of %s') AS INTEGER))", expr,
                      ctx->unit == ANALYTICS_UNIT_MONTH ? "month" : "year");
        break;
    }
}

static void pageviews_run(query_ctx_t *ctx)
{
    if (query_parse_common(ctx, 1) < 0)
        return;
    int64_t fh, th;
    if (query_use_rollups(ctx) && ctx->unit >= ANALYTICS_UNIT_HOUR &&
        query_whole_hours(ctx->start_ms, ctx->end_ms, &fh, &th) &&
        analytics_tz_whole_hours(ctx->tz, ctx->start_ms / 1000, ctx->end_ms / 1000)) {
        int rc = analytics_rollup_series(ctx->an->rollup, ctx->website, fh, th, (int)ctx->unit,
                                         ctx->tz, on_series_rollup, ctx);
        if (rc < 0)
            query_fail(ctx, rc, "rollup read not queued");
        return;
    }
    query_reset(ctx);
    qs(ctx, "SELECT ");
    qs_bucket(ctx);
    qs(ctx, " AS x, count(*), count(DISTINCT website_event.session_id)");
    qs_from_where(ctx, ANALYTICS_PAGEVIEW, 0, ctx->start_ms, ctx->end_ms);
    qs(ctx, " GROUP BY 1 ORDER BY 1");
    query_run(ctx, on_series_sql);
}

QUERY_ROUTE(pageviews, pageviews_run)

/* ---- active ---- */

static void on_active(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    query_ctx_t *ctx = arg;
    if (status < 0 || res->nrows != 1) {
        query_fail(ctx, status < 0 ? status : -EIO, errmsg);
        return;
    }
    query_reply(ctx, json_pack("{sI}", "visitors", (json_int_t)cell_int(res, 0, 0)));
}

static void active_run(query_ctx_t *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    query_reset(ctx);
    qs(ctx,
       "SELECT count(DISTINCT website_event.session_id) FROM website_event"
       " WHERE website_event.website_id = $%d AND website_event.created_at >= ",
       qp_text(ctx, ctx->website));
    qs_ts(ctx, qp_int(ctx, now - 5 * 60000));
    query_run(ctx, on_active);
}

QUERY_ROUTE(active, active_run)

/* ---- daterange: the first and last event (Umami's getWebsiteDateRange) ---- */

/* Umami's DEFAULT_RESET_DATE, 2000-01-01: events before it do not count. */
#define RESET_DATE_MS 946684800000LL

static json_t *iso_or_null(const hc_store_result_t *res, size_t col)
{
    char buf[32];
    if (hc_store_cell(res, 0, col)->type == HC_STORE_NULL)
        return json_null();
    return json_string(analytics_ts_iso(cell_int(res, 0, col), buf));
}

static void on_daterange(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    query_ctx_t *ctx = arg;
    if (status < 0 || res->nrows != 1 || res->ncols != 2) {
        query_fail(ctx, status < 0 ? status : -EIO, errmsg);
        return;
    }
    query_reply(ctx, json_pack("{s:o, s:o}", "mindate", iso_or_null(res, 0), "maxdate",
                               iso_or_null(res, 1)));
}

static void daterange_run(query_ctx_t *ctx)
{
    query_reset(ctx);
    qs(ctx, "SELECT ");
    qs_ts_ms(ctx, "min(website_event.created_at)");
    qs(ctx, ", ");
    qs_ts_ms(ctx, "max(website_event.created_at)");
    qs(ctx,
       " FROM website_event WHERE website_event.website_id = $%d AND website_event.created_at >= ",
       qp_text(ctx, ctx->website));
    qs_ts(ctx, qp_int(ctx, RESET_DATE_MS));
    query_run(ctx, on_daterange);
}

QUERY_ROUTE(daterange, daterange_run)

/* ---- sessions/stats: the Sessions page's counters (Umami's getWebsiteSessionStats) ---- */

static void on_session_stats(void *arg, int status, const char *errmsg,
                             const hc_store_result_t *res)
{
    static const char *const keys[] = {"pageviews", "visitors", "visits", "countries", "events"};
    query_ctx_t *ctx = arg;
    if (status < 0 || res->nrows != 1 || res->ncols != 5) {
        query_fail(ctx, status < 0 ? status : -EIO, errmsg);
        return;
    }
    json_t *o = json_object();
    for (size_t i = 0; i < 5; i++)
        json_object_set_new(o, keys[i], json_pack("{sI}", "value", (json_int_t)cell_int(res, 0, i)));
    query_reply(ctx, o);
}

static void session_stats_run(query_ctx_t *ctx)
{
    if (query_parse_common(ctx, 1) < 0)
        return;
    query_reset(ctx);
    qs(ctx, "SELECT sum(CASE WHEN website_event.event_type = 1 THEN 1 ELSE 0 END),"
            " count(DISTINCT CASE WHEN website_event.event_type = 1"
            " THEN website_event.session_id END),"
            " count(DISTINCT CASE WHEN website_event.event_type = 1"
            " THEN website_event.visit_id END),"
            " count(DISTINCT CASE WHEN website_event.event_type = 1 THEN session.country END),"
            " sum(CASE WHEN website_event.event_type = 2 THEN 1 ELSE 0 END)");
    qs_from_where(ctx, 0, 1, ctx->start_ms, ctx->end_ms);
    query_run(ctx, on_session_stats);
}

QUERY_ROUTE(session_stats, session_stats_run)

int analytics_query_routes(analytics_t *an)
{
    static const struct {
        const char *pattern;
        hc_http_handler_cb cb;
    } routes[] = {
        {"/api/websites/:websiteId/stats", stats_handle},
        {"/api/websites/:websiteId/pageviews", pageviews_handle},
        {"/api/websites/:websiteId/active", active_handle},
        {"/api/websites/:websiteId/daterange", daterange_handle},
        {"/api/websites/:websiteId/sessions/stats", session_stats_handle},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        int rc = hc_router_add(an->router, "GET", routes[i].pattern, routes[i].cb, an, 0);
        if (rc < 0)
            return rc;
    }
    int rc = query_metrics_routes(an);
    if (rc == 0)
        rc = query_list_routes(an);
    return rc < 0 ? rc : analytics_export_routes(an);
}
