/* The database side of bench/analytics/run.sh, talking to SQLite and PostgreSQL directly
 * (sqlite3 / libpq), never through hearth's writer:
 *   an_bench_db schema   URL WEBSITE_ID
 *       applies hearth's "analytics" migrations (Umami's schema, hc_store_migrate) and
 *       inserts the website row; hearth's own rollup tables are left to hearth, so its
 *       start-up backfills them as it would over an existing Umami database;
 *   an_bench_db insert   URL WEBSITE_ID SECONDS BATCH
 *       the storage ceiling: for SECONDS, transactions of BATCH events, each event being
 *       what an uncached /api/send writes (session INSERT ... ON CONFLICT DO NOTHING and a
 *       website_event INSERT), SQLite with hearth's synchronous mode (ANALYTICS_SQLITE_SYNC,
 *       default normal, as hearth's default), PostgreSQL in
 *       pipeline mode; prints "events N seconds S events_per_s R";
 *   an_bench_db generate URL WEBSITE_ID EVENTS DAYS
 *       loads EVENTS events (about 8 per session, 8% named events) in Umami's row format
 *       over DAYS days ending an hour ago (a session runs on for at most 30 min), as fast
 *       as the database takes them (PostgreSQL COPY, SQLite big transactions with
 *       synchronous=OFF); prints "pageviews N" (the events that count as views).
 * URL is sqlite:PATH or postgresql://... Exit status 0 on success. */
#include "analytics/analytics_int.h"
#include "core/hc_store.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

enum { UUID_LEN = 36, ROW_MAX = 1024, COPY_CHUNK = 1 << 20, SQLITE_TXN_ROWS = 50000 };

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double unit_rand(void)
{
    return (double)(rnd() >> 11) / (double)(1ull << 53);
}

