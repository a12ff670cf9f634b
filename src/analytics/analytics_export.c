/* CSV export of a website's events (GET /api/websites/:websiteId/export?startAt&endAt):
 * a header row, then one RFC 4180 row per website_event row with its session's device
 * and geo, streamed as a chunked response. Rows are read in keyset pages ordered by
 * (created_at, event_id), one page at a time, and the next page is read only once the
 * client has taken the previous one (drain), so memory stays at one page. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "analytics/analytics_query_int.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#define EXPORT_PAGE 2000

static const char export_header[] =
    "event_id,website_id,session_id,visit_id,created_at,hostname,url_path,url_query,"
    "referrer_path,referrer_query,referrer_domain,page_title,event_type,event_name,tag,"
    "utm_source,utm_medium,utm_campaign,utm_content,utm_term,browser,os,device,screen,"
    "language,country,region,city\r\n";

#define EXPORT_COLS                                                                                \
    " e.hostname, e.url_path, e.url_query, e.referrer_path, e.referrer_query,"                     \
    " e.referrer_domain, e.page_title, e.event_type, e.event_name, e.tag, e.utm_source,"           \
    " e.utm_medium, e.utm_campaign, e.utm_content, e.utm_term, s.browser, s.os, s.device,"         \
    " s.screen, s.language, s.country, s.region, s.city"                                           \
    " FROM website_event e LEFT JOIN session s ON s.session_id = e.session_id"

static const char export_pg[] =
    "SELECT e.created_at::text, e.event_id::text, e.website_id::text, e.session_id::text,"
    " e.visit_id::text, (extract(epoch from e.created_at) * 1000)::bigint," EXPORT_COLS
    " WHERE e.website_id = $1 AND e.created_at BETWEEN to_timestamp($2::bigint / 1000.0)"
    " AND to_timestamp($3::bigint / 1000.0) AND e.created_at >= $4::timestamptz"
    " AND (e.created_at > $4::timestamptz"
    " OR (e.created_at = $4::timestamptz AND e.event_id > $5::uuid))"
    " ORDER BY e.created_at, e.event_id LIMIT 2000";
static const char export_sqlite[] =
    "SELECT CAST(e.created_at AS TEXT), e.event_id, e.website_id, e.session_id, e.visit_id,"
    " e.created_at," EXPORT_COLS " WHERE e.website_id = $1 AND e.created_at BETWEEN $2 AND $3"
    " AND e.created_at >= CAST($4 AS INTEGER) AND (e.created_at > CAST($4 AS INTEGER)"
    " OR (e.created_at = CAST($4 AS INTEGER)"
    " AND e.event_id > $5)) ORDER BY e.created_at, e.event_id LIMIT 2000";
#define EXPORT_NCOLS 29

/* One field, quoted when it holds a comma, quote, CR or LF (RFC 4180 §2.6, §2.7). */
static void csv_field(hc_buf_t *b, const char *s, size_t n)
{
    if (strcspn(s, ",\"\r\n") >= n) {
        hc_buf_append(b, s, n);
        return;
    }
    hc_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            hc_buf_append(b, "\"", 1);
        hc_buf_append(b, &s[i], 1);
    }
    hc_buf_append(b, "\"", 1);
}

static void export_page(query_ctx_t *ctx);

static void export_finish(query_ctx_t *ctx)
{
    hc_http_req_t *req = query_take_req(ctx);
    if (req)
        hc_http_res_end(req);
    query_ctx_free(ctx);
}

/* Cuts the stream (the client sees a truncated body, not a complete file). */
static void export_abort(query_ctx_t *ctx)
{
    hc_http_req_t *req = query_take_req(ctx);
    if (req)
        hc_http_res_abort(req);
    query_ctx_free(ctx);
}

static void on_drain(hc_http_req_t *req, void *arg)
{
    (void)req;
    query_ctx_t *ctx = arg;
    ctx->waiting_drain = 0;
    export_page(ctx);
}

