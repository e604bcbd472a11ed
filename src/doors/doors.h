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
 *   metrics_handle       GET /metrics, Prometheus text (h_metrics.c)
 *   catalog_handle       GET /api/catalog (h_proxy.c, issue 28)
 *   genurl_handle        POST /api/generate-url (h_proxy.c) */
#ifndef RELAY_DOORS_H
#define RELAY_DOORS_H
#include "web.h"

void call_handle(struct web_req *r, void *ctx);
void v1_handle(struct web_req *r, void *ctx);
void status_handle(struct web_req *r, void *ctx);
void queue_status_handle(struct web_req *r, void *ctx);
void docs_handle(struct web_req *r, void *ctx);
void metrics_handle(struct web_req *r, void *ctx);

struct app;

/* The translation proxy (h_proxy.c; seed peer-translation-proxy-api):
 * the provider catalog, proxy URLs for a member's key, and the token of
 * /proxy/{token}/... (whose request then runs v1_handle's door). */
void catalog_handle(struct web_req *r, struct app *a);
void genurl_handle(struct web_req *r, struct app *a);

/* The seed's error body {error_code, message, provider, endpoint_group,
 * request_id, docs_url} with status and extra header lines (or NULL). */
void proxy_err(struct web_req *r, int status, const char *code, const char *msg,
	       const char *provider, const char *group, const char *extra);
/* The seed's error code for an HTTP status (code: a route's own code,
 * kept when it is one of the seed's). */
const char *proxy_code(int status, const char *code);

/* What a proxy token opens to. key is the member's relay key (clear,
 * this request's memory only). */
struct proxy_tok {
	char key[1100];
	int anthropic;                /* the source protocol */
	char backend[65];             /* "" = the pool */
	char model_force[256];        /* "" = the client's model */
};
enum { PROXY_TOK_OK = 0, PROXY_TOK_MISSING, PROXY_TOK_INVALID, PROXY_TOK_EDB };
/* Opens the n bytes of token tok (no NUL needed): PROXY_TOK_*. */
int proxy_token_open(struct app *a, const char *tok, size_t n, struct proxy_tok *t);
#endif
