/* h_queue_status.c - GET /api/queue_status.php?queue_id=N (SPEC §5).
 * Only the user who queued an item may read it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "doors.h"
#include "auth.h"
#include "db.h"
#include "qs.h"
#include "queue.h"
#include "resp.h"
#include "route.h"

#define MSG_DB "数据库错误,请稍后重试"

/* Parses a positive decimal id; 0 on anything else. */
static long long qstat_id(const char *s)
{
	char *end;
	long long v;

	if (!*s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0)
		return 0;
	return v;
}

static void qstat_add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

/* Adds "response": parsed JSON when the body is JSON, else the text with
 * "response_format" saying what it is. */
static void qstat_add_response(struct json_object *o, const char *body,
			       unsigned long len, int stream)
{
	struct json_object *j = NULL;

	if (!body)
		return;
	if (!stream) {
		struct json_tokener *t = json_tokener_new();
		j = json_tokener_parse_ex(t, body, (int)len);
		if (json_tokener_get_error(t) != json_tokener_success ||
		    (size_t)json_tokener_get_parse_end(t) < len) {
			json_object_put(j);
			j = NULL;
		}
		json_tokener_free(t);
	}
	if (j) {
		json_object_object_add(o, "response", j);
		return;
	}
	json_object_object_add(o, "response", json_object_new_string_len(body, (int)len));
	json_object_object_add(o, "response_format",
			       json_object_new_string(stream ? "sse" : "text"));
}

void queue_status_handle(struct web_req *r, void *ctx)
{
	static const char q[] =
		"SELECT status, priority, stream,"
		" DATE_FORMAT(added_at, '%Y-%m-%d %H:%i:%s'),"
		" DATE_FORMAT(started_at, '%Y-%m-%d %H:%i:%s'),"
		" DATE_FORMAT(completed_at, '%Y-%m-%d %H:%i:%s'),"
		" http_status, error_message, response"
		" FROM queue WHERE id = ? AND user_id = ?";
	struct app *a = ctx;
	struct json_object *o;
	struct auth_user u;
	enum auth_status ast;
	struct db_res res;
	char idbuf[32], day[11];
	const char *st;
	long long id;
	int n;

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		resp_error(r, 405, "请使用GET方法", NULL);
		return;
	}
	if (!app_ready(a, r))
		return;
	n = qs_get(r->query, "queue_id", idbuf, sizeof(idbuf));
	if (n == -1) {
		resp_error(r, 400, "缺少queue_id参数", NULL);
		return;
	}
	id = n > 0 ? qstat_id(idbuf) : 0;
	if (!id) {
		resp_error(r, 400, "queue_id参数无效", NULL);
		return;
	}
	db_today(day);
	/* X-API-Key, else Authorization: Bearer, as call.php takes it */
	if (auth_check(a->db, route_api_key(r), day, &u, &ast)) {
		resp_error(r, 500, MSG_DB, NULL);
		return;
	}
	if (ast != AUTH_OK) {
		resp_error(r, 401, auth_message(ast), NULL);
		return;
	}
	if (DBX(a->db, q, &res, DBI(id), DBI(u.user_id))) {
		resp_error(r, 500, MSG_DB, NULL);
		return;
	}
	if (res.nrows == 0) {
		/* Unknown and someone else's look the same on purpose. */
		db_res_free(&res);
		resp_error(r, 404, "队列记录不存在", NULL);
		return;
	}
	st = db_res_str(&res, 0, 0);
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "queue_id", json_object_new_int64(id));
	json_object_object_add(o, "status", json_object_new_string(st));
	if (strcmp(st, "waiting") == 0) {
		long long pos = 0, total = 0;
		if (queue_position(a->db, id, (int)db_res_int(&res, 0, 1, 0), &pos, &total)) {
			json_object_put(o);
			db_res_free(&res);
			resp_error(r, 500, MSG_DB, NULL);
			return;
		}
		json_object_object_add(o, "position", json_object_new_int64(pos));
		json_object_object_add(o, "total_waiting", json_object_new_int64(total));
		qstat_add_str(o, "added_at", db_res_str(&res, 0, 3));
	} else if (strcmp(st, "processing") == 0) {
		qstat_add_str(o, "added_at", db_res_str(&res, 0, 3));
		qstat_add_str(o, "started_at", db_res_str(&res, 0, 4));
	} else {
		qstat_add_str(o, "added_at", db_res_str(&res, 0, 3));
		qstat_add_str(o, "completed_at", db_res_str(&res, 0, 5));
		if (db_res_str(&res, 0, 6))
			json_object_object_add(o, "http_status",
				json_object_new_int((int)db_res_int(&res, 0, 6, 0)));
		if (strcmp(st, "failed") == 0)
			qstat_add_str(o, "error_message", db_res_str(&res, 0, 7) ?
				      db_res_str(&res, 0, 7) : "unknown error");
		qstat_add_response(o, db_res_str(&res, 0, 8), db_res_len(&res, 0, 8),
				   (int)db_res_int(&res, 0, 2, 0));
	}
	db_res_free(&res);
	resp_json(r, 200, o);
	json_object_put(o);
}
