/* The write path: POST /api/send (and COLLECT_API_ENDPOINT) and /api/batch, processed in
 * Umami v3's order (cache token, website, client detection, bot check, IGNORE_IP, ids),
 * written as Umami's rows in one store unit per request, and answered only from the
 * unit's commit callback. While the store queue is full, sends wait in a bounded line
 * (count and seconds) and get 503 past it; a send whose commit takes longer than the
 * wait bound also gets 503 (its rows may still land: a retry is then a duplicate, never a
 * loss). The rollups see each event once it is committed.
 *
 * Lifetime: an ing_req_t is held by its request (until answered or the client is gone),
 * its body reading, its website lookups and its store unit; the last release frees it.
 *
 * Throughput (issue 4): event ids are time-ordered (UUID v7 layout), so the event_id key
 * appends instead of touching a random B-tree page per event; a cache token seen before
 * is not verified again (a small direct-mapped table of verified tokens, compared in
 * full), and when the answer's token would carry the same ids and iat as the request's
 * it is the request's token, unsigned again (tokens signed are also remembered by their
 * claims, for clients that do not send theirs back); a single send's answer is formatted without
 * building a JSON tree. */
#include "analytics/analytics_int.h"
#include "analytics/analytics_keyhash.h"
#include "analytics/analytics_rollup.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stddef.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    BATCH_BODY_MAX = 4 * 1024 * 1024,
    ROUTE_BODY_MAX = 16 * 1024 * 1024, /* beyond our limits, the server discards or closes */
    BATCH_ITEMS_MAX = 1000,
    TICK_MS = 20,
    TOKEN_MAX = 1024,
    TOKEN_SLOTS = 4096,   /* verified cache tokens remembered (2-way: a pair per hash) */
    SIGNED_SLOTS = 512,   /* tokens signed, remembered by their claims (direct-mapped) */
    STORED_SLOTS = 4096,  /* sessions whose row this process committed (direct-mapped) */
    TOKEN_SLOT_LEN = 400, /* longer tokens are verified every time (hearth's are ~310) */
    SPARE_ITEMS = 64,
    ID_MEMO_SLOTS = 1024, /* session ids remembered (~620 bytes each) */
};

/* A verified cache token and what it says. */
typedef struct tok_slot {
    size_t len; /* 0 = empty */
    char tok[TOKEN_SLOT_LEN];
    analytics_cache_t c;
} tok_slot_t;

/* A session whose row this process committed in the hour `hour`, together with an event
 * of that hour (see session_known). */
typedef struct stored_session {
    int64_t hour; /* 0 = empty */
    char id[ANALYTICS_UUID_LEN + 1];
} stored_session_t;

typedef struct ing_req ing_req_t;

struct analytics_ingest {
    analytics_t *an;
    uv_timer_t tick;
    int tick_on;
    ing_req_t *head, *tail;   /* unanswered sends, in arrival order */
    ing_req_t *whead, *wtail; /* the waiting line: built, not yet enqueued */
    size_t nwaiting, waiting_max;
    uint64_t wait_ms;
    size_t units;                        /* store units in flight */
    struct ing_item *spare[SPARE_ITEMS]; /* single-send items kept for reuse (~8 KiB each) */
    size_t nspare;
    tok_slot_t *toks;         /* TOKEN_SLOTS verified tokens */
    tok_slot_t *signed_toks;  /* SIGNED_SLOTS tokens signed */
    stored_session_t *stored; /* STORED_SLOTS sessions known to have their row */
    analytics_id_memo_t *ids; /* session ids of returning visitors */
    uint64_t id_rng;          /* event id random bits (splitmix64 state, seeded at open) */
    int64_t id_ms;            /* last event id's millisecond and sequence: ids never go back */
    unsigned id_seq;
    void (*drained)(void *arg);
    void *drained_arg;
};

typedef struct ing_item {
    ing_req_t *owner;
    int status; /* 0 = write it; else the HTTP status of its error */
    const char *code, *message;
    int beep;        /* a bot: answered, not stored */
    int cached;      /* the cache token applies */
    int new_session; /* its unit writes the session row */
    int64_t iat;
    analytics_data_row_t *rows;
    size_t nrows;
    analytics_event_t ev; /* last: the parser zeroes it, the fields above are zeroed apart */
} ing_item_t;

