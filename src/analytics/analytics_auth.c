/* Users and tokens as Umami keeps them: bcrypt hashes in the `user` table, the bootstrap
 * admin, POST /api/auth/login, /verify and /logout, GET /api/me and /api/config, and the
 * Bearer check every read route runs (analytics_auth_require).
 *
 * Token (umami-software/umami src/lib/crypto.ts + jwt.ts): an HS256 JWT over
 * {"userId","role","iat"} keyed with secret() (the 128 hex chars), then encrypted:
 * base64(salt[64] | iv[16] | tag[16] | AES-256-GCM(jwt)), key = PBKDF2-HMAC-SHA512(secret,
 * salt, 10000, 32). A token without "role" (api-client 0.80 minted its own) is accepted:
 * the role comes from the database. Key derivation and bcrypt run on libuv's thread pool. */
#include "analytics/analytics_int.h"

#include "core/hc_alloc.h"
#include "core/hc_jwt.h"
#include "core/hc_log.h"
#include "core/hc_password.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    SALT_LEN = 64,
    IV_LEN = 16,
    TAG_LEN = 16,
    KDF_ROUNDS = 10000,
    TOKEN_MAX = 4096, /* bytes of a Bearer token we look at */
    JWT_MAX = 2048,   /* the inner JWT */
    CACHE_MAX = 1024, /* decrypted tokens remembered */
    CRED_MAX = 255,   /* username / password bytes */
};

/* A bcrypt hash of cost 10 (Umami's) that an unknown username is checked against, so a
 * wrong username takes as long as a wrong password and usernames cannot be probed by
 * timing. Its password does not matter: an unknown user never logs in. */
static const char UNKNOWN_USER_HASH[] =
    "$2b$10$BUli0c.muyCW1ErNJc3jL.vFRFtFJWrT8/GcR4A.sUdCznaXiqFXa";

/* ---- the token ---- */

static int derive_key(const char *secret, const unsigned char *salt, unsigned char key[32])
{
    return PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt, SALT_LEN, KDF_ROUNDS, EVP_sha512(),
                             32, key) == 1
               ? 0
               : -EIO;
}

