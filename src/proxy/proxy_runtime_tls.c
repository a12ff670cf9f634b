/* The TLS part of a generation (proxy_runtime.h): the certificates of the configuration
 * (Ingress spec.tls Secrets and file-provider tls.certificates) gathered into one
 * hc_tls SNI set with a generated default, their facts for metrics and the API, and
 * the TLSOption `default` mapped to hc_tls server options. */
#include "proxy/proxy_runtime_int.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_yaml.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Traefik's fallback certificate's subject (pkg/tls/generate). */
#define DEFAULT_CERT_CN "TRAEFIK DEFAULT CERT"
#define PEM_FILE_MAX (1u << 20)

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the facts of the leaf certificate of pem into ci (name already set). */
static int cert_facts(const char *pem, size_t len, proxy_gen_cert_t *ci)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!x)
        return -EINVAL;
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    ci->cn = hc_strdup(cn);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *dec = bn ? BN_bn2dec(bn) : NULL; /* decimal, as Go's SerialNumber.String() */
    ci->serial = hc_strdup(dec ? dec : "");
    OPENSSL_free(dec);
    BN_free(bn);
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
        ci->not_after = (int64_t)timegm(&tm);
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type != GEN_DNS)
            continue;
        const unsigned char *s = ASN1_STRING_get0_data(gn->d.dNSName);
        ci->sans = hc_realloc(ci->sans, (ci->nsans + 1) * sizeof(char *));
        ci->sans[ci->nsans++] = hc_memdup(s, (size_t)ASN1_STRING_length(gn->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    X509_free(x);
    if (ci->nsans > 1) /* Traefik's metric label lists them sorted */
        qsort(ci->sans, ci->nsans, sizeof(*ci->sans), str_cmp);
    return 0;
}

/* The PEM bytes of one side of a certificate: inline, or read from its file. Returns
 * a pointer to borrow (inline) or to free (*owned), or NULL with err. */
static const char *pem_of(const char *inline_pem, size_t inline_len, const char *file,
                          size_t *len, char **owned, char *err, size_t errlen)
{
    *owned = NULL;
    if (inline_pem) {
        *len = inline_len;
        return inline_pem;
    }
    if (!file) {
        snprintf(err, errlen, "no PEM data");
        return NULL;
    }
    int rc = hc_yaml_read_file(file, PEM_FILE_MAX, owned, len);
    if (rc) {
        snprintf(err, errlen, "cannot read %s: %s", file, strerror(-rc));
        return NULL;
    }
    return *owned;
}

static void cert_add(proxy_gen_t *g, const proxy_cert_t *pc)
{
    char err[256] = "", *cown = NULL, *kown = NULL;
    size_t clen = 0, klen = 0;
    const char *crt = pem_of(pc->cert, pc->cert_len, pc->cert_file, &clen, &cown, err, sizeof(err));
    const char *key = crt ? pem_of(pc->key, pc->key_len, pc->key_file, &klen, &kown, err,
                                   sizeof(err))
                          : NULL;
    if (!crt || !key ||
        hc_tls_certs_add_pem(g->certs, crt, clen, key, klen, 0, err, sizeof(err)) != 0) {
        proxy_gen_error_add(g, pc->source, "certificate", "", pc->name, "%s", err);
        goto out;
    }
    g->cert_info = hc_realloc(g->cert_info, (g->ncert_info + 1) * sizeof(*g->cert_info));
    proxy_gen_cert_t *ci = &g->cert_info[g->ncert_info++];
    memset(ci, 0, sizeof(*ci));
    ci->name = hc_strdup(pc->name);
    if (cert_facts(crt, clen, ci) != 0) {
        ci->cn = hc_strdup("");
        ci->serial = hc_strdup("");
    }
out:
    hc_free(cown);
    hc_free(kown);
}

/* TLSOption `default` (Traefik pkg/tls: minVersion, cipherSuites). */
static void tls_options(proxy_gen_t *g)
{
    const proxy_config_t *cfg = g->cfg;
    for (size_t i = 0; i < cfg->ntls_options; i++) {
        const proxy_tls_option_t *o = &cfg->tls_options[i];
        if (strcmp(o->name, "default") != 0)
            continue;
        const char *minv = json_string_value(proxy_mw_json_get(o->spec, "minVersion"));
        if (minv && *minv)
            g->tls_min_version = hc_strdup(minv);
        const json_t *cs = proxy_mw_json_get(o->spec, "cipherSuites");
        hc_buf_t b;
        hc_buf_init(&b, 4096);
        size_t k;
        const json_t *v;
        json_array_foreach(cs, k, v)
        {
            if (json_is_string(v) && (!b.len || hc_buf_puts(&b, ",") == 0))
                hc_buf_puts(&b, json_string_value(v));
        }
        if (b.len)
            g->tls_cipher_suites = hc_strdup(b.base);
        hc_buf_free(&b);
    }
}

void proxy_gen_tls_build(proxy_gen_t *g)
{
    g->certs = hc_tls_certs_new();
    for (size_t i = 0; i < g->cfg->ncerts; i++)
        cert_add(g, &g->cfg->certs[i]);
    if (hc_tls_certs_add_self_signed(g->certs, DEFAULT_CERT_CN, 1) != 0)
        proxy_gen_error_add(g, "", "certificate", "", "default", "cannot generate the default "
                                                                 "certificate");
    tls_options(g);
}

void proxy_gen_tls_free(proxy_gen_t *g)
{
    hc_tls_certs_free(g->certs);
    for (size_t i = 0; i < g->ncert_info; i++) {
        proxy_gen_cert_t *ci = &g->cert_info[i];
        hc_free(ci->name);
        hc_free(ci->cn);
        hc_free(ci->serial);
        for (size_t k = 0; k < ci->nsans; k++)
            hc_free(ci->sans[k]);
        hc_free(ci->sans);
    }
    hc_free(g->cert_info);
    hc_free(g->tls_min_version);
    hc_free(g->tls_cipher_suites);
}

hc_tls_certs_t *proxy_gen_take_certs(proxy_gen_t *g)
{
    hc_tls_certs_t *s = g->certs;
    g->certs = NULL;
    return s;
}
