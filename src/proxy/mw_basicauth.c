/* basicAuth (mw_basicauth.h): htpasswd parsing and checks, and the request phase.
 * The Apache $apr1$ scheme is MD5-crypt with another magic string; it is computed here
 * with OpenSSL's MD5 since libcrypt only knows $1$. */
#include "proxy/mw_basicauth.h"
#include "core/hc_alloc.h"
#include "core/hc_jwt.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define USERS_FILE_MAX (1u << 20)
#define CRED_MAX 1024u /* decoded user:password bytes accepted */

typedef proxy_mw_auth_t basic_cfg_t; /* users' values are htpasswd hashes */

static const char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void to64(char **p, unsigned long v, int n)
{
    while (n-- > 0) {
        *(*p)++ = itoa64[v & 0x3f];
        v >>= 6;
    }
}

static void md5_add(EVP_MD_CTX *ctx, const void *p, size_t n)
{
    EVP_DigestUpdate(ctx, p, n);
}

/* The MD5-crypt rounds (Poul-Henning Kamp's algorithm, as Apache's apr_md5_encode). */
static void apr1_digest(const char *pw, const char *salt, size_t sl, unsigned char fin[16])
{
    size_t pl = strlen(pw);
    unsigned int len;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new(), *alt = EVP_MD_CTX_new();
    if (!ctx || !alt)
        hc_oom(sizeof(void *));
    EVP_DigestInit_ex(alt, EVP_md5(), NULL);
    md5_add(alt, pw, pl);
    md5_add(alt, salt, sl);
    md5_add(alt, pw, pl);
    EVP_DigestFinal_ex(alt, fin, &len);
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    md5_add(ctx, pw, pl);
    md5_add(ctx, "$apr1$", 6);
    md5_add(ctx, salt, sl);
    for (size_t i = pl; i > 0; i -= i > 16 ? 16 : i)
        md5_add(ctx, fin, i > 16 ? 16 : i);
    for (size_t i = pl; i; i >>= 1)
        md5_add(ctx, (i & 1) ? "" : pw, 1);
    EVP_DigestFinal_ex(ctx, fin, &len);
    for (int i = 0; i < 1000; i++) {
        EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
        if (i & 1)
            md5_add(ctx, pw, pl);
        else
            md5_add(ctx, fin, 16);
        if (i % 3)
            md5_add(ctx, salt, sl);
        if (i % 7)
            md5_add(ctx, pw, pl);
        if (i & 1)
            md5_add(ctx, fin, 16);
        else
            md5_add(ctx, pw, pl);
        EVP_DigestFinal_ex(ctx, fin, &len);
    }
    EVP_MD_CTX_free(alt);
    EVP_MD_CTX_free(ctx);
}

/* Writes "$apr1$<salt>$<22 chars>" for pw with the salt of hash into out (64 bytes). */
static void apr1_crypt(const char *hash, const char *pw, char out[64])
{
    const char *salt = hash + 6;
    size_t sl = strcspn(salt, "$");
    unsigned char f[16];
    if (sl > 8)
        sl = 8;
    apr1_digest(pw, salt, sl, f);
    char *p = out + snprintf(out, 64, "$apr1$%.*s$", (int)sl, salt);
    to64(&p, ((unsigned long)f[0] << 16) | (f[6] << 8) | f[12], 4);
    to64(&p, ((unsigned long)f[1] << 16) | (f[7] << 8) | f[13], 4);
    to64(&p, ((unsigned long)f[2] << 16) | (f[8] << 8) | f[14], 4);
    to64(&p, ((unsigned long)f[3] << 16) | (f[9] << 8) | f[15], 4);
    to64(&p, ((unsigned long)f[4] << 16) | (f[10] << 8) | f[5], 4);
    to64(&p, f[11], 2);
    *p = '\0';
}

