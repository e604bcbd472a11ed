/* slot.h - upstream concurrency slots as MariaDB named locks.
 *
 * Slot i is GET_LOCK('<lock_prefix>:slot:<i>'), taken and named by the SQL
 * procedures (relay_admit, relay_wait: sql/routines/). Holding the lock =
 * holding one upstream connection. MariaDB frees it if the process dies. */
#ifndef RELAY_SLOT_H
#define RELAY_SLOT_H

#include "err.h"

struct db;
struct cfg;

/* A held named lock: valid while held and db_generation() == gen. */
struct slot {
	char name[96];
	int held;
	unsigned long long gen;   /* connection generation it was taken on */
};

/* What call.php's admission found (see admit.h). */
enum slot_outcome {
	SLOT_GOT = 0,      /* a slot is held: forward now */
	SLOT_BUSY,         /* every slot is taken */
	SLOT_QUEUE_AHEAD,  /* waiting work of equal or higher priority exists */
	SLOT_NONE          /* no backend serves the request's format and
			      model (relay_take_slot) */
};

/* A random slot index in 1..n, where a process starts trying, so that
 * processes do not all hammer slot 1. */
int slot_first(int n);

/* Releases a held slot (no-op otherwise). RE_ENOTFOUND when it had been
 * lost with the connection meanwhile (it is not held either way after). */
enum relay_err slot_release(struct db *db, struct slot *s);

/* Named-lock primitives also used for queue items and enqueue ordering.
 *
 * lock_get: *got = 1 if taken within timeout_s (0 = do not wait); the lock
 * then lives on connection generation db_generation(db) (read it right
 * after) and dies with that connection.
 * lock_release: RE_OK if this connection held it and released it;
 * RE_ENOTFOUND if it did not hold it (lost with an earlier connection, or
 * never taken), RE_EDB if the database failed.
 * lock_is_free: *free_ = 1 if nobody holds the lock. */
enum relay_err lock_get(struct db *db, const char *name, int timeout_s, int *got);
enum relay_err lock_release(struct db *db, const char *name);
enum relay_err lock_is_free(struct db *db, const char *name, int *free_);

/* Takes s->name (no wait) and records it as held on the current
 * generation. *got as lock_get. */
enum relay_err lock_take(struct db *db, struct slot *s, int *got);

/* 1 if s is held and still on the live connection it was taken on (no
 * round trip: db_alive() plus the generation). */
int lock_held(struct db *db, const struct slot *s);

/* Makes sure s is still held: if its connection was lost, reconnects and
 * takes it again at once (GET_LOCK(name, 0)). RE_OK when held (again);
 * RE_EBUSY when another connection took it meanwhile (s->held = 0 then:
 * the caller has lost it and must stop what the lock protects); RE_EDB when
 * the database cannot be reached (s->held = 0). */
enum relay_err lock_keep(struct db *db, struct slot *s);

#endif
