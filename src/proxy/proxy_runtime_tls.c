/* The TLS part of a generation (proxy_runtime.h): the certificates of the configuration
 * (Ingress spec.tls Secrets and file-provider tls.certificates) gathered into one
 * hc_tls SNI set with a generated default, their facts for metrics and the API, and
 * the TLSOptions mapped to hc_tls server options: `default` for every handshake, others
 * for the hosts of the routers that name them. */
#include "proxy/proxy_runtime_int.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"
#include "core/hc_metrics.h"
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
    /* Go's Subject.CommonName: the last CN, decoded (a BMPString as UTF-16, a T61String
     * as Latin-1) into UTF-8 */
    const X509_NAME *subject = X509_get_subject_name(x);
    int at = -1, next;
    while ((next = X509_NAME_get_index_by_NID(subject, NID_commonName, at)) >= 0)
        at = next;
    unsigned char *cn = NULL;
    int cn_len =
        at >= 0
            ? ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)))
            : -1;
    ci->cn = cn_len >= 0 ? hc_memdup(cn, (size_t)cn_len) : hc_strdup("");
    OPENSSL_free(cn);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *dec = bn ? BN_bn2dec(bn) : NULL; /* decimal, as Go's SerialNumber.String() */
    ci->serial = hc_strdup(dec ? dec : "");
    OPENSSL_free(dec);
    BN_free(bn);
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
        ci->not_after = (int64_t)timegm(&tm);
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int nsans = sans ? sk_GENERAL_NAME_num(sans) : 0, ndns = 0;
    const char **dns = hc_malloc(((size_t)nsans + 1) * sizeof(*dns));
    hc_buf_t joined = {0};
    for (int i = 0; i < nsans; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_DNS)
            dns[ndns++] = (const char *)ASN1_STRING_get0_data(gn->d.dNSName);
    }
    qsort(dns, (size_t)ndns, sizeof(*dns), str_cmp); /* Traefik's label: sorted, joined */
    for (int i = 0; i < ndns; i++) { /* up to the registry's bound, whole names only */
        if (joined.len + 1 + strlen(dns[i]) > HC_METRICS_MAX_VALUE_LEN)
            break;
        hc_buf_printf(&joined, "%s%s", i ? "," : "", dns[i]);
    }
    ci->sans = hc_strdup(joined.base ? joined.base : "");
    hc_buf_free(&joined);
    hc_free(dns);
    GENERAL_NAMES_free(sans);
    X509_free(x);
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

const char *proxy_gen_file_or_pem(const char *v, int files_ok, size_t *len, char **owned, char *err,
                                  size_t errlen)
{
    if (v && strstr(v, "-----BEGIN"))
        return pem_of(v, strlen(v), NULL, len, owned, err, errlen);
    if (!files_ok) { /* a CRD's Secret holds PEM text: never a path to read on this host */
        *owned = NULL;
        snprintf(err, errlen, "not PEM text");
        return NULL;
    }
    return pem_of(NULL, 0, v, len, owned, err, errlen);
}

/* Adds pc to the generation's certificates. Returns 0, or -EINVAL when it could not be
 * read (reported). */
static int cert_add(proxy_gen_t *g, const proxy_cert_t *pc)
{
    int rc = -EINVAL;
    char err[256] = "", *cown = NULL, *kown = NULL;
    size_t clen = 0, klen = 0;
    const char *crt = pem_of(pc->cert, pc->cert_len, pc->cert_file, &clen, &cown, err, sizeof(err));
    const char *key = crt ? pem_of(pc->key, pc->key_len, pc->key_file, &klen, &kown, err,
                                   sizeof(err))
                          : NULL;
    int roles =
        (pc->by_name ? HC_TLS_CERT_BY_NAME : 0) | (pc->is_default ? HC_TLS_CERT_DEFAULT : 0);
    if (!crt || !key ||
        hc_tls_certs_add_pem(g->certs, crt, clen, key, klen, roles, err, sizeof(err)) != 0) {
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
        ci->sans = hc_strdup("");
    }
    rc = 0;
out:
    hc_free(cown);
    hc_free(kown);
    return rc;
}

