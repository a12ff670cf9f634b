/* The chain middleware: an ordered list of other middleware names. Resolving the names
 * (provider suffixes, namespaces, cycles) is the routing configuration's job. */
#ifndef PROXY_MW_CHAIN_H
#define PROXY_MW_CHAIN_H

#include "proxy/mw.h"

/** Parses a `chain` spec: {middlewares: [name, ...]} (at least one, none empty).
 *  Contract of proxy_mw_parse_fn (mw.h). */
int proxy_mw_chain_parse(const json_t *spec, const char *name, void **cfg, char *err,
                         size_t errlen);
/** Frees a config from proxy_mw_chain_parse; NULL is fine. */
void proxy_mw_chain_free(void *cfg);
/** Number of names in the chain. */
size_t proxy_mw_chain_count(const void *cfg);
/** Name i (< count) as written in the spec, borrowed from cfg. */
const char *proxy_mw_chain_name(const void *cfg, size_t i);

#endif
