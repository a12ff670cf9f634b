/* The one table that lists hearth's services. Adding a service: declare its
 * hc_service_t in its folder and add one line here. */
#include "services.h"
#include "agent/agent.h"
#include "analytics/analytics.h"
#include "capture/capture.h"
#include "certs/certs.h"
#include "proxy/proxy.h"

#include <string.h>

const hc_service_t *const hearth_services[] = {
    &proxy_service,
    &certs_service,
    &analytics_service,
    &capture_service,
    &agent_service,
    NULL,
};

const hc_service_t *hearth_service_find(const char *name)
{
    for (const hc_service_t *const *s = hearth_services; *s; s++)
        if (!strcmp((*s)->name, name))
            return *s;
    return NULL;
}
