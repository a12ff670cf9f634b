/* `hearth up` for the certs service (certs_int.h): a local CA made on the first start (its
 * key pair Secret and the ClusterIssuer hearth-local-ca of kind ca, in <data>/manifests),
 * its certificate as <data>/ca.crt for people to trust, and one ingress-shim Ingress
 * whose spec.tls names every `<service>.localhost` the proxy routes, so the scheduler
 * issues that certificate and `hearth proxy` serves it like any Ingress's TLS Secret. */
#include "certs/certs_int.h"
#include "certs/certs_secret.h"
#include "proxy/proxy.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_err.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UP_CA "hearth-local-ca" /* the ClusterIssuer and its Secret */
#define UP_CA_CN "hearth local CA"
#define UP_CA_DURATION_S (10LL * 365 * 86400) /* never renewed: people trust this one */
#define UP_INGRESS "hearth-localhost"         /* namespace "default" */
#define UP_TLS_SECRET "hearth-localhost-tls"
#define UP_FILE_MAX (64u * 1024)

/* ---- files ---- */

/* Writes data to path only when the file does not already hold exactly it, so that a
 * restart touches nothing (no reload, no reissue). Returns 1 when written, 0 when the
 * file was already so, or -errno with err. */
static int write_if_changed(const char *path, const char *data, unsigned mode, char *err,
                            size_t errlen)
{
    size_t len = strlen(data);
    FILE *f = fopen(path, "rb");
    if (f) {
        char *old = hc_malloc(len + 1);
        size_t n = fread(old, 1, len + 1, f);
        fclose(f);
        int same = n == len && memcmp(old, data, len) == 0;
        hc_free(old);
        if (same)
            return 0;
    }
    int rc = certs_file_write_atomic(path, data, len, mode, err, errlen);
    return rc ? rc : 1;
}

static int up_path(const certs_svc_t *svc, const char *name, char *out, size_t n)
{
    return snprintf(out, n, "%s/%s", svc->out_dir, name) < (int)n ? 0 : -ENAMETOOLONG;
}

int certs_up_paths(certs_svc_t *svc)
{
    char dir[4096];
    int rc = proxy_up_manifests_dir(svc->ctx->data_dir, dir, sizeof(dir));
    if (rc)
        return rc;
    const char **v = hc_calloc(svc->nmanifests + 1, sizeof(*v));
    v[0] = hc_strdup(dir);
    for (size_t i = 0; i < svc->nmanifests; i++)
        v[i + 1] = svc->manifests[i];
    svc->up_manifests = v;
    svc->manifests = v;
    svc->nmanifests++;
    return 0;
}

/* ---- the local CA ---- */

/* A new CA: P-256 key, self-signed CA certificate; its Secret written. *crt_pem is the
 * certificate (hc_free). */
static int ca_create(certs_svc_t *svc, char **crt_pem, char *err, size_t errlen)
{
    EVP_PKEY *key = NULL;
    X509 *crt = NULL;
    char *key_pem = NULL;
    size_t len;
    certs_names_t names = {.common_name = UP_CA_CN};
    certs_issue_req_t req = {.names = &names,
                             .usages = CERTS_USAGE_DIGITAL_SIGNATURE | CERTS_USAGE_CERT_SIGN |
                                       CERTS_USAGE_CRL_SIGN,
                             .is_ca = 1,
                             .duration_s = UP_CA_DURATION_S};
    int rc = certs_pki_key_generate(CERTS_KEY_ECDSA, 256, &key, err, errlen);
    req.key = key;
    if (rc == 0)
        rc = certs_pki_issue(&req, &crt, err, errlen);
    if (rc == 0 && (rc = certs_pki_cert_pem(crt, crt_pem, &len)) == 0 &&
        (rc = certs_pki_key_pem(key, CERTS_KEY_PKCS8, &key_pem, &len)) == 0)
        rc = certs_secret_write_ca(svc->out_dir, svc->cluster_ns, UP_CA, *crt_pem, key_pem, err,
                                   errlen);
    if (rc == 0)
        hc_log(HC_LOG_INFO, "local CA created", HC_LS("namespace", svc->cluster_ns),
               HC_LS("secret", UP_CA), NULL);
    hc_free(key_pem);
    X509_free(crt);
    EVP_PKEY_free(key);
    return rc;
}

