/* The manifest scanner (see hc_manifest_int.h): walks directories and files, keeps per
 * file the objects of its last good version, and tells whether anything changed. Used
 * by hc_manifest_load() and by the watch. */
#include "core/hc_alloc.h"
#include "core/hc_manifest_int.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 10000
#define MAX_DIR_DEPTH 8
#define MAX_FILE_SIZE (8u << 20)

typedef struct fentry {
    char *path;
    struct stat st;     /* as of the last read */
    uint64_t hash;      /* of the contents last read, or of the read error */
    int have;           /* read at least once */
    hc_manifest_list_t good; /* objects and per-object errors of the last good parse */
    char *broken;       /* when the current contents do not parse: the error */
    int broken_line;
} fentry_t;

typedef struct scan_err {
    char *file;
    char *message;
} scan_err_t;

struct hc_manifest_scan {
    char **roots;
    size_t nroots;
    char **dirs; /* to watch */
    size_t ndirs;
    fentry_t **files; /* in scan order */
    size_t nfiles;
    scan_err_t *scan_errs; /* paths that could not be read */
    size_t nscan_errs;
    /* during a scan */
    fentry_t **next;
    size_t nnext;
    json_t *index; /* path -> position in files */
    int force, changed;
};

hc_manifest_scan_t *hc_manifest_scan_new(const char *const *paths, size_t n)
{
    hc_manifest_scan_t *sc = hc_calloc(1, sizeof(*sc));
    sc->roots = hc_calloc(n + 1, sizeof(*sc->roots));
    sc->dirs = hc_calloc(n + 1, sizeof(*sc->dirs));
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        sc->roots[sc->nroots++] = hc_strdup(paths[i]);
        if (!stat(paths[i], &st) && S_ISDIR(st.st_mode)) {
            sc->dirs[sc->ndirs++] = hc_strdup(paths[i]);
        } else {
            char *copy = hc_strdup(paths[i]);
            sc->dirs[sc->ndirs++] = hc_strdup(dirname(copy));
            hc_free(copy);
        }
    }
    return sc;
}

static void fentry_free(fentry_t *e)
{
    if (!e)
        return;
    hc_manifest_list_free(&e->good);
    hc_free(e->broken);
    hc_free(e->path);
    hc_free(e);
}

static void scan_errs_free(hc_manifest_scan_t *sc)
{
    for (size_t i = 0; i < sc->nscan_errs; i++) {
        hc_free(sc->scan_errs[i].file);
        hc_free(sc->scan_errs[i].message);
    }
    hc_free(sc->scan_errs);
    sc->scan_errs = NULL;
    sc->nscan_errs = 0;
}

void hc_manifest_scan_free(hc_manifest_scan_t *sc)
{
    if (!sc)
        return;
    for (size_t i = 0; i < sc->nfiles; i++)
        fentry_free(sc->files[i]);
    for (size_t i = 0; i < sc->nroots; i++)
        hc_free(sc->roots[i]);
    for (size_t i = 0; i < sc->ndirs; i++)
        hc_free(sc->dirs[i]);
    scan_errs_free(sc);
    hc_free(sc->files);
    hc_free(sc->roots);
    hc_free(sc->dirs);
    hc_free(sc);
}

size_t hc_manifest_scan_dirs(const hc_manifest_scan_t *sc, char *const **dirs)
{
    *dirs = sc->dirs;
    return sc->ndirs;
}

static void scan_err(hc_manifest_scan_t *sc, const char *path, const char *msg)
{
    sc->scan_errs = hc_realloc(sc->scan_errs, (sc->nscan_errs + 1) * sizeof(*sc->scan_errs));
    sc->scan_errs[sc->nscan_errs].file = hc_strdup(path);
    sc->scan_errs[sc->nscan_errs++].message = hc_strdup(msg);
}

static uint64_t fnv1a(const char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

static int same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Parses new contents into e: a good parse replaces the objects, a failed one keeps
 * them and records why. */
static void fentry_parse(fentry_t *e, const char *data, size_t len)
{
    hc_yaml_docs_t *d;
    hc_yaml_error_t err;
    hc_free(e->broken);
    e->broken = NULL;
    if (hc_yaml_parse(e->path, data, len, NULL, &d, &err)) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s%s", err.message,
                 e->good.nobjs ? " (keeping the objects of its last good version)" : "");
        e->broken = hc_strdup(msg);
        e->broken_line = err.line;
        return;
    }
    hc_manifest_list_free(&e->good);
    hc_manifest_extract(&e->good, d);
    hc_yaml_free(d);
}

/* Reads e again unless its stat (or, after reading, its hash) shows no change. */
static void fentry_refresh(hc_manifest_scan_t *sc, fentry_t *e, const struct stat *st)
{
    if (e->have && !sc->force && same_stat(&e->st, st))
        return;
    char *data;
    size_t len;
    int rc = hc_yaml_read_file(e->path, MAX_FILE_SIZE, &data, &len);
    uint64_t h = rc ? (uint64_t)(-rc) : fnv1a(data, len, 0xcbf29ce484222325ull);
    e->st = *st;
    if (e->have && h == e->hash) {
        hc_free(data);
        return;
    }
    e->have = 1;
    e->hash = h;
    sc->changed = 1;
    if (rc) {
        hc_free(e->broken);
        e->broken = hc_strdup(rc == -EFBIG ? "file too large" : strerror(-rc));
        e->broken_line = 0;
        return;
    }
    fentry_parse(e, data, len);
    hc_free(data);
}

