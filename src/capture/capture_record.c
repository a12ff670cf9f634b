/* heplify-server's row contents (sipcapture/heplify-server database/header.go and
 * postgres.go, as described in ../shared/reference/capture.md) from a decoded packet:
 * routing, sid, timestamps and the two JSON headers, written straight into one buffer. */
#include "capture/capture_record.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <jansson.h>

/* heplify-server refuses SIP payloads of this many bytes or fewer. */
#define SIP_MIN_PAYLOAD 32

void capture_record_init(capture_record_t *r)
{
    memset(r, 0, sizeof(*r));
    hc_buf_init(&r->buf, CAPTURE_RECORD_MAX);
}

void capture_record_free(capture_record_t *r)
{
    hc_buf_free(&r->buf);
    capture_record_init(r);
}

/* Length of the valid UTF-8 sequence (RFC 3629 §4) at p, or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return need;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Nonzero when one of the 8 bytes of v is 0 (SWAR: exact about whether, not which). */
static inline uint64_t has_zero(uint64_t v)
{
    return (v - ONES) & ~v & HIGHS;
}

/* The length of the run at p (n bytes) copied as it is: ASCII without NUL and, for JSON,
 * without control characters, '"' and '\\'. Eight bytes at a time, then byte by byte. */
static size_t plain_run(const unsigned char *p, size_t n, int json)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        uint64_t bad = (v & HIGHS) | has_zero(v);
        if (json)
            bad |= ((v - 0x20 * ONES) & ~v & HIGHS) /* a byte below 0x20 */ |
                   has_zero(v ^ ('"' * ONES)) | has_zero(v ^ ('\\' * ONES));
        if (bad)
            break;
    }
    while (i < n && p[i] && p[i] < 0x80 && (!json || (p[i] >= 0x20 && p[i] != '"' && p[i] != '\\')))
        i++;
    return i;
}

