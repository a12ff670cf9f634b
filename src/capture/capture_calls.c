/* One summary row per Call-ID (table capture_calls), kept on write so that searches over
 * millions of messages read one indexed row per call instead of grouping messages. The
 * recent calls live in a bounded in-memory table (hash + LRU); each batch flush writes
 * the ones changed since the previous flush as upserts whose merge rules (earliest start,
 * latest end, messages added, an answered call stays answered, first values kept) stay
 * right when a call was evicted from memory and seen again. A call whose indexed fields
 * (start, caller, callee, addresses, correlation) did not change since its last write is
 * written with an upsert that leaves them alone, so updating it touches no index entry
 * (SQLite maintains only the indexes of the columns an UPDATE sets; PostgreSQL can then
 * update in place). */
#include "capture/capture_int.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CALLS_MAX 16384 /* calls kept in memory (about 1.3 KiB each) */
#define BUCKETS 32768   /* power of two */
#define NPARAMS 16

typedef struct ent {
    struct ent *hnext;       /* hash chain */
    struct ent *prev, *next; /* LRU: head = most recent */
    struct ent *dnext;       /* dirty list */
    int dirty;
    int keys_dirty;       /* an indexed field changed since the last write (or never written) */
    uint32_t status_cseq; /* CSeq number the status answers */
    int64_t flushed;      /* messages already written */
    capture_call_summary_t s;
} ent_t;

struct capture_calls {
    ent_t *bucket[BUCKETS];
    ent_t *lru_head, *lru_tail;
    ent_t *dirty;
    size_t n;
};

#define UPSERT_HEAD                                                                                \
    "INSERT INTO capture_calls (callid, start_us, end_us, method, caller, callee, status, "        \
    "messages, src_ip, dst_ip, user_agent, correlation, invite_us, progress_us, answer_us, "       \
    "bye_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "      \
    "ON CONFLICT (callid) DO UPDATE SET "
#define KEEP_FIRST(c)                                                                              \
    c " = CASE WHEN capture_calls." c " = '' THEN excluded." c " ELSE capture_calls." c " END, "
#define COALESCE(c) c " = COALESCE(capture_calls." c ", excluded." c ")"
/* The indexed columns (capture_schema.c): set only when one of them changed. */
#define UPSERT_KEYS                                                                                \
    KEEP_FIRST("caller")                                                                           \
    KEEP_FIRST("callee") KEEP_FIRST("src_ip") KEEP_FIRST("dst_ip") KEEP_FIRST("correlation")
#define UPSERT_REST                                                                                \
    KEEP_FIRST("method")                                                                           \
    KEEP_FIRST("user_agent")                                                                       \
    "status = CASE WHEN excluded.status = 0 OR capture_calls.status BETWEEN 200 AND 299 "          \
    "THEN capture_calls.status ELSE excluded.status END, "                                         \
    "messages = capture_calls.messages + excluded.messages, " COALESCE("invite_us") ", " COALESCE( \
        "progress_us") ", " COALESCE("answer_us") ", " COALESCE("bye_us")

/* [pg][keys]: the upsert for each backend, leaving the indexed columns alone or not. */
static const char *const upsert_sql[2][2] = {
    {UPSERT_HEAD "end_us = max(capture_calls.end_us, excluded.end_us), " UPSERT_REST, UPSERT_HEAD
     "end_us = max(capture_calls.end_us, excluded.end_us), "
     "start_us = min(capture_calls.start_us, excluded.start_us), " UPSERT_KEYS UPSERT_REST},
    {UPSERT_HEAD "end_us = GREATEST(capture_calls.end_us, excluded.end_us), " UPSERT_REST,
     UPSERT_HEAD
     "end_us = GREATEST(capture_calls.end_us, excluded.end_us), "
     "start_us = LEAST(capture_calls.start_us, excluded.start_us), " UPSERT_KEYS UPSERT_REST},
};

const char capture_calls_columns[] =
    "callid, start_us, end_us, method, caller, callee, status, messages, src_ip, dst_ip, "
    "user_agent, correlation, invite_us, progress_us, answer_us, bye_us";

static uint32_t hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

