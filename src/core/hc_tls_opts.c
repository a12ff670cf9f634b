/* Server TLS options (hc_tls_int.h): Traefik's TLSOption fields (Go names for versions,
 * cipher suites and curves, Go's client authentication types) compiled once into what
 * OpenSSL takes, then applied to a whole context or to one connection whose SNI has
 * options of its own. */
#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_err.h"
#include "core/hc_tls_int.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

enum { SUITE_NAME_MAX = 64 };

/* Without a cipherSuites option the server chooses as Traefik's Go server does: its own
 * order, AES-128-GCM first, unless the client's first choice is ChaCha20-Poly1305 (Go's
 * aesgcmPreferred; OpenSSL's PRIORITIZE_CHACHA). OpenSSL alone would pick AES-256-GCM for
 * most clients, and the access log and tls_cipher metric label would differ from
 * Traefik's for the same client. */
#define GO_SUITES_TLS13 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define GO_SUITES_TLS12                                                                            \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"       \
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA"

/* Go's default curve preferences, in OpenSSL's names. */
#define GO_GROUPS "X25519:P-256:P-384:P-521"

int hc_tls_version_parse(const char *s, int *out)
{
    static const struct {
        const char *name;
        int version;
    } names[] = {
        {"TLS1.2", TLS1_2_VERSION},
        {"TLS1.3", TLS1_3_VERSION},
        {"VersionTLS12", TLS1_2_VERSION},
        {"VersionTLS13", TLS1_3_VERSION},
        {"TLSv1.2", TLS1_2_VERSION},
        {"TLSv1.3", TLS1_3_VERSION},
        /* Traefik takes these; OpenSSL's security level then decides what is offered */
        {"VersionTLS10", TLS1_VERSION},
        {"VersionTLS11", TLS1_1_VERSION},
        {"TLS1.0", TLS1_VERSION},
        {"TLS1.1", TLS1_1_VERSION},
        {"TLSv1.0", TLS1_VERSION},
        {"TLSv1.1", TLS1_1_VERSION},
    };
    if (!s || !*s) {
        *out = TLS1_2_VERSION;
        return 0;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].version;
            return 0;
        }
    return -EINVAL;
}

/* The cipher whose IANA name is name. Go also spells the ChaCha20 suites without the
 * trailing "_SHA256" (TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305). */
static const SSL_CIPHER *suite_find(STACK_OF(SSL_CIPHER) *all, const char *name)
{
    char alias[SUITE_NAME_MAX + 8];
    snprintf(alias, sizeof(alias), "%s_SHA256", name);
    for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
        const char *std = SSL_CIPHER_standard_name(c);
        if (std && (!strcmp(std, name) || (strstr(name, "CHACHA20") && !strcmp(std, alias))))
            return c;
    }
    return NULL;
}

/* The TLS 1.2 suites of Traefik's list, in the order Go's server prefers them
 * (crypto/tls cipherSuitesPreferenceOrder), whatever order a cipherSuites option lists
 * them in; those this OpenSSL does not offer are left out (legacy_suite). */
static const char *const go_order12[] = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
};
enum { GO_SUITES12 = sizeof(go_order12) / sizeof(go_order12[0]) };

/* A name of Traefik's list (its tls.CipherSuites: Go's names) that this OpenSSL does not
 * offer (RC4 and 3DES here, at its security level), or the fallback SCSV: taken and left
 * out, as a Go client would find it. */
static int legacy_suite(const char *name)
{
    if (!strcmp(name, "TLS_FALLBACK_SCSV"))
        return 1;
    for (size_t i = 0; i < GO_SUITES12; i++)
        if (!strcmp(name, go_order12[i]))
            return 1;
    return 0;
}

/* c's place in go_order12, or GO_SUITES12 for a suite Go does not have. */
static size_t go_rank12(const SSL_CIPHER *c)
{
    const char *std = SSL_CIPHER_standard_name(c);
    for (size_t i = 0; std && i < GO_SUITES12; i++)
        if (!strcmp(std, go_order12[i]))
            return i;
    return GO_SUITES12;
}

