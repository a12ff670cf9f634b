/* digestAuth (mw_digestauth.h). The nonce table follows go-http-auth: at most
 * CLIENTS + TOLERANCE nonces, the 2 * TOLERANCE least recently seen dropped past that. */
#include "proxy/mw_digestauth.h"
#include "proxy/mw_basicauth.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h" /* hc_hex_digit */

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CLIENTS 1000 /* go-http-auth ClientCacheSize */
#define TOLERANCE 100
#define KEY_LEN 17 /* 12 random bytes in base64, NUL */
#define PARAM_MAX 1024

typedef struct dg_client {
    char nonce[KEY_LEN];
    uint64_t nc;
    uint64_t seen;
} dg_client_t;

typedef struct dg_state {
    pthread_mutex_t mu;
    dg_client_t *v;
    size_t n;
    uint64_t clock;
} dg_state_t;

typedef struct dg_cfg {
    proxy_mw_auth_t a; /* users' values are "realm:HA1" */
    char opaque[KEY_LEN];
    dg_state_t *st; /* changed by requests; the rest is read-only */
} dg_cfg_t;

static void random_key(char out[KEY_LEN])
{
    unsigned char k[12];
    if (RAND_bytes(k, sizeof(k)) != 1)
        hc_oom(0);
    EVP_EncodeBlock((unsigned char *)out, k, sizeof(k));
}

int proxy_mw_digestauth_parse(const json_t *spec, const char *name, void **cfg, char *err,
                              size_t errlen)
{
    (void)name;
    dg_cfg_t *c = hc_calloc(1, sizeof(*c));
    int rc = proxy_mw_auth_parse(spec, "digestAuth", &c->a, err, errlen);
    for (size_t i = 0; rc == 0 && i < c->a.users.len; i++) {
        const char *v = c->a.users.v[i].value, *colon = strchr(v, ':');
        if (!colon || colon == v || strchr(colon + 1, ':') || !colon[1])
            rc = hc_errf(err, errlen, -EINVAL, "digestAuth: user %s: expected \"user:realm:hash\"",
                         c->a.users.v[i].name);
    }
    if (rc != 0) {
        proxy_mw_digestauth_free(c);
        return rc;
    }
    random_key(c->opaque);
    c->st = hc_calloc(1, sizeof(*c->st));
    pthread_mutex_init(&c->st->mu, NULL);
    c->st->v = hc_calloc(CLIENTS + TOLERANCE + 1, sizeof(dg_client_t));
    *cfg = c;
    return 0;
}

void proxy_mw_digestauth_free(void *cfg)
{
    dg_cfg_t *c = cfg;
    if (!c)
        return;
    if (c->st) {
        pthread_mutex_destroy(&c->st->mu);
        hc_free(c->st->v);
        hc_free(c->st);
    }
    proxy_mw_auth_free(&c->a);
    hc_free(c);
}

/* ---- the Authorization parameters ---- */

enum { P_USER, P_NONCE, P_URI, P_RESPONSE, P_OPAQUE, P_QOP, P_NC, P_CNONCE, P_ALG, P_N };
static const char *const param_names[P_N] = {"username", "nonce", "uri",    "response", "opaque",
                                             "qop",      "nc",    "cnonce", "algorithm"};

/* `Digest k=v, k="v", ...` into p (borrowed from a copy in buf); -1 when malformed. */
static int params_parse(const char *auth, char *buf, const char *p[P_N])
{
    memset(p, 0, P_N * sizeof(*p));
    if (!auth || strncasecmp(auth, "Digest ", 7) || strlen(auth) >= PARAM_MAX)
        return -1;
    strcpy(buf, auth + 7);
    for (char *s = buf; *s;) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        char *eq = strchr(s, '=');
        if (!*s)
            break;
        if (!eq)
            return -1;
        *eq = '\0';
        char *k = s, *v = eq + 1, *end;
        for (char *t = eq; t > k && (t[-1] == ' ' || t[-1] == '\t');)
            *--t = '\0';
        if (*v == '"') {
            end = strchr(++v, '"');
            if (!end)
                return -1;
            *end++ = '\0';
        } else {
            end = v + strcspn(v, ",");
            if (*end)
                *end++ = '\0';
            for (char *t = v + strlen(v); t > v && (t[-1] == ' ' || t[-1] == '\t');)
                *--t = '\0';
        }
        for (size_t i = 0; i < P_N; i++)
            if (!strcasecmp(k, param_names[i]))
                p[i] = v;
        s = end;
    }
    return 0;
}

