/* Internal interface between the HTTP client's request layer (hc_http_client.c), its
 * head builder (hc_http_client_head.c: URLs, origins, the request head) and its
 * connection layer (hc_http_client_conn.c: DNS, TCP, TLS, keep-alive pool).
 * Not for use outside those files.
 *
 * Memory rule that keeps re-entrant callbacks safe: a request and a connection are
 * freed only from libuv close callbacks, so either may be closed from inside the
 * other's events; every event handler checks whether its object is still live. */
#ifndef HC_HTTP_CLIENT_INT_H
#define HC_HTTP_CLIENT_INT_H

#include "core/hc_buf.h"
#include "core/hc_http_client.h"

/* One socket read: large enough that a 64 KB body and its head come in one read and
 * leave in one write, where 64 KiB took two of each (measured on TLS to the client). */
enum { HC_HCLI_READ_BUF = 256 * 1024 };

typedef struct hc_hcli_conn hc_hcli_conn_t;
typedef struct hc_hcli_origin hc_hcli_origin_t;

/** What a connection reports to the request it serves (owner). None fires after the
 *  connection was released or closed. */
typedef struct hc_hcli_events {
    /** Connected (and TLS established): status 0; or failed: negative errno + reason. */
    void (*on_ready)(void *owner, int status, const char *reason);
    /** TCP is connected and the TLS handshake begins (optional). */
    void (*on_handshake)(void *owner);
    /** Plaintext from the server; at most HC_HCLI_READ_BUF bytes. */
    void (*on_data)(void *owner, const char *data, size_t len);
    /** The connection ended: 0 when the server closed it cleanly, else negative. */
    void (*on_close)(void *owner, int status, const char *reason);
    /** A write completed; inflight is what is still queued in the kernel's direction. */
    void (*on_written)(void *owner, size_t inflight);
    /** The server half-closed (optional; NULL: the connection ends with on_close). */
    void (*on_eof)(void *owner);
    /** Watching (hc_hcli_conn_read_mode) and the socket is readable (optional). */
    void (*on_readable)(void *owner);
} hc_hcli_events_t;

/** Where a connection goes. Strings are copied by hc_hcli_conn_open. */
typedef struct hc_hcli_target {
    const char *host;
    int port;
    hc_tls_ctx_t *tls; /* NULL = plain TCP */
    const char *sni;   /* TLS: name sent and verified */
    int max_idle;      /* idle connections kept (hc_http_client_origin_pool); 0 = the
                          client's, < 0 = none */
    uint64_t idle_ms;  /* idle timeout; 0 = the client's, UINT64_MAX = none */
} hc_hcli_target_t;

/* A parsed origin (hc_http_client_origin_new, or one per request made from its URL):
 * one block holding the strings. */
struct hc_http_client_origin {
    unsigned refs;
    int tls;                 /* https */
    hc_hcli_target_t target; /* tls referenced; host and sni point into mem */
    const char *key;         /* the pool key (hc_hcli_key) */
    const char *authority;   /* the Host field's value: host, [v6], with :port when not
                                the scheme's default */
    size_t authority_len;
    char mem[];
};

struct hc_http_client {
    uv_loop_t *loop;
    hc_tls_ctx_t *tls; /* the default client context */
    unsigned max_idle;
    uint64_t idle_ms;
    size_t max_header;
    hc_hcli_origin_t *origins; /* origins with idle connections */
    hc_http_client_req_t *reqs;       /* requests that have not finished */
    size_t n_conns;            /* connections not yet freed */
    size_t n_reqs;             /* requests not yet freed (recycled ones too) */
    hc_http_client_req_t *free_reqs; /* finished requests kept for reuse */
    unsigned n_free_reqs;
    int freeing;
    char rbuf[HC_HCLI_READ_BUF]; /* socket reads (one loop: one read at a time) */
    char pbuf[HC_HCLI_READ_BUF]; /* TLS plaintext */
};

/* A connection taken over after a 101 (hc_http_client_req_take_over). */
struct hc_http_client_raw {
    hc_hcli_conn_t *conn; /* NULL once broken */
    const hc_http_client_raw_cbs_t *cbs;
    void *ud;
    hc_buf_t rest; /* bytes that came after the 101 head, until the first resume */
};

/** Connection events of a taken-over connection (hc_http_client_raw.c). */
extern const hc_hcli_events_t hc_hcli_raw_events;

