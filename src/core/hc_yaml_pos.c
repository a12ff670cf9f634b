/* Source positions beside jansson trees (see hc_yaml_pos.h): an open-addressing hash
 * table from (node address, key or index) to line and column. */
#include "core/hc_yaml_pos.h"
#include "core/hc_alloc.h"

#include <string.h>

static size_t pos_hash(const json_t *node, const char *key, size_t index)
{
    uint64_t h = (uint64_t)(uintptr_t)node * 0x9e3779b97f4a7c15ull;
    if (key)
        for (const unsigned char *p = (const unsigned char *)key; *p; p++)
            h = (h ^ *p) * 0x100000001b3ull;
    else
        h ^= (uint64_t)index * 0xff51afd7ed558ccdull;
    return (size_t)(h ^ (h >> 29));
}

static hc_yaml_pos_t *pos_slot(hc_yaml_pos_t *tab, size_t cap, const json_t *node,
                               const char *key, size_t index)
{
    size_t i = pos_hash(node, key, index) & (cap - 1);
    for (;; i = (i + 1) & (cap - 1)) {
        hc_yaml_pos_t *p = &tab[i];
        if (!p->node)
            return p;
        if (p->node == node && p->index == index &&
            (key ? p->key && !strcmp(p->key, key) : !p->key))
            return p;
    }
}

static void pos_grow(hc_yaml_pos_table_t *t)
{
    size_t cap = t->cap ? t->cap * 2 : 256;
    hc_yaml_pos_t *tab = hc_calloc(cap, sizeof(*tab));
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].node)
            *pos_slot(tab, cap, t->slots[i].node, t->slots[i].key, t->slots[i].index) =
                t->slots[i];
    hc_free(t->slots);
    t->slots = tab;
    t->cap = cap;
}

void hc_yaml_pos_put(hc_yaml_pos_table_t *t, const json_t *node, const char *key, size_t index,
                     int line, int col)
{
    if (!key && index == HC_YAML_NO_INDEX && (json_is_null(node) || json_is_boolean(node)))
        return;
    if ((t->n + 1) * 2 > t->cap) /* load factor at most 1/2 */
        pos_grow(t);
    hc_yaml_pos_t *p = pos_slot(t->slots, t->cap, node, key, index);
    if (!p->node) {
        p->node = node;
        p->key = key ? hc_strdup(key) : NULL;
        p->index = index;
        t->n++;
    }
    p->line = line;
    p->col = col;
}

const hc_yaml_pos_t *hc_yaml_pos_get(const hc_yaml_pos_table_t *t, const json_t *node,
                                     const char *key, size_t index)
{
    if (!node || !t->cap)
        return NULL;
    const hc_yaml_pos_t *p = pos_slot(t->slots, t->cap, node, key, index);
    return p->node ? p : NULL;
}

void hc_yaml_pos_free(hc_yaml_pos_table_t *t)
{
    for (size_t i = 0; i < t->cap; i++)
        hc_free(t->slots[i].key);
    hc_free(t->slots);
    memset(t, 0, sizeof(*t));
}
