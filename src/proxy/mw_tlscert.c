/* passTLSClientCert (mw_tlscert.h): the certificate's PEM and fields in Traefik's
 * formats. Info, per certificate: Subject="DC=..,C=..,ST=..,L=..,O=..,OU=..,SN=..,CN=..";
 * Issuer="..." (no OU); SerialNumber="<decimal>"; NB="<unix>"; NA="<unix>";
 * SAN="<dns>,<email>,<ip>,<uri>": fields joined by ';', certificates by ','; the whole
 * query-escaped. DN parts come in that order whatever the certificate's order; the
 * lists (DC, C, ST, L, O, OU) keep theirs; SN and CN are the last of their kind. */
#include "proxy/mw_tlscert.h"

#include "core/hc_alloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

#define CERT_FIELD "X-Forwarded-Tls-Client-Cert"
#define INFO_FIELD "X-Forwarded-Tls-Client-Cert-Info"

/* The DN parts in Traefik's order; `list` ones write every entry, the others the last. */
static const struct {
    const char *key, *label;
    int nid, list;
} dn_parts[] = {
    {"domainComponent", "DC", NID_domainComponent, 1},
    {"country", "C", NID_countryName, 1},
    {"province", "ST", NID_stateOrProvinceName, 1},
    {"locality", "L", NID_localityName, 1},
    {"organization", "O", NID_organizationName, 1},
    {"organizationalUnit", "OU", NID_organizationalUnitName, 1},
    {"serialNumber", "SN", NID_serialNumber, 0},
    {"commonName", "CN", NID_commonName, 0},
};
#define DN_PARTS (sizeof(dn_parts) / sizeof(dn_parts[0]))
#define DN_OU 5

typedef struct tc_cfg {
    int pem, info;
    int not_after, not_before, sans, serial;
    int subject, issuer;               /* the sections are given */
    int subj[DN_PARTS], iss[DN_PARTS]; /* which parts */
} tc_cfg_t;

static int dn_parse(const json_t *o, const char *what, int issuer, int *on, int *parts, char *err,
                    size_t errlen)
{
    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return hc_errf(err, errlen, -EINVAL, "passTLSClientCert.info.%s must be a mapping", what);
    *on = 1;
    for (size_t i = 0; i < DN_PARTS; i++)
        if ((!issuer || i != DN_OU) &&
            proxy_mw_json_bool(o, dn_parts[i].key, &parts[i], err, errlen) != 0)
            return -EINVAL;
    return 0;
}

int proxy_mw_tlscert_parse(const json_t *spec, const char *name, void **cfg, char *err,
                           size_t errlen)
{
    (void)name;
    tc_cfg_t *c = hc_calloc(1, sizeof(*c));
    const json_t *info = proxy_mw_json_get(spec, "info");
    int rc = proxy_mw_json_bool(spec, "pem", &c->pem, err, errlen);
    if (!rc && info && !json_is_null(info) && !json_is_object(info))
        rc = hc_errf(err, errlen, -EINVAL, "passTLSClientCert.info must be a mapping");
    if (!rc && json_is_object(info)) {
        c->info = 1;
        static const char *const keys[] = {"notAfter", "notBefore", "sans", "serialNumber"};
        int *dst[] = {&c->not_after, &c->not_before, &c->sans, &c->serial};
        for (size_t i = 0; !rc && i < 4; i++)
            rc = proxy_mw_json_bool(info, keys[i], dst[i], err, errlen);
        if (!rc)
            rc = dn_parse(proxy_mw_json_get(info, "subject"), "subject", 0, &c->subject, c->subj,
                          err, errlen);
        if (!rc)
            rc = dn_parse(proxy_mw_json_get(info, "issuer"), "issuer", 1, &c->issuer, c->iss, err,
                          errlen);
    }
    if (rc) {
        hc_free(c);
        return -EINVAL;
    }
    *cfg = c;
    return 0;
}

void proxy_mw_tlscert_free(void *cfg)
{
    hc_free(cfg);
}

/* ---- PEM ---- */

/* A PEM body without its armour and line breaks is the base64 of the DER. */
static void pem_append(hc_buf_t *out, X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    size_t need = 4 * (((size_t)n + 2) / 3) + 1;
    if (n > 0 && hc_buf_reserve(out, need) == 0)
        out->len += (size_t)EVP_EncodeBlock((unsigned char *)out->base + out->len, der, n);
    OPENSSL_free(der);
}

/* ---- info ---- */

/* Values are appended whole, NUL bytes too (escaped with the rest at the end): a name
 * "admin\0.evil" must not read as "admin". */
static void entry_append(hc_buf_t *out, const char *label, const X509_NAME_ENTRY *e)
{
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (n > 0) {
        hc_buf_printf(out, "%s=", label);
        (void)hc_buf_append(out, utf8, (size_t)n);
        (void)hc_buf_append(out, ",", 1);
    }
    OPENSSL_free(utf8);
}

/* "<parts>" of a DN, each followed by ','; the caller drops the last one. */
static void dn_append(hc_buf_t *out, const X509_NAME *name, const int *parts)
{
    for (size_t i = 0; i < DN_PARTS; i++) {
        if (!parts[i])
            continue;
        int last = -1;
        for (int k = -1; (k = X509_NAME_get_index_by_NID(name, dn_parts[i].nid, k)) >= 0;) {
            if (dn_parts[i].list)
                entry_append(out, dn_parts[i].label, X509_NAME_get_entry(name, k));
            last = k;
        }
        if (!dn_parts[i].list && last >= 0)
            entry_append(out, dn_parts[i].label, X509_NAME_get_entry(name, last));
    }
}

