/* Forwarding to upstream servers: the per-worker upstream manager (load balancing,
 * keep-alive pools through hc_http_client, retries, timeouts, error pages, streamed
 * bodies both ways, X-Forwarded-*, hop-by-hop removal, Upgrade tunnels) and the
 * process-wide shared part (passive and active server health). Start reading here.
 *
 * Flow for one request (PX1's pipeline calls it after the request middlewares):
 *   proxy_upstream_forward(up, &fwd)  picks a server (sticky cookie, RR or WRR, healthy
 *     only), sends the request as the middlewares left it, streams the client body
 *   -> hooks.on_response(resp)        response head, hop-by-hop removed: run on_response
 *                                     middlewares, decide compression
 *   -> hooks.body_filter(...)         optional, each body piece (compress)
 *   -> hooks.on_done(result)          once, after the client response ended or the client
 *                                     went away: values for the access log and metrics.
 * An Upgrade request answered 101 becomes a tunnel (proxy_tunnel.c) that copies bytes
 * both ways; it belongs to the manager, not to a configuration, so reloads keep it.
 *
 * A large body between plain sockets is spliced (splice(2) through a pipe), bytes the
 * kernel moves without copying them to us; splice cannot be told MSG_NOSIGNAL, so the
 * process must ignore SIGPIPE (hc_runtime does).
 *
 * Threads: a proxy_upstream_t and its requests belong to one worker loop. The
 * proxy_upstream_shared_t is created once; its health table is read from any thread
 * (atomics), its active health checks run on the loop given to it. */
#ifndef PROXY_UPSTREAM_H
#define PROXY_UPSTREAM_H

#include "core/hc_http_server.h"
#include "proxy/mw.h"
#include "proxy/proxy_config.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct proxy_upstream_shared proxy_upstream_shared_t;
typedef struct proxy_upstream proxy_upstream_t;
typedef struct proxy_fwd proxy_fwd_t;

/* Options shared by every worker (Traefik serversTransport / forwardedHeaders). Strings
 * and arrays are copied by proxy_upstream_shared_new. */
typedef struct proxy_upstream_opts {
    uint64_t connect_timeout_ms;  /* dial; 0 = 30 s (Traefik dialTimeout); the TLS
                                     handshake has its own 10 s, as Traefik's */
    uint64_t response_timeout_ms; /* request sent -> response head; 0 = none (Traefik) */
    uint64_t idle_conn_timeout_ms; /* pooled upstream connection; 0 = 90 s */
    unsigned max_idle_per_server;  /* pooled connections per server; 0 = 200 */
    uint64_t tunnel_idle_ms;       /* Upgrade tunnel with no byte either way; 0 = never, as
                                      Traefik sets no deadline on a hijacked connection (the
                                      client and server keep it alive or end it) */
    uint32_t passive_down_ms; /* a connect failure takes a server out this long; 0 = 10 s */
    unsigned max_attempts;    /* servers tried on connect failure; 0 = up to 16 */
    /* forwardedHeaders: X-Forwarded-* and X-Real-Ip from peers in trusted_ips (CIDRs or
     * addresses) are kept and extended; from others they are removed first.
     * forwarded_insecure = 1 trusts every peer. */
    const char *const *trusted_ips;
    size_t ntrusted_ips;
    int forwarded_insecure;
    const char *ca_file;      /* https upstreams: CA bundle; NULL = system store */
    int insecure_skip_verify; /* https upstreams: accept any certificate */
} proxy_upstream_opts_t;

/* A servers transport ready for use, built once per generation from the configuration's
 * (proxy_runtime_transport.c) and reached through proxy_service_t.transport->ready. */
typedef struct proxy_upstream_transport {
    char *name;                 /* the configuration's */
    hc_tls_ctx_t *tls;          /* https servers: its client context; NULL = the default */
    char *server_name;          /* SNI and the name verified; NULL = the server URL's host */
    uint64_t dial_timeout_ms;   /* dial; 0 = connect_timeout_ms */
    uint64_t header_timeout_ms; /* responseHeaderTimeout; 0 = response_timeout_ms */
    int max_idle;               /* maxIdleConnsPerHost; < 0 = none kept */
    uint64_t idle_ms;           /* idleConnTimeout; 0 = idle_conn_timeout_ms, UINT64_MAX =
                                   never */
    /* What it was built from, so that the next generation keeps it when neither changed
     * (its context, and so the pooled connections keyed by it) */
    json_t *spec;
    char *files; /* proxy_gen_files_stamp of spec */
} proxy_upstream_transport_t;