/* The CA certificate of the existing Secret, checked against its key: 0, -ENOENT when
 * there is no Secret yet or its certificate expired (a new CA is made), or -EINVAL with
 * err. */
static int ca_load(certs_svc_t *svc, char **crt_pem, char *err, size_t errlen)
{
    hc_manifest_set_t *set = hc_manifest_watch_current(svc->watch);
    char *crt = NULL, *key = NULL;
    size_t crtlen = 0, keylen = 0, len;
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *pk = NULL;
    certs_cert_info_t info = {0};
    int rc = certs_secret_get(set, svc->cluster_ns, UP_CA, "tls.crt", &crt, &crtlen);
    if (rc == -ENOENT && !hc_manifest_set_find(set, "Secret", svc->cluster_ns, UP_CA))
        return -ENOENT;
    if (rc == 0)
        rc = certs_secret_get(set, svc->cluster_ns, UP_CA, "tls.key", &key, &keylen);
    if (rc)
        hc_errf(err, errlen, -EINVAL, "Secret %s/%s has no tls.crt and tls.key", svc->cluster_ns,
                UP_CA);
    else if ((rc = certs_pki_chain_parse(crt, crtlen, &chain, err, errlen)) == 0 &&
             (rc = certs_pki_key_load(key, keylen, &pk, err, errlen)) == 0) {
        if (!certs_pki_key_matches_cert(pk, sk_X509_value(chain, 0)))
            rc = hc_errf(err, errlen, -EINVAL, "Secret %s/%s: tls.key does not match tls.crt",
                         svc->cluster_ns, UP_CA);
        else if (certs_pki_cert_inspect(sk_X509_value(chain, 0), &info) == 0 &&
                 info.not_after <= certs_now()) {
            hc_log(HC_LOG_WARN, "local CA expired; making a new one", NULL);
            rc = -ENOENT;
        } else
            rc = certs_pki_cert_pem(sk_X509_value(chain, 0), crt_pem, &len);
    }
    certs_pki_cert_info_clear(&info);
    EVP_PKEY_free(pk);
    if (chain)
        sk_X509_pop_free(chain, X509_free);
    hc_free(crt);
    hc_free(key);
    return rc == -ENOENT ? rc : rc ? -EINVAL : 0;
}

/* The banner line: where the CA certificate is and how to trust it. */
#define UP_NOTE_HEAD "local CA certificate: "
#define UP_NOTE_TAIL                                                                               \
    " (trust it for https://<service>.localhost: update-ca-certificates, or a browser's "          \
    "certificate authorities)"

/* The ClusterIssuer (rewritten only when missing or changed) and <data>/ca.crt. */
static int ca_publish(certs_svc_t *svc, const char *crt_pem, char *err, size_t errlen)
{
    char path[4096], body[512];
    snprintf(body, sizeof(body),
             "# Written by hearth up: the local CA that signs the <service>.localhost "
             "certificates.\napiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n"
             "  name: %s\nspec:\n  ca:\n    secretName: %s\n",
             UP_CA, UP_CA);
    int rc = up_path(svc, "hearth-local-ca-issuer.yaml", path, sizeof(path));
    if (rc == 0)
        rc = write_if_changed(path, body, 0600, err, errlen);
    if (rc >= 0 &&
        snprintf(path, sizeof(path), "%s/ca.crt", svc->ctx->data_dir) >= (int)sizeof(path))
        rc = -ENAMETOOLONG;
    if (rc >= 0)
        rc = write_if_changed(path, crt_pem, 0644, err, errlen);
    if (rc < 0)
        return rc;
    if (snprintf(svc->ctx->note, sizeof(svc->ctx->note), "%s%s%s", UP_NOTE_HEAD, path,
                 UP_NOTE_TAIL) >= (int)sizeof(svc->ctx->note))
        snprintf(svc->ctx->note, sizeof(svc->ctx->note), "%s%s%s", UP_NOTE_HEAD,
                 "ca.crt in the data directory", UP_NOTE_TAIL);
    return 0;
}

/* ---- the <service>.localhost Ingress ---- */