struct ing_req {
    ing_req_t *prev, *next; /* pending list */
    ing_req_t *wnext;       /* waiting line */
    int in_list, waiting;
    struct analytics_ingest *ing;
    hc_http_req_t *req; /* NULL once answered or gone */
    unsigned refs;      /* request + body + lookups + unit */
    int batch, too_large, has_cache;
    uint64_t start_ms;
    hc_buf_t body;
    analytics_cache_t cache;
    char *token; /* the request's verified x-umami-cache token */
    ing_item_t *items;
    size_t nitems, lookups;
    analytics_rowset_t rowset; /* built once and kept until enqueued */
};

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the unit (rows built in analytics_ingest_rows.c) ---- */

static void ir_unit_free(ing_req_t *ir)
{
    analytics_rowset_free(&ir->rowset);
    for (size_t i = 0; i < ir->nitems; i++) {
        analytics_data_free(ir->items[i].rows, ir->items[i].nrows);
        ir->items[i].rows = NULL;
        ir->items[i].nrows = 0;
    }
}

/* Builds every row of an accepted item. Returns 0 or -EINVAL (data too big or deep). */
/* ---- sessions whose row is known to be there ----
 *
 * Umami writes a session row only for a send without a cache token. A client that does
 * not keep its token (server-side senders) would have its session row inserted (and found
 * there) on every event: a session whose row this process committed in the current hour is
 * skipped instead. The hour bounds the memory against retention: the row was committed with
 * an event of that hour, and retention deletes only sessions without events of the last
 * day, so a session known this hour still has its row. Backdated events do not count. */

static stored_session_t *stored_slot(struct analytics_ingest *ing, const char *session_id)
{
    return &ing->stored[analytics_key_hash(session_id, strlen(session_id)) % STORED_SLOTS];
}

static int session_known(struct analytics_ingest *ing, const char *session_id, int64_t hour)
{
    const stored_session_t *s = stored_slot(ing, session_id);
    return s->hour == hour && !strcmp(s->id, session_id);
}

static void session_stored(struct analytics_ingest *ing, const analytics_event_t *ev, int64_t hour)
{
    if (ev->has_timestamp)
        return;
    stored_session_t *s = stored_slot(ing, ev->session_id);
    s->hour = hour;
    memcpy(s->id, ev->session_id, sizeof(s->id));
}

static int build_item(ing_req_t *ir, ing_item_t *it, int64_t now_ms)
{
    analytics_event_t *ev = &it->ev;
    if (ev->data && analytics_data_flatten(ev->data, &it->rows, &it->nrows))
        return -EINVAL;
    it->new_session = !it->cached && !session_known(ir->ing, ev->session_id, now_ms / 3600000);
    analytics_rowset_event(&ir->rowset, ev, it->new_session, it->rows, it->nrows);
    return 0;
}

/* ---- lifetime ---- */

static void tick_update(struct analytics_ingest *ing);

static void ir_unlist(ing_req_t *ir)
{
    struct analytics_ingest *ing = ir->ing;
    if (!ir->in_list)
        return;
    ir->in_list = 0;
    *(ir->prev ? &ir->prev->next : &ing->head) = ir->next;
    *(ir->next ? &ir->next->prev : &ing->tail) = ir->prev;
    ir->prev = ir->next = NULL;
}

static void unwait(ing_req_t *ir)
{
    struct analytics_ingest *ing = ir->ing;
    if (!ir->waiting)
        return;
    ing_req_t **pp = &ing->whead, *last = NULL;
    while (*pp && *pp != ir) {
        last = *pp;
        pp = &(*pp)->wnext;
    }
    if (*pp) {
        *pp = ir->wnext;
        if (ing->wtail == ir)
            ing->wtail = last;
    }
    ir->waiting = 0;
    ir->wnext = NULL;
    ing->nwaiting--;
}

static void check_drained(struct analytics_ingest *ing)
{
    if (ing->drained && !ing->head && !ing->units) {
        void (*cb)(void *) = ing->drained;
        ing->drained = NULL;
        cb(ing->drained_arg);
    }
}

