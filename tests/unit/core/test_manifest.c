/* hc_manifest: objects out of documents (List expanded, bad documents reported with
 * their line), directory loading (hidden and ..data skipped), snapshots, and the watch:
 * one callback per burst of writes, last good objects kept for a broken file. */
#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_manifest.h"
#include "core/hc_manifest_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <unistd.h>

static char dir[64];

static const char ingress[] = "apiVersion: networking.k8s.io/v1\n"
                              "kind: Ingress\n"
                              "metadata:\n"
                              "  name: api-ingress\n"
                              "  namespace: client-demo-client\n"
                              "  annotations:\n"
                              "    cert-manager.io/cluster-issuer: \"letsencrypt-prod\"\n"
                              "spec:\n"
                              "  ingressClassName: traefik\n";

static int setup(void **state)
{
    hc_log_setup(HC_LOG_ERROR, HC_LOG_FORMAT_JSON);
    snprintf(dir, sizeof(dir), "/tmp/hc_manifest_testXXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_parse_objects_and_errors(void **state)
{
    static const char text[] =
        "apiVersion: traefik.containo.us/v1alpha1\n"
        "kind: Middleware\n"
        "metadata: {name: compress, labels: {app: proxy}}\n"
        "spec: {compress: {}}\n"
        "---\n"
        "kind: Service\n"
        "metadata: {name: nover}\n"
        "---\n"
        "apiVersion: v1\n"
        "kind: List\n"
        "items:\n"
        "- apiVersion: v1\n"
        "  kind: Service\n"
        "  metadata: {name: api, namespace: client-a}\n"
        "- {apiVersion: v1, kind: Secret, metadata: {name: tls, namespace: client-a}}\n"
        "- {apiVersion: v1, metadata: {name: nokind}}\n"
        "---\n"
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata: {name: api, namespace: client-a}\n"
        "---\n";
    hc_manifest_set_t *s = hc_manifest_parse("m.yaml", text, sizeof(text) - 1);
    assert_int_equal(hc_manifest_set_count(s), 3);
    const hc_manifest_obj_t *mw = hc_manifest_set_find(s, "Middleware", "default", "compress");
    assert_non_null(mw);
    assert_string_equal(mw->api_version, "traefik.containo.us/v1alpha1");
    assert_string_equal(json_string_value(json_object_get(mw->labels, "app")), "proxy");
    assert_null(mw->annotations);
    assert_string_equal(mw->file, "m.yaml");
    assert_int_equal(mw->line, 1);
    const hc_manifest_obj_t *svc = hc_manifest_set_find(s, "Service", "client-a", "api");
    assert_non_null(svc);
    assert_int_equal(svc->line, 12); /* the List item, not the duplicate at line 18 */
    assert_non_null(hc_manifest_set_find(s, "Secret", "client-a", "tls"));
    assert_null(hc_manifest_set_find(s, "Secret", "default", "tls"));

    const hc_manifest_error_t *errs;
    assert_int_equal(hc_manifest_set_errors(s, &errs), 3);
    assert_int_equal(errs[0].line, 6);
    assert_string_equal(errs[0].message, "object skipped: no apiVersion");
    assert_int_equal(errs[1].line, 16);
    assert_string_equal(errs[1].message, "object skipped: no kind");
    assert_int_equal(errs[2].line, 18);
    assert_non_null(strstr(errs[2].message, "duplicate Service client-a/api, first at m.yaml:12"));
    hc_manifest_set_unref(s);

    s = hc_manifest_parse("bad.yaml", "a: [1\n", 6);
    assert_int_equal(hc_manifest_set_count(s), 0);
    assert_int_equal(hc_manifest_set_errors(s, &errs), 1);
    assert_string_equal(errs[0].file, "bad.yaml");
    assert_int_equal(errs[0].line, 2);
    hc_manifest_set_unref(s);
}

/* Members a Helm template leaves null are absent, as the API server reads them; a value of
 * another type still skips the object. */
static void test_null_metadata_members(void **state)
{
    static const char text[] = "apiVersion: v1\n"
                               "kind: Service\n"
                               "metadata:\n"
                               "  name: web\n"
                               "  namespace:\n"
                               "  labels:\n"
                               "  annotations:\n"
                               "---\n"
                               "apiVersion: v1\n"
                               "kind: Service\n"
                               "metadata: {name: bad, annotations: [a]}\n";
    hc_manifest_set_t *s = hc_manifest_parse("n.yaml", text, sizeof(text) - 1);
    assert_int_equal(hc_manifest_set_count(s), 1);
    const hc_manifest_obj_t *o = hc_manifest_set_find(s, "Service", "default", "web");
    assert_non_null(o);
    assert_null(o->labels);
    assert_null(o->annotations);
    const hc_manifest_error_t *errs;
    assert_int_equal(hc_manifest_set_errors(s, &errs), 1);
    assert_int_equal(errs[0].line, 9);
    assert_string_equal(errs[0].message, "object skipped: metadata.annotations is not a mapping");
    hc_manifest_set_unref(s);
}

static void test_kind_iteration_and_refs(void **state)
{
    static const char text[] = "{apiVersion: v1, kind: B, metadata: {name: z}}\n---\n"
                               "{apiVersion: v1, kind: A, metadata: {name: y}}\n---\n"
                               "{apiVersion: v1, kind: B, metadata: {name: a, namespace: x}}\n"
                               "---\n{apiVersion: v1, kind: C, metadata: {name: c}}\n";
    hc_manifest_set_t *s = hc_manifest_parse("k.yaml", text, sizeof(text) - 1);
    const hc_manifest_obj_t *first;
    assert_int_equal(hc_manifest_set_kind(s, "B", &first), 2);
    assert_string_equal(first[0].name, "z"); /* default < x */
    assert_string_equal(first[1].ns, "x");
    assert_int_equal(hc_manifest_set_kind(s, "A", &first), 1);
    assert_int_equal(hc_manifest_set_kind(s, "Q", &first), 0);
    assert_null(first);
    assert_string_equal(hc_manifest_set_at(s, 3)->kind, "C");
    assert_null(hc_manifest_set_at(s, 4));
    hc_manifest_set_t *r = hc_manifest_set_ref(s);
    hc_manifest_set_unref(s);
    assert_string_equal(hc_manifest_set_at(r, 0)->name, "y");
    hc_manifest_set_unref(r);
}

static void test_directory_load(void **state)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/sub", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/..data", dir);
    mkdir(path, 0755);
    put("a.yaml", ingress);
    put("b.yml", "{apiVersion: v1, kind: Service, metadata: {name: b}}\n");
    put("c.json", "{\"apiVersion\": \"v1\", \"kind\": \"Secret\",\n \"metadata\": {\"name\": \"c\"}}");
    put(".hidden.yaml", "{apiVersion: v1, kind: Service, metadata: {name: hidden}}\n");
    put("..data/x.yaml", "{apiVersion: v1, kind: Service, metadata: {name: data}}\n");
    put("notes.txt", "{apiVersion: v1, kind: Service, metadata: {name: txt}}\n");
    put("sub/d.yaml", "{apiVersion: v1, kind: Service, metadata: {name: d}}\n");
    char single[256], missing[256];
    snprintf(single, sizeof(single), "%s/notes.txt", dir); /* named directly: read */
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    const char *paths[] = {dir, single, missing};
    hc_manifest_set_t *s;
    assert_int_equal(hc_manifest_load(paths, 3, &s), 0);
    assert_int_equal(hc_manifest_set_count(s), 5);
    assert_non_null(hc_manifest_set_find(s, "Ingress", "client-demo-client", "api-ingress"));
    assert_non_null(hc_manifest_set_find(s, "Secret", "default", "c"));
    assert_non_null(hc_manifest_set_find(s, "Service", "default", "d"));
    assert_non_null(hc_manifest_set_find(s, "Service", "default", "txt"));
    assert_null(hc_manifest_set_find(s, "Service", "default", "hidden"));
    assert_null(hc_manifest_set_find(s, "Service", "default", "data"));
    const hc_manifest_error_t *errs;
    assert_int_equal(hc_manifest_set_errors(s, &errs), 1);
    assert_string_equal(errs[0].file, missing);
    assert_string_equal(errs[0].message, "No such file or directory");
    hc_manifest_set_unref(s);
}

