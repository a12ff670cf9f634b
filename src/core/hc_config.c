/* Options of a command (see hc_config.h): flags, environment, *_FILE secrets, a YAML
 * file and defaults, each value remembering which source set it so that the order in
 * which the loaders run never changes the precedence. Parsed forms live below. */
#include "core/hc_config.h"
#include "core/hc_alloc.h"
#include "core/hc_err.h"
#include "core/hc_yaml.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define SECRET_FILE_MAX (1u << 20) /* NAME_FILE contents accepted */

/* Sources in increasing precedence. */
enum { SRC_NONE, SRC_YAML, SRC_ENV_FILE, SRC_ENV, SRC_FLAG };

typedef struct optval {
    char **vals; /* several only for HC_OPT_MULTI */
    size_t n;
    int src;
} optval_t;

struct hc_config {
    const hc_option_t *table;
    size_t nopt;
    optval_t *v;
    char **args;
    size_t nargs;
};

hc_config_t *hc_config_new(const hc_option_t *table)
{
    hc_config_t *cfg = hc_calloc(1, sizeof(*cfg));
    cfg->table = table;
    while (table[cfg->nopt].name)
        cfg->nopt++;
    cfg->v = hc_calloc(cfg->nopt ? cfg->nopt : 1, sizeof(*cfg->v));
    return cfg;
}

static void values_clear(optval_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        hc_free(v->vals[i]);
    hc_free(v->vals);
    v->vals = NULL;
    v->n = 0;
}

void hc_config_free(hc_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nopt; i++)
        values_clear(&cfg->v[i]);
    for (size_t i = 0; i < cfg->nargs; i++)
        hc_free(cfg->args[i]);
    hc_free(cfg->args);
    hc_free(cfg->v);
    hc_free(cfg);
}

static long find_n(const hc_config_t *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->nopt; i++)
        if (strlen(cfg->table[i].name) == len && !memcmp(cfg->table[i].name, name, len))
            return (long)i;
    return -1;
}

static long find(const hc_config_t *cfg, const char *name)
{
    return find_n(cfg, name, strlen(name));
}

/* Stores value from src: a higher source replaces what a lower one set, the same source
 * appends (HC_OPT_MULTI) or replaces, a lower one is ignored. */
static void value_put(hc_config_t *cfg, size_t i, const char *value, size_t len, int src)
{
    optval_t *v = &cfg->v[i];
    if (src < v->src)
        return;
    if (src > v->src || !(cfg->table[i].flags & HC_OPT_MULTI))
        values_clear(v);
    v->src = src;
    v->vals = hc_realloc(v->vals, (v->n + 1) * sizeof(*v->vals));
    v->vals[v->n++] = hc_memdup(value, len);
}

/* Edit distance of two short names, for "did you mean" (Levenshtein, one row). */
static size_t distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The option name closest to name[0..len), or NULL when none is close: within two
 * edits (and fewer than the name's length), or starting with the name. */
static const char *closest(const hc_config_t *cfg, const char *name, size_t len)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; i < cfg->nopt; i++) {
        const char *o = cfg->table[i].name;
        size_t d = distance(name, len, o);
        if (len >= 2 && !strncmp(o, name, len) && d > 1)
            d = 2;
        if (d < bestd && d < len) {
            bestd = d;
            best = o;
        }
    }
    return best;
}

/* Names an unknown flag or key in err, with the closest option when one is near. Returns
 * -EINVAL. */
static int unknown_err(const hc_config_t *cfg, const char *what, const char *name, size_t len,
                       const char *pre, char *err, size_t errlen)
{
    const char *near = closest(cfg, name, len);
    int n = len > 64 ? 64 : (int)len;
    if (near)
        return hc_errf(err, errlen, -EINVAL, "%s %s%.*s (did you mean %s%s?)", what, pre, n, name,
                       pre, near);
    return hc_errf(err, errlen, -EINVAL, "%s %s%.*s", what, pre, n, name);
}

static void arg_add(hc_config_t *cfg, const char *a)
{
    cfg->args = hc_realloc(cfg->args, (cfg->nargs + 1) * sizeof(*cfg->args));
    cfg->args[cfg->nargs++] = hc_strdup(a);
}

/* One flag at argv[*i]: "--name", "--name=value" or "--name value" ("-name" alike, as
 * Go's flag package and so heplify accept). */