/* Encrypts jwt into out (base64, NUL-terminated). Returns 0 or -EIO/-ENOSPC. */
static int token_seal(const char *secret, const char *jwt, char *out, size_t cap)
{
    size_t n = strlen(jwt);
    unsigned char *raw = hc_malloc(SALT_LEN + IV_LEN + TAG_LEN + n);
    unsigned char key[32];
    int len = 0, fin = 0, rc = -EIO;
    EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
    if (RAND_bytes(raw, SALT_LEN + IV_LEN) != 1 || derive_key(secret, raw, key) || !cx ||
        EVP_EncryptInit_ex(cx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(cx, NULL, NULL, key, raw + SALT_LEN) != 1 ||
        EVP_EncryptUpdate(cx, raw + SALT_LEN + IV_LEN + TAG_LEN, &len, (const unsigned char *)jwt,
                          (int)n) != 1 ||
        EVP_EncryptFinal_ex(cx, raw + SALT_LEN + IV_LEN + TAG_LEN + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + SALT_LEN + IV_LEN) != 1)
        goto out;
    size_t total = SALT_LEN + IV_LEN + TAG_LEN + (size_t)len + (size_t)fin;
    rc = -ENOSPC;
    if (cap < 4 * ((total + 2) / 3) + 1)
        goto out;
    EVP_EncodeBlock((unsigned char *)out, raw, (int)total);
    rc = 0;
out:
    EVP_CIPHER_CTX_free(cx);
    OPENSSL_cleanse(key, sizeof(key));
    hc_free(raw);
    return rc;
}

/* Decrypts a sealed token into jwt (NUL-terminated). Returns 0 or -EINVAL. */
static int token_open(const char *secret, const char *tok, size_t n, char *jwt, size_t cap)
{
    if (n < 4 || n > TOKEN_MAX)
        return -EINVAL;
    size_t got = 0;
    unsigned char *raw = (unsigned char *)hc_base64_decode(tok, n, &got);
    int rc = -EINVAL;
    unsigned char key[32];
    EVP_CIPHER_CTX *cx = NULL;
    if (!raw)
        goto out;
    int clen = (int)got - (SALT_LEN + IV_LEN + TAG_LEN), len = 0, fin = 0;
    if (clen <= 0 || (size_t)clen >= cap || derive_key(secret, raw, key))
        goto out;
    cx = EVP_CIPHER_CTX_new();
    if (!cx || EVP_DecryptInit_ex(cx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(cx, NULL, NULL, key, raw + SALT_LEN) != 1 ||
        EVP_DecryptUpdate(cx, (unsigned char *)jwt, &len, raw + SALT_LEN + IV_LEN + TAG_LEN,
                          clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + SALT_LEN + IV_LEN) != 1 ||
        EVP_DecryptFinal_ex(cx, (unsigned char *)jwt + len, &fin) != 1)
        goto out;
    jwt[len + fin] = 0;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(cx);
    OPENSSL_cleanse(key, sizeof(key));
    hc_free(raw);
    return rc;
}

/* ---- thread-pool work: bcrypt and key derivation ---- */

typedef struct auth_work {
    analytics_call_t call;
    uv_work_t work;
    analytics_t *an;
    char secret[ANALYTICS_HASH_HEX + 1];
    /* login */
    char password[CRED_MAX + 1];
    char hash[128];
    int unknown; /* no such user: bcrypt runs anyway, against UNKNOWN_USER_HASH */
    analytics_user_t user;
    int64_t created_ms;
    int ok;
    char token[TOKEN_MAX];
    /* Bearer check */
    char bearer[TOKEN_MAX + 1];
    char bearer_key[2 * 32 + 1]; /* its SHA-256: the token cache's key */
    char user_id[ANALYTICS_UUID_LEN + 1];
    int cacheable; /* no exp or nbf: the answer holds for ever */
    analytics_auth_cb cb;
} auth_work_t;

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- the Bearer check ---- */

/* The cache is keyed by a digest of the token, not the token: a lookup's string compare
 * then reveals nothing usable about a valid token, and no token sits in memory. */
static void token_key(const char *tok, size_t n, char out[2 * 32 + 1])
{
    unsigned char md[32];
    unsigned len = 0;
    if (!EVP_Digest(tok, n, md, &len, EVP_sha256(), NULL))
        abort();
    static const char hexd[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hexd[md[i] >> 4];
        out[2 * i + 1] = hexd[md[i] & 15];
    }
    out[64] = '\0';
}

static void on_user(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    auth_work_t *w = arg;
    (void)errmsg;
    w->call.busy = 0;
    analytics_user_t u = {0};
    int found = !status && res->nrows == 1;
    if (found) {
        const hc_store_value_t *v;
        snprintf(u.id, sizeof(u.id), "%s", w->user_id);
        v = hc_store_cell(res, 0, 0);
        snprintf(u.username, sizeof(u.username), "%s", v->type == HC_STORE_TEXT ? v->v.s.p : "");
        v = hc_store_cell(res, 0, 1);
        snprintf(u.role, sizeof(u.role), "%s", v->type == HC_STORE_TEXT ? v->v.s.p : "user");
        u.is_admin = !strcmp(u.role, "admin");
    }
    analytics_t *an = w->an;
    analytics_auth_cb cb = w->cb;
    hc_http_req_t *req = analytics_call_finish(w);
    if (!req)
        return;
    if (status)
        analytics_respond_error(req, 500, "server-error", "Server error");
    else if (!found)
        analytics_respond_error(req, 401, "unauthorized", "Unauthorized");
    else
        cb(req, an, &u);
}

static void user_lookup(auth_work_t *w)
{
    hc_store_value_t p = hc_store_text(w->user_id);
    w->call.busy = 1;
    if (hc_store_query(
            w->an->store,
            "SELECT username, role FROM \"user\" WHERE user_id = $1 AND deleted_at IS NULL", &p, 1,
            on_user, w)) {
        w->call.busy = 0;
        hc_http_req_t *req = analytics_call_finish(w);
        if (req)
            analytics_respond_error(req, 503, "service-unavailable", "Service unavailable");
    }
}

/* Thread pool: opens the token and reads userId out of its JWT. */
static void open_work(uv_work_t *wk)
{
    auth_work_t *w = wk->data;
    char jwt[JWT_MAX], payload[JWT_MAX];
    w->ok = 0;
    long pn;
    if (token_open(w->secret, w->bearer, strlen(w->bearer), jwt, sizeof(jwt)) ||
        (pn = hc_jwt_verify(jwt, strlen(jwt), w->secret, strlen(w->secret), payload,
                            sizeof(payload))) < 0)
        return;
    json_t *o = json_loadb(payload, (size_t)pn, 0, NULL);
    const char *uid = json_string_value(json_object_get(o, "userId"));
    /* jsonwebtoken's verify honours exp and nbf when a token carries them */
    json_t *exp = json_object_get(o, "exp"), *nbf = json_object_get(o, "nbf");
    double now = (double)now_s();
    int expired = (exp && (!json_is_number(exp) || now >= json_number_value(exp))) ||
                  (nbf && (!json_is_number(nbf) || now < json_number_value(nbf)));
    if (uid && analytics_uuid_valid(uid) && !expired) {
        snprintf(w->user_id, sizeof(w->user_id), "%s", uid);
        w->ok = 1;
        w->cacheable = !exp && !nbf;
    }
    json_decref(o);
}

static void open_done(uv_work_t *wk, int status)
{
    auth_work_t *w = wk->data;
    w->call.busy = 0;
    if (!w->call.req) {
        analytics_call_finish(w);
        return;
    }
    if (status || !w->ok) {
        hc_http_req_t *req = analytics_call_finish(w);
        analytics_respond_error(req, 401, "unauthorized", "Unauthorized");
        return;
    }
    analytics_t *an = w->an;
    if (w->cacheable) {
        if (!an->tokens || json_object_size(an->tokens) >= CACHE_MAX) {
            json_decref(an->tokens);
            an->tokens = json_object();
        }
        json_object_set_new(an->tokens, w->bearer_key, json_string(w->user_id));
    }
    user_lookup(w);
}

void analytics_auth_require(analytics_t *an, hc_http_req_t *req, analytics_auth_cb cb)
{
    size_t n = 0;
    const char *h = hc_http_req_header(req, "Authorization", &n);
    if (!h || n < 8 || strncasecmp(h, "Bearer ", 7) || n - 7 > TOKEN_MAX) {
        analytics_respond_error(req, 401, "unauthorized", "Unauthorized");
        return;
    }
    auth_work_t *w = analytics_call_new(req, sizeof(*w));
    w->an = an;
    w->cb = cb;
    memcpy(w->bearer, h + 7, n - 7);
    w->bearer[n - 7] = 0;
    token_key(w->bearer, n - 7, w->bearer_key);
    const char *uid = json_string_value(json_object_get(an->tokens, w->bearer_key));
    if (uid) {
        snprintf(w->user_id, sizeof(w->user_id), "%s", uid);
        user_lookup(w);
        return;
    }
    snprintf(w->secret, sizeof(w->secret), "%s", an->secret);
    w->work.data = w;
    w->call.busy = 1;
    if (uv_queue_work(an->loop, &w->work, open_work, open_done)) {
        w->call.busy = 0;
        analytics_call_finish(w);
        analytics_respond_error(req, 503, "service-unavailable", "Service unavailable");
    }
}

/* ---- users as JSON ---- */

static json_t *user_json(const analytics_user_t *u, int64_t created_ms, int with_teams)
{
    char ts[32];
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", u->id, "username", u->username, "role",
                  u->role, "createdAt", analytics_ts_iso(created_ms, ts), "isAdmin", u->is_admin);
    if (with_teams)
        json_object_set_new(o, "teams", json_array());
    return o;
}

/* ---- POST /api/auth/login ---- */

static void login_work(uv_work_t *wk)
{
    auth_work_t *w = wk->data;
    w->ok = hc_password_verify(w->password, w->hash) && !w->unknown;
    OPENSSL_cleanse(w->password, sizeof(w->password));
    if (!w->ok)
        return;
    /* jsonwebtoken's sign: the payload's keys in order, then iat */
    char jwt[JWT_MAX];
    json_t *o = json_pack("{s:s, s:s, s:I}", "userId", w->user.id, "role", w->user.role, "iat",
                          (json_int_t)now_s());
    char *payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!payload ||
        hc_jwt_sign(payload, strlen(payload), w->secret, strlen(w->secret), jwt, sizeof(jwt)) < 0 ||
        token_seal(w->secret, jwt, w->token, sizeof(w->token)))
        w->ok = -1;
    free(payload);
    json_decref(o);
}

