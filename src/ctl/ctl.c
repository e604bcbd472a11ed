/* ctl.c - relayctl commands. Output is for people; the new key is alone on
 * the last line of `key create` so scripts can take it with tail -n 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "apikey.h"
#include "app.h"
#include "audit.h"
#include "useradmin.h"
#include "auth.h"
#include "cpw.h"
#include "ctl.h"
#include "ctl_backend.h"
#include "ctl_import.h"
#include "ctl_doctor.h"
#include "ctl_model.h"
#include "db.h"
#include "migrations.h"
#include "qadmin.h"
#include "queue.h"
#include "ctl_log.h"
#include "secret.h"
#include "sha256.h"
#include "slot.h"

#define EX_FAIL 1
#define EX_USAGE 2

static const char ctl_usage_text[] =
	"usage: relayctl COMMAND ...\n"
	"  migrate\n"
	"  user add NAME [--daily-requests N] [--daily-tokens N] [--priority P]\n"
	"               [--max-concurrent N] [--max-queued N] [--models a,b]\n"
	"  user set NAME [--daily-requests N] [--daily-tokens N] [--priority P]\n"
	"               [--max-concurrent N] [--max-queued N] [--models a,b]\n"
	"               [--enable|--disable] [--admin 0|1]\n"
	"  user passwd NAME          (console password, read from stdin)\n"
	"  user list\n"
	"  user del NAME\n"
	"  key create NAME [--expires YYYY-MM-DD] [--models a,b]\n"
	"  key import NAME [--expires YYYY-MM-DD] [--models a,b]   (the key on stdin)\n"
	"  import FILE|- [--dry-run]   (users and keys, CSV or JSON lines)\n"
	"  doctor                    (checks the installation, exit 0 = all passed)\n"
	"  key list [NAME]\n"
	"  key revoke KEYPREFIX\n"
	"  usage [--day YYYY-MM-DD]\n"
	"  queue list [--all]\n"
	"  queue cancel ID\n"
	"  queue retry ID\n"
	"  backend add NAME (--preset P | --format openai|anthropic --url BASE)\n"
	"              [--key-file FILE | --key -] [--slots N] [--weight N] [--priority N]\n"
	"              [--models a,b*] [--map 'claude-*=MiniMax-M2.7,...'] [--auth bearer|x-api-key|azure|aws|none] [--api-version V] [--region R]\n"
	"              [--mode pass|translate] [--responses yes|no|auto] [--disable]\n"
	"  backend set NAME [same options]   backend enable|disable|del|test NAME\n"
	"  backend list   backend presets\n"
	"  proxy list   proxy revoke USER   (the members' proxy URLs, /api/generate-url)\n"
	"  model list   model add NAME [--display TEXT] [--disable]   model del NAME\n"
	"  model set NAME [--display TEXT] [--enable|--disable]\n"
	"  model backend NAME BACKEND [--upstream MODEL] [--weight N] [--region R]\n"
	"  usage --by-backend [--day YYYY-MM-DD]\n"
	"  log purge [--days N] [--archive|--no-archive] [--batch N] [--pause-ms N] [--dry-run]\n"
	"(0 = unlimited for limits, but --max-queued 0 = a quarter of queue_max;\n"
	" --models \"\" = every model (a key without a list uses its user's, a key's\n"
	" list only narrows it); configuration from $RELAY_CONFIG and RELAY_* variables)\n";

static int ctl_usage(const char *why)
{
	if (why)
		fprintf(stderr, "relayctl: %s (see relayctl --help)\n", why);
	else
		fputs(ctl_usage_text, stderr);
	return EX_USAGE;
}

static int ctl_fail_db(struct app *a, const char *what)
{
	fprintf(stderr, "relayctl: %s failed: %s\n", what, db_error(a->db));
	return EX_FAIL;
}

/* Parses a whole decimal number in [lo, hi]; 0 on success. */
static int ctl_num(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Accepts only a real calendar date YYYY-MM-DD. */
static int ctl_date(const char *s)
{
	struct tm tm;
	long long y, m, d;
	char part[5];

	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	memcpy(part, s, 4); part[4] = '\0';
	if (ctl_num(part, 1970, 9999, &y)) return -1;
	memcpy(part, s + 5, 2); part[2] = '\0';
	if (ctl_num(part, 1, 12, &m)) return -1;
	memcpy(part, s + 8, 2); part[2] = '\0';
	if (ctl_num(part, 1, 31, &d)) return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)m - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = 12;
	tm.tm_isdst = -1;
	if (mktime(&tm) == (time_t)-1 || tm.tm_mday != (int)d)
		return -1;
	return 0;
}

/* A user name: 1..64 printable characters without spaces or controls. */
static int ctl_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

/* ---- migrate ---- */

/* Runs the statements of one compiled-in file (a schema migration or a
 * routine). A statement ends with the current delimiter at the end of a
 * line: ';' unless a "DELIMITER x" line (as in the mysql client) changes
 * it, which routines with BEGIN ... END bodies need. Lines starting with
 * "--" before a statement are comments (not sent, so a routine's header
 * comment is not part of its stored text). */
