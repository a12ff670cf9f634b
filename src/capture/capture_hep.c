/* HEP v1/v2/v3 decoding and HEP3 encoding (facts and sender quirks:
 * ../shared/reference/capture.md). The listeners call capture_hep_decode per datagram and
 * capture_hep_frame/capture_hep_resync on TCP streams; the agent and hepgen encode. */
#include "capture/capture_hep.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <zlib.h>

/* heplify-server closes a TCP stream whose HEP3 length is past this (a UDP datagram's
 * largest payload); we resync instead. */
#define HEP_MAX_FRAME 65507

enum {
    CH_FAMILY = 0x01,
    CH_PROTO = 0x02,
    CH_SRC4 = 0x03,
    CH_DST4 = 0x04,
    CH_SRC6 = 0x05,
    CH_DST6 = 0x06,
    CH_SPORT = 0x07,
    CH_DPORT = 0x08,
    CH_TSEC = 0x09,
    CH_TUSEC = 0x0a,
    CH_PTYPE = 0x0b,
    CH_CAPID = 0x0c,
    CH_AUTH = 0x0e,
    CH_PAYLOAD = 0x0f,
    CH_ZPAYLOAD = 0x10,
    CH_CORR = 0x11,
    CH_VLAN = 0x12,
    CH_NODE = 0x13,
};

static const char *const error_names[CAPTURE_HEP_NERRORS] = {
    [CAPTURE_HEP_OK] = "ok",
    [CAPTURE_HEP_TRUNCATED] = "truncated",
    [CAPTURE_HEP_BAD_VERSION] = "bad_version",
    [CAPTURE_HEP_BAD_CHUNK] = "bad_chunk",
    [CAPTURE_HEP_BAD_ADDRESS] = "bad_address",
    [CAPTURE_HEP_NO_PAYLOAD] = "no_payload",
    [CAPTURE_HEP_BAD_COMPRESSION] = "bad_compression",
    [CAPTURE_HEP_AUTH] = "auth",
    [CAPTURE_HEP_BAD_LENGTH] = "bad_length",
};

