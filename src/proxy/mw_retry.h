/* The retry middleware (traefik/traefik pkg/middlewares/retry): a request whose server
 * could not be reached (nothing of it was sent) is tried again, up to `attempts` tries
 * in all, after an exponential backoff from `initialInterval`. The tries themselves
 * belong to the forward (proxy_upstream.h: retry_attempts, retry_interval_ms). */
#ifndef PROXY_MW_RETRY_H
#define PROXY_MW_RETRY_H

#include "proxy/mw.h"

#include <stdint.h>

/** retry spec: attempts (required, > 0), initialInterval (a Go duration or seconds;
 *  0: no wait). Contract of proxy_mw_parse_fn. */
int proxy_mw_retry_parse(const json_t *spec, const char *name, void **cfg, char *err,
                         size_t errlen);
void proxy_mw_retry_free(void *cfg);
unsigned proxy_mw_retry_attempts(const void *cfg);
uint64_t proxy_mw_retry_interval_ms(const void *cfg);
/** The wait before try number `next` (2 for the first retry) of `attempts`, as Traefik's
 *  backoff: initialInterval grown by 2^(1/(attempts-1)) per retry (so it reaches twice
 *  initialInterval at the last), randomized by +-50% with the random value r in [0,1). */
uint64_t proxy_mw_retry_backoff_ms(uint64_t interval_ms, unsigned attempts, unsigned next,
                                   double r);

#endif
