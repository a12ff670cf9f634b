/* proxy_config: Traefik names and rules for the seed's own manifests (platform doc 004,
 * indentation restored), class filtering, annotations, middleware references and their
 * order, broken objects, and the file-provider equivalents. */
#include "core/hc_alloc.h"
#include "proxy/proxy_config.h"
#include "json_fixture.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <string.h>

typedef struct fixture {
    const json_t *objs[32];
    const char *srcs[32];
    size_t n;
} fixture_t;

static void add(fixture_t *f, const char *src, const char *json)
{
    f->srcs[f->n] = src;
    f->objs[f->n++] = J(json);
}

/* A Service ns/name on port with one ready address (an Ingress path to it is served). */
static void add_svc(fixture_t *f, const char *ns, const char *name, int port)
{
    char buf[512];
    snprintf(buf, sizeof(buf),
             "{'apiVersion':'v1','kind':'Service','metadata':{'name':'%s','namespace':'%s'},"
             "'spec':{'ports':[{'port':%d}]}}",
             name, ns, port);
    add(f, "svc.yaml:1", buf);
    snprintf(buf, sizeof(buf),
             "{'apiVersion':'v1','kind':'Endpoints','metadata':{'name':'%s','namespace':'%s'},"
             "'subsets':[{'addresses':[{'ip':'10.0.0.9'}],'ports':[{'port':%d}]}]}",
             name, ns, port);
    add(f, "svc.yaml:9", buf);
}

/* Builds f's objects and, unless NULL, one file-provider configuration (all released). */
static proxy_config_t *build_all(fixture_t *f, const char *cls, int extname, json_t *file)
{
    const json_t *files[] = {file};
    const char *srcs[] = {"dynamic.yaml"};
    proxy_config_input_t in = {.ingress_class = cls,
                               .allow_external_name = extname,
                               .objects = f->objs,
                               .sources = f->srcs,
                               .nobjects = f->n,
                               .files = files,
                               .file_sources = srcs,
                               .nfiles = file ? 1 : 0};
    proxy_config_t *cfg = NULL;
    assert_int_equal(proxy_config_build(&in, &cfg), 0);
    assert_non_null(cfg);
    for (size_t i = 0; i < f->n; i++)
        json_decref((json_t *)f->objs[i]);
    f->n = 0;
    json_decref(file);
    return cfg;
}

static proxy_config_t *build_with(fixture_t *f, const char *cls, int extname)
{
    return build_all(f, cls, extname, NULL);
}

static proxy_config_t *build(fixture_t *f)
{
    return build_with(f, NULL, 0);
}

static const proxy_config_error_t *find_error(const proxy_config_t *c, const char *kind,
                                              const char *name, const char *needle)
{
    for (size_t i = 0; i < c->nerrors; i++) {
        const proxy_config_error_t *e = &c->errors[i];
        if (!strcmp(e->kind, kind) && !strcmp(e->name, name) && strstr(e->message, needle))
            return e;
    }
    return NULL;
}

static int router_has_error(const proxy_router_t *r, const char *needle)
{
    for (size_t i = 0; i < r->nerrors; i++)
        if (strstr(r->errors[i], needle))
            return 1;
    return 0;
}

/* ---- the seed's manifests (004: Cert-Manager, Flow-Proxy, Integration sections) ---- */

#define SEED_API_INGRESS                                                                           \
    "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'api-ingress',"      \
    "'namespace':'client-demo-client','annotations':{'cert-manager.io/cluster-issuer':"            \
    "'letsencrypt-prod'}},'spec':{'ingressClassName':'traefik','tls':[{'hosts':"                   \
    "['demo-client-api.app.ominis.ai'],'secretName':'demo-client-api-tls'}],'rules':[{'host':"     \
    "'demo-client-api.app.ominis.ai','http':{'paths':[{'path':'/','pathType':'Prefix',"            \
    "'backend':{'service':{'name':'api','port':{'number':8000}}}}]}}]}}"
#define SEED_EXAMPLE_INGRESS                                                                       \
    "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':"                    \
    "'example-ingress','namespace':'client-example','annotations':{"                               \
    "'cert-manager.io/cluster-issuer':'letsencrypt-prod','traefik.ingress.kubernetes.io/"          \
    "router.middlewares':'default-security-headers@kubernetescrd'}},'spec':{"                      \
    "'ingressClassName':'traefik','tls':[{'hosts':['example-api.app.ominis.ai'],"                  \
    "'secretName':'example-api-tls'}],'rules':[{'host':'example-api.app.ominis.ai','http':{"       \
    "'paths':[{'path':'/','pathType':'Prefix','backend':{'service':{'name':'api','port':{"         \
    "'number':8000}}}}]}}]}}"

static void add_seed(fixture_t *f)
{
    add(f, "004.yaml:1",
        "{'apiVersion':'cert-manager.io/v1','kind':'ClusterIssuer','metadata':{'name':"
        "'letsencrypt-prod'},'spec':{'acme':{'server':'https://acme-v02.api.letsencrypt.org/"
        "directory','email':'admin@ominis.ai','privateKeySecretRef':{'name':'letsencrypt-prod'},"
        "'solvers':[{'http01':{'ingress':{'class':'traefik'}}}]}}}");
    add(f, "004.yaml:20",
        "{'apiVersion':'cert-manager.io/v1','kind':'Certificate','metadata':{'name':"
        "'demo-client-api-tls','namespace':'client-demo-client'},'spec':{'secretName':"
        "'demo-client-api-tls','issuerRef':{'name':'letsencrypt-prod','kind':'ClusterIssuer'},"
        "'dnsNames':['demo-client-api.app.ominis.ai']}}");
    add(f, "004.yaml:40", SEED_API_INGRESS);
    add(f, "004.yaml:80", SEED_EXAMPLE_INGRESS);
    add(f, "004.yaml:120",
        "{'apiVersion':'traefik.containo.us/v1alpha1','kind':'Middleware','metadata':{'name':"
        "'security-headers','namespace':'default'},'spec':{'headers':{'customResponseHeaders':{"
        "'X-Frame-Options':'SAMEORIGIN','X-Content-Type-Options':'nosniff','X-XSS-Protection':"
        "'1; mode=block','Referrer-Policy':'no-referrer-when-downgrade','Permissions-Policy':"
        "'geolocation=(), microphone=(), camera=()'}}}}");
    add(f, "004.yaml:140",
        "{'apiVersion':'traefik.containo.us/v1alpha1','kind':'Middleware','metadata':{'name':"
        "'rate-limit','namespace':'default'},'spec':{'rateLimit':{'average':100,'burst':50,"
        "'period':'1m'}}}");
    add(f, "004.yaml:150",
        "{'apiVersion':'traefik.containo.us/v1alpha1','kind':'Middleware','metadata':{'name':"
        "'compress','namespace':'default'},'spec':{'compress':{}}}");
    add(f, "004.yaml:400",
        "{'apiVersion':'traefik.containo.us/v1alpha1','kind':'Middleware','metadata':{'name':"
        "'oauth-auth','namespace':'client-demo-client'},'spec':{'forwardAuth':{'address':"
        "'https://auth.ominis.ai/outpost.goauthentik.io/auth/traefik','trustForwardHeader':true,"
        "'authResponseHeaders':['X-Auth-User','X-Auth-Email']}}}");
    add(f, "004.yaml:600",
        "{'apiVersion':'traefik.containo.us/v1alpha1','kind':'Middleware','metadata':{'name':"
        "'redirect-https','namespace':'default'},'spec':{'redirectScheme':{'scheme':'https',"
        "'permanent':true}}}");
}

#define API_ROUTER "client-demo-client-api-ingress-demo-client-api-app-ominis-ai@kubernetes"
#define EXAMPLE_ROUTER "client-example-example-ingress-example-api-app-ominis-ai@kubernetes"

static void test_seed_without_backends(void **state)
{
    fixture_t f = {0};
    add_seed(&f);
    proxy_config_t *c = build(&f);
    /* No Service in the seed: each path is reported and skipped, as Traefik skips it. */
    assert_int_equal(c->nrouters, 0);
    assert_non_null(find_error(c, "Ingress", "api-ingress",
                               "rules[0].http.paths[0]: service client-demo-client/api not found"));
    assert_non_null(
        find_error(c, "Ingress", "example-ingress", "service client-example/api not found"));
    assert_non_null(find_error(c, "Ingress", "api-ingress",
                               "secret client-demo-client/demo-client-api-tls does not exist"));

    static const char *const mws[][2] = {
        {"client-demo-client-oauth-auth@kubernetescrd", "forwardAuth"},
        {"default-compress@kubernetescrd", "compress"},
        {"default-rate-limit@kubernetescrd", "rateLimit"},
        {"default-redirect-https@kubernetescrd", "redirectScheme"},
        {"default-security-headers@kubernetescrd", "headers"},
    };
    assert_int_equal(c->nmiddlewares, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(c->middlewares[i].name, mws[i][0]); /* sorted by name */
        assert_string_equal(c->middlewares[i].type, mws[i][1]);
        assert_int_equal(c->middlewares[i].provider, PROXY_PROVIDER_KUBERNETESCRD);
    }
    const proxy_middleware_t *m =
        proxy_config_middleware(c, "default-security-headers@kubernetescrd");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(m->spec, "customResponseHeaders"), "X-Frame-Options")),
                        "SAMEORIGIN");
    m = proxy_config_middleware(c, "default-rate-limit@kubernetescrd");
    assert_int_equal(json_integer_value(json_object_get(m->spec, "average")), 100);
    assert_string_equal(m->source, "004.yaml:140");
    /* cert-manager kinds are not the proxy's: no error for them */
    for (size_t i = 0; i < c->nerrors; i++)
        assert_string_not_equal(c->errors[i].kind, "ClusterIssuer");
    proxy_config_free(c);
}