static int ctl_apply(struct app *a, const char *name, const char *sql)
{
	const char *p = sql;
	char *stmt = malloc(strlen(sql) + 1);
	char delim[16] = ";";
	size_t len = 0, dl = 1;

	if (!stmt)
		return -1;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		const char *t = p;
		size_t tl = ll;

		while (tl && (*t == ' ' || *t == '\t')) { t++; tl--; }
		while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t' || t[tl - 1] == '\r'))
			tl--;
		if (len == 0 && tl > 10 && strncasecmp(t, "DELIMITER ", 10) == 0) {
			dl = tl - 10 < sizeof(delim) ? tl - 10 : sizeof(delim) - 1;
			memcpy(delim, t + 10, dl);
			delim[dl] = '\0';
		} else if (tl && !(len == 0 && tl >= 2 && t[0] == '-' && t[1] == '-')) {
			memcpy(stmt + len, p, ll);
			len += ll;
			stmt[len++] = '\n';
			if (tl >= dl && memcmp(t + tl - dl, delim, dl) == 0) {
				/* Drop the delimiter itself, as the mysql client does. */
				len = (size_t)((t + tl - dl) - p) + (len - ll - 1);
				if (db_exec_plain(a->db, stmt, len)) {
					fprintf(stderr, "relayctl: %s: %s\n", name, db_error(a->db));
					free(stmt);
					return -1;
				}
				len = 0;
			}
		}
		p += ll + (eol ? 1 : 0);
	}
	free(stmt);
	return 0;
}

/* ---- routines ---- */

/* The procedures, functions, triggers and views the database has now, kind
 * named as in struct routine. */
static const char ctl_present_sql[] =
	"SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES"
	" WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION')"
	" UNION ALL SELECT TRIGGER_NAME, 'TRIGGER' FROM information_schema.TRIGGERS"
	" WHERE TRIGGER_SCHEMA = DATABASE()"
	" UNION ALL SELECT TABLE_NAME, 'VIEW' FROM information_schema.VIEWS"
	" WHERE TABLE_SCHEMA = DATABASE()";

/* 1 if a file of sql/routines defines name as kind (routine names are
 * case-insensitive in MariaDB). */
static int ctl_routine_known(const char *name, const char *kind)
{
	for (int i = 0; i < routine_count; i++)
		if (strcasecmp(routines[i].name, name) == 0 && strcmp(routines[i].kind, kind) == 0)
			return 1;
	return 0;
}

/* 1 if the database has name as kind (rows of ctl_present_sql). */
static int ctl_routine_present(const struct db_res *have, const char *name,
			       const char *kind)
{
	for (unsigned i = 0; i < have->nrows; i++) {
		const char *n = db_res_str(have, i, 0), *k = db_res_str(have, i, 1);

		if (n && k && strcasecmp(n, name) == 0 && strcmp(k, kind) == 0)
			return 1;
	}
	return 0;
}

/* Applies, in routines[] order, each routine that is missing or whose
 * file's SHA-256 is not the one schema_routines recorded when it was last
 * applied. Each is one CREATE OR REPLACE: a caller running meanwhile finds
 * the old or the new definition, never none. Returns how many, -1 on
 * failure. */
static int ctl_routines_apply(struct app *a, const struct db_res *have)
{
	int n = 0;

	for (int i = 0; i < routine_count; i++) {
		const struct routine *r = &routines[i];
		struct db_res res;
		const char *sum;
		int same;

		if (DBX(a->db, "SELECT sha256 FROM schema_routines WHERE name = ? AND kind = ?",
			&res, DBS(r->name), DBS(r->kind)))
			return ctl_fail_db(a, "reading schema_routines"), -1;
		sum = db_res_str(&res, 0, 0);
		same = sum && strcmp(sum, r->sha256) == 0;
		db_res_free(&res);
		if (same && ctl_routine_present(have, r->name, r->kind))
			continue;
		if (ctl_apply(a, r->name, r->sql))
			return -1;
		if (DBX(a->db, "INSERT INTO schema_routines (name, kind, sha256) VALUES (?, ?, ?)"
			" ON DUPLICATE KEY UPDATE kind = VALUES(kind), sha256 = VALUES(sha256),"
			" applied_at = CURRENT_TIMESTAMP",
			NULL, DBS(r->name), DBS(r->kind), DBS(r->sha256)))
			return ctl_fail_db(a, "recording the routine"), -1;
		printf("applied routine %s\n", r->name);
		n++;
	}
	return n;
}

/* Drops every procedure, function, trigger and view of the database that
 * no file defines (any more), and forgets their records. The statement is
 * built, since DDL takes no parameters: the name comes from the server's
 * own catalogue and is quoted. Returns how many, -1 on failure. */
static int ctl_routines_drop(struct app *a, const struct db_res *have)
{
	struct db_res res;
	int n = 0;

	for (unsigned i = 0; i < have->nrows; i++) {
		const char *name = db_res_str(have, i, 0), *kind = db_res_str(have, i, 1);
		char sql[300];
		size_t len;

		if (!name || !kind || ctl_routine_known(name, kind))
			continue;
		if (strlen(name) > 64 || strchr(name, '`')) {
			fprintf(stderr, "relayctl: not dropping %s %s: odd name\n", kind, name);
			continue;
		}
		len = (size_t)snprintf(sql, sizeof(sql), "DROP %s IF EXISTS `%s`", kind, name);
		if (db_exec_plain(a->db, sql, len))
			return ctl_fail_db(a, "dropping a routine no file defines"), -1;
		printf("dropped %s %s (no file defines it)\n", kind, name);
		n++;
	}
	if (db_exec(a->db, "SELECT name, kind FROM schema_routines", NULL, 0, &res) == RE_OK) {
		for (unsigned i = 0; i < res.nrows; i++)
			if (!ctl_routine_known(db_res_str(&res, i, 0), db_res_str(&res, i, 1)))
				DBX(a->db, "DELETE FROM schema_routines WHERE name = ?", NULL,
				    DBS(db_res_str(&res, i, 0)));
		db_res_free(&res);
	}
	return n;
}

/* The routines after the schema: applies the changed and missing ones,
 * then drops the ones no file defines. */