static void login_done(uv_work_t *wk, int status)
{
    auth_work_t *w = wk->data;
    w->call.busy = 0;
    json_t *body = NULL;
    if (!status && w->ok == 1)
        body = json_pack("{s:s, s:o}", "token", w->token, "user",
                         user_json(&w->user, w->created_ms, 1));
    int ok = w->ok;
    hc_http_req_t *req = analytics_call_finish(w);
    if (!req) {
        json_decref(body);
        return;
    }
    if (body)
        analytics_respond_json(req, 200, body);
    else if (status || ok < 0)
        analytics_respond_error(req, 500, "server-error", "Server error");
    else
        analytics_respond_error(req, 401, "incorrect-username-password",
                                "Incorrect username and/or password.");
}

static void on_login_user(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    auth_work_t *w = arg;
    (void)errmsg;
    w->call.busy = 0;
    if (!w->call.req || status) {
        hc_http_req_t *req = analytics_call_finish(w);
        if (req)
            analytics_respond_error(req, 500, "server-error", "Server error");
        return;
    }
    if (res->nrows != 1) {
        w->unknown = 1;
        snprintf(w->hash, sizeof(w->hash), "%s", UNKNOWN_USER_HASH);
    } else {
        const hc_store_value_t *v[4];
        for (size_t i = 0; i < 4; i++)
            v[i] = hc_store_cell(res, 0, i);
        snprintf(w->user.id, sizeof(w->user.id), "%s",
                 v[0]->type == HC_STORE_TEXT ? v[0]->v.s.p : "");
        snprintf(w->hash, sizeof(w->hash), "%s", v[1]->type == HC_STORE_TEXT ? v[1]->v.s.p : "");
        snprintf(w->user.role, sizeof(w->user.role), "%s",
                 v[2]->type == HC_STORE_TEXT ? v[2]->v.s.p : "user");
        w->user.is_admin = !strcmp(w->user.role, "admin");
        w->created_ms = analytics_ts_cell(v[3]);
    }
    snprintf(w->secret, sizeof(w->secret), "%s", w->an->secret);
    w->work.data = w;
    w->call.busy = 1;
    if (uv_queue_work(w->an->loop, &w->work, login_work, login_done)) {
        w->call.busy = 0;
        hc_http_req_t *req = analytics_call_finish(w);
        if (req)
            analytics_respond_error(req, 503, "service-unavailable", "Service unavailable");
    }
}

