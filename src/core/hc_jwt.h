/* Compact HS256 JSON Web Tokens (RFC 7519), HMAC-SHA256, base64url (RFC 4648 §5) and
 * base64 decoding (§4), for the tokens services hand to their clients (Umami's
 * x-umami-cache and login tokens, capture's Bearer tokens) and the base64 fields they
 * read. Signing puts the payload bytes in as given (key order kept). */
#ifndef HC_JWT_H
#define HC_JWT_H

#include <stddef.h>

/** base64url without padding of n bytes into out (NUL-terminated). Returns the length,
 *  or -1 when cap is too small. */
long hc_base64url_encode(const void *in, size_t n, char *out, size_t cap);

/** Decodes base64url (padding optional). Returns the byte count, or -1 on a bad
 *  character or when cap is too small. */
long hc_base64url_decode(const char *in, size_t n, void *out, size_t cap);

/** Decodes base64 (RFC 4648 §4, padded to whole quantums; CR and LF are skipped, as
 *  in Kubernetes Secret data and wrapped PEM bodies). Returns a NUL-terminated copy
 *  (caller frees with hc_free) of *outlen bytes, or NULL on a bad character or length. */
char *hc_base64_decode(const char *in, size_t n, size_t *outlen);

/** HMAC-SHA256 (RFC 2104) of len bytes of msg under key into mac. Returns 0, or -1 when
 *  OpenSSL fails. */
int hc_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
                   unsigned char mac[32]);

/** header {"alg":"HS256","typ":"JWT"} . payload_json . HMAC-SHA256(key). Returns the
 *  token's length (NUL-terminated in out), or -1 when cap is too small. */
long hc_jwt_sign(const char *payload_json, size_t len, const void *key, size_t keylen, char *out,
                 size_t cap);

/** Checks an HS256 token's shape, header alg and signature (constant-time compare).
 *  Writes the decoded payload JSON (NUL-terminated) to payload. Returns its length, or
 *  -1 when the token is invalid or does not fit. */
long hc_jwt_verify(const char *token, size_t len, const void *key, size_t keylen, char *payload,
                   size_t cap);

#endif
