/* slot.c - GET_LOCK based upstream slots. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "cfg.h"
#include "db.h"
#include "slot.h"

void slot_name(const struct cfg *c, int i, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s:slot:%d", c->lock_prefix, i);
}

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

enum relay_err slot_wait(struct db *db, const struct cfg *c, int timeout_s,
			 struct slot *s, int *got)
{
	int n = c->upstream_slots, first = slot_first(n);
	enum relay_err rc;

	*got = 0;
	s->held = 0;
	for (int k = 0; k < n; k++) {
		slot_name(c, (first - 1 + k) % n + 1, s->name, sizeof(s->name));
		rc = lock_get(db, s->name, 0, got);
		if (rc)
			return rc;
		if (*got) {
			s->held = 1;
			return RE_OK;
		}
	}
	/* All busy: block on one of them; MariaDB wakes us on its release. */
	slot_name(c, first, s->name, sizeof(s->name));
	rc = lock_get(db, s->name, timeout_s, got);
	if (rc)
		return rc;
	s->held = *got;
	return RE_OK;
}

void slot_release(struct db *db, struct slot *s)
{
	if (!s->held)
		return;
	lock_release(db, s->name);
	s->held = 0;
}
