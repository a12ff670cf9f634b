/* YAML to jansson (see hc_yaml.h): libfyaml's event stream drives a small builder that
 * decodes quoted and block scalars from the source itself (hc_yaml_scalar.c), resolves
 * scalars by the YAML 1.2 core schema, copies aliases, applies merge keys and records
 * positions in a table owned by hc_yaml_docs_t (hc_yaml_pos.c). */
#include "core/hc_yaml.h"
#include "core/hc_alloc.h"
#include "core/hc_yaml_pos.h"
#include "core/hc_yaml_scalar.h"

#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAG_CORE "tag:yaml.org,2002:"
#define NO_INDEX HC_YAML_NO_INDEX

typedef hc_yaml_pos_t pos_t;

struct hc_yaml_docs {
    char *name;
    json_t **roots;
    size_t n, cap;
    hc_yaml_pos_table_t pos;
    json_t *keep;       /* nodes dropped while building (merge sources, replaced merged
                         * values): kept alive so no address in pos is ever reused */
};

typedef struct frame {
    json_t *node;     /* the mapping or sequence being filled (owned) */
    int is_map;
    int line, col;
    char *key;        /* mapping: key waiting for its value */
    int key_line, key_col;
    int merge;        /* mapping: the waiting key is a merge key `<<` */
    json_t *merged;   /* mapping: set of keys that came from merges (may be replaced) */
    char *anchor;     /* anchor to register when the node ends */
    size_t nodes0;    /* node count when the node started */
} frame_t;

typedef struct builder {
    hc_yaml_docs_t *docs;
    const hc_yaml_limits_t *lim;
    hc_yaml_error_t *err;
    frame_t *stack;   /* lim->max_depth frames */
    unsigned depth;
    size_t nodes;
    json_t *root;     /* the current document's root once complete */
    json_t *anchors;  /* name -> [value, node count], per document */
    int line, col;    /* last known position, for events without one */
    const char *src;  /* the input, which scalars are decoded from */
    size_t src_len;
    size_t tok_end;   /* source offset after the last scalar or alias */
} builder_t;

void hc_yaml_limits_default(hc_yaml_limits_t *l)
{
    l->max_input = HC_YAML_MAX_INPUT;
    l->max_depth = HC_YAML_MAX_DEPTH;
    l->max_nodes = HC_YAML_MAX_NODES;
}