static int parse_flag(hc_config_t *cfg, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *a = argv[*i];
    const char *name = a + (a[1] == '-' ? 2 : 1);
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    long o = find_n(cfg, name, len);
    if (o < 0)
        return unknown_err(cfg, "unknown flag", name, len, "--", err, errlen);
    const char *val = eq ? eq + 1 : NULL;
    if (!val && (cfg->table[o].flags & HC_OPT_BOOL))
        val = "true";
    if (!val) {
        if (*i + 1 >= argc)
            return hc_errf(err, errlen, -EINVAL, "flag --%s needs a value", cfg->table[o].name);
        val = argv[++*i];
    }
    value_put(cfg, (size_t)o, val, strlen(val), SRC_FLAG);
    return 0;
}

int hc_config_parse_args(hc_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    int flags_done = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (flags_done || a[0] != '-' || !a[1] || isdigit((unsigned char)a[1])) {
            arg_add(cfg, a);
        } else if (!strcmp(a, "--")) {
            flags_done = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "-help")) {
            return 1;
        } else {
            int rc = parse_flag(cfg, argc, argv, &i, err, errlen);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* A NAME_FILE secret: at most SECRET_FILE_MAX bytes, trailing newlines dropped. */
static int read_secret(const char *path, char **out, size_t *outlen)
{
    int rc = hc_yaml_read_file(path, SECRET_FILE_MAX, out, outlen);
    while (!rc && *outlen && ((*out)[*outlen - 1] == '\n' || (*out)[*outlen - 1] == '\r'))
        (*outlen)--;
    return rc;
}

/* NAME of a multi option holds several values separated by commas. */
static void env_put(hc_config_t *cfg, size_t i, const char *val, size_t len, int src)
{
    if (!(cfg->table[i].flags & HC_OPT_MULTI)) {
        value_put(cfg, i, val, len, src);
        return;
    }
    const char *p = val, *end = val + len;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *e = c ? c : end;
        const char *s = p;
        while (s < e && isspace((unsigned char)*s))
            s++;
        const char *t = e;
        while (t > s && isspace((unsigned char)t[-1]))
            t--;
        if (t > s)
            value_put(cfg, i, s, (size_t)(t - s), src);
        p = e + 1;
    }
}

int hc_config_load_env(hc_config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->nopt; i++) {
        const hc_option_t *o = &cfg->table[i];
        if (!o->env || cfg->v[i].src >= SRC_ENV)
            continue;
        const char *val = getenv(o->env);
        if (val && *val) {
            env_put(cfg, i, val, strlen(val), SRC_ENV);
            continue;
        }
        char fname[256];
        snprintf(fname, sizeof(fname), "%s_FILE", o->env);
        const char *path = getenv(fname);
        if (!path || !*path || cfg->v[i].src >= SRC_ENV_FILE)
            continue;
        char *buf;
        size_t n;
        int rc = read_secret(path, &buf, &n);
        if (rc)
            return hc_errf(err, errlen, -EINVAL, "%s=%s: %s", fname, path,
                           rc == -EFBIG ? "file too large" : strerror(-rc));
        env_put(cfg, i, buf, n, SRC_ENV_FILE);
        hc_free(buf);
    }
    return 0;
}

/* A YAML scalar as option text; 0, or 1 for null (no value), or -1 for a collection. */
static int yaml_text(const json_t *v, char *buf, size_t len, const char **out)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        *out = json_string_value(v);
        return 0;
    case JSON_INTEGER:
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, len, "%.15g", json_real_value(v));
        if (strtod(buf, NULL) != json_real_value(v))
            snprintf(buf, len, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
        break;
    case JSON_NULL:
        return 1;
    default:
        return -1;
    }
    *out = buf;
    return 0;
}

/* One key of the config file: a scalar, or a sequence of scalars for a multi option. */
static int yaml_key(hc_config_t *cfg, const hc_yaml_docs_t *d, const json_t *root,
                    const char *key, const json_t *v, char *err, size_t errlen)
{
    const char *path = hc_yaml_name(d);
    int line = hc_yaml_line_of_key(d, root, key, NULL);
    long o = find(cfg, key);
    if (o < 0) {
        char what[300];
        snprintf(what, sizeof(what), "%s:%d: unknown key", path, line);
        return unknown_err(cfg, what, key, strlen(key), "", err, errlen);
    }
    int multi = (cfg->table[o].flags & HC_OPT_MULTI) != 0;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (json_is_array(v) && !multi)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
        char buf[64];
        const char *text;
        int r = yaml_text(item, buf, sizeof(buf), &text);
        if (r < 0)
            goto bad;
        if (!r)
            value_put(cfg, (size_t)o, text, strlen(text), SRC_YAML);
    }
    return 0;
