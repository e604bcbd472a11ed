/* bkadmin.c - backend administration (see bkadmin.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "app.h"
#include "backend.h"
#include "bkadmin.h"
#include "db.h"
#include "log.h"
#include "relay.h"
#include "route.h"
#include "seal.h"
#include "preset.h"

/* Base URLs as the providers document them: OpenAI-format bases end where
 * "/chat/completions" is appended, Anthropic-format bases where
 * "/v1/messages" is. */
/* 1 when every byte of s is in the allowed set (and s is 1..max long). */
static int bk_chars(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr(extra, c)))
			return 0;
	}
	return 1;
}

static int bk_fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

/* A model list / mapping: entries of model characters and '*'; with map,
 * each "pattern=target" (target without '*'). */
static int bk_list_ok(const char *s, int map)
{
	char item[300];
	const char *p = s, *e;

	if (!*s)
		return 1;
	if (strlen(s) > 4000)
		return 0;
	while (*p) {
		const char *eq;
		e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		if ((size_t)(e - p) >= sizeof(item))
			return 0;
		snprintf(item, sizeof(item), "%.*s", (int)(e - p), p);
		eq = strchr(item, '=');
		if (map) {
			if (!eq || !bk_chars(eq + 1, 255, "._:/@+-") )
				return 0;
			item[eq - item] = '\0';
		} else if (eq) {
			return 0;
		}
		if (!bk_chars(item, 255, "._:/@+*-"))
			return 0;
		p = *e ? e + 1 : e;
	}
	return 1;
}

/* --auth aws: Anthropic format, a key "ACCESS_KEY_ID:SECRET[:TOKEN]",
 * a region (--region, else the URL's bedrock-runtime.REGION.amazonaws.com). */
static int bk_aws_check(struct bk_spec *s, int adding, char *err, size_t errlen)
{
	static char region[33];
	const char *h;
	size_t n;

	if (s->format && strcmp(s->format, "anthropic"))
		return bk_fail(err, errlen, "--auth aws serves --format anthropic (Bedrock's"
			       " Anthropic models)");
	if (s->key && *s->key && !strchr(s->key, ':'))
		return bk_fail(err, errlen, "--auth aws takes the key as"
			       " ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]");
	if (!s->region && s->url && (h = strstr(s->url, "bedrock-runtime.")) != NULL) {
		h += 16;
		n = strcspn(h, ".");
		if (n > 0 && n < sizeof(region) && strncmp(h + n, ".amazonaws.com", 14) == 0) {
			snprintf(region, sizeof(region), "%.*s", (int)n, h);
			s->region = region;
		}
	}
	if (adding && !s->region)
		return bk_fail(err, errlen, "--auth aws needs --region (or a URL"
			       " https://bedrock-runtime.REGION.amazonaws.com)");
	return 0;
}

/* A region label: 0..64 bytes, no spaces or control characters. */
static int bk_region_ok(const char *r)
{
	size_t n = strlen(r);

	if (n > 64)
		return 0;
	for (; *r; r++)
		if ((unsigned char)*r <= ' ' || *r == 0x7f)
			return 0;
	return 1;
}

