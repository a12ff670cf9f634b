/* ACME response bodies to C structs (RFC 8555 §7.1): directory, account, order,
 * authorization with its http-01 challenge, problem documents, and Retry-After. Every
 * string a response carries is checked for type and size here, so the order state
 * machine (certs_acme_order.c) never touches raw JSON. Fuzzed by fuzz_acme_json.c. */
#include "certs/certs_acme_int.h"

#include "core/hc_alloc.h"
#include "core/hc_err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#define ACME_URL_MAX 2048
#define ACME_AUTHZ_MAX 100 /* Let's Encrypt allows 100 names per order */

static json_t *load(const char *body, size_t len)
{
    if (!body || len == 0)
        return NULL;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* A string member of at most max bytes, or NULL. */
static const char *str_member(json_t *obj, const char *key, size_t max)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
        return NULL;
    const char *s = json_string_value(v);
    return strlen(s) == json_string_length(v) ? s : NULL; /* no embedded NUL */
}

static char *dup_member(json_t *obj, const char *key)
{
    const char *s = str_member(obj, key, ACME_URL_MAX);
    return s ? hc_strdup(s) : NULL;
}

static acme_status_t status_of(json_t *obj)
{
    static const char *const names[] = {"", "pending", "ready", "processing", "valid",
                                        "invalid", "deactivated", "expired", "revoked"};
    const char *s = str_member(obj, "status", 32);
    for (size_t i = 1; s && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i]) == 0)
            return (acme_status_t)i;
    return ACME_ST_UNKNOWN;
}

/* RFC 8555 §6.7 / RFC 7807 §3.1: type and detail; subproblems are not surfaced. */
static void problem_from(json_t *obj, certs_acme_problem_t *out)
{
    const char *type = str_member(obj, "type", sizeof(out->type) - 1);
    const char *detail = json_string_value(json_object_get(obj, "detail"));
    snprintf(out->type, sizeof(out->type), "%s", type ? type : "");
    snprintf(out->detail, sizeof(out->detail), "%s", detail ? detail : "");
    json_t *st = json_object_get(obj, "status");
    if (json_is_integer(st) && json_integer_value(st) >= 100 && json_integer_value(st) < 600)
        out->status = (int)json_integer_value(st);
}

int acme_json_problem(const char *body, size_t len, certs_acme_problem_t *out)
{
    json_t *j = load(body, len);
    if (!j)
        return -EBADMSG;
    int saved = out->status;
    problem_from(j, out);
    if (saved)
        out->status = saved;
    json_decref(j);
    return out->type[0] ? 0 : -EBADMSG;
}

int acme_json_directory(const char *body, size_t len, acme_directory_t *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *j = load(body, len);
    if (!j)
        return hc_errf(err, errlen, -EBADMSG, "directory: not a JSON object");
    /* RFC 8555 §7.1.1: newNonce, newAccount and newOrder are required for our use. */
    out->new_nonce = dup_member(j, "newNonce");
    out->new_account = dup_member(j, "newAccount");
    out->new_order = dup_member(j, "newOrder");
    json_decref(j);
    if (!out->new_nonce || !out->new_account || !out->new_order) {
        acme_directory_clear(out);
        return hc_errf(err, errlen, -EBADMSG, "directory: newNonce, newAccount or newOrder "
                                              "missing");
    }
    return 0;
}

void acme_directory_clear(acme_directory_t *d)
{
    hc_free(d->new_nonce);
    hc_free(d->new_account);
    hc_free(d->new_order);
    memset(d, 0, sizeof(*d));
}

int acme_json_account(const char *body, size_t len, acme_status_t *status)
{
    json_t *j = load(body, len);
    if (!j)
        return -EBADMSG;
    *status = status_of(j);
    json_decref(j);
    return 0;
}

