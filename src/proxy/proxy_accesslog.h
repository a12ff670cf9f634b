/* The proxy's access log: one JSON object per request with Traefik's field names
 * (traefik/traefik pkg/middlewares/accesslog/logdata.go), keys sorted as Go writes a
 * map, durations in integer nanoseconds. Each worker formats into its own buffer and
 * writes it out in one write(2) when it fills or a timer fires, so the request path
 * never waits on the file and takes no lock. SIGUSR1 reopens the file (log rotation). */
#ifndef PROXY_ACCESSLOG_H
#define PROXY_ACCESSLOG_H

#include "core/hc_buf.h"

#include <openssl/types.h>
#include <stdint.h>
#include <uv.h>

/* One request's values. Strings may be NULL (then "" or left out, as Traefik does). */
typedef struct proxy_accesslog_entry {
    int64_t start_ns;          /* wall clock at arrival, Unix ns */
    uint64_t duration_ns;      /* Duration */
    uint64_t origin_duration_ns; /* OriginDuration */
    const char *client_addr;   /* "ip:port" of the peer */
    const char *client_host;   /* ClientHost when not the peer's IP (a trusted
                                  X-Forwarded-For, as Traefik logs it), else NULL */
    const char *client_user;   /* ClientUsername; NULL = "-" */
    const char *method;
    const char *host;          /* Host header as received (RequestAddr) */
    const char *target;        /* path and query as routed (RequestPath) */
    unsigned long long request_count; /* RequestCount (proxy_accesslog_count) */
    const char *protocol;      /* "HTTP/1.1" */
    int tls;                   /* RequestScheme https */
    const char *tls_version;   /* "1.3" (Traefik's form), NULL without TLS */
    const char *tls_cipher;    /* IANA name, NULL without TLS */
    const char *tls_subject;   /* TLSClientSubject: the client certificate's subject, NULL
                                  when none was presented */
    const char *entrypoint;
    const char *router;        /* qualified router name, NULL when none matched */
    const char *service;       /* qualified service name, NULL when none */
    const char *service_url;
    const char *service_addr;
    int downstream_status;
    int origin_status;         /* 0 when hearth answered itself */
    uint64_t request_size;     /* RequestContentSize */
    uint64_t origin_size;      /* OriginContentSize */
    uint64_t downstream_size;  /* DownstreamContentSize */
    unsigned retry_attempts;
} proxy_accesslog_entry_t;

/** The next RequestCount (a process-wide count of logged requests, taken as each is
 *  routed). */
unsigned long long proxy_accesslog_count(void);
/** Appends e as one JSON line (with '\n') to out. Returns 0 or -ENOBUFS. */
int proxy_accesslog_format(const proxy_accesslog_entry_t *e, hc_buf_t *out);

/** Opens the process-wide log: path "-" is stdout, else the file (created 0640,
 *  appended). Returns 0 or a negative errno. */
int proxy_accesslog_open(const char *path);
/** Reopens the file at the same path (SIGUSR1); lines keep flowing to the new file.
 *  Returns 0 or a negative errno (the old file is kept). */
int proxy_accesslog_reopen(void);
/** Flushes nothing (workers flush their own) and closes the log. */
void proxy_accesslog_close(void);
/** 1 when a log is open. */
int proxy_accesslog_enabled(void);

typedef struct proxy_accesslog_writer proxy_accesslog_writer_t;
/** A worker's buffered writer on loop (flushes every 200 ms and at 32 KiB). NULL when
 *  no log is open. */
proxy_accesslog_writer_t *proxy_accesslog_writer_new(uv_loop_t *loop);
/** Formats and queues one line (dropped, and counted, when the buffer is full). */
void proxy_accesslog_write(proxy_accesslog_writer_t *w, const proxy_accesslog_entry_t *e);
/** Flushes and frees the writer (its timer closes through uv_close). NULL is fine. */
void proxy_accesslog_writer_free(proxy_accesslog_writer_t *w);

/** A certificate's subject as Go's pkix.Name.String() writes it (RFC 2253: the last
 *  attribute first, "CN=client,O=Org"), allocated; NULL when cert is. */
char *proxy_accesslog_subject(X509 *cert);

#endif
