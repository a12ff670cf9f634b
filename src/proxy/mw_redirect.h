/* Redirect middlewares: redirectScheme and redirectRegex (traefik/traefik
 * pkg/middlewares/redirect). Both rebuild the client's URL, and when the target differs
 * answer with a redirect: 302 for GET, 307 otherwise; with `permanent` 301 / 308; body
 * the status text. A target equal to the current URL passes the request through. */
#ifndef PROXY_MW_REDIRECT_H
#define PROXY_MW_REDIRECT_H

#include "proxy/mw.h"

/** redirectScheme spec: {scheme (required), port, permanent}. Contract of
 *  proxy_mw_parse_fn (mw.h). */
int proxy_mw_redirectscheme_parse(const json_t *spec, const char *name, void **cfg,
                                  char *err, size_t errlen);
/** redirectRegex spec: {regex (required), replacement, permanent}. */
int proxy_mw_redirectregex_parse(const json_t *spec, const char *name, void **cfg, char *err,
                                 size_t errlen);
/** Frees a config of either parser; NULL is fine. */
void proxy_mw_redirect_free(void *cfg);
/** Fills resp with the redirect (Location set) and returns PROXY_MW_RESPOND, or returns
 *  PROXY_MW_NEXT when the regex does not match or the URL would not change. */
proxy_mw_verdict_t proxy_mw_redirect_request(const void *cfg, proxy_mw_req_t *req,
                                             proxy_mw_resp_t *resp);

/** Writes the URL the client asked for into out ("scheme://host[:port]/path?query"), as
 *  redirectScheme sees it: the scheme is https over TLS, else X-Forwarded-Proto when
 *  present, else http; a port equal to the scheme's default is dropped. Returns 0 or
 *  -ENOBUFS. */
int proxy_mw_redirect_client_url(const proxy_mw_req_t *req, hc_buf_t *out);

#endif