static int same(const char *a, const char *b)
{
    size_t n = strlen(a);
    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

int proxy_mw_htpasswd_check(const char *hash, const char *password)
{
    if (strncmp(hash, "{SHA}", 5) == 0) {
        unsigned char md[20];
        char b64[32];
        EVP_Digest(password, strlen(password), md, NULL, EVP_sha1(), NULL);
        EVP_EncodeBlock((unsigned char *)b64, md, sizeof(md));
        return same(hash + 5, b64);
    }
    if (strncmp(hash, "$apr1$", 6) == 0) {
        char out[64];
        apr1_crypt(hash, password, out);
        return same(hash, out);
    }
    if (strncmp(hash, "$2y$", 4) && strncmp(hash, "$2b$", 4) && strncmp(hash, "$2a$", 4) &&
        strncmp(hash, "$1$", 3))
        return 0;
    struct crypt_data *data = hc_calloc(1, sizeof(*data));
    const char *out = crypt_rn(password, hash, data, (int)sizeof(*data));
    int ok = out && out[0] != '*' && same(hash, out);
    hc_free(data);
    return ok;
}

/* Adds the user lines of text (one user per line) to users. */
static int add_lines(proxy_mw_headers_t *users, const char *what, const char *text, char *err,
                     size_t errlen)
{
    const char *s = text;
    while (*s) {
        size_t n = strcspn(s, "\r\n");
        char *line = hc_memdup(s, n);
        char *b = line, *e = line + n;
        while (*b == ' ' || *b == '\t')
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        char *colon = strchr(b, ':');
        int rc = 0;
        if (*b && *b != '#') {
            if (!colon || colon == b)
                rc = hc_errf(err, errlen, -EINVAL, "%s: a user line lacks \"user:hash\"", what);
            else {
                *colon = '\0';
                proxy_mw_headers_add(users, b, colon + 1);
            }
        }
        hc_free(line);
        if (rc != 0)
            return rc;
        s += n;
        s += strspn(s, "\r\n");
    }
    return 0;
}

static int add_file(proxy_mw_headers_t *users, const char *what, const char *path, char *err,
                    size_t errlen)
{
    hc_buf_t b;
    char chunk[4096];
    size_t n;
    FILE *f = fopen(path, "re");
    if (!f)
        return hc_errf(err, errlen, -EINVAL, "%s: cannot open usersFile %s", what, path);
    hc_buf_init(&b, USERS_FILE_MAX);
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (hc_buf_append(&b, chunk, n) != 0)
            rc = hc_errf(err, errlen, -EINVAL, "%s: usersFile %s is too large", what, path);
    fclose(f);
    if (rc == 0 && b.base)
        rc = add_lines(users, what, b.base, err, errlen);
    hc_buf_free(&b);
    return rc;
}

static int auth_users(const json_t *spec, const char *what, proxy_mw_headers_t *users, char *err,
                      size_t errlen)
{
    char *file = NULL;
    json_t *u = proxy_mw_json_get(spec, "users");
    int rc = 0;
    if (json_is_string(u)) {
        rc = add_lines(users, what, json_string_value(u), err, errlen);
    } else if (json_is_array(u)) {
        for (size_t i = 0; rc == 0 && i < json_array_size(u); i++) {
            json_t *it = json_array_get(u, i);
            rc = json_is_string(it) ? add_lines(users, what, json_string_value(it), err, errlen)
                                    : hc_errf(err, errlen, -EINVAL, "users[%zu]: not a string", i);
        }
    } else if (u && !json_is_null(u)) {
        rc = hc_errf(err, errlen, -EINVAL, "users: expected a list of user:hash");
    }
    if (rc == 0)
        rc = proxy_mw_json_str(spec, "usersFile", &file, err, errlen);
    if (rc == 0 && file && file[0])
        rc = add_file(users, what, file, err, errlen);
    hc_free(file);
    if (rc == 0 && users->len == 0)
        rc = hc_errf(err, errlen, -EINVAL, "%s: no users", what);
    return rc;
}

int proxy_mw_auth_parse(const json_t *spec, const char *what, proxy_mw_auth_t *a, char *err,
                        size_t errlen)
{
    memset(a, 0, sizeof(*a));
    int rc = auth_users(spec, what, &a->users, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_str(spec, "realm", &a->realm, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_str(spec, "headerField", &a->header_field, err, errlen);
    if (rc == 0)
        rc = proxy_mw_json_bool(spec, "removeHeader", &a->remove_header, err, errlen);
    if (rc != 0) {
        proxy_mw_auth_free(a);
        return rc;
    }
    if (!a->realm || !a->realm[0])
        proxy_mw_str_set(&a->realm, "traefik");
    return 0;
}

void proxy_mw_auth_free(proxy_mw_auth_t *a)
{
    proxy_mw_headers_free(&a->users);
    hc_free(a->realm);
    hc_free(a->header_field);
    memset(a, 0, sizeof(*a));
}

void proxy_mw_auth_pass(const proxy_mw_auth_t *a, proxy_mw_req_t *req, const char *user)
{
    proxy_mw_str_set(&req->user, user);
    if (a->header_field && a->header_field[0])
        proxy_mw_headers_set(&req->headers, a->header_field, user);
    if (a->remove_header)
        proxy_mw_headers_del(&req->headers, "Authorization");
}

void proxy_mw_basicauth_free(void *cfg)
{
    if (!cfg)
        return;
    proxy_mw_auth_free(cfg);
    hc_free(cfg);
}

int proxy_mw_basicauth_parse(const json_t *spec, const char *name, void **cfg, char *err,
                             size_t errlen)
{
    (void)name;
    basic_cfg_t *c = hc_calloc(1, sizeof(*c));
    int rc = proxy_mw_auth_parse(spec, "basicAuth", c, err, errlen);
    if (rc != 0) {
        hc_free(c);
        return rc;
    }
    *cfg = c;
    return 0;
}

/* RFC 7617 §2 as Go's Request.BasicAuth: "Basic " (any case), then base64 (RFC 4648 §4,
 * padded) of user:password, split at the first colon. Returns the decoded text (caller
 * frees) with *colon at the split, or NULL. */
static char *credentials(const proxy_mw_req_t *req, char **colon)
{
    const char *auth = proxy_mw_headers_get(&req->headers, "Authorization");
    if (!auth || strncasecmp(auth, "Basic ", 6) != 0)
        return NULL;
    const char *b64 = auth + 6;
    size_t n = strlen(b64);
    if (n == 0 || n % 4 || n / 4 * 3 > CRED_MAX)
        return NULL;
    size_t len;
    char *out = hc_base64_decode(b64, n, &len);
    char *col = out ? memchr(out, ':', len) : NULL;
    if (!col || memchr(out, '\0', len)) {
        hc_free(out);
        return NULL;
    }
    *col = '\0';
    *colon = col;
    return out;
}

proxy_mw_verdict_t proxy_mw_basicauth_request(const void *cfg, proxy_mw_req_t *req,
                                              proxy_mw_resp_t *resp)
{
    const basic_cfg_t *c = cfg;
    char *colon = NULL;
    char *user = credentials(req, &colon);
    const char *hash = NULL;
    /* User names match exactly; the last line for a user wins. */
    for (size_t i = 0; user && i < c->users.len; i++)
        if (strcmp(c->users.v[i].name, user) == 0)
            hash = c->users.v[i].value;
    if (!hash || !hash[0] || !proxy_mw_htpasswd_check(hash, colon + 1)) {
        /* Traefik logs the name given (ClientUsername), refused or not, "" for none */
        proxy_mw_str_set(&req->user, user ? user : "");
        hc_free(user);
        size_t n = strlen(c->realm) + sizeof("Basic realm=\"\"");
        char *www = hc_malloc(n);
        snprintf(www, n, "Basic realm=\"%s\"", c->realm);
        proxy_mw_headers_set(&resp->headers, "WWW-Authenticate", www);
        hc_free(www);
        return proxy_mw_resp_text(resp, 401, "text/plain", "401 Unauthorized\n") /* goauth's */;
    }
    proxy_mw_auth_pass(c, req, user);
    hc_free(user);
    return PROXY_MW_NEXT;
}
