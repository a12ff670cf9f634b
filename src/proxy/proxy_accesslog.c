/* The access log (proxy_accesslog.h): Traefik's JSON line format, a process-wide file
 * descriptor that SIGUSR1 replaces in place with dup2 (so workers never see a closed
 * descriptor), and per-worker buffers flushed by size or timer. */
#include "proxy/proxy_accesslog.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <errno.h>
#include <fcntl.h>
#include <ctype.h>
#include <math.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FLUSH_BYTES (32u * 1024)
#define BUF_MAX (256u * 1024)
#define FLUSH_MS 200

static int log_fd = -1;
static char log_path[4096];
static atomic_ullong log_dropped;

/* ---- format ---- */

static void put_str(hc_buf_t *b, const char *key, const char *v)
{
    hc_buf_printf(b, "\"%s\":\"", key);
    hc_buf_json_escape(b, v ? v : "", v ? strlen(v) : 0);
    hc_buf_puts(b, "\",");
}

/* Traefik's RequestCount: a running count of the process's logged requests, each
 * numbered as it is routed (proxy_accesslog_count). */
static atomic_ullong request_count;

unsigned long long proxy_accesslog_count(void)
{
    return atomic_fetch_add(&request_count, 1) + 1;
}

static void put_num(hc_buf_t *b, const char *key, unsigned long long v)
{
    hc_buf_printf(b, "\"%s\":%llu,", key, v);
}

/* A float64 as Go's encoding/json writes it: the fewest digits that read back as v, in
 * fixed notation from 1e-6 to 1e21 (257.7319587628866, 20; not %.17g's 257.73195876288662
 * nor %g's 2e+01). */
static void put_float(hc_buf_t *b, const char *key, double v)
{
    char num[48];
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(num, sizeof(num), "%.*e", prec - 1, v);
        if (strtod(num, NULL) == v)
            break;
    }
    double a = fabs(v);
    if (a == 0 || (a >= 1e-6 && a < 1e21)) {
        int exp10 = atoi(strchr(num, 'e') + 1), decimals = prec - 1 - exp10;
        snprintf(num, sizeof(num), "%.*f", decimals > 0 ? decimals : 0, v);
    }
    hc_buf_printf(b, "\"%s\":%s,", key, num);
}

/* RFC 3339 with nanoseconds, as Go's time.Time marshals: UTC with "Z", local with
 * its offset. */
static void fmt_time(int64_t ns, int utc, int frac, char out[48])
{
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    if (utc)
        gmtime_r(&s, &tm);
    else
        localtime_r(&s, &tm);
    size_t n = strftime(out, 48, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac) { /* Go's RFC3339Nano: trailing zeros dropped, and the dot with them all */
        n += (size_t)snprintf(out + n, 48 - n, ".%09lld", (long long)(ns % 1000000000));
        while (out[n - 1] == '0')
            n--;
        if (out[n - 1] == '.')
            n--;
    }
    long off = utc ? 0 : tm.tm_gmtoff;
    if (!off)
        snprintf(out + n, 48 - n, "Z");
    else
        snprintf(out + n, 48 - n, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 3600,
                 labs(off) % 3600 / 60);
}

/* What Go's escape leaves alone in a path (shouldEscape with encodePath). */
static int path_byte_plain(unsigned char c)
{
    return isalnum(c) || (c && strchr("-._~$&+,/:;=@", c));
}

/* RequestPath as Traefik writes it, url.URL.String of the request's path and query: a
 * path Go's EscapedPath keeps is logged as sent, any other is escaped anew from its
 * decoded form ("/caf%C3%A9" for raw UTF-8, "%22" for a quote); the query as sent. */
