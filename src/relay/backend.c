/* backend.c - the pool's runtime view (see backend.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "backend.h"
#include "clip.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "meter.h"
#include "resp.h"
#include "route.h"
#include "bmatch.h"

static double backend_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int backend_dflt_mask(const struct cfg *c)
{
	char url[16];
	int m = 0;

	/* route_upstream_url answers -1 when the format is not configured
	 * (or the URL does not fit, which a real URL does not here: only
	 * "is there one" matters, so a tiny buffer is a fit test too) */
	if (c->openai_url[0] || c->openai_base_url[0] ||
	    !route_upstream_url(c, FMT_OPENAI, "", url, sizeof(url)))
		m |= 1;
	if (c->anthropic_url[0] || c->anthropic_base_url[0] ||
	    !route_upstream_url(c, FMT_ANTHROPIC, "", url, sizeof(url)))
		m |= 2;
	return m;
}

static void backend_clear(struct backend *b)
{
	free(b->models);
	free(b->map);
	free(b->mmap);
	memset(b->key, 0, sizeof(b->key));
	b->models = b->map = b->mmap = NULL;
}

static void backends_drop(struct backends *bs)
{
	size_t i;

	for (i = 0; i < bs->n; i++)
		backend_clear(&bs->v[i]);
	free(bs->v);
	free(bs->mall);
	bs->v = NULL;
	bs->mall = NULL;
	bs->n = 0;
}

int backends_init(struct backends *bs, const struct cfg *c, char *err, size_t errlen)
{
	memset(bs, 0, sizeof(*bs));
	bs->gen = -1;
	bs->dflt.id = 0;
	snprintf(bs->dflt.name, sizeof(bs->dflt.name), "default");
	bs->dflt.fmts = backend_dflt_mask(c);
	bs->dflt.auth = UP_AUTH_DEFAULT;
	snprintf(bs->dflt.key, sizeof(bs->dflt.key), "%s", c->upstream_api_key);
	bs->dflt.key_ok = 1;
	bs->dflt.slots = c->upstream_slots;
	bs->dflt.weight = 1;
	bs->dflt.enabled = bs->dflt.fmts != 0;
	bs->dflt.mall = &bs->mall;
	if (!c->master_key_file[0])
		return 0;
	if (seal_load_key(c->master_key_file, bs->mkey, err, errlen))
		return -1;
	bs->mkey_ok = 1;
	return 0;
}

void backends_free(struct backends *bs)
{
	backends_drop(bs);
	memset(bs->mkey, 0, sizeof(bs->mkey));
	memset(bs->dflt.key, 0, sizeof(bs->dflt.key));
}

