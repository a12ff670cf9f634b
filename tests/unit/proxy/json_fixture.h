/* Shared by the proxy unit tests: Kubernetes objects written as JSON with ' for " so the
 * fixtures stay readable, and long request paths. Include after cmocka (through
 * core/hc_alloc.h). */
#ifndef TEST_PROXY_JSON_FIXTURE_H
#define TEST_PROXY_JSON_FIXTURE_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Parses s after turning every ' into "; fails the test on bad JSON. */
static inline json_t *J(const char *s)
{
    char *t = strdup(s);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t e;
    json_t *j = json_loads(t, 0, &e);
    if (!j)
        fail_msg("bad fixture JSON at %d: %s", e.position, e.text);
    free(t);
    return j;
}

/* "/" and n times 'a' (free it with free). */
static inline char *long_path(size_t n)
{
    char *p = malloc(n + 2);
    assert_non_null(p);
    p[0] = '/';
    memset(p + 1, 'a', n);
    p[n + 1] = '\0';
    return p;
}

#endif
