/* Error messages handed back to a caller through a (char *err, size_t errlen) pair: the
 * one formatter every module uses, so each failure path reads
 * `return hc_errf(err, errlen, -EINVAL, "...", ...);`. Logs go through hc_log.h instead. */
#ifndef HC_ERR_H
#define HC_ERR_H

#include <stdarg.h>
#include <stddef.h>

/** Formats a message into err, errlen bytes at most (cut when longer, always
 *  NUL-terminated); writes nothing when err is NULL or errlen is 0. Returns rc unchanged,
 *  for the caller to return. */
int hc_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** hc_errf with a va_list, for functions that take a format themselves. ap is consumed
 *  (the caller still va_ends it) when err is written. */
int hc_verrf(char *err, size_t errlen, int rc, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
