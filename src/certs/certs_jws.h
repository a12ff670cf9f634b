/* JSON Web Signature for ACME (RFC 8555 §6.2, RFC 7515 flattened JSON), JWKs and the RFC
 * 7638 thumbprint behind HTTP-01 key authorizations (RFC 8555 §8.1). Used by
 * certs_acme.c; keys are EC P-256 (ES256) or RSA (RS256). Returned strings are
 * hc_malloc'd and NUL-terminated (hc_free). */
#ifndef CERTS_JWS_H
#define CERTS_JWS_H

#include <stddef.h>
#include <openssl/evp.h>

/** The JWS alg for key: "ES256" (EC P-256) or "RS256" (RSA), NULL for anything else. */
const char *certs_jws_alg(EVP_PKEY *key);

/** Unpadded base64url of len bytes (RFC 7515 §2). Never NULL. */
char *certs_jws_b64u(const void *data, size_t len);

/** Decodes unpadded base64url into *out (hc_free), *out_len bytes. Returns 0 or -EINVAL
 *  on a character outside the alphabet or an impossible length. */
int certs_jws_b64u_decode(const char *s, size_t len, unsigned char **out, size_t *out_len);

/** The public JWK of key in RFC 7638 canonical form: required members only, sorted, no
 *  whitespace ({"crv","kty","x","y"} or {"e","kty","n"}). Returns 0 or -ENOTSUP. */
int certs_jws_jwk(EVP_PKEY *key, char **out);

/** b64u(SHA-256(canonical JWK)): the RFC 7638 thumbprint. Returns 0 or -ENOTSUP. */
int certs_jws_thumbprint(EVP_PKEY *key, char **out);

/** The HTTP-01 key authorization token "." thumbprint (RFC 8555 §8.1). 0 or -ENOTSUP. */
int certs_jws_key_authz(EVP_PKEY *key, const char *token, char **out);

/** Builds a flattened JWS request body for url: protected header {alg, [jwk|kid], nonce,
 *  url} with jwk when kid is NULL (newAccount), payload as given ("" = POST-as-GET,
 *  RFC 8555 §6.3). ES256 signatures are raw r||s, 64 bytes (RFC 7518 §3.4). *out is the
 *  JSON body. Returns 0, -ENOTSUP (key type) or -EIO (signing failed). */
int certs_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
                   const char *payload, char **out, size_t *out_len);

#endif
