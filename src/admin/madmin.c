/* madmin.c - models as first-class entries (madmin.h). */
#include <string.h>
#include "db.h"
#include "madmin.h"

int madmin_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > MODEL_NAME_MAX)
		return 0;
	/* the characters a backend's model list takes (bkadmin), but no
	 * glob: a model entry is one exact name */
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789._:/@+-") == n;
}

int madmin_region_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n > 64)
		return 0;
	for (; s && *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

/* Every process reloads the pool (and with it the model entries). */
static enum relay_err madmin_bump(struct db *db)
{
	return db_exec(db, "CALL relay_backend_bump()", NULL, 0, NULL) ? RE_EDB : RE_OK;
}

enum relay_err madmin_add(struct db *db, const struct model_spec *s, long long *id)
{
	if (DBX(db, "INSERT INTO models (name, display_name, enabled) VALUES (?, ?, ?)", NULL,
		DBS(s->name), DBS(s->display ? s->display : ""),
		DBI(s->enabled == -1 ? 1 : s->enabled)))
		return db_errno(db) == 1062 ? RE_EINVAL : RE_EDB;
	*id = (long long)db_insert_id(db);
	return madmin_bump(db);
}

enum relay_err madmin_set(struct db *db, long long id, const struct model_spec *s, int *found)
{
	struct db_res res;

	if (DBX(db, "UPDATE models SET name = COALESCE(?, name),"
		" display_name = COALESCE(?, display_name), enabled = COALESCE(?, enabled)"
		" WHERE id = ?", NULL, DBS(s->name), DBS(s->display),
		s->enabled == -1 ? DBNULL : DBI(s->enabled), DBI(id)))
		return db_errno(db) == 1062 ? RE_EINVAL : RE_EDB;
	/* affected rows are 0 for an unchanged row too: ask */
	if (DBX(db, "SELECT COUNT(*) FROM models WHERE id = ?", &res, DBI(id)))
		return RE_EDB;
	*found = db_res_int(&res, 0, 0, 0) > 0;
	db_res_free(&res);
	return *found ? madmin_bump(db) : RE_OK;
}

enum relay_err madmin_del(struct db *db, long long id, int *found)
{
	if (DBX(db, "DELETE FROM models WHERE id = ?", NULL, DBI(id)))
		return RE_EDB;
	*found = db_affected(db) == 1;
	return *found ? madmin_bump(db) : RE_OK;
}

enum relay_err madmin_backend_put(struct db *db, long long model_id,
				  const struct model_backend_spec *s)
{
	struct db_res res;
	int both;

	if (DBX(db, "SELECT (SELECT COUNT(*) FROM models WHERE id = ?)"
		" + (SELECT COUNT(*) FROM backends WHERE id = ?)", &res, DBI(model_id),
		DBI(s->backend_id)))
		return RE_EDB;
	both = db_res_int(&res, 0, 0, 0) == 2;
	db_res_free(&res);
	if (!both)
		return RE_ENOTFOUND;
	if (DBX(db, "INSERT INTO model_backends (model_id, backend_id, model_name, weight, region)"
		" VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE model_name = VALUES(model_name),"
		" weight = VALUES(weight), region = VALUES(region)", NULL, DBI(model_id),
		DBI(s->backend_id), DBS(s->model_name ? s->model_name : ""),
		DBI(s->weight == -1 ? 1 : s->weight), DBS(s->region ? s->region : "")))
		return db_errno(db) == 1452 ? RE_ENOTFOUND : RE_EDB;   /* deleted meanwhile */
	return madmin_bump(db);
}

long long madmin_id(struct db *db, const char *name)
{
	struct db_res res;
	long long id;

	if (DBX(db, "SELECT id FROM models WHERE name = ?", &res, DBS(name)))
		return -1;
	id = res.nrows ? db_res_int(&res, 0, 0, 0) : 0;
	db_res_free(&res);
	return id;
}
