/* Server health for the proxy's upstreams: the process-wide table of health entries
 * (atomics, so every worker reads them without locks) and the active health checker
 * that probes servers of services with a file-provider healthCheck spec (Traefik's
 * pkg/healthcheck) from one loop. proxy_upstream.c owns both through
 * proxy_upstream_shared_t.
 *
 * Keys: passive state is per server URL ("http://10.0.0.7:8000"), active state per
 * service and URL ("svc@file http://10.0.0.7:8000"): two services may check one server
 * differently. */
#ifndef PROXY_HEALTH_H
#define PROXY_HEALTH_H

#include "core/hc_http_client.h"
#include "proxy/proxy_config.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

typedef struct proxy_health proxy_health_t;

/* One server's state. Reference-counted; key and pointer stay valid while held. */
typedef struct proxy_health_entry {
    char *key;
    uint64_t hash;             /* of key: the table's bucket */
    atomic_uint refs;          /* under the table lock */
    _Atomic uint64_t down_until; /* passive: monotonic ms until which it is out */
    atomic_int active_down;    /* active: the last probe failed */
    atomic_int probers;        /* active: the checks probing it (0: none, never down) */
    /* active, p2c and leasttime: requests in flight to it, every worker's; kept a cache
     * line away from the fields above, which every pick reads while workers write it */
    char line_apart[64];
    atomic_uint inflight;
    /* active, passiveHealthCheck: the times of its latest failures (under the table
     * lock; fails mirrors nfail for a look without it) */
    uint64_t *fail_ms;
    unsigned nfail, fail_cap;
    atomic_uint fails;
    struct proxy_health_entry *next;
} proxy_health_entry_t;

/** An empty table (thread-safe). */
proxy_health_t *proxy_health_new(void);
/** Frees the table; every entry must have been released. NULL is fine. */
void proxy_health_free(proxy_health_t *h);
/** The entry of key, created (up) when absent, with one more reference. Any thread. */
proxy_health_entry_t *proxy_health_ref(proxy_health_t *h, const char *key);
/** Drops a reference; the last one removes the entry. NULL e is fine. */
void proxy_health_unref(proxy_health_t *h, proxy_health_entry_t *e);
/** Reads an entry's state without creating it: 1 up, 0 down; absent keys are up. */
int proxy_health_up(proxy_health_t *h, const char *key, uint64_t now_ms);
/** Traefik's passiveHealthCheck, at the end of a try of the server of entry e (keyed by
 *  service and URL): a success (the server answered below 500) forgets its failures; a
 *  failure is kept for window_ms, and max of them within it take the server out: for
 *  window_ms, or until a probe finds it up when an active check probes it. Returns 1
 *  when this failure took it out. Any thread; a success with no failures takes no lock. */
int proxy_health_passive(proxy_health_t *h, proxy_health_entry_t *e, int ok, uint64_t window_ms,
                         unsigned max, uint64_t now_ms);
/** Milliseconds of a monotonic clock shared by all threads. */
uint64_t proxy_health_now_ms(void);

/* The healthCheck spec (Traefik ServerHealthCheck). */
typedef struct proxy_health_spec {
    char *path;     /* "/" when absent */
    char *scheme;   /* NULL: the server's */
    char *hostname; /* NULL: the server's host */
    char *method;   /* "GET" */
    char *body;     /* sent with each probe (NULL: none) */
    int port;       /* 0: the server's */
    uint64_t interval_ms; /* 30 s */
    uint64_t unhealthy_interval_ms; /* unhealthyInterval: for servers found down; 0: interval */
    uint64_t timeout_ms;  /* 5 s */
    int status;           /* 0: any 2xx or 3xx is healthy */
    int follow_redirects; /* followRedirects (default 1): the status after redirects counts */
    hc_http_client_header_t *headers; /* owned names and values */
    size_t nheaders;
} proxy_health_spec_t;

/** Parses a healthCheck object. Durations are Go durations ("10s", "1m30s", "500ms")
 *  or integer seconds. Returns 0, or -EINVAL with err. Free with proxy_health_spec_free. */
int proxy_health_spec_parse(const json_t *j, proxy_health_spec_t *out, char *err,
                            size_t errlen);
void proxy_health_spec_free(proxy_health_spec_t *s);
/** Where a redirect from url to location leads (RFC 3986 §5.2, as Go's client
 *  resolves it) in out. Returns 0 or -EINVAL. */
int proxy_health_redirect_url(const char *url, const char *location, char *out, size_t outlen);
/** The probe URL for server url under spec (scheme and port replaced, path set) in
 *  out. Returns 0 or -EINVAL (url is not http(s)://host[:port]). */
int proxy_health_probe_url(const proxy_health_spec_t *s, const char *url, char *out,
                           size_t outlen);

typedef struct proxy_health_checker proxy_health_checker_t;

/** A checker probing from loop through its own client (ca/insecure as given). NULL
 *  with err when the client cannot be made. */
proxy_health_checker_t *proxy_health_checker_new(uv_loop_t *loop, proxy_health_t *h,
                                                 const char *ca_file, int insecure,
                                                 char *err, size_t errlen);
/** A new configuration: checks for services with health_check start (their first
 *  probe at once), unchanged ones keep running with their state, others stop. A spec
 *  that does not parse is logged and ignored. Loop thread only. */
void proxy_health_checker_set_config(proxy_health_checker_t *c, const proxy_config_t *cfg);
/** Stops every check and frees the checker once its handles closed. NULL is fine. */
void proxy_health_checker_free(proxy_health_checker_t *c);

#endif
