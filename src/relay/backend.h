/* backend.h - the upstream accounts of the pool, as a process sees them
 * (issue 13): the implicit default backend 0 made of the legacy settings
 * (openai_url / anthropic_url / upstream_api_key / upstream_slots) and the
 * rows of the backends table, with their keys opened (seal.h).
 *
 * Which backend serves a request is decided in SQL (relay_take_slot,
 * sql/routines/relay_take_slot.sql); the slot lock's name says which one it
 * is. This module turns that into a URL, a key header and the body to send
 * (the model mapping rewrites only the top-level "model" string, every other
 * byte unchanged). */
#ifndef RELAY_BACKEND_H
#define RELAY_BACKEND_H

#include <stddef.h>
#include "bmatch.h"
#include "buf.h"
#include "err.h"
#include "fmt.h"
#include "seal.h"
#include "up.h"

struct db;
struct cfg;

#define BACKEND_NAME_MAX 64
/* Azure OpenAI's api-version when a backend names none (a GA version of
 * the deployment-style data-plane API). */
#define BACKEND_AZURE_API_VERSION "2024-10-21"

/* UP_AUTH_* for an auth name of the backends table ("bearer", "x-api-key",
 * "none", "azure", "aws"); UP_AUTH_BEARER for anything else. */
int backend_auth_kind(const char *name);

struct backend {
	unsigned id;              /* 0 = the implicit default */
	char name[BACKEND_NAME_MAX + 1];
	int fmts;                 /* formats served: 1 OpenAI, 2 Anthropic */
	char base_url[2048];      /* table backends: base the route path is
				     appended to */
	int auth;                 /* UP_AUTH_* */
	char api_version[33];     /* Azure's api-version ("" = the default) */
	char region[33];          /* aws: the region SigV4 signs for */
	char preset[33];          /* preset.h name, "" = none (no support
				     table: every endpoint group passes) */
	char key[1024];           /* clear, this process's memory only */
	int key_ok;               /* 0: a sealed key that would not open */
	char *models;             /* owned; NULL = every model */
	char *map;                /* owned; "pattern=target,..." or NULL */
	int slots, weight, enabled;
	int translate;            /* mode 'translate' (issue 14's hook; requests
				     of its own format pass through as now) */
	int responses;            /* BACKEND_RS_*: serves POST /responses */
	char *mmap;               /* owned; its model entries (issue 29) of
				     enabled models, "public=upstream,..." */
	char *const *mall;        /* the pool's public names that have model
				     entries (&backends.mall; NULL until loaded) */
};

/* Whether an OpenAI-format backend serves POST /responses itself (issue
 * 26): column backends.responses, the `responses` setting for backend 0. */
enum { BACKEND_RS_AUTO = 0, BACKEND_RS_YES, BACKEND_RS_NO };

/* A process's copy of the table, refreshed when backend_gen moves. */
struct backends {
	struct backend *v;        /* owned array of n */
	size_t n;
	long long gen;            /* -1 = never loaded */
	double checked;           /* monotonic time of the last gen check */
	struct backend dflt;      /* backend 0, from the configuration */
	char *mall;               /* owned; every public model name with
				     entries in model_backends, NULL = none:
				     those models are served by their entries
				     only, the others by models/map as before */
	int mkey_ok;
	unsigned char mkey[SEAL_KEY_LEN];
};

/* Formats the default backend serves (1 OpenAI, 2 Anthropic): those whose
 * legacy URL (or SDK base URL) is set. */
int backend_dflt_mask(const struct cfg *c);

/* Sets up bs (nothing loaded yet) and opens the master key if one is
 * configured: 0, or -1 with the reason in err (a process refuses to start
 * then). Free with backends_free. */
int backends_init(struct backends *bs, const struct cfg *c, char *err, size_t errlen);
void backends_free(struct backends *bs);

