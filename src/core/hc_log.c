/* JSON-lines / human log writer (see hc_log.h). Each line is assembled on the stack
 * and written with one write(2), so lines from worker threads never interleave. */
#include "core/hc_log.h"
#include "core/hc_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { LOG_LINE_MAX = 16384, LOG_TAIL = 32 };

static atomic_int log_min = HC_LOG_INFO;
static atomic_int log_json = 1;
static atomic_int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static int level_parse(const char *s, int fallback)
{
    for (int i = 0; s && i < 4; i++)
        if (!strcasecmp(s, level_names[i]))
            return i;
    return fallback;
}

void hc_log_setup(hc_log_level_t min, hc_log_format_t format)
{
    atomic_store(&log_min, level_parse(getenv("HEARTH_LOG_LEVEL"), (int)min));
    const char *f = getenv("HEARTH_LOG_FORMAT");
    if (f && !strcasecmp(f, "json"))
        format = HC_LOG_FORMAT_JSON;
    else if (f && !strcasecmp(f, "human"))
        format = HC_LOG_FORMAT_HUMAN;
    if (format == HC_LOG_FORMAT_AUTO)
        format = isatty(atomic_load(&log_fd)) ? HC_LOG_FORMAT_HUMAN : HC_LOG_FORMAT_JSON;
    atomic_store(&log_json, format == HC_LOG_FORMAT_JSON);
}

int hc_log_enabled(hc_log_level_t lvl)
{
    return (int)lvl >= atomic_load(&log_min);
}

void hc_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd < 0 ? 2 : fd);
}

/* Appends one field value, JSON-quoted when json is set; escaped in both formats so a
 * value cannot forge a line. Returns 0 or -ENOBUFS (the value is then partial). */
static int put_value(hc_buf_t *b, int json, int type, va_list *ap)
{
    switch (type) {
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (!s)
            return hc_buf_puts(b, json ? "null" : "-");
        return (json && hc_buf_puts(b, "\"")) || hc_buf_json_escape(b, s, strlen(s)) ||
                       (json && hc_buf_puts(b, "\""))
                   ? -ENOBUFS
                   : 0;
    }
    case 'i':
        return hc_buf_printf(b, "%lld", va_arg(*ap, long long));
    case 'd':
        return hc_buf_printf(b, "%.6g", va_arg(*ap, double));
    case 'b':
        return hc_buf_puts(b, va_arg(*ap, int) ? "true" : "false");
    default:
        return hc_buf_puts(b, "null");
    }
}

/* Appends one "key":value (or key=value) field whole, or nothing. Returns 0 or -ENOBUFS. */
static int put_field(hc_buf_t *b, int json, const char *key, int type, va_list *ap)
{
    size_t mark = b->len;
    int rc = json ? hc_buf_puts(b, ",\"") || hc_buf_json_escape(b, key, strlen(key)) ||
                        hc_buf_puts(b, "\":")
                  : hc_buf_printf(b, " %s=", key);
    rc = put_value(b, json, type, ap) || rc; /* always consumes the value */
    if (rc) {
        b->len = mark;
        b->base[mark] = '\0';
    }
    return rc ? -ENOBUFS : 0;
}

void hc_log(hc_log_level_t lvl, const char *msg, ...)
{
    if (!hc_log_enabled(lvl))
        return;
    int json = atomic_load(&log_json);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(tv.tv_usec / 1000) % 1000);

    /* Fields that do not fit are left out whole (the line says so), so a long value never
     * leaves a JSON line cut in the middle; LOG_TAIL bytes stay free for the ending. */
    hc_buf_t b;
    hc_buf_init(&b, LOG_LINE_MAX - LOG_TAIL);
    const char *level = level_names[(unsigned)lvl < 4 ? lvl : HC_LOG_ERROR];
    if (json) {
        hc_buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level);
        if (hc_buf_json_escape(&b, msg, strlen(msg)))
            hc_buf_puts(&b, "(message too long)");
        hc_buf_puts(&b, "\"");
    } else {
        hc_buf_printf(&b, "%s %-5s ", ts + 11, level);
        if (hc_buf_puts(&b, msg))
            hc_buf_puts(&b, "(message too long)");
    }

    int dropped = 0;
    va_list ap;
    va_start(ap, msg);
    for (const char *key; (key = va_arg(ap, const char *));) {
        int type = va_arg(ap, int);
        dropped |= put_field(&b, json, key, type, &ap) != 0;
    }
    va_end(ap);
    b.max = LOG_LINE_MAX;
    if (dropped)
        hc_buf_puts(&b, json ? ",\"truncated\":true" : " truncated=true");
    hc_buf_puts(&b, json ? "}\n" : "\n");

    int fd = atomic_load(&log_fd);
    for (size_t off = 0; off < b.len;) {
        ssize_t n = write(fd, b.base + off, b.len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    hc_buf_free(&b);
}