#define PG_MS(c) "(EXTRACT(EPOCH FROM " c ") * 1000)::int8"

static void on_login_body(hc_http_req_t *req, char *body, size_t len, int err, void *arg)
{
    auth_work_t *w = arg;
    if (err) {
        if (err != -ECONNRESET)
            analytics_call_finish(w);
        return;
    }
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je);
    const char *user = json_string_value(json_object_get(o, "username"));
    const char *pw = json_string_value(json_object_get(o, "password"));
    if (!user || !pw || !*user || !*pw || strlen(user) > CRED_MAX || strlen(pw) > CRED_MAX) {
        json_decref(o);
        analytics_call_finish(w);
        analytics_respond_error(req, 400, "bad-request", "Bad request");
        return;
    }
    snprintf(w->user.username, sizeof(w->user.username), "%s", user);
    snprintf(w->password, sizeof(w->password), "%s", pw);
    json_decref(o);
    hc_store_value_t p = hc_store_text(w->user.username);
    w->call.busy = 1;
    if (hc_store_query(
            w->an->store,
            w->an->is_pg
                ? "SELECT user_id, password, role, " PG_MS(
                      "created_at") " FROM \"user\" WHERE username = $1 AND deleted_at IS NULL"
                : "SELECT user_id, password, role, created_at FROM \"user\" "
                  "WHERE username = $1 AND deleted_at IS NULL",
            &p, 1, on_login_user, w)) {
        w->call.busy = 0;
        analytics_call_finish(w);
        analytics_respond_error(req, 503, "service-unavailable", "Service unavailable");
    }
}

static void h_login(hc_http_req_t *req, void *arg)
{
    auth_work_t *w = analytics_call_new(req, sizeof(*w));
    w->an = arg;
    if (hc_http_req_read_whole_body(req, 0, on_login_body, w)) {
        analytics_call_finish(w);
        analytics_respond_error(req, 400, "bad-request", "Bad request");
    }
}

/* ---- verify, me, config ---- */

static void verify_ok(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)
{
    (void)an;
    json_t *o = user_json(u, 0, 0);
    json_object_del(o, "createdAt");
    analytics_respond_json(req, 200, o);
}

static void me_ok(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)
{
    (void)an;
    size_t n = 0;
    const char *h = hc_http_req_header(req, "Authorization", &n);
    json_t *user = user_json(u, 0, 0);
    json_object_del(user, "createdAt");
    analytics_respond_json(req, 200, json_pack("{s:s%, s:o}", "token", h + 7, n - 7, "user", user));
}

/* Umami's tokens carry no expiry and the server keeps no session: logging out is the
 * client forgetting its token, and the server's answer is only an acknowledgement. */
