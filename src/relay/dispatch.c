/* dispatch.c - inline waiting for an upstream slot (relay_wait does the
 * ordering, the slot take and the wake-ups; this side loops, ticks and
 * watches the client). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "app.h"
#include "auth.h"
#include "backend.h"
#include "db.h"
#include "dispatch.h"
#include "log.h"
#include "queue.h"
#include "web.h"

static double dispatch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A liveness lock name nobody else will ever use: '<prefix>:wait:<hex>'. */
static void dispatch_lock_name(const struct cfg *c, char *out, size_t n)
{
	unsigned long long r = 0;
	FILE *f = fopen("/dev/urandom", "rb");

	if (!f || fread(&r, sizeof(r), 1, f) != 1) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		r = ((unsigned long long)ts.tv_nsec << 20) ^ (unsigned long long)getpid() ^
		    ((unsigned long long)ts.tv_sec << 40);
	}
	if (f)
		fclose(f);
	snprintf(out, n, "%s:wait:%016llx", c->lock_prefix, r);
}

/* Inserts the waiter's row; maps a refusal to its result. */
static enum dispatch_result dispatch_register(struct app *a,
					      const struct dispatch_req *q,
					      const char *lock, long long *id)
{
	struct queue_new n;
	enum queue_refusal why;
	enum relay_err rc;

	memset(&n, 0, sizeof(n));
	n.u = q->u;
	n.fmt = q->fmt;
	n.model = q->model;
	n.stream = q->stream;
	n.route = q->route;
	n.waitlock = lock;
	rc = queue_push(a->db, &a->cfg, &n, id, &why);
	if (rc == RE_EBUSY || why == QUEUE_FULL)
		return DISPATCH_FULL;
	if (rc)
		return DISPATCH_EDB;
	if (why == QUEUE_USER_FULL)
		return DISPATCH_USER_FULL;
	return DISPATCH_GOT;
}

/* A failed dispatcher statement: logged with what failed (the statements
 * are quiet about a killed query), then the caller answers 500. */
static enum dispatch_result dispatch_edb(struct app *a, const char *what)
{
	log_warn("inline wait: %s failed: %s (MariaDB error %u)", what,
		 db_error(a->db), db_errno(a->db));
	return DISPATCH_EDB;
}

/* A waker's KILL QUERY ID names the nap's query id, and the connection
 * keeps that id after the nap ends until its next statement starts: a kill
 * that arrives in between flags whatever statement comes next. So the next
 * statement after a nap is this no-op, which takes such a kill (1317) and
 * leaves the connection clean for relay_wait's claim. */
static const char dispatch_absorb[] = "DO 0";
static const char dispatch_sleep[] = "DO SLEEP(? / 1000)";

/* One statement of the nap, watching the client; a killed one (1317) is a
 * wake-up, not an error. */
static enum dispatch_result dispatch_nap_stmt(struct app *a, struct web_req *r,
					      const char *sql,
					      const struct db_val *args,
					      unsigned nargs, const char *what)
{
	struct db_res res;
	enum relay_err rc;
	short ev = 0;
	int fd = web_watch_fd(r, &ev), hit = 0;

	rc = db_exec_watch(a->db, sql, args, nargs, &res, fd, ev, &hit);
	if (hit) {
		r->client_gone = 1;
		return DISPATCH_GONE;
	}
	if (!rc)
		db_res_free(&res);
	else if (db_errno(a->db) != DB_ER_QUERY_INTERRUPTED)
		return dispatch_edb(a, what);
	return DISPATCH_GOT;
}

/* The nap between two relay_wait steps, a statement of its own so that a
 * waker's KILL QUERY ID ends it and nothing else (relay_wait), then the
 * absorber. */
static enum dispatch_result dispatch_nap(struct app *a, struct web_req *r,
					 long long ms)
{
	const struct db_val arg = DBI(ms);
	enum dispatch_result dr;

	dr = dispatch_nap_stmt(a, r, dispatch_sleep, &arg, 1, "nap");
	if (dr == DISPATCH_GOT)
		dr = dispatch_nap_stmt(a, r, dispatch_absorb, NULL, 0, "after the nap");
	return dr;
}

void dispatch_nap_blocking(struct db *db, long long ms)
{
	const struct db_val arg = DBI(ms);

	if (db_exec(db, dispatch_sleep, &arg, 1, NULL) &&
	    db_errno(db) != DB_ER_QUERY_INTERRUPTED)
		return;
	db_exec(db, dispatch_absorb, NULL, 0, NULL);
}

/* One relay_wait step, then (still waiting) a nap of at most nap seconds.
 * *state: 1 got the slot (name in s), 0 still waiting, -1 row gone
 * (cancelled, or refused at its turn for its key or user), -2 refused at
 * its turn for the token limit (relay_verdict). */
