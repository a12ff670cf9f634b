/* Password hashing through libcrypt (bcrypt $2b$ for new hashes; any crypt(3) scheme
 * verified) and the admin-password bootstrap file (hc_password.h). */
#include "core/hc_password.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { BCRYPT_COST = 10, GENERATED_LEN = 20, SAVED_MAX = 1024 };

int hc_password_hash(const char *pw, char *out, size_t cap)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$2b$", BCRYPT_COST, NULL, 0, salt, sizeof(salt)))
        return -EIO;
    struct crypt_data *cd = hc_calloc(1, sizeof(*cd));
    const char *h = crypt_rn(pw, salt, cd, sizeof(*cd));
    int rc = -EIO;
    if (h && h[0] != '*' && strlen(h) < cap) {
        memcpy(out, h, strlen(h) + 1);
        rc = 0;
    }
    OPENSSL_cleanse(cd, sizeof(*cd));
    hc_free(cd);
    return rc;
}

int hc_password_verify(const char *pw, const char *hash)
{
    if (!pw || !hash || !hash[0])
        return 0;
    struct crypt_data *cd = hc_calloc(1, sizeof(*cd));
    const char *h = crypt_rn(pw, hash, cd, sizeof(*cd));
    size_t n = strlen(hash);
    int ok = h && h[0] != '*' && strlen(h) == n && CRYPTO_memcmp(h, hash, n) == 0;
    OPENSSL_cleanse(cd, sizeof(*cd));
    hc_free(cd);
    return ok;
}

/* Reads the saved password (first line). A file readable by others is narrowed to 0600
 * (it may predate hearth or have been copied in). Returns 0, -ENOENT (absent), -ENODATA
 * (empty: an older hearth crashed between creating and writing it, so nobody ever saw
 * a password from it), or another negative errno. */
static int read_saved(const char *path, char *out, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077)) {
        hc_log(HC_LOG_WARN, "admin password file was readable by others: now mode 0600",
               HC_LS("path", path), NULL);
        if (fchmod(fd, 0600) < 0)
            hc_log(HC_LOG_WARN, "cannot chmod the admin password file", HC_LS("path", path),
                   HC_LS("error", strerror(errno)), NULL);
    }
    char buf[SAVED_MAX];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int err = errno;
    close(fd);
    if (n < 0)
        return -err;
    buf[n] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    size_t len = strlen(buf);
    int rc = n == 0 ? -ENODATA : !len || len >= cap ? -EINVAL : 0;
    if (rc == 0)
        memcpy(out, buf, len + 1);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

/* A random password of GENERATED_LEN characters from an unambiguous alphabet. */
static int generate(char *out, size_t cap)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    unsigned char rnd[GENERATED_LEN * 2];
    if (cap <= GENERATED_LEN || RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -EIO;
    size_t k = 0;
    for (size_t i = 0; i < sizeof(rnd) && k < GENERATED_LEN; i++)
        if (rnd[i] < 256 - 256 % (sizeof(alphabet) - 1)) /* no modulo bias */
            out[k++] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    if (k < GENERATED_LEN)
        return generate(out, cap);
    out[k] = 0;
    OPENSSL_cleanse(rnd, sizeof(rnd));
    return 0;
}

/* Saves pw at path without a window where the file exists half written: a private
 * temporary file is written and synced, then hard-linked to path, which fails with
 * -EEXIST when another process saved first. Returns 0 or a negative errno. */
static int save(const char *path, const char *pw)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 (less if the umask says so) */
    if (fd < 0)
        return -errno;
    size_t n = strlen(pw);
    int rc = write(fd, pw, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0 ? 0 : -EIO;
    if (close(fd) < 0 && !rc)
        rc = -EIO;
    if (!rc && link(tmp, path) < 0)
        rc = -errno;
    unlink(tmp);
    return rc;
}

int hc_password_bootstrap(const char *configured, const char *data_dir, const char *service,
                          char *out, size_t cap, int *generated)
{
    *generated = 0;
    if (configured && configured[0]) {
        if (strlen(configured) >= cap) {
            hc_log(HC_LOG_ERROR, "admin password too long", HC_LS("service", service), NULL);
            return -EINVAL;
        }
        memcpy(out, configured, strlen(configured) + 1);
        return 0;
    }
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s-admin-password", data_dir, service) >=
        sizeof(path))
        return -ENAMETOOLONG;
    int rc = read_saved(path, out, cap);
    if (rc == 0)
        return 0;
    if (rc == -ENODATA && (unlink(path) == 0 || errno == ENOENT))
        rc = -ENOENT;
    if (rc == -ENOENT && (rc = generate(out, cap)) == 0) {
        rc = save(path, out);
        if (rc == -EEXIST) /* another process saved first: its password wins */
            rc = read_saved(path, out, cap);
        else if (rc == 0)
            *generated = 1;
    }
    if (rc) {
        OPENSSL_cleanse(out, cap);
        hc_log(HC_LOG_ERROR, "cannot read or save the admin password", HC_LS("path", path),
               HC_LS("error", strerror(-rc)), NULL);
        return rc;
    }
    if (*generated)
        hc_log(HC_LOG_INFO, "generated an admin password", HC_LS("service", service),
               HC_LS("path", path), NULL);
    return 0;
}
