/* hc_ws building blocks: the RFC 6455 accept key, UTF-8 validation and frame headers
 * (complete, partial at every length, and protocol errors). */
#include "core/hc_alloc.h"
#include "core/hc_ws.h"

#include <string.h>

static void test_accept_key_rfc_example(void **state)
{
    char out[29];
    /* RFC 6455 §1.3 */
    hc_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_frame_headers(void **state)
{
    static const struct {
        const char *bytes;
        size_t n;
        long want; /* header length, or -1 */
        int fin, opcode, masked;
        unsigned long long len;
    } cases[] = {
        {"\x81\x85\x01\x02\x03\x04", 6, 6, 1, 1, 1, 5},
        {"\x82\x7e\x01\x00", 4, 4, 1, 2, 0, 256},
        {"\x02\xfe\x00\x7e\x00\x00\x00\x00", 8, 8, 0, 2, 1, 126},
        {"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10, 10, 1, 2, 0, 65536},
        {"\x89\x80\x00\x00\x00\x00", 6, 6, 1, 9, 1, 0},
        {"\xc1\x80\x00\x00\x00\x00", 6, -1},                  /* RSV1 */
        {"\x83\x80\x00\x00\x00\x00", 6, -1},                  /* opcode 3 */
        {"\x8b\x80\x00\x00\x00\x00", 6, -1},                  /* opcode 11 */
        {"\x09\x80\x00\x00\x00\x00", 6, -1},                  /* fragmented ping */
        {"\x89\xfe\x00\x7e\x00\x00\x00\x00", 8, -1},          /* ping > 125 */
        {"\x82\x7e\x00\x05", 4, -1},                          /* not minimal */
        {"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, -1}, /* top bit */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *p = hc_memdup(cases[i].bytes, cases[i].n);
        hc_ws_frame_t f;
        long h = hc_ws_frame_parse(p, cases[i].n, &f);
        assert_int_equal(h, cases[i].want);
        if (h > 0) {
            assert_int_equal(f.fin, cases[i].fin);
            assert_int_equal(f.opcode, cases[i].opcode);
            assert_int_equal(f.masked, cases[i].masked);
            assert_int_equal(f.len, cases[i].len);
            /* every shorter prefix asks for more bytes, reading nothing past its end */
            for (size_t k = 0; k < (size_t)h; k++) {
                uint8_t *q = hc_memdup(p, k);
                assert_int_equal(hc_ws_frame_parse(q, k, &f), 0);
                hc_free(q);
            }
        }
        hc_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc_example),
        cmocka_unit_test(test_frame_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
