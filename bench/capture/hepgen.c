/* hepgen: the capture benchmark's load generator. Calls of six SIP messages (INVITE,
 * 180, 200, ACK, BYE, 200), each call with its own Call-ID, either sent as HEP3 over UDP
 * at a target rate (what a heplify agent or kamailio siptrace sends), or turned into
 * heplify-server rows (capture_record) and inserted straight into the existing
 * hep_proto_1_call table in batches, without any server: the storage ceiling.
 *
 *   hepgen send HOST:PORT MESSAGES RATE [ID]   RATE messages/s, 0 = as fast as possible
 *   hepgen insert DATABASE_URL MESSAGES [BATCH [ID]]   sqlite:PATH or postgresql://...
 *
 * Prints one line "sent=N seconds=S rate=R" (or "inserted=..."). ID (default: the pid)
 * makes the Call-IDs of separate runs distinct. */
#include "capture/capture_hep.h"
#include "capture/capture_record.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_MAX 2048
#define SEND_BURST 64

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Message k of the run: call k / 6, step k % 6. Fills h (addresses, ports, time) and
 * writes the SIP text into buf; returns its length. */
static size_t message(uint64_t k, const char *id, char *buf, capture_hep_t *h)
{
    static const char *const first[] = {"INVITE sip:%s@10.1.0.2:5060 SIP/2.0",
                                        "SIP/2.0 180 Ringing",
                                        "SIP/2.0 200 OK",
                                        "ACK sip:%s@10.1.0.2:5060 SIP/2.0",
                                        "BYE sip:%s@10.1.0.2:5060 SIP/2.0",
                                        "SIP/2.0 200 OK"};
    static const char *const cseq[] = {"1 INVITE", "1 INVITE", "1 INVITE",
                                       "1 ACK",    "2 BYE",    "2 BYE"};
    uint64_t call = k / 6;
    unsigned step = (unsigned)(k % 6);
    char caller[16], callee[16], line[96], sdp[256] = "";
    snprintf(caller, sizeof(caller), "1%09" PRIu64, call % 1000000000);
    snprintf(callee, sizeof(callee), "2%09" PRIu64, call % 1000000000);
    snprintf(line, sizeof(line), first[step], callee);
    int response = step == 1 || step == 2 || step == 5;
    if (step == 0 || step == 2)
        snprintf(sdp, sizeof(sdp),
                 "v=0\r\no=- %" PRIu64 " 1 IN IP4 10.1.0.%d\r\ns=-\r\nc=IN IP4 10.1.0.%d\r\n"
                 "t=0 0\r\nm=audio %u RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
                 "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
                 call, step ? 2 : 1, step ? 2 : 1, 10000 + (unsigned)(call % 20000) * 2);
    int n =
        snprintf(buf, MSG_MAX,
                 "%s\r\n"
                 "Via: SIP/2.0/UDP 10.1.0.1:5060;branch=z9hG4bK-%s-%" PRIu64 "-%u\r\n"
                 "Max-Forwards: 70\r\n"
                 "From: \"Caller %s\" <sip:%s@10.1.0.1:5060>;tag=%" PRIu64 "a\r\n"
                 "To: <sip:%s@10.1.0.2:5060>%s%s\r\n"
                 "Call-ID: %s-%" PRIu64 "@hepgen\r\n"
                 "CSeq: %s\r\n"
                 "Contact: <sip:%s@10.1.0.%d:5060>\r\n"
                 "%s: hepgen/1.0\r\n"
                 "%s"
                 "Content-Length: %zu\r\n\r\n%s",
                 line, id, call, step >= 4 ? 2u : 1u, caller, caller, call, callee,
                 step ? ";tag=" : "", step ? "b" : "", id, call, cseq[step],
                 response ? callee : caller, response ? 2 : 1, response ? "Server" : "User-Agent",
                 sdp[0] ? "Content-Type: application/sdp\r\n" : "", strlen(sdp), sdp);
    memset(h, 0, sizeof(*h));
    h->version = 3;
    h->family = AF_INET;
    h->ip_proto = 17;
    strcpy(h->src_ip, response ? "10.1.0.2" : "10.1.0.1");
    strcpy(h->dst_ip, response ? "10.1.0.1" : "10.1.0.2");
    h->src_port = h->dst_port = 5060;
    int64_t t = now_us();
    h->ts_sec = (uint32_t)(t / 1000000);
    h->ts_usec = (uint32_t)(t % 1000000);
    h->proto_type = CAPTURE_PROTO_SIP;
    h->capture_id = 2002;
    h->payload = (const uint8_t *)buf;
    h->payload_len = (size_t)n;
    return (size_t)n;
}

