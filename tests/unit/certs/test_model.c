/* Unit tests of the certs model (certs_model.c) and Secret files (certs_secret.c):
 * Go durations, Issuers, Certificates with cert-manager defaults, ingress-shim, errors
 * naming file:line, and a TLS Secret written atomically and read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "certs/certs_model.h"
#include "certs/certs_secret.h"
#include "core/hc_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_duration(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        long long s;
    } cases[] = {
        {"2160h", 0, 2160LL * 3600}, {"1h30m", 0, 5400}, {"90s", 0, 90}, {"1.5h", 0, 5400},
        {"500ms", 0, 0},             {"5m0s", 0, 300},   {"90d", -1, 0}, {"", -1, 0},
        {"-1h", -1, 0},              {"h", -1, 0},       {"10", -1, 0},  {"1h x", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long s = -7;
        int rc = certs_duration_parse(cases[i].in, &s);
        if (cases[i].rc == 0) {
            assert_int_equal(rc, 0);
            assert_int_equal(s, cases[i].s);
        } else {
            assert_int_not_equal(rc, 0);
        }
    }
}

static const char manifests[] =
    "apiVersion: cert-manager.io/v1\n"
    "kind: ClusterIssuer\n"
    "metadata: {name: selfsigned}\n"
    "spec: {selfSigned: {}}\n"
    "---\n"
    "apiVersion: cert-manager.io/v1\n"
    "kind: ClusterIssuer\n"
    "metadata: {name: letsencrypt-prod}\n"
    "spec:\n"
    "  acme:\n"
    "    server: https://127.0.0.1:14000/dir\n"
    "    email: ops@example.test\n"
    "    privateKeySecretRef: {name: le-account}\n"
    "    solvers:\n"
    "    - http01: {ingress: {ingressClassName: traefik}}\n"
    "---\n"
    "apiVersion: cert-manager.io/v1\n"
    "kind: Issuer\n"
    "metadata: {name: broken, namespace: apps}\n"
    "spec: {ca: {}}\n"
    "---\n"
    "apiVersion: cert-manager.io/v1\n"
    "kind: Certificate\n"
    "metadata: {name: web, namespace: apps}\n"
    "spec:\n"
    "  secretName: web-tls\n"
    "  dnsNames: [web.example.test, www.example.test]\n"
    "  ipAddresses: [127.0.0.1]\n"
    "  renewBefore: 360h\n"
    "  privateKey: {algorithm: ECDSA, size: 256, rotationPolicy: Never}\n"
    "  issuerRef: {name: selfsigned, kind: ClusterIssuer}\n"
    "---\n"
    "apiVersion: cert-manager.io/v1\n"
    "kind: Certificate\n"
    "metadata: {name: bad-duration, namespace: apps}\n"
    "spec:\n"
    "  secretName: x\n"
    "  dnsNames: [x.example.test]\n"
    "  duration: 90d\n"
    "  issuerRef: {name: selfsigned, kind: ClusterIssuer}\n"
    "---\n"
    "apiVersion: networking.k8s.io/v1\n"
    "kind: Ingress\n"
    "metadata:\n"
    "  name: shop\n"
    "  namespace: apps\n"
    "  annotations: {cert-manager.io/cluster-issuer: letsencrypt-prod}\n"
    "spec:\n"
    "  tls:\n"
    "  - hosts: [shop.example.test]\n"
    "    secretName: shop-tls\n"
    "  - hosts: [web.example.test]\n"
    "    secretName: web-tls\n";

static const certs_model_error_t *error_for(const certs_model_t *m, const char *name)
{
    for (size_t i = 0; i < m->nerrors; i++)
        if (!strcmp(m->errors[i].name, name))
            return &m->errors[i];
    return NULL;
}

static void test_model(void **state)
{
    (void)state;
    hc_manifest_set_t *set = hc_manifest_parse("m.yaml", manifests, sizeof(manifests) - 1);
    certs_model_t *m = certs_model_build(set, CERTS_MIN_DURATION_S);
    assert_int_equal(m->nissuers, 2);
    assert_int_equal(m->ncerts, 2); /* web, and shop-tls from the Ingress */
    const certs_model_error_t *e = error_for(m, "broken");
    assert_non_null(e);
    assert_string_equal(e->source, "m.yaml:17");
    assert_non_null(strstr(e->message, "secretName"));
    e = error_for(m, "bad-duration");
    assert_non_null(e);
    assert_string_equal(e->source, "m.yaml:33");
    assert_non_null(strstr(e->message, "duration"));

    const certs_cert_t *web = NULL, *shop = NULL;
    for (size_t i = 0; i < m->ncerts; i++) {
        if (!strcmp(m->certs[i].name, "web"))
            web = &m->certs[i];
        if (!strcmp(m->certs[i].name, "shop-tls"))
            shop = &m->certs[i];
    }
    assert_non_null(web);
    assert_int_equal(web->ndns, 2);
    assert_int_equal(web->nips, 1);
    assert_int_equal(web->duration_s, CERTS_DEFAULT_DURATION_S);
    assert_int_equal(web->renew_before_s, 360 * 3600);
    assert_int_equal(web->key_alg, CERTS_KEY_ECDSA);
    assert_int_equal(web->rotate_always, 0);
    assert_int_equal(web->usages, CERTS_USAGES_DEFAULT);
    const certs_issuer_t *is = certs_model_issuer_of(m, web);
    assert_non_null(is);
    assert_int_equal(is->type, CERTS_ISSUER_SELFSIGNED);

    assert_non_null(shop);
    assert_string_equal(shop->from, "Ingress");
    assert_string_equal(shop->secret_name, "shop-tls");
    assert_int_equal(shop->rotate_always, 1);
    is = certs_model_issuer_of(m, shop);
    assert_non_null(is);
    assert_int_equal(is->type, CERTS_ISSUER_ACME);
    assert_string_equal(is->acme_key_secret, "le-account");
    assert_string_equal(is->ingress_class, "traefik");
    certs_model_free(m);
    hc_manifest_set_unref(set);
}

