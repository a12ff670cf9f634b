/* JWS signing, JWKs and thumbprints for the ACME client (certs_acme.c). ES256 and RS256
 * only, the two algorithms Let's Encrypt and pebble accept for account keys. */
#include "certs/certs_jws.h"

#include "core/hc_alloc.h"
#include "core/hc_jwt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>

const char *certs_jws_alg(EVP_PKEY *key)
{
    if (!key)
        return NULL;
    if (EVP_PKEY_is_a(key, "RSA"))
        return "RS256";
    if (EVP_PKEY_is_a(key, "EC")) {
        char group[64];
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof(group), &glen) &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
            return "ES256";
    }
    return NULL;
}

char *certs_jws_b64u(const void *data, size_t len)
{
    size_t cap = len / 3 * 4 + 4;
    char *out = hc_malloc(cap);
    hc_base64url_encode(data, len, out, cap);
    return out;
}

int certs_jws_b64u_decode(const char *s, size_t len, unsigned char **out, size_t *out_len)
{
    /* RFC 7515 §2: base64url without padding (hc_base64url_decode would accept it). */
    if (memchr(s, '=', len))
        return -EINVAL;
    unsigned char *buf = hc_malloc(len / 4 * 3 + 3);
    long n = hc_base64url_decode(s, len, buf, len / 4 * 3 + 3);
    if (n < 0) {
        hc_free(buf);
        return -EINVAL;
    }
    *out = buf;
    *out_len = (size_t)n;
    return 0;
}

static char *bn_param_b64u(EVP_PKEY *key, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(key, name, &bn))
        return NULL;
    int n = pad ? pad : BN_num_bytes(bn);
    unsigned char buf[1024];
    char *s = NULL;
    if (n > 0 && n <= (int)sizeof(buf) && BN_bn2binpad(bn, buf, n) == n)
        s = certs_jws_b64u(buf, (size_t)n);
    BN_free(bn);
    return s;
}

int certs_jws_jwk(EVP_PKEY *key, char **out)
{
    const char *alg = certs_jws_alg(key);
    if (!alg)
        return -ENOTSUP;
    /* RFC 7638 §3.2: required members only, lexicographic order, no whitespace. */
    int ec = alg[0] == 'E';
    char *a = bn_param_b64u(key, ec ? OSSL_PKEY_PARAM_EC_PUB_X : OSSL_PKEY_PARAM_RSA_E,
                            ec ? 32 : 0);
    char *b = bn_param_b64u(key, ec ? OSSL_PKEY_PARAM_EC_PUB_Y : OSSL_PKEY_PARAM_RSA_N,
                            ec ? 32 : 0);
    int rc = -ENOTSUP;
    if (a && b) {
        size_t n = strlen(a) + strlen(b) + 64;
        *out = hc_malloc(n);
        if (ec)
            snprintf(*out, n, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", a, b);
        else
            snprintf(*out, n, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", a, b);
        rc = 0;
    }
    hc_free(a);
    hc_free(b);
    return rc;
}

int certs_jws_thumbprint(EVP_PKEY *key, char **out)
{
    char *jwk = NULL;
    int rc = certs_jws_jwk(key, &jwk);
    if (rc < 0)
        return rc;
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(jwk, strlen(jwk), md, &mdlen, EVP_sha256(), NULL)) {
        hc_free(jwk);
        return -EIO;
    }
    hc_free(jwk);
    *out = certs_jws_b64u(md, mdlen);
    return 0;
}

int certs_jws_key_authz(EVP_PKEY *key, const char *token, char **out)
{
    char *tp = NULL;
    int rc = certs_jws_thumbprint(key, &tp);
    if (rc < 0)
        return rc;
    size_t n = strlen(token) + strlen(tp) + 2;
    *out = hc_malloc(n);
    snprintf(*out, n, "%s.%s", token, tp);
    hc_free(tp);
    return 0;
}

/* Signs input; for ES256 converts OpenSSL's DER ECDSA-Sig-Value into the raw r||s
 * form RFC 7518 §3.4 requires. Returns the b64u signature or NULL. */
static char *sign_b64u(EVP_PKEY *key, int ec, const char *input, size_t len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t siglen = 0;
    char *res = NULL;
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, len) != 1)
        goto out;
    sig = hc_malloc(siglen);
    if (EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, len) != 1)
        goto out;
    if (!ec) {
        res = certs_jws_b64u(sig, siglen);
        goto out;
    }
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
    unsigned char raw[64];
    if (es && BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) == 32 &&
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) == 32)
        res = certs_jws_b64u(raw, sizeof(raw));
    ECDSA_SIG_free(es);
out:
    hc_free(sig);
    EVP_MD_CTX_free(md);
    return res;
}

/* The protected header, serialized by jansson (which escapes url and kid), copied into
 * hc_malloc'd memory. */
static char *protected_header(const char *alg, const char *jwk, const char *kid,
                              const char *nonce, const char *url)
{
    json_t *h = json_object();
    json_object_set_new(h, "alg", json_string(alg));
    if (kid)
        json_object_set_new(h, "kid", json_string(kid));
    else
        json_object_set_new(h, "jwk", json_loads(jwk, 0, NULL));
    if (nonce)
        json_object_set_new(h, "nonce", json_string(nonce));
    json_object_set_new(h, "url", json_string(url));
    char *s = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(h);
    if (!s)
        return NULL;
    char *copy = hc_strdup(s);
    free(s);
    return copy;
}

int certs_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
                   const char *payload, char **out, size_t *out_len)
{
    const char *alg = certs_jws_alg(key);
    if (!alg)
        return -ENOTSUP;
    char *jwk = NULL, *hdr = NULL, *ph = NULL, *pl = NULL, *input = NULL, *sig = NULL;
    int rc = -EIO;
    if (!kid && certs_jws_jwk(key, &jwk) < 0)
        goto out;
    hdr = protected_header(alg, jwk, kid, nonce, url);
    if (!hdr)
        goto out;
    ph = certs_jws_b64u(hdr, strlen(hdr));
    pl = certs_jws_b64u(payload, strlen(payload));
    size_t ilen = strlen(ph) + strlen(pl) + 1;
    input = hc_malloc(ilen + 1);
    snprintf(input, ilen + 1, "%s.%s", ph, pl);
    sig = sign_b64u(key, alg[0] == 'E', input, ilen);
    if (!sig)
        goto out;
    size_t n = strlen(ph) + strlen(pl) + strlen(sig) + 48;
    *out = hc_malloc(n);
    int w = snprintf(*out, n, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}",
                     ph, pl, sig);
    *out_len = (size_t)w;
    rc = 0;
out:
    hc_free(sig);
    hc_free(input);
    hc_free(pl);
    hc_free(ph);
    hc_free(hdr);
    hc_free(jwk);
    return rc;
}
