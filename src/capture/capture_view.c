/* One call as the call view and the exports need it (capture_view_load): its summary,
 * its legs (correlation id / X-CID / Call-ID rules over capture_calls) and every SIP
 * message of all of them in time order, read off the loop in three queries. A request
 * that goes away meanwhile is forgotten, never touched. */
#include "capture/capture_int.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEGS_MAX 20
#define CALL_MSGS_MAX 5000               /* messages in one call view */
#define CALL_WINDOW_US (300LL * 1000000) /* messages searched around the summaries */
#define BUCKETS_LISTED 4096              /* SQLite: time buckets looked up one by one */

typedef struct view_load {
    hc_http_req_t *req; /* NULL once the client went away */
    capture_svc_t *svc;
    capture_view_cb view_cb;
    capture_call_view_t view;
    char callid[256];
} view_load_t;

static void on_req_gone(hc_http_req_t *req, void *arg)
{
    (void)req;
    ((view_load_t *)arg)->req = NULL;
}

const char *capture_transport_name(int ip_proto)
{
    static char other[4][16];
    static unsigned k;
    switch (ip_proto) {
    case 17:
        return "UDP";
    case 6:
        return "TCP";
    case 132:
        return "SCTP";
    case 22:
        return "TLS";
    }
    char *o = other[k++ % 4];
    snprintf(o, sizeof(other[0]), "IP%d", ip_proto);
    return o;
}

/* Answers through the callback (when the client is still there), then frees. */
static void view_finish(view_load_t *p, int status)
{
    hc_http_req_t *req = p->req;
    if (req) {
        hc_http_req_on_close(req, NULL, NULL);
        p->view_cb(req, p->svc, status, status == 200 ? &p->view : NULL);
    }
    hc_free(p->view.legs);
    hc_free(p->view.msgs);
    char **m = p->view.mem;
    for (size_t i = 0; m && i < p->view.nmsgs; i++)
        hc_free(m[i]);
    hc_free(m);
    hc_free(p);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v)  ? (int)json_integer_value(v)
           : json_is_string(v) ? atoi(json_string_value(v))
                               : 0;
}

/* Row r of the message query into m; its strings go into one allocation (returned). */
static char *msg_from_row(const hc_store_result_t *res, size_t r, capture_msg_t *m)
{
    const hc_store_value_t *sid = hc_store_cell(res, r, 0), *t = hc_store_cell(res, r, 1),
                           *ph = hc_store_cell(res, r, 2), *dh = hc_store_cell(res, r, 3),
                           *raw = hc_store_cell(res, r, 4), *tbl = hc_store_cell(res, r, 5);
    memset(m, 0, sizeof(*m));
    m->time_us = t->type == HC_STORE_INT      ? t->v.i
                 : t->type == HC_STORE_DOUBLE ? (int64_t)t->v.d
                                              : 0;
    json_t *pj = ph->type == HC_STORE_TEXT ? json_loadb(ph->v.s.p, ph->v.s.len, 0, NULL) : NULL;
    json_t *dj = dh->type == HC_STORE_TEXT ? json_loadb(dh->v.s.p, dh->v.s.len, 0, NULL) : NULL;
    snprintf(m->src_ip, sizeof(m->src_ip), "%s", jstr(pj, "srcIp"));
    snprintf(m->dst_ip, sizeof(m->dst_ip), "%s", jstr(pj, "dstIp"));
    m->src_port = jint(pj, "srcPort");
    m->dst_port = jint(pj, "dstPort");
    m->ip_proto = jint(pj, "protocol");
    m->family = jint(pj, "protocolFamily") == 10 ? 6 : 4;
    const char *method = jstr(dj, "method"), *cseq = jstr(dj, "cseq");
    if (method[0] >= '1' && method[0] <= '9')
        m->status = atoi(method);
    else
        snprintf(m->method, sizeof(m->method), "%s", method);
    size_t ls = sid->type == HC_STORE_TEXT ? sid->v.s.len : 0, lc = strlen(cseq),
           lr = raw->type == HC_STORE_TEXT ? raw->v.s.len : 0,
           lt = tbl->type == HC_STORE_TEXT ? tbl->v.s.len : 0;
    char *mem = hc_malloc(ls + lc + lr + lt + 4), *w = mem;
    m->callid = w;
    memcpy(w, ls ? sid->v.s.p : "", ls);
    w[ls] = '\0';
    w += ls + 1;
    m->cseq = w;
    memcpy(w, cseq, lc + 1);
    w += lc + 1;
    m->raw = w;
    m->raw_len = lr;
    memcpy(w, lr ? raw->v.s.p : "", lr);
    w[lr] = '\0';
    w += lr + 1;
    m->table = w;
    memcpy(w, lt ? tbl->v.s.p : "", lt);
    w[lt] = '\0';
    json_decref(pj);
    json_decref(dj);
    return mem;
}

static void on_view_msgs(void *arg, int status, const char *msg, const hc_store_result_t *res)
{
    view_load_t *p = arg;
    if (!p->req || status < 0) {
        if (status < 0)
            hc_log(HC_LOG_WARN, "capture: call messages failed", HC_LS("error", msg), NULL);
        view_finish(p, 503);
        return;
    }
    p->view.msgs = hc_calloc(res->nrows ? res->nrows : 1, sizeof(capture_msg_t));
    char **mem = hc_calloc(res->nrows ? res->nrows : 1, sizeof(char *));
    p->view.mem = mem;
    for (size_t r = 0; r < res->nrows; r++) {
        mem[r] = msg_from_row(res, r, &p->view.msgs[r]);
        p->view.nmsgs++;
    }
    view_finish(p, 200);
}

