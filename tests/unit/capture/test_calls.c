/* Unit tests for capture_calls: the per-Call-ID summary kept on write. SIP messages go
 * through the real parser; the store is replaced by stubs that keep the upserts, so each
 * test reads the parameters a flush would write: status rules (newer transaction, final
 * over provisional, an answered call stays answered), setup and call times, message
 * deltas between flushes, first values kept, correlation, text cleaned to UTF-8, the
 * live announcement once per new call, and eviction writing a dirty call first. */
#include "capture/capture_int.h"

#include "core/hc_alloc.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define NP 16 /* parameters per upsert */

/* ---- stubs of the store and the live feed ---- */

typedef struct row {
    char text[NP][256];
    int64_t num[NP];
    int null[NP];
    int keys; /* the upsert sets the indexed columns */
} row_t;

static row_t rows[64];
static size_t nrows, nlive, nexec;
static int group_refused; /* hc_store_exec_group answers -EAGAIN (queue full) */

static void keep(const char *sql, const hc_store_value_t *p)
{
    row_t *r = &rows[nrows++ % 64];
    memset(r, 0, sizeof(*r));
    r->keys = strstr(sql, "caller = CASE") != NULL;
    assert_int_equal(r->keys, strstr(sql, "start_us = ") != NULL);
    for (int i = 0; i < NP; i++) {
        r->null[i] = p[i].type == HC_STORE_NULL;
        if (p[i].type == HC_STORE_INT)
            r->num[i] = p[i].v.i;
        else if (p[i].type == HC_STORE_TEXT)
            snprintf(r->text[i], sizeof(r->text[i]), "%.*s", (int)p[i].v.s.len, p[i].v.s.p);
    }
}

int hc_store_exec_group(hc_store_t *st, const hc_store_stmt_t *stmts, size_t n, hc_store_done_cb cb,
                        void *arg)
{
    (void)st, (void)cb, (void)arg;
    if (group_refused)
        return -EAGAIN;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(stmts[i].nparams, NP);
        assert_non_null(strstr(stmts[i].sql, "ON CONFLICT (callid) DO UPDATE"));
        keep(stmts[i].sql, stmts[i].params);
    }
    return 0;
}

int hc_store_exec(hc_store_t *st, const char *sql, const hc_store_value_t *params, size_t n,
                  hc_store_done_cb cb, void *arg)
{
    (void)st, (void)cb, (void)arg;
    assert_int_equal(n, NP);
    nexec++;
    keep(sql, params);
    return 0;
}

void capture_live_call(capture_svc_t *svc, const capture_call_summary_t *c)
{
    (void)svc, (void)c;
    nlive++;
}

/* ---- messages ---- */

enum {
    CALLID,
    START,
    END,
    METHOD,
    CALLER,
    CALLEE,
    STATUS,
    MESSAGES,
    SRC,
    DST,
    UA,
    CORR,
    INVITE_US,
    PROGRESS_US,
    ANSWER_US,
    BYE_US
};

static capture_svc_t svc;

static char *req(const char *method, int cseq, const char *callid, const char *extra)
{
    static char buf[2048];
    snprintf(buf, sizeof(buf),
             "%s sip:bob@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK%d\r\n"
             "From: \"Alice\" <sip:alice@example.test>;tag=a1\r\nTo: <sip:bob@example.test>\r\n"
             "Call-ID: %s\r\nCSeq: %d %s\r\nUser-Agent: phone/1.0\r\n%sContent-Length: 0\r\n\r\n",
             method, cseq, callid, cseq, method, extra ? extra : "");
    return buf;
}

static char *resp(int code, const char *method, int cseq, const char *callid)
{
    static char buf[2048];
    snprintf(
        buf, sizeof(buf),
        "SIP/2.0 %d Whatever\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK%d\r\n"
        "From: \"Alice\" <sip:alice@example.test>;tag=a1\r\nTo: <sip:bob@example.test>;tag=b1\r\n"
        "Call-ID: %s\r\nCSeq: %d %s\r\nServer: pbx/2.0\r\nContent-Length: 0\r\n\r\n",
        code, cseq, callid, cseq, method);
    return buf;
}

static void feed(const char *msg, int64_t ts, const char *hep_corr)
{
    capture_sip_t s;
    assert_int_equal(capture_sip_parse(msg, strlen(msg), &s), 0);
    capture_hep_t h = {.version = 3, .ip_proto = 17, .src_ip = "10.0.0.1", .dst_ip = "10.0.0.2"};
    if (hep_corr) {
        h.correlation_id = hep_corr;
        h.correlation_id_len = strlen(hep_corr);
    }
    capture_calls_update(&svc, &h, &s, ts);
}

/* Flushes and returns the upsert of callid (the last one written for it). */
static row_t *flushed(const char *callid)
{
    int n = capture_calls_flush(&svc, NULL, NULL);
    assert_true(n >= 1);
    for (size_t i = nrows; i-- > 0;)
        if (!strcmp(rows[i % 64].text[CALLID], callid))
            return &rows[i % 64];
    fail_msg("no upsert for %s", callid);
    return NULL;
}

