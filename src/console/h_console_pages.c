/* h_console_pages.c - the console's HTML pages under /console/ (issue 15).
 *
 * Pages render the same json-c objects the API returns (cdata.c). Every
 * value from the database or the request goes through ph_text (HTML
 * escaping); markup is written only from constants. Every form carries the
 * session's CSRF token (console.c checks it); the login and registration
 * forms, which have no session yet, use a double-submit cookie. No
 * script: the queue pages refresh themselves with <meta refresh>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "cdata.h"
#include "console.h"
#include "cookie.h"
#include "cpage.h"
#include "csvg.h"
#include "db.h"
#include "log.h"
#include "resp.h"
#include "tmpl.h"


/* A chart of the "days" array: field a (and b, may be NULL). */
static void ph_chart(struct buf *b, struct json_object *days, const char *title,
		     const char *a, const char *a_name, const char *bk, const char *b_name)
{
	struct csvg_bar bars[400];
	size_t n = days ? json_object_array_length(days) : 0;

	if (n > 400)
		n = 400;
	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(days, i);
		const char *day = ph_str(d, "day");
		/* "2026-12-01" -> "12-01" under the bar */
		bars[i].label = day && strlen(day) == 10 ? day + 5 : day;
		bars[i].a = ph_int(d, a);
		bars[i].b = bk ? ph_int(d, bk) : 0;
	}
	if (csvg_bars(b, title, a_name, b_name, bars, n) != RE_OK)
		buf_puts(b, "<p class=\"err\">图表生成失败</p>");
}

/* A card with a number (and an optional "/ limit"; 0 = unlimited). */
static void ph_card(struct buf *b, const char *id, const char *label, long long v,
		    int with_limit, long long limit)
{
	buf_printf(b, "<div class=\"card\" id=\"%s\"><div class=\"v\">%lld", id, v);
	if (with_limit) {
		if (limit)
			buf_printf(b, " <span class=\"muted\">/ %lld</span>", limit);
		else
			buf_puts(b, " <span class=\"muted\">/ 不限</span>");
	}
	buf_printf(b, "</div><div class=\"l\">%s</div></div>", label);
}


/* ---- login, registration, logout ---- */

/* The login or registration form with a fresh double-submit token. */
static void ph_login_form(struct con *c, int reg, int status, const char *flash,
			  const char *name)
{
	char tok[65], cookie[256];
	struct buf b;

	if (csess_random_hex(tok) || cookie_set_line(cookie, sizeof(cookie), CSESS_LOGIN_COOKIE,
						     tok, 3600, c->https)) {
		con_page_error(c, 500, "无法生成随机数");
		return;
	}
	buf_init(&b, PH_MAX);
	{
		const struct tmpl_var vars[] = {
			{ "action", reg ? "register" : "login", TMPL_HTML },
			{ "csrf", tok, TMPL_HTML },
			{ "name", name, TMPL_HTML },
			{ "pwauto", reg ? "new-password" : "current-password", TMPL_HTML },
			{ "button", reg ? "注册" : "登录", TMPL_HTML },
			{ "hint", reg ? "注册后需管理员审核才能登录。" :
			  "使用管理员分配的账号登录;管理员可用 relayctl user passwd 设置密码。", TMPL_HTML },
			{ "links", reg ? "<p><a href=\"/console/login\">返回登录</a></p>" :
			  c->a->cfg.registration_enabled ?
			  "<p><a href=\"/console/register\" id=\"register\">注册新账号</a></p>" : "",
			  TMPL_RAW },
		};
		if (con_template("console_login.html", vars, sizeof(vars) / sizeof(vars[0]), &b)) {
			buf_free(&b);
			con_page_error(c, 500, "页面生成失败");
			return;
		}
	}
	con_page(c, status, reg ? "注册" : "登录", flash, 1, &b, 0, cookie);
	buf_free(&b);
}

/* 1 if the form's csrf equals the double-submit cookie. */
static int ph_login_csrf_ok(struct con *c)
{
	char ck[80], form[80];

	if (cookie_get(web_header(c->r, "Cookie"), CSESS_LOGIN_COOKIE, ck, sizeof(ck)) != 64 ||
	    !con_arg(c, "csrf", form, sizeof(form)) || strlen(form) != 64)
		return 0;
	return memcmp(ck, form, 64) == 0;
}