static int ctl_routines(struct app *a)
{
	static const char create[] =
		"CREATE TABLE IF NOT EXISTS schema_routines ("
		" name VARCHAR(64) NOT NULL PRIMARY KEY,"
		" kind VARCHAR(16) CHARACTER SET ascii NOT NULL,"
		" sha256 CHAR(64) CHARACTER SET ascii NOT NULL,"
		" applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
		" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
	struct db_res have;
	int applied, dropped;

	if (db_exec_plain(a->db, create, sizeof(create) - 1))
		return ctl_fail_db(a, "creating schema_routines");
	if (db_exec(a->db, ctl_present_sql, NULL, 0, &have))
		return ctl_fail_db(a, "listing the routines");
	applied = ctl_routines_apply(a, &have);
	dropped = applied < 0 ? -1 : ctl_routines_drop(a, &have);
	db_res_free(&have);
	if (applied < 0 || dropped < 0)
		return EX_FAIL;
	printf("routines up to date (%d routine(s) applied now, %d dropped, %d known)\n",
	       applied, dropped, routine_count);
	return 0;
}

static int ctl_migrate(struct app *a)
{
	static const char create[] =
		"CREATE TABLE IF NOT EXISTS schema_migrations ("
		" version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,"
		" applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
		" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
	char lk[96];
	int got, applied = 0, rc = EX_FAIL;

	snprintf(lk, sizeof(lk), "%s:migrate", a->cfg.lock_prefix);
	if (lock_get(a->db, lk, 60, &got) || !got)
		return ctl_fail_db(a, "taking the migration lock");
	if (db_exec_plain(a->db, create, sizeof(create) - 1)) {
		ctl_fail_db(a, "creating schema_migrations");
		goto out;
	}
	for (int i = 0; i < migration_count; i++) {
		const struct migration *m = &migrations[i];
		struct db_res res;
		long long have;

		if (DBX(a->db, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?",
			&res, DBI(m->version))) {
			ctl_fail_db(a, "reading schema_migrations");
			goto out;
		}
		have = db_res_int(&res, 0, 0, 0);
		db_res_free(&res);
		if (have)
			continue;
		/* DDL commits implicitly in MariaDB, so a migration is not
		 * atomic: every statement is written to be re-runnable
		 * (IF NOT EXISTS), and the version is recorded last. */
		if (ctl_apply(a, m->name, m->sql))
			goto out;
		if (DBX(a->db, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
			NULL, DBI(m->version), DBS(m->name))) {
			ctl_fail_db(a, "recording the migration");
			goto out;
		}
		printf("applied %s\n", m->name);
		applied++;
	}
	printf("schema up to date (%d migration(s) applied now, %d known)\n",
	       applied, migration_count);
	rc = ctl_routines(a);
out:
	lock_release(a->db, lk);
	return rc;
}

/* ---- users ---- */

/* A model allow-list argument normalised into out ("" = every model).
 * The bound is what auth.c can hold for a request (struct auth_user), so a
 * list relayctl accepts is never one that silently refuses every model. */
static int ctl_models(const char *arg, char *out, size_t n)
{
	if (apikey_models_norm(arg, out, n) < 0) {
		ctl_usage("--models takes model names [A-Za-z0-9._:/@+-] separated by commas"
			  " (\"\" = every model)");
		return -1;
	}
	return 0;
}

#define CTL_MODELS_MAX sizeof(((struct auth_user *)0)->models)

struct ctl_user_flags {
	long long requests, tokens, priority, max_conc, max_queued;
	int has_requests, has_tokens, has_priority, enable; /* enable: -1 keep */
	int has_max_conc, has_max_queued, has_models;
	int admin;                                          /* -1 keep */
	char models[CTL_MODELS_MAX];                        /* "" = NULL = all */
};

static int ctl_user_flags(int argc, char **argv, int allow_enable,
			  struct ctl_user_flags *f)
{
	memset(f, 0, sizeof(*f));
	f->enable = -1;
	f->admin = -1;
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		if (strcmp(o, "--daily-requests") == 0 && i + 1 < argc) {
			if (ctl_num(argv[++i], 0, 4294967295LL, &f->requests))
				return ctl_usage("--daily-requests takes a number 0..4294967295");
			f->has_requests = 1;
		} else if (strcmp(o, "--daily-tokens") == 0 && i + 1 < argc) {
			if (ctl_num(argv[++i], 0, 9000000000000000000LL, &f->tokens))
				return ctl_usage("--daily-tokens takes a number >= 0");
			f->has_tokens = 1;
		} else if (strcmp(o, "--priority") == 0 && i + 1 < argc) {
			if (ctl_num(argv[++i], -1000000, 1000000, &f->priority))
				return ctl_usage("--priority takes a number -1000000..1000000");
			f->has_priority = 1;
		} else if (strcmp(o, "--max-concurrent") == 0 && i + 1 < argc) {
			if (ctl_num(argv[++i], 0, 1000000, &f->max_conc))
				return ctl_usage("--max-concurrent takes a number 0..1000000"
						" (0 = the config's user_max_concurrent, by default none)");
			f->has_max_conc = 1;
		} else if (strcmp(o, "--max-queued") == 0 && i + 1 < argc) {
			if (ctl_num(argv[++i], 0, 1000000, &f->max_queued))
				return ctl_usage("--max-queued takes a number 0..1000000"
						" (0 = the default, max(1, queue_max / 4))");
			f->has_max_queued = 1;
		} else if (strcmp(o, "--models") == 0 && i + 1 < argc) {
			if (ctl_models(argv[++i], f->models, sizeof(f->models)))
				return EX_USAGE;
			f->has_models = 1;
		} else if (allow_enable && strcmp(o, "--enable") == 0) {
			f->enable = 1;
		} else if (allow_enable && strcmp(o, "--disable") == 0) {
			f->enable = 0;
		} else if (allow_enable && strcmp(o, "--admin") == 0 && i + 1 < argc) {
			long long v;
			if (ctl_num(argv[++i], 0, 1, &v))
				return ctl_usage("--admin takes 0 or 1");
			f->admin = (int)v;
		} else {
			fprintf(stderr, "relayctl: unknown or incomplete option '%s'\n", o);
			return EX_USAGE;
		}
	}
	return 0;
}

