/* h_console_import.c - POST /api/v1/admin/import: the file relayctl import
 * takes (CSV or JSON lines, docs/ops/import.md), sent as the "file" member
 * of the JSON body (the console's API takes JSON only: a cross-site form
 * cannot send it), with "dry_run": true for a dry run. Same code as
 * relayctl (imp.c): one transaction, all or nothing. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "console.h"
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

void capi_admin_import(struct con *c)
{
	struct imp_who w = { c->s.user_id, c->s.name, c->addr };
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
	problems = imp_parse(json_object_get_string(f), (size_t)json_object_get_string_len(f),
			     &im, &errs);
	if (!problems && imp_apply(c->a->db, &w, &im, dry, &out, &errs, &problems)) {
		log_error("console api import: %s", db_error(c->a->db));
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
