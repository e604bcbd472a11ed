/* Layer xlate (src/xlate/): Anthropic <-> OpenAI translation of requests,
 * answers and streams; no I/O. */
/* xlate.h - Anthropic Messages <-> OpenAI Chat Completions translation
 * (issue 14): requests, non-stream responses and error bodies, both ways.
 *
 * Pure functions on json-c objects: no I/O, no globals, no clock (the
 * caller passes `now`). Used only when no upstream speaks the client's
 * format (xlate_wanted); pass-through stays byte for byte otherwise.
 *
 * Ownership: every xlate_* that takes `struct json_object *in` only borrows
 * it (never keeps or frees it); every `**out` it fills is a new object that
 * the caller owns and releases with json_object_put. On failure *out is
 * NULL. The *_text wrappers parse bytes, translate, and append the
 * serialised result to a caller-owned struct buf.
 *
 * Fields the target format cannot express are dropped and named in the
 * caller's struct xlate_note (for one log line per request), never
 * silently; fields whose loss would change the answer's meaning (OpenAI
 * n > 1, a tool call the target cannot represent) fail with RE_EINVAL and a
 * message for the client instead. Metering never reads translated bytes:
 * usage is always taken from the upstream's own answer (sse.c). */
#ifndef RELAY_XLATE_H
#define RELAY_XLATE_H

#include <stddef.h>
#include "buf.h"
#include "err.h"
#include "fmt.h"

struct json_object;

/* What was dropped or changed, for the log ("dropped top_k, metadata; ...").
 * Always NUL-terminated; a full note ends in "..." rather than growing. */
struct xlate_note {
	char text[512];
	size_t len;
	int count;                /* number of notes added */
};

/* Knobs of one translation. Zero-initialised is a valid default except
 * where noted. */
struct xlate_opts {
	long long now;            /* unix seconds for OpenAI "created" */
	/* Anthropic target: max_tokens when the OpenAI client sent none
	 * (Anthropic requires it). 0 means XLATE_DEFAULT_MAX_TOKENS. */
	long long default_max_tokens;
	/* OpenAI target: 1 = map Anthropic `thinking` to `reasoning_effort`
	 * (the target supports it), 0 = drop it with a note. */
	int reasoning_effort;
};

#define XLATE_DEFAULT_MAX_TOKENS 8192

/* What the translated request implies for the answer's translation. */
struct xlate_info {
	int stream;               /* the client asked for a stream */
	int include_usage;        /* OpenAI client: stream_options.include_usage */
	char model[128];          /* the client's model (for the answers) */
};

/* Decides whether a request in client_fmt must be translated for an
 * upstream that speaks upstream_fmt: the single decision point, so a
 * backend's `mode` can later replace it. 1 = translate, 0 = pass through. */
int xlate_wanted(enum fmt_kind client_fmt, enum fmt_kind upstream_fmt);

/* Adds one note (printf-style). */
void xlate_note_add(struct xlate_note *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Request of the client (format `from`) to the upstream's format (the
 * other one). On RE_EINVAL, `why` (size whylen, may be NULL) says what the
 * client must change. *info (may be NULL) is filled on success. */
enum relay_err xlate_request(enum fmt_kind from, struct json_object *in,
			     const struct xlate_opts *o,
			     struct json_object **out, struct xlate_info *info,
			     struct xlate_note *n, char *why, size_t whylen);

/* Successful non-stream answer of the upstream (format `from`) into the
 * client's format (the other one). `info` may be NULL. */
enum relay_err xlate_response(enum fmt_kind from, struct json_object *in,
			      const struct xlate_opts *o,
			      const struct xlate_info *info,
			      struct json_object **out, struct xlate_note *n);

/* An upstream error answer (HTTP `status`, body as received, any bytes,
 * JSON or not) as an error body in the client's format: OpenAI
 * {"error":{message,type,param,code}} or Anthropic
 * {"type":"error","error":{type,message}}. Never fails except on memory. */
enum relay_err xlate_error(enum fmt_kind client, int status, const char *body,
			   size_t len, struct json_object **out);

/* Anthropic error type for an HTTP status ("rate_limit_error", ...). */
const char *xlate_anthropic_error_type(int status);

/* Text wrappers: parse `len` bytes (depth-limited), translate, append the
 * plain JSON (no slash escaping) to `out`. RE_EINVAL for bytes that are
 * not a JSON object. */
enum relay_err xlate_request_text(enum fmt_kind from, const char *body,
				  size_t len, const struct xlate_opts *o,
				  struct buf *out, struct xlate_info *info,
				  struct xlate_note *n, char *why,
				  size_t whylen);
enum relay_err xlate_response_text(enum fmt_kind from, const char *body,
				   size_t len, const struct xlate_opts *o,
				   const struct xlate_info *info,
				   struct buf *out, struct xlate_note *n);
enum relay_err xlate_error_text(enum fmt_kind client, int status,
				const char *body, size_t len, struct buf *out);

/* Parses len bytes as JSON with FMT_MAX_DEPTH; NULL when invalid. The
 * caller owns the result. */
struct json_object *xlate_parse(const char *s, size_t len);

/* Appends the plain serialisation of o to out. */
enum relay_err xlate_dump(struct json_object *o, struct buf *out);

#endif
