/* Storage: one interface over SQLite (embedded default) and PostgreSQL (scale-out), for
 * services running on a libuv loop. Start reading here; the backends live in
 * hc_store_sqlite.c and hc_store_pg*.c, the write queue and its thread in hc_store_writer.c.
 *
 * GLOSSARY
 *   unit     what one caller enqueues: one statement, a group of statements, or a bulk
 *            copy of rows into one table. A unit commits entirely or not at all.
 *   writer   the single thread per database that drains the queue; it puts every unit
 *            queued at that moment into one transaction (group commit).
 *   $N       parameters are written $1, $2, ... in SQL for both backends.
 *
 * Threads: every function here is called on the loop thread given to hc_store_open, and
 * every callback fires on that thread, from the loop. Nothing here blocks the loop except
 * hc_store_open and hc_store_migrate, which are meant for start-up.
 *
 *   hc_store_t *st;
 *   hc_store_open(loop, getenv("DATABASE_URL"), NULL, &st);
 *   hc_store_migrate(st, "analytics", migrations, n, NULL);
 *   hc_store_value_t p[] = {hc_store_text("home"), hc_store_int(3)};
 *   hc_store_exec(st, "INSERT INTO hits (page, n) VALUES ($1, $2)", p, 2, on_done, req);
 */
#ifndef HC_STORE_H
#define HC_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

typedef struct hc_store hc_store_t;

typedef enum hc_store_type {
    HC_STORE_NULL,
    HC_STORE_INT,    /* int64; PostgreSQL smallint/int/bigint/bool/oid, integral numerics */
    HC_STORE_DOUBLE, /* real/double precision, non-integral numerics */
    HC_STORE_TEXT,   /* UTF-8; also every PostgreSQL type without a closer match */
    HC_STORE_BLOB,   /* SQLite BLOB, PostgreSQL bytea */
} hc_store_type_t;

/* One parameter or result cell. For TEXT and BLOB, p/len describe bytes the value does not
 * own: the caller's for parameters (copied before hc_store_* returns), the result's for
 * cells. Result text is NUL-terminated at p[len]. */
typedef struct hc_store_value {
    hc_store_type_t type;
    union {
        int64_t i;
        double d;
        struct {
            const char *p;
            size_t len;
        } s;
    } v;
} hc_store_value_t;

static inline hc_store_value_t hc_store_null(void)
{
    return (hc_store_value_t){.type = HC_STORE_NULL};
}
static inline hc_store_value_t hc_store_int(int64_t i)
{
    return (hc_store_value_t){.type = HC_STORE_INT, .v.i = i};
}
static inline hc_store_value_t hc_store_double(double d)
{
    return (hc_store_value_t){.type = HC_STORE_DOUBLE, .v.d = d};
}
/** Text of n bytes (no NUL inside: PostgreSQL refuses it). */
static inline hc_store_value_t hc_store_textn(const char *p, size_t n)
{
    return (hc_store_value_t){.type = HC_STORE_TEXT, .v.s = {p, n}};
}
/** A NUL-terminated string; NULL gives a NULL value. */
static inline hc_store_value_t hc_store_text(const char *s)
{
    return s ? hc_store_textn(s, strlen(s)) : hc_store_null();
}
static inline hc_store_value_t hc_store_blob(const void *p, size_t n)
{
    return (hc_store_value_t){.type = HC_STORE_BLOB, .v.s = {(const char *)p, n}};
}

/* A read's rows: cells row-major, nrows * ncols, and the column names. Owned by the
 * store and valid only during the callback it is passed to. */
typedef struct hc_store_result {
    size_t nrows;
    size_t ncols;
    const char *const *names;
    const hc_store_value_t *cells;
} hc_store_result_t;

/** The cell at (row, col); both must be in range. */
static inline const hc_store_value_t *hc_store_cell(const hc_store_result_t *r, size_t row,
                                                    size_t col)
{
    return &r->cells[row * r->ncols + col];
}

/** The index of the column called name, or -1 when there is none. */
int hc_store_column(const hc_store_result_t *r, const char *name);

