/* models.c - allow-list matching and the model list. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "allow.h"
#include "app.h"
#include "backend.h"
#include "buf.h"
#include "db.h"
#include "log.h"
#include "models.h"
#include "relay.h"
#include "route.h"

/* relay_dest collecting a small body into a buf (ctx). */
static int mc_start(void *ctx, int status, const char *ct, int sse)
{
	(void)ct; (void)sse;
	((struct buf *)ctx)->max = status == 200 ? ((struct buf *)ctx)->max : 0;
	return 0;
}

static int mc_write(void *ctx, const char *p, size_t n)
{
	struct buf *b = ctx;

	if (b->max && buf_append(b, p, n))
		b->max = 0;       /* too big: no list */
	return 0;
}

static int mc_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

/* Asks the upstream (OpenAI base first, then Anthropic's); a new array the
 * caller owns, or NULL. */
static struct json_object *models_fetch(struct app *a)
{
	static const enum fmt_kind order[2] = { FMT_OPENAI, FMT_ANTHROPIC };
	struct json_object *ids = NULL, *doc, *data, *id;
	struct relay_outcome oc;
	struct up_req rq;
	struct buf b;
	char url[2300];
	size_t i, k;

	for (k = 0; k < 2 && !ids; k++) {
		if (route_upstream_url(&a->cfg, order[k],
				       order[k] == FMT_ANTHROPIC ? "/v1/models" : "/models",
				       url, sizeof(url)))
			continue;
		struct relay_dest d = { mc_start, mc_write, mc_flush, &b, NULL };
		buf_init(&b, 1 << 20);
		memset(&rq, 0, sizeof(rq));
		rq.fmt = order[k];
		rq.url = url;
		rq.get = 1;
		relay_exchange(a->up, &rq, &d, &oc);
		doc = oc.err == RE_OK && b.max && b.len ? json_tokener_parse(b.data) : NULL;
		if (json_object_object_get_ex(doc, "data", &data) &&
		    json_object_is_type(data, json_type_array)) {
			ids = json_object_new_array();
			for (i = 0; i < json_object_array_length(data); i++)
				if (json_object_object_get_ex(json_object_array_get_idx(data, i),
							      "id", &id) &&
				    json_object_is_type(id, json_type_string))
					json_object_array_add(ids, json_object_get(id));
		} else {
			log_warn("upstream model list unavailable (status %d)", oc.status);
		}
		json_object_put(doc);
		buf_free(&b);
	}
	return ids;
}

/* Appends the n bytes at p to ids unless they are there already. */
static void models_add(struct json_object *ids, const char *p, size_t n)
{
	size_t i, len = json_object_array_length(ids);

	if (!n)
		return;
	for (i = 0; i < len; i++) {
		struct json_object *e = json_object_array_get_idx(ids, i);
		if ((size_t)json_object_get_string_len(e) == n &&
		    memcmp(json_object_get_string(e), p, n) == 0)
			return;
	}
	json_object_array_add(ids, json_object_new_string_len(p, (int)n));
}

/* The entries of a comma list (map = 1: the pattern before each '=')
 * added to ids; "*" alone says nothing about names and is left out. */
static void models_add_csv(struct json_object *ids, const char *csv, int map)
{
	const char *p = csv, *e, *s, *eq;

	while (p && *p) {
		e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		eq = map ? memchr(p, '=', (size_t)(e - p)) : NULL;
		for (s = p; s < e && (*s == ' ' || *s == '\t'); s++)
			;
		if (eq)
			e = eq;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (!(e - s == 1 && *s == '*'))
			models_add(ids, s, (size_t)(e - s));
		p = strchr(p, ',');
		if (p)
			p++;
	}
}

/* The legacy default backend's list: the `models` setting, else its
 * upstream's own GET .../models, cached per process (the list changes
 * rarely and clients ask often). Borrowed, or NULL. */
static struct json_object *models_legacy(struct app *a)
{
	static struct json_object *cache;
	static time_t fetched;
	time_t now = time(NULL);

	if (!cache || now - fetched > MODELS_CACHE_S) {
		struct json_object *ids = models_fetch(a);
		if (ids) {
			json_object_put(cache);
			cache = ids;
			fetched = now;
		}
	}
	return cache;
}

/* Every backend's models (below), the key-independent part. */
static struct json_object *models_list_base(struct app *a)
{
	struct json_object *ids = json_object_new_array(), *leg;
	const struct backends *bs = &a->bk;
	size_t i;

