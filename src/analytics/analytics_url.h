/* The slice of the WHATWG URL Standard that Umami's `new URL(v, base)` leans on when it
 * splits a page or referrer URL: scheme, hostname, pathname (dot segments resolved,
 * percent-encoded as the standard serializes it), search and hash, plus
 * URLSearchParams.get and decodeURI/decodeURIComponent. Used by analytics_payload.c.
 * Not covered: IDNA (non-ASCII hosts stay UTF-8, lower-cased ASCII) and Windows drive
 * letters in file: URLs. */
#ifndef ANALYTICS_URL_H
#define ANALYTICS_URL_H

#include <stddef.h>

#define ANALYTICS_URL_IN_MAX 4096                         /* bytes of one URL, after trimming */
#define ANALYTICS_URL_PART (3 * ANALYTICS_URL_IN_MAX + 1) /* worst case: every byte %XX */

typedef struct analytics_url {
    char scheme[32];                /* lower-case, without ':' */
    char host[256];                 /* url.hostname: lower-case, IPv6 in brackets, "" when none */
    char path[ANALYTICS_URL_PART];  /* url.pathname */
    char query[ANALYTICS_URL_PART]; /* url.search without the '?' */
    char hash[ANALYTICS_URL_PART];  /* url.hash: "#..." or "" */
    int special;                    /* http, https, ws, wss, ftp, file */
    int relative;                   /* resolved against base: another base gives another URL */
} analytics_url_t;

/** Parses in[0..len) against base (NULL: in must be absolute) into *out. Returns 0, or
 *  -EINVAL where `new URL()` throws (bad host or port, relative without base) or when
 *  the input is longer than ANALYTICS_URL_IN_MAX. */
int analytics_url_parse(const char *in, size_t len, const analytics_url_t *base,
                        analytics_url_t *out);

/** URLSearchParams(query).get(name): the first value, '+' as space and percent-decoded
 *  (invalid UTF-8 becomes U+FFFD), truncated to cap-1 bytes at a character boundary.
 *  Returns 1 when found, else 0 (out = ""). */
int analytics_url_param(const char *query, const char *name, char *out, size_t cap);

/** analytics_url_param for n (at most 64) names in one pass over query: the value of
 *  names[i] goes to out[i] (cap bytes each). Returns how many names were found. */
size_t analytics_url_params(const char *query, const char *const *names, char *const *out, size_t n,
                            size_t cap);

/** Umami's safeDecodeURI (component = 0) / safeDecodeURIComponent (1): decodes %XX
 *  sequences (decodeURI keeps the escapes of ;/?:@&=+$,#); when the input is malformed
 *  the input is returned unchanged. %00 stays encoded (a column cannot hold NUL). The
 *  result is truncated to cap-1 bytes at a UTF-8 character boundary. */
void analytics_uri_decode(const char *in, int component, char *out, size_t cap);

/** 1 when s[0..n) is ASCII: no byte of 0x80 or above. */
int analytics_ascii(const char *s, size_t n);

/** 1 when s[0..n) is well-formed UTF-8: no overlong forms, surrogates or bytes past U+10FFFF. */
int analytics_utf8_valid(const char *s, size_t n);

/** The length JavaScript (and so zod's .max()) gives the UTF-8 string s[0..n): UTF-16
 *  code units, two for a character past U+FFFF. */
size_t analytics_js_length(const char *s, size_t n);

/** Copies s into out (cap bytes), cutting at a UTF-8 character boundary. */
void analytics_copy_utf8(char *out, size_t cap, const char *s, size_t len);

#endif
