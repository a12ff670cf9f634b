/* The request head of an hc_http_server connection (see hc_http_internal.h): the raw
 * scan of the header section, the parser callbacks that collect the request-target and
 * fields, and the RFC 9112 strictness checks before the handler runs. Socket I/O and
 * the rest of the connection: hc_http_conn.c. */
#include "core/hc_http_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* ---- header section scanner ----
 * llhttp (outside its strict mode) accepts obs-fold and has no limits, so the raw head is
 * scanned first. It also tells where the head ends, so the parser is fed the head
 * alone and each request is checked before any of its body is read. */
enum { SC_START, SC_REQLINE, SC_LINE_START, SC_HEADER, SC_END_CR, SC_DONE };

void hc_http_conn_scan_reset(hc_http_conn_t *c)
{
    memset(&c->scan, 0, sizeof(c->scan));
    c->head_phase = 1;
}

/* The bytes from data[i] up to the next '\n' (or the end): the inside of a line, which
 * only counts towards its limit, is skipped by memchr rather than byte by byte. */
static size_t line_run(const char *data, size_t i, size_t len)
{
    const char *nl = memchr(data + i, '\n', len - i);
    return (nl ? (size_t)(nl - data) : len) - i;
}

/* Keeps the last sizeof(tail) bytes of the request-line seen so far. */
static void tail_keep(hc_http_scan_t *sc, const char *p, size_t n)
{
    const size_t cap = sizeof(sc->tail);
    if (n >= cap) {
        memcpy(sc->tail, p + n - cap, cap);
        sc->tail_len = (unsigned)cap;
        return;
    }
    size_t keep = sc->tail_len + n > cap ? cap - n : sc->tail_len;
    memmove(sc->tail, sc->tail + sc->tail_len - keep, keep);
    memcpy(sc->tail + keep, p, n);
    sc->tail_len = (unsigned)(keep + n);
}

/* RFC 9112 §2.3: the request-line ends in " HTTP/" DIGIT "." DIGIT (case-sensitive; the
 * parser library takes "HTTX/1.1" too), after a target (§3: one SP between the parts). */
static int version_ok(const hc_http_scan_t *sc)
{
    size_t n = sc->tail_len;
    if (n && sc->tail[n - 1] == '\r')
        n--;
    if (n < 10)
        return 0;
    const char *v = sc->tail + n - 9;
    return !memcmp(v, " HTTP/", 6) && isdigit((unsigned char)v[6]) && v[7] == '.' &&
           isdigit((unsigned char)v[8]) && v[-1] != ' ';
}

/* Returns the bytes up to and including the end of the head, 0 when all of data belongs
 * to the head so far, or -status for a violation. */
long hc_http_conn_head_scan(hc_http_conn_t *c, const char *data, size_t len)
{
    hc_http_scan_t *sc = &c->scan;
    const hc_http_server_opts_t *o = &c->srv->o;
    for (size_t i = 0; i < len; i++) {
        char ch = data[i];
        switch (sc->state) {
        case SC_START: /* RFC 9112 §2.2: empty lines before the request-line are ignored */
            if (ch != '\r' && ch != '\n') {
                sc->state = SC_REQLINE;
                sc->line_len = 1;
            } else if (++sc->head_len > 64) {
                return -400;
            }
            break;
        case SC_REQLINE: {
            size_t run = line_run(data, i, len);
            if ((sc->line_len += run) > o->max_request_line)
                return -414; /* RFC 9112 §3: a request-line longer than we parse */
            /* §3: one SP between its parts, as Go's server splits them (400), where the
             * parser would read "GET  /" as "GET /": the first space is followed by none
             * (a target holds no space, and version_ok looks before the version) */
            if (!sc->spaced) {
                const char *sp = memchr(data + i, ' ', run);
                sc->spaced = sp != NULL;
                if (sp && sp + 1 < data + i + run && sp[1] == ' ')
                    return -400;
            } else if (data[i] == ' ' && sc->tail_len && sc->tail[sc->tail_len - 1] == ' ') {
                return -400; /* the first space ended the read before */
            }
            tail_keep(sc, data + i, run);
            if ((i += run) == len)
                return 0;
            if (!version_ok(sc))
                return -400;
            sc->state = SC_LINE_START; /* data[i] is its '\n' */
            sc->head_len = 0;
            break;
        }
        case SC_LINE_START:
            /* RFC 9112 §5.2: obs-fold in a request is rejected with 400; §2.2: so is
             * whitespace between the start-line and the first field line. */
            if (ch == ' ' || ch == '\t')
                return -400;
            sc->state = ch == '\r' ? SC_END_CR : SC_HEADER;
            if (ch == '\n') {
                sc->state = SC_DONE;
                return (long)i + 1;
            }
            break;
        case SC_HEADER: {
            size_t run = line_run(data, i, len);
            if ((sc->head_len += run) > o->max_header_bytes)
                return -431; /* RFC 6585 §5 */
            if ((i += run) == len)
                return 0;
            sc->state = SC_LINE_START; /* data[i] is its '\n', counted below */
            break;
        }
        case SC_END_CR:
            if (ch != '\n')
                return -400;
            sc->state = SC_DONE;
            return (long)i + 1;
        default:
            return -400;
        }
        if (sc->state >= SC_LINE_START && ++sc->head_len > o->max_header_bytes)
            return -431; /* RFC 6585 §5 */
    }
    return 0;
}

