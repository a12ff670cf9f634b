/* The PostgreSQL backend of hc_store, write side: the writer connection (blocking libpq
 * on the writer thread), batches sent in pipeline mode as one transaction, COPY FROM
 * STDIN for bulk units, migrations, and the value conversions both sides share. The
 * asynchronous read pool is in hc_store_pg_read.c. */
#include "core/hc_buf.h"
#include "core/hc_log.h"
#include "core/hc_store_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs from PostgreSQL's pg_type.dat */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_TEXT = 25,
    OID_OID = 26,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_VARCHAR = 1043,
    OID_NUMERIC = 1700,
};
enum { COPY_CHUNK = 256 * 1024 };

static void notice_log(void *arg, const char *msg)
{
    hc_log(HC_LOG_DEBUG, "store: PostgreSQL notice", HC_LS("notice", msg), NULL);
}

PGconn *pg_connect(hc_store_t *st, int async)
{
    /* connect_timeout first: a value in the URL, expanded from dbname, overrides it */
    static const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *vals[] = {"10", st->target, NULL};
    PGconn *c = async ? PQconnectStartParams(keys, vals, 1) : PQconnectdbParams(keys, vals, 1);
    if (!c)
        hc_oom(0);
    PQsetNoticeProcessor(c, notice_log, NULL);
    return c;
}

/* ---- values ---- */

static void double_text(char *out, size_t n, double d)
{
    if (isnan(d))
        snprintf(out, n, "NaN");
    else if (isinf(d))
        snprintf(out, n, d > 0 ? "Infinity" : "-Infinity");
    else
        snprintf(out, n, "%.17g", d);
}

void pg_params_build(pg_params_t *pp, const hc_store_value_t *v, size_t n)
{
    pp->n = (int)n;
    size_t m = n ? n : 1;
    pp->values = st_calloc(m, sizeof(*pp->values));
    pp->lengths = st_calloc(m, sizeof(*pp->lengths));
    pp->formats = st_calloc(m, sizeof(*pp->formats));
    pp->types = st_calloc(m, sizeof(*pp->types));
    pp->nums = st_calloc(m, sizeof(*pp->nums));
    for (size_t i = 0; i < n; i++) {
        switch (v[i].type) {
        case HC_STORE_INT:
            snprintf(pp->nums[i], sizeof(pp->nums[i]), "%" PRId64, v[i].v.i);
            pp->values[i] = pp->nums[i];
            pp->types[i] = OID_INT8;
            break;
        case HC_STORE_DOUBLE:
            double_text(pp->nums[i], sizeof(pp->nums[i]), v[i].v.d);
            pp->values[i] = pp->nums[i];
            pp->types[i] = OID_FLOAT8;
            break;
        case HC_STORE_TEXT: /* type left to the server: text fits any column type */
            pp->values[i] = v[i].v.s.p;
            break;
        case HC_STORE_BLOB:
            pp->values[i] = v[i].v.s.p;
            pp->lengths[i] = (int)v[i].v.s.len;
            pp->formats[i] = 1;
            pp->types[i] = OID_BYTEA;
            break;
        default:
            break;
        }
    }
}

void pg_params_free(pg_params_t *pp)
{
    st_free(pp->values);
    st_free(pp->lengths);
    st_free(pp->formats);
    st_free(pp->types);
    st_free(pp->nums);
}

int pg_result_error(const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return 1; /* no SQLSTATE: libpq's own failure, the connection */
    if (!strcmp(state, "23505"))
        return -EEXIST;
    /* Appendix A classes: 08 connection, 53 resources, 57 operator intervention,
     * 58 system error; 40001/40P01 serialization failure and deadlock */
    if (!strncmp(state, "08", 2) || !strncmp(state, "53", 2) || !strncmp(state, "57", 2) ||
        !strncmp(state, "58", 2) || !strncmp(state, "40", 2))
        return 1;
    return -EINVAL;
}

static const char *result_message(const PGresult *r)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    return m ? m : "PostgreSQL error";
}

/* numeric is an integer when it has no fraction and fits int64 (sum() and friends),
 * otherwise a double. */
static hc_store_value_t numeric_value(const char *s)
{
    char *end;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (!*end && !errno)
        return hc_store_int(i);
    return hc_store_double(strtod(s, NULL));
}