/* File names are bytes, not UTF-8: a Latin-1 name once missed the scanner's path index,
 * so every rescan saw the file as vanished and new (a change, a callback, a re-parse)
 * and a path reached twice was read twice. */
static void test_scan_non_utf8_name_is_stable(void **state)
{
    char sub[128], again[256];
    snprintf(sub, sizeof(sub), "%s/latin1", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    put("latin1/caf\xe9.yaml", "{apiVersion: v1, kind: Service, metadata: {name: latin1}}\n");
    snprintf(again, sizeof(again), "%s/caf\xe9.yaml", sub);
    const char *paths[] = {sub, again};
    hc_manifest_scan_t *sc = hc_manifest_scan_new(paths, 2);
    assert_int_equal(hc_manifest_scan_run(sc, 0), 1);
    assert_int_equal(hc_manifest_scan_run(sc, 0), 0);
    assert_int_equal(hc_manifest_scan_run(sc, 0), 0);
    hc_manifest_set_t *s = hc_manifest_scan_snapshot(sc);
    const hc_manifest_error_t *errs;
    assert_int_equal(hc_manifest_set_count(s), 1);
    assert_int_equal(hc_manifest_set_errors(s, &errs), 0);
    hc_manifest_set_unref(s);
    hc_manifest_scan_free(sc);
}

/* A directory that cannot be opened for want of a descriptor has not lost its files: a
 * rescan then keeps their objects (a proxy out of descriptors must not drop every route
 * of its manifests), and reports why. */
static void test_scan_out_of_descriptors_keeps_objects(void **state)
{
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/fds", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    put("fds/a.yaml", "{apiVersion: v1, kind: Service, metadata: {name: a}}\n");
    const char *paths[] = {sub};
    hc_manifest_scan_t *sc = hc_manifest_scan_new(paths, 1);
    assert_int_equal(hc_manifest_scan_run(sc, 0), 1);
    struct rlimit was, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
    low = was;
    low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    static int held[256];
    int n = 0; /* every descriptor taken, for the rescan */
    while (n < 256 && (held[n] = dup(0)) >= 0)
        n++;
    assert_true(n < 256 && errno == EMFILE);
    hc_manifest_scan_run(sc, 1);
    while (n > 0)
        close(held[--n]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
    hc_manifest_set_t *s = hc_manifest_scan_snapshot(sc);
    const hc_manifest_error_t *errs;
    assert_int_equal(hc_manifest_set_count(s), 1);
    assert_int_equal(hc_manifest_set_errors(s, &errs), 1);
    assert_string_equal(errs[0].message, "Too many open files");
    hc_manifest_set_unref(s);
    hc_manifest_scan_free(sc);
}

/* ---- the watch, on a real loop with bounded time ---- */

typedef struct watch_state {
    int calls;
    hc_manifest_set_t *last;
    int writes;
    int closed;
    const char *content[3];
} watch_state_t;

static void on_change(hc_manifest_watch_t *w, hc_manifest_set_t *set, void *data)
{
    watch_state_t *st = data;
    st->calls++;
    hc_manifest_set_unref(st->last);
    st->last = hc_manifest_set_ref(set);
}

static void on_closed(void *data)
{
    ((watch_state_t *)data)->closed = 1;
}

static void on_timeout(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Runs loop until *flag is set or ms pass. */
static void run_for(uv_loop_t *loop, int *flag, unsigned ms)
{
    int expired = 0;
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_timeout, ms, 0);
    while (!expired && !(flag && *flag))
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void on_write_tick(uv_timer_t *t)
{
    watch_state_t *st = t->data;
    char text[128];
    snprintf(text, sizeof(text), "{apiVersion: v1, kind: Service, metadata: {name: w%d}}\n",
             st->writes);
    put("watch/w.yaml", text);
    if (++st->writes == 5)
        uv_timer_stop(t);
}

static void test_watch_burst_and_broken_file(void **state)
{
    char wdir[256];
    snprintf(wdir, sizeof(wdir), "%s/watch", dir);
    mkdir(wdir, 0755);
    put("watch/w.yaml", "{apiVersion: v1, kind: Service, metadata: {name: start}}\n");
    put("watch/keep.yaml", ingress);
    uv_loop_t loop;
    uv_loop_init(&loop);
    watch_state_t st = {0};
    hc_manifest_watch_t *w;
    /* a debounce well past the writes' 30 ms gaps, even for a loop a busy machine stalls */
    hc_manifest_watch_opts_t opts = {.debounce_ms = 500, .rescan_ms = 60000};
    const char *paths[] = {wdir};
    assert_int_equal(hc_manifest_watch_start(&loop, paths, 1, &opts, on_change, &st, &w), 0);
    assert_int_equal(hc_manifest_set_count(hc_manifest_watch_current(w)), 2);

    /* five writes 30 ms apart: one callback once they settle */
    uv_timer_t writer;
    uv_timer_init(&loop, &writer);
    writer.data = &st;
    uv_timer_start(&writer, on_write_tick, 10, 30);
    run_for(&loop, &st.calls, 5000);
    run_for(&loop, NULL, 1000); /* nothing more may come */
    assert_int_equal(st.writes, 5);
    assert_int_equal(st.calls, 1);
    assert_non_null(hc_manifest_set_find(st.last, "Service", "default", "w4"));
    assert_null(hc_manifest_set_find(st.last, "Service", "default", "start"));
    assert_ptr_equal(st.last, hc_manifest_watch_current(w));

    /* a broken file keeps its last good objects and is reported with path and line */
    put("watch/keep.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n bad: 1\n");
    int before = st.calls;
    for (int i = 0; i < 60 && st.calls == before; i++)
        run_for(&loop, NULL, 50);
    assert_int_equal(st.calls, before + 1);
    assert_non_null(hc_manifest_set_find(st.last, "Ingress", "client-demo-client",
                                         "api-ingress"));
    const hc_manifest_error_t *errs;
    assert_int_equal(hc_manifest_set_errors(st.last, &errs), 1);
    assert_non_null(strstr(errs[0].file, "watch/keep.yaml"));
    assert_int_equal(errs[0].line, 5);
    assert_non_null(strstr(errs[0].message, "keeping the objects of its last good version"));

    /* deleting the file drops its objects */
    char kp[300];
    snprintf(kp, sizeof(kp), "%s/keep.yaml", wdir);
    unlink(kp);
    before = st.calls;
    for (int i = 0; i < 60 && st.calls == before; i++)
        run_for(&loop, NULL, 50);
    assert_int_equal(st.calls, before + 1);
    assert_int_equal(hc_manifest_set_count(st.last), 1);

    uv_close((uv_handle_t *)&writer, NULL);
    hc_manifest_watch_close(w, on_closed, &st);
    run_for(&loop, &st.closed, 1000);
    assert_true(st.closed);
    assert_int_equal(uv_loop_close(&loop), 0);
    hc_manifest_set_unref(st.last);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_objects_and_errors),
        cmocka_unit_test(test_null_metadata_members),
        cmocka_unit_test(test_kind_iteration_and_refs),
        cmocka_unit_test(test_directory_load),
        cmocka_unit_test(test_scan_non_utf8_name_is_stable),
        cmocka_unit_test(test_scan_out_of_descriptors_keeps_objects),
        cmocka_unit_test(test_watch_burst_and_broken_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
