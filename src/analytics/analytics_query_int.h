/* What the read API's files share (analytics_query.c, analytics_query_list.c,
 * analytics_export.c): the per-request context, parameter parsing, and the SQL builder
 * that spells one query for both dialects (timestamps are timestamptz on PostgreSQL and
 * INTEGER milliseconds on SQLite; see analytics_schema.c). */
#ifndef ANALYTICS_QUERY_INT_H
#define ANALYTICS_QUERY_INT_H

#include <jansson.h>

#include "analytics/analytics_int.h"
#include "analytics/analytics_params.h"
#include "core/hc_buf.h"

#define QUERY_MAX_PARAMS 48
#define QUERY_SQL_MAX (64 * 1024)
#define QUERY_LIMIT_MAX 10000 /* rows of one /metrics or list page */

/* One read request, from authorization to response. Heap-allocated (not in the request
 * arena) because store callbacks may fire after the client went away: req is NULL then. */
typedef struct query_ctx {
    analytics_t *an;
    hc_http_req_t *req; /* NULL once the client is gone */
    char website[ANALYTICS_UUID_LEN + 1];
    int64_t start_ms, end_ms;
    enum analytics_unit unit;
    analytics_tz_t *tz; /* owned */
    analytics_filter_t filters[ANALYTICS_MAX_FILTERS];
    size_t nfilters;
    char type[32]; /* /metrics type */
    int64_t limit, offset, page, page_size;
    char search[128];
    char search_like[136]; /* "%search%" */
    int phase;             /* stats: 0 current, 1 comparison */
    int64_t cmp_start_ms, cmp_end_ms;
    json_t *acc; /* a response being assembled */

    /* the SQL being built and its parameters (text values point into strs) */
    hc_buf_t sql;
    hc_store_value_t p[QUERY_MAX_PARAMS];
    size_t np;
    char strs[ANALYTICS_MAX_FILTERS][ANALYTICS_FILTER_MAX + 3];

    /* export: the keyset cursor and rows written */
    char cursor_ts[64];
    char cursor_id[ANALYTICS_UUID_LEN + 1];
    hc_buf_t out;
    int waiting_drain;
    int64_t rows;
} query_ctx_t;

/** A new context for req (registers the close hook). */
query_ctx_t *query_ctx_new(analytics_t *an, hc_http_req_t *req, const char *website);
/** Detaches the request from ctx (close hook removed) before its response ends: a
 *  request is gone once answered. NULL when the client already left. */
hc_http_req_t *query_take_req(query_ctx_t *ctx);
/** Frees ctx (detaching the request if still attached: answer it first). */
void query_ctx_free(query_ctx_t *ctx);

/** Parses startAt/endAt (required), unit, timezone and the filters of ctx->req. On error
 *  answers 400 itself and returns a negative errno. */
int query_parse_common(query_ctx_t *ctx, int need_range);
/** An integer query parameter, def when absent; -1 (and a 400 answer) when malformed or
 *  outside [min, max]. */
int query_int_param(query_ctx_t *ctx, const char *name, int64_t def, int64_t min, int64_t max,
                    int64_t *out);

/** Adds a parameter and returns its number ($n). */
int qp_int(query_ctx_t *ctx, int64_t v);
int qp_text(query_ctx_t *ctx, const char *s);

/** Appends printf text to the SQL. */
void qs(query_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Appends the SQL for "timestamp parameter $n" in the dialect. */
void qs_ts(query_ctx_t *ctx, int n);
/** Appends an expression giving website_event.created_at as epoch ms (bigint). */
void qs_ts_ms(query_ctx_t *ctx, const char *col);

/** Appends " FROM website_event [JOIN session ...] WHERE website_id = $ AND created_at
 *  BETWEEN start AND end [AND event_type = t] [filters]"; t < 0 for every type. Returns 0
 *  or -ENOTSUP (a regex filter on SQLite), answering 400 itself. */
int qs_from_where(query_ctx_t *ctx, int event_type, int force_session_join, int64_t start_ms,
                  int64_t end_ms);

/** Runs the built SQL; cb gets ctx as arg. On a queue error answers 503 and frees ctx. */
void query_run(query_ctx_t *ctx, hc_store_result_cb cb);
/** Resets the builder for the next query of the same request. */
void query_reset(query_ctx_t *ctx);

/** Answers a failed read (500, or 503 when the store is busy) and frees ctx. */
void query_fail(query_ctx_t *ctx, int status, const char *errmsg);
/** Answers 200 with body (reference taken) and frees ctx; drops body when the client left. */
void query_reply(query_ctx_t *ctx, json_t *body);

/** An integer cell (0 for NULL), a text cell ("" for NULL), a JSON string or null. */
int64_t cell_int(const hc_store_result_t *res, size_t row, size_t col);
const char *cell_text(const hc_store_result_t *res, size_t row, size_t col);
json_t *cell_json_str(const hc_store_result_t *res, size_t row, size_t col);

/** Answers 400 bad-request with msg and frees ctx. */
void query_bad_request(query_ctx_t *ctx, const char *msg);
/** The whole UTC hours [*from, *to] that [start, end] covers exactly (Umami's ranges end
 *  at the last millisecond of an hour; an end exactly on the hour counts too), or 0. */
int query_whole_hours(int64_t start, int64_t end, int64_t *from, int64_t *to);
/** 1 when ctx may answer from the rollups: no filters and the backfill done. */
int query_use_rollups(const query_ctx_t *ctx);

/** Adds /metrics and /metrics/expanded (analytics_query_metrics.c). */
int query_metrics_routes(analytics_t *an);
/** Adds the list routes (events, sessions) and export (analytics_query_list.c,
 *  analytics_export.c). */
int query_list_routes(analytics_t *an);
int analytics_export_routes(analytics_t *an);

/** Copies the route's :websiteId (not NUL-terminated in the path) into out, lower-cased
 *  (the spelling the database stores); "" when
 *  absent or too long (the website check answers 400 then). */
void query_website_param(hc_http_req_t *req, char out[ANALYTICS_UUID_LEN + 1]);

/* Declares a handler chain: GET handler -> auth -> website check -> run(ctx). */
#define QUERY_ROUTE(name, run_fn)                                                                  \
    static void name##_site(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)        \
    {                                                                                              \
        (void)u;                                                                                   \
        char id_[ANALYTICS_UUID_LEN + 1];                                                          \
        query_website_param(req, id_);                                                             \
        run_fn(query_ctx_new(an, req, id_));                                                       \
    }                                                                                              \
    static void name##_auth(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)        \
    {                                                                                              \
        char id_[ANALYTICS_UUID_LEN + 1];                                                          \
        query_website_param(req, id_);                                                             \
        analytics_website_require(an, req, u, id_, name##_site);                                   \
    }                                                                                              \
    static void name##_handle(hc_http_req_t *req, void *arg)                                       \
    {                                                                                              \
        analytics_auth_require(arg, req, name##_auth);                                             \
    }

#endif