/* A comma list into the TLS 1.2 suites it names (OpenSSL names, ':'-joined, in Go's
 * order); TLS 1.3 names are taken and left out, as Go's server ignores them (TLS 1.3's
 * suites are not configurable there). A name Traefik does not know is refused, as its
 * "invalid CipherSuite". */
static int suites_translate(const char *list, STACK_OF(SSL_CIPHER) *all, hc_buf_t *v12, char *err,
                            size_t errlen)
{
    int chosen[GO_SUITES12] = {0};
    const char *p = list;
    while (*p) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t trim = len;
        while (trim && (p[trim - 1] == ' ' || p[trim - 1] == '\t'))
            trim--;
        if (!trim) {
            p += len;
            continue;
        }
        char name[SUITE_NAME_MAX + 1];
        const SSL_CIPHER *c = NULL;
        snprintf(name, sizeof(name), "%.*s", (int)trim, p);
        if (trim <= SUITE_NAME_MAX)
            c = suite_find(all, name);
        if (!c && legacy_suite(name)) { /* a name Traefik knows that OpenSSL no longer
                                           offers: left out, as a Go client would find it */
            p += len;
            continue;
        }
        int tls13 = c && !strcmp(SSL_CIPHER_get_version(c), "TLSv1.3");
        size_t rank = c && !tls13 ? go_rank12(c) : GO_SUITES12;
        if (!c || (!tls13 && rank == GO_SUITES12))
            return hc_errf(err, errlen, -EINVAL, "unknown or unsupported cipher suite \"%.*s\"",
                           (int)(trim > 80 ? 80 : trim), p);
        if (!tls13)
            chosen[rank] = 1;
        p += len;
    }
    for (size_t i = 0; i < GO_SUITES12; i++) {
        const SSL_CIPHER *c = chosen[i] ? suite_find(all, go_order12[i]) : NULL;
        if (c && ((v12->len && hc_buf_puts(v12, ":")) || hc_buf_puts(v12, SSL_CIPHER_get_name(c))))
            return hc_errf(err, errlen, -EINVAL, "cipher suite list too long");
    }
    return 0;
}

/* Go's and Traefik's curve names (crypto/tls CurveID, Traefik's tls.CurveIDs) to
 * OpenSSL's group names. */
static const char *curve_group(const char *name, size_t len)
{
    static const struct {
        const char *go, *openssl;
    } curves[] = {
        {"CurveP256", "P-256"}, {"secp256r1", "P-256"}, {"CurveP384", "P-384"},
        {"secp384r1", "P-384"}, {"CurveP521", "P-521"}, {"secp521r1", "P-521"},
        {"X25519", "X25519"},   {"x25519", "X25519"},
    };
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
        if (strlen(curves[i].go) == len && !strncmp(curves[i].go, name, len))
            return curves[i].openssl;
    return NULL;
}

static int groups_translate(const char *list, char **out, char *err, size_t errlen)
{
    hc_buf_t b;
    hc_buf_init(&b, 256);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (!len)
            break;
        const char *g = curve_group(p, len);
        if (!g) {
            hc_buf_free(&b);
            return hc_errf(err, errlen, -EINVAL, "unknown curve \"%.*s\"",
                           (int)(len > 40 ? 40 : len), p);
        }
        if ((b.len && hc_buf_puts(&b, ":")) || hc_buf_puts(&b, g)) {
            hc_buf_free(&b);
            return hc_errf(err, errlen, -EINVAL, "curve list too long");
        }
        p += len;
    }
    if (b.len && !hc_buf_append(&b, "", 1))
        *out = hc_strdup(b.base);
    hc_buf_free(&b);
    return 0;
}

/* The CA certificates of pem into a new store and their subjects into a new list. Each
 * is a trust anchor, an intermediate too, as in Go's ClientCAs pool. */
