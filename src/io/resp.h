/* resp.h - the one place that turns outcomes into HTTP responses.
 *
 * Every non-passthrough error of every binary goes through resp_error(), so
 * the body is always {"success":false,"message":...,"data":...,"code":N}
 * with the matching HTTP status. */
#ifndef RELAY_RESP_H
#define RELAY_RESP_H

#include "web.h"

struct json_object;

/* Writes the status line and headers. content_type must not contain CR/LF
 * (checked: a bad one is replaced by application/octet-stream). `extra` is
 * NULL or complete "Name: value\r\n" lines. Only the first call writes. */
int resp_start(struct web_req *r, int status, const char *content_type,
	       const char *extra);

/* Sends obj as the JSON body with `status` (the caller keeps ownership). */
int resp_json(struct web_req *r, int status, struct json_object *obj);

/* Sends the spec's error body. message NULL = the default text for `code`.
 * data is NULL or an object that resp_error takes ownership of.
 * If the headers are already out (a stream started), nothing can change
 * the status any more: the error is logged and nothing is written. */
int resp_error(struct web_req *r, int code, const char *message,
	       struct json_object *data);

/* resp_error with extra header lines instead of the default
 * "Cache-Control: no-store" (e.g. "Retry-After: 10\r\nCache-Control: ...").
 * extra must end every line with CR LF and come from the code, never from
 * a client. */
int resp_error_h(struct web_req *r, int code, const char *message,
		 struct json_object *data, const char *extra);

/* The same error as one SSE `event: error` on an event stream already
 * sent (its status line is out): data is the spec's error body. */
int resp_sse_error(struct web_req *r, int code, const char *message);

/* Default Chinese message for an HTTP error code. */
const char *resp_default_message(int code);

/* Reason phrase for a status code ("OK", "Bad Request", ...). */
const char *resp_reason(int status);

/* json-c serialisation flags used everywhere (no "\/" escaping). */
#define RESP_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

#endif
