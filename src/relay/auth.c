/* auth.c - API key lookup. */
#include <stdio.h>
#include <string.h>
#include "auth.h"
#include "db.h"
#include "sha256.h"

const char *auth_message(enum auth_status st)
{
	switch (st) {
	case AUTH_EXPIRED:  return "API Key已过期";
	case AUTH_DISABLED: return "用户已被禁用";
	default:            return "API Key无效或缺失";
	}
}

/* The cell is borrowed; u owns its copy. */
void auth_set_models(struct auth_user *u, const char *cell, unsigned long len)
{
	u->models[0] = '\0';
	u->models_set = cell != NULL;
	if (cell && len < sizeof(u->models)) {
		memcpy(u->models, cell, len);
		u->models[len] = '\0';
	}
}

/* The next item of a comma list from *p (blanks around it trimmed) as
 * [*s, *e); 0 at the end. */
static int auth_item(const char **p, const char **s, const char **e)
{
	const char *q = *p;

	if (!q || !*q)
		return 0;
	*e = strchr(q, ',');
	if (!*e)
		*e = q + strlen(q);
	*p = **e ? *e + 1 : *e;
	for (*s = q; *s < *e && (**s == ' ' || **s == '\t'); (*s)++)
		;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
	return 1;
}

/* 1 when the list allows the n bytes at m: the same item, or "*" (as
 * allow_model (allow.h)). */
static int auth_allows(const char *list, const char *m, size_t n)
{
	const char *p = list, *s, *e;

	while (auth_item(&p, &s, &e))
		if ((e - s == 1 && *s == '*') || ((size_t)(e - s) == n && n &&
						  memcmp(s, m, n) == 0))
			return 1;
	return 0;
}

/* Appends the items of `from` that `other` allows to out (len used),
 * leaving out those out already allows; -1 when out is full. */
static int auth_meet(const char *from, const char *other, char *out, size_t *len,
		     size_t max)
{
	const char *p = from, *s, *e;

	while (auth_item(&p, &s, &e)) {
		size_t n = (size_t)(e - s);

		if (!n || !auth_allows(other, s, n) || auth_allows(out, s, n))
			continue;
		if (*len + 1 + n + 1 > max)
			return -1;
		if (*len)
			out[(*len)++] = ',';
		memcpy(out + *len, s, n);
		*len += n;
		out[*len] = '\0';
	}
	return 0;
}

/* See auth.h. The key's list only narrows its user's (issue 25): what
 * both allow, {k in K allowed by U} + {u in U allowed by K}, which with
 * exact names and "*" is exactly the models both lists allow. */
void auth_set_models2(struct auth_user *u, const char *kcell, unsigned long klen,
		      const char *ucell, unsigned long ulen)
{
	char k[sizeof(u->models)], us[sizeof(u->models)];
	size_t len = 0;

	if (!kcell || !ucell) {
		auth_set_models(u, kcell ? kcell : ucell, kcell ? klen : ulen);
		return;
	}
	u->models_set = 1;
	u->models[0] = '\0';
	if (klen >= sizeof(k) || ulen >= sizeof(us))
		return;                 /* too long: refused as a whole */
	memcpy(k, kcell, klen);
	k[klen] = '\0';
	memcpy(us, ucell, ulen);
	us[ulen] = '\0';
	if (auth_meet(k, us, u->models, &len, sizeof(u->models)) ||
	    auth_meet(us, k, u->models, &len, sizeof(u->models)))
		u->models[0] = '\0';
}

enum auth_status auth_decode(const struct db_res *res, unsigned models_col,
			     unsigned umodels_col, const char *hex, const char *today,
			     struct auth_user *u)
{
	const char *h = db_res_str(res, 0, 1);

	/* The index found the row; this compare is constant-time so timing
	 * says nothing about how much of a hash matched. */
	if (res->nrows != 1 || !db_res_str(res, 0, 0) || !h ||
	    db_res_len(res, 0, 1) != 64 || !ct_equal(h, hex, 64))
		return AUTH_INVALID;
	if (db_res_int(res, 0, 2, 1))
		return AUTH_INVALID;            /* revoked */
	if (db_res_int(res, 0, 3, 0))
		return AUTH_EXPIRED;
	if (!db_res_int(res, 0, 6, 0))
		return AUTH_DISABLED;
	u->key_id = db_res_int(res, 0, 0, 0);
	u->user_id = db_res_int(res, 0, 4, 0);
	snprintf(u->name, sizeof(u->name), "%s",
		 db_res_str(res, 0, 5) ? db_res_str(res, 0, 5) : "");
	u->daily_requests = db_res_int(res, 0, 7, 0);
	u->daily_tokens = db_res_int(res, 0, 8, 0);
	u->priority = (int)db_res_int(res, 0, 9, 0);
	auth_set_models2(u, db_res_str(res, 0, models_col),
			 db_res_len(res, 0, models_col),
			 db_res_str(res, 0, umodels_col),
			 db_res_len(res, 0, umodels_col));
	snprintf(u->day, sizeof(u->day), "%s", today ? today : "");
	return AUTH_OK;
}

enum relay_err auth_check(struct db *db, const char *key, const char *today,
			  struct auth_user *u, enum auth_status *st)
{
	static const char q[] =
		"SELECT k.id, k.key_hash, k.revoked_at IS NOT NULL,"
		" (k.expires_at IS NOT NULL AND k.expires_at < ?),"
		" u.id, u.name, u.enabled, u.daily_requests, u.daily_tokens, u.priority,"
		" k.models, u.models"
		" FROM api_keys k JOIN users u ON u.id = k.user_id"
		" WHERE k.key_hash = ?";
	char hex[65];
	struct db_res res;
	enum relay_err rc;
	size_t n;

	memset(u, 0, sizeof(*u));
	*st = AUTH_MISSING;
	if (!key)
		return RE_OK;
	n = strlen(key);
	if (n == 0)
		return RE_OK;
	*st = AUTH_INVALID;
	if (n > AUTH_KEY_MAX)
		return RE_OK;
	sha256_hex(key, n, hex);
	rc = DBX(db, q, &res, DBS(today), DBB(hex, 64));
	if (rc)
		return rc;
	*st = auth_decode(&res, 10, 11, hex, today, u);
	db_res_free(&res);
	return RE_OK;
}