/* A v4-shaped UUID whose first 48 bits are a counter, so ids arrive in index order. */
static void uuid_seq(char out[UUID_LEN + 1], uint64_t seq)
{
    uint64_t r = rnd();
    snprintf(out, UUID_LEN + 1, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(seq >> 16),
             (unsigned)(seq & 0xffff), (unsigned)(r & 0xfff),
             (unsigned)(0x8000 | ((r >> 12) & 0x3fff)),
             (unsigned long long)((r >> 26) & 0xffffffffffffull));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int is_pg(const char *url)
{
    return !strncmp(url, "postgres", 8);
}

static const char *sqlite_path(const char *url)
{
    const char *p = url + strlen("sqlite:");
    return strncmp(p, "//", 2) ? p : p + 2;
}

static void iso_ms(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* ---- schema ---- */

static void closed(void *arg)
{
    *(int *)arg = 1;
}

static int cmd_schema(const char *url, const char *website)
{
    uv_loop_t loop;
    hc_store_t *st = NULL;
    uv_loop_init(&loop);
    int rc = hc_store_open(&loop, url, NULL, &st);
    if (rc == 0)
        rc = hc_store_migrate(st, "analytics", analytics_migrations, analytics_nmigrations, NULL);
    if (rc == 0) {
        hc_store_value_t p[] = {hc_store_text(website)};
        rc = hc_store_exec(st,
                           "INSERT INTO website (website_id, name, domain) VALUES ($1, 'bench', "
                           "'example.com') ON CONFLICT DO NOTHING",
                           p, 1, NULL, NULL);
    }
    if (st) {
        int done = 0;
        hc_store_close(st, closed, &done);
        while (!done)
            uv_run(&loop, UV_RUN_ONCE);
    }
    uv_loop_close(&loop);
    if (rc)
        fprintf(stderr, "schema: %s\n", strerror(-rc));
    return rc ? 1 : 0;
}

/* ---- the storage ceiling ---- */

static const char SESSION_SQL[] =
    "INSERT INTO session (session_id, website_id, browser, os, device, screen, language, "
    "created_at) VALUES ($1, $2, 'chrome', 'Linux', 'desktop', '1920x1080', 'en-US', $3) "
    "ON CONFLICT DO NOTHING";
static const char EVENT_SQL[] =
    "INSERT INTO website_event (event_id, website_id, session_id, visit_id, created_at, url_path, "
    "url_query, referrer_domain, page_title, event_type, hostname) "
    "VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, 'Bench', 1, 'example.com')";

static int sqlite_fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    sqlite3_close(db);
    return 1;
}

static int insert_sqlite(const char *url, const char *website, double secs, long batch)
{
    sqlite3 *db;
    sqlite3_stmt *ss, *es;
    if (sqlite3_open(sqlite_path(url), &db) != SQLITE_OK)
        return sqlite_fail(db, "open");
    sqlite3_busy_timeout(db, 5000);
    const char *sync = getenv("ANALYTICS_SQLITE_SYNC");
    int full = sync && !strcmp(sync, "full");
    if (sqlite3_exec(db,
                     full ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL"
                          : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
                     NULL, NULL, NULL) ||
        sqlite3_prepare_v2(db, SESSION_SQL, -1, &ss, NULL) ||
        sqlite3_prepare_v2(db, EVENT_SQL, -1, &es, NULL))
        return sqlite_fail(db, "prepare");
    char sid[UUID_LEN + 1], vid[UUID_LEN + 1], eid[UUID_LEN + 1], path[64];
    uuid_seq(sid, 1);
    uuid_seq(vid, 2);
    long n = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < secs) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (long i = 0; i < batch; i++, n++) {
            int64_t ms = (int64_t)time(NULL) * 1000;
            uuid_seq(eid, (uint64_t)n + 1000);
            snprintf(path, sizeof(path), "/page/%ld", n % 500);
            sqlite3_bind_text(ss, 1, sid, -1, SQLITE_STATIC);
            sqlite3_bind_text(ss, 2, website, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ss, 3, ms);
            const char *evp[] = {eid, website, sid, vid};
            for (int k = 0; k < 4; k++)
                sqlite3_bind_text(es, k + 1, evp[k], -1, SQLITE_STATIC);
            sqlite3_bind_int64(es, 5, ms);
            sqlite3_bind_text(es, 6, path, -1, SQLITE_STATIC);
            if (sqlite3_step(ss) != SQLITE_DONE || sqlite3_step(es) != SQLITE_DONE)
                return sqlite_fail(db, "insert");
            sqlite3_reset(ss);
            sqlite3_reset(es);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            return sqlite_fail(db, "commit");
        t = now_s();
    }
    sqlite3_finalize(ss);
    sqlite3_finalize(es);
    sqlite3_close(db);
    printf("events %ld seconds %.2f events_per_s %.0f\n", n, t - t0, n / (t - t0));
    return 0;
}

static int pg_fail(PGconn *c, const char *what)
{
    fprintf(stderr, "%s: %s\n", what, PQerrorMessage(c));
    PQfinish(c);
    return 1;
}

/* Reads every result up to and including the pipeline sync; 0 when none failed. */
static int pg_drain(PGconn *c)
{
    int bad = 0;
    for (;;) {
        PGresult *r = PQgetResult(c);
        if (!r)
            continue; /* end of one query's results */
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_FATAL_ERROR || s == PGRES_PIPELINE_ABORTED) {
            if (!bad)
                fprintf(stderr, "pg: %s\n", PQresultErrorMessage(r));
            bad = 1;
        }
        PQclear(r);
        if (s == PGRES_PIPELINE_SYNC)
            return bad;
    }
}

