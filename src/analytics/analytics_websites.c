/* Websites: the in-memory cache the write path checks ids against (loaded at start,
 * refreshed every minute and on every change here, misses asked of the database), and
 * Umami's /api/websites and /api/websites/:id (list with paging and search, create,
 * read, update, soft delete), with the permission check the read API shares. */
#include "analytics/analytics_int.h"

#include "analytics/analytics_url.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { REFRESH_MS = 60000, PAGE_SIZE_MAX = 1000, SEARCH_MAX = 100 };

struct analytics_sites {
    analytics_t *an;
    json_t *ids; /* website_id -> true, websites not deleted */
    uv_timer_t refresh;
    unsigned inflight; /* reads whose callback still needs this struct */
    int closing, timer_closed;
    /* Reads may finish out of order (a pool of connections or threads): each carries
     * the generation it started in, and one that started before min_gen (before a newer
     * read landed, or before a website was deleted) must not put back what it saw. */
    uint64_t next_gen, min_gen;
};

typedef struct sites_read {
    struct analytics_sites *s;
    uint64_t gen;
} sites_read_t;

/* ---- the cache ---- */

static void sites_maybe_free(struct analytics_sites *s)
{
    if (s->closing && s->timer_closed && !s->inflight) {
        json_decref(s->ids);
        hc_free(s);
    }
}

static void on_loaded(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    sites_read_t *rd = arg;
    struct analytics_sites *s = rd->s;
    uint64_t gen = rd->gen;
    hc_free(rd);
    s->inflight--;
    if (status) {
        hc_log(HC_LOG_WARN, "analytics: cannot load websites", HC_LS("error", errmsg), NULL);
    } else if (!s->closing && gen >= s->min_gen) {
        s->min_gen = gen + 1;
        json_t *ids = json_object();
        for (size_t i = 0; i < res->nrows; i++) {
            const hc_store_value_t *v = hc_store_cell(res, i, 0);
            if (v->type == HC_STORE_TEXT)
                json_object_set_new(ids, v->v.s.p, json_true());
        }
        json_decref(s->ids);
        s->ids = ids;
    }
    sites_maybe_free(s);
}

static void sites_load(struct analytics_sites *s)
{
    if (s->closing)
        return;
    sites_read_t *rd = hc_calloc(1, sizeof(*rd));
    rd->s = s;
    rd->gen = s->next_gen++;
    if (hc_store_query(s->an->store, "SELECT website_id FROM website WHERE deleted_at IS NULL",
                       NULL, 0, on_loaded, rd) == 0)
        s->inflight++;
    else
        hc_free(rd);
}

static void on_refresh(uv_timer_t *t)
{
    sites_load(t->data);
}

int analytics_sites_open(analytics_t *an)
{
    struct analytics_sites *s = hc_calloc(1, sizeof(*s));
    s->an = an;
    s->ids = json_object();
    uv_timer_init(an->loop, &s->refresh);
    s->refresh.data = s;
    uv_timer_start(&s->refresh, on_refresh, REFRESH_MS, REFRESH_MS);
    uv_unref((uv_handle_t *)&s->refresh);
    an->sites = s;
    sites_load(s);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct analytics_sites *s = h->data;
    s->timer_closed = 1;
    sites_maybe_free(s);
}

void analytics_sites_close(analytics_t *an)
{
    struct analytics_sites *s = an->sites;
    if (!s)
        return;
    an->sites = NULL;
    s->closing = 1;
    uv_close((uv_handle_t *)&s->refresh, on_timer_closed);
}

typedef struct site_lookup {
    struct analytics_sites *s;
    uint64_t gen;
    void (*cb)(void *arg, int found);
    void *arg;
    char id[ANALYTICS_UUID_LEN + 1];
} site_lookup_t;

static void on_lookup(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    site_lookup_t *l = arg;
    struct analytics_sites *s = l->s;
    (void)errmsg;
    int found = status ? (status < 0 ? status : -EIO) : res->nrows > 0;
    if (found == 1 && !s->closing && l->gen >= s->min_gen)
        json_object_set_new(s->ids, l->id, json_true());
    s->inflight--;
    l->cb(l->arg, found);
    hc_free(l);
    sites_maybe_free(s);
}