/** The shared part: the health table and the active health checker, whose timers and
 *  probe requests run on loop (one loop for the process, e.g. the main loop). opts is
 *  copied. NULL with a message in err (bad trusted IP, unreadable CA file). */
proxy_upstream_shared_t *proxy_upstream_shared_new(uv_loop_t *loop,
                                                   const proxy_upstream_opts_t *opts,
                                                   char *err, size_t errlen);
/** On the shared loop's thread: a new configuration generation. Starts active health
 *  checks for services with a healthCheck spec (path, interval, timeout, scheme,
 *  hostname, headers, status, port), stops those of services that are gone, and keeps
 *  the state of every (service, server) that still exists. cfg is only read during the
 *  call. Returns 0, or -EINVAL for NULL arguments. */
int proxy_upstream_shared_set_config(proxy_upstream_shared_t *sh, const proxy_config_t *cfg);
/** Any thread: 1 when the server url of service s is up: no active check failed it and
 *  no recent connect failure through s's transport took it out; 0 when down. Unknown
 *  pairs are up (Traefik shows every server "UP" without a health check). */
int proxy_upstream_server_up(proxy_upstream_shared_t *sh, const proxy_service_t *s,
                             const char *url);
/** Stops the health checks and frees the shared part once their handles closed (run
 *  its loop afterwards). Every proxy_upstream_t using sh must have been freed. */
void proxy_upstream_shared_free(proxy_upstream_shared_t *sh);

/** A worker's manager on loop (the worker's thread), with its own upstream client and
 *  keep-alive pools. sh must outlive it. NULL with a message in err. */
proxy_upstream_t *proxy_upstream_new(uv_loop_t *loop, proxy_upstream_shared_t *sh, char *err,
                                     size_t errlen);
/** On the worker's thread: a new configuration generation. Load-balancing state is
 *  rebuilt per service; round-robin positions and WRR deadlines are kept for services
 *  whose servers did not change. Nothing of cfg is kept after the call: requests in
 *  flight and tunnels keep working on their own copies. Returns 0 or -EINVAL. */
int proxy_upstream_set_config(proxy_upstream_t *up, const proxy_config_t *cfg);
/** A mirrored copy's end, for the mirror service's metrics (Traefik counts the copies
 *  under the mirror's own series): the load-balanced service, the request's method and
 *  protocol label, the status (502/504/500 when it failed), its duration and sizes. */
typedef struct proxy_mirror_done {
    const char *service, *method, *protocol;
    int code;
    double seconds;
    uint64_t req_bytes, resp_bytes;
} proxy_mirror_done_t;
/** Calls cb (on the worker's thread) as each mirrored copy of a forward that asked for
 *  it (proxy_fwd_args_t.protocol) ends. */
void proxy_upstream_on_mirror(proxy_upstream_t *up,
                              void (*cb)(void *ud, const proxy_mirror_done_t *d), void *ud);

/** Number of open Upgrade tunnels (for metrics and drain). */
size_t proxy_upstream_tunnels(const proxy_upstream_t *up);
/** Cancels forwards in flight (their clients get 502 when nothing was sent yet, else
 *  the connection closes; on_done fires), closes tunnels and frees the manager once
 *  its handles closed (run the loop afterwards). NULL is fine. */
void proxy_upstream_free(proxy_upstream_t *up);

/* ---- forwarding one request ---- */

/** Receives transformed body bytes from a body filter (same shape as
 *  proxy_mw_sink_fn, so a compressor can write into it). Returns 0 or a negative errno
 *  (the client went away) that the filter must return. */
typedef int (*proxy_fwd_sink_fn)(void *sink_ud, const void *p, size_t n);

/* on_response's verdicts. */
enum {
    PROXY_FWD_SEND = 0,    /* send resp's status and headers, then the body as received */
    PROXY_FWD_REPLACE = 1, /* send resp as filled (status, headers, body); drop upstream's */
    PROXY_FWD_FILTER = 2,  /* like SEND, but every body piece goes through body_filter */
    PROXY_FWD_PASS = 3,    /* answer nothing: the client request goes back to the caller
                              (res.passed in on_done), which answers it itself */
    /* or'ed with _SEND or _FILTER: a response without Content-Type gets one detected
       from its first body bytes (proxy_mw_sniff); its head waits for them */
    PROXY_FWD_SNIFF = 0x100,
};

