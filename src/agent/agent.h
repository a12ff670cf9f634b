/* hearth agent: heplify's job. libpcap captures SIP on an interface (agent_capture.c),
 * frames are decoded and IP fragments put back together (agent_decode.c,
 * agent_defrag.c), SIP over TCP is cut into messages (agent_reasm.c), -dim and -dd
 * filter (agent_filter.c), and each message leaves as one HEP3 packet to every -hs
 * server over UDP or TCP (agent_send.c). Start reading at agent_service.c (flags). */
#ifndef AGENT_H
#define AGENT_H

#include "core/hc_service.h"

/** The service: `hearth agent [-i any] [-hs host:port[,host:port]] [-m SIP]
 *  [-pr 5060-5090] [-dim METHODS] [-hi ID] [-hn NAME] [-hp KEY] [-nt udp|tcp] [-dd]
 *  [-prometheus ADDR]`, heplify's flags with heplify's defaults. */
extern const hc_service_t agent_service;

/* The -prometheus listener's endpoints. */
#define AGENT_API_METRICS "/metrics"
#define AGENT_API_HEARTBEAT "/api/heartbeat" /* 200 {"ok":true,"capturing":...} */

#endif
