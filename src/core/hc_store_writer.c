/* The write queue and its single writer thread (group commit). Callers enqueue units on
 * the loop thread, which wakes the writer once per loop iteration, before it blocks for
 * I/O (hc_store.c on_kick); the writer takes everything queued (up to batch_max_stmts), has the
 * backend run it as one transaction, and hands finished units back to the loop through
 * the store's uv_async, where their callbacks fire. A database failure keeps the units
 * queued and retries with backoff, so an acknowledged write is never lost. */
#include "core/hc_store_impl.h"
#include "core/hc_log.h"

#include <errno.h>
#include <string.h>

enum { BACKOFF_FIRST_MS = 50, BACKOFF_MAX_MS = 5000 };

void st_unit_free(st_unit_t *u)
{
    for (size_t i = 0; !u->packed && u->stmts && i < u->nstmts; i++)
        st_stmt_clear(&u->stmts[i]);
    st_free(u->stmts);
    st_values_clear(u->rows, u->nrows * u->ncols);
    st_free(u->rows);
    st_free(u->sql);
    st_free(u->errmsg);
    st_free(u);
}

int st_enqueue(hc_store_t *st, st_unit_t *u)
{
    int rc = 0;
    uv_mutex_lock(&st->lock);
    if (st->closing)
        rc = -ESHUTDOWN;
    else if (st->q_units + 1 > st->o.queue_max_units ||
             st->q_bytes + u->bytes > st->o.queue_max_bytes)
        rc = -EAGAIN;
    if (!rc) {
        *st->tail = u;
        st->tail = &u->next;
        st->q_units++;
        st->q_bytes += u->bytes;
        st->kick_pending = 1; /* the writer is woken before the loop next blocks */
    }
    uv_mutex_unlock(&st->lock);
    if (rc)
        st_unit_free(u);
    return rc;
}

/* Loop thread: runs the callbacks of every finished unit. Their queue room is released
 * first, so a callback may enqueue again. */
void st_deliver(hc_store_t *st)
{
    uv_mutex_lock(&st->lock);
    st_unit_t *list = st->done_head;
    st->done_head = NULL;
    st->done_tail = &st->done_head;
    for (st_unit_t *u = list; u; u = u->next) {
        st->q_units--;
        st->q_bytes -= u->bytes;
        if (u->status)
            st->stats.units_failed++;
        else
            st->stats.units_committed++;
    }
    uv_mutex_unlock(&st->lock);
    while (list) {
        st_unit_t *u = list;
        list = u->next;
        if (u->cb)
            u->cb(u->arg, u->status, u->status ? u->errmsg : NULL);
        st_unit_free(u);
    }
}

/* Moves the unit at *pp (in the queue) to the done list. Lock held. */
static void move_done(hc_store_t *st, st_unit_t **pp)
{
    st_unit_t *u = *pp;
    *pp = u->next;
    if (!u->next)
        st->tail = pp;
    u->next = NULL;
    *st->done_tail = u;
    st->done_tail = &u->next;
}

/* Takes the head of the queue, up to batch_max_stmts statements or rows, at least one
 * unit. Lock held; the units stay queued (only the writer removes them). */
static size_t batch_take(hc_store_t *st, st_unit_t **batch)
{
    size_t n = 0, stmts = 0;
    for (st_unit_t *u = st->head; u; u = u->next) {
        size_t cost = u->kind == ST_UNIT_COPY ? u->nrows : u->nstmts;
        if (n && stmts + cost > st->o.batch_max_stmts)
            break;
        u->status = 0;
        st_free(u->errmsg);
        u->errmsg = NULL;
        batch[n++] = u;
        stmts += cost;
        if (n == st->o.batch_max_stmts)
            break;
    }
    return n;
}

/* After the backend ran n units: finished ones leave the queue. Lock held. Returns how
 * many left. */
static size_t batch_settle(hc_store_t *st, size_t n)
{
    size_t moved = 0;
    st_unit_t **pp = &st->head;
    for (size_t i = 0; i < n && *pp; i++) {
        if ((*pp)->status != ST_RETRY) {
            move_done(st, pp);
            moved++;
        } else {
            pp = &(*pp)->next;
        }
    }
    return moved;
}

/* Close deadline passed with the database unreachable: every queued unit fails. */
static void fail_all(hc_store_t *st)
{
    while (st->head) {
        st_set_error(&st->head->status, &st->head->errmsg, -ETIMEDOUT,
                     "database unreachable when the store closed");
        move_done(st, &st->head);
    }
    st->tail = &st->head;
}

/* Lock held. Waits before the next attempt; while closing, gives up at the deadline. */
static void retry_wait(hc_store_t *st, unsigned *backoff_ms, uint64_t *deadline)
{
    st->stats.retries++;
    if (st->closing) {
        uint64_t now = uv_hrtime();
        if (!*deadline)
            *deadline = now + (uint64_t)st->o.close_timeout_ms * 1000000u;
        if (now >= *deadline) {
            fail_all(st);
            uv_async_send(&st->async);
            return;
        }
    }
    *backoff_ms = *backoff_ms ? *backoff_ms * 2 : BACKOFF_FIRST_MS;
    if (*backoff_ms > BACKOFF_MAX_MS)
        *backoff_ms = BACKOFF_MAX_MS;
    hc_log(HC_LOG_WARN, "store: database unavailable, writes kept queued",
           HC_LS("backend", st->be->name), HC_LI("retry_ms", *backoff_ms),
           HC_LI("queued", st->q_units), NULL);
    uv_cond_timedwait(&st->cond, &st->lock, (uint64_t)*backoff_ms * 1000000u);
}

static void writer_main(void *arg)
{
    hc_store_t *st = arg;
    st_unit_t **batch = st_malloc(st->o.batch_max_stmts * sizeof(*batch));
    unsigned backoff_ms = 0;
    uint64_t deadline = 0;
    uv_mutex_lock(&st->lock);
    for (;;) {
        while (!st->head && !st->closing)
            uv_cond_wait(&st->cond, &st->lock);
        if (!st->head)
            break;
        size_t n = batch_take(st, batch);
        uv_mutex_unlock(&st->lock);

        uv_mutex_lock(&st->wlock);
        int rc = st->be->write(st, batch, n);
        uv_mutex_unlock(&st->wlock);

        uv_mutex_lock(&st->lock);
        if (rc >= 0)
            st->stats.transactions += (uint64_t)rc;
        if (rc < 0 || !batch_settle(st, n)) {
            retry_wait(st, &backoff_ms, &deadline);
            continue;
        }
        backoff_ms = 0;
        deadline = 0;
        uv_async_send(&st->async);
    }
    st->writer_done = 1;
    uv_mutex_unlock(&st->lock);
    uv_async_send(&st->async);
    st_free(batch);
}

int st_writer_start(hc_store_t *st)
{
    int rc = uv_thread_create(&st->writer, writer_main, st);
    if (rc)
        return rc;
    st->writer_started = 1;
    return 0;
}
