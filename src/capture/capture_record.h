/* The rows heplify-server stores (homer7 schema), built from one decoded HEP packet and
 * its SIP parse: the target table, sid, create_date, protocol_header and data_header as
 * JSON text with heplify's keys in heplify's order, and raw. The ingest path builds one
 * per packet; the writer stores the fields as they are (PostgreSQL COPY, SQLite INSERT),
 * so an existing homer-app reads hearth's rows. Facts: ../shared/reference/capture.md. */
#ifndef CAPTURE_RECORD_H
#define CAPTURE_RECORD_H

#include "capture/capture_hep.h"
#include "capture/capture_sip.h"
#include "core/hc_buf.h"

#include <stdint.h>

/* Largest row text (sid + both headers + raw, with JSON escapes) a record may hold. */
#define CAPTURE_RECORD_MAX (1024 * 1024)

/* One row. The strings are NUL-terminated, valid UTF-8 without NUL bytes (PostgreSQL
 * text and jsonb refuse both), and point into buf: valid until the next build or free.
 *
 *   table            "hep_proto_1_call" | "hep_proto_1_registration" | "hep_proto_1_default"
 *                    (SIP, by CSeq method), "hep_proto_5_default" (RTCP), "hep_proto_54_default"
 *                    (ISUP), "hep_proto_100_default" (logs), "hep_proto_35_default" (any
 *                    other type >= 2); a static string
 *   sid              SIP: the Call-ID; ISUP: "min(opc,dpc):max(opc,dpc):cic"; others: the
 *                    correlation id (chunk 0x11)
 *   create_date_us   the HEP timestamp in µs since the epoch (UTC), or the receive time
 *                    when the sender left it 0; ts_sec/ts_usec are the same instant
 *   protocol_header  {"protocolFamily":2|10,"protocol":<ip proto>,"srcIp","dstIp",
 *                    "srcPort","dstPort","timeSeconds","timeUseconds","payloadType",
 *                    "captureId":"<node name, else decimal capture id>",
 *                    ["capturePass":"<auth key>",] "correlation_id":"<chunk 0x11, else
 *                    X-CID, else Call-ID>"}
 *   data_header      SIP: {"ruri_user","ruri_domain","from_user","from_tag","to_user",
 *                    "to_tag","callid","cseq":"1 INVITE","method":"INVITE"|"200",
 *                    "user_agent"} then, only when present and in this order,
 *                    "from_domain","to_domain","via","contact_user","contact_domain",
 *                    "pid_user","auth_user","server","content_type","reason" (Reason
 *                    header),"callid_aleg" (X-CID); all strings.
 *                    ISUP: {"cic","dpc","opc","msg_name","called_number","calling_number",
 *                    "callid"}; others: {"node":"<captureId>","proto":"rtcp"|"log"|...}
 *   raw              the payload minus NUL bytes and invalid UTF-8 */
typedef struct capture_record {
    const char *table;
    int64_t create_date_us;
    uint32_t ts_sec, ts_usec;
    const char *sid;
    size_t sid_len;
    const char *protocol_header;
    size_t protocol_header_len;
    const char *data_header;
    size_t data_header_len;
    const char *raw;
    size_t raw_len;
    hc_buf_t buf; /* owns the text; reused across builds */
} capture_record_t;

/** Prepares an empty record (no allocation until the first build). */
void capture_record_init(capture_record_t *r);

/** Builds the row of packet h. s is h's SIP parse for a SIP packet, or NULL (SIP packets
 *  are then parsed here). recv_us is the receive time in µs, used when the HEP timestamp
 *  is 0. Returns 0, -EINVAL when heplify-server would refuse the packet (SIP of 32 bytes
 *  or less, without Call-ID or CSeq method; another type without a correlation id; type
 *  0), or -ENOBUFS past CAPTURE_RECORD_MAX. On error the record holds no row. */
int capture_record_build(capture_record_t *r, const capture_hep_t *h, const capture_sip_t *s,
                         int64_t recv_us);

/** Frees the record's memory; it may be built again afterwards. */
void capture_record_free(capture_record_t *r);

/** The SIP table for a CSeq method: INVITE ACK BYE CANCEL UPDATE PRACK REFER INFO NOTIFY
 *  → "hep_proto_1_call", REGISTER → "hep_proto_1_registration", else
 *  "hep_proto_1_default". */
const char *capture_record_sip_table(capture_str_t cseq_method);

/** Appends n bytes of p to b without NUL bytes and invalid UTF-8 sequences (dropped byte
 *  by byte); with json, also escaped as the inside of a JSON string. Returns 0 or
 *  -ENOBUFS (nothing appended). */
int capture_record_clean(hc_buf_t *b, const char *p, size_t n, int json);

#endif
