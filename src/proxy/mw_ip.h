/* Client-IP middlewares and their shared pieces: CIDR sets, Traefik's ipStrategy (which
 * address stands for the client: the peer, or an X-Forwarded-For entry), and the
 * ipAllowList middleware (v2 name ipWhiteList) built from both; and sourceCriterion, the
 * source key of rateLimit and inFlightReq built on the strategy. */
#ifndef PROXY_MW_IP_H
#define PROXY_MW_IP_H

#include "proxy/mw.h"

#include <stdint.h>

/* Long enough for any textual IPv6 address (INET6_ADDRSTRLEN, 46) in brackets with a
 * port, as an X-Forwarded-For entry may carry one. */
#define PROXY_MW_IP_MAX 56

typedef struct proxy_mw_cidr {
    uint8_t addr[16]; /* network, IPv4 in the first 4 bytes */
    int bits;
    int v4;
} proxy_mw_cidr_t;

/* A set of addresses and networks. Owns v. */
typedef struct proxy_mw_ipset {
    proxy_mw_cidr_t *v;
    size_t n;
} proxy_mw_ipset_t;

/** Parses items ("10.0.0.0/8", "192.0.2.7", "2001:db8::/32") into set. Returns 0 or
 *  -EINVAL naming the bad item in err (set is then empty). */
int proxy_mw_ipset_parse(proxy_mw_ipset_t *set, char *const *items, size_t n, char *err,
                         size_t errlen);
/** 1 when ip (text) is inside one entry, 0 when not, -EINVAL when ip is not an address.
 *  An IPv4-mapped IPv6 address counts as IPv4, as Go's net.IP.To4 does. */
int proxy_mw_ipset_contains(const proxy_mw_ipset_t *set, const char *ip);
void proxy_mw_ipset_free(proxy_mw_ipset_t *set);

/* Traefik ipStrategy (pkg/ip/strategy.go). */
typedef struct proxy_mw_ipstrategy {
    int depth;                  /* > 0: the depth-th X-Forwarded-For entry from the right */
    proxy_mw_ipset_t excluded;  /* else if non-empty: first entry from the right not in it */
    int ipv6_subnet;            /* > 0: IPv6 results are masked to this prefix length */
} proxy_mw_ipstrategy_t;

/** Reads {depth, excludedIPs, ipv6Subnet} from obj (NULL or absent fields: the peer
 *  address). Returns 0 or -EINVAL with err. Free with proxy_mw_ipstrategy_free. */
int proxy_mw_ipstrategy_parse(const json_t *obj, proxy_mw_ipstrategy_t *s, char *err,
                              size_t errlen);
void proxy_mw_ipstrategy_free(proxy_mw_ipstrategy_t *s);
/** Writes the client address chosen by s for req into out (PROXY_MW_IP_MAX bytes).
 *  Only the first X-Forwarded-For header is read, as Go's Header.Get does. The result is
 *  "" when depth exceeds the entries or every entry is excluded. */
void proxy_mw_ipstrategy_get(const proxy_mw_ipstrategy_t *s, const proxy_mw_req_t *req,
                             char out[PROXY_MW_IP_MAX]);

/* Traefik's sourceCriterion: what names a request's source (rateLimit, inFlightReq). */
typedef enum proxy_mw_source_kind {
    PROXY_MW_SRC_IP,     /* the address ipStrategy picks */
    PROXY_MW_SRC_HEADER, /* a request field's value */
    PROXY_MW_SRC_HOST,   /* the Host */
} proxy_mw_source_kind_t;

typedef struct proxy_mw_source {
    proxy_mw_source_kind_t kind;
    proxy_mw_ipstrategy_t strategy; /* PROXY_MW_SRC_IP */
    char *header;                   /* PROXY_MW_SRC_HEADER */
} proxy_mw_source_t;

/** Reads a sourceCriterion obj: at most one of ipStrategy {...}, requestHeaderName,
 *  requestHost. None (or obj absent): the peer address, or the Host with host_default
 *  (inFlightReq's default). what names the middleware in err. Returns 0 or -EINVAL;
 *  free with proxy_mw_source_free. */
int proxy_mw_source_parse(const json_t *obj, const char *what, int host_default,
                          proxy_mw_source_t *s, char *err, size_t errlen);
void proxy_mw_source_free(proxy_mw_source_t *s);
/** Points *src at req's source (an address written into ip, a field value or the host;
 *  a missing field is "", as oxy's header extractor). -ENOENT when the request has no
 *  address: *src is then "". */
int proxy_mw_source_get(const proxy_mw_source_t *s, const proxy_mw_req_t *req, const char **src,
                        char ip[PROXY_MW_IP_MAX]);

/** ipAllowList / ipWhiteList spec: {sourceRange: [...] (required), ipStrategy: {...},
 *  rejectStatusCode (default 403)}. Contract of proxy_mw_parse_fn (mw.h). */
int proxy_mw_ipallow_parse(const json_t *spec, const char *name, void **cfg, char *err,
                           size_t errlen);
/** Frees a config from proxy_mw_ipallow_parse; NULL is fine. */
void proxy_mw_ipallow_free(void *cfg);
/** A client address outside sourceRange (or none at all) gets rejectStatusCode with its
 *  status text as body; otherwise PROXY_MW_NEXT. */
proxy_mw_verdict_t proxy_mw_ipallow_request(const void *cfg, proxy_mw_req_t *req,
                                            proxy_mw_resp_t *resp);

#endif
