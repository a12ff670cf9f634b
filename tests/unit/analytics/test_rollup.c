/* The rollups' distinct-session sketch: exact while small, HyperLogLog beyond, merges and
 * its encodings (what the rollup tables store). */
#include "core/hc_alloc.h"
#include "analytics/analytics_rollup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static uint64_t session_hash(unsigned i)
{
    char id[40];
    int n = snprintf(id, sizeof(id), "%08x-0000-4000-8000-%012x", i * 2654435761u, i);
    return analytics_hash64(id, (size_t)n);
}

static uint64_t roundtrip(const analytics_sketch_t *s)
{
    hc_buf_t b;
    hc_buf_init(&b, 0);
    assert_int_equal(analytics_sketch_encode(s, &b), 0);
    analytics_sketch_t t = {0};
    assert_int_equal(analytics_sketch_merge_encoded(&t, b.base, b.len), 0);
    uint64_t n = analytics_sketch_count(&t);
    analytics_sketch_clear(&t);
    hc_buf_free(&b);
    return n;
}

static void test_exact_while_small(void **state)
{
    analytics_sketch_t s = {0};
    for (unsigned rep = 0; rep < 3; rep++)
        for (unsigned i = 0; i < ANALYTICS_SKETCH_EXACT; i++)
            analytics_sketch_add(&s, session_hash(i));
    assert_null(s.reg);
    assert_int_equal(analytics_sketch_count(&s), ANALYTICS_SKETCH_EXACT);
    assert_int_equal(roundtrip(&s), ANALYTICS_SKETCH_EXACT);
    analytics_sketch_clear(&s);
    assert_int_equal(analytics_sketch_count(&s), 0);
    assert_int_equal(roundtrip(&s), 0);
}

static void test_merge_exact_union(void **state)
{
    analytics_sketch_t a = {0}, b = {0};
    for (unsigned i = 0; i < 100; i++)
        analytics_sketch_add(&a, session_hash(i));
    for (unsigned i = 50; i < 150; i++)
        analytics_sketch_add(&b, session_hash(i));
    analytics_sketch_merge(&a, &b);
    assert_int_equal(analytics_sketch_count(&a), 150);
    assert_int_equal(analytics_sketch_count(&b), 100);
    analytics_sketch_clear(&a);
    analytics_sketch_clear(&b);
}

static double rel_err(uint64_t got, uint64_t want)
{
    double d = (double)got - (double)want;
    return (d < 0 ? -d : d) / (double)want;
}

static void test_hll_error_at_100k(void **state)
{
    analytics_sketch_t s = {0};
    for (unsigned i = 0; i < 100000; i++)
        analytics_sketch_add(&s, session_hash(i));
    assert_non_null(s.reg);
    uint64_t n = analytics_sketch_count(&s);
    assert_true(rel_err(n, 100000) < 0.02);
    /* dense encoding round trip gives the same estimate */
    assert_int_equal(roundtrip(&s), n);
    analytics_sketch_clear(&s);
}

static void test_hll_small_and_sparse(void **state)
{
    static const unsigned sizes[] = {257, 1000, 3000, 20000};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        analytics_sketch_t s = {0};
        for (unsigned i = 0; i < sizes[k]; i++)
            analytics_sketch_add(&s, session_hash(i + 7 * (unsigned)k));
        uint64_t n = analytics_sketch_count(&s);
        assert_true(rel_err(n, sizes[k]) < 0.02);
        assert_int_equal(roundtrip(&s), n);
        analytics_sketch_clear(&s);
    }
}

static void test_merge_hll_halves(void **state)
{
    /* two days of 60k sessions sharing 20k: the union is 100k */
    analytics_sketch_t a = {0}, b = {0}, e = {0};
    for (unsigned i = 0; i < 60000; i++)
        analytics_sketch_add(&a, session_hash(i));
    for (unsigned i = 40000; i < 100000; i++)
        analytics_sketch_add(&b, session_hash(i));
    for (unsigned i = 0; i < 10; i++)
        analytics_sketch_add(&e, session_hash(i));
    analytics_sketch_merge(&e, &a); /* exact into HLL */
    analytics_sketch_merge(&e, &b);
    assert_true(rel_err(analytics_sketch_count(&e), 100000) < 0.02);
    analytics_sketch_clear(&a);
    analytics_sketch_clear(&b);
    analytics_sketch_clear(&e);
}

static int encodings_equal(const analytics_sketch_t *a, unsigned pa, const analytics_sketch_t *b,
                           unsigned pb)
{
    hc_buf_t x, y;
    hc_buf_init(&x, 0);
    hc_buf_init(&y, 0);
    assert_int_equal(analytics_sketch_encode_at(a, pa, &x), 0);
    assert_int_equal(analytics_sketch_encode_at(b, pb, &y), 0);
    int eq = x.len == y.len && memcmp(x.base, y.base, x.len) == 0;
    hc_buf_free(&x);
    hc_buf_free(&y);
    return eq;
}