static void logout_ok(hc_http_req_t *req, analytics_t *an, const analytics_user_t *u)
{
    (void)an;
    (void)u;
    analytics_respond_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void h_logout(hc_http_req_t *req, void *arg)
{
    analytics_auth_require(arg, req, logout_ok);
}

static void h_verify(hc_http_req_t *req, void *arg)
{
    analytics_auth_require(arg, req, verify_ok);
}

static void h_me(hc_http_req_t *req, void *arg)
{
    analytics_auth_require(arg, req, me_ok);
}

static void h_config(hc_http_req_t *req, void *arg)
{
    (void)arg;
    analytics_respond_json(req, 200,
                           json_pack("{s:b, s:s, s:b, s:b, s:s, s:b}", "cloudMode", 0, "faviconUrl",
                                     "", "privateMode", 0, "telemetryDisabled", 1,
                                     "trackerScriptName", "", "updatesDisabled", 1));
}

/* ---- bootstrap ---- */

/* The admin user as a migration of its own ("analytics-admin"): created once, at
 * start-up, only when no user called admin exists (an Umami database keeps its own). */
static int bootstrap_admin(analytics_t *an)
{
    char hash[128], id[ANALYTICS_UUID_LEN + 1], sql[512];
    if (hc_password_hash(an->admin_password, hash, sizeof(hash)))
        return -EIO;
    analytics_uuid4(id);
    /* the hash alphabet is [./0-9A-Za-z$]: safe inside a quoted literal */
    snprintf(sql, sizeof(sql),
             "INSERT INTO \"user\" (user_id, username, password, role) SELECT '%s', 'admin', "
             "'%s', 'admin' WHERE NOT EXISTS (SELECT 1 FROM \"user\" WHERE username = 'admin')",
             id, hash);
    hc_store_migration_t m = {1, sql, sql};
    return hc_store_migrate(an->store, "analytics-admin", &m, 1, NULL);
}

/* Whether the admin user logs in with the bootstrap password: an admin that existed
 * before (Umami's admin/umami, or an earlier start with another password) keeps its own,
 * which the log says once, since the banner shows the bootstrap one. Owns no reference
 * to the service, which may stop while bcrypt runs. */
typedef struct admin_check {
    uv_work_t work;
    uv_loop_t *loop;
    char password[sizeof(((analytics_t *)0)->admin_password)];
    char hash[128];
    int ok;
} admin_check_t;

static void admin_check_free(admin_check_t *a)
{
    OPENSSL_cleanse(a, sizeof(*a));
    hc_free(a);
}

static void admin_check_work(uv_work_t *wk)
{
    admin_check_t *a = wk->data;
    a->ok = hc_password_verify(a->password, a->hash);
}

static void admin_check_done(uv_work_t *wk, int status)
{
    admin_check_t *a = wk->data;
    if (!status && !a->ok)
        hc_log(HC_LOG_WARN,
               "analytics: the user admin predates this password and keeps its own (Umami's "
               "default is umami); ADMIN_PASSWORD or the generated password does not log in",
               NULL);
    admin_check_free(a);
}

static void on_admin_row(void *arg, int status, const char *errmsg, const hc_store_result_t *res)
{
    admin_check_t *a = arg;
    (void)errmsg;
    const hc_store_value_t *v = !status && res->nrows == 1 ? hc_store_cell(res, 0, 0) : NULL;
    if (v && v->type == HC_STORE_TEXT && v->v.s.len < sizeof(a->hash)) {
        memcpy(a->hash, v->v.s.p, v->v.s.len + 1);
        a->work.data = a;
        if (uv_queue_work(a->loop, &a->work, admin_check_work, admin_check_done) == 0)
            return;
    }
    admin_check_free(a);
}

static void admin_check(analytics_t *an)
{
    admin_check_t *a = hc_calloc(1, sizeof(*a));
    a->loop = an->loop;
    snprintf(a->password, sizeof(a->password), "%s", an->admin_password);
    if (hc_store_query(an->store,
                       "SELECT password FROM \"user\" WHERE username = 'admin' AND "
                       "deleted_at IS NULL",
                       NULL, 0, on_admin_row, a))
        admin_check_free(a);
}

int analytics_auth_open(analytics_t *an)
{
    int rc = bootstrap_admin(an);
    if (rc) {
        hc_log(HC_LOG_ERROR, "analytics: cannot create the admin user", NULL);
        return rc;
    }
    admin_check(an);
    rc |= hc_router_add(an->router, "POST", "/api/auth/login", h_login, an, 0);
    rc |= hc_router_add(an->router, "POST", "/api/auth/verify", h_verify, an, 0);
    rc |= hc_router_add(an->router, "POST", "/api/auth/logout", h_logout, an, 0);
    rc |= hc_router_add(an->router, "GET", "/api/me", h_me, an, 0);
    rc |= hc_router_add(an->router, "GET", "/api/config", h_config, an, 0);
    return rc ? -EINVAL : 0;
}

void analytics_auth_close(analytics_t *an)
{
    json_decref(an->tokens);
    an->tokens = NULL;
}
