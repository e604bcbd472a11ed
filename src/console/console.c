/* console.c - the console's routing, login gate, CSRF checks, arguments
 * of the request. See console.h; the answers and arguments the handlers
 * use are in conio.c.
 *
 * One route table for both halves: the API under /api/v1/ and the pages
 * under /console/. The gate runs before every handler, so a handler can
 * rely on: the user is logged in (unless CR_ANON), is an admin (CR_ADMIN),
 * and a state-changing request carried the session's CSRF token (form
 * field "csrf" or header X-CSRF-Token; not needed with a Bearer session,
 * which a browser never sends by itself). */
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


static const struct con_route con_routes[] = {
	/* JSON API */
	{ CR_API | CR_ANON, "POST", "auth/login", capi_login },
	{ CR_API | CR_ANON, "POST", "auth/register", capi_register },
	{ CR_API, "POST", "auth/logout", capi_logout },
	{ CR_API, "GET", "auth/me", capi_me },
	{ CR_API, "GET", "user/keys", capi_keys },
	{ CR_API, "POST", "user/keys", capi_key_create },
	{ CR_API, "DELETE", "user/keys/#", capi_key_revoke },
	{ CR_API, "POST", "user/keys/#/revoke", capi_key_revoke },
	{ CR_API, "GET", "user/usage", capi_usage },
	{ CR_API, "GET", "user/requests", capi_requests },
	{ CR_API, "GET", "user/queue", capi_queue },
	{ CR_API, "POST", "user/queue/#/cancel", capi_own_queue_cancel },
	{ CR_API, "DELETE", "user/queue/#", capi_own_queue_cancel },
	{ CR_API | CR_ADMIN, "GET", "admin/users", capi_users },
	{ CR_API | CR_ADMIN, "POST", "admin/users", capi_user_create },
	{ CR_API | CR_ADMIN, "PUT", "admin/users/#", capi_user_update },
	{ CR_API | CR_ADMIN, "PATCH", "admin/users/#", capi_user_update },
	{ CR_API | CR_ADMIN, "DELETE", "admin/users/#", capi_user_delete },
	{ CR_API | CR_ADMIN, "GET", "admin/keys", capi_admin_keys },
	{ CR_API | CR_ADMIN, "POST", "admin/keys", capi_admin_key_create },
	{ CR_API | CR_ADMIN, "DELETE", "admin/keys/#", capi_admin_key_revoke },
	{ CR_API | CR_ADMIN, "POST", "admin/import", capi_admin_import },
	{ CR_API | CR_ADMIN, "GET", "admin/queue", capi_admin_queue },
	{ CR_API | CR_ADMIN, "POST", "admin/queue/#/cancel", capi_queue_cancel },
	{ CR_API | CR_ADMIN, "POST", "admin/queue/#/retry", capi_queue_retry },
	{ CR_API | CR_ADMIN, "GET", "admin/usage", capi_admin_usage },
	{ CR_API | CR_ADMIN, "GET", "admin/usage.csv", capi_admin_usage_csv },
	{ CR_API | CR_ADMIN, "GET", "admin/audit", capi_audit },
	{ CR_API | CR_ADMIN, "GET", "admin/backends", capi_backends },
	{ CR_API | CR_ADMIN, "GET", "admin/backends/presets", capi_backend_presets },
	{ CR_API | CR_ADMIN, "POST", "admin/backends", capi_backend_create },
	{ CR_API | CR_ADMIN, "PUT", "admin/backends/#", capi_backend_update },
	{ CR_API | CR_ADMIN, "PATCH", "admin/backends/#", capi_backend_update },
	{ CR_API | CR_ADMIN, "DELETE", "admin/backends/#", capi_backend_action },
	{ CR_API | CR_ADMIN, "POST", "admin/backends/#/enable", capi_backend_action },
	{ CR_API | CR_ADMIN, "POST", "admin/backends/#/disable", capi_backend_action },
	{ CR_API | CR_ADMIN, "POST", "admin/backends/#/test", capi_backend_action },
	{ CR_API | CR_ADMIN, "POST", "admin/backends/#/health", capi_backend_action },
	{ CR_API | CR_ADMIN, "GET", "admin/models", capi_models },
	{ CR_API | CR_ADMIN, "POST", "admin/models", capi_model_create },
	{ CR_API | CR_ADMIN, "PUT", "admin/models/#", capi_model_update },
	{ CR_API | CR_ADMIN, "PATCH", "admin/models/#", capi_model_update },
	{ CR_API | CR_ADMIN, "DELETE", "admin/models/#", capi_model_delete },
	{ CR_API | CR_ADMIN, "GET", "admin/models/#/backends", capi_model_backends },
	{ CR_API | CR_ADMIN, "POST", "admin/models/#/backends", capi_model_backend_add },
	/* HTML pages */
	{ CR_ANON, "GET", "login", cpage_login },
	{ CR_ANON, "POST", "login", cpage_login_post },
	{ CR_ANON, "GET", "register", cpage_register },
	{ CR_ANON, "POST", "register", cpage_register_post },
	{ 0, "POST", "logout", cpage_logout },
	{ 0, "GET", "", cpage_home },
	{ 0, "GET", "keys", cpage_keys },
	{ 0, "POST", "keys", cpage_key_create },
	{ 0, "POST", "keys/#/revoke", cpage_key_revoke },
	{ 0, "GET", "requests", cpage_requests },
	{ 0, "GET", "queue", cpage_queue },
	{ 0, "POST", "queue/#/cancel", cpage_own_queue_cancel },
	{ CR_ADMIN, "GET", "admin/users", cpage_users },
	{ CR_ADMIN, "POST", "admin/users", cpage_user_create },
	{ CR_ADMIN, "GET", "admin/users/#", cpage_user },
	{ CR_ADMIN, "POST", "admin/users/#", cpage_user_update },
	{ CR_ADMIN, "POST", "admin/users/#/keys", cpage_user_key_create },
	{ CR_ADMIN, "GET", "admin/keys", cpage_admin_keys },
	{ CR_ADMIN, "POST", "admin/keys/#/revoke", cpage_admin_key_revoke },
	{ CR_ADMIN, "GET", "admin/import", cpage_admin_import },
	{ CR_ADMIN, "POST", "admin/import", cpage_admin_import_post },
	{ CR_ADMIN, "GET", "admin/queue", cpage_admin_queue },
	{ CR_ADMIN, "POST", "admin/queue/#/cancel", cpage_queue_cancel },
	{ CR_ADMIN, "POST", "admin/queue/#/retry", cpage_queue_retry },
	{ CR_ADMIN, "GET", "admin/usage", cpage_admin_usage },
	{ CR_ADMIN, "GET", "admin/audit", cpage_audit },
	{ CR_ADMIN, "GET", "admin/backends", cpage_backends },
	{ CR_ADMIN, "POST", "admin/backends", cpage_backend_create },
	{ CR_ADMIN, "GET", "admin/backends/#", cpage_backend },
	{ CR_ADMIN, "POST", "admin/backends/#", cpage_backend_update },
	{ CR_ADMIN, "POST", "admin/backends/#/enable", cpage_backend_action },
	{ CR_ADMIN, "POST", "admin/backends/#/disable", cpage_backend_action },
	{ CR_ADMIN, "POST", "admin/backends/#/test", cpage_backend_action },
	{ CR_ADMIN, "POST", "admin/backends/#/delete", cpage_backend_action },
};
#define CON_NROUTES (sizeof(con_routes) / sizeof(con_routes[0]))

