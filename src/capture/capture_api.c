/* The HTTP side of hearth capture (paths and fields in capture.h): login and Bearer
 * tokens, call search over the capture_calls summaries, one call's messages and legs
 * (capture_view.c loads it), statistics, heartbeat, /metrics and the
 * embedded UI (web/capture) with an index.html fallback. Reads run off the loop
 * (hc_store_query); a request that goes away meanwhile is forgotten, never touched. */
#include "capture/capture_int.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_jwt.h"
#include "core/hc_log.h"
#include "core/hc_password.h"
#include "core/hc_runtime.h"

#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_TTL_S (24 * 3600)
#define LOGIN_BODY_MAX 4096
#define PARAM_MAX 256 /* a decoded query parameter */
#define PAGE_MAX 1000 /* calls per page */

extern const hc_static_table_t capture_web;

/* ---- a read in flight for a request that may go away ---- */

typedef struct pending {
    hc_http_req_t *req; /* NULL once the client went away */
    capture_svc_t *svc;
    /* search, stats */
    int64_t total;
    int64_t from_us, to_us;
    json_t *doc; /* stats built so far (owned) */
    /* login */
    char user[64], pw[256];
    int ok;
    uv_work_t work;
} pending_t;

static void on_req_gone(hc_http_req_t *req, void *arg)
{
    (void)req;
    ((pending_t *)arg)->req = NULL;
}

static pending_t *pending_new(capture_svc_t *svc, hc_http_req_t *req)
{
    pending_t *p = hc_calloc(1, sizeof(*p));
    p->req = req;
    p->svc = svc;
    hc_http_req_on_close(req, on_req_gone, p);
    return p;
}

/* Detaches p from its request (the response is about to end) and frees it. */
static void pending_free(pending_t *p)
{
    if (p->req)
        hc_http_req_on_close(p->req, NULL, NULL);
    OPENSSL_cleanse(p->pw, sizeof(p->pw));
    json_decref(p->doc);
    hc_free(p);
}

static void respond_json(hc_http_req_t *req, int status, json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!s) {
        hc_http_respond_error(req, 500, "cannot render JSON");
        return;
    }
    hc_http_respond(req, status, "application/json", s, strlen(s));
    free(s); /* jansson's allocation */
}

/* The decoded query parameter name into out; 0 when absent or empty, 1 when set, -1
 * when malformed. */
static int query_str(hc_http_req_t *req, const char *name, char *out, size_t cap)
{
    size_t n;
    const char *v = hc_http_req_query_param(req, name, &n);
    out[0] = '\0';
    if (!v || !n)
        return 0;
    return hc_url_decode(v, n, out, cap, 1) < 0 ? -1 : 1;
}

