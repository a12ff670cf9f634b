/* HTTP/1.1 client on a libuv loop, for proxy upstreams, forward auth, ACME and health
 * checks: keep-alive pools per origin, TLS through hc_tls, timeouts, streamed or
 * collected responses, streamed or in-memory request bodies.
 *
 * Start here: hc_http_client_new once per loop, then hc_http_client_request per request.
 * A request reports on_headers, then on_body pieces, then on_done exactly once.
 * A caller sending many requests to one server (the proxy) parses its URL once with
 * hc_http_client_origin_new and passes origin + target instead of url.
 * Implementation: hc_http_client.c (requests), hc_http_client_head.c (URLs, origins,
 * the request head), hc_http_client_conn.c (connections, DNS, TLS, pool).
 * Not thread-safe: one client per loop. */
#ifndef HC_HTTP_CLIENT_H
#define HC_HTTP_CLIENT_H

#include "core/hc_tls.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct hc_http_client hc_http_client_t;
typedef struct hc_http_client_req hc_http_client_req_t;
typedef struct hc_http_client_origin hc_http_client_origin_t;

/* Failures reported to on_done, as negative errno values (the reason says more):
 *   -ECONNREFUSED, -ECONNRESET, -ENETUNREACH ...  connecting or the connection broke
 *   -EHOSTUNREACH   the name did not resolve
 *   -ETIMEDOUT      connect, response-header or overall timeout
 *   -EKEYREJECTED   the server's certificate failed verification
 *   -EPROTONOSUPPORT  the server does not speak TLS (its first bytes are no TLS record)
 *   -EPROTO         any other TLS failure
 *   -EBADMSG        the response is not valid HTTP/1.x
 *   -EFBIG          collect mode: the body is larger than collect_max
 *   -ECANCELED      hc_http_client_req_cancel or hc_http_client_free
 *   -EINVAL         a bad URL, method or header (reported by hc_http_client_request itself) */

typedef struct hc_http_client_opts {
    unsigned max_idle_per_origin; /* idle keep-alive connections kept per origin; 0 = 8 */
    uint64_t idle_timeout_ms;     /* an idle connection is closed after this; 0 = 90 s */
    const char *ca_file;          /* PEM bundle to verify servers; NULL = system store */
    int insecure_skip_verify;     /* 1 = accept any server certificate */
    size_t max_header_bytes;      /* response header section limit; 0 = 64 KiB */
} hc_http_client_opts_t;

typedef struct hc_http_client_header {
    const char *name;
    const char *value;
    /* Lengths of name and value: always set in responses; in requests read only with
     * opts.headers_checked (else measured). */
    size_t name_len, value_len;
} hc_http_client_header_t;

/** The response head given to on_headers. Everything points into the request and
 *  stays valid until on_done returns. */
typedef struct hc_http_response {
    int status;
    int version_minor;              /* HTTP/1.x */
    const char *reason;             /* reason phrase, maybe "" */
    const hc_http_client_header_t *headers; /* as received, in order; names keep their case */
    size_t n_headers;
    int64_t content_length;         /* -1 when not given (chunked or until close) */
} hc_http_response_t;

typedef struct hc_http_client_req_cbs {
    /** The final response head arrived (1xx interim responses go to on_interim). Return
     *  0 to go on, a negative errno to abort the request (on_done gets it). Optional. */
    int (*on_headers)(hc_http_client_req_t *req, const hc_http_response_t *res, void *ud);
    /** An interim 1xx response other than 101 (103 Early Hints, 100 Continue), valid for
     *  the call only. Optional: skipped otherwise. */
    void (*on_interim)(hc_http_client_req_t *req, const hc_http_response_t *res, void *ud);
    /** A piece of the decoded body (chunked framing removed), at most 256 KiB. Not called
     *  in collect mode. Return 0 or a negative errno to abort. Optional. */
    int (*on_body)(hc_http_client_req_t *req, const char *data, size_t len, void *ud);
    /** Streamed request body only: the client wrote what was queued and takes more.
     *  Optional. */
    void (*on_drain)(hc_http_client_req_t *req, void *ud);
    /** With continue_timeout_ms: the server wants the body (its 100 came) or stayed
     *  silent for that long. Not called when the final response came first. Optional. */
    void (*on_continue)(hc_http_client_req_t *req, void *ud);
    /** A connection to the server is established (a pooled one, or a new one with its
     *  TLS handshake) and the head is written: a failure from here on is not a connect
     *  failure. With a pooled connection it fires before hc_http_client_request returns.
     *  Optional. */
    void (*on_connected)(hc_http_client_req_t *req, void *ud);
    /** After hc_http_client_req_body_fd: the socket may hold body bytes (unless paused).
     *  Optional. */
    void (*on_readable)(hc_http_client_req_t *req, void *ud);
    /** The head has come (on_headers ran) and a read brought no body byte: the body comes
     *  later, if at all (an event stream, a long poll). Optional. */
    void (*on_waiting)(hc_http_client_req_t *req, void *ud);
    /** Exactly once: status 0 when the whole response arrived, else a negative errno
     *  (see above) with hc_http_client_req_error telling why. req is freed after it returns. */
    void (*on_done)(hc_http_client_req_t *req, int status, void *ud);
} hc_http_client_req_cbs_t;

