/* useradmin.c - a user's settings and a key's revocation (useradmin.h). */
#include <ctype.h>
#include <string.h>
#include "db.h"
#include "qadmin.h"
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
		 " password_hash = COALESCE(?, password_hash),"
		 " email = IF(? IS NULL, email, NULLIF(?, '')) WHERE id = ?", NULL,
		 DBI(c->has_requests), DBI(c->requests), DBI(c->has_tokens), DBI(c->tokens),
		 DBI(c->has_priority), DBI(c->priority), DBI(c->has_max_conc), DBI(c->max_conc),
		 DBI(c->has_max_queued), DBI(c->max_queued), DBI(c->has_models),
		 DBS(c->models && c->models[0] ? c->models : NULL), DBI(c->admin), DBI(c->admin),
		 DBI(c->enabled), DBI(c->enabled), DBI(c->approve), DBI(c->approve),
		 DBS(c->password_hash), DBS(c->email), DBS(c->email), DBI(id));
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

int useradmin_email_norm(const char *in, char *out, size_t outlen)
{
	size_t n = in ? strlen(in) : 0, at = 0, ats = 0;

	if (n < 3 || n > 254 || n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch <= ' ' || ch == 0x7f || ch == '<' || ch == '>' || ch == '"' || ch == ',')
			return -1;
		if (ch == '@') {
			at = i;
			ats++;
		}
		/* ASCII only: a non-ASCII byte is kept as it is */
		out[i] = ch < 0x80 ? (char)tolower(ch) : (char)ch;
	}
	out[n] = '\0';
	return ats == 1 && at > 0 && at + 1 < n ? 0 : -1;
}

enum relay_err useradmin_delete(struct db *db, long long id, int *cancelled, int *found)
{
	enum relay_err rc;
	int n = 0;

	if ((rc = qadmin_cancel_user(db, id, &n)))
		return rc;
	if (cancelled)
		*cancelled = n;
	if ((rc = DBX(db, "DELETE FROM users WHERE id = ?", NULL, DBI(id))))
		return rc;
	if (found)
		*found = db_affected(db) == 1;
	return RE_OK;
}
