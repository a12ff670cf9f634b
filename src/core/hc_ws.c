/* WebSocket (see hc_ws.h): the handshake answer, then a frame reader/writer that sits on
 * a hc_http_conn through the upgrade hooks of hc_http_internal.h. */
#include "core/hc_ws.h"
#include "core/hc_alloc.h"
#include "core/hc_http_internal.h"
#include "core/hc_log.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

enum { OP_CONT = 0, OP_TEXT = 1, OP_BIN = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

struct hc_ws {
    hc_http_conn_t *conn;
    hc_http_upgrade_t up;
    const hc_ws_cbs_t *cbs;
    void *arg;
    size_t max;
    hc_buf_t in;  /* received bytes not yet a whole frame */
    hc_buf_t msg; /* fragments of the message in progress */
    int msg_op;   /* opcode of that message, 0 = none */
    int close_sent, close_code;
};

void hc_ws_accept_key(const char *key, size_t len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char buf[128], md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (len > sizeof(buf) - sizeof(guid))
        len = sizeof(buf) - sizeof(guid);
    memcpy(buf, key, len);
    memcpy(buf + len, guid, sizeof(guid) - 1);
    EVP_Digest(buf, len + sizeof(guid) - 1, md, &mdlen, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

long hc_ws_frame_parse(const uint8_t *p, size_t n, hc_ws_frame_t *f)
{
    if (n < 2)
        return 0;
    if (p[0] & 0x70)
        return -1; /* RSV1-3 without a negotiated extension: §5.2 */
    f->fin = p[0] >> 7;
    f->opcode = p[0] & 0x0F;
    f->masked = p[1] >> 7;
    uint64_t len = p[1] & 0x7F;
    size_t h = 2;
    if (f->opcode > OP_BIN && f->opcode < OP_CLOSE)
        return -1;
    if (f->opcode > OP_PONG)
        return -1;
    if (f->opcode >= OP_CLOSE && (len > 125 || !f->fin))
        return -1; /* §5.5: control frames are short and never fragmented */
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        if (len < 126)
            return -1;
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        if (len >> 63 || len <= 0xFFFF)
            return -1;
        h = 10;
    }
    if (f->masked) {
        if (n < h + 4)
            return 0;
        memcpy(f->mask, p + h, 4);
        h += 4;
    }
    f->len = len;
    f->header_len = h;
    return (long)h;
}

static int send_frame(hc_ws_t *ws, int op, const char *data, size_t len)
{
    hc_http_conn_t *c = ws->conn;
    if (c->closing || !c->io)
        return -EPIPE;
    uint8_t h[10];
    size_t hl = 2;
    h[0] = (uint8_t)(0x80 | op);
    if (len < 126) {
        h[1] = (uint8_t)len;
    } else if (len <= 0xFFFF) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    if (hc_buf_append(&c->io->out, h, hl) < 0 || hc_buf_append(&c->io->out, data, len) < 0) {
        hc_http_conn_close(c);
        return -EPIPE;
    }
    hc_http_conn_flush(c);
    return hc_http_conn_buffered(c) > HC_HTTP_OUT_HIGH ? HC_HTTP_WAIT : 0;
}

int hc_ws_send(hc_ws_t *ws, int is_text, const char *data, size_t len)
{
    if (ws->close_sent)
        return -EPIPE;
    return send_frame(ws, is_text ? OP_TEXT : OP_BIN, data, len);
}

int hc_ws_close(hc_ws_t *ws, int code, const char *reason)
{
    if (ws->close_sent)
        return -EPIPE;
    char body[125];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof(body) - 2)
        rl = sizeof(body) - 2;
    body[0] = (char)(code >> 8);
    body[1] = (char)code;
    if (rl)
        memcpy(body + 2, reason, rl);
    ws->close_sent = 1;
    int rc = send_frame(ws, OP_CLOSE, body, rl + 2);
    /* §7.1.1: the server closes the TCP connection first once closing. */
    hc_http_conn_close_after_write(ws->conn);
    return rc < 0 ? rc : 0;
}

/* A protocol error: close with code (§7.4.1) and drop whatever else arrives. */
static void ws_fail(hc_ws_t *ws, int code, const char *why)
{
    hc_log(HC_LOG_INFO, "websocket protocol error", HC_LI("code", code), HC_LS("reason", why),
           NULL);
    if (!ws->close_code)
        ws->close_code = code;
    if (!ws->close_sent)
        hc_ws_close(ws, code, why);
}

static void deliver(hc_ws_t *ws, int op, const char *data, size_t len)
{
    if (op == OP_TEXT && !hc_utf8_valid(data, len)) {
        ws_fail(ws, 1007, "invalid UTF-8 in text message");
        return;
    }
    ws->cbs->on_message(ws, op == OP_TEXT, data, len, ws->arg);
}

static int valid_close_code(int code)
{
    /* §7.4.1/§7.4.2: codes a peer may send */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static void on_control(hc_ws_t *ws, int op, const char *p, size_t len)
{
    if (op == OP_PING) {
        if (!ws->close_sent)
            send_frame(ws, OP_PONG, p, len); /* §5.5.3: same payload */
    } else if (op == OP_CLOSE) {
        int code = len >= 2 ? ((uint8_t)p[0] << 8 | (uint8_t)p[1]) : 1005;
        if (len == 1 || (len >= 2 && !valid_close_code(code)) ||
            (len > 2 && !hc_utf8_valid(p + 2, len - 2))) {
            ws_fail(ws, 1002, "bad close frame");
            return;
        }
        if (!ws->close_code)
            ws->close_code = code;
        if (!ws->close_sent)
            hc_ws_close(ws, code == 1005 ? 1000 : code, NULL); /* §5.5.1: echo the code */
    }
}

static void on_frame(hc_ws_t *ws, const hc_ws_frame_t *f, char *p)
{
    size_t len = (size_t)f->len;
    for (size_t i = 0; i < len; i++) /* §5.3 */
        p[i] ^= (char)f->mask[i & 3];
    if (f->opcode >= OP_CLOSE) {
        on_control(ws, f->opcode, p, len);
    } else if (f->opcode == OP_CONT) {
        if (!ws->msg_op) {
            ws_fail(ws, 1002, "continuation without a message");
            return;
        }
        if (hc_buf_append(&ws->msg, p, len) < 0) {
            ws_fail(ws, 1009, "message too big");
            return;
        }
        if (f->fin) {
            deliver(ws, ws->msg_op, ws->msg.base ? ws->msg.base : "", ws->msg.len);
            ws->msg_op = 0;
            hc_buf_reset(&ws->msg);
        }
    } else if (ws->msg_op) {
        ws_fail(ws, 1002, "new message inside a fragmented one");
    } else if (f->fin) {
        deliver(ws, f->opcode, p, len);
    } else {
        ws->msg_op = f->opcode;
        if (hc_buf_append(&ws->msg, p, len) < 0)
            ws_fail(ws, 1009, "message too big");
    }
}

static void ws_on_data(void *ud, const char *data, size_t len)
{
    hc_ws_t *ws = ud;
    if (ws->close_sent)
        return;
    if (hc_buf_append(&ws->in, data, len) < 0) {
        ws_fail(ws, 1009, "message too big");
        return;
    }
    size_t off = 0;
    while (!ws->close_sent && !ws->conn->closing) {
        hc_ws_frame_t f;
        long h = hc_ws_frame_parse((const uint8_t *)ws->in.base + off, ws->in.len - off, &f);
        if (h < 0) {
            ws_fail(ws, 1002, "bad frame header");
            return;
        }
        if (h == 0)
            break;
        if (!f.masked) { /* §5.1: a client MUST mask */
            ws_fail(ws, 1002, "unmasked client frame");
            return;
        }
        if (f.len > ws->max) {
            ws_fail(ws, 1009, "message too big");
            return;
        }
        if (ws->in.len - off - (size_t)h < f.len)
            break;
        on_frame(ws, &f, ws->in.base + off + h);
        off += (size_t)h + (size_t)f.len;
    }
    hc_buf_consume(&ws->in, off);
}

static void ws_on_close(void *ud)
{
    hc_ws_t *ws = ud;
    ws->cbs->on_close(ws, ws->close_code ? ws->close_code : 1006, ws->arg);
    hc_buf_free(&ws->in);
    hc_buf_free(&ws->msg);
    hc_free(ws);
}

hc_ws_t *hc_ws_accept(hc_http_req_t *req, const hc_ws_cbs_t *cbs, void *arg, size_t max_message)
{
    const char *up = hc_http_req_header(req, "Upgrade", NULL);
    const char *conn = hc_http_req_header(req, "Connection", NULL);
    const char *ver = hc_http_req_header(req, "Sec-WebSocket-Version", NULL);
    size_t klen = 0;
    const char *key = hc_http_req_header(req, "Sec-WebSocket-Key", &klen);
    if (strcmp(req->method, "GET") || req->version_minor < 1 || !up ||
        !hc_http_has_token(up, strlen(up), "websocket") || !conn ||
        !hc_http_has_token(conn, strlen(conn), "upgrade") || !key || klen != 24 || key[22] != '=' ||
        key[23] != '=') {
        hc_http_respond_error(req, 400, "bad websocket handshake");
        return NULL;
    }
    if (!ver || strcmp(ver, "13")) { /* §4.2.2: answer with the versions we speak */
        hc_http_res_header(req, "Sec-WebSocket-Version", "13");
        hc_http_respond_error(req, 426, "unsupported websocket version");
        return NULL;
    }
    char accept[29];
    hc_ws_accept_key(key, klen, accept);
    hc_http_res_header(req, "Upgrade", "websocket");
    hc_http_res_header(req, "Connection", "Upgrade");
    hc_http_res_header(req, "Sec-WebSocket-Accept", accept);
    if (hc_http_res_start(req, 101, -1) < 0 || hc_http_res_end(req) < 0)
        return NULL;
    hc_ws_t *ws = hc_calloc(1, sizeof(*ws));
    ws->conn = req->conn;
    ws->cbs = cbs;
    ws->arg = arg;
    ws->max = max_message ? max_message : 1 << 20;
    hc_buf_init(&ws->in, ws->max + 14);
    hc_buf_init(&ws->msg, ws->max);
    ws->up = (hc_http_upgrade_t){ws_on_data, NULL, ws_on_close, ws};
    hc_http_conn_take_over(req->conn, &ws->up);
    return ws;
}
