/* ctl_import.c - relayctl key import and relayctl import (see imp.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apikey.h"
#include "app.h"
#include "audit.h"
#include "ctl_import.h"
#include "db.h"
#include "imp.h"

#define EX_FAIL 1
#define EX_USAGE 2

static int ci_usage(const char *why)
{
	fprintf(stderr, "relayctl: %s (see relayctl --help)\n", why);
	return EX_USAGE;
}

/* The key: one line of stdin, its line end dropped. 0 or an exit code. */
static int ci_read_key(char *key, size_t n)
{
	size_t len;

	if (!fgets(key, (int)n, stdin)) {
		fprintf(stderr, "relayctl: no key on stdin (echo \"$KEY\" | relayctl key import NAME)\n");
		return EX_USAGE;
	}
	len = strcspn(key, "\r\n");
	if (key[len] == '\0' && len == n - 1) {
		fprintf(stderr, "relayctl: the key is longer than %d characters\n", IMP_KEY_MAX);
		return EX_USAGE;
	}
	key[len] = '\0';
	if (!imp_key_ok(key)) {
		fprintf(stderr, "relayctl: a key must be %d..%d printable ASCII characters"
			" (no space first or last)\n", IMP_KEY_MIN, IMP_KEY_MAX);
		return EX_USAGE;
	}
	return 0;
}

/* Options, then the user, then the key: a usage error never needs stdin. */
static int ci_key_args(int argc, char **argv, const char **expires, char *models, size_t mn)
{
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--expires") == 0 && i + 1 < argc) {
			*expires = argv[++i];
			if (!apikey_date_ok(*expires))
				return ci_usage("--expires takes a date YYYY-MM-DD");
		} else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) {
			if (apikey_models_norm(argv[++i], models, mn) < 0)
				return ci_usage("--models takes model names [A-Za-z0-9._:/@+-]"
						" separated by commas");
		} else {
			return ci_usage("unknown option for key import (the key comes from stdin)");
		}
	}
	return 0;
}

int ctl_key_import(struct app *a, int argc, char **argv)
{
	const char *expires = NULL;
	char key[IMP_KEY_MAX + 3], prefix[13], models[IMP_MODELS_MAX] = "", t[96];
	struct db_res res;
	long long uid, kid;
	int rc, dup;

	if (argc < 2)
		return ci_usage("missing user NAME");
	if ((rc = ci_key_args(argc, argv, &expires, models, sizeof(models))))
		return rc;
	if (DBX(a->db, "SELECT id FROM users WHERE name = ?", &res, DBS(argv[1]))) {
		fprintf(stderr, "relayctl: key import failed: %s\n", db_error(a->db));
		return EX_FAIL;
	}
	uid = db_res_int(&res, 0, 0, 0);
	db_res_free(&res);
	if (!uid) {
		fprintf(stderr, "relayctl: no user '%s'\n", argv[1]);
		return EX_FAIL;
	}
	if ((rc = ci_read_key(key, sizeof(key))))
		goto out;
	rc = EX_FAIL;
	if (imp_key_add(a->db, uid, key, models, expires, prefix, &kid, &dup)) {
		fprintf(stderr, "relayctl: key import failed: %s\n", db_error(a->db));
		goto out;
	}
	if (dup) {
		/* not whose: that would tell one member about another's key */
		fprintf(stderr, "relayctl: this key is already in use; nothing imported\n");
		goto out;
	}
	snprintf(t, sizeof(t), "key:%lld user:%lld", kid, uid);
	audit_shell(a->db, "key.import", t, prefix);
	printf("key %s... imported for '%s'%s%s%s%s\n", prefix, argv[1],
	       expires ? ", valid through " : "", expires ? expires : "",
	       models[0] ? ", models " : "", models);
	rc = 0;
out:
	explicit_bzero(key, sizeof(key));
	return rc;
}

/* The whole file (or stdin for "-") in *buf; 0 or an exit code. */
static int ci_slurp(const char *path, struct buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;

	if (!f) {
		fprintf(stderr, "relayctl: cannot open %s: %s\n", path, strerror(errno));
		return EX_FAIL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(b, chunk, n)) {
			fprintf(stderr, "relayctl: %s is larger than %u MB\n", path, IMP_FILE_MAX >> 20);
			break;
		}
	explicit_bzero(chunk, sizeof(chunk));
	if (f != stdin)
		fclose(f);
	return n ? EX_FAIL : 0;
}

int ctl_import(struct app *a, int argc, char **argv)
{
	struct buf file, out, errs;
	const char *path = NULL;
	struct imp im;
	int dry = 0, rc = EX_FAIL, problems = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			dry = 1;
		else if (!path && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
			path = argv[i];
		else
			return ci_usage("import takes FILE (or - for stdin) and --dry-run");
	}
	if (!path)
		return ci_usage("import needs a FILE (CSV or JSON lines, see docs/ops/import.md)");
	buf_init(&file, IMP_FILE_MAX);
	buf_init(&out, (size_t)64 << 20);
	buf_init(&errs, (size_t)1 << 20);
	memset(&im, 0, sizeof(im));
	if (ci_slurp(path, &file))
		goto done;
	problems = imp_parse(file.data, file.len, &im, &errs);
	if (!problems && imp_apply(a->db, NULL, &im, dry, &out, &errs, &problems)) {
		fprintf(stderr, "relayctl: import failed, nothing written: %s\n", db_error(a->db));
		goto done;
	}
	fputs(buf_cstr(&out), stdout);
	if (problems) {
		fputs(buf_cstr(&errs), stderr);
		fprintf(stderr, "relayctl: %d problem(s); nothing written\n", problems);
		goto done;
	}
	printf("%zu row(s) %s\n", im.n, dry ? "checked; dry run: nothing written" : "imported");
	rc = 0;
done:
	imp_free(&im);
	if (file.data)
		explicit_bzero(file.data, file.len);
	buf_free(&file);
	buf_free(&out);
	buf_free(&errs);
	return rc;
}
