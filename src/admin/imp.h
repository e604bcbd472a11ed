/* imp.h - bringing members over from the old platform with the keys they
 * already hold: one key (relayctl key import) or a file of users with
 * their keys, limits, priority, models and expiry (relayctl import, the
 * console's POST /api/v1/admin/import). Formats: docs/ops/import.md.
 * Imported keys are stored as generated ones are (SHA-256 hex in
 * api_keys.key_hash, which every lookup keys on), so they work on every
 * route, the fast path included; the key itself is never kept, logged or
 * printed. */
#ifndef RELAY_IMP_H
#define RELAY_IMP_H

#include <stddef.h>
#include "buf.h"
#include "err.h"

struct db;

#define IMP_KEY_MIN 16
#define IMP_KEY_MAX 256
#define IMP_ROWS_MAX 100000
#define IMP_FILE_MAX (32u << 20)
#define IMP_MODELS_MAX 1024     /* what a request's auth_user can hold */

/* The numbers a row may set, in this order (users' columns). */
enum imp_num { IMP_REQUESTS, IMP_TOKENS, IMP_PRIORITY, IMP_MAX_CONC,
	       IMP_MAX_QUEUED, IMP_ENABLED, IMP_NNUM };

struct imp_row {
	unsigned line;                  /* 1-based, for messages */
	char name[65];
	char *key;                      /* NULL = no key; wiped when freed */
	char hex[65];                   /* SHA-256 of key */
	char expires[11];               /* "" = never */
	char models[IMP_MODELS_MAX];    /* has_models: "" = every model */
	int has_models;
	long long num[IMP_NNUM];
	unsigned has;                   /* bit per enum imp_num given */
};

struct imp {
	struct imp_row *rows;
	size_t n, cap;
};

/* 1 if key may be imported: IMP_KEY_MIN..IMP_KEY_MAX bytes of printable
 * ASCII (space included, but not first or last: headers lose those). */
int imp_key_ok(const char *key);

/* The listing prefix of a key: up to 12 characters but never more than a
 * quarter of it, so a short old key is not mostly shown. */
void imp_prefix(const char *key, char prefix[13]);

/* Stores key (checked with imp_key_ok by the caller) for user_id like
 * apikey_create. *dup = 1 (and RE_OK) when some key row already has this
 * key - whose is not said. */
enum relay_err imp_key_add(struct db *db, long long user_id, const char *key,
			   const char *models, const char *expires,
			   char prefix[13], long long *id, int *dup);

/* Parses a CSV file (a header line naming the columns) or JSON lines (the
 * first non-blank byte is '{') into im. Every problem is a line of errs
 * ("line N: ..."); returns the number of problems (0 = im is usable).
 * Duplicate keys within the file are problems too. */
int imp_parse(const char *text, size_t len, struct imp *im, struct buf *errs);

/* Who imports, for the audit rows: NULL = the shell (relayctl). */
struct imp_who {
	long long id;
	const char *name, *addr;
};

/* Writes im in one transaction: users created or updated, keys added.
 * What it does (or would do) goes to out, one line each, problems to
 * errs; dry = 1 or any problem rolls everything back. *problems counts
 * the refusals. Returns RE_OK or the database's error. */
enum relay_err imp_apply(struct db *db, const struct imp_who *w, const struct imp *im,
			 int dry, struct buf *out, struct buf *errs, int *problems);

/* Frees the rows and wipes their keys. */
void imp_free(struct imp *im);

#endif
