/* ctl_model.c - relayctl model: the command line over madmin.c (the same
 * writes as the console's /api/v1/admin/models), each change audited.
 *
 *   model list
 *   model add NAME [--display TEXT] [--disable]
 *   model set NAME [--display TEXT] [--enable|--disable]
 *   model del NAME
 *   model backend NAME BACKEND [--upstream MODEL] [--weight N] [--region R] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app.h"
#include "audit.h"
#include "ctl_model.h"
#include "db.h"
#include "madmin.h"

#define EX_FAIL 1
#define EX_USAGE 2

static int cm_usage(const char *why)
{
	fprintf(stderr, "relayctl: %s (see relayctl --help)\n", why);
	return EX_USAGE;
}

static int cm_db(struct app *a, const char *what)
{
	fprintf(stderr, "relayctl: %s: %s\n", what, db_error(a->db));
	return EX_FAIL;
}

static int cm_list(struct app *a)
{
	struct db_res res;

	if (db_exec(a->db, "SELECT m.name, m.display_name, m.enabled, b.name,"
		    " IF(mb.model_name = '', m.name, mb.model_name), mb.weight, mb.region"
		    " FROM models m LEFT JOIN model_backends mb ON mb.model_id = m.id"
		    " LEFT JOIN backends b ON b.id = mb.backend_id ORDER BY m.name, b.name",
		    NULL, 0, &res))
		return cm_db(a, "model list");
	printf("%-24s %-20s %-4s %-16s %-24s %6s %s\n", "MODEL", "DISPLAY", "ON", "BACKEND",
	       "UPSTREAM", "WEIGHT", "REGION");
	for (unsigned i = 0; i < res.nrows; i++) {
		const char *bn = db_res_str(&res, i, 3);
		printf("%-24s %-20s %-4s %-16s %-24s %6s %s\n", db_res_str(&res, i, 0),
		       db_res_str(&res, i, 1), db_res_int(&res, i, 2, 0) ? "yes" : "no",
		       bn ? bn : "-", bn ? db_res_str(&res, i, 4) : "-",
		       bn ? db_res_str(&res, i, 5) : "-", bn ? db_res_str(&res, i, 6) : "-");
	}
	db_res_free(&res);
	return 0;
}

/* add / set: their options into s. 0 or the usage exit status. */
static int cm_opts(struct model_spec *s, int argc, char **argv, int adding)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--display") == 0 && i + 1 < argc)
			s->display = argv[++i];
		else if (strcmp(argv[i], "--disable") == 0)
			s->enabled = 0;
		else if (!adding && strcmp(argv[i], "--enable") == 0)
			s->enabled = 1;
		else
			return cm_usage("unknown option for model add/set");
	}
	if (s->display && strlen(s->display) > MODEL_NAME_MAX)
		return cm_usage("--display takes up to 255 bytes");
	return 0;
}

