/* Private to the HTTP/1.1 server files (hc_http_server.c, hc_http_conn.c, hc_http_req.c,
 * hc_ws.c): the connection, the pooled per-request state and the hooks a protocol
 * upgrade (WebSocket) uses to take a connection over. Not for services. */
#ifndef HC_HTTP_INTERNAL_H
#define HC_HTTP_INTERNAL_H

#include "core/hc_buf.h"
#include "core/hc_http_parse.h"
#include "core/hc_http_server.h"

#define HC_HTTP_RBUF 16384                /* one socket read */
#define HC_HTTP_OUT_HIGH (64 * 1024)      /* res_write says wait above this */
#define HC_HTTP_OUT_MAX (8 * 1024 * 1024) /* hard cap on buffered output */
#define HC_HTTP_STASH_MAX (64 * 1024)     /* unparsed bytes held while a request is busy */
#define HC_HTTP_LINGER_MS 2000            /* reading after a closing response */
#define HC_HTTP_ARENA_BLOCK 4096

typedef struct hc_arena_block {
    struct hc_arena_block *next;
    size_t cap, used;
    max_align_t data[];
} hc_arena_block_t;

enum { RQ_BODY_IDLE, RQ_BODY_READING, RQ_BODY_DONE };
enum { RQ_RES_NONE, RQ_RES_STARTED, RQ_RES_ENDED };

/* Header offsets into rq.head while parsing (pointers once the head is complete). */
typedef struct hc_http_hoff {
    uint32_t name_off, name_len, value_off, value_len;
} hc_http_hoff_t;

/* The state of the one request a connection works on (requests are serialized:
 * pipelined ones wait in the stash). Reused from a pool, never freed per request. */
typedef struct hc_http_rq {
    hc_http_req_t pub;
    hc_buf_t head;          /* target and header bytes, NUL-separated */
    char method[HC_HTTP_PARSE_METHOD_MAX + 1]; /* the parser's, kept past its next message */
    hc_http_hoff_t *hoff;                      /* hcap entries */
    hc_http_header_t *hdrs;                    /* hcap entries */
    unsigned nh;
    unsigned hcap; /* HC_HTTP_HDRS_START, grown up to max_headers by a long head */
    int in_value;
    hc_buf_t res_hdrs; /* fields added with hc_http_res_header */
    hc_arena_block_t *arena;
    int active, msg_complete, expect_continue, body_state, res_state;
    int res_chunked, res_no_body, body_paused;
    int res_length; /* started with a Content-Length */
    int res_date;   /* a Date field was added: the server writes none */
    int64_t body_received;
    hc_http_body_cb body_cb;
    void *body_arg;
    hc_http_whole_body_cb whole_cb;
    void *whole_arg;
    hc_buf_t whole;
    hc_http_close_cb close_cb;
    void *close_arg;
    hc_http_drain_cb drain_cb;
    void *drain_arg;
    unsigned sse_keepalive_ms;
} hc_http_rq_t;

/* A protocol that took the connection over after a 101 response. */
typedef struct hc_http_upgrade {
    void (*on_data)(void *ud, const char *data, size_t len);
    void (*on_drain)(void *ud);
    void (*on_close)(void *ud); /* the connection is closing: last call */
    void *ud;
    void (*on_eof)(void *ud); /* the peer half-closed (NULL: close the connection) */
} hc_http_upgrade_t;

/* What a busy connection needs; idle connections hold none (kept under 1 KiB). */
typedef struct hc_http_io {
    struct hc_http_io *next_free;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    hc_buf_t out;      /* plaintext response bytes not yet handed to the socket/TLS */
    hc_buf_t inflight; /* bytes of the write in progress */
    hc_buf_t stash;    /* received bytes waiting for the current request to finish */
    hc_http_rq_t rq;
    hc_http_upgrade_t raw;   /* hc_http_req_take_over's callbacks */
    char rbuf[HC_HTTP_RBUF]; /* last: hc_http_io_get zeroes only what comes before */
} hc_http_io_t;

/* Scanner of the raw header section (see hc_http_conn.c, head_scan). */
typedef struct hc_http_scan {
    int state;
    size_t line_len, head_len;
    char tail[12]; /* the request-line's last bytes: its HTTP-version and the one before */
    unsigned tail_len;
    int spaced; /* the request-line's first space was seen */
} hc_http_scan_t;

struct hc_http_conn {
    uv_tcp_t tcp;
    /* Lazy: started only when the deadline comes before the time it is armed for; when
     * it fires early it re-arms for the deadline (no timer call per request phase). */
    uv_timer_t timer;
    uint64_t deadline, armed_at; /* loop ms; 0 = none / not armed */
    hc_http_server_t *srv;
    struct hc_http_conn *prev, *next;
    hc_http_parser_t parser;
    hc_http_scan_t scan;
    hc_http_io_t *io;
    hc_tls_conn_t *tls;
    int tls_fresh; /* tls_plain_fallback: nothing read yet (the first byte tells TLS) */
    int fd;        /* tcp's socket, read and written with hc_sock */
    const hc_http_upgrade_t *upgrade;
    unsigned closing : 1, close_after : 1, writing : 1, in_read : 1, read_stopped : 1, peer_eof : 1,
        head_phase : 1, keep_alive : 1, lingering : 1, queued : 1, shutting : 1, raw_shut : 1,
        body_timed : 1; /* the deadline is read_timeout_ms for the request body */
    int err_status;
    const char *err_msg;
    struct hc_http_conn *next_queued;
    struct sockaddr_in6 peer; /* cached by hc_http_req_peer (one getpeername per
                                 connection); sin6_family 0 until then, v4 fits too */
};