static void err_set(hc_yaml_error_t *err, const char *file, int line, int col, const char *fmt,
                    va_list ap)
{
    if (!err)
        return;
    snprintf(err->file, sizeof(err->file), "%s", file);
    err->line = line;
    err->column = col;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

static int yerr(builder_t *b, int rc, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int yerr(builder_t *b, int rc, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_set(b->err, b->docs->name, line, col, fmt, ap);
    va_end(ap);
    return rc;
}

static int count_nodes(builder_t *b, size_t n, int line, int col)
{
    if (n > b->lim->max_nodes || b->nodes > b->lim->max_nodes - n)
        return yerr(b, -EFBIG, line, col, "more than %zu nodes (after alias expansion)",
                    b->lim->max_nodes);
    b->nodes += n;
    return 0;
}

/* ---- scalars: YAML 1.2.2 §10.3.2 "Tag Resolution" of the core schema ---- */

/* Resolves a plain scalar, or one with the core tag named by want ("int", "float",
 * "bool", "null" or NULL for any). Returns a new reference or NULL with an error. */
static json_t *scalar_core(builder_t *b, const char *s, size_t n, const char *want, int line,
                           int col)
{
    long long iv;
    double dv;
    int r;
    if ((!want || !strcmp(want, "null")) && hc_yaml_null_text(s, n))
        return json_null();
    if ((!want || !strcmp(want, "bool")) && (r = hc_yaml_bool_text(s, n)) >= 0)
        return json_boolean(r);
    if (!want || !strcmp(want, "int") || !strcmp(want, "float")) {
        if ((r = hc_yaml_int_text(s, n, &iv)) > 0)
            return want && !strcmp(want, "float") ? json_real((double)iv) : json_integer(iv);
        if ((r = hc_yaml_float_text(s, n, &dv)) > 0 && (!want || !strcmp(want, "float")))
            return json_real(dv);
        if (r < 0) {
            /* the text stays out of messages: it may be part of a Secret */
            yerr(b, -EINVAL, line, col, "number cannot be represented in JSON (too large, "
                                        "infinite or NaN)");
            return NULL;
        }
    }
    if (!want)
        return json_stringn(s, n);
    yerr(b, -EINVAL, line, col, "value is not a valid !!%s", want);
    return NULL;
}

static size_t token_end(struct fy_token *t)
{
    const struct fy_mark *m = t ? fy_token_end_mark(t) : NULL;
    return m ? m->input_pos : 0;
}

/* The text of a quoted or block scalar event, decoded from the source into *buf (to be
 * freed by the caller). Returns 0 or -EINVAL. */
static int scalar_decode(builder_t *b, struct fy_event *ev, int style, char **buf, size_t *n)
{
    const struct fy_mark *sm = fy_token_start_mark(ev->scalar.value);
    const struct fy_mark *em = fy_token_end_mark(ev->scalar.value);
    if (!sm || !em || sm->input_pos > em->input_pos || em->input_pos > b->src_len)
        return -EINVAL;
    size_t len = em->input_pos - sm->input_pos;
    if (style == FYSS_SINGLE_QUOTED || style == FYSS_DOUBLE_QUOTED)
        return hc_yaml_scalar_flow(b->src + sm->input_pos, len, style == FYSS_DOUBLE_QUOTED, buf,
                                   n);
    size_t from = b->tok_end;
    if (token_end(ev->scalar.anchor) > from)
        from = token_end(ev->scalar.anchor);
    if (token_end(ev->scalar.tag) > from)
        from = token_end(ev->scalar.tag);
    /* the parent's indentation: the column of its entries, 0 at the top level */
    int col = b->depth ? b->stack[b->depth - 1].col : 1;
    size_t parent = col > 1 ? (size_t)col - 1 : 0;
    return hc_yaml_scalar_block(b->src, from, sm->input_pos, len, parent, buf, n);
}

/* A scalar event's value: quoted and !!str scalars are strings; "!" (non-specific)
 * too (YAML 1.2.2 §6.9.1); core tags check the text; other tags are ignored. */
static json_t *scalar_value(builder_t *b, struct fy_event *ev, int line, int col)
{
    size_t n = 0;
    char *buf = NULL;
    int style = fy_token_scalar_style(ev->scalar.value);
    const char *s = style == FYSS_PLAIN ? fy_token_get_text(ev->scalar.value, &n) : NULL;
    if (style != FYSS_PLAIN && scalar_decode(b, ev, style, &buf, &n)) {
        hc_free(buf);
        yerr(b, -EINVAL, line, col, "cannot decode the scalar");
        return NULL;
    }
    if (buf)
        s = buf;
    if (!s)
        s = "";
    const char *tag = ev->scalar.tag ? fy_token_get_text0(ev->scalar.tag) : NULL;
    const char *want = NULL;
    int plain = style == FYSS_PLAIN;
    if (tag && !strncmp(tag, TAG_CORE, strlen(TAG_CORE))) {
        want = tag + strlen(TAG_CORE);
        if (!strcmp(want, "int") || !strcmp(want, "float") || !strcmp(want, "bool") ||
            !strcmp(want, "null"))
            plain = 1;
        else
            plain = 0;
    } else if (tag && !strcmp(tag, "!")) {
        plain = 0;
    }
    json_t *v = plain ? scalar_core(b, s, n, want, line, col) : json_stringn(s, n);
    hc_free(buf);
    b->tok_end = token_end(ev->scalar.value);
    if (!v && !b->err->message[0]) /* jansson refuses strings that are not UTF-8 */
        yerr(b, -EINVAL, line, col, "scalar is not valid UTF-8");
    return v;
}

/* ---- positions ---- */

static void pos_put(hc_yaml_docs_t *d, const json_t *node, const char *key, size_t index,
                    int line, int col)
{
    hc_yaml_pos_put(&d->pos, node, key, index, line, col);
}

static const pos_t *pos_get(const hc_yaml_docs_t *d, const json_t *node, const char *key,
                            size_t index)
{
    return d ? hc_yaml_pos_get(&d->pos, node, key, index) : NULL;
}

static int pos_line(const pos_t *p, int *col)
{
    if (col)
        *col = p ? p->col : 0;
    return p ? p->line : 0;
}

int hc_yaml_line_of(const hc_yaml_docs_t *docs, const json_t *node, int *col)
{
    return pos_line(pos_get(docs, node, NULL, NO_INDEX), col);
}

int hc_yaml_line_of_key(const hc_yaml_docs_t *docs, const json_t *obj, const char *key, int *col)
{
    return pos_line(key ? pos_get(docs, obj, key, NO_INDEX) : NULL, col);
}

int hc_yaml_line_of_index(const hc_yaml_docs_t *docs, const json_t *arr, size_t i, int *col)
{
    return pos_line(i == NO_INDEX ? NULL : pos_get(docs, arr, NULL, i), col);
}

/* Copies position p (if any) to a new place. */
static void pos_copy(hc_yaml_docs_t *d, const pos_t *p, const json_t *node, const char *key,
                     size_t index)
{
    if (p)
        pos_put(d, node, key, index, p->line, p->col);
}

/* ---- documents ---- */

size_t hc_yaml_count(const hc_yaml_docs_t *docs)
{
    return docs ? docs->n : 0;
}

json_t *hc_yaml_get(const hc_yaml_docs_t *docs, size_t i)
{
    return docs && i < docs->n ? docs->roots[i] : NULL;
}

const char *hc_yaml_name(const hc_yaml_docs_t *docs)
{
    return docs->name;
}

void hc_yaml_free(hc_yaml_docs_t *docs)
{
    if (!docs)
        return;
    for (size_t i = 0; i < docs->n; i++)
        json_decref(docs->roots[i]);
    json_decref(docs->keep);
    hc_yaml_pos_free(&docs->pos);
    hc_free(docs->roots);
    hc_free(docs->name);
    hc_free(docs);
}

/* ---- aliases: deep copies that carry their positions along ---- */

static json_t *copy_tree(builder_t *b, json_t *src, unsigned depth, int line, int col)
{
    hc_yaml_docs_t *d = b->docs;
    json_t *dst;
    if (!json_is_object(src) && !json_is_array(src))
        dst = json_copy(src);
    else if (depth >= b->lim->max_depth) {
        yerr(b, -EFBIG, line, col, "nesting deeper than %u (after alias expansion)",
             b->lim->max_depth);
        return NULL;
    } else if (json_is_object(src)) {
        dst = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(src, k, v) {
            json_t *c = copy_tree(b, v, depth + 1, line, col);
            if (!c)
                goto fail;
            json_object_set_new(dst, k, c);
            pos_copy(d, pos_get(d, src, k, NO_INDEX), dst, k, NO_INDEX);
        }
    } else {
        dst = json_array();
        for (size_t i = 0; i < json_array_size(src); i++) {
            json_t *c = copy_tree(b, json_array_get(src, i), depth + 1, line, col);
            if (!c)
                goto fail;
            json_array_append_new(dst, c);
            pos_copy(d, pos_get(d, src, NULL, i), dst, NULL, i);
        }
    }
    if (!dst)
        hc_oom(sizeof(json_t));
    pos_copy(d, pos_get(d, src, NULL, NO_INDEX), dst, NULL, NO_INDEX);
    return dst;
fail:
    json_array_append_new(d->keep, dst); /* positions were recorded for its children */
    return NULL;
}

/* The value of alias name in *out (a new reference), counted against the limits. */
static int alias_value(builder_t *b, const char *name, int line, int col, json_t **out)
{
    json_t *a = name ? json_object_get(b->anchors, name) : NULL;
    if (!a)
        return yerr(b, -EINVAL, line, col, "unknown anchor \"%.64s\"", name ? name : "");
    int rc = count_nodes(b, (size_t)json_integer_value(json_array_get(a, 1)), line, col);
    if (rc)
        return rc;
    *out = copy_tree(b, json_array_get(a, 0), b->depth, line, col);
    return *out ? 0 : -EFBIG;
}

static void anchor_put(builder_t *b, const char *name, json_t *v, size_t nodes)
{
    json_object_set_new(b->anchors, name, json_pack("[O,I]", v, (json_int_t)nodes));
}

/* ---- the builder ---- */

static char *anchor_of(struct fy_token *t)
{
    const char *s = t ? fy_token_get_text0(t) : NULL;
    return s ? hc_strdup(s) : NULL;
}

static int push(builder_t *b, int is_map, struct fy_token *anchor, int line, int col)
{
    if (b->depth >= b->lim->max_depth)
        return yerr(b, -EFBIG, line, col, "nesting deeper than %u", b->lim->max_depth);
    int rc = count_nodes(b, 1, line, col);
    if (rc)
        return rc;
    frame_t *f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = is_map ? json_object() : json_array();
    f->is_map = is_map;
    f->merged = is_map ? json_object() : NULL;
    f->line = line;
    f->col = col;
    f->anchor = anchor_of(anchor);
    f->nodes0 = b->nodes - 1;
    pos_put(b->docs, f->node, NULL, NO_INDEX, line, col);
    return 0;
}

static void frame_clear(frame_t *f)
{
    hc_free(f->key);
    hc_free(f->anchor);
    json_decref(f->merged);
    f->key = f->anchor = NULL;
    f->merged = NULL;
}

/* Merges mapping src into f: keys already present win (explicit keys, and earlier
 * mappings of a merge sequence), as the merge key type says
 * (https://yaml.org/type/merge.html). */
static void merge_one(builder_t *b, frame_t *f, json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
        if (json_object_get(f->node, k))
            continue;
        json_object_set(f->node, k, v);
        json_object_set_new(f->merged, k, json_true());
        pos_copy(b->docs, pos_get(b->docs, src, k, NO_INDEX), f->node, k, NO_INDEX);
    }
}

static int merge_value(builder_t *b, frame_t *f, json_t *v, int line, int col)
{
    json_array_append_new(b->docs->keep, v);
    if (json_is_object(v)) {
        merge_one(b, f, v);
        return 0;
    }
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
        if (!json_is_object(json_array_get(v, i)))
            goto bad;
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
        merge_one(b, f, json_array_get(v, i));
    if (json_is_array(v))
        return 0;
bad:
    return yerr(b, -EINVAL, line, col,
                "merge key \"<<\" needs a mapping or a sequence of mappings");
}

static int map_set(builder_t *b, frame_t *f, json_t *v)
{
    json_t *old = json_object_get(f->node, f->key);
    if (old && !json_object_get(f->merged, f->key)) {
        int first = hc_yaml_line_of_key(b->docs, f->node, f->key, NULL);
        json_decref(v);
        return yerr(b, -EINVAL, f->key_line, f->key_col,
                    "duplicate key \"%.64s\" (first at line %d)", f->key, first);
    }
    if (old) { /* an explicit key replaces a merged one */
        json_array_append(b->docs->keep, old);
        json_object_del(f->merged, f->key);
    }
    json_object_set_new(f->node, f->key, v);
    pos_put(b->docs, f->node, f->key, NO_INDEX, f->key_line, f->key_col);
    return 0;
}

/* Places a complete value (reference consumed) in the open container or as the root. */
static int add_value(builder_t *b, json_t *v, int line, int col)
{
    int rc = 0;
    if (!b->depth) {
        b->root = v;
        return 0;
    }
    frame_t *f = &b->stack[b->depth - 1];
    if (!f->is_map) {
        pos_put(b->docs, f->node, NULL, json_array_size(f->node), line, col);
        json_array_append_new(f->node, v);
        return 0;
    }
    rc = f->merge ? merge_value(b, f, v, line, col) : map_set(b, f, v);
    hc_free(f->key);
    f->key = NULL;
    f->merge = 0;
    return rc;
}

/* A key in a mapping: must be a string (Kubernetes objects are JSON). */
static int set_key(builder_t *b, frame_t *f, json_t *k, int merge, int line, int col)
{
    if (!json_is_string(k)) {
        json_decref(k);
        return yerr(b, -EINVAL, line, col, "mapping key is not a string");
    }
    const char *s = json_string_value(k);
    if (strlen(s) != json_string_length(k)) {
        json_decref(k);
        return yerr(b, -EINVAL, line, col, "mapping key contains a NUL character");
    }
    f->key = hc_strdup(s);
    f->key_line = line;
    f->key_col = col;
    f->merge = merge;
    json_decref(k);
    return 0;
}

static int want_key(builder_t *b)
{
    return b->depth && b->stack[b->depth - 1].is_map && !b->stack[b->depth - 1].key;
}

static int on_scalar(builder_t *b, struct fy_event *ev, int line, int col)
{
    int rc = count_nodes(b, 1, line, col);
    if (rc)
        return rc;
    json_t *v = scalar_value(b, ev, line, col);
    if (!v)
        return -EINVAL;
    if (ev->scalar.anchor) {
        const char *name = fy_token_get_text0(ev->scalar.anchor);
        if (name)
            anchor_put(b, name, v, 1);
    }
    if (want_key(b)) {
        size_t n;
        const char *t;
        int merge = !ev->scalar.tag && fy_token_scalar_style(ev->scalar.value) == FYSS_PLAIN &&
                    (t = fy_token_get_text(ev->scalar.value, &n)) && n == 2 &&
                    !memcmp(t, "<<", 2);
        return set_key(b, &b->stack[b->depth - 1], v, merge, line, col);
    }
    pos_put(b->docs, v, NULL, NO_INDEX, line, col);
    return add_value(b, v, line, col);
}

static int on_alias(builder_t *b, struct fy_event *ev, int line, int col)
{
    json_t *v = NULL;
    int rc = alias_value(b, fy_token_get_text0(ev->alias.anchor), line, col, &v);
    b->tok_end = token_end(ev->alias.anchor);
    if (rc)
        return rc;
    if (want_key(b))
        return set_key(b, &b->stack[b->depth - 1], v, 0, line, col);
    pos_put(b->docs, v, NULL, NO_INDEX, line, col);
    return add_value(b, v, line, col);
}

static int on_end(builder_t *b)
{
    frame_t *f = &b->stack[--b->depth];
    json_t *v = f->node;
    int line = f->line, col = f->col;
    if (f->anchor)
        anchor_put(b, f->anchor, v, b->nodes - f->nodes0);
    frame_clear(f);
    return add_value(b, v, line, col);
}

static int on_start(builder_t *b, struct fy_event *ev, int line, int col)
{
    if (want_key(b))
        return yerr(b, -EINVAL, line, col, "mapping key is not a string");
    if (ev->type == FYET_MAPPING_START)
        return push(b, 1, ev->mapping_start.anchor, line, col);
    return push(b, 0, ev->sequence_start.anchor, line, col);
}

static void doc_end(builder_t *b)
{
    hc_yaml_docs_t *d = b->docs;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 4;
        d->roots = hc_realloc(d->roots, d->cap * sizeof(*d->roots));
    }
    d->roots[d->n++] = b->root ? b->root : json_null();
    b->root = NULL;
    json_object_clear(b->anchors);
}

