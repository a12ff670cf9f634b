/* Traefik's CRDs for the proxy config (proxy_config_int.h, run by pc_k8s_load): each
 * Middleware becomes "<ns>-<name>@kubernetescrd" in the dynamic-configuration shape the
 * middleware parsers read (basicAuth's Secret read into users, chain references made
 * "<ns>-<name>"), and TLSOptions become TLS options (`default` unqualified). */
#include "proxy/proxy_config_int.h"

#include "core/hc_alloc.h"
#include "core/hc_jwt.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define BASIC_AUTH_TYPE "kubernetes.io/basic-auth"

/* ---- Secrets ---- */

/* A Secret's entries as {key: text}: data (base64) decoded, stringData (plain) over it,
 * as the API server merges them. NULL with err when an entry is not base64 or UTF-8. */
static json_t *secret_entries(const json_t *secret, char *err, size_t errlen)
{
    json_t *out = json_object();
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(secret, "data"), key, v)
    {
        size_t len = 0;
        char *text = json_is_string(v)
                         ? hc_base64_decode(json_string_value(v), json_string_length(v), &len)
                         : NULL;
        json_t *s = text ? json_stringn(text, len) : NULL;
        hc_free(text);
        if (!s) {
            snprintf(err, errlen, "data entry %s is not base64-encoded UTF-8 text", key);
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, key, s);
    }
    json_object_foreach((json_t *)json_object_get(secret, "stringData"), key, v)
    {
        if (json_is_string(v))
            json_object_set(out, key, (json_t *)v);
    }
    return out;
}

/* "user:{SHA}base64(sha1(password))" for a kubernetes.io/basic-auth Secret. */
static json_t *basic_auth_user(const char *user, const char *password)
{
    unsigned char md[20];
    char b64[32];
    EVP_Digest(password, strlen(password), md, NULL, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)b64, md, sizeof(md));
    char *line = pc_strf("%s:{SHA}%s", user, b64);
    json_t *a = json_pack("[s]", line);
    hc_free(line);
    return a;
}

/* The htpasswd lines of a Secret, as Traefik's loadBasicAuthCredentials reads it:
 * username + password of a kubernetes.io/basic-auth Secret, else the one and only entry
 * split into non-empty lines. Returns a new array or NULL with err. */
static json_t *secret_users(const pc_kstate_t *k, const char *ns, const char *name, char *err,
                            size_t errlen)
{
    const pc_kobj_t *o = pc_kfind(k, PC_K_SECRET, ns, name);
    if (!o) {
        snprintf(err, errlen, "failed to load secret %s/%s: not found", ns, name);
        return NULL;
    }
    json_t *e = secret_entries(o->obj, err, errlen), *users = NULL;
    if (!e)
        return NULL;
    const char *user = pc_str(e, "username"), *pass = pc_str(e, "password");
    const char *type = pc_str(o->obj, "type");
    if (user && pass && json_object_size(e) == 2 && type && !strcmp(type, BASIC_AUTH_TYPE)) {
        users = basic_auth_user(user, pass);
    } else if (json_object_size(e) != 1) {
        snprintf(err, errlen, "found %zu elements for secret %s/%s, must be single element exactly",
                 json_object_size(e), ns, name);
    } else {
        const char *s = json_string_value(json_object_iter_value(json_object_iter(e)));
        users = json_array();
        while (*s) {
            size_t n = strcspn(s, "\r\n");
            if (n)
                json_array_append_new(users, json_stringn(s, n));
            s += n + (s[n] == '\r' && s[n + 1] == '\n' ? 2 : s[n] ? 1 : 0);
        }
        if (!json_array_size(users)) {
            snprintf(err, errlen, "secret %s/%s does not contain any credentials", ns, name);
            json_decref(users);
            users = NULL;
        }
    }
    json_decref(e);
    return users;
}

/* ---- Middlewares ---- */

