/* fmt.c - request body checks and API format detection.
 *
 * The body is parsed once, strictly and depth-limited, so a malformed or
 * hostile body is answered with 400 here instead of costing an upstream
 * call; the parsed object is only read, never re-serialised, because the
 * upstream always receives the client's original bytes. */
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include "fmt.h"

/* The 400 messages (Chinese, as the seed API documents its errors). */
static const char msg_empty[] = "请求体为空";
static const char msg_too_big[] = "请求体过大";
static const char msg_bad_json[] = "请求体不是有效的JSON";
static const char msg_too_deep[] = "请求体JSON嵌套过深";
static const char msg_not_object[] = "请求体必须是JSON对象";
static const char msg_no_model[] = "缺少model字段";
static const char msg_model_type[] = "model字段必须是字符串";
static const char msg_no_messages[] = "缺少messages字段";
static const char msg_messages_type[] = "messages字段必须是数组";

/* 1 for the JSON whitespace characters (RFC 8259 "ws"). */
static int is_json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Validates len bytes of body (borrowed, not NUL-terminated). On success the
 * caller owns *out; *why is a static string, never to be freed. */
int fmt_parse_request(const char *body, size_t len, struct json_object **out,
		      const char **why)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL, *v;
	enum json_tokener_error jerr;
	size_t end;
	int rc = -1;

	*out = NULL;
	*why = NULL;
	if (!body || len == 0) {
		*why = msg_empty;
		goto out;
	}
	/* json-c takes an int length; max_body_bytes is far below this */
	if (len > INT_MAX) {
		*why = msg_too_big;
		goto out;
	}
	tok = json_tokener_new_ex(FMT_MAX_DEPTH);
	if (!tok) {
		*why = msg_bad_json;
		goto out;
	}
	/* strict: no trailing commas, no "TRUE"; UTF-8 checked because the
	 * model name ends up in the database log */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/* all of the body was taken but json-c cannot tell whether a
		 * bare top-level "null" or "12" is finished: a NUL (from our
		 * own literal, never read past the body) marks the end. An
		 * unfinished object stays an error. */
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	if (jerr == json_tokener_error_depth) {
		*why = msg_too_deep;
		goto out;
	}
	if (jerr != json_tokener_success) {
		*why = msg_bad_json;
		goto out;
	}
	/* json-c stops after the first value (or at a NUL byte); anything
	 * but whitespace after it makes the body invalid */
	for (; end < len; end++) {
		if (!is_json_ws(body[end])) {
			*why = msg_bad_json;
			goto out;
		}
	}
	/* a JSON null parses to a NULL object, which is not an object */
	if (!json_object_is_type(obj, json_type_object)) {
		*why = msg_not_object;
		goto out;
	}
	if (!json_object_object_get_ex(obj, "model", &v) || !v) {
		*why = msg_no_model;
		goto out;
	}
	if (!json_object_is_type(v, json_type_string)) {
		*why = msg_model_type;
		goto out;
	}
	/* an empty name is as good as none: nothing upstream answers to it */
	if (json_object_get_string_len(v) == 0) {
		*why = msg_no_model;
		goto out;
	}
	if (!json_object_object_get_ex(obj, "messages", &v) || !v) {
		*why = msg_no_messages;
		goto out;
	}
	if (!json_object_is_type(v, json_type_array)) {
		*why = msg_messages_type;
		goto out;
	}
	*out = obj;
	obj = NULL;
	rc = 0;
out:
	json_object_put(obj);
	if (tok)
		json_tokener_free(tok);
	return rc;
}

/* 1 when one content block is Anthropic-only: "tool_use", "tool_result",
 * or an "image" whose "source" is an object (OpenAI images are
 * {"type":"image_url","image_url":{...}}). Borrows `blk`. */
static int block_is_anthropic(struct json_object *blk)
{
	struct json_object *t, *src;
	const char *type;

	if (!json_object_is_type(blk, json_type_object) ||
	    !json_object_object_get_ex(blk, "type", &t) ||
	    !json_object_is_type(t, json_type_string))
		return 0;
	type = json_object_get_string(t);
	if (strcmp(type, "tool_use") == 0 || strcmp(type, "tool_result") == 0)
		return 1;
	return strcmp(type, "image") == 0 &&
	       json_object_object_get_ex(blk, "source", &src) &&
	       json_object_is_type(src, json_type_object);
}

/* 1 when any message's content array holds an Anthropic-only block.
 * Borrows `body`. */
static int messages_are_anthropic(struct json_object *body)
{
	struct json_object *msgs, *msg, *content;
	size_t i, j, nm, nc;

	if (!json_object_object_get_ex(body, "messages", &msgs) ||
	    !json_object_is_type(msgs, json_type_array))
		return 0;
	nm = json_object_array_length(msgs);
	for (i = 0; i < nm; i++) {
		msg = json_object_array_get_idx(msgs, i);
		if (!json_object_is_type(msg, json_type_object) ||
		    !json_object_object_get_ex(msg, "content", &content) ||
		    !json_object_is_type(content, json_type_array))
			continue;
		nc = json_object_array_length(content);
		for (j = 0; j < nc; j++)
			if (block_is_anthropic(
				    json_object_array_get_idx(content, j)))
				return 1;
	}
	return 0;
}

/* Picks the format from the headers, then the borrowed body (see fmt.h for
 * the order). Returns -1 only for an unknown X-API-Format value. */
int fmt_detect(struct json_object *body, const char *x_api_format,
	       const char *anthropic_version, enum fmt_kind *out)
{
	/* an explicit header wins, but a typo must not silently pick one */
	if (x_api_format && *x_api_format) {
		if (strcasecmp(x_api_format, "openai") == 0)
			*out = FMT_OPENAI;
		else if (strcasecmp(x_api_format, "anthropic") == 0)
			*out = FMT_ANTHROPIC;
		else
			return -1;
		return 0;
	}
	if ((anthropic_version && *anthropic_version) ||
	    (json_object_is_type(body, json_type_object) &&
	     (json_object_object_get_ex(body, "system", NULL) ||
	      messages_are_anthropic(body))))
		*out = FMT_ANTHROPIC;
	else
		*out = FMT_OPENAI;
	return 0;
}

/* 1 for "stream": true in the borrowed body. */
int fmt_is_stream(struct json_object *body)
{
	struct json_object *v;

	/* only a JSON true: "stream": "true" is not a stream request, and
	 * the upstream would not treat it as one either */
	return json_object_is_type(body, json_type_object) &&
	       json_object_object_get_ex(body, "stream", &v) &&
	       json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

/* Static lower-case name, as logged and stored in the queue. */
const char *fmt_name(enum fmt_kind k)
{
	return k == FMT_ANTHROPIC ? "anthropic" : "openai";
}
