/* A loaded call (capture_api_load_call) as a file: pcap through capture_pcap (each
 * message with the transport it travelled on), plain text (time, src -> dst, transport,
 * the message), or an SVG ladder diagram (one lifeline per host:port, one arrow per
 * message labelled with its method or status line and time). */
#include "capture/capture_int.h"
#include "capture/capture_pcap.h"

#include "core/hc_buf.h"
#include "core/hc_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define EXPORT_MAX (64u << 20)
#define SVG_HOSTS_MAX 16 /* lifelines; more hosts share the last one */
#define SVG_COL 220      /* px between lifelines */
#define SVG_ROW 34       /* px between arrows */
#define SVG_LEFT 130     /* the time column */
#define SVG_TOP 70

static int refuse(hc_http_req_t *req, int status, const capture_call_view_t *v)
{
    if (v)
        return 0;
    hc_http_respond_error(req, status, status == 404 ? "no such call" : "database unavailable");
    return 1;
}

/* A file name from the Call-ID: letters, digits and ".-_@" kept, the rest '_'. */
static void file_header(hc_http_req_t *req, const char *callid, const char *ext)
{
    char name[160], disp[200];
    size_t k = 0;
    for (const char *c = callid; *c && k < sizeof(name) - 1; c++)
        name[k++] = (strchr(".-_@", *c) || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
                     (*c >= 'A' && *c <= 'Z'))
                        ? *c
                        : '_';
    name[k] = '\0';
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s.%s\"", name, ext);
    hc_http_res_header(req, "Content-Disposition", disp);
}

static void send_buf(hc_http_req_t *req, const char *type, hc_buf_t *b)
{
    hc_http_respond(req, 200, type, b->base ? b->base : "", b->len);
    hc_buf_free(b);
}

void capture_export_pcap(hc_http_req_t *req, capture_svc_t *svc, int status,
                         const capture_call_view_t *v)
{
    (void)svc;
    if (refuse(req, status, v))
        return;
    hc_buf_t b;
    hc_buf_init(&b, EXPORT_MAX);
    capture_pcap_t w;
    if (capture_pcap_begin(&w, &b) != 0) {
        hc_buf_free(&b);
        hc_http_respond_error(req, 500, "pcap too large");
        return;
    }
    for (size_t i = 0; i < v->nmsgs; i++) {
        const capture_msg_t *m = &v->msgs[i];
        capture_pcap_msg_t pm = {.time_us = m->time_us,
                                 .src_ip = m->src_ip,
                                 .dst_ip = m->dst_ip,
                                 .src_port = (uint16_t)m->src_port,
                                 .dst_port = (uint16_t)m->dst_port,
                                 .ip_proto = m->ip_proto,
                                 .payload = (const uint8_t *)m->raw,
                                 .len = m->raw_len};
        int rc = capture_pcap_add(&w, &pm);
        if (rc == -ENOBUFS) {
            hc_buf_free(&b);
            hc_http_respond_error(req, 500, "pcap too large");
            return;
        }
        if (rc)
            hc_log(HC_LOG_WARN, "capture: message left out of the pcap", HC_LS("callid", m->callid),
                   HC_LI("error", rc), NULL);
    }
    file_header(req, v->call.callid, "pcap");
    send_buf(req, "application/vnd.tcpdump.pcap", &b);
}

static void time_text(int64_t us, char out[40])
{
    struct tm tm;
    time_t t = (time_t)(us / 1000000);
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06lld", (long long)(us % 1000000));
}

static void endpoint(const capture_msg_t *m, int dst, char *out, size_t n)
{
    snprintf(out, n, m->family == 6 ? "[%s]:%d" : "%s:%d", dst ? m->dst_ip : m->src_ip,
             dst ? m->dst_port : m->src_port);
}

void capture_export_txt(hc_http_req_t *req, capture_svc_t *svc, int status,
                        const capture_call_view_t *v)
{
    (void)svc;
    if (refuse(req, status, v))
        return;
    hc_buf_t b;
    hc_buf_init(&b, EXPORT_MAX);
    int rc = 0;
    for (size_t i = 0; i < v->nmsgs && !rc; i++) {
        const capture_msg_t *m = &v->msgs[i];
        char t[40], src[64], dst[64];
        time_text(m->time_us, t);
        endpoint(m, 0, src, sizeof(src));
        endpoint(m, 1, dst, sizeof(dst));
        rc = hc_buf_printf(&b, "%s UTC %s -> %s %s\n", t, src, dst,
                           capture_transport_name(m->ip_proto)) ||
             hc_buf_append(&b, m->raw, m->raw_len) ||
             hc_buf_puts(&b, m->raw_len && m->raw[m->raw_len - 1] == '\n' ? "\n" : "\n\n");
    }
    if (rc) {
        hc_buf_free(&b);
        hc_http_respond_error(req, 500, "text export too large");
        return;
    }
    file_header(req, v->call.callid, "txt");
    send_buf(req, "text/plain; charset=utf-8", &b);
}

/* ---- the ladder ---- */

static void xml_escape(hc_buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *e = s[i] == '<'   ? "&lt;"
                        : s[i] == '>' ? "&gt;"
                        : s[i] == '&' ? "&amp;"
                        : s[i] == '"' ? "&quot;"
                                      : NULL;
        if (e)
            hc_buf_puts(b, e);
        else if ((unsigned char)s[i] >= 0x20)
            hc_buf_append(b, s + i, 1);
    }
}