typedef struct hc_http_client_req_opts {
    const char *method;              /* "GET" when NULL */
    const char *url;                 /* http:// or https://host[:port][/path][?query] */
    hc_http_client_origin_t *origin; /* instead of url: a parsed origin (its TLS
                                        context and name; tls and tls_server_name below
                                        are then ignored), referenced while in use */
    const char *target; /* with origin: the request-target, "/path?query" ("/" when NULL) */
    int headers_checked; /* 1: every header has name_len and value_len set, names are
                            tokens and values hold no CR or LF (fields from hc_http_parse
                            or built by the caller): not checked again */
    const hc_http_client_header_t *headers; /* sent as given; Host is added unless present;
                                        Content-Length, Transfer-Encoding and Connection
                                        are set by the client and dropped from here */
    size_t n_headers;
    const char *body;  /* in-memory body (copied), may be NULL with body_len 0 */
    size_t body_len;
    int stream_body;   /* 1: the body comes from hc_http_client_req_write/hc_http_client_req_end */
    int64_t stream_length; /* streamed body length, -1 = unknown (sent chunked) */
    size_t collect_max; /* > 0: collect mode, the body is gathered up to this many bytes
                           and read with hc_http_client_req_body in on_done */
    uint64_t connect_timeout_ms; /* DNS + TCP (+ TLS without tls_timeout_ms); 0 = 10 s */
    uint64_t tls_timeout_ms;     /* the TLS handshake, from the TCP connect; 0 = within
                                    connect_timeout_ms */
    uint64_t header_timeout_ms;  /* request fully sent -> response head; 0 = 60 s */
    uint64_t total_timeout_ms;   /* whole request; 0 = none */
    uint64_t continue_timeout_ms; /* streamed body sent with "Expect: 100-continue" in
                                     headers: on_continue says when to send it, at the
                                     server's 100 or this long after the head is written
                                     (never when a final response comes first); 0 = no
                                     waiting */
    const char *tls_server_name; /* https: SNI and name to verify; NULL = the URL host */
    hc_tls_ctx_t *tls;           /* https: client context instead of the client's own
                                    (e.g. another CA); referenced while in use */
    int no_reuse;                /* 1: a fresh connection, closed afterwards */
    int small_head; /* 1: on a plain connection the head is read in small pieces, leaving
                       most of a large body in the socket for hc_http_client_req_body_fd
                       (which needs no option: without it the first read takes 256 KiB) */
    int upgrade; /* 1: asks to switch protocols (RFC 9110 §7.8): sends "Connection:
                    Upgrade" (give the Upgrade field in headers); a 101 answer can then
                    be taken over with hc_http_client_req_take_over */
} hc_http_client_req_opts_t;

/** A client on loop (which must outlive it). Reads ca_file now. NULL with a message in
 *  err when the CA bundle cannot be loaded. */
hc_http_client_t *hc_http_client_new(uv_loop_t *loop, const hc_http_client_opts_t *opts,
                                     char *err, size_t errlen);
/** Cancels every request (on_done with -ECANCELED, before this returns), closes idle
 *  connections and frees the client once its handles closed (run the loop). NULL is fine. */
void hc_http_client_free(hc_http_client_t *cl);

/** Starts a request. Returns 0 and sets *out (may be NULL) to a handle valid until
 *  on_done returns, or -EINVAL with nothing started and no callback fired. cbs and ud
 *  must outlive the request; opts and everything it points to are copied. */
int hc_http_client_request(hc_http_client_t *cl, const hc_http_client_req_opts_t *opts,
                    const hc_http_client_req_cbs_t *cbs, void *ud, hc_http_client_req_t **out);

/** Streamed body: queues len bytes (copied). Returns 0; 1 when more than 1 MiB now waits
 *  unsent (taken, but write no more until on_drain); -ENOBUFS (nothing taken) when the
 *  writer went on past that by another MiB; -EINVAL after hc_http_client_req_end or when
 *  passing stream_length. */
int hc_http_client_req_write(hc_http_client_req_t *req, const char *data, size_t len);
/** Streamed body: no more data. Returns 0, or -EINVAL when fewer bytes than
 *  stream_length were written (the request then fails). */
int hc_http_client_req_end(hc_http_client_req_t *req);

/** Stops (paused = 1) or resumes reading the response, for backpressure while the
 *  caller cannot take more on_body pieces. Timeouts keep running. */
void hc_http_client_req_pause(hc_http_client_req_t *req, int paused);

/** Hands the rest of a Content-Length body to the caller, who reads it from the
 *  returned socket (a plain connection's), e.g. with splice(2): *left is its byte count.
 *  on_body no longer fires; on_readable does when the socket is readable, and each read
 *  is reported with hc_http_client_req_body_taken. -1 (nothing changes) for another
 *  kind of body or connection, in collect mode, or when fewer than min bytes are left. */