/* ---- paths and routes ---- */

/* Fills c->api and c->path from REQUEST_URI (else SCRIPT_NAME+PATH_INFO).
 * Returns 0, 1 for "/console" (redirect to "/console/"), -1 if the path is
 * not ours or has characters we never route. */
static int con_parse_path(struct con *c)
{
	const char *uri = web_param(c->r, "REQUEST_URI"), *p;
	char tmp[CON_PATH_MAX * 2];
	size_t n;

	if (!uri || !*uri) {
		const char *sn = web_param(c->r, "SCRIPT_NAME"), *pi = web_param(c->r, "PATH_INFO");
		int k = snprintf(tmp, sizeof(tmp), "%s%s", sn ? sn : "", pi ? pi : "");
		if (k < 0 || (size_t)k >= sizeof(tmp))
			return -1;
		uri = tmp;
	}
	n = strcspn(uri, "?#");
	if (n >= 8 && strncmp(uri, "/api/v1/", 8) == 0) {
		c->api = 1;
		p = uri + 8;
		n -= 8;
	} else if (n == 8 && strncmp(uri, "/console", 8) == 0) {
		return 1;
	} else if (n >= 9 && strncmp(uri, "/console/", 9) == 0) {
		p = uri + 9;
		n -= 9;
	} else {
		return -1;
	}
	if (n > CON_PATH_MAX || strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "0123456789._/-") < n)
		return -1;
	memcpy(c->path, p, n);
	c->path[n] = '\0';
	/* a trailing slash is the same page ("keys/" = "keys") */
	while (n && c->path[n - 1] == '/')
		c->path[--n] = '\0';
	return 0;
}

