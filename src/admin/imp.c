/* imp.c - importing users and their existing keys (see imp.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "apikey.h"
#include "audit.h"
#include "db.h"
#include "imp.h"
#include "sha256.h"

#define ER_DUP_ENTRY 1062

static const struct {
	const char *name;
	long long lo, hi, dflt;         /* dflt: a new user without the column */
} imp_nums[IMP_NNUM] = {
	{ "daily_requests", 0, 4294967295LL, 1000 },
	{ "daily_tokens", 0, 9000000000000000000LL, 100000 },
	{ "priority", -1000000, 1000000, 0 },
	{ "max_concurrent", 0, 1000000, 0 },
	{ "max_queued", 0, 1000000, 0 },
	{ "enabled", 0, 1, 1 },
};

int imp_key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	if (n < IMP_KEY_MIN || n > IMP_KEY_MAX || key[0] == ' ' || key[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] > 0x7e)
			return 0;
	return 1;
}

void imp_prefix(const char *key, char prefix[13])
{
	size_t n = strlen(key) / 4;

	snprintf(prefix, 13, "%.*s", (int)(n > 12 ? 12 : n), key);
}

enum relay_err imp_key_add(struct db *db, long long user_id, const char *key,
			   const char *models, const char *expires,
			   char prefix[13], long long *id, int *dup)
{
	char hex[65];
	enum relay_err rc;

	*id = 0;
	*dup = 0;
	sha256_hex(key, strlen(key), hex);
	imp_prefix(key, prefix);
	/* The hash is the key's identity everywhere (auth.c, the fast path's
	 * ADMIT_FAST_SQL, relay_admit): a second row with it could never be
	 * told apart, so the unique index refuses it. */
	rc = DBX(db, "INSERT INTO api_keys (user_id, name, key_hash, key_prefix, models,"
		 " expires_at) VALUES (?, 'imported', ?, ?, ?, ?)", NULL, DBI(user_id),
		 DBS(hex), DBS(prefix), DBS(models && *models ? models : NULL),
		 DBS(expires && *expires ? expires : NULL));
	explicit_bzero(hex, sizeof(hex));
	if (rc && db_errno(db) == ER_DUP_ENTRY) {
		*dup = 1;
		return RE_OK;
	}
	if (rc)
		return rc;
	*id = (long long)db_insert_id(db);
	return RE_OK;
}

/* ---- parsing ---- */

static void imp_wipe_row(struct imp_row *r)
{
	if (r->key) {
		explicit_bzero(r->key, strlen(r->key));
		free(r->key);
	}
	explicit_bzero(r->hex, sizeof(r->hex));
	r->key = NULL;
}

void imp_free(struct imp *im)
{
	for (size_t i = 0; i < im->n; i++)
		imp_wipe_row(&im->rows[i]);
	free(im->rows);
	memset(im, 0, sizeof(*im));
}

static struct imp_row *imp_add_row(struct imp *im, unsigned line)
{
	if (im->n == im->cap) {
		size_t cap = im->cap ? im->cap * 2 : 16;
		struct imp_row *r = realloc(im->rows, cap * sizeof(*r));

		if (!r)
			return NULL;
		im->rows = r;
		im->cap = cap;
	}
	memset(&im->rows[im->n], 0, sizeof(im->rows[0]));
	im->rows[im->n].line = line;
	return &im->rows[im->n++];
}

/* A user name as relayctl takes it: 1..64 bytes, no spaces or controls. */
static int imp_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}

static int imp_num_set(struct imp_row *r, int f, const char *v, struct buf *errs)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(v, &end, 10);
	if (f == IMP_ENABLED && (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)) {
		x = v[0] == 't';
		end = (char *)v + strlen(v);
	}
	if (errno || end == v || *end || x < imp_nums[f].lo || x > imp_nums[f].hi) {
		buf_printf(errs, "line %u: %s takes a number %lld..%lld\n", r->line,
			   imp_nums[f].name, imp_nums[f].lo, imp_nums[f].hi);
		return 1;
	}
	r->num[f] = x;
	r->has |= 1u << f;
	return 0;
}

/* Sets column col of r from the NUL-terminated v (n bytes; "" = not
 * given). Returns the number of problems written to errs. */