/* basicAuth {secret, realm, removeHeader, headerField} -> {users, realm, ...}. */
static int basic_auth_spec(const pc_kstate_t *k, const pc_kobj_t *o, json_t *spec, char *err,
                           size_t errlen)
{
    const char *secret = pc_str(spec, "secret");
    if (!secret)
        return 0; /* the parser reports what is missing */
    json_t *users = secret_users(k, o->ns, secret, err, errlen);
    if (!users)
        return -1;
    json_object_del(spec, "secret");
    json_object_set_new(spec, "users", users);
    return 0;
}

/* chain {middlewares: [{name, namespace}]} -> {middlewares: ["<ns>-<name>" or
 * "name@provider"]}, each reference read as an IngressRoute's (pc_crd_ref: Traefik's
 * makeMiddlewareKeys serves both); the runtime qualifies names without "@" with the
 * chain's provider. */
static int chain_spec(const pc_kobj_t *o, json_t *spec, char *err, size_t errlen)
{
    const json_t *list = json_object_get(spec, "middlewares"), *m;
    size_t i;
    if (!json_is_array(list)) {
        snprintf(err, errlen, "chain.middlewares must be a list of {name, namespace}");
        return -1;
    }
    json_t *names = json_array();
    json_array_foreach(list, i, m)
    {
        char e[PC_ERR_MAX - 32];
        char *id = pc_crd_ref(o->ns, m, "middleware", "Middleware", e, sizeof(e));
        if (!id) {
            snprintf(err, errlen, "chain.middlewares[%zu]%s%s", i, pc_str(m, "name") ? ": " : ".",
                     e);
            json_decref(names);
            return -1;
        }
        json_array_append_new(names, json_string(id));
        hc_free(id);
    }
    json_object_set_new(spec, "middlewares", names);
    return 0;
}

/* errors {service: {name, port, ...}} -> {service: "<ns>-<svc>-<port>@kubernetescrd"},
 * the Service's load balancer built as for an IngressRoute. */
static int errors_spec(pc_kstate_t *k, const pc_kobj_t *o, json_t *spec, char *err, size_t errlen)
{
    const json_t *ref = json_object_get(spec, "service");
    if (!json_is_object(ref))
        return 0; /* the parser reports what is missing */
    char *q = pc_crd_service(k, o->ns, ref, err, errlen);
    if (!q)
        return -1;
    json_object_set_new(spec, "service", json_string(q));
    hc_free(q);
    return 0;
}

/* "Normalize(<ns>-<name>)@kubernetescrd", as Traefik names a CRD object. */
static char *crd_qualified_id(const pc_kobj_t *o)
{
    char *raw = pc_strf("%s-%s", o->ns, o->name), *q = pc_crd_name(raw);
    hc_free(raw);
    return q;
}

static void crd_middleware(pc_kstate_t *k, const pc_kobj_t *o)
{
    const json_t *spec = json_object_get(o->obj, "spec");
    char err[PC_ERR_MAX];
    if (!json_is_object(spec) || json_object_size(spec) != 1) {
        pc_error(k->b, o->source, "Middleware", o->ns, o->name,
                 "spec must hold exactly one middleware type (found %zu)",
                 json_is_object(spec) ? json_object_size(spec) : 0);
        return;
    }
    const char *type = json_object_iter_key(json_object_iter((json_t *)spec));
    json_t *body = json_deep_copy(json_object_get(spec, type));
    int rc = 0;
    if (json_is_object(body) && (!strcmp(type, "basicAuth") || !strcmp(type, "digestAuth")))
        rc = basic_auth_spec(k, o, body, err, sizeof(err));
    else if (json_is_object(body) && !strcmp(type, "chain"))
        rc = chain_spec(o, body, err, sizeof(err));
    else if (json_is_object(body) && !strcmp(type, "errors"))
        rc = errors_spec(k, o, body, err, sizeof(err));
    if (rc) {
        pc_error(k->b, o->source, "Middleware", o->ns, o->name, "%s", err);
        json_decref(body);
        return;
    }
    proxy_middleware_t *m =
        pc_middleware_add(k->b, crd_qualified_id(o), PROXY_PROVIDER_KUBERNETESCRD, o->source);
    m->type = hc_strdup(type);
    m->spec = body;
}