int bk_check(struct bk_spec *s, int adding, char *err, size_t errlen)
{
	const struct bk_preset *p = NULL;
	const char *k;

	if (!s->name || !bk_chars(s->name, BACKEND_NAME_MAX, "._-"))
		return bk_fail(err, errlen, "NAME must be 1..64 characters of A-Z a-z 0-9 . _ -");
	if (strcmp(s->name, "default") == 0)
		return bk_fail(err, errlen, "\"default\" is the backend of the legacy settings"
			       " (openai_url, anthropic_url, upstream_api_key, upstream_slots);"
			       " pick another NAME");
	if (s->preset) {
		p = bk_preset_find(s->preset);
		if (!p)
			return bk_fail(err, errlen, "unknown --preset (see relayctl backend presets)");
		if (!s->format)
			s->format = p->openai_url ? "openai" : p->anthropic_url ? "anthropic" :
				strcmp(p->name, "anthropic-compatible") == 0 ? "anthropic" : "openai";
		if (!s->auth && adding && p->auth)
			s->auth = p->auth;
	}
	if (s->format && strcmp(s->format, "openai") && strcmp(s->format, "anthropic"))
		return bk_fail(err, errlen, "--format takes openai or anthropic");
	if (p && !s->url && s->format) {
		s->url = strcmp(s->format, "anthropic") == 0 ? p->anthropic_url : p->openai_url;
		if (!s->url && adding)
			return bk_fail(err, errlen, "this preset has no endpoint of that --format;"
				       " give --url");
	}
	if (adding && !s->format)
		return bk_fail(err, errlen, "backend add needs --format openai|anthropic or --preset");
	if (adding && !s->url)
		return bk_fail(err, errlen, "backend add needs --url (or a --preset that has one)");
	if (s->url && ((strncmp(s->url, "http://", 7) && strncmp(s->url, "https://", 8)) ||
		       strlen(s->url) > 2000 || strpbrk(s->url, " \t\r\n\"'<>\\")))
		return bk_fail(err, errlen, "--url must be an http:// or https:// URL without spaces");
	if (!s->auth && adding)
		s->auth = strcmp(s->format, "anthropic") == 0 ? "x-api-key" : "bearer";
	if (s->auth && strcmp(s->auth, "bearer") && strcmp(s->auth, "x-api-key") &&
	    strcmp(s->auth, "none") && strcmp(s->auth, "azure") && strcmp(s->auth, "aws"))
		return bk_fail(err, errlen, "--auth takes bearer, x-api-key, azure, aws or none");
	if (s->auth && strcmp(s->auth, "aws") == 0 && bk_aws_check(s, adding, err, errlen))
		return -1;
	if (s->auth && strcmp(s->auth, "none") == 0 && s->key && *s->key)
		return bk_fail(err, errlen, "--auth none sends no credential: give no --key");
	if (s->auth && strcmp(s->auth, "azure") == 0 && s->format &&
	    strcmp(s->format, "openai"))
		return bk_fail(err, errlen, "--auth azure serves --format openai (Azure OpenAI)");
	if (s->region && *s->region && !bk_chars(s->region, 32, "-"))
		return bk_fail(err, errlen, "--region takes an AWS region such as us-east-1");
	if (s->api_version && *s->api_version &&
	    !bk_chars(s->api_version, 32, "-._"))
		return bk_fail(err, errlen, "--api-version takes a version such as 2024-10-21"
			       " (letters, digits, - . _)");
	if (p && !s->responses && adding && bk_preset_responses(p->name))
		s->responses = bk_preset_responses(p->name);
	if (s->responses && strcmp(s->responses, "auto") && strcmp(s->responses, "yes") &&
	    strcmp(s->responses, "no"))
		return bk_fail(err, errlen, "--responses takes yes, no or auto");
	if (s->mode && strcmp(s->mode, "pass") && strcmp(s->mode, "translate"))
		return bk_fail(err, errlen, "--mode takes pass or translate");
	for (k = s->key; k && *k; k++)
		if ((unsigned char)*k < 0x21 || (unsigned char)*k == 0x7f)
			return bk_fail(err, errlen, "the key has spaces or control characters");
	if (s->key && strlen(s->key) > 1000)
		return bk_fail(err, errlen, "the key is longer than 1000 characters");
	if (s->models && !bk_list_ok(s->models, 0))
		return bk_fail(err, errlen, "--models takes model names or globs"
			       " [A-Za-z0-9._:/@+-*] separated by commas");
	if (s->map && !bk_list_ok(s->map, 1))
		return bk_fail(err, errlen, "--map takes pattern=target pairs separated by commas"
			       " (e.g. 'claude-*=MiniMax-M2.7')");
	if (s->region && !bk_region_ok(s->region))
		return bk_fail(err, errlen, "--region takes up to 64 characters without spaces");
	if (s->slots != -1 && (s->slots < 1 || s->slots > 1000))
		return bk_fail(err, errlen, "--slots takes a number 1..1000");
	if (s->weight != -1 && (s->weight < 1 || s->weight > 1000))
		return bk_fail(err, errlen, "--weight takes a number 1..1000");
	if (s->priority != -1 && (s->priority < 0 || s->priority > 1000))
		return bk_fail(err, errlen, "--priority takes a number 0..1000");
	return 0;
}

