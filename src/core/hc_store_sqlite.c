/* The SQLite backend of hc_store: one read-write connection used only by the writer
 * thread (WAL, synchronous FULL or NORMAL, busy timeout), read-only connections used by
 * reads on the libuv thread pool, each connection with its own prepared statement cache,
 * and a checkpointer thread with a connection of its own. WAL lets the readers run beside
 * the writer, and the checkpoints too: SQLite's own auto-checkpoint runs inside the
 * commit that crossed the threshold, so every acknowledgement waiting on that commit
 * waited for the copying and syncs (analytics ingest p99 23 ms; 8 ms with the
 * checkpoints beside it). */
#include "core/hc_log.h"
#include "core/hc_store_impl.h"

#include <errno.h>
#include <regex.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum { SQ_CACHE = 32 };

/* The writer's page cache (KiB; SQLite's default is 2 MiB): events land on random pages
 * of the session_id index, so a bigger cache saves the reads. 4 MiB keeps analytics under
 * its 40 MB RSS budget with room (16 MiB measured 44 MB under ingest for a few percent
 * more throughput; 8 MiB cost 3 MB more at the peak of a backfill). The WAL size that
 * starts a checkpoint is an option (sqlite_checkpoint_pages, default 4000 where SQLite's
 * is 1000): rarer checkpoints write each hot page (and sync) once for more commits. */
#define SQ_WRITER_CACHE_KIB "4096"

/* A WAL this many times the checkpoint size means the checkpointer fell behind (a reader
 * held it back, or the disk is slow): the writer then checkpoints itself, as SQLite's
 * auto-checkpoint would, so the WAL stays bounded. */
enum { SQ_CHECKPOINT_BEHIND = 4 };

/* Each read connection's page cache (KiB; default 2 MiB). The thread pool may hold one
 * connection per thread; their reads miss into the OS page cache, not the disk, and
 * a dashboard query reads a few hundred pages of the rollups. */
#define SQ_READER_CACHE_KIB "512"

typedef struct sq_cached {
    char *sql;
    const char *key; /* the static SQL it was prepared from, found by address; else NULL */
    sqlite3_stmt *stmt;
    uint64_t used;
    long *pmap; /* bind slot i+1 takes parameter $pmap[i]; 0 when its name is no $N */
} sq_cached_t;

typedef struct sq_conn {
    sqlite3 *db;
    sq_cached_t cache[SQ_CACHE];
    uint64_t tick;
    struct sq_conn *next;
} sq_conn_t;

typedef struct sq_data {
    sq_conn_t *writer;
    uv_mutex_t lock; /* guards idle and the ckpt_ flags */
    sq_conn_t *idle; /* read-only connections not in use */
    /* the checkpointer: its thread waits on ckpt_cond for ckpt_wanted (set by on_wal) */
    sq_conn_t *ckpt;
    uv_thread_t ckpt_thread;
    uv_cond_t ckpt_cond;
    int ckpt_running, ckpt_wanted, ckpt_stop;
} sq_data_t;

static void conn_close(sq_conn_t *c)
{
    for (int i = 0; i < SQ_CACHE; i++) {
        sqlite3_finalize(c->cache[i].stmt);
        st_free(c->cache[i].sql);
        st_free(c->cache[i].pmap);
    }
    sqlite3_close(c->db);
    st_free(c);
}

/* `value REGEXP pattern`, which SQLite leaves undefined, as POSIX extended regular
 * expressions: the SQLite side of PostgreSQL's `~` for callers that write one query for
 * both. The compiled pattern lives as long as the statement that uses it. NULL in, NULL
 * out, as with `~`. */
static void regex_free(void *p)
{
    regfree(p);
    sqlite3_free(p);
}

