/* The PostgreSQL read pool of hc_store: a few non-blocking libpq connections driven from
 * the loop (PQconnectStart/PQconnectPoll, PQsendQueryParams, uv_poll on PQsocket). A read
 * takes an idle connection, opens one in an empty slot, or waits in order for one. */
#include "core/hc_log.h"
#include "core/hc_store_impl.h"

#include <errno.h>
#include <libpq-fe.h>

typedef struct pg_poll {
    uv_poll_t h;
    hc_store_t *st;
    struct pg_slot *slot;
    int fd;
} pg_poll_t;

typedef struct pg_slot {
    hc_store_t *st;
    PGconn *conn;    /* NULL: empty slot */
    pg_poll_t *poll; /* watches PQsocket(conn) */
    int connecting;
    int got_result; /* the running read has its first result */
    st_query_t *q;  /* the read running on this connection (or waiting for it to open) */
} pg_slot_t;

static void on_poll(uv_poll_t *h, int status, int events);

void pg_pool_init(hc_store_t *st)
{
    pg_data_t *d = st->be_data;
    d->nslots = st->o.read_connections;
    d->slots = st_calloc(d->nslots, sizeof(*d->slots));
    for (unsigned i = 0; i < d->nslots; i++)
        d->slots[i].st = st;
    d->wait_tail = &d->wait_head;
}

void pg_pool_free(hc_store_t *st)
{
    pg_data_t *d = st->be_data;
    st_free(d->slots);
    d->slots = NULL;
}

static void on_poll_closed(uv_handle_t *h)
{
    pg_poll_t *p = h->data;
    hc_store_t *st = p->st;
    st_free(p);
    st_handle_unref(st);
}

static void poll_drop(pg_slot_t *s)
{
    if (!s->poll)
        return;
    uv_poll_stop(&s->poll->h);
    uv_close((uv_handle_t *)&s->poll->h, on_poll_closed);
    s->poll = NULL;
}

/* Closes the slot's connection; the poll handle goes first, before its socket. */
static void slot_drop(pg_slot_t *s)
{
    poll_drop(s);
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    s->connecting = 0;
}

/* Watches the connection's socket for events; the socket may change while connecting. */
static int slot_watch(pg_slot_t *s, int events)
{
    int fd = PQsocket(s->conn);
    if (fd < 0)
        return -EIO;
    if (s->poll && s->poll->fd != fd)
        poll_drop(s);
    if (!s->poll) {
        pg_poll_t *p = st_calloc(1, sizeof(*p));
        if (uv_poll_init_socket(s->st->loop, &p->h, fd)) {
            st_free(p);
            return -EIO;
        }
        p->h.data = p;
        p->st = s->st;
        p->slot = s;
        p->fd = fd;
        st_handle_ref(s->st);
        s->poll = p;
    }
    return uv_poll_start(&s->poll->h, events, on_poll) ? -EIO : 0;
}

