/* The encodedCharacters middleware (mw_encoded.h). */
#include "proxy/mw_encoded.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"

#include <errno.h>
#include <stdint.h>

/* The escapes the spec can allow, by the byte they decode to. */
static const struct {
    const char *key;
    unsigned char byte;
} escapes[] = {
    {"allowEncodedSlash", '/'},       {"allowEncodedBackSlash", '\\'},
    {"allowEncodedNullCharacter", 0}, {"allowEncodedSemicolon", ';'},
    {"allowEncodedPercent", '%'},     {"allowEncodedQuestionMark", '?'},
    {"allowEncodedHash", '#'},
};

typedef struct encoded_cfg {
    uint8_t denied[256]; /* 1: an escape decoding to this byte is refused */
} encoded_cfg_t;

int proxy_mw_encoded_parse(const json_t *spec, const char *name, void **cfg, char *err,
                           size_t errlen)
{
    (void)name;
    encoded_cfg_t *c = hc_calloc(1, sizeof(*c));
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        int allow = 0;
        if (proxy_mw_json_bool(spec, escapes[i].key, &allow, err, errlen) != 0) {
            hc_free(c);
            return -EINVAL;
        }
        c->denied[escapes[i].byte] = !allow;
    }
    *cfg = c;
    return 0;
}

void proxy_mw_encoded_free(void *cfg)
{
    hc_free(cfg);
}

proxy_mw_verdict_t proxy_mw_encoded_request(const void *cfg, proxy_mw_req_t *req,
                                            proxy_mw_resp_t *resp)
{
    const encoded_cfg_t *c = cfg;
    for (const char *p = req->path; *p; p++) {
        if (*p != '%')
            continue;
        int hi = hc_hex_digit((unsigned char)p[1]),
            lo = hi < 0 ? -1 : hc_hex_digit((unsigned char)p[2]);
        if (lo < 0 || c->denied[hi << 4 | lo])
            return proxy_mw_resp_text(resp, 400, NULL, ""); /* Traefik: WriteHeader alone */
        p += 2;
    }
    return PROXY_MW_NEXT;
}