/* The id of a user by name; 0 if there is none, -1 on a database error. */
static long long ctl_user_id(struct app *a, const char *name)
{
	struct db_res res;
	long long id;

	if (DBX(a->db, "SELECT id FROM users WHERE name = ?", &res, DBS(name)))
		return -1;
	id = db_res_int(&res, 0, 0, 0);
	db_res_free(&res);
	return id;
}

static void ctl_audit_queue(struct app *a, const char *action, long long id)
{
	char t[32];

	snprintf(t, sizeof(t), "queue:%lld", id);
	audit_shell(a->db, action, t, NULL);
}

/* relayctl user passwd: one line from stdin (never argv, which other users
 * can read in ps), hashed with cpw_hash. Existing console sessions of the
 * user end, as after any password change. */
static int ctl_passwd(struct app *a, long long id, const char *name)
{
	char pw[CPW_MAX + 2], hash[CPW_HASH_MAX];
	size_t n;
	int rc = EX_FAIL;

	if (!fgets(pw, sizeof(pw), stdin)) {
		fprintf(stderr, "relayctl: no password on stdin\n");
		return EX_USAGE;
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (cpw_hash(pw, hash, sizeof(hash))) {
		fprintf(stderr, "relayctl: the password must be %d..%d bytes\n", CPW_MIN, CPW_MAX);
		rc = EX_USAGE;
		goto out;
	}
	if (DBX(a->db, "UPDATE users SET password_hash = ?, pending = 0 WHERE id = ?", NULL,
		DBS(hash), DBI(id)) ||
	    DBX(a->db, "DELETE FROM console_sessions WHERE user_id = ?", NULL, DBI(id))) {
		rc = ctl_fail_db(a, "user passwd");
		goto out;
	}
	audit_shell(a->db, "user.passwd", name, NULL);
	printf("password of '%s' set\n", name);
	rc = 0;
out:
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

/* The audit row of `user set`: which fields changed, with their values
 * (a capped buffer: a long model list is cut, never overflows). */
static void ctl_audit_set(struct app *a, const char *name, const struct ctl_user_flags *f)
{
	struct buf d;

	buf_init(&d, 1024);
	if (f->has_requests) buf_printf(&d, " daily_requests=%lld", f->requests);
	if (f->has_tokens) buf_printf(&d, " daily_tokens=%lld", f->tokens);
	if (f->has_priority) buf_printf(&d, " priority=%lld", f->priority);
	if (f->has_max_conc) buf_printf(&d, " max_concurrent=%lld", f->max_conc);
	if (f->has_max_queued) buf_printf(&d, " max_queued=%lld", f->max_queued);
	if (f->has_models) buf_printf(&d, " models=%s", f->models[0] ? f->models : "*");
	if (f->enable >= 0) buf_printf(&d, " enabled=%d", f->enable);
	if (f->admin >= 0) buf_printf(&d, " admin=%d", f->admin);
	audit_shell(a->db, "user.update", name, d.len ? buf_cstr(&d) + 1 : "");
	buf_free(&d);
}

static int ctl_user_list(struct app *a, int argc)
{
	struct db_res res;

	if (argc != 1)
		return ctl_usage("user list takes no arguments");
	if (db_exec(a->db, "SELECT name, enabled, daily_requests, daily_tokens,"
		    " priority, (SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id"
		    " AND k.revoked_at IS NULL), DATE_FORMAT(created_at, '%Y-%m-%d'),"
		    " COALESCE(models, 'all')"
		    " FROM users u ORDER BY name", NULL, 0, &res))
		return ctl_fail_db(a, "user list");
	printf("%-24s %-8s %14s %16s %8s %5s %-10s %s\n", "NAME", "ENABLED",
	       "DAILY_REQUESTS", "DAILY_TOKENS", "PRIORITY", "KEYS", "CREATED",
	       "MODELS");
	for (unsigned i = 0; i < res.nrows; i++)
		printf("%-24s %-8s %14s %16s %8s %5s %-10s %s\n", db_res_str(&res, i, 0),
		       db_res_int(&res, i, 1, 0) ? "yes" : "no",
		       db_res_int(&res, i, 2, 0) ? db_res_str(&res, i, 2) : "unlimited",
		       db_res_int(&res, i, 3, 0) ? db_res_str(&res, i, 3) : "unlimited",
		       db_res_str(&res, i, 4), db_res_str(&res, i, 5),
		       db_res_str(&res, i, 6), db_res_str(&res, i, 7));
	db_res_free(&res);
	return 0;
}

static int ctl_user_add(struct app *a, const char *name, int argc, char **argv)
{
	struct ctl_user_flags f;
	long long id;
	int rc;

	if ((rc = ctl_user_flags(argc, argv, 0, &f)))
		return rc;
	id = ctl_user_id(a, name);
	if (id < 0)
		return ctl_fail_db(a, "user add");
	if (id > 0) {
		fprintf(stderr, "relayctl: user '%s' already exists\n", name);
		return EX_FAIL;
	}
	if (DBX(a->db, "INSERT INTO users (name, daily_requests, daily_tokens, priority,"
		" max_concurrent, max_queued, models) VALUES (?, ?, ?, ?, ?, ?, ?)", NULL,
		DBS(name), DBI(f.has_requests ? f.requests : 1000),
		DBI(f.has_tokens ? f.tokens : 100000),
		DBI(f.has_priority ? f.priority : 0), DBI(f.max_conc),
		DBI(f.max_queued), DBS(f.models[0] ? f.models : NULL)))
		return ctl_fail_db(a, "user add");
	audit_shell(a->db, "user.create", name, NULL);
	printf("user '%s' added\n", name);
	return 0;
}

/* The flags as the admin layer's change (f must outlive c). */
static void ctl_user_change(const struct ctl_user_flags *f, struct user_change *c)
{
	useradmin_init(c);
	c->has_requests = f->has_requests;
	c->requests = f->requests;
	c->has_tokens = f->has_tokens;
	c->tokens = f->tokens;
	c->has_priority = f->has_priority;
	c->priority = f->priority;
	c->has_max_conc = f->has_max_conc;
	c->max_conc = f->max_conc;
	c->has_max_queued = f->has_max_queued;
	c->max_queued = f->max_queued;
	c->has_models = f->has_models;
	c->models = f->models;
	c->enabled = f->enable;
	c->admin = f->admin;
}

static int ctl_user_set(struct app *a, long long id, const char *name, int argc,
			char **argv)
{
	struct ctl_user_flags f;
	struct user_change uc;
	int rc;

	if ((rc = ctl_user_flags(argc, argv, 1, &f)))
		return rc;
	if (!id) {
		fprintf(stderr, "relayctl: no user '%s'\n", name);
		return EX_FAIL;
	}
	if (!f.has_requests && !f.has_tokens && !f.has_priority && f.enable < 0 &&
	    !f.has_max_conc && !f.has_max_queued && f.admin < 0 && !f.has_models)
		return ctl_usage("user set needs at least one option");
	ctl_user_change(&f, &uc);
	if (useradmin_update(a->db, id, &uc, NULL))
		return ctl_fail_db(a, "user set");
	ctl_audit_set(a, name, &f);
	printf("user '%s' updated\n", name);
	return 0;
}

static int ctl_user_del(struct app *a, long long id, const char *name)
{
	/* waiting requests fail with a reason instead of being served for
	 * nobody (useradmin.h) */
	if (useradmin_delete(a->db, id, NULL, NULL))
		return ctl_fail_db(a, "user del");
	audit_shell(a->db, "user.delete", name, NULL);
	printf("user '%s' deleted\n", name);
	return 0;
}

static int ctl_user(struct app *a, int argc, char **argv)
{
	const char *name;
	long long id;

	if (argc < 1)
		return ctl_usage("user needs a subcommand");
	if (strcmp(argv[0], "list") == 0)
		return ctl_user_list(a, argc);
	if (argc < 2)
		return ctl_usage("missing user NAME");
	name = argv[1];
	if (!ctl_name_ok(name))
		return ctl_usage("NAME must be 1..64 characters without spaces");
	if (strcmp(argv[0], "add") == 0)
		return ctl_user_add(a, name, argc - 2, argv + 2);
	if (strcmp(argv[0], "set") != 0 && strcmp(argv[0], "passwd") != 0 &&
	    strcmp(argv[0], "del") != 0)
		return ctl_usage("unknown user subcommand");
	if (strcmp(argv[0], "passwd") == 0 && argc != 2)
		return ctl_usage("user passwd takes only NAME (the password comes from stdin)");
	if (strcmp(argv[0], "del") == 0 && argc != 2)
		return ctl_usage("user del takes only NAME");
	id = ctl_user_id(a, name);
	if (id < 0)
		return ctl_fail_db(a, "user lookup");
	/* set checks its options first: a bad flag is exit 2 even for a
	 * user that does not exist */
	if (strcmp(argv[0], "set") == 0)
		return ctl_user_set(a, id, name, argc - 2, argv + 2);
	if (!id) {
		fprintf(stderr, "relayctl: no user '%s'\n", name);
		return EX_FAIL;
	}
	if (strcmp(argv[0], "passwd") == 0)
		return ctl_passwd(a, id, name);
	return ctl_user_del(a, id, name);
}

/* ---- keys ---- */

/* relayctl key create NAME [--expires D] [--models a,b]: the key is printed
 * once and wiped from our buffer. */
static int ctl_key_create(struct app *a, int argc, char **argv)
{
	const char *expires = NULL;
	char key[64], prefix[13], models[CTL_MODELS_MAX] = "";
	long long id, key_id;

	if (argc < 2)
		return ctl_usage("missing user NAME");
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--expires") == 0 && i + 1 < argc) {
			expires = argv[++i];
			if (ctl_date(expires))
				return ctl_usage("--expires takes a date YYYY-MM-DD");
		} else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) {
			if (ctl_models(argv[++i], models, sizeof(models)))
				return EX_USAGE;
		} else {
			return ctl_usage("unknown option for key create");
		}
	}
	if (!ctl_name_ok(argv[1]))
		return ctl_usage("NAME must be 1..64 characters without spaces");
	id = ctl_user_id(a, argv[1]);
	if (id < 0)
		return ctl_fail_db(a, "key create");
	if (!id) {
		fprintf(stderr, "relayctl: no user '%s'\n", argv[1]);
		return EX_FAIL;
	}
	{
		char bad[512];
		int nb = apikey_models_beyond(a->db, id, models, bad, sizeof(bad));

		if (nb < 0)
			return ctl_fail_db(a, "key create");
		if (nb > 0) {
			fprintf(stderr, "relayctl: --models: not allowed for user '%s': %s"
				" (a key's list can only narrow its user's)\n", argv[1], bad);
			return EX_USAGE;
		}
	}
	switch (apikey_create(a->db, id, NULL, models, expires, key, sizeof(key),
			      prefix, &key_id)) {
	case RE_OK:
		break;
	case RE_EIO:
		fprintf(stderr, "relayctl: no randomness available\n");
		return EX_FAIL;
	default:
		return ctl_fail_db(a, "key create");
	}
	{
		char t[96];
		snprintf(t, sizeof(t), "key:%lld user:%lld", key_id, id);
		audit_shell(a->db, "key.create", t, prefix);
	}
	printf("key %s... created for '%s'%s%s%s%s; it is shown only once:\n",
	       prefix, argv[1], expires ? ", valid through " : "",
	       expires ? expires : "", models[0] ? ", models " : "", models);
	printf("%s\n", key);
	explicit_bzero(key, sizeof(key));
	return 0;
}