static int query_int(hc_http_req_t *req, const char *name, int64_t *out)
{
    char buf[32], *end;
    int rc = query_str(req, name, buf, sizeof(buf));
    if (rc <= 0)
        return rc;
    long long v = strtoll(buf, &end, 10);
    if (*end || end == buf)
        return -1;
    *out = v;
    return 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- auth ---- */

/* 1 when the request carries a valid token: Authorization: Bearer, or ?token= for
 * EventSource and download links, which cannot set headers. */
static int authorized(capture_svc_t *svc, hc_http_req_t *req)
{
    size_t n = 0;
    const char *h = hc_http_req_header(req, "Authorization", &n);
    char tok[1024];
    if (h && n > 7 && !strncasecmp(h, "Bearer ", 7)) {
        if (n - 7 >= sizeof(tok))
            return 0;
        memcpy(tok, h + 7, n - 7);
        tok[n - 7] = '\0';
    } else if (query_str(req, "token", tok, sizeof(tok)) != 1) {
        return 0;
    }
    char payload[512];
    if (hc_jwt_verify(tok, strlen(tok), svc->jwt_key, sizeof(svc->jwt_key), payload,
                      sizeof(payload)) < 0)
        return 0;
    json_t *j = json_loads(payload, 0, NULL);
    json_int_t exp = j ? json_integer_value(json_object_get(j, "exp")) : 0;
    json_decref(j);
    return exp > (json_int_t)time(NULL);
}

int capture_api_guard(capture_svc_t *svc, hc_http_req_t *req)
{
    if (authorized(svc, req))
        return 1;
    hc_http_res_header(req, "WWW-Authenticate", "Bearer");
    hc_http_respond_error(req, 401, "missing or invalid token");
    return 0;
}

static void login_work(uv_work_t *w)
{
    pending_t *p = w->data;
    p->ok = !strcmp(p->user, "admin") && hc_password_verify(p->pw, p->svc->admin_hash);
}

static void login_done(uv_work_t *w, int status)
{
    pending_t *p = w->data;
    hc_http_req_t *req = p->req;
    capture_svc_t *svc = p->svc;
    int ok = p->ok && status == 0;
    pending_free(p);
    if (!req)
        return;
    if (!ok) {
        hc_http_respond_error(req, 401, "invalid username or password");
        return;
    }
    char claims[128], tok[512];
    int64_t now = (int64_t)time(NULL);
    int n = snprintf(claims, sizeof(claims), "{\"sub\":\"admin\",\"iat\":%lld,\"exp\":%lld}",
                     (long long)now, (long long)(now + TOKEN_TTL_S));
    if (hc_jwt_sign(claims, (size_t)n, svc->jwt_key, sizeof(svc->jwt_key), tok, sizeof(tok)) < 0) {
        hc_http_respond_error(req, 500, "cannot sign a token");
        return;
    }
    respond_json(req, 200, json_pack("{s:s}", "token", tok));
}

static void on_login_body(hc_http_req_t *req, char *body, size_t len, int err, void *arg)
{
    capture_svc_t *svc = arg;
    if (err < 0)
        return;
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *u = j ? json_string_value(json_object_get(j, "username")) : NULL;
    const char *pw = j ? json_string_value(json_object_get(j, "password")) : NULL;
    if (!u || !pw || strlen(u) >= 64 || strlen(pw) >= 256) {
        json_decref(j);
        hc_http_respond_error(req, 400, "expected {\"username\",\"password\"}");
        return;
    }
    pending_t *p = pending_new(svc, req);
    snprintf(p->user, sizeof(p->user), "%s", u);
    snprintf(p->pw, sizeof(p->pw), "%s", pw);
    json_decref(j);
    p->work.data = p;
    if (uv_queue_work(svc->loop, &p->work, login_work, login_done) != 0) {
        pending_free(p);
        hc_http_respond_error(req, 503, "busy");
    }
}

static void on_login(hc_http_req_t *req, void *arg)
{
    hc_http_req_read_whole_body(req, LOGIN_BODY_MAX, on_login_body, arg);
}

/* ---- GET /api/calls ---- */

json_t *capture_api_call_json(const capture_call_summary_t *c)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:i, s:I, s:s, s:s, s:s, s:s, s:s}", "callid",
                          c->callid, "caller", c->caller, "callee", c->callee, "start",
                          (json_int_t)(c->start_us / 1000), "end", (json_int_t)(c->end_us / 1000),
                          "status", c->status, "messages", (json_int_t)c->messages, "method",
                          c->method, "src_ip", c->src_ip, "dst_ip", c->dst_ip, "user_agent",
                          c->user_agent, "correlation", c->correlation);
    if (!o) /* a field that is not UTF-8 (a summary from an older row): leave it out */
        o = json_pack("{s:I, s:I, s:i, s:I}", "start", (json_int_t)(c->start_us / 1000), "end",
                      (json_int_t)(c->end_us / 1000), "status", c->status, "messages",
                      (json_int_t)c->messages);
    json_object_set_new(o, "setup_ms",
                        c->invite_us && c->progress_us
                            ? json_integer((c->progress_us - c->invite_us + 500) / 1000)
                            : json_null());
    json_object_set_new(o, "duration_ms",
                        c->invite_us && c->bye_us
                            ? json_integer((c->bye_us - c->invite_us + 500) / 1000)
                            : json_null());
    return o;
}