static void add_backends(fixture_t *f)
{
    add(f, "svc.yaml:1",
        "{'apiVersion':'v1','kind':'Service','metadata':{'name':'api','namespace':"
        "'client-demo-client'},'spec':{'ports':[{'name':'http','port':8000,'targetPort':8000}]}}");
    add(f, "svc.yaml:10",
        "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':'api-x1',"
        "'namespace':'client-demo-client','labels':{'kubernetes.io/service-name':'api'}},"
        "'addressType':'IPv4','ports':[{'name':'http','port':8000}],'endpoints':["
        "{'addresses':['10.42.0.7'],'conditions':{'ready':true}},"
        "{'addresses':['10.42.0.9'],'conditions':{'ready':false,'terminating':true}},"
        "{'addresses':['10.42.0.6']},{'addresses':['10.42.0.8'],'conditions':{'serving':true}}]}");
    add(f, "svc.yaml:30",
        "{'apiVersion':'v1','kind':'Secret','type':'kubernetes.io/tls','metadata':{'name':"
        "'demo-client-api-tls','namespace':'client-demo-client'},'data':{'tls.crt':'Q0VSVA==',"
        "'tls.key':'S0VZIQ=='}}");
    add(f, "svc.yaml:40",
        "{'apiVersion':'v1','kind':'Service','metadata':{'name':'api','namespace':"
        "'client-example'},'spec':{'ports':[{'port':8000}]}}");
    add(f, "svc.yaml:50",
        "{'apiVersion':'v1','kind':'Endpoints','metadata':{'name':'api','namespace':"
        "'client-example'},'subsets':[{'addresses':[{'ip':'10.43.1.2'},{'ip':'fd00::5'}],"
        "'notReadyAddresses':[{'ip':'10.43.1.3'}],'ports':[{'port':8000}]}]}");
}

static void test_seed_with_backends(void **state)
{
    fixture_t f = {0};
    add_seed(&f);
    add_backends(&f);
    proxy_config_t *c = build(&f);
    assert_int_equal(c->nrouters, 2);
    const proxy_router_t *r = proxy_config_router(c, API_ROUTER);
    assert_non_null(r);
    assert_string_equal(r->rule, "Host(`demo-client-api.app.ominis.ai`) && PathPrefix(`/`)");
    assert_int_equal(r->priority, strlen(r->rule));
    assert_false(r->priority_set);
    assert_string_equal(r->service_name, "client-demo-client-api-8000@kubernetes");
    assert_false(r->tls); /* spec.tls loads certificates; router.tls enables TLS */
    assert_int_equal(r->status, PROXY_STATUS_ENABLED);
    assert_int_equal(r->nerrors, 0);
    assert_non_null(r->service);
    assert_string_equal(r->service->name, "client-demo-client-api-8000@kubernetes");
    assert_int_equal(r->service->nservers, 2); /* ready or serving, not unknown */
    assert_string_equal(r->service->servers[0], "http://10.42.0.7:8000");
    assert_string_equal(r->service->servers[1], "http://10.42.0.8:8000");
    assert_true(r->service->pass_host_header);

    assert_int_equal(c->ncerts, 1);
    assert_string_equal(c->certs[0].name, "client-demo-client-demo-client-api-tls");
    assert_int_equal(c->certs[0].cert_len, 4);
    assert_memory_equal(c->certs[0].cert, "CERT", 4);
    assert_memory_equal(c->certs[0].key, "KEY!", 4);
    assert_int_equal(c->certs[0].nhosts, 1);
    assert_string_equal(c->certs[0].hosts[0], "demo-client-api.app.ominis.ai");

    r = proxy_config_router(c, EXAMPLE_ROUTER);
    assert_non_null(r);
    assert_string_equal(r->rule, "Host(`example-api.app.ominis.ai`) && PathPrefix(`/`)");
    assert_string_equal(r->service_name, "client-example-api-8000@kubernetes");
    assert_int_equal(r->nmiddlewares, 1);
    assert_string_equal(r->middleware_names[0], "default-security-headers@kubernetescrd");
    assert_int_equal(r->status, PROXY_STATUS_WARNING); /* its Secret is missing */
    assert_true(router_has_error(r, "client-example/example-api-tls"));
    assert_non_null(r->middlewares[0]);
    assert_string_equal(r->middlewares[0]->type, "headers");
    assert_int_equal(r->service->nservers, 2);
    assert_string_equal(r->service->servers[0], "http://10.43.1.2:8000");
    assert_string_equal(r->service->servers[1], "http://[fd00::5]:8000");
    proxy_config_free(c);
}

/* ---- class filtering ---- */

