/* ctl_backend.c - relayctl backend: the command line over bkadmin.c. A
 * key is read from --key-file FILE or from stdin with --key - (never from
 * argv, which other users can read in the process list) and never printed
 * back: listings show its last 4 characters. */
#include <stdio.h>
#include <string.h>
#include "app.h"
#include "audit.h"
#include "backend.h"
#include "bkadmin.h"
#include "ctl_backend.h"
#include "db.h"

#define EX_FAIL 1
#define EX_USAGE 2

static int cb_usage(const char *why)
{
	fprintf(stderr, "relayctl: %s (see relayctl --help)\n", why);
	return EX_USAGE;
}

/* Reads one key line from f into out; -1 when too long or unreadable. */
static int cb_read_key(FILE *f, char *out, size_t cap)
{
	size_t n;

	if (!fgets(out, (int)cap, f))
		return out[0] = '\0', 0;
	n = strlen(out);
	if (n == cap - 1 && out[n - 1] != '\n')
		return -1;
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return 0;
}

/* A number option in [lo, hi]; -1 when not a whole number there. */
static int cb_num(const char *s, long long lo, long long hi, long long *out)
{
	long long v = 0;

	if (!s || !*s || strlen(s) > 9)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Parses add/set options into s (key into keybuf). 0 or an exit status. */
static int cb_flags(int argc, char **argv, struct bk_spec *s, char *keybuf, size_t cap)
{
	int i;

	for (i = 0; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(o, "--enable") == 0 || strcmp(o, "--disable") == 0) {
			s->enabled = o[2] == 'e';
			continue;
		}
		if (!v)
			return cb_usage("an option needs a value");
		i++;
		if (strcmp(o, "--preset") == 0)
			s->preset = v;
		else if (strcmp(o, "--format") == 0)
			s->format = v;
		else if (strcmp(o, "--url") == 0)
			s->url = v;
		else if (strcmp(o, "--auth") == 0)
			s->auth = v;
		else if (strcmp(o, "--models") == 0)
			s->models = v;
		else if (strcmp(o, "--map") == 0)
			s->map = v;
		else if (strcmp(o, "--mode") == 0)
			s->mode = v;
		else if (strcmp(o, "--region") == 0)
			s->region = v;
		else if (strcmp(o, "--slots") == 0) {
			if (cb_num(v, 1, 1000, &s->slots))
				return cb_usage("--slots takes a number 1..1000");
		} else if (strcmp(o, "--weight") == 0) {
			if (cb_num(v, 1, 1000, &s->weight))
				return cb_usage("--weight takes a number 1..1000");
		} else if (strcmp(o, "--priority") == 0) {
			if (cb_num(v, 0, 1000, &s->priority))
				return cb_usage("--priority takes a number 0..1000");
		} else if (strcmp(o, "--key-file") == 0 || strcmp(o, "--key") == 0) {
			FILE *f;
			if (strcmp(o, "--key") == 0 && strcmp(v, "-") != 0)
				return cb_usage("--key takes only - (the key on stdin);"
						" a key in argv would show in the process list");
			f = strcmp(v, "-") == 0 ? stdin : fopen(v, "r");
			if (!f)
				return cb_usage("--key-file: cannot open that file");
			if (cb_read_key(f, keybuf, cap)) {
				if (f != stdin)
					fclose(f);
				return cb_usage("the key is longer than 1000 characters");
			}
			if (f != stdin)
				fclose(f);
			s->key = keybuf;
		} else {
			return cb_usage("unknown backend option");
		}
	}
	return 0;
}

/* add / set / enable / disable */
static int cb_change(struct app *a, const char *sub, int argc, char **argv)
{
	struct bk_spec s;
	char key[1100] = "", err[300] = "", detail[300];
	int adding = strcmp(sub, "add") == 0, rc;
	enum relay_err e;

	if (argc < 1 || argv[0][0] == '-')
		return cb_usage("missing backend NAME");
	bk_spec_init(&s, argv[0]);
	if (strcmp(sub, "enable") == 0 || strcmp(sub, "disable") == 0) {
		if (argc != 1)
			return cb_usage("backend enable/disable take only NAME");
		s.enabled = sub[0] == 'e';
	} else {
		rc = cb_flags(argc - 1, argv + 1, &s, key, sizeof(key));
		if (rc)
			return rc;
		if (!adding && argc == 1)
			return cb_usage("backend set needs at least one option");
	}
	if (bk_check(&s, adding, err, sizeof(err)))
		return cb_usage(err);
	e = adding ? bk_add(a, &s, err, sizeof(err)) : bk_set(a, &s, err, sizeof(err));
	memset(key, 0, sizeof(key));
	if (e == RE_EINVAL) {
		fprintf(stderr, "relayctl: %s\n", err);
		return EX_FAIL;
	}
	if (e) {
		fprintf(stderr, "relayctl: backend %s failed: %s\n", sub, db_error(a->db));
		return EX_FAIL;
	}
	/* what changed, never the key itself */
	snprintf(detail, sizeof(detail), "%s%s%s%s%s%s%s%s%s", s.format ? "format " : "",
		 s.url ? "url " : "", s.key ? "key " : "", s.slots != -1 ? "slots " : "",
		 s.weight != -1 ? "weight " : "", s.priority != -1 ? "priority " : "",
		 s.models ? "models " : "", s.map ? "map " : "",
		 s.enabled == -1 ? "" : s.enabled ? "enabled" : "disabled");
	audit_shell(a->db, adding ? "backend.create" : "backend.update", s.name, detail);
	printf("backend %s %s\n", s.name, adding ? "added" : "updated");
	return 0;
}

