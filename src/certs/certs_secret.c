/* Secret manifests for certs (certs_secret.h): rendering the kubernetes.io/tls and the
 * ACME account key Secrets as YAML, atomic file replacement, and reading Secret entries
 * back out of a manifest snapshot. */
#include "certs/certs_secret.h"

#include "core/hc_alloc.h"
#include "core/hc_jwt.h"
#include "core/hc_buf.h"
#include "core/hc_err.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int certs_secret_path(const char *dir, const char *ns, const char *name, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/hearth-certs-%s-%s.yaml", dir, ns, name);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* fsync of the directory holding path (dlen bytes of it, -1 when it has no '/'), so
 * that the rename itself survives a crash. */
static int dir_sync(const char *path, int dlen)
{
    char dir[4096];
    if (dlen < 0)
        snprintf(dir, sizeof(dir), ".");
    else if (dlen == 0)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", dlen, path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int certs_file_write_atomic(const char *path, const char *data, size_t len, unsigned mode,
                            char *err, size_t errlen)
{
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int dlen = slash ? (int)(slash - path) : -1;
    /* A hidden name: hc_manifest skips entries starting with '.', so a half-written
     * temporary is never read as a manifest. */
    if (snprintf(tmp, sizeof(tmp), "%.*s%s.%s.tmp%ld", dlen > 0 ? dlen : 0, path, slash ? "/" : "",
                 slash ? slash + 1 : path, (long)getpid()) >= (int)sizeof(tmp))
        return hc_errf(err, errlen, -ENAMETOOLONG, "path too long: %s", path);
    /* A leftover temporary (or a planted link) is removed, and O_EXCL makes the file ours
     * with exactly mode: O_TRUNC on an old file would keep its looser permissions. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return hc_errf(err, errlen, -errno, "cannot create %s: %s", tmp, strerror(errno));
    int e = fchmod(fd, mode) == 0 ? 0 : errno; /* the umask may have taken bits away */
    for (size_t off = 0; !e && off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            e = w < 0 ? errno : EIO;
        else
            off += (size_t)w;
    }
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (e) {
        unlink(tmp);
        return hc_errf(err, errlen, -e, "cannot write %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return hc_errf(err, errlen, -e, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    int rc = dir_sync(path, dlen);
    if (rc)
        return hc_errf(err, errlen, rc, "cannot sync the directory of %s: %s", path, strerror(-rc));
    return 0;
}

int certs_secret_remove(const char *path)
{
    return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}

/* ---- rendering ---- */

static void put_q(hc_buf_t *b, const char *s)
{
    hc_buf_puts(b, "\"");
    hc_buf_json_escape(b, s ? s : "", s ? strlen(s) : 0);
    hc_buf_puts(b, "\"");
}

static void put_b64(hc_buf_t *b, const char *key, const char *v)
{
    size_t n = strlen(v);
    unsigned char *enc = hc_malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock(enc, (const unsigned char *)v, (int)n);
    hc_buf_printf(b, "  %s: %s\n", key, (const char *)enc);
    hc_free(enc);
}

static void put_list(hc_buf_t *b, const char *ann, char *const *v, size_t n)
{
    hc_buf_printf(b, "    cert-manager.io/%s: \"", ann);
    for (size_t i = 0; i < n; i++) {
        if (i)
            hc_buf_puts(b, ",");
        hc_buf_json_escape(b, v[i], strlen(v[i]));
    }
    hc_buf_puts(b, "\"\n");
}

static void put_head(hc_buf_t *b, const char *type, const char *ns, const char *name)
{
    hc_buf_puts(b, "# Written by hearth certs; replaced at every issuance.\n"
                   "apiVersion: v1\nkind: Secret\ntype: ");
    hc_buf_printf(b, "%s\nmetadata:\n  name: ", type);
    put_q(b, name);
    hc_buf_puts(b, "\n  namespace: ");
    put_q(b, ns);
    hc_buf_puts(b, "\n");
}

static int render_done(hc_buf_t *b, const char *dir, const char *ns, const char *name, char *err,
                       size_t errlen)
{
    char path[4096];
    int rc;
    if (b->len >= CERTS_SECRET_MAX)
        rc = hc_errf(err, errlen, -EFBIG, "Secret %s/%s too large", ns, name);
    else if ((rc = certs_secret_path(dir, ns, name, path, sizeof(path))) != 0)
        hc_errf(err, errlen, rc, "path too long for Secret %s/%s", ns, name);
    else
        rc = certs_file_write_atomic(path, b->base, b->len, 0600, err, errlen);
    if (b->base)
        OPENSSL_cleanse(b->base, b->len); /* the private key, base64 */
    hc_buf_free(b);
    return rc;
}

int certs_secret_write_tls(const char *dir, const certs_cert_t *c, const certs_tls_data_t *d,
                           char *err, size_t errlen)
{
    hc_buf_t b;
    hc_buf_init(&b, CERTS_SECRET_MAX + 1);
    put_head(&b, "kubernetes.io/tls", c->ns, c->secret_name);
    hc_buf_puts(&b, "  labels:\n    controller.cert-manager.io/fao: \"true\"\n  annotations:\n");
    hc_buf_puts(&b, "    cert-manager.io/certificate-name: ");
    put_q(&b, c->name);
    hc_buf_puts(&b, "\n    cert-manager.io/issuer-name: ");
    put_q(&b, c->issuer_name);
    hc_buf_printf(&b, "\n    cert-manager.io/issuer-kind: \"%s\"\n", c->issuer_kind);
    hc_buf_puts(&b, "    cert-manager.io/issuer-group: \"cert-manager.io\"\n");
    put_list(&b, "alt-names", c->dns_names, c->ndns);
    put_list(&b, "ip-sans", c->ip_addresses, c->nips);
    hc_buf_puts(&b, "    cert-manager.io/uri-sans: \"\"\n    cert-manager.io/common-name: ");
    put_q(&b, c->common_name ? c->common_name : "");
    if (d->spec_hash) {
        hc_buf_puts(&b, "\n    " CERTS_ANN_SPEC_HASH ": ");
        put_q(&b, d->spec_hash);
    }
    hc_buf_puts(&b, "\ndata:\n");
    put_b64(&b, "tls.crt", d->crt_pem);
    put_b64(&b, "tls.key", d->key_pem);
    if (d->ca_pem)
        put_b64(&b, "ca.crt", d->ca_pem);
    return render_done(&b, dir, c->ns, c->secret_name, err, errlen);
}

int certs_secret_write_ca(const char *dir, const char *ns, const char *name, const char *crt_pem,
                          const char *key_pem, char *err, size_t errlen)
{
    hc_buf_t b;
    hc_buf_init(&b, CERTS_SECRET_MAX + 1);
    put_head(&b, "kubernetes.io/tls", ns, name);
    hc_buf_puts(&b, "data:\n");
    put_b64(&b, "tls.crt", crt_pem);
    put_b64(&b, "tls.key", key_pem);
    put_b64(&b, "ca.crt", crt_pem);
    return render_done(&b, dir, ns, name, err, errlen);
}

int certs_secret_write_key(const char *dir, const char *ns, const char *name, const char *key_pem,
                           char *err, size_t errlen)
{
    hc_buf_t b;
    hc_buf_init(&b, CERTS_SECRET_MAX + 1);
    put_head(&b, "Opaque", ns, name);
    hc_buf_puts(&b, "data:\n");
    put_b64(&b, "tls.key", key_pem);
    return render_done(&b, dir, ns, name, err, errlen);
}

/* ---- reading ---- */

static int b64_decode(const char *in, char **out, size_t *len)
{
    size_t n = strlen(in);
    if (n > CERTS_SECRET_MAX)
        return -EINVAL;
    *out = hc_base64_decode(in, n, len);
    return *out ? 0 : -EINVAL;
}

int certs_secret_get(const hc_manifest_set_t *set, const char *ns, const char *name,
                     const char *key, char **out, size_t *len)
{
    const hc_manifest_obj_t *o = set ? hc_manifest_set_find(set, "Secret", ns, name) : NULL;
    if (!o)
        return -ENOENT;
    const char *plain =
        json_string_value(json_object_get(json_object_get(o->doc, "stringData"), key));
    const char *enc = json_string_value(json_object_get(json_object_get(o->doc, "data"), key));
    if (plain) {
        *len = strlen(plain);
        *out = hc_memdup(plain, *len);
        return 0;
    }
    if (!enc)
        return -ENOENT;
    return b64_decode(enc, out, len);
}
