/* The passTLSClientCert middleware (traefik/traefik pkg/middlewares/passtlsclientcert):
 * the client certificate of a mutual-TLS connection passed to the service in
 * X-Forwarded-Tls-Client-Cert (the PEM bodies, without their armour and line breaks,
 * comma-separated: the client's certificate, then the chain it sent) and
 * X-Forwarded-Tls-Client-Cert-Info (selected fields, query-escaped). */
#ifndef PROXY_MW_TLSCERT_H
#define PROXY_MW_TLSCERT_H

#include "proxy/mw.h"

#include <openssl/x509.h>

/** passTLSClientCert spec: pem, info {notAfter, notBefore, sans, serialNumber, subject
 *  {country, province, locality, organization, organizationalUnit, commonName,
 *  serialNumber, domainComponent}, issuer {the same but organizationalUnit}}. Contract
 *  of proxy_mw_parse_fn. */
int proxy_mw_tlscert_parse(const json_t *spec, const char *name, void **cfg, char *err,
                           size_t errlen);
void proxy_mw_tlscert_free(void *cfg);
/** Sets the two fields from leaf and chain (either NULL: a connection without a client
 *  certificate). The client's own values of them are removed first, whatever it sent
 *  (Traefik replaces them only when there is a certificate). */
void proxy_mw_tlscert_apply(const void *cfg, proxy_mw_req_t *req, X509 *leaf,
                            STACK_OF(X509) *chain);

#endif