void cpage_login(struct con *c)
{
	if (c->s.id) {
		con_redirect(c, "", NULL);
		return;
	}
	ph_login_form(c, 0, 200, NULL, "");
}

void cpage_login_post(struct con *c)
{
	struct json_object *data = NULL;
	const char *msg = NULL;
	char token[65], hdr[600], name[80];
	size_t n;
	int st;

	if (!ph_login_csrf_ok(c)) {
		ph_login_form(c, 0, 403, "表单已失效,请重新提交(CSRF)", "");
		return;
	}
	st = cdata_login(c, token, &data, &msg);
	json_object_put(data);
	if (st != 200) {
		if (!con_arg(c, "name", name, sizeof(name)))
			name[0] = '\0';
		c->s.id = 0;
		ph_login_form(c, 0, st, msg, name);
		return;
	}
	if (cookie_set_line(hdr, sizeof(hdr), CSESS_COOKIE, token,
			    (long)c->a->cfg.console_session_hours * 3600, c->https)) {
		con_page_error(c, 500, "会话创建失败");
		return;
	}
	n = strlen(hdr);
	if (cookie_set_line(hdr + n, sizeof(hdr) - n, CSESS_LOGIN_COOKIE, "", 0, c->https))
		hdr[n] = '\0';
	explicit_bzero(token, sizeof(token));
	con_redirect(c, "", hdr);
}

void cpage_logout(struct con *c)
{
	char cookie[256];

	if (csess_end(c->a->db, c->token)) {
		ph_dberr(c);
		return;
	}
	con_audit(c, "logout", c->s.name, NULL);
	if (cookie_set_line(cookie, sizeof(cookie), CSESS_COOKIE, "", 0, c->https))
		cookie[0] = '\0';
	con_redirect(c, "login", cookie);
}

void cpage_register(struct con *c)
{
	if (!c->a->cfg.registration_enabled) {
		con_page_error(c, 404, "未开放注册");
		return;
	}
	ph_login_form(c, 1, 200, NULL, "");
}

void cpage_register_post(struct con *c)
{
	const char *msg = NULL;
	struct buf b;
	int st;

	if (!c->a->cfg.registration_enabled) {
		con_page_error(c, 404, "未开放注册");
		return;
	}
	if (!ph_login_csrf_ok(c)) {
		ph_login_form(c, 1, 403, "表单已失效,请重新提交(CSRF)", "");
		return;
	}
	st = cdata_register(c, &msg);
	if (st != 201) {
		ph_login_form(c, 1, st, msg, "");
		return;
	}
	buf_init(&b, 4096);
	buf_puts(&b, "<p><a href=\"/console/login\">返回登录</a></p>");
	con_page(c, 201, "注册", msg, 0, &b, 0, NULL);
	buf_free(&b);
}

/* ---- member pages ---- */

static const struct ph_col ph_req_cols[] = {
	{ "time", "时间", 0 }, { "model", "模型", 0 }, { "route", "入口", 0 },
	{ "format", "格式", 0 }, { "status", "状态码", 1 }, { "prompt_tokens", "输入", 1 },
	{ "completion_tokens", "输出", 1 }, { "total_tokens", "合计", 1 },
	{ "usage", "用量来源", 0 },
	{ "latency_ms", "延迟 ms", 1 }, { "error", "错误", 0 },
};

void cpage_home(struct con *c)
{
	struct json_object *u = NULL, *reqs = NULL, *today;
	struct buf b;

	if (cdata_usage(c->a->db, c->s.user_id, 30, &u) ||
	    cdata_requests(c->a->db, c->s.user_id, 10, &reqs)) {
		json_object_put(u);
		ph_dberr(c);
		return;
	}
	today = ph_get(u, "today");
	buf_init(&b, PH_MAX);
	buf_puts(&b, "<h2>今日 (");
	ph_text(&b, ph_str(u, "day"));
	buf_puts(&b, ")</h2><div class=\"cards\">");
	ph_card(&b, "today-requests", "请求数", ph_int(today, "requests"), 1,
		ph_int(today, "request_limit"));
	ph_card(&b, "today-tokens", "Token", ph_int(today, "tokens"), 1, ph_int(today, "token_limit"));
	ph_card(&b, "today-errors", "错误", ph_int(today, "errors"), 0, 0);
	buf_puts(&b, "</div><h2>最近 30 天</h2><div id=\"chart-requests\">");
	ph_chart(&b, ph_get(u, "days"), "每日请求数(红色为错误)", "requests", "请求",
		 "errors", "错误");
	buf_puts(&b, "</div><div id=\"chart-tokens\">");
	ph_chart(&b, ph_get(u, "days"), "每日 Token", "tokens", "Token", NULL, NULL);
	buf_puts(&b, "</div><h2>最近请求 <a href=\"/console/requests\">(全部)</a></h2>");
	ph_table(c, &b, "recent", reqs, ph_req_cols, sizeof(ph_req_cols) / sizeof(ph_req_cols[0]),
		 NULL, NULL);
	con_page(c, 200, "概览", NULL, 0, &b, 0, NULL);
	buf_free(&b);
	json_object_put(u);
	json_object_put(reqs);
}