/* Access-log and metrics values of one forward (Traefik's log field names). Strings
 * are valid during on_done only. */
typedef struct proxy_fwd_result {
    int downstream_status;       /* DownstreamStatus: what the client got (0: nothing) */
    int origin_status;           /* OriginStatus: 0 when hearth answered itself */
    const char *service_name;    /* ServiceName: the load-balanced service of the last
                                    server tried (a weighted service's child, as Traefik
                                    sets it per server), NULL when none was */
    const char *service_url;     /* ServiceURL of the last server tried, "" when none */
    const char *service_addr;    /* ServiceAddr "host:port", "" when none */
    uint64_t origin_duration_ns; /* OriginDuration: request sent -> response ended */
    uint64_t request_content_size;    /* RequestContentSize: body bytes read from the
                                         client (Traefik counts what its handlers read) */
    uint64_t origin_content_size;     /* OriginContentSize: body bytes from upstream */
    uint64_t downstream_content_size; /* body bytes written to the client */
    unsigned retry_attempts;          /* RetryAttempts */
    int upgraded;                     /* 1: became a tunnel (protocol "websocket") */
    int passed; /* 1: a hook said PROXY_FWD_PASS and the client is still there: the
                   request is the caller's to answer (its close is no longer watched) */
    int error;                        /* 0, or the negative errno that ended it */
} proxy_fwd_result_t;

/* What the pipeline plugs into a forward. All optional; ud is passed back. */
typedef struct proxy_fwd_hooks {
    /** The upstream response head (also 101), hop-by-hop fields removed, sticky
     *  Set-Cookie added, body empty. body_len: Content-Length when given (0 when the
     *  status or method has no body), else -1 (a streamed body). May edit
     *  resp->status and resp->headers. Returns PROXY_FWD_SEND or _FILTER (either maybe
     *  with PROXY_FWD_SNIFF), _REPLACE,
     *  PROXY_FWD_PASS when can_pass (the client's body is not being read, no tunnel),
     *  or a negative errno to answer 502. Called once, before anything reaches the
     *  client. */
    int (*on_response)(void *ud, proxy_mw_resp_t *resp, long long body_len, int can_pass);
    /** With PROXY_FWD_FILTER: each body piece in order (last = 1 once, with the end,
     *  len may be 0); the filter hands its output to sink(sink_ud, ...) before it
     *  returns. Returns 0 or a negative errno (ends the response). */
    int (*body_filter)(void *ud, const char *data, size_t len, int last, proxy_fwd_sink_fn sink,
                       void *sink_ud);
    /** Exactly once, when the forward is over (an Upgrade's once its tunnel closed); the
     *  hc_http_req_t may already be gone. */
    void (*on_done)(void *ud, const proxy_fwd_result_t *res);
    /** Optional: before an error page the forward answers itself (502, 503, 504), with
     *  resp holding only its status; fields added to resp->headers go out with it, and
     *  the page goes out with resp->status as the hook leaves it. Returns 0, or
     *  PROXY_FWD_PASS when can_pass (as on_response). */
    int (*on_error_page)(void *ud, proxy_mw_resp_t *resp, int can_pass);
} proxy_fwd_hooks_t;

/* One forward's inputs. */
typedef struct proxy_fwd_args {
    hc_http_req_t *req;             /* answered by the forward; its body unread so far */
    const proxy_mw_req_t *mw;       /* the request as the middlewares left it; borrowed
                                       until proxy_upstream_forward returns (copied) */
    const proxy_service_t *service; /* of the generation last given to set_config */
    int fields_checked; /* 1: mw's fields are as the server parsed them (token names,
                           values without CR or LF; no middleware set any): the
                           upstream client does not check them again */
    int no_body;        /* 1: a request of the caller's own (an errors page's GET): the
                           client's body, framing fields, Expect, Range and the
                           conditional fields are not sent */
    uint64_t max_body;  /* the client's body limit (buffering's maxRequestBodyBytes):
                           past it the server answers 413; 0 = none, as in Traefik */
    unsigned retry_attempts; /* the retry middleware's tries in all: a request of any
                                method is tried again (the same server too) after a
                                connect failure, retry_interval_ms growing as Traefik's
                                backoff; 0 = the default (module comment) */
    uint64_t retry_interval_ms;
    const char *protocol;           /* the metrics' protocol label (a literal), given to the
                                       on_mirror callback with each copy's end; NULL: not counted */
    const proxy_fwd_hooks_t *hooks; /* must outlive the forward; NULL = no hooks */
    void *ud;
} proxy_fwd_args_t;

