/* h_console_backends.c - the console's backends (issue 13 in issue 15):
 * the admin API under /api/v1/admin/backends and the pages under
 * /console/admin/backends, both over bkadmin.h (the functions relayctl
 * backend uses), so a change made here is checked, sealed and bumped
 * exactly as one made from the shell.
 *
 * An upstream key goes in (add, or set with a new key) and never comes
 * back out: listings carry its last 4 characters. The default backend
 * (id 0, the legacy settings of relay.conf) is listed with its health and
 * slots in use but changed only in relay.conf. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "backend.h"
#include "bkadmin.h"
#include "cdata.h"
#include "console.h"
#include "cpage.h"
#include "db.h"
#include "log.h"

/* ---- data ---- */

static const struct cdata_col cbk_cols[] = {
	{ "id", 'i' }, { "name", 's' }, { "format", 's' }, { "base_url", 's' },
	{ "auth", 's' }, { "key_last4", 's' }, { "slots", 'i' }, { "weight", 'i' },
	{ "priority", 'i' }, { "enabled", 'b' }, { "models", 'm' }, { "model_map", 's' }, { "mode", 's' },
	{ "preset", 's' }, { "state", 's' }, { "slots_in_use", 'i' }, { "fails", 'i' },
	{ "cool_until", 's' }, { "last_status", 'i' }, { "last_error", 's' },
	{ "responses", 's' },
	/* the Go gateway's Backend fields (issue 29): times in RFC 3339 UTC */
	{ "region", 's' }, { "healthy", 'b' }, { "last_check_at", 's' },
	{ "created_at", 's' }, { "updated_at", 's' },
};

/* A TIMESTAMP/DATETIME column in RFC 3339 UTC (the session's zone is
 * RELAY_TIMEZONE's offset: CONVERT_TZ from it needs no zone tables). */
#define RFC3339(col) "DATE_FORMAT(CONVERT_TZ(" col ", @@session.time_zone, '+00:00')," \
	" '%Y-%m-%dT%H:%i:%sZ')"

/* Every backend (the default first), or only id when id >= 0, with its
 * health and slots in use; never a key. */
static enum relay_err cbk_list(struct con *c, long long id, struct json_object **out)
{
	static const char q[] =
		"SELECT b.id, b.name, b.format, b.base_url, b.auth, b.key_last4, b.slots,"
		" b.weight, b.priority, b.enabled, b.models, b.model_map, b.mode, b.preset,"
		" CASE WHEN b.enabled = 0 THEN 'disabled'"
		"  WHEN s.cool_until > NOW(3) THEN 'down' WHEN s.cool_until IS NOT NULL"
		"  THEN 'probing' WHEN s.fails > 0 THEN 'failing' ELSE 'ok' END,"
		" relay_slots_used(?, b.id, b.slots), COALESCE(s.fails, 0),"
		" DATE_FORMAT(s.cool_until, '%Y-%m-%d %H:%i:%s'), s.last_status, s.last_error,"
		" b.responses, b.region, b.enabled = 1 AND COALESCE(s.fails, 0) = 0 AND s.cool_until IS NULL,"
		" " RFC3339("GREATEST(COALESCE(s.last_ok_at, s.last_fail_at),"
		"  COALESCE(s.last_fail_at, s.last_ok_at))") ","
		" " RFC3339("b.created_at") ", " RFC3339("b.updated_at")
		" FROM (SELECT 0 AS id, 'default' AS name, ? AS format,"
		"   '(relay.conf)' AS base_url, '' AS auth, '' AS key_last4, ? AS slots,"
		"   1 AS weight, 0 AS priority, ? AS enabled, NULL AS models, NULL AS model_map,"
		"   'pass' AS mode, '' AS preset, ? AS responses, '' AS region, NULL AS created_at,"
		"   NULL AS updated_at"
		"  UNION ALL SELECT id, name, format, base_url, auth, key_last4, slots, weight,"
		"   priority, enabled, models, model_map, mode, preset, responses, region, created_at,"
		"   updated_at FROM backends) b"
		" LEFT JOIN backend_state s ON s.backend_id = b.id"
		" WHERE ? < 0 OR b.id = ? ORDER BY b.id";
	const struct backend *d = &c->a->bk.dflt;
	struct db_res res;
	const char *fmt = d->fmts == 3 ? "both" : d->fmts == 2 ? "anthropic" :
		d->fmts == 1 ? "openai" : "none";