static void sql_regexp(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *pattern = (const char *)sqlite3_value_text(argv[0]);
    const char *value = (const char *)sqlite3_value_text(argv[1]);
    if (!pattern || !value)
        return; /* the result stays NULL */
    regex_t *re = sqlite3_get_auxdata(cx, 0);
    if (!re) {
        re = sqlite3_malloc(sizeof(*re));
        if (!re) {
            sqlite3_result_error_nomem(cx);
            return;
        }
        int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[160] = "invalid regular expression: ";
            size_t used = strlen(msg);
            regerror(rc, re, msg + used, sizeof(msg) - used);
            sqlite3_free(re);
            sqlite3_result_error(cx, msg, -1);
            return;
        }
        sqlite3_set_auxdata(cx, 0, re, regex_free); /* frees re at once when it cannot keep it */
        re = sqlite3_get_auxdata(cx, 0);
        if (!re) {
            sqlite3_result_error_nomem(cx);
            return;
        }
    }
    sqlite3_result_int(cx, regexec(re, value, 0, NULL, 0) == 0);
}

static int conn_open(hc_store_t *st, int readonly, sq_conn_t **out)
{
    sq_conn_t *c = st_calloc(1, sizeof(*c));
    int flags = SQLITE_OPEN_NOMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(st->target, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        hc_log(HC_LOG_ERROR, "store: cannot open SQLite database", HC_LS("path", st->target),
               HC_LS("error", c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc)), NULL);
        conn_close(c);
        return -EIO;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, (int)st->o.busy_timeout_ms);
    if (sqlite3_create_function(c->db, "regexp", 2,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                sql_regexp, NULL, NULL) != SQLITE_OK) {
        hc_log(HC_LOG_ERROR, "store: cannot add REGEXP to SQLite", HC_LS("path", st->target),
               HC_LS("error", sqlite3_errmsg(c->db)), NULL);
        conn_close(c);
        return -EIO;
    }
    if (readonly && sqlite3_exec(c->db, "PRAGMA cache_size=-" SQ_READER_CACHE_KIB, NULL, NULL,
                                 NULL) != SQLITE_OK) {
        hc_log(HC_LOG_ERROR, "store: cannot size the SQLite read cache", HC_LS("path", st->target),
               HC_LS("error", sqlite3_errmsg(c->db)), NULL);
        conn_close(c);
        return -EIO;
    }
    *out = c;
    return 0;
}

/* Returns the cached statement for sql, preparing it on a miss (the least recently used
 * entry makes room). Static SQL (sql_static) is found by its address, not compared. Only
 * one statement per string: anything after it is refused. Named parameters are resolved
 * once here: SQLite numbers them in order of appearance, so $2 may be slot 1. */
static int conn_prepare(sq_conn_t *c, const char *sql, int sql_static, sq_cached_t **out)
{
    sq_cached_t *slot = &c->cache[0];
    for (int i = 0; i < SQ_CACHE; i++) {
        if (c->cache[i].sql &&
            ((sql_static && c->cache[i].key == sql) || !strcmp(c->cache[i].sql, sql))) {
            c->cache[i].used = ++c->tick;
            *out = &c->cache[i];
            return SQLITE_OK;
        }
        if (c->cache[i].used < slot->used)
            slot = &c->cache[i];
    }
    const char *tail = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK)
        return rc;
    if (!stmt || (tail && tail[strspn(tail, " \t\r\n;")])) {
        sqlite3_finalize(stmt);
        return SQLITE_MISUSE;
    }
    int count = sqlite3_bind_parameter_count(stmt);
    long *pmap = st_calloc(count > 0 ? (size_t)count : 1, sizeof(*pmap));
    for (int i = 1; i <= count; i++) {
        const char *name = sqlite3_bind_parameter_name(stmt, i);
        char *end = NULL;
        long k = name && (name[0] == '$' || name[0] == '?') ? strtol(name + 1, &end, 10) : 0;
        pmap[i - 1] = k >= 1 && end && !*end ? k : 0;
    }
    sqlite3_finalize(slot->stmt);
    st_free(slot->sql);
    st_free(slot->pmap);
    slot->sql = st_strdup(sql);
    slot->key = sql_static ? sql : NULL;
    slot->stmt = stmt;
    slot->pmap = pmap;
    slot->used = ++c->tick;
    *out = slot;
    return SQLITE_OK;
}