void bk_spec_init(struct bk_spec *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->slots = s->weight = s->priority = -1;
	s->enabled = -1;
}

/* Seals key into out; *n its length. -1 with err when there is no master
 * key. An empty key seals to nothing (*n = 0). */
static int bk_seal(struct app *a, const char *key, unsigned char *out, size_t cap,
		   size_t *n, char *last4, char *err, size_t errlen)
{
	size_t len = key ? strlen(key) : 0;
	long r;

	*n = 0;
	last4[0] = '\0';
	if (!len)
		return 0;
	if (!a->bk.mkey_ok)
		return bk_fail(err, errlen, "a backend key is stored sealed: set master_key_file"
			       " (a 0600 file of 64 hex characters, see README) first");
	r = seal_close(a->bk.mkey, key, len, out, cap);
	if (r < 0)
		return bk_fail(err, errlen, "sealing the key failed");
	*n = (size_t)r;
	snprintf(last4, 5, "%s", key + (len > 4 ? len - 4 : 0));
	return 0;
}

static enum relay_err bk_bump(struct app *a)
{
	return db_exec(a->db, "CALL relay_backend_bump()", NULL, 0, NULL) ? RE_EDB : RE_OK;
}

enum relay_err bk_add(struct app *a, const struct bk_spec *s, char *err, size_t errlen)
{
	unsigned char sealed[1100];
	char last4[5];
	size_t n;
	enum relay_err rc;

	if (bk_seal(a, s->key, sealed, sizeof(sealed), &n, last4, err, errlen))
		return RE_EINVAL;
	rc = DBX(a->db, "INSERT INTO backends (name, format, base_url, auth, key_sealed,"
		 " key_last4, slots, weight, priority, enabled, models, model_map, mode, preset,"
		 " api_version, region, responses) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''),"
		 " NULLIF(?, ''), ?, ?, NULLIF(?, ''), NULLIF(?, ''), ?)",
		 NULL, DBS(s->name), DBS(s->format), DBS(s->url), DBS(s->auth),
		 n ? DBB((const char *)sealed, n) : DBNULL, DBS(last4),
		 DBI(s->slots == -1 ? 1 : s->slots), DBI(s->weight == -1 ? 1 : s->weight),
		 DBI(s->priority == -1 ? 0 : s->priority),
		 DBI(s->enabled == -1 ? 1 : s->enabled), DBS(s->models ? s->models : ""),
		 DBS(s->map ? s->map : ""), DBS(s->mode ? s->mode : "pass"),
		 DBS(s->preset ? s->preset : ""), DBS(s->api_version ? s->api_version : ""),
		 DBS(s->region ? s->region : ""), DBS(s->responses ? s->responses : "auto"));
	memset(sealed, 0, sizeof(sealed));
	if (rc && db_errno(a->db) == 1062) {
		snprintf(err, errlen, "a backend named %s exists already", s->name);
		return RE_EINVAL;
	}
	if (rc)
		return RE_EDB;
	/* a stale slot-free state of an old backend with this id is moot */
	db_exec(a->db, "DELETE FROM backend_state WHERE backend_id = LAST_INSERT_ID()",
		NULL, 0, NULL);
	return bk_bump(a);
}

/* 1 when backend name exists, 0 not, -1 database error. */
static int bk_exists(struct app *a, const char *name)
{
	struct db_res res;
	int found;

	if (DBX(a->db, "SELECT id FROM backends WHERE name = ?", &res, DBS(name)))
		return -1;
	found = res.nrows > 0;
	db_res_free(&res);
	return found;
}