	if (DBX(c->a->db, q, &res, DBS(c->a->cfg.lock_prefix), DBS(fmt), DBI(d->slots),
		DBI(d->enabled && d->fmts),
		DBS(d->responses == BACKEND_RS_NO ? "no" : d->responses == BACKEND_RS_YES ?
		    "yes" : "auto"), DBI(id), DBI(id)))
		return RE_EDB;
	*out = cdata_rows(&res, cbk_cols, (unsigned)(sizeof(cbk_cols) / sizeof(cbk_cols[0])));
	db_res_free(&res);
	return RE_OK;
}

/* Sets *msg to the static or formatted text and returns status. */
static int cbk_say(const char **msg, const char *text, int status)
{
	*msg = text;
	return status;
}

/* The name of backend id into out: 200, 400 for the default, 404. */
static int cbk_name(struct con *c, long long id, char *out, size_t cap, const char **msg)
{
	struct db_res res;
	int st = 404;

	if (id == 0) {
		*msg = "默认上游来自 relay.conf,请在配置文件中修改";
		return 400;
	}
	if (DBX(c->a->db, "SELECT name FROM backends WHERE id = ?", &res, DBI(id))) {
		*msg = "数据库错误";
		return 500;
	}
	if (res.nrows && db_res_str(&res, 0, 0)) {
		snprintf(out, cap, "%s", db_res_str(&res, 0, 0));
		st = 200;
	}
	db_res_free(&res);
	if (st == 404)
		*msg = "上游不存在";
	return st;
}

/* The arguments of an add or a change. */
struct cbk_args {
	struct bk_spec s;
	char name[BACKEND_NAME_MAX + 2], preset[40], format[16], url[2100], auth[16],
		key[1100], models[4100], map[4100], mode[16], api_version[40], region[40];
};

/* A text argument into buf: s = buf when given ("" allowed), NULL absent. */
static const char *cbk_text(struct con *c, const char *name, char *buf, size_t cap)
{
	return con_arg(c, name, buf, cap);
}

/* Reads the spec from the request (a page's empty field = not given,
 * except models/map, where empty clears; the key is never cleared by an
 * empty field). 0, or a 400 with *msg. */
static int cbk_read(struct con *c, struct cbk_args *g, const char **msg)
{
	struct bk_spec *s = &g->s;
	long long v;
	int rc;

	bk_spec_init(s, NULL);
	s->name = cbk_text(c, "name", g->name, sizeof(g->name));
	s->preset = cbk_text(c, "preset", g->preset, sizeof(g->preset));
	s->format = cbk_text(c, "format", g->format, sizeof(g->format));
	s->url = cbk_text(c, "url", g->url, sizeof(g->url));
	if (!s->url)   /* the seed's name of it */
		s->url = cbk_text(c, "base_url", g->url, sizeof(g->url));
	s->region = cbk_text(c, "region", g->region, sizeof(g->region));
	s->auth = cbk_text(c, "auth", g->auth, sizeof(g->auth));
	s->key = cbk_text(c, "key", g->key, sizeof(g->key));
	s->models = cbk_text(c, "models", g->models, sizeof(g->models));
	s->map = cbk_text(c, "model_map", g->map, sizeof(g->map));
	s->mode = cbk_text(c, "mode", g->mode, sizeof(g->mode));
	/* Azure's api-version, AWS Bedrock's region (issue 28) */
	s->api_version = cbk_text(c, "api_version", g->api_version, sizeof(g->api_version));
	s->region = cbk_text(c, "region", g->region, sizeof(g->region));
	if ((rc = con_arg_int(c, "slots", 1, 1000, &v)) == 0)
		s->slots = v;
	else if (rc < 0)
		return cbk_say(msg, "slots 须为 1..1000", 400);
	if ((rc = con_arg_int(c, "weight", 1, 1000, &v)) == 0)
		s->weight = v;
	else if (rc < 0)
		return cbk_say(msg, "weight 须为 1..1000", 400);
	if ((rc = con_arg_int(c, "priority", 0, 1000, &v)) == 0)
		s->priority = v;
	else if (rc < 0)
		return cbk_say(msg, "priority 须为 0..1000", 400);
	if ((rc = con_arg_int(c, "enabled", 0, 1, &v)) == 0)
		s->enabled = (int)v;
	else if (rc < 0)
		return cbk_say(msg, "enabled 须为 0 或 1", 400);
	if (c->arg_bad)
		return cbk_say(msg, "参数过长或类型不对", 400);
	/* a form sends every field: an empty one means "leave as it is" */
	if (!c->api) {
		const char **opt[] = { &s->preset, &s->format, &s->url, &s->auth, &s->key,
				       &s->mode, &s->api_version, &s->region };
		for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
			if (*opt[i] && !**opt[i])
				*opt[i] = NULL;
	}
	if (s->key && !*s->key)
		s->key = NULL;
	return 0;
}