static int cell_push(st_rows_t *rows, const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return st_rows_push(rows, &(hc_store_value_t){.type = HC_STORE_NULL});
    const char *s = PQgetvalue(r, row, col);
    hc_store_value_t v;
    switch (PQftype(r, col)) {
    case OID_BOOL:
        v = hc_store_int(s[0] == 't');
        break;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        v = hc_store_int(strtoll(s, NULL, 10));
        break;
    case OID_FLOAT4:
    case OID_FLOAT8:
        v = hc_store_double(strtod(s, NULL));
        break;
    case OID_NUMERIC:
        v = numeric_value(s);
        break;
    case OID_BYTEA: {
        size_t n = 0;
        unsigned char *b = PQunescapeBytea((const unsigned char *)s, &n);
        if (!b)
            hc_oom(strlen(s));
        v = hc_store_blob(b, n);
        int rc = st_rows_push(rows, &v);
        PQfreemem(b);
        return rc;
    }
    default:
        v = hc_store_textn(s, (size_t)PQgetlength(r, row, col));
    }
    return st_rows_push(rows, &v);
}

static uint64_t be_uint(const char *s, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | (unsigned char)s[i];
    return v;
}

/* A binary-format cell (hc_store_query_binary): -ENOTSUP for a type it does not read. */
static int cell_push_binary(st_rows_t *rows, const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return st_rows_push(rows, &(hc_store_value_t){.type = HC_STORE_NULL});
    const char *s = PQgetvalue(r, row, col);
    int n = PQgetlength(r, row, col);
    hc_store_value_t v;
    Oid t = PQftype(r, col);
    if (t == OID_BOOL && n == 1) {
        v = hc_store_int(s[0] != 0);
    } else if (t == OID_INT2 && n == 2) {
        v = hc_store_int((int16_t)be_uint(s, 2));
    } else if ((t == OID_INT4 && n == 4) || (t == OID_OID && n == 4)) {
        v = hc_store_int(t == OID_OID ? (int64_t)be_uint(s, 4) : (int32_t)be_uint(s, 4));
    } else if (t == OID_INT8 && n == 8) {
        v = hc_store_int((int64_t)be_uint(s, 8));
    } else if (t == OID_FLOAT4 && n == 4) {
        uint32_t u = (uint32_t)be_uint(s, 4);
        float f;
        memcpy(&f, &u, sizeof(f));
        v = hc_store_double(f);
    } else if (t == OID_FLOAT8 && n == 8) {
        uint64_t u = be_uint(s, 8);
        double d;
        memcpy(&d, &u, sizeof(d));
        v = hc_store_double(d);
    } else if (t == OID_BYTEA) {
        v = hc_store_blob(s, (size_t)n);
    } else if (t == OID_TEXT || t == OID_VARCHAR) {
        v = hc_store_textn(s, (size_t)n);
    } else {
        return -ENOTSUP;
    }
    return st_rows_push(rows, &v);
}

int pg_rows_collect(st_rows_t *rows, const PGresult *r, size_t max)
{
    int ncols = PQnfields(r), nrows = PQntuples(r);
    st_rows_begin(rows, (size_t)ncols, max);
    for (int i = 0; i < ncols; i++)
        st_rows_name(rows, (size_t)i, PQfname(r, i));
    for (int row = 0; row < nrows; row++)
        for (int col = 0; col < ncols; col++) {
            int rc = PQfformat(r, col) ? cell_push_binary(rows, r, row, col)
                                       : (cell_push(rows, r, row, col) ? -EFBIG : 0);
            if (rc)
                return rc;
        }
    return 0;
}

/* ---- the writer ---- */

/* Prepared statements: the writer runs the same few statements over and over, and an
 * unnamed statement costs the server a parse and a plan each time (for a wide INSERT,
 * more than the insert). Each (SQL, parameter types) pair is prepared once per writer
 * connection, up to PG_PREP_MAX; past that, statements run unprepared. */
static void prep_clear(pg_data_t *d)
{
    for (unsigned i = 0; i < d->nprep; i++) {
        st_free(d->prep[i].sql);
        st_free(d->prep[i].types);
    }
    d->nprep = 0;
}

