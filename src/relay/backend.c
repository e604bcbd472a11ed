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
#include "preset.h"
#include "sigv4.h"

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
	bs->dflt.responses = backend_rs_parse(c->responses);
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

int backend_auth_kind(const char *name)
{
	if (!name)
		return UP_AUTH_BEARER;
	if (strcmp(name, "x-api-key") == 0)
		return UP_AUTH_XKEY;
	if (strcmp(name, "none") == 0)
		return UP_AUTH_NONE;
	if (strcmp(name, "azure") == 0)
		return UP_AUTH_AZURE;
	if (strcmp(name, "aws") == 0)
		return UP_AUTH_AWS;
	return UP_AUTH_BEARER;
}

/* NULL for SQL NULL or an empty list; else an owned copy. */
static char *backend_dup(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

int backend_rs_parse(const char *v)
{
	if (v && strcmp(v, "yes") == 0)
		return BACKEND_RS_YES;
	if (v && strcmp(v, "no") == 0)
		return BACKEND_RS_NO;
	return BACKEND_RS_AUTO;
}

int backend_rs_translates(const struct backend *b)
{
	return b && b->responses == BACKEND_RS_NO;
}

int backend_rs_any(const struct backends *bs, const char *model, int rs)
{
	size_t i;

	for (i = 0; i <= bs->n; i++) {
		const struct backend *b = i < bs->n ? &bs->v[i] : &bs->dflt;

		if (backend_serves(b, FMT_OPENAI, model) && b->responses == rs)
			return 1;
	}
	return 0;
}

void backend_rs_learn(struct backends *bs, struct db *db, unsigned id)
{
	size_t i;

	if (id == 0) {
		/* the legacy settings cannot be written: this process keeps it */
		bs->dflt.responses = BACKEND_RS_NO;
		log_info("backend default: no /responses (404/405); translating from now on");
		return;
	}
	for (i = 0; i < bs->n; i++)
		if (bs->v[i].id == id)
			bs->v[i].responses = BACKEND_RS_NO;
	/* every process (and relayctl backend list) learns it from the table */
	if (DBX(db, "UPDATE backends SET responses = 'no' WHERE id = ? AND responses = 'auto'",
		NULL, DBI(id)) || db_exec(db, "CALL relay_backend_bump()", NULL, 0, NULL))
		log_warn("backend %u: could not record responses = no: %s", id, db_error(db));
	else
		log_info("backend %u: no /responses (404/405); recorded responses = no", id);
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
	b->auth = backend_auth_kind(auth);
	snprintf(b->api_version, sizeof(b->api_version), "%s",
		 db_res_str(res, i, 12) ? db_res_str(res, i, 12) : "");
	snprintf(b->preset, sizeof(b->preset), "%s",
		 db_res_str(res, i, 13) ? db_res_str(res, i, 13) : "");
	snprintf(b->region, sizeof(b->region), "%s",
		 db_res_str(res, i, 14) ? db_res_str(res, i, 14) : "");
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
	b->responses = backend_rs_parse(db_res_str(res, i, 15));
	b->mmap = backend_dup(db_res_str(res, i, 16));
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
		    " weight, enabled, models, model_map, mode, api_version, preset, region,"
		    " responses, (SELECT GROUP_CONCAT(CONCAT(m.name,"
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

int backend_group_unsupported(const struct backends *bs, enum fmt_kind f, const char *model,
			      const char *group, char *names, size_t cap)
{
	size_t i, len = 0;
	int seen = 0;

	names[0] = '\0';
	for (i = 0; i <= bs->n; i++) {
		const struct backend *b = i < bs->n ? &bs->v[i] : &bs->dflt;
		if (!backend_serves(b, f, model))
			continue;
		if (b->id == 0 || bk_preset_support(b->preset, group) != 'u')
			return 0;
		/* /responses on any OpenAI-format backend: passed through, or
		 * translated to Chat Completions on a chat-only one */
		if (f == FMT_OPENAI && strcmp(group, "responses") == 0)
			return 0;
		if (len + strlen(b->name) + 3 < cap)
			len += (size_t)snprintf(names + len, cap - len, "%s%s",
						seen ? ", " : "", b->name);
		seen = 1;
	}
	return seen;
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

/* Azure OpenAI's deployment-style URL: {base}/openai/deployments/{dep}
 * {up_path}?api-version=V, the deployment being the model mapped by b
 * (else the client's model name). A base that already ends in /openai/v1
 * is Azure's v1 style: the path is appended as for OpenAI, no version.
 * 0, or -1 (no usable deployment name, or too long). */
static int backend_azure_url(const struct backend *b, const char *up_path,
			     const char *model, char *url, size_t cap)
{
	char dep[256], path[600];
	size_t n = strlen(b->base_url), i;
	int w;

	while (n > 0 && b->base_url[n - 1] == '/')
		n--;
	if (n >= 10 && strncmp(b->base_url + n - 10, "/openai/v1", 10) == 0)
		return backend_join(b->base_url, up_path, url, cap);
	if (!backend_map_model(b, model, dep, sizeof(dep)))
		snprintf(dep, sizeof(dep), "%s", model ? model : "");
	/* a deployment name is a path segment: letters, digits, . _ - */
	for (i = 0; dep[i]; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			    dep[i]))
			return -1;
	if (!dep[0] || strcmp(up_path ? up_path : "", "/models") == 0) {
		/* no model (the probe): the resource's model list */
		w = snprintf(path, sizeof(path), "/openai/models");
	} else {
		w = snprintf(path, sizeof(path), "/openai/deployments/%s%s", dep,
			     up_path ? up_path : "");
	}
	if (w < 0 || (size_t)w >= sizeof(path))
		return -1;
	w = snprintf(url, cap, "%.*s%s?api-version=%s", (int)n, b->base_url, path,
		     b->api_version[0] ? b->api_version : BACKEND_AZURE_API_VERSION);
	return w < 0 || (size_t)w >= cap ? -1 : 0;
}

/* AWS Bedrock InvokeModel for an Anthropic Messages request: URL
 * {base}/model/{id}/invoke (id = the mapped model, else the model,
 * URI-encoded), body = the request without "model" and with
 * anthropic_version bedrock-2023-05-31 (Bedrock's body rule). Streaming
 * (invoke-with-response-stream, AWS event-stream framing) is not done
 * yet: refused. 0 or -1 with why. */
static int backend_bedrock(const struct backend *b, const struct up_req *in,
			   const char *model, char *url, size_t cap, struct buf *body,
			   struct up_req *rq, const char **why)
{
	char id[256], enc[800], path[900];
	struct json_object *o = NULL;
	struct json_tokener *tok;
	const char *s;

	if (in->stream) {
		*why = "streaming through an AWS Bedrock backend is not supported yet";
		return -1;
	}
	if (!backend_map_model(b, model, id, sizeof(id)))
		snprintf(id, sizeof(id), "%s", model ? model : "");
	if (!id[0] || sigv4_uri_encode(id, 0, enc, sizeof(enc))) {
		*why = "no Bedrock model id";
		return -1;
	}
	snprintf(path, sizeof(path), "/model/%s/invoke", enc);
	tok = in->get || in->body_len > 0x7fffffff ? NULL : json_tokener_new();
	if (tok) {
		o = json_tokener_parse_ex(tok, in->body, (int)in->body_len);
		json_tokener_free(tok);
	}
	if (backend_join(b->base_url, path, url, cap) || !o ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*why = "a Bedrock request needs a JSON body (and a URL that fits)";
		return -1;
	}
	json_object_object_del(o, "model");
	json_object_object_del(o, "anthropic_version");
	json_object_object_add(o, "anthropic_version",
			       json_object_new_string("bedrock-2023-05-31"));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	buf_reset(body);
	if (buf_append(body, s, strlen(s))) {
		json_object_put(o);
		*why = "request too large";
		return -1;
	}
	json_object_put(o);
	rq->url = url;
	rq->body = body->data;
	rq->body_len = body->len;
	rq->api_key = b->key;
	rq->auth = UP_AUTH_AWS;
	rq->aws_region = b->region;
	rq->aws_service = "bedrock";
	return 0;
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
	if (b->auth == UP_AUTH_AWS)
		return backend_bedrock(b, in, model, url, urlcap, body, rq, why);
	if (b->auth == UP_AUTH_AZURE ?
	    backend_azure_url(b, up_path, model, url, urlcap) :
	    backend_join(b->base_url, up_path, url, urlcap)) {
		*why = "backend URL too long (or no deployment name)";
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