static int slot_send(pg_slot_t *s)
{
    st_query_t *q = s->q;
    pg_params_t pp;
    pg_params_build(&pp, q->stmt.params, q->stmt.nparams);
    int ok = PQsendQueryParams(s->conn, q->stmt.sql, pp.n, pp.types, pp.values, pp.lengths,
                               pp.formats, q->binary);
    pg_params_free(&pp);
    s->got_result = 0;
    int f = ok ? PQflush(s->conn) : -1;
    if (f < 0)
        return -EIO;
    return slot_watch(s, f ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

static int slot_connect(pg_slot_t *s)
{
    s->conn = pg_connect(s->st, 1);
    if (PQstatus(s->conn) == CONNECTION_BAD || PQsetnonblocking(s->conn, 1))
        return -EIO;
    s->connecting = 1;
    return slot_watch(s, UV_WRITABLE);
}

/* Starts q on s: sends on the open connection or opens one. When that fails at once,
 * q's callback is deferred to the next loop turn (never from inside hc_store_query). */
static void slot_begin(pg_slot_t *s, st_query_t *q)
{
    s->q = q;
    if (!(s->conn ? slot_send(s) : slot_connect(s)))
        return;
    st_set_error(&q->status, &q->errmsg, -EIO,
                 s->conn ? PQerrorMessage(s->conn) : "cannot reach PostgreSQL");
    s->q = NULL;
    slot_drop(s);
    st_query_defer(q);
}

/* Gives a free slot the oldest waiting read. */
static void slot_next(pg_slot_t *s)
{
    pg_data_t *d = s->st->be_data;
    while (!s->q && d->wait_head) {
        st_query_t *q = d->wait_head;
        d->wait_head = q->next;
        if (!d->wait_head)
            d->wait_tail = &d->wait_head;
        q->next = NULL;
        slot_begin(s, q);
    }
}

/* The connection failed: its read fails with -EIO, the slot is emptied and reused. */
static void slot_fail(pg_slot_t *s)
{
    st_query_t *q = s->q;
    s->q = NULL;
    if (q)
        st_set_error(&q->status, &q->errmsg, -EIO, PQerrorMessage(s->conn));
    slot_drop(s);
    slot_next(s);
    if (q)
        st_query_finish(q);
}

/* Keeps the first result of the running read (one statement per read). */
static void result_take(pg_slot_t *s, const PGresult *r)
{
    st_query_t *q = s->q;
    if (s->got_result++)
        return;
    switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
        switch (pg_rows_collect(&q->rows, r, s->st->o.result_max_bytes)) {
        case 0:
            break;
        case -ENOTSUP:
            st_set_error(&q->status, &q->errmsg, -ENOTSUP, "column type not readable as binary");
            break;
        default:
            st_set_error(&q->status, &q->errmsg, -EFBIG, "result larger than result_max_bytes");
        }
        break;
    case PGRES_COMMAND_OK:
        st_rows_begin(&q->rows, 0, s->st->o.result_max_bytes);
        break;
    default: {
        int err = pg_result_error(r);
        const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        st_set_error(&q->status, &q->errmsg, err > 0 ? -EIO : err, m ? m : PQresultErrorMessage(r));
    }
    }
}

static void slot_done(pg_slot_t *s)
{
    st_query_t *q = s->q;
    s->q = NULL;
    if (!s->got_result)
        st_set_error(&q->status, &q->errmsg, -EIO, "no result");
    if (PQstatus(s->conn) != CONNECTION_OK || slot_watch(s, UV_READABLE))
        slot_drop(s);
    slot_next(s);
    st_query_finish(q);
}

static void slot_read(pg_slot_t *s)
{
    if (!PQconsumeInput(s->conn)) {
        slot_fail(s);
        return;
    }
    while (!PQisBusy(s->conn)) {
        PGresult *r = PQgetResult(s->conn);
        if (!r) {
            slot_done(s);
            return;
        }
        result_take(s, r);
        PQclear(r);
    }
}

static void slot_connect_step(pg_slot_t *s)
{
    int rc;
    switch (PQconnectPoll(s->conn)) {
    case PGRES_POLLING_OK:
        s->connecting = 0;
        rc = slot_send(s);
        break;
    case PGRES_POLLING_READING:
        rc = slot_watch(s, UV_READABLE);
        break;
    case PGRES_POLLING_WRITING:
        rc = slot_watch(s, UV_WRITABLE);
        break;
    default:
        rc = -EIO;
    }
    if (rc)
        slot_fail(s);
}

/* The socket can take more of the read's query: sends it; once all is out, only reading
 * remains. Returns 0, or -EIO when libpq cannot send (the poll would fire again at once). */
static int slot_flush(pg_slot_t *s)
{
    int rc = PQflush(s->conn);
    if (rc < 0)
        return -EIO;
    return rc == 0 && slot_watch(s, UV_READABLE) ? -EIO : 0;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    pg_slot_t *s = ((pg_poll_t *)h->data)->slot;
    if (status < 0) {
        slot_fail(s);
    } else if (s->connecting) {
        slot_connect_step(s);
    } else if (!s->q) {
        /* idle: a notice, or the server closed the connection */
        if (!PQconsumeInput(s->conn) || PQstatus(s->conn) != CONNECTION_OK)
            slot_drop(s);
    } else if ((events & UV_WRITABLE) && slot_flush(s)) {
        slot_fail(s);
    } else if (events & UV_READABLE) {
        slot_read(s);
    }
}

void pg_query(hc_store_t *st, st_query_t *q)
{
    pg_data_t *d = st->be_data;
    pg_slot_t *empty = NULL;
    for (unsigned i = 0; i < d->nslots; i++) {
        pg_slot_t *s = &d->slots[i];
        if (s->conn && !s->q && !s->connecting) {
            slot_begin(s, q);
            return;
        }
        if (!s->conn && !empty)
            empty = s;
    }
    if (empty) {
        slot_begin(empty, q);
        return;
    }
    *d->wait_tail = q;
    d->wait_tail = &q->next;
}

void pg_close_reads(hc_store_t *st)
{
    pg_data_t *d = st->be_data;
    for (unsigned i = 0; i < d->nslots; i++)
        slot_drop(&d->slots[i]);
}
