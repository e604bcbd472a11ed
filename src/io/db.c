/* db.c - MariaDB connection, statement cache and result fetching. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <mysql.h>
#include <errmsg.h>
#include "cfg.h"
#include "db.h"
#include "log.h"

#define DB_CACHE 64
#define DB_FETCH_INLINE 256       /* bytes fetched per cell before a second read */

struct db_stmt {
	const char *sql;          /* the caller's string literal (not owned) */
	MYSQL_STMT *st;
};

struct db {
	const struct cfg *cfg;
	MYSQL *my;                /* NULL when not connected */
	struct db_stmt cache[DB_CACHE];
	unsigned cache_next;      /* round-robin victim when full */
	int in_txn;
	unsigned long long gen;   /* +1 on every successful connect */
	unsigned pins;            /* db_pin() depth: no reconnect while > 0 */
	int unknown;              /* the last failure may have run on the server */
	long tz_applied;          /* UTC offset (s) set as the session zone */
	time_t tz_checked;
	unsigned long long affected, insert_id;
	unsigned errnum;
	char err[512];
	/* Failed statements not yet added to metrics_db_errors (GET
	 * /metrics): added by the first statement that succeeds afterwards,
	 * so nothing is written while all is well. */
	unsigned long long fails_pending;
};

struct db *db_new(const struct cfg *c)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db)
		db->cfg = c;
	return db;
}

/* Records an error from the connection or a statement. */
static void db_set_err(struct db *db, unsigned num, const char *msg)
{
	db->errnum = num;
	snprintf(db->err, sizeof(db->err), "%s", msg ? msg : "unknown error");
}

static void db_cache_clear(struct db *db)
{
	for (unsigned i = 0; i < DB_CACHE; i++) {
		if (db->cache[i].st)
			mysql_stmt_close(db->cache[i].st);
		db->cache[i].st = NULL;
		db->cache[i].sql = NULL;
	}
	db->cache_next = 0;
}

void db_disconnect(struct db *db)
{
	if (!db || !db->my)
		return;
	db_cache_clear(db);
	mysql_close(db->my);
	db->my = NULL;
	db->in_txn = 0;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	db_disconnect(db);
	free(db);
}

/* The current UTC offset of the local zone (RELAY_TIMEZONE), in seconds. */
static long db_local_offset(time_t now)
{
	struct tm tm;

	localtime_r(&now, &tm);
	return tm.tm_gmtoff;
}

/* Makes the session zone follow the local zone, so NOW() and TIMESTAMP
 * columns read as local time. Checked at most once a second so a DST change
 * is picked up by long-lived processes. */
static enum relay_err db_sync_tz(struct db *db, int force)
{
	time_t now = time(NULL);
	long off;
	char q[64];
	int n;

	if (!force && now == db->tz_checked)
		return RE_OK;
	db->tz_checked = now;
	off = db_local_offset(now);
	if (!force && off == db->tz_applied)
		return RE_OK;
	n = snprintf(q, sizeof(q), "SET time_zone = '%c%02ld:%02ld'",
		     off < 0 ? '-' : '+', labs(off) / 3600, (labs(off) % 3600) / 60);
	if (mysql_real_query(db->my, q, (unsigned long)n)) {
		db_set_err(db, mysql_errno(db->my), mysql_error(db->my));
		return RE_EDB;
	}
	db->tz_applied = off;
	return RE_OK;
}

enum relay_err db_connect(struct db *db)
{
	const struct cfg *c = db->cfg;
	unsigned timeout = 5, rto = (unsigned)c->db_read_timeout,
		 wto = (unsigned)c->db_write_timeout;
	my_bool off = 0;
	const char *host = c->db_host[0] ? c->db_host : "localhost";
	const char *sock = c->db_socket[0] ? c->db_socket : NULL;