/* relayctl key list [NAME]: expiry, state and the allow-list in force (the
 * key's own, else its user's marked "(user)", else "all"; a key's own
 * with its user's after it, "(within user: ...)": both apply). */
static int ctl_key_list(struct app *a, int argc, char **argv)
{
	struct db_res res;
	static const char q[] =
		"SELECT k.key_prefix, u.name, DATE_FORMAT(k.created_at, '%Y-%m-%d %H:%i'),"
		" k.expires_at, DATE_FORMAT(k.revoked_at, '%Y-%m-%d %H:%i'),"
		" IF(k.models IS NOT NULL AND u.models IS NOT NULL,"
		"    CONCAT(k.models, ' (within user: ', u.models, ')'),"
		"    COALESCE(k.models, CONCAT(u.models, ' (user)'), 'all'))"
		" FROM api_keys k JOIN users u ON u.id = k.user_id"
		" WHERE (? IS NULL OR u.name = ?) ORDER BY u.name, k.id";
	const char *name = argc > 1 ? argv[1] : NULL;

	if (argc > 2)
		return ctl_usage("key list takes at most NAME");
	if (DBX(a->db, q, &res, DBS(name), DBS(name)))
		return ctl_fail_db(a, "key list");
	printf("%-15s %-24s %-16s %-10s %-24s %s\n", "PREFIX", "USER", "CREATED",
	       "EXPIRES", "STATE", "MODELS");
	for (unsigned i = 0; i < res.nrows; i++) {
		char state[40];

		snprintf(state, sizeof(state), "%s%s",
			 db_res_str(&res, i, 4) ? "revoked " : "active",
			 db_res_str(&res, i, 4) ? db_res_str(&res, i, 4) : "");
		printf("%-15s %-24s %-16s %-10s %-24s %s\n", db_res_str(&res, i, 0),
		       db_res_str(&res, i, 1), db_res_str(&res, i, 2),
		       db_res_str(&res, i, 3) ? db_res_str(&res, i, 3) : "never",
		       state, db_res_str(&res, i, 5));
	}
	db_res_free(&res);
	return 0;
}

