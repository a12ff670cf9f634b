/* hearth's entry point: dispatches `hearth <command>` to a service from src/services.c,
 * or to `up` (every service in one process), `check` and `version`. Owns the main loop,
 * the signals that stop and reload it, and the start/stop order of services. */
#include "core/hc_alloc.h"
#include "core/hc_config.h"
#include "core/hc_log.h"
#include "core/hc_runtime.h"
#include "core/hc_service.h"
#include "hearth_check.h"
#include "services.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { DRAIN_DEADLINE_MS = 10000 };

/* One run of the process: the services started, in start order. */
typedef struct run {
    uv_loop_t *loop;
    hc_service_ctx_t *ctx;
    size_t n;
    size_t running; /* started and not yet stopped */
    int stopping;   /* a stop signal came */
    int exit_code;
    const char *state_dir; /* `up` only: where hearth.json goes */
} run_t;

static const hc_option_t up_options[] = {
    {"data", "HEARTH_DATA", "./var", "directory for embedded databases, secrets and state", 0},
    HC_OPTION_END,
};

static void usage(FILE *out)
{
    fprintf(out, "usage: hearth <command> [options]\n\n"
                 "hearth runs a platform's shared services (ingress proxy, certificates, web\n"
                 "analytics, SIP capture) as one lean binary.\n\ncommands:\n");
    fprintf(out, "  %-10s %s\n", "up", "every service in one process, embedded defaults");
    for (const hc_service_t *const *s = hearth_services; *s; s++)
        fprintf(out, "  %-10s %s\n", (*s)->name, (*s)->summary);
    fprintf(out, "  %-10s %s\n", "check", "probe a running hearth; exit 0 when every service is healthy");
    fprintf(out, "  %-10s %s\n", "version", "print the version");
    fprintf(out, "\n`hearth <command> --help` describes each command's options.\n");
}

static void on_service_stopped(hc_service_ctx_t *ctx);

/* The proxy is the door of `hearth up`: it stops first, so that requests it holds still
 * reach the services behind it (which would otherwise take their routes away and stop
 * listening in the middle of them), and the others once it has drained. */
static int is_door(const hc_service_ctx_t *ctx)
{
    return !strcmp(ctx->service->name, "proxy");
}

/* Stops, in reverse start order, the running services that are (door) or are not the
 * door; each drains in parallel up to the deadline. Returns how many it stopped. */
static size_t stop_wave(run_t *run, int door)
{
    size_t n = 0;
    for (size_t i = run->n; i-- > 0;)
        if (run->ctx[i].state && is_door(&run->ctx[i]) == door) {
            run->ctx[i].service->stop(&run->ctx[i], DRAIN_DEADLINE_MS, on_service_stopped);
            n++;
        }
    return n;
}

static void on_service_stopped(hc_service_ctx_t *ctx)
{
    run_t *run = ctx->loop->data;
    hc_log(HC_LOG_INFO, "service stopped", HC_LS("service", ctx->service->name), NULL);
    if (--run->running == 0)
        hc_signals_stop(); /* the last handle of ours: the loop can end */
    else if (run->stopping && is_door(ctx))
        stop_wave(run, 0);
}

static void on_stop(void *arg)
{
    run_t *run = arg;
    if (run->running == 0) {
        hc_signals_stop();
        return;
    }
    run->stopping = 1;
    if (!stop_wave(run, 1))
        stop_wave(run, 0);
}

static void on_reload(void *arg)
{
    run_t *run = arg;
    for (size_t i = 0; i < run->n; i++) {
        const hc_service_t *s = run->ctx[i].service;
        if (!s->reload || !run->ctx[i].state)
            continue;
        int rc = s->reload(&run->ctx[i]);
        if (rc)
            hc_log(HC_LOG_ERROR, "reload failed", HC_LS("service", s->name),
                   HC_LS("error", strerror(-rc)), NULL);
        else
            hc_log(HC_LOG_INFO, "reloaded", HC_LS("service", s->name), NULL);
    }
}

/* Resolves a service's options from argv and the environment. Returns 0, 1 after
 * printing --help, or -EINVAL after printing the error. */
static int config_load(hc_config_t *cfg, const hc_service_t *s, int argc, char **argv)
{
    char err[512];
    int rc = hc_config_parse_args(cfg, argc, argv, err, sizeof(err));
    if (rc == 1) {
        hc_config_help(cfg, stdout, s->usage, s->summary);
        return 1;
    }
    size_t nargs = 0;
    char *const *args = rc ? NULL : hc_config_args(cfg, &nargs);
    if (nargs) { /* no service takes one: a word that was meant as a flag's value, say */
        snprintf(err, sizeof(err), "unexpected argument %s (every option is a --flag)", args[0]);
        rc = -EINVAL;
    }
    if (!rc)
        rc = hc_config_load_env(cfg, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "hearth %s: %s\n(see `hearth %s --help`)\n", s->name, err, s->name);
        return -EINVAL;
    }
    return 0;
}

