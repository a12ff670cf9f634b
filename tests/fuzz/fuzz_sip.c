/* libFuzzer target for capture_sip: the input is one SIP message, parsed, searched for
 * headers by full and compact name, turned into a heplify row and a pcap frame. Traps
 * when a view leaves the input. */
#include "capture/capture_pcap.h"
#include "capture/capture_record.h"
#include "capture/capture_sip.h"

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

static int inside(capture_str_t v, const char *base, size_t len)
{
    return !v.len || (v.p >= base && v.p + v.len <= base + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    capture_sip_t s;
    int rc = capture_sip_parse(msg, size, &s);
    const capture_str_t views[] = {
        s.method,       s.ruri,        s.ruri_user, s.ruri_host, s.reason,       s.call_id,
        s.from_user,    s.from_host,   s.from_tag,  s.to_user,   s.to_host,      s.to_tag,
        s.pai_user,     s.cseq_method, s.cseq,      s.via,       s.via_branch,   s.user_agent,
        s.server,       s.reason_hdr,  s.auth_user, s.x_cid,     s.contact_user, s.contact_host,
        s.content_type, s.body,        s.sdp_ip,
    };
    for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
        if (!inside(views[i], msg, size))
            __builtin_trap();
    if (s.nmedia > CAPTURE_SIP_MAX_MEDIA)
        __builtin_trap();
    static const char *const names[] = {"Call-ID", "i", "v", "Content-Type", "X-CID", "o"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!inside(capture_sip_header(msg, size, names[i]), msg, size))
            __builtin_trap();

    capture_hep_t h = {.version = 3,
                       .family = AF_INET,
                       .ip_proto = 6,
                       .src_port = 5060,
                       .dst_port = 5060,
                       .proto_type = CAPTURE_PROTO_SIP,
                       .payload = data,
                       .payload_len = size};
    strcpy(h.src_ip, "127.0.0.1");
    strcpy(h.dst_ip, "127.0.0.2");
    capture_record_t r;
    capture_record_init(&r);
    if (capture_record_build(&r, &h, rc == 0 ? &s : NULL, 1) == 0 &&
        (strlen(r.data_header) != r.data_header_len || strlen(r.raw) != r.raw_len))
        __builtin_trap();
    capture_record_free(&r);

    hc_buf_t out;
    hc_buf_init(&out, 1 << 20);
    capture_pcap_t w;
    capture_pcap_begin(&w, &out);
    capture_pcap_msg_t m = {.src_ip = h.src_ip,
                            .dst_ip = h.dst_ip,
                            .src_port = 5060,
                            .dst_port = 5060,
                            .ip_proto = 6,
                            .payload = data,
                            .len = size};
    capture_pcap_add(&w, &m);
    hc_buf_free(&out);
    return 0;
}
