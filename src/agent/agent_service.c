/* The agent service (agent.h): heplify's flags and defaults (sipcapture/heplify main.go),
 * checked at start with a message naming what is wrong; the -prometheus listener
 * (/metrics, /api/heartbeat); start and the ordered stop (capture first, then the HEP
 * servers' queues drain, then HTTP). */
#include "agent/agent.h"
#include "agent/agent_int.h"

#include "core/hc_alloc.h"
#include "core/hc_err.h"
#include "core/hc_log.h"
#include "core/hc_runtime.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Single-dash names are heplify's (Go's flag package accepts -hs and --hs alike, and so
 * does hc_config); HC_OPT_SHORT makes --help spell them as heplify's users know them. */
static const hc_option_t agent_options[] = {
    {"i", "AGENT_INTERFACE", NULL,
     "interface to capture on, or any (default any; under `hearth up` only when set)",
     HC_OPT_SHORT},
    {"hs", "AGENT_HEP_SERVER", "127.0.0.1:9060",
     "HEP server(s) host:port[,host:port]; each gets every packet", HC_OPT_SHORT},
    {"m", "AGENT_MODE", "SIP",
     "capture mode: SIP (heplify's SIPRTCP, SIPLOG, SIPDNS are not supported)", HC_OPT_SHORT},
    {"pr", "AGENT_PORT_RANGE", "5060-5090", "SIP port range, UDP and TCP", HC_OPT_SHORT},
    {"dim", "AGENT_DISCARD_METHODS", NULL,
     "SIP methods to discard, matched against the CSeq method (e.g. OPTIONS,NOTIFY)", HC_OPT_SHORT},
    {"hi", "AGENT_CAPTURE_ID", "2002", "HEP capture id (node id)", HC_OPT_SHORT},
    {"hn", "AGENT_NODE_NAME", NULL, "HEP node name", HC_OPT_SHORT},
    {"hp", "AGENT_HEP_PASSWORD", NULL, "HEP auth key", HC_OPT_SECRET | HC_OPT_SHORT},
    {"nt", "AGENT_NETWORK", "udp", "HEP transport: udp or tcp", HC_OPT_SHORT},
    {"dd", "AGENT_DEDUP", "false", "send identical payloads seen within 400 ms once",
     HC_OPT_BOOL | HC_OPT_SHORT},
    {"t", "AGENT_CAPTURE_TYPE", "pcap", "capture type: pcap or af_packet (both use libpcap)",
     HC_OPT_SHORT},
    {"s", "AGENT_SNAPLEN", "65535", "snap length in bytes (heplify: 8192)", HC_OPT_SHORT},
    {"b", "AGENT_BUFFER_MB", "32", "kernel capture buffer in MB", HC_OPT_SHORT},
    {"prometheus", "AGENT_PROMETHEUS", ":8090", "address of /metrics and /api/heartbeat",
     HC_OPT_SHORT},
    HC_OPTION_END,
};

static int opt_fail(const char *msg)
{
    hc_log(HC_LOG_ERROR, "hearth agent: bad option", HC_LS("error", msg), NULL);
    fprintf(stderr, "hearth agent: %s\n", msg);
    return -EINVAL;
}

static int opt_range(hc_config_t *cfg, const char *name, long long lo, long long hi, long long *out)
{
    char err[256];
    if (hc_config_get_int(cfg, name, out, err, sizeof(err)) != 0)
        return opt_fail(err);
    if (*out < lo || *out > hi) {
        snprintf(err, sizeof(err), "-%s %lld is out of range (%lld-%lld)", name, *out, lo, hi);
        return opt_fail(err);
    }
    return 0;
}