enum relay_err bk_set(struct app *a, const struct bk_spec *s, char *err, size_t errlen)
{
	unsigned char sealed[1100];
	char last4[5];
	size_t n = 0;
	int ex = bk_exists(a, s->name);
	enum relay_err rc;

	if (ex < 0)
		return RE_EDB;
	if (!ex) {
		snprintf(err, errlen, "no backend named %s (see relayctl backend list)", s->name);
		return RE_EINVAL;
	}
	if (s->key && bk_seal(a, s->key, sealed, sizeof(sealed), &n, last4, err, errlen))
		return RE_EINVAL;
	rc = DBX(a->db, "UPDATE backends SET format = COALESCE(?, format),"
		 " base_url = COALESCE(?, base_url), auth = COALESCE(?, auth),"
		 " key_sealed = IF(? = 1, ?, key_sealed), key_last4 = IF(? = 1, ?, key_last4),"
		 " slots = COALESCE(?, slots), weight = COALESCE(?, weight),"
		 " priority = COALESCE(?, priority), enabled = COALESCE(?, enabled),"
		 " models = IF(? = 1, NULLIF(?, ''), models),"
		 " model_map = IF(? = 1, NULLIF(?, ''), model_map),"
		 " mode = COALESCE(?, mode), preset = COALESCE(?, preset),"
		 " api_version = IF(? = 1, NULLIF(?, ''), api_version),"
		 " region = IF(? = 1, NULLIF(?, ''), region),"
		 " responses = COALESCE(?, responses) WHERE name = ?", NULL,
		 DBS(s->format), DBS(s->url), DBS(s->auth),
		 DBI(s->key ? 1 : 0), n ? DBB((const char *)sealed, n) : DBNULL,
		 DBI(s->key ? 1 : 0), DBS(s->key ? last4 : ""),
		 s->slots == -1 ? DBNULL : DBI(s->slots),
		 s->weight == -1 ? DBNULL : DBI(s->weight),
		 s->priority == -1 ? DBNULL : DBI(s->priority),
		 s->enabled == -1 ? DBNULL : DBI(s->enabled),
		 DBI(s->models ? 1 : 0), DBS(s->models ? s->models : ""),
		 DBI(s->map ? 1 : 0), DBS(s->map ? s->map : ""),
		 DBS(s->mode), DBS(s->preset), DBI(s->api_version ? 1 : 0),
		 DBS(s->api_version ? s->api_version : ""), DBI(s->region ? 1 : 0),
		 DBS(s->region ? s->region : ""), DBS(s->responses), DBS(s->name));
	memset(sealed, 0, sizeof(sealed));
	if (rc)
		return RE_EDB;
	/* re-enabled or re-pointed: start with a clean bill of health */
	if (s->enabled == 1 || s->url || s->key)
		DBX(a->db, "DELETE s FROM backend_state s JOIN backends b ON b.id = s.backend_id"
		    " WHERE b.name = ?", NULL, DBS(s->name));
	return bk_bump(a);
}

enum relay_err bk_del(struct app *a, const char *name)
{
	if (DBX(a->db, "DELETE s FROM backend_state s JOIN backends b ON b.id = s.backend_id"
		" WHERE b.name = ?", NULL, DBS(name)))
		return RE_EDB;
	if (DBX(a->db, "DELETE FROM backends WHERE name = ?", NULL, DBS(name)))
		return RE_EDB;
	if (db_affected(a->db) == 0)
		return RE_ENOTFOUND;
	return bk_bump(a);
}

enum relay_err bk_list(struct app *a, struct db_res *res)
{
	return DBX(a->db, "SELECT b.id, b.name, b.format, b.base_url, b.auth, b.key_last4,"
		   " b.slots, b.weight, b.enabled, b.models, b.model_map, b.mode,"
		   " COALESCE(s.fails, 0), s.cool_until, s.last_status, s.last_error,"
		   " s.cool_until IS NOT NULL AND s.cool_until > NOW(3), b.preset, b.priority,"
		   " b.responses FROM backends b LEFT JOIN backend_state s ON s.backend_id = b.id"
		   " WHERE b.id > ? ORDER BY b.id", res, DBI(0)) ? RE_EDB : RE_OK;
}