/* Static SQL (sql_static) is found by its address, not compared. */
static const pg_prep_t *prep_find(const pg_data_t *d, const char *sql, int sql_static,
                                  const pg_params_t *pp)
{
    for (unsigned i = 0; i < d->nprep; i++) {
        const pg_prep_t *p = &d->prep[i];
        if (p->n == pp->n && ((sql_static && p->key == sql) || !strcmp(p->sql, sql)) &&
            (!pp->n || !memcmp(p->types, pp->types, (size_t)pp->n * sizeof(*pp->types))))
            return p;
    }
    return NULL;
}

/* Prepares sql for pp's types on the writer connection unless it is (outside pipeline
 * mode). A statement the server refuses stays unprepared: running it reports the error. */
static void prep_ensure(pg_data_t *d, const char *sql, int sql_static, const pg_params_t *pp)
{
    if (d->nprep == PG_PREP_MAX || prep_find(d, sql, sql_static, pp))
        return;
    pg_prep_t *p = &d->prep[d->nprep];
    snprintf(p->name, sizeof(p->name), "hc_w%u", d->prep_seq++);
    PGresult *r = PQprepare(d->writer, p->name, sql, pp->n, pp->types);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
        return;
    p->sql = st_strdup(sql);
    p->key = sql_static ? sql : NULL;
    p->n = pp->n;
    p->types = st_calloc(pp->n ? (size_t)pp->n : 1, sizeof(*p->types));
    if (pp->n)
        memcpy(p->types, pp->types, (size_t)pp->n * sizeof(*p->types));
    d->nprep++;
}

static int writer_ready(hc_store_t *st)
{
    pg_data_t *d = st->be_data;
    if (d->writer && PQstatus(d->writer) == CONNECTION_OK)
        return 0;
    if (d->writer)
        PQfinish(d->writer);
    prep_clear(d); /* prepared statements belong to the connection */
    d->writer = pg_connect(st, 0);
    if (PQstatus(d->writer) == CONNECTION_OK)
        return 0;
    hc_log(HC_LOG_WARN, "store: cannot connect to PostgreSQL",
           HC_LS("error", PQerrorMessage(d->writer)), NULL);
    return -EIO;
}

/* The connection broke mid-batch: drop it, the next attempt reconnects. */
static int writer_lost(pg_data_t *d)
{
    hc_log(HC_LOG_WARN, "store: PostgreSQL write connection lost",
           HC_LS("error", PQerrorMessage(d->writer)), NULL);
    PQfinish(d->writer);
    d->writer = NULL;
    prep_clear(d);
    return -EIO;
}

static int exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

/* Where the first error of a batch came from: the command index and its result. */
typedef struct batch_err {
    long cmd;
    int err;
    char *msg;
} batch_err_t;

/* Prepares the statements of units[0..n) not prepared yet (before pipeline mode). */
static void pipeline_prepare(pg_data_t *d, st_unit_t **units, size_t n)
{
    for (size_t i = 0; i < n && d->nprep < PG_PREP_MAX; i++) {
        for (size_t j = 0; j < units[i]->nstmts; j++) {
            st_stmt_t *s = &units[i]->stmts[j];
            pg_params_t pp;
            pg_params_build(&pp, s->params, s->nparams);
            prep_ensure(d, s->sql, s->sql_static, &pp);
            pg_params_free(&pp);
        }
    }
}

/* Sends BEGIN, every statement of units[0..n) (prepared when it is), COMMIT and a sync,
 * without waiting. */
static int pipeline_send(pg_data_t *d, st_unit_t **units, size_t n)
{
    PGconn *c = d->writer;
    int ok = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    for (size_t i = 0; ok && i < n; i++) {
        for (size_t j = 0; ok && j < units[i]->nstmts; j++) {
            st_stmt_t *s = &units[i]->stmts[j];
            pg_params_t pp;
            pg_params_build(&pp, s->params, s->nparams);
            const pg_prep_t *p = prep_find(d, s->sql, s->sql_static, &pp);
            ok = p ? PQsendQueryPrepared(c, p->name, pp.n, pp.values, pp.lengths, pp.formats, 0)
                   : PQsendQueryParams(c, s->sql, pp.n, pp.types, pp.values, pp.lengths, pp.formats,
                                       0);
            pg_params_free(&pp);
        }
    }
    return ok && PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(c);
}

