/* The bounded queue between the HEP readers and the database writer. Readers push rows
 * (never waiting: a full queue refuses the row and the reader counts the drop); a timer
 * and the batch size hand rows to hc_store_copy, one COPY unit per table per batch (the
 * store's single writer thread group-commits them), together with the call summaries
 * changed meanwhile. Rows stay counted in the depth until the store acknowledged them,
 * so the bound covers everything held in memory. A unit the store cannot take yet
 * (-EAGAIN) stays queued and is retried, never lost. Call summaries are written at most
 * once per CALLS_FLUSH_MS (and when stopping): a call's messages of that second then
 * cost one upsert. */
#include "capture/capture_int.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_runtime.h"

#include <errno.h>
#include <string.h>

#define CALLS_FLUSH_MS 1000

struct capture_batch {
    capture_row_t *head[CAPTURE_NTABLES], *tail[CAPTURE_NTABLES];
    size_t count[CAPTURE_NTABLES];
    size_t pending_rows, pending_bytes;
    size_t inflight_rows, inflight_bytes;
    size_t inflight_units;
    unsigned long long calls_ms; /* when the summaries were last written */
    uv_timer_t timer;
    int timer_closing;
    void (*done)(capture_svc_t *svc);
};

typedef struct unit {
    capture_svc_t *svc;
    int table;          /* -1 for the call summaries */
    size_t rows, bytes; /* queue rows (0 for summaries) */
    size_t calls;       /* summaries in the unit */
    unsigned long long t0;
} unit_t;

static const char *const copy_cols[] = {"sid", "create_date", "protocol_header", "data_header",
                                        "raw"};

capture_row_t *capture_row_new(int table, int64_t ts_us, const char *sid, size_t sid_len,
                               const char *ph, size_t ph_len, const char *dh, size_t dh_len,
                               const char *raw, size_t raw_len)
{
    size_t bytes = sizeof(capture_row_t) + sid_len + ph_len + dh_len + raw_len + 4;
    capture_row_t *r = hc_malloc(bytes);
    char *p = (char *)(r + 1);
    const char *src[4] = {sid, ph, dh, raw};
    size_t len[4] = {sid_len, ph_len, dh_len, raw_len};
    const char **dst[4] = {&r->sid, &r->ph, &r->dh, &r->raw};
    for (int i = 0; i < 4; i++) {
        if (len[i])
            memcpy(p, src[i], len[i]);
        p[len[i]] = '\0';
        *dst[i] = p;
        p += len[i] + 1;
    }
    r->next = NULL;
    r->table = table;
    r->ts_us = ts_us;
    r->bytes = bytes;
    r->sid_len = sid_len;
    r->ph_len = ph_len;
    r->dh_len = dh_len;
    r->raw_len = raw_len;
    return r;
}

static void depth_update(capture_svc_t *svc)
{
    capture_batch_t *b = svc->batch;
    hc_metrics_gauge_set(svc->m_queue_depth, (double)(b->pending_rows + b->inflight_rows));
}

size_t capture_batch_depth(const capture_svc_t *svc)
{
    const capture_batch_t *b = svc->batch;
    return b ? b->pending_rows + b->inflight_rows : 0;
}

static void maybe_done(capture_svc_t *svc);

static void on_unit_done(void *arg, int status, const char *msg)
{
    unit_t *u = arg;
    capture_svc_t *svc = u->svc;
    capture_batch_t *b = svc->batch;
    b->inflight_units--;
    b->inflight_rows -= u->rows;
    b->inflight_bytes -= u->bytes;
    if (u->table >= 0) {
        if (status == 0) {
            svc->n.rows_written += u->rows;
            hc_metrics_counter_add(svc->m_rows[u->table], u->rows);
        } else {
            svc->n.rows_failed += u->rows;
            hc_metrics_counter_add(svc->m_rows_failed, u->rows);
            hc_log(HC_LOG_ERROR, "capture: batch not stored",
                   HC_LS("table", capture_table_names[u->table]), HC_LI("rows", u->rows),
                   HC_LS("error", msg), NULL);
        }
        hc_metrics_histogram_observe(svc->m_batch_seconds, (double)(hc_now_ms() - u->t0) / 1000.0);
    } else if (status < 0) {
        hc_log(HC_LOG_ERROR, "capture: call summaries not stored", HC_LI("calls", u->calls),
               HC_LS("error", msg), NULL);
    }
    hc_free(u);
    depth_update(svc);
    maybe_done(svc);
}

/* Hands up to batch_rows rows of table t to the store. Returns 0, or -EAGAIN when the
 * store's queue is full (the rows stay queued). */
