/* slot.h - upstream concurrency slots as MariaDB named locks.
 *
 * Slot i is GET_LOCK('<lock_prefix>:slot:<i>'), taken and named by the SQL
 * procedures (relay_admit, relay_wait: sql/010). Holding the lock = holding
 * one upstream connection. MariaDB frees it if the process dies. */
#ifndef RELAY_SLOT_H
#define RELAY_SLOT_H

#include "err.h"

struct db;
struct cfg;

struct slot {
	char name[96];
	int held;
};

/* What call.php's admission found (see admit.h). */
enum slot_outcome {
	SLOT_GOT = 0,      /* a slot is held: forward now */
	SLOT_BUSY,         /* every slot is taken */
	SLOT_QUEUE_AHEAD   /* waiting work of equal or higher priority exists */
};

/* A random slot index in 1..n, where a process starts trying, so that
 * processes do not all hammer slot 1. */
int slot_first(int n);

/* Releases a held slot (no-op otherwise). */
void slot_release(struct db *db, struct slot *s);

/* Named-lock primitives also used for queue items and enqueue ordering:
 * *got = 1 if taken within timeout_s (0 = do not wait). */
enum relay_err lock_get(struct db *db, const char *name, int timeout_s, int *got);
void lock_release(struct db *db, const char *name);
/* *free_ = 1 if nobody holds the lock. */
enum relay_err lock_is_free(struct db *db, const char *name, int *free_);

#endif
