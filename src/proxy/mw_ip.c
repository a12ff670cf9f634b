/* CIDR sets, Traefik's ipStrategy and the ipAllowList middleware (see mw_ip.h).
 * Follows traefik/traefik pkg/ip (checker.go, strategy.go) and
 * pkg/middlewares/ipallowlist. */
#include "proxy/mw_ip.h"
#include "core/hc_alloc.h"
#include "core/hc_http_status.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a textual address; 4 (IPv4, also IPv4-mapped IPv6) or 16, 0 when not one. */
static int ip_parse(const char *s, uint8_t out[16])
{
    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, s, out) != 1)
        return 0;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out, mapped, 12) == 0) {
        memmove(out, out + 12, 4);
        memset(out + 4, 0, 12);
        return 4;
    }
    return 16;
}

static void ip_mask(uint8_t a[16], int bits)
{
    for (int i = 0; i < 16; i++) {
        int keep = bits - i * 8;
        a[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
}

static int cidr_parse(const char *item, proxy_mw_cidr_t *c)
{
    char host[PROXY_MW_IP_MAX + 8];
    const char *slash = strchr(item, '/');
    size_t hl = slash ? (size_t)(slash - item) : strlen(item);
    if (hl >= sizeof(host))
        return -EINVAL;
    memcpy(host, item, hl);
    host[hl] = '\0';
    int len = ip_parse(host, c->addr);
    if (!len)
        return -EINVAL;
    c->v4 = len == 4;
    c->bits = len * 8;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || b < 0 || b > len * 8)
            return -EINVAL;
        c->bits = (int)b;
    }
    ip_mask(c->addr, c->bits);
    return 0;
}

int proxy_mw_ipset_parse(proxy_mw_ipset_t *set, char *const *items, size_t n, char *err,
                         size_t errlen)
{
    set->v = n ? hc_calloc(n, sizeof(*set->v)) : NULL;
    set->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (cidr_parse(items[i], &set->v[i]) != 0) {
            proxy_mw_ipset_free(set);
            return hc_errf(err, errlen, -EINVAL, "invalid IP or CIDR %s", items[i]);
        }
        set->n++;
    }
    return 0;
}

int proxy_mw_ipset_contains(const proxy_mw_ipset_t *set, const char *ip)
{
    uint8_t a[16];
    int len = ip_parse(ip, a);
    if (!len)
        return -EINVAL;
    for (size_t i = 0; i < set->n; i++) {
        const proxy_mw_cidr_t *c = &set->v[i];
        if (c->v4 != (len == 4))
            continue;
        uint8_t m[16];
        memcpy(m, a, 16);
        ip_mask(m, c->bits);
        if (memcmp(m, c->addr, 16) == 0)
            return 1;
    }
    return 0;
}

void proxy_mw_ipset_free(proxy_mw_ipset_t *set)
{
    hc_free(set->v);
    set->v = NULL;
    set->n = 0;
}

int proxy_mw_ipstrategy_parse(const json_t *obj, proxy_mw_ipstrategy_t *s, char *err,
                              size_t errlen)
{
    long long depth = 0, subnet = 0;
    char **ex = NULL;
    size_t nex = 0;
    memset(s, 0, sizeof(*s));
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return hc_errf(err, errlen, -EINVAL, "ipStrategy: expected an object");
    if (proxy_mw_json_int(obj, "depth", &depth, err, errlen) != 0 ||
        proxy_mw_json_int(obj, "ipv6Subnet", &subnet, err, errlen) != 0)
        return -EINVAL;
    if (depth < 0 || depth > 1024)
        return hc_errf(err, errlen, -EINVAL, "ipStrategy.depth: %lld out of range", depth);
    if (subnet < 0 || subnet > 128)
        return hc_errf(err, errlen, -EINVAL, "ipStrategy.ipv6Subnet: %lld out of range", subnet);
    if (proxy_mw_json_strv(obj, "excludedIPs", &ex, &nex, err, errlen) != 0)
        return -EINVAL;
    int rc = proxy_mw_ipset_parse(&s->excluded, ex, nex, err, errlen);
    proxy_mw_strv_free(ex, nex);
    s->depth = (int)depth;
    s->ipv6_subnet = (int)subnet;
    return rc;
}

