/* Kubernetes manifests (see hc_manifest.h): objects out of YAML documents, and the
 * immutable snapshots that hold them. The directory scanner and its per-file cache are
 * in hc_manifest_scan.c, the uv watch in hc_manifest_watch.c. */
#include "core/hc_manifest.h"
#include "core/hc_alloc.h"
#include "core/hc_err.h"
#include "core/hc_manifest_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hc_manifest_set {
    int refs;
    hc_manifest_obj_t *objs;
    size_t n;
    hc_manifest_error_t *errs;
    size_t nerrs;
    char **strs; /* file names and messages the objects and errors point at */
    size_t nstrs;
};

/* ---- objects out of documents ---- */

void hc_manifest_list_err(hc_manifest_list_t *l, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    hc_verrf(msg, sizeof(msg), 0, fmt, ap);
    va_end(ap);
    l->errs = hc_realloc(l->errs, (l->nerrs + 1) * sizeof(*l->errs));
    l->errs[l->nerrs].line = line;
    l->errs[l->nerrs++].message = hc_strdup(msg);
}

void hc_manifest_list_free(hc_manifest_list_t *l)
{
    for (size_t i = 0; i < l->nobjs; i++)
        json_decref((json_t *)l->objs[i].doc);
    for (size_t i = 0; i < l->nerrs; i++)
        hc_free(l->errs[i].message);
    hc_free(l->objs);
    hc_free(l->errs);
    memset(l, 0, sizeof(*l));
}

static const char *str_member(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

/* One object; Kubernetes requires apiVersion, kind and metadata.name. */
static void extract_one(hc_manifest_list_t *l, json_t *o, int line)
{
    hc_manifest_obj_t obj = {.line = line, .doc = o};
    const json_t *md = json_object_get(o, "metadata");
    obj.api_version = str_member(o, "apiVersion");
    obj.kind = str_member(o, "kind");
    obj.name = str_member(md, "name");
    obj.ns = str_member(md, "namespace");
    obj.labels = hc_manifest_member(md, "labels");
    obj.annotations = hc_manifest_member(md, "annotations");
    const json_t *ns = hc_manifest_member(md, "namespace");
    const char *why = !json_is_object(o)          ? "not a mapping"
                      : !obj.api_version          ? "no apiVersion"
                      : !obj.kind                 ? "no kind"
                      : !json_is_object(md)       ? "no metadata"
                      : !obj.name                 ? "no metadata.name"
                      : ns && !json_is_string(ns) ? "metadata.namespace is not a string"
                      : obj.labels && !json_is_object(obj.labels)
                          ? "metadata.labels is not a mapping"
                      : obj.annotations && !json_is_object(obj.annotations)
                          ? "metadata.annotations is not a mapping"
                          : NULL;
    if (why) {
        hc_manifest_list_err(l, line, "object skipped: %s", why);
        return;
    }
    if (!obj.ns)
        obj.ns = "default";
    json_incref(o);
    l->objs = hc_realloc(l->objs, (l->nobjs + 1) * sizeof(*l->objs));
    l->objs[l->nobjs++] = obj;
}

static int is_list_kind(const char *kind)
{
    size_t n = kind ? strlen(kind) : 0;
    return n >= 4 && !strcmp(kind + n - 4, "List");
}

void hc_manifest_extract(hc_manifest_list_t *l, const hc_yaml_docs_t *d)
{
    for (size_t i = 0; i < hc_yaml_count(d); i++) {
        json_t *root = hc_yaml_get(d, i);
        int line = hc_yaml_line_of(d, root, NULL);
        if (json_is_null(root))
            continue; /* an empty document, as `---` at the end leaves */
        json_t *items = json_object_get(root, "items");
        if (!json_is_object(root) || !is_list_kind(str_member(root, "kind")) ||
            !json_is_array(items)) {
            extract_one(l, root, line);
            continue;
        }
        for (size_t j = 0; j < json_array_size(items); j++) /* kind: List, v1 or *List */
            extract_one(l, json_array_get(items, j), hc_yaml_line_of_index(d, items, j, NULL));
    }
}

/* ---- snapshots ---- */

static const char *own(hc_manifest_set_t *s, const char *str)
{
    s->strs = hc_realloc(s->strs, (s->nstrs + 1) * sizeof(*s->strs));
    return s->strs[s->nstrs++] = hc_strdup(str);
}

hc_manifest_set_t *hc_manifest_set_new(void)
{
    hc_manifest_set_t *s = hc_calloc(1, sizeof(*s));
    s->refs = 1;
    return s;
}

void hc_manifest_set_add_error(hc_manifest_set_t *s, const char *file, int line, const char *msg)
{
    s->errs = hc_realloc(s->errs, (s->nerrs + 1) * sizeof(*s->errs));
    hc_manifest_error_t *e = &s->errs[s->nerrs++];
    e->file = own(s, file);
    e->line = line;
    e->message = own(s, msg);
}

void hc_manifest_set_add(hc_manifest_set_t *s, const char *file, const hc_manifest_list_t *l)
{
    const char *f = own(s, file);
    s->objs = hc_realloc(s->objs, (s->n + l->nobjs + 1) * sizeof(*s->objs));
    for (size_t i = 0; i < l->nobjs; i++) {
        s->objs[s->n] = l->objs[i];
        s->objs[s->n++].file = f;
        json_incref((json_t *)l->objs[i].doc);
    }
    for (size_t i = 0; i < l->nerrs; i++)
        hc_manifest_set_add_error(s, file, l->errs[i].line, l->errs[i].message);
}

static int obj_cmp(const hc_manifest_obj_t *a, const hc_manifest_obj_t *b)
{
    int c = strcmp(a->kind, b->kind);
    if (!c)
        c = strcmp(a->ns, b->ns);
    return c ? c : strcmp(a->name, b->name);
}

static int idx_cmp(const void *x, const void *y, void *arg)
{
    const hc_manifest_obj_t *objs = arg;
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    int c = obj_cmp(&objs[a], &objs[b]);
    return c ? c : (a > b) - (a < b); /* stable: the first read wins */
}

void hc_manifest_set_finish(hc_manifest_set_t *s)
{
    size_t *idx = hc_malloc((s->n + 1) * sizeof(*idx));
    for (size_t i = 0; i < s->n; i++)
        idx[i] = i;
    qsort_r(idx, s->n, sizeof(*idx), idx_cmp, s->objs);
    hc_manifest_obj_t *sorted = hc_malloc((s->n + 1) * sizeof(*sorted));
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        const hc_manifest_obj_t *o = &s->objs[idx[i]];
        if (n && !obj_cmp(&sorted[n - 1], o)) {
            char msg[512];
            snprintf(msg, sizeof(msg), "object skipped: duplicate %s %s/%s, first at %s:%d",
                     o->kind, o->ns, o->name, sorted[n - 1].file, sorted[n - 1].line);
            hc_manifest_set_add_error(s, o->file, o->line, msg);
            json_decref((json_t *)o->doc);
            continue;
        }
        sorted[n++] = *o;
    }
    hc_free(idx);
    hc_free(s->objs);
    s->objs = sorted;
    s->n = n;
}