/* Binds the $N (or ?N) parameters of a cached statement. */
static int stmt_bind(const sq_cached_t *cs, const hc_store_value_t *p, size_t n)
{
    sqlite3_stmt *s = cs->stmt;
    int count = sqlite3_bind_parameter_count(s);
    for (int i = 1; i <= count; i++) {
        long k = cs->pmap[i - 1];
        if (k < 1 || (size_t)k > n)
            return SQLITE_RANGE;
        const hc_store_value_t *v = &p[k - 1];
        int rc;
        switch (v->type) {
        case HC_STORE_INT:
            rc = sqlite3_bind_int64(s, i, v->v.i);
            break;
        case HC_STORE_DOUBLE:
            rc = sqlite3_bind_double(s, i, v->v.d);
            break;
        case HC_STORE_TEXT:
            rc = sqlite3_bind_text64(s, i, v->v.s.p, v->v.s.len, SQLITE_STATIC, SQLITE_UTF8);
            break;
        case HC_STORE_BLOB:
            rc = sqlite3_bind_blob64(s, i, v->v.s.p, v->v.s.len, SQLITE_STATIC);
            break;
        default:
            rc = sqlite3_bind_null(s, i);
        }
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* Maps an extended result code to hc_store's errors; 1 means the database itself failed
 * (locked, I/O, full disk): the batch is retried rather than blamed on a caller. */
static int sq_error(int rc)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return -EEXIST;
    }
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
        return 1;
    }
    return -EINVAL;
}

static const char *sq_message(sq_conn_t *c, int rc)
{
    if (rc == SQLITE_MISUSE)
        return "exactly one SQL statement per call";
    if (rc == SQLITE_RANGE)
        return "a $N parameter has no value";
    return sqlite3_errmsg(c->db);
}

/* Runs one statement to completion, ignoring rows it returns. */
static int stmt_run(sq_conn_t *c, const char *sql, int sql_static, const hc_store_value_t *p,
                    size_t n)
{
    sq_cached_t *cs;
    int rc = conn_prepare(c, sql, sql_static, &cs);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_stmt *s = cs->stmt;
    rc = stmt_bind(cs, p, n);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
        rc = SQLITE_OK;
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    else if (rc != SQLITE_RANGE)
        rc = sqlite3_extended_errcode(c->db);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

static int exec_plain(sq_conn_t *c, const char *sql)
{
    return sqlite3_exec(c->db, sql, NULL, NULL, NULL) == SQLITE_OK
               ? SQLITE_OK
               : sqlite3_extended_errcode(c->db);
}

/* The bulk path: the cached INSERT run once per row. */
static int copy_run(sq_conn_t *c, const st_unit_t *u)
{
    int rc = SQLITE_OK;
    for (size_t r = 0; r < u->nrows && rc == SQLITE_OK; r++)
        rc = stmt_run(c, u->sql, 0, &u->rows[r * u->ncols], u->ncols);
    return rc;
}

static int unit_run(sq_conn_t *c, const st_unit_t *u)
{
    if (u->kind == ST_UNIT_COPY)
        return copy_run(c, u);
    int rc = SQLITE_OK;
    for (size_t i = 0; i < u->nstmts && rc == SQLITE_OK; i++) {
        const st_stmt_t *s = &u->stmts[i];
        rc = stmt_run(c, s->sql, s->sql_static, s->params, s->nparams);
    }
    return rc;
}

static void log_failure(sq_conn_t *c, const char *what, int rc)
{
    hc_log(HC_LOG_WARN, "store: SQLite write failed", HC_LS("step", what),
           HC_LS("error", sqlite3_errmsg(c->db)), HC_LI("code", rc), NULL);
}

/* After a batch failed for a reason of its own (a unit's SQL or constraint, or a COMMIT
 * refused for a deferred foreign key): each unit runs again in a transaction of its own,
 * so only the unit at fault fails and the others commit. A database failure leaves that unit and
 * the ones after it to be retried. Returns the number of transactions committed. */
static int write_alone(sq_conn_t *c, st_unit_t **units, size_t n)
{
    int commits = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = exec_plain(c, "BEGIN IMMEDIATE"), began = rc == SQLITE_OK;
        if (began && (rc = unit_run(c, units[i])) == SQLITE_OK &&
            (rc = exec_plain(c, "COMMIT")) == SQLITE_OK) {
            commits++;
            continue;
        }
        int own = began && sq_error(rc) < 0;
        if (own)
            st_set_error(&units[i]->status, &units[i]->errmsg, sq_error(rc), sq_message(c, rc));
        else
            log_failure(c, "transaction", rc);
        if (!sqlite3_get_autocommit(c->db))
            exec_plain(c, "ROLLBACK");
        for (size_t j = i; !own && j < n; j++)
            if (units[j]->status == 0)
                units[j]->status = ST_RETRY;
        if (!own)
            break;
    }
    return commits;
}

