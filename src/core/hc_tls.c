/* TLS contexts and connections over memory BIOs (see hc_tls.h). The HTTP server and
 * client own the sockets; this file only turns ciphertext into plaintext and back.
 * Certificate sets and the SNI choice live in hc_tls_certs.c. */
#include "core/hc_alloc.h"
#include "core/hc_err.h"
#include "core/hc_buf.h"
#include "core/hc_tls_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

enum { ALPN_WIRE_MAX = 1024 };

/* A certificate a client may present (mutual TLS). */
typedef struct client_cert {
    X509 *leaf;
    EVP_PKEY *key;
    STACK_OF(X509) *chain;
} client_cert_t;

struct hc_tls_ctx {
    SSL_CTX *ssl; /* server: replaced by hc_tls_ctx_set_options, under lock */
    atomic_int refs;
    pthread_mutex_t lock;  /* guards ssl and certs: read by handshakes on any thread */
    hc_tls_certs_t *certs; /* server: the current set, NULL until installed */
    unsigned char *alpn;   /* server: protocols in wire format (RFC 7301 §3.1) */
    size_t alpn_len;
    client_cert_t *client_certs; /* client: hc_tls_client_add_cert's, in order */
    size_t n_client_certs;
};

struct hc_tls_conn {
    hc_tls_ctx_t *ctx;
    SSL *ssl;
    BIO *in;  /* ciphertext from the peer; SSL reads it */
    BIO *out; /* ciphertext for the peer; SSL writes it into pending */
    hc_buf_t pending;
    int established;
    int failed;
    int verify_failed;
    int not_tls;                         /* the peer's first bytes were no TLS record */
    int fd;                              /* the socket, or -1 */
    char local_ip[INET6_ADDRSTRLEN + 1]; /* where it came to ("" until asked) */
    char alpn[256];
    char error[192];
};

/* Appends one protocol in ALPN wire format: a length byte, then the name. */
static int alpn_append(hc_buf_t *wire, const char *name, size_t len)
{
    unsigned char l = (unsigned char)len;
    if (!len || len > 255 || hc_buf_append(wire, &l, 1) || hc_buf_append(wire, name, len))
        return -EINVAL;
    return 0;
}

/* RFC 7301 §3.2: the server picks, in its own preference order, a protocol the client
 * offered; with no overlap it answers no_application_protocol. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    const hc_tls_ctx_t *ctx = arg;
    for (size_t i = 0; i < ctx->alpn_len; i += 1u + ctx->alpn[i]) {
        const unsigned char *want = ctx->alpn + i + 1;
        size_t want_len = ctx->alpn[i];
        for (unsigned int j = 0; j < inlen && j + 1u + in[j] <= inlen; j += 1u + in[j])
            if (in[j] == want_len && !memcmp(in + j + 1, want, want_len)) {
                *out = in + j + 1;
                *outlen = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* ---- contexts ---------------------------------------------------------------------- */

static SSL_CTX *ssl_ctx_new(const SSL_METHOD *method)
{
    SSL_CTX *ssl = SSL_CTX_new(method);
    if (!ssl)
        hc_oom(0);
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    return ssl;
}

/* A context around ssl (NULL: a server's, made once its ALPN list is known). */
static hc_tls_ctx_t *ctx_new(SSL_CTX *ssl)
{
    hc_tls_ctx_t *ctx = hc_calloc(1, sizeof(*ctx));
    ctx->ssl = ssl;
    atomic_init(&ctx->refs, 1);
    pthread_mutex_init(&ctx->lock, NULL);
    return ctx;
}

/* The options of a server's OpenSSL context: its own (applied to the context) and those
 * of SNI host names that have others, kept with the context (ex_data) so that both are
 * replaced at once and freed with the last connection using them. */
typedef struct host_opts {
    char *host; /* as hc_tls_name_normalize writes it */
    hc_tls_opts_t o;
} host_opts_t;

typedef struct server_opts {
    hc_tls_opts_t def;
    host_opts_t *hosts; /* sorted by host */
    size_t nhosts;
} server_opts_t;

