/* Frame decoding (agent_decode.h): link layer, then IPv4 (RFC 791) or IPv6 (RFC 8200)
 * with fragments handed to agent_defrag, then UDP (RFC 768) or TCP (RFC 9293). */
#include "agent/agent_decode.h"

#include "agent/agent_reasm.h"

#include <pcap/dlt.h>
#include <string.h>
#include <sys/socket.h>

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define MAX_VLAN_TAGS 2
#define MAX_EXT_HEADERS 8

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int agent_decode_supported(int dlt)
{
    switch (dlt) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_NULL:
    case DLT_LOOP:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        return 1;
    default:
        return 0;
    }
}

/* UDP or TCP at p (n bytes) into out. */
static int transport(uint8_t proto, const uint8_t *p, size_t n, agent_pkt_t *out)
{
    out->proto = proto;
    if (proto == 17) {
        if (n < 8)
            return AGENT_DECODE_TRUNCATED;
        size_t ulen = be16(p + 4);
        if (ulen < 8)
            return AGENT_DECODE_MALFORMED;
        if (ulen > n)
            return AGENT_DECODE_TRUNCATED;
        out->sport = be16(p);
        out->dport = be16(p + 2);
        out->payload = p + 8;
        out->len = ulen - 8;
        return AGENT_DECODE_OK;
    }
    if (proto == 6) {
        if (n < 20)
            return AGENT_DECODE_TRUNCATED;
        size_t off = (size_t)(p[12] >> 4) * 4;
        if (off < 20)
            return AGENT_DECODE_MALFORMED;
        if (off > n)
            return AGENT_DECODE_TRUNCATED;
        out->sport = be16(p);
        out->dport = be16(p + 2);
        out->seq = be32(p + 4);
        uint8_t fl = p[13];
        out->tcp_flags = (fl & 0x01 ? AGENT_TCP_FIN : 0) | (fl & 0x02 ? AGENT_TCP_SYN : 0) |
                         (fl & 0x04 ? AGENT_TCP_RST : 0);
        out->payload = p + off;
        out->len = n - off;
        return AGENT_DECODE_OK;
    }
    return AGENT_DECODE_SKIP;
}

static int defrag(agent_defrag_t *df, agent_frag_t *f, uint64_t now_ms, const uint8_t **p,
                  size_t *n)
{
    int rc = agent_defrag_add(df, f, now_ms, p, n);
    return rc > 0 ? AGENT_DECODE_OK : rc == 0 ? AGENT_DECODE_HELD : AGENT_DECODE_FRAG_DROP;
}

static int ipv4(const uint8_t *p, size_t n, agent_defrag_t *df, uint64_t now_ms, agent_pkt_t *out)
{
    if (n < 20)
        return AGENT_DECODE_TRUNCATED;
    size_t ihl = (size_t)(p[0] & 0x0f) * 4, total = be16(p + 2);
    if ((p[0] >> 4) != 4 || ihl < 20 || total < ihl)
        return AGENT_DECODE_MALFORMED;
    if (total > n)
        return AGENT_DECODE_TRUNCATED;
    out->family = AF_INET;
    memcpy(out->src, p + 12, 4);
    memcpy(out->dst, p + 16, 4);
    uint16_t frag = be16(p + 6);
    const uint8_t *body = p + ihl;
    size_t blen = total - ihl; /* Ethernet pads short frames: trust the IP length */
    if (frag & 0x3fff) {       /* MF set or a non-zero offset */
        if (p[9] != 17 && p[9] != 6)
            return AGENT_DECODE_SKIP; /* the filter keeps every fragment: not ours to hold */
        agent_frag_t f = {.family = AF_INET,
                          .id = be16(p + 4),
                          .proto = p[9],
                          .offset = (uint32_t)(frag & 0x1fff) * 8,
                          .more = !!(frag & 0x2000),
                          .data = body,
                          .len = blen};
        memcpy(f.src, out->src, 4);
        memcpy(f.dst, out->dst, 4);
        int rc = defrag(df, &f, now_ms, &body, &blen);
        if (rc != AGENT_DECODE_OK)
            return rc;
        out->defragmented = 1;
    }
    return transport(p[9], body, blen, out);
}

