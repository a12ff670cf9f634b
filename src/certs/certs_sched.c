/* The per-certificate scheduler of hearth certs: on every manifest snapshot each
 * Certificate is matched with its state, checked against its Secret (Ready when
 * unexpired, key matches, names match), and issued, renewed at its renewal time, or
 * retried after an exponential backoff of its own. Issuance itself is certs_issue.c. */
#include "certs/certs_int.h"
#include "certs/certs_secret.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_log.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int64_t certs_now(void)
{
    return (int64_t)time(NULL);
}

/* ---- spec fingerprint ---- */

static void spec_hash(const certs_cert_t *c, char out[65])
{
    hc_buf_t b;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    hc_buf_init(&b, 0);
    for (size_t i = 0; i < c->ndns; i++)
        hc_buf_printf(&b, "%s,", c->dns_names[i]);
    for (size_t i = 0; i < c->nips; i++)
        hc_buf_printf(&b, "|%s", c->ip_addresses[i]);
    hc_buf_printf(&b, "|%s|%s|%s|%s|%d|%d|%d|%u|%d|%lld", c->secret_name, c->issuer_kind,
                  c->issuer_name, c->common_name ? c->common_name : "", (int)c->key_alg,
                  c->key_size, (int)c->key_encoding, (unsigned)c->usages, c->is_ca,
                  c->duration_s);
    EVP_Digest(b.base, b.len, md, &mdlen, EVP_sha256(), NULL);
    hc_buf_free(&b);
    for (unsigned i = 0; i < 32 && i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t)
{
    certs_sched_check(t->data);
}

static void timer_at(certs_state_t *st, int64_t when)
{
    int64_t now = certs_now();
    uint64_t ms = when > now ? (uint64_t)(when - now) * 1000 : 0;
    if (ms > 24ULL * 3600 * 1000) /* re-check daily: clocks jump, files change */
        ms = 24ULL * 3600 * 1000;
    uv_timer_start(&st->timer, on_timer, ms, 0);
}

/* ---- the Secret on disk and in the snapshot ---- */

static void names_of(const certs_cert_t *c, certs_names_t *n)
{
    *n = (certs_names_t){.common_name = c->common_name,
                         .dns = (const char *const *)c->dns_names,
                         .n_dns = c->ndns,
                         .ips = (const char *const *)c->ip_addresses,
                         .n_ips = c->nips};
}

/* Whether the Secret of st in the current snapshot holds a valid certificate for its
 * spec; fills the validity fields when it does. */
static int secret_valid(certs_state_t *st)
{
    const certs_cert_t *c = st->spec;
    const hc_manifest_obj_t *o =
        st->svc->set ? hc_manifest_set_find(st->svc->set, "Secret", c->ns, c->secret_name) : NULL;
    const char *iss = o ? json_string_value(json_object_get(o->annotations, "cert-manager.io/issuer-name")) : NULL;
    const char *hash = o ? json_string_value(json_object_get(o->annotations, CERTS_ANN_SPEC_HASH)) : NULL;
    char *crt = NULL, *key = NULL, err[256];
    size_t crtlen = 0, keylen = 0;
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *pk = NULL;
    certs_cert_info_t info = {0};
    int ok = 0;
    if (!iss || strcmp(iss, c->issuer_name) || (hash && strcmp(hash, st->spec_hash)) ||
        certs_secret_get(st->svc->set, c->ns, c->secret_name, "tls.crt", &crt, &crtlen) ||
        certs_secret_get(st->svc->set, c->ns, c->secret_name, "tls.key", &key, &keylen) ||
        certs_pki_chain_parse(crt, crtlen, &chain, err, sizeof(err)) ||
        certs_pki_key_load(key, keylen, &pk, err, sizeof(err)) ||
        certs_pki_cert_inspect(sk_X509_value(chain, 0), &info))
        goto out;
    certs_names_t want;
    names_of(c, &want);
    ok = certs_pki_key_matches_cert(pk, sk_X509_value(chain, 0)) &&
         certs_pki_names_match(&info, &want) && info.is_ca == c->is_ca &&
         info.not_after > certs_now();
    if (ok) {
        st->not_before = info.not_before;
        st->not_after = info.not_after;
        st->renewal_time = certs_pki_renewal_time(info.not_before, info.not_after,
                                                  c->renew_before_s, c->renew_before_pct);
    }
out:
    certs_pki_cert_info_clear(&info);
    EVP_PKEY_free(pk);
    if (chain)
        sk_X509_pop_free(chain, X509_free);
    hc_free(crt);
    hc_free(key);
    return ok;
}

/* Whether st's Secret is still there: the file this service writes (the snapshot may not
 * have it yet), or a Secret in the snapshot from another file. Deleting it asks for a
 * reissue; a valid Secret someone else wrote must not be reissued at every reload. */
static int secret_present(const certs_state_t *st)
{
    char path[4096];
    struct stat sb;
    if (st->svc->set &&
        hc_manifest_set_find(st->svc->set, "Secret", st->spec->ns, st->spec->secret_name))
        return 1;
    return certs_secret_path(st->svc->out_dir, st->spec->ns, st->spec->secret_name, path,
                             sizeof(path)) == 0 && stat(path, &sb) == 0;
}

/* ---- decisions ---- */

void certs_sched_check(certs_state_t *st)
{
    certs_svc_t *svc = st->svc;
    if (!st->spec || st->issuing || svc->stopping)
        return;
    int64_t now = certs_now();
    uv_timer_stop(&st->timer);
    if (st->ready && now < st->renewal_time && secret_present(st)) {
        timer_at(st, st->renewal_time);
        return;
    }
    if (!st->ready && !st->failures && secret_valid(st) && now < st->renewal_time) {
        st->ready = 1;
        certs_api_metrics_update(st);
        hc_log(HC_LOG_INFO, "certificate ready", HC_LS("namespace", st->ns),
               HC_LS("name", st->name), HC_LI("renewal_time", st->renewal_time), NULL);
        timer_at(st, st->renewal_time);
        return;
    }
    if (st->failures && st->issuer_missing && certs_model_issuer_of(svc->model, st->spec))
        st->next_retry = now; /* the issuer arrived: no need to wait for the backoff */
    if (st->failures && now < st->next_retry) {
        timer_at(st, st->next_retry);
        return;
    }
    const certs_issuer_t *is = certs_model_issuer_of(svc->model, st->spec);
    if (!is) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s %s not found", st->spec->issuer_kind, st->spec->issuer_name);
        certs_sched_fail(st, msg, "");
        st->issuer_missing = 1;
        return;
    }
    if (is->type == CERTS_ISSUER_ACME && svc->orders_running >= svc->max_orders) {
        uv_timer_start(&st->timer, on_timer, 1000, 0); /* a slot frees up soon */
        return;
    }
    hc_log(HC_LOG_INFO, st->ready ? "renewing certificate" : "issuing certificate",
           HC_LS("namespace", st->ns), HC_LS("name", st->name), HC_LS("issuer", is->name), NULL);
    certs_issue_start(st, is);
}