/* The lifeline index of an endpoint, adding it when new. */
static int host_index(char hosts[][64], int *n, const char *h)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(hosts[i], h))
            return i;
    if (*n == SVG_HOSTS_MAX)
        return SVG_HOSTS_MAX - 1;
    snprintf(hosts[*n], 64, "%s", h);
    return (*n)++;
}

/* The arrow's label: a response's status line without "SIP/2.0 ", a request's method
 * (both from the stored first line, at most 40 bytes). */
static size_t label_of(const capture_msg_t *m, const char **out)
{
    const char *p = m->raw, *end = memchr(p, '\n', m->raw_len);
    size_t n = end ? (size_t)(end - p) : m->raw_len;
    if (n && p[n - 1] == '\r')
        n--;
    if (m->status && n > 8 && !strncmp(p, "SIP/2.0 ", 8)) {
        p += 8;
        n -= 8;
    } else if (!m->status) {
        const char *sp = memchr(p, ' ', n);
        n = sp ? (size_t)(sp - p) : n;
    }
    *out = p;
    return n > 40 ? 40 : n;
}

void capture_export_svg(hc_http_req_t *req, capture_svc_t *svc, int status,
                        const capture_call_view_t *v)
{
    (void)svc;
    if (refuse(req, status, v))
        return;
    char hosts[SVG_HOSTS_MAX][64];
    int nh = 0;
    for (size_t i = 0; i < v->nmsgs; i++) {
        char e[64];
        endpoint(&v->msgs[i], 0, e, sizeof(e));
        host_index(hosts, &nh, e);
        endpoint(&v->msgs[i], 1, e, sizeof(e));
        host_index(hosts, &nh, e);
    }
    int width = SVG_LEFT + (nh ? nh : 1) * SVG_COL, height = SVG_TOP + (int)v->nmsgs * SVG_ROW + 40;
    hc_buf_t b;
    hc_buf_init(&b, EXPORT_MAX);
    hc_buf_printf(
        &b,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        "viewBox=\"0 0 %d %d\" font-family=\"monospace\" font-size=\"12\">\n"
        "<defs><marker id=\"a\" markerWidth=\"10\" markerHeight=\"8\" refX=\"10\" refY=\"4\" "
        "orient=\"auto\"><path d=\"M0,0 L10,4 L0,8 z\" fill=\"#1f4e79\"/></marker></defs>\n"
        "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n<title>",
        width, height, width, height);
    xml_escape(&b, v->call.callid, strlen(v->call.callid));
    hc_buf_puts(&b, "</title>\n");
    for (int i = 0; i < nh; i++) {
        int x = SVG_LEFT + i * SVG_COL + SVG_COL / 2;
        hc_buf_printf(
            &b,
            "<g class=\"host\"><rect x=\"%d\" y=\"10\" width=\"%d\" height=\"26\" rx=\"4\" "
            "fill=\"#e8eef5\" stroke=\"#1f4e79\"/><text x=\"%d\" y=\"27\" text-anchor=\"middle\">",
            x - SVG_COL / 2 + 10, SVG_COL - 20, x);
        xml_escape(&b, hosts[i], strlen(hosts[i]));
        hc_buf_printf(&b,
                      "</text><line x1=\"%d\" y1=\"36\" x2=\"%d\" y2=\"%d\" stroke=\"#9aa7b4\" "
                      "stroke-dasharray=\"4 3\"/></g>\n",
                      x, x, height - 10);
    }
    int64_t t0 = v->nmsgs ? v->msgs[0].time_us : 0;
    for (size_t i = 0; i < v->nmsgs; i++) {
        const capture_msg_t *m = &v->msgs[i];
        char s[64], d[64], t[40];
        endpoint(m, 0, s, sizeof(s));
        endpoint(m, 1, d, sizeof(d));
        int xs = SVG_LEFT + host_index(hosts, &nh, s) * SVG_COL + SVG_COL / 2;
        int xd = SVG_LEFT + host_index(hosts, &nh, d) * SVG_COL + SVG_COL / 2;
        int y = SVG_TOP + (int)i * SVG_ROW;
        time_text(m->time_us, t);
        const char *color = m->status >= 400 ? "#b00020" : m->status >= 200 ? "#1b7f3b" : "#1f4e79";
        hc_buf_printf(&b,
                      "<g class=\"msg\"><text x=\"6\" y=\"%d\" fill=\"#555\">%.12s</text>"
                      "<text x=\"6\" y=\"%d\" fill=\"#888\" font-size=\"10\">+%.3fs</text>",
                      y + 4, t + 11, y + 16, (double)(m->time_us - t0) / 1e6);
        if (xs == xd)
            hc_buf_printf(&b,
                          "<path d=\"M%d,%d h30 v14 h-30\" fill=\"none\" stroke=\"%s\" "
                          "marker-end=\"url(#a)\"/>",
                          xs, y, color);
        else
            hc_buf_printf(
                &b,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"1.5\" "
                "marker-end=\"url(#a)\"/>",
                xs, y + 6, xd, y + 6, color);
        const char *lab;
        size_t ln = label_of(m, &lab);
        hc_buf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">",
                      xs == xd ? xs + 40 : (xs + xd) / 2, y, color);
        xml_escape(&b, lab, ln);
        hc_buf_printf(&b, " (%s)</text></g>\n", capture_transport_name(m->ip_proto));
    }
    if (hc_buf_puts(&b, "</svg>\n")) {
        hc_buf_free(&b);
        hc_http_respond_error(req, 500, "diagram too large");
        return;
    }
    send_buf(req, "image/svg+xml", &b);
}