	if (a->cfg.models[0]) {
		models_add_csv(ids, a->cfg.models, 0);
	} else if (bs->dflt.enabled && (leg = models_legacy(a))) {
		for (i = 0; i < json_object_array_length(leg); i++) {
			struct json_object *e = json_object_array_get_idx(leg, i);
			models_add(ids, json_object_get_string(e),
				   (size_t)json_object_get_string_len(e));
		}
	}
	/* table backends: their configured names (globs as configured) */
	backends_sync(&a->bk, a->db, 0);
	for (i = 0; i < bs->n; i++) {
		if (!bs->v[i].enabled)
			continue;
		if (bs->v[i].models)
			models_add_csv(ids, bs->v[i].models, 0);
		if (bs->v[i].map)
			models_add_csv(ids, bs->v[i].map, 1);
	}
	return ids;
}

/* ids (owned, may be NULL) plus the enabled model entries (issue 29,
 * models with backends) not among them, as a new array. */
static struct json_object *models_with_entries(struct app *a, struct json_object *ids)
{
	struct json_object *out;
	struct db_res res;
	size_t n;

	if (db_exec(a->db, "SELECT m.name FROM models m WHERE m.enabled = 1 AND EXISTS"
		    " (SELECT 1 FROM model_backends mb WHERE mb.model_id = m.id) ORDER BY m.name",
		    NULL, 0, &res)) {
		log_warn("model entries unavailable: %s", db_error(a->db));
		return ids;
	}
	if (!res.nrows) {
		db_res_free(&res);
		return ids;
	}
	out = json_object_new_array();
	n = ids ? json_object_array_length(ids) : 0;
	for (size_t i = 0; i < n; i++)
		json_object_array_add(out, json_object_get(json_object_array_get_idx(ids, i)));
	for (unsigned r = 0; r < res.nrows; r++) {
		const char *name = db_res_str(&res, r, 0);
		int dup = 0;
		for (size_t i = 0; i < n && !dup; i++)
			dup = strcmp(json_object_get_string(json_object_array_get_idx(ids, i)), name) == 0;
		if (!dup)
			json_object_array_add(out, json_object_new_string(name));
	}
	db_res_free(&res);
	json_object_put(ids);
	return out;
}

struct json_object *models_list(struct app *a)
{
	return models_with_entries(a, models_list_base(a));
}

int models_served(struct app *a, const char *model)
{
	return backend_others(&a->bk, FMT_OPENAI, model, NULL, 0) > 0 ||
		backend_others(&a->bk, FMT_ANTHROPIC, model, NULL, 0) > 0;
}

void models_add_allowed(struct app *a, struct json_object *ids, const char *list, int set)
{
	const char *p = list, *e, *s;
	char name[256];

	while (set && p && *p) {
		e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		for (s = p; s < e && (*s == ' ' || *s == '\t'); s++)
			;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s && (size_t)(e - s) < sizeof(name) && !memchr(s, '*', (size_t)(e - s))) {
			memcpy(name, s, (size_t)(e - s));
			name[e - s] = '\0';
			if (models_served(a, name))
				models_add(ids, name, strlen(name));
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
}

struct json_object *models_render(struct json_object *ids, const char *list,
				  int set, int anthropic)
{
	struct json_object *o = json_object_new_object(), *data = json_object_new_array();
	const char *first = NULL, *last = NULL, *id;
	size_t i, n = ids ? json_object_array_length(ids) : 0;

	for (i = 0; i < n; i++) {
		struct json_object *m = json_object_new_object();
		id = json_object_get_string(json_object_array_get_idx(ids, i));
		if (!id || !allow_model(list, set, id)) {
			json_object_put(m);
			continue;
		}
		if (anthropic) {
			json_object_object_add(m, "type", json_object_new_string("model"));
			json_object_object_add(m, "id", json_object_new_string(id));
			json_object_object_add(m, "display_name", json_object_new_string(id));
			json_object_object_add(m, "created_at",
					       json_object_new_string("2024-01-01T00:00:00Z"));
		} else {
			json_object_object_add(m, "id", json_object_new_string(id));
			json_object_object_add(m, "object", json_object_new_string("model"));
			json_object_object_add(m, "created", json_object_new_int64(1704067200));
			json_object_object_add(m, "owned_by", json_object_new_string("llm-relay"));
		}
		json_object_array_add(data, m);
		if (!first)
			first = id;
		last = id;
	}
	if (anthropic) {
		json_object_object_add(o, "data", data);
		json_object_object_add(o, "has_more", json_object_new_boolean(0));
		json_object_object_add(o, "first_id", first ? json_object_new_string(first) : NULL);
		json_object_object_add(o, "last_id", last ? json_object_new_string(last) : NULL);
	} else {
		json_object_object_add(o, "object", json_object_new_string("list"));
		json_object_object_add(o, "data", data);
	}
	return o;
}
