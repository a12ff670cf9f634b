/* /metrics and /metrics/expanded: Umami's metric types (path, entry, exit, referrer,
 * ..., utm*, device and geo columns, and the traffic channels). Unfiltered rolled-up types
 * over whole hours answer from the day cells (analytics_rollup.h); the rest, entry/exit and every
 * filtered query run Umami's SQL over website_event. y is distinct sessions, except for named
 * events. */
#include <string.h>

#include "analytics/analytics_query_int.h"
#include "analytics/analytics_rollup.h"

/* ---- metrics ---- */

/* A /metrics type as SQL: its expression, whether it needs the session row, and the
 * event type it counts. */
typedef struct metric_def {
    const char *type;
    const char *expr;
    int session;
} metric_def_t;

static const metric_def_t metric_defs[] = {
    {"path", "website_event.url_path", 0},
    {"entry", "x.url_path", 0},
    {"exit", "x.url_path", 0},
    {"referrer", "website_event.referrer_domain", 0},
    {"domain", "website_event.referrer_domain", 0},
    {"title", "website_event.page_title", 0},
    {"query", "website_event.url_query", 0},
    {"event", "website_event.event_name", 0},
    {"tag", "website_event.tag", 0},
    {"hostname", "website_event.hostname", 0},
    {"utmSource", "website_event.utm_source", 0},
    {"utmMedium", "website_event.utm_medium", 0},
    {"utmCampaign", "website_event.utm_campaign", 0},
    {"utmContent", "website_event.utm_content", 0},
    {"utmTerm", "website_event.utm_term", 0},
    {"browser", "session.browser", 1},
    {"os", "session.os", 1},
    {"device", "session.device", 1},
    {"screen", "session.screen", 1},
    {"language", "lower(substr(session.language, 1, 2))", 1},
    {"country", "session.country", 1},
    {"region", "session.region", 1},
    {"city", "session.city", 1},
    {"distinctId", "session.distinct_id", 1},
};

static const metric_def_t *metric_find(const char *type)
{
    for (size_t i = 0; i < sizeof(metric_defs) / sizeof(metric_defs[0]); i++)
        if (strcmp(metric_defs[i].type, type) == 0)
            return &metric_defs[i];
    return NULL;
}