/* A list of strings at key of spec as a comma list (NULL when absent or empty). */
static char *comma_list(const json_t *spec, const char *key)
{
    hc_buf_t b;
    hc_buf_init(&b, 4096);
    size_t k;
    const json_t *v;
    json_array_foreach(proxy_mw_json_get(spec, key), k, v)
    {
        if (json_is_string(v) && (!b.len || hc_buf_puts(&b, ",") == 0))
            hc_buf_puts(&b, json_string_value(v));
    }
    char *out = b.len && !hc_buf_append(&b, "", 1) ? hc_strdup(b.base) : NULL;
    hc_buf_free(&b);
    return out;
}

/* clientAuth.caFiles: PEM text given inline (a CRD's Secrets, translated) or file paths,
 * concatenated into t->ca. */
static int ca_files(const json_t *ca, int files_ok, proxy_gen_tlsopt_t *t, char *err, size_t errlen)
{
    hc_buf_t b;
    hc_buf_init(&b, 4 * PEM_FILE_MAX);
    size_t k;
    const json_t *v;
    int rc = 0;
    json_array_foreach(proxy_mw_json_get(ca, "caFiles"), k, v)
    {
        const char *item = json_string_value(v);
        char *owned = NULL;
        size_t len = 0;
        const char *pem = proxy_gen_file_or_pem(item, files_ok, &len, &owned, err, errlen);
        if (!pem || hc_buf_append(&b, pem, len) || hc_buf_puts(&b, "\n"))
            rc = pem ? hc_errf(err, errlen, -EINVAL, "clientAuth.caFiles: too large") : -EINVAL;
        hc_free(owned);
        if (rc)
            break;
    }
    if (!rc && b.len && !hc_buf_append(&b, "", 1)) {
        t->ca = hc_strdup(b.base);
        t->o.client_ca_pem = t->ca;
        t->o.client_ca_len = b.len - 1;
    }
    hc_buf_free(&b);
    return rc;
}

static void tlsopt_free(proxy_gen_tlsopt_t *t)
{
    hc_free(t->min);
    hc_free(t->max);
    hc_free(t->suites);
    hc_free(t->curves);
    hc_free(t->ca);
    memset(t, 0, sizeof(*t));
}

/* Traefik reads a version by Go's constant name (VersionTLS10 to VersionTLS13) and
 * ignores any other text without a word (buildTLSConfig's map lookups): so does this,
 * with a warning. */
static const char *go_version(const char *v, const char *option, const char *field)
{
    static const char *const names[] = {"VersionTLS10", "VersionTLS11", "VersionTLS12",
                                        "VersionTLS13"};
    if (!v || !*v)
        return NULL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(v, names[i]))
            return v;
    hc_log(HC_LOG_WARN, "TLS version ignored, as Traefik ignores it (VersionTLS10 to VersionTLS13)",
           HC_LS("tls_option", option), HC_LS("field", field), HC_LS("value", v), NULL);
    return NULL;
}

/* A TLSOption spec (Traefik pkg/tls Options: minVersion, maxVersion, cipherSuites,
 * curvePreferences, sniStrict, disableSessionTickets, clientAuth {caFiles,
 * clientAuthType}) into t, checked by building it once. Returns 0 or -EINVAL with err (t
 * is then empty). */