/* What a change touched, for the audit (never the key itself). */
static void cbk_detail(const struct bk_spec *s, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s%s%s%s%s%s%s%s%s%s", s->preset ? "preset " : "",
		 s->region ? "region " : "",
		 s->format ? "format " : "", s->url ? "url " : "", s->key ? "key " : "",
		 s->slots != -1 ? "slots " : "", s->weight != -1 ? "weight " : "",
		 s->priority != -1 ? "priority " : "",
		 s->models ? "models " : "", s->map ? "map " : "",
		 s->enabled == -1 ? "" : s->enabled ? "enabled" : "disabled");
}

/* bkadmin's answer as an HTTP status: its refusal text goes to the user. */
static int cbk_outcome(struct con *c, enum relay_err e, const char *err, const char **msg,
		       char *msgbuf, size_t cap)
{
	if (e == RE_EINVAL) {
		snprintf(msgbuf, cap, "%s", err);
		*msg = msgbuf;
		return strstr(err, "exists already") ? 409 : strstr(err, "no backend") ? 404 : 400;
	}
	if (e) {
		log_error("console backends: %s", db_error(c->a->db));
		*msg = "数据库错误";
		return 500;
	}
	return 200;
}

/* Add (id < 0) or change backend id from the request's arguments. */
static int cbk_save(struct con *c, long long id, char *msgbuf, size_t cap, const char **msg)
{
	static struct cbk_args g;   /* large; one request at a time per process */
	char err[300] = "", name[BACKEND_NAME_MAX + 1], target[96], detail[160];
	enum relay_err e;
	int st;

	if ((st = cbk_read(c, &g, msg)))
		return st;
	if (id >= 0) {
		if ((st = cbk_name(c, id, name, sizeof(name), msg)) != 200)
			return st;
		g.s.name = name;
	}
	if (!g.s.name)
		return cbk_say(msg, "缺少 name", 400);
	if (bk_check(&g.s, id < 0, err, sizeof(err))) {
		snprintf(msgbuf, cap, "%s", err);
		*msg = msgbuf;
		memset(g.key, 0, sizeof(g.key));
		return 400;
	}
	e = id < 0 ? bk_add(c->a, &g.s, err, sizeof(err)) : bk_set(c->a, &g.s, err, sizeof(err));
	memset(g.key, 0, sizeof(g.key));
	if ((st = cbk_outcome(c, e, err, msg, msgbuf, cap)) != 200)
		return st;
	snprintf(target, sizeof(target), "backend:%s", g.s.name);
	cbk_detail(&g.s, detail, sizeof(detail));
	con_audit(c, id < 0 ? "backend.create" : "backend.update", target, detail);
	*msg = id < 0 ? "上游已添加" : "上游已更新";
	return id < 0 ? 201 : 200;
}

/* Probes backend `name`: 200 with the outcome in msgbuf, *failed set when
 * the backend did not answer well; *out (may be NULL) gets
 * {status, ms, ok, error}. */
static int cbk_test(struct con *c, const char *name, struct json_object **out, int *failed,
		    char *msgbuf, size_t cap, const char **msg)
{
	char target[96], err[300] = "";
	int status = 0;
	long ms = 0;

	if (bk_test(c->a, name, &status, &ms, err, sizeof(err)))
		return cbk_outcome(c, RE_EDB, "", msg, msgbuf, cap);
	*failed = err[0] != '\0';
	if (out) {
		*out = json_object_new_object();
		json_object_object_add(*out, "status", json_object_new_int(status));
		json_object_object_add(*out, "ms", json_object_new_int64(ms));
		json_object_object_add(*out, "ok", json_object_new_boolean(!*failed));
		json_object_object_add(*out, "error", *failed ? json_object_new_string(err) : NULL);
	}
	if (*failed)
		snprintf(msgbuf, cap, "测试失败:%s(HTTP %d,%ld ms)", err, status, ms);
	else
		snprintf(msgbuf, cap, "测试成功:HTTP %d,%ld ms", status, ms);
	snprintf(target, sizeof(target), "backend:%s", name);
	con_audit(c, "backend.test", target, *failed ? "failed" : "ok");
	return cbk_say(msg, msgbuf, 200);
}

