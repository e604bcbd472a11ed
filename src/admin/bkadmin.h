/* bkadmin.h - managing the pool's backends (issue 13): presets, checks,
 * add / set / delete / list / test. relayctl calls these; the web console
 * can call the same ones for its backends pages.
 *
 * Keys are sealed here (seal.h) before they reach the database and are
 * never shown again: listings carry the last 4 characters only. Every
 * change bumps backend_gen so processes reload their copy (backend.h). */
#ifndef RELAY_BKADMIN_H
#define RELAY_BKADMIN_H

#include <stddef.h>
#include "err.h"

struct app;
struct db_res;

/* A provider preset: base URL per format and the key header. */
struct bk_preset {
	const char *name;
	const char *openai_url;     /* NULL = no OpenAI-format endpoint */
	const char *anthropic_url;  /* NULL = no Anthropic-format endpoint */
	const char *label;
};

/* The preset named name (case-insensitive), or NULL. */
const struct bk_preset *bk_preset_find(const char *name);
/* All presets, terminated by a NULL name. */
extern const struct bk_preset bk_presets[];

/* What add / set change. NULL strings and -1 numbers = not given. */
struct bk_spec {
	const char *name;
	const char *preset;
	const char *format;         /* "openai" | "anthropic" */
	const char *url;
	const char *auth;           /* "bearer" | "x-api-key" */
	const char *key;            /* the upstream key in clear ("" = none) */
	const char *models;         /* comma list, "" = every model */
	const char *map;            /* "pattern=target,...", "" = none */
	const char *mode;           /* "pass" | "translate" */
	const char *region;         /* a label, "" = none (1..64 printable) */
	long long slots, weight, priority;
	int enabled;
};

/* An empty spec for backend name: nothing given. */
void bk_spec_init(struct bk_spec *s, const char *name);

/* Checks a spec for add (adding = 1: name, format/preset and URL needed)
 * or set; fills in what the preset implies. 0, or -1 with a message for
 * the user in err (relayctl exits 2 then). */
int bk_check(struct bk_spec *s, int adding, char *err, size_t errlen);

/* Adds / changes backend s->name. RE_EINVAL with err set for a refusal
 * (name taken, no such backend, a key but no master key); RE_EDB else. */
enum relay_err bk_add(struct app *a, const struct bk_spec *s, char *err, size_t errlen);
enum relay_err bk_set(struct app *a, const struct bk_spec *s, char *err, size_t errlen);
/* Deletes backend name: RE_ENOTFOUND when there is none. */
enum relay_err bk_del(struct app *a, const char *name);

/* The listing (table backends only): id, name, format, base_url, auth,
 * key last 4, slots, weight, enabled, models, model_map, mode, fails,
 * cool_until, last_status, last_error, cooling (1/0), preset, priority. */
enum relay_err bk_list(struct app *a, struct db_res *res);

/* Probes backend name (GET <base>/models, or /v1/models for Anthropic)
 * and records the outcome in its health state. *status = HTTP status
 * (0 = no answer), *ms the latency, why the failure ("" when fine). */
enum relay_err bk_test(struct app *a, const char *name, int *status, long *ms,
		       char *why, size_t whylen);

#endif
