/* Layer admin (src/admin/): what relayctl and the console both change,
 * written once: keys, backends, the queue, passwords, the audit row. */
/* audit.h - the audit_log row that records each change, whoever made it
 * (API keys: apikey.c, backends: bkadmin.c, the queue: qadmin.c, console
 * passwords: cpw.c). */
#ifndef RELAY_AUDIT_H
#define RELAY_AUDIT_H
#include "err.h"

struct db;

/* One audit_log row: actor_id 0 = none (a registration, the shell),
 * action ("key.create"), target ("user:alice"), detail and addr may be
 * NULL. Texts are cut to their columns. */
enum relay_err audit_write(struct db *db, long long actor_id, const char *actor_name,
			   const char *addr, const char *action,
			   const char *target, const char *detail);

/* The row for a change made from the shell (actor "relayctl:<unix user>",
 * from "shell"). The change is already done: a failed row is reported on
 * stderr, not returned. */
void audit_shell(struct db *db, const char *action, const char *target,
		 const char *detail);
#endif