static int client_cas(const char *pem, size_t len, hc_tls_opts_t *o, char *err, size_t errlen)
{
    BIO *in = len <= INT_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
    if (!in)
        return hc_errf(err, errlen, -EINVAL, "client CA certificates too large");
    o->store = X509_STORE_new();
    o->ca_names = sk_X509_NAME_new_null();
    if (!o->store || !o->ca_names)
        hc_oom(0);
    X509_STORE_set_flags(o->store, X509_V_FLAG_PARTIAL_CHAIN);
    X509 *x;
    int n = 0;
    while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL))) {
        X509_NAME *name = X509_NAME_dup(X509_get_subject_name(x));
        if (X509_STORE_add_cert(o->store, x) == 1 && name && sk_X509_NAME_push(o->ca_names, name))
            n++;
        else
            X509_NAME_free(name);
        X509_free(x);
    }
    BIO_free(in);
    ERR_clear_error();
    if (!n)
        return hc_errf(err, errlen, -EINVAL, "no PEM certificate among the client CAs");
    return 0;
}

/* Go's RequestClientCert and RequireAnyClientCert ask for a certificate and take it
 * unverified. */
static int verify_any(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1;
}

int hc_tls_opts_compile(const hc_tls_server_opts_t *in, const char *id, hc_tls_opts_t *o, char *err,
                        size_t errlen)
{
    memset(o, 0, sizeof(*o));
    if (hc_tls_version_parse(in->min_version, &o->min_version))
        return hc_errf(err, errlen, -EINVAL,
                       "unsupported minimum TLS version \"%.40s\" (VersionTLS10 to 13)",
                       in->min_version);
    if (in->max_version && *in->max_version &&
        (hc_tls_version_parse(in->max_version, &o->max_version) || o->max_version < o->min_version))
        return hc_errf(err, errlen, -EINVAL,
                       "unsupported maximum TLS version \"%.40s\" (TLS1.2 or TLS1.3, not "
                       "below the minimum)",
                       in->max_version);
    int rc = 0;
    if (in->cipher_suites && *in->cipher_suites) {
        hc_buf_t v12;
        SSL_CTX *probe = SSL_CTX_new(TLS_method());
        if (!probe)
            hc_oom(0);
        hc_buf_init(&v12, 4096);
        if (!SSL_CTX_set_cipher_list(probe, "ALL"))
            rc = hc_errf(err, errlen, -EINVAL, "cipher suites: cannot list ciphers");
        else
            rc = suites_translate(in->cipher_suites, SSL_CTX_get_ciphers(probe), &v12, err, errlen);
        if (!rc && v12.len && !hc_buf_append(&v12, "", 1))
            o->ciphers12 = hc_strdup(v12.base);
        else if (!rc && o->min_version < TLS1_3_VERSION) /* no TLS 1.2 suite: Go's TLS 1.2
                                                            handshakes all fail */
            o->min_version = TLS1_3_VERSION;
        hc_buf_free(&v12);
        SSL_CTX_free(probe);
    }
    if (!rc && in->curves && *in->curves)
        rc = groups_translate(in->curves, &o->groups, err, errlen);
    int verifies = in->client_auth == HC_TLS_CLIENT_VERIFY_IF_GIVEN ||
                   in->client_auth == HC_TLS_CLIENT_REQUIRE_VERIFY;
    if (!rc && verifies && !in->client_ca_len)
        rc = hc_errf(err, errlen, -EINVAL, "client authentication that verifies needs CA files");
    if (!rc && in->client_ca_len)
        rc = client_cas(in->client_ca_pem, in->client_ca_len, o, err, errlen);
    if (rc) {
        hc_tls_opts_free(o);
        return rc;
    }
    o->verify_mode = in->client_auth == HC_TLS_CLIENT_NONE ? SSL_VERIFY_NONE : SSL_VERIFY_PEER;
    if (in->client_auth == HC_TLS_CLIENT_REQUIRE_ANY ||
        in->client_auth == HC_TLS_CLIENT_REQUIRE_VERIFY)
        o->verify_mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    o->verify_any =
        in->client_auth == HC_TLS_CLIENT_REQUEST || in->client_auth == HC_TLS_CLIENT_REQUIRE_ANY;
    o->sni_strict = in->sni_strict;
    o->no_tickets = in->no_session_tickets;
    /* sessions resume only under the options they were made with */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(id ? id : "", id ? strlen(id) : 0, md, &mdlen, EVP_sha256(), NULL);
    o->sid_len = mdlen < sizeof(o->sid) ? mdlen : (unsigned)sizeof(o->sid);
    memcpy(o->sid, md, o->sid_len);
    return 0;
}