/* Writer thread: the batch as one IMMEDIATE transaction (the transaction statements are
 * cached prepared statements like the units' own). Units run without savepoints: when
 * one fails for a reason of its own (bad SQL, a constraint), or the COMMIT is refused for
 * the batch's content, the transaction is rolled back and each unit runs alone
 * (write_alone), so only the unit at fault fails and the others commit. Failing units
 * are rare, so the common batch pays no per-unit statements. */
static int sq_write(hc_store_t *st, st_unit_t **units, size_t n)
{
    sq_conn_t *c = ((sq_data_t *)st->be_data)->writer;
    int rc = stmt_run(c, "BEGIN IMMEDIATE", 1, NULL, 0);
    if (rc != SQLITE_OK) {
        log_failure(c, "begin", rc);
        return -EIO;
    }
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
        rc = unit_run(c, units[i]);
    if (rc == SQLITE_OK && (rc = stmt_run(c, "COMMIT", 1, NULL, 0)) == SQLITE_OK)
        return 1;
    if (sq_error(rc) < 0) {
        if (!sqlite3_get_autocommit(c->db))
            exec_plain(c, "ROLLBACK");
        return write_alone(c, units, n);
    }
    log_failure(c, "transaction", rc);
    if (!sqlite3_get_autocommit(c->db))
        exec_plain(c, "ROLLBACK");
    return -EIO;
}

/* ---- reads on the thread pool ---- */

static sq_conn_t *reader_take(hc_store_t *st)
{
    sq_data_t *d = st->be_data;
    uv_mutex_lock(&d->lock);
    sq_conn_t *c = d->idle;
    if (c)
        d->idle = c->next;
    uv_mutex_unlock(&d->lock);
    if (!c && conn_open(st, 1, &c))
        return NULL;
    return c;
}

static void reader_give(hc_store_t *st, sq_conn_t *c)
{
    sq_data_t *d = st->be_data;
    uv_mutex_lock(&d->lock);
    c->next = d->idle;
    d->idle = c;
    uv_mutex_unlock(&d->lock);
}

static hc_store_value_t column_value(sqlite3_stmt *s, int i)
{
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_INTEGER:
        return hc_store_int(sqlite3_column_int64(s, i));
    case SQLITE_FLOAT:
        return hc_store_double(sqlite3_column_double(s, i));
    case SQLITE_TEXT: {
        const char *p = (const char *)sqlite3_column_text(s, i);
        return hc_store_textn(p ? p : "", (size_t)sqlite3_column_bytes(s, i));
    }
    case SQLITE_BLOB: {
        const void *p = sqlite3_column_blob(s, i);
        return hc_store_blob(p ? p : "", (size_t)sqlite3_column_bytes(s, i));
    }
    default:
        return hc_store_null();
    }
}

