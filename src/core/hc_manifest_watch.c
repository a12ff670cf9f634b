/* Watching manifests on a libuv loop (see hc_manifest.h): file events restart a debounce
 * timer, a periodic timer rescans sizes and mtimes, and either ends in a rescan that
 * publishes a new snapshot when something changed. */
#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_manifest_int.h"

#include <string.h>

#define DEFAULT_DEBOUNCE_MS 200
#define DEFAULT_RESCAN_MS 5000

struct hc_manifest_watch {
    uv_loop_t *loop;
    hc_manifest_scan_t *scan;
    hc_manifest_set_t *current;
    hc_manifest_watch_cb cb;
    void *data;
    unsigned debounce_ms, rescan_ms;
    uv_timer_t debounce, rescan;
    uv_fs_event_t *events; /* one per watched directory; active ones have data set */
    size_t nevents;
    int open_handles;
    int closing;
    void (*closed)(void *data);
    void *closed_data;
};

/* Reads what changed (everything with force) into a new current snapshot. Returns
 * whether there is one. */
static int scan_now(hc_manifest_watch_t *w, int force)
{
    if (w->closing || !hc_manifest_scan_run(w->scan, force))
        return 0;
    hc_manifest_set_unref(w->current);
    w->current = hc_manifest_scan_snapshot(w->scan);
    const hc_manifest_error_t *errs;
    size_t nerr = hc_manifest_set_errors(w->current, &errs);
    hc_log(HC_LOG_INFO, "manifests changed", HC_LI("objects", hc_manifest_set_count(w->current)),
           HC_LI("errors", nerr), NULL);
    for (size_t i = 0; i < nerr; i++)
        hc_log(HC_LOG_WARN, "manifest problem", HC_LS("file", errs[i].file),
               HC_LI("line", errs[i].line), HC_LS("error", errs[i].message), NULL);
    return 1;
}

static void on_debounce(uv_timer_t *t)
{
    hc_manifest_watch_t *w = t->data;
    if (scan_now(w, 1))
        w->cb(w, w->current, w->data);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status);

/* Watches each directory afresh: one that was replaced (moved away and made again) left
 * its old watch on a directory that is gone, and only rescans would see its changes. */
static void rewatch(hc_manifest_watch_t *w)
{
    char *const *dirs;
    size_t n = hc_manifest_scan_dirs(w->scan, &dirs);
    for (size_t i = 0; i < w->nevents && i < n; i++) { /* watch_dirs' order */
        uv_fs_event_stop(&w->events[i]);
        uv_fs_event_start(&w->events[i], on_fs_event, dirs[i], 0);
    }
}

static void on_rescan(uv_timer_t *t)
{
    hc_manifest_watch_t *w = t->data;
    rewatch(w); /* two system calls a directory, every few seconds */
    /* files being written now are read once they settle, not half-way */
    if (!uv_is_active((uv_handle_t *)&w->debounce) && scan_now(w, 0))
        w->cb(w, w->current, w->data);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    hc_manifest_watch_t *w = h->data;
    if (!w->closing)
        uv_timer_start(&w->debounce, on_debounce, w->debounce_ms, 0);
}

static void on_closed(uv_handle_t *h)
{
    hc_manifest_watch_t *w = h->data;
    if (--w->open_handles)
        return;
    void (*closed)(void *) = w->closed;
    void *data = w->closed_data;
    hc_manifest_set_unref(w->current);
    hc_manifest_scan_free(w->scan);
    hc_free(w->events);
    hc_free(w);
    if (closed)
        closed(data);
}

/* Starts a file event per directory; one that cannot be watched (missing yet) is left
 * to the periodic rescan. */
static void watch_dirs(hc_manifest_watch_t *w)
{
    char *const *dirs;
    size_t n = hc_manifest_scan_dirs(w->scan, &dirs);
    w->events = hc_calloc(n + 1, sizeof(*w->events));
    for (size_t i = 0; i < n; i++) {
        uv_fs_event_t *h = &w->events[w->nevents];
        if (uv_fs_event_init(w->loop, h))
            continue;
        h->data = w;
        w->open_handles++;
        w->nevents++;
        int rc = uv_fs_event_start(h, on_fs_event, dirs[i], 0);
        if (rc)
            hc_log(HC_LOG_WARN, "cannot watch manifest directory; relying on rescans",
                   HC_LS("dir", dirs[i]), HC_LS("error", uv_strerror(rc)), NULL);
    }
}

int hc_manifest_watch_start(uv_loop_t *loop, const char *const *paths, size_t n,
                            const hc_manifest_watch_opts_t *opts, hc_manifest_watch_cb cb,
                            void *data, hc_manifest_watch_t **out)
{
    hc_manifest_watch_t *w = hc_calloc(1, sizeof(*w));
    w->loop = loop;
    w->cb = cb;
    w->data = data;
    w->debounce_ms = opts && opts->debounce_ms ? opts->debounce_ms : DEFAULT_DEBOUNCE_MS;
    w->rescan_ms = opts && opts->rescan_ms ? opts->rescan_ms : DEFAULT_RESCAN_MS;
    w->scan = hc_manifest_scan_new(paths, n);
    hc_manifest_scan_run(w->scan, 1);
    w->current = hc_manifest_scan_snapshot(w->scan);
    int rc = uv_timer_init(loop, &w->debounce);
    if (rc)
        goto fail;
    w->debounce.data = w;
    w->open_handles++;
    rc = uv_timer_init(loop, &w->rescan);
    if (rc)
        goto fail_debounce;
    w->rescan.data = w;
    w->open_handles++;
    uv_timer_start(&w->rescan, on_rescan, w->rescan_ms, w->rescan_ms);
    watch_dirs(w);
    *out = w;
    return 0;
fail_debounce:
    w->closing = 1;
    uv_close((uv_handle_t *)&w->debounce, on_closed); /* frees w */
    *out = NULL;
    return rc;
fail:
    hc_manifest_set_unref(w->current);
    hc_manifest_scan_free(w->scan);
    hc_free(w);
    *out = NULL;
    return rc;
}

hc_manifest_set_t *hc_manifest_watch_current(hc_manifest_watch_t *w)
{
    return w->current;
}

hc_manifest_set_t *hc_manifest_watch_refresh(hc_manifest_watch_t *w)
{
    scan_now(w, 1);
    return w->current;
}

void hc_manifest_watch_close(hc_manifest_watch_t *w, void (*closed)(void *data), void *data)
{
    if (w->closing)
        return;
    w->closing = 1;
    w->closed = closed;
    w->closed_data = data;
    uv_close((uv_handle_t *)&w->debounce, on_closed);
    uv_close((uv_handle_t *)&w->rescan, on_closed);
    for (size_t i = 0; i < w->nevents; i++)
        uv_close((uv_handle_t *)&w->events[i], on_closed);
}
