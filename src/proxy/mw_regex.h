/* Go regexp (RE2 syntax) on PCRE2 for the middlewares that take user regexes
 * (redirectRegex, stripPrefixRegex, replacePathRegex, CORS origin and forwardAuth header
 * regexes). RE2 patterns are, with rare exceptions, valid PCRE2 with the same leftmost-
 * first meaning; `$` means end of text as in Go, and a match limit stands in for RE2's
 * linear-time guarantee. Replacement follows Go's Regexp.ReplaceAllString. */
#ifndef PROXY_MW_REGEX_H
#define PROXY_MW_REGEX_H

#include "core/hc_buf.h"

#include <stddef.h>

typedef struct proxy_mw_regex proxy_mw_regex_t;

/** Compiles pattern. Returns 0 with *out (free with proxy_mw_regex_free) or -EINVAL with
 *  the PCRE2 message and offset in err. A compiled regex may be used from any thread. */
int proxy_mw_regex_compile(const char *pattern, proxy_mw_regex_t **out, char *err,
                           size_t errlen);
/** Frees re; NULL is fine. */
void proxy_mw_regex_free(proxy_mw_regex_t *re);
/** Searches s[0..len) (unanchored, as Go's MatchString/FindStringIndex). Returns 1 with
 *  the first match in [*so, *eo) (either pointer may be NULL), 0 when there is none or
 *  the match limit was hit. */
/** Whether re matches somewhere in s (len bytes): 1 or 0, or -1 when the matchers'
 *  budgets ran out before they could tell (a pattern of nested repeats on a long hostile
 *  subject; Go's RE2 always tells). */
int proxy_mw_regex_test(const proxy_mw_regex_t *re, const char *s, size_t len);
int proxy_mw_regex_find(const proxy_mw_regex_t *re, const char *s, size_t len, size_t *so,
                        size_t *eo);
/** Appends to out s with every non-overlapping match replaced by tmpl expanded as Go's
 *  Regexp.Expand: $1 / ${1} / $name / ${name} insert a group ("" when it did not take
 *  part), $$ is a literal $, and $1x means the group named "1x". Returns the number of
 *  matches (0: out gets s unchanged) or -ENOBUFS when out's maximum is passed. */
int proxy_mw_regex_replace_all(const proxy_mw_regex_t *re, const char *s, const char *tmpl,
                               hc_buf_t *out);

#endif
