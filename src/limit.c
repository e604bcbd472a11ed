/* limit.c - atomic daily request reservation. */
#include <string.h>
#include "auth.h"
#include "db.h"
#include "limit.h"

enum relay_err limit_reserve(struct db *db, const struct auth_user *u,
			     const char *day, enum limit_status *st,
			     struct limit_info *info)
{
	/* The row lock taken by the upsert serialises concurrent callers; the
	 * IF() sees the committed count, so exactly `limit` requests pass.
	 * Affected rows: 1 inserted, 2 incremented, 0 refused. */
	static const char up[] =
		"INSERT INTO daily_usage (user_id, day, requests) VALUES (?, ?, 1)"
		" ON DUPLICATE KEY UPDATE requests = IF("
		"(? = 0 OR requests < ?) AND (? = 0 OR tokens < ?),"
		" requests + 1, requests)";
	static const char sel[] =
		"SELECT requests, tokens FROM daily_usage WHERE user_id = ? AND day = ?";
	struct db_res res;
	enum relay_err rc;

	memset(info, 0, sizeof(*info));
	*st = LIMIT_OK;
	rc = DBX(db, up, NULL, DBI(u->user_id), DBS(day),
		 DBI(u->daily_requests), DBI(u->daily_requests),
		 DBI(u->daily_tokens), DBI(u->daily_tokens));
	if (rc)
		return rc;
	/* A fresh row (1) always admits: a positive request limit allows the
	 * first request and today's tokens start at 0. */
	if (db_affected(db) != 0)
		return RE_OK;
	rc = DBX(db, sel, &res, DBI(u->user_id), DBS(day));
	if (rc)
		return rc;
	info->requests_used = db_res_int(&res, 0, 0, 0);
	info->tokens_used = db_res_int(&res, 0, 1, 0);
	db_res_free(&res);
	if (u->daily_requests > 0 && info->requests_used >= u->daily_requests)
		*st = LIMIT_REQUESTS;
	else
		*st = LIMIT_TOKENS;
	return RE_OK;
}