struct hc_http_server {
    uv_loop_t *loop;
    hc_http_server_opts_t o;
    char server_hdr[96];
    uv_tcp_t listeners[4];
    unsigned nlisteners, open_handles;
    /* Descriptors running out: a listener is closed (its spare, a dup of the socket,
     * keeps the port and its queue) and reopened from the spare after a backoff. */
    int spare[4];               /* -1: none */
    unsigned paused;            /* bit i: listener i is closed (or closing) for that */
    unsigned closed;            /* bit i: and its close has completed */
    unsigned accept_backoff_ms; /* the last pause's wait (5 ms doubling to 1 s); 0 none */
    uint64_t pause_logged;      /* loop time of the last "accept paused" line */
    unsigned pauses;            /* pauses since then */
    uv_timer_t accept_timer;
    hc_http_conn_t *conns;
    hc_http_io_t *free_io;
    unsigned nfree_io;
    unsigned pool_low; /* the fewest pooled io blocks since the last trim */
    uv_timer_t pool_timer;
    uv_idle_t idle; /* runs queued connection work outside of callers' stacks */
    hc_http_conn_t *queue;
    uv_timer_t drain_timer;
    int draining, closed_all;
    hc_http_server_done_cb done_cb;
    void *done_arg;
    hc_http_server_stats_t stats;
    char date[40]; /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
    uint64_t date_at;
};

/* hc_http_server.c */
hc_http_io_t *hc_http_io_get(hc_http_server_t *s);
void hc_http_io_put(hc_http_server_t *s, hc_http_io_t *io);
const char *hc_http_date(hc_http_server_t *s);
void hc_http_server_conn_gone(hc_http_server_t *s, hc_http_conn_t *c);
void hc_http_queue(hc_http_conn_t *c);

/* hc_http_conn.c */
void hc_http_conn_accept(hc_http_server_t *s, uv_stream_t *listener);
/** Sends buffered output now unless a read is being processed (then at its end). */
void hc_http_conn_flush(hc_http_conn_t *c);
/* Body bytes that need no framing, sent without first being copied into io->out when
 * nothing is in flight. Returns how many of them were taken; the caller buffers the rest. */
size_t hc_http_conn_write_direct(hc_http_conn_t *c, const char *data, size_t len);
/** Closes at once; fires the request's close callback or the upgrade's on_close. */
void hc_http_conn_close(hc_http_conn_t *c);
/** Closes after buffered output is sent. */
void hc_http_conn_close_after_write(hc_http_conn_t *c);
/** Runs queued work: stashed bytes after a request finished, body reads. */
void hc_http_conn_run_queued(hc_http_conn_t *c);
/** The current request is done (response ended and body consumed). */
void hc_http_conn_request_done(hc_http_conn_t *c);
void hc_http_conn_set_reading(hc_http_conn_t *c, int on);
/** Hands the connection to an upgraded protocol; data after the request goes to it. */
void hc_http_conn_take_over(hc_http_conn_t *c, const hc_http_upgrade_t *up);
size_t hc_http_conn_buffered(const hc_http_conn_t *c);
/** (Re)starts the connection timer: header/idle timeout, linger, SSE keep-alive. */
void hc_http_conn_arm(hc_http_conn_t *c, unsigned ms);
/** Stops it: nothing happens at the deadline. */
void hc_http_conn_disarm(hc_http_conn_t *c);

/* hc_http_conn_head.c */
/** The parser callbacks of a server connection (ud: the hc_http_conn_t). */
extern const hc_http_parse_cbs_t hc_http_conn_parse_cbs;
/** Starts scanning a new header section (head_phase set). */
void hc_http_conn_scan_reset(hc_http_conn_t *c);
/** Scans raw head bytes: the bytes up to and including the end of the head, 0 when all
 *  of data belongs to the head so far, or -status for a violation. */
long hc_http_conn_head_scan(hc_http_conn_t *c, const char *data, size_t len);

/* hc_http_req.c */
void hc_http_rq_init(hc_http_rq_t *rq, const hc_http_server_opts_t *o);
void hc_http_rq_reset(hc_http_rq_t *rq);
/* The field arrays kept between requests; a head with more fields grows them. */
#define HC_HTTP_HDRS_START 100u
/* Room for one more field: 0, or -1 when max fields are there already. */
int hc_http_rq_field_room(hc_http_rq_t *rq, unsigned max);
void hc_http_rq_free(hc_http_rq_t *rq);
/** Delivers body bytes / the end / an abort to the request's reader. */
void hc_http_rq_body(hc_http_rq_t *rq, const char *data, size_t len, int status);
/** Sends an error response for a request-level failure and marks the connection closing. */
void hc_http_conn_fail(hc_http_conn_t *c, int status, const char *msg);

static inline hc_http_rq_t *hc_http_rq_of(hc_http_req_t *req)
{
    return (hc_http_rq_t *)(void *)req;
}

#endif