/* A destination that drops the probe's answer. */
static int bk_d_start(void *ctx, int status, const char *ct, int sse)
{
	(void)ctx; (void)status; (void)ct; (void)sse;
	return 0;
}

static int bk_d_write(void *ctx, const char *p, size_t n)
{
	(void)ctx; (void)p; (void)n;
	return 0;
}

static int bk_d_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

enum relay_err bk_test(struct app *a, const char *name, int *status, long *ms,
		       char *why, size_t whylen)
{
	struct relay_dest d = { bk_d_start, bk_d_write, bk_d_flush, NULL, NULL };
	const struct backend *b = NULL;
	struct relay_outcome oc;
	struct up_req in, rq;
	struct buf body;
	const char *err = NULL;
	char url[2300];
	enum fmt_kind f;
	size_t i;
	int bad;

	*status = 0;
	*ms = 0;
	why[0] = '\0';
	if (backends_sync(&a->bk, a->db, 1))
		return RE_EDB;
	if (strcmp(name, "default") == 0)
		b = &a->bk.dflt;
	for (i = 0; !b && i < a->bk.n; i++)
		if (strcmp(a->bk.v[i].name, name) == 0)
			b = &a->bk.v[i];
	if (!b)
		return RE_ENOTFOUND;
	f = b->fmts & 1 ? FMT_OPENAI : FMT_ANTHROPIC;
	memset(&in, 0, sizeof(in));
	in.fmt = f;
	in.get = 1;
	in.body = "";
	if (b->id == 0 && route_upstream_url(&a->cfg, f, f == FMT_OPENAI ? "/models" : "/v1/models",
					     url, sizeof(url)) == 0)
		in.url = url;
	buf_init(&body, 16);
	if (b->id == 0 && !in.url) {
		snprintf(why, whylen, "no endpoint configured");
		buf_free(&body);
		return RE_OK;
	}
	if (backend_prepare(b, &a->cfg, &in, f == FMT_OPENAI ? "/models" : "/v1/models", NULL,
			    url, sizeof(url), &body, &rq, &err)) {
		snprintf(why, whylen, "%s", err);
		buf_free(&body);
		return RE_OK;
	}
	relay_exchange(a->up, &rq, &d, &oc);
	buf_free(&body);
	*status = oc.err == RE_EUPSTREAM ? 0 : oc.status;
	*ms = oc.latency_ms;
	/* reachable is healthy: a 404 only says there is no model list */
	bad = oc.err == RE_EUPSTREAM || oc.status == 429 || oc.status >= 500;
	if (bad) {
		snprintf(why, whylen, "%s", oc.error[0] ? oc.error : "upstream error");
		DBX(a->db, "CALL relay_backend_fail(?, ?, ?, ?, ?, ?, ?)", NULL, DBI(b->id),
		    DBI(*status), DBS(why), DBI(oc.retry_after),
		    DBI(a->cfg.backend_fail_threshold), DBI(a->cfg.backend_cooldown),
		    DBI(a->cfg.backend_cooldown_max));
	} else {
		if (oc.status == 401 || oc.status == 403)
			snprintf(why, whylen, "the upstream refused the key (HTTP %d)", oc.status);
		DBX(a->db, "CALL relay_backend_ok(?)", NULL, DBI(b->id));
		/* a check's time even for a backend that never failed (whose
		 * state row relay_backend_ok leaves alone): the admin API's
		 * last_check_at; only here, never on the request path */
		DBX(a->db, "INSERT INTO backend_state (backend_id, last_ok_at) VALUES (?, NOW())"
		    " ON DUPLICATE KEY UPDATE last_ok_at = NOW()", NULL, DBI(b->id));
	}
	return RE_OK;
}
