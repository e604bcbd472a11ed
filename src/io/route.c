/* route.c - the SDK route table and path handling. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "cfg.h"
#include "route.h"
#include "web.h"

static const struct route routes[] = {
	{ "POST", "/v1/chat/completions", ROUTE_CHAT, FMT_OPENAI, "chat", "/chat/completions" },
	{ "POST", "/v1/responses", ROUTE_RESPONSES, FMT_OPENAI, "responses", "/responses" },
	{ "POST", "/v1/completions", ROUTE_COMPLETIONS, FMT_OPENAI, "completions", "/completions" },
	{ "POST", "/v1/embeddings", ROUTE_EMBEDDINGS, FMT_OPENAI, "embeddings", "/embeddings" },
	{ "POST", "/v1/messages", ROUTE_MESSAGES, FMT_ANTHROPIC, "messages", "/v1/messages" },
	{ "POST", "/v1/messages/count_tokens", ROUTE_COUNT_TOKENS, FMT_ANTHROPIC,
	  "count_tokens", "/v1/messages/count_tokens" },
	{ "GET", "/v1/models", ROUTE_MODELS, FMT_OPENAI, "models", "/models" },
};

static const struct route head_route = {
	"HEAD", "/", ROUTE_HEAD, FMT_OPENAI, "head", ""
};

/* GET /v1/models/{id}: a prefix, the id may hold '/' ("qwen/qwen3") */
static const struct route model_route = {
	"GET", "/v1/models/", ROUTE_MODEL, FMT_OPENAI, "model", "/models/"
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* 1 when the n bytes at p are exactly the string s. */
static int route_eq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

enum route_rc route_match(const char *method, const char *path, size_t n,
			  const struct route **out)
{
	size_t i;

	*out = NULL;
	if (n > ROUTE_PATH_MAX || !method)
		return ROUTE_NOT_FOUND;
	if (n > 1 && path[n - 1] == '/')
		n--;
	/* Claude Code preconnects with HEAD on its base URL: the root or
	 * anything under /v1 answers at once, without a key */
	if (strcmp(method, "HEAD") == 0 &&
	    (n == 0 || route_eq(path, n, "/") || route_eq(path, n, "/v1") ||
	     (n > 4 && memcmp(path, "/v1/", 4) == 0))) {
		*out = &head_route;
		return ROUTE_FOUND;
	}
	for (i = 0; i < NROUTES; i++) {
		if (!route_eq(path, n, routes[i].path))
			continue;
		*out = &routes[i];
		return strcmp(method, routes[i].method) == 0 ?
			ROUTE_FOUND : ROUTE_BAD_METHOD;
	}
	if (n > 11 && memcmp(path, "/v1/models/", 11) == 0) {
		*out = &model_route;
		return strcmp(method, "GET") == 0 ? ROUTE_FOUND : ROUTE_BAD_METHOD;
	}
	return ROUTE_NOT_FOUND;
}

enum fmt_kind route_guess_fmt(const char *path, size_t n, int anthropic_version)
{
	if (anthropic_version || (n >= 12 && memcmp(path, "/v1/messages", 12) == 0))
		return FMT_ANTHROPIC;
	return FMT_OPENAI;
}

/* Appends n bytes of s to out (cap) at *len; -1 when it does not fit. */
static int route_put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (n >= cap - *len)
		return -1;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
	return 0;
}

/* All strings are borrowed; out is the caller's. */
size_t route_rel_path(const char *request_uri, const char *script_name,
		      const char *path_info, char *out, size_t cap)
{
	static const char callphp[] = "/api/call.php";
	size_t len = 0, n;
	const char *q;

	if (!cap)
		return (size_t)-1;
	out[0] = '\0';
	n = script_name ? strlen(script_name) : 0;
	if (path_info && *path_info && n >= 4 &&
	    strcmp(script_name + n - 4, ".php") == 0) {
		/* below call.php wherever it is mounted */
		if (route_put(out, cap, &len, path_info, strlen(path_info)))
			return (size_t)-1;
		return len;
	}
	if (request_uri && *request_uri) {
		q = strchr(request_uri, '?');
		n = q ? (size_t)(q - request_uri) : strlen(request_uri);
		if (route_put(out, cap, &len, request_uri, n))
			return (size_t)-1;
	} else {
		if (script_name && route_put(out, cap, &len, script_name, strlen(script_name)))
			return (size_t)-1;
		if (path_info && route_put(out, cap, &len, path_info, strlen(path_info)))
			return (size_t)-1;
	}
	n = sizeof(callphp) - 1;
	if (len >= n && memcmp(out, callphp, n) == 0 &&
	    (out[n] == '\0' || out[n] == '/')) {
		memmove(out, out + n, len - n + 1);
		len -= n;
	}
	return len;
}

/* Drops `suffix` (any case) from the end of the first n bytes of url;
 * returns the new length (n when it is not there). */
static size_t route_strip(const char *url, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n >= m && strncasecmp(url + n - m, suffix, m) == 0)
		n -= m;
	while (n > 0 && url[n - 1] == '/')
		n--;
	return n;
}

int route_upstream_url(const struct cfg *c, enum fmt_kind f, const char *up_path,
		       char *out, size_t cap)
{
	const char *base = f == FMT_ANTHROPIC ? c->anthropic_base_url : c->openai_base_url;
	size_t n;
	int w;

	if (base[0]) {
		n = route_strip(base, strlen(base), "");
	} else if (f == FMT_ANTHROPIC && c->anthropic_url[0]) {
		base = c->anthropic_url;
		n = route_strip(base, strlen(base), "/v1/messages");
	} else if (f == FMT_OPENAI && c->openai_url[0]) {
		base = c->openai_url;
		n = route_strip(base, strlen(base), "/chat/completions");
	} else {
		return -1;
	}
	w = snprintf(out, cap, "%.*s%s", (int)n, base, up_path);
	return w < 0 || (size_t)w >= cap ? -1 : 0;
}

const char *route_api_key(const struct web_req *r)
{
	const char *k = web_header(r, "X-API-Key"), *a;

	if (k && *k)
		return k;
	a = web_header(r, "Authorization");
	if (!a)
		return NULL;
	if (strncasecmp(a, "Bearer ", 7) != 0)
		return NULL;
	a += 7;
	while (*a == ' ')
		a++;
	return *a ? a : NULL;
}