hc_manifest_set_t *hc_manifest_parse(const char *name, const char *data, size_t len)
{
    hc_manifest_set_t *s = hc_manifest_set_new();
    hc_yaml_docs_t *d;
    hc_yaml_error_t err;
    if (hc_yaml_parse(name, data, len, NULL, &d, &err)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s", err.message);
        hc_manifest_set_add_error(s, name, err.line, msg);
        return s;
    }
    hc_manifest_list_t l = {0};
    hc_manifest_extract(&l, d);
    hc_manifest_set_add(s, name, &l);
    hc_manifest_list_free(&l);
    hc_yaml_free(d);
    hc_manifest_set_finish(s);
    return s;
}

hc_manifest_set_t *hc_manifest_set_ref(hc_manifest_set_t *set)
{
    __atomic_add_fetch(&set->refs, 1, __ATOMIC_RELAXED);
    return set;
}

void hc_manifest_set_unref(hc_manifest_set_t *set)
{
    if (!set || __atomic_sub_fetch(&set->refs, 1, __ATOMIC_ACQ_REL))
        return;
    for (size_t i = 0; i < set->n; i++)
        json_decref((json_t *)set->objs[i].doc);
    for (size_t i = 0; i < set->nstrs; i++)
        hc_free(set->strs[i]);
    hc_free(set->strs);
    hc_free(set->objs);
    hc_free(set->errs);
    hc_free(set);
}

size_t hc_manifest_set_count(const hc_manifest_set_t *set)
{
    return set->n;
}

const hc_manifest_obj_t *hc_manifest_set_at(const hc_manifest_set_t *set, size_t i)
{
    return i < set->n ? &set->objs[i] : NULL;
}

/* Index of the first object not ordered before key (kind, ns, name; NULL ns/name sort
 * before every string). */
static size_t lower_bound(const hc_manifest_set_t *set, const char *kind, const char *ns,
                          const char *name)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const hc_manifest_obj_t *o = &set->objs[mid];
        int c = strcmp(o->kind, kind);
        if (!c)
            c = ns ? strcmp(o->ns, ns) : 1;
        if (!c)
            c = name ? strcmp(o->name, name) : 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const hc_manifest_obj_t *hc_manifest_set_find(const hc_manifest_set_t *set, const char *kind,
                                              const char *ns, const char *name)
{
    size_t i = lower_bound(set, kind, ns, name);
    if (i < set->n && !strcmp(set->objs[i].kind, kind) && !strcmp(set->objs[i].ns, ns) &&
        !strcmp(set->objs[i].name, name))
        return &set->objs[i];
    return NULL;
}

size_t hc_manifest_set_kind(const hc_manifest_set_t *set, const char *kind,
                            const hc_manifest_obj_t **first)
{
    size_t i = lower_bound(set, kind, NULL, NULL), j = i;
    while (j < set->n && !strcmp(set->objs[j].kind, kind))
        j++;
    *first = j > i ? &set->objs[i] : NULL;
    return j - i;
}

size_t hc_manifest_set_errors(const hc_manifest_set_t *set, const hc_manifest_error_t **errs)
{
    *errs = set->errs;
    return set->nerrs;
}