/* The length of the valid UTF-8 sequence (RFC 3629) starting at p (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t k = p[0] < 0x80                             ? 1
               : (p[0] & 0xe0) == 0xc0 && p[0] >= 0xc2 ? 2
               : (p[0] & 0xf0) == 0xe0                 ? 3
               : (p[0] & 0xf8) == 0xf0 && p[0] <= 0xf4 ? 4
                                                       : 0;
    if (!k || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((k == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) ||
        (k == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))))
        return 0; /* overlong, surrogate, past U+10FFFF */
    return k;
}

/* Copies v into dst (cap bytes, NUL-terminated) keeping only valid UTF-8 without NULs and
 * control characters, cut at a character boundary: the database (PostgreSQL text) and
 * the JSON answers both need that. */
static void copy_str(char *dst, size_t cap, capture_str_t v)
{
    const unsigned char *p = (const unsigned char *)v.p;
    size_t k = 0;
    for (size_t i = 0; i < v.len;) {
        size_t n = utf8_len(p + i, v.len - i);
        if (!n || (n == 1 && p[i] < 0x20)) {
            i++;
            continue;
        }
        if (k + n >= cap)
            break;
        memcpy(dst + k, p + i, n);
        k += n;
        i += n;
    }
    dst[k] = '\0';
}

