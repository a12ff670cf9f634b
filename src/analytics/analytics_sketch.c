/* Distinct-session sketches for the rollups: exact sorted sets while small, HyperLogLog
 * (Flajolet et al. 2007) beyond, counted with Ertl's estimator; registers fold to a lower
 * precision exactly. Contracts in analytics_rollup.h. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "analytics/analytics_rollup.h"
#include "core/hc_alloc.h"

uint64_t analytics_hash64(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

static void hll_add(uint8_t *reg, unsigned p, uint64_t h)
{
    uint32_t idx = (uint32_t)(h >> (64 - p));
    uint64_t rest = h << p;
    uint8_t rank = rest ? (uint8_t)(__builtin_clzll(rest) + 1) : (uint8_t)(64 - p + 1);
    if (rank > reg[idx])
        reg[idx] = rank;
}

/* Switches s from its exact set to registers of precision p. */
static void to_hll(analytics_sketch_t *s, unsigned p)
{
    s->reg = hc_calloc((size_t)1 << p, 1);
    s->p = (uint8_t)p;
    for (uint32_t i = 0; i < s->n; i++)
        hll_add(s->reg, p, s->set[i]);
    hc_free(s->set);
    s->set = NULL;
    s->n = s->cap = 0;
}

/* Folds register i of value v at precision p into reg at precision q < p: the index
 * bits dropped become the first bits after the new index (exact, not an estimate). */
static void fold_into(uint8_t *reg, unsigned q, uint32_t i, uint8_t v, unsigned p)
{
    if (v == 0)
        return;
    unsigned d = p - q;
    uint32_t low = i & ((1u << d) - 1);
    uint8_t rank = low ? (uint8_t)(d - (31 - (unsigned)__builtin_clz(low))) : (uint8_t)(v + d);
    if (rank > reg[i >> d])
        reg[i >> d] = rank;
}

/* Lowers s's registers to precision q. */
static void fold(analytics_sketch_t *s, unsigned q)
{
    uint8_t *reg = hc_calloc((size_t)1 << q, 1);
    for (uint32_t i = 0; i < (1u << s->p); i++)
        fold_into(reg, q, i, s->reg[i], s->p);
    hc_free(s->reg);
    s->reg = reg;
    s->p = (uint8_t)q;
}

