/* The running capture service and the calls between its files: ingest (listeners,
 * admission), batch (the bounded queue in front of the database writer), calls (the
 * per-Call-ID summary kept on write), schema (tables, partitions, retention), api and
 * export (the HTTP side). Everything here runs on the service's loop thread. */
#ifndef CAPTURE_INT_H
#define CAPTURE_INT_H

#include "capture/capture.h"
#include "capture/capture_hep.h"
#include "capture/capture_sip.h"

#include "core/hc_metrics.h"
#include "core/hc_router.h"
#include "core/hc_static.h"
#include "core/hc_store.h"

#include <stdint.h>
#include <sys/socket.h>

/* heplify-server's tables (homer7), in the order of capture_table_names. */
enum capture_table {
    CAPTURE_T_1_CALL,
    CAPTURE_T_1_REGISTRATION,
    CAPTURE_T_1_DEFAULT,
    CAPTURE_T_5_DEFAULT,
    CAPTURE_T_35_DEFAULT,
    CAPTURE_T_53_DEFAULT,
    CAPTURE_T_54_DEFAULT,
    CAPTURE_T_100_DEFAULT,
    CAPTURE_NTABLES,
};
extern const char *const capture_table_names[CAPTURE_NTABLES];
/** The index of a table name, or -1. */
int capture_table_index(const char *name);

/* One row waiting for the writer: heplify-server's columns. The strings live in the same
 * allocation (capture_row_new); a row is freed with hc_free once handed to the store. */
typedef struct capture_row {
    struct capture_row *next;
    int table;                       /* enum capture_table */
    int64_t ts_us;                   /* create_date */
    size_t bytes;                    /* the whole allocation, for the queue's byte bound */
    const char *sid, *ph, *dh, *raw; /* NUL-terminated */
    size_t sid_len, ph_len, dh_len, raw_len;
} capture_row_t;

/** One allocation holding the row and copies of the four strings. */
capture_row_t *capture_row_new(int table, int64_t ts_us, const char *sid, size_t sid_len,
                               const char *ph, size_t ph_len, const char *dh, size_t dh_len,
                               const char *raw, size_t raw_len);

typedef struct capture_ingest capture_ingest_t;
typedef struct capture_batch capture_batch_t;
typedef struct capture_calls capture_calls_t;
typedef struct capture_live capture_live_t;

/* Counters the stats page shows beside /metrics (loop thread only). */
typedef struct capture_counters {
    uint64_t packets, errors, dropped, duplicates, rows_written, rows_failed;
} capture_counters_t;

typedef struct capture_svc capture_svc_t;
struct capture_svc {
    hc_service_ctx_t *ctx;
    uv_loop_t *loop;
    /* options */
    struct sockaddr_storage hep_sa, http_sa;
    int retain_days;
    uint64_t dedup_ms;
    const char *hep_password;
    size_t queue_max;   /* rows waiting or being written */
    size_t queue_bytes; /* their bytes */
    size_t batch_rows;  /* rows per COPY */
    size_t udp_rcvbuf;  /* the UDP socket's receive buffer */
    unsigned flush_ms;  /* the batch timer */
    /* storage */
    hc_store_t *store;
    int pg; /* PostgreSQL: partitions, COPY, jsonb */
    /* parts */
    capture_ingest_t *ingest;
    capture_batch_t *batch;
    capture_calls_t *calls;
    capture_live_t *live;
    uv_timer_t rotate_timer;
    int rotate_timer_on;
    struct capture_known *known; /* PostgreSQL partitions known to exist, per table */
    void (*schema_done)(struct capture_svc *svc);
    /* HTTP */
    hc_router_t *router;
    hc_http_server_t *http;
    hc_static_t *web;
    char admin_hash[128];
    unsigned char jwt_key[32];
    /* metrics */
    hc_series_t *m_packets[256]; /* by HEP payload type (low byte), resolved lazily */
    hc_metric_t *m_packets_family, *m_errors_family;
    hc_series_t *m_errors[CAPTURE_HEP_NERRORS + 4];
    hc_series_t *m_socket_drops;
    hc_series_t *m_dropped, *m_duplicates, *m_queue_depth, *m_rows_failed, *m_batch_seconds;
    hc_series_t *m_rows[CAPTURE_NTABLES];
    capture_counters_t n;
    /* stop */
    int stopping;
    unsigned stop_deadline_ms;
    void (*api_done)(struct capture_svc *svc);
    hc_service_stopped_cb stopped;
};

