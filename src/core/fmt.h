/* fmt.h - request body checks and API format detection (SPEC §3 step 1 and 4).
 *
 * The body is parsed once with json-c (depth-limited) to validate it and to
 * sniff the format; the bytes sent upstream are always the original ones. */
#ifndef RELAY_FMT_H
#define RELAY_FMT_H

#include <stddef.h>

struct json_object;

enum fmt_kind {
	FMT_OPENAI = 0,
	FMT_ANTHROPIC = 1
};

/* Maximum JSON nesting accepted in a request body. */
#define FMT_MAX_DEPTH 64

/* Parses and validates a request body: a JSON object with a string "model"
 * and an array "messages". On success returns 0 and stores the parsed object
 * in *out (caller owns it: json_object_put). On failure returns -1, *out is
 * NULL and *why points to a static Chinese message saying what is wrong
 * ("请求体不是有效的JSON", "缺少model字段", "缺少messages字段", ...). */
int fmt_parse_request(const char *body, size_t len, struct json_object **out,
		      const char **why);

/* Decides the format. x_api_format (may be NULL) wins when it is "openai" or
 * "anthropic" (case-insensitive); any other non-empty value returns -1.
 * Else Anthropic when anthropic_version (may be NULL) is non-empty, or the
 * body has a top-level "system", or any message content block has type
 * "tool_use" / "tool_result", or an "image" block with a "source" object;
 * otherwise OpenAI. Returns 0 and sets *out. */
int fmt_detect(struct json_object *body, const char *x_api_format,
	       const char *anthropic_version, enum fmt_kind *out);

/* 1 when the body has "stream": true, else 0. */
int fmt_is_stream(struct json_object *body);

/* "openai" or "anthropic". */
const char *fmt_name(enum fmt_kind k);

#endif
