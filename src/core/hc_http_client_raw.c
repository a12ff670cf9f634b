/* HTTP client connections taken over after a 101 Switching Protocols answer (see
 * hc_http_client_req_take_over in hc_http_client.h): the raw byte stream both ways for
 * Upgrade tunnels, over the connection layer of hc_http_client_conn.c. */
#include "core/hc_alloc.h"
#include "core/hc_http_client_int.h"

#include <errno.h>

static void raw_ev_ready(void *owner, int status, const char *reason)
{
    (void)owner;
    (void)status;
    (void)reason; /* an active connection is never "ready" again */
}

static void raw_ev_data(void *owner, const char *data, size_t len)
{
    hc_http_client_raw_t *raw = owner;
    raw->cbs->on_data(raw->ud, data, len);
}

static void raw_ev_close(void *owner, int status, const char *reason)
{
    hc_http_client_raw_t *raw = owner;
    (void)reason;
    raw->conn = NULL;
    raw->cbs->on_close(raw->ud, status ? status : -ECONNRESET);
}

static void raw_ev_written(void *owner, size_t inflight)
{
    hc_http_client_raw_t *raw = owner;
    if (!inflight && raw->cbs->on_drain)
        raw->cbs->on_drain(raw->ud);
}

static void raw_ev_eof(void *owner)
{
    hc_http_client_raw_t *raw = owner;
    if (raw->cbs->on_eof)
        raw->cbs->on_eof(raw->ud);
}

const hc_hcli_events_t hc_hcli_raw_events = {
    .on_ready = raw_ev_ready,
    .on_data = raw_ev_data,
    .on_close = raw_ev_close,
    .on_written = raw_ev_written,
    .on_eof = raw_ev_eof,
};

int hc_http_client_raw_write(hc_http_client_raw_t *raw, const char *data, size_t len)
{
    return raw->conn ? hc_hcli_conn_write(raw->conn, data, len) : -ENOTCONN;
}

size_t hc_http_client_raw_inflight(const hc_http_client_raw_t *raw)
{
    return raw->conn ? hc_hcli_conn_inflight(raw->conn) : 0;
}

void hc_http_client_raw_pause(hc_http_client_raw_t *raw, int paused)
{
    if (!raw->conn)
        return;
    hc_hcli_conn_pause(raw->conn, paused);
    if (paused || !raw->rest.len)
        return;
    hc_buf_t rest = raw->rest; /* on_data may close raw */
    hc_buf_init(&raw->rest, HC_HCLI_READ_BUF);
    raw->cbs->on_data(raw->ud, rest.base, rest.len);
    hc_buf_free(&rest);
}

void hc_http_client_raw_shutdown(hc_http_client_raw_t *raw)
{
    if (raw->conn)
        hc_hcli_conn_shutdown(raw->conn);
}

void hc_http_client_raw_close(hc_http_client_raw_t *raw)
{
    if (!raw)
        return;
    if (raw->conn)
        hc_hcli_conn_close(raw->conn);
    hc_buf_free(&raw->rest);
    hc_free(raw);
}
