/* conio.c - what the console's handlers answer with and read: JSON and
 * HTML answers, the page frame and its navigation, redirects, the audit
 * row, and the request's arguments (console.h). Below the route table
 * (console.c) and the handlers, so neither is called back from here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include "app.h"
#include "console.h"
#include "cookie.h"
#include "db.h"
#include "log.h"
#include "qs.h"
#include "resp.h"
#include "tmpl.h"

#define CON_PAGE_MAX (4 * 1024 * 1024)

/* The navigation bar: member entries, then admin entries. */
static const struct { int admin; const char *path, *label; } con_nav[] = {
	{ 0, "", "概览" },
	{ 0, "keys", "我的密钥" },
	{ 0, "requests", "请求记录" },
	{ 0, "queue", "我的队列" },
	{ 1, "admin/users", "用户" },
	{ 1, "admin/keys", "全部密钥" },
	{ 1, "admin/import", "导入" },
	{ 1, "admin/queue", "实时队列" },
	{ 1, "admin/usage", "用量统计" },
	{ 1, "admin/backends", "上游" },
	{ 1, "admin/audit", "审计日志" },
};

static const char con_page_headers[] =
	"Cache-Control: no-store\r\n"
	"X-Content-Type-Options: nosniff\r\n"
	"Referrer-Policy: no-referrer\r\n"
	"X-Frame-Options: DENY\r\n"
	/* no script at all; forms only to ourselves */
	"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline';"
	" img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'\r\n";

/* ---- answers ---- */

void con_api_error(struct con *c, int status, const char *msg)
{
	resp_error(c->r, status, msg, NULL);
}

/* See console.h. Takes ownership of data (may be NULL). */
void con_ok(struct con *c, int status, struct json_object *data, const char *extra)
{
	struct json_object *o = json_object_new_object(), *m;
	char hdr[1024];
	const char *s;
	size_t len;

	json_object_object_add(o, "success", json_object_new_boolean(1));
	/* an action's message also at the top, where the seed's answers
	 * (register's) have it; data.message stays for the console's pages */
	if (data && json_object_object_get_ex(data, "message", &m) &&
	    json_object_is_type(m, json_type_string))
		json_object_object_add(o, "message", json_object_get(m));
	if (data)
		json_object_object_add(o, "data", data);
	s = json_object_to_json_string_length(o, RESP_JSON_FLAGS, &len);
	snprintf(hdr, sizeof(hdr), "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s",
		 extra ? extra : "");
	if (resp_start(c->r, status, "application/json; charset=utf-8", hdr) == 0 &&
	    strcmp(c->r->method, "HEAD") != 0)
		web_write(c->r, s, len);
	json_object_put(o);
}

int con_template(const char *name, const struct tmpl_var *vars, size_t nvars,
		 struct buf *out)
{
	size_t unknown = 0;

	for (size_t i = 0; i < tmpl_file_count; i++)
		if (strcmp(tmpl_files[i].name, name) == 0) {
			if (tmpl_render((const char *)tmpl_files[i].data, tmpl_files[i].len,
					vars, nvars, out, &unknown) != RE_OK)
				return -1;
			if (unknown)
				log_warn("console: %zu unknown placeholder(s) in %s", unknown, name);
			return 0;
		}
	log_error("console: template %s was not compiled in", name);
	return -1;
}

/* The navigation links (escaped labels are constants) and the logout
 * form, into nav and who. */
static void con_nav_html(struct con *c, struct buf *nav, struct buf *who)
{
	for (size_t i = 0; i < sizeof(con_nav) / sizeof(con_nav[0]); i++) {
		int cur;
		if (con_nav[i].admin && !c->s.admin)
			continue;
		if (con_nav[i].admin && (i == 0 || !con_nav[i - 1].admin))
			buf_puts(nav, "<span class=\"sep\">管理:</span>");
		cur = strcmp(c->path, con_nav[i].path) == 0 ||
		      (*con_nav[i].path && strncmp(c->path, con_nav[i].path,
						   strlen(con_nav[i].path)) == 0 &&
		       c->path[strlen(con_nav[i].path)] == '/');
		buf_printf(nav, "<a href=\"/console/%s\"%s>%s</a>", con_nav[i].path,
			   cur ? " class=\"cur\"" : "", con_nav[i].label);
	}
	tmpl_escape_html(c->s.name, strlen(c->s.name), who);
	buf_printf(who, "%s <form method=\"post\" action=\"/console/logout\" class=\"inline\">"
		   "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
		   "<button type=\"submit\" id=\"logout\">退出</button></form>",
		   c->s.admin ? " (管理员)" : "", c->s.csrf);
}