bad:
    return hc_errf(err, errlen, -EINVAL, "%s:%d: key \"%s\" takes %s", path, line, key,
                   multi ? "a scalar or a sequence of scalars" : "a single scalar value");
}

int hc_config_load_yaml(hc_config_t *cfg, const char *path, char *err, size_t errlen)
{
    hc_yaml_docs_t *d;
    hc_yaml_error_t ye;
    int rc = hc_yaml_parse_file(path, NULL, &d, &ye);
    if (rc) {
        rc = rc == -ENOENT ? -ENOENT : -EINVAL;
        if (ye.line)
            return hc_errf(err, errlen, rc, "%s:%d:%d: %s", ye.file, ye.line, ye.column,
                           ye.message);
        return hc_errf(err, errlen, rc, "%s: %s", ye.file, ye.message);
    }
    json_t *root = hc_yaml_get(d, 0);
    if (hc_yaml_count(d) > 1) {
        rc = hc_errf(err, errlen, -EINVAL, "%s: expected one YAML document, found %zu", path,
                     hc_yaml_count(d));
    } else if (root && !json_is_null(root) && !json_is_object(root)) {
        rc = hc_errf(err, errlen, -EINVAL, "%s:%d: expected a mapping of option names to values",
                     path, hc_yaml_line_of(d, root, NULL));
    }
    const char *key;
    json_t *v;
    if (!rc && json_is_object(root))
        json_object_foreach(root, key, v) {
            rc = yaml_key(cfg, d, root, key, v, err, errlen);
            if (rc)
                break;
        }
    hc_yaml_free(d);
    return rc;
}

int hc_config_set(hc_config_t *cfg, const char *name, const char *value)
{
    long o = find(cfg, name);
    if (o < 0 || !value)
        return -EINVAL;
    value_put(cfg, (size_t)o, value, strlen(value), SRC_FLAG);
    return 0;
}

const char *hc_config_get(const hc_config_t *cfg, const char *name)
{
    long o = find(cfg, name);
    if (o < 0)
        return NULL;
    const optval_t *v = &cfg->v[o];
    return v->n ? v->vals[v->n - 1] : cfg->table[o].def;
}

size_t hc_config_get_all(const hc_config_t *cfg, const char *name, const char *const **vals)
{
    long o = find(cfg, name);
    *vals = NULL;
    if (o < 0)
        return 0;
    if (cfg->v[o].n) {
        *vals = (const char *const *)cfg->v[o].vals;
        return cfg->v[o].n;
    }
    if (!cfg->table[o].def)
        return 0;
    *vals = &cfg->table[o].def;
    return 1;
}

char *const *hc_config_args(const hc_config_t *cfg, size_t *n)
{
    *n = cfg->nargs;
    return cfg->args;
}

/* ---- parsed forms ---- */

/* The option's text for a parser, or NULL when it has none (nothing to do). */
static const char *parse_input(const hc_config_t *cfg, const char *name, int *secret)
{
    long o = find(cfg, name);
    *secret = o >= 0 && (cfg->table[o].flags & HC_OPT_SECRET);
    return o < 0 ? NULL : hc_config_get(cfg, name);
}

static int parse_err(char *err, size_t errlen, const char *name, const char *s, int secret,
                     const char *what)
{
    if (secret)
        return hc_errf(err, errlen, -EINVAL, "option --%s: value is not %s", name, what);
    return hc_errf(err, errlen, -EINVAL, "option --%s: \"%.64s\" is not %s", name, s, what);
}

int hc_config_get_int(const hc_config_t *cfg, const char *name, long long *out, char *err,
                      size_t errlen)
{
    int secret;
    const char *s = parse_input(cfg, name, &secret);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || isspace((unsigned char)*s))
        return parse_err(err, errlen, name, s, secret, "an integer");
    *out = v;
    return 0;
}

int hc_config_get_bool(const hc_config_t *cfg, const char *name, int *out, char *err,
                       size_t errlen)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    int secret;
    const char *s = parse_input(cfg, name, &secret);
    if (!s)
        return 0;
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
            *out = !strcasecmp(s, yes[i]);
            return 0;
        }
    }
    return parse_err(err, errlen, name, s, secret, "a boolean (true/false)");
}

/* Reads the digits at *p into *v; returns 0, or -1 without digits or on overflow. */
static int digits(const char **p, long long *v)
{
    const char *s = *p;
    *v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++)
        if (__builtin_mul_overflow(*v, 10, v) || __builtin_add_overflow(*v, *s - '0', v))
            return -1;
    *p = s;
    return 0;
}

