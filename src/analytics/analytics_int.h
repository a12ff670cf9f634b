/* What the parts of hearth analytics share: the running service's state. The service
 * (analytics_service.c) owns it; ingest, auth, websites, rollups and the read API get
 * a pointer to it. Everything here lives on the service's one loop thread. */
#ifndef ANALYTICS_INT_H
#define ANALYTICS_INT_H

#include <stdint.h>
#include <uv.h>

#include "analytics/analytics_detect.h"
#include "analytics/analytics_id.h"
#include "analytics/analytics_payload.h"
#include "core/hc_http_server.h"
#include "core/hc_metrics.h"
#include "core/hc_router.h"
#include "core/hc_service.h"
#include "core/hc_store.h"

typedef struct analytics_rollup analytics_rollup_t;

typedef struct analytics {
    hc_service_ctx_t *ctx;
    uv_loop_t *loop;
    hc_store_t *store;
    int is_pg; /* hc_store_backend() == "postgresql" */
    hc_router_t *router;
    analytics_detect_t *detect;
    analytics_rollup_t *rollup;
    analytics_payload_opts_t payload_opts;
    enum analytics_salt_rotation salt_rotation;
    char secret[ANALYTICS_HASH_HEX + 1];
    int disable_bot_check;
    unsigned retain_days; /* 0 = keep forever */
    unsigned rollup_flush_ms; /* how often dirty rollup cells are written (0: 1000) */
    int rollup_replay;        /* count an unclean stop's unwritten events: 1, 0, -1 auto
                               * (SQLite only: PostgreSQL replicas would count each
                               * other's events again) */
    int64_t id_floor_ms;      /* event ids of this process are later than this millisecond
                               * (set by the rollups at open: the replay bound,
                               * analytics_rollup.h) */
    hc_metrics_t *metrics;

    /* Added by the service (analytics_service.c and the files beside it). */
    hc_http_server_t *server;
    char admin_password[128];        /* bootstrap password (configured or generated) */
    int admin_generated;             /* 1 when generated on this start */
    char cors_max_age[16];           /* CORS_MAX_AGE, as its header's text */
    struct analytics_sites *sites;   /* website cache (analytics_websites.c) */
    struct analytics_ingest *ingest; /* write path (analytics_ingest.c) */
    json_t
        *tokens; /* a Bearer token's SHA-256 (hex) -> userId, decrypted once (analytics_auth.c) */
    int stopping;
    /* /metrics series */
    hc_series_t *m_accepted; /* events committed */
    hc_metric_t *m_rejected; /* events refused, label "reason" */
    hc_series_t *m_latency;  /* request latency histogram (seconds) */
} analytics_t;

/* Auth (analytics_auth.c). The authenticated caller of a read/admin request. */
typedef struct analytics_user {
    char id[ANALYTICS_UUID_LEN + 1];
    char username[256];
    char role[32]; /* "admin" or "user" */
    int is_admin;
} analytics_user_t;

typedef void (*analytics_auth_cb)(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u);

/** Checks the request's Bearer token (Umami's login token, or one an api-client minted
 *  from APP_SECRET) and that its user exists; calls cb with the user on success (cb may
 *  run later, from the loop, after a database lookup), or answers 401 in Umami's shape
 *  itself and never calls cb. */
void analytics_auth_require(analytics_t *an, hc_http_req_t *req, analytics_auth_cb cb);

/** Checks that u may read website_id (admin, owner or team member); calls cb on success
 *  or answers 401/404 in Umami's shape. */
void analytics_website_require(analytics_t *an, hc_http_req_t *req, const analytics_user_t *u,
                               const char *website_id, analytics_auth_cb cb);

/** Umami's error shape: {"error":{"message","code","status"}} with CORS headers. */
void analytics_respond_error(hc_http_req_t *req, int status, const char *code, const char *message);

/** 200 with a JSON body (takes the reference to body) and the /api CORS headers. */
void analytics_respond_json(hc_http_req_t *req, int status, json_t *body);

/** Like analytics_respond_json with a body already serialised (len bytes of JSON text). */
void analytics_respond_text(hc_http_req_t *req, int status, const char *json, size_t len);

/** Adds the /api CORS headers Umami's next.config sends (Allow-Origin, -Headers, -Methods,
 *  Max-Age, Cache-Control: no-cache). Call before starting a response. */
void analytics_cors(analytics_t *an, hc_http_req_t *req);

/* A call: the heap state of one asynchronous step (a read, a write, a body) made for a
 * request, which must survive the client going away. Embed analytics_call_t first in
 * the step's struct.
 *   c = analytics_call_new(req, sizeof(my_step_t));   registers the close callback
 *   c->busy = 1; hc_store_query(..., cb, c);           while a callback is owed
 *   in cb: c->busy = 0; req = analytics_call_finish(c) (after reading what you need):
 *          frees c and returns the request, or NULL when the client went away.
 * When the client goes away while busy, req becomes NULL and the callback frees the call;
 * when not busy, the call is freed at once. */