static int insert_pg(const char *url, const char *website, double secs, long batch)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        return pg_fail(c, "connect");
    PGresult *r1 = PQprepare(c, "s", SESSION_SQL, 3, NULL);
    PGresult *r2 = PQprepare(c, "e", EVENT_SQL, 6, NULL);
    int ok = PQresultStatus(r1) == PGRES_COMMAND_OK && PQresultStatus(r2) == PGRES_COMMAND_OK;
    PQclear(r1);
    PQclear(r2);
    if (!ok || !PQenterPipelineMode(c))
        return pg_fail(c, "prepare");
    char sid[UUID_LEN + 1], vid[UUID_LEN + 1], eid[UUID_LEN + 1], path[64], ts[32];
    uuid_seq(sid, 1);
    uuid_seq(vid, 2);
    long n = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < secs) {
        PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
        for (long i = 0; i < batch; i++, n++) {
            iso_ms((int64_t)time(NULL) * 1000, ts);
            uuid_seq(eid, (uint64_t)n + 1000);
            snprintf(path, sizeof(path), "/page/%ld", n % 500);
            const char *sp[] = {sid, website, ts};
            const char *ep[] = {eid, website, sid, vid, ts, path};
            PQsendQueryPrepared(c, "s", 3, sp, NULL, NULL, 0);
            PQsendQueryPrepared(c, "e", 6, ep, NULL, NULL, 0);
        }
        PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
        if (!PQpipelineSync(c) || pg_drain(c))
            return pg_fail(c, "insert");
        t = now_s();
    }
    PQfinish(c);
    printf("events %ld seconds %.2f events_per_s %.0f\n", n, t - t0, n / (t - t0));
    return 0;
}

/* ---- the dashboard data set ---- */

static const char *const BROWSERS[] = {"chrome", "chrome", "chrome",        "firefox",
                                       "safari", "ios",    "edge-chromium", "samsung"};
static const char *const OSES[] = {"Windows 10", "Windows 10", "Mac OS",
                                   "Linux",      "iOS",        "Android OS"};
static const char *const DEVICES[] = {"desktop", "laptop", "mobile", "mobile", "tablet"};
static const char *const COUNTRIES[] = {"US", "US", "DE", "FR", "GB", "IN", "BR", "JP", "CA", "NL"};
static const char *const LANGS[] = {"en-US", "en-US", "de-DE", "fr-FR", "en-GB", "pt-BR", "ja-JP"};
static const char *const REFS[] = {"google.com",     "news.ycombinator.com",
                                   "github.com",     "reddit.com",
                                   "duckduckgo.com", "t.co",
                                   "bing.com",       "lobste.rs"};
static const char *const EVENTS[] = {"signup", "download", "outbound", "play", "search", "share"};
#define PICK(a) ((a)[rnd() % (sizeof(a) / sizeof((a)[0]))])

typedef struct gen_sink {
    int pg;
    PGconn *c;
    sqlite3 *db;
    sqlite3_stmt *ss, *es;
    char *buf; /* PostgreSQL COPY text rows of the table being copied */
    size_t len;
} gen_sink_t;

static int copy_flush(gen_sink_t *g)
{
    if (g->len && PQputCopyData(g->c, g->buf, (int)g->len) != 1)
        return -1;
    g->len = 0;
    return 0;
}

static int copy_row(gen_sink_t *g, const char *row)
{
    size_t n = strlen(row);
    if (g->len + n > COPY_CHUNK && copy_flush(g))
        return -1;
    memcpy(g->buf + g->len, row, n);
    g->len += n;
    return 0;
}

/* One table's rows for PostgreSQL go through their own COPY; both COPYs are open in
 * turn, so sessions are written first, in a pass of their own, then events. */