/* A search: the WHERE clause and its parameters, built from the query string. */
typedef struct search {
    char where[2048];
    size_t wlen;
    hc_store_value_t p[16];
    size_t np;
    char v[8][PARAM_MAX];
    char pat[8][2 * PARAM_MAX + 1]; /* LIKE patterns: every byte escaped at most once */
    int64_t limit, offset;
} search_t;

static void where_add(search_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void where_add(search_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->where + s->wlen, sizeof(s->where) - s->wlen, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof(s->where) - s->wlen)
        s->wlen += (size_t)n; /* the fixed filters always fit */
}

/* Adds "AND col = $n", or "AND col LIKE $n ESCAPE '\'" when the value holds '*' (the
 * only wildcard: '%', '_' and '\' in the value match themselves, escaped). The pattern
 * goes into s->pat[slot]. */
static void add_match(search_t *s, const char *col, const char *v, int slot)
{
    if (!strchr(v, '*')) {
        s->p[s->np] = hc_store_text(v);
        where_add(s, " AND %s = $%zu", col, ++s->np);
        return;
    }
    char *o = s->pat[slot];
    for (const char *c = v; *c; c++) { /* v < PARAM_MAX bytes: at most 2 each fit */
        if (*c == '%' || *c == '_' || *c == '\\')
            *o++ = '\\';
        *o++ = *c == '*' ? '%' : *c;
    }
    *o = '\0';
    s->p[s->np] = hc_store_text(s->pat[slot]);
    where_add(s, " AND %s LIKE $%zu ESCAPE '\\'", col, ++s->np);
}

