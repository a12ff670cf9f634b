/* Private to proxy_runtime.c and proxy_runtime_tls.c: the pieces of a generation's
 * build that live in separate files. */
#ifndef PROXY_RUNTIME_INT_H
#define PROXY_RUNTIME_INT_H

#include "proxy/proxy_runtime.h"

/** Appends an error to g (every string copied; NULLs become ""). */
void proxy_gen_error_add(proxy_gen_t *g, const char *source, const char *kind, const char *ns,
                         const char *name, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/** Builds g->certs, g->cert_info and the TLS options from g->cfg; problems become
 *  errors of g. */
void proxy_gen_tls_build(proxy_gen_t *g);
/** Frees what proxy_gen_tls_build made (and the set if still held). */
void proxy_gen_tls_free(proxy_gen_t *g);

#endif
