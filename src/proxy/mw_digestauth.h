/* The digestAuth middleware (traefik/traefik pkg/middlewares/auth/digest_auth.go, over
 * abbot/go-http-auth's DigestAuth): RFC 2617 Digest with MD5 and qop "auth", users as
 * htdigest lines "user:realm:HA1". Nonces are the middleware's own, shared by all
 * workers: an unknown nonce or a nonce count that does not grow gets a new challenge
 * marked stale, so a replayed Authorization is refused. */
#ifndef PROXY_MW_DIGESTAUTH_H
#define PROXY_MW_DIGESTAUTH_H

#include "proxy/mw.h"

/** digestAuth spec: users / usersFile (htdigest lines), realm (default "traefik"),
 *  removeHeader, headerField. Contract of proxy_mw_parse_fn. */
int proxy_mw_digestauth_parse(const json_t *spec, const char *name, void **cfg, char *err,
                              size_t errlen);
void proxy_mw_digestauth_free(void *cfg);
/** Valid credentials (of a user of the middleware's realm, for this request's method and
 *  URI): sets req->user, headerField, drops Authorization when removeHeader, and returns
 *  PROXY_MW_NEXT. Else 401 "401 Unauthorized\n" with a new challenge:
 *  `WWW-Authenticate: Digest realm="..", nonce="..", opaque="..", algorithm=MD5,
 *  qop="auth"` (`, stale=true` for a known user's old or replayed nonce). */
proxy_mw_verdict_t proxy_mw_digestauth_request(const void *cfg, proxy_mw_req_t *req,
                                               proxy_mw_resp_t *resp);

#endif