void certs_sched_fail(certs_state_t *st, const char *message, const char *problem)
{
    certs_svc_t *svc = st->svc;
    st->failures++;
    st->issuer_missing = 0;
    st->last_failure_time = certs_now();
    snprintf(st->message, sizeof(st->message), "%s", message);
    snprintf(st->problem, sizeof(st->problem), "%s", problem ? problem : "");
    uint64_t delay = svc->retry_base_ms;
    for (unsigned i = 1; i < st->failures && delay < svc->retry_max_ms; i++)
        delay *= 2;
    if (delay > svc->retry_max_ms)
        delay = svc->retry_max_ms;
    st->next_retry = st->last_failure_time + (int64_t)((delay + 999) / 1000);
    if (st->ready && certs_now() >= st->not_after)
        st->ready = 0;
    certs_api_metrics_update(st);
    hc_log(HC_LOG_WARN, "certificate issuance failed", HC_LS("namespace", st->ns),
           HC_LS("name", st->name), HC_LS("error", message),
           HC_LS("problem", st->problem[0] ? st->problem : NULL), HC_LI("failures", st->failures),
           HC_LI("retry_in_ms", delay), NULL);
    if (!svc->stopping && st->spec)
        uv_timer_start(&st->timer, on_timer, delay, 0);
}

int certs_sched_issued(certs_state_t *st, const char *chain_pem, const char *key_pem,
                       const char *ca_pem)
{
    STACK_OF(X509) *chain = NULL;
    certs_cert_info_t info = {0};
    char err[512];
    int rc = certs_pki_chain_parse(chain_pem, strlen(chain_pem), &chain, err, sizeof(err));
    if (rc == 0 && (rc = certs_pki_cert_inspect(sk_X509_value(chain, 0), &info)) != 0)
        snprintf(err, sizeof(err), "issued certificate unreadable");
    certs_tls_data_t d = {.crt_pem = chain_pem, .key_pem = key_pem, .ca_pem = ca_pem,
                          .spec_hash = st->spec_hash};
    if (rc == 0)
        rc = certs_secret_write_tls(st->svc->out_dir, st->spec, &d, err, sizeof(err));
    if (chain)
        sk_X509_pop_free(chain, X509_free);
    if (rc) {
        certs_pki_cert_info_clear(&info);
        certs_sched_fail(st, err, "");
        return rc;
    }
    st->ready = 1;
    st->failures = 0;
    st->message[0] = st->problem[0] = '\0';
    st->not_before = info.not_before;
    st->not_after = info.not_after;
    st->renewal_time = certs_pki_renewal_time(info.not_before, info.not_after,
                                              st->spec->renew_before_s, st->spec->renew_before_pct);
    hc_log(HC_LOG_INFO, "certificate issued", HC_LS("namespace", st->ns), HC_LS("name", st->name),
           HC_LS("serial", info.serial_hex), HC_LI("not_after", info.not_after),
           HC_LI("renewal_time", st->renewal_time), NULL);
    certs_pki_cert_info_clear(&info);
    certs_api_metrics_update(st);
    timer_at(st, st->renewal_time);
    return 0;
}

