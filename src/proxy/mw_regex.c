/* Go-compatible regex search and replacement on PCRE2 (see mw_regex.h). The replace
 * loop and template expansion port the rules of Go's regexp package (replaceAll and
 * Regexp.expand) so `$1x`, `$$` and empty matches behave as under Traefik. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "proxy/mw_regex.h"
#include "proxy/mw.h"
#include "core/hc_alloc.h"

#include <errno.h>
#include <pcre2.h>
#include <string.h>

/* Backtracking budget per match: ample for routing regexes, bounded for hostile ones. */
#define REGEX_MATCH_LIMIT 200000u
#define REGEX_DEPTH_LIMIT 5000u

struct proxy_mw_regex {
    pcre2_code *code;
    pcre2_match_context *mctx; /* read-only after compile: safe to share across threads */
};

/* What PCRE2 takes but Go's regexp (RE2) refuses, so that a rule or middleware Traefik
 * would reject is rejected here too: lookaround, atomic groups, conditionals and
 * recursion; backreferences and \Z \G \K \g \k \R; possessive quantifiers. Character
 * classes are skipped. Returns the offending offset, or -1. */
static long re2_refuses(const char *s)
{
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\') {
            if (s[i + 1] && strchr("123456789ZGKgkR", s[i + 1]))
                return (long)i;
            i += s[i + 1] != '\0';
        } else if (s[i] == '[') { /* up to the closing ']' (one first is literal) */
            size_t j = i + 1 + (s[i + 1] == '^');
            j += s[j] == ']';
            for (; s[j] && s[j] != ']'; j++)
                if (s[j] == '\\' && s[j + 1])
                    j++;
                else if (s[j] == '[' && s[j + 1] == ':' && strstr(s + j, ":]"))
                    j = (size_t)(strstr(s + j, ":]") - s) + 1;
            if (!s[j])
                return -1; /* unterminated: PCRE2 reports it */
            i = j;
        } else if (s[i] == '(' && s[i + 1] == '?') {
            char c = s[i + 2];
            if (c && (strchr("=!>(R|&", c) || (c >= '0' && c <= '9') ||
                      (c == '<' && (s[i + 3] == '=' || s[i + 3] == '!'))))
                return (long)i;
        } else if (strchr("*+?}", s[i]) && s[i + 1] == '+') {
            return (long)i + 1;
        }
    }
    return -1;
}

int proxy_mw_regex_compile(const char *pattern, proxy_mw_regex_t **out, char *err,
                           size_t errlen)
{
    long bad = re2_refuses(pattern);
    if (bad >= 0)
        return hc_errf(err, errlen, -EINVAL,
                       "regex %s: not in Go's syntax at offset %ld (no lookaround, "
                       "backreferences or possessive quantifiers)",
                       pattern, bad);
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                                  &code, &off, NULL);
    if (!c) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(code, msg, sizeof(msg));
        return hc_errf(err, errlen, -EINVAL, "regex %s: %s at offset %zu", pattern, (char *)msg,
                            (size_t)off);
    }
    pcre2_match_context *m = pcre2_match_context_create(NULL);
    if (!m) {
        pcre2_code_free(c);
        hc_oom(sizeof(void *));
    }
    pcre2_set_match_limit(m, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(m, REGEX_DEPTH_LIMIT);
    proxy_mw_regex_t *re = hc_calloc(1, sizeof(*re));
    re->code = c;
    re->mctx = m;
    *out = re;
    return 0;
}

void proxy_mw_regex_free(proxy_mw_regex_t *re)
{
    if (!re)
        return;
    pcre2_match_context_free(re->mctx);
    pcre2_code_free(re->code);
    hc_free(re);
}

/* One search from start; fills md. Returns 1 on a match, 0 otherwise. */
static int regex_exec(const proxy_mw_regex_t *re, const char *s, size_t len, size_t start,
                      pcre2_match_data *md)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, start, 0, md, re->mctx);
    return rc > 0;
}

static pcre2_match_data *md_new(const proxy_mw_regex_t *re)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!md)
        hc_oom(sizeof(void *));
    return md;
}

int proxy_mw_regex_test(const proxy_mw_regex_t *re, const char *s, size_t len)
{
    pcre2_match_data *md = md_new(re);
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, re->mctx);
    pcre2_match_data_free(md);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