/* Ingest reasons counted beside enum capture_hep_error. */
#define CAPTURE_ERR_NOT_SIP (CAPTURE_HEP_NERRORS + 0)     /* SIP type without a SIP message */
#define CAPTURE_ERR_NO_SID (CAPTURE_HEP_NERRORS + 1)      /* no Call-ID / correlation id */
#define CAPTURE_ERR_TCP_FRAMING (CAPTURE_HEP_NERRORS + 2) /* bytes skipped on a TCP stream */
#define CAPTURE_ERR_TOO_BIG (CAPTURE_HEP_NERRORS + 3)     /* record over the row limit */

/* ---- capture_ingest.c ---- */

/** Binds UDP and TCP on svc->hep_sa and starts reading. Returns 0 or -errno (logged). */
int capture_ingest_start(capture_svc_t *svc);
/** Closes the listeners and connections; done(svc) fires once every handle closed. */
void capture_ingest_stop(capture_svc_t *svc, void (*done)(capture_svc_t *svc));
/** Frees the ingest state once capture_ingest_stop finished (NULL-safe). */
void capture_ingest_free(capture_svc_t *svc);
/** One HEP packet from any source (tests and the TCP framer feed this): decode, check,
 *  dedup, record, admit. Never blocks; refusals are counted. */
void capture_ingest_packet(capture_svc_t *svc, const uint8_t *pkt, size_t len);
/** Counts one refused packet under reason (enum capture_hep_error or CAPTURE_ERR_*) and
 *  logs it, at most once per second per reason with the count suppressed meanwhile. */
void capture_ingest_error(capture_svc_t *svc, int reason, const char *detail);
/** Datagrams the kernel dropped on the UDP socket (receive buffer full), from
 *  /proc/net/udp; 0 when unknown. */
uint64_t capture_ingest_socket_drops(capture_svc_t *svc);
/** The reason's label on /metrics. */
const char *capture_ingest_reason_name(int reason);

/* ---- capture_batch.c ---- */

/** Creates the queue and its flush timer. */
void capture_batch_start(capture_svc_t *svc);
/** Queues row (taking it) when the queue has room; else frees it and returns -ENOBUFS
 *  (the caller counts the drop). */
int capture_batch_push(capture_svc_t *svc, capture_row_t *row);
/** Rows queued or in flight (the queue depth). */
size_t capture_batch_depth(const capture_svc_t *svc);
/** Hands every queued row and dirty call summary to the store now. */
void capture_batch_flush(capture_svc_t *svc);
/** Flushes, waits until the store acknowledged everything, stops the timer, frees the
 *  queue, then calls done(svc) from the loop. */
void capture_batch_stop(capture_svc_t *svc, void (*done)(capture_svc_t *svc));

/* ---- capture_calls.c ---- */

/* A call's summary as the API returns it (strings owned by the holder). */
typedef struct capture_call_summary {
    char callid[256];
    char method[32];
    char caller[128], callee[128];
    char src_ip[46], dst_ip[46];
    char user_agent[128];
    char correlation[256];
    int64_t start_us, end_us;
    int64_t invite_us, progress_us, answer_us, bye_us; /* 0 = not seen */
    int status;
    int64_t messages;
} capture_call_summary_t;

/** Creates the in-memory table of recent calls. */
void capture_calls_init(capture_svc_t *svc);
/** Updates the summary of s's Call-ID with one SIP message seen at ts_us. A call seen for
 *  the first time is announced on /api/live. */
void capture_calls_update(capture_svc_t *svc, const capture_hep_t *h, const capture_sip_t *s,
                          int64_t ts_us);
/** Enqueues one upsert per summary changed since the last flush (one store unit).
 *  Returns the number of summaries written, or a negative errno (-EAGAIN: retried at
 *  the next flush). cb(arg, status, msg) as hc_store_done_cb when > 0. */
int capture_calls_flush(capture_svc_t *svc, hc_store_done_cb cb, void *arg);
/** Summaries changed since the last flush (0 without a table). */
size_t capture_calls_dirty(const capture_svc_t *svc);
/** Frees the table. */
void capture_calls_free(capture_svc_t *svc);
/** The SELECT list of capture_calls matching capture_calls_row(). */
extern const char capture_calls_columns[];
/** Fills *c from row r of a result selected with capture_calls_columns. */
void capture_calls_row(const hc_store_result_t *res, size_t r, capture_call_summary_t *c);

/* ---- capture_schema.c ---- */

/** Creates or upgrades the tables (blocking, start-up), then the PostgreSQL partitions
 *  of today and tomorrow, and starts the hourly rotation/retention timer. */
