/* Reads and writes on the socket of a libuv TCP handle with recv(2), send(2) and
 * sendmsg(2). libuv's streams call read(2) and write(2), which go through the VFS on
 * every call (fdget_pos, rw_verify_area, fsnotify); on a proxied request's four socket
 * calls that costs about 3 % of its throughput. libuv keeps the descriptor and its
 * readiness: a read callback whose alloc callback gives no buffer is called with
 * UV_ENOBUFS whenever the socket is readable, and reads it with hc_sock_recv. */
#ifndef HC_SOCK_H
#define HC_SOCK_H

#include <sys/types.h>
#include <uv.h>

/* An alloc callback giving no buffer: libuv reads nothing and reports readability. */
void hc_sock_alloc_none(uv_handle_t *h, size_t hint, uv_buf_t *buf);

/* The descriptor of an open TCP handle, or -1. */
int hc_sock_fd(const uv_tcp_t *t);

/* Reads at most len bytes: the count, UV_EOF at the end of the stream, UV_EAGAIN when
 * nothing is waiting, or another negative libuv error. */
ssize_t hc_sock_recv(int fd, char *buf, size_t len);

/* Writes what the socket takes now of n buffers, as uv_try_write does; the caller has
 * no write queued on the handle. The bytes taken, UV_EAGAIN when none, or another
 * negative libuv error. Never raises SIGPIPE. */
ssize_t hc_sock_send(int fd, const uv_buf_t *b, unsigned n);

#endif
