/* xlate.c - the translation module's entry points (xlate.h): the
 * decision point, error bodies, and the text wrappers. Requests are in
 * xlreq.c, non-stream answers in xlresp.c, streams in xsse.c; the helpers
 * they share in xljson.c. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "xlate.h"
#include "xlpriv.h"

int xlate_wanted(enum fmt_kind client_fmt, enum fmt_kind upstream_fmt)
{
	return client_fmt != upstream_fmt;
}

/* ---- error bodies ---- */

const char *xlate_anthropic_error_type(int status)
{
	switch (status) {
	case 400: return "invalid_request_error";
	case 401: return "authentication_error";
	case 402: return "billing_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 413: return "request_too_large";
	case 429: return "rate_limit_error";
	case 504: return "timeout_error";
	case 503:
	case 529: return "overloaded_error";
	default:
		return status >= 500 ? "api_error" : "invalid_request_error";
	}
}

static const char *openai_error_type(int status)
{
	switch (status) {
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 429: return "rate_limit_error";
	default:
		return status >= 500 ? "server_error" : "invalid_request_error";
	}
}

/* Copies up to max bytes of s into b, replacing bytes that are not valid
 * UTF-8 by '?', so a binary error page cannot make the JSON invalid. */
static enum relay_err utf8_clean(const char *s, size_t len, size_t max,
				 struct buf *b)
{
	size_t i = 0, k, need;
	enum relay_err rc = RE_OK;
	unsigned char c, c1;

	if (len > max)
		len = max;
	while (i < len && rc == RE_OK) {
		c = (unsigned char)s[i];
		if (c < 0x80) {
			rc = buf_append(b, c ? s + i : " ", 1);
			i++;
			continue;
		}
		need = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 :
		       c >= 0xF0 && c <= 0xF4 ? 3 : 0;
		if (need && i + need < len) {
			/* second byte ranges that rule out overlong forms,
			 * surrogates and code points past U+10FFFF */
			c1 = (unsigned char)s[i + 1];
			if ((c == 0xE0 && c1 < 0xA0) ||
			    (c == 0xED && c1 > 0x9F) ||
			    (c == 0xF0 && c1 < 0x90) ||
			    (c == 0xF4 && c1 > 0x8F))
				need = 0;
			for (k = 1; need && k <= need; k++)
				if (((unsigned char)s[i + k] & 0xC0) != 0x80)
					need = 0;
		} else {
			need = 0;
		}
		if (!need) {
			rc = buf_append(b, "?", 1);
			i++;
			continue;
		}
		rc = buf_append(b, s + i, need + 1);
		i += need + 1;
	}
	return rc;
}

/* Finds the upstream's own message and type in an error body of either
 * format (or a few common others); borrowed strings, NULL when absent. */
static void error_parts(struct json_object *j, const char **msg,
			const char **type, struct json_object **code)
{
	struct json_object *e = xl_get(j, "error");

	*msg = NULL;
	*type = NULL;
	*code = NULL;
	if (xl_is(e, json_type_object)) {
		*msg = xl_str(e, "message");
		*type = xl_str(e, "type");
		*code = xl_get(e, "code");
	} else if (xl_is(e, json_type_string)) {
		*msg = json_object_get_string(e);
	}
	if (!*msg)
		*msg = xl_str(j, "message");
	if (!*msg)
		*msg = xl_str(j, "detail");
}

enum relay_err xlate_error(enum fmt_kind client, int status, const char *body,
			   size_t len, struct json_object **out)
{
	struct json_object *j = xlate_parse(body, len), *res = NULL, *e;
	struct json_object *code;
	const char *msg, *type;
	struct buf m;
	enum relay_err rc = RE_ENOMEM;

	*out = NULL;
	buf_init(&m, 4096);
	error_parts(j, &msg, &type, &code);
	if (msg && *msg)
		rc = buf_puts(&m, msg);
	else if (!j && len)
		rc = utf8_clean(body, len, 1000, &m);
	else
		rc = buf_printf(&m, "upstream returned HTTP %d", status);
	if (rc == RE_ETOOBIG)
		rc = RE_OK; /* a long message is cut, not lost */
	if (rc)
		goto out;
	if (!m.len && buf_printf(&m, "upstream returned HTTP %d", status))
		goto out;
	rc = RE_ENOMEM;
	res = json_object_new_object();
	e = json_object_new_object();
	if (!res || !e) {
		json_object_put(e);
		goto out;
	}
	if (client == FMT_ANTHROPIC) {
		xl_add(res, "type", json_object_new_string("error"));
		xl_add(e, "type", json_object_new_string(
				      xlate_anthropic_error_type(status)));
		xl_add(e, "message", xl_buf_string(&m));
	} else {
		xl_add(e, "message", xl_buf_string(&m));
		xl_add(e, "type", json_object_new_string(
				      type ? type : openai_error_type(status)));
		xl_add(e, "param", NULL);
		xl_add(e, "code", code ? json_object_get(code) : NULL);
	}
	xl_add(res, "error", e);
	*out = res;
	res = NULL;
	rc = RE_OK;
out:
	json_object_put(res);
	json_object_put(j);
	buf_free(&m);
	return rc;
}

/* ---- text wrappers ---- */

enum relay_err xlate_request_text(enum fmt_kind from, const char *body,
				  size_t len, const struct xlate_opts *o,
				  struct buf *out, struct xlate_info *info,
				  struct xlate_note *n, char *why,
				  size_t whylen)
{
	struct json_object *in = xlate_parse(body, len), *res = NULL;
	enum relay_err rc;

	if (!xl_is(in, json_type_object)) {
		json_object_put(in);
		if (why && whylen)
			snprintf(why, whylen, "request body is not a JSON object");
		return RE_EINVAL;
	}
	rc = xlate_request(from, in, o, &res, info, n, why, whylen);
	if (rc == RE_OK)
		rc = xlate_dump(res, out);
	json_object_put(res);
	json_object_put(in);
	return rc;
}

enum relay_err xlate_response_text(enum fmt_kind from, const char *body,
				   size_t len, const struct xlate_opts *o,
				   const struct xlate_info *info,
				   struct buf *out, struct xlate_note *n)
{
	struct json_object *in = xlate_parse(body, len), *res = NULL;
	enum relay_err rc;

	if (!xl_is(in, json_type_object)) {
		json_object_put(in);
		return RE_EINVAL;
	}
	rc = xlate_response(from, in, o, info, &res, n);
	if (rc == RE_OK)
		rc = xlate_dump(res, out);
	json_object_put(res);
	json_object_put(in);
	return rc;
}

enum relay_err xlate_error_text(enum fmt_kind client, int status,
				const char *body, size_t len, struct buf *out)
{
	struct json_object *res = NULL;
	enum relay_err rc = xlate_error(client, status, body, len, &res);

	if (rc == RE_OK)
		rc = xlate_dump(res, out);
	json_object_put(res);
	return rc;
}