static int tlsopt_read(const proxy_tls_option_t *src, proxy_gen_tlsopt_t *t, char *err,
                       size_t errlen)
{
    const json_t *spec = src->spec, *ca = proxy_mw_json_get(spec, "clientAuth");
    char *type = NULL;
    int strict = 0, no_tickets = 0, rc;
    memset(t, 0, sizeof(*t));
    t->name = src->name;
    if ((rc = proxy_mw_json_str(spec, "minVersion", &t->min, err, errlen)) ||
        (rc = proxy_mw_json_str(spec, "maxVersion", &t->max, err, errlen)) ||
        (rc = proxy_mw_json_bool(spec, "sniStrict", &strict, err, errlen)) ||
        (rc = proxy_mw_json_bool(spec, "disableSessionTickets", &no_tickets, err, errlen)) ||
        (rc = proxy_mw_json_str(ca, "clientAuthType", &type, err, errlen)) ||
        (rc = ca_files(ca, src->provider == PROXY_PROVIDER_FILE, t, err, errlen)))
        goto out;
    t->suites = comma_list(spec, "cipherSuites");
    t->curves = comma_list(spec, "curvePreferences");
    t->o.min_version = go_version(t->min, t->name, "minVersion");
    t->o.max_version = go_version(t->max, t->name, "maxVersion");
    t->o.no_session_tickets = no_tickets;
    t->o.cipher_suites = t->suites;
    t->o.curves = t->curves;
    t->o.sni_strict = strict;
    /* Traefik: CA files without a type mean RequireAndVerifyClientCert */
    t->o.client_auth = t->ca ? HC_TLS_CLIENT_REQUIRE_VERIFY : HC_TLS_CLIENT_NONE;
    if (type && *type && hc_tls_client_auth_parse(type, &t->o.client_auth)) {
        rc = hc_errf(err, errlen, -EINVAL, "unknown client auth type %s", type);
        goto out;
    }
    hc_tls_ctx_t *probe = hc_tls_server_new(&t->o, err, errlen);
    rc = probe ? 0 : -EINVAL;
    hc_tls_ctx_unref(probe);
out:
    hc_free(type);
    if (rc)
        tlsopt_free(t);
    return rc;
}

/* The exact hosts (Host matchers) of the routers using one TLSOption each. */
typedef struct host_use {
    char *host;
    size_t opt; /* index in g->tls_opts */
} host_use_t;

typedef struct host_walk {
    host_use_t *v;
    size_t n, cap, opt;
    size_t seen; /* hosts of the rules walked, wildcards included */
} host_walk_t;

static void host_seen(void *ctx, const char *host, int wildcard)
{
    host_walk_t *w = ctx;
    w->seen++;
    if (wildcard || strlen(host) > PROXY_RULE_MAX_HOST) /* Traefik maps Host domains only */
        return;
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        w->v = hc_realloc(w->v, w->cap * sizeof(*w->v));
    }
    w->v[w->n++] = (host_use_t){hc_strdup(host), w->opt};
}

static int host_use_cmp(const void *a, const void *b)
{
    return strcmp(((const host_use_t *)a)->host, ((const host_use_t *)b)->host);
}

#define CONFLICT_MSG "found different TLS options for routers on the same host "

/* Whether the options conflict on host was reported (on the other entry point). */
static int conflict_reported(const proxy_gen_t *g, const char *host)
{
    for (size_t i = 0; i < g->nerrors; i++)
        if (!strcmp(g->errors[i].kind, "TLSOption") && !strcmp(g->errors[i].name, host) &&
            !strncmp(g->errors[i].message, CONFLICT_MSG, sizeof(CONFLICT_MSG) - 1))
            return 1;
    return 0;
}

/* tls_hosts: each host of the TLS routers on entry point ep (every router on websecure,
 * which terminates TLS for all; those with tls on web) uses their TLS options; a host
 * claimed by two (`default` counts, named or not) keeps the default ones, as Traefik does,
 * with an error. Only hosts with other options than `default` are listed. */
