/* Load-balancing algorithms (see proxy_lb.h): Traefik's EDF weighted round robin on a
 * Go-ordered heap, its power of two random choices, rendezvous hashing and least time,
 * and the sticky cookie. Used by proxy_upstream_gen.c on one worker loop each, so
 * nothing here locks. */
#include "proxy/proxy_lb.h"

#include "core/hc_alloc.h"

#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

uint64_t proxy_lb_rand(uint64_t *rng)
{
    uint64_t x = *rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* One pass: the two draws are a reservoir of two over the accepted candidates, each
 * pair as likely as any other. */
size_t proxy_lb_p2c_next(uint64_t *rng, size_t n, proxy_lb_ok_fn ok, proxy_lb_load_fn load,
                         void *arg)
{
    size_t pick[2] = {PROXY_LB_NONE, PROXY_LB_NONE}, seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (ok && !ok(arg, i))
            continue;
        if (seen < 2) {
            pick[seen++] = i;
            continue;
        }
        uint64_t j = proxy_lb_rand(rng) % ++seen;
        if (j < 2)
            pick[j] = i;
    }
    if (seen < 2)
        return pick[0];
    unsigned l0 = load(arg, pick[0]), l1 = load(arg, pick[1]);
    if (l0 != l1)
        return l0 < l1 ? pick[0] : pick[1];
    return pick[proxy_lb_rand(rng) & 1];
}

static uint64_t fnv64a(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

size_t proxy_lb_hrw_next(const char *src, size_t n, proxy_lb_ok_fn ok, proxy_lb_key_fn key,
                         void *arg)
{
    size_t best = PROXY_LB_NONE;
    double top = 0.0;
    uint64_t h0 = fnv64a(14695981039346656037ULL, src ? src : "");
    for (size_t i = 0; i < n; i++) {
        double weight;
        const char *name = key(arg, i, &weight);
        if (weight <= 0 || (ok && !ok(arg, i)))
            continue;
        double score = (double)fnv64a(h0, name) / 18446744073709551616.0; /* 2^64 */
        double s = 1.0 / -log(score) * weight;
        if (s > top) {
            best = i;
            top = s;
        }
    }
    return best;
}

/* ---- Go's container/heap over deadlines (Less is a strict <) ---- */

static int wrr_less(const proxy_lb_wrr_t *w, size_t a, size_t b)
{
    return w->deadline[w->heap[a]] < w->deadline[w->heap[b]];
}

static void wrr_swap(proxy_lb_wrr_t *w, size_t a, size_t b)
{
    size_t t = w->heap[a];
    w->heap[a] = w->heap[b];
    w->heap[b] = t;
}

static void wrr_up(proxy_lb_wrr_t *w, size_t j)
{
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (!wrr_less(w, j, i))
            break;
        wrr_swap(w, i, j);
        j = i;
    }
}

static void wrr_down(proxy_lb_wrr_t *w, size_t i, size_t n)
{
    for (;;) {
        size_t j1 = 2 * i + 1;
        if (j1 >= n)
            break;
        size_t j = j1;
        if (j1 + 1 < n && wrr_less(w, j1 + 1, j1))
            j = j1 + 1;
        if (!wrr_less(w, j, i))
            break;
        wrr_swap(w, i, j);
        i = j;
    }
}

void proxy_lb_wrr_init(proxy_lb_wrr_t *w, const long long *weights, size_t n, const size_t *order)
{
    memset(w, 0, sizeof(*w));
    w->deadline = hc_calloc(n ? n : 1, sizeof(double));
    w->weight = hc_calloc(n ? n : 1, sizeof(double));
    w->heap = hc_calloc(n ? n : 1, sizeof(size_t));
    for (size_t k = 0; k < n; k++) { /* Balancer.Add: heap.Push one by one */
        size_t i = order ? order[k] : k;
        if (weights[i] <= 0)
            continue; /* "non-positive weight is meaningless": never chosen */
        w->weight[i] = (double)weights[i];
        w->deadline[i] = w->cur + 1.0 / w->weight[i];
        w->heap[w->n] = i;
        wrr_up(w, w->n++);
    }
}

/* heap.Pop of the earliest deadline, which moves on by 1/weight, and heap.Push of it
 * again: Balancer.nextServer's step. */
static size_t wrr_step(proxy_lb_wrr_t *w)
{
    size_t n = w->n;
    wrr_swap(w, 0, n - 1); /* Pop: swap root and last, sift down over n-1, take the last */
    wrr_down(w, 0, n - 1);
    size_t i = w->heap[n - 1];
    w->cur = w->deadline[i];
    w->deadline[i] += 1.0 / w->weight[i];
    wrr_up(w, n - 1); /* Push of the same entry at the end */
    return i;
}

/* Go's heap.Init: heap order again after deadlines moved. */
static void wrr_heapify(proxy_lb_wrr_t *w)
{
    for (size_t i = w->n / 2; i-- > 0;)
        wrr_down(w, i, w->n);
}

