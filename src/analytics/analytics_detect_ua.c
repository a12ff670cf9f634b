/* User-Agent classification as Umami v3 stores it: detect-browser's browserName and
 * detectOS (its rule tables, in their order: the first match wins), ua-parser-js's
 * device type reduced to the UAs it recognises, and isbot 5's pattern list. The regular
 * expressions are matched by hand: each rule is a literal token plus a small tail. */
#include "analytics/analytics_detect.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_word(unsigned char c)
{
    return isalnum(c) || c == '_';
}

static int is_ver(unsigned char c, const char *set)
{
    return c && strchr(set, c) != NULL;
}

enum tail { T_ANY, T_WS_END, T_COLON_WS_END, T_END };

/* Pointer to the first occurrence of tok in ua that is followed by one or more chars
 * of set and then tail: \s or end (T_WS_END), ":?\s" or end (T_COLON_WS_END) or the end
 * of the string (T_END). NULL when none. */
static const char *tok_ver(const char *ua, const char *tok, const char *set, enum tail tail)
{
    size_t tl = strlen(tok);
    for (const char *p = strstr(ua, tok); p; p = strstr(p + 1, tok)) {
        const char *v = p + tl;
        size_t n = 0;
        while (is_ver((unsigned char)v[n], set))
            n++;
        if (!n)
            continue;
        unsigned char c = (unsigned char)v[n];
        if (tail == T_ANY || c == '\0' || (tail != T_END && isspace(c)) ||
            (tail == T_COLON_WS_END && c == ':' && isspace((unsigned char)v[n + 1])))
            return p;
    }
    return NULL;
}

#define DIGITS "0123456789."
#define DIGITS_U "0123456789._"

/* Chrom(?:e|ium)/ver(:?\s|$) with the rule's (?!Chrom.*OPR): no "OPR" after "Chrom".
 * after_wv: only occurrences after a "wv)" (the chromium-webview rule). */
static int chrome_rule(const char *ua, int after_wv)
{
    const char *from = ua;
    if (after_wv) {
        from = strstr(ua, "wv)");
        if (!from)
            return 0;
    }
    static const char *const toks[] = {"Chrome/", "Chromium/"};
    for (int t = 0; t < 2; t++) {
        for (const char *p = from; (p = tok_ver(p, toks[t], DIGITS, T_COLON_WS_END)); p++)
            if (after_wv || !strstr(p, "OPR"))
                return 1;
    }
    return 0;
}

/* a, then (after it) b: "a.*b". Returns the position of b or NULL. */
static const char *then(const char *a_at, size_t skip, const char *b)
{
    return a_at ? strstr(a_at + skip, b) : NULL;
}

/* Trident\/7\.0.*rv\:([0-9\.]+).*\).*Gecko$ */
static int ie11_rule(const char *ua)
{
    size_t n = strlen(ua);
    if (n < 5 || strcmp(ua + n - 5, "Gecko"))
        return 0;
    const char *t = strstr(ua, "Trident/7.0");
    if (!t)
        return 0;
    for (const char *rv = strstr(t + 11, "rv:"); rv; rv = strstr(rv + 1, "rv:")) {
        if (!is_ver((unsigned char)rv[3], DIGITS))
            continue;
        const char *paren = strchr(rv + 4, ')');
        if (paren && paren < ua + n - 5)
            return 1;
    }
    return 0;
}

/* MSIE\s([0-9\.]+);.*Trident\/[4-7].0 */
static int ie_msie_rule(const char *ua)
{
    for (const char *p = strstr(ua, "MSIE"); p; p = strstr(p + 1, "MSIE")) {
        if (!isspace((unsigned char)p[4]))
            continue;
        const char *v = p + 5;
        size_t k = 0;
        while (is_ver((unsigned char)v[k], DIGITS))
            k++;
        /* the greedy version may give back digits, but ';' must follow some prefix */
        if (!k || v[k] != ';')
            continue;
        for (const char *t = strstr(v + k, "Trident/"); t; t = strstr(t + 1, "Trident/"))
            if (t[8] >= '4' && t[8] <= '7' && t[9] && t[10] == '0')
                return 1;
    }
    return 0;
}

