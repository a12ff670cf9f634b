/* Internals shared by the certs service files: the running service (certs_service.c),
 * the per-certificate scheduler (certs_sched.c, certs_issue.c), the HTTP-01 solver
 * (certs_solver.c) and the status API (certs_api.c). Everything runs on the main loop. */
#ifndef CERTS_INT_H
#define CERTS_INT_H

#include "certs/certs.h"
#include "certs/certs_acme.h"
#include "certs/certs_model.h"
#include "core/hc_http_client.h"
#include "core/hc_http_server.h"
#include "core/hc_router.h"
#include "core/hc_service.h"

#include <stdint.h>

typedef struct certs_svc certs_svc_t;

/** One certificate's state, kept across manifest reloads (keyed by namespace/name). */
typedef struct certs_state {
    certs_svc_t *svc;
    char *ns, *name;
    char spec_hash[65];    /* SHA-256 of what makes a reissue: names, issuer, key, usages */
    char order_hash[65];   /* spec_hash when the ACME order in flight started */
    const certs_cert_t *spec; /* in svc->model; NULL once the object went away */
    int ready;
    int issuing;           /* an ACME order is in flight */
    int64_t not_before, not_after, renewal_time;
    unsigned failures;     /* consecutive failed issuances */
    int issuer_missing;    /* the last failure: the issuer did not exist (retried as soon
                              as a snapshot has it, not after the backoff) */
    int64_t last_failure_time, next_retry;
    char message[512];     /* the last failure, or "" */
    char problem[160];     /* its ACME problem type, or "" */
    uv_timer_t timer;      /* next check: renewal or retry */
    certs_acme_order_t *order;
    void *pkey;            /* EVP_PKEY of the order in flight */
    int closing;
} certs_state_t;

/** An ACME client per issuer (its account key loaded or created). An edited issuer gets
 *  a new client; the old one stays until the service stops (its orders run to their end). */
typedef struct certs_acme_client {
    char key[65]; /* SHA-256 (hex) of the issuer fields the client was made from */
    certs_acme_t *acme;
} certs_acme_client_t;

/** A challenge being served: the solver's table entry and its files. */
typedef struct certs_challenge {
    certs_state_t *st;
    certs_acme_order_t *order;
    char *identifier, *token, *key_auth;
    char file[4096];     /* the solver Ingress + Service + Endpoints manifest file */
    uv_timer_t timer;    /* self-check retries */
    unsigned attempts;
    hc_http_client_req_t *check;
    int closing;
} certs_challenge_t;

struct certs_svc {
    hc_service_ctx_t *ctx;
    uv_loop_t *loop;
    const char *const *manifests;
    size_t nmanifests;
    const char *out_dir;       /* where Secrets and solver files are written */
    const char *cluster_ns;    /* ClusterIssuer Secrets' namespace */
    const char *ca_file;       /* extra CA file for ACME servers */
    long long min_duration_s;
    uint64_t retry_base_ms, retry_max_ms;
    unsigned max_orders, self_check_attempts;
    uint64_t self_check_interval_ms;
    const char *self_check_addr; /* host:port the self-check connects to, or NULL */
    struct sockaddr_storage solver_sa, status_sa;
    char solver_host[64];
    int solver_port;
    hc_manifest_watch_t *watch;
    hc_manifest_set_t *set;
    certs_model_t *model;
    certs_state_t **states;
    size_t nstates;
    certs_acme_client_t *clients;
    size_t nclients;
    certs_challenge_t **challenges;
    size_t nchallenges;
    unsigned orders_running;
    hc_http_client_t *http; /* self-checks */
    hc_http_server_t *solver_srv, *status_srv;
    hc_router_t *router;
    const char **up_manifests; /* `hearth up`: <data>/manifests + --manifests (owned) */
    char **local_names;        /* `hearth up`: every <service> of <service>.localhost, sorted */
    size_t nlocal_names;
    uv_timer_t up_timer;       /* `hearth up`: coalesces new names into one Ingress write */
    void (*up_done)(certs_svc_t *svc);
    int stopping;
    unsigned pending_close; /* state timers still closing (certs_sched_close) */
    unsigned stop_steps;    /* service parts still stopping (certs_service.c) */
    void (*sched_done)(certs_svc_t *svc);
    hc_service_stopped_cb stopped;
};

/* certs_sched.c */
/** Applies a new manifest snapshot (referenced by the caller beforehand). */
void certs_sched_apply(certs_svc_t *svc, hc_manifest_set_t *set);
/** Re-checks st now (renewal/retry timers and the end of an issuance call it). */
void certs_sched_check(certs_state_t *st);
/** Records a failure: message, ACME problem type, backoff timer. */
void certs_sched_fail(certs_state_t *st, const char *message, const char *problem);
/** Records a success: chain and key written, status from the leaf. */
int certs_sched_issued(certs_state_t *st, const char *chain_pem, const char *key_pem,
                       const char *ca_pem);
/** Closes every state's timer; calls done(svc) once all closed. */
void certs_sched_close(certs_svc_t *svc, void (*done)(certs_svc_t *svc));
/** Seconds since the epoch. */
int64_t certs_now(void);

/* certs_issue.c */
/** Issues st now through its issuer (selfSigned/CA at once, ACME asynchronously). */
void certs_issue_start(certs_state_t *st, const certs_issuer_t *is);
/** Frees the ACME clients (orders end with -ECANCELED). */
void certs_issue_close(certs_svc_t *svc);

/* certs_solver.c */
/** Removes solver files a previous run left in svc->out_dir, then starts the solver
 *  listener on svc->solver_sa. Returns 0 or a negative errno. */
int certs_solver_start(certs_svc_t *svc);
/** Serves a challenge: table entry, solver files, then the self-check; calls
 *  certs_acme_challenge_ready when the self-check passed or ran out of attempts. */
void certs_solver_add(certs_state_t *st, certs_acme_order_t *order, const char *identifier,
                      const char *token, const char *key_auth);
/** Stops serving token: removes the entry and its files. */
void certs_solver_remove(certs_svc_t *svc, const char *token);

/* certs_up.c */
/** Under `hearth up`: makes <data>/manifests (created if missing) the first manifest path,
 *  where Secrets go, before the configured ones. Returns 0 or -errno after logging. */
int certs_up_paths(certs_svc_t *svc);
/** Under `hearth up`, once the watch runs: the local CA (ClusterIssuer hearth-local-ca and
 *  its key pair Secret, made on the first start, reused after), <data>/ca.crt and the
 *  banner note, then an Ingress for every `<service>.localhost` the proxy routes
 *  (proxy_local_watch). Returns 0 or -errno after logging. */
int certs_up_start(certs_svc_t *svc);
/** Stops following the proxy's names and closes the timer; calls done(svc) once closed
 *  (at once when certs_up_start never ran). Frees the names, not svc->up_manifests. */
void certs_up_stop(certs_svc_t *svc, void (*done)(certs_svc_t *svc));

/* certs_api.c */
/** Starts the status listener (/api/certificates, /api/errors, /metrics, /healthz).
 *  Returns 0 or a negative errno. */
int certs_api_start(certs_svc_t *svc);
/** Updates the certmanager_certificate_* metrics of st. */
void certs_api_metrics_update(const certs_state_t *st);

#endif