/* Builds the search from the query string; returns NULL after answering 400. */
static const char *search_parse(hc_http_req_t *req, search_t *s)
{
    int64_t from = 0, to = 0;
    s->limit = 100;
    s->offset = 0;
    if (query_int(req, "from", &from) < 0 || query_int(req, "to", &to) < 0 ||
        query_int(req, "limit", &s->limit) < 0 || query_int(req, "offset", &s->offset) < 0 ||
        s->limit < 1 || s->limit > PAGE_MAX || s->offset < 0)
        return "from, to, limit (1-1000) and offset must be integers";
    if (!to)
        to = now_ms();
    if (!from)
        from = to - 3600 * 1000;
    static const char *const names[] = {"caller", "callee", "callid", "method",
                                        "status", "ip",     "ua"};
    for (int i = 0; i < 7; i++)
        if (query_str(req, names[i], s->v[i], PARAM_MAX) < 0)
            return "malformed query parameter";
    if (s->v[2][0]) { /* a Call-ID names one call, whenever it happened */
        s->p[s->np] = hc_store_text(s->v[2]);
        where_add(s, "callid = $%zu", ++s->np);
    } else {
        s->p[0] = hc_store_int(from * 1000);
        s->p[1] = hc_store_int(to * 1000 + 999);
        s->np = 2;
        where_add(s, "start_us >= $1 AND start_us <= $2");
    }
    if (s->v[0][0])
        add_match(s, "caller", s->v[0], 0);
    if (s->v[1][0])
        add_match(s, "callee", s->v[1], 1);
    if (s->v[3][0]) {
        for (char *c = s->v[3]; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        add_match(s, "method", s->v[3], 3);
    }
    if (s->v[4][0]) {
        char *end;
        long code = strtol(s->v[4], &end, 10);
        if (strlen(s->v[4]) == 3 && (s->v[4][1] == 'x' || s->v[4][1] == 'X') && s->v[4][0] >= '1' &&
            s->v[4][0] <= '6') {
            int cls = s->v[4][0] - '0';
            where_add(s, " AND status >= %d AND status <= %d", cls * 100, cls * 100 + 99);
        } else if (*end || code < 0 || code > 999) {
            return "status must be a code (486) or a class (4xx)";
        } else {
            s->p[s->np] = hc_store_int(code);
            where_add(s, " AND status = $%zu", ++s->np);
        }
    }
    if (s->v[5][0]) {
        s->p[s->np] = hc_store_text(s->v[5]);
        s->np++;
        where_add(s, " AND (src_ip = $%zu OR dst_ip = $%zu)", s->np, s->np);
    }
    if (s->v[6][0]) {
        char *ua = s->v[6];
        size_t n = strlen(ua);
        if (n + 3 > PARAM_MAX)
            return "ua too long";
        memmove(ua + 1, ua, n + 1);
        ua[0] = '*';
        ua[n + 1] = '*';
        ua[n + 2] = '\0';
        add_match(s, "user_agent", ua, 6);
    }
    return NULL;
}

static void on_search_rows(void *arg, int status, const char *msg, const hc_store_result_t *res)
{
    pending_t *p = arg;
    hc_http_req_t *req = p->req;
    int64_t total = p->total;
    pending_free(p);
    if (!req)
        return;
    if (status < 0) {
        hc_log(HC_LOG_WARN, "capture: search failed", HC_LS("error", msg), NULL);
        hc_http_respond_error(req, 503, "search failed");
        return;
    }
    json_t *calls = json_array();
    for (size_t r = 0; r < res->nrows; r++) {
        capture_call_summary_t c;
        capture_calls_row(res, r, &c);
        json_array_append_new(calls, capture_api_call_json(&c));
    }
    respond_json(req, 200, json_pack("{s:I, s:o}", "total", (json_int_t)total, "calls", calls));
}

/* The count came back: now the page. */
static void on_search_count(void *arg, int status, const char *msg, const hc_store_result_t *res)
{
    pending_t *p = arg;
    search_t *s = p->req ? p->req->user : NULL;
    if (!p->req || status < 0) {
        if (p->req) {
            hc_log(HC_LOG_WARN, "capture: search failed", HC_LS("error", msg), NULL);
            hc_http_respond_error(p->req, 503, "search failed");
        }
        pending_free(p);
        return;
    }
    p->total = res->nrows ? hc_store_cell(res, 0, 0)->v.i : 0;
    hc_buf_t sql;
    hc_buf_init(&sql, 8192);
    hc_buf_printf(
        &sql, "SELECT %s FROM capture_calls WHERE %s ORDER BY start_us DESC LIMIT %lld OFFSET %lld",
        capture_calls_columns, s->where, (long long)s->limit, (long long)s->offset);
    int rc = hc_store_query(p->svc->store, sql.base, s->p, s->np, on_search_rows, p);
    hc_buf_free(&sql);
    if (rc) {
        hc_http_respond_error(p->req, 503, "too many searches");
        pending_free(p);
    }
}

static void on_calls(hc_http_req_t *req, void *arg)
{
    capture_svc_t *svc = arg;
    if (!capture_api_guard(svc, req))
        return;
    search_t *s = hc_http_req_alloc(req, sizeof(*s));
    memset(s, 0, sizeof(*s));
    const char *bad = search_parse(req, s);
    if (bad) {
        hc_http_respond_error(req, 400, bad);
        return;
    }
    req->user = s;
    pending_t *p = pending_new(svc, req);
    hc_buf_t sql;
    hc_buf_init(&sql, 8192);
    hc_buf_printf(&sql, "SELECT COUNT(*) FROM capture_calls WHERE %s", s->where);
    int rc = hc_store_query(svc->store, sql.base, s->p, s->np, on_search_count, p);
    hc_buf_free(&sql);
    if (rc) {
        pending_free(p);
        hc_http_respond_error(req, 503, "too many searches");
    }
}

/* ---- GET /api/calls/{callid} and its exports ---- */

static json_t *msg_json(const capture_msg_t *m)
{
    char src[64], dst[64];
    const char *fmt = m->family == 6 ? "[%s]:%d" : "%s:%d";
    snprintf(src, sizeof(src), fmt, m->src_ip, m->src_port);
    snprintf(dst, sizeof(dst), fmt, m->dst_ip, m->dst_port);
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "time_us",
                          (json_int_t)m->time_us, "callid", m->callid, "src", src, "dst", dst,
                          "transport", capture_transport_name(m->ip_proto), "cseq", m->cseq, "raw",
                          m->raw, "table", m->table);
    if (!o)
        o = json_pack("{s:I, s:s, s:s, s:s}", "time_us", (json_int_t)m->time_us, "src", src, "dst",
                      dst, "transport", capture_transport_name(m->ip_proto));
    if (m->status)
        json_object_set_new(o, "status", json_integer(m->status));
    else
        json_object_set_new(o, "method", json_string(m->method));
    return o;
}

