/* h_proxy.c - the translation proxy's routes (issue 28; seed
 * peer-translation-proxy-api.txt): GET /api/catalog (the provider presets,
 * preset.h), POST /api/generate-url (a proxy URL for the caller's key) and
 * the token of /proxy/{token}/... The proxied request itself runs the SDK
 * routes' door (h_v1.c), answered in the seed's error shape (proxy_err).
 *
 * A proxy token is a secret, like a key: 32 random bytes (base64url, 43
 * characters); only its SHA-256 is stored, the row is found by that hash
 * and compared in constant time, and neither the token nor the URL is
 * ever logged. The row holds the member's relay key sealed with the
 * master key: a proxied request is admitted as that key, so revoking the
 * key kills the URL. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include "app.h"
#include "admit.h"
#include "backend.h"
#include "db.h"
#include "doors.h"
#include "log.h"
#include "preset.h"
#include "resp.h"
#include "route.h"
#include "seal.h"
#include "sha256.h"

#define PROXY_TOKEN_LEN 43   /* base64url of 32 bytes, no padding */

void proxy_err(struct web_req *r, int status, const char *code, const char *msg,
	       const char *provider, const char *group, const char *extra)
{
	struct json_object *o = json_object_new_object();
	unsigned char id[16];
	char hex[33];
	const char *s;
	int i;

	if (RAND_bytes(id, sizeof(id)) != 1)
		memset(id, 0, sizeof(id));
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	json_object_object_add(o, "error_code", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(msg));
	json_object_object_add(o, "provider", json_object_new_string(provider ? provider : "relay"));
	json_object_object_add(o, "endpoint_group", group ? json_object_new_string(group) : NULL);
	json_object_object_add(o, "request_id", json_object_new_string(hex));
	json_object_object_add(o, "docs_url", json_object_new_string("/api/"));
	if (resp_start(r, status, "application/json", extra) == 0) {
		s = json_object_to_json_string_ext(o, RESP_JSON_FLAGS);
		web_write(r, s, strlen(s));
	}
	json_object_put(o);
}

const char *proxy_code(int status, const char *code)
{
	if (code && strcmp(code, "UNSUPPORTED_ENDPOINT") == 0)
		return code;
	switch (status) {
	case 400: case 413: return "INVALID_JSON";
	case 401:           return "INVALID_TOKEN";
	case 403:           return "MODEL_NOT_ALLOWED";
	case 404:           return "NOT_FOUND";
	case 405:           return "METHOD_NOT_ALLOWED";
	case 429:           return "RATE_LIMITED";
	case 502:           return "UPSTREAM_ERROR";
	case 503: case 529: return "RETRY_EXHAUSTED";
	default:            return "INTERNAL_ERROR";
	}
}

/* The catalog's protocol of preset p: the format its base URLs speak. */
static const char *cat_protocol(const struct bk_preset *p)
{
	if (p->openai_url)
		return "openai";
	if (p->anthropic_url || strcmp(p->name, "anthropic-compatible") == 0)
		return "anthropic";
	return "openai";
}

static struct json_object *cat_provider(const struct bk_preset *p)
{
	struct json_object *o = json_object_new_object(), *es = json_object_new_object();
	const char *proto = cat_protocol(p);
	const char *base = strcmp(proto, "openai") == 0 ? p->openai_url : p->anthropic_url;
	int g;

	json_object_object_add(o, "id", json_object_new_string(p->name));
	json_object_object_add(o, "label", json_object_new_string(p->label));
	json_object_object_add(o, "protocol", json_object_new_string(proto));
	json_object_object_add(o, "authType", json_object_new_string(
		p->auth ? p->auth : strcmp(proto, "anthropic") == 0 ? "x-api-key" : "bearer"));
	json_object_object_add(o, "defaultBaseUrl", base ? json_object_new_string(base) : NULL);
	if (p->openai_url && p->anthropic_url)
		json_object_object_add(o, "anthropicBaseUrl",
				       json_object_new_string(p->anthropic_url));
	for (g = 0; bk_groups[g]; g++) {
		char c = p->support && (int)strlen(p->support) > g ? p->support[g] : 'u';
		json_object_object_add(es, bk_groups[g], json_object_new_string(
			c == 'p' ? "passthrough" : c == 't' ? "translate" : "unsupported"));
	}
	json_object_object_add(o, "endpointSupport", es);
	json_object_object_add(o, "docsUrl", json_object_new_string(p->docs_url ? p->docs_url : ""));
	return o;
}

