/* libFuzzer target for the manifest loader: arbitrary bytes through the YAML builder
 * (hc_yaml) and object extraction (hc_manifest), then every lookup on the snapshot. */
#include "core/hc_manifest.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hc_manifest_set_t *s = hc_manifest_parse("fuzz.yaml", (const char *)data, size);
    size_t n = hc_manifest_set_count(s);
    for (size_t i = 0; i < n; i++) {
        const hc_manifest_obj_t *o = hc_manifest_set_at(s, i);
        const hc_manifest_obj_t *first;
        if (hc_manifest_set_find(s, o->kind, o->ns, o->name) != o)
            __builtin_trap();
        if (!hc_manifest_set_kind(s, o->kind, &first) || strcmp(first->kind, o->kind))
            __builtin_trap();
        if (o->line < 0 || !o->api_version[0] || !json_is_object(o->doc))
            __builtin_trap();
    }
    const hc_manifest_error_t *errs;
    size_t ne = hc_manifest_set_errors(s, &errs);
    for (size_t i = 0; i < ne; i++)
        if (!errs[i].file || !errs[i].message || errs[i].line < 0)
            __builtin_trap();
    hc_manifest_set_unref(s);
    return 0;
}
