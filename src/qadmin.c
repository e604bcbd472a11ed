/* qadmin.c - queue cancel/retry (moved from ctl.c so the console shares
 * exactly the same semantics). See qadmin.h. */
#include "db.h"
#include "dispatch.h"
#include "qadmin.h"

enum relay_err qadmin_cancel(struct db *db, long long id, int *done)
{
	enum relay_err rc = DBX(db, "UPDATE queue SET status = 'failed', completed_at = NOW(),"
				" error_message = 'cancelled by administrator'"
				" WHERE id = ? AND status = 'waiting'", NULL, DBI(id));

	*done = !rc && db_affected(db) == 1;
	/* An inline waiter or the line behind the item may move now. */
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