/* Reads the results of ncmd commands then the sync; records the first error. */
static int pipeline_read(PGconn *c, long ncmd, batch_err_t *e)
{
    for (long cmd = 0; cmd < ncmd; cmd++) {
        PGresult *r;
        while ((r = PQgetResult(c))) {
            if (PQresultStatus(r) == PGRES_FATAL_ERROR && e->cmd < 0) {
                e->cmd = cmd;
                e->err = pg_result_error(r);
                e->msg = st_strdup(result_message(r));
            }
            PQclear(r);
        }
        if (PQstatus(c) != CONNECTION_OK)
            return -EIO;
    }
    PGresult *r = PQgetResult(c);
    int synced = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    return synced && PQexitPipelineMode(c) ? 0 : -EIO;
}

/* Points at the unit holding command cmd (0 is BEGIN), or n for BEGIN/COMMIT. */
static size_t unit_of(st_unit_t **units, size_t n, long cmd)
{
    long at = 1;
    for (size_t i = 0; i < n; i++) {
        if (cmd >= at && cmd < at + (long)units[i]->nstmts)
            return i;
        at += (long)units[i]->nstmts;
    }
    return n;
}

/* Settles a batch whose transaction failed with e in units[at] (at == n: in BEGIN or
 * COMMIT): a unit's own error goes to that unit
 * and the rest run again; a failed COMMIT makes the next batch run one unit at a time, so
 * the unit at fault is found. Returns 0 or -EIO (retry after a pause). */
static int batch_failed(pg_data_t *d, st_unit_t **units, size_t n, size_t at, const batch_err_t *e)
{
    if (e->err > 0)
        return -EIO;
    if (at == n && n == 1)
        at = 0;
    for (size_t i = 0; i < n; i++)
        units[i]->status = ST_RETRY;
    d->solo = at == n;
    if (at < n)
        st_set_error(&units[at]->status, &units[at]->errmsg, e->err, e->msg);
    return 0;
}

static int pipeline_batch(hc_store_t *st, st_unit_t **units, size_t n)
{
    pg_data_t *d = st->be_data;
    PGconn *c = d->writer;
    long ncmd = 2;
    for (size_t i = 0; i < n; i++)
        ncmd += (long)units[i]->nstmts;
    pipeline_prepare(d, units, n);
    if (PQstatus(c) != CONNECTION_OK || !PQenterPipelineMode(c) || !pipeline_send(d, units, n))
        return writer_lost(d);
    batch_err_t e = {.cmd = -1};
    int rc = pipeline_read(c, ncmd, &e);
    /* after an error the aborted COMMIT left the transaction block open */
    if (!rc && e.cmd >= 0 && !exec_ok(c, "ROLLBACK"))
        rc = -EIO;
    if (rc)
        rc = writer_lost(d);
    else if (e.cmd >= 0)
        rc = batch_failed(d, units, n, unit_of(units, n, e.cmd), &e);
    else
        rc = 1;
    if (rc == 1)
        d->solo = 0;
    st_free(e.msg);
    return rc;
}

/* ---- COPY FROM STDIN ---- */

/* One field in COPY's text format (PostgreSQL docs, COPY, "Text Format"): \N is NULL;
 * backslash, newline, carriage return and tab are backslash-escaped; bytea goes in its
 * hex form, whose leading backslash is itself escaped. */
static int copy_field(hc_buf_t *b, const hc_store_value_t *v)
{
    char num[32];
    static const char hex[] = "0123456789abcdef";
    switch (v->type) {
    case HC_STORE_NULL:
        return hc_buf_puts(b, "\\N");
    case HC_STORE_INT:
        return hc_buf_printf(b, "%" PRId64, v->v.i);
    case HC_STORE_DOUBLE:
        double_text(num, sizeof(num), v->v.d);
        return hc_buf_puts(b, num);
    case HC_STORE_BLOB: {
        int rc = hc_buf_puts(b, "\\\\x");
        for (size_t i = 0; !rc && i < v->v.s.len; i++) {
            unsigned char c = (unsigned char)v->v.s.p[i];
            char pair[2] = {hex[c >> 4], hex[c & 15]};
            rc = hc_buf_append(b, pair, 2);
        }
        return rc;
    }
    default:
        break;
    }
    int rc = 0;
    size_t run = 0;
    const char *p = v->v.s.p;
    for (size_t i = 0; !rc && i < v->v.s.len; i++) {
        const char *esc = p[i] == '\\'   ? "\\\\"
                          : p[i] == '\n' ? "\\n"
                          : p[i] == '\r' ? "\\r"
                          : p[i] == '\t' ? "\\t"
                                         : NULL;
        if (!esc)
            continue;
        rc = hc_buf_append(b, p + run, i - run) || hc_buf_puts(b, esc);
        run = i + 1;
    }
    return rc || hc_buf_append(b, p + run, v->v.s.len - run) ? -ENOBUFS : 0;
}

