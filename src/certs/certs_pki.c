/* Keys, usages, CSRs and X.509 issuance for hearth certs (see certs_pki.h). The
 * selfSigned and CA issuers sign here; the ACME issuer only needs the CSR. PEM chains,
 * inspection and renewal math are in certs_pki_cert.c. */
#include "certs/certs_pki.h"

#include "core/hc_alloc.h"
#include "core/hc_err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static int ssl_err(char *err, size_t errlen, int rc, const char *what)
{
    char buf[160] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return hc_errf(err, errlen, rc, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

int certs_pki_key_alg_parse(const char *name, certs_key_alg_t *alg)
{
    if (!name || !*name || strcasecmp(name, "RSA") == 0)
        *alg = CERTS_KEY_RSA;
    else if (strcasecmp(name, "ECDSA") == 0)
        *alg = CERTS_KEY_ECDSA;
    else if (strcasecmp(name, "Ed25519") == 0)
        *alg = CERTS_KEY_ED25519;
    else
        return -EINVAL;
    return 0;
}

int certs_pki_key_generate(certs_key_alg_t alg, int size, EVP_PKEY **out, char *err,
                           size_t errlen)
{
    EVP_PKEY *k = NULL;
    switch (alg) {
    case CERTS_KEY_RSA:
        if (size == 0)
            size = 2048;
        /* cert-manager accepts any RSA size from 2048 to 8192 bits (certs_model.c too). */
        if (size < 2048 || size > 8192)
            return hc_errf(err, errlen, -EINVAL, "RSA key size %d: want 2048 to 8192", size);
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)size);
        break;
    case CERTS_KEY_ECDSA:
        if (size == 0)
            size = 256;
        if (size != 256 && size != 384)
            return hc_errf(err, errlen, -EINVAL, "ECDSA key size %d: want 256 or 384", size);
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", size == 256 ? "P-256" : "P-384");
        break;
    case CERTS_KEY_ED25519:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    }
    if (!k)
        return ssl_err(err, errlen, -EIO, "key generation failed");
    *out = k;
    return 0;
}

/* Keys in Secrets are unencrypted. Without a callback OpenSSL would prompt for a
 * passphrase on the terminal, blocking the loop and every other certificate. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

int certs_pki_key_load(const char *pem, size_t len, EVP_PKEY **out, char *err, size_t errlen)
{
    if (!pem || len == 0 || len > INT32_MAX)
        return hc_errf(err, errlen, -EINVAL, "empty private key");
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    if (!k)
        return ssl_err(err, errlen, -EINVAL, "cannot read the private key PEM");
    *out = k;
    return 0;
}

int certs_pki_bio_take(BIO *bio, char **out, size_t *out_len)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0)
        return -EIO;
    *out = hc_memdup(data, (size_t)n);
    if (out_len)
        *out_len = (size_t)n;
    return 0;
}

int certs_pki_key_pem(EVP_PKEY *key, certs_key_encoding_t enc, char **out, size_t *out_len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return -EIO;
    int ok;
    if (enc == CERTS_KEY_PKCS1 && !EVP_PKEY_is_a(key, "ED25519"))
        ok = PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL, NULL);
    else
        ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    int rc = ok ? certs_pki_bio_take(bio, out, out_len) : -EIO;
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

int certs_pki_key_fits(EVP_PKEY *key, certs_key_alg_t alg, int size)
{
    int bits = EVP_PKEY_get_bits(key);
    switch (alg) {
    case CERTS_KEY_RSA:
        return EVP_PKEY_is_a(key, "RSA") && bits == (size ? size : 2048);
    case CERTS_KEY_ECDSA:
        return EVP_PKEY_is_a(key, "EC") && bits == (size ? size : 256);
    case CERTS_KEY_ED25519:
        return EVP_PKEY_is_a(key, "ED25519");
    }
    return 0;
}

static const struct {
    const char *name;
    uint32_t bit;
} usage_names[] = {
    {"signing", CERTS_USAGE_SIGNING},
    {"digital signature", CERTS_USAGE_DIGITAL_SIGNATURE},
    {"content commitment", CERTS_USAGE_CONTENT_COMMITMENT},
    {"key encipherment", CERTS_USAGE_KEY_ENCIPHERMENT},
    {"key agreement", CERTS_USAGE_KEY_AGREEMENT},
    {"data encipherment", CERTS_USAGE_DATA_ENCIPHERMENT},
    {"cert sign", CERTS_USAGE_CERT_SIGN},
    {"crl sign", CERTS_USAGE_CRL_SIGN},
    {"encipher only", CERTS_USAGE_ENCIPHER_ONLY},
    {"decipher only", CERTS_USAGE_DECIPHER_ONLY},
    {"any", CERTS_USAGE_ANY},
    {"server auth", CERTS_USAGE_SERVER_AUTH},
    {"client auth", CERTS_USAGE_CLIENT_AUTH},
    {"code signing", CERTS_USAGE_CODE_SIGNING},
    {"email protection", CERTS_USAGE_EMAIL_PROTECTION},
    {"s/mime", CERTS_USAGE_EMAIL_PROTECTION},
    {"ipsec end system", CERTS_USAGE_IPSEC_END_SYSTEM},
    {"ipsec tunnel", CERTS_USAGE_IPSEC_TUNNEL},
    {"ipsec user", CERTS_USAGE_IPSEC_USER},
    {"timestamping", CERTS_USAGE_TIMESTAMPING},
    {"ocsp signing", CERTS_USAGE_OCSP_SIGNING},
    {"microsoft sgc", CERTS_USAGE_MICROSOFT_SGC},
    {"netscape sgc", CERTS_USAGE_NETSCAPE_SGC},
};

int certs_pki_usage_parse(const char *name, uint32_t *mask)
{
    for (size_t i = 0; name && i < sizeof(usage_names) / sizeof(usage_names[0]); i++)
        if (strcasecmp(name, usage_names[i].name) == 0) {
            *mask |= usage_names[i].bit;
            return 0;
        }
    return -EINVAL;
}

/* OpenSSL's v3 config words for each usage bit: keyUsage (RFC 5280 §4.2.1.3) first,
 * then extendedKeyUsage (§4.2.1.12). */
