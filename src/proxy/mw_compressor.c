/* Streaming body compressors for the compress middleware (mw_compress.h): gzip through
 * zlib's deflate with a gzip wrapper (RFC 1952), br through the brotli encoder (RFC 7932).
 * Output leaves through the caller's sink in pieces of at most CHUNK bytes. */
#include "proxy/mw_compress.h"
#include "core/hc_alloc.h"

#include <brotli/encode.h>
#include <errno.h>
#include <zlib.h>

#define CHUNK 16384u
/* gzip at zlib's default level, as Traefik; brotli one step under Go's default quality 6,
 * for throughput on small ARM nodes. */
#define GZIP_LEVEL 6
#define BROTLI_QUALITY 5
#define BROTLI_WINDOW 20 /* 1 MiB window bounds the encoder's memory */

struct proxy_mw_compressor {
    proxy_mw_encoding_t enc;
    int finished;
    z_stream z;
    BrotliEncoderState *br;
    unsigned char out[CHUNK];
};

int proxy_mw_compressor_new(proxy_mw_encoding_t enc, proxy_mw_compressor_t **out)
{
    proxy_mw_compressor_t *c;
    if (enc != PROXY_MW_ENC_GZIP && enc != PROXY_MW_ENC_BR)
        return -EINVAL;
    c = hc_calloc(1, sizeof(*c));
    c->enc = enc;
    if (enc == PROXY_MW_ENC_GZIP) {
        /* windowBits 15 + 16 asks zlib for the gzip header and trailer. */
        if (deflateInit2(&c->z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            goto fail;
    } else {
        c->br = BrotliEncoderCreateInstance(NULL, NULL, NULL);
        if (!c->br)
            goto fail;
        BrotliEncoderSetParameter(c->br, BROTLI_PARAM_QUALITY, BROTLI_QUALITY);
        BrotliEncoderSetParameter(c->br, BROTLI_PARAM_LGWIN, BROTLI_WINDOW);
    }
    *out = c;
    return 0;
fail:
    hc_free(c);
    return -ENOMEM;
}

void proxy_mw_compressor_free(proxy_mw_compressor_t *c)
{
    if (!c)
        return;
    if (c->enc == PROXY_MW_ENC_GZIP)
        deflateEnd(&c->z);
    else
        BrotliEncoderDestroyInstance(c->br);
    hc_free(c);
}

static int push_gzip(proxy_mw_compressor_t *c, const void *in, size_t n,
                     proxy_mw_flush_t mode, proxy_mw_sink_fn sink, void *ud)
{
    int flush = mode == PROXY_MW_Z_FINISH ? Z_FINISH
                : mode == PROXY_MW_Z_FLUSH ? Z_SYNC_FLUSH
                                           : Z_NO_FLUSH;
    c->z.next_in = (Bytef *)in;
    c->z.avail_in = (uInt)n;
    for (;;) {
        c->z.next_out = c->out;
        c->z.avail_out = CHUNK;
        int zr = deflate(&c->z, flush);
        if (zr == Z_STREAM_ERROR)
            return -EIO;
        size_t have = CHUNK - c->z.avail_out;
        if (have) {
            int rc = sink(ud, c->out, have);
            if (rc != 0)
                return rc;
        }
        if (flush == Z_FINISH ? zr == Z_STREAM_END : c->z.avail_out != 0)
            return 0;
    }
}

static int push_br(proxy_mw_compressor_t *c, const void *in, size_t n, proxy_mw_flush_t mode,
                   proxy_mw_sink_fn sink, void *ud)
{
    BrotliEncoderOperation op = mode == PROXY_MW_Z_FINISH ? BROTLI_OPERATION_FINISH
                                : mode == PROXY_MW_Z_FLUSH ? BROTLI_OPERATION_FLUSH
                                                           : BROTLI_OPERATION_PROCESS;
    const uint8_t *next_in = in;
    size_t avail_in = n;
    for (;;) {
        uint8_t *next_out = c->out;
        size_t avail_out = CHUNK;
        if (!BrotliEncoderCompressStream(c->br, op, &avail_in, &next_in, &avail_out, &next_out,
                                         NULL))
            return -EIO;
        size_t have = CHUNK - avail_out;
        if (have) {
            int rc = sink(ud, c->out, have);
            if (rc != 0)
                return rc;
        }
        if (avail_in == 0 && !BrotliEncoderHasMoreOutput(c->br) &&
            (op != BROTLI_OPERATION_FINISH || BrotliEncoderIsFinished(c->br)))
            return 0;
    }
}

int proxy_mw_compressor_push(proxy_mw_compressor_t *c, const void *in, size_t n,
                             proxy_mw_flush_t mode, proxy_mw_sink_fn sink, void *ud)
{
    if (c->finished)
        return -EINVAL;
    /* zlib counts input in uInt: feed very large pieces in slices. */
    while (c->enc == PROXY_MW_ENC_GZIP && n > (1u << 30)) {
        int rc = push_gzip(c, in, 1u << 30, PROXY_MW_Z_MORE, sink, ud);
        if (rc != 0)
            return rc;
        in = (const char *)in + (1u << 30);
        n -= 1u << 30;
    }
    int rc = c->enc == PROXY_MW_ENC_GZIP ? push_gzip(c, in, n, mode, sink, ud)
                                         : push_br(c, in, n, mode, sink, ud);
    if (rc == 0 && mode == PROXY_MW_Z_FINISH)
        c->finished = 1;
    return rc;
}
