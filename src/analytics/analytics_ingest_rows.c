/* The rows of an accepted event as Umami writes them (session, website_event, event_data,
 * revenue, session_data for identify), built into a store unit for analytics_ingest.c:
 * statements with their parameters, and the heap pieces (ids, PostgreSQL timestamps)
 * those parameters point into, kept until the unit is enqueued (the store copies it). */
#include "analytics/analytics_int.h"

#include "core/hc_alloc.h"

#include <string.h>

enum { DATA_VALUE_MAX = 500 }; /* event_data.string_value VARCHAR(500) */

/* n bytes kept until the unit is freed, not zeroed: each user writes all it reads (calloc
 * would skip glibc's per-thread cache of freed chunks, several times per event). */
static void *u_alloc(analytics_rowset_t *u, size_t n)
{
    if (u->nallocs == u->capallocs) {
        u->capallocs = u->capallocs ? u->capallocs * 2 : 16;
        u->allocs = hc_realloc(u->allocs, u->capallocs * sizeof(*u->allocs));
    }
    return u->allocs[u->nallocs++] = hc_malloc(n);
}

/* Adds a statement; its n parameters are returned for the caller to fill, every one. */
static hc_store_value_t *add_stmt(analytics_rowset_t *u, const char *sql, size_t n)
{
    if (u->nstmts == u->capstmts) {
        u->capstmts = u->capstmts ? u->capstmts * 2 : 8;
        u->stmts = hc_realloc(u->stmts, u->capstmts * sizeof(*u->stmts));
    }
    hc_store_value_t *p = u_alloc(u, n * sizeof(*p));
    u->stmts[u->nstmts++] = (hc_store_stmt_t){sql, p, n, 1}; /* every caller passes an SQL_ array */
    return p;
}

/* Optional text: NULL when empty (Umami leaves absent fields NULL). */
static hc_store_value_t opt(const char *s)
{
    return s[0] ? hc_store_text(s) : hc_store_null();
}

/* Text cut to max bytes at a UTF-8 character boundary. */
static hc_store_value_t text_max(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return hc_store_textn(s, n);
}

/* A timestamp parameter: SQLite's integer ms, PostgreSQL's ISO text (kept in the unit). */
static hc_store_value_t ts(analytics_rowset_t *u, int64_t ms)
{
    if (!u->an->is_pg)
        return hc_store_int(ms);
    return analytics_ts_param(u->an, ms, u_alloc(u, 32));
}

static const char SQL_SESSION[] =
    "INSERT INTO session (session_id, website_id, browser, os, device, screen, language, country, "
    "region, city, distinct_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
    "$12) ON CONFLICT DO NOTHING";
static const char SQL_EVENT[] =
    "INSERT INTO website_event (event_id, website_id, session_id, visit_id, created_at, url_path, "
    "url_query, utm_source, utm_medium, utm_campaign, utm_content, utm_term, referrer_path, "
    "referrer_query, referrer_domain, page_title, gclid, fbclid, msclkid, ttclid, li_fat_id, "
    "twclid, event_type, event_name, tag, hostname) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)";
static const char SQL_EVENT_DATA[] =
    "INSERT INTO event_data (event_data_id, website_id, website_event_id, data_key, string_value, "
    "number_value, date_value, data_type, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
static const char SQL_REVENUE[] =
    "INSERT INTO revenue (revenue_id, website_id, session_id, event_id, event_name, currency, "
    "revenue, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
static const char SQL_SESSION_DATA_DEL[] =
    "DELETE FROM session_data WHERE session_id = $1 AND data_key = $2";
static const char SQL_SESSION_DATA[] =
    "INSERT INTO session_data (session_data_id, website_id, session_id, data_key, string_value, "
    "number_value, date_value, data_type, distinct_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, "
    "$7, $8, $9, $10)";
static const char SQL_SESSION_DISTINCT[] =
    "UPDATE session SET distinct_id = $2 WHERE session_id = $1";

static void build_session(analytics_rowset_t *u, const analytics_event_t *ev)
{
    hc_store_value_t *p = add_stmt(u, SQL_SESSION, 12);
    p[0] = hc_store_text(ev->session_id);
    p[1] = hc_store_text(ev->website_id);
    p[2] = opt(ev->browser);
    p[3] = opt(ev->os);
    p[4] = opt(ev->device);
    p[5] = opt(ev->screen);
    p[6] = opt(ev->language);
    p[7] = opt(ev->country);
    p[8] = opt(ev->region);
    p[9] = opt(ev->city);
    p[10] = opt(ev->distinct_id);
    p[11] = ts(u, ev->created_at_ms);
}

