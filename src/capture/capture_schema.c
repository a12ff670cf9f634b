/* Storage layout of hearth capture. PostgreSQL: heplify-server's homer7 tables
 * (sipcapture/heplify-server rotator/pgfiles.go: same names, columns and expression
 * indexes), range-partitioned on create_date into <table>_YYYYMMDD_HHMM (UTC) with a
 * DEFAULT partition so no row ever lacks one (heplify-server#533 loses the batch there),
 * partitions created ahead by the hourly rotation and on demand, dropped past
 * --retain-days. SQLite: the same logical tables (create_date in µs) indexed by time
 * bucket and sid (CAPTURE_BUCKET_SHIFT), pruned by DELETE.
 * Both: capture_calls, one summary row per Call-ID (capture_calls.c). */
#include "capture/capture_int.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ROTATE_MS (3600u * 1000) /* rotation and retention run hourly */
#define AHEAD_S (86400LL)        /* partitions kept ready this far ahead (rotation runs hourly) */
#define ON_DEMAND_AHEAD_S (30 * 86400LL) /* future rows beyond this go to DEFAULT */
#define KNOWN_MAX 4096                   /* remembered partitions per table */

const char *const capture_table_names[CAPTURE_NTABLES] = {
    "hep_proto_1_call",     "hep_proto_1_registration", "hep_proto_1_default",
    "hep_proto_5_default",  "hep_proto_35_default",     "hep_proto_53_default",
    "hep_proto_54_default", "hep_proto_100_default",
};

/* Partition width per table (heplify-server: SIP and logs 2h, QoS and ISUP 6h). */
static const int64_t step_s[CAPTURE_NTABLES] = {7200, 7200, 7200, 21600, 21600, 7200, 21600, 7200};

int capture_table_index(const char *name)
{
    for (int i = 0; i < CAPTURE_NTABLES; i++)
        if (!strcmp(capture_table_names[i], name))
            return i;
    return -1;
}

/* ---- the migrations ---- */

static const char calls_sqlite[] =
    "CREATE TABLE IF NOT EXISTS capture_calls ("
    "callid TEXT PRIMARY KEY, start_us INTEGER NOT NULL, end_us INTEGER NOT NULL, "
    "method TEXT NOT NULL DEFAULT '', caller TEXT NOT NULL DEFAULT '', "
    "callee TEXT NOT NULL DEFAULT '', status INTEGER NOT NULL DEFAULT 0, "
    "messages INTEGER NOT NULL DEFAULT 0, src_ip TEXT NOT NULL DEFAULT '', "
    "dst_ip TEXT NOT NULL DEFAULT '', user_agent TEXT NOT NULL DEFAULT '', "
    "correlation TEXT NOT NULL DEFAULT '', invite_us INTEGER, progress_us INTEGER, "
    "answer_us INTEGER, bye_us INTEGER);";

static const char calls_pg[] =
    "CREATE TABLE IF NOT EXISTS capture_calls ("
    "callid varchar PRIMARY KEY, start_us bigint NOT NULL, end_us bigint NOT NULL, "
    "method varchar NOT NULL DEFAULT '', caller varchar NOT NULL DEFAULT '', "
    "callee varchar NOT NULL DEFAULT '', status integer NOT NULL DEFAULT 0, "
    "messages bigint NOT NULL DEFAULT 0, src_ip varchar NOT NULL DEFAULT '', "
    "dst_ip varchar NOT NULL DEFAULT '', user_agent varchar NOT NULL DEFAULT '', "
    "correlation varchar NOT NULL DEFAULT '', invite_us bigint, progress_us bigint, "
    "answer_us bigint, bye_us bigint);";

/* Search paths: each selective filter with the time range behind it, so a filtered page
 * is one index range scan; status and method (few distinct values) filter the time range.
 * Fields an upsert changes (end, status, messages) carry no index, so updating a summary
 * touches no index entry (capture_calls.c). */
