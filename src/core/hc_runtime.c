/* Process runtime (see hc_runtime.h): addresses, SO_REUSEPORT listeners, worker loops
 * on their own threads, and the stop/reload signals of the main loop. */
#include "core/hc_runtime.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int hc_addr_parse(const char *text, struct sockaddr_storage *out)
{
    char host[64];
    const char *port;
    memset(out, 0, sizeof(*out));
    if (!text || !*text)
        return -EINVAL;
    if (text[0] == '[') { /* [v6]:port */
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':' || (size_t)(end - text - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon) { /* a bare port */
            strcpy(host, "0.0.0.0");
            port = text;
        } else {
            size_t hl = (size_t)(colon - text);
            if (hl >= sizeof(host))
                return -EINVAL;
            memcpy(host, text, hl);
            host[hl] = '\0';
            if (!hl)
                strcpy(host, "0.0.0.0");
            port = colon + 1;
        }
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        return -EINVAL;
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return -EINVAL;
}

void hc_addr_format(const struct sockaddr *addr, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        uv_ip6_name(a, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        uv_ip4_name(a, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, ntohs(a->sin_port));
    }
}

/* SO_REUSEPORT lets any socket of the same user join a listening port, so a second
 * process started on a port already in use would silently take half its connections.
 * The first listener of each address in this process therefore proves the port free
 * with an exclusive bind; later ones (the other workers, a reload) join it. */
#define REUSE_ADDRS_MAX 64
static pthread_mutex_t reuse_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sockaddr_storage reuse_addrs[REUSE_ADDRS_MAX];
static size_t reuse_n;

/* Called with reuse_mu held. */
static int reuse_known(const struct sockaddr *addr, socklen_t len)
{
    for (size_t i = 0; i < reuse_n; i++)
        if (!memcmp(&reuse_addrs[i], addr, len))
            return 1;
    return 0;
}

static int reuseport_claim(const struct sockaddr *addr, socklen_t len)
{
    int rc = 0, one = 1;
    if (((const struct sockaddr_in *)addr)->sin_port == 0)
        return 0; /* the kernel picks a free port; hc_tcp_listen records it */
    pthread_mutex_lock(&reuse_mu);
    if (!reuse_known(addr, len)) {
        int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
            bind(fd, addr, len))
            rc = -errno;
        if (fd >= 0)
            close(fd);
    }
    pthread_mutex_unlock(&reuse_mu);
    return rc;
}

/* Records the address fd listens on, so later listeners of this process may join it. */
static void reuseport_record(int fd, socklen_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) || sl != len)
        return;
    pthread_mutex_lock(&reuse_mu);
    if (!reuse_known((struct sockaddr *)&ss, len) && reuse_n < REUSE_ADDRS_MAX)
        memcpy(&reuse_addrs[reuse_n++], &ss, len);
    pthread_mutex_unlock(&reuse_mu);
}

int hc_tcp_listen(uv_loop_t *loop, uv_tcp_t *handle, const struct sockaddr *addr, int reuseport,
                  int backlog, uv_connection_cb on_connection)
{
    int rc, one = 1;
    socklen_t len =
        addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (reuseport && (rc = reuseport_claim(addr, len)) != 0)
        return rc;
    /* libuv 1.44 has no SO_REUSEPORT flag: create, bind and listen on the socket
     * ourselves, so every failure happens before libuv owns a handle, then hand it over. */
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) ||
        bind(fd, addr, len) || listen(fd, backlog)) {
        rc = -errno;
        goto fail_fd;
    }
    if (reuseport)
        reuseport_record(fd, len);
    if ((rc = uv_tcp_init(loop, handle)))
        goto fail_fd;
    /* Neither call can fail for a listening socket libuv has just accepted as a handle
     * (uv_listen only records the callback and starts polling). */
    if ((rc = uv_tcp_open(handle, fd)) ||
        (rc = uv_listen((uv_stream_t *)handle, backlog, on_connection))) {
        hc_log(HC_LOG_ERROR, "cannot hand a listening socket to libuv",
               HC_LS("error", uv_strerror(rc)), NULL);
        abort();
    }
    return 0;
fail_fd:
    close(fd);
    return rc;
}

int hc_tcp_port(const uv_tcp_t *handle)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(handle, (struct sockaddr *)&ss, &len))
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

unsigned hc_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

unsigned long long hc_now_ms(void)
{
    return uv_hrtime() / 1000000ULL;
}

/* ---- worker loops ---------------------------------------------------------------- */

typedef struct worker_call {
    hc_worker_init_cb fn;
    void *arg;
    struct worker_call *next;
} worker_call_t;

typedef struct worker {
    struct hc_workers *owner;
    unsigned idx;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t wakeup; /* runs queued calls, or the stop callback */
    uv_mutex_t lock;   /* guards calls and stopping */
    worker_call_t *calls, **calls_end; /* in the order they were made */
    int stopping;
    uv_sem_t ready;
} worker_t;

struct hc_workers {
    unsigned n;
    hc_worker_init_cb init;
    hc_worker_stop_cb stop;
    void *arg;
    worker_t *w;
};

static void worker_wakeup(uv_async_t *a)
{
    worker_t *w = a->data;
    uv_mutex_lock(&w->lock);
    worker_call_t *calls = w->calls;
    int stopping = w->stopping;
    w->calls = NULL;
    w->calls_end = &w->calls;
    uv_mutex_unlock(&w->lock);
    while (calls) {
        worker_call_t *next = calls->next;
        calls->fn(&w->loop, w->idx, calls->arg);
        hc_free(calls);
        calls = next;
    }
    if (stopping == 1) {
        w->stopping = 2;
        if (w->owner->stop)
            w->owner->stop(&w->loop, w->idx, w->owner->arg);
        uv_close((uv_handle_t *)&w->wakeup, NULL);
    }
}