static void lru_unlink(capture_calls_t *c, ent_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(capture_calls_t *c, ent_t *e)
{
    e->next = c->lru_head;
    if (c->lru_head)
        c->lru_head->prev = e;
    c->lru_head = e;
    if (!c->lru_tail)
        c->lru_tail = e;
}

void capture_calls_init(capture_svc_t *svc)
{
    svc->calls = hc_calloc(1, sizeof(*svc->calls));
}

void capture_calls_free(capture_svc_t *svc)
{
    if (!svc->calls)
        return;
    for (ent_t *e = svc->calls->lru_head, *next; e; e = next) {
        next = e->next;
        hc_free(e);
    }
    hc_free(svc->calls);
    svc->calls = NULL;
}

static hc_store_value_t opt_us(int64_t v)
{
    return v ? hc_store_int(v) : hc_store_null();
}

/* The 16 parameters of an upsert of e (pointing into e). */
static void params_of(ent_t *e, hc_store_value_t *p)
{
    capture_call_summary_t *s = &e->s;
    p[0] = hc_store_text(s->callid);
    p[1] = hc_store_int(s->start_us);
    p[2] = hc_store_int(s->end_us);
    p[3] = hc_store_text(s->method);
    p[4] = hc_store_text(s->caller);
    p[5] = hc_store_text(s->callee);
    p[6] = hc_store_int(s->status);
    p[7] = hc_store_int(s->messages - e->flushed);
    p[8] = hc_store_text(s->src_ip);
    p[9] = hc_store_text(s->dst_ip);
    p[10] = hc_store_text(s->user_agent);
    p[11] = hc_store_text(s->correlation);
    p[12] = opt_us(s->invite_us);
    p[13] = opt_us(s->progress_us);
    p[14] = opt_us(s->answer_us);
    p[15] = opt_us(s->bye_us);
}

static void on_evict_done(void *arg, int status, const char *msg)
{
    (void)arg;
    if (status < 0)
        hc_log(HC_LOG_WARN, "capture: call summary not stored", HC_LS("error", msg), NULL);
}

/* Makes room: the least recently seen call leaves memory. When it was not written yet,
 * every changed summary is written now as one group (the calls behind it in the LRU are
 * most likely changed too), or, when the store cannot take the group, that call alone. */
static void evict_one(capture_svc_t *svc)
{
    capture_calls_t *c = svc->calls;
    ent_t *e = c->lru_tail;
    if (e->dirty)
        capture_calls_flush(svc, on_evict_done, NULL);
    if (e->dirty) {
        hc_store_value_t p[NPARAMS];
        params_of(e, p);
        if (hc_store_exec(svc->store, upsert_sql[svc->pg][e->keys_dirty], p, NPARAMS, on_evict_done,
                          NULL) != 0)
            hc_log(HC_LOG_WARN, "capture: call summary not stored (database queue full)",
                   HC_LS("callid", e->s.callid), NULL);
        for (ent_t **d = &c->dirty; *d; d = &(*d)->dnext)
            if (*d == e) {
                *d = e->dnext;
                break;
            }
    }
    lru_unlink(c, e);
    uint32_t b = hash(e->s.callid, strlen(e->s.callid)) & (BUCKETS - 1);
    for (ent_t **h = &c->bucket[b]; *h; h = &(*h)->hnext)
        if (*h == e) {
            *h = e->hnext;
            break;
        }
    c->n--;
    hc_free(e);
}

static ent_t *lookup(capture_svc_t *svc, capture_str_t id, int *created)
{
    capture_calls_t *c = svc->calls;
    char key[sizeof(((capture_call_summary_t *)0)->callid)];
    copy_str(key, sizeof(key), id);
    size_t klen = strlen(key);
    uint32_t b = hash(key, klen) & (BUCKETS - 1);
    for (ent_t *e = c->bucket[b]; e; e = e->hnext)
        if (!strcmp(e->s.callid, key)) {
            lru_unlink(c, e);
            lru_front(c, e);
            *created = 0;
            return e;
        }
    if (c->n >= CALLS_MAX)
        evict_one(svc);
    ent_t *e = hc_calloc(1, sizeof(*e));
    e->keys_dirty = 1;
    memcpy(e->s.callid, key, klen + 1);
    e->hnext = c->bucket[b];
    c->bucket[b] = e;
    lru_front(c, e);
    c->n++;
    *created = 1;
    return e;
}

/* A response changes the call's status when it answers the call's own method: a newer
 * transaction (higher CSeq) replaces the status, a final one replaces a provisional,
 * and an answered call stays answered (a failed re-INVITE does not un-answer it). */
static void apply_response(ent_t *e, const capture_sip_t *s, int64_t ts)
{
    capture_call_summary_t *c = &e->s;
    int code = s->status;
    if (!capture_str_ieq(s->cseq_method, c->method))
        return;
    int invite = !strcmp(c->method, "INVITE");
    if (invite && !c->progress_us && code >= 180 && code < 300)
        c->progress_us = ts;
    if (invite && !c->answer_us && code >= 200 && code < 300)
        c->answer_us = ts;
    if (c->status >= 200 && c->status < 300)
        return;
    if (s->cseq_num > e->status_cseq ||
        (s->cseq_num == e->status_cseq && code > c->status && (c->status < 200 || code >= 200))) {
        c->status = code;
        e->status_cseq = s->cseq_num;
    }
}

void capture_calls_update(capture_svc_t *svc, const capture_hep_t *h, const capture_sip_t *s,
                          int64_t ts)
{
    if (!s->call_id.len)
        return;
    int created;
    ent_t *e = lookup(svc, s->call_id, &created);
    capture_call_summary_t *c = &e->s;
    if (created) {
        c->start_us = c->end_us = ts;
        snprintf(c->src_ip, sizeof(c->src_ip), "%s", h->src_ip);
        snprintf(c->dst_ip, sizeof(c->dst_ip), "%s", h->dst_ip);
    }
    if (ts < c->start_us) {
        c->start_us = ts;
        e->keys_dirty = 1;
    }
    c->end_us = ts > c->end_us ? ts : c->end_us;
    c->messages++;
    if (!c->method[0])
        copy_str(c->method, sizeof(c->method), s->is_request ? s->method : s->cseq_method);
    if (!c->caller[0]) {
        copy_str(c->caller, sizeof(c->caller), s->from_user.len ? s->from_user : s->from_host);
        e->keys_dirty |= c->caller[0] != '\0';
    }
    if (!c->callee[0]) {
        copy_str(c->callee, sizeof(c->callee), s->to_user.len ? s->to_user : s->ruri_user);
        e->keys_dirty |= c->callee[0] != '\0';
    }
    if (!c->user_agent[0] && s->user_agent.len)
        copy_str(c->user_agent, sizeof(c->user_agent), s->user_agent);
    if (!c->correlation[0]) {
        capture_str_t corr = {h->correlation_id, h->correlation_id_len};
        if (!corr.len || (corr.len == s->call_id.len && !memcmp(corr.p, s->call_id.p, corr.len)))
            corr = s->x_cid;
        copy_str(c->correlation, sizeof(c->correlation), corr);
        e->keys_dirty |= c->correlation[0] != '\0';
    }
    if (s->is_request) {
        if (capture_str_ieq(s->method, "INVITE") && !c->invite_us)
            c->invite_us = ts;
        else if (capture_str_ieq(s->method, "BYE") && !c->bye_us)
            c->bye_us = ts;
    } else {
        apply_response(e, s, ts);
    }
    if (!e->dirty) {
        e->dirty = 1;
        e->dnext = svc->calls->dirty;
        svc->calls->dirty = e;
    }
    if (created)
        capture_live_call(svc, c);
}

size_t capture_calls_dirty(const capture_svc_t *svc)
{
    size_t n = 0;
    for (const ent_t *e = svc->calls ? svc->calls->dirty : NULL; e; e = e->dnext)
        n++;
    return n;
}

int capture_calls_flush(capture_svc_t *svc, hc_store_done_cb cb, void *arg)
{
    capture_calls_t *c = svc->calls;
    size_t n = capture_calls_dirty(svc);
    if (!n)
        return 0;
    hc_store_stmt_t *st = hc_malloc(n * sizeof(*st));
    hc_store_value_t *p = hc_malloc(n * NPARAMS * sizeof(*p));
    size_t i = 0;
    for (ent_t *e = c->dirty; e; e = e->dnext, i++) {
        params_of(e, p + i * NPARAMS);
        st[i] = (hc_store_stmt_t){upsert_sql[svc->pg][e->keys_dirty], p + i * NPARAMS, NPARAMS, 1};
    }
    int rc = hc_store_exec_group(svc->store, st, n, cb, arg);
    hc_free(p);
    hc_free(st);
    if (rc)
        return rc; /* still dirty: the next flush tries again */
    for (ent_t *e = c->dirty, *next; e; e = next) {
        next = e->dnext;
        e->dnext = NULL;
        e->dirty = 0;
        e->keys_dirty = 0;
        e->flushed = e->s.messages;
    }
    c->dirty = NULL;
    return (int)n;
}

static void cell_str(const hc_store_result_t *res, size_t r, size_t col, char *dst, size_t cap)
{
    const hc_store_value_t *v = hc_store_cell(res, r, col);
    capture_str_t s = {"", 0};
    if (v->type == HC_STORE_TEXT)
        s = (capture_str_t){v->v.s.p, v->v.s.len};
    copy_str(dst, cap, s);
}

static int64_t cell_int(const hc_store_result_t *res, size_t r, size_t col)
{
    const hc_store_value_t *v = hc_store_cell(res, r, col);
    return v->type == HC_STORE_INT ? v->v.i : v->type == HC_STORE_DOUBLE ? (int64_t)v->v.d : 0;
}

void capture_calls_row(const hc_store_result_t *res, size_t r, capture_call_summary_t *c)
{
    memset(c, 0, sizeof(*c));
    cell_str(res, r, 0, c->callid, sizeof(c->callid));
    c->start_us = cell_int(res, r, 1);
    c->end_us = cell_int(res, r, 2);
    cell_str(res, r, 3, c->method, sizeof(c->method));
    cell_str(res, r, 4, c->caller, sizeof(c->caller));
    cell_str(res, r, 5, c->callee, sizeof(c->callee));
    c->status = (int)cell_int(res, r, 6);
    c->messages = cell_int(res, r, 7);
    cell_str(res, r, 8, c->src_ip, sizeof(c->src_ip));
    cell_str(res, r, 9, c->dst_ip, sizeof(c->dst_ip));
    cell_str(res, r, 10, c->user_agent, sizeof(c->user_agent));
    cell_str(res, r, 11, c->correlation, sizeof(c->correlation));
    c->invite_us = cell_int(res, r, 12);
    c->progress_us = cell_int(res, r, 13);
    c->answer_us = cell_int(res, r, 14);
    c->bye_us = cell_int(res, r, 15);
}