int analytics_sites_lookup(analytics_t *an, const char *website_id,
                           void (*cb)(void *arg, int found), void *arg)
{
    struct analytics_sites *s = an->sites;
    if (!s)
        return -ESHUTDOWN;
    if (json_object_get(s->ids, website_id))
        return 1;
    site_lookup_t *l = hc_calloc(1, sizeof(*l));
    l->s = s;
    l->gen = s->next_gen++;
    l->cb = cb;
    l->arg = arg;
    snprintf(l->id, sizeof(l->id), "%s", website_id);
    hc_store_value_t p = hc_store_text(l->id);
    int rc = hc_store_query(an->store,
                            "SELECT 1 FROM website WHERE website_id = $1 AND deleted_at IS NULL",
                            &p, 1, on_lookup, l);
    if (rc) {
        hc_free(l);
        return rc;
    }
    s->inflight++;
    return 0;
}

/* ---- JSON ---- */

/* The website columns, timestamps as epoch ms on both backends. The share slug comes
 * from Umami v3.1's share table (share_type 1: a website's public page). */
#define SITE_SHARE                                                                                 \
    "(SELECT s.slug FROM share s WHERE s.entity_id = w.website_id AND s.share_type = 1 "           \
    "ORDER BY s.created_at LIMIT 1)"
#define SITE_COLS_SQLITE                                                                           \
    "w.website_id, w.name, w.domain, " SITE_SHARE ", w.reset_at, w.user_id, w.team_id, "           \
    "w.created_by, w.created_at, w.updated_at, w.deleted_at, u.username"
#define PG_MS(c) "(EXTRACT(EPOCH FROM " c ") * 1000)::int8"
#define SITE_COLS_PG                                                                               \
    "w.website_id, w.name, w.domain, " SITE_SHARE                                                  \
    ", " PG_MS("w.reset_at") ", w.user_id, "                                                       \
                             "w.team_id, w.created_by, " PG_MS("w.created_at") ", " PG_MS(         \
                                 "w.updated_at") ", " PG_MS("w.deleted_at") ", u.username"
#define SITE_FROM " FROM website w LEFT JOIN \"user\" u ON u.user_id = w.user_id"

static const char *site_cols(const analytics_t *an)
{
    return an->is_pg ? SITE_COLS_PG : SITE_COLS_SQLITE;
}

static json_t *cell_str(const hc_store_result_t *r, size_t row, size_t col)
{
    const hc_store_value_t *v = hc_store_cell(r, row, col);
    return v->type == HC_STORE_TEXT ? json_stringn(v->v.s.p, v->v.s.len) : json_null();
}

static json_t *cell_date(const hc_store_result_t *r, size_t row, size_t col)
{
    const hc_store_value_t *v = hc_store_cell(r, row, col);
    char buf[32];
    if (v->type == HC_STORE_NULL)
        return json_null();
    return json_string(analytics_ts_iso(analytics_ts_cell(v), buf));
}

/* One row of SITE_COLS as Umami's website object. */
static json_t *site_json(const hc_store_result_t *r, size_t row)
{
    static const char *const keys[] = {"id",        "name",      "domain",   "shareId",
                                       "resetAt",   "userId",    "teamId",   "createdBy",
                                       "createdAt", "updatedAt", "deletedAt"};
    json_t *o = json_object();
    for (size_t c = 0; c < 11; c++)
        json_object_set_new(o, keys[c],
                            c == 4 || c >= 8 ? cell_date(r, row, c) : cell_str(r, row, c));
    return o;
}

/* ---- one request's steps ---- */

typedef struct site_req {
    analytics_call_t call;
    analytics_t *an;
    analytics_user_t user;
    analytics_auth_cb cb;
    void (*step)(struct site_req *sr); /* what a POST does with its body */
    char id[ANALYTICS_UUID_LEN + 1];
    json_t *body; /* POST bodies */
    long page, page_size;
    char search[SEARCH_MAX + 1];
    char like[2 * SEARCH_MAX + 3]; /* search as a LIKE pattern, metacharacters escaped */
    int is_delete;
} site_req_t;

/* The :websiteId of the route (checked by website_access before any step runs) in
 * lower case, the one spelling both backends store. */
