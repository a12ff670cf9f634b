/* Issuance for one certificate state (certs_int.h): selfSigned and CA issuers sign at
 * once with certs_pki; ACME issuers run an order on the issuer's certs_acme client (one
 * per issuer, its account key kept in the privateKeySecretRef Secret), with HTTP-01
 * challenges handed to certs_solver.c. Results go back to certs_sched.c. */
#include "certs/certs_int.h"
#include "certs/certs_secret.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- keys ---- */

/* The subject key: the one in the Secret when rotationPolicy is Never and it still fits,
 * else a new one. */
static int subject_key(certs_state_t *st, EVP_PKEY **out, char *err, size_t errlen)
{
    const certs_cert_t *c = st->spec;
    char *pem = NULL;
    size_t len = 0;
    if (!c->rotate_always &&
        certs_secret_get(st->svc->set, c->ns, c->secret_name, "tls.key", &pem, &len) == 0) {
        EVP_PKEY *k = NULL;
        int ok = certs_pki_key_load(pem, len, &k, err, errlen) == 0 &&
                 certs_pki_key_fits(k, c->key_alg, c->key_size);
        hc_free(pem);
        if (ok) {
            *out = k;
            return 0;
        }
        EVP_PKEY_free(k);
    }
    return certs_pki_key_generate(c->key_alg, c->key_size, out, err, errlen);
}

static void names_of(const certs_cert_t *c, certs_names_t *n)
{
    *n = (certs_names_t){.common_name = c->common_name,
                         .dns = (const char *const *)c->dns_names,
                         .n_dns = c->ndns,
                         .ips = (const char *const *)c->ip_addresses,
                         .n_ips = c->nips};
}

/* The CA key pair of a ca issuer: its Secret in the Issuer's namespace, or for a
 * ClusterIssuer in the cluster resource namespace (cert-manager's --cluster-resource-
 * namespace). */
static int ca_load(certs_svc_t *svc, const certs_issuer_t *is, X509 **cert, EVP_PKEY **key,
                   char **ca_pem, char *err, size_t errlen)
{
    const char *ns = is->ns[0] ? is->ns : svc->cluster_ns;
    char *crt = NULL, *k = NULL;
    size_t crtlen = 0, klen = 0;
    STACK_OF(X509) *chain = NULL;
    int rc = certs_secret_get(svc->set, ns, is->ca_secret, "tls.crt", &crt, &crtlen);
    if (rc == 0)
        rc = certs_secret_get(svc->set, ns, is->ca_secret, "tls.key", &k, &klen);
    if (rc) {
        snprintf(err, errlen, "CA Secret %s/%s has no tls.crt and tls.key", ns, is->ca_secret);
        goto out;
    }
    if ((rc = certs_pki_chain_parse(crt, crtlen, &chain, err, errlen)) != 0 ||
        (rc = certs_pki_key_load(k, klen, key, err, errlen)) != 0)
        goto out;
    *cert = X509_dup(sk_X509_value(chain, 0));
    /* ca.crt: the root of the CA's chain (the last certificate given). */
    size_t pemlen;
    rc = certs_pki_cert_pem(sk_X509_value(chain, sk_X509_num(chain) - 1), ca_pem, &pemlen);
out:
    if (chain)
        sk_X509_pop_free(chain, X509_free);
    hc_free(crt);
    hc_free(k);
    return rc;
}

