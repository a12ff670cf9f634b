/* The buffering middleware's limits (mw_buffering.h). */
#include "proxy/mw_buffering.h"

#include "core/hc_alloc.h"

#include <errno.h>
#include <stdlib.h>

typedef struct buffering_cfg {
    uint64_t max_request, max_response;
} buffering_cfg_t;

int proxy_mw_buffering_parse(const json_t *spec, const char *name, void **cfg, char *err,
                             size_t errlen)
{
    static const char *const keys[] = {"maxRequestBodyBytes", "maxResponseBodyBytes",
                                       "memRequestBodyBytes", "memResponseBodyBytes"};
    long long v[4] = {0, 0, 0, 0};
    (void)name;
    for (size_t i = 0; i < 4; i++) {
        if (proxy_mw_json_int(spec, keys[i], &v[i], err, errlen) != 0)
            return -EINVAL;
        if (v[i] < 0) /* oxy: "max bytes should be >= 0" */
            return hc_errf(err, errlen, -EINVAL, "buffering.%s: %lld is negative", keys[i], v[i]);
    }
    if (proxy_mw_json_get(spec, "retryExpression"))
        return hc_errf(err, errlen, -EINVAL, "buffering.retryExpression is not supported");
    buffering_cfg_t *c = hc_calloc(1, sizeof(*c));
    c->max_request = (uint64_t)v[0];
    c->max_response = (uint64_t)v[1];
    *cfg = c;
    return 0;
}

void proxy_mw_buffering_free(void *cfg)
{
    hc_free(cfg);
}

proxy_mw_verdict_t proxy_mw_buffering_request(const void *cfg, proxy_mw_req_t *req,
                                              proxy_mw_resp_t *resp)
{
    const buffering_cfg_t *c = cfg;
    const char *cl = proxy_mw_headers_get(&req->headers, "Content-Length");
    if (c->max_request && cl && strtoull(cl, NULL, 10) > c->max_request)
        return proxy_mw_resp_text(resp, 413, NULL, "Request Entity Too Large");
    return PROXY_MW_NEXT;
}

uint64_t proxy_mw_buffering_max_request(const void *cfg)
{
    return ((const buffering_cfg_t *)cfg)->max_request;
}

uint64_t proxy_mw_buffering_max_response(const void *cfg)
{
    return ((const buffering_cfg_t *)cfg)->max_response;
}