static int opts_load(agent_t *a, hc_config_t *cfg)
{
    char err[512];
    long long v;
    const char *mode = hc_config_get(cfg, "m"), *nt = hc_config_get(cfg, "nt");
    const char *type = hc_config_get(cfg, "t");
    a->iface = hc_config_get(cfg, "i");
    if (!a->iface && !a->ctx->in_up)
        a->iface = "any";
    if (strcasecmp(mode, "SIP") != 0) {
        snprintf(err, sizeof(err),
                 "-m %.32s is not supported: hearth agent captures SIP only (-m SIP); RTCP, logs "
                 "and DNS are not captured",
                 mode);
        return opt_fail(err);
    }
    if (strcasecmp(nt, "udp") && strcasecmp(nt, "tcp")) {
        snprintf(err, sizeof(err), "-nt %.32s is not supported: use udp or tcp", nt);
        return opt_fail(err);
    }
    a->tcp = !strcasecmp(nt, "tcp");
    if (strcmp(type, "pcap") && strcmp(type, "af_packet")) {
        snprintf(err, sizeof(err), "-t %.32s is not supported: use pcap or af_packet", type);
        return opt_fail(err);
    }
    if (agent_portrange_parse(hc_config_get(cfg, "pr"), &a->port_lo, &a->port_hi, err,
                              sizeof(err)) ||
        agent_dim_parse(hc_config_get(cfg, "dim"), &a->dim, err, sizeof(err)) ||
        agent_send_parse(a, hc_config_get(cfg, "hs"), err, sizeof(err)) ||
        hc_config_get_bool(cfg, "dd", &a->dedup, err, sizeof(err)))
        return opt_fail(err);
    if (opt_range(cfg, "hi", 0, 0xFFFFFFFELL, &v))
        return -EINVAL;
    a->capture_id = (uint32_t)v;
    if (opt_range(cfg, "s", 256, 262144, &v))
        return -EINVAL;
    a->snaplen = (int)v;
    if (opt_range(cfg, "b", 1, 2048, &v))
        return -EINVAL;
    a->buffer_mb = (int)v;
    a->node_name = hc_config_get(cfg, "hn");
    a->auth_key = hc_config_get(cfg, "hp");
    if (a->node_name && strlen(a->node_name) > 255)
        return opt_fail("-hn is longer than 255 bytes");
    if (a->auth_key && strlen(a->auth_key) > 255)
        return opt_fail("-hp is longer than 255 bytes");
    const char *prom = hc_config_get(cfg, "prometheus");
    char local[64];
    if (a->ctx->in_up && prom && prom[0] == ':') { /* `hearth up`: an address without a host
                                                      is loopback, as the other services' */
        snprintf(local, sizeof(local), "127.0.0.1%.32s", prom);
        prom = local;
    }
    if (hc_addr_parse(prom, &a->metrics_sa) != 0) {
        snprintf(err, sizeof(err), "-prometheus \"%.64s\" is not an address (host:port or :port)",
                 hc_config_get(cfg, "prometheus"));
        return opt_fail(err);
    }
    return 0;
}

/* ---- metrics and HTTP ---- */

static void metrics_init(agent_t *a)
{
    static const char *const reason[] = {"reason", NULL};
    static const char *const drop_names[AGENT_NDROPS] = {
        "truncated",        "malformed",  "fragment_timeout", "fragment_evicted",
        "fragment_invalid", "tcp_gap",    "tcp_oversize",     "tcp_evicted",
        "too_large",        "queue_full", "send_failed",      "kernel",
    };
    static const char *const discard_names[AGENT_NDISCARDS] = {"method", "duplicate", "not_sip",
                                                               "tls", "fragment_orphan"};
    hc_metrics_t *r = a->metrics = hc_metrics_new(1);
    a->captured = hc_metrics_series(
        hc_metrics_counter(r, "hearth_agent_captured_total", "Frames libpcap delivered.", NULL),
        NULL);
    a->sip = hc_metrics_series(hc_metrics_counter(r, "hearth_agent_sip_messages_total",
                                                  "SIP messages found (UDP and TCP).", NULL),
                               NULL);
    a->reassembled =
        hc_metrics_series(hc_metrics_counter(r, "hearth_agent_tcp_reassembled_total",
                                             "SIP messages cut from TCP streams.", NULL),
                          NULL);
    a->defragmented =
        hc_metrics_series(hc_metrics_counter(r, "hearth_agent_defragmented_total",
                                             "Datagrams rebuilt from IP fragments.", NULL),
                          NULL);
    hc_metric_t *dropped =
        hc_metrics_counter(r, "hearth_agent_dropped_total",
                           "Captured SIP lost before reaching a HEP server, by reason.", reason);
    hc_metric_t *discarded =
        hc_metrics_counter(r, "hearth_agent_discarded_total",
                           "Packets or messages left out on purpose, by reason.", reason);
    for (int i = 0; i < AGENT_NDROPS; i++)
        a->dropped[i] = hc_metrics_series(dropped, (const char *[]){drop_names[i]});
    for (int i = 0; i < AGENT_NDISCARDS; i++)
        a->discarded[i] = hc_metrics_series(discarded, (const char *[]){discard_names[i]});
}

