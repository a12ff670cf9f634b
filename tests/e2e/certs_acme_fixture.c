/* E2E fixture for the ACME client: registers (or finds) an account at an ACME server,
 * orders one certificate per --names argument concurrently, serves the HTTP-01 key
 * authorizations itself on --http-port, and writes each chain to <out>/chain<i>.pem.
 * Prints "order <i> ok|failed ..." lines and "stats ..." for tests/e2e/test_certs_acme.py.
 *   certs_acme_fixture DIR_URL CA_FILE HTTP_PORT OUT_DIR ACCOUNT_KEY_PEM NAMES [NAMES...]
 * NAMES is a comma-separated list; ACCOUNT_KEY_PEM is created when missing. */
#include "certs/certs_acme.h"
#include "certs/certs_pki.h"
#include "core/hc_alloc.h"
#include "core/hc_http_server.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ORDERS 4
#define MAX_TOKENS 16

static struct {
    char token[260];
    char key_auth[400];
} tokens[MAX_TOKENS];
static int pending, failures;
static const char *out_dir;
static hc_http_server_t *server;
static certs_acme_t *acme;

static void serve(hc_http_req_t *req, void *arg)
{
    static const char prefix[] = "/.well-known/acme-challenge/";
    if (strncmp(req->path, prefix, sizeof(prefix) - 1) == 0) {
        const char *tok = req->path + sizeof(prefix) - 1;
        for (int i = 0; i < MAX_TOKENS; i++)
            if (tokens[i].token[0] && strcmp(tokens[i].token, tok) == 0) {
                hc_http_respond(req, 200, "text/plain", tokens[i].key_auth,
                                strlen(tokens[i].key_auth));
                return;
            }
    }
    hc_http_respond(req, 404, "text/plain", "no\n", 3);
}

static void on_challenge(certs_acme_order_t *o, const char *id, const char *token,
                         const char *key_auth, void *ud)
{
    for (int i = 0; i < MAX_TOKENS; i++)
        if (!tokens[i].token[0]) {
            snprintf(tokens[i].token, sizeof(tokens[i].token), "%s", token);
            snprintf(tokens[i].key_auth, sizeof(tokens[i].key_auth), "%s", key_auth);
            break;
        }
    printf("challenge %s %s\n", id, token);
    certs_acme_challenge_ready(o, token, 0);
}

static void on_challenge_done(certs_acme_order_t *o, const char *token, void *ud)
{
    for (int i = 0; i < MAX_TOKENS; i++)
        if (strcmp(tokens[i].token, token) == 0)
            tokens[i].token[0] = '\0';
}

static void server_done(hc_http_server_t *s, void *arg)
{
    hc_http_server_free(s);
}

static void finish_all(void)
{
    certs_acme_stats_t st;
    certs_acme_stats_get(acme, &st);
    printf("stats requests=%llu bad_nonce_retries=%llu valid=%llu failed=%llu account=%s\n",
           (unsigned long long)st.requests, (unsigned long long)st.bad_nonce_retries,
           (unsigned long long)st.orders_valid, (unsigned long long)st.orders_failed,
           certs_acme_account_url(acme) ? certs_acme_account_url(acme) : "-");
    fflush(stdout);
    certs_acme_free(acme);
    hc_http_server_drain(server, 100, server_done, NULL);
}

static void on_done(certs_acme_order_t *o, const certs_acme_result_t *r, void *ud)
{
    int idx = (int)(intptr_t)ud;
    if (r->status == 0) {
        char path[512];
        snprintf(path, sizeof(path), "%s/chain%d.pem", out_dir, idx);
        FILE *f = fopen(path, "w");
        if (f) {
            fwrite(r->chain_pem, 1, r->chain_len, f);
            fclose(f);
        }
        printf("order %d ok %s\n", idx, path);
    } else {
        failures++;
        printf("order %d failed status=%d type=%s message=%s\n", idx, r->status,
               r->problem ? r->problem->type : "-", r->message);
    }
    fflush(stdout);
    if (--pending == 0)
        finish_all();
}

