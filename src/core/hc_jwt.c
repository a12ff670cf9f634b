/* base64url (RFC 4648 §5), base64 decoding (§4), HMAC-SHA256 and compact HS256 JWTs
 * (RFC 7519, RFC 7515 §7.1). The one base64 implementation of the tree: certs' JWS code,
 * the services' tokens, Kubernetes Secret data and Basic credentials use it. */
#include "core/hc_jwt.h"

#include "core/hc_alloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

static const char b64u_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The JOSE header every token carries; serialized once, so its encoding is fixed. */
static const char jwt_header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

long hc_base64url_encode(const void *in, size_t n, char *out, size_t cap)
{
    const unsigned char *p = in;
    size_t need = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
    if (!out || cap < need + 1)
        return -1;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64u_alphabet[v >> 18 & 63];
        out[o++] = b64u_alphabet[v >> 12 & 63];
        out[o++] = b64u_alphabet[v >> 6 & 63];
        out[o++] = b64u_alphabet[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        out[o++] = b64u_alphabet[v >> 18 & 63];
        out[o++] = b64u_alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        out[o++] = b64u_alphabet[v >> 18 & 63];
        out[o++] = b64u_alphabet[v >> 12 & 63];
        out[o++] = b64u_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return (long)o;
}

/* A character's value in base64url (url = 1: '-' and '_') or base64 ('+' and '/'). */
static int b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

long hc_base64url_decode(const char *in, size_t n, void *out, size_t cap)
{
    /* Padding is optional: up to two '=' at the very end, consistent with the length. */
    size_t pad = 0;
    while (pad < 2 && n > 0 && in[n - 1] == '=') {
        n--;
        pad++;
    }
    if (n % 4 == 1 || (pad && (n + pad) % 4 != 0))
        return -1;
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > cap)
        return -1;
    unsigned char *dst = out;
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)in[i], 1);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

/* SHA-256 fetched once: OpenSSL 3's one-shot HMAC() looks its algorithms up in the
 * provider store on every call, which cost more than hashing a token. Kept for the
 * process's life. */
static EVP_MD *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!md_sha256)
        abort();
}

int hc_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
                   unsigned char mac[32])
{
    pthread_once(&md_once, md_fetch);
    unsigned char k[64] = {0}, pad[64], inner[32];
    int ok = 1;
    if (keylen > sizeof(k))
        ok = EVP_Digest(key, keylen, k, NULL, md_sha256, NULL);
    else if (keylen)
        memcpy(k, key, keylen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -1;
    /* RFC 2104: H((K ^ opad) || H((K ^ ipad) || msg)) */
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex2(ctx, md_sha256, NULL) &&
         EVP_DigestUpdate(ctx, pad, sizeof(pad)) && EVP_DigestUpdate(ctx, msg, len) &&
         EVP_DigestFinal_ex(ctx, inner, NULL);
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex2(ctx, md_sha256, NULL) &&
         EVP_DigestUpdate(ctx, pad, sizeof(pad)) && EVP_DigestUpdate(ctx, inner, sizeof(inner)) &&
         EVP_DigestFinal_ex(ctx, mac, NULL);
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    return ok ? 0 : -1;
}

/* HMAC-SHA256 of the signing input, base64url into sig (44 bytes is enough). */
static int hs256_b64(const char *input, size_t len, const void *key, size_t keylen, char sig[48])
{
    unsigned char mac[32];
    if (hc_hmac_sha256(key, keylen, input, len, mac) < 0)
        return -1;
    return hc_base64url_encode(mac, sizeof(mac), sig, 48) < 0 ? -1 : 0;
}

long hc_jwt_sign(const char *payload_json, size_t len, const void *key, size_t keylen, char *out,
                 size_t cap)
{
    size_t hl = sizeof(jwt_header_b64) - 1;
    if (!out || cap < hl + 2)
        return -1;
    memcpy(out, jwt_header_b64, hl);
    out[hl] = '.';
    long n = hc_base64url_encode(payload_json, len, out + hl + 1, cap - hl - 1);
    if (n < 0)
        return -1;
    size_t input_len = hl + 1 + (size_t)n;
    char sig[48];
    if (hs256_b64(out, input_len, key, keylen, sig) < 0)
        return -1;
    size_t sl = strlen(sig);
    if (input_len + 1 + sl + 1 > cap)
        return -1;
    out[input_len] = '.';
    memcpy(out + input_len + 1, sig, sl + 1);
    return (long)(input_len + 1 + sl);
}

/* 1 when the decoded header is an HS256 JWS header. Compared as JSON text the signer
 * could have produced: we accept exactly {"alg":"HS256"} with an optional "typ":"JWT"
 * in either order, without whitespace (what jsonwebtoken and hc_jwt_sign emit). */
static int header_ok(const char *h, size_t n)
{
    static const char *const ok[] = {"{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                                     "{\"typ\":\"JWT\",\"alg\":\"HS256\"}", "{\"alg\":\"HS256\"}"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strlen(ok[i]) == n && memcmp(ok[i], h, n) == 0)
            return 1;
    return 0;
}

long hc_jwt_verify(const char *token, size_t len, const void *key, size_t keylen, char *payload,
                   size_t cap)
{
    if (!token || !payload || cap == 0)
        return -1;
    const char *d1 = memchr(token, '.', len);
    if (!d1)
        return -1;
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
    if (!d2)
        return -1;
    size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1);
    size_t slen = len - (size_t)(d2 + 1 - token);
    if (hlen == 0 || hlen > 128 || slen != 43 || memchr(d2 + 1, '.', slen))
        return -1;
    char hdr[100];
    long hn = hc_base64url_decode(token, hlen, hdr, sizeof(hdr));
    if (hn < 0 || !header_ok(hdr, (size_t)hn))
        return -1;
    char sig[48];
    if (hs256_b64(token, (size_t)(d2 - token), key, keylen, sig) < 0)
        return -1;
    if (CRYPTO_memcmp(sig, d2 + 1, 43) != 0)
        return -1;
    long pn = hc_base64url_decode(d1 + 1, plen, payload, cap - 1);
    if (pn < 0)
        return -1;
    payload[pn] = '\0';
    return pn;
}

char *hc_base64_decode(const char *in, size_t n, size_t *outlen)
{
    char *out = hc_malloc(n / 4 * 3 + 4);
    size_t o = 0, q = 0, pad = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '\r' || c == '\n')
            continue;
        int v = c == '=' ? 0 : b64_value((unsigned char)c, 0);
        if (v < 0 || (pad && c != '='))
            goto bad;
        pad += c == '=';
        acc = acc << 6 | (unsigned)v;
        if (++q == 4) {
            if (pad > 2)
                goto bad;
            out[o++] = (char)(acc >> 16);
            if (pad < 2)
                out[o++] = (char)(acc >> 8);
            if (pad < 1)
                out[o++] = (char)acc;
            q = 0;
            acc = 0;
        }
    }
    if (q != 0)
        goto bad;
    out[o] = '\0';
    *outlen = o;
    return out;
bad:
    hc_free(out);
    return NULL;
}