static void put_path(hc_buf_t *b, const char *target)
{
    size_t n = strcspn(target, "?"), i = 0;
    while (i < n && hc_url_path_byte_valid((unsigned char)target[i]))
        i++;
    if (i == n) {
        put_str(b, "RequestPath", target);
        return;
    }
    hc_buf_puts(b, "\"RequestPath\":\"");
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)target[k];
        int hi, lo;
        if (c == '%' && k + 2 < n && (hi = hc_hex_digit(target[k + 1])) >= 0 &&
            (lo = hc_hex_digit(target[k + 2])) >= 0) { /* decoded, then escaped anew */
            c = (unsigned char)(hi << 4 | lo);
            k += 2;
        }
        if (path_byte_plain(c))
            hc_buf_append(b, (const char *)&c, 1);
        else
            hc_buf_printf(b, "%%%02X", c);
    }
    hc_buf_json_escape(b, target + n, strlen(target + n));
    hc_buf_puts(b, "\",");
}

/* Splits "host:port" / "[v6]:port" at the last ':' outside brackets. */
static void split_hostport(const char *a, char *host, size_t hl, char *port, size_t pl)
{
    const char *colon = a ? strrchr(a, ':') : NULL;
    if (!a || !colon || (strchr(a, ']') && colon < strchr(a, ']'))) {
        snprintf(host, hl, "%s", a ? a : "");
        snprintf(port, pl, "-");
        return;
    }
    const char *h = a, *he = colon;
    if (*h == '[' && he > h && he[-1] == ']')
        h++, he--;
    snprintf(host, hl, "%.*s", (int)(he - h), h);
    snprintf(port, pl, "%s", colon + 1);
}

int proxy_accesslog_format(const proxy_accesslog_entry_t *e, hc_buf_t *out)
{
    size_t start = out->len;
    char chost[128], cport[16], rhost[300], rport[16], t_utc[48], t_loc[48], now[48];
    split_hostport(e->client_addr, chost, sizeof(chost), cport, sizeof(cport));
    split_hostport(e->host, rhost, sizeof(rhost), rport, sizeof(rport));
    fmt_time(e->start_ns, 1, 1, t_utc);
    fmt_time(e->start_ns, 0, 1, t_loc);
    fmt_time((int64_t)time(NULL) * 1000000000, 0, 0, now); /* logrus: RFC 3339, local */
    uint64_t overhead = e->duration_ns > e->origin_duration_ns
                            ? e->duration_ns - e->origin_duration_ns : 0;
    hc_buf_puts(out, "{");
    put_str(out, "ClientAddr", e->client_addr);
    put_str(out, "ClientHost", e->client_host ? e->client_host : chost);
    put_str(out, "ClientPort", cport);
    put_str(out, "ClientUsername", e->client_user ? e->client_user : "-");
    put_num(out, "DownstreamContentSize", e->downstream_size);
    put_num(out, "DownstreamStatus", (unsigned)e->downstream_status);
    put_num(out, "Duration", e->duration_ns);
    /* Traefik logs the ratio whenever a service's body changed size on the way (compress);
     * answers that never reached a service (404, a middleware's) have none */
    if (e->origin_status && e->downstream_size && e->origin_size != e->downstream_size)
        put_float(out, "GzipRatio", (double)e->origin_size / (double)e->downstream_size);
    put_num(out, "OriginContentSize", e->origin_size);
    put_num(out, "OriginDuration", e->origin_duration_ns);
    put_num(out, "OriginStatus", (unsigned)e->origin_status);
    put_num(out, "Overhead", overhead);
    int host = e->host && *e->host; /* Traefik leaves out the three fields without one */
    if (host)
        put_str(out, "RequestAddr", e->host);
    put_num(out, "RequestContentSize", e->request_size);
    put_num(out, "RequestCount", e->request_count);
    if (host)
        put_str(out, "RequestHost", rhost);
    put_str(out, "RequestMethod", e->method);
    put_path(out, e->target ? e->target : "");
    if (host)
        put_str(out, "RequestPort", rport);
    put_str(out, "RequestProtocol", e->protocol ? e->protocol : "HTTP/1.1");
    put_str(out, "RequestScheme", e->tls ? "https" : "http");
    put_num(out, "RetryAttempts", e->retry_attempts);
    if (e->router)
        put_str(out, "RouterName", e->router);
    if (e->service_addr && *e->service_addr)
        put_str(out, "ServiceAddr", e->service_addr);
    if (e->service)
        put_str(out, "ServiceName", e->service);
    if (e->service_url && *e->service_url)
        put_str(out, "ServiceURL", e->service_url);
    put_str(out, "StartLocal", t_loc);
    put_str(out, "StartUTC", t_utc);
    if (e->tls && e->tls_cipher)
        put_str(out, "TLSCipher", e->tls_cipher);
    if (e->tls && e->tls_subject)
        put_str(out, "TLSClientSubject", e->tls_subject);
    if (e->tls && e->tls_version)
        put_str(out, "TLSVersion", e->tls_version);
    put_str(out, "entryPointName", e->entrypoint);
    hc_buf_puts(out, "\"level\":\"info\",\"msg\":\"\",");
    put_str(out, "time", now);
    out->len--; /* the last ',' */
    if (hc_buf_puts(out, "}\n") != 0) {
        out->len = start;
        return -ENOBUFS;
    }
    return 0;
}

