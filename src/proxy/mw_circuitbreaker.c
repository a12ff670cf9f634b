/* The circuitBreaker middleware: its expression, figures and states (mw_circuitbreaker.h). */
#include "proxy/mw_circuitbreaker.h"

#include "core/hc_alloc.h"
#include "core/hc_log.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NODES_MAX 64u /* expression nodes */
#define DEPTH_MAX 16  /* parentheses */
#define SEC 1000000000ull

/* ---- the expression ---- */

enum { N_OR, N_AND, N_CMP };
enum { F_NETWORK, F_CODES, F_LATENCY };
enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

typedef struct cb_node {
    int kind;
    int l, r;   /* N_OR, N_AND: operand nodes */
    int fn, op; /* N_CMP: fn(arg...) op value */
    double arg[4];
    double value;
} cb_node_t;

typedef struct cb_cfg {
    char *name;
    char *expression;
    cb_node_t nodes[NODES_MAX];
    int root;
    int latency; /* the expression reads latencies: the breakers keep histograms */
    uint64_t check_ns, fallback_ns, recovery_ns;
    int code;
} cb_cfg_t;

typedef struct cb_parser {
    const char *s, *p;
    cb_cfg_t *c;
    int n, depth;
    char *err;
    size_t errlen;
} cb_parser_t;

static void skip_space(cb_parser_t *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
        ps->p++;
}

/* Consumes tok (after spaces) when it comes next. */
static int eat(cb_parser_t *ps, const char *tok)
{
    skip_space(ps);
    size_t n = strlen(tok);
    if (strncmp(ps->p, tok, n) != 0)
        return 0;
    ps->p += n;
    return 1;
}

static int syntax_error(cb_parser_t *ps, const char *what)
{
    return hc_errf(ps->err, ps->errlen, -EINVAL,
                   "circuitBreaker.expression: %s at offset %d (\"%.24s\")", what,
                   (int)(ps->p - ps->s), ps->p);
}

static const char *digits(const char *p)
{
    while (isdigit((unsigned char)*p))
        p++;
    return p;
}

/* A decimal constant, as Go writes int and float literals: 12, 0.25, .5, 1e3 (no hex,
 * nothing out of a double's range). */
static int number(cb_parser_t *ps, double *out)
{
    skip_space(ps);
    const char *p = digits(ps->p);
    if (*p == '.')
        p = digits(p + 1);
    if (p == ps->p || (p == ps->p + 1 && *ps->p == '.'))
        return syntax_error(ps, "a number was expected");
    if (*p == 'e' || *p == 'E') {
        const char *e = p + 1 + (p[1] == '+' || p[1] == '-');
        if (digits(e) == e)
            return syntax_error(ps, "malformed number");
        p = digits(e);
    }
    if (isalnum((unsigned char)*p) || *p == '.' || *p == '_')
        return syntax_error(ps, "malformed number");
    char buf[64];
    if ((size_t)(p - ps->p) >= sizeof(buf))
        return syntax_error(ps, "number too long");
    memcpy(buf, ps->p, (size_t)(p - ps->p));
    buf[p - ps->p] = '\0';
    *out = strtod(buf, NULL);
    if (isinf(*out))
        return syntax_error(ps, "number out of range");
    ps->p = p;
    return 0;
}

static int node_add(cb_parser_t *ps, const cb_node_t *nd)
{
    if (ps->n >= (int)NODES_MAX)
        return syntax_error(ps, "too many terms");
    ps->c->nodes[ps->n] = *nd;
    return ps->n++;
}

static const struct {
    const char *name;
    int fn, nargs;
} functions[] = {
    {"NetworkErrorRatio", F_NETWORK, 0},
    {"ResponseCodeRatio", F_CODES, 4},
    {"LatencyAtQuantileMS", F_LATENCY, 1},
};