/* Writes DIR/hearth.json: what runs where, for `hearth check` and people. */
static void write_state(const run_t *run, const char *dir)
{
    json_t *services = json_array();
    for (size_t i = 0; i < run->n; i++)
        json_array_append_new(services, json_pack("{s:s, s:s, s:s}", "name",
                                                  run->ctx[i].service->name, "url", run->ctx[i].url,
                                                  "health", run->ctx[i].health_url));
    json_t *state = json_pack("{s:s, s:i, s:o}", "version", HEARTH_VERSION, "pid", (int)getpid(),
                              "services", services);
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/hearth.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (json_dump_file(state, tmp, JSON_INDENT(2)) || rename(tmp, path))
        hc_log(HC_LOG_WARN, "cannot write state file", HC_LS("path", path),
               HC_LS("error", strerror(errno)), NULL);
    json_decref(state);
}

/* Tells the person who typed `hearth up` where everything is. */
static void print_banner(const run_t *run)
{
    printf("\nhearth %s is up (data in %s)\n\n", HEARTH_VERSION, run->state_dir);
    for (size_t i = 0; i < run->n; i++) {
        const hc_service_ctx_t *ctx = &run->ctx[i];
        printf("  %-10s %s\n", ctx->service->name, ctx->url);
        if (ctx->note[0])
            printf("  %-10s %s\n", "", ctx->note);
    }
    if (!run->n)
        printf("  no services are built into this hearth yet\n");
    printf("\n`hearth check` probes them all; Ctrl-C stops.\n\n");
    fflush(stdout);
}

/* Starts every context in run; on a failure stops those already started. */
static int run_services(run_t *run)
{
    uv_loop_t *loop = run->loop;
    loop->data = run;
    hc_signals_start(loop, on_stop, on_reload, run);
    for (size_t i = 0; i < run->n; i++) {
        hc_service_ctx_t *ctx = &run->ctx[i];
        int rc = ctx->service->start(ctx);
        if (rc) {
            hc_log(HC_LOG_ERROR, "service failed to start", HC_LS("service", ctx->service->name),
                   HC_LS("error", strerror(-rc)), NULL);
            run->exit_code = 1;
            on_stop(run);
            break;
        }
        run->running++;
        hc_log(HC_LOG_INFO, "service started", HC_LS("service", ctx->service->name),
               HC_LS("url", ctx->url), NULL);
    }
    if (run->exit_code == 0 && run->state_dir) {
        write_state(run, run->state_dir);
        print_banner(run);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    return run->exit_code;
}

static int cmd_service(const hc_service_t *s, int argc, char **argv)
{
    hc_config_t *cfg = hc_config_new(s->options);
    int rc = config_load(cfg, s, argc, argv);
    if (rc) {
        hc_config_free(cfg);
        return rc == 1 ? 0 : 2;
    }
    uv_loop_t *loop = uv_default_loop();
    hc_service_ctx_t ctx = {.service = s, .loop = loop, .config = cfg, .data_dir = "."};
    run_t run = {.loop = loop, .ctx = &ctx, .n = 1};
    rc = run_services(&run);
    hc_config_free(cfg);
    uv_loop_close(loop);
    return rc;
}

static int cmd_up(int argc, char **argv)
{
    static const hc_service_t up = {.name = "up",
                                    .summary = "every service in one process, embedded defaults",
                                    .usage = "hearth up [--data DIR]",
                                    .options = up_options};
    hc_config_t *cfg = hc_config_new(up_options);
    int rc = config_load(cfg, &up, argc, argv);
    if (rc) {
        hc_config_free(cfg);
        return rc == 1 ? 0 : 2;
    }
    const char *dir = hc_config_get(cfg, "data");
    if (mkdir(dir, 0700) && errno != EEXIST) {
        fprintf(stderr, "hearth up: cannot create %s: %s\n", dir, strerror(errno));
        hc_config_free(cfg);
        return 1;
    }

    size_t n = 0;
    while (hearth_services[n])
        n++;
    uv_loop_t *loop = uv_default_loop();
    run_t run = {.loop = loop,
                 .ctx = hc_calloc(n ? n : 1, sizeof(hc_service_ctx_t)),
                 .n = n,
                 .state_dir = dir};
    for (size_t i = 0; i < n; i++) {
        hc_service_ctx_t *ctx = &run.ctx[i];
        ctx->service = hearth_services[i];
        ctx->loop = loop;
        ctx->data_dir = dir;
        ctx->in_up = 1;
        ctx->config = hc_config_new(ctx->service->options);
        char err[512];
        if (hc_config_load_env(ctx->config, err, sizeof(err))) {
            fprintf(stderr, "hearth up: %s: %s\n", ctx->service->name, err);
            run.n = i + 1;
            run.exit_code = 2;
            goto out;
        }
    }
    hc_log(HC_LOG_INFO, "hearth up", HC_LS("version", HEARTH_VERSION), HC_LS("data", dir),
           HC_LI("services", n), NULL);
    run.exit_code = run_services(&run);
out:
    for (size_t i = 0; i < run.n; i++)
        hc_config_free(run.ctx[i].config);
    hc_free(run.ctx);
    hc_config_free(cfg);
    uv_loop_close(loop);
    return run.exit_code;
}

int main(int argc, char **argv)
{
    hc_log_setup(HC_LOG_INFO, HC_LOG_FORMAT_AUTO);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("hearth %s\n", HEARTH_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "up"))
        return cmd_up(argc - 2, argv + 2);
    if (!strcmp(cmd, "check"))
        return hearth_check_main(argc - 2, argv + 2);
    const hc_service_t *s = hearth_service_find(cmd);
    if (s)
        return cmd_service(s, argc - 2, argv + 2);
    fprintf(stderr, "hearth: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