static int opts_index = -1;
static pthread_once_t opts_once = PTHREAD_ONCE_INIT;

static void server_opts_free(server_opts_t *so)
{
    if (!so)
        return;
    hc_tls_opts_free(&so->def);
    for (size_t i = 0; i < so->nhosts; i++) {
        hc_free(so->hosts[i].host);
        hc_tls_opts_free(&so->hosts[i].o);
    }
    hc_free(so->hosts);
    hc_free(so);
}

static void opts_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    server_opts_free(ptr);
}

static void opts_index_make(void)
{
    opts_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, opts_ex_free);
    if (opts_index < 0)
        hc_oom(0);
}

static int host_cmp(const void *a, const void *b)
{
    return strcmp(((const host_opts_t *)a)->host, ((const host_opts_t *)b)->host);
}

/* The options for a handshake naming host (NULL: none): its own, else the context's. */
static const hc_tls_opts_t *opts_for(const SSL *ssl, const char *host, size_t len)
{
    const server_opts_t *so = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), opts_index);
    char key[HC_TLS_NAME_MAX + 1];
    if (!so)
        return NULL;
    if (host && so->nhosts && hc_tls_name_normalize(host, len, key) == 0) {
        host_opts_t want = {.host = key};
        const host_opts_t *h = bsearch(&want, so->hosts, so->nhosts, sizeof(*h), host_cmp);
        if (h)
            return &h->o;
    }
    return &so->def;
}

/* RFC 6066 §3: the host_name of a ClientHello's server_name extension, or NULL. */
static const char *hello_sni(SSL *ssl, size_t *len)
{
    const unsigned char *p;
    size_t n;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &n) || n < 5)
        return NULL;
    size_t list = (size_t)p[0] << 8 | p[1], name = (size_t)p[3] << 8 | p[4];
    if (list + 2 != n || p[2] != TLSEXT_NAMETYPE_host_name || name + 5 > n || !name)
        return NULL;
    *len = name;
    return (const char *)p + 5;
}

/* The address a handshake without a server name came to, as text (an IPv4-mapped
 * address as IPv4), or NULL when unknown. */
static const char *local_ip(SSL *ssl)
{
    hc_tls_conn_t *c = SSL_get_app_data(ssl);
    if (!c || c->fd < 0)
        return NULL;
    if (!c->local_ip[0]) {
        struct sockaddr_storage ss;
        socklen_t n = sizeof(ss);
        if (getsockname(c->fd, (struct sockaddr *)&ss, &n) != 0)
            return NULL;
        const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->local_ip,
                      sizeof(c->local_ip));
        else if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(a6))
            inet_ntop(AF_INET, a6->s6_addr + 12, c->local_ip, sizeof(c->local_ip));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, a6, c->local_ip, sizeof(c->local_ip));
    }
    return c->local_ip[0] ? c->local_ip : NULL;
}

/* Whether sniStrict lets the handshake on: a certificate names its server name (or, with
 * none, the address it came to). */
static int strict_covered(hc_tls_ctx_t *ctx, SSL *ssl, const char *host, size_t len)
{
    char name[HC_TLS_NAME_MAX + 1];
    if (host && len > HC_TLS_NAME_MAX)
        return 0;
    if (host)
        memcpy(name, host, len), name[len] = '\0';
    pthread_mutex_lock(&ctx->lock);
    hc_tls_certs_t *set = ctx->certs ? hc_tls_certs_hold(ctx->certs) : NULL;
    pthread_mutex_unlock(&ctx->lock);
    int ok = set && hc_tls_certs_covers(set, host ? name : local_ip(ssl));
    hc_tls_certs_free(set);
    return ok;
}

/* Runs first on a ClientHello: sniStrict refuses a name no certificate covers with Go's
 * unrecognized_name alert; a host name with options of its own gets them (before the
 * version, the suites and the session to resume are chosen). */