static const struct {
    const char *tok;
    int op;
} operators[] = {/* two-character operators first */
                 {"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE},
                 {">=", OP_GE}, {"<", OP_LT},  {">", OP_GT}};

/* fn(args) op constant */
static int comparison(cb_parser_t *ps)
{
    cb_node_t nd = {.kind = N_CMP, .fn = -1, .op = -1};
    skip_space(ps);
    const char *id = ps->p;
    while (isalnum((unsigned char)*ps->p) || *ps->p == '_')
        ps->p++;
    size_t idlen = (size_t)(ps->p - id);
    int nargs = 0;
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
        if (strlen(functions[i].name) == idlen && !memcmp(functions[i].name, id, idlen)) {
            nd.fn = functions[i].fn;
            nargs = functions[i].nargs;
        }
    if (nd.fn < 0) {
        ps->p = id;
        return syntax_error(ps, idlen ? "unknown function (NetworkErrorRatio, ResponseCodeRatio or "
                                        "LatencyAtQuantileMS)"
                                      : "a function was expected");
    }
    if (!eat(ps, "("))
        return syntax_error(ps, "'(' was expected");
    for (int i = 0; i < nargs; i++) {
        if (i && !eat(ps, ","))
            return syntax_error(ps, "',' was expected (wrong number of arguments?)");
        if (number(ps, &nd.arg[i]) != 0)
            return -EINVAL;
    }
    if (!eat(ps, ")"))
        return syntax_error(ps, nargs ? "')' was expected (wrong number of arguments?)"
                                      : "')' was expected");
    if (nd.fn == F_CODES)
        for (int i = 0; i < 4; i++)
            if (fabs(nd.arg[i]) > 1e6 || nd.arg[i] != (double)(int)nd.arg[i])
                return syntax_error(ps, "ResponseCodeRatio takes integer status codes");
    if (nd.fn == F_LATENCY && (nd.arg[0] < 0 || nd.arg[0] > 100))
        return syntax_error(ps, "LatencyAtQuantileMS takes a percentile from 0 to 100");
    skip_space(ps);
    for (size_t i = 0; i < sizeof(operators) / sizeof(operators[0]); i++)
        if (eat(ps, operators[i].tok)) {
            nd.op = operators[i].op;
            break;
        }
    if (nd.op < 0)
        return syntax_error(ps, "a comparison (==, !=, <, <=, >, >=) was expected");
    if (number(ps, &nd.value) != 0)
        return -EINVAL;
    if (nd.fn == F_LATENCY)
        ps->c->latency = 1;
    return node_add(ps, &nd);
}

static int disjunction(cb_parser_t *ps);

static int term(cb_parser_t *ps)
{
    if (!eat(ps, "("))
        return comparison(ps);
    if (++ps->depth > DEPTH_MAX)
        return syntax_error(ps, "too deeply nested");
    int n = disjunction(ps);
    ps->depth--;
    if (n < 0)
        return n;
    if (!eat(ps, ")"))
        return syntax_error(ps, "')' was expected");
    return n;
}

/* term ('&&' term)* and conjunction ('||' conjunction)*: && binds tighter, as in Go. */
static int binary(cb_parser_t *ps, int kind, const char *tok, int (*operand)(cb_parser_t *))
{
    int l = operand(ps);
    while (l >= 0 && eat(ps, tok)) {
        int r = operand(ps);
        if (r < 0)
            return r;
        l = node_add(ps, &(cb_node_t){.kind = kind, .l = l, .r = r});
    }
    return l;
}

static int conjunction(cb_parser_t *ps)
{
    return binary(ps, N_AND, "&&", term);
}

static int disjunction(cb_parser_t *ps)
{
    return binary(ps, N_OR, "||", conjunction);
}

static int expression_parse(cb_cfg_t *c, char *err, size_t errlen)
{
    cb_parser_t ps = {.s = c->expression, .p = c->expression, .c = c, .err = err, .errlen = errlen};
    int root = disjunction(&ps);
    if (root < 0)
        return -EINVAL;
    skip_space(&ps);
    if (*ps.p)
        return syntax_error(&ps, "unexpected text");
    c->root = root;
    return 0;
}

/* ---- the spec ---- */

int proxy_mw_cb_parse(const json_t *spec, const char *name, void **cfg, char *err, size_t errlen)
{
    char *expr = NULL;
    long long code = 503;
    uint64_t d[3] = {0, 0, 0};
    static const char *const dkeys[] = {"checkPeriod", "fallbackDuration", "recoveryDuration"};
    static const uint64_t defaults[] = {SEC / 10, 10 * SEC, 10 * SEC}; /* oxy's */
    if (proxy_mw_json_str(spec, "expression", &expr, err, errlen) != 0)
        return -EINVAL;
    if (!expr || !*expr) {
        hc_free(expr);
        return hc_errf(err, errlen, -EINVAL, "circuitBreaker.expression is required");
    }
    if (strlen(expr) > PROXY_MW_CB_EXPR_MAX) {
        hc_free(expr);
        return hc_errf(err, errlen, -EINVAL, "circuitBreaker.expression is longer than %u bytes",
                       PROXY_MW_CB_EXPR_MAX);
    }
    int rc = proxy_mw_json_int(spec, "responseCode", &code, err, errlen);
    for (size_t i = 0; rc == 0 && i < 3; i++)
        rc = proxy_mw_json_duration(spec, dkeys[i], "circuitBreaker", &d[i], err, errlen);
    if (rc == 0 && (code < 200 || code > 599))
        rc = hc_errf(err, errlen, -EINVAL,
                     "circuitBreaker.responseCode: %lld is not a status "
                     "from 200 to 599",
                     code);
    cb_cfg_t *c = hc_calloc(1, sizeof(*c));
    c->expression = expr;
    if (rc == 0)
        rc = expression_parse(c, err, errlen);
    if (rc != 0) {
        proxy_mw_cb_free(c);
        return -EINVAL;
    }
    c->name = hc_strdup(name ? name : "");
    for (size_t i = 0; i < 3; i++) /* as long as Go's time.Duration goes */
        d[i] = !d[i] ? defaults[i] : d[i] > INT64_MAX ? INT64_MAX : d[i];
    c->check_ns = d[0];
    c->fallback_ns = d[1];
    c->recovery_ns = d[2];
    c->code = (int)code;
    *cfg = c;
    return 0;
}

void proxy_mw_cb_free(void *cfg)
{
    cb_cfg_t *c = cfg;
    if (!c)
        return;
    hc_free(c->name);
    hc_free(c->expression);
    hc_free(c);
}

int proxy_mw_cb_response_code(const void *cfg)
{
    return ((const cb_cfg_t *)cfg)->code;
}

/* ---- the figures: oxy's RTMetrics ---- */

#define SECONDS 10u /* counts: 10 windows of a second */
#define CODES 16u   /* distinct statuses counted in a second; more count in total only */
#define HISTS 6u    /* latencies: 6 histograms of 10 seconds */
#define HIST_SECONDS 10u
/* Microseconds in the buckets of oxy's HDR histogram (2 significant figures, 1 us to an
 * hour): 0..255 exactly, then 128 per power of two up to 2^32 (a bucket spans under 1 %
 * of its values). Longer latencies are not counted, as oxy's are not. */
#define SUB 128u
#define LIN (2u * SUB)
#define HIST_MAX_US 3600000000ull
#define HIST_N (LIN + 24u * SUB)

typedef struct cb_second {
    uint64_t sec; /* the second (monotonic) these counts are of; 0: none */
    uint32_t total, net;
    uint16_t code[CODES];
    uint32_t count[CODES];
} cb_second_t;

typedef struct cb_hist {
    uint64_t period; /* 1 + the 10-second period counted; 0: none */
    uint32_t n[HIST_N];
} cb_hist_t;

struct proxy_mw_cb {
    const cb_cfg_t *cfg;
    char *router;
    pthread_mutex_t mu;
    _Atomic int state;   /* written under mu; read without it on the fast path */
    uint64_t until;      /* tripped, recovering: when the state ends */
    uint64_t next_check; /* standby, recovering: the expression's next check */
    uint64_t ramp_start; /* recovering: the ratio controller's start, and its counts */
    uint64_t allowed, denied;
    cb_second_t secs[SECONDS];
    cb_hist_t *hists; /* HISTS of them when the expression reads latencies, else NULL */
};

/* us <= HIST_MAX_US (< 2^32) */
static unsigned hist_bucket(uint64_t us)
{
    if (us < LIN)
        return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us); /* 2^e <= us, 8 <= e <= 31 */
    return LIN + (e - 8) * SUB + (unsigned)(us >> (e - 7)) - SUB;
}

