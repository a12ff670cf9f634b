/* The chain middleware's configuration (mw_chain.h). */
#include "proxy/mw_chain.h"
#include "core/hc_alloc.h"

#include <errno.h>

typedef struct chain_cfg {
    char **names;
    size_t n;
} chain_cfg_t;

int proxy_mw_chain_parse(const json_t *spec, const char *name, void **cfg, char *err,
                         size_t errlen)
{
    chain_cfg_t *c = hc_calloc(1, sizeof(*c));
    int rc = proxy_mw_json_strv(spec, "middlewares", &c->names, &c->n, err, errlen);
    if (rc == 0 && c->n == 0)
        rc = hc_errf(err, errlen, -EINVAL, "chain: middlewares is empty");
    for (size_t i = 0; rc == 0 && i < c->n; i++)
        if (!c->names[i][0])
            rc = hc_errf(err, errlen, -EINVAL, "chain: middlewares[%zu] is empty", i);
    if (rc != 0) {
        proxy_mw_chain_free(c);
        return rc;
    }
    *cfg = c;
    return 0;
}

void proxy_mw_chain_free(void *cfg)
{
    chain_cfg_t *c = cfg;
    if (!c)
        return;
    proxy_mw_strv_free(c->names, c->n);
    hc_free(c);
}

size_t proxy_mw_chain_count(const void *cfg)
{
    return ((const chain_cfg_t *)cfg)->n;
}

const char *proxy_mw_chain_name(const void *cfg, size_t i)
{
    return ((const chain_cfg_t *)cfg)->names[i];
}