/* Each test starts and frees its own table (cmocka checks leaks per test body). */
static void begin(void)
{
    memset(&svc, 0, sizeof(svc));
    nrows = nlive = nexec = 0;
    group_refused = 0;
    capture_calls_init(&svc);
}

static void end(void)
{
    capture_calls_free(&svc);
}

/* ---- tests ---- */

static void test_basic_call(void **state)
{
    (void)state;
    begin();
    const char *id = "basic@test";
    feed(req("INVITE", 1, id, NULL), 1000, NULL);
    feed(resp(100, "INVITE", 1, id), 1100, NULL);
    feed(resp(180, "INVITE", 1, id), 1500, NULL);
    feed(resp(200, "INVITE", 1, id), 3000, NULL);
    feed(req("ACK", 1, id, NULL), 3100, NULL);
    feed(req("BYE", 2, id, NULL), 9000, NULL);
    feed(resp(200, "BYE", 2, id), 9100, NULL);
    row_t *r = flushed(id);
    assert_string_equal(r->text[METHOD], "INVITE");
    assert_string_equal(r->text[CALLER], "alice");
    assert_string_equal(r->text[CALLEE], "bob");
    assert_string_equal(r->text[UA], "phone/1.0");
    assert_string_equal(r->text[SRC], "10.0.0.1");
    assert_int_equal(r->num[STATUS], 200);
    assert_int_equal(r->num[MESSAGES], 7);
    assert_int_equal(r->num[START], 1000);
    assert_int_equal(r->num[END], 9100);
    assert_int_equal(r->num[INVITE_US], 1000);
    assert_int_equal(r->num[PROGRESS_US], 1500); /* the first 18x, not 100 */
    assert_int_equal(r->num[ANSWER_US], 3000);
    assert_int_equal(r->num[BYE_US], 9000);
    assert_int_equal(nlive, 1);
    end();
}

static void test_status_rules(void **state)
{
    (void)state;
    begin();
    /* a challenge, then the authenticated INVITE is answered */
    feed(req("INVITE", 1, "auth@test", NULL), 10, NULL);
    feed(resp(407, "INVITE", 1, "auth@test"), 20, NULL);
    feed(req("INVITE", 2, "auth@test", NULL), 30, NULL);
    feed(resp(200, "INVITE", 2, "auth@test"), 40, NULL);
    assert_int_equal(flushed("auth@test")->num[STATUS], 200);
    /* busy, with the 200 of an unrelated method not counting */
    feed(req("INVITE", 1, "busy@test", NULL), 10, NULL);
    feed(resp(486, "INVITE", 1, "busy@test"), 20, NULL);
    feed(resp(200, "OPTIONS", 5, "busy@test"), 30, NULL);
    row_t *r = flushed("busy@test");
    assert_int_equal(r->num[STATUS], 486);
    assert_true(r->null[ANSWER_US]);
    /* answered, then a failed re-INVITE and a late provisional: still answered */
    feed(req("INVITE", 1, "re@test", NULL), 10, NULL);
    feed(resp(200, "INVITE", 1, "re@test"), 20, NULL);
    feed(resp(180, "INVITE", 1, "re@test"), 25, NULL);
    feed(req("INVITE", 3, "re@test", NULL), 30, NULL);
    feed(resp(491, "INVITE", 3, "re@test"), 40, NULL);
    assert_int_equal(flushed("re@test")->num[STATUS], 200);
    /* a provisional, then the final of the same transaction */
    feed(req("INVITE", 1, "prov@test", NULL), 10, NULL);
    feed(resp(183, "INVITE", 1, "prov@test"), 20, NULL);
    assert_int_equal(flushed("prov@test")->num[STATUS], 183);
    feed(resp(603, "INVITE", 1, "prov@test"), 30, NULL);
    assert_int_equal(flushed("prov@test")->num[STATUS], 603);
    end();
}

static void test_deltas_between_flushes(void **state)
{
    (void)state;
    begin();
    feed(req("INVITE", 1, "d@test", NULL), 10, NULL);
    feed(resp(180, "INVITE", 1, "d@test"), 20, NULL);
    assert_int_equal(flushed("d@test")->num[MESSAGES], 2);
    assert_int_equal(capture_calls_flush(&svc, NULL, NULL), 0); /* nothing changed */
    feed(resp(200, "INVITE", 1, "d@test"), 30, NULL);
    feed(req("ACK", 1, "d@test", NULL), 5, NULL); /* earlier than the start: start moves */
    row_t *r = flushed("d@test");
    assert_int_equal(r->num[MESSAGES], 2);
    assert_int_equal(r->num[START], 5);
    assert_int_equal(r->num[END], 30);
    assert_int_equal(nlive, 1);
    end();
}

/* The indexed columns are written with a new call and when one of them changed, and left
 * alone otherwise (an update then touches no index entry). */
