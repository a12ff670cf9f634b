/* hearth analytics: Umami v3.1's job for the same tracker, API and database. Start
 * reading at analytics_service.c (options, start, stop), then analytics_ingest.c (the
 * write path of /api/send), analytics_schema.c (the tables, and how SQLite holds them)
 * and analytics_int.h (what the files share). */
#ifndef ANALYTICS_H
#define ANALYTICS_H

#include "core/hc_service.h"

/** The service: `hearth analytics`, configured with Umami's environment (PORT,
 *  DATABASE_URL, APP_SECRET, ADMIN_PASSWORD, ...; `hearth analytics --help`). */
extern const hc_service_t analytics_service;

/* Paths every deployment relies on. */
#define ANALYTICS_API_HEARTBEAT "/api/heartbeat"
#define ANALYTICS_API_SEND "/api/send"
#define ANALYTICS_API_BATCH "/api/batch"
#define ANALYTICS_METRICS "/metrics"

#endif