static void ir_unref(ing_req_t *ir)
{
    if (--ir->refs)
        return;
    struct analytics_ingest *ing = ir->ing;
    ir_unlist(ir);
    unwait(ir);
    ir_unit_free(ir);
    for (size_t i = 0; i < ir->nitems; i++)
        analytics_event_clear(&ir->items[i].ev);
    if (ir->nitems == 1 && ing->nspare < SPARE_ITEMS)
        ing->spare[ing->nspare++] = ir->items;
    else
        hc_free(ir->items);
    hc_buf_free(&ir->body);
    hc_free(ir->token);
    hc_free(ir);
    tick_update(ing);
    check_drained(ing);
}

/* Answers the request (once) and releases the request's hold. */
static void ir_answer(ing_req_t *ir, int status, json_t *body)
{
    hc_http_req_t *req = ir->req;
    if (!req) {
        json_decref(body);
        return;
    }
    ir->req = NULL;
    ir_unlist(ir);
    hc_http_req_on_close(req, NULL, NULL);
    analytics_respond_json(req, status, body);
    ir_unref(ir);
}

static json_t *error_json(int status, const char *code, const char *message)
{
    return json_pack("{s:{s:s, s:s, s:i}}", "error", "message", message, "code", code, "status",
                     status);
}

static void ir_fail(ing_req_t *ir, int status, const char *code, const char *message,
                    const char *reason)
{
    analytics_reject(ir->ing->an, reason);
    ir_answer(ir, status, error_json(status, code, message));
}

static void on_gone(hc_http_req_t *req, void *arg)
{
    (void)req;
    ing_req_t *ir = arg;
    ir->req = NULL;
    ir_unlist(ir);
    unwait(ir);
    ir_unref(ir);
}

/* ---- the answer after commit ---- */

static json_t *item_error(const ing_item_t *it)
{
    return error_json(it->status, it->code, it->message);
}

static int same_claims(const analytics_cache_t *a, const analytics_cache_t *b)
{
    return a->iat == b->iat && !strcmp(a->session_id, b->session_id) &&
           !strcmp(a->visit_id, b->visit_id) && !strcmp(a->website_id, b->website_id);
}

/* The token for c: signed, or the one signed before for the same claims (a client that
 * does not keep its token gets the same one again within the second of its iat). */
static const char *token_sign(struct analytics_ingest *ing, const analytics_cache_t *c,
                              char tok[TOKEN_MAX])
{
    uint64_t h = analytics_key_hash(c->session_id, strlen(c->session_id)) ^
                 analytics_key_hash(c->visit_id, strlen(c->visit_id)) * 31 ^ (uint64_t)c->iat;
    tok_slot_t *slot = &ing->signed_toks[h % SIGNED_SLOTS];
    if (slot->len && same_claims(&slot->c, c))
        return slot->tok;
    int n = analytics_cache_sign(tok, TOKEN_MAX, c, ing->an->secret);
    if (n < 0)
        return "";
    if ((size_t)n < TOKEN_SLOT_LEN) {
        memcpy(slot->tok, tok, (size_t)n + 1);
        slot->len = (size_t)n;
        slot->c = *c;
    }
    return tok;
}

/* The cache token answering an accepted item: the request's own when it carries the same
 * ids and iat (what signing would give again), else a new one ("" if it cannot be made). */
static const char *item_token(ing_req_t *ir, const ing_item_t *it, char tok[TOKEN_MAX])
{
    _Static_assert(sizeof(((analytics_cache_t *)0)->website_id) == sizeof(it->ev.website_id) &&
                       sizeof(((analytics_cache_t *)0)->session_id) == sizeof(it->ev.session_id) &&
                       sizeof(((analytics_cache_t *)0)->visit_id) == sizeof(it->ev.visit_id),
                   "a token's ids are the event's ids");
    analytics_cache_t c = {.iat = it->iat};
    memcpy(c.website_id, it->ev.website_id, sizeof(c.website_id));
    memcpy(c.session_id, it->ev.session_id, sizeof(c.session_id));
    memcpy(c.visit_id, it->ev.visit_id, sizeof(c.visit_id));
    if (ir->token && c.iat == ir->cache.iat && !strcmp(c.website_id, ir->cache.website_id) &&
        !strcmp(c.session_id, ir->cache.session_id) && !strcmp(c.visit_id, ir->cache.visit_id))
        return ir->token;
    return token_sign(ir->ing, &c, tok);
}

