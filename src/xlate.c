/* xlate.c - shared helpers of the translation module (xlate.h): notes,
 * parsing and serialising, the decision point, error bodies, and the text
 * wrappers. Requests are in xlreq.c, non-stream answers in xlresp.c, streams
 * in xsse.c. */
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

/* Appends "; text" (or the first "text") unless the very same note is
 * already there: a request with 40 cache_control blocks logs it once. */
void xlate_note_add(struct xlate_note *n, const char *fmt, ...)
{
	char one[160];
	va_list ap;
	int w;
	size_t room;

	if (!n)
		return;
	va_start(ap, fmt);
	w = vsnprintf(one, sizeof one, fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	if (n->len && strstr(n->text, one))
		return;
	n->count++;
	room = sizeof n->text - n->len;
	if (room < 5)
		return;
	w = snprintf(n->text + n->len, room, "%s%s", n->len ? "; " : "", one);
	if (w < 0 || (size_t)w >= room) {
		/* full: end in "..." so the log shows it was cut */
		memcpy(n->text + sizeof n->text - 4, "...", 4);
		n->len = sizeof n->text - 1;
		return;
	}
	n->len += (size_t)w;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Strict, UTF-8 checked, depth-limited parse of exactly len bytes. */
struct json_object *xlate_parse(const char *s, size_t len)
{
	struct json_tokener *tok;
	struct json_object *obj = NULL;
	enum json_tokener_error e;
	size_t end;

	if (!s || len == 0 || len > INT_MAX)
		return NULL;
	tok = json_tokener_new_ex(FMT_MAX_DEPTH);
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, s, (int)len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (e == json_tokener_continue) {
		/* a bare number needs an end mark (our own NUL, see fmt.c) */
		obj = json_tokener_parse_ex(tok, "", 1);
		e = json_tokener_get_error(tok);
		end = len;
	}
	if (e != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
		goto out;
	}
	for (; end < len; end++) {
		if (!is_ws(s[end])) {
			json_object_put(obj);
			obj = NULL;
			goto out;
		}
	}
out:
	json_tokener_free(tok);
	return obj;
}

enum relay_err xlate_dump(struct json_object *o, struct buf *out)
{
	size_t n;
	const char *s = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);

	if (!s)
		return RE_ENOMEM;
	return buf_append(out, s, n);
}

/* ---- small json-c helpers shared by xlreq.c, xlresp.c, xsse.c ---- */

struct json_object *xl_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

const char *xl_str(struct json_object *o, const char *key)
{
	struct json_object *v = xl_get(o, key);

	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int xl_is(struct json_object *o, enum json_type t)
{
	return o && json_object_is_type(o, t);
}

int xl_streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

long long xl_int(struct json_object *o, const char *key)
{
	struct json_object *v = xl_get(o, key);

	if (!v || !(json_object_is_type(v, json_type_int) ||
		    json_object_is_type(v, json_type_double)))
		return 0;
	return (long long)json_object_get_int64(v);
}

long long xl_count(struct json_object *o, const char *key)
{
	long long v = xl_int(o, key);

	return v < 0 ? 0 : v;
}

/* Adds key -> v to o; v is taken over (freed here if o refuses it). */
int xl_add(struct json_object *o, const char *key, struct json_object *v)
{
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* Adds a borrowed value, sharing it by reference count. */
int xl_add_ref(struct json_object *o, const char *key, struct json_object *v)
{
	return xl_add(o, key, json_object_get(v));
}

int xl_push(struct json_object *arr, struct json_object *v)
{
	if (json_object_array_add(arr, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* Joins the text of a string or of an array of {type:"text",text} blocks
 * (or OpenAI text parts) into b, separated by sep. Non-text parts are left
 * out and counted in *skipped (may be NULL). */
enum relay_err xl_join_text(struct json_object *c, const char *sep,
			    struct buf *b, int *skipped)
{
	size_t i, n;
	enum relay_err rc;

	if (xl_is(c, json_type_string))
		return buf_puts(b, json_object_get_string(c));
	if (!xl_is(c, json_type_array))
		return RE_OK;
	n = json_object_array_length(c);
	for (i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(c, i);
		const char *t = xl_str(p, "text");

		if (!t || !xl_streq(xl_str(p, "type"), "text")) {
			if (skipped)
				(*skipped)++;
			continue;
		}
		if (b->len && (rc = buf_puts(b, sep)) != RE_OK)
			return rc;
		if ((rc = buf_puts(b, t)) != RE_OK)
			return rc;
	}
	return RE_OK;
}

struct json_object *xl_buf_string(const struct buf *b)
{
	return json_object_new_string_len(b->len ? b->data : "", (int)b->len);
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
