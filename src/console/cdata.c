/* cdata.c - the console's queries and actions. See cdata.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "apikey.h"
#include "app.h"
#include "cdata.h"
#include "useradmin.h"
#include "console.h"
#include "cpw.h"
#include "csess.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "qadmin.h"
#include "queue.h"
#include "skel.h"

#define TS(col) "DATE_FORMAT(" col ", '%Y-%m-%d %H:%i:%s')"

/* The comma list s as a JSON array (NULL/"" -> null: every model). */
static struct json_object *cdata_models(const char *s)
{
	struct json_object *a;

	if (!s || !*s)
		return NULL;
	a = json_object_new_array();
	while (*s) {
		size_t n = strcspn(s, ",");
		if (n)
			json_object_array_add(a, json_object_new_string_len(s, (int)n));
		s += n + (s[n] == ',');
	}
	return a;
}

/* Row `row` of res as an object of the columns cols[0..n). */
static struct json_object *cdata_row(const struct db_res *res, unsigned row,
				     const struct cdata_col *cols, unsigned n)
{
	struct json_object *o = json_object_new_object();

	for (unsigned k = 0; k < n && k < res->ncols; k++) {
		const char *v = db_res_str(res, row, k);
		struct json_object *j = NULL;

		if (v) {
			switch (cols[k].type) {
			case 'i': j = json_object_new_int64(db_res_int(res, row, k, 0)); break;
			case 'b': j = json_object_new_boolean(db_res_int(res, row, k, 0) != 0); break;
			case 'm': j = cdata_models(v); break;
			default: j = json_object_new_string_len(v, (int)db_res_len(res, row, k)); break;
			}
		}
		json_object_object_add(o, cols[k].name, j);
	}
	return o;
}

struct json_object *cdata_rows(const struct db_res *res,
				      const struct cdata_col *cols, unsigned n)
{
	struct json_object *a = json_object_new_array();

	for (unsigned i = 0; i < res->nrows; i++)
		json_object_array_add(a, cdata_row(res, i, cols, n));
	return a;
}

#define NCOLS(x) ((unsigned)(sizeof(x) / sizeof(x[0])))

enum relay_err cdata_keys(struct db *db, long long user_id, struct json_object **out)
{
	static const struct cdata_col cols[] = {
		{ "id", 'i' }, { "user_id", 'i' }, { "user", 's' }, { "name", 's' },
		{ "prefix", 's' }, { "models", 'm' }, { "created_at", 's' },
		{ "expires_at", 's' }, { "revoked_at", 's' }, { "last_used_at", 's' },
		{ "active", 'b' },
	};
	struct db_res res;
	char today[11];
	enum relay_err rc;

	db_today(today);
	rc = DBX(db, "SELECT k.id, k.user_id, u.name, k.name, k.key_prefix, k.models, "
		 TS("k.created_at") ", k.expires_at, " TS("k.revoked_at") ", "
		 TS("k.last_used_at") ", k.revoked_at IS NULL AND (k.expires_at IS NULL"
		 " OR k.expires_at >= ?) FROM api_keys k JOIN users u ON u.id = k.user_id"
		 " WHERE (? = 0 OR k.user_id = ?) ORDER BY k.id DESC LIMIT 1000", &res,
		 DBS(today), DBI(user_id), DBI(user_id));
	if (rc)
		return rc;
	*out = cdata_rows(&res, cols, NCOLS(cols));
	db_res_free(&res);
	return RE_OK;
}

/* Per-day sums of daily_usage for the `days` days up to today (a
 * recursive CTE makes the calendar, so empty days are zeros), oldest
 * first; user_id 0 = everyone. */
static enum relay_err cdata_days(struct db *db, long long user_id, int days,
				 struct json_object **out)
{
	static const struct cdata_col cols[] = {
		{ "day", 's' }, { "requests", 'i' }, { "tokens", 'i' }, { "errors", 'i' },
	};
	struct db_res res;
	char today[11];
	enum relay_err rc;

	db_today(today);
	rc = DBX(db, "WITH RECURSIVE d (day, n) AS (SELECT CAST(? AS DATE), 1 UNION ALL"
		 " SELECT day - INTERVAL 1 DAY, n + 1 FROM d WHERE n < ?)"
		 " SELECT DATE_FORMAT(d.day, '%Y-%m-%d'), COALESCE(SUM(u.requests), 0),"
		 " COALESCE(SUM(u.tokens), 0), COALESCE(SUM(u.errors), 0)"
		 " FROM d LEFT JOIN daily_usage u ON u.day = d.day AND (? = 0 OR u.user_id = ?)"
		 " GROUP BY d.day ORDER BY d.day", &res, DBS(today), DBI(days),
		 DBI(user_id), DBI(user_id));
	if (rc)
		return rc;
	*out = cdata_rows(&res, cols, NCOLS(cols));
	db_res_free(&res);
	return RE_OK;
}

enum relay_err cdata_usage(struct db *db, long long user_id, int days,
			   struct json_object **out)
{
	static const struct cdata_col cols[] = {
		{ "requests", 'i' }, { "tokens", 'i' }, { "errors", 'i' },
		{ "request_limit", 'i' }, { "token_limit", 'i' },
	};
	struct json_object *o, *d = NULL;
	struct db_res res;
	char today[11];
	enum relay_err rc;