const char *capture_hep_error_name(enum capture_hep_error e)
{
    if ((unsigned)e >= CAPTURE_HEP_NERRORS)
        return "unknown";
    return error_names[e];
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void ntop(int af, const uint8_t *addr, char out[46])
{
    if (!inet_ntop(af, addr, out, 46))
        out[0] = '\0';
}

/* Inflates a zlib or gzip stream (auto-detected), else a raw deflate stream, into
 * scratch. Returns the inflated length or -1. */
static long inflate_payload(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    static const int window_bits[] = {15 + 32, -15};
    if (!out || !cap)
        return -1;
    for (size_t i = 0; i < sizeof(window_bits) / sizeof(window_bits[0]); i++) {
        z_stream z;
        memset(&z, 0, sizeof(z));
        if (inflateInit2(&z, window_bits[i]) != Z_OK)
            return -1;
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
        int rc = inflate(&z, Z_FINISH);
        long got = (long)z.total_out;
        inflateEnd(&z);
        if (rc == Z_STREAM_END)
            return got;
    }
    return -1;
}

/* Required payload size of the fixed-size chunks (heplify-server checks the same). */
static size_t fixed_size(uint16_t type)
{
    switch (type) {
    case CH_FAMILY:
    case CH_PROTO:
    case CH_PTYPE:
        return 1;
    case CH_SPORT:
    case CH_DPORT:
    case CH_VLAN:
        return 2;
    case CH_SRC4:
    case CH_DST4:
    case CH_TSEC:
    case CH_TUSEC:
    case CH_CAPID:
        return 4;
    case CH_SRC6:
    case CH_DST6:
        return 16;
    default:
        return 0;
    }
}

/* HEPv3: "HEP3", u16 total length, then chunks (vendor, type, length incl. 6, data). */
static enum capture_hep_error decode_v3(const uint8_t *pkt, size_t len, capture_hep_t *h,
                                        uint8_t *scratch, size_t scratch_cap)
{
    size_t total = be16(pkt + 4);
    if (total > len)
        return CAPTURE_HEP_TRUNCATED;
    if (total != len)
        return CAPTURE_HEP_BAD_LENGTH;
    int fam_v4 = 0, fam_v6 = 0, family = 0;
    const uint8_t *zpayload = NULL;
    size_t zlen = 0;
    for (size_t off = 6; off < total;) {
        if (total - off < 6)
            return CAPTURE_HEP_BAD_CHUNK;
        uint16_t vendor = be16(pkt + off), type = be16(pkt + off + 2);
        size_t clen = be16(pkt + off + 4);
        if (clen < 6 || clen > total - off)
            return CAPTURE_HEP_BAD_CHUNK;
        const uint8_t *d = pkt + off + 6;
        size_t dn = clen - 6;
        off += clen;
        if (vendor != 0)
            continue;
        size_t want = fixed_size(type);
        if (want && dn != want)
            return CAPTURE_HEP_BAD_CHUNK;
        switch (type) {
        case CH_FAMILY:
            family = d[0];
            break;
        case CH_PROTO:
            h->ip_proto = d[0];
            break;
        case CH_SRC4:
            ntop(AF_INET, d, h->src_ip);
            fam_v4 = 1;
            break;
        case CH_DST4:
            ntop(AF_INET, d, h->dst_ip);
            fam_v4 = 1;
            break;
        case CH_SRC6:
            ntop(AF_INET6, d, h->src_ip);
            fam_v6 = 1;
            break;
        case CH_DST6:
            ntop(AF_INET6, d, h->dst_ip);
            fam_v6 = 1;
            break;
        case CH_SPORT:
            h->src_port = be16(d);
            break;
        case CH_DPORT:
            h->dst_port = be16(d);
            break;
        case CH_TSEC:
            h->ts_sec = be32(d);
            break;
        case CH_TUSEC:
            h->ts_usec = be32(d);
            break;
        case CH_PTYPE:
            h->proto_type = d[0];
            break;
        /* sngrep stores htons(id) in the u32: kept as the u32 it arrives as. */
        case CH_CAPID:
            h->capture_id = be32(d);
            break;
        case CH_VLAN:
            h->vlan = be16(d);
            break;
        case CH_AUTH:
            h->auth_key = (const char *)d;
            h->auth_key_len = dn;
            break;
        case CH_CORR:
            h->correlation_id = (const char *)d;
            h->correlation_id_len = dn;
            break;
        case CH_NODE:
            h->node_name = (const char *)d;
            h->node_name_len = dn;
            break;
        case CH_PAYLOAD:
            h->payload = d;
            h->payload_len = dn;
            break;
        case CH_ZPAYLOAD:
            zpayload = d;
            zlen = dn;
            break;
        default:
            break; /* keep-alive, MACs, QoS, tags... */
        }
    }
    if (family == 2)
        h->family = AF_INET;
    else if (family == 10)
        h->family = AF_INET6;
    else if (family != 0)
        return CAPTURE_HEP_BAD_ADDRESS;
    else
        h->family = fam_v6 && !fam_v4 ? AF_INET6 : AF_INET;
    if ((h->family == AF_INET && fam_v6) || (h->family == AF_INET6 && fam_v4))
        return CAPTURE_HEP_BAD_ADDRESS;
    if (!h->payload_len && zpayload) {
        long n = inflate_payload(zpayload, zlen, scratch, scratch_cap);
        if (n < 0)
            return CAPTURE_HEP_BAD_COMPRESSION;
        h->payload = scratch;
        h->payload_len = (size_t)n;
    }
    if (!h->payload_len)
        return CAPTURE_HEP_NO_PAYLOAD;
    return CAPTURE_HEP_OK;
}

/* HEPv1/v2: u8 version, u8 length (unreliable: ignored), u8 family, u8 proto, u16 ports,
 * addresses; v2 adds struct hep_timehdr (u32 sec, u32 usec, u16 capture id, 2 bytes of
 * padding: senders write sizeof() = 12) in the sender's byte order, little-endian on
 * every real sender. The payload runs to the end of the datagram. */
static enum capture_hep_error decode_v12(const uint8_t *pkt, size_t len, capture_hep_t *h)
{
    if (len < 4)
        return CAPTURE_HEP_TRUNCATED;
    size_t alen;
    if (pkt[2] == 2) {
        h->family = AF_INET;
        alen = 4;
    } else if (pkt[2] == 10) {
        h->family = AF_INET6;
        alen = 16;
    } else {
        return CAPTURE_HEP_BAD_ADDRESS;
    }
    size_t hdr = 8 + 2 * alen + (pkt[0] == 2 ? 12 : 0);
    if (len < hdr)
        return CAPTURE_HEP_TRUNCATED;
    h->ip_proto = pkt[3];
    h->src_port = be16(pkt + 4);
    h->dst_port = be16(pkt + 6);
    ntop(h->family, pkt + 8, h->src_ip);
    ntop(h->family, pkt + 8 + alen, h->dst_ip);
    if (pkt[0] == 2) {
        const uint8_t *t = pkt + 8 + 2 * alen;
        h->ts_sec = le32(t);
        h->ts_usec = le32(t + 4);
        h->capture_id = (uint32_t)(t[8] | t[9] << 8);
    }
    h->proto_type = CAPTURE_PROTO_SIP;
    h->payload = pkt + hdr;
    h->payload_len = len - hdr;
    if (!h->payload_len)
        return CAPTURE_HEP_NO_PAYLOAD;
    return CAPTURE_HEP_OK;
}

enum capture_hep_error capture_hep_decode(const uint8_t *pkt, size_t len, capture_hep_t *h,
                                          uint8_t *scratch, size_t scratch_cap)
{
    memset(h, 0, sizeof(*h));
    if (len < 1)
        return CAPTURE_HEP_TRUNCATED;
    if (len >= 4 && memcmp(pkt, "HEP3", 4) == 0) {
        h->version = 3;
        if (len < 6)
            return CAPTURE_HEP_TRUNCATED;
        return decode_v3(pkt, len, h, scratch, scratch_cap);
    }
    if (len < 4 && memcmp(pkt, "HEP3", len) == 0)
        return CAPTURE_HEP_TRUNCATED;
    if (pkt[0] == 1 || pkt[0] == 2) {
        h->version = pkt[0];
        return decode_v12(pkt, len, h);
    }
    return CAPTURE_HEP_BAD_VERSION;
}

long capture_hep_frame(const uint8_t *p, size_t avail)
{
    size_t head = avail < 4 ? avail : 4;
    if (memcmp(p, "HEP3", head) != 0)
        return -1;
    if (avail < 6)
        return 0;
    size_t len = be16(p + 4);
    if (len < 6 || len > HEP_MAX_FRAME)
        return -1;
    /* heplify v1 sends a bare 6-byte "HEP3" header with a wrong length on each connect:
     * a header directly followed by another "HEP3" is that one, not a packet (a real
     * first chunk starts with vendor 0). */
    if (len >= 10 && avail < 10)
        return 0;
    if (avail >= 10 && memcmp(p + 6, "HEP3", 4) == 0)
        return -1;
    return (long)len;
}

size_t capture_hep_resync(const uint8_t *p, size_t avail)
{
    for (size_t i = 1; i < avail; i++) {
        size_t n = avail - i < 4 ? avail - i : 4;
        if (memcmp(p + i, "HEP3", n) == 0)
            return i;
    }
    return avail ? avail : 1;
}

/* One chunk into out at *off; returns 0 or -1 when it does not fit. */
static int put_chunk(uint8_t *out, size_t cap, size_t *off, uint16_t type, const void *d, size_t n)
{
    if (n > 65535 - 6 || cap - *off < 6 + n)
        return -1;
    uint8_t *c = out + *off;
    size_t clen = 6 + n;
    c[0] = 0;
    c[1] = 0;
    c[2] = (uint8_t)(type >> 8);
    c[3] = (uint8_t)type;
    c[4] = (uint8_t)(clen >> 8);
    c[5] = (uint8_t)clen;
    if (n)
        memcpy(c + 6, d, n);
    *off += clen;
    return 0;
}

static int put_u8(uint8_t *out, size_t cap, size_t *off, uint16_t type, unsigned v)
{
    uint8_t b = (uint8_t)v;
    return put_chunk(out, cap, off, type, &b, 1);
}

static int put_u16(uint8_t *out, size_t cap, size_t *off, uint16_t type, unsigned v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return put_chunk(out, cap, off, type, b, 2);
}

static int put_u32(uint8_t *out, size_t cap, size_t *off, uint16_t type, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return put_chunk(out, cap, off, type, b, 4);
}

long capture_hep_encode(const capture_hep_t *h, uint8_t *out, size_t cap)
{
    int v6 = h->family == AF_INET6;
    uint8_t src[16], dst[16];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, h->src_ip, src) != 1 ||
        inet_pton(v6 ? AF_INET6 : AF_INET, h->dst_ip, dst) != 1)
        return -1;
    if (cap < 6)
        return -1;
    size_t off = 6, alen = v6 ? 16 : 4;
    int rc = put_u8(out, cap, &off, CH_FAMILY, v6 ? 10 : 2) |
             put_u8(out, cap, &off, CH_PROTO, (unsigned)h->ip_proto) |
             put_chunk(out, cap, &off, v6 ? CH_SRC6 : CH_SRC4, src, alen) |
             put_chunk(out, cap, &off, v6 ? CH_DST6 : CH_DST4, dst, alen) |
             put_u16(out, cap, &off, CH_SPORT, h->src_port) |
             put_u16(out, cap, &off, CH_DPORT, h->dst_port) |
             put_u32(out, cap, &off, CH_TSEC, h->ts_sec) |
             put_u32(out, cap, &off, CH_TUSEC, h->ts_usec) |
             put_u8(out, cap, &off, CH_PTYPE, h->proto_type) |
             put_u32(out, cap, &off, CH_CAPID, h->capture_id);
    if (!rc && h->vlan)
        rc = put_u16(out, cap, &off, CH_VLAN, h->vlan);
    if (!rc && h->auth_key_len)
        rc = put_chunk(out, cap, &off, CH_AUTH, h->auth_key, h->auth_key_len);
    if (!rc && h->correlation_id_len)
        rc = put_chunk(out, cap, &off, CH_CORR, h->correlation_id, h->correlation_id_len);
    if (!rc && h->node_name_len)
        rc = put_chunk(out, cap, &off, CH_NODE, h->node_name, h->node_name_len);
    if (!rc)
        rc = put_chunk(out, cap, &off, CH_PAYLOAD, h->payload, h->payload_len);
    if (rc || off > 65535)
        return -1;
    memcpy(out, "HEP3", 4);
    out[4] = (uint8_t)(off >> 8);
    out[5] = (uint8_t)off;
    return (long)off;
}
