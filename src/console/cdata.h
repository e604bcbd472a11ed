/* cdata.h - the console's queries and actions, as json-c objects.
 *
 * The API serialises these objects; the pages render the same objects, so
 * a page never shows something the API would not (and vice versa). Every
 * function that returns an object gives the caller ownership of it
 * (json_object_put). Actions return the HTTP status of their outcome
 * (200/201 on success) and a static message for errors. */
#ifndef RELAY_CDATA_H
#define RELAY_CDATA_H

#include "err.h"

struct con;
struct db;
struct json_object;

#define CDATA_NAME_MAX 64

struct db_res;

/* A column of a result turned into a JSON member: 'i' integer, 's'
 * string, 'b' boolean, 'm' model allow-list (comma text -> array). */
struct cdata_col {
	const char *name;
	char type;
};

/* Every row of res as an array of objects with the members cols[0..n)
 * (SQL NULL = null). The caller owns the array. */
struct json_object *cdata_rows(const struct db_res *res, const struct cdata_col *cols,
			       unsigned n);

/* Keys of user_id (0 = everyone's), newest first, never a hash. */
enum relay_err cdata_keys(struct db *db, long long user_id, struct json_object **out);
/* {"today": {requests, tokens, errors, request_limit, token_limit},
 *  "days": [{day, requests, tokens, errors}] } for the last `days` days
 * (oldest first, today last, days without rows as zeros). user_id 0 = all. */
enum relay_err cdata_usage(struct db *db, long long user_id, int days,
			   struct json_object **out);
/* The last `limit` request_log rows of user_id, newest first. */
enum relay_err cdata_requests(struct db *db, long long user_id, int limit,
			      struct json_object **out);
/* Waiting and processing queue items of user_id, with live position. */
enum relay_err cdata_user_queue(struct db *db, long long user_id, struct json_object **out);
/* Users (id 0 = all, else one), with today's usage and key counts. */
enum relay_err cdata_users(struct db *db, long long id, struct json_object **out);
/* The live queue: waiting, processing, and failed of the last day. */
enum relay_err cdata_admin_queue(struct db *db, struct json_object **out);
/* {"days": [...], "users": [{user, requests, tokens, errors}],
 *  "models": [{model, ...}], "backends": [{backend, ...}]} over `days`
 * days ("none" = requests refused before they went upstream). */
enum relay_err cdata_admin_usage(struct db *db, int days, struct json_object **out);
/* The last `limit` audit rows, newest first. */
enum relay_err cdata_audit(struct db *db, int limit, struct json_object **out);

/* Actions; they read their arguments with con_arg and write the audit. */
/* Login with args name/password: 200, *token_out/csrf_out filled and *out
 * = {user, csrf_token, expires_in}; 401 bad, 403 disabled/pending, 429
 * rate limited. */
int cdata_login(struct con *c, char token_out[65], struct json_object **out,
		const char **msg);
/* Self-registration (args name, password): 201, 404 when disabled, 409. */
int cdata_register(struct con *c, const char **msg);
/* New key of user_id (args name, models, expires_at): 201 and *out = the
 * key row plus "key" (the secret, shown once). */
int cdata_key_create(struct con *c, long long user_id, struct json_object **out,
		     const char **msg);
/* Revokes key_id; owner 0 = anyone's (admin), else only owner's (404). */
int cdata_key_revoke(struct con *c, long long owner, long long key_id, const char **msg);
/* New user (args name, password, daily_requests, daily_tokens, priority,
 * admin, models): 201 and *out = {id, name}. */
int cdata_user_create(struct con *c, struct json_object **out, const char **msg);
/* Changes user id (same args, plus enabled, approve): 200. */
/* DELETE /api/v1/admin/users/:id: what relayctl user del does
 * (useradmin_delete), audited; not oneself. 200, 400, 404 or 500. */
int cdata_user_delete(struct con *c, long long id, const char **msg);
int cdata_user_update(struct con *c, long long id, const char **msg);
/* Queue cancel (retry = 0) or retry (1) of item id: 200, 404. */
int cdata_queue_action(struct con *c, long long id, int retry, const char **msg);
/* A member's cancel of their own waiting item c->id (404 for anyone
 * else's, as if it did not exist); audited. */
int cdata_queue_cancel_own(struct con *c, const char **msg);

/* 1 if s is a usable user name: 1..64 bytes, no spaces or controls
 * (as relayctl requires). */
int cdata_name_ok(const char *s);

#endif
