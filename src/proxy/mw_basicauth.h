/* The basicAuth middleware (traefik/traefik pkg/middlewares/auth/basic_auth.go): users
 * as htpasswd lines, checked against the Authorization header (RFC 7617). Hash formats
 * as go-http-auth accepts them: bcrypt ($2y$, $2b$, $2a$, via libcrypt), Apache MD5
 * ($apr1$), MD5-crypt ($1$) and {SHA} (base64 SHA-1). */
#ifndef PROXY_MW_BASICAUTH_H
#define PROXY_MW_BASICAUTH_H

#include "proxy/mw.h"

/** Parses a `basicAuth` spec: users (a list of "user:hash", or one string of htpasswd
 *  lines as a Secret's `users` key holds after the provider decodes it; blank lines and
 *  # comments skipped; a later line for the same user wins), usersFile (read now, at
 *  most 1 MiB, same format), realm (default "traefik"), removeHeader, headerField.
 *  At least one user is required. Contract of proxy_mw_parse_fn (mw.h). */
int proxy_mw_basicauth_parse(const json_t *spec, const char *name, void **cfg, char *err,
                             size_t errlen);
/** Frees a config from proxy_mw_basicauth_parse; NULL is fine. */
void proxy_mw_basicauth_free(void *cfg);
/** Valid credentials: sets req->user, the headerField header (when configured) to the
 *  user name, drops Authorization when removeHeader, and returns PROXY_MW_NEXT. Anything
 *  else: 401 with `WWW-Authenticate: Basic realm="<realm>"` and "401 Unauthorized\n".
 *  A bcrypt check costs milliseconds: the caller may run this off the event loop. */
proxy_mw_verdict_t proxy_mw_basicauth_request(const void *cfg, proxy_mw_req_t *req,
                                              proxy_mw_resp_t *resp);
/* What basicAuth and digestAuth share: their users and what a success passes on. */
typedef struct proxy_mw_auth {
    proxy_mw_headers_t users; /* name = user, value = the rest of its line */
    char *realm;              /* default "traefik" */
    char *header_field;
    int remove_header;
} proxy_mw_auth_t;

/** Reads a basicAuth or digestAuth spec (what names it in errors) into a: `users` (a
 *  list of lines, or one string of lines), then `usersFile`, each line split at its
 *  first colon; realm, headerField, removeHeader. Returns 0, or -EINVAL with err (also
 *  when there are no users); a is freed on failure. */
int proxy_mw_auth_parse(const json_t *spec, const char *what, proxy_mw_auth_t *a, char *err,
                        size_t errlen);
void proxy_mw_auth_free(proxy_mw_auth_t *a);
/** A user authenticated: req->user, the headerField header (when configured) set to it,
 *  Authorization dropped when removeHeader. */
void proxy_mw_auth_pass(const proxy_mw_auth_t *a, proxy_mw_req_t *req, const char *user);
/** 1 when password matches the htpasswd hash, else 0. Constant-time comparison of the
 *  computed and stored hashes. */
int proxy_mw_htpasswd_check(const char *hash, const char *password);

#endif
