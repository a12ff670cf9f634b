/* The compress middleware (traefik/traefik pkg/middlewares/compress): Accept-Encoding
 * negotiation at request time, the compress-or-not decision on the response headers,
 * and a streaming gzip (zlib) / br (brotli) compressor with bounded memory. zstd is
 * accepted in the configuration but never chosen: hearth links no zstd encoder. */
#ifndef PROXY_MW_COMPRESS_H
#define PROXY_MW_COMPRESS_H

#include "proxy/mw.h"

typedef enum proxy_mw_encoding {
    PROXY_MW_ENC_IDENTITY = 0, /* do not compress */
    PROXY_MW_ENC_GZIP,
    PROXY_MW_ENC_BR,
} proxy_mw_encoding_t;

/** Parses a `compress` spec: encodings (default [gzip, br, zstd]; order breaks q ties),
 *  defaultEncoding, excludedContentTypes / includedContentTypes (mutually exclusive),
 *  minResponseBodyBytes (default 1024). Contract of proxy_mw_parse_fn (mw.h). */
int proxy_mw_compress_parse(const json_t *spec, const char *name, void **cfg, char *err,
                            size_t errlen);
/** Frees a config from proxy_mw_compress_parse; NULL is fine. */
void proxy_mw_compress_free(void *cfg);
/** Request phase: the encoding for this request. IDENTITY for HEAD, a request
 *  Content-Type of application/grpc, an empty Accept-Encoding, or nothing acceptable;
 *  no Accept-Encoding gives defaultEncoding (or IDENTITY when unset). q=0 excludes a
 *  coding, unknown codings are ignored, the highest q wins with list order breaking
 *  ties, and `*` means defaultEncoding, else the first configured encoding. */
proxy_mw_encoding_t proxy_mw_compress_negotiate(const void *cfg, const proxy_mw_req_t *req);
/** Response phase, on the upstream headers in resp. body_len is the body length when
 *  known, -1 for a streamed body (no Content-Length). Returns 1 and edits resp
 *  (Content-Encoding set, Content-Length and Accept-Ranges dropped, Vary: Accept-Encoding
 *  added) when the body is to be compressed with enc; returns 0 and leaves resp alone
 *  (but for Vary) when enc is IDENTITY, the status has no body (1xx, 204, 304),
 *  Content-Encoding or Content-Range is set, a known length is under
 *  minResponseBodyBytes, or the Content-Type is excluded (or not included). A streamed
 *  body is compressed whatever its size, as with Traefik: Go's reverse proxy flushes a
 *  streamed response after each write, and Traefik's compress writer starts compressing
 *  on a flush even short of the minimum. The caller flushes after every piece
 *  (PROXY_MW_Z_FLUSH). */
int proxy_mw_compress_response(const void *cfg, proxy_mw_encoding_t enc,
                               proxy_mw_resp_t *resp, long long body_len);
/** The Content-Encoding token of enc ("gzip", "br", "identity"). */
const char *proxy_mw_encoding_name(proxy_mw_encoding_t enc);

typedef struct proxy_mw_compressor proxy_mw_compressor_t;

typedef enum proxy_mw_flush {
    PROXY_MW_Z_MORE = 0, /* more input follows; output whenever blocks fill */
    PROXY_MW_Z_FLUSH,    /* emit everything so far (streaming responses, SSE) */
    PROXY_MW_Z_FINISH,   /* last piece: emit the end of the stream */
} proxy_mw_flush_t;

/** Receives compressed bytes; returns 0 or a negative errno that stops the push. */
typedef int (*proxy_mw_sink_fn)(void *ud, const void *p, size_t n);

/** A compressor for enc (GZIP or BR; -EINVAL otherwise) into *out. Its memory is bounded
 *  by the codec's window and state (a few hundred KiB), whatever the body size. */
int proxy_mw_compressor_new(proxy_mw_encoding_t enc, proxy_mw_compressor_t **out);
/** Feeds n bytes (n may be 0) and hands all output produced to sink, in pieces of at
 *  most 16 KiB, before returning. After PROXY_MW_Z_FINISH no more input is accepted.
 *  Returns 0, the sink's error, or -EINVAL (use after finish) / -EIO (codec failure). */
int proxy_mw_compressor_push(proxy_mw_compressor_t *c, const void *in, size_t n,
                             proxy_mw_flush_t mode, proxy_mw_sink_fn sink, void *ud);
/** Frees c; NULL is fine. */
void proxy_mw_compressor_free(proxy_mw_compressor_t *c);

#endif