static const struct {
    uint32_t bit;
    int ext; /* 0 keyUsage, 1 extKeyUsage */
    const char *word;
} usage_words[] = {
    {CERTS_USAGE_SIGNING | CERTS_USAGE_DIGITAL_SIGNATURE, 0, "digitalSignature"},
    {CERTS_USAGE_CONTENT_COMMITMENT, 0, "nonRepudiation"},
    {CERTS_USAGE_KEY_ENCIPHERMENT, 0, "keyEncipherment"},
    {CERTS_USAGE_DATA_ENCIPHERMENT, 0, "dataEncipherment"},
    {CERTS_USAGE_KEY_AGREEMENT, 0, "keyAgreement"},
    {CERTS_USAGE_CERT_SIGN, 0, "keyCertSign"},
    {CERTS_USAGE_CRL_SIGN, 0, "cRLSign"},
    {CERTS_USAGE_ENCIPHER_ONLY, 0, "encipherOnly"},
    {CERTS_USAGE_DECIPHER_ONLY, 0, "decipherOnly"},
    {CERTS_USAGE_ANY, 1, "anyExtendedKeyUsage"},
    {CERTS_USAGE_SERVER_AUTH, 1, "serverAuth"},
    {CERTS_USAGE_CLIENT_AUTH, 1, "clientAuth"},
    {CERTS_USAGE_CODE_SIGNING, 1, "codeSigning"},
    {CERTS_USAGE_EMAIL_PROTECTION, 1, "emailProtection"},
    {CERTS_USAGE_IPSEC_END_SYSTEM, 1, "ipsecEndSystem"},
    {CERTS_USAGE_IPSEC_TUNNEL, 1, "ipsecTunnel"},
    {CERTS_USAGE_IPSEC_USER, 1, "ipsecUser"},
    {CERTS_USAGE_TIMESTAMPING, 1, "timeStamping"},
    {CERTS_USAGE_OCSP_SIGNING, 1, "OCSPSigning"},
    {CERTS_USAGE_MICROSOFT_SGC, 1, "msSGC"},
    {CERTS_USAGE_NETSCAPE_SGC, 1, "nsSGC"},
};

