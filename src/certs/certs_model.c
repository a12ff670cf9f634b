/* Reads Issuers, ClusterIssuers, Certificates and ingress-shim Ingresses out of a
 * manifest snapshot into certs_model_t (certs_model.h), applying cert-manager.io/v1
 * defaults and validation; a bad object is reported and skipped, never fatal. */
#include "certs/certs_model.h"

#include "core/hc_alloc.h"
#include "core/hc_jwt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define GROUP "cert-manager.io/"
#define ANN_CLUSTER_ISSUER "cert-manager.io/cluster-issuer"
#define ANN_ISSUER "cert-manager.io/issuer"
#define MAX_NAMES 100

typedef struct build {
    certs_model_t *m;
    size_t cap_iss, cap_cert, cap_err;
    long long min_duration;
} build_t;

static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void add_error(build_t *b, const char *file, int line, const char *kind, const char *ns,
                      const char *name, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void add_error(build_t *b, const char *file, int line, const char *kind, const char *ns,
                      const char *name, const char *fmt, ...)
{
    certs_model_t *m = b->m;
    if (m->nerrors == b->cap_err) {
        b->cap_err = b->cap_err ? b->cap_err * 2 : 8;
        m->errors = hc_realloc(m->errors, b->cap_err * sizeof(*m->errors));
    }
    certs_model_error_t *e = &m->errors[m->nerrors++];
    memset(e, 0, sizeof(*e));
    snprintf(e->source, sizeof(e->source), "%s:%d", file, line);
    snprintf(e->kind, sizeof(e->kind), "%s", kind);
    snprintf(e->ns, sizeof(e->ns), "%s", ns);
    snprintf(e->name, sizeof(e->name), "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

#define OBJ_ERROR(b, o, ...)                                                                       \
    add_error(b, (o)->file, (o)->line, (o)->kind, (o)->ns, (o)->name, __VA_ARGS__)

/* ---- durations and usages ---- */

int certs_duration_parse(const char *s, long long *out_s)
{
    static const struct {
        const char *unit;
        double secs;
    } units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3},
                 {"s", 1},     {"m", 60},    {"h", 3600}};
    if (!s || !*s)
        return -EINVAL;
    double total = 0;
    const char *p = s;
    while (*p) {
        char *end;
        if (!(*p >= '0' && *p <= '9') && *p != '.')
            return -EINVAL;
        double v = strtod(p, &end);
        if (end == p)
            return -EINVAL;
        p = end;
        size_t best = 0;
        double secs = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t n = strlen(units[i].unit);
            if (n > best && !strncmp(p, units[i].unit, n)) {
                best = n;
                secs = units[i].secs;
            }
        }
        if (!best)
            return -EINVAL;
        p += best;
        total += v * secs;
    }
    if (!isfinite(total) || total > 1e15)
        return -EINVAL;
    *out_s = (long long)total;
    return 0;
}

/* ---- issuers ---- */

static char *dup_or_null(const char *s)
{
    return s && *s ? hc_strdup(s) : NULL;
}

/* caBundle is base64 of PEM (cert-manager's []byte field). */
static int ca_bundle_decode(const char *b64, char **out)
{
    size_t len;
    *out = hc_base64_decode(b64, strlen(b64), &len);
    return *out ? 0 : -EINVAL;
}