/* 1 if path matches pattern ('#' = 1..18 digits without a leading zero,
 * or "0" itself: the default backend's id; stored in *id). */
static int con_match(const char *pattern, const char *path, long long *id)
{
	const char *p = pattern, *s = path;

	*id = 0;
	while (*p && *s) {
		if (*p == '#') {
			size_t d = strspn(s, "0123456789");
			if (d == 0 || d > 18 || (*s == '0' && d > 1))
				return 0;
			*id = strtoll(s, NULL, 10);
			s += d;
			p++;
		} else if (*p++ != *s++) {
			return 0;
		}
	}
	return *p == '\0' && *s == '\0';
}

/* ---- the request ---- */

/* Reads the body (CON_BODY_MAX) and, for the API, parses it. Returns 0 or
 * an HTTP status with the answer already sent. */
static int con_read_body(struct con *c)
{
	char chunk[16384];

	if (c->r->content_length > CON_BODY_MAX) {
		con_fail(c, 413, "请求体过大");
		return 413;
	}
	for (;;) {
		long got = web_read(c->r, chunk, sizeof(chunk));
		if (got <= 0)
			break;
		if (buf_append(&c->body, chunk, (size_t)got)) {
			con_fail(c, 413, "请求体过大");
			return 413;
		}
		if (c->r->content_length >= 0 && (long long)c->body.len >= c->r->content_length)
			break;
	}
	if (c->api && c->body.len) {
		const char *ct = web_param(c->r, "CONTENT_TYPE");
		struct json_tokener *tok;

		/* JSON only: a cross-site form cannot send it without a CORS
		 * preflight, which this API never grants */
		if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
			con_api_error(c, 415, "请使用 Content-Type: application/json");
			return 415;
		}
		tok = json_tokener_new();
		c->json = tok ? json_tokener_parse_ex(tok, c->body.data, (int)c->body.len) : NULL;
		if (!c->json || json_tokener_get_error(tok) != json_tokener_success ||
		    tok->char_offset != (int)c->body.len ||
		    !json_object_is_type(c->json, json_type_object)) {
			json_object_put(c->json);
			c->json = NULL;
			json_tokener_free(tok);
			con_api_error(c, 400, "请求体不是JSON对象");
			return 400;
		}
		json_tokener_free(tok);
	}
	return 0;
}

/* The session token of the request: Authorization: Bearer (API only),
 * else the session cookie. */
static void con_find_session(struct con *c)
{
	const char *auth = c->api ? web_header(c->r, "Authorization") : NULL;

	c->token[0] = '\0';
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0 && strlen(auth + 7) == CSESS_TOKEN_LEN) {
		memcpy(c->token, auth + 7, CSESS_TOKEN_LEN + 1);
		c->bearer = 1;
	} else if (cookie_get(web_header(c->r, "Cookie"), CSESS_COOKIE, c->token,
			      sizeof(c->token)) < 0) {
		c->token[0] = '\0';
	}
}