int capture_schema_start(capture_svc_t *svc);
/** Stops the timer; done fires once its handle closed. */
void capture_schema_stop(capture_svc_t *svc, void (*done)(capture_svc_t *svc));
/** PostgreSQL: enqueues the creation of the partition holding ts_us for table when it is
 *  not known to exist and lies within the retention window (or up to 30 days ahead);
 *  rows outside land in the default partition. A no-op on SQLite. */
void capture_schema_ensure(capture_svc_t *svc, int table, int64_t ts_us);
/** The create_date value for a row: an integer (µs) on SQLite, ISO text on PostgreSQL
 *  (written into buf, 40 bytes). */
hc_store_value_t capture_schema_ts(const capture_svc_t *svc, int64_t ts_us, char buf[40]);
/** The SQL expression giving a table's create_date in µs since the epoch. */
const char *capture_schema_ts_expr(const capture_svc_t *svc);
/* SQLite's message index is (create_date >> CAPTURE_BUCKET_SHIFT, sid): about 8 s of
 * messages per bucket, so inserts land in the few pages of the current bucket instead of
 * anywhere in a Call-ID index (a page written per row once the index outgrows the
 * cache), and the same index serves retention (a bucket range) and a call's messages
 * (its buckets and Call-IDs, capture_view.c). */
#define CAPTURE_BUCKET_SHIFT 23

/* ---- capture_api.c ---- */

/** Builds the router and listens on svc->http_sa. Returns 0 or -errno. */
int capture_api_start(capture_svc_t *svc);
/** Ends live streams and drains the HTTP server; done fires after. */
void capture_api_stop(capture_svc_t *svc, void (*done)(capture_svc_t *svc));
/** Answers 401 (with WWW-Authenticate) and returns 0 unless the request carries a valid
 *  token (Authorization: Bearer, or ?token= for EventSource and download links). */
int capture_api_guard(capture_svc_t *svc, hc_http_req_t *req);

/* ---- capture_live.c ---- */

/** Creates the list of live streams. */
void capture_live_init(capture_svc_t *svc);
/** The GET /api/live handler (arg = svc). */
void capture_live_handle(hc_http_req_t *req, void *arg);
/** Sends a new call to every live stream. */
void capture_live_call(capture_svc_t *svc, const capture_call_summary_t *c);
/** Ends every stream (their responses complete). */
void capture_live_end(capture_svc_t *svc);
/** Ends the streams and frees the list (NULL-safe). */
void capture_live_free(capture_svc_t *svc);
/** The JSON object of a summary (jansson, new reference). */
struct json_t;
struct json_t *capture_api_call_json(const capture_call_summary_t *c);

/* One stored message, as the call view and the exports use it. */
typedef struct capture_msg {
    int64_t time_us;
    const char *callid;
    char src_ip[46], dst_ip[46];
    int src_port, dst_port;
    int ip_proto;    /* 17 UDP, 6 TCP, ... */
    int family;      /* 4 or 6 */
    char method[32]; /* request method, or "" */
    int status;      /* response code, or 0 */
    const char *cseq;
    const char *raw;
    size_t raw_len;
    const char *table;
} capture_msg_t;

/* A call loaded for the view and the exports: the summary, its legs and every message of
 * all of them in time order. Strings point into the loaded results (owned by it). */
typedef struct capture_call_view {
    capture_call_summary_t call;
    capture_call_summary_t *legs;
    size_t nlegs;
    capture_msg_t *msgs;
    size_t nmsgs;
    void *mem; /* private */
} capture_call_view_t;

/* ---- capture_view.c ---- */

/** Loads callid's view (off the loop) and calls cb with it (v NULL with status 404 when
 *  no such call, 503 on a database error); the view is freed after cb returns. cb is
 *  not called when the client went away meanwhile. */
typedef void (*capture_view_cb)(hc_http_req_t *req, capture_svc_t *svc, int status,
                                const capture_call_view_t *v);
void capture_view_load(capture_svc_t *svc, hc_http_req_t *req, const char *callid,
                       capture_view_cb cb);
/** "UDP", "TCP", "SCTP", "TLS" or "IP<n>" (the latter in a small rotating buffer). */
const char *capture_transport_name(int ip_proto);

/* ---- capture_export.c ---- */

/** Answer with the pcap (real transport kept), the text, or the SVG ladder of a loaded
 *  call (capture_view_cb: v NULL means status is an error to answer). */
void capture_export_pcap(hc_http_req_t *req, capture_svc_t *svc, int status,
                         const capture_call_view_t *v);
void capture_export_txt(hc_http_req_t *req, capture_svc_t *svc, int status,
                        const capture_call_view_t *v);
void capture_export_svg(hc_http_req_t *req, capture_svc_t *svc, int status,
                        const capture_call_view_t *v);

#endif