/* ---- parser callbacks ---- */

static hc_http_rq_t *rq_of(void *ud)
{
    return &((hc_http_conn_t *)ud)->io->rq;
}

static int cb_begin(void *ud)
{
    hc_http_conn_t *c = ud;
    hc_http_rq_t *rq = rq_of(ud);
    hc_http_rq_reset(rq);
    rq->active = 1;
    rq->pub.conn = c;
    c->err_status = 0;
    c->srv->stats.active_requests++;
    hc_http_conn_arm(c, c->srv->o.header_timeout_ms);
    return 0;
}

static int reject(hc_http_conn_t *c, int status, const char *msg)
{
    c->err_status = status;
    c->err_msg = msg;
    return -1;
}

/* Appends a piece of the part in progress; part 0 = target, 1 = name, 2 = value. */
static int head_piece(hc_http_conn_t *c, int part, const char *at, size_t len)
{
    hc_http_rq_t *rq = &c->io->rq;
    if (part == 1 && (rq->in_value || rq->nh == 0)) {
        if (rq->nh >= rq->hcap && hc_http_rq_field_room(rq, c->srv->o.max_headers) < 0)
            return reject(c, 431, "too many header fields");
        if (hc_buf_append(&rq->head, "", 1))
            return reject(c, 431, "header section too large");
        rq->hoff[rq->nh].name_off = (uint32_t)rq->head.len;
        rq->hoff[rq->nh].name_len = 0;
        rq->nh++;
        rq->in_value = 0;
    } else if (part == 2 && !rq->in_value) {
        if (hc_buf_append(&rq->head, "", 1))
            return reject(c, 431, "header section too large");
        rq->hoff[rq->nh - 1].value_off = (uint32_t)rq->head.len;
        rq->hoff[rq->nh - 1].value_len = 0;
        rq->in_value = 1;
    }
    if (hc_buf_append(&rq->head, at, len))
        return reject(c, part ? 431 : 414, part ? "header section too large" : "URI too long");
    if (part == 1)
        rq->hoff[rq->nh - 1].name_len += (uint32_t)len;
    else if (part == 2)
        rq->hoff[rq->nh - 1].value_len += (uint32_t)len;
    return 0;
}

static int cb_target(void *ud, const char *at, size_t len)
{
    return head_piece(ud, 0, at, len);
}

static int cb_field(void *ud, const char *at, size_t len)
{
    hc_http_conn_t *c = ud;
    if (!c->head_phase)
        return 0; /* trailer fields of a chunked body: discarded */
    return head_piece(c, 1, at, len);
}

static int cb_value(void *ud, const char *at, size_t len)
{
    hc_http_conn_t *c = ud;
    if (!c->head_phase)
        return 0;
    if (c->io->rq.nh == 0)
        return reject(c, 400, "header value without name");
    return head_piece(c, 2, at, len);
}

/* RFC 9112 §6.1: the codings of one Transfer-Encoding field, in order. Sets *last_chunked
 * when the final one is chunked and counts the known codings we do not decode. */