static int on_event(builder_t *b, struct fy_event *ev)
{
    const struct fy_mark *m = fy_event_start_mark(ev);
    if (ev->type == FYET_SCALAR && ev->scalar.tag) /* a tagged node starts at its tag */
        m = fy_token_start_mark(ev->scalar.tag);
    if (m && m->line >= 0) {
        b->line = m->line + 1;
        b->col = m->column + 1;
    }
    switch (ev->type) {
    case FYET_DOCUMENT_END:
        doc_end(b);
        return 0;
    case FYET_SCALAR:
        return on_scalar(b, ev, b->line, b->col);
    case FYET_ALIAS:
        return on_alias(b, ev, b->line, b->col);
    case FYET_MAPPING_START:
    case FYET_SEQUENCE_START:
        return on_start(b, ev, b->line, b->col);
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END:
        return on_end(b);
    default:
        return 0;
    }
}

/* The first error libfyaml collected, as ours. */
static int parser_error(builder_t *b, struct fy_diag *diag)
{
    void *it = NULL;
    struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
    if (!e)
        return yerr(b, -EINVAL, b->line, b->col, "invalid YAML");
    return yerr(b, -EINVAL, e->line, e->column, "%s", e->msg ? e->msg : "invalid YAML");
}

static int run_parser(builder_t *b, const char *data, size_t len)
{
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag)
        return yerr(b, -ENOMEM, 0, 0, "cannot create a YAML parser");
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg cfg = {
        .flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE,
        .diag = diag,
    };
    int rc = 0;
    struct fy_parser *p = fy_parser_create(&cfg);
    if (!p) {
        rc = yerr(b, -ENOMEM, 0, 0, "cannot create a YAML parser");
        goto out_diag;
    }
    if (fy_parser_set_string(p, len ? data : "", len)) {
        rc = yerr(b, -EINVAL, 0, 0, "cannot read the input");
        goto out_parser;
    }
    struct fy_event *ev;
    while (!rc && (ev = fy_parser_parse(p))) {
        rc = on_event(b, ev);
        fy_parser_event_free(p, ev);
    }
    if (!rc && fy_parser_get_stream_error(p))
        rc = parser_error(b, diag);