/* ---- states across snapshots ---- */

static certs_state_t *state_find(certs_svc_t *svc, const char *ns, const char *name)
{
    for (size_t i = 0; i < svc->nstates; i++)
        if (!strcmp(svc->states[i]->ns, ns) && !strcmp(svc->states[i]->name, name))
            return svc->states[i];
    return NULL;
}

static certs_state_t *state_new(certs_svc_t *svc, const certs_cert_t *c)
{
    certs_state_t *st = hc_calloc(1, sizeof(*st));
    st->svc = svc;
    st->ns = hc_strdup(c->ns);
    st->name = hc_strdup(c->name);
    uv_timer_init(svc->loop, &st->timer);
    st->timer.data = st;
    svc->states = hc_realloc(svc->states, (svc->nstates + 1) * sizeof(*svc->states));
    svc->states[svc->nstates++] = st;
    return st;
}

void certs_sched_apply(certs_svc_t *svc, hc_manifest_set_t *set)
{
    certs_model_t *m = certs_model_build(set, svc->min_duration_s);
    for (size_t i = 0; i < m->nerrors; i++)
        hc_log(HC_LOG_WARN, "manifest error", HC_LS("source", m->errors[i].source),
               HC_LS("kind", m->errors[i].kind), HC_LS("namespace", m->errors[i].ns),
               HC_LS("name", m->errors[i].name), HC_LS("error", m->errors[i].message), NULL);
    hc_manifest_set_unref(svc->set);
    svc->set = set;
    certs_model_free(svc->model);
    svc->model = m;
    for (size_t i = 0; i < svc->nstates; i++)
        svc->states[i]->spec = NULL;
    for (size_t i = 0; i < m->ncerts; i++) {
        certs_state_t *st = state_find(svc, m->certs[i].ns, m->certs[i].name);
        if (!st)
            st = state_new(svc, &m->certs[i]);
        st->spec = &m->certs[i];
        char h[65];
        spec_hash(st->spec, h);
        if (strcmp(h, st->spec_hash)) { /* new, or a reissue trigger changed */
            memcpy(st->spec_hash, h, sizeof(h));
            st->ready = 0;
            st->failures = 0;
        } else if (st->ready) { /* renewBefore(Percentage) may have changed */
            st->renewal_time = certs_pki_renewal_time(st->not_before, st->not_after,
                                                      st->spec->renew_before_s,
                                                      st->spec->renew_before_pct);
        }
    }
    for (size_t i = 0; i < svc->nstates; i++) {
        certs_state_t *st = svc->states[i];
        if (st->spec)
            certs_sched_check(st);
        else
            uv_timer_stop(&st->timer); /* gone: kept for its in-flight order only */
    }
    hc_log(HC_LOG_INFO, "certificates loaded", HC_LI("issuers", m->nissuers),
           HC_LI("certificates", m->ncerts), HC_LI("errors", m->nerrors), NULL);
}

static void on_state_closed(uv_handle_t *h)
{
    certs_state_t *st = h->data;
    certs_svc_t *svc = st->svc;
    void (*done)(certs_svc_t *) = svc->sched_done;
    hc_free(st->ns);
    hc_free(st->name);
    hc_free(st);
    if (--svc->pending_close == 0 && done)
        done(svc);
}

void certs_sched_close(certs_svc_t *svc, void (*done)(certs_svc_t *svc))
{
    svc->pending_close = (unsigned)svc->nstates;
    svc->sched_done = done;
    if (!svc->nstates) {
        done(svc);
        return;
    }
    for (size_t i = 0; i < svc->nstates; i++)
        uv_close((uv_handle_t *)&svc->states[i]->timer, on_state_closed);
    hc_free(svc->states);
    svc->states = NULL;
    svc->nstates = 0;
}