static int te_check(hc_http_conn_t *c, const char *v, size_t n, int *last_chunked, int *other)
{
    static const char *known[] = {"gzip", "x-gzip", "deflate", "compress", "x-compress"};
    size_t i = 0, commas = 0, codings = 0;
    for (size_t k = 0; k < n; k++)
        commas += v[k] == ',';
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ';' && v[i] != ' ' && v[i] != '\t')
            i++;
        size_t tl = i - s;
        while (i < n && v[i] != ',')
            i++;
        if (!tl)
            continue;
        codings++;
        if (*last_chunked) /* chunked must be the final coding, applied once */
            return reject(c, 400, "chunked is not the final transfer coding");
        if (tl == 7 && !strncasecmp(v + s, "chunked", 7)) {
            *last_chunked = 1;
            continue;
        }
        int is_known = 0;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            is_known |= strlen(known[k]) == tl && !strncasecmp(v + s, known[k], tl);
        if (!is_known)
            return reject(c, 501, "unknown transfer coding");
        (*other)++;
    }
    /* an empty element (",chunked", "chunked,"): Go's server takes one value that is
     * exactly "chunked", so a front proxy may read these either way: 501 */
    if (codings && commas + 1 != codings)
        return reject(c, 501, "unsupported transfer encoding");
    /* a field with no coding at all: beside "chunked" a front proxy reading the last
     * field sees no body (a TE/TE desync); Go's server refuses it, 501 */
    if (!codings)
        return reject(c, 501, "empty Transfer-Encoding");
    return 0;
}

/* Whether every byte of s[0..n) is in a set given as one bit per byte value. */
static int bytes_in(const uint32_t set[8], const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(set[c >> 5] & (1u << (c & 31))))
            return 0;
    }
    return 1;
}

/* RFC 9110 §5.6.2 tchar: "!#$%&'*+-.^_`|~", digits and letters (a table: strspn built
 * its own from the set string on every field). */
static const uint32_t tchar_bits[8] = {0x00000000u, 0x03ff6cfau, 0xc7fffffeu, 0x57ffffffu};

static int is_token_n(const char *s, size_t n)
{
    return n > 0 && bytes_in(tchar_bits, s, n);
}

/* The bytes Go's server allows in Host (httpguts.ValidHostHeader: RFC 3986 reg-name,
 * IP literals, a port, and '%' for escapes and zones); anything else gets 400 rather
 * than reaching routing, X-Forwarded-Host and the upstream. */
static const uint32_t host_bits[8] = {0x00000000u, 0x2fff7ff2u, 0xaffffffeu, 0x47fffffeu};

/* RFC 9112 §6.1, §6.3 and §3.2 checks on the complete head. */
static int check_head(hc_http_conn_t *c, const hc_http_parse_head_t *h)
{
    hc_http_rq_t *rq = &c->io->rq;
    if (h->version_major != 1) { /* answered in HTTP/1.1 whatever was asked, as Go's */
        rq->pub.version_minor = 1;
        return reject(c, 505, "unsupported protocol version");
    }
    /* A control character in the target: Go's url.ParseRequestURI refuses it (400);
     * the parser may let HT and FF through, which no request line may carry upstream. */
    for (const char *t = rq->pub.target; *t; t++)
        if ((unsigned char)*t < 0x20 || *t == 0x7f)
            return reject(c, 400, "control character in the request-target");
    int hosts = 0, te = 0, cl = 0, chunked = 0, other = 0, expect = 0;
    for (unsigned i = 0; i < rq->nh; i++) {
        const hc_http_header_t *f = &rq->hdrs[i];
        /* RFC 9112 §5.1: no whitespace between field name and colon (400); RFC 9110
         * §5.1: a field name is a token. */
        if (!is_token_n(f->name, f->name_len))
            return reject(c, 400, "invalid field name");
        if (f->name_len == 4 && !strcasecmp(f->name, "host")) {
            hosts++;
            if (!bytes_in(host_bits, f->value, f->value_len))
                return reject(c, 400, "malformed Host header");
        } else if (f->name_len == 14 && !strcasecmp(f->name, "content-length"))
            cl++;
        else if (f->name_len == 17 && !strcasecmp(f->name, "transfer-encoding")) {
            te++;
            if (te_check(c, f->value, f->value_len, &chunked, &other) < 0)
                return -1;
        } else if (f->name_len == 6 && !strcasecmp(f->name, "expect") && !expect++) {
            /* RFC 9110 §10.1.1, as Go's server reads the first Expect field: 100-continue
             * among its tokens, or 417 for an expectation it cannot meet */
            if (hc_http_has_token(f->value, f->value_len, "100-continue"))
                rq->expect_continue = h->version_minor >= 1;
            else if (f->value_len) /* an empty one asks nothing: the checks go on */
                return reject(c, 417, "expectation failed");
        }
    }
    /* RFC 9112 §3.2: a client MUST send Host in HTTP/1.1; a server MUST answer 400 to
     * a request without it or with more than one. */
    if (hosts > 1 || (h->version_minor >= 1 && hosts != 1))
        return reject(c, 400, hosts ? "more than one Host field" : "missing Host field");
    /* §6.3 item 3: both Transfer-Encoding and Content-Length: smuggling risk. */
    if (te && cl)
        return reject(c, 400, "both Transfer-Encoding and Content-Length");
    /* §6.3 item 4: a request whose final coding is not chunked has no knowable length. */
    if (te && !chunked)
        return reject(c, 400, "Transfer-Encoding without final chunked");
    if (other)
        return reject(c, 501, "transfer coding not supported");
    /* a form read as chunked here that the parser does not frame as chunked ("chunked;x=1",
     * "chunked,"): refused before any handler sees the request, as Go's 501 */
    if (chunked != h->chunked)
        return reject(c, 501, "unsupported transfer encoding");
    /* §6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing: the connection
     * closes after this message */
    if (te && h->version_minor == 0)
        c->keep_alive = 0;
    /* a chunked body on an Upgrade or CONNECT request would be read by the parser library
     * without the chunked limits above; no client sends one (a handshake has no body) */
    if (chunked && h->upgrade)
        return reject(c, 501, "chunked body on an Upgrade or CONNECT request");
    return 0;
}

