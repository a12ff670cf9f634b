/* The HTTP-01 solver of hearth certs (cert-manager's acmesolver pod): a listener that
 * answers GET /.well-known/acme-challenge/<token> with the key authorization (RFC 8555
 * §8.3), a temporary solver Ingress + Service + Endpoints file in the manifests directory
 * that routes the challenge path through `hearth proxy` to that listener, and a bounded
 * self-check per challenge on its own timer, so one stuck check never blocks another. */
#include "certs/certs_int.h"
#include "certs/certs_secret.h"

#include "core/hc_alloc.h"
#include "core/hc_buf.h"
#include "core/hc_log.h"
#include "core/hc_runtime.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define CHALLENGE_PREFIX "/.well-known/acme-challenge/"
#define SELF_CHECK_MAX_BODY 4096
#define SOLVER_FILE_PREFIX "hearth-certs-solver-"

/* ---- the listener ---- */

static certs_challenge_t *challenge_find(certs_svc_t *svc, const char *token, size_t len)
{
    for (size_t i = 0; i < svc->nchallenges; i++) {
        certs_challenge_t *ch = svc->challenges[i];
        if (strlen(ch->token) == len && !memcmp(ch->token, token, len))
            return ch;
    }
    return NULL;
}

/* RFC 8555 §8.3: the resource is the key authorization, served as-is (the VA ignores the
 * Host port); anything else is 404. */
static void on_solver_request(hc_http_req_t *req, void *arg)
{
    certs_svc_t *svc = arg;
    size_t plen = strlen(CHALLENGE_PREFIX);
    certs_challenge_t *ch = NULL;
    if ((!strcmp(req->method, "GET") || req->is_head) && req->path_len > plen &&
        !strncmp(req->path, CHALLENGE_PREFIX, plen))
        ch = challenge_find(svc, req->path + plen, req->path_len - plen);
    if (!ch) {
        hc_http_respond(req, 404, "text/plain", "not found\n", 10);
        return;
    }
    hc_http_respond(req, 200, "text/plain", ch->key_auth, strlen(ch->key_auth));
}

/* Solver files a previous run left behind (killed before it could remove them) route
 * challenge paths to a listener that no longer knows their tokens: remove them. */
static void solver_files_sweep(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char path[4096];
        if (strncmp(e->d_name, SOLVER_FILE_PREFIX, strlen(SOLVER_FILE_PREFIX)) || n < 5 ||
            strcmp(e->d_name + n - 5, ".yaml") ||
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        if (certs_secret_remove(path) == 0)
            hc_log(HC_LOG_INFO, "removed a stale solver file", HC_LS("file", path), NULL);
    }
    if (d)
        closedir(d);
}

int certs_solver_start(certs_svc_t *svc)
{
    solver_files_sweep(svc->out_dir);
    hc_http_server_opts_t o = {.handler = on_solver_request, .handler_arg = svc,
                               .max_body = 1024};
    svc->solver_srv = hc_http_server_new(svc->loop, &o);
    int rc = hc_http_server_listen(svc->solver_srv, (struct sockaddr *)&svc->solver_sa, 0);
    if (rc)
        return rc;
    svc->solver_port = hc_http_server_port(svc->solver_srv);
    char addr[96];
    hc_addr_format((struct sockaddr *)&svc->solver_sa, addr, sizeof(addr));
    /* The Endpoints name a concrete address: a wildcard listener is reached on loopback. */
    const char *colon = strrchr(addr, ':');
    snprintf(svc->solver_host, sizeof(svc->solver_host), "%.*s", (int)(colon - addr), addr);
    if (!strcmp(svc->solver_host, "0.0.0.0") || !svc->solver_host[0] ||
        !strcmp(svc->solver_host, "[::]"))
        snprintf(svc->solver_host, sizeof(svc->solver_host), "127.0.0.1");
    return 0;
}

/* ---- solver manifests ---- */

/* Kubernetes names are lowercase DNS labels; tokens are base64url, so name the objects
 * after a hash of the token. */