/* Builds "critical,digitalSignature,..." (ext 0) or "serverAuth,..." (ext 1); "" when
 * no usage of that kind is set. */
static void usage_conf(uint32_t usages, int ext, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(usage_words) / sizeof(usage_words[0]); i++) {
        if (usage_words[i].ext != ext || !(usages & usage_words[i].bit))
            continue;
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "," : (ext ? "" : "critical,"),
                              usage_words[i].word);
        if (n >= cap)
            return;
    }
}

static int add_name(GENERAL_NAMES *gens, int type, const char *value)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    if (!g)
        return -ENOMEM;
    if (type == GEN_IPADD) {
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(value);
        if (!ip) {
            GENERAL_NAME_free(g);
            return -EINVAL;
        }
        GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
    } else {
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        if (!s || !ASN1_STRING_set(s, value, -1)) {
            ASN1_IA5STRING_free(s);
            GENERAL_NAME_free(g);
            return -ENOMEM;
        }
        GENERAL_NAME_set0_value(g, type, s);
    }
    sk_GENERAL_NAME_push(gens, g);
    return 0;
}

/* The subjectAltName extension (RFC 5280 §4.2.1.6), critical when the subject is empty.
 * NULL with *rc set when there is none (*rc 0) or an IP does not parse (-EINVAL). */
static X509_EXTENSION *san_ext(const certs_names_t *nm, int *rc)
{
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    *rc = 0;
    for (size_t i = 0; !*rc && i < nm->n_dns; i++)
        *rc = add_name(gens, GEN_DNS, nm->dns[i]);
    for (size_t i = 0; !*rc && i < nm->n_ips; i++)
        *rc = add_name(gens, GEN_IPADD, nm->ips[i]);
    for (size_t i = 0; !*rc && i < nm->n_uris; i++)
        *rc = add_name(gens, GEN_URI, nm->uris[i]);
    for (size_t i = 0; !*rc && i < nm->n_emails; i++)
        *rc = add_name(gens, GEN_EMAIL, nm->emails[i]);
    X509_EXTENSION *ext = NULL;
    if (!*rc && sk_GENERAL_NAME_num(gens) > 0) {
        int critical = !nm->common_name || !*nm->common_name;
        ext = X509V3_EXT_i2d(NID_subject_alt_name, critical, gens);
        if (!ext)
            *rc = -EIO;
    }
    GENERAL_NAMES_free(gens);
    return ext;
}

/* Adds the SAN, keyUsage, extKeyUsage and basicConstraints extensions to exts. */
static int build_exts(const certs_names_t *nm, uint32_t usages, int is_ca,
                      STACK_OF(X509_EXTENSION) *exts, char *err, size_t errlen)
{
    int rc;
    X509_EXTENSION *san = san_ext(nm, &rc);
    if (rc < 0)
        return hc_errf(err, errlen, rc, "bad subjectAltName (an IP address that does not parse?)");
    if (!san && (!nm->common_name || !*nm->common_name))
        return hc_errf(err, errlen, -EINVAL, "no common name and no subject alternative names");
    if (san)
        sk_X509_EXTENSION_push(exts, san);
    if (!usages)
        usages = CERTS_USAGES_DEFAULT;
    if (is_ca)
        usages |= CERTS_USAGE_CERT_SIGN;
    char conf[512];
    for (int kind = 0; kind < 2; kind++) {
        usage_conf(usages, kind, conf, sizeof(conf));
        if (!conf[0])
            continue;
        X509_EXTENSION *e =
            X509V3_EXT_conf_nid(NULL, NULL, kind ? NID_ext_key_usage : NID_key_usage, conf);
        if (!e)
            return ssl_err(err, errlen, -EIO, "key usage extension");
        sk_X509_EXTENSION_push(exts, e);
    }
    if (is_ca) {
        X509_EXTENSION *e =
            X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
        if (!e)
            return ssl_err(err, errlen, -EIO, "basicConstraints extension");
        sk_X509_EXTENSION_push(exts, e);
    }
    return 0;
}