static void tls_hosts(proxy_gen_t *g, int ep)
{
    host_walk_t w = {0};
    for (size_t i = 0; i < g->cfg->nrouters; i++) {
        const proxy_router_t *r = &g->cfg->routers[i];
        if (r->status == PROXY_STATUS_DISABLED || !r->match ||
            !proxy_router_on_entrypoint(r, ep == PROXY_GEN_WEB ? "web" : "websecure") ||
            (ep == PROXY_GEN_WEB && !r->tls))
            continue;
        w.opt = 0; /* `default`: named, or the entry point's */
        for (size_t k = 1; r->tls_option && k < g->ntls_opts; k++)
            if (!strcmp(g->tls_opts[k].name, r->tls_option->name))
                w.opt = k;
        size_t before = w.seen;
        proxy_rule_hosts(r->match, host_seen, &w);
        if (w.opt && w.seen == before && /* Traefik's warning, told where it is seen, once */
            (ep == PROXY_GEN_WEBSECURE || !proxy_router_on_entrypoint(r, "websecure")))
            proxy_gen_error_add(g, r->source ? r->source : "", "router", "", r->name,
                                "no domain found in rule %.200s: the TLS options %.100s apply "
                                "only to the SNI names other routers give them, else default",
                                r->rule ? r->rule : "", r->tls_option->name);
    }
    if (w.n)
        qsort(w.v, w.n, sizeof(*w.v), host_use_cmp);
    hc_tls_host_opts_t *hosts = hc_calloc(w.n ? w.n : 1, sizeof(*hosts));
    size_t nhosts = 0;
    for (size_t i = 0; i < w.n;) {
        size_t j = i + 1, conflict = 0;
        for (; j < w.n && !strcmp(w.v[j].host, w.v[i].host); j++)
            conflict |= w.v[j].opt != w.v[i].opt;
        if (conflict && !conflict_reported(g, w.v[i].host)) /* once for both entry points */
            proxy_gen_error_add(g, "", "TLSOption", "", w.v[i].host,
                                "%s%s, so using the default TLS options instead", CONFLICT_MSG,
                                w.v[i].host);
        else if (!conflict && w.v[i].opt)
            hosts[nhosts++] = (hc_tls_host_opts_t){
                hc_strdup(w.v[i].host), g->tls_opts[w.v[i].opt].name, &g->tls_opts[w.v[i].opt].o};
        for (; i < j; i++)
            hc_free(w.v[i].host);
    }
    hc_free(w.v);
    g->tls_hosts[ep] = hosts;
    g->ntls_hosts[ep] = nhosts;
    g->tls[ep] = g->tls_opts[0].o;
    g->tls[ep].hosts = hosts;
    g->tls[ep].nhosts = nhosts;
}

/* Entry point ep's options as text, to tell a change (and keep its OpenSSL context, with
 * its session tickets, when none). */
static void tls_key(proxy_gen_t *g, int ep)
{
    hc_buf_t b;
    hc_buf_init(&b, 0);
    for (size_t i = 0; i < g->ntls_opts; i++) {
        const proxy_gen_tlsopt_t *t = &g->tls_opts[i];
        hc_buf_printf(&b, "%s|%s|%s|%s|%s|%d|%d|%d|%s\n", t->name ? t->name : "",
                      t->min ? t->min : "", t->max ? t->max : "", t->suites ? t->suites : "",
                      t->curves ? t->curves : "", t->o.sni_strict, t->o.no_session_tickets,
                      (int)t->o.client_auth, t->ca ? t->ca : "");
    }
    for (size_t i = 0; i < g->ntls_hosts[ep]; i++)
        hc_buf_printf(&b, "%s=%s\n", g->tls_hosts[ep][i].host, g->tls_hosts[ep][i].id);
    hc_buf_append(&b, "", 1);
    g->tls_key[ep] = hc_strdup(b.base);
    hc_buf_free(&b);
}

/* A TLSOption that could not be built: its routers are disabled with the reason rather
 * than served with the default options (a clientAuth must never be dropped), as Traefik
 * closes such a host's connections. */
static void tlsopt_refused(proxy_gen_t *g, const proxy_tls_option_t *o, const char *err)
{
    for (size_t r = 0; r < g->cfg->nrouters; r++) {
        proxy_router_t *rt = &g->cfg->routers[r];
        if (rt->status == PROXY_STATUS_DISABLED || !rt->tls || rt->tls_option != o)
            continue;
        char msg[400];
        snprintf(msg, sizeof(msg), "the TLS options %.100s could not be built: %.256s", o->name,
                 err);
        proxy_config_router_fail(rt, PROXY_STATUS_DISABLED, msg);
        proxy_gen_error_add(g, rt->source, "router", "", rt->name, "%s", msg);
    }
}