static int hello_select(SSL *ssl, int *alert, void *arg)
{
    size_t len = 0;
    const char *host = hello_sni(ssl, &len);
    const server_opts_t *so = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), opts_index);
    const hc_tls_opts_t *o = !so ? NULL : host ? opts_for(ssl, host, len) : &so->def;
    if (o && o->sni_strict && !strict_covered(arg, ssl, host, len)) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (!o || o == &so->def)
        return SSL_CLIENT_HELLO_SUCCESS;
    if (hc_tls_opts_apply_ssl(ssl, o) != 0) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Runs once the ClientHello is parsed (after SNI): installs the certificate for the
 * requested name (none: the local address) from the set current at this moment; with
 * sniStrict, only a certificate that names it. */
static int cert_select(SSL *ssl, void *arg)
{
    hc_tls_ctx_t *ctx = arg;
    pthread_mutex_lock(&ctx->lock);
    hc_tls_certs_t *set = ctx->certs ? hc_tls_certs_hold(ctx->certs) : NULL;
    pthread_mutex_unlock(&ctx->lock);
    if (!set)
        return 0;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const hc_tls_opts_t *o = opts_for(ssl, name, name ? strlen(name) : 0);
    int rc = hc_tls_certs_use(set, ssl, name ? name : local_ip(ssl), o && o->sni_strict);
    hc_tls_certs_free(set);
    return rc == 0;
}

static int server_alpn_set(hc_tls_ctx_t *ctx, const char *const *alpn, char *err, size_t errlen)
{
    hc_buf_t wire;
    hc_buf_init(&wire, ALPN_WIRE_MAX);
    for (size_t i = 0; alpn && alpn[i]; i++)
        if (alpn_append(&wire, alpn[i], strlen(alpn[i]))) {
            hc_errf(err, errlen, 0, "bad ALPN protocol \"%.40s\"", alpn[i]);
            hc_buf_free(&wire);
            return -EINVAL;
        }
    if (wire.len) {
        ctx->alpn = hc_memdup(wire.base, wire.len);
        ctx->alpn_len = wire.len;
    }
    hc_buf_free(&wire);
    return 0;
}

/* The options of opts and of its hosts, compiled. NULL with err. */
static server_opts_t *server_opts_new(const hc_tls_server_opts_t *opts, char *err, size_t errlen)
{
    server_opts_t *so = hc_calloc(1, sizeof(*so));
    if (hc_tls_opts_compile(opts, "", &so->def, err, errlen)) {
        hc_free(so);
        return NULL;
    }
    so->hosts = hc_calloc(opts->nhosts ? opts->nhosts : 1, sizeof(*so->hosts));
    for (size_t i = 0; i < opts->nhosts; i++) {
        const hc_tls_host_opts_t *h = &opts->hosts[i];
        char e[200] = "not a host name", key[HC_TLS_NAME_MAX + 1];
        if (!h->host || !h->opts || hc_tls_name_normalize(h->host, strlen(h->host), key) ||
            hc_tls_opts_compile(h->opts, h->id ? h->id : h->host, &so->hosts[i].o, e, sizeof(e))) {
            hc_errf(err, errlen, 0, "options for %.80s: %s", h->host ? h->host : "(none)",
                    h->opts ? e : "missing");
            server_opts_free(so);
            return NULL;
        }
        so->hosts[i].host = hc_strdup(key);
        so->nhosts++;
    }
    qsort(so->hosts, so->nhosts, sizeof(*so->hosts), host_cmp);
    return so;
}

/* The OpenSSL server context of ctx for opts (versions, suites, curves, client
 * certificates, SNI strictness; per-host options), choosing certificates from ctx's set
 * and protocols from its ALPN list. NULL with err. */
static SSL_CTX *server_ssl_new(hc_tls_ctx_t *ctx, const hc_tls_server_opts_t *opts, char *err,
                               size_t errlen)
{
    pthread_once(&opts_once, opts_index_make);
    server_opts_t *so = server_opts_new(opts, err, errlen);
    if (!so)
        return NULL;
    SSL_CTX *ssl = ssl_ctx_new(TLS_server_method());
    SSL_CTX_set_ex_data(ssl, opts_index, so); /* freed with ssl from here on */
    SSL_CTX_set_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
    SSL_CTX_set_timeout(ssl, 7 * 24 * 3600); /* Go's server: a session resumes for 7 days */
    if (hc_tls_opts_apply_ctx(ssl, &so->def, err, errlen)) {
        SSL_CTX_free(ssl);
        return NULL;
    }
    SSL_CTX_set_client_hello_cb(ssl, hello_select, ctx);
    SSL_CTX_set_cert_cb(ssl, cert_select, ctx);
    if (ctx->alpn_len)
        SSL_CTX_set_alpn_select_cb(ssl, alpn_select, ctx);
    return ssl;
}

