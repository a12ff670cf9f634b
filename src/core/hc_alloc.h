/* Memory allocation with hearth's one out-of-memory policy: abort with a message.
 * Every allocation in src/ goes through these; callers never check for NULL.
 * Unit tests build with HC_CMOCKA_ALLOC, which makes them cmocka's test_malloc and
 * test_free, so a unit test fails on a leak of memory it allocated through hc_*. */
#ifndef HC_ALLOC_H
#define HC_ALLOC_H

#include <stddef.h>

#ifdef HC_CMOCKA_ALLOC
#include <stdarg.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
/* cmocka's block list is not thread-safe: these take one lock around it, since worker
 * threads allocate and free too (a call posted to a worker is freed there). */
void *hc_unit_malloc(size_t n, const char *file, int line);
void *hc_unit_calloc(size_t n, size_t m, const char *file, int line);
void *hc_unit_realloc(void *p, size_t n, const char *file, int line);
void hc_unit_free(void *p, const char *file, int line);
void *hc_unit_strdup(const char *s, const char *file, int line);
void *hc_unit_memdup(const void *p, size_t n, const char *file, int line);
#define hc_malloc(n) hc_unit_malloc(n, __FILE__, __LINE__)
#define hc_calloc(n, m) hc_unit_calloc(n, m, __FILE__, __LINE__)
#define hc_realloc(p, n) hc_unit_realloc(p, n, __FILE__, __LINE__)
#define hc_free(p) hc_unit_free(p, __FILE__, __LINE__)
#define hc_strdup(s) hc_unit_strdup(s, __FILE__, __LINE__)
#define hc_memdup(p, n) hc_unit_memdup(p, n, __FILE__, __LINE__)
#else
/** malloc/calloc/realloc that never return NULL: on failure they log and abort(). */
void *hc_malloc(size_t n);
void *hc_calloc(size_t n, size_t m);
void *hc_realloc(void *p, size_t n);
/** free(); NULL is fine. Only for memory from hc_malloc/hc_calloc/hc_realloc/hc_strdup. */
void hc_free(void *p);
/** strdup that never returns NULL; s must not be NULL. */
char *hc_strdup(const char *s);
/** Copies n bytes into a new allocation with one extra NUL byte after them. */
void *hc_memdup(const void *p, size_t n);
#endif

/** Reports an allocation of n bytes that failed, then aborts. Never returns. */
_Noreturn void hc_oom(size_t n);

#endif