static void on_metrics(hc_http_req_t *req, void *arg)
{
    agent_t *a = arg;
    hc_buf_t out;
    hc_buf_init(&out, 4u << 20);
    agent_capture_sync(a);
    if (hc_metrics_render(a->metrics, &out) != 0)
        hc_http_respond_error(req, 500, "metrics too large");
    else
        hc_http_respond(req, 200, HC_METRICS_CONTENT_TYPE, out.base, out.len);
    hc_buf_free(&out);
}

static void on_heartbeat(hc_http_req_t *req, void *arg)
{
    agent_t *a = arg;
    int capturing = a->pcap && !a->capture_failed;
    int healthy = capturing || !a->iface;
    const char *iface = a->iface ? a->iface : "";
    hc_buf_t b;
    hc_buf_init(&b, 1024);
    hc_buf_printf(&b, "{\"ok\":%s,\"capturing\":%s,\"interface\":\"", healthy ? "true" : "false",
                  capturing ? "true" : "false");
    hc_buf_json_escape(&b, iface, strlen(iface) > 256 ? 256 : strlen(iface));
    hc_buf_puts(&b, "\"}\n");
    hc_http_respond(req, healthy ? 200 : 503, "application/json", b.base, b.len);
    hc_buf_free(&b);
}

static int http_start(agent_t *a)
{
    a->router = hc_router_new();
    hc_router_add(a->router, "GET", AGENT_API_METRICS, on_metrics, a, 0);
    hc_router_add(a->router, "GET", AGENT_API_HEARTBEAT, on_heartbeat, a, 0);
    hc_http_server_opts_t o = {.handler = hc_router_handle, .handler_arg = a->router};
    a->http = hc_http_server_new(a->loop, &o);
    int rc = hc_http_server_listen(a->http, (struct sockaddr *)&a->metrics_sa, 0);
    if (rc) {
        hc_log(HC_LOG_ERROR, "cannot listen (-prometheus)",
               HC_LS("address", hc_config_get(a->ctx->config, "prometheus")),
               HC_LS("error", strerror(-rc)), NULL);
        return rc;
    }
    char addr[96];
    hc_addr_format((struct sockaddr *)&a->metrics_sa, addr, sizeof(addr));
    const char *colon = strrchr(addr, ':');
    int port = hc_http_server_port(a->http);
    int any = !strncmp(addr, "0.0.0.0:", 8) || !strncmp(addr, "[::]:", 5);
    snprintf(a->ctx->url, sizeof(a->ctx->url), "http://%.*s:%d%s", any ? 9 : (int)(colon - addr),
             any ? "127.0.0.1" : addr, port, AGENT_API_METRICS);
    snprintf(a->ctx->health_url, sizeof(a->ctx->health_url), "http://%.*s:%d%s",
             any ? 9 : (int)(colon - addr), any ? "127.0.0.1" : addr, port, AGENT_API_HEARTBEAT);
    return 0;
}

/* ---- start and stop ---- */

static void agent_stop(hc_service_ctx_t *ctx, unsigned deadline_ms, hc_service_stopped_cb done);

static int agent_start(hc_service_ctx_t *ctx)
{
    agent_t *a = hc_calloc(1, sizeof(*a));
    int rc;
    a->ctx = ctx;
    a->loop = ctx->loop;
    ctx->state = a;
    if ((rc = opts_load(a, ctx->config)) != 0)
        goto fail;
    metrics_init(a);
    if ((rc = http_start(a)) != 0)
        goto fail;
    if (!a->iface) {
        snprintf(
            ctx->note, sizeof(ctx->note),
            "not capturing: set AGENT_INTERFACE=any (needs CAP_NET_RAW) to send SIP to capture");
        hc_log(HC_LOG_INFO, "agent idle: no interface given", NULL);
        return 0;
    }
    if ((rc = agent_send_start(a)) != 0 || (rc = agent_capture_start(a)) != 0)
        goto fail;
    hc_log(HC_LOG_INFO, "agent running", HC_LS("interface", a->iface),
           HC_LS("hep", hc_config_get(ctx->config, "hs")),
           HC_LS("transport", a->tcp ? "tcp" : "udp"), HC_LI("port_lo", a->port_lo),
           HC_LI("port_hi", a->port_hi), HC_LI("capture_id", a->capture_id),
           HC_LB("dedup", a->dedup), HC_LI("discard_methods", a->dim.n), NULL);
    return 0;
fail:
    agent_stop(ctx, 0, NULL);
    ctx->state = NULL; /* a is freed once its handles closed; no second stop may reach it */
    return rc ? rc : -EINVAL;
}

