/* The read API's paged lists: /events (website_event rows with their session's device
 * and geo) and /sessions (sessions active in the range with their first and last event,
 * visits and views), both {"data","count","page","pageSize","orderBy"} as Umami's
 * pagedRawQuery answers. Each request runs two reads: the page, then the count. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "analytics/analytics_query_int.h"
#include "core/hc_alloc.h"

#define PAGE_SIZE_DEFAULT 20

static json_t *ts_json(const hc_store_result_t *res, size_t row, size_t col)
{
    char buf[40];
    if (hc_store_cell(res, row, col)->type == HC_STORE_NULL)
        return json_null();
    return json_string(analytics_ts_iso(cell_int(res, row, col), buf));
}

/* Parses page/pageSize/search; the search matches paths and event names (events) or
 * device and geo columns (sessions) as Umami's search does. */
static int list_params(query_ctx_t *ctx)
{
    if (query_parse_common(ctx, 1) < 0)
        return -1;
    if (query_int_param(ctx, "page", 1, 1, INT32_MAX, &ctx->page) < 0 ||
        query_int_param(ctx, "pageSize", PAGE_SIZE_DEFAULT, 1, QUERY_LIMIT_MAX, &ctx->page_size) <
            0)
        return -1;
    size_t n;
    const char *s = hc_http_req_query_param(ctx->req, "search", &n);
    if (s && hc_url_decode(s, n, ctx->search, sizeof(ctx->search) - 2, 1) < 0) {
        query_bad_request(ctx, "Invalid search");
        return -1;
    }
    return 0;
}

static void qs_search(query_ctx_t *ctx, const char *const *cols, size_t ncols)
{
    if (!ctx->search[0])
        return;
    snprintf(ctx->search_like, sizeof(ctx->search_like), "%%%s%%", ctx->search);
    int p = qp_text(ctx, ctx->search_like);
    qs(ctx, " AND (");
    for (size_t i = 0; i < ncols; i++)
        qs(ctx, "%s%s %s $%d", i ? " OR " : "", cols[i], ctx->an->is_pg ? "ILIKE" : "LIKE", p);
    qs(ctx, ")");
}

static void on_count(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    query_ctx_t *ctx = arg;
    if (status < 0 || res->nrows != 1) {
        query_fail(ctx, status < 0 ? status : -EIO, errmsg);
        return;
    }
    json_t *body = ctx->acc;
    ctx->acc = NULL;
    json_object_set_new(body, "count", json_integer(cell_int(res, 0, 0)));
    json_object_set_new(body, "page", json_integer(ctx->page));
    json_object_set_new(body, "pageSize", json_integer(ctx->page_size));
    json_object_set_new(body, "orderBy", json_string("createdAt"));
    query_reply(ctx, body);
}

/* ---- events ---- */

static const char *const event_search[] = {"website_event.url_path", "website_event.event_name"};

static void events_count(query_ctx_t *ctx)
{
    query_reset(ctx);
    qs(ctx, "SELECT count(*)");
    qs_from_where(ctx, -1, 0, ctx->start_ms, ctx->end_ms);
    qs_search(ctx, event_search, 2);
    query_run(ctx, on_count);
}

static void on_events(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    query_ctx_t *ctx = arg;
    if (status < 0 || res->ncols != 19) {
        query_fail(ctx, status < 0 ? status : -EIO, errmsg);
        return;
    }
    static const char *const keys[] = {
        "id",       "websiteId",    "sessionId",     "createdAt",      "hostname",  "urlPath",
        "urlQuery", "referrerPath", "referrerQuery", "referrerDomain", "country",   "city",
        "device",   "os",           "browser",       "pageTitle",      "eventType", "eventName",
        "hasData",
    };
    json_t *data = json_array();
    for (size_t i = 0; i < res->nrows; i++) {
        json_t *o = json_object();
        for (size_t c = 0; c < 19; c++) {
            json_t *v;
            if (c == 3)
                v = ts_json(res, i, c);
            else if (c == 16)
                v = json_integer(cell_int(res, i, c));
            else if (c == 18)
                v = json_boolean(cell_int(res, i, c) != 0);
            else
                v = cell_json_str(res, i, c);
            json_object_set_new(o, keys[c], v);
        }
        json_array_append_new(data, o);
    }
    ctx->acc = json_pack("{so}", "data", data);
    events_count(ctx);
}

