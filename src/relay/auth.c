/* auth.c - API key lookup. */
#include <stdio.h>
#include <string.h>
#include "auth.h"
#include "db.h"
#include "sha256.h"

const char *auth_message(enum auth_status st)
{
	switch (st) {
	case AUTH_EXPIRED:  return "API Key已过期";
	case AUTH_DISABLED: return "用户已被禁用";
	default:            return "API Key无效或缺失";
	}
}

/* The cell is borrowed; u owns its copy. */
void auth_set_models(struct auth_user *u, const char *cell, unsigned long len)
{
	u->models[0] = '\0';
	u->models_set = cell != NULL;
	if (cell && len < sizeof(u->models)) {
		memcpy(u->models, cell, len);
		u->models[len] = '\0';
	}
}

enum auth_status auth_decode(const struct db_res *res, unsigned models_col,
			     const char *hex, const char *today,
			     struct auth_user *u)
{
	const char *h = db_res_str(res, 0, 1);

	/* The index found the row; this compare is constant-time so timing
	 * says nothing about how much of a hash matched. */
	if (res->nrows != 1 || !db_res_str(res, 0, 0) || !h ||
	    db_res_len(res, 0, 1) != 64 || !ct_equal(h, hex, 64))
		return AUTH_INVALID;
	if (db_res_int(res, 0, 2, 1))
		return AUTH_INVALID;            /* revoked */
	if (db_res_int(res, 0, 3, 0))
		return AUTH_EXPIRED;
	if (!db_res_int(res, 0, 6, 0))
		return AUTH_DISABLED;
	u->key_id = db_res_int(res, 0, 0, 0);
	u->user_id = db_res_int(res, 0, 4, 0);
	snprintf(u->name, sizeof(u->name), "%s",
		 db_res_str(res, 0, 5) ? db_res_str(res, 0, 5) : "");
	u->daily_requests = db_res_int(res, 0, 7, 0);
	u->daily_tokens = db_res_int(res, 0, 8, 0);
	u->priority = (int)db_res_int(res, 0, 9, 0);
	auth_set_models(u, db_res_str(res, 0, models_col),
			db_res_len(res, 0, models_col));
	snprintf(u->day, sizeof(u->day), "%s", today ? today : "");
	return AUTH_OK;
}

enum relay_err auth_check(struct db *db, const char *key, const char *today,
			  struct auth_user *u, enum auth_status *st)
{
	static const char q[] =
		"SELECT k.id, k.key_hash, k.revoked_at IS NOT NULL,"
		" (k.expires_at IS NOT NULL AND k.expires_at < ?),"
		" u.id, u.name, u.enabled, u.daily_requests, u.daily_tokens, u.priority,"
		" COALESCE(k.models, u.models)"
		" FROM api_keys k JOIN users u ON u.id = k.user_id"
		" WHERE k.key_hash = ?";
	char hex[65];
	struct db_res res;
	enum relay_err rc;
	size_t n;

	memset(u, 0, sizeof(*u));
	*st = AUTH_MISSING;
	if (!key)
		return RE_OK;
	n = strlen(key);
	if (n == 0)
		return RE_OK;
	*st = AUTH_INVALID;
	if (n > AUTH_KEY_MAX)
		return RE_OK;
	sha256_hex(key, n, hex);
	rc = DBX(db, q, &res, DBS(today), DBB(hex, 64));
	if (rc)
		return rc;
	*st = auth_decode(&res, 10, hex, today, u);
	db_res_free(&res);
	return RE_OK;
}