static const struct ph_col ph_key_cols[] = {
	{ "name", "名称", 0 }, { "prefix", "前缀", 0 }, { "models", "允许的模型", 0 },
	{ "created_at", "创建", 0 }, { "expires_at", "有效至", 0 },
	{ "last_used_at", "最近使用", 0 }, { "active", "有效", 0 }, { "revoked_at", "吊销", 0 },
};

static void ph_key_revoke_btn(struct con *c, struct buf *b, struct json_object *row, int admin)
{
	char path[64];

	if (ph_get(row, "revoked_at"))
		return;
	snprintf(path, sizeof(path), "%skeys/%lld/revoke", admin ? "admin/" : "", ph_int(row, "id"));
	ph_button(c, b, path, "吊销", "revoke");
}

static void ph_key_act(struct con *c, struct buf *b, struct json_object *row)
{
	ph_key_revoke_btn(c, b, row, 0);
}

static void ph_admin_key_act(struct con *c, struct buf *b, struct json_object *row)
{
	ph_key_revoke_btn(c, b, row, 1);
}

/* The "new key" box shown once after creation. */
static void ph_new_key(struct buf *b, struct json_object *k)
{
	if (!k)
		return;
	buf_puts(b, "<p>新密钥(只显示这一次,请立即复制):<br><code class=\"key\" id=\"newkey\">");
	ph_text(b, ph_str(k, "key"));
	buf_puts(b, "</code></p>");
}

/* The key creation form posting to action. */
static void ph_key_form(struct con *c, struct buf *b, const char *action)
{
	buf_printf(b, "<h2>创建密钥</h2><form method=\"post\" action=\"/console/%s\" class=\"box\""
		   " id=\"key-form\">", action);
	ph_csrf(c, b);
	buf_puts(b, "<label>名称 <input name=\"name\" id=\"key-name\" maxlength=\"64\"></label>"
		 "<label>允许的模型(逗号分隔,空 = 全部) <input name=\"models\" id=\"key-models\""
		 " size=\"40\"></label><label>有效至(可选) <input type=\"date\" name=\"expires_at\""
		 " id=\"key-expires\"></label><button type=\"submit\" id=\"key-create\">创建</button>"
		 "</form>");
}

/* The member's keys page, with an optional message and new key. */
static void ph_keys(struct con *c, int status, const char *flash, int bad,
		    struct json_object *newkey)
{
	struct json_object *keys = NULL;
	struct buf b;

	if (cdata_keys(c->a->db, c->s.user_id, &keys)) {
		ph_dberr(c);
		return;
	}
	buf_init(&b, PH_MAX);
	ph_new_key(&b, newkey);
	ph_table(c, &b, "keys", keys, ph_key_cols, sizeof(ph_key_cols) / sizeof(ph_key_cols[0]),
		 "操作", ph_key_act);
	ph_key_form(c, &b, "keys");
	con_page(c, status, "我的密钥", flash, bad, &b, 0, NULL);
	buf_free(&b);
	json_object_put(keys);
}

void cpage_keys(struct con *c)
{
	ph_keys(c, 200, NULL, 0, NULL);
}

void cpage_key_create(struct con *c)
{
	struct json_object *k = NULL;
	const char *msg = NULL;
	int st = cdata_key_create(c, c->s.user_id, &k, &msg);

	ph_keys(c, st == 201 ? 200 : st, st == 201 ? "密钥已创建" : msg, st != 201, k);
	json_object_put(k);
}

void cpage_key_revoke(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_key_revoke(c, c->s.user_id, c->id, &msg);

	ph_keys(c, st, msg, st != 200, NULL);
}