void proxy_mw_ipstrategy_free(proxy_mw_ipstrategy_t *s)
{
    proxy_mw_ipset_free(&s->excluded);
}

/* Copies the trimmed text [b, e) into out, or "" when it does not fit. */
static void copy_trimmed(const char *b, const char *e, char out[PROXY_MW_IP_MAX])
{
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t n = (size_t)(e - b);
    if (n >= PROXY_MW_IP_MAX)
        n = 0;
    memcpy(out, b, n);
    out[n] = '\0';
}

/* Walks the comma-separated XFF list from the right: entry number k (1-based) when
 * depth > 0, else the first non-empty entry outside the excluded set. */
static void xff_pick(const proxy_mw_ipstrategy_t *s, const char *xff, char out[PROXY_MW_IP_MAX])
{
    size_t end = strlen(xff);
    int k = 0;
    for (;;) {
        size_t b = end;
        while (b > 0 && xff[b - 1] != ',')
            b--;
        k++;
        copy_trimmed(xff + b, xff + end, out);
        if (s->depth > 0 && k == s->depth)
            return;
        if (s->depth == 0 && out[0] && proxy_mw_ipset_contains(&s->excluded, out) != 1)
            return;
        if (b == 0)
            break;
        end = b - 1;
    }
    out[0] = '\0';
}

/* IPv6 addresses are reduced to their ipv6Subnet network (Traefik v3.1+). */
static void apply_subnet(const proxy_mw_ipstrategy_t *s, char out[PROXY_MW_IP_MAX])
{
    uint8_t a[16];
    if (s->ipv6_subnet <= 0 || ip_parse(out, a) != 16)
        return;
    ip_mask(a, s->ipv6_subnet);
    if (!inet_ntop(AF_INET6, a, out, PROXY_MW_IP_MAX))
        out[0] = '\0';
}

void proxy_mw_ipstrategy_get(const proxy_mw_ipstrategy_t *s, const proxy_mw_req_t *req,
                             char out[PROXY_MW_IP_MAX])
{
    out[0] = '\0';
    if (s->depth > 0 || s->excluded.n > 0) {
        const char *xff = proxy_mw_headers_get(&req->headers, "X-Forwarded-For");
        if (xff)
            xff_pick(s, xff, out);
    } else {
        snprintf(out, PROXY_MW_IP_MAX, "%s", req->peer_ip ? req->peer_ip : "");
    }
    apply_subnet(s, out);
}

typedef struct ipallow_cfg {
    proxy_mw_ipset_t allowed;
    proxy_mw_ipstrategy_t strategy;
    int reject_status;
} ipallow_cfg_t;

int proxy_mw_ipallow_parse(const json_t *spec, const char *name, void **cfg, char *err,
                           size_t errlen)
{
    char **ranges = NULL;
    size_t n = 0;
    long long status = 403;
    ipallow_cfg_t *c = hc_calloc(1, sizeof(*c));
    int rc = proxy_mw_json_strv(spec, "sourceRange", &ranges, &n, err, errlen);
    if (rc != 0)
        goto fail;
    if (n == 0) {
        rc = hc_errf(err, errlen, -EINVAL, "sourceRange is empty");
        goto fail_ranges;
    }
    rc = proxy_mw_ipset_parse(&c->allowed, ranges, n, err, errlen);
    if (rc != 0)
        goto fail_ranges;
    rc = proxy_mw_json_int(spec, "rejectStatusCode", &status, err, errlen);
    if (rc == 0 && (status < 100 || status > 599))
        rc = hc_errf(err, errlen, -EINVAL, "rejectStatusCode: %lld is not a status", status);
    if (rc != 0)
        goto fail_set;
    rc = proxy_mw_ipstrategy_parse(proxy_mw_json_get(spec, "ipStrategy"), &c->strategy, err,
                                   errlen);
    if (rc != 0)
        goto fail_set;
    c->reject_status = (int)status;
    proxy_mw_strv_free(ranges, n);
    *cfg = c;
    return 0;
fail_set:
    proxy_mw_ipset_free(&c->allowed);
fail_ranges:
    proxy_mw_strv_free(ranges, n);
fail:
    hc_free(c);
    return rc;
}

