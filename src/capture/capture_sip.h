/* SIP messages as hearth capture indexes them: the start line, every header (compact
 * forms and folded lines included), the fields search and correlation need, and the SDP
 * media addresses (also inside multipart bodies). Pure functions; views point into the
 * message and are not NUL-terminated. */
#ifndef CAPTURE_SIP_H
#define CAPTURE_SIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct capture_str {
    const char *p;
    size_t len;
} capture_str_t;

#define CAPTURE_SIP_MAX_MEDIA 4

typedef struct capture_sip {
    int is_request;
    capture_str_t method; /* request method */
    capture_str_t ruri;   /* request-URI */
    capture_str_t ruri_user;
    capture_str_t ruri_host;
    int status;           /* response code, 0 for requests */
    capture_str_t reason; /* response reason phrase */
    capture_str_t call_id;
    capture_str_t from_user, from_host, from_tag;
    capture_str_t to_user, to_host, to_tag;
    capture_str_t pai_user; /* P-Asserted-Identity */
    uint32_t cseq_num;
    capture_str_t cseq_method;
    capture_str_t cseq;       /* the whole CSeq value, "1 INVITE" */
    capture_str_t via;        /* the top Via value (first of a comma-joined list) */
    capture_str_t via_branch; /* top Via */
    capture_str_t user_agent; /* User-Agent or Server */
    capture_str_t server;     /* Server alone */
    capture_str_t reason_hdr; /* Reason header */
    capture_str_t auth_user;  /* username= in Authorization / Proxy-Authorization */
    capture_str_t x_cid;      /* X-CID (A/B leg correlation) */
    capture_str_t contact_user, contact_host;
    long content_length; /* -1 when absent */
    capture_str_t content_type;
    capture_str_t body;
    /* SDP: c= address and m= ports, for RTP correlation */
    capture_str_t sdp_ip;
    unsigned nmedia;
    struct {
        capture_str_t type;
        uint16_t port;
    } media[CAPTURE_SIP_MAX_MEDIA];
} capture_sip_t;

/** Parses one SIP message. Returns 0, or -EINVAL when it is not SIP (no valid start line
 *  or no Call-ID/CSeq); fields not present stay empty. */
int capture_sip_parse(const char *msg, size_t len, capture_sip_t *s);

/** Looks up a header by name (case-insensitive; compact forms accepted) and returns its
 *  (unfolded view of the) first value, or an empty view. */
capture_str_t capture_sip_header(const char *msg, size_t len, const char *name);

/** Case-insensitive compare of a view with a C string. */
int capture_str_ieq(capture_str_t s, const char *c);

#endif