static void route_id(hc_http_req_t *req, char id[ANALYTICS_UUID_LEN + 1])
{
    const char *v = hc_http_req_param(req, "websiteId", NULL);
    snprintf(id, ANALYTICS_UUID_LEN + 1, "%s", v ? v : "");
    analytics_uuid_lower(id);
}

static site_req_t *site_req_new(analytics_t *an, hc_http_req_t *req, const analytics_user_t *u)
{
    site_req_t *sr = analytics_call_new(req, sizeof(*sr));
    sr->an = an;
    if (u)
        sr->user = *u;
    return sr;
}

/* Ends sr and answers its request (if still there) with body (taken). */
static void sr_reply(site_req_t *sr, int status, json_t *body)
{
    json_decref(sr->body);
    hc_http_req_t *req = analytics_call_finish(sr);
    if (req)
        analytics_respond_json(req, status, body);
    else
        json_decref(body);
}

static void sr_error(site_req_t *sr, int status, const char *code, const char *message)
{
    sr_reply(sr, status,
             json_pack("{s:{s:s, s:s, s:i}}", "error", "message", message, "code", code, "status",
                       status));
}

/* Starts a read for sr; answers 503 when the read queue is full. */
static void sr_query(site_req_t *sr, const char *sql, const hc_store_value_t *p, size_t n,
                     hc_store_result_cb cb)
{
    sr->call.busy = 1;
    if (hc_store_query(sr->an->store, sql, p, n, cb, sr)) {
        sr->call.busy = 0;
        sr_error(sr, 503, "service-unavailable", "Service unavailable");
    }
}

/* Returns 1 when the step may go on; else ends sr (client gone or database error). */
static int sr_back(site_req_t *sr, int status)
{
    sr->call.busy = 0;
    if (!sr->call.req) {
        json_decref(sr->body);
        analytics_call_finish(sr);
        return 0;
    }
    if (status) {
        sr_error(sr, status == -EAGAIN ? 503 : 500,
                 status == -EAGAIN ? "service-unavailable" : "server-error",
                 status == -EAGAIN ? "Service unavailable" : "Server error");
        return 0;
    }
    return 1;
}

/* ---- permission ----
 * As Umami's permissions/website.ts: an admin may do anything; a website with an owner
 * belongs to that user alone; a team's website may be read by every member and changed
 * or deleted by those whose team role has website:update / website:delete (owner,
 * manager, member: not team-view-only). */

#define SITE_ACCESS_SQL(TEAM_ROLE)                                                                 \
    "SELECT CASE WHEN w.user_id IS NOT NULL THEN CASE WHEN w.user_id = $2 THEN 1 ELSE 0 END "      \
    "WHEN EXISTS (SELECT 1 FROM team_user t WHERE t.team_id = w.team_id AND t.user_id = "          \
    "$2" TEAM_ROLE                                                                                 \
    ") THEN 1 ELSE 0 END FROM website w WHERE w.website_id = $1 AND w.deleted_at IS NULL"
#define TEAM_WRITERS " AND t.role IN ('team-owner', 'team-manager', 'team-member')"

static void on_site_access(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    site_req_t *sr = arg;
    (void)errmsg;
    if (!sr_back(sr, status))
        return;
    if (!res->nrows) {
        sr_error(sr, 404, "not-found", "Not found");
        return;
    }
    const hc_store_value_t *allowed = hc_store_cell(res, 0, 0);
    if (!sr->user.is_admin && !(allowed->type == HC_STORE_INT && allowed->v.i)) {
        sr_error(sr, 401, "unauthorized", "Unauthorized");
        return;
    }
    analytics_user_t user = sr->user;
    analytics_t *an = sr->an;
    analytics_auth_cb cb = sr->cb;
    hc_http_req_t *req = analytics_call_finish(sr);
    cb(req, an, &user);
}

/* Checks u's access to website_id (change = 0 to read, 1 to update or delete), then cb. */
static void website_access(analytics_t *an, hc_http_req_t *req, const analytics_user_t *u,
                           const char *website_id, int change, analytics_auth_cb cb)
{
    if (!website_id || !analytics_uuid_valid(website_id)) {
        analytics_respond_error(req, 400, "bad-request", "Bad request");
        return;
    }
    site_req_t *sr = site_req_new(an, req, u);
    sr->cb = cb;
    snprintf(sr->id, sizeof(sr->id), "%s", website_id);
    analytics_uuid_lower(sr->id);
    hc_store_value_t p[2] = {hc_store_text(sr->id), hc_store_text(sr->user.id)};
    sr_query(sr, change ? SITE_ACCESS_SQL(TEAM_WRITERS) : SITE_ACCESS_SQL(""), p, 2,
             on_site_access);
}