/* Pocket Internet Explorer: ^Microsoft Pocket Internet Explorer/\d+\.\d+$ and
 * ^Mozilla/\d\.\d+\s\(compatible;\s(?:MSP?IE|MSInternet Explorer) \d+\.\d+;.*Windows CE.*\)$ */
static int pie_rule(const char *ua)
{
    size_t n = strlen(ua);
    if (!strncmp(ua, "Microsoft Pocket Internet Explorer/", 35)) {
        const char *v = ua + 35;
        size_t a = strspn(v, "0123456789");
        return a && v[a] == '.' && v[a + 1] && strspn(v + a + 1, "0123456789") == strlen(v + a + 1);
    }
    if (strncmp(ua, "Mozilla/", 8) || !isdigit((unsigned char)ua[8]) || ua[9] != '.' ||
        ua[n - 1] != ')')
        return 0;
    const char *c = strstr(ua, "(compatible;");
    if (!c || !isspace((unsigned char)c[12]))
        return 0;
    c += 13;
    if (strncmp(c, "MSIE ", 5) && strncmp(c, "MSPIE ", 6) && strncmp(c, "MSInternet Explorer ", 20))
        return 0;
    return strstr(c, "Windows CE") != NULL;
}

/* The searchbot rule: alexa|bot|crawl(er|ing)|facebookexternalhit|feedburner|google web
 * preview|nagios|postrank|pingdom|slurp|spider|yahoo!|yandex (case-sensitive). */
static int searchbot_rule(const char *ua)
{
    static const char *const words[] = {"alexa",
                                        "bot",
                                        "crawler",
                                        "crawling",
                                        "facebookexternalhit",
                                        "feedburner",
                                        "google web preview",
                                        "nagios",
                                        "postrank",
                                        "pingdom",
                                        "slurp",
                                        "spider",
                                        "yahoo!",
                                        "yandex"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(ua, words[i]))
            return 1;
    return 0;
}