static int issuer_acme(build_t *b, const hc_manifest_obj_t *o, const json_t *acme,
                       certs_issuer_t *is)
{
    const char *server = jstr(acme, "server");
    const char *key = jstr(json_object_get(acme, "privateKeySecretRef"), "name");
    if (!server || strncmp(server, "https://", 8)) {
        OBJ_ERROR(b, o, "spec.acme.server must be an https:// URL");
        return -EINVAL;
    }
    if (!key || !*key) {
        OBJ_ERROR(b, o, "spec.acme.privateKeySecretRef.name is required");
        return -EINVAL;
    }
    const char *bundle = jstr(acme, "caBundle");
    if (bundle && ca_bundle_decode(bundle, &is->acme_ca_bundle) != 0) {
        OBJ_ERROR(b, o, "spec.acme.caBundle is not base64");
        return -EINVAL;
    }
    const json_t *solvers = json_object_get(acme, "solvers");
    const json_t *ing = NULL;
    for (size_t i = 0; i < json_array_size(solvers) && !ing; i++)
        ing = json_object_get(json_object_get(json_array_get(solvers, i), "http01"), "ingress");
    if (!ing) {
        OBJ_ERROR(b, o,
                  "spec.acme.solvers needs an http01.ingress solver (DNS-01 is not supported)");
        return -EINVAL;
    }
    is->ingress_class = dup_or_null(jstr(ing, "ingressClassName"));
    if (!is->ingress_class)
        is->ingress_class = dup_or_null(jstr(ing, "class"));
    is->acme_server = hc_strdup(server);
    is->acme_email = dup_or_null(jstr(acme, "email"));
    is->acme_key_secret = hc_strdup(key);
    is->acme_skip_verify = json_is_true(json_object_get(acme, "skipTLSVerify"));
    return 0;
}

static void issuer_free(certs_issuer_t *is)
{
    hc_free(is->ns);
    hc_free(is->name);
    hc_free(is->ca_secret);
    hc_free(is->acme_server);
    hc_free(is->acme_email);
    hc_free(is->acme_key_secret);
    hc_free(is->acme_ca_bundle);
    hc_free(is->ingress_class);
}

static void issuer_add(build_t *b, const hc_manifest_obj_t *o, int cluster)
{
    certs_issuer_t is = {.kind = cluster ? "ClusterIssuer" : "Issuer"};
    const json_t *spec = json_object_get(o->doc, "spec");
    const json_t *ca = json_object_get(spec, "ca"), *acme = json_object_get(spec, "acme");
    int n = !!json_object_get(spec, "selfSigned") + !!ca + !!acme;
    if (n != 1) {
        OBJ_ERROR(b, o, "spec needs exactly one of selfSigned, ca, acme (found %d)", n);
        return;
    }
    if (ca) {
        is.type = CERTS_ISSUER_CA;
        const char *sn = jstr(ca, "secretName");
        if (!sn || !*sn) {
            OBJ_ERROR(b, o, "spec.ca.secretName is required");
            return;
        }
        is.ca_secret = hc_strdup(sn);
    } else if (acme) {
        is.type = CERTS_ISSUER_ACME;
        if (issuer_acme(b, o, acme, &is) != 0) {
            issuer_free(&is);
            return;
        }
    } else {
        is.type = CERTS_ISSUER_SELFSIGNED;
    }
    is.ns = hc_strdup(cluster ? "" : o->ns);
    is.name = hc_strdup(o->name);
    snprintf(is.source, sizeof(is.source), "%s:%d", o->file, o->line);
    certs_model_t *m = b->m;
    if (m->nissuers == b->cap_iss) {
        b->cap_iss = b->cap_iss ? b->cap_iss * 2 : 4;
        m->issuers = hc_realloc(m->issuers, b->cap_iss * sizeof(*m->issuers));
    }
    m->issuers[m->nissuers++] = is;
}

/* ---- certificates ---- */

static void cert_free(certs_cert_t *c)
{
    for (size_t i = 0; i < c->ndns; i++)
        hc_free(c->dns_names[i]);
    for (size_t i = 0; i < c->nips; i++)
        hc_free(c->ip_addresses[i]);
    hc_free(c->dns_names);
    hc_free(c->ip_addresses);
    hc_free(c->ns);
    hc_free(c->name);
    hc_free(c->secret_name);
    hc_free(c->common_name);
    hc_free(c->issuer_name);
}

static int cert_push(build_t *b, certs_cert_t *c)
{
    certs_model_t *m = b->m;
    for (size_t i = 0; i < m->ncerts; i++)
        if (!strcmp(m->certs[i].ns, c->ns) && (!strcmp(m->certs[i].name, c->name) ||
                                               !strcmp(m->certs[i].secret_name, c->secret_name)))
            return -EEXIST; /* one owner per Secret: the Certificate, then the first Ingress */
    if (m->ncerts == b->cap_cert) {
        b->cap_cert = b->cap_cert ? b->cap_cert * 2 : 8;
        m->certs = hc_realloc(m->certs, b->cap_cert * sizeof(*m->certs));
    }
    m->certs[m->ncerts++] = *c;
    return 0;
}