int acme_json_order(const char *body, size_t len, acme_order_obj_t *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *j = load(body, len);
    if (!j)
        return hc_errf(err, errlen, -EBADMSG, "order: not a JSON object");
    int rc = -EBADMSG;
    /* RFC 8555 §7.1.3: status, finalize and authorizations are required. */
    out->status = status_of(j);
    out->finalize = dup_member(j, "finalize");
    out->certificate = dup_member(j, "certificate");
    json_t *az = json_object_get(j, "authorizations");
    json_t *e = json_object_get(j, "error");
    if (json_is_object(e))
        problem_from(e, &out->error);
    if (out->status == ACME_ST_UNKNOWN || !out->finalize || !json_is_array(az) ||
        json_array_size(az) > ACME_AUTHZ_MAX) {
        hc_errf(err, errlen, rc, "order: status, finalize or authorizations missing");
        goto out;
    }
    out->authz = hc_calloc(json_array_size(az) + 1, sizeof(char *));
    for (size_t i = 0; i < json_array_size(az); i++) {
        json_t *u = json_array_get(az, i);
        if (!json_is_string(u) || json_string_length(u) == 0 ||
            json_string_length(u) > ACME_URL_MAX || strlen(json_string_value(u)) != json_string_length(u)) {
            hc_errf(err, errlen, rc, "order: authorization %zu is not a URL", i);
            goto out;
        }
        out->authz[out->n_authz++] = hc_strdup(json_string_value(u));
    }
    rc = 0;
out:
    json_decref(j);
    if (rc < 0)
        acme_order_obj_clear(out);
    return rc;
}

void acme_order_obj_clear(acme_order_obj_t *o)
{
    for (size_t i = 0; i < o->n_authz; i++)
        hc_free(o->authz[i]);
    hc_free(o->authz);
    hc_free(o->finalize);
    hc_free(o->certificate);
    memset(o, 0, sizeof(*o));
}

/* RFC 8555 §8.3: the token is base64url (§2 of RFC 7515), at least 128 bits of entropy. */
static int token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n < 22 || n > 256)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* An identifier value (RFC 8555 §7.1.4 / RFC 8738 §3): a DNS name (maybe "*."), an IPv4
 * or IPv6 address. It ends up in the solver Ingress file, the self-check URL and its
 * Host header, so nothing else (quotes, spaces, line breaks) is let through. */
static int identifier_ok(const char *v)
{
    return *v && strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:*") ==
                     strlen(v);
}

/* Picks the http-01 challenge (RFC 8555 §8.3) out of challenges[]. */
static int pick_http01(json_t *chs, acme_authz_obj_t *out)
{
    for (size_t i = 0; i < json_array_size(chs); i++) {
        json_t *c = json_array_get(chs, i);
        const char *type = str_member(c, "type", 32);
        if (!type || strcmp(type, "http-01") != 0)
            continue;
        const char *url = str_member(c, "url", ACME_URL_MAX);
        const char *token = str_member(c, "token", 256);
        if (!url || !token || !token_ok(token))
            return -EBADMSG;
        out->chal_url = hc_strdup(url);
        out->token = hc_strdup(token);
        out->chal_status = status_of(c);
        json_t *e = json_object_get(c, "error");
        if (json_is_object(e))
            problem_from(e, &out->error);
        return 0;
    }
    return 0;
}

int acme_json_authz(const char *body, size_t len, acme_authz_obj_t *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *j = load(body, len);
    if (!j)
        return hc_errf(err, errlen, -EBADMSG, "authorization: not a JSON object");
    /* RFC 8555 §7.1.4: identifier, status and challenges are required. */
    json_t *id = json_object_get(j, "identifier");
    const char *value = str_member(id, "value", sizeof(out->identifier) - 1);
    json_t *chs = json_object_get(j, "challenges");
    out->status = status_of(j);
    int rc = -EBADMSG;
    if (!value || out->status == ACME_ST_UNKNOWN || !json_is_array(chs)) {
        hc_errf(err, errlen, rc, "authorization: identifier, status or challenges missing");
        goto out;
    }
    if (!identifier_ok(value)) {
        hc_errf(err, errlen, rc, "authorization: the identifier is not a DNS name or IP address");
        goto out;
    }
    snprintf(out->identifier, sizeof(out->identifier), "%s", value);
    rc = pick_http01(chs, out);
    if (rc < 0)
        hc_errf(err, errlen, rc, "authorization: http-01 challenge without url or a valid "
                                 "token");
out:
    json_decref(j);
    if (rc < 0)
        acme_authz_obj_clear(out);
    return rc;
}

void acme_authz_obj_clear(acme_authz_obj_t *a)
{
    hc_free(a->chal_url);
    hc_free(a->token);
    memset(a, 0, sizeof(*a));
}

int64_t acme_retry_after(const char *value, int64_t now)
{
    if (!value || !*value)
        return -1;
    char *end = NULL;
    errno = 0;
    long long secs = strtoll(value, &end, 10);
    if (end != value && *end == '\0' && errno == 0 && secs >= 0)
        return secs;
    /* RFC 9110 §5.6.7: IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!p || *p)
        return -1;
    int64_t at = (int64_t)timegm(&tm);
    return at > now ? at - now : 0;
}