static void visit_file(hc_manifest_scan_t *sc, const char *path, const struct stat *st)
{
    if (sc->nnext >= MAX_FILES) {
        if (sc->nnext == MAX_FILES)
            scan_err(sc, path, "too many files; the rest are ignored");
        sc->nnext++;
        return;
    }
    json_t *at = json_object_get(sc->index, path);
    fentry_t *e = NULL;
    if (at && json_integer_value(at) < 0)
        return; /* a path reached twice in one scan is read once */
    if (at) {
        e = sc->files[json_integer_value(at)];
        sc->files[json_integer_value(at)] = NULL;
    }
    json_object_set_new_nocheck(sc->index, path, json_integer(-1));
    if (!e) {
        e = hc_calloc(1, sizeof(*e));
        e->path = hc_strdup(path);
    }
    fentry_refresh(sc, e, st);
    sc->next = hc_realloc(sc->next, (sc->nnext + 1) * sizeof(*sc->next));
    sc->next[sc->nnext++] = e;
}

static int has_manifest_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml") || !strcmp(dot, ".json"));
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_path(hc_manifest_scan_t *sc, const char *path, int depth);

/* The files of the last scan under dir stay as they were (a directory that could not be
 * opened for want of a descriptor has not lost them). */
static void keep_under(hc_manifest_scan_t *sc, const char *dir)
{
    size_t dl = strlen(dir);
    for (size_t i = 0; i < sc->nfiles; i++) {
        fentry_t *e = sc->files[i];
        if (!e || strncmp(e->path, dir, dl) || e->path[dl] != '/' || sc->nnext >= MAX_FILES)
            continue;
        sc->files[i] = NULL;
        json_object_set_new_nocheck(sc->index, e->path, json_integer(-1));
        sc->next = hc_realloc(sc->next, (sc->nnext + 1) * sizeof(*sc->next));
        sc->next[sc->nnext++] = e;
    }
}

/* A directory's visible entries in name order: subdirectories and manifest files. */
static void scan_dir(hc_manifest_scan_t *sc, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        int transient = errno == EMFILE || errno == ENFILE || errno == ENOMEM;
        scan_err(sc, dir, strerror(errno));
        if (transient)
            keep_under(sc, dir);
        return;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < MAX_FILES) {
        if (de->d_name[0] == '.')
            continue; /* hidden, ".", "..", and ConfigMaps' "..data" */
        names = hc_realloc(names, (n + 1) * sizeof(*names));
        names[n++] = hc_strdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < sizeof(path) &&
            !stat(path, &st) && (S_ISDIR(st.st_mode) || has_manifest_ext(names[i])))
            scan_path(sc, path, depth + 1);
        hc_free(names[i]);
    }
    hc_free(names);
}

static void scan_path(hc_manifest_scan_t *sc, const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st)) {
        scan_err(sc, path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        if (depth > MAX_DIR_DEPTH)
            scan_err(sc, path, "directory nested too deep; skipped");
        else
            scan_dir(sc, path, depth);
    } else if (S_ISREG(st.st_mode)) {
        visit_file(sc, path, &st);
    } else if (!depth) {
        scan_err(sc, path, "not a regular file or directory");
    }
}

int hc_manifest_scan_run(hc_manifest_scan_t *sc, int force)
{
    size_t old_errs = sc->nscan_errs;
    sc->force = force;
    sc->changed = 0;
    sc->next = NULL;
    sc->nnext = 0;
    sc->index = json_object();
    /* _nocheck: paths are bytes, and jansson refuses keys that are not UTF-8 */
    for (size_t i = 0; i < sc->nfiles; i++)
        json_object_set_new_nocheck(sc->index, sc->files[i]->path, json_integer((json_int_t)i));
    scan_errs_free(sc);
    for (size_t i = 0; i < sc->nroots; i++)
        scan_path(sc, sc->roots[i], 0);
    for (size_t i = 0; i < sc->nfiles; i++) {
        if (sc->files[i]) /* gone */
            sc->changed = 1;
        fentry_free(sc->files[i]);
    }
    hc_free(sc->files);
    json_decref(sc->index);
    sc->index = NULL;
    sc->files = sc->next;
    sc->nfiles = sc->nnext < MAX_FILES ? sc->nnext : MAX_FILES;
    sc->next = NULL;
    if (sc->nscan_errs != old_errs)
        sc->changed = 1;
    return sc->changed;
}

hc_manifest_set_t *hc_manifest_scan_snapshot(const hc_manifest_scan_t *sc)
{
    hc_manifest_set_t *s = hc_manifest_set_new();
    for (size_t i = 0; i < sc->nscan_errs; i++)
        hc_manifest_set_add_error(s, sc->scan_errs[i].file, 0, sc->scan_errs[i].message);
    for (size_t i = 0; i < sc->nfiles; i++) {
        const fentry_t *e = sc->files[i];
        hc_manifest_set_add(s, e->path, &e->good);
        if (e->broken)
            hc_manifest_set_add_error(s, e->path, e->broken_line, e->broken);
    }
    hc_manifest_set_finish(s);
    return s;
}

int hc_manifest_load(const char *const *paths, size_t n, hc_manifest_set_t **out)
{
    hc_manifest_scan_t *sc = hc_manifest_scan_new(paths, n);
    hc_manifest_scan_run(sc, 1);
    *out = hc_manifest_scan_snapshot(sc);
    hc_manifest_scan_free(sc);
    return 0;
}