/* A DNS name as RFC 1123 §2.1 hostnames, optionally with a leading "*." wildcard. */
static int dns_name_ok(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (!strncmp(s, "*.", 2))
        s += 2, n -= 2;
    if (!n || n > 253)
        return 0;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (!label || p[-1] == '-')
                return 0;
            label = 0;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || (*p == '-' && label)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

static int names_add(build_t *b, const hc_manifest_obj_t *o, const json_t *arr, int ip, char ***out,
                     size_t *n)
{
    if (arr && !json_is_array(arr)) {
        OBJ_ERROR(b, o, "%s must be a list", ip ? "ipAddresses" : "dnsNames");
        return -EINVAL;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        unsigned char tmp[16];
        int ok = s && (ip ? inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1
                          : dns_name_ok(s));
        if (!ok || *n >= MAX_NAMES) {
            OBJ_ERROR(b, o, "%s[%zu] is not a valid %s", ip ? "ipAddresses" : "dnsNames", i,
                      ip ? "IP address" : "DNS name");
            return -EINVAL;
        }
        *out = hc_realloc(*out, (*n + 1) * sizeof(char *));
        (*out)[(*n)++] = hc_strdup(s);
    }
    return 0;
}

static int duration_field(build_t *b, const hc_manifest_obj_t *o, const json_t *spec,
                          const char *key, long long *out)
{
    const json_t *v = json_object_get(spec, key);
    if (!v)
        return 0;
    if (certs_duration_parse(json_string_value(v), out) != 0) {
        OBJ_ERROR(b, o, "spec.%s is not a Go duration such as \"2160h\" (no \"d\" unit)", key);
        return -EINVAL;
    }
    return 0;
}

static int private_key(build_t *b, const hc_manifest_obj_t *o, const json_t *pk, certs_cert_t *c)
{
    const char *alg = jstr(pk, "algorithm"), *rot = jstr(pk, "rotationPolicy");
    const char *enc = jstr(pk, "encoding");
    const json_t *size = json_object_get(pk, "size");
    c->rotate_always = !rot || !strcmp(rot, "Always"); /* v1.18 default: Always */
    if (rot && strcmp(rot, "Always") && strcmp(rot, "Never")) {
        OBJ_ERROR(b, o, "spec.privateKey.rotationPolicy must be Always or Never");
        return -EINVAL;
    }
    if (certs_pki_key_alg_parse(alg, &c->key_alg) != 0) {
        OBJ_ERROR(b, o, "spec.privateKey.algorithm must be RSA, ECDSA or Ed25519");
        return -EINVAL;
    }
    if (enc && strcmp(enc, "PKCS1") && strcmp(enc, "PKCS8")) {
        OBJ_ERROR(b, o, "spec.privateKey.encoding must be PKCS1 or PKCS8");
        return -EINVAL;
    }
    c->key_encoding = enc && !strcmp(enc, "PKCS8") ? CERTS_KEY_PKCS8 : CERTS_KEY_PKCS1;
    c->key_size = (int)json_integer_value(size);
    int ok = !size || (c->key_alg == CERTS_KEY_RSA && c->key_size >= 2048 && c->key_size <= 8192) ||
             (c->key_alg == CERTS_KEY_ECDSA && (c->key_size == 256 || c->key_size == 384)) ||
             c->key_alg == CERTS_KEY_ED25519;
    if (!ok) {
        OBJ_ERROR(b, o, "spec.privateKey.size %d does not fit algorithm %s", c->key_size,
                  alg ? alg : "RSA");
        return -EINVAL;
    }
    return 0;
}

static int usages_read(build_t *b, const hc_manifest_obj_t *o, const json_t *arr, certs_cert_t *c)
{
    c->usages = arr ? 0 : CERTS_USAGES_DEFAULT;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *u = json_string_value(json_array_get(arr, i));
        if (!u || certs_pki_usage_parse(u, &c->usages) != 0) {
            OBJ_ERROR(b, o, "spec.usages[%zu] \"%s\" is not a cert-manager usage", i, u ? u : "");
            return -EINVAL;
        }
    }
    return 0;
}