/* enable / disable / delete / test of backend id (the default: test only).
 * *failed = a test that failed; *out as cbk_test. */
static int cbk_act(struct con *c, long long id, const char *what, struct json_object **out,
		   int *failed, char *msgbuf, size_t cap, const char **msg)
{
	char name[BACKEND_NAME_MAX + 1], target[96], err[300] = "";
	struct bk_spec s;
	int st;

	*failed = 0;
	if (strcmp(what, "test") == 0 && id == 0)
		snprintf(name, sizeof(name), "default");
	else if ((st = cbk_name(c, id, name, sizeof(name), msg)) != 200)
		return st;
	if (strcmp(what, "test") == 0)
		return cbk_test(c, name, out, failed, msgbuf, cap, msg);
	snprintf(target, sizeof(target), "backend:%s", name);
	if (strcmp(what, "delete") == 0) {
		enum relay_err e = bk_del(c->a, name);
		if (e == RE_ENOTFOUND)
			return cbk_say(msg, "上游不存在", 404);
		if ((st = cbk_outcome(c, e, "", msg, msgbuf, cap)) != 200)
			return st;
		con_audit(c, "backend.delete", target, NULL);
		return cbk_say(msg, "上游已删除", 200);
	}
	bk_spec_init(&s, name);
	s.enabled = strcmp(what, "enable") == 0;
	if (bk_check(&s, 0, err, sizeof(err))) {
		snprintf(msgbuf, cap, "%s", err);
		return cbk_say(msg, msgbuf, 400);
	}
	st = cbk_outcome(c, bk_set(c->a, &s, err, sizeof(err)), err, msg, msgbuf, cap);
	if (st != 200)
		return st;
	con_audit(c, "backend.update", target, s.enabled ? "enabled" : "disabled");
	return cbk_say(msg, s.enabled ? "上游已启用" : "上游已停用", 200);
}

/* The action named by the route's last segment ("enable", "test", ...). */
static const char *cbk_verb(const struct con *c)
{
	const char *slash = strrchr(c->path, '/');

	return slash ? slash + 1 : "";
}

/* ---- API ---- */

void capi_backends(struct con *c)
{
	struct json_object *d = NULL;

	if (cbk_list(c, -1, &d)) {
		con_api_error(c, 500, "数据库错误");
		return;
	}
	con_ok(c, 200, d, NULL);
}

void capi_backend_presets(struct con *c)
{
	struct json_object *a = json_object_new_array();

	for (const struct bk_preset *p = bk_presets; p->name; p++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(p->name));
		json_object_object_add(o, "label", json_object_new_string(p->label));
		json_object_object_add(o, "openai_url", p->openai_url ?
				       json_object_new_string(p->openai_url) : NULL);
		json_object_object_add(o, "anthropic_url", p->anthropic_url ?
				       json_object_new_string(p->anthropic_url) : NULL);
		json_object_array_add(a, o);
	}
	con_ok(c, 200, a, NULL);
}

/* Answers a change with the backend's row (or the error). */
static void capi_backend_done(struct con *c, int st, const char *msg, const char *name)
{
	struct json_object *d = NULL;
	struct db_res res;
	long long id = c->id;

	if (st != 200 && st != 201) {
		con_api_error(c, st, msg);
		return;
	}
	if (name && !DBX(c->a->db, "SELECT id FROM backends WHERE name = ?", &res, DBS(name))) {
		id = db_res_int(&res, 0, 0, c->id);
		db_res_free(&res);
	}
	if (cbk_list(c, id, &d)) {
		con_api_error(c, 500, "数据库错误");
		return;
	}
	con_ok(c, st, json_object_get(json_object_array_get_idx(d, 0)), NULL);
	json_object_put(d);
}

void capi_backend_create(struct con *c)
{
	char msgbuf[400], name[BACKEND_NAME_MAX + 2] = "";
	const char *msg = NULL;
	int st = cbk_save(c, -1, msgbuf, sizeof(msgbuf), &msg);

	if (st == 201)
		con_arg(c, "name", name, sizeof(name));
	capi_backend_done(c, st, msg, st == 201 ? name : NULL);
}

