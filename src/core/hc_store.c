/* Storage interface and dispatch (hc_store.h): parses DATABASE_URL, picks the backend,
 * turns calls into queued units (hc_store_writer.c) or reads (the backend's query op), and
 * runs the close sequence. Value copies and result collection shared by both backends. */
#include "core/hc_store_impl.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HC_CMOCKA_ALLOC
static uv_mutex_t alloc_lock;
static uv_once_t alloc_once = UV_ONCE_INIT;

static void alloc_lock_init(void)
{
    uv_mutex_init(&alloc_lock);
}

#define ALLOC_LOCKED(expr)                                                                         \
    do {                                                                                           \
        uv_once(&alloc_once, alloc_lock_init);                                                     \
        uv_mutex_lock(&alloc_lock);                                                                \
        expr;                                                                                      \
        uv_mutex_unlock(&alloc_lock);                                                              \
    } while (0)

void *st_locked_malloc(size_t n, const char *file, int line)
{
    void *p;
    ALLOC_LOCKED(p = _test_malloc(n, file, line));
    return p;
}

void *st_locked_calloc(size_t n, size_t m, const char *file, int line)
{
    void *p;
    ALLOC_LOCKED(p = _test_calloc(n, m, file, line));
    return p;
}

void *st_locked_memdup(const void *src, size_t n, const char *file, int line)
{
    char *p;
    ALLOC_LOCKED(p = _test_malloc(n + 1, file, line));
    if (n)
        memcpy(p, src, n);
    p[n] = '\0';
    return p;
}

void st_locked_free(void *p, const char *file, int line)
{
    if (p)
        ALLOC_LOCKED(_test_free(p, file, line));
}
#endif

void st_values_copy(hc_store_value_t *dst, const hc_store_value_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i];
        if (src[i].type == HC_STORE_TEXT || src[i].type == HC_STORE_BLOB)
            dst[i].v.s.p = st_memdup(src[i].v.s.p ? src[i].v.s.p : "", src[i].v.s.len);
    }
}

void st_values_clear(hc_store_value_t *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        if (v[i].type == HC_STORE_TEXT || v[i].type == HC_STORE_BLOB)
            st_free((void *)v[i].v.s.p);
}

static size_t values_bytes(const hc_store_value_t *v, size_t n)
{
    size_t bytes = n * sizeof(*v);
    for (size_t i = 0; i < n; i++)
        if (v[i].type == HC_STORE_TEXT || v[i].type == HC_STORE_BLOB)
            bytes += v[i].v.s.len;
    return bytes;
}

void st_stmt_copy(st_stmt_t *dst, const char *sql, const hc_store_value_t *p, size_t n)
{
    dst->sql = st_strdup(sql);
    dst->sql_static = 0;
    dst->nparams = n;
    dst->params = n ? st_malloc(n * sizeof(*p)) : NULL;
    st_values_copy(dst->params, p, n);
}

void st_stmt_clear(st_stmt_t *s)
{
    st_values_clear(s->params, s->nparams);
    st_free(s->params);
    if (!s->sql_static)
        st_free((char *)s->sql);
    s->sql = NULL;
    s->params = NULL;
}

void st_set_error(int *status, char **errmsg, int err, const char *msg)
{
    *status = err;
    st_free(*errmsg);
    *errmsg = st_strdup(msg && *msg ? msg : "database error");
    /* libpq messages end with a newline */
    size_t len = strlen(*errmsg);
    while (len && ((*errmsg)[len - 1] == '\n' || (*errmsg)[len - 1] == ' '))
        (*errmsg)[--len] = '\0';
}

/* ---- results ---- */

void st_rows_begin(st_rows_t *rs, size_t ncols, size_t max)
{
    memset(rs, 0, sizeof(*rs));
    rs->max = max;
    rs->r.ncols = ncols;
    rs->names = st_calloc(ncols ? ncols : 1, sizeof(char *));
    rs->r.names = (const char *const *)rs->names;
}

void st_rows_name(st_rows_t *rs, size_t col, const char *name)
{
    rs->names[col] = st_strdup(name ? name : "");
}

