/* Inside hc_yaml: the text of scalars (core-schema resolution of plain scalars, decoding
 * of quoted and block scalars from the source), beside the event builder in hc_yaml.c.
 * Used only by hc_yaml.c. */
#ifndef HC_YAML_SCALAR_H
#define HC_YAML_SCALAR_H

#include <stddef.h>

/* Plain scalars by YAML 1.2.2 §10.3.2 "Tag Resolution" of the core schema; s[0..n) need
 * not be NUL-terminated. */

/** 1 when s[0..n) is a null (empty, ~, null, Null, NULL), else 0. */
int hc_yaml_null_text(const char *s, size_t n);
/** 1 for true/True/TRUE, 0 for false/False/FALSE, -1 for any other text. */
int hc_yaml_bool_text(const char *s, size_t n);
/** 0o[0-7]+ and 0x[0-9a-fA-F]+ (no sign), or [-+]?[0-9]+: returns 1 with the value in *v,
 *  0 when the text is no int, -1 when it is one but does not fit 64 bits. */
int hc_yaml_int_text(const char *s, size_t n, long long *v);
/** [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?: returns 1 with the value in *v,
 *  0 when the text is no float, -1 for the .inf/.nan forms and values out of range (JSON
 *  has no such numbers). */
int hc_yaml_float_text(const char *s, size_t n, double *v);

/** Decodes the content s[0..n) between the quotes of a single-quoted (dq 0) or
 *  double-quoted (dq 1) scalar: escapes (YAML 1.2.2 §7.3.1, §7.3.2) and line folding
 *  (§6.5). Returns 0 with a new buffer in *out (hc_malloc, the caller hc_frees it; not
 *  NUL-terminated) of *out_n bytes, or -EINVAL on an invalid escape with *out NULL. */
int hc_yaml_scalar_flow(const char *s, size_t n, int dq, char **out, size_t *out_n);

/** Decodes the block scalar (§8.1) whose content is src[start..start + n). Its header is
 *  the first '|' or '>' on the line before start, at or after offset from (the end of the
 *  last token before it); parent is the indentation of the enclosing node. Returns 0 with
 *  *out and *out_n as hc_yaml_scalar_flow, or -EINVAL when no header is found. */
int hc_yaml_scalar_block(const char *src, size_t from, size_t start, size_t n, size_t parent,
                         char **out, size_t *out_n);

#endif
