/* The out-of-memory policy (docs/ARCHITECTURE.md): an allocation that fails ends the
 * process with a message on stderr. A service under a memory limit restarts cleanly
 * instead of limping on with half-built state, as h2o and Redis do. */
#include "core/hc_alloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void hc_oom(size_t n)
{
    fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"out of memory\",\"bytes\":%zu}\n", n);
    abort();
}

#ifdef HC_CMOCKA_ALLOC
static pthread_mutex_t unit_lock = PTHREAD_MUTEX_INITIALIZER;

void *hc_unit_malloc(size_t n, const char *file, int line)
{
    pthread_mutex_lock(&unit_lock);
    void *p = _test_malloc(n, file, line);
    pthread_mutex_unlock(&unit_lock);
    return p;
}

void *hc_unit_calloc(size_t n, size_t m, const char *file, int line)
{
    pthread_mutex_lock(&unit_lock);
    void *p = _test_calloc(n, m, file, line);
    pthread_mutex_unlock(&unit_lock);
    return p;
}

void *hc_unit_realloc(void *p, size_t n, const char *file, int line)
{
    pthread_mutex_lock(&unit_lock);
    void *q = _test_realloc(p, n, file, line);
    pthread_mutex_unlock(&unit_lock);
    return q;
}

void hc_unit_free(void *p, const char *file, int line)
{
    pthread_mutex_lock(&unit_lock);
    _test_free(p, file, line);
    pthread_mutex_unlock(&unit_lock);
}

void *hc_unit_strdup(const char *s, const char *file, int line)
{
    return hc_unit_memdup(s, strlen(s), file, line);
}

void *hc_unit_memdup(const void *p, size_t n, const char *file, int line)
{
    char *d = hc_unit_malloc(n + 1, file, line);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}
#else
void *hc_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        hc_oom(n);
    return p;
}

void *hc_calloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        hc_oom(n * m);
    return p;
}

void *hc_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        hc_oom(n);
    return q;
}

void hc_free(void *p)
{
    free(p);
}

char *hc_strdup(const char *s)
{
    return hc_memdup(s, strlen(s));
}

void *hc_memdup(const void *p, size_t n)
{
    char *d = hc_malloc(n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}
#endif