static void build_event(analytics_rowset_t *u, const analytics_event_t *ev)
{
    hc_store_value_t *p = add_stmt(u, SQL_EVENT, 26);
    p[0] = hc_store_text(ev->event_id);
    p[1] = hc_store_text(ev->website_id);
    p[2] = hc_store_text(ev->session_id);
    p[3] = hc_store_text(ev->visit_id);
    p[4] = ts(u, ev->created_at_ms);
    p[5] = hc_store_text(ev->url_path);
    p[6] = hc_store_text(ev->url_query);
    const char *const cols[] = {
        ev->utm_source,    ev->utm_medium,     ev->utm_campaign,    ev->utm_content, ev->utm_term,
        ev->referrer_path, ev->referrer_query, ev->referrer_domain, ev->page_title,  ev->gclid,
        ev->fbclid,        ev->msclkid,        ev->ttclid,          ev->li_fat_id,   ev->twclid};
    for (size_t i = 0; i < 15; i++)
        p[7 + i] = opt(cols[i]);
    p[22] = hc_store_int(ev->event_type);
    p[23] = opt(ev->event_name);
    p[24] = opt(ev->tag);
    p[25] = opt(ev->hostname);
}

/* The value columns shared by event_data and session_data rows: string, number, date. */
static void data_values(analytics_rowset_t *u, const analytics_data_row_t *r, hc_store_value_t *p)
{
    p[0] = r->string_value ? text_max(r->string_value, DATA_VALUE_MAX) : hc_store_null();
    p[1] = r->has_number ? hc_store_double(r->number_value) : hc_store_null();
    if (r->data_type == 4 && r->date_value[0]) {
        hc_store_value_t t = hc_store_text(r->date_value);
        p[2] = ts(u, analytics_ts_cell(&t));
    } else {
        p[2] = hc_store_null();
    }
}

static void build_data(analytics_rowset_t *u, const analytics_event_t *ev,
                       const analytics_data_row_t *rows, size_t nrows)
{
    int identify = ev->kind == ANALYTICS_SEND_IDENTIFY;
    for (size_t i = 0; i < nrows; i++) {
        const analytics_data_row_t *r = &rows[i];
        char *id = u_alloc(u, ANALYTICS_UUID_LEN + 1);
        analytics_uuid4(id);
        if (identify) {
            hc_store_value_t *d = add_stmt(u, SQL_SESSION_DATA_DEL, 2);
            d[0] = hc_store_text(ev->session_id);
            d[1] = hc_store_text(r->key);
        }
        hc_store_value_t *p =
            add_stmt(u, identify ? SQL_SESSION_DATA : SQL_EVENT_DATA, identify ? 10 : 9);
        p[0] = hc_store_text(id);
        p[1] = hc_store_text(ev->website_id);
        p[2] = hc_store_text(identify ? ev->session_id : ev->event_id);
        p[3] = hc_store_text(r->key);
        data_values(u, r, p + 4);
        p[7] = hc_store_int(r->data_type);
        if (identify) {
            p[8] = opt(ev->distinct_id);
            p[9] = ts(u, ev->created_at_ms);
        } else {
            p[8] = ts(u, ev->created_at_ms);
        }
    }
}

/* A revenue row for the event the parser found one in (data.revenue > 0, a number or a
 * numeric string as JavaScript's Number() reads it, with data.currency), as Umami's
 * revenue report reads it. */
static void build_revenue(analytics_rowset_t *u, const analytics_event_t *ev)
{
    if (!ev->has_revenue)
        return;
    char *id = u_alloc(u, ANALYTICS_UUID_LEN + 1);
    analytics_uuid4(id);
    hc_store_value_t *p = add_stmt(u, SQL_REVENUE, 8);
    p[0] = hc_store_text(id);
    p[1] = hc_store_text(ev->website_id);
    p[2] = hc_store_text(ev->session_id);
    p[3] = hc_store_text(ev->event_id);
    p[4] = hc_store_text(ev->event_name);
    p[5] = text_max(ev->currency, 10);
    p[6] = hc_store_double(ev->revenue);
    p[7] = ts(u, ev->created_at_ms);
}

void analytics_rowset_event(analytics_rowset_t *u, const analytics_event_t *ev, int new_session,
                            const analytics_data_row_t *rows, size_t nrows)
{
    if (new_session)
        build_session(u, ev);
    if (ev->kind == ANALYTICS_SEND_IDENTIFY) {
        if (ev->distinct_id[0]) {
            hc_store_value_t *p = add_stmt(u, SQL_SESSION_DISTINCT, 2);
            p[0] = hc_store_text(ev->session_id);
            p[1] = hc_store_text(ev->distinct_id);
        }
        build_data(u, ev, rows, nrows);
        return;
    }
    build_event(u, ev);
    if (ev->kind == ANALYTICS_SEND_EVENT && ev->data) {
        build_data(u, ev, rows, nrows);
        build_revenue(u, ev);
    }
}

void analytics_rowset_free(analytics_rowset_t *u)
{
    for (size_t i = 0; i < u->nallocs; i++)
        hc_free(u->allocs[i]);
    hc_free(u->allocs);
    hc_free(u->stmts);
    u->allocs = NULL;
    u->stmts = NULL;
    u->nallocs = u->capallocs = u->nstmts = u->capstmts = 0;
}