void cpage_requests(struct con *c)
{
	struct json_object *reqs = NULL;
	struct buf b;

	if (cdata_requests(c->a->db, c->s.user_id, 200, &reqs)) {
		ph_dberr(c);
		return;
	}
	buf_init(&b, PH_MAX);
	ph_table(c, &b, "requests", reqs, ph_req_cols, sizeof(ph_req_cols) / sizeof(ph_req_cols[0]),
		 NULL, NULL);
	con_page(c, 200, "请求记录", NULL, 0, &b, 0, NULL);
	buf_free(&b);
	json_object_put(reqs);
}

static const struct ph_col ph_queue_cols[] = {
	{ "id", "编号", 1 }, { "status", "状态", 0 }, { "position", "位置", 1 },
	{ "total_waiting", "等待总数", 1 }, { "model", "模型", 0 }, { "route", "入口", 0 },
	{ "priority", "优先级", 1 }, { "added_at", "加入", 0 }, { "started_at", "开始", 0 },
};

static const struct ph_col ph_admin_queue_cols[] = {
	{ "id", "编号", 1 }, { "user", "用户", 0 }, { "status", "状态", 0 },
	{ "position", "位置", 1 }, { "priority", "优先级", 1 }, { "model", "模型", 0 },
	{ "route", "入口", 0 }, { "inline_wait", "在线等待", 0 }, { "attempts", "尝试", 1 },
	{ "added_at", "加入", 0 }, { "error", "错误", 0 },
};

/* The buttons of a queue row: cancel while waiting; an admin also retries
 * a failed one. A member's paths are their own (queue/ID/...). */
static void ph_queue_buttons(struct con *c, struct buf *b, struct json_object *row, int admin)
{
	const char *st = ph_str(row, "status");
	char path[64];

	if (st && strcmp(st, "waiting") == 0) {
		snprintf(path, sizeof(path), "%squeue/%lld/cancel", admin ? "admin/" : "",
			 ph_int(row, "id"));
		ph_button(c, b, path, "取消", "cancel");
	} else if (admin && st && strcmp(st, "failed") == 0) {
		snprintf(path, sizeof(path), "admin/queue/%lld/retry", ph_int(row, "id"));
		ph_button(c, b, path, "重试", "retry");
	}
}

static void ph_queue_act(struct con *c, struct buf *b, struct json_object *row)
{
	ph_queue_buttons(c, b, row, 1);
}

static void ph_own_queue_act(struct con *c, struct buf *b, struct json_object *row)
{
	ph_queue_buttons(c, b, row, 0);
}

/* The member's queue page (their items, cancel their own waiting ones) or
 * the admin's live queue (everyone's, cancel and retry); both refresh
 * themselves every 5 s unless they show the outcome of an action. */
static void ph_queue_page(struct con *c, int admin, int status, const char *flash, int bad)
{
	struct json_object *q = NULL;
	struct buf b;
	enum relay_err rc = admin ? cdata_admin_queue(c->a->db, &q) :
		cdata_user_queue(c->a->db, c->s.user_id, &q);

	if (rc) {
		ph_dberr(c);
		return;
	}
	buf_init(&b, PH_MAX);
	buf_puts(&b, admin ? "<p class=\"muted\">等待中、处理中与最近一天失败的请求;每 5 秒自动刷新。</p>" :
		 "<p class=\"muted\">每 5 秒自动刷新。</p>");
	if (admin)
		ph_table(c, &b, "queue", q, ph_admin_queue_cols,
			 sizeof(ph_admin_queue_cols) / sizeof(ph_admin_queue_cols[0]), "操作",
			 ph_queue_act);
	else
		ph_table(c, &b, "queue", q, ph_queue_cols,
			 sizeof(ph_queue_cols) / sizeof(ph_queue_cols[0]), "操作", ph_own_queue_act);
	con_page(c, status, admin ? "实时队列" : "我的队列", flash, bad, &b, flash ? 0 : 5, NULL);
	buf_free(&b);
	json_object_put(q);
}

void cpage_queue(struct con *c)
{
	ph_queue_page(c, 0, 200, NULL, 0);
}

void cpage_own_queue_cancel(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_queue_cancel_own(c, &msg);

	ph_queue_page(c, 0, st, msg, st != 200);
}

/* ---- admin pages ---- */

