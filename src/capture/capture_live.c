/* GET /api/live: a server-sent event "call" (a summary as capture_api_call_json writes
 * it) for each Call-ID seen for the first time. A slow reader never makes the server
 * buffer more than one high-water mark: events are skipped (and the count told) until
 * its output drained. */
#include "capture/capture_int.h"

#include "core/hc_alloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define LIVE_MAX 64 /* streams at once */

typedef struct live_client {
    hc_http_req_t *req;
    struct live_client *next;
    int congested;    /* output above the high-water mark: events skipped until it drains */
    uint64_t skipped; /* events a slow client missed, told in a comment once it drains */
} live_client_t;

struct capture_live {
    live_client_t *clients;
    size_t n;
};

static void live_remove(capture_svc_t *svc, live_client_t *c)
{
    for (live_client_t **l = &svc->live->clients; *l; l = &(*l)->next)
        if (*l == c) {
            *l = c->next;
            svc->live->n--;
            break;
        }
    hc_free(c);
}

static void on_live_drain(hc_http_req_t *req, void *arg)
{
    live_client_t *c = arg;
    char note[64];
    c->congested = 0;
    snprintf(note, sizeof(note), "%llu calls skipped while this stream was slow",
             (unsigned long long)c->skipped);
    c->skipped = 0;
    hc_http_sse_comment(req, note);
}

static void on_live_gone(hc_http_req_t *req, void *arg)
{
    live_client_t *c = arg;
    capture_svc_t *svc = req->user;
    live_remove(svc, c);
}

void capture_live_handle(hc_http_req_t *req, void *arg)
{
    capture_svc_t *svc = arg;
    if (!capture_api_guard(svc, req))
        return;
    if (svc->stopping || svc->live->n >= LIVE_MAX || hc_http_sse_start(req, 15000) != 0) {
        hc_http_respond_error(req, 503, svc->stopping ? "stopping" : "too many live streams");
        return;
    }
    live_client_t *c = hc_calloc(1, sizeof(*c));
    c->req = req;
    c->next = svc->live->clients;
    svc->live->clients = c;
    svc->live->n++;
    req->user = svc;
    hc_http_req_on_close(req, on_live_gone, c);
    hc_http_sse_comment(req, "hearth capture live calls");
}

void capture_live_call(capture_svc_t *svc, const capture_call_summary_t *call)
{
    if (!svc->live || !svc->live->clients)
        return;
    json_t *j = capture_api_call_json(call);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    for (live_client_t *c = svc->live->clients; c && s; c = c->next) {
        if (c->congested) {
            c->skipped++;
            continue;
        }
        if (hc_http_sse_send(c->req, "call", s, NULL) == HC_HTTP_WAIT) {
            c->congested = 1; /* a slow reader never holds more than the server's buffer */
            hc_http_res_on_drain(c->req, on_live_drain, c);
        }
    }
    free(s); /* jansson's allocation */
}

void capture_live_init(capture_svc_t *svc)
{
    svc->live = hc_calloc(1, sizeof(*svc->live));
}

void capture_live_end(capture_svc_t *svc)
{
    while (svc->live && svc->live->clients) {
        live_client_t *c = svc->live->clients;
        hc_http_req_t *req = c->req;
        hc_http_req_on_close(req, NULL, NULL);
        hc_http_res_on_drain(req, NULL, NULL); /* a congested stream drains after c is gone */
        live_remove(svc, c);
        hc_http_res_end(req);
    }
}

void capture_live_free(capture_svc_t *svc)
{
    capture_live_end(svc);
    hc_free(svc->live);
    svc->live = NULL;
}
