/* hc_store over SQLite in a temporary directory: parameter round trips, group commit,
 * the bounded queue, migrations, per-caller errors, the bulk path, reads off the loop,
 * and close flushing the queue. Callbacks only record into fixed arrays (no allocation:
 * the writer thread allocates meanwhile). */
#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_store.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <math.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

enum { MAX_CB = 512 };

typedef struct fx {
    char dir[64];
    char path[96];
    char url[128];
    uv_loop_t loop;
    hc_store_t *st;
    uv_thread_t loop_thread;
    int closed;
    /* write callbacks, in the order they fired */
    int ndone;
    int status[MAX_CB];
    int had_msg[MAX_CB];
    int visible[MAX_CB]; /* the unit's row was visible to another connection */
    int id[MAX_CB];
    int wrong_thread;
} fx_t;

typedef struct done_ctx {
    fx_t *f;
    int id;
} done_ctx_t;

/* Counts rows with k = id through a connection of its own: proves a commit. */
static int rows_with_k(const char *path, const char *table, int id)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    char sql[128];
    int n = -1;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE k = %d", table, id);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return n;
}

static void on_done(void *arg, int status, const char *errmsg)
{
    done_ctx_t *c = arg;
    fx_t *f = c->f;
    int i = f->ndone++;
    uv_thread_t self = uv_thread_self();
    if (!uv_thread_equal(&self, &f->loop_thread))
        f->wrong_thread = 1;
    f->status[i] = status;
    f->had_msg[i] = errmsg && *errmsg;
    f->id[i] = c->id;
    f->visible[i] = status ? 0 : rows_with_k(f->path, "t", c->id);
}

