/* SIP message parsing for hearth capture (RFC 3261 §7, §20; SDP RFC 8866; multipart
 * RFC 2046 §5.1): the ingest path parses every captured message once, the record builder
 * and the API read the views. Every read is bounded by the message's length: the input
 * may be any bytes, with or without NULs. */
#include "capture/capture_sip.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* RFC 2046 §5.1.1: a boundary is 1 to 70 characters; more parts than this are ignored. */
#define SIP_MAX_BOUNDARY 70
#define SIP_MAX_PARTS 16

/* RFC 3261 §7.3.3 compact forms, and those of later RFCs (3265 o/u, 3515 r, 3892 b,
 * 3841 a/j, 4028 x, 4474 y/n). */
static const struct {
    char letter;
    const char *name;
} compact[] = {
    {'i', "Call-ID"},
    {'f', "From"},
    {'t', "To"},
    {'v', "Via"},
    {'m', "Contact"},
    {'l', "Content-Length"},
    {'c', "Content-Type"},
    {'e', "Content-Encoding"},
    {'s', "Subject"},
    {'k', "Supported"},
    {'o', "Event"},
    {'u', "Allow-Events"},
    {'r', "Refer-To"},
    {'b', "Referred-By"},
    {'a', "Accept-Contact"},
    {'j', "Reject-Contact"},
    {'x', "Session-Expires"},
    {'y', "Identity"},
    {'n', "Identity-Info"},
};

