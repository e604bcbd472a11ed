/* h_console_api.c - the console's JSON API under /api/v1/ (issue 15).
 *
 * Thin wrappers: arguments and authorisation were checked by console.c's
 * gate, the work is in cdata.c; here each route picks the user it acts for
 * and shapes the answer: {"success":true,"data":...} or the project's error
 * body {"success":false,"message":...,"code":N} with the same status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "cdata.h"
#include "console.h"
#include "cookie.h"
#include "db.h"
#include "log.h"
#include "resp.h"

/* The answer of a query: data, or 500 when the database failed. */
static void capi_send(struct con *c, enum relay_err rc, struct json_object *data)
{
	if (rc) {
		log_error("console api %s: %s", c->path, db_error(c->a->db));
		con_api_error(c, 500, "数据库错误");
		return;
	}
	con_ok(c, 200, data, NULL);
}

/* The answer of an action: data (may be NULL) with a message, or the error. */
static void capi_done(struct con *c, int st, const char *msg, struct json_object *data)
{
	if (st >= 300) {
		json_object_put(data);
		con_api_error(c, st, msg);
		return;
	}
	if (!data)
		data = json_object_new_object();
	if (msg && !json_object_object_get_ex(data, "message", NULL))
		json_object_object_add(data, "message", json_object_new_string(msg));
	con_ok(c, st, data, NULL);
}

/* ?limit= in [1, max], default dflt. */
static int capi_limit(struct con *c, const char *name, int dflt, int max)
{
	char t[16];
	long long v = dflt;
	const char *s = con_query(c, name, t, sizeof(t));
	char *end;

	if (s) {
		v = strtoll(s, &end, 10);
		if (*end || v < 1)
			v = dflt;
		if (v > max)
			v = max;
	}
	return (int)v;
}

void capi_login(struct con *c)
{
	struct json_object *data = NULL;
	const char *msg = NULL;
	char token[65], cookie[256];
	int st = cdata_login(c, token, &data, &msg);

	if (st != 200) {
		con_api_error(c, st, msg);
		return;
	}
	/* The token also goes in the body for scripts (Authorization: Bearer,
	 * no CSRF needed); browsers use the HttpOnly cookie. */
	json_object_object_add(data, "token", json_object_new_string(token));
	if (cookie_set_line(cookie, sizeof(cookie), CSESS_COOKIE, token,
			    (long)c->a->cfg.console_session_hours * 3600, c->https))
		cookie[0] = '\0';
	con_ok(c, 200, data, cookie);
	explicit_bzero(token, sizeof(token));
}

void capi_logout(struct con *c)
{
	char cookie[256];

	if (csess_end(c->a->db, c->token)) {
		con_api_error(c, 500, "数据库错误");
		return;
	}
	con_audit(c, "logout", c->s.name, NULL);
	if (cookie_set_line(cookie, sizeof(cookie), CSESS_COOKIE, "", 0, c->https))
		cookie[0] = '\0';
	con_ok(c, 200, NULL, cookie);
}

void capi_me(struct con *c)
{
	struct json_object *d, *u;
	struct db_res res;

	if (DBX(c->a->db, "SELECT email FROM users WHERE id = ?", &res, DBI(c->s.user_id))) {
		capi_send(c, RE_EDB, NULL);
		return;
	}
	d = json_object_new_object();
	u = json_object_new_object();
	json_object_object_add(u, "id", json_object_new_int64(c->s.user_id));
	json_object_object_add(u, "email", res.nrows && db_res_str(&res, 0, 0) ?
			       json_object_new_string(db_res_str(&res, 0, 0)) : NULL);
	db_res_free(&res);
	json_object_object_add(u, "name", json_object_new_string(c->s.name));
	json_object_object_add(u, "role", json_object_new_string(c->s.admin ? "admin" : "user"));
	json_object_object_add(d, "user", u);
	json_object_object_add(d, "csrf_token", json_object_new_string(c->s.csrf));
	con_ok(c, 200, d, NULL);
}

void capi_register(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_register(c, &msg);

	capi_done(c, st, msg, NULL);
}

void capi_keys(struct con *c)
{
	struct json_object *d = NULL;

	{
		enum relay_err rc_ = cdata_keys(c->a->db, c->s.user_id, &d);
		capi_send(c, rc_, d);
	}
}

void capi_key_create(struct con *c)
{
	struct json_object *d = NULL;
	const char *msg = NULL;
	int st = cdata_key_create(c, c->s.user_id, &d, &msg);

	capi_done(c, st, msg, d);
}

void capi_key_revoke(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_key_revoke(c, c->s.user_id, c->id, &msg);

	capi_done(c, st, msg, NULL);
}

void capi_usage(struct con *c)
{
	struct json_object *d = NULL;

	{
		enum relay_err rc_ = cdata_usage(c->a->db, c->s.user_id, capi_limit(c, "days", 30, 366), &d);
		capi_send(c, rc_, d);
	}
}

void capi_requests(struct con *c)
{
	struct json_object *d = NULL;

	{
		enum relay_err rc_ = cdata_requests(c->a->db, c->s.user_id, capi_limit(c, "limit", 50, 500), &d);
		capi_send(c, rc_, d);
	}
}