int st_rows_push(st_rows_t *rs, const hc_store_value_t *v)
{
    size_t add =
        sizeof(*v) + ((v->type == HC_STORE_TEXT || v->type == HC_STORE_BLOB) ? v->v.s.len : 0);
    if (rs->bytes + add > rs->max)
        return -EFBIG;
    if (rs->ncells == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        hc_store_value_t *cells = st_malloc(cap * sizeof(*cells));
        if (rs->ncells)
            memcpy(cells, rs->cells, rs->ncells * sizeof(*cells));
        st_free(rs->cells);
        rs->cells = cells;
        rs->cap = cap;
    }
    st_values_copy(&rs->cells[rs->ncells++], v, 1);
    rs->bytes += add;
    rs->r.cells = rs->cells;
    rs->r.nrows = rs->r.ncols ? rs->ncells / rs->r.ncols : 0;
    return 0;
}

void st_rows_free(st_rows_t *rs)
{
    st_values_clear(rs->cells, rs->ncells);
    st_free(rs->cells);
    for (size_t i = 0; rs->names && i < rs->r.ncols; i++)
        st_free(rs->names[i]);
    st_free(rs->names);
    memset(rs, 0, sizeof(*rs));
}

int hc_store_column(const hc_store_result_t *r, const char *name)
{
    for (size_t i = 0; i < r->ncols; i++)
        if (!strcmp(r->names[i], name))
            return (int)i;
    return -1;
}

/* ---- open ---- */

/* Splits DATABASE_URL into a backend and its target (a file path or a libpq URL). */
static int url_parse(const char *url, const st_backend_t **be, const char **target)
{
    static const struct {
        const char *prefix;
        const st_backend_t *be;
        int keep; /* pass the whole URL on (libpq parses it) */
    } schemes[] = {
        {"sqlite://", &st_backend_sqlite, 0}, {"sqlite:", &st_backend_sqlite, 0},
        {"file:", &st_backend_sqlite, 0},     {"postgresql://", &st_backend_pg, 1},
        {"postgres://", &st_backend_pg, 1},
    };
    for (size_t i = 0; url && i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i].prefix);
        if (!strncmp(url, schemes[i].prefix, n) && url[n]) {
            *be = schemes[i].be;
            *target = schemes[i].keep ? url : url + n;
            return 0;
        }
    }
    return -EINVAL;
}

static void options_default(hc_store_options_t *o, const hc_store_options_t *in)
{
    if (in)
        *o = *in;
    else
        memset(o, 0, sizeof(*o));
    if (!o->queue_max_units)
        o->queue_max_units = 10000;
    if (!o->queue_max_bytes)
        o->queue_max_bytes = (size_t)64 << 20;
    if (!o->batch_max_stmts)
        o->batch_max_stmts = 2000;
    if (!o->result_max_bytes)
        o->result_max_bytes = (size_t)64 << 20;
    if (!o->busy_timeout_ms)
        o->busy_timeout_ms = 5000;
    if (!o->read_connections)
        o->read_connections = 4;
    if (!o->close_timeout_ms)
        o->close_timeout_ms = 10000;
    if (!o->sqlite_checkpoint_pages)
        o->sqlite_checkpoint_pages = 4000;
}

/* Before the loop blocks for I/O: wakes the writer for the units enqueued during this
 * iteration. Waking it per unit let it take each unit alone (on a busy single core it
 * preempts the loop at once), one transaction per unit; once per iteration, everything
 * the loop accepted in one pass commits together. */
static void on_kick(uv_prepare_t *p)
{
    hc_store_t *st = p->data;
    if (!st->kick_pending)
        return;
    st->kick_pending = 0;
    uv_mutex_lock(&st->lock);
    uv_cond_signal(&st->cond);
    uv_mutex_unlock(&st->lock);
}

static void on_async(uv_async_t *a)
{
    hc_store_t *st = a->data;
    st_deliver(st);
    while (st->deferred) {
        st_query_t *q = st->deferred;
        st->deferred = q->next;
        st_query_finish(q);
    }
    st_maybe_finish(st);
}