	db_today(today);
	/* requests in flight count too, as for the limit */
	rc = DBX(db, "SELECT relay_requests_used(u.id, ?), COALESCE(d.tokens, 0),"
		 " COALESCE(d.errors, 0), u.daily_requests, u.daily_tokens"
		 " FROM users u LEFT JOIN daily_usage d ON d.user_id = u.id AND d.day = ?"
		 " WHERE u.id = ?", &res, DBS(today), DBS(today), DBI(user_id));
	if (rc)
		return rc;
	o = json_object_new_object();
	json_object_object_add(o, "day", json_object_new_string(today));
	json_object_object_add(o, "today", res.nrows ? cdata_row(&res, 0, cols, NCOLS(cols))
			       : json_object_new_object());
	db_res_free(&res);
	if ((rc = cdata_days(db, user_id, days, &d))) {
		json_object_put(o);
		return rc;
	}
	json_object_object_add(o, "days", d);
	*out = o;
	return RE_OK;
}

enum relay_err cdata_requests(struct db *db, long long user_id, int limit,
			      struct json_object **out)
{
	static const struct cdata_col cols[] = {
		{ "id", 'i' }, { "time", 's' }, { "user", 's' }, { "model", 's' },
		{ "route", 's' }, { "format", 's' }, { "stream", 'b' }, { "status", 'i' },
		{ "prompt_tokens", 'i' }, { "completion_tokens", 'i' },
		{ "total_tokens", 'i' }, { "latency_ms", 'i' }, { "error", 's' },
		{ "queue_id", 'i' }, { "usage", 's' },
	};
	struct db_res res;
	enum relay_err rc;

	/* usage: where the token counts come from (usage_known, 2 = estimated) */
	rc = DBX(db, "SELECT l.id, " TS("l.created_at") ", u.name, l.model, l.route, l.format,"
		 " l.stream, l.http_status, l.prompt_tokens, l.completion_tokens,"
		 " l.total_tokens, l.latency_ms, l.error, l.queue_id,"
		 " ELT(l.usage_known + 1, 'none', 'reported', 'estimated')"
		 " FROM request_log l LEFT JOIN users u ON u.id = l.user_id"
		 " WHERE (? = 0 OR l.user_id = ?) ORDER BY l.id DESC LIMIT ?", &res,
		 DBI(user_id), DBI(user_id), DBI(limit));
	if (rc)
		return rc;
	*out = cdata_rows(&res, cols, NCOLS(cols));
	db_res_free(&res);
	return RE_OK;
}

/* Adds position/total_waiting to each waiting item of the array (column
 * "priority" and "id" are read back from the objects). */
static enum relay_err cdata_positions(struct db *db, struct json_object *arr)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i), *v;
		long long id = 0, pos, total;
		int prio = 0;

		if (!json_object_object_get_ex(o, "status", &v) ||
		    strcmp(json_object_get_string(v), "waiting") != 0)
			continue;
		if (json_object_object_get_ex(o, "id", &v))
			id = json_object_get_int64(v);
		if (json_object_object_get_ex(o, "priority", &v))
			prio = (int)json_object_get_int64(v);
		if (queue_position(db, id, prio, &pos, &total))
			return RE_EDB;
		json_object_object_add(o, "position", json_object_new_int64(pos));
		json_object_object_add(o, "total_waiting", json_object_new_int64(total));
	}
	return RE_OK;
}

static const struct cdata_col cdata_queue_cols[] = {
	{ "id", 'i' }, { "user_id", 'i' }, { "user", 's' }, { "status", 's' },
	{ "priority", 'i' }, { "model", 's' }, { "format", 's' }, { "route", 's' },
	{ "stream", 'b' }, { "inline_wait", 'b' }, { "attempts", 'i' },
	{ "added_at", 's' }, { "started_at", 's' }, { "completed_at", 's' },
	{ "error", 's' },
};
#define CDATA_QUEUE_SELECT \
	"SELECT q.id, q.user_id, u.name, q.status, q.priority, q.model, q.format," \
	" q.route, q.stream, q.inline_wait, q.attempts, " TS("q.added_at") ", " \
	TS("q.started_at") ", " TS("q.completed_at") ", q.error_message" \
	" FROM queue q LEFT JOIN users u ON u.id = q.user_id"

/* Runs a queue listing and adds positions. */
static enum relay_err cdata_queue_list(struct db *db, const char *sql, long long uid,
				       struct json_object **out)
{
	struct db_res res;
	enum relay_err rc = DBX(db, sql, &res, DBI(uid), DBI(uid));

	if (rc)
		return rc;
	*out = cdata_rows(&res, cdata_queue_cols, NCOLS(cdata_queue_cols));
	db_res_free(&res);
	if ((rc = cdata_positions(db, *out))) {
		json_object_put(*out);
		*out = NULL;
	}
	return rc;
}

enum relay_err cdata_user_queue(struct db *db, long long user_id, struct json_object **out)
{
	return cdata_queue_list(db, CDATA_QUEUE_SELECT
		" WHERE q.user_id = ? AND q.user_id = ? AND q.status IN ('waiting', 'processing')"
		" ORDER BY q.status = 'processing' DESC, q.priority DESC, q.id LIMIT 500",
		user_id, out);
}

enum relay_err cdata_admin_queue(struct db *db, struct json_object **out)
{
	return cdata_queue_list(db, CDATA_QUEUE_SELECT
		" WHERE ? = ? AND (q.status IN ('waiting', 'processing') OR (q.status = 'failed'"
		" AND q.completed_at > NOW() - INTERVAL 1 DAY))"
		" ORDER BY FIELD(q.status, 'processing', 'waiting', 'failed'), q.priority DESC,"
		" q.id LIMIT 1000", 0, out);
}