static int cm_backend(struct app *a, const char *name, long long id, int argc, char **argv)
{
	struct model_backend_spec s = { 0, NULL, -1, NULL };
	struct db_res res;
	char detail[400];
	enum relay_err e;
	char *end;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--upstream") == 0 && i + 1 < argc)
			s.model_name = argv[++i];
		else if (strcmp(argv[i], "--region") == 0 && i + 1 < argc)
			s.region = argv[++i];
		else if (strcmp(argv[i], "--weight") == 0 && i + 1 < argc) {
			s.weight = strtoll(argv[++i], &end, 10);
			if (*end || s.weight < 1 || s.weight > 1000)
				return cm_usage("--weight takes a number 1..1000");
		} else
			return cm_usage("unknown option for model backend");
	}
	if ((s.model_name && !madmin_name_ok(s.model_name)) ||
	    (s.region && !madmin_region_ok(s.region)))
		return cm_usage("--upstream takes a model name, --region a label without spaces");
	if (DBX(a->db, "SELECT id FROM backends WHERE name = ?", &res, DBS(argv[0])))
		return cm_db(a, "model backend");
	s.backend_id = res.nrows ? db_res_int(&res, 0, 0, 0) : 0;
	db_res_free(&res);
	if (!s.backend_id) {
		fprintf(stderr, "relayctl: no backend '%s'\n", argv[0]);
		return EX_FAIL;
	}
	e = madmin_backend_put(a->db, id, &s);
	if (e == RE_ENOTFOUND) {
		fprintf(stderr, "relayctl: model or backend deleted meanwhile\n");
		return EX_FAIL;
	}
	if (e)
		return cm_db(a, "model backend");
	snprintf(detail, sizeof(detail), "backend:%lld model_name=%s weight=%lld region=%s",
		 s.backend_id, s.model_name ? s.model_name : "-", s.weight == -1 ? 1 : s.weight,
		 s.region ? s.region : "");
	audit_shell(a->db, "model.backend", name, detail);
	printf("model '%s' served by backend '%s'\n", name, argv[0]);
	return 0;
}

/* set / del / backend of the existing model name (id). */
static int cm_change(struct app *a, const char *sub, const char *name, long long id,
		     int argc, char **argv)
{
	struct model_spec s = { NULL, NULL, -1 };
	int found = 0, rc;

	if (strcmp(sub, "backend") == 0) {
		if (argc < 1)
			return cm_usage("model backend NAME needs a BACKEND");
		return cm_backend(a, name, id, argc, argv);
	}
	if (strcmp(sub, "del") == 0) {
		if (argc)
			return cm_usage("model del takes only NAME");
		if (madmin_del(a->db, id, &found))
			return cm_db(a, "model del");
		audit_shell(a->db, "model.delete", name, NULL);
		printf("model '%s' deleted\n", name);
		return 0;
	}
	if ((rc = cm_opts(&s, argc, argv, 0)))
		return rc;
	if (madmin_set(a->db, id, &s, &found))
		return cm_db(a, "model set");
	audit_shell(a->db, "model.update", name, s.enabled == -1 ? NULL :
		    s.enabled ? "enabled" : "disabled");
	printf("model '%s' updated\n", name);
	return 0;
}

int ctl_model(struct app *a, int argc, char **argv)
{
	struct model_spec s = { NULL, NULL, -1 };
	long long id;
	enum relay_err e;
	int rc;

	if (argc < 1)
		return cm_usage("model needs a subcommand");
	if (strcmp(argv[0], "list") == 0)
		return argc == 1 ? cm_list(a) : cm_usage("model list takes no arguments");
	if (strcmp(argv[0], "add") && strcmp(argv[0], "set") && strcmp(argv[0], "del") &&
	    strcmp(argv[0], "backend"))
		return cm_usage("unknown model subcommand");
	if (argc < 2 || !madmin_name_ok(argv[1]))
		return cm_usage("missing or bad model NAME (1..255 of [A-Za-z0-9._:/@+-])");
	if (strcmp(argv[0], "add") == 0) {
		s.name = argv[1];
		if ((rc = cm_opts(&s, argc - 2, argv + 2, 1)))
			return rc;
		e = madmin_add(a->db, &s, &id);
		if (e == RE_EINVAL) {
			fprintf(stderr, "relayctl: model '%s' exists already\n", argv[1]);
			return EX_FAIL;
		}
		if (e)
			return cm_db(a, "model add");
		audit_shell(a->db, "model.create", argv[1], NULL);
		printf("model '%s' added\n", argv[1]);
		return 0;
	}
	if ((id = madmin_id(a->db, argv[1])) < 0)
		return cm_db(a, "model lookup");
	if (!id) {
		fprintf(stderr, "relayctl: no model '%s'\n", argv[1]);
		return EX_FAIL;
	}
	return cm_change(a, argv[0], argv[1], id, argc - 2, argv + 2);
}