int capture_record_clean(hc_buf_t *b, const char *s, size_t n, int json)
{
    static const char hex[] = "0123456789abcdef";
    if (n > CAPTURE_RECORD_MAX || hc_buf_reserve(b, (json ? 6 * n : n) + 1) < 0)
        return -ENOBUFS;
    const unsigned char *p = (const unsigned char *)s;
    char *o = b->base + b->len;
    for (size_t i = 0; i < n;) {
        /* Fast path: a run of ASCII that needs no escape is copied at once. */
        size_t run = plain_run(p + i, n - i, json);
        if (run) {
            memcpy(o, p + i, run);
            o += run;
            i += run;
            continue;
        }
        unsigned c = p[i];
        size_t k = utf8_len(p + i, n - i);
        if (!k || c == 0) {
            i++;
            continue;
        }
        if (k > 1 || !json || (c >= 0x20 && c != '"' && c != '\\')) {
            memcpy(o, p + i, k);
            o += k;
            i += k;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
        i++;
    }
    b->len = (size_t)(o - b->base);
    b->base[b->len] = '\0';
    return 0;
}

const char *capture_record_sip_table(capture_str_t m)
{
    static const char *const call[] = {"INVITE", "ACK",   "BYE",  "CANCEL", "UPDATE",
                                       "PRACK",  "REFER", "INFO", "NOTIFY"};
    for (size_t i = 0; i < sizeof(call) / sizeof(call[0]); i++)
        if (m.len == strlen(call[i]) && memcmp(m.p, call[i], m.len) == 0)
            return "hep_proto_1_call";
    if (m.len == 8 && memcmp(m.p, "REGISTER", 8) == 0)
        return "hep_proto_1_registration";
    return "hep_proto_1_default";
}

/* heplify-server's names for payload types (its decoder's ProtoString). */
static void proto_name(uint32_t t, char out[16])
{
    static const struct {
        uint32_t type;
        const char *name;
    } names[] = {{1, "sip"},         {5, "rtcp"}, {34, "rtpagent"}, {35, "rtcpxr"},
                 {38, "horaclifix"}, {53, "dns"}, {56, "diameter"}, {100, "log"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].type == t) {
            snprintf(out, 16, "%s", names[i].name);
            return;
        }
    snprintf(out, 16, "%" PRIu32, t);
}

/* Appends ,"key":"value" (or without the comma when first), value cleaned and escaped.
 * Keys are plain ASCII literals. */
static int put_str(hc_buf_t *b, const char *key, const char *v, size_t n, int first)
{
    size_t kl = strlen(key);
    if (hc_buf_reserve(b, kl + 6) < 0)
        return -ENOBUFS;
    char *o = b->base + b->len;
    if (!first)
        *o++ = ',';
    *o++ = '"';
    memcpy(o, key, kl);
    o += kl;
    memcpy(o, "\":\"", 3);
    b->len = (size_t)(o + 3 - b->base);
    if (capture_record_clean(b, v, n, 1) < 0)
        return -ENOBUFS;
    return hc_buf_append(b, "\"", 1);
}

/* v in decimal at the start of out (NUL-terminated); returns the length. */
static size_t fmt_uint(char out[24], uint64_t v)
{
    char tmp[24], *e = tmp + sizeof(tmp), *d = e;
    do
        *--d = (char)('0' + v % 10);
    while (v /= 10);
    size_t n = (size_t)(e - d);
    memcpy(out, d, n);
    out[n] = '\0';
    return n;
}

/* Appends ,"key":<unsigned decimal>. */
static int put_uint(hc_buf_t *b, const char *key, uint64_t v)
{
    char num[24];
    size_t nl = fmt_uint(num, v);
    size_t kl = strlen(key);
    if (hc_buf_reserve(b, kl + 4 + nl + 1) < 0)
        return -ENOBUFS;
    char *o = b->base + b->len;
    *o++ = ',';
    *o++ = '"';
    memcpy(o, key, kl);
    o += kl;
    memcpy(o, "\":", 2);
    o += 2;
    memcpy(o, num, nl);
    o += nl;
    *o = '\0';
    b->len = (size_t)(o - b->base);
    return 0;
}

static int put_view(hc_buf_t *b, const char *key, capture_str_t v, int first)
{
    return put_str(b, key, v.p, v.len, first);
}

/* The captureId string: the node name, else the decimal capture id. */
static int put_capture_id(hc_buf_t *b, const char *key, const capture_hep_t *h, int first)
{
    if (h->node_name_len)
        return put_str(b, key, h->node_name, h->node_name_len, first);
    char id[24];
    size_t n = fmt_uint(id, h->capture_id);
    return put_str(b, key, id, n, first);
}

static int protocol_header(hc_buf_t *b, const capture_hep_t *h, uint32_t sec, uint32_t usec,
                           capture_str_t corr)
{
    int rc =
        hc_buf_puts(b, h->family == AF_INET6 ? "{\"protocolFamily\":10" : "{\"protocolFamily\":2");
    rc |= put_uint(b, "protocol", (uint64_t)(h->ip_proto < 0 ? 0 : h->ip_proto));
    rc |= put_str(b, "srcIp", h->src_ip, strnlen(h->src_ip, sizeof(h->src_ip)), 0);
    rc |= put_str(b, "dstIp", h->dst_ip, strnlen(h->dst_ip, sizeof(h->dst_ip)), 0);
    rc |= put_uint(b, "srcPort", h->src_port);
    rc |= put_uint(b, "dstPort", h->dst_port);
    rc |= put_uint(b, "timeSeconds", sec);
    rc |= put_uint(b, "timeUseconds", usec);
    rc |= put_uint(b, "payloadType", h->proto_type);
    rc |= put_capture_id(b, "captureId", h, 0);
    if (h->auth_key_len)
        rc |= put_str(b, "capturePass", h->auth_key, h->auth_key_len, 0);
    rc |= put_view(b, "correlation_id", corr, 0);
    rc |= hc_buf_append(b, "}", 1);
    return rc ? -ENOBUFS : 0;
}

static int sip_data_header(hc_buf_t *b, const capture_sip_t *s)
{
    char code[24];
    capture_str_t method = s->method;
    if (!s->is_request)
        method = (capture_str_t){code, fmt_uint(code, (uint64_t)s->status)};
    /* user_agent is the User-Agent header; the parser falls back on Server there. */
    capture_str_t ua = s->user_agent;
    if (s->server.len && ua.p == s->server.p)
        ua = (capture_str_t){NULL, 0};
    int rc = hc_buf_append(b, "{", 1);
    rc |= put_view(b, "ruri_user", s->ruri_user, 1);
    rc |= put_view(b, "ruri_domain", s->ruri_host, 0);
    rc |= put_view(b, "from_user", s->from_user, 0);
    rc |= put_view(b, "from_tag", s->from_tag, 0);
    rc |= put_view(b, "to_user", s->to_user, 0);
    rc |= put_view(b, "to_tag", s->to_tag, 0);
    rc |= put_view(b, "callid", s->call_id, 0);
    rc |= put_view(b, "cseq", s->cseq, 0);
    rc |= put_view(b, "method", method, 0);
    rc |= put_view(b, "user_agent", ua, 0);
    const struct {
        const char *key;
        capture_str_t v;
    } opt[] = {
        {"from_domain", s->from_host},
        {"to_domain", s->to_host},
        {"via", s->via},
        {"contact_user", s->contact_user},
        {"contact_domain", s->contact_host},
        {"pid_user", s->pai_user},
        {"auth_user", s->auth_user},
        {"server", s->server},
        {"content_type", s->content_type},
        {"reason", s->reason_hdr},
        {"callid_aleg", s->x_cid},
    };
    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
        if (opt[i].v.len)
            rc |= put_view(b, opt[i].key, opt[i].v, 0);
    rc |= hc_buf_append(b, "}", 1);
    return rc ? -ENOBUFS : 0;
}

/* ISUP (type 54, a JSON payload): heplify's sid "min(opc,dpc):max(opc,dpc):cic". */
static int isup_sid(json_t *o, char sid[80])
{
    json_int_t cic = json_integer_value(json_object_get(o, "cic"));
    json_int_t dpc = json_integer_value(json_object_get(o, "dpc"));
    json_int_t opc = json_integer_value(json_object_get(o, "opc"));
    return snprintf(sid, 80,
                    "%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT,
                    opc < dpc ? opc : dpc, dpc < opc ? opc : dpc, cic);
}

static int put_json_str(hc_buf_t *b, const char *key, json_t *v)
{
    const char *s = json_string_value(v);
    return put_str(b, key, s ? s : "", s ? json_string_length(v) : 0, 0);
}

/* ISUP data_header: {"cic","dpc","opc","msg_name","called_number","calling_number",
 * "callid"}. */
static int isup_header(hc_buf_t *b, json_t *o, const char *sid)
{
    int rc = hc_buf_printf(b,
                           "{\"cic\":%" JSON_INTEGER_FORMAT ",\"dpc\":%" JSON_INTEGER_FORMAT
                           ",\"opc\":%" JSON_INTEGER_FORMAT,
                           json_integer_value(json_object_get(o, "cic")),
                           json_integer_value(json_object_get(o, "dpc")),
                           json_integer_value(json_object_get(o, "opc")));
    rc |= put_json_str(b, "msg_name", json_object_get(o, "msg_name"));
    rc |= put_json_str(b, "called_number",
                       json_object_get(json_object_get(o, "called_number"), "num"));
    rc |= put_json_str(b, "calling_number",
                       json_object_get(json_object_get(o, "calling_number"), "num"));
    rc |= put_str(b, "callid", sid, strlen(sid), 0);
    rc |= hc_buf_append(b, "}", 1);
    return rc ? -ENOBUFS : 0;
}

/* Sets the record's pointers from offsets into buf (the buffer may have moved). */
static void finish(capture_record_t *r, const size_t off[4])
{
    const char *base = r->buf.base;
    r->sid = base + off[0];
    r->sid_len = off[1] - off[0] - 1;
    r->protocol_header = base + off[1];
    r->protocol_header_len = off[2] - off[1] - 1;
    r->data_header = base + off[2];
    r->data_header_len = off[3] - off[2] - 1;
    r->raw = base + off[3];
    r->raw_len = r->buf.len - off[3];
}

static int nul(hc_buf_t *b)
{
    return hc_buf_append(b, "", 1);
}

int capture_record_build(capture_record_t *r, const capture_hep_t *h, const capture_sip_t *s,
                         int64_t recv_us)
{
    hc_buf_t *b = &r->buf;
    hc_buf_reset(b);
    r->table = NULL;
    uint32_t sec = h->ts_sec, usec = h->ts_usec;
    if (!sec && !usec) {
        sec = (uint32_t)(recv_us / 1000000);
        usec = (uint32_t)(recv_us % 1000000);
    }
    r->ts_sec = sec;
    r->ts_usec = usec;
    r->create_date_us = (int64_t)sec * 1000000 + usec;
    capture_str_t cid = {h->correlation_id, h->correlation_id_len};
    size_t off[4] = {0};
    int rc;
    const char *table;
    capture_sip_t parsed;
    if (h->proto_type == CAPTURE_PROTO_SIP) {
        if (!s) {
            if (capture_sip_parse((const char *)h->payload, h->payload_len, &parsed) < 0)
                return -EINVAL;
            s = &parsed;
        }
        if (h->payload_len <= SIP_MIN_PAYLOAD || !s->call_id.len || !s->cseq_method.len)
            return -EINVAL;
        table = capture_record_sip_table(s->cseq_method);
        capture_str_t corr = cid.len ? cid : s->x_cid.len ? s->x_cid : s->call_id;
        rc = capture_record_clean(b, s->call_id.p, s->call_id.len, 0) | nul(b);
        off[1] = b->len;
        rc |= protocol_header(b, h, sec, usec, corr) | nul(b);
        off[2] = b->len;
        rc |= sip_data_header(b, s) | nul(b);
    } else if (h->proto_type == 54) {
        table = "hep_proto_54_default";
        json_t *o = json_loadb((const char *)h->payload, h->payload_len, 0, NULL);
        if (!json_is_object(o)) {
            json_decref(o);
            return -EINVAL;
        }
        char sid[80];
        int n = isup_sid(o, sid);
        rc = hc_buf_append(b, sid, (size_t)n + 1);
        off[1] = b->len;
        rc |= protocol_header(b, h, sec, usec, cid) | nul(b);
        off[2] = b->len;
        rc |= isup_header(b, o, sid) | nul(b);
        json_decref(o);
    } else if (h->proto_type >= 2) {
        if (!cid.len)
            return -EINVAL;
        table = h->proto_type == CAPTURE_PROTO_RTCP  ? "hep_proto_5_default"
                : h->proto_type == CAPTURE_PROTO_LOG ? "hep_proto_100_default"
                                                     : "hep_proto_35_default";
        char pname[16];
        proto_name(h->proto_type, pname);
        rc = capture_record_clean(b, cid.p, cid.len, 0) | nul(b);
        off[1] = b->len;
        rc |= protocol_header(b, h, sec, usec, cid) | nul(b);
        off[2] = b->len;
        rc |= hc_buf_append(b, "{", 1) | put_capture_id(b, "node", h, 1) |
              put_str(b, "proto", pname, strlen(pname), 0) | hc_buf_append(b, "}", 1) | nul(b);
    } else {
        return -EINVAL;
    }
    off[3] = b->len;
    rc |= capture_record_clean(b, (const char *)h->payload, h->payload_len, 0);
    if (rc) {
        hc_buf_reset(b);
        return -ENOBUFS;
    }
    if (off[1] - 1 == 0) { /* the sid cleaned down to nothing */
        hc_buf_reset(b);
        return -EINVAL;
    }
    r->table = table;
    finish(r, off);
    return 0;
}
