/* The service table: every service hearth runs, in start order. */
#ifndef HEARTH_SERVICES_H
#define HEARTH_SERVICES_H

#include "core/hc_service.h"

/** NULL-terminated list of registered services. */
extern const hc_service_t *const hearth_services[];

/** The service called name, or NULL. */
const hc_service_t *hearth_service_find(const char *name);

#endif