const char *analytics_ua_browser(const char *ua)
{
    if (!ua || !*ua)
        return NULL;
    const char *p;
    /* detect-browser's userAgentRules, in order */
    if (tok_ver(ua, "AOLShield/", DIGITS_U, T_ANY))
        return "aol";
    if (tok_ver(ua, "Edge/", DIGITS_U, T_ANY))
        return "edge";
    if (tok_ver(ua, "EdgiOS/", DIGITS_U, T_ANY))
        return "edge-ios";
    if (tok_ver(ua, "YaBrowser/", DIGITS_U, T_ANY))
        return "yandexbrowser";
    for (p = strstr(ua, "KAKAOTALK"); p; p = strstr(p + 1, "KAKAOTALK"))
        if (isspace((unsigned char)p[9]) && is_ver((unsigned char)p[10], DIGITS))
            return "kakaotalk";
    if (tok_ver(ua, "SamsungBrowser/", DIGITS, T_ANY))
        return "samsung";
    for (p = strstr(ua, "Silk/"); p; p = strstr(p + 1, "Silk/"))
        if ((p == ua || !is_word((unsigned char)p[-1])) &&
            is_ver((unsigned char)p[5], DIGITS_U "-"))
            return "silk";
    if (tok_ver(ua, "MiuiBrowser/", DIGITS, T_END))
        return "miui";
    if (tok_ver(ua, "BeakerBrowser/", DIGITS, T_ANY))
        return "beaker";
    if (tok_ver(ua, "Edg/", DIGITS, T_ANY) || tok_ver(ua, "EdgA/", DIGITS, T_ANY))
        return "edge-chromium";
    if (chrome_rule(ua, 1))
        return "chromium-webview";
    if (chrome_rule(ua, 0))
        return "chrome";
    if (tok_ver(ua, "PhantomJS/", DIGITS, T_COLON_WS_END))
        return "phantomjs";
    if (tok_ver(ua, "CriOS/", DIGITS, T_COLON_WS_END))
        return "crios";
    if (tok_ver(ua, "Firefox/", DIGITS, T_WS_END))
        return "firefox";
    if (tok_ver(ua, "FxiOS/", DIGITS, T_ANY))
        return "fxios";
    p = strstr(ua, "Opera Mini");
    if (p && tok_ver(p, "Version/", DIGITS, T_ANY))
        return "opera-mini";
    if (tok_ver(ua, "Opera/", DIGITS, T_WS_END) || tok_ver(ua, "OPR/", DIGITS, T_COLON_WS_END))
        return "opera";
    if (pie_rule(ua))
        return "pie";
    if (!strncmp(ua, "Mozilla/", 8) && (p = strstr(ua, "NetFront/")) &&
        isdigit((unsigned char)p[9]) && p[10] && isdigit((unsigned char)p[11]))
        return "netfront";
    if (ie11_rule(ua) || ie_msie_rule(ua))
        return "ie";
    for (p = strstr(ua, "MSIE"); p; p = strstr(p + 1, "MSIE"))
        if (isspace((unsigned char)p[4]) && !strncmp(p + 5, "7.0", 3))
            return "ie";
    for (p = strstr(ua, "BB10;"); p; p = strstr(p + 1, "BB10;"))
        if (isspace((unsigned char)p[5]) && !strncmp(p + 6, "Touch", 5) &&
            tok_ver(p + 11, "Version/", DIGITS, T_ANY))
            return "bb10";
    for (p = strstr(ua, "Android"); p; p = strstr(p + 1, "Android"))
        if (isspace((unsigned char)p[7]) && is_ver((unsigned char)p[8], DIGITS))
            return "android";
    const char *ver = tok_ver(ua, "Version/", DIGITS_U, T_ANY);
    if (ver && then(then(ver, 9, "Mobile"), 6, "Safari"))
        return "ios";
    if (ver && then(ver, 9, "Safari"))
        return "safari";
    if (tok_ver(ua, "FBAV/", DIGITS, T_ANY) || tok_ver(ua, "FBSV/", DIGITS, T_ANY))
        return "facebook";
    for (p = strstr(ua, "Instagram"); p; p = strstr(p + 1, "Instagram"))
        if (isspace((unsigned char)p[9]) && is_ver((unsigned char)p[10], DIGITS))
            return "instagram";
    const char *wk = tok_ver(ua, "AppleWebKit/", DIGITS, T_ANY);
    if (wk && then(wk, 13, "Mobile"))
        return "ios-webview";
    size_t n = strlen(ua);
    if (wk && n >= 6 && !strcmp(ua + n - 6, "Gecko)") && ua + n - 6 >= wk + 13)
        return "ios-webview";
    if (!strncmp(ua, "curl/", 5) && ua[5] && strspn(ua + 5, DIGITS) == strlen(ua + 5))
        return "curl";
    if (searchbot_rule(ua))
        return "searchbot";
    return NULL;
}

const char *analytics_ua_os(const char *ua)
{
    static const struct {
        const char *name;
        const char *tokens[4];
    } rules[] = {
        /* detect-browser's operatingSystemRules, in order */
        {"iOS", {"iPhone", "iPod", "iPad"}},
        {"Android OS", {"Android"}},
        {"BlackBerry OS", {"BlackBerry", "BB10"}},
        {"Windows Mobile", {"IEMobile"}},
        {"Amazon OS", {"Kindle"}},
        {"Windows 3.11", {"Win16"}},
        {"Windows 95", {"Windows 95", "Win95", "Windows_95"}},
        {"Windows 98", {"Windows 98", "Win98"}},
        {"Windows 2000", {"Windows NT 5.0", "Windows 2000"}},
        {"Windows XP", {"Windows NT 5.1", "Windows XP"}},
        {"Windows Server 2003", {"Windows NT 5.2"}},
        {"Windows Vista", {"Windows NT 6.0"}},
        {"Windows 7", {"Windows NT 6.1"}},
        {"Windows 8", {"Windows NT 6.2"}},
        {"Windows 8.1", {"Windows NT 6.3"}},
        {"Windows 10", {"Windows NT 10.0"}},
        {"Windows ME", {"Windows ME"}},
        {"Windows CE", {"Windows CE", "WinCE", "Microsoft Pocket Internet Explorer"}},
        {"Open BSD", {"OpenBSD"}},
        {"Sun OS", {"SunOS"}},
        {"Chrome OS", {"CrOS"}},
        {"Linux", {"Linux", "X11"}},
        {"Mac OS", {"Mac_PowerPC", "Macintosh"}},
        {"QNX", {"QNX"}},
        {"BeOS", {"BeOS"}},
        {"OS/2", {"OS/2"}},
    };
    if (!ua || !*ua)
        return NULL;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        for (int t = 0; t < 4 && rules[i].tokens[t]; t++)
            if (strstr(ua, rules[i].tokens[t]))
                return rules[i].name;
    return NULL;
}