static void on_call_view(hc_http_req_t *req, capture_svc_t *svc, int status,
                         const capture_call_view_t *v)
{
    (void)svc;
    if (!v) {
        hc_http_respond_error(req, status, status == 404 ? "no such call" : "database unavailable");
        return;
    }
    json_t *msgs = json_array(), *legs = json_array();
    for (size_t i = 0; i < v->nmsgs; i++)
        json_array_append_new(msgs, msg_json(&v->msgs[i]));
    for (size_t i = 0; i < v->nlegs; i++)
        json_array_append_new(legs, capture_api_call_json(&v->legs[i]));
    respond_json(req, 200,
                 json_pack("{s:s, s:o, s:o, s:o}", "callid", v->call.callid, "call",
                           capture_api_call_json(&v->call), "messages", msgs, "legs", legs));
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && !strcmp(s + n - k, suffix);
}

/* GET /api/calls/:id, /api/calls/:id.pcap, /api/calls/:id.txt, /api/calls/:id/flow.svg */
static void on_call(hc_http_req_t *req, void *arg)
{
    capture_svc_t *svc = arg;
    if (!capture_api_guard(svc, req))
        return;
    size_t n;
    const char *raw = hc_http_req_param(req, "id", &n);
    char id[256];
    if (!raw || hc_url_decode(raw, n, id, sizeof(id), 0) <= 0) {
        hc_http_respond_error(req, 400, "bad Call-ID");
        return;
    }
    const char *view = hc_http_req_param(req, "view", NULL);
    capture_view_cb cb = on_call_view;
    if (view && strcmp(view, "flow.svg")) {
        hc_http_respond_error(req, 404, "unknown call view (flow.svg)");
        return;
    }
    if (view) {
        cb = capture_export_svg;
    } else if (ends_with(id, ".pcap")) {
        id[strlen(id) - 5] = '\0';
        cb = capture_export_pcap;
    } else if (ends_with(id, ".txt")) {
        id[strlen(id) - 4] = '\0';
        cb = capture_export_txt;
    }
    capture_view_load(svc, req, id, cb);
}

/* ---- GET /api/stats ---- */

static void on_stats_codes(void *arg, int status, const char *msg, const hc_store_result_t *res)
{
    pending_t *p = arg;
    hc_http_req_t *req = p->req;
    json_t *doc = p->doc;
    p->doc = NULL;
    pending_free(p);
    if (!req) {
        json_decref(doc);
        return;
    }
    if (status < 0) {
        json_decref(doc);
        hc_log(HC_LOG_WARN, "capture: stats failed", HC_LS("error", msg), NULL);
        hc_http_respond_error(req, 503, "stats failed");
        return;
    }
    json_t *codes = json_object();
    for (size_t r = 0; r < res->nrows; r++) {
        char k[16];
        snprintf(k, sizeof(k), "%lld", (long long)hc_store_cell(res, r, 0)->v.i);
        json_object_set_new(codes, k, json_integer(hc_store_cell(res, r, 1)->v.i));
    }
    json_object_set_new(doc, "codes", codes);
    respond_json(req, 200, doc);
}

static double cell_num(const hc_store_result_t *res, size_t c)
{
    const hc_store_value_t *v = hc_store_cell(res, 0, c);
    return v->type == HC_STORE_INT      ? (double)v->v.i
           : v->type == HC_STORE_DOUBLE ? v->v.d
           : v->type == HC_STORE_TEXT   ? atof(v->v.s.p)
                                        : 0;
}

