/* ctl_doctor.c - relayctl doctor: checks an installation and explains,
 * one line per check: "✓ what: detail" or "✗ what: problem - fix: how";
 * "- what: skipped (why)" for a check that does not apply here (passes).
 * Exit 0 only when nothing failed. Reads only: nothing is changed, except
 * that probing a backend records its health as `backend test` does. */
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "app.h"
#include "bkadmin.h"
#include "ctl_doctor.h"
#include "db.h"
#include "migrations.h"
#include "seal.h"
#include "up.h"

struct doc {
	struct app *a;
	int failed;
};

static void doc_ok(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void doc_ok(const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("\u2713 %s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void doc_skip(const char *what, const char *why)
{
	printf("- %s: skipped (%s)\n", what, why);
}

/* A failed check: the problem, then " - fix: " and the remedy. */
static void doc_bad(struct doc *d, const char *what, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void doc_bad(struct doc *d, const char *what, const char *fix, const char *fmt, ...)
{
	va_list ap;

	printf("\u2717 %s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" - fix: %s\n", fix);
	d->failed++;
}

/* The config file and the master key: secrets, so no one but their owner
 * and group may read them (the key: the owner only). */
static void doc_modes(struct doc *d)
{
	const struct cfg *c = &d->a->cfg;
	unsigned char key[SEAL_KEY_LEN];
	char err[256];
	struct stat st;

	if (!c->path[0])
		doc_skip("config file mode", "no file: configuration from the environment");
	else if (stat(c->path, &st) != 0)
		doc_bad(d, "config file mode", "check the path in RELAY_CONFIG", "%s: %s",
			c->path, strerror(errno));
	else if (st.st_mode & 0007)
		doc_bad(d, "config file mode", "chmod 0640 the file (owner root, group www-data)",
			"%s is mode %04o: every local user can read db_password",
			c->path, (unsigned)(st.st_mode & 07777));
	else
		doc_ok("config file mode", "%s is %04o", c->path, (unsigned)(st.st_mode & 07777));
	if (!c->master_key_file[0]) {
		doc_bad(d, "master key", "set master_key_file (a 0600 file of 64 hex"
			" characters: head -c32 /dev/urandom | xxd -p -c64)",
			"master_key_file is not set: backend keys cannot be sealed");
	} else if (seal_load_key(c->master_key_file, key, err, sizeof(err)) != 0) {
		doc_bad(d, "master key", "chmod 0600 it, owned by the web server's user, 64 hex"
			" characters", "%s", err);
	} else {
		doc_ok("master key", "%s present, mode 0600", c->master_key_file);
	}
	explicit_bzero(key, sizeof(key));
}

/* Every routine this build carries recorded with its file's SHA-256: an
 * older or changed one means migrate has not run since the upgrade. */
static void doc_routines_current(struct doc *d, long long total)
{
	struct db_res res;
	int stale = 0, first = -1;

	for (int i = 0; i < routine_count; i++) {
		if (DBX(d->a->db, "SELECT COUNT(*) FROM schema_routines WHERE name = ?"
			" AND sha256 = ?", &res, DBS(routines[i].name), DBS(routines[i].sha256)))
			return;
		if (db_res_int(&res, 0, 0, 0) != 1 && !stale++)
			first = i;
		db_res_free(&res);
	}
	if (stale)
		doc_bad(d, "routines", "relayctl migrate (re-applies them; safe while serving)",
			"%d of this build's %d routines not current, e.g. %s", stale,
			routine_count, routines[first].name);
	else
		doc_ok("routines", "%lld recorded, all installed and current", total);
}

/* The stored routines: when the schema records them (schema_routines,
 * one row per routine file with its name), every recorded one must be
 * installed as a procedure, function, trigger or view. Older schemas
 * have no such table: the line is skipped. */
static void doc_routines(struct doc *d)
{
	static const char q[] =
		"SELECT r.name, (SELECT COUNT(*) FROM schema_routines) FROM schema_routines r"
		" WHERE NOT EXISTS (SELECT 1 FROM information_schema.routines x"
		"   WHERE x.routine_schema = DATABASE() AND x.routine_name = r.name)"
		" AND NOT EXISTS (SELECT 1 FROM information_schema.triggers x"
		"   WHERE x.trigger_schema = DATABASE() AND x.trigger_name = r.name)"
		" AND NOT EXISTS (SELECT 1 FROM information_schema.views x"
		"   WHERE x.table_schema = DATABASE() AND x.table_name = r.name)"
		" UNION ALL SELECT NULL, COUNT(*) FROM schema_routines";
	struct db *db = d->a->db;
	struct db_res res;
	long long has, total = 0;
	unsigned missing = 0, first = 0;

	if (db_exec(db, "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema ="
		    " DATABASE() AND table_name = 'schema_routines' AND column_name = 'name'",
		    NULL, 0, &res))
		return;
	has = db_res_int(&res, 0, 0, 0);
	db_res_free(&res);
	if (!has) {
		doc_skip("routines", "no schema_routines table in this schema version");
		return;
	}
	if (db_exec(db, q, NULL, 0, &res)) {
		doc_bad(d, "routines", "relayctl migrate", "schema_routines unreadable: %s",
			db_error(db));
		return;
	}
	/* the row without a name is the total, the others the missing */
	for (unsigned i = 0; i < res.nrows; i++)
		if (!db_res_str(&res, i, 0))
			total = db_res_int(&res, i, 1, 0);
		else if (!missing++)
			first = i;
	if (missing)
		doc_bad(d, "routines", "relayctl migrate (re-installs them; safe while serving)",
			"%u of %lld recorded routines not installed, e.g. %s", missing, total,
			db_res_str(&res, first, 0));
	else
		doc_routines_current(d, total);
	db_res_free(&res);
}

/* Every compiled-in migration recorded; schema_routines compared when the
 * database has one. */
static void doc_schema(struct doc *d)
{
	struct db *db = d->a->db;
	struct db_res res;
	int missing = 0, first = 0, newer;

	for (int i = 0; i < migration_count; i++) {
		if (DBX(db, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", &res,
			DBI(migrations[i].version))) {
			doc_bad(d, "schema", "relayctl migrate", "schema_migrations unreadable: %s",
				db_error(db));
			return;
		}
		if (!db_res_int(&res, 0, 0, 0) && !missing++)
			first = i;
		db_res_free(&res);
	}
	if (DBX(db, "SELECT COUNT(*) FROM schema_migrations WHERE version > ?", &res,
		DBI(migration_count ? migrations[migration_count - 1].version : 0)))
		return;
	newer = (int)db_res_int(&res, 0, 0, 0);
	db_res_free(&res);
	if (missing)
		doc_bad(d, "schema", "relayctl migrate (safe while serving)",
			"%d of %d migrations not applied, from %s", missing, migration_count,
			migrations[first].name);
	else if (newer)
		doc_bad(d, "schema", "install the relay version that migrated it (or newer)",
			"the database has %d migration(s) newer than this build knows", newer);
	else
		doc_ok("schema", "all %d migrations applied", migration_count);
	doc_routines(d);
}

/* Durability, the thread pool and max_connections against the pool. */
static void doc_mariadb(struct doc *d)
{
	const struct cfg *c = &d->a->cfg;
	struct db_res res;
	long long pool = (long long)c->upstream_slots + c->queue_max, flush, sync, maxc;
	int binlog;
	const char *th;

	if (db_exec(d->a->db, "SELECT @@innodb_flush_log_at_trx_commit, @@sync_binlog, @@log_bin,"
		    " @@thread_handling, @@max_connections", NULL, 0, &res)) {
		doc_bad(d, "MariaDB settings", "check the database user's rights", "%s",
			db_error(d->a->db));
		return;
	}
	flush = db_res_int(&res, 0, 0, -1);
	sync = db_res_int(&res, 0, 1, -1);
	binlog = (int)db_res_int(&res, 0, 2, 0);
	th = db_res_str(&res, 0, 3) ? db_res_str(&res, 0, 3) : "?";
	maxc = db_res_int(&res, 0, 4, 0);
	if (flush != 1 || (binlog && sync != 1))
		doc_bad(d, "MariaDB durability", "innodb_flush_log_at_trx_commit = 1 and"
			" sync_binlog = 1 (tools/mariadb-relay.cnf), restart MariaDB",
			"innodb_flush_log_at_trx_commit = %lld, sync_binlog = %lld%s: a crash"
			" can lose committed requests", flush, sync, binlog ? "" : " (no binlog)");
	else
		doc_ok("MariaDB durability", "innodb_flush_log_at_trx_commit = 1%s",
		       binlog ? ", sync_binlog = 1" : ", no binlog");
	if (strcmp(th, "pool-of-threads") != 0)
		doc_bad(d, "MariaDB thread pool", "thread_handling = pool-of-threads"
			" (tools/mariadb-relay.cnf), restart MariaDB",
			"thread_handling = %s", th);
	else
		doc_ok("MariaDB thread pool", "thread_handling = pool-of-threads");
	if (maxc < pool + 10)
		doc_bad(d, "MariaDB max_connections", "max_connections = 2 x (upstream_slots +"
			" queue_max) + 50 per web node", "%lld, below the pool of %lld processes"
			" plus workers: requests past it fail with 'Too many connections'",
			maxc, pool);
	else
		doc_ok("MariaDB max_connections", "%lld for a pool of %lld", maxc, pool);
	db_res_free(&res);
}

/* meterd: its socket accepts a connection. */
static void doc_meterd(struct doc *d)
{
	const char *path = d->a->cfg.meter_socket;
	struct sockaddr_un sa;
	int fd;

	if (!path[0]) {
		doc_bad(d, "meterd", "set meter_socket (e.g. /run/llm-relay/meterd.sock) and run"
			" bin/meterd from cron or systemd", "meter_socket is not set: every"
			" request is metered by its own process");
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		doc_bad(d, "meterd", "a shorter meter_socket path", "meter_socket is longer"
			" than a socket path may be");
		return;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		doc_ok("meterd", "running, %s answers", path);
	else
		doc_bad(d, "meterd", "start bin/meterd (the cron entry or llm-relay-meterd.service"
			" restarts it)", "not reachable at %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* The pool the web server gives call.php, from its llm-relay snippet:
 * Apache's FcgidMaxProcessesPerClass or lighttpd's max-procs of the
 * /api/call.php block. -1 if not found. */
static long doc_pool_of(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	long n = -1;
	int in_call = 0;

	if (!f)
		return -1;
	while (n < 0 && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");

		if (*p == '#')
			continue;
		if (strstr(p, "\"/api/call.php\""))
			in_call = 1;
		if (strncmp(p, "FcgidMaxProcessesPerClass", 25) == 0)
			n = strtol(p + 25, NULL, 10);
		else if (in_call && (p = strstr(p, "\"max-procs\"")) && (p = strstr(p, "=>")))
			n = strtol(p + 2, NULL, 10);
	}
	fclose(f);
	return n;
}

static void doc_webpool(struct doc *d)
{
	const struct cfg *c = &d->a->cfg;
	static const char *const guess[] = { "/etc/apache2/conf-enabled/llm-relay.conf",
		"/etc/lighttpd/conf-enabled/*llm-relay*.conf" };
	long want = (long)c->upstream_slots + c->queue_max, n = -1;
	char found[512] = "";
	glob_t g;

	if (c->web_conf[0]) {
		snprintf(found, sizeof(found), "%s", c->web_conf);
		n = doc_pool_of(found);
	}
	for (size_t i = 0; !c->web_conf[0] && n < 0 && i < 2; i++)
		if (glob(guess[i], 0, NULL, &g) == 0) {
			snprintf(found, sizeof(found), "%s", g.gl_pathv[0]);
			n = doc_pool_of(found);
			globfree(&g);
		}
	if (n < 0)
		printf("- web server pool: not detectable%s%s (set web_conf); it must be"
		       " upstream_slots + queue_max = %ld\n", found[0] ? " in " : "", found, want);
	else if (n < want)
		doc_bad(d, "web server pool", "raise it to upstream_slots + queue_max (apache.conf"
			" FcgidMaxProcessesPerClass, lighttpd.conf max-procs)", "%s gives call.php"
			" %ld processes, fewer than upstream_slots + queue_max = %ld: requests"
			" wait in the web server, outside the relay's order", found, n, want);
	else
		doc_ok("web server pool", "%ld processes in %s (upstream_slots + queue_max = %ld)",
		       n, found, want);
}

/* status.php answered through the web server at public_url. */
static void doc_status(struct doc *d)
{
	char url[600];
	const char *why;
	long code;

	if (!d->a->cfg.public_url[0]) {
		doc_skip("status.php via the web server", "public_url not set");
		return;
	}
	snprintf(url, sizeof(url), "%s/api/status.php", d->a->cfg.public_url);
	code = up_probe(url, 20, &why);
	if (code == 200)
		doc_ok("status.php via the web server", "%s answers 200", url);
	else
		doc_bad(d, "status.php via the web server", "enable the web server's llm-relay"
			" config (a2enconf llm-relay, or the lighttpd include) and reload it",
			"%s: %s", url, !code ? why :
			code == 503 ? "503 unhealthy (see the checks above)" : "not 200");
}

/* The queue worker's and meterd's schedule: the cron file, or systemd. */
static void doc_cron(struct doc *d)
{
	static const char *const units[] = { "/etc/systemd/system/llm-relay-meterd.service",
		"/lib/systemd/system/llm-relay-meterd.service",
		"/usr/lib/systemd/system/llm-relay-meterd.service" };
	const char *cf = d->a->cfg.cron_file;
	char line[1024];
	int worker = 0;
	FILE *f = cf[0] ? fopen(cf, "r") : NULL;

	while (f && fgets(line, sizeof(line), f))
		if (line[strspn(line, " \t")] != '#' && strstr(line, "queue_worker"))
			worker = 1;
	if (f)
		fclose(f);
	if (worker) {
		doc_ok("cron", "%s runs the queue worker", cf);
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (access(units[i], F_OK) == 0) {
			doc_ok("systemd", "%s installed", units[i]);
			return;
		}
	doc_bad(d, "cron or systemd", "install cron/llm-relay as /etc/cron.d/llm-relay, or"
		" enable the llm-relay-meterd and worker units", "no queue worker entry in %s"
		" and no llm-relay systemd unit", cf[0] ? cf : "(cron_file unset)");
}

/* Each enabled backend (the default one when configured) answers. */
static void doc_backends(struct doc *d)
{
	struct db_res res;
	char why[256], what[96];
	int status;
	long ms;

	if (DBX(d->a->db, "SELECT 'default' FROM DUAL WHERE ? <> '' OR ? <> ''"
		" UNION ALL SELECT name FROM backends WHERE enabled = 1", &res,
		DBS(d->a->cfg.openai_url), DBS(d->a->cfg.anthropic_url))) {
		doc_bad(d, "backends", "relayctl migrate", "%s", db_error(d->a->db));
		return;
	}
	if (!res.nrows)
		doc_bad(d, "backends", "set openai_url / anthropic_url, or relayctl backend add",
			"no upstream configured");
	for (unsigned i = 0; i < res.nrows; i++) {
		const char *name = db_res_str(&res, i, 0);

		snprintf(what, sizeof(what), "backend %.64s", name);
		if (bk_test(d->a, name, &status, &ms, why, sizeof(why)))
			doc_bad(d, what, "relayctl backend test NAME", "%s", db_error(d->a->db));
		else if (why[0] || status < 200 || status >= 500)
			doc_bad(d, what, "check its URL and key (relayctl backend list / set)",
				"%s", why[0] ? why : "no answer");
		else
			doc_ok(what, "answers %d in %ld ms", status, ms);
	}
	db_res_free(&res);
}

int ctl_doctor(int argc, char **argv)
{
	static struct app a;
	struct doc d = { &a, 0 };

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "relayctl: doctor takes no arguments\n");
		return 2;
	}
	app_init(&a, "relayctl");
	if (!a.cfg_ok) {
		doc_bad(&d, "config", "correct the setting named (in the file, or the RELAY_*"
			" variable that overrides it), then relayctl doctor again", "%s", a.cfg_err);
		return 1;
	}
	doc_ok("config", "%s readable and valid", a.cfg.path[0] ? a.cfg.path : "(environment)");
	doc_modes(&d);
	if (db_connect(a.db)) {
		doc_bad(&d, "database", "check db_host/db_port/db_socket, db_user and db_password",
			"cannot connect: %s", db_error(a.db));
		doc_skip("schema, routines, MariaDB settings, backends", "no database");
	} else {
		doc_ok("database", "connected to %s", a.cfg.db_name);
		doc_schema(&d);
		doc_mariadb(&d);
	}
	doc_meterd(&d);
	doc_webpool(&d);
	doc_status(&d);
	doc_cron(&d);
	if (db_alive(a.db))
		doc_backends(&d);
	printf("%s\n", d.failed ? "some checks failed" : "all checks passed");
	app_free(&a);
	return d.failed ? 1 : 0;
}