/* A lower-case copy of ua (ASCII), cut to cap-1 bytes. */
static void lower(const char *ua, char *out, size_t cap)
{
    size_t i = 0;
    for (; ua[i] && i + 1 < cap; i++)
        out[i] = (char)tolower((unsigned char)ua[i]);
    out[i] = '\0';
}

static int has_any(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(s, words[i]))
            return 1;
    return 0;
}

/* Amazon Fire TV: a word starting "aft" that ends at ")" or " bui" (ua-parser-js). */
static int fire_tv(const char *l)
{
    for (const char *p = strstr(l, "aft"); p; p = strstr(p + 1, "aft")) {
        if (p > l && p[-1] != ' ' && p[-1] != ';')
            continue;
        const char *e = p + 3;
        while (is_word((unsigned char)*e))
            e++;
        if (*e == ')' || !strncmp(e, " bui", 4))
            return 1;
    }
    return 0;
}

/* ua-parser-js's device.type for the families it names; "" for a desktop browser. */
const char *analytics_ua_device(const char *ua)
{
    char l[1024];
    lower(ua, l, sizeof(l));
    static const char *const tv[] = {"smart-tv", "smarttv", "hbbtv",  "crkey",  "appletv",
                                     "googletv", "roku",    "bravia", "netcast"};
    static const char *const console[] = {"playstation", "xbox", "nintendo"};
    static const char *const tablet[] = {"ipad", "tablet", "kindle",  "silk/",   "playbook",
                                         "sm-t", "gt-p",   "nexus 7", "nexus 9", "nexus 10"};
    static const char *const mobile[] = {"phone",         "ipod",     "mobile;",    "mobile/",
                                         "mobile safari", "iemobile", "blackberry", "bb10"};
    if (has_any(l, tv, sizeof(tv) / sizeof(tv[0])) || fire_tv(l))
        return "smarttv";
    const char *q = strstr(l, "quest");
    if (q && (q == l || !isalpha((unsigned char)q[-1])))
        return "wearable"; /* Meta Quest, as ua-parser-js 1.x types it */
    if (has_any(l, console, sizeof(console) / sizeof(console[0])))
        return "console";
    if (has_any(l, tablet, sizeof(tablet) / sizeof(tablet[0])))
        return "tablet";
    if (has_any(l, mobile, sizeof(mobile) / sizeof(mobile[0])))
        return "mobile";
    if (strstr(l, "android"))
        return strstr(l, "mobile") ? "mobile" : "tablet";
    return "";
}

/* ---- isbot ---- */

/* isbot 5.2's literal patterns (matched anywhere, case-insensitively). */
static const char *const bot_words[] = {
    " deusu/",
    "24x7",
    "()",
    "|",
    "abuse",
    "advisor",
    "analyzer",
    "archive",
    "ask jeeves/teoma",
    "attracta",
    "audit",
    "bluecoat drtr",
    "browsex",
    "burpcollaborator",
    "capture",
    "catch",
    "checker",
    "chrome-lighthouse",
    "chromeframe",
    "classifier",
    "cloudflare",
    "convertify",
    "cookiehubverify/",
    "crawl",
    "cursor/",
    "cypress/",
    "dareboost",
    "datanyze",
    "dejaclick",
    "detect",
    "discovery",
    "dmbrowser",
    "download",
    "exaleadcloudview",
    "feed",
    "firephp",
    "foregenix",
    "functionize",
    "grab",
    "headless",
    "hotjar",
    "httrack",
    "hubspot marketing grader",
    "ibisbrowser",
    "infrawatch",
    "insight",
    "inspect",
    "iplabel",
    "library",
    "linkcheck",
    "linktiger",
    "mail.ru/",
    "manus-user/",
    "marketgoo/",
    "measure",
    "neustar wpm",
    "nutch",
    "offbyone",
    "openvas",
    "optimize",
    "pageburst",
    "pagespeed",
    "parser",
    "phantomjs",
    "pingdom",
    "playwright",
    "powermarks",
    "preview",
    "productfinder",
    "prospectingstudio",
    "proxy",
    "radar",
    "readable/",
    "retriever",
    "rexx;",
    "rigor",
    "scrape",
    "securityheaders",
    "selenium",
    "server",
    "silktide",
    "sindup/",
    "sogou",
    "sparkler/",
    "speedcurve",
    "spider",
    "splash",
    "statuscake",
    "supercleaner",
    "synapse",
    "synthetic",
    "testlocally",
    "tools",
    "torrent",
    "transcoder",
    "url",
    "validator",
    "virtuoso",
    "wappalyzer",
    "watchtowr",
    "webglance",
    "webkit2png",
    "whatcms/",
    "xtate/",
};