void capi_queue(struct con *c)
{
	struct json_object *d = NULL;

	{
		enum relay_err rc_ = cdata_user_queue(c->a->db, c->s.user_id, &d);
		capi_send(c, rc_, d);
	}
}

void capi_users(struct con *c)
{
	struct json_object *d = NULL;

	{
		enum relay_err rc_ = cdata_users(c->a->db, 0, &d);
		capi_send(c, rc_, d);
	}
}

void capi_user_create(struct con *c)
{
	struct json_object *d = NULL;
	const char *msg = NULL;
	int st = cdata_user_create(c, &d, &msg);

	capi_done(c, st, msg, d);
}

void capi_user_delete(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_user_delete(c, c->id, &msg);

	capi_done(c, st, msg, NULL);
}

void capi_user_update(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_user_update(c, c->id, &msg);

	capi_done(c, st, msg, NULL);
}

void capi_admin_keys(struct con *c)
{
	struct json_object *d = NULL;
	long long uid = 0;

	if (con_arg_int(c, "user_id", 1, 4294967295LL, &uid) < 0) {
		con_api_error(c, 400, "user_id 无效");
		return;
	}
	{
		enum relay_err rc_ = cdata_keys(c->a->db, uid, &d);
		capi_send(c, rc_, d);
	}
}

void capi_admin_key_create(struct con *c)
{
	struct json_object *d = NULL, *u = NULL;
	const char *msg = NULL;
	long long uid = 0;
	int st;

	if (con_arg_int(c, "user_id", 1, 4294967295LL, &uid) != 0) {
		con_api_error(c, 400, "需要 user_id");
		return;
	}
	if (cdata_users(c->a->db, uid, &u)) {
		con_api_error(c, 500, "数据库错误");
		return;
	}
	st = json_object_array_length(u) ? cdata_key_create(c, uid, &d, &msg) : 404;
	json_object_put(u);
	capi_done(c, st, st == 404 && !msg ? "用户不存在" : msg, d);
}

void capi_admin_key_revoke(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_key_revoke(c, 0, c->id, &msg);

	capi_done(c, st, msg, NULL);
}

void capi_admin_queue(struct con *c)
{
	struct json_object *d = NULL;

	{
		enum relay_err rc_ = cdata_admin_queue(c->a->db, &d);
		capi_send(c, rc_, d);
	}
}

void capi_queue_cancel(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_queue_action(c, c->id, 0, &msg);

	capi_done(c, st, msg, NULL);
}

void capi_own_queue_cancel(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_queue_cancel_own(c, &msg);

	capi_done(c, st, msg, NULL);
}

void capi_queue_retry(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_queue_action(c, c->id, 1, &msg);

	capi_done(c, st, msg, NULL);
}

void capi_admin_usage(struct con *c)
{
	struct json_object *d = NULL;

	{
		enum relay_err rc_ = cdata_admin_usage(c->a->db, capi_limit(c, "days", 30, 366), &d);
		capi_send(c, rc_, d);
	}
}

/* Appends one CSV field: quoted when needed, and a leading = + - @ (or
 * tab/CR) gets a ' so a spreadsheet never runs a user's name as a formula. */
static void capi_csv_field(struct buf *b, const char *s)
{
	int quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		buf_puts(b, "\"");
	if (strchr("=+-@\t\r", s[0]) && s[0])
		buf_puts(b, "'");
	for (; *s; s++) {
		if (*s == '"')
			buf_puts(b, "\"");
		buf_append(b, s, 1);
	}
	if (quote)
		buf_puts(b, "\"");
}

void capi_admin_usage_csv(struct con *c)
{
	struct db_res res;
	struct buf b;
	char today[11], hdr[256];
	int days = capi_limit(c, "days", 30, 366);

	db_today(today);
	if (DBX(c->a->db, "SELECT DATE_FORMAT(d.day, '%Y-%m-%d'), u.name, d.requests, d.tokens,"
		" d.errors FROM daily_usage d JOIN users u ON u.id = d.user_id"
		" WHERE d.day > CAST(? AS DATE) - INTERVAL ? DAY ORDER BY d.day, u.name",
		&res, DBS(today), DBI(days))) {
		con_api_error(c, 500, "数据库错误");
		return;
	}
	buf_init(&b, 64 * 1024 * 1024);
	buf_puts(&b, "day,user,requests,tokens,errors\r\n");
	for (unsigned i = 0; i < res.nrows; i++) {
		buf_printf(&b, "%s,", db_res_str(&res, i, 0));
		capi_csv_field(&b, db_res_str(&res, i, 1));
		buf_printf(&b, ",%s,%s,%s\r\n", db_res_str(&res, i, 2), db_res_str(&res, i, 3),
			   db_res_str(&res, i, 4));
	}
	db_res_free(&res);
	snprintf(hdr, sizeof(hdr), "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
		 "Content-Disposition: attachment; filename=\"usage-%s.csv\"\r\n", today);
	if (resp_start(c->r, 200, "text/csv; charset=utf-8", hdr) == 0 &&
	    strcmp(c->r->method, "HEAD") != 0)
		web_write(c->r, b.data, b.len);
	buf_free(&b);
}

void capi_audit(struct con *c)
{
	struct json_object *d = NULL;

	{
		enum relay_err rc_ = cdata_audit(c->a->db, capi_limit(c, "limit", 100, 1000), &d);
		capi_send(c, rc_, d);
	}
}
