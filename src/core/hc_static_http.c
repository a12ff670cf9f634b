/* hc_static bound to the HTTP server: reads the request fields hc_static_respond needs
 * and sends its answer with hc_http_respond. Kept apart from hc_static.c so the asset
 * logic and its unit test need no server. */
#include "core/hc_http_server.h"
#include "core/hc_static.h"

#include <errno.h>
#include <string.h>

int hc_static_serve(const hc_static_t *s, hc_http_req_t *req)
{
    /* The server drops the body of a HEAD response itself but sizes Content-Length from
     * it, so HEAD is answered as the GET it mirrors (RFC 9110 §9.3.2). */
    hc_static_request_t in = {
        .method = req->is_head ? "GET" : req->method,
        .path = req->target,
        .accept_encoding = hc_http_req_header(req, "Accept-Encoding", NULL),
        .if_none_match = hc_http_req_header(req, "If-None-Match", NULL),
    };
    hc_static_response_t res;
    hc_static_respond(s, &in, &res);
    if (res.status == 404)
        return -ENOENT;
    const char *type = NULL;
    for (size_t i = 0; i < res.nheaders; i++) {
        const hc_static_header_t *h = &res.headers[i];
        if (strcmp(h->name, "Content-Type") == 0)
            type = h->value;
        else if (strcmp(h->name, "Content-Length") != 0) { /* the server writes it */
            int rc = hc_http_res_header(req, h->name, h->value);
            if (rc)
                return rc;
        }
    }
    if (res.status == 405)
        return hc_http_respond_error(req, 405, "method not allowed");
    if (res.status == 406)
        return hc_http_respond_error(req, 406, "no acceptable content coding");
    return hc_http_respond(req, res.status, type, (const char *)res.body, res.body_len);
}