/* The request-target (NUL-terminated, kept by the caller) and its path and query. */
static void set_target(hc_http_req_t *r, const char *target)
{
    r->target = target;
    r->target_len = strlen(target);
    const char *q = memchr(target, '?', r->target_len);
    r->path_len = q ? (size_t)(q - target) : r->target_len;
    r->path = hc_http_req_strndup(r, target, r->path_len);
    r->query = q ? q + 1 : NULL;
    r->query_len = q ? r->target_len - r->path_len - 1 : 0;
}

static void fill_req(hc_http_conn_t *c, const hc_http_parse_head_t *h)
{
    hc_http_rq_t *rq = &c->io->rq;
    hc_http_req_t *r = &rq->pub;
    hc_buf_append(&rq->head, "", 1); /* room was left by the limits; terminates the last part */
    for (unsigned i = 0; i < rq->nh; i++) {
        rq->hdrs[i].name = rq->head.base + rq->hoff[i].name_off;
        rq->hdrs[i].name_len = rq->hoff[i].name_len;
        rq->hdrs[i].value = rq->head.base + rq->hoff[i].value_off;
        rq->hdrs[i].value_len = rq->hoff[i].value_len;
        if (!rq->hoff[i].value_off) { /* a field with an empty value */
            rq->hdrs[i].value = "";
            continue;
        }
        /* RFC 9112 §5.1: the value excludes trailing whitespace (the parser dropped the
         * leading); "Host: a.example " must route as a.example */
        char *v = rq->head.base + rq->hoff[i].value_off;
        size_t n = rq->hdrs[i].value_len;
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            v[--n] = '\0';
        rq->hdrs[i].value_len = n;
    }
    size_t ml = strlen(h->method);
    memcpy(rq->method, h->method, ml + 1); /* at most HC_HTTP_PARSE_METHOD_MAX */
    r->method = rq->method;
    set_target(r, rq->head.base);
    r->version_minor = h->version_minor;
    r->headers = rq->hdrs;
    r->nheaders = rq->nh;
    r->content_length = h->content_length;
    r->chunked = h->chunked;
    r->is_head = ml == 4 && !memcmp(h->method, "HEAD", 4);
    r->max_body = c->srv->o.max_body;
}

/* The length of an absolute-form target's "scheme://" (RFC 3986 §3.1: a letter, then
 * letters, digits, '+', '-', '.'), or 0. */
static size_t scheme_len(const char *t)
{
    size_t n = 0;
    if (!isalpha((unsigned char)*t))
        return 0;
    while (isalnum((unsigned char)t[n]) || t[n] == '+' || t[n] == '-' || t[n] == '.')
        n++;
    return strncmp(t + n, "://", 3) ? 0 : n + 3;
}

/* RFC 9112 §3.2.2: a server takes an absolute-form target ("GET http://host/p", what a
 * client sends through a forward proxy) as the origin-form "/p" with that host as Host,
 * whatever the Host field said; so routes, services and upstreams see one form. Any
 * scheme, as Go's url.ParseRequestURI reads one: "ftp://x/../admin" is "/../admin",
 * cleaned as any path (it had reached a server as "/ftp://x/../admin", past the
 * middlewares of "/admin"). */
