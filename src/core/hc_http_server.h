/* The HTTP/1.1 server: one hc_http_server_t per libuv loop (several loops = several
 * servers, each with its own SO_REUSEPORT listener). It owns connections, enforces the
 * RFC 9112 strictness a trusted proxy needs, and hands each request to one handler.
 *
 * Start here: hc_http_server_new + hc_http_server_listen; the handler gets a
 * hc_http_req_t and answers it with hc_http_respond (one call) or hc_http_res_start +
 * hc_http_res_write + hc_http_res_end. Request bodies stream through hc_http_req_read_body.
 * Threads: a server and its requests belong to its loop's thread. */
#ifndef HC_HTTP_SERVER_H
#define HC_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/hc_http_status.h"
#include "core/hc_tls.h"

typedef struct hc_http_server hc_http_server_t;
typedef struct hc_http_req hc_http_req_t;
typedef struct hc_http_conn hc_http_conn_t;

/** Called once per request after its header section passed every check. The handler
 *  answers now or later (keep req until then); req lives until the response ended and
 *  the body was consumed, or until the on_close callback returned. */
typedef void (*hc_http_handler_cb)(hc_http_req_t *req, void *arg);

typedef struct hc_http_server_opts {
    size_t max_request_line;    /* bytes; 0 = 8 KiB; over it: 414 */
    size_t max_header_bytes;    /* header section; 0 = 32 KiB; over it: 431 */
    unsigned max_headers;       /* 0 = 100; over it: 431 (room past 100 is taken only
                                   by the request that needs it) */
    size_t max_body;            /* default body limit; 0 = 1 MiB; over it: 413 */
    unsigned header_timeout_ms; /* 0 = 10 s; a head not complete by then: 408, close */
    unsigned idle_timeout_ms;   /* keep-alive idle; 0 = 60 s */
    unsigned read_timeout_ms;   /* a request body not all received this long after its head:
                                   408 (a close once answering), as Go's ReadTimeout bounds
                                   the whole request; 0 = none */
    int read_timeout_whole;     /* 1: the body keeps the head's deadline instead (head and
                                   body within header_timeout_ms of the head's start: Go's
                                   ReadTimeout is one deadline) */
    hc_tls_ctx_t *tls;          /* non-NULL: TLS listener (the server takes a reference) */
    int go_errors;              /* the server's own error answers (a malformed request, 431, 501,
                                   ...) as Go's server writes them: text/plain "400 Bad Request: why",
                                   not hearth's JSON */
    int tls_plain_fallback;     /* with tls: a connection whose first byte cannot start a
                                   TLS handshake is served as plain HTTP (its requests
                                   have no hc_http_req_tls), as Traefik's entry points
                                   peek at it to choose their HTTP or HTTPS handler; the
                                   TLS state is made only for a handshake */
    int drain_upgraded;         /* 1: a drain waits for upgraded connections (tunnels) to
                                   end, up to its deadline, as Traefik's connection tracker
                                   does; 0: they close when the drain starts */
    const char *server_header;  /* Server field value; NULL = "hearth", "" = none */
    unsigned io_pool_trim_ms;   /* pooled connection buffers unused this long are freed
                                   (down to 64); 0 = 10 s */
    int eof_aborts; /* 1: a client's EOF before its response began means it left (Go's and
                       nginx's servers): the connection closes and the request's on_close
                       runs. 0: a half-closed client still gets its response */
    hc_http_handler_cb handler;
    void *handler_arg;
} hc_http_server_opts_t;

/** Counters a service may read at any time from the server's loop thread. */
typedef struct hc_http_server_stats {
    uint64_t open_connections;
    uint64_t requests_served; /* responses completed */
    uint64_t active_requests;
    uint64_t pooled_io; /* connection buffer blocks kept for the next requests */
} hc_http_server_stats_t;

/** A name/value pair; both point into request memory and are NUL-terminated. */
typedef struct hc_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} hc_http_header_t;

#define HC_HTTP_MAX_PARAMS 8