	if (db->my)
		return RE_OK;
	if (db->pins) {
		/* A new connection would hold none of the named locks the
		 * caller relies on: refuse rather than carry on without them. */
		db_set_err(db, CR_SERVER_LOST,
			   "connection lost while holding a named lock");
		return RE_EDB;
	}
	db->my = mysql_init(NULL);
	if (!db->my) {
		db_set_err(db, 0, "out of memory");
		return RE_ENOMEM;
	}
	mysql_options(db->my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	/* A partitioned server must not hang a process that holds a slot.
	 * Statements that block on purpose (GET_LOCK with a timeout, the
	 * dispatcher's waits of up to ~15 s) must stay below the read
	 * timeout (default 60 s). */
	mysql_options(db->my, MYSQL_OPT_READ_TIMEOUT, &rto);
	mysql_options(db->my, MYSQL_OPT_WRITE_TIMEOUT, &wto);	mysql_options(db->my, MYSQL_OPT_RECONNECT, &off);
	mysql_options(db->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* Lets db_exec_watch() wait on the server and a client socket at
	 * once; the blocking calls work as before. */
	mysql_options(db->my, MYSQL_OPT_NONBLOCK, 0);
	if (!mysql_real_connect(db->my, host, c->db_user, c->db_password,
				c->db_name, (unsigned)c->db_port, sock, 0)) {
		db_set_err(db, mysql_errno(db->my), mysql_error(db->my));
		mysql_close(db->my);
		db->my = NULL;
		return RE_EDB;
	}
	db->in_txn = 0;
	db->gen++;
	if (db_sync_tz(db, 1)) {
		db_disconnect(db);
		return RE_EDB;
	}
	return RE_OK;
}

unsigned long long db_generation(const struct db *db)
{
	return db->my ? db->gen : 0;
}

void db_pin(struct db *db)
{
	db->pins++;
}

void db_unpin(struct db *db)
{
	if (db->pins)
		db->pins--;
}

int db_in_txn(const struct db *db)
{
	return db->in_txn;
}

int db_unknown(const struct db *db)
{
	return db->unknown;
}

int db_alive(struct db *db)
{
	struct pollfd p;
	int fd;

	if (!db->my)
		return 0;
	fd = (int)mysql_get_socket(db->my);
	if (fd < 0)
		return 1;
	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	/* Between statements the server never speaks first: a readable
	 * socket means it closed the connection (KILL, wait_timeout,
	 * shutdown) or sent the error packet that precedes the close. */
	if (poll(&p, 1, 0) == 0)
		return 1;
	log_warn("database connection was closed by the server while idle");
	db_disconnect(db);
	return 0;
}

/* 1 if the error means the connection is gone and a reconnect may help. */
static int db_conn_lost(unsigned e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST ||
	       e == CR_CONNECTION_ERROR || e == 1927 /* ER_CONNECTION_KILLED */ ||
	       e == 4031 /* ER_CLIENT_INTERACTION_TIMEOUT */ ||
	       e == 1053 /* ER_SERVER_SHUTDOWN */ || e == CR_COMMANDS_OUT_OF_SYNC;
}

/* 1 if the statement cannot have run: the request never left (2006 is
 * what Connector/C reports when writing the command fails). */
static int db_not_sent(unsigned e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_CONNECTION_ERROR ||
	       e == CR_CONN_HOST_ERROR;
}

/* 1 for statements that change nothing when run twice: plain reads, and
 * the named-lock functions (a lock taken by a lost connection died with
 * it). */
static int db_idempotent(const char *sql)
{
	return strncasecmp(sql, "SELECT", 6) == 0;
}

/* Finds or prepares the cached statement for sql. */
static MYSQL_STMT *db_prepare(struct db *db, const char *sql)
{
	struct db_stmt *slot = NULL;
	MYSQL_STMT *st;

	for (unsigned i = 0; i < DB_CACHE; i++) {
		if (db->cache[i].sql == sql ||
		    (db->cache[i].sql && strcmp(db->cache[i].sql, sql) == 0))
			return db->cache[i].st;
		if (!slot && !db->cache[i].sql)
			slot = &db->cache[i];
	}
	if (!slot) {
		slot = &db->cache[db->cache_next];
		db->cache_next = (db->cache_next + 1) % DB_CACHE;
		mysql_stmt_close(slot->st);
		slot->st = NULL;
		slot->sql = NULL;
	}
	st = mysql_stmt_init(db->my);
	if (!st) {
		db_set_err(db, mysql_errno(db->my), mysql_error(db->my));
		return NULL;
	}
	if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql))) {
		db_set_err(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		mysql_stmt_close(st);
		return NULL;
	}
	slot->sql = sql;
	slot->st = st;
	return st;
}

void db_res_free(struct db_res *r)
{
	if (!r)
		return;
	if (r->cell)
		for (size_t i = 0; i < (size_t)r->nrows * r->ncols; i++)
			free(r->cell[i]);
	free(r->cell);
	free(r->len);
	memset(r, 0, sizeof(*r));
}