static void on_wake(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *flag reaches want, for 20 s at most: a timer wakes the loop, so
 * the deadline holds even when nothing else would (a write retried forever). */
static void run_until(fx_t *f, const int *flag, int want)
{
    uv_timer_t tick;
    uv_timer_init(&f->loop, &tick);
    uv_timer_start(&tick, on_wake, 100, 100);
    uint64_t deadline = uv_hrtime() + 20ull * 1000000000u;
    while (*flag < want && uv_hrtime() < deadline)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_true(*flag >= want);
}

static const hc_store_migration_t base_schema[] = {
    {1, "CREATE TABLE t (k INTEGER PRIMARY KEY, i INTEGER, d REAL, s TEXT, b BLOB, n TEXT)",
     "unused"},
};

static void fx_open(fx_t *f, const hc_store_options_t *o)
{
    assert_int_equal(hc_store_open(&f->loop, f->url, o, &f->st), 0);
    assert_string_equal(hc_store_backend(f->st), "sqlite");
    assert_int_equal(hc_store_migrate(f->st, "test", base_schema, 1, NULL), 0);
}

static void on_closed(void *arg)
{
    ((fx_t *)arg)->closed = 1;
}

static void fx_close(fx_t *f)
{
    f->closed = 0;
    hc_store_close(f->st, on_closed, f);
    run_until(f, &f->closed, 1);
    f->st = NULL;
}

static int setup(void **state)
{
    static fx_t f;
    memset(&f, 0, sizeof(f));
    snprintf(f.dir, sizeof(f.dir), "/tmp/hc-store-XXXXXX");
    if (!mkdtemp(f.dir))
        return -1;
    snprintf(f.path, sizeof(f.path), "%s/db.sqlite", f.dir);
    snprintf(f.url, sizeof(f.url), "sqlite:%s", f.path);
    uv_loop_init(&f.loop);
    f.loop_thread = uv_thread_self();
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    if (f->st) {
        /* a failed test: cmocka already freed the store's blocks under its threads */
        fprintf(stderr, "# a failed test left the store open\n");
        _exit(1);
    }
    int rc = uv_loop_close(&f->loop);
    char p[128];
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    return rc;
}

/* ---- reads ---- */

typedef struct read_ctx {
    int done;
    int status;
    int had_msg;
    int wrong_thread;
    uv_thread_t loop_thread;
    int ticks_before; /* timer ticks seen when the result arrived */
    int col_k;        /* hc_store_column(res, "k") */
    int *ticks;
    /* copied out of the result */
    size_t nrows, ncols;
    hc_store_value_t cells[16];
    char text[16][64];
    char names[16][16];
} read_ctx_t;

static void on_rows(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    read_ctx_t *r = arg;
    uv_thread_t self = uv_thread_self();
    r->wrong_thread = !uv_thread_equal(&self, &r->loop_thread);
    r->status = status;
    r->had_msg = errmsg && *errmsg;
    r->ticks_before = r->ticks ? *r->ticks : 0;
    if (res) {
        r->nrows = res->nrows;
        r->ncols = res->ncols;
        r->col_k = hc_store_column(res, "k");
        for (size_t i = 0; i < res->ncols && i < 16; i++)
            snprintf(r->names[i], sizeof(r->names[i]), "%s", res->names[i]);
        for (size_t i = 0; i < res->nrows * res->ncols && i < 16; i++) {
            r->cells[i] = res->cells[i];
            if (res->cells[i].type == HC_STORE_TEXT || res->cells[i].type == HC_STORE_BLOB) {
                size_t n = res->cells[i].v.s.len < 64 ? res->cells[i].v.s.len : 64;
                memcpy(r->text[i], res->cells[i].v.s.p, n);
                r->cells[i].v.s.p = r->text[i];
            }
        }
    }
    r->done = 1;
}

static void query(fx_t *f, read_ctx_t *r, const char *sql, const hc_store_value_t *p, size_t n)
{
    memset(r, 0, sizeof(*r));
    r->loop_thread = f->loop_thread;
    assert_int_equal(hc_store_query(f->st, sql, p, n, on_rows, r), 0);
    assert_int_equal(r->done, 0); /* never from inside the call */
    run_until(f, &r->done, 1);
    assert_int_equal(r->wrong_thread, 0);
}

static int64_t count_rows(fx_t *f, const char *sql)
{
    read_ctx_t r;
    query(f, &r, sql, NULL, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.nrows, 1);
    assert_int_equal(r.cells[0].type, HC_STORE_INT);
    return r.cells[0].v.i;
}

/* ---- tests ---- */

static void test_url_forms(void **state)
{
    fx_t *f = *state;
    static const char *const bad[] = {"mysql://x", "sqlite:", "postgres:/x", "", "redis://h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hc_store_open(&f->loop, bad[i], NULL, &f->st), -EINVAL);
    assert_int_equal(hc_store_open(&f->loop, NULL, NULL, &f->st), -EINVAL);
    const char *forms[] = {"sqlite://%s", "file:%s", "sqlite:%s"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(f->url, sizeof(f->url), forms[i], f->path);
        assert_int_equal(hc_store_open(&f->loop, f->url, NULL, &f->st), 0);
        assert_int_equal(count_rows(f, "SELECT 41 + 1"), 42);
        fx_close(f);
    }
    assert_int_equal(access(f->path, F_OK), 0);
    snprintf(f->url, sizeof(f->url), "sqlite:%s/missing/dir/db", f->dir);
    assert_int_equal(hc_store_open(&f->loop, f->url, NULL, &f->st), -EIO);
}

/* A PostgreSQL URL that libpq cannot parse fails with -EINVAL, and the log line does not
 * carry the password: libpq's own message quotes the malformed part of the URL. */
static void test_bad_pg_url_keeps_password_out_of_logs(void **state)
{
    fx_t *f = *state;
    static const char *const urls[] = {
        "postgresql://app:s3cr%zzet@127.0.0.1:1/db", /* bad percent-encoding */
        "postgres://app:s3cr%zzet@[::1/db",          /* unclosed IPv6 bracket */
    };
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
    hc_log_setup(HC_LOG_DEBUG, HC_LOG_FORMAT_JSON);
    hc_log_set_fd(fds[1]);
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        assert_int_equal(hc_store_open(&f->loop, urls[i], NULL, &f->st), -EINVAL);
        char buf[4096];
        ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
        assert_true(n > 0);
        buf[n] = '\0';
        assert_non_null(strstr(buf, "DATABASE_URL"));
        assert_null(strstr(buf, "s3cr"));
    }
    hc_log_set_fd(-1);
    hc_log_setup(HC_LOG_INFO, HC_LOG_FORMAT_JSON);
    close(fds[0]);
    close(fds[1]);
}

static void test_params_round_trip(void **state)
{
    fx_t *f = *state;
    fx_open(f, NULL);
    static const unsigned char blob[] = {0, 1, 0xff, 0, 'x'};
    const struct {
        hc_store_value_t v;
        const char *col;
    } cases[] = {
        {hc_store_int(INT64_MAX), "i"}, {hc_store_int(INT64_MIN), "i"},
        {hc_store_int(-7), "i"},        {hc_store_double(3.25), "d"},
        {hc_store_double(-1e300), "d"}, {hc_store_text("h\xc3\xa9llo 'quoted' \"x\""), "s"},
        {hc_store_text(""), "s"},       {hc_store_blob(blob, sizeof(blob)), "b"},
        {hc_store_blob("", 0), "b"},    {hc_store_null(), "n"},
        {hc_store_text(NULL), "s"},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    done_ctx_t ctx[N];
    char sql[128];
    for (int i = 0; i < N; i++) {
        ctx[i] = (done_ctx_t){f, i};
        /* parameters written in reverse order: $2 before $1 */
        snprintf(sql, sizeof(sql), "INSERT INTO t (%s, k) VALUES ($2, $1)", cases[i].col);
        hc_store_value_t p[] = {hc_store_int(i), cases[i].v};
        assert_int_equal(hc_store_exec(f->st, sql, p, 2, on_done, &ctx[i]), 0);
    }
    run_until(f, &f->ndone, N);
    for (int i = 0; i < N; i++) {
        read_ctx_t r;
        snprintf(sql, sizeof(sql), "SELECT %s AS v, k FROM t WHERE k = $1", cases[i].col);
        hc_store_value_t p = hc_store_int(i);
        query(f, &r, sql, &p, 1);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.nrows, 1);
        assert_int_equal(r.ncols, 2);
        assert_string_equal(r.names[0], "v");
        assert_string_equal(r.names[1], "k");
        assert_int_equal(r.col_k, 1);
        const hc_store_value_t *want = &cases[i].v, *got = &r.cells[0];
        assert_int_equal(got->type, want->type);
        if (want->type == HC_STORE_INT)
            assert_true(got->v.i == want->v.i);
        else if (want->type == HC_STORE_DOUBLE)
            assert_true(got->v.d == want->v.d);
        else if (want->type != HC_STORE_NULL) {
            assert_int_equal(got->v.s.len, want->v.s.len);
            assert_memory_equal(got->v.s.p, want->v.s.p, want->v.s.len);
        }
    }
    fx_close(f);
}

static void test_group_commit(void **state)
{
    fx_t *f = *state;
    fx_open(f, NULL);
    enum { N = 300 };
    static done_ctx_t ctx[N];
    for (int i = 0; i < N; i++) {
        ctx[i] = (done_ctx_t){f, i};
        hc_store_value_t p[] = {hc_store_int(i), hc_store_text("row")};
        assert_int_equal(
            hc_store_exec(f->st, "INSERT INTO t (k, s) VALUES ($1, $2)", p, 2, on_done, &ctx[i]),
            0);
    }
    assert_int_equal(f->ndone, 0);
    run_until(f, &f->ndone, N);
    assert_int_equal(f->wrong_thread, 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(f->status[i], 0);
        assert_int_equal(f->visible[i], 1); /* committed before its callback */
        assert_int_equal(f->id[i], i);      /* in order */
    }
    hc_store_stats_t s;
    hc_store_stats(f->st, &s);
    assert_true(s.transactions >= 1 && s.transactions < N / 2);
    assert_int_equal(s.units_committed, N);
    assert_int_equal(s.queued_units, 0);
    assert_int_equal(s.queued_bytes, 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM t"), N);
    fx_close(f);
}

/* ---- checkpoints ---- */

static long long file_size(const char *path, const char *suffix)
{
    char p[160];
    struct stat sb;
    snprintf(p, sizeof(p), "%s%s", path, suffix);
    return stat(p, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* Writes waves of WAVE units, each with a 16 KiB blob (4 overflow pages), waiting for
 * each wave's acknowledgements; rows are numbered from *k. */
static void write_waves(fx_t *f, int *k, int waves, done_ctx_t *ctx)
{
    enum { WAVE = 10, BLOB = 16384 };
    static char blob[BLOB];
    memset(blob, 'x', sizeof(blob));
    for (int w = 0; w < waves; w++) {
        for (int i = 0; i < WAVE; i++, (*k)++) {
            ctx[*k] = (done_ctx_t){f, *k};
            hc_store_value_t p[] = {hc_store_int(*k), hc_store_blob(blob, BLOB)};
            assert_int_equal(hc_store_exec(f->st, "INSERT INTO t (k, b) VALUES ($1, $2)", p, 2,
                                           on_done, &ctx[*k]),
                             0);
        }
        run_until(f, &f->ndone, *k);
    }
}

/* The WAL is copied into the database file by a thread of its own once it passes
 * sqlite_checkpoint_pages, not inside the commits that acknowledge writes; when that
 * thread falls behind, or a reader holds the WAL back, past four times that, the writer
 * checkpoints itself. */
static void test_checkpoints_beside_the_writer(void **state)
{
    fx_t *f = *state;
    hc_store_options_t o = {.sqlite_checkpoint_pages = 32};
    fx_open(f, &o);
    static done_ctx_t ctx[MAX_CB];
    int k = 0;
    write_waves(f, &k, 20, ctx); /* 800 pages in 20 commits of ~40 */
    hc_store_stats_t s = {0};
    long long db = 0;
    /* A commit that starts the WAL again below 32 pages wants no checkpoint, so up to 31
     * pages (under 8 blobs) may stay in the WAL: 190 of the 200 blobs must reach the file. */
    for (int i = 0; i < 200 && (s.checkpoints == 0 || db < 190LL * 16384); i++) {
        usleep(50000);
        hc_store_stats(f->st, &s);
        db = file_size(f->path, "");
    }
    fprintf(stderr, "# checkpoints %llu (inline %llu), database %lld bytes, WAL %lld bytes\n",
            (unsigned long long)s.checkpoints, (unsigned long long)s.checkpoints_inline, db,
            file_size(f->path, "-wal"));
    assert_true(s.checkpoints >= 1);
    assert_true(db >= 190LL * 16384);
    /* 3.2 MiB went through the WAL: it was started again from the top at least once (how
     * often depends on the disk: the checkpointer syncs while waves keep committing) */
    assert_true(file_size(f->path, "-wal") < 200LL * 16384);

    /* a reader's snapshot keeps the checkpoints from reaching the end of the WAL */
    sqlite3 *rd;
    assert_int_equal(sqlite3_open_v2(f->path, &rd, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(rd, "BEGIN; SELECT count(*) FROM t", NULL, NULL, NULL),
                     SQLITE_OK);
    uint64_t inline_before = s.checkpoints_inline;
    write_waves(f, &k, 6, ctx); /* 240 pages: past 4 x 32 */
    hc_store_stats(f->st, &s);
    assert_true(s.checkpoints_inline > inline_before);
    sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(rd);
    for (int i = 0; i < MAX_CB && i < k; i++)
        assert_int_equal(f->status[i], 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM t"), k);
    fx_close(f);
}

static void test_queue_full(void **state)
{
    fx_t *f = *state;
    hc_store_options_t o = {.queue_max_units = 4, .queue_max_bytes = 4096};
    fx_open(f, &o);
    done_ctx_t ctx[8];
    for (int i = 0; i < 8; i++) {
        ctx[i] = (done_ctx_t){f, i};
        hc_store_value_t p = hc_store_int(i);
        int rc = hc_store_exec(f->st, "INSERT INTO t (k) VALUES ($1)", &p, 1, on_done, &ctx[i]);
        assert_int_equal(rc, i < 4 ? 0 : -EAGAIN);
    }
    run_until(f, &f->ndone, 4);
    /* room again once acknowledged; a unit over the byte limit never fits */
    hc_store_value_t p = hc_store_int(4);
    assert_int_equal(hc_store_exec(f->st, "INSERT INTO t (k) VALUES ($1)", &p, 1, on_done, &ctx[4]),
                     0);
    static char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    hc_store_value_t pb[] = {hc_store_int(5), hc_store_text(big)};
    assert_int_equal(
        hc_store_exec(f->st, "INSERT INTO t (k, s) VALUES ($1, $2)", pb, 2, on_done, &ctx[5]),
        -EAGAIN);
    run_until(f, &f->ndone, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(f->status[i], 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM t"), 5);
    fx_close(f);
}

static void test_error_reaches_only_its_caller(void **state)
{
    fx_t *f = *state;
    fx_open(f, NULL);
    static const struct {
        const char *sql;
        int nparams;
        int want;
    } cases[] = {
        {"INSERT INTO t (k) VALUES ($1)", 1, 0},
        {"INSERT INTO nowhere (k) VALUES ($1)", 1, -EINVAL},
        {"INSERT INTO t (k) VALUES ($1)", 1, -EEXIST},        /* the same k as case 0 */
        {"INSERT INTO t (k, i) VALUES ($1, $2)", 1, -EINVAL}, /* $2 has no value */
        {"INSRT INTO t (k) VALUES ($1)", 1, -EINVAL},
        {"INSERT INTO t (k) VALUES ($1); DELETE FROM t", 1, -EINVAL},
        {"INSERT INTO t (k) VALUES ($1)", 1, 0},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    done_ctx_t ctx[N];
    for (int i = 0; i < N; i++) {
        ctx[i] = (done_ctx_t){f, i};
        hc_store_value_t p = hc_store_int(i == 2 ? 0 : i);
        assert_int_equal(
            hc_store_exec(f->st, cases[i].sql, &p, (size_t)cases[i].nparams, on_done, &ctx[i]), 0);
    }
    run_until(f, &f->ndone, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(f->id[i], i);
        assert_int_equal(f->status[i], cases[i].want);
        assert_int_equal(f->had_msg[i], cases[i].want != 0);
    }
    assert_int_equal(count_rows(f, "SELECT count(*) FROM t"), 2);
    hc_store_stats_t s;
    hc_store_stats(f->st, &s);
    assert_int_equal(s.units_failed, 5);
    assert_int_equal(s.units_committed, 2);
    fx_close(f);
}

static void test_group_is_atomic(void **state)
{
    fx_t *f = *state;
    fx_open(f, NULL);
    hc_store_value_t a = hc_store_int(1), b = hc_store_int(2);
    hc_store_stmt_t bad[] = {
        {"INSERT INTO t (k) VALUES ($1)", &a, 1},
        {"INSERT INTO t (k) VALUES ($1)", &a, 1}, /* duplicate key: the group fails */
    };
    hc_store_stmt_t good[] = {
        {"INSERT INTO t (k) VALUES ($1)", &a, 1},
        {"INSERT INTO t (k) VALUES ($1)", &b, 1},
    };
    done_ctx_t c0 = {f, 100}, c1 = {f, 1};
    assert_int_equal(hc_store_exec_group(f->st, bad, 2, on_done, &c0), 0);
    assert_int_equal(hc_store_exec_group(f->st, good, 2, on_done, &c1), 0);
    assert_int_equal(hc_store_exec_group(f->st, good, 0, on_done, &c1), -EINVAL);
    run_until(f, &f->ndone, 2);
    assert_int_equal(f->status[0], -EEXIST);
    assert_int_equal(f->status[1], 0);
    assert_int_equal(f->visible[1], 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM t"), 2);
    fx_close(f);
}

/* Statements marked sql_static are not copied: the unit points at the caller's SQL and
 * the writer finds the prepared statement by its address. Mixed with copied texts of the
 * same SQL, and in a batch whose failing group is replayed alone, rows and errors are as
 * with copies. */
static void test_static_sql(void **state)
{
    fx_t *f = *state;
    fx_open(f, NULL);
    static const char ins[] = "INSERT INTO t (k, s) VALUES ($1, $2)";
    static const char upd[] = "UPDATE t SET i = $2 WHERE k = $1";
    char copied[sizeof(ins)];
    memcpy(copied, ins, sizeof(ins));
    hc_store_value_t r1[] = {hc_store_int(1), hc_store_text("one")};
    hc_store_value_t r2[] = {hc_store_int(2), hc_store_text("two")};
    hc_store_value_t r3[] = {hc_store_int(3), hc_store_text("three")};
    hc_store_value_t u1[] = {hc_store_int(1), hc_store_int(10)};
    hc_store_value_t u3[] = {hc_store_int(3), hc_store_int(30)};
    hc_store_stmt_t g1[] = {{ins, r1, 2, 1}, {upd, u1, 2, 1}, {copied, r2, 2, 0}};
    hc_store_stmt_t g2[] = {{ins, r1, 2, 1}}; /* k = 1 again: this group alone fails */
    hc_store_stmt_t g3[] = {{copied, r3, 2, 0}, {upd, u3, 2, 1}};
    done_ctx_t c[3] = {{f, 1}, {f, 2}, {f, 3}};
    assert_int_equal(hc_store_exec_group(f->st, g1, 3, on_done, &c[0]), 0);
    assert_int_equal(hc_store_exec_group(f->st, g2, 1, on_done, &c[1]), 0);
    assert_int_equal(hc_store_exec_group(f->st, g3, 2, on_done, &c[2]), 0);
    memset(copied, 0, sizeof(copied)); /* the units hold copies of it */
    run_until(f, &f->ndone, 3);
    static const int want[] = {0, -EEXIST, 0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(f->status[i], want[i]);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM t"), 3);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM t WHERE (k = 1 AND s = 'one' AND i = 10) "
                                   "OR (k = 2 AND s = 'two' AND i IS NULL) "
                                   "OR (k = 3 AND s = 'three' AND i = 30)"),
                     3);
    fx_close(f);
}

/* A deferred foreign key fails the COMMIT, not a statement: the batch runs again one unit
 * per transaction, so only the unit at fault fails and the queue moves on (it used to be
 * retried forever). */
static void test_deferred_fk_fails_only_its_unit(void **state)
{
    static const hc_store_migration_t fk_schema[] = {
        {1, "CREATE TABLE fkp (k INTEGER PRIMARY KEY)", "unused"},
        {2, "CREATE TABLE fkc (k INTEGER PRIMARY KEY, "
            "p INTEGER REFERENCES fkp (k) DEFERRABLE INITIALLY DEFERRED)", "unused"},
    };
    fx_t *f = *state;
    fx_open(f, NULL);
    assert_int_equal(hc_store_migrate(f->st, "fk", fk_schema, 2, NULL), 0);
    hc_store_value_t one = hc_store_int(1), two = hc_store_int(2), three = hc_store_int(3);
    hc_store_value_t orphan[] = {hc_store_int(1), hc_store_int(999)};
    hc_store_value_t child[] = {hc_store_int(2), hc_store_int(5)}, parent = hc_store_int(5);
    hc_store_stmt_t pair[] = {
        {"INSERT INTO fkc (k, p) VALUES ($1, $2)", child, 2}, /* parent comes later */
        {"INSERT INTO fkp (k) VALUES ($1)", &parent, 1},
    };
    done_ctx_t ctx[5] = {{f, 1}, {f, 100}, {f, 2}, {f, 101}, {f, 3}};
    const char *ins = "INSERT INTO t (k) VALUES ($1)";
    assert_int_equal(hc_store_exec(f->st, ins, &one, 1, on_done, &ctx[0]), 0);
    assert_int_equal(hc_store_exec(f->st, "INSERT INTO fkc (k, p) VALUES ($1, $2)", orphan, 2,
                                   on_done, &ctx[1]), 0);
    assert_int_equal(hc_store_exec(f->st, ins, &two, 1, on_done, &ctx[2]), 0);
    assert_int_equal(hc_store_exec_group(f->st, pair, 2, on_done, &ctx[3]), 0);
    run_until(f, &f->ndone, 4);
    static const int want[] = {0, -EINVAL, 0, 0};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(f->id[i], ctx[i].id);
        assert_int_equal(f->status[i], want[i]);
        assert_int_equal(f->had_msg[i], want[i] != 0);
    }
    assert_int_equal(f->visible[0], 1);
    assert_int_equal(f->visible[2], 1);
    /* the queue is not blocked */
    assert_int_equal(hc_store_exec(f->st, ins, &three, 1, on_done, &ctx[4]), 0);
    run_until(f, &f->ndone, 5);
    assert_int_equal(f->status[4], 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM t"), 3);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM fkc"), 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM fkp WHERE k = 5"), 1);
    hc_store_stats_t s;
    hc_store_stats(f->st, &s);
    assert_int_equal(s.units_failed, 1);
    assert_int_equal(s.units_committed, 4);
    fx_close(f);
}

static void test_copy_bulk(void **state)
{
    fx_t *f = *state;
    fx_open(f, NULL);
    enum { ROWS = 200 };
    static hc_store_value_t rows[ROWS * 3];
    for (int r = 0; r < ROWS; r++) {
        rows[r * 3] = hc_store_int(1000 + r);
        rows[r * 3 + 1] = hc_store_text("tab\there\nline\\");
        rows[r * 3 + 2] = r % 2 ? hc_store_double(r / 4.0) : hc_store_null();
    }
    static const char *const cols[] = {"k", "s", "d"};
    done_ctx_t c0 = {f, 1000}, c1 = {f, 2};
    assert_int_equal(hc_store_copy(f->st, "t", cols, 3, rows, ROWS, on_done, &c0), 0);
    assert_int_equal(hc_store_copy(f->st, "no\"such", cols, 3, rows, 1, on_done, &c1), 0);
    run_until(f, &f->ndone, 2);
    assert_int_equal(f->status[0], 0);
    assert_int_equal(f->visible[0], 1);
    assert_int_equal(f->status[1], -EINVAL);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM t WHERE s = 'tab\there\nline\\'"), ROWS);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM t WHERE d IS NULL"), ROWS / 2);
    fx_close(f);
}

static void test_migrations(void **state)
{
    fx_t *f = *state;
    assert_int_equal(hc_store_open(&f->loop, f->url, NULL, &f->st), 0);
    /* out of order on purpose: 2 needs the table 1 creates */
    hc_store_migration_t m[] = {
        {2, "ALTER TABLE a ADD COLUMN y TEXT; CREATE INDEX a_y ON a (y)", "-"},
        {1, "CREATE TABLE a (x INTEGER)", "-"},
        {3, "INSERT INTO a (x, y) VALUES (1, 'one')", "-"},
    };
    size_t applied = 99;
    assert_int_equal(hc_store_migrate(f->st, "svc", m, 2, &applied), 0);
    assert_int_equal(applied, 2);
    assert_int_equal(hc_store_migrate(f->st, "svc", m, 2, &applied), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(hc_store_migrate(f->st, "svc", m, 3, &applied), 0);
    assert_int_equal(applied, 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM a WHERE y = 'one'"), 1);
    /* another service keeps its own versions */
    hc_store_migration_t other[] = {{1, "CREATE TABLE b (z INTEGER)", "-"}};
    assert_int_equal(hc_store_migrate(f->st, "other", other, 1, &applied), 0);
    assert_int_equal(applied, 1);
    read_ctx_t r;
    query(f, &r, "SELECT service, version FROM hearth_migrations ORDER BY service, version", NULL,
          0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.nrows, 4);
    assert_string_equal(r.text[0], "other");
    assert_int_equal(r.cells[3].v.i, 1);
    assert_int_equal(r.cells[5].v.i, 2);
    assert_int_equal(r.cells[7].v.i, 3);
    assert_int_equal(
        count_rows(f, "SELECT count(*) FROM hearth_migrations WHERE applied_at LIKE '20%Z'"), 4);
    /* bad input: duplicate versions, version 0, failing SQL (not recorded, earlier kept) */
    hc_store_migration_t dup[] = {{4, "SELECT 1", "-"}, {4, "SELECT 2", "-"}};
    assert_int_equal(hc_store_migrate(f->st, "svc", dup, 2, &applied), -EINVAL);
    hc_store_migration_t zero[] = {{0, "SELECT 1", "-"}};
    assert_int_equal(hc_store_migrate(f->st, "svc", zero, 1, &applied), -EINVAL);
    hc_store_migration_t broken[] = {
        {4, "CREATE TABLE c (x INTEGER)", "-"},
        {5, "CREATE TABLE d (x INTEGER); CREATE TABLE oops (", "-"},
    };
    assert_int_equal(hc_store_migrate(f->st, "svc", broken, 2, &applied), -EINVAL);
    assert_int_equal(applied, 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM hearth_migrations WHERE service = 'svc'"),
                     4);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM sqlite_master WHERE name = 'd'"), 0);
    fx_close(f);
}

static void on_tick(uv_timer_t *t)
{
    (*(int *)t->data)++;
}

static void test_reads_off_loop(void **state)
{
    fx_t *f = *state;
    fx_open(f, NULL);
    int ticks = 0;
    uv_timer_t timer;
    uv_timer_init(&f->loop, &timer);
    timer.data = &ticks;
    uv_timer_start(&timer, on_tick, 5, 5);
    read_ctx_t r;
    memset(&r, 0, sizeof(r));
    r.loop_thread = f->loop_thread;
    r.ticks = &ticks;
    /* a read that keeps a thread busy for a while */
    assert_int_equal(
        hc_store_query(f->st,
                       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                       "WHERE x < $1) SELECT count(*) AS n FROM c",
                       &(hc_store_value_t){.type = HC_STORE_INT, .v.i = 3000000}, 1, on_rows, &r),
        0);
    assert_int_equal(r.done, 0);
    run_until(f, &r.done, 1);
    uv_timer_stop(&timer);
    uv_close((uv_handle_t *)&timer, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.cells[0].v.i, 3000000);
    assert_string_equal(r.names[0], "n");
    assert_int_equal(r.col_k, -1);
    assert_int_equal(r.wrong_thread, 0);
    assert_true(r.ticks_before >= 2); /* the loop kept running meanwhile */

    /* a read's own error */
    query(f, &r, "SELECT * FROM missing_table", NULL, 0);
    assert_int_equal(r.status, -EINVAL);
    assert_int_equal(r.had_msg, 1);
    hc_store_options_t tiny = {.result_max_bytes = 1000};
    fx_close(f);
    fx_open(f, &tiny);
    query(f, &r,
          "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) "
          "SELECT x FROM c",
          NULL, 0);
    assert_int_equal(r.status, -EFBIG);
    fx_close(f);
}

static void test_close_flushes_queue(void **state)
{
    fx_t *f = *state;
    fx_open(f, NULL);
    enum { N = 100 };
    static done_ctx_t ctx[N];
    for (int i = 0; i < N; i++) {
        ctx[i] = (done_ctx_t){f, i};
        hc_store_value_t p = hc_store_int(i);
        assert_int_equal(
            hc_store_exec(f->st, "INSERT INTO t (k) VALUES ($1)", &p, 1, on_done, &ctx[i]), 0);
    }
    hc_store_close(f->st, on_closed, f);
    hc_store_value_t p = hc_store_int(N);
    assert_int_equal(hc_store_exec(f->st, "INSERT INTO t (k) VALUES ($1)", &p, 1, NULL, NULL),
                     -ESHUTDOWN);
    assert_int_equal(hc_store_query(f->st, "SELECT 1", NULL, 0, on_rows, NULL), -ESHUTDOWN);
    run_until(f, &f->closed, 1);
    f->st = NULL;
    assert_int_equal(f->ndone, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(f->status[i], 0);
    assert_int_equal(rows_with_k(f->path, "t", N - 1), 1);
    fx_open(f, NULL);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM t"), N);
    fx_close(f);
}

/* ---- PostgreSQL reads against a fake server ---- */

/* PQflush, interposed over libpq's: once armed, the first call (the read's send) says
 * data is still queued and the later ones fail, as when the server goes away mid-send. */
static int flush_armed, flush_failures;

int PQflush(PGconn *conn)
{
    static int (*real)(PGconn *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "PQflush");
    if (!flush_armed)
        return real(conn);
    if (flush_armed == 1) {
        flush_armed = 2;
        return real(conn) < 0 ? -1 : 1;
    }
    flush_failures++;
    return -1;
}

typedef struct fake_pg {
    int lfd;
    int fds[2];
    int nfds;
} fake_pg_t;

static int read_full(int fd, void *p, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Accepts the writer's and a reader's connection, answering each startup message with
 * AuthenticationOk and ReadyForQuery (PostgreSQL docs, "Message Flow", "Start-up"); then
 * stays silent. Accept and reads time out (SO_RCVTIMEO on the listener). */
static void fake_pg_main(void *arg)
{
    static const char ok[] = {'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I'};
    fake_pg_t *fp = arg;
    unsigned char len[4];
    char body[1024];
    for (int i = 0; i < 2; i++) {
        int fd = accept(fp->lfd, NULL, NULL);
        if (fd < 0)
            return;
        fp->fds[fp->nfds++] = fd;
        if (read_full(fd, len, 4))
            return;
        size_t n = ((size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 | len[3]);
        if (n < 4 || n - 4 > sizeof(body) || read_full(fd, body, n - 4) ||
            write(fd, ok, sizeof(ok)) != (ssize_t)sizeof(ok))
            return;
    }
}

/* PQflush failing on a writable-only event fails the read (its callback gets -EIO); it
 * used to leave the read hanging while the poll fired again and again. */
static void test_pg_read_flush_failure_fails_the_read(void **state)
{
    fx_t *f = *state;
    fake_pg_t fp = {.lfd = socket(AF_INET, SOCK_STREAM, 0)};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    struct timeval tv = {.tv_sec = 10};
    assert_true(fp.lfd >= 0);
    assert_int_equal(setsockopt(fp.lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    assert_int_equal(bind(fp.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fp.lfd, 4), 0);
    assert_int_equal(getsockname(fp.lfd, (struct sockaddr *)&a, &alen), 0);
    uv_thread_t server;
    assert_int_equal(uv_thread_create(&server, fake_pg_main, &fp), 0);
    char url[160];
    snprintf(url, sizeof(url),
             "postgresql://u@127.0.0.1:%d/db?sslmode=disable&gssencmode=disable",
             ntohs(a.sin_port));
    assert_int_equal(hc_store_open(&f->loop, url, NULL, &f->st), 0);
    assert_string_equal(hc_store_backend(f->st), "postgresql");
    flush_armed = 1;
    read_ctx_t r;
    query(f, &r, "SELECT 1", NULL, 0);
    flush_armed = 0;
    assert_int_equal(r.status, -EIO);
    assert_int_equal(flush_failures, 1);
    fx_close(f);
    uv_thread_join(&server);
    for (int i = 0; i < fp.nfds; i++)
        close(fp.fds[i]);
    close(fp.lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_url_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_pg_url_keeps_password_out_of_logs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_params_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_beside_the_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_reaches_only_its_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_is_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_sql, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_fk_fails_only_its_unit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_bulk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_off_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_flushes_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_read_flush_failure_fails_the_read, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
