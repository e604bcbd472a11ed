/* useradmin.c - a user's settings and a key's revocation (useradmin.h). */
#include <string.h>
#include "db.h"
#include "useradmin.h"

void useradmin_init(struct user_change *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = -1;
	c->admin = -1;
}

enum relay_err useradmin_update(struct db *db, long long id,
				const struct user_change *c, int *found)
{
	struct db_res res;
	enum relay_err rc;

	rc = DBX(db, "UPDATE users SET daily_requests = IF(?, ?, daily_requests),"
		 " daily_tokens = IF(?, ?, daily_tokens), priority = IF(?, ?, priority),"
		 " max_concurrent = IF(?, ?, max_concurrent), max_queued = IF(?, ?, max_queued),"
		 " models = IF(?, ?, models), is_admin = IF(? >= 0, ?, is_admin),"
		 " enabled = IF(? >= 0, ?, IF(?, 1, enabled)), pending = IF(?, 0, pending),"
		 " password_hash = COALESCE(?, password_hash) WHERE id = ?", NULL,
		 DBI(c->has_requests), DBI(c->requests), DBI(c->has_tokens), DBI(c->tokens),
		 DBI(c->has_priority), DBI(c->priority), DBI(c->has_max_conc), DBI(c->max_conc),
		 DBI(c->has_max_queued), DBI(c->max_queued), DBI(c->has_models),
		 DBS(c->models && c->models[0] ? c->models : NULL), DBI(c->admin), DBI(c->admin),
		 DBI(c->enabled), DBI(c->enabled), DBI(c->approve), DBI(c->approve),
		 DBS(c->password_hash), DBI(id));
	if (rc || !found)
		return rc;
	/* affected rows are 0 for an unchanged row too: ask */
	if ((rc = DBX(db, "SELECT COUNT(*) FROM users WHERE id = ?", &res, DBI(id))))
		return rc;
	*found = db_res_int(&res, 0, 0, 0) > 0;
	db_res_free(&res);
	return RE_OK;
}

enum relay_err apikey_revoke(struct db *db, long long key_id, int *changed)
{
	enum relay_err rc;

	rc = DBX(db, "UPDATE api_keys SET revoked_at = NOW() WHERE id = ? AND revoked_at IS NULL",
		 NULL, DBI(key_id));
	if (!rc && changed)
		*changed = db_affected(db) == 1;
	return rc;
}