static int copy_start(PGconn *c, const st_unit_t *u, batch_err_t *e)
{
    PGresult *r = PQexec(c, u->sql);
    int rc = PQresultStatus(r) == PGRES_COPY_IN ? 0 : -1;
    if (rc) {
        e->err = pg_result_error(r);
        e->msg = st_strdup(result_message(r));
    }
    PQclear(r);
    return rc;
}

/* Streams one unit's rows through COPY; fills e on failure. */
static int copy_one(hc_store_t *st, PGconn *c, const st_unit_t *u, batch_err_t *e)
{
    if (copy_start(c, u, e))
        return -1;
    hc_buf_t b;
    hc_buf_init(&b, 2 * st->o.queue_max_bytes + COPY_CHUNK);
    int ok = 1;
    for (size_t r = 0; ok && r < u->nrows; r++) {
        for (size_t i = 0; ok && i < u->ncols; i++)
            ok = !(i && hc_buf_puts(&b, "\t")) && !copy_field(&b, &u->rows[r * u->ncols + i]);
        ok = ok && !hc_buf_puts(&b, "\n");
        if (ok && (b.len >= COPY_CHUNK || r + 1 == u->nrows)) {
            ok = PQputCopyData(c, b.base, (int)b.len) == 1;
            hc_buf_reset(&b);
        }
    }
    hc_buf_free(&b);
    PQputCopyEnd(c, ok ? NULL : "row too large");
    PGresult *res;
    int rc = 0;
    while ((res = PQgetResult(c))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !rc) {
            rc = -1;
            e->err = pg_result_error(res);
            e->msg = st_strdup(result_message(res));
        }
        PQclear(res);
    }
    return rc;
}

/* COPY units in one transaction; a failing COPY aborts it, so it is retried without
 * the unit at fault. */
static int copy_batch(hc_store_t *st, st_unit_t **units, size_t n)
{
    pg_data_t *d = st->be_data;
    PGconn *c = d->writer;
    if (!exec_ok(c, "BEGIN"))
        return writer_lost(d);
    batch_err_t e = {.cmd = -1};
    size_t at = n;
    for (size_t i = 0; i < n && at == n; i++)
        if (copy_one(st, c, units[i], &e))
            at = i;
    int rc = 1;
    if (at == n) {
        PGresult *r = PQexec(c, "COMMIT");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            e.err = pg_result_error(r);
            e.msg = st_strdup(result_message(r));
            rc = 0;
        }
        PQclear(r);
    } else {
        exec_ok(c, "ROLLBACK");
        rc = 0;
    }
    if (PQstatus(c) != CONNECTION_OK)
        rc = writer_lost(d);
    else if (rc == 0)
        rc = batch_failed(d, units, n, at, &e);
    if (rc == 1)
        d->solo = 0;
    st_free(e.msg);
    return rc;
}

/* Writer thread: the leading run of units of one kind (statements through the pipeline,
 * bulk units through COPY, which pipeline mode cannot carry) makes one transaction. */
static int pg_write(hc_store_t *st, st_unit_t **units, size_t n)
{
    pg_data_t *d = st->be_data;
    if (writer_ready(st))
        return -EIO;
    size_t k = 1;
    while (k < n && !d->solo && units[k]->kind == units[0]->kind)
        k++;
    for (size_t i = k; i < n; i++)
        units[i]->status = ST_RETRY;
    return units[0]->kind == ST_UNIT_COPY ? copy_batch(st, units, k) : pipeline_batch(st, units, k);
}

/* ---- migrations ---- */

/* Replicas starting together take turns: a transaction-scoped advisory lock. */
static const char LOCK_SQL[] = "SELECT pg_advisory_xact_lock(hashtext('hearth_migrations'))";