void analytics_website_require(analytics_t *an, hc_http_req_t *req, const analytics_user_t *u,
                               const char *website_id, analytics_auth_cb cb)
{
    website_access(an, req, u, website_id, 0, cb);
}

/* ---- GET /api/websites ---- */

static long query_long(hc_http_req_t *req, const char *name, long def, long min, long max)
{
    size_t n = 0;
    const char *v = hc_http_req_query_param(req, name, &n);
    if (!v || !n || n > 9)
        return def;
    char buf[16];
    memcpy(buf, v, n);
    buf[n] = 0;
    char *end;
    long x = strtol(buf, &end, 10);
    if (*end || x < min)
        return def;
    return x > max ? max : x;
}

/* The search parameter as URLSearchParams decodes it (invalid UTF-8 becomes U+FFFD,
 * %00 stays as typed: a database text holds neither), at most SEARCH_MAX bytes cut at a
 * character boundary; and the LIKE pattern matching it anywhere, with % _ and \
 * escaped (ESCAPE '\'). */
static void query_search(hc_http_req_t *req, site_req_t *sr)
{
    size_t n = 0;
    const char *v = hc_http_req_query_param(req, "search", &n);
    sr->search[0] = '\0';
    if (v) {
        char q[3 * SEARCH_MAX + 8]; /* enough raw bytes for SEARCH_MAX decoded ones */
        snprintf(q, sizeof(q), "s=%.*s", (int)(n < 3 * SEARCH_MAX ? n : 3 * SEARCH_MAX), v);
        analytics_url_param(q, "s", sr->search, sizeof(sr->search));
    }
    size_t k = 0;
    sr->like[k++] = '%';
    for (const char *c = sr->search; *c; c++) {
        if (*c == '%' || *c == '_' || *c == '\\')
            sr->like[k++] = '\\';
        sr->like[k++] = *c;
    }
    sr->like[k++] = '%';
    sr->like[k] = '\0';
}

/* The websites u may list: their own and their teams' (admins included, as in Umami). */
#define LIST_WHERE                                                                                 \
    " WHERE w.deleted_at IS NULL AND (w.user_id = $1 OR w.team_id IN (SELECT team_id FROM "        \
    "team_user WHERE user_id = $1)) AND (LOWER(w.name) LIKE LOWER($2) ESCAPE '\\' OR "             \
    "LOWER(COALESCE(w.domain, '')) LIKE LOWER($2) ESCAPE '\\')"

static void list_reply(site_req_t *sr, json_t *data, long count)
{
    sr_reply(sr, 200,
             json_pack("{s:o, s:I, s:I, s:I, s:s, s:s}", "data", data, "count", (json_int_t)count,
                       "page", (json_int_t)sr->page, "pageSize", (json_int_t)sr->page_size,
                       "orderBy", "name", "search", sr->search));
}

/* A page past the last one has no row to carry COUNT(*) OVER (): counted apart. */
static void on_count(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    site_req_t *sr = arg;
    (void)errmsg;
    if (!sr_back(sr, status))
        return;
    const hc_store_value_t *c = res->nrows ? hc_store_cell(res, 0, 0) : NULL;
    list_reply(sr, json_array(), c && c->type == HC_STORE_INT ? (long)c->v.i : 0);
}

static void on_list(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    site_req_t *sr = arg;
    (void)errmsg;
    if (!sr_back(sr, status))
        return;
    if (!res->nrows && sr->page > 1) {
        hc_store_value_t p[2] = {hc_store_text(sr->user.id), hc_store_text(sr->like)};
        sr_query(sr, "SELECT COUNT(*) FROM website w" LIST_WHERE, p, 2, on_count);
        return;
    }
    json_t *data = json_array();
    long count = 0;
    for (size_t i = 0; i < res->nrows; i++) {
        json_t *w = site_json(res, i);
        json_object_set_new(
            w, "user",
            json_pack("{s:o, s:o}", "username", cell_str(res, i, 11), "id", cell_str(res, i, 5)));
        json_array_append_new(data, w);
        const hc_store_value_t *c = hc_store_cell(res, i, 12);
        count = c->type == HC_STORE_INT ? (long)c->v.i : count;
    }
    list_reply(sr, data, count);
}