/* The entries key1 (else key2, when given) of Secret ns/name, as one JSON string or
 * object {certFile: key1, keyFile: key2} (want_pair). NULL with err naming what. */
static json_t *secret_pem(const pc_kstate_t *k, const char *ns, const char *name, const char *key1,
                          const char *key2, int want_pair, const char *what, char *err,
                          size_t errlen)
{
    const pc_kobj_t *sec = name ? pc_kfind(k, PC_K_SECRET, ns, name) : NULL;
    json_t *e = sec ? secret_entries(sec->obj, err, errlen) : NULL, *out = NULL;
    const char *a = e ? pc_str(e, key1) : NULL, *b = e && key2 ? pc_str(e, key2) : NULL;
    if (want_pair && a && b)
        out = json_pack("{s:s, s:s}", "certFile", a, "keyFile", b);
    else if (!want_pair && (a || b))
        out = json_string(a ? a : b);
    else if (!sec)
        snprintf(err, errlen, "%s: secret %s/%s not found", what, ns, name ? name : "");
    else if (e) /* else secret_entries said why */
        snprintf(err, errlen,
                 want_pair ? "%s: secret %s/%s lacks %s or %s"
                           : "%s: secret %s/%s holds neither %s nor %s",
                 what, ns, name, key1, key2);
    json_decref(e);
    return out;
}

/* The CA certificates of a Secret as Traefik reads them: `tls.ca`, else `ca.crt`. */
static json_t *secret_ca(const pc_kstate_t *k, const char *ns, const char *name, const char *what,
                         char *err, size_t errlen)
{
    return secret_pem(k, ns, name, "tls.ca", "ca.crt", 0, what, err, errlen);
}

/* ---- TLSOptions ---- */

/* clientAuth.secretNames (Secrets in the TLSOption's namespace) -> clientAuth.caFiles
 * with the PEM text inline. */
static int client_auth_cas(const pc_kstate_t *k, const pc_kobj_t *o, json_t *spec, char *err,
                           size_t errlen)
{
    json_t *ca = json_object_get(spec, "clientAuth");
    const char *key;
    json_t *v, *tmp;
    json_object_foreach_safe(ca, tmp, key, v) /* CA files come from Secrets only */
    {
        if (!strcasecmp(key, "caFiles"))
            json_object_del(ca, key);
    }
    json_t *names = json_object_get(ca, "secretNames");
    if (!json_is_array(names))
        return 0;
    json_t *pems = json_array();
    size_t i;
    json_array_foreach(names, i, v)
    {
        json_t *pem = secret_ca(k, o->ns, json_string_value(v), "clientAuth", err, errlen);
        if (!pem) {
            json_decref(pems);
            return -EINVAL;
        }
        json_array_append_new(pems, pem);
    }
    json_object_del(ca, "secretNames");
    json_object_set_new(ca, "caFiles", pems);
    return 0;
}

static void crd_tls_options(pc_kstate_t *k)
{
    size_t ndefault = 0;
    for (size_t i = 0; i < k->nobjs; i++)
        if (k->objs[i].kind == PC_K_TLSOPTION && !strcmp(k->objs[i].name, "default"))
            ndefault++;
    for (size_t i = 0; i < k->nobjs; i++) {
        const pc_kobj_t *o = &k->objs[i];
        if (o->kind != PC_K_TLSOPTION)
            continue;
        const json_t *spec = json_object_get(o->obj, "spec");
        int is_default = !strcmp(o->name, "default");
        if (!json_is_object(spec)) {
            pc_error(k->b, o->source, "TLSOption", o->ns, o->name, "spec must be an object");
            continue;
        }
        if (is_default && ndefault > 1) {
            /* Traefik drops the default options when several namespaces define them. */
            pc_error(k->b, o->source, "TLSOption", o->ns, o->name,
                     "TLSOption \"default\" is defined in %zu namespaces; all are ignored",
                     ndefault);
            continue;
        }
        json_t *copy = json_deep_copy(spec);
        char err[PC_ERR_MAX];
        if (client_auth_cas(k, o, copy, err, sizeof(err))) {
            pc_error(k->b, o->source, "TLSOption", o->ns, o->name, "%s", err);
            json_decref(copy);
            continue;
        }
        proxy_tls_option_t *t =
            pc_tls_option_add(k->b, is_default ? hc_strdup("default") : crd_qualified_id(o),
                              PROXY_PROVIDER_KUBERNETESCRD, o->source);
        t->spec = copy;
    }
}