static json_t *item_ok(ing_req_t *ir, const ing_item_t *it)
{
    if (it->beep)
        return json_pack("{s:s}", "beep", "boop");
    char tok[TOKEN_MAX];
    return json_pack("{s:s, s:s, s:s}", "cache", item_token(ir, it, tok), "sessionId",
                     it->ev.session_id, "visitId", it->ev.visit_id);
}

/* A single send's 200, formatted directly: the token is base64url and the ids are uuids
 * (analytics_cache_sign refuses anything else), so nothing needs escaping. */
static void answer_one_ok(ing_req_t *ir, const ing_item_t *it)
{
    hc_http_req_t *req = ir->req;
    if (!req)
        return;
    /* every piece is shorter than its share: the token under TOKEN_MAX, the ids 36 */
    char tok[TOKEN_MAX], body[TOKEN_MAX + 160];
    const char *parts[] = {"{\"cache\":\"",
                           item_token(ir, it, tok),
                           "\",\"sessionId\":\"",
                           it->ev.session_id,
                           "\",\"visitId\":\"",
                           it->ev.visit_id,
                           "\"}"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        size_t len = strlen(parts[i]);
        memcpy(body + n, parts[i], len);
        n += len;
    }
    ir->req = NULL;
    ir_unlist(ir);
    hc_http_req_on_close(req, NULL, NULL);
    analytics_respond_text(req, 200, body, n);
    ir_unref(ir);
}

static void answer_all(ing_req_t *ir)
{
    if (!ir->batch) {
        ing_item_t *it = &ir->items[0];
        if (it->status)
            ir_answer(ir, it->status, item_error(it));
        else if (it->beep)
            ir_answer(ir, 200, item_ok(ir, it));
        else
            answer_one_ok(ir, it);
        return;
    }
    json_t *details = json_array(), *cache = json_null();
    size_t errors = 0;
    for (size_t i = 0; i < ir->nitems; i++) {
        ing_item_t *it = &ir->items[i];
        if (it->status) {
            errors++;
            json_array_append_new(details, json_pack("{s:I, s:o}", "index", (json_int_t)i,
                                                     "response", item_error(it)));
        } else if (!it->beep) {
            json_t *ok = item_ok(ir, it);
            json_decref(cache);
            cache = json_incref(json_object_get(ok, "cache"));
            json_decref(ok);
        }
    }
    ir_answer(ir, 200,
              json_pack("{s:I, s:I, s:I, s:o, s:o}", "size", (json_int_t)ir->nitems, "processed",
                        (json_int_t)(ir->nitems - errors), "errors", (json_int_t)errors, "details",
                        details, "cache", cache));
}

static void drain_line(struct analytics_ingest *ing);

static void on_commit(void *arg, int status, const char *errmsg)
{
    ing_req_t *ir = arg;
    struct analytics_ingest *ing = ir->ing;
    analytics_t *an = ing->an;
    ing->units--;
    /* The store delivers at least once: when PostgreSQL's connection broke with a COMMIT in
     * flight that had landed, the unit runs again and its keyed insert (a fresh event or
     * data id) finds its own row. The rows are there: acknowledge them. */
    if (status == -EEXIST)
        status = 0;
    if (status) {
        hc_log(HC_LOG_ERROR, "analytics: events not stored", HC_LS("error", errmsg),
               HC_LI("events", ir->nitems), NULL);
        int busy = status == -ETIMEDOUT || status == -ESHUTDOWN || status == -EAGAIN;
        ir_fail(ir, busy ? 503 : 500, busy ? "service-unavailable" : "server-error",
                busy ? "Service unavailable" : "Server error",
                busy ? "unavailable" : "server-error");
    } else {
        size_t n = 0;
        int64_t hour = wall_ms() / 3600000;
        for (size_t i = 0; i < ir->nitems; i++) {
            ing_item_t *it = &ir->items[i];
            if (it->status || it->beep)
                continue;
            n++;
            if (it->new_session)
                session_stored(ing, &it->ev, hour);
            if (an->rollup && it->ev.kind != ANALYTICS_SEND_IDENTIFY)
                analytics_rollup_observe(an->rollup, &it->ev);
        }
        hc_metrics_counter_add(an->m_accepted, n);
        answer_all(ir);
    }
    ir_unref(ir);
    drain_line(ing); /* the unit's room in the store queue is free again */
}

