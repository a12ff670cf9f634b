/* The encodedCharacters middleware (traefik/traefik pkg/middlewares/encodedcharacters):
 * refuses a request whose path holds a percent-encoded character that could mean one
 * thing to the proxy and another to the backend (a slash, backslash, NUL, semicolon,
 * percent, question mark or hash), unless the spec allows it. */
#ifndef PROXY_MW_ENCODED_H
#define PROXY_MW_ENCODED_H

#include "proxy/mw.h"

/** encodedCharacters spec: {allowEncodedSlash, allowEncodedBackSlash,
 *  allowEncodedNullCharacter, allowEncodedSemicolon, allowEncodedPercent,
 *  allowEncodedQuestionMark, allowEncodedHash}, each false by default. Contract of
 *  proxy_mw_parse_fn. */
int proxy_mw_encoded_parse(const json_t *spec, const char *name, void **cfg, char *err,
                           size_t errlen);
void proxy_mw_encoded_free(void *cfg);
/** 400 (Traefik's answer) when the path holds a denied escape, in either case of its
 *  hex digits. */
proxy_mw_verdict_t proxy_mw_encoded_request(const void *cfg, proxy_mw_req_t *req,
                                            proxy_mw_resp_t *resp);

#endif
