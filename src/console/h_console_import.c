/* h_console_import.c - POST /api/v1/admin/import: the file relayctl import
 * takes (CSV or JSON lines, docs/ops/import.md), sent as the "file" member
 * of the JSON body (the console's API takes JSON only: a cross-site form
 * cannot send it), with "dry_run": true for a dry run; and the admin page
 * /console/admin/import, a form (CSRF token) doing the same. Same code as
 * relayctl (imp.c): one transaction, all or nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "console.h"
#include "cpage.h"
#include "db.h"
#include "imp.h"
#include "log.h"

/* The lines of text as a JSON array of strings. */
static struct json_object *cimp_lines(const char *text)
{
	struct json_object *a = json_object_new_array();

	while (*text) {
		size_t n = strcspn(text, "\n");

		json_object_array_add(a, json_object_new_string_len(text, (int)n));
		text += n + (text[n] ? 1 : 0);
	}
	return a;
}

/* Refused: the problems in the error's message, one "; " apart. */
static void cimp_refuse(struct con *c, const struct buf *errs)
{
	char msg[2048];
	size_t n = (size_t)snprintf(msg, sizeof(msg), "导入被拒绝，未写入任何数据: %s", buf_cstr(errs));
	if (n >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = p[1] ? ';' : '\0';
	con_api_error(c, 400, msg);
}

/* Parses and applies text as the admin of c. 0, or -1 after a database
 * error (logged). */
static int cimp_run(struct con *c, const char *text, size_t len, int dry, struct imp *im,
		    struct buf *out, struct buf *errs, int *problems)
{
	struct imp_who w = { c->s.user_id, c->s.name, c->addr };

	*problems = imp_parse(text, len, im, errs);
	if (!*problems && imp_apply(c->a->db, &w, im, dry, out, errs, problems)) {
		log_error("console import: %s", db_error(c->a->db));
		return -1;
	}
	return 0;
}

void capi_admin_import(struct con *c)
{
	struct json_object *f = NULL, *d = NULL, *o;
	struct buf out, errs;
	struct imp im;
	int dry = 0, problems;

	if (!c->json || !json_object_object_get_ex(c->json, "file", &f) ||
	    !json_object_is_type(f, json_type_string)) {
		con_api_error(c, 400, "需要 file（CSV 或 JSON lines 文本）");
		return;
	}
	if (json_object_object_get_ex(c->json, "dry_run", &d))
		dry = json_object_get_boolean(d);
	buf_init(&out, (size_t)8 << 20);
	buf_init(&errs, (size_t)1 << 20);
	if (cimp_run(c, json_object_get_string(f), (size_t)json_object_get_string_len(f), dry,
		     &im, &out, &errs, &problems)) {
		con_api_error(c, 500, "数据库错误");
	} else if (problems) {
		cimp_refuse(c, &errs);
	} else {
		o = json_object_new_object();
		json_object_object_add(o, "dry_run", json_object_new_boolean(dry));
		json_object_object_add(o, "rows", json_object_new_int64((long long)im.n));
		json_object_object_add(o, "report", cimp_lines(buf_cstr(&out)));
		con_ok(c, 200, o, NULL);
	}
	imp_free(&im);
	buf_free(&out);
	buf_free(&errs);
}

/* The page: the form, and below it what the last submission did. The
 * file is never shown back (it holds keys). */
static void cimp_page(struct con *c, int status, const char *flash, int bad,
		      const struct buf *report)
{
	struct buf b;

	buf_init(&b, PH_MAX);
	buf_puts(&b, "<p class=\"muted\">从旧平台导入用户及其现有密钥:CSV(首行为列名)或 JSON"
		 " lines,列 name, key, daily_requests, daily_tokens, priority, max_concurrent,"
		 " max_queued, models, expires, enabled(见 docs/ops/import.md)。全部成功或全部不写入。</p>"
		 "<form method=\"post\" action=\"/console/admin/import\" id=\"import-form\">");
	ph_csrf(c, &b);
	buf_puts(&b, "<label>文件内容 <textarea name=\"file\" id=\"import-file\" rows=\"12\""
		 " cols=\"100\" required autocomplete=\"off\" spellcheck=\"false\"></textarea></label>"
		 "<label><input type=\"checkbox\" name=\"dry_run\" value=\"1\" checked>"
		 " 仅检查(dry run,不写入)</label><button type=\"submit\">导入</button></form>");
	if (report && report->len) {
		buf_puts(&b, "<pre id=\"import-report\">");
		ph_text(&b, buf_cstr(report));
		buf_puts(&b, "</pre>");
	}
	con_page(c, status, "导入用户与密钥", flash, bad, &b, 0, NULL);
	buf_free(&b);
}

void cpage_admin_import(struct con *c)
{
	cimp_page(c, 200, NULL, 0, NULL);
}

void cpage_admin_import_post(struct con *c)
{
	char *file = malloc(CON_BODY_MAX + 1), flag[4];
	struct buf out, errs;
	struct imp im;
	int dry, problems = 0;
	char msg[128];

	memset(&im, 0, sizeof(im));
	buf_init(&out, (size_t)8 << 20);
	buf_init(&errs, (size_t)1 << 20);
	dry = con_arg(c, "dry_run", flag, sizeof(flag)) != NULL;
	if (!file || !con_arg(c, "file", file, CON_BODY_MAX + 1)) {
		cimp_page(c, 400, "需要文件内容", 1, NULL);
	} else if (cimp_run(c, file, strlen(file), dry, &im, &out, &errs, &problems)) {
		cimp_page(c, 500, "数据库错误", 1, NULL);
	} else if (problems) {
		snprintf(msg, sizeof(msg), "%d 个问题,未写入任何数据", problems);
		cimp_page(c, 400, msg, 1, &errs);
	} else {
		snprintf(msg, sizeof(msg), "%zu 行%s", im.n, dry ? "检查通过(dry run,未写入)" : "已导入");
		cimp_page(c, 200, msg, 0, &out);
	}
	if (file) {
		explicit_bzero(file, CON_BODY_MAX + 1);
		free(file);
	}
	imp_free(&im);
	buf_free(&out);
	buf_free(&errs);
}