enum relay_err cdata_users(struct db *db, long long id, struct json_object **out)
{
	static const struct cdata_col cols[] = {
		{ "id", 'i' }, { "name", 's' }, { "email", 's' }, { "role", 's' },
		{ "enabled", 'b' }, { "pending", 'b' }, { "daily_requests", 'i' }, { "daily_tokens", 'i' },
		{ "priority", 'i' }, { "models", 'm' }, { "has_password", 'b' },
		{ "keys", 'i' }, { "today_requests", 'i' }, { "today_tokens", 'i' },
		{ "today_errors", 'i' }, { "created_at", 's' }, { "max_concurrent", 'i' },
		{ "max_queued", 'i' },
	};
	struct db_res res;
	char today[11];
	enum relay_err rc;

	db_today(today);
	rc = DBX(db, "SELECT u.id, u.name, u.email, IF(u.is_admin, 'admin', 'user'), u.enabled,"
		 " u.pending, u.daily_requests, u.daily_tokens, u.priority, u.models,"
		 " u.password_hash IS NOT NULL, (SELECT COUNT(*) FROM api_keys k"
		 " WHERE k.user_id = u.id AND k.revoked_at IS NULL),"
		 " relay_requests_used(u.id, ?), COALESCE(d.tokens, 0), COALESCE(d.errors, 0), "
		 TS("u.created_at") ", u.max_concurrent, u.max_queued"
		 " FROM users u LEFT JOIN daily_usage d ON d.user_id = u.id"
		 " AND d.day = ? WHERE (? = 0 OR u.id = ?) ORDER BY u.name LIMIT 5000", &res,
		 DBS(today), DBS(today), DBI(id), DBI(id));
	if (rc)
		return rc;
	*out = cdata_rows(&res, cols, NCOLS(cols));
	db_res_free(&res);
	return RE_OK;
}

/* One grouped usage listing for cdata_admin_usage. */
static enum relay_err cdata_group(struct db *db, const char *sql, const char *first,
				  const char *since, struct json_object *o, const char *key)
{
	const struct cdata_col cols[] = {
		{ first, 's' }, { "requests", 'i' }, { "tokens", 'i' }, { "errors", 'i' },
	};
	struct db_res res;
	enum relay_err rc = DBX(db, sql, &res, DBS(since));

	if (rc)
		return rc;
	json_object_object_add(o, key, cdata_rows(&res, cols, NCOLS(cols)));
	db_res_free(&res);
	return RE_OK;
}

/* Usage by model and by backend since `since` (a day): usage_model_daily and
 * usage_backend_daily (sql/schema/015_ops.sql, the request_log rows already
 * folded, by admission day) plus the few rows not folded yet, read live by
 * primary key, so the listing is exact and never scans the log's history
 * however long it is. Folds first, so that tail stays short even where no
 * worker or scraper runs. */
static enum relay_err cdata_usage_folded(struct db *db, const char *since, struct json_object *o)
{
	static const char qm[] =
		"SELECT model, SUM(r), SUM(t), SUM(e) FROM ("
		" SELECT model, requests AS r, tokens AS t, errors AS e FROM usage_model_daily"
		"  WHERE day >= ?"
		" UNION ALL"
		" SELECT model, 1, total_tokens, error IS NOT NULL OR http_status >= 400 FROM request_log"
		"  WHERE id > (SELECT COALESCE(MAX(last_id), 0) FROM metrics_state WHERE id = 1)"
		"  AND COALESCE(day, DATE(created_at)) >= ?) x"
		" GROUP BY model ORDER BY SUM(t) DESC, model LIMIT 500";
	static const char qb[] =
		"SELECT backend, SUM(r), SUM(t), SUM(e) FROM ("
		" SELECT backend, requests AS r, tokens AS t, errors AS e FROM usage_backend_daily"
		"  WHERE day >= ?"
		" UNION ALL"
		" SELECT COALESCE(backend, 'none'), 1, total_tokens,"
		"  error IS NOT NULL OR http_status >= 400 FROM request_log"
		"  WHERE id > (SELECT COALESCE(MAX(last_id), 0) FROM metrics_state WHERE id = 1)"
		"  AND COALESCE(day, DATE(created_at)) >= ?) x"
		" GROUP BY backend ORDER BY SUM(t) DESC, backend LIMIT 500";
	static const struct { const char *q, *dim, *key; } by[] = {
		{ qm, "model", "models" }, { qb, "backend", "backends" },
	};
	struct db_res res;
	long long rows;
	enum relay_err rc;

	if (metrics_rollup(db, &rows))
		log_warn("usage by model/backend: fold failed (%s); reading the log's tail live",
			 db_error(db));
	for (size_t i = 0; i < sizeof(by) / sizeof(by[0]); i++) {
		const struct cdata_col cols[] = {
			{ by[i].dim, 's' }, { "requests", 'i' }, { "tokens", 'i' }, { "errors", 'i' },
		};
		if ((rc = DBX(db, by[i].q, &res, DBS(since), DBS(since))))
			return rc;
		json_object_object_add(o, by[i].key, cdata_rows(&res, cols, NCOLS(cols)));
		db_res_free(&res);
	}
	return RE_OK;
}

enum relay_err cdata_admin_usage(struct db *db, int days, struct json_object **out)
{
	struct json_object *o = json_object_new_object(), *d = NULL;
	struct db_res res;
	char since[11] = "";
	enum relay_err rc;

