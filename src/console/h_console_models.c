/* h_console_models.c - /api/v1/admin/models (issue 29, the Go gateway's
 * model management): models as first-class entries with their backends.
 * The writes are madmin's (src/admin, shared with relayctl model ...);
 * every change is audited. Answers: {"success":true,"data":...} or the
 * project's error body. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "cdata.h"
#include "console.h"
#include "db.h"
#include "log.h"
#include "madmin.h"

#define RFC3339(col) "DATE_FORMAT(CONVERT_TZ(" col ", @@session.time_zone, '+00:00')," \
	" '%Y-%m-%dT%H:%i:%sZ')"

static const struct cdata_col cm_cols[] = {
	{ "id", 'i' }, { "name", 's' }, { "display_name", 's' }, { "enabled", 'b' },
	{ "created_at", 's' }, { "updated_at", 's' },
};

/* The seed's Backend of a model: the backend's own fields with the
 * entry's upstream model_name, weight and region. */
static const struct cdata_col cmb_cols[] = {
	{ "id", 'i' }, { "model_id", 'i' }, { "name", 's' }, { "base_url", 's' },
	{ "model_name", 's' }, { "weight", 'i' }, { "region", 's' }, { "enabled", 'b' },
	{ "healthy", 'b' }, { "last_check_at", 's' }, { "created_at", 's' },
	{ "updated_at", 's' },
};

/* The backends of model id (every model's with id -1). */
static enum relay_err cm_backends(struct con *c, long long id, struct json_object **out)
{
	struct db_res res;

	if (DBX(c->a->db, "SELECT b.id, mb.model_id, b.name, b.base_url,"
		" IF(mb.model_name = '', m.name, mb.model_name), mb.weight, mb.region, b.enabled,"
		" b.enabled = 1 AND COALESCE(s.fails, 0) = 0 AND s.cool_until IS NULL, "
		RFC3339("GREATEST(COALESCE(s.last_ok_at, s.last_fail_at),"
			" COALESCE(s.last_fail_at, s.last_ok_at))") ", "
		RFC3339("mb.created_at") ", " RFC3339("mb.updated_at")
		" FROM model_backends mb JOIN models m ON m.id = mb.model_id"
		" JOIN backends b ON b.id = mb.backend_id"
		" LEFT JOIN backend_state s ON s.backend_id = b.id"
		" WHERE ? < 0 OR mb.model_id = ? ORDER BY mb.model_id, b.id", &res, DBI(id), DBI(id)))
		return RE_EDB;
	*out = cdata_rows(&res, cmb_cols, (unsigned)(sizeof(cmb_cols) / sizeof(cmb_cols[0])));
	db_res_free(&res);
	return RE_OK;
}

/* Models (or only id when id >= 0), each with its "backends". */
static enum relay_err cm_list(struct con *c, long long id, struct json_object **out)
{
	struct json_object *all = NULL;
	struct db_res res;

	if (DBX(c->a->db, "SELECT id, name, display_name, enabled, " RFC3339("created_at") ", "
		RFC3339("updated_at") " FROM models WHERE ? < 0 OR id = ? ORDER BY name", &res,
		DBI(id), DBI(id)))
		return RE_EDB;
	*out = cdata_rows(&res, cm_cols, (unsigned)(sizeof(cm_cols) / sizeof(cm_cols[0])));
	db_res_free(&res);
	if (cm_backends(c, id, &all)) {
		json_object_put(*out);
		return RE_EDB;
	}
	for (size_t i = 0; i < json_object_array_length(*out); i++) {
		struct json_object *m = json_object_array_get_idx(*out, i), *v, *mine;
		long long mid = json_object_object_get_ex(m, "id", &v) ? json_object_get_int64(v) : 0;
		mine = json_object_new_array();
		for (size_t k = 0; k < json_object_array_length(all); k++) {
			struct json_object *b = json_object_array_get_idx(all, k);
			if (json_object_object_get_ex(b, "model_id", &v) && json_object_get_int64(v) == mid)
				json_object_array_add(mine, json_object_get(b));
		}
		json_object_object_add(m, "backends", mine);
	}
	json_object_put(all);
	return RE_OK;
}

static void cm_dberr(struct con *c)
{
	log_error("console api %s: %s", c->path, db_error(c->a->db));
	con_api_error(c, 500, "数据库错误");
}

/* The one model id as the answer of a change (status st). */
static void cm_answer(struct con *c, long long id, int st)
{
	struct json_object *d = NULL, *one;

	if (cm_list(c, id, &d)) {
		cm_dberr(c);
		return;
	}
	one = json_object_array_length(d) ?
		json_object_get(json_object_array_get_idx(d, 0)) : json_object_new_object();
	json_object_put(d);
	con_ok(c, st, one, NULL);
}

void capi_models(struct con *c)
{
	struct json_object *d = NULL;

	if (cm_list(c, -1, &d)) {
		cm_dberr(c);
		return;
	}
	con_ok(c, 200, d, NULL);
}

