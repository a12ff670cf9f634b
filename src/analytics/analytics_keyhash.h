/* The hash of hearth analytics' in-memory tables (the id and User-Agent memos, the cache
 * token slots, the rollups' cells and visits): eight bytes per step where FNV-1a takes
 * one, for keys hashed on every event. Its values live only in memory and may change
 * between versions; analytics_hash64 (analytics_rollup.h) is the stable hash whose
 * values sketches store. */
#ifndef ANALYTICS_KEYHASH_H
#define ANALYTICS_KEYHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** A 64-bit hash of p[0..n), mixed in every bit (a multiply per eight bytes, then the
 *  murmur3 finish). */
static inline uint64_t analytics_key_hash(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0x9e3779b97f4a7c15ull * (n + 1), w;
    for (; n >= 8; b += 8, n -= 8) {
        memcpy(&w, b, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)b[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

#endif