static void on_stats_totals(void *arg, int status, const char *msg, const hc_store_result_t *res)
{
    pending_t *p = arg;
    capture_svc_t *svc = p->svc;
    if (!p->req || status < 0 || !res->nrows) {
        if (p->req) {
            hc_log(HC_LOG_WARN, "capture: stats failed", HC_LS("error", msg), NULL);
            hc_http_respond_error(p->req, 503, "stats failed");
        }
        pending_free(p);
        return;
    }
    double calls = cell_num(res, 0), answered = cell_num(res, 1), failed = cell_num(res, 2);
    json_t *doc = json_pack("{s:I, s:I, s:I, s:f, s:I, s:I}", "calls", (json_int_t)calls,
                            "answered", (json_int_t)answered, "failed", (json_int_t)failed, "asr",
                            calls > 0 ? answered * 100.0 / calls : 0.0, "avg_duration_ms",
                            (json_int_t)llround(cell_num(res, 3) / 1000), "avg_setup_ms",
                            (json_int_t)llround(cell_num(res, 4) / 1000));
    json_object_set_new(
        doc, "ingest",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "packets", (json_int_t)svc->n.packets,
                  "errors", (json_int_t)svc->n.errors, "dropped", (json_int_t)svc->n.dropped,
                  "duplicates", (json_int_t)svc->n.duplicates, "queue_depth",
                  (json_int_t)capture_batch_depth(svc), "rows_written",
                  (json_int_t)svc->n.rows_written, "rows_failed", (json_int_t)svc->n.rows_failed,
                  "socket_drops", (json_int_t)capture_ingest_socket_drops(svc)));
    p->doc = doc;
    hc_store_value_t range[2] = {hc_store_int(p->from_us), hc_store_int(p->to_us)};
    if (hc_store_query(svc->store,
                       "SELECT status, COUNT(*) FROM capture_calls WHERE method = 'INVITE' AND "
                       "start_us >= $1 AND start_us <= $2 GROUP BY status ORDER BY status",
                       range, 2, on_stats_codes, p) != 0) {
        hc_http_respond_error(p->req, 503, "too many reads");
        pending_free(p);
    }
}

static void on_stats(hc_http_req_t *req, void *arg)
{
    capture_svc_t *svc = arg;
    if (!capture_api_guard(svc, req))
        return;
    int64_t from = 0, to = 0;
    if (query_int(req, "from", &from) < 0 || query_int(req, "to", &to) < 0) {
        hc_http_respond_error(req, 400, "from and to must be integers (ms)");
        return;
    }
    to = to ? to : now_ms();
    from = from ? from : to - 3600 * 1000;
    pending_t *p = pending_new(svc, req);
    p->from_us = from * 1000;
    p->to_us = to * 1000 + 999;
    hc_store_value_t range[2] = {hc_store_int(p->from_us), hc_store_int(p->to_us)};
    if (hc_store_query(
            svc->store,
            "SELECT COUNT(*), "
            "COALESCE(SUM(CASE WHEN status >= 200 AND status < 300 THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN status >= 300 THEN 1 ELSE 0 END), 0), "
            "COALESCE(AVG(CASE WHEN bye_us IS NOT NULL AND invite_us IS NOT NULL "
            "THEN bye_us - invite_us END), 0), "
            "COALESCE(AVG(CASE WHEN progress_us IS NOT NULL AND invite_us IS NOT NULL "
            "THEN progress_us - invite_us END), 0) "
            "FROM capture_calls WHERE method = 'INVITE' AND start_us >= $1 AND start_us <= $2",
            range, 2, on_stats_totals, p) != 0) {
        pending_free(p);
        hc_http_respond_error(req, 503, "too many reads");
    }
}

/* ---- heartbeat, metrics, UI ---- */

static void on_heartbeat(hc_http_req_t *req, void *arg)
{
    capture_svc_t *svc = arg;
    if (svc->stopping) {
        hc_http_respond(req, 503, "application/json", "{\"ok\":false}", 11);
        return;
    }
    hc_http_respond(req, 200, "application/json", "{\"ok\":true}", 11);
}

