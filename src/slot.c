/* slot.c - GET_LOCK based upstream slots. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "cfg.h"
#include "db.h"
#include "slot.h"

int slot_first(int n)
{
	static int seeded;

	if (!seeded) {
		srand((unsigned)time(NULL) ^ (unsigned)getpid());
		seeded = 1;
	}
	return n > 1 ? 1 + rand() % n : 1;
}

enum relay_err lock_get(struct db *db, const char *name, int timeout_s, int *got)
{
	struct db_res res;
	enum relay_err rc = DBX(db, "SELECT GET_LOCK(?, ?)", &res, DBS(name),
				DBI(timeout_s));

	*got = 0;
	if (rc)
		return rc;
	*got = db_res_int(&res, 0, 0, 0) == 1;
	db_res_free(&res);
	return RE_OK;
}

void lock_release(struct db *db, const char *name)
{
	struct db_res res;

	if (!DBX(db, "SELECT RELEASE_LOCK(?)", &res, DBS(name)))
		db_res_free(&res);
}

enum relay_err lock_is_free(struct db *db, const char *name, int *free_)
{
	struct db_res res;
	enum relay_err rc = DBX(db, "SELECT IS_FREE_LOCK(?)", &res, DBS(name));

	*free_ = 0;
	if (rc)
		return rc;
	*free_ = db_res_int(&res, 0, 0, 0) == 1;
	db_res_free(&res);
	return RE_OK;
}

void slot_release(struct db *db, struct slot *s)
{
	if (!s->held)
		return;
	lock_release(db, s->name);
	s->held = 0;
}
