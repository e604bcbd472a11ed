/* waitout.c - pass-through destination that survives an early 200. */
#include <stdio.h>
#include <string.h>
#include "resp.h"
#include "waitout.h"

#define WAITOUT_ERR_MAX 4096   /* bytes of an upstream error body kept */

static const char waitout_sse_headers[] =
	"Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";

void waitout_init(struct waitout *w, struct web_req *r, int stream,
		  waitout_sse_error_fn sse_error)
{
	memset(w, 0, sizeof(*w));
	w->r = r;
	w->stream = stream;
	w->sse_error = sse_error;
	buf_init(&w->err, WAITOUT_ERR_MAX);
}

void waitout_free(struct waitout *w)
{
	buf_free(&w->err);
}

int waitout_open(const struct waitout *w)
{
	return w->r->headers_sent;
}

int waitout_tick(void *ctx, long long position)
{
	struct waitout *w = ctx;
	char line[80];
	int n;

	if (!w->stream)
		return web_gone_now(w->r);
	if (!w->r->headers_sent &&
	    resp_start(w->r, 200, "text/event-stream", waitout_sse_headers) < 0)
		return 1;
	n = snprintf(line, sizeof(line), ": queued, position %lld\n\n", position);
	return web_write(w->r, line, (size_t)n) || web_flush(w->r);
}

static int waitout_start(void *ctx, int status, const char *ct, int sse)
{
	struct waitout *w = ctx;

	if (!w->r->headers_sent)
		return resp_start(w->r, status, ct, sse ? waitout_sse_headers : NULL);
	/* The stream is open: only a successful event stream can follow. */
	if (status >= 300 || !sse) {
		w->late_err = 1;
		w->status = status;
	}
	return 0;
}

static int waitout_write(void *ctx, const char *p, size_t n)
{
	struct waitout *w = ctx;

	if (w->late_err) {
		size_t room = w->err.max - w->err.len;
		buf_append(&w->err, p, n < room ? n : room);
		return 0;
	}
	return web_write(w->r, p, n);
}

static int waitout_flush(void *ctx)
{
	struct waitout *w = ctx;

	return w->late_err ? 0 : web_flush(w->r);
}

void waitout_dest(struct waitout *w, struct relay_dest *d)
{
	d->start = waitout_start;
	d->write = waitout_write;
	d->flush = waitout_flush;
	d->ctx = w;
}

int waitout_finish(struct waitout *w, const struct relay_outcome *oc)
{
	char msg[WAITOUT_ERR_MAX + 64];

	if (!w->r->headers_sent)
		return 0;
	if (w->late_err) {
		snprintf(msg, sizeof(msg), "upstream HTTP %d: %.*s", w->status,
			 (int)w->err.len, w->err.data ? w->err.data : "");
		w->sse_error(w->r, w->status, msg);
	} else if (!oc->started) {
		snprintf(msg, sizeof(msg), "%s", oc->error[0] ? oc->error : "upstream failed");
		w->sse_error(w->r, oc->status ? oc->status : 502, msg);
	}
	return 1;
}