void proxy_mw_ipallow_free(void *cfg)
{
    ipallow_cfg_t *c = cfg;
    if (!c)
        return;
    proxy_mw_ipset_free(&c->allowed);
    proxy_mw_ipstrategy_free(&c->strategy);
    hc_free(c);
}

/* Reduces "host:port" and "[host]:port" to the host, as Traefik's checker does
 * (net.SplitHostPort) before matching: some load balancers put ports in X-Forwarded-For.
 * Anything else, a bare IPv6 address among it, is kept whole. */
static void strip_port(char ip[PROXY_MW_IP_MAX])
{
    size_t n;
    proxy_mw_host_split(ip, &n);
    if (ip[n] != ':')
        return;
    int bracket = ip[0] == '[';
    memmove(ip, ip + bracket, n - 2 * bracket);
    ip[n - 2 * bracket] = '\0';
}

proxy_mw_verdict_t proxy_mw_ipallow_request(const void *cfg, proxy_mw_req_t *req,
                                            proxy_mw_resp_t *resp)
{
    const ipallow_cfg_t *c = cfg;
    char ip[PROXY_MW_IP_MAX];
    proxy_mw_ipstrategy_get(&c->strategy, req, ip);
    strip_port(ip);
    if (ip[0] && proxy_mw_ipset_contains(&c->allowed, ip) == 1)
        return PROXY_MW_NEXT;
    return proxy_mw_resp_text(resp, c->reject_status, NULL, hc_http_status_text(c->reject_status));
}

int proxy_mw_source_parse(const json_t *obj, const char *what, int host_default,
                          proxy_mw_source_t *s, char *err, size_t errlen)
{
    int host = 0;
    memset(s, 0, sizeof(*s));
    json_t *ips = obj ? proxy_mw_json_get(obj, "ipStrategy") : NULL;
    if (ips && json_is_null(ips))
        ips = NULL;
    if (obj && !json_is_null(obj) &&
        (proxy_mw_json_str(obj, "requestHeaderName", &s->header, err, errlen) != 0 ||
         proxy_mw_json_bool(obj, "requestHost", &host, err, errlen) != 0)) {
        proxy_mw_source_free(s);
        return -EINVAL;
    }
    if (s->header && !s->header[0]) {
        hc_free(s->header);
        s->header = NULL;
    }
    if ((ips != NULL) + (s->header != NULL) + host > 1) {
        proxy_mw_source_free(s);
        return hc_errf(err, errlen, -EINVAL,
                       "%s.sourceCriterion: ipStrategy, requestHeaderName and requestHost are "
                       "mutually exclusive",
                       what);
    }
    s->kind = s->header                        ? PROXY_MW_SRC_HEADER
              : host || (host_default && !ips) ? PROXY_MW_SRC_HOST
                                               : PROXY_MW_SRC_IP;
    return proxy_mw_ipstrategy_parse(ips, &s->strategy, err, errlen);
}

void proxy_mw_source_free(proxy_mw_source_t *s)
{
    proxy_mw_ipstrategy_free(&s->strategy);
    hc_free(s->header);
    s->header = NULL;
}

int proxy_mw_source_get(const proxy_mw_source_t *s, const proxy_mw_req_t *req, const char **src,
                        char ip[PROXY_MW_IP_MAX])
{
    *src = "";
    if (s->kind == PROXY_MW_SRC_HEADER) {
        /* oxy's header extractor: a missing field is the "" source, no error */
        const char *v = proxy_mw_headers_get(&req->headers, s->header);
        *src = v ? v : "";
        return 0;
    }
    if (s->kind == PROXY_MW_SRC_HOST) {
        *src = req->host ? req->host : "";
        return 0;
    }
    if (s->strategy.depth == 0 && s->strategy.excluded.n == 0 && !req->peer_ip[0])
        return -ENOENT;
    proxy_mw_ipstrategy_get(&s->strategy, req, ip);
    *src = ip;
    return 0;
}
