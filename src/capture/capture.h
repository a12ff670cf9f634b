/* hearth capture: Homer + heplify-server's job in one service. Start reading at
 * capture_service.c (options, start-up, the staged stop), then follow a packet:
 *   capture_ingest.c  UDP (recvmmsg) and TCP (HEP3-length framing) listeners; decode
 *                     (capture_hep.h), --hep-password, --dedup, SIP parse (capture_sip.h),
 *                     heplify's row (capture_record.h); refusals counted by reason
 *   capture_batch.c   the bounded queue: full means dropped and counted; COPY batches to
 *                     the store's single writer thread (hc_store.h)
 *   capture_calls.c   one summary row per Call-ID kept on write (capture_calls)
 *   capture_schema.c  heplify-server's homer7 tables, partitions, rotation, retention
 *   capture_api.c     login, search, stats, heartbeat, /metrics, the UI (web/capture)
 *   capture_view.c    one call with its legs and messages; capture_export.c its pcap,
 *                     text and SVG ladder; capture_live.c the live feed (SSE)
 *
 * The HTTP API (the contract outside tools and web/capture use; times in ms unless the
 * name ends in _us; every /api/ path but login and heartbeat takes a Bearer token):
 *   POST /api/auth/login {"username","password"}   -> {"token"}
 *   GET  /api/calls?from=&to=&caller=&callee=&callid=&method=&status=&ip=&ua=&limit=&offset=
 *        -> {"total","calls":[{"callid","caller","callee","start","end","status",
 *            "messages","method","src_ip","dst_ip","user_agent","correlation",
 *            "setup_ms","duration_ms"}]}
 *        caller/callee/ua accept '*' wildcards; status "4xx" selects a class.
 *   GET  /api/calls/{callid} -> {"callid","call":{...summary},"messages":[{"time_us",
 *        "callid","src","dst","transport","method"|"status","cseq","raw","table"}],
 *        "legs":[{...summary}]}
 *   GET  /api/calls/{callid}.pcap | .txt | /flow.svg
 *   GET  /api/stats?from=&to= -> {"calls","answered","failed","asr","codes":{"200":n},
 *        "avg_duration_ms","avg_setup_ms","ingest":{"packets","errors","dropped",
 *        "duplicates","queue_depth","rows_written","rows_failed","socket_drops"}}
 *        (calls, ASR and times over INVITE calls started in the range)
 *   GET  /api/live             server-sent events "call" with a call summary as data
 *   GET  /api/heartbeat        200 {"ok":true}, no database
 *   GET  /metrics              Prometheus text
 */
#ifndef CAPTURE_H
#define CAPTURE_H

#include "core/hc_service.h"

/** The service: `hearth capture [--hep ADDR] [--http ADDR] [--retain-days N]
 *  [--dedup DURATION] [--hep-password SECRET]`. */
extern const hc_service_t capture_service;

#endif
