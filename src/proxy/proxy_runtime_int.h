/* Private to proxy_runtime.c, proxy_runtime_tls.c and proxy_runtime_transport.c: the
 * pieces of a generation's build that live in separate files. */
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
/** Traefik's FileOrContent: PEM text given inline (it holds "-----BEGIN") or, when
 *  files_ok (the file provider's configuration), the path of a file holding it (read
 *  now, at most 1 MiB). Returns the bytes (*len of them) to borrow, or to free when
 *  *owned is set; NULL with err. */
const char *proxy_gen_file_or_pem(const char *v, int files_ok, size_t *len, char **owned, char *err,
                                  size_t errlen);

/** Builds g->transports from g->cfg's servers transports; a broken one is an error of g
 *  and disables the routers whose services use it. */
void proxy_gen_transports_build(proxy_gen_t *g, const proxy_gen_t *prev);
void proxy_gen_transports_free(proxy_gen_t *g);

#endif