out_parser:
    fy_parser_destroy(p);
out_diag:
    fy_diag_destroy(diag);
    return rc;
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629 §4: no overlong forms,
 * no surrogates, nothing past U+10FFFF), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
                 : s[0] >= 0xf0 && s[0] <= 0xf4                             ? 4
                                                                           : 0;
    if (!len || len > n)
        return 0;
    unsigned char lo = s[0] == 0xe0 ? 0xa0 : s[0] == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = s[0] == 0xed ? 0x9f : s[0] == 0xf4 ? 0x8f : 0xbf;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* A YAML stream is Unicode text (YAML 1.2.2 §5.2; hearth reads UTF-8 only, as Kubernetes
 * does). Checked before libfyaml sees the input: its directive scanner loops forever on
 * "%" followed by an invalid byte. Returns 0 or -EINVAL with the byte's position. */
static int utf8_check(builder_t *b, const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    int line = 1, col = 1;
    for (size_t i = 0; i < len; col++) {
        size_t k = utf8_seq(s + i, len - i);
        if (!k)
            return yerr(b, -EINVAL, line, col, "input is not valid UTF-8");
        if (s[i] == '\n') {
            line++;
            col = 0;
        }
        i += k;
    }
    return 0;
}

static void builder_unwind(builder_t *b)
{
    while (b->depth) {
        frame_t *f = &b->stack[--b->depth];
        json_array_append_new(b->docs->keep, f->node);
        frame_clear(f);
    }
    json_decref(b->root);
    json_decref(b->anchors);
    hc_free(b->stack);
}