/* ---- enqueueing and the waiting line ---- */

/* Tries to hand ir's unit to the store. Returns 0 (enqueued or finished) or -EAGAIN. */
static int try_enqueue(ing_req_t *ir)
{
    struct analytics_ingest *ing = ir->ing;
    int rc =
        hc_store_exec_group(ing->an->store, ir->rowset.stmts, ir->rowset.nstmts, on_commit, ir);
    if (rc == -EAGAIN)
        return rc;
    ir_unit_free(ir); /* the store copied the statements */
    if (rc) {
        ir_fail(ir, 503, "service-unavailable", "Service unavailable", "unavailable");
        return 0;
    }
    ir->refs++;
    ing->units++;
    return 0;
}

static void drain_line(struct analytics_ingest *ing)
{
    while (ing->whead) {
        ing_req_t *ir = ing->whead;
        if (try_enqueue(ir) == -EAGAIN)
            return;
        unwait(ir);
    }
}

static void submit(ing_req_t *ir)
{
    struct analytics_ingest *ing = ir->ing;
    if (!ing->whead && try_enqueue(ir) == 0)
        return;
    if (ing->nwaiting >= ing->waiting_max) {
        ir_unit_free(ir);
        ir_fail(ir, 503, "service-unavailable", "Service unavailable", "unavailable");
        return;
    }
    ir->waiting = 1;
    *(ing->wtail ? &ing->wtail->wnext : &ing->whead) = ir;
    ing->wtail = ir;
    ing->nwaiting++;
    tick_update(ing);
}

static void on_tick(uv_timer_t *t)
{
    struct analytics_ingest *ing = t->data;
    drain_line(ing);
    uint64_t now = mono_ms();
    while (ing->head && now - ing->head->start_ms >= ing->wait_ms) {
        ing_req_t *ir = ing->head;
        ir->refs++; /* answering may drop the last other hold */
        if (ir->waiting) {
            unwait(ir);
            ir_unit_free(ir);
        }
        ir_fail(ir, 503, "service-unavailable", "Service unavailable", "unavailable");
        ir_unref(ir);
    }
    tick_update(ing);
}

static void tick_update(struct analytics_ingest *ing)
{
    int want = ing->head != NULL;
    if (want && !ing->tick_on)
        uv_timer_start(&ing->tick, on_tick, TICK_MS, TICK_MS);
    else if (!want && ing->tick_on)
        uv_timer_stop(&ing->tick);
    ing->tick_on = want;
}

/* ---- processing ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A UUID v7 (RFC 9562): 48 bits of Unix milliseconds, a 12-bit sequence that keeps ids
 * of one millisecond in order (on overflow, or a clock stepping back, the millisecond
 * field moves on from the last one), and 62 random bits seeded per process, so replicas
 * writing one database never collide. Still a valid uuid for Umami's columns. */
static void event_id(struct analytics_ingest *ing, int64_t now_ms, char out[ANALYTICS_UUID_LEN + 1])
{
    if (now_ms > ing->id_ms) {
        ing->id_ms = now_ms;
        ing->id_seq = 0;
    } else if (++ing->id_seq > 0xfff) {
        ing->id_ms++;
        ing->id_seq = 0;
    }
    uint64_t r = splitmix64(&ing->id_rng);
    uint64_t ms = (uint64_t)ing->id_ms;
    unsigned char b[16];
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | ing->id_seq >> 8); /* version 7 */
    b[7] = (unsigned char)ing->id_seq;
    b[8] = (unsigned char)(0x80 | r >> 58); /* variant 10, then 62 of r's bits */
    b[9] = (unsigned char)(r >> 50);
    for (int i = 10; i < 16; i++) /* r's low 48 bits */
        b[i] = (unsigned char)(r >> (8 * (15 - i)));
    analytics_uuid_format(out, b);
}

