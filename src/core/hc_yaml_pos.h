/* Inside hc_yaml: the table of source positions kept beside jansson trees, keyed by node
 * address (and a mapping key or sequence index). Used only by hc_yaml.c. */
#ifndef HC_YAML_POS_H
#define HC_YAML_POS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define HC_YAML_NO_INDEX SIZE_MAX

/* The position of a node itself (key NULL, index HC_YAML_NO_INDEX), of key in mapping
 * node, or of item index of sequence node. */
typedef struct hc_yaml_pos {
    const json_t *node; /* NULL: free slot */
    char *key;          /* owned copy */
    size_t index;
    int line, col;
} hc_yaml_pos_t;

/* Open addressing; cap is 0 or a power of two. Zero-initialized means empty. */
typedef struct hc_yaml_pos_table {
    hc_yaml_pos_t *slots;
    size_t n, cap;
} hc_yaml_pos_table_t;

/** Records (or updates) a position. Nodes of true, false and null are ignored: jansson
 *  shares them, so they have no position of their own. */
void hc_yaml_pos_put(hc_yaml_pos_table_t *t, const json_t *node, const char *key, size_t index,
                     int line, int col);
/** The recorded position, or NULL. */
const hc_yaml_pos_t *hc_yaml_pos_get(const hc_yaml_pos_table_t *t, const json_t *node,
                                     const char *key, size_t index);
/** Frees the table's memory; it is empty afterwards. */
void hc_yaml_pos_free(hc_yaml_pos_table_t *t);

#endif
