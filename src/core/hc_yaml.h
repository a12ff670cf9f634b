/* YAML streams (libfyaml) as jansson trees, one per document, with the source line and
 * column of every node kept beside the tree so that errors can name file:line and key.
 * Used by hc_config (config files) and hc_manifest (Kubernetes manifests).
 *
 * Scalars follow the YAML 1.2 core schema (YAML 1.2.2 §10.3.2), as Kubernetes reads
 * them: null/~/empty, true/false, ints (decimal, 0o octal, 0x hex), floats. Quoted
 * scalars are strings. Anchors and aliases are resolved into copies, merge keys `<<`
 * are applied, duplicate and non-string keys are errors. The limits bound the expanded
 * size, so an alias bomb ("billion laughs") fails early instead of exhausting memory. */
#ifndef HC_YAML_H
#define HC_YAML_H

#include <jansson.h>
#include <stddef.h>

typedef struct hc_yaml_limits {
    size_t max_input;   /* bytes of input accepted */
    unsigned max_depth; /* nesting of sequences and mappings */
    size_t max_nodes;   /* nodes after alias expansion, over the whole stream */
} hc_yaml_limits_t;

/* Defaults of hc_yaml_limits_default(). */
#define HC_YAML_MAX_INPUT (8u << 20)
#define HC_YAML_MAX_DEPTH 64u
#define HC_YAML_MAX_NODES 1000000u

typedef struct hc_yaml_error {
    char file[256];    /* the name given to the parser */
    int line;          /* 1-based; 0 when the error has no position */
    int column;        /* 1-based; 0 when unknown */
    char message[256]; /* without file and position */
} hc_yaml_error_t;

typedef struct hc_yaml_docs hc_yaml_docs_t;

/** Fills l with the HC_YAML_MAX_* defaults. */
void hc_yaml_limits_default(hc_yaml_limits_t *l);

/** Parses data[0..len) (need not be NUL-terminated) named name (for errors). lim NULL
 *  means the defaults. On success returns 0 and *out owns the documents (free with
 *  hc_yaml_free). On failure returns -EINVAL (bad YAML, unsupported value), -EFBIG (a
 *  limit was passed) with err filled (err may be NULL) and *out NULL. */
int hc_yaml_parse(const char *name, const char *data, size_t len, const hc_yaml_limits_t *lim,
                  hc_yaml_docs_t **out, hc_yaml_error_t *err);

/** Reads path (at most lim->max_input bytes) and parses it as hc_yaml_parse does, naming
 *  it path. Returns also a negative errno of open/read (-ENOENT, ...) with err filled. */
int hc_yaml_parse_file(const char *path, const hc_yaml_limits_t *lim, hc_yaml_docs_t **out,
                       hc_yaml_error_t *err);

/** Reads the whole file at path into *data (hc_malloc'd, NUL-terminated, the caller
 *  frees it with hc_free) and its length into *len. Returns 0, -EFBIG when it holds more
 *  than max bytes, -EISDIR, or the negative errno of open/read. */
int hc_yaml_read_file(const char *path, size_t max, char **data, size_t *len);

/** Frees the documents and the position table; NULL is fine. Trees the caller took a
 *  reference to (json_incref) stay valid. */
void hc_yaml_free(hc_yaml_docs_t *docs);

/** Number of documents in the stream (an empty stream has 0; an empty document between
 *  `---` markers counts and is json null). */
size_t hc_yaml_count(const hc_yaml_docs_t *docs);

/** The root of document i (< count), borrowed: valid until hc_yaml_free unless the
 *  caller takes a reference. Callers must not modify it (positions are keyed by node). */
json_t *hc_yaml_get(const hc_yaml_docs_t *docs, size_t i);

/** The name given to the parser. */
const char *hc_yaml_name(const hc_yaml_docs_t *docs);

/** 1-based line of a node of these documents, with its column in *col (col may be NULL).
 *  Returns 0 when unknown, which is always the case for true, false and null: jansson
 *  shares one instance of each, so ask for them through their parent with
 *  hc_yaml_line_of_key or hc_yaml_line_of_index. */
int hc_yaml_line_of(const hc_yaml_docs_t *docs, const json_t *node, int *col);

/** 1-based line of key in mapping obj (the key's own position), or 0 when unknown. */
int hc_yaml_line_of_key(const hc_yaml_docs_t *docs, const json_t *obj, const char *key, int *col);

/** 1-based line of item i of sequence arr, or 0 when unknown. */
int hc_yaml_line_of_index(const hc_yaml_docs_t *docs, const json_t *arr, size_t i, int *col);

#endif