static void on_stop_timer_closed(uv_handle_t *h)
{
    agent_stop_step(h->data);
}

void agent_stop_step(agent_t *a)
{
    if (--a->stop_steps == 1 && a->stop_timer_open) { /* only the deadline timer is left */
        a->stop_timer_open = 0;
        uv_close((uv_handle_t *)&a->stop_timer, on_stop_timer_closed);
        return;
    }
    if (a->stop_steps)
        return;
    hc_service_ctx_t *ctx = a->ctx;
    hc_service_stopped_cb done = a->stopped;
    if (a->http)
        hc_http_server_free(a->http);
    hc_router_free(a->router);
    if (a->pcap)
        pcap_close(a->pcap);
    agent_defrag_free(a->defrag);
    agent_reasm_free(a->reasm);
    agent_dedup_free(a->dd);
    hc_metrics_free(a->metrics);
    hc_free(a);
    ctx->state = NULL;
    if (done)
        done(ctx);
}

/* Waits this long at stop for the capture ring's last block (a few block timeouts). */
#define AGENT_STOP_DRAIN_MS (3 * AGENT_CAPTURE_BLOCK_MS)

static void on_http_drained(hc_http_server_t *s, void *arg)
{
    (void)s;
    agent_stop_step(arg);
}

/* The deadline passed: whatever still flushes is closed now. */
static void on_deadline(uv_timer_t *t)
{
    agent_send_stop(t->data, 1);
}

/* The capture closes, the HEP servers flush (TCP) and close, HTTP drains; a deadline
 * timer closes whatever is still open when deadline_ms passes. */
static void stop_handles(agent_t *a, unsigned deadline_ms)
{
    unsigned before = a->stop_steps;
    a->stopping = 1;
    agent_capture_stop(a);
    agent_send_stop(a, 0);
    if (a->http) {
        a->stop_steps++;
        hc_http_server_drain(a->http, deadline_ms, on_http_drained, a);
    }
    if (a->stop_steps > before) {
        uv_timer_init(a->loop, &a->stop_timer);
        a->stop_timer.data = a;
        a->stop_timer_open = 1;
        a->stop_steps++;
        uv_timer_start(&a->stop_timer, on_deadline, deadline_ms, 0);
    }
}

static void on_drain_closed(uv_handle_t *h)
{
    agent_stop_step(h->data);
}

/* The ring's last block is ours now: what was captured before the stop is sent. */
static void on_drain(uv_timer_t *t)
{
    agent_t *a = t->data;
    agent_capture_drain(a);
    stop_handles(a,
                 a->deadline_ms > AGENT_STOP_DRAIN_MS ? a->deadline_ms - AGENT_STOP_DRAIN_MS : 0);
    uv_close((uv_handle_t *)t, on_drain_closed);
}

static void agent_stop(hc_service_ctx_t *ctx, unsigned deadline_ms, hc_service_stopped_cb done)
{
    agent_t *a = ctx->state;
    a->stopped = done;
    a->deadline_ms = deadline_ms;
    a->stop_steps = 1; /* released at the end of this function */
    if (agent_capture_draining(a) && deadline_ms > AGENT_STOP_DRAIN_MS) {
        /* Frames captured just before SIGTERM may sit in a ring block the kernel has not
         * handed over yet: keep capturing until it has, then stop. */
        uv_timer_init(a->loop, &a->drain_timer);
        a->drain_timer.data = a;
        a->stop_steps++;
        uv_timer_start(&a->drain_timer, on_drain, AGENT_STOP_DRAIN_MS, 0);
    } else {
        stop_handles(a, deadline_ms);
    }
    agent_stop_step(a);
}

const hc_service_t agent_service = {
    .name = "agent",
    .summary = "heplify-compatible capture agent: SIP from an interface to HEP servers",
    .usage = "hearth agent [-i any] [-hs 127.0.0.1:9060[,host:port]] [-m SIP] [-pr 5060-5090] "
             "[-dim OPTIONS,NOTIFY] [-hi 2002] [-hn NAME] [-hp KEY] [-nt udp|tcp] [-dd] "
             "[-prometheus :8090]",
    .options = agent_options,
    .start = agent_start,
    .stop = agent_stop,
    .reload = NULL,
};
