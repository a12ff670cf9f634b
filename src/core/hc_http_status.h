/* HTTP status reason phrases: the status lines of hearth's HTTP server and the bodies
 * of the answers the proxy writes itself, both as Go's net/http words them (Traefik's). */
#ifndef HC_HTTP_STATUS_H
#define HC_HTTP_STATUS_H

/** Go's http.StatusText of status ("OK", "Request Entity Too Large"); "" for a code it
 *  does not name (a status line then says "status code N", as Go's). */
const char *hc_http_status_text(int status);

#endif
