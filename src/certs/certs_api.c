/* The status listener of hearth certs: GET /api/certificates (each Certificate's Ready
 * condition, validity, renewal time, last failure with its ACME problem and next retry),
 * /api/errors (manifest problems with file:line), /metrics (cert-manager's
 * certmanager_certificate_* families) and /healthz for `hearth check`. */
#include "certs/certs_int.h"

#include "core/hc_buf.h"
#include "core/hc_log.h"
#include "core/hc_metrics.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define API_MAX (8u << 20)

static const char *const label_names[] = {"name", "namespace", "issuer_name", "issuer_kind",
                                          "issuer_group", NULL};
static const char *const ready_labels[] = {"name", "namespace", "condition", "issuer_name",
                                           "issuer_kind", "issuer_group", NULL};

static void rfc3339(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void certs_api_metrics_update(const certs_state_t *st)
{
    hc_metrics_t *r = hc_metrics_default();
    if (!st->spec)
        return;
    const char *iname = st->spec->issuer_name, *ikind = st->spec->issuer_kind;
    hc_metric_t *exp = hc_metrics_gauge(r, "certmanager_certificate_expiration_timestamp_seconds",
                                        "The date after which the certificate expires, as a Unix timestamp.",
                                        label_names);
    hc_metric_t *ren = hc_metrics_gauge(r, "certmanager_certificate_renewal_timestamp_seconds",
                                        "The time when the certificate will be renewed, as a Unix timestamp.",
                                        label_names);
    hc_metric_t *rdy = hc_metrics_gauge(r, "certmanager_certificate_ready_status",
                                        "The ready status of the certificate.", ready_labels);
    const char *v[] = {st->name, st->ns, iname, ikind, "cert-manager.io"};
    hc_metrics_gauge_set(hc_metrics_series(exp, v), (double)st->not_after);
    hc_metrics_gauge_set(hc_metrics_series(ren, v), (double)st->renewal_time);
    static const char *const conds[] = {"True", "False", "Unknown"};
    const char *cur = st->ready ? "True" : (st->failures ? "False" : "Unknown");
    for (int i = 0; i < 3; i++) {
        const char *rv[] = {st->name, st->ns, conds[i], iname, ikind, "cert-manager.io"};
        hc_metrics_gauge_set(hc_metrics_series(rdy, rv), !strcmp(cur, conds[i]) ? 1.0 : 0.0);
    }
}

static json_t *state_json(const certs_state_t *st)
{
    const certs_cert_t *c = st->spec;
    char nb[32], na[32], rt[32], lf[32], nr[32];
    rfc3339(st->not_before, nb);
    rfc3339(st->not_after, na);
    rfc3339(st->renewal_time, rt);
    rfc3339(st->last_failure_time, lf);
    rfc3339(st->next_retry, nr);
    const char *reason = st->ready ? "Ready" : st->issuing ? "Issuing" : st->failures ? "Failed" : "Pending";
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "namespace", st->ns,
                          "name", st->name, "secretName", c->secret_name, "from", c->from,
                          "source", c->source, "ready", st->ready ? "True" : "False",
                          "issuerRef", "kind", c->issuer_kind, "name", c->issuer_name);
    json_object_set_new(o, "reason", json_string(reason));
    json_object_set_new(o, "issuing", json_boolean(st->issuing));
    json_t *names = json_array();
    for (size_t i = 0; i < c->ndns; i++)
        json_array_append_new(names, json_string(c->dns_names[i]));
    json_object_set_new(o, "dnsNames", names);
    if (st->not_after) {
        json_object_set_new(o, "notBefore", json_string(nb));
        json_object_set_new(o, "notAfter", json_string(na));
        json_object_set_new(o, "renewalTime", json_string(rt));
    }
    if (st->failures) {
        json_object_set_new(o, "failedIssuanceAttempts", json_integer(st->failures));
        json_object_set_new(o, "lastFailureTime", json_string(lf));
        json_object_set_new(o, "message", json_string(st->message));
        json_object_set_new(o, "problemType", json_string(st->problem));
        json_object_set_new(o, "nextRetry", json_string(nr));
    }
    return o;
}

