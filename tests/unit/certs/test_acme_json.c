/* Unit tests of the ACME response parsers (certs_acme_json.c): authorizations whose
 * identifier would break out of the solver Ingress file or the self-check request are
 * refused, and Retry-After values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "certs/certs_acme_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CHAL "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://a/chalZ/b\"," \
             "\"token\":\"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\",\"status\":\"pending\"}]"

static void test_authz_identifier(void **state)
{
    (void)state;
    static const struct {
        const char *value; /* JSON string contents */
        int rc;
    } cases[] = {
        {"app.example.test", 0},
        {"*.example.test", 0},
        {"127.0.0.1", 0},
        {"::1", 0},
        {"a\\\"\\n  - path: /x", -EBADMSG}, /* a quote and a line break: YAML injection */
        {"a b", -EBADMSG},
        {"a\\r\\nX-Evil: 1", -EBADMSG},
        {"a/b", -EBADMSG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[1024], err[256];
        snprintf(body, sizeof(body),
                 "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"%s\"}," CHAL "}",
                 cases[i].value);
        acme_authz_obj_t a;
        int rc = acme_json_authz(body, strlen(body), &a, err, sizeof(err));
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            assert_non_null(a.token);
            acme_authz_obj_clear(&a);
        }
    }
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(acme_retry_after("7", 0), 7);
    assert_int_equal(acme_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770), 7);
    assert_int_equal(acme_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111787), 0);
    assert_int_equal(acme_retry_after("-1", 0), -1);
    assert_int_equal(acme_retry_after("soon", 0), -1);
    assert_int_equal(acme_retry_after(NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authz_identifier),
        cmocka_unit_test(test_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
