/* Private to the storage module: the store object, the queued units, the read requests,
 * and the table of operations each backend (hc_store_sqlite.c, hc_store_pg*.c) fills.
 * Not for services: they include hc_store.h only. */
#ifndef HC_STORE_IMPL_H
#define HC_STORE_IMPL_H

#include "core/hc_alloc.h"
#include "core/hc_store.h"

#include <stdint.h>
#include <uv.h>

/* The writer thread and the thread pool allocate too. Under HC_CMOCKA_ALLOC hc_malloc is
 * cmocka's test_malloc, whose block list has no lock, so the store serializes its own
 * allocations there; in every other build these are hc_malloc and friends. */
#ifdef HC_CMOCKA_ALLOC
void *st_locked_malloc(size_t n, const char *file, int line);
void *st_locked_calloc(size_t n, size_t m, const char *file, int line);
void *st_locked_memdup(const void *p, size_t n, const char *file, int line);
void st_locked_free(void *p, const char *file, int line);
#define st_malloc(n) st_locked_malloc(n, __FILE__, __LINE__)
#define st_calloc(n, m) st_locked_calloc(n, m, __FILE__, __LINE__)
#define st_memdup(p, n) st_locked_memdup(p, n, __FILE__, __LINE__)
#define st_strdup(s) st_locked_memdup(s, strlen(s), __FILE__, __LINE__)
#define st_free(p) st_locked_free(p, __FILE__, __LINE__)
#else
#define st_malloc(n) hc_malloc(n)
#define st_calloc(n, m) hc_calloc(n, m)
#define st_memdup(p, n) hc_memdup(p, n)
#define st_strdup(s) hc_strdup(s)
#define st_free(p) hc_free(p)
#endif

/* A unit's status while the writer holds it: 0 committed, < 0 failed (errmsg set), or
 * ST_RETRY: not run in this transaction, stays at the head of the queue. */
enum { ST_RETRY = 1 };

typedef enum st_unit_kind { ST_UNIT_STMTS, ST_UNIT_COPY } st_unit_kind_t;

/* A statement with its own copies of the SQL (unless sql_static: the caller's, for the
 * program's life) and of text/blob parameter bytes. */
typedef struct st_stmt {
    const char *sql;
    hc_store_value_t *params;
    size_t nparams;
    int sql_static;
} st_stmt_t;

typedef struct st_unit {
    struct st_unit *next;
    st_unit_kind_t kind;
    st_stmt_t *stmts; /* ST_UNIT_STMTS */
    size_t nstmts;
    /* stmts is one block holding their SQL and parameters too */
    int packed;
    char *sql; /* ST_UNIT_COPY: the COPY or INSERT statement; rows are nrows * ncols values */
    size_t ncols;
    hc_store_value_t *rows;
    size_t nrows;
    size_t bytes; /* counted against queue_max_bytes */
    int status;
    char *errmsg;
    hc_store_done_cb cb;
    void *arg;
} st_unit_t;

/* A read's rows while they are being collected; r is what the callback sees. */
typedef struct st_rows {
    hc_store_result_t r;
    char **names;
    hc_store_value_t *cells;
    size_t ncells, cap;
    size_t bytes, max;
} st_rows_t;

typedef struct st_query {
    hc_store_t *st;
    st_stmt_t stmt;
    hc_store_result_cb cb;
    void *arg;
    int status;
    char *errmsg;
    st_rows_t rows;
    int binary;            /* PostgreSQL: binary result format (hc_store_query_binary) */
    uv_work_t work;        /* SQLite: the thread-pool request */
    struct st_query *next; /* PostgreSQL: waiting for a connection */
} st_query_t;

typedef struct st_backend {
    const char *name;
    /* Opens the write connection for target (path or conninfo). Start-up, may block. */
    int (*open)(hc_store_t *st, const char *target);
    /* Creates hearth_migrations when missing. */
    int (*migrate_setup)(hc_store_t *st);
    /* Applies m in one transaction unless recorded: 1 applied, 0 already, < 0 error. */
    int (*migrate_one)(hc_store_t *st, const char *service, const hc_store_migration_t *m);
    /* Writer thread: runs units in one transaction, setting each status. Returns the
     * number of transactions committed (0 or more: after a COMMIT refused for the batch's
     * own content, a backend may run each unit in a transaction of its own), or < 0 when
     * the database failed and the whole batch should be retried after a pause. */
    int (*write)(hc_store_t *st, st_unit_t **units, size_t n);
    /* Loop thread: starts a read that ends with st_query_finish(q). */
    void (*query)(hc_store_t *st, st_query_t *q);
    /* Loop thread, no read in flight: closes handles through st_handle_ref/unref. */
    void (*close_reads)(hc_store_t *st);
    /* After the writer thread ended and every handle closed: frees the connections. */
    void (*free)(hc_store_t *st);
} st_backend_t;