static void solver_name(const char *token, char out[40])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL);
    int off = snprintf(out, 40, "cm-acme-http-solver-");
    for (int i = 0; i < 5; i++)
        off += snprintf(out + off, (size_t)(40 - off), "%02x", md[i]);
}

/* s as the inside of a YAML double-quoted scalar (JSON escapes are valid there), so no
 * value can end its line and add fields or objects to the file the proxy reads. */
static char *yq(const char *s)
{
    hc_buf_t b;
    hc_buf_init(&b, 0);
    hc_buf_json_escape(&b, s, strlen(s));
    char *out = b.base ? hc_memdup(b.base, b.len) : hc_strdup("");
    hc_buf_free(&b);
    return out;
}

static int solver_files_write(certs_challenge_t *ch)
{
    certs_svc_t *svc = ch->st->svc;
    const certs_cert_t *c = ch->st->spec;
    const certs_issuer_t *is = c ? certs_model_issuer_of(svc->model, c) : NULL;
    char name[40], err[256];
    solver_name(ch->token, name);
    snprintf(ch->file, sizeof(ch->file), "%s/" SOLVER_FILE_PREFIX "%s.yaml", svc->out_dir,
             name + strlen("cm-acme-http-solver-"));
    char *ns = yq(ch->st->ns), *host = yq(ch->identifier);
    hc_buf_t b;
    hc_buf_init(&b, 64 * 1024);
    hc_buf_printf(&b,
                  "# Written by hearth certs for one HTTP-01 challenge; removed when it ends.\n"
                  "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: %s\n"
                  "  namespace: \"%s\"\n  labels:\n    acme.cert-manager.io/http01-solver: \"true\"\n"
                  "spec:\n",
                  name, ns);
    if (is && is->ingress_class) {
        char *cls = yq(is->ingress_class);
        hc_buf_printf(&b, "  ingressClassName: \"%s\"\n", cls);
        hc_free(cls);
    }
    hc_buf_printf(&b,
                  "  rules:\n  - host: \"%s\"\n    http:\n      paths:\n"
                  "      - path: \"%s%s\"\n        pathType: Exact\n        backend:\n"
                  "          service:\n            name: %s\n            port:\n"
                  "              number: 8089\n"
                  "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: \"%s\"\n"
                  "spec:\n  ports:\n  - name: http\n    port: 8089\n    targetPort: %d\n"
                  "---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: %s\n  namespace: \"%s\"\n"
                  "subsets:\n- addresses:\n  - ip: %s\n  ports:\n  - name: http\n    port: %d\n",
                  host, CHALLENGE_PREFIX, ch->token, name, name, ns, svc->solver_port, name, ns,
                  svc->solver_host, svc->solver_port);
    hc_free(ns);
    hc_free(host);
    int rc = certs_file_write_atomic(ch->file, b.base, b.len, 0644, err, sizeof(err));
    hc_buf_free(&b);
    if (rc)
        hc_log(HC_LOG_ERROR, "cannot write solver Ingress", HC_LS("error", err), NULL);
    return rc;
}

/* ---- self-check ---- */

static void self_check_start(certs_challenge_t *ch);

static void ready(certs_challenge_t *ch, int passed)
{
    hc_log(passed ? HC_LOG_INFO : HC_LOG_WARN,
           passed ? "HTTP-01 self-check passed" : "HTTP-01 self-check failed; asking the ACME server anyway",
           HC_LS("namespace", ch->st->ns), HC_LS("certificate", ch->st->name),
           HC_LS("identifier", ch->identifier), HC_LI("attempts", ch->attempts), NULL);
    certs_acme_challenge_ready(ch->order, ch->token, 0);
}

static void on_check_timer(uv_timer_t *t)
{
    self_check_start(t->data);
}