static void on_metrics(hc_http_req_t *req, void *arg)
{
    hc_buf_t b;
    (void)arg;
    hc_buf_init(&b, 16u << 20);
    static const char *const own[] = {"hearth_capture_", "process_", NULL}; /* the registry */
    hc_metrics_render_only(hc_metrics_default(), &b, own); /* is shared under `up` */
    hc_http_respond(req, 200, HC_METRICS_CONTENT_TYPE, b.base ? b.base : "", b.len);
    hc_buf_free(&b);
}

/* The UI: an asset, else index.html for the UI's own routes (not /api/). */
static void on_static(hc_http_req_t *req, void *arg)
{
    capture_svc_t *svc = arg;
    int rc = hc_static_serve(svc->web, req);
    if (rc != -ENOENT)
        return;
    if (!strncmp(req->path, "/api/", 5)) {
        hc_http_respond_error(req, 404, "no such API path");
        return;
    }
    const hc_static_asset_t *a = hc_static_find(svc->web, "index.html");
    if (!a) {
        hc_http_respond_error(req, 404, "not found");
        return;
    }
    hc_http_res_header(req, "Cache-Control", "no-cache");
    hc_http_respond(req, 200, a->content_type, (const char *)a->data, a->len);
}

int capture_api_start(capture_svc_t *svc)
{
    int rc = hc_static_new(&capture_web, &(hc_static_options_t){.prefix = "/"}, &svc->web);
    if (rc)
        return rc;
    capture_live_init(svc);
    hc_router_t *r = svc->router = hc_router_new();
    hc_router_add(r, "POST", "/api/auth/login", on_login, svc, LOGIN_BODY_MAX);
    hc_router_add(r, "GET", "/api/heartbeat", on_heartbeat, svc, 0);
    hc_router_add(r, "GET", "/api/calls", on_calls, svc, 0);
    hc_router_add(r, "GET", "/api/calls/:id", on_call, svc, 0);
    hc_router_add(r, "GET", "/api/calls/:id/:view", on_call, svc, 0);
    hc_router_add(r, "GET", "/api/stats", on_stats, svc, 0);
    hc_router_add(r, "GET", "/api/live", capture_live_handle, svc, 0);
    hc_router_add(r, "GET", "/metrics", on_metrics, svc, 0);
    hc_router_add(r, "GET", "/*", on_static, svc, 0);
    hc_http_server_opts_t o = {.handler = hc_router_handle, .handler_arg = r};
    svc->http = hc_http_server_new(svc->loop, &o);
    rc = hc_http_server_listen(svc->http, (struct sockaddr *)&svc->http_sa, 0);
    if (rc) {
        char addr[96];
        hc_addr_format((struct sockaddr *)&svc->http_sa, addr, sizeof(addr));
        hc_log(HC_LOG_ERROR, "capture: cannot listen (http)", HC_LS("addr", addr),
               HC_LS("error", strerror(-rc)), NULL);
    }
    return rc;
}

static void on_http_drained(hc_http_server_t *s, void *arg)
{
    capture_svc_t *svc = arg;
    hc_http_server_free(s);
    svc->http = NULL;
    hc_router_free(svc->router);
    svc->router = NULL;
    hc_static_free(svc->web);
    svc->web = NULL;
    capture_live_free(svc);
    void (*done)(capture_svc_t *) = svc->api_done;
    svc->api_done = NULL;
    done(svc);
}

void capture_api_stop(capture_svc_t *svc, void (*done)(capture_svc_t *svc))
{
    capture_live_end(svc); /* streams end cleanly, then finish like any request */
    if (!svc->http) {
        hc_router_free(svc->router);
        svc->router = NULL;
        hc_static_free(svc->web);
        svc->web = NULL;
        capture_live_free(svc);
        done(svc);
        return;
    }
    svc->api_done = done;
    hc_http_server_drain(svc->http, svc->stop_deadline_ms ? svc->stop_deadline_ms : 5000,
                         on_http_drained, svc);
}