/* Errors passed to callbacks and returned by calls:
 *   -EAGAIN    the write queue (or read queue) is full: answer 503 and let the client retry
 *   -EEXIST    a unique or primary-key constraint refused the row
 *   -EINVAL    the SQL is wrong (syntax, unknown table, type mismatch, missing parameter)
 *   -EIO       the database failed or could not be reached (reads are not retried)
 *   -EFBIG     a result passed the result_max_bytes option
 *   -ESHUTDOWN the store is closing
 *   -ETIMEDOUT a write could not be committed before the close deadline */

/** Called once per unit, on the loop thread, after the unit's transaction is durably
 *  committed (status 0) or after the unit failed (negative errno; errmsg is the
 *  database's message, valid during the call, never NULL when status < 0). */
typedef void (*hc_store_done_cb)(void *arg, int status, const char *errmsg);

/** Called once per read on the loop thread. On success status is 0 and res holds the
 *  rows; otherwise res is NULL and errmsg says why. */
typedef void (*hc_store_result_cb)(void *arg, int status, const char *errmsg,
                                   const hc_store_result_t *res);

/** Called once when hc_store_close has finished; the store is freed by then. */
typedef void (*hc_store_close_cb)(void *arg);

typedef struct hc_store_options {
    size_t queue_max_units;    /* units waiting or in flight; default 10000 */
    size_t queue_max_bytes;    /* their SQL and parameter bytes; default 64 MiB */
    size_t batch_max_stmts;    /* statements (or copied rows) per transaction; default 2000 */
    size_t result_max_bytes;   /* largest read result; default 64 MiB */
    unsigned busy_timeout_ms;  /* SQLite lock wait; default 5000 */
    unsigned read_connections; /* PostgreSQL read pool size; default 4 (SQLite opens one
                                  read-only connection per thread-pool thread) */
    unsigned close_timeout_ms; /* how long close keeps retrying an unreachable database;
                                  default 10000 */
    int sqlite_sync_normal;    /* SQLite synchronous=NORMAL instead of FULL: faster, a power
                                  loss may drop the last commits (never corrupts) */
    unsigned sqlite_checkpoint_pages; /* WAL pages that start a checkpoint beside the
                                         writer; default 4000 (16 MiB) */
} hc_store_options_t;

/* Counters for /metrics and tests; read with hc_store_stats. */
typedef struct hc_store_stats {
    uint64_t transactions;    /* write transactions committed */
    uint64_t units_committed; /* units acknowledged with status 0 */
    uint64_t units_failed;    /* units acknowledged with an error */
    uint64_t retries;         /* batches retried after the database failed */
    uint64_t checkpoints;     /* SQLite WAL checkpoints run beside the writer */
    uint64_t checkpoints_inline; /* ... and run by the writer, the other having fallen behind */
    size_t queued_units;      /* units enqueued and not yet acknowledged */
    size_t queued_bytes;
} hc_store_stats_t;

/** Opens the database named by url: `sqlite:PATH`, `sqlite://PATH`, `file:PATH` or a
 *  libpq URL `postgresql://...` / `postgres://...`. Blocks (start-up only): creates the
 *  SQLite file in WAL mode or connects to PostgreSQL, then starts the writer thread.
 *  opts may be NULL; zero fields take their defaults. On success *out is the store, owned
 *  by the caller until hc_store_close. Returns 0, -EINVAL (bad URL), -EIO (cannot open or
 *  connect; the reason is logged without the password). */
int hc_store_open(uv_loop_t *loop, const char *url, const hc_store_options_t *opts,
                  hc_store_t **out);

/** "sqlite" or "postgresql": lets a service pick a dialect-specific query. */
const char *hc_store_backend(const hc_store_t *st);

/* A migration: version > 0, unique within a service; the SQL for each backend may hold
 * several statements separated by ';' and takes no parameters. */
typedef struct hc_store_migration {
    int version;
    const char *sqlite_sql;
    const char *pg_sql;
} hc_store_migration_t;