static void test_class_filtering(void **state)
{
    static const struct {
        const char *configured;
        const char *class_name;    /* spec.ingressClassName */
        const char *annotation;    /* kubernetes.io/ingress.class */
        const char *ic_controller; /* an IngressClass object of class_name, or NULL */
        int served;
        const char *default_ic[2]; /* an IngressClass annotated is-default-class: name,
                                      controller */
    } cases[] = {
        {NULL, NULL, NULL, NULL, 1}, /* unclassed, none configured */
        {NULL, NULL, "traefik", NULL, 1},
        {NULL, NULL, "nginx", NULL, 0},
        {"traefik", NULL, NULL, NULL, 0}, /* configured: unclassed no longer served */
        {"internal", NULL, "internal", NULL, 1},
        {NULL, "traefik", NULL, NULL, 1}, /* implicit IngressClass traefik */
        {NULL, "nginx", NULL, NULL, 0},
        {NULL, "mine", NULL, "traefik.io/ingress-controller", 1},
        {NULL, "traefik", NULL, "k8s.io/ingress-nginx", 0},
        {"internal", "mine", NULL, "traefik.io/ingress-controller", 0},
        {"internal", "internal", NULL, NULL, 1},
        {NULL, "traefik", "nginx", NULL, 1}, /* ingressClassName wins over the annotation */
        /* an Ingress naming no class gets the default one in the API server (its
           DefaultIngressClass admission): another controller's is not ours */
        {NULL, NULL, NULL, NULL, 0, {"nginx", "k8s.io/ingress-nginx"}},
        {NULL, NULL, NULL, NULL, 1, {"mine", "traefik.io/ingress-controller"}},
        {NULL, NULL, "traefik", NULL, 1, {"nginx", "k8s.io/ingress-nginx"}}, /* it names one */
        {NULL, "traefik", NULL, NULL, 1, {"nginx", "k8s.io/ingress-nginx"}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fixture_t f = {0};
        char buf[1024];
        char ann[128] = "", cls[64] = "";
        if (cases[i].annotation)
            snprintf(ann, sizeof(ann), ",'annotations':{'kubernetes.io/ingress.class':'%s'}",
                     cases[i].annotation);
        if (cases[i].class_name)
            snprintf(cls, sizeof(cls), "'ingressClassName':'%s',", cases[i].class_name);
        snprintf(buf, sizeof(buf),
                 "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'w',"
                 "'namespace':'ns'%s},'spec':{%s'rules':[{'host':'a.test','http':{'paths':[{"
                 "'path':'/','pathType':'Prefix','backend':{'service':{'name':'s','port':{"
                 "'number':80}}}}]}}]}}",
                 ann, cls);
        add(&f, "ing.yaml:1", buf);
        add_svc(&f, "ns", "s", 80);
        if (cases[i].ic_controller) {
            snprintf(buf, sizeof(buf),
                     "{'apiVersion':'networking.k8s.io/v1','kind':'IngressClass','metadata':{"
                     "'name':'%s'},'spec':{'controller':'%s'}}",
                     cases[i].class_name, cases[i].ic_controller);
            add(&f, "ic.yaml:1", buf);
        }
        if (cases[i].default_ic[0]) {
            snprintf(buf, sizeof(buf),
                     "{'apiVersion':'networking.k8s.io/v1','kind':'IngressClass','metadata':{"
                     "'name':'%s','annotations':{'ingressclass.kubernetes.io/is-default-class':"
                     "'true'}},'spec':{'controller':'%s'}}",
                     cases[i].default_ic[0], cases[i].default_ic[1]);
            add(&f, "default-ic.yaml:1", buf);
        }
        proxy_config_t *c = build_with(&f, cases[i].configured, 0);
        if (c->nrouters != (size_t)cases[i].served)
            fail_msg("case %zu: %zu routers, want %d", i, c->nrouters, cases[i].served);
        proxy_config_free(c);
    }
}

/* ---- middleware references ---- */

static void test_middleware_order_and_resolution(void **state)
{
    fixture_t f = {0};
    add_seed(&f);
    add_backends(&f);
    /* The seed's "Apply Middleware to Ingress" folded scalar (>-), plus the oauth one. */
    add(&f, "apply.yaml:1",
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'chain',"
        "'namespace':'client-demo-client','annotations':{'traefik.ingress.kubernetes.io/"
        "router.middlewares':'default-security-headers@kubernetescrd, "
        "default-rate-limit@kubernetescrd, default-compress@kubernetescrd,"
        "client-demo-client-oauth-auth@kubernetescrd'}},'spec':{'rules':[{'host':"
        "'chain.test','http':{'paths':[{'path':'/','pathType':'Prefix','backend':{'service':{"
        "'name':'api','port':{'name':'http'}}}}]}}]}}");
    add(&f, "apply.yaml:20",
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'broken',"
        "'namespace':'client-demo-client','annotations':{'traefik.ingress.kubernetes.io/"
        "router.middlewares':'default-compress@kubernetescrd,local-mw,"
        "default-missing@kubernetescrd'}},'spec':{'rules':[{'host':'broken.test','http':{"
        "'paths':[{'path':'/','pathType':'Prefix','backend':{'service':{'name':'api','port':{"
        "'number':8000}}}}]}}]}}");
    proxy_config_t *c = build(&f);
    const proxy_router_t *r =
        proxy_config_router(c, "client-demo-client-chain-chain-test@kubernetes");
    assert_non_null(r);
    static const char *const want[] = {"headers", "rateLimit", "compress", "forwardAuth"};
    assert_int_equal(r->nmiddlewares, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(r->middlewares[i]->type, want[i]);
    assert_string_equal(r->middleware_names[3], "client-demo-client-oauth-auth@kubernetescrd");
    /* by port name: the service is named with the port name */
    assert_string_equal(r->service_name, "client-demo-client-api-http@kubernetes");
    assert_int_equal(r->status, PROXY_STATUS_ENABLED);

    r = proxy_config_router(c, "client-demo-client-broken-broken-test@kubernetes");
    assert_int_equal(r->status, PROXY_STATUS_DISABLED);
    assert_string_equal(r->middleware_names[1], "local-mw@kubernetes"); /* router's provider */
    assert_true(router_has_error(r, "middleware \"local-mw@kubernetes\" does not exist"));
    assert_true(router_has_error(r, "middleware \"default-missing@kubernetescrd\" does not exist"));
    assert_null(r->service);
    assert_non_null(find_error(c, "router", r->name, "local-mw"));
    proxy_config_free(c);
}

/* ---- annotations, sticky cookies, https backends, default backend, wildcard ---- */

static void test_annotations_and_service_settings(void **state)
{
    fixture_t f = {0};
    add(&f, "a.yaml:1",
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'web',"
        "'namespace':'prod','annotations':{"
        "'traefik.ingress.kubernetes.io/router.entryPoints':'websecure, web',"
        "'traefik.ingress.kubernetes.io/router.priority':'42',"
        "'traefik.ingress.kubernetes.io/router.tls':'true',"
        "'traefik.ingress.kubernetes.io/router.tls.domains.0.main':'apps.test',"
        "'traefik.ingress.kubernetes.io/router.observability.accessLogs':'true',"
        "'traefik.ingress.kubernetes.io/router.tls.Options':'prod-modern@kubernetescrd'}},"
        "'spec':{'rules':[{'host':'*.apps.test','http':{'paths':[{'path':'/v1',"
        "'pathType':'ImplementationSpecific','backend':{'service':{'name':'secure','port':{"
        "'name':'https-api'}}}}]}}]}}");
    add(&f, "a.yaml:30",
        "{'apiVersion':'v1','kind':'Service','metadata':{'name':'secure','namespace':'prod',"
        "'annotations':{'traefik.ingress.kubernetes.io/service.sticky.cookie':'true',"
        "'traefik.ingress.kubernetes.io/service.sticky.cookie.name':'sid',"
        "'traefik.ingress.kubernetes.io/service.sticky.cookie.secure':'true',"
        "'traefik.ingress.kubernetes.io/service.sticky.cookie.samesite':'lax',"
        "'traefik.ingress.kubernetes.io/service.passHostHeader':'false'}},'spec':{'ports':[{"
        "'name':'https-api','port':9443}]}}");
    add(&f, "a.yaml:40", /* no Endpoints: its ClusterIP, which Kubernetes balances */
        "{'apiVersion':'v1','kind':'Service','metadata':{'name':'native','namespace':'prod',"
        "'annotations':{'traefik.ingress.kubernetes.io/service.nativeLB':'true'}},'spec':{"
        "'clusterIP':'10.96.0.9','ports':[{'name':'http','port':8080}]}}");
    add(&f, "a.yaml:45",
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'native',"
        "'namespace':'prod'},'spec':{'rules':[{'host':'native.test','http':{'paths':[{'path':'/',"
        "'pathType':'Prefix','backend':{'service':{'name':'native','port':{'number':8080}}}}]}}]}"
        "}");
    add(&f, "a.yaml:50",
        "{'apiVersion':'v1','kind':'Endpoints','metadata':{'name':'secure','namespace':'prod'},"
        "'subsets':[{'addresses':[{'ip':'10.0.0.1'}],'ports':[{'name':'https-api','port':9443}]}]"
        "}");
    add(&f, "a.yaml:60",
        "{'apiVersion':'traefik.io/v1alpha1','kind':'TLSOption','metadata':{'name':'modern',"
        "'namespace':'prod'},'spec':{'minVersion':'VersionTLS13'}}");
    add(&f, "b.yaml:1",
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'fallback',"
        "'namespace':'prod','annotations':null},'spec':{'rules':null,'defaultBackend':{"
        "'service':{'name':'secure','port':{'number':9443}}}}}"); /* nulls as Helm leaves them */
    add(&f, "b.yaml:20", /* all null: refused, and it takes no default backend's place */
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'aaa-empty',"
        "'namespace':'prod'},'spec':{'rules':null,'defaultBackend':null,'tls':null}}");
    proxy_config_t *c = build(&f);
    const proxy_router_t *r = proxy_config_router(c, "prod-web-apps-test-v1@kubernetes");
    assert_non_null(r);
    assert_string_equal(r->rule,
                        "HostRegexp(`^[a-zA-Z0-9-]+\\.apps\\.test$`) && PathPrefix(`/v1`)");
    assert_int_equal(r->priority, 42);
    assert_true(r->priority_set);
    assert_int_equal(r->nentrypoints, 2);
    assert_string_equal(r->entrypoints[0], "websecure");
    assert_string_equal(r->entrypoints[1], "web");
    assert_true(r->tls);
    assert_string_equal(r->tls_options, "prod-modern@kubernetescrd");
    assert_non_null(r->tls_option);
    assert_int_equal(r->status, PROXY_STATUS_ENABLED);
    const proxy_service_t *s = r->service;
    assert_string_equal(s->name, "prod-secure-https-api@kubernetes");
    assert_string_equal(s->servers[0], "https://10.0.0.1:9443"); /* port name https* */
    assert_true(s->sticky.enabled && s->sticky.secure);
    assert_string_equal(s->sticky.name, "sid");
    assert_string_equal(s->sticky.samesite, "lax");
    assert_false(s->pass_host_header);

    r = proxy_config_router(c, "prod-native-native-test@kubernetes");
    assert_non_null(r);
    assert_int_equal(r->status, PROXY_STATUS_ENABLED);
    assert_int_equal(r->service->nservers, 1);
    assert_string_equal(r->service->servers[0], "http://10.96.0.9:8080");

    r = proxy_config_router(c, "default-router@kubernetes");
    assert_non_null(r);
    assert_string_equal(r->rule, "PathPrefix(`/`)");
    assert_int_equal(r->priority, INT_MIN);
    assert_string_equal(r->service_name, "default-backend@kubernetes");
    assert_non_null(r->service);
    assert_string_equal(r->service->servers[0], "https://10.0.0.1:9443");
    assert_non_null(find_error(c, "Ingress", "aaa-empty", "either defaultBackend or rules"));
    proxy_config_free(c);
}

static void test_external_name(void **state)
{
    for (int allow = 0; allow < 2; allow++) {
        fixture_t f = {0};
        add(&f, "x.yaml:1",
            "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'ext',"
            "'namespace':'n'},'spec':{'rules':[{'http':{'paths':[{'path':'/','pathType':'Prefix',"
            "'backend':{'service':{'name':'up','port':{'number':443}}}}]}}]}}");
        add(&f, "x.yaml:9",
            "{'apiVersion':'v1','kind':'Service','metadata':{'name':'up','namespace':'n'},"
            "'spec':{'type':'ExternalName','externalName':'upstream.example','ports':[{'port':443}]"
            "}}");
        proxy_config_t *c = build_with(&f, NULL, allow);
        const proxy_router_t *r = proxy_config_router(c, "n-ext@kubernetes");
        if (allow) {
            assert_non_null(r);
            assert_string_equal(r->rule, "PathPrefix(`/`)");
            assert_int_equal(r->status, PROXY_STATUS_ENABLED);
            assert_string_equal(r->service->servers[0], "https://upstream.example:443");
        } else { /* reported, the path skipped, as Traefik without allowExternalNameServices */
            assert_null(r);
            assert_non_null(find_error(c, "Ingress", "ext", "externalName services not allowed"));
        }
        proxy_config_free(c);
    }
}

/* ---- names ---- */

static void test_normalize_table(void **state)
{
    static const char *const cases[][2] = {
        {"client-demo-client-api-ingress-demo-client-api.app.ominis.ai/",
         "client-demo-client-api-ingress-demo-client-api-app-ominis-ai"},
        {"ns-ing-/api/v1", "ns-ing-api-v1"},
        {"--a__b..c--", "a-b-c"},
        {"default-ing-*.example.com/", "default-ing-example-com"},
        {"", ""},
        {"caf\xc3\xa9-x", "caf\xc3\xa9-x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *n = proxy_config_normalize(cases[i][0]);
        assert_string_equal(n, cases[i][1]);
        hc_free(n);
    }
}

static void test_router_key_collision_gets_rule_hash(void **state)
{
    fixture_t f = {0};
    /* Traefik's own case (pkg/provider/kubernetes/ingress, "conflicting routers on
     * path"): Go's "%.10x" of sha256(rule) is 10 bytes, 20 hex digits. */
    add(&f, "c.yaml:1",
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'c',"
        "'namespace':'n'},'spec':{'rules':[{'http':{'paths':["
        "{'path':'/foo-bar','backend':{'service':{'name':'s','port':{'number':80}}}},"
        "{'path':'/foo/bar','backend':{'service':{'name':'s','port':{'number':80}}}},"
        "{'path':'/foo/bar','backend':{'service':{'name':'t','port':{'number':80}}}}"
        "]}}]}}");
    add_svc(&f, "n", "s", 80);
    add_svc(&f, "n", "t", 80);
    proxy_config_t *c = build(&f);
    static const char *const names[][2] = {
        {"n-c-foo-bar-d0b30949e54d6a7515ca@kubernetes", "PathPrefix(`/foo/bar`)"},
        {"n-c-foo-bar-dcd54bae39a6d7557f48@kubernetes", "PathPrefix(`/foo-bar`)"},
    };
    for (size_t i = 0; i < 2; i++) {
        const proxy_router_t *r = proxy_config_router(c, names[i][0]);
        if (!r)
            fail_msg("no router %s", names[i][0]);
        assert_string_equal(r->rule, names[i][1]);
    }
    assert_int_equal(c->nrouters, 2); /* the identical third path is a duplicate */
    /* of which the last is served, as Traefik's map keeps the last router under a key */
    assert_string_equal(proxy_config_router(c, names[0][0])->service_name, "n-t-80@kubernetes");
    int dup = 0;
    for (size_t i = 0; i < c->nerrors; i++)
        dup |= !!strstr(c->errors[i].message, "defined more than once");
    assert_true(dup);
    proxy_config_free(c);
}

/* host: "" (a Helm template's unset value) is no host, as in Traefik's loadRouter and the
 * API server's validation: the path is served for any host */
static void test_empty_host_is_no_host(void **state)
{
    fixture_t f = {0};
    add(&f, "e.yaml:1",
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'e',"
        "'namespace':'n'},'spec':{'rules':[{'host':'','http':{'paths':["
        "{'path':'/eh','pathType':'Prefix','backend':{'service':{'name':'s','port':{'number':80}"
        "}}}]}}]}}");
    add_svc(&f, "n", "s", 80);
    proxy_config_t *c = build(&f);
    assert_int_equal(c->nerrors, 0);
    const proxy_router_t *r = proxy_config_router(c, "n-e-eh@kubernetes");
    assert_non_null(r);
    assert_string_equal(r->rule, "PathPrefix(`/eh`)");
    proxy_config_free(c);
}

/* ---- broken objects ---- */

static void test_broken_objects_are_reported_and_skipped(void **state)
{
    fixture_t f = {0};
    add(&f, "bad.yaml:1", "{'metadata':{'name':'nokind'}}");
    add(&f, "bad.yaml:5",
        "{'apiVersion':'traefik.io/v1alpha1','kind':'Middleware','metadata':{'name':'two',"
        "'namespace':'d'},'spec':{'headers':{},'compress':{}}}");
    add(&f, "bad.yaml:9",
        "{'apiVersion':'v1','kind':'Secret','metadata':{'name':'empty','namespace':'d'},"
        "'data':{'tls.crt':'','tls.key':'S0VZIQ=='}}");
    add(&f, "bad.yaml:14",
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'prio',"
        "'namespace':'d','annotations':{'traefik.ingress.kubernetes.io/router.priority':'high'}},"
        "'spec':{'rules':[{'host':'p.test','http':{'paths':[{'path':'/','pathType':'Prefix',"
        "'backend':{'service':{'name':'s','port':{'number':80}}}}]}}]}}");
    add(&f, "bad.yaml:20", /* a typo Traefik's label decoder refuses: the Ingress with it */
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'typo-ann',"
        "'namespace':'d','annotations':{'traefik.ingress.kubernetes.io/router.entrypoint':'web'}},"
        "'spec':{'rules':[{'host':'ta.test','http':{'paths':[{'path':'/','pathType':'Prefix',"
        "'backend':{'service':{'name':'s','port':{'number':80}}}}]}}]}}");
    add(&f, "bad.yaml:30",
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'paths',"
        "'namespace':'d'},'spec':{'tls':[{'secretName':'empty'}],'rules':[{'host':'ok.test',"
        "'http':{'paths':["
        "{'path':'/x','pathType':'Regex','backend':{'service':{'name':'s','port':{'number':80}}}},"
        "{'path':'nolead','pathType':'Prefix','backend':{'service':{'name':'s','port':{'number':80}"
        "}}},"
        "{'path':'/ok','pathType':'Prefix','backend':{'service':{'name':'s','port':{'number':80}}}}"
        "]}},{'host':'Bad_Host','http':{'paths':[{'path':'/','backend':{'service':{'name':'s',"
        "'port':{'number':80}}}}]}}]}}");
    add(&f, "bad.yaml:60",
        "{'apiVersion':'networking.k8s.io/v1beta1','kind':'Ingress','metadata':{'name':'old'}}");
    add(&f, "bad.yaml:70",
        "{'apiVersion':'v1','kind':'Service','metadata':{'name':'s','namespace':'d'},'spec':{"
        "'type':'ExternalName','externalName':'s.example','ports':[{'port':80}]}}");
    add(&f, "bad.yaml:80",
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'typo',"
        "'namespace':'d'},'spec':{'rule':[{'host':'t.test'}]}}");
    add(&f, "bad.yaml:90",
        "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'five',"
        "'namespace':'d'},'spec':{'rules':[{'host':'f.test','http':{'paths':5}}]}}");
    /* a Service annotation Traefik's decoder does not know, and one hearth does not serve
     * (a service-level middleware must not be dropped silently) */
    for (int i = 0; i < 2; i++) {
        static const char *const name[] = {"typo-svc", "svc-mw"};
        static const char *const key[] = {"service.sticky.cookies", "service.middlewares"};
        char svc[512], ing[512];
        snprintf(svc, sizeof(svc),
                 "{'apiVersion':'v1','kind':'Service','metadata':{'name':'%s','namespace':'d',"
                 "'annotations':{'traefik.ingress.kubernetes.io/%s':'x'}},'spec':{'ports':[{"
                 "'port':80}]}}",
                 name[i], key[i]);
        snprintf(ing, sizeof(ing),
                 "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'%s',"
                 "'namespace':'d'},'spec':{'rules':[{'host':'%s.test','http':{'paths':[{'path':"
                 "'/','pathType':'Prefix','backend':{'service':{'name':'%s','port':{'number':80}"
                 "}}}]}}]}}",
                 name[i], name[i], name[i]);
        add(&f, "svc.yaml:1", svc);
        add(&f, "svc.yaml:9", ing);
    }
    proxy_config_t *c = build_with(&f, NULL, 1);
    /* what the API server would refuse is not dropped silently */
    assert_non_null(find_error(c, "Ingress", "typo", "unknown field spec.rule"));
    assert_non_null(find_error(c, "Ingress", "typo", "either defaultBackend or rules"));
    assert_non_null(find_error(c, "Ingress", "five", "rules[0].http.paths: expected a non-empty"));
    const proxy_config_error_t *e = find_error(c, "", "nokind", "without kind");
    assert_non_null(e);
    assert_string_equal(e->source, "bad.yaml:1");
    e = find_error(c, "Middleware", "two", "exactly one middleware type (found 2)");
    assert_non_null(e);
    assert_string_equal(e->ns, "d");
    assert_int_equal(c->nmiddlewares, 0);
    assert_non_null(find_error(c, "Secret", "empty", "empty TLS data entry tls.crt"));
    assert_non_null(find_error(c, "Ingress", "prio", "router.priority: high is not an integer"));
    assert_non_null(find_error(c, "Ingress", "typo-ann", "router.entrypoint: unknown key"));
    assert_non_null(find_error(c, "Ingress", "typo-svc", "service.sticky.cookies: unknown key"));
    assert_non_null(find_error(c, "Ingress", "svc-mw", "service.middlewares: not supported"));
    assert_non_null(find_error(c, "Ingress", "paths", "pathType Regex"));
    assert_non_null(find_error(c, "Ingress", "paths", "path nolead does not start with /"));
    assert_non_null(find_error(c, "Ingress", "paths", "Bad_Host is not a valid host name"));
    assert_non_null(find_error(c, "Ingress", "old", "unsupported apiVersion"));
    /* The rest stays usable: the good path is served, with a TLS warning; the paths to
     * the refused Services are skipped, never served without what they asked for. */
    assert_int_equal(c->nrouters, 1);
    assert_null(proxy_config_router(c, "d-typo-svc-typo-svc-test@kubernetes"));
    assert_null(proxy_config_router(c, "d-svc-mw-svc-mw-test@kubernetes"));
    const proxy_router_t *r = proxy_config_router(c, "d-paths-ok-test-ok@kubernetes");
    assert_non_null(r);
    assert_int_equal(r->status, PROXY_STATUS_WARNING);
    assert_true(router_has_error(r, "empty TLS data entry tls.crt"));
    assert_int_equal(c->ncerts, 0);
    proxy_config_free(c);
}

/* ---- the file provider ---- */

static void test_file_provider(void **state)
{
    json_t *file =
        J("{'http':{'routers':{"
          "'web':{'rule':'Host(`a.test`) && PathPrefix(`/api`)','service':'api',"
          "'middlewares':['auth','default-compress@kubernetescrd'],'entryPoints':['websecure'],"
          "'tls':{'options':'modern'}},"
          "'prio':{'rule':'PathPrefix(`/`)','service':'api','priority':7},"
          "'nosvc':{'rule':'Path(`/x`)','service':'ghost'},"
          "'badrule':{'rule':'Frobnicate(`a`, `b`)','service':'api'},"
          "'split':{'rule':'Path(`/w`)','service':'canary'},"
          "'dash':{'rule':'PathPrefix(`/dashboard`)','service':'api@internal'}},"
          "'services':{'api':{'loadBalancer':{'servers':[{'url':'http://127.0.0.1:9000'},"
          "{'url':'http://127.0.0.1:9001','weight':3}],'strategy':'p2c',"
          "'passHostHeader':false,'healthCheck':{'path':'/h'},"
          "'sticky':{'cookie':{'name':'lb','httpOnly':true}}}},"
          "'canary':{'weighted':{'services':[{'name':'api','weight':3},{'name':'nope'}]}},"
          "'mirror':{'mirroring':{'service':'api','maxBodySize':64,'mirrors':[{'name':'api',"
          "'percent':10},{'name':'canary'}]}},"
          "'mirror-all':{'mirroring':{'service':'api','mirrorBody':false,"
          "'mirrors':[{'name':'api','percent':100}]}},"
          "'mirror-pct':{'mirroring':{'service':'api','mirrors':[{'name':'api','percent':101}]}},"
          "'mirror-none':{'mirroring':{'mirrors':[{'name':'api'}]}},"
          "'badurl':{'loadBalancer':{'servers':[{'url':'ftp://x'}]}},"
          "'badweight':{'loadBalancer':{'servers':[{'url':'http://x','weight':'2'}]}},"
          "'rr':{'loadBalancer':{'strategy':'RoundRobin','servers':[{'url':'http://x'}]}},"
          "'selfref':{'weighted':{'services':[{'name':'selfref'}]}},"
          "'lt':{'loadBalancer':{'strategy':'leasttime','servers':[{'url':'http://x'}]}}},"
          "'middlewares':{'auth':{'basicAuth':{'users':['u:h']}}}},"
          "'tls':{'certificates':[{'certFile':'/etc/c.pem','keyFile':'/etc/k.pem'},"
          "{'certFile':'/only-cert.pem'}],'options':{'modern':{'minVersion':'VersionTLS13'},"
          "'default':{'minVersion':'VersionTLS12'}}},'tcp':{}}");
    fixture_t f = {0};
    add(&f, "crd.yaml:1",
        "{'apiVersion':'traefik.io/v1alpha1','kind':'Middleware','metadata':{'name':'compress',"
        "'namespace':'default'},'spec':{'compress':{}}}");
    proxy_config_t *c = build_all(&f, NULL, 0, file);

    const proxy_router_t *r = proxy_config_router(c, "web@file");
    assert_non_null(r);
    assert_int_equal(r->status, PROXY_STATUS_ENABLED);
    assert_string_equal(r->service->name, "api@file");
    assert_string_equal(r->middleware_names[0], "auth@file");
    assert_string_equal(r->middlewares[0]->type, "basicAuth");
    assert_string_equal(r->middlewares[1]->name, "default-compress@kubernetescrd");
    assert_int_equal(r->priority, strlen("Host(`a.test`) && PathPrefix(`/api`)"));
    assert_true(r->tls);
    assert_string_equal(r->tls_option->name, "modern@file");
    assert_string_equal(r->entrypoints[0], "websecure");
    const proxy_service_t *s = r->service;
    assert_int_equal(s->nservers, 2);
    assert_true(s->weights[0] == PROXY_WEIGHT_UNSET); /* Traefik's nil: weight 1 */
    assert_int_equal(s->weights[1], 3);
    assert_int_equal(s->strategy, PROXY_STRATEGY_P2C);
    assert_false(s->pass_host_header);
    assert_string_equal(json_string_value(json_object_get(s->health_check, "path")), "/h");
    assert_true(s->sticky.enabled && s->sticky.httponly);

    assert_int_equal(proxy_config_router(c, "prio@file")->priority, 7);
    r = proxy_config_router(c, "nosvc@file");
    assert_int_equal(r->status, PROXY_STATUS_DISABLED);
    assert_true(router_has_error(r, "the service \"ghost@file\" does not exist"));
    r = proxy_config_router(c, "badrule@file");
    assert_int_equal(r->status, PROXY_STATUS_DISABLED);
    assert_true(router_has_error(r, "unsupported matcher Frobnicate"));
    assert_non_null(find_error(c, "router", "badrule", "unsupported matcher Frobnicate"));
    r = proxy_config_router(c, "split@file");
    assert_int_equal(r->status, PROXY_STATUS_DISABLED);
    s = proxy_config_service(c, "canary@file");
    assert_int_equal(s->type, PROXY_SERVICE_WEIGHTED);
    assert_int_equal(s->status, PROXY_STATUS_DISABLED);
    assert_int_equal(s->weighted[0].weight, 3);
    assert_int_equal(s->weighted[1].weight, 1);
    r = proxy_config_router(c, "dash@file");
    assert_int_equal(r->status, PROXY_STATUS_ENABLED);
    assert_null(r->service); /* internal services are the server's */

    s = proxy_config_service(c, "mirror@file"); /* its second mirror is disabled */
    assert_int_equal(s->type, PROXY_SERVICE_MIRRORING);
    assert_int_equal(s->status, PROXY_STATUS_DISABLED);
    assert_int_equal(s->nweighted, 3);
    assert_string_equal(s->weighted[0].service_name, "api@file");
    assert_int_equal(s->weighted[1].weight, 10);
    assert_int_equal(s->weighted[2].weight, 0); /* percent's default */
    assert_true(s->mirror_body);
    assert_int_equal(s->mirror_max_body, 64);
    s = proxy_config_service(c, "mirror-all@file");
    assert_int_equal(s->status, PROXY_STATUS_ENABLED);
    assert_false(s->mirror_body);
    assert_int_equal(s->mirror_max_body, -1);
    assert_int_equal(proxy_config_service(c, "mirror-pct@file")->status, PROXY_STATUS_DISABLED);
    assert_non_null(find_error(c, "service", "mirror-pct", "percent must be between 0 and 100"));
    assert_non_null(find_error(c, "service", "mirror-none", "mirroring needs a service"));
    assert_int_equal(proxy_config_service(c, "badurl@file")->status, PROXY_STATUS_DISABLED);
    assert_non_null(find_error(c, "service", "badweight", "weight must be an integer"));
    /* v2's name is the CRD's alone: Traefik's file provider refuses it */
    assert_non_null(find_error(c, "service", "rr", "unsupported load-balancer strategy"));
    const proxy_service_t *self = proxy_config_service(c, "selfref@file");
    assert_int_equal(self->status, PROXY_STATUS_DISABLED);
    assert_non_null(strstr(self->errors[0], "nest deeper than 8 or form a cycle"));
    assert_int_equal(proxy_config_service(c, "lt@file")->strategy, PROXY_STRATEGY_LEASTTIME);
    assert_int_equal(c->ncerts, 1);
    assert_string_equal(c->certs[0].cert_file, "/etc/c.pem");
    assert_string_equal(c->certs[0].key_file, "/etc/k.pem");
    assert_non_null(find_error(c, "certificate", "tls.certificates[1]", "keyFile"));
    assert_non_null(find_error(c, "file", "", "tcp and udp"));
    assert_int_equal(c->ntls_options, 2);
    assert_string_equal(c->tls_options[0].name, "default");
    proxy_config_free(c);
}

/* A CRD Middleware's spec as the middleware parsers read it. */
static const json_t *mw_spec(const proxy_config_t *c, const char *name)
{
    const proxy_middleware_t *m = proxy_config_middleware(c, name);
    assert_non_null(m);
    return m->spec;
}

static void crd_mw(fixture_t *f, const char *name, const char *spec)
{
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "{'apiVersion':'traefik.io/v1alpha1','kind':'Middleware','metadata':{'name':'%s',"
             "'namespace':'ns'},'spec':%s}",
             name, spec);
    add(f, "crd.yaml:1", buf);
}

static void secret(fixture_t *f, const char *name, const char *type, const char *data)
{
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "{'apiVersion':'v1','kind':'Secret','metadata':{'name':'%s','namespace':'ns'},"
             "%s%s%s'data':%s}",
             name, type ? "'type':'" : "", type ? type : "", type ? "'," : "", data);
    add(f, "secret.yaml:1", buf);
}

/* TLSStore default: its Secret's certificate becomes the default one; another store is
 * reported, and the default file store does the same for the file provider. */
static void test_tls_stores(void **state)
{
    (void)state;
    fixture_t f = {0};
    secret(&f, "def", "kubernetes.io/tls", "{'tls.crt':'Q0VSVA==','tls.key':'S0VZIQ=='}");
    secret(&f, "more", "kubernetes.io/tls", "{'tls.crt':'Q0VSVA==','tls.key':'S0VZIQ=='}");
    add(&f, "store.yaml:1",
        "{'apiVersion':'traefik.io/v1alpha1','kind':'TLSStore','metadata':{'name':'default',"
        "'namespace':'ns'},'spec':{'defaultCertificate':{'secretName':'def'},"
        "'certificates':[{'secretName':'more'},{'secretName':'gone'}]}}");
    add(&f, "store.yaml:2",
        "{'apiVersion':'traefik.io/v1alpha1','kind':'TLSStore','metadata':{'name':'other',"
        "'namespace':'ns'},'spec':{'defaultCertificate':{'secretName':'def'}}}");
    json_t *file = J("{'tls':{'stores':{'default':{'defaultCertificate':{'certFile':'/f/c.pem',"
                     "'keyFile':'/f/k.pem'}},'extra':{}}}}");
    proxy_config_t *c = build_all(&f, NULL, 0, file);
    int defaults = 0;
    for (size_t i = 0; i < c->ncerts; i++)
        if (c->certs[i].is_default)
            defaults +=
                !strcmp(c->certs[i].name, "ns-def") || !strcmp(c->certs[i].name, "/f/c.pem");
    assert_int_equal(defaults, 2);
    /* the store's certificates join the pool, chosen by SNI (not as the default) */
    int more = 0;
    for (size_t i = 0; i < c->ncerts; i++)
        more += !strcmp(c->certs[i].name, "ns-more") && !c->certs[i].is_default;
    assert_int_equal(more, 1);
    assert_non_null(find_error(c, "TLSStore", "default", "certificates[1]: secret ns/gone"));
    assert_non_null(find_error(c, "TLSStore", "other", "only the TLSStore named default"));
    assert_non_null(find_error(c, "TLS store", "extra", "only the default TLS store"));
    proxy_config_free(c);
}

/* basicAuth.secret is read from the Middleware's namespace (Traefik's
 * loadBasicAuthCredentials); chain references become "<ns>-<name>". */
static void test_crd_secrets_and_chains(void **state)
{
    (void)state;
    fixture_t f = {0};
    secret(&f, "users", NULL, "{'users':'YWxpY2U6e1NIQX1hYmMNCgpib2I6e1NIQX1kZWYK'}");
    secret(&f, "ba", "kubernetes.io/basic-auth",
           "{'username':'YWxpY2U=','password':'d29uZGVybGFuZA=='}");
    secret(&f, "two", NULL, "{'a':'YWxpY2U=','b':'YWxpY2U='}");
    secret(&f, "bad", NULL, "{'users':'not base64!'}");
    crd_mw(&f, "lines", "{'basicAuth':{'secret':'users','realm':'r'}}");
    crd_mw(&f, "typed", "{'basicAuth':{'secret':'ba'}}");
    crd_mw(&f, "two", "{'basicAuth':{'secret':'two'}}");
    crd_mw(&f, "bad", "{'basicAuth':{'secret':'bad'}}");
    crd_mw(&f, "missing", "{'basicAuth':{'secret':'nope'}}");
    crd_mw(&f, "chain", "{'chain':{'middlewares':[{'name':'lines'},{'name':'typed',"
                        "'namespace':'ns'},{'name':'x@file','namespace':'other'}]}}");
    crd_mw(&f, "cross", "{'chain':{'middlewares':[{'name':'lines','namespace':'other'}]}}");
    crd_mw(&f, "strings", "{'chain':{'middlewares':['lines']}}");
    /* "<ns>-<name>@kubernetescrd" could name another namespace's middleware */
    crd_mw(&f, "crdref", "{'chain':{'middlewares':[{'name':'other-secret@kubernetescrd'}]}}");
    proxy_config_t *c = build(&f);

    const json_t *s = mw_spec(c, "ns-lines@kubernetescrd");
    assert_null(json_object_get(s, "secret"));
    assert_string_equal(json_string_value(json_object_get(s, "realm")), "r");
    const json_t *users = json_object_get(s, "users");
    assert_int_equal(json_array_size(users), 2);
    assert_string_equal(json_string_value(json_array_get(users, 0)), "alice:{SHA}abc");
    assert_string_equal(json_string_value(json_array_get(users, 1)), "bob:{SHA}def");
    users = json_object_get(mw_spec(c, "ns-typed@kubernetescrd"), "users");
    assert_int_equal(json_array_size(users), 1);
    assert_string_equal(json_string_value(json_array_get(users, 0)),
                        "alice:{SHA}tiY7sUhYKUwI5L3866kDY+ENcrQ=");

    const json_t *names = json_object_get(mw_spec(c, "ns-chain@kubernetescrd"), "middlewares");
    assert_int_equal(json_array_size(names), 3);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "ns-lines");
    assert_string_equal(json_string_value(json_array_get(names, 1)), "ns-typed");
    assert_string_equal(json_string_value(json_array_get(names, 2)), "x@file");

    static const struct {
        const char *name, *needle;
    } broken[] = {
        {"two", "found 2 elements"},
        {"bad", "not base64"},
        {"missing", "ns/nope: not found"},
        {"cross", "another namespace"},
        {"strings", "[0].name is missing"},
        {"crdref", "namespace field needs to be explicitly specified"},
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        char id[64];
        snprintf(id, sizeof(id), "ns-%s@kubernetescrd", broken[i].name);
        assert_null(proxy_config_middleware(c, id));
        assert_non_null(find_error(c, "Middleware", broken[i].name, broken[i].needle));
    }
    proxy_config_free(c);
}