static void on_rows(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    query_ctx_t *ctx = arg;
    if (!ctx->req) {
        query_ctx_free(ctx);
        return;
    }
    if (status < 0 || res->ncols != EXPORT_NCOLS) {
        /* the header is out: all a client can be told is a cut stream */
        hc_log(HC_LOG_ERROR, "analytics export read failed", HC_LS("error", errmsg ? errmsg : ""),
               HC_LI("rows", ctx->rows), NULL);
        export_abort(ctx);
        return;
    }
    hc_buf_reset(&ctx->out);
    for (size_t i = 0; i < res->nrows; i++) {
        for (size_t c = 1; c < EXPORT_NCOLS; c++) {
            if (c > 1)
                hc_buf_append(&ctx->out, ",", 1);
            const hc_store_value_t *v = hc_store_cell(res, i, c);
            if (c == 5) {
                char ts[40];
                const char *iso = analytics_ts_iso(cell_int(res, i, c), ts);
                hc_buf_puts(&ctx->out, iso);
            } else if (v->type == HC_STORE_TEXT) {
                csv_field(&ctx->out, v->v.s.p, v->v.s.len);
            } else if (v->type == HC_STORE_INT) {
                hc_buf_printf(&ctx->out, "%lld", (long long)v->v.i);
            }
        }
        hc_buf_append(&ctx->out, "\r\n", 2);
    }
    if (res->nrows > 0) {
        snprintf(ctx->cursor_ts, sizeof(ctx->cursor_ts), "%s", cell_text(res, res->nrows - 1, 0));
        snprintf(ctx->cursor_id, sizeof(ctx->cursor_id), "%s", cell_text(res, res->nrows - 1, 1));
    }
    ctx->rows += (int64_t)res->nrows;
    int last = res->nrows < EXPORT_PAGE;
    int rc = ctx->out.len ? hc_http_res_write(ctx->req, ctx->out.base, ctx->out.len) : 0;
    if (rc < 0) {
        export_abort(ctx);
        return;
    }
    if (last) {
        export_finish(ctx);
        return;
    }
    if (rc == HC_HTTP_WAIT) {
        ctx->waiting_drain = 1;
        hc_http_res_on_drain(ctx->req, on_drain, ctx);
        return;
    }
    export_page(ctx);
}

static void export_page(query_ctx_t *ctx)
{
    if (!ctx->req) {
        query_ctx_free(ctx);
        return;
    }
    hc_store_value_t p[5] = {hc_store_text(ctx->website), hc_store_int(ctx->start_ms),
                             hc_store_int(ctx->end_ms), hc_store_text(ctx->cursor_ts),
                             hc_store_text(ctx->cursor_id)};
    int rc = hc_store_query(ctx->an->store, ctx->an->is_pg ? export_pg : export_sqlite, p, 5,
                            on_rows, ctx);
    if (rc < 0)
        export_abort(ctx);
}

static void export_run(query_ctx_t *ctx)
{
    if (query_parse_common(ctx, 1) < 0)
        return;
    snprintf(ctx->cursor_ts, sizeof(ctx->cursor_ts), "%s",
             ctx->an->is_pg ? "-infinity" : "-9000000000000000000");
    snprintf(ctx->cursor_id, sizeof(ctx->cursor_id), "00000000-0000-0000-0000-000000000000");
    char disp[96];
    snprintf(disp, sizeof(disp), "attachment; filename=\"events-%s.csv\"", ctx->website);
    analytics_cors(ctx->an, ctx->req);
    hc_http_res_header(ctx->req, "Content-Type", "text/csv; charset=utf-8");
    hc_http_res_header(ctx->req, "Content-Disposition", disp);
    if (hc_http_res_start(ctx->req, 200, -1) < 0 ||
        hc_http_res_write(ctx->req, export_header, sizeof(export_header) - 1) < 0) {
        export_abort(ctx);
        return;
    }
    export_page(ctx);
}

QUERY_ROUTE(export, export_run)

int analytics_export_routes(analytics_t *an)
{
    return hc_router_add(an->router, "GET", "/api/websites/:websiteId/export", export_handle, an,
                         0);
}