	if ((rc = cdata_days(db, 0, days, &d)))
		goto fail;
	json_object_object_add(o, "days", d);
	d = json_object_array_get_idx(d, 0);
	if (d && json_object_object_get_ex(d, "day", &d))
		snprintf(since, sizeof(since), "%s", json_object_get_string(d));
	(void)res;
	if ((rc = cdata_group(db, "SELECT u.name, SUM(d.requests), SUM(d.tokens), SUM(d.errors)"
			      " FROM daily_usage d JOIN users u ON u.id = d.user_id"
			      " WHERE d.day >= ? GROUP BY u.id ORDER BY SUM(d.tokens) DESC, u.name",
			      "user", since, o, "users")))
		goto fail;
	if ((rc = cdata_usage_folded(db, since, o)))
		goto fail;
	json_object_object_add(o, "since", json_object_new_string(since));
	*out = o;
	return RE_OK;
fail:
	json_object_put(o);
	return rc;
}

enum relay_err cdata_audit(struct db *db, int limit, struct json_object **out)
{
	static const struct cdata_col cols[] = {
		{ "id", 'i' }, { "at", 's' }, { "actor_id", 'i' }, { "actor", 's' },
		{ "action", 's' }, { "target", 's' }, { "detail", 's' }, { "addr", 's' },
	};
	struct db_res res;
	enum relay_err rc = DBX(db, "SELECT id, " TS("at") ", actor_id, actor_name, action,"
				" target, detail, addr FROM audit_log ORDER BY id DESC LIMIT ?",
				&res, DBI(limit));

	if (rc)
		return rc;
	*out = cdata_rows(&res, cols, NCOLS(cols));
	db_res_free(&res);
	return RE_OK;
}

/* ---- actions ---- */

int cdata_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > CDATA_NAME_MAX)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

/* Logs a database failure and gives the 500 message. */
static int cdata_dberr(struct con *c, const char *what, const char **msg)
{
	log_error("console: %s: %s", what, db_error(c->a->db));
	*msg = "数据库错误";
	return 500;
}

/* Checks the login of who/password against users, who being a name or an
 * e-mail address (a name spelled exactly wins over another user's address);
 * fills uid, admin, the user's name and e-mail ("" for none). */
static int cdata_check_login(struct con *c, const char *who, const char *pw,
			     long long *uid, int *admin, char name[CDATA_NAME_MAX + 1],
			     char email[255], const char **msg)
{
	struct db_res res;
	char em[255];
	int ok, st = 200;

	if (useradmin_email_norm(who, em, sizeof(em)))
		em[0] = '\0';
	if (DBX(c->a->db, "SELECT id, password_hash, enabled, pending, is_admin, name, email"
		" FROM users WHERE name = ? OR email = ? ORDER BY name = ? DESC LIMIT 1", &res,
		DBS(who), DBS(em[0] ? em : NULL), DBS(who)))
		return cdata_dberr(c, "login", msg);
	/* one crypt run whether or not the name exists */
	ok = cpw_verify(pw, res.nrows ? db_res_str(&res, 0, 1) : NULL);
	if (!ok) {
		*msg = "用户名或密码错误";
		st = 401;
	} else if (db_res_int(&res, 0, 3, 0)) {
		*msg = "账号等待管理员审核";
		st = 403;
	} else if (!db_res_int(&res, 0, 2, 0)) {
		*msg = "用户已被禁用";
		st = 403;
	} else {
		*uid = db_res_int(&res, 0, 0, 0);
		*admin = db_res_int(&res, 0, 4, 0) == 1;
		snprintf(name, CDATA_NAME_MAX + 1, "%s", db_res_str(&res, 0, 5));
		snprintf(email, 255, "%s", db_res_str(&res, 0, 6) ? db_res_str(&res, 0, 6) : "");
	}
	db_res_free(&res);
	return st;
}

int cdata_login(struct con *c, char token_out[65], struct json_object **out,
		const char **msg)
{
	char name[CDATA_NAME_MAX + 2], pw[CPW_MAX + 2], csrf[65], who[256], email[255] = "";
	struct json_object *u;
	long long uid = 0;
	int admin = 0, blocked, st;

	token_out[0] = '\0';
	/* the seed signs in with "email", the console with "name": either
	 * field may hold a name or an address */
	if (!con_arg(c, "email", who, sizeof(who)) || !*who)
		con_arg(c, "name", who, sizeof(who));
	if (c->arg_bad || !(cdata_name_ok(who) || useradmin_email_norm(who, email, sizeof(email)) == 0) ||
	    !con_arg(c, "password", pw, sizeof(pw)) || !*pw) {
		*msg = "请输入用户名(或邮箱)和密码";
		st = 400;
		goto out;
	}
	/* the tries are counted per spelling used (an address lower-cased) */
	if (email[0])
		snprintf(who, sizeof(who), "%s", email);
	if (csess_login_try(c->a->db, c->a->cfg.lock_prefix, who, c->addr, &blocked)) {
		st = cdata_dberr(c, "login", msg);
		goto out;
	}
	if (blocked) {
		*msg = "登录失败次数过多,请稍后再试";
		st = 429;
		goto out;
	}
	st = cdata_check_login(c, who, pw, &uid, &admin, name, email, msg);
	/* 403 (disabled, pending) comes only after the right password */
	if (csess_login_done(c->a->db, who, c->addr, st != 200 && st != 403))
		log_error("console: settling a login try: %s", db_error(c->a->db));
	if (st != 200)
		goto out;
	if (csess_create(c->a->db, uid, c->a->cfg.console_session_hours, c->addr,
			 token_out, csrf)) {
		token_out[0] = '\0';
		st = cdata_dberr(c, "session", msg);
		goto out;
	}
	/* the gate's session for the audit row and the page that follows */
	c->s.id = 1;
	c->s.user_id = uid;
	c->s.admin = admin;
	snprintf(c->s.name, sizeof(c->s.name), "%.64s", name);   /* cdata_name_ok: <= 64 */
	memcpy(c->s.csrf, csrf, sizeof(c->s.csrf));
	con_audit(c, "login", name, NULL);
	*out = json_object_new_object();
	u = json_object_new_object();
	json_object_object_add(u, "id", json_object_new_int64(uid));
	json_object_object_add(u, "email", email[0] ? json_object_new_string(email) : NULL);
	json_object_object_add(u, "name", json_object_new_string(name));
	json_object_object_add(u, "role", json_object_new_string(admin ? "admin" : "user"));
	json_object_object_add(*out, "user", u);
	json_object_object_add(*out, "csrf_token", json_object_new_string(csrf));
	json_object_object_add(*out, "expires_in",
			       json_object_new_int64((long long)c->a->cfg.console_session_hours * 3600));
out:
	explicit_bzero(pw, sizeof(pw));
	return st;
}

