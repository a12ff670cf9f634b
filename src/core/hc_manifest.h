/* Kubernetes manifests from directories and files (*.yaml, *.yml, *.json), as the proxy
 * and the certificate service read them: objects with their kind, namespace and name,
 * gathered into immutable, refcounted snapshots, optionally watched for changes.
 *
 * Start with hc_manifest_load() (one synchronous read) or hc_manifest_watch_start()
 * (read, then a new snapshot after every change on the loop). A snapshot never changes;
 * a reader keeps it with hc_manifest_set_ref() for as long as it needs it, on any
 * thread. Hidden entries (names starting with '.') are skipped, which also skips the
 * `..data` and `..<timestamp>` directories of mounted ConfigMaps and Secrets (their
 * visible symlinks are read). A file that stops parsing keeps the objects of its last
 * good version and is reported in the snapshot's errors. */
#ifndef HC_MANIFEST_H
#define HC_MANIFEST_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

/** One object. Every pointer is owned by the snapshot holding it and valid while the
 *  snapshot is referenced; nothing may be modified. */
typedef struct hc_manifest_obj {
    const char *api_version;   /* "networking.k8s.io/v1" */
    const char *kind;          /* "Ingress" */
    const char *name;          /* metadata.name */
    const char *ns;            /* metadata.namespace, or "default" */
    const json_t *labels;      /* metadata.labels (object), or NULL */
    const json_t *annotations; /* metadata.annotations (object), or NULL */
    const json_t *doc;         /* the whole object */
    const char *file;          /* the file it came from */
    int line;                  /* 1-based line where the object starts */
} hc_manifest_obj_t;

/** o's member key, or NULL when it is absent or null: a member a Helm template left empty
 *  (`annotations:` with nothing under it) is absent, as the API server decodes it. */
static inline const json_t *hc_manifest_member(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

/** A problem found while reading: the file, a line (0 when it concerns the whole file)
 *  and a message. The object it concerns was skipped, or for a file that no longer
 *  parses, its last good objects were kept. */
typedef struct hc_manifest_error {
    const char *file;
    int line;
    const char *message;
} hc_manifest_error_t;

typedef struct hc_manifest_set hc_manifest_set_t;

/** Reads every path (a directory, read recursively, or a file of any name) into a new
 *  snapshot in *out (the caller holds its one reference). Problems, including a path
 *  that does not exist, are in the snapshot's errors. Returns 0. */
int hc_manifest_load(const char *const *paths, size_t n, hc_manifest_set_t **out);

/** Builds a snapshot from one buffer named name (for tests and the fuzzer). */
hc_manifest_set_t *hc_manifest_parse(const char *name, const char *data, size_t len);

/** Takes one more reference (thread-safe); returns set. */
hc_manifest_set_t *hc_manifest_set_ref(hc_manifest_set_t *set);
/** Drops a reference; the last one frees the snapshot. NULL is fine. */
void hc_manifest_set_unref(hc_manifest_set_t *set);

/** Number of objects. Objects are ordered by kind, then namespace, then name. */
size_t hc_manifest_set_count(const hc_manifest_set_t *set);
/** Object i (< count), or NULL. */
const hc_manifest_obj_t *hc_manifest_set_at(const hc_manifest_set_t *set, size_t i);
/** The object of that kind, namespace and name, or NULL. */
const hc_manifest_obj_t *hc_manifest_set_find(const hc_manifest_set_t *set, const char *kind,
                                              const char *ns, const char *name);
/** All objects of kind: returns their count and points *first at the first of them
 *  (they are consecutive: first[0..count)), or returns 0. */
size_t hc_manifest_set_kind(const hc_manifest_set_t *set, const char *kind,
                            const hc_manifest_obj_t **first);
/** The problems found; returns their count and points *errs at them. */
size_t hc_manifest_set_errors(const hc_manifest_set_t *set, const hc_manifest_error_t **errs);

typedef struct hc_manifest_watch hc_manifest_watch_t;

/** Called on the loop with a new snapshot after files changed (not on start). set is
 *  borrowed: take a reference to keep it past the callback. */
typedef void (*hc_manifest_watch_cb)(hc_manifest_watch_t *w, hc_manifest_set_t *set, void *data);

typedef struct hc_manifest_watch_opts {
    unsigned debounce_ms; /* quiet time after a file event before re-reading; 0 = 200 */
    unsigned rescan_ms;   /* periodic re-check of sizes and mtimes; 0 = 5000 */
} hc_manifest_watch_opts_t;

/** Reads paths as hc_manifest_load does, then watches them on loop: uv_fs_event on each
 *  directory (the parent directory for a file path) restarts a debounce timer, and a
 *  periodic rescan catches what file events miss (editors' renames, subdirectories).
 *  After a burst of changes settles, cb fires once with the new snapshot. opts may be
 *  NULL. Returns 0 with *out, or a negative errno from libuv. */
int hc_manifest_watch_start(uv_loop_t *loop, const char *const *paths, size_t n,
                            const hc_manifest_watch_opts_t *opts, hc_manifest_watch_cb cb,
                            void *data, hc_manifest_watch_t **out);

/** The current snapshot (borrowed; take a reference to keep it). */
hc_manifest_set_t *hc_manifest_watch_current(hc_manifest_watch_t *w);

/** Reads every file again now (a reload asked for), as after a file event: a file that
 *  no longer parses keeps its last good objects. Returns the current snapshot (borrowed)
 *  without calling the watch's callback. */
hc_manifest_set_t *hc_manifest_watch_refresh(hc_manifest_watch_t *w);

/** Stops watching: closes every handle with uv_close; once the last has closed, frees w
 *  and calls closed(data) if closed is not NULL. No callback fires after this call. */
void hc_manifest_watch_close(hc_manifest_watch_t *w, void (*closed)(void *data), void *data);

#endif