/* A Certificate's validation rules, one object each: the error names the object. */
static void test_cert_rules(void **state)
{
    (void)state;
    static const char *const specs[] = {
        "  secretName: s\n  issuerRef: {name: i}\n",                        /* no names */
        "  dnsNames: [a.test]\n  issuerRef: {name: i}\n",                   /* no secretName */
        "  secretName: s\n  dnsNames: [a.test]\n",                          /* no issuerRef */
        "  secretName: s\n  dnsNames: [\"bad name\"]\n  issuerRef: {name: i}\n",
        "  secretName: s\n  dnsNames: [a.test]\n  duration: 30m\n  issuerRef: {name: i}\n",
        "  secretName: s\n  dnsNames: [a.test]\n  renewBefore: 4000h\n  issuerRef: {name: i}\n",
        "  secretName: s\n  dnsNames: [a.test]\n  usages: [teleport]\n  issuerRef: {name: i}\n",
        "  secretName: s\n  dnsNames: [a.test]\n  privateKey: {algorithm: DSA}\n  issuerRef: {name: i}\n",
        "  secretName: s\n  ipAddresses: [300.1.1.1]\n  issuerRef: {name: i}\n",
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        char doc[1024];
        int n = snprintf(doc, sizeof(doc),
                         "apiVersion: cert-manager.io/v1\nkind: Certificate\n"
                         "metadata: {name: c, namespace: n}\nspec:\n%s", specs[i]);
        hc_manifest_set_t *set = hc_manifest_parse("c.yaml", doc, (size_t)n);
        certs_model_t *m = certs_model_build(set, CERTS_MIN_DURATION_S);
        assert_int_equal(m->ncerts, 0);
        assert_int_equal(m->nerrors, 1);
        assert_string_equal(m->errors[0].source, "c.yaml:1");
        assert_string_equal(m->errors[0].name, "c");
        certs_model_free(m);
        hc_manifest_set_unref(set);
    }
}

static void test_secret_roundtrip(void **state)
{
    (void)state;
    char dir[] = "/tmp/certs-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *dns[] = {"a.example.test"};
    certs_cert_t c = {.ns = "apps", .name = "a", .secret_name = "a-tls", .dns_names = dns,
                      .ndns = 1, .issuer_kind = "ClusterIssuer", .issuer_name = "ca"};
    certs_tls_data_t d = {.crt_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                          .key_pem = "key\"with\\quotes\n", .ca_pem = "root"};
    char err[256];
    assert_int_equal(certs_secret_write_tls(dir, &c, &d, err, sizeof(err)), 0);
    const char *paths[] = {dir};
    hc_manifest_set_t *set = NULL;
    hc_manifest_load(paths, 1, &set);
    const hc_manifest_obj_t *o = hc_manifest_set_find(set, "Secret", "apps", "a-tls");
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o->doc, "type")), "kubernetes.io/tls");
    assert_string_equal(json_string_value(json_object_get(o->annotations, "cert-manager.io/alt-names")),
                        "a.example.test");
    static const struct {
        const char *key, *want;
    } entries[] = {{"tls.key", "key\"with\\quotes\n"}, {"ca.crt", "root"}};
    for (size_t i = 0; i < 2; i++) {
        char *v = NULL;
        size_t len = 0;
        assert_int_equal(certs_secret_get(set, "apps", "a-tls", entries[i].key, &v, &len), 0);
        assert_int_equal(len, strlen(entries[i].want));
        assert_string_equal(v, entries[i].want);
        hc_free(v);
    }
    char *v = NULL;
    size_t len;
    assert_int_equal(certs_secret_get(set, "apps", "a-tls", "nope", &v, &len), -ENOENT);
    assert_int_equal(certs_secret_get(set, "apps", "other", "tls.key", &v, &len), -ENOENT);
    hc_manifest_set_unref(set);
    char path[512];
    assert_int_equal(certs_secret_path(dir, "apps", "a-tls", path, sizeof(path)), 0);
    assert_int_equal(certs_secret_remove(path), 0);
    assert_int_equal(certs_secret_remove(path), 0);
    assert_int_equal(rmdir(dir), 0); /* no temporary file left behind */
}

/* A temporary left behind with loose permissions (a crash, or planted in a shared
 * directory) must not give the Secret its mode: the file is always 0600. */
static void test_secret_mode_with_stale_temp(void **state)
{
    (void)state;
    char dir[] = "/tmp/certs-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512], tmp[600], err[256];
    assert_int_equal(certs_secret_path(dir, "apps", "k", path, sizeof(path)), 0);
    snprintf(tmp, sizeof(tmp), "%s/.hearth-certs-apps-k.yaml.tmp%ld", dir, (long)getpid());
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs("stale", f);
    fclose(f);
    assert_int_equal(chmod(tmp, 0666), 0);
    assert_int_equal(certs_secret_write_key(dir, "apps", "k", "secret key\n", err, sizeof(err)), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(certs_secret_remove(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_cert_rules),
        cmocka_unit_test(test_secret_roundtrip),
        cmocka_unit_test(test_secret_mode_with_stale_temp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