static X509_NAME *subject_name(const certs_names_t *nm)
{
    X509_NAME *n = X509_NAME_new();
    if (n && nm->common_name && *nm->common_name &&
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)nm->common_name, -1, -1, 0)) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

/* SHA-256 for RSA and EC keys, none (pure EdDSA) for Ed25519. */
static const EVP_MD *sign_md(EVP_PKEY *key)
{
    return EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();
}

int certs_pki_csr_create(EVP_PKEY *key, const certs_names_t *names, uint32_t usages,
                         int is_ca, unsigned char **der, size_t *der_len, char *err,
                         size_t errlen)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_NAME *subj = subject_name(names);
    int rc = -EIO;
    if (!req || !exts || !subj)
        goto out;
    rc = build_exts(names, usages, is_ca, exts, err, errlen);
    if (rc < 0)
        goto out;
    rc = -EIO;
    if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, subj) ||
        !X509_REQ_set_pubkey(req, key) || !X509_REQ_add_extensions(req, exts) ||
        !X509_REQ_sign(req, key, sign_md(key))) {
        rc = ssl_err(err, errlen, -EIO, "signing the CSR");
        goto out;
    }
    unsigned char *p = NULL;
    int n = i2d_X509_REQ(req, &p);
    if (n <= 0)
        goto out;
    *der = hc_memdup(p, (size_t)n);
    *der_len = (size_t)n;
    OPENSSL_free(p);
    rc = 0;
out:
    X509_NAME_free(subj);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    return rc;
}

/* A positive 128-bit random serial (RFC 5280 §4.1.2.2: at most 20 octets). */
static int set_serial(X509 *x)
{
    unsigned char buf[16];
    if (RAND_bytes(buf, sizeof(buf)) != 1)
        return -EIO;
    buf[0] = (unsigned char)((buf[0] & 0x7f) | 0x40);
    BIGNUM *bn = BN_bin2bn(buf, sizeof(buf), NULL);
    int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok ? 0 : -EIO;
}

static int add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -EIO;
}

/* Validity, names, extensions and the key identifiers (RFC 5280 §4.2.1.1-2). */
static int fill_cert(X509 *x, const certs_issue_req_t *r, X509 *issuer, char *err,
                     size_t errlen)
{
    int64_t now = r->now ? r->now : (int64_t)time(NULL);
    int64_t dur = r->duration_s > 0 ? r->duration_s : 2160 * 3600;
    X509_NAME *subj = subject_name(r->names);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    int rc = -EIO;
    if (!subj || !exts || !X509_set_version(x, 2) || set_serial(x) < 0 ||
        !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)now) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(now + dur)) ||
        !X509_set_subject_name(x, subj) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subj) ||
        !X509_set_pubkey(x, r->key))
        goto out;
    rc = build_exts(r->names, r->usages, r->is_ca, exts, err, errlen);
    if (rc < 0)
        goto out;
    rc = -EIO;
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++)
        if (!X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1))
            goto out;
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    if (add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
        add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0)
        goto out;
    rc = 0;
out:
    if (rc == -EIO)
        ssl_err(err, errlen, rc, "building the certificate");
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(subj);
    return rc;
}

int certs_pki_issue(const certs_issue_req_t *req, X509 **out, char *err, size_t errlen)
{
    EVP_PKEY *signer = req->ca_key ? req->ca_key : req->key;
    if (!req->key || !req->names || (!req->ca_cert) != (!req->ca_key))
        return hc_errf(err, errlen, -EINVAL, "a key and names are needed, a CA needs both "
                                             "certificate and key");
    if (req->ca_cert && X509_check_private_key(req->ca_cert, req->ca_key) != 1) {
        ERR_clear_error();
        return hc_errf(err, errlen, -EINVAL, "the CA key does not match the CA certificate");
    }
    X509 *x = X509_new();
    if (!x)
        return -ENOMEM;
    int rc = fill_cert(x, req, req->ca_cert, err, errlen);
    if (rc == 0 && !X509_sign(x, signer, sign_md(signer)))
        rc = ssl_err(err, errlen, -EIO, "signing the certificate");
    if (rc < 0) {
        X509_free(x);
        return rc;
    }
    *out = x;
    return 0;
}