/* NULL for SQL NULL or an empty list; else an owned copy. */
static char *backend_dup(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* Fills b from row i of the backends query below. */
static void backend_row(struct backends *bs, const struct db_res *res, unsigned i,
			struct backend *b)
{
	const char *fmt = db_res_str(res, i, 2), *auth = db_res_str(res, i, 4);
	const char *sealed = db_res_str(res, i, 5);

	memset(b, 0, sizeof(*b));
	b->id = (unsigned)db_res_int(res, i, 0, 0);
	snprintf(b->name, sizeof(b->name), "%s", db_res_str(res, i, 1) ? db_res_str(res, i, 1) : "");
	b->fmts = fmt && strcmp(fmt, "anthropic") == 0 ? 2 : 1;
	snprintf(b->base_url, sizeof(b->base_url), "%s",
		 db_res_str(res, i, 3) ? db_res_str(res, i, 3) : "");
	b->auth = auth && strcmp(auth, "x-api-key") == 0 ? UP_AUTH_XKEY : UP_AUTH_BEARER;
	b->key_ok = 1;
	if (sealed) {
		b->key_ok = bs->mkey_ok &&
			seal_open(bs->mkey, (const unsigned char *)sealed,
				  db_res_len(res, i, 5), b->key, sizeof(b->key)) >= 0;
		if (!b->key_ok)
			log_error("backend %s: its key does not open with master_key_file", b->name);
	}
	b->slots = (int)db_res_int(res, i, 6, 1);
	b->weight = (int)db_res_int(res, i, 7, 1);
	b->enabled = (int)db_res_int(res, i, 8, 0);
	b->models = backend_dup(db_res_str(res, i, 9));
	b->map = backend_dup(db_res_str(res, i, 10));
	b->translate = db_res_str(res, i, 11) && strcmp(db_res_str(res, i, 11), "translate") == 0;
	b->mmap = backend_dup(db_res_str(res, i, 12));
	b->mall = &bs->mall;
}

/* The public names with model entries (bs->mall), read with the table. */
static enum relay_err backends_mall(struct db *db, char **out)
{
	struct db_res res;

	*out = NULL;
	if (db_exec(db, "SELECT GROUP_CONCAT(DISTINCT m.name SEPARATOR ',') FROM models m"
		    " JOIN model_backends mb ON mb.model_id = m.id", NULL, 0, &res))
		return RE_EDB;
	*out = backend_dup(res.nrows ? db_res_str(&res, 0, 0) : NULL);
	db_res_free(&res);
	return RE_OK;
}

enum relay_err backends_sync(struct backends *bs, struct db *db, int force)
{
	struct db_res res;
	struct backend *v;
	long long gen;
	double now = backend_now();
	unsigned i;
	char *mall;

	if (!force && bs->gen >= 0 && now - bs->checked < 2.0)
		return RE_OK;
	if (db_exec(db, "SELECT gen FROM backend_gen WHERE id = 1", NULL, 0, &res))
		return RE_EDB;
	gen = db_res_int(&res, 0, 0, 0);
	db_res_free(&res);
	bs->checked = now;
	if (gen == bs->gen && !force)
		return RE_OK;
	if (backends_mall(db, &mall))
		return RE_EDB;
	/* each backend's entries of enabled models, upstream name defaulting
	 * to the public one (GROUP_CONCAT's limit is 1 MB by default) */
	if (db_exec(db, "SELECT id, name, format, base_url, auth, key_sealed, slots,"
		    " weight, enabled, models, model_map, mode, (SELECT GROUP_CONCAT(CONCAT(m.name,"
		    " '=', IF(mb.model_name = '', m.name, mb.model_name)) SEPARATOR ',')"
		    " FROM model_backends mb JOIN models m ON m.id = mb.model_id"
		    " WHERE mb.backend_id = backends.id AND m.enabled = 1)"
		    " FROM backends ORDER BY id", NULL, 0, &res)) {
		free(mall);
		return RE_EDB;
	}
	v = res.nrows ? calloc(res.nrows, sizeof(*v)) : NULL;
	if (res.nrows && !v) {
		db_res_free(&res);
		free(mall);
		return RE_ENOMEM;
	}
	backends_drop(bs);
	bs->mall = mall;
	for (i = 0; i < res.nrows; i++)
		backend_row(bs, &res, i, &v[i]);
	bs->v = v;
	bs->n = res.nrows;
	bs->gen = gen;
	db_res_free(&res);
	return RE_OK;
}


const struct backend *backend_get(const struct backends *bs, unsigned id)
{
	size_t i;

	if (id == 0)
		return &bs->dflt;
	for (i = 0; i < bs->n; i++)
		if (bs->v[i].id == id)
			return &bs->v[i];
	return NULL;
}



int backend_serves(const struct backend *b, enum fmt_kind f, const char *model)
{
	if (!b->enabled || !(b->fmts & (f == FMT_ANTHROPIC ? 2 : 1)))
		return 0;
	if (model && b->mall && *b->mall && bmatch_list(*b->mall, 0, model, NULL, 0))
		return b->id != 0 && bmatch_list(b->mmap, 1, model, NULL, 0);
	if (b->id == 0 || !b->models || !model)
		return 1;   /* NULL model: "serves the format at all" */
	return bmatch_list(b->models, 0, model, NULL, 0) ||
		bmatch_list(b->map, 1, model, NULL, 0);
}

int backend_others(const struct backends *bs, enum fmt_kind f, const char *model,
		   const unsigned *tried, int n)
{
	int count = 0, k, skip;
	size_t i;

	for (i = 0; i <= bs->n; i++) {
		const struct backend *b = i < bs->n ? &bs->v[i] : &bs->dflt;
		for (skip = 0, k = 0; k < n; k++)
			skip |= tried[k] == b->id;
		if (!skip && backend_serves(b, f, model))
			count++;
	}
	return count;
}

int backend_map_model(const struct backend *b, const char *model, char *out, size_t cap)
{
	if (model && b->mmap && bmatch_list(b->mmap, 1, model, out, cap))
		return 1;
	if (!b->map || !model)
		return 0;
	return bmatch_list(b->map, 1, model, out, cap);
}


/* base (trailing '/' dropped) + path into out: 0 or -1. */
static int backend_join(const char *base, const char *path, char *out, size_t cap)
{
	size_t n = strlen(base);
	int w;

	while (n > 0 && base[n - 1] == '/')
		n--;
	w = snprintf(out, cap, "%.*s%s", (int)n, base, path ? path : "");
	return w < 0 || (size_t)w >= cap ? -1 : 0;
}

int backend_prepare(const struct backend *b, const struct cfg *c,
		    const struct up_req *in, const char *up_path,
		    const char *model, char *url, size_t urlcap,
		    struct buf *body, struct up_req *rq, const char **why)
{
	char target[256];

	*rq = *in;
	*why = NULL;
	if (b->id == 0) {
		/* the legacy settings, exactly as before backends existed */
		rq->api_key = NULL;
		rq->auth = UP_AUTH_DEFAULT;
		return 0;
	}
	if (!b->key_ok) {
		*why = "backend key cannot be opened (master_key_file)";
		return -1;
	}
	if (backend_join(b->base_url, up_path, url, urlcap)) {
		*why = "backend URL too long";
		return -1;
	}
	rq->url = url;
	rq->api_key = b->key;
	rq->auth = b->auth;
	if (!in->get && backend_map_model(b, model, target, sizeof(target))) {
		buf_reset(body);
		if (bmatch_splice_model(in->body, in->body_len, target, body) == 0) {
			rq->body = body->data;
			rq->body_len = body->len;
		} else {
			log_warn("backend %s: model mapping skipped (no plain \"model\" member)",
				 b->name);
		}
	}
	(void)c;
	return 0;
}

int backend_pooled(const struct backends *bs)
{
	size_t i;
	int n = bs->dflt.enabled ? 1 : 0;

	for (i = 0; i < bs->n; i++)
		n += bs->v[i].enabled != 0;
	return n > 1;
}

void backend_note_fail(struct db *db, const struct cfg *c, const struct backends *bs,
		       unsigned id, int status, const char *error, int retry_after)
{
	if (!backend_pooled(bs))
		return;
	if (DBX(db, "CALL relay_backend_fail(?, ?, ?, ?, ?, ?, ?)", NULL, DBI(id),
		DBI(status < 0 ? 0 : status),
		error ? DBB(error, clip_utf8(error, 300)) : DBNULL,
		DBI(retry_after), DBI(c->backend_fail_threshold),
		DBI(c->backend_cooldown), DBI(c->backend_cooldown_max)))
		log_warn("backend %u: its failure could not be recorded: %s", id, db_error(db));
}

const struct backend *backend_lookup(struct backends *bs, struct db *db, unsigned id)
{
	const struct backend *b;

	backends_sync(bs, db, 0);
	b = backend_get(bs, id);
	if (!b) {
		backends_sync(bs, db, 1);
		b = backend_get(bs, id);
	}
	return b;
}

const char *backend_log_json(char *out, size_t cap, const struct backend *b, int ok,
			     int translated, const char *tries)
{
	struct json_object *o = json_object_new_object(), *t;

	json_object_object_add(o, "id", json_object_new_int64(b->id));
	json_object_object_add(o, "name", json_object_new_string(b->name));
	json_object_object_add(o, "ok", json_object_new_int(ok ? 1 : 0));
	if (translated)
		json_object_object_add(o, "translated", json_object_new_int(1));
	t = tries ? json_tokener_parse(tries) : NULL;
	if (t)
		json_object_object_add(o, "tries", t);
	snprintf(out, cap, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return out;
}
