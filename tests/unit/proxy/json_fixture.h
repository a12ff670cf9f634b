/* Shared by the proxy unit tests: Kubernetes objects written as JSON with ' for " so the
 * fixtures stay readable. Include after cmocka (through core/hc_alloc.h). */
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

#endif