static void list_sites(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)
{
    site_req_t *sr = site_req_new(an, req, u);
    sr->page = query_long(req, "page", 1, 1, 1000000);
    sr->page_size = query_long(req, "pageSize", 20, 1, PAGE_SIZE_MAX);
    query_search(req, sr);
    char sql[1400];
    snprintf(sql, sizeof(sql),
             "SELECT %s, COUNT(*) OVER ()" SITE_FROM LIST_WHERE
             " ORDER BY w.name, w.website_id LIMIT $3 OFFSET $4",
             site_cols(an));
    hc_store_value_t p[4] = {hc_store_text(sr->user.id), hc_store_text(sr->like),
                             hc_store_int(sr->page_size),
                             hc_store_int((sr->page - 1) * sr->page_size)};
    sr_query(sr, sql, p, 4, on_list);
}

/* ---- one website ---- */

static void on_one(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    site_req_t *sr = arg;
    (void)errmsg;
    if (!sr_back(sr, status))
        return;
    if (!res->nrows)
        sr_error(sr, 404, "not-found", "Not found");
    else
        sr_reply(sr, 200, site_json(res, 0));
}

static void send_site(site_req_t *sr)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT %s" SITE_FROM " WHERE w.website_id = $1", site_cols(sr->an));
    hc_store_value_t p = hc_store_text(sr->id);
    sr_query(sr, sql, &p, 1, on_one);
}

static void get_site_ok(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)
{
    site_req_t *sr = site_req_new(an, req, u);
    route_id(req, sr->id);
    send_site(sr);
}

static void on_written(void *arg, int status, const char *errmsg)
{
    site_req_t *sr = arg;
    if (status == -EEXIST) {
        sr->call.busy = 0;
        if (sr->call.req)
            sr_error(sr, 400, "bad-request", "Share ID already exists");
        else
            sr_back(sr, 0);
        return;
    }
    if (status)
        hc_log(HC_LOG_WARN, "analytics: website write failed", HC_LS("error", errmsg), NULL);
    if (sr->an->sites)
        sites_load(sr->an->sites);
    if (!sr_back(sr, status))
        return;
    if (sr->is_delete)
        sr_reply(sr, 200, json_pack("{s:b}", "ok", 1));
    else
        send_site(sr);
}

/* Runs n statements as one unit for sr (the parameters are copied), then on_written. */
static void sr_exec(site_req_t *sr, const hc_store_stmt_t *stmts, size_t n)
{
    sr->call.busy = 1;
    int rc = hc_store_exec_group(sr->an->store, stmts, n, on_written, sr);
    json_decref(sr->body);
    sr->body = NULL;
    if (rc) {
        sr->call.busy = 0;
        sr_error(sr, 503, "service-unavailable", "Service unavailable");
    }
}

static const char SQL_SHARE_DEL[] = "DELETE FROM share WHERE entity_id = $1 AND share_type = 1";
static const char SQL_SHARE_ADD[] =
    "INSERT INTO share (share_id, entity_id, name, share_type, slug, parameters, created_at) "
    "VALUES ($1, $2, $3, 1, $4, '{\"overview\":true}', $5)";

static void create_site_step(site_req_t *sr);

/* Reads a JSON object body into sr->body, then runs sr->step; 400 on bad JSON. */
static void on_body(hc_http_req_t *req, char *body, size_t len, int err, void *arg)
{
    site_req_t *sr = arg;
    (void)req;
    if (err) { /* a reset: the close callback frees sr; a 413 was answered by the server */
        if (err != -ECONNRESET)
            analytics_call_finish(sr);
        return;
    }
    json_error_t je;
    sr->body = json_loadb(body, len, 0, &je);
    if (!json_is_object(sr->body)) {
        sr_error(sr, 400, "bad-request", "Bad request");
        return;
    }
    sr->step(sr);
}

