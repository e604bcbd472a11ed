/* audit.c - the audit_log row of every change (audit.h). */
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>
#include "audit.h"
#include "db.h"

enum relay_err audit_write(struct db *db, long long actor_id, const char *actor_name,
			   const char *addr, const char *action,
			   const char *target, const char *detail)
{
	return DBX(db, "INSERT INTO audit_log (actor_id, actor_name, action, target,"
		   " detail, addr) VALUES (?, ?, ?, LEFT(?, 255), LEFT(?, 1024), LEFT(?, 64))",
		   NULL, actor_id ? DBI(actor_id) : DBNULL, DBS(actor_name ? actor_name : ""),
		   DBS(action), DBS(target ? target : ""), DBS(detail), DBS(addr ? addr : ""));
}

void audit_shell(struct db *db, const char *action, const char *target,
		 const char *detail)
{
	const struct passwd *pw = getpwuid(geteuid());
	char who[64];

	snprintf(who, sizeof(who), "relayctl:%.40s", pw && pw->pw_name ? pw->pw_name : "?");
	if (audit_write(db, 0, who, "shell", action, target, detail))
		fprintf(stderr, "relayctl: warning: audit row not written: %s\n", db_error(db));
}