/* Steps past candidates that are down taken one by one, as Traefik takes them, up to
 * this many per candidate; past that (a heavy one down, a light one up) they are taken
 * at once, which keeps the shares but not the order of ties. */
enum { WRR_EXACT_STEPS = 64 };

size_t proxy_lb_wrr_next(proxy_lb_wrr_t *w, proxy_lb_ok_fn ok, void *arg)
{
    size_t n = w->n;
    if (!n)
        return PROXY_LB_NONE;
    if (!ok || ok(arg, w->heap[0]))
        return wrr_step(w);
    /* the earliest deadline of those up; none up: nothing moves, as Traefik answers "no
     * available server" before it steps */
    double up = 0, steps = 0;
    int any = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = w->heap[k];
        if (ok(arg, i) && (!any || w->deadline[i] < up)) {
            up = w->deadline[i];
            any = 1;
        }
    }
    if (!any)
        return PROXY_LB_NONE;
    for (size_t k = 0; k < n; k++) { /* the steps Traefik takes before it meets it */
        size_t i = w->heap[k];
        if (w->deadline[i] <= up && !ok(arg, i))
            steps += ceil((up - w->deadline[i]) * w->weight[i]) + 1;
    }
    if (steps > (double)WRR_EXACT_STEPS * n) {
        for (size_t i = 0; i < n; i++) { /* each one down past it, on its own 1/weight grid */
            size_t c = w->heap[i];
            if (w->deadline[c] > up || ok(arg, c))
                continue;
            double d = w->deadline[c] + ceil((up - w->deadline[c]) * w->weight[c]) / w->weight[c];
            w->deadline[c] = d > up ? d : nextafter(up, INFINITY);
        }
        wrr_heapify(w);
    }
    for (size_t step = 0; step < (WRR_EXACT_STEPS + 1) * n + 1; step++) { /* health may move */
        size_t i = wrr_step(w);
        if (ok(arg, i))
            return i;
    }
    return PROXY_LB_NONE;
}

void proxy_lb_wrr_free(proxy_lb_wrr_t *w)
{
    hc_free(w->deadline);
    hc_free(w->weight);
    hc_free(w->heap);
    memset(w, 0, sizeof(*w));
}

/* ---- leasttime ---- */

void proxy_lb_lt_init(proxy_lb_lt_t *lt, const long long *weights, size_t n, const size_t *order)
{
    memset(lt, 0, sizeof(*lt));
    lt->n = n;
    lt->order = hc_calloc(n + 1, sizeof(*lt->order));
    lt->deadline = hc_calloc(n + 1, sizeof(double));
    lt->weight = hc_calloc(n + 1, sizeof(double));
    lt->ttfb = hc_calloc(n + 1, sizeof(*lt->ttfb));
    for (size_t k = 0; k < n; k++) {
        size_t i = order ? order[k] : k;
        lt->order[k] = i;
        lt->weight[i] = (double)weights[i];
        if (weights[i] > 0) /* Add: the deadline after the last one added */
            lt->deadline[i] = lt->cur = lt->cur + 1.0 / lt->weight[i];
    }
}

static double ttfb_avg(const proxy_lb_ttfb_t *t)
{
    return t->n ? t->sum / t->n : 0;
}

size_t proxy_lb_lt_next(proxy_lb_lt_t *lt, proxy_lb_ok_fn ok, proxy_lb_load_fn load, void *arg)
{
    size_t healthy = 0, first = PROXY_LB_NONE, best = PROXY_LB_NONE, ties = 0;
    double low = 0;
    for (size_t k = 0; k < lt->n; k++) { /* one pass: loads move under other workers */
        size_t i = lt->order[k];
        if (lt->weight[i] <= 0 || (ok && !ok(arg, i)))
            continue;
        if (!healthy++)
            first = i;
        double score = ttfb_avg(&lt->ttfb[i]) * (1.0 + load(arg, i)) / lt->weight[i];
        if (best == PROXY_LB_NONE || score < low) {
            low = score;
            best = i;
            ties = 1;
        } else if (score == low) { /* the earliest deadline of the tied, the first on a tie */
            ties++;
            if (lt->deadline[i] < lt->deadline[best])
                best = i;
        }
    }
    if (healthy == 1)
        return first;
    if (ties > 1) { /* selectWRR */
        lt->deadline[best] += 1.0 / lt->weight[best];
        if (lt->deadline[best] > lt->cur)
            lt->cur = lt->deadline[best];
    }
    return best;
}

void proxy_lb_lt_sample(proxy_lb_lt_t *lt, size_t i, uint64_t ns)
{
    proxy_lb_ttfb_t *t = &lt->ttfb[i];
    double ms = (double)(ns / 1000000);
    if (t->n < PROXY_LB_TTFB_SAMPLES)
        t->n++;
    else
        t->sum -= t->ms[t->next];
    t->ms[t->next] = ms;
    t->sum += ms;
    t->next = (t->next + 1) % PROXY_LB_TTFB_SAMPLES;
}