static int send_mode(const char *target, uint64_t total, double rate, const char *id)
{
    char host[64];
    const char *colon = strrchr(target, ':');
    if (!colon || (size_t)(colon - target) >= sizeof(host))
        return fprintf(stderr, "hepgen: target must be HOST:PORT\n"), 2;
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return fprintf(stderr, "hepgen: bad address %s\n", host), 2;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return perror("hepgen: socket"), 1;
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

    static uint8_t pkts[SEND_BURST][MSG_MAX + 512];
    static char text[MSG_MAX];
    struct mmsghdr mm[SEND_BURST];
    struct iovec iov[SEND_BURST];
    uint64_t sent = 0, failed = 0;
    double start = mono_s();
    while (sent < total) {
        uint64_t due = total;
        if (rate > 0) {
            due = (uint64_t)((mono_s() - start) * rate) + 1;
            if (due > total)
                due = total;
            if (due <= sent) {
                struct timespec nap = {0, 200000};
                nanosleep(&nap, NULL);
                continue;
            }
        }
        unsigned n = (unsigned)(due - sent < SEND_BURST ? due - sent : SEND_BURST);
        for (unsigned i = 0; i < n; i++) {
            capture_hep_t h;
            message(sent + i, id, text, &h);
            long len = capture_hep_encode(&h, pkts[i], sizeof(pkts[i]));
            if (len < 0)
                return fprintf(stderr, "hepgen: encode failed\n"), 1;
            iov[i] = (struct iovec){pkts[i], (size_t)len};
            mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
        }
        unsigned done = 0;
        while (done < n) {
            int r = sendmmsg(fd, mm + done, n - done, 0);
            if (r < 0) {
                if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
                    continue;
                if (errno == ECONNREFUSED) { /* nothing listened for one datagram */
                    failed++;
                    done++;
                    continue;
                }
                return perror("hepgen: sendmmsg"), 1;
            }
            done += (unsigned)r;
        }
        sent += n;
    }
    double secs = mono_s() - start;
    close(fd);
    printf("sent=%" PRIu64 " refused=%" PRIu64 " seconds=%.3f rate=%.0f\n", sent, failed, secs,
           secs > 0 ? (double)sent / secs : 0);
    return 0;
}

/* PostgreSQL COPY text format: backslash, tab, newline and CR escaped. */
static void copy_field(hc_buf_t *b, const char *s, size_t n, char sep)
{
    for (size_t i = 0; i < n; i++) {
        const char *esc = s[i] == '\\'   ? "\\\\"
                          : s[i] == '\t' ? "\\t"
                          : s[i] == '\n' ? "\\n"
                          : s[i] == '\r' ? "\\r"
                                         : NULL;
        if (esc)
            hc_buf_puts(b, esc);
        else
            hc_buf_append(b, s + i, 1);
    }
    hc_buf_append(b, &sep, 1);
}

static int pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "hepgen: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