void capi_backend_update(struct con *c)
{
	char msgbuf[400];
	const char *msg = NULL;

	capi_backend_done(c, cbk_save(c, c->id, msgbuf, sizeof(msgbuf), &msg), msg, NULL);
}

void capi_backend_action(struct con *c)
{
	char msgbuf[400];
	const char *msg = NULL, *verb = strcmp(c->r->method, "DELETE") == 0 ? "delete" :
		strcmp(cbk_verb(c), "health") == 0 ? "test" : cbk_verb(c);   /* the seed's name */
	struct json_object *out = NULL;
	int failed, st = cbk_act(c, c->id, verb, &out, &failed, msgbuf, sizeof(msgbuf), &msg);

	if (st != 200) {
		con_api_error(c, st, msg);
		return;
	}
	if (out) {
		con_ok(c, 200, out, NULL);
		return;
	}
	if (strcmp(verb, "delete") == 0) {
		con_ok(c, 200, NULL, NULL);
		return;
	}
	capi_backend_done(c, st, msg, NULL);
}

/* ---- pages ---- */

static const struct ph_col cbk_page_cols[] = {
	{ "id", "ID", 1 }, { "name", "名称", 0 }, { "format", "格式", 0 },
	{ "base_url", "地址", 0 }, { "state", "状态", 0 }, { "slots_in_use", "使用中", 1 },
	{ "slots", "并发", 1 }, { "weight", "权重", 1 }, { "priority", "优先级", 1 },
	{ "models", "模型", 0 },
	{ "model_map", "模型映射", 0 }, { "mode", "模式", 0 }, { "key_last4", "密钥尾号", 0 },
	{ "last_error", "最近错误", 0 },
};

static void cbk_row_act(struct con *c, struct buf *b, struct json_object *row)
{
	long long id = ph_int(row, "id");
	char path[64];

	snprintf(path, sizeof(path), "admin/backends/%lld/test", id);
	ph_button(c, b, path, "测试", "test");
	if (id == 0)
		return;
	buf_printf(b, "<a href=\"/console/admin/backends/%lld\">编辑</a> ", id);
	snprintf(path, sizeof(path), "admin/backends/%lld/%s", id,
		 json_object_get_boolean(ph_get(row, "enabled")) ? "disable" : "enable");
	ph_button(c, b, path, json_object_get_boolean(ph_get(row, "enabled")) ? "停用" : "启用",
		  "toggle");
	snprintf(path, sizeof(path), "admin/backends/%lld/delete", id);
	ph_button(c, b, path, "删除", "delete");
}

/* The select of an enumerated field; cur may be NULL. */
static void cbk_select(struct buf *b, const char *label, const char *name,
		       const char *const *opts, const char *cur)
{
	buf_printf(b, "<label>%s <select name=\"%s\" id=\"b-%s\">", label, name, name);
	for (; *opts; opts++)
		buf_printf(b, "<option value=\"%s\"%s>%s</option>", *opts,
			   cur && strcmp(cur, *opts) == 0 ? " selected" : "",
			   **opts ? *opts : "-");
	buf_puts(b, "</select></label>");
}

/* The fields of the add and edit forms (row = current values or NULL). */
static void cbk_fields(struct buf *b, struct json_object *row)
{
	static const char *const fmts[] = { "", "openai", "anthropic", NULL };
	static const char *const auths[] = { "", "bearer", "x-api-key", "azure", "aws", "none", NULL };
	static const char *const modes[] = { "pass", "translate", NULL };

	if (!row) {
		ph_input(b, "名称", "name", NULL);
		buf_puts(b, "<label>预设 <select name=\"preset\" id=\"b-preset\">"
			 "<option value=\"\">-</option>");
		for (const struct bk_preset *p = bk_presets; p->name; p++) {
			buf_printf(b, "<option value=\"%s\">", p->name);
			ph_text(b, p->label);
			buf_puts(b, "</option>");
		}
		buf_puts(b, "</select></label>");
	}
	cbk_select(b, "格式", "format", fmts, row ? ph_str(row, "format") : NULL);
	ph_input(b, "地址(留空用预设)", "url", row ? ph_get(row, "base_url") : NULL);
	cbk_select(b, "认证", "auth", auths, row ? ph_str(row, "auth") : NULL);
	buf_puts(b, row ? "<label>新密钥(留空不改) " : "<label>密钥 ");
	buf_puts(b, "<input type=\"password\" name=\"key\" id=\"b-key\" autocomplete=\"off\">"
		 "</label>");
	ph_input(b, "api-version(Azure,留空 = 默认)", "api_version", NULL);
	ph_input(b, "区域(AWS Bedrock)", "region", NULL);
	ph_input(b, "并发", "slots", row ? ph_get(row, "slots") : NULL);
	ph_input(b, "权重", "weight", row ? ph_get(row, "weight") : NULL);
	ph_input(b, "优先级(高者先用)", "priority", row ? ph_get(row, "priority") : NULL);
	ph_input(b, "模型(逗号分隔,留空 = 全部)", "models", row ? ph_get(row, "models") : NULL);
	ph_input(b, "模型映射(pattern=target,...)", "model_map",
		 row ? ph_get(row, "model_map") : NULL);
	cbk_select(b, "模式", "mode", modes, row ? ph_str(row, "mode") : "pass");
}