void catalog_handle(struct web_req *r, struct app *a)
{
	struct json_object *o, *list;
	const struct bk_preset *p;

	(void)a;
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		proxy_err(r, 405, "METHOD_NOT_ALLOWED", "GET /api/catalog", NULL, NULL,
			  "Allow: GET\r\n");
		return;
	}
	o = json_object_new_object();
	list = json_object_new_array();
	for (p = bk_presets; p->name; p++)
		json_object_array_add(list, cat_provider(p));
	json_object_object_add(o, "providers", list);
	resp_json(r, 200, o);
	json_object_put(o);
}

/* A JSON string member of o (NULL when absent or not a string). */
static const char *gu_str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *gu_obj(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

/* What a generate-url body asks for, checked. */
struct gu_spec {
	const char *source;        /* "openai" | "anthropic" */
	const char *backend;       /* NULL = the pool */
	const char *force;         /* NULL = the client's model */
};

/* 1 when s is a model / backend name the relay takes. */
static int gu_name_ok(const char *s, size_t max)
{
	size_t n = strlen(s), i;

	if (!n || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/@+-",
			    s[i]))
			return 0;
	return 1;
}

/* Reads the v2 (or v1, normalised) body into s: NULL, or why not. */
static const char *gu_parse(struct json_object *b, struct gu_spec *s)
{
	struct json_object *src = gu_obj(b, "source"), *tgt = gu_obj(b, "target"), *v;
	struct json_object *model = gu_obj(b, "model"), *ep = gu_obj(b, "endpoints");
	int version = 2;
	const char *m;

	memset(s, 0, sizeof(*s));
	if (json_object_object_get_ex(b, "version", &v))
		version = json_object_is_type(v, json_type_int) ? json_object_get_int(v) : -1;
	if (version != 1 && version != 2)
		return "version: 1 or 2";
	if (version == 1) {
		/* v1 names the upstream itself: a bring-your-own-key target */
		if (gu_str(b, "targetBaseUrl") || gu_obj(b, "auth"))
			return "bring-your-own-key targets (targetBaseUrl, auth) are not enabled"
				" here: the proxy URL uses the relay's own backends";
		s->source = gu_str(b, "sourceProtocol");
	} else {
		s->source = gu_str(src, "protocol");
		if (tgt && (gu_str(tgt, "baseUrl") || gu_obj(tgt, "auth")))
			return "bring-your-own-key targets (target.baseUrl, target.auth) are not"
				" enabled here: the proxy URL uses the relay's own backends";
		s->backend = gu_str(tgt, "provider");
		if (s->backend && (strcmp(s->backend, "relay") == 0 || strcmp(s->backend, "pool") == 0))
			s->backend = NULL;
	}
	if (!s->source || (strcmp(s->source, "openai") && strcmp(s->source, "anthropic")))
		return "source.protocol: \"openai\" or \"anthropic\" is required";
	if (s->backend && !gu_name_ok(s->backend, BACKEND_NAME_MAX))
		return "target.provider: a backend name";
	m = gu_str(model, "mode");
	if (m && strcmp(m, "force") && strcmp(m, "map"))
		return "model.mode: \"force\" or \"map\"";
	if (m && strcmp(m, "force") == 0) {
		s->force = gu_str(model, "force");
		if (!s->force || !gu_name_ok(s->force, 255))
			return "model.force: the model name to use";
	}
	m = gu_str(ep, "mode");
	if (ep && (!m || (strcmp(m, "auto") && strcmp(m, "translate") && strcmp(m, "passthrough"))))
		return "endpoints.mode: \"auto\", \"translate\" or \"passthrough\"";
	return NULL;
}

/* base64url of n bytes, no padding, into out (4n/3 + 2 bytes). */
static void gu_b64url(const unsigned char *in, size_t n, char *out)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = t[v >> 18 & 63]; out[o++] = t[v >> 12 & 63];
		out[o++] = t[v >> 6 & 63]; out[o++] = t[v & 63];
	}
	if (n - i == 2) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = t[v >> 18 & 63]; out[o++] = t[v >> 12 & 63]; out[o++] = t[v >> 6 & 63];
	} else if (n - i == 1) {
		v = (unsigned)in[i] << 16;
		out[o++] = t[v >> 18 & 63]; out[o++] = t[v >> 12 & 63];
	}
	out[o] = '\0';
}

/* "http(s)://host" of this request into out (a bad Host: localhost). */
static void gu_origin(struct web_req *r, char *out, size_t cap)
{
	const char *host = web_param(r, "HTTP_HOST"), *https = web_param(r, "HTTPS");

	if (!host || !*host || strlen(host) > 255 || strpbrk(host, " \t\r\n\"'<>\\/@?#"))
		host = "localhost";
	snprintf(out, cap, "%s://%s", https && strcmp(https, "on") == 0 ? "https" : "http", host);
}

