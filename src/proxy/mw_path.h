/* Path-rewriting middlewares: stripPrefix, stripPrefixRegex, addPrefix, replacePath and
 * replacePathRegex (traefik/traefik pkg/middlewares/{stripprefix,stripprefixregex,
 * addprefix,replacepath,replacepathregex}). They edit req->path before forwarding and
 * record what they removed in X-Forwarded-Prefix / X-Replaced-Path. All work on the raw
 * (still percent-encoded) path. */
#ifndef PROXY_MW_PATH_H
#define PROXY_MW_PATH_H

#include "proxy/mw.h"

/** stripPrefix spec: {prefixes: [...], forceSlash (v2 only, default false)}. The first
 *  prefix that the path starts with (a plain character prefix) is removed; the rest gets
 *  a leading '/' unless empty (or always "/"-led with forceSlash), and the prefix is
 *  added as X-Forwarded-Prefix. Contract of proxy_mw_parse_fn. */
int proxy_mw_stripprefix_parse(const json_t *spec, const char *name, void **cfg, char *err,
                               size_t errlen);
/** stripPrefixRegex spec: {regex: [...]}. The first regex whose first match is non-empty
 *  and starts the path: that match is removed and becomes X-Forwarded-Prefix. */
int proxy_mw_stripprefixregex_parse(const json_t *spec, const char *name, void **cfg,
                                    char *err, size_t errlen);
/** addPrefix spec: {prefix} (required): the path becomes prefix + path, '/'-led. */
int proxy_mw_addprefix_parse(const json_t *spec, const char *name, void **cfg, char *err,
                             size_t errlen);
/** replacePath spec: {path}: the old path goes to X-Replaced-Path, path replaces it. */
int proxy_mw_replacepath_parse(const json_t *spec, const char *name, void **cfg, char *err,
                               size_t errlen);
/** replacePathRegex spec: {regex, replacement}: when regex matches the path, every
 *  match is replaced (Go ReplaceAllString, $1 groups) and the old path goes to
 *  X-Replaced-Path. */
int proxy_mw_replacepathregex_parse(const json_t *spec, const char *name, void **cfg,
                                    char *err, size_t errlen);

/** Frees any config made by the parsers above; NULL is fine. */
void proxy_mw_path_free(void *cfg);
/** Applies whichever of the five the config came from; always PROXY_MW_NEXT (resp is
 *  untouched). */
proxy_mw_verdict_t proxy_mw_path_request(const void *cfg, proxy_mw_req_t *req,
                                         proxy_mw_resp_t *resp);

#endif
