/* Internal interface between hc_tls.c (contexts and connections) and hc_tls_certs.c
 * (certificate sets). Not for use outside src/core/hc_tls*.c. */
#ifndef HC_TLS_INT_H
#define HC_TLS_INT_H

#include "core/hc_tls.h"

#include <openssl/ssl.h>

/** Takes one more reference on set (atomic). Returns set. */
hc_tls_certs_t *hc_tls_certs_hold(hc_tls_certs_t *set);

/** Installs on ssl the certificate that serves name (an SNI value or NULL): an exact
 *  name first, then a "*.parent" wildcard covering exactly one label, then the
 *  default. Returns 0, or -ENOENT when the set has no certificate to offer. */
int hc_tls_certs_use(const hc_tls_certs_t *set, SSL *ssl, const char *name);

/** Writes OpenSSL's message for the newest queued error (or fallback) into err and
 *  clears the thread's error queue. */
void hc_tls_err(char *err, size_t errlen, const char *what, const char *fallback);

/** The OpenSSL objects behind a context and a connection, for the hc_tls files and
 *  their unit tests (which inspect peer certificates and cap versions through them). */
SSL_CTX *hc_tls_ctx_openssl(hc_tls_ctx_t *ctx);
SSL *hc_tls_conn_openssl(hc_tls_conn_t *c);

#endif
