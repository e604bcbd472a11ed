/* madmin.h - models as first-class entries (issue 29), shared by relayctl
 * (relayctl model ...) and the console's /api/v1/admin/models: a public
 * name, a display name, enabled, and the backends that serve it (each
 * with its upstream model name, weight and region). Every change bumps
 * backend_gen, so each process reloads its copy of the pool. The callers
 * write the audit row (audit.h). */
#ifndef RELAY_MADMIN_H
#define RELAY_MADMIN_H

#include "err.h"

struct db;

#define MODEL_NAME_MAX 255

/* What add / set change. NULL / -1 = not given. */
struct model_spec {
	const char *name;          /* public name */
	const char *display;       /* display name, "" = none */
	int enabled;
};

/* One backend of a model. */
struct model_backend_spec {
	long long backend_id;
	const char *model_name;    /* upstream name, NULL or "" = the public one */
	long long weight;          /* -1 = 1 */
	const char *region;        /* NULL = "" */
};

/* 1 when s is a model name: 1..255 bytes of [A-Za-z0-9._:/@+-]. */
int madmin_name_ok(const char *s);
/* 1 when s is a region label: 0..64 bytes without spaces or controls. */
int madmin_region_ok(const char *s);

/* Adds a model: RE_OK with *id, RE_EINVAL when the name is taken. */
enum relay_err madmin_add(struct db *db, const struct model_spec *s, long long *id);
/* Changes model id; *found = 0 when none. RE_EINVAL when a new name is taken. */
enum relay_err madmin_set(struct db *db, long long id, const struct model_spec *s, int *found);
/* Deletes model id with its backend entries; *found = 0 when none. */
enum relay_err madmin_del(struct db *db, long long id, int *found);
/* Adds (or, for a backend already there, changes) a backend of model id:
 * RE_OK, RE_ENOTFOUND when the model or backend does not exist. */
enum relay_err madmin_backend_put(struct db *db, long long model_id,
				  const struct model_backend_spec *s);
/* Model id by public name: id, 0 when none, -1 database error. */
long long madmin_id(struct db *db, const char *name);
#endif
