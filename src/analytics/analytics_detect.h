/* Who sent an event, as Umami's detect.ts and ip.ts work it out: the client IP from the
 * header list (never the socket), browser/OS/device from the User-Agent, the isbot
 * check, IGNORE_IP matching and geo from CDN headers or a MaxMind database. */
#ifndef ANALYTICS_DETECT_H
#define ANALYTICS_DETECT_H

#include "analytics/analytics_event.h"
#include "core/hc_http_server.h"

typedef struct analytics_detect analytics_detect_t;

typedef struct analytics_detect_opts {
    const char *client_ip_header; /* CLIENT_IP_HEADER, may be NULL */
    const char *ignore_ip;        /* IGNORE_IP: comma list of IPs and CIDRs, may be NULL */
    const char *geolite_db_path;  /* GEOLITE_DB_PATH, may be NULL (no MaxMind lookups) */
} analytics_detect_opts_t;

/** Parses the options (IGNORE_IP, opens the MaxMind database). Returns 0, or -EINVAL
 *  with a reason in why (bad CIDR, unreadable database). Thread-safe to use after. */
int analytics_detect_new(const analytics_detect_opts_t *o, analytics_detect_t **out, char *why,
                         size_t whylen);
void analytics_detect_free(analytics_detect_t *d);

/** Fills, for each field the payload left empty: ip (from the headers), user_agent,
 *  browser, os, device (from UA and screen), country/region/city (CDN headers, else
 *  MaxMind, never for private IPs or when the payload gave ip). */
void analytics_detect_fill(const analytics_detect_t *d, const hc_http_req_t *req,
                           analytics_event_t *ev);

/** 1 when ua is a bot as isbot 5 judges (empty or missing UA is not a bot). */
int analytics_is_bot(const char *ua);

/** 1 when ip matches IGNORE_IP. */
int analytics_ip_ignored(const analytics_detect_t *d, const char *ip);

/** The client IP as Umami's getIpAddress finds it: custom_header (CLIENT_IP_HEADER, may
 *  be NULL) first, then Umami's header list; x-forwarded-for's first element, forwarded's
 *  for=; ports and IPv6 brackets stripped, IPv4-mapped IPv6 as IPv4. "" when no header. */
void analytics_client_ip(const hc_http_req_t *req, const char *custom_header, char *out,
                         size_t cap);

/* User-Agent classification; pure and thread-safe. The four below answer from a small
 * per-thread memo of recent User-Agents (analytics_detect.c) and scan on a miss. */

/** detect-browser's browserName(ua): "chrome", "firefox", "edge-chromium", "ios", ...;
 *  NULL when no rule matches (or ua is empty). */
const char *analytics_browser_name(const char *ua);

/** detect-browser's detectOS(ua): "Windows 10", "Mac OS", "Linux", "Android OS", "iOS",
 *  "Chrome OS", ...; NULL when none matches. */
const char *analytics_os_name(const char *ua);

/** Umami v3's getDevice(ua, screen): the ua-parser-js device type ("mobile", "tablet",
 *  "smarttv", "console"), else "desktop", or "laptop" when a screen is given whose width
 *  is at most 1920. screen may be NULL. */
const char *analytics_device_type(const char *ua, const char *screen);

/* The scans themselves (analytics_detect_ua.c), without the memo: browser and OS as
 * above, the device type from the UA alone ("" when it names none) and the isbot verdict. */
const char *analytics_ua_browser(const char *ua);
const char *analytics_ua_os(const char *ua);
const char *analytics_ua_device(const char *ua);
int analytics_ua_bot(const char *ua);

#endif