/* ---- IngressRoute and TraefikService (kubernetescrd) ---- */

#define IR_HEAD "{'apiVersion':'traefik.io/v1alpha1','kind':'IngressRoute','metadata':{'name':"

static void ir_backends(fixture_t *f)
{
    add(f, "svc.yaml:1",
        "{'apiVersion':'v1','kind':'Service','metadata':{'name':'whoami','namespace':'default'},"
        "'spec':{'clusterIP':'10.96.0.10','ports':[{'name':'web','port':80}]}}");
    add(f, "svc.yaml:2",
        "{'apiVersion':'v1','kind':'Endpoints','metadata':{'name':'whoami','namespace':"
        "'default'},'subsets':[{'addresses':[{'ip':'10.10.0.1'},{'ip':'10.10.0.2'}],'ports':"
        "[{'name':'web','port':8080}]}]}");
    add(f, "svc.yaml:3",
        "{'apiVersion':'v1','kind':'Service','metadata':{'name':'whoami2','namespace':"
        "'default'},'spec':{'ports':[{'name':'https-alt','port':8443}]}}");
    add(f, "svc.yaml:4",
        "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':"
        "'whoami2-a','namespace':'default','labels':{'kubernetes.io/service-name':'whoami2'}},"
        "'ports':[{'name':'https-alt','port':9443}],'endpoints':[{'addresses':['10.10.0.3'],"
        "'conditions':{'ready':true}}]}");
}