static void md5_hex(const char *s, char out[33])
{
    unsigned char md[16];
    EVP_Digest(s, strlen(s), md, NULL, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* uri names the request: the same target, or (go-http-auth's leniency) a path that is a
 * prefix of the request's path. */
static int uri_matches(const proxy_mw_req_t *req, const char *uri)
{
    size_t pl = strlen(req->path), ul = strcspn(uri, "?");
    if (!strncmp(uri, req->path, pl) &&
        ((!uri[pl] && !req->query) ||
         (uri[pl] == '?' && req->query && !strcmp(uri + pl + 1, req->query))))
        return 1;
    return ul <= pl && !strncmp(uri, req->path, ul);
}

/* The HA1 of user in realm, borrowed from c, or NULL. */
static const char *ha1_of(const dg_cfg_t *c, const char *user)
{
    const proxy_mw_headers_t *u = &c->a.users;
    size_t rl = strlen(c->a.realm);
    for (size_t i = u->len; i-- > 0;) /* the last line for a user wins */
        if (!strcmp(u->v[i].name, user) && !strncmp(u->v[i].value, c->a.realm, rl) &&
            u->v[i].value[rl] == ':')
            return u->v[i].value + rl + 1;
    return NULL;
}

/* Checks the nonce and its count: 0 valid, 1 stale (unknown, or a count not above the
 * last). Under st->mu. */
static int nonce_use(dg_state_t *st, const char *nonce, uint64_t nc)
{
    for (size_t i = 0; i < st->n; i++) {
        if (strcmp(st->v[i].nonce, nonce))
            continue;
        if (st->v[i].nc >= nc) /* counts start at 1: a replay, or a count gone back */
            return 1;
        st->v[i].nc = nc;
        st->v[i].seen = ++st->clock;
        return 0;
    }
    return 1;
}

static int cmp_seen(const void *a, const void *b)
{
    uint64_t x = ((const dg_client_t *)a)->seen, y = ((const dg_client_t *)b)->seen;
    return x < y ? 1 : x > y ? -1 : 0; /* most recent first */
}

/* A new nonce in the table (the least recently seen ones dropped past its size). */
static void nonce_new(dg_state_t *st, char out[KEY_LEN])
{
    random_key(out);
    pthread_mutex_lock(&st->mu);
    if (st->n >= CLIENTS + TOLERANCE) {
        qsort(st->v, st->n, sizeof(*st->v), cmp_seen);
        st->n -= 2 * TOLERANCE;
    }
    dg_client_t *e = &st->v[st->n++];
    memcpy(e->nonce, out, KEY_LEN);
    e->nc = 0;
    e->seen = ++st->clock;
    pthread_mutex_unlock(&st->mu);
}

static proxy_mw_verdict_t challenge(const dg_cfg_t *c, proxy_mw_resp_t *resp, int stale)
{
    char nonce[KEY_LEN];
    nonce_new(c->st, nonce);
    size_t n = strlen(c->a.realm) + 128;
    char *www = hc_malloc(n);
    snprintf(www, n,
             "Digest realm=\"%s\", nonce=\"%s\", opaque=\"%s\", algorithm=MD5, qop=\"auth\"%s",
             c->a.realm, nonce, c->opaque, stale ? ", stale=true" : "");
    proxy_mw_headers_set(&resp->headers, "WWW-Authenticate", www);
    hc_free(www);
    return proxy_mw_resp_text(resp, 401, "text/plain", "401 Unauthorized\n") /* goauth's */;
}

proxy_mw_verdict_t proxy_mw_digestauth_request(const void *cfg, proxy_mw_req_t *req,
                                               proxy_mw_resp_t *resp)
{
    const dg_cfg_t *c = cfg;
    char buf[PARAM_MAX], ha2[33], kd[33];
    const char *p[P_N];
    if (params_parse(proxy_mw_headers_get(&req->headers, "Authorization"), buf, p) < 0)
        return challenge(c, resp, 0);
    for (size_t i = 0; i < P_N; i++)
        if (!p[i] && i != P_ALG)
            return challenge(c, resp, 0);
    const char *ha1 = ha1_of(c, p[P_USER]);
    if (!ha1 || strcmp(p[P_OPAQUE], c->opaque) || (p[P_ALG] && strcmp(p[P_ALG], "MD5")) ||
        strcmp(p[P_QOP], "auth") || !uri_matches(req, p[P_URI]) || strlen(p[P_URI]) > 512)
        return challenge(c, resp, 0);
    char *a2 = hc_malloc(strlen(req->method) + strlen(p[P_URI]) + 2);
    sprintf(a2, "%s:%s", req->method, p[P_URI]);
    md5_hex(a2, ha2);
    hc_free(a2);
    char *k = hc_malloc(strlen(ha1) + strlen(p[P_NONCE]) + strlen(p[P_NC]) + strlen(p[P_CNONCE]) +
                        strlen(p[P_QOP]) + 40);
    sprintf(k, "%s:%s:%s:%s:%s:%s", ha1, p[P_NONCE], p[P_NC], p[P_CNONCE], p[P_QOP], ha2);
    md5_hex(k, kd);
    hc_free(k);
    if (strlen(p[P_RESPONSE]) != 32 || CRYPTO_memcmp(kd, p[P_RESPONSE], 32))
        return challenge(c, resp, 0);
    /* the nonce count: 1 to 16 hex digits (Go's ParseUint), from 1 (RFC 2617 §3.2.2) */
    uint64_t nc = 0;
    size_t nd = strspn(p[P_NC], "0123456789abcdefABCDEF");
    for (size_t i = 0; i < nd && nd <= 16; i++)
        nc = nc << 4 | (uint64_t)hc_hex_digit((unsigned char)p[P_NC][i]);
    pthread_mutex_lock(&c->st->mu);
    int stale = !nd || nd > 16 || p[P_NC][nd] || !nc || nonce_use(c->st, p[P_NONCE], nc);
    pthread_mutex_unlock(&c->st->mu);
    if (stale)
        return challenge(c, resp, 1);
    proxy_mw_auth_pass(&c->a, req, p[P_USER]);
    return PROXY_MW_NEXT;
}
