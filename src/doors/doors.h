/* Layer doors (src/doors/): the web handlers, one per binary and URL
 * family. */
/* doors.h - the handlers. Each reads its own request format and says
 * how each outcome of the one admission pipeline (src/relay) is answered in that format; none has a
 * step of its own. Every handler takes the request and the process's
 * struct app (app.h) as ctx.
 *   call_handle          POST /api/call.php: the seed's drop-in (h_call.c)
 *   v1_handle            the OpenAI and Anthropic SDK routes (h_v1.c)
 *   status_handle        GET /api/status.php (h_status.c)
 *   queue_status_handle  GET /api/queue_status.php (h_queue_status.c)
 *   docs_handle          GET /api/: the page about the API (h_docs.c)
 *   metrics_handle       GET /metrics, Prometheus text (h_metrics.c) */
#ifndef RELAY_DOORS_H
#define RELAY_DOORS_H
#include "web.h"

void call_handle(struct web_req *r, void *ctx);
void v1_handle(struct web_req *r, void *ctx);
void status_handle(struct web_req *r, void *ctx);
void queue_status_handle(struct web_req *r, void *ctx);
void docs_handle(struct web_req *r, void *ctx);
void metrics_handle(struct web_req *r, void *ctx);
#endif