/** Brings service's schema up to date: applies, in ascending version order, each of the
 *  n migrations not yet recorded in hearth_migrations(service, version, applied_at), each
 *  in its own transaction together with its record, logging one line per migration.
 *  Blocks: call at start-up before the loop runs. *applied (may be NULL) receives the
 *  number applied. Returns 0, -EINVAL (duplicate or non-positive version, bad SQL: the
 *  failed migration is not recorded, earlier ones stay), -EIO. */
int hc_store_migrate(hc_store_t *st, const char *service, const hc_store_migration_t *m, size_t n,
                     size_t *applied);

/* Delivery is at least once: when the connection to PostgreSQL breaks while a COMMIT is
 * in flight, the writer cannot know whether it landed and runs the unit again, so writes
 * should be keyed or idempotent (a keyed insert that did land then reports -EEXIST). */

/* One statement of a group. sql_static says that sql lives as long as the program (a
 * literal or a static array): the unit then points at it instead of copying it, and the
 * backends find its prepared statement by address. */
typedef struct hc_store_stmt {
    const char *sql;
    const hc_store_value_t *params;
    size_t nparams;
    int sql_static;
} hc_store_stmt_t;

/** Enqueues one write statement with n parameters ($1..$n). sql and params are copied.
 *  cb (may be NULL) fires later, on the loop thread, once committed or failed; never from
 *  inside this call. Returns 0, -EAGAIN (queue full: nothing enqueued, cb never fires),
 *  -ESHUTDOWN (closing). */
int hc_store_exec(hc_store_t *st, const char *sql, const hc_store_value_t *params, size_t n,
                  hc_store_done_cb cb, void *arg);

/** Enqueues n statements that commit together or not at all (one cb). Same contract as
 *  hc_store_exec; n must be at least 1 (-EINVAL). */
int hc_store_exec_group(hc_store_t *st, const hc_store_stmt_t *stmts, size_t n, hc_store_done_cb cb,
                        void *arg);

/** The bulk path: enqueues nrows rows of ncols values (rows row-major) to insert into
 *  table's columns cols, as one unit. PostgreSQL runs COPY FROM STDIN, SQLite a cached
 *  INSERT per row. Names are quoted as identifiers. Same contract as hc_store_exec. */
int hc_store_copy(hc_store_t *st, const char *table, const char *const *cols, size_t ncols,
                  const hc_store_value_t *rows, size_t nrows, hc_store_done_cb cb, void *arg);

/** Runs one read-only statement off the loop thread (SQLite: a read-only connection on
 *  the libuv thread pool; PostgreSQL: asynchronous libpq over a small pool) and calls cb
 *  with its rows. sql and params are copied. Returns 0 (cb will fire, never from inside
 *  this call), -EAGAIN (too many reads waiting), -ESHUTDOWN. */
int hc_store_query(hc_store_t *st, const char *sql, const hc_store_value_t *params, size_t n,
                   hc_store_result_cb cb, void *arg);

/** hc_store_query with PostgreSQL's binary result format: a bytea column arrives as its
 *  bytes instead of twice as many hex digits (SQLite: the same as hc_store_query). Every
 *  column must be bool, smallint, integer, bigint, oid, real, double precision, bytea,
 *  text or varchar; another type fails the read with -ENOTSUP. */
int hc_store_query_binary(hc_store_t *st, const char *sql, const hc_store_value_t *params, size_t n,
                          hc_store_result_cb cb, void *arg);

/** Fills *out with the store's counters. */
void hc_store_stats(hc_store_t *st, hc_store_stats_t *out);

/** Flushes the write queue (everything enqueued is committed, or fails with -ETIMEDOUT
 *  when the database stays unreachable past close_timeout_ms), lets running reads finish,
 *  closes every connection and handle, frees the store, then calls cb (may be NULL) from
 *  the loop. New calls fail with -ESHUTDOWN meanwhile. Call once. */
void hc_store_close(hc_store_t *st, hc_store_close_cb cb, void *arg);

#endif
