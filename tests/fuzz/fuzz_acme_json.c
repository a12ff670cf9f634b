/* Fuzz target for the ACME client's response handling (certs_acme_json.c): the input is
 * one response body, handed to every parser (directory, account, order, authorization,
 * problem document), plus a Retry-After value made of its first line. */
#include "certs/certs_acme_int.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char err[256];
    acme_directory_t dir;
    if (acme_json_directory(body, size, &dir, err, sizeof(err)) == 0)
        acme_directory_clear(&dir);
    acme_status_t st;
    acme_json_account(body, size, &st);
    acme_order_obj_t order;
    if (acme_json_order(body, size, &order, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < order.n_authz; i++)
            if (!order.authz[i][0])
                __builtin_trap();
        acme_order_obj_clear(&order);
    }
    acme_authz_obj_t authz;
    if (acme_json_authz(body, size, &authz, err, sizeof(err)) == 0) {
        if (authz.token && strspn(authz.token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(authz.token))
            __builtin_trap();
        /* The identifier goes into the solver file and the self-check's Host header. */
        if (strspn(authz.identifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:*") !=
            strlen(authz.identifier))
            __builtin_trap();
        acme_authz_obj_clear(&authz);
    }
    certs_acme_problem_t prob = {0};
    acme_json_problem(body, size, &prob);
    char line[128];
    size_t n = 0;
    while (n < size && n + 1 < sizeof(line) && body[n] != '\n' && body[n] != '\0') {
        line[n] = body[n];
        n++;
    }
    line[n] = '\0';
    acme_retry_after(line, 1700000000);
    return 0;
}