static int ctl_key(struct app *a, int argc, char **argv)
{
	if (argc < 1)
		return ctl_usage("key needs a subcommand");
	if (strcmp(argv[0], "create") == 0)
		return ctl_key_create(a, argc, argv);
	if (strcmp(argv[0], "list") == 0)
		return ctl_key_list(a, argc, argv);
	if (strcmp(argv[0], "import") == 0)
		return ctl_key_import(a, argc, argv);
	if (strcmp(argv[0], "revoke") == 0) {
		struct db_res res;
		const char *p = argc == 2 ? argv[1] : NULL;
		char hex[65];
		long long id;

		if (!p || strlen(p) < 6)
			return ctl_usage("key revoke takes a key prefix of 6+ characters (see key list)");
		/* A full key is matched by its hash, a prefix by the visible part. */
		sha256_hex(p, strlen(p), hex);
		if (DBX(a->db, "SELECT id FROM api_keys WHERE revoked_at IS NULL AND"
			" (key_hash = ? OR (CHAR_LENGTH(?) <= 12 AND LEFT(key_prefix, CHAR_LENGTH(?)) = ?))",
			&res, DBS(hex), DBS(p), DBS(p), DBS(p)))
			return ctl_fail_db(a, "key revoke");
		if (res.nrows != 1) {
			fprintf(stderr, "relayctl: %s active key matches '%s'\n",
				res.nrows ? "more than one" : "no", p);
			db_res_free(&res);
			return EX_FAIL;
		}
		id = db_res_int(&res, 0, 0, 0);
		db_res_free(&res);
		if (apikey_revoke(a->db, id, NULL))
			return ctl_fail_db(a, "key revoke");
		{
			char t[32];
			snprintf(t, sizeof(t), "key:%lld", id);
			audit_shell(a->db, "key.revoke", t, NULL);
		}
		printf("key revoked\n");
		return 0;
	}
	return ctl_usage("unknown key subcommand");
}

/* ---- usage ---- */

/* usage --by-backend: the day's requests by the backend that served
 * them ("-" = never went upstream: refused, queued and cancelled...). */