extern const st_backend_t st_backend_sqlite;
extern const st_backend_t st_backend_pg;

struct hc_store {
    uv_loop_t *loop;
    const st_backend_t *be;
    void *be_data;
    hc_store_options_t o;
    char *target;

    uv_mutex_t lock; /* guards everything down to 'writer_done' */
    uv_cond_t cond;
    st_unit_t *head, **tail;           /* queued, in order */
    st_unit_t *done_head, **done_tail; /* finished, callbacks pending */
    size_t q_units, q_bytes;
    hc_store_stats_t stats;
    int closing;
    int writer_done;

    uv_mutex_t wlock; /* the write connection: writer thread or hc_store_migrate */
    uv_thread_t writer;
    int writer_started;
    uv_async_t async;
    uv_prepare_t kick; /* wakes the writer once per loop iteration (group commit) */
    int kick_pending;  /* units enqueued since the writer was last woken; loop thread only */
    size_t reads_inflight;
    st_query_t *deferred; /* reads failed at start, finished from on_async */
    int handles;          /* libuv handles not yet closed, the async included */
    int finishing;
    hc_store_close_cb close_cb;
    void *close_arg;
};

/* hc_store_writer.c */
int st_writer_start(hc_store_t *st);
int st_enqueue(hc_store_t *st, st_unit_t *u);
void st_deliver(hc_store_t *st);
void st_unit_free(st_unit_t *u);

/* hc_store.c */
void st_stmt_copy(st_stmt_t *dst, const char *sql, const hc_store_value_t *p, size_t n);
void st_stmt_clear(st_stmt_t *s);
void st_values_copy(hc_store_value_t *dst, const hc_store_value_t *src, size_t n);
void st_values_clear(hc_store_value_t *v, size_t n);
/* Result collection: begin with the column count and names, then push cells in order. */
void st_rows_begin(st_rows_t *rs, size_t ncols, size_t max);
void st_rows_name(st_rows_t *rs, size_t col, const char *name);
int st_rows_push(st_rows_t *rs, const hc_store_value_t *v);
void st_rows_free(st_rows_t *rs);
/* Sets status and a copy of msg; used by both backends. */
void st_set_error(int *status, char **errmsg, int err, const char *msg);
void st_query_finish(st_query_t *q);
/* Finishes q (its error set) from the loop's next turn, never from inside the call. */
void st_query_defer(st_query_t *q);
void st_maybe_finish(hc_store_t *st);
void st_handle_ref(hc_store_t *st);
void st_handle_unref(hc_store_t *st);

/* ---- PostgreSQL: shared by hc_store_pg.c (writer, migrations) and hc_store_pg_read.c ---- */
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
struct pg_slot;

/* A statement the writer connection has prepared (for this SQL and parameter types). */
typedef struct pg_prep {
    char *sql;
    const char *key; /* the static SQL it was prepared from, found by address; else NULL */
    unsigned *types;
    int n;
    char name[16];
} pg_prep_t;

enum { PG_PREP_MAX = 32 };

typedef struct pg_data {
    PGconn *writer;              /* writer thread only (and hc_store_migrate) */
    pg_prep_t prep[PG_PREP_MAX]; /* the writer connection's prepared statements */
    unsigned nprep, prep_seq;
    int solo;              /* next batch runs one unit: a COMMIT failed on a batch */
    struct pg_slot *slots; /* the read pool, loop thread only */
    unsigned nslots;
    st_query_t *wait_head, **wait_tail; /* reads waiting for a connection */
} pg_data_t;

/* Parameters in libpq's form: text for numbers and text, binary for blobs. */
typedef struct pg_params {
    int n;
    const char **values;
    int *lengths;
    int *formats;
    unsigned *types;
    char (*nums)[32];
} pg_params_t;

void pg_params_build(pg_params_t *pp, const hc_store_value_t *v, size_t n);
void pg_params_free(pg_params_t *pp);
/* hc_store error for a failed result: -EEXIST, -EINVAL, or 1 when the database itself
 * failed (connection, shutdown, resources, serialization) and the work should be retried. */
int pg_result_error(const PGresult *r);
/* Collects a PGRES_TUPLES_OK result (text or binary format) into rows, typed by column type.
 * 0, -EFBIG, or -ENOTSUP (a binary column of a type it does not read). */
int pg_rows_collect(st_rows_t *rows, const PGresult *r, size_t max);
/* Starts a connection to st->target: blocking (writer) or not (read pool). */
PGconn *pg_connect(hc_store_t *st, int async);
/* The read pool (hc_store_pg_read.c): sized at open, closed at close, freed last. */
void pg_pool_init(hc_store_t *st);
void pg_query(hc_store_t *st, st_query_t *q);
void pg_close_reads(hc_store_t *st);
void pg_pool_free(hc_store_t *st);

#endif