static int imp_field(struct imp_row *r, const char *col, const char *v, size_t n,
		     struct buf *errs)
{
	if (strlen(v) != n) {
		buf_printf(errs, "line %u: %s holds a NUL byte\n", r->line, col);
		return 1;
	}
	for (int f = 0; f < IMP_NNUM; f++)
		if (strcmp(col, imp_nums[f].name) == 0)
			return n ? imp_num_set(r, f, v, errs) : 0;
	if (strcmp(col, "name") == 0) {
		if (!imp_name_ok(v, n)) {
			buf_printf(errs, "line %u: name must be 1..64 characters without spaces\n",
				   r->line);
			return 1;
		}
		memcpy(r->name, v, n + 1);
	} else if (strcmp(col, "key") == 0) {
		if (!n)
			return 0;
		if (!imp_key_ok(v)) {
			/* never the key itself: the message may end in a log */
			buf_printf(errs, "line %u: key must be %d..%d printable ASCII characters"
				   " (no space first or last)\n", r->line, IMP_KEY_MIN, IMP_KEY_MAX);
			return 1;
		}
		if (!(r->key = strdup(v)))
			return 1;
		sha256_hex(r->key, n, r->hex);
	} else if (strcmp(col, "expires") == 0) {
		if (n && !apikey_date_ok(v)) {
			buf_printf(errs, "line %u: expires takes a date YYYY-MM-DD\n", r->line);
			return 1;
		}
		memcpy(r->expires, v, n + 1);
	} else if (strcmp(col, "models") == 0) {
		if (!n)
			return 0;
		r->has_models = 1;
		if (strcmp(v, "*") == 0)
			r->models[0] = '\0';
		else if (apikey_models_norm(v, r->models, sizeof(r->models)) < 0) {
			buf_printf(errs, "line %u: models takes names [A-Za-z0-9._:/@+-] separated"
				   " by commas (\"*\" = every model)\n", r->line);
			return 1;
		}
	} else {
		buf_printf(errs, "line %u: unknown column '%.64s'\n", r->line, col);
		return 1;
	}
	return 0;
}

/* Reads one CSV field at *p (RFC 4180 quoting) into f; *eol = 1 when the
 * record ended after it. Returns -1 on an unterminated quote. */
static int imp_csv_field(const char **p, const char *end, struct buf *f, int *eol,
			 unsigned *line)
{
	const char *s = *p;

	buf_reset(f);
	*eol = 0;
	if (s < end && *s == '"') {
		for (s++;; s++) {
			if (s >= end)
				return -1;
			if (*s == '"' && s + 1 < end && s[1] == '"')
				s++;
			else if (*s == '"')
				break;
			else if (*s == '\n')
				(*line)++;
			if (buf_append(f, s, 1))
				return -1;
		}
		s++;
	}
	while (s < end && *s != ',' && *s != '\n')
		if (*s++ != '\r' && buf_append(f, s - 1, 1))
			return -1;
	if (s >= end || *s == '\n')
		*eol = 1;
	*p = s < end ? s + 1 : s;
	buf_append(f, "", 0);
	return 0;
}

#define IMP_COLS 16

/* The header line: column names, each known and given once. */
static int imp_csv_header(const char **p, const char *end, char cols[IMP_COLS][20],
			  int *ncol, struct buf *f, struct buf *errs)
{
	unsigned line = 1;
	int eol = 0, bad = 0;

	*ncol = 0;
	while (!eol) {
		if (imp_csv_field(p, end, f, &eol, &line) || *ncol == IMP_COLS ||
		    f->len >= 20) {
			buf_puts(errs, "line 1: the header names the columns (see docs/ops/import.md)\n");
			return 1;
		}
		for (char *c = (char *)buf_cstr(f); *c; c++)
			if (*c == ' ')
				memmove(c, c + 1, strlen(c));
		snprintf(cols[*ncol], 20, "%s", buf_cstr(f));
		for (int i = 0; i < *ncol; i++)
			if (strcmp(cols[i], cols[*ncol]) == 0) {
				buf_printf(errs, "line 1: column '%s' twice\n", cols[i]);
				bad++;
			}
		(*ncol)++;
	}
	for (int i = 0; i < *ncol && strcmp(cols[i], "name"); i++)
		if (i == *ncol - 1) {
			buf_puts(errs, "line 1: no 'name' column\n");
			bad++;
		}
	return bad;
}

static int imp_parse_csv(const char *p, const char *end, struct imp *im, struct buf *errs)
{
	char cols[IMP_COLS][20];
	struct buf f;
	int ncol, bad;
	unsigned line = 2;

	buf_init(&f, IMP_MODELS_MAX * 4);
	bad = imp_csv_header(&p, end, cols, &ncol, &f, errs);
	while (!bad && p < end) {
		struct imp_row *r;
		unsigned start = line;
		int eol = 0, i = 0;

		if (*p == '\n' || *p == '\r' || *p == '#') {    /* blank or comment */
			while (p < end && *p++ != '\n')
				;
			line++;
			continue;
		}
		if (im->n >= IMP_ROWS_MAX || !(r = imp_add_row(im, start))) {
			buf_printf(errs, "line %u: more than %d rows\n", start, IMP_ROWS_MAX);
			bad++;
			break;
		}
		for (; !eol; i++) {
			if (imp_csv_field(&p, end, &f, &eol, &line)) {
				buf_printf(errs, "line %u: a quote is not closed or a field is too"
					   " long\n", start);
				bad++;
				goto out;
			}
			if (i < ncol)
				bad += imp_field(r, cols[i], buf_cstr(&f), f.len, errs);
		}
		if (i != ncol) {
			buf_printf(errs, "line %u: %d fields, the header has %d\n", start, i, ncol);
			bad++;
		}
		line++;
	}
out:
	if (f.data)                     /* it held keys */
		explicit_bzero(f.data, f.cap);
	buf_free(&f);
	return bad;
}