/* The login and role checks and CSRF of a route. 0 = go on, else sent. */
static int con_gate(struct con *c, const struct con_route *rt, int changes)
{
	if (rt->flags & CR_ANON) {
		/* JSON bodies need a CORS preflight cross-site: no form can
		 * log a victim in to the attacker's account. */
		const char *ct = web_param(c->r, "CONTENT_TYPE");
		if (c->api && changes && (!ct || strncasecmp(ct, "application/json", 16) != 0)) {
			con_api_error(c, 415, "请使用 Content-Type: application/json");
			return 1;
		}
		return 0;
	}
	if (!c->s.id) {
		if (c->api)
			con_api_error(c, 401, "未登录或会话已过期");
		else
			con_redirect(c, "login", NULL);
		return 1;
	}
	if ((rt->flags & CR_ADMIN) && !c->s.admin) {
		con_fail(c, 403, "需要管理员权限");
		return 1;
	}
	if (changes && !c->bearer) {
		char tmp[CSESS_TOKEN_LEN + 2];
		const char *given = c->api ? web_header(c->r, "X-CSRF-Token") :
			(qs_get(buf_cstr(&c->body), "csrf", tmp, sizeof(tmp)) >= 0 ? tmp : NULL);
		if (!csess_csrf_ok(&c->s, given)) {
			con_fail(c, 403, "CSRF令牌缺失或错误");
			return 1;
		}
	}
	return 0;
}

/* Finds the route; answers 404/405 itself and returns NULL then. */
static const struct con_route *con_route(struct con *c, const char *method)
{
	int path_seen = 0;

	for (size_t i = 0; i < CON_NROUTES; i++) {
		const struct con_route *rt = &con_routes[i];
		if (!!(rt->flags & CR_API) != c->api || !con_match(rt->pattern, c->path, &c->id))
			continue;
		path_seen = 1;
		if (strcmp(rt->method, method) == 0)
			return rt;
	}
	con_fail(c, path_seen ? 405 : 404, path_seen ? "请求方法不允许" : "页面不存在");
	return NULL;
}

/* Everything of one request after the path is known. */
static void con_serve(struct con *c)
{
	const char *method = strcmp(c->r->method, "HEAD") == 0 ? "GET" : c->r->method;
	int changes = strcmp(method, "GET") != 0;
	const struct con_route *rt = con_route(c, method);

	if (!rt)
		return;
	if (db_connect(c->a->db)) {
		log_error("console: database: %s", db_error(c->a->db));
		con_fail(c, 500, "数据库连接失败");
		return;
	}
	if (changes && con_read_body(c))
		return;
	con_find_session(c);
	if (c->token[0] && csess_find(c->a->db, c->token, &c->s)) {
		con_fail(c, 500, "数据库错误");
		return;
	}
	if (con_gate(c, rt, changes))
		return;
	rt->fn(c);
}

/* See console.h. */
void console_handle(struct web_req *r, void *ctx)
{
	struct con c;
	const char *https = NULL, *addr;
	int p;

	memset(&c, 0, sizeof(c));
	c.a = ctx;
	c.r = r;
	buf_init(&c.body, CON_BODY_MAX);
	p = con_parse_path(&c);
	if (!app_ready(c.a, r))
		goto out;
	if (p == 1) {
		con_redirect(&c, "", NULL);
		goto out;
	}
	if (p < 0) {
		con_fail(&c, 404, "页面不存在");
		goto out;
	}
	https = web_param(r, "HTTPS");
	c.https = https && (strcasecmp(https, "on") == 0 || strcmp(https, "1") == 0);
	addr = web_param(r, "REMOTE_ADDR");
	snprintf(c.addr, sizeof(c.addr), "%s", addr ? addr : "");
	con_serve(&c);
out:
	json_object_put(c.json);
	explicit_bzero(c.token, sizeof(c.token));
	if (c.body.data)
		explicit_bzero(c.body.data, c.body.len);   /* may hold a password */
	buf_free(&c.body);
}
