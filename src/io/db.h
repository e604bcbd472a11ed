/* db.h - MariaDB access: one persistent connection per process, prepared
 * statements only (cached per SQL text).
 *
 * Reconnects and repeats a statement only when it cannot have run: the
 * connection was found closed before sending (db_alive), the connect or the
 * prepare failed, or writing the command failed (2006). A connection lost
 * after the statement was sent (2013, killed, read timeout, out of sync)
 * may have run it on the server: then a SELECT is repeated once (reads and
 * GET_LOCK change nothing twice) and everything else returns RE_EDB with
 * db_unknown() = 1, so relay_admit, relay_finish and queue inserts are never
 * run twice. Never reconnects inside a transaction or while pinned.
 *
 * Named locks (GET_LOCK) live on the connection. db_generation() changes
 * with every (re)connect: a lock taken at generation g is gone once the
 * generation is not g any more.
 *
 * This is the only module that calls mysql_*. Every value travels as a bound
 * parameter; results come back as strings (NULL for SQL NULL). */
#ifndef RELAY_DB_H
#define RELAY_DB_H

#include <stddef.h>
#include <string.h>
#include "err.h"

struct cfg;
struct db;

enum db_vtype { DB_V_NULL, DB_V_INT, DB_V_STR };

/* One bound parameter; strings are not copied (must outlive the call). */
struct db_val {
	enum db_vtype type;
	long long i;
	const char *s;
	size_t len;
};

#define DBI(x)     ((struct db_val){ .type = DB_V_INT, .i = (long long)(x) })
#define DBB(p, n)  ((struct db_val){ .type = DB_V_STR, .s = (p), .len = (n) })
#define DBS(x)     db_str(x)
#define DBNULL     ((struct db_val){ .type = DB_V_NULL })

/* A string parameter; NULL becomes SQL NULL. */
static inline struct db_val db_str(const char *s)
{
	struct db_val v = { .type = s ? DB_V_STR : DB_V_NULL, .s = s,
			    .len = s ? strlen(s) : 0 };
	return v;
}

/* A fetched result set: nrows x ncols cells, row-major. The result owns
 * every cell; db_res_free() releases them. */
struct db_res {
	unsigned nrows, ncols;
	char **cell;            /* NULL entry = SQL NULL */
	unsigned long *len;
};

/* Creates the handle; does not connect yet (so a process can start and
 * answer 500 while the database is down). Caller owns; db_close() frees.
 * `c` must outlive the handle. */
struct db *db_new(const struct cfg *c);
void db_close(struct db *db);

/* Around the life of a thread (other than main) that opens its own
 * connection: the client library's per-thread state. */
void db_thread_init(void);
void db_thread_end(void);

/* Connects if not connected; RE_EDB with db_error() set when it fails. */
enum relay_err db_connect(struct db *db);
/* Drops the connection (and with it every GET_LOCK the process held). */
void db_disconnect(struct db *db);

/* Runs one prepared statement. `res` may be NULL when no rows are wanted.
 * Sets db_affected()/db_insert_id(). */
enum relay_err db_exec(struct db *db, const char *sql,
		       const struct db_val *args, unsigned nargs,
		       struct db_res *res);

/* db_exec with a literal list of parameters: DBX(db, sql, &res, DBI(1), DBS(s)) */
#define DBX(db, sql, res, ...) \
	db_exec((db), (sql), (const struct db_val[]){ __VA_ARGS__ }, \
		(unsigned)(sizeof((const struct db_val[]){ __VA_ARGS__ }) / \
			   sizeof(struct db_val)), (res))

/* Runs a statement that has no parameters and no bound data, such as DDL
 * from the compiled-in migrations (never with client input). */
enum relay_err db_exec_plain(struct db *db, const char *sql, size_t len);

/* The connection's generation: +1 on every successful (re)connect, 0 when
 * not connected. Every named lock taken at an older generation is lost. */
unsigned long long db_generation(const struct db *db);
/* Checks without a round trip (poll on the socket) that the server has not
 * closed the connection; if it has, disconnects and returns 0. */
int db_alive(struct db *db);
/* While pinned (nestable), the handle never reconnects: a lost connection
 * fails every statement with RE_EDB, so code holding a named lock can not
 * run on a connection that lacks it. */
void db_pin(struct db *db);
void db_unpin(struct db *db);
/* 1 if the last failed db_exec lost the connection after sending: the
 * statement may or may not have run. */
int db_unknown(const struct db *db);
/* 1 inside db_begin .. db_commit/db_rollback. */
int db_in_txn(const struct db *db);

unsigned long long db_affected(const struct db *db);
unsigned long long db_insert_id(const struct db *db);
/* Last error text (no credentials in it); "" if none. */
const char *db_error(const struct db *db);
/* MariaDB error number of the last failure, 0 if none. */
unsigned db_errno(const struct db *db);
/* A statement ended by KILL QUERY: for a waiter's nap, a wake-up (not
 * logged as a failure). */
#define DB_ER_QUERY_INTERRUPTED 1317
/* InnoDB chose the statement as a deadlock's victim: its transaction was
 * rolled back (named locks are not transactional and stay as they were). */
#define DB_ER_LOCK_DEADLOCK 1213
/* 1 when the last failure was a statement the server cut short on its own
 * (a late KILL QUERY, or a deadlock victim): safe to finish or redo. */
int db_cut_short(const struct db *db);

enum relay_err db_begin(struct db *db);
enum relay_err db_commit(struct db *db);
void db_rollback(struct db *db);

/* Cell accessors: NULL / dflt for SQL NULL or out of range. */
const char *db_res_str(const struct db_res *r, unsigned row, unsigned col);
unsigned long db_res_len(const struct db_res *r, unsigned row, unsigned col);
long long db_res_int(const struct db_res *r, unsigned row, unsigned col,
		     long long dflt);
void db_res_free(struct db_res *r);

/* db_exec for a statement that may block for a while (the dispatcher's
 * wait), watching watch_fd (a client socket, -1 for none) with
 * watch_events as well: if it fires first, the connection is dropped (the
 * statement cannot be abandoned otherwise; every named lock goes with it),
 * *hit = 1 and RE_ECLIENT is returned. Never retried. */
enum relay_err db_exec_watch(struct db *db, const char *sql,
			     const struct db_val *args, unsigned nargs,
			     struct db_res *res, int watch_fd, short watch_events,
			     int *hit);
#define DBXW(db, sql, res, fd, ev, hit, ...) \
	db_exec_watch((db), (sql), (const struct db_val[]){ __VA_ARGS__ }, \
		(unsigned)(sizeof((const struct db_val[]){ __VA_ARGS__ }) / \
			   sizeof(struct db_val)), (res), (fd), (ev), (hit))

/* The configuration the handle was made with. */
const struct cfg *db_cfg(const struct db *db);
/* The server's id of the current connection (CONNECTION_ID()), 0 if none. */
unsigned long db_thread_id(const struct db *db);

/* The local calendar day (RELAY_TIMEZONE) as "YYYY-MM-DD". */
void db_today(char out[11]);

#endif