/* One JSON value as the text a CSV cell would hold ("" = not given). */
static const char *imp_json_text(struct json_object *v, char *tmp, size_t n)
{
	if (!v)
		return "";
	if (json_object_is_type(v, json_type_array)) {
		size_t len = 0;

		tmp[0] = '\0';
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(v, i));
			int w = snprintf(tmp + len, n - len, "%s%s", len ? "," : "", s ? s : "");

			if (w < 0 || (size_t)w >= n - len)
				return NULL;
			len += (size_t)w;
		}
		return len ? tmp : "*";         /* [] = every model */
	}
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v) ? "1" : "0";
	if (json_object_is_type(v, json_type_object))
		return NULL;
	return json_object_get_string(v);
}

static int imp_json_line(const char *s, size_t n, unsigned line, struct imp *im,
			 struct buf *errs)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = tok ? json_tokener_parse_ex(tok, s, (int)n) : NULL;
	struct imp_row *r;
	int bad = 0;
	char *tmp;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    tok->char_offset != (int)n) {
		buf_printf(errs, "line %u: not one JSON object\n", line);
		bad = 1;
	} else if (im->n >= IMP_ROWS_MAX || !(r = imp_add_row(im, line))) {
		buf_printf(errs, "line %u: more than %d rows\n", line, IMP_ROWS_MAX);
		bad = 1;
	} else if (!(tmp = malloc(IMP_MODELS_MAX * 4))) {
		bad = 1;
	} else {
		json_object_object_foreach(o, k, v) {
			const char *t = imp_json_text(v, tmp, IMP_MODELS_MAX * 4);

			if (!t) {
				buf_printf(errs, "line %u: %.64s has the wrong type\n", line, k);
				bad++;
			} else {
				bad += imp_field(r, k, t, strlen(t), errs);
			}
		}
		if (!r->name[0]) {
			buf_printf(errs, "line %u: no name\n", line);
			bad++;
		}
		free(tmp);
	}
	json_object_put(o);
	if (tok)
		json_tokener_free(tok);
	return bad;
}

static int imp_parse_jsonl(const char *p, const char *end, struct imp *im,
			   struct buf *errs)
{
	unsigned line = 1;
	int bad = 0;

	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		const char *le = e ? e : end;
		const char *s = p;

		while (s < le && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		if (s < le)
			bad += imp_json_line(s, (size_t)(le - s), line, im, errs);
		if (bad > 100)
			break;
		p = e ? e + 1 : end;
		line++;
	}
	return bad;
}

static int imp_cmp_hex(const void *a, const void *b)
{
	const struct imp_row *x = *(struct imp_row *const *)a, *y = *(struct imp_row *const *)b;
	int c = strcmp(x->hex, y->hex);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* The same key twice in the file: refused (both lines named, never the
 * key). Sorting by hash keeps a big file linear-ish. */
static int imp_dups(struct imp *im, struct buf *errs)
{
	struct imp_row **v = malloc((im->n ? im->n : 1) * sizeof(*v));
	size_t k = 0;
	int bad = 0;

	if (!v)
		return 1;
	for (size_t i = 0; i < im->n; i++)
		if (im->rows[i].key)
			v[k++] = &im->rows[i];
	qsort(v, k, sizeof(*v), imp_cmp_hex);
	for (size_t i = 1; i < k; i++)
		if (strcmp(v[i]->hex, v[i - 1]->hex) == 0) {
			buf_printf(errs, "line %u: the same key as line %u\n", v[i]->line,
				   v[i - 1]->line);
			bad++;
		}
	free(v);
	return bad;
}

int imp_parse(const char *text, size_t len, struct imp *im, struct buf *errs)
{
	const char *p = text, *end = text + len;
	int bad;

	memset(im, 0, sizeof(*im));
	if (len > IMP_FILE_MAX) {
		buf_printf(errs, "the file is larger than %u MB\n", IMP_FILE_MAX >> 20);
		return 1;
	}
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)   /* a spreadsheet's BOM */
		p += 3;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p == end) {
		buf_puts(errs, "the file is empty\n");
		return 1;
	}
	bad = *p == '{' ? imp_parse_jsonl(p, end, im, errs) : imp_parse_csv(p, end, im, errs);
	if (!bad && !im->n) {
		buf_puts(errs, "the file has no rows\n");
		bad = 1;
	}
	return bad + (bad ? 0 : imp_dups(im, errs));
}