/* The answer: {proxyUrl, snippets: {proxyUrl, envBlock, curlExample, notes}}. */
static void gu_answer(struct web_req *r, const struct gu_spec *s, const char *url)
{
	struct json_object *o = json_object_new_object(), *sn = json_object_new_object();
	struct json_object *notes = json_object_new_array();
	char env[1200], curl[1500];
	int anth = strcmp(s->source, "anthropic") == 0;

	if (anth) {
		snprintf(env, sizeof(env), "export ANTHROPIC_BASE_URL=%s\n"
			 "export ANTHROPIC_AUTH_TOKEN=proxy-url  # any value: the URL is the key\n",
			 url);
		snprintf(curl, sizeof(curl), "curl %s/v1/messages -H 'content-type: application/json'"
			 " -H 'anthropic-version: 2023-06-01' -d '{\"model\":\"%s\",\"max_tokens\":64,"
			 "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'", url,
			 s->force ? s->force : "claude-sonnet-4-5");
	} else {
		snprintf(env, sizeof(env), "export OPENAI_BASE_URL=%s/v1\n"
			 "export OPENAI_API_KEY=proxy-url  # any value: the URL is the key\n", url);
		snprintf(curl, sizeof(curl), "curl %s/v1/chat/completions -H 'content-type:"
			 " application/json' -d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\","
			 "\"content\":\"hi\"}]}'", url, s->force ? s->force : "gpt-4o");
	}
	json_object_array_add(notes, json_object_new_string(
		"The URL is a secret like your key: requests through it count against your"
		" limits. Revoking your key revokes the URL."));
	if (s->force)
		json_object_array_add(notes, json_object_new_string(
			"model.mode force: every request uses that model."));
	json_object_object_add(sn, "proxyUrl", json_object_new_string(url));
	json_object_object_add(sn, "envBlock", json_object_new_string(env));
	json_object_object_add(sn, "curlExample", json_object_new_string(curl));
	json_object_object_add(sn, "notes", notes);
	json_object_object_add(o, "proxyUrl", json_object_new_string(url));
	json_object_object_add(o, "snippets", sn);
	resp_json(r, 200, o);
	json_object_put(o);
}

/* Stores a new token for the caller's key (seals it) and answers. */
static void gu_store(struct web_req *r, struct app *a, const struct gu_spec *s,
		     const char *key, long long user_id)
{
	unsigned char raw[32], hash[32], sealed[1200];
	char tok[PROXY_TOKEN_LEN + 2], origin[300], url[400];
	long n;

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		proxy_err(r, 500, "INTERNAL_ERROR", "no random bytes", NULL, NULL, NULL);
		return;
	}
	gu_b64url(raw, sizeof(raw), tok);
	memset(raw, 0, sizeof(raw));
	sha256(tok, strlen(tok), hash);
	n = seal_close(a->bk.mkey, key, strlen(key), sealed, sizeof(sealed));
	if (n < 0 || DBX(a->db, "INSERT INTO proxy_tokens (token_hash, user_id, key_sealed,"
			 " source, backend, model_force) VALUES (?, ?, ?, ?, ?, ?)", NULL,
			 DBB((const char *)hash, sizeof(hash)), DBI(user_id),
			 DBB((const char *)sealed, (size_t)n), DBS(s->source),
			 s->backend ? DBS(s->backend) : DBNULL,
			 s->force ? DBS(s->force) : DBNULL)) {
		proxy_err(r, 500, "INTERNAL_ERROR", "database error, retry later", NULL, NULL, NULL);
		return;
	}
	gu_origin(r, origin, sizeof(origin));
	snprintf(url, sizeof(url), "%s/proxy/%s", origin, tok);
	gu_answer(r, s, url);
	memset(tok, 0, sizeof(tok));
	memset(url, 0, sizeof(url));
	log_info("generate-url: a proxy URL for user %lld", user_id);
}

/* 1 when backend name exists; answers and returns 0 when not (or -1 on
 * a database failure, answered). */
static int gu_backend_ok(struct web_req *r, struct app *a, const char *name)
{
	struct db_res res;
	int found;

	if (DBX(a->db, "SELECT id FROM backends WHERE name = ?", &res, DBS(name))) {
		proxy_err(r, 500, "INTERNAL_ERROR", "database error, retry later", NULL, NULL, NULL);
		return -1;
	}
	found = res.nrows > 0;
	db_res_free(&res);
	if (!found)
		proxy_err(r, 400, "INVALID_JSON", "target.provider: no backend of that name"
			  " (GET /api/catalog lists presets; the operator's backends are named"
			  " in relayctl backend list)", name, NULL, NULL);
	return found;
}

