/* `hearth check`: probes each service of a running `hearth up` (from DIR/hearth.json) or
 * the URLs given, all at once on one loop through the core HTTP client, and prints one
 * row per probe: service | endpoint | status | latency | detail. */
#include "hearth_check.h"

#include "core/hc_alloc.h"
#include "core/hc_config.h"
#include "core/hc_http_client.h"
#include "core/hc_runtime.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

enum { DETAIL_MAX = 72 };

typedef struct probe {
    const char *service;
    const char *url;
    int status; /* HTTP status, or a negative errno */
    unsigned long long started_ms, latency_ms;
    char detail[DETAIL_MAX + 1];
} probe_t;

static const hc_option_t check_options[] = {
    {"data", "HEARTH_DATA", "./var", "the data directory of the `hearth up` to probe", 0},
    {"timeout", NULL, "5s", "how long each probe may take", 0},
    HC_OPTION_END,
};

/* Keeps the first line of text, printable characters only, as the row's detail. */
static void set_detail(probe_t *p, const char *text, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < DETAIL_MAX; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n' || c == '\r')
            break;
        p->detail[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    p->detail[n] = '\0';
}

static void on_done(hc_http_client_req_t *req, int status, void *ud)
{
    probe_t *p = ud;
    p->latency_ms = hc_now_ms() - p->started_ms;
    if (status) {
        p->status = status;
        const char *why = hc_http_client_req_error(req);
        set_detail(p, why, strlen(why));
        return;
    }
    p->status = hc_http_client_req_response(req)->status;
    size_t len;
    const char *body = hc_http_client_req_body(req, &len);
    set_detail(p, body, len);
}

/* Reads DIR/hearth.json into probes; returns their count or -1 after printing why. */
static int probes_from_state(const char *dir, probe_t **out, json_t **state)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/hearth.json", dir);
    json_error_t jerr;
    *state = json_load_file(path, 0, &jerr);
    if (!*state) {
        fprintf(stderr, "hearth check: no running `hearth up` found: cannot read %s (%s)\n"
                        "start one with `make run`, or pass URLs: hearth check URL...\n",
                path, jerr.text);
        return -1;
    }
    json_int_t pid = json_integer_value(json_object_get(*state, "pid"));
    if (pid > 0 && kill((pid_t)pid, 0) && errno == ESRCH)
        fprintf(stderr, "hearth check: warning: %s names pid %lld, which is not running\n",
                path, (long long)pid);
    json_t *services = json_object_get(*state, "services");
    size_t n = json_array_size(services);
    *out = hc_calloc(n ? n : 1, sizeof(probe_t));
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(services, i);
        (*out)[i].service = json_string_value(json_object_get(s, "name"));
        (*out)[i].url = json_string_value(json_object_get(s, "health"));
        if (!(*out)[i].service || !(*out)[i].url) {
            fprintf(stderr, "hearth check: %s: service %zu lacks name or health URL\n", path, i);
            return -1;
        }
    }
    return (int)n;
}

static void print_table(const probe_t *p, int n)
{
    printf("%-10s %-44s %-6s %8s  %s\n", "SERVICE", "ENDPOINT", "STATUS", "LATENCY", "DETAIL");
    for (int i = 0; i < n; i++) {
        char status[16];
        if (p[i].status > 0)
            snprintf(status, sizeof(status), "%d", p[i].status);
        else
            snprintf(status, sizeof(status), "FAIL");
        printf("%-10s %-44s %-6s %6llums  %s\n", p[i].service, p[i].url, status, p[i].latency_ms,
               p[i].detail);
    }
}

int hearth_check_main(int argc, char **argv)
{
    char err[512];
    int rc = 2, n;
    probe_t *probes = NULL;
    json_t *state = NULL;
    hc_http_client_t *client = NULL;
    hc_config_t *cfg = hc_config_new(check_options);

    int prc = hc_config_parse_args(cfg, argc, argv, err, sizeof(err));
    if (prc == 1) {
        hc_config_help(cfg, stdout, "hearth check [--data DIR] [--timeout DURATION] [URL...]",
                       "probe every service of a running hearth; exit 0 when all answer 2xx");
        rc = 0;
        goto out;
    }
    long long timeout_ms = 0;
    if (prc || hc_config_load_env(cfg, err, sizeof(err)) ||
        hc_config_get_duration_ms(cfg, "timeout", &timeout_ms, err, sizeof(err))) {
        fprintf(stderr, "hearth check: %s\n(see `hearth check --help`)\n", err);
        goto out;
    }

    size_t nargs;
    char *const *urls = hc_config_args(cfg, &nargs);
    if (nargs) {
        n = (int)nargs;
        probes = hc_calloc(nargs, sizeof(probe_t));
        for (size_t i = 0; i < nargs; i++) {
            probes[i].service = "-";
            probes[i].url = urls[i];
        }
    } else if ((n = probes_from_state(hc_config_get(cfg, "data"), &probes, &state)) < 0) {
        rc = 1;
        goto out;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    client = hc_http_client_new(&loop, &(hc_http_client_opts_t){0}, err, sizeof(err));
    if (!client) {
        fprintf(stderr, "hearth check: %s\n", err);
        uv_loop_close(&loop);
        goto out;
    }
    static const hc_http_client_req_cbs_t cbs = {.on_done = on_done};
    for (int i = 0; i < n; i++) {
        hc_http_client_req_opts_t o = {.url = probes[i].url,
                                .collect_max = 4096,
                                .connect_timeout_ms = (uint64_t)timeout_ms,
                                .total_timeout_ms = (uint64_t)timeout_ms,
                                .no_reuse = 1};
        probes[i].started_ms = hc_now_ms();
        if (hc_http_client_request(client, &o, &cbs, &probes[i], NULL)) {
            probes[i].status = -EINVAL;
            snprintf(probes[i].detail, sizeof(probes[i].detail), "not an http(s) URL");
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    hc_http_client_free(client);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);

    print_table(probes, n);
    int healthy = 0;
    for (int i = 0; i < n; i++)
        healthy += probes[i].status >= 200 && probes[i].status <= 299;
    printf("%s: %d of %d healthy\n", healthy == n ? "OK" : "FAIL", healthy, n);
    rc = healthy == n ? 0 : 1;
out:
    hc_free(probes);
    json_decref(state);
    hc_config_free(cfg);
    return rc;
}
