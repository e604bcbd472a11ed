/* slot.c - GET_LOCK based upstream slots. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "cfg.h"
#include "db.h"
#include "log.h"
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

enum relay_err lock_release(struct db *db, const char *name)
{
	struct db_res res;
	enum relay_err rc;

	/* A new connection holds none of the old one's locks: no need to
	 * reconnect just to hear that. */
	if (!db_alive(db))
		return RE_ENOTFOUND;
	rc = DBX(db, "SELECT RELEASE_LOCK(?)", &res, DBS(name));
	if (rc)
		return rc;
	/* 1 released; 0 held by another connection; NULL nobody held it. */
	if (db_res_int(&res, 0, 0, -1) != 1)
		rc = RE_ENOTFOUND;
	db_res_free(&res);
	return rc;
}

enum relay_err lock_take(struct db *db, struct slot *s, int *got)
{
	enum relay_err rc = lock_get(db, s->name, 0, got);

	s->held = !rc && *got;
	s->gen = s->held ? db_generation(db) : 0;
	return rc;
}

int lock_held(struct db *db, const struct slot *s)
{
	return s->held && db_alive(db) && db_generation(db) == s->gen;
}

enum relay_err lock_keep(struct db *db, struct slot *s)
{
	enum relay_err rc;
	int got = 0;

	if (!s->held)
		return RE_EBUSY;
	if (lock_held(db, s))
		return RE_OK;
	rc = lock_take(db, s, &got);
	if (rc) {
		s->held = 0;
		return rc;
	}
	if (!got)
		return RE_EBUSY;
	log_warn("database connection lost; lock %s taken again", s->name);
	return RE_OK;
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

enum relay_err slot_release(struct db *db, struct slot *s)
{
	enum relay_err rc;

	if (!s->held)
		return RE_OK;
	s->held = 0;
	if (db_generation(db) != s->gen)
		return RE_ENOTFOUND;
	rc = lock_release(db, s->name);
	if (rc == RE_ENOTFOUND)
		log_warn("slot %s was lost with the database connection", s->name);
	return rc;
}
