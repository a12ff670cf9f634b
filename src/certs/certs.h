/* hearth certs: cert-manager's job for the same manifests. Issuers, Certificates and
 * ingress-shim Ingresses in (certs_model.h), kubernetes.io/tls Secrets out (certs_secret.h),
 * ACME HTTP-01 answered through `hearth proxy` (certs_solver.c). Start reading at
 * certs_service.c (options), then certs_sched.c (what happens to each Certificate). */
#ifndef CERTS_H
#define CERTS_H

#include "core/hc_service.h"

/** The service: `hearth certs --manifests DIR... [--solver ADDR] [--status ADDR]`. */
extern const hc_service_t certs_service;

/* The status listener's endpoints (default address 127.0.0.1:9402, cert-manager's metrics
 * port): a JSON array of every Certificate's status; manifest problems with file:line;
 * Prometheus metrics; health for `hearth check` (200 "OK", 503 while stopping). */
#define CERTS_API_CERTIFICATES "/api/certificates"
#define CERTS_API_ERRORS "/api/errors"
#define CERTS_API_METRICS "/metrics"
#define CERTS_API_HEALTH "/healthz"

#endif