static int generate(gen_sink_t *g, const char *website, long events, int days, int sessions_pass,
                    long *pageviews)
{
    static int64_t end; /* both passes see the same sessions at the same times */
    if (!end)
        end = ((int64_t)time(NULL) - 3600) * 1000;
    rng = 0x9e3779b97f4a7c15ull;
    long made = 0;
    int64_t span = (int64_t)days * 86400000;
    char sid[UUID_LEN + 1], vid[UUID_LEN + 1], eid[UUID_LEN + 1], ts[32], row[ROW_MAX];
    char path[64], title[64], query[32];
    *pageviews = 0;
    for (long s = 0; made < events; s++) { /* sessions start in order over the span */
        int64_t t = end - span + (int64_t)((double)span * made / events) + (int64_t)(rnd() % 60000);
        const char *br = PICK(BROWSERS), *os = PICK(OSES), *dev = PICK(DEVICES);
        const char *cc = PICK(COUNTRIES), *lang = PICK(LANGS);
        long k = 1 + (long)(rnd() % 15);
        if (k > events - made)
            k = events - made;
        uuid_seq(sid, (uint64_t)s * 2);
        uuid_seq(vid, (uint64_t)s * 2 + 1);
        const char *ref = rnd() % 10 < 4 ? NULL : PICK(REFS);
        if (sessions_pass && g->pg) {
            iso_ms(t, ts);
            snprintf(row, sizeof(row), "%s\t%s\t%s\t%s\t%s\t1920x1080\t%s\t%s\t%s\n", sid, website,
                     br, os, dev, lang, cc, ts);
            if (copy_row(g, row))
                return -1;
        } else if (sessions_pass) {
            const char *v[] = {sid, website, br, os, dev, "1920x1080", lang, cc};
            for (int i = 0; i < 8; i++)
                sqlite3_bind_text(g->ss, i + 1, v[i], -1, SQLITE_STATIC);
            sqlite3_bind_int64(g->ss, 9, t);
            if (sqlite3_step(g->ss) != SQLITE_DONE)
                return -1;
            sqlite3_reset(g->ss);
        }
        for (long e = 0; e < k; e++, made++) {
            int named = rnd() % 100 < 8;
            long p = (long)(500 * unit_rand() * unit_rand() * unit_rand());
            snprintf(path, sizeof(path), "/docs/page-%ld", p);
            snprintf(title, sizeof(title), "Page %ld", p);
            snprintf(query, sizeof(query), "utm_source=news%d", (int)(rnd() % 5));
            int has_q = rnd() % 20 == 0;
            uuid_seq(eid, (uint64_t)made + 1);
            const char *name = named ? PICK(EVENTS) : NULL;
            *pageviews += !named;
            if (sessions_pass) {
                t += 10000 + (int64_t)(rnd() % 110000);
                continue;
            }
            if (g->pg) {
                iso_ms(t, ts);
                snprintf(row, sizeof(row),
                         "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\texample.com\n", eid, website,
                         sid, vid, ts, path, has_q ? query : "\\N", e == 0 && ref ? ref : "\\N",
                         title, named ? 2 : 1, name ? name : "\\N");
                if (copy_row(g, row))
                    return -1;
            } else {
                const char *v[] = {eid, website, sid, vid};
                for (int i = 0; i < 4; i++)
                    sqlite3_bind_text(g->es, i + 1, v[i], -1, SQLITE_STATIC);
                sqlite3_bind_int64(g->es, 5, t);
                sqlite3_bind_text(g->es, 6, path, -1, SQLITE_TRANSIENT);
                if (has_q)
                    sqlite3_bind_text(g->es, 7, query, -1, SQLITE_TRANSIENT);
                else
                    sqlite3_bind_null(g->es, 7);
                if (e == 0 && ref)
                    sqlite3_bind_text(g->es, 8, ref, -1, SQLITE_STATIC);
                else
                    sqlite3_bind_null(g->es, 8);
                sqlite3_bind_text(g->es, 9, title, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int(g->es, 10, named ? 2 : 1);
                if (name)
                    sqlite3_bind_text(g->es, 11, name, -1, SQLITE_STATIC);
                else
                    sqlite3_bind_null(g->es, 11);
                if (sqlite3_step(g->es) != SQLITE_DONE)
                    return -1;
                sqlite3_reset(g->es);
                if (made % SQLITE_TXN_ROWS == SQLITE_TXN_ROWS - 1)
                    sqlite3_exec(g->db, "COMMIT; BEGIN", NULL, NULL, NULL);
            }
            t += 10000 + (int64_t)(rnd() % 110000);
        }
    }
    return 0;
}

static const char GEN_SESSION_SQL[] =
    "INSERT INTO session (session_id, website_id, browser, os, device, screen, language, country, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char GEN_EVENT_SQL[] =
    "INSERT INTO website_event (event_id, website_id, session_id, visit_id, created_at, url_path, "
    "url_query, referrer_domain, page_title, event_type, event_name, hostname) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'example.com')";

static int generate_pg(const char *url, const char *website, long events, int days)
{
    gen_sink_t g = {.pg = 1, .c = PQconnectdb(url), .buf = malloc(COPY_CHUNK + ROW_MAX)};
    long pv = 0;
    static const char *const copies[] = {
        "COPY session (session_id, website_id, browser, os, device, screen, language, country, "
        "created_at) FROM STDIN",
        "COPY website_event (event_id, website_id, session_id, visit_id, created_at, url_path, "
        "url_query, referrer_domain, page_title, event_type, event_name, hostname) FROM STDIN"};
    if (PQstatus(g.c) != CONNECTION_OK || !g.buf)
        return pg_fail(g.c, "connect");
    PQclear(PQexec(g.c, "SET synchronous_commit = off"));
    for (int pass = 0; pass < 2; pass++) {
        PGresult *r = PQexec(g.c, copies[pass]);
        int ok = PQresultStatus(r) == PGRES_COPY_IN;
        PQclear(r);
        if (!ok || generate(&g, website, events, days, pass == 0, &pv) || copy_flush(&g) ||
            PQputCopyEnd(g.c, NULL) != 1)
            return pg_fail(g.c, "copy");
        r = PQgetResult(g.c);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        while ((r = PQgetResult(g.c)))
            PQclear(r);
        if (!ok)
            return pg_fail(g.c, "copy end");
    }
    PQclear(PQexec(g.c, "ANALYZE website_event; ANALYZE session"));
    free(g.buf);
    PQfinish(g.c);
    printf("pageviews %ld\n", pv);
    return 0;
}

static int generate_sqlite(const char *url, const char *website, long events, int days)
{
    gen_sink_t g = {0};
    long pv = 0;
    if (sqlite3_open(sqlite_path(url), &g.db) != SQLITE_OK)
        return sqlite_fail(g.db, "open");
    if (sqlite3_exec(g.db, "PRAGMA synchronous=OFF; PRAGMA cache_size=-1048576", NULL, NULL,
                     NULL) ||
        sqlite3_prepare_v2(g.db, GEN_SESSION_SQL, -1, &g.ss, NULL) ||
        sqlite3_prepare_v2(g.db, GEN_EVENT_SQL, -1, &g.es, NULL))
        return sqlite_fail(g.db, "prepare");
    for (int pass = 0; pass < 2; pass++) {
        sqlite3_exec(g.db, "BEGIN", NULL, NULL, NULL);
        if (generate(&g, website, events, days, pass == 0, &pv) ||
            sqlite3_exec(g.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            return sqlite_fail(g.db, "insert");
    }
    sqlite3_finalize(g.ss);
    sqlite3_finalize(g.es);
    sqlite3_exec(g.db, "ANALYZE", NULL, NULL, NULL);
    sqlite3_close(g.db);
    printf("pageviews %ld\n", pv);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "schema") && argc == 4)
        return cmd_schema(argv[2], argv[3]);
    if (!strcmp(cmd, "insert") && argc == 6 && atol(argv[5]) > 0)
        return (is_pg(argv[2]) ? insert_pg : insert_sqlite)(argv[2], argv[3], atof(argv[4]),
                                                            atol(argv[5]));
    if (!strcmp(cmd, "generate") && argc == 6 && atol(argv[4]) > 0 && atoi(argv[5]) > 0)
        return (is_pg(argv[2]) ? generate_pg : generate_sqlite)(argv[2], argv[3], atol(argv[4]),
                                                                atoi(argv[5]));
    fprintf(stderr, "usage: an_bench_db schema URL WEBSITE_ID\n"
                    "       an_bench_db insert URL WEBSITE_ID SECONDS BATCH\n"
                    "       an_bench_db generate URL WEBSITE_ID EVENTS DAYS\n");
    return 2;
}