/* isbot's "^..." literal patterns. */
static const char *const bot_prefixes[] = {
    "<",
    "(",
    ";",
    "active",
    "ad muncher",
    "amaya",
    "apache/",
    "avsdevicesdk/",
    "azure",
    "biglotron",
    "blackbox exporter",
    "bot",
    "clamav ",
    "clamav/",
    "claude-code/",
    "client/",
    "cobweb/",
    "custom",
    "ddg_android",
    "ddg-android",
    "discourse",
    "downcast/",
    "duckduckgo",
    "email",
    "exodusmovement",
    "facebook",
    "getright/",
    "gozilla/",
    "hobbit",
    "hotzonu",
    "hwcdn/",
    "igetter/",
    "jeode/",
    "jetty/",
    "jigsaw",
    "microsoft bits",
    "movabletype",
    "navermailapp",
    "netsurf",
    "offline",
    "openai/",
    "owler",
    "php",
    "postman",
    "ps_daily/",
    "python",
    "rank",
    "read",
    "reed",
    "remove.bg/",
    "rest",
    "rss",
    "snapchat",
    "sora ",
    "space bison",
    "stape/",
    "svn",
    "swcd ",
    "taringa",
    "thumbor/",
    "track",
    "w3c",
    "webbandit/",
    "webcopier",
    "wget",
    "whatsapp",
    "wordpress",
    "xenu link sleuth",
    "yahoo",
    "yandex",
    "zoom marketplace/",
};

/* Patterns "x\b" (word_end), "\bx" (word_start) and "\bx\b" (both). */
static const char *const bot_word_end[] = {".com",      "agent",   "check", "collapsify",
                                           "hardenize", "monitor", "node",  "rss"};
static const char *const bot_word_start[] = {"bw/", "ort/", "time/"};
static const char *const bot_whole_word[] = {"perl", "dlc"};

static int word_at(const char *l, const char *w, int start, int end)
{
    size_t n = strlen(w);
    for (const char *p = strstr(l, w); p; p = strstr(p + 1, w))
        if ((!start || p == l || !is_word((unsigned char)p[-1])) &&
            (!end || !is_word((unsigned char)p[n])))
            return 1;
    return 0;
}

/* w not preceded by any of before[] (a lookbehind). */
static int not_after(const char *l, const char *w, const char *const *before, size_t nb)
{
    for (const char *p = strstr(l, w); p; p = strstr(p + 1, w)) {
        int bad = 0;
        for (size_t i = 0; i < nb && !bad; i++) {
            size_t k = strlen(before[i]);
            bad = (size_t)(p - l) >= k && !memcmp(p - k, before[i], k);
        }
        if (!bad)
            return 1;
    }
    return 0;
}

static size_t span_word(const char *s)
{
    size_t k = 0;
    while (is_word((unsigned char)s[k]))
        k++;
    return k;
}

static size_t span_digits(const char *s)
{
    size_t k = 0;
    while (isdigit((unsigned char)s[k]))
        k++;
    return k;
}