static void read_body(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u,
                      void (*step)(site_req_t *sr))
{
    site_req_t *sr = site_req_new(an, req, u);
    sr->step = step;
    if (step != create_site_step)
        route_id(req, sr->id);
    if (hc_http_req_read_whole_body(req, 0, on_body, sr))
        sr_error(sr, 400, "bad-request", "Bad request");
}

/* A string member of at most max characters as zod counts them (UTF-16 units; the
 * VARCHAR columns count code points, never more), or absent/null (*out NULL). Returns 0
 * or -EINVAL. */
static int body_str(json_t *body, const char *key, size_t max, const char **out)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) ||
        analytics_js_length(json_string_value(v), json_string_length(v)) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -EINVAL;
    *out = json_string_value(v);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* POST /api/websites's body (Umami's schema: name max 100, domain max 500, shareId max
 * 50 or null, teamId and id uuids or null). Returns 0 or -EINVAL. */
typedef struct site_fields {
    const char *name, *domain, *share, *team, *id;
} site_fields_t;

static int create_fields(json_t *body, site_fields_t *f)
{
    if (body_str(body, "name", 100, &f->name) || !f->name || !*f->name ||
        body_str(body, "domain", 500, &f->domain) || !f->domain ||
        body_str(body, "shareId", 50, &f->share) ||
        body_str(body, "teamId", ANALYTICS_UUID_LEN, &f->team) ||
        body_str(body, "id", ANALYTICS_UUID_LEN, &f->id) ||
        (f->team && !analytics_uuid_valid(f->team)) || (f->id && !analytics_uuid_valid(f->id)))
        return -EINVAL;
    return 0;
}

static void create_site_insert(site_req_t *sr)
{
    analytics_t *an = sr->an;
    site_fields_t f = {0};
    create_fields(sr->body, &f); /* checked by create_site_step */
    if (f.id)
        snprintf(sr->id, sizeof(sr->id), "%s", f.id);
    else
        analytics_uuid4(sr->id);
    char ts[32], share_id[ANALYTICS_UUID_LEN + 1];
    hc_store_value_t now = analytics_ts_param(an, now_ms(), ts);
    hc_store_value_t p[7] = {hc_store_text(sr->id),
                             hc_store_text(f.name),
                             hc_store_text(f.domain),
                             f.team ? hc_store_null() : hc_store_text(sr->user.id),
                             hc_store_text(f.team),
                             hc_store_text(sr->user.id),
                             now};
    analytics_uuid4(share_id);
    hc_store_value_t ps[5] = {hc_store_text(share_id), hc_store_text(sr->id), hc_store_text(f.name),
                              hc_store_text(f.share), now};
    hc_store_stmt_t st[2] = {
        {"INSERT INTO website (website_id, name, domain, user_id, team_id, created_by, "
         "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
         p, 7},
        {SQL_SHARE_ADD, ps, 5},
    };
    sr_exec(sr, st, f.share ? 2 : 1);
}

static void on_team_create(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    site_req_t *sr = arg;
    (void)errmsg;
    if (!sr_back(sr, status))
        return;
    if (!res->nrows)
        sr_error(sr, 401, "unauthorized", "Unauthorized");
    else
        create_site_insert(sr);
}

/* Umami's canCreateWebsite (an admin, or a role with website:create: "user", not
 * "view-only") and, for a team's website, canCreateTeamWebsite (an admin, or a member
 * whose team role has website:create). */
static void create_site_step(site_req_t *sr)
{
    site_fields_t f = {0};
    if (create_fields(sr->body, &f)) {
        sr_error(sr, 400, "bad-request", "Bad request");
        return;
    }
    if (sr->user.is_admin) {
        create_site_insert(sr);
    } else if (f.team) {
        hc_store_value_t p[2] = {hc_store_text(f.team), hc_store_text(sr->user.id)};
        sr_query(sr,
                 "SELECT 1 FROM team_user t WHERE t.team_id = $1 AND t.user_id = $2" TEAM_WRITERS,
                 p, 2, on_team_create);
    } else if (!strcmp(sr->user.role, "user")) {
        create_site_insert(sr);
    } else {
        sr_error(sr, 401, "unauthorized", "Unauthorized");
    }
}