static void worker_main(void *p)
{
    worker_t *w = p;
    w->owner->init(&w->loop, w->idx, w->owner->arg);
    uv_sem_post(&w->ready);
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

hc_workers_t *hc_workers_start(unsigned n, hc_worker_init_cb init, hc_worker_stop_cb stop,
                               void *arg)
{
    hc_workers_t *ws = hc_calloc(1, sizeof(*ws));
    ws->n = n ? n : hc_cpu_count();
    ws->init = init;
    ws->stop = stop;
    ws->arg = arg;
    ws->w = hc_calloc(ws->n, sizeof(worker_t));
    for (unsigned i = 0; i < ws->n; i++) {
        worker_t *w = &ws->w[i];
        w->owner = ws;
        w->idx = i;
        uv_loop_init(&w->loop);
        uv_mutex_init(&w->lock);
        w->calls_end = &w->calls;
        uv_sem_init(&w->ready, 0);
        uv_async_init(&w->loop, &w->wakeup, worker_wakeup);
        w->wakeup.data = w;
        if (uv_thread_create(&w->thread, worker_main, w)) {
            hc_log(HC_LOG_ERROR, "cannot start worker thread", HC_LI("worker", i), NULL);
            abort(); /* threads are part of the start-up contract: treat like OOM */
        }
        uv_sem_wait(&w->ready); /* listeners are open when start returns */
    }
    return ws;
}

unsigned hc_workers_count(const hc_workers_t *ws)
{
    return ws->n;
}

void hc_workers_each(hc_workers_t *ws, hc_worker_init_cb fn, void *arg)
{
    for (unsigned i = 0; i < ws->n; i++) {
        worker_t *w = &ws->w[i];
        worker_call_t *c = hc_malloc(sizeof(*c));
        c->fn = fn;
        c->arg = arg;
        c->next = NULL;
        uv_mutex_lock(&w->lock); /* first made, first run: a later generation stays last */
        *w->calls_end = c;
        w->calls_end = &c->next;
        uv_mutex_unlock(&w->lock);
        uv_async_send(&w->wakeup);
    }
}

void hc_workers_stop(hc_workers_t *ws)
{
    for (unsigned i = 0; i < ws->n; i++) {
        uv_mutex_lock(&ws->w[i].lock);
        ws->w[i].stopping = 1;
        uv_mutex_unlock(&ws->w[i].lock);
        uv_async_send(&ws->w[i].wakeup);
    }
    for (unsigned i = 0; i < ws->n; i++) {
        worker_t *w = &ws->w[i];
        uv_thread_join(&w->thread);
        if (uv_loop_close(&w->loop) == UV_EBUSY) {
            /* A stop callback left a handle open: run once more to finish its close. */
            uv_run(&w->loop, UV_RUN_NOWAIT);
            uv_loop_close(&w->loop);
        }
        uv_mutex_destroy(&w->lock);
        uv_sem_destroy(&w->ready);
        for (worker_call_t *c = w->calls, *next; c; c = next) {
            next = c->next;
            hc_free(c);
        }
    }
    hc_free(ws->w);
    hc_free(ws);
}

/* ---- signals ----------------------------------------------------------------------- */

static struct {
    uv_signal_t term, intr, hup;
    hc_signal_cb on_stop, on_reload;
    void *arg;
    int stopping;
    int started;
} sigs;

static void on_signal(uv_signal_t *h, int signum)
{
    if (signum == SIGHUP) {
        if (sigs.stopping) { /* the services are draining: nothing of theirs to reload */
            hc_log(HC_LOG_INFO, "reload ignored: stopping", HC_LS("signal", "SIGHUP"), NULL);
            return;
        }
        hc_log(HC_LOG_INFO, "reload requested", HC_LS("signal", "SIGHUP"), NULL);
        if (sigs.on_reload)
            sigs.on_reload(sigs.arg);
        return;
    }
    if (sigs.stopping++) {
        hc_log(HC_LOG_WARN, "second stop signal: exiting now", NULL);
        _exit(1);
    }
    hc_log(HC_LOG_INFO, "stopping: draining in-flight work",
           HC_LS("signal", signum == SIGTERM ? "SIGTERM" : "SIGINT"), NULL);
    sigs.on_stop(sigs.arg);
}

int hc_signals_start(uv_loop_t *loop, hc_signal_cb on_stop, hc_signal_cb on_reload, void *arg)
{
    signal(SIGPIPE, SIG_IGN);
    sigs.on_stop = on_stop;
    sigs.on_reload = on_reload;
    sigs.arg = arg;
    sigs.stopping = 0;
    uv_signal_init(loop, &sigs.term);
    uv_signal_init(loop, &sigs.intr);
    uv_signal_init(loop, &sigs.hup);
    int rc = uv_signal_start(&sigs.term, on_signal, SIGTERM);
    if (!rc)
        rc = uv_signal_start(&sigs.intr, on_signal, SIGINT);
    if (!rc)
        rc = uv_signal_start(&sigs.hup, on_signal, SIGHUP);
    sigs.started = 1;
    return rc;
}

void hc_signals_stop(void)
{
    if (!sigs.started)
        return;
    sigs.started = 0;
    uv_close((uv_handle_t *)&sigs.term, NULL);
    uv_close((uv_handle_t *)&sigs.intr, NULL);
    uv_close((uv_handle_t *)&sigs.hup, NULL);
    /* closing restored the default actions: a signal now, while the process exits after
     * its drain, must not end it with the signal's status instead */
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
}
