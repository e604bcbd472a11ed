/* migrations.h - the SQL that relayctl migrate applies, compiled in by
 * tools/embed-sql.sh: the table history (sql/schema/NNN_*.sql, each applied
 * once) and the routines (sql/routines/<name>.sql, each applied again
 * whenever its file changed). See docs/design/sql-routines.md. */
#ifndef RELAY_MIGRATIONS_H
#define RELAY_MIGRATIONS_H

struct migration {
	int version;       /* NNN of the file name */
	const char *name;  /* file name without .sql */
	const char *sql;   /* statements, each ending with ';' at end of line */
};

extern const struct migration migrations[];
extern const int migration_count;

/* One procedure, function, trigger or view, in the order to apply them
 * (file name order, "-- after: name" lines first). */
struct routine {
	const char *name;    /* file name without .sql: the routine's name */
	const char *kind;    /* "PROCEDURE", "FUNCTION", "TRIGGER" or "VIEW" */
	const char *sha256;  /* hex SHA-256 of the file, as sha256sum prints it */
	const char *sql;     /* one CREATE OR REPLACE, DELIMITER lines as in the file */
};

extern const struct routine routines[];
extern const int routine_count;

#endif