void analytics_sketch_add(analytics_sketch_t *s, uint64_t h)
{
    if (s->reg) {
        hll_add(s->reg, s->p, h);
        return;
    }
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (s->set[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n && s->set[lo] == h)
        return;
    if (s->n == ANALYTICS_SKETCH_EXACT) {
        to_hll(s, s->p ? s->p : ANALYTICS_SKETCH_P);
        hll_add(s->reg, s->p, h);
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        if (s->cap > ANALYTICS_SKETCH_EXACT)
            s->cap = ANALYTICS_SKETCH_EXACT;
        s->set = hc_realloc(s->set, s->cap * sizeof(uint64_t));
    }
    memmove(s->set + lo + 1, s->set + lo, (s->n - lo) * sizeof(uint64_t));
    s->set[lo] = h;
    s->n++;
}

void analytics_sketch_merge(analytics_sketch_t *dst, const analytics_sketch_t *src)
{
    if (!src->reg) {
        for (uint32_t i = 0; i < src->n; i++)
            analytics_sketch_add(dst, src->set[i]);
        return;
    }
    /* the union of sketches of two precisions has the lower one */
    if (!dst->reg)
        to_hll(dst, dst->p && dst->p < src->p ? dst->p : src->p);
    else if (dst->p > src->p)
        fold(dst, src->p);
    if (src->p == dst->p) {
        /* restrict locals: a byte store through dst->reg could alias *dst itself, which
         * made the compiler reload the pointers every byte instead of vectorizing */
        uint8_t *restrict d = dst->reg;
        const uint8_t *restrict s = src->reg;
        size_t m = (size_t)1 << src->p;
        for (size_t i = 0; i < m; i++)
            d[i] = s[i] > d[i] ? s[i] : d[i];
        return;
    }
    for (uint32_t i = 0; i < (1u << src->p); i++)
        fold_into(dst->reg, dst->p, i, src->reg[i], src->p);
}

/* Ertl's improved raw estimator ("New cardinality estimation algorithms for
 * HyperLogLog sketches", 2017, algorithm 6): unbiased over the whole range from the
 * histogram of register values, with no empirical bias tables. */
static double ertl_sigma(double x)
{
    if (x == 1.0)
        return INFINITY; /* every register empty: the estimate is 0 */
    double y = 1.0, z = x, prev;
    do {
        x *= x;
        prev = z;
        z += x * y;
        y += y;
    } while (z != prev);
    return z;
}

static double ertl_tau(double x)
{
    if (x == 0.0 || x == 1.0)
        return 0.0;
    double y = 1.0, z = 1.0 - x, prev;
    do {
        x = sqrt(x);
        prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != prev);
    return z / 3.0;
}

uint64_t analytics_sketch_count(const analytics_sketch_t *s)
{
    if (!s->reg)
        return s->n;
    unsigned q = 64u - s->p;
    uint32_t c[64] = {0}; /* registers hold 0..q+1 */
    double m = (double)(1u << s->p);
    for (uint32_t i = 0; i < (1u << s->p); i++)
        c[s->reg[i]]++;
    double z = m * ertl_tau(1.0 - c[q + 1] / m);
    for (unsigned k = q; k >= 1; k--)
        z = 0.5 * (z + c[k]);
    z += m * ertl_sigma(c[0] / m);
    return (uint64_t)(m * m / (2.0 * log(2.0)) / z + 0.5);
}

void analytics_sketch_clear(analytics_sketch_t *s)
{
    hc_free(s->set);
    hc_free(s->reg);
    memset(s, 0, sizeof(*s));
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Tags: 1 exact hashes; 2/3 sparse/dense registers at ANALYTICS_SKETCH_P; 4/5 the same
 * at ANALYTICS_SKETCH_P_LOW. */
static int encode_regs(const uint8_t *reg, unsigned p, hc_buf_t *b)
{
    uint32_t m = 1u << p, nz = 0;
    for (uint32_t i = 0; i < m; i++)
        nz += reg[i] != 0;
    unsigned char tag = (unsigned char)(p == ANALYTICS_SKETCH_P ? 2 : 4);
    if ((size_t)nz * 3 < m) {
        unsigned char e[3];
        if (hc_buf_append(b, &tag, 1) < 0)
            return -ENOBUFS;
        for (uint32_t i = 0; i < m; i++) {
            if (!reg[i])
                continue;
            e[0] = (unsigned char)(i & 0xff);
            e[1] = (unsigned char)(i >> 8);
            e[2] = reg[i];
            if (hc_buf_append(b, e, 3) < 0)
                return -ENOBUFS;
        }
        return 0;
    }
    tag++;
    if (hc_buf_append(b, &tag, 1) < 0 || hc_buf_append(b, reg, m) < 0)
        return -ENOBUFS;
    return 0;
}

int analytics_sketch_encode_at(const analytics_sketch_t *s, unsigned p, hc_buf_t *b)
{
    if (!s->reg) {
        unsigned char tag = 1, le[8];
        if (hc_buf_append(b, &tag, 1) < 0)
            return -ENOBUFS;
        for (uint32_t i = 0; i < s->n; i++) {
            put_le64(le, s->set[i]);
            if (hc_buf_append(b, le, 8) < 0)
                return -ENOBUFS;
        }
        return 0;
    }
    if (p >= s->p)
        return encode_regs(s->reg, s->p, b);
    uint8_t *reg = hc_calloc((size_t)1 << p, 1);
    for (uint32_t i = 0; i < (1u << s->p); i++)
        fold_into(reg, p, i, s->reg[i], s->p);
    int rc = encode_regs(reg, p, b);
    hc_free(reg);
    return rc;
}

int analytics_sketch_encode(const analytics_sketch_t *s, hc_buf_t *b)
{
    return analytics_sketch_encode_at(s, ANALYTICS_SKETCH_P, b);
}

int analytics_sketch_merge_encoded(analytics_sketch_t *s, const void *p, size_t n)
{
    const unsigned char *d = p;
    if (n == 0)
        return -EBADMSG;
    size_t body = n - 1;
    if (d[0] == 1) {
        if (body % 8 || body / 8 > ANALYTICS_SKETCH_EXACT)
            return -EBADMSG;
        for (size_t i = 0; i < body / 8; i++)
            analytics_sketch_add(s, get_le64(d + 1 + 8 * i));
        return 0;
    }
    if (d[0] < 2 || d[0] > 5)
        return -EBADMSG;
    unsigned prec = d[0] <= 3 ? ANALYTICS_SKETCH_P : ANALYTICS_SKETCH_P_LOW;
    uint32_t m = 1u << prec;
    uint8_t maxr = (uint8_t)(64 - prec + 1);
    analytics_sketch_t t = {.p = (uint8_t)prec};
    if (d[0] == 2 || d[0] == 4) {
        if (body % 3)
            return -EBADMSG;
        for (size_t i = 0; i < body; i += 3)
            if ((uint32_t)(d[1 + i] | d[2 + i] << 8) >= m || d[3 + i] > maxr)
                return -EBADMSG;
        t.reg = hc_calloc(m, 1);
        for (size_t i = 0; i < body; i += 3) {
            uint32_t idx = (uint32_t)(d[1 + i] | d[2 + i] << 8);
            if (d[3 + i] > t.reg[idx])
                t.reg[idx] = d[3 + i];
        }
    } else {
        if (body != m)
            return -EBADMSG;
        for (uint32_t i = 0; i < m; i++)
            if (d[1 + i] > maxr)
                return -EBADMSG;
        t.reg = hc_memdup(d + 1, m);
    }
    analytics_sketch_merge(s, &t);
    hc_free(t.reg);
    return 0;
}