static int pg_migrate_setup(hc_store_t *st)
{
    pg_data_t *d = st->be_data;
    if (writer_ready(st))
        return -EIO;
    PGconn *c = d->writer;
    if (exec_ok(c, "BEGIN") && exec_ok(c, LOCK_SQL) &&
        exec_ok(c, "CREATE TABLE IF NOT EXISTS hearth_migrations ("
                   "service text NOT NULL, version integer NOT NULL, "
                   "applied_at timestamptz NOT NULL DEFAULT now(), "
                   "PRIMARY KEY (service, version))") &&
        exec_ok(c, "COMMIT"))
        return 0;
    hc_log(HC_LOG_ERROR, "store: cannot create hearth_migrations",
           HC_LS("error", PQerrorMessage(c)), NULL);
    exec_ok(c, "ROLLBACK");
    return -EIO;
}

/* Runs sql with params; 0, or the hc_store error of its result (logged). */
static int migrate_step(PGconn *c, const char *sql, int n, const char *const *vals,
                        const hc_store_migration_t *m, int *found)
{
    PGresult *r = n ? PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0) : PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    int rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : pg_result_error(r);
    if (found)
        *found = !rc && PQntuples(r) > 0;
    if (rc)
        hc_log(HC_LOG_ERROR, "store: migration failed", HC_LI("version", m->version),
               HC_LS("error", result_message(r)), NULL);
    PQclear(r);
    return rc > 0 ? -EIO : rc;
}

static int pg_migrate_one(hc_store_t *st, const char *service, const hc_store_migration_t *m)
{
    pg_data_t *d = st->be_data;
    if (!m->pg_sql)
        return -EINVAL;
    PGconn *c = d->writer;
    char version[16];
    snprintf(version, sizeof(version), "%d", m->version);
    const char *vals[] = {service, version};
    int found = 0;
    int rc = exec_ok(c, "BEGIN") ? 0 : -EIO;
    if (!rc)
        rc = migrate_step(c, LOCK_SQL, 0, NULL, m, NULL);
    if (!rc)
        rc = migrate_step(c, "SELECT 1 FROM hearth_migrations WHERE service = $1 AND version = $2",
                          2, vals, m, &found);
    if (!rc && !found)
        rc = migrate_step(c, m->pg_sql, 0, NULL, m, NULL);
    if (!rc && !found)
        rc = migrate_step(c, "INSERT INTO hearth_migrations (service, version) VALUES ($1, $2)", 2,
                          vals, m, NULL);
    if (!rc && !exec_ok(c, "COMMIT"))
        rc = -EIO;
    if (rc)
        exec_ok(c, "ROLLBACK");
    return rc ? rc : !found;
}

/* ---- lifecycle ---- */

/* libpq quotes the offending part of a malformed URL in its message ("invalid
 * percent-encoded token: \"<password>\""), so a URL that does not parse is reported
 * without libpq's text. One that parses yields connection errors naming host, port and
 * user only. */
static int conninfo_check(const char *conninfo)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    PQfreemem(msg);
    if (!opts) {
        hc_log(HC_LOG_ERROR,
               "store: DATABASE_URL is not a valid PostgreSQL URL (check the "
               "percent-encoding of its user name and password)",
               NULL);
        return -EINVAL;
    }
    PQconninfoFree(opts);
    return 0;
}

static int pg_open(hc_store_t *st, const char *conninfo)
{
    pg_data_t *d = st_calloc(1, sizeof(*d));
    st->be_data = d;
    int rc = conninfo_check(conninfo);
    if (rc)
        return rc;
    d->writer = pg_connect(st, 0);
    if (PQstatus(d->writer) != CONNECTION_OK) {
        hc_log(HC_LOG_ERROR, "store: cannot connect to PostgreSQL",
               HC_LS("error", PQerrorMessage(d->writer)), NULL);
        return -EIO;
    }
    pg_pool_init(st);
    return 0;
}

static void pg_free(hc_store_t *st)
{
    pg_data_t *d = st->be_data;
    if (!d)
        return;
    pg_pool_free(st);
    if (d->writer)
        PQfinish(d->writer);
    prep_clear(d);
    st_free(d);
    st->be_data = NULL;
}

const st_backend_t st_backend_pg = {
    .name = "postgresql",
    .open = pg_open,
    .migrate_setup = pg_migrate_setup,
    .migrate_one = pg_migrate_one,
    .write = pg_write,
    .query = pg_query,
    .close_reads = pg_close_reads,
    .free = pg_free,
};