static void on_check_done(hc_http_client_req_t *req, int status, void *ud)
{
    certs_challenge_t *ch = ud;
    ch->check = NULL;
    if (ch->closing)
        return;
    const hc_http_response_t *res = hc_http_client_req_response(req);
    size_t len = 0;
    const char *body = status == 0 ? hc_http_client_req_body(req, &len) : NULL;
    int ok = res && res->status == 200 && body && len >= strlen(ch->key_auth) &&
             !strncmp(body, ch->key_auth, strlen(ch->key_auth));
    if (ok || ch->attempts >= ch->st->svc->self_check_attempts) {
        ready(ch, ok);
        return;
    }
    uv_timer_start(&ch->timer, on_check_timer, ch->st->svc->self_check_interval_ms, 0);
}

static const hc_http_client_req_cbs_t check_cbs = {.on_done = on_check_done};

/* GET the challenge URL the way the ACME server will, through the ingress:
 * http://<identifier>/... , or --self-check-addr with Host: <identifier>. */
static void self_check_start(certs_challenge_t *ch)
{
    certs_svc_t *svc = ch->st->svc;
    char url[1024], hosthdr[300];
    /* An IPv6 identifier (RFC 8738) is bracketed in the URL and Host (RFC 3986 §3.2.2). */
    int v6 = strchr(ch->identifier, ':') != NULL;
    snprintf(hosthdr, sizeof(hosthdr), "%s%s%s", v6 ? "[" : "", ch->identifier, v6 ? "]" : "");
    snprintf(url, sizeof(url), "http://%s%s%s", svc->self_check_addr ? svc->self_check_addr : hosthdr,
             CHALLENGE_PREFIX, ch->token);
    hc_http_client_header_t host = {"Host", hosthdr};
    hc_http_client_req_opts_t o = {.url = url,
                                   .headers = &host,
                                   .n_headers = 1,
                                   .collect_max = SELF_CHECK_MAX_BODY,
                                   .connect_timeout_ms = 2000,
                                   .total_timeout_ms = 5000,
                                   .no_reuse = 1};
    ch->attempts++;
    if (hc_http_client_request(svc->http, &o, &check_cbs, ch, &ch->check) != 0)
        ready(ch, 0);
}

/* ---- table ---- */

void certs_solver_add(certs_state_t *st, certs_acme_order_t *order, const char *identifier,
                      const char *token, const char *key_auth)
{
    certs_svc_t *svc = st->svc;
    certs_challenge_t *ch = hc_calloc(1, sizeof(*ch));
    ch->st = st;
    ch->order = order;
    ch->identifier = hc_strdup(identifier);
    ch->token = hc_strdup(token);
    ch->key_auth = hc_strdup(key_auth);
    uv_timer_init(svc->loop, &ch->timer);
    ch->timer.data = ch;
    svc->challenges = hc_realloc(svc->challenges, (svc->nchallenges + 1) * sizeof(ch));
    svc->challenges[svc->nchallenges++] = ch;
    hc_log(HC_LOG_INFO, "serving HTTP-01 challenge", HC_LS("namespace", st->ns),
           HC_LS("certificate", st->name), HC_LS("identifier", identifier), NULL);
    if (solver_files_write(ch) != 0) {
        certs_acme_challenge_ready(order, token, -EIO);
        return;
    }
    /* The proxy picks the Ingress up after its debounce; check shortly after that. */
    uv_timer_start(&ch->timer, on_check_timer, 300, 0);
}

static void on_challenge_closed(uv_handle_t *h)
{
    certs_challenge_t *ch = h->data;
    hc_free(ch->identifier);
    hc_free(ch->token);
    hc_free(ch->key_auth);
    hc_free(ch);
}

void certs_solver_remove(certs_svc_t *svc, const char *token)
{
    for (size_t i = 0; i < svc->nchallenges; i++) {
        certs_challenge_t *ch = svc->challenges[i];
        if (strcmp(ch->token, token))
            continue;
        svc->challenges[i] = svc->challenges[--svc->nchallenges];
        ch->closing = 1;
        if (ch->check)
            hc_http_client_req_cancel(ch->check);
        if (ch->file[0])
            certs_secret_remove(ch->file);
        uv_close((uv_handle_t *)&ch->timer, on_challenge_closed);
        return;
    }
}
