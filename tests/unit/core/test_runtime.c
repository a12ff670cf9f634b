/* hc_runtime: address parsing, SO_REUSEPORT listeners, worker loops, signals. */
#include "core/hc_alloc.h"
#include "core/hc_runtime.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static void test_addr_parse_table(void **state)
{
    static const struct {
        const char *in;
        int rc;
        const char *formatted;
    } cases[] = {
        {":8080", 0, "0.0.0.0:8080"},
        {"8443", 0, "0.0.0.0:8443"},
        {"127.0.0.1:9000", 0, "127.0.0.1:9000"},
        {"localhost:3000", 0, "127.0.0.1:3000"},
        {"[::1]:9060", 0, "[::1]:9060"},
        {"[::]:80", 0, "[::]:80"},
        {"0.0.0.0:0", 0, "0.0.0.0:0"},
        {"", -EINVAL, NULL},
        {":", -EINVAL, NULL},
        {":65536", -EINVAL, NULL},
        {"1.2.3.4:-1", -EINVAL, NULL},
        {"[::1:80", -EINVAL, NULL},
        {"host.example:80", -EINVAL, NULL},
        {"127.0.0.1:80x", -EINVAL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss;
        int rc = hc_addr_parse(cases[i].in, &ss);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            char out[64];
            hc_addr_format((struct sockaddr *)&ss, out, sizeof(out));
            assert_string_equal(out, cases[i].formatted);
        }
    }
}

static void on_conn(uv_stream_t *server, int status)
{
}

static void test_reuseport_lets_two_listeners_share_a_port(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_tcp_t a, b, c;
    struct sockaddr_storage ss;
    hc_addr_parse("127.0.0.1:0", &ss);
    assert_int_equal(hc_tcp_listen(&loop, &a, (struct sockaddr *)&ss, 1, 128, on_conn), 0);
    int port = hc_tcp_port(&a);
    assert_true(port > 0);
    ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    assert_int_equal(hc_tcp_listen(&loop, &b, (struct sockaddr *)&ss, 1, 128, on_conn), 0);
    assert_int_equal(hc_tcp_port(&b), port);
    /* Without SO_REUSEPORT the port is taken. */
    assert_int_equal(hc_tcp_listen(&loop, &c, (struct sockaddr *)&ss, 0, 128, on_conn), UV_EADDRINUSE);
    uv_close((uv_handle_t *)&a, NULL);
    uv_close((uv_handle_t *)&b, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Workers: each opens a timer in init, counts its ticks, and closes it on stop. */
static atomic_int inits, calls, stops;
static uv_timer_t timers[3];

static void tick(uv_timer_t *t)
{
}

static void worker_init(uv_loop_t *loop, unsigned idx, void *arg)
{
    assert_true(idx < 3);
    assert_ptr_equal(arg, &inits);
    uv_timer_init(loop, &timers[idx]);
    uv_timer_start(&timers[idx], tick, 10, 10);
    atomic_fetch_add(&inits, 1);
}

static void worker_call(uv_loop_t *loop, unsigned idx, void *arg)
{
    assert_ptr_equal(loop, timers[idx].loop); /* runs on the worker's own loop */
    atomic_fetch_add(&calls, 1);
}

static void worker_stop(uv_loop_t *loop, unsigned idx, void *arg)
{
    uv_close((uv_handle_t *)&timers[idx], NULL);
    atomic_fetch_add(&stops, 1);
}

static void test_workers_start_call_stop(void **state)
{
    hc_workers_t *w = hc_workers_start(3, worker_init, worker_stop, &inits);
    assert_int_equal(hc_workers_count(w), 3);
    assert_int_equal(atomic_load(&inits), 3); /* init has run on all when start returns */
    hc_workers_each(w, worker_call, NULL);
    for (int i = 0; i < 2000 && atomic_load(&calls) < 3; i++)
        usleep(5000);
    assert_int_equal(atomic_load(&calls), 3);
    hc_workers_stop(w);
    assert_int_equal(atomic_load(&stops), 3);
}

/* Calls made while a worker is busy run in the order they were made (a configuration
 * published after another must stay the one in force). */
static uv_sem_t busy;
static atomic_int seen_order, last_seen;

static void block_call(uv_loop_t *loop, unsigned idx, void *arg)
{
    uv_sem_wait(&busy);
}

static void order_call(uv_loop_t *loop, unsigned idx, void *arg)
{
    int n = (int)(intptr_t)arg;
    if (n != atomic_load(&last_seen) + 1)
        atomic_store(&seen_order, 0);
    atomic_store(&last_seen, n);
}

static void test_workers_run_calls_in_order(void **state)
{
    uv_sem_init(&busy, 0);
    atomic_store(&seen_order, 1);
    atomic_store(&last_seen, 0);
    hc_workers_t *w = hc_workers_start(1, worker_init, worker_stop, &inits);
    hc_workers_each(w, block_call, NULL);
    usleep(20000); /* the worker is inside block_call: the next calls queue up */
    for (intptr_t i = 1; i <= 8; i++)
        hc_workers_each(w, order_call, (void *)i);
    uv_sem_post(&busy);
    for (int i = 0; i < 2000 && atomic_load(&last_seen) != 8 && atomic_load(&seen_order); i++)
        usleep(5000);
    assert_true(atomic_load(&seen_order));
    assert_int_equal(atomic_load(&last_seen), 8);
    hc_workers_stop(w);
    uv_sem_destroy(&busy);
}

static int stopped, reloaded;
static uv_timer_t stop_timer;

static void stop_later(uv_timer_t *t)
{
    hc_signals_stop();
    raise(SIGHUP); /* ignored from now on, not the end of the process */
    uv_close((uv_handle_t *)t, NULL);
}

static void on_stop(void *arg)
{
    stopped++;
    raise(SIGHUP); /* while stopping: no reload */
    uv_timer_init(uv_default_loop(), &stop_timer);
    uv_timer_start(&stop_timer, stop_later, 20, 0);
}

static void on_reload(void *arg)
{
    reloaded++;
    raise(SIGTERM);
}

static void send_hup(uv_timer_t *t)
{
    raise(SIGHUP);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_signals_reload_then_stop(void **state)
{
    uv_loop_t *loop = uv_default_loop();
    assert_int_equal(hc_signals_start(loop, on_stop, on_reload, NULL), 0);
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, send_hup, 1, 0);
    uv_run(loop, UV_RUN_DEFAULT); /* ends once on_stop closed the signal handles */
    assert_int_equal(reloaded, 1);
    assert_int_equal(stopped, 1);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void test_clock_and_cpus(void **state)
{
    unsigned long long a = hc_now_ms();
    usleep(20000);
    unsigned long long b = hc_now_ms();
    assert_true(b - a >= 19 && b - a < 2000);
    assert_true(hc_cpu_count() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse_table),
        cmocka_unit_test(test_reuseport_lets_two_listeners_share_a_port),
        cmocka_unit_test(test_workers_start_call_stop),
        cmocka_unit_test(test_workers_run_calls_in_order),
        cmocka_unit_test(test_signals_reload_then_stop),
        cmocka_unit_test(test_clock_and_cpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