static capture_str_t str(const char *p, const char *e)
{
    return (capture_str_t){p, (size_t)(e - p)};
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static int is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static capture_str_t trim(capture_str_t s)
{
    while (s.len && is_lws(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && is_lws(s.p[s.len - 1]))
        s.len--;
    return s;
}

int capture_str_ieq(capture_str_t s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && (n == 0 || strncasecmp(s.p, c, n) == 0);
}

/* Case-insensitive prefix test. */
static int has_prefix(capture_str_t s, const char *pre)
{
    size_t n = strlen(pre);
    return s.len >= n && strncasecmp(s.p, pre, n) == 0;
}

static const char *mem_find(const char *p, const char *e, char c)
{
    const char *r = p < e ? memchr(p, c, (size_t)(e - p)) : NULL;
    return r ? r : e;
}

/* The full name of a one-letter compact form, or NULL. */
static const char *compact_full(capture_str_t name)
{
    if (name.len != 1)
        return NULL;
    char c = (char)(name.p[0] | 0x20);
    for (size_t i = 0; i < sizeof(compact) / sizeof(compact[0]); i++)
        if (compact[i].letter == c)
            return compact[i].name;
    return NULL;
}

/* Header name n matches full: spelled out, or n is full's compact letter. */
static int name_is(capture_str_t n, const char *full)
{
    if (capture_str_ieq(n, full))
        return 1;
    const char *f = compact_full(n);
    return f && strcasecmp(f, full) == 0;
}

/* Iterates the header lines of a message head (RFC 3261 §7.3.1): "name : value" with
 * continuation lines that start with SP/HT folded into the value. Lines without a colon
 * are skipped. After the empty line (or at the end), p is where the body starts. */
typedef struct hdr_it {
    const char *p, *end;
} hdr_it_t;

static int hdr_next(hdr_it_t *it, capture_str_t *name, capture_str_t *value)
{
    while (it->p < it->end) {
        const char *p = it->p;
        if (*p == '\n' || (*p == '\r' && (p + 1 == it->end || p[1] == '\n'))) {
            it->p = p + (*p == '\r' && p + 1 < it->end ? 2 : 1);
            it->end = it->p; /* the header block ended */
            return 0;
        }
        const char *le = mem_find(p, it->end, '\n');
        while (le + 1 < it->end && is_ws(le[1]))
            le = mem_find(le + 1, it->end, '\n');
        it->p = le < it->end ? le + 1 : it->end;
        const char *ce = le;
        if (ce > p && ce[-1] == '\r')
            ce--;
        const char *colon = mem_find(p, ce, ':');
        if (colon == ce)
            continue;
        *name = trim(str(p, colon));
        *value = trim(str(colon + 1, ce));
        if (name->len)
            return 1;
    }
    return 0;
}

/* Skips keep-alive CRLFs and the start line; returns the iterator over the headers and
 * the start line in *line. */
static hdr_it_t head_start(const char *msg, size_t len, capture_str_t *line)
{
    const char *p = msg, *e = msg + len;
    while (p < e && (*p == '\r' || *p == '\n'))
        p++;
    const char *le = mem_find(p, e, '\n');
    const char *ce = le > p && le[-1] == '\r' ? le - 1 : le;
    *line = str(p, ce);
    return (hdr_it_t){le < e ? le + 1 : e, e};
}

capture_str_t capture_sip_header(const char *msg, size_t len, const char *name)
{
    capture_str_t line, n, v;
    hdr_it_t it = head_start(msg, len, &line);
    capture_str_t want = {name, strlen(name)};
    const char *full = compact_full(want);
    while (hdr_next(&it, &n, &v))
        if (name_is(n, full ? full : name))
            return v;
    return (capture_str_t){NULL, 0};
}

/* URI (RFC 3261 §19.1, RFC 3966): sip:/sips: user[:password]@host[:port];params, or
 * tel:number;params. user and host stay empty for other schemes. */
static void uri_parse(capture_str_t uri, capture_str_t *user, capture_str_t *host)
{
    const char *p = uri.p, *e = uri.p + uri.len;
    if (has_prefix(uri, "tel:")) {
        p += 4;
        const char *q = p;
        while (q < e && *q != ';' && *q != '?' && *q != '>' && !is_lws(*q) && *q != ',')
            q++;
        *user = str(p, q);
        return;
    }
    if (has_prefix(uri, "sips:"))
        p += 5;
    else if (has_prefix(uri, "sip:"))
        p += 4;
    else
        return;
    const char *stop = p;
    while (stop < e && *stop != '>' && !is_lws(*stop) && *stop != ',')
        stop++;
    const char *at = mem_find(p, stop, '@');
    if (at < stop) {
        *user = str(p, mem_find(p, at, ':'));
        p = at + 1;
    }
    const char *q = p;
    if (q < stop && *q == '[') {
        q = mem_find(q, stop, ']');
        if (q < stop)
            q++;
    } else {
        while (q < stop && *q != ':' && *q != ';' && *q != '?')
            q++;
    }
    *host = str(p, q);
}

/* name-addr / addr-spec (RFC 3261 §20.10, §20.20): the URI and the header parameters.
 * Without <>, everything after the first ';' belongs to the header. */
static void addr_parse(capture_str_t v, capture_str_t *uri, capture_str_t *params)
{
    const char *p = v.p, *e = v.p + v.len;
    while (p < e && is_lws(*p))
        p++;
    if (p < e && *p == '"') {
        for (p++; p < e && *p != '"'; p++)
            if (*p == '\\' && p + 1 < e)
                p++;
        if (p < e)
            p++;
    }
    const char *lt = mem_find(p, e, '<');
    if (lt < e) {
        const char *gt = mem_find(lt + 1, e, '>');
        *uri = str(lt + 1, gt);
        *params = str(gt < e ? gt + 1 : e, e);
    } else {
        const char *semi = mem_find(p, e, ';');
        *uri = trim(str(p, semi));
        *params = str(semi, e);
    }
}

/* The value of ;name=value in a parameter list (stops at a ',' that starts the next
 * element of a comma-joined header). */
static capture_str_t param_get(capture_str_t params, const char *name)
{
    if (!params.len)
        return (capture_str_t){NULL, 0};
    const char *p = params.p, *e = params.p + params.len;
    const char *comma = mem_find(p, e, ',');
    e = comma;
    while (p < e) {
        const char *semi = mem_find(p, e, ';');
        if (semi == e)
            break;
        const char *q = semi + 1, *next = mem_find(q, e, ';');
        const char *eq = mem_find(q, next, '=');
        if (capture_str_ieq(trim(str(q, eq)), name))
            return eq < next ? trim(str(eq + 1, next)) : str(next, next);
        p = next;
    }
    return (capture_str_t){NULL, 0};
}

static void addr_fields(capture_str_t v, capture_str_t *user, capture_str_t *host,
                        capture_str_t *tag)
{
    capture_str_t uri = {0}, params = {0};
    addr_parse(v, &uri, &params);
    uri_parse(uri, user, host);
    if (tag)
        *tag = param_get(params, "tag");
}

/* username= of a Digest credentials value (RFC 3261 §25.1 credentials), unquoted. */
static capture_str_t auth_username(capture_str_t v)
{
    const char *p = v.p, *e = v.p + v.len;
    while (p < e && !is_lws(*p)) /* the scheme */
        p++;
    while (p < e) {
        while (p < e && (is_lws(*p) || *p == ','))
            p++;
        const char *n = p;
        while (p < e && *p != '=' && *p != ',')
            p++;
        capture_str_t name = trim(str(n, p));
        if (p >= e || *p == ',')
            continue;
        p++;
        while (p < e && is_lws(*p))
            p++;
        const char *vs = p, *ve;
        if (p < e && *p == '"') {
            vs = ++p;
            while (p < e && *p != '"')
                p += (*p == '\\' && p + 1 < e) ? 2 : 1;
            ve = p < e ? p : e;
            if (p < e)
                p++;
        } else {
            while (p < e && *p != ',')
                p++;
            ve = p;
        }
        if (capture_str_ieq(name, "username"))
            return trim(str(vs, ve));
    }
    return (capture_str_t){NULL, 0};
}

/* SDP lines (RFC 8866 §5): the first c= address and the m= media ports. */
static void sdp_parse(capture_sip_t *s, const char *p, const char *e)
{
    while (p < e) {
        const char *le = mem_find(p, e, '\n');
        capture_str_t line = trim(str(p, le));
        p = le < e ? le + 1 : e;
        if (line.len < 2 || line.p[1] != '=')
            continue;
        const char *q = line.p + 2, *qe = line.p + line.len;
        if (line.p[0] == 'c' && !s->sdp_ip.len) {
            /* c=IN IP4 addr[/ttl][/n] */
            for (int skip = 0; skip < 2 && q < qe; skip++) {
                while (q < qe && !is_ws(*q))
                    q++;
                while (q < qe && is_ws(*q))
                    q++;
            }
            const char *a = q;
            while (q < qe && !is_ws(*q) && *q != '/')
                q++;
            s->sdp_ip = str(a, q);
        } else if (line.p[0] == 'm' && s->nmedia < CAPTURE_SIP_MAX_MEDIA) {
            /* m=<media> <port>[/<n>] <proto> <fmt> ... */
            const char *t = q;
            while (q < qe && !is_ws(*q))
                q++;
            capture_str_t type = str(t, q);
            while (q < qe && is_ws(*q))
                q++;
            unsigned long port = 0;
            int digits = 0;
            while (q < qe && *q >= '0' && *q <= '9' && digits < 6) {
                port = port * 10 + (unsigned long)(*q++ - '0');
                digits++;
            }
            if (!type.len || !digits || port > 65535)
                continue;
            s->media[s->nmedia].type = type;
            s->media[s->nmedia].port = (uint16_t)port;
            s->nmedia++;
        }
    }
}

/* The media type of a Content-Type value, without parameters. */
static capture_str_t media_type(capture_str_t ct)
{
    if (!ct.len)
        return ct;
    return trim(str(ct.p, mem_find(ct.p, ct.p + ct.len, ';')));
}

/* multipart bodies (RFC 2046 §5.1): each part whose Content-Type is application/sdp. */
static void multipart_parse(capture_sip_t *s, capture_str_t ct, const char *p, const char *e)
{
    capture_str_t b = param_get(str(mem_find(ct.p, ct.p + ct.len, ';'), ct.p + ct.len), "boundary");
    if (b.len >= 2 && b.p[0] == '"' && b.p[b.len - 1] == '"') {
        b.p++;
        b.len -= 2;
    }
    if (!b.len || b.len > SIP_MAX_BOUNDARY)
        return;
    char delim[SIP_MAX_BOUNDARY + 2] = "--";
    memcpy(delim + 2, b.p, b.len);
    size_t dlen = b.len + 2;
    const char *d = memmem(p, (size_t)(e - p), delim, dlen);
    for (int part = 0; d && part < SIP_MAX_PARTS; part++) {
        const char *q = d + dlen;
        if (e - q >= 2 && q[0] == '-' && q[1] == '-')
            return; /* close-delimiter */
        q = mem_find(q, e, '\n');
        if (q < e)
            q++;
        const char *next = q < e ? memmem(q, (size_t)(e - q), delim, dlen) : NULL;
        const char *pe = next ? next : e;
        hdr_it_t it = {q, pe};
        capture_str_t n, v, pct = {0};
        while (hdr_next(&it, &n, &v))
            if (name_is(n, "Content-Type") && !pct.len)
                pct = v;
        if (capture_str_ieq(media_type(pct), "application/sdp"))
            sdp_parse(s, it.p, pe);
        d = next;
    }
}

/* Start line (RFC 3261 §7.1, §7.2): "METHOD SP Request-URI SP SIP/2.0" or
 * "SIP/2.0 SP Status-Code SP Reason-Phrase". Returns 0 or -EINVAL. */
static int start_line(capture_sip_t *s, capture_str_t line)
{
    const char *p = line.p, *e = line.p + line.len;
    if (has_prefix(line, "SIP/2.0 ")) {
        p += 8;
        int code = 0;
        for (int i = 0; i < 3; i++, p++) {
            if (p >= e || *p < '0' || *p > '9')
                return -EINVAL;
            code = code * 10 + (*p - '0');
        }
        if (code < 100 || (p < e && !is_ws(*p)))
            return -EINVAL;
        s->status = code;
        s->reason = trim(str(p, e));
        return 0;
    }
    const char *m = p;
    while (p<e && * p> ' ' && *p < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", *p))
        p++;
    if (p == m || p >= e || *p != ' ')
        return -EINVAL;
    s->method = str(m, p);
    const char *u = ++p;
    while (p < e && *p != ' ')
        p++;
    if (p == u || p >= e)
        return -EINVAL;
    s->ruri = str(u, p);
    if (!has_prefix(trim(str(p, e)), "SIP/2.0"))
        return -EINVAL;
    s->is_request = 1;
    uri_parse(s->ruri, &s->ruri_user, &s->ruri_host);
    return 0;
}

static void cseq_parse(capture_sip_t *s, capture_str_t v)
{
    const char *p = v.p, *e = v.p + v.len;
    uint64_t n = 0;
    int digits = 0;
    while (p < e && *p >= '0' && *p <= '9') {
        if (n <= UINT32_MAX)
            n = n * 10 + (uint64_t)(*p - '0');
        p++;
        digits++;
    }
    if (!digits)
        return;
    while (p < e && is_lws(*p))
        p++;
    const char *m = p;
    while (p < e && !is_lws(*p))
        p++;
    if (p == m)
        return;
    s->cseq = v;
    s->cseq_num = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    s->cseq_method = str(m, p);
}

/* Content-Length: at most 9 digits (a SIP message fits a 64 KB HEP packet). */
static long length_parse(capture_str_t v)
{
    long n = 0;
    if (!v.len || v.len > 9)
        return -1;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        n = n * 10 + (v.p[i] - '0');
    }
    return n;
}

/* One header into the fields it feeds; the first occurrence of each wins. */
static void header_field(capture_sip_t *s, capture_str_t n, capture_str_t v)
{
    /* Compact forms spelled out once; most headers (Max-Forwards, Allow, ...) feed no
     * field and leave on their first letter. */
    const char *full = compact_full(n);
    if (full)
        n = (capture_str_t){full, strlen(full)};
    if (!n.len || !strchr("cftvusprax", n.p[0] | 0x20))
        return;
#define FIRST(field) (!s->field.len)
    if (capture_str_ieq(n, "Call-ID") && FIRST(call_id)) {
        s->call_id = v;
    } else if (capture_str_ieq(n, "From") && FIRST(from_user) && FIRST(from_host)) {
        addr_fields(v, &s->from_user, &s->from_host, &s->from_tag);
    } else if (capture_str_ieq(n, "To") && FIRST(to_user) && FIRST(to_host)) {
        addr_fields(v, &s->to_user, &s->to_host, &s->to_tag);
    } else if (capture_str_ieq(n, "CSeq") && FIRST(cseq_method)) {
        cseq_parse(s, v);
    } else if (capture_str_ieq(n, "Via") && FIRST(via)) {
        s->via = trim(str(v.p, mem_find(v.p, v.p + v.len, ',')));
        s->via_branch = param_get(s->via, "branch");
    } else if (capture_str_ieq(n, "User-Agent") && FIRST(user_agent)) {
        s->user_agent = v;
    } else if (capture_str_ieq(n, "Server") && FIRST(server)) {
        s->server = v;
    } else if (capture_str_ieq(n, "P-Asserted-Identity") && FIRST(pai_user)) {
        capture_str_t host = {0};
        addr_fields(v, &s->pai_user, &host, NULL);
    } else if (capture_str_ieq(n, "Reason") && FIRST(reason_hdr)) {
        s->reason_hdr = v;
    } else if ((capture_str_ieq(n, "Authorization") || capture_str_ieq(n, "Proxy-Authorization")) &&
               FIRST(auth_user)) {
        s->auth_user = auth_username(v);
    } else if (capture_str_ieq(n, "X-CID") && FIRST(x_cid)) {
        s->x_cid = v;
    } else if (capture_str_ieq(n, "Contact") && FIRST(contact_user) && FIRST(contact_host)) {
        addr_fields(v, &s->contact_user, &s->contact_host, NULL);
    } else if (capture_str_ieq(n, "Content-Length") && s->content_length < 0) {
        s->content_length = length_parse(v);
    } else if (capture_str_ieq(n, "Content-Type") && FIRST(content_type)) {
        s->content_type = v;
    }
#undef FIRST
}

int capture_sip_parse(const char *msg, size_t len, capture_sip_t *s)
{
    memset(s, 0, sizeof(*s));
    s->content_length = -1;
    capture_str_t line, n, v;
    hdr_it_t it = head_start(msg, len, &line);
    if (start_line(s, line) < 0)
        return -EINVAL;
    while (hdr_next(&it, &n, &v))
        header_field(s, n, v);
    if (!s->user_agent.len)
        s->user_agent = s->server;
    const char *e = msg + len;
    const char *body = it.p;
    size_t avail = (size_t)(e - body);
    s->body = str(body, body + (s->content_length >= 0 && (size_t)s->content_length < avail
                                    ? (size_t)s->content_length
                                    : avail));
    capture_str_t mt = media_type(s->content_type);
    const char *be = s->body.p + s->body.len;
    if (capture_str_ieq(mt, "application/sdp"))
        sdp_parse(s, s->body.p, be);
    else if (has_prefix(mt, "multipart/"))
        multipart_parse(s, s->content_type, s->body.p, be);
    if (!s->call_id.len || !s->cseq_method.len)
        return -EINVAL;
    return 0;
}