/* The largest value of bucket i (an HDR histogram's highest equivalent value). */
static uint64_t hist_value(unsigned i)
{
    if (i < LIN)
        return i;
    unsigned e = (i - LIN) / SUB + 8, m = (i - LIN) % SUB + SUB;
    return (((uint64_t)m + 1) << (e - 7)) - 1;
}

static void figures_reset(proxy_mw_cb_t *cb)
{
    memset(cb->secs, 0, sizeof(cb->secs));
    if (cb->hists)
        memset(cb->hists, 0, HISTS * sizeof(*cb->hists));
}

static void figures_add(proxy_mw_cb_t *cb, int status, uint64_t latency_ns, uint64_t now)
{
    uint64_t sec = now / SEC + 1;
    cb_second_t *s = &cb->secs[sec % SECONDS];
    if (s->sec != sec)
        *s = (cb_second_t){.sec = sec};
    s->total++;
    if (status == 502 || status == 504) /* oxy counts these as network errors */
        s->net++;
    for (unsigned i = 0; i < CODES; i++) {
        if (s->code[i] == status || !s->code[i]) {
            s->code[i] = (uint16_t)status;
            s->count[i]++;
            break;
        }
    }
    if (cb->hists && latency_ns / 1000u <= HIST_MAX_US) {
        uint64_t period = now / (HIST_SECONDS * SEC) + 1;
        cb_hist_t *h = &cb->hists[period % HISTS];
        if (h->period != period) {
            memset(h, 0, sizeof(*h));
            h->period = period;
        }
        h->n[hist_bucket(latency_ns / 1000u)]++;
    }
}

