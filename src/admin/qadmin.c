/* qadmin.c - queue cancel/retry (moved from ctl.c so the console shares
 * exactly the same semantics). See qadmin.h. */
#include "db.h"
#include "dispatch.h"
#include "qadmin.h"

/* One item through relay_cancel (sql/routines/relay_cancel.sql): closed
 * and, unless an inline waiter will do it, logged in one transaction. */
static enum relay_err qadmin_cancel_one(struct db *db, long long id,
					const char *why, int *done)
{
	struct db_res res;
	enum relay_err rc = DBX(db, "CALL relay_cancel(?, ?)", &res, DBI(id), DBS(why));

	*done = !rc && db_res_int(&res, 0, 0, 0) == 1;
	if (!rc)
		db_res_free(&res);
	return rc;
}

enum relay_err qadmin_cancel(struct db *db, long long id, int *done)
{
	enum relay_err rc = qadmin_cancel_one(db, id, "cancelled by administrator", done);

	/* An inline waiter or the line behind the item may move now. */
	if (*done)
		dispatch_wake(db, db_cfg(db));
	return rc;
}

enum relay_err qadmin_cancel_own(struct db *db, long long id, long long user_id,
				 int *done)
{
	struct db_res res;
	enum relay_err rc;
	long long owner;

	*done = 0;
	/* user_id never changes on a row, so the check cannot go stale */
	rc = DBX(db, "SELECT user_id FROM queue WHERE id = ?", &res, DBI(id));
	if (rc)
		return rc;
	owner = db_res_int(&res, 0, 0, 0);
	db_res_free(&res);
	if (owner != user_id)
		return RE_OK;
	rc = qadmin_cancel_one(db, id, "cancelled by its member", done);
	if (*done)
		dispatch_wake(db, db_cfg(db));
	return rc;
}

enum relay_err qadmin_retry(struct db *db, long long id, int *done)
{
	enum relay_err rc = DBX(db, "UPDATE queue SET status = 'waiting', attempts = 0,"
				" retries = 0, not_before = NULL,"
				" started_at = NULL, completed_at = NULL, error_message = NULL,"
				" response = NULL, http_status = NULL, worker = NULL"
				" WHERE id = ? AND status = 'failed'", NULL, DBI(id));

	*done = !rc && db_affected(db) == 1;
	return rc;
}

enum relay_err qadmin_cancel_user(struct db *db, long long user_id, int *n)
{
	struct db_res res;
	enum relay_err rc;
	int done;

	*n = 0;
	rc = DBX(db, "SELECT id FROM queue WHERE user_id = ? AND status = 'waiting'"
		 " ORDER BY id", &res, DBI(user_id));
	if (rc)
		return rc;
	for (unsigned i = 0; i < res.nrows && !rc; i++) {
		rc = qadmin_cancel_one(db, db_res_int(&res, i, 0, 0), "user deleted", &done);
		*n += done;
	}
	db_res_free(&res);
	if (*n)
		dispatch_wake(db, db_cfg(db));
	return rc;
}