static int insert_pg(const char *url, uint64_t total, unsigned batch, const char *id)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        return fprintf(stderr, "hepgen: %s", PQerrorMessage(c)), PQfinish(c), 1;
    static char text[MSG_MAX];
    capture_record_t r;
    capture_record_init(&r);
    hc_buf_t b;
    hc_buf_init(&b, 0);
    double start = mono_s();
    int rc = 0;
    for (uint64_t k = 0; k < total && !rc;) {
        if (pg_exec(c, "BEGIN") < 0)
            return 1;
        PGresult *res = PQexec(c, "COPY hep_proto_1_call(sid,create_date,protocol_header,"
                                  "data_header,raw) FROM STDIN");
        if (PQresultStatus(res) != PGRES_COPY_IN)
            return fprintf(stderr, "hepgen: COPY: %s", PQerrorMessage(c)), 1;
        PQclear(res);
        hc_buf_reset(&b);
        for (unsigned i = 0; i < batch && k < total; i++, k++) {
            capture_hep_t h;
            message(k, id, text, &h);
            if (capture_record_build(&r, &h, NULL, 0) < 0)
                return fprintf(stderr, "hepgen: record refused\n"), 1;
            time_t sec = (time_t)r.ts_sec;
            struct tm tm;
            gmtime_r(&sec, &tm);
            char ts[64];
            size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
            snprintf(ts + tl, sizeof(ts) - tl, ".%06" PRIu32 "+00", r.ts_usec);
            copy_field(&b, r.sid, r.sid_len, '\t');
            copy_field(&b, ts, strlen(ts), '\t');
            copy_field(&b, r.protocol_header, r.protocol_header_len, '\t');
            copy_field(&b, r.data_header, r.data_header_len, '\t');
            copy_field(&b, r.raw, r.raw_len, '\n');
        }
        if (PQputCopyData(c, b.base, (int)b.len) != 1 || PQputCopyEnd(c, NULL) != 1)
            return fprintf(stderr, "hepgen: %s", PQerrorMessage(c)), 1;
        res = PQgetResult(c);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fprintf(stderr, "hepgen: COPY: %s", PQerrorMessage(c));
            rc = 1;
        }
        PQclear(res);
        if (pg_exec(c, "COMMIT") < 0)
            rc = 1;
    }
    double secs = mono_s() - start;
    capture_record_free(&r);
    hc_buf_free(&b);
    PQfinish(c);
    if (!rc)
        printf("inserted=%" PRIu64 " seconds=%.3f rate=%.0f\n", total, secs, total / secs);
    return rc;
}

static int insert_sqlite(const char *path, uint64_t total, unsigned batch, const char *id)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL) ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO hep_proto_1_call(sid,create_date,protocol_header,"
                           "data_header,raw) VALUES (?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "hepgen: %s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    static char text[MSG_MAX];
    capture_record_t r;
    capture_record_init(&r);
    double start = mono_s();
    int rc = 0;
    for (uint64_t k = 0; k < total && !rc;) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (unsigned i = 0; i < batch && k < total && !rc; i++, k++) {
            capture_hep_t h;
            message(k, id, text, &h);
            if (capture_record_build(&r, &h, NULL, 0) < 0) {
                rc = 1;
                break;
            }
            sqlite3_bind_text(st, 1, r.sid, (int)r.sid_len, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, r.create_date_us);
            sqlite3_bind_text(st, 3, r.protocol_header, (int)r.protocol_header_len, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, r.data_header, (int)r.data_header_len, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, r.raw, (int)r.raw_len, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE) {
                fprintf(stderr, "hepgen: insert: %s\n", sqlite3_errmsg(db));
                rc = 1;
            }
            sqlite3_reset(st);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            fprintf(stderr, "hepgen: commit: %s\n", sqlite3_errmsg(db));
            rc = 1;
        }
    }
    double secs = mono_s() - start;
    capture_record_free(&r);
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (!rc)
        printf("inserted=%" PRIu64 " seconds=%.3f rate=%.0f\n", total, secs, total / secs);
    return rc;
}

int main(int argc, char **argv)
{
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    if (argc >= 5 && !strcmp(argv[1], "send"))
        return send_mode(argv[2], strtoull(argv[3], NULL, 10), atof(argv[4]),
                         argc > 5 ? argv[5] : pid);
    if (argc >= 4 && !strcmp(argv[1], "insert")) {
        uint64_t total = strtoull(argv[3], NULL, 10);
        unsigned batch = argc > 4 ? (unsigned)atoi(argv[4]) : 2000;
        const char *id = argc > 5 ? argv[5] : pid;
        if (!batch)
            batch = 1;
        if (!strncmp(argv[2], "sqlite:", 7))
            return insert_sqlite(argv[2] + 7, total, batch, id);
        return insert_pg(argv[2], total, batch, id);
    }
    fprintf(stderr, "usage: hepgen send HOST:PORT MESSAGES RATE [ID]\n"
                    "       hepgen insert DATABASE_URL MESSAGES [BATCH [ID]]\n");
    return 2;
}