static const char calls_indexes[] =
    "CREATE INDEX IF NOT EXISTS capture_calls_start ON capture_calls (start_us);"
    "CREATE INDEX IF NOT EXISTS capture_calls_caller ON capture_calls (caller, start_us);"
    "CREATE INDEX IF NOT EXISTS capture_calls_callee ON capture_calls (callee, start_us);"
    "CREATE INDEX IF NOT EXISTS capture_calls_src ON capture_calls (src_ip, start_us);"
    "CREATE INDEX IF NOT EXISTS capture_calls_dst ON capture_calls (dst_ip, start_us);";

/* Migration 2: the legs index holds only the calls that have a correlation id (most have
 * none), so a new call without one writes one index entry fewer. The legs query names
 * the index's condition (capture_view.c) so that both planners use it. */
static const char calls_corr_partial[] =
    "DROP INDEX IF EXISTS capture_calls_corr;"
    "CREATE INDEX capture_calls_corr ON capture_calls (correlation) WHERE correlation <> '';";

static int is_sip_table(int t)
{
    return t <= CAPTURE_T_1_DEFAULT;
}

/* The whole first migration for one backend, built once into b. */
static void migration_sql(hc_buf_t *b, int pg)
{
    static const char *const sip_keys[] = {"ruri_domain", "ruri_user", "from_user", "to_user",
                                           "pid_user",    "auth_user", "callid",    "method"};
    static const char *const isup_keys[] = {"called_number", "calling_number", "opc",   "dpc",
                                            "cic",           "msg_name",       "callid"};
    for (int t = 0; t < CAPTURE_NTABLES; t++) {
        const char *n = capture_table_names[t];
        if (pg) {
            hc_buf_printf(
                b,
                "CREATE TABLE IF NOT EXISTS %s (id BIGSERIAL NOT NULL, sid varchar NOT NULL, "
                "create_date timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL, "
                "protocol_header jsonb NOT NULL, data_header jsonb NOT NULL, "
                "raw varchar NOT NULL) PARTITION BY RANGE (create_date);"
                "CREATE TABLE IF NOT EXISTS %s_default PARTITION OF %s DEFAULT;",
                n, n, n);
            hc_buf_printf(b,
                          "CREATE INDEX IF NOT EXISTS %s_create_date ON %s (create_date);"
                          "CREATE INDEX IF NOT EXISTS %s_sid ON %s (sid);"
                          "CREATE INDEX IF NOT EXISTS %s_srcIp ON %s ((protocol_header->>'srcIp'));"
                          "CREATE INDEX IF NOT EXISTS %s_dstIp ON %s ((protocol_header->>'dstIp'));"
                          "CREATE INDEX IF NOT EXISTS %s_correlation_id ON %s "
                          "((protocol_header->>'correlation_id'));",
                          n, n, n, n, n, n, n, n, n, n);
            const char *const *keys = is_sip_table(t)             ? sip_keys
                                      : t == CAPTURE_T_54_DEFAULT ? isup_keys
                                                                  : NULL;
            size_t nk = is_sip_table(t) ? 8 : t == CAPTURE_T_54_DEFAULT ? 7 : 0;
            for (size_t k = 0; k < nk && keys; k++)
                hc_buf_printf(b, "CREATE INDEX IF NOT EXISTS %s_%s ON %s ((data_header->>'%s'));",
                              n, keys[k], n, keys[k]);
        } else {
            hc_buf_printf(
                b,
                "CREATE TABLE IF NOT EXISTS %s (id INTEGER PRIMARY KEY, sid TEXT NOT NULL, "
                "create_date INTEGER NOT NULL, protocol_header TEXT NOT NULL, "
                "data_header TEXT NOT NULL, raw TEXT NOT NULL);",
                n);
        }
    }
    hc_buf_puts(b, pg ? calls_pg : calls_sqlite);
    hc_buf_puts(b, calls_indexes);
}