/** A request, as the handler sees it. The public part is read-only except max_body
 *  (lower or raise it before reading the body) and user. Strings are NUL-terminated and
 *  live as long as the request. */
struct hc_http_req {
    const char *method; /* "GET" */
    const char *target; /* request-target as sent: "/a/b?x=1" */
    size_t target_len;
    const char *path; /* target up to '?' */
    size_t path_len;
    const char *query; /* after '?' (no '?'), NULL when none */
    size_t query_len;
    int version_minor; /* HTTP/1.x */
    const hc_http_header_t *headers;
    size_t nheaders;
    int64_t content_length; /* -1 when absent */
    int chunked;            /* body is chunked */
    int is_head;            /* HEAD: responses carry no body */
    size_t max_body;        /* limit for this request's body (route or server default) */
    hc_http_header_t params[HC_HTTP_MAX_PARAMS]; /* router ":name" and "*" captures */
    unsigned nparams;
    void *user;           /* for the handler */
    hc_http_conn_t *conn; /* private from here on */
};

/** A new server on loop with opts (copied; tls referenced). Returns NULL on bad opts. */
hc_http_server_t *hc_http_server_new(uv_loop_t *loop, const hc_http_server_opts_t *opts);
/** Listens on addr (SO_REUSEPORT when reuseport). May be called for several addresses.
 *  Returns 0 or a negative errno. */
int hc_http_server_listen(hc_http_server_t *s, const struct sockaddr *addr, int reuseport);
/** The port of the first listener (after binding port 0), or -1. */
int hc_http_server_port(const hc_http_server_t *s);
/** Reads the counters. */
void hc_http_server_stats(const hc_http_server_t *s, hc_http_server_stats_t *out);

typedef void (*hc_http_server_done_cb)(hc_http_server_t *s, void *arg);
/** Stops accepting, closes idle keep-alive connections, lets in-flight requests finish
 *  (their connections close after the response) until deadline_ms, then closes the
 *  rest. done fires once every handle of the server is closed; then call
 *  hc_http_server_free. */
void hc_http_server_drain(hc_http_server_t *s, unsigned deadline_ms, hc_http_server_done_cb done,
                          void *arg);
/** Frees a server once its drain's done callback fired (every server must be drained,
 *  even one that never listened: it owns loop handles). */
void hc_http_server_free(hc_http_server_t *s);

/* ---- requests ---- */

/** The first value of header name (case-insensitive), its length in *len when len is
 *  not NULL; NULL when absent. */
const char *hc_http_req_header(const hc_http_req_t *req, const char *name, size_t *len);
/** The router capture called name (":name" without the colon, "*" for the rest). */
const char *hc_http_req_param(const hc_http_req_t *req, const char *name, size_t *len);
/** The raw (not percent-decoded) value of query parameter name, NULL when absent. The
 *  result points into the target and is not NUL-terminated: use *len. */
const char *hc_http_req_query_param(const hc_http_req_t *req, const char *name, size_t *len);
/** The loop the request runs on (for the handler's own timers). */
uv_loop_t *hc_http_req_loop(const hc_http_req_t *req);
/** The connection's peer address into *out. Returns 0 or a negative errno. */
int hc_http_req_peer(const hc_http_req_t *req, struct sockaddr_storage *out);
/** The connection's TLS state (version, cipher, SNI through hc_tls_conn_*), NULL on a
 *  plain connection. Valid as long as req. */
hc_tls_conn_t *hc_http_req_tls(const hc_http_req_t *req);
/** Memory freed when the request ends (8-byte aligned, never NULL). */
void *hc_http_req_alloc(hc_http_req_t *req, size_t n);
/** Copies n bytes plus a NUL into request memory. */
char *hc_http_req_strndup(hc_http_req_t *req, const char *s, size_t n);

/** Receives the body: data pieces (status 0), then the end (status 1, len 0), or an
 *  abort (status < 0: -EMSGSIZE after the server answered 413, -ECONNRESET when the
 *  client went away). Pieces point into a read buffer valid only during the call. */
