/* End-to-end fixture for hc_store: runs the same checks against whatever DATABASE_URL
 * names (argv[1], else the environment) and prints TAP. tests/e2e/test_store.py runs it
 * against SQLite and against a real PostgreSQL started by tests/e2e/pg.py. */
#include "core/hc_log.h"
#include "core/hc_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BURSTS = 20, BURST = 500, COPY_ROWS = 1000, READS = 20 };

static uv_loop_t loop;
static int test_no, failures;

static void tap(int ok, const char *what, const char *detail)
{
    printf("%s %d - %s%s%s\n", ok ? "ok" : "not ok", ++test_no, what, detail ? " # " : "",
           detail ? detail : "");
    fflush(stdout);
    failures += !ok;
}

/* Runs the loop until *flag reaches want, for at most 60 seconds. */
static int run_until(const int *flag, int want)
{
    uint64_t deadline = uv_hrtime() + 60ull * 1000000000u;
    while (*flag < want && uv_hrtime() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    return *flag >= want;
}

typedef struct writes {
    int done;
    int failed;
    int first_err;
    char msg[256];
} writes_t;

static void on_write(void *arg, int status, const char *errmsg)
{
    writes_t *w = arg;
    w->done++;
    if (status) {
        w->failed++;
        if (!w->first_err) {
            w->first_err = status;
            snprintf(w->msg, sizeof(w->msg), "%s", errmsg);
        }
    }
}

typedef struct read {
    int done;
    int status;
    size_t nrows;
    hc_store_value_t cells[8];
    char bytes[8][64];
} read_t;

static void on_read(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    read_t *r = arg;
    r->status = status;
    for (size_t i = 0; res && i < res->nrows * res->ncols && i < 8; i++) {
        r->cells[i] = res->cells[i];
        if (res->cells[i].type == HC_STORE_TEXT || res->cells[i].type == HC_STORE_BLOB) {
            size_t n = res->cells[i].v.s.len < 64 ? res->cells[i].v.s.len : 64;
            memcpy(r->bytes[i], res->cells[i].v.s.p, n);
            r->cells[i].v.s.p = r->bytes[i];
        }
    }
    r->nrows = res ? res->nrows : 0;
    r->done = 1;
}

static int query(hc_store_t *st, read_t *r, const char *sql, const hc_store_value_t *p, size_t n)
{
    memset(r, 0, sizeof(*r));
    if (hc_store_query(st, sql, p, n, on_read, r))
        return -1;
    return run_until(&r->done, 1) ? r->status : -ETIMEDOUT;
}

static int64_t count(hc_store_t *st, const char *sql)
{
    read_t r;
    if (query(st, &r, sql, NULL, 0) || r.nrows != 1 || r.cells[0].type != HC_STORE_INT)
        return -1;
    return r.cells[0].v.i;
}

static const hc_store_migration_t schema[] = {
    {1, "CREATE TABLE items (k INTEGER PRIMARY KEY, i INTEGER, d REAL, s TEXT, b BLOB)",
     "CREATE TABLE items (k bigint PRIMARY KEY, i bigint, d double precision, s text, b bytea)"},
    {2, "CREATE INDEX items_i ON items (i)", "CREATE INDEX items_i ON items (i)"},
};

static void check_migrate(hc_store_t *st)
{
    size_t first = 0, again = 9;
    int rc = hc_store_migrate(st, "storecheck", schema, 2, &first);
    rc = rc ? rc : hc_store_migrate(st, "storecheck", schema, 2, &again);
    tap(!rc && first == 2 && again == 0, "migrations apply once", NULL);
}

/* Enqueues one insert, waiting for room when the queue is full. */
static int insert(hc_store_t *st, int64_t k, writes_t *w)
{
    hc_store_value_t p[] = {hc_store_int(k), hc_store_int(k * 7), hc_store_text("burst")};
    for (int tries = 0; tries < 100000; tries++) {
        int rc =
            hc_store_exec(st, "INSERT INTO items (k, i, s) VALUES ($1, $2, $3)", p, 3, on_write, w);
        if (rc != -EAGAIN)
            return rc;
        uv_run(&loop, UV_RUN_ONCE);
    }
    return -EAGAIN;
}

static void check_bursts(hc_store_t *st)
{
    writes_t w = {0};
    int rc = 0;
    for (int b = 0; b < BURSTS && !rc; b++) {
        for (int i = 0; i < BURST && !rc; i++)
            rc = insert(st, (int64_t)b * BURST + i, &w);
        if (!run_until(&w.done, (b + 1) * BURST))
            rc = -ETIMEDOUT;
    }
    hc_store_stats_t s;
    hc_store_stats(st, &s);
    char detail[128];
    snprintf(detail, sizeof(detail), "%llu transactions", (unsigned long long)s.transactions);
    tap(!rc && w.done == BURSTS * BURST && !w.failed, "10000 writes in bursts acknowledged",
        w.failed ? w.msg : NULL);
    tap(s.transactions > 0 && s.transactions < BURSTS * BURST, "writes were group-committed",
        detail);
    tap(count(st, "SELECT count(*) AS n FROM items") == BURSTS * BURST, "every row is stored",
        NULL);
}

static void check_copy(hc_store_t *st)
{
    static hc_store_value_t rows[COPY_ROWS * 4];
    for (int r = 0; r < COPY_ROWS; r++) {
        rows[r * 4] = hc_store_int(100000 + r);
        rows[r * 4 + 1] = hc_store_int(r);
        rows[r * 4 + 2] = hc_store_text("copied\ttab\nnewline\\slash");
        rows[r * 4 + 3] = r % 2 ? hc_store_blob("\0\x01\xff", 3) : hc_store_null();
    }
    static const char *const cols[] = {"k", "i", "s", "b"};
    writes_t w = {0};
    int rc = hc_store_copy(st, "items", cols, 4, rows, COPY_ROWS, on_write, &w);
    int ok = !rc && run_until(&w.done, 1) && !w.failed;
    tap(ok, "bulk copy of 1000 rows acknowledged", w.failed ? w.msg : NULL);
    tap(count(st, "SELECT count(*) FROM items WHERE s = 'copied\ttab\nnewline\\slash'") ==
            COPY_ROWS,
        "bulk rows read back with their text intact", NULL);
}

static int same(const hc_store_value_t *a, const hc_store_value_t *b)
{
    if (a->type != b->type)
        return 0;
    if (a->type == HC_STORE_INT)
        return a->v.i == b->v.i;
    if (a->type == HC_STORE_DOUBLE)
        return a->v.d == b->v.d;
    if (a->type == HC_STORE_NULL)
        return 1;
    return a->v.s.len == b->v.s.len && !memcmp(a->v.s.p, b->v.s.p, a->v.s.len);
}

static void check_typed(hc_store_t *st)
{
    const hc_store_value_t want[] = {
        hc_store_int(INT64_MIN),
        hc_store_double(-2.5e-300),
        hc_store_text("caf\xc3\xa9 \"quoted\" 'single' \\ back"),
        hc_store_blob("\0a\0\xfe", 4),
    };
    hc_store_value_t p[] = {hc_store_int(-1), want[0], want[1], want[2], want[3]};
    writes_t w = {0};
    int rc = hc_store_exec(st, "INSERT INTO items (k, i, d, s, b) VALUES ($1, $2, $3, $4, $5)", p,
                           5, on_write, &w);
    rc = rc ? rc : !run_until(&w.done, 1) || w.failed;
    read_t r;
    hc_store_value_t k = hc_store_int(-1);
    rc = rc ? rc : query(st, &r, "SELECT i, d, s, b FROM items WHERE k = $1", &k, 1);
    int ok = !rc && r.nrows == 1;
    for (int i = 0; ok && i < 4; i++)
        ok = same(&r.cells[i], &want[i]);
    tap(ok, "typed values round-trip (int64, double, text, blob)", w.failed ? w.msg : NULL);
    rc = query(st, &r, "SELECT b FROM items WHERE k = 100001", NULL, 0);
    hc_store_value_t blob = hc_store_blob("\0\x01\xff", 3);
    tap(!rc && r.nrows == 1 && same(&r.cells[0], &blob), "bulk blob reads back", NULL);
}

static void check_errors(hc_store_t *st)
{
    writes_t good = {0}, bad = {0}, dup = {0};
    hc_store_value_t a = hc_store_int(-10), b = hc_store_int(-11), d = hc_store_int(0);
    int rc = hc_store_exec(st, "INSERT INTO items (k) VALUES ($1)", &a, 1, on_write, &good);
    rc = rc ? rc : hc_store_exec(st, "INSERT INTO nowhere (k) VALUES ($1)", &a, 1, on_write, &bad);
    rc = rc ? rc : hc_store_exec(st, "INSERT INTO items (k) VALUES ($1)", &d, 1, on_write, &dup);
    rc = rc ? rc : hc_store_exec(st, "INSERT INTO items (k) VALUES ($1)", &b, 1, on_write, &good);
    int ok = !rc && run_until(&good.done, 2) && run_until(&bad.done, 1) && run_until(&dup.done, 1);
    tap(ok && !good.failed && bad.first_err == -EINVAL && dup.first_err == -EEXIST,
        "a bad statement fails only its own caller", bad.msg);
    tap(count(st, "SELECT count(*) FROM items WHERE k IN (-10, -11)") == 2,
        "the good statements around it are stored", NULL);
    read_t r;
    tap(query(st, &r, "SELECT * FROM missing_table", NULL, 0) == -EINVAL,
        "a read of a missing table fails with -EINVAL", NULL);
}

static void check_parallel_reads(hc_store_t *st)
{
    static read_t r[READS];
    static hc_store_value_t p[READS];
    int done = 0;
    for (int i = 0; i < READS; i++) {
        p[i] = hc_store_int(i * 100);
        if (!hc_store_query(st, "SELECT count(*) FROM items WHERE k >= 0 AND k < $1", &p[i], 1,
                            on_read, &r[i]))
            done++;
    }
    int ok = done == READS;
    for (int i = 0; ok && i < READS; i++)
        ok = run_until(&r[i].done, 1) && !r[i].status && r[i].cells[0].v.i == i * 100;
    tap(ok, "20 concurrent reads return their own rows", NULL);
}

static void on_closed(void *arg)
{
    (*(int *)arg)++;
}

/* --outage: writes at a steady pace for about six seconds while the test stops and
 * restarts the database; every write must end acknowledged and stored. */
enum { OUTAGE_TICKS = 600, OUTAGE_PER_TICK = 5 };

typedef struct outage {
    hc_store_t *st;
    int ticks;
    int enqueue_failed;
    writes_t w;
} outage_t;

static void on_outage_tick(uv_timer_t *t)
{
    outage_t *o = t->data;
    for (int i = 0; i < OUTAGE_PER_TICK; i++) {
        hc_store_value_t p[] = {hc_store_int(o->ticks * OUTAGE_PER_TICK + i),
                                hc_store_text("during outage")};
        if (hc_store_exec(o->st, "INSERT INTO items (k, s) VALUES ($1, $2)", p, 2, on_write, &o->w))
            o->enqueue_failed++;
    }
    if (++o->ticks == OUTAGE_TICKS)
        uv_timer_stop(t);
}

static int run_outage(hc_store_t *st)
{
    printf("1..4\n# writing\n");
    fflush(stdout);
    outage_t o = {.st = st};
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = &o;
    uv_timer_start(&timer, on_outage_tick, 10, 10);
    int total = OUTAGE_TICKS * OUTAGE_PER_TICK;
    int acked = run_until(&o.ticks, OUTAGE_TICKS) && run_until(&o.w.done, total);
    uv_close((uv_handle_t *)&timer, NULL);
    hc_store_stats_t s;
    hc_store_stats(st, &s);
    tap(!o.enqueue_failed, "every write was queued", NULL);
    /* a COMMIT whose reply the outage swallowed is retried: its row exists (-EEXIST) */
    tap(acked && (!o.w.failed || o.w.first_err == -EEXIST),
        "every write acknowledged after the outage", o.w.failed ? o.w.msg : NULL);
    tap(s.retries > 0, "the writer retried while the database was down", NULL);
    char detail[64];
    int64_t rows = -1;
    for (int i = 0; i < 50 && rows != total; i++) /* reads are not retried: poll */
        rows = count(st, "SELECT count(*) FROM items");
    snprintf(detail, sizeof(detail), "%lld rows", (long long)rows);
    tap(rows == total, "every acknowledged row is stored", detail);
    return failures;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : getenv("DATABASE_URL");
    int outage = argc > 2 && !strcmp(argv[2], "--outage");
    hc_log_setup(HC_LOG_WARN, HC_LOG_FORMAT_JSON);
    uv_loop_init(&loop);
    if (outage) {
        hc_store_t *st = NULL;
        if (hc_store_open(&loop, url, NULL, &st) ||
            hc_store_migrate(st, "storecheck", schema, 2, NULL))
            return 2;
        int rc = run_outage(st);
        int closed = 0;
        hc_store_close(st, on_closed, &closed);
        run_until(&closed, 1);
        return rc || uv_loop_close(&loop) ? 1 : 0;
    }
    printf("1..15\n");
    hc_store_t *st = NULL;
    int rc = url ? hc_store_open(&loop, url, NULL, &st) : -EINVAL;
    tap(!rc, "open DATABASE_URL", st ? hc_store_backend(st) : NULL);
    if (rc)
        return 1;
    check_migrate(st);
    check_bursts(st);
    check_copy(st);
    check_typed(st);
    check_errors(st);
    check_parallel_reads(st);
    int closed = 0;
    hc_store_close(st, on_closed, &closed);
    tap(run_until(&closed, 1), "close flushes and finishes", NULL);
    tap(uv_loop_close(&loop) == 0, "no handle left on the loop", NULL);
    return failures ? 1 : 0;
}