static void events_run(query_ctx_t *ctx)
{
    if (list_params(ctx) < 0)
        return;
    query_reset(ctx);
    qs(ctx, "SELECT website_event.event_id, website_event.website_id, website_event.session_id, ");
    qs_ts_ms(ctx, "website_event.created_at");
    qs(ctx, ", website_event.hostname, website_event.url_path, website_event.url_query,"
            " website_event.referrer_path, website_event.referrer_query,"
            " website_event.referrer_domain, s.country, s.city, s.device, s.os, s.browser,"
            " website_event.page_title, website_event.event_type, website_event.event_name,"
            " CASE WHEN EXISTS (SELECT 1 FROM event_data d WHERE d.website_event_id ="
            " website_event.event_id) THEN 1 ELSE 0 END");
    /* the session row is optional here (Umami has no foreign keys) */
    size_t mark = ctx->sql.len;
    qs_from_where(ctx, -1, 0, ctx->start_ms, ctx->end_ms);
    const char *w = strstr(ctx->sql.base + mark, " WHERE ");
    char *tail = hc_strdup(w);
    ctx->sql.len = (size_t)(w - ctx->sql.base);
    ctx->sql.base[ctx->sql.len] = '\0';
    qs(ctx, " LEFT JOIN session s ON s.session_id = website_event.session_id%s", tail);
    hc_free(tail);
    qs_search(ctx, event_search, 2);
    qs(ctx, " ORDER BY website_event.created_at DESC LIMIT %lld OFFSET %lld",
       (long long)ctx->page_size, (long long)((ctx->page - 1) * ctx->page_size));
    query_run(ctx, on_events);
}

QUERY_ROUTE(events, events_run)

/* ---- sessions ---- */

static const char *const session_search[] = {"session.browser", "session.os", "session.device",
                                             "session.country", "session.city"};

static void sessions_count(query_ctx_t *ctx)
{
    query_reset(ctx);
    qs(ctx, "SELECT count(DISTINCT website_event.session_id)");
    qs_from_where(ctx, -1, 1, ctx->start_ms, ctx->end_ms);
    qs_search(ctx, session_search, 5);
    query_run(ctx, on_count);
}

static void on_sessions(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    query_ctx_t *ctx = arg;
    if (status < 0 || res->ncols != 16) {
        query_fail(ctx, status < 0 ? status : -EIO, errmsg);
        return;
    }
    static const char *const keys[] = {
        "id",      "websiteId", "hostname", "browser", "os",     "device", "screen", "language",
        "country", "region",    "city",     "firstAt", "lastAt", "visits", "views",  "createdAt",
    };
    json_t *data = json_array();
    for (size_t i = 0; i < res->nrows; i++) {
        json_t *o = json_object();
        for (size_t c = 0; c < 16; c++) {
            json_t *v;
            if (c == 11 || c == 12 || c == 15)
                v = ts_json(res, i, c);
            else if (c == 13 || c == 14)
                v = json_integer(cell_int(res, i, c));
            else
                v = cell_json_str(res, i, c);
            json_object_set_new(o, keys[c], v);
        }
        json_array_append_new(data, o);
    }
    ctx->acc = json_pack("{so}", "data", data);
    sessions_count(ctx);
}

static void sessions_run(query_ctx_t *ctx)
{
    if (list_params(ctx) < 0)
        return;
    query_reset(ctx);
    qs(ctx, "SELECT session.session_id, session.website_id, min(website_event.hostname),"
            " session.browser, session.os, session.device, session.screen, session.language,"
            " session.country, session.region, session.city, ");
    qs_ts_ms(ctx, "min(website_event.created_at)");
    qs(ctx, ", ");
    qs_ts_ms(ctx, "max(website_event.created_at)");
    qs(ctx, ", count(DISTINCT website_event.visit_id),"
            " sum(CASE WHEN website_event.event_type = 1 THEN 1 ELSE 0 END), ");
    qs_ts_ms(ctx, "session.created_at");
    qs_from_where(ctx, -1, 1, ctx->start_ms, ctx->end_ms);
    qs_search(ctx, session_search, 5);
    qs(ctx,
       " GROUP BY session.session_id, session.website_id, session.browser, session.os,"
       " session.device, session.screen, session.language, session.country,"
       " session.region, session.city, session.created_at"
       " ORDER BY max(website_event.created_at) DESC LIMIT %lld OFFSET %lld",
       (long long)ctx->page_size, (long long)((ctx->page - 1) * ctx->page_size));
    query_run(ctx, on_sessions);
}

QUERY_ROUTE(sessions, sessions_run)

int query_list_routes(analytics_t *an)
{
    int rc =
        hc_router_add(an->router, "GET", "/api/websites/:websiteId/events", events_handle, an, 0);
    if (rc == 0)
        rc = hc_router_add(an->router, "GET", "/api/websites/:websiteId/sessions", sessions_handle,
                           an, 0);
    return rc;
}