hc_tls_ctx_t *hc_tls_server_new(const hc_tls_server_opts_t *opts, char *err, size_t errlen)
{
    static const hc_tls_server_opts_t defaults = {0};
    if (!opts)
        opts = &defaults;
    hc_tls_ctx_t *ctx = ctx_new(NULL);
    if (server_alpn_set(ctx, opts->alpn, err, errlen) ||
        !(ctx->ssl = server_ssl_new(ctx, opts, err, errlen))) {
        hc_tls_ctx_unref(ctx);
        return NULL;
    }
    return ctx;
}

int hc_tls_ctx_set_options(hc_tls_ctx_t *ctx, const hc_tls_server_opts_t *opts, char *err,
                           size_t errlen)
{
    static const hc_tls_server_opts_t defaults = {0};
    SSL_CTX *ssl = server_ssl_new(ctx, opts ? opts : &defaults, err, errlen);
    if (!ssl)
        return -EINVAL;
    pthread_mutex_lock(&ctx->lock);
    SSL_CTX *old = ctx->ssl;
    ctx->ssl = ssl;
    pthread_mutex_unlock(&ctx->lock);
    SSL_CTX_free(old); /* connections made from it hold their own references */
    return 0;
}

hc_tls_ctx_t *hc_tls_client_new(const char *ca_file, int verify, char *err, size_t errlen)
{
    hc_tls_ctx_t *ctx = ctx_new(ssl_ctx_new(TLS_client_method()));
    SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_2_VERSION);
    ERR_clear_error();
    if (!verify) {
        SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx->ssl, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx->ssl);
    if (!ok) {
        hc_tls_err(err, errlen, ca_file ? "CA bundle" : "system CA store", "cannot load");
        hc_tls_ctx_unref(ctx);
        return NULL;
    }
    return ctx;
}

hc_tls_ctx_t *hc_tls_client_new_roots(const char *ca_pem, size_t len, char *err, size_t errlen)
{
    hc_tls_ctx_t *ctx = ctx_new(ssl_ctx_new(TLS_client_method()));
    SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, NULL);
    X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx->ssl), X509_V_FLAG_PARTIAL_CHAIN);
    if (hc_tls_client_add_ca_pem(ctx, ca_pem, len, err, errlen) != 0) {
        hc_tls_ctx_unref(ctx);
        return NULL;
    }
    return ctx;
}

int hc_tls_client_set_versions(hc_tls_ctx_t *ctx, const char *min, const char *max, char *err,
                               size_t errlen)
{
    int lo = 0, hi = TLS1_3_VERSION;
    if (hc_tls_version_parse(min, &lo) || (max && *max && hc_tls_version_parse(max, &hi)))
        return hc_errf(err, errlen, -EINVAL,
                       "TLS version %s is not one of VersionTLS12, "
                       "VersionTLS13",
                       hc_tls_version_parse(min, &lo) ? min : max);
    if (lo > hi)
        return hc_errf(err, errlen, -EINVAL, "minVersion %s is above maxVersion %s", min, max);
    SSL_CTX_set_min_proto_version(ctx->ssl, lo);
    SSL_CTX_set_max_proto_version(ctx->ssl, hi);
    return 0;
}

/* Whether the server's list of acceptable CAs names the issuer of the leaf or of a
 * certificate of its chain (an empty list takes any), as Go's SupportsCertificate. */