/* ---- writing ---- */

/* The audit row: the console's admin, or the shell when w is NULL. */
static void imp_audit(struct db *db, const struct imp_who *w, const char *action,
		      const char *target, const char *detail)
{
	if (!w)
		audit_shell(db, action, target, detail);
	else
		audit_write(db, w->id, w->name, w->addr, action, target, detail);
}

/* Creates the row's user or updates the columns it gives; *uid its id. */
static enum relay_err imp_user(struct db *db, const struct imp_who *w,
			       const struct imp_row *r, long long *uid, struct buf *out)
{
	long long v[IMP_NNUM];
	struct db_res res;
	enum relay_err rc;

	if ((rc = DBX(db, "SELECT id FROM users WHERE name = ? FOR UPDATE", &res,
		      DBS(r->name))))
		return rc;
	*uid = db_res_int(&res, 0, 0, 0);
	db_res_free(&res);
	for (int f = 0; f < IMP_NNUM; f++)
		v[f] = r->has & (1u << f) ? r->num[f] : imp_nums[f].dflt;
	if (!*uid) {
		rc = DBX(db, "INSERT INTO users (name, daily_requests, daily_tokens, priority,"
			 " max_concurrent, max_queued, enabled, models) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			 NULL, DBS(r->name), DBI(v[0]), DBI(v[1]), DBI(v[2]), DBI(v[3]),
			 DBI(v[4]), DBI(v[5]), DBS(r->has_models && r->models[0] ? r->models : NULL));
		if (rc)
			return rc;
		*uid = (long long)db_insert_id(db);
		imp_audit(db, w, "user.create", r->name, "import");
		buf_printf(out, "line %u: create user '%s'\n", r->line, r->name);
		return RE_OK;
	}
	if (!r->has && !r->has_models)
		return RE_OK;
	rc = DBX(db, "UPDATE users SET daily_requests = IF(?, ?, daily_requests),"
		 " daily_tokens = IF(?, ?, daily_tokens), priority = IF(?, ?, priority),"
		 " max_concurrent = IF(?, ?, max_concurrent), max_queued = IF(?, ?, max_queued),"
		 " enabled = IF(?, ?, enabled), models = IF(?, ?, models) WHERE id = ?", NULL,
		 DBI(r->has & 1), DBI(v[0]), DBI(r->has & 2), DBI(v[1]), DBI(r->has & 4),
		 DBI(v[2]), DBI(r->has & 8), DBI(v[3]), DBI(r->has & 16), DBI(v[4]),
		 DBI(r->has & 32), DBI(v[5]), DBI(r->has_models),
		 DBS(r->models[0] ? r->models : NULL), DBI(*uid));
	if (rc)
		return rc;
	imp_audit(db, w, "user.update", r->name, "import");
	buf_printf(out, "line %u: update user '%s'\n", r->line, r->name);
	return RE_OK;
}

static enum relay_err imp_row_apply(struct db *db, const struct imp_who *w,
				    const struct imp_row *r,
				    struct buf *out, struct buf *errs, int *problems)
{
	char prefix[13], t[96];
	long long uid, kid;
	enum relay_err rc;
	int dup;

	if ((rc = imp_user(db, w, r, &uid, out)) || !r->key)
		return rc;
	if ((rc = imp_key_add(db, uid, r->key, NULL, r->expires, prefix, &kid, &dup)))
		return rc;
	if (dup) {
		/* whose it is stays unsaid: the file's author may not know */
		buf_printf(errs, "line %u: the key is already in use\n", r->line);
		(*problems)++;
		return RE_OK;
	}
	snprintf(t, sizeof(t), "key:%lld user:%lld", kid, uid);
	imp_audit(db, w, "key.import", t, prefix);
	buf_printf(out, "line %u: add key %s... for '%s'%s%s\n", r->line, prefix, r->name,
		   r->expires[0] ? ", valid through " : "", r->expires);
	return RE_OK;
}

enum relay_err imp_apply(struct db *db, const struct imp_who *w, const struct imp *im,
			 int dry, struct buf *out, struct buf *errs, int *problems)
{
	enum relay_err rc;

	*problems = 0;
	/* A dry run does everything a real one does, checks included, and
	 * rolls back: what it reports is exactly what would happen. */
	if ((rc = db_begin(db)))
		return rc;
	for (size_t i = 0; i < im->n; i++)
		if ((rc = imp_row_apply(db, w, &im->rows[i], out, errs, problems))) {
			db_rollback(db);
			return rc;
		}
	if (dry || *problems) {
		db_rollback(db);
		return RE_OK;
	}
	return db_commit(db);
}