/* The TLSOptions: `default` first (Go's defaults when not defined or refused), then the
 * others; a refused one is reported and its routers disabled. */
static void tls_options(proxy_gen_t *g)
{
    const proxy_config_t *cfg = g->cfg;
    g->tls_opts = hc_calloc(cfg->ntls_options + 1, sizeof(*g->tls_opts));
    g->tls_opts[0].name = "default";
    g->ntls_opts = 1;
    for (size_t i = 0; i < cfg->ntls_options; i++) {
        const proxy_tls_option_t *o = &cfg->tls_options[i];
        int is_default = !strcmp(o->name, "default");
        proxy_gen_tlsopt_t *t = is_default ? &g->tls_opts[0] : &g->tls_opts[g->ntls_opts];
        char err[256] = "";
        if (tlsopt_read(o, t, err, sizeof(err))) {
            proxy_gen_error_add(g, o->source, "TLSOption", "", o->name, "%s", err);
            t->name = is_default ? "default" : NULL;
            tlsopt_refused(g, o, err);
            continue;
        }
        g->ntls_opts += !is_default;
    }
    tls_hosts(g, PROXY_GEN_WEB);
    tls_hosts(g, PROXY_GEN_WEBSECURE);
    tls_key(g, PROXY_GEN_WEB);
    tls_key(g, PROXY_GEN_WEBSECURE);
}

void proxy_gen_tls_build(proxy_gen_t *g)
{
    g->certs = hc_tls_certs_new();
    int have_default = 0;
    for (size_t i = 0; i < g->cfg->ncerts; i++)
        have_default |= cert_add(g, &g->cfg->certs[i]) == 0 && g->cfg->certs[i].is_default;
    if (!have_default &&
        hc_tls_certs_add_self_signed(g->certs, DEFAULT_CERT_CN, HC_TLS_CERT_DEFAULT) != 0)
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
        hc_free(ci->sans);
    }
    hc_free(g->cert_info);
    for (size_t i = 0; i < g->ntls_opts; i++)
        tlsopt_free(&g->tls_opts[i]);
    hc_free(g->tls_opts);
    for (int ep = 0; ep < PROXY_GEN_NEP; ep++) {
        for (size_t i = 0; i < g->ntls_hosts[ep]; i++)
            hc_free((char *)g->tls_hosts[ep][i].host);
        hc_free(g->tls_hosts[ep]);
    }
    for (int ep = 0; ep < PROXY_GEN_NEP; ep++)
        hc_free(g->tls_key[ep]);
}

static int host_opts_cmp(const void *key, const void *entry)
{
    return strcmp(key, ((const hc_tls_host_opts_t *)entry)->host);
}

/* The options serving a host on entry point ep in matching form: its own, else
 * `default`. */
static const hc_tls_server_opts_t *opts_of(const proxy_gen_t *g, int ep, const char *host)
{
    const hc_tls_host_opts_t *h = bsearch(host, g->tls_hosts[ep], g->ntls_hosts[ep],
                                          sizeof(*g->tls_hosts[ep]), host_opts_cmp);
    return h ? h->opts : &g->tls_opts[0].o;
}

int proxy_gen_tls_misdirected(const proxy_gen_t *g, int ep, const char *host, size_t hlen,
                              const char *sni)
{
    char h[PROXY_RULE_MAX_HOST + 1], n[PROXY_RULE_MAX_HOST + 1];
    if (!g->ntls_hosts[ep])
        return 0;
    int hl = host ? proxy_rule_host_normalize(host, hlen, h) : 0;
    int nl = sni ? proxy_rule_host_normalize(sni, strlen(sni), n) : 0;
    if (hl < 0 || nl < 0)
        return 1;
    h[hl] = n[nl] = '\0';
    return strcmp(h, n) && opts_of(g, ep, h) != opts_of(g, ep, n);
}

hc_tls_certs_t *proxy_gen_take_certs(proxy_gen_t *g)
{
    hc_tls_certs_t *s = g->certs;
    g->certs = NULL;
    return s;
}