static int client_cert_fits(const client_cert_t *c, const STACK_OF(X509_NAME) *cas)
{
    if (!cas || sk_X509_NAME_num(cas) == 0)
        return 1;
    for (int i = -1; i < sk_X509_num(c->chain); i++) {
        const X509_NAME *issuer =
            X509_get_issuer_name(i < 0 ? c->leaf : sk_X509_value(c->chain, i));
        for (int k = 0; k < sk_X509_NAME_num(cas); k++)
            if (!X509_NAME_cmp(issuer, sk_X509_NAME_value(cas, k)))
                return 1;
    }
    return 0;
}

/* The server asked for a certificate: the first that one of its CAs issued. None when
 * none fits, as Go's client (the server decides whether to go on without). */
static int client_cert_pick(SSL *ssl, void *arg)
{
    const hc_tls_ctx_t *ctx = arg;
    const STACK_OF(X509_NAME) *cas = SSL_get0_peer_CA_list(ssl);
    for (size_t i = 0; i < ctx->n_client_certs; i++) {
        const client_cert_t *c = &ctx->client_certs[i];
        if (client_cert_fits(c, cas))
            return SSL_use_cert_and_key(ssl, c->leaf, c->key, c->chain, 1) == 1;
    }
    return 1;
}

int hc_tls_client_add_cert(hc_tls_ctx_t *ctx, const char *cert_pem, size_t cert_len,
                           const char *key_pem, size_t key_len, char *err, size_t errlen)
{
    if (cert_len > INT_MAX || key_len > INT_MAX)
        return -EINVAL;
    BIO *in = BIO_new_mem_buf(cert_pem, (int)cert_len);
    BIO *kin = BIO_new_mem_buf(key_pem, (int)key_len);
    if (!in || !kin)
        hc_oom(cert_len + key_len);
    ERR_clear_error();
    int rc = 0;
    client_cert_t c = {PEM_read_bio_X509(in, NULL, NULL, NULL),
                       PEM_read_bio_PrivateKey(kin, NULL, NULL, NULL), sk_X509_new_null()};
    if (!c.chain)
        hc_oom(sizeof(c));
    if (!c.leaf) {
        hc_tls_err(err, errlen, "client certificate", "cannot read");
        rc = -EINVAL;
    } else if (!c.key || X509_check_private_key(c.leaf, c.key) != 1) {
        hc_tls_err(err, errlen, "client key", "cannot read, or not the certificate's");
        rc = -EINVAL;
    } else {
        X509 *x;
        while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)))
            if (!sk_X509_push(c.chain, x))
                hc_oom(sizeof(x));
        ctx->client_certs =
            hc_realloc(ctx->client_certs, (ctx->n_client_certs + 1) * sizeof(*ctx->client_certs));
        ctx->client_certs[ctx->n_client_certs++] = c;
        SSL_CTX_set_cert_cb(ctx->ssl, client_cert_pick, ctx);
    }
    if (rc) {
        X509_free(c.leaf);
        EVP_PKEY_free(c.key);
        sk_X509_pop_free(c.chain, X509_free);
    }
    BIO_free(in);
    BIO_free(kin);
    ERR_clear_error();
    return rc;
}

int hc_tls_client_add_ca_pem(hc_tls_ctx_t *ctx, const char *pem, size_t len, char *err,
                             size_t errlen)
{
    if (len > INT_MAX)
        return -EINVAL;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl);
    BIO *in = BIO_new_mem_buf(pem, (int)len);
    if (!in)
        hc_oom(len);
    ERR_clear_error();
    int added = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(store, x) == 1)
            added++;
        X509_free(x);
    }
    BIO_free(in);
    if (!added) {
        hc_tls_err(err, errlen, "CA certificates", "no PEM certificate found");
        return -EINVAL;
    }
    ERR_clear_error();
    return 0;
}

void hc_tls_ctx_set_certs(hc_tls_ctx_t *ctx, hc_tls_certs_t *set)
{
    pthread_mutex_lock(&ctx->lock);
    hc_tls_certs_t *old = ctx->certs;
    ctx->certs = set;
    pthread_mutex_unlock(&ctx->lock);
    hc_tls_certs_free(old);
}

hc_tls_ctx_t *hc_tls_ctx_ref(hc_tls_ctx_t *ctx)
{
    atomic_fetch_add(&ctx->refs, 1);
    return ctx;
}