/* Steps 3-5 for one item whose website is known: detection, bot check, IGNORE_IP, ids. */
static void item_process(ing_req_t *ir, ing_item_t *it, hc_http_req_t *req)
{
    analytics_t *an = ir->ing->an;
    analytics_event_t *ev = &it->ev;
    analytics_detect_fill(an->detect, req, ev);
    if (!an->disable_bot_check && analytics_is_bot(ev->user_agent)) {
        it->beep = 1;
        analytics_reject(an, "bot");
        return;
    }
    if (analytics_ip_ignored(an->detect, ev->ip)) {
        it->status = 403;
        it->code = "forbidden";
        it->message = "Forbidden";
        analytics_reject(an, "ignored-ip");
        return;
    }
    int64_t now = wall_ms();
    if (!ev->has_timestamp)
        ev->created_at_ms = now;
    analytics_ids_memo(ev, an->secret, it->cached ? &ir->cache : NULL, an->salt_rotation, now,
                       &it->iat, ir->ing->ids);
    event_id(ir->ing, now, ev->event_id);
    if (build_item(ir, it, now)) {
        it->status = 400;
        it->code = "bad-request";
        it->message = "Bad request";
        analytics_reject(an, "bad-request");
    }
}

static void process(ing_req_t *ir)
{
    if (!ir->req)
        return;
    for (size_t i = 0; i < ir->nitems; i++)
        if (!ir->items[i].status)
            item_process(ir, &ir->items[i], ir->req);
    if (!ir->rowset.nstmts) { /* bots and errors only: nothing to commit */
        answer_all(ir);
        return;
    }
    submit(ir);
}

static void on_site(void *arg, int found)
{
    ing_item_t *it = arg;
    ing_req_t *ir = it->owner;
    it->status = found == 1 ? 0 : found < 0 ? 503 : 400;
    it->code = found < 0 ? "service-unavailable" : "bad-request";
    it->message = found < 0 ? "Service unavailable" : "Website not found.";
    if (found != 1)
        analytics_reject(ir->ing->an, found < 0 ? "unavailable" : "not-found");
    if (--ir->lookups == 0)
        process(ir);
    ir_unref(ir);
}

/* Verifies a cache token, or finds it among the tokens verified before (same bytes). */
static int token_verify(struct analytics_ingest *ing, const char *h, size_t n, analytics_cache_t *c)
{
    uint64_t hash = analytics_key_hash(h, n);
    tok_slot_t *slot = n < TOKEN_SLOT_LEN ? &ing->toks[(hash % (TOKEN_SLOTS / 2)) * 2] : NULL;
    for (int way = 0; slot && way < 2; way++) {
        if (slot[way].len == n && !memcmp(slot[way].tok, h, n)) {
            *c = slot[way].c;
            return 0;
        }
    }
    int rc = analytics_cache_verify(h, n, ing->an->secret, c);
    if (rc == 0 && slot) {
        slot[1] = slot[0]; /* the older entry of the pair goes */
        memcpy(slot->tok, h, n);
        slot->len = n;
        slot->c = *c;
    }
    return rc;
}

/* Steps 1-2: the cache token, else the website (cache, then the database). */
static void resolve_sites(ing_req_t *ir)
{
    analytics_t *an = ir->ing->an;
    size_t n = 0;
    const char *h = hc_http_req_header(ir->req, "x-umami-cache", &n);
    ir->has_cache = h && token_verify(ir->ing, h, n, &ir->cache) == 0;
    if (ir->has_cache && n < TOKEN_MAX) {
        ir->token = hc_malloc(n + 1);
        memcpy(ir->token, h, n);
        ir->token[n] = 0;
    }
    ir->lookups = 1; /* held until every lookup is started */
    for (size_t i = 0; i < ir->nitems; i++) {
        ing_item_t *it = &ir->items[i];
        if (it->status)
            continue;
        if (ir->has_cache && !strcmp(ir->cache.website_id, it->ev.website_id)) {
            it->cached = 1;
            continue;
        }
        it->owner = ir;
        int rc = analytics_sites_lookup(an, it->ev.website_id, on_site, it);
        if (rc == 0) {
            it->status = -1; /* decided by on_site */
            ir->lookups++;
            ir->refs++;
        } else if (rc < 0) {
            it->status = 503;
            it->code = "service-unavailable";
            it->message = "Service unavailable";
        }
    }
    if (--ir->lookups == 0)
        process(ir);
}

