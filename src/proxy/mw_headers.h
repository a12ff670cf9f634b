/* The headers middleware (traefik/traefik pkg/middlewares/headers, with unrolled/secure
 * for the security fields): custom request/response headers, security headers, CORS
 * (preflight answered here, allow-origin on responses) and allowedHosts. */
#ifndef PROXY_MW_HEADERS_H
#define PROXY_MW_HEADERS_H

#include "proxy/mw.h"

/** Parses a `headers` spec: customRequestHeaders / customResponseHeaders (name -> value
 *  maps; "" deletes), frameDeny, customFrameOptionsValue, contentTypeNosniff,
 *  browserXssFilter, customBrowserXSSValue, contentSecurityPolicy,
 *  contentSecurityPolicyReportOnly, referrerPolicy, permissionsPolicy, featurePolicy,
 *  stsSeconds, stsIncludeSubdomains, stsPreload, forceSTSHeader, sslProxyHeaders,
 *  allowedHosts, hostsProxyHeaders, accessControlAllow{Credentials,Headers,Methods,
 *  OriginList,OriginListRegex}, accessControlExposeHeaders, accessControlMaxAge,
 *  addVaryHeader. The v2 sslRedirect family is accepted and ignored with a warning.
 *  Contract of proxy_mw_parse_fn (mw.h). */
int proxy_mw_hdr_parse(const json_t *spec, const char *name, void **cfg, char *err,
                       size_t errlen);
/** Frees a config from proxy_mw_hdr_parse; NULL is fine. */
void proxy_mw_hdr_free(void *cfg);
/** Request phase. A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method,
 *  when any accessControl* field is set) is answered 200 with Content-Length 0; a Host
 *  outside allowedHosts (read from the first non-empty hostsProxyHeaders header, else
 *  Host) gets 500 "Bad Host". Otherwise custom request headers are applied ("" deletes;
 *  an empty X-Forwarded-For sets req->no_xff; Host also sets req->host). */
proxy_mw_verdict_t proxy_mw_hdr_request(const void *cfg, proxy_mw_req_t *req,
                                        proxy_mw_resp_t *resp);
/** Response phase: security headers, then custom response headers (they win), then
 *  CORS Access-Control-Allow-Origin / -Credentials / -Expose-Headers and Vary: Origin.
 *  Strict-Transport-Security only when req->scheme is https, an sslProxyHeaders entry
 *  matches, or forceSTSHeader is set. */
void proxy_mw_hdr_response(const void *cfg, const proxy_mw_req_t *req, proxy_mw_resp_t *resp);

#endif
