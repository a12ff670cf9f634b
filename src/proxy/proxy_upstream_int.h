/* Private to the upstream files (proxy_upstream.c, proxy_upstream_gen.c,
 * proxy_tunnel.c): the shared part, the per-worker manager, a configuration
 * generation of load-balancing state, and the tunnel entry points. */
#ifndef PROXY_UPSTREAM_INT_H
#define PROXY_UPSTREAM_INT_H

#include "core/hc_http_client.h"
#include "proxy/mw_ip.h"
#include "proxy/proxy_health.h"
#include "proxy/proxy_lb.h"
#include "proxy/proxy_upstream.h"

struct proxy_upstream_shared {
    uv_loop_t *loop;
    proxy_upstream_opts_t o; /* strings below are owned copies */
    char *ca_file;
    proxy_mw_ipset_t trusted;
    proxy_health_t *health;
    proxy_health_checker_t *checker;
};

/* A server of a load-balanced service, as one worker sees it. */
typedef struct up_server {
    char *url;        /* "http://10.0.0.7:8000" */
    char *addr;       /* "10.0.0.7:8000" (ServiceAddr) */
    const char *path; /* url's path prefix (in url), trailing '/' dropped: the upstream
                         request-target is path + the request's target */
    size_t path_len;
    hc_http_client_origin_t *origin; /* url parsed for the worker's client, at first use */
    char cookie[PROXY_LB_COOKIE_VALUE_LEN];
    proxy_health_entry_t *passive; /* keyed by URL */
    proxy_health_entry_t *active;  /* keyed by service and URL */
    int large_bodies;              /* its last response body was large: read the next head small, so
                                      that most of such a body is spliced (proxy_upstream.c) */
    int fenced;                    /* sticky requests only (a terminating endpoint still serving) */
    double weight;                 /* its weight (hrw: <= 0 never chosen) */
} up_server_t;

/* One service's balancing state in one generation. */
typedef struct up_lb {
    char *name;
    proxy_service_type_t type;
    up_server_t *servers; /* LOADBALANCER */
    size_t nservers;
    proxy_strategy_t strategy;  /* LOADBALANCER */
    uint64_t rng;               /* LOADBALANCER, p2c: its draws */
    proxy_lb_lt_t lt;           /* LOADBALANCER, leasttime: its servers' times and turns */
    proxy_lb_wrr_t wrr;         /* WEIGHTED: over children (HRW: only their weights);
                                   LOADBALANCER, wrr: over servers */
    struct up_lb **children;    /* WEIGHTED: resolved in the same generation, or NULL */
    size_t nchildren;
    int pass_host;
    int has_check; /* active checks apply */
    unsigned passive_max; /* passiveHealthCheck (proxy_service_t); 0: none */
    uint64_t passive_window_ms;
    /* its servers transport (copied: a forward may outlive the configuration) */
    hc_tls_ctx_t *tls; /* a reference; NULL = the client's own context */
    char *server_name; /* NULL = the server URL's host */
    uint64_t connect_timeout_ms, header_timeout_ms; /* the transport's, else the shared
                                                       options' */
    int max_idle;          /* the transport's pool limits (hc_http_client_origin_pool); 0 = */
    uint64_t idle_ms;      /* the client's, from the shared options */
    proxy_sticky_t sticky; /* strings owned */
    char cookie_name[PROXY_LB_COOKIE_NAME_MAX];
    /* WEIGHTED with sticky, and HRW: each child's name as configured, its cookie value */
    char **child_keys;
    char (*child_cookies)[PROXY_LB_COOKIE_VALUE_LEN];
    /* MIRRORING: children[0] answers; children[k > 0] is sent a copy of percent[k] % of
       the requests (this worker's count, Traefik's rule: while sent[k] * 100 < total *
       percent[k]) */
    unsigned *percent;
    uint64_t *sent, total;
    int mirror_body;
    long long mirror_max_body; /* -1: no limit */
} up_lb_t;

/* The balancing state of one configuration, sorted by service name. Forwards in
 * flight hold a reference, so an old generation lives until they are done. */
typedef struct up_gen {
    unsigned refs;
    up_lb_t *lbs;
    size_t n;
} up_gen_t;

typedef struct proxy_tunnel proxy_tunnel_t;