/* Key, master key and body checks: the parsed body (owned), or NULL
 * answered. */
static struct json_object *gu_read(struct web_req *r, struct app *a, const char *key,
				   struct admit *ad)
{
	struct json_object *b;
	struct buf body;
	const char *why;
	char today[11];

	if (!key || !*key) {
		proxy_err(r, 400, "MISSING_TOKEN", "your relay key is required"
			  " (Authorization: Bearer or x-api-key)", NULL, NULL, NULL);
		return NULL;
	}
	db_today(today);
	if (admit_peek(a->db, key, today, ad)) {
		proxy_err(r, 500, "INTERNAL_ERROR", "database error, retry later", NULL, NULL, NULL);
		return NULL;
	}
	if (ad->auth != AUTH_OK) {
		proxy_err(r, 401, "INVALID_TOKEN", "invalid, expired or disabled relay key",
			  NULL, NULL, NULL);
		return NULL;
	}
	if (!a->bk.mkey_ok) {
		proxy_err(r, 503, "INTERNAL_ERROR", "proxy URLs are off: the operator has not"
			  " set master_key_file", NULL, NULL, NULL);
		return NULL;
	}
	buf_init(&body, 0);
	b = app_read_body(a, r, &body, &why) ? NULL :
		json_tokener_parse(body.data ? body.data : "");
	buf_free(&body);
	if (!b || !json_object_is_type(b, json_type_object)) {
		json_object_put(b);
		proxy_err(r, 400, "INVALID_JSON", "the body must be a JSON object (see"
			  " /api/ for its fields)", NULL, NULL, NULL);
		return NULL;
	}
	return b;
}

void genurl_handle(struct web_req *r, struct app *a)
{
	struct json_object *b;
	struct gu_spec s;
	struct admit ad;
	const char *why, *key = route_api_key(r);

	if (strcmp(r->method, "POST") != 0) {
		proxy_err(r, 405, "METHOD_NOT_ALLOWED", "POST /api/generate-url", NULL, NULL,
			  "Allow: POST\r\n");
		return;
	}
	memset(&ad, 0, sizeof(ad));
	b = gu_read(r, a, key, &ad);
	if (!b)
		return;
	why = gu_parse(b, &s);
	if (why)
		proxy_err(r, 400, "INVALID_JSON", why, NULL, NULL, NULL);
	else if (!s.backend || gu_backend_ok(r, a, s.backend) == 1)
		gu_store(r, a, &s, key, ad.u.user_id);
	json_object_put(b);
}

int proxy_token_open(struct app *a, const char *tok, size_t n, struct proxy_tok *t)
{
	unsigned char hash[32];
	struct db_res res;
	size_t i;
	long k;

	memset(t, 0, sizeof(*t));
	if (n == 0)
		return PROXY_TOK_MISSING;
	if (n != PROXY_TOKEN_LEN)
		return PROXY_TOK_INVALID;
	for (i = 0; i < n; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
			    tok[i]))
			return PROXY_TOK_INVALID;
	sha256(tok, n, hash);
	if (DBX(a->db, "SELECT token_hash, key_sealed, source, COALESCE(backend, ''),"
		" COALESCE(model_force, '') FROM proxy_tokens WHERE token_hash = ?"
		" AND revoked_at IS NULL", &res, DBB((const char *)hash, sizeof(hash))))
		return PROXY_TOK_EDB;
	if (res.nrows != 1 || db_res_len(&res, 0, 0) != sizeof(hash) ||
	    !ct_equal(db_res_str(&res, 0, 0), hash, sizeof(hash)) || !a->bk.mkey_ok) {
		db_res_free(&res);
		return PROXY_TOK_INVALID;
	}
	k = seal_open(a->bk.mkey, (const unsigned char *)db_res_str(&res, 0, 1),
		      db_res_len(&res, 0, 1), t->key, sizeof(t->key));
	t->anthropic = strcmp(db_res_str(&res, 0, 2), "anthropic") == 0;
	snprintf(t->backend, sizeof(t->backend), "%s", db_res_str(&res, 0, 3));
	snprintf(t->model_force, sizeof(t->model_force), "%s", db_res_str(&res, 0, 4));
	db_res_free(&res);
	return k < 0 ? PROXY_TOK_INVALID : PROXY_TOK_OK;
}
