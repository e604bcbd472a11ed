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

/* The delay the pair must wait after its n-th failure in the window:
 * none below CSESS_FAIL_PER_PAIR, then CSESS_FAIL_DELAY seconds doubling
 * with every further failure, at most the window. */
static long long csess_delay(long long n)
{
	long long d = CSESS_FAIL_DELAY;

	if (n < CSESS_FAIL_PER_PAIR)
		return 0;
	for (long long i = CSESS_FAIL_PER_PAIR; i < n && d < CSESS_FAIL_WINDOW; i++)
		d *= 2;
	return d < CSESS_FAIL_WINDOW ? d : CSESS_FAIL_WINDOW;
}

/* Under the address's lock: whether the pair and the address may try, and
 * if so the try recorded as a failure (csess_login_done takes it back). */
static enum relay_err csess_try_locked(struct db *db, const char *pair,
				       const char *addr, int *blocked)
{
	struct db_res res;
	enum relay_err rc = DBX(db,
		"SELECT COUNT(*), COALESCE(TIMESTAMPDIFF(SECOND, MAX(at), NOW()), 0),"
		" (SELECT COUNT(*) FROM console_login_failures WHERE kind = 'addr'"
		"  AND subject = LEFT(?, 128) AND at > NOW() - INTERVAL ? SECOND)"
		" FROM console_login_failures WHERE kind = 'pair'"
		"  AND subject = LEFT(?, 128) AND at > NOW() - INTERVAL ? SECOND",
		&res, DBS(addr), DBI(CSESS_FAIL_WINDOW), DBS(pair), DBI(CSESS_FAIL_WINDOW));

	if (rc)
		return rc;
	*blocked = db_res_int(&res, 0, 1, 0) < csess_delay(db_res_int(&res, 0, 0, 0)) ||
		   db_res_int(&res, 0, 2, 0) >= CSESS_FAIL_PER_ADDR;
	db_res_free(&res);
	if (*blocked)
		return RE_OK;
	rc = DBX(db, "DELETE FROM console_login_failures WHERE at < NOW() - INTERVAL ? SECOND",
		 NULL, DBI(CSESS_FAIL_WINDOW));
	if (!rc)
		rc = DBX(db, "INSERT INTO console_login_failures (kind, subject)"
			 " VALUES ('pair', LEFT(?, 128)), ('addr', LEFT(?, 128))", NULL,
			 DBS(pair), DBS(addr));
	return rc;
}

/* "addr name": the pair's subject (names have no spaces: cdata_name_ok). */
static void csess_pair(char *out, size_t n, const char *name, const char *addr)
{
	snprintf(out, n, "%s %s", addr ? addr : "", name ? name : "");
}

/* Takes the lock named after addr (10 s at most): 1 had, 0 not had, -1
 * the database failed. Both the login's and the registration's counts
 * are the address's, so one lock per address makes each check and its
 * record one step: parallel tries cannot all pass a check made before
 * any of them was recorded. */
static int csess_addr_lock(struct db *db, const char *prefix, const char *addr,
			   char *lock, size_t n)
{
	struct db_res res;
	char hex[65];
	int got;

	sha256_hex(addr, strlen(addr), hex);
	snprintf(lock, n, "%.24s:login:%.24s", prefix, hex);
	if (DBX(db, "SELECT GET_LOCK(?, 10)", &res, DBS(lock)))
		return -1;
	got = db_res_int(&res, 0, 0, 0) == 1;
	db_res_free(&res);
	return got;
}

static enum relay_err csess_addr_unlock(struct db *db, const char *lock,
					enum relay_err rc)
{
	if (DBX(db, "DO RELEASE_LOCK(?)", NULL, DBS(lock)) && !rc)
		rc = RE_EDB;
	return rc;
}

/* See csess.h. */
enum relay_err csess_login_try(struct db *db, const char *prefix, const char *name,
			       const char *addr, int *blocked)
{
	char pair[256], lock[96];
	int got;

	*blocked = 1;
	addr = addr ? addr : "";
	csess_pair(pair, sizeof(pair), name, addr);
	got = csess_addr_lock(db, prefix, addr, lock, sizeof(lock));
	if (got <= 0)
		return got < 0 ? RE_EDB : RE_OK;   /* a flood from one address: 429 */
	return csess_addr_unlock(db, lock, csess_try_locked(db, pair, addr, blocked));
}

/* See csess.h. */
enum relay_err csess_register_try(struct db *db, const char *prefix,
				  const char *addr, int *blocked)
{
	struct db_res res;
	enum relay_err rc;
	char lock[96];
	int got;

	*blocked = 1;
	addr = addr ? addr : "";
	got = csess_addr_lock(db, prefix, addr, lock, sizeof(lock));
	if (got <= 0)
		return got < 0 ? RE_EDB : RE_OK;
	rc = DBX(db, "SELECT COUNT(*) FROM console_login_failures WHERE kind = 'reg'"
		 " AND subject = LEFT(?, 128) AND at > NOW() - INTERVAL ? SECOND", &res,
		 DBS(addr), DBI(CSESS_FAIL_WINDOW));
	if (!rc) {
		*blocked = db_res_int(&res, 0, 0, 0) >= CSESS_REG_PER_ADDR;
		db_res_free(&res);
	}
	if (!rc && !*blocked)
		rc = DBX(db, "INSERT INTO console_login_failures (kind, subject)"
			 " VALUES ('reg', LEFT(?, 128))", NULL, DBS(addr));
	return csess_addr_unlock(db, lock, rc);
}

/* See csess.h. */
enum relay_err csess_login_done(struct db *db, const char *name, const char *addr,
				int failed)
{
	char pair[256];
	enum relay_err rc;

	if (failed)
		return RE_OK;           /* the try stays recorded as a failure */
	csess_pair(pair, sizeof(pair), name, addr);
	rc = DBX(db, "DELETE FROM console_login_failures WHERE kind = 'pair'"
		 " AND subject = LEFT(?, 128)", NULL, DBS(pair));
	if (!rc)
		rc = DBX(db, "DELETE FROM console_login_failures WHERE kind = 'addr'"
			 " AND subject = LEFT(?, 128) ORDER BY id DESC LIMIT 1", NULL,
			 DBS(addr ? addr : ""));
	return rc;
}

enum relay_err csess_audit(struct db *db, const struct csess *actor,
			   const char *addr, const char *action,
			   const char *target, const char *detail)
{
	return audit_write(db, actor && actor->id ? actor->user_id : 0,
			   actor && actor->id ? actor->name : "", addr, action, target, detail);
}