static EVP_PKEY *account_key(const char *path, int *existing)
{
    char err[256];
    EVP_PKEY *k = NULL;
    FILE *f = fopen(path, "r");
    if (f) {
        static char buf[16384];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        *existing = 1;
        if (certs_pki_key_load(buf, n, &k, err, sizeof(err)) < 0)
            fprintf(stderr, "account key: %s\n", err);
        return k;
    }
    *existing = 0;
    if (certs_pki_key_generate(CERTS_KEY_ECDSA, 256, &k, err, sizeof(err)) < 0)
        return NULL;
    char *pem = NULL;
    size_t len = 0;
    certs_pki_key_pem(k, CERTS_KEY_PKCS8, &pem, &len);
    f = fopen(path, "w");
    if (f) {
        fwrite(pem, 1, len, f);
        fclose(f);
    }
    hc_free(pem);
    return k;
}

static const certs_acme_order_cbs_t cbs = {on_challenge, on_challenge_done, on_done};

/* Starts one order for a comma-separated name list: a fresh key and CSR per order. */
static int start_order(char *names, int idx)
{
    const char *list[8];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(names, ",", &save); t && n < 8;
         t = strtok_r(NULL, ",", &save))
        list[n++] = t;
    certs_names_t nm = {.dns = list, .n_dns = n};
    EVP_PKEY *key = NULL;
    unsigned char *csr = NULL;
    size_t csr_len = 0;
    char err[256];
    if (certs_pki_key_generate(CERTS_KEY_ECDSA, 256, &key, err, sizeof(err)) < 0 ||
        certs_pki_csr_create(key, &nm, 0, 0, &csr, &csr_len, err, sizeof(err)) < 0) {
        fprintf(stderr, "csr: %s\n", err);
        EVP_PKEY_free(key);
        return -1;
    }
    int rc = certs_acme_order_start(acme, list, n, NULL, 0, csr, csr_len, &cbs,
                                    (void *)(intptr_t)idx, NULL);
    hc_free(csr);
    EVP_PKEY_free(key);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 7 || argc - 6 > MAX_ORDERS) {
        fprintf(stderr, "usage: %s DIR_URL CA_FILE HTTP_PORT OUT_DIR ACCOUNT_KEY NAMES...\n", argv[0]);
        return 2;
    }
    out_dir = argv[4];
    uv_loop_t *loop = uv_default_loop();
    hc_http_server_opts_t so = {.handler = serve};
    server = hc_http_server_new(loop, &so);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", atoi(argv[3]), &addr);
    if (!server || hc_http_server_listen(server, (struct sockaddr *)&addr, 0) < 0) {
        fprintf(stderr, "cannot listen on port %s\n", argv[3]);
        return 1;
    }
    int existing = 0;
    EVP_PKEY *key = account_key(argv[5], &existing);
    char err[256];
    certs_acme_opts_t ao = {.directory_url = argv[1], .email = "ops@example.test",
                            .account_key = key, .key_existing = existing,
                            .ca_file = argv[2], .request_timeout_ms = 20000,
                            .challenge_timeout_ms = 20000, .max_bad_nonce = 10,
                            .poll_default_ms = 200, .poll_max_ms = 2000};
    acme = key ? certs_acme_new(loop, &ao, err, sizeof(err)) : NULL;
    EVP_PKEY_free(key);
    if (!acme) {
        fprintf(stderr, "acme: %s\n", err);
        return 1;
    }
    printf("account_key %s\n", existing ? "existing" : "new");
    for (int i = 6; i < argc; i++) {
        if (start_order(argv[i], i - 6) < 0) {
            fprintf(stderr, "cannot start order %d\n", i - 6);
            return 1;
        }
        pending++;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return failures ? 1 : 0;
}