/* Reloads the table when it changed (checked at most every 2 s, or now
 * with force). Keeps the old copy when the database fails. */
enum relay_err backends_sync(struct backends *bs, struct db *db, int force);

/* Backend by id (0 = the default), or NULL when unknown. Borrowed. */
const struct backend *backend_get(const struct backends *bs, unsigned id);

/* 1 when b serves format f and model (the same rule as relay_serves): a
 * model with entries by its entries' backends only, else b's lists. */
int backend_serves(const struct backend *b, enum fmt_kind f, const char *model);

/* How many enabled backends other than those in `tried` (n ids) serve f
 * and model (NULL = any model): a failed try fails over only when this is > 0. */
int backend_others(const struct backends *bs, enum fmt_kind f, const char *model,
		   const unsigned *tried, int n);

/* "auto" | "yes" | "no" (anything else: auto) as BACKEND_RS_*. */
int backend_rs_parse(const char *v);

/* 1 when a /v1/responses request on b must be translated to Chat
 * Completions (b is chat-only). */
int backend_rs_translates(const struct backend *b);

/* 1 when some enabled backend serving model in the OpenAI format has
 * responses == rs (BACKEND_RS_*). */
int backend_rs_any(const struct backends *bs, const char *model, int rs);

/* An 'auto' backend answered 404/405 on /responses: it is chat-only.
 * Kept in this process and, for a table backend, recorded in its row
 * (responses = 'no', backend_gen bumped) so every process and relayctl
 * backend list see it. */
void backend_rs_learn(struct backends *bs, struct db *db, unsigned id);

/* 1 when backends of format f serve model but every one of them has
 * endpoint group `group` (a route's name) unsupported by its preset
 * (preset.h); their names, comma-separated, into names. 0 otherwise (none
 * serves it, or one may take it). */
int backend_group_unsupported(const struct backends *bs, enum fmt_kind f, const char *model,
			      const char *group, char *names, size_t cap);

/* The mapped upstream model for model under b's mapping (first matching
 * pattern wins) into out: 1 mapped, 0 no mapping applies. */
/* The mapped upstream model for model into out: the upstream name of b's
 * model entry for it, else b's mapping (first matching pattern wins).
 * 1 mapped, 0 no mapping applies. */
int backend_map_model(const struct backend *b, const char *model, char *out, size_t cap);

/* One request prepared for backend b: *rq is in with b's URL (legacy_url
 * for the default when given, else its configured URL for the format;
 * else b's base URL + up_path), key and auth, and the body mapped. The
 * caller's body buffer (initialised) holds a mapped body. Returns 0 or -1
 * with why (static text) when b cannot be used. */
int backend_prepare(const struct backend *b, const struct cfg *c,
		    const struct up_req *in, const char *up_path,
		    const char *model, char *url, size_t urlcap,
		    struct buf *body, struct up_req *rq, const char **why);

/* 1 when the pool has more than one usable backend: only then does a
 * failure count towards a cool-down (a lone upstream's errors pass through
 * as they always did). */
int backend_pooled(const struct backends *bs);

/* A failed try on backend id (status 0 = no answer): counted towards its
 * cool-down (relay_backend_fail) when the pool has others. */
void backend_note_fail(struct db *db, const struct cfg *c, const struct backends *bs,
		       unsigned id, int status, const char *error, int retry_after);

/* The backend (syncing the copy first; once more, forced, when id is not
 * known yet): NULL when it does not exist (deleted meanwhile). */
const struct backend *backend_lookup(struct backends *bs, struct db *db, unsigned id);

/* The JSON text relay_finish takes as p_backend into out:
 * {"id":..,"name":..,"ok":0|1,"translated":1,"tries":[...]} with tries the
 * caller's JSON array text (NULL = none); "translated" only when the
 * exchange was. Returns out. */
const char *backend_log_json(char *out, size_t cap, const struct backend *b, int ok,
			     int translated, const char *tries);

#endif