static const struct ph_col ph_user_cols[] = {
	{ "id", "ID", 1 }, { "name", "用户", 0 }, { "role", "角色", 0 }, { "enabled", "启用", 0 },
	{ "pending", "待审核", 0 }, { "daily_requests", "每日请求上限", 1 },
	{ "daily_tokens", "每日Token上限", 1 }, { "priority", "优先级", 1 },
	{ "models", "允许的模型", 0 }, { "keys", "有效密钥", 1 },
	{ "max_concurrent", "并发上限", 1 }, { "max_queued", "排队上限", 1 },
	{ "today_requests", "今日请求", 1 }, { "today_tokens", "今日Token", 1 },
	{ "has_password", "可登录", 0 },
};

static void ph_user_act(struct con *c, struct buf *b, struct json_object *row)
{
	char path[64];
	long long id = ph_int(row, "id");

	buf_printf(b, "<a href=\"/console/admin/users/%lld\" class=\"edit\">编辑</a> ", id);
	if (json_object_get_boolean(ph_get(row, "pending"))) {
		snprintf(path, sizeof(path), "admin/users/%lld", id);
		buf_printf(b, "<form method=\"post\" action=\"/console/%s\" class=\"inline\">", path);
		ph_csrf(c, b);
		buf_puts(b, "<input type=\"hidden\" name=\"approve\" value=\"1\">"
			 "<button type=\"submit\" class=\"approve\">批准</button></form>");
	}
}

/* The users page with an optional message. */
static void ph_users(struct con *c, int status, const char *flash, int bad)
{
	struct json_object *u = NULL;
	struct buf b;

	if (cdata_users(c->a->db, 0, &u)) {
		ph_dberr(c);
		return;
	}
	buf_init(&b, PH_MAX);
	ph_table(c, &b, "users", u, ph_user_cols, sizeof(ph_user_cols) / sizeof(ph_user_cols[0]),
		 "操作", ph_user_act);
	buf_puts(&b, "<h2>创建用户</h2><form method=\"post\" action=\"/console/admin/users\""
		 " class=\"box\" id=\"user-form\">");
	ph_csrf(c, &b);
	buf_puts(&b, "<label>用户名 <input name=\"name\" id=\"user-name\" required maxlength=\"64\">"
		 "</label><label>密码(可选,至少 8 位) <input type=\"password\" name=\"password\""
		 " id=\"user-password\" autocomplete=\"new-password\"></label>"
		 "<label>每日请求(0 = 不限) <input name=\"daily_requests\" value=\"1000\" size=\"8\">"
		 "</label><label>每日Token <input name=\"daily_tokens\" value=\"100000\" size=\"10\">"
		 "</label><label>优先级 <input name=\"priority\" value=\"0\" size=\"5\"></label>"
		 "<label>角色 <select name=\"admin\"><option value=\"0\">成员</option>"
		 "<option value=\"1\">管理员</option></select></label>"
		 "<button type=\"submit\" id=\"user-create\">创建</button></form>");
	con_page(c, status, "用户", flash, bad, &b, 0, NULL);
	buf_free(&b);
	json_object_put(u);
}

void cpage_users(struct con *c)
{
	ph_users(c, 200, NULL, 0);
}

void cpage_user_create(struct con *c)
{
	struct json_object *d = NULL;
	const char *msg = NULL;
	int st = cdata_user_create(c, &d, &msg);

	json_object_put(d);
	ph_users(c, st == 201 ? 200 : st, msg, st != 201);
}


/* One user's page: edit form, keys, key creation. */
static void ph_user(struct con *c, int status, const char *flash, int bad,
		    struct json_object *newkey)
{
	struct json_object *ua = NULL, *keys = NULL, *u;
	struct buf b;
	char action[64];

