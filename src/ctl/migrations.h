/* migrations.h - the sql/NNN_*.sql files, compiled in by tools/embed-sql.sh. */
#ifndef RELAY_MIGRATIONS_H
#define RELAY_MIGRATIONS_H

struct migration {
	int version;       /* NNN of the file name */
	const char *name;  /* file name without .sql */
	const char *sql;   /* statements, each ending with ';' at end of line */
};

extern const struct migration migrations[];
extern const int migration_count;

#endif