static void respond_json(hc_http_req_t *req, json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    if (!s || strlen(s) > API_MAX) {
        free(s); /* jansson's allocation */
        hc_http_respond_error(req, 500, "status too large");
        return;
    }
    hc_http_respond(req, 200, "application/json", s, strlen(s));
    free(s); /* jansson's allocation */
}

static void on_certificates(hc_http_req_t *req, void *arg)
{
    certs_svc_t *svc = arg;
    json_t *arr = json_array();
    for (size_t i = 0; i < svc->nstates; i++)
        if (svc->states[i]->spec)
            json_array_append_new(arr, state_json(svc->states[i]));
    respond_json(req, arr);
}

static void on_errors(hc_http_req_t *req, void *arg)
{
    certs_svc_t *svc = arg;
    json_t *arr = json_array();
    for (size_t i = 0; svc->model && i < svc->model->nerrors; i++) {
        const certs_model_error_t *e = &svc->model->errors[i];
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "source", e->source,
                                             "kind", e->kind, "namespace", e->ns, "name",
                                             e->name, "message", e->message));
    }
    respond_json(req, arr);
}

static void on_metrics(hc_http_req_t *req, void *arg)
{
    hc_buf_t b;
    (void)arg;
    hc_buf_init(&b, API_MAX);
    static const char *const own[] = {"certmanager_", "process_", NULL}; /* the registry */
    hc_metrics_render_only(hc_metrics_default(), &b, own);               /* is shared under `up` */
    hc_http_respond(req, 200, HC_METRICS_CONTENT_TYPE, b.base ? b.base : "", b.len);
    hc_buf_free(&b);
}

/* Health for `hearth check`: 200 while serving, and a one-line summary of the
 * certificates (the first line is what the check's table shows), e.g.
 * "3 ready, 1 failing: default/api (next retry in 120s): <message>". */
static void on_health(hc_http_req_t *req, void *arg)
{
    certs_svc_t *svc = arg;
    if (svc->stopping) {
        hc_http_respond(req, 503, "text/plain", "stopping\n", 9);
        return;
    }
    size_t ready = 0, failing = 0;
    const certs_state_t *first = NULL;
    for (size_t i = 0; i < svc->nstates; i++) {
        const certs_state_t *st = svc->states[i];
        if (!st->spec)
            continue;
        ready += st->ready != 0;
        if (!st->ready && st->failures) {
            failing++;
            first = first ? first : st;
        }
    }
    char body[768];
    int n = snprintf(body, sizeof(body), "%zu ready, %zu failing", ready, failing);
    if (first)
        snprintf(body + n, sizeof(body) - (size_t)n, ": %s/%s (next retry in %llds): %s\n",
                 first->ns, first->name,
                 (long long)(first->next_retry > (int64_t)time(NULL) ? first->next_retry - time(NULL) : 0),
                 first->message);
    else
        snprintf(body + n, sizeof(body) - (size_t)n, "\n");
    hc_http_respond(req, 200, "text/plain", body, strlen(body));
}

int certs_api_start(certs_svc_t *svc)
{
    svc->router = hc_router_new();
    hc_router_add(svc->router, "GET", CERTS_API_CERTIFICATES, on_certificates, svc, 0);
    hc_router_add(svc->router, "GET", CERTS_API_ERRORS, on_errors, svc, 0);
    hc_router_add(svc->router, "GET", CERTS_API_METRICS, on_metrics, svc, 0);
    hc_router_add(svc->router, "GET", CERTS_API_HEALTH, on_health, svc, 0);
    hc_http_server_opts_t o = {.handler = hc_router_handle, .handler_arg = svc->router};
    svc->status_srv = hc_http_server_new(svc->loop, &o);
    return hc_http_server_listen(svc->status_srv, (struct sockaddr *)&svc->status_sa, 0);
}