/* Names as Traefik's own CRD tests have them: router and weighted service
 * "default-test-route-6b204d94623b3df4370c" for IngressRoute test.route's match
 * Host(`foo.com`) && PathPrefix(`/bar`); a Service reference "<ns>-<svc>-<port>". */
static void test_ingressroute_names_and_services(void **state)
{
    (void)state;
    fixture_t f = {0};
    ir_backends(&f);
    add(&f, "ir.yaml:1",
        IR_HEAD "'test.route','namespace':'default'},'spec':{'entryPoints':['foo'],'routes':["
                "{'match':'Host(`foo.com`) && PathPrefix(`/bar`)','kind':'Rule','priority':12,"
                "'services':[{'name':'whoami','port':80,'weight':10},{'name':'whoami2','port':"
                "'https-alt','weight':20}]},"
                "{'match':'Host(`foo.com`) && PathPrefix(`/one`)','middlewares':[{'name':'strip'},"
                "{'name':'hdr','namespace':'default'},{'name':'auth@file'}],'services':[{'name':"
                "'whoami','port':'web','passHostHeader':false,'sticky':{'cookie':{'name':'c1',"
                "'secure':true}}}]},"
                "{'match':'Host(`foo.com`) && PathPrefix(`/plain`)','services':[{'name':"
                "'whoami2','port':8443,'scheme':'http'}]},"
                "{'match':'Host(`foo.com`) && PathPrefix(`/wrr`)','services':[{'name':'wrr',"
                "'kind':'TraefikService'}]}]}}");
    add(&f, "ts.yaml:1",
        "{'apiVersion':'traefik.containo.us/v1alpha1','kind':'TraefikService','metadata':{"
        "'name':'wrr','namespace':'default'},'spec':{'weighted':{'services':[{'name':'whoami',"
        "'port':80,'weight':3},{'name':'whoami2','port':8443}],'sticky':{'cookie':{}}}}}");
    add(&f, "ts.yaml:2",
        "{'apiVersion':'traefik.io/v1alpha1','kind':'TraefikService','metadata':{"
        "'name':'hrw','namespace':'default'},'spec':{'highestRandomWeight':{'services':[{"
        "'name':'whoami','port':80,'weight':2}]}}}");
    add(&f, "ts.yaml:3",
        "{'apiVersion':'traefik.io/v1alpha1','kind':'TraefikService','metadata':{"
        "'name':'both','namespace':'default'},'spec':{'highestRandomWeight':{'services':[]},"
        "'weighted':{'services':[]}}}");
    crd_mw(&f, "unused", "{'stripPrefix':{'prefixes':['/x']}}");
    proxy_config_t *c = build(&f);

    const proxy_router_t *r = proxy_config_router(c, "default-test-route-6b204d94623b3df4370c"
                                                     "@kubernetescrd");
    assert_non_null(r);
    assert_int_equal(r->provider, PROXY_PROVIDER_KUBERNETESCRD);
    assert_int_equal(r->status, PROXY_STATUS_ENABLED);
    assert_string_equal(r->rule, "Host(`foo.com`) && PathPrefix(`/bar`)");
    assert_int_equal(r->priority, 12);
    assert_int_equal(r->nentrypoints, 1);
    assert_string_equal(r->entrypoints[0], "foo");
    assert_int_equal(r->tls, 0);
    assert_string_equal(r->service_name, "default-test-route-6b204d94623b3df4370c@kubernetescrd");
    const proxy_service_t *s = r->service;
    assert_int_equal(s->type, PROXY_SERVICE_WEIGHTED);
    assert_int_equal(s->nweighted, 2);
    assert_string_equal(s->weighted[0].service_name, "default-whoami-80@kubernetescrd");
    assert_int_equal(s->weighted[0].weight, 10);
    assert_string_equal(s->weighted[1].service_name, "default-whoami2-https-alt@kubernetescrd");
    assert_int_equal(s->weighted[1].weight, 20);
    const proxy_service_t *w2 = s->weighted[1].service;
    assert_int_equal(w2->nservers, 1); /* a port named https... means https */
    assert_string_equal(w2->servers[0], "https://10.10.0.3:9443");
    const proxy_service_t *w1 = s->weighted[0].service;
    assert_int_equal(w1->nservers, 2);
    assert_string_equal(w1->servers[0], "http://10.10.0.1:8080");
    assert_true(w1->pass_host_header);

    /* the second route: middlewares in order, the port by name, the reference's settings */
    char key[96], hex[21];
    const char *match = "Host(`foo.com`) && PathPrefix(`/one`)";
    unsigned char md[32];
    EVP_Digest(match, strlen(match), md, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 10; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(key, sizeof(key), "default-test-route-%s@kubernetescrd", hex);
    r = proxy_config_router(c, key);
    assert_non_null(r);
    assert_int_equal(r->nmiddlewares, 3);
    assert_string_equal(r->middleware_names[0], "default-strip@kubernetescrd");
    assert_string_equal(r->middleware_names[1], "default-hdr@kubernetescrd");
    assert_string_equal(r->middleware_names[2], "auth@file");
    assert_int_equal(r->status, PROXY_STATUS_DISABLED); /* none of them exists */
    assert_true(router_has_error(r, "middleware \"default-strip@kubernetescrd\" does not exist"));
    /* a route's only Service is built under the router's own name (Traefik's fixture
     * "Simple Ingress Route, with foo entrypoint"): its settings are the route's alone */
    assert_string_equal(r->service_name, key);
    s = proxy_config_service(c, key);
    assert_non_null(s);
    assert_string_equal(s->servers[0], "http://10.10.0.1:8080"); /* port "web" */
    assert_false(s->pass_host_header);
    assert_true(s->sticky.enabled);
    assert_string_equal(s->sticky.name, "c1");
    assert_true(s->sticky.secure);

    /* scheme: http where the port's name would mean https */
    s = NULL;
    for (size_t i = 0; i < c->nrouters; i++)
        if (!strcmp(c->routers[i].rule, "Host(`foo.com`) && PathPrefix(`/plain`)"))
            s = c->routers[i].service;
    assert_non_null(s);
    assert_int_equal(s->nservers, 1);
    assert_string_equal(s->servers[0], "http://10.10.0.3:9443");
    /* the TraefikService's child of the same Service port keeps its own (https) */
    s = proxy_config_service(c, "default-whoami2-8443@kubernetescrd");
    assert_string_equal(s->servers[0], "https://10.10.0.3:9443");

    /* a TraefikService: weighted, named <ns>-<name>, its children built like a route's */
    s = proxy_config_service(c, "default-wrr@kubernetescrd");
    assert_non_null(s);
    assert_int_equal(s->status, PROXY_STATUS_ENABLED);
    assert_int_equal(s->type, PROXY_SERVICE_WEIGHTED);
    assert_int_equal(s->nweighted, 2);
    assert_int_equal(s->weighted[0].weight, 3);
    assert_int_equal(s->weighted[1].weight, 1);
    assert_string_equal(s->weighted[1].service_name, "default-whoami2-8443@kubernetescrd");
    assert_true(s->sticky.enabled);
    s = proxy_config_service(c, "default-hrw@kubernetescrd"); /* highestRandomWeight */
    assert_int_equal(s->type, PROXY_SERVICE_HRW);
    assert_int_equal(s->status, PROXY_STATUS_ENABLED);
    assert_int_equal(s->weighted[0].weight, 2);
    assert_non_null(find_error(c, "TraefikService", "both", "one of weighted, mirroring or"));
    assert_int_equal(c->nrouters, 4);
    proxy_config_free(c);
}

static void test_ingressroute_tls_class_and_broken(void **state)
{
    (void)state;
    fixture_t f = {0};
    ir_backends(&f);
    add(&f, "ir.yaml:1",
        IR_HEAD "'secure','namespace':'default'},'spec':{'routes':[{'match':'Host(`s.test`)',"
                "'services':[{'name':'whoami','port':'web','nativeLB':true}]}],'tls':{'secretName':"
                "'s-tls','options':{'name':'modern'},'certResolver':'le'}}}");
    add(&f, "ir.yaml:2",
        "{'apiVersion':'traefik.io/v1alpha1','kind':'TLSOption','metadata':{'name':'modern',"
        "'namespace':'default'},'spec':{'minVersion':'VersionTLS13'}}");
    add(&f, "ir.yaml:3",
        IR_HEAD "'other','namespace':'default','annotations':{'kubernetes.io/ingress.class':"
                "'nginx'}},'spec':{'routes':[{'match':'Host(`o.test`)','services':[{'name':"
                "'whoami','port':80}]}]}}");
    add(&f, "ir.yaml:4", IR_HEAD "'noroutes','namespace':'default'},'spec':{'routes':[]}}");
    add(&f, "ir.yaml:5",
        IR_HEAD
        "'broken','namespace':'default'},'spec':{'routes':["
        "{'match':'Host(`b.test`)','kind':'Regexp','services':[{'name':'whoami','port':80}]},"
        "{'match':'','services':[{'name':'whoami','port':80}]},"
        "{'match':'Host(`b1.test`)','services':[{'name':'whoami','namespace':'x','port':80}]},"
        "{'match':'Host(`b2.test`)','services':[{'name':'whoami'}]},"
        "{'match':'Host(`b3.test`)','services':[{'name':'nope','port':80}]},"
        "{'match':'Host(`b4.test`)','middlewares':[{'name':'m','namespace':'x'}],"
        "'services':[{'name':'whoami','port':80}]},"
        "{'match':'Host(`b5.test`)','services':[{'name':'whoami','port':80,'strategy':"
        "'random'}]},"
        "{'match':'Host(`p2c.test`)','services':[{'name':'whoami','port':80,'strategy':"
        "'p2c'}]},"
        "{'match':'Host(`b6.test`) &&','services':[{'name':'whoami','port':80}]},"
        "{'match':'Host(`b7.test`)','services':[{'name':'whoami','port':99}]},"
        "{'match':'Host(`b8.test`)'},"
        "{'match':'Host(`b9.test`)','middlewares':[{'name':'other-m@kubernetescrd'}],"
        "'services':[{'name':'whoami','port':80}]},"
        "{'match':'Host(`b10.test`)','services':[{'name':'whoami','port':80,"
        "'serversTransport':'other-t@kubernetescrd'}]},"
        "{'match':'Host(`dup.test`)','services':[{'name':'nope','port':80}]},"
        "{'match':'Host(`dup.test`)','services':[{'name':'ext','port':21003}],"
        "'syntax':'v2'},"
        "{'match':42}]}}");
    add(&f, "ir.yaml:6",
        "{'apiVersion':'v1','kind':'Service','metadata':{'name':'ext','namespace':'default'},"
        "'spec':{'type':'ExternalName','externalName':'ext.example.org'}}");
    proxy_config_t *c = build_with(&f, NULL, 1);

    const proxy_router_t *r = NULL;
    for (size_t i = 0; i < c->nrouters; i++)
        if (!strncmp(c->routers[i].name, "default-secure-", 15))
            r = &c->routers[i];
    assert_non_null(r);
    assert_int_equal(r->tls, 1);
    assert_string_equal(r->tls_options, "default-modern@kubernetescrd");
    assert_non_null(r->tls_option);
    assert_string_equal(r->cert_resolver, "le");
    assert_int_equal(r->status, PROXY_STATUS_WARNING); /* its Secret is missing */
    assert_true(router_has_error(r, "default/s-tls"));
    assert_non_null(find_error(c, "IngressRoute", "secure", "default/s-tls"));
    assert_string_equal(r->service->servers[0], "http://10.96.0.10:80");

    for (size_t i = 0; i < c->nrouters; i++)
        assert_null(strstr(c->routers[i].name, "default-other-")); /* class nginx: not ours */
    assert_non_null(find_error(c, "IngressRoute", "noroutes", "non-empty list of routes"));

    static const struct {
        const char *match, *needle;
    } broken[] = {
        {"Host(`b1.test`)", "not in the parent resource namespace"},
        {"Host(`b2.test`)", "port not defined"},
        {"Host(`b3.test`)", "service default/nope not found"},
        {"Host(`b4.test`)", "middleware x/m is not in the IngressRoute namespace default"},
        {"Host(`b5.test`)", "unsupported load-balancer strategy random"},
        {"Host(`b6.test`) &&", ""},
        {"Host(`b7.test`)", "has no port 99"},
        {"Host(`b8.test`)", "does not exist"},
        {"Host(`b9.test`)", "namespace field needs to be explicitly specified"},
        {"Host(`b10.test`)", "serversTransport other-t@kubernetescrd"},
    };
    for (size_t j = 0; j < sizeof(broken) / sizeof(broken[0]); j++) {
        r = NULL;
        for (size_t i = 0; i < c->nrouters; i++)
            if (!strcmp(c->routers[i].rule, broken[j].match))
                r = &c->routers[i];
        assert_non_null(r);
        assert_int_equal(r->status, PROXY_STATUS_DISABLED);
        assert_true(router_has_error(r, broken[j].needle));
    }
    assert_non_null(find_error(c, "IngressRoute", "broken", "unsupported match kind Regexp"));
    assert_non_null(find_error(c, "IngressRoute", "broken", "routes[1]: empty match rule"));
    assert_non_null(find_error(c, "IngressRoute", "broken", "match must be a string"));
    /* the same match twice: the last route wins, silently (Traefik's shared key); an
     * ExternalName Service takes any port; syntax v2 is read with v2's matchers */
    r = NULL;
    for (size_t i = 0; i < c->nrouters; i++)
        if (!strcmp(c->routers[i].rule, "Host(`dup.test`)")) {
            assert_null(r);
            r = &c->routers[i];
        }
    assert_non_null(r);
    assert_int_equal(r->status, PROXY_STATUS_ENABLED);
    assert_string_equal(r->rule_syntax, "v2");
    assert_string_equal(r->service->servers[0], "http://ext.example.org:21003");
    for (size_t i = 0; i < c->nrouters; i++) /* a reference's strategy: its service's */
        if (!strcmp(c->routers[i].rule, "Host(`p2c.test`)"))
            r = &c->routers[i];
    assert_string_equal(r->rule, "Host(`p2c.test`)");
    assert_int_equal(r->status, PROXY_STATUS_ENABLED);
    assert_int_equal(r->service->strategy, PROXY_STRATEGY_P2C);
    proxy_config_free(c);
}

/* Servers transports: the file provider's (a service's unqualified name is the file's
 * own), the ServersTransport CRD's with its Secrets read into PEM text (rootCAsSecrets,
 * rootCAs [{secret}], certificatesSecrets), default@internal, and a missing one failing
 * its service. */
static void test_servers_transports(void **state)
{
    (void)state;
    fixture_t f = {0};
    /* "-----BEGIN CA-----" and friends, base64 */
    secret(&f, "ca", NULL, "{'ca.crt':'LS0tLS1CRUdJTiBDQS0tLS0t'}");
    secret(&f, "tlsca", NULL, "{'tls.ca':'LS0tLS1CRUdJTiBUTFNDQS0tLS0t','ca.crt':'eA=='}");
    secret(&f, "cl", "kubernetes.io/tls",
           "{'tls.crt':'LS0tLS1CRUdJTiBDUlQtLS0tLQ==','tls.key':'LS0tLS1CRUdJTiBLRVktLS0tLQ=='}");
    add(&f, "st.yaml:1",
        "{'apiVersion':'traefik.io/v1alpha1','kind':'ServersTransport','metadata':{'name':'a',"
        "'namespace':'ns'},'spec':{'serverName':'x.internal','rootCAsSecrets':['ca'],"
        "'rootCAs':[{'secret':'tlsca'}],'certificatesSecrets':['cl'],"
        "'RootCAs':['/etc/hostname'],'Certificates':[{'certFile':'/c','keyFile':'/k'}]}}");
    add(&f, "tlsopt.yaml:1",
        "{'apiVersion':'traefik.io/v1alpha1','kind':'TLSOption','metadata':{'name':'files',"
        "'namespace':'ns'},'spec':{'clientAuth':{'CAFiles':['/etc/hostname'],"
        "'clientAuthType':'RequireAndVerifyClientCert'}}}");
    add(&f, "st.yaml:9",
        "{'apiVersion':'traefik.containo.us/v1alpha1','kind':'ServersTransport','metadata':"
        "{'name':'cm','namespace':'ns'},'spec':{'rootCAs':[{'configMap':'cas'}]}}");
    add(&f, "st.yaml:17",
        "{'apiVersion':'traefik.io/v1alpha1','kind':'ServersTransport','metadata':{'name':'b',"
        "'namespace':'ns'},'spec':{'certificatesSecrets':['ca']}}");
    json_t *file =
        J("{'http':{'services':{"
          "'s1':{'loadBalancer':{'servers':[{'url':'https://h'}],'serversTransport':'t'}},"
          "'s2':{'loadBalancer':{'servers':[{'url':'https://h'}],"
          "'serversTransport':'ns-a@kubernetescrd'}},"
          "'s3':{'loadBalancer':{'servers':[{'url':'https://h'}],"
          "'serversTransport':'default@internal'}},"
          "'s4':{'loadBalancer':{'servers':[{'url':'https://h'}],"
          "'serversTransport':'nope'}}},"
          "'serversTransports':{'t':{'insecureSkipVerify':true},'bad':[]}}}");
    proxy_config_t *c = build_all(&f, NULL, 0, file);

    const proxy_transport_t *t = proxy_config_transport(c, "t@file");
    assert_non_null(t);
    assert_true(json_is_true(json_object_get(t->spec, "insecureSkipVerify")));
    assert_ptr_equal(proxy_config_service(c, "s1@file")->transport, t);
    t = proxy_config_transport(c, "ns-a@kubernetescrd");
    assert_non_null(t);
    assert_ptr_equal(proxy_config_service(c, "s2@file")->transport, t);
    const json_t *cas = json_object_get(t->spec, "rootCAs");
    assert_int_equal(json_array_size(cas), 2);
    assert_string_equal(json_string_value(json_array_get(cas, 0)), "-----BEGIN CA-----");
    assert_string_equal(json_string_value(json_array_get(cas, 1)), "-----BEGIN TLSCA-----");
    const json_t *cert = json_array_get(json_object_get(t->spec, "certificates"), 0);
    assert_string_equal(json_string_value(json_object_get(cert, "certFile")),
                        "-----BEGIN CRT-----");
    assert_string_equal(json_string_value(json_object_get(cert, "keyFile")), "-----BEGIN KEY-----");
    assert_null(json_object_get(t->spec, "rootCAsSecrets"));
    /* keys the CRD does not define are dropped: files of this host are not its to name */
    assert_null(json_object_get(t->spec, "RootCAs"));
    assert_null(json_object_get(t->spec, "Certificates"));
    assert_int_equal(json_object_size(t->spec), 3);
    int seen = 0;
    for (size_t i = 0; i < c->ntls_options; i++)
        if (!strcmp(c->tls_options[i].name, "ns-files@kubernetescrd")) {
            const json_t *ca = json_object_get(c->tls_options[i].spec, "clientAuth");
            assert_null(json_object_get(ca, "CAFiles"));
            assert_non_null(json_object_get(ca, "clientAuthType"));
            seen = 1;
        }
    assert_true(seen);
    assert_null(json_object_get(t->spec, "certificatesSecrets"));
    assert_string_equal(json_string_value(json_object_get(t->spec, "serverName")), "x.internal");

    const proxy_service_t *s3 = proxy_config_service(c, "s3@file");
    assert_null(s3->transport);
    assert_int_equal(s3->status, PROXY_STATUS_ENABLED);
    const proxy_service_t *s4 = proxy_config_service(c, "s4@file");
    assert_int_equal(s4->status, PROXY_STATUS_DISABLED);
    assert_non_null(strstr(s4->errors[0], "servers transport not found nope@file"));
    assert_null(proxy_config_transport(c, "ns-cm@kubernetescrd"));
    assert_non_null(find_error(c, "ServersTransport", "cm", "ConfigMaps are not read"));
    assert_null(proxy_config_transport(c, "ns-b@kubernetescrd"));
    assert_non_null(find_error(c, "ServersTransport", "b", "lacks tls.crt or tls.key"));
    assert_non_null(find_error(c, "servers transport", "bad", "must be a mapping"));
    proxy_config_free(c);
}

static void test_bad_input_arrays(void **state)
{
    proxy_config_input_t in = {.nobjects = 2};
    proxy_config_t *c = (proxy_config_t *)1;
    assert_int_equal(proxy_config_build(&in, &c), -EINVAL);
    assert_null(c);
    proxy_config_input_t empty = {0};
    assert_int_equal(proxy_config_build(&empty, &c), 0);
    assert_int_equal(c->nrouters + c->nerrors, 0);
    proxy_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_without_backends),
        cmocka_unit_test(test_seed_with_backends),
        cmocka_unit_test(test_class_filtering),
        cmocka_unit_test(test_middleware_order_and_resolution),
        cmocka_unit_test(test_annotations_and_service_settings),
        cmocka_unit_test(test_external_name),
        cmocka_unit_test(test_normalize_table),
        cmocka_unit_test(test_router_key_collision_gets_rule_hash),
        cmocka_unit_test(test_empty_host_is_no_host),
        cmocka_unit_test(test_broken_objects_are_reported_and_skipped),
        cmocka_unit_test(test_file_provider),
        cmocka_unit_test(test_crd_secrets_and_chains),
        cmocka_unit_test(test_tls_stores),
        cmocka_unit_test(test_ingressroute_names_and_services),
        cmocka_unit_test(test_ingressroute_tls_class_and_broken),
        cmocka_unit_test(test_servers_transports),
        cmocka_unit_test(test_bad_input_arrays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
