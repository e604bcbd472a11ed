/* v1err.c - OpenAI / Anthropic error bodies. */
#include <string.h>
#include <json-c/json.h>
#include "log.h"
#include "resp.h"
#include "v1err.h"

const char *v1err_type(enum fmt_kind f, int status)
{
	switch (status) {
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 413: return f == FMT_ANTHROPIC ? "request_too_large" : "invalid_request_error";
	case 429: return "rate_limit_error";
	case 503:
	case 529: return "overloaded_error";
	default:
		return status >= 500 ? "api_error" : "invalid_request_error";
	}
}

int v1err_busy_status(enum fmt_kind f)
{
	return f == FMT_ANTHROPIC ? 529 : 503;
}

/* A new object the caller owns (json_object_put). */
static struct json_object *v1err_obj(enum fmt_kind f, int status,
				     const char *type, const char *message,
				     const char *code)
{
	struct json_object *o = json_object_new_object();
	struct json_object *e = json_object_new_object();

	if (!type)
		type = v1err_type(f, status);
	if (f == FMT_ANTHROPIC) {
		json_object_object_add(o, "type", json_object_new_string("error"));
		json_object_object_add(e, "type", json_object_new_string(type));
		json_object_object_add(e, "message", json_object_new_string(message));
	} else {
		json_object_object_add(e, "message", json_object_new_string(message));
		json_object_object_add(e, "type", json_object_new_string(type));
		json_object_object_add(e, "param", NULL);
		json_object_object_add(e, "code", code ? json_object_new_string(code) : NULL);
	}
	json_object_object_add(o, "error", e);
	return o;
}

enum relay_err v1err_json(struct buf *b, enum fmt_kind f, int status,
			  const char *type, const char *message, const char *code)
{
	struct json_object *o = v1err_obj(f, status, type, message, code);
	enum relay_err rc = buf_puts(b, json_object_to_json_string_ext(o, RESP_JSON_FLAGS));

	json_object_put(o);
	return rc;
}

enum relay_err v1err_sse(struct buf *b, enum fmt_kind f, int status,
			 const char *type, const char *message)
{
	enum relay_err rc = buf_puts(b, f == FMT_ANTHROPIC ?
				     "event: error\ndata: " : "data: ");

	if (!rc)
		rc = v1err_json(b, f, status, type, message, NULL);
	if (!rc)
		rc = buf_puts(b, "\n\n");
	return rc;
}

int v1err_send(struct web_req *r, enum fmt_kind f, int status,
	       const char *type, const char *message, const char *code,
	       const char *extra)
{
	struct buf b, h;
	int rc = -1;

	buf_init(&b, 65536);
	buf_init(&h, 4096);
	if (r->headers_sent) {
		/* a waiter's stream is open: the error becomes its last event */
		log_info("error as SSE event (%d): %s", status, message);
		if (!v1err_sse(&b, f, status, type, message) &&
		    !web_write(r, b.data, b.len))
			rc = web_flush(r);
		goto out;
	}
	if (v1err_json(&b, f, status, type, message, code) ||
	    buf_puts(&h, "Cache-Control: no-store\r\n") ||
	    (extra && buf_puts(&h, extra)))
		goto out;
	if (resp_start(r, status, "application/json", h.data) < 0 ||
	    web_write(r, b.data, b.len) < 0)
		goto out;
	rc = web_flush(r);
out:
	buf_free(&b);
	buf_free(&h);
	return rc;
}
