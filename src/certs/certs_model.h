/* The certificate service's configuration model: Issuers and ClusterIssuers, Certificates
 * and the Certificates implied by annotated Ingresses (cert-manager's ingress-shim), read
 * from a manifest snapshot (hc_manifest.h) with cert-manager.io/v1 defaults and checks.
 * Start here to see what `hearth certs` understands; certs_sched.c acts on it. */
#ifndef CERTS_MODEL_H
#define CERTS_MODEL_H

#include "certs/certs_pki.h"
#include "core/hc_manifest.h"

#include <stddef.h>

/* cert-manager defaults (types_certificate.go): duration 2160h, minimum 1h; renewBefore
 * minimum 5m. CERTS_MIN_DURATION_TEST lets tests ask for shorter lifetimes. */
#define CERTS_DEFAULT_DURATION_S (2160LL * 3600)
#define CERTS_MIN_DURATION_S 3600LL
#define CERTS_MIN_RENEW_BEFORE_S 300LL

typedef enum certs_issuer_type {
    CERTS_ISSUER_SELFSIGNED,
    CERTS_ISSUER_CA,
    CERTS_ISSUER_ACME,
} certs_issuer_type_t;

/** An Issuer or ClusterIssuer. Strings are owned by the model. */
typedef struct certs_issuer {
    const char *kind; /* "Issuer" or "ClusterIssuer" */
    char *ns;         /* the Issuer's namespace; for a ClusterIssuer "" */
    char *name;
    certs_issuer_type_t type;
    char *ca_secret;        /* ca: spec.ca.secretName (a Secret in ns, or cert-manager's ns) */
    char *acme_server;      /* acme: directory URL */
    char *acme_email;       /* acme: account contact, or NULL */
    char *acme_key_secret;  /* acme: privateKeySecretRef.name */
    char *acme_ca_bundle;   /* acme: caBundle decoded to PEM, or NULL */
    int acme_skip_verify;   /* acme: skipTLSVerify */
    char *ingress_class;    /* acme: solvers[0].http01.ingress.ingressClassName or class */
    char source[320];       /* "file:line" */
} certs_issuer_t;

/** A Certificate, written or implied by an Ingress. Strings are owned by the model. */
typedef struct certs_cert {
    char *ns;
    char *name;
    char *secret_name;
    char **dns_names;
    size_t ndns;
    char **ip_addresses;
    size_t nips;
    char *common_name;        /* or NULL */
    long long duration_s;     /* requested lifetime */
    long long renew_before_s; /* 0: a third of the issued lifetime */
    int renew_before_pct;     /* renewBeforePercentage, 0 when unset */
    certs_key_alg_t key_alg;
    int key_size;             /* RSA bits or ECDSA curve size; 0 = algorithm default */
    certs_key_encoding_t key_encoding;
    int rotate_always;        /* privateKey.rotationPolicy Always (v1.18 default) */
    int is_ca;
    uint32_t usages;          /* CERTS_USAGE_* of certs_pki.h */
    const char *issuer_kind;  /* "Issuer" or "ClusterIssuer" */
    char *issuer_name;
    const char *from;         /* "Certificate" or "Ingress" */
    char source[320];         /* "file:line" */
} certs_cert_t;

/** A problem with one object (or a manifest file): the object was skipped. */
typedef struct certs_model_error {
    char source[320]; /* "file:line" */
    char kind[32];
    char ns[64];
    char name[128];
    char message[256];
} certs_model_error_t;

/** The model of one snapshot. Owns every string; free with certs_model_free. */
typedef struct certs_model {
    certs_issuer_t *issuers;
    size_t nissuers;
    certs_cert_t *certs;
    size_t ncerts;
    certs_model_error_t *errors; /* manifest read errors first, then object errors */
    size_t nerrors;
} certs_model_t;

/** Builds the model of set: every Issuer/ClusterIssuer and Certificate (cert-manager.io/
 *  v1), plus one Certificate per spec.tls entry with a secretName of each Ingress
 *  annotated cert-manager.io/cluster-issuer or cert-manager.io/issuer (named after the
 *  secret, as ingress-shim does); a Certificate with the same namespace and name wins.
 *  min_duration_s is the smallest duration accepted (CERTS_MIN_DURATION_S, or less in
 *  tests). Invalid objects become errors and are left out; the others are kept.
 *  Returns a new model (never NULL). */
certs_model_t *certs_model_build(const hc_manifest_set_t *set, long long min_duration_s);

/** Frees m; NULL is fine. */
void certs_model_free(certs_model_t *m);

/** The issuer c refers to (a ClusterIssuer by name, or an Issuer in c's namespace), or
 *  NULL. */
const certs_issuer_t *certs_model_issuer_of(const certs_model_t *m, const certs_cert_t *c);

/** Parses a Go time.Duration ("2160h", "1h30m", "90s", "1.5h", "500ms"), as
 *  cert-manager's duration fields are written, into whole seconds (fractions cut).
 *  Returns 0, or -EINVAL for anything else (including "d" units and negatives). */
int certs_duration_parse(const char *s, long long *out_s);

#endif