	if (cdata_users(c->a->db, c->id, &ua) || cdata_keys(c->a->db, c->id, &keys)) {
		json_object_put(ua);
		ph_dberr(c);
		return;
	}
	if (!json_object_array_length(ua)) {
		json_object_put(ua);
		json_object_put(keys);
		con_page_error(c, 404, "用户不存在");
		return;
	}
	u = json_object_array_get_idx(ua, 0);
	buf_init(&b, PH_MAX);
	ph_new_key(&b, newkey);
	buf_puts(&b, "<h2>用户 <span id=\"user-title\">");
	ph_text(&b, ph_str(u, "name"));
	buf_printf(&b, "</span></h2><form method=\"post\" action=\"/console/admin/users/%lld\""
		   " class=\"box\" id=\"user-edit\">", c->id);
	ph_csrf(c, &b);
	ph_input(&b, "每日请求(0 = 不限)", "daily_requests", ph_get(u, "daily_requests"));
	ph_input(&b, "每日Token(0 = 不限)", "daily_tokens", ph_get(u, "daily_tokens"));
	ph_input(&b, "优先级", "priority", ph_get(u, "priority"));
	ph_input(&b, "允许的模型(逗号分隔)", "models", ph_get(u, "models"));
	ph_input(&b, "并发上限(0 = 默认: 配置 user_max_concurrent, 缺省不限)", "max_concurrent", ph_get(u, "max_concurrent"));
	ph_input(&b, "排队上限(0 = 默认: 队列容量的1/4)", "max_queued", ph_get(u, "max_queued"));
	ph_select01(&b, "启用", "enabled", json_object_get_boolean(ph_get(u, "enabled")), "禁用", "启用");
	ph_select01(&b, "角色", "admin", strcmp(ph_str(u, "role"), "admin") == 0, "成员", "管理员");
	buf_puts(&b, "<label>新密码(留空不改) <input type=\"password\" name=\"password\""
		 " autocomplete=\"new-password\"></label>"
		 "<button type=\"submit\" id=\"user-save\">保存</button></form>"
		 "<h2>密钥</h2>");
	ph_table(c, &b, "keys", keys, ph_key_cols, sizeof(ph_key_cols) / sizeof(ph_key_cols[0]),
		 "操作", ph_admin_key_act);
	snprintf(action, sizeof(action), "admin/users/%lld/keys", c->id);
	ph_key_form(c, &b, action);
	con_page(c, status, "编辑用户", flash, bad, &b, 0, NULL);
	buf_free(&b);
	json_object_put(ua);
	json_object_put(keys);
}

void cpage_user(struct con *c)
{
	ph_user(c, 200, NULL, 0, NULL);
}

void cpage_user_update(struct con *c)
{
	const char *msg = NULL;
	char ap[4];
	int st = cdata_user_update(c, c->id, &msg);

	/* the approve button lives on the users list: go back there */
	if (con_arg(c, "approve", ap, sizeof(ap)) && st == 200) {
		ph_users(c, 200, "用户已批准", 0);
		return;
	}
	ph_user(c, st, msg, st != 200, NULL);
}

void cpage_user_key_create(struct con *c)
{
	struct json_object *k = NULL, *ua = NULL;
	const char *msg = NULL;
	int st;

	if (cdata_users(c->a->db, c->id, &ua)) {
		ph_dberr(c);
		return;
	}
	st = json_object_array_length(ua) ? cdata_key_create(c, c->id, &k, &msg) : 404;
	json_object_put(ua);
	if (st == 404) {
		con_page_error(c, 404, "用户不存在");
		return;
	}
	ph_user(c, st == 201 ? 200 : st, st == 201 ? "密钥已创建" : msg, st != 201, k);
	json_object_put(k);
}

static const struct ph_col ph_admin_key_cols[] = {
	{ "user", "用户", 0 }, { "name", "名称", 0 }, { "prefix", "前缀", 0 },
	{ "models", "允许的模型", 0 }, { "created_at", "创建", 0 },
	{ "expires_at", "有效至", 0 }, { "last_used_at", "最近使用", 0 },
	{ "active", "有效", 0 }, { "revoked_at", "吊销", 0 },
};

static void ph_admin_keys(struct con *c, int status, const char *flash, int bad)
{
	struct json_object *keys = NULL;
	struct buf b;

	if (cdata_keys(c->a->db, 0, &keys)) {
		ph_dberr(c);
		return;
	}
	buf_init(&b, PH_MAX);
	buf_puts(&b, "<p class=\"muted\">为用户创建密钥:在“用户”页打开该用户。</p>");
	ph_table(c, &b, "keys", keys, ph_admin_key_cols,
		 sizeof(ph_admin_key_cols) / sizeof(ph_admin_key_cols[0]), "操作", ph_admin_key_act);
	con_page(c, status, "全部密钥", flash, bad, &b, 0, NULL);
	buf_free(&b);
	json_object_put(keys);
}

void cpage_admin_keys(struct con *c)
{
	ph_admin_keys(c, 200, NULL, 0);
}

void cpage_admin_key_revoke(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_key_revoke(c, 0, c->id, &msg);

	ph_admin_keys(c, st, msg, st != 200);
}