/* 1 when name looks like (same skeleton, skel.h) an existing user's
 * name, 0 when not, -1 when the database failed or name is not UTF-8.
 * Reads every name: registration is rare and rate-limited, teams small. */
static int cdata_lookalike(struct db *db, const char *name)
{
	char want[4 * CDATA_NAME_MAX + 1], have[4 * CDATA_NAME_MAX + 1];
	struct db_res res;
	int hit = 0;

	if (skel_name(name, want, sizeof(want)))
		return -1;
	if (db_exec(db, "SELECT name FROM users", NULL, 0, &res))
		return -1;
	for (unsigned i = 0; i < res.nrows && !hit; i++)
		hit = db_res_str(&res, i, 0) &&
		      skel_name(db_res_str(&res, i, 0), have, sizeof(have)) == 0 &&
		      strcmp(want, have) == 0;
	db_res_free(&res);
	return hit;
}

/* The check for a look-alike and the insert, under one lock for every
 * registration (two look-alikes registered at once would both pass):
 * 201, 409 (taken or a look-alike) or 500. */
static int cdata_register_insert(struct con *c, const char *name, const char *email,
				 const char *hash, const char **msg)
{
	char lock[96];
	struct db_res res;
	int got, st = 201, same;

	snprintf(lock, sizeof(lock), "%.48s:register", c->a->cfg.lock_prefix);
	if (DBX(c->a->db, "SELECT GET_LOCK(?, 10)", &res, DBS(lock)))
		return cdata_dberr(c, "register", msg);
	got = db_res_int(&res, 0, 0, 0) == 1;
	db_res_free(&res);
	if (!got) {
		*msg = "注册繁忙,请稍后再试";
		return 503;
	}
	same = cdata_lookalike(c->a->db, name);
	if (same == 0 && email[0] && DBX(c->a->db, "SELECT COUNT(*) FROM users WHERE email = ?",
					 &res, DBS(email)) == RE_OK) {
		same = db_res_int(&res, 0, 0, 0) ? 2 : 0;
		db_res_free(&res);
	} else if (same == 0 && email[0]) {
		same = -1;
	}
	if (same < 0) {
		st = cdata_dberr(c, "register", msg);
	} else if (same == 2) {
		*msg = "邮箱已被使用";
		st = 409;
	} else if (same) {
		*msg = "用户名已存在或与已有用户名过于相似";
		st = 409;
	} else if (DBX(c->a->db, "INSERT IGNORE INTO users (name, email, enabled, pending,"
		       " password_hash) VALUES (?, ?, 0, 1, ?)", NULL, DBS(name),
		       DBS(email[0] ? email : NULL), DBS(hash))) {
		/* disabled and pending until an admin approves; no keys yet */
		st = cdata_dberr(c, "register", msg);
	} else if (db_affected(c->a->db) != 1) {
		*msg = "用户名已存在";
		st = 409;
	}
	if (DBX(c->a->db, "DO RELEASE_LOCK(?)", NULL, DBS(lock)))
		log_error("console: register lock: %s", db_error(c->a->db));
	return st;
}

int cdata_register(struct con *c, const char **msg)
{
	char name[CDATA_NAME_MAX + 2], pw[CPW_MAX + 2], hash[CPW_HASH_MAX], em[256], email[255] = "";
	int st = 201, blocked;

	if (!c->a->cfg.registration_enabled) {
		*msg = "未开放注册";
		return 404;
	}
	/* the seed's {email, password, name}: the address is optional here */
	if (con_arg(c, "email", em, sizeof(em)) && *em &&
	    useradmin_email_norm(em, email, sizeof(email))) {
		*msg = "邮箱格式无效";
		return 400;
	}
	if (!con_arg(c, "name", name, sizeof(name)) || !cdata_name_ok(name) ||
	    skel_name(name, hash, sizeof(hash))) {
		*msg = "用户名须为1-64个字符,不含空格";
		return 400;
	}
	/* before the password's hash: that is what a flood would cost */
	if (csess_register_try(c->a->db, c->a->cfg.lock_prefix, c->addr, &blocked))
		return cdata_dberr(c, "register", msg);
	if (blocked) {
		*msg = "注册过于频繁,请稍后再试";
		return 429;
	}
	if (!con_arg(c, "password", pw, sizeof(pw)) || cpw_hash(pw, hash, sizeof(hash))) {
		*msg = "密码长度须为8-511字节";
		st = 400;
		goto out;
	}
	st = cdata_register_insert(c, name, email, hash, msg);
	if (st != 201)
		goto out;
	con_audit(c, "user.register", name, NULL);
	*msg = "注册成功,请等待管理员审核";
out:
	explicit_bzero(pw, sizeof(pw));
	return st;
}

/* A key's expiry as given (a day, or an RFC 3339 time) into its day in
 * exp (keys are valid through a local day: the column is a DATE, read by
 * admission's hot path). 0, 1 when it is already past, -1 malformed. */