int proxy_mw_regex_find(const proxy_mw_regex_t *re, const char *s, size_t len, size_t *so,
                        size_t *eo)
{
    if (!so && !eo)
        return proxy_mw_regex_test(re, s, len) == 1;
    pcre2_match_data *md = md_new(re);
    int found = regex_exec(re, s, len, 0, md);
    if (found) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (so)
            *so = ov[0];
        if (eo)
            *eo = ov[1];
    }
    pcre2_match_data_free(md);
    return found;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

/* Go's extract(): after a '$', reads name or {name}. Returns the bytes consumed (0 when
 * malformed), the name in [*nb, *nb + *nl), and its number in *num (-1 when not one). */
static size_t template_name(const char *t, const char **nb, size_t *nl, long *num)
{
    int brace = t[0] == '{';
    const char *p = t + brace;
    size_t i = 0;
    while (is_name_char(p[i]))
        i++;
    if (i == 0 || (brace && p[i] != '}'))
        return 0;
    *nb = p;
    *nl = i;
    *num = 0;
    for (size_t k = 0; k < i; k++) {
        if (p[k] < '0' || p[k] > '9' || *num >= 100000000) {
            *num = -1;
            break;
        }
        *num = *num * 10 + (p[k] - '0');
    }
    if (p[0] == '0' && i > 1)
        *num = -1;
    return (size_t)brace * 2 + i;
}

static int group_of(const proxy_mw_regex_t *re, const char *name, size_t nl, long num)
{
    char tmp[64];
    if (num >= 0)
        return num > 65535 ? -1 : (int)num;
    if (nl >= sizeof(tmp))
        return -1;
    memcpy(tmp, name, nl);
    tmp[nl] = '\0';
    return pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)tmp);
}

/* Appends tmpl with groups of the current match (md over s) substituted. */
static int template_expand(const proxy_mw_regex_t *re, const char *s, pcre2_match_data *md,
                           const char *tmpl, hc_buf_t *out)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t pairs = pcre2_get_ovector_count(md);
    const char *t = tmpl;
    const char *dollar;
    while ((dollar = strchr(t, '$')) != NULL) {
        if (hc_buf_append(out, t, (size_t)(dollar - t)) != 0)
            return -ENOBUFS;
        t = dollar + 1;
        if (*t == '$') {
            if (hc_buf_append(out, "$", 1) != 0)
                return -ENOBUFS;
            t++;
            continue;
        }
        const char *name;
        size_t nl;
        long num;
        size_t used = template_name(t, &name, &nl, &num);
        if (used == 0) {
            if (hc_buf_append(out, "$", 1) != 0)
                return -ENOBUFS;
            continue;
        }
        t += used;
        int g = group_of(re, name, nl, num);
        if (g >= 0 && (uint32_t)g < pairs && ov[2 * g] != PCRE2_UNSET &&
            hc_buf_append(out, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]) != 0)
            return -ENOBUFS;
    }
    return hc_buf_puts(out, t);
}

/* Byte length of the UTF-8 sequence starting with c (1 for stray bytes). */
static size_t utf8_width(unsigned char c)
{
    return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

int proxy_mw_regex_replace_all(const proxy_mw_regex_t *re, const char *s, const char *tmpl,
                               hc_buf_t *out)
{
    size_t len = strlen(s), pos = 0, last = 0;
    int n = 0, rc = 0;
    pcre2_match_data *md = md_new(re);
    while (pos <= len && regex_exec(re, s, len, pos, md)) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a0 = ov[0], a1 = ov[1];
        if ((rc = hc_buf_append(out, s + last, a0 - last)) != 0)
            goto out;
        /* An empty match right after another match is not replaced (Go replaceAll). */
        if (a1 > last || a0 == 0) {
            if ((rc = template_expand(re, s, md, tmpl, out)) != 0)
                goto out;
        }
        n++;
        last = a1;
        size_t width = pos < len ? utf8_width((unsigned char)s[pos]) : 0;
        if (pos + width > a1)
            pos += width;
        else if (pos + 1 > a1)
            pos++;
        else
            pos = a1;
    }
    rc = hc_buf_append(out, s + last, len - last);
out:
    pcre2_match_data_free(md);
    return rc != 0 ? -ENOBUFS : n;
}