void hc_tls_ctx_unref(hc_tls_ctx_t *ctx)
{
    if (!ctx || atomic_fetch_sub(&ctx->refs, 1) != 1)
        return;
    SSL_CTX_free(ctx->ssl);
    hc_tls_certs_free(ctx->certs);
    hc_free(ctx->alpn);
    for (size_t i = 0; i < ctx->n_client_certs; i++) {
        X509_free(ctx->client_certs[i].leaf);
        EVP_PKEY_free(ctx->client_certs[i].key);
        sk_X509_pop_free(ctx->client_certs[i].chain, X509_free);
    }
    hc_free(ctx->client_certs);
    pthread_mutex_destroy(&ctx->lock);
    hc_free(ctx);
}

/* ---- connections -------------------------------------------------------------------- */

/* The outgoing BIO appends records to the connection's pending buffer: a memory BIO
 * zeroes every region it grows into and is drained by copying, which cost as much as the
 * encryption of a large response. Its ctrl answers what SSL asks of a write-only BIO. */
enum { PENDING_KEEP = 16 * 1024 }; /* a drained buffer larger than this is freed */

static BIO_METHOD *out_method;
static pthread_once_t out_once = PTHREAD_ONCE_INIT;

static int out_write(BIO *b, const char *data, int len)
{
    hc_tls_conn_t *c = BIO_get_data(b);
    if (len <= 0)
        return 0;
    if (hc_buf_append(&c->pending, data, (size_t)len) < 0)
        return -1;
    return len;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    hc_tls_conn_t *c = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
        return (long)c->pending.len;
    default:
        return 0;
    }
}

static int out_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void out_method_make(void)
{
    out_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "hearth pending");
    if (!out_method || !BIO_meth_set_write(out_method, out_write) ||
        !BIO_meth_set_ctrl(out_method, out_ctrl) || !BIO_meth_set_create(out_method, out_create))
        hc_oom(0);
}

static hc_tls_conn_t *conn_new(hc_tls_ctx_t *ctx)
{
    hc_tls_conn_t *c = hc_calloc(1, sizeof(*c));
    pthread_once(&out_once, out_method_make);
    pthread_mutex_lock(&ctx->lock); /* hc_tls_ctx_set_options may swap ctx->ssl */
    c->ssl = SSL_new(ctx->ssl);
    pthread_mutex_unlock(&ctx->lock);
    hc_buf_init(&c->pending, 0); /* unlimited: the caller bounds it (hc_tls_conn_write) */
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(out_method);
    if (c->out)
        BIO_set_data(c->out, c);
    if (!c->ssl || !c->in || !c->out)
        hc_oom(0);
    SSL_set_bio(c->ssl, c->in, c->out); /* the SSL owns both BIOs now */
    SSL_set_app_data(c->ssl, c);
    c->fd = -1;
    c->ctx = hc_tls_ctx_ref(ctx);
    return c;
}

hc_tls_conn_t *hc_tls_conn_server(hc_tls_ctx_t *ctx)
{
    hc_tls_conn_t *c = conn_new(ctx);
    SSL_set_accept_state(c->ssl);
    return c;
}

void hc_tls_conn_set_fd(hc_tls_conn_t *c, int fd)
{
    c->fd = fd;
}

/* Name checks for the peer certificate: a DNS name is also sent as SNI; an IP literal
 * is only matched against IP SANs (RFC 6066 §3 forbids it in server_name). */
static int client_name_set(hc_tls_conn_t *c, const char *sni)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, sni, addr) == 1 || inet_pton(AF_INET6, sni, addr) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), sni) == 1 ? 0 : -EINVAL;
    if (SSL_set_tlsext_host_name(c->ssl, sni) != 1 || SSL_set1_host(c->ssl, sni) != 1)
        return -EINVAL;
    return 0;
}

