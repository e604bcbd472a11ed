/* csess.c - console sessions, CSRF, login rate limit, audit. See csess.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include "audit.h"
#include "csess.h"
#include "db.h"
#include "sha256.h"

/* See csess.h. The raw bytes are wiped. */
int csess_random_hex(char out[CSESS_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[32];
	size_t got = 0;

	while (got < sizeof(rnd)) {
		ssize_t r = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			out[0] = '\0';
			return -1;
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 15];
	}
	out[CSESS_TOKEN_LEN] = '\0';
	explicit_bzero(rnd, sizeof(rnd));
	return 0;
}

/* See csess.h. Expired sessions of every user are swept here: logins are
 * rare, so this keeps the table small without a cron job. */
enum relay_err csess_create(struct db *db, long long user_id, int hours,
			    const char *addr, char token[CSESS_TOKEN_LEN + 1],
			    char csrf[CSESS_TOKEN_LEN + 1])
{
	char hash[65];
	enum relay_err rc;

	if (csess_random_hex(token) || csess_random_hex(csrf))
		return RE_EIO;
	sha256_hex(token, CSESS_TOKEN_LEN, hash);
	rc = db_exec(db, "DELETE FROM console_sessions WHERE expires_at < NOW()", NULL, 0, NULL);
	if (!rc)
		rc = DBX(db, "INSERT INTO console_sessions (token_hash, user_id, csrf, addr,"
			 " expires_at) VALUES (?, ?, ?, LEFT(?, 64), NOW() + INTERVAL ? HOUR)",
			 NULL, DBS(hash), DBI(user_id), DBS(csrf), DBS(addr ? addr : ""),
			 DBI(hours));
	return rc;
}

/* 1 if s is exactly 64 lower-case hex digits. */
static int csess_hex64(const char *s)
{
	return s && strlen(s) == CSESS_TOKEN_LEN &&
	       strspn(s, "0123456789abcdef") == CSESS_TOKEN_LEN;
}

/* See csess.h. The hash is looked up by index, then compared in constant
 * time, as auth.c does for API keys. */
enum relay_err csess_find(struct db *db, const char *token, struct csess *s)
{
	struct db_res res;
	char hash[65];
	enum relay_err rc;

	memset(s, 0, sizeof(*s));
	if (!csess_hex64(token))
		return RE_OK;
	sha256_hex(token, CSESS_TOKEN_LEN, hash);
	rc = DBX(db, "SELECT s.id, s.token_hash, s.csrf, u.id, u.name, u.is_admin"
		 " FROM console_sessions s JOIN users u ON u.id = s.user_id"
		 " WHERE s.token_hash = ? AND s.expires_at > NOW() AND u.enabled = 1"
		 " AND u.pending = 0", &res, DBS(hash));
	if (rc)
		return rc;
	if (res.nrows == 1 && db_res_len(&res, 0, 1) == 64 &&
	    ct_equal(db_res_str(&res, 0, 1), hash, 64) && db_res_len(&res, 0, 2) == 64) {
		s->id = db_res_int(&res, 0, 0, 0);
		memcpy(s->csrf, db_res_str(&res, 0, 2), CSESS_TOKEN_LEN + 1);
		s->user_id = db_res_int(&res, 0, 3, 0);
		snprintf(s->name, sizeof(s->name), "%s", db_res_str(&res, 0, 4));
		s->admin = db_res_int(&res, 0, 5, 0) == 1;
	}
	db_res_free(&res);
	return RE_OK;
}

enum relay_err csess_end(struct db *db, const char *token)
{
	char hash[65];

	if (!csess_hex64(token))
		return RE_OK;
	sha256_hex(token, CSESS_TOKEN_LEN, hash);
	return DBX(db, "DELETE FROM console_sessions WHERE token_hash = ?", NULL, DBS(hash));
}

int csess_csrf_ok(const struct csess *s, const char *given)
{
	return s->id && given && strlen(given) == CSESS_TOKEN_LEN &&
	       ct_equal(s->csrf, given, CSESS_TOKEN_LEN);
}

enum relay_err csess_login_blocked(struct db *db, const char *name,
				   const char *addr, int *blocked)
{
	struct db_res res;
	enum relay_err rc = DBX(db,
		"SELECT (SELECT COUNT(*) FROM console_login_failures WHERE kind = 'name'"
		"  AND subject = LEFT(?, 128) AND at > NOW() - INTERVAL ? SECOND),"
		" (SELECT COUNT(*) FROM console_login_failures WHERE kind = 'addr'"
		"  AND subject = LEFT(?, 128) AND at > NOW() - INTERVAL ? SECOND)",
		&res, DBS(name), DBI(CSESS_FAIL_WINDOW), DBS(addr), DBI(CSESS_FAIL_WINDOW));

	*blocked = 0;
	if (rc)
		return rc;
	*blocked = db_res_int(&res, 0, 0, 0) >= CSESS_FAIL_PER_NAME ||
		   db_res_int(&res, 0, 1, 0) >= CSESS_FAIL_PER_ADDR;
	db_res_free(&res);
	return RE_OK;
}

/* Old rows are swept on every failure, so the table holds one window. */
enum relay_err csess_login_failed(struct db *db, const char *name, const char *addr)
{
	enum relay_err rc = DBX(db, "DELETE FROM console_login_failures"
				" WHERE at < NOW() - INTERVAL ? SECOND", NULL,
				DBI(CSESS_FAIL_WINDOW));

	if (!rc)
		rc = DBX(db, "INSERT INTO console_login_failures (kind, subject)"
			 " VALUES ('name', LEFT(?, 128)), ('addr', LEFT(?, 128))", NULL,
			 DBS(name), DBS(addr));
	return rc;
}

enum relay_err csess_login_ok(struct db *db, const char *name)
{
	return DBX(db, "DELETE FROM console_login_failures WHERE kind = 'name'"
		   " AND subject = LEFT(?, 128)", NULL, DBS(name));
}

enum relay_err csess_audit(struct db *db, const struct csess *actor,
			   const char *addr, const char *action,
			   const char *target, const char *detail)
{
	return audit_write(db, actor && actor->id ? actor->user_id : 0,
			   actor && actor->id ? actor->name : "", addr, action, target, detail);
}