static void test_fold_to_low_precision_is_exact(void **state)
{
    /* registers folded from P to P_LOW equal registers built at P_LOW directly */
    analytics_sketch_t hi = {0}, lo = {0};
    unsigned char empty_low = 4; /* a sparse P_LOW encoding with no register set */
    assert_int_equal(analytics_sketch_merge_encoded(&lo, &empty_low, 1), 0);
    assert_int_equal(lo.p, ANALYTICS_SKETCH_P_LOW);
    for (unsigned i = 0; i < 100000; i++) {
        analytics_sketch_add(&hi, session_hash(i));
        analytics_sketch_add(&lo, session_hash(i));
    }
    assert_int_equal(hi.p, ANALYTICS_SKETCH_P);
    assert_true(encodings_equal(&hi, ANALYTICS_SKETCH_P_LOW, &lo, ANALYTICS_SKETCH_P_LOW));
    assert_true(rel_err(analytics_sketch_count(&lo), 100000) < 0.04);
    /* merging a low sketch into a high one folds the high one */
    analytics_sketch_t m = {0};
    analytics_sketch_merge(&m, &hi);
    analytics_sketch_merge(&m, &lo);
    assert_int_equal(m.p, ANALYTICS_SKETCH_P_LOW);
    assert_true(encodings_equal(&m, ANALYTICS_SKETCH_P, &lo, ANALYTICS_SKETCH_P));
    /* a stored low encoding decodes to the same count */
    hc_buf_t b;
    hc_buf_init(&b, 0);
    assert_int_equal(analytics_sketch_encode_at(&hi, ANALYTICS_SKETCH_P_LOW, &b), 0);
    analytics_sketch_t d = {0};
    assert_int_equal(analytics_sketch_merge_encoded(&d, b.base, b.len), 0);
    assert_int_equal(analytics_sketch_count(&d), analytics_sketch_count(&lo));
    hc_buf_free(&b);
    analytics_sketch_clear(&hi);
    analytics_sketch_clear(&lo);
    analytics_sketch_clear(&m);
    analytics_sketch_clear(&d);
}

static void test_preset_precision(void **state)
{
    /* a day cell's sketch (p set while empty) turns into P_LOW registers, the same ones
     * a P sketch folds to when stored; a merge into it keeps the lower precision */
    (void)state;
    analytics_sketch_t hi = {0}, lo = {.p = ANALYTICS_SKETCH_P_LOW},
                       m = {.p = ANALYTICS_SKETCH_P_LOW};
    for (unsigned i = 0; i < 5000; i++) {
        analytics_sketch_add(&hi, session_hash(i));
        analytics_sketch_add(&lo, session_hash(i));
    }
    assert_int_equal(hi.p, ANALYTICS_SKETCH_P);
    assert_int_equal(lo.p, ANALYTICS_SKETCH_P_LOW);
    assert_true(encodings_equal(&hi, ANALYTICS_SKETCH_P_LOW, &lo, ANALYTICS_SKETCH_P_LOW));
    analytics_sketch_merge(&m, &hi);
    assert_int_equal(m.p, ANALYTICS_SKETCH_P_LOW);
    assert_true(encodings_equal(&m, ANALYTICS_SKETCH_P_LOW, &lo, ANALYTICS_SKETCH_P_LOW));
    /* while small it stays exact */
    analytics_sketch_t small = {.p = ANALYTICS_SKETCH_P_LOW};
    for (unsigned i = 0; i < ANALYTICS_SKETCH_EXACT; i++)
        analytics_sketch_add(&small, session_hash(i));
    assert_null(small.reg);
    assert_int_equal(analytics_sketch_count(&small), ANALYTICS_SKETCH_EXACT);
    analytics_sketch_clear(&hi);
    analytics_sketch_clear(&lo);
    analytics_sketch_clear(&m);
    analytics_sketch_clear(&small);
}

static void test_bad_encodings(void **state)
{
    analytics_sketch_t s = {0};
    unsigned char bad1[] = {1, 1, 2, 3};       /* not a whole hash */
    unsigned char bad2[] = {2, 0xff, 0xff, 1}; /* register index out of range */
    unsigned char bad3[] = {3, 0};             /* short dense */
    unsigned char bad4[] = {9};
    assert_int_equal(analytics_sketch_merge_encoded(&s, bad1, sizeof(bad1)), -EBADMSG);
    assert_int_equal(analytics_sketch_merge_encoded(&s, bad2, sizeof(bad2)), -EBADMSG);
    assert_int_equal(analytics_sketch_merge_encoded(&s, bad3, sizeof(bad3)), -EBADMSG);
    assert_int_equal(analytics_sketch_merge_encoded(&s, bad4, sizeof(bad4)), -EBADMSG);
    assert_int_equal(analytics_sketch_merge_encoded(&s, bad4, 0), -EBADMSG);
    unsigned char *dense = test_calloc(1, 1 + ANALYTICS_SKETCH_M);
    dense[0] = 3;
    dense[5] = 200; /* no register can hold a rank past 64 - P + 1 */
    assert_int_equal(analytics_sketch_merge_encoded(&s, dense, 1 + ANALYTICS_SKETCH_M), -EBADMSG);
    test_free(dense);
    assert_int_equal(analytics_sketch_count(&s), 0);
    analytics_sketch_clear(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_while_small),
        cmocka_unit_test(test_merge_exact_union),
        cmocka_unit_test(test_hll_error_at_100k),
        cmocka_unit_test(test_hll_small_and_sparse),
        cmocka_unit_test(test_merge_hll_halves),
        cmocka_unit_test(test_bad_encodings),
        cmocka_unit_test(test_fold_to_low_precision_is_exact),
        cmocka_unit_test(test_preset_precision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