/* The seconds of the last SECONDS that hold counts. */
static int second_live(const cb_second_t *s, uint64_t now)
{
    uint64_t sec = now / SEC + 1;
    return s->sec && s->sec + SECONDS > sec;
}

static double network_ratio(const proxy_mw_cb_t *cb, uint64_t now)
{
    uint64_t total = 0, net = 0;
    for (unsigned i = 0; i < SECONDS; i++)
        if (second_live(&cb->secs[i], now)) {
            total += cb->secs[i].total;
            net += cb->secs[i].net;
        }
    return total ? (double)net / (double)total : 0;
}

/* count(a <= code < b) / count(c <= code < d); 0 when the second count is 0. */
static double codes_ratio(const proxy_mw_cb_t *cb, const double *arg, uint64_t now)
{
    uint64_t x = 0, y = 0;
    for (unsigned i = 0; i < SECONDS; i++) {
        const cb_second_t *s = &cb->secs[i];
        if (!second_live(s, now))
            continue;
        for (unsigned j = 0; j < CODES && s->code[j]; j++) {
            double code = s->code[j];
            if (code >= arg[0] && code < arg[1])
                x += s->count[j];
            if (code >= arg[2] && code < arg[3])
                y += s->count[j];
        }
    }
    return y ? (double)x / (double)y : 0;
}

/* Whole milliseconds at percentile q of the last minute's latencies (0 when none). */
static double latency_ms(const proxy_mw_cb_t *cb, double q, uint64_t now)
{
    uint64_t period = now / (HIST_SECONDS * SEC) + 1, total = 0;
    const cb_hist_t *live[HISTS];
    unsigned nlive = 0;
    for (unsigned i = 0; i < HISTS; i++)
        if (cb->hists[i].period && cb->hists[i].period + HISTS > period)
            live[nlive++] = &cb->hists[i];
    for (unsigned i = 0; i < nlive; i++)
        for (unsigned b = 0; b < HIST_N; b++)
            total += live[i]->n[b];
    if (!total)
        return 0;
    uint64_t want = (uint64_t)(q / 100.0 * (double)total + 0.5), seen = 0;
    if (want < 1)
        want = 1;
    for (unsigned b = 0; b < HIST_N; b++) {
        for (unsigned i = 0; i < nlive; i++)
            seen += live[i]->n[b];
        if (seen >= want)
            return (double)(hist_value(b) / 1000u);
    }
    return (double)(hist_value(HIST_N - 1) / 1000u);
}

static int eval(const proxy_mw_cb_t *cb, int n, uint64_t now)
{
    const cb_node_t *nd = &cb->cfg->nodes[n];
    if (nd->kind == N_OR)
        return eval(cb, nd->l, now) || eval(cb, nd->r, now);
    if (nd->kind == N_AND)
        return eval(cb, nd->l, now) && eval(cb, nd->r, now);
    double v = nd->fn == F_NETWORK ? network_ratio(cb, now)
               : nd->fn == F_CODES ? codes_ratio(cb, nd->arg, now)
                                   : latency_ms(cb, nd->arg[0], now);
    switch (nd->op) {
    case OP_EQ:
        return v == nd->value;
    case OP_NE:
        return v != nd->value;
    case OP_LT:
        return v < nd->value;
    case OP_LE:
        return v <= nd->value;
    case OP_GT:
        return v > nd->value;
    default:
        return v >= nd->value;
    }
}

/* ---- the states ---- */

/* now + d, saturated: durations go up to INT64_MAX ns. */
static uint64_t after(uint64_t now, uint64_t d)
{
    return d > UINT64_MAX - now ? UINT64_MAX : now + d;
}

