/* The middleware registry (mw.h): Traefik type names mapped to each family's parse,
 * free and phase functions, and parsing of a whole Middleware spec. */
#include "proxy/mw.h"
#include "proxy/mw_basicauth.h"
#include "proxy/mw_buffering.h"
#include "proxy/mw_chain.h"
#include "proxy/mw_circuitbreaker.h"
#include "proxy/mw_compress.h"
#include "proxy/mw_contenttype.h"
#include "proxy/mw_digestauth.h"
#include "proxy/mw_encoded.h"
#include "proxy/mw_errors.h"
#include "proxy/mw_forwardauth.h"
#include "proxy/mw_headers.h"
#include "proxy/mw_inflight.h"
#include "proxy/mw_ip.h"
#include "proxy/mw_path.h"
#include "proxy/mw_ratelimit.h"
#include "proxy/mw_redirect.h"
#include "proxy/mw_retry.h"
#include "proxy/mw_tlscert.h"

#include <errno.h>
#include <string.h>

static const proxy_mw_type_t types[] = {
    {"headers", proxy_mw_hdr_parse, proxy_mw_hdr_free, proxy_mw_hdr_request, proxy_mw_hdr_response},
    {"rateLimit", proxy_mw_ratelimit_parse, proxy_mw_ratelimit_free, proxy_mw_ratelimit_request,
     NULL},
    {"compress", proxy_mw_compress_parse, proxy_mw_compress_free, NULL, NULL},
    {"redirectScheme", proxy_mw_redirectscheme_parse, proxy_mw_redirect_free,
     proxy_mw_redirect_request, NULL},
    {"redirectRegex", proxy_mw_redirectregex_parse, proxy_mw_redirect_free,
     proxy_mw_redirect_request, NULL},
    {"stripPrefix", proxy_mw_stripprefix_parse, proxy_mw_path_free, proxy_mw_path_request, NULL},
    {"stripPrefixRegex", proxy_mw_stripprefixregex_parse, proxy_mw_path_free, proxy_mw_path_request,
     NULL},
    {"addPrefix", proxy_mw_addprefix_parse, proxy_mw_path_free, proxy_mw_path_request, NULL},
    {"replacePath", proxy_mw_replacepath_parse, proxy_mw_path_free, proxy_mw_path_request, NULL},
    {"replacePathRegex", proxy_mw_replacepathregex_parse, proxy_mw_path_free, proxy_mw_path_request,
     NULL},
    {"basicAuth", proxy_mw_basicauth_parse, proxy_mw_basicauth_free, proxy_mw_basicauth_request,
     NULL},
    {"ipAllowList", proxy_mw_ipallow_parse, proxy_mw_ipallow_free, proxy_mw_ipallow_request, NULL},
    {"ipWhiteList", proxy_mw_ipallow_parse, proxy_mw_ipallow_free, proxy_mw_ipallow_request, NULL},
    {"forwardAuth", proxy_mw_forwardauth_parse, proxy_mw_forwardauth_free, NULL, NULL},
    {"chain", proxy_mw_chain_parse, proxy_mw_chain_free, NULL, NULL},
    {"inFlightReq", proxy_mw_inflight_parse, proxy_mw_inflight_free, proxy_mw_inflight_request,
     NULL},
    {"encodedCharacters", proxy_mw_encoded_parse, proxy_mw_encoded_free, proxy_mw_encoded_request,
     NULL},
    {"errors", proxy_mw_errors_parse, proxy_mw_errors_free, NULL, NULL},
    {"buffering", proxy_mw_buffering_parse, proxy_mw_buffering_free, proxy_mw_buffering_request,
     NULL},
    {"retry", proxy_mw_retry_parse, proxy_mw_retry_free, NULL, NULL},
    {"passTLSClientCert", proxy_mw_tlscert_parse, proxy_mw_tlscert_free, NULL, NULL},
    {"digestAuth", proxy_mw_digestauth_parse, proxy_mw_digestauth_free, proxy_mw_digestauth_request,
     NULL},
    {"circuitBreaker", proxy_mw_cb_parse, proxy_mw_cb_free, NULL, NULL},
    {"contentType", proxy_mw_contenttype_parse, proxy_mw_contenttype_free, NULL,
     proxy_mw_contenttype_response},
};

/* Traefik middleware types that hearth recognises but does not implement. */
static const char *const unsupported[] = {
    "grpcWeb",
    "plugin",
};

const proxy_mw_type_t *proxy_mw_type_find(const char *name)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

static int is_unsupported(const char *name)
{
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (strcmp(unsupported[i], name) == 0)
            return 1;
    return 0;
}

int proxy_mw_parse(const json_t *spec, const char *name, proxy_mw_t *mw, char *err,
                   size_t errlen)
{
    const char *key, *found = NULL;
    json_t *v, *body = NULL;
    memset(mw, 0, sizeof(*mw));
    if (!json_is_object(spec))
        return hc_errf(err, errlen, -EINVAL, "middleware %s: spec must be an object", name);
    json_object_foreach((json_t *)spec, key, v) {
        if (json_is_null(v))
            continue;
        if (found)
            return hc_errf(err, errlen, -EINVAL, "middleware %s: several types (%s, %s)", name,
                                found, key);
        found = key;
        body = v;
    }
    if (!found)
        return hc_errf(err, errlen, -EINVAL, "middleware %s: no type given", name);
    const proxy_mw_type_t *t = proxy_mw_type_find(found);
    if (!t) {
        int rc = is_unsupported(found) ? -ENOTSUP : -EINVAL;
        hc_errf(err, errlen, -EINVAL, "middleware %s: %s type %s", name,
                     rc == -ENOTSUP ? "unsupported" : "unknown", found);
        return rc;
    }
    if (!json_is_object(body))
        return hc_errf(err, errlen, -EINVAL, "middleware %s: %s must be an object", name, found);
    proxy_mw_fields_begin();
    int rc = t->parse(body, name, &mw->cfg, err, errlen);
    proxy_mw_fields_end(rc ? NULL : body, found, name);
    if (rc != 0)
        return rc;
    mw->type = t;
    return 0;
}

void proxy_mw_free(proxy_mw_t *mw)
{
    if (mw->type && mw->cfg)
        mw->type->free(mw->cfg);
    mw->type = NULL;
    mw->cfg = NULL;
}
