/* libFuzzer target for hc_static's request parsing: the input's lines are the method,
 * the request target, Accept-Encoding and If-None-Match (each a heap copy of its exact
 * length plus NUL), answered from a small table that holds all three codings. */
#include "core/hc_alloc.h"
#include "core/hc_static.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char page[] =
    "<html><body>hearth hearth hearth hearth hearth hearth hearth hearth</body></html>";
static const hc_static_asset_t assets[] = {
    {"index.html", page, sizeof(page) - 1, "text/html; charset=utf-8"},
    {"a b/c.3f9a1c2e.js", page, sizeof(page) - 1, "text/javascript"},
};
static const hc_static_table_t table = {assets, 2};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hc_static_t *st;
    if (!st &&
        hc_static_new(&table, &(hc_static_options_t){.immutable = 1, .max_age = 60}, &st) != 0)
        abort();
    char *field[4] = {NULL};
    size_t at = 0;
    for (int i = 0; i < 4 && at <= size; i++) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - data - at) : size - at;
        field[i] = hc_memdup(data + at, len);
        at += len + 1;
    }
    hc_static_request_t req = {field[0] ? field[0] : "GET", field[1] ? field[1] : "/", field[2],
                               field[3]};
    hc_static_response_t res;
    hc_static_respond(st, &req, &res);
    if (res.status != 200 && res.status != 304 && res.status != 404 && res.status != 405 &&
        res.status != 406)
        abort();
    if (res.body && res.body_len > sizeof(page))
        abort();
    for (int i = 0; i < 4; i++)
        hc_free(field[i]);
    return 0;
}