typedef void (*hc_http_body_cb)(hc_http_req_t *req, const char *data, size_t len, int status,
                                void *arg);
/** Starts delivering the body to cb (sends 100 Continue when the client asked for it).
 *  Body bytes are never buffered beyond one read: until this is called, reading pauses.
 *  cb runs from the loop, never from inside this call. A request without body gets the
 *  end at once. Returns 0 or -EALREADY. */
int hc_http_req_read_body(hc_http_req_t *req, hc_http_body_cb cb, void *arg);
/** 1 when the client sent "Expect: 100-continue" and waits for a 100 (which
 *  hc_http_req_read_body sends) before its body: a final response instead means the
 *  body is never read, and the connection closes after it. */
int hc_http_req_expects_continue(hc_http_req_t *req);
/** Stops (pause = 1) or resumes reading body pieces from the socket (backpressure). */
void hc_http_req_pause_body(hc_http_req_t *req, int pause);

/** Receives the whole body (in request memory, NUL-terminated) or err < 0 (see
 *  hc_http_body_cb statuses). max 0 = req->max_body; a body over max gets 413. */
typedef void (*hc_http_whole_body_cb)(hc_http_req_t *req, char *body, size_t len, int err,
                                      void *arg);
int hc_http_req_read_whole_body(hc_http_req_t *req, size_t max, hc_http_whole_body_cb cb,
                                void *arg);

/** Fires once if the connection goes away before the response ended; req is freed when
 *  it returns (cancel timers that would touch it). */
typedef void (*hc_http_close_cb)(hc_http_req_t *req, void *arg);
void hc_http_req_on_close(hc_http_req_t *req, hc_http_close_cb cb, void *arg);

/* ---- responses ---- */

/* hc_http_res_write's result when the caller should wait for the drain callback. */
#define HC_HTTP_WAIT 1

/* The most response header fields a response takes in all (a proxied head of 1 MiB
 * plus what middlewares add). */
#define HC_HTTP_RES_HEADERS_MAX ((1u << 20) + 64u * 1024u)

/** Adds a response header field before the response starts. name and value are copied
 *  (they must not hold CR or LF); a Date given here replaces the server's. Returns 0, -EINVAL,
 * -ENOBUFS past HC_HTTP_RES_HEADERS_MAX or -EALREADY once started. */
int hc_http_res_header(hc_http_req_t *req, const char *name, const char *value);
/** Drops the fields added so far (before the response starts). */
void hc_http_res_headers_clear(hc_http_req_t *req);
/** Sends an interim 1xx response (not 101) with n fields before the final one; nothing
 *  to an HTTP/1.0 client (RFC 9110 §15.2). Returns 0, -EINVAL or -EALREADY once the
 *  response started. */
int hc_http_res_interim(hc_http_req_t *req, int status, const hc_http_header_t *fields, size_t n);
/** A complete response: status, Content-Type (NULL = none), body of len bytes (not
 *  written for HEAD). Returns 0 or a negative errno (-EALREADY, -EPIPE). */
int hc_http_respond(hc_http_req_t *req, int status, const char *content_type, const char *body,
                    size_t len);
/** A JSON error response {"error":"msg"} with status, logged with its reason. */
int hc_http_respond_error(hc_http_req_t *req, int status, const char *msg);
/** Sends the status line and headers; content_length < 0 means chunked (HTTP/1.1) or
 *  close-delimited (HTTP/1.0). Returns 0 or a negative errno. */
int hc_http_res_start(hc_http_req_t *req, int status, int64_t content_length);
/** Sends what is buffered now: the head of a response whose body comes later. */
void hc_http_res_flush(hc_http_req_t *req);
/** Writes body bytes. Returns 0, HC_HTTP_WAIT (buffered, but wait for the drain callback
 *  before writing more) or a negative errno (-EPIPE: the client is gone). */
int hc_http_res_write(hc_http_req_t *req, const char *data, size_t len);
/** Ends the response (the last chunk for chunked). req must not be used afterwards
 *  unless its body is still being read. Returns 0 or a negative errno. */