static int cdata_expiry(const char *in, char exp[32])
{
	char today[11];
	struct tm tm;
	const char *rest;
	time_t t;

	if (strlen(in) > 10 && in[10] == 'T') {
		memset(&tm, 0, sizeof(tm));
		rest = strptime(in, "%Y-%m-%dT%H:%M:%S", &tm);
		if (!rest)
			return -1;
		if (*rest == '.')
			for (rest++; *rest >= '0' && *rest <= '9'; rest++)
				;
		t = timegm(&tm);
		if (*rest == 'Z' || *rest == 'z') {
			rest++;
		} else if ((*rest == '+' || *rest == '-') && strlen(rest) == 6 && rest[3] == ':') {
			long off = ((rest[1] - '0') * 10 + (rest[2] - '0')) * 3600 +
				   ((rest[4] - '0') * 10 + (rest[5] - '0')) * 60;
			t -= *rest == '+' ? off : -off;
			rest += 6;
		} else {
			return -1;
		}
		if (*rest)
			return -1;
		if (t <= time(NULL))
			return 1;
		/* the local day of that instant */
		if (!localtime_r(&t, &tm) || !strftime(exp, 32, "%Y-%m-%d", &tm))
			return -1;
	}
	if (!apikey_date_ok(exp))
		return -1;
	db_today(today);
	return strcmp(exp, today) < 0 ? 1 : 0;
}

int cdata_key_create(struct con *c, long long user_id, struct json_object **out,
		     const char **msg)
{
	static char why[640];
	char bad[512];
	char name[APIKEY_NAME_MAX + 2], models_in[APIKEY_MODELS_MAX + 2],
	     models[APIKEY_MODELS_MAX + 1], exp[32], key[64], prefix[13], target[96];
	const char *n = con_arg(c, "name", name, sizeof(name));
	const char *e = con_arg(c, "expires_at", exp, sizeof(exp));
	const char *m = con_arg(c, "models", models_in, sizeof(models_in));
	struct json_object *arr = NULL;
	long long id;
	enum relay_err rc;

	if (c->arg_bad) {
		*msg = "参数无效(过长或类型错误)";
		return 400;
	}
	if (n && strlen(n) > APIKEY_NAME_MAX) {
		*msg = "密钥名称最长64字节";
		return 400;
	}
	switch (e && *e ? cdata_expiry(e, exp) : 0) {
	case 0:
		break;
	case 1:
		*msg = "过期时间已过";
		return 400;
	default:
		*msg = "过期时间格式应为 YYYY-MM-DD 或 RFC 3339 (2027-12-31T23:59:59Z)";
		return 400;
	}
	if (apikey_models_norm(m, models, sizeof(models)) < 0) {
		*msg = "模型列表无效";
		return 400;
	}
	switch (apikey_models_beyond(c->a->db, user_id, models, bad, sizeof(bad))) {
	case 0:
		break;
	case -1:
		return cdata_dberr(c, "key create", msg);
	default:
		/* names what the user's list does not allow (a key's list
		 * may only narrow it); one process, one request at a time */
		snprintf(why, sizeof(why), "模型不在该用户允许的列表中: %s", bad);
		*msg = why;
		return 400;
	}
	rc = apikey_create(c->a->db, user_id, n, models, e, key, sizeof(key), prefix, &id);
	if (rc == RE_EIO) {
		*msg = "无法生成随机密钥";
		return 500;
	}
	if (rc)
		return cdata_dberr(c, "key create", msg);
	snprintf(target, sizeof(target), "key:%lld user:%lld", id, user_id);
	con_audit(c, "key.create", target, prefix);
	if (cdata_keys(c->a->db, user_id, &arr) == RE_OK) {
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			struct json_object *o = json_object_array_get_idx(arr, i), *v;
			if (json_object_object_get_ex(o, "id", &v) && json_object_get_int64(v) == id) {
				*out = json_object_get(o);
				break;
			}
		}
		json_object_put(arr);
	}
	if (!*out)
		*out = json_object_new_object();
	json_object_object_add(*out, "key", json_object_new_string(key));
	explicit_bzero(key, sizeof(key));
	return 201;
}

int cdata_key_revoke(struct con *c, long long owner, long long key_id, const char **msg)
{
	struct db_res res;
	char target[64];
	int st = 200;

	if (DBX(c->a->db, "SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = ?"
		" AND (? = 0 OR user_id = ?)", &res, DBI(key_id), DBI(owner), DBI(owner)))
		return cdata_dberr(c, "key revoke", msg);
	/* someone else's key is answered exactly like a missing one */
	if (res.nrows != 1) {
		*msg = "密钥不存在";
		st = 404;
	} else if (db_res_int(&res, 0, 0, 0)) {
		*msg = "密钥已被吊销";
		st = 409;
	}
	db_res_free(&res);
	if (st != 200)
		return st;
	if (apikey_revoke(c->a->db, key_id, NULL))
		return cdata_dberr(c, "key revoke", msg);
	snprintf(target, sizeof(target), "key:%lld", key_id);
	con_audit(c, "key.revoke", target, NULL);
	*msg = "密钥已吊销";
	return 200;
}

/* The optional user fields of create/update. has_* = given. */
struct cdata_ufields {
	long long req, tok, prio, admin, enabled, approve, maxc, maxq;
	int has_req, has_tok, has_prio, has_admin, has_enabled, has_approve, has_models;
	int has_maxc, has_maxq;   /* per-user caps, 0 = unlimited */
	char models[APIKEY_MODELS_MAX + 1];
	char hash[CPW_HASH_MAX];      /* "" = no new password */
	int has_email;
	char email[255];              /* normalised; "" = none */
};

