/* hc_sock: recv/send on a socket with libuv's return conventions, no SIGPIPE. */
#include "core/hc_alloc.h"
#include "core/hc_sock.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A connected pair of stream sockets, both non-blocking as libuv's are. */
static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

static void test_recv_data_nothing_and_end(void **state)
{
    int sv[2];
    char b[16];
    pair(sv);
    assert_int_equal(hc_sock_recv(sv[0], b, sizeof(b)), UV_EAGAIN);
    assert_int_equal(write(sv[1], "hello", 5), 5);
    assert_int_equal(hc_sock_recv(sv[0], b, 3), 3);
    assert_memory_equal(b, "hel", 3);
    assert_int_equal(hc_sock_recv(sv[0], b, sizeof(b)), 2);
    assert_memory_equal(b, "lo", 2);
    close(sv[1]);
    assert_int_equal(hc_sock_recv(sv[0], b, sizeof(b)), UV_EOF);
    close(sv[0]);
    assert_int_equal(hc_sock_recv(sv[0], b, sizeof(b)), UV_EBADF);
}

static void test_send_gathers_buffers_in_order(void **state)
{
    int sv[2];
    char b[32];
    pair(sv);
    uv_buf_t bufs[3] = {uv_buf_init("GET ", 4), uv_buf_init("/ ", 2), uv_buf_init("HTTP/1.1", 8)};
    assert_int_equal(hc_sock_send(sv[0], bufs, 3), 14);
    assert_int_equal(hc_sock_send(sv[0], &bufs[1], 1), 2);
    assert_int_equal(read(sv[1], b, sizeof(b)), 16);
    assert_memory_equal(b, "GET / HTTP/1.1/ ", 16);
    close(sv[0]);
    close(sv[1]);
}

/* A full socket takes nothing: UV_EAGAIN, as uv_try_write says, never 0. */
static void test_send_to_full_socket_is_eagain(void **state)
{
    int sv[2];
    static char chunk[65536];
    pair(sv);
    uv_buf_t b = uv_buf_init(chunk, sizeof(chunk));
    ssize_t n;
    int rounds = 0;
    while ((n = hc_sock_send(sv[0], &b, 1)) > 0 && rounds < 10000)
        rounds++;
    assert_true(rounds > 0 && rounds < 10000);
    assert_int_equal(n, UV_EAGAIN);
    uv_buf_t two[2] = {b, b};
    assert_int_equal(hc_sock_send(sv[0], two, 2), UV_EAGAIN);
    close(sv[0]);
    close(sv[1]);
}

/* Writing to a socket whose peer is gone is an error, not a signal that kills the
 * process (SIGPIPE's default action is left in place here). */
static void test_send_to_closed_peer_is_epipe(void **state)
{
    int sv[2];
    pair(sv);
    signal(SIGPIPE, SIG_DFL);
    close(sv[1]);
    uv_buf_t b = uv_buf_init("x", 1);
    assert_int_equal(hc_sock_send(sv[0], &b, 1), UV_EPIPE);
    uv_buf_t two[2] = {b, b};
    assert_int_equal(hc_sock_send(sv[0], two, 2), UV_EPIPE);
    close(sv[0]);
}

static void test_fd_and_alloc_none(void **state)
{
    uv_loop_t loop;
    uv_tcp_t t;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_tcp_init(&loop, &t), 0);
    assert_int_equal(hc_sock_fd(&t), -1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(uv_tcp_open(&t, fd), 0);
    assert_int_equal(hc_sock_fd(&t), fd);
    uv_buf_t b = uv_buf_init("x", 1);
    hc_sock_alloc_none((uv_handle_t *)&t, 65536, &b);
    assert_null(b.base);
    assert_int_equal(b.len, 0);
    uv_close((uv_handle_t *)&t, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recv_data_nothing_and_end),
        cmocka_unit_test(test_send_gathers_buffers_in_order),
        cmocka_unit_test(test_send_to_full_socket_is_eagain),
        cmocka_unit_test(test_send_to_closed_peer_is_epipe),
        cmocka_unit_test(test_fd_and_alloc_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