/* Steps s, collecting every row into q->rows. Returns an SQLite code or -EFBIG. */
static int rows_collect(st_query_t *q, sqlite3_stmt *s)
{
    int ncols = sqlite3_column_count(s);
    st_rows_begin(&q->rows, (size_t)ncols, q->st->o.result_max_bytes);
    for (int i = 0; i < ncols; i++)
        st_rows_name(&q->rows, (size_t)i, sqlite3_column_name(s, i));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        for (int i = 0; i < ncols; i++) {
            hc_store_value_t v = column_value(s, i);
            if (st_rows_push(&q->rows, &v))
                return -EFBIG;
        }
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void on_read_work(uv_work_t *w)
{
    st_query_t *q = w->data;
    sq_conn_t *c = reader_take(q->st);
    if (!c) {
        st_set_error(&q->status, &q->errmsg, -EIO, "cannot open a read connection");
        return;
    }
    sq_cached_t *cs = NULL;
    sqlite3_stmt *s = NULL;
    int rc = conn_prepare(c, q->stmt.sql, 0, &cs);
    if (rc == SQLITE_OK) {
        s = cs->stmt;
        rc = stmt_bind(cs, q->stmt.params, q->stmt.nparams);
    }
    if (rc == SQLITE_OK)
        rc = rows_collect(q, s);
    if (rc == -EFBIG)
        st_set_error(&q->status, &q->errmsg, -EFBIG, "result larger than result_max_bytes");
    else if (rc != SQLITE_OK)
        st_set_error(&q->status, &q->errmsg, sq_error(rc) > 0 ? -EIO : sq_error(rc),
                     sq_message(c, rc));
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    reader_give(q->st, c);
}

static void on_read_done(uv_work_t *w, int status)
{
    st_query_t *q = w->data;
    if (status)
        st_set_error(&q->status, &q->errmsg, -ECANCELED, "read cancelled");
    st_query_finish(q);
}

static void sq_query(hc_store_t *st, st_query_t *q)
{
    q->work.data = q;
    int rc = uv_queue_work(st->loop, &q->work, on_read_work, on_read_done);
    if (rc) {
        st_set_error(&q->status, &q->errmsg, rc, "cannot queue the read");
        st_query_defer(q);
    }
}

/* ---- migrations ---- */

static int sq_migrate_setup(hc_store_t *st)
{
    sq_conn_t *c = ((sq_data_t *)st->be_data)->writer;
    int rc = exec_plain(c, "CREATE TABLE IF NOT EXISTS hearth_migrations ("
                           "service TEXT NOT NULL, version INTEGER NOT NULL, "
                           "applied_at TEXT NOT NULL, PRIMARY KEY (service, version))");
    if (rc != SQLITE_OK) {
        log_failure(c, "create hearth_migrations", rc);
        return -EIO;
    }
    return 0;
}

/* Is (service, version) recorded? 1 yes, 0 no, or a failing SQLite code (negated). */
static int migration_recorded(sq_conn_t *c, const char *service, int version)
{
    sq_cached_t *cs;
    int rc = conn_prepare(c, "SELECT 1 FROM hearth_migrations WHERE service = $1 AND version = $2",
                          0, &cs);
    if (rc != SQLITE_OK)
        return -rc;
    sqlite3_stmt *s = cs->stmt;
    sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, version);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -rc;
}