/** Forwards args->req to a server of args->service and answers it: the upstream's
 *  response streamed back, or an error page (text/plain "Bad Gateway" 502 when every
 *  try failed, "Internal Server Error" 500 for a malformed response, "Service
 *  Unavailable" 503 when the service has no server, 503 "no available server" when none
 *  is up, "Gateway Timeout" 504 on a connect or response timeout). Idempotent requests
 *  (RFC 9110 §9.2.2) are retried on another server after a connect failure (refused,
 *  unreachable, DNS, connect timeout): the body of such a request is read from the
 *  client only once a connection is up, so it is still whole; a connect failure also takes
 *  the server out for passive_down_ms, unless no other server is left. The response
 *  head goes out with the upstream's fields except framing and Date: configure the
 *  entry point's server with server_header "" so the upstream's Server passes alone.
 *  The request body is streamed with no size limit (req->max_body is lifted, as
 *  Traefik sets none). Returns 0 (hooks->on_done will fire) or -EINVAL (bad args:
 *  nothing was done, the caller answers). */
int proxy_upstream_forward(proxy_upstream_t *up, const proxy_fwd_args_t *args);

/** Removes from mw's fields the X-Forwarded-* and X-Real-Ip that req's client sent, unless
 *  its peer is trusted (forwardedHeaders trustedIPs or insecure): Traefik's entry point
 *  does so before any middleware runs, so redirectScheme, forwardAuth, ipStrategy and
 *  rateLimit never see a forged value. Call it on the request before the middlewares. */
void proxy_upstream_untrusted_strip(const proxy_upstream_t *up, proxy_mw_req_t *mw,
                                    const hc_http_req_t *req);

/* ---- pure helpers (proxy_upstream_hdr.c), exposed for the pipeline and tests ---- */

/** 1 when name is a hop-by-hop field (RFC 9110 §7.6.1: Connection, Keep-Alive,
 *  Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
 *  Transfer-Encoding, Upgrade), case-insensitive. */
int proxy_upstream_is_hop(const char *name);
/** Removes the hop-by-hop fields of h and every field named in its Connection
 *  headers (RFC 9110 §7.6.1). When keep_upgrade and a Connection token is "upgrade",
 *  the Upgrade field is kept and "Connection: Upgrade" re-added (WebSocket, §7.8). */
void proxy_upstream_strip_hop(proxy_mw_headers_t *h, int keep_upgrade);
/** Applies the client's Connection options to h as Traefik's entry point does, before any
 *  middleware (removeConnectionHeaders): the fields they name go, but for the X-Forwarded
 *  and X-Real-Ip fields Traefik manages; Connection goes too, or becomes "Upgrade" when it
 *  asked for an upgrade (Upgrade kept). A field a middleware sets afterwards reaches the
 *  server whatever the client named. */
void proxy_upstream_connection_options(proxy_mw_headers_t *h);
/** Applies Traefik's forwardedHeaders to h for a request from peer_ip, as its entry
 *  point does before routing and any middleware: strips X-Forwarded-* and X-Real-Ip (also
 *  with '_') unless trusted, then sets, each only when empty: X-Real-Ip (peer),
 *  X-Forwarded-Proto (http/https, ws/wss for a WebSocket request), -Port (the port in
 *  host, else 443 for https/wss, else 80: Traefik's forwardedPort), -Host (host); sets
 *  -Server when server_name. */
void proxy_upstream_forwarded(proxy_mw_headers_t *h, const char *peer_ip, int trusted, int tls,
                              int websocket, const char *host, const char *server_name);
/** Traefik's isWebsocketRequest: Connection names upgrade and Upgrade names websocket. */
int proxy_upstream_is_websocket(const proxy_mw_headers_t *h);
/** Go's ReverseProxy on the way out: appends peer_ip to X-Forwarded-For (earlier values
 *  joined with ", ") unless no_xff (a headers middleware emptied it). */
void proxy_upstream_forwarded_for(proxy_mw_headers_t *h, const char *peer_ip, int no_xff);

#endif