/* Every SIP message of the call and its legs, within the time the summaries span. */
static void query_messages(view_load_t *p)
{
    capture_svc_t *svc = p->svc;
    capture_call_view_t *v = &p->view;
    hc_store_value_t params[LEGS_MAX + 3];
    char ts[2][40];
    size_t n = 0;
    int64_t lo = v->call.start_us, hi = v->call.end_us;
    params[n++] = hc_store_text(v->call.callid);
    for (size_t i = 0; i < v->nlegs; i++) {
        params[n++] = hc_store_text(v->legs[i].callid);
        lo = v->legs[i].start_us < lo ? v->legs[i].start_us : lo;
        hi = v->legs[i].end_us > hi ? v->legs[i].end_us : hi;
    }
    size_t nsid = n;
    params[n++] = capture_schema_ts(svc, lo - CALL_WINDOW_US, ts[0]);
    params[n++] = capture_schema_ts(svc, hi + CALL_WINDOW_US, ts[1]);
    hc_buf_t sql, in, buckets;
    hc_buf_init(&sql, 1 << 20);
    hc_buf_init(&in, 4096);
    hc_buf_init(&buckets, 1 << 20);
    for (size_t i = 0; i < nsid; i++)
        hc_buf_printf(&in, "%s$%zu", i ? ", " : "", i + 1);
    if (!svc->pg) { /* SQLite: one index seek per (bucket, Call-ID) */
        int64_t b0 = (lo - CALL_WINDOW_US) >> CAPTURE_BUCKET_SHIFT,
                b1 = (hi + CALL_WINDOW_US) >> CAPTURE_BUCKET_SHIFT;
        if (b1 - b0 < BUCKETS_LISTED) {
            hc_buf_printf(&buckets, "(create_date >> %d) IN (", CAPTURE_BUCKET_SHIFT);
            for (int64_t b = b0; b <= b1; b++)
                hc_buf_printf(&buckets, "%s%lld", b > b0 ? ", " : "", (long long)b);
            hc_buf_puts(&buckets, ") AND ");
        } else {
            hc_buf_printf(&buckets, "(create_date >> %d) BETWEEN %lld AND %lld AND ",
                          CAPTURE_BUCKET_SHIFT, (long long)b0, (long long)b1);
        }
    }
    for (int t = CAPTURE_T_1_CALL; t <= CAPTURE_T_1_DEFAULT; t++)
        hc_buf_printf(
            &sql,
            "%sSELECT sid, %s AS t, protocol_header, data_header, raw, '%s' AS tbl FROM %s "
            "WHERE %ssid IN (%s) AND create_date >= $%zu AND create_date <= $%zu",
            t ? " UNION ALL " : "", capture_schema_ts_expr(svc), capture_table_names[t],
            capture_table_names[t], buckets.base ? buckets.base : "", in.base, nsid + 1, nsid + 2);
    hc_buf_printf(&sql, " ORDER BY t LIMIT %d", CALL_MSGS_MAX);
    int rc = hc_store_query(svc->store, sql.base, params, n, on_view_msgs, p);
    hc_buf_free(&sql);
    hc_buf_free(&in);
    hc_buf_free(&buckets);
    if (rc)
        view_finish(p, 503);
}

static void on_view_legs(void *arg, int status, const char *msg, const hc_store_result_t *res)
{
    view_load_t *p = arg;
    if (!p->req || status < 0) {
        if (status < 0)
            hc_log(HC_LOG_WARN, "capture: call legs failed", HC_LS("error", msg), NULL);
        view_finish(p, 503);
        return;
    }
    p->view.legs = hc_calloc(res->nrows ? res->nrows : 1, sizeof(capture_call_summary_t));
    for (size_t r = 0; r < res->nrows; r++)
        capture_calls_row(res, r, &p->view.legs[p->view.nlegs++]);
    query_messages(p);
}

/* Legs: calls whose correlation id is this Call-ID, the call this one names as its
 * correlation (X-CID / HEP chunk 0x11), and that call's other legs. */
static void on_view_call(void *arg, int status, const char *msg, const hc_store_result_t *res)
{
    view_load_t *p = arg;
    if (!p->req || status < 0 || !res->nrows) {
        if (status < 0)
            hc_log(HC_LOG_WARN, "capture: call lookup failed", HC_LS("error", msg), NULL);
        view_finish(p, status < 0 ? 503 : 404);
        return;
    }
    capture_calls_row(res, 0, &p->view.call);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM capture_calls WHERE callid <> $1 AND ((correlation = $1 AND "
             "correlation <> '') OR callid = $2 OR (correlation = $2 AND correlation <> '')) "
             "ORDER BY start_us LIMIT %d",
             capture_calls_columns, LEGS_MAX);
    hc_store_value_t params[2] = {hc_store_text(p->view.call.callid),
                                  hc_store_text(p->view.call.correlation)};
    if (hc_store_query(p->svc->store, sql, params, 2, on_view_legs, p) != 0)
        view_finish(p, 503);
}

void capture_view_load(capture_svc_t *svc, hc_http_req_t *req, const char *callid,
                       capture_view_cb cb)
{
    view_load_t *p = hc_calloc(1, sizeof(*p));
    p->req = req;
    p->svc = svc;
    hc_http_req_on_close(req, on_req_gone, p);
    p->view_cb = cb;
    snprintf(p->callid, sizeof(p->callid), "%s", callid);
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT %s FROM capture_calls WHERE callid = $1",
             capture_calls_columns);
    hc_store_value_t param = hc_store_text(p->callid);
    if (hc_store_query(svc->store, sql, &param, 1, on_view_call, p) != 0)
        view_finish(p, 503);
}
