/* Prometheus metrics registry (see hc_metrics.h): families and series, lock-free
 * updates, text format 0.0.4 rendering and the process_* figures from /proc/self.
 * Services register families at start-up; /metrics handlers call hc_metrics_render. */
#include "core/hc_metrics.h"
#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum hc_metric_type { HC_METRIC_COUNTER, HC_METRIC_GAUGE, HC_METRIC_HISTOGRAM };

static const char *const type_names[] = {"counter", "gauge", "histogram"};

static const double default_bounds[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

struct hc_series {
    _Atomic uint64_t value;    /* counter: count; gauge: bits of a double */
    _Atomic uint64_t sum;      /* histogram: bits of the double sum */
    _Atomic uint64_t *buckets; /* histogram: nbounds + 1 non-cumulative counts */
    enum hc_metric_type type;  /* copied from the family: no pointer chase on update */
    hc_metrics_fn fn;          /* guarded by the family lock */
    void *arg;
    uint64_t hash; /* of the label values, to skip most comparisons */
    hc_metric_t *fam;
    struct hc_series *next; /* creation order */
    char *values[];         /* fam->nlabels copies */
};

struct hc_metric {
    enum hc_metric_type type;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[HC_METRICS_MAX_LABELS];
    double *bounds; /* histogram upper bounds, +Inf implied after the last */
    size_t nbounds;
    pthread_mutex_t lock; /* guards the series list and callbacks */
    hc_series_t *head, *tail;
    size_t nseries;
    int overflow_logged;
    atomic_int rejected; /* label values were refused once: logged */
};

struct hc_metrics {
    pthread_mutex_t lock; /* guards the family array */
    hc_metric_t **fams;   /* sorted by name */
    size_t n, cap;
};

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static hc_metrics_t *default_reg;

static void process_register(hc_metrics_t *r);

/* --- names -------------------------------------------------------------------------- */

/* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names: [a-zA-Z_][a-zA-Z0-9_]* (the
 * Prometheus data model, "Metric names and labels"). */
static int name_valid(const char *s, int colon_ok)
{
    if (!s || !*s)
        return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon_ok && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static int labels_valid(const char *const *labels, size_t n, enum hc_metric_type type)
{
    for (size_t i = 0; i < n; i++) {
        if (!name_valid(labels[i], 0) || strncmp(labels[i], "__", 2) == 0)
            return 0;
        if (type == HC_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0)
            return 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0)
                return 0;
    }
    return 1;
}

static size_t labels_count(const char *const *labels)
{
    size_t n = 0;
    while (labels && labels[n] && n <= HC_METRICS_MAX_LABELS)
        n++;
    return n;
}

/* Bounds must be finite and strictly increasing; a trailing +Inf is dropped. */
static int bounds_valid(const double *b, size_t *n)
{
    if (*n && isinf(b[*n - 1]) && b[*n - 1] > 0)
        (*n)--;
    if (*n > HC_METRICS_MAX_BUCKETS)
        return 0;
    for (size_t i = 0; i < *n; i++)
        if (!isfinite(b[i]) || (i && b[i] <= b[i - 1]))
            return 0;
    return 1;
}

/* --- series ------------------------------------------------------------------------- */

static uint64_t values_hash(const char *const *values, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

static hc_series_t *series_find(hc_metric_t *m, const char *const *values, uint64_t h)
{
    for (hc_series_t *s = m->head; s; s = s->next) {
        if (s->hash != h)
            continue;
        size_t i = 0;
        while (i < m->nlabels && strcmp(s->values[i], values[i]) == 0)
            i++;
        if (i == m->nlabels)
            return s;
    }
    return NULL;
}

static hc_series_t *series_create(hc_metric_t *m, const char *const *values, uint64_t h)
{
    hc_series_t *s = hc_calloc(1, sizeof(*s) + m->nlabels * sizeof(char *));
    s->type = m->type;
    s->hash = h;
    s->fam = m;
    for (size_t i = 0; i < m->nlabels; i++)
        s->values[i] = hc_strdup(values[i]);
    if (m->type == HC_METRIC_HISTOGRAM)
        s->buckets = hc_calloc(m->nbounds + 1, sizeof(*s->buckets));
    if (m->tail)
        m->tail->next = s;
    else
        m->head = s;
    m->tail = s;
    m->nseries++;
    return s;
}

static void series_free(hc_series_t *s, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        hc_free(s->values[i]);
    hc_free(s->buckets);
    hc_free(s);
}

void hc_metrics_retain(hc_metric_t *m, int (*keep)(void *ud, const char *const *values), void *ud)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    hc_series_t *prev = NULL;
    for (hc_series_t *s = m->head, *next; s; s = next) {
        next = s->next;
        if (keep(ud, (const char *const *)s->values)) {
            prev = s;
            continue;
        }
        if (prev)
            prev->next = next;
        else
            m->head = next;
        if (m->tail == s)
            m->tail = prev;
        m->nseries--;
        series_free(s, m->nlabels);
    }
    pthread_mutex_unlock(&m->lock);
}

static int values_ok(const hc_metric_t *m, const char *const *values)
{
    if (m->nlabels && !values)
        return 0;
    for (size_t i = 0; i < m->nlabels; i++)
        if (!values[i] || strlen(values[i]) > HC_METRICS_MAX_VALUE_LEN)
            return 0;
    return 1;
}

hc_series_t *hc_metrics_series(hc_metric_t *m, const char *const *values)
{
    if (!m)
        return NULL;
    if (!values_ok(m, values)) {
        if (!atomic_exchange(&m->rejected, 1)) /* once per family, not on every scrape */
            hc_log(HC_LOG_WARN, "metric label values rejected", HC_LS("metric", m->name), NULL);
        return NULL;
    }
    uint64_t h = values_hash(values, m->nlabels);
    pthread_mutex_lock(&m->lock);
    hc_series_t *s = series_find(m, values, h);
    if (!s && m->nseries < HC_METRICS_MAX_SERIES) {
        s = series_create(m, values, h);
    } else if (!s && !m->overflow_logged) {
        m->overflow_logged = 1;
        hc_log(HC_LOG_WARN, "metric has too many series, new ones dropped",
               HC_LS("metric", m->name), HC_LI("max", HC_METRICS_MAX_SERIES), NULL);
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

/* --- families ----------------------------------------------------------------------- */

static hc_metric_t *family_create(enum hc_metric_type type, const char *name, const char *help,
                                  const char *const *labels, size_t nlabels, const double *bounds,
                                  size_t nbounds)
{
    hc_metric_t *m = hc_calloc(1, sizeof(*m));
    m->type = type;
    m->name = hc_strdup(name);
    m->help = hc_strdup(help ? help : "");
    m->nlabels = nlabels;
    for (size_t i = 0; i < nlabels; i++)
        m->labels[i] = hc_strdup(labels[i]);
    if (type == HC_METRIC_HISTOGRAM) {
        m->nbounds = nbounds;
        m->bounds = hc_memdup(bounds, nbounds * sizeof(double));
    }
    pthread_mutex_init(&m->lock, NULL);
    if (nlabels == 0)
        series_create(m, NULL, values_hash(NULL, 0));
    return m;
}

static void family_free(hc_metric_t *m)
{
    hc_series_t *s = m->head;
    while (s) {
        hc_series_t *next = s->next;
        series_free(s, m->nlabels);
        s = next;
    }
    for (size_t i = 0; i < m->nlabels; i++)
        hc_free(m->labels[i]);
    pthread_mutex_destroy(&m->lock);
    hc_free(m->bounds);
    hc_free(m->help);
    hc_free(m->name);
    hc_free(m);
}

/* Same type, label names and bounds: a second registration may share the family. */
static int family_same(const hc_metric_t *m, enum hc_metric_type type, const char *const *labels,
                       size_t nlabels, const double *bounds, size_t nbounds)
{
    if (m->type != type || m->nlabels != nlabels)
        return 0;
    for (size_t i = 0; i < nlabels; i++)
        if (strcmp(m->labels[i], labels[i]) != 0)
            return 0;
    if (type == HC_METRIC_HISTOGRAM &&
        (m->nbounds != nbounds || memcmp(m->bounds, bounds, nbounds * sizeof(double))))
        return 0;
    return 1;
}

/* Index of name in the sorted array, or where it would go (*found = 0). */
static size_t family_search(const hc_metrics_t *r, const char *name, int *found)
{
    size_t lo = 0, hi = r->n;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->fams[mid]->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void family_insert(hc_metrics_t *r, size_t at, hc_metric_t *m)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->fams = hc_realloc(r->fams, r->cap * sizeof(*r->fams));
    }
    memmove(&r->fams[at + 1], &r->fams[at], (r->n - at) * sizeof(*r->fams));
    r->fams[at] = m;
    r->n++;
}

static hc_metric_t *family_add(hc_metrics_t *r, enum hc_metric_type type, const char *name,
                               const char *help, const char *const *labels, const double *bounds,
                               size_t nbounds)
{
    size_t nlabels = labels_count(labels);
    if (!r || !name_valid(name, 1) || nlabels > HC_METRICS_MAX_LABELS ||
        !labels_valid(labels, nlabels, type) || !bounds_valid(bounds, &nbounds)) {
        hc_log(HC_LOG_WARN, "metric definition rejected", HC_LS("metric", name), NULL);
        return NULL;
    }
    int found;
    pthread_mutex_lock(&r->lock);
    size_t at = family_search(r, name, &found);
    hc_metric_t *m = NULL;
    if (!found) {
        m = family_create(type, name, help, labels, nlabels, bounds, nbounds);
        family_insert(r, at, m);
    } else if (family_same(r->fams[at], type, labels, nlabels, bounds, nbounds)) {
        m = r->fams[at];
    }
    pthread_mutex_unlock(&r->lock);
    if (!m)
        hc_log(HC_LOG_WARN, "metric registered twice with another shape", HC_LS("metric", name),
               NULL);
    return m;
}

hc_metric_t *hc_metrics_counter(hc_metrics_t *r, const char *name, const char *help,
                                const char *const *labels)
{
    return family_add(r, HC_METRIC_COUNTER, name, help, labels, NULL, 0);
}

hc_metric_t *hc_metrics_gauge(hc_metrics_t *r, const char *name, const char *help,
                              const char *const *labels)
{
    return family_add(r, HC_METRIC_GAUGE, name, help, labels, NULL, 0);
}

hc_metric_t *hc_metrics_histogram(hc_metrics_t *r, const char *name, const char *help,
                                  const char *const *labels, const double *bounds, size_t nbounds)
{
    if (!bounds) {
        bounds = default_bounds;
        nbounds = sizeof(default_bounds) / sizeof(default_bounds[0]);
    }
    return family_add(r, HC_METRIC_HISTOGRAM, name, help, labels, bounds, nbounds);
}

/* --- registries --------------------------------------------------------------------- */

hc_metrics_t *hc_metrics_new(int process)
{
    hc_metrics_t *r = hc_calloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    if (process)
        process_register(r);
    return r;
}

void hc_metrics_free(hc_metrics_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        family_free(r->fams[i]);
    hc_free(r->fams);
    pthread_mutex_destroy(&r->lock);
    hc_free(r);
}

hc_metrics_t *hc_metrics_default(void)
{
    pthread_mutex_lock(&default_lock);
    if (!default_reg)
        default_reg = hc_metrics_new(1);
    hc_metrics_t *r = default_reg;
    pthread_mutex_unlock(&default_lock);
    return r;
}

void hc_metrics_default_free(void)
{
    pthread_mutex_lock(&default_lock);
    hc_metrics_free(default_reg);
    default_reg = NULL;
    pthread_mutex_unlock(&default_lock);
}

/* --- updates (hot path: relaxed atomics, no locks) ----------------------------------- */

static double bits_to_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

/* C11 has no atomic add for doubles: a compare-and-swap loop on the bit pattern. */
static void atomic_add_double(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    uint64_t next;
    do {
        next = double_to_bits(bits_to_double(old) + v);
    } while (!atomic_compare_exchange_weak_explicit(p, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

void hc_metrics_counter_add(hc_series_t *s, uint64_t n)
{
    if (s && s->type == HC_METRIC_COUNTER)
        atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void hc_metrics_gauge_set(hc_series_t *s, double v)
{
    if (s && s->type == HC_METRIC_GAUGE)
        atomic_store_explicit(&s->value, double_to_bits(v), memory_order_relaxed);
}

void hc_metrics_gauge_add(hc_series_t *s, double v)
{
    if (s && s->type == HC_METRIC_GAUGE)
        atomic_add_double(&s->value, v);
}

void hc_metrics_histogram_observe(hc_series_t *s, double v)
{
    if (!s || s->type != HC_METRIC_HISTOGRAM)
        return;
    const double *b = s->fam->bounds; /* immutable after creation */
    size_t lo = 0, hi = s->fam->nbounds;
    while (lo < hi) { /* first bound >= v; NaN lands in +Inf */
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&s->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&s->sum, v);
}

int hc_metrics_series_set_fn(hc_series_t *s, hc_metrics_fn fn, void *arg)
{
    if (!s || s->type == HC_METRIC_HISTOGRAM)
        return -EINVAL;
    pthread_mutex_lock(&s->fam->lock);
    s->fn = fn;
    s->arg = arg;
    pthread_mutex_unlock(&s->fam->lock);
    return 0;
}

/* Value of a counter or gauge series; caller holds the family lock. */
static double series_scalar(const hc_series_t *s)
{
    if (s->fn)
        return s->fn(s->arg);
    uint64_t u = atomic_load_explicit(&s->value, memory_order_relaxed);
    return s->type == HC_METRIC_COUNTER ? (double)u : bits_to_double(u);
}

static uint64_t series_count(const hc_series_t *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= s->fam->nbounds; i++)
        n += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
    return n;
}

double hc_metrics_series_value(hc_series_t *s)
{
    if (!s)
        return 0;
    if (s->type == HC_METRIC_HISTOGRAM)
        return (double)series_count(s);
    pthread_mutex_lock(&s->fam->lock);
    double v = series_scalar(s);
    pthread_mutex_unlock(&s->fam->lock);
    return v;
}

/* --- rendering: text exposition format 0.0.4 ----------------------------------------- */

/* Shortest text that reads back as the same double; integers without exponent. Special
 * values as the format spells them: +Inf, -Inf, NaN. */
static int put_double(hc_buf_t *b, double v)
{
    if (isnan(v))
        return hc_buf_puts(b, "NaN");
    if (isinf(v))
        return hc_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    if (fabs(v) < 1e15 && v == trunc(v))
        return hc_buf_printf(b, "%" PRId64, (int64_t)v);
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return hc_buf_puts(b, tmp);
}

/* HELP text escapes \ and newline; label values also escape " (format 0.0.4). A byte
 * that is not well-formed UTF-8 (a certificate's name, say) is U+FFFD: Prometheus drops
 * the whole scrape over one invalid label value. */
static int put_escaped(hc_buf_t *b, const char *s, int quote)
{
    size_t n = strlen(s), k;
    for (; *s; s += k, n -= k) {
        const char *esc = NULL;
        k = hc_utf8_seq(s, n);
        if (!k)
            esc = "\xef\xbf\xbd", k = 1;
        else if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (*s == '"' && quote)
            esc = "\\\"";
        int rc = esc ? hc_buf_puts(b, esc) : hc_buf_append(b, s, k);
        if (rc)
            return rc;
    }
    return 0;
}

/* name{l1="v1",...[,le="x"]}<space>; braces only when there is a label. */
static int put_name(hc_buf_t *b, const hc_series_t *s, const char *suffix, const double *le)
{
    const hc_metric_t *m = s->fam;
    int rc = hc_buf_puts(b, m->name) || hc_buf_puts(b, suffix);
    for (size_t i = 0; i < m->nlabels && !rc; i++) {
        rc = hc_buf_puts(b, i ? "," : "{") || hc_buf_puts(b, m->labels[i]) ||
             hc_buf_puts(b, "=\"") || put_escaped(b, s->values[i], 1) || hc_buf_puts(b, "\"");
    }
    if (le && !rc)
        rc = hc_buf_puts(b, m->nlabels ? ",le=\"" : "{le=\"") || put_double(b, *le) ||
             hc_buf_puts(b, "\"");
    if ((m->nlabels || le) && !rc)
        rc = hc_buf_puts(b, "}");
    return rc || hc_buf_puts(b, " ") ? -ENOBUFS : 0;
}

static int put_histogram(hc_buf_t *b, const hc_series_t *s)
{
    const hc_metric_t *m = s->fam;
    uint64_t cum = 0;
    int rc = 0;
    for (size_t i = 0; i <= m->nbounds && !rc; i++) {
        double le = i < m->nbounds ? m->bounds[i] : INFINITY;
        cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        rc = put_name(b, s, "_bucket", &le) || hc_buf_printf(b, "%" PRIu64 "\n", cum);
    }
    /* _count is the +Inf bucket, so the two always agree within one render. */
    double sum = bits_to_double(atomic_load_explicit(&s->sum, memory_order_relaxed));
    if (!rc)
        rc = put_name(b, s, "_sum", NULL) || put_double(b, sum) || hc_buf_puts(b, "\n") ||
             put_name(b, s, "_count", NULL) || hc_buf_printf(b, "%" PRIu64 "\n", cum);
    return rc ? -ENOBUFS : 0;
}

static int put_series(hc_buf_t *b, const hc_series_t *s)
{
    if (s->type == HC_METRIC_HISTOGRAM)
        return put_histogram(b, s);
    int rc = put_name(b, s, "", NULL);
    if (!rc && s->type == HC_METRIC_COUNTER && !s->fn)
        rc = hc_buf_printf(b, "%" PRIu64,
                           (uint64_t)atomic_load_explicit(&s->value, memory_order_relaxed));
    else if (!rc)
        rc = put_double(b, series_scalar(s));
    return rc || hc_buf_puts(b, "\n") ? -ENOBUFS : 0;
}

static int put_family(hc_buf_t *b, hc_metric_t *m)
{
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    if (m->head) {
        rc = hc_buf_printf(b, "# HELP %s ", m->name) || put_escaped(b, m->help, 0) ||
             hc_buf_printf(b, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
        for (const hc_series_t *s = m->head; s && !rc; s = s->next)
            rc = put_series(b, s);
    }
    pthread_mutex_unlock(&m->lock);
    return rc ? -ENOBUFS : 0;
}

static int has_prefix(const char *name, const char *const *prefixes)
{
    for (; *prefixes; prefixes++)
        if (!strncmp(name, *prefixes, strlen(*prefixes)))
            return 1;
    return 0;
}

int hc_metrics_render_only(hc_metrics_t *r, hc_buf_t *out, const char *const *prefixes)
{
    if (!r)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n && !rc; i++)
        if (!prefixes || has_prefix(r->fams[i]->name, prefixes))
            rc = put_family(out, r->fams[i]);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int hc_metrics_render(hc_metrics_t *r, hc_buf_t *out)
{
    return hc_metrics_render_only(r, out, NULL);
}

/* --- process metrics from /proc/self (proc(5)) --------------------------------------- */

/* Field `field` (1-based, as numbered in proc(5)) of /proc/self/stat; 0 on failure. The
 * second field, the command name in parentheses, may hold spaces: count after the
 * last ')'. */
static double proc_stat_field(int field)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    for (int i = 3; i <= field && p; i++) {
        p += strspn(p, " ");
        if (i == field)
            return strtod(p, NULL);
        p = strchr(p, ' ');
    }
    return 0;
}

static double process_rss(void *arg)
{
    return proc_stat_field(24) * (double)sysconf(_SC_PAGESIZE);
}

static double process_cpu(void *arg)
{
    return (proc_stat_field(14) + proc_stat_field(15)) / (double)sysconf(_SC_CLK_TCK);
}

/* Boot time (btime in /proc/stat) plus the start time in clock ticks since boot. */
static double process_start(void *arg)
{
    char line[256];
    double btime = 0;
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "btime ", 6) == 0)
            btime = strtod(line + 6, NULL);
    fclose(f);
    return btime + proc_stat_field(22) / (double)sysconf(_SC_CLK_TCK);
}

/* Entries of /proc/self/fd, less the one this function opened to read it. */
static double process_fds(void *arg)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0;
}

static void process_register(hc_metrics_t *r)
{
    static const struct {
        const char *name, *help;
        int counter;
        hc_metrics_fn fn;
    } defs[] = {
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", 1,
         process_cpu},
        {"process_open_fds", "Number of open file descriptors.", 0, process_fds},
        {"process_resident_memory_bytes", "Resident memory size in bytes.", 0, process_rss},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.", 0,
         process_start},
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        hc_metric_t *m = defs[i].counter ? hc_metrics_counter(r, defs[i].name, defs[i].help, NULL)
                                         : hc_metrics_gauge(r, defs[i].name, defs[i].help, NULL);
        hc_metrics_series_set_fn(hc_metrics_series(m, NULL), defs[i].fn, NULL);
    }
}