static int client_alpn_set(hc_tls_conn_t *c, const char *alpn)
{
    hc_buf_t wire;
    int rc = 0;
    hc_buf_init(&wire, ALPN_WIRE_MAX);
    for (const char *p = alpn; *p && !rc; p += *p == ',') {
        size_t len = strcspn(p, ",");
        rc = alpn_append(&wire, p, len);
        p += len;
    }
    /* SSL_set_alpn_protos is the one OpenSSL call that returns 0 on success. */
    if (!rc && wire.len &&
        SSL_set_alpn_protos(c->ssl, (const unsigned char *)wire.base, (unsigned)wire.len))
        rc = -EINVAL;
    hc_buf_free(&wire);
    return rc;
}

hc_tls_conn_t *hc_tls_conn_client(hc_tls_ctx_t *ctx, const char *sni, const char *alpn)
{
    hc_tls_conn_t *c = conn_new(ctx);
    SSL_set_connect_state(c->ssl);
    ERR_clear_error();
    if ((sni && *sni && client_name_set(c, sni)) || (alpn && client_alpn_set(c, alpn))) {
        ERR_clear_error();
        hc_tls_conn_free(c);
        return NULL;
    }
    return c;
}

void hc_tls_conn_free(hc_tls_conn_t *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    hc_buf_free(&c->pending);
    hc_tls_ctx_unref(c->ctx);
    hc_free(c);
}

int hc_tls_conn_feed(hc_tls_conn_t *c, const char *data, size_t len)
{
    if (c->failed)
        return HC_TLS_EPROTO;
    if (len > HC_TLS_FEED_MAX || BIO_ctrl_pending(c->in) + len > HC_TLS_FEED_MAX)
        return -ENOBUFS;
    if (len && BIO_write(c->in, data, (int)len) != (int)len)
        hc_oom(len);
    return 0;
}

/* SSL_get_error reads the thread's error queue, so it must be empty before each call.
 * ERR_clear_error resets all of its slots even when nothing is queued (about 800
 * instructions, twice per proxied request); looking first costs a fraction of that. */
static void err_queue_empty(void)
{
    if (ERR_peek_error())
        ERR_clear_error();
}

/* Records why the connection failed; the alert OpenSSL queued stays pending. */
static int conn_fail(hc_tls_conn_t *c)
{
    long v = SSL_get_verify_result(c->ssl);
    c->failed = 1;
    if ((SSL_get_verify_mode(c->ssl) & SSL_VERIFY_PEER) && !SSL_is_server(c->ssl) &&
        v != X509_V_OK) {
        c->verify_failed = 1;
        hc_errf(c->error, sizeof(c->error), 0, "certificate verify failed: %s",
                X509_verify_cert_error_string(v));
        ERR_clear_error();
    } else {
        unsigned long e = ERR_peek_error();
        int r = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
        c->not_tls = r == SSL_R_WRONG_VERSION_NUMBER || r == SSL_R_PACKET_LENGTH_TOO_LONG ||
                     r == SSL_R_HTTP_REQUEST || r == SSL_R_HTTPS_PROXY_REQUEST;
        hc_tls_err(c->error, sizeof(c->error), "TLS", "protocol error");
    }
    return HC_TLS_EPROTO;
}

/* Maps an OpenSSL result r <= 0 to 0 (wants more), -EPIPE or HC_TLS_EPROTO. */
static int conn_status(hc_tls_conn_t *c, int r)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return -EPIPE;
    default:
        return conn_fail(c);
    }
}

int hc_tls_conn_handshake(hc_tls_conn_t *c)
{
    if (c->failed)
        return HC_TLS_EPROTO;
    if (c->established)
        return 1;
    err_queue_empty();
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
        int rc = conn_status(c, r);
        return rc == -EPIPE ? conn_fail(c) : rc;
    }
    c->established = 1;
    const unsigned char *p;
    unsigned int len;
    SSL_get0_alpn_selected(c->ssl, &p, &len);
    if (p && len)
        memcpy(c->alpn, p, len < sizeof(c->alpn) ? len : sizeof(c->alpn) - 1);
    return 1;
}