/* selfSigned and ca: sign now; the chain is the leaf (+ the CA certificate). */
static void issue_local(certs_state_t *st, const certs_issuer_t *is)
{
    const certs_cert_t *c = st->spec;
    char err[512] = "", *chain = NULL, *key_pem = NULL, *ca_pem = NULL;
    size_t len;
    EVP_PKEY *key = NULL, *ca_key = NULL;
    X509 *ca = NULL, *leaf = NULL;
    certs_names_t names;
    names_of(c, &names);
    int rc = subject_key(st, &key, err, sizeof(err));
    if (rc == 0 && is->type == CERTS_ISSUER_CA)
        rc = ca_load(st->svc, is, &ca, &ca_key, &ca_pem, err, sizeof(err));
    certs_issue_req_t req = {.key = key, .names = &names, .usages = c->usages, .is_ca = c->is_ca,
                             .duration_s = c->duration_s, .ca_cert = ca, .ca_key = ca_key};
    if (rc == 0)
        rc = certs_pki_issue(&req, &leaf, err, sizeof(err));
    if (rc == 0 && is->type == CERTS_ISSUER_SELFSIGNED)
        rc = certs_pki_cert_pem(leaf, &ca_pem, &len);
    if (rc == 0)
        rc = certs_pki_key_pem(key, c->key_encoding, &key_pem, &len);
    if (rc == 0) {
        STACK_OF(X509) *sk = sk_X509_new_null();
        if (ca)
            sk_X509_push(sk, ca);
        rc = certs_pki_chain_pem(leaf, sk, &chain, &len);
        sk_X509_free(sk);
    }
    if (rc)
        certs_sched_fail(st, err[0] ? err : strerror(-rc), "");
    else
        certs_sched_issued(st, chain, key_pem, ca_pem);
    hc_free(chain);
    hc_free(key_pem);
    hc_free(ca_pem);
    X509_free(leaf);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
}

/* ---- ACME ---- */

/* The issuer's account key: from its Secret, or a new P-256 key written there. */
static int account_key(certs_svc_t *svc, const certs_issuer_t *is, EVP_PKEY **out, int *existing,
                       char *err, size_t errlen)
{
    const char *ns = is->ns[0] ? is->ns : svc->cluster_ns;
    char *pem = NULL;
    size_t len = 0;
    if (certs_secret_get(svc->set, ns, is->acme_key_secret, "tls.key", &pem, &len) == 0) {
        int rc = certs_pki_key_load(pem, len, out, err, errlen);
        hc_free(pem);
        *existing = 1;
        return rc;
    }
    *existing = 0;
    int rc = certs_pki_key_generate(CERTS_KEY_ECDSA, 256, out, err, errlen);
    if (rc == 0)
        rc = certs_pki_key_pem(*out, CERTS_KEY_PKCS8, &pem, &len);
    if (rc == 0)
        rc = certs_secret_write_key(svc->out_dir, ns, is->acme_key_secret, pem, err, errlen);
    hc_free(pem);
    return rc;
}

/* What a client is made from: the issuer and every field certs_acme_new copies, hashed,
 * so an edited issuer (email, caBundle, skipTLSVerify, key Secret) gets a new client. */