/* Reads every row of an executed statement into res (all cells as strings). */
static enum relay_err db_fetch(struct db *db, MYSQL_STMT *st, struct db_res *res)
{
	MYSQL_RES *meta = mysql_stmt_result_metadata(st);
	MYSQL_BIND *b = NULL;
	char (*inl)[DB_FETCH_INLINE] = NULL;
	unsigned long *lens = NULL;
	my_bool *nulls = NULL, *errs = NULL;
	enum relay_err rc = RE_OK;
	unsigned nc, cap = 0;
	int f;

	if (!meta)
		return RE_OK;
	nc = mysql_num_fields(meta);
	mysql_free_result(meta);
	res->ncols = nc;
	b = calloc(nc, sizeof(*b));
	inl = calloc(nc, sizeof(*inl));
	lens = calloc(nc, sizeof(*lens));
	nulls = calloc(nc, sizeof(*nulls));
	errs = calloc(nc, sizeof(*errs));
	if (!b || !inl || !lens || !nulls || !errs) {
		rc = RE_ENOMEM;
		goto out;
	}
	for (unsigned c = 0; c < nc; c++) {
		b[c].buffer_type = MYSQL_TYPE_STRING;
		b[c].buffer = inl[c];
		b[c].buffer_length = DB_FETCH_INLINE;
		b[c].length = &lens[c];
		b[c].is_null = &nulls[c];
		b[c].error = &errs[c];
	}
	if (mysql_stmt_bind_result(st, b) || mysql_stmt_store_result(st)) {
		db_set_err(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		rc = RE_EDB;
		goto out;
	}
	while ((f = mysql_stmt_fetch(st)) == 0 || f == MYSQL_DATA_TRUNCATED) {
		size_t base;
		if (res->nrows == cap) {
			unsigned ncap = cap ? cap * 2 : 8;
			char **ncell = realloc(res->cell, (size_t)ncap * nc * sizeof(char *));
			unsigned long *nlen;
			if (!ncell) { rc = RE_ENOMEM; goto out; }
			res->cell = ncell;
			nlen = realloc(res->len, (size_t)ncap * nc * sizeof(unsigned long));
			if (!nlen) { rc = RE_ENOMEM; goto out; }
			res->len = nlen;
			cap = ncap;
		}
		base = (size_t)res->nrows * nc;
		for (unsigned c = 0; c < nc; c++) {
			res->cell[base + c] = NULL;
			res->len[base + c] = 0;
		}
		res->nrows++;
		for (unsigned c = 0; c < nc; c++) {
			char *v;
			if (nulls[c])
				continue;
			v = malloc(lens[c] + 1);
			if (!v) { rc = RE_ENOMEM; goto out; }
			if (lens[c] <= DB_FETCH_INLINE) {
				memcpy(v, inl[c], lens[c]);
			} else {
				MYSQL_BIND big;
				memset(&big, 0, sizeof(big));
				big.buffer_type = MYSQL_TYPE_STRING;
				big.buffer = v;
				big.buffer_length = lens[c];
				if (mysql_stmt_fetch_column(st, &big, c, 0)) {
					free(v);
					db_set_err(db, mysql_stmt_errno(st), mysql_stmt_error(st));
					rc = RE_EDB;
					goto out;
				}
			}
			v[lens[c]] = '\0';
			res->cell[base + c] = v;
			res->len[base + c] = lens[c];
		}
	}
	if (f == 1) {
		db_set_err(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		rc = RE_EDB;
	}
out:
	mysql_stmt_free_result(st);
	free(b);
	free(inl);
	free(lens);
	free(nulls);
	free(errs);
	return rc;
}

/* A CALL answers with its result set(s) and a final status: drains them
 * all, or the next statement fails with "out of sync". */
static enum relay_err db_drain(struct db *db, MYSQL_STMT *st)
{
	while (mysql_more_results(db->my)) {
		int nr = mysql_stmt_next_result(st);
		if (nr < 0)
			break;
		if (nr > 0) {
			db_set_err(db, mysql_stmt_errno(st), mysql_stmt_error(st));
			return RE_EDB;
		}
		mysql_stmt_free_result(st);
	}
	return RE_OK;
}

/* Fills the bind array for args (pb has room for nargs, at least 1). */
static void db_bind(MYSQL_BIND *pb, const struct db_val *args, unsigned nargs)
{
	memset(pb, 0, sizeof(pb[0]) * (nargs ? nargs : 1));
	for (unsigned i = 0; i < nargs; i++) {
		switch (args[i].type) {
		case DB_V_INT:
			pb[i].buffer_type = MYSQL_TYPE_LONGLONG;
			pb[i].buffer = (void *)&args[i].i;
			break;
		case DB_V_STR:
			pb[i].buffer_type = MYSQL_TYPE_STRING;
			pb[i].buffer = (void *)(args[i].s ? args[i].s : "");
			pb[i].buffer_length = (unsigned long)args[i].len;
			break;
		default:
			pb[i].buffer_type = MYSQL_TYPE_NULL;
			break;
		}
	}
}

/* After a failure before the statement was executed: drops the connection
 * if that failure lost it, so the retry starts on a fresh one. */
static void db_pre_fail(struct db *db, int *lost)
{
	unsigned e = db->errnum ? db->errnum : (db->my ? mysql_errno(db->my) : 0);

	if (!db->my || db_conn_lost(e)) {
		*lost = 1;
		db_disconnect(db);
	}
}

/* One attempt at running a statement. *lost = 1 if the connection died
 * before the statement was sent (safe to run it again); after it was sent
 * a lost connection sets db->unknown instead: the server may have run it. */
static enum relay_err db_try(struct db *db, const char *sql,
			     const struct db_val *args, unsigned nargs,
			     struct db_res *res, int *lost)
{
	MYSQL_BIND pb[32];
	MYSQL_STMT *st;
	enum relay_err rc;

	*lost = 0;
	if (db->my && !db->in_txn)
		db_alive(db);          /* closed while idle: reconnect first */
	rc = db_connect(db);
	if (rc) {
		*lost = !db->pins;
		return rc;
	}
	if (!db->in_txn && db_sync_tz(db, 0)) {
		db_pre_fail(db, lost);
		return RE_EDB;
	}
	st = db_prepare(db, sql);
	if (!st) {
		/* A statement that fails to prepare (bad SQL, out of
		 * memory) leaves the connection fine; only a lost one is
		 * dropped, and nothing ran yet either way. */
		db_pre_fail(db, lost);
		return RE_EDB;
	}
	if (nargs > sizeof(pb) / sizeof(pb[0]) ||
	    nargs != mysql_stmt_param_count(st)) {
		db_set_err(db, 0, "parameter count mismatch");
		return RE_EDB;
	}
	db_bind(pb, args, nargs);
	if (nargs && mysql_stmt_bind_param(st, pb)) {
		db_set_err(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		return RE_EDB;
	}
	if (mysql_stmt_execute(st)) {
		db_set_err(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		if (db_not_sent(db->errnum)) {
			db_disconnect(db);
			*lost = 1;
			return RE_EDB;
		}
		if (db_conn_lost(db->errnum))
			goto fail_conn;
		return RE_EDB;
	}
	db->affected = mysql_stmt_affected_rows(st);
	db->insert_id = mysql_stmt_insert_id(st);
	rc = RE_OK;
	if (res)
		rc = db_fetch(db, st, res);
	else
		mysql_stmt_free_result(st);  /* a result nobody asked for */
	if (!rc)
		rc = db_drain(db, st);
	if (rc && db_conn_lost(db->errnum))
		goto fail_conn;
	return rc;
fail_conn:
	/* Sent, then lost (2013, killed, out of sync, read timeout): the
	 * server may have run it. Only a read may be run again. */
	db_disconnect(db);
	db->unknown = 1;
	*lost = db_idempotent(sql);
	return RE_EDB;
}

/* Adds the failures counted since the last flush to metrics_db_errors
 * (sql/schema/015_ops.sql), keeping what the caller's statement left in
 * the handle (affected rows, insert id). A server without the table (before
 * migrating) drops the count. */
static void db_flush_fails(struct db *db)
{
	static const char q[] =
		"INSERT INTO metrics_db_errors (host, errors) VALUES (?, ?)"
		" ON DUPLICATE KEY UPDATE errors = errors + VALUES(errors)";
	unsigned long long affected = db->affected, insert_id = db->insert_id;
	char host[256];
	struct db_val v[2];
	int lost;

	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	v[0] = DBS(host);
	v[1] = DBI(db->fails_pending);
	if (db_try(db, q, v, 2, NULL, &lost) == RE_OK || db->errnum == 1146)
		db->fails_pending = 0;
	db->affected = affected;
	db->insert_id = insert_id;
	db->errnum = 0;
	db->err[0] = '\0';
	db->unknown = 0;
}

enum relay_err db_exec(struct db *db, const char *sql,
		       const struct db_val *args, unsigned nargs,
		       struct db_res *res)
{
	enum relay_err rc;
	int lost, was_txn = db->in_txn;

	if (res)
		memset(res, 0, sizeof(*res));
	db->errnum = 0;
	db->err[0] = '\0';
	db->unknown = 0;
	rc = db_try(db, sql, args, nargs, res, &lost);
	/* Reconnect once, but never inside a transaction (its earlier
	 * statements died with the connection, so the caller must start
	 * over), never while a named lock is pinned, and never for a write
	 * that may already have run. */
	if (rc && lost && !was_txn && !db->pins) {
		if (res)
			db_res_free(res);
		log_warn("database connection lost (%s), reconnecting", db->err);
		db->unknown = 0;
		rc = db_try(db, sql, args, nargs, res, &lost);
	}
	if (rc && db->unknown)
		log_error("database connection lost during a statement that may "
			  "have run; not repeated");
	if (rc) {
		if (res)
			db_res_free(res);
		if (db->errnum != DB_ER_QUERY_INTERRUPTED) {
			log_error("sql failed: %s", db->err);
			db->fails_pending++;
		}
	} else if (db->fails_pending && !db->in_txn && !db->pins) {
		db_flush_fails(db);
	}
	return rc;
}

enum relay_err db_exec_plain(struct db *db, const char *sql, size_t len)
{
	enum relay_err rc = db_connect(db);

	if (rc)
		return rc;
	if (mysql_real_query(db->my, sql, (unsigned long)len)) {
		db_set_err(db, mysql_errno(db->my), mysql_error(db->my));
		if (db_conn_lost(db->errnum))
			db_disconnect(db);
		return RE_EDB;
	}
	db->affected = mysql_affected_rows(db->my);
	do {
		MYSQL_RES *r = mysql_store_result(db->my);
		if (r)
			mysql_free_result(r);
	} while (mysql_next_result(db->my) == 0);
	return RE_OK;
}

unsigned long long db_affected(const struct db *db) { return db->affected; }
unsigned long long db_insert_id(const struct db *db) { return db->insert_id; }
const char *db_error(const struct db *db) { return db->err; }
int db_cut_short(const struct db *db)
{
	unsigned e = db_errno(db);

	return e == DB_ER_QUERY_INTERRUPTED || e == DB_ER_LOCK_DEADLOCK;
}

unsigned db_errno(const struct db *db) { return db->errnum; }

enum relay_err db_begin(struct db *db)
{
	static const char q[] = "START TRANSACTION";
	enum relay_err rc;

	if (db->in_txn)
		return RE_OK;
	/* Reconnects here if needed: nothing of the transaction exists yet. */
	if (db->my && !db->pins)
		db_alive(db);
	rc = db_connect(db);
	if (!rc && db_sync_tz(db, 0))
		rc = RE_EDB;
	if (rc == RE_EDB && !db->my)
		rc = db_connect(db);
	if (rc)
		return rc;
	rc = db_exec_plain(db, q, sizeof(q) - 1);
	if (rc == RE_EDB && !db->my) {
		log_warn("database connection lost (%s), reconnecting", db->err);
		rc = db_exec_plain(db, q, sizeof(q) - 1);
	}
	if (!rc)
		db->in_txn = 1;
	return rc;
}

enum relay_err db_commit(struct db *db)
{
	if (!db->my)
		return RE_EDB;
	db->in_txn = 0;
	if (mysql_commit(db->my)) {
		db_set_err(db, mysql_errno(db->my), mysql_error(db->my));
		if (db_conn_lost(db->errnum))
			db_disconnect(db);
		return RE_EDB;
	}
	return RE_OK;
}

void db_rollback(struct db *db)
{
	db->in_txn = 0;
	if (db->my && mysql_rollback(db->my)) {
		if (db_conn_lost(mysql_errno(db->my)))
			db_disconnect(db);
	}
}

const char *db_res_str(const struct db_res *r, unsigned row, unsigned col)
{
	if (!r->cell || row >= r->nrows || col >= r->ncols)
		return NULL;
	return r->cell[(size_t)row * r->ncols + col];
}

unsigned long db_res_len(const struct db_res *r, unsigned row, unsigned col)
{
	if (!r->cell || row >= r->nrows || col >= r->ncols)
		return 0;
	return r->len[(size_t)row * r->ncols + col];
}

long long db_res_int(const struct db_res *r, unsigned row, unsigned col,
		     long long dflt)
{
	const char *s = db_res_str(r, row, col);
	char *end;
	long long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || (*end && *end != '.'))
		return dflt;
	return v;
}

void db_today(char out[11])
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

const struct cfg *db_cfg(const struct db *db) { return db->cfg; }

unsigned long db_thread_id(const struct db *db)
{
	return db->my ? mysql_thread_id(db->my) : 0;
}

/* Runs mysql_stmt_execute through the non-blocking API, polling the
 * server's socket and watch_fd together. Returns 0 when the statement
 * finished (*ret its result), 1 when watch_fd fired first. */
static int db_execute_watching(struct db *db, MYSQL_STMT *st, int *ret,
			       int watch_fd, short watch_events)
{
	int status = mysql_stmt_execute_start(ret, st);

	while (status) {
		struct pollfd p[2];
		int timeout = -1, n;

		p[0].fd = mysql_get_socket(db->my);
		p[0].events = (short)((status & MYSQL_WAIT_READ ? POLLIN : 0) |
			(status & MYSQL_WAIT_WRITE ? POLLOUT : 0) |
			(status & MYSQL_WAIT_EXCEPT ? POLLPRI : 0));
		p[0].revents = 0;
		p[1].fd = watch_fd;
		p[1].events = watch_events;
		p[1].revents = 0;
		if (status & MYSQL_WAIT_TIMEOUT)
			timeout = (int)mysql_get_timeout_value_ms(db->my);
		n = poll(p, watch_fd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0 && watch_fd >= 0 && p[1].revents)
			return 1;
		status = 0;
		if (n == 0)
			status |= MYSQL_WAIT_TIMEOUT;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			status |= MYSQL_WAIT_READ;
		if (p[0].revents & POLLOUT)
			status |= MYSQL_WAIT_WRITE;
		if (p[0].revents & POLLPRI)
			status |= MYSQL_WAIT_EXCEPT;
		status = mysql_stmt_execute_cont(ret, st, status);
	}
	return 0;
}

enum relay_err db_exec_watch(struct db *db, const char *sql,
			     const struct db_val *args, unsigned nargs,
			     struct db_res *res, int watch_fd, short watch_events,
			     int *hit)
{
	MYSQL_BIND pb[32];
	MYSQL_STMT *st;
	enum relay_err rc;
	int ret = 0;

	*hit = 0;
	memset(res, 0, sizeof(*res));
	db->errnum = 0;
	db->err[0] = '\0';
	rc = db_connect(db);
	if (rc)
		return rc;
	if (db_sync_tz(db, 0))
		goto lost;
	st = db_prepare(db, sql);
	if (!st)
		goto lost;
	if (nargs > sizeof(pb) / sizeof(pb[0]) ||
	    nargs != mysql_stmt_param_count(st)) {
		db_set_err(db, 0, "parameter count mismatch");
		return RE_EDB;
	}
	db_bind(pb, args, nargs);
	if (nargs && mysql_stmt_bind_param(st, pb))
		goto stmt_err;
	if (db_execute_watching(db, st, &ret, watch_fd, watch_events)) {
		/* The client left mid-statement: the statement cannot be
		 * abandoned on a live connection, so the connection goes (and
		 * with it every named lock this process held). */
		*hit = 1;
		db_set_err(db, 0, "client went away during the statement");
		db_disconnect(db);
		return RE_ECLIENT;
	}
	if (ret)
		goto stmt_err;
	rc = db_fetch(db, st, res);
	if (!rc)
		rc = db_drain(db, st);
	if (rc) {
		db_res_free(res);
		if (db_conn_lost(db->errnum))
			db_disconnect(db);
	}
	return rc;
stmt_err:
	db_set_err(db, mysql_stmt_errno(st), mysql_stmt_error(st));
	if (db_conn_lost(db->errnum))
		db_disconnect(db);
	if (db->errnum != DB_ER_QUERY_INTERRUPTED)
		log_error("sql failed: %s", db->err);
	return RE_EDB;
lost:
	if (!db->errnum || db_conn_lost(db->errnum))
		db_disconnect(db);
	log_error("sql failed: %s", db->err);
	return RE_EDB;
}

void db_thread_init(void)
{
	mysql_thread_init();
}

void db_thread_end(void)
{
	mysql_thread_end();
}
