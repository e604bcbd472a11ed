/* Layer console (src/console/): the web console: routes, pages and the
 * JSON API under them. */
/* console.h - the web console (issue 15): one binary, one route table,
 * HTML pages under /console/ and the JSON API they are built on under
 * /api/v1/.
 *
 *   console.c          routing, login gate, CSRF, arguments, output
 *   csess.c            sessions, CSRF tokens, login rate limit, audit rows
 *   cdata.c            the queries and actions, as json-c objects; shared
 *                      by the API (which serialises them) and the pages
 *                      (which render them)
 *   h_console_api.c    /api/v1/ handlers
 *   h_console_pages.c  /console/ handlers (templates/console_*.html)
 *   csvg.c             inline SVG charts; cpw.c passwords; cookie.c cookies */
#ifndef RELAY_CONSOLE_H
#define RELAY_CONSOLE_H

#include <stddef.h>
#include "buf.h"
#include "csess.h"
#include "tmpl.h"
#include "web.h"

struct app;
struct json_object;

#define CON_BODY_MAX (256 * 1024)   /* forms and JSON bodies of the console */
#define CON_PATH_MAX 200

/* One console request. Everything it owns is freed by console_handle. */
struct con {
	struct app *a;
	struct web_req *r;
	int api;                   /* 1 = /api/v1/..., 0 = /console/... */
	char path[CON_PATH_MAX + 1]; /* below the prefix, e.g. "user/keys/12" */
	long long id;              /* the route's numeric segment, 0 if none */
	struct csess s;            /* s.id != 0 when logged in */
	int bearer;                /* session given as Authorization: Bearer */
	char token[CSESS_TOKEN_LEN + 1]; /* the session token presented */
	struct buf body;           /* POST body (form or JSON) */
	struct json_object *json;  /* API: the body parsed, an object, or NULL */
	int arg_bad;               /* con_arg met an argument present but unusable */
	char addr[64];             /* REMOTE_ADDR */
	int https;
};

/* Route flags. */
#define CR_API   1u   /* under /api/v1/ (else /console/) */
#define CR_ANON  2u   /* no login needed (login, register) */
#define CR_ADMIN 4u   /* admins only */

struct con_route {
	unsigned flags;
	const char *method;        /* "GET" (also serves HEAD), "POST", ... */
	const char *pattern;       /* "user/keys/#": # = one numeric segment */
	void (*fn)(struct con *c);
};

/* The FastCGI handler of cgi-bin/console (main_console.c). */
void console_handle(struct web_req *r, void *ctx);

/* An argument of the request: API = member of the JSON body (strings as
 * is, numbers and booleans as text, an array of strings joined by ','),
 * else the form body; GET requests read the query string. Copied into
 * tmp (tmplen bytes). Returns tmp, or NULL when absent or unusable
 * (too long, wrong type, bad escape); unusable also sets c->arg_bad, so
 * a handler can refuse with 400 instead of taking it for absent. */
const char *con_arg(struct con *c, const char *name, char *tmp, size_t tmplen);
/* An integer argument in [lo, hi]: 0 = ok, 1 = absent, -1 = bad. */
int con_arg_int(struct con *c, const char *name, long long lo, long long hi,
		long long *out);
/* A query string parameter (any method); same return as con_arg. */
const char *con_query(struct con *c, const char *name, char *tmp, size_t tmplen);

/* API answers: {"success":true,"data":data} (takes data) or the project's
 * error body (resp_error). `extra` header lines may be NULL. */
void con_ok(struct con *c, int status, struct json_object *data, const char *extra);
void con_api_error(struct con *c, int status, const char *msg);

/* Pages: the layout template around content (RAW, already escaped) with
 * the navigation of the user's role. flash/flash_bad: a message line
 * (escaped here) or NULL. refresh > 0 adds a meta refresh (seconds). */
void con_page(struct con *c, int status, const char *title, const char *flash,
	      int flash_bad, const struct buf *content, int refresh, const char *extra);
/* An error page with status and message. */
void con_page_error(struct con *c, int status, const char *msg);
/* An error in the route's format: con_api_error under /api/v1/, else
 * con_page_error (the gate's and the router's refusals). */
void con_fail(struct con *c, int status, const char *msg);
/* 303 See Other to a /console/ path ("keys"); extra header lines may be NULL. */
void con_redirect(struct con *c, const char *to, const char *extra);

/* Renders a compiled-in (or $RELAY_TEMPLATES) template into out. */
int con_template(const char *name, const struct tmpl_var *vars, size_t nvars,
		 struct buf *out);

/* Writes an audit row for the current user (failures only logged). */
void con_audit(struct con *c, const char *action, const char *target,
	       const char *detail);

/* Handlers of the route table in console.c. API (h_console_api.c): */
void capi_login(struct con *c);
void capi_logout(struct con *c);
void capi_me(struct con *c);
void capi_register(struct con *c);
void capi_keys(struct con *c);
void capi_key_create(struct con *c);
void capi_key_revoke(struct con *c);
void capi_admin_import(struct con *c);       /* h_console_import.c */
void cpage_admin_import(struct con *c);
void cpage_admin_import_post(struct con *c);
void capi_usage(struct con *c);
void capi_requests(struct con *c);
void capi_queue(struct con *c);
void capi_users(struct con *c);
void capi_user_create(struct con *c);
void capi_user_update(struct con *c);
void capi_user_delete(struct con *c);
/* h_console_models.c: /api/v1/admin/models (issue 29) */
void capi_models(struct con *c);
void capi_model_create(struct con *c);
void capi_model_update(struct con *c);
void capi_model_delete(struct con *c);
void capi_model_backends(struct con *c);
void capi_model_backend_add(struct con *c);
void capi_admin_keys(struct con *c);
void capi_admin_key_create(struct con *c);
void capi_admin_key_revoke(struct con *c);
void capi_admin_queue(struct con *c);
void capi_queue_cancel(struct con *c);
void capi_own_queue_cancel(struct con *c);
void capi_queue_retry(struct con *c);
void capi_admin_usage(struct con *c);
void capi_admin_usage_csv(struct con *c);
void capi_audit(struct con *c);
/* Pages (h_console_pages.c): */
void cpage_login(struct con *c);
void cpage_login_post(struct con *c);
void cpage_logout(struct con *c);
void cpage_register(struct con *c);
void cpage_register_post(struct con *c);
void cpage_home(struct con *c);
void cpage_keys(struct con *c);
void cpage_key_create(struct con *c);
void cpage_key_revoke(struct con *c);
void cpage_requests(struct con *c);
void cpage_queue(struct con *c);
void cpage_users(struct con *c);
void cpage_user_create(struct con *c);
void cpage_user(struct con *c);
void cpage_user_update(struct con *c);
void cpage_user_key_create(struct con *c);
void cpage_admin_keys(struct con *c);
void cpage_admin_key_revoke(struct con *c);
void cpage_admin_queue(struct con *c);
void cpage_queue_cancel(struct con *c);
void cpage_own_queue_cancel(struct con *c);
void cpage_queue_retry(struct con *c);
void cpage_admin_usage(struct con *c);
void cpage_audit(struct con *c);

/* Backends (h_console_backends.c): */
void capi_backends(struct con *c);
void capi_backend_presets(struct con *c);
void capi_backend_create(struct con *c);
void capi_backend_update(struct con *c);
void capi_backend_action(struct con *c);
void cpage_backends(struct con *c);
void cpage_backend(struct con *c);
void cpage_backend_create(struct con *c);
void cpage_backend_update(struct con *c);
void cpage_backend_action(struct con *c);

#endif