typedef struct analytics_call {
    hc_http_req_t *req;
    int busy;
} analytics_call_t;

void *analytics_call_new(hc_http_req_t *req, size_t size);
hc_http_req_t *analytics_call_finish(void *call);

/** Counts one refused event under reason (bad-request, bot, ignored-ip, not-found,
 *  unavailable, too-large) for /metrics. */
void analytics_reject(analytics_t *an, const char *reason);

/* Timestamps: ms since the epoch as both backends take them. For PostgreSQL an ISO 8601
 * UTC text written into buf (>= 32 bytes), for SQLite the integer itself. */
hc_store_value_t analytics_ts_param(const analytics_t *an, int64_t ms, char *buf);
/** A timestamp cell read back (SQLite integer ms, PostgreSQL text) as ms; 0 when NULL. */
int64_t analytics_ts_cell(const hc_store_value_t *v);
/** Formats ms as Umami's JSON dates ("2026-05-17T12:34:56.123Z") into buf (>= 32). */
const char *analytics_ts_iso(int64_t ms, char *buf);

/* Websites (analytics_websites.c) */

/** Loads the website cache (ids of websites not deleted) and starts its periodic
 *  refresh. Returns 0. */
int analytics_sites_open(analytics_t *an);
void analytics_sites_close(analytics_t *an);
/** Looks website_id up: returns 1 when the cache knows it (cb not called); else asks the
 *  database (a website created by another replica), returns 0 and cb(arg, found) fires
 *  later from the loop (found 1, 0, or a negative errno when the database failed);
 *  -EAGAIN when the read could not be queued (cb not called). */
int analytics_sites_lookup(analytics_t *an, const char *website_id,
                           void (*cb)(void *arg, int found), void *arg);
int analytics_websites_routes(analytics_t *an);

/* Users (analytics_auth.c) */

/** Creates the admin user unless a user named admin exists (an Umami database keeps
 *  its own) and adds /api/auth/login, /api/auth/verify, /api/me and /api/config. */
int analytics_auth_open(analytics_t *an);
/** Frees what the auth routes keep (the token cache). */
void analytics_auth_close(analytics_t *an);

/* Ingest (analytics_ingest.c) */

/** Adds POST /api/send (and alias), /api/batch. Returns 0 or -EINVAL. */
int analytics_ingest_open(analytics_t *an, const char *collect_alias);
/** Refuses new events; calls done once every accepted request was answered (committed,
 *  503 or gone). */
void analytics_ingest_drain(analytics_t *an, void (*done)(void *arg), void *arg);
void analytics_ingest_close(analytics_t *an);
/** Events waiting for room in the store queue (for /metrics). */
size_t analytics_ingest_waiting(const analytics_t *an);

/* The rows of one send (analytics_ingest_rows.c): a store unit being built. Zero it and
 * set an; the parameters point into allocs until analytics_rowset_free. */
typedef struct analytics_rowset {
    const analytics_t *an;
    hc_store_stmt_t *stmts;
    size_t nstmts, capstmts;
    void **allocs;
    size_t nallocs, capallocs;
} analytics_rowset_t;

/** Adds the rows Umami writes for an accepted event: its session when new_session (an
 *  INSERT that keeps an existing row), then for identify the distinct_id and
 *  session_data (rows: ev->data flattened), else the website_event row, and for a
 *  custom event with data its event_data rows and a revenue row (ev->has_revenue, as the
 *  payload parser found it). ev must stay valid until the unit is enqueued. */
void analytics_rowset_event(analytics_rowset_t *u, const analytics_event_t *ev, int new_session,
                            const analytics_data_row_t *rows, size_t nrows);
/** Frees the unit's statements and parameters (after the store copied them). */
void analytics_rowset_free(analytics_rowset_t *u);

/* Rollups and the read API (analytics_rollup.c, analytics_query.c). */

/** Opens the rollup state over an->store: applies the rollup tables' own migrations
 *  (service name "analytics-rollup"; blocks, start-up only) and starts the backfill of
 *  events written before hearth (an existing Umami database). */
int analytics_rollup_open(analytics_t *an, analytics_rollup_t **out);

/** Counts one event (and its session) once its rows are committed. Events must be
 *  observed in the order of their ids (analytics_ingest.c generates time-ordered ids in
 *  the order it enqueues them, and the store commits and calls back in queue order):
 *  the highest id observed is the cursor a crash recovery replays from. */
void analytics_rollup_observe(analytics_rollup_t *r, const analytics_event_t *ev);

/** Writes pending rollup state; calls done when committed (SIGTERM drain). */
void analytics_rollup_flush(analytics_rollup_t *r, void (*done)(void *arg), void *arg);
void analytics_rollup_close(analytics_rollup_t *r);

/** Adds the read API's routes (stats, pageviews, metrics, metrics/expanded, active,
 *  events, sessions, export) to an->router. */
int analytics_query_routes(analytics_t *an);

/* Schema (analytics_schema.c) */
extern const hc_store_migration_t analytics_migrations[];
extern const size_t analytics_nmigrations;

#endif