static int flush_table(capture_svc_t *svc, int t)
{
    capture_batch_t *b = svc->batch;
    size_t n = b->count[t] < svc->batch_rows ? b->count[t] : svc->batch_rows;
    hc_store_value_t *v = hc_malloc(n * 5 * sizeof(*v));
    char(*ts)[40] = hc_malloc(n * sizeof(*ts));
    capture_row_t *r = b->head[t];
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++, r = r->next) {
        capture_schema_ensure(svc, t, r->ts_us);
        v[i * 5 + 0] = hc_store_textn(r->sid, r->sid_len);
        v[i * 5 + 1] = capture_schema_ts(svc, r->ts_us, ts[i]);
        v[i * 5 + 2] = hc_store_textn(r->ph, r->ph_len);
        v[i * 5 + 3] = hc_store_textn(r->dh, r->dh_len);
        v[i * 5 + 4] = hc_store_textn(r->raw, r->raw_len);
        bytes += r->bytes;
    }
    unit_t *u = hc_calloc(1, sizeof(*u));
    *u = (unit_t){.svc = svc, .table = t, .rows = n, .bytes = bytes, .t0 = hc_now_ms()};
    int rc = hc_store_copy(svc->store, capture_table_names[t], copy_cols, 5, v, n, on_unit_done, u);
    hc_free(ts);
    hc_free(v);
    if (rc) {
        hc_free(u);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        capture_row_t *next = b->head[t]->next;
        hc_free(b->head[t]);
        b->head[t] = next;
    }
    if (!b->head[t])
        b->tail[t] = NULL;
    b->count[t] -= n;
    b->pending_rows -= n;
    b->pending_bytes -= bytes;
    b->inflight_rows += n;
    b->inflight_bytes += bytes;
    b->inflight_units++;
    return 0;
}

void capture_batch_flush(capture_svc_t *svc)
{
    capture_batch_t *b = svc->batch;
    if (!b)
        return;
    int full = 0;
    for (int t = 0; t < CAPTURE_NTABLES && !full; t++)
        while (b->count[t] && !full)
            full = flush_table(svc, t) != 0;
    unsigned long long now = hc_now_ms();
    if (!b->done && now - b->calls_ms < CALLS_FLUSH_MS) {
        depth_update(svc);
        return;
    }
    b->calls_ms = now;
    unit_t *u = hc_calloc(1, sizeof(*u));
    *u = (unit_t){.svc = svc, .table = -1};
    int n = capture_calls_flush(svc, on_unit_done, u);
    if (n > 0) {
        u->calls = (size_t)n;
        b->inflight_units++;
    } else {
        hc_free(u);
    }
    depth_update(svc);
}

int capture_batch_push(capture_svc_t *svc, capture_row_t *row)
{
    capture_batch_t *b = svc->batch;
    if (!b || b->done || b->pending_rows + b->inflight_rows >= svc->queue_max ||
        b->pending_bytes + b->inflight_bytes + row->bytes > svc->queue_bytes) {
        hc_free(row);
        return -ENOBUFS;
    }
    int t = row->table;
    if (b->tail[t])
        b->tail[t]->next = row;
    else
        b->head[t] = row;
    b->tail[t] = row;
    b->count[t]++;
    b->pending_rows++;
    b->pending_bytes += row->bytes;
    if (b->count[t] >= svc->batch_rows)
        flush_table(svc, t); /* -EAGAIN: the rows wait for the timer */
    depth_update(svc);
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    capture_svc_t *svc = t->data;
    capture_batch_flush(svc);
    maybe_done(svc);
}

void capture_batch_start(capture_svc_t *svc)
{
    capture_batch_t *b = hc_calloc(1, sizeof(*b));
    svc->batch = b;
    uv_timer_init(svc->loop, &b->timer);
    b->timer.data = svc;
    uv_timer_start(&b->timer, on_tick, svc->flush_ms, svc->flush_ms);
}

static void on_timer_closed(uv_handle_t *h)
{
    capture_svc_t *svc = h->data;
    capture_batch_t *b = svc->batch;
    void (*done)(capture_svc_t *) = b->done;
    hc_free(b);
    svc->batch = NULL;
    done(svc);
}

/* While stopping: once nothing is queued or in flight (rows and call summaries), the
 * queue goes away; what the store could not take yet goes on the next ticks. */
static void maybe_done(capture_svc_t *svc)
{
    capture_batch_t *b = svc->batch;
    if (!b || !b->done || b->timer_closing || b->pending_rows || b->inflight_units ||
        capture_calls_dirty(svc))
        return;
    b->timer_closing = 1;
    hc_log(HC_LOG_INFO, "capture: queue drained", HC_LI("rows_written", svc->n.rows_written), NULL);
    uv_close((uv_handle_t *)&b->timer, on_timer_closed);
}

void capture_batch_stop(capture_svc_t *svc, void (*done)(capture_svc_t *svc))
{
    capture_batch_t *b = svc->batch;
    b->done = done;
    capture_batch_flush(svc); /* what the store cannot take yet goes on the next ticks */
    maybe_done(svc);
}