/* Migration 3 (SQLite): the message tables' create_date and sid indexes (of migration 1
 * before this one existed) become one (bucket, sid) index, CAPTURE_BUCKET_SHIFT. */
static void bucket_sql(hc_buf_t *b)
{
    for (int t = 0; t < CAPTURE_NTABLES; t++) {
        const char *n = capture_table_names[t];
        hc_buf_printf(b,
                      "DROP INDEX IF EXISTS %s_create_date; DROP INDEX IF EXISTS %s_sid;"
                      "CREATE INDEX IF NOT EXISTS %s_bucket_sid ON %s ((create_date >> %d), sid);",
                      n, n, n, n, CAPTURE_BUCKET_SHIFT);
    }
}

/* ---- partitions ---- */

/* Starts of the partitions known to exist, per table: a small open-addressing set. */
struct capture_known {
    int64_t start[KNOWN_MAX]; /* 0 = empty slot (the epoch itself is never a partition) */
    size_t n;
};
typedef struct capture_known known_t;

static int known_add(known_t *k, int64_t start)
{
    size_t mask = KNOWN_MAX - 1, i = (size_t)((uint64_t)start / 3600 * 2654435761u) & mask;
    for (size_t probes = 0; probes < KNOWN_MAX; probes++, i = (i + 1) & mask) {
        if (k->start[i] == start)
            return 0;
        if (!k->start[i]) {
            if (k->n + 1 >= KNOWN_MAX / 2)
                return -ENOSPC; /* keep probing short; rows then use DEFAULT */
            k->start[i] = start;
            k->n++;
            return 1;
        }
    }
    return -ENOSPC;
}

static void known_clear(known_t *k)
{
    memset(k, 0, sizeof(*k));
}

static void fmt_ts(int64_t s, char out[40], int name)
{
    struct tm tm;
    time_t tt = (time_t)s;
    gmtime_r(&tt, &tm);
    strftime(out, 40, name ? "%Y%m%d_%H%M" : "%Y-%m-%d %H:%M:%S+00", &tm);
}

static void on_ddl_done(void *arg, int status, const char *msg)
{
    (void)arg;
    if (status < 0)
        hc_log(HC_LOG_WARN, "capture: partition DDL failed (rows use the DEFAULT partition)",
               HC_LS("error", msg), NULL);
}

static void partition_create(capture_svc_t *svc, int t, int64_t start)
{
    int rc = known_add(&svc->known[t], start);
    if (rc <= 0)
        return;
    char name[40], from[40], to[40], sql[512];
    fmt_ts(start, name, 1);
    fmt_ts(start, from, 0);
    fmt_ts(start + step_s[t], to, 0);
    const char *n = capture_table_names[t];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s_%s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')", n,
             name, n, from, to);
    if (hc_store_exec(svc->store, sql, NULL, 0, on_ddl_done, svc) != 0) {
        known_clear(&svc->known[t]); /* tried again on the next row or rotation */
        hc_log(HC_LOG_WARN, "capture: store queue full, partition not created now",
               HC_LS("table", n), HC_LS("partition", name), NULL);
    }
}

void capture_schema_ensure(capture_svc_t *svc, int table, int64_t ts_us)
{
    if (!svc->pg || table < 0 || table >= CAPTURE_NTABLES)
        return;
    int64_t s = ts_us / 1000000, now = (int64_t)time(NULL);
    if (s < now - (int64_t)svc->retain_days * 86400 || s > now + ON_DEMAND_AHEAD_S)
        return; /* outside what rotation keeps: the DEFAULT partition holds it */
    partition_create(svc, table, s - ((s % step_s[table]) + step_s[table]) % step_s[table]);
}

/* The partition holding now up to AHEAD_S ahead, for every table (earlier ones are made
 * on demand when a late packet needs one). */
