/* The retry middleware's parameters and backoff (mw_retry.h). */
#include "proxy/mw_retry.h"

#include "core/hc_alloc.h"

#include <errno.h>
#include <math.h>

typedef struct retry_cfg {
    unsigned attempts;
    uint64_t interval_ms;
} retry_cfg_t;

int proxy_mw_retry_parse(const json_t *spec, const char *name, void **cfg, char *err, size_t errlen)
{
    (void)name;
    long long attempts = 0;
    uint64_t ns = 0;
    if (proxy_mw_json_int(spec, "attempts", &attempts, err, errlen) != 0)
        return -EINVAL;
    if (attempts <= 0 || attempts > 1000) /* Traefik refuses <= 0 */
        return hc_errf(err, errlen, -EINVAL, "retry: incorrect (or empty) value for attempt (%lld)",
                       attempts);
    if (proxy_mw_json_duration(spec, "initialInterval", "retry", &ns, err, errlen) != 0)
        return -EINVAL;
    retry_cfg_t *c = hc_calloc(1, sizeof(*c));
    c->attempts = (unsigned)attempts;
    c->interval_ms = ns / 1000000u;
    *cfg = c;
    return 0;
}

void proxy_mw_retry_free(void *cfg)
{
    hc_free(cfg);
}

unsigned proxy_mw_retry_attempts(const void *cfg)
{
    return ((const retry_cfg_t *)cfg)->attempts;
}

uint64_t proxy_mw_retry_interval_ms(const void *cfg)
{
    return ((const retry_cfg_t *)cfg)->interval_ms;
}

uint64_t proxy_mw_retry_backoff_ms(uint64_t interval_ms, unsigned attempts, unsigned next, double r)
{
    if (attempts < 2 || !interval_ms || next < 2)
        return 0;
    double m = pow(2.0, 1.0 / (double)(attempts - 1));
    double cur = (double)interval_ms * pow(m, (double)(next - 2));
    return (uint64_t)(cur * (0.5 + r)); /* cenkalti/backoff: randomization factor 0.5 */
}