void con_page(struct con *c, int status, const char *title, const char *flash,
	      int flash_bad, const struct buf *content, int refresh, const char *extra)
{
	struct buf page, nav, who, fl;
	char ref[64] = "", hdr[2048];

	buf_init(&page, CON_PAGE_MAX);
	buf_init(&nav, 8192);
	buf_init(&who, 8192);
	buf_init(&fl, 4096);
	if (c->s.id)
		con_nav_html(c, &nav, &who);
	if (flash) {
		buf_printf(&fl, "<p class=\"flash %s\" id=\"flash\">", flash_bad ? "bad" : "ok");
		tmpl_escape_html(flash, strlen(flash), &fl);
		buf_puts(&fl, "</p>");
	}
	if (refresh > 0)
		snprintf(ref, sizeof(ref), "<meta http-equiv=\"refresh\" content=\"%d\">", refresh);
	{
		const struct tmpl_var vars[] = {
			{ "title", title, TMPL_HTML },
			{ "nav", buf_cstr(&nav), TMPL_RAW },
			{ "who", buf_cstr(&who), TMPL_RAW },
			{ "flash", buf_cstr(&fl), TMPL_RAW },
			{ "content", content ? buf_cstr(content) : "", TMPL_RAW },
			{ "refresh", ref, TMPL_RAW },
		};
		if (con_template("console_layout.html", vars, sizeof(vars) / sizeof(vars[0]),
				 &page) != 0) {
			resp_error(c->r, 500, "页面生成失败", NULL);
			goto out;
		}
	}
	snprintf(hdr, sizeof(hdr), "%s%s", con_page_headers, extra ? extra : "");
	if (resp_start(c->r, status, "text/html; charset=utf-8", hdr) == 0 &&
	    strcmp(c->r->method, "HEAD") != 0)
		web_write(c->r, page.data, page.len);
out:
	buf_free(&page);
	buf_free(&nav);
	buf_free(&who);
	buf_free(&fl);
}

void con_page_error(struct con *c, int status, const char *msg)
{
	struct buf b;
	char t[64];

	buf_init(&b, 4096);
	buf_puts(&b, "<p class=\"err\">");
	tmpl_escape_html(msg, strlen(msg), &b);
	buf_puts(&b, "</p><p><a href=\"/console/\">返回控制台</a></p>");
	snprintf(t, sizeof(t), "%d %s", status, resp_reason(status));
	con_page(c, status, t, NULL, 0, &b, 0, NULL);
	buf_free(&b);
}

void con_redirect(struct con *c, const char *to, const char *extra)
{
	char hdr[1024];

	snprintf(hdr, sizeof(hdr), "Location: /console/%s\r\nCache-Control: no-store\r\n%s",
		 to, extra ? extra : "");
	if (resp_start(c->r, 303, "text/plain; charset=utf-8", hdr) == 0)
		web_write(c->r, "See Other\n", 10);
}

/* An error in the route's format. */
void con_fail(struct con *c, int status, const char *msg)
{
	if (c->api)
		con_api_error(c, status, msg);
	else
		con_page_error(c, status, msg);
}

void con_audit(struct con *c, const char *action, const char *target,
	       const char *detail)
{
	if (csess_audit(c->a->db, &c->s, c->addr, action, target, detail))
		log_error("console: audit %s failed: %s", action, db_error(c->a->db));
}

/* ---- arguments ---- */

const char *con_query(struct con *c, const char *name, char *tmp, size_t tmplen)
{
	return qs_get(c->r->query, name, tmp, tmplen) >= 0 ? tmp : NULL;
}

/* A JSON member as text into tmp (see con_arg). */
static const char *con_json_arg(struct con *c, const char *name, char *tmp, size_t tmplen)
{
	struct json_object *v;
	size_t len = 0;

	if (!c->json || !json_object_object_get_ex(c->json, name, &v) || !v)
		return NULL;
	if (json_object_is_type(v, json_type_array)) {
		tmp[0] = '\0';
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			const char *s = json_object_get_string(e);
			size_t n = strlen(s);
			if (!json_object_is_type(e, json_type_string) || len + n + 2 > tmplen)
				return NULL;
			if (len)
				tmp[len++] = ',';
			memcpy(tmp + len, s, n + 1);
			len += n;
		}
		return tmp;
	}
	if (json_object_is_type(v, json_type_object))
		return NULL;
	if (json_object_is_type(v, json_type_boolean)) {
		snprintf(tmp, tmplen, "%d", json_object_get_boolean(v) ? 1 : 0);
		return tmp;
	}
	{
		const char *s = json_object_get_string(v);
		size_t n = strlen(s);
		/* an embedded NUL would cut the text short; json_object_get_string_len
		 * is only meaningful for strings (0 for numbers) */
		if (n + 1 > tmplen || (json_object_is_type(v, json_type_string) &&
				       (size_t)json_object_get_string_len(v) != n))
			return NULL;
		memcpy(tmp, s, n + 1);
	}
	return tmp;
}

const char *con_arg(struct con *c, const char *name, char *tmp, size_t tmplen)
{
	struct json_object *jv = NULL;
	const char *v;
	int r;

	if (!tmplen)
		return NULL;
	if (c->api && strcmp(c->r->method, "GET") != 0 && strcmp(c->r->method, "HEAD") != 0) {
		v = con_json_arg(c, name, tmp, tmplen);
		/* JSON null counts as absent; anything else we could not take is bad */
		if (!v && c->json && json_object_object_get_ex(c->json, name, &jv) && jv)
			c->arg_bad = 1;
		return v;
	}
	r = qs_get(strcmp(c->r->method, "GET") == 0 || strcmp(c->r->method, "HEAD") == 0 ?
		   c->r->query : buf_cstr(&c->body), name, tmp, tmplen);
	if (r == -2)
		c->arg_bad = 1;
	return r >= 0 ? tmp : NULL;
}

int con_arg_int(struct con *c, const char *name, long long lo, long long hi,
		long long *out)
{
	char tmp[32], *end;
	const char *s = con_arg(c, name, tmp, sizeof(tmp));
	long long v;

	if (!s || !*s)
		return 1;
	v = strtoll(s, &end, 10);
	if (*end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}