int hc_tls_conn_read(hc_tls_conn_t *c, char *buf, size_t cap)
{
    int rc = hc_tls_conn_handshake(c);
    if (rc <= 0)
        return rc;
    size_t n = 0;
    /* Nothing fed and nothing decrypted: SSL_read could only say it wants more, at the
     * cost of a pass through its record layer after every request. */
    if (!cap || (!BIO_ctrl_pending(c->in) && !SSL_has_pending(c->ssl)))
        return 0;
    err_queue_empty();
    if (SSL_read_ex(c->ssl, buf, cap > INT_MAX ? INT_MAX : cap, &n) == 1)
        return (int)n;
    return conn_status(c, 0);
}

/* Room for a write's whole ciphertext before SSL seals it: appended record by record, a
 * 64 KB body's buffer was reallocated and copied four times over. The allowance per
 * record covers TLS 1.3 and the AEAD suites of 1.2; anything larger still just grows. */
enum { RECORD_PLAIN_MAX = 16384, RECORD_OVERHEAD = 32 };

static void pending_reserve(hc_tls_conn_t *c, size_t len)
{
    size_t records = len / RECORD_PLAIN_MAX + 1;
    if (len < SIZE_MAX / 2)
        (void)hc_buf_reserve(&c->pending, len + records * RECORD_OVERHEAD);
}

int hc_tls_conn_write(hc_tls_conn_t *c, const char *data, size_t len)
{
    int rc = hc_tls_conn_handshake(c);
    if (rc <= 0)
        return rc;
    size_t n = 0;
    if (!len)
        return 0;
    pending_reserve(c, len);
    err_queue_empty();
    if (SSL_write_ex(c->ssl, data, len > INT_MAX ? INT_MAX : len, &n) == 1)
        return (int)n;
    return conn_status(c, 0);
}

size_t hc_tls_conn_pending(hc_tls_conn_t *c, const char **data)
{
    *data = c->pending.base;
    return c->pending.len;
}

void hc_tls_conn_consume(hc_tls_conn_t *c, size_t n)
{
    hc_buf_consume(&c->pending, n);
    if (!c->pending.len && c->pending.cap > PENDING_KEEP)
        hc_buf_free(&c->pending); /* idle connections do not hold a response's worth */
}

void hc_tls_conn_shutdown(hc_tls_conn_t *c)
{
    if (!c->established || c->failed)
        return;
    SSL_shutdown(c->ssl);
    ERR_clear_error();
}

int hc_tls_conn_established(const hc_tls_conn_t *c)
{
    return c->established;
}

const char *hc_tls_conn_version(const hc_tls_conn_t *c)
{
    return c->established ? SSL_get_version(c->ssl) : NULL;
}

const char *hc_tls_conn_cipher(const hc_tls_conn_t *c)
{
    const SSL_CIPHER *cipher = c->established ? SSL_get_current_cipher(c->ssl) : NULL;
    return cipher ? SSL_CIPHER_standard_name(cipher) : NULL;
}

const char *hc_tls_conn_sni(const hc_tls_conn_t *c)
{
    return SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
}

void hc_tls_conn_peer_certs(const hc_tls_conn_t *c, X509 **leaf, STACK_OF(X509) **chain)
{
    X509 *l = SSL_get0_peer_certificate(c->ssl);
    if (leaf)
        *leaf = l;
    if (chain) /* a server's view leaves the peer's own certificate out of its chain */
        *chain = l ? SSL_get_peer_cert_chain(c->ssl) : NULL;
}

const char *hc_tls_conn_alpn(const hc_tls_conn_t *c)
{
    return c->alpn[0] ? c->alpn : NULL;
}

const char *hc_tls_conn_error(const hc_tls_conn_t *c)
{
    return c->failed ? c->error : NULL;
}

int hc_tls_conn_verify_failed(const hc_tls_conn_t *c)
{
    return c->verify_failed;
}

int hc_tls_conn_not_tls(const hc_tls_conn_t *c)
{
    return c->not_tls;
}

SSL_CTX *hc_tls_ctx_openssl(hc_tls_ctx_t *ctx)
{
    return ctx->ssl;
}

SSL *hc_tls_conn_openssl(hc_tls_conn_t *c)
{
    return c->ssl;
}