static int ctl_usage_backends(struct app *a, const char *day)
{
	static const char q[] =
		"SELECT COALESCE(backend, '-'), COUNT(*), COALESCE(SUM(total_tokens), 0),"
		" COALESCE(SUM(error IS NOT NULL OR http_status >= 400), 0),"
		" COALESCE(SUM(tries > 1), 0), COALESCE(ROUND(AVG(latency_ms)), 0)"
		" FROM request_log WHERE day = ? GROUP BY backend ORDER BY 1";
	struct db_res res;

	if (DBX(a->db, q, &res, DBS(day)))
		return ctl_fail_db(a, "usage");
	printf("usage by backend for %s\n", day);
	printf("%-24s %10s %14s %8s %11s %12s\n", "BACKEND", "REQUESTS", "TOKENS", "ERRORS",
	       "FAILED-OVER", "AVG-LATENCY");
	for (unsigned i = 0; i < res.nrows; i++)
		printf("%-24s %10s %14s %8s %11s %10sms\n", db_res_str(&res, i, 0),
		       db_res_str(&res, i, 1), db_res_str(&res, i, 2), db_res_str(&res, i, 3),
		       db_res_str(&res, i, 4), db_res_str(&res, i, 5));
	db_res_free(&res);
	return 0;
}

/* The day's rows metered with the relay's estimate (usage_known = 2,
 * sql/schema/024_estimates_and_responses.sql), per user; printed only when there are some. */
static int ctl_usage_estimated(struct app *a, const char *day)
{
	struct db_res res;

	if (DBX(a->db, "SELECT COALESCE(u.name, '-'), COUNT(*), SUM(l.total_tokens)"
		" FROM request_log l LEFT JOIN users u ON u.id = l.user_id"
		" WHERE l.day = ? AND l.usage_known = 2 GROUP BY l.user_id ORDER BY 1",
		&res, DBS(day)))
		return ctl_fail_db(a, "usage");
	if (res.nrows)
		printf("estimated (usage not read: the client left or the answer was too large;"
		       " included above)\n%-24s %21s %27s\n", "USER", "REQUESTS", "TOKENS");
	for (unsigned i = 0; i < res.nrows; i++)
		printf("%-24s %21s %27s\n", db_res_str(&res, i, 0), db_res_str(&res, i, 1),
		       db_res_str(&res, i, 2));
	db_res_free(&res);
	return 0;
}

static int ctl_usage_report(struct app *a, int argc, char **argv)
{
	static const char q[] =
		/* requests in flight and not yet durable count too (the view
		 * inflight_open), as for the limit:
		 * relay_requests_used() inlined, the entries counted in one
		 * grouped pass (a stored function call per user cost ~80 us,
		 * 90 ms for 1,000 users) */
		"SELECT u.name, COALESCE(d.requests, 0) + COALESCE(f.n, 0), u.daily_requests,"
		" COALESCE(d.tokens, 0), u.daily_tokens, COALESCE(d.errors, 0),"
		" u.priority, u.enabled"
		" FROM users u LEFT JOIN daily_usage d ON d.user_id = u.id AND d.day = ?"
		" LEFT JOIN (SELECT i.user_id, COUNT(*) AS n FROM inflight_open i"
		"   WHERE i.day = ? GROUP BY i.user_id) f ON f.user_id = u.id"
		" ORDER BY u.name";
	struct db_res res;
	char day[11];
	long long treq = 0, ttok = 0, terr = 0;

	int by_backend = 0;

	db_today(day);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--day") == 0 && i + 1 < argc) {
			if (ctl_date(argv[++i]))
				return ctl_usage("--day takes a date YYYY-MM-DD");
			snprintf(day, sizeof(day), "%s", argv[i]);
		} else if (strcmp(argv[i], "--by-backend") == 0) {
			by_backend = 1;
		} else {
			return ctl_usage("usage takes only --day YYYY-MM-DD and --by-backend");
		}
	}
	if (by_backend)
		return ctl_usage_backends(a, day);
	if (DBX(a->db, q, &res, DBS(day), DBS(day)))
		return ctl_fail_db(a, "usage");
	printf("usage for %s\n", day);
	printf("%-24s %21s %27s %7s %8s %s\n", "USER", "REQUESTS/LIMIT",
	       "TOKENS/LIMIT", "ERRORS", "PRIORITY", "ENABLED");
	for (unsigned i = 0; i < res.nrows; i++) {
		char rq[64], tk[64];
		snprintf(rq, sizeof(rq), "%s/%s", db_res_str(&res, i, 1),
			 db_res_int(&res, i, 2, 0) ? db_res_str(&res, i, 2) : "unlimited");
		snprintf(tk, sizeof(tk), "%s/%s", db_res_str(&res, i, 3),
			 db_res_int(&res, i, 4, 0) ? db_res_str(&res, i, 4) : "unlimited");
		printf("%-24s %21s %27s %7s %8s %s\n", db_res_str(&res, i, 0), rq, tk,
		       db_res_str(&res, i, 5), db_res_str(&res, i, 6),
		       db_res_int(&res, i, 7, 0) ? "yes" : "no");
		treq += db_res_int(&res, i, 1, 0);
		ttok += db_res_int(&res, i, 3, 0);
		terr += db_res_int(&res, i, 5, 0);
	}
	printf("%-24s %21lld %27lld %7lld\n", "TOTAL", treq, ttok, terr);
	db_res_free(&res);
	return ctl_usage_estimated(a, day);
}

/* ---- queue ---- */