/* Parses the body (b NULL) or the batch's next item into it. */
static void parse_one(ing_req_t *ir, ing_item_t *it, analytics_payload_batch_t *b)
{
    const analytics_payload_opts_t *o = &ir->ing->an->payload_opts;
    char why[160] = "";
    int rc = b ? analytics_payload_batch_next(b, o, &it->ev, why, sizeof(why))
               : analytics_payload_parse(ir->body.base, ir->body.len, o, &it->ev, why, sizeof(why));
    if (rc) {
        it->status = 400;
        it->code = "bad-request";
        it->message = "Bad request";
        analytics_reject(ir->ing->an, "bad-request");
    }
}

/* A single send that is not a JSON object is its item's 400, as one that fails
 * validation is; a batch must be a JSON array of at most BATCH_ITEMS_MAX items. */
static void on_body_done(ing_req_t *ir)
{
    analytics_payload_batch_t batch;
    size_t n = 1;
    if (ir->batch &&
        analytics_payload_batch_open(&batch, ir->body.base, ir->body.len, BATCH_ITEMS_MAX, &n)) {
        hc_buf_free(&ir->body);
        ir_fail(ir, 400, "bad-request", "Bad request", "bad-request");
        return;
    }
    ir->nitems = n;
    if (ir->nitems == 1 && ir->ing->nspare) {
        ir->items = ir->ing->spare[--ir->ing->nspare];
        memset(ir->items, 0, offsetof(ing_item_t, ev)); /* the parser zeroes ev */
    } else {
        ir->items = hc_calloc(ir->nitems ? ir->nitems : 1, sizeof(*ir->items));
    }
    for (size_t i = 0; i < ir->nitems; i++)
        parse_one(ir, &ir->items[i], ir->batch ? &batch : NULL);
    hc_buf_free(&ir->body); /* the events hold copies of what they need */
    if (!ir->batch && ir->items[0].status) {
        answer_all(ir);
        return;
    }
    resolve_sites(ir);
}

static void on_body(hc_http_req_t *req, const char *data, size_t len, int status, void *arg)
{
    ing_req_t *ir = arg;
    (void)req;
    if (status == 0) {
        if (!ir->too_large && hc_buf_append(&ir->body, data, len) < 0) {
            ir->too_large = 1;
            hc_buf_free(&ir->body);
            ir_fail(ir, 413, "payload-too-large", "Payload too large", "too-large");
        }
        return;
    }
    if (status < 0 && status != -ECONNRESET && ir->req) {
        /* the server answered itself (413, or 400 for broken framing); a reset is
         * followed by the close callback instead */
        hc_http_req_on_close(ir->req, NULL, NULL);
        ir->req = NULL;
        ir_unlist(ir);
        ir_unref(ir);
    }
    ir->refs++; /* the body's hold goes below, after the work it starts */
    if (status == 1 && !ir->too_large && ir->req)
        on_body_done(ir);
    ir_unref(ir);
    ir_unref(ir);
}

static void h_collect(hc_http_req_t *req, analytics_t *an, int batch)
{
    struct analytics_ingest *ing = an->ingest;
    if (an->stopping) {
        analytics_reject(an, "unavailable");
        analytics_respond_error(req, 503, "service-unavailable", "Service unavailable");
        return;
    }
    size_t limit = batch ? BATCH_BODY_MAX : ANALYTICS_BODY_MAX;
    if (req->content_length > (int64_t)limit) {
        analytics_reject(an, "too-large");
        analytics_respond_error(req, 413, "payload-too-large", "Payload too large");
        return;
    }
    /* malloc and an initializer, not calloc: glibc's calloc (before 2.41) skips the
     * thread's cache of freed chunks and takes the arena lock, once per send */
    ing_req_t *ir = hc_malloc(sizeof(*ir));
    *ir = (ing_req_t){
        .ing = ing,
        .rowset.an = an,
        .req = req,
        .batch = batch,
        .refs = 2, /* the request and the body */
        .start_ms = mono_ms(),
        .in_list = 1,
        .prev = ing->tail,
    };
    hc_buf_init(&ir->body, limit);
    *(ing->tail ? &ing->tail->next : &ing->head) = ir;
    ing->tail = ir;
    tick_update(ing);
    hc_http_req_on_close(req, on_gone, ir);
    if (hc_http_req_read_body(req, on_body, ir)) {
        ir_fail(ir, 400, "bad-request", "Bad request", "bad-request");
        ir_unref(ir);
    }
}