/* An optional integer argument into *v / *has; -1 if malformed. */
static int cdata_opt(struct con *c, const char *name, long long lo, long long hi,
		     long long *v, int *has)
{
	int r = con_arg_int(c, name, lo, hi, v);

	*has = r == 0;
	return r < 0 ? -1 : 0;
}

/* Reads the user fields; 0, or 400 with *msg. */
static int cdata_read_ufields(struct con *c, struct cdata_ufields *f, const char **msg)
{
	char pw[CPW_MAX + 2], m[APIKEY_MODELS_MAX + 2];
	const char *mv, *pv;

	memset(f, 0, sizeof(*f));
	if (cdata_opt(c, "daily_requests", 0, 4294967295LL, &f->req, &f->has_req) ||
	    cdata_opt(c, "daily_tokens", 0, 9000000000000000000LL, &f->tok, &f->has_tok) ||
	    cdata_opt(c, "priority", -1000000, 1000000, &f->prio, &f->has_prio) ||
	    cdata_opt(c, "admin", 0, 1, &f->admin, &f->has_admin) ||
	    cdata_opt(c, "enabled", 0, 1, &f->enabled, &f->has_enabled) ||
	    cdata_opt(c, "approve", 0, 1, &f->approve, &f->has_approve) ||
	    cdata_opt(c, "max_concurrent", 0, 4294967295LL, &f->maxc, &f->has_maxc) ||
	    cdata_opt(c, "max_queued", 0, 4294967295LL, &f->maxq, &f->has_maxq)) {
		*msg = "数值参数无效";
		return 400;
	}
	if ((mv = con_arg(c, "models", m, sizeof(m)))) {
		if (apikey_models_norm(mv, f->models, sizeof(f->models)) < 0) {
			*msg = "模型列表无效";
			return 400;
		}
		f->has_models = 1;
	}
	if ((mv = con_arg(c, "email", m, sizeof(m)))) {
		if (*mv && useradmin_email_norm(mv, f->email, sizeof(f->email))) {
			*msg = "邮箱格式无效";
			return 400;
		}
		f->has_email = 1;
	}
	pv = con_arg(c, "password", pw, sizeof(pw));
	if (c->arg_bad) {
		explicit_bzero(pw, sizeof(pw));
		*msg = "参数无效(过长或类型错误)";
		return 400;
	}
	if (pv && *pv && cpw_hash(pv, f->hash, sizeof(f->hash))) {
		explicit_bzero(pw, sizeof(pw));
		*msg = "密码长度须为8-511字节";
		return 400;
	}
	explicit_bzero(pw, sizeof(pw));
	return 0;
}

/* 1 when another user has the address email (never for ""). */
static int cdata_email_taken(struct con *c, const char *email)
{
	struct db_res res;
	int n;

	if (!email[0] || DBX(c->a->db, "SELECT COUNT(*) FROM users WHERE email = ?", &res,
			     DBS(email)))
		return 0;
	n = db_res_int(&res, 0, 0, 0) > 0;
	db_res_free(&res);
	return n;
}

int cdata_user_create(struct con *c, struct json_object **out, const char **msg)
{
	char name[CDATA_NAME_MAX + 2];
	struct cdata_ufields f;
	long long id;
	int st;

	if (!con_arg(c, "name", name, sizeof(name)) || !cdata_name_ok(name)) {
		*msg = "用户名须为1-64个字符,不含空格";
		return 400;
	}
	if ((st = cdata_read_ufields(c, &f, msg)))
		return st;
	/* INSERT IGNORE: a taken name or address is a 409, told apart below */
	if (DBX(c->a->db, "INSERT IGNORE INTO users (name, daily_requests, daily_tokens,"
		" priority, models, is_admin, enabled, password_hash, max_concurrent, max_queued,"
		" email) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		NULL, DBS(name), DBI(f.has_req ? f.req : 1000), DBI(f.has_tok ? f.tok : 100000),
		DBI(f.has_prio ? f.prio : 0), DBS(f.models[0] ? f.models : NULL),
		DBI(f.has_admin ? f.admin : 0), DBI(f.has_enabled ? f.enabled : 1),
		DBS(f.hash[0] ? f.hash : NULL), DBI(f.maxc), DBI(f.maxq),
		DBS(f.email[0] ? f.email : NULL)))
		return cdata_dberr(c, "user create", msg);
	if (db_affected(c->a->db) != 1) {
		*msg = cdata_email_taken(c, f.email) ? "邮箱已被使用" : "用户名已存在";
		return 409;
	}
	id = (long long)db_insert_id(c->a->db);
	con_audit(c, "user.create", name, f.has_admin && f.admin ? "admin" : NULL);
	*out = json_object_new_object();
	json_object_object_add(*out, "id", json_object_new_int64(id));
	json_object_object_add(*out, "name", json_object_new_string(name));
	json_object_object_add(*out, "email", f.email[0] ? json_object_new_string(f.email) : NULL);
	json_object_object_add(*out, "role", json_object_new_string(f.has_admin && f.admin ?
								  "admin" : "user"));
	*msg = "用户已创建";
	return 201;
}

/* The audit detail of an update: the fields given with their new values
 * (never the password itself, only that it changed). Caller's out. */
