/* floor.c - the benchmark's lower bounds for any FastCGI relay on this stack.
 *
 * Two tiny FastCGI programs, built from this file, that bench/run puts in
 * place of cgi-bin/call behind the same lighttpd configuration:
 *
 *   floor-answer   (FLOOR_FORWARD=0) reads the request and answers a fixed
 *                  chat.completion: the cost of the web server hop alone.
 *   floor-forward  (FLOOR_FORWARD=1) reads the body and forwards it with the
 *                  relay's own up_ module (libcurl, keep-alive) to
 *                  openai_url, passing the answer back: a relay with no key
 *                  check, no limits, no slot, no metering, no parsing.
 *
 * They use the relay's web_, cfg_ and up_ modules, so the difference
 * between (f) and llm-relay is exactly what call.php adds on top of moving
 * bytes: authentication, the atomic reservation, the slot lock and the
 * metering in MariaDB. Not installed; never used outside bench/. */
#include <stdio.h>
#include <string.h>
#include "app.h"
#include "buf.h"
#include "resp.h"
#include "up.h"

#ifndef FLOOR_FORWARD
#define FLOOR_FORWARD 0
#endif

static const char floor_fixed[] =
	"{\"id\":\"chatcmpl-floor\",\"object\":\"chat.completion\",\"model\":\"bench\","
	"\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},"
	"\"finish_reason\":\"stop\"}],"
	"\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}";

static int floor_start(void *ctx, long status, const char *content_type)
{
	return resp_start(ctx, (int)status, content_type, NULL);
}

static int floor_data(void *ctx, const char *p, size_t n)
{
	return web_write(ctx, p, n);
}

static void floor_handle(struct web_req *r, void *ctx)
{
	struct app *a = ctx;
	struct buf body;
	const char *why = NULL;
	int st;

	if (!app_ready(a, r))
		return;
	st = app_read_body(a, r, &body, &why);
	if (st) {
		resp_error(r, st, why, NULL);
	} else if (!FLOOR_FORWARD) {
		resp_start(r, 200, "application/json", NULL);
		web_write(r, floor_fixed, sizeof(floor_fixed) - 1);
	} else {
		struct up_req rq = { .fmt = FMT_OPENAI, .body = body.data,
				     .body_len = body.len };
		struct up_sink sink = { floor_start, floor_data, r };
		struct up_result res;

		if (up_forward(a->up, &rq, &sink, &res) == RE_EUPSTREAM &&
		    !res.started)
			resp_error(r, 502, res.error, NULL);
	}
	buf_free(&body);
	web_finish(r);
}

int main(void)
{
	return app_web_main(FLOOR_FORWARD ? "floor-forward" : "floor-answer",
			    floor_handle);
}
