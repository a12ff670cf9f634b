/* Socket reads and writes beside libuv's streams (see hc_sock.h).
 *
 * The calls go to the kernel through syscall(2) rather than glibc's recv, send and
 * sendmsg: those are cancellation points, and in a process with more than one thread
 * each of them switches the thread's cancellation type on and back around the call.
 * No thread of hearth is ever cancelled, and that switching was about 0.1 µs of a
 * proxied request's 2.7 µs in user space. */
#include "core/hc_sock.h"

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* libuv's buffers are iovecs on Unix, so a list of them goes to sendmsg as it is. */
_Static_assert(sizeof(uv_buf_t) == sizeof(struct iovec) &&
                   offsetof(uv_buf_t, base) == offsetof(struct iovec, iov_base) &&
                   offsetof(uv_buf_t, len) == offsetof(struct iovec, iov_len),
               "uv_buf_t is laid out as struct iovec");

void hc_sock_alloc_none(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init(NULL, 0);
}

int hc_sock_fd(const uv_tcp_t *t)
{
    uv_os_fd_t fd;
    return uv_fileno((const uv_handle_t *)t, &fd) ? -1 : fd;
}

ssize_t hc_sock_recv(int fd, char *buf, size_t len)
{
    ssize_t n;
    do
        n = syscall(SYS_recvfrom, fd, buf, len, 0, NULL, NULL);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        return n;
    return n == 0 ? UV_EOF : -errno; /* libuv's errors are negated errnos on Unix */
}

ssize_t hc_sock_send(int fd, const uv_buf_t *b, unsigned n)
{
    struct msghdr m = {.msg_iov = (struct iovec *)b, .msg_iovlen = n};
    ssize_t w;
    do
        w = n == 1 ? syscall(SYS_sendto, fd, b->base, b->len, MSG_NOSIGNAL, NULL, 0)
                   : syscall(SYS_sendmsg, fd, &m, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w > 0)
        return w;
    /* ENOBUFS: no memory for the data just now; libuv's writes wait for room then too */
    return w == 0 || errno == EWOULDBLOCK || errno == ENOBUFS ? UV_EAGAIN : -errno;
}
