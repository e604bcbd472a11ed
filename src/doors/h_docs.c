/* h_docs.c - GET /api/ (and /): the HTML documentation and status page.
 *
 * The page is templates/docs.html, compiled into the binary; an operator
 * who wants a customised page points $RELAY_TEMPLATES at a folder holding
 * their own docs.html. The live numbers come from status_build(), the same
 * code as status.php, so the two never disagree. Every dynamic value goes
 * through tmpl's TMPL_HTML escaping; nothing here writes markup itself. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "app.h"
#include "doors.h"
#include "buf.h"
#include "log.h"
#include "resp.h"
#include "status.h"
#include "tmpl.h"

#define DOCS_TEMPLATE "docs.html"
#define DOCS_TEMPLATE_MAX (1024 * 1024)      /* an operator's file, capped */
#define DOCS_PAGE_MAX (4 * 1024 * 1024)
#define DOCS_PATH_MAX 256                   /* longest URL path we reflect */

/* The template of this process: loaded on the first request and kept until
 * exit (one per process, so never freed). A failed load is retried on the
 * next request so an operator can fix the file without a restart. */
static struct {
	int loaded;
	const char *text;     /* into `file` or the compiled-in bytes */
	size_t len;
	struct buf file;      /* owns a template read from $RELAY_TEMPLATES */
	int warned;           /* unknown placeholders already logged */
} docs_tpl;

/* Reads dir/docs.html into docs_tpl.file. Returns 0, or -1 with a message
 * for the 500 answer in err (naming the variable, like a bad config key). */
static int docs_read_file(const char *dir, char *err, size_t errlen)
{
	char path[4096], chunk[16384];
	struct stat sb;
	int fd, n, rc = -1;

	n = snprintf(path, sizeof(path), "%s/%s", dir, DOCS_TEMPLATE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "RELAY_TEMPLATES: path too long");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "RELAY_TEMPLATES: cannot open %.400s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "RELAY_TEMPLATES: %.400s is not a file", path);
		goto out;
	}
	buf_reset(&docs_tpl.file);
	for (;;) {
		ssize_t got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(err, errlen, "RELAY_TEMPLATES: cannot read %.400s: %s",
				 path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		if (buf_append(&docs_tpl.file, chunk, (size_t)got) != RE_OK) {
			snprintf(err, errlen, "RELAY_TEMPLATES: %.400s is larger than %d bytes",
				 path, DOCS_TEMPLATE_MAX);
			goto out;
		}
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Makes docs_tpl usable: $RELAY_TEMPLATES/docs.html when the variable is
 * set (then a missing file is an error, as a named RELAY_CONFIG is), else
 * the compiled-in copy. Returns 0, or -1 with err set. */
static int docs_load(char *err, size_t errlen)
{
	const char *dir = getenv("RELAY_TEMPLATES");
	size_t i;

	if (docs_tpl.loaded)
		return 0;
	if (dir && *dir) {
		if (!docs_tpl.file.max)
			buf_init(&docs_tpl.file, DOCS_TEMPLATE_MAX);
		if (docs_read_file(dir, err, errlen) != 0)
			return -1;
		docs_tpl.text = buf_cstr(&docs_tpl.file);
		docs_tpl.len = docs_tpl.file.len;
		docs_tpl.loaded = 1;
		return 0;
	}
	for (i = 0; i < tmpl_file_count; i++) {
		if (strcmp(tmpl_files[i].name, DOCS_TEMPLATE) == 0) {
			docs_tpl.text = (const char *)tmpl_files[i].data;
			docs_tpl.len = tmpl_files[i].len;
			docs_tpl.loaded = 1;
			return 0;
		}
	}
	snprintf(err, errlen, "templates/%s was not compiled in; set RELAY_TEMPLATES",
		 DOCS_TEMPLATE);
	return -1;
}

/* 1 if s is a usable Host: 1..255 of [A-Za-z0-9.-:[]] (names, IPv4,
 * [IPv6], :port). The value is reflected into the page and into copyable
 * shell, Python and JS strings, so nothing that could quote or break out
 * of any of them gets through. */
static int docs_host_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 255)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789.-:[]") == n;
}

/* 1 if s is 1..5 digits. */
static int docs_port_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n >= 1 && n <= 5 && strspn(s, "0123456789") == n;
}