/* The spec of a create/update from the request: 0, or the 400 answered. */
static int cm_read(struct con *c, struct model_spec *s, char *name, size_t ncap,
		   char *disp, size_t dcap, int need_name)
{
	long long v;
	int rc;

	s->name = con_arg(c, "name", name, ncap);
	s->display = con_arg(c, "display_name", disp, dcap);
	s->enabled = -1;
	if ((rc = con_arg_int(c, "enabled", 0, 1, &v)) == 0)
		s->enabled = (int)v;
	if (rc < 0 || c->arg_bad) {
		con_api_error(c, 400, "参数无效(过长或类型错误)");
		return -1;
	}
	if ((need_name || s->name) && !madmin_name_ok(s->name)) {
		con_api_error(c, 400, "模型名须为1-255个字符 [A-Za-z0-9._:/@+-]");
		return -1;
	}
	return 0;
}

void capi_model_create(struct con *c)
{
	char name[MODEL_NAME_MAX + 2], disp[MODEL_NAME_MAX + 2];
	struct model_spec s;
	long long id = 0;
	enum relay_err rc;

	if (cm_read(c, &s, name, sizeof(name), disp, sizeof(disp), 1))
		return;
	rc = madmin_add(c->a->db, &s, &id);
	if (rc == RE_EINVAL) {
		con_api_error(c, 409, "模型已存在");
		return;
	}
	if (rc) {
		cm_dberr(c);
		return;
	}
	con_audit(c, "model.create", name, s.enabled == 0 ? "disabled" : NULL);
	cm_answer(c, id, 201);
}

void capi_model_update(struct con *c)
{
	char name[MODEL_NAME_MAX + 2], disp[MODEL_NAME_MAX + 2], target[64], detail[300];
	struct model_spec s;
	int found = 0;
	enum relay_err rc;

	if (cm_read(c, &s, name, sizeof(name), disp, sizeof(disp), 0))
		return;
	rc = madmin_set(c->a->db, c->id, &s, &found);
	if (rc == RE_EINVAL) {
		con_api_error(c, 409, "模型已存在");
		return;
	}
	if (rc) {
		cm_dberr(c);
		return;
	}
	if (!found) {
		con_api_error(c, 404, "模型不存在");
		return;
	}
	snprintf(target, sizeof(target), "model:%lld", c->id);
	snprintf(detail, sizeof(detail), "%s%s%s%s", s.name ? "name=" : "", s.name ? s.name : "",
		 s.display ? " display_name" : "",
		 s.enabled == -1 ? "" : s.enabled ? " enabled" : " disabled");
	con_audit(c, "model.update", target, detail);
	cm_answer(c, c->id, 200);
}

void capi_model_delete(struct con *c)
{
	char target[64];
	int found = 0;

	if (madmin_del(c->a->db, c->id, &found)) {
		cm_dberr(c);
		return;
	}
	if (!found) {
		con_api_error(c, 404, "模型不存在");
		return;
	}
	snprintf(target, sizeof(target), "model:%lld", c->id);
	con_audit(c, "model.delete", target, NULL);
	con_ok(c, 200, NULL, NULL);
}

void capi_model_backends(struct con *c)
{
	struct json_object *d = NULL;
	struct db_res res;
	int n;

	if (DBX(c->a->db, "SELECT COUNT(*) FROM models WHERE id = ?", &res, DBI(c->id))) {
		cm_dberr(c);
		return;
	}
	n = (int)db_res_int(&res, 0, 0, 0);
	db_res_free(&res);
	if (!n) {
		con_api_error(c, 404, "模型不存在");
		return;
	}
	if (cm_backends(c, c->id, &d)) {
		cm_dberr(c);
		return;
	}
	con_ok(c, 200, d, NULL);
}

/* POST /api/v1/admin/models/:id/backends {backend_id, model_name, weight,
 * region}: adds that backend to the model (or changes its entry). */
void capi_model_backend_add(struct con *c)
{
	char mname[MODEL_NAME_MAX + 2], region[80], target[64], detail[400];
	struct model_backend_spec s = { 0, NULL, -1, NULL };
	long long v;
	int rc;
	enum relay_err e;

	if (con_arg_int(c, "backend_id", 1, 4294967295LL, &s.backend_id) != 0) {
		con_api_error(c, 400, "需要 backend_id");
		return;
	}
	s.model_name = con_arg(c, "model_name", mname, sizeof(mname));
	s.region = con_arg(c, "region", region, sizeof(region));
	if ((rc = con_arg_int(c, "weight", 1, 1000, &v)) == 0)
		s.weight = v;
	if (rc < 0 || c->arg_bad || (s.model_name && *s.model_name && !madmin_name_ok(s.model_name)) ||
	    (s.region && !madmin_region_ok(s.region))) {
		con_api_error(c, 400, "参数无效:model_name 为模型名,weight 1..1000,region 不含空格");
		return;
	}
	e = madmin_backend_put(c->a->db, c->id, &s);
	if (e == RE_ENOTFOUND) {
		con_api_error(c, 404, "模型或上游不存在");
		return;
	}
	if (e) {
		cm_dberr(c);
		return;
	}
	snprintf(target, sizeof(target), "model:%lld", c->id);
	snprintf(detail, sizeof(detail), "backend:%lld model_name=%s weight=%lld region=%s",
		 s.backend_id, s.model_name && *s.model_name ? s.model_name : "-",
		 s.weight == -1 ? 1 : s.weight, s.region ? s.region : "");
	con_audit(c, "model.backend", target, detail);
	cm_answer(c, c->id, 201);
}
