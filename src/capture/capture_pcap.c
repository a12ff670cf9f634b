/* pcap 2.4 writer with synthetic link, network and transport headers (pcap: the
 * tcpdump.org file format; IPv4 RFC 791, IPv6 RFC 8200, UDP RFC 768, TCP RFC 9293,
 * checksums RFC 1071). Fields are written byte by byte: the file is the same on any host. */
#include "capture/capture_pcap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#define ETH_LEN 14
#define IP4_LEN 20
#define IP6_LEN 40
#define UDP_LEN 8
#define TCP_LEN 20
#define SNAPLEN 65536

static void le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void be16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
    be16(p, v >> 16);
    be16(p + 2, v & 0xffff);
}

int capture_pcap_begin(capture_pcap_t *w, hc_buf_t *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    uint8_t h[24] = {0};
    le32(h, 0xa1b2c3d4);
    h[4] = 2; /* version 2.4 */
    h[6] = 4;
    le32(h + 16, SNAPLEN);
    le32(h + 20, 1); /* LINKTYPE_ETHERNET */
    return hc_buf_append(out, h, sizeof(h));
}

/* RFC 1071 one's-complement sum over n bytes, added to sum. */
static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* The directed flow's next sequence number slot (added at 1 when new). */
static uint32_t *flow_seq(capture_pcap_t *w, const uint8_t key[38])
{
    for (unsigned i = 0; i < w->nflows; i++)
        if (memcmp(w->flows[i].key, key, 38) == 0)
            return &w->flows[i].seq;
    unsigned i =
        w->nflows < CAPTURE_PCAP_MAX_FLOWS ? w->nflows++ : w->next_evict++ % CAPTURE_PCAP_MAX_FLOWS;
    memcpy(w->flows[i].key, key, 38);
    w->flows[i].seq = 1;
    return &w->flows[i].seq;
}

static void flow_key(uint8_t key[38], int v6, const uint8_t *src, const uint8_t *dst,
                     uint16_t sport, uint16_t dport)
{
    size_t alen = v6 ? 16 : 4;
    memset(key, 0, 38);
    key[0] = (uint8_t)v6;
    memcpy(key + 1, src, alen);
    memcpy(key + 17, dst, alen);
    be16(key + 33, sport);
    be16(key + 35, dport);
}

int capture_pcap_add(capture_pcap_t *w, const capture_pcap_msg_t *m)
{
    uint8_t src[16], dst[16];
    int v6 = strchr(m->src_ip, ':') != NULL;
    int af = v6 ? AF_INET6 : AF_INET;
    if (inet_pton(af, m->src_ip, src) != 1 || inet_pton(af, m->dst_ip, dst) != 1)
        return -EINVAL;
    int tcp = m->ip_proto == 6 || m->ip_proto == 22;
    size_t alen = v6 ? 16 : 4, iplen = v6 ? IP6_LEN : IP4_LEN, tlen = tcp ? TCP_LEN : UDP_LEN;
    size_t seglen = tlen + m->len;
    if (m->len > 65535 || seglen + (v6 ? 0 : IP4_LEN) > 65535)
        return -EMSGSIZE;
    size_t frame = ETH_LEN + iplen + seglen, caplen = frame < SNAPLEN ? frame : SNAPLEN;
    hc_buf_t *b = w->out;
    if (hc_buf_reserve(b, 16 + caplen + 1) < 0)
        return -ENOBUFS;
    uint8_t *rec = (uint8_t *)b->base + b->len;
    int64_t t = m->time_us < 0 ? 0 : m->time_us;
    le32(rec, (uint32_t)(t / 1000000));
    le32(rec + 4, (uint32_t)(t % 1000000));
    le32(rec + 8, (uint32_t)caplen);
    le32(rec + 12, (uint32_t)frame);

    /* Ethernet: locally administered addresses, 02:00:00:00:00:01 -> :02. */
    uint8_t *f = rec + 16, hdr[ETH_LEN + IP6_LEN + TCP_LEN];
    memset(hdr, 0, sizeof(hdr));
    hdr[0] = 2, hdr[5] = 2, hdr[6] = 2, hdr[11] = 1;
    be16(hdr + 12, v6 ? 0x86dd : 0x0800);
    uint8_t *ip = hdr + ETH_LEN, *l4 = ip + iplen;
    int proto = tcp ? 6 : 17;
    if (v6) {
        ip[0] = 0x60;
        be16(ip + 4, (unsigned)seglen);
        ip[6] = (uint8_t)proto;
        ip[7] = 64;
        memcpy(ip + 8, src, 16);
        memcpy(ip + 24, dst, 16);
    } else {
        ip[0] = 0x45;
        be16(ip + 2, (unsigned)(IP4_LEN + seglen));
        be16(ip + 4, w->ip_id++);
        be16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = (uint8_t)proto;
        memcpy(ip + 12, src, 4);
        memcpy(ip + 16, dst, 4);
        be16(ip + 10, fold(sum16(0, ip, IP4_LEN)));
    }
    be16(l4, m->src_port);
    be16(l4 + 2, m->dst_port);
    if (tcp) {
        /* The reverse direction's next sequence number is what this one acknowledges;
         * read it before looking up (and maybe evicting for) this direction. */
        uint8_t key[38];
        flow_key(key, v6, dst, src, m->dst_port, m->src_port);
        uint32_t ack = *flow_seq(w, key);
        flow_key(key, v6, src, dst, m->src_port, m->dst_port);
        uint32_t *seq = flow_seq(w, key);
        be32(l4 + 4, *seq);
        be32(l4 + 8, ack);
        *seq += (uint32_t)m->len;
        l4[12] = 5 << 4;
        l4[13] = 0x18; /* PSH, ACK */
        be16(l4 + 14, 65535);
    } else {
        be16(l4 + 4, (unsigned)seglen);
    }
    /* Pseudo-header (RFC 768, RFC 8200 §8.1) + transport header + payload. */
    uint32_t sum = sum16(0, src, alen);
    sum = sum16(sum, dst, alen);
    sum += (uint32_t)proto + (uint32_t)(seglen & 0xffff) + (uint32_t)(seglen >> 16);
    sum = sum16(sum, l4, tlen);
    sum = sum16(sum, m->payload, m->len);
    uint16_t ck = fold(sum);
    if (!tcp && ck == 0)
        ck = 0xffff; /* UDP: 0 means "no checksum" */
    be16(l4 + (tcp ? 16 : 6), ck);

    size_t hlen = ETH_LEN + iplen + tlen;
    memcpy(f, hdr, hlen < caplen ? hlen : caplen);
    if (caplen > hlen)
        memcpy(f + hlen, m->payload, caplen - hlen);
    b->len += 16 + caplen;
    b->base[b->len] = '\0';
    return 0;
}