static int sq_migrate_one(hc_store_t *st, const char *service, const hc_store_migration_t *m)
{
    sq_conn_t *c = ((sq_data_t *)st->be_data)->writer;
    if (!m->sqlite_sql)
        return -EINVAL;
    int rc = exec_plain(c, "BEGIN IMMEDIATE");
    int done = rc == SQLITE_OK ? migration_recorded(c, service, m->version) : -rc;
    if (done < 0)
        goto fail_db;
    hc_store_value_t rec[] = {hc_store_text(service), hc_store_int(m->version)};
    if (!done && ((rc = exec_plain(c, m->sqlite_sql)) != SQLITE_OK ||
                  (rc = stmt_run(c,
                                 "INSERT INTO hearth_migrations (service, version, applied_at) "
                                 "VALUES ($1, $2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                                 0, rec, 2)) != SQLITE_OK)) {
        hc_log(HC_LOG_ERROR, "store: migration failed", HC_LS("service", service),
               HC_LI("version", m->version), HC_LS("error", sqlite3_errmsg(c->db)), NULL);
        exec_plain(c, "ROLLBACK");
        return sq_error(rc) > 0 ? -EIO : -EINVAL;
    }
    if (exec_plain(c, "COMMIT") == SQLITE_OK)
        return !done;
fail_db:
    log_failure(c, "migration transaction", sqlite3_extended_errcode(c->db));
    if (!sqlite3_get_autocommit(c->db))
        exec_plain(c, "ROLLBACK");
    return -EIO;
}

/* ---- checkpoints beside the writer ---- */

static void count_checkpoint(hc_store_t *st, int inline_)
{
    uv_mutex_lock(&st->lock);
    if (inline_)
        st->stats.checkpoints_inline++;
    else
        st->stats.checkpoints++;
    uv_mutex_unlock(&st->lock);
}

/* Writer thread, after each commit (sqlite3_wal_hook, which replaces SQLite's
 * auto-checkpoint): pages is the WAL's length in frames since it last restarted. */
static int on_wal(void *arg, sqlite3 *db, const char *name, int pages)
{
    hc_store_t *st = arg;
    sq_data_t *d = st->be_data;
    unsigned at = st->o.sqlite_checkpoint_pages;
    if (pages < 0 || (unsigned)pages < at)
        return SQLITE_OK;
    if ((unsigned)pages < at * SQ_CHECKPOINT_BEHIND) {
        uv_mutex_lock(&d->lock);
        d->ckpt_wanted = 1;
        uv_cond_signal(&d->ckpt_cond);
        uv_mutex_unlock(&d->lock);
        return SQLITE_OK;
    }
    /* SQLITE_BUSY when the checkpointer is at it: the next commit tries again */
    if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) == SQLITE_OK)
        count_checkpoint(st, 1);
    return SQLITE_OK;
}

/* PASSIVE copies what no reader still needs and never waits for the writer; once all of
 * the WAL is copied, the writer's next transaction starts it again from the top. */
static void ckpt_main(void *arg)
{
    hc_store_t *st = arg;
    sq_data_t *d = st->be_data;
    uv_mutex_lock(&d->lock);
    for (;;) {
        while (!d->ckpt_wanted && !d->ckpt_stop)
            uv_cond_wait(&d->ckpt_cond, &d->lock);
        if (d->ckpt_stop)
            break;
        d->ckpt_wanted = 0;
        uv_mutex_unlock(&d->lock);
        int rc =
            sqlite3_wal_checkpoint_v2(d->ckpt->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc == SQLITE_OK)
            count_checkpoint(st, 0);
        else if (rc != SQLITE_BUSY)
            hc_log(HC_LOG_WARN, "store: SQLite checkpoint failed", HC_LS("path", st->target),
                   HC_LS("error", sqlite3_errmsg(d->ckpt->db)), NULL);
        uv_mutex_lock(&d->lock);
    }
    uv_mutex_unlock(&d->lock);
}

static int ckpt_start(hc_store_t *st)
{
    sq_data_t *d = st->be_data;
    int rc = conn_open(st, 0, &d->ckpt);
    if (rc)
        return rc;
    /* a connection finds the WAL when it first reads; until then it has none to copy */
    if (exec_plain(d->ckpt, "PRAGMA journal_mode=WAL") != SQLITE_OK) {
        hc_log(HC_LOG_ERROR, "store: cannot open the SQLite checkpointer",
               HC_LS("path", st->target), HC_LS("error", sqlite3_errmsg(d->ckpt->db)), NULL);
        return -EIO;
    }
    if (uv_thread_create(&d->ckpt_thread, ckpt_main, st) != 0) {
        hc_log(HC_LOG_ERROR, "store: cannot start the SQLite checkpointer",
               HC_LS("path", st->target), NULL);
        return -EIO;
    }
    d->ckpt_running = 1;
    sqlite3_wal_hook(d->writer->db, on_wal, st);
    return 0;
}

/* After the writer thread ended (or never started): no on_wal can ask any more. */
static void ckpt_stop(sq_data_t *d)
{
    if (d->ckpt_running) {
        uv_mutex_lock(&d->lock);
        d->ckpt_stop = 1;
        uv_cond_signal(&d->ckpt_cond);
        uv_mutex_unlock(&d->lock);
        uv_thread_join(&d->ckpt_thread);
        d->ckpt_running = 0;
    }
    if (d->ckpt)
        conn_close(d->ckpt);
    d->ckpt = NULL;
}

/* ---- lifecycle ---- */

static int journal_mode_cb(void *arg, int n, char **vals, char **names)
{
    *(int *)arg = n == 1 && vals[0] && !strcmp(vals[0], "wal");
    return 0;
}

/* SQLite counts every allocation under a global mutex (memory status, default on); hearth
 * never reads those counts, and the writer paid ~2 % of an ingest's CPU for the locking.
 * sqlite3_config must come before SQLite initializes, hence before the first open. */
static uv_once_t sq_config_once = UV_ONCE_INIT;

static void sq_config(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sq_open(hc_store_t *st, const char *path)
{
    uv_once(&sq_config_once, sq_config);
    sq_data_t *d = st_calloc(1, sizeof(*d));
    uv_mutex_init(&d->lock);
    uv_cond_init(&d->ckpt_cond);
    st->be_data = d;
    int rc = conn_open(st, 0, &d->writer);
    if (rc)
        return rc;
    int wal = 0;
    sqlite3_exec(d->writer->db, "PRAGMA journal_mode=WAL", journal_mode_cb, &wal, NULL);
    const char *sync =
        st->o.sqlite_sync_normal ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL";
    if (!wal || exec_plain(d->writer, sync) != SQLITE_OK ||
        exec_plain(d->writer, "PRAGMA foreign_keys=ON") != SQLITE_OK ||
        exec_plain(d->writer, "PRAGMA cache_size=-" SQ_WRITER_CACHE_KIB) != SQLITE_OK) {
        hc_log(HC_LOG_ERROR, "store: cannot set SQLite WAL mode", HC_LS("path", path),
               HC_LS("error", sqlite3_errmsg(d->writer->db)), NULL);
        return -EIO;
    }
    return ckpt_start(st);
}

/* Reads hold no handle: their connections close in sq_free. The checkpointer stops here,
 * the writer thread having ended. */
static void sq_close_reads(hc_store_t *st)
{
    ckpt_stop(st->be_data);
}

static void sq_free(hc_store_t *st)
{
    sq_data_t *d = st->be_data;
    if (!d)
        return;
    ckpt_stop(d);
    while (d->idle) {
        sq_conn_t *c = d->idle;
        d->idle = c->next;
        conn_close(c);
    }
    if (d->writer)
        conn_close(d->writer);
    uv_cond_destroy(&d->ckpt_cond);
    uv_mutex_destroy(&d->lock);
    st_free(d);
    st->be_data = NULL;
}

const st_backend_t st_backend_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .migrate_setup = sq_migrate_setup,
    .migrate_one = sq_migrate_one,
    .write = sq_write,
    .query = sq_query,
    .close_reads = sq_close_reads,
    .free = sq_free,
};