static int issuer_ref(build_t *b, const hc_manifest_obj_t *o, const json_t *ref, certs_cert_t *c)
{
    const char *name = jstr(ref, "name"), *kind = jstr(ref, "kind"), *group = jstr(ref, "group");
    if (!name || !*name) {
        OBJ_ERROR(b, o, "spec.issuerRef.name is required");
        return -EINVAL;
    }
    if (group && strcmp(group, "cert-manager.io")) {
        OBJ_ERROR(b, o, "spec.issuerRef.group %s is not cert-manager.io", group);
        return -EINVAL;
    }
    if (kind && strcmp(kind, "Issuer") && strcmp(kind, "ClusterIssuer")) {
        OBJ_ERROR(b, o, "spec.issuerRef.kind must be Issuer or ClusterIssuer");
        return -EINVAL;
    }
    c->issuer_kind = kind && !strcmp(kind, "ClusterIssuer") ? "ClusterIssuer" : "Issuer";
    c->issuer_name = hc_strdup(name);
    return 0;
}

static int percent_field(build_t *b, const hc_manifest_obj_t *o, const json_t *spec, int *out)
{
    const json_t *v = json_object_get(spec, "renewBeforePercentage");
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 99) {
        OBJ_ERROR(b, o, "spec.renewBeforePercentage must be an integer from 1 to 99");
        return -EINVAL;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

/* Durations: minimum 1h (or the test minimum), renewBefore >= 5m and < duration. */
static int durations_check(build_t *b, const hc_manifest_obj_t *o, certs_cert_t *c)
{
    long long min_rb = b->min_duration < CERTS_MIN_DURATION_S ? 1 : CERTS_MIN_RENEW_BEFORE_S;
    if (c->duration_s < b->min_duration) {
        OBJ_ERROR(b, o, "spec.duration must be at least %llds", b->min_duration);
        return -EINVAL;
    }
    if (c->renew_before_s && (c->renew_before_s < min_rb || c->renew_before_s >= c->duration_s)) {
        OBJ_ERROR(b, o, "spec.renewBefore must be at least %llds and less than spec.duration",
                  min_rb);
        return -EINVAL;
    }
    return 0;
}

static void cert_add(build_t *b, const hc_manifest_obj_t *o)
{
    const json_t *spec = json_object_get(o->doc, "spec");
    certs_cert_t c = {.duration_s = CERTS_DEFAULT_DURATION_S, .from = "Certificate"};
    const char *sn = jstr(spec, "secretName"), *cn = jstr(spec, "commonName");
    if (!json_is_object(spec) || !sn || !*sn) {
        OBJ_ERROR(b, o, "spec.secretName is required");
        return;
    }
    if (names_add(b, o, json_object_get(spec, "dnsNames"), 0, &c.dns_names, &c.ndns) ||
        names_add(b, o, json_object_get(spec, "ipAddresses"), 1, &c.ip_addresses, &c.nips) ||
        duration_field(b, o, spec, "duration", &c.duration_s) ||
        duration_field(b, o, spec, "renewBefore", &c.renew_before_s) ||
        percent_field(b, o, spec, &c.renew_before_pct) || durations_check(b, o, &c) ||
        private_key(b, o, json_object_get(spec, "privateKey"), &c) ||
        usages_read(b, o, json_object_get(spec, "usages"), &c) ||
        issuer_ref(b, o, json_object_get(spec, "issuerRef"), &c))
        goto fail;
    if (!c.ndns && !c.nips && !cn) {
        OBJ_ERROR(b, o, "spec needs at least one of dnsNames, ipAddresses, commonName");
        goto fail;
    }
    c.is_ca = json_is_true(json_object_get(spec, "isCA"));
    c.common_name = dup_or_null(cn);
    c.secret_name = hc_strdup(sn);
    c.ns = hc_strdup(o->ns);
    c.name = hc_strdup(o->name);
    snprintf(c.source, sizeof(c.source), "%s:%d", o->file, o->line);
    if (cert_push(b, &c) == 0)
        return;
fail:
    cert_free(&c);
}

/* ingress-shim: each spec.tls entry with a secretName and hosts becomes a Certificate
 * named after the secret, with the Ingress's issuer annotation. */
static void ingress_add(build_t *b, const hc_manifest_obj_t *o)
{
    const char *cluster = jstr(o->annotations, ANN_CLUSTER_ISSUER);
    const char *ns_iss = jstr(o->annotations, ANN_ISSUER);
    if (!cluster && !ns_iss)
        return;
    const json_t *tls = json_object_get(json_object_get(o->doc, "spec"), "tls");
    for (size_t i = 0; i < json_array_size(tls); i++) {
        const json_t *t = json_array_get(tls, i);
        const char *sn = jstr(t, "secretName");
        certs_cert_t c = {.duration_s = CERTS_DEFAULT_DURATION_S,
                          .from = "Ingress",
                          .usages = CERTS_USAGES_DEFAULT,
                          .rotate_always = 1};
        if (!sn || !*sn) {
            OBJ_ERROR(b, o, "spec.tls[%zu].secretName is required for %s", i,
                      cluster ? ANN_CLUSTER_ISSUER : ANN_ISSUER);
            continue;
        }
        if (names_add(b, o, json_object_get(t, "hosts"), 0, &c.dns_names, &c.ndns))
            goto next;
        if (!c.ndns) {
            OBJ_ERROR(b, o, "spec.tls[%zu].hosts is empty", i);
            goto next;
        }
        c.issuer_kind = cluster ? "ClusterIssuer" : "Issuer";
        c.issuer_name = hc_strdup(cluster ? cluster : ns_iss);
        c.secret_name = hc_strdup(sn);
        c.ns = hc_strdup(o->ns);
        c.name = hc_strdup(sn);
        snprintf(c.source, sizeof(c.source), "%s:%d", o->file, o->line);
        if (cert_push(b, &c) == 0)
            continue;
    next:
        cert_free(&c);
    }
}

static int is_v1(const hc_manifest_obj_t *o)
{
    return o->api_version && !strncmp(o->api_version, GROUP, strlen(GROUP));
}

certs_model_t *certs_model_build(const hc_manifest_set_t *set, long long min_duration_s)
{
    build_t b = {.m = hc_calloc(1, sizeof(certs_model_t)), .min_duration = min_duration_s};
    const hc_manifest_error_t *errs;
    size_t nerr = set ? hc_manifest_set_errors(set, &errs) : 0;
    for (size_t i = 0; i < nerr; i++)
        add_error(&b, errs[i].file, errs[i].line, "", "", "", "%s", errs[i].message);
    size_t n = set ? hc_manifest_set_count(set) : 0;
    /* Certificates before Ingresses, so a written Certificate wins over an implied one. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            const hc_manifest_obj_t *o = hc_manifest_set_at(set, i);
            if (pass == 0 && is_v1(o) && !strcmp(o->kind, "ClusterIssuer"))
                issuer_add(&b, o, 1);
            else if (pass == 0 && is_v1(o) && !strcmp(o->kind, "Issuer"))
                issuer_add(&b, o, 0);
            else if (pass == 0 && is_v1(o) && !strcmp(o->kind, "Certificate"))
                cert_add(&b, o);
            else if (pass == 1 && !strcmp(o->kind, "Ingress"))
                ingress_add(&b, o);
        }
    return b.m;
}

void certs_model_free(certs_model_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nissuers; i++)
        issuer_free(&m->issuers[i]);
    for (size_t i = 0; i < m->ncerts; i++)
        cert_free(&m->certs[i]);
    hc_free(m->issuers);
    hc_free(m->certs);
    hc_free(m->errors);
    hc_free(m);
}

const certs_issuer_t *certs_model_issuer_of(const certs_model_t *m, const certs_cert_t *c)
{
    int cluster = !strcmp(c->issuer_kind, "ClusterIssuer");
    for (size_t i = 0; i < m->nissuers; i++) {
        const certs_issuer_t *is = &m->issuers[i];
        if (strcmp(is->kind, c->issuer_kind) || strcmp(is->name, c->issuer_name))
            continue;
        if (cluster || !strcmp(is->ns, c->ns))
            return is;
    }
    return NULL;
}
