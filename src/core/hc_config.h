/* Options for commands and services: one table per command gives each option its flag,
 * environment variable, default and help text. Values resolve in this order:
 * command-line flag, then NAME, then NAME_FILE (the file's contents, trailing newline
 * dropped: how Kubernetes-mounted and Vault-rendered secrets arrive), then a YAML
 * config file's key, then the default. Options marked HC_OPT_SECRET never appear in
 * logs, errors or --help output values. */
#ifndef HC_CONFIG_H
#define HC_CONFIG_H

#include <stdio.h>

enum {
    HC_OPT_SECRET = 1 << 0, /* value is masked wherever it would be shown */
    HC_OPT_BOOL = 1 << 1,   /* flag without a value: --name sets "true" */
    HC_OPT_MULTI = 1 << 2,  /* may repeat: --name a --name b */
    HC_OPT_SHORT = 1 << 3,  /* --help spells it -name (a tool's single-dash flags) */
};

typedef struct hc_option {
    const char *name; /* long flag without dashes ("web" is --web) and the YAML key */
    const char *env;  /* environment variable (NAME and NAME_FILE), or NULL */
    const char *def;  /* default as text, or NULL for none */
    const char *help; /* one line for --help */
    unsigned flags;   /* HC_OPT_* */
} hc_option_t;

/* An option table ends with an entry whose name is NULL. */
#define HC_OPTION_END {NULL, NULL, NULL, NULL, 0}

typedef struct hc_config hc_config_t;

/** Creates a configuration for the options in table (not copied: must outlive it). */
hc_config_t *hc_config_new(const hc_option_t *table);
/** Frees cfg and every value and argument it holds; NULL is fine. */
void hc_config_free(hc_config_t *cfg);

/** Parses argv[0..argc) (no program or command name): --name value, --name=value, and
 *  bare --name for HC_OPT_BOOL (--name=false also works); a single dash works too
 *  (-name value, as Go programs such as heplify accept). A repeated flag replaces the
 *  value, or adds one for HC_OPT_MULTI. "--" ends the flags; "-" and "-5" are positional.
 *  Returns 0, 1 when --help/-h was given, or -EINVAL with a message in err (size errlen)
 *  naming the flag, with "did you mean --x?" when an option's name is close. Positional
 *  arguments are kept in order and read with hc_config_args(). */
int hc_config_parse_args(hc_config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/** Reads NAME and NAME_FILE for every option not set on the command line. An empty NAME
 *  counts as unset. For HC_OPT_MULTI, NAME holds comma-separated values. NAME_FILE's
 *  contents (at most 1 MiB) lose their trailing newlines. Returns 0 or -EINVAL with err
 *  naming the variable and file (an unreadable NAME_FILE is an error). The loaders may
 *  run in any order: each value remembers its source and precedence always holds. */
int hc_config_load_env(hc_config_t *cfg, char *err, size_t errlen);

/** Reads options not yet set from a YAML file: a mapping of option names to scalars (or
 *  sequences for HC_OPT_MULTI); a null value leaves the option unset. Unknown keys and
 *  wrong types are errors naming the file, line and key ("f.yaml:3: unknown key ...").
 *  Returns 0 or -EINVAL/-ENOENT with err. */
int hc_config_load_yaml(hc_config_t *cfg, const char *path, char *err, size_t errlen);

/** Sets an option's value as if given on the command line (used by `hearth up`).
 *  Returns 0, or -EINVAL for an unknown name or a NULL value. */
int hc_config_set(hc_config_t *cfg, const char *name, const char *value);

/** The option's value, or its default, or NULL. For HC_OPT_MULTI: the last value. */
const char *hc_config_get(const hc_config_t *cfg, const char *name);
/** Every value of an HC_OPT_MULTI option (or the single value); returns the count and
 *  points *vals at an array owned by cfg. */
size_t hc_config_get_all(const hc_config_t *cfg, const char *name, const char *const **vals);
/** Parsed forms. Each returns 0 or -EINVAL (value left unchanged) with err naming it
 *  (a secret's value is never quoted). An option without value or default returns 0
 *  and leaves *out unchanged. Booleans: true/false, 1/0, yes/no, on/off. */
int hc_config_get_int(const hc_config_t *cfg, const char *name, long long *out, char *err, size_t errlen);
int hc_config_get_bool(const hc_config_t *cfg, const char *name, int *out, char *err, size_t errlen);
/** Durations: "500ms", "30s", "5m", "2h", "14d", sums such as "1h30m", or a bare number
 *  of seconds; out in ms. */
int hc_config_get_duration_ms(const hc_config_t *cfg, const char *name, long long *out, char *err, size_t errlen);
/** Sizes: "512", "64k", "10M", "1G", "2T" (powers of 1024; "Ki", "KB", "KiB" alike);
 *  out in bytes. */
int hc_config_get_size(const hc_config_t *cfg, const char *name, long long *out, char *err, size_t errlen);

/** Positional arguments in order; *n receives their count. Owned by cfg. */
char *const *hc_config_args(const hc_config_t *cfg, size_t *n);

/** Writes usage, then one line per option in aligned columns: flag, env, default (shown
 *  as "(secret)" for HC_OPT_SECRET), help. usage and summary may be NULL. */
void hc_config_help(const hc_config_t *cfg, FILE *out, const char *usage, const char *summary);

#endif