void proxy_lb_lt_free(proxy_lb_lt_t *lt)
{
    hc_free(lt->order);
    hc_free(lt->deadline);
    hc_free(lt->weight);
    hc_free(lt->ttfb);
    memset(lt, 0, sizeof(*lt));
}

/* ---- sticky cookie ---- */

static void hex_digest(const char *md, const char *s, size_t want, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    EVP_Digest(s, strlen(s), d, &dl, EVP_get_digestbyname(md), NULL);
    for (size_t i = 0; i < want && i / 2 < dl; i++)
        out[i] = "0123456789abcdef"[i % 2 ? d[i / 2] & 15 : d[i / 2] >> 4];
    out[want] = '\0';
}

/* RFC 6265 §4.1.1 cookie-name = token (RFC 9110 §5.6.2), as Go's sanitizer keeps it. */
static int cookie_char(int ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

void proxy_lb_cookie_name(const proxy_sticky_t *st, const char *service,
                          char out[PROXY_LB_COOKIE_NAME_MAX])
{
    if (st && st->name && st->name[0]) {
        size_t i = 0;
        for (; st->name[i] && i < PROXY_LB_COOKIE_NAME_MAX - 1; i++)
            out[i] = cookie_char((unsigned char)st->name[i]) ? st->name[i] : '_';
        out[i] = '\0';
        return;
    }
    char buf[512];
    snprintf(buf, sizeof(buf), "_TRAEFIK_BACKEND_%s", service ? service : "");
    out[0] = '_';
    hex_digest("SHA1", buf, 5, out + 1);
}

void proxy_lb_cookie_value(const char *url, char out[PROXY_LB_COOKIE_VALUE_LEN])
{
    hex_digest("SHA256", url, 16, out);
}

int proxy_lb_cookie_matches(const char *value, size_t len, const char *url)
{
    char h[PROXY_LB_COOKIE_VALUE_LEN];
    proxy_lb_cookie_value(url, h);
    if (len == 16 && !memcmp(value, h, 16))
        return 1;
    return len == strlen(url) && !memcmp(value, url, len);
}

const char *proxy_lb_cookie_find(const char *header, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == ';' || *p == '\t')
            p++;
        const char *end = p + strcspn(p, ";");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && (size_t)(eq - p) == nl && !memcmp(p, name, nl)) {
            const char *v = eq + 1, *ve = end;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (ve - v >= 2 && *v == '"' && ve[-1] == '"') /* RFC 6265 §4.1.1 DQUOTE */
                v++, ve--;
            *len = (size_t)(ve - v);
            return v;
        }
        p = *end ? end + 1 : end;
    }
    return NULL;
}

/* Go's validCookieDomain, simplified: letters, digits, '-', '_' and dots between labels
 * of at most 63 bytes, 255 in all, after one leading dot (dropped). NULL when not. */
static const char *cookie_domain(const char *d)
{
    if (*d == '.')
        d++;
    size_t n = strlen(d), label = 0;
    if (!n || n > 255)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '.') {
            if (!label)
                return NULL;
            label = 0;
        } else if ((isalnum((unsigned char)d[i]) || d[i] == '-' || d[i] == '_') && ++label <= 63) {
            continue;
        } else {
            return NULL;
        }
    }
    return label ? d : NULL;
}

void proxy_lb_set_cookie(const proxy_sticky_t *st, const char *name, const char *value,
                         hc_buf_t *out)
{
    hc_buf_printf(out, "%s=%s", name, value);
    const char *path = st->path ? st->path : "/";
    if (*path) { /* Go's sanitizeCookiePath: printable bytes but ';' */
        hc_buf_puts(out, "; Path=");
        for (; *path; path++)
            if ((unsigned char)*path >= 0x20 && (unsigned char)*path < 0x7f && *path != ';')
                hc_buf_append(out, path, 1);
    }
    const char *domain = st->domain ? cookie_domain(st->domain) : NULL;
    if (domain)
        hc_buf_printf(out, "; Domain=%s", domain);
    if (st->maxage > 0)
        hc_buf_printf(out, "; Max-Age=%lld", st->maxage);
    else if (st->maxage < 0)
        hc_buf_puts(out, "; Max-Age=0");
    if (st->httponly)
        hc_buf_puts(out, "; HttpOnly");
    if (st->secure)
        hc_buf_puts(out, "; Secure");
    const char *ss = st->samesite;
    if (ss && !strcasecmp(ss, "lax"))
        hc_buf_puts(out, "; SameSite=Lax");
    else if (ss && !strcasecmp(ss, "strict"))
        hc_buf_puts(out, "; SameSite=Strict");
    else if (ss && !strcasecmp(ss, "none"))
        hc_buf_puts(out, "; SameSite=None");
}
