/* Inside hc_manifest: object lists of one file, snapshot assembly (hc_manifest.c) and
 * the scanner with its per-file cache (hc_manifest_scan.c), shared with the watch
 * (hc_manifest_watch.c). Not for use outside these three files. */
#ifndef HC_MANIFEST_INT_H
#define HC_MANIFEST_INT_H

#include "core/hc_manifest.h"
#include "core/hc_yaml.h"

typedef struct hc_manifest_ferr {
    int line;
    char *message; /* owned */
} hc_manifest_ferr_t;

/* Objects (each holding a reference to its doc; file unset) and errors of one file. */
typedef struct hc_manifest_list {
    hc_manifest_obj_t *objs;
    size_t nobjs;
    hc_manifest_ferr_t *errs;
    size_t nerrs;
} hc_manifest_list_t;

/** Appends an error with a printf-formatted message to l. */
void hc_manifest_list_err(hc_manifest_list_t *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Drops every object reference and message; l is empty afterwards. */
void hc_manifest_list_free(hc_manifest_list_t *l);
/** Appends the objects of every document of d to l (kind: List expanded), and an error
 *  for each document that is no valid object. */
void hc_manifest_extract(hc_manifest_list_t *l, const hc_yaml_docs_t *d);

/** A new empty snapshot with one reference, to be filled then finished. */
hc_manifest_set_t *hc_manifest_set_new(void);
/** Adds l's objects (new references) and errors, as coming from file. */
void hc_manifest_set_add(hc_manifest_set_t *s, const char *file, const hc_manifest_list_t *l);
/** Adds one error (strings copied). */
void hc_manifest_set_add_error(hc_manifest_set_t *s, const char *file, int line, const char *msg);
/** Sorts the objects and drops duplicates (the first read wins; the others are errors).
 *  Called once, before the snapshot is shared. */
void hc_manifest_set_finish(hc_manifest_set_t *s);

typedef struct hc_manifest_scan hc_manifest_scan_t;

/** A scanner over paths (copied), with nothing read yet. */
hc_manifest_scan_t *hc_manifest_scan_new(const char *const *paths, size_t n);
/** Walks the paths. A file whose size, mtime, ctime or inode changed is read again, and
 *  with force every file is (for file events: same-size rewrites within one clock tick);
 *  a file whose contents hash as before counts as unchanged. Returns 1 when any file
 *  appeared, vanished or changed, else 0. */
int hc_manifest_scan_run(hc_manifest_scan_t *sc, int force);
/** A new snapshot (one reference for the caller) of the files as last scanned. */
hc_manifest_set_t *hc_manifest_scan_snapshot(const hc_manifest_scan_t *sc);
/** The directories to watch: each directory path, and a file path's parent. Returns the
 *  count and points *dirs at strings owned by sc. */
size_t hc_manifest_scan_dirs(const hc_manifest_scan_t *sc, char *const **dirs);
/** Frees the scanner and its cache; NULL is fine. */
void hc_manifest_scan_free(hc_manifest_scan_t *sc);

#endif