static void update_site_step(site_req_t *sr)
{
    analytics_t *an = sr->an;
    const char *name, *domain, *share;
    int share_given = json_object_get(sr->body, "shareId") != NULL;
    if (body_str(sr->body, "name", 100, &name) || (name && !*name) ||
        body_str(sr->body, "domain", 500, &domain) || body_str(sr->body, "shareId", 50, &share)) {
        sr_error(sr, 400, "bad-request", "Bad request");
        return;
    }
    char ts[32], share_id[ANALYTICS_UUID_LEN + 1];
    hc_store_value_t now = analytics_ts_param(an, now_ms(), ts);
    /* name and domain keep their value when absent; shareId replaces the share (null: none) */
    hc_store_value_t p[4] = {hc_store_text(sr->id), hc_store_text(name), hc_store_text(domain),
                             now};
    analytics_uuid4(share_id);
    hc_store_value_t ps[5] = {hc_store_text(share_id), hc_store_text(sr->id),
                              hc_store_text(name ? name : "website"), hc_store_text(share), now};
    hc_store_stmt_t st[3] = {
        {"UPDATE website SET name = COALESCE($2, name), domain = COALESCE($3, domain), "
         "updated_at = $4 WHERE website_id = $1",
         p, 4},
        {SQL_SHARE_DEL, p, 1},
        {SQL_SHARE_ADD, ps, 5},
    };
    sr_exec(sr, st, share_given ? (share ? 3 : 2) : 1);
}

static void delete_site(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)
{
    site_req_t *sr = site_req_new(an, req, u);
    sr->is_delete = 1;
    route_id(req, sr->id);
    if (an->sites) { /* collection stops at once, before the row is even written */
        json_object_del(an->sites->ids, sr->id);
        an->sites->min_gen = an->sites->next_gen; /* reads under way saw it alive */
    }
    /* Soft: the rows and rollups stay (Umami outside cloud mode deletes them with the
     * website). Its share links go, as in Umami, which frees their slugs. */
    char ts[32];
    hc_store_value_t p[2] = {hc_store_text(sr->id), analytics_ts_param(an, now_ms(), ts)};
    hc_store_stmt_t st[2] = {
        {"UPDATE website SET deleted_at = $2, updated_at = $2 WHERE website_id = $1", p, 2},
        {"DELETE FROM share WHERE entity_id = $1", p, 1},
    };
    sr_exec(sr, st, 2);
}

static void update_body(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)
{
    read_body(req, an, u, update_site_step);
}

static void get_auth(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)
{
    website_access(an, req, u, hc_http_req_param(req, "websiteId", NULL), 0, get_site_ok);
}

static void update_auth(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)
{
    website_access(an, req, u, hc_http_req_param(req, "websiteId", NULL), 1, update_body);
}

static void delete_auth(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)
{
    website_access(an, req, u, hc_http_req_param(req, "websiteId", NULL), 1, delete_site);
}

static void create_auth(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)
{
    read_body(req, an, u, create_site_step);
}

static void h_list(hc_http_req_t *req, void *arg)
{
    analytics_auth_require(arg, req, list_sites);
}

static void h_create(hc_http_req_t *req, void *arg)
{
    analytics_auth_require(arg, req, create_auth);
}

static void h_get(hc_http_req_t *req, void *arg)
{
    analytics_auth_require(arg, req, get_auth);
}

static void h_update(hc_http_req_t *req, void *arg)
{
    analytics_auth_require(arg, req, update_auth);
}

static void h_delete(hc_http_req_t *req, void *arg)
{
    analytics_auth_require(arg, req, delete_auth);
}

int analytics_websites_routes(analytics_t *an)
{
    int rc = 0;
    rc |= hc_router_add(an->router, "GET", "/api/websites", h_list, an, 0);
    rc |= hc_router_add(an->router, "POST", "/api/websites", h_create, an, 0);
    rc |= hc_router_add(an->router, "GET", "/api/websites/:websiteId", h_get, an, 0);
    rc |= hc_router_add(an->router, "POST", "/api/websites/:websiteId", h_update, an, 0);
    rc |= hc_router_add(an->router, "DELETE", "/api/websites/:websiteId", h_delete, an, 0);
    return rc ? -EINVAL : 0;
}