proxy_mw_cb_t *proxy_mw_cb_new(const void *cfg, const char *router)
{
    proxy_mw_cb_t *cb = hc_calloc(1, sizeof(*cb));
    cb->cfg = cfg;
    cb->router = hc_strdup(router ? router : "");
    pthread_mutex_init(&cb->mu, NULL);
    atomic_init(&cb->state, PROXY_MW_CB_STANDBY);
    if (cb->cfg->latency)
        cb->hists = hc_calloc(HISTS, sizeof(*cb->hists));
    return cb;
}

void proxy_mw_cb_destroy(proxy_mw_cb_t *cb)
{
    if (!cb)
        return;
    pthread_mutex_destroy(&cb->mu);
    hc_free(cb->hists);
    hc_free(cb->router);
    hc_free(cb);
}

static void state_set(proxy_mw_cb_t *cb, proxy_mw_cb_state_t s, uint64_t until)
{
    static const char *const msg[] = {"circuit breaker back to standby", "circuit breaker tripped",
                                      "circuit breaker recovering"};
    atomic_store_explicit(&cb->state, (int)s, memory_order_release);
    cb->until = until;
    hc_log(s == PROXY_MW_CB_TRIPPED ? HC_LOG_WARN : HC_LOG_INFO, msg[s],
           HC_LS("router", cb->router), HC_LS("middleware", cb->cfg->name),
           HC_LS("expression", cb->cfg->expression), NULL);
}

/* oxy's ratio controller: a request passes when passing it keeps the share of passed
 * requests under a target that grows from 0 to 1/2 over recoveryDuration. */
static int ramp_allows(proxy_mw_cb_t *cb, uint64_t now)
{
    /* a worker's clock read before another's started the ramp: no time passed yet */
    uint64_t elapsed = now > cb->ramp_start ? now - cb->ramp_start : 0;
    double target = 0.5 * (double)elapsed / (double)cb->cfg->recovery_ns;
    double share = (double)(cb->allowed + 1) / (double)(cb->allowed + 1 + cb->denied);
    if (share < target) {
        cb->allowed++;
        return 1;
    }
    cb->denied++;
    return 0;
}

int proxy_mw_cb_allow(proxy_mw_cb_t *cb, uint64_t now_ns)
{
    if (atomic_load_explicit(&cb->state, memory_order_acquire) == PROXY_MW_CB_STANDBY)
        return 1;
    int ok;
    pthread_mutex_lock(&cb->mu);
    int s = atomic_load_explicit(&cb->state, memory_order_relaxed);
    if (s == PROXY_MW_CB_TRIPPED && now_ns < cb->until) {
        ok = 0;
    } else {
        if (s == PROXY_MW_CB_TRIPPED) {
            state_set(cb, PROXY_MW_CB_RECOVERING, after(now_ns, cb->cfg->recovery_ns));
            cb->ramp_start = now_ns;
            cb->allowed = cb->denied = 0;
            s = PROXY_MW_CB_RECOVERING;
        }
        if (s == PROXY_MW_CB_RECOVERING && now_ns > cb->until) {
            state_set(cb, PROXY_MW_CB_STANDBY, now_ns);
            ok = 1;
        } else {
            ok = s == PROXY_MW_CB_STANDBY || ramp_allows(cb, now_ns);
        }
    }
    pthread_mutex_unlock(&cb->mu);
    return ok;
}

void proxy_mw_cb_record(proxy_mw_cb_t *cb, int status, uint64_t latency_ns, uint64_t now_ns)
{
    pthread_mutex_lock(&cb->mu);
    figures_add(cb, status, latency_ns, now_ns);
    if (now_ns >= cb->next_check) {
        cb->next_check = after(now_ns, cb->cfg->check_ns);
        if (atomic_load_explicit(&cb->state, memory_order_relaxed) != PROXY_MW_CB_TRIPPED &&
            eval(cb, cb->cfg->root, now_ns)) {
            state_set(cb, PROXY_MW_CB_TRIPPED, after(now_ns, cb->cfg->fallback_ns));
            figures_reset(cb);
        }
    }
    pthread_mutex_unlock(&cb->mu);
}

proxy_mw_cb_state_t proxy_mw_cb_state(proxy_mw_cb_t *cb)
{
    return (proxy_mw_cb_state_t)atomic_load_explicit(&cb->state, memory_order_acquire);
}