static void cdata_update_detail(const struct cdata_ufields *f, char *out, size_t outlen)
{
	struct buf b;

	buf_init(&b, outlen - 1);
	if (f->has_req) buf_printf(&b, " daily_requests=%lld", f->req);
	if (f->has_tok) buf_printf(&b, " daily_tokens=%lld", f->tok);
	if (f->has_prio) buf_printf(&b, " priority=%lld", f->prio);
	if (f->has_admin) buf_printf(&b, " admin=%lld", f->admin);
	if (f->has_enabled) buf_printf(&b, " enabled=%lld", f->enabled);
	if (f->has_approve && f->approve) buf_puts(&b, " approved");
	if (f->has_models) buf_printf(&b, " models=%s", f->models[0] ? f->models : "*");
	if (f->has_maxc) buf_printf(&b, " max_concurrent=%lld", f->maxc);
	if (f->has_maxq) buf_printf(&b, " max_queued=%lld", f->maxq);
	if (f->hash[0]) buf_puts(&b, " password");
	if (f->has_email) buf_printf(&b, " email=%s", f->email[0] ? f->email : "-");
	snprintf(out, outlen, "%s", b.len ? buf_cstr(&b) + 1 : "");
	buf_free(&b);
}

/* The form's fields as the admin layer's change (f must outlive uc). */
static void cdata_user_change(const struct cdata_ufields *f, struct user_change *uc)
{
	useradmin_init(uc);
	uc->has_requests = f->has_req;
	uc->requests = f->req;
	uc->has_tokens = f->has_tok;
	uc->tokens = f->tok;
	uc->has_priority = f->has_prio;
	uc->priority = f->prio;
	uc->has_max_conc = f->has_maxc;
	uc->max_conc = f->maxc;
	uc->has_max_queued = f->has_maxq;
	uc->max_queued = f->maxq;
	uc->has_models = f->has_models;
	uc->models = f->models;
	uc->enabled = f->has_enabled ? (int)f->enabled : -1;
	uc->admin = f->has_admin ? (int)f->admin : -1;
	uc->approve = f->has_approve && f->approve;
	uc->password_hash = f->hash[0] ? f->hash : NULL;
	uc->email = f->has_email ? f->email : NULL;
}

int cdata_user_update(struct con *c, long long id, const char **msg)
{
	struct cdata_ufields f;
	struct user_change uc;
	int found = 0;
	char target[96], detail[256];
	int st;

	if ((st = cdata_read_ufields(c, &f, msg)))
		return st;
	if (id == c->s.user_id && ((f.has_admin && !f.admin) || (f.has_enabled && !f.enabled))) {
		*msg = "不能撤销自己的管理员权限或禁用自己";
		return 400;
	}
	cdata_user_change(&f, &uc);
	if (useradmin_update(c->a->db, id, &uc, &found)) {
		if (db_errno(c->a->db) != 1062)   /* ER_DUP_ENTRY: the e-mail's key */
			return cdata_dberr(c, "user update", msg);
		*msg = "邮箱已被使用";
		return 409;
	}
	if (!found) {
		*msg = "用户不存在";
		return 404;
	}
	/* a new password or a disabled account ends the user's sessions */
	if ((f.hash[0] || (f.has_enabled && !f.enabled)) &&
	    DBX(c->a->db, "DELETE FROM console_sessions WHERE user_id = ?", NULL, DBI(id)))
		return cdata_dberr(c, "user update", msg);
	snprintf(target, sizeof(target), "user:%lld", id);
	cdata_update_detail(&f, detail, sizeof(detail));
	con_audit(c, "user.update", target, detail);
	*msg = "用户已更新";
	return 200;
}

int cdata_user_delete(struct con *c, long long id, const char **msg)
{
	struct db_res res;
	char target[96], detail[64], name[CDATA_NAME_MAX + 1];
	int found = 0, cancelled = 0;

	if (id == c->s.user_id) {
		*msg = "不能删除自己";
		return 400;
	}
	if (DBX(c->a->db, "SELECT name FROM users WHERE id = ?", &res, DBI(id)))
		return cdata_dberr(c, "user delete", msg);
	snprintf(name, sizeof(name), "%s", res.nrows ? db_res_str(&res, 0, 0) : "");
	db_res_free(&res);
	if (!name[0]) {
		*msg = "用户不存在";
		return 404;
	}
	if (useradmin_delete(c->a->db, id, &cancelled, &found))
		return cdata_dberr(c, "user delete", msg);
	if (!found) {
		*msg = "用户不存在";
		return 404;
	}
	/* the audit row names the user as relayctl's does, with the id */
	snprintf(target, sizeof(target), "%s", name);
	snprintf(detail, sizeof(detail), "user:%lld queued_failed=%d", id, cancelled);
	con_audit(c, "user.delete", target, detail);
	*msg = "用户已删除";
	return 200;
}

int cdata_queue_action(struct con *c, long long id, int retry, const char **msg)
{
	char target[64];
	int done = 0;

	if ((retry ? qadmin_retry : qadmin_cancel)(c->a->db, id, &done))
		return cdata_dberr(c, "queue action", msg);
	if (!done) {
		*msg = retry ? "没有这个失败的队列项" : "没有这个等待中的队列项";
		return 404;
	}
	snprintf(target, sizeof(target), "queue:%lld", id);
	con_audit(c, retry ? "queue.retry" : "queue.cancel", target, NULL);
	*msg = retry ? "已重新排队" : "已取消";
	return 200;
}

int cdata_queue_cancel_own(struct con *c, const char **msg)
{
	char target[64];
	int done = 0;

	if (qadmin_cancel_own(c->a->db, c->id, c->s.user_id, &done))
		return cdata_dberr(c, "queue cancel", msg);
	if (!done) {
		*msg = "没有这个等待中的队列项";
		return 404;
	}
	snprintf(target, sizeof(target), "queue:%lld", c->id);
	con_audit(c, "queue.cancel", target, "by its member");
	*msg = "已取消";
	return 200;
}
