/* app.c - process setup shared by all binaries. */
#include <stdio.h>
#include <string.h>
#include "buf.h"
#include "app.h"
#include "meterc.h"
#include "db.h"
#include "log.h"
#include "resp.h"
#include "up.h"

void app_init(struct app *a, const char *prog)
{
	memset(a, 0, sizeof(*a));
	a->prog = prog;
	log_init(prog);
	if (cfg_load(&a->cfg, a->cfg_err, sizeof(a->cfg_err)) != 0) {
		log_error("configuration error: %s", a->cfg_err);
		return;
	}
	if (backends_init(&a->bk, &a->cfg, a->cfg_err, sizeof(a->cfg_err))) {
		/* a master key file that is missing or readable by others:
		 * refuse to run rather than handle keys carelessly */
		log_error("configuration error: %s", a->cfg_err);
		return;
	}
	a->db = db_new(&a->cfg);
	a->up = up_new(&a->cfg);
	if (!a->db || !a->up) {
		snprintf(a->cfg_err, sizeof(a->cfg_err), "out of memory");
		return;
	}
	a->cfg_ok = 1;
	mfront_init(&a->mf, &a->cfg);
}

/* Between requests (web_set_idle): bin/meterd going away. */
static int app_idle_fd(void *ctx)
{
	struct app *a = ctx;

	return a->mf.mc ? meterc_idle_fd(a->mf.mc, a->db) : -1;
}

static void app_idle(void *ctx)
{
	struct app *a = ctx;

	meterc_idle(a->mf.mc, a->db);
}

int app_web_main(const char *prog, web_handler h)
{
	static struct app a;
	int rc;

	app_init(&a, prog);
	if (a.cfg_ok)
		web_set_write_timeout(a.cfg.client_write_timeout);
	web_set_idle(app_idle_fd, app_idle);
	rc = web_run(h, &a);
	app_free(&a);
	return rc;
}

void app_free(struct app *a)
{
	mfront_free(&a->mf, a->db);
	db_close(a->db);
	up_free(a->up);
	backends_free(&a->bk);
	a->db = NULL;
	a->up = NULL;
}

struct meterc *app_meterc(struct app *a)
{
	return a->cfg_ok ? mfront_meterc(&a->mf) : NULL;
}

int app_ready(struct app *a, struct web_req *r)
{
	char msg[600];

	if (a->cfg_ok)
		return 1;
	snprintf(msg, sizeof(msg), "系统配置错误: %s", a->cfg_err);
	resp_error(r, 500, msg, NULL);
	return 0;
}

int app_read_body(struct app *a, struct web_req *r, struct buf *b,
		  const char **why)
{
	long long max = a->cfg.max_body_bytes;
	char chunk[65536];

	buf_init(b, (size_t)max);
	/* Refuse a declared oversize body before reading any of it. */
	if (r->content_length > max) {
		*why = "请求体过大";
		return 413;
	}
	for (;;) {
		size_t want = sizeof(chunk);
		long got;
		if (r->content_length >= 0) {
			long long left = r->content_length - (long long)b->len;
			if (left <= 0)
				break;
			if ((long long)want > left)
				want = (size_t)left;
		}
		got = web_read(r, chunk, want);
		if (got <= 0)
			break;
		if (buf_append(b, chunk, (size_t)got)) {
			*why = "请求体过大";
			return 413;
		}
	}
	if (b->len == 0) {
		*why = "请求体为空";
		return 400;
	}
	if (r->content_length >= 0 && (long long)b->len < r->content_length) {
		*why = "请求体不完整";
		return 400;
	}
	return 0;
}
