/* models.c - allow-list matching and the model list. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "app.h"
#include "buf.h"
#include "db.h"
#include "log.h"
#include "models.h"
#include "relay.h"
#include "route.h"

int models_allowed(const char *list, int set, const char *model)
{
	const char *p = list, *e, *s;
	size_t n = strlen(model);

	if (!set)
		return 1;
	while (p && *p) {
		e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		s = p;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((e - s == 1 && *s == '*') ||
		    ((size_t)(e - s) == n && n && memcmp(s, model, n) == 0))
			return 1;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return 0;
}

/* Ids of a comma-separated list as a new array (caller owns). */
static struct json_object *models_from_csv(const char *csv)
{
	struct json_object *a = json_object_new_array();
	const char *p = csv, *e, *s;

	while (*p) {
		e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		for (s = p; s < e && (*s == ' ' || *s == '\t'); s++)
			;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s)
			json_object_array_add(a, json_object_new_string_len(s, (int)(e - s)));
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return a;
}

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

static struct json_object *models_list_base(struct app *a);

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

/* The configured list, else the default upstream's (cached). */
static struct json_object *models_list_base(struct app *a)
{
	/* per-process cache: the list changes rarely and clients ask often */
	static struct json_object *cache;
	static time_t fetched;
	time_t now = time(NULL);

	if (a->cfg.models[0])
		return models_from_csv(a->cfg.models);
	if (!cache || now - fetched > MODELS_CACHE_S) {
		struct json_object *ids = models_fetch(a);
		if (ids) {
			json_object_put(cache);
			cache = ids;
			fetched = now;
		}
	}
	return cache ? json_object_get(cache) : NULL;
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
		if (!id || !models_allowed(list, set, id)) {
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
