/* WebSocket (RFC 6455) on hc_http_server connections: the opening handshake from a
 * handler, then framing: masked client frames, fragmentation, ping/pong, the close
 * handshake, a maximum message size and UTF-8 checking of text messages.
 *
 * Start here: a handler calls hc_ws_accept(req, ...) during its own call; the
 * connection then belongs to the returned hc_ws_t until on_close fired. */
#ifndef HC_WS_H
#define HC_WS_H

#include <stddef.h>
#include <stdint.h>

#include "core/hc_http_server.h"

typedef struct hc_ws hc_ws_t;

typedef struct hc_ws_cbs {
    /** A complete message; data is valid during the call only (text is valid UTF-8). */
    void (*on_message)(hc_ws_t *ws, int is_text, const char *data, size_t len, void *arg);
    /** The connection closed (code from the peer's close frame, 1006 when it just went
     *  away). The last call: ws is freed when it returns. */
    void (*on_close)(hc_ws_t *ws, int code, void *arg);
} hc_ws_cbs_t;

/** Validates req as an opening handshake (RFC 6455 §4.2.1: GET, HTTP/1.1, Upgrade:
 *  websocket, Connection: upgrade, a 16-byte Sec-WebSocket-Key, version 13), answers
 *  101 and takes the connection over. Must be called from within the handler's call.
 *  On a bad handshake it answers 400 (426 for another version) and returns NULL.
 *  max_message 0 = 1 MiB. cbs must outlive the connection. */
hc_ws_t *hc_ws_accept(hc_http_req_t *req, const hc_ws_cbs_t *cbs, void *arg, size_t max_message);

/** Sends one unfragmented text or binary message. Returns 0, HC_HTTP_WAIT (buffered, a
 *  lot is pending) or -EPIPE once closing. */
int hc_ws_send(hc_ws_t *ws, int is_text, const char *data, size_t len);

/** Starts the close handshake with code (1000 normal) and a short reason (may be
 *  NULL). on_close fires once the connection is gone. Returns 0 or -EPIPE. */
int hc_ws_close(hc_ws_t *ws, int code, const char *reason);

/* ---- building blocks, exposed for tests ---- */

/** Sec-WebSocket-Accept for key (RFC 6455 §4.2.2 step 5.4): base64(SHA-1(key + GUID)),
 *  28 characters plus NUL into out. */
void hc_ws_accept_key(const char *key, size_t len, char out[29]);

typedef struct hc_ws_frame {
    int fin, opcode, masked;
    uint8_t mask[4];
    uint64_t len;      /* payload length */
    size_t header_len; /* bytes before the payload */
} hc_ws_frame_t;

/** Parses a frame header (RFC 6455 §5.2) from p[0..n). Returns the header length, 0
 *  when more bytes are needed, or -1 on a protocol error (reserved bits, unknown
 *  opcode, a control frame longer than 125 bytes or fragmented, a length with the
 *  top bit set or not minimally encoded). */
long hc_ws_frame_parse(const uint8_t *p, size_t n, hc_ws_frame_t *f);

#endif