/** The pool key of a target: connections are shared only between equal keys. Written
 *  into out (room bytes, at least 1); returns its length. */
size_t hc_hcli_key(const hc_hcli_target_t *t, char *out, size_t room);

/* ---- hc_http_client_head.c ---- */

/** Parses an http(s) URL into a new origin (one reference); *target (may be NULL) gets
 *  the request-target part of url (from the first '/' or '?', "" when absent). tls: the
 *  context for https (referenced). NULL when the URL is not valid. */
hc_http_client_origin_t *hc_hcli_origin_parse(const char *url, const char *tls_server_name,
                                              hc_tls_ctx_t *tls, const char **target);
/** The length of name when it is a token (RFC 9110 §5.6.2), else 0. */
size_t hc_hcli_token_len(const char *name);

/* What the head says beyond the caller's fields. */
enum {
    HC_HCLI_HEAD_CLOSE = 1,   /* Connection: close */
    HC_HCLI_HEAD_UPGRADE = 2, /* Connection: Upgrade */
    HC_HCLI_HEAD_STREAM = 4,  /* a streamed body: Content-Length from stream_length */
    HC_HCLI_HEAD_CHUNKED = 8, /* a streamed body of unknown length */
};
/** Writes into b (empty) the request line for target (up to a '#'; NUL-terminated),
 *  Host (from org unless the caller gave one), the caller's fields (checked unless
 *  o->headers_checked), our framing and an in-memory body. -EINVAL on a bad target,
 *  field or size. */
int hc_hcli_head_build(hc_buf_t *b, const hc_http_client_req_opts_t *o, const char *method,
                       const char *target, const hc_http_client_origin_t *org, unsigned flags);

/** An idle connection for key, now attached to owner; NULL when none is pooled. */
hc_hcli_conn_t *hc_hcli_pool_take(hc_http_client_t *cl, const char *key,
                                  const hc_hcli_events_t *ev, void *owner);

/** Starts a new connection (resolve, connect, TLS). on_ready fires once, later.
 *  Returns NULL with *rc set when it cannot start (a bad TLS name). */
hc_hcli_conn_t *hc_hcli_conn_open(hc_http_client_t *cl, const hc_hcli_target_t *t,
                                  const char *key, const hc_hcli_events_t *ev, void *owner,
                                  int *rc);

/** Sends plaintext (copied; encrypted first on TLS). Returns 0 or a negative errno. */
int hc_hcli_conn_write(hc_hcli_conn_t *c, const char *data, size_t len);
/** Bytes handed to libuv and not yet written. */
size_t hc_hcli_conn_inflight(const hc_hcli_conn_t *c);
/** Stops or resumes reading (backpressure). */
void hc_hcli_conn_pause(hc_hcli_conn_t *c, int paused);
enum { HC_HCLI_READ_SMALL = 16 * 1024 };
/** How the connection reads until pooled: HC_HCLI_READ_SMALL bytes at a time (small = 1),
 *  and not at all but reporting readability through on_readable (watch = 1). */
void hc_hcli_conn_read_mode(hc_hcli_conn_t *c, int small, int watch);
/** A plain connection's socket, -1 for TLS. */
int hc_hcli_conn_fd(const hc_hcli_conn_t *c);
/** 1 when a plain connection's socket holds nothing to read and was not closed. */
int hc_hcli_conn_quiet(const hc_hcli_conn_t *c);
/** 1 when the connection served an earlier request. */
int hc_hcli_conn_reused(const hc_hcli_conn_t *c);
/** Detaches the owner and pools the connection for reuse, or closes it when it cannot
 *  be reused (pool full, writes pending, client closing). */
void hc_hcli_conn_release(hc_hcli_conn_t *c);
/** Gives an active connection to another owner (a taken-over upgrade). */
void hc_hcli_conn_rebind(hc_hcli_conn_t *c, const hc_hcli_events_t *ev, void *owner);
/** Half-closes the sending side after queued writes (TLS: close_notify first). */
void hc_hcli_conn_shutdown(hc_hcli_conn_t *c);
/** Detaches the owner and closes the connection. */
void hc_hcli_conn_close(hc_hcli_conn_t *c);

/** Closes every pooled connection (the client is going away). */
void hc_hcli_pool_clear(hc_http_client_t *cl);
/** Frees the client once it is being freed and nothing of it is left open. */
void hc_hcli_client_maybe_free(hc_http_client_t *cl);

#endif