static void test_indexed_columns_written_when_changed(void **state)
{
    (void)state;
    begin();
    feed(resp(100, "INVITE", 1, "k@test"), 10, NULL);
    assert_true(flushed("k@test")->keys); /* a new call */
    feed(resp(180, "INVITE", 1, "k@test"), 20, NULL);
    row_t *r = flushed("k@test");
    assert_false(r->keys);
    assert_int_equal(r->num[MESSAGES], 1);
    assert_int_equal(r->num[STATUS], 180);
    feed(req("INVITE", 1, "k@test", "X-CID: a@test\r\n"), 30, NULL); /* correlation set */
    assert_true(flushed("k@test")->keys);
    feed(req("BYE", 2, "k@test", NULL), 40, NULL);
    assert_false(flushed("k@test")->keys);
    feed(req("ACK", 1, "k@test", NULL), 5, NULL); /* earlier than the start */
    r = flushed("k@test");
    assert_true(r->keys);
    assert_int_equal(r->num[START], 5);
    end();
}

static void test_first_request_and_register(void **state)
{
    (void)state;
    begin();
    /* a call first seen through a response takes its CSeq method */
    feed(resp(200, "REGISTER", 1, "reg@test"), 10, NULL);
    row_t *r = flushed("reg@test");
    assert_string_equal(r->text[METHOD], "REGISTER");
    assert_int_equal(r->num[STATUS], 200);
    assert_true(r->null[INVITE_US]);
    end();
}

static void test_correlation(void **state)
{
    (void)state;
    begin();
    feed(req("INVITE", 1, "b-leg@test", "X-CID: a-leg@test\r\n"), 10, NULL);
    assert_string_equal(flushed("b-leg@test")->text[CORR], "a-leg@test");
    feed(req("INVITE", 1, "hep@test", NULL), 10, "other@test");
    assert_string_equal(flushed("hep@test")->text[CORR], "other@test");
    feed(req("INVITE", 1, "self@test", NULL), 10, "self@test"); /* its own Call-ID: none */
    assert_string_equal(flushed("self@test")->text[CORR], "");
    end();
}

static void test_text_cleaned_to_utf8(void **state)
{
    (void)state;
    begin();
    const char *msg =
        "INVITE sip:b\xc3\xa9@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        "From: <sip:al\xff\xfeice\xc3\xa9@h>;tag=1\r\nTo: <sip:b\xc3\xa9@h>\r\n"
        "Call-ID: utf@test\r\nCSeq: 1 INVITE\r\nUser-Agent: x\x01y\r\nContent-Length: 0\r\n\r\n";
    feed(msg, 10, NULL);
    row_t *r = flushed("utf@test");
    assert_string_equal(r->text[CALLER], "alice\xc3\xa9"); /* invalid bytes dropped, é kept */
    assert_string_equal(r->text[CALLEE], "b\xc3\xa9");
    assert_string_equal(r->text[UA], "xy");
    end();
}

static void test_eviction_writes_dirty_call(void **state)
{
    (void)state;
    begin();
    char id[64];
    for (int i = 0; i < 16384 + 3; i++) {
        snprintf(id, sizeof(id), "ev-%d@test", i);
        feed(req("INVITE", 1, id, NULL), 10 + i, NULL);
    }
    /* the oldest was not written when it had to leave memory: every changed summary was
     * written then as one group, so the next two left clean */
    assert_int_equal(nexec, 0);
    assert_int_equal(nrows, 16384);
    assert_string_equal(rows[16383 % 64].text[CALLID], "ev-0@test"); /* the last one written */
    assert_int_equal(rows[16383 % 64].num[MESSAGES], 1);
    assert_int_equal(capture_calls_flush(&svc, NULL, NULL), 3);
    nrows = 0;
    feed(req("BYE", 2, "ev-0@test", NULL), 100000, NULL); /* seen again: a new summary */
    assert_int_equal(flushed("ev-0@test")->num[MESSAGES], 1);
    end();
}

/* When the store cannot take the group, the call leaving memory is written alone. */
static void test_eviction_alone_when_store_full(void **state)
{
    (void)state;
    begin();
    char id[64];
    for (int i = 0; i < 16384 + 1; i++) {
        snprintf(id, sizeof(id), "full-%d@test", i);
        group_refused = i == 16384;
        feed(req("INVITE", 1, id, NULL), 10 + i, NULL);
    }
    assert_int_equal(nexec, 1);
    assert_string_equal(rows[0].text[CALLID], "full-0@test");
    group_refused = 0;
    assert_int_equal(capture_calls_flush(&svc, NULL, NULL), 16384);
    end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_call),
        cmocka_unit_test(test_status_rules),
        cmocka_unit_test(test_deltas_between_flushes),
        cmocka_unit_test(test_indexed_columns_written_when_changed),
        cmocka_unit_test(test_first_request_and_register),
        cmocka_unit_test(test_correlation),
        cmocka_unit_test(test_text_cleaned_to_utf8),
        cmocka_unit_test(test_eviction_writes_dirty_call),
        cmocka_unit_test(test_eviction_alone_when_store_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
