/* Process runtime: address parsing, listening sockets (SO_REUSEPORT so each worker loop
 * owns its own listener), worker threads with one libuv loop each, and the signals
 * that stop (SIGTERM/SIGINT: drain) and reload (SIGHUP) the process. */
#ifndef HC_RUNTIME_H
#define HC_RUNTIME_H

#include <sys/socket.h>
#include <uv.h>

/** Parses "host:port", ":port" (all IPv4 addresses), "[v6]:port" or "port".
 *  "localhost" means 127.0.0.1. Returns 0 or -EINVAL. */
int hc_addr_parse(const char *text, struct sockaddr_storage *out);

/** Formats addr as "host:port" ("[v6]:port") into out. */
void hc_addr_format(const struct sockaddr *addr, char *out, size_t outlen);

/** Binds a socket to addr with SO_REUSEADDR and, when reuseport is set, SO_REUSEPORT,
 *  listens, and only then initializes handle on loop with it. The first SO_REUSEPORT
 *  listener of an address in this process fails with -EADDRINUSE when another process
 *  listens there (SO_REUSEPORT alone would let both share it silently). Returns 0, or
 *  a negative errno with handle untouched (never initialized, so it may be reused). */
int hc_tcp_listen(uv_loop_t *loop, uv_tcp_t *handle, const struct sockaddr *addr, int reuseport,
                  int backlog, uv_connection_cb on_connection);

/** The port actually bound (useful after binding port 0). */
int hc_tcp_port(const uv_tcp_t *handle);

typedef struct hc_workers hc_workers_t;
/** Runs on worker idx's own thread before its loop starts: open listeners here. */
typedef void (*hc_worker_init_cb)(uv_loop_t *loop, unsigned idx, void *arg);
/** Runs on worker idx's thread when asked to stop: close every handle of that loop so
 *  uv_run returns (the runtime then closes the loop). */
typedef void (*hc_worker_stop_cb)(uv_loop_t *loop, unsigned idx, void *arg);

/** Starts n worker threads (n = 0: one per core), each running its own loop after
 *  init(loop, idx, arg) ran on it. Returns NULL only when a thread cannot start. */
hc_workers_t *hc_workers_start(unsigned n, hc_worker_init_cb init, hc_worker_stop_cb stop,
                               void *arg);
/** The number of worker loops. */
unsigned hc_workers_count(const hc_workers_t *w);
/** Asks every worker to run its stop callback, waits for every loop to end, frees w. */
void hc_workers_stop(hc_workers_t *w);
/** Runs fn(loop, idx, arg) on every worker's own thread, asynchronously; each worker
 *  runs the calls in the order they were made. Not once hc_workers_stop has begun. */
void hc_workers_each(hc_workers_t *w, hc_worker_init_cb fn, void *arg);

/** The number of online CPUs (at least 1). */
unsigned hc_cpu_count(void);

/** Signal handling for the main loop: SIGTERM/SIGINT call on_stop once (a second one
 *  exits at once with status 1), SIGHUP calls on_reload (not after a stop signal).
 *  SIGPIPE is ignored. */
typedef void (*hc_signal_cb)(void *arg);
int hc_signals_start(uv_loop_t *loop, hc_signal_cb on_stop, hc_signal_cb on_reload, void *arg);
/** Closes the signal handles so the main loop can end; those signals are ignored from
 *  then on. */
void hc_signals_stop(void);

/** Milliseconds on a monotonic clock. */
unsigned long long hc_now_ms(void);

#endif