/* Milliseconds in the duration unit p[0..len), or 0 when it is no unit. */
static long long unit_ms(const char *p, size_t len)
{
    static const struct {
        const char *unit;
        long long ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
        if (strlen(units[u].unit) == len && !strncmp(units[u].unit, p, len))
            return units[u].ms;
    return 0;
}

int hc_config_get_duration_ms(const hc_config_t *cfg, const char *name, long long *out,
                              char *err, size_t errlen)
{
    int secret;
    const char *s = parse_input(cfg, name, &secret), *p = s;
    if (!s)
        return 0;
    long long total = 0, n;
    do {
        int first = p == s;
        if (digits(&p, &n))
            goto bad;
        size_t ulen = strspn(p, "abcdefghijklmnopqrstuvwxyz");
        /* "1h30m" sums its parts; a bare number alone counts seconds */
        long long ms = first && !*p ? 1000 : unit_ms(p, ulen);
        if (!ms || __builtin_mul_overflow(n, ms, &n) ||
            __builtin_add_overflow(total, n, &total))
            goto bad;
        p += ulen;
    } while (*p);
    *out = total;
    return 0;
bad:
    return parse_err(err, errlen, name, s, secret, "a duration (500ms, 30s, 5m, 2h, 14d)");
}

int hc_config_get_size(const hc_config_t *cfg, const char *name, long long *out, char *err,
                       size_t errlen)
{
    int secret;
    const char *s = parse_input(cfg, name, &secret), *p = s;
    if (!s)
        return 0;
    long long n;
    int shift = 0;
    if (digits(&p, &n))
        goto bad;
    const char *units = "kmgt", *u = *p ? strchr(units, tolower((unsigned char)*p)) : NULL;
    if (u) {
        shift = 10 * (int)(u - units + 1);
        p++;
        if (*p == 'i')
            p++;
    }
    if (*p == 'B' || *p == 'b')
        p++;
    if (*p || n > (LLONG_MAX >> shift))
        goto bad;
    *out = n << shift;
    return 0;
bad:
    return parse_err(err, errlen, name, s, secret, "a size (512, 64k, 10M, 1G)");
}

/* ---- help ---- */

static void flag_text(const hc_option_t *o, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", (o->flags & HC_OPT_SHORT) ? "-" : "--", o->name,
             (o->flags & HC_OPT_BOOL) ? "" : " VALUE");
}

static const char *default_text(const hc_option_t *o)
{
    if (!o->def)
        return "";
    return (o->flags & HC_OPT_SECRET) ? "(secret)" : o->def;
}

void hc_config_help(const hc_config_t *cfg, FILE *out, const char *usage, const char *summary)
{
    int wflag = (int)strlen("-h, --help"), wenv = 3, wdef = 7; /* "ENV", "DEFAULT" */
    char flag[96];
    for (size_t i = 0; i < cfg->nopt; i++) {
        const hc_option_t *o = &cfg->table[i];
        flag_text(o, flag, sizeof(flag));
        int lf = (int)strlen(flag), le = o->env ? (int)strlen(o->env) : 0;
        int ld = (int)strlen(default_text(o));
        wflag = lf > wflag ? lf : wflag;
        wenv = le > wenv ? le : wenv;
        wdef = ld > wdef ? ld : wdef;
    }
    wdef = wdef > 40 ? 40 : wdef;
    if (usage)
        fprintf(out, "Usage: %s\n", usage);
    if (summary)
        fprintf(out, "\n%s\n", summary);
    fprintf(out, "\nOptions:\n  %-*s  %-*s  %-*s  %s\n", wflag, "FLAG", wenv, "ENV", wdef,
            "DEFAULT", "DESCRIPTION");
    for (size_t i = 0; i < cfg->nopt; i++) {
        const hc_option_t *o = &cfg->table[i];
        flag_text(o, flag, sizeof(flag));
        fprintf(out, "  %-*s  %-*s  %-*s  %s%s\n", wflag, flag, wenv, o->env ? o->env : "",
                wdef, default_text(o), o->help ? o->help : "",
                (o->flags & HC_OPT_MULTI) ? " (repeatable)" : "");
    }
    fprintf(out, "  %-*s  %-*s  %-*s  %s\n", wflag, "-h, --help", wenv, "", wdef, "",
            "show this help");
    if (cfg->nopt)
        fprintf(out, "\nEach ENV may instead name a file in ENV_FILE (for secrets); flags win over "
                     "ENV, ENV over ENV_FILE, ENV_FILE over the config file.\n");
}
