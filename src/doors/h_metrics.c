/* h_metrics.c - GET /metrics: Prometheus exposition, for the operator's
 * monitoring only (metrics_allow addresses, or the metrics_token Bearer
 * token). */
#include <string.h>
#include <strings.h>
#include "app.h"
#include "doors.h"
#include "acl.h"
#include "buf.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "resp.h"
#include "sha256.h"

#define METRICS_OUT_MAX (8u * 1024u * 1024u)

/* 1 if the request may read the metrics. A presented token decides on its
 * own (a wrong one is refused even from an allowed address, so a
 * misconfigured scraper is noticed); without one the address decides. */
static int metrics_allowed(const struct cfg *c, struct web_req *r)
{
	const char *auth = web_header(r, "Authorization");

	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		const char *t = auth + 7;
		size_t n = strlen(c->metrics_token);

		return n && strlen(t) == n && ct_equal(t, c->metrics_token, n);
	}
	return acl_match(c->metrics_allow, web_param(r, "REMOTE_ADDR"));
}

void metrics_handle(struct web_req *r, void *ctx)
{
	struct app *a = ctx;
	struct buf out;
	long long rows;

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		resp_error(r, 405, "请使用GET方法", NULL);
		return;
	}
	if (!app_ready(a, r))
		return;
	if (!metrics_allowed(&a->cfg, r)) {
		log_warn("metrics: refused %s", web_param(r, "REMOTE_ADDR") ?
			 web_param(r, "REMOTE_ADDR") : "(no address)");
		resp_error(r, 403, "forbidden: /metrics is restricted (metrics_allow, metrics_token)",
			   NULL);
		return;
	}
	/* A failed rollup only delays the counters; the scrape goes on. */
	if (metrics_rollup(a->db, &rows))
		log_warn("metrics: rollup failed: %s", db_error(a->db));
	buf_init(&out, METRICS_OUT_MAX);
	metrics_render(a->db, &a->cfg, &out);
	resp_start(r, 200, "text/plain; version=0.0.4; charset=utf-8",
		   "Cache-Control: no-store\r\n");
	if (strcmp(r->method, "HEAD") != 0)
		web_write(r, out.data ? out.data : "", out.len);
	buf_free(&out);
}