int hc_store_open(uv_loop_t *loop, const char *url, const hc_store_options_t *opts,
                  hc_store_t **out)
{
    const st_backend_t *be;
    const char *target;
    if (url_parse(url, &be, &target)) {
        hc_log(HC_LOG_ERROR, "store: DATABASE_URL must start with sqlite:, file: or postgresql://",
               NULL);
        return -EINVAL;
    }
    hc_store_t *st = st_calloc(1, sizeof(*st));
    st->loop = loop;
    st->be = be;
    st->target = st_strdup(target);
    options_default(&st->o, opts);
    st->tail = &st->head;
    st->done_tail = &st->done_head;
    uv_mutex_init(&st->lock);
    uv_mutex_init(&st->wlock);
    uv_cond_init(&st->cond);

    int rc = be->open(st, st->target);
    if (rc)
        goto fail_open;
    uv_async_init(loop, &st->async, on_async);
    st->async.data = st;
    uv_prepare_init(loop, &st->kick);
    st->kick.data = st;
    uv_prepare_start(&st->kick, on_kick);
    uv_unref((uv_handle_t *)&st->kick);
    st->handles = 2;
    rc = st_writer_start(st);
    if (rc)
        goto fail_thread;
    *out = st;
    return 0;

fail_thread:
    /* no writer thread: the loop closes the async handle and frees st when it runs */
    st->writer_done = 1;
    hc_store_close(st, NULL, NULL);
    return rc;
fail_open:
    be->free(st);
    uv_cond_destroy(&st->cond);
    uv_mutex_destroy(&st->wlock);
    uv_mutex_destroy(&st->lock);
    st_free(st->target);
    st_free(st);
    return rc;
}

const char *hc_store_backend(const hc_store_t *st)
{
    return st->be->name;
}

/* ---- migrations ---- */

static int migration_cmp(const void *a, const void *b)
{
    const hc_store_migration_t *x = *(const hc_store_migration_t *const *)a;
    const hc_store_migration_t *y = *(const hc_store_migration_t *const *)b;
    return (x->version > y->version) - (x->version < y->version);
}

