/* libFuzzer target for capture_hep: the input is decoded as one datagram (with a scratch
 * buffer for compressed payloads), turned into a heplify row, re-encoded and decoded
 * again; then read as a TCP stream framed with capture_hep_frame/capture_hep_resync as
 * the listener does. Traps when a decoded view leaves the input or the scratch. */
#include "capture/capture_hep.h"
#include "capture/capture_record.h"

#include <stdint.h>
#include <string.h>

static uint8_t scratch[65536], encoded[65536 + 512];

static int inside(const void *p, size_t n, const void *base, size_t len)
{
    const uint8_t *q = p, *b = base;
    return !n || (q >= b && q + n <= b + len);
}

static void one(const uint8_t *data, size_t size, capture_record_t *r)
{
    capture_hep_t h;
    if (capture_hep_decode(data, size, &h, scratch, sizeof(scratch)) != CAPTURE_HEP_OK)
        return;
    if (!h.payload_len ||
        !(inside(h.payload, h.payload_len, data, size) ||
          inside(h.payload, h.payload_len, scratch, sizeof(scratch))) ||
        !inside(h.correlation_id, h.correlation_id_len, data, size) ||
        !inside(h.node_name, h.node_name_len, data, size) ||
        !inside(h.auth_key, h.auth_key_len, data, size))
        __builtin_trap();
    if (capture_record_build(r, &h, NULL, 1) == 0 &&
        (strlen(r->sid) != r->sid_len || strlen(r->raw) != r->raw_len || !r->table))
        __builtin_trap();
    if (!h.src_ip[0] || !h.dst_ip[0])
        return;
    long n = capture_hep_encode(&h, encoded, sizeof(encoded));
    if (n < 0)
        return;
    capture_hep_t back;
    if (capture_hep_decode(encoded, (size_t)n, &back, NULL, 0) != CAPTURE_HEP_OK ||
        back.payload_len != h.payload_len || memcmp(back.payload, h.payload, h.payload_len) ||
        back.src_port != h.src_port || strcmp(back.src_ip, h.src_ip) != 0)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    capture_record_t r;
    capture_record_init(&r);
    one(data, size, &r);
    for (size_t off = 0; off < size;) {
        long n = capture_hep_frame(data + off, size - off);
        if (n == 0 || (n > 0 && (size_t)n > size - off))
            break;
        if (n < 0) {
            size_t skip = capture_hep_resync(data + off, size - off);
            if (skip == 0 || skip > size - off)
                __builtin_trap();
            off += skip;
            continue;
        }
        one(data + off, (size_t)n, &r);
        off += (size_t)n;
    }
    capture_record_free(&r);
    return 0;
}