static int ctl_queue(struct app *a, int argc, char **argv)
{
	long long id;

	if (argc < 1)
		return ctl_usage("queue needs a subcommand");
	if (strcmp(argv[0], "list") == 0) {
		struct db_res res;
		int all = argc == 2 && strcmp(argv[1], "--all") == 0;
		if (argc > 2 || (argc == 2 && !all))
			return ctl_usage("queue list takes only --all");
		if (DBX(a->db, "SELECT q.id, u.name, q.priority, q.status, q.format, q.model,"
			" q.stream, q.attempts, DATE_FORMAT(q.added_at, '%Y-%m-%d %H:%i:%s'),"
			" COALESCE(q.error_message, IF(q.status = 'waiting' AND q.not_before > NOW(),"
			"   CONCAT('upstream busy: retry ', q.retries, '/', ?, ' due ',"
			"          DATE_FORMAT(q.not_before, '%H:%i:%s')),"
			"   IF(q.inline_wait = 1, CONCAT('client waits inline (', q.route, ')'), '')))"
			" FROM queue q LEFT JOIN users u ON u.id = q.user_id"
			" WHERE ? OR q.status IN ('waiting', 'processing')"
			" ORDER BY q.status = 'processing' DESC, q.priority DESC, q.id LIMIT 1000",
			&res, DBI(QUEUE_BUSY_RETRIES), DBI(all)))
			return ctl_fail_db(a, "queue list");
		printf("%-8s %-16s %8s %-10s %-9s %-20s %6s %8s %-19s %s\n", "ID", "USER",
		       "PRIORITY", "STATUS", "FORMAT", "MODEL", "STREAM", "ATTEMPTS",
		       "ADDED", "ERROR / NOTE");
		for (unsigned i = 0; i < res.nrows; i++)
			printf("%-8s %-16s %8s %-10s %-9s %-20.20s %6s %8s %-19s %s\n",
			       db_res_str(&res, i, 0),
			       db_res_str(&res, i, 1) ? db_res_str(&res, i, 1) : "(deleted)",
			       db_res_str(&res, i, 2), db_res_str(&res, i, 3),
			       db_res_str(&res, i, 4), db_res_str(&res, i, 5),
			       db_res_int(&res, i, 6, 0) ? "yes" : "no",
			       db_res_str(&res, i, 7), db_res_str(&res, i, 8),
			       db_res_str(&res, i, 9));
		db_res_free(&res);
		return 0;
	}
	if (argc != 2 || ctl_num(argv[1], 1, 9000000000000000000LL, &id))
		return ctl_usage("queue cancel/retry take one numeric ID");
	if (strcmp(argv[0], "cancel") == 0) {
		/* Only waiting items: a processing one is already upstream. The
		 * cancelled request stays counted (it was reserved) as an error. */
		int done;
		if (qadmin_cancel(a->db, id, &done))
			return ctl_fail_db(a, "queue cancel");
		if (!done) {
			fprintf(stderr, "relayctl: no waiting queue item %lld\n", id);
			return EX_FAIL;
		}
		ctl_audit_queue(a, "queue.cancel", id);
		printf("queue item %lld cancelled\n", id);
		return 0;
	}
	if (strcmp(argv[0], "retry") == 0) {
		/* A failed item that was never metered goes back to waiting;
		 * one that reached the upstream keeps its metering row, so a
		 * retry is a new attempt without a new request_log row. */
		int done;
		if (qadmin_retry(a->db, id, &done))
			return ctl_fail_db(a, "queue retry");
		if (!done) {
			fprintf(stderr, "relayctl: no failed queue item %lld\n", id);
			return EX_FAIL;
		}
		ctl_audit_queue(a, "queue.retry", id);
		printf("queue item %lld will be retried\n", id);
		return 0;
	}
	return ctl_usage("unknown queue subcommand");
}

int ctl_main(int argc, char **argv)
{
	static struct app a;
	const char *cmd;
	int rc;

	if (argc < 2)
		return ctl_usage("missing command");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(ctl_usage_text, stdout);
		return 0;
	}
	cmd = argv[1];
	if (strcmp(cmd, "doctor") == 0)         /* reports a bad config itself */
		return ctl_doctor(argc - 2, argv + 2);
	if (strcmp(cmd, "migrate") && strcmp(cmd, "user") && strcmp(cmd, "key") &&
	    strcmp(cmd, "usage") && strcmp(cmd, "queue") && strcmp(cmd, "backend") &&
	    strcmp(cmd, "model") && strcmp(cmd, "log") && strcmp(cmd, "import") &&
	    strcmp(cmd, "proxy"))
		return ctl_usage("unknown command");
	app_init(&a, "relayctl");
	if (!a.cfg_ok) {
		fprintf(stderr, "relayctl: %s\n", a.cfg_err);
		return EX_USAGE;
	}
	if (db_connect(a.db)) {
		fprintf(stderr, "relayctl: cannot connect to the database: %s\n",
			db_error(a.db));
		app_free(&a);
		return EX_FAIL;
	}
	if (strcmp(cmd, "migrate") == 0)
		rc = argc == 2 ? ctl_migrate(&a) : ctl_usage("migrate takes no arguments");
	else if (strcmp(cmd, "user") == 0)
		rc = ctl_user(&a, argc - 2, argv + 2);
	else if (strcmp(cmd, "key") == 0)
		rc = ctl_key(&a, argc - 2, argv + 2);
	else if (strcmp(cmd, "usage") == 0)
		rc = ctl_usage_report(&a, argc - 2, argv + 2);
	else if (strcmp(cmd, "backend") == 0)
		rc = ctl_backend(&a, argc - 2, argv + 2);
	else if (strcmp(cmd, "model") == 0)
		rc = ctl_model(&a, argc - 2, argv + 2);
	else if (strcmp(cmd, "log") == 0)
		rc = ctl_log(&a, argc - 2, argv + 2);
	else if (strcmp(cmd, "import") == 0)
		rc = ctl_import(&a, argc - 2, argv + 2);
	else if (strcmp(cmd, "proxy") == 0)
		rc = ctl_proxy(&a, argc - 2, argv + 2);
	else
		rc = ctl_queue(&a, argc - 2, argv + 2);
	app_free(&a);
	return rc;
}