int hc_store_migrate(hc_store_t *st, const char *service, const hc_store_migration_t *m, size_t n,
                     size_t *applied)
{
    size_t count = 0;
    const hc_store_migration_t **order = st_calloc(n ? n : 1, sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = &m[i];
    qsort(order, n, sizeof(*order), migration_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (order[i]->version <= 0 || (i && order[i]->version == order[i - 1]->version))
            rc = -EINVAL;
    if (rc) {
        hc_log(HC_LOG_ERROR, "store: migration versions must be positive and unique",
               HC_LS("service", service), NULL);
        goto out;
    }
    uv_mutex_lock(&st->wlock);
    rc = st->be->migrate_setup(st);
    for (size_t i = 0; i < n && !rc; i++) {
        int r = st->be->migrate_one(st, service, order[i]);
        if (r < 0) {
            rc = r;
        } else if (r > 0) {
            count++;
            hc_log(HC_LOG_INFO, "store: migration applied", HC_LS("service", service),
                   HC_LI("version", order[i]->version), HC_LS("backend", st->be->name), NULL);
        }
    }
    uv_mutex_unlock(&st->wlock);
out:
    st_free(order);
    if (applied)
        *applied = count;
    return rc;
}

/* ---- writes ---- */

int hc_store_exec(hc_store_t *st, const char *sql, const hc_store_value_t *params, size_t n,
                  hc_store_done_cb cb, void *arg)
{
    hc_store_stmt_t s = {sql, params, n};
    return hc_store_exec_group(st, &s, 1, cb, arg);
}

static int same_sql(const hc_store_stmt_t *stmts, size_t i)
{
    return i > 0 && (stmts[i].sql == stmts[i - 1].sql || !strcmp(stmts[i].sql, stmts[i - 1].sql));
}

int hc_store_exec_group(hc_store_t *st, const hc_store_stmt_t *stmts, size_t n, hc_store_done_cb cb,
                        void *arg)
{
    if (!n)
        return -EINVAL;
    /* One block (u->packed): the statements, then every parameter array, then the SQL
     * texts and text/blob values, each NUL-terminated. A statement with the SQL of the one
     * before it shares that text (a group is mostly one upsert many times). */
    size_t nvals = 0, chars = 0;
    for (size_t i = 0; i < n; i++) {
        nvals += stmts[i].nparams;
        if (!stmts[i].sql_static && !same_sql(stmts, i))
            chars += strlen(stmts[i].sql) + 1;
        for (size_t k = 0; k < stmts[i].nparams; k++)
            if (stmts[i].params[k].type == HC_STORE_TEXT ||
                stmts[i].params[k].type == HC_STORE_BLOB)
                chars += stmts[i].params[k].v.s.len + 1;
    }
    char *block = st_malloc(n * sizeof(st_stmt_t) + nvals * sizeof(hc_store_value_t) + chars);
    st_unit_t *u = st_calloc(1, sizeof(*u));
    u->kind = ST_UNIT_STMTS;
    u->cb = cb;
    u->arg = arg;
    u->nstmts = n;
    u->packed = 1;
    u->stmts = (st_stmt_t *)block;
    hc_store_value_t *vals = (hc_store_value_t *)(block + n * sizeof(st_stmt_t));
    char *text = (char *)(vals + nvals);
    for (size_t i = 0; i < n; i++) {
        st_stmt_t *d = &u->stmts[i];
        size_t len = 0;
        d->sql_static = stmts[i].sql_static;
        if (d->sql_static) {
            d->sql = stmts[i].sql;
        } else if (same_sql(stmts, i)) {
            d->sql = d[-1].sql;
        } else {
            len = strlen(stmts[i].sql);
            d->sql = memcpy(text, stmts[i].sql, len + 1);
            text += len + 1;
        }
        d->nparams = stmts[i].nparams;
        d->params = vals;
        for (size_t k = 0; k < d->nparams; k++, vals++) {
            *vals = stmts[i].params[k];
            if (vals->type != HC_STORE_TEXT && vals->type != HC_STORE_BLOB)
                continue;
            if (vals->v.s.len)
                memcpy(text, vals->v.s.p, vals->v.s.len);
            text[vals->v.s.len] = '\0';
            vals->v.s.p = text;
            text += vals->v.s.len + 1;
        }
        u->bytes += len + values_bytes(stmts[i].params, stmts[i].nparams);
    }
    return st_enqueue(st, u);
}

/* Appends name as a double-quoted SQL identifier at p; returns the end. */
static char *quote_ident(char *p, const char *name)
{
    *p++ = '"';
    for (; *name; name++) {
        if (*name == '"')
            *p++ = '"';
        *p++ = *name;
    }
    *p++ = '"';
    return p;
}

/* The bulk statement, built here on the loop thread: PostgreSQL's COPY FROM STDIN, or
 * for SQLite the INSERT run once per row. */
static char *copy_sql(int pg, const char *table, const char *const *cols, size_t ncols)
{
    size_t size = 64 + 2 * strlen(table) + ncols * 32;
    for (size_t i = 0; i < ncols; i++)
        size += 2 * strlen(cols[i]);
    char *sql = st_malloc(size);
    char *p = sql + sprintf(sql, pg ? "COPY " : "INSERT INTO ");
    p = quote_ident(p, table);
    for (size_t i = 0; i < ncols; i++)
        p = quote_ident(p + sprintf(p, i ? ", " : " ("), cols[i]);
    p += sprintf(p, pg ? ") FROM STDIN" : ") VALUES (");
    for (size_t i = 0; !pg && i < ncols; i++)
        p += sprintf(p, "%s$%zu", i ? ", " : "", i + 1);
    sprintf(p, pg ? "" : ")");
    return sql;
}

int hc_store_copy(hc_store_t *st, const char *table, const char *const *cols, size_t ncols,
                  const hc_store_value_t *rows, size_t nrows, hc_store_done_cb cb, void *arg)
{
    if (!ncols)
        return -EINVAL;
    st_unit_t *u = st_calloc(1, sizeof(*u));
    u->kind = ST_UNIT_COPY;
    u->cb = cb;
    u->arg = arg;
    u->sql = copy_sql(st->be == &st_backend_pg, table, cols, ncols);
    u->ncols = ncols;
    u->nrows = nrows;
    u->rows = st_malloc((nrows ? nrows * ncols : 1) * sizeof(*rows));
    st_values_copy(u->rows, rows, nrows * ncols);
    u->bytes = strlen(table) + values_bytes(rows, nrows * ncols);
    return st_enqueue(st, u);
}

/* ---- reads ---- */

static int query_start(hc_store_t *st, const char *sql, const hc_store_value_t *params, size_t n,
                       int binary, hc_store_result_cb cb, void *arg)
{
    if (st->closing)
        return -ESHUTDOWN;
    if (st->reads_inflight >= st->o.queue_max_units)
        return -EAGAIN;
    st_query_t *q = st_calloc(1, sizeof(*q));
    q->st = st;
    q->cb = cb;
    q->arg = arg;
    q->binary = binary;
    st_stmt_copy(&q->stmt, sql, params, n);
    st->reads_inflight++;
    st->be->query(st, q);
    return 0;
}

int hc_store_query(hc_store_t *st, const char *sql, const hc_store_value_t *params, size_t n,
                   hc_store_result_cb cb, void *arg)
{
    return query_start(st, sql, params, n, 0, cb, arg);
}

int hc_store_query_binary(hc_store_t *st, const char *sql, const hc_store_value_t *params, size_t n,
                          hc_store_result_cb cb, void *arg)
{
    return query_start(st, sql, params, n, 1, cb, arg);
}

void st_query_finish(st_query_t *q)
{
    hc_store_t *st = q->st;
    if (q->cb)
        q->cb(q->arg, q->status, q->status ? q->errmsg : NULL, q->status ? NULL : &q->rows.r);
    st_rows_free(&q->rows);
    st_stmt_clear(&q->stmt);
    st_free(q->errmsg);
    st_free(q);
    st->reads_inflight--;
    st_maybe_finish(st);
}

void st_query_defer(st_query_t *q)
{
    hc_store_t *st = q->st;
    q->next = st->deferred;
    st->deferred = q;
    uv_async_send(&st->async);
}

void hc_store_stats(hc_store_t *st, hc_store_stats_t *out)
{
    uv_mutex_lock(&st->lock);
    *out = st->stats;
    out->queued_units = st->q_units;
    out->queued_bytes = st->q_bytes;
    uv_mutex_unlock(&st->lock);
}

/* ---- close ---- */

void st_handle_ref(hc_store_t *st)
{
    st->handles++;
}

void st_handle_unref(hc_store_t *st)
{
    if (--st->handles > 0)
        return;
    hc_store_close_cb cb = st->close_cb;
    void *arg = st->close_arg;
    st->be->free(st);
    uv_cond_destroy(&st->cond);
    uv_mutex_destroy(&st->wlock);
    uv_mutex_destroy(&st->lock);
    st_free(st->target);
    st_free(st);
    if (cb)
        cb(arg);
}

static void on_async_closed(uv_handle_t *h)
{
    st_handle_unref(h->data);
}

/* Runs once the writer has flushed and no read is in flight: joins the writer thread,
 * closes the backend's handles and the async; the last handle closed frees the store. */
void st_maybe_finish(hc_store_t *st)
{
    uv_mutex_lock(&st->lock);
    int ready = st->closing && st->writer_done && !st->done_head;
    uv_mutex_unlock(&st->lock);
    if (!ready || st->reads_inflight || st->finishing)
        return;
    st->finishing = 1;
    if (st->writer_started)
        uv_thread_join(&st->writer);
    st->be->close_reads(st);
    uv_close((uv_handle_t *)&st->kick, on_async_closed);
    uv_close((uv_handle_t *)&st->async, on_async_closed);
}

void hc_store_close(hc_store_t *st, hc_store_close_cb cb, void *arg)
{
    st->close_cb = cb;
    st->close_arg = arg;
    uv_mutex_lock(&st->lock);
    st->closing = 1;
    uv_cond_signal(&st->cond);
    uv_mutex_unlock(&st->lock);
    uv_async_send(&st->async);
}