static int absolute_form(hc_http_conn_t *c)
{
    hc_http_rq_t *rq = &c->io->rq;
    hc_http_req_t *r = &rq->pub;
    const char *t = r->target;
    size_t skip = scheme_len(t);
    if (!skip)
        return 0;
    const char *auth = t + skip, *rest = auth + strcspn(auth, "/?");
    const char *at = memchr(auth, '@', (size_t)(rest - auth)); /* userinfo is not the host */
    if (at)
        auth = at + 1;
    if (auth == rest)
        return reject(c, 400, "absolute-form target without a host");
    if (*rest == '/') {
        set_target(r, rest);
    } else { /* "http://h" or "http://h?q": the path is "/" */
        char *t2 = hc_http_req_alloc(r, strlen(rest) + 2);
        t2[0] = '/';
        strcpy(t2 + 1, rest);
        set_target(r, t2);
    }
    size_t alen = (size_t)(rest - auth);
    const char *host = hc_http_req_strndup(r, auth, alen);
    for (unsigned i = 0; i < rq->nh; i++)
        if (rq->hdrs[i].name_len == 4 && !strcasecmp(rq->hdrs[i].name, "host")) {
            rq->hdrs[i].value = host;
            rq->hdrs[i].value_len = alen;
            return 0;
        }
    if (hc_http_rq_field_room(rq, c->srv->o.max_headers) == 0) { /* HTTP/1.0 may leave
                                                                    Host out */
        rq->hdrs[rq->nh++] = (hc_http_header_t){"Host", 4, host, alen};
        r->headers = rq->hdrs; /* the room may have moved them */
        r->nheaders = rq->nh;
    }
    return 0;
}

static int cb_headers_complete(void *ud, const hc_http_parse_head_t *h)
{
    hc_http_conn_t *c = ud;
    hc_http_rq_t *rq = &c->io->rq;
    if (c->err_status)
        return -1;
    if (!rq->head.len)
        return reject(c, 400, "empty request-target");
    fill_req(c, h);
    c->head_phase = 0;
    c->keep_alive = h->keep_alive && !c->srv->draining && !c->peer_eof;
    uint64_t head_deadline = c->deadline;
    hc_http_conn_disarm(c);
    if (check_head(c, h) < 0 || absolute_form(c) < 0)
        return -1;
    if (c->srv->o.read_timeout_ms && (h->content_length > 0 || h->chunked)) {
        uint64_t now = uv_now(c->srv->loop);
        unsigned ms = c->srv->o.read_timeout_ms;
        if (c->srv->o.read_timeout_whole && head_deadline)
            ms = head_deadline > now ? (unsigned)(head_deadline - now) : 1;
        c->body_timed = 1;
        hc_http_conn_arm(c, ms);
    }
    c->srv->o.handler(&rq->pub, c->srv->o.handler_arg);
    return 0;
}

static int cb_body(void *ud, const char *at, size_t len)
{
    hc_http_conn_t *c = ud;
    hc_http_rq_t *rq = &c->io->rq;
    rq->body_received += (int64_t)len;
    if (rq->res_state == RQ_RES_ENDED) { /* discarding an unread body */
        if ((size_t)rq->body_received > rq->pub.max_body)
            c->keep_alive = 0;
        return c->keep_alive ? 0 : -1;
    }
    if ((size_t)rq->body_received > rq->pub.max_body)
        return reject(c, 413, "request body too large");
    hc_http_rq_body(rq, at, len, 0);
    return 0;
}

static int cb_message_complete(void *ud)
{
    hc_http_conn_t *c = ud;
    hc_http_rq_t *rq = &c->io->rq;
    rq->msg_complete = 1;
    if (c->body_timed) {
        c->body_timed = 0;
        if (!rq->sse_keepalive_ms) /* else the deadline is the event stream's next tick */
            hc_http_conn_disarm(c);
    }
    if (rq->body_state == RQ_BODY_READING)
        hc_http_rq_body(rq, NULL, 0, 1);
    return HC_HTTP_PARSE_PAUSE;
}

const hc_http_parse_cbs_t hc_http_conn_parse_cbs = {
    .on_begin = cb_begin,
    .on_target = cb_target,
    .on_header_field = cb_field,
    .on_header_value = cb_value,
    .on_headers_complete = cb_headers_complete,
    .on_body = cb_body,
    .on_message_complete = cb_message_complete,
};