/* The URL path under which call.php lives, from SCRIPT_NAME: the folder of
 * ".../docs", the ".../api" part of ".../api/..." or ".../api", else "/api".
 * Written to out (outlen > DOCS_PATH_MAX); only [A-Za-z0-9._~/-] is kept,
 * for the same reason as in docs_host_ok. */
static void docs_base_path(const char *script, char *out, size_t outlen)
{
	size_t n = script ? strlen(script) : 0, keep;
	const char *api;

	snprintf(out, outlen, "/api");
	if (n == 0 || n > DOCS_PATH_MAX || script[0] != '/' ||
	    strspn(script, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789._~/-") != n)
		return;
	if (n >= 5 && strcmp(script + n - 5, "/docs") == 0)
		keep = n - 5;
	else if ((api = strstr(script, "/api/")) != NULL)
		keep = (size_t)(api - script) + 4;
	else if (n >= 4 && strcmp(script + n - 4, "/api") == 0)
		keep = n;
	else
		return;
	snprintf(out, outlen, "%.*s", (int)keep, script);
}

/* Fills out with "scheme://host/path" (no trailing slash), the absolute
 * base of this installation's endpoints as the client reached it. */
static void docs_base_url(const struct web_req *r, char *out, size_t outlen)
{
	const char *https = web_param(r, "HTTPS");
	const char *rs = web_param(r, "REQUEST_SCHEME");
	const char *host = web_param(r, "HTTP_HOST");
	const char *scheme = "http";
	char hostbuf[300], path[DOCS_PATH_MAX + 1];

	if (https && (strcasecmp(https, "on") == 0 || strcmp(https, "1") == 0))
		scheme = "https";
	else if (rs && strcasecmp(rs, "https") == 0)
		scheme = "https";
	if (docs_host_ok(host)) {
		snprintf(hostbuf, sizeof(hostbuf), "%s", host);
	} else {
		const char *name = web_param(r, "SERVER_NAME");
		const char *port = web_param(r, "SERVER_PORT");
		int dflt = port && strcmp(port, strcmp(scheme, "https") == 0 ?
					  "443" : "80") == 0;

		if (!docs_host_ok(name))
			name = "localhost";
		if (docs_port_ok(port) && !dflt && !strchr(name, ':'))
			snprintf(hostbuf, sizeof(hostbuf), "%s:%s", name, port);
		else
			snprintf(hostbuf, sizeof(hostbuf), "%s", name);
	}
	docs_base_path(web_param(r, "SCRIPT_NAME"), path, sizeof(path));
	snprintf(out, outlen, "%s://%s%s", scheme, hostbuf, path);
}

/* o.k1[.k2[.k3]] as a borrowed string (owned by o), or NULL when a level
 * is missing or the value is not a string. Unused keys are NULL. */
static const char *docs_jstr(struct json_object *o, const char *k1,
			     const char *k2, const char *k3)
{
	const char *path[3] = { k1, k2, k3 };
	struct json_object *v = o;

	for (unsigned i = 0; i < 3 && path[i]; i++)
		if (!json_object_object_get_ex(v, path[i], &v))
			return NULL;
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* Writes stats.<name> of the status object as decimal into out, or "-" when
 * the database did not answer (its zeros would be a lie). */
static void docs_stat(struct json_object *st, int db_ok, const char *name,
		      char *out, size_t outlen)
{
	struct json_object *stats, *v;

	if (db_ok && json_object_object_get_ex(st, "stats", &stats) &&
	    json_object_object_get_ex(stats, name, &v))
		snprintf(out, outlen, "%lld", (long long)json_object_get_int64(v));
	else
		snprintf(out, outlen, "-");
}

/* Renders the page into page (caller owns it). Returns 0 or -1. */
static int docs_render(struct app *a, struct web_req *r, struct buf *page)
{
	struct json_object *st;
	const char *health, *db, *health_text, *health_class;
	char base[600], qlen[24], proc[24], reqs[24], toks[24], slots[16], qmax[16];
	int code, db_ok, any_ep, rc = -1;
	enum relay_err err;
	size_t unknown = 0;

	docs_base_url(r, base, sizeof(base));
	st = status_build(a, &code);
	health = docs_jstr(st, "status", NULL, NULL);
	db = docs_jstr(st, "checks", "database", "status");
	if (!health)
		health = "unknown";
	if (!db)
		db = "unknown";
	db_ok = strcmp(db, "connected") == 0;
	if (strcmp(health, "healthy") == 0) {
		health_text = "正常";
		health_class = "ok";
	} else if (strcmp(health, "degraded") == 0) {
		health_text = "部分降级";
		health_class = "warn";
	} else if (strcmp(health, "unhealthy") == 0) {
		health_text = "不可用";
		health_class = "bad";
	} else {
		health_text = "未知";
		health_class = "warn";
	}
	docs_stat(st, db_ok, "queue_length", qlen, sizeof(qlen));
	docs_stat(st, db_ok, "processing", proc, sizeof(proc));
	docs_stat(st, db_ok, "today_requests", reqs, sizeof(reqs));
	docs_stat(st, db_ok, "today_tokens", toks, sizeof(toks));
	snprintf(slots, sizeof(slots), "%d", a->cfg.upstream_slots);
	snprintf(qmax, sizeof(qmax), "%d", a->cfg.queue_max);
	/* Configured or not, never the URL: its path or query may hold a
	 * credential, and clients only need to know which format works. */
	any_ep = a->cfg.openai_url[0] || a->cfg.anthropic_url[0];
	{
		const struct tmpl_var vars[] = {
			{ "base_url", base, TMPL_HTML },
			{ "status", health, TMPL_HTML },
			{ "status_text", health_text, TMPL_HTML },
			{ "status_class", health_class, TMPL_HTML },
			{ "timestamp", docs_jstr(st, "timestamp", NULL, NULL), TMPL_HTML },
			{ "database", db, TMPL_HTML },
			{ "database_class", db_ok ? "ok" : "bad", TMPL_HTML },
			{ "queue_length", qlen, TMPL_HTML },
			{ "processing", proc, TMPL_HTML },
			{ "today_requests", reqs, TMPL_HTML },
			{ "today_tokens", toks, TMPL_HTML },
			{ "openai", a->cfg.openai_url[0] ? "已配置" : "未配置", TMPL_HTML },
			{ "openai_class", a->cfg.openai_url[0] ? "ok" :
			  any_ep ? "" : "bad", TMPL_HTML },
			{ "anthropic", a->cfg.anthropic_url[0] ? "已配置" : "未配置", TMPL_HTML },
			{ "anthropic_class", a->cfg.anthropic_url[0] ? "ok" :
			  any_ep ? "" : "bad", TMPL_HTML },
			{ "upstream_slots", slots, TMPL_HTML },
			{ "queue_max", qmax, TMPL_HTML },
		};

		err = tmpl_render(docs_tpl.text, docs_tpl.len, vars,
				  sizeof(vars) / sizeof(vars[0]), page, &unknown);
	}
	if (err != RE_OK) {
		log_error("docs: rendering %s failed: %s", DOCS_TEMPLATE,
			  relay_strerror(err));
		goto out;
	}
	/* A customised template with a typo renders with a blank; say so
	 * once per process rather than on every request. */
	if (unknown && !docs_tpl.warned) {
		log_warn("docs: %zu unknown placeholder(s) in %s", unknown,
			 DOCS_TEMPLATE);
		docs_tpl.warned = 1;
	}
	rc = 0;
out:
	json_object_put(st);
	return rc;
}

/* See app.h. GET/HEAD only; 500 JSON when the config or template is bad,
 * else the page with 200 even when the database is down: the page itself
 * is fine and says so in its status box (status.php is the probe that
 * answers 503). */
void docs_handle(struct web_req *r, void *ctx)
{
	static const char headers[] =
		"Cache-Control: no-store\r\n"
		"X-Content-Type-Options: nosniff\r\n"
		"Referrer-Policy: no-referrer\r\n"
		/* no script, no external resource: the page needs neither */
		"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline';"
		" base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n";
	struct app *a = ctx;
	struct buf page;
	char err[600], msg[700];

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		resp_error(r, 405, "请使用GET方法", NULL);
		return;
	}
	if (!app_ready(a, r))
		return;
	if (docs_load(err, sizeof(err)) != 0) {
		log_error("docs: %s", err);
		snprintf(msg, sizeof(msg), "系统配置错误: %s", err);
		resp_error(r, 500, msg, NULL);
		return;
	}
	buf_init(&page, DOCS_PAGE_MAX);
	if (docs_render(a, r, &page) != 0) {
		resp_error(r, 500, "页面生成失败", NULL);
		goto out;
	}
	if (resp_start(r, 200, "text/html; charset=utf-8", headers) < 0)
		goto out;
	if (strcmp(r->method, "HEAD") != 0 && web_write(r, page.data, page.len) < 0)
		goto out;
	web_flush(r);
out:
	buf_free(&page);
}
