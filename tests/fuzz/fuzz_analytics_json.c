/* Fuzz target for analytics_json, differential against jansson: the reader accepts an
 * input iff json_loadb(JSON_DECODE_INT_AS_REAL) does, and when both do, what it reads is
 * jansson's tree (same types, strings byte for byte, numbers bit for bit, of a repeated
 * key the last member). analytics_json_count must agree, count what the walk reads
 * and leave the text as it was. Traps on any difference. Allowed: jansson drops one NUL
 * byte that follows a number or a literal ("[1\0]"), which the reader refuses. */
#include "analytics/analytics_json.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct member {
    analytics_json_value_t key, val;
} member_t;

static int same(const analytics_json_value_t *v, const json_t *j);

/* Walks what it walks (an array when array is set), entering nested containers, and
 * compares it with j (nothing when j is NULL). Returns 1 when equal, 0 when not, -1 when
 * the reader failed; *n is the count of members read. */
static int same_members(analytics_json_iter_t *it, int array, const json_t *j, size_t *n)
{
    size_t cap = 8;
    member_t *m = malloc(cap * sizeof(*m));
    int rc = 0;
    *n = 0;
    while (m && (rc = analytics_json_next(it, &m[*n].key, &m[*n].val)) == 1) {
        if (++*n == cap) {
            member_t *more = realloc(m, (cap *= 2) * sizeof(*m));
            if (!more)
                free(m);
            m = more;
        }
    }
    if (!m)
        abort(); /* out of memory: libFuzzer reports it */
    int result = rc < 0 ? -1 : 1;
    if (array) {
        if (result == 1 && j && *n != json_array_size(j))
            result = 0;
        for (size_t i = 0; result == 1 && i < *n; i++)
            result = same(&m[i].val, j ? json_array_get(j, i) : NULL);
    } else {
        size_t distinct = 0;
        for (size_t i = 0; result == 1 && i < *n; i++) {
            int repeated = 0; /* a later member has the same key: that one counts */
            for (size_t k = i + 1; k < *n && !repeated; k++)
                repeated =
                    m[k].key.len == m[i].key.len && !memcmp(m[k].key.s, m[i].key.s, m[i].key.len);
            if (repeated)
                continue;
            distinct++;
            json_t *jv = j ? json_object_getn(j, m[i].key.s, m[i].key.len) : NULL;
            result = j && !jv ? 0 : same(&m[i].val, jv);
        }
        if (result == 1 && j && distinct != json_object_size(j))
            result = 0;
    }
    free(m);
    return result;
}

/* v against j (v only walked when j is NULL): as same_members. */
static int same(const analytics_json_value_t *v, const json_t *j)
{
    if (v->type == ANALYTICS_JSON_OBJECT || v->type == ANALYTICS_JSON_ARRAY) {
        int array = v->type == ANALYTICS_JSON_ARRAY;
        if (j && !(array ? json_is_array(j) : json_is_object(j)))
            return 0;
        analytics_json_iter_t it;
        size_t n;
        analytics_json_enter(&it, v);
        return same_members(&it, array, j, &n);
    }
    if (!j)
        return 1;
    switch (v->type) {
    case ANALYTICS_JSON_STRING:
        return json_is_string(j) && json_string_length(j) == v->len &&
               !memcmp(json_string_value(j), v->s, v->len) && v->s[v->len] == '\0';
    case ANALYTICS_JSON_NUMBER: {
        double d = json_real_value(j);
        return json_is_real(j) && !memcmp(&d, &v->num, sizeof(d));
    }
    case ANALYTICS_JSON_TRUE:
        return json_is_true(j);
    case ANALYTICS_JSON_FALSE:
        return json_is_false(j);
    case ANALYTICS_JSON_NULL:
        return json_is_null(j);
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_INT_AS_REAL, NULL);
    char *doc = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    if (!doc)
        abort();
    memcpy(doc, data, size);

    /* counted without a change to the text */
    analytics_json_iter_t it;
    analytics_json_type_t type;
    size_t counted = 0, walked = 0;
    int count_ok =
        analytics_json_open(&it, doc, size, &type) == 0 && analytics_json_count(&it, &counted) == 0;
    if (memcmp(doc, data, size))
        __builtin_trap();
    /* walked, every string decoded, and compared */
    int walk = -1;
    if (analytics_json_open(&it, doc, size, &type) == 0)
        walk = same_members(&it, type == ANALYTICS_JSON_ARRAY, j, &walked);
    if (count_ok != (walk >= 0))
        __builtin_trap();
    if (count_ok != (j != NULL) && !(j && memchr(data, 0, size)))
        __builtin_trap();
    if (count_ok && j && (walk != 1 || walked != counted))
        __builtin_trap();
    free(doc);
    json_decref(j);
    return 0;
}