struct proxy_upstream {
    uv_loop_t *loop;
    proxy_upstream_shared_t *sh;
    hc_http_client_t *client;
    up_gen_t *gen;
    proxy_fwd_t *fwds;      /* in flight */
    proxy_fwd_t *free_fwds; /* finished, kept for reuse (proxy_upstream.c) */
    unsigned nfree_fwds;
    proxy_tunnel_t *tunnels;
    size_t ntunnels;
    unsigned mirrors;    /* mirrored copies in flight (proxy_upstream.c) */
    size_t mirror_bytes; /* their bodies' bytes */
    void (*on_mirror)(void *ud, const proxy_mirror_done_t *d); /* proxy_upstream_on_mirror */
    void *on_mirror_ud;
    int pipe[2]; /* splicing response bodies; empty between uses, -1 until needed */
};

/* proxy_upstream_gen.c */
up_gen_t *up_gen_build(proxy_upstream_shared_t *sh, const proxy_config_t *cfg,
                       const up_gen_t *prev);
void up_gen_unref(proxy_upstream_shared_t *sh, up_gen_t *g);
up_lb_t *up_gen_find(up_gen_t *g, const char *name);
/** 1 when s may take traffic now: its active check passes, no passiveHealthCheck took
 *  it out, and (unless ignore_passive) no recent connect failure did. */
int up_server_ok(const up_server_t *s, int ignore_passive);

/* Choosing a server for one forward. */
enum {
    UP_PICK_COOKIES = PROXY_NEST_MAX + 1
}; /* sticky weighted levels answered with a
      cookie: every level services nest at */

typedef struct up_pick {
    const proxy_mw_headers_t *hdrs; /* the request's fields (the sticky cookie) */
    const char *client_ip;          /* the peer's address (hrw) */
    up_server_t *const *tried;      /* servers tried already: skipped */
    unsigned ntried;
    up_lb_t *lb;     /* in/out: the load-balanced (leaf) service last chosen in */
    int need_cookie; /* in/out: set when a sticky service chose without a valid cookie */
    /* out: the sticky weighted services that chose a child without a valid cookie */
    struct up_pick_child {
        const up_lb_t *lb;
        size_t child;
    } set[UP_PICK_COOKIES];
    unsigned nset;
    up_lb_t *mirroring; /* out: the first mirroring service passed on the way */
} up_pick_t;
/** A server of lb (a weighted service descends into a child). Healthy servers first;
 *  when every one is out after connect failures, one of those is tried anyway, so a
 *  lone server that came back is found at once. NULL when none is left. */
up_server_t *up_pick(up_pick_t *p, up_lb_t *lb);
/** 1 when lb (or a child of a weighted lb) has a server that may take traffic now. */
int up_lb_has_server(up_lb_t *lb);
/** The mirrors of mirroring service lb due a copy of the next request, as a bit per
 *  child index (counted as sent). */
uint64_t up_mirrors_due(up_lb_t *lb);

/* proxy_upstream_hdr.c */
/** proxy_upstream_strip_hop with the name lengths of h's fields in known (NULL: measured). */
void up_strip_hop_lens(proxy_mw_headers_t *h, const size_t *known, int keep_upgrade);
/* The client's own forwarding fields. */
/** 1 when req carries any X-Forwarded-* or X-Real-Ip field (also spelled with '_'). */
int up_has_client_forwarded(const hc_http_req_t *req);
/** Removes every X-Forwarded-* and X-Real-Ip field from h. */
void up_strip_forwarded(proxy_mw_headers_t *h);

/* proxy_tunnel.c: an Upgrade tunnel, made in three steps while the 101 goes through. */
/** From the upstream request's on_headers (101): takes its connection. NULL when the
 *  client refuses (not an upgrade request). */
proxy_tunnel_t *proxy_tunnel_new(proxy_upstream_t *up, hc_http_client_req_t *creq);
/** After hc_http_res_start(req, 101, ...): takes the client connection. 0 or -errno. */
int proxy_tunnel_client(proxy_tunnel_t *t, hc_http_req_t *req);
/** From the upstream request's on_done: status 0 starts copying both ways; anything
 *  else (or a missing side) closes the tunnel. Returns 1 when it runs, 0 when closed. */
int proxy_tunnel_go(proxy_tunnel_t *t, int status);
/** cb(ud) once the running tunnel t closes (either side, idle, or its manager's end). */
void proxy_tunnel_on_close(proxy_tunnel_t *t, void (*cb)(void *ud), void *ud);
/** Closes every tunnel of up (the manager is going away). */
void proxy_tunnel_close_all(proxy_upstream_t *up);

#endif
