/* The pure parts of the forwardAuth middleware (traefik/traefik
 * pkg/middlewares/auth/forward.go): the headers of the auth sub-request, and what its
 * answer does to the client request or response. The HTTP call itself (GET to address,
 * no body, no redirects followed, 30 s timeout; unreachable gives 500) belongs to the
 * caller. */
#ifndef PROXY_MW_FORWARDAUTH_H
#define PROXY_MW_FORWARDAUTH_H

#include "proxy/mw.h"

/* Auth bodies larger than this (or maxResponseBodySize when set) give the client 401. */
#define PROXY_MW_FORWARDAUTH_BODY_MAX (1u << 20)

/** Parses a `forwardAuth` spec: address (required, http or https URL),
 *  trustForwardHeader, authResponseHeaders, authResponseHeadersRegex,
 *  authRequestHeaders, addAuthCookiesToResponse, maxResponseBodySize; tls and
 *  preserveRequestMethod are the caller's business and ignored here. Contract of
 *  proxy_mw_parse_fn (mw.h). */
int proxy_mw_forwardauth_parse(const json_t *spec, const char *name, void **cfg, char *err,
                               size_t errlen);
/** Frees a config from proxy_mw_forwardauth_parse; NULL is fine. */
void proxy_mw_forwardauth_free(void *cfg);
/** The auth URL, borrowed from cfg. */
const char *proxy_mw_forwardauth_address(const void *cfg);
/** The auth request's method: GET, or the client's (method) with preserveRequestMethod. */
const char *proxy_mw_forwardauth_method(const void *cfg, const char *method);
/** Fills out (appended to) with the auth request's headers: the client's headers (only
 *  those named in authRequestHeaders when set) minus hop-by-hop ones (Connection and
 *  what it names, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade; Proxy-
 *  Authorization is kept), then X-Forwarded-For/-Method/-Proto/-Host/-Uri/-Port: the
 *  client's values when trustForwardHeader, else computed from req (Uri = path?query). */
void proxy_mw_forwardauth_request_headers(const void *cfg, const proxy_mw_req_t *req,
                                          proxy_mw_headers_t *out);
/** Applies the auth answer (status, headers, body[0..body_len)). 2xx: the headers named
 *  in authResponseHeaders or matching authResponseHeadersRegex replace the request's,
 *  Set-Cookie lines for addAuthCookiesToResponse names are appended to cookies (may be
 *  NULL), and PROXY_MW_NEXT is returned. Otherwise resp gets the auth status, headers
 *  (minus hop-by-hop) and body, with Location resolved against the auth URL (RFC 3986
 *  §5.2), and PROXY_MW_RESPOND is returned; an oversize body gives 401 instead. */
proxy_mw_verdict_t proxy_mw_forwardauth_apply(const void *cfg, proxy_mw_req_t *req, int status,
                                              const proxy_mw_headers_t *auth_headers,
                                              const void *body, size_t body_len,
                                              proxy_mw_headers_t *cookies,
                                              proxy_mw_resp_t *resp);
/** Response phase for addAuthCookiesToResponse: the backend's Set-Cookie lines for the
 *  cookie names in cookies are dropped, then the lines in cookies are added. */
void proxy_mw_forwardauth_merge_cookies(const proxy_mw_headers_t *cookies,
                                        proxy_mw_resp_t *resp);
/** Resolves reference ref against the absolute URL base (RFC 3986 §5.2.2, with
 *  remove_dot_segments §5.2.4) into out. Returns 0 or -ENOBUFS. */
int proxy_mw_url_resolve(const char *base, const char *ref, hc_buf_t *out);

#endif