/* ^[\w .\-(?:):%]+(?:/v?\d+(?:\.\d+)?(?:\.\d{1,10})*?)?(?:,|$): "name" or "name/1.2.3". */
static int bare_product(const char *l)
{
    size_t k = 0;
    while (l[k] && (is_word((unsigned char)l[k]) || strchr(" .-(?:)%", l[k])))
        k++;
    if (k == 0)
        return 0;
    if (l[k] == '\0' || l[k] == ',')
        return 1;
    if (l[k] != '/')
        return 0;
    const char *p = l + k + 1;
    if (*p == 'v')
        p++;
    if (!isdigit((unsigned char)*p))
        return 0;
    for (int group = 0;; group++) {
        size_t d = span_digits(p);
        if (group > 1 && d > 10)
            return 0;
        p += d;
        if (*p == '\0' || *p == ',')
            return 1;
        if (*p != '.' || !isdigit((unsigned char)p[1]))
            return 0;
        p++;
    }
}

/* \d+\.\d+ exactly (n bytes). */
static int dotted2(const char *s, size_t n)
{
    size_t a = span_digits(s);
    if (!a || a >= n || s[a] != '.')
        return 0;
    size_t b = span_digits(s + a + 1);
    return b && a + 1 + b == n;
}

/* ^mozilla/\d\.\d\s[\w\.-]+$ and
 * ^mozilla/\d\.\d\s\((?:compatible;)?(?:\s?[\w\d-.]+[\s/]\d+\.\d+)?\)$ */
static int bare_mozilla(const char *l)
{
    if (strncmp(l, "mozilla/", 8) || !isdigit((unsigned char)l[8]) || l[9] != '.' ||
        !isdigit((unsigned char)l[10]) || !isspace((unsigned char)l[11]))
        return 0;
    const char *r = l + 12;
    size_t n = strlen(r);
    if (n && strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n)
        return 1;
    if (n < 2 || r[0] != '(' || r[n - 1] != ')')
        return 0;
    r++;
    n -= 2;
    if (n >= 11 && !strncmp(r, "compatible;", 11)) {
        r += 11;
        n -= 11;
    }
    if (n == 0)
        return 1;
    if (isspace((unsigned char)*r)) {
        r++;
        n--;
    }
    size_t k = strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789_.-");
    /* the run may give back its tail, but the separator must end it */
    return k > 0 && k < n && (isspace((unsigned char)r[k]) || r[k] == '/') &&
           dotted2(r + k + 1, n - k - 1);
}