int hc_http_client_req_body_fd(hc_http_client_req_t *req, int64_t min, int64_t *left);
/** n bytes of the body were read from the socket; n = 0: it ended before the body did
 *  (the request fails). on_done fires once the whole body was reported. */
void hc_http_client_req_body_taken(hc_http_client_req_t *req, size_t n);

/** Aborts the request: on_done fires with -ECANCELED before this returns (unless it
 *  already fired). Safe to call from this request's callbacks. */
void hc_http_client_req_cancel(hc_http_client_req_t *req);

/** The response head, NULL until it arrived. Valid until on_done returns. */
const hc_http_response_t *hc_http_client_req_response(const hc_http_client_req_t *req);
/** Collect mode: the body gathered so far and its length (NUL-terminated). */
const char *hc_http_client_req_body(const hc_http_client_req_t *req, size_t *len);
/** Why the request failed ("connect: connection refused", "response header timeout",
 *  "certificate verify failed: ...", "bad response: ..."), "" when it did not. */
const char *hc_http_client_req_error(const hc_http_client_req_t *req);
/** 1 when the request ran on a pooled connection used before. */
int hc_http_client_req_reused(const hc_http_client_req_t *req);
/** 1 once a connection to the server was established (TCP, and TLS for https): a
 *  failure before that (DNS, refused, unreachable, connect timeout, handshake) never
 *  reached the server. */
int hc_http_client_req_connected(const hc_http_client_req_t *req);
/* ---- the connection after a 101 (Upgrade tunnels) ---- */

typedef struct hc_http_client_raw hc_http_client_raw_t;

/** What a taken-over upstream connection reports; each gets the ud of take_over. */
typedef struct hc_http_client_raw_cbs {
    void (*on_data)(void *ud, const char *data, size_t len); /* bytes from the server */
    void (*on_eof)(void *ud);   /* the server half-closed; reading stopped */
    void (*on_drain)(void *ud); /* everything written reached the socket */
    /** The connection broke (status < 0) or was closed by the server after its EOF:
     *  no more callbacks; the owner still frees raw with hc_http_client_raw_close. */
    void (*on_close)(void *ud, int status);
} hc_http_client_raw_cbs_t;

/** From on_headers of a request made with opts.upgrade whose response is 101: takes
 *  its connection. The request then completes (on_done with 0); the connection is
 *  raw's, paused: bytes the server sent after the 101 head are delivered once
 *  hc_http_client_raw_pause(raw, 0) is called (from inside that call). cbs and ud must
 *  live until hc_http_client_raw_close. Returns NULL when not allowed (no 101, no
 *  upgrade asked). */
hc_http_client_raw_t *hc_http_client_req_take_over(hc_http_client_req_t *req,
                                                   const hc_http_client_raw_cbs_t *cbs, void *ud);
/** Sends len bytes (copied). Returns 0 or a negative errno (-ENOTCONN once broken). */
int hc_http_client_raw_write(hc_http_client_raw_t *raw, const char *data, size_t len);
/** Bytes handed to the socket and not yet written (backpressure: wait for on_drain). */
size_t hc_http_client_raw_inflight(const hc_http_client_raw_t *raw);
/** Stops (paused = 1) or resumes reading from the server. */
void hc_http_client_raw_pause(hc_http_client_raw_t *raw, int paused);
/** Half-closes the sending side once queued bytes are written (TLS: close_notify). */
void hc_http_client_raw_shutdown(hc_http_client_raw_t *raw);
/** Closes the connection (no callback fires) and frees raw. NULL is fine. */
void hc_http_client_raw_close(hc_http_client_raw_t *raw);

/** Parses url ("http[s]://host[:port]", any path ignored) once for many requests:
 *  https uses tls (NULL: cl's own context) and tls_server_name (NULL: the URL host) as
 *  SNI and verified name. NULL when the URL is not valid (hc_http_client_request would
 *  refuse it). The origin does not refer to cl afterwards; one reference, to drop with
 *  hc_http_client_origin_unref. Same thread as its requests (plain counting). */
hc_http_client_origin_t *hc_http_client_origin_new(hc_http_client_t *cl, const char *url,
                                                   const char *tls_server_name, hc_tls_ctx_t *tls);
/** Pool limits for the connections opened for o: at most max_idle of them kept idle
 *  per pool key (0 = the client's max_idle_per_origin, < 0 = none: each is closed after
 *  its response), each closed after idle_ms idle (0 = the client's idle_timeout_ms,
 *  UINT64_MAX = never). A connection keeps the limits of the origin that opened it. */
void hc_http_client_origin_pool(hc_http_client_origin_t *o, int max_idle, uint64_t idle_ms);
/** Drops a reference; the origin is freed with the last one. NULL is fine. */
void hc_http_client_origin_unref(hc_http_client_origin_t *o);

/** Finds a header of res by case-insensitive name; NULL when absent. */
const char *hc_http_response_header(const hc_http_response_t *res, const char *name);

#endif