/* ---- ServersTransports ---- */

/* A ServersTransport's spec as the file provider writes it: the CRD's own fields (any
 * other key is dropped, as the API server prunes it, so an object cannot name files of
 * this host), its Secrets as PEM text: rootCAsSecrets (v2) and rootCAs [{secret}] (v3) ->
 * rootCAs, the tls.crt and tls.key of certificatesSecrets -> certificates [{certFile,
 * keyFile}]. ConfigMaps are not read. spec is the object's; *out a new one. */
static int transport_secrets(const pc_kstate_t *k, const pc_kobj_t *o, const json_t *spec,
                             json_t **out, char *err, size_t errlen)
{
    static const char *const fields[] = {"serverName",
                                         "insecureSkipVerify",
                                         "maxIdleConnsPerHost",
                                         "forwardingTimeouts",
                                         "disableHTTP2",
                                         "peerCertURI",
                                         "spiffe"};
    *out = json_object();
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
        if (json_object_get(spec, fields[f]))
            json_object_set(*out, fields[f], json_object_get(spec, fields[f]));
    json_t *cas = json_array(), *certs = json_array(), *v, *pem;
    size_t i;
    int rc = 0;
    json_array_foreach(json_object_get(spec, "rootCAsSecrets"), i, v)
    {
        if (!(pem = secret_ca(k, o->ns, json_string_value(v), "rootCAsSecrets", err, errlen)))
            goto fail;
        json_array_append_new(cas, pem);
    }
    json_array_foreach(json_object_get(spec, "rootCAs"), i, v)
    {
        if (pc_str(v, "configMap")) {
            snprintf(err, errlen, "rootCAs: configMap %s: ConfigMaps are not read (use a secret)",
                     pc_str(v, "configMap"));
            goto fail;
        }
        if (!(pem = secret_ca(k, o->ns, pc_str(v, "secret"), "rootCAs", err, errlen)))
            goto fail;
        json_array_append_new(cas, pem);
    }
    json_array_foreach(json_object_get(spec, "certificatesSecrets"), i, v)
    {
        pem = secret_pem(k, o->ns, json_string_value(v), "tls.crt", "tls.key", 1,
                         "certificatesSecrets", err, errlen);
        if (!pem)
            goto fail;
        json_array_append_new(certs, pem);
    }
    json_object_set(*out, "rootCAs", cas);
    json_object_set(*out, "certificates", certs);
    goto done;
fail:
    rc = -EINVAL;
    json_decref(*out);
    *out = NULL;
done:
    json_decref(cas);
    json_decref(certs);
    return rc;
}

static void crd_transports(pc_kstate_t *k)
{
    for (size_t i = 0; i < k->nobjs; i++) {
        const pc_kobj_t *o = &k->objs[i];
        if (o->kind != PC_K_SERVERSTRANSPORT)
            continue;
        const json_t *spec = json_object_get(o->obj, "spec");
        char err[PC_ERR_MAX] = "spec must be an object";
        json_t *copy = NULL;
        if (!json_is_object(spec) || transport_secrets(k, o, spec, &copy, err, sizeof(err))) {
            pc_error(k->b, o->source, "ServersTransport", o->ns, o->name, "%s", err);
            continue;
        }
        pc_transport_add(k->b, crd_qualified_id(o), PROXY_PROVIDER_KUBERNETESCRD, o->source)->spec =
            copy;
    }
}