/* The isbot patterns that need more than a substring test. */
static int bot_special(const char *l)
{
    size_t n = strlen(l);
    const char *p;
    for (p = strstr(l, " daum"); p; p = strstr(p + 1, " daum"))
        if (p[5] == ' ' || p[5] == '/')
            return 1;
    for (p = strstr(l, "news"); p; p = strstr(p + 1, "news")) /* (?:^|[^g])news(?!sapphire) */
        if ((p == l || p[-1] != 'g') && strncmp(p + 4, "sapphire", 8))
            return 1;
    /* (?<! channel/|google/)google(?!(?:wv|app|/google| pixel)) */
    for (p = strstr(l, "google"); p; p = strstr(p + 1, "google")) {
        int pre = ((size_t)(p - l) >= 9 && !memcmp(p - 9, " channel/", 9)) ||
                  ((size_t)(p - l) >= 7 && !memcmp(p - 7, "google/", 7));
        int post = !strncmp(p + 6, "wv", 2) || !strncmp(p + 6, "app", 3) ||
                   !strncmp(p + 6, "/google", 7) || !strncmp(p + 6, " pixel", 6);
        if (!pre && !post)
            return 1;
    }
    for (p = strstr(l, "bot"); p; p = strstr(p + 1, "bot")) { /* (?<! cu)bots?(?:\b|_) */
        if ((size_t)(p - l) >= 3 && !memcmp(p - 3, " cu", 3))
            continue;
        const char *e = p + 3;
        if (!is_word((unsigned char)*e) || *e == '_' ||
            (*e == 's' && (!is_word((unsigned char)e[1]) || e[1] == '_')))
            return 1;
    }
    static const char *const cam[] = {"cam"}, *const lib[] = {"lib"};
    if (not_after(l, "scan", cam, 1) || not_after(l, "http", lib, 1))
        return 1;
    if (n >= 2 && l[n - 1] == ';') { /* ;\s\w+;$ */
        size_t k = n - 1;
        while (k > 0 && is_word((unsigned char)l[k - 1]))
            k--;
        if (k < n - 1 && k >= 2 && isspace((unsigned char)l[k - 1]) && l[k - 2] == ';')
            return 1;
    }
    for (p = strchr(l, '@'); p; p = strchr(p + 1, '@')) { /* @[a-z][\w-]+\. */
        if (!isalpha((unsigned char)p[1]))
            continue;
        size_t k = 2;
        while (is_word((unsigned char)p[k]) || p[k] == '-')
            k++;
        if (k > 2 && p[k] == '.')
            return 1;
    }
    for (p = strstr(l, "/1.0;"); p; p = strstr(p + 1, "/1.0;")) /* \b\w+/1\.0; */
        if (p > l && is_word((unsigned char)p[-1]))
            return 1;
    for (p = strstr(l, "java"); p; p = strstr(p + 1, "java")) /* java(?!;) */
        if (p[4] != ';')
            return 1;
    for (p = strstr(l, "ptst"); p; p = strstr(p + 1, "ptst"))
        if ((p[4] == ' ' || p[4] == '/') && isdigit((unsigned char)p[5]))
            return 1;
    if (bare_product(l) || bare_mozilla(l) || (n >= 50 && !strchr(l, ' ')))
        return 1;
    size_t w = span_word(l);
    if (isdigit((unsigned char)l[0]) && !is_word((unsigned char)l[span_digits(l)]))
        return 1;                                  /* ^\d+\b */
    if (w >= 6 && !memcmp(l + w - 6, "search", 6)) /* ^\w*search\b */
        return 1;
    if (w > 0 && l[w] == '/') {
        size_t k = w + 1; /* ^\w+/[\w()]*$ */
        while (is_word((unsigned char)l[k]) || l[k] == '(' || l[k] == ')')
            k++;
        if (!l[k])
            return 1;
        /* ^\w+/\d\.\d\s\([\w@]+\)$ */
        const char *v = l + w + 1;
        if (isdigit((unsigned char)v[0]) && v[1] == '.' && isdigit((unsigned char)v[2]) &&
            isspace((unsigned char)v[3]) && v[4] == '(') {
            size_t m = 5;
            while (is_word((unsigned char)v[m]) || v[m] == '@')
                m++;
            if (m > 5 && v[m] == ')' && !v[m + 1])
                return 1;
        }
    }
    size_t h = 0; /* ^[\w\-]+/[\w]+$ */
    while (is_word((unsigned char)l[h]) || l[h] == '-')
        h++;
    if (h && l[h] == '/' && l[h + 1] && span_word(l + h + 1) == strlen(l + h + 1))
        return 1;
    if ((!strncmp(l, "zdm/", 4) && isdigit((unsigned char)l[4])) ||
        (!strncmp(l, "dispatch/", 9) && isdigit((unsigned char)l[9])))
        return 1;
    return 0;
}

int analytics_ua_bot(const char *ua)
{
    if (!ua || !*ua)
        return 0;
    char l[1024];
    lower(ua, l, sizeof(l));
    for (size_t i = 0; i < sizeof(bot_prefixes) / sizeof(bot_prefixes[0]); i++)
        if (!strncmp(l, bot_prefixes[i], strlen(bot_prefixes[i])))
            return 1;
    if (has_any(l, bot_words, sizeof(bot_words) / sizeof(bot_words[0])))
        return 1;
    for (size_t i = 0; i < sizeof(bot_word_end) / sizeof(bot_word_end[0]); i++)
        if (word_at(l, bot_word_end[i], 0, 1))
            return 1;
    for (size_t i = 0; i < sizeof(bot_word_start) / sizeof(bot_word_start[0]); i++)
        if (word_at(l, bot_word_start[i], 1, 0))
            return 1;
    for (size_t i = 0; i < sizeof(bot_whole_word) / sizeof(bot_whole_word[0]); i++)
        if (word_at(l, bot_whole_word[i], 1, 1))
            return 1;
    return bot_special(l);
}