int hc_http_res_end(hc_http_req_t *req);
/** The client socket, for body bytes the caller moves without this library (splice(2)
 *  from an upstream socket): its descriptor when the response was started with a
 *  Content-Length on a plain connection and nothing (not even the head) is buffered or
 *  being written; else -1 (write through hc_http_res_write, or wait for the drain
 *  callback). Changes nothing. The caller writes no more than the length it announced. */
int hc_http_res_fd(hc_http_req_t *req);
/** cb fires once when buffered output fell below the low-water mark. */
typedef void (*hc_http_drain_cb)(hc_http_req_t *req, void *arg);
void hc_http_res_on_drain(hc_http_req_t *req, hc_http_drain_cb cb, void *arg);
/** Aborts a started response: the connection closes at once, so the client sees a
 *  truncated body instead of a complete one (a proxy whose upstream broke mid-body); a
 *  body that was to end with the close (no length, not chunked) ends with a reset.
 *  The request's close callback fires before this returns; req is gone afterwards. */
void hc_http_res_abort(hc_http_req_t *req);

/* ---- taking a connection over after 101 (RFC 9110 §7.8: Upgrade tunnels) ---- */

/** What a taken-over connection reports. Each gets the ud given to take_over. */
typedef struct hc_http_raw_cbs {
    void (*on_data)(void *ud, const char *data, size_t len); /* bytes from the client */
    void (*on_eof)(void *ud);   /* the client half-closed; reading stopped (optional) */
    void (*on_drain)(void *ud); /* buffered output was sent (optional) */
    void (*on_close)(void *ud); /* the connection is closing: the last call */
} hc_http_raw_cbs_t;

/** After hc_http_res_start(req, 101, -1) (with the Upgrade and Connection fields added
 *  by the caller; the request's head must have asked for the upgrade), ends the
 *  response and hands the connection to cbs: no HTTP is parsed on it any more, no
 *  timeout applies, and bytes the client sent after its request head arrive through
 *  on_data (from the loop, not from inside this call). req is gone afterwards; *out is
 *  the connection for the hc_http_raw_* calls until on_close. Returns 0, or -EINVAL
 *  (not an upgrade request or no 101 started: nothing changed). */
int hc_http_req_take_over(hc_http_req_t *req, const hc_http_raw_cbs_t *cbs, void *ud,
                          hc_http_conn_t **out);
/** Whether hc_http_req_take_over can take req's connection once a 101 is started: the
 *  request's head asked for the upgrade as the parser reads it, the connection is open. */
int hc_http_req_upgradable(const hc_http_req_t *req);
/** Sends len bytes on a taken-over connection (TLS applied). Returns 0, HC_HTTP_WAIT
 *  (buffered: wait for on_drain before sending more) or -EPIPE. */
int hc_http_raw_write(hc_http_conn_t *c, const char *data, size_t len);
/** Stops (pause = 1) or resumes reading from the client (backpressure). */
void hc_http_raw_pause(hc_http_conn_t *c, int pause);
/** Half-closes: once buffered output is sent, shuts down the sending side (TLS:
 *  close_notify first); reading goes on until the client closes. */
void hc_http_raw_shutdown(hc_http_conn_t *c);
/** Closes at once; on_close fires before this returns. */
void hc_http_raw_close(hc_http_conn_t *c);

/* ---- server-sent events (text/event-stream, WHATWG HTML §9.2) ---- */

/** Starts an event stream (200, no caching). keepalive_ms > 0 sends a ":" comment line
 *  whenever the stream was quiet that long. Returns 0 or a negative errno. */
int hc_http_sse_start(hc_http_req_t *req, unsigned keepalive_ms);
/** Sends one event: optional event name and id, data split into one data: line per
 *  line. Returns as hc_http_res_write. */
int hc_http_sse_send(hc_http_req_t *req, const char *event, const char *data, const char *id);
/** Sends a comment line (": text"). */
int hc_http_sse_comment(hc_http_req_t *req, const char *text);

#endif
