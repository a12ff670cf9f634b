/* libFuzzer target for the agent's capture path: the input is a link type (first byte)
 * and a run of frames, each prefixed by a 2-byte big-endian length, decoded with one
 * defrag table (so fragments meet across frames); TCP segments go through reassembly
 * and every message through the SIP checks and -dim. Traps when a payload or a message
 * leaves the bytes it came from. */
#include "agent/agent_decode.h"
#include "agent/agent_filter.h"
#include "agent/agent_reasm.h"

#include <pcap/dlt.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const agent_dim_t *dim(void)
{
    static agent_dim_t d;
    static int ready;
    if (!ready) {
        agent_dim_parse("OPTIONS,NOTIFY", &d, NULL, 0);
        ready = 1;
    }
    return &d;
}

static void on_message(void *arg, const agent_flow_key_t *key, const uint8_t *msg, size_t len)
{
    (void)arg;
    (void)key;
    if (!len || len > AGENT_REASM_MAX_MSG || !agent_reasm_is_sip(msg, len))
        __builtin_trap();
    agent_dim_match(dim(), msg, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2,
                               DLT_NULL,   DLT_LOOP,      DLT_RAW};
    if (size < 1)
        return 0;
    int dlt = dlts[data[0] % (sizeof(dlts) / sizeof(dlts[0]))];
    agent_defrag_t *df = agent_defrag_new();
    agent_reasm_t *r = agent_reasm_new();
    size_t off = 1;
    for (uint64_t now = 0; off + 2 <= size; now += 100) {
        size_t n = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (n > size - off)
            n = size - off;
        agent_pkt_t pkt;
        if (agent_decode(dlt, data + off, n, df, now, &pkt) == AGENT_DECODE_OK) {
            if (!pkt.defragmented &&
                (pkt.payload < data + off || pkt.payload + pkt.len > data + off + n))
                __builtin_trap();
            if (pkt.proto == 6) {
                agent_tcp_seg_t seg = {
                    .key = {.family = pkt.family, .sport = pkt.sport, .dport = pkt.dport},
                    .seq = pkt.seq,
                    .flags = pkt.tcp_flags,
                    .data = pkt.payload,
                    .len = pkt.len};
                memcpy(seg.key.src, pkt.src, sizeof(pkt.src));
                memcpy(seg.key.dst, pkt.dst, sizeof(pkt.dst));
                agent_reasm_segment(r, &seg, now, on_message, NULL);
            } else if (agent_reasm_is_sip(pkt.payload, pkt.len)) {
                agent_dim_match(dim(), pkt.payload, pkt.len);
            }
        }
        off += n;
    }
    agent_reasm_expire(r, UINT64_MAX / 2);
    agent_defrag_expire(df, UINT64_MAX / 2);
    agent_reasm_free(r);
    agent_defrag_free(df);
    return 0;
}