/* `Label="<dn>"` when the DN has any of the parts. */
static void dn_field(hc_buf_t *out, const char *label, const X509_NAME *name, const int *parts)
{
    hc_buf_t v;
    hc_buf_init(&v, 0);
    dn_append(&v, name, parts);
    if (v.len) { /* less the last separator */
        hc_buf_printf(out, "%s%s=\"", out->len ? ";" : "", label);
        (void)hc_buf_append(out, v.base, v.len - 1);
        (void)hc_buf_append(out, "\"", 1);
    }
    hc_buf_free(&v);
}

/* Go's uint64(t.Unix()): a time before 1970 wraps, as there. */
static unsigned long long unix_time(const ASN1_TIME *t)
{
    struct tm tm;
    return t && ASN1_TIME_to_tm(t, &tm) == 1 ? (unsigned long long)(long long)timegm(&tm) : 0;
}

/* Go's order: DNS names, e-mail addresses, IP addresses, URIs. */
static void sans_field(hc_buf_t *out, X509 *x)
{
    static const int kinds[] = {GEN_DNS, GEN_EMAIL, GEN_IPADD, GEN_URI};
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    hc_buf_t v;
    hc_buf_init(&v, 0);
    for (size_t k = 0; k < 4; k++) {
        for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
            if (g->type != kinds[k])
                continue;
            char ip[INET6_ADDRSTRLEN] = "";
            const ASN1_STRING *s = g->type == GEN_IPADD ? g->d.iPAddress : g->d.ia5;
            const unsigned char *d = ASN1_STRING_get0_data(s);
            int n = ASN1_STRING_length(s);
            if (g->type == GEN_IPADD) { /* Go's net.IP.String: a v4-mapped one as v4 */
                int v4 = n == 4 || (n == 16 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)d));
                if (n != 4 && n != 16)
                    continue; /* Go refuses such a certificate */
                inet_ntop(v4 ? AF_INET : AF_INET6, v4 && n == 16 ? d + 12 : d, ip, sizeof(ip));
                d = (const unsigned char *)ip;
                n = (int)strlen(ip);
            }
            if (v.len)
                (void)hc_buf_append(&v, ",", 1);
            (void)hc_buf_append(&v, d, (size_t)n);
        }
    }
    GENERAL_NAMES_free(gens);
    if (v.len) {
        hc_buf_printf(out, "%sSAN=\"", out->len ? ";" : "");
        (void)hc_buf_append(out, v.base, v.len);
        (void)hc_buf_append(out, "\"", 1);
    }
    hc_buf_free(&v);
}

static void info_append(hc_buf_t *out, const tc_cfg_t *c, X509 *x)
{
    hc_buf_t v;
    hc_buf_init(&v, 0);
    if (c->subject)
        dn_field(&v, "Subject", X509_get_subject_name(x), c->subj);
    if (c->issuer)
        dn_field(&v, "Issuer", X509_get_issuer_name(x), c->iss);
    if (c->serial) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *dec = bn ? BN_bn2dec(bn) : NULL;
        if (dec && *dec)
            hc_buf_printf(&v, "%sSerialNumber=\"%s\"", v.len ? ";" : "", dec);
        OPENSSL_free(dec);
        BN_free(bn);
    }
    if (c->not_before)
        hc_buf_printf(&v, "%sNB=\"%llu\"", v.len ? ";" : "", unix_time(X509_get0_notBefore(x)));
    if (c->not_after)
        hc_buf_printf(&v, "%sNA=\"%llu\"", v.len ? ";" : "", unix_time(X509_get0_notAfter(x)));
    if (c->sans)
        sans_field(&v, x);
    if (v.len)
        (void)hc_buf_append(out, v.base, v.len);
    hc_buf_free(&v);
}

void proxy_mw_tlscert_apply(const void *cfg, proxy_mw_req_t *req, X509 *leaf, STACK_OF(X509) *chain)
{
    const tc_cfg_t *c = cfg;
    proxy_mw_headers_del(&req->headers, CERT_FIELD);
    proxy_mw_headers_del(&req->headers, INFO_FIELD);
    if (!leaf || (!c->pem && !c->info))
        return;
    int n = 1 + (chain ? sk_X509_num(chain) : 0);
    hc_buf_t pem, info, esc;
    hc_buf_init(&pem, 0);
    hc_buf_init(&info, 0);
    hc_buf_init(&esc, 0);
    for (int i = 0; i < n; i++) {
        X509 *x = i ? sk_X509_value(chain, i - 1) : leaf;
        if (c->pem) {
            if (i)
                (void)hc_buf_append(&pem, ",", 1);
            pem_append(&pem, x);
        }
        if (c->info) {
            if (i)
                (void)hc_buf_append(&info, ",", 1);
            info_append(&info, c, x);
        }
    }
    if (c->pem && hc_buf_append(&pem, "", 1) == 0)
        proxy_mw_headers_add(&req->headers, CERT_FIELD, pem.base);
    if (c->info && proxy_mw_query_escape(&esc, info.base ? info.base : "", info.len) == 0 &&
        hc_buf_append(&esc, "", 1) == 0)
        proxy_mw_headers_add(&req->headers, INFO_FIELD, esc.base);
    hc_buf_free(&pem);
    hc_buf_free(&info);
    hc_buf_free(&esc);
}