/* The start of both parse calls: a NULL lim or err stands for the defaults in *deflim or
 * the scratch *localerr; the error is cleared and *out set to NULL. */
static void parse_begin(const hc_yaml_limits_t **lim, hc_yaml_limits_t *deflim,
                        hc_yaml_error_t **err, hc_yaml_error_t *localerr, hc_yaml_docs_t **out)
{
    if (!*lim) {
        hc_yaml_limits_default(deflim);
        *lim = deflim;
    }
    if (!*err)
        *err = localerr;
    memset(*err, 0, sizeof(**err));
    *out = NULL;
}

int hc_yaml_parse(const char *name, const char *data, size_t len, const hc_yaml_limits_t *lim,
                  hc_yaml_docs_t **out, hc_yaml_error_t *err)
{
    hc_yaml_limits_t deflim;
    hc_yaml_error_t localerr;
    parse_begin(&lim, &deflim, &err, &localerr, out);
    hc_yaml_docs_t *d = hc_calloc(1, sizeof(*d));
    d->name = hc_strdup(name ? name : "(input)");
    d->keep = json_array();
    builder_t b = {.docs = d, .lim = lim, .err = err, .anchors = json_object(), .line = 1,
                   .col = 1, .src = data, .src_len = len};
    b.stack = hc_calloc(lim->max_depth ? lim->max_depth : 1, sizeof(*b.stack));
    int rc;
    if (len > lim->max_input)
        rc = yerr(&b, -EFBIG, 0, 0, "input larger than %zu bytes", lim->max_input);
    else if (!(rc = utf8_check(&b, data, len)))
        rc = run_parser(&b, data, len);
    builder_unwind(&b);
    if (rc) {
        hc_yaml_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int hc_yaml_read_file(const char *path, size_t max, char **data, size_t *len)
{
    struct stat st;
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fstat(fd, &st) ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : 0;
    size_t n = 0, cap = rc ? 0 : (size_t)st.st_size + 1; /* + 1 sees growth and EOF */
    char *buf = NULL;
    if (!rc && cap - 1 > max)
        rc = -EFBIG;
    if (!rc)
        buf = hc_malloc(cap + 1);
    while (!rc) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : 0;
            break;
        }
        n += (size_t)r;
        if (n > max)
            rc = -EFBIG;
        else if (n == cap)
            buf = hc_realloc(buf, (cap *= 2) + 1);
    }
    close(fd);
    if (rc) {
        hc_free(buf);
        return rc;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int hc_yaml_parse_file(const char *path, const hc_yaml_limits_t *lim, hc_yaml_docs_t **out,
                       hc_yaml_error_t *err)
{
    hc_yaml_limits_t deflim;
    hc_yaml_error_t localerr;
    parse_begin(&lim, &deflim, &err, &localerr, out);
    char *data;
    size_t n;
    int rc = hc_yaml_read_file(path, lim->max_input, &data, &n);
    if (rc) {
        snprintf(err->file, sizeof(err->file), "%s", path);
        snprintf(err->message, sizeof(err->message), "%s",
                 rc == -EFBIG ? "file too large" : strerror(-rc));
        return rc;
    }
    rc = hc_yaml_parse(path, data, n, lim, out, err);
    hc_free(data);
    return rc;
}