static enum dispatch_result dispatch_step(struct app *a, struct web_req *r,
					  long long id, double nap,
					  struct slot *s, int *state)
{
	static const char q[] = "CALL relay_wait(?, ?, ?, ?, ?, ?, ?)";
	const struct cfg *c = &a->cfg;
	struct db_res res;
	enum relay_err rc;
	short ev = 0;
	int fd = web_watch_fd(r, &ev), hit = 0;
	long long ms = 0;
	const char *st;

	*state = 0;
	rc = DBXW(a->db, q, &res, fd, ev, &hit, DBI(id), DBS(c->lock_prefix),
		  DBI(c->upstream_slots), DBI(slot_first(c->upstream_slots)),
		  DBI(nap < 0.05 ? 50 : (long long)(nap * 1000.0)),
		  DBI(c->queue_wait_max), DBI(backend_dflt_mask(c)));
	if (!hit && rc && db_cut_short(a->db)) {
		/* a late kill of the nap, or a deadlock under a burst, cut the
		 * step short: relay_wait_resume finishes or undoes what its
		 * claim had done */
		log_info("the wait step was cut short (MariaDB error %u); resuming it",
			 db_errno(a->db));
		rc = DBXW(a->db, "CALL relay_wait_resume(?, ?, ?, ?)", &res, fd, ev, &hit,
			  DBI(id), DBS(c->lock_prefix), DBI(c->upstream_slots),
			  DBI(c->queue_wait_max));
	}
	if (hit) {
		r->client_gone = 1;
		return DISPATCH_GONE;
	}
	if (rc)
		return dispatch_edb(a, "relay_wait");
	st = db_res_str(&res, 0, 1);
	if (st && strcmp(st, "got") == 0 && db_res_str(&res, 0, 0)) {
		snprintf(s->name, sizeof(s->name), "%s", db_res_str(&res, 0, 0));
		s->held = 1;
		s->gen = db_generation(a->db);
		*state = 1;
	} else if (st && strcmp(st, "gone") == 0) {
		*state = -1;
	} else if (st && strcmp(st, "tokens") == 0) {
		*state = -2;
	} else {
		ms = db_res_int(&res, 0, 3, 0);
	}
	db_res_free(&res);
	return ms > 0 ? dispatch_nap(a, r, ms) : DISPATCH_GOT;
}

enum dispatch_result dispatch_wait(struct app *a, struct web_req *r,
				   const struct dispatch_req *q, int max_wait_s,
				   dispatch_tick_fn tick, void *tick_ctx,
				   struct slot *s, long long *id)
{
	double t0 = dispatch_now(), next_tick, deadline;
	enum dispatch_result dr;
	char lock[96];

	memset(s, 0, sizeof(*s));
	*id = 0;
	if (max_wait_s <= 0 || max_wait_s > a->cfg.queue_wait_max)
		max_wait_s = a->cfg.queue_wait_max;
	dispatch_lock_name(&a->cfg, lock, sizeof(lock));
	dr = dispatch_register(a, q, lock, id);
	if (dr != DISPATCH_GOT)
		return dr;
	log_info("waiting inline as queue item %lld (user %s, priority %d)", *id,
		 q->u->name, q->u->priority);
	deadline = t0 + max_wait_s;
	next_tick = t0 + DISPATCH_FIRST_TICK;
	for (;;) {
		double now = dispatch_now(), until = next_tick < deadline ? next_tick : deadline;
		int state;

		if (web_gone_now(r))
			return DISPATCH_GONE;
		dr = dispatch_step(a, r, *id, until - now, s, &state);
		if (dr != DISPATCH_GOT)
			return dr;
		if (state > 0) {
			log_info("queue item %lld: slot %s after %.0f ms", *id, s->name,
				 (dispatch_now() - t0) * 1000.0);
			return DISPATCH_GOT;
		}
		if (state < 0)
			return state == -2 ? DISPATCH_TOKENS : DISPATCH_CANCELLED;
		now = dispatch_now();
		if (now >= deadline)
			return DISPATCH_TIMEOUT;
		if (now >= next_tick) {
			long long pos = 0, total = 0;
			if (queue_position(a->db, *id, q->u->priority, &pos, &total))
				pos = 0;
			if (tick && tick(tick_ctx, pos))
				return DISPATCH_GONE;
			next_tick = now + DISPATCH_TICK;
		}
	}
}

enum relay_err dispatch_wake(struct db *db, const struct cfg *c)
{
	return DBX(db, "CALL relay_wake(?, ?, ?)", NULL, DBS(c->lock_prefix),
		   DBI(c->upstream_slots), DBI(c->queue_wait_max));
}
