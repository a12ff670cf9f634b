/* Error messages into a caller's (err, errlen) buffer (see hc_err.h). A leaf: depends on
 * nothing else in core, so every module and unit test can link it. */
#include "core/hc_err.h"

#include <stdio.h>

int hc_verrf(char *err, size_t errlen, int rc, const char *fmt, va_list ap)
{
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    return rc;
}

int hc_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hc_verrf(err, errlen, rc, fmt, ap);
    va_end(ap);
    return rc;
}