static void on_up_timer(uv_timer_t *t)
{
    certs_svc_t *svc = t->data;
    char path[4096], err[512] = "";
    hc_buf_t b;
    hc_buf_init(&b, UP_FILE_MAX);
    hc_buf_printf(&b,
                  "# Written by hearth up: one certificate for every <service>.localhost route,\n"
                  "# issued by the local CA (ingress-shim) and served by hearth proxy.\n"
                  "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: %s\n"
                  "  namespace: default\n  annotations:\n"
                  "    cert-manager.io/cluster-issuer: %s\nspec:\n  ingressClassName: traefik\n"
                  "  tls:\n    - secretName: %s\n      hosts:\n",
                  UP_INGRESS, UP_CA, UP_TLS_SECRET);
    for (size_t i = 0; i < svc->nlocal_names; i++)
        hc_buf_printf(&b, "        - \"%s.localhost\"\n", svc->local_names[i]);
    int rc = up_path(svc, "hearth-localhost-ingress.yaml", path, sizeof(path));
    if (rc == 0 && b.len + 1 >= UP_FILE_MAX)
        rc = hc_errf(err, sizeof(err), -EFBIG, "too many names");
    if (rc == 0)
        rc = write_if_changed(path, b.base, 0600, err, sizeof(err));
    if (rc < 0)
        hc_log(HC_LOG_ERROR, "cannot write the localhost Ingress", HC_LS("path", path),
               HC_LS("error", err[0] ? err : strerror(-rc)), NULL);
    else if (rc)
        hc_log(HC_LOG_INFO, "localhost certificate names written", HC_LS("path", path),
               HC_LI("names", svc->nlocal_names), NULL);
    hc_buf_free(&b);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A name the proxy routes: kept (sorted, once) and the Ingress rewritten on the next loop
 * turn, so the names of every service started in the same turn make one write. */
static void on_local_name(const char *name, void *ud)
{
    certs_svc_t *svc = ud;
    for (size_t i = 0; i < svc->nlocal_names; i++)
        if (!strcmp(svc->local_names[i], name))
            return;
    svc->local_names =
        hc_realloc(svc->local_names, (svc->nlocal_names + 1) * sizeof(*svc->local_names));
    svc->local_names[svc->nlocal_names++] = hc_strdup(name);
    qsort(svc->local_names, svc->nlocal_names, sizeof(*svc->local_names), name_cmp);
    uv_timer_start(&svc->up_timer, on_up_timer, 0, 0);
}

int certs_up_start(certs_svc_t *svc)
{
    char err[512] = "", *crt_pem = NULL;
    int rc = ca_load(svc, &crt_pem, err, sizeof(err));
    if (rc == -ENOENT)
        rc = ca_create(svc, &crt_pem, err, sizeof(err));
    if (rc == 0)
        rc = ca_publish(svc, crt_pem, err, sizeof(err));
    hc_free(crt_pem);
    if (rc) {
        char path[4096];
        certs_secret_path(svc->out_dir, svc->cluster_ns, UP_CA, path, sizeof(path));
        hc_log(HC_LOG_ERROR,
               "cannot set up the local CA (removing its Secret file makes a new one)",
               HC_LS("file", path), HC_LS("error", err[0] ? err : strerror(-rc)), NULL);
        return rc;
    }
    uv_timer_init(svc->loop, &svc->up_timer);
    svc->up_timer.data = svc;
    proxy_local_watch(on_local_name, svc);
    return 0;
}

static void on_up_timer_closed(uv_handle_t *h)
{
    certs_svc_t *svc = h->data;
    for (size_t i = 0; i < svc->nlocal_names; i++)
        hc_free(svc->local_names[i]);
    hc_free(svc->local_names);
    svc->local_names = NULL;
    svc->nlocal_names = 0;
    svc->up_done(svc);
}

void certs_up_stop(certs_svc_t *svc, void (*done)(certs_svc_t *svc))
{
    if (!svc->up_timer.loop) {
        done(svc);
        return;
    }
    proxy_local_watch(NULL, NULL);
    svc->up_done = done;
    uv_close((uv_handle_t *)&svc->up_timer, on_up_timer_closed);
}