static void client_key(const certs_issuer_t *is, char out[65])
{
    const char *parts[] = {is->kind, is->ns, is->name, is->acme_server,
                           is->acme_email ? is->acme_email : "", is->acme_key_secret,
                           is->acme_skip_verify ? "1" : "0",
                           is->acme_ca_bundle ? is->acme_ca_bundle : ""};
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        EVP_DigestUpdate(md, parts[i], strlen(parts[i]) + 1); /* with the NUL: unambiguous */
    EVP_DigestFinal_ex(md, h, &n);
    EVP_MD_CTX_free(md);
    for (unsigned i = 0; i < 32 && i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static certs_acme_t *acme_client(certs_svc_t *svc, const certs_issuer_t *is, char *err,
                                 size_t errlen)
{
    char key[sizeof(svc->clients[0].key)];
    client_key(is, key);
    for (size_t i = 0; i < svc->nclients; i++)
        if (!strcmp(svc->clients[i].key, key))
            return svc->clients[i].acme;
    EVP_PKEY *pk = NULL;
    int existing = 0;
    if (account_key(svc, is, &pk, &existing, err, errlen) != 0)
        return NULL;
    certs_acme_opts_t o = {.directory_url = is->acme_server,
                           .email = is->acme_email,
                           .account_key = pk,
                           .key_existing = existing,
                           .ca_file = svc->ca_file,
                           .ca_pem = is->acme_ca_bundle,
                           .ca_pem_len = is->acme_ca_bundle ? strlen(is->acme_ca_bundle) : 0,
                           .insecure_skip_verify = is->acme_skip_verify};
    certs_acme_t *a = certs_acme_new(svc->loop, &o, err, errlen);
    EVP_PKEY_free(pk);
    if (!a)
        return NULL;
    svc->clients = hc_realloc(svc->clients, (svc->nclients + 1) * sizeof(*svc->clients));
    snprintf(svc->clients[svc->nclients].key, sizeof(key), "%s", key);
    svc->clients[svc->nclients++].acme = a;
    return a;
}

static void on_challenge(certs_acme_order_t *order, const char *identifier, const char *token,
                         const char *key_auth, void *ud)
{
    certs_solver_add(ud, order, identifier, token, key_auth);
}

static void on_challenge_done(certs_acme_order_t *order, const char *token, void *ud)
{
    certs_state_t *st = ud;
    (void)order;
    certs_solver_remove(st->svc, token);
}

static void on_order_done(certs_acme_order_t *order, const certs_acme_result_t *res, void *ud)
{
    certs_state_t *st = ud;
    certs_svc_t *svc = st->svc;
    EVP_PKEY *key = st->pkey;
    (void)order;
    st->order = NULL;
    st->pkey = NULL;
    st->issuing = 0;
    svc->orders_running--;
    if (st->closing || !st->spec || res->status == -ECANCELED) {
        EVP_PKEY_free(key);
        return;
    }
    if (strcmp(st->order_hash, st->spec_hash) != 0) {
        /* The spec changed while the order ran: its result is for the old names. */
        EVP_PKEY_free(key);
        hc_log(HC_LOG_INFO, "certificate spec changed during issuance; issuing again",
               HC_LS("namespace", st->ns), HC_LS("name", st->name), NULL);
        certs_sched_check(st);
        return;
    }
    char msg[700];
    if (res->status) {
        const certs_acme_problem_t *p = res->problem;
        snprintf(msg, sizeof(msg), "%s%s%s", res->message, p && p->detail[0] ? ": " : "",
                 p ? p->detail : "");
        certs_sched_fail(st, msg, p ? p->type : "");
    } else {
        char *key_pem = NULL;
        size_t len;
        if (certs_pki_key_pem(key, st->spec->key_encoding, &key_pem, &len) == 0)
            certs_sched_issued(st, res->chain_pem, key_pem, NULL);
        else
            certs_sched_fail(st, "cannot encode the private key", "");
        hc_free(key_pem);
    }
    EVP_PKEY_free(key);
}

static const certs_acme_order_cbs_t order_cbs = {
    .on_challenge = on_challenge,
    .on_challenge_done = on_challenge_done,
    .on_done = on_order_done,
};

static void issue_acme(certs_state_t *st, const certs_issuer_t *is)
{
    certs_svc_t *svc = st->svc;
    const certs_cert_t *c = st->spec;
    char err[512] = "";
    unsigned char *csr = NULL;
    size_t csrlen = 0;
    EVP_PKEY *key = NULL;
    certs_names_t names;
    names_of(c, &names);
    certs_acme_t *a = acme_client(svc, is, err, sizeof(err));
    int rc = a ? subject_key(st, &key, err, sizeof(err)) : -EINVAL;
    if (rc == 0)
        rc = certs_pki_csr_create(key, &names, c->usages, c->is_ca, &csr, &csrlen, err, sizeof(err));
    if (rc == 0) {
        st->issuing = 1;
        st->pkey = key;
        memcpy(st->order_hash, st->spec_hash, sizeof(st->order_hash));
        svc->orders_running++;
        rc = certs_acme_order_start(a, names.dns, names.n_dns, names.ips, names.n_ips, csr,
                                    csrlen, &order_cbs, st, &st->order);
        if (rc) {
            st->issuing = 0;
            st->pkey = NULL;
            svc->orders_running--;
            snprintf(err, sizeof(err), "cannot start the ACME order: %s", strerror(-rc));
        }
    }
    hc_free(csr);
    if (rc) {
        EVP_PKEY_free(key);
        certs_sched_fail(st, err[0] ? err : strerror(-rc), "");
    }
}

void certs_issue_start(certs_state_t *st, const certs_issuer_t *is)
{
    if (is->type == CERTS_ISSUER_ACME)
        issue_acme(st, is);
    else
        issue_local(st, is);
}

void certs_issue_close(certs_svc_t *svc)
{
    for (size_t i = 0; i < svc->nstates; i++)
        svc->states[i]->closing = 1;
    for (size_t i = 0; i < svc->nclients; i++)
        certs_acme_free(svc->clients[i].acme);
    hc_free(svc->clients);
    svc->clients = NULL;
    svc->nclients = 0;
}
