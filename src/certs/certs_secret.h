/* Secrets as manifest files: the kubernetes.io/tls Secret of a Certificate (with
 * cert-manager's annotations and label) and the ACME account key Secret, written
 * atomically into the manifests directory that `hearth proxy` reads, and read back from a
 * snapshot so that a valid certificate survives a restart. Used by certs_sched.c. */
#ifndef CERTS_SECRET_H
#define CERTS_SECRET_H

#include "certs/certs_model.h"
#include "core/hc_manifest.h"

#include <stddef.h>

/* Largest Secret file written or entry read. */
#define CERTS_SECRET_MAX (1u << 20)

/** What goes into a TLS Secret; PEM strings, borrowed. ca_pem may be NULL (ACME). */
typedef struct certs_tls_data {
    const char *crt_pem; /* leaf, then intermediates */
    const char *key_pem;
    const char *ca_pem;
    const char *spec_hash; /* CERTS_ANN_SPEC_HASH, or NULL for none */
} certs_tls_data_t;

/* Annotation with the hash of the Certificate spec a TLS Secret was issued for, so that a
 * change of usages, duration or private key spec is seen as a reissue trigger even across
 * a restart (names and isCA are read from the certificate itself). */
#define CERTS_ANN_SPEC_HASH "certs.hearth/spec-hash"

/** The file a Secret lives in: "<dir>/hearth-certs-<ns>-<name>.yaml" into out.
 *  Returns 0 or -ENAMETOOLONG. */
int certs_secret_path(const char *dir, const char *ns, const char *name, char *out, size_t outlen);

/** Writes c's Secret (c->ns / c->secret_name) with d and cert-manager's annotations
 *  (certificate-name, issuer-name/kind/group, alt-names, ip-sans, common-name) into dir:
 *  a temporary file (mode 0600) renamed over the final one. Returns 0 or a negative
 *  errno with a message in err. */
int certs_secret_write_tls(const char *dir, const certs_cert_t *c, const certs_tls_data_t *d,
                           char *err, size_t errlen);

/** Writes the kubernetes.io/tls Secret ns/name of a self-signed CA key pair (tls.crt,
 *  tls.key, and ca.crt = tls.crt, as cert-manager writes a self-signed CA Certificate's
 *  Secret) for a ca issuer, atomically as certs_secret_write_tls. Returns 0 or -errno. */
int certs_secret_write_ca(const char *dir, const char *ns, const char *name, const char *crt_pem,
                          const char *key_pem, char *err, size_t errlen);

/** Writes an Opaque Secret ns/name holding key_pem as "tls.key" (cert-manager's ACME
 *  account key Secret), atomically as certs_secret_write_tls. Returns 0 or -errno. */
int certs_secret_write_key(const char *dir, const char *ns, const char *name,
                           const char *key_pem, char *err, size_t errlen);

/** Removes a file written by this module (path from certs_secret_path or another full
 *  path); a missing file is fine. Returns 0 or a negative errno. */
int certs_secret_remove(const char *path);

/** Writes len bytes to path atomically (temporary file in the same directory, fsync,
 *  rename) with mode. Returns 0 or a negative errno with err. */
int certs_file_write_atomic(const char *path, const char *data, size_t len, unsigned mode,
                            char *err, size_t errlen);

/** Entry key of Secret ns/name in set, from data (base64) or stringData (plain, which
 *  wins): *out is hc_malloc'd and NUL-terminated (hc_free), *len its length. Returns 0,
 *  -ENOENT (no such Secret or entry) or -EINVAL (bad base64). */
int certs_secret_get(const hc_manifest_set_t *set, const char *ns, const char *name,
                     const char *key, char **out, size_t *len);

#endif