static void h_send(hc_http_req_t *req, void *arg)
{
    h_collect(req, arg, 0);
}

static void h_batch(hc_http_req_t *req, void *arg)
{
    h_collect(req, arg, 1);
}

/* ---- the module ---- */

int analytics_ingest_open(analytics_t *an, const char *collect_alias)
{
    struct analytics_ingest *ing = hc_calloc(1, sizeof(*ing));
    hc_config_t *cfg = an->ctx->config;
    long long qmax = 10000, wait = 10000;
    char err[256];
    if (hc_config_get_int(cfg, "queue-max", &qmax, err, sizeof(err)) ||
        hc_config_get_duration_ms(cfg, "wait-max", &wait, err, sizeof(err)) || wait <= 0) {
        hc_log(HC_LOG_ERROR, "analytics: bad ingest option", HC_LS("error", err), NULL);
        hc_free(ing);
        return -EINVAL;
    }
    ing->an = an;
    ing->toks = hc_calloc(TOKEN_SLOTS, sizeof(*ing->toks));
    ing->signed_toks = hc_calloc(SIGNED_SLOTS, sizeof(*ing->signed_toks));
    ing->stored = hc_calloc(STORED_SLOTS, sizeof(*ing->stored));
    ing->ids = analytics_id_memo_new(ID_MEMO_SLOTS);
    if (RAND_bytes((unsigned char *)&ing->id_rng, sizeof(ing->id_rng)) != 1)
        abort();
    ing->id_ms = an->id_floor_ms; /* even with the clock set back, ids stay above the floor */
    ing->waiting_max = qmax > 0 ? (size_t)qmax : 10000;
    ing->wait_ms = (uint64_t)wait;
    uv_timer_init(an->loop, &ing->tick);
    ing->tick.data = ing;
    an->ingest = ing;
    int rc = 0;
    rc |= hc_router_add(an->router, "POST", "/api/send", h_send, an, ROUTE_BODY_MAX);
    rc |= hc_router_add(an->router, "POST", "/api/batch", h_batch, an, ROUTE_BODY_MAX);
    if (collect_alias && *collect_alias) {
        if (collect_alias[0] != '/') {
            hc_log(HC_LOG_ERROR, "COLLECT_API_ENDPOINT must start with /", NULL);
            return -EINVAL;
        }
        rc |= hc_router_add(an->router, "POST", collect_alias, h_send, an, ROUTE_BODY_MAX);
    }
    return rc ? -EINVAL : 0;
}

size_t analytics_ingest_waiting(const analytics_t *an)
{
    return an->ingest ? an->ingest->nwaiting : 0;
}

void analytics_ingest_drain(analytics_t *an, void (*done)(void *arg), void *arg)
{
    struct analytics_ingest *ing = an->ingest;
    ing->drained = done;
    ing->drained_arg = arg;
    check_drained(ing);
}

static void on_tick_closed(uv_handle_t *h)
{
    struct analytics_ingest *ing = h->data;
    while (ing->nspare)
        hc_free(ing->spare[--ing->nspare]);
    hc_free(ing->toks);
    hc_free(ing->signed_toks);
    hc_free(ing->stored);
    analytics_id_memo_free(ing->ids);
    hc_free(ing);
}

void analytics_ingest_close(analytics_t *an)
{
    struct analytics_ingest *ing = an->ingest;
    if (!ing)
        return;
    an->ingest = NULL;
    ing->drained = NULL;
    uv_close((uv_handle_t *)&ing->tick, on_tick_closed);
}