static void partitions_ahead(capture_svc_t *svc)
{
    int64_t now = (int64_t)time(NULL);
    for (int t = 0; t < CAPTURE_NTABLES; t++)
        for (int64_t s = now - now % step_s[t]; s < now + AHEAD_S; s += step_s[t])
            partition_create(svc, t, s);
}

/* ---- retention ---- */

static void on_retention_done(void *arg, int status, const char *msg)
{
    (void)arg;
    if (status < 0)
        hc_log(HC_LOG_WARN, "capture: retention failed", HC_LS("error", msg), NULL);
}

/* "<table>_YYYYMMDD_HHMM": the partition's start, or -1 when name is not one. */
static int64_t partition_start(const char *name, int *table)
{
    for (int t = 0; t < CAPTURE_NTABLES; t++) {
        size_t n = strlen(capture_table_names[t]);
        if (strncmp(name, capture_table_names[t], n) || name[n] != '_' || strlen(name) != n + 14)
            continue;
        struct tm tm = {0};
        const char *p = name + n + 1;
        if (sscanf(p, "%4d%2d%2d_%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min) != 5)
            return -1;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        *table = t;
        return (int64_t)timegm(&tm);
    }
    return -1;
}

static void on_partitions(void *arg, int status, const char *msg, const hc_store_result_t *res)
{
    capture_svc_t *svc = arg;
    if (status < 0) {
        hc_log(HC_LOG_WARN, "capture: cannot list partitions", HC_LS("error", msg), NULL);
        return;
    }
    int64_t cutoff = (int64_t)time(NULL) - (int64_t)svc->retain_days * 86400;
    size_t dropped = 0;
    for (size_t r = 0; r < res->nrows && !svc->stopping; r++) {
        const hc_store_value_t *v = hc_store_cell(res, r, 0);
        int t = -1;
        int64_t start = v->type == HC_STORE_TEXT ? partition_start(v->v.s.p, &t) : -1;
        if (start < 0 || start + step_s[t] > cutoff)
            continue;
        char sql[160];
        snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", v->v.s.p);
        if (hc_store_exec(svc->store, sql, NULL, 0, on_retention_done, svc) == 0)
            dropped++;
    }
    if (dropped) {
        /* forget every start so that on-demand creation re-checks against the database */
        for (int t = 0; t < CAPTURE_NTABLES; t++)
            known_clear(&svc->known[t]);
        partitions_ahead(svc);
        hc_log(HC_LOG_INFO, "capture: old partitions dropped", HC_LI("count", dropped),
               HC_LI("retain_days", svc->retain_days), NULL);
    }
}

static void retention(capture_svc_t *svc)
{
    int64_t cutoff_s = (int64_t)time(NULL) - (int64_t)svc->retain_days * 86400;
    char sql[256], ts[40];
    for (int t = 0; t < CAPTURE_NTABLES; t++) {
        hc_store_value_t p[2] = {capture_schema_ts(svc, cutoff_s * 1000000, ts),
                                 hc_store_int((cutoff_s * 1000000) >> CAPTURE_BUCKET_SHIFT)};
        if (svc->pg)
            snprintf(sql, sizeof(sql), "DELETE FROM %s_default WHERE create_date < $1",
                     capture_table_names[t]);
        else /* the bucket range is the index's */
            snprintf(sql, sizeof(sql),
                     "DELETE FROM %s WHERE (create_date >> %d) <= $2 AND create_date < $1",
                     capture_table_names[t], CAPTURE_BUCKET_SHIFT);
        hc_store_exec(svc->store, sql, p, svc->pg ? 1 : 2, on_retention_done, svc);
    }
    hc_store_value_t c = hc_store_int(cutoff_s * 1000000);
    hc_store_exec(svc->store, "DELETE FROM capture_calls WHERE start_us < $1", &c, 1,
                  on_retention_done, svc);
    if (svc->pg)
        hc_store_query(svc->store,
                       "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND "
                       "tablename LIKE 'hep\\_proto\\_%' AND tablename ~ '_[0-9]{8}_[0-9]{4}$'",
                       NULL, 0, on_partitions, svc);
}

static void on_rotate(uv_timer_t *t)
{
    capture_svc_t *svc = t->data;
    if (svc->pg)
        partitions_ahead(svc);
    retention(svc);
}

/* ---- start, stop, values ---- */

static void on_pragma_done(void *arg, int status, const char *msg)
{
    (void)arg;
    if (status < 0)
        hc_log(HC_LOG_WARN, "capture: SQLite setting refused", HC_LS("error", msg), NULL);
}

int capture_schema_start(capture_svc_t *svc)
{
    hc_buf_t sqlite_sql, pg_sql, bucket;
    hc_buf_init(&sqlite_sql, 0);
    hc_buf_init(&pg_sql, 0);
    hc_buf_init(&bucket, 0);
    migration_sql(&sqlite_sql, 0);
    migration_sql(&pg_sql, 1);
    bucket_sql(&bucket);
    hc_store_migration_t m[] = {{1, sqlite_sql.base, pg_sql.base},
                                {2, calls_corr_partial, calls_corr_partial},
                                {3, bucket.base, "SELECT 1"}}; /* PostgreSQL keeps heplify's */
    int rc = hc_store_migrate(svc->store, "capture", m, 3, NULL);
    hc_buf_free(&sqlite_sql);
    hc_buf_free(&pg_sql);
    hc_buf_free(&bucket);
    if (rc) {
        hc_log(HC_LOG_ERROR, "capture: schema migration failed", HC_LS("error", strerror(-rc)),
               NULL);
        return rc;
    }
    if (svc->pg) {
        svc->known = hc_calloc(CAPTURE_NTABLES, sizeof(*svc->known));
        partitions_ahead(svc);
    } else {
        /* The writer's connection (writes run on it): a page cache that holds the hot
         * index pages, and checkpoints every 64 MiB of WAL instead of 4 MiB, so that a
         * page changed by many batches is copied back (and fsynced) once. */
        hc_store_exec(svc->store, "PRAGMA cache_size = -131072", NULL, 0, on_pragma_done, svc);
        hc_store_exec(svc->store, "PRAGMA wal_autocheckpoint = 16384", NULL, 0, on_pragma_done,
                      svc);
    }
    uv_timer_init(svc->loop, &svc->rotate_timer);
    svc->rotate_timer.data = svc;
    svc->rotate_timer_on = 1;
    uv_timer_start(&svc->rotate_timer, on_rotate, 0, ROTATE_MS); /* retention now, then hourly */
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    capture_svc_t *svc = h->data;
    void (*done)(capture_svc_t *) = svc->schema_done;
    svc->schema_done = NULL;
    done(svc);
}

void capture_schema_stop(capture_svc_t *svc, void (*done)(capture_svc_t *svc))
{
    hc_free(svc->known);
    svc->known = NULL;
    if (!svc->rotate_timer_on) {
        done(svc);
        return;
    }
    svc->rotate_timer_on = 0;
    svc->schema_done = done;
    uv_close((uv_handle_t *)&svc->rotate_timer, on_timer_closed);
}

hc_store_value_t capture_schema_ts(const capture_svc_t *svc, int64_t ts_us, char buf[40])
{
    if (!svc->pg)
        return hc_store_int(ts_us);
    int64_t s = ts_us / 1000000, us = ts_us % 1000000;
    if (us < 0) {
        s -= 1;
        us += 1000000;
    }
    struct tm tm;
    time_t tt = (time_t)s;
    gmtime_r(&tt, &tm);
    size_t n = strftime(buf, 40, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + n, 40 - n, ".%06lld+00", (long long)us);
    return hc_store_text(buf);
}

const char *capture_schema_ts_expr(const capture_svc_t *svc)
{
    return svc->pg ? "(EXTRACT(EPOCH FROM create_date) * 1000000)::bigint" : "create_date";
}
