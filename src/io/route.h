/* route.h - the one route table of the SDK routes (issue 11): method and
 * path to a handler and the API format its answers and errors take.
 *
 * The same table serves cgi-bin/v1 (/v1/...) and call.php's PATH_INFO
 * (/api/call.php/v1/...), so a base URL of http://host/api/call.php works
 * for Claude Code as well. Matching is pure string work, no allocation. */
#ifndef RELAY_ROUTE_H
#define RELAY_ROUTE_H

#include <stddef.h>
#include "fmt.h"

struct cfg;
struct web_req;

enum route_id {
	ROUTE_HEAD = 1,       /* HEAD / or /v1/...: answered at once */
	ROUTE_CHAT,           /* POST /v1/chat/completions */
	ROUTE_RESPONSES,      /* POST /v1/responses */
	ROUTE_COMPLETIONS,    /* POST /v1/completions */
	ROUTE_EMBEDDINGS,     /* POST /v1/embeddings */
	ROUTE_MESSAGES,       /* POST /v1/messages */
	ROUTE_COUNT_TOKENS,   /* POST /v1/messages/count_tokens */
	ROUTE_MODELS,         /* GET /v1/models */
	ROUTE_MODEL           /* GET /v1/models/{id} (the id is the rest) */
};

struct route {
	const char *method;
	const char *path;      /* below the base: "/v1/chat/completions" */
	enum route_id id;
	enum fmt_kind fmt;     /* format of its answers and errors */
	const char *name;      /* request_log.route */
	const char *up_path;   /* appended to the format's base URL */
};

enum route_rc {
	ROUTE_FOUND = 0,
	ROUTE_NOT_FOUND,       /* 404 */
	ROUTE_BAD_METHOD       /* 405: the path exists with another method */
};

/* Largest path matched; longer ones are not found. */
#define ROUTE_PATH_MAX 256

/* Matches method and the n bytes of path (no query string; one trailing
 * '/' is ignored). *out = the route (static) when ROUTE_FOUND, else the
 * route of that path with another method, or NULL. */
enum route_rc route_match(const char *method, const char *path, size_t n,
			  const struct route **out);

/* The format an unmatched request's error takes: Anthropic below
 * /v1/messages or with an anthropic-version header, else OpenAI. */
enum fmt_kind route_guess_fmt(const char *path, size_t n, int anthropic_version);

/* The request path relative to the relay's mount: PATH_INFO below a
 * SCRIPT_NAME ending in ".php" (call.php wherever it is mounted), else
 * REQUEST_URI without its query (else SCRIPT_NAME + PATH_INFO), with a
 * leading "/api/call.php" removed. Written NUL-terminated into out; returns its length, or
 * (size_t)-1 when it does not fit. "" means call.php itself. */
size_t route_rel_path(const char *request_uri, const char *script_name,
		      const char *path_info, char *out, size_t cap);

/* The upstream URL of a route into out: the format's base URL
 * (openai_base_url / anthropic_base_url, else derived from openai_url /
 * anthropic_url by dropping /chat/completions or /v1/messages) plus the
 * route's path. Returns 0, or -1 when that format is not configured (or
 * the URL does not fit). */
int route_upstream_url(const struct cfg *c, enum fmt_kind f, const char *up_path,
		       char *out, size_t cap);

/* The caller's key, shared by every route and call.php: X-API-Key, else
 * "Authorization: Bearer <key>". NULL when neither. Borrowed from r. */
const char *route_api_key(const struct web_req *r);

#endif