/* One line of the listing. */
static void cb_line(const char *id, const char *name, const char *fmt, const char *url,
		    const char *slots, const char *weight, const char *prio, const char *state,
		    const char *key4, const char *models, const char *map)
{
	printf("%-4s %-20s %-9s %5s %6s %4s %-10s %-6s %-40s %s%s%s\n", id, name, fmt, slots,
	       weight, prio, state, key4, url, models, map[0] ? " map " : "", map);
}

/* The default backend's health (its backend_state row 0). */
static const char *cb_default_state(struct app *a)
{
	struct db_res res;
	const char *st = "ok";

	if (DBX(a->db, "SELECT cool_until IS NOT NULL AND cool_until > NOW(3),"
		" cool_until IS NOT NULL, fails FROM backend_state WHERE backend_id = ?",
		&res, DBI(0)))
		return "?";
	if (res.nrows)
		st = db_res_int(&res, 0, 0, 0) ? "cooling" : db_res_int(&res, 0, 1, 0) ?
			"probing" : db_res_int(&res, 0, 2, 0) ? "failing" : "ok";
	db_res_free(&res);
	return st;
}

static int cb_list(struct app *a)
{
	const struct backend *d = &a->bk.dflt;
	struct db_res res;
	char slots[16], key4[12];
	unsigned i;

	if (bk_list(a, &res))
		return fprintf(stderr, "relayctl: backend list failed: %s\n", db_error(a->db)),
			EX_FAIL;
	cb_line("ID", "NAME", "FORMAT", "BASE URL", "SLOTS", "WEIGHT", "PRIO", "STATE", "KEY",
		"MODELS", "");
	snprintf(slots, sizeof(slots), "%d", d->slots);
	cb_line("0", "default", d->fmts == 3 ? "both" : d->fmts == 2 ? "anthropic" :
		d->fmts == 1 ? "openai" : "-", "(openai_url / anthropic_url)", slots, "1", "0",
		!d->fmts ? "off" : cb_default_state(a), a->cfg.upstream_api_key[0] ? "set" : "-",
		"*", "");
	for (i = 0; i < res.nrows; i++) {
		const char *st = !db_res_int(&res, i, 8, 0) ? "disabled" :
			db_res_int(&res, i, 16, 0) ? "cooling" :
			db_res_str(&res, i, 13) ? "probing" :
			db_res_int(&res, i, 12, 0) ? "failing" : "ok";
		const char *k4 = db_res_str(&res, i, 5);
		snprintf(key4, sizeof(key4), k4 && *k4 ? "...%s" : "-", k4);
		cb_line(db_res_str(&res, i, 0), db_res_str(&res, i, 1), db_res_str(&res, i, 2),
			db_res_str(&res, i, 3), db_res_str(&res, i, 6), db_res_str(&res, i, 7),
			db_res_str(&res, i, 18), st, key4, db_res_str(&res, i, 9) ? db_res_str(&res, i, 9) : "*",
			db_res_str(&res, i, 10) ? db_res_str(&res, i, 10) : "");
	}
	db_res_free(&res);
	return 0;
}

static int cb_presets(void)
{
	const struct bk_preset *p;

	printf("%-22s %-52s %s\n", "PRESET", "OPENAI-FORMAT BASE", "ANTHROPIC-FORMAT BASE");
	for (p = bk_presets; p->name; p++)
		printf("%-22s %-52s %s\n", p->name, p->openai_url ? p->openai_url : "-",
		       p->anthropic_url ? p->anthropic_url : "-");
	return 0;
}

int ctl_backend(struct app *a, int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : NULL;
	enum relay_err e;

	if (!sub)
		return cb_usage("backend needs a subcommand (add, list, set, enable, disable,"
				" del, test, presets)");
	if (strcmp(sub, "list") == 0)
		return argc == 1 ? cb_list(a) : cb_usage("backend list takes no arguments");
	if (strcmp(sub, "presets") == 0)
		return argc == 1 ? cb_presets() : cb_usage("backend presets takes no arguments");
	if (!strcmp(sub, "add") || !strcmp(sub, "set") || !strcmp(sub, "enable") ||
	    !strcmp(sub, "disable"))
		return cb_change(a, sub, argc - 1, argv + 1);
	if (strcmp(sub, "del") == 0) {
		if (argc != 2)
			return cb_usage("backend del takes only NAME");
		e = bk_del(a, argv[1]);
		if (e == RE_ENOTFOUND)
			return fprintf(stderr, "relayctl: no backend named %s\n", argv[1]), EX_FAIL;
		if (e)
			return fprintf(stderr, "relayctl: backend del failed: %s\n",
				       db_error(a->db)), EX_FAIL;
		audit_shell(a->db, "backend.delete", argv[1], NULL);
		printf("backend %s deleted\n", argv[1]);
		return 0;
	}
	if (strcmp(sub, "test") == 0) {
		char why[300];
		int status;
		long ms;
		if (argc != 2)
			return cb_usage("backend test takes only NAME");
		e = bk_test(a, argv[1], &status, &ms, why, sizeof(why));
		if (e == RE_ENOTFOUND)
			return fprintf(stderr, "relayctl: no backend named %s\n", argv[1]), EX_FAIL;
		if (e)
			return fprintf(stderr, "relayctl: backend test failed: %s\n",
				       db_error(a->db)), EX_FAIL;
		printf("backend %s: %s HTTP %d in %ld ms%s%s\n", argv[1],
		       why[0] ? "FAILED" : "ok", status, ms, why[0] ? ": " : "", why);
		return why[0] ? EX_FAIL : 0;
	}
	return cb_usage("unknown backend subcommand");
}