static void on_metric_rollup(void *arg, int status, const analytics_metric_row_t *rows, size_t n)
{
    query_ctx_t *ctx = arg;
    if (status < 0) {
        query_fail(ctx, status, "rollup read failed");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{sssI}", "x", rows[i].x, "y", (json_int_t)rows[i].y));
    query_reply(ctx, a);
}

static void on_metric_sql(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    query_ctx_t *ctx = arg;
    if (status < 0) {
        query_fail(ctx, status, errmsg);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < res->nrows; i++) {
        json_t *row = json_pack("{sosI}", "x", cell_json_str(res, i, 0), "y",
                                (json_int_t)cell_int(res, i, 1));
        if (res->ncols > 2)
            json_object_set_new(row, "country", cell_json_str(res, i, 2));
        json_array_append_new(a, row);
    }
    query_reply(ctx, a);
}

/* The first (entry) or last (exit) pageview path of every visit in the range. */
static void qs_entry_exit(query_ctx_t *ctx, int exit)
{
    qs(ctx,
       " JOIN (SELECT v.visit_id, v.url_path FROM (SELECT website_event.visit_id,"
       " website_event.url_path, row_number() OVER (PARTITION BY website_event.visit_id"
       " ORDER BY website_event.created_at %s) AS rn FROM website_event"
       " WHERE website_event.website_id = $%d AND website_event.event_type = 1"
       " AND website_event.created_at BETWEEN ",
       exit ? "DESC" : "ASC", qp_text(ctx, ctx->website));
    qs_ts(ctx, qp_int(ctx, ctx->start_ms));
    qs(ctx, " AND ");
    qs_ts(ctx, qp_int(ctx, ctx->end_ms));
    qs(ctx, ") v WHERE v.rn = 1) x ON x.visit_id = website_event.visit_id");
}

/* Appends the metric's FROM/WHERE; returns the x expression. */
static const char *metric_from(query_ctx_t *ctx, const metric_def_t *m, int event_type)
{
    int ee = strcmp(m->type, "entry") == 0 || strcmp(m->type, "exit") == 0;
    if (ee) {
        /* qs_from_where starts with FROM: splice the join between FROM and WHERE */
        hc_buf_t tail;
        hc_buf_init(&tail, QUERY_SQL_MAX);
        size_t mark = ctx->sql.len;
        qs_from_where(ctx, event_type, m->session, ctx->start_ms, ctx->end_ms);
        const char *w = strstr(ctx->sql.base + mark, " WHERE ");
        hc_buf_puts(&tail, w);
        ctx->sql.len = (size_t)(w - ctx->sql.base);
        ctx->sql.base[ctx->sql.len] = '\0';
        qs_entry_exit(ctx, m->type[1] == 'x');
        hc_buf_append(&ctx->sql, tail.base, tail.len);
        hc_buf_free(&tail);
    } else {
        qs_from_where(ctx, event_type, m->session, ctx->start_ms, ctx->end_ms);
    }
    if (strcmp(m->type, "referrer") == 0 || strcmp(m->type, "domain") == 0)
        qs(ctx, " AND website_event.referrer_domain != coalesce(website_event.hostname, '')");
    qs(ctx, " AND %s IS NOT NULL AND %s != ''", m->expr, m->expr);
    return m->expr;
}

/* ---- channel: Umami v3's traffic channels (getChannelMetrics), classified in SQL ---- */

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char *const paid_mediums[] = {"cp", "ppc", "retargeting", "paid"};
static const char *const referral_mediums[] = {"referral", "app", "link"};
static const char *const search_domains[] = {"baidu.com",        "bing.com", "duckduckgo.com",
                                             "ecosia.org",       "google.",  "msn.com",
                                             "search.brave.com", "yandex."};
static const char *const social_domains[] = {
    "bsky.app",  "facebook.com",         "fb.com",     "ig.com",      "instagram.com",
    "linkedin.", "news.ycombinator.com", "pinterest.", "reddit.",     "snapchat.",
    "t.co",      "threads.net",          "tiktok.",    "twitter.com", "x.com"};
static const char *const email_domains[] = {"gmail.",   "hotmail.",  "mail.yahoo.",
                                            "outlook.", "proton.me", "protonmail."};
static const char *const shopping_domains[] = {"alibaba.com", "aliexpress.com", "amazon.",
                                               "bestbuy.com", "ebay.com",       "etsy.com",
                                               "newegg.com",  "target.com",     "walmart.com"};
static const char *const video_domains[] = {"twitch.", "youtube."};
static const char *const paid_ad_params[] = {
    "ad_id=",           "aid=",           "dclid=",          "epik=",
    "gclid=",           "li_fat_id=",     "msclkid=",        "ob_click_id=",
    "pc_id=",           "rdt_cid=",       "scid=",           "ttclid=",
    "twclid=",          "utm_medium=cpc", "utm_medium=paid", "utm_medium=paid_social",
    "utm_source=google"};

/* "(col contains any of the words)"; the words are constants without quotes. */
static void qs_contains_any(query_ctx_t *ctx, const char *col, const char *const *words, size_t n)
{
    const char *fn = ctx->an->is_pg ? "strpos" : "instr";
    qs(ctx, "(");
    for (size_t i = 0; i < n; i++)
        qs(ctx, "%s%s(website_event.%s, '%s') > 0", i ? " OR " : "", fn, col, words[i]);
    qs(ctx, ")");
}

/* The channel of an event as Umami's CASE decides it: direct, paid ads, referral,
 * affiliate, sms, then search, social, email, shopping and video by referrer domain (or
 * utm_medium), the last four prefixed "paid" or "organic" by utm_medium; '' for the rest,
 * which are left out. Absent referrer and query count as empty (Umami's ClickHouse
 * columns are never NULL). */
static void qs_channel(query_ctx_t *ctx)
{
    static const struct {
        const char *name;
        int prefixed;
        const char *const *domains;
        size_t ndomains;
        const char *medium;
    } kinds[] = {
        {"Search", 1, search_domains, NELEMS(search_domains), "organic"},
        {"Social", 1, social_domains, NELEMS(social_domains), NULL},
        {"email", 0, email_domains, NELEMS(email_domains), "mail"},
        {"Shopping", 1, shopping_domains, NELEMS(shopping_domains), "shop"},
        {"Video", 1, video_domains, NELEMS(video_domains), "video"},
    };
    const char *fn = ctx->an->is_pg ? "strpos" : "instr";
    qs(ctx, "CASE WHEN coalesce(website_event.referrer_domain, '') = ''"
            " AND coalesce(website_event.url_query, '') = '' THEN 'direct' WHEN ");
    qs_contains_any(ctx, "url_query", paid_ad_params, NELEMS(paid_ad_params));
    qs(ctx, " THEN 'paidAds' WHEN ");
    qs_contains_any(ctx, "utm_medium", referral_mediums, NELEMS(referral_mediums));
    qs(ctx,
       " THEN 'referral' WHEN %s(website_event.utm_medium, 'affiliate') > 0 THEN 'affiliate'"
       " WHEN %s(website_event.utm_medium, 'sms') > 0 OR %s(website_event.utm_source, 'sms') > 0"
       " THEN 'sms'",
       fn, fn, fn);
    for (size_t k = 0; k < NELEMS(kinds); k++) {
        qs(ctx, " WHEN ");
        qs_contains_any(ctx, "referrer_domain", kinds[k].domains, kinds[k].ndomains);
        if (kinds[k].medium)
            qs(ctx, " OR %s(website_event.utm_medium, '%s') > 0", fn, kinds[k].medium);
        if (!kinds[k].prefixed) {
            qs(ctx, " THEN '%s'", kinds[k].name);
            continue;
        }
        qs(ctx, " THEN (CASE WHEN ");
        qs_contains_any(ctx, "utm_medium", paid_mediums, NELEMS(paid_mediums));
        qs(ctx, " THEN 'paid%s' ELSE 'organic%s' END)", kinds[k].name, kinds[k].name);
    }
    qs(ctx, " ELSE '' END");
}

/* y per channel: distinct sessions per (channel, paid or organic), summed per channel,
 * as Umami groups by its prefix column too. */
static void channel_run(query_ctx_t *ctx)
{
    query_reset(ctx);
    qs(ctx, "SELECT x, sum(y)%s FROM (SELECT ", ctx->an->is_pg ? "::bigint" : "");
    qs_channel(ctx);
    qs(ctx, " AS x, (CASE WHEN ");
    qs_contains_any(ctx, "utm_medium", paid_mediums, NELEMS(paid_mediums));
    qs(ctx, " THEN 1 ELSE 0 END) AS p, count(DISTINCT website_event.session_id) AS y");
    qs_from_where(ctx, ANALYTICS_PAGEVIEW, 0, ctx->start_ms, ctx->end_ms);
    qs(ctx, " GROUP BY 1, 2) c WHERE x != '' GROUP BY x ORDER BY 2 DESC, 1 LIMIT %lld OFFSET %lld",
       (long long)ctx->limit, (long long)ctx->offset);
    query_run(ctx, on_metric_sql);
}

static void metrics_run(query_ctx_t *ctx)
{
    if (query_parse_common(ctx, 1) < 0)
        return;
    size_t n;
    const char *t = hc_http_req_query_param(ctx->req, "type", &n);
    if (!t || hc_url_decode(t, n, ctx->type, sizeof(ctx->type), 1) < 0) {
        query_bad_request(ctx, "Invalid type");
        return;
    }
    int channel = strcmp(ctx->type, "channel") == 0;
    const metric_def_t *m = metric_find(ctx->type);
    if (!m && !channel) {
        query_bad_request(ctx, "Invalid type");
        return;
    }
    if (query_int_param(ctx, "limit", 500, 1, QUERY_LIMIT_MAX, &ctx->limit) < 0 ||
        query_int_param(ctx, "offset", 0, 0, INT32_MAX, &ctx->offset) < 0)
        return;
    if (channel) {
        channel_run(ctx);
        return;
    }
    int is_event = strcmp(m->type, "event") == 0;
    int rt = analytics_rollup_type_of(m->type);
    int64_t fh, th;
    if (rt && query_use_rollups(ctx) && query_whole_hours(ctx->start_ms, ctx->end_ms, &fh, &th)) {
        int rc =
            analytics_rollup_metric(ctx->an->rollup, ctx->website, rt, fh, th, (size_t)ctx->limit,
                                    (size_t)ctx->offset, on_metric_rollup, ctx);
        if (rc < 0)
            query_fail(ctx, rc, "rollup read not queued");
        return;
    }
    query_reset(ctx);
    int geo = strcmp(m->type, "region") == 0 || strcmp(m->type, "city") == 0;
    qs(ctx, "SELECT %s AS x, %s AS y%s", m->expr,
       is_event ? "count(*)" : "count(DISTINCT website_event.session_id)",
       geo ? ", session.country" : "");
    metric_from(ctx, m, is_event ? ANALYTICS_CUSTOM : ANALYTICS_PAGEVIEW);
    qs(ctx, " GROUP BY 1%s ORDER BY 2 DESC, 1 LIMIT %lld OFFSET %lld", geo ? ", 3" : "",
       (long long)ctx->limit, (long long)ctx->offset);
    query_run(ctx, on_metric_sql);
}

QUERY_ROUTE(metrics, metrics_run)

/* ---- metrics/expanded ---- */

static void on_expanded(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    query_ctx_t *ctx = arg;
    if (status < 0 || res->ncols != 6) {
        query_fail(ctx, status < 0 ? status : -EIO, errmsg);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < res->nrows; i++)
        json_array_append_new(a, json_pack("{sosIsIsIsIsI}", "name", cell_json_str(res, i, 0),
                                           "pageviews", (json_int_t)cell_int(res, i, 1), "visitors",
                                           (json_int_t)cell_int(res, i, 2), "visits",
                                           (json_int_t)cell_int(res, i, 3), "bounces",
                                           (json_int_t)cell_int(res, i, 4), "totaltime",
                                           (json_int_t)cell_int(res, i, 5)));
    query_reply(ctx, a);
}

static void expanded_run(query_ctx_t *ctx)
{
    if (query_parse_common(ctx, 1) < 0)
        return;
    size_t n;
    const char *t = hc_http_req_query_param(ctx->req, "type", &n);
    const metric_def_t *m = NULL;
    int channel = 0;
    if (t && hc_url_decode(t, n, ctx->type, sizeof(ctx->type), 1) >= 0) {
        m = metric_find(ctx->type);
        channel = strcmp(ctx->type, "channel") == 0;
    }
    if (!m && !channel) {
        query_bad_request(ctx, "Invalid type");
        return;
    }
    if (query_int_param(ctx, "limit", 500, 1, QUERY_LIMIT_MAX, &ctx->limit) < 0 ||
        query_int_param(ctx, "offset", 0, 0, INT32_MAX, &ctx->offset) < 0)
        return;
    const char *big = ctx->an->is_pg ? "::bigint" : "";
    query_reset(ctx);
    qs(ctx,
       "SELECT t.x, sum(t.c)%s, count(DISTINCT t.session_id), count(DISTINCT t.visit_id),"
       " sum(CASE WHEN t.c = 1 THEN 1 ELSE 0 END)%s, sum(t.d)%s FROM (SELECT ",
       big, big, big);
    if (channel)
        qs_channel(ctx);
    else
        qs(ctx, "%s", m->expr);
    qs(ctx, " AS x, website_event.session_id, website_event.visit_id, count(*) AS c, ");
    if (ctx->an->is_pg)
        qs(ctx, "floor(extract(epoch from max(website_event.created_at) -"
                " min(website_event.created_at))) AS d");
    else
        qs(ctx, "(max(website_event.created_at) - min(website_event.created_at)) / 1000 AS d");
    if (channel)
        qs_from_where(ctx, ANALYTICS_PAGEVIEW, 0, ctx->start_ms, ctx->end_ms);
    else
        metric_from(ctx, m, strcmp(m->type, "event") == 0 ? ANALYTICS_CUSTOM : ANALYTICS_PAGEVIEW);
    qs(ctx, " GROUP BY 1, 2, 3) t%s GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %lld OFFSET %lld",
       channel ? " WHERE t.x != ''" : "", (long long)ctx->limit, (long long)ctx->offset);
    query_run(ctx, on_expanded);
}

QUERY_ROUTE(expanded, expanded_run)

int query_metrics_routes(analytics_t *an)
{
    int rc =
        hc_router_add(an->router, "GET", "/api/websites/:websiteId/metrics", metrics_handle, an, 0);
    if (rc == 0)
        rc = hc_router_add(an->router, "GET", "/api/websites/:websiteId/metrics/expanded",
                           expanded_handle, an, 0);
    return rc;
}