void cpage_admin_queue(struct con *c)
{
	ph_queue_page(c, 1, 200, NULL, 0);
}

void cpage_queue_cancel(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_queue_action(c, c->id, 0, &msg);

	ph_queue_page(c, 1, st, msg, st != 200);
}

void cpage_queue_retry(struct con *c)
{
	const char *msg = NULL;
	int st = cdata_queue_action(c, c->id, 1, &msg);

	ph_queue_page(c, 1, st, msg, st != 200);
}

static const struct ph_col ph_group_user_cols[] = {
	{ "user", "用户", 0 }, { "requests", "请求", 1 }, { "tokens", "Token", 1 },
	{ "errors", "错误", 1 },
};
static const struct ph_col ph_group_model_cols[] = {
	{ "model", "模型", 0 }, { "requests", "请求", 1 }, { "tokens", "Token", 1 },
	{ "errors", "错误", 1 },
};
static const struct ph_col ph_group_backend_cols[] = {
	{ "backend", "上游", 0 }, { "requests", "请求", 1 }, { "tokens", "Token", 1 },
	{ "errors", "错误", 1 },
};
static const struct ph_col ph_day_cols[] = {
	{ "day", "日期", 0 }, { "requests", "请求", 1 }, { "tokens", "Token", 1 },
	{ "errors", "错误", 1 },
};

void cpage_admin_usage(struct con *c)
{
	struct json_object *u = NULL;
	struct buf b;
	long long days = 30;

	if (con_arg_int(c, "days", 1, 366, &days) < 0)
		days = 30;
	if (cdata_admin_usage(c->a->db, (int)days, &u)) {
		ph_dberr(c);
		return;
	}
	buf_init(&b, PH_MAX);
	buf_printf(&b, "<p>最近 %lld 天(自 ", days);
	ph_text(&b, ph_str(u, "since"));
	buf_printf(&b, ")· <a href=\"/console/admin/usage?days=7\">7 天</a> · <a href=\"/console/"
		   "admin/usage?days=30\">30 天</a> · <a href=\"/console/admin/usage?days=90\">90 天"
		   "</a> · <a id=\"csv\" href=\"/api/v1/admin/usage.csv?days=%lld\">导出 CSV</a></p>"
		   "<div id=\"chart-requests\">", days);
	ph_chart(&b, ph_get(u, "days"), "全部用户每日请求数(红色为错误)", "requests", "请求",
		 "errors", "错误");
	buf_puts(&b, "</div><div id=\"chart-tokens\">");
	ph_chart(&b, ph_get(u, "days"), "全部用户每日 Token", "tokens", "Token", NULL, NULL);
	buf_puts(&b, "</div><h2>按用户</h2>");
	ph_table(c, &b, "by-user", ph_get(u, "users"), ph_group_user_cols, 4, NULL, NULL);
	buf_puts(&b, "<h2>按模型</h2>");
	ph_table(c, &b, "by-model", ph_get(u, "models"), ph_group_model_cols, 4, NULL, NULL);
	buf_puts(&b, "<h2>按上游</h2>");
	ph_table(c, &b, "by-backend", ph_get(u, "backends"), ph_group_backend_cols, 4, NULL, NULL);
	buf_puts(&b, "<h2>按日</h2>");
	ph_table(c, &b, "by-day", ph_get(u, "days"), ph_day_cols, 4, NULL, NULL);
	con_page(c, 200, "用量统计", NULL, 0, &b, 0, NULL);
	buf_free(&b);
	json_object_put(u);
}

static const struct ph_col ph_audit_cols[] = {
	{ "at", "时间", 0 }, { "actor", "操作者", 0 }, { "action", "动作", 0 },
	{ "target", "对象", 0 }, { "detail", "详情", 0 }, { "addr", "地址", 0 },
};

void cpage_audit(struct con *c)
{
	struct json_object *a = NULL;
	struct buf b;

	if (cdata_audit(c->a->db, 300, &a)) {
		ph_dberr(c);
		return;
	}
	buf_init(&b, PH_MAX);
	ph_table(c, &b, "audit", a, ph_audit_cols, sizeof(ph_audit_cols) / sizeof(ph_audit_cols[0]),
		 NULL, NULL);
	con_page(c, 200, "审计日志", NULL, 0, &b, 0, NULL);
	buf_free(&b);
	json_object_put(a);
}