/* ---- the file ---- */

static int open_path(const char *path)
{
    if (!strcmp(path, "-"))
        return dup(STDOUT_FILENO);
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int proxy_accesslog_open(const char *path)
{
    if (snprintf(log_path, sizeof(log_path), "%s", path) >= (int)sizeof(log_path))
        return -ENAMETOOLONG;
    int fd = open_path(path);
    if (fd < 0)
        return -errno;
    log_fd = fd;
    return 0;
}

int proxy_accesslog_reopen(void)
{
    if (log_fd < 0 || !strcmp(log_path, "-"))
        return 0;
    int fd = open_path(log_path);
    if (fd < 0)
        return -errno;
    /* dup2 swaps the file under the same descriptor atomically (POSIX dup2). */
    int rc = dup2(fd, log_fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

void proxy_accesslog_close(void)
{
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
}

int proxy_accesslog_enabled(void)
{
    return log_fd >= 0;
}

/* ---- per-worker writers ---- */

struct proxy_accesslog_writer {
    uv_timer_t timer;
    hc_buf_t buf;
};

static void writer_flush(proxy_accesslog_writer_t *w)
{
    size_t off = 0;
    while (off < w->buf.len && log_fd >= 0) {
        ssize_t n = write(log_fd, w->buf.base + off, w->buf.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    hc_buf_reset(&w->buf);
}

static void on_flush_timer(uv_timer_t *t)
{
    proxy_accesslog_writer_t *w = t->data;
    if (w->buf.len)
        writer_flush(w);
}

proxy_accesslog_writer_t *proxy_accesslog_writer_new(uv_loop_t *loop)
{
    if (log_fd < 0)
        return NULL;
    proxy_accesslog_writer_t *w = hc_calloc(1, sizeof(*w));
    hc_buf_init(&w->buf, BUF_MAX);
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_flush_timer, FLUSH_MS, FLUSH_MS);
    uv_unref((uv_handle_t *)&w->timer);
    return w;
}

void proxy_accesslog_write(proxy_accesslog_writer_t *w, const proxy_accesslog_entry_t *e)
{
    if (!w)
        return;
    if (proxy_accesslog_format(e, &w->buf) != 0) {
        if (atomic_fetch_add(&log_dropped, 1) == 0)
            hc_log(HC_LOG_WARN, "access log buffer full: dropping lines", NULL);
        return;
    }
    if (w->buf.len >= FLUSH_BYTES)
        writer_flush(w);
}

static void writer_closed(uv_handle_t *h)
{
    proxy_accesslog_writer_t *w = h->data;
    hc_buf_free(&w->buf);
    hc_free(w);
}

void proxy_accesslog_writer_free(proxy_accesslog_writer_t *w)
{
    if (!w)
        return;
    writer_flush(w);
    uv_close((uv_handle_t *)&w->timer, writer_closed);
}

/* Go's pkix attributeTypeNames, in the order Name.ToRDNSequence emits them. */
static const struct {
    int nid;
    const char *name;
} go_attrs[] = {{NID_countryName, "C"},
                {NID_stateOrProvinceName, "ST"},
                {NID_localityName, "L"},
                {NID_streetAddress, "STREET"},
                {NID_postalCode, "POSTALCODE"},
                {NID_organizationName, "O"},
                {NID_organizationalUnitName, "OU"},
                {NID_commonName, "CN"},
                {NID_serialNumber, "SERIALNUMBER"}};
enum { GO_ATTRS = sizeof(go_attrs) / sizeof(go_attrs[0]) };

static int go_attr(int nid)
{
    for (int i = 0; i < GO_ATTRS; i++)
        if (go_attrs[i].nid == nid)
            return i;
    return -1;
}

/* One attribute as RDNSequence.String() writes it, after sep (",", "+" in a
 * multi-valued RDN, or nothing first): a known type's value escaped, any other as its
 * OID and the hex DER of the value marshalled again as a Go string (PrintableString
 * when it can be, else UTF8String). */
static void subject_attr(hc_buf_t *out, const X509_NAME_ENTRY *e, int known, const char *sep)
{
    unsigned char *v = NULL;
    int n = ASN1_STRING_to_UTF8(&v, X509_NAME_ENTRY_get_data(e));
    if (n < 0)
        return;
    if (out->len)
        hc_buf_puts(out, sep);
    if (known < 0) {
        char oid[128], hex[12];
        OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(e), 1);
        int printable = 1;
        for (int i = 0; i < n; i++)
            printable &= isalnum(v[i]) || (v[i] && strchr(" '()+,-./:=?", v[i]));
        hc_buf_puts(out, oid);
        snprintf(hex, sizeof(hex), "=#%02x", printable ? 0x13 : 0x0c);
        hc_buf_puts(out, hex);
        if (n >= 128) { /* DER's long form */
            unsigned char len[4];
            int k = 0;
            for (int x = n; x; x >>= 8)
                len[k++] = (unsigned char)x;
            snprintf(hex, sizeof(hex), "%02x", 0x80 | k);
            hc_buf_puts(out, hex);
            while (k--) {
                snprintf(hex, sizeof(hex), "%02x", len[k]);
                hc_buf_puts(out, hex);
            }
        } else {
            snprintf(hex, sizeof(hex), "%02x", n);
            hc_buf_puts(out, hex);
        }
        for (int i = 0; i < n; i++) {
            snprintf(hex, sizeof(hex), "%02x", v[i]);
            hc_buf_puts(out, hex);
        }
    } else {
        hc_buf_puts(out, go_attrs[known].name);
        hc_buf_append(out, "=", 1);
        for (int i = 0; i < n; i++) {
            int c = v[i];
            if ((c && strchr(",+\"\\<>;", c)) || (c == ' ' && (i == 0 || i == n - 1)) ||
                (c == '#' && i == 0))
                hc_buf_append(out, "\\", 1);
            hc_buf_append(out, (const char *)&v[i], 1);
        }
    }
    OPENSSL_free(v);
}

char *proxy_accesslog_subject(X509 *cert)
{
    const X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
    if (!name)
        return NULL;
    /* Go's Name.String() over its parsed fields: the unnamed attributes first, then one
     * RDN per named field holding all its values in order (CommonName and SerialNumber
     * keep the last), the whole written last RDN first */
    hc_buf_t out;
    hc_buf_init(&out, 0);
    int n = X509_NAME_entry_count(name);
    for (int f = GO_ATTRS - 1; f >= 0; f--) {
        int last_only = go_attrs[f].nid == NID_commonName || go_attrs[f].nid == NID_serialNumber;
        const char *sep = ",";
        for (int i = last_only ? n - 1 : 0; last_only ? i >= 0 : i < n; i += last_only ? -1 : 1) {
            const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
            if (go_attr(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e))) != f)
                continue;
            subject_attr(&out, e, f, sep);
            sep = "+";
            if (last_only)
                break;
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        if (go_attr(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e))) < 0)
            subject_attr(&out, e, -1, ",");
    }
    char *s = hc_memdup(out.base ? out.base : "", out.len);
    hc_buf_free(&out);
    return s;
}
