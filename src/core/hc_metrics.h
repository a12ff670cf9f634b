/* Prometheus metrics: registries of counter, gauge and histogram families with labels,
 * rendered in the text exposition format 0.0.4 for every service's /metrics endpoint.
 *
 * Start here: a *family* is one metric name with fixed label names; a *series* is one
 * family plus one set of label values. Resolve a series once (that takes the family
 * lock), keep the pointer, and update it from any thread: updates are lock-free
 * relaxed atomics. Series and families live as long as their registry.
 *
 *   static hc_metric_t *reqs;
 *   reqs = hc_metrics_counter(hc_metrics_default(), "http_requests_total", "Requests.",
 *                             (const char *[]){"code", NULL});
 *   hc_series_t *ok = hc_metrics_series(reqs, (const char *[]){"200"});
 *   hc_metrics_counter_inc(ok);                    (on the hot path)
 *
 * Failure policy: a constructor that gets bad input (invalid name, conflicting
 * re-registration, too many series) logs a warning and returns NULL, and every function
 * taking a family or series treats NULL as "do nothing", so a metrics mistake never
 * takes a service down.
 */
#ifndef HC_METRICS_H
#define HC_METRICS_H

#include "core/hc_buf.h"

#include <stddef.h>
#include <stdint.h>

/* Limits that keep a registry's memory bounded whatever the label values. */
#define HC_METRICS_MAX_LABELS 8       /* label names per family */
#define HC_METRICS_MAX_SERIES 10000   /* series per family */
#define HC_METRICS_MAX_VALUE_LEN 32768 /* bytes per label value (a cert's sans: 25 KiB) */
#define HC_METRICS_MAX_BUCKETS 64     /* histogram bounds, +Inf not counted */

typedef struct hc_metrics hc_metrics_t; /* a registry */
typedef struct hc_metric hc_metric_t;   /* a family: name, help, type, label names */
typedef struct hc_series hc_series_t;   /* one family + label values */

/** A value computed at render time (open connections, process figures). Called on the
 *  rendering thread with the family lock held: it must not call hc_metrics_* itself. */
typedef double (*hc_metrics_fn)(void *arg);

/** Creates an empty private registry (tests, or a service that serves its own set).
 *  With process != 0 it also holds the process_* families (see hc_metrics_default).
 *  Never returns NULL. Free with hc_metrics_free. */
hc_metrics_t *hc_metrics_new(int process);

/** Frees a registry with all its families and series; pointers into it die. NULL ok. */
void hc_metrics_free(hc_metrics_t *r);

/** The process-wide registry, created on first use, thread-safe. It holds
 *  process_resident_memory_bytes, process_open_fds, process_start_time_seconds and
 *  process_cpu_seconds_total, read from /proc/self at each render. */
hc_metrics_t *hc_metrics_default(void);

/** Frees the process-wide registry (at exit, so leak checkers stay quiet). The next
 *  hc_metrics_default() creates a fresh one. Not safe against concurrent updates. */
void hc_metrics_default_free(void);

/** Registers a counter family. name matches [a-zA-Z_:][a-zA-Z0-9_:]*; help is free text
 *  (copied); labels is a NULL-terminated array of label names ([a-zA-Z_][a-zA-Z0-9_]*,
 *  not starting with "__") or NULL for none, copied. Registering the same name again
 *  with the same type and label names returns the existing family (so several workers
 *  may register); anything else returns NULL. A family without labels has its one
 *  series created at once, so it renders 0 before the first update. */
hc_metric_t *hc_metrics_counter(hc_metrics_t *r, const char *name, const char *help,
                                const char *const *labels);

/** Registers a gauge family; same rules as hc_metrics_counter. */
hc_metric_t *hc_metrics_gauge(hc_metrics_t *r, const char *name, const char *help,
                              const char *const *labels);

/** Registers a histogram family; same rules as hc_metrics_counter, and "le" may not be a
 *  label name. bounds are nbounds finite, strictly increasing upper bounds (copied; a
 *  trailing +Inf is implied and may be given); bounds == NULL selects the Prometheus
 *  defaults .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10. */
hc_metric_t *hc_metrics_histogram(hc_metrics_t *r, const char *name, const char *help,
                                  const char *const *labels, const double *bounds, size_t nbounds);

/** Resolves (creating on first use) the series for values: one NUL-terminated string
 *  per label name, in order (NULL when the family has no labels). Values are copied.
 *  Takes the family lock: resolve once, outside the hot path. Returns NULL when m is
 *  NULL, a value is NULL or longer than HC_METRICS_MAX_VALUE_LEN, or the family already
 *  has HC_METRICS_MAX_SERIES series (logged once per family). */
hc_series_t *hc_metrics_series(hc_metric_t *m, const char *const *values);
/** Removes the series of m whose label values keep(ud, values) refuses (returns 0), as
 *  a configuration's series go when it drops what they describe. Only for a family whose
 *  series pointers nobody keeps (each set looks its series up again). */
void hc_metrics_retain(hc_metric_t *m, int (*keep)(void *ud, const char *const *values), void *ud);

/** Adds n to a counter series (relaxed atomic, no lock). NULL or a non-counter: no-op. */
void hc_metrics_counter_add(hc_series_t *s, uint64_t n);

/** Adds 1 to a counter series. */
static inline void hc_metrics_counter_inc(hc_series_t *s)
{
    hc_metrics_counter_add(s, 1);
}

/** Sets a gauge series (relaxed atomic). NULL or a non-gauge: no-op. */
void hc_metrics_gauge_set(hc_series_t *s, double v);

/** Adds v (which may be negative) to a gauge series with a lock-free CAS loop. */
void hc_metrics_gauge_add(hc_series_t *s, double v);

/** Subtracts v from a gauge series. */
static inline void hc_metrics_gauge_sub(hc_series_t *s, double v)
{
    hc_metrics_gauge_add(s, -v);
}

/** Records one observation in a histogram series: the bucket count for the first bound
 *  >= v, the total count and the sum, all lock-free. NULL or a non-histogram: no-op. */
void hc_metrics_histogram_observe(hc_series_t *s, double v);

/** Makes a counter or gauge series report fn(arg) at render time instead of its stored
 *  value; fn == NULL returns it to the stored value. Call with NULL before arg dies.
 *  Returns 0, or -EINVAL for NULL s or a histogram series. */
int hc_metrics_series_set_fn(hc_series_t *s, hc_metrics_fn fn, void *arg);

/** Current value of a counter or gauge series (callback evaluated), or the observation
 *  count of a histogram series; 0 for NULL. For tests and health pages. */
double hc_metrics_series_value(hc_series_t *s);

/** Appends the whole registry to out in the Prometheus text format 0.0.4: families
 *  sorted by name, each with # HELP and # TYPE lines, series in creation order,
 *  histograms as cumulative _bucket{le=...} lines ending in +Inf, then _sum and _count.
 *  Labelled families without series are left out. Returns 0, or -ENOBUFS when out
 *  reaches its maximum (out then holds a truncated prefix). */
int hc_metrics_render(hc_metrics_t *r, hc_buf_t *out);
/** As hc_metrics_render, the families whose name starts with one of prefixes only
 *  (NULL-terminated; NULL: all): a service's own in a registry several share. */
int hc_metrics_render_only(hc_metrics_t *r, hc_buf_t *out, const char *const *prefixes);

/** The Content-Type for a rendered registry. */
#define HC_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