void hc_tls_opts_free(hc_tls_opts_t *o)
{
    hc_free(o->ciphers12);
    hc_free(o->groups);
    X509_STORE_free(o->store);
    sk_X509_NAME_pop_free(o->ca_names, X509_NAME_free);
    memset(o, 0, sizeof(*o));
}

/* OpenSSL's security level: 0 lets TLS 1.0 and 1.1 be negotiated when the options ask
 * for them (Go offers them with an explicit minVersion; OpenSSL 3 needs level 0); 1 (RSA
 * keys of 1024 bits and more, as Go takes) otherwise. */
static int sec_level(const hc_tls_opts_t *o)
{
    return o->min_version < TLS1_2_VERSION ? 0 : 1;
}

/* Go's server: one TLS 1.3 ticket per handshake; none when disabled. */
static int tickets(const hc_tls_opts_t *o)
{
    return o->no_tickets ? 0 : 1;
}

int hc_tls_opts_apply_ctx(SSL_CTX *ssl, const hc_tls_opts_t *o, char *err, size_t errlen)
{
    SSL_CTX_set_min_proto_version(ssl, o->min_version);
    SSL_CTX_set_max_proto_version(ssl, o->max_version);
    SSL_CTX_set_security_level(ssl, sec_level(o));
    SSL_CTX_set_num_tickets(ssl, (size_t)tickets(o));
    if (o->no_tickets)
        SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET);
    else
        SSL_CTX_clear_options(ssl, SSL_OP_NO_TICKET);
    if (!SSL_CTX_set_cipher_list(ssl, o->ciphers12 ? o->ciphers12 : GO_SUITES_TLS12) ||
        !SSL_CTX_set_ciphersuites(ssl, GO_SUITES_TLS13) ||
        !SSL_CTX_set1_groups_list(ssl, o->groups ? o->groups : GO_GROUPS)) {
        hc_tls_err(err, errlen, "cipher suites or curves", "rejected");
        return -EINVAL;
    }
    SSL_CTX_set_verify(ssl, o->verify_mode, o->verify_any ? verify_any : NULL);
    if (o->store)
        SSL_CTX_set1_verify_cert_store(ssl, o->store);
    if (o->ca_names)
        SSL_CTX_set_client_CA_list(ssl, SSL_dup_CA_list(o->ca_names));
    SSL_CTX_set_session_id_context(ssl, o->sid, o->sid_len);
    return 0;
}

int hc_tls_opts_apply_ssl(SSL *ssl, const hc_tls_opts_t *o)
{
    SSL_set_min_proto_version(ssl, o->min_version);
    SSL_set_max_proto_version(ssl, o->max_version);
    SSL_set_security_level(ssl, sec_level(o));
    SSL_set_num_tickets(ssl, (size_t)tickets(o));
    if (o->no_tickets)
        SSL_set_options(ssl, SSL_OP_NO_TICKET);
    else
        SSL_clear_options(ssl, SSL_OP_NO_TICKET);
    if (!SSL_set_cipher_list(ssl, o->ciphers12 ? o->ciphers12 : GO_SUITES_TLS12) ||
        !SSL_set_ciphersuites(ssl, GO_SUITES_TLS13) ||
        !SSL_set1_groups_list(ssl, o->groups ? o->groups : GO_GROUPS)) {
        ERR_clear_error();
        return -EINVAL;
    }
    SSL_set_verify(ssl, o->verify_mode, o->verify_any ? verify_any : NULL);
    if (o->store)
        SSL_set1_verify_cert_store(ssl, o->store);
    /* an empty list, not NULL: NULL would name the context's (`default`'s) CAs */
    SSL_set_client_CA_list(ssl,
                           o->ca_names ? SSL_dup_CA_list(o->ca_names) : sk_X509_NAME_new_null());
    SSL_set_session_id_context(ssl, o->sid, o->sid_len);
    return 0;
}

int hc_tls_client_auth_parse(const char *s, hc_tls_client_auth_t *out)
{
    static const char *const names[] = {"NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                                        "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (s && !strcmp(s, names[i])) {
            *out = (hc_tls_client_auth_t)i;
            return 0;
        }
    return -EINVAL;
}
