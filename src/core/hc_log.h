/* Structured logs: one JSON object per line on stderr ({"time","level","msg",fields}),
 * or a human format when stderr is a terminal (HEARTH_LOG_FORMAT=json|human overrides).
 * Thread-safe: each line leaves in one write(2). Never pass secrets as field values.
 *
 *   hc_log(HC_LOG_INFO, "listening", HC_LS("addr", "127.0.0.1:8080"), HC_LI("workers", 2), NULL);
 */
#ifndef HC_LOG_H
#define HC_LOG_H

typedef enum hc_log_level {
    HC_LOG_DEBUG,
    HC_LOG_INFO,
    HC_LOG_WARN,
    HC_LOG_ERROR,
} hc_log_level_t;

typedef enum hc_log_format {
    HC_LOG_FORMAT_AUTO, /* human on a terminal, JSON otherwise */
    HC_LOG_FORMAT_JSON,
    HC_LOG_FORMAT_HUMAN,
} hc_log_format_t;

/* Field constructors: each expands to (key, type, value) for hc_log's variadic list. */
#define HC_LS(k, v) (const char *)(k), 's', (const char *)(v)
#define HC_LI(k, v) (const char *)(k), 'i', (long long)(v)
#define HC_LD(k, v) (const char *)(k), 'd', (double)(v)
#define HC_LB(k, v) (const char *)(k), 'b', (int)(v)

/** Sets the minimum level and the format. HEARTH_LOG_LEVEL (debug|info|warn|error)
 *  and HEARTH_LOG_FORMAT in the environment override the arguments. */
void hc_log_setup(hc_log_level_t min, hc_log_format_t format);

/** Writes one line when lvl >= the minimum level. The variadic part is a list of
 *  HC_L* fields closed by NULL. A NULL string value is written as null. */
void hc_log(hc_log_level_t lvl, const char *msg, ...) __attribute__((sentinel));

/** True when a line at lvl would be written (to skip building costly fields). */
int hc_log_enabled(hc_log_level_t lvl);

/** Redirects lines to fd (tests capture logs through a pipe); -1 restores stderr. */
void hc_log_set_fd(int fd);

#endif
