/* The contentType middleware (traefik/traefik pkg/middlewares/contenttype): a response
 * that comes without Content-Type gets one detected from its first bytes, as Go's
 * http.DetectContentType (the WHATWG MIME sniffing table) names them. Traefik v3 sends
 * such responses without the field unless a router has this middleware. The forward
 * holds the head back until the first body bytes (proxy_upstream.h: sniff). */
#ifndef PROXY_MW_CONTENTTYPE_H
#define PROXY_MW_CONTENTTYPE_H

#include "proxy/mw.h"

#include <stddef.h>

#define PROXY_MW_SNIFF_LEN 512u /* the bytes looked at, as Go's sniffLen */

/** contentType spec: {} or autoDetect (deprecated in Traefik v3: true is the same as
 *  {}, false makes the middleware do nothing). Contract of proxy_mw_parse_fn. */
int proxy_mw_contenttype_parse(const json_t *spec, const char *name, void **cfg, char *err,
                               size_t errlen);
void proxy_mw_contenttype_free(void *cfg);
/** Whether the middleware turns detection on (not autoDetect: false). */
int proxy_mw_contenttype_enabled(const void *cfg);
/** A response hook: an answer made whole inside the middleware (a middleware's own, the
 *  proxy's error page) without Content-Type gets the type of its body, as Go sniffs a
 *  handler's first write; a forwarded response (no body held in resp) is left to the
 *  forward's sniffing. */
void proxy_mw_contenttype_response(const void *cfg, const proxy_mw_req_t *req,
                                   proxy_mw_resp_t *resp);
/** The media type of a body that starts with the len bytes at data (at most
 *  PROXY_MW_SNIFF_LEN are read): a static string, "application/octet-stream" when
 *  nothing more specific matches. */
const char *proxy_mw_sniff(const unsigned char *data, size_t len);

#endif