static void cbk_page_list(struct con *c, int status, const char *flash, int bad)
{
	struct json_object *d = NULL;
	struct buf b;

	if (cbk_list(c, -1, &d)) {
		ph_dberr(c);
		return;
	}
	buf_init(&b, PH_MAX);
	buf_puts(&b, "<p class=\"muted\">每个上游账号有自己的并发;密钥加密保存,只显示尾号。"
		 "默认上游(ID 0)来自 relay.conf。</p>");
	ph_table(c, &b, "backends", d, cbk_page_cols,
		 sizeof(cbk_page_cols) / sizeof(cbk_page_cols[0]), "操作", cbk_row_act);
	buf_puts(&b, "<h2>添加上游</h2><form method=\"post\" action=\"/console/admin/backends\" class=\"box\""
		 " id=\"backend-add\">");
	ph_csrf(c, &b);
	cbk_fields(&b, NULL);
	buf_puts(&b, "<button type=\"submit\" id=\"backend-save\">添加</button></form>");
	con_page(c, status, "上游", flash, bad, &b, 0, NULL);
	buf_free(&b);
	json_object_put(d);
}

void cpage_backends(struct con *c)
{
	cbk_page_list(c, 200, NULL, 0);
}

static void cbk_page_edit(struct con *c, int status, const char *flash, int bad)
{
	struct json_object *d = NULL, *row;
	struct buf b;

	if (cbk_list(c, c->id, &d)) {
		ph_dberr(c);
		return;
	}
	row = json_object_array_get_idx(d, 0);
	if (!row || c->id == 0) {
		json_object_put(d);
		con_page_error(c, 404, "上游不存在");
		return;
	}
	buf_init(&b, PH_MAX);
	buf_printf(&b, "<h2>");
	ph_text(&b, ph_str(row, "name"));
	buf_printf(&b, "</h2><form method=\"post\" action=\"/console/admin/backends/%lld\" class=\"box\""
		   " id=\"backend-edit\">", c->id);
	ph_csrf(c, &b);
	cbk_fields(&b, row);
	ph_select01(&b, "启用", "enabled", json_object_get_boolean(ph_get(row, "enabled")),
		    "停用", "启用");
	buf_puts(&b, "<button type=\"submit\" id=\"backend-save\">保存</button></form>"
		 "<p><a href=\"/console/admin/backends\">返回上游列表</a></p>");
	con_page(c, status, "编辑上游", flash, bad, &b, 0, NULL);
	buf_free(&b);
	json_object_put(d);
}

void cpage_backend(struct con *c)
{
	cbk_page_edit(c, 200, NULL, 0);
}

void cpage_backend_create(struct con *c)
{
	char msgbuf[400];
	const char *msg = NULL;
	int st = cbk_save(c, -1, msgbuf, sizeof(msgbuf), &msg);

	cbk_page_list(c, st == 201 ? 200 : st, msg, st != 201);
}

void cpage_backend_update(struct con *c)
{
	char msgbuf[400];
	const char *msg = NULL;
	int st = cbk_save(c, c->id, msgbuf, sizeof(msgbuf), &msg);

	if (st == 200 || st == 400) {
		cbk_page_edit(c, st, msg, st != 200);
		return;
	}
	cbk_page_list(c, st, msg, 1);
}

void cpage_backend_action(struct con *c)
{
	char msgbuf[400];
	const char *msg = NULL;
	int failed, st = cbk_act(c, c->id, cbk_verb(c), NULL, &failed, msgbuf, sizeof(msgbuf),
				 &msg);

	cbk_page_list(c, st, msg, st != 200 || failed);
}