/* ---- references ---- */

int pc_crd_qualified(const char *name)
{
    size_t n = strlen(name), s = strlen(CRD_SUFFIX);
    return n > s && !strcmp(name + n - s, CRD_SUFFIX);
}

char *pc_crd_name(const char *raw)
{
    char *norm = proxy_config_normalize(raw), *q = pc_strf("%s" CRD_SUFFIX, norm);
    hc_free(norm);
    return q;
}

char *pc_crd_id(const char *ns, const char *name)
{
    char *raw = pc_strf("%s-%s", ns, name), *id = proxy_config_normalize(raw);
    hc_free(raw);
    return id;
}

char *pc_crd_ref(const char *ns, const json_t *ref, const char *what, const char *referrer,
                 char *err, size_t errlen)
{
    const char *name = pc_str(ref, "name"), *rns = pc_str(ref, "namespace");
    if (!name || !*name) {
        snprintf(err, errlen, "name is missing");
        return NULL;
    }
    if (pc_crd_qualified(name)) {
        snprintf(err, errlen,
                 "invalid reference to %s %s: with crossnamespace disallowed, the namespace "
                 "field needs to be explicitly specified",
                 what, name);
        return NULL;
    }
    if (strchr(name, '@'))
        return hc_strdup(name);
    if (rns && *rns && strcmp(rns, ns)) {
        snprintf(err, errlen,
                 "%s %s/%s is not in the %s namespace %s (references to another namespace are "
                 "not allowed)",
                 what, rns, name, referrer, ns);
        return NULL;
    }
    return pc_crd_id(ns, name);
}

/* TLSStore: the one named default gives the default certificate from its Secret, as
 * Traefik uses no other store. */
static void crd_tls_stores(pc_kstate_t *k)
{
    for (size_t i = 0; i < k->nobjs; i++) {
        const pc_kobj_t *o = &k->objs[i];
        if (o->kind != PC_K_TLSSTORE)
            continue;
        const json_t *spec = json_object_get(o->obj, "spec"), *cert;
        const char *secret = pc_str(json_object_get(spec, "defaultCertificate"), "secretName");
        char err[PC_ERR_MAX];
        size_t j;
        if (strcmp(o->name, "default")) {
            pc_error(k->b, o->source, "TLSStore", o->ns, o->name,
                     "only the TLSStore named default is used");
            continue;
        }
        if (secret && *secret) {
            char *id = pc_strf("%s-%s", o->ns, secret);
            if (pc_k8s_secret(k, o->ns, secret, NULL, 0, err, sizeof(err)) < 0)
                pc_error(k->b, o->source, "TLSStore", o->ns, o->name, "%s", err);
            else
                pc_cert_find(k->b, id)->is_default = 1;
            hc_free(id);
        }
        /* certificates: pairs added to the store, chosen by SNI as any other (Traefik's
         * buildTLSStores) */
        json_array_foreach(json_object_get(spec, "certificates"), j, cert)
        {
            const char *name = pc_str(cert, "secretName");
            if (!name || !*name)
                pc_error(k->b, o->source, "TLSStore", o->ns, o->name,
                         "certificates[%zu]: secretName is required", j);
            else if (pc_k8s_secret(k, o->ns, name, NULL, 1, err, sizeof(err)) < 0)
                pc_error(k->b, o->source, "TLSStore", o->ns, o->name, "certificates[%zu]: %s", j,
                         err);
        }
    }
}

void pc_crd_load(pc_kstate_t *k)
{
    for (size_t i = 0; i < k->nobjs; i++)
        if (k->objs[i].kind == PC_K_MIDDLEWARE)
            crd_middleware(k, &k->objs[i]);
    crd_tls_options(k);
    crd_tls_stores(k);
    crd_transports(k);
}