static int ipv6(const uint8_t *p, size_t n, agent_defrag_t *df, uint64_t now_ms, agent_pkt_t *out)
{
    if (n < 40)
        return AGENT_DECODE_TRUNCATED;
    size_t plen = be16(p + 4);
    if ((p[0] >> 4) != 6 || plen == 0) /* 0: a jumbogram, never SIP */
        return AGENT_DECODE_MALFORMED;
    if (40 + plen > n)
        return AGENT_DECODE_TRUNCATED;
    out->family = AF_INET6;
    memcpy(out->src, p + 8, 16);
    memcpy(out->dst, p + 24, 16);
    uint8_t nh = p[6];
    const uint8_t *q = p + 40;
    size_t left = plen;
    for (int i = 0; i < MAX_EXT_HEADERS; i++) {
        if (nh == 0 || nh == 43 || nh == 60) { /* hop-by-hop, routing, destination options */
            if (left < 8)
                return AGENT_DECODE_TRUNCATED;
            size_t hl = ((size_t)q[1] + 1) * 8;
            if (hl > left)
                return AGENT_DECODE_TRUNCATED;
            nh = q[0];
            q += hl;
            left -= hl;
        } else if (nh == 51) { /* authentication header (RFC 4302 §2.2): 4-byte units, minus 2 */
            if (left < 8)
                return AGENT_DECODE_TRUNCATED;
            size_t hl = ((size_t)q[1] + 2) * 4;
            if (hl > left)
                return AGENT_DECODE_TRUNCATED;
            nh = q[0];
            q += hl;
            left -= hl;
        } else if (nh == 44) { /* fragment header */
            if (left < 8)
                return AGENT_DECODE_TRUNCATED;
            uint16_t off = be16(q + 2);
            agent_frag_t f = {.family = AF_INET6,
                              .id = be32(q + 4),
                              .proto = q[0],
                              .offset = off & 0xfff8u,
                              .more = off & 1,
                              .data = q + 8,
                              .len = left - 8};
            nh = q[0];
            q += 8;
            left -= 8;
            if (f.offset == 0 && !f.more) /* an atomic fragment, RFC 6946 */
                continue;
            if (nh != 17 && nh != 6 && nh != 43 && nh != 60 && nh != 51)
                return AGENT_DECODE_SKIP; /* e.g. ICMPv6 or ESP: never SIP here */
            if (out->defragmented)
                return AGENT_DECODE_MALFORMED;
            memcpy(f.src, out->src, 16);
            memcpy(f.dst, out->dst, 16);
            int rc = defrag(df, &f, now_ms, &q, &left);
            if (rc != AGENT_DECODE_OK)
                return rc;
            out->defragmented = 1;
        } else {
            return transport(nh, q, left, out);
        }
    }
    return AGENT_DECODE_MALFORMED;
}

static int network(uint16_t ethertype, const uint8_t *p, size_t n, agent_defrag_t *df,
                   uint64_t now_ms, agent_pkt_t *out)
{
    if (ethertype == ETH_IPV4)
        return ipv4(p, n, df, now_ms, out);
    if (ethertype == ETH_IPV6)
        return ipv6(p, n, df, now_ms, out);
    return AGENT_DECODE_SKIP;
}

/* BSD loopback headers carry the address family: AF_INET is 2 everywhere, AF_INET6 is
 * 10 (Linux), 24 (NetBSD/OpenBSD), 28 (FreeBSD) or 30 (macOS). */
static uint16_t family_ethertype(uint32_t af)
{
    if (af == 2)
        return ETH_IPV4;
    if (af == 10 || af == 24 || af == 28 || af == 30)
        return ETH_IPV6;
    return 0;
}

static uint16_t raw_ethertype(const uint8_t *p, size_t n)
{
    if (!n)
        return 0;
    return (p[0] >> 4) == 4 ? ETH_IPV4 : (p[0] >> 4) == 6 ? ETH_IPV6 : 0;
}

int agent_decode(int dlt, const uint8_t *frame, size_t caplen, agent_defrag_t *df, uint64_t now_ms,
                 agent_pkt_t *out)
{
    memset(out, 0, sizeof(*out));
    const uint8_t *p = frame;
    size_t n = caplen;
    uint16_t type;
    switch (dlt) {
    case DLT_EN10MB:
        if (n < 14)
            return AGENT_DECODE_TRUNCATED;
        type = be16(p + 12);
        p += 14, n -= 14;
        break;
    case DLT_LINUX_SLL: /* pkttype, hatype, halen, addr[8], protocol */
        if (n < 16)
            return AGENT_DECODE_TRUNCATED;
        type = be16(p + 14);
        p += 16, n -= 16;
        break;
    case DLT_LINUX_SLL2: /* protocol, reserved, ifindex, hatype, pkttype, halen, addr[8] */
        if (n < 20)
            return AGENT_DECODE_TRUNCATED;
        type = be16(p);
        p += 20, n -= 20;
        break;
    case DLT_NULL:
    case DLT_LOOP: {
        if (n < 4)
            return AGENT_DECODE_TRUNCATED;
        uint32_t le =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        type = family_ethertype(be32(p));
        if (!type && dlt == DLT_NULL)
            type = family_ethertype(le); /* host order of whoever captured it */
        p += 4, n -= 4;
        break;
    }
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        type = raw_ethertype(p, n);
        break;
    default:
        return AGENT_DECODE_SKIP;
    }
    /* 802.1Q/802.1ad tags after the type field. On Linux the kernel strips the tag and
     * libpcap puts it back in front of the type, for Ethernet and for the cooked header
     * of `any` alike (pcap-linux.c, set_vlan_offset). */
    if (dlt == DLT_EN10MB || dlt == DLT_LINUX_SLL) {
        for (int i = 0; i < MAX_VLAN_TAGS && (type == 0x8100 || type == 0x88a8 || type == 0x9100);
             i++) {
            if (n < 4)
                return AGENT_DECODE_TRUNCATED;
            if (!out->vlan)
                out->vlan = be16(p) & 0x0fff;
            type = be16(p + 2);
            p += 4, n -= 4;
        }
    }
    return network(type, p, n, df, now_ms, out);
}
